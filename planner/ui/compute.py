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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import yaml

from planner.analyses.pareto import pareto
from planner.errors import PlannerError
from planner.inputs.scenario import Scenario, validate_scenario
from planner.optimize.schedule import plan_periods
from planner.optimize.solve import solve_scenario
from planner.optimize.uncertainty import band_text
from planner.serving.fleet import simulate_fleet

ARCHITECTURES = {"aggregated": "aggregated", "disaggregated": "P/D disaggregated", "afd": "P/D + AFD decode"}
COLORS = {"aggregated": "#1f77b4", "disaggregated": "#ff7f0e", "afd": "#2ca02c"}
FRONTIER_POINTS = 10


@dataclass
class Exploration:
    """One Solve click: the scenario, the plan and every view of it (figures are plotly Figure objects)."""

    scenario: Scenario
    summary: dict
    fleet: pd.DataFrame
    alternatives: pd.DataFrame
    single_chip: pd.DataFrame
    error_bands: pd.DataFrame
    figures: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    timings_s: dict = field(default_factory=dict)


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
        "precision": {"weights": form.get("weights") or "bf16"},
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
    return pd.DataFrame({
        "role": pools["role"], "chip": pools["chip"], "instances": pools["instances"],
        "chips_each": pools["chips_per_instance"], "parallelism": par,
        "ttft_ms": pools["ttft_ms"].round(0), "tpot_ms": pools["tpot_ms"].round(1),
        "utilization": pools["utilization"].round(2), "cost_usd_per_hr": pools["cost_usd_per_hr"].round(2),
    })


def _frontiers(sc: Scenario) -> dict[str, pd.DataFrame]:
    """A TPOT-swept frontier per allowed architecture (that architecture alone)."""
    out = {}
    for mode in sc.modes:
        try:
            res = pareto(sc.model_copy(update={"modes": [mode]}), sweep="tpot", points=FRONTIER_POINTS)
        except PlannerError:
            continue
        pts = res.points[res.points["status"].isin(["optimal", "within-gap", "time-limit"])]
        if len(pts):
            out[mode] = pts
    return out


def frontier_figures(frontiers: dict[str, pd.DataFrame], chosen: dict) -> tuple[go.Figure, go.Figure]:
    """Cost per million output tokens, and output tokens/s per chip, against tokens/s per user: one curve per
    architecture, the chosen plan a star."""
    figs = []
    for y, title in (("cost_usd_per_mtok", "$ per million output tokens"),
                     ("tok_s_per_chip", "output tokens/s per chip")):
        fig = go.Figure()
        for mode, pts in frontiers.items():
            pts = pts.sort_values("tok_s_per_user")
            fig.add_trace(go.Scatter(x=pts["tok_s_per_user"], y=pts[y], mode="lines+markers", name=ARCHITECTURES[mode],
                                     line={"color": COLORS[mode]}, text=pts["fleet"], hovertemplate="%{text}"))
        cy = chosen["cost_usd_per_mtok"] if y == "cost_usd_per_mtok" else (
            chosen["output_tok_s"] / chosen["num_chips"] if chosen["num_chips"] else None)
        if chosen.get("tok_s_per_user") and cy is not None:
            fig.add_trace(go.Scatter(x=[chosen["tok_s_per_user"]], y=[cy], mode="markers", name="chosen plan",
                                     marker={"symbol": "star", "size": 16, "color": "crimson"}))
        fig.update_layout(title=title + " vs tokens/s per user", xaxis_title="tokens/s per user (1 / TPOT)",
                          yaxis_title=title, height=380, margin={"l": 60, "r": 20, "t": 50, "b": 50},
                          legend={"orientation": "h", "y": -0.25})
        if y == "cost_usd_per_mtok" and any(len(p) for p in frontiers.values()):
            ys = pd.concat([p[y] for p in frontiers.values()])
            if ys.min() > 0 and ys.max() / ys.min() > 20:
                fig.update_yaxes(type="log")
        figs.append(fig)
    return figs[0], figs[1]


def single_chip_costs(sc: Scenario, hetero_cost: float) -> pd.DataFrame:
    """The cheapest fleet on each offered chip type alone, beside the heterogeneous plan."""
    rows = []
    for offer in sc.chips:
        try:
            r = solve_scenario(sc.model_copy(update={"chips": [offer]}))
            rows.append({"chips": offer.id, "cost_usd_per_hr": r.summary["cost_usd_per_hr"],
                         "num_chips": r.summary["num_chips"], "architecture": r.summary["architecture"]})
        except PlannerError as exc:
            rows.append({"chips": offer.id, "cost_usd_per_hr": None, "num_chips": None,
                         "architecture": "no fleet: " + str(exc).splitlines()[0][:80]})
    rows.append({"chips": "heterogeneous (all offered)", "cost_usd_per_hr": hetero_cost, "num_chips": None,
                 "architecture": "the plan"})
    return pd.DataFrame(rows)


