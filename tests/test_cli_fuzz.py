"""Fuzz the command line: every command and every file it reads, with bad input (issue 19).

Each case is one bad input — a flag value, a combination of flags, or a file (written here,
mutated from a valid one) — given to ``liqcascade.cli.main`` in-process.  Each must end with exit
code 2, nothing on stdout, exactly one line on stderr (``liqcascade: error: …``; warnings about
documented cleaning may come first, one line each) and no traceback, and must leave the outputs
already on disk byte for byte as they were (a directory of earlier results is passed as ``--out``
wherever the command writes).  Every case is refused before any simulation: the suite runs in
seconds.  Hypothesis adds random files and flag values on top of the enumerated cases.

Placeholders in the argument lists: ``{F}`` the case's own file, ``{W}`` the workspace of valid
inputs, ``{O}`` the directory of earlier outputs.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liqcascade.cli import main
from liqcascade.scenario import bundled_text

HERE = Path(__file__).parent
OBSERVED = (HERE / "data" / "fixtures" / "hyperliquid_clearinghouse_state.json").read_text()
TARGETS = (HERE.parent / "src" / "liqcascade" / "scenarios" / "targets" / "feb-2026.toml").read_text()
PARAMETERS = (HERE.parent / "src" / "liqcascade" / "scenarios" / "model-parameters.toml").read_text()
# feb-2026 cut to 2 h, without its market series (a copy elsewhere has no sidecar beside it: free)
SCENARIO = (
    re.sub(r"(?m)^horizon_hours = .*$", "horizon_hours = 2.0", bundled_text("feb-2026")).split("\n[series]", 1)[0]
    + "\n"
)


def _first(pattern: str, value: str, text: str) -> str:
    """``text`` with the first ``pattern = <value>`` assignment's value replaced."""
    out, n = re.subn(rf"(?m)^{pattern} = [^\n#]*", f"{pattern} = {value}", text, count=1)
    assert n == 1, pattern
    return out


# ============================================================================ valid inputs
def _bars_frame(n: int = 120) -> pd.DataFrame:
    t = pd.date_range("2025-06-01", periods=n, freq="D", tz="UTC")
    rng = np.random.default_rng(7)
    close = 100_000 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    opn = np.r_[close[0], close[:-1]]
    return pd.DataFrame(
        {
            "timestamp": t.strftime("%Y-%m-%d %H:%M:%S"),
            "open": opn,
            "high": np.maximum(opn, close) * 1.01,
            "low": np.minimum(opn, close) * 0.99,
            "close": close,
            "volume": rng.uniform(100, 1_000, n),
        }
    )


BARS = _bars_frame().to_csv(index=False)
_T = pd.to_datetime(_bars_frame()["timestamp"], utc=True)
METRICS = (
    "create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,"
    "sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio\n"
    + "".join(
        f"{t:%Y-%m-%d %H:%M:%S},BTCUSDT,{1e4 + i:.3f},{(1e4 + i) * 1e5:.2f},1.5,1.4,1.6,0.9\n" for i, t in enumerate(_T)
    )
)
FUNDING = (
    "rank,coin_name,coin_symbol,symbol,date,timestamp,funding_rate,funding_rate_pct,fr_open,fr_high,fr_low\n"
    + "".join(f"1,Bitcoin,BTC,BTCUSD_PERP.A,{t:%Y-%m-%d},{int(t.timestamp())},0.01,1.0,0.01,0.01,0.01\n" for t in _T)
)
BOOK = "timestamp,percentage,depth,notional,weighted_avg_price\n" + "".join(
    f"2025-09-01 00:{m:02d}:00,{p},{abs(p) * (10.0 + m):.3f},{abs(p) * 1e6 * (1 + m / 100):.2f},"
    f"{1e5 * (1 + p / 200):.2f}\n"
    for m in range(30)
    for p in (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5)
)
BATCH = "side,entry,size,leverage\nlong,95000,1,10\nshort,3800,20,5\n"
ACCOUNT = json.dumps(
    {
        "wallet_balance": 10000,
        "positions": [
            {"symbol": "BTC/USDT:USDT", "side": "long", "size": 1.0, "entry": 95000, "mark": 94000},
            {"symbol": "ETH/USDT:USDT", "side": "long", "size": 20.0, "entry": 3800, "mark": 3500},
        ],
    }
)
CCXT = {
    "info": {},
    "symbol": "BTC/USDT:USDT",
    "side": "long",
    "contracts": 1.0,
    "contractSize": 1.0,
    "entryPrice": 95000.0,
    "markPrice": 94000.0,
    "marginMode": "cross",
    "leverage": 20,
}

