"""Who sends requests, and how long they are: closed-loop clients (benchmark tools), open-loop arrivals (Poisson or
bursty), fixed or distributed prompt and answer lengths. Seeded: the same seed gives the same requests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Lengths:
    """Prompt (isl) and answer (osl) tokens per request: fixed (cv 0) or gamma-distributed with mean and cv."""

    isl: float
    osl: float
    isl_cv: float = 0.0
    osl_cv: float = 0.0

    def draw(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return _gamma_tokens(self.isl, self.isl_cv, n, rng), _gamma_tokens(self.osl, self.osl_cv, n, rng)


def _gamma_tokens(mean: float, cv: float, n: int, rng: np.random.Generator) -> np.ndarray:
    if cv <= 0:
        return np.full(n, max(round(mean), 1), dtype=np.int64)
    shape = 1.0 / cv**2
    return np.maximum(np.round(rng.gamma(shape, mean / shape, n)), 1).astype(np.int64)


@dataclass(frozen=True)
class ClosedLoop:
    """`clients` concurrent clients, each sending its next request the moment the last one completes (as benchmark
    tools run a concurrency sweep). Each client's first `warmup` requests and its last one (the tail, when load
    falls) are simulated but not measured.

    start: "together" (default) sends every client's first request at t = 0, as benchmark tools start a
    concurrency level: the prompts queue behind each other, and with fixed lengths the clients keep the waves
    the scheduler makes; "staggered" starts them spread evenly over one request's life (client c's first
    request already c/clients of the way through its answer), the steady state timing noise would lead to."""

    clients: int
    measured_per_client: int = 3
    warmup: int = 1
    start: str = "together"

    @property
    def per_client(self) -> int:
        return self.warmup + self.measured_per_client + 1

    @property
    def requests(self) -> int:
        return self.clients * self.per_client

    def first_requests(self) -> np.ndarray:
        """Each client's first request (request i belongs to client i // per_client)."""
        return np.arange(0, self.requests, self.per_client)

    def next_requests(self, finished: np.ndarray) -> np.ndarray:
        """The requests the clients of `finished` send next (none after a client's last), in the same order."""
        nxt = np.asarray(finished, np.int64) + 1
        return nxt[nxt % self.per_client != 0]

    def first_progress(self, first_osl: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Tokens each client's first request has already generated at t = 0: none ("together"), c/clients of its
        answer for client c ("staggered"), or a uniformly random share of it, independently per client
        ("random")."""
        if self.start == "together":
            return np.zeros(self.clients, np.int64)
        share = np.arange(self.clients) / self.clients if self.start == "staggered" else rng.random(self.clients)
        return np.floor(np.asarray(first_osl) * share).astype(np.int64)

    def arrivals(self, rng: np.random.Generator) -> np.ndarray:
        """Known arrival times: every client's first request at t = 0; the rest arrive as earlier ones end (NaN)."""
        arrival = np.full(self.requests, np.nan)
        arrival[self.first_requests()] = 0.0
        return arrival

    def measured(self) -> np.ndarray:
        """Requests scored: neither a client's warm-up requests nor its last (the tail, when load falls)."""
        j = np.arange(self.requests) % self.per_client
        return (j >= self.warmup) & (j < self.per_client - 1)


@dataclass(frozen=True)
class OpenLoop:
    """Requests arriving on their own: a renewal process at `rate_rps` with gaps of coefficient of variation
    `arrival_cv` (1: Poisson; > 1: bursty, gamma-distributed gaps). The first `warmup_fraction` is not measured."""

    rate_rps: float
    requests: int = 2000
    arrival_cv: float = 1.0
    warmup_fraction: float = 0.1

    def arrivals(self, rng: np.random.Generator) -> np.ndarray:
        mean = 1.0 / self.rate_rps
        if abs(self.arrival_cv - 1.0) < 1e-12:
            gaps = rng.exponential(mean, self.requests)
        else:
            shape = 1.0 / self.arrival_cv**2
            gaps = rng.gamma(shape, mean / shape, self.requests)
        return np.cumsum(gaps) - gaps[0]

    def measured(self) -> np.ndarray:
        """Requests scored: all but the first `warmup_fraction`."""
        return np.arange(self.requests) >= int(self.warmup_fraction * self.requests)


@dataclass(frozen=True)
class Replay(OpenLoop):
    """Recorded requests (a trace) replayed at their own times; the first `warmup_fraction` is not measured."""

    times_s: tuple[float, ...] = ()

    def arrivals(self, rng: np.random.Generator) -> np.ndarray:
        t = np.asarray(self.times_s, float)
        return t - t[0] if len(t) else t


@dataclass(frozen=True)
class RecordedLengths:
    """The prompt and answer tokens of recorded requests, in order (a trace's `isl`, `osl`)."""

    isl_tokens: tuple[int, ...]
    osl_tokens: tuple[int, ...]

    def draw(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.isl_tokens[:n], np.int64), np.asarray(self.osl_tokens[:n], np.int64)
