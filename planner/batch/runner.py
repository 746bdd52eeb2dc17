"""Batch planning: solve many scenarios into one results table, resumably, on local processes or a Dask cluster.

Flow: inputs -> `sweep.iter_items` (expanded, keyed) -> skip keys already in the journal -> a runner solves the
rest with a bounded number in flight (memory stays flat) -> each row is appended to the journal as it arrives
-> at the end (or on Ctrl-C) the table is written atomically from the journal (`results_store`).

Each worker process keeps one coefficient cache, so scenarios that share a model, chips, precision and
workload shape reuse the engine's tables; prices are applied after the engine.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path

from planner.batch.results_store import (
    Journal,
    done_records,
    journal_path,
    seed_journal_from_table,
    write_table,
)
from planner.batch.sweep import Item, iter_items, swept_columns
from planner.engine.tables import ROLES
from planner.errors import InfeasibleError, NoSolutionInTimeError, PlannerError

NO_SOLUTION_IN_TIME = "no-solution-in-time"  # the solver's time limit ended the search without a fleet
RETRYABLE = ("error", NO_SOLUTION_IN_TIME)  # statuses `--retry-errors` solves again


@dataclass(frozen=True)
class SolveOptions:
    """Solver settings shared by every scenario of a batch; part of each scenario's key."""

    catalogs: tuple[str, ...] = ()
    time_limit_s: float | None = None
    mip_gap: float | None = None
    margin: float | None = None  # fraction; None: each scenario's own, else the held-out margins

    def salt(self) -> str:
        """Fingerprint of the options, catalog overlays by content: change one and the scenarios are new."""
        parts = {"time_limit_s": self.time_limit_s, "mip_gap": self.mip_gap, "margin": self.margin, "catalogs": []}
        for c in self.catalogs:
            try:
                parts["catalogs"].append(hashlib.sha256(Path(c).read_bytes()).hexdigest())
            except OSError as exc:
                raise PlannerError(f"cannot read catalog overlay {c}: {exc}", field="--catalog") from None
        return json.dumps(parts, sort_keys=True)

    def kwargs(self) -> dict:
        kw: dict = {"catalogs": self.catalogs}
        if self.time_limit_s is not None:
            kw["time_limit_s"] = self.time_limit_s
        if self.mip_gap is not None:
            kw["mip_gap"] = self.mip_gap
        if self.margin is not None:
            kw["margin"] = self.margin
        return kw


# ------------------------------------------------------------------ worker side: one scenario -> one row

def _worker_cache():
    """The coefficient cache of this worker process (the module default, shared by all its scenarios and
    threads; it is thread-safe). Imported here, like the solver below: the parent process only schedules,
    and `planner batch` starts without loading the optimizer."""
    from planner.optimize.coefficients import DEFAULT_CACHE

    return DEFAULT_CACHE


def _num(v, kind=float):
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    if math.isnan(f) or math.isinf(f):
        return None
    return int(round(f)) if kind is int else f


def _plain(v):
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    return v


def fleet_text(pools: list[dict]) -> str:
    """'prefill: 2x h100-sxm tp4 b8; decode: 3x h200-sxm tp8 b128' (ep/pp/dp shown when above 1)."""
    parts = []
    for p in pools:
        s = f"{p.get('role')}: {_num(p.get('instances'), int)}x {p.get('chip')} tp{_num(p.get('tp'), int)}"
        for k in ("ep", "pp", "dp"):
            if (_num(p.get(k), int) or 1) > 1:
                s += f" {k}{_num(p.get(k), int)}"
        if p.get("batch") is not None:
            s += f" b{_num(p.get('batch'), int)}"
        parts.append(s)
    return "; ".join(parts)


def role_values(pools: list[dict]) -> dict:
    """Fixed per-role columns: chip ids, pool/instance/chip counts, and the largest pool's parallelism."""
    out: dict = {}
    for role in ROLES:
        mine = [p for p in pools if p.get("role") == role]
        if not mine:
            continue
        chips = [(_num(p.get("instances"), int) or 0) * (_num(p.get("chips_per_instance"), int) or 1) for p in mine]
        top = mine[max(range(len(mine)), key=chips.__getitem__)]
        out[f"{role}_chip"] = "+".join(dict.fromkeys(str(p.get("chip")) for p in mine))
        out[f"{role}_pools"] = len(mine)
        out[f"{role}_instances"] = sum(_num(p.get("instances"), int) or 0 for p in mine)
        out[f"{role}_chips"] = sum(chips)
        for k in ("tp", "ep", "pp", "dp", "batch"):
            out[f"{role}_{k}"] = _num(top.get(k), int)
    return out


