"""The one entry point from candidates to the coefficient table: the engine's evaluation, then every axis
that post-processes it (speculative variants and a co-located or pooled draft model, two-batch overlap, the prefix
cache's memory, the aggregated chunk cap: planner.axes.speculative, .draft_pool, .overlap, .prefix, .chunked)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from planner.axes import chunked, draft_pool, overlap, prefix, speculative
from planner.engine.candidates import DTYPES_BY_CODE, Candidates, Grid, build_candidates
from planner.engine.operators import PREFILL_CHUNK_TOKENS
from planner.engine.result import EngineResult
from planner.engine.roofline import evaluate, to_frame
from planner.engine.tables import FRAMEWORK_CODE, ROLE_CODE, ChipTable, ModelTable
from planner.inputs.architecture import ModelArch
from planner.inputs.chips import Chip
from planner.inputs.models import load_model


def evaluate_axes(cands: Candidates, mt: ModelTable, ct: ChipTable, grid: Grid) -> tuple[Candidates, EngineResult]:
    """Engine evaluation plus the axes' post-processing: speculative variants (gamma per row), two-batch overlap, a
    co-located or pooled draft model, the prefix cache's memory, the aggregated chunk cap (planner.axes.speculative,
    .overlap, .draft_pool, .prefix, .chunked)."""
    if grid.spec_method is not None and any(g > 0 for g in grid.spec_gammas):
        cands = speculative.spec_variants(cands, grid.spec_gammas, grid.spec_alpha, grid.spec_decay)
    if grid.two_batch_overlap:
        cands = overlap.tbo_variants(cands, mt)
    res = evaluate(cands, mt, ct)
    res = overlap.apply_two_batch_overlap(cands, res, mt, ct)
    pool = grid.spec_method == "draft" and grid.draft_model and grid.spec_placement == "pool"
    if pool:  # target rows per draft latency level, the draft's steps outside the instance
        _, dres = draft_pool.draft_grid(load_model(grid.draft_model), ct, DTYPES_BY_CODE[int(cands.wdtype[0])],
                                        DTYPES_BY_CODE[int(cands.kvdtype[0])], grid.isl, grid.osl,
                                        grid.decode_batches_per_rank, framework=FRAMEWORK_CODE[grid.framework])
        taus = draft_pool.levels(dres, grid.draft_levels)
        cands, res = draft_pool.apply_draft_pool(cands, res, mt, ct, taus)
    extra = prefix.cache_bytes_per_chip(cands, mt, grid.prefix_cache_tokens) if np.any(cands.prefix_hit > 0) else 0.0
    if grid.spec_method == "mtp":
        extra = extra + speculative.mtp_weight_bytes_per_chip(cands, mt)
    raw_step = res.step_s
    if grid.spec_method == "draft" and grid.draft_model and not pool:
        res = speculative.apply_draft_model(cands, res, mt, ct, load_model(grid.draft_model))
    res = prefix.refit(cands, res, ct, np.broadcast_to(extra, (len(cands),)).astype(float))
    # aggregated rows always run under a token budget: the scenario's, else the frameworks' default; a prompt's
    # TTFT is then its own prefill chunks, never the steady-state share of prefill per step (which would shrink
    # as the batch grows and explode at small batch)
    budget = grid.chunk_tokens if grid.chunk_tokens is not None else PREFILL_CHUNK_TOKENS
    if budget is not None:
        agg = cands.role == ROLE_CODE["aggregated"]
        full_chunk = np.zeros(len(cands))
        if agg.any():
            idx = np.flatnonzero(agg)
            sub = cands.take(idx)
            chunk = chunked.prompt_chunk(sub, budget) / chunked.new_prompt_tokens(sub)
            one_chunk = Candidates(**{**sub.__dict__, "prefill_seqs": chunk})
            fres = evaluate(one_chunk, mt, ct)
            # the same draft/MTP adjustment as the mixed step: shift by the difference the draft made
            full_chunk[idx] = fres.step_s + (res.step_s[idx] - raw_step[idx])
        res = chunked.apply_chunk(cands, res, full_chunk, budget, mt, ct)
    return cands, res


CHUNK_REASON = "prefill tokens per step exceed aggregated.chunk_tokens (the batch drains faster than it refills)"


def coefficient_table(models: Sequence[ModelArch], chips: Sequence[Chip], grid: Grid) -> pd.DataFrame:
    """Enumerate and evaluate: one row per candidate instance (see engine.to_frame for columns; the axes add
    spec_tokens, spec_accept, tpot_chunk_ms)."""
    mt, ct = ModelTable.build(list(models)), ChipTable.build(list(chips))
    cands = build_candidates(models, chips, grid)
    cands, res = evaluate_axes(cands, mt, ct, grid)
    df = to_frame(cands, res, mt, ct)
    df["spec_tokens"] = cands.spec_tokens.astype(np.int32)
    df["spec_accept"] = cands.spec_accept
    df["tbo"] = cands.tbo.astype(bool)
    if res.draft_level_idx is not None:
        lvl = res.draft_level_idx
        df["draft_level"] = np.where(lvl >= 0, np.char.add("d", lvl.astype(str)), "")
        df["draft_tokens_per_req"] = res.draft_tokens_per_req
    if res.chunk_ok is not None:
        bad = ~res.chunk_ok & df["fits"].to_numpy()
        if bad.any():
            reason = df["fit_reason"].cat.add_categories([CHUNK_REASON])
            reason[bad] = CHUNK_REASON
            df["fit_reason"] = reason
            df.loc[bad, "fits"] = False
        df["tpot_chunk_ms"] = res.tpot_chunk_s * 1e3
    return df
