"""Crash-safe storage of batch results: an append-only JSON Lines journal and an atomic final table.

- The journal (`<out>.journal.jsonl`) gets one line per finished scenario, written with a single `write` and
  fsync'd before the next one, so a run killed at any moment (Ctrl-C, kill -9, power loss) keeps every result
  it reported. A torn last line (power loss mid-write) is skipped when read and cut off before appending.
  An exclusive lock keeps two runs from writing the same journal.
- The table (`.parquet` or `.csv`) is written from the journal to a temporary file in the same folder, fsync'd
  and moved into place with `os.replace`: readers see the old table or the new one, never a partial file.
- Both passes over the journal stream it; memory holds one chunk of rows and the key index, not the results.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from planner.engine.tables import ROLES
from planner.errors import PlannerError

JOURNAL_SUFFIX = ".journal.jsonl"
TABLE_SUFFIXES = (".parquet", ".csv")
CHUNK_ROWS = 2048

# Fixed columns of a result row and their Arrow types; the swept columns go after `source`.
ID_COLUMNS: dict[str, pa.DataType] = {"scenario_key": pa.string(), "scenario_name": pa.string(), "source": pa.string()}
RESULT_COLUMNS: dict[str, pa.DataType] = {
    "status": pa.string(),  # optimal | within-gap | time-limit | infeasible | no-solution-in-time | error
    "reason": pa.string(),
    "cost_usd_per_hr": pa.float64(),
    "num_chips": pa.int64(),
    "throughput_rps": pa.float64(),
    "ttft_ms": pa.float64(),
    "tpot_ms": pa.float64(),
    "power_kw": pa.float64(),
    "mode": pa.string(),
    "mip_gap": pa.float64(),
    "fleet": pa.string(),
}
ROLE_FIELDS: dict[str, pa.DataType] = {
    "chip": pa.string(),  # chip ids of the role's pools, "+"-joined when heterogeneous
    "pools": pa.int64(),
    "instances": pa.int64(),
    "chips": pa.int64(),
    "tp": pa.int64(),  # parallelism and batch of the role's largest pool (all pools in pools_json)
    "ep": pa.int64(),
    "pp": pa.int64(),
    "dp": pa.int64(),
    "batch": pa.int64(),
}
TAIL_COLUMNS: dict[str, pa.DataType] = {"pools_json": pa.string(), "solve_s": pa.float64()}
TIMING_COLUMNS = ("solve_s",)


def role_columns(role: str) -> dict[str, pa.DataType]:
    return {f"{role}_{f}": t for f, t in ROLE_FIELDS.items()}


def _fixed_columns() -> frozenset[str]:
    cols = set(ID_COLUMNS) | set(RESULT_COLUMNS) | set(TAIL_COLUMNS)
    for r in ROLES:
        cols |= set(role_columns(r))
    return frozenset(cols)


FIXED_COLUMNS = _fixed_columns()


def journal_path(out: str | Path) -> Path:
    out = Path(out)
    if out.suffix not in TABLE_SUFFIXES:
        raise PlannerError(f"unsupported output {out.name!r}", field="--out", hint="use a .parquet or .csv file")
    return out.with_name(out.name + JOURNAL_SUFFIX)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ------------------------------------------------------------------ journal


def iter_journal(path: str | Path) -> Iterator[dict]:
    """Records of a journal in write order; unparsable lines (a torn last line) are skipped."""
    path = Path(path)
    if not path.exists():
        return
    with path.open("rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                break  # torn tail: never completed, so never reported as done
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and "key" in rec and isinstance(rec.get("row"), dict):
                yield rec


def done_records(path: str | Path) -> dict[str, str]:
    """key -> status of the last record per key."""
    return {r["key"]: r["row"].get("status") for r in iter_journal(path)}


class Journal:
    """Append-only, fsync-per-record JSON Lines file holding one result row per line."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise PlannerError(f"another `planner batch` is writing {self.path}", hint="wait for it or use another --out") from None
        self._repair_tail()
        if created or os.fstat(self._fd).st_size == 0:
            self._write({"journal": "planner-batch", "version": 1, "created": datetime.now(UTC).isoformat()})
            _fsync_dir(self.path.parent)

    def _repair_tail(self) -> None:
        """Cut a torn last line (no newline) so the next record starts on a line of its own."""
        size = os.fstat(self._fd).st_size
        if size == 0:
            return
        pos, block = size, 1 << 16
        while pos > 0:
            start = max(0, pos - block)
            data = os.pread(self._fd, pos - start, start)
            if pos == size and data.endswith(b"\n"):
                return
            nl = data.rfind(b"\n")
            if nl >= 0:
                os.ftruncate(self._fd, start + nl + 1)
                return
            pos = start
        os.ftruncate(self._fd, 0)

    def _write(self, obj: dict) -> None:
        data = (json.dumps(obj, separators=(",", ":"), allow_nan=False, default=str) + "\n").encode()
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        os.fsync(self._fd)

    def append(self, row: dict) -> None:
        self._write({"key": row["scenario_key"], "row": _json_safe(row)})

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _json_safe(v):
    if isinstance(v, float):
        return None if math.isnan(v) or math.isinf(v) else v
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    if hasattr(v, "item"):  # numpy scalar
        return _json_safe(v.item())
    return v


