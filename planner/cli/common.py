"""Options and output helpers shared by the CLI commands."""

from __future__ import annotations

import json
import math
import sys

import click
import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

catalog_option = click.option(
    "--catalog", "catalogs", multiple=True, type=click.Path(dir_okay=False),
    help="Chip overlay YAML (add chips or override fields such as price); repeatable, later wins.",
)


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange that also refuses NaN and infinity (which compare false with every bound)."""

    name = "finite float range"

    def convert(self, value, param, ctx):
        v = super().convert(value, param, ctx)
        if not math.isfinite(v):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return v


def format_option(choices=("table", "json")):
    return click.option("--format", "fmt", type=click.Choice(list(choices)), default=choices[0], show_default=True)


def _clean(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def echo_json(obj) -> None:
    click.echo(json.dumps(_clean(obj), indent=2))


def fmt_num(v, digits=3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        a = abs(float(v))
        if a >= 1000:
            return f"{float(v):,.0f}"
        return f"{float(v):.{digits}g}"
    return str(v)


def make_console() -> Console:
    """A terminal console; in a pipe, wide enough that tables are never truncated."""
    return Console() if sys.stdout.isatty() else Console(width=240, no_color=True)


def print_table(df: pd.DataFrame, title: str | None = None, console: Console | None = None) -> None:
    console = console or make_console()
    table = Table(title=title, show_lines=False, header_style="bold")
    for col in df.columns:
        table.add_column(str(col), justify="right" if pd.api.types.is_numeric_dtype(df[col]) else "left")
    for row in df.itertuples(index=False):
        table.add_row(*[Text(fmt_num(v)) for v in row])  # Text: cells are never read as markup
    console.print(table)


def emit_frame(df: pd.DataFrame, fmt: str, title: str) -> None:
    """A table in the requested format: records as JSON, CSV, or a rich table with a title."""
    if fmt == "json":
        echo_json(df.to_dict(orient="records"))
    elif fmt == "csv":
        click.echo(df.to_csv(index=False), nl=False)
    else:
        print_table(df, title=title)
