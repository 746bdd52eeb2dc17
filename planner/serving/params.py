"""Fitted constants of the serving model: the latency a request's first token carries outside the engine.

A request's first token carries a fixed latency outside the engine (`request_s`: HTTP, tokenization, the frontend,
streaming back; in disaggregated serving also `disagg_handoff_s`). That latency is added to the first token and the
end of every request; it does not occupy the engine (so the closed loop's pacing ignores it: a documented
approximation). The host time per iteration of each framework is an engine constant (host_s_*,
planner.engine.params), shared with the optimizer's coefficient table.

The values are fitted on the shared serving benchmarks (validation/serving), held out by system (docs/serving.md);
`planner calibrate` refits them on a user's own serving benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.engine.params import FittedConstants, Scope, fitted

# a decoding sequence has its answer when its (fractional, with speculative decoding) token count is within this of
# it: the compiled P/D loop (planner.serving.pd_kernel) sums the same tokens in another order than the Python loop
# (planner.serving.disaggregated), and the two must decide alike
TOKEN_EPS = 1e-9

SERVING_FIT = ("python scripts/fit_serving.py --out validation/serving_fit.json (soft-L1 on log(predicted/measured) "
               "TTFT over the ../shared serving rows at the host times fitted on TPOT, grid search; 2026-12-07)")


def _fitted(value, *, unit: str, bounds: tuple[float, float], meaning: str):
    return fitted(value, unit=unit, bounds=bounds, data="validation/serving (shared rows)", command=SERVING_FIT,
                  meaning=meaning)


@dataclass(frozen=True)
class ServingParams(FittedConstants):
    """First-token latencies outside the engine (SI units)."""

    request_s: float = _fitted(0.12, unit="s", bounds=(0.0, 0.5),
                               meaning="latency a request's first token carries outside the engine (HTTP, tokenization, "
                                       "the frontend, streaming back)")
    disagg_handoff_s: float = _fitted(0.52, unit="s", bounds=(0.0, 1.0),
                                      meaning="disaggregated serving: first-token latency of the prefill-to-decode "
                                              "handoff beyond the KV bytes (routing, transfer setup, the decode "
                                              "engine's first step)")


SERVING_PARAMS = ServingParams()
_SCOPE: Scope[ServingParams] = Scope("serving_params", SERVING_PARAMS)
active_serving_params = _SCOPE.active  # the serving constants the simulations use now
using_serving_params = _SCOPE.using  # with using_serving_params(SERVING_PARAMS.replace(...)): other constants
