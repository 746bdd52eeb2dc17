"""The bundled chip catalog (catalogs/chips.yaml) and user overlays on it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from planner.errors import PlannerError
from planner.inputs.chips import DTYPES, load_catalog
from planner.paths import CATALOG_DIR

REQUIRED_IDS = [
    "a100-sxm-80gb",
    "h100-sxm",
    "h100-pcie",
    "h200-sxm",
    "h20",
    "h800-sxm",
    "b200",
    "b300",
    "gb200",
    "gb300",
    "l40s",
    "rtx-pro-6000",
    "mi300x",
    "mi325x",
    "mi355x",
    "gaudi3",
    "tpu-v5e",
    "tpu-v5p",
    "tpu-v6e",
    "tpu-v7",
    "trainium2",
    "groq-lpu",
    "cerebras-wse3",
    "d-matrix-corsair",
]
REQUIRED_SOURCES = {"peak_tflops", "memory", "scaleup", "scaleout", "power", "price"}


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _write(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# ---------------------------------------------------------------- bundled catalog


def test_bundled_catalog_has_all_required_ids(catalog):
    missing = [i for i in REQUIRED_IDS if i not in catalog]
    assert not missing, f"missing chips: {missing}"
    assert len(catalog) >= len(REQUIRED_IDS)


def test_bundled_ids_are_unique_lowercase_and_hyphenated():
    raw = yaml.safe_load((CATALOG_DIR / "chips.yaml").read_text())
    ids = [e["id"] for e in raw["chips"]]
    assert len(ids) == len(set(ids)), "duplicate ids would silently shadow each other"
    for i in ids:
        assert re.fullmatch(r"[a-z0-9][a-z0-9\-]*", i), i


@pytest.mark.parametrize("chip_id", REQUIRED_IDS)
def test_every_chip_cites_sources_for_each_figure_group(catalog, chip_id):
    chip = catalog[chip_id]
    assert REQUIRED_SOURCES <= set(chip.sources), sorted(REQUIRED_SOURCES - set(chip.sources))
    for key, src in chip.sources.items():
        assert src.ref.strip(), f"{chip_id}.sources.{key} has an empty ref"
        assert re.fullmatch(r"\d{4}-\d{2}", src.date), f"{chip_id}.sources.{key}.date = {src.date}"


def test_measured_efficiencies_cite_a_source(catalog):
    default_memory = type(catalog["a100-sxm-80gb"].efficiency)().memory
    for chip in catalog:
        if chip.efficiency.memory != default_memory:
            assert "efficiency" in chip.sources, chip.id


def test_dense_peaks_sanity(catalog):
    h100 = catalog["h100-sxm"]
    assert h100.peak_tflops["bf16"] == 989
    assert h100.peak_tflops["fp8"] == 1979
    assert not h100.supports("fp4")
    a100 = catalog["a100-sxm-80gb"]
    assert a100.supports("bf16") and not a100.supports("fp8") and not a100.supports("fp4")
    # same GH100 compute on H100/H200/H800; H800 only has the cut NVLink
    for cid in ("h200-sxm", "h800-sxm"):
        assert catalog[cid].peak_tflops == h100.peak_tflops
    assert catalog["h800-sxm"].scaleup_gb_s == 200
    # d-Matrix has no sourced bf16; Groq/Cerebras only bf16
    assert not catalog["d-matrix-corsair"].supports("bf16")
    assert catalog["groq-lpu"].peak_tflops == {"bf16": 188}
    assert catalog["cerebras-wse3"].peak_tflops == {"bf16": 12500}


def test_peaks_are_dense_and_monotone_in_precision(catalog):
    # lower precision is never slower than higher precision; the step is at most ~2x, except the FP4 paths
    # of Blackwell Ultra (3x) and d-Matrix's block formats (MXINT4 = 4x MXINT8)
    for chip in catalog:
        present = [chip.peak_tflops[d] for d in DTYPES if d in chip.peak_tflops]
        for hi, lo in zip(present, present[1:], strict=False):
            assert hi <= lo <= 4.01 * hi, (chip.id, chip.peak_tflops)
        if "bf16" in chip.peak_tflops and "fp8" in chip.peak_tflops:
            assert chip.peak_tflops["fp8"] <= 2.05 * chip.peak_tflops["bf16"], chip.id
    # the dense (not sparse) figures: no catalog GPU exceeds 2.5 PF dense bf16
    for chip in catalog:
        if chip.id != "cerebras-wse3":
            assert chip.peak_tflops.get("bf16", 0) <= 2500, chip.id


def test_memory_tiers_fast_first(catalog):
    for chip in catalog:
        tiers = chip.memory
        if len(tiers) == 2:
            assert tiers[0].bandwidth_tb_s > tiers[1].bandwidth_tb_s, chip.id
    assert [len(catalog[c].memory) for c in ("gb200", "gb300", "d-matrix-corsair")] == [2, 2, 2]
    assert catalog["gb200"].memory[1].capacity_gb == 240
    assert catalog["groq-lpu"].hbm_gb == pytest.approx(0.23)


def test_no_scaleup_fabric_means_domain_one(catalog):
    assert catalog["l40s"].scaleup_domain == 1
    assert catalog["rtx-pro-6000"].scaleup_domain == 1
    assert catalog["gb200"].scaleup_domain == 72 and catalog["gb300"].scaleup_domain == 72
    for cid in ("h100-sxm", "h200-sxm", "b200"):
        assert catalog[cid].scaleup_domain == 8


def test_estimated_prices_are_labelled(catalog):
    for cid in (
        "gb200",
        "gb300",
        "b300",
        "mi355x",
        "h20",
        "tpu-v7",
        "trainium2",
        "groq-lpu",
        "cerebras-wse3",
        "d-matrix-corsair",
    ):
        assert catalog[cid].sources["price"].ref.lower().startswith("estimate"), cid


# ---------------------------------------------------------------- overlays


def test_overlay_changes_only_the_price_and_adds_a_chip(tmp_path, catalog):
    new_chip = {
        "id": "my-npu",
        "name": "My NPU",
        "vendor": "Acme",
        "peak_tflops": {"bf16": 400, "fp8": 800},
        "memory": [{"name": "HBM3", "capacity_gb": 64, "bandwidth_tb_s": 2.0}],
        "scaleup_gb_s": 200,
        "scaleup_domain": 4,
        "scaleout_gb_s": 25,
        "power_w": 500,
        "price_usd_per_hr": 1.1,
        "sources": {
            k: {"ref": "vendor datasheet", "date": "2026-05"}
            for k in ("peak_tflops", "memory", "power", "price")
        },
    }
    path = _write(
        tmp_path / "overlay.yaml", {"chips": [{"id": "h100-sxm", "price_usd_per_hr": 1.9}, new_chip]}
    )
    merged = load_catalog([path])

    before, after = catalog["h100-sxm"], merged["h100-sxm"]
    assert after.price_usd_per_hr == 1.9
    assert after.model_dump(exclude={"price_usd_per_hr"}) == before.model_dump(exclude={"price_usd_per_hr"})
    assert before.price_usd_per_hr != 1.9  # the bundled catalog is untouched
    assert merged["my-npu"].peak_tflops == {"bf16": 400, "fp8": 800}
    assert set(merged.ids()) == set(catalog.ids()) | {"my-npu"}
    for cid in catalog.ids():
        if cid != "h100-sxm":
            assert merged[cid] == catalog[cid]


def test_overlay_can_be_a_bare_list_and_deep_merges_efficiency(tmp_path, catalog):
    path = _write(tmp_path / "eff.yaml", [{"id": "h100-sxm", "efficiency": {"memory": 0.9}}])
    chip = load_catalog([path])["h100-sxm"]
    assert chip.efficiency.memory == 0.9
    assert chip.efficiency.compute == catalog["h100-sxm"].efficiency.compute


def test_overlay_accepts_unquoted_yaml_dates(tmp_path):
    path = tmp_path / "dates.yaml"
    path.write_text(
        "chips:\n"
        "  - id: h100-sxm\n"
        "    price_usd_per_hr: 2.2\n"
        "    sources:\n"
        "      price: {ref: my contract, date: 2026-05-14}\n"
        "      power: {ref: datasheet, date: 2022}\n"
    )
    chip = load_catalog([path])["h100-sxm"]
    assert chip.sources["price"].date == "2026-05-14"
    assert chip.sources["power"].date == "2022"


def test_overlay_negative_bandwidth_names_the_field(tmp_path):
    path = _write(
        tmp_path / "bad_bw.yaml",
        {
            "chips": [
                {"id": "h100-sxm", "memory": [{"name": "HBM3", "capacity_gb": 80, "bandwidth_tb_s": -3.35}]}
            ]
        },
    )
    with pytest.raises(PlannerError) as exc:
        load_catalog([path])
    msg = str(exc.value)
    assert "h100-sxm" in msg
    assert "memory" in msg and "bandwidth_tb_s" in msg


def test_overlay_new_chip_without_sources_is_rejected(tmp_path):
    chip = {
        "id": "no-sources",
        "name": "X",
        "vendor": "Y",
        "peak_tflops": {"bf16": 100},
        "memory": [{"name": "HBM", "capacity_gb": 10, "bandwidth_tb_s": 1.0}],
        "scaleup_gb_s": 0,
        "scaleup_domain": 1,
        "scaleout_gb_s": 10,
        "power_w": 100,
        "price_usd_per_hr": 1.0,
        "sources": {"peak_tflops": {"ref": "datasheet", "date": "2026-05"}},
    }
    path = _write(tmp_path / "no_src.yaml", {"chips": [chip]})
    with pytest.raises(PlannerError) as exc:
        load_catalog([path])
    msg = str(exc.value)
    assert "no-sources" in msg and "sources" in msg
    assert "memory" in msg and "price" in msg


def test_overlay_unknown_field_and_bad_dtype_are_rejected(tmp_path):
    path = _write(tmp_path / "typo.yaml", {"chips": [{"id": "h100-sxm", "hbm_gb": 96}]})
    with pytest.raises(PlannerError, match="hbm_gb"):
        load_catalog([path])
    path = _write(tmp_path / "dtype.yaml", {"chips": [{"id": "h100-sxm", "peak_tflops": {"int4": 4000}}]})
    with pytest.raises(PlannerError, match="peak_tflops"):
        load_catalog([path])


def test_overlay_not_a_chip_list_is_rejected(tmp_path):
    path = _write(tmp_path / "junk.yaml", {"chips": {"h100-sxm": {"price_usd_per_hr": 1}}})
    with pytest.raises(PlannerError, match="expected a list of chips"):
        load_catalog([path])
    with pytest.raises(PlannerError, match="file not found"):
        load_catalog([tmp_path / "does-not-exist.yaml"])


# ---------------------------------------------------------------- lookups


@pytest.mark.parametrize("typo", ["h100", "h100sxm", "H100-SXM"])
def test_unknown_chip_suggests_close_ids(catalog, typo):
    with pytest.raises(PlannerError) as exc:
        catalog[typo]
    msg = str(exc.value)
    assert "unknown chip" in msg
    assert "did you mean" in msg and "'h100-sxm'" in msg


def test_unknown_chip_without_close_match_lists_known(catalog):
    with pytest.raises(PlannerError) as exc:
        catalog["zzzzzz"]
    assert "known:" in str(exc.value)


def test_a_calibration_reaches_every_chip_of_the_same_die(tmp_path):
    """h200-sxm and h800-sxm share the H100's die: fields they do not set follow h100-sxm, overlays included."""
    from planner.inputs.chips import build_catalog, load_catalog

    cat = load_catalog()
    assert cat["h200-sxm"].efficiency.attention_unit_ns == cat["h100-sxm"].efficiency.attention_unit_ns > 0
    assert cat["h200-sxm"].efficiency.memory != cat["h100-sxm"].efficiency.memory  # its own value stays
    ov = tmp_path / "h100-cal.yaml"
    ov.write_text("chips:\n  - id: h100-sxm\n    efficiency: {attention_unit_ns: 12.5, gemm_m_half: 70, memory: 0.5}\n")
    cal = load_catalog((str(ov),))
    assert cal["h800-sxm"].efficiency.attention_unit_ns == 12.5
    assert cal["h200-sxm"].efficiency.gemm_m_half == cal["h800-sxm"].efficiency.gemm_m_half == 70
    assert cal["h800-sxm"].efficiency.memory == 0.5  # same HBM3 as H100: inherited
    assert cal["h200-sxm"].efficiency.memory == cat["h200-sxm"].efficiency.memory  # set on h200 itself: kept
    base = {c.id: c.model_dump(exclude_none=True) for c in cat}
    bad = {**base, "x1": {**base["h200-sxm"], "id": "x1", "same_die_as": "h1OO"}}
    with pytest.raises(PlannerError) as e:
        build_catalog(bad)
    assert "same_die_as" in str(e.value) and "h100-sxm" in e.value.hint
    loop = {**base, "a1": {**base["b200"], "id": "a1", "same_die_as": "a2"},
            "a2": {**base["b200"], "id": "a2", "same_die_as": "a1"}}
    with pytest.raises(PlannerError, match="loop"):
        build_catalog(loop)


