"""`planner validate` (error against published measurements) and `planner calibrate` (fit efficiencies)."""

from __future__ import annotations

import os
from pathlib import Path

import click
import pandas as pd
from rich.console import Console

from planner.analyses import calibrate as C
from planner.analyses import kernels as K
from planner.analyses.serving import (
    is_serving_file,
    predict_serving,
    read_serving,
    serving_summary,
    system_chips,
)
from planner.analyses.validate import (
    HOLDOUT_FILE,
    POINTS_FILE,
    predict_points,
    read_points,
    summarize,
    summary_by,
)
from planner.errors import PlannerError
from planner.inputs.chips import load_catalog
from planner.inputs.reader import load_csv

from .common import catalog_option, echo_json, format_option, print_table


def _pct(v) -> str:
    return "-" if v is None or pd.isna(v) else f"{100 * float(v):.1f}%"


@click.command("validate")
@click.argument("points", required=False, type=click.Path(dir_okay=False))
@click.option("--by", "by", type=click.Choice(["quality", "phase", "source", "mode", "system", "framework"]),
              multiple=True, help="Summary splits (repeatable) [default: quality and phase; serving files: metric "
                                  "and mode; mode, system and framework apply to serving files].")
@click.option("--holdout", is_flag=True,
              help="Score the bundled held-out rows (validation/points_holdout.csv: newer MLPerf results never used to "
                   "fit or design anything) instead of validation/points.csv.")
@click.option("--dataset-isl/--no-dataset-isl", default=True, show_default=True,
              help="Rows that leave ISL blank take their dataset's mean input length (measured: validation/datasets.csv; "
                   "assumed where no token counts exist) (else skip them).")
@catalog_option
@format_option(("table", "json", "csv"))
def validate_cmd(points, by, holdout, dataset_isl, catalogs, fmt):
    """Predict every row of a points file (default: the bundled validation/points.csv) and report the error.

    A serving-benchmark file (the validation/serving format: TTFT and TPOT at a client concurrency, recognized by
    its header) is simulated row by row with the serving model."""
    from planner.analyses import datasets as D
    from planner.analyses import validate as V

    if points and holdout:
        raise PlannerError("give a points file or --holdout, not both", field="points")
    if points and is_serving_file(points):
        _validate_serving(points, by, catalogs, fmt)
        return
    points = points or (HOLDOUT_FILE if holdout else POINTS_FILE)
    df = read_points(points)
    with D.dataset_table(D.DATASET_ISL, D.DATASET_ISL if dataset_isl else {}):
        res = predict_points(df, load_catalog(catalogs))
    res["source"] = res["id"].map(V.source_of)
    splits = [c for c in by if c in ("quality", "phase", "source")] or ["quality", "phase"]
    if fmt == "csv":
        click.echo(res.to_csv(index=False), nl=False)
        return
    if fmt == "json":
        rows = [
            {"id": r.id, "predicted": None if pd.isna(r.predicted) else float(r.predicted), "measured": float(r.measured),
             "ape": None if pd.isna(r.ape) else float(r.ape), "status": r.status, "reason": r.reason or None,
             "metric": r.metric, "phase": r.phase, "quality": r.quality, "config": r.config or None,
             "assumptions": r.assumptions or None}
            for r in res.itertuples()
        ]
        out = {"rows": rows, "summary": summarize(res)}
        for col in splits:
            out[f"by_{col}"] = {k: summarize(g) for k, g in res.groupby(col)}
        echo_json(out)
        return
    con = Console()
    ok = res[res["status"] == "ok"]
    table = pd.DataFrame({
        "id": ok["id"], "metric": ok["metric"], "predicted": ok["predicted"], "measured": ok["measured"],
        "error": [f"{100 * (p / m - 1):+.0f}%" for p, m in zip(ok["predicted"], ok["measured"], strict=True)],
        "quality": ok["quality"],
    })
    print_table(table, title=f"{len(ok)} predicted rows ({points})", console=con)
    sk = res[res["status"] == "skipped"]
    if len(sk):
        print_table(sk[["id", "metric", "reason"]], title=f"{len(sk)} skipped rows (not modelled yet)", console=con)
    for col in splits:
        summ = summary_by(res, col)
        view = pd.DataFrame({
            col: summ[col], "n": summ["n"], "median |err|": summ["median_ape"].map(_pct),
            "mean |err|": summ["mape"].map(_pct), "within ±25%": summ["within_25pct"].map(_pct),
            "worst ratio": summ["max_ratio"].map(lambda v: "-" if v is None or pd.isna(v) else f"{v:.2f}x"),
            "skipped": summ["skipped"],
        })
        print_table(view, title=f"error by {col}", console=con)
    n_assumed = int((ok["assumptions"] != "").sum())
    if n_assumed:
        con.print(f"[dim]{n_assumed} rows use a dataset mean length or another documented reading (see "
                  "docs/validation.md, Assumptions); "
                  "--no-dataset-isl skips them.[/]")


