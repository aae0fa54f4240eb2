"""Live market snapshots: one venue's state of one perpetual, fetched with ccxt.

:func:`fetch_market_state` asks a venue, through ccxt's unified calls, for the ticker, the mark
and index prices, the funding rate, the open interest, the order book and the leverage tiers, and
returns a :class:`MarketState` in the project's normalised shape (ccxt unified symbol, UTC epoch
milliseconds, USD recomputed from contracts × contract size × price, the raw venue payloads under
``info``).  :meth:`MarketState.to_json` / :meth:`MarketState.to_parquet` write it atomically;
:meth:`MarketState.from_json` / :meth:`MarketState.from_parquet` read it back.

What each venue gives through ccxt (4.5; each venue's module says so in its ``live`` source,
:class:`liqcascade.venues.live.LiveSource`, which this module asks and which names its venue):

========== ================ ============= ================= ===================================
venue      mark / index     funding       open interest     leverage tiers
========== ================ ============= ================= ===================================
binance    premiumIndex     premiumIndex  openInterest      ``/fapi/v1/leverageBracket`` needs an
                            (8 h unless                     API key: skipped with a note unless
                            fundingInfo                     the ccxt instance has credentials
                            lists it)
bybit      tickers          tickers       open-interest     risk-limit (public)
okx        mark-price,      funding-rate  open-interest     position-tiers (public; sizes in
           index-tickers                  (contracts)       contracts)
hyperliquid metaAndAssetCtxs (mark,       metaAndAssetCtxs  no ccxt call: built from the info
           oracle = index)  1 h                             ``meta`` (``marginTables``)
========== ================ ============= ================= ===================================

A piece a venue does not give, or refuses, is left ``None`` and explained in ``notes``.  A network
failure (ccxt ``NetworkError`` and its kinds — ``RequestTimeout``, ``ExchangeNotAvailable``,
``DDoSProtection``, DNS and connection errors, which ccxt wraps as ``NetworkError``) raises
:class:`SnapshotNetworkError`; any other refusal of a required piece (ticker, order book) raises
:class:`SnapshotError`.  Both are one line.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from ._io import write_atomic
from .errors import InputError
from .venues import REGISTRY, get_venue
from .venues.live import LiveSource
from .venues.live import interval_hours as _interval_hours
from .venues.live import number as _number
from .venues.live import short as _short
from .venues.tiers import TierTable


def supported_exchanges() -> tuple[str, ...]:
    """The registered venues that have a live source (a rule book's ``live``)."""
    return tuple(name for name, rules in REGISTRY.items() if rules.live is not None)


def _live(exchange_id: str) -> LiveSource:
    """The venue's live source, or an InputError naming the venues that have one."""
    known = supported_exchanges()
    if exchange_id not in known:
        raise InputError(f"unknown exchange {exchange_id!r}; choose one of {', '.join(known)}", field="exchange")
    return get_venue(exchange_id).live


#: the venues with a live source when the module was imported (see :func:`supported_exchanges`)
SUPPORTED_EXCHANGES = supported_exchanges()
#: Distances from mid (percent) at which :func:`fetch_market_state` sums the book.
DEPTH_PCTS = (1.0, 2.0, 5.0)
#: Order-book levels asked for per venue (each venue's maximum of its default endpoint; None: the
#: endpoint takes no size), from the venues' live sources when the module was imported.
BOOK_LIMITS = {name: get_venue(name).live.book_limit for name in SUPPORTED_EXCHANGES}
_FORMAT = "liqcascade.MarketState"
_FORMAT_VERSION = 1


class SnapshotError(RuntimeError):
    """A venue refused a required piece of the snapshot; the message is one line."""


class SnapshotNetworkError(SnapshotError):
    """The venue could not be reached (network failure, timeout, DNS, venue unavailable)."""


# ============================================================================ the state
@dataclass(frozen=True)
class MarketState:
    """One venue's state of one perpetual at one moment.

    Attributes
    ----------
    exchange, symbol:
        ccxt exchange id and unified symbol (``BTC/USDT:USDT``; ``BTC/USDC:USDC`` on Hyperliquid).
    timestamp, datetime:
        When the venue stamped the order book (else the ticker; else the local clock): UTC epoch
        milliseconds and ISO 8601.
    mark, index, last:
        Mark, index (Hyperliquid: oracle) and last trade price, quote currency per base unit
        (USDT/USDC counted as USD).
    funding_rate, funding_interval_hours, next_funding_timestamp:
        The current funding rate as a **fraction per interval** (0.0001 = 0.01 %), the interval in
        hours, and the next funding time (ms).
    contract_size, linear:
        Base units per contract (quote units for inverse contracts) and whether the contract is
        linear (settled in the quote).
    open_interest_contracts, open_interest_base, open_interest_usd:
        Open interest in contracts, in base units and in USD, recomputed here: linear
        ``contracts × contract_size × mark``, inverse ``contracts × contract_size``.
    bids, asks:
        ``(n, 2)`` float arrays of (price, amount in **base units**), best first — the venue's
        contract amounts converted.
    depth:
        ``{pct: {"bid_usd", "ask_usd", "bid_complete", "ask_complete"}}`` for each distance in
        :data:`DEPTH_PCTS`: USD resting within ±pct % of mid; ``*_complete`` is False when the
        fetched book stops inside the band (the figure is then a lower bound).
    leverage_tiers:
        The venue's tier table as a :class:`~liqcascade.venues.tiers.TierTable`, or ``None``
        (``notes`` says why).
    notes:
        What was skipped or assumed, one sentence each.
    info:
        Raw venue payloads by call: ``market``, ``ticker``, ``funding_rate``, ``open_interest``,
        ``order_book`` (ccxt's fields other than the levels), ``leverage_tiers``, ``index``,
        ``meta``, ``funding_interval``.
    """

    exchange: str
    symbol: str
    timestamp: int
    datetime: str
    mark: float | None
    index: float | None
    last: float | None
    funding_rate: float | None
    funding_interval_hours: float | None
    next_funding_timestamp: int | None
    contract_size: float
    linear: bool
    open_interest_contracts: float | None
    open_interest_base: float | None
    open_interest_usd: float | None
    bids: np.ndarray
    asks: np.ndarray
    depth: dict[float, dict[str, Any]]
    leverage_tiers: TierTable | None = None
    notes: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ views
    @property
    def mid(self) -> float | None:
        """Mid of the best bid and ask, or None when a side is empty."""
        if len(self.bids) == 0 or len(self.asks) == 0:
            return None
        return float((self.bids[0, 0] + self.asks[0, 0]) / 2.0)

    def depth_within(self, pct: float) -> dict[str, Any]:
        """USD resting within ±``pct`` % of mid on each side of the fetched book (see ``depth``)."""
        return book_depth_within(self.bids, self.asks, pct)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the content of :meth:`to_json`)."""
        out: dict[str, Any] = {"format": _FORMAT, "version": _FORMAT_VERSION}
        for name in (
            "exchange",
            "symbol",
            "timestamp",
            "datetime",
            "mark",
            "index",
            "last",
            "funding_rate",
            "funding_interval_hours",
            "next_funding_timestamp",
            "contract_size",
            "linear",
            "open_interest_contracts",
            "open_interest_base",
            "open_interest_usd",
        ):
            out[name] = getattr(self, name)
        out["depth"] = {_pct_key(p): dict(v) for p, v in self.depth.items()}
        out["order_book"] = {"bids": self.bids.tolist(), "asks": self.asks.tolist()}
        out["leverage_tiers"] = None if self.leverage_tiers is None else _tiers_to_dict(self.leverage_tiers)
        out["notes"] = list(self.notes)
        out["info"] = self.info
        return _plain(out)

    # ------------------------------------------------------------------ JSON
    def to_json(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_dict` as JSON, atomically (a temporary file beside it, then rename)."""
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n"
        return write_atomic(Path(path), text.encode("utf-8"))

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, source: str = "market state") -> "MarketState":
        if not isinstance(doc, Mapping) or doc.get("format") != _FORMAT:
            raise InputError(f'{source}: not a liqcascade market state (no "format": "{_FORMAT}")', field="format")
        try:
            book = doc["order_book"]
            kw = {
                k: doc[k]
                for k in (
                    "exchange",
                    "symbol",
                    "timestamp",
                    "datetime",
                    "mark",
                    "index",
                    "last",
                    "funding_rate",
                    "funding_interval_hours",
                    "next_funding_timestamp",
                    "contract_size",
                    "linear",
                    "open_interest_contracts",
                    "open_interest_base",
                    "open_interest_usd",
                )
            }
            tiers = doc.get("leverage_tiers")
            return cls(
                **kw,
                bids=_levels(book["bids"]),
                asks=_levels(book["asks"]),
                depth={float(k): dict(v) for k, v in doc["depth"].items()},
                leverage_tiers=None if tiers is None else _tiers_from_dict(tiers),
                notes=tuple(doc.get("notes", ())),
                info=dict(doc.get("info", {})),
            )
        except KeyError as exc:
            raise InputError(f"{source}: missing {exc.args[0]!r}", field=str(exc.args[0])) from None

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> "MarketState":
        """Read a file written by :meth:`to_json`."""
        p = Path(path)
        try:
            doc = json.loads(p.read_text("utf-8"))
        except OSError as exc:
            raise InputError(f"{p}: cannot read: {exc.strerror or exc}", field="path") from None
        except json.JSONDecodeError as exc:
            raise InputError(f"{p}: not valid JSON (line {exc.lineno}, column {exc.colno})", field="path") from None
        return cls.from_dict(doc, source=str(p))

    # ------------------------------------------------------------------ Parquet
    def to_parquet(self, directory: str | os.PathLike[str]) -> Path:
        """Write the state as Parquet files in ``directory`` (created if needed), each atomically:

        ``market_state.parquet`` — one row of the scalar fields and the depth figures
        (``depth_bid_usd_1`` …), with ``notes`` and ``info`` as JSON text; ``order_book.parquet`` —
        ``side`` (bid/ask), ``level`` (0 = best), ``price``, ``amount`` (base units);
        ``leverage_tiers.parquet`` — the tier rows, the table's venue, symbol, basis, contract
        size, as_of and source in the file's metadata (absent when there are no tiers).
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        doc = self.to_dict()
        row: dict[str, Any] = {
            k: doc[k]
            for k in doc
            if k not in ("depth", "order_book", "leverage_tiers", "notes", "info", "format", "version")
        }
        for p, v in doc["depth"].items():
            for k, x in v.items():
                row[f"depth_{k}_{p}"] = x
        row["notes"] = json.dumps(doc["notes"])
        row["info"] = json.dumps(doc["info"], allow_nan=False)
        schema = _scalar_schema(row)
        meta = {
            b"liqcascade": json.dumps(
                {"format": _FORMAT, "version": _FORMAT_VERSION, "depth_pcts": list(doc["depth"])}
            ).encode()
        }
        table = pa.Table.from_pylist([row], schema=schema).replace_schema_metadata(meta)
        n_b, n_a = len(self.bids), len(self.asks)
        book = pa.table(
            {
                "side": pa.array(["bid"] * n_b + ["ask"] * n_a, pa.string()),
                "level": pa.array(np.concatenate([np.arange(n_b), np.arange(n_a)]).astype(np.int32)),
                "price": pa.array(np.concatenate([self.bids[:, 0], self.asks[:, 0]]), pa.float64()),
                "amount": pa.array(np.concatenate([self.bids[:, 1], self.asks[:, 1]]), pa.float64()),
            }
        )
        _write_parquet_atomic(book, d / "order_book.parquet", pq)
        tiers_path = d / "leverage_tiers.parquet"
        if self.leverage_tiers is not None:
            t = _tiers_to_dict(self.leverage_tiers)
            rows = t.pop("tiers")
            tiers = pa.Table.from_pylist(rows).replace_schema_metadata({b"liqcascade": json.dumps(t).encode()})
            _write_parquet_atomic(tiers, tiers_path, pq)
        elif tiers_path.exists():
            tiers_path.unlink()  # a stale table from an earlier snapshot must not be read back
        _write_parquet_atomic(table, d / "market_state.parquet", pq)  # last: the directory's index
        return d

    @classmethod
    def from_parquet(cls, directory: str | os.PathLike[str]) -> "MarketState":
        """Read a directory written by :meth:`to_parquet`."""
        import pyarrow.parquet as pq

        d = Path(directory)
        main = d / "market_state.parquet"
        if not main.is_file():
            raise InputError(f"{d}: no market_state.parquet (not a market-state directory)", field="path")
        table = pq.read_table(main)
        meta = json.loads((table.schema.metadata or {}).get(b"liqcascade", b"{}"))
        row = table.to_pylist()[0]
        depth: dict[str, dict[str, Any]] = {}
        for p in meta.get("depth_pcts", []):
            depth[p] = {k: row.pop(f"depth_{k}_{p}") for k in ("bid_usd", "ask_usd", "bid_complete", "ask_complete")}
        book = pq.read_table(d / "order_book.parquet").to_pandas()
        levels = {
            s: book[book["side"] == s].sort_values("level")[["price", "amount"]].to_numpy(np.float64)
            for s in ("bid", "ask")
        }
        tiers = None
        if (d / "leverage_tiers.parquet").is_file():
            tt = pq.read_table(d / "leverage_tiers.parquet")
            tiers = dict(json.loads(tt.schema.metadata[b"liqcascade"]), tiers=tt.to_pylist())
        doc = dict(
            row,
            format=meta.get("format"),
            depth=depth,
            notes=json.loads(row["notes"]),
            info=json.loads(row["info"]),
            leverage_tiers=tiers,
            order_book={"bids": levels["bid"].tolist(), "asks": levels["ask"].tolist()},
        )
        return cls.from_dict(doc, source=str(d))


# ============================================================================ fetching
def fetch_market_state(exchange_id: str, symbol: str = "BTC/USDT:USDT", *, exchange: Any = None) -> MarketState:
    """Fetch one perpetual's state from a venue with ccxt.

    Parameters
    ----------
    exchange_id:
        A registered venue with a live source (:func:`supported_exchanges`: ``binance``, ``bybit``,
        ``okx``, ``hyperliquid`` and any venue registered since with a ``live``).
    symbol:
        ccxt unified symbol.  Where the venue lists no such market but has the same base asset's
        perpetual in its own quote (Hyperliquid: ``BTC/USDC:USDC`` for ``BTC/USDT:USDT``), that
        one is used and a note says so.
    exchange:
        A ccxt exchange instance to use instead of a fresh one (credentials, a proxy, a sandbox,
        recorded responses in tests).  Its markets are loaded unless already set.

    Raises
    ------
    InputError
        Unknown exchange, unknown symbol, or a market that is not a derivative.
    SnapshotNetworkError
        The venue could not be reached.
    SnapshotError
        The venue refused the ticker or the order book.
    """
    exchange_id = str(exchange_id).lower()
    src = _live(exchange_id)
    ccxt = _ccxt()
    ex = exchange if exchange is not None else _new_exchange(ccxt, exchange_id)
    notes: list[str] = []
    call = _Caller(ccxt, exchange_id, notes)

    call.required("load markets", ex.load_markets)
    market = _resolve_market(ex, exchange_id, symbol, notes, other_quote=src.other_quote_stands_in)
    sym = market["symbol"]
    linear = bool(market.get("linear", True)) and not bool(market.get("inverse", False))
    cs = _number(market.get("contractSize")) or 1.0

    ticker = call.required("fetch_ticker", ex.fetch_ticker, sym, dict(src.ticker_params))
    funding = call.optional("fetch_funding_rate", ex, "fetchFundingRate", ex.fetch_funding_rate, sym) or {}
    oi = (
        call.optional(
            "fetch_open_interest", ex, "fetchOpenInterest", ex.fetch_open_interest, sym, dict(src.open_interest_params)
        )
        or {}
    )
    book = call.required("fetch_order_book", ex.fetch_order_book, sym, src.book_limit)

    info: dict[str, Any] = {
        "market": market.get("info"),
        "ticker": ticker.get("info"),
        "funding_rate": funding.get("info"),
        "open_interest": oi.get("info"),
        "order_book": {k: v for k, v in book.items() if k not in ("bids", "asks")},
    }

    mark = _first(funding.get("markPrice"), ticker.get("markPrice"))
    if mark is None and ex.has.get("fetchMarkPrice"):
        mp = call.optional("fetch_mark_price", ex, "fetchMarkPrice", ex.fetch_mark_price, sym) or {}
        mark = _first(mp.get("markPrice"))
        info["mark_price"] = mp.get("info")
    index = _first(funding.get("indexPrice"), ticker.get("indexPrice"))
    if index is None:
        got = src.index(ex, market, call)
        if got is not None:
            index, info["index"] = got
    if mark is None:
        notes.append(f"{exchange_id} gave no mark price for {sym}")
    if index is None:
        notes.append(f"{exchange_id} gave no index price for {sym}")
    last = _first(ticker.get("last"))
    if last is None and _first(ticker.get("close")) is not None:
        last = _first(ticker.get("close"))
        notes.append(f"{exchange_id} gave no last trade price: the ticker's close ({last:g}) is used")

    ts = _first_int(book.get("timestamp"), ticker.get("timestamp"), oi.get("timestamp"))
    if ts is None:
        ts = int(ex.milliseconds())
        notes.append("the venue stamped neither the book nor the ticker: local clock used")

    rate = _number(funding.get("fundingRate"))
    interval = _interval_hours(funding.get("interval"))
    if rate is not None and interval is None:
        interval, info["funding_interval"] = src.funding_interval(ex, sym, call, notes)
    next_funding = src.next_funding(_first_int(funding.get("fundingTimestamp")), rate, ts)

    contracts, base_oi, usd_oi = _open_interest(oi, linear, cs, mark)
    if contracts is None and oi:
        notes.append(f"{exchange_id} gave no open-interest amount for {sym}")

    bids = _base_levels(book.get("bids", []), linear, cs)
    asks = _base_levels(book.get("asks", []), linear, cs)
    depth = {p: book_depth_within(bids, asks, p) for p in DEPTH_PCTS}

    tiers, raw_tiers = src.leverage_tiers(ex, market, call, notes, as_of=_iso(ts)[:10])
    info[src.tiers_info_key] = raw_tiers
    return MarketState(
        exchange=exchange_id,
        symbol=sym,
        timestamp=ts,
        datetime=_iso(ts),
        mark=mark,
        index=index,
        last=last,
        funding_rate=rate,
        funding_interval_hours=interval,
        next_funding_timestamp=next_funding,
        contract_size=cs,
        linear=linear,
        open_interest_contracts=contracts,
        open_interest_base=base_oi,
        open_interest_usd=usd_oi,
        bids=bids,
        asks=asks,
        depth=depth,
        leverage_tiers=tiers,
        notes=tuple(notes),
        info=_plain(info),
    )


def book_depth_within(bids: np.ndarray, asks: np.ndarray, pct: float) -> dict[str, Any]:
    """USD resting within ±``pct`` % of the mid of the best bid and ask.

    ``bids``/``asks`` are ``(n, 2)`` arrays of (price, base units), best first.  Returns
    ``bid_usd``, ``ask_usd`` (price × amount summed over the levels inside the band, quote
    currency counted as USD) and ``bid_complete``/``ask_complete``: True when the book reaches
    past the band's edge, so that no level inside it can be missing; False means a lower bound.
    """
    pct = float(pct)
    if not (math.isfinite(pct) and pct > 0):
        raise InputError(f"must be a positive number of percent, got {pct!r}", field="pct")
    if len(bids) == 0 or len(asks) == 0:
        return {"bid_usd": None, "ask_usd": None, "bid_complete": False, "ask_complete": False}
    mid = (bids[0, 0] + asks[0, 0]) / 2.0
    lo, hi = mid * (1 - pct / 100.0), mid * (1 + pct / 100.0)
    b, a = bids[bids[:, 0] >= lo], asks[asks[:, 0] <= hi]
    return {
        "bid_usd": float(np.sum(b[:, 0] * b[:, 1])),
        "ask_usd": float(np.sum(a[:, 0] * a[:, 1])),
        "bid_complete": bool(bids[-1, 0] < lo),
        "ask_complete": bool(asks[-1, 0] > hi),
    }


# ============================================================================ helpers
# what a ccxt parser raises on a response it does not understand
_MALFORMED = (TypeError, KeyError, ValueError, IndexError, AttributeError)


class _Caller:
    """Runs ccxt calls: network failures raise, optional pieces a venue lacks become notes."""

    def __init__(self, ccxt, exchange_id: str, notes: list[str]):
        self.ccxt, self.exchange_id, self.notes = ccxt, exchange_id, notes

    def network_error(self, what: str, exc: BaseException) -> SnapshotNetworkError:
        """The one-line error of a network failure of ``what``."""
        kind = type(exc).__name__
        return SnapshotNetworkError(f"network: cannot reach {self.exchange_id} ({what}: {kind}: {_short(exc)})")

    _network = network_error

    def required(self, what: str, fn: Callable, *args):
        ccxt = self.ccxt
        try:
            return fn(*args)
        except ccxt.NetworkError as exc:
            raise self._network(what, exc) from None
        except ccxt.BadSymbol as exc:
            raise InputError(f"{self.exchange_id}: {_short(exc)}", field="symbol") from None
        except ccxt.BaseError as exc:
            raise SnapshotError(f"{self.exchange_id} refused {what}: {type(exc).__name__}: {_short(exc)}") from None
        except (OSError, _requests_error()) as exc:  # anything ccxt did not wrap
            raise self._network(what, exc) from None
        except _MALFORMED as exc:  # ccxt could not parse what the venue sent
            raise SnapshotError(
                f"{self.exchange_id}: unexpected response to {what}: {type(exc).__name__}: {_short(exc)}"
            ) from None

    def optional(self, what: str, ex, capability: str | None, fn: Callable, *args):
        if capability is not None and not ex.has.get(capability):
            self.notes.append(f"{self.exchange_id}: ccxt has no {capability}; skipped")
            return None
        ccxt = self.ccxt
        try:
            return fn(*args)
        except ccxt.NetworkError as exc:
            raise self._network(what, exc) from None
        except ccxt.AuthenticationError as exc:
            self.notes.append(f"{self.exchange_id}: {what} needs API credentials; skipped ({_short(exc, 120)})")
        except ccxt.BaseError as exc:
            self.notes.append(f"{self.exchange_id}: {what} failed, skipped: {type(exc).__name__}: {_short(exc, 160)}")
        except (OSError, _requests_error()) as exc:
            raise self._network(what, exc) from None
        except _MALFORMED as exc:
            self.notes.append(
                f"{self.exchange_id}: unexpected response to {what}, skipped: {type(exc).__name__}: {_short(exc, 160)}"
            )
        return None


def _ccxt():
    try:
        import ccxt  # noqa: PLC0415 - optional at import time of the package
    except ImportError:  # pragma: no cover - ccxt is a dependency
        raise SnapshotError("ccxt is not installed: pip install ccxt") from None
    return ccxt


def _requests_error():
    try:
        from requests.exceptions import RequestException
    except ImportError:  # pragma: no cover
        return OSError
    return RequestException


def _new_exchange(ccxt, exchange_id: str):
    # only perpetual/futures markets are loaded: a snapshot is of a derivative
    src = _live(exchange_id)
    return getattr(ccxt, src.ccxt_id)(
        {
            "enableRateLimit": True,
            "timeout": 15_000,
            "options": {"fetchMarkets": {"types": list(src.market_types)}},
        }
    )


def _resolve_market(
    ex, exchange_id: str, symbol: str, notes: list[str], *, other_quote: bool = False
) -> dict[str, Any]:
    markets = ex.markets or {}
    if not isinstance(symbol, str) or "/" not in symbol:
        raise InputError(f"expected a ccxt unified symbol such as BTC/USDT:USDT, got {symbol!r}", field="symbol")
    market = markets.get(symbol)
    if market is None:
        base = symbol.split("/")[0]
        perps = sorted(s for s, m in markets.items() if m.get("base") == base and m.get("swap"))
        if len(perps) == 1 and other_quote:
            notes.append(f"{exchange_id} lists no {symbol}; its {base} perpetual {perps[0]} is used")
            market = markets[perps[0]]
        else:
            hint = f"; its {base} perpetuals: {', '.join(perps)}" if perps else ""
            raise InputError(f"{exchange_id} has no market {symbol}{hint}", field="symbol")
    if not market.get("contract"):
        raise InputError(
            f"{market['symbol']} on {exchange_id} is a {market.get('type')} market; a snapshot is of "
            "a perpetual or future (e.g. BTC/USDT:USDT)",
            field="symbol",
        )
    return market


def _open_interest(oi: Mapping[str, Any], linear: bool, cs: float, mark: float | None):
    contracts = _number(oi.get("openInterestAmount"))
    value = _number(oi.get("openInterestValue"))
    if contracts is None and value is not None and not linear:
        contracts = value / cs  # inverse venues quote OI in USD: one contract is cs USD
    if contracts is None:
        return None, None, None
    if linear:
        base = contracts * cs
        usd = base * mark if mark is not None else None
    else:
        usd = contracts * cs
        base = usd / mark if mark else None
    return contracts, base, usd


def _base_levels(levels, linear: bool, cs: float) -> np.ndarray:
    arr = np.array([[float(lv[0]), float(lv[1])] for lv in levels], dtype=np.float64).reshape(-1, 2)
    if linear:
        arr[:, 1] *= cs
    else:
        arr[:, 1] *= cs / arr[:, 0]  # inverse: contracts of cs quote units each
    return arr


def _first(*xs: Any) -> float | None:
    for x in xs:
        v = _number(x)
        if v is not None:
            return v
    return None


def _first_int(*xs: Any) -> int | None:
    v = _first(*xs)
    return None if v is None else int(v)


def _iso(ms: int) -> str:
    import datetime as _dt

    t = _dt.datetime.fromtimestamp(ms / 1000.0, tz=_dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _pct_key(p: float) -> str:
    return f"{float(p):g}"


def _levels(rows: Any) -> np.ndarray:
    return np.asarray(rows, dtype=np.float64).reshape(-1, 2)


def _plain(obj: Any) -> Any:
    """JSON-safe copy: NumPy scalars to Python, non-finite floats to None, keys to strings."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)


