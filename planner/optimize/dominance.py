"""Instance-count bounds from dominated multiples: k instances of configuration i are never needed when one
instance of j does everything they do, at no more cost (two TP4 instances against one TP8 of the same chip at the
same price, when the TP8 serves at least twice the rate).

The exchange argument, on the program as built: for an integer k >= 1, let d = A[:, j] - k A[:, i] be the change
of every constraint's left side when k copies of i become one copy of j. If d >= 0 on every `>=` row, d <= 0 on
every `<=` row, d = 0 on every `==` row, and no objective gets worse, then any solution with x_i >= k maps to one
at least as good with x_i - k, x_j + 1. For k >= 2 the instance count falls by k - 1; for k = 1 it stays and the
exchange moves along a strict order (where i and j do the same, only the later one is bounded); so repeating
exchanges ends in a solution with x_i <= k - 1 for every such pair at once, and the bounds keep an optimum. They
remove the many equal-cost ways of writing the same chips (4 x TP2 = 2 x TP4 = 1 x TP8) that the branch and
bound otherwise rules out one by one. Where k >= 2 copies of i equal one j in every row (linear scaling) the pair
is a tie, not bounded (one pool of six 1-chip instances would become a 2-chip and a 4-chip pool at the same
cost). Every row of the model counts, active or not (rows switched on later, such as the lazy families, keep the
bounds valid), and so do both objectives. A bound holds only while j may grow: `milp.allow` applies it only where j
is allowed, and j's finite upper bound must come from rows (inventory, chip cap), which the caller guarantees.
"""

from __future__ import annotations

import numpy as np
import pyomo.core as pyo
from pyomo.repn import generate_standard_repn

TOL = 1e-9
KEEP = 4  # dominating configurations kept per dominated one (the bound needs one of them allowed)
CHUNK_ELEMENTS = 2_000_000  # entries compared at once (blocks x rows x columns x columns; a few arrays of them)


def coefficient_rows(m, xs: list) -> tuple[list[dict[int, float]], np.ndarray]:
    """(rows, sense) over every constraint and objective of model m that holds some of xs: each row as
    {position in xs: coefficient}; sense +1 for rows whose left side may only grow under an exchange (>=,
    maximize), -1 for those that may only shrink (<=, minimize), 0 for equalities (and ranged rows)."""
    col = {id(v): i for i, v in enumerate(xs)}
    rows, senses = [], []

    def add(expr, sense: int) -> None:
        rep = generate_standard_repn(expr, compute_values=True, quadratic=False)
        a: dict[int, float] = {}
        for v, c in zip(rep.linear_vars, rep.linear_coefs, strict=True):
            i = col.get(id(v))
            if i is not None:
                a[i] = a.get(i, 0.0) + float(c)
        a = {i: c for i, c in a.items() if c != 0.0}
        if a:
            rows.append(a)
            senses.append(sense)

    for con in m.component_data_objects(pyo.Constraint, active=None, descend_into=True):
        lo, hi = con.has_lb(), con.has_ub()
        add(con.body, 0 if (lo and hi) else (1 if lo else -1))
    for obj in m.component_data_objects(pyo.Objective, active=None, descend_into=True):
        add(obj.expr, -1 if obj.sense == pyo.minimize else 1)
    return rows, np.array(senses, float)


def dominated_multiples(rows: list[dict[int, float]], sense: np.ndarray, n: int) -> list[tuple[int, int, int]]:
    """(i, j, k) with k the smallest integer for which k copies of column i are dominated by one copy of column j
    (module docstring), up to KEEP such j per i, all at the smallest k any j allows (k = 1 first). Only columns
    in the same rows are compared (a configuration with a row of its own, such as a per-pool link, is never
    dominated): the columns are grouped by the rows they appear in and each group is checked as a dense block."""
    support: dict[int, list[int]] = {i: [] for i in range(n)}
    for r, a in enumerate(rows):
        for i in a:
            support[i].append(r)
    groups: dict[tuple, list[int]] = {}
    for i, rs in support.items():
        groups.setdefault(tuple(rs), []).append(i)
    # groups of one shape (rows x columns) are checked together, one array operation for many small groups
    shapes: dict[tuple[int, int], list[tuple[tuple, list[int]]]] = {}
    for rs, cols in groups.items():
        if len(cols) > 1:
            shapes.setdefault((len(rs), len(cols)), []).append((rs, cols))
    out = []
    for (R, m), members in shapes.items():
        A = np.array([[[rows[r][c] for c in cols] for r in rs] for rs, cols in members]).reshape(len(members), R, m)
        S = np.array([sense[list(rs)] for rs, _ in members]).reshape(len(members), R)
        for (_rs, cols), found in zip(members, _blocks(A, S), strict=True):
            out.extend((cols[i], cols[j], k) for i, j, k in found)
    return sorted(out)


def _blocks(A: np.ndarray, sense: np.ndarray) -> list[list[tuple[int, int, int]]]:
    """dominated_multiples on G dense blocks of one shape (A: G x rows x columns, every entry of a row's
    support; sense: G x rows), as (i, j, k) positions within each block; the pairs (i, j) compared as arrays
    G x rows x i x j, a chunk of i at a time."""
    G, R, n = A.shape
    s = sense[:, :, None, None]
    K = np.zeros((G, n, n))
    OK = np.zeros((G, n, n), bool)
    step = max(1, CHUNK_ELEMENTS // max(G * R * n, 1))
    a_j = A[:, :, None, :]  # G x rows x 1 x j
    for lo in range(0, n, step):
        a_i = A[:, :, lo:lo + step, None]  # G x rows x i x 1
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = a_j / a_i
        # rows that bound k from below: sense -1 with a_i > 0, sense +1 with a_i < 0; equalities fix it
        lower = np.where(((s < 0) & (a_i > 0)) | ((s > 0) & (a_i < 0)) | ((s == 0) & (a_i != 0)), ratio, -np.inf)
        k = np.maximum(1.0, np.ceil(np.max(lower, axis=1, initial=-np.inf) - TOL))  # G x i x j
        d = a_j - k[:, None] * a_i
        scale = np.maximum(np.abs(a_j), np.abs(k[:, None] * a_i)).clip(min=1.0) * TOL
        ok = np.all(np.where(s > 0, d >= -scale, np.where(s < 0, d <= scale, np.abs(d) <= scale)), axis=1)
        # k >= 2 copies exactly equal to one j (linear scaling) are a tie, not a dominance: bounding them would
        # split one pool of k x i into mixed sizes at the same cost
        tie = np.all(np.abs(d) <= scale, axis=1) & (k >= 2)
        K[:, lo:lo + step], OK[:, lo:lo + step] = k, ok & ~tie & np.isfinite(k)
    OK[:, np.arange(n), np.arange(n)] = False
    one = OK & (K == 1)
    # k = 1 (one j does what one i does): i -> j only where i does not do what j does, or j comes first, so
    # that equal configurations do not bound each other to zero (the exchanges follow a strict order)
    one &= ~np.swapaxes(one, 1, 2) | (np.arange(n)[None, None, :] < np.arange(n)[None, :, None])
    out: list[list[tuple[int, int, int]]] = [[] for _ in range(G)]
    for g, i in zip(*np.nonzero(OK.any(axis=2)), strict=True):
        js = np.flatnonzero(one[g, i])
        if not len(js):
            js = np.flatnonzero(OK[g, i] & (K[g, i] >= 2))
            js = js[K[g, i, js] == K[g, i, js].min()] if len(js) else js
        out[g].extend((int(i), int(j), int(K[g, i, j])) for j in js[:KEEP])
    return out
