"""`planner solve` (cheapest fleet / most throughput) and `planner pareto` (epsilon-constraint frontiers).

The optimizer modules (Pyomo, HiGHS) are imported inside the commands so other commands start fast.
"""

from __future__ import annotations

import os

import click
import pandas as pd
from rich.console import Console
from rich.markup import escape

from planner.errors import PlannerError
from planner.optimize.uncertainty import band_text, margin_text

from .common import (
    FiniteFloatRange,
    catalog_option,
    echo_json,
    fmt_num,
    format_option,
    make_console,
    print_table,
)

margin_option = click.option(
    "--margin", "margin_pct", type=FiniteFloatRange(0, 500), default=None,
    help="Planning margin in PERCENT for every metric and chip (10 = capacities / 1.10, latencies x 1.10) "
         "[default: the scenario's `margin` (a fraction), else the held-out margins per metric and chip family].",
)
time_limit_option = click.option("--time-limit", "time_limit_s", type=FiniteFloatRange(min=0.01), default=None,
                                 help="Solver time limit per MILP, seconds [default: scenario solver.time_limit_s].")
gap_option = click.option("--mip-gap", "mip_gap", type=FiniteFloatRange(0, 1, max_open=True), default=None,
                          help="Relative MIP gap at which HiGHS stops [default: scenario solver.mip_gap].")


def _pool_view(pools: pd.DataFrame) -> pd.DataFrame:
    """Compact columns: `2x4` = 2 instances of 4 chips; `tp2 pp2 b64` = parallelism and batch (`tbo`: two-batch
    overlap)."""
    config = [
        f"tp{r.tp}" + (f" ep{r.ep}" if r.ep > 1 else "") + (f" pp{r.pp}" if r.pp > 1 else "")
        + (f" dp{r.dp}" if r.dp > 1 else "") + f" b{r.batch}"
        + (f" spec{int(getattr(r, 'spec_tokens', 0))}" if getattr(r, "spec_tokens", 0) else "")
        + (" tbo" if getattr(r, "tbo", False) else "")
        + (f" {r.afd_level}" if getattr(r, "afd_level", "") else "")
        + (f" draft@{r.draft_level}" if getattr(r, "draft_level", "") else "")
        for r in pools.itertuples(index=False)
    ]
    multi = "class" in pools and pools["class"].nunique() > 1
    role = pools["class"] + "/" + pools["role"] if multi else pools["role"]
    return pd.DataFrame({
        "role": role, "chip": pools["chip"], "instances": [f"{i}x{c}" for i, c in
                                                                    zip(pools["instances"], pools["chips_per_instance"], strict=True)],
        "config": config, "ttft_ms": pools["ttft_ms"], "tpot_ms": pools["tpot_ms"], "cap_rps": pools["capacity_rps"],
        "util/cap": [f"{u:.2f}/{c:.2f}" for u, c in zip(pools["utilization"], pools["max_utilization"], strict=True)],
        "usd_hr": pools["cost_usd_per_hr"],
    })


def _console() -> Console:
    """The terminal's width, or wide enough that tables are never truncated in pipes and files."""
    return make_console()


EPSILON_TEXT = {"tpot": "TPOT bound, ms", "throughput": "rate floor, requests/s", "budget": "budget, $/h"}


def _margin(margin_pct: float | None) -> float | None:
    return None if margin_pct is None else margin_pct / 100.0


def _status_line(status: str, gap) -> str:
    if status == "optimal":
        return f"[green]optimal[/] (gap {fmt_num(gap)})"
    if status == "within-gap":
        return f"[yellow]within the requested MIP gap[/] (gap {fmt_num(gap)}; not proven optimal)"
    return f"[red]{status}[/] (gap {fmt_num(gap)}): NOT proven optimal"


