"""Token lengths of the benchmark datasets that published rows name but do not quantify.

`planner validate` gives a row that leaves `isl` blank its dataset's mean input length, and an aggregated row on a
measured dataset that dataset's output-length spread. The values come from `validation/datasets.csv` (made by
`scripts/dataset_lengths.py` from per-prompt token counts) where they were measured, else from the assumptions
below; each carries its provenance, which the row reports.
"""

from __future__ import annotations

from contextlib import contextmanager

import pandas as pd

from planner.paths import ROOT

# Mean input lengths of benchmark datasets the rows name but do not quantify: MEASURED over every prompt of the
# dataset where its token counts were available (DATASETS_FILE, made by scripts/dataset_lengths.py), an
# ASSUMPTION otherwise (see docs/validation.md for the sensitivity of the results to them). Matched against a
# row's notes longest key first, so a mix that names a dataset ("OpenOrca+GSM8K+MBXP") wins over the dataset.
DATASETS_FILE = ROOT / "validation" / "datasets.csv"
ASSUMED_DATASET_ISL: dict[str, tuple[float, str]] = {}  # none today: every dataset the rows name is measured


def measured_dataset_isl(df: pd.DataFrame) -> dict[str, tuple[float, str]]:
    """{notes key: (mean input tokens, provenance)} from the dataset-length table (validation/datasets.csv)."""
    return {
        r.key: (float(r.mean_isl), f"measured: mean input length of the {r.samples:,} prompts of the MLPerf "
                                   f"{r.benchmark} dataset (median {r.median_isl:g}, max {r.max_isl:g}; "
                                   f"validation/datasets.csv from {r.source})")
        for r in df.itertuples()
    }


def measured_output_cv(df: pd.DataFrame) -> dict[str, tuple[float, str]]:
    """{notes key: (coefficient of variation of output lengths, provenance)}: the spread of the dataset's reference
    answers, read as the served model's (an ASSUMPTION: the benchmarked model's own output lengths are not published
    per prompt). It sets the length-biased in-flight context (engine.mean_decode_context)."""
    return {r.key: (float(r.cv_ref_osl), f"assumption: output-length spread of the {r.benchmark} reference answers "
                                         f"(validation/datasets.csv)") for r in df.itertuples()}


_DATASETS = pd.read_csv(DATASETS_FILE)
DATASET_ISL: dict[str, tuple[float, str]] = {**measured_dataset_isl(_DATASETS), **ASSUMED_DATASET_ISL}
DATASET_OUTPUT_CV: dict[str, tuple[float, str]] = measured_output_cv(_DATASETS)

# Mean output lengths published by the reference implementations (accuracy targets, tokens per sample).
DATASET_OSL: dict[str, tuple[float, str]] = {
    "OpenOrca": (294.45, "mlcommons/inference language/llama2-70b/README.md accuracy target 'Tokens per sample: 294.45'"),
}


@contextmanager
def dataset_table(table: dict[str, tuple[float, str]], entries: dict[str, tuple[float, str]]):
    """Run with `table` (DATASET_ISL, DATASET_OUTPUT_CV) holding `entries` instead, restored afterwards: the
    --no-dataset-isl switch, sensitivity runs and what-ifs."""
    saved, entries = dict(table), dict(entries)  # entries may be the table itself
    table.clear()
    table.update(entries)
    try:
        yield
    finally:
        table.clear()
        table.update(saved)


def _by_notes(table: dict[str, tuple[float, str]], notes: str) -> tuple[float, str] | None:
    """The entry of the dataset the notes name (longest matching key first, so a mix beats its component)."""
    for key in sorted(table, key=len, reverse=True):
        if key in notes:
            return table[key]
    return None


def dataset_isl(notes: str) -> tuple[float, str] | None:
    """(mean input tokens, provenance) of the dataset the notes name, or None."""
    return _by_notes(DATASET_ISL, notes)


def dataset_output_cv(notes: str) -> tuple[float, str] | None:
    """(output-length coefficient of variation, provenance) of the dataset the notes name, or None (unknown)."""
    return _by_notes(DATASET_OUTPUT_CV, notes)


def dataset_osl(notes: str) -> tuple[float, str] | None:
    """(mean output tokens, provenance) published for the dataset the notes name, or None."""
    return _by_notes(DATASET_OSL, notes)
