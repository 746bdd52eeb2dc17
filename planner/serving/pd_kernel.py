"""The disaggregated simulation for open-loop arrivals, compiled (numba), in two passes.

The same scheduler as planner.serving.disaggregated (the reference, in Python, which also runs closed loops):
prompts queue in arrival order for the first free prefill engine (free engines taken last-freed first), each
attention-DP rank takes prompts up to its batch limit and token budget, the KV lands after the transfer, decode
engines are assigned round-robin in order of prefill completion and admit arrivals at their next iteration
boundary, stretches of pure decode advance in one jump.

With open-loop arrivals nothing a decode engine does reaches back to the prefill pool, so the pool is simulated
first (`_prefill_pool`: when each prompt's KV lands and on which decode engine), then each decode engine on its
own (`_decoder`), merging its KV landings with its iteration boundaries: no shared event heap, no stale events.
The requests' times equal the reference's (tests/serving/test_pd_kernel.py) except where a KV landing and an
iteration boundary of the same engine fall at the same instant (here the landing goes first; the reference takes
the one scheduled first). Why compiled: a P/D fleet of ~100 engines at its planned load serves ~10 million
requests per simulated hour, ~100 us each in the Python loop.

Iteration times come from the StepModel grids, interpolated as StepModel.iteration_one_s does.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from planner.serving.params import TOKEN_EPS


@njit(cache=True, inline="always")
def _interp3(a0, a1, a2, table, d, x, p):
    """Trilinear interpolation on the grid (log1p(decode), ctx, log1p(prefill tokens)), extended linearly beyond
    it and floored at 0: StepModel.iteration_one_s."""
    v0, v1, v2 = np.log1p(d), x, np.log1p(p)
    i = min(max(np.searchsorted(a0, v0, side="right") - 1, 0), len(a0) - 2)
    j = min(max(np.searchsorted(a1, v1, side="right") - 1, 0), len(a1) - 2)
    k = min(max(np.searchsorted(a2, v2, side="right") - 1, 0), len(a2) - 2)
    u = (v0 - a0[i]) / (a0[i + 1] - a0[i])
    v = (v1 - a1[j]) / (a1[j + 1] - a1[j])
    s = (v2 - a2[k]) / (a2[k + 1] - a2[k])
    c00 = table[i, j, k] * (1 - u) + table[i + 1, j, k] * u
    c01 = table[i, j, k + 1] * (1 - u) + table[i + 1, j, k + 1] * u
    c10 = table[i, j + 1, k] * (1 - u) + table[i + 1, j + 1, k] * u
    c11 = table[i, j + 1, k + 1] * (1 - u) + table[i + 1, j + 1, k + 1] * u
    c0 = c00 * (1 - v) + c10 * v
    c1 = c01 * (1 - v) + c11 * v
    return max(c0 * (1 - s) + c1 * s, 0.0)


@njit(cache=True)
def _prefill_pool(arrival, new, transfer, n_prefill, ranks, rank_batch, rank_budget, a0, a1, a2, table, p_isl,
                  n_decode, max_events):
    """The prefill pool's queue and engines. Returns each request's KV landing time, its decode engine, the
    order of its KV event (requests that land together on one engine from one batch share it), the requests in
    that order, and whether the pool finished within max_events."""
    n = len(arrival)
    land = np.full(n, np.nan)
    dest = np.zeros(n, np.int64)
    group = np.zeros(n, np.int64)
    ordered = True
    for i in range(1, n):
        if arrival[i] < arrival[i - 1]:
            ordered = False
            break
    # arrivals by time, then by index (the reference's heap order); open-loop arrivals come sorted
    order = np.arange(n) if ordered else np.argsort(arrival, kind="mergesort")
    # engines busy: a min-heap of their completions (time, sequence); each one's batch, a range of `batch`
    done_t = np.empty(n_prefill)
    done_s = np.zeros(n_prefill, np.int64)
    done_e = np.zeros(n_prefill, np.int64)
    busy = 0
    done_lo = np.zeros(n_prefill, np.int64)
    done_hi = np.zeros(n_prefill, np.int64)
    free = np.arange(n_prefill)  # a stack: the reference pops the last-freed engine
    nfree = n_prefill
    batch = np.empty(n, np.int64)
    bpos = 0
    qh = 0  # the queue: order[qh:qt] (arrived, not yet prefilled)
    qt = 0
    seq = n  # arrivals hold sequence numbers 0..n-1 (the reference schedules them first)
    groups = 0
    in_order = np.empty(n, np.int64)  # requests by KV event, in the order the events were scheduled
    n_landed = 0
    rr = 0
    m_max = ranks * rank_batch
    dst = np.empty(m_max, np.int64)
    lands = np.empty(m_max)
    taken_flag = np.zeros(m_max, np.bool_)
    for _ in range(max_events):
        if qt < n and (busy == 0 or arrival[order[qt]] <= done_t[0]):  # an arrival wins ties
            t = arrival[order[qt]]
            qt += 1
        elif busy > 0:
            t, e = done_t[0], done_e[0]
            busy -= 1  # pop: the last leaf to the root, sifted down
            lt, ls, le = done_t[busy], done_s[busy], done_e[busy]
            pos = 0
            while True:
                c = 2 * pos + 1
                if c >= busy:
                    break
                if c + 1 < busy and (done_t[c + 1] < done_t[c] or (done_t[c + 1] == done_t[c] and done_s[c + 1] < done_s[c])):
                    c += 1
                if done_t[c] < lt or (done_t[c] == lt and done_s[c] < ls):
                    done_t[pos], done_s[pos], done_e[pos] = done_t[c], done_s[c], done_e[c]
                    pos = c
                else:
                    break
            done_t[pos], done_s[pos], done_e[pos] = lt, ls, le
            free[nfree] = e
            nfree += 1
            lo, hi = done_lo[e], done_hi[e]
            m = hi - lo
            for j in range(m):
                dst[j] = (rr + j) % n_decode
                lands[j] = t + transfer[batch[lo + j]]
                taken_flag[j] = False
            rr = (rr + m) % n_decode
            # one KV event per (engine, landing time), by engine then time: the reference's np.unique order
            for _g in range(m):
                w = -1
                for j in range(m):
                    if not taken_flag[j] and (w < 0 or dst[j] < w):
                        w = dst[j]
                if w < 0:
                    break
                while True:
                    when = np.inf
                    for j in range(m):
                        if not taken_flag[j] and dst[j] == w and lands[j] < when:
                            when = lands[j]
                    if when == np.inf:
                        break
                    for j in range(m):
                        if not taken_flag[j] and dst[j] == w and lands[j] == when:
                            i = batch[lo + j]
                            land[i], dest[i], group[i] = when, w, groups
                            in_order[n_landed] = i
                            n_landed += 1
                            taken_flag[j] = True
                    groups += 1
        else:
            return land, dest, group, in_order, True
        # free engines take the queue's head, each rank up to its batch limit and token budget
        while nfree > 0 and qh < qt:
            nfree -= 1
            pw = free[nfree]
            start = bpos
            busiest = 0
            for _r in range(ranks):
                taken = 0
                tokens = 0
                while qh < qt and taken < rank_batch and (taken == 0 or tokens + new[order[qh]] <= rank_budget):
                    i = order[qh]
                    qh += 1
                    batch[bpos] = i
                    bpos += 1
                    taken += 1
                    tokens += new[i]
                busiest = max(busiest, tokens)
            finish = t + _interp3(a0, a1, a2, table, 0.0, p_isl, float(busiest * ranks))
            pos = busy  # push (finish, seq) for engine pw: sift up
            busy += 1
            while pos > 0:
                parent = (pos - 1) // 2
                if done_t[parent] < finish or (done_t[parent] == finish and done_s[parent] < seq):
                    break
                done_t[pos], done_s[pos], done_e[pos] = done_t[parent], done_s[parent], done_e[parent]
                pos = parent
            done_t[pos], done_s[pos], done_e[pos] = finish, seq, pw
            seq += 1
            done_lo[pw], done_hi[pw] = start, bpos
    return land, dest, group, in_order, False


@njit(cache=True, inline="always")
def _heap_push(keys, ids, m, key, i):
    """Add sequence i (finishing when the engine's token count reaches `key`) to a min-heap of m sequences."""
    pos = m
    while pos > 0:
        parent = (pos - 1) // 2
        if keys[parent] <= key:
            break
        keys[pos], ids[pos] = keys[parent], ids[parent]
        pos = parent
    keys[pos], ids[pos] = key, i


@njit(cache=True, inline="always")
def _heap_pop(keys, ids, m):
    """Remove the root of a heap of m sequences; the sequence removed."""
    out = ids[0]
    m -= 1
    if m > 0:
        key, i = keys[m], ids[m]
        pos = 0
        while True:
            c = 2 * pos + 1
            if c >= m:
                break
            if c + 1 < m and keys[c + 1] < keys[c]:
                c += 1
            if keys[c] < key:
                keys[pos], ids[pos] = keys[c], ids[c]
                pos = c
            else:
                break
        keys[pos], ids[pos] = key, i
    return out


@njit(cache=True)
def _decoder(land, group, isl, osl, a, max_batch, a0, a1, a2, table, first, end, itl_s, itl_w, n_itl, max_events):
    """One decode engine, its requests' arrays in landing order (KV landing time, KV event, isl, osl); writes
    their first-token and end times and the iterations' durations (from n_itl on). Returns the new n_itl, or -1
    when it did not finish within max_events.

    The engine counts the tokens each of its sequences has emitted since it started (`tokens`); a sequence that
    joins with one token has emitted tokens - base (base = tokens - 1) and finishes when tokens reaches
    osl + base, so a boundary costs the sequences it finishes, not the batch (a min-heap of those keys), and the
    batch's mean context is (sum of isl - base + n tokens) / n."""
    n = len(land)
    keys = np.empty(max_batch)
    ids = np.empty(max_batch, np.int64)
    base = np.empty(n)
    nrun = 0
    tokens = 0.0
    ctx_sum = 0.0
    landed = 0  # [0, landed) have landed; [admitted, landed) that decode wait for a slot
    admitted = 0
    busy = False
    t0, dt, k = 0.0, 0.0, 0
    boundary = np.inf
    for _ in range(max_events):
        if landed < n and land[landed] <= boundary:  # a KV event (all of one group at once)
            t = land[landed]
            g = group[landed]
            while landed < n and group[landed] == g:
                first[landed] = t
                if osl[landed] <= 1:
                    end[landed] = t
                landed += 1
            while admitted < landed and osl[admitted] <= 1:
                admitted += 1
            if admitted == landed:
                continue
            if busy:  # cut the stretch at the next iteration boundary
                done = int((t - t0) // dt) + 1
                if done < k:
                    k = done
                    boundary = t0 + done * dt
                continue
        elif busy:
            t = boundary
            tokens += k * a
            itl_s[n_itl] = dt / a
            itl_w[n_itl] = nrun * k * a
            n_itl += 1
            while nrun > 0 and keys[0] <= tokens + TOKEN_EPS:
                j = _heap_pop(keys, ids, nrun)
                nrun -= 1
                end[j] = t
                ctx_sum -= isl[j] - base[j]
        else:
            return n_itl
        # an iteration boundary: admit waiting sequences into free slots, then run until the first one finishes
        while nrun < max_batch and admitted < landed:
            j = admitted
            admitted += 1
            if osl[j] <= 1:
                continue
            base[j] = tokens - 1.0
            ctx_sum += isl[j] - base[j]
            _heap_push(keys, ids, nrun, osl[j] + base[j], j)
            nrun += 1
        while admitted < landed and osl[admitted] <= 1:
            admitted += 1
        if nrun == 0:
            busy = False
            boundary = np.inf
            continue
        k = max(int(np.ceil((keys[0] - tokens) / a - TOKEN_EPS)), 1)
        ctx = (ctx_sum + nrun * tokens) / nrun + (k - 1) * a / 2.0
        dt = _interp3(a0, a1, a2, table, float(nrun), ctx, 0.0)
        t0, busy = t, True
        boundary = t + k * dt
    return -1


@njit(cache=True)
def simulate_open_pd(arrival, isl, osl, new, transfer, n_prefill, ranks, rank_batch, rank_budget, p_axes0, p_axes1,
                     p_axes2, p_table, p_isl, n_decode, max_batch, a, d_axes0, d_axes1, d_axes2, d_table,
                     max_events):
    """Serve open-loop arrivals on the pools: each request's first-token and end times (NaN where it did not
    finish), the decode iterations' durations and their token weights (inter-token latency), and whether the
    simulation finished within max_events per pass."""
    n = len(arrival)
    first = np.full(n, np.nan)
    end = np.full(n, np.nan)
    itl_s = np.empty(2 * n + n_decode + 16)
    itl_w = np.empty(2 * n + n_decode + 16)
    land, dest, group, by_group, ok = _prefill_pool(arrival, new, transfer, n_prefill, ranks, rank_batch,
                                                    rank_budget, p_axes0, p_axes1, p_axes2, p_table, p_isl, n_decode,
                                                    max_events)
    if not ok:
        return first, end, itl_s[:0], itl_w[:0], False
    # each engine's requests in landing order: by engine in the order their KV events were scheduled, then an
    # insertion sort by (landing time, event) within each engine (nearly sorted already)
    offset = np.zeros(n_decode + 1, np.int64)
    for i in range(n):
        offset[dest[i] + 1] += 1
    for w in range(n_decode):
        offset[w + 1] += offset[w]
    mine = np.empty(n, np.int64)
    fill = offset[:-1].copy()
    for i in by_group:
        mine[fill[dest[i]]] = i
        fill[dest[i]] += 1
    n_itl = 0
    for w in range(n_decode):
        seg = mine[offset[w]:offset[w + 1]]
        for x in range(1, len(seg)):
            i = seg[x]
            y = x - 1
            while y >= 0 and (land[seg[y]] > land[i] or (land[seg[y]] == land[i] and group[seg[y]] > group[i])):
                seg[y + 1] = seg[y]
                y -= 1
            seg[y + 1] = i
        m = len(seg)  # the engine's requests gathered contiguous (its requests are every n_decode-th)
        s_land, s_group, s_isl, s_osl = np.empty(m), np.empty(m, np.int64), np.empty(m), np.empty(m)
        for x in range(m):
            i = seg[x]
            s_land[x], s_group[x], s_isl[x], s_osl[x] = land[i], group[i], isl[i], osl[i]
        s_first, s_end = np.full(m, np.nan), np.full(m, np.nan)
        n_itl = _decoder(s_land, s_group, s_isl, s_osl, a, max_batch, d_axes0, d_axes1, d_axes2, d_table, s_first,
                         s_end, itl_s, itl_w, n_itl, max_events)
        if n_itl < 0:
            return first, end, itl_s[:0], itl_w[:0], False
        for x in range(m):
            first[seg[x]], end[seg[x]] = s_first[x], s_end[x]
    return first, end, itl_s[:n_itl], itl_w[:n_itl], True
