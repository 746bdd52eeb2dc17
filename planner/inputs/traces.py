"""Request traces: arrival times and prompt/answer lengths of recorded traffic, in the public formats users have.

- Azure LLM inference trace (Azure/AzurePublicDataset, 2023 and 2024): `TIMESTAMP,ContextTokens,GeneratedTokens`,
  TIMESTAMP a date-time string;
- BurstGPT: `Timestamp,...,Request tokens,Response tokens,...`, Timestamp in seconds from the trace's start.

Recognized by the header; read through the guarded reader (planner.inputs.reader). The result is a DataFrame
with `arrival_s` (seconds from the first request), `isl` and `osl` (tokens), sorted by arrival.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from planner.errors import PlannerError
from planner.inputs.reader import load_csv

FORMATS = {  # name -> (time column, prompt tokens, answer tokens)
    "azure": ("TIMESTAMP", "ContextTokens", "GeneratedTokens"),
    "burstgpt": ("Timestamp", "Request tokens", "Response tokens"),
}


def read_trace(path: str | Path) -> pd.DataFrame:
    """arrival_s, isl, osl per request of a trace file (see the module docstring for the formats)."""
    df = load_csv(path, field="trace")
    name = next((n for n, cols in FORMATS.items() if set(cols) <= set(df.columns)), None)
    if name is None:
        raise PlannerError(f"{path}: not a known trace format (columns {list(df.columns)[:6]})", field="trace",
                           hint="Azure: TIMESTAMP,ContextTokens,GeneratedTokens; BurstGPT: Timestamp, Request tokens, "
                                "Response tokens")
    t, i, o = FORMATS[name]
    if name == "azure":
        times = pd.to_datetime(df[t], errors="coerce", format="mixed")
        seconds = (times - times.min()).dt.total_seconds()
    else:
        seconds = pd.to_numeric(df[t], errors="coerce")
    isl, osl = pd.to_numeric(df[i], errors="coerce"), pd.to_numeric(df[o], errors="coerce")
    ok = seconds.notna() & isl.notna() & osl.notna() & np.isfinite(seconds) & (isl >= 1) & (osl >= 1)
    if not ok.any():
        raise PlannerError(f"{path}: no request with a time and positive token counts", field="trace")
    out = pd.DataFrame({"arrival_s": seconds[ok].to_numpy(float), "isl": isl[ok].round().astype(np.int64).to_numpy(),
                        "osl": osl[ok].round().astype(np.int64).to_numpy()})
    out = out.sort_values("arrival_s", kind="stable").reset_index(drop=True)
    out["arrival_s"] -= out["arrival_s"].iloc[0]
    if len(out) > 1 and out["arrival_s"].iloc[-1] <= 0:
        raise PlannerError(f"{path}: every request has the same time", field="trace")
    return out


def trace_rate_rps(trace: pd.DataFrame) -> float:
    """The trace's mean arrival rate (requests over its span)."""
    span = float(trace["arrival_s"].iloc[-1]) if len(trace) > 1 else 0.0
    return (len(trace) - 1) / span if span > 0 else float("nan")
