"""Predict published measurements (the `validation/points.csv` format) and report the error.

For every row the engine predicts the stated metric in the stated setting: model, chip, dtypes, chip count,
parallelism, phase, ISL/OSL, batch or concurrency, prefix-cache hit rate, speculative decoding. What a row
leaves blank is chosen as a serving framework tuned for that run would: among the configurations that fit in
memory, respect the row's stated SLA and the framework limits below, the one with the highest throughput per
chip for the row's role. A row the planner cannot model is returned as `skipped` with the reason.

Approximations (also in docs/validation.md):
- A p99 TPOT SLA is checked on the engine's step time at the full batch. A percentile TTFT SLA on an open-loop
  aggregated row (no stated concurrency: MLPerf Server/Interactive, Poisson arrivals) caps the load with the
  queueing model `planner solve` uses (`poisson_load`); other TTFT SLAs are checked on the engine's TTFT.
- Aggregated rows use the engine's steady-state chunked-prefill step; a closed loop of C requests in flight
  is a decode batch of C (per instance: C · chips per instance / chips).
- Disaggregated rows: decode instances from the columns, prefill instances from the notes; the request rate is
  the closed-loop rate C / (TTFT + OSL · TPOT), capped by the prefill pool's capacity.
- Datasets whose mean input length the row does not state use planner.analyses.datasets.DATASET_ISL (measured over the
  dataset's prompts where their token counts are published, else an assumption; both reported per row).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from planner.analyses.datasets import dataset_isl, dataset_osl, dataset_output_cv
from planner.axes import overlap
from planner.axes.afd import afd_rows, best_per_chip
from planner.axes.speculative import DEFAULT_ACCEPTANCE, DEFAULT_DECAY, tokens_per_step
from planner.engine.candidates import (
    DECODE_BATCHES_PER_RANK,
    Candidates,
    default_kv_dtype,
    parallelism_options,
)
from planner.engine.result import EngineResult
from planner.engine.roofline import FIT_REASONS, evaluate
from planner.engine.tables import DTYPE_CODE, FRAMEWORK_CODE, ROLE_CODE, ChipTable, ModelTable
from planner.errors import PlannerError
from planner.inputs.architecture import ModelArch
from planner.inputs.chips import ChipCatalog, load_catalog
from planner.inputs.models import load_model, preset_ids
from planner.inputs.reader import load_csv
from planner.optimize.queueing import DEFAULT_QUEUEING, SCV, batch_slot_servers, max_utilization
from planner.paths import ROOT

POINTS_FILE = ROOT / "validation" / "points.csv"
# Published rows kept out of every fit and every design decision: newer MLPerf rounds and results the shared set
# leaves out (validation/README.md). `planner validate --holdout` scores them.
HOLDOUT_FILE = ROOT / "validation" / "points_holdout.csv"
COLUMNS: tuple[str, ...] = (
    "id", "model", "weights_dtype", "kv_dtype", "chip", "num_chips", "tp", "ep", "pp", "dp", "phase", "isl", "osl",
    "batch", "prefix_hit_rate", "spec_tokens", "spec_acceptance", "metric", "value", "quality", "source", "notes",
)
PHASES = ("prefill", "decode", "aggregated", "disaggregated")
METRICS = ("output_tok_s_per_chip", "input_tok_s_per_chip", "total_tok_s_per_chip", "tok_s_per_user", "ttft_ms", "tpot_ms")

# Framework limits a tuned deployment runs with (the search never goes beyond them).
MAX_TOKENS_PER_FORWARD_PER_RANK = 16384  # SGLang chunked_prefill_size / TRT-LLM max_num_tokens class of settings
PREFILL_SEQS_PER_RANK = (1, 2, 4, 8, 16, 32, 64, 128)
MAX_INSTANCE_CHIPS = 72

# Models whose published checkpoints carry multi-token-prediction (MTP) heads: rows that use MTP without
# stating its acceptance are predicted with speculative.DEFAULT_ACCEPTANCE["mtp"] (an assumption, reported).


class Skip(Exception):
    """A row the planner cannot model yet; the message is the reason reported."""


@dataclass
class Prediction:
    value: float
    config: str
    assumptions: str = ""


def read_points(path: str | Path | None = None) -> pd.DataFrame:
    """Read a points file, checking its columns (see validation/README.md)."""
    path = Path(path or POINTS_FILE)
    df = load_csv(path, field="points")
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise PlannerError(f"{path}: missing columns {missing}", field="points",
                           hint="the format is defined in validation/README.md (22 columns)")
    df["notes"] = df["notes"].fillna("").astype(str)
    return df


# ---------------------------------------------------------------- row parsing helpers


MAX_ROW_NUMBER = 1e12  # larger than any measured throughput, batch or count; beyond it the physics overflows
MAX_TOKENS = 1e7  # prompt or answer tokens of one request: beyond any model's context


def _num(row: pd.Series, column: str, *, positive: bool = True, integer: bool = False,
         maximum: float = MAX_ROW_NUMBER) -> float | None:
    """A row's number in `column` (blank: None); Skip naming the column when it is not a finite number, not
    positive (where it must be) or not a whole number (counts)."""
    v = row[column]
    if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise Skip(f"{column} = {v!r} is not a number") from None
    if not math.isfinite(x) or (positive and x <= 0) or (not positive and x < 0) or x > maximum:
        raise Skip(f"{column} = {v!r} must be a {'positive' if positive else 'non-negative'} finite number "
                   f"(at most {maximum:g})")
    if integer and x != int(x):
        raise Skip(f"{column} = {v!r} must be a whole number")
    return x


def parse_sla(notes: str) -> dict[str, float]:
    """`sla: ttft_p99_ms<=2000; tpot_p99_ms<=200` or `sla: tpot_ms<=50` -> {'ttft_ms': .., 'tpot_ms': ..}."""
    out = {}
    for key, val in re.findall(r"\b(ttft|tpot)(?:_p\d+)?_ms\s*<=\s*([\d.]+)", notes):
        out[f"{key}_ms"] = float(val)
    return out


def parse_ttft_percentile(notes: str) -> float | None:
    """`sla: ttft_p99_ms<=2000` -> 99.0 (a percentile SLA on TTFT, e.g. MLPerf Server/Interactive); None otherwise."""
    m = re.search(r"\bttft_p(\d+)_ms\s*<=", notes)
    return float(m.group(1)) if m else None


def _framework_text(notes: str) -> str:
    """What a row's notes say after `framework:` (up to the next `|`), or ''."""
    m = re.search(r"framework:\s*([^|]*)", str(notes))
    return m.group(1) if m else ""


