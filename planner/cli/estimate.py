"""`planner estimate`: one model on one chip with one parallelism, both phases, with the breakdown."""

from __future__ import annotations

import click
import pandas as pd
from rich.markup import escape

from planner.analyses.estimate import Setting, estimate, require_fit
from planner.engine.tables import FRAMEWORKS, GIB
from planner.inputs.chips import load_catalog
from planner.inputs.models import load_model
from planner.optimize.uncertainty import band_text

from .common import (
    FiniteFloatRange,
    catalog_option,
    echo_json,
    fmt_num,
    format_option,
    make_console,
    print_table,
)

DTYPE = click.Choice(["bf16", "fp8", "fp4"])
WEIGHTS = click.Choice(["bf16", "fp8", "fp4", "w4a16"])


@click.command("estimate")
@click.option("--model", "model_ref", required=True,
              help="Preset id (see `planner models`), Hugging Face id (models/zoo or the local HF cache) or path to a "
                   "HF config.json.")
@click.option("--chip", "chip_id", required=True, help="Chip id (see `planner chips`).")
@click.option("--tp", default=1, show_default=True, help="Tensor parallel degree (attention/dense layers).")
@click.option("--ep", default=1, show_default=True, help="Expert parallel degree (MoE).")
@click.option("--pp", default=1, show_default=True, help="Pipeline stages.")
@click.option("--dp", default=1, show_default=True, help="Attention data-parallel ranks inside the instance (MoE).")
@click.option("--weights", default=None, type=WEIGHTS,
              help="Weights dtype (w4a16: 4-bit weights dequantized to 16-bit math, e.g. MXFP4 on Hopper) "
                   "[default: the checkpoint's quantization, else bf16].")
@click.option("--kv", default=None, type=DTYPE,
              help="KV-cache dtype [default: the checkpoint's, else the weights dtype, never below fp8].")
@click.option("--isl", default=2048, show_default=True, type=click.IntRange(1), help="Input tokens per request.")
@click.option("--osl", default=256, show_default=True, type=click.IntRange(1), help="Output tokens per request.")
@click.option("--batch", default=1, show_default=True, type=click.IntRange(1), help="Decode sequences in flight.")
@click.option("--prefill-batch", default=1, show_default=True, type=click.IntRange(1), help="Prompts per prefill forward (TTFT).")
@click.option("--osl-cv", default=0.0, show_default=True, type=FiniteFloatRange(0, 10),
              help="Coefficient of variation of output lengths (0 = fixed; ~1 = long-tailed, reasoning-like).")
@click.option("--prefix-hit", default=0.0, show_default=True, type=FiniteFloatRange(0, 0.99), help="Prefix-cache hit rate.")
@click.option("--framework", default="trtllm", show_default=True, type=click.Choice(FRAMEWORKS),
              help="Serving framework (its host time per iteration enters every step).")
@catalog_option
@format_option()
def estimate_cmd(model_ref, chip_id, tp, ep, pp, dp, weights, kv, isl, osl, osl_cv, batch, prefill_batch, prefix_hit,
                 framework, catalogs, fmt):
    """Predict TTFT, TPOT, throughput per chip and memory for one configuration."""
    model = load_model(model_ref)
    chip = load_catalog(catalogs)[chip_id]
    if weights is None:  # the precision the checkpoint ships in
        ckpt = model.checkpoint
        weights = ckpt.weights if ckpt else "bf16"
        kv = kv or (ckpt.kv_cache if ckpt else None)
    s = Setting(tp=tp, ep=ep, pp=pp, dp=dp, weights=weights, kv=kv, isl=isl, osl=osl, batch=batch,
                prefill_batch=prefill_batch, prefix_hit=prefix_hit, osl_cv=osl_cv, framework=framework)
    est = estimate(model, chip, s)
    require_fit(model, chip, s, est)
    if fmt == "json":
        out = dict(est.summary)
        out["breakdown"] = {ph: b.to_dict(orient="records") for ph, b in est.breakdown.items()}
        out["bound_shares"] = {
            ph: {k: float(est.phases[f"share_{k}"].iloc[i]) for k in ("compute", "memory", "comm", "overhead")}
            for i, ph in enumerate(("prefill", "decode"))
        }
        echo_json(out)
        return
    sm = est.summary
    con = make_console()
    con.print(
        f"[bold]{escape(sm['model'])}[/] on [bold]{escape(sm['chip'])}[/] x{sm['chips_per_instance']} "
        f"(tp={tp} ep={ep} pp={pp} dp={dp}, weights {sm['weights_dtype']}, KV {sm['kv_dtype']}), "
        f"ISL {isl} / OSL {osl}"
    )
    keys = [
        (f"TTFT (prefill batch {prefill_batch}), ms", "ttft_ms"),
        (f"TPOT (decode batch {batch}), ms", "tpot_ms"),
        ("tokens/s per user", "tok_s_per_user"),
        ("prefill tokens/s per chip", "prefill_tok_s_per_chip"),
        ("decode tokens/s per chip", "decode_tok_s_per_chip"),
        (f"memory per chip, GiB (of the catalog's {fmt_num(sm['memory_capacity_gb'] * 1e9 / GIB)})", "memory_gb_per_chip"),
        ("  weights, GiB", "weights_gb_per_chip"),
        ("  KV cache at decode batch, GiB", "kv_cache_gb_per_chip"),
        ("instance cost, $/h", "cost_usd_per_hr"),
        ("instance power, kW", "power_kw"),
    ]
    binary = {"memory_gb_per_chip", "weights_gb_per_chip", "kv_cache_gb_per_chip"}  # shown in the catalog's GiB
    values = [fmt_num(sm[v] * 1e9 / GIB if v in binary else sm[v]) for _, v in keys]
    print_table(pd.DataFrame({"metric": [k for k, _ in keys], "value": values}), console=con)
    for ph in ("prefill", "decode"):
        con.print(f"error band ({ph}): {band_text(sm['error_band'][ph])}")
    for ph, b in est.breakdown.items():
        i = 0 if ph == "prefill" else 1
        shares = ", ".join(f"{k} {100 * float(est.phases[f'share_{k}'].iloc[i]):.0f}%" for k in ("compute", "memory", "comm", "overhead"))
        print_table(b, title=f"{ph}: time per forward by operator family ({shares})", console=con)
    con.print("[dim]Roofline with sustained efficiencies; no compute/communication overlap; see docs/physics.md.[/]")


commands = [estimate_cmd]
