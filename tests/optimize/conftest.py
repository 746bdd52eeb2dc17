"""A small scenario for the optimizer's module tests: Llama 3.1 8B on H100 and H200, one or two chips per
instance, so every solve takes well under a second."""

from __future__ import annotations

import pytest

from planner.inputs.scenario import validate_scenario
from planner.optimize.coefficients import CoefficientCache

SMALL = {
    "name": "small", "model": "llama-3.1-8b", "precision": {"weights": "fp8"},
    "workload": {"arrival_rate_rps": 6, "isl": 1024, "osl": 128},
    "slo": {"ttft_ms": 1500, "tpot_ms": 40},
    "chips": [{"id": "h100-sxm", "price_usd_per_hr": 2.5}, {"id": "h200-sxm", "price_usd_per_hr": 3.5}],
    "search": {"pipeline_parallel": [1], "max_chips_per_instance": 2},
    "solver": {"mip_gap": 0.0},
    "margin": 0.0,
}


@pytest.fixture(scope="session")
def cache() -> CoefficientCache:
    return CoefficientCache()


@pytest.fixture
def small():
    """validate_scenario of SMALL with top-level keys overridden (traffic classes replace its workload and SLO)."""

    def make(**over):
        base = {k: v for k, v in SMALL.items() if not ("classes" in over and k in ("workload", "slo"))}
        return validate_scenario({**base, **over})

    return make