def parse_framework(notes: str) -> str:
    """The serving framework a row's notes name (`framework: ...`): SGLang or vLLM by name, else TensorRT-LLM
    (TensorRT-LLM itself, the MLPerf harnesses built on it, and rows that do not say)."""
    text = _framework_text(notes).lower()
    return "sglang" if "sglang" in text else ("vllm" if "vllm" in text else "trtllm")


def parse_pool(notes: str, pool: str) -> tuple[int, dict[str, int]] | None:
    """`prefill 4x(TP4,EP4)=16` or `prefill 1 x (tp8, ep8, DP-attn)` -> (instances, {tp, ep, pp, dp})."""
    m = re.search(rf"{pool}\s+(\d+)\s*x\s*\(([^)]*)\)", notes, flags=re.I)
    if not m:
        return None
    n, inner = int(m.group(1)), m.group(2).lower()
    vals = {k: int(v) for k, v in re.findall(r"\b(tp|ep|pp)\s*(\d+)", inner)}
    tp, ep, pp = vals.get("tp", 1), vals.get("ep", 1), vals.get("pp", 1)
    if "dp-attn" in inner or "dp attn" in inner:
        return n, {"tp": 1, "ep": ep, "pp": pp, "dp": tp}
    return n, {"tp": tp, "ep": ep, "pp": pp, "dp": 1}


