"""Speed of the serving model: validate every row of a serving-benchmark file (goal: the 2,570 shared rows in
<= 60 s on the 2-core reference machine).

    python benchmarks/serving_speed.py [SERVING.csv]

Timed as `planner validate` runs it: repeated rows (the same deployment at the same concurrency) simulated once,
the distinct ones over every CPU core; the one-process figure is printed beside it.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from planner.analyses.serving import predict_serving, read_serving  # noqa: E402

SHARED = ROOT.parent / "shared" / "validation" / "serving" / "silicon_shared.csv"


def main() -> None:
    warnings.filterwarnings("ignore")
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else SHARED
    rows = read_serving(path)
    cores = os.cpu_count() or 1
    for workers in dict.fromkeys((cores, 1)):
        t0 = time.perf_counter()
        res = predict_serving(rows, workers=workers)
        elapsed = time.perf_counter() - t0
        predicted = res[res["status"] == "ok"]["id"].nunique()
        per_row = res.drop_duplicates("id")["seconds"]
        print(f"{workers} process(es): rows {len(rows):,}, predicted {predicted:,}, skipped {len(rows) - predicted:,}; "
              f"elapsed_s {elapsed:.1f} ({elapsed / len(rows) * 1e3:.1f} ms per row; slowest row {per_row.max():.2f} s)")


if __name__ == "__main__":
    main()
