"""Plots and a self-contained HTML report: the cheapest fleet, its binding constraints, and the Pareto
frontiers, for people who read results in a browser rather than a terminal."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: CI and servers have no display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from planner.optimize.uncertainty import margin_text  # noqa: E402

LABELS = {
    "tok_s_per_user": "tokens/s per user (1/TPOT)",
    "cost_usd_per_mtok": "$ per million output tokens",
    "cost_usd_per_hr": "fleet cost, $/h",
    "throughput_rps": "throughput, requests/s",
    "budget_usd_per_hr": "budget, $/h",
}


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
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    png = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(png)
    return png


def _table_html(df: pd.DataFrame) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:,.4g}" if abs(v) < 1000 else f"{v:,.0f}"
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = "".join("<tr>" + "".join(f"<td>{fmt(v)}</td>" for v in r) + "</tr>" for r in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f2f2f2}
td:first-child,th:first-child{text-align:left}.note{color:#666;font-size:13px}
"""


def render_html(
    title: str,
    summary: Mapping,
    pools: pd.DataFrame,
    constraints: pd.DataFrame | None,
    frontiers: Mapping[str, tuple[pd.DataFrame, str, str]],
    notes: list[str],
) -> str:
    """The report as one HTML string (plots embedded as base64 PNG, no external files)."""
    keys = ["status", "mip_gap", "mode", "architecture", "cost_usd_per_hr", "num_chips", "throughput_rps", "ttft_ms", "tpot_ms",
            "power_kw", "margin"]
    shown = {k: (margin_text(summary[k]) if k == "margin" else summary[k]) for k in keys if k in summary}
    summ = pd.DataFrame({"metric": list(shown), "value": list(shown.values())})
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
             "<h2>Cheapest fleet</h2>", _table_html(summ)]
    if summary.get("why"):
        parts += ["<h3>Why this architecture</h3>", f"<p>{html.escape(str(summary['why']))}</p>"]
    if summary.get("alternatives"):
        alts = pd.DataFrame(summary["alternatives"])
        parts += ["<h3>Alternatives (each forced, same limits)</h3>", _table_html(alts)]
    if summary.get("classes"):
        cls = pd.DataFrame(summary["classes"])
        cols = [c for c in ("class", "arrival_rate_rps", "throughput_rps", "isl", "osl", "architecture", "cost_usd_per_hr",
                            "num_chips", "ttft_ms", "tpot_ms") if c in cls]
        parts += ["<h3>Traffic classes</h3>", _table_html(cls[cols])]
    parts += ["<h3>Pools</h3>", _table_html(pools)]
    if constraints is not None and len(constraints):
        parts += ["<h3>Constraints (binding ones marked)</h3>", _table_html(constraints)]
    for name, (points, x, y) in frontiers.items():
        png = base64.b64encode(plot_frontier(points, x, y, title=name)).decode()
        cols = [c for c in points.columns if c != "pools"]
        parts += [f"<h2>Pareto frontier: {html.escape(name)}</h2>", f"<img alt='{html.escape(name)}' src='data:image/png;base64,{png}'>",
                  _table_html(points[cols])]
    parts += ["<h2>How sure</h2>"] + [f"<p class='note'>{html.escape(n)}</p>" for n in notes]
    parts.append("</body></html>")
    return "".join(parts)