# ---------------------------------------------------------------- configuration search


@dataclass
class Setting:
    """What one row fixes; None = choose."""

    model: ModelArch
    chip_id: str
    weights: str
    kv: str
    num_chips: float | None
    par: dict[str, int | None]  # tp, ep, pp, dp
    isl: float
    osl: float
    batch: float | None  # concurrency / in-flight sequences over num_chips
    prefix_hit: float
    spec_tokens: float
    spec_accept: float
    sla: dict[str, float]
    tp_is_instance_size: bool = False  # MoE rows stating only "TP8": 8 chips per instance, split unknown
    ttft_percentile: float | None = None  # the SLA's TTFT percentile (Poisson arrivals: queueing applies)
    osl_cv: float = 0.0  # output-length coefficient of variation (dataset rows; engine.mean_decode_context)
    framework: str = "trtllm"  # serving framework (parse_framework): its host time per iteration
    tbo: bool = False  # the notes say two-batch overlap (parse_two_batch_overlap)


def parse_two_batch_overlap(notes: str) -> bool:
    """Whether the framework the notes name ran two micro-batches overlapped (`TBO`, `two-batch overlap`, `DBO`)."""
    return bool(re.search(r"\b(TBO|DBO)\b|two-batch overlap|dual-batch overlap", _framework_text(notes), re.IGNORECASE))


def _par_rows(s: Setting, catalog: ChipCatalog, max_chips: int) -> np.ndarray:
    """(tp, ep, pp, dp) rows compatible with what the row states."""
    chip = catalog[s.chip_id]
    rows = parallelism_options(s.model, chip, max_chips)
    if not len(rows):
        return rows
    keep = np.ones(len(rows), bool)
    for i, name in enumerate(("tp", "ep", "pp", "dp")):
        v = s.par.get(name)
        if v is None:
            continue
        if name == "tp" and s.tp_is_instance_size:
            keep &= rows[:, 0] * rows[:, 3] == v
        else:
            keep &= rows[:, i] == v
    if not s.model.is_moe:  # a dense model's unstated ep/dp are 1; pp defaults to 1 when tp is stated
        keep &= (rows[:, 1] == 1) & (rows[:, 3] == 1)
        if s.par.get("tp") is not None and s.par.get("pp") is None:
            keep &= rows[:, 2] == 1
    cpi = rows[:, 0] * rows[:, 2] * rows[:, 3]
    if s.num_chips:
        keep &= (cpi <= s.num_chips) & (np.mod(s.num_chips, cpi) == 0)
    return rows[keep]


def _explicit_par(s: Setting, catalog: ChipCatalog) -> np.ndarray | None:
    if any(s.par.get(k) is None for k in ("tp", "ep", "pp", "dp")) or s.tp_is_instance_size:
        return None
    return np.array([[s.par["tp"], s.par["ep"], s.par["pp"], s.par["dp"]]], float)


def _candidates(s: Setting, role: str, catalog: ChipCatalog, par: np.ndarray, batches_per_row: list[np.ndarray]) -> Candidates:
    counts = np.array([len(b) for b in batches_per_row])
    rep = np.repeat(np.arange(len(par)), counts)
    return Candidates.from_columns(
        role=ROLE_CODE[role], model=0, chip=0, tp=par[rep, 0], ep=par[rep, 1], pp=par[rep, 2], dp=par[rep, 3],
        batch=np.concatenate(batches_per_row), isl=s.isl, osl=s.osl, wdtype=DTYPE_CODE[s.weights],
        kvdtype=DTYPE_CODE[s.kv], prefix_hit=s.prefix_hit, spec_tokens=s.spec_tokens, spec_accept=s.spec_accept,
        osl_cv=s.osl_cv, framework=FRAMEWORK_CODE[s.framework],
    )


@dataclass
class Evaluated:
    cands: Candidates
    res: EngineResult
    ok: np.ndarray  # fits, within framework limits and the SLA

    @property
    def cpi(self) -> np.ndarray:
        return self.res.chips_per_instance


