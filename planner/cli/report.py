"""`planner report`: solve a scenario, trace its frontiers, simulate the plan, and write one self-contained HTML
page (planner/report/html.py) with the browser UI's plots; each step is announced in the terminal."""

from __future__ import annotations

from pathlib import Path

import click

from .common import FiniteFloatRange, catalog_option


@click.command("report")
@click.argument("scenario_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default="report.html", show_default=True)
@click.option("--points", default=10, show_default=True, type=click.IntRange(2, 100), help="Points per frontier.")
@click.option("--margin", "margin_pct", type=FiniteFloatRange(0, 500), default=None,
              help="Planning margin in percent for every metric and chip [default: the scenario's, else the "
                   "held-out margins per metric and chip family].")
@catalog_option
def report_cmd(scenario_path, out_path, points, margin_pct, catalogs):
    """Write an HTML report: the plan first, why this architecture, the pools, a frontier per architecture with the
    plan marked, each chip type alone against the heterogeneous plan, the plan in simulation, error bands. A
    scenario with demand over time gets its schedule."""
    # imported here: pyomo, plotly and the serving model cost ~1 s, which other commands should not pay
    from planner.inputs.scenario import load_scenario
    from planner.report.html import report_html, report_periods_html
    from planner.ui.compute import explore, explore_periods

    sc = load_scenario(scenario_path, catalogs)
    margin = None if margin_pct is None else margin_pct / 100.0

    def say(text: str) -> None:
        click.echo(text, err=True)

    title = f"planner report: {sc.name}"
    if sc.plans_periods:
        say("planning every period ...")
        summary, fig, _schedule = explore_periods(sc, catalogs=catalogs, margin=margin)
        page, figures = report_periods_html(title, summary, fig), 1
    else:
        ex = explore(sc, catalogs=catalogs, margin=margin, points=points, progress=say)
        for note in ex.notes:
            say(f"note: {note}")
        page = report_html(title, ex)
        figures = sum(k.startswith("frontier") for k in ex.figures)
    Path(out_path).write_text(page)
    click.echo(f"wrote {out_path} ({len(page) / 1024:.0f} KiB, {figures} frontier plots)")


commands = [report_cmd]
