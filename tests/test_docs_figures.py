"""Figures the docs quote about the bundled scenarios are recomputed here, so a change that moves them fails
until the docs say the new ones (the docs pages named in each case)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from planner.inputs.scenario import load_scenario, validate_scenario
from planner.optimize.solve import solve_scenario
from planner.paths import SCENARIOS_DIR

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _cost(name: str, **update) -> float:
    data = yaml.safe_load((SCENARIOS_DIR / f"{name}.yaml").read_text())
    for k, v in update.items():
        data[k] = {**data[k], **v} if isinstance(v, dict) else v
    return solve_scenario(validate_scenario(data)).summary["cost_usd_per_hr"]


def _money(v: float) -> str:
    return f"${v:g}/h"


def test_traffic_class_costs_quoted_in_axes_and_scenarios():
    shared, dedicated = _cost("traffic-classes-shared"), _cost("traffic-classes-shared", classes_share_pools=False)
    text = f"costs {_money(shared)} shared against {_money(dedicated)} dedicated"
    assert text in " ".join((DOCS / "axes.md").read_text().split())
    assert f"{_money(shared)} against {_money(dedicated)} for dedicated pools" in (DOCS / "scenarios.md").read_text()
    both = f"`traffic-classes.yaml` {_money(_cost('traffic-classes', classes_share_pools=True))} shared against " \
           f"{_money(_cost('traffic-classes'))} dedicated"
    assert both in " ".join((DOCS / "axes.md").read_text().split())


def test_draft_pool_costs_quoted_in_axes():
    res = solve_scenario(load_scenario(SCENARIOS_DIR / "speculative-draft-pool.yaml"), alternatives=True)
    plain = next(a for a in res.summary["alternatives"] if a["architecture"].startswith("no speculation"))
    colocated = _cost("speculative-draft-pool", speculative={"placement": "colocated"})
    text = (f"{_money(res.summary['cost_usd_per_hr'])} against {_money(plain['cost_usd_per_hr'])} without "
            f"speculation; the co-located draft is cheaper still, {_money(colocated)}")
    assert text in " ".join((DOCS / "axes.md").read_text().split())


@pytest.mark.parametrize("name", ["afd-step3"])
def test_afd_costs_quoted_in_axes(name):
    res = solve_scenario(load_scenario(SCENARIOS_DIR / f"{name}.yaml"), alternatives=True)
    pd_alone = next(a for a in res.summary["alternatives"] if a["architecture"] == "disaggregated")
    rel = pd_alone["delta"] / res.summary["cost_usd_per_hr"]
    text = f"AFD decode at {_money(res.summary['cost_usd_per_hr'])}; P/D alone is {100 * rel:.1f} % dearer"
    assert text in " ".join((DOCS / "axes.md").read_text().split())


def test_planning_margins_quoted_in_readme_and_milp():
    from planner.optimize.uncertainty import planning_margins

    m = planning_margins()
    hop, bw, amd = m.of_family("nvidia-hopper"), m.of_family("nvidia-blackwell"), m.of_family("amd-cdna3")

    def pct(v):
        return f"{100 * v:.0f}%"

    readme = " ".join((DOCS.parent / "README.md").read_text().split())
    assert (f"capacity {pct(hop['capacity'])} on Hopper, {pct(bw['capacity'])} on Blackwell, {pct(amd['capacity'])} on "
            f"AMD CDNA3; TPOT {pct(hop['tpot'])} / {pct(bw['tpot'])}; TTFT {pct(hop['ttft'])} / {pct(bw['ttft'])}") in readme
    milp = " ".join((DOCS / "milp.md").read_text().split())
    assert (f"capacity {pct(hop['capacity'])} on Hopper, {pct(bw['capacity'])} on Blackwell, {pct(amd['capacity'])} on "
            "AMD CDNA3") in milp
    assert f"TPOT {pct(hop['tpot'])} on Hopper, {pct(bw['tpot'])} on Blackwell" in milp
