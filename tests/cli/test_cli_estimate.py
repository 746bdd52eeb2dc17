"""End-to-end CLI checks for `planner chips`, `planner models`, `planner estimate`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from planner.cli import main


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


def test_chips_and_models_tables(runner):
    r = runner.invoke(main, ["chips", "--format", "json"])
    assert r.exit_code == 0, r.output
    ids = {c["id"] for c in json.loads(r.output)}
    assert {"h100-sxm", "b200", "mi300x", "tpu-v7", "cerebras-wse3"} <= ids
    r = runner.invoke(main, ["models", "--format", "json"])
    assert r.exit_code == 0, r.output
    models = {m["id"]: m for m in json.loads(r.output)}
    assert models["deepseek-v3"]["attention"] == "mla"
    assert models["llama-3.1-70b"]["params_b"] == pytest.approx(70.6, rel=0.01)
    r = runner.invoke(main, ["chips"])
    assert r.exit_code == 0 and "h100-sxm" in r.output


def test_estimate_json_keys(runner):
    r = runner.invoke(main, ["estimate", "--model", "llama-3.1-70b", "--chip", "h100-sxm", "--tp", "4",
                             "--weights", "fp8", "--isl", "2048", "--osl", "256", "--batch", "32", "--format", "json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    for key in ("ttft_ms", "tpot_ms", "prefill_tok_s_per_chip", "decode_tok_s_per_chip", "memory_gb_per_chip", "fits"):
        assert key in out
    assert out["fits"] is True
    assert 0 < out["ttft_ms"] < 2000 and 0 < out["tpot_ms"] < 100
    fams = {b["family"] for b in out["breakdown"]["decode"]}
    assert {"attn_proj", "attn_core", "ffn", "comm"} <= fams


def test_estimate_table_shows_breakdown(runner):
    r = runner.invoke(main, ["estimate", "--model", "llama-3.1-8b", "--chip", "h100-sxm"])
    assert r.exit_code == 0, r.output
    assert "TPOT" in r.output and "attn_core" in r.output and "memory" in r.output


def test_estimate_from_hf_config(runner):
    r = runner.invoke(main, ["estimate", "--model", "tests/fixtures/hf/deepseek-v3/config.json", "--chip", "b200",
                             "--tp", "8", "--ep", "8", "--weights", "fp8", "--format", "json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["fits"] is True


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--model", "llama-3.1-70b", "--chip", "h100"], "did you mean"),
        (["--model", "llama-3.1-70", "--chip", "h100-sxm"], "did you mean"),
        (["--model", "llama-3.1-70b", "--chip", "h100-sxm", "--tp", "3"], "tp"),
        (["--model", "mixtral-8x7b", "--chip", "h100-sxm", "--tp", "2", "--ep", "3"], "ep"),
        (["--model", "llama-3.1-70b", "--chip", "a100-sxm-80gb", "--tp", "2", "--weights", "fp8"], "fp8"),
    ],
)
def test_estimate_bad_input_exit_2(runner, args, needle):
    r = runner.invoke(main, ["estimate", *args])
    assert r.exit_code == 2
    assert needle in r.output
    assert "Traceback" not in r.output


def test_estimate_does_not_fit_names_smallest_tp(runner):
    r = runner.invoke(main, ["estimate", "--model", "llama-3.1-70b", "--chip", "h100-sxm"])
    assert r.exit_code == 2
    assert "does not fit" in r.output and "of the 80 GiB the catalog lists" in r.output and "--tp 2" in r.output


def test_the_breakdown_adds_up_to_the_figures_printed():
    """The operator rows plus the host and pipeline row sum to the TTFT and TPOT (issue: 14.1 ms of rows under a
    TPOT of 19.1 ms)."""
    import json

    from click.testing import CliRunner

    from planner.cli import main

    r = CliRunner().invoke(main, ["estimate", "--model", "llama-3.1-70b", "--chip", "h100-sxm", "--tp", "4", "--pp", "2",
                                  "--batch", "16", "--isl", "32768", "--format", "json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    for phase, figure in (("prefill", "ttft_ms"), ("decode", "tpot_ms")):
        rows = out["breakdown"][phase]
        assert sum(x["time_ms"] for x in rows) == pytest.approx(out[figure], rel=1e-9)
    host = out["breakdown"]["decode"][-1]
    assert host["family"].startswith("host") and host["time_ms"] > 0
