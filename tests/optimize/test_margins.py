"""Planning margins per metric and chip family, from held-out error (planner.optimize.uncertainty)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from planner.cli import main
from planner.optimize.prepare import prepare
from planner.optimize.uncertainty import (
    MARGIN_QUANTILE,
    MIN_MARGIN_ROWS,
    Margins,
    margin_table,
    planning_margins,
)
from planner.paths import SCENARIOS_DIR


def _rows(metric, chip, pairs):
    return [{"metric": metric, "chip": chip, "measured": m, "predicted": p} for m, p in pairs]


def test_margin_table_is_the_one_sided_quantile_of_optimism_by_hand():
    over = [1.0, 1.1, 1.2, 1.3, 1.4, 0.9]  # predicted / measured throughput on six Hopper rows
    rows = _rows("output_tok_s_per_chip", "h100-sxm", [(100.0, 100.0 * f) for f in over])
    rows += _rows("output_tok_s_per_chip", "b200", [(100.0, 150.0)])  # one Blackwell row: no family value of its own
    rows += _rows("tpot_ms", "h200-sxm", [(12.0, 10.0)] * MIN_MARGIN_ROWS)  # measured 1.2x the predicted TPOT
    rows += _rows("tok_s_per_user", "h200-sxm", [(50.0, 40.0)])  # the engine pessimistic: optimism 0.8
    rows += _rows("ttft_ms", "b200", [(50.0, 100.0)] * MIN_MARGIN_ROWS)  # pessimistic everywhere: margin 0
    t = margin_table(pd.DataFrame(rows)).set_index(["margin_metric", "chip_family"])["margin"]
    assert t["capacity", "nvidia-hopper"] == pytest.approx(np.quantile(over, MARGIN_QUANTILE) - 1, abs=1e-3)
    assert t["capacity", "all"] == pytest.approx(np.quantile(over + [1.5], MARGIN_QUANTILE) - 1, abs=1e-3)
    assert ("capacity", "nvidia-blackwell") not in t.index
    assert t["tpot", "nvidia-hopper"] == pytest.approx(np.quantile([1.2] * MIN_MARGIN_ROWS + [0.8], MARGIN_QUANTILE) - 1,
                                                       abs=1e-3)
    assert t["ttft", "all"] == 0.0 and t["ttft", "nvidia-blackwell"] == 0.0


def test_margins_apply_per_chip_family(tmp_path):
    path = tmp_path / "margins.csv"
    pd.DataFrame([
        {"margin_metric": m, "chip_family": fam, "n": 9, "quantile": 0.75, "margin": v}
        for m, fam, v in [("capacity", "all", 0.3), ("tpot", "all", 0.2), ("ttft", "all", 0.5),
                          ("capacity", "nvidia-hopper", 0.1)]
    ]).to_csv(path, index=False)
    m = planning_margins(path)
    assert m.of_family("nvidia-hopper") == {"capacity": 0.1, "tpot": 0.2, "ttft": 0.5}  # unlisted metrics: "all"
    assert m.of_family("amd-cdna3") == {"capacity": 0.3, "tpot": 0.2, "ttft": 0.5}
    cap, tpot, ttft = m.factors(["h100-sxm", "mi300x", "h200-sxm"])
    np.testing.assert_allclose(cap, [1.1, 1.3, 1.1])
    np.testing.assert_allclose(tpot, [1.2, 1.2, 1.2])
    s = m.summary(["h100-sxm", "mi300x"])
    assert s["capacity"] == 0.3 and set(s["by_family"]) == {"nvidia-hopper", "amd-cdna3"} and "p75" in s["basis"]


def test_the_optimizer_divides_each_chip_s_capacity_by_its_own_margin(small, cache):
    m = Margins(default=(0.0, 0.0, 0.0), families=(("nvidia-hopper", 0.5, 0.25, 0.0),), basis="test")
    sc = small(chips=[{"id": "h100-sxm", "price_usd_per_hr": 2.5}, {"id": "b200", "price_usd_per_hr": 6.0}])
    plain = prepare(sc, cache=cache).table
    padded = prepare(sc, cache=cache, margin=m).table
    key = ["role", "chip", "tp", "ep", "pp", "dp", "batch"]
    both = plain.merge(padded, on=key, suffixes=("", "_m"))
    hop, bw = both[both["chip"] == "h100-sxm"], both[both["chip"] == "b200"]
    assert len(hop) and len(bw)
    np.testing.assert_allclose(hop["capacity_rps_m"], hop["capacity_rps"] / 1.5)
    np.testing.assert_allclose(hop["tpot_ms_m"].dropna(), hop["tpot_ms"].dropna() * 1.25)
    np.testing.assert_allclose(bw["capacity_rps_m"], bw["capacity_rps"])


def test_solve_prints_the_margins_it_planned_with(tmp_path):
    data = yaml.safe_load((SCENARIOS_DIR / "llama70b-chat.yaml").read_text())
    data.pop("margin", None)
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(data))
    r = CliRunner().invoke(main, ["solve", str(p)])
    assert r.exit_code == 0, r.output
    assert "TPOT" in r.output and "held-out p75" in r.output
    r = CliRunner().invoke(main, ["solve", str(p), "--margin", "10", "--format", "json"])
    margin = json.loads(r.output)["margin"]
    assert margin == {"capacity": 0.1, "tpot": 0.1, "ttft": 0.1, "basis": "--margin"}