def single_chip_figure(df: pd.DataFrame) -> go.Figure:
    ok = df.dropna(subset=["cost_usd_per_hr"])
    colors = ["crimson" if c.startswith("heterogeneous") else "#888" for c in ok["chips"]]
    fig = go.Figure(go.Bar(x=ok["chips"], y=ok["cost_usd_per_hr"], marker_color=colors,
                           text=[f"${v:,.1f}/h" for v in ok["cost_usd_per_hr"]], textposition="outside"))
    fig.update_layout(title="cheapest fleet: each chip type alone vs heterogeneous", yaxis_title="$/h", height=340,
                      margin={"l": 60, "r": 20, "t": 50, "b": 80})
    return fig


def latency_figure(sim: pd.DataFrame, slo: dict) -> go.Figure:
    """Simulated TTFT and TPOT distributions with the SLOs."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("TTFT, ms", "TPOT, ms"))
    for col, (name, key) in enumerate((("ttft_ms", "ttft_ms"), ("tpot_ms", "tpot_ms")), start=1):
        v = sim[name].to_numpy(float)
        v = v[np.isfinite(v)]
        fig.add_trace(go.Histogram(x=v, nbinsx=40, name=name, marker_color="#1f77b4", showlegend=False), row=1, col=col)
        if slo.get(key):
            fig.add_vline(x=slo[key], line_color="crimson", line_dash="dash", row=1, col=col)
    fig.update_layout(title="simulated latencies of the plan (serving model, Poisson arrivals; dashed: SLO)",
                      height=340, margin={"l": 50, "r": 20, "t": 70, "b": 40})
    return fig


def explore(sc: Scenario, *, simulate_requests: int = 2000, progress=None) -> Exploration:
    """Everything one Solve click shows (see the module docstring). progress(text): called before each step."""
    say = progress or (lambda _t: None)
    t0 = time.perf_counter()
    say("solving the cheapest fleet ...")
    res = solve_scenario(sc, alternatives=True)
    s = res.summary
    timings = {"solve_s": time.perf_counter() - t0}
    alts = pd.DataFrame(s.get("alternatives") or [], columns=["architecture", "status", "cost_usd_per_hr", "delta"])
    say("tracing a frontier per architecture ...")
    t1 = time.perf_counter()
    frontiers = _frontiers(sc)
    cost_fig, chip_fig = frontier_figures(frontiers, s)
    timings["frontiers_s"] = time.perf_counter() - t1
    say("solving each chip type alone ...")
    t2 = time.perf_counter()
    single = single_chip_costs(sc, s["cost_usd_per_hr"]) if len(sc.chips) > 1 else pd.DataFrame()
    timings["single_chip_s"] = time.perf_counter() - t2
    notes = []
    figures = {"frontier_cost": cost_fig, "frontier_chip": chip_fig}
    if len(single):
        figures["single_chip"] = single_chip_figure(single)
    say("simulating the plan ...")
    t3 = time.perf_counter()
    try:
        sim = simulate_fleet(sc, res.pools, requests=simulate_requests)
        figures["latency"] = latency_figure(sim.requests, s["slo"])
        ss = sim.summary
        notes.append(f"simulated: TTFT p{s['ttft_percentile']:g} {ss['ttft_ms_at_slo_percentile']:,.0f} ms, TPOT median "
                     f"{ss['tpot_ms_p50']:.1f} ms, SLO attainment {100 * ss['slo_attainment']:.1f}%")
    except PlannerError as exc:
        notes.append("not simulated: " + str(exc).splitlines()[0])
    timings["simulate_s"] = time.perf_counter() - t3
    bands = pd.DataFrame([{"role": b["role"], "chip": b["chip"], "band": band_text(b)} for b in s["error_band"]])
    return Exploration(sc, s, fleet_frame(res.pools), alts, single, bands, figures, notes, timings)


def explore_periods(sc: Scenario) -> tuple[dict, go.Figure]:
    """A plan over periods (demand profile): its summary and its schedule as a stacked chart with the demand."""
    plan = plan_periods(sc)
    s = plan.summary
    sched = plan.schedule
    fig = go.Figure()
    start = [p["start_h"] for p in s["periods"]]
    if len(sched):
        lab = sched["role"] + " " + sched["chip"] + " tp" + sched["tp"].astype(str)
        grid = (sched.assign(chips=sched["instances"] * sched["chips_per_instance"], pool=lab)
                .pivot_table(index="period", columns="pool", values="chips", aggfunc="sum", fill_value=0)
                .reindex(range(len(start)), fill_value=0))
        for col in grid.columns:
            fig.add_trace(go.Bar(x=start, y=grid[col], name=str(col), offset=0, width=[p["hours"] for p in s["periods"]]))
    rate = [p["rate_rps"] for p in s["periods"]]
    end = s["periods"][-1]["start_h"] + s["periods"][-1]["hours"]
    fig.add_trace(go.Scatter(x=[*start, end], y=[*rate, rate[-1]], name="demand, requests/s", yaxis="y2",
                             line={"color": "crimson", "shape": "hv"}))
    fig.update_layout(barmode="stack", title=f"schedule: ${s['cost_usd_per_day']:,.0f} per day", height=400,
                      xaxis_title="hour", yaxis_title="chips in use", xaxis={"range": [0, end]},
                      yaxis2={"title": "requests/s", "overlaying": "y", "side": "right", "range": [0, max(rate) * 1.15]},
                      legend={"orientation": "h", "y": -0.25}, margin={"l": 60, "r": 60, "t": 50, "b": 60})
    return s, fig


def money(v) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"${v:,.2f}"
