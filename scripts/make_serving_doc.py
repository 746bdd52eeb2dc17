"""Write docs/serving.md: the serving model and its measured error on the shared serving benchmarks.

    python scripts/make_serving_doc.py [SERVING.csv]

Runs `planner validate` on the serving rows with the shipped constants (planner/serving/params.py), tabulates the
error by metric x mode, framework and system, lists the skipped rows and why, plots predicted against measured
TTFT and TPOT (docs/img/serving_scatter.png), and copies the held-out fit report (validation/serving_fit.json,
written by scripts/fit_serving.py). Every figure in the page is computed here.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from planner.analyses.serving import predict_serving, read_serving, serving_summary  # noqa: E402
from planner.engine.params import EngineParams  # noqa: E402
from planner.serving.params import ServingParams  # noqa: E402

SHARED = ROOT.parent / "shared" / "validation" / "serving" / "silicon_shared.csv"
DOC = ROOT / "docs" / "serving.md"
IMG = ROOT / "docs" / "img" / "serving_scatter.png"
FIT = ROOT / "validation" / "serving_fit.json"


def pct(v) -> str:
    return "-" if pd.isna(v) else f"{100 * float(v):.1f}%"


def md_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def summary_md(res: pd.DataFrame, by: tuple[str, ...]) -> str:
    s = serving_summary(res, by)
    s["n"] = s["n"].astype(int)
    s["skipped"] = s["skipped"].astype(int)
    s["median_ape"] = s["median_ape"].map(pct)
    s["within_25pct"] = s["within_25pct"].map(pct)
    s["median_ratio"] = s["median_ratio"].map(lambda v: "-" if pd.isna(v) else f"{v:.2f}")
    return md_table(s.rename(columns={"median_ape": "median abs. error", "within_25pct": "within ±25%",
                                      "median_ratio": "median predicted/measured"}))


def scatter(res: pd.DataFrame) -> None:
    ok = res[res["status"] == "ok"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
    for ax, metric in zip(axes, ("ttft_ms", "tpot_ms"), strict=True):
        for mode, marker in (("agg", "o"), ("disagg", "^")):
            g = ok[(ok["metric"] == metric) & (ok["mode"] == mode)]
            ax.scatter(g["measured"], g["predicted"], s=8, alpha=0.5, marker=marker, label=mode)
        lo, hi = ok.loc[ok["metric"] == metric, ["measured", "predicted"]].stack().agg(["min", "max"])
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
        ax.plot([lo, hi], [lo * 1.25, hi * 1.25], "k:", lw=0.6)
        ax.plot([lo, hi], [lo / 1.25, hi / 1.25], "k:", lw=0.6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"measured {metric}")
        ax.set_ylabel(f"predicted {metric}")
        ax.legend()
    fig.suptitle("Serving benchmarks: predicted vs measured (dotted: ±25%)")
    fig.tight_layout()
    IMG.parent.mkdir(exist_ok=True)
    fig.savefig(IMG, dpi=110)


def fit_md() -> str:
    if not FIT.exists():
        return "(no fit report: run `python scripts/fit_serving.py --out validation/serving_fit.json`)"
    rep = json.loads(FIT.read_text())
    rows = []
    for fold in rep["folds"]:
        for sc in fold["scores"]:
            rows.append({"fitted on": ", ".join(fold["train"]), "scored on": ", ".join(fold["test"]),
                         "metric": sc["metric"], "mode": sc["mode"], "in sample (median)": pct(sc["median_ape_in"]),
                         "held out (median)": pct(sc["median_ape_held_out"]),
                         "held out within ±25%": pct(sc["within_25pct_held_out"])})
    p = rep["all"]["params"]
    seq = p.get("seq_us", {})
    host = ", ".join(f"{fw} {ms:g} ms + {seq.get(fw, 0.0):g} µs per sequence" for fw, ms in sorted(p["host_ms"].items()))
    pts = rep["all"].get("points", {})
    fitted = (f"Fitted on all rows (host times on TPOT with the published points weighing as one data set, the "
              f"latencies on TTFT): host time per iteration {host}; "
              f"first-token latency {p['request_ms']:g} ms, disaggregated handoff {p['disagg_handoff_ms']:g} ms. "
              f"The published points at these host times: median error {pct(pts.get('median_ape', float('nan')))}, "
              f"{pts.get('beyond_2x', '?')} rows beyond 2x")
    curve = pd.DataFrame(rep.get("curve", []))
    if len(curve):
        curve = curve.rename(columns={"host_ms": "host time (ms, every framework)",
                                      "seq_us": "per sequence (µs)",
                                      "points_median_ape": "published points (median)"})
        curve.columns = [c.replace("serving_tpot_", "serving TPOT, ") for c in curve.columns]
        keys = 2 if "per sequence (µs)" in curve.columns else 1
        for c in curve.columns[keys:]:
            curve[c] = curve[c].map(pct)
        fitted += ".\n\nMedian error at each point of the grid (all rows):\n\n" + md_table(curve)
    return md_table(pd.DataFrame(rows)) + "\n\n" + fitted + ("" if len(curve) else ".")


def main() -> None:
    warnings.filterwarnings("ignore")
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else SHARED
    rows = read_serving(path)
    t0 = time.perf_counter()
    res = predict_serving(rows, workers=os.cpu_count() or 1)
    elapsed = time.perf_counter() - t0
    scatter(res)
    skipped = res[res["status"] != "ok"].drop_duplicates("id")
    reasons = skipped["reason"].value_counts().rename_axis("reason").reset_index(name="rows")
    predicted = res[res["status"] == "ok"]["id"].nunique()
    constants = [r for r in EngineParams.provenance() if r["name"].startswith("host_s_")] + ServingParams.provenance()
    params = pd.DataFrame([{"constant": f"`{r['name']}`", "value": f"{r['value']:g}", "unit": r["unit"],
                            "meaning": r["meaning"]} for r in constants])
    text = DOC.read_text()
    start, end = "<!-- generated:start -->", "<!-- generated:end -->"
    body = f"""{start}
*Generated by `scripts/make_serving_doc.py` on {dt.date.today().isoformat()} from `{path.name}` ({len(rows):,} rows):
{predicted:,} rows predicted, {len(skipped):,} skipped, in {elapsed:.0f} s on this machine.*

### Error by metric and mode

{summary_md(res, ("metric", "mode"))}

### By framework

{summary_md(res, ("metric", "mode", "framework"))}

### By system

{summary_md(res, ("metric", "mode", "system"))}

![predicted vs measured](img/serving_scatter.png)

### Skipped rows (never fitted)

{md_table(reasons) if len(reasons) else "(none)"}

### Fitted constants, held out by system

{fit_md()}

Shipped values (`planner/serving/params.py`; the host times per iteration are engine constants,
`planner/engine/params.py`):

{md_table(params)}
{end}"""
    if start in text:
        text = text[: text.index(start)] + body + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + body + "\n"
    DOC.write_text(text)
    print(f"wrote {DOC} and {IMG} ({elapsed:.0f} s)")


if __name__ == "__main__":
    main()
