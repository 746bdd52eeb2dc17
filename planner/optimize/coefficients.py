"""Scenario -> engine coefficient table (one row per candidate instance), with a cache.

The engine's physics does not depend on prices, limits, SLOs or the arrival rate, so the evaluated table is
cached under a key of what it does depend on: (model, chip ids, catalog overlays, weights/KV dtypes, ISL,
OSL, prefix-hit rate, grid). Prices are applied after the cache, per scenario. A batch sweep over prices,
rates, SLOs or limits therefore runs the engine once per (model, chips, precision, ISL, OSL, prefix) and
reuses the table; pass one `CoefficientCache` to every `solve_scenario` call (or rely on the module's
default cache, `DEFAULT_CACHE`). Cached frames are shared: treat them as read-only.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock

import numpy as np
import pandas as pd

from planner.axes.evaluate import coefficient_table
from planner.axes.speculative import scenario_acceptance
from planner.engine.candidates import DECODE_BATCHES_PER_RANK, PREFILL_BATCHES, Grid
from planner.engine.params import PARAMS, EngineParams, active_params, using_params
from planner.inputs.chips import ChipCatalog, load_catalog
from planner.inputs.frameworks import two_batch_overlap
from planner.inputs.models import load_model
from planner.inputs.scenario import Scenario

ROLES = ("prefill", "decode", "aggregated")


@dataclass(frozen=True)
class CoefficientKey:
    model: str
    chips: tuple[str, ...]
    catalogs: tuple[str, ...]
    weights: str
    kv: str
    isl: int
    osl: int
    prefix_hit: float
    max_chips_per_instance: int
    osl_cv: float
    pp: tuple[int, ...]
    prefill_batches: tuple[int, ...]
    decode_batches_per_rank: tuple[int, ...]
    # the other axes (docs/axes.md): speculation, prefix-cache capacity, aggregated chunk size
    spec_method: str | None = None
    spec_gammas: tuple[int, ...] = (0,)
    spec_alpha: float = 0.85
    spec_decay: float = 1.0
    draft_model: str | None = None
    spec_placement: str = "colocated"
    draft_levels: int = 6
    chunk_tokens: int | None = None
    prefix_cache_tokens: int | None = None
    framework: str = "trtllm"  # the serving framework (its host time per iteration)
    two_batch_overlap: bool = False  # price eligible prefill rows also as two overlapped micro-batches
    params: EngineParams = PARAMS  # the engine constants in force (planner.engine.params.using_params)

    @classmethod
    def of(cls, sc: Scenario, catalogs: tuple | list = ()) -> CoefficientKey:
        s = sc.search
        return cls(
            model=sc.model, chips=tuple(c.id for c in sc.chips), catalogs=tuple(str(p) for p in catalogs),
            weights=sc.precision.weights, kv=sc.kv_dtype, isl=sc.workload.isl, osl=sc.workload.osl,
            prefix_hit=float(sc.workload.prefix_hit_rate), max_chips_per_instance=s.max_chips_per_instance,
            osl_cv=float(sc.workload.output_length_cv), pp=tuple(sorted(set(s.pipeline_parallel))),
            prefill_batches=tuple(s.prefill_batches or PREFILL_BATCHES),
            decode_batches_per_rank=tuple(s.decode_batches_per_rank or DECODE_BATCHES_PER_RANK),
            framework=sc.framework, params=active_params(), **_axes_key(sc),
        )


def _axes_key(sc: Scenario) -> dict:
    """The scenario keys of the other axes that change the engine's table."""
    out: dict = {"chunk_tokens": sc.aggregated.chunk_tokens, "prefix_cache_tokens": sc.workload.prefix_cache_tokens,
                 "two_batch_overlap": sc.deploy.two_batch_overlap == "auto" and two_batch_overlap(sc.framework) is not None}
    sp = sc.speculative
    if sp is not None:
        alpha, decay = scenario_acceptance(sp, sc.workload.speculative_acceptance)
        out.update(spec_method=sp.method, spec_gammas=sp.gammas(), spec_alpha=alpha, spec_decay=decay,
                   draft_model=sp.draft_model,
                   spec_placement=sp.placement, draft_levels=sp.draft_levels)
    return out


class CoefficientCache:
    """LRU cache of evaluated (price-free) coefficient tables, keyed by CoefficientKey. Thread-safe."""

    def __init__(self, maxsize: int = 16):
        self.maxsize = maxsize
        self._data: OrderedDict[CoefficientKey, pd.DataFrame] = OrderedDict()
        self._lock = Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def get(self, key: CoefficientKey) -> pd.DataFrame:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key]
        df = _evaluate(key)
        with self._lock:
            self.misses += 1
            self._data[key] = df
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
        return df


DEFAULT_CACHE = CoefficientCache()


def _evaluate(key: CoefficientKey) -> pd.DataFrame:
    cat = load_catalog(key.catalogs)
    model = load_model(key.model)
    chips = [cat[c] for c in key.chips]
    grid = Grid(
        roles=ROLES, weights_dtypes=(key.weights,), kv_dtypes=(key.kv,), isl=key.isl, osl=key.osl,
        prefix_hit=key.prefix_hit, osl_cv=key.osl_cv, max_chips_per_instance=key.max_chips_per_instance,
        prefill_batches=key.prefill_batches, decode_batches_per_rank=key.decode_batches_per_rank, pp_options=key.pp,
        spec_method=key.spec_method, spec_gammas=key.spec_gammas, spec_alpha=key.spec_alpha, spec_decay=key.spec_decay,
        draft_model=key.draft_model, spec_placement=key.spec_placement, draft_levels=key.draft_levels,
        chunk_tokens=key.chunk_tokens, prefix_cache_tokens=key.prefix_cache_tokens, framework=key.framework,
        two_batch_overlap=key.two_batch_overlap,
    )
    with using_params(key.params):
        df = coefficient_table([model], chips, grid)
    # sustained NIC (scale-out) bandwidth of one instance, for the KV-transfer constraints
    nic_per_chip = np.array([c.scaleout_gb_s * c.efficiency.scaleout for c in chips])
    df["nic_gb_s"] = nic_per_chip[df["chip"].cat.codes.to_numpy()] * df["chips_per_instance"].to_numpy()
    df["num_layers"] = model.num_layers
    return df


def chip_prices(sc: Scenario, catalog: ChipCatalog) -> dict[str, float]:
    """$/chip-hour per offered chip: the scenario's price where given, else the catalog's."""
    return {c.id: c.price_usd_per_hr if c.price_usd_per_hr is not None else catalog[c.id].price_usd_per_hr for c in sc.chips}


def scenario_coefficients(sc: Scenario, catalogs: tuple | list = (), cache: CoefficientCache | None = None) -> pd.DataFrame:
    """The coefficient table for a scenario, prices applied (a new frame; the cached one is untouched)."""
    cache = DEFAULT_CACHE if cache is None else cache
    base = cache.get(CoefficientKey.of(sc, catalogs))
    prices = chip_prices(sc, load_catalog(tuple(str(p) for p in catalogs)))
    per_chip = np.array([prices[c] for c in base["chip"].cat.categories])
    cost = per_chip[base["chip"].cat.codes.to_numpy()] * base["chips_per_instance"].to_numpy()
    return base.assign(cost_usd_per_hr=cost)