def result_row(summary: dict, pools) -> dict:
    """The result columns of a row from a SolveResult's summary and pools table."""
    records = pools.to_dict(orient="records") if hasattr(pools, "to_dict") else list(pools or [])
    records = [{k: _plain(v) for k, v in r.items()} for r in records]
    status = str(summary.get("status", "")).lower()
    row = {
        "status": status,  # the solver's word, as `planner solve` prints it: optimal | within-gap | time-limit
        "reason": None,
        "cost_usd_per_hr": _num(summary.get("cost_usd_per_hr")),
        "num_chips": _num(summary.get("num_chips"), int),
        "throughput_rps": _num(summary.get("throughput_rps")),
        "ttft_ms": _num(summary.get("ttft_ms")),
        "tpot_ms": _num(summary.get("tpot_ms")),
        "power_kw": _num(summary.get("power_kw")),
        "mode": summary.get("mode"),
        "mip_gap": _num(summary.get("mip_gap")),
        "fleet": fleet_text(records),
        "pools_json": json.dumps(records, separators=(",", ":"), default=str),
    }
    row.update(role_values(records))
    return row


def solve_item(item: Item, options: SolveOptions) -> dict:
    """Validate and solve one scenario; every outcome, failures included, is a row (never raises)."""
    t0 = time.perf_counter()
    row = {"scenario_key": item.key, "scenario_name": item.name, "source": item.source, "swept": item.swept}
    try:
        if item.error:
            raise PlannerError(item.error)
        from planner.inputs.scenario import validate_scenario
        from planner.optimize.solve import solve_scenario

        scenario = validate_scenario(item.scenario, f"{item.name} ({item.source})")
        res = solve_scenario(scenario, cache=_worker_cache(), **options.kwargs())
        row.update(result_row(res.summary, res.pools))
    except InfeasibleError as exc:
        row.update(status="infeasible", reason=str(exc))
    except NoSolutionInTimeError as exc:  # retryable: says nothing about feasibility
        row.update(status=NO_SOLUTION_IN_TIME, reason=str(exc))
    except PlannerError as exc:
        row.update(status="error", reason=str(exc))
    except Exception as exc:  # a bug or a solver crash must not end the batch
        row.update(status="error", reason=f"{type(exc).__name__}: {exc}")
    row["solve_s"] = time.perf_counter() - t0
    return row


def _solve_task(task: tuple[Item, SolveOptions]) -> dict:
    return solve_item(*task)


# ------------------------------------------------------------------ runners: items in, rows out as they finish


def _parent_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed parent nobody has reaped yet is a zombie: gone for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _watch_parent(pid: int, interval_s: float = 0.5) -> None:
    while _parent_alive(pid):
        time.sleep(interval_s)
    os._exit(1)


