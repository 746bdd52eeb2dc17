"""Iteration-level simulation of one continuous-batching engine that does prefill and decode (aggregated serving).

Every iteration carries the decoding sequences and, when prompts wait and a sequence slot is free, prefill work
under the iteration's token budget, in arrival order (a prompt longer than what is left of the budget is chunked
across iterations):

- `mixed` (TensorRT-LLM in-flight batching, vLLM V1): one iteration holds every decoding sequence plus prompt
  chunks up to the budget less the decode tokens; decodes never pause;
- `prefill-first` (SGLang's default): while prompts wait, iterations prefill only (up to the budget) and decodes
  pause; otherwise an iteration decodes.

A prompt's first token comes at the end of the iteration that finishes its prefill; it then decodes one token per
iteration until its answer is complete, and frees its slot. Stretches of pure decode in which nothing arrives or
finishes are advanced in one jump (their iteration time taken at the stretch's middle context), so a simulation
costs a step per event, not per token. Iteration times come from planner.serving.step_times.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner.serving.clients import ClosedLoop, Lengths, OpenLoop
from planner.serving.params import active_serving_params
from planner.serving.step_times import StepModel


@dataclass
class Simulated:
    """Per-request times (seconds) and the iterations' durations weighted by the tokens they emitted (ITL)."""

    requests: pd.DataFrame  # arrival_s, first_token_s, end_s, isl, osl, measured; ttft_ms, tpot_ms, e2e_ms
    itl_s: np.ndarray  # iteration durations seen by decoding sequences
    itl_weight: np.ndarray  # decode tokens emitted at that duration
    makespan_s: float

    def summary(self) -> dict:
        """Percentiles (p50, p90, p99) of TTFT, TPOT, end-to-end and inter-token latency; throughput."""
        r = self.requests[self.requests["measured"]]
        out: dict = {"requests": int(len(r))}
        for col in ("ttft_ms", "tpot_ms", "e2e_ms"):
            v = r[col].dropna().to_numpy()
            for q in (50, 90, 99):
                out[f"{col}_p{q}"] = float(np.percentile(v, q)) if len(v) else float("nan")
        for q in (50, 90, 99):
            out[f"itl_ms_p{q}"] = weighted_quantile(self.itl_s * 1e3, self.itl_weight, q / 100)
        span = (r["end_s"].max() - r["arrival_s"].min()) if len(r) else float("nan")
        out["throughput_rps"] = float(len(r) / span) if span and span > 0 else float("nan")
        out["output_tok_s"] = float(r["osl"].sum() / span) if span and span > 0 else float("nan")
        return out


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The q-quantile of values under weights (the smallest value whose cumulative weight reaches q)."""
    return float(weighted_quantiles(values, weights, [q])[0])


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs) -> np.ndarray:
    """weighted_quantile at several q with one sort (a simulated hour of a fleet is ~10 million requests)."""
    qs = np.asarray(qs, float)
    if len(values) == 0 or weights.sum() <= 0:
        return np.full(len(qs), np.nan)
    if np.all(weights == weights[0]):  # equal weights: the ceil(q n)-th smallest, found without a full sort
        at = np.clip(np.ceil(qs * len(values) - 1e-9).astype(np.int64) - 1, 0, len(values) - 1)
        return np.partition(values, at)[at].astype(float)
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    at = np.minimum(np.searchsorted(cum, qs * cum[-1]), len(values) - 1)
    return values[order][at].astype(float)


def request_frame(arrival, first, end, isl, osl, measured, latency_s: float = 0.0) -> pd.DataFrame:
    """Per-request table; `latency_s` (outside the engine) delays every request's first token and end."""
    arrival = np.asarray(arrival, float)
    first, end = np.asarray(first, float) + latency_s, np.asarray(end, float) + latency_s
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(np.asarray(osl) > 1, (end - first) / (np.asarray(osl) - 1) * 1e3, np.nan)
    # columns kept apart (copy=False): a simulated hour of a fleet is ~10^7 rows
    return pd.DataFrame({"arrival_s": arrival, "first_token_s": first, "end_s": end, "isl": isl, "osl": osl,
                         "measured": measured, "ttft_ms": (first - arrival) * 1e3, "tpot_ms": tpot,
                         "e2e_ms": (end - arrival) * 1e3}, copy=False)


