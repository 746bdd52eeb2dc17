"""The `planner` group itself: its command list comes from planner.cli.SUMMARIES without importing the commands."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from planner.cli import COMMANDS, SUMMARIES, main
from planner.paths import ROOT


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_summary_is_the_first_paragraph_of_its_command_s_help(name):
    cmd = main.get_command(click.Context(main), name)
    assert SUMMARIES[name] == " ".join((cmd.help or "").split("\n\n")[0].split())


def test_help_lists_every_command_without_importing_them():
    code = ("import sys; from click.testing import CliRunner; from planner.cli import main; "
            "r = CliRunner().invoke(main, ['--help']); print(r.output); "
            "print(sorted(m for m in sys.modules if m.startswith('planner.cli.')))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.returncode == 0, p.stderr
    help_text, imported = p.stdout.rsplit("\n", 2)[0], p.stdout.rsplit("\n", 2)[1]
    for name in COMMANDS:
        assert f"  {name} " in help_text
    assert "Cheapest fleet for the SLO" in help_text and imported == "[]"
