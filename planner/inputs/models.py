"""Loading model architectures: validated presets in `models/*.yaml`, the configs bundled in `models/zoo` by their
Hugging Face id, the local Hugging Face cache, and a config.json by path (planner.inputs.hf_import reads it). The
shapes themselves: planner.inputs.architecture.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from pydantic import ValidationError

from planner.errors import PlannerError, suggest
from planner.inputs.architecture import ModelArch
from planner.inputs.hf_import import arch_dict_from_hf
from planner.inputs.quantization import checkpoint_precision
from planner.inputs.reader import load_bundled_yaml, load_json, load_yaml, path_exists
from planner.paths import MODELS_DIR, ZOO_DIR

# ---------------------------------------------------------------- loading


def _format_validation(err: ValidationError, where: str) -> str:
    return "\n".join(f"{where}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())


def parse_model(data: dict, where: str) -> ModelArch:
    try:
        return ModelArch.model_validate(data)
    except ValidationError as exc:
        raise PlannerError(_format_validation(exc, where)) from None


@lru_cache(maxsize=1)
def preset_ids() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in MODELS_DIR.glob("*.yaml")))


@lru_cache(maxsize=64)
def _load_preset(model_id: str) -> ModelArch:
    path = MODELS_DIR / f"{model_id}.yaml"
    return parse_model(load_bundled_yaml(path), f"models/{model_id}.yaml")


# Hugging Face repositories whose text model has a preset's architecture though the preset's `source` names another
# repository (checked field by field against their config.json: layers, widths, experts, attention, vocabulary)
HF_SAME_ARCHITECTURE = {"moonshotai/kimi-k2.5": "kimi-k2"}
# suffixes of re-quantized or instruction-tuned releases of the same architecture
_HF_VARIANT_SUFFIXES = ("-instruct", "-fp8", "-nvfp4", "-base", "-hf")


def _hf_name(repo: str) -> str:
    """The model name of a repository id, without the publisher and variant suffixes (lower case)."""
    name = repo.strip().lower().rsplit("/", 1)[-1]
    stripped = True
    while stripped:
        stripped = False
        for s in _HF_VARIANT_SUFFIXES:
            if name.endswith(s):
                name, stripped = name[: -len(s)], True
    return name


@lru_cache(maxsize=1)
def _presets_by_hf_name() -> dict[str, str]:
    out = {}
    for pid in preset_ids():
        m = re.search(r"huggingface\.co/([^/]+/[^/]+)", _load_preset(pid).source)
        if m:
            out[_hf_name(m.group(1))] = pid
    return out


def hf_repo(ref: str) -> str:
    """What a serving framework loads for a model reference: a preset's Hugging Face repository (from its source),
    a config.json's folder, else the reference itself."""
    if ref in preset_ids():
        m = re.search(r"huggingface\.co/([^/]+/[^/]+)", _load_preset(ref).source)
        return m.group(1) if m else ref
    p = Path(ref)
    return str(p.parent if p.name.endswith(".json") else p)


def preset_for_hf_id(repo: str) -> str | None:
    """The preset with the architecture of Hugging Face repository `repo` (`meta-llama/Llama-3.1-8B-Instruct`,
    `nvidia/DeepSeek-R1-NVFP4`): matched on the preset's source repository, ignoring the publisher and variant
    suffixes (-Instruct, -FP8, -NVFP4, -Base); None when no preset has it."""
    key = repo.strip().lower()
    if key in HF_SAME_ARCHITECTURE:
        return HF_SAME_ARCHITECTURE[key]
    return _presets_by_hf_name().get(_hf_name(key))


@lru_cache(maxsize=1)
def zoo_ids() -> dict[str, Path]:
    """Hugging Face ids of the bundled configs (models/zoo/<org>--<name>_config.json), lower case -> file."""
    out = {}
    for path in ZOO_DIR.glob("*_config.json"):
        if path.name.endswith("_hf_quant_config.json"):
            continue
        out[path.name[: -len("_config.json")].replace("--", "/", 1).lower()] = path
    return out


def hf_cache_config(repo: str) -> Path | None:
    """The config.json of `repo` in the local Hugging Face cache (HF_HUB_CACHE, else HF_HOME/hub, else
    ~/.cache/huggingface/hub), newest snapshot first; never the network."""
    import os

    hub = os.environ.get("HF_HUB_CACHE") or (Path(os.environ["HF_HOME"]) / "hub" if os.environ.get("HF_HOME")
                                             else Path.home() / ".cache" / "huggingface" / "hub")
    snapshots = Path(hub) / f"models--{repo.replace('/', '--')}" / "snapshots"
    found = [p for p in snapshots.glob("*/config.json") if path_exists(p)] if path_exists(snapshots, directory=True) else []
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def config_for_hf_id(repo: str) -> Path | None:
    """A config.json for a Hugging Face id (`Qwen/Qwen3.5-397B-A17B`): bundled in models/zoo, else in the local
    Hugging Face cache; None when neither has it."""
    return zoo_ids().get(repo.strip().lower()) or hf_cache_config(repo.strip())


