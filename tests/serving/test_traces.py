"""Request traces (planner.inputs.traces) and their replay through a planned fleet (`planner simulate --trace`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from planner.cli import main
from planner.errors import PlannerError
from planner.inputs.scenario import validate_scenario
from planner.inputs.traces import read_trace, trace_rate_rps
from planner.serving.fleet import simulate_fleet

AZURE = Path(__file__).resolve().parents[1] / "fixtures" / "traces" / "azure_small.csv"


def test_the_azure_format_is_read_by_hand():
    t = read_trace(AZURE)
    assert t["arrival_s"].tolist() == pytest.approx([0.0, 4.314579, 4.535177, 5.189461, 6.927982, 8.442404], abs=1e-6)
    assert t["isl"].tolist() == [374, 396, 879, 91, 91, 384] and t["osl"].tolist() == [44, 109, 37, 16, 16, 20]
    assert trace_rate_rps(t) == pytest.approx(5 / 8.442404)


def test_burstgpt_and_unknown_formats(tmp_path):
    p = tmp_path / "b.csv"
    p.write_text("Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
                 "5,ChatGPT,472,18,490,Conversation log\n1,ChatGPT,1010,100,1110,Conversation log\n")
    t = read_trace(p)
    assert t["arrival_s"].tolist() == [0.0, 4.0] and t["isl"].tolist() == [1010, 472]  # sorted by time
    p.write_text("a,b\n1,2\n")
    with pytest.raises(PlannerError, match="not a known trace format"):
        read_trace(p)


def test_a_replayed_trace_reaches_the_engine_whole(tmp_path):
    """One aggregated engine, the whole trace: every request after the warm-up is measured, at the trace's rate."""
    rng = np.random.default_rng(1)
    n = 400
    t = np.cumsum(rng.exponential(0.5, n))
    ts = pd.Timestamp("2024-05-01") + pd.to_timedelta(t, unit="s")
    p = tmp_path / "azure.csv"
    pd.DataFrame({"TIMESTAMP": ts.strftime("%Y-%m-%d %H:%M:%S.%f"), "ContextTokens": rng.integers(100, 2000, n),
                  "GeneratedTokens": rng.integers(10, 300, n)}).to_csv(p, index=False)
    trace = read_trace(p)
    sc = validate_scenario({"name": "t", "model": "llama-3.1-8b", "precision": {"weights": "fp8"},
                            "workload": {"arrival_rate_rps": 2, "isl": 1024, "osl": 128},
                            "slo": {"ttft_ms": 2000, "tpot_ms": 40}, "chips": [{"id": "h100-sxm"}]})
    pools = pd.DataFrame([{"role": "aggregated", "chip": "h100-sxm", "instances": 1, "tp": 1, "ep": 1, "pp": 1,
                           "dp": 1, "batch": 32, "load_rps": 2.0, "spec_tokens": 0}])
    sim = simulate_fleet(sc, pools, trace=trace)
    assert sim.summary["requests"] == n - int(0.1 * n) and sim.summary["traffic"] == "trace"
    assert sim.summary["rate_rps"] == pytest.approx(trace_rate_rps(trace))
    r = CliRunner().invoke(main, ["simulate", str(Path(__file__).resolve().parents[2] / "scenarios" /
                                                   "decode-heavy.yaml"), "--trace", str(p), "--format", "json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["traffic"] == "trace"
