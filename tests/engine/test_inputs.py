"""Bad parameters are refused before the run, with a message naming the field."""

import numpy as np
import pytest

from liqcascade.engine import (
    Cohort,
    DepthProfile,
    Flows,
    Liquidity,
    MarketMakerResponse,
    Positions,
    PriceConfig,
    simulate,
    stop_losses,
)
from liqcascade.errors import InputError

from .markets import liquidity, prices, random_positions


def one(**over):
    kw = dict(
        account=[0],
        venue=["binance"],
        asset=["BTC"],
        side=[1],
        size=[0.1],
        entry=[100_000.0],
        margin=[1_000.0],
        leverage=[10.0],
    )
    kw.update(over)
    return Positions.from_arrays(**kw)


@pytest.mark.parametrize(
    "over, field",
    [
        (dict(leverage=[150.0], margin=[100.0]), "leverage"),  # Binance BTC tier 1 allows 125x
        (dict(size=[5.0], leverage=[110.0], margin=[5_000.0]), "leverage"),  # 500k notional sits in tier 2 (100x)
        (dict(size=[0.0]), "size"),
        (dict(size=[-1.0]), "size"),
        (dict(entry=[np.nan]), "entry"),
        (dict(margin=[10.0]), "margin"),  # below size*entry/leverage
        (dict(side=[0]), "side"),
        (dict(size=[1e6], margin=[1e11], leverage=[1.0]), "size"),  # beyond the largest tier
        (dict(venue=["deribit"]), "venue"),
    ],
)
def test_bad_positions_refused(over, field):
    with pytest.raises(InputError) as e:
        one(**over)
    assert e.value.field == field


def test_two_cross_positions_in_one_market_refused():
    with pytest.raises(InputError, match="two cross positions in one market"):
        Positions.from_arrays(
            account=[7, 7],
            venue=["binance"] * 2,
            asset=["BTC", "BTC"],
            side=[1, -1],
            size=[0.1, 0.1],
            entry=[100_000.0, 100_000.0],
            margin=[1_000.0, 1_000.0],
            leverage=[10.0, 10.0],
            mode=["cross", "cross"],
        )


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda: DepthProfile(-1.0, 1e8), "bid_b"),
        (lambda: DepthProfile(1e8, 1e8, 0.0, 1.0), "bid_kappa"),
        (lambda: DepthProfile(1e8, 1e8, 1.0, -2.0), "ask_kappa"),
        (lambda: DepthProfile.from_depth_1pct(-5.0), "depth_1pct"),
        (lambda: DepthProfile.from_depth_1pct(1e6, kappa=0.0), "kappa"),
        (lambda: MarketMakerResponse(min_multiplier=0.0), "min_multiplier"),
        (lambda: MarketMakerResponse(refill_half_life_s=-1.0), "refill_half_life_s"),
        (lambda: PriceConfig({"BTC": -1.0}), "initial"),
        (lambda: PriceConfig({"BTC": 1.0}, arbitrage_rate=-0.1), "arbitrage_rate"),
        (lambda: Cohort("x", "BTC", holdings=-5.0), "holdings"),
        (lambda: stop_losses("BTC", [90_000.0, 80_000.0], [10.0, 10.0], side=-1, holdings=15.0), "size"),
    ],
)
def test_bad_model_parameters_refused(make, field):
    with pytest.raises(InputError) as e:
        make()
    assert e.value.field == field


@pytest.mark.parametrize(
    "kw, field",
    [
        (dict(n_steps=0), "n_steps"),
        (dict(n_steps=10, dt=0.0), "dt"),
        (dict(n_steps=10, adl_rule="socialise"), "adl_rule"),
        (dict(n_steps=10, insurance_fund=-1.0), "insurance_fund"),
    ],
)
def test_bad_run_parameters_refused(kw, field):
    pos = random_positions(0, 10)
    with pytest.raises(InputError) as e:
        simulate(pos, liquidity(), prices(), **kw)
    assert e.value.field == field


def test_missing_depth_profile_refused():
    pos = random_positions(0, 10)
    liq = Liquidity({("binance", "BTC"): DepthProfile.from_depth_1pct(1e6)})
    with pytest.raises(InputError, match="no depth profile"):
        simulate(pos, liq, prices(), n_steps=5)
