"""`planner simulate`: solve a scenario (or take a saved plan's pools) and simulate the fleet with the serving
model under open-loop traffic: percentiles, SLO attainment, goodput, beside the planner's own figures."""

from __future__ import annotations

import click
import pandas as pd

from planner.errors import PlannerError

from .common import (
    FiniteFloatRange,
    catalog_option,
    echo_json,
    fmt_num,
    format_option,
    make_console,
    print_table,
)


@click.command("simulate")
@click.argument("scenario_path", metavar="SCENARIO.yaml", type=click.Path(dir_okay=False))
@click.option("--plan", "plan_path", type=click.Path(dir_okay=False), default=None,
              help="A plan as `planner solve --format json` wrote it (its pools are simulated; default: solve now).")
@click.option("--requests", default=4000, show_default=True, type=click.IntRange(100, 200_000),
              help="Requests simulated over the fleet (split over the pool groups by their load).")
@click.option("--duration", "duration_s", type=FiniteFloatRange(1, 86400), default=None,
              help="Simulated seconds per pool group instead of --requests (an aggregated instance's share of the "
                   "traffic, the P/D pools' all).")
@click.option("--arrival-cv", default=1.0, show_default=True, type=FiniteFloatRange(0.1, 10),
              help="Coefficient of variation of the gaps between arrivals (1: Poisson; > 1: bursty).")
@click.option("--trace", "trace_path", type=click.Path(dir_okay=False), default=None,
              help="Replay a request trace (Azure LLM inference trace: TIMESTAMP,ContextTokens,GeneratedTokens; or "
                   "BurstGPT) instead of synthetic arrivals: its own rate, bursts and lengths.")
@click.option("--router", type=click.Choice(["random", "round-robin", "least-outstanding", "power-of-two"]),
              default="random", show_default=True,
              help="How an aggregated pool spreads requests over its instances (least-outstanding and power-of-two "
                   "look at the instances' load: the pool's engines are simulated together).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**31 - 1))
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Draw the queue over time (requests waiting for their first token, in flight) per pool group, "
                   "to this PNG.")
