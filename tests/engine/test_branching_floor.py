"""The branching ratio of a wave set off by a move below 1 bp (issue 19 item 6).

``R = L / D`` with ``D`` the book USD within the move that triggered the wave.  A move of a
rounding-sized tick made ``D`` near zero and ``R`` absurd (1.9e15 on the default replay); the
move is now counted as at least ``BR_MIN_MOVE`` = 1 bp.

By hand, on a linear book ``Cum(u) = B*u`` with B = 1e10 USD (Hyperliquid BTC, MMR 1.25 %, no
fee, mark = mid):

- a 9e8 USD sell programme moves the mid 9 %: 100,000 -> 91,000;
- wave 1: long A (LP 91,139.24) is liquidated: 1 BTC = 91,000 USD over the 9 % move, whose depth
  is 1e10 * 0.09 = 9e8 USD (above the floor: unchanged);
- A's sale moves the mid by u = 91,000 / 1e10 = 9.1e-6 (0.09 bp) to 90,999.17;
- wave 2: long B, margin chosen so that LP_B = 90,999.5, is crossed by that 0.09 bp move: L =
  90,999.17 USD; D is the book within 1 bp, 1e10 * 1e-4 = 1e6 USD (it was 91,000 USD within
  the 0.09 bp move itself).
"""

import numpy as np
import pytest

from liqcascade.engine import (
    DepthProfile,
    Flows,
    Liquidity,
    MarketMakerResponse,
    Positions,
    PriceConfig,
    programme,
    simulate,
)
from liqcascade.engine.core import BR_MIN_MOVE

from .reference import simulate_reference

B = 1e10
MMR = 0.0125
LP_B = 90_999.5


def deep_book():
    margin_b = 100_000.0 - LP_B * (1 - MMR)  # LP = (E - M/Q) / (1 - MMR) with Q = 1
    pos = Positions.from_arrays(
        account=[1, 2],
        venue=["hyperliquid"] * 2,
        asset=["BTC"] * 2,
        side=[1, 1],
        size=[1.0, 1.0],
        entry=[100_000.0, 100_000.0],
        margin=[10_000.0, margin_b],
        leverage=[10.0, 9.9],
    )
    liq = Liquidity(
        {("hyperliquid", "BTC"): DepthProfile(B, B, 1.0, 1.0)},
        MarketMakerResponse(vol_sensitivity=0.0, flow_sensitivity=0.0),
    )
    flows = Flows(programmes=[programme("BTC", -9e8 * 86_400, 0.0, 1.0)])
    return pos, liq, PriceConfig({"BTC": 100_000.0}), flows


@pytest.mark.parametrize("engine", [simulate, simulate_reference])
def test_a_wave_set_off_by_a_sub_basis_point_move_is_measured_against_one_bp_of_book(engine):
    assert BR_MIN_MOVE == 1e-4
    run = engine(*deep_book(), n_steps=1)
    w = run.waves
    assert list(w["wave"]) == [1, 2]
    mid_1 = 91_000.0 * (1 - 91_000.0 / B)
    np.testing.assert_allclose(w["liquidated_usd"], [91_000.0, mid_1], rtol=1e-9)
    np.testing.assert_allclose(w["depth_usd"], [B * 0.09, B * 1e-4], rtol=1e-9)
    np.testing.assert_allclose(w["branching_ratio"], [91_000.0 / 9e8, mid_1 / 1e6], rtol=1e-9)
    assert run.summary["branching_ratio_path_max"] == pytest.approx(mid_1 / 1e6, rel=1e-9)