def test_the_h200_stream_fractions_follow_the_h100_calibration():
    """H200 sets only its HBM3e stream fractions, H100's calibrated values scaled by the measured stream ratio
    (shared/data/efficiency.csv, Azure Copy: H200 4.01 of 4.8 TB/s, H100 2.90 of 3.35): recomputed here so a
    recalibration of H100 that leaves them behind fails. Every other efficiency field is H100's."""
    cat = load_catalog()
    h100, h200, h800 = (cat[k].efficiency for k in ("h100-sxm", "h200-sxm", "h800-sxm"))
    ratio = (4.01 / 4.8) / (2.90 / 3.35)
    assert h200.memory == pytest.approx(h100.memory * ratio, abs=0.005)
    assert h200.attention_memory == pytest.approx(h100.attention_memory * ratio, abs=0.005)
    own = {"h200-sxm": {"memory", "attention_memory"}, "h800-sxm": {"scaleup", "scaleout"}}
    for chip, eff in (("h200-sxm", h200), ("h800-sxm", h800)):
        for field, value in h100.model_dump().items():
            if field not in own[chip]:
                assert getattr(eff, field) == value, (chip, field)


def test_the_blackwell_fp8_fraction_follows_the_h100_calibration():
    """B200's fp8 GEMM fraction is the GB200 cuBLASLt large-square fraction (0.581, shared/data/efficiency.csv)
    times H100's ratio of its calibrated serving-shaped fp8 fraction to the same benchmark (0.698): recomputed here
    so an H100 recalibration that leaves it behind fails. GB200 (same die) and GB300 (B300's die) inherit it."""
    cat = load_catalog()
    want = 0.581 * cat["h100-sxm"].efficiency.compute["fp8"] / 0.698
    assert cat["b200"].efficiency.compute["fp8"] == pytest.approx(want, abs=0.005)
    for chip in ("gb200", "b300", "gb300"):
        assert cat[chip].efficiency.compute == cat["b200"].efficiency.compute, chip


