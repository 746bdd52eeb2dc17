"""Scenarios: what to serve, under which SLO, on which chips, within which limits (validated YAML).

`load_scenario(path)` reads `scenarios/*.yaml`; `Scenario.model_validate(dict)` validates a mapping (batch
sweeps build scenarios in memory). Every error is a PlannerError naming the field (`slo.tpot_ms`) and the
fix; unknown keys get a did-you-mean. Chip and model ids are checked against the catalogs by
`check_references` (called by `load_scenario` and by the solver), because overlays may add chips.
See docs/scenarios.md for every key and its default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from planner.errors import PlannerError, suggest
from planner.inputs.chips import load_catalog
from planner.inputs.frameworks import auto_framework
from planner.inputs.models import load_model, preset_ids
from planner.inputs.reader import load_yaml, path_exists

Mode = Literal["aggregated", "disaggregated", "afd"]
Objective = Literal["min-cost", "max-throughput"]
Dtype = Literal["bf16", "fp8", "fp4"]
WeightsDtype = Literal["bf16", "fp8", "fp4", "w4a16"]  # w4a16: 4-bit weights, 16-bit math (planner.inputs.chips)


MAX_SHARED_CLASSES = 6  # classes_share_pools builds one pool family per subset of classes: 57 at 6 (~26 s)
# arrival rates a plan can be trusted for: below the floor the demand sits inside the solver's tolerances (an empty
# fleet would pass), above the ceiling (a million requests/s, far beyond any deployed service) the counts do
MIN_RATE_RPS = 1e-4
MAX_RATE_RPS = 1e6
MAX_PERIODS = 24 * 31  # hourly for a month
MAX_MODELS = 16


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class Precision(_Strict):
    """Weights dtype (default: the checkpoint's, from its quantization config; 16-bit when it has none);
    KV-cache dtype (default: the checkpoint's recipe, else the weights dtype, never below fp8)."""

    weights: WeightsDtype | None = None
    kv_cache: Dtype | None = None
    source: str | None = Field(default=None, description="where the weights dtype comes from (set by the planner "
                                                         "when it reads the checkpoint's quantization)")

    def resolved(self, model_ref: str | None) -> Precision:
        """This precision with the weights (and KV) dtype the checkpoint ships in where none was given: a
        config.json's quantization_config or a ModelOpt hf_quant_config.json; bf16 without one."""
        if self.weights is not None:
            return self
        ckpt = None
        if model_ref:
            try:
                ckpt = load_model(model_ref).checkpoint
            except PlannerError:  # an unknown model is reported by check_references, with its hint
                ckpt = None
        if ckpt is None:
            return self.model_copy(update={"weights": "bf16"})
        kv = self.kv_cache or ckpt.kv_cache
        return self.model_copy(update={"weights": ckpt.weights, "kv_cache": kv,
                                       "source": f"the checkpoint: {ckpt.recipe}" if ckpt.recipe else "the checkpoint"})


class Workload(_Strict):
    """One traffic class: Poisson arrivals at `arrival_rate_rps`, fixed prompt and answer lengths."""

    arrival_rate_rps: float | None = Field(default=None, ge=MIN_RATE_RPS, le=MAX_RATE_RPS,
                                           description="requests/s, 1e-4 to 1e6; required for min-cost")
    isl: int = Field(ge=1, description="input (prompt) tokens per request")
    osl: int = Field(ge=1, description="output tokens per request (mean)")
    output_length_cv: float = Field(
        default=0.0, ge=0, le=10,
        description="coefficient of variation of the output lengths (std/mean; 0 = fixed, ~1 = reasoning-like "
                    "long tail): the batch holds long answers longer, so in-flight KV grows by osl*cv^2/2")
    prefix_hit_rate: float = Field(default=0.0, ge=0, le=0.99)
    prefix_cache_tokens: int | None = Field(
        default=None, ge=0, description="cached-prefix tokens resident per instance; default hit_rate x isl x batch")
    speculative_acceptance: float | None = Field(
        default=None, gt=0, lt=1, description="per-token draft acceptance alpha for this workload (overrides speculative.acceptance)")


class SLO(_Strict):
    """Latency targets. TTFT is a percentile over requests (queueing included); TPOT is per instance."""

    ttft_ms: float | None = Field(default=None, gt=0)
    ttft_percentile: float = Field(default=90.0, gt=0, lt=100)
    tpot_ms: float | None = Field(default=None, gt=0)


class TrafficClass(_Strict):
    """One traffic class of a multi-class scenario (`classes:`): its own lengths, rate and SLO."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="lowercase id: chat, coding, agentic")
    arrival_rate_rps: float | None = Field(default=None, ge=MIN_RATE_RPS, le=MAX_RATE_RPS)
    isl: int = Field(ge=1)
    osl: int = Field(ge=1)
    output_length_cv: float = Field(default=0.0, ge=0, le=10)
    prefix_hit_rate: float = Field(default=0.0, ge=0, le=0.99)
    prefix_cache_tokens: int | None = Field(default=None, ge=0)
    speculative_acceptance: float | None = Field(default=None, gt=0, lt=1)
    slo: SLO | None = Field(default=None, description="default: the scenario's slo")

    def workload(self) -> Workload:
        return Workload(arrival_rate_rps=self.arrival_rate_rps, isl=self.isl, osl=self.osl,
                        output_length_cv=self.output_length_cv, prefix_hit_rate=self.prefix_hit_rate,
                        prefix_cache_tokens=self.prefix_cache_tokens, speculative_acceptance=self.speculative_acceptance)


class Speculative(_Strict):
    """Speculative decoding: MTP heads of the target or a separate draft model, co-located on the instance."""

    method: Literal["mtp", "draft"] = "mtp"
    draft_model: str | None = Field(default=None, description="preset id of the draft model (method: draft)")
    acceptance: float | None = Field(default=None, gt=0, lt=1,
                                     description="acceptance alpha of the first draft position; default 0.85 (mtp) / 0.7 (draft)")
    acceptance_decay: float | None = Field(
        default=None, gt=0, le=1, description="acceptance factor per later draft position (position k accepted at "
        "alpha * decay^(k-1)); default 0.856 (mtp: its module is reused for later positions) / 1 (draft)")
    gamma: list[int] | Literal["auto"] = Field(default="auto", description="draft tokens per step; auto = 1..4")
    placement: Literal["colocated", "pool"] = Field(
        default="colocated", description="colocated: on the target's instance; pool: a draft pool (method draft)")
    draft_levels: int = Field(default=6, ge=1, le=16, description="draft latency levels (placement pool)")

    @field_validator("gamma")
    @classmethod
    def _gamma(cls, v):
        if isinstance(v, list) and (not v or any(g < 0 or g > 8 for g in v)):
            raise ValueError("gamma: a list of draft-token counts between 0 and 8 (or auto)")
        return v

    @model_validator(mode="after")
    def _draft(self) -> Speculative:
        if self.method == "draft" and not self.draft_model:
            raise ValueError("speculative.draft_model: method draft needs a draft model preset (e.g. llama-3.2-1b)")
        if self.placement == "pool" and self.method != "draft":
            raise ValueError("speculative.placement: a draft pool needs method draft (MTP heads run inside the target)")
        return self

    def gammas(self) -> tuple[int, ...]:
        """gamma values enumerated; 0 (no speculation) is always a candidate."""
        g = (1, 2, 3, 4) if self.gamma == "auto" else tuple(self.gamma)
        return tuple(sorted({0, *g}))


class AggregatedOptions(_Strict):
    """Aggregated (co-located) serving with chunked prefill."""

    chunk_tokens: int | None = Field(default=None, ge=16,
                                     description="tokens per forward per attention rank (decode + prefill chunk); none = the frameworks' default 8192")


class AFDOptions(_Strict):
    """Attention/FFN disaggregation of MoE decode (mode `afd`)."""

    micro_batches: list[int] = Field(default_factory=lambda: [2, 3], min_length=1)
    levels: int = Field(default=8, ge=1, le=24, description="per-layer cadences enumerated")

    @field_validator("micro_batches")
    @classmethod
    def _mb(cls, v: list[int]) -> list[int]:
        if any(x < 1 or x > 8 for x in v):
            raise ValueError("micro_batches: each between 1 and 8")
        return sorted(set(v))


class Deploy(_Strict):
    """How the fleet is deployed: the serving framework every instance runs, and how simple the fleet must be."""

    framework: Literal["auto", "trtllm", "vllm", "sglang"] = Field(
        default="auto", description="serving framework: its host time per iteration enters every step, and pools go "
        "only on chips it runs (TensorRT-LLM: NVIDIA; vLLM, SGLang: more, catalogs/frameworks.yaml); auto: "
        "TensorRT-LLM when every chip offered is NVIDIA's, else vLLM or SGLang, whichever runs them all")
    max_pools_per_role: int | None = Field(default=None, ge=1, le=64,
                                           description="at most this many distinct configurations per role")
    two_batch_overlap: Literal["off", "auto"] = Field(
        default="off", description="two micro-batches per forward, one's MoE all-to-all under the other's compute "
        "(SGLang --enable-two-batch-overlap, vLLM --enable-dbo): auto prices every prefill candidate with expert "
        "and attention data parallelism both ways, where the framework has it (catalogs/frameworks.yaml), and keeps "
        "the better; decode pools never (docs/physics.md); off (default): never")


class ChipOffer(_Strict):
    """A chip type on offer; price overrides the catalog's, max_count caps the chips of this type. The other
    prices and counts matter to plans over periods (`demand:`) and need the matching `pricing:` block."""

    id: str
    price_usd_per_hr: float | None = Field(default=None, gt=0, description="on-demand, per chip-hour; default: catalog")
    max_count: int | None = Field(default=None, ge=0, description="chips of this type available (all pricing models)")
    reserved_price_usd_per_hr: float | None = Field(
        default=None, gt=0, description="reserved, per chip-hour; default: on-demand x (1 - pricing.reserved.discount)")
    spot_price_usd_per_hr: float | None = Field(
        default=None, gt=0, description="spot, per chip-hour; default: on-demand x (1 - pricing.spot.discount)")
    spot_max_count: int | None = Field(default=None, ge=0,
                                       description="spot chips available per period; default pricing.spot.max_count")
    owned_count: int | None = Field(default=None, ge=0, description="chips of this type you own (or may buy)")
    capex_usd: float | None = Field(default=None, ge=0,
                                    description="purchase price per owned chip (0 or unset: already paid, power only)")


class Demand(_Strict):
    """Demand over time (plans over periods): a rate per period, or a request trace binned into periods."""

    period_hours: float = Field(default=1.0, gt=0, le=744, description="length of one period (hours)")
    profile: list[float] | dict[str, list[float]] | None = Field(
        default=None, description="requests/s per period; a mapping class -> list with `classes`")
    trace: str | None = Field(default=None, min_length=1,
                              description="Azure (TIMESTAMP,ContextTokens,GeneratedTokens) or BurstGPT trace file")
    window_s: float = Field(default=60.0, ge=1, le=3600, description="trace: short window the rate is counted in")
    percentile: float = Field(default=95.0, gt=0, le=100,
                              description="trace: each period's rate is this percentile of its windows' rates")
    scale: float = Field(default=1.0, gt=0, le=1e6, description="trace: rates multiplied by this (growth)")
    max_starts_per_period: int | None = Field(default=None, ge=0,
                                              description="instances that may start per period, over the fleet")
    min_hold_periods: int = Field(default=1, ge=1, le=168, description="an instance started runs this many periods")

    @model_validator(mode="after")
    def _one_source(self) -> Demand:
        if (self.profile is None) == (self.trace is None):
            raise ValueError("demand: give either `profile` (requests/s per period) or `trace` (a trace file)")
        lists = self.profile.values() if isinstance(self.profile, dict) else [self.profile or []]
        if self.profile is not None:
            lengths = {len(v) for v in lists}
            if not lengths or 0 in lengths:
                raise ValueError("demand.profile: at least one period")
            if len(lengths) > 1:
                raise ValueError(f"demand.profile: every class needs the same number of periods, got {sorted(lengths)}")
            if max(lengths) > MAX_PERIODS:
                raise ValueError(f"demand.profile: at most {MAX_PERIODS} periods")
            for v in lists:
                if any(not (r == 0 or MIN_RATE_RPS <= r <= MAX_RATE_RPS) for r in v):
                    raise ValueError(f"demand.profile: rates are 0 or between {MIN_RATE_RPS:g} and {MAX_RATE_RPS:g} rps")
            if not any(r > 0 for v in lists for r in v):
                raise ValueError("demand.profile: every rate is 0; nothing to plan")
        return self


class ReservedPricing(_Strict):
    """Reserved (committed) chips: paid for every hour of the term, whether used or not."""

    discount: float = Field(default=0.35, ge=0, lt=1, description="off on-demand (1-year terms: 20-55%)")
    term_months: int = Field(default=12, ge=1, le=60, description="commitment term, for the committed total")


class SpotPricing(_Strict):
    """Spot (preemptible) chips: cheaper, limited, and reclaimed at times."""

    discount: float = Field(default=0.5, gt=0, lt=1, description="off on-demand (50-90% quoted)")
    preemption_headroom: float = Field(default=0.2, ge=0, lt=1,
                                       description="fraction of spot chips that may be reclaimed at once: "
                                                   "they are bought but not counted on")
    max_count: int | None = Field(default=None, ge=0, description="spot chips per type per period, unless the chip says")


class OwnedPricing(_Strict):
    """Owned hardware: capex amortized over its lifetime (paid every hour) plus energy for the hours used."""

    lifetime_years: float = Field(default=5.0, gt=0, le=15)
    pue: float = Field(default=1.3, ge=1, le=3, description="power usage effectiveness of the data centre")
    usd_per_kwh: float = Field(default=0.10, ge=0, le=2, description="electricity price")


class Pricing(_Strict):
    """Pricing models beside on-demand, for plans over periods (`demand:` or `models:`)."""

    reserved: ReservedPricing | None = None
    spot: SpotPricing | None = None
    owned: OwnedPricing = Field(default_factory=OwnedPricing)


class KVTransfer(_Strict):
    """Prefill->decode KV-cache transfer over the NICs (scale-out) of both pools."""

    overlap: bool = Field(default=False, description="layer-by-layer transfer hidden behind prefill compute")


class Queueing(_Strict):
    """Waiting-time model for the TTFT percentile: M/D/c (deterministic service) or M/M/c (Erlang C)."""

    model: Literal["md-c", "erlang-c"] = "md-c"


class Search(_Strict):
    """The candidate grid (role x chip x parallelism x batch) handed to the engine."""

    max_chips_per_instance: int = Field(default=64, ge=1, le=1024)
    pipeline_parallel: list[int] = Field(default_factory=lambda: [1, 2, 4, 8], min_length=1)
    prefill_batches: list[int] | None = Field(default=None, min_length=1)
    decode_batches_per_rank: list[int] | None = Field(default=None, min_length=1)

    @field_validator("pipeline_parallel", "prefill_batches", "decode_batches_per_rank")
    @classmethod
    def _positive(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and any(x < 1 for x in v):
            raise ValueError("every entry must be >= 1")
        return v


class Solver(_Strict):
    time_limit_s: float = Field(default=10.0, gt=0)
    mip_gap: float = Field(default=1e-4, ge=0, lt=1, description="relative MIP gap at which HiGHS stops")


class ModelEntry(_Strict):
    """One of several models served by one fleet (`models:`): its own precision, traffic, SLO and demand."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=40, description="lowercase id, e.g. chat-70b")
    model: str = Field(min_length=1, description="preset id or path to a HF config.json")
    precision: Precision = Field(default_factory=Precision)
    workload: Workload | None = None
    classes: list[TrafficClass] | None = Field(default=None, min_length=1)
    slo: SLO | None = Field(default=None, description="default: the scenario's slo")
    demand: Demand | None = Field(default=None, description="default: the workload's rate in every period")
    speculative: Speculative | None = None


class Scenario(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    model: str | None = Field(default=None, min_length=1, description="preset id or path to a HF config.json")
    models: list[ModelEntry] | None = Field(default=None, min_length=1, max_length=MAX_MODELS,
                                            description="several models on one fleet (instead of `model`)")
    demand: Demand | None = Field(default=None, description="demand over time: plan every period (cost per day)")
    pricing: Pricing = Field(default_factory=Pricing)
    precision: Precision = Field(default_factory=Precision)
    workload: Workload | None = None
    classes: list[TrafficClass] | None = Field(default=None, min_length=1, description="several traffic classes")
    classes_share_pools: bool = Field(default=False, description="pools may serve several classes (time-sharing)")
    slo: SLO = Field(default_factory=SLO)
    chips: list[ChipOffer] = Field(min_length=1)
    modes: list[Mode] = Field(default_factory=lambda: ["aggregated", "disaggregated"], min_length=1)
    objective: Objective = "min-cost"
    budget_usd_per_hr: float | None = Field(default=None, gt=0)
    max_chips: int | None = Field(default=None, ge=1)
    max_power_kw: float | None = Field(default=None, gt=0)
    failure_headroom_instances: int = Field(default=0, ge=0, le=8, description="N+k: every pool keeps this many "
                                            "instances beyond its load, so it meets the SLO with k instances lost")
    margin: float | None = Field(default=None, ge=0, le=5, description="fraction, for every metric and chip; default: the held-out margins per metric and chip family (uncertainty.planning_margins)")
    kv_transfer: KVTransfer = Field(default_factory=KVTransfer)
    speculative: Speculative | None = None
    aggregated: AggregatedOptions = Field(default_factory=AggregatedOptions)
    afd: AFDOptions = Field(default_factory=AFDOptions)
    queueing: Queueing = Field(default_factory=Queueing)
    search: Search = Field(default_factory=Search)
    solver: Solver = Field(default_factory=Solver)
    deploy: Deploy = Field(default_factory=Deploy)

    @field_validator("chips")
    @classmethod
    def _unique_chips(cls, v: list[ChipOffer]) -> list[ChipOffer]:
        seen: set[str] = set()
        for c in v:
            if c.id in seen:
                raise ValueError(f"chip {c.id!r} is listed twice; merge the entries")
            seen.add(c.id)
        return v

    @field_validator("modes")
    @classmethod
    def _unique_modes(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))

    @model_validator(mode="after")
    def _needs_rate(self) -> Scenario:
        if self.models is not None:
            return self._check_models()
        if self.model is None:
            raise ValueError("model: is required (a preset id or a config.json path; or `models`, a list of models)")
        if self.demand is not None and self.objective != "min-cost":
            raise ValueError("demand: plans over periods are planned at least cost (objective: min-cost)")
        if self.workload is None and self.classes is None:
            raise ValueError("workload: is required (or `classes`, a list of traffic classes)")
        if self.workload is not None and self.classes is not None:
            raise ValueError("workload: give either `workload` (one traffic class) or `classes` (several), not both")
        if self.classes_share_pools and self.classes is None:
            raise ValueError("classes_share_pools: needs `classes` (several traffic classes)")
        if self.classes is not None:
            names = [c.name for c in self.classes]
            if len(set(names)) != len(names):
                raise ValueError("classes: class names must be unique")
            if self.classes_share_pools and any("+" in n for n in names):
                raise ValueError("classes: with classes_share_pools, class names may not contain '+'")
            if self.classes_share_pools and len(names) > MAX_SHARED_CLASSES:
                raise ValueError(f"classes_share_pools: pools shared by classes are enumerated per subset of classes "
                                 f"(2^n); at most {MAX_SHARED_CLASSES} classes ({2**MAX_SHARED_CLASSES - MAX_SHARED_CLASSES - 1} "
                                 f"shared subsets), got {len(names)}: merge similar classes or share fewer")
            if self.objective == "min-cost" and self.demand is None and any(c.arrival_rate_rps is None for c in self.classes):
                raise ValueError("classes: objective min-cost needs arrival_rate_rps on every class")
            if self.objective == "max-throughput" and any(c.arrival_rate_rps is None for c in self.classes):
                raise ValueError("classes: max-throughput scales the class mix; give arrival_rate_rps on every class")
            return self
        if self.objective == "min-cost" and self.demand is None and self.workload.arrival_rate_rps is None:
            raise ValueError("workload.arrival_rate_rps: objective min-cost needs the requests/s to serve")
        return self

    def _check_models(self) -> Scenario:
        if self.model is not None or self.workload is not None or self.classes is not None or self.demand is not None:
            raise ValueError("models: give the model, workload, classes and demand of each model inside `models`, "
                             "not at the top level")
        if self.objective != "min-cost":
            raise ValueError("models: several models are planned at least cost (objective: min-cost)")
        names = [e.name for e in self.models]
        if len(set(names)) != len(names):
            raise ValueError("models: model names must be unique")
        for e in self.models:
            if (e.workload is None) == (e.classes is None):
                raise ValueError(f"models: model {e.name} needs either `workload` or `classes`")
            if e.demand is None and any(w.arrival_rate_rps is None for w in self._entry_workloads(e)):
                raise ValueError(f"models: model {e.name} needs a `demand` or arrival_rate_rps on its traffic")
        return self

    @staticmethod
    def _entry_workloads(e: ModelEntry) -> list:
        return [e.workload] if e.workload is not None else list(e.classes or [])

    @property
    def plans_periods(self) -> bool:
        """Demand over time or several models: the multi-period program (planner.optimize.periods)."""
        return self.demand is not None or self.models is not None

    def model_scenarios(self) -> list[tuple[str, Scenario]]:
        """(model name, single-model scenario) per model of `models`; [(model id, self)] for one model. Each keeps
        the fleet's chips, limits and pricing; its demand is its own."""
        if self.models is None:
            return [(str(self.model), self)]
        out = []
        for e in self.models:
            out.append((e.name, self.model_copy(update={
                "name": f"{self.name}/{e.name}", "model": e.model, "models": None, "precision": e.precision,
                "workload": e.workload, "classes": e.classes, "slo": e.slo if e.slo is not None else self.slo,
                "demand": e.demand, "speculative": e.speculative,
                "classes_share_pools": self.classes_share_pools and e.classes is not None})))
        return out

    def class_scenarios(self) -> list[tuple[str, Scenario]]:
        """(class name, single-class scenario) per traffic class; one ('default', self) without `classes`."""
        if self.classes is None:
            return [("default", self)]
        out = []
        for c in self.classes:
            out.append((c.name, self.model_copy(update={"workload": c.workload(), "classes": None, "classes_share_pools": False,
                                                          "slo": c.slo if c.slo is not None else self.slo,
                                                          "name": f"{self.name}/{c.name}"})))
        return out

    # ---- conveniences used by the pipeline
    @property
    def framework(self) -> str:
        """The serving framework planned for: deploy.framework, or what `auto` resolves to for the chips offered."""
        return self.framework_choice()[0]

    def framework_choice(self) -> tuple[str, str]:
        """(framework, why): named in the scenario, or chosen by `auto` from the offered chips' vendors (chips the
        default catalog does not know are left out of the choice)."""
        if self.deploy.framework != "auto":
            return self.deploy.framework, "deploy.framework"
        cat = load_catalog()
        return auto_framework({c.id: cat[c.id].vendor for c in self.chips if c.id in cat})

    @property
    def kv_dtype(self) -> str:
        if self.precision.kv_cache:
            return self.precision.kv_cache
        return "bf16" if self.precision.weights == "bf16" else "fp8"

    @property
    def has_limits(self) -> bool:
        """A finite fleet: a budget, a chip or power cap, or an inventory cap on every chip on offer."""
        inventory = all(c.max_count is not None for c in self.chips)
        return any(v is not None for v in (self.budget_usd_per_hr, self.max_chips, self.max_power_kw)) or inventory


# ---------------------------------------------------------------- error messages


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The pydantic model class that owns the mapping at `loc` (list indices skipped)."""
    cls: Any = Scenario
    for part in loc:
        if isinstance(part, int):
            continue
        field = cls.model_fields.get(part) if isinstance(cls, type) and issubclass(cls, BaseModel) else None
        if field is None:
            return None
        ann = field.annotation
        args = [a for a in getattr(ann, "__args__", ()) if isinstance(a, type)]
        nxt = next((a for a in [ann, *args] if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if nxt is None:  # list[Model]
            inner = [a for a in getattr(ann, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)]
            nxt = inner[0] if inner else None
        if nxt is None:
            return None
        cls = nxt
    return cls


def _loc_text(loc: tuple) -> str:
    out = ""
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _describe(err: dict) -> tuple[str, str, str | None]:
    """(field, message, hint) for one pydantic error."""
    loc = tuple(err["loc"])
    field = _loc_text(loc) or "scenario"
    kind = err["type"]
    if kind == "extra_forbidden":
        owner = _model_at(loc[:-1])
        known = list(owner.model_fields) if owner else []
        return field, f"unknown key {loc[-1]!r}", suggest(str(loc[-1]), known) if known else None
    if kind == "missing":
        return field, "is required", f"add `{field}: ...` (see docs/scenarios.md)"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    head, sep, rest = msg.partition(": ")
    if not loc and sep and " " not in head:  # model-level check that names its field: "a.b: message"
        return head, rest, None
    return field, msg, None


def format_errors(exc: ValidationError, where: str = "scenario") -> PlannerError:
    """One PlannerError listing every field error; `field` is the first offending field."""
    described = [_describe(e) for e in exc.errors()]
    lines = []
    for field, msg, hint in described:
        lines.append(f"{field}: {msg}" + (f" ({hint})" if hint else ""))
    first_field, first_msg, first_hint = described[0]
    if len(described) == 1:
        return PlannerError(f"{first_msg} (in {where})", field=first_field, hint=first_hint)
    return PlannerError(f"{where} has {len(lines)} errors:\n  " + "\n  ".join(lines), field=first_field)


def validate_scenario(data: object, where: str = "scenario", resolve_precision: bool = True) -> Scenario:
    """Scenario.model_validate with field-level PlannerErrors; a precision left out is the checkpoint's."""
    if not isinstance(data, dict):
        raise PlannerError(f"{where}: expected a mapping of keys (name, model, workload, slo, chips, ...)")
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as exc:
        raise format_errors(exc, where) from None
    return with_checkpoint_precision(sc) if resolve_precision else sc


def with_checkpoint_precision(sc: Scenario) -> Scenario:
    """Every model's precision with the checkpoint's dtypes where the scenario gives none."""
    if sc.models is not None:
        return sc.model_copy(update={"models": [e.model_copy(update={"precision": e.precision.resolved(e.model)})
                                                for e in sc.models]})
    return sc.model_copy(update={"precision": sc.precision.resolved(sc.model)})


def load_scenario(path: str | Path, catalogs: tuple | list = ()) -> Scenario:
    """Read, validate and check a scenario file; a relative model path is taken from the file's folder."""
    p = Path(path)
    sc = validate_scenario(load_yaml(p, field="scenario"), str(p), resolve_precision=False)
    if sc.models is not None:
        sc = sc.model_copy(update={"models": [e.model_copy(update={"model": _local(p, e.model),
                                                                   "demand": _local_trace(p, e.demand)})
                                              for e in sc.models]})
    else:
        sc = sc.model_copy(update={"model": _local(p, str(sc.model)), "demand": _local_trace(p, sc.demand)})
    sc = with_checkpoint_precision(sc)
    check_references(sc, catalogs)
    return sc


def _local(scenario_path: Path, ref: str) -> str:
    """A model reference: a preset id, or a path taken from the scenario file's folder when it exists there."""
    if ref in preset_ids() or Path(ref).is_absolute():
        return ref
    local = scenario_path.parent / ref
    return str(local.resolve()) if path_exists(local) else ref


def _local_trace(scenario_path: Path, demand: Demand | None) -> Demand | None:
    """A demand whose relative trace path is taken from the scenario file's folder."""
    if demand is None or demand.trace is None or Path(demand.trace).is_absolute():
        return demand
    return demand.model_copy(update={"trace": str((scenario_path.parent / demand.trace).resolve())})


def parse_chip_offers(text: str) -> list[dict]:
    """`h100-sxm:2.5,h200-sxm` -> chip offers: an id, optionally `:price` ($ per chip-hour) and `:count` (max)."""
    offers = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        fields = part.split(":")
        if len(fields) > 3 or not fields[0]:
            raise PlannerError(f"{part!r} is not ID[:PRICE[:COUNT]]", field="--chips",
                               hint="e.g. --chips h100-sxm:2.5,h200-sxm:3.5:16")
        offer: dict = {"id": fields[0]}
        try:
            if len(fields) > 1 and fields[1]:
                offer["price_usd_per_hr"] = float(fields[1])
            if len(fields) > 2 and fields[2]:
                offer["max_count"] = int(fields[2])
        except ValueError:
            raise PlannerError(f"{part!r}: the price must be a number and the count a whole number", field="--chips",
                               hint="e.g. --chips h100-sxm:2.5,h200-sxm:3.5:16") from None
        offers.append(offer)
    if not offers:
        raise PlannerError("no chip given", field="--chips", hint="e.g. --chips h100-sxm:2.5,h200-sxm")
    return offers


def scenario_from_flags(model: str, chips: str, *, rate_rps: float | None, isl: int, osl: int,
                        ttft_ms: float | None, tpot_ms: float | None, weights: str | None = None, name: str | None = None,
                        catalogs: tuple | list = (), framework: str | None = None,
                        objective: str | None = None) -> Scenario:
    """A scenario from command-line flags (the one-line `planner solve --model ... --chips ...`), validated and
    checked like a file; errors name the flag's field. With objective max-throughput and no rate the chips' counts
    (ID:PRICE:COUNT) are the limits."""
    label = Path(model).parent.name if Path(model).name == "config.json" else str(model).rsplit("/", 1)[-1]
    data = {"name": name or f"{label or 'model'}-cli", "model": model, "precision": {"weights": weights} if weights else {},
            "workload": {"arrival_rate_rps": rate_rps, "isl": isl, "osl": osl},
            "slo": {k: v for k, v in (("ttft_ms", ttft_ms), ("tpot_ms", tpot_ms)) if v is not None},
            "chips": parse_chip_offers(chips)}
    if framework:
        data["deploy"] = {"framework": framework}
    if objective:
        data["objective"] = objective
    sc = validate_scenario(data, "command line")
    check_references(sc, catalogs)
    return sc


def check_references(sc: Scenario, catalogs: tuple | list = ()) -> None:
    """Chip ids must be in the catalog (with overlays); the model must load. PlannerError names the field."""
    cat = load_catalog(tuple(catalogs))
    for i, offer in enumerate(sc.chips):
        if offer.id not in cat:
            raise PlannerError(
                f"unknown chip {offer.id!r}", field=f"chips[{i}].id",
                hint=suggest(offer.id, cat.ids()) + " (`planner chips` lists them; --catalog adds your own)",
            )
    if sc.models is not None:
        for j, (name, msc) in enumerate(sc.model_scenarios()):
            try:
                check_references(msc, catalogs)
            except PlannerError as exc:
                line = str(exc).split("\n")[0]
                line = line[len(f"{exc.field}: "):] if exc.field and line.startswith(f"{exc.field}: ") else line
                raise PlannerError(f"model {name}: {line}", field=f"models[{j}].{exc.field or 'model'}",
                                   hint=exc.hint) from None
        return
    model = load_model(str(sc.model))
    if sc.speculative is not None and sc.speculative.method == "mtp" and not model.mtp_layers:
        raise PlannerError(f"{model.id} has no multi-token-prediction (MTP) heads to draft with",
                           field="speculative.method",
                           hint="use method: draft with a draft_model, or a model that has MTP (deepseek-v3, deepseek-r1)")
    if sc.speculative is not None and sc.speculative.draft_model:
        try:
            load_model(sc.speculative.draft_model)
        except PlannerError as exc:  # the message names the draft model's key, not the target's
            raise PlannerError(str(exc).split(": ", 1)[-1].split("\n  hint:")[0], field="speculative.draft_model",
                               hint=exc.hint) from None


def require_one_period(sc: Scenario) -> None:
    """Commands that plan one period with one model refuse demand over time and several models, by name."""
    if sc.plans_periods:
        raise PlannerError("this scenario has demand over time or several models: it is planned over periods, by "
                           "`planner solve` (planner.optimize.schedule.plan_periods)",
                           field="demand" if sc.demand is not None else "models",
                           hint="run `planner solve SCENARIO.yaml`, or plan one period with a single model and a "
                                "workload.arrival_rate_rps")


def require_limits(sc: Scenario) -> None:
    """max-throughput needs something that bounds the fleet."""
    if not sc.has_limits:
        raise PlannerError(
            "objective max-throughput needs a limit, otherwise the fleet (and the rate) grows without bound",
            field="budget_usd_per_hr",
            hint="set budget_usd_per_hr, max_chips or max_power_kw (or max_count on every chip in `chips`)",
        )
