"""Erlang C, the M/D/c wait-quantile approximation and its inverse (utilization caps)."""

from __future__ import annotations

import heapq

import numpy as np
import pytest

from planner.optimize.queueing import EXACT_MAX_SERVERS, erlang_c, max_utilization, wait_quantile_s


def _erlang_c_exact(c: int, rho: float) -> float:
    a, b = rho * c, 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b / (1 - rho * (1 - b))


def _simulate_p90_wait(c: int, rho: float, deterministic: bool, n: int = 30000, seed: int = 3) -> float:
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1.0 / (rho * c), n))
    service = np.ones(n) if deterministic else rng.exponential(1.0, n)
    free = [0.0] * c
    wait = np.empty(n)
    for i in range(n):  # FCFS, c servers
        f = heapq.heappop(free)
        start = max(f, arrivals[i])
        wait[i] = start - arrivals[i]
        heapq.heappush(free, start + service[i])
    return float(np.quantile(wait[n // 10 :], 0.9))


def test_erlang_c_closed_forms():
    rho = np.array([0.1, 0.5, 0.9])
    assert np.allclose(erlang_c(1, rho), rho, rtol=1e-5)
    assert np.allclose(erlang_c(2, rho), 2 * rho**2 / (1 + rho), rtol=1e-5)


@pytest.mark.parametrize("c", [3, 17, 64, EXACT_MAX_SERVERS, EXACT_MAX_SERVERS + 1, 300, 1000, 5000])
def test_erlang_c_matches_recursion(c):
    for rho in (0.6, 0.8, 0.9, 0.97, 0.995):
        exact = _erlang_c_exact(c, rho)
        approx = float(erlang_c(c, rho))
        assert approx == pytest.approx(exact, rel=0.01, abs=1e-6), (c, rho)


def test_mm1_quantile_closed_form():
    # M/M/1: P(W > t) = rho exp(-(1 - rho) t / S)  ->  w_p = S ln(rho / (1 - p)) / (1 - rho)
    s, rho = 0.2, np.array([0.5, 0.8, 0.95])
    w = wait_quantile_s(s, 1, rho, 90, scv=1.0)
    assert np.allclose(w, s * np.log(rho / 0.1) / (1 - rho), rtol=1e-6)
    assert float(wait_quantile_s(s, 1, 0.05, 90, scv=1.0)) == 0.0  # waits with prob 0.05 < 10%


@pytest.mark.parametrize("c,rho", [(1, 0.7), (1, 0.9), (4, 0.7), (4, 0.85)])
def test_approximation_against_simulation(c, rho):
    det = _simulate_p90_wait(c, rho, deterministic=True)
    mm = _simulate_p90_wait(c, rho, deterministic=False)
    assert float(wait_quantile_s(1.0, c, rho, 90, scv=0.0)) == pytest.approx(det, rel=0.25)
    assert float(wait_quantile_s(1.0, c, rho, 90, scv=1.0)) == pytest.approx(mm, rel=0.2)


def test_max_utilization_inverts_wait_quantile():
    rng = np.random.default_rng(0)
    n = 2000
    servers = rng.choice([1, 2, 5, 16, 64, 128, 129, 512, 4096], n)
    service = rng.uniform(0.05, 2.0, n)
    budget = rng.uniform(0.01, 3.0, n)
    for scv in (0.0, 1.0):
        rho = max_utilization(service, budget, 90, servers, scv)
        assert rho.shape == (n,) and np.all((rho > 0) & (rho < 1))
        w = wait_quantile_s(service, servers, rho, 90, scv)
        assert np.all(w <= budget * (1 + 1e-6) + 1e-9)
        w_above = wait_quantile_s(service, servers, np.minimum(rho + 1e-4, 0.999999), 90, scv)
        assert np.all((w_above > budget * (1 - 1e-6)) | (rho > 0.9998))


def test_max_utilization_monotone():
    base = max_utilization(1.0, 0.5, 90, 8)
    assert max_utilization(1.0, 1.0, 90, 8) > base  # more budget
    assert max_utilization(1.0, 0.5, 99, 8) < base  # stricter percentile
    assert max_utilization(1.0, 0.5, 90, 32) > base  # more servers
    assert max_utilization(1.0, 0.5, 90, 8, scv=1.0) < base  # exponential service waits longer


def test_max_utilization_edge_budgets():
    assert float(max_utilization(1.0, -0.1, 90, 4)) == 0.0
    zero = float(max_utilization(1.0, 0.0, 90, 1))  # P(wait) = rho <= 1 - p
    assert zero == pytest.approx(0.1, abs=1e-6)
    many = max_utilization(1.0, 0.0, 90, [16, 256, 4096])
    assert np.all(np.diff(many) > 0) and many[-1] > 0.95
