"""An aggregated pool behind a router (planner.serving.pool) against closed forms and the one-engine simulator:
one engine behind any router is `simulate_aggregated` exactly; one-slot engines with deterministic service behind a
random router are M/D/1 queues; least outstanding requests lies between the central-queue M/D/c bound and random
routing, power of two choices between least outstanding and random; round robin simulated jointly agrees with the
fleet simulator's shortcut (one engine fed Erlang-n gaps); every request is served once; the seed decides."""

from __future__ import annotations

import numpy as np
import pytest

from planner.errors import PlannerError
from planner.inputs.chips import load_catalog
from planner.inputs.models import load_model
from planner.optimize.queueing import wait_quantile_s
from planner.serving.aggregated import simulate_aggregated
from planner.serving.clients import Lengths, OpenLoop
from planner.serving.params import SERVING_PARAMS, using_serving_params
from planner.serving.pool import POOL_ROUTERS, simulate_aggregated_pool
from planner.serving.step_times import EngineConfig, StepModel

ISL = 1024


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


@pytest.fixture(scope="module")
def batched(cat) -> StepModel:
    cfg = EngineConfig(model=load_model("llama-3.1-8b"), chip=cat["h100-sxm"], weights="fp8", kv="fp8", max_batch=8)
    return StepModel(cfg, 2048, 256, max_decode=8, max_prefill_tokens=8192)


@pytest.fixture(scope="module")
def one_slot(cat) -> StepModel:
    """osl = 1, one sequence at a time: each request is one deterministic prefill, served in arrival order."""
    cfg = EngineConfig(model=load_model("llama-3.1-8b"), chip=cat["h100-sxm"], weights="fp8", kv="fp8",
                       framework="sglang", max_batch=1)
    return StepModel(cfg, ISL, 1, max_decode=1, max_prefill_tokens=ISL)


@pytest.mark.parametrize("router", POOL_ROUTERS)
def test_one_engine_behind_any_router_is_the_single_engine_simulation(batched, router):
    lens, load = Lengths(2048, 256, osl_cv=0.5), OpenLoop(3.0, requests=600)
    one = simulate_aggregated(batched, lens, load, seed=3).requests
    pool = simulate_aggregated_pool(batched, 1, lens, load, router=router, seed=3).requests
    np.testing.assert_array_equal(one["first_token_s"], pool["first_token_s"])
    np.testing.assert_array_equal(one["end_s"], pool["end_s"])


@pytest.fixture(scope="module")
def waits(one_slot):
    """Waits (in service times S) of 4 one-slot engines at utilization 0.7 behind each router."""
    s = one_slot.iteration_one_s(0, ISL, ISL)
    out = {}
    with using_serving_params(SERVING_PARAMS.replace(request_s=0.0)):
        for router in POOL_ROUTERS:
            sim = simulate_aggregated_pool(one_slot, 4, Lengths(ISL, 1), OpenLoop(4 * 0.7 / s, requests=24000),
                                           router=router, seed=5)
            r = sim.requests[sim.requests["measured"]]
            out[router] = (r["ttft_ms"].to_numpy() / 1e3 - s) / s
        # round robin, longer runs (waits are autocorrelated): jointly, and one engine fed every 4th arrival
        joint = simulate_aggregated_pool(one_slot, 4, Lengths(ISL, 1), OpenLoop(4 * 0.7 / s, requests=48000),
                                         router="round-robin", seed=6)
        shortcut = simulate_aggregated(one_slot, Lengths(ISL, 1), OpenLoop(0.7 / s, requests=24000, arrival_cv=0.5),
                                       seed=6)
    for name, sim in (("rr_joint", joint), ("rr_shortcut", shortcut)):
        out[name] = (sim.requests.loc[sim.requests["measured"], "ttft_ms"].to_numpy() / 1e3 - s) / s
    return out


def test_a_random_router_over_one_slot_engines_gives_md1_queues(waits):
    rho = 0.7
    assert waits["random"].mean() == pytest.approx(rho / (2 * (1 - rho)), rel=0.08)


def test_load_aware_routers_sit_between_the_central_queue_and_random_routing(waits):
    """A central FIFO queue over the 4 engines (M/D/c) is the best any router can do; routing on outstanding
    requests comes close to it, and far below random routing; two random choices sit in between."""
    mdc_p90 = float(wait_quantile_s(1.0, 4, 0.7, 90, scv=0.0))
    jsq, p2c, rnd = waits["least-outstanding"], waits["power-of-two"], waits["random"]
    assert np.percentile(jsq, 90) >= 0.95 * mdc_p90
    assert jsq.mean() < p2c.mean() < rnd.mean()
    assert jsq.mean() < 0.35 * rnd.mean()


def test_round_robin_simulated_jointly_matches_the_fleet_shortcut(waits):
    """planner simulate's round robin runs one engine fed every n-th arrival (Erlang-n gaps: cv 1/sqrt(n))."""
    assert waits["rr_joint"].mean() == pytest.approx(waits["rr_shortcut"].mean(), rel=0.08)
    assert np.percentile(waits["rr_joint"], 90) == pytest.approx(np.percentile(waits["rr_shortcut"], 90), rel=0.08)


@pytest.mark.parametrize("router", POOL_ROUTERS)
def test_every_request_is_served_once_and_the_seed_decides(batched, router):
    lens, load = Lengths(2048, 256, osl_cv=0.8), OpenLoop(9.0, requests=500)
    a = simulate_aggregated_pool(batched, 3, lens, load, router=router, seed=11)
    r = a.requests
    assert r["end_s"].notna().all() and (r["first_token_s"] <= r["end_s"]).all()
    assert (r["first_token_s"] > r["arrival_s"]).all()
    counts = np.bincount(r["engine"], minlength=3)
    assert counts.sum() == 500 and (counts > 0).all()
    if router == "round-robin":
        assert counts.max() - counts.min() <= 1
    b = simulate_aggregated_pool(batched, 3, lens, load, router=router, seed=11)
    np.testing.assert_array_equal(r["end_s"], b.requests["end_s"])


def test_bad_router_or_pool_is_refused(batched):
    with pytest.raises(PlannerError, match="router"):
        simulate_aggregated_pool(batched, 2, Lengths(2048, 256), OpenLoop(1.0, requests=10), router="fastest")
    with pytest.raises(PlannerError, match="instance"):
        simulate_aggregated_pool(batched, 0, Lengths(2048, 256), OpenLoop(1.0, requests=10))
