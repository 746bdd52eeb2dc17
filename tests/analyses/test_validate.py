"""`planner validate` on a small fixture whose expected predictions come from independent engine evaluations."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from planner.analyses.datasets import DATASETS_FILE, dataset_isl, dataset_table, measured_dataset_isl
from planner.analyses.validate import (
    parse_pool,
    parse_sla,
    parse_ttft_percentile,
    predict_points,
    read_points,
    summarize,
)
from planner.cli import main
from planner.engine.candidates import Candidates
from planner.engine.roofline import evaluate
from planner.engine.tables import DTYPE_CODE, ROLE_CODE, ChipTable, ModelTable
from planner.inputs.chips import load_catalog
from planner.inputs.models import load_model
from planner.optimize.queueing import SCV, wait_quantile_s
from planner.paths import ROOT

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "validation" / "points_small.csv"


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


@pytest.fixture(scope="module")
def results(cat):
    return predict_points(read_points(FIXTURE), cat).set_index("id")


def engine(model_id, role, cat, **cols):
    """One candidate through the engine (the independent reference for the expected answers)."""
    base = dict(tp=1, ep=1, pp=1, dp=1, wdtype=0, kvdtype=0, prefix_hit=0.0)
    base.update(cols)
    m, c = load_model(model_id), cat["h100-sxm"]
    cands = Candidates.from_columns(role=ROLE_CODE[role], model=0, chip=0, **base)
    return evaluate(cands, ModelTable.build([m]), ChipTable.build([c])).row(0)


def test_decode_row_known_answer(results, cat):
    ref = engine("llama-3.1-8b", "decode", cat, batch=32, isl=1024, osl=1)
    row = results.loc["FX-D1-a"]
    assert row["status"] == "ok"
    assert row["predicted"] == pytest.approx(ref["decode_tok_s"], rel=1e-9)
    assert row["ape"] == pytest.approx(abs(ref["decode_tok_s"] - 1000) / 1000, rel=1e-9)
    assert results.loc["FX-D1-b", "predicted"] == pytest.approx(ref["tpot_s"] * 1e3, rel=1e-9)


def test_aggregated_concurrency_is_per_instance_batch(results, cat):
    ref = engine("llama-3.1-70b", "aggregated", cat, tp=8, batch=64, isl=1000, osl=1000,
                 wdtype=DTYPE_CODE["fp8"], kvdtype=DTYPE_CODE["fp8"])
    assert results.loc["FX-A1", "predicted"] == pytest.approx(ref["decode_tok_s"] / 8, rel=1e-9)


def test_search_finds_at_least_the_stated_configuration(results):
    """Searching parallelism and batch never does worse than a fixed TP8 batch-64 instance."""
    assert results.loc["FX-A2", "status"] == "ok"
    assert results.loc["FX-A2", "predicted"] >= results.loc["FX-A1", "predicted"]


def test_sla_bounds_the_searched_batch(results, cat):
    row = results.loc["FX-SLA"]
    batch = float(row["config"].split("batch ")[1].split()[0])
    ref = engine("llama-3.1-8b", "aggregated", cat, batch=batch, isl=1000, osl=200)
    assert ref["tpot_s"] * 1e3 <= 20.0
    assert row["predicted"] == pytest.approx(ref["decode_tok_s"], rel=1e-9)
    bigger = engine("llama-3.1-8b", "aggregated", cat, batch=batch * 1.5, isl=1000, osl=200)
    assert bigger["tpot_s"] * 1e3 > 20.0 or bigger["fit_reason"] != 0


def test_prefill_search_respects_token_budget(results, cat):
    row = results.loc["FX-P1"]
    batch = float(row["config"].split("batch ")[1].split()[0])
    assert batch * 2048 <= 16384
    assert row["predicted"] >= engine("llama-3.1-8b", "prefill", cat, batch=1, isl=2048, osl=1)["prefill_tok_s"]


def test_disaggregated_closed_loop(results, cat):
    a, b = results.loc["FX-DG-a"], results.loc["FX-DG-b"]
    assert a["status"] == b["status"] == "ok"
    # the closed loop can never beat the decode pool at the full concurrency (32 per instance) nor the prefill pool
    dec = engine("llama-3.1-8b", "decode", cat, batch=32, isl=1024, osl=256)
    rate_dec_cap = 2 * dec["decode_tok_s"] / 256
    assert a["predicted"] <= rate_dec_cap * (1024 + 256) / 3 * (1 + 1e-9)
    assert b["predicted"] >= 1.0 / dec["tpot_s"] * (1 - 1e-9)  # per-user speed at <= 32 in flight


def test_speculative_decoding_with_stated_acceptance(results, cat):
    ref = engine("llama-3.1-8b", "decode", cat, batch=16, isl=1024, osl=1, spec_tokens=2, spec_accept=2.5)
    plain = engine("llama-3.1-8b", "decode", cat, batch=16, isl=1024, osl=1)
    assert results.loc["FX-SPEC", "predicted"] == pytest.approx(ref["decode_tok_s"], rel=1e-9)
    assert ref["decode_tok_s"] > plain["decode_tok_s"]  # verify 3 tokens at once, emit 2.5: faster per user


def test_percentile_ttft_sla_carries_the_queueing_load(results, cat):
    """Open-loop row with a p99 TTFT SLA: throughput = rho x capacity, rho the highest load whose p99 wait (M/D/c
    over the batch's sequence slots, each held batch / capacity seconds) fits in the SLA minus the engine's TTFT."""
    row, mean = results.loc["FX-Q"], results.loc["FX-Q-mean"]
    assert row["status"] == mean["status"] == "ok"
    assert "p99 TTFT queueing" in row["config"] and "queueing" not in mean["config"]
    batch = float(row["config"].split("batch ")[1].split()[0])
    rho = float(row["config"].split("load ")[1].split()[0])
    ref = engine("llama-3.1-8b", "aggregated", cat, batch=batch, isl=1000, osl=200)
    exact = row["predicted"] / ref["decode_tok_s"]
    assert 0.3 < exact < 1.0 and exact == pytest.approx(rho, abs=0.006)  # printed to 2 decimals
    capacity_rps = ref["decode_tok_s"] / 200
    wait = wait_quantile_s(batch / capacity_rps, batch, exact, 99.0, SCV["md-c"])
    assert float(wait) + ref["ttft_s"] == pytest.approx(0.150, rel=1e-3)  # the p99 TTFT sits at the SLA
    assert mean["predicted"] > row["predicted"]  # the same SLA on means (no queue) allows more


@pytest.mark.parametrize("rid, words", [
    ("FX-SK1", "acceptance"), ("FX-SK3", "preset"), ("FX-SK4", "input length"),
])
def test_unmodelled_rows_are_skipped_with_reason(results, rid, words):
    row = results.loc[rid]
    assert row["status"] == "skipped" and words in row["reason"]
    assert np.isnan(row["predicted"])


def test_summary_math():
    res = pd.DataFrame({
        "status": ["ok", "ok", "ok", "ok", "skipped"], "ape": [0.1, 0.2, 0.3, 1.0, np.nan],
        "ratio": [1.1, 1.25, 1.3, 2.0, np.nan],
    })
    s = summarize(res)
    assert s["n"] == 4 and s["skipped"] == 1
    assert s["median_ape"] == pytest.approx(0.25)
    assert s["mape"] == pytest.approx(0.4)
    assert s["within_25pct"] == pytest.approx(0.5)
    assert s["max_ratio"] == pytest.approx(2.0)


def test_parsers():
    assert parse_sla("x | sla: ttft_p99_ms<=2000; tpot_p99_ms<=200 | y") == {"ttft_ms": 2000.0, "tpot_ms": 200.0}
    assert parse_sla("sla: tpot_ms<=50") == {"tpot_ms": 50.0}
    assert parse_ttft_percentile("sla: ttft_p99_ms<=2000; tpot_p99_ms<=200") == 99.0
    assert parse_ttft_percentile("sla: ttft_ms<=2000") is None
    assert parse_pool("prefill 4 x (tp4, ep4) = 16 GPUs; decode 1 x (tp32, ep32, DP-attn)", "prefill") == (
        4, {"tp": 4, "ep": 4, "pp": 1, "dp": 1})
    assert parse_pool("decode 6x(TP8,EP8,DP-attn)=48", "decode") == (6, {"tp": 1, "ep": 8, "pp": 1, "dp": 8})


def test_dataset_mean_input_lengths(tmp_path):
    """Rows naming a dataset take its measured mean from validation/datasets.csv; a mix beats its component."""
    table = pd.read_csv(DATASETS_FILE)
    assert set(table["key"]) == {"OpenOrca", "OpenOrca+GSM8K+MBXP", "long-context mix", "reasoning mix"}
    for r in table.itertuples():
        isl, basis = dataset_isl(f"MLPerf scenario; isl blank: MLPerf {r.key} mean input length not stated")
        assert isl == r.mean_isl and basis.startswith("measured") and f"{r.samples:,} prompts" in basis
    assert dataset_isl("isl blank: OpenOrca+GSM8K+MBXP")[0] == 427.4  # not OpenOrca's 222.3
    assert dataset_isl("isl blank: OpenOrca")[0] == 222.3
    assert dataset_isl("MLPerf deepseek-r1 reasoning mix mean input length not stated")[0] == 803.8
    assert dataset_isl("no dataset named here") is None
    # the table's own reader: hand-made file
    f = tmp_path / "datasets.csv"
    f.write_text("key,benchmark,samples,mean_isl,median_isl,max_isl,mean_ref_osl,cv_ref_osl,source\n"
                 "toy,toy-bench,4,25.0,20.0,50,10.0,0.5,https://example.org/x.csv\n")
    assert measured_dataset_isl(pd.read_csv(f))["toy"][0] == 25.0


def test_dataset_rows_carry_the_output_spread(cat):
    """An aggregated MLPerf row on a measured dataset takes the dataset's output-length spread (reported as an
    assumption) and is predicted slower than with fixed lengths: more KV in flight."""
    import planner.analyses.datasets as D

    row = read_points()
    row = row[row["id"] == "ML41-1"]
    with_cv = predict_points(row, cat).iloc[0]
    assert "output cv=0.787" in with_cv["assumptions"]
    with dataset_table(D.DATASET_OUTPUT_CV, {}):
        fixed = predict_points(row, cat).iloc[0]
    assert "output cv" not in fixed["assumptions"]
    assert with_cv["predicted"] < fixed["predicted"]


def test_dataset_lengths_script(tmp_path):
    """scripts/dataset_lengths.py: hand-computed statistics of four prompts."""
    f = tmp_path / "lengths.csv"
    f.write_text("input_length,output_length\n10,10\n20,30\n30,20\n40,20\n")
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "dataset_lengths.py"), str(f), "--key", "toy",
                          "--benchmark", "toy-bench", "--source", "https://example.org/x.csv"],
                         capture_output=True, text=True, check=True).stdout.strip()
    # mean isl 25, median 25, max 40; outputs 10, 30, 20, 20: mean 20, population sd sqrt(50) -> cv 0.354
    assert out == "toy,toy-bench,4,25.0,25.0,40,20.0,0.354,https://example.org/x.csv"


def test_cli_json_schema():
    out = CliRunner().invoke(main, ["validate", str(FIXTURE), "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert set(data["summary"]) >= {"n", "median_ape", "mape", "within_25pct", "max_ratio"}
    row = next(r for r in data["rows"] if r["id"] == "FX-D1-a")
    assert set(row) >= {"id", "predicted", "measured", "ape"}
    skipped = [r for r in data["rows"] if r["status"] == "skipped"]
    assert len(skipped) == 3 and all(r["reason"] for r in skipped)  # FX-SK2 (AFD) is predicted by planner.axes.afd
    assert "by_quality" in data


def test_bundled_points_file_validates():
    """The shipped points file parses and every row is either predicted or skipped with a reason."""
    res = predict_points(read_points())
    assert len(res) == 61
    assert ((res["status"] == "ok") | (res["reason"] != "")).all()
    assert (res.loc[res["status"] == "ok", "predicted"] > 0).all()


def test_holdout_rows_match_their_quotes():
    """Each held-out row's per-chip value is its quoted system figure divided by its chip count (notes `conversion:`),
    so a typo in a value, a chip count or a quote fails here; every row is predicted, none skipped."""
    import re

    from planner.analyses.validate import HOLDOUT_FILE

    pts = read_points(HOLDOUT_FILE)
    assert len(pts) >= 10 and pts["id"].is_unique
    for row in pts.itertuples():
        m = re.search(r"conversion: ([\d,.]+) / (\d+) = ([\d,.]+) per chip", row.notes)
        assert m, row.id
        system, chips, per_chip = float(m[1].replace(",", "")), int(m[2]), float(m[3].replace(",", ""))
        assert chips == row.num_chips, row.id
        assert system / chips == pytest.approx(row.value, abs=0.01), row.id
        assert per_chip == pytest.approx(row.value, abs=0.01), row.id
        quoted = re.search(r'quote: "[^"]*?([\d.]+)"', row.notes)
        assert quoted and float(quoted[1]) == pytest.approx(system, rel=1e-6), row.id
        assert row.source.startswith("https://github.com/mlcommons/inference_results_v"), row.id
    res = predict_points(pts)
    assert (res["status"] == "ok").all(), res.loc[res["status"] != "ok", ["id", "reason"]]


def test_cli_holdout_flag():
    out = CliRunner().invoke(main, ["validate", "--holdout", "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert {r["id"] for r in data["rows"]} >= {"HO-1", "HO-2", "HO-3"} and data["summary"]["skipped"] == 0
    both = CliRunner().invoke(main, ["validate", "--holdout", str(FIXTURE)])
    assert both.exit_code != 0 and "--holdout" in both.output and "Traceback" not in both.output


def test_error_band_and_margin_from_results():
    from planner.optimize.uncertainty import error_band, performance_ratio

    rows = []
    for f in [0.5, 0.8, 0.9, 1.0, 1.1]:  # measured/predicted throughput
        rows.append({"phase": "decode", "chip": "h100-sxm", "model": "llama-3.1-8b", "metric": "output_tok_s_per_chip",
                     "measured": 100.0 * f, "predicted": 100.0, "status": "ok"})
    rows.append({"phase": "prefill", "chip": "b200", "model": "deepseek-v3", "metric": "ttft_ms",
                 "measured": 200.0, "predicted": 100.0, "status": "ok"})
    df = pd.DataFrame(rows)
    df["f"] = [float(performance_ratio(m, a, b)) for m, a, b in zip(df["metric"], df["measured"], df["predicted"], strict=True)]
    df["chip_family"] = ["nvidia-hopper"] * 5 + ["nvidia-blackwell"]
    df["model_class"] = ["dense"] * 5 + ["moe"]
    band = error_band("decode", "h200-sxm", "llama-3.1-70b", results=df)
    assert band["n"] == 5 and "chip family=nvidia-hopper" in band["basis"]
    assert band["lo"] == pytest.approx(np.quantile([0.5, 0.8, 0.9, 1.0, 1.1], 0.1))
    assert band["median_ape"] == pytest.approx(np.median(np.abs(1 / np.array([0.5, 0.8, 0.9, 1.0, 1.1]) - 1)))
    assert df["f"].iloc[-1] == pytest.approx(0.5)  # a latency twice the prediction: the engine was optimistic
    wide = error_band("prefill", "b200", "deepseek-v3", results=df)  # one row only: falls back to all rows
    assert wide["basis"] == "all validated rows" and wide["n"] == 6


def test_estimate_carries_error_band(cat):
    from planner.analyses.estimate import Setting, estimate

    est = estimate(load_model("llama-3.1-8b"), cat["h100-sxm"], Setting(batch=8))
    band = est.summary["error_band"]
    assert set(band) == {"prefill", "decode"}
    assert band["decode"]["n"] > 0 and band["decode"]["lo"] <= band["decode"]["hi"]


def test_a_zoo_moe_model_gets_the_moe_band_not_the_dense_one():
    """The model class of an error band follows the model a scenario names, a Hugging Face id of the zoo as much as
    a preset (before: every non-preset model was banded as dense)."""
    from planner.optimize.uncertainty import error_band, model_class

    assert model_class("moonshotai/Kimi-K3") == "moe" and model_class("deepseek-v3") == "moe"
    assert model_class("meta-llama/Llama-3.1-70B") == "dense" and model_class("no-such-model") == "dense"
    band = error_band("decode", "b200", "moonshotai/Kimi-K3")
    assert "model class=moe" in band["basis"] or band["basis"] == "all validated rows"
    assert error_band("decode", "b200", "kimi-k3", is_moe=True) == band
