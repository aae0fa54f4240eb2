"""Live snapshots (`liqcascade.snapshot`) on recorded venue responses, without the network.

Each test drives a real ccxt exchange object: its markets come from a small market list in ccxt's
format (``exchange.set_markets``) and its HTTP layer (``exchange.fetch``) answers from raw venue
payloads in ``tests/fixtures/snapshot/<venue>.json`` keyed by method and path, so that ccxt's own
request building and response parsing run.  Expected figures are recomputed here from the raw
payloads, not from the code under test.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from urllib.parse import parse_qsl, urlparse

import ccxt
import numpy as np
import pytest
from typer.testing import CliRunner

from liqcascade.cli import app, main
from liqcascade.errors import InputError
from liqcascade.snapshot import (
    MarketState,
    SnapshotError,
    SnapshotNetworkError,
    book_depth_within,
    fetch_market_state,
)

FIXTURES = Path(__file__).parent / "fixtures" / "snapshot"
VENUES = ("binance", "bybit", "okx", "hyperliquid")
T = 1_760_126_400_000  # 2025-10-10 20:00:00 UTC, the recordings' clock


def fixture(venue: str) -> dict:
    return json.loads((FIXTURES / f"{venue}.json").read_text())


class Recorded:
    """A stand-in for ccxt's ``Exchange.fetch(url, method, headers, body)``: returns the recorded
    decoded JSON for the request's method and path (and, for Hyperliquid's POST /info, the body's
    ``type``); a key ``"GET /path?a=b"`` matches only requests with those query parameters.  Like
    the real ``fetch`` it passes each response through the exchange's own ``handle_errors``, so a
    recorded venue error becomes the ccxt exception it would be; an exception recorded in place of
    a response is raised (a network failure)."""

    def __init__(self, responses: dict, overrides: dict | None = None):
        self.responses = dict(responses, **(overrides or {}))
        self.calls: list[tuple[str, dict]] = []
        self.exchange = None

    def __call__(self, url, method="GET", headers=None, body=None):
        u = urlparse(url)
        key = f"{method} {u.path}" + (f" {json.loads(body)['type']}" if body else "")
        query = dict(parse_qsl(u.query))
        self.calls.append((key, query))
        for k, value in self.responses.items():
            path, _, q = k.partition("?")
            if path == key and all(query.get(a) == b for a, b in parse_qsl(q)):
                if isinstance(value, BaseException):
                    raise value
                value = copy.deepcopy(value)
                self.exchange.handle_errors(200, "OK", url, method, {}, json.dumps(value), value, headers, body)
                return value
        raise AssertionError(f"no recorded response for {key} {query}")


def exchange(venue: str, **overrides):
    """A ccxt exchange with the recorded markets and the recorded HTTP layer."""
    doc = fixture(venue)
    ex = getattr(ccxt, venue)({"enableRateLimit": False})
    ex.set_markets(doc["markets"])
    ex.fetch = Recorded(doc["responses"], overrides)
    ex.fetch.exchange = ex
    return ex


def snapshot(venue: str, symbol: str = "BTC/USDT:USDT", **overrides) -> tuple[MarketState, Recorded]:
    ex = exchange(venue, **overrides)
    return fetch_market_state(venue, symbol, exchange=ex), ex.fetch


def raw(venue: str, key: str):
    return fixture(venue)["responses"][key]


def band_usd(levels, mid, pct, side, scale=1.0):
    """USD within the band from raw [price, amount] pairs (amount × scale = base units)."""
    lo, hi = mid * (1 - pct / 100), mid * (1 + pct / 100)
    total = 0.0
    for p, a, *_ in levels:
        p, a = float(p), float(a) * scale
        if (side == "bid" and p >= lo) or (side == "ask" and p <= hi):
            total += p * a
    return total


# ---------------------------------------------------------------------------- per venue
def test_binance_linear_perpetual():
    s, rec = snapshot("binance")
    prem = raw("binance", "GET /fapi/v1/premiumIndex")
    oi = raw("binance", "GET /fapi/v1/openInterest")
    assert (s.exchange, s.symbol, s.linear, s.contract_size) == ("binance", "BTC/USDT:USDT", True, 1.0)
    assert s.mark == float(prem["markPrice"]) and s.index == float(prem["indexPrice"])
    assert s.last == float(raw("binance", "GET /fapi/v1/ticker/24hr")["lastPrice"])
    # funding is a fraction per interval; BTCUSDT is absent from fundingInfo, so the default 8 h
    assert s.funding_rate == float(prem["lastFundingRate"]) and s.funding_interval_hours == 8.0
    assert s.next_funding_timestamp == prem["nextFundingTime"]
    assert s.open_interest_contracts == s.open_interest_base == float(oi["openInterest"])
    assert s.open_interest_usd == pytest.approx(float(oi["openInterest"]) * float(prem["markPrice"]), rel=1e-12)
    # the leverage bracket endpoint is private: skipped with a note, not a failure
    assert s.leverage_tiers is None
    assert any("API credentials" in n for n in s.notes) and any("8 h" in n for n in s.notes)
    book = raw("binance", "GET /fapi/v1/depth")
    assert s.timestamp == book["T"] and s.datetime == "2025-10-10T20:00:00.005Z"
    assert s.bids.shape == (len(book["bids"]), 2) and s.bids[0, 0] == float(book["bids"][0][0])
    assert [k for k, _ in rec.calls] == [
        "GET /fapi/v1/ticker/24hr",
        "GET /fapi/v1/premiumIndex",
        "GET /fapi/v1/openInterest",
        "GET /fapi/v1/depth",
        "GET /fapi/v1/fundingInfo",
    ]
    assert dict(rec.calls[3][1]) == {"symbol": "BTCUSDT", "limit": "1000"}  # the venue's deepest book
    assert s.info["funding_rate"] == prem and s.info["open_interest"] == oi


def test_bybit_tiers_from_the_public_risk_limit():
    s, rec = snapshot("bybit")
    tick = raw("bybit", "GET /v5/market/tickers")["result"]["list"][0]
    oi = raw("bybit", "GET /v5/market/open-interest")["result"]["list"][0]
    assert s.mark == float(tick["markPrice"]) and s.index == float(tick["indexPrice"])
    assert s.funding_rate == float(tick["fundingRate"])
    assert s.funding_interval_hours == 8.0  # instruments-info fundingInterval = 480 minutes
    assert s.open_interest_base == float(oi["openInterest"])
    assert s.open_interest_usd == pytest.approx(float(oi["openInterest"]) * float(tick["markPrice"]), rel=1e-12)
    # the live series point, not ccxt's default hourly one
    oi_query = next(q for k, q in rec.calls if k == "GET /v5/market/open-interest")
    assert oi_query["intervalTime"] == "5min"
    risk = raw("bybit", "GET /v5/market/risk-limit")["result"]["list"]
    t = s.leverage_tiers
    assert t is not None and t.venue == "bybit" and t.symbol == "BTC/USDT:USDT" and t.n_tiers == len(risk)
    assert t.mmr[0] == float(risk[0]["maintenanceMargin"]) and t.max_leverage[0] == float(risk[0]["maxLeverage"])
    assert t.caps[0] == float(risk[0]["riskLimitValue"])
    assert t.as_of == "2025-10-10"  # the snapshot's date, not the machine's
    assert s.notes == ()


def test_okx_contracts_are_converted_with_the_contract_value():
    s, _ = snapshot("okx")
    oi = raw("okx", "GET /api/v5/public/open-interest")["data"][0]
    mark = float(raw("okx", "GET /api/v5/public/mark-price")["data"][0]["markPx"])
    assert s.contract_size == 0.01 and s.mark == mark
    assert s.index == float(raw("okx", "GET /api/v5/market/index-tickers")["data"][0]["idxPx"])
    assert s.open_interest_contracts == float(oi["oi"])
    # contracts x 0.01 BTC is the venue's own oiCcy, and the USD value agrees with its oiUsd
    assert s.open_interest_base == pytest.approx(float(oi["oiCcy"]), rel=1e-12)
    assert s.open_interest_usd == pytest.approx(float(oi["oiCcy"]) * mark, rel=1e-12)
    assert s.open_interest_usd == pytest.approx(float(oi["oiUsd"]), rel=1e-5)
    book = raw("okx", "GET /api/v5/market/books")["data"][0]
    assert s.asks[0, 1] == pytest.approx(float(book["asks"][0][1]) * 0.01)  # base units, not contracts
    fr = raw("okx", "GET /api/v5/public/funding-rate")["data"][0]
    assert s.funding_rate == float(fr["fundingRate"]) and s.funding_interval_hours == 8.0
    t = s.leverage_tiers
    assert t is not None and t.basis == "contracts" and t.contract_size == 0.01


def test_hyperliquid_uses_its_usdc_perpetual_and_the_meta_margin_tables():
    s, rec = snapshot("hyperliquid")
    assert s.symbol == "BTC/USDC:USDC" and any("BTC/USDC:USDC is used" in n for n in s.notes)
    ctx = raw("hyperliquid", "POST /info metaAndAssetCtxs")[1][0]
    assert s.mark == float(ctx["markPx"]) and s.index == float(ctx["oraclePx"])
    assert s.funding_rate == float(ctx["funding"]) and s.funding_interval_hours == 1.0
    assert s.next_funding_timestamp == T + 3_600_000  # the next hour after the book's time
    assert s.open_interest_usd == pytest.approx(float(ctx["openInterest"]) * float(ctx["markPx"]), rel=1e-12)
    t = s.leverage_tiers
    assert t is not None and t.n_tiers == 2 and t.max_leverage.tolist() == [40.0, 20.0]
    assert t.mmr[0] == pytest.approx(1 / 80)  # Hyperliquid: MMR = 1 / (2 x max leverage)
    assert t.floors[1] == 150_000_000.0
    assert s.info["meta"]["universe"][0]["name"] == "BTC"
    assert "POST /info meta" in [k for k, _ in rec.calls]


# ---------------------------------------------------------------------------- depth
@pytest.mark.parametrize(
    "venue, book_key, scale",
    [
        ("binance", "GET /fapi/v1/depth", 1.0),
        ("okx", "GET /api/v5/market/books", 0.01),
    ],
)
def test_depth_within_the_bands_matches_the_raw_book(venue, book_key, scale):
    s, _ = snapshot(venue)
    book = raw(venue, book_key)
    book = book["data"][0] if "data" in book else book
    mid = (float(book["bids"][0][0]) + float(book["asks"][0][0])) / 2
    assert s.mid == pytest.approx(mid)
    for pct in (1.0, 2.0, 5.0):
        d = s.depth[pct]
        assert d["bid_usd"] == pytest.approx(band_usd(book["bids"], mid, pct, "bid", scale), rel=1e-12)
        assert d["ask_usd"] == pytest.approx(band_usd(book["asks"], mid, pct, "ask", scale), rel=1e-12)
        far_bid, far_ask = float(book["bids"][-1][0]), float(book["asks"][-1][0])
        assert d["bid_complete"] == (far_bid < mid * (1 - pct / 100))
        assert d["ask_complete"] == (far_ask > mid * (1 + pct / 100))


def test_a_book_that_stops_inside_the_band_is_a_lower_bound():
    s, _ = snapshot("hyperliquid")  # l2Book: 20 levels a side, a few dollars deep
    assert not any(d["bid_complete"] or d["ask_complete"] for d in s.depth.values())
    assert s.depth[1.0]["bid_usd"] == s.depth[5.0]["bid_usd"] > 0


def test_depth_widens_with_the_band_and_rejects_bad_distances():
    bids = np.array([[99.5, 1.0], [99.0, 2.0], [97.0, 3.0]])
    asks = np.array([[100.5, 1.0], [101.0, 2.0], [104.0, 3.0]])
    d1, d3 = book_depth_within(bids, asks, 1), book_depth_within(bids, asks, 3)
    assert d1["bid_usd"] == pytest.approx(99.5 + 198.0) and d1["bid_complete"]
    assert d3["ask_usd"] == pytest.approx(100.5 + 202.0) and d3["ask_complete"]
    assert not book_depth_within(bids, asks, 5)["bid_complete"]
    with pytest.raises(InputError):
        book_depth_within(bids, asks, 0)


# ---------------------------------------------------------------------------- failures
@pytest.mark.parametrize(
    "error",
    [
        ccxt.NetworkError("getaddrinfo failed: Name or service not known"),
        ccxt.RequestTimeout("binance GET https://fapi.binance.com timed out (10000 ms)"),
        ccxt.ExchangeNotAvailable("503 Service Unavailable"),
    ],
)
def test_a_network_failure_is_one_line(error):
    ex = exchange("binance", **{"GET /fapi/v1/depth": error})
    with pytest.raises(SnapshotNetworkError) as e:
        fetch_market_state("binance", "BTC/USDT:USDT", exchange=ex)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("network: cannot reach binance (fetch_order_book")
    assert type(error).__name__ in msg


def test_an_optional_piece_the_venue_refuses_becomes_a_note():
    refused = {"retCode": 10001, "retMsg": "params error: symbol invalid", "result": {}, "retExtInfo": {}, "time": T}
    s, _ = snapshot("bybit", **{"GET /v5/market/risk-limit": refused})
    assert s.leverage_tiers is None and s.mark is not None
    assert any("fetch_market_leverage_tiers failed" in n for n in s.notes)


def test_a_refused_order_book_is_an_error():
    refused = {"retCode": 10001, "retMsg": "params error", "result": {}, "retExtInfo": {}, "time": T}
    with pytest.raises(SnapshotError) as e:
        snapshot("bybit", **{"GET /v5/market/orderbook": refused})
    assert not isinstance(e.value, SnapshotNetworkError) and "fetch_order_book" in str(e.value)


def test_unknown_exchange_symbol_and_spot_symbols():
    with pytest.raises(InputError) as e:
        fetch_market_state("kraken", "BTC/USDT:USDT", exchange=exchange("binance"))
    assert e.value.field == "exchange"
    with pytest.raises(InputError) as e:
        fetch_market_state("binance", "DOGE/USDT:USDT", exchange=exchange("binance"))
    assert e.value.field == "symbol" and "binance has no market DOGE/USDT:USDT" in str(e.value)
    with pytest.raises(InputError) as e:
        fetch_market_state("bybit", "BTCUSDT", exchange=exchange("bybit"))
    assert e.value.field == "symbol"


# ---------------------------------------------------------------------------- files
@pytest.mark.parametrize("venue", VENUES)
def test_json_and_parquet_round_trip(venue, tmp_path):
    s, _ = snapshot(venue)
    j = MarketState.from_json(s.to_json(tmp_path / "state.json"))
    p = MarketState.from_parquet(s.to_parquet(tmp_path / "state"))
    for back in (j, p):
        assert back.to_dict() == s.to_dict()
        np.testing.assert_array_equal(back.bids, s.bids)
        if s.leverage_tiers is not None:
            np.testing.assert_array_equal(back.leverage_tiers.mmr, s.leverage_tiers.mmr)
            np.testing.assert_array_equal(back.leverage_tiers.maintenance_amount, s.leverage_tiers.maintenance_amount)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["state", "state.json"]  # no temporaries left
    expected = {"market_state.parquet", "order_book.parquet"} | (
        {"leverage_tiers.parquet"} if s.leverage_tiers else set()
    )
    assert {f.name for f in (tmp_path / "state").iterdir()} == expected


def test_writing_replaces_the_file_whole(tmp_path):
    a, _ = snapshot("bybit")
    b, _ = snapshot("binance")
    path = tmp_path / "state.json"
    a.to_json(path)
    before = os.stat(path).st_ino
    b.to_json(path)
    assert os.stat(path).st_ino != before  # a new file renamed over the old one, not rewritten in place
    assert MarketState.from_json(path).exchange == "binance"
    # a Parquet directory that had tiers loses them when the new state has none
    a.to_parquet(tmp_path / "d")
    b.to_parquet(tmp_path / "d")
    assert MarketState.from_parquet(tmp_path / "d").leverage_tiers is None


def test_reading_something_else_is_one_line(tmp_path):
    (tmp_path / "x.json").write_text('{"mark": 1}')
    with pytest.raises(InputError, match="not a liqcascade market state"):
        MarketState.from_json(tmp_path / "x.json")
    (tmp_path / "y.json").write_text("{")
    with pytest.raises(InputError, match="not valid JSON"):
        MarketState.from_json(tmp_path / "y.json")
    with pytest.raises(InputError, match="no market_state.parquet"):
        MarketState.from_parquet(tmp_path)


# ---------------------------------------------------------------------------- command line
runner = CliRunner()


@pytest.fixture
def venue_http(monkeypatch):
    """Route a venue class's HTTP layer to recordings: the command builds its own ccxt instance and
    loads the markets through ccxt's parser from the recorded instruments response."""

    def install(venue: str, **overrides) -> Recorded:
        rec = Recorded(fixture(venue)["responses"], overrides)

        def fetch(self, *args, **kwargs):
            rec.exchange = self
            return rec(*args, **kwargs)

        monkeypatch.setattr(getattr(ccxt, venue), "fetch", fetch)
        return rec

    return install


