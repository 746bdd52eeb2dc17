"""One candidate instance through the engine, for tests by hand: a model on a catalog chip with the given columns
(defaults: one chip, batch 1, ISL 1024, fp8 weights and KV)."""

from __future__ import annotations

from planner.engine.candidates import Candidates
from planner.engine.result import EngineResult
from planner.engine.roofline import evaluate
from planner.engine.tables import DTYPE_CODE, ROLE_CODE, ChipTable, ModelTable
from planner.inputs.architecture import ModelArch
from planner.inputs.chips import load_catalog


def evaluate_one(model: ModelArch, chip_id: str, role: str = "decode", **cols) -> EngineResult:
    """The engine's result for `model` on `chip_id` in `role`; `cols` override the candidate's columns (a list gives
    one candidate per value)."""
    base = dict(tp=1, ep=1, pp=1, dp=1, batch=1, isl=1024, osl=2, wdtype=DTYPE_CODE["fp8"], kvdtype=DTYPE_CODE["fp8"])
    c = Candidates.from_columns(role=ROLE_CODE[role], model=0, chip=0, **{**base, **cols})
    return evaluate(c, ModelTable.build([model]), ChipTable.build([load_catalog()[chip_id]]))
