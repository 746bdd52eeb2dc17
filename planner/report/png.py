"""Plots as PNG files (matplotlib, headless): `planner pareto --plot` (a frontier) and `planner solve --plot` (the
schedule of a plan over periods: chips per pool over the periods, the demand overlaid, the committed base)."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: CI and servers have no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

LABELS = {
    "tok_s_per_user": "tokens/s per user (1/TPOT)",
    "cost_usd_per_mtok": "$ per million output tokens",
    "cost_usd_per_hr": "fleet cost, $/h",
    "throughput_rps": "throughput, requests/s",
    "budget_usd_per_hr": "budget, $/h",
}


def _png(fig, path: str | Path | None, rect: tuple | None = None) -> bytes:
    """The figure laid out (within `rect`, when a legend sits below it) as PNG bytes, closed afterwards, also
    written to `path` when given."""
    fig.tight_layout(**({"rect": rect} if rect else {}))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    png = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(png)
    return png


def plot_frontier(points: pd.DataFrame, x: str, y: str, title: str = "", path: str | Path | None = None) -> bytes:
    """Draw a frontier (one marker per point, labelled by its mode) and return PNG bytes; write `path` if given."""
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    df = points.dropna(subset=[x, y]).sort_values(x)
    ax.plot(df[x], df[y], "-", color="#888", lw=1, zorder=1)
    modes = df["mode"] if "mode" in df else pd.Series(["fleet"] * len(df), index=df.index)
    for mode, part in df.groupby(modes, sort=True):
        ax.scatter(part[x], part[y], label=str(mode), zorder=2, s=28)
    if len(df) and df[y].min() > 0 and df[y].max() / df[y].min() > 20:
        ax.set_yscale("log")  # frontiers span orders of magnitude near the fastest TPOT
    ax.set_xlabel(LABELS.get(x, x))
    ax.set_ylabel(LABELS.get(y, y))
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title.replace("$", r"\$"), fontsize=10)  # user text, not mathtext
    if len(df):
        ax.legend(fontsize=8, title="mode", title_fontsize=8)
    return _png(fig, path)


def pool_label(r) -> str:
    """`llama-3.1-70b decode h200-sxm tp4` (the model only when the plan has several)."""
    return f"{r['role']} {r['chip']} tp{int(r['tp'])}" + (f" pp{int(r['pp'])}" if int(r["pp"]) > 1 else "")


def plot_schedule(schedule: pd.DataFrame, summary: dict, path: str | Path | None = None) -> bytes:
    """Stacked chips per pool and period (step plot), demand (requests/s) overlaid; PNG bytes, written to `path`."""
    periods = summary["periods"]
    start = np.array([p["start_h"] for p in periods] + [periods[-1]["start_h"] + periods[-1]["hours"]])
    fig, ax = plt.subplots(figsize=(9, 5.6), dpi=110)
    many = len(summary["models"]) > 1
    if len(schedule):
        s = schedule.assign(chips=schedule["instances"] * schedule["chips_per_instance"],
                            pool=[(f"{m}: " if many else "") + pool_label(r)
                                  for m, r in zip(schedule["model"], schedule.to_dict("records"), strict=True)])
        grid = s.pivot_table(index="period", columns="pool", values="chips", aggfunc="sum", fill_value=0)
        grid = grid.reindex(range(len(periods)), fill_value=0)
        bottom = np.zeros(len(periods))
        colors = plt.get_cmap("tab20")
        for n, col in enumerate(grid.columns):
            y = grid[col].to_numpy(float)
            ax.bar(start[:-1], y, width=np.diff(start), bottom=bottom, align="edge", label=str(col),
                   color=colors(n % 20), edgecolor="white", linewidth=0.3)
            bottom += y
    base = sum(r["count"] for r in summary["reserved"]) + sum(r["count"] for r in summary["owned"])
    if base:
        ax.axhline(base, color="black", ls="--", lw=1, label=f"reserved + owned chips ({base})")
    ax.set_xlabel("hours from the start of the horizon")
    ax.set_ylabel("chips in use")
    ax.set_xlim(start[0], start[-1])
    ax2 = ax.twinx()
    rate = [p["rate_rps"] for p in periods]
    ax2.step(start, rate + rate[-1:], where="post", color="crimson", lw=1.8, label="demand, requests/s")
    ax2.set_ylabel("demand, requests/s", color="crimson")
    ax2.set_ylim(0, max(rate) * 1.15 if max(rate) > 0 else 1)
    ax.set_ylim(0, max(ax.get_ylim()[1], base) * 1.1)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    fig.legend(h1 + h2, l1 + l2, fontsize=7, loc="lower center", ncol=3, frameon=False)
    title = (f"{summary['scenario']}: ${summary['cost_usd_per_day']:,.0f} per day, "
             f"peak {summary['peak_chips']} chips")
    ax.set_title(title.replace("$", r"\$"), fontsize=10)
    return _png(fig, path, rect=(0, 0.06 + 0.028 * ((len(l1) + len(l2) + 2) // 3), 1, 1))


def plot_timeline(line: pd.DataFrame, title: str = "", path: str | Path | None = None) -> bytes:
    """`planner simulate --plot`: per pool group, requests waiting for their first token and requests in flight
    over simulated time (planner.serving.fleet_summary.timeline); PNG bytes, written to `path`."""
    groups = list(dict.fromkeys(line["group"])) if len(line) else []
    fig, axes = plt.subplots(max(len(groups), 1), 1, figsize=(8, 2.6 * max(len(groups), 1)), dpi=110, squeeze=False)
    for ax, name in zip(axes[:, 0], groups or [None], strict=True):
        if name is None:
            ax.text(0.5, 0.5, "no timeline (pools simulated apart)", ha="center", va="center")
            continue
        g = line[line["group"] == name]
        ax.plot(g["t_s"], g["in_flight"], color="#4c72b0", lw=1.2, label="in flight")
        ax.plot(g["t_s"], g["waiting"], color="crimson", lw=1.2, label="waiting for the first token")
        ax.set_title(str(name).replace("$", r"\$"), fontsize=8)
        ax.set_ylabel("requests")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("simulated seconds (an aggregated pool: one of its instances)")
    if title:
        fig.suptitle(title.replace("$", r"\$"), fontsize=10)
    return _png(fig, path)
