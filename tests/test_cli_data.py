"""`liqcascade analyze` and `liqcascade liqmap`: thin shells over `analytics.analyze` and the
liquidation maps.  The commands must give what the library gives on the same files, write their
outputs whole, and turn every bad flag or file into one line on stderr with exit code 2."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from liqcascade.analytics import analyze
from liqcascade.cli import app, main
from liqcascade.data import (
    read_binance_book_depth,
    read_binance_klines,
    read_coinalyze_open_interest,
    read_hyperliquid_positions,
    read_ohlcv,
)
from liqcascade.liqmap import liquidation_map, observed_liquidation_map

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
POSITIONS = Path(__file__).parent / "data" / "fixtures" / "hyperliquid_clearinghouse_state.json"
runner = CliRunner()


def shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} (../shared/data sits beside the repository, not in it)")
    return path


def ok(*args: str):
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, (res.output, res.exception)
    return res


def one_line_error(capsys, *args: str) -> str:
    """Run through main(): exit 2, nothing on stdout, one line on stderr."""
    assert main(list(args)) == 2
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert out.out == "" and len(lines) == 1, out.err
    assert lines[0].startswith("liqcascade: error: ") and "Traceback" not in out.err
    return lines[0]


def warnings_of(res) -> list[str]:
    return [line for line in res.stderr.splitlines() if line.startswith("liqcascade: warning: ")]


# ---------------------------------------------------------------------------- synthetic files
def ohlcv_csv(path: Path, n: int = 200, start: str = "2024-01-01", freq: str = "D", seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    t = pd.date_range(start, periods=n, freq=freq, tz="UTC")
    close = 40_000 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    opn = np.concatenate([[close[0]], close[:-1]])
    high = np.maximum(opn, close) * 1.01
    low = np.minimum(opn, close) * 0.99
    pd.DataFrame(
        {
            "timestamp": t.strftime("%Y-%m-%d %H:%M:%S"),
            "open": opn,
            "high": high,
            "low": low,
            "close": close,
            "volume": rng.uniform(100, 1_000, n),
        }
    ).to_csv(path, index=False)
    return path


def metrics_csv(path: Path, times: pd.DatetimeIndex, oi_usd: np.ndarray, price: float = 40_000.0) -> Path:
    """A Binance `metrics` archive with the given open interest (USD)."""
    lines = [
        "create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,"
        "sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio"
    ]
    for t, v in zip(times, oi_usd):
        lines.append(f"{t:%Y-%m-%d %H:%M:%S},BTCUSDT,{v / price:.6f},{v:.4f},1.5,1.4,1.6,0.9")
    path.write_text("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------------------- analyze
def test_analyze_real_files_agree_with_the_library(tmp_path):
    # Binance's BTC perpetual, hourly, up to the funding file's last day: every file covers the event
    hourly = pd.read_csv(shared("binance_2026_harthor", "binance_usdm_BTCUSDT_1h_2024-12-31_2026-02-19.csv"))
    bars = tmp_path / "btcusdt_1h_to_2025-10-25.csv"
    hourly = hourly[hourly["open_time_ms"] < pd.Timestamp("2025-10-26", tz="UTC").value // 10**6]
    hourly.rename(columns={"open_time_ms": "timestamp"}).to_csv(bars, index=False)
    ndx = shared("nasdaq100", "NDX_daily_2019-01-02_2026-08-21.csv")
    book = shared("theglory_oct10_2025", "BTCUSDT-bookDepth-2025-10-10.csv")
    oi = shared("coinalyze_coinbase", "coinalyze_oi_daily_BTCUSD_ETHUSD_PERP_A_2021-09-15_2025-10-26.csv")
    funding = shared("coinalyze_coinbase", "coinalyze_funding_daily_BTC_ETH_2025-07-28_2025-10-25.csv")
    res = ok(
        "analyze",
        "--bars",
        str(bars),
        "--index",
        str(ndx),
        "--book-depth",
        str(book),
        "--event",
        "2025-10-10 20:50",
        "2025-10-10 22:00",
        "--open-interest",
        str(oi),
        "--funding",
        str(funding),
        "--symbol",
        "BTC",
        "--json",
    )
    got = json.loads(res.stdout)
    # the documented cleaning warns once, as one line
    assert len(warnings_of(res)) == 1 and "dropped 1,906 of 28,790" in warnings_of(res)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = analyze(
            read_ohlcv(bars),
            index=read_ohlcv(ndx),
            book_depth=read_binance_book_depth(book),
            event=("2025-10-10 20:50", "2025-10-10 22:00"),
        )
    for key in ("bars", "last_close", "volatility", "drawdown", "fear_greed", "correlation"):
        assert got.get(key) == want.get(key), key
    assert got["depth"]["rows_dropped"] == 1_906 and got["depth"]["ask_usd"]["ratio"] == pytest.approx(6.33, abs=0.01)
    # Binance's coin-margined BTC perpetual, picked out of a file that also holds ETH
    coin = read_coinalyze_open_interest(oi)
    last = coin[coin["coinalyze_symbol"] == "BTCUSD_PERP.A"]["oi_close_usd"].iloc[-1]
    assert got["open_interest"]["open_interest"] == pytest.approx(last)
    last_btc = pd.read_csv(funding).query("coin_symbol == 'BTC'")["funding_rate"].iloc[-1]  # percent per 8 h
    assert got["funding"]["funding_rate"] == pytest.approx(last_btc / 100, rel=1e-12)
    assert got["funding"]["annualized"] == pytest.approx(last_btc / 100 * 3 * 365, rel=1e-12)
    assert got["inputs"]["bars"] == str(bars)


def test_analyze_refuses_or_warns_when_the_files_cover_other_periods(capsys):
    """Issue 19 item 8: daily bars ending in September 2024 beside open interest and funding from
    2025 were paired silently, and a reversed --event window was accepted."""
    bars = shared("scofieldchen_daily", "binance_btcusdt_1d.csv")  # 2017-08-17 .. 2024-09-21
    oi = shared("coinalyze_coinbase", "coinalyze_oi_daily_BTCUSD_ETHUSD_PERP_A_2021-09-15_2025-10-26.csv")
    funding = shared("coinalyze_coinbase", "coinalyze_funding_daily_BTC_ETH_2025-07-28_2025-10-25.csv")
    book = shared("theglory_oct10_2025", "BTCUSDT-bookDepth-2025-10-10.csv")
    line = one_line_error(capsys, "analyze", "--bars", str(bars), "--funding", str(funding), "--symbol", "BTC")
    assert "no common period" in line
    assert "2017-08-17 00:00 to 2024-09-21 00:00 UTC" in line and "2025-07-28 00:00 to 2025-10-25 00:00 UTC" in line
    # overlapping but ending 401 days apart: a warning naming both spans, the figures still given
    res = ok("analyze", "--bars", str(bars), "--open-interest", str(oi), "--symbol", "BTC", "--json")
    (warn,) = warnings_of(res)
    assert "2017-08-17 00:00 to 2024-09-21 00:00 UTC" in warn and "2021-09-16 00:00 to 2025-10-27 00:00 UTC" in warn
    assert "401 days apart" in warn and json.loads(res.stdout)["open_interest"]["open_interest"] > 0
    # a reversed event window, and one outside the depth file
    line = one_line_error(
        capsys,
        "analyze",
        "--bars",
        str(bars),
        "--book-depth",
        str(book),
        "--event",
        "2025-10-10 22:00",
        "2025-10-10 20:50",
    )
    assert "reversed" in line and "2025-10-10 22:00:00" in line and "2025-10-10 20:50:00" in line
    assert main(["analyze", "--bars", str(bars), "--book-depth", str(book), "--event", "2024-03-01", "2024-03-02"]) == 2
    err = capsys.readouterr().err.strip().splitlines()  # the cleaning warning, then the error
    assert len(err) == 2 and err[1].startswith("liqcascade: error: ")
    assert "no common period" in err[1] and "--book-depth BTCUSDT-bookDepth-2025-10-10.csv covers" in err[1]


def test_analyze_prints_a_table(tmp_path):
    res = ok("analyze", "--bars", str(ohlcv_csv(tmp_path / "bars.csv")))
    assert "realised volatility" in res.stdout and "fear & greed" in res.stdout and res.stderr == ""


def test_analyze_reads_binance_kline_archives():
    path = shared("theglory_oct10_2025", "BTCUSD_PERP-1m-2025-10-10.zip")
    got = json.loads(ok("analyze", "--bars", str(path), "--volatility-window", "1h", "--json").stdout)
    assert got["bars"] == len(read_binance_klines(path)) and "fear_greed" not in got  # one day: too short


def test_analyze_bad_input_is_one_line(tmp_path, capsys):
    bars = ohlcv_csv(tmp_path / "bars.csv")
    line = one_line_error(capsys, "analyze", "--bars", str(tmp_path / "missing.csv"))
    assert "missing.csv" in line
    broken = tmp_path / "broken.csv"
    lines = bars.read_text().splitlines()
    lines[7] = lines[7].replace(lines[7].split(",")[4], "nan", 1)  # a NaN close on line 8
    broken.write_text("\n".join(lines) + "\n")
    line = one_line_error(capsys, "analyze", "--bars", str(broken))
    assert "broken.csv" in line and "row 8" in line
    line = one_line_error(capsys, "analyze", "--bars", str(bars), "--event", "2024-03-01", "2024-03-02")
    assert "--book-depth" in line
    assert "--event" in one_line_error(capsys, "analyze", "--bars", str(bars), "--event", "2024-03-01")
    line = one_line_error(capsys, "analyze", "--bars", str(bars), "--open-interest", str(bars))
    assert "not an open-interest file" in line
    line = one_line_error(capsys, "analyze", "--bars", str(bars), "--correlation-window", "x")
    assert "--correlation-window" in line


def test_analyze_needs_a_market_in_multi_market_files(capsys):
    bars = shared("scofieldchen_daily", "binance_btcusdt_1d.csv")
    oi = shared("coinalyze_coinbase", "coinalyze_oi_daily_BTCUSD_ETHUSD_PERP_A_2021-09-15_2025-10-26.csv")
    line = one_line_error(capsys, "analyze", "--bars", str(bars), "--open-interest", str(oi))
    assert "holds 2 markets (BTCUSD_PERP.A, ETHUSD_PERP.A); choose one with --symbol" in line
    eth = json.loads(
        ok("analyze", "--bars", str(bars), "--open-interest", str(oi), "--symbol", "ETHUSD_PERP.A", "--json").stdout
    )
    coin = read_coinalyze_open_interest(oi)
    assert eth["open_interest"]["open_interest"] == pytest.approx(coin[coin["coin"] == "ETH"]["oi_close_usd"].iloc[-1])


def test_analyze_depth_bucket_must_exist(capsys):
    bars = shared("scofieldchen_daily", "binance_btcusdt_1d.csv")
    book = shared("theglory_oct10_2025", "BTCUSDT-bookDepth-2025-10-10.csv")
    assert main(["analyze", "--bars", str(bars), "--book-depth", str(book), "--depth-pct", "0.5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    # the cleaning warning, then the error: one line each
    assert err[-1].startswith("liqcascade: error: ") and "no bucket at ±0.5 %" in err[-1]
    assert all(line.startswith("liqcascade: ") for line in err)


# ---------------------------------------------------------------------------- liqmap (estimated)
@pytest.fixture
def small_market(tmp_path):
    """Five-minute bars over two days and a Binance metrics file whose OI rises, then falls."""
    t = pd.date_range("2025-10-01", periods=576, freq="5min", tz="UTC")
    bars = ohlcv_csv(tmp_path / "bars.csv", n=len(t), start="2025-10-01", freq="5min", seed=3)
    oi = 1e9 + 2e8 * np.sin(np.linspace(0, 3, len(t)))
    return bars, metrics_csv(tmp_path / "metrics.csv", t, oi), oi


def test_liqmap_is_the_library_map(small_market, tmp_path):
    bars, metrics, oi = small_market
    res = ok(
        "liqmap",
        "--bars",
        str(bars),
        "--open-interest",
        str(metrics),
        "--venue",
        "bybit",
        "--bin",
        "250",
        "--leverage-mix",
        "10:0.5,25:0.5",
        "--long-share",
        "0.6",
        "--json",
    )
    got = json.loads(res.stdout)
    m = liquidation_map(
        read_ohlcv(bars), open_interest=oi, venue="bybit", leverage_mix={10: 0.5, 25: 0.5}, long_share=0.6, bin_size=250
    )
    assert got["label"] == "estimated" and got["venue"] == "bybit" and got["bars"] == 576
    assert got["long_usd"] == pytest.approx(m.long_usd[-1].sum(), rel=1e-9)
    assert got["short_usd"] == pytest.approx(m.short_usd[-1].sum(), rel=1e-9)
    assert got["opened_usd"] == pytest.approx(np.clip(np.diff(oi), 0, None).sum(), rel=1e-6)
    assert got["liquidated_long_usd"] == pytest.approx(m.liquidated_long_usd.sum(), rel=1e-9)


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".json", ".html"])
def test_liqmap_writes_each_format_whole(small_market, tmp_path, suffix):
    bars, metrics, _ = small_market
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / f"map{suffix}"
    res = ok(
        "liqmap",
        "--bars",
        str(bars),
        "--open-interest",
        str(metrics),
        "--range",
        "30000",
        "60000",
        "--every",
        "12",
        "--out",
        str(out),
    )
    assert f"written to {out}" in res.stderr
    assert [p.name for p in out_dir.iterdir()] == [out.name]  # no temporaries left behind
    assert oct(out.stat().st_mode & 0o777) != "0o600"  # the temporary's private mode is not kept
    if suffix == ".parquet":
        frame = pq.read_table(out).to_pandas()
        assert set(frame.columns) >= {"timestamp", "price_level", "long_usd", "short_usd", "label"}
        assert frame["price_level"].between(30_000, 60_000).all()
    elif suffix == ".csv":
        assert pd.read_csv(out)["label"].eq("estimated").all()
    elif suffix == ".json":
        doc = json.loads(out.read_text())
        assert {"y_axis", "liquidation_leverage_data", "price_candlesticks"} <= set(doc)
        assert doc["label"] == "estimated" and len(doc["price_candlesticks"]) == 576 // 12
    else:
        assert "plotly" in out.read_text()[:5000].lower()


def test_liqmap_on_the_real_oct_2025_bars():
    bars = shared("theglory_oct10_2025", "BTCUSDT-5m-2025-10-01_2025-12-31.csv")
    oi = shared("coinalyze_coinbase", "coinalyze_oi_daily_BTCUSD_ETHUSD_PERP_A_2021-09-15_2025-10-26.csv")
    res = ok("liqmap", "--bars", str(bars), "--open-interest", str(oi), "--range", "90000", "140000", "--json")
    got = json.loads(res.stdout)
    # the OI file ends on 26 Oct; the bars run to 30 Dec: the command says so in one warning line
    w = warnings_of(res)
    assert len(w) == 1 and "outside the open-interest file's span" in w[0]
    # daily closes placed at the end of their day, as docs/oct-10-2025.md does, then interpolated
    k = read_binance_klines(bars)
    coin = read_coinalyze_open_interest(oi)
    coin = coin[coin["coinalyze_symbol"] == "BTCUSD_PERP.A"]
    ts = coin["timestamp"].to_numpy() + 86_400_000
    m = liquidation_map(
        k, open_interest=np.interp(k["timestamp"], ts, coin["oi_close_usd"]), price_range=(90_000, 140_000)
    )
    assert got["bars"] == len(k) and got["short_usd"] == pytest.approx(m.short_usd[-1].sum(), rel=1e-9)
    assert got["liquidated_long_usd"] == pytest.approx(m.liquidated_long_usd.sum(), rel=1e-9)


def test_liqmap_bad_input_is_one_line(small_market, tmp_path, capsys):
    bars, metrics, _ = small_market
    base = ["liqmap", "--bars", str(bars), "--open-interest", str(metrics)]
    assert "--open-interest" in one_line_error(capsys, "liqmap", "--bars", str(bars))
    assert "leverage_mix" in one_line_error(capsys, *base, "--leverage-mix", "5-0.3")
    assert "leverage_mix" in one_line_error(capsys, *base, "--leverage-mix", "5:0.3,10:0.3")  # shares sum to 0.6
    assert "the suffix picks the format" in one_line_error(capsys, *base, "--out", str(tmp_path / "map.txt"))
    assert "does not exist" in one_line_error(capsys, *base, "--out", str(tmp_path / "nowhere" / "map.csv"))
    assert "long_share" in one_line_error(capsys, *base, "--long-share", "1.5")
    assert "bin_size" in one_line_error(capsys, *base, "--bin", "0")
    assert "--range" in one_line_error(capsys, *base, "--range", "1")
    assert "unknown venue" in one_line_error(capsys, *base, "--venue", "kraken")
    line = one_line_error(capsys, *base, "--observed", str(POSITIONS))
    assert "cannot be combined with --observed" in line
    assert "no such file" in one_line_error(capsys, "liqmap", "--observed", str(tmp_path / "none.json"))


# ---------------------------------------------------------------------------- liqmap (observed)
def test_liqmap_observed_from_hyperliquid_positions(tmp_path, capsys):
    line = one_line_error(capsys, "liqmap", "--observed", str(POSITIONS))
    assert "choose one of" in line and "BTC/USDC:USDC" in line  # three markets in the file
    out = tmp_path / "observed.json"
    res = ok(
        "liqmap", "--observed", str(POSITIONS), "--symbol", "BTC/USDC:USDC", "--bin", "500", "--json", "--out", str(out)
    )
    got = json.loads(res.stdout)
    pos = read_hyperliquid_positions(POSITIONS).rename(columns={"entry_price": "entry", "margin_usd": "margin"})
    m = observed_liquidation_map(pos, symbol="BTC/USDC:USDC", bin_size=500)
    assert got["label"] == "observed" and got["venue"] == "hyperliquid"
    assert got["long_usd"] + got["short_usd"] == pytest.approx(m.total_usd.sum())
    doc = json.loads(out.read_text())
    assert doc["label"] == "observed" and doc["x_axis"] == [int(pos["timestamp"].max())]