def _evaluate(s: Setting, cands: Candidates, mt: ModelTable, ct: ChipTable) -> tuple[Candidates, EngineResult]:
    """The engine on a row's candidates; a row that ran two-batch overlap is priced with it where the planner
    prices it (planner.axes.overlap.eligible)."""
    if s.tbo:
        cands = dataclasses.replace(cands, tbo=overlap.eligible(cands, mt).astype(np.int8))
    return cands, overlap.apply_two_batch_overlap(cands, evaluate(cands, mt, ct), mt, ct)


def evaluate_role(s: Setting, role: str, catalog: ChipCatalog, batch_per_instance: float | None = None,
                  par: np.ndarray | None = None) -> Evaluated:
    """Evaluate every allowed configuration of one role (batch fixed, or over the framework's batch grid)."""
    chip = catalog[s.chip_id]
    if par is None:
        par = _explicit_par(s, catalog)
    if par is None:
        par = _par_rows(s, catalog, int(min(s.num_chips or MAX_INSTANCE_CHIPS, MAX_INSTANCE_CHIPS)))
    if not len(par):
        raise Skip("no tensor/expert/pipeline split of this model fits the stated chips")
    cpi = par[:, 0] * par[:, 2] * par[:, 3]
    if batch_per_instance is not None:
        per_row = [np.array([batch_per_instance * c / (s.num_chips or c)]) if s.num_chips else np.array([batch_per_instance])
                   for c in cpi]
    elif role == "prefill":
        per_row = [np.asarray(PREFILL_SEQS_PER_RANK, float) * dp for dp in par[:, 3]]
    else:
        per_row = [np.asarray(DECODE_BATCHES_PER_RANK, float) * dp for dp in par[:, 3]]
    cands = _candidates(s, role, catalog, par, per_row)
    mt, ct = ModelTable.build([s.model]), ChipTable.build([chip])
    cands, res = _evaluate(s, cands, mt, ct)
    ok = res.fit_reason == 0
    if batch_per_instance is None:  # the framework's per-forward token budget bounds a searched batch
        new = np.maximum(cands.isl * (1 - cands.prefix_hit), 1.0)
        tokens = cands.batch * new if role == "prefill" else cands.batch * (1 + cands.spec_tokens)
        if role == "aggregated":
            tokens = tokens + cands.batch * cands.spec_accept / cands.osl * new  # prefill chunks of the step
        ok &= tokens / cands.dp <= MAX_TOKENS_PER_FORWARD_PER_RANK
    if "tpot_ms" in s.sla and role != "prefill":
        ok &= res.tpot_s * 1e3 <= s.sla["tpot_ms"]
    if "ttft_ms" in s.sla and role in ("prefill", "aggregated"):
        ok &= res.ttft_s * 1e3 <= s.sla["ttft_ms"]
    return Evaluated(cands, res, ok)


def best(ev: Evaluated, objective: np.ndarray, what: str) -> int:
    """Index of the best allowed candidate, or Skip with the reason nothing is allowed."""
    if not ev.ok.any():
        reasons = ev.res.fit_reason
        if (reasons == 0).any():
            raise Skip(f"no {what} configuration meets the stated SLA / framework limits")
        raise Skip(f"no {what} configuration fits: {FIT_REASONS[int(np.bincount(reasons).argmax())]}")
    score = np.where(ev.ok, objective, -np.inf)
    return int(np.argmax(score))


def describe(ev: Evaluated, i: int) -> str:
    c = ev.cands
    spec = f" spec{int(c.spec_tokens[i])}@{c.spec_accept[i]:g}" if c.spec_tokens[i] > 0 else ""
    return (f"tp{int(c.tp[i])} ep{int(c.ep[i])} pp{int(c.pp[i])} dp{int(c.dp[i])} batch {c.batch[i]:g} "
            f"isl {c.isl[i]:g} osl {c.osl[i]:g}{spec}" + (" tbo" if c.tbo[i] else "")
            + (f" (output cv {c.osl_cv[i]:g})" if c.osl_cv[i] > 0 else ""))


