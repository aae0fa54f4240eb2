"""The interface every venue rule book implements.

A rule book is the one place a venue's formulas, tier tables, liquidation procedure, fees, ADL
rule, mark rule and public-feed throttle live, and what the compiled engine needs of them
(:class:`KernelSpec`: integer rule codes and numeric parameters).  The engine, the scenarios and
the CLI talk to :class:`VenueRules` and the registry (:mod:`liqcascade.venues.registry`) only;
adding a venue is adding one module that registers its rule book.

Units: sizes in base units (BTC), prices in USD per base unit, margins and fees in USD, rates as
fractions (0.005 = 0.5 %), times in seconds.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import json
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any, ClassVar, Literal, Mapping, Sequence

import numpy as np

from ..errors import InputError
from . import margin as _m
from .tiers import TierTable, table_date

Mode = Literal["isolated", "cross"]

# ---------------------------------------------------------------------------------- kernel codes
# The compiled loop (liqcascade.engine.core) switches on these integer codes; a rule book declares
# which of them restates its methods (tests/engine/test_rules_mirror.py holds the two together).
#: liquidation step rules (:attr:`KernelSpec.step_rule`): the whole position; the part above the
#: next lower tier's cap; two tiers down, whole in the lowest two tiers; ``partial_fraction`` of
#: positions above ``partial_threshold_usd`` notional, smaller ones whole
STEP_WHOLE, STEP_ONE_TIER_DOWN, STEP_TWO_TIERS_DOWN, STEP_FRACTION_ABOVE = 0, 1, 2, 3
#: ADL ranking keys (:attr:`KernelSpec.adl_rule`), profitable positions only: PnL fraction x
#: effective leverage; ``max(0, uPnL)/max(1, wallet) x maintenance / margin balance``;
#: ``(mark/entry)`` (``entry/mark`` for shorts) ``x notional / account value``
ADL_PNL_X_LEVERAGE, ADL_PNL_X_MARGIN_RATIO, ADL_PRICE_X_NOTIONAL_SHARE = 0, 1, 2
#: mark rules: the median of ``index + EMA(mid - index)``, the venue's mid and the index; or
#: ``index + EMA(mid - index)`` alone
MARK_RULES = ("median3", "index_ema")
#: relative tolerance of the tier a liquidation step starts from (:meth:`VenueRules._tier_above_step`)
STEP_CAP_RTOL = 1e-12


@dataclass(frozen=True)
class KernelSpec:
    """What the compiled engine needs of a venue, declared by its rule book.

    The integer codes name which of the kernel's restatements a rule book's methods follow
    (``step_rule``: :meth:`VenueRules.liquidation_step`, ``STEP_*``; ``adl_rule``:
    :meth:`VenueRules.adl_rank_key`, ``ADL_*``); the numbers are the rule book's parameters.
    The liquidation fee is not declared: the engine probes :meth:`VenueRules.liquidation_fee`.
    """

    step_rule: int = STEP_WHOLE
    adl_rule: int = ADL_PNL_X_LEVERAGE
    #: isolated maintenance margin set on the entry value (the liquidation price stays fixed)
    fixed_mm_isolated: bool = False
    #: the backstop (vault or engine takeover at the bankruptcy price, of a position or a whole
    #: cross account) takes over where equity < ratio x maintenance margin; 0: no backstop
    backstop_ratio: float = 0.0
    #: ``STEP_FRACTION_ABOVE``: positions above this notional (USD) close this fraction per step
    partial_threshold_usd: float = math.inf
    partial_fraction: float = 1.0
    #: seconds between two partial steps of one position (or one cross account)
    cooldown_s: float = 0.0
    #: ADL closes at the mark before the triggering update (else at the bankruptcy price)
    adl_at_previous_mark: bool = False
    #: one of :data:`MARK_RULES`
    mark_rule: str = "median3"
    #: the basis EMA's window, seconds
    mark_window_s: float = 300.0
    #: the public liquidation feed prints only the latest liquidation of a symbol within this
    #: many seconds; 0: every one
    feed_throttle_s: float = 0.0

    def __post_init__(self):
        def bad(field: str, why: str):
            raise InputError(f"kernel spec: {field} {why}", field=field)

        if self.step_rule not in (STEP_WHOLE, STEP_ONE_TIER_DOWN, STEP_TWO_TIERS_DOWN, STEP_FRACTION_ABOVE):
            bad("step_rule", f"must be one of the STEP_* codes, got {self.step_rule!r}")
        if self.adl_rule not in (ADL_PNL_X_LEVERAGE, ADL_PNL_X_MARGIN_RATIO, ADL_PRICE_X_NOTIONAL_SHARE):
            bad("adl_rule", f"must be one of the ADL_* codes, got {self.adl_rule!r}")
        if self.mark_rule not in MARK_RULES:
            bad("mark_rule", f"must be one of {', '.join(MARK_RULES)}, got {self.mark_rule!r}")
        if not (math.isfinite(self.backstop_ratio) and self.backstop_ratio >= 0):
            bad("backstop_ratio", "must be a non-negative ratio (0: no backstop)")
        if not (self.partial_threshold_usd >= 0 and 0 < self.partial_fraction <= 1):
            bad("partial_fraction", "must be in (0, 1] with a non-negative threshold")
        for name in ("cooldown_s", "feed_throttle_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                bad(name, "must be a non-negative number of seconds")
        if not (math.isfinite(self.mark_window_s) and self.mark_window_s > 0):
            bad("mark_window_s", "must be a positive number of seconds")


@dataclass(frozen=True)
class MarginFigures:
    """Result of :meth:`VenueRules.margin_figures`; every field is a float64 array (USD unless
    named otherwise).

    ``tier`` is 1-based: the tier that holds the position at the liquidation price (for
    contract-based tables, at its size).  ``maintenance_margin`` is the requirement the
    liquidation test compares equity with, at the liquidation price; at that price
    ``equity == maintenance_margin``.
    """

    liquidation_price: np.ndarray
    bankruptcy_price: np.ndarray
    maintenance_margin: np.ndarray
    maintenance_margin_at_entry: np.ndarray
    tier: np.ndarray
    mmr: np.ndarray


@dataclass(frozen=True)
class LiquidationProcedure:
    """What one liquidation step on a venue does (documented per venue)."""

    partial: str  # how much of a position one step closes, in words
    cooldown_s: float  # seconds between two partial steps of one position
    backstop: str  # who takes a position over, and when
    fee_recipient: str  # "insurance_fund" or "liquidator_vault"
    adl_rule: str  # the ranking key, in words
    public_feed: str  # what the venue's public liquidation stream reports
    feed_throttle_s: float  # 0 = complete; 1 = at most one print per symbol per second
    #: the price at which ADL closes the opposite positions: ``"bankruptcy"`` (the liquidated
    #: position's bankruptcy price) or ``"previous_mark"`` (the mark before the update that
    #: triggered the liquidation: Hyperliquid)
    adl_price: str = "bankruptcy"


class VenueRules:
    """Base class of the rule books.

    Subclasses set the class attributes and override the few methods where the venue departs
    from the common equation (:mod:`liqcascade.venues.margin`).
    """

    name: ClassVar[str]
    title: ClassVar[str]
    quote: ClassVar[str] = "USDT"
    default_taker_fee: ClassVar[float] = 0.0005
    #: whether the taker fee is added to the maintenance rate in the liquidation test (OKX)
    fee_in_maintenance: ClassVar[bool] = False
    procedure: ClassVar[LiquidationProcedure]
    #: what the compiled engine needs (the default restates the base class's methods: whole
    #: positions per step, ADL by PnL fraction x effective leverage, no backstop)
    kernel: ClassVar[KernelSpec] = KernelSpec()
    #: how a live snapshot of the venue is fetched (ccxt); None: the venue has no live source
    live: ClassVar[Any] = None

    def __init__(self, tables: Mapping[str, TierTable | Sequence[TierTable]] | None = None, *, as_of: Any = None):
        """``tables``: per symbol one table or its dated versions (default: the bundled ones);
        ``as_of``: the date :meth:`tier_table` looks tables up at when not told (default: the
        latest version)."""
        raw = tables if tables is not None else self._bundled_tables()
        self._versions: dict[str, list[TierTable]] = {}
        for symbol, value in raw.items():
            versions = [value] if isinstance(value, TierTable) else list(value)
            if not versions:
                raise InputError(f"{self.name} {symbol}: no tier table", field="tiers")
            if len(versions) > 1:
                if any(t.as_of_date is None for t in versions):
                    raise InputError(f"{self.name} {symbol}: dated versions need ISO as_of dates", field="as_of")
                versions.sort(key=lambda t: t.as_of_date or _dt.date.min)  # all dated (checked above)
            self._versions[symbol] = versions
        self.as_of: _dt.date | None = None if as_of is None else table_date(as_of)

    # ------------------------------------------------------------------ tier tables
    @classmethod
    def _bundled_tables(cls) -> dict[str, list[TierTable]]:
        from .loaders import bundled_versions

        text = resources.files("liqcascade.venues").joinpath("tables", f"{cls.name}.json").read_text("utf-8")
        return bundled_versions(json.loads(text), cls.name)

    def symbols(self) -> list[str]:
        return sorted(self._versions)

    def resolve_symbol(self, symbol: str) -> str:
        """The venue's symbol for a ccxt unified symbol, or for the same base asset's linear
        perpetual when the quote differs (``BTC/USDT:USDT`` → ``BTC/USDC:USDC`` on Hyperliquid)."""
        if symbol in self._versions:
            return symbol
        base = symbol.split("/")[0].upper()
        matches = [s for s in self._versions if s.split("/")[0] == base]
        if len(matches) == 1:
            return matches[0]
        raise InputError(
            f"unknown symbol {symbol!r} on {self.name}; known: {', '.join(self.symbols())}", field="symbol"
        )

    def table_versions(self, symbol: str) -> list[TierTable]:
        """Every dated version of a symbol's table, oldest first (one for an undated table)."""
        return list(self._versions[self.resolve_symbol(symbol)])

    def tier_table(self, symbol: str, as_of: Any = None) -> TierTable:
        """The symbol's table in force on ``as_of`` (a date, datetime or ISO string; default the
        rule book's :attr:`as_of`, else the latest version).

        The version in force is the latest one dated on or before ``as_of``.  Before a symbol's
        earliest version no earlier table is known and the earliest is used: its ``as_of`` says
        so to a caller that compares.
        """
        versions = self._versions[self.resolve_symbol(symbol)]
        when = self.as_of if as_of is None else table_date(as_of)
        if when is None or len(versions) == 1:
            return versions[-1]
        dates = [t.as_of_date or _dt.date.min for t in versions]  # several versions are all dated
        return versions[max(bisect.bisect_right(dates, when) - 1, 0)]

    def at(self, as_of: Any) -> "VenueRules":
        """This rule book with its tables looked up at ``as_of`` by default (the scenario's date):
        ``get_venue("hyperliquid").at("2024-10-15").tier_table("ETH/USDC:USDC")`` is the 50x table."""
        return type(self)(self._versions, as_of=as_of)

    def with_table(self, table: TierTable) -> "VenueRules":
        """A copy of this rule book whose table for ``table.symbol`` is replaced at every date
        (live tables)."""
        tables: dict[str, Any] = dict(self._versions)
        tables[table.symbol] = [table]
        return type(self)(tables, as_of=self.as_of)

    def maintenance_rate_at_max_leverage(self, max_leverage: float) -> float | None:
        """The maintenance rate (fraction) a venue derives from a maximum leverage, or None where
        the rate does not depend on it (the default: tables give it)."""
        return None

    # ------------------------------------------------------------------ the margin equation
    def _extra_rate(self, taker_fee) -> np.ndarray | float:
        if not self.fee_in_maintenance:
            return 0.0
        return self.default_taker_fee if taker_fee is None else taker_fee

    def _lines(self, table: TierTable, size) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
        """Tier lines for notional tables; None for contract tables (tier fixed by size)."""
        if table.basis == "notional":
            return table.mmr, table.maintenance_amount
        return None, None

    def maintenance_margin(
        self, size, price, table: TierTable, *, entry=None, mode: Mode = "isolated", taker_fee=None
    ) -> np.ndarray:
        """Maintenance margin (USD) of positions of ``size`` base units at mark ``price``.

        It is the amount the venue compares equity with; for OKX it includes the taker fee to
        close.  ``entry`` is used by venues that set it on the entry value (Bybit isolated).
        """
        size, price = np.broadcast_arrays(np.asarray(size, np.float64), np.asarray(price, np.float64))
        extra = self._extra_rate(taker_fee)
        if table.basis == "contracts":
            k = np.minimum(table.tier_index(table.measure(size, price)), table.n_tiers - 1)
            return size * price * (table.mmr[k] + extra) - table.maintenance_amount[k]
        return _m.maintenance_from_lines(size * price, table.mmr, table.maintenance_amount, extra)

    def liquidation_price(
        self, side, size, entry, collateral, table: TierTable, *, mode: Mode = "isolated", taker_fee=None
    ) -> np.ndarray:
        """Mark price (USD) at which equity meets the maintenance margin.

        ``collateral`` is the isolated margin, or for cross positions the account's collateral
        net of the other positions (:func:`liqcascade.venues.margin.cross_collateral`).  A long
        that no positive price liquidates gets 0.
        """
        extra = self._extra_rate(taker_fee)
        if table.basis == "contracts":
            size_arr = np.asarray(size, np.float64)
            k = np.minimum(table.tier_index(table.measure(size_arr, 0.0)), table.n_tiers - 1)
            # one line per position: the tier is fixed by the size in contracts, D = 0
            return _m.liquidation_price_from_lines(
                side, size, entry, collateral, np.zeros(1), np.zeros(1), table.mmr[k] + extra
            )
        return _m.liquidation_price_from_lines(
            side, size, entry, collateral, table.mmr, table.maintenance_amount, extra
        )

    def bankruptcy_price(self, side, size, entry, collateral) -> np.ndarray:
        """Mark price (USD) at which the collateral is exhausted: ``E - s*M/Q``."""
        return _m.bankruptcy_price(side, size, entry, collateral)

    def margin_figures(
        self, side, size, entry, collateral, table: TierTable, *, mode: Mode = "isolated", taker_fee=None
    ) -> MarginFigures:
        """Liquidation and bankruptcy prices, maintenance margin and tier in one call."""
        lp = self.liquidation_price(side, size, entry, collateral, table, mode=mode, taker_fee=taker_fee)
        bp = self.bankruptcy_price(side, size, entry, collateral)
        size_b = np.broadcast_to(np.asarray(size, np.float64), lp.shape)
        entry_b = np.broadcast_to(np.asarray(entry, np.float64), lp.shape)
        mm_lp = self.maintenance_margin(size_b, lp, table, entry=entry_b, mode=mode, taker_fee=taker_fee)
        mm_e = self.maintenance_margin(size_b, entry_b, table, entry=entry_b, mode=mode, taker_fee=taker_fee)
        # a short's liquidation notional can pass the last cap: the last tier's line continues
        tier = np.minimum(self._tier_at_liquidation(size_b, entry_b, lp, table, mode), table.n_tiers - 1)
        return MarginFigures(lp, bp, mm_lp, mm_e, tier + 1, table.mmr[tier])

    def _tier_at_liquidation(self, size, entry, lp, table: TierTable, mode: Mode) -> np.ndarray:
        return table.tier_index(table.measure(size, lp))

    # ------------------------------------------------------------------ opening checks
    def check_opening(self, size, entry, margin, table: TierTable, *, leverage=None) -> None:
        """Refuse a position the venue would not open (InputError naming the field).

        Scalars only (one position); the batch path calls it row by row for messages.
        """
        for name, v in (("size", size), ("entry", entry), ("margin", margin)):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise InputError(f"must be a positive number, got {v!r}", field=name)
        measure = float(table.measure(size, entry))
        unit = "contracts" if table.basis == "contracts" else "USD notional"
        if measure > table.max_position():
            raise InputError(
                f"position of {measure:,.2f} {unit} exceeds the largest tier ({table.max_position():,.0f}) "
                f"of {self.name} {table.symbol}",
                field="size",
            )
        k = int(table.tier_index(measure))
        max_lev = float(table.max_leverage[k])
        lev = leverage if leverage is not None else size * entry / margin
        if leverage is not None:
            if not (math.isfinite(leverage) and leverage > 0):
                raise InputError(f"must be a positive number, got {leverage!r}", field="leverage")
            initial = size * entry / leverage
            if margin < initial * (1 - 1e-12):
                raise InputError(
                    f"margin {margin:,.2f} cannot open a {size * entry:,.2f} USD position at {leverage:g}x "
                    f"(needs {initial:,.2f})",
                    field="margin",
                )
        if lev > max_lev * (1 + 1e-12):
            raise InputError(
                f"leverage {lev:,.4g}x is above the {max_lev:g}x maximum of tier {k + 1} "
                f"({self.name} {table.symbol}, {size * entry:,.0f} USD notional)",
                field="leverage",
            )

    # ------------------------------------------------------------------ liquidation procedure
    def liquidation_fee(self, notional, remaining_equity, symbol: str | None = None) -> np.ndarray:
        """Fee (USD) charged on a liquidation of ``notional`` USD, paid out of the position's
        remaining equity (never more than it has); goes to ``procedure.fee_recipient``."""
        return np.zeros(np.broadcast(np.asarray(notional), np.asarray(remaining_equity)).shape)

    def liquidation_step(self, size, price, table: TierTable) -> np.ndarray:
        """Size (base units) one liquidation step closes of positions of ``size`` at ``price``.

        Default: the whole position.
        """
        return np.asarray(size, np.float64).copy()

    def backstop_triggered(self, equity, maintenance) -> np.ndarray:
        """True where the venue's backstop (vault or engine takeover at bankruptcy) takes the
        position instead of the order book.  Default: never."""
        return np.zeros(np.broadcast(np.asarray(equity), np.asarray(maintenance)).shape, dtype=bool)

    def adl_rank_key(self, side, size, entry, mark, collateral, maintenance) -> np.ndarray:
        """ADL ranking key: higher is deleveraged first.  Only profitable positions rank
        (others get -inf).  Default (Bybit/OKX style): PnL fraction × effective leverage."""
        s = _m.as_side(side).astype(np.float64)
        size, entry, mark, collateral = (np.asarray(a, np.float64) for a in (size, entry, mark, collateral))
        upnl = s * size * (mark - entry)
        eq = collateral + upnl
        pnl_frac = upnl / np.maximum(collateral, 1e-12)
        eff_lev = size * mark / np.maximum(eq, 1e-12)
        return np.where(upnl > 0, pnl_frac * eff_lev, -np.inf)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _step_tier(size, price, table: TierTable) -> np.ndarray:
        """The 0-based tier a liquidation step starts from (the last tier for a measure beyond
        the table).  A position a step left at a tier's cap is in that tier: its measure,
        ``size * price`` (USD; contracts where the table counts them), can come out an ulp above
        the cap, which would leave a step of ~1e-16 of it, and another at the same mark;
        :data:`STEP_CAP_RTOL` absorbs that rounding."""
        return np.minimum(table.tier_index(table.measure(size, price) * (1.0 - STEP_CAP_RTOL)), table.n_tiers - 1)

    def _tier_above_step(self, size, price, table: TierTable, tiers_down: int) -> np.ndarray:
        """Size (base units) to close so the position drops ``tiers_down`` tiers: the part above
        the cap of the tier ``tiers_down`` below the current one; whole in the lowest tiers."""
        size = np.asarray(size, np.float64)
        price = np.broadcast_to(np.asarray(price, np.float64), size.shape)
        target = self._step_tier(size, price, table) - tiers_down
        keep_measure = np.where(target >= 0, table.caps[np.maximum(target, 0)], 0.0)
        if table.basis == "contracts":
            keep = keep_measure * table.contract_size
        else:
            keep = np.divide(keep_measure, price, out=np.zeros_like(size), where=price > 0)
        return np.where(target >= 0, size - np.minimum(keep, size), size)
