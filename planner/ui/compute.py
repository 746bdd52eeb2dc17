"""What the browser UI computes, as plain functions of a scenario: the same Python API as the CLI (solve,
pareto, simulate, plans over periods), results as tidy DataFrames and plotly figures. No planning logic here.

`explore(scenario)` returns everything one Solve click shows: the cheapest fleet and what each forced
architecture costs, a frontier per architecture (cost per million output tokens and output tokens/s per chip
against tokens/s per user) with the chosen plan marked, the cheapest fleet on each single chip type against the
heterogeneous one, the simulated latency distribution of the plan, and the error bands.
"""

from __future__ import annotations

import math
import time

import pandas as pd
import plotly.graph_objects as go
import yaml

from planner.analyses.pareto import pareto
from planner.errors import PlannerError
from planner.inputs.scenario import Scenario, validate_scenario
from planner.optimize.schedule import plan_periods
from planner.optimize.solve import solve_scenario
from planner.optimize.uncertainty import band_text
from planner.report.figures import (
    ARCHITECTURES,
    Exploration,
    budget_figure,
    frontier_figures,
    latency_figure,
    schedule_figure,
    single_chip_figure,
)
from planner.serving.fleet import simulate_fleet

FRONTIER_POINTS = 10
__all__ = ["ARCHITECTURES", "Exploration", "explore", "explore_periods", "scenario_from_form", "scenario_from_yaml",
           "scenario_yaml"]


def scenario_from_form(form: dict) -> Scenario:
    """A scenario from the UI's form (model, weights, chips [{id, price_usd_per_hr, max_count}], rate, isl, osl,
    SLOs, modes, optional demand profile); errors are PlannerErrors naming the form's field."""
    chips = []
    for c in form.get("chips") or []:
        offer = {"id": str(c["id"])}
        for key, kind in (("price_usd_per_hr", float), ("max_count", int)):
            v = c.get(key)
            if v not in (None, ""):
                try:
                    offer[key] = kind(v)
                except (TypeError, ValueError):
                    raise PlannerError(f"{v!r} is not a number", field=f"chips.{c['id']}.{key}") from None
        chips.append(offer)
    if not chips:
        raise PlannerError("no chip on offer", field="chips", hint="pick at least one chip type")
    data = {
        "name": form.get("name") or "ui", "model": form.get("model"),
        "precision": ({} if form.get("weights") in (None, "", "checkpoint") else {"weights": form["weights"]}),
        "workload": {"isl": form.get("isl"), "osl": form.get("osl")},
        "slo": {k: v for k, v in (("ttft_ms", form.get("ttft_ms")), ("tpot_ms", form.get("tpot_ms")),
                                  ("ttft_percentile", form.get("ttft_percentile"))) if v not in (None, "")},
        "chips": chips, "modes": form.get("modes") or ["aggregated", "disaggregated"],
    }
    profile = parse_profile(form.get("profile"))
    if profile:
        data["demand"] = {"profile": profile, "period_hours": float(form.get("period_hours") or 1.0)}
        if form.get("reserved_discount_pct") not in (None, ""):
            data["pricing"] = {"reserved": {"discount": float(form["reserved_discount_pct"]) / 100}}
    else:
        data["workload"]["arrival_rate_rps"] = form.get("rate_rps")
    return validate_scenario(data, "form")


def scenario_from_yaml(text: str) -> Scenario:
    """A scenario written as YAML in the UI (the format of docs/scenarios.md), read through the guarded loader;
    errors name the field."""
    import tempfile
    from pathlib import Path

    from planner.inputs.scenario import load_scenario

    with tempfile.TemporaryDirectory(prefix="planner-ui-") as folder:
        path = Path(folder) / "scenario.yaml"
        path.write_text(str(text), encoding="utf-8")
        return load_scenario(path)


def parse_profile(text) -> list[float] | None:
    """`18, 15, 14` (requests/s per period) -> floats; empty -> None."""
    if text is None or not str(text).strip():
        return None
    try:
        return [float(x) for x in str(text).replace(";", ",").replace(" ", ",").split(",") if x.strip()]
    except ValueError:
        raise PlannerError(f"{text!r} is not a list of numbers", field="demand.profile",
                           hint="requests/s per period, comma-separated: 18, 15, 14, ...") from None


def scenario_yaml(sc: Scenario) -> str:
    """The scenario as a file `planner solve` reads."""
    return yaml.safe_dump(sc.model_dump(mode="json", exclude_none=True, exclude_defaults=True), sort_keys=False)


def fleet_frame(pools: pd.DataFrame) -> pd.DataFrame:
    """The plan's pools in words: role, chip, instances x chips, parallelism and batch, latencies, load."""
    par = [f"tp{r.tp}" + (f" ep{r.ep}" if r.ep > 1 else "") + (f" pp{r.pp}" if r.pp > 1 else "")
           + (f" dp{r.dp}" if r.dp > 1 else "") + f" b{r.batch}" for r in pools.itertuples(index=False)]
    classes = {"class": pools["class"]} if "class" in pools and pools["class"].astype(str).str.len().gt(0).any() else {}
    return pd.DataFrame({
        **classes, "role": pools["role"], "chip": pools["chip"], "instances": pools["instances"],
        "chips_each": pools["chips_per_instance"], "parallelism": par,
        "ttft_ms": pools["ttft_ms"].round(0), "tpot_ms": pools["tpot_ms"].round(1),
        "utilization": pools["utilization"].round(2), "cost_usd_per_hr": pools["cost_usd_per_hr"].round(2),
    })