def _hf_model_id(repo: str) -> str:
    """A model id for an imported Hugging Face id: its name, lower case (`qwen3.5-397b-a17b`)."""
    return re.sub(r"[^a-z0-9.\-_]", "-", repo.strip().lower().rsplit("/", 1)[-1]).strip("-.") or "custom"


def _zoo_hint(ref: str) -> str:
    import difflib

    close = difflib.get_close_matches(ref.lower(), list(zoo_ids()), n=3, cutoff=0.6)
    return ("did you mean " + " or ".join(repr(c) for c in close) + "? Or ") if close else ""


def from_hf_config(cfg: dict, model_id: str) -> ModelArch:
    """Map a Hugging Face config.json (Llama, Qwen2/3, Mixtral, Qwen3-MoE, DeepSeek-V3, gpt-oss) to ModelArch."""
    return parse_model(arch_dict_from_hf(cfg, model_id), f"config.json[{model_id}]")


def _hf_quant_beside(path: Path) -> Path | None:
    """The ModelOpt hf_quant_config.json of a checkpoint: beside its config.json, or `<name>_hf_quant_config.json`
    beside `<name>_config.json`."""
    if path.name == "config.json":
        q = path.parent / "hf_quant_config.json"
    else:
        q = path.with_name(re.sub(r"config\.json$", "hf_quant_config.json", path.name))
    return q if q != path and path_exists(q) else None


def _load_config_file(path: Path, model_id: str | None = None) -> ModelArch:
    cfg = load_json(path, field="model", non_finite=True)
    # a folder's config.json takes the folder's name; a named file (`org--model_config.json`) its own
    name = model_id or (path.parent.name if path.name == "config.json" else re.sub(r"_?config$", "", path.stem))
    data = arch_dict_from_hf(cfg, name.lower().replace(" ", "-") or "custom")
    quant_path = _hf_quant_beside(path)
    if quant_path is not None:
        ckpt = checkpoint_precision(cfg, load_json(quant_path, field="model", non_finite=True))
        if ckpt:
            data["checkpoint"] = ckpt
    return parse_model(data, f"config.json[{data['id']}]")


def load_model(ref: str | Path) -> ModelArch:
    """A preset id (`llama-3.1-70b`), a path to a HF config.json (or to a folder holding one), or a Hugging Face id
    (`Qwen/Qwen3.5-397B-A17B`): a preset of the same architecture, else the bundled config (models/zoo), else the
    local Hugging Face cache. Never the network."""
    ref_s = str(ref)
    if ref_s in preset_ids():
        return _load_preset(ref_s)
    path = Path(ref_s)
    if re.fullmatch(r"[A-Za-z0-9][\w.\-]*/[\w.\-]+", ref_s) and not path_exists(path) and not path_exists(path, directory=True):
        preset = preset_for_hf_id(ref_s)
        found = config_for_hf_id(ref_s)
        if preset is not None:  # the preset's architecture, in the precision this release ships in
            model = _load_preset(preset)
            ckpt = _load_config_file(found, _hf_model_id(ref_s)).checkpoint if found is not None else None
            return model.model_copy(update={"checkpoint": ckpt}) if ckpt else model
        if found is not None:
            return _load_config_file(found, _hf_model_id(ref_s))
        raise PlannerError(
            f"unknown Hugging Face id {ref_s!r}: no preset has its architecture, models/zoo has no config for it and "
            "the local Hugging Face cache has none (the planner never downloads)",
            field="model", hint=_zoo_hint(ref_s) + "pass the path of its config.json (huggingface-cli download "
            f"{ref_s} config.json), or a preset id (`planner models`)")
    if path_exists(path, directory=True):
        path = path / "config.json"
    if path.suffix in (".json", ".yaml", ".yml") and path_exists(path):
        if path.suffix == ".json":
            return _load_config_file(path)
        return parse_model(load_yaml(path, field="model"), str(path))
    raise PlannerError(
        f"unknown model {ref_s!r} (not a preset id, not an existing config.json)",
        field="model",
        hint=suggest(ref_s, preset_ids()),
    )