def test_cli_snapshot_writes_json_that_round_trips(venue_http, tmp_path):
    rec = venue_http("bybit")
    out = tmp_path / "state.json"
    res = runner.invoke(app, ["snapshot", "--exchange", "bybit", "--symbol", "BTC/USDT:USDT", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "bybit BTC/USDT:USDT" in res.stdout and "depth ±1%" in res.stdout
    assert f"written to {out}" in res.stderr
    s = MarketState.from_json(out)
    assert s.exchange == "bybit" and s.leverage_tiers is not None and s.leverage_tiers.n_tiers == 20
    assert [k for k, _ in rec.calls][:2] == ["GET /v5/market/instruments-info"] * 2  # markets: linear, inverse


def test_cli_snapshot_json_and_parquet(venue_http, tmp_path):
    venue_http("okx")
    res = runner.invoke(app, ["snapshot", "--exchange", "okx", "--json", "--out", str(tmp_path / "okx")])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["format"] == "liqcascade.MarketState" and doc["contract_size"] == 0.01
    assert MarketState.from_parquet(tmp_path / "okx").to_dict() == doc


@pytest.mark.parametrize("venue", ["binance", "hyperliquid"])
def test_cli_snapshot_network_failure_is_one_line_and_exit_2(venue, monkeypatch, capsys):
    def unreachable(self, url, method="GET", headers=None, body=None):
        raise ccxt.NetworkError(
            f"{self.id} {method} {url} HTTPSConnectionPool: Max retries exceeded "
            "(Caused by NameResolutionError: Failed to resolve host)"
        )

    monkeypatch.setattr(getattr(ccxt, venue), "fetch", unreachable)
    assert main(["snapshot", "--exchange", venue, "--symbol", "BTC/USDT:USDT"]) == 2
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert out.out == "" and len(lines) == 1
    assert lines[0].startswith(f"liqcascade: error: network: cannot reach {venue} (load markets: NetworkError")


def test_cli_snapshot_bad_flags(venue_http, capsys):
    assert main(["snapshot", "--exchange", "kraken"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown exchange 'kraken'" in err[0]
    venue_http("binance")
    assert main(["snapshot", "--exchange", "binance", "--symbol", "NOPE/USDT:USDT"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "binance has no market NOPE/USDT:USDT" in err[0]
    assert main(["snapshot"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--exchange" in err[0]
