"""Two-batch overlap (SGLang's TBO, vLLM's DBO): each forward runs as two micro-batches of half the tokens, and
while one micro-batch waits on its MoE all-to-all (dispatch, combine) the other computes.

Per forward, with the kernels of one half-batch taking K (everything but communication and launch overhead), its
communication M and its launch overhead O (the engine's operator families at half the batch):

    forward = 2 max(K, M) + 2 O        (in place of the whole batch's K_full + M_full + O_full)

Each micro-batch reads the weights again, and pays the all-to-all's latency again, so a step gets faster only where
the all-to-all is a large share (expert parallelism across nodes): the optimizer keeps a pool's overlapped twin only
where it pays (planner.optimize.prune). Twins are made for prefill candidates of MoE models with expert parallelism
and attention data parallelism, attention TP 1 and one pipeline stage (the deployments both frameworks target, where
all the step's communication is the MoE all-to-all). Not for decode: priced this way, the one published decode row
that ran it (DeepSeek-V3, EP 72 over nine H100 nodes) comes out 1.42x over its measured throughput, against 0.90x
without the overlap; the low-latency all-to-all of decode is not hidden as this model assumes. Assumptions: the two
micro-batches split the tokens evenly and the overlap is perfect per layer (the communication kernels' own SMs are
not taken from the compute); the host time per iteration is paid once.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from planner.engine.candidates import Candidates, concat
from planner.engine.result import OP_FAMILIES, EngineResult
from planner.engine.roofline import evaluate
from planner.engine.tables import ROLE_CODE, ChipTable, ModelTable

MICRO_BATCHES = 2
KERNEL_FAMILIES = tuple(f for f in OP_FAMILIES if f not in ("comm", "overhead"))


def eligible(c: Candidates, mt: ModelTable) -> np.ndarray:
    """Rows two-batch overlap is priced for: prefill, MoE, EP > 1, attention DP > 1, TP 1, PP 1."""
    moe = mt.moe_layers[c.model] > 0
    return (c.role == ROLE_CODE["prefill"]) & moe & (c.ep > 1) & (c.dp > 1) & (c.tp == 1) & (c.pp == 1)


def tbo_variants(c: Candidates, mt: ModelTable) -> Candidates:
    """The candidates, plus an overlapped twin (tbo = 1) of every eligible row, appended."""
    rows = np.flatnonzero(eligible(c, mt) & (c.tbo == 0))
    if not len(rows):
        return c
    twin = c.take(rows)
    return concat([c, dataclasses.replace(twin, tbo=np.ones(len(rows), np.int8))])


def overlapped_forward_s(half: EngineResult) -> np.ndarray:
    """One forward as two overlapped micro-batches, from the engine's result for one micro-batch."""
    kernels = sum(half.family_time_s(f) for f in KERNEL_FAMILIES)
    return MICRO_BATCHES * (np.maximum(kernels, half.t_comm_s) + half.t_overhead_s)


def apply_two_batch_overlap(c: Candidates, res: EngineResult, mt: ModelTable, ct: ChipTable) -> EngineResult:
    """The step, TPOT, rates and (prefill) first-token time of the rows with tbo = 1, as two overlapped micro-batches.

    The engine's step of such a row (PP 1) is its forward, times the speculative verify factor on decode rows, plus
    the host time; the forward is replaced and the factor and host time kept."""
    rows = np.flatnonzero(c.tbo > 0)
    if not len(rows):
        return res
    sub = c.take(rows)
    half = evaluate(dataclasses.replace(sub, batch=sub.batch / MICRO_BATCHES), mt, ct)
    host = res.host_s[rows]
    forward = res.kernel_time_s()[rows]
    factor = (res.step_s[rows] - host) / np.maximum(forward, 1e-30)  # speculative verify factor (1 without)
    step = host + factor * overlapped_forward_s(half)
    ttft = np.array(res.ttft_s, dtype=float, copy=True)
    pre = sub.role == ROLE_CODE["prefill"]
    ttft[rows[pre]] = ttft[rows[pre]] + (step[pre] - res.step_s[rows][pre])
    out = res.with_step(rows, step, sub.batch, sub.role, sub.isl, sub.osl, sub.spec_accept)
    return out.replace(ttft_s=ttft)
