"""A fictional venue in one file: what adding a venue to liqcascade takes.

"FictEx" lists BTC and ETH linear perpetuals (tier tables inline below), keeps the common margin
equation (inherited from :class:`VenueRules`), liquidates positions above 50,000 USD notional a
quarter at a time with a 10 s cooldown, hands a position to its backstop when equity falls
below half the maintenance margin, charges a 0.4 % clearance fee to its insurance fund, ranks
ADL by PnL fraction x effective leverage (inherited), marks at ``index + EMA(basis)`` over 60 s
and prints at most one liquidation per symbol every 2 s on its public feed.

Importing the module registers the venue (``@register``), as a bundled venue module does; tests
that import it remove it again with ``liqcascade.venues.unregister("fictex")``.
"""

from __future__ import annotations

import numpy as np

from liqcascade.venues import (
    ADL_PNL_X_LEVERAGE,
    STEP_FRACTION_ABOVE,
    KernelSpec,
    LiquidationProcedure,
    TierTable,
    VenueRules,
    register,
)

#: the venue's tier tables (USD notional; maintenance amounts by the continuity recursion)
TIERS = {
    "BTC/USDT:USDT": [
        dict(floor=0.0, cap=100_000.0, max_leverage=100.0, mmr=0.004),
        dict(floor=100_000.0, cap=1_000_000.0, max_leverage=50.0, mmr=0.008),
        dict(floor=1_000_000.0, cap=10_000_000.0, max_leverage=20.0, mmr=0.02),
        dict(floor=10_000_000.0, cap=100_000_000.0, max_leverage=5.0, mmr=0.08),
    ],
    "ETH/USDT:USDT": [
        dict(floor=0.0, cap=50_000.0, max_leverage=75.0, mmr=0.005),
        dict(floor=50_000.0, cap=2_000_000.0, max_leverage=25.0, mmr=0.015),
        dict(floor=2_000_000.0, cap=50_000_000.0, max_leverage=5.0, mmr=0.08),
    ],
}


@register
class FictEx(VenueRules):
    name = "fictex"
    title = "FictEx linear perpetual (fictional)"
    quote = "USDT"
    default_taker_fee = 0.0004
    clearance_fee = 0.004
    partial_threshold_usd = 50_000.0
    partial_fraction = 0.25
    backstop_fraction = 0.5
    kernel = KernelSpec(
        step_rule=STEP_FRACTION_ABOVE,
        adl_rule=ADL_PNL_X_LEVERAGE,
        backstop_ratio=backstop_fraction,
        partial_threshold_usd=partial_threshold_usd,
        partial_fraction=partial_fraction,
        cooldown_s=10.0,
        mark_rule="index_ema",
        mark_window_s=60.0,
        feed_throttle_s=2.0,
    )
    procedure = LiquidationProcedure(
        partial="positions above 50,000 USD: 25 % per step, 10 s cooldown; smaller ones whole",
        cooldown_s=kernel.cooldown_s,
        backstop="backstop takes over when equity < 1/2 of maintenance margin",
        fee_recipient="insurance_fund",
        adl_rule="PnL% x effective leverage (profitable positions only)",
        public_feed="one print per symbol every 2 s",
        feed_throttle_s=kernel.feed_throttle_s,
    )

    @classmethod
    def _bundled_tables(cls) -> dict[str, list[TierTable]]:
        return {s: [TierTable.from_rows(cls.name, s, rows, source="fictional")] for s, rows in TIERS.items()}

    def liquidation_fee(self, notional, remaining_equity, symbol=None):
        notional = np.asarray(notional, np.float64)
        rem = np.maximum(np.asarray(remaining_equity, np.float64), 0.0)
        return np.minimum(notional * self.clearance_fee, rem)

    def liquidation_step(self, size, price, table: TierTable):
        size = np.asarray(size, np.float64)
        notional = size * np.asarray(price, np.float64)
        return np.where(notional > self.partial_threshold_usd, size * self.partial_fraction, size)

    def backstop_triggered(self, equity, maintenance):
        return np.asarray(equity, np.float64) < self.backstop_fraction * np.asarray(maintenance, np.float64)
