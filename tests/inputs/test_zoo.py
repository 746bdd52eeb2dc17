"""The whole model zoo (models/zoo, 86 config.json files of current open models): every config imports with total
and active parameters within 2% of its published figures (or within the figure's own rounding: "1T" is given to
one digit), or is refused with exit 2 naming the config field the planner does not model. Never silently wrong.

Published figures: models/zoo/published_params.csv (one row per architecture, its source, and what the publisher's
active count includes: the LM head, the input embedding too, or neither; a total is of every parameter unless
the row says it leaves the input embedding out)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from planner.errors import PlannerError
from planner.inputs.models import load_model, zoo_ids
from planner.paths import ZOO_DIR

PUBLISHED = pd.read_csv(ZOO_DIR / "published_params.csv")


def _published(hf_id: str) -> pd.Series | None:
    rows = PUBLISHED[[bool(re.search(p, hf_id)) for p in PUBLISHED["pattern"]]]
    assert len(rows) <= 1, f"{hf_id} matches several rows of published_params.csv"
    return rows.iloc[0] if len(rows) else None


def _counts(m, active_counts: str, total_counts: str) -> tuple[float, float]:
    emb = 0.0 if m.tie_embeddings else m.vocab_size * m.hidden_size / 1e9  # the input table, when apart
    total = m.total_params / 1e9 - (emb if total_counts == "without_input_embedding" else 0.0)
    active = m.active_params / 1e9 + {"lm_head": 0.0, "lm_head+embedding": emb, "none": -emb}[active_counts]
    return total, active


@pytest.mark.parametrize("hf_id", sorted(zoo_ids()))
def test_every_zoo_config_imports_right_or_is_refused_by_name(hf_id):
    try:
        m = load_model(zoo_ids()[hf_id])
    except PlannerError as exc:
        assert exc.exit_code == 2 and exc.field and exc.field.startswith("config.json."), str(exc)
        assert "not modelled" in str(exc)
        return
    pub = _published(hf_id)
    assert pub is not None, f"{hf_id} imports but has no published figures in published_params.csv"
    total, active = _counts(m, pub["active_counts"], pub["total_counts"])
    for what, ours, theirs in (("total", total, pub["total_b"]), ("active", active, pub["active_b"])):
        tolerance = max(0.02 * theirs, pub["rounding_b"])
        assert abs(ours - theirs) <= tolerance, f"{hf_id} {what}: {ours:.2f}B vs published {theirs}B ({pub['source']})"


def test_every_zoo_config_imports():
    refused = {}
    for hf_id, path in zoo_ids().items():
        try:
            load_model(path)
        except PlannerError as exc:
            refused[hf_id] = exc.field
    assert len(zoo_ids()) == 86 and not refused, sorted(refused)