def test_the_cdna3_fractions_follow_the_h100_calibration():
    """MI300X takes H100's kernel calibration through the ratio of the same Azure microbenchmark on both chips
    (shared/data/efficiency.csv): GEMM best of sweep (MI300X hipBLASLt fp8 0.468, H100 cuBLASLt 0.698), HBM stream
    copy (0.783, 0.866) and FlashAttention-2 forward (0.251, 0.332); bf16 keeps H100's calibrated bf16/fp8 ratio.
    Recomputed here so an H100 recalibration that leaves MI300X behind fails; MI325X (same die) inherits it all."""
    cat = load_catalog()
    h100, mi300x = cat["h100-sxm"].efficiency, cat["mi300x"].efficiency
    fp8 = 0.468 * h100.compute["fp8"] / 0.698
    assert mi300x.compute["fp8"] == pytest.approx(fp8, abs=0.005)
    assert mi300x.compute["bf16"] == pytest.approx(fp8 * h100.compute["bf16"] / h100.compute["fp8"], abs=0.005)
    assert mi300x.memory == pytest.approx(h100.memory * 0.783 / 0.866, abs=0.005)
    assert mi300x.attention_memory == pytest.approx(h100.attention_memory * 0.783 / 0.866, abs=0.005)
    assert mi300x.attention == pytest.approx(h100.attention * 0.251 / 0.332, abs=0.005)
    assert cat["mi325x"].efficiency == mi300x
