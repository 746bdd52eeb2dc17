"""Predict measured serving benchmarks (the `validation/serving` format: median TTFT and TPOT of a deployment at a
client concurrency) with the serving model, and report the error per metric.

A row describes one deployment (model, system, framework, quantization, parallelism, and for disaggregated rows
the prefill and decode pools) under a closed loop of `silicon_concurrency` clients with fixed ISL/OSL. The row is
simulated as measured (planner.serving): the engine's iteration times, the framework's scheduler, the clients'
prompts queueing behind each other. Rows the planner cannot carry are returned as `skipped` with the reason,
never fitted. Assumptions made for every row (the format does not state them) are reported per row.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from planner.engine.params import active_params, using_params
from planner.engine.roofline import FIT_REASONS
from planner.engine.tables import FRAMEWORKS
from planner.errors import PlannerError
from planner.inputs.chips import ChipCatalog, load_catalog
from planner.inputs.models import load_model
from planner.inputs.reader import MAX_CSV_BYTES, load_csv, read_text
from planner.serving.aggregated import simulate_aggregated
from planner.serving.clients import ClosedLoop, Lengths
from planner.serving.disaggregated import Pools, simulate_disaggregated
from planner.serving.params import active_serving_params, using_serving_params
from planner.serving.step_times import EngineConfig, StepModel

REQUIRED = ("id", "backend", "model_path", "system", "mode", "isl", "osl", "silicon_ttft_ms", "silicon_tpot_ms",
            "silicon_data_source")
SYSTEM_CHIP = {"h100_sxm": "h100-sxm", "h200_sxm": "h200-sxm", "b200_sxm": "b200", "gb200": "gb200",
               "b300_sxm": "b300", "gb300": "gb300", "mi300x": "mi300x", "mi325x": "mi325x", "mi355x": "mi355x",
               "b60": "arc-pro-b60"}


def chip_for_system(system: str, catalog: ChipCatalog | None = None) -> str | None:
    """The catalog chip of a serving row's `system`: SYSTEM_CHIP, else the name as the catalog spells ids
    (`a100_sxm` -> a100-sxm-80gb, `gb200_sxm` -> gb200, `h20` -> h20, AI Configurator's `rtx_pro_6000_server` ->
    rtx-pro-6000); None when no chip matches."""
    s = str(system).strip().lower()
    if s in SYSTEM_CHIP:
        return SYSTEM_CHIP[s]
    ids = set((catalog or load_catalog()).ids())
    base = s.replace("_", "-").removesuffix("-server")
    stem = base.removesuffix("-sxm")
    for cand in (base, stem, f"{stem}-sxm", f"{stem}-sxm-80gb"):
        if cand in ids:
            return cand
    return None


def system_chips(systems: pd.Series, catalog: ChipCatalog | None = None) -> pd.Series:
    """chip_for_system over a column of systems."""
    return systems.map(lambda v: chip_for_system(v, catalog))
# quantization labels of the format -> the engine's weights dtype
# (the labels of AI Configurator's GEMMQuantMode / MoEQuantMode, aiconfigurator-core 0.12.0). `sq` (int8 weights and
# activations, SmoothQuant) runs at the fp8 rate on the chips that have both; `w4afp8` (4-bit weights, fp8
# activations) has no engine dtype of its own and is priced as `w4a16` (its bytes, 16-bit math: prefill pessimistic)
QUANT_DTYPE = {"bf16": "bf16", "fp16": "bf16", "float16": "bf16", "bfloat16": "bf16", "fp8": "fp8", "fp8_block": "fp8",
               "fp8_pertensor": "fp8", "fp8_static": "fp8", "fp8_ootb": "fp8", "sq": "fp8", "nvfp4": "fp4",
               "mxfp4": "fp4", "w4a8_mxfp4_mxfp8": "fp4", "w4a8_mxfp4_mxfp8_trtllm": "fp4"}
WEIGHT_ONLY_4BIT = ("int4_wo", "w4a16_mxfp4", "w4a16", "w4a16_mxfp4_cutlass", "nvfp4_wo", "w4a16_nvfp4",
                    "w4afp8")  # 4-bit weights, 16-bit math
# the format does not state the KV-cache dtype, so each framework's default ("auto") is assumed: TensorRT-LLM takes
# the checkpoint's recipe, and the FP8/NVFP4 (ModelOpt) checkpoints quantize the KV cache to FP8 (22 of the 25
# hf_quant_config.json files in ../shared/models/zoo say kv_cache_quant_algo FP8); vLLM and SGLang keep the model's
# 16-bit dtype unless told otherwise. An assumption, reported (docs/serving.md)
KV_DTYPE = "bf16"
QUANTIZED_KV_DTYPE = {"trtllm": "fp8"}  # framework -> KV dtype with FP8/FP4 weights


def kv_dtype(framework: str, weights: str) -> str:
    """The KV-cache dtype a framework runs by default for a checkpoint of these weights."""
    return QUANTIZED_KV_DTYPE.get(framework, KV_DTYPE) if weights in ("fp8", "fp4") else KV_DTYPE


def is_serving_file(path: str | Path) -> bool:
    """A CSV in the serving format (recognized by its header)."""
    try:
        header = read_text(path, field="points", max_bytes=MAX_CSV_BYTES).split("\n", 1)[0]
    except PlannerError:
        return False
    cols = {c.strip() for c in header.split(",")}
    return {"silicon_ttft_ms", "silicon_tpot_ms", "mode"} <= cols


def read_serving(path: str | Path) -> pd.DataFrame:
    """The rows of a serving-format CSV, with the concurrency parsed from `silicon_data_source`."""
    df = load_csv(path, field="points")
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise PlannerError(f"{path}: serving file lacks columns {missing}", field="points",
                           hint="see validation/serving/README.md for the format")
    conc = df["silicon_data_source"].astype(str).str.extract(r"silicon_concurrency=(\d+)")[0]
    df["concurrency"] = pd.to_numeric(conc, errors="coerce")
    if "batch_size" in df:
        df["concurrency"] = df["concurrency"].fillna(df["batch_size"])
    return df


class Skip(Exception):
    """The row cannot be predicted; the message says why."""


MAX_TOKENS = 1e7  # prompt or answer tokens of one request: beyond any model's context


def _positive(row: pd.Series, column: str, maximum: float = 1e12) -> float:
    """A row's value that must be a positive number (at most `maximum`); Skip names the column otherwise."""
    try:
        v = float(row[column])
    except (TypeError, ValueError):
        raise Skip(f"{column} = {row[column]!r} is not a number") from None
    if not np.isfinite(v) or v <= 0 or v > maximum:
        raise Skip(f"{column} = {row[column]!r} must be a positive number (at most {maximum:g})")
    return v


