"""Issue 19 item 5: a reduced population estimates the full-scale figures.

A scenario small enough to run at its real count (the bundled ``feb-2026`` with every USD amount
and holding scaled by 1/50, cut to two hours, with a sell programme in BTC and ETH that crashes
both by ~10 %) is run at its real count (~24,000 positions) and at 8,000 positions; the reduced
runs' full-scale liquidated accounts and liquidated USD are within 15 % of the real-count runs'.
(Before the fix the full-scale accounts came out ~3x too high: the scale divided the count
before survivorship by the count after it.)"""

from __future__ import annotations

import re

import numpy as np
import pytest

from liqcascade.scenario import bundled_text, load_scenario, run_scenario
from liqcascade.summary import summarize

SCALE = 0.02
_USD_KEYS = ("open_interest_usd", "depth_1pct_usd", "spot_depth_1pct_usd", "usd", "holdings", "usd_per_s",
             "usd_per_unit_return", "binance", "bybit", "hyperliquid", "okx")


def _scaled_scenario(path):
    text = re.sub(r"(?m)^horizon_hours = .*$", "horizon_hours = 2.0", bundled_text("feb-2026"))
    # without the market series: the population from the stated paths (the history-built one:
    # test_population_scale_history.py)
    text = text.split("\n[series]", 1)[0] + "\n"
    text = re.sub(rf"(?m)^((?:{'|'.join(_USD_KEYS)}) *= *)([0-9.eE+-]+)",
                  lambda m: f"{m.group(1)}{float(m.group(2)) * SCALE!r}", text)
    for asset, usd in (("BTC", 4e9), ("ETH", 2e9)):
        text += (f'\n[[flows]]\nkind = "sell_programme"\nasset = "{asset}"\nusd = {usd * SCALE!r}\n'
                 "start_hour = 0.25\nend_hour = 1.0\n")
    path.write_text(text, "utf-8")
    return load_scenario(path)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    sc = _scaled_scenario(tmp_path_factory.mktemp("scaled") / "scaled.toml")
    out = {}
    for n in (None, 8_000):
        for seed in (0, 1):
            run, pop = run_scenario(sc, n_positions=n, seed=seed)
            out[n, seed] = (pop, summarize(run, pop, sc, seed=seed))
    return out


def test_a_reduced_run_draws_about_n(runs):
    for seed in (0, 1):
        pop, s = runs[8_000, seed]
        assert len(pop) == pytest.approx(8_000, rel=0.05)
        full = runs[None, seed][0]
        assert s["population_scale"] * len(pop) == pytest.approx(len(full), rel=0.03)
        assert runs[None, seed][1]["population_scale"] == 1.0


def test_a_reduced_run_estimates_full_scale_accounts_and_usd_within_15_percent(runs):
    full_accounts = np.mean([runs[None, s][1]["accounts_liquidated"] for s in (0, 1)])
    full_usd = np.mean([runs[None, s][1]["liquidations_usd"] for s in (0, 1)])
    assert full_accounts > 1_000  # a cascade, not a handful of positions
    for seed in (0, 1):
        s = runs[8_000, seed][1]
        assert s["accounts_liquidated"] < 0.5 * full_accounts  # counts need the scale ...
        assert s["accounts_liquidated_full_scale"] == pytest.approx(full_accounts, rel=0.15)  # ... and get it
        assert s["liquidations_usd"] == pytest.approx(full_usd, rel=0.15)