# ---------------------------------------------------------------- per-phase predictions


def _per_chip(ev: Evaluated, key: str) -> np.ndarray:
    return getattr(ev.res, key) / ev.cpi


def poisson_load(ev: Evaluated, s: Setting) -> np.ndarray:
    """Fraction of capacity an aggregated instance can carry under Poisson arrivals with a percentile TTFT SLA:
    the queueing model `planner solve` plans with (planner.optimize.queueing, its default M/D/c over the batch's sequence
    slots, `batch_slot_servers`), at the highest utilization whose percentile wait fits in the SLA minus the
    engine's TTFT."""
    c, r = ev.cands, ev.res
    servers, hold_s = batch_slot_servers(c.batch, r.decode_tok_s / np.maximum(c.osl, 1e-9))
    budget_s = s.sla["ttft_ms"] / 1e3 - r.ttft_s
    return max_utilization(hold_s, budget_s, s.ttft_percentile, servers, SCV[DEFAULT_QUEUEING])


def _single(s: Setting, role: str, metric: str, catalog: ChipCatalog) -> Prediction:
    """Prefill-only, decode-only or aggregated rows: one instance type. An open-loop aggregated row (no stated
    concurrency) with a percentile TTFT SLA carries the load the queueing model allows (`poisson_load`)."""
    ev = evaluate_role(s, role, catalog, batch_per_instance=s.batch)
    objective = _per_chip(ev, "prefill_tok_s" if role == "prefill" else "decode_tok_s")
    queued = role == "aggregated" and s.batch is None and s.ttft_percentile is not None and "ttft_ms" in s.sla
    load = poisson_load(ev, s) if queued else np.ones(len(objective))
    i = best(ev, objective * load, role)
    r = ev.res.row(i)
    cpi, rho = r["chips_per_instance"], float(load[i])
    values = {
        "output_tok_s_per_chip": rho * r["decode_tok_s"] / cpi,
        "input_tok_s_per_chip": rho * r["prefill_tok_s"] / cpi,
        "total_tok_s_per_chip": rho * (r["prefill_tok_s"] + r["decode_tok_s"]) / cpi,
        "tok_s_per_user": 1.0 / r["tpot_s"] if r["tpot_s"] > 0 else float("nan"),
        "ttft_ms": r["ttft_s"] * 1e3,
        "tpot_ms": r["tpot_s"] * 1e3,
    }
    v = values[metric]
    if not np.isfinite(v):
        raise Skip(f"metric {metric} is not defined for the {role} role")
    queue = f"; load {rho:.2f} of capacity (p{s.ttft_percentile:g} TTFT queueing)" if queued else ""
    return Prediction(v, f"{role}: {describe(ev, i)}{queue}")


