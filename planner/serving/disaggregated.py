"""Iteration-level simulation of disaggregated serving: a pool of prefill engines, the KV transfer, a pool of
decode engines.

- Prefill: prompts queue in arrival order for the first free prefill engine; each of its attention-DP ranks
  takes as many as its batch limit and token budget per rank allow (at least one) in one iteration; the
  iteration time is the step model's prefill time (the optimizer's prefill role) for the busiest rank's tokens
  on every rank.
- KV transfer: the prompt's KV (ISL x the model's KV bytes per token) crosses the prefill engine's links (the
  NVLink domain when both pools share it, else the NICs) at their sustained bandwidth, plus one link latency.
  The first token reaches the client when the KV lands (TTFT = queue + prefill + transfer, plus the fixed
  latencies of planner.serving.params).
- Decode: requests are assigned round-robin to decode engines; an engine admits arrivals at its next iteration
  boundary (up to its batch limit; the rest wait) and decodes every admitted sequence one token per iteration.
  Stretches without admissions or completions advance in one jump; an arrival inside a stretch cuts it at the
  next iteration boundary.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass

import numpy as np

from planner.engine.tables import DTYPE_BYTES, DTYPE_CODE
from planner.serving.aggregated import Simulated, request_frame
from planner.serving.clients import ClosedLoop, Lengths, OpenLoop
from planner.serving.params import TOKEN_EPS, active_serving_params
from planner.serving.step_times import StepModel

RACK_SCALE_DOMAIN = 36  # chips per NVLink domain from which prefill and decode pools share the scale-up fabric


@dataclass(frozen=True)
class Pools:
    """Prefill and decode pools: their engines' step models and instance counts."""

    prefill: StepModel
    prefill_workers: int
    decode: StepModel
    decode_workers: int

    def kv_transfer_s(self, isl) -> np.ndarray:
        """Seconds to move a prompt's KV from its prefill engine to a decode engine."""
        cfg = self.prefill.cfg
        m, chip = cfg.model, cfg.chip
        kv_bytes = (np.asarray(isl, float) * m.kv_elems_per_token_per_layer * DTYPE_BYTES[DTYPE_CODE[cfg.kv]] * m.num_layers
                    + np.asarray(isl, float) * m.indexer_bytes_per_token  # DSA indexer keys
                    + m.state_bytes_per_sequence  # a linear-attention hybrid's state travels too
                    # DeepSeek-V4: the window's KV (the prompt's last tokens, uncompressed) on every layer
                    + np.minimum(np.asarray(isl, float), m.compressed_attention.window if m.compressed_attention else 0)
                    * m.head_dim * m.num_layers * DTYPE_BYTES[DTYPE_CODE[cfg.kv]])
        if chip.scaleup_domain >= RACK_SCALE_DOMAIN:
            bw = chip.scaleup_gb_s * chip.efficiency.scaleup * 1e9 * cfg.chips
            lat = chip.efficiency.scaleup_latency_us * 1e-6
        else:
            bw = chip.scaleout_gb_s * chip.efficiency.scaleout * 1e9 * cfg.chips
            lat = chip.efficiency.scaleout_latency_us * 1e-6
        return lat + kv_bytes / bw


class _Decoder:
    """One decode engine: its running sequences, arrivals waiting for the next boundary, the current stretch."""

    def __init__(self):
        self.running = np.zeros(0, np.int64)
        self.pending: deque[int] = deque()
        self.t0 = 0.0
        self.dt = 0.0
        self.k = 0
        self.version = 0
        self.busy = False