def _print_solve(summary: dict, pools: pd.DataFrame, cons: pd.DataFrame) -> None:
    con = _console()
    s = summary
    con.print(f"[bold]{escape(s['scenario'])}[/]: {escape(s['model'])}, objective {s['objective']}, "
              f"status {_status_line(s['status'], s['mip_gap'])}")
    slo = s["slo"]
    rows = [
        ("mode", s["mode"]),
        ("architecture", s.get("architecture", s["mode"])),
        ("cost, $/h", s["cost_usd_per_hr"]),
        ("chips", s["num_chips"]),
        ("throughput, requests/s", s["throughput_rps"]),
        ("  via aggregated / disaggregated / AFD", f"{fmt_num(s['throughput_aggregated_rps'])} / "
         f"{fmt_num(s['throughput_disaggregated_rps'])} / {fmt_num(s.get('throughput_afd_rps', 0.0))}"),
        ("output tokens/s", s["output_tok_s"]),
        ("cost per million output tokens, $", s["cost_usd_per_mtok"]),
        (f"TTFT p{fmt_num(s['ttft_percentile'])}, ms (SLO {fmt_num(slo['ttft_ms'])})", s["ttft_ms"]),
        (f"TPOT, ms (SLO {fmt_num(slo['tpot_ms'])})", s["tpot_ms"]),
        ("tokens/s per user", s["tok_s_per_user"]),
        ("power, kW", s["power_kw"]),
        ("margin", margin_text(s["margin"])),
        ("limits", s["limits"]),
    ]
    print_table(pd.DataFrame({"metric": [r[0] for r in rows], "value": [fmt_num(r[1]) for r in rows]}), console=con)
    if s.get("classes"):
        cl = pd.DataFrame(s["classes"])
        print_table(cl[["class", "arrival_rate_rps", "isl", "osl", "architecture", "cost_usd_per_hr", "num_chips", "ttft_ms",
                        "tpot_ms"]], title="traffic classes (each instance serves one class)", console=con)
    print_table(_pool_view(pools), title="pools: instances x chips each; ttft_ms = p-quantile incl. queueing and KV "
                "transfer; cap_rps per pool; util/cap = load / capacity and its queueing cap", console=con)
    unused = (cons["family"] == "class_sharing") & (cons["lhs"] == 0) & (cons["rhs"] == 0)  # candidates not picked
    shown = cons[~unused]
    view = shown.assign(binds=shown["binding"].map({True: "BINDS", False: ""}))[["constraint", "lhs", "sense", "rhs", "slack", "binds"]]
    print_table(view, title="constraints", console=con)
    binding = s["binding_constraints"] + s["tight_slos"]
    con.print("binding: " + (", ".join(binding) if binding else "none (the demand drives the cost)"))
    if s.get("why"):
        con.print(f"why: {escape(str(s['why']))}")
    for note in s.get("notes", []):
        con.print(f"note: {escape(str(note))}")
    for warning in s.get("warnings", []):
        con.print(f"[yellow]warning:[/] {escape(warning)}")
    for band in s.get("error_band", []):
        con.print(escape(f"error band, {band['role']} on {band['chip']}: {band_text(band)}"))
    kv = s["kv_transfer"]
    gb = kv["gb_per_request"]
    gb_text = f"{gb:.3g} GB/request" if not isinstance(gb, dict) else ", ".join(f"{k} {v:.3g}" for k, v in gb.items()) + " GB/request"
    con.print(
        f"[dim]Latencies and capacities include the planning margin (capacities / (1 + capacity margin), TPOT and "
        f"TTFT x (1 + their margins)). Queueing: {s['queueing']}; "
        f"utilization caps keep the p{fmt_num(s['ttft_percentile'])} TTFT within the SLO. KV transfer "
        f"{gb_text}, {'overlapped with prefill' if kv['overlapped'] else 'added to TTFT (not overlapped)'}.[/]"
    )


@click.command("solve")
@click.argument("scenario_path", metavar="[SCENARIO.yaml]", type=click.Path(dir_okay=False), required=False)
@click.option("--model", "model_ref", default=None, help="One-line form, no file: preset id or config.json path.")
@click.option("--chips", default=None, help="One-line form: chips on offer, ID[:PRICE[:COUNT]],... "
                                            "(e.g. h100-sxm:2.5,h200-sxm).")
