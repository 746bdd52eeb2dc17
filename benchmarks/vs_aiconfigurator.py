"""The planner and NVIDIA AI Configurator side by side on AI Configurator's own `cli default` question.

Usage: python benchmarks/vs_aiconfigurator.py [--repeat N] [--aiconfigurator PATH]

The question (issue 19): Llama 3.1 70B FP8 on 32 H100 SXM, ISL 4,000 / OSL 500, TTFT 1,000 ms, TPOT 30 ms; the most
throughput per GPU, aggregated or disaggregated. AI Configurator: `aiconfigurator cli default --model-path DIR
--total-gpus 32 --system h100_sxm ...` on the bundled Hugging Face config of nvidia/Llama-3.1-70B-Instruct-FP8
(models/zoo). The planner: `planner solve --model llama-3.1-70b --weights fp8 --chips h100-sxm::32 ... --objective
max-throughput --framework trtllm`. Each runs as a fresh process (start-up and imports included), `--repeat` times;
medians and the ratio are printed, then both answers in requests/s per GPU (the planner with its default held-out
margins and with `--margin 0`, AI Configurator's figures carry none).

AI Configurator is not a dependency of the project: install it apart, e.g. `python -m venv /tmp/aic &&
/tmp/aic/bin/pip install aiconfigurator==0.12.0`, and pass `--aiconfigurator /tmp/aic/bin/aiconfigurator` (or put
it on PATH). Without it the script says so and times the planner alone. Benchmarks, not timed tests. The last line
is `speedup: X` (or `speedup: not measured`).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "models" / "zoo"
HF_ID = "nvidia--Llama-3.1-70B-Instruct-FP8"
QUESTION = {"isl": 4000, "osl": 500, "ttft": 1000, "tpot": 30, "gpus": 32}


def _timed(cmd: list[str], repeat: int, cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    times, last = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        last = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if last.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({last.returncode}):\n{last.stderr[-2000:]}")
    return statistics.median(times), last


def planner_cmd(margin: float | None = None) -> list[str]:
    q = QUESTION
    cmd = [sys.executable, "-m", "planner", "solve", "--model", "llama-3.1-70b", "--weights", "fp8",
           "--chips", f"h100-sxm::{q['gpus']}", "--isl", str(q["isl"]), "--osl", str(q["osl"]), "--ttft", str(q["ttft"]),
           "--tpot", str(q["tpot"]), "--objective", "max-throughput", "--framework", "trtllm", "--format", "json"]
    return cmd + (["--margin", str(margin)] if margin is not None else [])


def aic_cmd(exe: str, model_dir: Path, out_dir: Path) -> list[str]:
    q = QUESTION
    return [exe, "cli", "default", "--model-path", str(model_dir), "--total-gpus", str(q["gpus"]), "--system", "h100_sxm",
            "--isl", str(q["isl"]), "--osl", str(q["osl"]), "--ttft", str(q["ttft"]), "--tpot", str(q["tpot"]),
            "--save-dir", str(out_dir)]


def aic_best(out_dir: Path) -> dict[str, float]:
    """The best requests/s per GPU of each mode AI Configurator saved (its best_config_topn.csv files)."""
    best = {}
    for path in out_dir.rglob("best_config_topn.csv"):
        with path.open() as f:
            rates = [float(r["seq/s/gpu"]) for r in csv.DictReader(f) if r.get("seq/s/gpu")]
        if rates:
            best[path.parent.name] = max(rates)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--aiconfigurator", default=shutil.which("aiconfigurator"),
                    help="AI Configurator's executable (default: on PATH)")
    a = ap.parse_args()

    p_s, p = _timed(planner_cmd(), a.repeat, ROOT)
    plan = json.loads(p.stdout)
    _, p0 = _timed(planner_cmd(0), 1, ROOT)
    plan0 = json.loads(p0.stdout)
    gpus = QUESTION["gpus"]
    print(f"planner: median {p_s:.2f} s end to end ({a.repeat} runs), mode {plan['mode']}, "
          f"{plan['throughput_rps'] / gpus:.3f} requests/s per GPU with its held-out margins, "
          f"{plan0['throughput_rps'] / gpus:.3f} with --margin 0")
    if not a.aiconfigurator:
        print("AI Configurator: not installed (see the module docstring); not measured")
        print("speedup: not measured")
        return
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "llama-3.1-70b-fp8"
        model_dir.mkdir()
        shutil.copy(ZOO / f"{HF_ID}_config.json", model_dir / "config.json")
        shutil.copy(ZOO / f"{HF_ID}_hf_quant_config.json", model_dir / "hf_quant_config.json")
        out_dir = Path(tmp) / "out"
        a_s, _ = _timed(aic_cmd(a.aiconfigurator, model_dir, out_dir), a.repeat, Path(tmp))
        best = aic_best(out_dir)
    answers = ", ".join(f"{mode} {rate:.3f}" for mode, rate in sorted(best.items())) or "no saved configurations"
    print(f"AI Configurator: median {a_s:.2f} s end to end ({a.repeat} runs); best requests/s per GPU: {answers}")
    print(f"speedup: {a_s / p_s:.1f}")


if __name__ == "__main__":
    main()
