"""User-facing errors: each names the offending field and the fix; the CLI turns them into exit codes."""

from __future__ import annotations

import difflib


class PlannerError(Exception):
    """Bad input the user can fix. The CLI prints it without a traceback and exits with `exit_code`."""

    exit_code = 2

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None):
        self.field = field
        self.hint = hint
        text = f"{field}: {message}" if field else message
        if hint:
            text += f"\n  hint: {hint}"
        super().__init__(text)


class InfeasibleError(PlannerError):
    """The plan cannot meet the scenario; the message says which constraint binds and what would fix it."""

    exit_code = 1


class NoSolutionInTimeError(PlannerError):
    """The solver stopped at its time limit without any fleet: the scenario may well be feasible (retryable)."""

    exit_code = 4


class PlanCheckError(PlannerError):
    """A plan failed the checks every plan passes before it is printed (a bug, never an answer): exit 3."""

    exit_code = 3


def suggest(name: str, known: list[str] | tuple[str, ...] | set[str]) -> str:
    """A 'did you mean' hint from close matches, or the list of known names."""
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "known: " + ", ".join(sorted(known))
