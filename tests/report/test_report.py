"""`planner report` end to end on a small scenario: an HTML page with the fleet, constraints and plots."""

from __future__ import annotations

import base64
import re

import pandas as pd
import pytest
from click.testing import CliRunner

from planner.cli import main
from planner.report.html import plot_frontier

SCENARIO = """
name: small-report
model: llama-3.1-8b
precision: {weights: fp8, kv_cache: fp8}
workload: {arrival_rate_rps: 5, isl: 1024, osl: 128}
slo: {ttft_ms: 1500, tpot_ms: 40}
chips: [{id: h100-sxm, max_count: 16}, {id: l40s, max_count: 16}]
"""


@pytest.fixture(scope="module")
def report_page(tmp_path_factory) -> str:
    """`planner report` run once on the small scenario; the tests below read the page it wrote."""
    d = tmp_path_factory.mktemp("report")
    scn, out = d / "s.yaml", d / "r.html"
    scn.write_text(SCENARIO)
    r = CliRunner().invoke(main, ["report", str(scn), "--out", str(out), "--points", "4"])
    assert r.exit_code == 0, r.output
    return out.read_text()


def test_report_writes_self_contained_html(report_page):
    page = report_page
    assert "<h2>Cheapest fleet</h2>" in page and "Pools" in page and "margin" in page.lower()
    pngs = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert pngs, "frontier plots are embedded"
    assert base64.b64decode(pngs[0])[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_explains_architecture_and_classes(tmp_path):
    """The report carries `architecture`, `why`, the forced alternatives, and the per-class summary."""
    from planner.report.html import render_html

    pools = pd.DataFrame({"role": ["aggregated"], "instances": [1]})
    summary = {"status": "optimal", "mode": "mixed", "architecture": "aggregated + P/D disaggregated",
               "why": "chosen: aggregated + P/D disaggregated; alternatives forced: aggregated: 3 $/h dearer (+5.0%)",
               "alternatives": [{"architecture": "aggregated", "status": "optimal", "cost_usd_per_hr": 63.0, "delta": 3.0}],
               "classes": [{"class": "chat", "arrival_rate_rps": 5.0, "throughput_rps": 5.0, "isl": 1024, "osl": 128,
                            "architecture": "aggregated", "cost_usd_per_hr": 60.0, "num_chips": 8, "ttft_ms": 900.0,
                            "tpot_ms": 30.0}]}
    page = render_html("t", summary, pools, None, {}, [])
    assert "<h3>Why this architecture</h3>" in page and "alternatives forced" in page
    assert "<h3>Alternatives (each forced, same limits)</h3>" in page and "63" in page
    assert "<h3>Traffic classes</h3>" in page and "chat" in page


def test_report_cli_runs_alternatives(report_page):
    page = report_page
    assert "architecture" in page and "<h3>Why this architecture</h3>" in page


def test_plot_frontier_png(tmp_path):
    pts = pd.DataFrame({"tok_s_per_user": [20, 40, 80], "cost_usd_per_mtok": [1.0, 2.0, 50.0], "mode": ["a", "b", "b"]})
    png = plot_frontier(pts, "tok_s_per_user", "cost_usd_per_mtok", path=tmp_path / "f.png")
    assert png[:4] == b"\x89PNG" and (tmp_path / "f.png").stat().st_size == len(png)


def test_pareto_plot_and_solve_error_band(tmp_path):
    import json

    scn = tmp_path / "s.yaml"
    scn.write_text(SCENARIO)
    png = tmp_path / "front.png"
    runner = CliRunner()
    r = runner.invoke(main, ["pareto", str(scn), "--points", "3", "--plot", str(png), "--format", "csv"])
    assert r.exit_code == 0, r.output
    assert png.read_bytes()[:4] == b"\x89PNG"
    r = runner.invoke(main, ["solve", str(scn), "--format", "json"])
    assert r.exit_code == 0, r.output
    bands = json.loads(r.output)["error_band"]
    assert bands and all({"role", "chip", "lo", "hi", "n", "basis"} <= set(b) for b in bands)
    assert all(b["lo"] <= b["hi"] for b in bands if b["lo"] is not None)


@pytest.mark.parametrize("name, frontiers", [("budget-throughput", 1), ("traffic-classes-shared", 0)])
def test_report_works_for_budget_and_multi_class_scenarios(tmp_path, name, frontiers):
    """A max-throughput scenario gets the budget frontier; a multi-class one none, and the page says why."""
    from planner.paths import SCENARIOS_DIR

    out = tmp_path / "r.html"
    r = CliRunner().invoke(main, ["report", str(SCENARIOS_DIR / f"{name}.yaml"), "--out", str(out), "--points", "3"])
    assert r.exit_code == 0, r.output
    assert f"{frontiers} frontiers" in r.output and "<h2>Cheapest fleet</h2>" in out.read_text()
    if not frontiers:
        assert "multi-class scenario has none" in out.read_text()