def _disaggregated(s: Setting, metric: str, catalog: ChipCatalog, notes: str) -> Prediction:
    pre = parse_pool(notes, "prefill")
    dec = parse_pool(notes, "decode")
    if pre is None or dec is None:
        raise Skip("disaggregated row without 'prefill N x (...)' and 'decode M x (...)' pools in notes")
    if s.batch is None:
        raise Skip("disaggregated row without a stated concurrency")
    (n_p, p_par), (n_d, d_par) = pre, dec
    arr = lambda d: np.array([[d["tp"], d["ep"], d["pp"], d["dp"]]], float)  # noqa: E731
    cpi_p, cpi_d = p_par["tp"] * p_par["pp"] * p_par["dp"], d_par["tp"] * d_par["pp"] * d_par["dp"]
    chips = n_p * cpi_p + n_d * cpi_d
    if s.num_chips and abs(chips - s.num_chips) > 0.5:
        raise Skip(f"pools in notes ({chips} chips) do not add up to num_chips={s.num_chips:g}")
    one = Setting(**{**s.__dict__, "num_chips": None, "batch": None})
    # prefill pool capacity: best allowed prefill batch on the stated instance
    ev_p = evaluate_role(one, "prefill", catalog, par=arr(p_par))
    ip = best(ev_p, ev_p.res.prefill_tok_s, "prefill")
    prefill_rps = n_p * float(ev_p.res.requests_per_s[ip])
    ev_1 = evaluate_role(one, "prefill", catalog, batch_per_instance=1.0, par=arr(p_par))
    ttft = float(ev_1.res.ttft_s[0])
    # decode pool: closed loop of C requests; batches from C/n_d down, until the rate meets the prefill cap
    b_full = s.batch / n_d
    grid = np.unique(np.concatenate([np.geomspace(1.0, b_full, 48), [b_full]]))
    cands = _candidates(one, "decode", catalog, arr(d_par), [grid])
    mt, ct = ModelTable.build([s.model]), ChipTable.build([catalog[s.chip_id]])
    cands, res = _evaluate(one, cands, mt, ct)
    if res.fit_reason[-1] != 0:
        raise Skip(f"decode instance does not fit at concurrency {s.batch:g}: {FIT_REASONS[int(res.fit_reason[-1])]}")
    tpot = res.tpot_s
    rate_closed = s.batch / (ttft + s.osl * tpot[-1])
    rate_decode = n_d * grid / (s.osl * tpot)  # requests/s the decode pool completes at batch b
    rate = min(rate_closed, prefill_rps)
    j = int(np.searchsorted(rate_decode, rate)) if rate < rate_closed else len(grid) - 1
    j = min(j, len(grid) - 1)
    tpot_j = float(tpot[j])
    values = {
        "total_tok_s_per_chip": rate * (s.isl + s.osl) / chips,
        "output_tok_s_per_chip": rate * s.osl / chips,
        "tok_s_per_user": 1.0 / tpot_j,
        "tpot_ms": tpot_j * 1e3,
        "ttft_ms": ttft * 1e3,
    }
    if metric not in values:
        raise Skip(f"metric {metric} not modelled for disaggregated rows")
    bound = "prefill-bound" if prefill_rps < rate_closed else "decode-bound"
    cfg = (f"prefill {n_p}x(tp{p_par['tp']} ep{p_par['ep']} dp{p_par['dp']}) batch {ev_p.cands.batch[ip]:g}; "
           f"decode {n_d}x(tp{d_par['tp']} ep{d_par['ep']} dp{d_par['dp']}) batch {grid[j]:.0f}; {bound}")
    return Prediction(values[metric], cfg)


# ---------------------------------------------------------------- one row


