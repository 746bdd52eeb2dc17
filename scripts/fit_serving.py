"""Fit the serving constants on the shared serving benchmarks and the published points, held out by system.

    python scripts/fit_serving.py [SERVING.csv] [--out fit.json] [--workers 2] [--points-weight 1.0]

Parameters, each with a physical meaning: the host time per iteration of each framework and its scheduler's
time per sequence carried (`host_s_*`, `host_s_per_seq_*` in planner/engine/params.py: the engine's step, so the
optimizer and the serving model share them), the first-token latency outside the engine (`request_s`) and the
extra first-token latency of the disaggregated handoff (`disagg_handoff_s`) (planner/serving/params.py). The host times change the simulation's dynamics, so every row is
simulated on a grid of them (host time x time per sequence: 30 points, about 25 minutes on a 2-core machine); the
two latencies add to TTFT and are searched on a fine grid for each host-time point.

Host times per framework (a pair of the grid): the mean soft-L1 (scale 0.2) of log(predicted/measured) TPOT over
its serving rows plus `--points-weight` times the mean over the published points (validation/points.csv) of that framework (`framework:`
in their notes; TensorRT-LLM where none is named), each data set weighing as one. TPOT is a sum of iteration times;
TTFT also carries queueing the simulator misses, so it sets only the two first-token latencies (mean soft-L1 of
log TTFT error at the chosen host times).

Held out by system: fitted on {H100, B200} rows and scored on {H200, GB200} rows, and the reverse; then fitted on
all rows (the shipped values). Prints the in-sample and held-out median errors side by side, the published points'
median error at the fitted host times, and writes them as JSON; every row's held-out prediction goes to
`serving_heldout.csv` beside it (the planning margins' serving data, scripts/make_validation_doc.py).
"""

from __future__ import annotations

import argparse
import itertools
import json
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "validation" / "serving" / "silicon_shared.csv"
HOST_MS = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
SEQ_US = (0.0, 10.0, 20.0, 30.0, 45.0)  # scheduler time per sequence and iteration
GRID = tuple(itertools.product(HOST_MS, SEQ_US))
REQUEST_MS = tuple(np.arange(0.0, 301.0, 10.0))
HANDOFF_MS = tuple(np.arange(0.0, 601.0, 20.0))
FOLDS = (("h100_sxm", "b200_sxm"), ("h200_sxm", "gb200"))
SOFT_L1 = 0.2


def _host_params(host_ms: float, seq_us: float):
    from planner.engine.params import active_params
    from planner.engine.tables import FRAMEWORKS

    return active_params().replace(**{f"host_s_{f}": host_ms * 1e-3 for f in FRAMEWORKS},
                                   **{f"host_s_per_seq_{f}": seq_us * 1e-6 for f in FRAMEWORKS})


def _simulate(args) -> pd.DataFrame:
    path, host_ms, seq_us = args
    warnings.filterwarnings("ignore")
    from planner.analyses.serving import predict_serving, read_serving
    from planner.engine.params import using_params
    from planner.serving.params import ServingParams, using_serving_params

    with using_params(_host_params(host_ms, seq_us)), using_serving_params(ServingParams(request_s=0.0, disagg_handoff_s=0.0)):
        res = predict_serving(read_serving(path))
    return res.assign(host_ms=host_ms, seq_us=seq_us)


def _points(args) -> pd.DataFrame:
    """The published points predicted with every framework's host times at (host_ms, seq_us): log error and
    framework."""
    host_ms, seq_us = args
    warnings.filterwarnings("ignore")
    from planner.analyses.validate import parse_framework, predict_points, read_points
    from planner.engine.params import using_params

    pts = read_points()
    with using_params(_host_params(host_ms, seq_us)):
        res = predict_points(pts)
    res = res.merge(pts[["id", "notes"]], on="id")
    ok = res[(res["status"] == "ok") & (res["predicted"] > 0)]
    return pd.DataFrame({"id": ok["id"], "framework": ok["notes"].map(parse_framework), "host_ms": host_ms,
                         "seq_us": seq_us,
                         "log_err": np.log(ok["predicted"] / ok["measured"]), "ape": ok["ape"]})


