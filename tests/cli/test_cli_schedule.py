"""`planner solve` on plans over periods, end to end: the schedule table, JSON keys, the plot, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from planner.cli import main
from planner.paths import SCENARIOS_DIR


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _diurnal(tmp_path: Path, **over) -> Path:
    data = yaml.safe_load((SCENARIOS_DIR / "diurnal-chat.yaml").read_text())
    data["demand"]["profile"] = data["demand"]["profile"][::4]  # 6 periods of 4 h: a quicker test
    data["demand"]["period_hours"] = 4
    data.update(over)
    p = tmp_path / "d.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def test_schedule_table_and_plot(tmp_path):
    png = tmp_path / "s.png"
    r = run("solve", _diurnal(tmp_path), "--plot", png)
    assert r.exit_code == 0, r.output
    assert "cost per day, $" in r.output and "schedule: chips in use per period" in r.output
    assert "static fleet for the peak" in r.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_schedule_json(tmp_path):
    r = run("solve", _diurnal(tmp_path), "--format", "json")
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)
    assert {"cost_usd_per_day", "reserved", "periods", "cost_usd_per_mtok_input", "cost_usd_per_mtok_output"} <= set(s)
    assert len(s["periods"]) == 6
    assert {"period", "rate_rps", "cost_usd_per_hr", "pools"} <= set(s["periods"][0])
    assert all(set(r) == {"chip", "count"} for r in s["reserved"])


def test_refusals(tmp_path):
    path = _diurnal(tmp_path)
    for args, field in ((["--top", "3"], "--top"), (["--objective", "max-throughput"], "--objective")):
        r = run("solve", path, *args)
        assert r.exit_code == 2 and field in r.output, r.output
    r = run("solve", SCENARIOS_DIR / "llama70b-chat.yaml", "--plot", tmp_path / "x.png")
    assert r.exit_code == 2 and "--plot" in r.output
    r = run("solve", _diurnal(tmp_path, chips=[{"id": "h100-sxm", "max_count": 4}]))
    assert r.exit_code == 1 and "peak demand" in r.output


def test_verify_simulates_every_period(tmp_path):
    r = run("solve", _diurnal(tmp_path), "--verify", "--format", "json")
    assert r.exit_code == 0, r.output
    v = json.loads(r.output[r.output.index("{"):])["verification"]
    assert v["simulated_periods"] == 6 and len(v["periods"]) == 6
    for p in v["periods"]:
        assert 0 <= p["slo_attainment"] <= 1 and p["ttft_ms"] > 0 and p["tpot_ms_p50"] > 0
    assert v["holds"] == (not v["failing_periods"])
