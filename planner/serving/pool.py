"""An aggregated pool of identical engines behind a router, simulated together: every arrival is routed on the
engines' state at its arrival time, so routers that look at load are simulated exactly.

Routers (what llm-d's and Dynamo's routers, SGLang's router and load balancers offer):
- `random`: each request to an engine drawn uniformly;
- `round-robin`: each engine in turn;
- `least-outstanding`: the engine with the fewest requests routed to it and not finished (join the shortest
  queue; ties broken at random);
- `power-of-two`: two engines drawn at random, the one with fewer outstanding requests (Mitzenmacher's power of
  two choices).

Before routing an arrival at time t every engine is advanced to its first iteration boundary at or after t
(an iteration that started before t cannot take the new prompt); its outstanding count counts the requests that
finished by t. Each engine is planner.serving.aggregated's engine, so one engine behind any router is exactly
`simulate_aggregated` under the same arrivals.
"""

from __future__ import annotations

import numpy as np

from planner.errors import PlannerError
from planner.serving.aggregated import AggregatedEngine, Simulated, request_frame
from planner.serving.clients import Lengths, OpenLoop, RecordedLengths
from planner.serving.params import active_serving_params
from planner.serving.step_times import StepModel

POOL_ROUTERS = ("random", "round-robin", "least-outstanding", "power-of-two")


def simulate_aggregated_pool(step: StepModel, instances: int, lengths: Lengths | RecordedLengths, load: OpenLoop,
                             router: str = "least-outstanding", seed: int = 0,
                             max_events: int | None = None) -> Simulated:
    """Serve the open-loop `load` (the pool's whole stream) on `instances` engines behind `router`; every request
    is served once. Returns the pool's requests (with the engine each went to) and its iterations."""
    if router not in POOL_ROUTERS:
        raise PlannerError(f"unknown router {router!r}", field="router", hint=f"one of {', '.join(POOL_ROUTERS)}")
    if instances < 1:
        raise PlannerError("a pool needs at least one instance", field="instances")
    rng = np.random.default_rng(seed)
    n = load.requests
    arrival = load.arrivals(rng)
    isl, osl = lengths.draw(n, rng)
    prefilled, generated = step.cfg.cached_tokens(isl), np.zeros(n)  # a cached prefix is not prefilled
    first, end = np.full(n, np.nan), np.full(n, np.nan)
    engines = [AggregatedEngine(step, isl, osl, prefilled, generated, first) for _ in range(instances)]
    routed = np.zeros(instances, np.int64)  # requests sent to each engine
    done = np.zeros(instances, np.int64)  # requests each engine has finished, its last iteration's included
    last_t = np.zeros(instances)  # end of each engine's last iteration (the only one that may end after now)
    last_n = np.zeros(instances, np.int64)  # requests that iteration finished
    clock = np.zeros(instances)
    engine_of = np.zeros(n, np.int64)
    pick, other = rng.random(n), rng.random(n)  # the router's randomness per request, fixed by the seed
    budget = [max_events or max(2_000_000, 40 * n)]

    def run(e: int, until: float) -> None:
        """Advance engine e to its first iteration boundary at or after `until` (idle: its clock jumps there)."""
        eng = engines[e]
        while eng.t < until:
            finished = eng.step(until)
            budget[0] -= 1
            if budget[0] < 0:
                raise RuntimeError("pool simulation did not finish within its event budget")
            if finished is None:
                eng.t = until if np.isfinite(until) else eng.t
                break
            end[finished] = eng.t
            done[e] += len(finished)
            last_t[e], last_n[e] = eng.t, len(finished)
        clock[e] = eng.t

    for j in range(n):
        t = float(arrival[j])
        for e in np.flatnonzero(clock < t):
            run(int(e), t)
        if router == "random" or instances == 1:
            e = min(int(pick[j] * instances), instances - 1)
        elif router == "round-robin":
            e = j % instances
        else:
            outstanding = routed - done + np.where(last_t > t, last_n, 0)
            if router == "least-outstanding":
                best = np.flatnonzero(outstanding == outstanding.min())
                e = int(best[min(int(pick[j] * len(best)), len(best) - 1)])
            else:  # power of two choices
                a = min(int(pick[j] * instances), instances - 1)
                b = (a + 1 + min(int(other[j] * (instances - 1)), instances - 2)) % instances  # another engine
                e = a if outstanding[a] <= outstanding[b] else b
        routed[e] += 1
        engine_of[j] = e
        engines[e].queue.append(j)
    for e in range(instances):
        run(e, np.inf)
    latency = active_serving_params().request_s
    frame = request_frame(arrival, first, end, isl, osl, load.measured(), latency)
    frame["engine"] = engine_of
    itl_s = np.concatenate([np.asarray(x.itl_s, float) for x in engines])
    itl_w = np.concatenate([np.asarray(x.itl_w, float) for x in engines])
    return Simulated(frame, itl_s, itl_w, max(x.t for x in engines))


__all__ = ["POOL_ROUTERS", "simulate_aggregated_pool"]