VALID = {
    "bars.csv": BARS,
    "metrics.csv": METRICS,
    "funding.csv": FUNDING,
    "book.csv": BOOK,
    "batch.csv": BATCH,
    "account.json": ACCOUNT,
    "observed.json": OBSERVED,
    "scenario.toml": SCENARIO,
    "targets.toml": TARGETS,
    "parameters.toml": PARAMETERS,
}


# ============================================================================ the cases
CASES: list[tuple[str, tuple[str, ...], bytes | None, str]] = []  # (id, argv, the case's own file, its suffix)


def case(args, file: str | bytes | None = None, suffix: str = "") -> None:
    data = file.encode() if isinstance(file, str) else file
    argv = tuple(args)
    CASES.append((f"{len(CASES):03d}-" + "_".join(argv)[:60], argv, data, suffix))


def replace_cell(text: str, row: int, column: str, value: str) -> str:
    lines = text.splitlines()
    cols = lines[0].split(",")
    cells = lines[row].split(",")
    cells[cols.index(column)] = value
    lines[row] = ",".join(cells)
    return "\n".join(lines) + "\n"


def drop_column(text: str, column: str) -> str:
    frame = pd.read_csv(pd.io.common.StringIO(text), dtype=str)
    return frame.drop(columns=[column]).to_csv(index=False)


GARBAGE = bytes(range(256)) * 4
NOT_UTF8 = b"timestamp,open,high,low,close\n\xff\xfe\x00\x81,1,2,3,4\n"
STRUCTURAL = {
    "empty": "",
    "header-only": BARS.splitlines()[0] + "\n",
    "garbage": GARBAGE,
    "not-utf8": NOT_UTF8,
    "one-column": "a\n1\n2\n",
}
BAD_NUMBERS = ("nan", "inf", "-inf", "abc", "-1", "0", "")

# ---------------------------------------------------------------- liqprice: flags
SINGLE = ["liqprice", "--venue", "binance", "--side", "long", "--entry", "95000", "--size", "1", "--leverage", "10"]


def with_flag(base: list[str], flag: str, value: str) -> list[str]:
    out = list(base)
    if flag in out:
        out[out.index(flag) + 1] = value
    else:
        out += [flag, value]
    return out


for flag in ("--entry", "--size", "--leverage"):
    for v in BAD_NUMBERS + ("1e999", "-0.0001"):
        case(with_flag(SINGLE, flag, v))
for flag, bad in (
    ("--margin", ("nan", "inf", "-inf", "abc", "-5")),
    ("--max-leverage", ("nan", "inf", "abc", "-5", "0")),
    ("--mmr", ("nan", "inf", "abc", "-0.1", "1.5")),
    ("--maintenance-amount", ("nan", "inf", "abc", "-1")),
    ("--taker-fee", ("nan", "inf", "abc", "-0.1", "2")),
):
    for v in bad:
        case(with_flag(SINGLE, flag, v))
for v in ("kraken", "ftx", "bin ance", "", "okx2"):
    case(with_flag(SINGLE, "--venue", v))
for v in ("up", "", "LONGG", "1", "buyer"):
    case(with_flag(SINGLE, "--side", v))
for v in ("both", "", "hedged"):
    case(with_flag(SINGLE, "--mode", v))
for v in ("XYZ/USDT:USDT", "ZZZ", "", "///"):
    case(with_flag(SINGLE, "--symbol", v))
case(["liqprice"])  # nothing given
case(["liqprice", "--side", "long"])
case(["liqprice", "--side", "long", "--entry", "95000"])
case(["liqprice", "--side", "long", "--entry", "95000", "--size", "1"])
case(["liqprice", "--side", "long", "--entry", "95000", "--size", "1", "--margin", "1000", "--leverage", "50"])
case(["liqprice", "--venue", "binance", "--side", "long", "--entry", "95000", "--size", "1", "--leverage", "1000"])
case([*SINGLE, "--out", "{O}/batch.csv"])  # --out without --batch
case([*SINGLE, "--bogus-flag", "1"])
case([*SINGLE, "--entry"])  # a flag without its value
case(["liqprice", "--venue", "binance", "--batch", "{W}/batch.csv", "--account", "{W}/account.json"])
case(["liqprice", "--batch", "{W}/batch.csv"])  # no --venue
case(["liqprice", "--venue", "binance", "--batch", "{W}/batch.csv", "--entry", "1"])
case(["liqprice", "--account", "{W}/account.json"])  # no --venue
case(["liqprice", "--venue", "binance", "--account", "{W}/account.json", "--mmr", "0.01"])
case(["liqprice", "--venue", "binance", "--batch", "{W}/missing.csv"])
case(["liqprice", "--venue", "binance", "--batch", "{W}"])  # a directory
case(["liqprice", "--venue", "binance", "--batch", "{W}/batch.csv", "--out", "{O}/nowhere/batch.csv"])

