"""Reshape the B200 / GB200 kernel tables (../shared/validation/kernels_blackwell, AI Configurator parquet) into the
CSV format of validation/kernels_h100, so `planner calibrate` and benchmarks/kernel_error.py read them alike.

    python scripts/blackwell_kernels.py [SRC_ROOT] [OUT_ROOT]

Writes OUT_ROOT/kernels_b200 and OUT_ROOT/kernels_gb200 (default OUT_ROOT: validation/): gemm (bf16, fp8 per-tensor,
fp8 block-scaled, NVFP4 as dtype fp4), attn_decode and attn_prefill
(full attention only: window_size 0; decode kv_len = the table's `step`, its `isl` being 1), allreduce (TRT-LLM custom
all-reduce and NCCL; bytes = elements x 2 for bf16), moe (the fused MoE layer: bf16 and fp8 per-tensor on TRT-LLM's
CUTLASS path, fp8 block-scaled on DeepGEMM, as the H100 table; every routing distribution, `model` = the shape,
h{hidden}-i{intermediate}-e{experts}-k{top k}; NVFP4 MoE left out: the kernel model has no 4-bit MoE path). Latencies
milliseconds -> microseconds, rounded to 1 ns.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT.parent / "shared" / "validation" / "kernels_blackwell"
SYSTEMS = {"b200_sxm": "kernels_b200", "gb200": "kernels_gb200"}
DTYPE = {"bfloat16": "bf16", "float16": "fp16", "fp8": "fp8", "fp8_block": "fp8_block", "nvfp4": "fp4"}


def _us(ms: pd.Series) -> pd.Series:
    return (ms * 1e3).round(3)


def gemm(src: Path) -> pd.DataFrame:
    g = pd.read_parquet(src / "gemm" / "trtllm" / "1.3.0rc20" / "gemm_perf.parquet")
    g = g[g["gemm_dtype"].isin(DTYPE)]
    return pd.DataFrame({"m": g["m"], "n": g["n"], "k": g["k"], "dtype": g["gemm_dtype"].map(DTYPE),
                         "latency_us": _us(g["latency"])}).sort_values(["dtype", "m", "n", "k"])


def attention(src: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    d = pd.read_parquet(src / "attention" / "trtllm" / "1.3.0rc20" / "generation_attention_perf.parquet")
    d = d[(d["window_size"] == 0) & (d["beam_width"] == 1)]
    dec = pd.DataFrame({"batch": d["batch_size"], "kv_len": d["isl"] + d["step"] - 1, "num_q_heads": d["num_heads"],
                        "num_kv_heads": d["num_key_value_heads"], "head_dim": d["head_dim"],
                        "kv_dtype": d["kv_cache_dtype"].map(DTYPE), "latency_us": _us(d["latency"])})
    c = pd.read_parquet(src / "attention" / "trtllm" / "1.3.0rc20" / "context_attention_perf.parquet")
    c = c[(c["window_size"] == 0) & (c["beam_width"] == 1)]
    pre = pd.DataFrame({"batch": c["batch_size"], "seq_len": c["isl"], "num_q_heads": c["num_heads"],
                        "num_kv_heads": c["num_key_value_heads"], "head_dim": c["head_dim"],
                        "dtype": c["attn_dtype"].map(DTYPE), "kv_dtype": c["kv_cache_dtype"].map(DTYPE),
                        "latency_us": _us(c["latency"])})
    return dec, pre


MOE_KERNEL = {"bfloat16": "moe_torch_flow_cutlass", "fp8": "moe_torch_flow_cutlass", "fp8_block": "deepgemm"}


def moe(src: Path) -> pd.DataFrame:
    d = pd.read_parquet(src / "moe" / "trtllm" / "1.3.0rc20" / "moe_perf.parquet")
    d = d[d["kernel_source"].eq(d["moe_dtype"].map(MOE_KERNEL))]
    shape = ("h" + d["hidden_size"].astype(str) + "-i" + d["inter_size"].astype(str) + "-e" + d["num_experts"].astype(str)
             + "-k" + d["topk"].astype(str))
    return pd.DataFrame({"model": shape, "dtype": d["moe_dtype"].map(DTYPE), "num_tokens": d["num_tokens"],
                         "hidden_size": d["hidden_size"], "inter_size": d["inter_size"], "topk": d["topk"],
                         "num_experts": d["num_experts"], "moe_tp": d["moe_tp_size"], "moe_ep": d["moe_ep_size"],
                         "distribution": d["distribution"], "latency_us": _us(d["latency"])})


def allreduce(src: Path) -> pd.DataFrame:
    r = pd.read_parquet(src / "comm" / "trtllm" / "1.3.0rc20" / "custom_allreduce_perf.parquet")
    r = r[r["allreduce_dtype"] == "bfloat16"]
    return pd.DataFrame({"num_gpus": r["num_gpus"], "message_bytes": r["message_size"] * 2, "dtype": "bf16",
                         "latency_us": _us(r["latency"]), "implementation": "trtllm_custom"})


def main() -> None:
    src_root = Path(sys.argv[1]) if len(sys.argv) > 1 else SRC
    out_root = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "validation"
    for system, folder in SYSTEMS.items():
        src, out = src_root / system, out_root / folder
        out.mkdir(parents=True, exist_ok=True)
        dec, pre = attention(src)
        for name, df in (("gemm", gemm(src)), ("attn_decode", dec), ("attn_prefill", pre), ("allreduce", allreduce(src)),
                         ("moe", moe(src))):
            df.to_csv(out / f"{name}.csv", index=False)
            print(f"{out / name}.csv: {len(df):,} rows")


if __name__ == "__main__":
    main()
