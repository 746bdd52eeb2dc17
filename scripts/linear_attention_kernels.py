"""Linear attention (Gated DeltaNet) against measured kernels: fit the chunked scan's share of the bf16 peak on
B200, score the engine's layer model on B200 (in sample) and GB200 (held out).

    python scripts/linear_attention_kernels.py [SRC_ROOT]

Data: ../shared/validation/kernels_blackwell/<system>/linear_attention/trtllm/1.3.0rc20/gdn_perf.parquet (AI
Configurator, TensorRT-LLM 1.3.0rc20, Apache-2.0): per (phase, batch, sequence length, head shapes) the latency of
the short convolution and of the delta-rule kernel (chunked scan for a prefill, fused recurrent update for a
decode step), milliseconds. One layer as the engine prices it (planner.engine.operators.linear_attention_work):
FLOPs of the decode update at the attention peak, FLOPs of the scan at `linear_scan_efficiency` of the bf16 peak,
the state and activation bytes at the chip's memory bandwidth, the slower of the two, plus the kernel launches
(the chip's `kernel_overhead_us` each: a decode step's convolution update and recurrent kernel; a prefill's
convolution and the chunked scan's six kernels). The fit: the median, over the scan rows of at least 4,096 tokens, of the
sustained fraction of the bf16 peak (6 dk dv FLOPs per token and value head). Prints the fitted value and the
median error per system and phase.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from planner.engine.operators import LIN_DECODE_KERNELS, LIN_SCAN_EXTRA_KERNELS, linear_attention_work  # noqa: E402
from planner.engine.params import PARAMS  # noqa: E402
from planner.inputs.chips import load_catalog  # noqa: E402

SRC = ROOT.parent / "shared" / "validation" / "kernels_blackwell"
SYSTEMS = {"b200_sxm": "b200", "gb200": "gb200"}
FIT_ON = "b200_sxm"


def layer_rows(src: Path, system: str) -> pd.DataFrame:
    """One row per measured layer: convolution + delta-rule kernel latencies summed (seconds)."""
    d = pd.read_parquet(src / system / "linear_attention" / "trtllm" / "1.3.0rc20" / "gdn_perf.parquet")
    keys = ["phase", "batch_size", "seq_len", "num_tokens", "d_model", "d_conv", "num_k_heads", "head_k_dim",
            "num_v_heads", "head_v_dim"]
    g = d.groupby(keys, as_index=False).agg(latency_ms=("latency", "sum"), kernels=("kernel_source", "nunique"))
    return g[g["kernels"] == 2].assign(system=system)


def scan_fraction(rows: pd.DataFrame, src: Path, system: str, peak_bf16: float) -> pd.Series:
    d = pd.read_parquet(src / system / "linear_attention" / "trtllm" / "1.3.0rc20" / "gdn_perf.parquet")
    c = d[(d["kernel_source"] == "chunk_gated_delta_rule") & (d["num_tokens"] >= 4096)]
    flops = 6.0 * c["num_v_heads"] * c["head_k_dim"] * c["head_v_dim"] * c["num_tokens"]
    return flops / (c["latency"] * 1e-3) / peak_bf16


def predict(rows: pd.DataFrame, chip, scan_efficiency: float) -> np.ndarray:
    e = chip.efficiency
    peak_bf16 = chip.peak_tflops["bf16"] * 1e12
    attn_peak = peak_bf16 * e.attention
    bw = chip.memory[0].bandwidth_tb_s * 1e12 * e.memory
    nv, dk, dv, nk = rows["num_v_heads"], rows["head_k_dim"], rows["head_v_dim"], rows["num_k_heads"]
    flops_tok = 6.0 * nv * dk * dv
    conv = 2 * nk * dk + nv * dv
    state = (nv * dk * dv + conv * (rows["d_conv"] - 1)) * 4.0
    decode = rows["phase"] == "generation"
    seqs = rows["batch_size"].astype(float)
    dec_flops, scan_flops, bytes_ = linear_attention_work(np.where(decode, seqs, 0.0), np.where(decode, 0.0, seqs),
                                                          rows["seq_len"].astype(float), flops_tok, state,
                                                          rows["d_model"].astype(float))
    compute = dec_flops / attn_peak + scan_flops / (peak_bf16 * scan_efficiency)
    launches = np.where(decode, LIN_DECODE_KERNELS, LIN_DECODE_KERNELS + LIN_SCAN_EXTRA_KERNELS)
    return np.maximum(compute, bytes_ / bw) + launches * e.kernel_overhead_us * 1e-6


def main(src: Path = SRC) -> None:
    cat = load_catalog()
    rows = {s: layer_rows(src, s) for s in SYSTEMS}
    fitted = float(scan_fraction(rows[FIT_ON], src, FIT_ON, cat[SYSTEMS[FIT_ON]].peak_tflops["bf16"] * 1e12).median())
    print(f"linear_scan_efficiency fitted on {FIT_ON}: {fitted:.3f} (shipped {PARAMS.linear_scan_efficiency})")
    out = []
    for system, chip_id in SYSTEMS.items():
        r = rows[system]
        pred = predict(r, cat[chip_id], PARAMS.linear_scan_efficiency)
        ape = np.abs(pred / (r["latency_ms"].to_numpy() * 1e-3) - 1)
        for phase in ("context", "generation"):
            sel = (r["phase"] == phase).to_numpy()
            out.append({"system": system, "role": "fit" if system == FIT_ON else "held out", "phase": phase,
                        "rows": int(sel.sum()), "median_error": f"{np.median(ape[sel]):.1%}",
                        "within_25pct": f"{np.mean(ape[sel] <= 0.25):.0%}"})
    table = pd.DataFrame(out)
    print("| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns))
    for r in table.itertuples(index=False):
        print("| " + " | ".join(str(v) for v in r) + " |")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else SRC)
