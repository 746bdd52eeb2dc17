"""Forked workers (planner.optimize.forked): results come back in order, and an exception in the caller stops
the workers instead of waiting for them."""

from __future__ import annotations

import time

import pytest

from planner.optimize import forked

pytestmark = pytest.mark.skipif(not forked.available(), reason="needs the fork start method (Linux, macOS)")


def test_workers_see_what_the_caller_built_and_return_in_order():
    table = {i: i * i for i in range(8)}  # built before the fork, never pickled
    with forked.pool(lambda i: table[i] + 1, 2) as submit:
        futures = [submit(i) for i in range(8)]
        assert [f.result() for f in futures] == [i * i + 1 for i in range(8)]


def test_an_exception_in_the_caller_does_not_wait_for_the_workers():
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="the schedule"), forked.pool(lambda s: time.sleep(s), 1) as submit:
        submit(60.0)
        time.sleep(0.5)  # the worker is running its minute
        raise ValueError("the schedule is infeasible")
    assert time.perf_counter() - t0 < 20


def test_one_pool_at_a_time():
    with forked.pool(lambda x: x, 1) as submit:
        assert submit(3).result() == 3
        with pytest.raises(RuntimeError, match="one forked pool"), forked.pool(lambda x: x, 1):
            pass
