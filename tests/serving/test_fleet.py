"""Simulating a planned fleet (planner.serving.fleet, `planner simulate`): closed forms at light load,
conservation, determinism, the output keys, and clear refusals for plans it cannot simulate yet."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from planner.cli import main
from planner.errors import PlannerError
from planner.inputs.scenario import validate_scenario
from planner.serving.fleet import _config, _with_shared_partner, simulate_fleet
from planner.serving.params import SERVING_PARAMS
from planner.serving.step_times import StepModel

BASE = {"name": "fleet", "model": "llama-3.1-8b", "precision": {"weights": "fp8"},
        "workload": {"arrival_rate_rps": 0.2, "isl": 1024, "osl": 128}, "slo": {"ttft_ms": 2000, "tpot_ms": 40},
        "chips": [{"id": "h100-sxm"}], "margin": 0.0}


def _pool(role, n, load, batch=16, chip="h100-sxm"):
    return {"role": role, "chip": chip, "instances": n, "tp": 1, "ep": 1, "pp": 1, "dp": 1, "batch": batch,
            "load_rps": load, "spec_tokens": 0}


def test_a_lightly_loaded_engine_shows_its_own_step_times():
    """At 0.2 requests/s on one engine nothing queues: TTFT = one prefill iteration + the first-token latency,
    TPOT = the batch-1 decode step (hand-checked against the step model)."""
    from planner.serving.fleet import _config

    sc = validate_scenario(BASE)
    pools = pd.DataFrame([_pool("aggregated", 1, 0.2)])
    sim = simulate_fleet(sc, pools, requests=300)
    step = StepModel(_config(sc, pools.iloc[0]), 1024, 128, max_decode=16, max_prefill_tokens=8192)
    prefill = step.iteration_one_s(0, 1024, 1024) + SERVING_PARAMS.request_s
    assert sim.summary["ttft_ms_p50"] == pytest.approx(prefill * 1e3, rel=0.02)
    assert sim.summary["tpot_ms_p50"] == pytest.approx(step.iteration_one_s(1, 1024 + 64, 0.0) * 1e3, rel=0.05)
    assert sim.summary["slo_attainment"] == 1.0 and sim.summary["goodput_rps"] == pytest.approx(0.2)


def test_every_request_is_served_and_the_seed_decides():
    sc = validate_scenario({**BASE, "workload": {**BASE["workload"], "arrival_rate_rps": 8}})
    pools = pd.DataFrame([_pool("aggregated", 2, 5.0), _pool("prefill", 1, 3.0, batch=1), _pool("decode", 1, 3.0)])
    a = simulate_fleet(sc, pools, requests=1000, seed=1)
    b = simulate_fleet(sc, pools, requests=1000, seed=1)
    c = simulate_fleet(sc, pools, requests=1000, seed=2)
    assert a.summary == b.summary and a.summary != c.summary
    assert a.requests["ttft_ms"].notna().all() and (a.requests["ttft_ms"] > 0).all()
    assert a.summary["requests"] == a.groups["requests"].sum() == len(a.requests)
    assert a.groups["rate_rps"].tolist() == [5.0, 3.0] and a.summary["rate_rps"] == 8.0


def test_plans_it_cannot_simulate_yet_are_refused():
    sc = validate_scenario(BASE)
    with pytest.raises(PlannerError, match="router"):
        simulate_fleet(sc, pd.DataFrame([_pool("aggregated", 1, 1.0)]), router="fastest")
    with pytest.raises(PlannerError, match="expert"):
        simulate_fleet(sc, pd.DataFrame([_pool("expert", 1, 1.0)]))


def test_prefill_and_decode_pools_shared_by_classes_serve_their_mixed_stream():
    """One prefill and one decode pool shared by two classes: every request is served once with its own class's
    lengths, in the classes' shares, through the one prefill queue; each class is scored against its own SLO."""
    classes = [{"name": "chat", "arrival_rate_rps": 3, "isl": 1024, "osl": 128, "slo": {"ttft_ms": 800, "tpot_ms": 40}},
               {"name": "docs", "arrival_rate_rps": 1, "isl": 4096, "osl": 64, "slo": {"ttft_ms": 3000, "tpot_ms": 40}}]
    sc = validate_scenario({**{k: v for k, v in BASE.items() if k not in ("workload", "slo")}, "classes": classes})
    loads = {"load_rps__chat": 3.0, "load_rps__docs": 1.0}
    pools = pd.DataFrame([{**_pool("prefill", 2, 4.0), "class": "chat+docs", **loads},
                          {**_pool("decode", 1, 4.0, batch=64), "class": "chat+docs", **loads}])
    sim = simulate_fleet(sc, pools, requests=2000, seed=3)
    req = sim.requests
    for name, isl in (("chat", 1024), ("docs", 4096)):
        mine = req[req["class"] == name]
        assert (mine["isl"] == isl).all() and mine["ttft_ms"].notna().all() and mine["e2e_ms"].notna().all()
    assert (req["class"] == "chat").mean() == pytest.approx(0.75, abs=0.03)
    per = sim.summary["classes"]
    assert per["chat"]["slo"]["ttft_ms"] == 800 and per["docs"]["rate_rps"] == 1
    assert "P/D shared" in sim.groups["group"].iloc[0]
    # the docs prompts take the prefill engines longer than the chat ones
    assert per["docs"]["ttft_ms_p50"] > per["chat"]["ttft_ms_p50"]


