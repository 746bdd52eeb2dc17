"""The plots of a plan, as plotly figures: shared by the browser UI (planner/ui) and `planner report`.

Frontiers per architecture with the chosen plan marked, each chip type alone against the heterogeneous plan, the
simulated latency distribution, and a schedule over periods with its demand. Inputs are tidy DataFrames and the
summary dicts the optimizer returns; nothing here plans.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import plotly.graph_objects as go

ARCHITECTURES = {"aggregated": "aggregated", "disaggregated": "P/D disaggregated", "afd": "P/D + AFD decode"}
COLORS = {"aggregated": "#1f77b4", "disaggregated": "#ff7f0e", "afd": "#2ca02c"}


@dataclass
class Exploration:
    """One Solve click: the scenario, the plan and every view of it (figures are plotly Figure objects)."""

    scenario: object  # planner.inputs.scenario.Scenario
    summary: dict
    fleet: pd.DataFrame
    alternatives: pd.DataFrame
    single_chip: pd.DataFrame
    error_bands: pd.DataFrame
    figures: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    timings_s: dict = field(default_factory=dict)
    constraints: pd.DataFrame | None = None


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


def single_chip_figure(df: pd.DataFrame) -> go.Figure:
    ok = df.dropna(subset=["cost_usd_per_hr"])
    colors = ["crimson" if c.startswith("heterogeneous") else "#888" for c in ok["chips"]]
    fig = go.Figure(go.Bar(x=ok["chips"], y=ok["cost_usd_per_hr"], marker_color=colors,
                           text=[f"${v:,.1f}/h" for v in ok["cost_usd_per_hr"]], textposition="outside"))
    fig.update_layout(title="cheapest fleet: each chip type alone vs heterogeneous", yaxis_title="$/h", height=340,
                      margin={"l": 60, "r": 20, "t": 50, "b": 80},
                      yaxis={"range": [0, 1.18 * float(ok["cost_usd_per_hr"].max())] if len(ok) else None})
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


def budget_figure(points: pd.DataFrame, chosen: dict) -> go.Figure:
    """Throughput against the budget (the max-throughput frontier), one marker colour per mode, the plan a star."""
    pts = points[points["status"].isin(["optimal", "within-gap", "time-limit"])].sort_values("cost_usd_per_hr")
    fig = go.Figure(go.Scatter(x=pts["cost_usd_per_hr"], y=pts["throughput_rps"], mode="lines", showlegend=False,
                               line={"color": "#999"}))
    for mode, part in pts.groupby("mode"):
        fig.add_trace(go.Scatter(x=part["cost_usd_per_hr"], y=part["throughput_rps"], mode="markers", name=str(mode),
                                 marker={"color": COLORS.get(str(mode), "#555"), "size": 9}, text=part["fleet"],
                                 hovertemplate="%{text}"))
    fig.add_trace(go.Scatter(x=[chosen["cost_usd_per_hr"]], y=[chosen["throughput_rps"]], mode="markers",
                             name="chosen plan", marker={"symbol": "star", "size": 16, "color": "crimson"}))
    fig.update_layout(title="requests/s within a budget", xaxis_title="fleet cost, $/h", yaxis_title="requests/s",
                      height=380, margin={"l": 60, "r": 20, "t": 50, "b": 50}, legend={"orientation": "h", "y": -0.25})
    return fig


def schedule_figure(s: dict, schedule: pd.DataFrame) -> go.Figure:
    """A plan over periods: chips per pool stacked per period, the demand on a second axis."""
    fig = go.Figure()
    start = [p["start_h"] for p in s["periods"]]
    if len(schedule):
        lab = schedule["role"] + " " + schedule["chip"] + " tp" + schedule["tp"].astype(str)
        if schedule["model"].nunique() > 1:
            lab = schedule["model"] + ": " + lab
        grid = (schedule.assign(chips=schedule["instances"] * schedule["chips_per_instance"], pool=lab)
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
    return fig
