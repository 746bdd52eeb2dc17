"""Long fuzz run of the CLI on damaged inputs of every kind: how many tracebacks (an exception other than the
planner's own errors) and hangs (past a per-input time limit) it produces.

    python scripts/fuzz_inputs.py [--per-kind 1000] [--seed 0] [--timeout 20]

Kinds: scenario YAML (`solve`), sweep files (`batch`), catalog overlays (`solve --catalog`), config.json
(`estimate --model`), points CSV and serving CSV (`validate`), `estimate` flags. Each input is a bundled or fixture
document with 1-4 random damages (tests/mutate.py). Prints one line per kind and writes the inputs that failed
under --out for replay.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import tempfile
import time
import warnings
from pathlib import Path

import yaml
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from planner.cli import main  # noqa: E402
from tests.mutate import WEIRD_VALUES, mutate  # noqa: E402

CHAT = yaml.safe_load((ROOT / "scenarios" / "llama70b-chat.yaml").read_text())
SMALL = {"name": "fuzz", "model": "llama-3.1-8b", "precision": {"weights": "fp8"},
         "workload": {"arrival_rate_rps": 5, "isl": 1024, "osl": 128}, "slo": {"ttft_ms": 1500, "tpot_ms": 40},
         "chips": [{"id": "h100-sxm"}], "search": {"max_chips_per_instance": 2, "pipeline_parallel": [1]},
         "solver": {"time_limit_s": 2}}
SOURCE = {"ref": "fuzz test chip", "date": "2026-12"}
OVERLAY = {"chips": [{"id": "h100-sxm", "price_usd_per_hr": 1.9},
                     {"id": "my-chip", "name": "Mine", "vendor": "X", "year": 2026,
                      "peak_tflops": {"bf16": 500.0, "fp8": 1000.0},
                      "memory": [{"name": "HBM", "capacity_gb": 96.0, "bandwidth_tb_s": 3.0}],
                      "scaleup_gb_s": 100.0, "scaleup_domain": 8, "scaleout_gb_s": 50.0, "power_w": 700,
                      "price_usd_per_hr": 2.0,
                      "sources": {k: dict(SOURCE) for k in ("peak_tflops", "memory", "scaleup", "scaleout", "power",
                                                             "price")}}]}
CONFIG = {"architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
          "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
          "max_position_embeddings": 131072}
POINTS = ROOT / "validation" / "points.csv"
ZOO_DIR = ROOT / "models" / "zoo"
ZOO_CONFIGS = ("Qwen--Qwen3.5-397B-A17B", "nvidia--NVIDIA-Nemotron-3-Super-120B-A12B-FP8", "deepseek-ai--DeepSeek-V3.2",
               "zai-org--GLM-5.2", "openai--gpt-oss-120b", "moonshotai--Kimi-K2.5", "nvidia--Qwen3.6-35B-A3B-NVFP4",
               "meta-llama--Llama-4-Scout-17B-16E-Instruct", "nvidia--NVIDIA-Nemotron-3-Ultra-550B-A55B-BF16",
               "nvidia--Llama-3_3-Nemotron-Super-49B-v1", "google--gemma-4-26B-A4B", "moonshotai--Kimi-K3", "deepseek-ai--DeepSeek-V4-Flash", "nvidia--Gemma-4-31B-IT-NVFP4")
SERVING = ROOT / "tests" / "fixtures" / "serving" / "serving_small.csv"
CELLS = ["", "nan", "-1", "0", "TP8", "1e308", "inf", "x" * 50, "int8", "2.5", "true", "=1+1"]


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang


def _dump(doc) -> str:
    try:
        return yaml.safe_dump(doc, allow_unicode=True)
    except yaml.YAMLError:
        return "x: [1\n"


def _csv(src: Path, rng: random.Random, n: int) -> str:
    lines = src.read_text().splitlines()
    rows = [r.split(",") for r in rng.sample(lines[1:], min(3, len(lines) - 1))]
    for _ in range(n):
        row = rng.choice(rows)
        row[rng.randrange(len(row))] = rng.choice(CELLS)
    return "\n".join([lines[0], *(",".join(r) for r in rows)]) + "\n"


def make_input(kind: str, rng: random.Random, d: Path) -> list[str]:
    """The CLI arguments of one damaged input of `kind` (files written under d)."""
    n = rng.randint(1, 4)
    if kind == "scenario":
        (d / "s.yaml").write_text(_dump(mutate(SMALL if rng.random() < 0.7 else CHAT, rng, n)))
        return ["solve", str(d / "s.yaml"), "--format", "json", "--time-limit", "2"]
    if kind == "sweep":
        (d / "base.yaml").write_text(_dump(SMALL))
        doc = mutate({"base": "base.yaml", "sweep": {"slo.tpot_ms": [20, 40], "workload.isl": [512, 2048]}}, rng, n)
        (d / "sw.yaml").write_text(_dump(doc))
        return ["batch", str(d / "sw.yaml"), "--out", str(d / "out.csv"), "--workers", "0", "--time-limit", "2"]
    if kind == "catalog":
        (d / "s.yaml").write_text(_dump({**SMALL, "chips": [{"id": "h100-sxm"}, {"id": "my-chip"}]}))
        (d / "ov.yaml").write_text(_dump(mutate(OVERLAY, rng, n)))
        return ["solve", str(d / "s.yaml"), "--catalog", str(d / "ov.yaml"), "--format", "json", "--time-limit", "2"]
    if kind == "config":  # a plain Llama config or a current model's (hybrids, DSA, checkpoint quantization)
        name = rng.choice([None, *ZOO_CONFIGS])
        doc = CONFIG if name is None else json.loads((ZOO_DIR / f"{name}_config.json").read_text())
        (d / "config.json").write_text(json.dumps(mutate(doc, rng, n), allow_nan=True, default=str))
        quant = ZOO_DIR / f"{name}_hf_quant_config.json"
        if name is not None and quant.exists():
            (d / "hf_quant_config.json").write_text(json.dumps(mutate(json.loads(quant.read_text()), rng, rng.randint(0, 3)),
                                                               allow_nan=True, default=str))
        return ["estimate", "--model", str(d), "--chip", "b200", "--format", "json"]
    if kind in ("points", "serving"):
        (d / f"{kind}.csv").write_text(_csv(POINTS if kind == "points" else SERVING, rng, n))
        return ["validate", str(d / f"{kind}.csv"), "--format", "json"]
    if kind == "flags":
        flags = {"--tp": 1, "--batch": 8, "--isl": 1024, "--osl": 128, "--osl-cv": 0.5, "--prefix-hit": 0.2}
        for _ in range(n):
            flags[rng.choice(list(flags))] = rng.choice(WEIRD_VALUES)
        args = ["estimate", "--model", "llama-3.1-8b", "--chip", "h100-sxm", "--format", "json"]
        for k, v in flags.items():
            args += [k, str(v)]
        return args
    raise ValueError(kind)


KINDS = ("scenario", "sweep", "catalog", "config", "points", "serving", "flags")


def main_() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-kind", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=int, default=20, help="seconds per input before it counts as a hang")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--out", default="fuzz_failures")
    a = ap.parse_args()
    warnings.filterwarnings("ignore")
    signal.signal(signal.SIGALRM, _alarm)
    runner = CliRunner()
    out = Path(a.out)
    total = {"inputs": 0, "tracebacks": 0, "hangs": 0}
    for kind in a.kinds.split(","):
        rng = random.Random(f"{a.seed}-{kind}")
        counts = {"inputs": 0, "exit0": 0, "exit_other": 0, "tracebacks": 0, "hangs": 0}
        t0 = time.perf_counter()
        for i in range(a.per_kind):
            with tempfile.TemporaryDirectory() as tmp:
                d = Path(tmp)
                args = make_input(kind, rng, d)
                signal.alarm(a.timeout)
                try:
                    r = runner.invoke(main, args, catch_exceptions=True)
                    failed = r.exception is not None and not isinstance(r.exception, SystemExit)
                    code = r.exit_code
                except Hang:
                    failed, code = "hang", None
                finally:
                    signal.alarm(0)
                counts["inputs"] += 1
                if failed == "hang":
                    counts["hangs"] += 1
                elif failed:
                    counts["tracebacks"] += 1
                elif code == 0:
                    counts["exit0"] += 1
                else:
                    counts["exit_other"] += 1
                if failed:
                    keep = out / kind / f"{i:05d}"
                    keep.mkdir(parents=True, exist_ok=True)
                    for f in d.iterdir():
                        if f.is_file():
                            (keep / f.name).write_bytes(f.read_bytes())
                    detail = "hang" if failed == "hang" else f"{type(r.exception).__name__}: {r.exception}"
                    (keep / "args.txt").write_text(" ".join(args) + "\n" + detail + "\n")
        for k in ("inputs", "tracebacks", "hangs"):
            total[k] += counts[k]
        print(f"{kind:9s} {counts['inputs']:5d} inputs  {counts['exit0']:5d} answered  {counts['exit_other']:5d} refused "
              f"(exit 1-4)  {counts['tracebacks']:3d} tracebacks  {counts['hangs']:2d} hangs  "
              f"{time.perf_counter() - t0:6.0f} s", flush=True)
    print(f"all       {total['inputs']:5d} inputs  {total['tracebacks']} tracebacks  {total['hangs']} hangs")


if __name__ == "__main__":
    main_()
