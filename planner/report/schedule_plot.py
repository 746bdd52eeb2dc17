"""The schedule of a plan over periods as a picture: chips per pool (stacked) over the periods, the demand on a
second axis, and the reserved and owned base as a line."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: CI and servers have no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


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
    fig.tight_layout(rect=(0, 0.06 + 0.028 * ((len(l1) + len(l2) + 2) // 3), 1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    png = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(png)
    return png
