"""Chip catalog: validated YAML records of accelerator specs, prices and sustained efficiencies.

The bundled catalog lives in `catalogs/chips.yaml`. A user file given with `--catalog` is an overlay:
entries whose `id` already exists are deep-merged over the bundled record (so `{id: h100-sxm,
price_usd_per_hr: 1.9}` only changes the price); new ids add chips.
"""

from __future__ import annotations

import datetime as _dt
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from planner.errors import PlannerError, suggest
from planner.inputs.reader import load_bundled_yaml, load_yaml
from planner.paths import CATALOG_DIR

Dtype = Literal["bf16", "fp8", "fp4"]  # math dtypes: the catalog's peaks are per math dtype
# weight-only quantization: weights stored in 4 bits, dequantized to the math dtype inside the GEMM (MXFP4 or INT4
# checkpoints on chips without 4-bit math, e.g. gpt-oss on Hopper): weight bytes of 4 bits, the math dtype's peak
WEIGHT_ONLY_DTYPES: dict[str, str] = {"w4a16": "bf16"}
DTYPES: tuple[str, ...] = ("bf16", "fp8", "fp4", *WEIGHT_ONLY_DTYPES)


def math_dtype(dtype: str) -> str:
    """The dtype a GEMM computes in: the weights dtype, or the math dtype of a weight-only format."""
    return WEIGHT_ONLY_DTYPES.get(dtype, dtype)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class Source(_Strict):
    """Where a figure comes from: a URL or citation, and the date it was read or published."""

    ref: str = Field(min_length=3)
    date: str = Field(pattern=r"^\d{4}(-\d{2}){0,2}$", description="YYYY, YYYY-MM or YYYY-MM-DD")

    @field_validator("date", mode="before")
    @classmethod
    def _date_as_text(cls, v: object) -> object:
        # Unquoted YAML turns `2024` into an int and `2024-06-12` into a date; accept both as text.
        if isinstance(v, _dt.date):
            return v.isoformat()
        if isinstance(v, int) and not isinstance(v, bool):
            return str(v)
        return v


class MemoryTier(_Strict):
    """One memory tier: capacity and peak bandwidth. Tier 0 is the fast one (HBM/SRAM)."""

    name: str
    capacity_gb: float = Field(gt=0, description='vendor capacity; HBM "GB" are binary (GiB): 80 -> 85.9e9 bytes')
    bandwidth_tb_s: float = Field(gt=0)


class Efficiency(_Strict):
    """Sustained fractions of peak. Defaults follow ../shared/data/efficiency.csv (see docs/physics.md).

    compute: large-GEMM fraction of dense peak per dtype.
    gemm_m_half: token count m at which GEMM efficiency reaches half of `compute` (small-shape falloff).
    attention: fraction of peak reached by attention kernels (prefill, compute-bound regime).
    memory: sustained fraction of peak memory bandwidth (stream copy / decode kernels).
    scaleup / scaleout: sustained bus-bandwidth fraction of the link's per-direction peak.
    link_latency_us: fixed cost per collective (alpha of the alpha-beta model), scale-up and scale-out.
    kernel_overhead_us: fixed cost per kernel launch inside a CUDA-graph step.
    attention_unit_ns: fixed decode-attention cost per (sequence, KV head) work item, amortized over the chip.
    attention_memory: sustained fraction of peak bandwidth of the decode-attention KV stream (long contiguous
      page reads sustain more than the GEMM weight reads `memory` is set by); blank = `memory`.
    moe_relative: grouped (MoE expert) GEMM efficiency relative to the dense GEMMs' `compute`; blank = the engine's
      H100 kernel fit (planner.engine.params, moe_gemm_relative_efficiency).
    """

    compute: dict[Dtype, float] = Field(default_factory=lambda: {"bf16": 0.75, "fp8": 0.65, "fp4": 0.65})
    gemm_m_half: float = Field(default=48.0, gt=0)
    attention: float = Field(default=0.55, gt=0, le=1.2)
    memory: float = Field(default=0.80, gt=0, le=1.0)
    scaleup: float = Field(default=0.75, gt=0, le=1.2)
    scaleout: float = Field(default=0.70, gt=0, le=1.2)
    scaleup_latency_us: float = Field(default=8.0, ge=0)
    scaleout_latency_us: float = Field(default=25.0, ge=0)
    kernel_overhead_us: float = Field(default=2.0, ge=0)
    # fixed cost per decode-attention work item (one sequence x one KV head: a CTA's setup, softmax/reduction),
    # amortized over the chip; fitted on H100 decode-attention kernels (planner calibrate)
    attention_unit_ns: float = Field(default=0.0, ge=0)
    attention_memory: float | None = Field(default=None, gt=0, le=1.0)
    moe_relative: float | None = Field(default=None, gt=0, le=1.0)

    @field_validator("compute")
    @classmethod
    def _fractions(cls, v: dict[str, float]) -> dict[str, float]:
        for k, x in v.items():
            if not 0 < x <= 1:
                raise ValueError(f"compute[{k}] = {x} must be in (0, 1]")
        return v


