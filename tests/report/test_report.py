"""`planner report` end to end: one self-contained HTML page, the answer first, compact tables without raw dumps,
the UI's plots with plotly.js inlined (no external request), multi-class, max-throughput and plans over periods."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from click.testing import CliRunner

from planner.cli import main
from planner.paths import SCENARIOS_DIR
from planner.report.png import plot_frontier

SCENARIO = """
name: small-report
model: llama-3.1-8b
precision: {weights: fp8, kv_cache: fp8}
workload: {arrival_rate_rps: 5, isl: 1024, osl: 128}
slo: {ttft_ms: 1500, tpot_ms: 40}
chips: [{id: h100-sxm, max_count: 16}, {id: l40s, max_count: 16}]
"""


def _report(path, out, *extra):
    r = CliRunner().invoke(main, ["report", str(path), "--out", str(out), "--points", "4", *extra])
    assert r.exit_code == 0, r.output
    return r.output, out.read_text()


@pytest.fixture(scope="module")
def report_page(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    scn = d / "s.yaml"
    scn.write_text(SCENARIO)
    return _report(scn, d / "r.html")


def _text(page: str) -> str:
    """The page's visible text, roughly: scripts and tags removed."""
    return re.sub(r"<[^>]+>", " ", re.sub(r"<script.*?</script>", "", page, flags=re.S))


def test_report_leads_with_the_answer(report_page):
    output, page = report_page
    text = _text(page)
    assert re.search(r"The cheapest fleet for 5 requests/s: \$[\d.,]+/h on \d+ chips", text)
    assert text.index("The cheapest fleet") < text.index("Pools") < text.index("Frontiers") < text.index("How sure")
    for step in ("solving the cheapest fleet", "tracing a frontier per architecture", "simulating the plan"):
        assert step in output  # progress in the terminal


def test_report_has_no_raw_dumps_or_external_assets(report_page):
    _output, page = report_page
    text = _text(page)
    assert "nan" not in text.split() and "None" not in text.split() and "{'" not in text
    for table in re.findall(r"<table>.*?</table>", page, flags=re.S):
        header = re.search(r"<tr>(.*?)</tr>", table, flags=re.S).group(1)
        assert header.count("<th") <= 9, header  # tables only as wide as a page
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=['\"]https?://", page)  # tests/ui opens it in Chromium
    assert page.count("plotly.js v") >= 1 and len(re.findall(r"Plotly\.newPlot", page)) >= 4


def test_report_marks_the_chosen_plan_on_a_curve_per_architecture(report_page):
    _output, page = report_page
    assert page.count('"name":"chosen plan"') == 2
    assert '"name":"aggregated"' in page and '"name":"P\\u002fD disaggregated"' in page


@pytest.mark.parametrize("name, kind", [("budget-throughput", "budget"), ("traffic-classes-shared", "classes"),
                                        ("diurnal-chat", "periods")])
def test_report_works_for_other_scenarios(tmp_path, name, kind):
    output, page = _report(SCENARIOS_DIR / f"{name}.yaml", tmp_path / "r.html")
    text = _text(page)
    if kind == "budget":
        assert "The most traffic within budget_usd_per_hr=100" in text and '"name":"chosen plan"' in page
    if kind == "classes":
        assert "Traffic classes" in text and "multi-class scenario has none" in text
    if kind == "periods":
        assert "per day" in text and "Periods" in text and "reserved chips" in text


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
