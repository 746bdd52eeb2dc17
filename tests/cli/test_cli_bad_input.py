"""Bad input gets exit 2 and a message naming the field, never a traceback: non-finite flags, booleans where
numbers belong, infinite catalog values."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from planner.cli import main
from planner.paths import SCENARIOS_DIR

CHAT = SCENARIOS_DIR / "llama70b-chat.yaml"


@pytest.mark.parametrize("flag, value", [("--margin", "nan"), ("--time-limit", "inf"), ("--mip-gap", "nan")])
def test_non_finite_flags_are_refused(flag, value):
    r = CliRunner().invoke(main, ["solve", str(CHAT), flag, value])
    assert r.exit_code == 2 and flag in r.output and "not a finite number" in r.output


def test_a_boolean_is_not_a_price(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(CHAT.read_text().replace("price_usd_per_hr: 2.5", "price_usd_per_hr: true", 1))
    r = CliRunner().invoke(main, ["solve", str(p)])
    assert r.exit_code == 2 and "chips[0].price_usd_per_hr" in r.output and "valid number" in r.output


def test_an_infinite_catalog_value_is_refused(tmp_path):
    ov = tmp_path / "ov.yaml"
    ov.write_text("chips:\n  - {id: h100-sxm, price_usd_per_hr: .inf}\n")
    r = CliRunner().invoke(main, ["solve", str(CHAT), "--catalog", str(ov)])
    assert r.exit_code == 2 and "price_usd_per_hr" in r.output and "finite" in r.output


def test_names_are_text_not_markup_or_math(tmp_path):
    """A scenario name with terminal markup and plot math solves, plots and prints as written."""
    p = tmp_path / "s.yaml"
    p.write_text(CHAT.read_text().replace("name: llama70b-chat", 'name: "bad [/] $x^$ [link=http://x]y"', 1))
    r = CliRunner().invoke(main, ["solve", str(p)])
    assert r.exit_code == 0, r.output
    assert "bad [/] $x^$ [link=http://x]y" in r.output
    r = CliRunner().invoke(main, ["pareto", str(p), "--points", "3", "--plot", str(tmp_path / "p.png")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_an_unknown_draft_model_is_named_as_such(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text((SCENARIOS_DIR / "speculative-draft.yaml").read_text().replace("draft_model: llama-3.2-1b",
                                                                               "draft_model: nope-1b"))
    r = CliRunner().invoke(main, ["solve", str(p)])
    assert r.exit_code == 2 and "speculative.draft_model: unknown model 'nope-1b'" in r.output


def test_a_boolean_is_not_a_catalog_price(tmp_path):
    ov = tmp_path / "ov.yaml"
    ov.write_text("chips:\n  - {id: h100-sxm, price_usd_per_hr: true}\n")
    r = CliRunner().invoke(main, ["solve", str(CHAT), "--catalog", str(ov)])
    assert r.exit_code == 2 and "catalog[h100-sxm].price_usd_per_hr" in r.output and "valid number" in r.output


def test_mtp_on_a_model_without_mtp_heads_is_refused(tmp_path):
    """It used to plan 19% cheaper with draft heads the model does not have."""
    text = (SCENARIOS_DIR / "speculative-mtp.yaml").read_text()
    p = tmp_path / "s.yaml"
    p.write_text(text.replace("model: deepseek-v3", "model: llama-3.1-70b"))
    r = CliRunner().invoke(main, ["solve", str(p)])
    assert r.exit_code == 2 and "speculative.method" in r.output and "no multi-token-prediction" in r.output


def test_a_model_name_too_long_for_a_file_name_is_an_unknown_model(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(CHAT.read_text().replace("model: llama-3.1-70b", "model: " + "x" * 300, 1))
    r = CliRunner().invoke(main, ["solve", str(p)])
    assert r.exit_code == 2 and "unknown model" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["estimate", "--model", "y" * 300, "--chip", "h100-sxm"])
    assert r.exit_code == 2 and "unknown model" in r.output
