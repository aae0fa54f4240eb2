"""Bybit USDT perpetual rule book.

- Isolated: maintenance margin is set on the entry value, ``MM = Q*E*MMR - MMD`` with the risk
  limit tier of the position value, so ``LP = E - s*(M - MM)/Q`` stays fixed while the mark
  moves (Bybit's published formula; its example, 1 BTC long at 20,000, 50x, MMR 0.5 % →
  19,700).  The "fee to close" is added to both IM and MM and cancels.
- Cross (and unified accounts): account-level, maintenance on the mark; the common equation.
- Liquidation: the part above the next lower risk-limit tier is closed (fill-or-kill); the
  lowest tier goes to the liquidation engine whole, taken over at the bankruptcy price; the
  margin left above bankruptcy goes to the insurance fund.
- ADL: by profit and effective leverage (exact formula unpublished): PnL% x effective leverage.
- Public liquidation stream (``allLiquidation``): complete.
- Mark: the median of ``index + EMA(mid - index)`` (the 5-minute moving average of the basis),
  the book's mid and the funding-adjusted index ``index * (1 + funding * time to funding)``
  (the index over a run's horizon).
"""

from __future__ import annotations

import numpy as np

from . import margin as _m
from .base import ADL_PNL_X_LEVERAGE, STEP_ONE_TIER_DOWN, KernelSpec, LiquidationProcedure, VenueRules
from .live import LiveSource
from .registry import register
from .tiers import TierTable


class BybitLive(LiveSource):
    """tickers give mark, index and funding; open interest is a series (asked at 5 minutes, ccxt
    would ask hourly points); risk limits are public."""

    market_types = ("linear", "inverse")
    book_limit = 500
    open_interest_params = {"interval": "5m"}


@register
class Bybit(VenueRules):
    name = "bybit"
    title = "Bybit USDT perpetual"
    quote = "USDT"
    default_taker_fee = 0.00055
    kernel = KernelSpec(
        step_rule=STEP_ONE_TIER_DOWN,
        adl_rule=ADL_PNL_X_LEVERAGE,
        fixed_mm_isolated=True,
        cooldown_s=0.0,
        mark_rule="median3",
        mark_window_s=300.0,
        feed_throttle_s=0.0,
    )
    procedure = LiquidationProcedure(
        partial="close the part above the next lower risk-limit tier; the lowest tier whole",
        cooldown_s=kernel.cooldown_s,
        backstop="liquidation engine takes the position over at the bankruptcy price",
        fee_recipient="insurance_fund",
        adl_rule="PnL% x effective leverage (profitable positions only)",
        public_feed="allLiquidation stream: complete",
        feed_throttle_s=kernel.feed_throttle_s,
    )

    live = BybitLive("bybit")

    def maintenance_margin(self, size, price, table, *, entry=None, mode="isolated", taker_fee=None):
        if mode == "isolated":
            if entry is None:
                raise ValueError("Bybit isolated maintenance margin is set on the entry price: pass entry")
            price = np.broadcast_to(np.asarray(entry, np.float64), np.shape(price))
        return super().maintenance_margin(size, price, table, mode=mode, taker_fee=taker_fee)

    def liquidation_price(self, side, size, entry, collateral, table, *, mode="isolated", taker_fee=None):
        if mode == "cross":
            return super().liquidation_price(side, size, entry, collateral, table, mode=mode, taker_fee=taker_fee)
        mm_entry = super().maintenance_margin(size, entry, table)
        return _m.liquidation_price_fixed_mm(side, size, entry, collateral, mm_entry)

    def _tier_at_liquidation(self, size, entry, lp, table, mode):
        if mode == "isolated":  # the risk limit is held by the entry value
            return table.tier_index(table.measure(size, entry))
        return super()._tier_at_liquidation(size, entry, lp, table, mode)

    def liquidation_fee(self, notional, remaining_equity, symbol=None):
        """Everything left above the bankruptcy price goes to the insurance fund (USD)."""
        notional = np.asarray(notional, np.float64)
        return np.broadcast_to(np.maximum(np.asarray(remaining_equity, np.float64), 0.0), notional.shape).copy()

    def liquidation_step(self, size, price, table: TierTable):
        return self._tier_above_step(size, price, table, tiers_down=1)