# ---------------------------------------------------------------- liqprice: --batch files
BATCH_ARGS = ["liqprice", "--venue", "binance", "--batch", "{F}", "--out", "{O}/batch.csv"]
for column in ("side", "entry", "size", "leverage"):
    for v in ("nan", "inf", "-1", "0", "abc", "") if column != "side" else ("up", "", "0", "nan", "LONG SHORT"):
        case(BATCH_ARGS, replace_cell(BATCH, 2, column, v), ".csv")
for text in STRUCTURAL.values():
    case(BATCH_ARGS, text, ".csv")
case(BATCH_ARGS, BATCH.replace("side,", "sidee,"), ".csv")  # unknown column
case(BATCH_ARGS, drop_column(BATCH, "side"), ".csv")
case(BATCH_ARGS, drop_column(BATCH, "entry"), ".csv")
case(BATCH_ARGS, BATCH + "long,95000,1\n", ".csv")  # a short row
case(
    BATCH_ARGS, BATCH.replace("leverage", "leverage,margin").replace("\nlong,95000,1,10", "\nlong,95000,1,10,1"), ".csv"
)  # margin below the initial margin
case(BATCH_ARGS, BATCH.replace("95000", "9.5e400"), ".csv")

# ---------------------------------------------------------------- liqprice: --account files
ACCOUNT_ARGS = ["liqprice", "--venue", "binance", "--account", "{F}"]


def account_with(**change) -> str:
    doc = json.loads(ACCOUNT)
    for k, v in change.items():
        if k.startswith("p_"):
            doc["positions"][0][k[2:]] = v
        else:
            doc[k] = v
    return json.dumps(doc)


for text in ("", "{", "[]", "null", "42", '"text"', '{"positions": []}', '{"wallet_balance": 1}'):
    case(ACCOUNT_ARGS, text, ".json")
case(ACCOUNT_ARGS, GARBAGE, ".json")
for v in (None, -1, "abc", [], True):
    case(ACCOUNT_ARGS, account_with(wallet_balance=v), ".json")
case(ACCOUNT_ARGS, ACCOUNT.replace("10000", "NaN", 1), ".json")
case(ACCOUNT_ARGS, ACCOUNT.replace("10000", "Infinity", 1), ".json")
for v in ([], {}, "x", None):
    case(ACCOUNT_ARGS, account_with(positions=v), ".json")
for key in ("size", "entry", "mark"):
    for v in (0, -1, "abc", None, [1]):
        case(ACCOUNT_ARGS, account_with(**{f"p_{key}": v}), ".json")
    case(ACCOUNT_ARGS, account_with(**{f"p_{key}": 1}).replace(f'"{key}": 1', f'"{key}": NaN'), ".json")
for v in ("", "XYZ/USDT:USDT", 42, None):
    case(ACCOUNT_ARGS, account_with(p_symbol=v), ".json")
for v in ("up", "", None, 1):
    case(ACCOUNT_ARGS, account_with(p_side=v), ".json")
for key, v in (("mmr", 1.5), ("mmr", -0.1), ("maintenance_amount", -5), ("taker_fee", 2), ("sizee", 1)):
    case(ACCOUNT_ARGS, account_with(**{f"p_{key}": v}), ".json")
for change in (
    {"marginMode": "isolated"},
    {"contractSize": None},
    {"markPrice": None},
    {"contracts": 0},
    {"contracts": -3},
    {"entryPrice": 0},
    {"side": "flat"},
    {"unknownKey": 1},
    {"contractSize": "x"},
    {"isolated": True, "marginMode": None},
):
    doc = json.loads(ACCOUNT)
    doc["positions"][0] = {**CCXT, **change}
    case(ACCOUNT_ARGS, json.dumps(doc), ".json")

# ---------------------------------------------------------------- analyze
AN = ["analyze", "--bars", "{W}/bars.csv"]


