"""Liquidation prints of five venues in one ccxt-shaped frame, with the liquidated position's side
and a USD value recomputed from contracts x contract size x price."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from liqcascade.data import (
    LIQUIDATION_COLUMNS,
    read_binance_force_orders,
    read_bitmex_liquidations,
    read_bybit_liquidations,
    read_hyperliquid_liquidations,
    read_okx_liquidations,
)
from liqcascade.errors import InputError

BITMEX = "bitmex_2019/bitmex_liquidation_orders_2019-11.csv"
HL_LIST = "hyperliquid_2023/liquidations.csv"
OKX_SIZES = {"IOST-USDT-SWAP": 1000.0}


def test_binance_force_orders(fixtures):
    df = read_binance_force_orders(fixtures / "binance_force_order.jsonl")
    assert list(df.columns) == list(LIQUIDATION_COLUMNS)
    assert df["timestamp"].is_monotonic_increasing
    btc = df[df["symbol"] == "BTC/USDT:USDT"].iloc[0]
    assert (btc["side"], btc["position_side"]) == ("sell", "long")  # a SELL closes a long
    assert btc["contracts"] == 1.25 and btc["price"] == 110001.10  # filled qty at the average price
    assert btc["usd"] == pytest.approx(1.25 * 110001.10)
    assert btc["timestamp"] == 1760131262866 and btc["datetime"] == pd.Timestamp(1760131262866, unit="ms", tz="UTC")
    assert btc["info"]["o"]["X"] == "FILLED"
    eth = df[df["symbol"] == "ETH/USDT:USDT"].iloc[0]  # came wrapped in a combined stream
    assert eth["usd"] == pytest.approx(12.345 * 3850.0)
    coin_m = df[df["symbol"] == "BTC/USD:BTC"].iloc[0]  # COIN-M: 30 contracts of 100 USD
    assert (coin_m["side"], coin_m["position_side"]) == ("buy", "short")
    assert coin_m["contractSize"] == 100 and coin_m["usd"] == 3000.0
    assert coin_m["baseValue"] == pytest.approx(3000.0 / 111980.5)
    unfilled = df[df["symbol"] == "SOL/USDT:USDT"].iloc[0]  # nothing filled yet: order qty and price
    assert unfilled["contracts"] == 100 and unfilled["price"] == 190.5


def test_bybit_buy_means_a_long_was_liquidated(fixtures):
    df = read_bybit_liquidations(fixtures / "bybit_all_liquidation.jsonl")
    assert list(df.columns) == list(LIQUIDATION_COLUMNS) and len(df) == 4
    btc = df[df["symbol"] == "BTC/USDT:USDT"]
    assert (btc["position_side"] == "long").all() and (btc["side"] == "sell").all()
    assert btc["usd"].sum() == pytest.approx(0.762 * 109850.20)
    inverse = df[df["symbol"] == "BTC/USD:BTC"].iloc[0]  # v in 1-USD contracts
    assert inverse["position_side"] == "short" and inverse["usd"] == 25_000.0
    rose = df[df["symbol"] == "ROSE/USDT:USDT"].iloc[0]
    assert rose["usd"] == pytest.approx(20000 * 0.04499) and rose["timestamp"] == 1739502302929
    assert df["info"].iloc[0] == {"T": 1739502302929, "s": "ROSEUSDT", "S": "Sell", "v": "20000", "p": "0.04499"}


def test_okx_contracts_are_converted_with_the_contract_value(fixtures):
    df = read_okx_liquidations(fixtures / "okx_liquidation_orders.json", contract_sizes=OKX_SIZES)
    assert list(df.columns) == list(LIQUIDATION_COLUMNS) and len(df) == 4
    first = df[(df["symbol"] == "BTC/USDT:USDT") & (df["contracts"] == 250)].iloc[0]
    assert first["contractSize"] == 0.01 and first["baseValue"] == pytest.approx(2.5)  # 250 x 0.01 BTC
    assert first["usd"] == pytest.approx(2.5 * 109700.1)
    assert (first["side"], first["position_side"]) == ("sell", "long")
    assert first["info"]["details"] == [first["info"]["details"][0]] and first["info"]["instId"] == "BTC-USDT-SWAP"
    inverse = df[df["symbol"] == "BTC/USD:BTC"].iloc[0]  # 40 contracts of 100 USD
    assert inverse["usd"] == 4000.0 and inverse["position_side"] == "short"
    iost = df[df["symbol"] == "IOST/USDT:USDT"].iloc[0]
    assert iost["usd"] == pytest.approx(13 * 1000 * 0.007831)


def test_okx_unknown_contract_value_is_an_error(fixtures):
    with pytest.raises(InputError, match="contract value of IOST-USDT-SWAP unknown") as exc:
        read_okx_liquidations(fixtures / "okx_liquidation_orders.json")
    assert "row 3" in str(exc.value)


def test_bitmex_buy_means_a_short_was_liquidated(shared_data):
    with pytest.warns(UserWarning, match="usd is NaN for 19"):
        df = read_bitmex_liquidations(shared_data / BITMEX)
    raw = pd.read_csv(shared_data / BITMEX)
    assert len(df) == len(raw) == 50
    assert ((df["side"] == "buy") == (df["position_side"] == "short")).all()
    xbt = df[df["symbol"] == "BTC/USD:BTC"]
    raw_xbt = raw[raw["symbol"] == "XBTUSD"]
    assert len(xbt) == 28 and (xbt["position_side"] == "short").sum() == (raw_xbt["side"] == "Buy").sum() == 19
    first = df.iloc[0]  # 2019-11-15T14:32:55.673, XBTUSD, Buy, 8416, 5000
    assert first["symbol"] == "BTC/USD:BTC" and first["position_side"] == "short"
    assert first["usd"] == 5000 and first["baseValue"] == pytest.approx(5000 / 8416)  # inverse: 1 USD each
    assert first["datetime"] == pd.Timestamp("2019-11-15 14:32:55.673", tz="UTC")
    assert first["info"]["orderID"] == "f00e05ad-5e84-28dd-7a15-01977b362afc"
    assert set(df["symbol"]) >= {"BTC/USD:BTC-191227", "BTC/USD:BTC-200327", "ADA/BTC:BTC-191227", "ETH/USD:BTC"}


def test_bitmex_xbt_legs_are_valued_with_a_rate(shared_data):
    df = read_bitmex_liquidations(shared_data / BITMEX, xbt_usd=8_500.0)
    assert df["usd"].notna().all()
    xrp = df[df["symbol"] == "XRP/BTC:BTC-191227"].iloc[0]  # 4050 XRP at 0.0000301 XBT
    assert xrp["usd"] == pytest.approx(4050 * 0.0000301 * 8_500)
    eth = df[df["symbol"] == "ETH/USD:BTC"].iloc[0]  # quanto: 1e-6 XBT per contract per USD
    assert eth["usd"] == pytest.approx(eth["contracts"] * 1e-6 * eth["price"] * 8_500)


def test_hyperliquid_early_list(shared_data):
    df = read_hyperliquid_liquidations(shared_data / HL_LIST)
    assert list(df.columns) == list(LIQUIDATION_COLUMNS) and len(df) == 62
    assert df["symbol"].isna().all() and df["position_side"].isna().all()
    assert df["usd"].iloc[0] == 356.80015
    leverage = df["usd"] / df["info"].map(lambda r: float(r["liquidated_account_value"]))
    assert 100 < leverage.median() < 110  # notional / account value at liquidation: ~105x


def test_hyperliquid_fills_from_both_sides(fixtures):
    own = read_hyperliquid_liquidations(fixtures / "hyperliquid_user_fills_ws.json")
    assert len(own) == 1  # the opening fill is not a liquidation
    near = own.iloc[0]
    assert near["symbol"] == "NEAR/USDC:USDC"
    assert (near["side"], near["position_side"]) == ("sell", "long")
    assert near["usd"] == pytest.approx(64.8 * 4.6879) and near["timestamp"] == 1760131546856
    assert near["info"]["liquidation"]["method"] == "market"

    other = read_hyperliquid_liquidations(
        fixtures / "hyperliquid_user_fills_counterparty.json", user="0x9999999999999999999999999999999999999999"
    )
    assert list(other["position_side"]) == ["long", "short"]  # bought from a long; sold to a short
    assert list(other["side"]) == ["sell", "buy"]

    fills = json.loads((fixtures / "hyperliquid_user_fills_ws.json").read_text())["data"]["fills"]
    both = read_hyperliquid_liquidations(
        [
            {
                "channel": "userFills",
                "data": {
                    "user": "0x9999999999999999999999999999999999999999",
                    "fills": json.loads((fixtures / "hyperliquid_user_fills_counterparty.json").read_text()),
                },
            },
            {"channel": "userFills", "data": {"user": "0x5c902b2eb0e1d9eb9a232014824ae6247df0a480", "fills": fills}},
        ]
    )
    assert len(both) == 2  # the NEAR trade is counted once
    assert both.iloc[0]["info"]["user"] == "0x5c902b2eb0e1d9eb9a232014824ae6247df0a480"


def test_hyperliquid_fill_without_its_account_is_an_error(fixtures):
    with pytest.raises(InputError, match="pass user="):
        read_hyperliquid_liquidations(fixtures / "hyperliquid_user_fills_counterparty.json")


def test_all_venues_concatenate(fixtures, shared_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        frames = [
            read_binance_force_orders(fixtures / "binance_force_order.jsonl"),
            read_bybit_liquidations(fixtures / "bybit_all_liquidation.jsonl"),
            read_okx_liquidations(fixtures / "okx_liquidation_orders.json", contract_sizes=OKX_SIZES),
            read_bitmex_liquidations(shared_data / BITMEX, xbt_usd=8_500.0),
            read_hyperliquid_liquidations(fixtures / "hyperliquid_user_fills_ws.json"),
        ]
    df = pd.concat(frames, ignore_index=True)
    assert set(df["exchange"]) == {"binance", "bybit", "okx", "bitmex", "hyperliquid"}
    assert df["timestamp"].dtype == np.int64 and str(df["datetime"].dt.tz) == "UTC"
    assert set(df["position_side"]) == {"long", "short"}
    assert ((df["side"] == "sell") == (df["position_side"] == "long")).all()
    assert (df["usd"] > 0).all()


# ---------------------------------------------------------------------------- bad input


def _jsonl(tmp_path, lines, name="x.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_truncated_recording(fixtures, tmp_path):
    lines = (fixtures / "binance_force_order.jsonl").read_text().splitlines()
    path = _jsonl(tmp_path, lines[:-1] + [lines[-1][:60]])
    with pytest.raises(InputError, match="not valid JSON") as exc:
        read_binance_force_orders(path)
    assert "row 4" in str(exc.value) and "x.jsonl" in str(exc.value)


def test_empty_recording(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    with pytest.raises(InputError, match="empty"):
        read_bybit_liquidations(path)


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda m: m["o"].pop("S"), "o.S is missing"),
        (lambda m: m["o"].update(ap="0", p="0"), "o.p must be positive"),
        (lambda m: m["o"].update(s="BTCEUR"), "unknown Binance futures symbol"),
        (lambda m: m["o"].update(z="nan"), "o.z must be a finite number"),
        (lambda m: m["o"].update(z="0", q="abc"), "o.q is not a number"),
    ],
)
def test_binance_bad_events(fixtures, tmp_path, edit, words):
    msgs = [json.loads(l) for l in (fixtures / "binance_force_order.jsonl").read_text().splitlines()]
    edit(msgs[2])
    path = _jsonl(tmp_path, [json.dumps(m) for m in msgs])
    with pytest.raises(InputError, match=words) as exc:
        read_binance_force_orders(path)
    assert "row 3" in str(exc.value)


def test_bybit_bad_messages(fixtures):
    msgs = [json.loads(l) for l in (fixtures / "bybit_all_liquidation.jsonl").read_text().splitlines()]
    msgs[1]["data"][0]["p"] = "-1"
    with pytest.raises(InputError, match=r"row 2.*data.p must be positive"):
        read_bybit_liquidations(msgs)
    with pytest.raises(InputError, match="not a Bybit liquidation message"):
        read_bybit_liquidations([{"topic": "publicTrade.BTCUSDT", "data": []}])


def test_okx_inconsistent_sides(fixtures):
    msgs = json.loads((fixtures / "okx_liquidation_orders.json").read_text())
    msgs[1]["data"][0]["details"][0]["posSide"] = "long"  # a buy cannot liquidate a long
    with pytest.raises(InputError, match=r"row 2.*cannot liquidate a long"):
        read_okx_liquidations(msgs, contract_sizes=OKX_SIZES)


def test_bitmex_bad_rows(shared_data, malformed):
    zero = malformed(shared_data / BITMEX, lambda ls: ls[:4] + [ls[4].replace(",8441.5,", ",0,")] + ls[5:])
    with pytest.raises(InputError, match=r"row 5.*price must be positive"):
        read_bitmex_liquidations(zero, xbt_usd=8500)
    no_side = malformed(shared_data / BITMEX, lambda ls: [",".join(l.split(",")[:2] + l.split(",")[3:]) for l in ls])
    with pytest.raises(InputError, match=r"row 1.*missing column\(s\) side"):
        read_bitmex_liquidations(no_side)