SERVING_SPLITS = ("metric", "mode", "system", "framework")


def _validate_serving(path: str, by, catalogs, fmt: str) -> None:
    """Serving benchmarks (recognized by their header): median TTFT and TPOT of each row's deployment at its
    concurrency, through the serving model (planner.serving)."""
    res = predict_serving(read_serving(path), load_catalog(catalogs), workers=os.cpu_count() or 1)
    if fmt == "csv":
        click.echo(res.to_csv(index=False), nl=False)
        return
    splits = [c for c in by if c in SERVING_SPLITS] or ["metric", "mode"]
    groups = list(dict.fromkeys(["metric", *splits]))
    summ = serving_summary(res, tuple(groups))
    if fmt == "json":
        rows = [{"id": r.id, "metric": r.metric, "predicted": None if pd.isna(r.predicted) else float(r.predicted),
                 "measured": float(r.measured), "ape": None if pd.isna(r.ape) else float(r.ape), "status": r.status,
                 "reason": r.reason or None, "mode": r.mode, "system": r.system, "framework": r.framework}
                for r in res.itertuples()]
        full = serving_summary(res, SERVING_SPLITS)
        echo_json({"rows": rows, "summary": summ.to_dict(orient="records"),
                   "by_metric_mode_system_framework": full.to_dict(orient="records"),
                   "skipped": res[res["status"] != "ok"].drop_duplicates("id")["reason"].value_counts().to_dict()})
        return
    con = Console()
    view = summ.assign(median_ape=summ["median_ape"].map(_pct), within_25pct=summ["within_25pct"].map(_pct),
                       median_ratio=summ["median_ratio"].map(lambda v: "-" if pd.isna(v) else f"{v:.2f}"))
    print_table(view.rename(columns={"median_ape": "median |err|", "within_25pct": "within ±25%",
                                     "median_ratio": "median pred/meas"}),
                title=f"serving benchmarks ({path}): error by {', '.join(groups)}", console=con)
    skipped = res[res["status"] != "ok"].drop_duplicates("id")
    if len(skipped):
        reasons = skipped["reason"].value_counts().rename_axis("reason").reset_index(name="rows")
        print_table(reasons, title=f"{len(skipped)} rows skipped (never fitted)", console=con)


def _measurement_sets(paths: list[str], every: int) -> tuple[dict[str, pd.DataFrame], list[Path], list[Path]]:
    kernel_sets: dict[str, list[pd.DataFrame]] = {}
    point_files: list[Path] = []
    serving_files: list[Path] = []
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.glob("*.csv") if f.stem in K.FAMILIES)
        elif p.exists():
            files.append(p)
        else:
            raise PlannerError(f"file not found: {p}", field="measurements")
    for f in files:
        fmt = C.detect_format(f)
        if fmt == "points":
            point_files.append(f)
        elif fmt == "serving":
            serving_files.append(f)
        else:
            kernel_sets.setdefault(fmt, []).append(_load_named(f, fmt, every))
    return {k: pd.concat(v, ignore_index=True) for k, v in kernel_sets.items()}, point_files, serving_files


def _load_named(path: Path, family: str, every: int) -> pd.DataFrame:
    df = load_csv(path, field="measurements")
    if family == "allreduce" and "implementation" in df:
        df = df[df["implementation"] == "trtllm_custom"]
    if family == "moe" and "distribution" in df:
        df = df[df["distribution"] == "balanced"]
    return df.iloc[::every].reset_index(drop=True) if every > 1 else df.reset_index(drop=True)


@click.command("calibrate")
@click.argument("measurements", nargs=-1, required=True, type=click.Path())
@click.option("--chip", "chip_ids", required=True, multiple=True,
              help="Chip whose efficiency parameters are fitted. End-to-end points: repeat it for chips of one "
                   "silicon (b200, gb200, gb300) to fit common values over all their rows.")
@click.option("--every", default=3, show_default=True, type=click.IntRange(1),
              help="Kernel files: use every Nth row (a systematic sample, for speed).")
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Write the overlay YAML here (default: print it).")
@click.option("--fit", "fit_names", multiple=True, type=click.Choice(list(C.BOUNDS)),
              help="Parameters to fit (repeatable) [default: all for kernel files; compute, memory and kernel "
                   "overhead for end-to-end points].")