@click.option("--rate", "rate_rps", type=FiniteFloatRange(min=0, min_open=True), default=None,
              help="One-line form: requests/s to serve.")
@click.option("--isl", type=click.IntRange(1), default=None, help="One-line form: prompt tokens per request.")
@click.option("--osl", type=click.IntRange(1), default=None, help="One-line form: output tokens per request.")
@click.option("--ttft", "ttft_ms", type=FiniteFloatRange(min=0, min_open=True), default=None,
              help="One-line form: TTFT SLO, ms (p90).")
@click.option("--tpot", "tpot_ms", type=FiniteFloatRange(min=0, min_open=True), default=None,
              help="One-line form: TPOT SLO, ms.")
@click.option("--weights", type=click.Choice(["bf16", "fp8", "fp4", "w4a16"]), default=None,
              help="One-line form: weights dtype [default: the checkpoint's quantization, else bf16].")
@click.option("--framework", type=click.Choice(["auto", "trtllm", "vllm", "sglang"]), default=None,
              help="One-line form: serving framework (deploy.framework) [default: auto].")
@click.option("--objective", type=click.Choice(["min-cost", "max-throughput"]), default=None,
              help="Override the scenario's objective.")
@margin_option
@time_limit_option
@gap_option
@click.option("--top", "top_n", default=1, show_default=True, type=click.IntRange(1, 50),
              help="Also the next best fleets, each with a different set of configurations (N in all).")
@click.option("--verify", is_flag=True,
              help="Simulate the chosen fleet with the serving model; while it breaks an SLO, plan again under a "
                   "tighter one (up to 3 times) and report planned and simulated figures side by side.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Plans over periods (`demand:`): draw the schedule, chips per pool and the demand, to this PNG.")
@click.option("--export", "export_target", type=click.Choice(["vllm", "sglang", "trtllm", "dynamo", "llm-d"]), default=None,
              help="Also write the plan as a deployment for this target (as `planner export`), to --export-dir.")
@click.option("--export-dir", type=click.Path(file_okay=False), default="deployment", show_default=True,
              help="Folder for --export.")
