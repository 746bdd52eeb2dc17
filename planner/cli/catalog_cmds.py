"""`planner chips` and `planner models`: what the catalogs hold."""

from __future__ import annotations

import click
import pandas as pd

from planner.inputs.chips import load_catalog
from planner.inputs.models import load_model, preset_ids

from .common import catalog_option, emit_frame, format_option


@click.command("chips")
@catalog_option
@format_option(("table", "json", "csv"))
def chips_cmd(catalogs, fmt):
    """List the chips in the catalog (dense peaks, memory, links, power, price)."""
    rows = []
    for c in load_catalog(catalogs):
        rows.append({
            "id": c.id, "vendor": c.vendor,
            "bf16_tflops": c.peak_tflops.get("bf16"), "fp8_tflops": c.peak_tflops.get("fp8"),
            "fp4_tflops": c.peak_tflops.get("fp4"),
            "hbm_gb": c.hbm_gb, "hbm_tb_s": c.hbm_tb_s,
            "cold_tier_gb": c.memory[1].capacity_gb if len(c.memory) > 1 else None,
            "scaleup_gb_s": c.scaleup_gb_s, "scaleup_domain": c.scaleup_domain, "scaleout_gb_s": c.scaleout_gb_s,
            "power_w": c.power_w, "price_usd_per_hr": c.price_usd_per_hr,
        })
    emit_frame(pd.DataFrame(rows), fmt, f"{len(rows)} chips (dense peak TFLOP/s; price = default $/h per chip)")


@click.command("models")
@format_option(("table", "json", "csv"))
def models_cmd(fmt):
    """List the model presets (shapes, parameter counts, KV bytes per token)."""
    rows = []
    for mid in preset_ids():
        m = load_model(mid)
        rows.append({
            "id": m.id, "params_b": m.total_params / 1e9, "active_b": m.active_params / 1e9,
            "layers": m.num_layers, "hidden": m.hidden_size, "heads": m.num_heads, "kv_heads": m.num_kv_heads,
            "attention": m.attention, "experts": m.moe.num_experts if m.moe else None,
            "top_k": m.moe.top_k if m.moe else None,
            "kv_kib_per_token_bf16": m.kv_elems_per_token_per_layer * m.num_layers * 2 / 1024,
        })
    emit_frame(pd.DataFrame(rows), fmt, f"{len(rows)} model presets (also: --model path/to/config.json)")


commands = [chips_cmd, models_cmd]