def bars_mutations() -> dict[str, str | bytes]:
    m: dict[str, str | bytes] = dict(STRUCTURAL)
    for col in ("open", "high", "low", "close"):
        m[f"{col}-nan"] = replace_cell(BARS, 5, col, "nan")
        m[f"{col}-text"] = replace_cell(BARS, 5, col, "abc")
    m["close-inf"] = replace_cell(BARS, 3, "close", "inf")
    m["close-negative"] = replace_cell(BARS, 3, "close", "-5")
    m["close-zero"] = replace_cell(BARS, 3, "close", "0")
    m["no-close"] = drop_column(BARS, "close")
    m["no-time"] = drop_column(BARS, "timestamp")
    m["bad-time"] = replace_cell(BARS, 4, "timestamp", "yesterday")
    lines = BARS.splitlines()
    lines[3], lines[4] = lines[4], lines[3]
    m["unsorted"] = "\n".join(lines) + "\n"
    lines = BARS.splitlines()
    lines[4] = lines[3]
    m["duplicate-time"] = "\n".join(lines) + "\n"
    return m


for text in bars_mutations().values():
    case(["analyze", "--bars", "{F}"], text, ".csv")
case(["analyze", "--bars", "{F}"], b"\x1f\x8b" + GARBAGE, ".csv.gz")
case(["analyze", "--bars", "{F}"], GARBAGE, ".zip")
case(["analyze", "--bars", "{F}"], gzip.compress(b""), ".gz")
case(["analyze", "--bars", "{W}/missing.csv"])
case(["analyze", "--bars", "{W}"])
case(["analyze"])  # --bars is required
for name in ("empty", "garbage", "header-only"):
    case([*AN, "--index", "{F}"], STRUCTURAL[name], ".csv")
case([*AN, "--index", "{F}"], replace_cell(BARS, 5, "close", "nan"), ".csv")
case([*AN, "--index", "{W}/missing.csv"])
for text in (
    "",
    GARBAGE,
    BARS,
    replace_cell(METRICS, 3, "sum_open_interest_value", "nan"),
    replace_cell(METRICS, 3, "sum_open_interest_value", "-1"),
    replace_cell(METRICS, 3, "sum_open_interest_value", "abc"),
    drop_column(METRICS, "sum_open_interest_value"),
    replace_cell(METRICS, 3, "create_time", "never"),
):
    case([*AN, "--open-interest", "{F}"], text, ".csv")
for text in (
    "",
    GARBAGE,
    BARS,
    replace_cell(FUNDING, 3, "funding_rate", "nan"),
    replace_cell(FUNDING, 3, "funding_rate", "abc"),
    drop_column(drop_column(FUNDING, "timestamp"), "date"),
):
    case([*AN, "--funding", "{F}"], text, ".csv")
case([*AN, "--funding", "{W}/missing.csv"])
for text in (
    "",
    GARBAGE,
    BARS,
    replace_cell(BOOK, 3, "notional", "abc"),
    drop_column(BOOK, "notional"),
    replace_cell(BOOK, 3, "percentage", "x"),
):
    case([*AN, "--book-depth", "{F}"], text, ".csv")
case([*AN, "--book-depth", "{W}/book.csv", "--depth-pct", "0.5"])  # no such bucket
for ev in (
    ("2025-09-01", "yesterday"),
    ("soon", "2025-09-02"),
    ("2025-09-01 00:20", "2025-09-01 00:10"),
    ("2025-09-01", "2025-09-01"),
    ("2024-01-01", "2024-01-02"),
):
    case([*AN, "--book-depth", "{W}/book.csv", "--event", *ev])
case([*AN, "--event", "2025-09-01", "2025-09-02"])  # --event needs --book-depth
case([*AN, "--event", "2025-09-01"])  # one value
for v in ("nan", "inf", "abc", "-1", "7"):
    case([*AN, "--book-depth", "{W}/book.csv", "--depth-pct", v])
for v in ("x", "nan", "1.5"):
    case([*AN, "--correlation-window", v])
for v in ("xyz", "-3D", ""):
    case([*AN, "--volatility-window", v])
case([*AN, "--open-interest", "{F}"], BARS.replace("2025-", "2021-"), ".csv")  # not an OI file

# ---------------------------------------------------------------- liqmap
LM = ["liqmap", "--bars", "{W}/bars.csv", "--open-interest", "{W}/metrics.csv", "--out", "{O}/map.csv"]
for v in ("nan", "inf", "-1", "0", "abc", "1e-9", "0.0001"):
    case(with_flag(LM, "--bin", v))
for lo, hi in (("nan", "1"), ("1", "inf"), ("5", "1"), ("-5", "1"), ("0", "1e12"), ("0", "abc")):
    case([*LM, "--range", lo, hi])
