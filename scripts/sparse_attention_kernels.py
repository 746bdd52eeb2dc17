"""DeepSeek sparse attention against measured kernels: how a decode step's attention grows with the context.

    python scripts/sparse_attention_kernels.py [SRC_ROOT]

Data: ../shared/validation/kernels_blackwell/b200_sxm/sparse_attention/trtllm/1.3.0rc20/
dsa_generation_module_perf.parquet (AI Configurator, TensorRT-LLM 1.3.0rc20, Apache-2.0): the whole DSA attention
module of one DeepSeek-V3.2 layer (projections, indexer, top-k, sparse MLA; 128 heads, FP8 block GEMMs, FP8 KV)
per batch and cached context, milliseconds. The module's fixed part (projections, launches) is priced elsewhere
in the engine, so what is compared is its growth from a 4k to a 128k context: the engine's attention core per
layer (the indexer over every cached token, attention over the top 2,048) against the table, and the same model
with dense attention beside it. Prints one row per batch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from planner.engine.candidates import Candidates  # noqa: E402
from planner.engine.roofline import evaluate  # noqa: E402
from planner.engine.tables import DTYPE_CODE, ROLE_CODE, ChipTable, ModelTable  # noqa: E402
from planner.inputs.chips import load_catalog  # noqa: E402
from planner.inputs.models import load_model  # noqa: E402

SRC = ROOT.parent / "shared" / "validation" / "kernels_blackwell"
SHORT, LONG = 4096, 131072


def growth_ms(model, chip, batch: float) -> float:
    """The engine's attention core per layer at a LONG minus a SHORT cached context (ms)."""
    c = Candidates.from_columns(role=ROLE_CODE["decode"], model=0, chip=0, tp=1, batch=batch, isl=1.0, osl=2.0,
                                decode_ctx=np.array([float(SHORT), float(LONG)]), wdtype=DTYPE_CODE["fp8"],
                                kvdtype=DTYPE_CODE["fp8"])
    t = np.asarray(evaluate(c, ModelTable.build([model]), ChipTable.build([chip])).t_attn_core_s) / model.num_layers
    return float(t[1] - t[0]) * 1e3


def main(src: Path = SRC) -> None:
    d = pd.read_parquet(src / "b200_sxm" / "sparse_attention" / "trtllm" / "1.3.0rc20" /
                        "dsa_generation_module_perf.parquet")
    d = d[(d["model"] == "deepseek-ai/DeepSeek-V3.2") & (d["num_heads"] == 128) & (d["gemm_type"] == "fp8_block")
          & (d["kv_cache_dtype"] == "fp8")]
    table = d.pivot_table(index="batch_size", columns="step", values="latency")
    sparse = load_model("deepseek-ai/DeepSeek-V3.2")
    dense = sparse.model_copy(update={"sparse_attention": None})
    chip = load_catalog()["b200"]
    print("| batch | measured growth, ms | engine (DSA) | ratio | engine with dense attention |\n|---|---|---|---|---|")
    for batch, row in table.iterrows():
        if np.isnan(row.get(LONG, np.nan)) or np.isnan(row.get(SHORT, np.nan)):
            continue
        measured = row[LONG] - row[SHORT]
        ours = growth_ms(sparse, chip, float(batch))
        print(f"| {batch} | {measured:.3f} | {ours:.3f} | {ours / measured:.2f} | {growth_ms(dense, chip, float(batch)):.2f} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else SRC)
