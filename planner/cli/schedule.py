"""Terminal output of a plan over periods (`planner solve` on a scenario with `demand:` or `models:`)."""

from __future__ import annotations

import pandas as pd
from rich.markup import escape

from .common import fmt_num, make_console, print_table


def fleet_words(pools: list[dict], many_models: bool) -> str:
    """`2x4 decode h200-sxm tp4 + 1x8 prefill h100-sxm tp8` (instances x chips each)."""
    return " + ".join((f"{p['model']}: " if many_models else "") + f"{p['instances']}x{p['chips_per_instance']} "
                      f"{p['role']} {p['chip']} tp{p['tp']}" + (f" pp{p['pp']}" if p["pp"] > 1 else "") for p in pools)


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def print_schedule(summary: dict) -> None:
    con = make_console()
    s = summary
    gap = s["mip_gap"]
    status = {"optimal": "[green]optimal[/]", "within-gap": f"[yellow]within the MIP gap[/] ({fmt_num(gap)})"}.get(
        s["status"], f"[red]{s['status']}[/] (gap {fmt_num(gap)}): NOT proven optimal, up to that much dearer than the best")
    con.print(f"[bold]{escape(s['scenario'])}[/]: {escape(', '.join(s['models']))}; {s['periods_count']} periods of "
              f"{fmt_num(s['period_hours'])} h; status {status}")
    sav = s.get("savings") or {}
    rows = [
        ("cost per day, $", s["cost_usd_per_day"]), ("cost per month, $", s["cost_usd_per_month"]),
        ("average cost, $/h", s["cost_usd_per_hr_avg"]),
        ("$ per million input tokens", s["cost_usd_per_mtok_input"]),
        ("$ per million output tokens", s["cost_usd_per_mtok_output"]),
        ("reserved chips", ", ".join(f"{r['count']} {r['chip']}" for r in s["reserved"]) or "none"),
        ("owned chips", ", ".join(f"{r['count']} {r['chip']}" for r in s["owned"]) or "none"),
        ("reserved commitment over the term, $", s["reserved_commitment_usd"] if s["reserved"] else None),
        ("peak chips", s["peak_chips"]),
        (f"static fleet for the peak, $/day ({sav.get('static_peak_status', '-')})", sav.get("static_peak_usd_per_day")),
        ("  saved", _pct(sav.get("vs_static_peak"))),
        (f"all on-demand, $/day ({sav.get('all_on_demand_status', '-')})", sav.get("all_on_demand_usd_per_day")),
        ("  saved", _pct(sav.get("vs_all_on_demand"))),
    ]
    print_table(pd.DataFrame({"metric": [r[0] for r in rows], "value": [fmt_num(r[1]) for r in rows]}), console=con)
    many = len(s["models"]) > 1
    per = pd.DataFrame([{
        "period": p["period"], "start_h": p["start_h"], "rps": p["rate_rps"], "chips": p["num_chips"],
        "res/own/od/spot": "/".join(fmt_num(p["chips_by_pricing"][t]) for t in ("reserved", "owned", "on_demand", "spot")),
        "usd_hr": p["cost_usd_per_hr"], "ttft_ms": p["ttft_ms"], "tpot_ms": p["tpot_ms"],
        "fleet": fleet_words(p["pools"], many)} for p in s["periods"]])
    print_table(per, title="schedule: chips in use per period (reserved/owned/on-demand/spot); TTFT = p-quantile at "
                "that period's load", console=con)
    for src in s["demand_source"].items():
        con.print(escape(f"demand, {src[0]}: {src[1]}"))
    for note in s.get("notes", []):
        con.print(f"note: {escape(str(note))}")
    con.print("[dim]" + escape("approximations: " + "; ".join(s["approximations"])) + "[/]")
    if s.get("verification"):
        print_verification(s["verification"])


def print_verification(v: dict) -> None:
    con = make_console()
    if v["periods"]:
        df = pd.DataFrame(v["periods"])
        cols = ["period", "model", "rate_rps", "planned_ttft_ms", "ttft_ms", "planned_tpot_ms", "tpot_ms_p50",
                "slo_attainment"]
        print_table(df[cols].rename(columns={"ttft_ms": "sim_ttft_ms", "tpot_ms_p50": "sim_tpot_ms"}),
                    title="verification: planned vs simulated per period (TTFT at the SLO's percentile, TPOT median)",
                    console=con)
    verdict = ("holds in simulation in every period" if v["holds"] else
               f"NOT verified: periods {', '.join(map(str, v['failing_periods']))} break an SLO in simulation"
               if v["failing_periods"] else "NOT verified: nothing simulated")
    con.print(escape(f"verification: the schedule {verdict} ({v['method']})"))
    for note in v["notes"]:
        con.print(f"note: {escape(note)}")