case([*LM, "--range", "1"])
for v in ("nan", "1.5", "-0.1", "abc"):
    case([*LM, "--long-share", v])
for v in ("5-0.3", "5:0.3,10:0.3", "0.5:1", "5:nan", "abc", "", "5:1.5,10:-0.5", "1000:1"):
    case([*LM, "--leverage-mix", v])
for v in ("0", "-1", "abc"):
    case([*LM, "--every", v])
for v in ("kraken", ""):
    case([*LM, "--venue", v])
case([*LM, "--symbol", "XYZ/USDT:USDT"])
case(with_flag(LM, "--out", "{O}/map.txt"))
case(with_flag(LM, "--out", "{O}/nowhere/map.csv"))
case(with_flag(LM, "--out", "/proc/map.csv"))
case(["liqmap", "--bars", "{W}/bars.csv"])
case(["liqmap", "--open-interest", "{W}/metrics.csv"])
case(["liqmap"])
case([*LM, "--observed", "{W}/observed.json"])
for text in bars_mutations().values():
    case(["liqmap", "--bars", "{F}", "--open-interest", "{W}/metrics.csv", "--out", "{O}/map.csv"], text, ".csv")
for text in (
    "",
    GARBAGE,
    replace_cell(METRICS, 3, "sum_open_interest_value", "nan"),
    replace_cell(METRICS, 3, "sum_open_interest_value", "-1"),
    BARS,
):
    case(["liqmap", "--bars", "{W}/bars.csv", "--open-interest", "{F}", "--out", "{O}/map.csv"], text, ".csv")
OB = ["liqmap", "--observed", "{F}", "--out", "{O}/map.csv"]
for text in (
    "",
    "{",
    "[]",
    "{}",
    "null",
    '{"0xabc": {"assetPositions": "x"}}',
    GARBAGE,
    OBSERVED.replace('"entryPx": "2213.9"', '"entryPx": "abc"'),
    OBSERVED.replace('"szi": "0.2259"', '"szi": "NaN"'),
):
    case(OB, text, ".json")
case(["liqmap", "--observed", "{W}/observed.json", "--out", "{O}/map.csv"])  # three markets: choose one
case(["liqmap", "--observed", "{W}/observed.json", "--symbol", "DOGE/USDC:USDC", "--out", "{O}/map.csv"])
case(["liqmap", "--observed", "{W}/missing.json"])

# ---------------------------------------------------------------- run, calibrate, sweep: scenario files


def scenario_mutations() -> dict[str, str | bytes]:
    s = SCENARIO
    return {
        "empty": "",
        "garbage": GARBAGE,
        "not-toml": "name = \n",
        "unknown-key": s + "\nbogus = 1\n",
        "oi-nan": _first("open_interest_usd", "nan", s),
        "oi-inf": _first("open_interest_usd", "inf", s),
        "oi-negative": _first("open_interest_usd", "-1.0", s),
        "oi-text": _first("open_interest_usd", '"lots"', s),
        "oi-absurd": _first("open_interest_usd", "9.0e15", s),
        "horizon-zero": _first("horizon_hours", "0.0", s),
        "step-negative": _first("step_seconds", "-1.0", s),
        "long-share": _first("long_share", "1.5", s),
        "venue": _first("venue", '"kraken"', s),
        "kappa-nan": _first("kappa", "nan", s),
        "no-markets": re.sub(r"(?ms)^\[\[markets\]\].*?(?=^\[|\Z)", "", s),
    }


for text in scenario_mutations().values():
    case(["run", "{F}", "--out", "{O}", "--positions", "1000"], text, ".toml")
    case(["sweep", "{F}", "--out", "{O}", "--positions", "1000"], text, ".toml")
    case(["calibrate", "{F}", "--out", "{O}/calibration", "--positions", "1000"], text, ".toml")
for name in ("no-such-scenario", "feb-2027", ""):
    case(["run", name, "--out", "{O}"])
    case(["scenario", "show", name])
case(["run", "{W}/missing.toml", "--out", "{O}"])


def targets_mutations() -> dict[str, str | bytes]:
    t = TARGETS
    first = 'key = "liquidations_usd_reported"'
    return {
        "empty": "",
        "garbage": GARBAGE,
        "not-toml": "[[targets]\n",
        "unknown-key": t.replace(first, first + "\nbogus = 1", 1),
        "low-above-high": t.replace("low = 2.0e9", "low = 9.0e9", 1),
        "low-nan": t.replace("low = 2.0e9", "low = nan", 1),
        "unknown-figure": t.replace(first, 'key = "liquidations_usd_reportd"', 1),
        "unknown-asset": t.replace(first, 'key = "drawdown_pct.XRP"', 1),
        "table": t.replace(first, 'key = "by_venue_usd"', 1),
        "kind": t.replace(first, first + '\nkind = "between"', 1),
        "no-targets": t.split("[[targets]]")[0],
    }