def test_attention_ffn_pools_run_at_their_cadence():
    """afd-step3 (attention/FFN disaggregation): the prefill pool hands each prompt's KV to the attention pool,
    whose instances iterate at their planned cadence whatever their batch; a request's TPOT is that cadence
    plus its wait to join (the next boundary, or a free slot when all are taken, spread over its answer), its
    TTFT the prefill pool's queue and the handoff; the plan holds."""
    from pathlib import Path

    from planner.inputs.scenario import load_scenario
    from planner.optimize.solve import solve_scenario

    sc = load_scenario(Path(__file__).resolve().parents[2] / "scenarios" / "afd-step3.yaml")
    plan = solve_scenario(sc)
    att = plan.pools[plan.pools["role"] == "attention"]
    assert len(att) == 1 and (plan.pools["role"] == "ffn").any()
    cadence = float(att["tpot_ms"].iloc[0])
    sim = simulate_fleet(sc, plan.pools, requests=2000, seed=2)
    tpot = sim.requests["tpot_ms"].to_numpy()
    osl = sc.workload.osl
    assert tpot.min() >= cadence * (1 - 1e-9)
    one_boundary = cadence * osl / (osl - 1) * (1 + 1e-9)  # joined at the next boundary: at most one cadence late
    assert np.median(tpot) <= one_boundary and (tpot <= one_boundary).mean() > 0.5
    assert sim.summary["meets_ttft_slo"] and sim.summary["meets_tpot_slo"]
    assert "attention" in sim.groups["group"].iloc[0]


def test_a_prefix_cache_prefills_only_the_new_tokens():
    """prefix_hit_rate 0.75 on 4,096-token prompts: at light load TTFT is one prefill iteration of the 1,024 new
    tokens (priced with the cached context, as the optimizer's engine does) plus the first-token latency; the
    resident prefix cache takes its tokens off the KV capacity."""
    wl = {**BASE["workload"], "isl": 4096, "prefix_hit_rate": 0.75, "prefix_cache_tokens": 50_000}
    sc = validate_scenario({**BASE, "workload": wl})
    pools = pd.DataFrame([_pool("aggregated", 1, 0.2)])
    cfg = _config(sc, pools.iloc[0])
    assert cfg.prefix_hit == 0.75 and int(cfg.cached_tokens(4096)) == 3072
    step = StepModel(cfg, 4096, 128, max_decode=16, max_prefill_tokens=8192)
    plain = StepModel(dataclasses.replace(cfg, prefix_hit=0.0, prefix_cache_tokens=0.0), 4096, 128, max_decode=16,
                      max_prefill_tokens=8192)
    assert plain.kv_capacity_tokens - step.kv_capacity_tokens == pytest.approx(50_000)
    sim = simulate_fleet(sc, pools, requests=300)
    expected = (step.iteration_one_s(0, 4096, 1024) + SERVING_PARAMS.request_s) * 1e3
    assert sim.summary["ttft_ms_p50"] == pytest.approx(expected, rel=0.02)
    assert step.iteration_one_s(0, 4096, 1024) < plain.iteration_one_s(0, 4096, 4096) / 2


