"""Every bundled scenario through `planner solve --verify`: simulated TTFT (at the SLO's percentile) and TPOT
(median) against the SLO before and after the loop, and what the loop cost.

    python scripts/verify_bundled.py

Prints a markdown table (docs/serving.md quotes it).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from planner.errors import PlannerError  # noqa: E402
from planner.inputs.scenario import load_scenario  # noqa: E402
from planner.optimize.verify import solve_verified  # noqa: E402


def fmt(v, digits=0) -> str:
    return "-" if v is None or v != v else f"{v:,.{digits}f}"


def main() -> None:
    warnings.filterwarnings("ignore")
    rows = []
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        try:
            sc = load_scenario(path)
        except PlannerError:
            continue  # sweep files
        if sc.plans_periods:
            continue  # plans over periods: simulated period by period, not by this loop
        try:
            res = solve_verified(sc)
        except PlannerError as exc:
            rows.append({"scenario": path.stem, "result": f"not solved: {str(exc).splitlines()[0][:60]}"})
            continue
        v = res.summary["verification"]
        if not v["rounds"]:
            rows.append({"scenario": path.stem, "result": v["note"][:90]})
            continue
        a, b = v["rounds"][0], v["rounds"][-1]
        slos = {r["class"]: r["slo"] for r in res.summary.get("classes") or []} or {None: res.summary["slo"]}

        def cell(rnd, key, digits=0):
            """One figure per class (`class value; ...`) for a plan over traffic classes."""
            if "classes" not in rnd:
                return fmt(rnd[key], digits)
            return "; ".join(f"{n} {fmt(c[key], digits)}" for n, c in rnd["classes"].items())
        rows.append({
            "scenario": path.stem,
            "SLO TTFT / TPOT (ms)": "; ".join(f"{n + ' ' if n else ''}{fmt(x['ttft_ms'])} / {fmt(x['tpot_ms'])}"
                                              for n, x in slos.items()),
            "before: simulated TTFT / TPOT": f"{cell(a, 'simulated_ttft_ms')} / {cell(a, 'simulated_tpot_ms', 1)}",
            "after": f"{cell(b, 'simulated_ttft_ms')} / {cell(b, 'simulated_tpot_ms', 1)}",
            "$/h before → after": f"{fmt(a['cost_usd_per_hr'], 1)} → {fmt(b['cost_usd_per_hr'], 1)}",
            "result": ("holds" if v["verified"] else "NOT verified") + (f" ({v['note'][:70]})" if v["note"] else ""),
        })
    cols = ["scenario", "result", "SLO TTFT / TPOT (ms)", "before: simulated TTFT / TPOT", "after", "$/h before → after"]
    df = pd.DataFrame(rows).reindex(columns=cols).fillna("")
    print("| " + " | ".join(cols) + " |")
    print("|" + "|".join("---" for _ in cols) + "|")
    for r in df.itertuples(index=False):
        print("| " + " | ".join(str(x) for x in r) + " |")


if __name__ == "__main__":
    main()
