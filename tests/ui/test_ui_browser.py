"""The browser UI in a real browser: Playwright (PyPI) driving Debian's Chromium against `planner ui`'s app on
127.0.0.1. Open the page, solve the default scenario, check that the fleet table and the frontier plots render
with the numbers the Python API gives, that nothing is fetched from outside the machine, and that bad input is
answered in the page; screenshots go to the test's folder (or $PLANNER_UI_SCREENSHOTS)."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from planner.optimize.solve import solve_scenario
from planner.ui import compute
from planner.ui.app import build_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def server():
    app = build_app()
    srv = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}/"
    srv.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "the UI test needs Debian's chromium: apt-get install chromium (.ci/run installs it)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def _shots(tmp_path: Path) -> Path:
    out = Path(os.environ.get("PLANNER_UI_SCREENSHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_solve_in_the_browser(server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    outside = []
    page.on("request", lambda r: None if r.url.startswith(server) else outside.append(r.url))
    page.goto(server)
    page.wait_for_selector("#chip-table .ag-cell")
    page.click("#solve")
    page.wait_for_selector("#fleet-table .ag-cell", timeout=180_000)
    form = {"model": "llama-3.1-70b", "weights": "fp8", "rate_rps": 20, "isl": 2048, "osl": 256, "ttft_ms": 1000,
            "ttft_percentile": 90, "tpot_ms": 30, "modes": ["aggregated", "disaggregated"],
            "chips": [{"id": c} for c in ("h100-sxm", "h200-sxm", "b200")]}
    want = solve_scenario(compute.scenario_from_form(form)).summary
    summary = page.inner_text("#summary")
    assert f"{compute.money(want['cost_usd_per_hr'])}/h" in summary
    assert f"{want['num_chips']:,}" in summary and want["architecture"] in summary
    fleet = page.inner_text("#fleet-table")
    for chip in {p["chip"] for p in want["pools"]}:
        assert chip in fleet
    # the frontiers: one curve per architecture and the chosen plan, drawn by plotly in the page
    page.wait_for_selector("#frontier-cost .scatterlayer .trace")
    assert page.locator("#frontier-cost .scatterlayer .trace").count() == 3
    assert "chosen plan" in page.inner_text("#frontier-cost")
    assert page.locator("#single-chip .bars .point").count() == 4
    assert page.locator("#latency .bars .point").count() > 10
    assert "optimal" in page.inner_text("#solve-status")
    with page.expect_download() as dl:  # the deployment export of the plan on screen
        page.click("#dl-sglang-btn")
    script = Path(dl.value.path()).read_text()
    assert script.count("sglang.launch_server") == len(want["pools"])
    assert ("--disaggregation-mode" in script) == any(p["role"] in ("prefill", "decode") for p in want["pools"])
    page.screenshot(path=str(_shots(tmp_path) / "ui-solve.png"), full_page=True)
    assert not outside, f"fetched from outside the machine: {outside[:3]}"
    page.close()


def test_bad_input_is_answered_in_the_page(server, browser, tmp_path):
    page = browser.new_page()
    page.goto(server)
    page.wait_for_selector("#chip-table .ag-cell")
    page.fill("#tpot", "1")
    page.press("#tpot", "Enter")
    page.click("#solve")
    page.wait_for_selector("#status .error", timeout=120_000)
    text = page.inner_text("#status")
    assert "slo.tpot_ms" in text and "raise slo.tpot_ms" in text
    page.screenshot(path=str(_shots(tmp_path) / "ui-error.png"), full_page=True)
    page.close()


def test_a_demand_profile_plans_the_day(server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(server)
    page.wait_for_selector("#chip-table .ag-cell")
    page.fill("#profile", "10, 20, 40, 20")
    page.fill("#period-hours", "6")
    page.press("#period-hours", "Enter")
    page.click("#solve")
    page.wait_for_selector("#schedule .bars .point", timeout=180_000)
    summary = page.inner_text("#summary")
    assert "cost per day" in summary
    reserved = summary.split("reserved chips", 1)[1].splitlines()[0]  # a base served all day: reserved at 35% off
    assert any(chip in reserved for chip in ("h100-sxm", "h200-sxm", "b200")), summary
    page.screenshot(path=str(_shots(tmp_path) / "ui-day.png"), full_page=True)
    page.close()


def test_a_scenario_in_yaml_with_traffic_classes(server, browser, tmp_path):
    """The YAML box plans what the form cannot hold (here two traffic classes); "Copy the form here" fills it."""
    from planner.paths import SCENARIOS_DIR

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(server)
    page.wait_for_selector("#chip-table .ag-cell")
    page.click("#yaml-details summary")
    page.click("#yaml-from-form")
    page.wait_for_function("document.querySelector('#scenario-yaml').value.includes('model: llama-3.1-70b')")
    text = (SCENARIOS_DIR / "traffic-classes.yaml").read_text()
    page.fill("#scenario-yaml", text)
    page.click("#solve")
    page.wait_for_selector("#fleet-table .ag-cell", timeout=180_000)
    want = solve_scenario(compute.scenario_from_yaml(text)).summary
    assert f"{compute.money(want['cost_usd_per_hr'])}/h" in page.inner_text("#summary")
    assert "multi-class" in page.inner_text("#results")  # what the page cannot draw for classes, it says
    fleet = page.inner_text("#fleet-table")
    assert all(c in fleet for c in ("chat", "coding", "agentic"))  # each pool with the class it serves
    page.screenshot(path=str(_shots(tmp_path) / "ui-yaml-classes.png"), full_page=True)
    page.close()


def test_models_by_hugging_face_id_in_the_checkpoints_precision(server, browser):
    page = browser.new_page()
    page.goto(server)
    page.wait_for_selector("#chip-table .ag-cell")
    page.click("#model")
    page.get_by_placeholder("Search").fill("openai/gpt-oss-120b")
    page.get_by_text("openai/gpt-oss-120b (models/zoo)").click()
    page.click("#weights")
    page.get_by_text("the checkpoint's").click()
    page.click("#yaml-details summary")
    page.click("#yaml-from-form")
    page.wait_for_function("document.querySelector('#scenario-yaml').value.includes('openai/gpt-oss-120b')")
    yaml_text = page.input_value("#scenario-yaml")
    assert "weights: fp4" in yaml_text and "MXFP4" in yaml_text  # the checkpoint's precision, with its source
    page.close()


def test_report_renders_offline_in_the_browser(browser, tmp_path):
    """`planner report`'s page in Chromium: its plots draw, and it asks for nothing beyond the file."""
    from click.testing import CliRunner

    from planner.cli import main
    from planner.paths import SCENARIOS_DIR

    out = tmp_path / "report.html"
    r = CliRunner().invoke(main, ["report", str(SCENARIOS_DIR / "llama70b-chat.yaml"), "--out", str(out), "--points", "5"])
    assert r.exit_code == 0, r.output
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    requests = []
    page.on("request", lambda q: requests.append(q.url))
    page.goto(out.as_uri())
    page.wait_for_selector(".js-plotly-plot .scatterlayer .trace")
    assert page.locator(".js-plotly-plot").count() == 4
    assert all(u.startswith("file://") or u.startswith("data:") for u in requests), requests[:3]
    page.screenshot(path=str(_shots(tmp_path) / "report.png"), full_page=True)
    page.close()
