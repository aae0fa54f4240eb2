"""Hyperliquid perps rule book.

- Maintenance rate = half the initial rate at the tier's maximum leverage, ``MMR = 1/(2*maxLev)``,
  with the deduction of the continuity recursion above the first tier.
- Liquidation price ``liq = P - s*margin_available/Q/(1 - l*s)`` with ``l = MMR``: algebraically
  the common equation (tests check the identity).
- Liquidation: market orders to the book, no clearance fee.  Positions above 100,000 USD notional
  are liquidated 20 % at a time with a 30 s cooldown.  When equity falls below 2/3 of the
  maintenance margin the liquidator vault (HLP) takes the position over and keeps what is left.
- ADL when an account's value turns negative: profitable opposite positions ranked by
  ``(mark/entry) * (notional / account value)`` (``entry/mark`` for shorts), closed at the
  previous mark.
- Fills are on-chain: the public record is complete.
- Mark: the median of ``index + EMA(mid - index)`` (a 150 s EMA of the basis), the book's mid and
  the median of CEX perpetual prices (the index over a run's horizon).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from . import margin as _m
from .base import (
    ADL_PRICE_X_NOTIONAL_SHARE,
    STEP_FRACTION_ABOVE,
    KernelSpec,
    LiquidationProcedure,
    VenueRules,
)
from .live import LiveSource
from .registry import register
from .tiers import TierTable


class HyperliquidLive(LiveSource):
    """metaAndAssetCtxs gives mark, oracle (the index) and the hourly funding; the l2Book takes no
    size (about 20 levels a side); ccxt has no leverage-tiers call: the tables come from the info
    endpoint's ``meta`` (``marginTables``).  Symbols are in USDC: a USDT symbol stands for the
    asset's USDC perpetual."""

    market_types = ("swap",)
    book_limit = None
    ticker_params = {"type": "swap"}
    other_quote_stands_in = True
    tiers_info_key = "meta"

    def next_funding(self, next_funding, rate, ts):
        if rate is None:
            return next_funding
        # Hyperliquid pays every hour on the hour; ccxt derives the time from the local clock
        return (ts // 3_600_000 + 1) * 3_600_000

    def leverage_tiers(self, ex, market, call, notes, *, as_of):
        from ..errors import InputError
        from .loaders import from_hyperliquid_meta

        sym = market["symbol"]
        try:
            # ccxt has no leverage-tiers call for Hyperliquid; the info endpoint's meta has the tables
            meta = call.optional("info meta", ex, None, ex.publicPostInfo, {"type": "meta"})
            if meta is None:
                return None, None
            name = (market.get("info") or {}).get("name") or market.get("baseId") or market["base"]
            tables = from_hyperliquid_meta(meta, as_of=as_of)
            table = tables.get(sym) or tables.get(f"{name}/USDC:USDC")
            raw = meta_excerpt(meta, name)
            if table is None:
                notes.append(f"hyperliquid meta has no margin table for {name}")
            return table, raw
        except InputError as exc:
            notes.append(f"{self.ccxt_id}: the leverage tiers could not be read: {exc}")
            return None, None


def meta_excerpt(meta: Any, name: str) -> dict[str, Any]:
    """The asset's universe entry and its margin table (the whole meta lists every asset)."""
    if not isinstance(meta, Mapping):
        return {}
    entry = next((u for u in meta.get("universe", []) if isinstance(u, Mapping) and u.get("name") == name), None)
    tid = None if entry is None else entry.get("marginTableId")
    tables = [t for t in meta.get("marginTables", []) if isinstance(t, list) and t and t[0] == tid]
    return {"universe": [entry] if entry else [], "marginTables": tables}


@register
class Hyperliquid(VenueRules):
    name = "hyperliquid"
    title = "Hyperliquid perps"
    quote = "USDC"
    default_taker_fee = 0.00045
    partial_threshold_usd = 100_000.0
    partial_fraction = 0.20
    backstop_fraction = 2.0 / 3.0
    kernel = KernelSpec(
        step_rule=STEP_FRACTION_ABOVE,
        adl_rule=ADL_PRICE_X_NOTIONAL_SHARE,
        backstop_ratio=backstop_fraction,
        partial_threshold_usd=partial_threshold_usd,
        partial_fraction=partial_fraction,
        cooldown_s=30.0,
        adl_at_previous_mark=True,
        mark_rule="median3",
        mark_window_s=150.0,
        feed_throttle_s=0.0,
    )
    procedure = LiquidationProcedure(
        partial="positions above 100,000 USD: 20 % per step, 30 s cooldown; smaller ones whole",
        cooldown_s=kernel.cooldown_s,
        backstop="liquidator vault (HLP) takes over when equity < 2/3 of maintenance margin",
        fee_recipient="liquidator_vault",
        adl_rule="(mark/entry) x (notional / account value), profitable positions only",
        public_feed="on-chain fills: complete",
        feed_throttle_s=kernel.feed_throttle_s,
        # "Those traders' positions are closed at the previous mark price against the now
        # underwater user" (Hyperliquid docs, Auto-deleveraging)
        adl_price="previous_mark",
    )

    live = HyperliquidLive("hyperliquid")

    def maintenance_rate_at_max_leverage(self, max_leverage: float) -> float:
        """``1/(2*maxLev)``: half the initial margin rate at the maximum leverage.  A pinned maximum
        leverage is a flat margin table at that leverage (what Hyperliquid lists for an asset
        without tiers), so it sets the maintenance rate too, not only the opening check."""
        return 1.0 / (2.0 * float(max_leverage))

    def liquidation_step(self, size, price, table: TierTable):
        size = np.asarray(size, np.float64)
        notional = size * np.asarray(price, np.float64)
        return np.where(notional > self.partial_threshold_usd, size * self.partial_fraction, size)

    def backstop_triggered(self, equity, maintenance):
        return np.asarray(equity, np.float64) < self.backstop_fraction * np.asarray(maintenance, np.float64)

    def adl_rank_key(self, side, size, entry, mark, collateral, maintenance):
        s = _m.as_side(side).astype(np.float64)
        size, entry, mark, collateral = (np.asarray(a, np.float64) for a in (size, entry, mark, collateral))
        upnl = s * size * (mark - entry)
        account_value = np.maximum(collateral + upnl, 1e-12)
        price_factor = np.where(s > 0, mark / entry, entry / mark)
        return np.where(upnl > 0, price_factor * size * mark / account_value, -np.inf)