def _int(v, default: int | None = None) -> int | None:
    """An integer column's value (None or NaN: the default); Skip when it is not a number."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return default
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise Skip(f"{v!r} is not an integer (parallelism, batch and worker columns are counts)") from None
    if not np.isfinite(x) or x < 0 or x > 1e7:
        raise Skip(f"{v!r} is not a count (parallelism, batch and worker columns are whole numbers >= 0)")
    return int(x)


def _dtype(row: pd.Series) -> str:
    gemm, moe = str(row.get("gemm_quant_mode", "")), str(row.get("moe_quant_mode", ""))
    if gemm in WEIGHT_ONLY_4BIT or moe in WEIGHT_ONLY_4BIT:
        return "w4a16"
    dt = {QUANT_DTYPE.get(q) for q in (gemm, moe) if q and q != "nan"}
    if None in dt:
        raise Skip(f"quantization {gemm}/{moe} not recognized")
    if not dt:  # no per-module modes: the row's precision, else 16-bit
        precision = str(row.get("precision", "")).lower()
        if precision == "int4":
            return "w4a16"
        return {"fp8": "fp8", "fp4": "fp4"}.get(precision, "bf16")
    return "fp4" if "fp4" in dt else ("fp8" if "fp8" in dt else "bf16")


@dataclass
class ServingSetting:
    config: EngineConfig  # aggregated: the engine; disaggregated: the decode engine
    concurrency: int
    isl: int
    osl: int
    prefill: EngineConfig | None = None  # disaggregated rows
    prefill_workers: int = 0
    decode_workers: int = 0


POOL_COLUMNS = ("num_workers", "batch_size", "tp_size")


def _engine(row: pd.Series, prefix: str, model, chip, weights: str, batch_default: int) -> EngineConfig:
    """An engine from the row's parallelism columns (prefix '' for aggregated, 'prefill_' / 'decode_')."""
    tp, pp, dp = (max(_int(row.get(prefix + k), 1) or 1, 1) for k in ("tp_size", "pp_size", "attention_dp_size"))
    ep = max(_int(row.get(prefix + "moe_ep_size"), 1) or 1, 1) if model.is_moe else 1
    batch = _int(row.get(prefix + "batch_size"), batch_default) or batch_default
    return EngineConfig(model=model, chip=chip, weights=weights, kv=kv_dtype(str(row["backend"]), weights),
                        tp=tp, ep=ep, pp=pp, dp=dp, framework=str(row["backend"]), max_batch=max(batch * dp, 1))


