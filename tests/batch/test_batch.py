"""`planner batch`: the crash-safe journal and table, resume after kill -9, pool vs Dask, error rows, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from planner.batch.results_store import Journal, iter_journal, journal_path, write_table
from planner.batch.runner import BatchRun, fleet_text, role_values
from planner.cli import main
from planner.errors import PlannerError

ROOT = Path(__file__).resolve().parents[2]
TIMING = ["solve_s"]

BASE = {
    "name": "small",
    "model": "llama-3.1-8b",
    "precision": {"weights": "fp8"},
    "workload": {"arrival_rate_rps": 4, "isl": 1024, "osl": 128},
    "slo": {"ttft_ms": 2000, "tpot_ms": 50},
    "chips": [{"id": "h100-sxm", "price_usd_per_hr": 2.5, "max_count": 8},
              {"id": "h200-sxm", "price_usd_per_hr": 3.5, "max_count": 8}],
    "modes": ["aggregated"],
    "search": {"max_chips_per_instance": 2, "pipeline_parallel": [1]},
}


def _write(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _sweep(tmp_path: Path, name="sw.yaml", **axes) -> Path:
    sweep = axes or {"workload.arrival_rate_rps": [2, 8], "chips": [["h100-sxm"], ["h200-sxm"]]}
    return _write(tmp_path / name, {"base": BASE, "sweep": sweep})


def _row(key, status="optimal", **kw):
    return {"scenario_key": key, "scenario_name": key, "source": "x.yaml", "status": status, "reason": None,
            "cost_usd_per_hr": 1.0, "solve_s": 0.1, **kw}


# ------------------------------------------------------------------ journal and table (no solver)


def test_journal_tolerates_a_torn_last_line_and_repairs_it(tmp_path):
    jp = tmp_path / "r.parquet.journal.jsonl"
    with Journal(jp) as j:
        j.append(_row("a"))
        j.append(_row("b"))
    with jp.open("ab") as f:
        f.write(b'{"key":"c","row":{"scenario_key":"c","sta')  # killed mid-write
    assert [r["key"] for r in iter_journal(jp)] == ["a", "b"]
    with Journal(jp) as j:  # reopening cuts the torn line before appending
        j.append(_row("d"))
    assert [r["key"] for r in iter_journal(jp)] == ["a", "b", "d"]
    assert all(json.loads(line) for line in jp.read_text().splitlines())


def test_journal_is_exclusive(tmp_path):
    with Journal(tmp_path / "r.csv.journal.jsonl"), pytest.raises(PlannerError, match="another"):
        Journal(tmp_path / "r.csv.journal.jsonl")


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_table_keeps_last_record_per_key_and_types_swept_columns(tmp_path, suffix):
    out = tmp_path / f"r{suffix}"
    jp = journal_path(out)
    with Journal(jp) as j:
        j.append(_row("a", status="error", reason="boom", swept={"slo.tpot_ms": 20, "chips": ["h100-sxm"]}))
        j.append(_row("b", swept={"slo.tpot_ms": 30.5, "chips": ["h100-sxm", "h200-sxm"], "status": "x"}))
        j.append(_row("a", swept={"slo.tpot_ms": 20, "chips": ["h100-sxm"]}, decode_instances=2, decode_chip="h100-sxm"))
        j.append(_row("stale"))
    assert write_table(jp, out, keys={"a", "b"}, swept_order=["chips", "slo.tpot_ms"]) == 2
    df = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    assert list(df["scenario_key"]) == ["b", "a"]  # journal order of the last records
    assert list(df.columns[:6]) == ["scenario_key", "scenario_name", "source", "chips", "slo.tpot_ms", "swept.status"]
    assert df["chips"].tolist() == ["h100-sxm,h200-sxm", "h100-sxm"]
    assert df["slo.tpot_ms"].tolist() == [30.5, 20.0]
    assert df.set_index("scenario_key").loc["a", "status"] == "optimal"
    assert "decode_instances" in df.columns and "prefill_instances" not in df.columns
    assert not list(tmp_path.glob(".r*.tmp-*"))


def test_swept_integers_beyond_int64_are_kept_as_text(tmp_path):
    out = tmp_path / "r.parquet"
    jp = journal_path(out)
    with Journal(jp) as j:
        j.append(_row("a", swept={"slo.tpot_ms": 2**63}))
        j.append(_row("b", swept={"slo.tpot_ms": 20}))
    assert write_table(jp, out, keys={"a", "b"}) == 2
    assert pd.read_parquet(out)["slo.tpot_ms"].tolist() == [str(2**63), "20"]


def test_fleet_columns():
    pools = [
        {"role": "prefill", "chip": "h100-sxm", "instances": 2, "chips_per_instance": 4, "tp": 4, "ep": 1, "pp": 1, "dp": 1, "batch": 8},
        {"role": "decode", "chip": "h200-sxm", "instances": 3, "chips_per_instance": 8, "tp": 8, "ep": 1, "pp": 1, "dp": 1, "batch": 128},
        {"role": "decode", "chip": "h100-sxm", "instances": 1, "chips_per_instance": 2, "tp": 2, "ep": 1, "pp": 2, "dp": 1, "batch": 64},
    ]
    assert fleet_text(pools) == ("prefill: 2x h100-sxm tp4 b8; decode: 3x h200-sxm tp8 b128; "
                                 "decode: 1x h100-sxm tp2 pp2 b64")
    v = role_values(pools)
    assert (v["decode_chip"], v["decode_pools"], v["decode_instances"], v["decode_chips"]) == ("h200-sxm+h100-sxm", 2, 4, 26)
    assert (v["decode_tp"], v["decode_batch"], v["prefill_chips"]) == (8, 128, 8)
    assert "aggregated_chips" not in v


# ------------------------------------------------------------------ real solves


def _table(out) -> pd.DataFrame:
    out = Path(out)
    df = pd.read_parquet(out) if out.suffix == ".parquet" else pd.read_csv(out)
    return df.sort_values("scenario_key").reset_index(drop=True)


def test_pool_and_dask_give_identical_rows(tmp_path):
    from distributed import LocalCluster

    sw = _sweep(tmp_path, **{"workload.arrival_rate_rps": [2, 8], "slo.tpot_ms": [25, 50],
                             "chips": [["h100-sxm"], ["h200-sxm"]]})
    pool = BatchRun([str(sw)], tmp_path / "pool.parquet", workers=2).run()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        dask = BatchRun([str(sw)], tmp_path / "dask.parquet", scheduler=cluster.scheduler_address).run()
    assert (pool.total, pool.done, pool.optimal) == (8, 8, 8)
    assert dask.runner.startswith("dask") and (dask.done, dask.optimal) == (8, 8)
    a, b = _table(tmp_path / "pool.parquet"), _table(tmp_path / "dask.parquet")
    pd.testing.assert_frame_equal(a.drop(columns=TIMING), b.drop(columns=TIMING))
    assert a["cost_usd_per_hr"].gt(0).all() and a["fleet"].str.contains("x h").all()
    assert json.loads(a["pools_json"].iloc[0])[0]["role"] == "aggregated"
    assert {"workload.arrival_rate_rps", "slo.tpot_ms", "chips", "aggregated_chips", "aggregated_tp"} <= set(a.columns)


def test_bad_scenarios_become_rows_with_reasons_and_rerun_skips(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    _write(d / "good.yaml", dict(BASE, name="good"))
    _write(d / "typo.yaml", dict(BASE, name="typo", slo={"tpot_msec": 30}))
    _write(d / "nochip.yaml", dict(BASE, name="nochip", chips=[{"id": "h100-sxn"}]))
    _write(d / "tight.yaml", dict(BASE, name="tight", budget_usd_per_hr=1.0))
    (d / "broken.yaml").write_text("model: [unclosed\n")
    out = tmp_path / "r.csv"
    res = CliRunner().invoke(main, ["batch", str(d), "--out", str(out), "--workers", "0", "--format", "json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.output)
    assert (s["total"], s["done"], s["optimal"], s["infeasible"], s["failed"]) == (5, 5, 1, 1, 3)
    df = _table(out).set_index("scenario_name")
    assert df.loc["good", "status"] == "optimal" and pd.isna(df.loc["good", "reason"])
    assert df.loc["typo", "status"] == "error" and "tpot_msec" in df.loc["typo", "reason"]
    assert df.loc["nochip", "status"] == "error" and "h100-sxm" in df.loc["nochip", "reason"]  # did-you-mean
    assert df.loc["tight", "status"] == "infeasible" and "budget_usd_per_hr" in df.loc["tight", "reason"]
    assert df.loc["broken", "status"] == "error" and "YAML" in df.loc["broken", "reason"]
    assert pd.isna(df.loc["broken", "cost_usd_per_hr"])

    again = json.loads(CliRunner().invoke(main, ["batch", str(d), "-o", str(out), "-j", "0", "--format", "json"]).output)
    assert (again["skipped"], again["done"], again["failed"]) == (5, 0, 3)
    retry = json.loads(CliRunner().invoke(
        main, ["batch", str(d), "-o", str(out), "-j", "0", "--retry-errors", "--format", "json"]).output)
    assert (retry["skipped"], retry["done"]) == (2, 3)
    assert len(_table(out)) == 5

    before = _table(out)
    journal_path(out).unlink()  # journal gone: the finished table still counts as done
    seeded = BatchRun([str(d)], out, workers=0).run()
    assert (seeded.skipped, seeded.done, seeded.optimal, seeded.failed) == (5, 0, 1, 3)
    pd.testing.assert_frame_equal(_table(out), before, check_dtype=False)


def _records(journal: Path) -> list[str]:
    return [r["key"] for r in iter_journal(journal)]


def _wait_for_records(journal: Path, n: int, proc: subprocess.Popen, timeout_s: float = 30) -> None:
    t0 = time.monotonic()
    while len(_records(journal)) < n:
        assert proc.poll() is None, "the batch ended before it could be interrupted"
        assert time.monotonic() - t0 < timeout_s, "no result journaled in time"
        time.sleep(0.02)


def test_interrupt_and_kill9_lose_nothing_and_rerun_finishes_each_once(tmp_path):
    sw = _sweep(tmp_path, **{"workload.arrival_rate_rps": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
                             "slo.tpot_ms": [25, 40, 60]})
    out = tmp_path / "r.parquet"
    journal = journal_path(out)
    cmd = [sys.executable, "-m", "planner", "batch", str(sw), "--out", str(out), "--workers", "1"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = []
    try:
        # Ctrl-C: stops, writes the table of what finished, exits 130
        p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        procs.append(p)
        _wait_for_records(journal, 1, p)
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=30) == 130, p.stderr.read().decode()
        first = _records(journal)
        assert 1 <= len(first) < 30
        assert set(pd.read_parquet(out)["scenario_key"]) == set(first)

        # kill -9 while solving: every journaled result survives, the table is the old one or absent, never torn
        p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        procs.append(p)
        _wait_for_records(journal, len(first) + 1, p)
        p.kill()
        p.wait(timeout=10)
        second = _records(journal)
        assert len(first) < len(second) < 30 and second[: len(first)] == first
        assert set(pd.read_parquet(out)["scenario_key"]) == set(first)
    finally:
        for q in procs:
            if q.poll() is None:
                q.kill()
            q.wait(timeout=10)
            for pipe in (q.stdout, q.stderr):
                if pipe:
                    pipe.close()
            with __import__("contextlib").suppress(ProcessLookupError, PermissionError):
                os.killpg(q.pid, signal.SIGKILL)  # any worker left of that run

    s = BatchRun([str(sw)], out, workers=0).run()
    assert (s.total, s.skipped, s.done, s.optimal) == (30, len(second), 30 - len(second), 30)
    keys = _records(journal)
    assert len(keys) == len(set(keys)) == 30  # each scenario solved exactly once over the three runs
    df = pd.read_parquet(out)
    assert len(df) == 30 and set(df["scenario_key"]) == set(keys) and (df["status"] == "optimal").all()


def test_table_write_streams_in_chunks(tmp_path, monkeypatch):
    import tracemalloc

    import pyarrow.parquet as pq

    from planner.batch import results_store

    monkeypatch.setattr(results_store, "CHUNK_ROWS", 500)
    out = tmp_path / "r.parquet"
    jp = journal_path(out)
    pools = "x" * 1000
    with jp.open("w") as f:  # 6,000 rows, ~7 MB of journal
        for i in range(6000):
            f.write(json.dumps({"key": f"k{i}", "row": _row(f"k{i}", pools_json=pools, swept={"a": i})}) + "\n")
    tracemalloc.start()
    try:
        n = write_table(jp, out)
        peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()
    assert n == 6000 and pq.ParquetFile(out).metadata.num_row_groups == 12
    assert peak_mb < 4, f"table write held {peak_mb:.1f} MB"


def test_csv_cells_that_start_a_formula_are_quoted(tmp_path):
    out = tmp_path / "r.csv"
    jp = journal_path(out)
    with Journal(jp) as j:
        j.append(_row("a", swept={"note": '=HYPERLINK("http://x")'}, scenario_name="@SUM(A1)"))
    write_table(jp, out, keys={"a"})
    df = pd.read_csv(out)
    assert df["note"].iloc[0].startswith("'=") and df["scenario_name"].iloc[0] == "'@SUM(A1)"
