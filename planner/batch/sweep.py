"""Batch inputs: find scenario files, expand sweep files into their product, give each scenario a stable key.

A sweep file is a YAML mapping with a `sweep:` and/or `zip:` section (a plain scenario file has neither)::

    name: llama8b-chat            # optional: prefix of the generated scenario names
    base: llama8b-chat.yaml       # scenario file (relative to this file), inline mapping, or a list of them
    sweep:                        # product over these axes, in order (the last varies fastest)
      slo.tpot_ms: [20, 30, 50]
      chips: [[h100-sxm], [h200-sxm], [h100-sxm, h200-sxm]]
      chips[h100-sxm].price_usd_per_hr: [2.0, 2.5]
    zip:                          # optional: groups of keys that vary together (one axis per group)
      - {workload.isl: [1024, 8192], workload.osl: [256, 1024]}

Keys are dotted paths into the scenario mapping; a list element is picked by index (`chips.0.max_count`) or by
its `id` (`chips[h100-sxm].price_usd_per_hr` or `chips.h100-sxm.price_usd_per_hr`). A bare chip id in a swept
`chips` list takes that chip's entry from the base (price, max_count) when the base offers it, else `{id: ...}`.
A selector that matches nothing in a combination (an H100 price where only H200 is offered) does not apply: its
column is empty and the duplicate combinations collapse into one scenario.

Everything here is plain dict work; each scenario is validated by the worker that solves it, so one bad
combination becomes one error row rather than a failed batch.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from planner.errors import PlannerError
from planner.inputs.reader import load_yaml, path_exists

SWEEP_SECTIONS = ("sweep", "zip")
YAML_SUFFIXES = (".yaml", ".yml")
_SEGMENT = re.compile(r"\[([^\]]+)\]|([^.\[\]]+)")
_NOT_APPLIED = object()


@dataclass
class Item:
    """One expanded scenario ready to solve, or (`error` set) an input that could not be read."""

    key: str
    name: str
    source: str
    swept: dict = field(default_factory=dict)
    scenario: dict | None = None
    error: str | None = None


@dataclass
class Axis:
    keys: tuple[str, ...]
    values: list[tuple]  # one tuple (a value per key) per point on the axis


MAX_SWEEP_SCENARIOS = 100_000  # one sweep file's product (at ~17 scenarios/s on 2 cores: ~1.6 h)


@dataclass
class SweepSpec:
    source: str
    name: str | None
    bases: list[tuple[str | None, dict]]  # (label for the `base` column when several, scenario mapping)
    axes: list[Axis]

    @property
    def size(self) -> int:
        return len(self.bases) * math.prod(len(a.values) for a in self.axes)

    @property
    def columns(self) -> list[str]:
        cols = ["base"] if len(self.bases) > 1 else []
        return cols + [k for a in self.axes for k in a.keys]


# ------------------------------------------------------------------ keys and dotted paths


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def scenario_key(scenario: dict, swept: dict, salt: str = "", *, with_name: bool = False) -> str:
    """Stable id of one expanded scenario: a hash of its content (not a generated name unless `with_name`), the
    swept values and `salt` (the run's solver options), so a rerun recognises it whatever the input order."""
    body = {k: v for k, v in scenario.items() if with_name or k != "name"}
    text = canonical_json({"scenario": body, "swept": swept, "salt": salt})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def split_key(key: str) -> list[str]:
    parts = [a or b for a, b in _SEGMENT.findall(key)]
    if not parts or "".join(parts) != re.sub(r"[.\[\]]", "", key):
        raise PlannerError(f"cannot parse the dotted key {key!r}", hint="use e.g. slo.tpot_ms or chips[h100-sxm].price_usd_per_hr")
    return parts


def _child(node, seg: str, create: bool):
    """The element `seg` of a mapping or list, `_NOT_APPLIED` when a list has no such id."""
    if isinstance(node, dict):
        if seg not in node and create:
            node[seg] = {}
        return node.get(seg, _NOT_APPLIED)
    if isinstance(node, list):
        if seg.lstrip("-").isdigit():
            i = int(seg)
            return node[i] if -len(node) <= i < len(node) else _NOT_APPLIED
        for el in node:
            if isinstance(el, dict) and el.get("id") == seg:
                return el
        return _NOT_APPLIED
    raise PlannerError(f"cannot descend into {type(node).__name__} value {node!r} at {seg!r}")


def set_dotted(doc: dict, key: str, value) -> bool:
    """Set `key` (dotted path) in `doc` in place; False when a list selector on the path matched nothing."""
    parts = split_key(key)
    node = doc
    for seg in parts[:-1]:
        node = _child(node, seg, create=True)
        if node is _NOT_APPLIED:
            return False
    last = parts[-1]
    if isinstance(node, dict):
        node[last] = value
        return True
    if isinstance(node, list):
        target = _child(node, last, create=False)
        if target is _NOT_APPLIED:
            return False
        node[node.index(target)] = value
        return True
    raise PlannerError(f"cannot set {key!r}: {type(node).__name__} value in the way")


def _chip_list(value, base_chips) -> list:
    """A swept `chips` value: bare ids take the base's entry for that chip (price, max_count) when it has one."""
    known = {c["id"]: c for c in base_chips or [] if isinstance(c, dict) and "id" in c}
    out = []
    for c in value if isinstance(value, list) else [value]:
        if isinstance(c, str):
            out.append(copy.deepcopy(known.get(c, {"id": c})))
        else:
            out.append(copy.deepcopy(c))
    return out


# ------------------------------------------------------------------ sweep files


def is_sweep(doc) -> bool:
    return isinstance(doc, dict) and any(s in doc for s in SWEEP_SECTIONS)


def _read_yaml(path: Path):
    return load_yaml(path, field="base")


def _resolve_model_path(doc: dict, folder: Path) -> dict:
    """A model given as a path relative to the scenario's file (a HF config.json) made absolute, as
    `load_scenario` does, so workers in any folder find it."""
    model = doc.get("model")
    if isinstance(model, str) and ("/" in model or model.endswith((".json", ".yaml", ".yml"))):
        local = folder / model
        if not Path(model).is_absolute() and path_exists(local):
            doc["model"] = str(local.resolve())
    return doc


def _base_name(path: Path | None, doc: dict) -> str:
    return str(doc.get("name") or (path.stem if path else "scenario"))


def parse_sweep(doc: dict, path: Path) -> SweepSpec:
    """Check a sweep mapping and resolve its base(s); errors name the file and the offending key."""
    src = str(path)
    unknown = set(doc) - {"name", "base", "sweep", "zip", "description"}
    if unknown:
        raise PlannerError(f"unknown section(s) {sorted(unknown)} in sweep file {src}",
                           hint="a sweep file has base, sweep, zip and optionally name and description")
    raw_bases = doc.get("base")
    if raw_bases is None:
        raise PlannerError(f"sweep file {src} has no base", field="base",
                           hint="base: a scenario file (relative to the sweep file) or an inline scenario mapping")
    if isinstance(raw_bases, list) and not raw_bases:
        raise PlannerError(f"sweep file {src} has an empty base list", field="base",
                           hint="base: a scenario file, an inline scenario mapping, or a list of them")
    bases = []
    for b in raw_bases if isinstance(raw_bases, list) else [raw_bases]:
        if isinstance(b, str):
            bpath = (path.parent / b).resolve()
            bdoc = _read_yaml(bpath)
            if not isinstance(bdoc, dict) or is_sweep(bdoc):
                raise PlannerError(f"base {b!r} of {src} is not a scenario mapping", field="base")
            bases.append((b, _resolve_model_path(bdoc, bpath.parent)))
        elif isinstance(b, dict):
            bases.append((str(b.get("name", f"base{len(bases)}")), _resolve_model_path(copy.deepcopy(b), path.parent)))
        else:
            raise PlannerError(f"each base must be a file path or a mapping, got {b!r}", field="base")

    axes: list[Axis] = []
    sweep = doc.get("sweep") or {}
    if not isinstance(sweep, dict):
        raise PlannerError(f"`sweep` in {src} must map dotted keys to lists of values", field="sweep")
    for key, values in sweep.items():
        split_key(str(key))
        if not isinstance(values, list) or not values:
            raise PlannerError(f"needs a non-empty list of values in {src}, got {values!r}", field=f"sweep.{key}")
        axes.append(Axis((str(key),), [(v,) for v in values]))
    groups = doc.get("zip") or []
    if isinstance(groups, dict):
        groups = [groups]
    if not isinstance(groups, list):
        raise PlannerError(f"`zip` in {src} must be a list of groups", field="zip")
    for i, grp in enumerate(groups):
        if not isinstance(grp, dict) or not grp:
            raise PlannerError(f"zip group {i} in {src} must map keys to equal-length lists", field=f"zip[{i}]")
        lens = {}
        for key, values in grp.items():
            split_key(str(key))
            if not isinstance(values, list) or not values:
                raise PlannerError(f"needs a non-empty list in {src}", field=f"zip[{i}].{key}")
            lens[str(key)] = len(values)
        if len(set(lens.values())) != 1:
            raise PlannerError(f"lists in a zip group must have the same length, got {lens} in {src}", field=f"zip[{i}]")
        keys = tuple(str(k) for k in grp)
        axes.append(Axis(keys, list(zip(*grp.values(), strict=True))))
    seen = [k for a in axes for k in a.keys]
    dup = {k for k in seen if seen.count(k) > 1}
    if dup:
        raise PlannerError(f"key(s) {sorted(dup)} swept more than once in {src}", field="sweep")
    spec = SweepSpec(source=src, name=doc.get("name"), bases=bases, axes=axes)
    if spec.size > MAX_SWEEP_SCENARIOS:  # counted from the list lengths, before anything is expanded
        raise PlannerError(f"{src} expands to {spec.size:,} scenarios, more than {MAX_SWEEP_SCENARIOS:,}",
                           field="sweep", hint="sweep fewer values, or split the study into several sweep files")
    return spec


def expand(spec: SweepSpec) -> Iterator[tuple[str, dict, dict]]:
    """Yield (name, scenario mapping, swept values) for every point of the product, lazily."""
    # whole values first, then paths into them (a swept chip list before a price selector into it)
    order = sorted(((len(split_key(k)), ai, ki) for ai, a in enumerate(spec.axes) for ki, k in enumerate(a.keys)))
    per_base = spec.size // len(spec.bases)
    for label, base in spec.bases:
        prefix = spec.name or _base_name(None, base)
        if len(spec.bases) > 1:
            prefix = f"{spec.name}-{_base_name(None, base)}" if spec.name else _base_name(None, base)
        for idx, point in enumerate(itertools.product(*(a.values for a in spec.axes))):
            doc = copy.deepcopy(base)
            swept = {"base": label} if len(spec.bases) > 1 else {}
            applied = {}
            for _, ai, ki in order:
                key, shown = spec.axes[ai].keys[ki], point[ai][ki]
                value = _chip_list(shown, base.get("chips")) if key == "chips" else copy.deepcopy(shown)
                applied[key] = shown if set_dotted(doc, key, value) else None
            swept.update({k: applied[k] for a in spec.axes for k in a.keys})
            doc["name"] = f"{prefix}-{idx + 1:0{len(str(per_base))}d}" if spec.axes else prefix
            yield doc["name"], doc, swept


# ------------------------------------------------------------------ inputs


def discover(inputs: Iterable[str | Path]) -> list[Path]:
    """Scenario and sweep files named on the command line; directories are searched recursively (sorted)."""
    files: list[Path] = []
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix in YAML_SUFFIXES and f.is_file())
            if not found:
                raise PlannerError(f"no .yaml scenario files under {p}")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise PlannerError(f"no such file or directory: {p}", hint="pass scenario files, directories or sweep files")
    return files


