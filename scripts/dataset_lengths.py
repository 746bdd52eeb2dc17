"""Token-length statistics of a benchmark dataset, as one row of `validation/datasets.csv`.

Usage: python scripts/dataset_lengths.py LENGTHS.csv --key OpenOrca --benchmark llama2-70b --source URL

LENGTHS.csv has one row per prompt with the columns `input_length,output_length` (tokens; the format of the
MLPerf dataset summaries in openshift-psap/performance-dashboard `mlperf-data/summaries/`, extracted from the
official MLCommons dataset pickles). Prints the CSV row: the mean input length (what `planner validate` uses for
rows that name the dataset but leave `isl` blank), the median and maximum, and the reference outputs' mean and
coefficient of variation (the reference answers of the dataset, not the benchmarked model's own outputs).
"""

from __future__ import annotations

import argparse
import csv
import sys

import numpy as np
import pandas as pd

COLUMNS = ("key", "benchmark", "samples", "mean_isl", "median_isl", "max_isl", "mean_ref_osl", "cv_ref_osl", "source")


def summarize(lengths: pd.DataFrame) -> dict[str, float]:
    """Statistics of one dataset's prompt and reference-output lengths."""
    isl = lengths["input_length"].to_numpy(float)
    osl = lengths["output_length"].to_numpy(float)
    return {
        "samples": len(isl),
        "mean_isl": round(float(isl.mean()), 1),
        "median_isl": float(np.median(isl)),
        "max_isl": int(isl.max()),
        "mean_ref_osl": round(float(osl.mean()), 1),
        "cv_ref_osl": round(float(osl.std() / osl.mean()), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lengths", help="CSV with input_length,output_length per prompt")
    ap.add_argument("--key", required=True, help="text naming the dataset in a points row's notes")
    ap.add_argument("--benchmark", required=True)
    ap.add_argument("--source", required=True, help="where the lengths come from (URL at a commit)")
    args = ap.parse_args()
    row = {"key": args.key, "benchmark": args.benchmark, **summarize(pd.read_csv(args.lengths)), "source": args.source}
    w = csv.DictWriter(sys.stdout, fieldnames=COLUMNS, lineterminator="\n")
    w.writerow(row)


if __name__ == "__main__":
    main()