@catalog_option
@format_option()
def solve_cmd(scenario_path, model_ref, chips, rate_rps, isl, osl, ttft_ms, tpot_ms, weights, framework, objective, margin_pct,
              time_limit_s, mip_gap, top_n, verify, plot_path, export_target, export_dir, catalogs, fmt):
    """Cheapest fleet for the SLO (min-cost) or the most requests/s within the limits (max-throughput).

    From a scenario file, or in one line without one:
    `planner solve --model llama-3.1-70b --chips h100-sxm:2.5,h200-sxm --rate 20 --isl 2048 --osl 256 --ttft 1000
    --tpot 30`. Exit status 1 when no fleet can meet the scenario; the message names the SLO or limit that binds
    and the nearest feasible value.
    """
    from planner.inputs.scenario import load_scenario, scenario_from_flags
    from planner.optimize.solve import solve_scenario

    one_line = {"--model": model_ref, "--chips": chips, "--rate": rate_rps, "--isl": isl, "--osl": osl,
                "--ttft": ttft_ms, "--tpot": tpot_ms, "--weights": weights, "--framework": framework}
    if scenario_path is not None:
        if given := [k for k, v in one_line.items() if v is not None]:
            raise PlannerError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for the one-line form; with a "
                               "scenario file, edit the file",
                               field="scenario", hint="give either SCENARIO.yaml or --model/--chips/--isl/--osl/...")
        sc = load_scenario(scenario_path, catalogs)
    else:
        if missing := [k for k in ("--model", "--chips", "--isl", "--osl") if one_line[k] is None]:
            raise PlannerError(f"give a scenario file, or the one-line form with {', '.join(missing)}",
                               field="scenario", hint="planner solve --model M --chips h100-sxm:2.5 --rate 20 "
                                                      "--isl 2048 --osl 256 --ttft 1000 --tpot 30")
        if rate_rps is None and objective != "max-throughput":
            raise PlannerError("the one-line form needs the requests/s to serve", field="--rate",
                               hint="e.g. --rate 20, or --objective max-throughput with a count on every chip "
                                    "(--chips h100-sxm:2.5:32)")
        sc = scenario_from_flags(model_ref, chips, rate_rps=rate_rps, isl=isl, osl=osl, ttft_ms=ttft_ms,
                                 tpot_ms=tpot_ms, weights=weights, catalogs=catalogs, framework=framework,
                                 objective=objective)
    if sc.plans_periods and export_target:
        raise PlannerError("a plan over periods has no single deployment to export", field="--export",
                           hint="export one period's plan: solve the scenario without `demand:` and --export")
    if sc.plans_periods:
        _solve_periods(sc, catalogs=catalogs, time_limit_s=time_limit_s, mip_gap=mip_gap, margin=_margin(margin_pct),
                       objective=objective, top_n=top_n, verify=verify, plot_path=plot_path, fmt=fmt)
        return
    if plot_path:
        raise PlannerError("--plot draws the schedule of a plan over periods", field="--plot",
                           hint="add a `demand:` block to the scenario, or use `planner pareto --plot`")
    kw = dict(catalogs=catalogs, time_limit_s=time_limit_s, mip_gap=mip_gap, alternatives=True,
              margin=_margin(margin_pct), objective=objective, top=top_n)
    if verify:
        from planner.optimize.verify import solve_verified

        res = solve_verified(sc, **kw)
    else:
        res = solve_scenario(sc, **kw)
    written = []
    if export_target:
        from planner.export.write import write_export

        written = write_export(res.summary, export_target, export_dir)
    if fmt == "json":
        out = dict(res.summary)
        out["constraints"] = res.constraints.to_dict(orient="records")
        if written:
            out["export"] = [str(f) for f in written]
        echo_json(out)
        return
    _print_solve(res.summary, res.pools, res.constraints)
    for f in written:
        click.echo(f"wrote {f}")
    if res.summary.get("top"):
        cols = ["rank", "status", "cost_usd_per_hr", "throughput_rps", "num_chips", "architecture", "fleet", "delta"]
        print_table(pd.DataFrame(res.summary["top"])[cols], title="the best distinct fleets", console=_console())
    if verify:
        _print_verification(res.summary["verification"])


def _solve_periods(sc, *, catalogs, time_limit_s, mip_gap, margin, objective, top_n, verify, plot_path, fmt) -> None:
    """`planner solve` on a scenario with demand over time or several models: the schedule."""
    from planner.optimize.schedule import plan_periods

    if objective == "max-throughput":
        raise PlannerError("plans over periods are planned at least cost", field="--objective",
                           hint="leave out --objective max-throughput")
    if top_n > 1:
        raise PlannerError("--top is for plans of one period", field="--top", hint="leave out --top")
    plan = plan_periods(sc, catalogs=catalogs, time_limit_s=time_limit_s, mip_gap=mip_gap, margin=margin,
                        workers=os.cpu_count() or 1)
    if verify:
        from planner.optimize.verify_periods import verify_schedule

        click.echo("simulating every period ...", err=True)
        plan.summary["verification"] = verify_schedule(sc, plan, catalogs=catalogs)
    if fmt == "json":
        echo_json(plan.summary)
    else:
        from .schedule import print_schedule

        print_schedule(plan.summary)
    if plot_path:
        from planner.report.png import plot_schedule  # matplotlib only when asked for

        plot_schedule(plan.schedule, plan.summary, plot_path)
        click.echo(f"wrote {plot_path}", err=True)


def _planning_text(p: dict) -> str:
    """The SLOs a round planned under: one pair, or one per traffic class."""
    if "ttft_ms" in p:
        return f"TTFT {fmt_num(p['ttft_ms'])}, TPOT {fmt_num(p['tpot_ms'])}"
    return "; ".join(f"{name}: TTFT {fmt_num(c['ttft_ms'])}, TPOT {fmt_num(c['tpot_ms'])}" for name, c in p.items())