def simulate_disaggregated(pools: Pools, lengths: Lengths, load: ClosedLoop | OpenLoop, seed: int = 0,
                           max_events: int | None = None, compiled: bool = True) -> Simulated:
    """Serve `load` on the pools; every request is served exactly once. Open loops run the compiled event loop
    (planner.serving.pd_kernel) unless `compiled` is False; closed loops, whose clients send their next request
    as one ends, run the loop below, the reference the compiled one is tested against."""
    rng = np.random.default_rng(seed)
    closed = isinstance(load, ClosedLoop)
    n = load.requests
    arrival = load.arrivals(rng)
    isl, osl = lengths.draw(n, rng)
    transfer = pools.kv_transfer_s(isl)  # the whole prompt's KV moves (a cached prefix included)
    pcfg, dcfg = pools.prefill.cfg, pools.decode.cfg
    new = isl - pcfg.cached_tokens(isl)  # prompt tokens the prefill engine computes
    a = dcfg.tokens_per_step  # tokens per sequence per decode iteration
    max_events = max_events or max(2_000_000, 40 * n)  # a guard against a scheduler bug, not a limit
    if compiled and not closed:
        from planner.serving.pd_kernel import simulate_open_pd  # numba: imported when a simulation runs

        ranks = max(int(pcfg.dp), 1)
        first, end, itl_s, itl_w, finished = simulate_open_pd(
            np.asarray(arrival, float), np.asarray(isl, float), np.asarray(osl, float), np.asarray(new, np.int64),
            np.asarray(transfer, float), int(pools.prefill_workers), ranks, max(pcfg.max_batch // ranks, 1),
            int(pcfg.rank_token_budget), *pools.prefill._axes, pools.prefill._table, float(pools.prefill.isl),
            int(pools.decode_workers), int(dcfg.max_batch), float(a), *pools.decode._axes, pools.decode._table,
            int(max_events))
        if not finished:
            raise RuntimeError(f"simulation did not finish within {max_events} events")
        return _simulated(load, arrival, first, end, isl, osl, itl_s, itl_w)
    generated = np.zeros(n)  # tokens emitted (speculative decoding: a mean, fractional)
    first = np.full(n, np.nan)
    end = np.full(n, np.nan)
    queue: deque[int] = deque()
    prefill_free = list(range(pools.prefill_workers))
    decoders = [_Decoder() for _ in range(pools.decode_workers)]
    rr = 0
    events: list[tuple[float, int, str, int, object]] = []
    seq = 0
    itl_s: list[float] = []
    itl_w: list[float] = []

    def push(t, kind, who, payload=None):
        nonlocal seq
        heapq.heappush(events, (t, seq, kind, who, payload))
        seq += 1

    ranks = max(int(pcfg.dp), 1)
    rank_batch = max(pcfg.max_batch // ranks, 1)
    rank_budget = pcfg.rank_token_budget

    def start_prefill(t):
        while prefill_free and queue:
            w = prefill_free.pop()
            batch, busiest = [], 0
            for _ in range(ranks):  # each attention-DP rank takes prompts up to its batch limit and token budget
                taken, tokens = 0, 0
                while queue and taken < rank_batch and (not taken or tokens + new[queue[0]] <= rank_budget):
                    i = queue.popleft()
                    batch.append(i)
                    taken += 1
                    tokens += int(new[i])
                busiest = max(busiest, tokens)
            # the ranks meet at every MoE exchange: the busiest one sets the pace
            dt = pools.prefill.iteration_one_s(0, pools.prefill.isl, busiest * ranks)
            push(t + dt, "prefilled", w, np.array(batch, np.int64))

    def start_stretch(d: _Decoder, w: int, t: float):
        free = dcfg.max_batch - len(d.running)
        if d.pending and free > 0:
            take = [d.pending.popleft() for _ in range(min(free, len(d.pending)))]
            d.running = np.concatenate([d.running, np.array(take, np.int64)])
        if not len(d.running):
            d.busy = False
            return
        gen = generated[d.running]
        k = max(int(np.ceil((osl[d.running] - gen).min() / a - TOKEN_EPS)), 1)
        ctx = float((isl[d.running] + gen).mean()) + (k - 1) * a / 2.0
        d.dt = pools.decode.iteration_one_s(len(d.running), ctx, 0.0)
        d.t0, d.k, d.busy = t, k, True
        d.version += 1
        push(t + k * d.dt, "boundary", w, d.version)

    def resubmit(finished: np.ndarray, t: float):
        """Closed loop: the clients of `finished` send their next requests now."""
        if closed and len(finished):
            nxt = load.next_requests(finished)
            arrival[nxt] = t
            queue.extend(int(i) for i in nxt)
            start_prefill(t)

    # closed loop: clients that start part-way through their first answer (ClosedLoop.first_progress)
    if closed:
        firsts = load.first_requests()
        progress = load.first_progress(osl[firsts], rng)
        if progress.any():
            for i, g in zip(firsts, progress, strict=True):
                d = decoders[rr]
                if g > 0 and len(d.running) < dcfg.max_batch:
                    generated[i], first[i] = g, 0.0
                    d.running = np.append(d.running, i)
                    rr = (rr + 1) % len(decoders)
                else:
                    queue.append(int(i))
            for w, d in enumerate(decoders):
                if len(d.running):
                    start_stretch(d, w, 0.0)
        else:
            queue.extend(int(i) for i in firsts)
    else:
        for i in range(n):
            push(float(arrival[i]), "arrive", -1, i)
    start_prefill(0.0)
    for _ in range(max_events):
        if not events:
            break
        t, _s, kind, who, payload = heapq.heappop(events)
        if kind == "arrive":
            queue.append(int(payload))
            start_prefill(t)
        elif kind == "prefilled":
            prefill_free.append(who)
            # round-robin destinations; the requests bound for one decoder that land together travel as one event
            if len(payload) == 1:
                push(t + float(transfer[payload[0]]), "kv", rr, payload)
                rr = (rr + 1) % len(decoders)
                start_prefill(t)
                continue
            dest = (rr + np.arange(len(payload))) % len(decoders)
            rr = (rr + len(payload)) % len(decoders)
            lands = t + transfer[payload]
            for w in np.unique(dest):
                mine = dest == w
                for when in np.unique(lands[mine]):
                    push(float(when), "kv", int(w), payload[mine & (lands == when)])
            start_prefill(t)
        elif kind == "kv":
            d = decoders[who]
            first[payload] = t
            generated[payload] = 1
            done_at_once = payload[osl[payload] <= 1]
            end[done_at_once] = t
            resubmit(done_at_once, t)
            d.pending.extend(int(i) for i in payload[osl[payload] > 1])
            if not d.pending:
                continue
            if not d.busy:
                start_stretch(d, who, t)
            else:  # cut the stretch at the next iteration boundary
                done = int((t - d.t0) // d.dt) + 1
                if done < d.k:
                    d.k = done
                    d.version += 1
                    push(d.t0 + done * d.dt, "boundary", who, d.version)
        elif kind == "boundary":
            d = decoders[who]
            if payload != d.version:
                continue
            generated[d.running] += d.k * a
            itl_s.append(d.dt / a)
            itl_w.append(len(d.running) * d.k * a)
            done = generated[d.running] >= osl[d.running] - TOKEN_EPS
            finished = d.running[done]
            d.running = d.running[~done]
            end[finished] = t
            resubmit(finished, t)
            start_stretch(d, who, t)
    else:
        raise RuntimeError(f"simulation did not finish within {max_events} events")
    return _simulated(load, arrival, first, end, isl, osl, np.array(itl_s), np.array(itl_w, float))


def _simulated(load, arrival, first, end, isl, osl, itl_s, itl_w) -> Simulated:
    """The per-request table, with the first-token latencies outside the engines."""
    makespan = float(np.nanmax(end)) if np.isfinite(end).any() else 0.0
    sp = active_serving_params()
    latency = sp.request_s + sp.disagg_handoff_s
    return Simulated(request_frame(arrival, first, end, isl, osl, load.measured(), latency), itl_s, itl_w, makespan)