for text in targets_mutations().values():
    case(["run", "--targets", "{F}", "--out", "{O}", "--positions", "1000"], text, ".toml")
    case(["calibrate", "--targets", "{F}", "--out", "{O}/calibration", "--positions", "1000"], text, ".toml")
case(["run", "--targets", "no-such-targets", "--out", "{O}"])


def parameters_mutations() -> dict[str, str | bytes]:
    p = PARAMETERS
    return {
        "empty-section": "[population]\nbogus = 1\n",
        "garbage": GARBAGE,
        "not-toml": "[population\n",
        "path-vol-nan": re.sub(r"path_vol = [0-9.]+", "path_vol = nan", p, count=1),
        "path-vol-negative": re.sub(r"path_vol = [0-9.]+", "path_vol = -1.0", p, count=1),
        "pareto-text": re.sub(r"pareto_alpha = [0-9.]+", 'pareto_alpha = "heavy"', p, count=1),
        "books-unknown": re.sub(r'^books = "fresh"', 'books = "stale"', p, count=1, flags=re.M),
    }


for text in parameters_mutations().values():
    case(["run", "--parameters", "{F}", "--out", "{O}", "--positions", "1000"], text, ".toml")
    case(["calibrate", "--parameters", "{F}", "--out", "{O}/calibration", "--positions", "1000"], text, ".toml")
case(["run", "--parameters", "{W}/missing.toml", "--out", "{O}"])

# ---------------------------------------------------------------- run, runs, calibrate: flags
RUN = ["run", "--out", "{O}"]
for v in ("0", "-1", "abc", "1.5", "99999999999", ""):
    case([*RUN, "--positions", v])
for v in ("-1", "abc", "1.5"):
    case([*RUN, "--seed", v])
case(["run", "--out", "{O}/runs.duckdb"])  # a file, not a directory
case(["run", "--out", "{F}", "--positions", "1000"], b"not a database", ".duckdb")
case(["runs", "--out", "{F}"], "a file", ".txt")
CAL = ["calibrate", "--out", "{O}/calibration", "--positions", "1000"]
for flag, v in (
    ("--positions", "0"),
    ("--positions", "-5"),
    ("--samples", "0"),
    ("--rounds", "-1"),
    ("--seed", "abc"),
    ("--seeds", "1,x"),
    ("--seeds", ""),
    ("--positions", "99999999999"),
):
    case(with_flag(CAL, flag, v))
case([*CAL, "--seed", "1", "--seeds", "1,2"])
for spec in (
    "population.path_vol",
    "population.path_vol=0.3",
    "population.path_vol=1.0:0.3",
    "population.path_vol=nan:1",
    "bogus.key=0:1",
    "population.path_vol=a:b",
):
    case([*CAL, "--free", spec])
case([*CAL, "--free", "population.path_vol=0.3:1", "--free", "population.path_vol=0.4:1"])
case([*CAL, "--also", "no-such-scenario"])
case(with_flag(CAL, "--out", "/proc/calibration"))
case(with_flag(CAL, "--out", "{O}/map.csv/sub"))

# ---------------------------------------------------------------- sweep: flags
SW = ["sweep", "--out", "{O}", "--positions", "1000"]
for flag, values in (
    ("--shocks", ("nan", "abc", "", ",", "1e8,inf")),
    ("--shock-seconds", ("nan", "-1", "abc")),
    ("--paths", ("0", "-1", "abc")),
    ("--seed", ("-1", "abc")),
    ("--flow-noise", ("nan", "-1")),
    ("--depth-noise", ("nan", "inf", "-1")),
    ("--steps", ("0", "-1")),
    ("--step-seconds", ("0", "nan", "-1")),
    ("--levels", ("1.5", "nan", "0", "abc")),
    ("--workers", ("0", "-2")),
    ("--backend", ("bogus", "")),
    ("--shock-asset", ("XRP", "")),
    ("--shock-venue", ("kraken",)),
    ("--shock-start-hour", ("nan", "-1", "99")),
    ("--positions", ("0", "99999999999")),
):
    for v in values:
        case(with_flag(SW, flag, v))
