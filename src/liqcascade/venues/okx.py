"""OKX linear perpetual swap rule book.

- Margin ratio = (margin + uPnL) / (ctVal * contracts * mark * (MMR + taker fee)); liquidation at
  100 %: ``LP_long = (E - M/Q)/(1 - (MMR + fee))``, ``LP_short = (E + M/Q)/(1 + (MMR + fee))``.
  The taker fee sits in the maintenance requirement; there is no maintenance amount.
- Tiers are defined in contracts (``ctVal`` base units each), so the tier follows the size alone.
- Liquidation: above tier 3 the position is reduced two tiers at a time; tiers 1-2 are closed
  whole (taken over at the bankruptcy price).  Liquidation penalty (the taker fee rate on the
  notional) to the insurance fund.
- ADL when the insurance fund cannot cover a loss: PnL% x effective leverage.
- Public liquidation feed: throttled, taken as one print per symbol per second.
- Mark: ``index + EMA(mid - index)`` alone (``mark_rule="index_ema"``); the EMA's window is not
  published, 5 minutes assumed.
"""

from __future__ import annotations

import numpy as np

from .base import ADL_PNL_X_LEVERAGE, STEP_TWO_TIERS_DOWN, KernelSpec, LiquidationProcedure, VenueRules
from .live import LiveSource, number
from .registry import register
from .tiers import TierTable


class OKXLive(LiveSource):
    """mark-price and index-tickers give mark and index, funding-rate the funding; open interest
    and position tiers are in contracts."""

    market_types = ("swap",)
    book_limit = 400

    def index(self, ex, market, call):
        # ccxt has no unified index-price call for OKX; its implicit public endpoint is the index ticker
        family = (market.get("info") or {}).get("instFamily") or (market.get("info") or {}).get("uly")
        if not family:
            return None, None
        raw = call.optional("index-tickers", ex, None, ex.publicGetMarketIndexTickers, {"instId": family})
        rows = (raw or {}).get("data") or []
        return (number(rows[0].get("idxPx")), rows[0]) if rows else (None, raw)


@register
class OKX(VenueRules):
    name = "okx"
    title = "OKX linear swap"
    quote = "USDT"
    default_taker_fee = 0.0005
    fee_in_maintenance = True
    kernel = KernelSpec(
        step_rule=STEP_TWO_TIERS_DOWN,
        adl_rule=ADL_PNL_X_LEVERAGE,
        cooldown_s=0.0,
        mark_rule="index_ema",
        mark_window_s=300.0,
        feed_throttle_s=1.0,
    )
    procedure = LiquidationProcedure(
        partial="above tier 3 reduce two tiers per step; tiers 1-2 close whole",
        cooldown_s=kernel.cooldown_s,
        backstop="tiers 1-2 taken over whole at the bankruptcy price",
        fee_recipient="insurance_fund",
        adl_rule="PnL% x effective leverage (profitable positions only)",
        public_feed="liquidation-orders channel: throttled, one print per symbol per second",
        feed_throttle_s=kernel.feed_throttle_s,
    )

    live = OKXLive("okx")

    def liquidation_fee(self, notional, remaining_equity, symbol=None):
        notional = np.asarray(notional, np.float64)
        rem = np.maximum(np.asarray(remaining_equity, np.float64), 0.0)
        return np.minimum(notional * self.default_taker_fee, rem)

    def liquidation_step(self, size, price, table: TierTable):
        size = np.asarray(size, np.float64)
        k = self._step_tier(size, price, table)
        step = self._tier_above_step(size, price, table, tiers_down=2)
        return np.where(k >= 2, step, size)
