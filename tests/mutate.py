"""Mutated inputs for fuzzing the readers (tests/inputs/test_fuzz.py with Hypothesis, scripts/fuzz_inputs.py for a
long run): take a valid document and damage it the ways users and tools do — a value of the wrong type or sign, a
non-finite or huge number, a deleted or unknown key, deep nesting, a wrong encoding. Deterministic per seed."""

from __future__ import annotations

import copy
import random

WEIRD_VALUES = (None, True, False, 0, -1, 1e308, -1e308, float("nan"), float("inf"), 2**63, "", "x" * 300,
                "[/]", "$x^$", "=cmd|' /C calc'!A0", [], {}, [1, 2], {"a": 1}, "12", "\u00e9", 1e-12)


def paths(doc, prefix=()):
    """Every (path to a value) in a nested dict/list document."""
    out = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.append((*prefix, k))
            out += paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.append((*prefix, i))
            out += paths(v, (*prefix, i))
    return out


def _parent(doc, path):
    for p in path[:-1]:
        doc = doc[p]
    return doc


def _weird(rng: random.Random):
    """A fresh copy of one of WEIRD_VALUES (never the shared object: a damaged document must stay a tree)."""
    return copy.deepcopy(rng.choice(WEIRD_VALUES))


def mutate(doc, rng: random.Random, n: int = 1):
    """A copy of `doc` with `n` random damages."""
    doc = copy.deepcopy(doc)
    for _ in range(n):
        ps = paths(doc)
        if not ps:
            return _weird(rng)
        path = rng.choice(ps)
        parent, key = _parent(doc, path), path[-1]
        op = rng.randrange(5)
        if op == 0:  # a value of another kind
            parent[key] = _weird(rng)
        elif op == 1 and isinstance(parent, dict):  # a key deleted
            del parent[key]
        elif op == 2 and isinstance(parent, dict):  # an unknown key
            parent[f"{key}_x"] = _weird(rng)
        elif op == 3 and isinstance(parent[key], (int, float)) and not isinstance(parent[key], bool):
            parent[key] = parent[key] * rng.choice((-1, 0, 1e12, 1e-12, 3.7))  # a number scaled out of range
        else:  # nested deeper than expected
            parent[key] = [[parent[key]]]
    return doc