def iter_items(inputs: Iterable[str | Path], salt: str = "") -> Iterator[Item]:
    """Every scenario of every input, expanded and keyed; duplicates (same key) are yielded once.

    Sweep files are checked when reached (a malformed one raises PlannerError); a file that is not valid
    YAML or not a mapping becomes one error Item so the rest of the batch still runs.
    """
    seen: set[str] = set()
    for path in discover(inputs):
        src = str(path)
        try:
            doc = load_yaml(path, field="inputs")
        except PlannerError as exc:
            doc, err = None, str(exc)
        else:
            err = None if isinstance(doc, dict) else f"expected a scenario mapping, got {type(doc).__name__}"
        if err:
            key = scenario_key({"source": src, "error": err}, {}, salt)
            if key not in seen:
                seen.add(key)
                yield Item(key=key, name=path.stem, source=src, error=err)
            continue
        if is_sweep(doc):
            for name, scen, swept in expand(parse_sweep(doc, path)):
                key = scenario_key(scen, swept, salt)
                if key not in seen:
                    seen.add(key)
                    yield Item(key=key, name=name, source=src, swept=swept, scenario=scen)
        else:
            doc.setdefault("name", path.stem)
            _resolve_model_path(doc, path.parent)
            key = scenario_key(doc, {}, salt, with_name=True)
            if key not in seen:
                seen.add(key)
                yield Item(key=key, name=str(doc["name"]), source=src, scenario=doc)


def swept_columns(inputs: Iterable[str | Path]) -> list[str]:
    """The swept keys of all sweep inputs, in first-seen order (the table's swept columns)."""
    cols: list[str] = []
    for path in discover(inputs):
        try:
            doc = load_yaml(path, field="inputs")
        except PlannerError:
            continue
        if is_sweep(doc):
            cols.extend(c for c in parse_sweep(doc, path).columns if c not in cols)
    return cols
