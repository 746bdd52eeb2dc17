"""Simulate a planned fleet under open-loop traffic with the serving model: does the plan keep its promise?

A plan (the pools `planner solve` returns) carries each pool's instances and its load. Requests arrive as a
renewal process at the scenario's rate (Poisson, or bursty with a coefficient of variation); the router spreads
them over a pool's instances. At random (Poisson thinning) or round robin (every n-th request) each instance's
arrivals do not depend on the others, so one instance, fed its share of the traffic, stands for the pool; routers
that look at the instances' load (least outstanding requests, power of two choices) need the pool's engines
simulated together (planner.serving.pool). Aggregated pools are simulated engine by engine (planner.serving.aggregated); the
P/D part as its prefill and decode pools with their instance counts (planner.serving.disaggregated): together
when there is one of each, else each pool at its load (`_pools_apart`).
Requests are simulated per pool in proportion to its load and pooled for the fleet's percentiles
(planner.serving.fleet_summary).

Speculative decoding (MTP heads, a co-located draft model, or a draft pool: `_draft_wait_s`) runs as the
optimizer prices it: the verify step of 1 + gamma tokens (and the draft's steps, or the wait for the pool's
drafts), emitting the mean accepted tokens per sequence per iteration. A prefix cache prefills only each prompt's
new tokens; traffic classes are simulated each on its own pools, and pools shared by classes on their mixed
stream (`_simulate_classes`, `_shared_pool`, `_shared_pd`). Attention/FFN pools run as P/D with the attention
instances at their planned cadence (`_pd_step`). Plans this does not simulate yet (several prefill or decode pools
shared by the same classes) raise PlannerError saying so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.axes import draft_pool
from planner.axes.speculative import scenario_acceptance, tokens_per_step
from planner.engine.candidates import DECODE_BATCHES_PER_RANK
from planner.engine.tables import FRAMEWORK_CODE, ChipTable
from planner.errors import PlannerError
from planner.inputs.chips import load_catalog
from planner.inputs.models import load_model
from planner.inputs.scenario import Scenario
from planner.inputs.traces import trace_rate_rps
from planner.serving.aggregated import simulate_aggregated
from planner.serving.clients import Lengths, OpenLoop, RecordedLengths, Replay
from planner.serving.disaggregated import Pools, simulate_disaggregated
from planner.serving.fleet_summary import CLASS_KEYS, FleetSimulation, assemble, weighted_stats
from planner.serving.params import active_serving_params
from planner.serving.pool import POOL_ROUTERS, simulate_aggregated_pool
from planner.serving.step_times import EngineConfig, StepModel

ROUTERS = POOL_ROUTERS
LOAD_AWARE = ("least-outstanding", "power-of-two")  # routers whose choice depends on the instances' state
JOINT_REQUESTS_PER_INSTANCE = 60  # at least this many requests per instance when a pool is simulated together


def _config(sc: Scenario, row: pd.Series, catalogs=()) -> EngineConfig:
    """The engine of one pool, with its speculative decoding (the pool's draft length, the scenario's acceptance
    and MTP heads or co-located draft model, as the optimizer priced it)."""
    chip = load_catalog(tuple(catalogs))[str(row["chip"])]
    gamma = int(row.get("spec_tokens", 0) or 0) if str(row["role"]) != "prefill" else 0
    spec: dict = {}
    if gamma > 0 and sc.speculative is not None:
        alpha, decay = scenario_acceptance(sc.speculative, sc.workload.speculative_acceptance)
        spec = {"spec_tokens": gamma, "spec_accept": float(tokens_per_step(alpha, gamma, decay)),
                "draft_model": sc.speculative.draft_model if sc.speculative.method == "draft" else None}
        level = str(row.get("draft_level") or "")
        if sc.speculative.placement == "pool" and level.startswith("d"):
            spec.update(draft_model=None, draft_pool_s=_draft_wait_s(sc, chip, gamma, int(level[1:]), tuple(catalogs)))
    return EngineConfig(model=load_model(sc.model), chip=chip, weights=sc.precision.weights, kv=sc.kv_dtype,
                        tp=int(row["tp"]), ep=int(row["ep"]), pp=int(row["pp"]), dp=int(row["dp"]),
                        framework=sc.framework, max_batch=max(int(row["batch"]), 1),
                        max_tokens=sc.aggregated.chunk_tokens, prefix_hit=float(sc.workload.prefix_hit_rate),
                        prefix_cache_tokens=float(sc.workload.prefix_cache_tokens or 0), **spec)


def _draft_wait_s(sc: Scenario, chip, gamma: int, level: int, catalogs: tuple) -> float:
    """Seconds a decode iteration fed by a draft pool at latency level j waits for its gamma drafts, as the
    optimizer prices it (planner.axes.draft_pool): (gamma + 1/2) tau_j (the draft steps and the mean wait for
    the draft instance's next step) + the draft pass's host time + 2 scale-out link latencies. The draft
    instances are taken to keep to their level's step budget (the program sizes them for the drafts asked);
    their own queueing is not simulated."""
    cat = load_catalog(catalogs)
    ct = ChipTable.build([cat[c.id] for c in sc.chips])
    fw = FRAMEWORK_CODE[sc.framework]
    _, dres = draft_pool.draft_grid(load_model(sc.speculative.draft_model), ct, sc.precision.weights, sc.kv_dtype,
                                    sc.workload.isl, sc.workload.osl,
                                    tuple(sc.search.decode_batches_per_rank or DECODE_BATCHES_PER_RANK), framework=fw)
    taus = draft_pool.levels(dres, sc.speculative.draft_levels)
    if level >= len(taus):
        raise PlannerError(f"the plan's draft level d{level} is not one of this scenario's", field="pools",
                           hint="simulate a plan with the scenario it was made from")
    link = float(ChipTable.build([chip]).scaleout_lat[0])
    return float((gamma + 0.5) * taus[level] + draft_pool.overhead_s(fw) + 2.0 * link)


def _pd_step(cfg: EngineConfig, role: str, row: pd.Series, isl: float, osl: float) -> StepModel:
    """The step model of a P/D pool's engine: prefill, decode, or an attention instance of attention/FFN
    disaggregation, which iterates at its planned cadence (its TPOT as planned, the TPOT margin included: the
    attention and FFN pools run in lockstep at the cadence the program chose; the FFN pool, sized by the program
    for its cadence's tokens, is not simulated)."""
    if role == "prefill":
        return StepModel(cfg, isl, osl, max_decode=1, max_prefill_tokens=max(isl * cfg.max_batch, isl), prefill_only=True)
    if role == "attention":
        return StepModel.fixed(cfg, isl, osl, float(row["tpot_ms"]) / 1e3)
    return StepModel(cfg, isl, osl, max_decode=cfg.max_batch, max_prefill_tokens=1)


def _label(row: pd.Series) -> str:
    """A pool's configuration in a few words: `h100-sxm tp2 b64` (ep, pp, dp where above 1)."""
    par = "".join(f" {k}{int(row[k])}" for k in ("ep", "pp", "dp") if int(row[k]) > 1)
    return f"{row['chip']} tp{int(row['tp'])}{par} b{int(row['batch'])}"


def _measured(requests: pd.DataFrame, group: int) -> pd.DataFrame:
    """The measured requests of a simulated group, tagged with its position (one copy: an hour is ~10^7 rows)."""
    m = requests["measured"].to_numpy()
    start = int(np.argmax(m)) if m.any() else len(m)
    out = requests.iloc[start:] if m[start:].all() else requests[m]  # open loops: the runs after the warm-up
    out["group"] = group  # copy-on-write: the other columns are not copied
    return out


def _refuse_unsupported(sc: Scenario, pools: pd.DataFrame, roles: pd.Series) -> None:
    """PlannerError for the plans the serving model does not simulate yet."""
    unsupported = sorted(set(roles) - {"aggregated", "prefill", "decode", "draft", "attention", "ffn"})
    if unsupported:
        raise PlannerError(f"simulating {', '.join(unsupported)} pools is not supported yet", field="pools",
                           hint="the serving model simulates aggregated and P/D pools (with MTP heads, a co-located "
                           "draft model or a draft pool)")


def simulate_fleet(sc: Scenario, pools: pd.DataFrame, *, requests: int = 4000, arrival_cv: float = 1.0,
                   seed: int = 0, catalogs=(), duration_s: float | None = None,
                   trace: pd.DataFrame | None = None, router: str = "random") -> FleetSimulation:
    """Simulate the plan's pools at the scenario's arrival rate; percentiles, SLO attainment and goodput.

    requests: requests simulated over the fleet, split over the pool groups by their load; duration_s instead:
    each group simulated for that long (an aggregated instance's share of the traffic, the P/D pools' all).
    trace: recorded requests (planner.inputs.traces: arrival_s, isl, osl) replayed instead of synthetic
    arrivals: the router sends each to a pool group with the plan's load shares (and an aggregated pool's
    instance at random), so the fleet sees the trace's own rate, bursts and lengths.
    router: how an aggregated pool spreads its requests over its instances. "random": each instance sees the pool's
    stream thinned at random (a Poisson stream stays Poisson); "round-robin": each instance takes every n-th
    request, so its gaps are sums of n of the pool's (coefficient of variation / sqrt(n): Erlang-n gaps for a
    Poisson stream), exactly; "least-outstanding" and "power-of-two": the pool's engines simulated together
    (planner.serving.pool), each arrival routed on their state. P/D prefill pools always share one queue (the
    first free engine takes the next prompt)."""
    if router not in ROUTERS:
        raise PlannerError(f"unknown router {router!r}", field="router", hint=f"one of {', '.join(ROUTERS)}")
    if sc.classes is not None:
        return _simulate_classes(sc, pools, requests=requests, arrival_cv=arrival_cv, seed=seed, catalogs=catalogs,
                                 duration_s=duration_s, trace=trace, router=router)
    roles = pools["role"].astype(str)
    _refuse_unsupported(sc, pools, roles)
    wl = sc.workload
    lengths = Lengths(wl.isl, wl.osl, osl_cv=wl.output_length_cv)
    total = float(pools.loc[roles.isin(["aggregated", "prefill"]), "load_rps"].sum())
    if not total > 0:
        raise PlannerError("the plan carries no traffic", field="pools")
    rng = np.random.default_rng(seed)
    share = pools.loc[roles.isin(["aggregated", "prefill"]), "load_rps"] / total  # the router's split
    position = {idx: j for j, idx in enumerate(share.index)}  # pools row -> its group in the split
    group_of = (rng.choice(len(share), size=len(trace), p=share.to_numpy()) if trace is not None else None)
    isl, osl = (float(trace["isl"].mean()), float(trace["osl"].mean())) if trace is not None else (wl.isl, wl.osl)
    scale = trace_rate_rps(trace) / total if trace is not None else 1.0  # loads at the trace's rate

    def load_for(row_index, rate: float, n_inst: int, k: int, share: float | None = None):
        """The arrivals one simulated engine (or the P/D pools) sees and their lengths; `share`: a decode pool's
        share of all the P/D traffic (the trace's P/D requests thinned to it) instead of a router group's."""
        rr = router == "round-robin" and n_inst > 1
        if trace is None:
            return OpenLoop(rate, requests=k, arrival_cv=arrival_cv / np.sqrt(n_inst) if rr else arrival_cv), lengths
        if share is not None:
            pd_rows = np.isin(group_of, [position[i] for i in pools.index[roles == "prefill"]])
            mine = trace[pd_rows & (rng.random(len(trace)) < share)]
        else:
            mine = trace[group_of == position[row_index]]
        if rr:  # one instance of the pool: every n-th of its requests
            mine = mine.iloc[int(rng.integers(n_inst))::n_inst]
        elif n_inst > 1:  # one of the pool's instances, picked at random per request
            mine = mine[rng.random(len(mine)) < 1.0 / n_inst]
        if len(mine) < 2:
            raise PlannerError("the trace leaves fewer than 2 requests for one of the plan's engines", field="trace",
                               hint="use a longer trace")
        return (Replay(rate, requests=len(mine), times_s=tuple(mine["arrival_s"])),
                RecordedLengths(tuple(mine["isl"]), tuple(mine["osl"])))
    frames, groups = [], []
    for i, (idx, row) in enumerate(pools[roles == "aggregated"].iterrows()):
        load, n = float(row["load_rps"]) * scale, int(row["instances"])
        if load <= 0 or n <= 0:
            continue
        cfg = _config(sc, row, catalogs)
        step = StepModel(cfg, isl, osl, max_decode=cfg.max_batch, max_prefill_tokens=max(cfg.token_budget, isl))
        if router in LOAD_AWARE and n > 1:  # the pool's whole stream over its engines, routed on their state
            k = max(int(round(load * duration_s if duration_s else requests * load / (total * scale))),
                    JOINT_REQUESTS_PER_INSTANCE * n)
            arrivals, lens = load_for(idx, load, 1, k)
            sim = simulate_aggregated_pool(step, n, lens, arrivals, router=router, seed=seed + i)
        else:
            k = max(int(round(load / n * duration_s if duration_s else requests * load / (total * scale))), 200)
            arrivals, lens = load_for(idx, load / n, n, k)
            sim = simulate_aggregated(step, lens, arrivals, seed=seed + i)
        name = f"aggregated {n}x {_label(row)}"
        frames.append(_measured(sim.requests, len(groups)))
        groups.append({"group": name, "rate_rps": load, "instances": n})
    pre, dec = pools[roles == "prefill"], pools[roles.isin(["decode", "attention"])]
    if len(pre):
        lam = float(pre["load_rps"].sum()) * scale
        k = max(int(round(lam * duration_s if duration_s else requests * lam / (total * scale))), 200)
        name = "P/D " + " + ".join(f"{int(r['instances'])}x {r['role']} {_label(r)}"
                                   for _, r in pd.concat([pre, dec]).iterrows())
        cfgs = {idx: _config(sc, r, catalogs) for idx, r in pd.concat([pre, dec]).iterrows()}
        steps = {idx: _pd_step(c, roles[idx], pools.loc[idx], isl, osl) for idx, c in cfgs.items()}
        if len(pre) == 1 and len(dec) == 1:  # one prefill and one decode pool: simulated together, exactly
            p, d = pre.index[0], dec.index[0]
            arrivals, lens = load_for(p, lam, 1, k)
            sim = simulate_disaggregated(Pools(steps[p], int(pre.loc[p, "instances"]), steps[d],
                                               int(dec.loc[d, "instances"])), lens, arrivals, seed=seed + 1000)
            frames.append(_measured(sim.requests, len(groups)))
        else:
            frames.append(_pools_apart(pre, dec, steps, scale, k, load_for, rng, seed).assign(group=len(groups)))
        groups.append({"group": name, "rate_rps": lam, "instances": int(pre["instances"].sum() + dec["instances"].sum())})
    meta = {"traffic": "trace" if trace is not None else ("poisson" if arrival_cv == 1 else
                                                           f"renewal, arrival cv {arrival_cv:g}"),
            "arrival_cv": arrival_cv, "router": router, "seed": seed}
    return assemble(sc.slo, frames, groups, total * scale, meta)


def _with_shared_partner(mine: pd.DataFrame, pools: pd.DataFrame, members: pd.Series, roles: pd.Series,
                         name: str) -> pd.DataFrame:
    """A class's own pools, with the shared pools of the other side when it has prefill pools of its own and its
    decode in a pool shared with other classes (or the reverse): that side simulated at the shared pool's load,
    as pools apart are (each at its load, ample capacity on the other side)."""
    r = mine["role"].astype(str)
    own_pre, own_dec = bool((r == "prefill").any()), bool(r.isin(["decode", "attention"]).any())
    if own_pre == own_dec:
        return mine.reset_index(drop=True)
    want = ["decode", "attention"] if own_pre else ["prefill"]
    partner = (members.map(lambda ms: name in ms) & (members.map(len) > 1) & roles.isin(want)).to_numpy()
    return pd.concat([mine, pools[partner]], ignore_index=True)


def _simulate_classes(sc: Scenario, pools: pd.DataFrame, *, requests: int, trace, **kw) -> FleetSimulation:
    """A plan for several traffic classes: each class's pools simulated with its own workload and scored against
    its own SLOs (`summary["classes"]`); the fleet's attainment and goodput are their rate-weighted sums, its
    percentiles over all requests weighted by rate, and it meets an SLO when every class does. Pools shared by
    classes (classes_share_pools) serve their mixed stream (an aggregated pool: `_shared_pool`; one prefill and
    one decode pool: `_shared_pd`), each class's requests scored against its own SLOs."""
    if trace is not None:
        raise PlannerError("a trace has no traffic classes", field="trace", hint="replay a trace against a one-class scenario")
    scenarios = dict(sc.class_scenarios())
    labels = pools["class"].astype(str) if "class" in pools else pd.Series("default", index=pools.index)
    members = labels.str.split(SHARED_SEP)
    shared = members.map(len) > 1
    if unknown := sorted({c for ms in members for c in ms} - set(scenarios)):
        raise PlannerError(f"the plan's pools name classes the scenario does not have ({', '.join(unknown)})",
                           field="pools", hint="simulate a plan with the scenario it was made from")
    roles = pools["role"].astype(str)
    pd_sets = {labels[i] for i in pools.index[shared & roles.isin(["prefill", "decode"])]}
    for cs in pd_sets:
        mine = roles[(labels == cs).to_numpy()]
        if (mine == "prefill").sum() != 1 or (mine == "decode").sum() != 1 or len(mine) != 2:
            raise PlannerError(f"P/D pools shared by traffic classes ({cs}) are simulated as one prefill and one "
                               "decode pool; this plan has several", field="classes_share_pools",
                               hint="plan with classes_share_pools: false to simulate every class on its own pools")
    rates = {c.name: float(c.arrival_rate_rps) for c in sc.classes}
    total = sum(rates.values())
    from_shared: dict[str, list] = {name: [] for name in scenarios}
    rest = {k: v for k, v in kw.items() if k != "seed"}
    for j, (idx, row) in enumerate(pools[shared & (roles == "aggregated")].iterrows()):
        loads = [(c, scenarios[c], float(row.get(f"load_rps__{c}", 0.0) or 0.0)) for c in members[idx]]
        parts = _shared_pool(row, loads, requests=requests * sum(lo for *_, lo in loads) / total,
                             seed=kw.get("seed", 0) + 5000 + j, **rest)
        for c, _one, lo in loads:
            from_shared[c].append((parts[c], f"aggregated shared {int(row['instances'])}x {_label(row)}", lo,
                                   int(row["instances"])))
    for j, cs in enumerate(sorted(pd_sets)):
        both = pools[(labels == cs).to_numpy()]
        pre, dec = both[both["role"] == "prefill"].iloc[0], both[both["role"] == "decode"].iloc[0]
        loads = [(c, scenarios[c], float(pre.get(f"load_rps__{c}", 0.0) or 0.0)) for c in cs.split(SHARED_SEP)]
        parts = _shared_pd(pre, dec, loads, requests=requests * sum(lo for *_, lo in loads) / total,
                           seed=kw.get("seed", 0) + 6000 + j, **rest)
        name = (f"P/D shared {int(pre['instances'])}x prefill {_label(pre)} + {int(dec['instances'])}x decode "
                f"{_label(dec)}")
        for c, _one, lo in loads:
            from_shared[c].append((parts[c], name, lo, int(pre["instances"]) + int(dec["instances"])))
    frames, groups, lines, per_class = [], [], [], {}
    meta = {"traffic": "per class", "arrival_cv": kw.get("arrival_cv", 1.0), "router": kw.get("router", "random"),
            "seed": kw.get("seed", 0)}
    for name, one in scenarios.items():
        mine = _with_shared_partner(pools[(labels == name).to_numpy()], pools, members, roles, name)
        parts, part_groups = [], []
        if not mine.empty:
            sim = simulate_fleet(one, mine, requests=max(int(round(requests * rates[name] / total)), 200), trace=None, **kw)
            parts.append(sim.requests.assign(group=sim.requests["group"].cat.codes.to_numpy()))
            part_groups += sim.groups[["group", "rate_rps", "instances"]].to_dict(orient="records")
        for frame, gname, lo, n in from_shared[name]:
            parts.append(frame.assign(group=len(part_groups)))
            part_groups.append({"group": gname, "rate_rps": lo, "instances": n})
        if not part_groups:
            raise PlannerError(f"the plan has no pools for class {name}", field="pools")
        csim = assemble(one.slo, parts, part_groups, rates[name], meta)
        per_class[name] = {k: csim.summary[k] for k in CLASS_KEYS}
        frames.append(csim.requests.assign(group=name + ": " + csim.requests["group"].astype(str), **{"class": name},
                                           _weight=csim.weights))
        groups.append(csim.groups.assign(group=name + ": " + csim.groups["group"], **{"class": name}))
        if csim.timeline is not None and len(csim.timeline):
            lines.append(csim.timeline.assign(group=name + ": " + csim.timeline["group"].astype(str)))
    req = pd.concat(frames, ignore_index=True)
    w = req.pop("_weight").to_numpy()
    fleet = {k: v for k, v in weighted_stats(req, w, None, None).items() if k.startswith(("ttft_ms", "tpot_ms"))}
    attain = sum(rates[n] * c["slo_attainment"] for n, c in per_class.items()) / total
    first = next(iter(per_class.values()))
    summary = {
        **fleet, "requests": int(len(req)), "rate_rps": total, "goodput_rps": total * attain, "slo_attainment": attain,
        "ttft_ms_at_slo_percentile": None, "ttft_percentile": first["ttft_percentile"],  # per class: `classes`
        "slo": {"ttft_ms": None, "tpot_ms": None},
        "meets_ttft_slo": all(c["meets_ttft_slo"] for c in per_class.values()),
        "meets_tpot_slo": all(c["meets_tpot_slo"] for c in per_class.values()),
        "classes": per_class, "router": kw.get("router", "random"), "seed": kw.get("seed", 0),
        "arrival_cv": kw.get("arrival_cv", 1.0), "traffic": "per class",
        "first_token_latency_ms": {"outside_engine": active_serving_params().request_s * 1e3,
                                   "disaggregated_handoff": active_serving_params().disagg_handoff_s * 1e3},
    }
    line = pd.concat(lines, ignore_index=True) if lines else None
    return FleetSimulation(req, pd.concat(groups, ignore_index=True), summary, line, w)


SHARED_SEP = "+"  # a pool shared by traffic classes names them joined (planner.optimize.milp.SHARED_SEP)


def _mixed_stream(loads: list, k: int, rng: np.random.Generator):
    """k requests of traffic classes sharing pools (`loads`: class, its scenario, its requests/s there), each of
    a class drawn by the classes' shares with that class's prompt and answer lengths: the class of each, the
    lengths, and the load-weighted mean prompt and answer lengths (the grid the iteration times are read on)."""
    share = np.array([lo for *_, lo in loads]) / sum(lo for *_, lo in loads)
    wls = [one.workload for _c, one, _lo in loads]
    which = rng.choice(len(loads), size=k, p=share)
    isl_t, osl_t = np.zeros(k, np.int64), np.zeros(k, np.int64)
    for j, w in enumerate(wls):
        mine = which == j
        isl_t[mine], osl_t[mine] = Lengths(w.isl, w.osl, osl_cv=w.output_length_cv).draw(int(mine.sum()), rng)
    lens = RecordedLengths(tuple(isl_t.tolist()), tuple(osl_t.tolist()))
    return which, lens, float(share @ [w.isl for w in wls]), float(share @ [w.osl for w in wls]), max(w.isl for w in wls)


def _by_class(requests: pd.DataFrame, which: np.ndarray, loads: list) -> dict[str, pd.DataFrame]:
    measured = requests["measured"].to_numpy()
    return {c: requests[measured & (which == j)] for j, (c, *_rest) in enumerate(loads)}


def _shared_pool(row: pd.Series, loads: list, *, requests: float, arrival_cv: float = 1.0, seed: int = 0,
                 catalogs=(), duration_s: float | None = None, router: str = "random") -> dict[str, pd.DataFrame]:
    """An aggregated pool shared by traffic classes (`loads`: class, its scenario, its requests/s here): one
    stream at their summed rate (`_mixed_stream`), so prompts of one class queue behind the other's. The engine is
    the pool's configuration as the first class's scenario gives it (iteration times on a grid at the
    load-weighted mean lengths, the simulator's way with distributed lengths). Returns each class's measured
    requests."""
    total = sum(lo for *_, lo in loads)
    n = int(row["instances"])
    if not total > 0 or n <= 0:
        return {c: pd.DataFrame(columns=["ttft_ms", "tpot_ms"]) for c, *_ in loads}
    joint = router in LOAD_AWARE and n > 1
    rate = total if joint else total / n
    k = max(int(round(rate * duration_s if duration_s else requests / (1 if joint else n))),
            JOINT_REQUESTS_PER_INSTANCE * n if joint else 200)
    which, lens, isl, osl, longest = _mixed_stream(loads, k, np.random.default_rng(seed))
    cfg = _config(loads[0][1], row, catalogs)
    step = StepModel(cfg, isl, osl, max_decode=cfg.max_batch, max_prefill_tokens=max(cfg.token_budget, longest))
    rr = router == "round-robin" and n > 1
    arrivals = OpenLoop(rate, requests=k, arrival_cv=arrival_cv / np.sqrt(n) if rr else arrival_cv)
    sim = (simulate_aggregated_pool(step, n, lens, arrivals, router=router, seed=seed) if joint
           else simulate_aggregated(step, lens, arrivals, seed=seed))
    return _by_class(sim.requests, which, loads)


def _shared_pd(pre: pd.Series, dec: pd.Series, loads: list, *, requests: float, arrival_cv: float = 1.0,
               seed: int = 0, catalogs=(), duration_s: float | None = None, router: str = "random"
               ) -> dict[str, pd.DataFrame]:
    """A prefill pool and a decode pool shared by traffic classes: the classes' mixed stream (`_mixed_stream`)
    through the one prefill queue, the KV transfer and the decode pool, each class's requests returned apart.
    The router does not apply (the prefill pool is one queue)."""
    total = sum(lo for *_, lo in loads)
    k = max(int(round(total * duration_s if duration_s else requests)), 200)
    which, lens, isl, osl, _longest = _mixed_stream(loads, k, np.random.default_rng(seed))
    one = loads[0][1]
    steps = [_pd_step(_config(one, r, catalogs), str(r["role"]), r, isl, osl) for r in (pre, dec)]
    pools = Pools(steps[0], int(pre["instances"]), steps[1], int(dec["instances"]))
    sim = simulate_disaggregated(pools, lens, OpenLoop(total, requests=k, arrival_cv=arrival_cv), seed=seed)
    return _by_class(sim.requests, which, loads)


def _pools_apart(pre: pd.DataFrame, dec: pd.DataFrame, steps: dict, scale: float, k: int, load_for,
                 rng: np.random.Generator, seed: int) -> pd.DataFrame:
    """Several prefill or decode pools. Requests go to a prefill pool and, independently, to a decode pool with the
    plan's load shares, so a request's TTFT depends only on its prefill pool (queue, prefill, KV transfer: the first
    token is out when the KV lands) and its TPOT only on its decode pool. Each prefill pool is simulated at its load
    with ample decode capacity, each decode pool at its load fed by ample prefill capacity; the fleet's requests
    pair a TTFT drawn from their prefill pool with a TPOT drawn from their decode pool."""
    def ample(ref: pd.Series, load: float) -> int:  # instances of the reference pool for `load`, with room to spare
        return int(np.ceil(float(ref["instances"]) * load / max(float(ref["load_rps"]) * scale, 1e-12))) + 1

    ref_p, ref_d = pre.loc[pre["load_rps"].idxmax()], dec.loc[dec["load_rps"].idxmax()]
    lam = float(pre["load_rps"].sum()) * scale
    ttft, tpot = [], []
    for j, (idx, a) in enumerate(pre.iterrows()):
        la = float(a["load_rps"]) * scale
        arrivals, lens = load_for(idx, la, 1, max(int(round(k * la / lam)), 200))
        sim = simulate_disaggregated(Pools(steps[idx], int(a["instances"]), steps[ref_d.name], ample(ref_d, la)),
                                     lens, arrivals, seed=seed + 2000 + j)
        ttft.append((la, sim.requests.loc[sim.requests["measured"], "ttft_ms"].to_numpy()))
    for j, (idx, b) in enumerate(dec.iterrows()):
        lb = float(b["load_rps"]) * scale
        arrivals, lens = load_for(ref_p.name, lb, 1, max(int(round(k * lb / lam)), 200), share=lb / lam)
        sim = simulate_disaggregated(Pools(steps[ref_p.name], ample(ref_p, lb), steps[idx], int(b["instances"])),
                                     lens, arrivals, seed=seed + 3000 + j)
        tpot.append((lb, sim.requests.loc[sim.requests["measured"], "tpot_ms"].to_numpy()))

    def draw(parts):
        w = np.array([p[0] for p in parts])
        which = rng.choice(len(parts), size=k, p=w / w.sum())
        return np.array([rng.choice(parts[i][1]) for i in which])
    return pd.DataFrame({"ttft_ms": draw(ttft), "tpot_ms": draw(tpot)})