def setting_from_row(row: pd.Series, catalog: ChipCatalog) -> ServingSetting:
    """The deployment and load a row describes. A disaggregated row needs both pools' worker counts and batch
    limits, and pools that can hold the stated concurrency (decode workers x batch x attention-DP)."""
    for column in ("isl", "osl", "silicon_ttft_ms", "silicon_tpot_ms"):
        _positive(row, column, MAX_TOKENS if column in ("isl", "osl") else 1e12)
    try:  # a preset of the same architecture, else the bundled config of that Hugging Face id (models/zoo)
        model = load_model(str(row["model_path"]))
    except PlannerError as exc:
        raise Skip(f"model {row['model_path']}: {str(exc).splitlines()[0]}") from None
    chip_id = chip_for_system(str(row["system"]), catalog)
    if chip_id is None or chip_id not in catalog:
        raise Skip(f"system {row['system']} is not in the chip catalog")
    weights = _dtype(row)
    chip = catalog[chip_id]
    if weights == "fp4" and not chip.supports("fp4"):  # MXFP4/NVFP4 checkpoints on Hopper run weight-only
        weights = "w4a16"
    if not chip.supports(weights):
        raise Skip(f"{chip_id} has no {weights} math")
    conc = _int(row.get("concurrency"))
    if not conc:
        raise Skip("no concurrency stated")
    if str(row["backend"]) not in FRAMEWORKS:
        raise Skip(f"framework {row['backend']} has no fitted host time (known: {', '.join(FRAMEWORKS)})")
    isl, osl = int(_positive(row, "isl", MAX_TOKENS)), int(_positive(row, "osl", MAX_TOKENS))
    if str(row["mode"]) != "disagg":  # batch_size is sometimes per GPU or rank: the engine holds every client
        cfg = _engine(row, "", model, chip, weights, conc)
        return ServingSetting(dataclasses.replace(cfg, max_batch=max(cfg.max_batch, conc)), conc, isl, osl)
    missing = [f"{r}_{c}" for r in ("prefill", "decode") for c in POOL_COLUMNS if _int(row.get(f"{r}_{c}")) is None]
    if missing:
        raise Skip(f"incomplete pool description (no {', '.join(missing)})")
    prefill = _engine(row, "prefill_", model, chip, weights, 1)
    decode = _engine(row, "decode_", model, chip, weights, conc)
    pw, dw = int(row["prefill_num_workers"]), int(row["decode_num_workers"])
    if dw * decode.max_batch < conc:
        raise Skip(f"the decode pool ({dw} workers x batch {decode.max_batch}) cannot hold concurrency {conc}")
    return ServingSetting(decode, conc, isl, osl, prefill, pw, dw)


def predict_row(row: pd.Series, catalog: ChipCatalog, load=None) -> dict:
    """Median TTFT and TPOT of the row's deployment under its closed loop (ms)."""
    s = setting_from_row(row, catalog)
    load = load or ClosedLoop(s.concurrency)
    lengths = Lengths(s.isl, s.osl)
    if s.prefill is None:
        step = StepModel(s.config, s.isl, s.osl, max_decode=max(s.concurrency, 1),
                         max_prefill_tokens=max(min(s.config.token_budget, s.isl * s.concurrency), s.isl))
        if step.fit_reason:
            raise Skip(f"the engine cannot run this deployment: {FIT_REASONS[step.fit_reason]}")
        sim = simulate_aggregated(step, lengths, load)
    else:
        per_decoder = max(int(np.ceil(s.concurrency / s.decode_workers)), 1)
        dstep = StepModel(s.config, s.isl, s.osl, max_decode=min(per_decoder, s.config.max_batch), max_prefill_tokens=1)
        pstep = StepModel(s.prefill, s.isl, s.osl, max_decode=1, prefill_only=True,
                          max_prefill_tokens=max(s.isl * s.prefill.max_batch, s.isl))
        if dstep.fit_reason or pstep.fit_reason:
            role, why = ("decode", dstep.fit_reason) if dstep.fit_reason else ("prefill", pstep.fit_reason)
            raise Skip(f"the engine cannot run the {role} pool: {FIT_REASONS[why]}")
        sim = simulate_disaggregated(Pools(pstep, s.prefill_workers, dstep, s.decode_workers), lengths, load)
    out = sim.summary()
    return {"ttft_ms": out["ttft_ms_p50"], "tpot_ms": out["tpot_ms_p50"]}