# ------------------------------------------------------------------ table


def _kind(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int" if -(2**63) <= v < 2**63 else "str"  # beyond int64: kept as text
    if isinstance(v, float):
        return "float"
    return "str"


def _arrow_type(kinds: set[str]) -> pa.DataType:
    if not kinds:
        return pa.string()
    if kinds == {"bool"}:
        return pa.bool_()
    if kinds == {"int"}:
        return pa.int64()
    if kinds <= {"int", "float"}:
        return pa.float64()
    return pa.string()


def cell_text(v) -> str | None:
    """A swept value as one spreadsheet cell: lists of scalars comma-joined, other structures as JSON."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, list) and all(isinstance(x, (str, int, float)) for x in v):
        return ",".join(str(x) for x in v)
    if isinstance(v, (list, dict)):
        return json.dumps(v, sort_keys=True, separators=(",", ":"))
    return str(v)


def swept_name(key: str) -> str:
    """Column of a swept key: its dotted name, prefixed `swept.` only where it would clash with a fixed column."""
    return f"swept.{key}" if key in FIXED_COLUMNS else key


def _scan(journal: Path, keys: set[str] | None) -> tuple[dict[str, int], dict[str, set[str]], list[str]]:
    """Pass 1: the line of each key's last record, the value kinds of each swept column, the roles present."""
    last: dict[str, int] = {}
    swept: dict[str, set[str]] = {}
    roles: set[str] = set()
    for i, rec in enumerate(iter_journal(journal)):
        if keys is not None and rec["key"] not in keys:
            continue
        last[rec["key"]] = i
        row = rec["row"]
        for k, v in (row.get("swept") or {}).items():
            kinds = swept.setdefault(k, set())
            if (kd := _kind(v)) is not None:
                kinds.add(kd)
        roles.update(r for r in ROLES if row.get(f"{r}_instances") is not None)
    return last, swept, [r for r in ROLES if r in roles]


def build_schema(swept: dict[str, set[str]], roles: list[str], extra_swept: Iterable[str] = ()) -> pa.Schema:
    fields = list(ID_COLUMNS.items())
    names = list(swept) + [k for k in extra_swept if k not in swept]
    fields += [(swept_name(k), _arrow_type(swept.get(k, set()))) for k in names]
    fields += list(RESULT_COLUMNS.items())
    for r in roles:
        fields += list(role_columns(r).items())
    fields += list(TAIL_COLUMNS.items())
    return pa.schema(fields)


def _flatten(row: dict, schema: pa.Schema, swept_types: dict[str, pa.DataType]) -> dict:
    flat = {k: v for k, v in row.items() if k != "swept"}
    for k, v in (row.get("swept") or {}).items():
        flat[swept_name(k)] = cell_text(v) if swept_types.get(swept_name(k)) == pa.string() else v
    return {name: flat.get(name) for name in schema.names}


def write_table(journal: str | Path, out: str | Path, keys: set[str] | None = None,
                swept_order: Iterable[str] = ()) -> int:
    """Write the last record of each key in `keys` (all keys when None), in journal order, atomically to `out`
    (.parquet or .csv). Returns the number of rows written."""
    journal, out = Path(journal), Path(out)
    last, swept, roles = _scan(journal, keys)
    order = [k for k in swept_order if k in swept] + [k for k in swept if k not in set(swept_order)]
    schema = build_schema({k: swept[k] for k in order}, roles)
    types = {f.name: f.type for f in schema}
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    _remove_stale_tmp(out)
    n = 0
    try:
        with _TableWriter(tmp, schema) as w:
            chunk: list[dict] = []
            for i, rec in enumerate(iter_journal(journal)):
                if last.get(rec["key"]) != i:
                    continue
                chunk.append(_flatten(rec["row"], schema, types))
                if len(chunk) >= CHUNK_ROWS:
                    w.write(chunk)
                    n += len(chunk)
                    chunk = []
            w.write(chunk)
            n += len(chunk)
        os.replace(tmp, out)
        _fsync_dir(out.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return n


def _remove_stale_tmp(out: Path) -> None:
    """Temporary files left by a killed run (its pid gone)."""
    for p in out.parent.glob(f".{out.name}.tmp-*"):
        pid = p.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                with contextlib.suppress(OSError):
                    p.unlink()
            except PermissionError:
                pass


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(v):
    """A text cell a spreadsheet would run as a formula (=, +, -, @ first) gets a leading apostrophe (OWASP's
    CSV-injection rule); other values pass unchanged."""
    return "'" + v if isinstance(v, str) and v.startswith(FORMULA_START) else v


class _TableWriter:
    """Chunked writer of rows to a Parquet (row group per chunk) or CSV file, fsync'd on close."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.path, self.schema = path, schema
        self.csv = path.name.split(".tmp-")[0].endswith(".csv")
        self._f = path.open("w", newline="") if self.csv else None
        self._pq = None if self.csv else pq.ParquetWriter(str(path), schema)
        self._header = True

    def write(self, rows: list[dict]) -> None:
        if self.csv:  # text a spreadsheet would run as a formula is quoted
            rows = [{k: csv_safe(v) for k, v in r.items()} for r in rows]
        table = pa.Table.from_pylist(rows, schema=self.schema)
        if self._pq is not None:
            if rows:
                self._pq.write_table(table)
            return
        if rows or self._header:
            table.to_pandas().to_csv(self._f, header=self._header, index=False)
            self._header = False

    def __enter__(self) -> _TableWriter:
        return self

    def __exit__(self, *exc) -> None:
        if self._pq is not None:
            self._pq.close()
        else:
            self._f.close()
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ------------------------------------------------------------------ seeding a journal from an existing table


def read_table(out: str | Path, columns: list[str] | None = None):
    """The results table as a DataFrame (only `columns` when given)."""
    import pandas as pd

    out = Path(out)
    return pd.read_parquet(out, columns=columns) if out.suffix == ".parquet" else pd.read_csv(out, usecols=columns)


def seed_journal_from_table(out: str | Path, journal: Journal) -> int:
    """Rows of an existing output table, when its journal is gone, so a rerun still skips them."""
    df = read_table(out)
    if "scenario_key" not in df.columns:
        return 0
    n = 0
    for rec in df.to_dict(orient="records"):
        rec = _json_safe({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in rec.items()})
        row = {k: v for k, v in rec.items() if k in FIXED_COLUMNS}
        row["swept"] = {k.removeprefix("swept."): v for k, v in rec.items() if k not in FIXED_COLUMNS}
        journal.append(row)
        n += 1
    return n
