"""`planner report` as one self-contained HTML file a planner would forward: the answer first, then why, then the
pools, the frontiers and how sure. The plots are the browser UI's (planner.report.figures, plotly) with plotly.js
inlined once, so the file opens offline; tables carry only the columns a reader needs, formatted, with blanks
where a value does not apply.
"""

from __future__ import annotations

import html
import math

import pandas as pd
import plotly.io as pio

from planner.optimize.uncertainty import margin_text
from planner.report.figures import Exploration

CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#222;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}.headline{font-size:1.15em;margin:.2em 0 1em}
table{border-collapse:collapse;margin:.4em 0 1.2em;font-size:13px;max-width:100%}
th,td{border-bottom:1px solid #ddd;padding:4px 10px;text-align:right;vertical-align:top}
th{background:#f4f4f4}td:first-child,th:first-child,th.text{text-align:left}td.text{text-align:left;max-width:420px}
.note{color:#555;font-size:13px}.bad{color:#b00}
"""
FLEET_COLUMNS = {"role": "role", "chip": "chip", "instances": "instances", "chips_each": "chips each",
                 "parallelism": "parallelism", "ttft_ms": "TTFT ms", "tpot_ms": "TPOT ms", "utilization": "utilization",
                 "cost_usd_per_hr": "$/h"}


def _cell(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool):
        return "yes" if v else ""
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:,.3g}"
    return html.escape(str(v))


def table(df: pd.DataFrame, columns: dict[str, str] | None = None, text: tuple[str, ...] = ()) -> str:
    """An HTML table of the named columns (renamed), numbers formatted, NaN blank; `text` columns left-aligned."""
    columns = columns or {c: c for c in df.columns}
    cols = [c for c in columns if c in df]
    head = "".join(f"<th class='{'text' if c in text else ''}'>{html.escape(columns[c])}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td class='{'text' if c in text else ''}'>{_cell(r[c])}</td>" for c in cols)
                   + "</tr>" for r in df[cols].to_dict("records"))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pairs(rows: list[tuple[str, str]]) -> str:
    return "<table>" + "".join(f"<tr><th>{html.escape(k)}</th><td class='text'>{html.escape(v)}</td></tr>"
                               for k, v in rows) + "</table>"


def _money(v) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"${v:,.2f}"


def _page(title: str, body: list[str]) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>" + "".join(body) + "</body></html>")


class _Figures:
    """Plotly figures as HTML divs; plotly.js is inlined with the first one only."""

    def __init__(self):
        self.first = True

    def __call__(self, fig) -> str:
        out = pio.to_html(fig, full_html=False, include_plotlyjs=self.first, config={"displaylogo": False})
        self.first = False
        return out


def report_html(title: str, ex: Exploration) -> str:
    """The report of one solved scenario (planner.ui.compute.explore's Exploration)."""
    s = ex.summary
    fig = _Figures()
    status = {"optimal": "optimal", "within-gap": f"within a {100 * (s['mip_gap'] or 0):.2g}% MIP gap"}.get(
        s["status"], f"{s['status']}: not proven optimal")
    if s["objective"] == "max-throughput":
        head = (f"The most traffic within {s['limits']}: {s['throughput_rps']:,.3g} requests/s for "
                f"{_money(s['cost_usd_per_hr'])}/h on {s['num_chips']:,} chips, {s['architecture']} ({status}).")
    else:
        head = (f"The cheapest fleet for {s['throughput_rps']:,.3g} requests/s: {_money(s['cost_usd_per_hr'])}/h on "
                f"{s['num_chips']:,} chips, {s['architecture']} ({status}).")
    tpot = s.get("tpot_ms")
    slo = s["slo"]
    rows = [("cost", f"{_money(s['cost_usd_per_hr'])}/h"),
            ("$ per million output tokens", _money(s.get("cost_usd_per_mtok"))),
            ("chips", f"{s['num_chips']:,}"), ("power", f"{s['power_kw']:,.1f} kW"),
            (f"TTFT p{s['ttft_percentile']:g}", f"{s['ttft_ms']:,.0f} ms (SLO {_cell(slo.get('ttft_ms'))} ms)"),
            ("TPOT", f"{tpot:.1f} ms (SLO {_cell(slo.get('tpot_ms'))} ms)" if tpot else "-"),
            ("planning margin", margin_text(s["margin"]))]
    body = [f"<p class='headline'>{html.escape(head)}</p>", _pairs(rows)]
    if s.get("why"):
        body += ["<h2>Why this architecture</h2>", f"<p>{html.escape(str(s['why']))}</p>"]
    if len(ex.alternatives):
        body.append(table(ex.alternatives, {"architecture": "forced architecture", "status": "status",
                                            "cost_usd_per_hr": "$/h", "delta": "more than the plan, $/h"}, ("architecture",)))
    if s.get("classes"):
        body += ["<h2>Traffic classes</h2>", table(pd.DataFrame(s["classes"]), {
            "class": "class", "arrival_rate_rps": "requests/s", "isl": "ISL", "osl": "OSL", "architecture": "architecture",
            "cost_usd_per_hr": "$/h", "num_chips": "chips", "ttft_ms": "TTFT ms", "tpot_ms": "TPOT ms"}, ("architecture",))]
    body += ["<h2>Pools</h2>", table(ex.fleet, FLEET_COLUMNS, ("parallelism",))]
    if ex.constraints is not None and len(ex.constraints):
        binding = ex.constraints[ex.constraints["binding"]]
        body.append("<p>Binding constraints: " + (html.escape(", ".join(binding["constraint"])) or "none") +
                    f" (of {len(ex.constraints)} rows; the demand drives the cost where only the rate binds).</p>")
    if "frontier_cost" in ex.figures:
        body += ["<h2>Frontiers: one curve per architecture, the plan a star</h2>", fig(ex.figures["frontier_cost"]),
                 fig(ex.figures["frontier_chip"])]
    if "frontier_budget" in ex.figures:
        body += ["<h2>Requests/s within a budget</h2>", fig(ex.figures["frontier_budget"])]
    if "single_chip" in ex.figures:
        body += ["<h2>Heterogeneous against one chip type</h2>", fig(ex.figures["single_chip"]),
                 table(ex.single_chip, {"chips": "chips", "cost_usd_per_hr": "$/h", "num_chips": "chips used",
                                        "architecture": "architecture"}, ("chips", "architecture"))]
    if "latency" in ex.figures:
        body += ["<h2>The plan in simulation</h2>", fig(ex.figures["latency"])]
    body += ["<h2>How sure</h2>", table(ex.error_bands, {"role": "role", "chip": "chip", "band": "error band of the "
                                                         "engine on comparable published measurements"}, ("band",))]
    body += [f"<p class='note'>{html.escape(n)}</p>" for n in ex.notes]
    body += [f"<p class='note'>Queueing: {html.escape(str(s.get('queueing', '')))}. Engine: a roofline with sustained "
             "efficiencies; its measured error is in docs/validation.md and docs/serving.md.</p>"]
    return _page(title, body)


def report_periods_html(title: str, s: dict, schedule_fig) -> str:
    """The report of a plan over periods (planner.optimize.schedule.plan_periods's summary)."""
    sav = s.get("savings") or {}
    head = (f"{_money(s['cost_usd_per_day'])} per day ({_money(s['cost_usd_per_month'])} per month) for "
            f"{', '.join(s['models'])} over {s['periods_count']} periods of {s['period_hours']:g} h, status {s['status']}.")
    rows = [("$ per million input / output tokens", f"{_money(s['cost_usd_per_mtok_input'])} / "
                                                    f"{_money(s['cost_usd_per_mtok_output'])}"),
            ("reserved chips", ", ".join(f"{r['count']} {r['chip']}" for r in s["reserved"]) or "none"),
            ("owned chips", ", ".join(f"{r['count']} {r['chip']}" for r in s["owned"]) or "none"),
            ("peak chips", f"{s['peak_chips']:,}"),
            ("static fleet for the peak", f"{_money(sav.get('static_peak_usd_per_day'))} per day"),
            ("everything on demand", f"{_money(sav.get('all_on_demand_usd_per_day'))} per day")]
    per = pd.DataFrame([{"period": p["period"], "start_h": p["start_h"], "rate_rps": p["rate_rps"],
                         "num_chips": p["num_chips"], "cost_usd_per_hr": p["cost_usd_per_hr"], "ttft_ms": p["ttft_ms"],
                         "tpot_ms": p["tpot_ms"]} for p in s["periods"]])
    body = [f"<p class='headline'>{html.escape(head)}</p>", _pairs(rows), _Figures()(schedule_fig),
            "<h2>Periods</h2>", table(per, {"period": "period", "start_h": "start, h", "rate_rps": "requests/s",
                                            "num_chips": "chips", "cost_usd_per_hr": "$/h", "ttft_ms": "TTFT ms",
                                            "tpot_ms": "TPOT ms"})]
    body += [f"<p class='note'>{html.escape(n)}</p>" for n in s.get("notes", []) + s.get("approximations", [])]
    return _page(title, body)
