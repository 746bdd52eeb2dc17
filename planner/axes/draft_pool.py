"""Speculative decoding with the draft model in its own pool (`speculative.placement: pool`).

Draft instances (role `draft`, the draft model's decode on any offered chip) generate the draft tokens for
the target's decode instances (role `decode`, gamma > 0), which only verify. docs/axes.md derives the model;
the MILP rate-matches the two pools per latency level (`milp.add_draft_matching`).

- A draft instance runs the gamma draft steps of a request in one scheduler pass (one CUDA graph): the
  engine's per-step framework overhead o once per pass, kernel time t_k = step - o per draft step.
- Latency levels tau_j = t_min x 1.5^j (j < `speculative.draft_levels`): a budget per draft step (kernel
  time), t_min the fastest draft kernel step on the offered chips (batch 1). Like the AFD cadences they
  decouple the pools linearly: a target row at level j assumes draft steps of tau_j; a draft row at level j
  is the largest batch whose kernel step meets tau_j, for every chip and tensor split.
- Target step at level j (not pipelined: the target waits for its drafts):
  verify (the engine's step of 1 + gamma query tokens, without a co-located draft) + gamma tau_j + o (the
  draft pass) + tau_j / 2 (mean wait for the draft instance's next step boundary) + 2 scale-out link
  latencies (token ids there and back; their bytes are negligible).
- Draft tokens per request: gamma x OSL / a (a = tokens emitted per verify step). A draft row supplies
  batch / (t_k + o) draft tokens/s: the overhead charged per draft step, as if every pass drafted one token
  (conservative for gamma > 1), divided by 1 + margin like every capacity.
- Aggregated instances keep gamma = 0 in this placement (the draft pool feeds the P/D decode pool).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.axes.speculative import _step_without_mtp
from planner.engine.candidates import DECODE_BATCHES_PER_RANK, Candidates
from planner.engine.params import active_params
from planner.engine.result import EngineResult
from planner.engine.roofline import evaluate
from planner.engine.tables import DTYPE_CODE, ROLE_CODE, ChipTable, ModelTable

LEVEL_STEP = 1.5  # ratio of consecutive draft latency levels
DRAFT_TP = (1, 2, 4, 8)


def level_name(j: int) -> str:
    return f"d{int(j)}"


def draft_grid(draft, ct: ChipTable, wdtype: str, kvdtype: str, isl: float, osl: float,
               batches=DECODE_BATCHES_PER_RANK, osl_cv: float = 0.0, framework: int = 0) -> tuple[Candidates, EngineResult]:
    """The draft model's decode on every offered chip with its weights dtype, tp in DRAFT_TP (dividing its
    heads), pp = dp = 1, over the decode batch grid: the engine's evaluation."""
    rows = []
    w = DTYPE_CODE[wdtype]
    for k in range(len(ct.ids)):
        if ct.peak_flops[k, w] <= 0:
            continue
        for tp in DRAFT_TP:
            if draft.num_heads % tp or not (draft.num_kv_heads % tp == 0 or tp % draft.num_kv_heads == 0):
                continue
            rows += [(k, tp, b) for b in batches]
    a = np.array(rows, float).reshape(-1, 3)
    dc = Candidates.from_columns(role=ROLE_CODE["decode"], model=0, chip=a[:, 0].astype(int), tp=a[:, 1], batch=a[:, 2],
                                 isl=isl, osl=osl, wdtype=w, kvdtype=DTYPE_CODE[kvdtype], osl_cv=osl_cv,
                                 framework=framework)
    return dc, evaluate(dc, ModelTable.build([draft]), ct)


def overhead_s(framework=0):
    """The framework's host time per iteration (FRAMEWORK_CODE codes), once per draft pass."""
    return active_params().host_s(framework)


def levels(dres: EngineResult, n: int) -> np.ndarray:
    """Per-draft-step kernel-time budgets: t_min x LEVEL_STEP^j (empty when the draft fits nowhere)."""
    ok = dres.fit_reason == 0
    if not ok.any():
        return np.zeros(0)
    return float((dres.step_s - dres.host_s)[ok].min()) * LEVEL_STEP ** np.arange(n)


def apply_draft_pool(c: Candidates, res: EngineResult, mt: ModelTable, ct: ChipTable,
                     taus: np.ndarray) -> tuple[Candidates, EngineResult]:
    """Target rows for a draft pool: decode rows with gamma > 0 once per level (step = verify + (gamma + 1/2)
    tau + o + 2 link latencies), aggregated rows with gamma > 0 dropped. Returns the candidates and their
    result, with the level index per row (-1: no draft pool) and the draft tokens per request."""
    dec = c.role == ROLE_CODE["decode"]
    spec = c.spec_tokens > 0
    keep = np.flatnonzero(~spec)
    sp = np.flatnonzero(spec & dec)
    order = np.concatenate([keep] + [sp] * len(taus))
    lvl = np.concatenate([np.full(len(keep), -1)] + [np.full(len(sp), j) for j in range(len(taus))])
    verify = _step_without_mtp(res, c, mt)
    c2 = c.take(order)
    rows = np.flatnonzero(lvl >= 0)
    sub = c2.take(rows)
    tau = taus[lvl[rows]] if len(rows) else np.zeros(0)
    step = verify[order][rows] + (sub.spec_tokens + 0.5) * tau + overhead_s(sub.framework) + 2.0 * ct.scaleout_lat[sub.chip]
    out = res.take(order).with_step(rows, step, sub.batch, sub.role, sub.isl, sub.osl, sub.spec_accept)
    per_req = np.zeros(len(c2))
    per_req[rows] = sub.spec_tokens * sub.osl / np.maximum(sub.spec_accept, 1.0)
    return c2, out.replace(draft_level_idx=lvl, draft_tokens_per_req=per_req)


def draft_rows(draft, chips, ct: ChipTable, wdtype: str, kvdtype: str, isl: float, osl: float, n_levels: int,
               batches=DECODE_BATCHES_PER_RANK, osl_cv: float = 0.0, framework: int = 0) -> pd.DataFrame:
    """One row per (level, chip, tp): the largest batch that fits with a kernel step within the level's
    budget, and the draft tokens/s it supplies (batch / step, the overhead included)."""
    dc, dres = draft_grid(draft, ct, wdtype, kvdtype, isl, osl, batches, osl_cv, framework)
    taus = levels(dres, n_levels)
    ok = dres.fit_reason == 0
    out = []
    for j, tau in enumerate(taus):
        sel = ok & (dres.step_s - dres.host_s <= tau * (1 + 1e-12))
        if not sel.any():
            continue
        df = pd.DataFrame({"chip_i": dc.chip[sel], "tp": dc.tp[sel], "batch": dc.batch[sel], "step_s": dres.step_s[sel]})
        best = df.sort_values("batch").groupby(["chip_i", "tp"], as_index=False).last()
        best["draft_level"] = level_name(j)
        out.append(best)
    if not out:
        return pd.DataFrame()
    df = pd.concat(out, ignore_index=True)
    return pd.DataFrame({
        "role": "draft", "chip": [ct.ids[int(k)] for k in df["chip_i"]], "tp": df["tp"].astype(int), "ep": 1, "pp": 1,
        "dp": 1, "batch": df["batch"].to_numpy(), "chips_per_instance": df["tp"].astype(int),
        "draft_step_ms": df["step_s"].to_numpy() * 1e3, "draft_tokens_s": df["batch"].to_numpy() / df["step_s"].to_numpy(),
        "draft_level": df["draft_level"].to_numpy(),
    })
