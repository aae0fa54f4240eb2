"""Scenario files: the bundled ones validate; bad files give one line naming the field."""

from __future__ import annotations

import re

import pytest

from liqcascade.errors import InputError
from liqcascade.scenario import bundled_text, list_scenarios, load_parameters, load_scenario

GOOD = bundled_text("feb-2026")


def test_bundled_scenarios_validate():
    names = [n for n, _ in list_scenarios()]
    assert names == ["feb-2026", "feb-2026-weekend", "oct-2025", "aug-2024"]
    hours = {"feb-2026": 48, "feb-2026-weekend": 48, "oct-2025": 12, "aug-2024": 24}
    for name in names:
        s = load_scenario(name)
        assert s.n_steps == hours[name] * 3600
        assert s.overridden == []
        # aug-2024 has no Hyperliquid (small in 2024, no pre-event figure found)
        assert {m.venue for m in s.spec.markets} >= {"binance", "bybit", "okx"}
    p = load_parameters()
    assert abs(sum(c.notional_share for c in p.population.leverage_mix) - 1) < 1e-12


@pytest.mark.parametrize(
    "edit, field",
    [
        ((r"open_interest_usd = \S+", "open_interest_usd = -9.0e9"), "markets[0].open_interest_usd"),
        ((r"\nkappa = \S+", "\nkappa = 0.0"), "markets[0].kappa"),
        ((r"horizon_hours = 48.0", "horizon_hours = 48.0\nfoo = 1"), "foo"),
        ((r"step_seconds = 1.0", 'step_seconds = "one"'), "step_seconds"),
        ((r'venue = "bybit"', 'venue = "deribit"'), "markets[1].venue"),
        ((r"spot_depth_1pct_usd = \S+", "spot_depth_1pct_usd = -1.0e7"), "assets.BTC.spot_depth_1pct_usd"),
    ],
)
def test_bad_scenarios_name_the_field(tmp_path, edit, field):
    f = tmp_path / "bad.toml"
    bad = re.sub(edit[0], edit[1], GOOD, count=1)
    assert bad != GOOD
    f.write_text(bad)
    with pytest.raises(InputError) as e:
        load_scenario(f)
    assert field in str(e.value)
    assert "\n" not in str(e.value)


def test_venue_without_tiers_for_asset(tmp_path):
    f = tmp_path / "ada.toml"  # ADA: no venue's bundled table lists it
    text = GOOD.replace('asset = "ETH"\nopen_interest_usd', 'asset = "ADA"\nopen_interest_usd', 1)
    assert text != GOOD
    text += '\n[assets.ADA]\nstart_price = 0.2\npath = [["2026-01-10", 0.3], ["2026-02-05", 0.2]]\n'
    f.write_text(text)
    with pytest.raises(InputError, match="no tier table for ADA"):
        load_scenario(f)


def test_overrides_are_applied_and_listed(tmp_path):
    f = tmp_path / "o.toml"
    f.write_text(GOOD + "\n[overrides.market_maker]\nrefill_half_life_s = 60.0\n")
    s = load_scenario(f)
    assert s.params.market_maker.refill_half_life_s == 60.0
    assert s.overridden == ["market_maker.refill_half_life_s"]
    f.write_text(GOOD + "\n[overrides.market_maker]\nnope = 1\n")
    with pytest.raises(InputError, match="overrides.market_maker.nope"):
        load_scenario(f)


def test_unknown_scenario_and_invalid_toml(tmp_path):
    with pytest.raises(InputError, match="no scenario named"):
        load_scenario("feb-2027")
    f = tmp_path / "x.toml"
    f.write_text("name = [")
    with pytest.raises(InputError, match="not valid TOML"):
        load_scenario(f)


def test_cli_lists_and_shows_scenarios():
    from typer.testing import CliRunner

    from liqcascade.cli import app

    r = CliRunner().invoke(app, ["scenarios"])
    assert r.exit_code == 0 and "feb-2026-weekend" in r.output
    r = CliRunner().invoke(app, ["scenario", "show", "feb-2026"])
    assert r.exit_code == 0 and r.output == GOOD
    r = CliRunner().invoke(app, ["scenario", "show", "feb-2099"])
    assert r.exit_code == 2


def test_large_positions_are_placed_and_taken_out_of_open_interest():
    from liqcascade.scenario import build_population

    s = load_scenario("feb-2026-weekend")
    (w,) = s.spec.large_positions
    pop = build_population(s, n_positions=20_000, seed=0)
    notional = pop.size * pop.entry
    assert notional[-1] == pytest.approx(w.notional_usd)
    assert pop.leverage[-1] == w.leverage and pop.side[-1] == 1
    # the standing book (the positions opening during the run come on top of it), built from the
    # market's history: its size at the start price holds the market's open interest
    sel = (pop.venue == pop.venues.index("hyperliquid")) & (pop.asset == pop.assets.index("ETH")) & ~pop.is_pending
    m = next(m for m in s.spec.markets if (m.venue, m.asset) == ("hyperliquid", "ETH"))
    at_start = pop.size * s.spec.assets["ETH"].start_price
    at_start[-1] = notional[-1]  # the large position: its notional at its own entry
    assert at_start[sel].sum() == pytest.approx(m.open_interest_usd, rel=1e-9)
    assert at_start[sel & (pop.side == 1)].sum() == pytest.approx(m.open_interest_usd * m.long_share, rel=1e-9)


def test_large_position_on_a_missing_market_refused(tmp_path):
    # feb-2026 holds every asset on every venue: take its OKX BTC market out
    blocks = GOOD.split("\n[[markets]]\n")
    text = "\n[[markets]]\n".join(b for b in blocks if not b.startswith('venue = "okx"\nasset = "BTC"\n'))
    assert len(text) < len(GOOD)
    f = tmp_path / "w.toml"
    f.write_text(
        text + '\n[[large_positions]]\nvenue = "okx"\nasset = "BTC"\nside = "long"\n'
        "notional_usd = 1e8\nleverage = 10\nentry = 70000\n"
    )
    with pytest.raises(InputError, match=r"large_positions\[0\]"):
        load_scenario(f)
