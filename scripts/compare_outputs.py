"""Behaviour check for refactors: run `planner solve --format json` on every bundled scenario and
`planner validate --format json` (shared and held-out rows), write the outputs to a folder, and compare two
such folders.

    python scripts/compare_outputs.py capture OUT_DIR     # run every command, one JSON file each
    python scripts/compare_outputs.py compare A_DIR B_DIR # exit 1 and list differences unless equal

Timing keys (solver wall time, stage timings) are dropped before comparing: they differ run to run. Every
other value must be identical (floats compared exactly, as JSON text).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VOLATILE = {"solve_s", "timings", "timings_s", "elapsed_s"}
SKIP = {"sweep-example.yaml"}  # a sweep file (planner batch), not a scenario


def commands() -> dict[str, list[str]]:
    cmds = {f"solve-{p.stem}": ["solve", str(p), "--format", "json"]
            for p in sorted((ROOT / "scenarios").glob("*.yaml")) if p.name not in SKIP}
    cmds["validate"] = ["validate", "--format", "json"]
    cmds["validate-holdout"] = ["validate", "--holdout", "--format", "json"]
    return cmds


def strip(obj):
    """The output without its run-to-run timing keys."""
    if isinstance(obj, dict):
        return {k: strip(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [strip(v) for v in obj]
    return obj


def capture(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, args in commands().items():
        p = subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True, cwd=ROOT)
        try:
            body = strip(json.loads(p.stdout))
        except json.JSONDecodeError:
            body = {"stdout": p.stdout}
        record = {"exit": p.returncode, "output": body, "stderr": p.stderr.strip().splitlines()[-1:] if p.stderr else []}
        (out / f"{name}.json").write_text(json.dumps(record, indent=1, sort_keys=True))
        print(f"{name}: exit {p.returncode}")


def compare(a: Path, b: Path) -> int:
    names = sorted({p.name for p in a.glob("*.json")} | {p.name for p in b.glob("*.json")})
    bad = []
    for n in names:
        fa, fb = a / n, b / n
        if not (fa.exists() and fb.exists()):
            bad.append(f"{n}: only in {'A' if fa.exists() else 'B'}")
        elif fa.read_text() != fb.read_text():
            la, lb = fa.read_text().splitlines(), fb.read_text().splitlines()
            first = next((i for i, (x, y) in enumerate(zip(la, lb, strict=False)) if x != y), min(len(la), len(lb)))
            bad.append(f"{n}: differs from line {first + 1}: {la[first:first + 1]} vs {lb[first:first + 1]}")
    for line in bad:
        print(line)
    print(f"{len(names) - len(bad)} of {len(names)} outputs identical")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "capture":
        capture(Path(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
    else:
        print(__doc__)
        sys.exit(2)