def _tiers_to_dict(t: TierTable) -> dict[str, Any]:
    return {
        "venue": t.venue,
        "symbol": t.symbol,
        "basis": t.basis,
        "contract_size": float(t.contract_size),
        "as_of": t.as_of,
        "source": t.source,
        "tiers": t.rows(),
    }


def _tiers_from_dict(doc: Mapping[str, Any]) -> TierTable:
    return TierTable.from_rows(
        doc["venue"],
        doc["symbol"],
        doc["tiers"],
        basis=doc.get("basis", "notional"),
        contract_size=float(doc.get("contract_size", 1.0)),
        as_of=str(doc.get("as_of", "")),
        source=str(doc.get("source", "")),
    )


def _scalar_schema(row: Mapping[str, Any]):
    import pyarrow as pa

    types = {
        "exchange": pa.string(),
        "symbol": pa.string(),
        "timestamp": pa.int64(),
        "datetime": pa.string(),
        "next_funding_timestamp": pa.int64(),
        "linear": pa.bool_(),
        "notes": pa.string(),
        "info": pa.string(),
    }
    fields = []
    for k in row:
        if k in types:
            fields.append(pa.field(k, types[k]))
        elif k.endswith("_complete"):
            fields.append(pa.field(k, pa.bool_()))
        else:
            fields.append(pa.field(k, pa.float64()))
    return pa.schema(fields)


def _write_parquet_atomic(table, path: Path, pq) -> None:
    import io

    buf = io.BytesIO()
    pq.write_table(table, buf)
    write_atomic(path, buf.getvalue())


__all__ = [
    "MarketState",
    "fetch_market_state",
    "book_depth_within",
    "SnapshotError",
    "SnapshotNetworkError",
    "SUPPORTED_EXCHANGES",
    "DEPTH_PCTS",
]