def test_traffic_classes_are_simulated_each_on_its_pools_against_its_slos():
    """Two classes on dedicated pools: each class's figures are those of its own one-class scenario on its pools
    (same seed), the fleet's attainment is their rate-weighted mean; pools shared by classes and traces are
    refused by name."""
    sc = validate_scenario({**{k: v for k, v in BASE.items() if k not in ("workload", "slo")},
                            "classes": [{"name": "chat", "arrival_rate_rps": 3, "isl": 1024, "osl": 128,
                                         "slo": {"ttft_ms": 500, "tpot_ms": 40}},
                                        {"name": "docs", "arrival_rate_rps": 1, "isl": 4096, "osl": 64,
                                         "slo": {"ttft_ms": 2000, "tpot_ms": 40}}]})
    pools = pd.DataFrame([{**_pool("aggregated", 1, 3.0), "class": "chat"},
                          {**_pool("aggregated", 1, 1.0), "class": "docs"}])
    sim = simulate_fleet(sc, pools, requests=800)
    per = sim.summary["classes"]
    assert set(per) == {"chat", "docs"} and per["docs"]["slo"]["ttft_ms"] == 2000
    alone = dict(sc.class_scenarios())["chat"]
    one = simulate_fleet(alone, pools[pools["class"] == "chat"].reset_index(drop=True), requests=600).summary
    assert per["chat"]["ttft_ms_p90"] == one["ttft_ms_p90"] and per["chat"]["tpot_ms_p50"] == one["tpot_ms_p50"]
    weighted = (3 * per["chat"]["slo_attainment"] + per["docs"]["slo_attainment"]) / 4
    assert sim.summary["slo_attainment"] == pytest.approx(weighted)
    assert sim.summary["meets_ttft_slo"] == (per["chat"]["meets_ttft_slo"] and per["docs"]["meets_ttft_slo"])
    with pytest.raises(PlannerError, match="simulated as one prefill and one decode pool"):
        simulate_fleet(sc, pd.DataFrame([{**_pool("prefill", 1, 2.0), "class": "chat+docs", "load_rps__chat": 1.5,
                                          "load_rps__docs": 0.5} for _ in range(2)]
                                        + [{**_pool("decode", 1, 4.0), "class": "chat+docs"}]))
    with pytest.raises(PlannerError, match="trace"):
        simulate_fleet(sc, pools, trace=pd.DataFrame({"arrival_s": [0.0, 1.0], "isl": [10, 10], "osl": [5, 5]}))


def test_an_aggregated_pool_shared_by_classes_serves_their_mixed_stream():
    """One pool shared by a chat class and a long-prompt class: every request is served once with its own class's
    lengths, in the classes' shares; each class is scored against its own SLO; the long prompts queue the chat
    prompts behind them, so chat's TTFT on the shared pool is above chat's on the same engine alone."""
    classes = [{"name": "chat", "arrival_rate_rps": 2, "isl": 1024, "osl": 128, "slo": {"ttft_ms": 500, "tpot_ms": 40}},
               {"name": "docs", "arrival_rate_rps": 1, "isl": 8192, "osl": 64, "slo": {"ttft_ms": 3000, "tpot_ms": 40}}]
    sc = validate_scenario({**{k: v for k, v in BASE.items() if k not in ("workload", "slo")}, "classes": classes})
    shared = pd.DataFrame([{**_pool("aggregated", 2, 3.0), "class": "chat+docs", "load_rps__chat": 2.0,
                            "load_rps__docs": 1.0}])
    sim = simulate_fleet(sc, shared, requests=3000, seed=4)
    req = sim.requests
    for name, isl in (("chat", 1024), ("docs", 8192)):
        mine = req[req["class"] == name]
        assert (mine["isl"] == isl).all() and mine["ttft_ms"].notna().all() and mine["e2e_ms"].notna().all()
    assert (req["class"] == "chat").mean() == pytest.approx(2 / 3, abs=0.03)
    per = sim.summary["classes"]
    assert per["docs"]["slo"]["ttft_ms"] == 3000 and per["chat"]["rate_rps"] == 2
    assert sim.summary["slo_attainment"] == pytest.approx((2 * per["chat"]["slo_attainment"]
                                                           + per["docs"]["slo_attainment"]) / 3)
    alone = dict(sc.class_scenarios())["chat"]
    chat_alone = simulate_fleet(alone, pd.DataFrame([_pool("aggregated", 2, 2.0)]), requests=2000, seed=4).summary
    assert per["chat"]["ttft_ms_p90"] > chat_alone["ttft_ms_p90"]