ROWS_PER_WORKER = 40  # fewer distinct rows per extra process do not pay for starting it
# columns that never change a prediction: the row's name, its provenance and what was measured
NOT_INPUTS = ("id", "silicon_data_source", "backend_version", "silicon_ttft_ms", "silicon_tpot_ms")


def _predict_one(row: dict, catalog: ChipCatalog) -> tuple[dict, str, str, float]:
    """(prediction, status, reason, seconds) of one row."""
    t0 = time.perf_counter()
    try:
        pred, status, reason = predict_row(pd.Series(row), catalog), "ok", ""
    except Skip as exc:
        pred, status, reason = {}, "skipped", str(exc)
    return pred, status, reason, time.perf_counter() - t0


def _predict_chunk(rows: list[dict], catalog: ChipCatalog, params) -> list[tuple[dict, str, str, float]]:
    """Rows in order, under `params` (engine, serving constants): those the caller had in force, which another
    process does not inherit."""
    with using_params(params[0]), using_serving_params(params[1]):
        return [_predict_one(r, catalog) for r in rows]


def _run(settings: list[dict], catalog: ChipCatalog, workers: int) -> list[tuple[dict, str, str, float]]:
    """Predict the distinct settings, over `workers` processes when there are enough rows to pay for them (rows
    are independent and every simulation is seeded, so the result does not depend on the split)."""
    workers = max(1, min(workers, len(settings) // ROWS_PER_WORKER))
    params = (active_params(), active_serving_params())
    if workers == 1 or "fork" not in multiprocessing.get_all_start_methods():
        return _predict_chunk(settings, catalog, params)
    chunks = [settings[i::workers * 4] for i in range(workers * 4)]  # interleaved: slow and fast rows mixed
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        done = list(pool.map(_predict_chunk, chunks, [catalog] * len(chunks), [params] * len(chunks)))
    out: list = [None] * len(settings)
    for i, part in enumerate(done):
        out[i::workers * 4] = part
    return out


def predict_serving(rows: pd.DataFrame, catalog: ChipCatalog | None = None, workers: int = 1) -> pd.DataFrame:
    """Long format: one record per (row, metric) with predicted, measured, ape; skipped rows with the reason.
    Rows that describe the same deployment at the same concurrency (repeated measurements) are simulated once;
    `workers` > 1 spreads the distinct ones over that many processes."""
    catalog = catalog or load_catalog()
    inputs = rows.drop(columns=[c for c in NOT_INPUTS if c in rows.columns])
    key = pd.util.hash_pandas_object(inputs.astype(str), index=False).to_numpy()
    first = ~pd.Series(key).duplicated().to_numpy()
    settings = rows[first].to_dict("records")
    by_key = dict(zip(key[first], _run(settings, catalog, workers), strict=True))
    out = []
    for row, k in zip(rows.to_dict("records"), key, strict=True):
        pred, status, reason, dt = by_key[k]
        base = {"id": row["id"], "mode": row["mode"], "system": row["system"], "framework": row["backend"],
                "model": row["model_path"], "isl": row["isl"], "osl": row["osl"], "concurrency": row.get("concurrency")}
        for metric, col in (("ttft_ms", "silicon_ttft_ms"), ("tpot_ms", "silicon_tpot_ms")):
            meas = pd.to_numeric(row[col], errors="coerce")
            p = pred.get(metric, np.nan)
            out.append({**base, "metric": metric, "predicted": p, "measured": meas,
                        "ape": abs(p / meas - 1) if status == "ok" and np.isfinite(p) else np.nan,
                        "status": status, "reason": reason, "seconds": dt})
    return pd.DataFrame(out)


def serving_summary(res: pd.DataFrame, by: tuple[str, ...] = ("metric", "mode")) -> pd.DataFrame:
    """Median absolute error, share within ±25%, median predicted/measured, rows predicted and skipped."""
    def agg(g: pd.DataFrame) -> pd.Series:
        ok = g[g["status"] == "ok"]
        ratio = ok["predicted"] / ok["measured"]
        return pd.Series({"n": len(ok), "skipped": int((g["status"] != "ok").sum()),
                          "median_ape": ok["ape"].median(), "within_25pct": (ok["ape"] <= 0.25).mean() if len(ok) else np.nan,
                          "median_ratio": ratio.median()})
    return res.groupby(list(by)).apply(agg, include_groups=False).reset_index()
