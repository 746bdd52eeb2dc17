"""`planner` command line: one module per command family, registered here.

Errors the user can fix (PlannerError) print one clear message and exit non-zero (2 for bad input,
1 for an infeasible plan), never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import click

from planner.errors import PlannerError

# Each module defines `commands`: a list of click commands. A command's module is imported when the command runs
# (click's lazy-loading pattern): `planner solve` does not pay for the validation, batch or UI modules' imports.
COMMANDS = {"chips": "catalog_cmds", "models": "catalog_cmds", "estimate": "estimate", "solve": "solve",
            "pareto": "solve", "simulate": "simulate", "validate": "validate", "calibrate": "validate",
            "batch": "batch", "report": "report", "ui": "ui", "export": "export"}
COMMAND_MODULES = tuple(dict.fromkeys(COMMANDS.values()))


class PlannerGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

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