def setting_from_row(row: pd.Series, catalog: ChipCatalog) -> tuple[Setting, list[str]]:
    """Parse a points row into what the engine needs; Skip when something essential is missing."""
    notes = row["notes"]
    assumptions: list[str] = []
    if row["model"] not in preset_ids():
        raise Skip(f"model {row['model']!r} has no preset")
    if row["chip"] not in catalog:
        raise Skip(f"chip {row['chip']!r} is not in the catalog")
    if row["phase"] not in PHASES:
        raise Skip(f"unknown phase {row['phase']!r}")
    if row["metric"] not in METRICS:
        raise Skip(f"unknown metric {row['metric']!r}")
    model = load_model(row["model"])
    chip = catalog[row["chip"]]
    weights = row["weights_dtype"]
    if weights not in DTYPE_CODE:
        raise Skip(f"weights_dtype = {weights!r} is not one of {', '.join(DTYPE_CODE)}")
    if not chip.supports(weights):
        raise Skip(f"{chip.id} has no {weights} support in the catalog")
    kv = row["kv_dtype"] if isinstance(row["kv_dtype"], str) and row["kv_dtype"] else default_kv_dtype(weights)
    if kv not in ("bf16", "fp8", "fp4"):
        raise Skip(f"kv_dtype = {kv!r} is not one of bf16, fp8, fp4")
    spec = _num(row, "spec_tokens", positive=False, integer=True) or 0.0
    accept = _num(row, "spec_acceptance")
    if spec > 0 and accept is None:
        if not model.mtp_layers:
            raise Skip(f"speculative decoding ({spec:g} draft tokens) with unstated acceptance")
        alpha, decay = DEFAULT_ACCEPTANCE["mtp"], DEFAULT_DECAY["mtp"]
        accept = float(tokens_per_step(alpha, spec, decay))
        assumptions.append(f"MTP acceptance not stated: alpha={alpha:g} at the first draft position (DeepSeek-V3 "
                           f"report: 85-90% for the second token), x{decay:g} per later one -> {accept:.3g} tokens "
                           f"per step with {spec:g} draft tokens")
    isl, osl_cv = _num(row, "isl", maximum=MAX_TOKENS), 0.0
    if isl is None:
        ds = dataset_isl(notes)
        if ds is None:
            raise Skip("input length not stated and the dataset's mean is unknown")
        isl = ds[0]
        assumptions.append(f"isl={isl:g} ({ds[1]})")
        cv = dataset_output_cv(notes)
        if cv is not None and row["phase"] in ("aggregated", "disaggregated"):
            osl_cv = cv[0]
            assumptions.append(f"output cv={osl_cv:g} ({cv[1]})")
    osl = _num(row, "osl", maximum=MAX_TOKENS)
    if osl is None:
        if row["phase"] in ("decode", "prefill"):
            osl = 1.0  # decode rows: isl is the KV length during decoding; prefill rows: output irrelevant
        else:
            ds = dataset_osl(notes)
            if ds is None:
                raise Skip("output length not stated (and no published mean for the dataset)")
            osl = ds[0]
            assumptions.append(f"osl={osl:g} ({ds[1]})")
    par = {k: (int(v) if (v := _num(row, k, integer=True)) is not None else None) for k in ("tp", "ep", "pp", "dp")}
    tp_only = model.is_moe and par["tp"] is not None and par["ep"] is None and par["dp"] is None
    if tp_only:
        assumptions.append(f"tp={par['tp']} read as chips per instance (tp x dp), ep/dp searched")
    s = Setting(
        model=model, chip_id=chip.id, weights=weights, kv=kv, num_chips=_num(row, "num_chips", integer=True), par=par,
        isl=isl, osl=osl, batch=_num(row, "batch"), prefix_hit=_num(row, "prefix_hit_rate", positive=False) or 0.0,
        spec_tokens=spec, spec_accept=accept or 1.0, sla=parse_sla(notes), tp_is_instance_size=tp_only,
        ttft_percentile=parse_ttft_percentile(notes), osl_cv=osl_cv, framework=parse_framework(notes),
        tbo=parse_two_batch_overlap(notes),
    )
    return s, assumptions


def _afd(s: Setting, metric: str, catalog: ChipCatalog) -> Prediction:
    """Attention/FFN-disaggregated decode (planner.axes.afd): the best tokens/s per chip of attention + FFN chips
    (the FFN share fractional) under the row's TPOT SLA."""
    if metric != "output_tok_s_per_chip" or not s.model.is_moe:
        raise Skip("attention/FFN disaggregation: only decode output tokens/s per chip of MoE models is modelled")
    chip = catalog[s.chip_id]
    tpot = s.sla.get("tpot_ms")
    df = afd_rows(s.model, [chip], ChipTable.build([chip]), wdtype=s.weights, kvdtype=s.kv, isl=s.isl, osl=s.osl,
                  tpot_max_s=tpot / 1e3 if tpot else None, max_chips=MAX_INSTANCE_CHIPS, osl_cv=s.osl_cv)
    b = best_per_chip(df) if len(df) else None
    if b is None:
        raise Skip("attention/FFN disaggregation: no attention/FFN pairing meets the SLA")
    a, f = b["attention"], b["ffn"]
    cfg = (f"afd: attention tp{a['tp']} dp{a['dp']} batch {a['batch']:g} ({a['micro_batches']} micro-batches, "
           f"cycle {a['cycle_us']:.0f} us/layer, TPOT {a['tpot_ms']:.1f} ms); ffn ep{f['ep']} "
           f"{f['ffn_tokens']:g} tokens/cycle; {b['ffn_per_attention']:.3g} FFN instances per attention instance")
    return Prediction(b["tok_s_per_chip"], cfg)