def soft_l1(r: np.ndarray) -> np.ndarray:
    z = (r / SOFT_L1) ** 2
    return 2 * SOFT_L1**2 * (np.sqrt(1 + z) - 1)


def _wide(res: pd.DataFrame) -> pd.DataFrame:
    ok = res[res["status"] == "ok"]
    w = ok.pivot_table(index=["id", "mode", "system", "framework", "host_ms", "seq_us"], columns="metric",
                       values=["predicted", "measured"]).reset_index()
    w.columns = ["_".join(c).strip("_") for c in w.columns]
    return w


def _ttft(w: pd.DataFrame, request_ms: float, handoff_ms: float) -> np.ndarray:
    return w["predicted_ttft_ms"].to_numpy() + request_ms + np.where(w["mode"] == "disagg", handoff_ms, 0.0)


def fit(w: pd.DataFrame, points: pd.DataFrame, points_weight: float) -> dict:
    """The host time per framework from TPOT (with the published points), then the two latencies from TTFT.

    TPOT is a sum of iteration times, so it identifies the host time per iteration; TTFT also carries the
    queueing and scheduling the simulator does not capture (docs/serving.md), so it only sets the first-token
    latencies, which add to TTFT alone."""
    point_loss = {(fw, h, q): float(soft_l1(g["log_err"].to_numpy()).mean())
                  for (fw, h, q), g in points.groupby(["framework", "host_ms", "seq_us"])}
    choice, chosen = {}, []
    for fw, g in w.groupby("framework"):
        losses = {}
        for (host, seq), h in g.groupby(["host_ms", "seq_us"]):
            tpot = np.log(h["predicted_tpot_ms"] / h["measured_tpot_ms"]).to_numpy()
            losses[(host, seq)] = float(soft_l1(tpot).mean()) + points_weight * point_loss.get((fw, host, seq), 0.0)
        choice[fw] = min(losses, key=losses.get)
        chosen.append(_at(g, choice[fw]))
    rows = pd.concat(chosen) if chosen else w.iloc[:0]
    measured = rows["measured_ttft_ms"].to_numpy()
    best = min(((float(soft_l1(np.log(_ttft(rows, req, hand) / measured)).mean()), req, hand)
                for req, hand in itertools.product(REQUEST_MS, HANDOFF_MS)), key=lambda x: x[0])
    return {"request_ms": best[1], "disagg_handoff_ms": best[2], "host_ms": {fw: h for fw, (h, _q) in choice.items()},
            "seq_us": {fw: q for fw, (_h, q) in choice.items()}}


def _at(w: pd.DataFrame, pair: tuple[float, float]) -> pd.DataFrame:
    """The rows simulated at one grid point (host ms, scheduler us per sequence)."""
    return w[(w["host_ms"] == pair[0]) & (w["seq_us"] == pair[1])]


def _pairs(params: dict) -> dict:
    return {fw: (h, params["seq_us"][fw]) for fw, h in params["host_ms"].items()}


def score(w: pd.DataFrame, params: dict) -> pd.DataFrame:
    """Median absolute error and share within 25% per metric and mode, at the fitted parameters."""
    rows = []
    for fw, pair in _pairs(params).items():
        h = _at(w[w["framework"] == fw], pair)
        rows.append(h.assign(ttft_pred=_ttft(h, params["request_ms"], params["disagg_handoff_ms"])))
    s = pd.concat(rows) if rows else w.iloc[:0]
    out = []
    for (mode,), g in s.groupby(["mode"]):
        for metric, pred in (("tpot_ms", g["predicted_tpot_ms"]), ("ttft_ms", g["ttft_pred"])):
            ape = (pred / g[f"measured_{metric}"] - 1).abs()
            out.append({"metric": metric, "mode": mode, "n": len(g), "median_ape": float(ape.median()),
                        "within_25pct": float((ape <= 0.25).mean())})
    return pd.DataFrame(out)