class Chip(_Strict):
    """One accelerator as the engine sees it. Peak figures are DENSE (vendors' sparse figures halved)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    name: str
    vendor: str
    year: int | None = None
    peak_tflops: dict[Dtype, float] = Field(description="dense peak TFLOP/s per dtype; missing = unsupported")
    memory: list[MemoryTier] = Field(min_length=1, max_length=2)
    scaleup_gb_s: float = Field(ge=0, description="scale-up link bandwidth per direction per chip (GB/s)")
    scaleup_domain: int = Field(ge=1, description="chips in one scale-up (NVLink/ICI/xGMI) domain")
    scaleout_gb_s: float = Field(gt=0, description="scale-out (NIC) bandwidth per chip per direction (GB/s)")
    power_w: float = Field(gt=0)
    price_usd_per_hr: float = Field(gt=0)
    efficiency: Efficiency = Field(default_factory=Efficiency)
    same_die_as: str | None = Field(
        default=None, description="a chip of the same silicon: efficiency fields not set here are taken from it, so "
                                  "a calibration of one chip reaches every chip built on its die")
    sources: dict[str, Source] = Field(
        description="a Source for every figure group: peak_tflops, memory, scaleup, scaleout, power, price"
    )
    notes: str = ""

    @model_validator(mode="after")
    def _check(self) -> Chip:
        if not self.peak_tflops:
            raise ValueError("peak_tflops needs at least one dtype")
        for k, x in self.peak_tflops.items():
            if x <= 0:
                raise ValueError(f"peak_tflops[{k}] must be > 0")
        missing = {"peak_tflops", "memory", "power", "price"} - set(self.sources)
        if missing:
            raise ValueError(f"sources is missing {sorted(missing)}")
        return self

    @property
    def hbm_gb(self) -> float:
        return self.memory[0].capacity_gb

    @property
    def hbm_tb_s(self) -> float:
        return self.memory[0].bandwidth_tb_s

    def supports(self, dtype: str) -> bool:
        return math_dtype(dtype) in self.peak_tflops


class ChipCatalog:
    """Chips by id, with lookups that fail with a helpful message."""

    def __init__(self, chips: dict[str, Chip]):
        self._chips = dict(chips)

    def __getitem__(self, chip_id: str) -> Chip:
        try:
            return self._chips[chip_id]
        except KeyError:
            raise PlannerError(
                f"unknown chip {chip_id!r}", field="chip", hint=suggest(chip_id, self._chips.keys())
            ) from None

    def __contains__(self, chip_id: str) -> bool:
        return chip_id in self._chips

    def __iter__(self):
        return iter(self._chips.values())

    def __len__(self) -> int:
        return len(self._chips)

    def ids(self) -> list[str]:
        return list(self._chips)

    def with_overrides(self, chip_id: str, **fields) -> ChipCatalog:
        """A copy with one chip's top-level fields replaced (e.g. a scenario's price)."""
        chips = dict(self._chips)
        chips[chip_id] = self[chip_id].model_copy(update=fields)
        return ChipCatalog(chips)


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _format_validation(err: ValidationError, where: str) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        lines.append(f"{where}.{loc}: {e['msg']}" if loc else f"{where}: {e['msg']}")
    return "\n".join(lines)


def _read_yaml(path: Path) -> object:
    return load_bundled_yaml(path) if path == CATALOG_DIR / "chips.yaml" else load_yaml(path, field="catalog")


def _raw_entries(path: Path) -> list[dict]:
    data = _read_yaml(path)
    entries = data.get("chips") if isinstance(data, dict) else data
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "id" in e for e in entries):
        raise PlannerError(
            f"{path}: expected a list of chips (or a mapping with key 'chips'), each with an 'id'",
            field="catalog",
            hint="see catalogs/chips.yaml for the format",
        )
    bad = [i for i, e in enumerate(entries) if not isinstance(e["id"], str) or not e["id"].strip()]
    if bad:
        raise PlannerError(f"{path}: chip entry {bad[0]} has id {entries[bad[0]]['id']!r}; an id is a name such as "
                           "'h100-sxm'", field=f"catalog[{bad[0]}].id")
    return entries


def _inherit_die(raw: dict[str, dict], where: str) -> dict[str, dict]:
    """Entries with `same_die_as` take the efficiency fields they do not set from that chip (resolved first)."""
    out: dict[str, dict] = {}

    def resolve(chip_id: str, seen: tuple[str, ...]) -> dict:
        if chip_id in out:
            return out[chip_id]
        entry = raw[chip_id]
        ref = entry.get("same_die_as")
        if ref is not None:
            if ref not in raw:
                raise PlannerError(f"{where}[{chip_id}].same_die_as: unknown chip {ref!r}", field="same_die_as",
                                   hint=suggest(str(ref), raw.keys()))
            if ref in seen:
                raise PlannerError(f"{where}[{chip_id}].same_die_as: a loop ({' -> '.join((*seen, ref))})",
                                   field="same_die_as", hint="point every chip of a die at one calibrated chip")
            base = resolve(ref, (*seen, chip_id)).get("efficiency") or {}
            entry = {**entry, "efficiency": _deep_merge(base, entry.get("efficiency") or {})}
        out[chip_id] = entry
        return entry

    for chip_id in raw:
        resolve(chip_id, (chip_id,))
    return out


def build_catalog(raw: dict[str, dict], where: str = "catalog") -> ChipCatalog:
    chips = {}
    for chip_id, entry in _inherit_die(raw, where).items():
        try:
            chips[chip_id] = Chip.model_validate(entry)
        except ValidationError as exc:
            raise PlannerError(_format_validation(exc, f"{where}[{chip_id}]")) from None
    return ChipCatalog(chips)


@lru_cache(maxsize=32)
def _load_cached(overlays: tuple[str, ...]) -> ChipCatalog:
    raw: dict[str, dict] = {e["id"]: e for e in _raw_entries(CATALOG_DIR / "chips.yaml")}
    for path in overlays:
        for e in _raw_entries(Path(path)):
            raw[e["id"]] = _deep_merge(raw[e["id"]], e) if e["id"] in raw else e
    return build_catalog(raw)


def load_catalog(overlays: list[str | Path] | tuple = ()) -> ChipCatalog:
    """The bundled chip catalog with user overlays applied in order (later files win)."""
    return _load_cached(tuple(str(p) for p in overlays))