def predict_row(row: pd.Series, catalog: ChipCatalog) -> Prediction:
    s, assumptions = setting_from_row(row, catalog)
    phase, metric = row["phase"], row["metric"]
    if re.search(r"attention-FFN disaggregation|\bAFD\b", row["notes"]):
        if phase != "decode":
            raise Skip("attention/FFN disaggregation is modelled for decode rows only")
        pred = _afd(s, metric, catalog)
        pred.assumptions = "; ".join(assumptions + ["Step-3 preset attention approximated as GQA (see models/step-3.yaml)"
                                                    if s.model.id == "step-3" else ""]).strip("; ")
        return pred
    if phase == "disaggregated":
        pred = _disaggregated(s, metric, catalog, row["notes"])
    else:
        if phase == "aggregated" and metric == "input_tok_s_per_chip":
            raise Skip("input throughput of an aggregated run is not a separate quantity")
        pred = _single(s, phase, metric, catalog)
    pred.assumptions = "; ".join(assumptions)
    return pred


def predict_points(points: pd.DataFrame, catalog: ChipCatalog | None = None) -> pd.DataFrame:
    """One result row per input row: predicted, measured, ape, ratio, status ('ok'/'skipped'), reason, config."""
    catalog = catalog or load_catalog()
    out = []
    for _, row in points.iterrows():
        base = {k: row[k] for k in ("id", "model", "chip", "phase", "metric", "quality")}
        try:
            measured = _num(row, "value")
            if measured is None:
                raise Skip("value is blank")
            p = predict_row(row, catalog)
            if not (np.isfinite(p.value) and p.value > 0):
                raise Skip(f"the prediction {p.value!r} is not a positive number (a bug: please report the row)")
        except Skip as exc:
            measured = pd.to_numeric(row["value"], errors="coerce")
            out.append({**base, "measured": measured, "predicted": np.nan, "ape": np.nan, "ratio": np.nan,
                        "status": "skipped", "reason": str(exc), "config": "", "assumptions": ""})
            continue
        ape = abs(p.value - measured) / measured
        ratio = max(p.value / measured, measured / p.value) if p.value > 0 else np.inf
        out.append({**base, "measured": measured, "predicted": p.value, "ape": ape, "ratio": ratio,
                    "status": "ok", "reason": "", "config": p.config, "assumptions": p.assumptions})
    return pd.DataFrame(out)


# ---------------------------------------------------------------- summaries


def summarize(results: pd.DataFrame) -> dict:
    """n, median and mean absolute % error (fractions), share within ±25%, worst ratio, over predicted rows."""
    ok = results[results["status"] == "ok"]
    if ok.empty:
        return {"n": 0, "median_ape": None, "mape": None, "within_25pct": None, "max_ratio": None,
                "skipped": int((results["status"] == "skipped").sum())}
    ape = ok["ape"].to_numpy(float)
    return {
        "n": int(len(ok)),
        "median_ape": float(np.median(ape)),
        "mape": float(np.mean(ape)),
        "within_25pct": float(np.mean(ape <= 0.25)),
        "max_ratio": float(ok["ratio"].max()),
        "skipped": int((results["status"] == "skipped").sum()),
    }


def summary_by(results: pd.DataFrame, column: str) -> pd.DataFrame:
    """The summary for all rows and for each value of `column` (e.g. quality, phase, source)."""
    groups = [("all", results)] + [(str(k), g) for k, g in results.groupby(column, sort=True)]
    return pd.DataFrame([{column: k, **summarize(g)} for k, g in groups])


def source_of(row_id: str) -> str:
    """The publication family of a row id: ML41-3-a -> ML41, IX-13-b -> IX, SG-GB2 -> SG."""
    return re.split(r"[-_]", str(row_id))[0]
