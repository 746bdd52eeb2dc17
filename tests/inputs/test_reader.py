"""The guarded reader every input file goes through: encodings, sizes, non-regular files, YAML nesting, aliases
and duplicate keys, JSON constants; each refusal names the file and the field and never echoes the contents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from planner.cli import main
from planner.errors import PlannerError
from planner.inputs.models import load_model
from planner.inputs.reader import MAX_ALIASES, MAX_DEPTH, load_json, load_yaml, read_text
from planner.inputs.scenario import load_scenario
from planner.paths import SCENARIOS_DIR

CHAT = SCENARIOS_DIR / "llama70b-chat.yaml"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])  # utf-16: with a BOM, as Windows Notepad saves it
def test_utf8_with_bom_and_utf16_with_bom_are_read(tmp_path, encoding):
    p = tmp_path / "s.yaml"
    p.write_bytes(CHAT.read_text().encode(encoding))
    assert load_scenario(p).name == load_scenario(CHAT).name


def test_other_encodings_are_refused_with_the_fix(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_bytes("name: caf\xe9\n".encode("latin-1"))
    r = CliRunner().invoke(main, ["solve", str(p)])
    assert r.exit_code == 2 and "scenario:" in r.output and "UTF-8" in r.output and "Traceback" not in r.output


def test_non_regular_and_oversized_files_are_refused(tmp_path):
    with pytest.raises(PlannerError, match="not a regular file"):
        read_text("/dev/zero", field="scenario", max_bytes=1000)
    with pytest.raises(PlannerError, match="not a regular file"):
        read_text(tmp_path, field="scenario", max_bytes=1000)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a: 1\n" * 1000)
    with pytest.raises(PlannerError, match="5,000 bytes, more than the 100 "):
        read_text(big, field="scenario", max_bytes=100)
    with pytest.raises(PlannerError, match="file not found"):
        read_text(tmp_path / "nope.yaml", field="scenario", max_bytes=100)


def test_yaml_bombs_deep_nesting_and_duplicate_keys_are_refused(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 40)]
    bomb.write_text("\n".join(lines) + "\n")
    with pytest.raises(PlannerError, match=f"more than {MAX_ALIASES} alias"):
        load_yaml(bomb, field="base")
    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 500 + "]" * 500 + "\n")
    with pytest.raises(PlannerError, match=f"nested more than {MAX_DEPTH}"):
        load_yaml(deep, field="scenario")
    dup = tmp_path / "dup.yaml"
    dup.write_text("slo: {tpot_ms: 40}\nname: a\nslo: {tpot_ms: 50}\n")
    with pytest.raises(PlannerError, match="duplicate key 'slo' .line 3; first on line 1"):
        load_yaml(dup, field="scenario")


def test_json_constants_and_duplicate_keys_are_refused(tmp_path):
    p = tmp_path / "config.json"
    p.write_text('{"hidden_size": NaN}')
    with pytest.raises(PlannerError, match="NaN is not a number JSON allows"):
        load_json(p, field="model")
    # model configs may hold them (Mamba's time_step_limit); the importer refuses a non-finite count itself
    assert load_json(p, field="model", non_finite=True)["hidden_size"] != 0
    with pytest.raises(PlannerError, match="hidden_size: expected an integer"):
        load_model(str(p))
    p.write_text('{"hidden_size": 1, "hidden_size": 2}')
    with pytest.raises(PlannerError, match="duplicate key 'hidden_size'"):
        load_json(p, field="model")
    p.write_text(json.dumps({"a": 1}))
    assert load_json(p, field="model") == {"a": 1}


def test_messages_never_echo_the_file(tmp_path):
    secret = "root:x:0:0:SECRET-LINE:/root:/bin/bash"
    p = tmp_path / "passwd"
    p.write_text(f"{secret}\n{secret}: [\n")
    r = CliRunner().invoke(main, ["solve", str(p)])
    assert r.exit_code == 2 and "SECRET-LINE" not in r.output
    sweep = tmp_path / "sw.yaml"
    sweep.write_text(f"base: {p}\nsweep: {{slo.tpot_ms: [20]}}\n")
    out = tmp_path / "out.csv"
    r = CliRunner().invoke(main, ["batch", str(sweep), "--out", str(out), "--workers", "0"])
    assert "SECRET-LINE" not in r.output and (not out.exists() or "SECRET-LINE" not in out.read_text())


def test_points_files_in_other_encodings_get_a_clear_answer(tmp_path):
    p = tmp_path / "points.csv"
    p.write_bytes(Path("validation/points.csv").read_bytes().replace(b"quote", b"quot\xe9"))
    r = CliRunner().invoke(main, ["validate", str(p)])
    assert r.exit_code == 2 and "UTF-8" in r.output and "Traceback" not in r.output


def test_bundled_files_read_alike_with_libyaml_and_the_guarded_loader():
    """The chip catalog and the model presets are parsed with libyaml's C loader for speed; the guarded loader
    (duplicate keys, nesting and alias limits) reads them the same."""
    from planner.inputs.reader import load_bundled_yaml, load_yaml
    from planner.paths import CATALOG_DIR, MODELS_DIR

    files = [CATALOG_DIR / "chips.yaml", *sorted(MODELS_DIR.glob("*.yaml"))]
    assert len(files) > 10
    for path in files:
        assert load_bundled_yaml(path) == load_yaml(path, field="bundled"), path
