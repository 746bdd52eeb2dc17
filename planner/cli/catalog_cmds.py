"""`planner chips` and `planner models`: what the catalogs hold."""

from __future__ import annotations

import click
import pandas as pd
from rich.markup import escape
from rich.table import Table

from planner.errors import PlannerError
from planner.inputs.architecture import describe_model
from planner.inputs.chips import load_catalog
from planner.inputs.models import load_model, preset_ids, zoo_ids

from .common import catalog_option, echo_json, emit_frame, format_option, make_console


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


@click.group("models", invoke_without_command=True)
@format_option(("table", "json", "csv"))
@click.option("--zoo", is_flag=True, help="List the bundled Hugging Face configs (models/zoo) instead of the presets: "
                                          "each with its import, or why it is refused.")
@click.pass_context
def models_cmd(ctx, fmt, zoo):
    """List the model presets (shapes, parameter counts, KV bytes per token); `planner models show MODEL` for one."""
    if ctx.invoked_subcommand is not None:
        return
    if zoo:
        rows = []
        for repo, path in sorted(zoo_ids().items()):
            try:
                m = load_model(path)
                rows.append({"hf_id": repo, "imports": True, "params_b": m.total_params / 1e9,
                             "active_b": m.active_params / 1e9,
                             "precision": m.checkpoint.weights if m.checkpoint else "bf16", "reason": ""})
            except PlannerError as exc:
                rows.append({"hf_id": repo, "imports": False, "params_b": None, "active_b": None, "precision": None,
                             "reason": str(exc).splitlines()[0]})
        ok = sum(r["imports"] for r in rows)
        emit_frame(pd.DataFrame(rows), fmt, f"{len(rows)} bundled configs, {ok} import (use the id: --model ORG/NAME)")
        return
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
    emit_frame(pd.DataFrame(rows), fmt, f"{len(rows)} model presets (also: --model ORG/NAME, see `planner models "
                                        "--zoo`, or a path to a config.json)")


@models_cmd.command("show")
@click.argument("model_ref")
@format_option(("table", "json"))
def models_show_cmd(model_ref, fmt):
    """What the planner imports for MODEL (preset id, Hugging Face id or config.json path): layers by kind,
    attention, experts, KV or state bytes, parameters and the default precision with where it comes from."""
    d = describe_model(load_model(model_ref))
    if fmt == "json":
        echo_json(d)
        return
    lay, att = d["layers"], d["attention"]
    sa, ca = d["sparse_attention"], d["compressed_attention"]
    kinds = [f"{lay['full_attention']} " + (f"sparse attention (DSA: top {sa['topk']:,} tokens, indexer on "
                                            f"{sa['indexer_layers']} layers)" if sa else "full attention")]
    if ca:  # DeepSeek-V4: every layer windowed, most with compressed entries beside the window
        rest = lay["total"] - ca["csa_layers"] - ca["hca_layers"]
        kinds = [f"{ca['csa_layers']} CSA (one entry per {ca['csa_ratio']} tokens, top {ca['topk']:,} by an indexer)",
                 f"{ca['hca_layers']} HCA (one entry per {ca['hca_ratio']} tokens, all attended)"]
        kinds += [f"{rest} window only"] if rest else []
        kinds[-1] += f"; each with a {ca['window']}-token window"
    if lay["sliding_window"]:
        kinds.append(f"{lay['sliding_window']} {lay['window_kind']} ({lay['window_tokens']:,} tokens)")
    if lay["linear_attention"]:
        kinds.append(f"{lay['linear_attention']} linear attention ({lay['linear_kind']})")
    rows = [
        ("model", f"{d['id']} ({d['source'] or d['name']})"),
        ("parameters", f"{d['total_params_b']:,.1f} B total, {d['active_params_b']:,.2f} B active per token"),
        ("layers", f"{lay['total']}: " + ", ".join(kinds)),
        ("feed-forward", f"{lay['moe']} MoE, {lay['dense_ffn']} dense" + (f"; {lay['mtp_modules']} MTP module(s)"
                                                                          if lay["mtp_modules"] else "")),
        ("attention", f"{att['kind'].upper()}, {att['heads']} heads, {att['kv_heads']} KV heads, head dim "
                      f"{att['head_dim']}" + (", gated output" if att["output_gate"] else "")
                      + (f", keys serve as values, queries through a {ca['q_lora_rank']:,} latent, output through "
                         f"{ca['o_groups']} groups of {ca['o_lora_rank']:,}; {ca['hc_mult']} residual streams (mHC)"
                         if ca else "")
                      + (f"; full-attention layers {att['full_attention']['num_kv_heads']} KV heads, head dim "
                         f"{att['full_attention']['head_dim']}"
                         + (", keys serve as values" if att["full_attention"]["values_are_keys"] else "")
                         if att.get("full_attention") else "")),
    ]
    if d["moe"]:
        mo = d["moe"]
        rows.append(("experts", f"{mo['experts']} routed (top {mo['top_k']}, width {mo['expert_width']:,})"
                                + (f", {mo['shared_experts']} shared (width {mo['shared_width']:,})" if mo["shared_experts"] else "")))
    kv = d["kv_bytes_per_token"]
    rows.append(("KV cache per token", f"{kv['bf16'] / 1024:,.1f} KiB bf16, {kv['fp8'] / 1024:,.1f} KiB fp8"
                 + (" (compressed entries, amortized)" if ca else "")))
    if ca:
        win = d["window_kv_bytes_per_sequence"]
        rows.append(("window KV per sequence", f"{win['bf16'] / 2**20:,.1f} MiB bf16, {win['fp8'] / 2**20:,.1f} MiB "
                                               "fp8 (the last window's tokens on every layer)"))
    if d["state_bytes_per_sequence"]:
        rows.append(("state per sequence", f"{d['state_bytes_per_sequence'] / 2**20:,.1f} MiB (linear attention, "
                                           "constant in the context)"))
    pr = d["default_precision"]
    rows.append(("default precision", f"weights {pr['weights']}" + (f", KV {pr['kv_cache']}" if pr["kv_cache"] else "")
                 + f" (from {pr['from']})"))
    for item in d["not_modelled"]:
        rows.append(("not modelled", item))
    con = make_console()
    table = Table(show_header=False, box=None)
    for k, v in rows:
        table.add_row(f"[bold]{escape(k)}[/]", escape(v))
    con.print(table)


commands = [chips_cmd, models_cmd]
