"""Issue 19 item 5 on the population built from the market's history: a reduced population
estimates the full-scale figures.

A scenario small enough to run at its real count (the bundled ``feb-2026`` with every USD amount
and holding scaled by 1/50, cut to two hours, with a sell programme in BTC and ETH that crashes
both by ~10 %; its population built from the market's history) is run at its real count (~13,000
positions) and at 5,000 positions, seeds 0 and 1; the reduced runs' full-scale liquidated accounts
and liquidated USD are within 15 % of the real-count runs' (means over the seeds).
(Before the fix the full-scale accounts came out ~3x too high: the scale divided the count
before survivorship by the count after it.)"""

from __future__ import annotations

import re
from importlib import resources

import numpy as np
import pytest

from liqcascade.scenario import bundled_text, load_scenario, run_scenario
from liqcascade.summary import summarize

SCALE = 0.02
REDUCED = 5_000  # of ~13,000 at the real count of the scaled scenario's history-built population
_USD_KEYS = ("open_interest_usd", "depth_1pct_usd", "spot_depth_1pct_usd", "usd", "holdings", "usd_per_s",
             "usd_per_unit_return", "binance", "bybit", "hyperliquid", "okx")


def _scaled_scenario(path):
    text = re.sub(r"(?m)^horizon_hours = .*$", "horizon_hours = 2.0", bundled_text("feb-2026"))
    text = re.sub(rf"(?m)^((?:{'|'.join(_USD_KEYS)}) *= *)([0-9.eE+-]+)",
                  lambda m: f"{m.group(1)}{float(m.group(2)) * SCALE!r}", text)
    for asset, usd in (("BTC", 4e9), ("ETH", 2e9)):
        text += (f'\n[[flows]]\nkind = "sell_programme"\nasset = "{asset}"\nusd = {usd * SCALE!r}\n'
                 "start_hour = 0.25\nend_hour = 1.0\n")
    path.write_text(text, "utf-8")
    # the market series beside it: the population is the one the history builds (the default)
    series = resources.files("liqcascade.scenarios").joinpath("feb-2026.series.csv.gz")
    (path.parent / "feb-2026.series.csv.gz").write_bytes(series.read_bytes())
    return load_scenario(path)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    sc = _scaled_scenario(tmp_path_factory.mktemp("scaled") / "scaled.toml")
    out = {}
    for n in (None, REDUCED):
        for seed in (0, 1):
            run, pop = run_scenario(sc, n_positions=n, seed=seed)
            out[n, seed] = (pop, summarize(run, pop, sc, seed=seed))
    return out


def test_a_reduced_run_draws_about_n(runs):
    for seed in (0, 1):
        pop, s = runs[REDUCED, seed]
        # about N: above it by at most the floors a small draw keeps (8 positions per group of a
        # market, side and leverage component, and enough for each venue's largest tier)
        assert REDUCED <= len(pop) <= REDUCED * 1.15
        full = runs[None, seed][0]
        assert s["population_scale"] * len(pop) == pytest.approx(len(full), rel=0.05)
        assert runs[None, seed][1]["population_scale"] == 1.0


def test_a_reduced_run_estimates_full_scale_accounts_and_usd_within_15_percent(runs):
    full_accounts = np.mean([runs[None, s][1]["accounts_liquidated"] for s in (0, 1)])
    full_usd = np.mean([runs[None, s][1]["liquidations_usd"] for s in (0, 1)])
    assert full_accounts > 1_000  # a cascade, not a handful of positions
    for seed in (0, 1):
        assert runs[REDUCED, seed][1]["accounts_liquidated"] < 0.5 * full_accounts  # counts need the scale
    # ... and get it: the seeds' mean (one seed's cascade differs from another's by ~25 % here,
    # full count or not: the comparison is of the estimates, not of one path)
    est_accounts = np.mean([runs[REDUCED, s][1]["accounts_liquidated_full_scale"] for s in (0, 1)])
    est_usd = np.mean([runs[REDUCED, s][1]["liquidations_usd"] for s in (0, 1)])
    assert est_accounts == pytest.approx(full_accounts, rel=0.15)
    assert est_usd == pytest.approx(full_usd, rel=0.15)
