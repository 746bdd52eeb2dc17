"""One guarded reader for every file the planner takes (scenarios, sweeps, catalog overlays, model files,
measurement CSVs): a regular file within a size limit, decoded as UTF-8 (with or without a BOM) or UTF-16 with a
BOM, parsed with limits on nesting and YAML aliases and without silently merged duplicate keys or non-finite JSON
numbers. Every refusal is a PlannerError (exit 2) naming the file, the field the file was given for, and the fix;
no message echoes the file's contents."""

from __future__ import annotations

import codecs
import json
import stat
from pathlib import Path

import yaml

from planner.errors import PlannerError

MAX_YAML_BYTES = 1 << 20  # 1 MiB: the largest bundled scenario is ~2 KB, a catalog ~30 KB
MAX_JSON_BYTES = 4 << 20  # config.json / hf_quant_config.json (the largest in the zoo is ~60 KB)
MAX_CSV_BYTES = 256 << 20  # measurement tables (the shared serving file is ~1 MB)
MAX_DEPTH = 64  # nesting of mappings and lists
MAX_ALIASES = 256  # YAML alias references (a few anchors are normal; thousands are an expansion bomb)


def path_exists(path: str | Path, *, directory: bool = False) -> bool:
    """Whether a path names an existing file (or folder): False, not an exception, for names the OS refuses
    (too long, a NUL byte, no permission)."""
    try:
        p = Path(path)
        return p.is_dir() if directory else p.exists()
    except (OSError, ValueError):
        return False


def read_text(path: str | Path, *, field: str, max_bytes: int) -> str:
    """The text of a regular file of at most `max_bytes`, decoded (UTF-8, UTF-8 with BOM, UTF-16 with BOM)."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise PlannerError(f"file not found: {p}", field=field) from None
    except OSError as exc:
        raise PlannerError(f"cannot read {p}: {exc.strerror or exc}", field=field) from None
    if not stat.S_ISREG(st.st_mode):
        raise PlannerError(f"{p} is not a regular file", field=field, hint="give the path of a file")
    if st.st_size > max_bytes:
        raise PlannerError(f"{p} is {st.st_size:,} bytes, more than the {max_bytes:,} this input may have",
                           field=field, hint="check that this is the file you meant")
    try:
        with p.open("rb") as f:
            raw = f.read(max_bytes + 1)
    except OSError as exc:
        raise PlannerError(f"cannot read {p}: {exc.strerror or exc}", field=field) from None
    if len(raw) > max_bytes:
        raise PlannerError(f"{p} is longer than the {max_bytes:,} bytes this input may have", field=field)
    return decode(raw, p, field)


def decode(raw: bytes, p: Path, field: str) -> str:
    for bom, enc in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if raw.startswith(bom):
            raw, encoding = raw[len(bom):], enc
            break
    else:
        encoding = "utf-8"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise PlannerError(f"{p} is not {encoding.upper()} text (undecodable byte at offset {exc.start})", field=field,
                           hint="save the file as UTF-8") from None


class _GuardedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with limits on nesting and aliases and an error on duplicate mapping keys."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_ALIASES} alias references (*name)")
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise yaml.YAMLError(f"nested more than {MAX_DEPTH} levels deep")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                continue  # PyYAML reports unhashable keys itself
            if key in seen:
                raise yaml.YAMLError(f"duplicate key {key!r} (line {key_node.start_mark.line + 1}; first on line "
                                     f"{seen[key] + 1})")
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def load_bundled_yaml(path: Path):
    """A YAML file that ships with the package (the chip catalog, model presets): parsed with libyaml's C loader
    where PyYAML has it (8x faster than the guarded pure-Python loader; these files are ours, and
    tests/inputs/test_reader.py checks that both loaders read them alike)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - a safe loader


def load_yaml(path: str | Path, *, field: str, max_bytes: int = MAX_YAML_BYTES):
    """A YAML file's document, read and parsed with the guards above."""
    text = read_text(path, field=field, max_bytes=max_bytes)
    return parse_yaml(text, Path(path), field)


def parse_yaml(text: str, p: Path, field: str):
    try:
        return yaml.load(text, Loader=_GuardedLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise PlannerError(f"{p} is nested too deeply", field=field) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PlannerError(f"{p} is not valid YAML{where}: {what}", field=field,
                           hint="fix the YAML (a linter such as yamllint shows the spot)") from None


def _pairs_without_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _no_constant(name):
    raise ValueError(f"{name} is not a number JSON allows")


def load_csv(path: str | Path, *, field: str, max_bytes: int = MAX_CSV_BYTES):
    """A CSV file as a DataFrame (pandas), read with the guards above; a malformed table is a PlannerError."""
    import io

    import pandas as pd

    p = Path(path)
    text = read_text(p, field=field, max_bytes=max_bytes)
    try:
        return pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise PlannerError(f"{p} is not a CSV table: {str(exc).splitlines()[0]}", field=field) from None


def load_json(path: str | Path, *, field: str, max_bytes: int = MAX_JSON_BYTES, non_finite: bool = False):
    """A JSON file's value: duplicate keys refused, nesting limited; NaN and Infinity refused unless `non_finite`
    (Hugging Face configs write them, e.g. Mamba's `time_step_limit: [0.0, Infinity]`; the importer checks every
    number it uses)."""
    p = Path(path)
    text = read_text(p, field=field, max_bytes=max_bytes)
    try:
        return json.loads(text, object_pairs_hook=_pairs_without_duplicates,
                          parse_constant=float if non_finite else _no_constant)
    except RecursionError:
        raise PlannerError(f"{p} is nested too deeply", field=field) from None
    except json.JSONDecodeError as exc:
        raise PlannerError(f"{p} is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}",
                           field=field) from None
    except ValueError as exc:
        raise PlannerError(f"{p} is not valid JSON: {exc}", field=field) from None