@catalog_option
@format_option()
def calibrate_cmd(measurements, chip_ids, every, out, fit_names, catalogs, fmt):
    """Fit a chip's sustained efficiencies to kernel-level or end-to-end measurements; write a --catalog overlay.

    MEASUREMENTS: kernel CSVs (validation/kernels_h100 format: gemm, attn_decode, mla_decode, attn_prefill, moe,
    allreduce), a folder of them, a points file (validation/points.csv format; rows on --chip are used), or serving
    benchmarks (validation/serving format: TTFT/TPOT at a client concurrency from vllm bench serve, genai-perf or
    aiperf, converted; rows on --chip's system are simulated by the serving model)."""
    catalog = load_catalog(catalogs)
    chip_id = chip_ids[0]
    chip = catalog[chip_id]
    kernel_sets, point_files, serving_files = _measurement_sets(list(measurements), every)
    if serving_files and (kernel_sets or point_files):
        raise PlannerError("give serving benchmarks alone (not with kernel or points files)", field="measurements")
    if kernel_sets and len(chip_ids) > 1:
        raise PlannerError("kernel measurements calibrate one chip; pass --chip once", field="chip")
    start = K.KernelParams.from_chip(chip)
    if kernel_sets:
        params, fit = C.fit_kernel_frames(chip, kernel_sets, free=fit_names or C.KERNEL_PARAMS)
        source = "planner calibrate on kernel measurements: " + ", ".join(str(m) for m in measurements)
        errors = _kernel_errors(chip, params, kernel_sets)
    elif serving_files:
        rows = pd.concat([read_serving(p) for p in serving_files], ignore_index=True)
        params, fit = C.fit_serving(rows, catalog, list(chip_ids), free=fit_names or C.POINT_PARAMS)
        source = "planner calibrate on serving benchmarks: " + ", ".join(str(p) for p in serving_files)
        errors = _serving_errors(rows, catalog, chip_ids, params)
    else:
        pts = pd.concat([read_points(p) for p in point_files], ignore_index=True)
        params, fit = C.fit_points(pts, catalog, list(chip_ids), free=fit_names or C.POINT_PARAMS)
        source = "planner calibrate on end-to-end points: " + ", ".join(str(p) for p in point_files)
        errors = pd.DataFrame()
    overlay = C.overlay_yaml([catalog[c] for c in chip_ids], params, source, fit,
                             note=f"kernel files sampled every {every} rows" if kernel_sets and every > 1 else "")
    if out:
        Path(out).write_text(overlay)
    fitted = pd.DataFrame({"parameter": fit.names, "start": [start.value(n) for n in fit.names],
                           "fitted": list(fit.values)})
    if fmt == "json":
        echo_json({"chip": chip_id, "chips": list(chip_ids), "fitted": fit.as_dict(), "start": {n: start.value(n) for n in fit.names},
                   "iterations": fit.iterations, "measurements": fit.n_residuals,
                   "errors": errors.to_dict(orient="records"), "overlay": overlay, "out": out})
        return
    con = Console()
    if fit.n_residuals < 3 * len(fit.names):
        con.print(f"[yellow]warning: {fit.n_residuals} measurements for {len(fit.names)} parameters; the fit is "
                  "poorly determined (fit fewer with --fit).[/]")
    print_table(fitted, title=f"{', '.join(chip_ids)}: fitted on {fit.n_residuals:,} measurements ({fit.iterations} iterations)", console=con)
    if len(errors):
        view = errors.assign(median_ape=errors["median_ape"].map(_pct), p90_ape=errors["p90_ape"].map(_pct),
                             bias=errors["bias"].map(_pct))
        title = "serving error, catalog vs fitted" if serving_files else "kernel-level error after the fit"
        print_table(view, title=title, console=con)
    if out:
        con.print(f"overlay written to {out} (use: --catalog {out})")
    else:
        click.echo(overlay)


def _serving_errors(rows: pd.DataFrame, catalog, chip_ids, params) -> pd.DataFrame:
    """Median error per metric on the chip's serving rows with the catalog's and with the fitted efficiencies."""
    mine = rows[system_chips(rows["system"], catalog).isin(chip_ids)]
    out = []
    for label, cat in (("catalog", catalog), ("fitted", C.apply_params(catalog, list(chip_ids), params))):
        res = predict_serving(mine, cat)
        for metric, g in res[res["status"] == "ok"].groupby("metric"):
            out.append({"family": metric, "params": label, "n": len(g), "median_ape": float(g["ape"].median()),
                        "p90_ape": float(g["ape"].quantile(0.9)),
                        "bias": float((g["predicted"] / g["measured"]).median() - 1)})
    return pd.DataFrame(out)


def _kernel_errors(chip, params, sets: dict[str, pd.DataFrame]) -> pd.DataFrame:
    peaks = K.Peaks.from_chip(chip)
    rows = []
    for fam, df in sets.items():
        rows.append({"family": fam, **K.error_summary(K.predict_s(fam, df, peaks, params), K.measured_s(df))})
    return pd.DataFrame(rows)


commands = [validate_cmd, calibrate_cmd]
