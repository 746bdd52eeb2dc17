"""Sweep files: expansion into the product, zip groups, chip shorthands and selectors, keys, input discovery."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from planner.batch.sweep import discover, iter_items, scenario_key, set_dotted, split_key, swept_columns
from planner.errors import PlannerError
from planner.paths import SCENARIOS_DIR

BASE = {
    "name": "chat",
    "model": "llama-3.1-8b",
    "workload": {"arrival_rate_rps": 10, "isl": 1024, "osl": 256},
    "slo": {"ttft_ms": 1000, "tpot_ms": 30},
    "chips": [
        {"id": "h100-sxm", "price_usd_per_hr": 2.5, "max_count": 8},
        {"id": "h200-sxm", "price_usd_per_hr": 3.5, "max_count": 8},
    ],
}


def _write(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def base_file(tmp_path):
    return _write(tmp_path / "base.yaml", BASE)


def _items(*paths):
    return list(iter_items([str(p) for p in paths]))


def test_product_of_axes_in_order(tmp_path, base_file):
    sw = _write(tmp_path / "sw.yaml", {"base": "base.yaml", "sweep": {
        "slo.tpot_ms": [20, 30, 50], "workload.arrival_rate_rps": [5, 10, 20, 40]}})
    items = _items(sw)
    assert len(items) == 12
    assert [(i.swept["slo.tpot_ms"], i.swept["workload.arrival_rate_rps"]) for i in items[:5]] == [
        (20, 5), (20, 10), (20, 20), (20, 40), (30, 5)]
    for it in items:
        assert it.scenario["slo"]["tpot_ms"] == it.swept["slo.tpot_ms"]
        assert it.scenario["workload"]["arrival_rate_rps"] == it.swept["workload.arrival_rate_rps"]
        assert it.scenario["slo"]["ttft_ms"] == 1000  # untouched keys kept
        assert it.source == str(sw)
    assert len({i.key for i in items}) == 12
    assert len({i.name for i in items}) == 12 and items[0].name == "chat-01"
    assert BASE["slo"]["tpot_ms"] == 30  # the base is never mutated


def test_zip_groups_vary_together(tmp_path, base_file):
    sw = _write(tmp_path / "sw.yaml", {"base": "base.yaml", "sweep": {"slo.tpot_ms": [20, 50]},
                                       "zip": [{"workload.isl": [1024, 8192, 32768], "workload.osl": [128, 1024, 256]}]})
    items = _items(sw)
    assert len(items) == 6
    assert {(i.scenario["workload"]["isl"], i.scenario["workload"]["osl"]) for i in items} == {
        (1024, 128), (8192, 1024), (32768, 256)}
    assert swept_columns([sw]) == ["slo.tpot_ms", "workload.isl", "workload.osl"]


def test_chip_sets_take_base_entries_and_selectors_collapse(tmp_path, base_file):
    sw = _write(tmp_path / "sw.yaml", {"base": "base.yaml", "sweep": {
        "chips": [["h100-sxm"], ["h200-sxm"], ["h100-sxm", "h200-sxm"], ["mi300x"]],
        "chips[h100-sxm].price_usd_per_hr": [2.0, 3.0]}})
    items = _items(sw)
    # h200-only and mi300x-only do not offer H100: the price does not apply, the two combinations collapse
    assert len(items) == 2 + 1 + 2 + 1
    by = {(tuple(i.swept["chips"]), i.swept["chips[h100-sxm].price_usd_per_hr"]): i for i in items}
    h100 = by[(("h100-sxm",), 3.0)].scenario["chips"]
    assert h100 == [{"id": "h100-sxm", "price_usd_per_hr": 3.0, "max_count": 8}]
    assert by[(("h200-sxm",), None)].scenario["chips"] == [BASE["chips"][1]]
    assert by[(("mi300x",), None)].scenario["chips"] == [{"id": "mi300x"}]
    both = by[(("h100-sxm", "h200-sxm"), 2.0)].scenario["chips"]
    assert [c["price_usd_per_hr"] for c in both] == [2.0, 3.5]


def test_inline_base_list_of_bases_and_index_paths(tmp_path):
    other = dict(BASE, name="long", workload={"arrival_rate_rps": 2, "isl": 8192, "osl": 1024})
    sw = _write(tmp_path / "sw.yaml", {"name": "grid", "base": [BASE, other], "sweep": {"chips.0.max_count": [4, 16]}})
    items = _items(sw)
    assert len(items) == 4
    assert {i.swept["base"] for i in items} == {"chat", "long"}
    assert {i.scenario["chips"][0]["max_count"] for i in items} == {4, 16}
    assert items[0].name == "grid-chat-1"


def test_key_is_stable_and_ignores_generated_name():
    a = dict(BASE, name="x")
    b = dict(BASE, name="y")
    assert scenario_key(a, {}) == scenario_key(b, {})
    assert scenario_key(a, {}) != scenario_key(a, {}, salt="mip_gap=0.01")
    assert scenario_key(a, {"k": 1}) != scenario_key(a, {"k": 2})
    c = dict(BASE, slo={"tpot_ms": 30, "ttft_ms": 1000})  # key order does not matter
    assert scenario_key(a, {}) == scenario_key(c, {})


def test_adding_values_keeps_existing_keys(tmp_path, base_file):
    sw = _write(tmp_path / "sw.yaml", {"base": "base.yaml", "sweep": {"slo.tpot_ms": [20, 30]}})
    before = {i.key for i in _items(sw)}
    _write(sw, {"base": "base.yaml", "sweep": {"slo.tpot_ms": [10, 20, 30, 50]}})
    after = {i.key for i in _items(sw)}
    assert before < after and len(after) == 4


def test_dotted_paths():
    assert split_key("chips[h100-sxm].price_usd_per_hr") == ["chips", "h100-sxm", "price_usd_per_hr"]
    assert split_key("slo.tpot_ms") == ["slo", "tpot_ms"]
    doc = {"slo": {}, "chips": [{"id": "a"}]}
    assert set_dotted(doc, "slo.ttft_percentile", 99)
    assert set_dotted(doc, "budget_usd_per_hr", 100)
    assert set_dotted(doc, "precision.weights", "fp8")  # creates the missing mapping
    assert set_dotted(doc, "chips.a.max_count", 3)
    assert not set_dotted(doc, "chips.b.max_count", 3)
    assert doc == {"slo": {"ttft_percentile": 99}, "chips": [{"id": "a", "max_count": 3}],
                   "budget_usd_per_hr": 100, "precision": {"weights": "fp8"}}


@pytest.mark.parametrize("spec, match", [
    ({"sweep": {"slo.tpot_ms": [20]}}, "no base"),
    ({"base": "base.yaml", "sweep": {"slo.tpot_ms": 20}}, "non-empty list"),
    ({"base": "base.yaml", "sweep": {"slo.tpot_ms": []}}, "non-empty list"),
    ({"base": "base.yaml", "zip": [{"workload.isl": [1, 2], "workload.osl": [1]}]}, "same length"),
    ({"base": "base.yaml", "sweep": {"slo.tpot_ms": [1]}, "zip": [{"slo.tpot_ms": [2]}]}, "more than once"),
    ({"base": "missing.yaml", "sweep": {"slo.tpot_ms": [1]}}, "base: file not found"),
    ({"base": "base.yaml", "sweeps": {}, "sweep": {"a": [1]}}, "unknown section"),
    ({"base": "base.yaml", "sweep": {f"k{i}": list(range(10)) for i in range(9)}}, "1,000,000,000 scenarios, more than"),
    ({"base": [], "sweep": {"slo.tpot_ms": [1]}}, "empty base list"),
])
def test_malformed_sweeps_raise_clear_errors(tmp_path, base_file, spec, match):
    sw = _write(tmp_path / "sw.yaml", spec)
    with pytest.raises(PlannerError, match=match):
        _items(sw)


def test_discovery_and_unreadable_files_become_error_items(tmp_path, base_file):
    sub = tmp_path / "more"
    sub.mkdir()
    _write(sub / "b.yml", dict(BASE, name="b"))
    (sub / "notes.txt").write_text("ignored")
    (sub / "broken.yaml").write_text("model: [unclosed\n")
    files = discover([tmp_path])
    assert [f.name for f in files] == ["base.yaml", "b.yml", "broken.yaml"]
    items = _items(tmp_path)
    assert [i.name for i in items] == ["chat", "b", "broken"]
    assert items[2].error and "YAML" in items[2].error and items[2].scenario is None
    # the same file twice is one scenario
    assert len(_items(base_file, base_file)) == 1
    with pytest.raises(PlannerError, match="no such file"):
        discover([tmp_path / "nope.yaml"])


def test_bundled_sweep_example_expands():
    items = _items(SCENARIOS_DIR / "sweep-example.yaml")
    assert len(items) >= 12
    assert all(i.scenario and not i.error for i in items)


def test_ten_thousand_scenarios_stream_without_being_held(tmp_path):
    import tracemalloc

    base = {"name": "x", "model": "llama-3.1-8b", "workload": {"arrival_rate_rps": 1, "isl": 1, "osl": 1},
            "chips": [{"id": "h100-sxm"}]}
    sw = _write(tmp_path / "sw.yaml", {"base": base, "sweep": {"workload.isl": list(range(1, 101)),
                                                                "workload.osl": list(range(1, 101))}})
    tracemalloc.start()
    try:
        n = sum(1 for _ in iter_items([sw]))
        peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()
    assert n == 10_000
    assert peak_mb < 5, f"expansion held {peak_mb:.1f} MB"  # ~1 MB of keys; the scenarios are never all held
