"""Hyperliquid clearinghouseState → observed positions and liquidation prices."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from liqcascade.data import read_hyperliquid_positions
from liqcascade.errors import InputError

ACCOUNT_1 = "0x1111111111111111111111111111111111111111"
ACCOUNT_2 = "0x2222222222222222222222222222222222222222"


@pytest.fixture
def states(fixtures):
    return json.loads((fixtures / "hyperliquid_clearinghouse_state.json").read_text())


def test_positions_of_several_accounts(fixtures):
    df = read_hyperliquid_positions(fixtures / "hyperliquid_clearinghouse_state.json")
    assert df.attrs["kind"] == "observed" and (df["kind"] == "observed").all()
    assert len(df) == 3  # the zero-size DOGE entry is a closed position
    eth = df[df["coin"] == "ETH"].iloc[0]
    assert eth["account"] == ACCOUNT_1 and eth["symbol"] == "ETH/USDC:USDC"
    assert (eth["side"], eth["mode"], eth["leverage"]) == ("long", "isolated", 20)
    assert eth["size"] == 0.2259 and eth["entry_price"] == 2213.9
    assert eth["liquidation_price"] == pytest.approx(2125.00856238)
    assert eth["margin_usd"] == pytest.approx(24.88097) and eth["notional_usd"] == pytest.approx(500.12001)
    assert eth["mark_price"] == pytest.approx(500.12001 / 0.2259)
    assert eth["datetime"] == pd.Timestamp(1704261007014, unit="ms", tz="UTC")
    btc = df[df["coin"] == "BTC"].iloc[0]
    assert (btc["side"], btc["size"], btc["mode"]) == ("short", 10.0, "cross")
    assert btc["liquidation_price"] > btc["entry_price"]  # a short is liquidated above its entry
    assert btc["account_value_usd"] == 45_000.0
    sol = df[df["coin"] == "SOL"].iloc[0]
    assert np.isnan(sol["liquidation_price"])  # collateral covers it at any price


def test_websocket_event_and_bare_response(fixtures, states):
    ws = read_hyperliquid_positions(fixtures / "hyperliquid_clearinghouse_state_ws.json")
    assert ws["account"].tolist() == ["0x3333333333333333333333333333333333333333"]
    assert ws["liquidation_price"].tolist() == [100250.5]
    bare = read_hyperliquid_positions(states[ACCOUNT_2], account=ACCOUNT_2)
    assert set(bare["coin"]) == {"BTC", "SOL"} and set(bare["account"]) == {ACCOUNT_2}
    records = read_hyperliquid_positions([{"user": ACCOUNT_1, "clearinghouseState": states[ACCOUNT_1]}])
    assert records["account"].tolist() == [ACCOUNT_1]


def test_no_positions_gives_an_empty_frame(states):
    empty = dict(states[ACCOUNT_1], assetPositions=[])
    df = read_hyperliquid_positions(empty, account=ACCOUNT_1)
    assert len(df) == 0 and "liquidation_price" in df.columns


def test_bad_states(states, tmp_path):
    with pytest.raises(InputError, match="no assetPositions"):
        read_hyperliquid_positions({"marginSummary": {}})
    bad = json.loads(json.dumps(states))
    bad[ACCOUNT_2]["assetPositions"][0]["position"]["leverage"]["type"] = "portfolio"
    with pytest.raises(InputError, match="cross or isolated"):
        read_hyperliquid_positions(bad)
    bad = json.loads(json.dumps(states))
    bad[ACCOUNT_1]["assetPositions"][0]["position"]["entryPx"] = "0"
    with pytest.raises(InputError, match="entryPx must be positive"):
        read_hyperliquid_positions(bad)
    cut = tmp_path / "cut.json"
    cut.write_text(json.dumps(states)[:300])
    with pytest.raises(InputError, match=r"cut.json.*not valid JSON"):
        read_hyperliquid_positions(cut)
