"""Read the serving frameworks' own argument parsers into tests/fixtures/exports, and check planner's export
commands against the real parsers. Needs a separate environment with the frameworks installed (not the project's:
vLLM and SGLang pull in PyTorch, several GB):

    python3 -m venv /tmp/fw && . /tmp/fw/bin/activate
    pip install sglang==0.5.23 vllm==0.34.0 --no-deps && pip install torch msgspec numpy ...  (what the imports ask for)
    VLLM_TARGET_DEVICE=cpu python scripts/export_parsers.py read      # rewrite the fixtures
    VLLM_TARGET_DEVICE=cpu python scripts/export_parsers.py check ARGVS.json   # parse exported commands

ARGVS.json: {"name": {"vllm": [argv, ...], "sglang": [argv, ...]}} (planner.export.launch's argv lists). Run
2026-12-07 on this machine: 32 commands of 6 bundled plans parsed by both real parsers.
"""

from __future__ import annotations

import argparse
import json
import sys
import typing
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "exports"


def _options(parser) -> dict:
    return {opt: {"dest": a.dest, "choices": sorted(map(str, a.choices)) if a.choices else None,
                  "takes_value": a.nargs != 0} for opt, a in sorted(parser._option_string_actions.items())}


def parsers():
    from sglang.srt.server_args import ServerArgs
    from vllm.entrypoints.common.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    sp = argparse.ArgumentParser()
    ServerArgs.add_cli_args(sp)
    return make_arg_parser(FlexibleArgumentParser()), sp


def read() -> None:
    import sglang
    import vllm
    from vllm.config.kv_transfer import KVRole
    from vllm.config.speculative import SpeculativeMethod
    from vllm.distributed.kv_transfer.kv_connector.factory import KVConnectorFactory

    vp, sp = parsers()
    (FIXTURES / "vllm_serve_args.json").write_text(json.dumps({
        "source": f"vllm {vllm.__version__}: vllm.entrypoints.common.cli_args.make_arg_parser, the parser `vllm serve` "
                  "uses", "read": "2026-12-07", "options": _options(vp),
        "speculative_methods": sorted(typing.get_args(SpeculativeMethod)), "kv_roles": sorted(typing.get_args(KVRole)),
        "kv_connectors": sorted(KVConnectorFactory._registry)}, indent=1, sort_keys=True))
    (FIXTURES / "sglang_server_args.json").write_text(json.dumps({
        "source": f"sglang {sglang.__version__}: ServerArgs.add_cli_args, the parser `python -m sglang.launch_server` "
                  "uses", "read": "2026-12-07", "options": _options(sp)}, indent=1, sort_keys=True))


def check(path: str) -> None:
    vp, sp = parsers()
    n = 0
    for d in json.loads(Path(path).read_text()).values():
        for argv in d["vllm"]:
            vp.parse_args(argv[2:])
            n += 1
        for argv in d["sglang"]:
            sp.parse_args(argv[3:])
            n += 1
    print(f"{n} commands parsed by the real parsers")


if __name__ == "__main__":
    read() if sys.argv[1] == "read" else check(sys.argv[2])
