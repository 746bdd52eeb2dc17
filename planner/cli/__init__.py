"""`planner` command line: one module per command family, registered here.

Errors the user can fix (PlannerError) print one clear message and exit non-zero (2 for bad input,
1 for an infeasible plan), never a traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from planner.errors import PlannerError

# Each module defines `commands`: a list of click commands. Listed modules that are not there yet are skipped.
COMMAND_MODULES = ("catalog_cmds", "estimate", "solve", "simulate", "validate", "batch", "report", "ui")


class PlannerGroup(click.Group):
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


for _name in COMMAND_MODULES:
    if importlib.util.find_spec(f"{__name__}.{_name}") is not None:
        for _cmd in importlib.import_module(f"{__name__}.{_name}").commands:
            main.add_command(_cmd)