case([*SW, "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"])
case([*SW, "--scheduler", "tcp://127.0.0.1:1", "--backend", "processes"])
for p in (
    "depth.scale",
    "=1,2",
    "depth.scale=nan",
    "depth.scale=[1, NaN]",
    "depth.scale=[1,",
    "depth.scale={}",
    "bogus.key=1,2",
    "market_maker.bogus=1",
    "population.path_vol=abc",
    "depth.scale=-1",
):
    case([*SW, "--param", p])

# ---------------------------------------------------------------- the rest
for ex in ("kraken", "", "ftx"):
    case(["snapshot", "--exchange", ex])
case(["snapshot"])
case(["snapshot", "--exchange", "binance", "--out", "/proc/state.json"])  # refused before the network
case(["snapshot", "--exchange", "binance", "--out", "{O}/nowhere/state.json"])
case(["snapshot", "--exchange", "binance", "--symbol", ""])
case(["no-such-command"])
case(["scenario", "bogus"])


# ============================================================================ the test
@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    w = tmp_path_factory.mktemp("fuzz")
    for name, text in VALID.items():
        (w / name).write_text(text, "utf-8")
    out = w / "out"
    (out / "calibration").mkdir(parents=True)
    (out / "sweeps").mkdir()
    (out / "map.csv").write_text("an earlier map\n")
    (out / "batch.csv").write_text("an earlier batch\n")
    (out / "calibration" / "model-parameters.toml").write_text("# an earlier fit\n")
    (out / "sweeps" / "keep.txt").write_text("an earlier sweep\n")
    import duckdb

    con = duckdb.connect(str(out / "runs.duckdb"))
    con.execute("CREATE TABLE earlier (x INTEGER)")
    con.execute("INSERT INTO earlier VALUES (1)")
    con.close()
    (w / "bad").mkdir()
    return w


def snapshot(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(directory.rglob("*"))
    }


