"""Queueing for the TTFT percentile: Erlang C (M/M/c) and an M/D/c approximation, vectorized over candidates.

An instance is modelled as c parallel "servers" (slots), each holding a request for a service time S:

- prefill: c = prompts in flight at full load (capacity x batch latency, i.e. batch x pipeline stages),
  S = the batch latency (the engine's prefill TTFT);
- aggregated and decode: c = the decode batch (sequence slots), S = a request's slot lifetime B / capacity.

Arrivals are Poisson. The waiting time of M/M/c is exact: P(W > t) = C(c, a) exp(-c(1 - rho) t / S), with
C the Erlang C probability of waiting, a = rho c the offered load. For M/D/c (deterministic service, the
default) we keep C (an upper bound: deterministic service waits less often) and use the two-moment
(Kingman / Allen-Cunneen) heavy-traffic decay, whose rate is scaled by 2 / (1 + scv), scv = 0 for
deterministic service. So the p-quantile of the wait is

    w_p = S (1 + scv) / 2 * max(0, ln(C / (1 - p))) / (c (1 - rho)).

`max_utilization` inverts it: the highest rho at which w_p <= a budget, per candidate. The planner uses
rho_max x capacity in linear constraints, with each instance fed its own Poisson share of the traffic (a
random split of a Poisson stream is Poisson), which is conservative against a pooled queue.

C(c, a) is computed exactly (Erlang B recursion, tabulated on a fine rho grid and interpolated) for
c <= EXACT_MAX_SERVERS and from the normal approximation of Erlang B (Poisson pmf/cdf with continuity
correction) above, where it is accurate to well under a percent of rho.
"""

from __future__ import annotations

from functools import cache

import numpy as np

EXACT_MAX_SERVERS = 128
_GRID = 2049  # rho grid points in [0, 1] for the exact table
_BISECT_STEPS = 40
SCV = {"md-c": 0.0, "erlang-c": 1.0}  # squared coefficient of variation of the service time
DEFAULT_QUEUEING = "md-c"  # the scenario default (`queueing.model`), also used by `planner validate`


@cache
def _log_erlang_c_row(c: int) -> np.ndarray:
    """log C(c, rho c) for c servers on a uniform rho grid, exact; computed for the server counts asked (a solve
    asks a few, the whole table would cost 36 ms)."""
    rho = np.linspace(0.0, 1.0, _GRID)
    rho[-1] = 1.0 - 1e-12
    a = rho * c
    b = np.ones_like(a)
    for k in range(1, c + 1):  # Erlang B forward recursion, stable
        b = a * b / (k + a * b)
    cc = b / (1.0 - rho * (1.0 - b))
    return np.log(np.maximum(cc, 1e-300))


def _norm_cdf(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF (Abramowitz-Stegun 7.1.26 erfc, |error| < 1.5e-7)."""
    z = np.abs(x) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erfc = poly * np.exp(-z * z)
    return np.where(x >= 0, 1.0 - 0.5 * erfc, 0.5 * erfc)


def _lgamma1p(n: np.ndarray) -> np.ndarray:
    """log(n!) by Stirling's series (n >= 100: error < 1e-12)."""
    return (n + 0.5) * np.log(n + 1.0) - (n + 1.0) + 0.5 * np.log(2 * np.pi) + 1.0 / (12.0 * (n + 1.0)) \
        - 1.0 / (360.0 * (n + 1.0) ** 3)


def _log_erlang_c_large(c: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """log C for many servers: Erlang B = P(N = c) / P(N <= c), N ~ Poisson(a); exact pmf (Stirling),
    normal approximation with continuity correction for the cdf (>= 1/2 here, since a < c)."""
    a = np.maximum(rho * c, 1e-12)
    log_pmf = c * np.log(a) - a - _lgamma1p(c)
    x = (c + 0.5 - a) / np.sqrt(a)
    log_b = np.minimum(log_pmf - np.log(_norm_cdf(x)), 0.0)
    b = np.exp(log_b)
    return log_b - np.log(1.0 - rho * (1.0 - b))


def log_erlang_c(servers, utilization) -> np.ndarray:
    """log of the Erlang C probability that an arrival waits, for c servers at utilization rho (arrays)."""
    c, rho = np.broadcast_arrays(np.maximum(np.rint(np.asarray(servers, float)), 1.0), np.asarray(utilization, float))
    rho = np.clip(rho, 0.0, 1.0 - 1e-12)
    out = np.empty(c.shape)
    small = c <= EXACT_MAX_SERVERS
    if small.any():
        pos = rho[small] * (_GRID - 1)
        lo = np.minimum(pos.astype(np.int64), _GRID - 2)
        w = pos - lo
        row = c[small].astype(np.int64)
        servers, idx = np.unique(row, return_inverse=True)
        tab = np.stack([_log_erlang_c_row(int(k)) for k in servers])
        out[small] = (1 - w) * tab[idx, lo] + w * tab[idx, lo + 1]
    if (~small).any():
        out[~small] = _log_erlang_c_large(c[~small], rho[~small])
    return out


def erlang_c(servers, utilization) -> np.ndarray:
    """Probability that an arrival waits in M/M/c (Erlang C)."""
    return np.exp(log_erlang_c(servers, utilization))


def batch_slot_servers(batch, capacity_rps) -> tuple[np.ndarray, np.ndarray]:
    """A continuously batching instance as a queue: its batch's sequence slots are the servers, and a request
    holds one for batch / capacity seconds. Returns (servers, hold_s)."""
    servers = np.maximum(np.asarray(batch, float), 1.0)
    return servers, servers / np.maximum(np.asarray(capacity_rps, float), 1e-300)


def wait_quantile_s(service_s, servers, utilization, percentile: float, scv: float = 0.0) -> np.ndarray:
    """The `percentile` (e.g. 90) quantile of the queueing wait, seconds; inf at rho >= 1."""
    s, c, rho = np.broadcast_arrays(*(np.asarray(v, float) for v in (service_s, servers, utilization)))
    q = 1.0 - percentile / 100.0
    logc = log_erlang_c(c, rho)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = s * (1.0 + scv) / 2.0 * np.maximum(logc - np.log(q), 0.0) / (np.maximum(c, 1.0) * (1.0 - rho))
    return np.where(rho >= 1.0, np.inf, np.where(rho <= 0, 0.0, w))


def max_utilization(service_s, wait_budget_s, percentile: float, servers, scv: float = 0.0) -> np.ndarray:
    """Highest utilization rho in [0, 1) per candidate at which the p-quantile wait <= wait_budget_s.

    service_s, wait_budget_s and servers are arrays (broadcast); a negative budget gives 0, a zero budget
    the rho at which an arrival waits with probability at most 1 - p.
    """
    s, b, c = np.broadcast_arrays(*(np.asarray(v, float) for v in (service_s, wait_budget_s, servers)))
    c = np.maximum(np.rint(c), 1.0)
    ok = (b >= 0) & np.isfinite(s) & (s > 0)
    target = np.where(ok, 2.0 * np.maximum(b, 0.0) / (np.where(ok, s, 1.0) * (1.0 + scv)), 0.0) * c
    logq = np.log(1.0 - percentile / 100.0)
    lo = np.zeros(c.shape)
    hi = np.ones(c.shape)
    for _ in range(_BISECT_STEPS):  # h(rho) = ln(C / q) - target (1 - rho) is increasing in rho
        mid = 0.5 * (lo + hi)
        good = log_erlang_c(c, mid) - logq <= target * (1.0 - mid)
        lo = np.where(good, mid, lo)
        hi = np.where(good, hi, mid)
    return np.where(ok, lo, 0.0)
