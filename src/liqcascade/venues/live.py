"""How a venue's live state is fetched with ccxt (:func:`liqcascade.snapshot.fetch_market_state`).

:class:`LiveSource` holds the common ccxt calls' settings and the steps where venues differ; a
venue module that has a live source gives its rule book a ``live`` (a :class:`LiveSource`, or a
subclass overriding the steps its venue does differently).  The snapshot code asks the rule book
and names no venue.

The steps receive the snapshot's caller (``call``: ``call.required(what, fn, *args)`` raises on
a refusal, ``call.optional(what, ex, capability, fn, *args)`` turns one into a note; both raise
:class:`~liqcascade.snapshot.SnapshotNetworkError` on a network failure) and its ``notes`` list.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Mapping

from ..errors import InputError


class LiveSource:
    """A venue's ccxt source: the settings of the common calls and the steps a venue overrides."""

    #: the ccxt exchange id
    ccxt_id: str
    #: market types loaded (a snapshot is of a derivative)
    market_types: ClassVar[tuple[str, ...]] = ("swap",)
    #: order-book levels asked for (the venue's maximum of its default endpoint); None: the
    #: endpoint takes no size
    book_limit: ClassVar[int | None] = 100
    #: extra parameters of ``fetch_ticker`` and ``fetch_open_interest``
    ticker_params: ClassVar[Mapping[str, Any]] = {}
    open_interest_params: ClassVar[Mapping[str, Any]] = {}
    #: where a venue lists no such symbol but exactly one perpetual of the same base asset (in its
    #: own quote), that one stands in, with a note
    other_quote_stands_in: ClassVar[bool] = False
    #: the key of the raw leverage tiers in ``MarketState.info``
    tiers_info_key: ClassVar[str] = "leverage_tiers"
    #: a note when the venue gives no leverage tiers (None: none)
    no_tiers_note: ClassVar[str | None] = None

    def __init__(self, ccxt_id: str):
        self.ccxt_id = ccxt_id

    def index(self, ex, market: Mapping[str, Any], call) -> tuple[float | None, Any] | None:
        """The index price and its raw payload where the ticker and the funding rate give none;
        None where the venue has no other call (the default)."""
        return None

    def funding_interval(self, ex, sym: str, call, notes: list[str]) -> tuple[float | None, Any]:
        """The funding interval (hours) and its raw payload where the funding rate gives none."""
        notes.append(f"{self.ccxt_id} gave no funding interval for {sym}")
        return None, None

    def next_funding(self, next_funding: int | None, rate: float | None, ts: int) -> int | None:
        """The next funding time (epoch ms) from ccxt's ``fundingTimestamp``; ``ts``: the
        snapshot's time."""
        return next_funding

    def leverage_tiers(self, ex, market: Mapping[str, Any], call, notes: list[str], *, as_of: str):
        """The symbol's tier table (or None) and the raw tiers, from ccxt's leverage tiers."""
        from .loaders import from_ccxt_leverage_tiers

        sym = market["symbol"]
        try:
            if ex.has.get("fetchMarketLeverageTiers") is True:
                tiers = call.optional("fetch_market_leverage_tiers", ex, None, ex.fetch_market_leverage_tiers, sym)
            else:
                got = call.optional("fetch_leverage_tiers", ex, "fetchLeverageTiers", ex.fetch_leverage_tiers, [sym])
                tiers = None if got is None else got.get(sym)
                if got is None and self.no_tiers_note:
                    notes.append(self.no_tiers_note)
            if not tiers:
                return None, None
            sizes: dict[str, Any] = {sym: market.get("contractSize")}  # None: the loader's default
            table = from_ccxt_leverage_tiers(self.ccxt_id, {sym: tiers}, contract_sizes=sizes, as_of=as_of)[sym]
            return table, [t.get("info") for t in tiers]
        except InputError as exc:
            notes.append(f"{self.ccxt_id}: the leverage tiers could not be read: {exc}")
            return None, None


# ---------------------------------------------------------------------------------- helpers
def number(x: Any) -> float | None:
    """``x`` as a finite float, else None."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def interval_hours(interval: Any) -> float | None:
    """A ccxt interval (``"8h"``, ``"60m"``, a number of hours) in hours, else None."""
    if interval is None:
        return None
    s = str(interval).strip().lower()
    try:
        if s.endswith("h"):
            return float(s[:-1])
        if s.endswith("m"):
            return float(s[:-1]) / 60.0
        return float(s)
    except ValueError:
        return None


def short(exc: BaseException, limit: int = 200) -> str:
    """An exception's text on one line, cut to ``limit`` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