@catalog_option
@format_option()
def simulate_cmd(scenario_path, plan_path, requests, duration_s, arrival_cv, trace_path, router, seed, plot_path,
                 catalogs, fmt):
    """Simulate the planned fleet: does it meet its SLOs under open-loop traffic?"""
    from planner.inputs.reader import load_json
    from planner.inputs.scenario import load_scenario
    from planner.serving.fleet import simulate_fleet

    sc = load_scenario(scenario_path, catalogs)
    if plan_path:
        plan = load_json(plan_path, field="plan")
        if not isinstance(plan, dict) or not isinstance(plan.get("pools"), list):
            raise PlannerError(f"{plan_path} has no `pools` list", field="plan",
                               hint="give the JSON that `planner solve SCENARIO --format json` writes")
        pools = pd.DataFrame(plan["pools"])
        planned = plan
    else:
        from planner.optimize.solve import solve_scenario

        res = solve_scenario(sc, catalogs=catalogs)
        pools, planned = res.pools, res.summary
    needed = {"role", "chip", "instances", "tp", "ep", "pp", "dp", "batch", "load_rps"}
    if missing := sorted(needed - set(pools.columns)):
        raise PlannerError(f"the plan's pools lack {missing}", field="plan")
    trace = None
    if trace_path:
        from planner.inputs.traces import read_trace

        trace = read_trace(trace_path)
    sim = simulate_fleet(sc, pools, requests=requests, arrival_cv=arrival_cv, seed=seed, catalogs=catalogs,
                         duration_s=duration_s, trace=trace, router=router)
    if plot_path:
        from planner.report.png import plot_timeline

        plot_timeline(sim.timeline, f"{sc.name}: simulated queue", plot_path)
    out = {**sim.summary, "planned": {"ttft_ms": planned.get("ttft_ms"), "tpot_ms": planned.get("tpot_ms"),
                                      "cost_usd_per_hr": planned.get("cost_usd_per_hr")},
           "groups": sim.groups.to_dict(orient="records")}
    if fmt == "json":
        echo_json(out)
        return
    s = sim.summary
    con = make_console()
    if "classes" in s:
        _class_tables(s, sim, con)
        return
    pct = f"p{fmt_num(s['ttft_percentile'])}"
    rows = [("rate, requests/s", s["rate_rps"]), ("goodput, requests/s (both SLOs met)", s["goodput_rps"]),
            ("SLO attainment (TTFT and TPOT)", s["slo_attainment"]),
            (f"TTFT {pct}, ms: simulated / planned (SLO {fmt_num(s['slo']['ttft_ms'])})",
             f"{fmt_num(s['ttft_ms_at_slo_percentile'])} / {fmt_num(planned.get('ttft_ms'))}"),
            ("TTFT p50 / p99, ms", f"{fmt_num(s['ttft_ms_p50'])} / {fmt_num(s['ttft_ms_p99'])}"),
            (f"TPOT p50, ms: simulated / planned (SLO {fmt_num(s['slo']['tpot_ms'])})",
             f"{fmt_num(s['tpot_ms_p50'])} / {fmt_num(planned.get('tpot_ms'))}"),
            ("TPOT p90 / p99, ms", f"{fmt_num(s['tpot_ms_p90'])} / {fmt_num(s['tpot_ms_p99'])}"),
            ("meets the TTFT / TPOT SLO", f"{'yes' if s['meets_ttft_slo'] else 'NO'} / {'yes' if s['meets_tpot_slo'] else 'NO'}")]
    print_table(pd.DataFrame({"metric": [r[0] for r in rows], "value": [fmt_num(r[1]) for r in rows]}), console=con)
    cols = ["group", "rate_rps", "instances", "ttft_ms_p50", "ttft_ms_p90", "tpot_ms_p50", "slo_attainment"]
    cols += [c for c in ("waiting_mean", "waiting_max") if c in sim.groups]
    print_table(sim.groups[cols], title="pool groups", console=con)
    lat = s["first_token_latency_ms"]
    con.print(f"[dim]Serving model (docs/serving.md): the simulated TTFT includes the fitted first-token latency "
              f"outside the engine ({lat['outside_engine']:.0f} ms; P/D also {lat['disaggregated_handoff']:.0f} ms "
              f"of handoff), which the planner's TTFT does not. TPOT SLO read as the median. waiting: requests "
              f"without their first token (time average and peak; an aggregated pool: one of its instances).[/]")
    if plot_path:
        click.echo(f"wrote {plot_path}")


def _class_tables(s: dict, sim, con) -> None:
    """A multi-class plan: the fleet's attainment, then each class against its own SLOs, then the pool groups."""
    rows = [("rate, requests/s", s["rate_rps"]), ("goodput, requests/s (both SLOs met)", s["goodput_rps"]),
            ("SLO attainment (each class against its own SLOs)", s["slo_attainment"]),
            ("meets every class's TTFT / TPOT SLO",
             f"{'yes' if s['meets_ttft_slo'] else 'NO'} / {'yes' if s['meets_tpot_slo'] else 'NO'}")]
    print_table(pd.DataFrame({"metric": [r[0] for r in rows], "value": [fmt_num(r[1]) for r in rows]}), console=con)
    per = pd.DataFrame([{"class": name, "rate_rps": c["rate_rps"], "SLO TTFT/TPOT ms":
                         f"{fmt_num(c['slo']['ttft_ms'])} / {fmt_num(c['slo']['tpot_ms'])}",
                         f"TTFT p{fmt_num(c['ttft_percentile'])} ms": c["ttft_ms_at_slo_percentile"],
                         "TPOT p50 ms": c["tpot_ms_p50"], "slo_attainment": c["slo_attainment"],
                         "meets": "yes" if c["meets_ttft_slo"] and c["meets_tpot_slo"] else "NO"}
                        for name, c in s["classes"].items()])
    print_table(per, title="traffic classes", console=con)
    cols = ["group", "rate_rps", "instances", "ttft_ms_p50", "ttft_ms_p90", "tpot_ms_p50", "slo_attainment"]
    print_table(sim.groups[cols], title="pool groups", console=con)


commands = [simulate_cmd]
