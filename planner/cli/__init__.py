"""`planner` command line: one module per command family, registered here.

Errors the user can fix (PlannerError) print one clear message and exit non-zero (2 for bad input,
1 for an infeasible plan), never a traceback.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from planner.errors import PlannerError

# Each module defines `commands`: a list of click commands. A command's module is imported when the command runs
# (click's lazy-loading pattern): `planner solve` does not pay for the validation, batch or UI modules' imports.
COMMANDS = {"chips": "catalog_cmds", "models": "catalog_cmds", "estimate": "estimate", "solve": "solve",
            "pareto": "solve", "simulate": "simulate", "validate": "validate", "calibrate": "validate",
            "batch": "batch", "report": "report", "ui": "ui", "export": "export"}
COMMAND_MODULES = tuple(dict.fromkeys(COMMANDS.values()))
# the first sentence of each command's help, so that `planner --help` lists them without importing every command
# module (tests/cli/test_cli_entry.py checks these against the commands' own help)
SUMMARIES = {
    "batch": "Solve many scenarios into one table: scenario files, directories of them, or sweep files.",
    "calibrate": "Fit a chip's sustained efficiencies to kernel-level or end-to-end measurements; write a --catalog "
                 "overlay.",
    "chips": "List the chips in the catalog (dense peaks, memory, links, power, price).",
    "estimate": "Predict TTFT, TPOT, throughput per chip and memory for one configuration.",
    "export": "Write the launch commands for every pool of a plan (a `planner solve --format json` file, or a "
              "scenario, solved first): parallelism, batch limits, token budget, KV-cache dtype, quantization, "
              "speculative decoding and P/D disaggregation settings, with a README on routing and the benchmark that "
              "reproduces the planned load.",
    "models": "List the model presets (shapes, parameter counts, KV bytes per token); `planner models show MODEL` for "
              "one.",
    "pareto": "Pareto frontier by epsilon-constraint runs on one persistent MILP; one row per frontier point.",
    "report": "Write an HTML report: the plan first, why this architecture, the pools, a frontier per architecture "
              "with the plan marked, each chip type alone against the heterogeneous plan, the plan in simulation, "
              "error bands. A scenario with demand over time gets its schedule.",
    "simulate": "Simulate the planned fleet: does it meet its SLOs under open-loop traffic?",
    "solve": "Cheapest fleet for the SLO (min-cost) or the most requests/s within the limits (max-throughput).",
    "ui": "Explore fleets and frontiers in a browser: a local web app (offline; every asset served by it).",
    "validate": "Predict every row of a points file (default: the bundled validation/points.csv) and report the "
                "error.",
}


class PlannerGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def format_commands(self, ctx, formatter):
        """The command list of `--help` from SUMMARIES, shortened as click shortens a command's own help."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(n) for n in names)
        with formatter.section("Commands"):
            formatter.write_dl([(n, click.utils.make_default_short_help(SUMMARIES[n], limit)) for n in names])

    def get_command(self, ctx, name):
        module = COMMANDS.get(name)
        if module is None:
            return None
        return next(c for c in importlib.import_module(f"{__name__}.{module}").commands if c.name == name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except PlannerError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=PlannerGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="planner")
def main():
    """Capacity planner for disaggregated LLM inference fleets: roofline engine + MILP (HiGHS)."""


# Commands that may leave without the interpreter's teardown: each has written and closed everything it makes (files
# in `with` blocks, worker pools shut down) by the time it returns. Not `ui`: its server owns a temporary folder.
FAST_EXIT = frozenset(COMMANDS) - {"ui"}


def run(argv: list[str] | None = None) -> None:
    """The console entry point: `main`, then, for a command in FAST_EXIT, leave with its exit status once stdout and
    stderr are flushed, skipping the interpreter's teardown (freeing Pyomo's and pandas' objects one by one: 0.2–0.4 s
    of a 1.5 s `planner solve` on a 2-core machine). An unexpected exception still ends the usual way, traceback
    and all."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        main(args, standalone_mode=True)
        code = 0
    except SystemExit as exc:
        code = exc.code
    if not args or args[0] not in FAST_EXIT:
        sys.exit(code)
    if not isinstance(code, int):  # sys.exit("message") prints the message and exits 1
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, OSError):  # a closed pipe (`planner ... | head`): nothing more to say
        code = code or 1
    os._exit(code)