def _frontiers(sc: Scenario, points: int, **kw) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """A TPOT-swept frontier per allowed architecture (that architecture alone), and notes on those left out."""
    out, notes = {}, []
    for mode in sc.modes:
        try:
            res = pareto(sc.model_copy(update={"modes": [mode]}), sweep="tpot", points=points, **kw)
        except PlannerError as exc:
            notes.append(f"{ARCHITECTURES[mode]} frontier: {str(exc).splitlines()[0]}")
            continue
        pts = res.points[res.points["status"].isin(["optimal", "within-gap", "time-limit"])]
        if len(pts):
            out[mode] = pts
    return out, notes


def single_chip_costs(sc: Scenario, hetero_cost: float, **kw) -> pd.DataFrame:
    """The cheapest fleet on each offered chip type alone, beside the heterogeneous plan."""
    rows = []
    for offer in sc.chips:
        try:
            r = solve_scenario(sc.model_copy(update={"chips": [offer]}), **kw)
            rows.append({"chips": offer.id, "cost_usd_per_hr": r.summary["cost_usd_per_hr"],
                         "num_chips": r.summary["num_chips"], "architecture": r.summary["architecture"]})
        except PlannerError as exc:
            rows.append({"chips": offer.id, "cost_usd_per_hr": None, "num_chips": None,
                         "architecture": "no fleet: " + str(exc).splitlines()[0][:80]})
    rows.append({"chips": "heterogeneous (all offered)", "cost_usd_per_hr": hetero_cost, "num_chips": None,
                 "architecture": "the plan"})
    return pd.DataFrame(rows)


def explore(sc: Scenario, *, catalogs=(), margin=None, points: int = FRONTIER_POINTS, simulate_requests: int = 2000,
            progress=None) -> Exploration:
    """Everything one Solve click shows (see the module docstring). progress(text): called before each step.
    A max-throughput scenario gets the budget frontier instead of one per architecture; a multi-class one no
    frontier and no simulation (each says why in `notes`)."""
    say = progress or (lambda _t: None)
    kw = {"catalogs": catalogs, "margin": margin}
    t0 = time.perf_counter()
    say("solving the cheapest fleet ...")
    res = solve_scenario(sc, alternatives=True, **kw)
    s = res.summary
    timings = {"solve_s": time.perf_counter() - t0}
    alts = pd.DataFrame(s.get("alternatives") or [], columns=["architecture", "status", "cost_usd_per_hr", "delta"])
    notes: list[str] = []
    figures: dict = {}
    t1 = time.perf_counter()
    if sc.classes is not None:
        notes.append("frontiers: a multi-class scenario has none (sweep one class at a time, its own workload)")
    elif s["objective"] == "max-throughput":
        say(f"tracing the throughput vs budget frontier ({points} points) ...")
        try:
            front = pareto(sc, sweep="budget", points=points, **kw).points
            figures["frontier_budget"] = budget_figure(front, s)
        except PlannerError as exc:
            notes.append("budget frontier: " + str(exc).splitlines()[0])
    else:
        say(f"tracing a frontier per architecture ({points} points each) ...")
        frontiers, skipped = _frontiers(sc, points, **kw)
        notes += skipped
        figures["frontier_cost"], figures["frontier_chip"] = frontier_figures(frontiers, s)
    timings["frontiers_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    single = pd.DataFrame()
    if len(sc.chips) > 1 and s["objective"] == "min-cost":
        say("solving each chip type alone ...")
        single = single_chip_costs(sc, s["cost_usd_per_hr"], **kw)
        figures["single_chip"] = single_chip_figure(single)
    timings["single_chip_s"] = time.perf_counter() - t2
    t3 = time.perf_counter()
    try:
        say("simulating the plan ...")
        sim = simulate_fleet(sc, res.pools, requests=simulate_requests, catalogs=catalogs)
        figures["latency"] = latency_figure(sim.requests, s["slo"])
        ss = sim.summary
        for name, c in (ss["classes"].items() if "classes" in ss else [(None, ss)]):
            notes.append(f"simulated{f' ({name})' if name else ''}: TTFT p{c['ttft_percentile']:g} "
                         f"{c['ttft_ms_at_slo_percentile']:,.0f} ms, TPOT median {c['tpot_ms_p50']:.1f} ms, SLO "
                         f"attainment {100 * c['slo_attainment']:.1f}%")
    except PlannerError as exc:
        notes.append("not simulated: " + str(exc).splitlines()[0])
    timings["simulate_s"] = time.perf_counter() - t3
    bands = pd.DataFrame([{"role": b["role"], "chip": b["chip"], "band": band_text(b)} for b in s["error_band"]])
    return Exploration(sc, s, fleet_frame(res.pools), alts, single, bands, figures, notes, timings,
                       res.constraints)


def explore_periods(sc: Scenario, *, catalogs=(), margin=None) -> tuple[dict, go.Figure, pd.DataFrame]:
    """A plan over periods (demand profile): its summary, its schedule figure and the schedule."""
    plan = plan_periods(sc, catalogs=catalogs, margin=margin)
    return plan.summary, schedule_figure(plan.summary, plan.schedule), plan.schedule


def money(v) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"${v:,.2f}"