class AggregatedEngine:
    """One engine's scheduler state over shared per-request arrays (prompt progress, tokens generated, first-token
    times): its waiting prompts, its running sequences and its clock. `step` runs one iteration, or one stretch of
    pure decode cut at the next arrival, and returns the requests it finished. With speculative decoding a decode
    iteration emits the mean accepted tokens per sequence (a fraction; the inter-token latencies recorded are the
    mean cadence, iteration / tokens per iteration, not the lumpy per-token gaps)."""

    def __init__(self, step: StepModel, isl: np.ndarray, osl: np.ndarray, prefilled: np.ndarray,
                 generated: np.ndarray, first: np.ndarray):
        self.model, self.cfg = step, step.cfg
        self.isl, self.osl, self.prefilled, self.generated, self.first = isl, osl, prefilled, generated, first
        self.a = step.cfg.tokens_per_step  # tokens per sequence per decode iteration (speculative: > 1, mean)
        self.queue: deque[int] = deque()
        self.running = np.zeros(0, np.int64)
        self.t = 0.0
        self.itl_s: list[float] = []
        self.itl_w: list[float] = []

    @property
    def idle(self) -> bool:
        return not self.queue and not len(self.running)

    def step(self, next_arrival_s: float = np.inf) -> np.ndarray | None:
        """Advance by one iteration (or a decode stretch ending at the first iteration boundary at or after
        `next_arrival_s`); the requests finished at its end (self.t), or None when there is nothing to run."""
        cfg, step, isl, osl = self.cfg, self.model, self.isl, self.osl
        prefilled, generated, running, queue = self.prefilled, self.generated, self.running, self.queue
        free = cfg.max_batch - len(running)
        heads, chunk = np.zeros(0, np.int64), np.zeros(0, np.int64)
        decode_n = len(running) if cfg.scheduling == "mixed" else 0
        if queue and free > 0:  # KV capacity: every admitted sequence reserves isl + osl tokens
            heads = np.fromiter(itertools.islice(queue, min(free, len(queue))), np.int64)
            held = float(np.sum(isl[running] + osl[running]))
            admit = int(np.searchsorted(np.cumsum(isl[heads] + osl[heads]), step.kv_capacity_tokens - held,
                                        side="right"))
            if admit == 0 and not len(running):
                admit = 1  # a sequence larger than the KV space still runs alone (the engine would reject it)
            heads = heads[:admit]
            if len(heads):
                budget = cfg.token_budget
                chunk = _prefill_chunks(isl[heads] - prefilled[heads], budget - decode_n, budget, cfg.chunking,
                                        alone_ok=decode_n == 0 or not len(running))
        if chunk.sum() > 0:  # an iteration with prefill work (and, mixed, every decode)
            ctx = float(np.mean(isl[running] + generated[running])) if decode_n else float(step.isl)
            dt = step.iteration_one_s(decode_n, ctx, float(chunk.sum()))
            self.t += dt
            if decode_n:
                generated[running] += self.a
                self.itl_s.append(dt / self.a)
                self.itl_w.append(decode_n * self.a)
            prefilled[heads] += chunk
            done_pre = heads[prefilled[heads] >= isl[heads]]
            for _k in range(len(done_pre)):
                queue.popleft()
            self.first[done_pre] = self.t
            generated[done_pre] = 1
            self.running, finished = _finish(np.concatenate([running, done_pre]), generated, osl)
            return finished
        if not len(running):
            return None
        a = self.a
        k = max(int(np.ceil(np.min(osl[running] - generated[running]) / a)), 1)  # iterations to the next finish
        d = len(running)
        ctx0 = float(np.mean(isl[running] + generated[running]))
        if np.isfinite(next_arrival_s):
            dt0 = step.iteration_one_s(d, ctx0, 0.0)
            k = max(1, min(k, int(np.ceil((next_arrival_s - self.t) / dt0))))
        dt = step.iteration_one_s(d, ctx0 + (k - 1) * a / 2.0, 0.0)
        self.t += k * dt
        generated[running] += k * a
        self.itl_s.append(dt / a)
        self.itl_w.append(d * k * a)
        self.running, finished = _finish(running, generated, osl)
        return finished