def test_speculative_pools_run_with_the_scenarios_acceptance():
    """A decode pool with MTP heads (gamma 2, acceptance 0.8 falling per position as planned) emits
    tokens_per_step tokens per iteration: at light load its TPOT is the engine's speculative iteration over
    them, below the same pool's without speculation."""
    from planner.axes.speculative import DEFAULT_DECAY, tokens_per_step

    sc = validate_scenario({**BASE, "model": "deepseek-v3", "workload": {**BASE["workload"], "arrival_rate_rps": 0.5},
                            "speculative": {"method": "mtp", "acceptance": 0.8, "gamma": [2]}})
    pools = pd.DataFrame([_pool("prefill", 1, 0.5, batch=1), {**_pool("decode", 1, 0.5, batch=16), "spec_tokens": 2}])
    pools[["tp", "ep"]] = 8
    spec = simulate_fleet(sc, pools, requests=300).summary
    plain = simulate_fleet(sc, pools.assign(spec_tokens=0), requests=300).summary
    accept = float(tokens_per_step(0.8, 2, DEFAULT_DECAY["mtp"]))
    assert 2.0 < accept < 2.6
    cfg = _config(sc, pools.iloc[1])
    assert (cfg.spec_tokens, cfg.spec_accept, cfg.draft_model) == (2, pytest.approx(accept), None)
    step = StepModel(cfg, 1024, 128, max_decode=16, max_prefill_tokens=1)
    alone = step.iteration_one_s(1, 1024 + 64, 0.0) / accept * 1e3  # one sequence in flight at 0.5 requests/s
    assert spec["tpot_ms_p50"] == pytest.approx(alone, rel=0.1)
    assert spec["tpot_ms_p50"] < plain["tpot_ms_p50"] / 1.5  # the verify costs more than a step, less than accept x


def test_several_prefill_and_decode_pools_are_simulated_apart():
    """Two identical prefill pools and two identical decode pools, each at half the load, give each request the
    TTFT and TPOT of one prefill pool and one decode pool at that load (the one-of-each plan at half the rate)."""
    sc2 = validate_scenario({**BASE, "workload": {**BASE["workload"], "arrival_rate_rps": 4}})
    sc1 = validate_scenario({**BASE, "workload": {**BASE["workload"], "arrival_rate_rps": 2}})
    two = pd.DataFrame([_pool("prefill", 1, 2.0, batch=1), _pool("prefill", 1, 2.0, batch=1),
                        _pool("decode", 1, 2.0), _pool("decode", 1, 2.0)])
    one = pd.DataFrame([_pool("prefill", 1, 2.0, batch=1), _pool("decode", 1, 2.0)])
    a = simulate_fleet(sc2, two, requests=3000).summary
    b = simulate_fleet(sc1, one, requests=3000).summary
    assert a["rate_rps"] == 4.0 and a["requests"] == 3000
    assert a["ttft_ms_p50"] == pytest.approx(b["ttft_ms_p50"], rel=0.05)
    assert a["tpot_ms_p50"] == pytest.approx(b["tpot_ms_p50"], rel=0.05)