def _init_worker(parent_pid: int) -> None:
    """Ctrl-C is the parent's to handle; a worker whose parent was killed (kill -9) exits instead of idling."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="planner-parent-watch", daemon=True).start()


def _pool_context():
    if sys.platform == "linux":
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["planner.batch.runner", "planner.optimize.solve"])
        return ctx
    return mp.get_context("spawn")


def run_inline(items: Iterable[Item], options: SolveOptions) -> Iterator[dict]:
    """In this process, one at a time (`--workers 0`): for debugging and overhead measurements."""
    for it in items:
        yield solve_item(it, options)


def run_local(items: Iterable[Item], options: SolveOptions, workers: int) -> Iterator[dict]:
    """A local process pool with at most 2 x workers scenarios in flight; rows in completion order."""
    source = iter(items)
    first = next(source, None)
    if first is None:  # nothing left to solve: do not start a pool
        return
    source = itertools.chain([first], source)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context(), initializer=_init_worker,
                               initargs=(os.getpid(),))
    pending: set = set()
    try:
        exhausted = False
        while True:
            while not exhausted and len(pending) < 2 * workers:
                it = next(source, None)
                if it is None:
                    exhausted = True
                    break
                pending.add(pool.submit(_solve_task, (it, options)))
            if not pending:
                return
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                try:
                    row = fut.result()
                except BrokenProcessPool:
                    raise PlannerError(
                        "a worker process died (out of memory?); every finished result is in the journal",
                        hint="rerun the same command to go on (with fewer --workers if memory is short)",
                    ) from None
                yield row
    finally:
        for fut in pending:
            fut.cancel()
        procs = list(getattr(pool, "_processes", {}).values())  # stop solves in flight on Ctrl-C
        pool.shutdown(wait=False, cancel_futures=True)
        if pending:
            for p in procs:
                p.terminate()
        pool.shutdown(wait=True)


def run_dask(items: Iterable[Item], options: SolveOptions, address) -> Iterator[dict]:
    """The same work on an existing Dask cluster (`address` of its scheduler, or a Client)."""
    try:
        from distributed import Client, as_completed
    except ImportError:  # pragma: no cover
        raise PlannerError("--scheduler needs dask.distributed", hint="pip install 'dask[distributed]'") from None
    own = not hasattr(address, "submit")
    try:
        client = Client(address, timeout="20s") if own else address
    except OSError as exc:
        raise PlannerError(f"cannot reach the Dask scheduler at {address}: {exc}", field="--scheduler") from None
    window = 2 * max(1, sum(client.nthreads().values())) + 2
    source = iter(items)
    ac = as_completed()
    running: dict = {}  # future key -> (future, item)

    def submit() -> bool:
        it = next(source, None)
        if it is None:
            return False
        fut = client.submit(_solve_task, (it, options), pure=False, key=f"planner-batch-{it.key}-{os.urandom(4).hex()}")
        running[fut.key] = (fut, it)
        ac.add(fut)
        return True

    try:
        for _ in range(window):
            if not submit():
                break
        for fut in ac:
            _, it = running.pop(fut.key)
            try:
                row = fut.result()
            except Exception as exc:  # the worker died (KilledWorker) or could not run the task
                row = {"scenario_key": it.key, "scenario_name": it.name, "source": it.source, "swept": it.swept,
                       "status": "error", "reason": f"dask: {type(exc).__name__}: {exc}"}
            fut.release()
            submit()
            yield row
    finally:
        if running:
            client.cancel([f for f, _ in running.values()])
        running.clear()
        if own:
            client.close()


# ------------------------------------------------------------------ the batch


@dataclass
class BatchSummary:
    out: str
    journal: str
    total: int = 0  # scenarios in the inputs (after removing duplicates)
    skipped: int = 0  # already in the journal from an earlier run
    done: int = 0  # solved by this run
    optimal: int = 0  # the status counts cover the whole table (this run and earlier ones)
    feasible: int = 0  # fleets found but not proven optimal (within-gap, time-limit)
    infeasible: int = 0
    no_solution_in_time: int = 0  # the time limit ended the search without a fleet (retried by retry_errors)
    failed: int = 0
    rows_written: int = 0
    elapsed_s: float = 0.0
    scenarios_per_s: float = 0.0
    interrupted: bool = False
    runner: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@contextlib.contextmanager
def _sigint_ignored():
    main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        yield
    finally:
        if main:
            signal.signal(signal.SIGINT, old)


class ProgressHooks:
    """Hooks for a progress display; this base class shows nothing."""

    def start(self, total: int, skipped: int) -> None:
        pass

    def advance(self, row: dict, counts: Counter) -> None:
        pass

    def stop(self) -> None:
        pass


@dataclass
class BatchRun:
    """One `planner batch`: inputs, output table, how and where to solve."""

    inputs: list[str]
    out: str | Path
    options: SolveOptions = field(default_factory=SolveOptions)
    workers: int | None = None  # None: one per core; 0: in this process
    scheduler: object = None  # Dask scheduler address (or Client): run there instead of a local pool
    retry_errors: bool = False

    def _runner(self, items: Iterator[Item]) -> tuple[str, Iterator[dict]]:
        if self.scheduler is not None:
            return f"dask {self.scheduler}", run_dask(items, self.options, self.scheduler)
        workers = (os.cpu_count() or 1) if self.workers is None else self.workers
        if workers == 0:
            return "inline", run_inline(items, self.options)
        return f"pool x{workers}", run_local(items, self.options, workers)

    def run(self, progress: ProgressHooks | None = None, on_row: Callable[[dict], None] | None = None) -> BatchSummary:
        progress = progress or ProgressHooks()
        out = Path(self.out)
        jpath = journal_path(out)
        salt = self.options.salt()
        summary = BatchSummary(out=str(out), journal=str(jpath))
        swept_order = swept_columns(self.inputs)  # reads every sweep file: a malformed one stops us here
        with Journal(jpath) as journal:
            done = done_records(jpath)
            if not done and out.exists():  # the journal was removed: the finished table still counts
                seed_journal_from_table(out, journal)
                done = done_records(jpath)

            keys: set[str] = set()
            skip: set[str] = set()
            counts: Counter = Counter()
            for it in iter_items(self.inputs, salt):  # pass 1: count and find what is done, holding keys only
                keys.add(it.key)
                st = done.get(it.key)
                if st is not None and not (self.retry_errors and st in RETRYABLE):
                    skip.add(it.key)
                    counts[st] += 1
            summary.total, summary.skipped = len(keys), len(skip)
            del done
            pending = (it for it in iter_items(self.inputs, salt) if it.key not in skip)

            progress.start(summary.total, summary.skipped)
            t0 = time.perf_counter()
            summary.runner, rows = self._runner(pending)
            try:
                for row in rows:
                    journal.append(row)
                    summary.done += 1
                    counts[row.get("status") or "error"] += 1
                    progress.advance(row, counts)
                    if on_row is not None:
                        on_row(row)
            except KeyboardInterrupt:
                summary.interrupted = True
            finally:  # also when a runner fails: the table shows everything finished so far
                rows.close()
                progress.stop()
                summary.elapsed_s = time.perf_counter() - t0
                with _sigint_ignored():  # a second Ctrl-C must not cut the final write short
                    summary.rows_written = write_table(jpath, out, keys, swept_order=swept_order)
        summary.scenarios_per_s = summary.done / summary.elapsed_s if summary.elapsed_s > 0 else 0.0
        summary.optimal = counts["optimal"]
        summary.feasible = counts["within-gap"] + counts["time-limit"] + counts["feasible"]  # earlier runs' word
        summary.infeasible, summary.failed = counts["infeasible"], counts["error"]
        summary.no_solution_in_time = counts[NO_SOLUTION_IN_TIME]
        return summary