def simulate_aggregated(step: StepModel, lengths: Lengths, load: ClosedLoop | OpenLoop, seed: int = 0,
                        max_events: int | None = None) -> Simulated:
    """Serve `load` on one engine; every request is served exactly once."""
    cfg = step.cfg
    rng = np.random.default_rng(seed)
    n = load.requests
    arrival = load.arrivals(rng)
    open_loop = isinstance(load, OpenLoop)
    isl, osl = lengths.draw(n, rng)
    first, end = np.full(n, np.nan), np.full(n, np.nan)
    eng = AggregatedEngine(step, isl, osl, cfg.cached_tokens(isl), np.zeros(n), first)  # cached: not prefilled
    if isinstance(load, ClosedLoop):
        firsts = load.first_requests()
        progress = load.first_progress(osl[firsts], rng)
        if progress.any():  # clients that start part-way through their first answer
            started = firsts[(progress > 0)][: cfg.max_batch]
            eng.prefilled[started] = isl[started]
            eng.generated[started] = progress[(progress > 0)][: cfg.max_batch]
            first[started] = 0.0
            eng.running = started
            firsts = np.setdiff1d(firsts, started)
        eng.queue.extend(int(i) for i in firsts)
    next_arrival = 0  # open loop: index of the next request not yet arrived
    max_events = max_events or max(2_000_000, 40 * n)  # a guard against a scheduler bug, not a limit
    for _ in range(max_events):
        if open_loop:
            while next_arrival < n and arrival[next_arrival] <= eng.t:
                eng.queue.append(next_arrival)
                next_arrival += 1
        finished = eng.step(float(arrival[next_arrival]) if open_loop and next_arrival < n else np.inf)
        if finished is None:
            if open_loop and next_arrival < n:
                eng.t = max(eng.t, float(arrival[next_arrival]))
                continue
            break
        if len(finished):
            end[finished] = eng.t
            if isinstance(load, ClosedLoop):  # each client sends its next request now
                nxt = np.sort(load.next_requests(finished))
                arrival[nxt] = eng.t
                eng.queue.extend(int(i) for i in nxt)
    else:
        raise RuntimeError(f"simulation did not finish within {max_events} events")
    latency = active_serving_params().request_s
    frame = request_frame(arrival, first, end, isl, osl, load.measured(), latency)
    return Simulated(frame, np.array(eng.itl_s), np.array(eng.itl_w, float), eng.t)


def _prefill_chunks(rem: np.ndarray, room: int, budget: int, chunking: bool, alone_ok: bool) -> np.ndarray:
    """Prefill tokens each waiting prompt (in arrival order, `rem` tokens left) gets in this iteration: the room
    left in the token budget, filled in order (chunking: the last prompt may get part of its tokens; without
    chunking whole prompts only). A prompt longer than the whole budget runs alone when nothing else can."""
    room = max(int(room), 0)
    before = np.cumsum(rem) - rem
    if chunking:
        chunk = np.clip(room - before, 0, rem)
    else:
        chunk = np.where(np.cumprod(before + rem <= room).astype(bool), rem, 0)
    if chunk.sum() <= 0 and len(rem) and (alone_ok or rem[0] > budget):
        chunk = np.zeros_like(rem)
        chunk[0] = rem[0] if not chunking else min(rem[0], max(budget, 1))
    return chunk


def _finish(running: np.ndarray, generated: np.ndarray, osl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split the running set into those still decoding and those whose answer is complete."""
    done = generated[running] >= osl[running]
    return running[~done], running[done]