def assert_refused(capsys, argv: list[str]) -> str:
    code = main(argv)
    out = capsys.readouterr()
    assert "Traceback" not in out.err, out.err
    lines = out.err.strip("\n").splitlines()
    assert code == 2, (argv, code, out.err)
    assert out.out == "", (argv, out.out)
    errors = [line for line in lines if line.startswith("liqcascade: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], (argv, out.err)
    assert all(line.startswith("liqcascade: warning: ") for line in lines[:-1]), (argv, out.err)
    return errors[0]


def test_the_valid_inputs_are_accepted(workspace, tmp_path, capsys):
    """The files the cases mutate are valid as they stand: a case is refused for its own defect."""
    w = str(workspace)
    for argv in (
        [
            "analyze",
            "--bars",
            f"{w}/bars.csv",
            "--open-interest",
            f"{w}/metrics.csv",
            "--funding",
            f"{w}/funding.csv",
            "--symbol",
            "BTC",
            "--book-depth",
            f"{w}/book.csv",
            "--event",
            "2025-09-01 00:10",
            "2025-09-01 00:20",
            "--index",
            f"{w}/bars.csv",
            "--json",
        ],
        [
            "liqmap",
            "--bars",
            f"{w}/bars.csv",
            "--open-interest",
            f"{w}/metrics.csv",
            "--out",
            str(tmp_path / "map.csv"),
        ],
        ["liqmap", "--observed", f"{w}/observed.json", "--symbol", "BTC/USDC:USDC"],
        ["liqprice", "--venue", "binance", "--batch", f"{w}/batch.csv", "--out", str(tmp_path / "b.csv")],
        ["liqprice", "--venue", "binance", "--account", f"{w}/account.json"],
        [
            "run",
            f"{w}/scenario.toml",
            "--targets",
            f"{w}/targets.toml",
            "--parameters",
            f"{w}/parameters.toml",
            "--positions",
            "2000",
            "--out",
            str(tmp_path / "out"),
        ],
    ):
        assert main(argv) == 0, (argv, capsys.readouterr().err)
        capsys.readouterr()


def test_at_least_300_distinct_bad_inputs():
    keys = {(argv, data, suffix) for _, argv, data, suffix in CASES}
    dupes = [c[0] for c in CASES if sum(1 for d in CASES if d[1:] == c[1:]) > 1]
    assert len(keys) == len(CASES), dupes
    assert len(CASES) >= 300, len(CASES)
    commands = {argv[0] for _, argv, _, _ in CASES}
    assert {"liqprice", "analyze", "liqmap", "run", "runs", "calibrate", "sweep", "snapshot", "scenario"} <= commands


@pytest.mark.parametrize("argv, data, suffix", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(workspace, capsys, argv, data, suffix):
    out = workspace / "out"
    before = snapshot(out)
    f = workspace / "bad" / f"case{suffix}"
    if data is not None:
        f.write_bytes(data)
    args = [a.replace("{F}", str(f)).replace("{W}", str(workspace)).replace("{O}", str(out)) for a in argv]
    line = assert_refused(capsys, args)
    if any(v in ("nan", "inf", "-inf") for v in argv):
        assert re.search(r"nan|inf", line, flags=re.I), line
    assert snapshot(out) == before, argv


# ---------------------------------------------------------------- generated files (Hypothesis)
FILE_FLAGS = [
    (["analyze", "--bars", "{F}"], ".csv"),
    (["analyze", "--bars", "{W}/bars.csv", "--open-interest", "{F}"], ".csv"),
    (["analyze", "--bars", "{W}/bars.csv", "--funding", "{F}"], ".csv"),
    (["analyze", "--bars", "{W}/bars.csv", "--book-depth", "{F}"], ".csv"),
    (["liqmap", "--bars", "{F}", "--open-interest", "{W}/metrics.csv", "--out", "{O}/map.csv"], ".csv"),
    (["liqmap", "--observed", "{F}", "--out", "{O}/map.csv"], ".json"),
    (["liqprice", "--venue", "binance", "--batch", "{F}", "--out", "{O}/batch.csv"], ".csv"),
    (["liqprice", "--venue", "bybit", "--account", "{F}"], ".json"),
    (["run", "{F}", "--out", "{O}", "--positions", "1000"], ".toml"),
    (["run", "--targets", "{F}", "--out", "{O}", "--positions", "1000"], ".toml"),
]


def _run_file_case(workspace, capsys, argv, suffix, data: bytes) -> None:
    out = workspace / "out"
    before = snapshot(out)
    f = workspace / "bad" / f"generated{suffix}"
    f.write_bytes(data)
    args = [a.replace("{F}", str(f)).replace("{W}", str(workspace)).replace("{O}", str(out)) for a in argv]
    assert_refused(capsys, args)
    assert snapshot(out) == before


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300), which=st.integers(0, len(FILE_FLAGS) - 1))
def test_random_bytes_in_any_file(workspace, capsys, data, which):
    argv, suffix = FILE_FLAGS[which]
    _run_file_case(workspace, capsys, argv, suffix, data)


CELL = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "", "abc", "-1", "0", "1e999", "NaN", "None"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=',\n\r"'), max_size=8),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(row=st.integers(1, 5), column=st.sampled_from(["open", "high", "low", "close", "timestamp"]), value=CELL)
def test_one_bad_cell_in_the_bars(workspace, capsys, row, column, value):
    try:
        float(value)
        ok_number = np.isfinite(float(value)) and float(value) > 0
    except ValueError:
        ok_number = False
    if ok_number or column == "timestamp" and value.strip() and not pd.isna(pd.to_datetime(value, errors="coerce")):
        return  # a valid value: not a bad input
    _run_file_case(
        workspace, capsys, ["analyze", "--bars", "{F}"], ".csv", replace_cell(BARS, row, column, value).encode("utf-8")
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    key=st.sampled_from(["size", "entry", "mark", "side", "symbol", "wallet_balance"]),
    value=st.one_of(
        st.none(),
        st.booleans(),
        st.sampled_from([0, -1, -1e300, "", "x", [], {}]),
        st.floats(max_value=0),
        st.text(max_size=5),
    ),
)
def test_one_bad_field_in_an_account(workspace, capsys, key, value):
    if key == "wallet_balance" and isinstance(value, float) and value == 0:
        return  # an empty wallet is a valid account
    doc = account_with(**({key: value} if key == "wallet_balance" else {f"p_{key}": value}))
    _run_file_case(
        workspace, capsys, ["liqprice", "--venue", "binance", "--account", "{F}"], ".json", doc.encode("utf-8")
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    flag=st.sampled_from(["--entry", "--size", "--leverage", "--margin"]),
    value=st.one_of(
        st.floats(max_value=0),
        st.just(float("nan")),
        st.just(float("inf")),
        st.text(alphabet="abcxyz-+.e", min_size=1, max_size=6),
    ),
)
def test_random_bad_numbers_in_liqprice(capsys, flag, value):
    text = repr(value) if isinstance(value, float) else value
    try:
        if float(text) > 0 and np.isfinite(float(text)):
            return
    except ValueError:
        pass
    assert_refused(capsys, with_flag(SINGLE, flag, text))
