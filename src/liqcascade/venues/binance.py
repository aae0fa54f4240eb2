"""Binance USDⓈ-M futures rule book.

- Liquidation price (isolated and cross, one-way): ``LP = (WB - TMM + UPNL + cum - s*Q*E) /
  (Q*MMR - s*Q)``, tier at the liquidation price's notional; no fee term.
- Liquidation: IOC orders to the book, reducing a position tier by tier ("smart" partial
  liquidation); positions in the lowest tier close whole.
- Clearance fee to the insurance fund: 0.3 % of notional on BTC, 0.5 % on others (the historical
  published rates; current per-symbol rates are not confirmed), never more than what is left.
- Shortfall below the bankruptcy price: insurance fund, then ADL at the bankruptcy price.
- ADL ranking: ``max(0, uPnL)/max(1, wallet) * (maintenance margin / margin balance)``.
- Public liquidation stream: at most one print per symbol per second ("for each symbol, only the
  latest one liquidation order within 1000ms will be pushed as the snapshot").
- Mark: the median of ``index + EMA(mid - index)`` over a 5-minute window of the basis, the last
  and best prices (the book's mid) and the funding-adjusted index (the index over a run's horizon).
"""

from __future__ import annotations

import numpy as np

from . import margin as _m
from .base import ADL_PNL_X_MARGIN_RATIO, STEP_ONE_TIER_DOWN, KernelSpec, LiquidationProcedure, VenueRules
from .live import LiveSource, interval_hours, short
from .registry import register
from .tiers import TierTable


class BinanceLive(LiveSource):
    """premiumIndex gives mark, index and funding; the funding interval is 8 h unless
    ``fundingInfo`` lists the symbol; ``/fapi/v1/leverageBracket`` needs an API key (skipped with
    a note unless the ccxt instance has credentials)."""

    market_types = ("linear", "inverse")
    book_limit = 1000
    no_tiers_note = "binance: without tiers from the venue, liqcascade.venues' bundled Binance table applies"

    def funding_interval(self, ex, sym, call, notes):
        ccxt = call.ccxt
        try:
            fi = ex.fetch_funding_interval(sym)
        except ccxt.NetworkError as exc:
            raise call.network_error("fetch_funding_interval", exc) from None
        except ccxt.NullResponse:
            # fundingInfo lists only the symbols whose interval or caps were adjusted
            notes.append(
                f"binance: {sym} is not in fundingInfo (symbols with adjusted intervals): the default 8 h applies"
            )
            return 8.0, None
        except ccxt.BaseError as exc:
            notes.append(f"binance: fetch_funding_interval failed: {short(exc, 160)}; interval unknown")
            return None, None
        return interval_hours(fi.get("interval")), fi.get("info")


@register
class Binance(VenueRules):
    name = "binance"
    title = "Binance USDⓈ-M"
    quote = "USDT"
    default_taker_fee = 0.0005
    clearance_fee_btc = 0.003
    clearance_fee_other = 0.005
    kernel = KernelSpec(
        step_rule=STEP_ONE_TIER_DOWN,
        adl_rule=ADL_PNL_X_MARGIN_RATIO,
        cooldown_s=0.0,
        mark_rule="median3",
        mark_window_s=300.0,
        feed_throttle_s=1.0,
    )
    procedure = LiquidationProcedure(
        partial="reduce to the next lower tier per step; the lowest tier closes whole",
        cooldown_s=kernel.cooldown_s,
        backstop="none: the insurance fund covers fills below bankruptcy, then ADL",
        fee_recipient="insurance_fund",
        adl_rule="max(0,uPnL)/max(1,wallet balance) x margin ratio (MM / margin balance)",
        public_feed="forceOrder stream: only the latest liquidation per symbol within each second",
        feed_throttle_s=kernel.feed_throttle_s,
    )

    live = BinanceLive("binance")

    def clearance_rate(self, symbol: str | None) -> float:
        """Clearance (liquidation) fee rate, fraction of the liquidated notional."""
        return self.clearance_fee_btc if symbol and symbol.upper().startswith("BTC/") else self.clearance_fee_other

    def liquidation_fee(self, notional, remaining_equity, symbol=None):
        notional = np.asarray(notional, np.float64)
        rem = np.maximum(np.asarray(remaining_equity, np.float64), 0.0)
        return np.minimum(notional * self.clearance_rate(symbol), rem)

    def liquidation_step(self, size, price, table: TierTable):
        return self._tier_above_step(size, price, table, tiers_down=1)

    def adl_rank_key(self, side, size, entry, mark, collateral, maintenance):
        s = _m.as_side(side).astype(np.float64)
        size, entry, mark, collateral, maintenance = (
            np.asarray(a, np.float64) for a in (size, entry, mark, collateral, maintenance)
        )
        upnl = s * size * (mark - entry)
        balance = collateral + upnl
        pnl_pct = np.maximum(upnl, 0.0) / np.maximum(collateral, 1.0)
        margin_ratio = maintenance / np.maximum(balance, 1e-12)
        return np.where(upnl > 0, pnl_pct * margin_ratio, -np.inf)
