"""Prices per chip type and pricing model for plans over periods: on-demand, reserved, spot and owned.

- on-demand: the chip offer's price, else the catalog's ($ per chip-hour, paid for the hours used);
- reserved: `reserved_price_usd_per_hr`, else on-demand x (1 - pricing.reserved.discount); paid for every hour
  of the horizon for every chip committed (used or not);
- spot: `spot_price_usd_per_hr`, else on-demand x (1 - pricing.spot.discount); at most `spot_max_count` per
  period, and a fraction `preemption_headroom` of the spot chips is bought but not counted on;
- owned: up to `owned_count` chips; capex / lifetime hours for every hour (0 when capex is not given: hardware
  already paid for), plus the energy of the hours used: the catalog's power x PUE x $/kWh.

`chip_price_table` gives one row per offered chip with every price in $ per chip-hour (NaN: not offered that way).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.errors import PlannerError
from planner.inputs.chips import load_catalog
from planner.inputs.scenario import Scenario

HOURS_PER_YEAR = 8760.0
PRICE_COLUMNS = ["chip", "on_demand_usd_per_hr", "reserved_usd_per_hr", "spot_usd_per_hr", "spot_max_count",
                 "preemption_headroom", "owned_max_count", "owned_fixed_usd_per_hr", "owned_energy_usd_per_hr",
                 "max_count", "power_kw"]


def _check_offers(sc: Scenario) -> None:
    """Per-chip reserved or spot figures need the pricing model they belong to."""
    for i, c in enumerate(sc.chips):
        if c.reserved_price_usd_per_hr is not None and sc.pricing.reserved is None:
            raise PlannerError("a reserved price needs reserved pricing", field=f"chips[{i}].reserved_price_usd_per_hr",
                               hint="add `pricing: {reserved: {term_months: 12}}` or remove the price")
        if (c.spot_price_usd_per_hr is not None or c.spot_max_count is not None) and sc.pricing.spot is None:
            raise PlannerError("spot figures need spot pricing", field=f"chips[{i}].spot_max_count",
                               hint="add `pricing: {spot: {preemption_headroom: 0.2}}` or remove the spot figures")
        if c.capex_usd is not None and c.owned_count is None:
            raise PlannerError("a capex without owned chips", field=f"chips[{i}].owned_count",
                               hint="give owned_count: the chips you own or may buy")


def chip_price_table(sc: Scenario, catalogs=()) -> pd.DataFrame:
    """One row per offered chip: its price under every pricing model (see the module docstring)."""
    _check_offers(sc)
    cat = load_catalog(tuple(str(c) for c in catalogs))
    p = sc.pricing
    rows = []
    for c in sc.chips:
        chip = cat[c.id]
        od = c.price_usd_per_hr if c.price_usd_per_hr is not None else chip.price_usd_per_hr
        reserved = np.nan
        if p.reserved is not None:
            reserved = c.reserved_price_usd_per_hr if c.reserved_price_usd_per_hr is not None else od * (1 - p.reserved.discount)
        spot, spot_cap, headroom = np.nan, 0.0, 0.0
        if p.spot is not None:
            spot = c.spot_price_usd_per_hr if c.spot_price_usd_per_hr is not None else od * (1 - p.spot.discount)
            cap = c.spot_max_count if c.spot_max_count is not None else p.spot.max_count
            spot_cap = float(cap) if cap is not None else 0.0
            headroom = p.spot.preemption_headroom
        owned = float(c.owned_count or 0)
        fixed = (c.capex_usd or 0.0) / (p.owned.lifetime_years * HOURS_PER_YEAR)
        energy = chip.power_w / 1e3 * p.owned.pue * p.owned.usd_per_kwh
        rows.append({"chip": c.id, "on_demand_usd_per_hr": od, "reserved_usd_per_hr": reserved, "spot_usd_per_hr": spot,
                     "spot_max_count": spot_cap, "preemption_headroom": headroom, "owned_max_count": owned,
                     "owned_fixed_usd_per_hr": fixed, "owned_energy_usd_per_hr": energy,
                     "max_count": float(c.max_count) if c.max_count is not None else np.inf,
                     "power_kw": chip.power_w / 1e3})
    return pd.DataFrame(rows, columns=PRICE_COLUMNS).set_index("chip", drop=False)


def on_demand_only(prices: pd.DataFrame) -> pd.DataFrame:
    """The same chips with reserved, spot and owned taken away (the all-on-demand comparison)."""
    return prices.assign(reserved_usd_per_hr=np.nan, spot_usd_per_hr=np.nan, spot_max_count=0.0, owned_max_count=0.0)