def predictions(w: pd.DataFrame, params: dict) -> pd.DataFrame:
    """Long format, one record per (row, metric): predicted (TTFT with the fitted latencies) and measured ms."""
    out = []
    for fw, pair in _pairs(params).items():
        h = _at(w[w["framework"] == fw], pair)
        base = h[["id", "mode", "system", "framework"]]
        out.append(base.assign(metric="tpot_ms", predicted=h["predicted_tpot_ms"], measured=h["measured_tpot_ms"]))
        out.append(base.assign(metric="ttft_ms", predicted=_ttft(h, params["request_ms"], params["disagg_handoff_ms"]),
                               measured=h["measured_ttft_ms"]))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def points_score(points: pd.DataFrame, params: dict) -> dict:
    """The published points' median error and rows beyond 2x at the fitted host times (TensorRT-LLM's for rows
    of frameworks the serving rows do not fit)."""
    pairs = _pairs(params)
    chosen = points["framework"].map(lambda f: pairs.get(f, pairs.get("trtllm")))
    p = points[(points["host_ms"] == chosen.map(lambda c: c[0])) & (points["seq_us"] == chosen.map(lambda c: c[1]))]
    ratio = np.exp(p["log_err"])
    return {"n": len(p), "median_ape": float(p["ape"].median()),
            "beyond_2x": int(((ratio > 2) | (ratio < 0.5)).sum())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("csv", nargs="?", default=str(SHARED))
    ap.add_argument("--out", default="serving_fit.json")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--points-weight", type=float, default=1.0)
    a = ap.parse_args()
    with ProcessPoolExecutor(a.workers) as pool:
        res = pd.concat(list(pool.map(_simulate, [(a.csv, h, q) for h, q in GRID])), ignore_index=True)
        points = pd.concat(list(pool.map(_points, GRID)), ignore_index=True)
    w = _wide(res)
    curve = [{"host_ms": h, "seq_us": q, "points_median_ape": float(_at(points, (h, q))["ape"].median()),
              **{f"serving_tpot_{fw}": float((g["predicted_tpot_ms"] / g["measured_tpot_ms"] - 1).abs().median())
                 for fw, g in _at(w, (h, q)).groupby("framework")}} for h, q in GRID]
    print(pd.DataFrame(curve).round(3).to_string(index=False))
    report = {"grid": {"host_ms": HOST_MS, "seq_us": SEQ_US}, "points_weight": a.points_weight, "curve": curve, "folds": []}
    held_out = []
    for train_sys, test_sys in (FOLDS, FOLDS[::-1]):
        p = fit(w[w["system"].isin(train_sys)], points, a.points_weight)
        held_out.append(predictions(w[w["system"].isin(test_sys)], p).assign(fitted_on="+".join(train_sys)))
        ins, out = score(w[w["system"].isin(train_sys)], p), score(w[w["system"].isin(test_sys)], p)
        both = ins.merge(out, on=["metric", "mode"], suffixes=("_in", "_held_out"))
        print(f"fitted on {train_sys}: {p}\n{both.to_string(index=False)}\n")
        report["folds"].append({"train": train_sys, "test": test_sys, "params": p, "scores": both.to_dict("records")})
    p = fit(w, points, a.points_weight)
    allsc = score(w, p)
    pts = points_score(points, p)
    print(f"fitted on all rows: {p}\n{allsc.to_string(index=False)}\npublished points: {pts}")
    report["all"] = {"params": p, "scores": allsc.to_dict("records"), "points": pts}
    Path(a.out).write_text(json.dumps(report, indent=1, default=float))
    heldout_path = Path(a.out).with_name("serving_heldout.csv")
    pd.concat(held_out, ignore_index=True).to_csv(heldout_path, index=False, float_format="%.6g")
    print(f"wrote {a.out} and {heldout_path} (every row predicted by the fold that did not fit on its system)")


if __name__ == "__main__":
    main()
