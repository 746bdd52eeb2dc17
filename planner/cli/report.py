"""`planner report`: solve a scenario, trace its frontiers, and write one self-contained HTML page."""

from __future__ import annotations

from pathlib import Path

import click

from .common import FiniteFloatRange, catalog_option


@click.command("report")
@click.argument("scenario_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default="report.html", show_default=True)
@click.option("--points", default=12, show_default=True, type=click.IntRange(2, 100), help="Points per frontier.")
@click.option("--margin", "margin_pct", type=FiniteFloatRange(0, 500), default=None,
              help="Planning margin in percent for every metric and chip [default: the scenario's, else the "
                   "held-out margins per metric and chip family].")
@catalog_option
def report_cmd(scenario_path, out_path, points, margin_pct, catalogs):
    """Write an HTML report: the cheapest fleet, binding constraints, and cost/interactivity and
    cost/throughput frontiers with plots."""
    # imported here: pyomo and matplotlib cost ~0.7 s, which other commands should not pay
    from planner.analyses.pareto import AXES, pareto
    from planner.errors import PlannerError
    from planner.inputs.scenario import load_scenario
    from planner.optimize.solve import solve_scenario
    from planner.optimize.uncertainty import margin_text
    from planner.report.html import render_html

    sc = load_scenario(scenario_path, catalogs)
    margin = None if margin_pct is None else margin_pct / 100.0
    click.echo("solving the scenario ...", err=True)
    res = solve_scenario(sc, catalogs=catalogs, margin=margin, alternatives=True)
    frontiers, skipped = {}, []
    if sc.classes is not None:
        skipped.append("frontiers: a multi-class scenario has none (sweep one class at a time, its own workload)")
    else:
        sweeps = ((("tpot", "cost vs interactivity"), ("throughput", "cost vs throughput"))
                  if sc.workload.arrival_rate_rps is not None else (("budget", "throughput vs budget"),))
        for sweep, name in sweeps:
            click.echo(f"tracing the {name} frontier ({points} points) ...", err=True)
            try:
                pr = pareto(sc, sweep=sweep, points=points, catalogs=catalogs, margin=margin)
            except PlannerError as exc:  # a sweep that does not apply or has no feasible point is reported
                skipped.append(f"{name} frontier skipped: {str(exc).splitlines()[0]}")
                continue
            x, y = AXES[sweep]
            frontiers[name] = (pr.points, x, y)
    for note in skipped:
        click.echo(f"note: {note}", err=True)
    s = res.summary
    notes = [*skipped,
        f"Planning margin: {margin_text(s['margin'])} (capacities divided by 1 + the capacity margin, TPOT and TTFT "
        "multiplied by 1 + theirs).",
        f"Queueing: {s.get('queueing', '')}.",
        "Engine: roofline with sustained efficiencies; see docs/physics.md and docs/validation.md for measured error.",
    ]
    if s.get("error_band"):
        notes.append(f"Error band of the engine on comparable published measurements: {s['error_band']}.")
    html = render_html(f"planner report: {sc.name}", s, res.pools, res.constraints, frontiers, notes)
    Path(out_path).write_text(html)
    click.echo(f"wrote {out_path} ({len(html) / 1024:.0f} KiB, {len(frontiers)} frontiers)")


commands = [report_cmd]