def _print_verification(v: dict) -> None:
    con = _console()
    if v["rounds"]:
        print_table(pd.DataFrame(v["rounds"]).drop(columns="classes", errors="ignore").assign(
            planning_slo=lambda d: d["planning_slo"].map(_planning_text)),
            title="verification: planned vs simulated (serving model; TTFT at the SLO's percentile, TPOT median)",
            console=con)
    verdict = "holds in simulation" if v["verified"] else "NOT verified"
    change = (f"; the loop changed the plan (+{fmt_num(v['extra_cost_usd_per_hr'])} $/h)" if v["changed_plan"] else "")
    con.print(escape(f"verification: the plan {verdict}{change}" + (f"; {v['note']}" if v["note"] else "")))


@click.command("pareto")
@click.argument("scenario_path", metavar="SCENARIO.yaml", type=click.Path(dir_okay=False))
@click.option("--sweep", type=click.Choice(["tpot", "throughput", "budget"]), default="tpot", show_default=True,
              help="tpot: cost per million tokens vs tokens/s per user; throughput: cost vs requests/s; "
                   "budget: requests/s vs $/h budget.")
@click.option("--points", type=click.IntRange(1, 500), default=20, show_default=True, help="Epsilon values to solve.")
@margin_option
@time_limit_option
@gap_option
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Also draw the frontier to this PNG file.")
@catalog_option
@format_option(("table", "json", "csv"))
def pareto_cmd(scenario_path, sweep, points, margin_pct, time_limit_s, mip_gap, plot_path, catalogs, fmt):
    """Pareto frontier by epsilon-constraint runs on one persistent MILP; one row per frontier point."""
    from planner.analyses.pareto import pareto
    from planner.inputs.scenario import load_scenario

    sc = load_scenario(scenario_path, catalogs)
    res = pareto(sc, sweep=sweep, points=points, catalogs=catalogs, margin=_margin(margin_pct),
                 time_limit_s=time_limit_s, mip_gap=mip_gap, workers=os.cpu_count() or 1)
    if plot_path:
        from planner.report.png import plot_frontier  # matplotlib only when asked for

        plot_frontier(res.points, res.summary["x"], res.summary["y"], title=f"{sc.name}: {sweep} sweep", path=plot_path)
        click.echo(f"wrote {plot_path}", err=True)
    if fmt == "json":
        echo_json({**res.summary, "points": res.points.to_dict(orient="records")})
        return
    flat = res.points.drop(columns=["pools"])
    if fmt == "csv":
        click.echo(flat.to_csv(index=False), nl=False)
        return
    con = _console()
    s = res.summary
    con.print(f"[bold]{escape(s['scenario'])}[/]: {s['sweep']} sweep, {s['frontier_points']} frontier points of "
              f"{s['points_solved']} solved ({', '.join(f'{k} {v}' for k, v in s['statuses'].items())}), "
              f"margin {margin_text(s['margin'])}, {s['total_s']:.2f} s")
    for warning in s.get("warnings", []):
        con.print(f"[yellow]warning:[/] {escape(warning)}")
    cols = ["epsilon", "status", s["x"], s["y"], "cost_usd_per_hr", "tpot_ms", "ttft_ms", "num_chips"]
    view = flat[list(dict.fromkeys(cols))].rename(columns={
        "epsilon": "eps", "throughput_rps": "rps", "cost_usd_per_hr": "usd_hr", "cost_usd_per_mtok": "usd_mtok",
        "tok_s_per_user": "tok_s_user", "num_chips": "chips"})
    view.insert(0, "#", range(1, len(view) + 1))
    print_table(view, title=f"epsilon = {EPSILON_TEXT[s['sweep']]}", console=con)
    for i, (mode, fleet) in enumerate(zip(flat["mode"], flat["fleet"], strict=True), 1):
        con.print(escape(f"#{i} ({mode}): {fleet}"))


commands = [solve_cmd, pareto_cmd]