def test_simulate_cli_solves_or_takes_a_saved_plan(tmp_path):
    from planner.paths import SCENARIOS_DIR

    scn = SCENARIOS_DIR / "decode-heavy.yaml"
    r = CliRunner().invoke(main, ["simulate", str(scn), "--format", "json", "--requests", "600"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert {"slo_attainment", "ttft_ms_p90", "tpot_ms_p90", "goodput_rps"} <= set(out)
    plan = tmp_path / "plan.json"
    plan.write_text(CliRunner().invoke(main, ["solve", str(scn), "--format", "json"]).output)
    r2 = CliRunner().invoke(main, ["simulate", str(scn), "--plan", str(plan), "--format", "json", "--requests", "600"])
    assert r2.exit_code == 0, r2.output
    assert json.loads(r2.output)["ttft_ms_p90"] == out["ttft_ms_p90"]  # the same pools, the same seed
    assert "TTFT" in CliRunner().invoke(main, ["simulate", str(scn), "--requests", "300"]).output
    r3 = CliRunner().invoke(main, ["simulate", str(scn), "--plan", str(plan), "--format", "json", "--requests", "600",
                                   "--router", "least-outstanding"])  # decode-heavy has a 2-instance pool
    assert r3.exit_code == 0, r3.output
    assert json.loads(r3.output)["router"] == "least-outstanding"


def test_duration_simulates_each_instance_for_that_long():
    sc = validate_scenario({**BASE, "workload": {**BASE["workload"], "arrival_rate_rps": 8}})
    pools = pd.DataFrame([_pool("aggregated", 4, 8.0)])
    sim = simulate_fleet(sc, pools, duration_s=600)  # one instance at 2 requests/s for 10 minutes
    assert sim.summary["requests"] == int(0.9 * 1200)  # the first 10% are warm-up


def test_round_robin_smooths_what_each_instance_sees():
    """Every 4th request of a Poisson stream arrives with Erlang-4 gaps (cv 1/2): less queueing than the random
    router's Poisson share at the same load."""
    sc = validate_scenario({**BASE, "workload": {**BASE["workload"], "arrival_rate_rps": 24, "isl": 4096}})
    pools = pd.DataFrame([_pool("aggregated", 4, 24.0, batch=16)])
    rand = simulate_fleet(sc, pools, requests=4000, router="random").summary
    rr = simulate_fleet(sc, pools, requests=4000, router="round-robin").summary
    assert rr["router"] == "round-robin"
    assert rr["ttft_ms_p99"] < rand["ttft_ms_p99"] and rr["ttft_ms_p90"] <= rand["ttft_ms_p90"]
    with pytest.raises(PlannerError, match="unknown router"):
        simulate_fleet(sc, pools, router="least-loaded")


def test_load_aware_routers_simulate_the_pool_together():
    """least-outstanding and power-of-two: the pool's 4 engines simulated together on the pool's whole stream
    (planner.serving.pool), every request served, the router named in the summary; on the CLI too."""
    sc = validate_scenario({**BASE, "workload": {**BASE["workload"], "arrival_rate_rps": 24, "isl": 4096}})
    pools = pd.DataFrame([_pool("aggregated", 4, 24.0, batch=16)])
    for router in ("least-outstanding", "power-of-two"):
        sim = simulate_fleet(sc, pools, requests=2000, router=router)
        assert sim.summary["router"] == router
        assert sim.requests["engine"].nunique() == 4  # every engine took requests
        assert sim.requests["end_s"].notna().all()
    rand = simulate_fleet(sc, pools, requests=2000, router="random").summary
    jsq = simulate_fleet(sc, pools, requests=2000, router="least-outstanding").summary
    assert jsq["ttft_ms_p99"] < rand["ttft_ms_p99"]


def test_the_queue_over_time_obeys_littles_law(tmp_path):
    """The timeline's time-average number in the system equals the arrival rate times the mean time in the
    system (Little's law), for the chat example's P/D fleet; the CLI draws it."""
    import numpy as np

    from planner.inputs.scenario import load_scenario
    from planner.optimize.solve import solve_scenario
    from planner.paths import SCENARIOS_DIR

    sc = load_scenario(SCENARIOS_DIR / "llama70b-chat.yaml")
    sim = simulate_fleet(sc, solve_scenario(sc).pools, requests=6000)
    (name,) = sim.groups["group"]
    line = sim.timeline[sim.timeline["group"] == name]
    assert len(line) == 200 and (line["waiting"] <= line["in_flight"]).all() and (line["waiting"] >= 0).all()
    req = sim.requests[sim.requests["group"] == name]
    rate = (len(req) - 1) / float(req["arrival_s"].max() - req["arrival_s"].min())
    assert float(line["in_flight"].mean()) == pytest.approx(rate * req["e2e_ms"].mean() / 1e3, rel=0.08)
    assert float(line["waiting"].mean()) == pytest.approx(rate * req["ttft_ms"].mean() / 1e3, rel=0.15)
    assert np.isclose(sim.groups["in_flight_mean"].iloc[0], line["in_flight"].mean())
    png = tmp_path / "queue.png"
    r = CliRunner().invoke(main, ["simulate", str(SCENARIOS_DIR / "llama70b-chat.yaml"), "--plot", str(png)])
    assert r.exit_code == 0, r.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "waiting" in r.output


def test_a_draft_pool_feeds_the_decode_engine_as_the_optimizer_prices_it():
    """speculative-draft-pool: draft-fed decode pools (level d_j) run the verify step plus the wait for the pool's
    drafts, (gamma + 1/2) tau_j + the draft pass's host time + 2 link latencies (planner.axes.draft_pool); a lone
    request's TPOT grows by exactly that wait over the tokens per step, and the bundled plan simulates."""
    from pathlib import Path

    from planner.inputs.scenario import load_scenario
    from planner.optimize.solve import solve_scenario
    from planner.serving.clients import ClosedLoop, Lengths
    from planner.serving.disaggregated import Pools, simulate_disaggregated

    sc = load_scenario(Path(__file__).resolve().parents[2] / "scenarios" / "speculative-draft-pool.yaml")
    plan = solve_scenario(sc)
    fed = plan.pools[(plan.pools["role"] == "decode") & (plan.pools["draft_level"].astype(str) != "")]
    assert len(fed)
    row = fed.iloc[0]
    cfg = _config(sc, row)
    assert cfg.draft_model is None and cfg.spec_tokens == int(row["spec_tokens"]) and cfg.draft_pool_s > 0
    isl, osl = sc.workload.isl, 64

    def lone_tpot(c):
        step = StepModel(c, isl, osl, max_decode=4, max_prefill_tokens=1)
        pre = StepModel(dataclasses.replace(c, spec_tokens=0, draft_pool_s=0.0), isl, osl, max_decode=1,
                        max_prefill_tokens=isl, prefill_only=True)
        run = simulate_disaggregated(Pools(pre, 1, step, 1), Lengths(isl, osl), ClosedLoop(1)).requests
        return float(run.loc[run["measured"], "tpot_ms"].iloc[0])
    wait = cfg.draft_pool_s
    near_zero = dataclasses.replace(cfg, draft_pool_s=1e-12)
    steps = math.ceil((osl - 1) / cfg.tokens_per_step - 1e-9)  # iterations after the first token
    assert lone_tpot(cfg) - lone_tpot(near_zero) == pytest.approx(steps * wait / (osl - 1) * 1e3, rel=1e-6)
    sim = simulate_fleet(sc, plan.pools, requests=1500)
    assert sim.summary["meets_tpot_slo"] and sim.requests["tpot_ms"].notna().all()


def test_a_class_with_its_own_prefill_and_a_shared_decode_pool_is_simulated_with_that_decode_pool():
    """A plan may give one class a prefill pool of its own while its decode runs in a pool shared with another
    class: the class is simulated with that shared decode pool (at its load), not refused or crashed."""
    pools = pd.DataFrame({"class": ["a+b", "a+b", "b"], "role": ["prefill", "decode", "prefill"], "load_rps": [1.0, 2.0, 1.0]})
    members, roles = pools["class"].str.split("+"), pools["role"]
    mine = _with_shared_partner(pools[pools["class"] == "b"], pools, members, roles, "b")
    assert mine["role"].tolist() == ["prefill", "decode"] and mine["class"].tolist() == ["b", "a+b"]
    own_both = pd.concat([pools, pd.DataFrame({"class": ["b"], "role": ["decode"], "load_rps": [1.0]})],
                         ignore_index=True)
    kept = _with_shared_partner(own_both[own_both["class"] == "b"], own_both, own_both["class"].str.split("+"),
                                own_both["role"], "b")
    assert kept["role"].tolist() == ["prefill", "decode"] and kept["class"].tolist() == ["b", "b"]
