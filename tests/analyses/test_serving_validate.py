"""`planner validate` on serving benchmarks: recognized by header, every row predicted or skipped with a reason,
the JSON rows as documented, the error computed from the numbers shown."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from planner.analyses import serving as S
from planner.analyses.serving import (
    chip_for_system,
    is_serving_file,
    kv_dtype,
    read_serving,
    setting_from_row,
)
from planner.analyses.validate import POINTS_FILE
from planner.cli import main
from planner.engine.params import active_params, using_params
from planner.inputs.chips import load_catalog

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "serving" / "serving_small.csv"


def test_the_format_is_recognized_by_its_header():
    assert is_serving_file(FIXTURE)
    assert not is_serving_file(POINTS_FILE)


def test_rows_become_deployments():
    df = read_serving(FIXTURE).set_index("id", drop=False)
    cat = load_catalog()
    agg = setting_from_row(df.loc[[i for i in df.index if "qwen3_32b_h100_sxm_sglang_agg" in i][0]], cat)
    assert agg.prefill is None and agg.concurrency == 16 and agg.config.tp == 8 and agg.config.weights == "bf16"
    assert agg.config.max_batch >= 16 and agg.config.framework == "sglang"
    dis = setting_from_row(df.loc["dsr1_gb200_sglang_fp8_disagg_1024x1024_c8_cfg502"], cat)
    assert dis.prefill is not None and dis.prefill_workers >= 1 and dis.decode_workers >= 1
    assert dis.decode_workers * dis.config.max_batch >= dis.concurrency


@pytest.mark.parametrize("system, chip", [("h100_sxm", "h100-sxm"), ("gb200", "gb200"), ("gb200_sxm", "gb200"),
                                          ("a100_sxm", "a100-sxm-80gb"), ("h20", "h20"), ("b300_sxm", "b300"),
                                          ("l40s", "l40s"), ("mi355x", "mi355x"), ("h100_pcie", "h100-pcie"),
                                          ("rtx_pro_6000_server", "rtx-pro-6000"), ("b60", "arc-pro-b60"),
                                          ("unknown_gpu", None)])
def test_systems_map_to_catalog_chips(system, chip):
    """Systems beyond the shared rows' four are found by the catalog's spelling of ids."""
    assert chip_for_system(system) == chip


def test_a_row_on_another_system_is_predicted_on_its_chip():
    df = read_serving(FIXTURE)
    row = df[df["mode"] == "agg"].iloc[0].copy()
    row["system"] = "h20"
    s = setting_from_row(row, load_catalog())
    assert s.config.chip.id == "h20"


@pytest.mark.parametrize("gemm, moe, dtype", [("fp8_static", "", "fp8"), ("fp8_ootb", "", "fp8"), ("sq", "", "fp8"),
                                               ("bfloat16", "nvfp4_wo", "w4a16"), ("w4a16_nvfp4", "", "w4a16"),
                                               ("fp8_block", "w4afp8", "w4a16"), ("nvfp4", "nvfp4", "fp4"),
                                               ("fp8", "w4a8_mxfp4_mxfp8_trtllm", "fp4"), ("int8_wo", "", None)])
def test_every_quantization_label_of_the_format_has_a_dtype_or_a_reason(gemm, moe, dtype):
    """AI Configurator's GEMM and MoE quantization modes: each runs as an engine dtype, or the row is skipped
    naming the label (int8 weight-only has no engine dtype)."""
    from planner.analyses.serving import Skip, _dtype

    row = pd.Series({"gemm_quant_mode": gemm, "moe_quant_mode": moe, "precision": "fp8"})
    if dtype is None:
        with pytest.raises(Skip, match=gemm):
            _dtype(row)
    else:
        assert _dtype(row) == dtype


def test_the_kv_cache_dtype_is_each_framework_s_default():
    """TensorRT-LLM takes the FP8/NVFP4 checkpoint's FP8 KV recipe; vLLM and SGLang keep 16-bit; unquantized
    checkpoints keep 16-bit everywhere."""
    assert kv_dtype("trtllm", "fp8") == "fp8" and kv_dtype("trtllm", "fp4") == "fp8"
    assert kv_dtype("trtllm", "bf16") == "bf16" and kv_dtype("trtllm", "w4a16") == "bf16"
    assert kv_dtype("sglang", "fp8") == "bf16" and kv_dtype("vllm", "fp4") == "bf16"
    df = read_serving(FIXTURE).set_index("id", drop=False)
    dis = setting_from_row(df.loc["dsr1_gb200_sglang_fp8_disagg_1024x1024_c8_cfg502"], load_catalog())
    assert dis.config.kv == "bf16" and dis.prefill.kv == "bf16"


def test_validate_serving_json():
    r = CliRunner().invoke(main, ["validate", str(FIXTURE), "--format", "json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    rows = out["rows"]
    assert {"id", "metric", "predicted", "measured", "ape"} <= set(rows[0])
    assert {row["metric"] for row in rows} == {"ttft_ms", "tpot_ms"}
    ok = [row for row in rows if row["status"] == "ok"]
    assert len(ok) == 2 * 4  # three aggregated rows (one with 4-bit weight-only) and a complete disaggregated row
    for row in ok:
        assert row["predicted"] > 0 and row["ape"] == pytest.approx(abs(row["predicted"] / row["measured"] - 1))
    reasons = {row["id"]: row["reason"] for row in rows if row["status"] != "ok"}
    assert all("int4" not in k for k in reasons)  # 4-bit weight-only runs as w4a16
    assert any("incomplete pool description" in v for v in reasons.values())
    assert {"metric", "mode", "system", "framework"} <= set(out["by_metric_mode_system_framework"][0])


def test_validate_serving_table():
    r = CliRunner().invoke(main, ["validate", str(FIXTURE), "--by", "framework"])
    assert r.exit_code == 0, r.output
    assert "serving benchmarks" in r.output and "skipped" in r.output


def test_calibrate_from_serving_benchmarks_recovers_a_known_efficiency(tmp_path):
    """Rows 'measured' by the serving model itself on a catalog whose H100 memory efficiency is 0.60: calibrating
    the bundled catalog (0.76) on them recovers 0.60, and the overlay it writes is accepted by --catalog."""
    from planner.analyses.calibrate import apply_params, fit_serving
    from planner.analyses.kernels import KernelParams
    from planner.analyses.serving import predict_serving

    cat = load_catalog()
    rows = read_serving(FIXTURE)
    rows = rows[(rows["mode"] == "agg") & (rows["system"] == "h100_sxm")].reset_index(drop=True)
    truth = apply_params(cat, ["h100-sxm"], KernelParams.from_chip(cat["h100-sxm"]).with_values(["memory"], [0.60]))
    pred = predict_serving(rows, truth).pivot(index="id", columns="metric", values="predicted")
    measured = rows.assign(silicon_ttft_ms=rows["id"].map(pred["ttft_ms"]), silicon_tpot_ms=rows["id"].map(pred["tpot_ms"]))
    params, fit = fit_serving(measured, cat, "h100-sxm", free=["memory"])
    assert params.memory == pytest.approx(0.60, rel=0.03)
    path = tmp_path / "bench.csv"
    measured.drop(columns=["concurrency"]).to_csv(path, index=False)
    out = tmp_path / "h100-cal.yaml"
    r = CliRunner().invoke(main, ["calibrate", str(path), "--chip", "h100-sxm", "--fit", "memory", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert load_catalog((str(out),))["h100-sxm"].efficiency.memory == pytest.approx(0.60, rel=0.03)
    assert "serving error, catalog vs fitted" in r.output


def test_bad_rows_are_skipped_with_the_column_named(tmp_path):
    rows = read_serving(FIXTURE).drop(columns=["concurrency"]).iloc[:3].copy()
    rows["isl"] = rows["isl"].astype(object)
    rows.iloc[0, rows.columns.get_loc("isl")] = "abc"
    rows.iloc[1, rows.columns.get_loc("silicon_ttft_ms")] = -5.0
    rows["tp_size"] = rows["tp_size"].astype(object)
    rows.iloc[2, rows.columns.get_loc("tp_size")] = "TP8"
    path = tmp_path / "bad.csv"
    rows.to_csv(path, index=False)
    r = CliRunner().invoke(main, ["validate", str(path), "--format", "json"])
    assert r.exit_code == 0, r.output
    reasons = json.loads(r.output)["skipped"]
    assert any("isl" in k for k in reasons) and any("silicon_ttft_ms" in k for k in reasons)
    assert any("'TP8' is not an integer" in k for k in reasons)


def test_repeated_rows_are_simulated_once_and_processes_change_nothing(monkeypatch):
    """A row measured twice (same deployment, same concurrency, another id and measurement) is simulated once and
    gets the same prediction; spreading rows over processes gives the same predictions as one process, with the
    constants in force in the caller (here a changed host time)."""
    rows = read_serving(FIXTURE)
    again = rows.assign(id=rows["id"] + "_again", silicon_ttft_ms=rows["silicon_ttft_ms"] * 2)
    both = pd.concat([rows, again], ignore_index=True)
    calls = []
    real = S.predict_row
    monkeypatch.setattr(S, "predict_row", lambda row, cat: calls.append(row["id"]) or real(row, cat))
    one = S.predict_serving(both)
    assert len(calls) == len(rows)
    first, second = one.iloc[: 2 * len(rows)], one.iloc[2 * len(rows):]
    assert second["predicted"].fillna(-1).tolist() == first["predicted"].fillna(-1).tolist()
    assert (second.loc[second["metric"] == "ttft_ms", "measured"].to_numpy()
            == 2 * first.loc[first["metric"] == "ttft_ms", "measured"].to_numpy()).all()
    monkeypatch.setattr(S, "predict_row", real)
    monkeypatch.setattr(S, "ROWS_PER_WORKER", 1)
    with using_params(active_params().replace(host_s_trtllm=5e-3, host_s_sglang=5e-3, host_s_vllm=5e-3)):
        slow_one = S.predict_serving(rows, workers=1)
        slow_two = S.predict_serving(rows, workers=2)
    assert slow_two["predicted"].fillna(-1).tolist() == slow_one["predicted"].fillna(-1).tolist()
    ok = one.iloc[: 2 * len(rows)]["status"] == "ok"
    assert (slow_one["predicted"][ok] > one.iloc[: 2 * len(rows)]["predicted"][ok]).all()
