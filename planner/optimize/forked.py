"""Work dealt to forked copies of this process (`planner pareto`'s points, a schedule's comparison programs).

A forked worker inherits the built models and tables, so nothing large is pickled on the way in; only results
come back. Forking is safe here because HiGHS runs one thread (`milp.HIGHS_OPTIONS`): a process whose HiGHS never
started worker threads can be copied. Where `fork` is missing (not Linux or macOS), callers run in process.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

_FN: Callable | None = None  # the work of the pool now open; forked workers inherit it


def available() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _call(arg):
    assert _FN is not None
    return _FN(arg)


@contextmanager
def pool(fn: Callable, workers: int) -> Iterator[Callable]:
    """A pool of `workers` forked processes that run fn(arg); yields submit(arg) -> a Future of fn(arg). The
    workers are forked at the first submit, so fn and what it reads are those of that moment. Leaving the block
    normally waits for the work submitted; leaving it by an exception (an infeasible schedule, Ctrl-C) stops the
    workers at once instead of waiting for work nobody will read."""
    global _FN
    if _FN is not None:
        raise RuntimeError("one forked pool at a time")
    _FN = fn
    ex = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    try:
        yield lambda arg: ex.submit(_call, arg)
    except BaseException:
        for proc in list((getattr(ex, "_processes", None) or {}).values()):
            proc.terminate()
        ex.shutdown(wait=False, cancel_futures=True)
        raise
    else:
        ex.shutdown(wait=True)
    finally:
        _FN = None
