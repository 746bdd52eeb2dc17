"""`planner batch`: solve scenario files, directories and sweeps into one results table (see docs/batch.md)."""

from __future__ import annotations

import sys
from collections import Counter

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from planner.batch.results_store import read_table
from planner.batch.runner import BatchRun, ProgressHooks, SolveOptions

from .common import FiniteFloatRange, catalog_option, echo_json, format_option, make_console


class RichProgress(ProgressHooks):
    """Bar with counts, status tallies and ETA on stderr; nothing when stderr is not a terminal."""

    def __init__(self, console: Console):
        self.console = console
        self.bar: Progress | None = None
        self.task = None

    def start(self, total: int, skipped: int) -> None:
        if not self.console.is_terminal:
            return
        self.bar = Progress(
            TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[tally]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=self.console, transient=False,
        )
        self.bar.start()
        tally = f"{skipped} done before" if skipped else ""
        self.task = self.bar.add_task("batch", total=total, completed=skipped, tally=tally)

    def advance(self, row: dict, counts: Counter) -> None:
        if self.bar is not None:
            tally = " ".join(f"{k} {counts[k]}" for k in ("optimal", "within-gap", "time-limit", "infeasible",
                                                          "no-solution-in-time",
                                                          "error") if counts[k])
            self.bar.update(self.task, advance=1, tally=tally)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _print_summary(s, console: Console) -> None:
    state = "interrupted" if s.interrupted else "done"
    timed_out = (f"{s.no_solution_in_time} without a fleet in the time limit (--retry-errors solves them again), "
                 if s.no_solution_in_time else "")
    console.print(
        f"{state}: {s.total} scenarios, {s.done} solved now, {s.skipped} from earlier runs; "
        f"{s.optimal} optimal, {s.feasible} found but not proven optimal (within-gap, time-limit), "
        f"{s.infeasible} infeasible, {timed_out}{s.failed} failed"
    )
    console.print(f"{s.elapsed_s:.1f} s, {s.scenarios_per_s:.2f} scenarios/s on {s.runner}; "
                  f"{s.rows_written} rows -> {s.out} (journal {s.journal})")
    if s.failed:
        df = read_table(s.out, columns=["scenario_name", "source", "status", "reason"])
        bad = df[df["status"] == "error"].head(5)
        for r in bad.itertuples(index=False):
            console.print(f"  error {r.scenario_name} ({r.source}): {str(r.reason).splitlines()[0]}", markup=False)
        if s.failed > len(bad):
            console.print(f"  ... {s.failed - len(bad)} more errors: see the reason column")


@click.command("batch")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False),
              help="Results table, .parquet or .csv; its journal <out>.journal.jsonl makes reruns resume.")
@click.option("--workers", "-j", type=click.IntRange(0), default=None,
              help="Local worker processes [default: one per core]; 0 solves in this process.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run on an existing Dask cluster (e.g. tcp://host:8786) instead of a local pool.")
@click.option("--time-limit", "time_limit_s", type=FiniteFloatRange(min=0, min_open=True), default=None,
              help="Solver time limit per scenario, s [default: each scenario's solver.time_limit_s].")
@click.option("--mip-gap", type=FiniteFloatRange(0, 1, max_open=True), default=None,
              help="Relative MIP gap [default: each scenario's solver.mip_gap].")
@click.option("--margin", "margin_pct", type=FiniteFloatRange(0, 500), default=None,
              help="Planning margin in PERCENT for every scenario [default: each scenario's `margin`, else the "
                   "held-out margins per metric and chip family].")
@click.option("--retry-errors", is_flag=True, help="Solve again the scenarios that ended in an error row or without a fleet in the time limit.")
@catalog_option
@format_option()
def batch_cmd(inputs, out, workers, scheduler, time_limit_s, mip_gap, margin_pct, retry_errors, catalogs, fmt):
    """Solve many scenarios into one table: scenario files, directories of them, or sweep files.

    A sweep file expands a base scenario over lists of values (scenarios/sweep-example.yaml). Each result is
    journaled as it finishes; a rerun with the same --out skips what is done.
    """
    run = BatchRun(
        inputs=list(inputs), out=out, workers=workers, scheduler=scheduler, retry_errors=retry_errors,
        options=SolveOptions(catalogs=tuple(catalogs), time_limit_s=time_limit_s, mip_gap=mip_gap,
                             margin=None if margin_pct is None else margin_pct / 100.0),
    )
    summary = run.run(progress=RichProgress(Console(stderr=True)))
    if fmt == "json":
        echo_json(summary.to_dict())
    else:
        _print_summary(summary, make_console())
    if summary.interrupted:
        sys.exit(130)


commands = [batch_cmd]
