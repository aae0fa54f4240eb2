"""Scenarios from data: the bundled series sidecars, their validation, and the builder that derives
them from ../shared/data (those tests skip when it is absent; the sidecars need nothing)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from liqcascade.cli import app
from liqcascade.errors import InputError
from liqcascade.scenario import SERIES_COLUMNS, bundled_text, load_scenario

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
#: the February 2026 scenarios (5-minute bars, Binance open interest); the out-of-sample events
#: (hourly base bars, open interest given) are tested in test_validate.py
FEB = ("feb-2026", "feb-2026-weekend")
WINDOWS = {  # name: (look-back start, event start, event end), UTC
    "feb-2026": ("2026-01-01", "2026-02-05", "2026-02-07"),
    "feb-2026-weekend": ("2026-01-01", "2026-01-31", "2026-02-02"),
}


def ms(text: str) -> int:
    return int(pd.Timestamp(text, tz="UTC").value // 1_000_000)


@pytest.fixture(scope="module")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"real market data folder {SHARED_DATA} is absent (it sits beside the repository, not in "
            "it); the builder's tests on real files are skipped"
        )
    return SHARED_DATA


@pytest.fixture(scope="module")
def series() -> dict[str, pd.DataFrame]:
    return {name: load_scenario(name).series() for name in FEB}


# ------------------------------------------------------------------ the bundled sidecars


@pytest.mark.parametrize("name", FEB)
def test_bundled_series_cover_look_back_and_event(series, name):
    df = series[name]
    sc = load_scenario(name)
    t0, e0, e1 = (ms(x) for x in WINDOWS[name])
    assert tuple(df.columns) == SERIES_COLUMNS
    assert df["time_ms"].dtype == np.int64 and df["bar_s"].dtype == np.int64
    assert list(pd.unique(df["asset"])) == list(sc.spec.assets) == ["BTC", "ETH", "SOL", "DOGE"]
    for asset, g in df.groupby("asset", sort=False):
        five = g[g["bar_s"] == 300]["time_ms"].to_numpy()
        np.testing.assert_array_equal(five, np.arange(t0, e1, 300_000))
        minute = g[g["bar_s"] == 60]["time_ms"].to_numpy()
        if asset == "BTC":
            np.testing.assert_array_equal(minute, np.arange(e0, e1, 60_000))
        else:
            assert len(minute) == 0
    assert df[["open", "high", "low", "close"]].gt(0).all().all() and (df["high"] >= df["low"]).all()
    assert df.loc[df["bar_s"] == 300, "oi_usd"].gt(0).all()  # every 5-minute bar has its open interest
    # a 1-minute bar has the open interest only when it closes on a 5-minute stamp
    m = df[df["bar_s"] == 60]
    np.testing.assert_array_equal(m["oi_usd"].notna().to_numpy(), ((m["time_ms"] + 60_000) % 300_000 == 0).to_numpy())
    assert sc.spec.series.sources and all(" @ " in s.origin for s in sc.spec.series.sources)
    # the scenario's state is the series' state at the start
    five = df[df["bar_s"] == 300].set_index(["asset", "time_ms"])
    for a, st in sc.spec.assets.items():
        assert st.start_price == five.loc[(a, e0), "open"]
        binance = next(mk for mk in sc.spec.markets if (mk.venue, mk.asset) == ("binance", a))
        assert binance.open_interest_usd == pytest.approx(five.loc[(a, e0 - 300_000), "oi_usd"], rel=1e-5)


def test_feb_2026_series_hold_the_reported_market_figures(series):
    df = series["feb-2026"]
    five = df[df["bar_s"] == 300].set_index(["asset", "time_ms"])
    assert five.loc[("ETH", ms("2026-02-05")), "open"] == 2147.01
    assert five.loc[("BTC", ms("2026-02-05")), "open"] == 73137.5
    btc = five.loc["BTC"]
    assert btc["low"].idxmin() == ms("2026-02-06 00:15") and btc["low"].min() == 59_800.0
    assert five.loc[("ETH", ms("2026-02-06 00:15")), "low"] == 1736.02
    # Binance BTC open interest at the close of the low's bar: 90,925 BTC, $5.46B, the event's minimum in USD
    event = btc.loc[ms("2026-02-05") :]
    assert event["oi_usd"].idxmin() == ms("2026-02-06 00:15") and event["oi_usd"].min() == pytest.approx(
        5.457e9, rel=1e-3
    )
    # funding turns negative at the 16:00 settlement of 5 Feb
    assert btc.loc[ms("2026-02-05 15:55"), "funding_rate_8h"] > 0 > btc.loc[ms("2026-02-05 16:00"), "funding_rate_8h"]
    minute = df[(df["asset"] == "BTC") & (df["bar_s"] == 60)].set_index("time_ms")
    assert minute["low"].idxmin() == ms("2026-02-06 00:19") and minute["low"].min() == 59_800.0


def test_weekend_series_hold_the_31_jan_wick(series):
    five = series["feb-2026-weekend"]
    five = five[five["bar_s"] == 300].set_index(["asset", "time_ms"])
    for asset, low in (("BTC", 75_500.0), ("ETH", 2202.4), ("SOL", 95.50), ("DOGE", 0.09459)):
        window = five.loc[asset].loc[ms("2026-01-31") :]
        assert window["low"].idxmin() == ms("2026-01-31 18:40")
        assert window["low"].min() == pytest.approx(low, abs=0.006 if asset != "DOGE" else 1e-5)
    assert five.loc[("BTC", ms("2026-01-31")), "open"] == pytest.approx(84_211, abs=1)


def test_a_scenario_without_series_has_none(tmp_path):
    text = bundled_text("feb-2026")
    f = tmp_path / "plain.toml"
    f.write_text(text[: text.index("# The derived market series")], "utf-8")
    sc = load_scenario(f)
    assert sc.spec.series is None and sc.series() is None


# ------------------------------------------------------------------ malformed sidecars


def _copy_with_sidecar(tmp_path: Path, edit) -> Path:
    """feb-2026.toml beside a sidecar whose CSV lines (header first) went through ``edit``."""
    f = tmp_path / "feb-2026.toml"
    f.write_text(bundled_text("feb-2026"), "utf-8")
    raw = (Path(__file__).parents[1] / "src" / "liqcascade" / "scenarios" / "feb-2026.series.csv.gz").read_bytes()
    lines = gzip.decompress(raw).decode().splitlines()
    (tmp_path / "feb-2026.series.csv.gz").write_bytes(gzip.compress(("\n".join(edit(lines)) + "\n").encode()))
    return f


def _with(lines, i, column, value):
    fields = lines[i].split(",")
    fields[SERIES_COLUMNS.index(column)] = value
    return lines[:i] + [",".join(fields)] + lines[i + 1 :]


@pytest.mark.parametrize(
    "edit, row, problem",
    [
        (lambda ls: ls[:500] + ls[501:], 501, "gap: no bar between"),
        (lambda ls: ls[:500] + [ls[501], ls[500]] + ls[502:], 502, "bars must be sorted by time"),
        (lambda ls: ls[:500] + [ls[500]] + ls[500:], 502, "is duplicated"),
        (lambda ls: _with(ls, 500, "low", "0"), 501, "low must be positive, got 0.0"),
        (lambda ls: _with(ls, 500, "close", "-3"), 501, "close must be positive"),
        (lambda ls: _with(ls, 500, "oi_usd", "0"), 501, "oi_usd must be positive (or empty), got 0"),
        (lambda ls: _with(ls, 500, "high", "1"), 501, "is below low"),
        (lambda ls: _with(ls, 500, "bar_s", "120"), 501, "bar_s must be 300 or 60"),
        (lambda ls: _with(ls, 500, "asset", "XRP"), 501, "asset 'XRP' is not one of the scenario's assets"),
        (lambda ls: _with(ls, 500, "funding_rate_8h", ""), 501, "funding_rate_8h is missing"),
        (lambda ls: [ls[0]] + ls[2:], 2, "do not cover the window 2026-01-01"),
        (lambda ls: [ls[0].replace("oi_usd", "open_interest")] + ls[1:], 1, "missing column(s) oi_usd"),
        (lambda ls: [ls[0].replace("open,high", "high,open")] + ls[1:], 1, "in this order"),
    ],
)
def test_a_malformed_sidecar_is_refused_in_one_line(tmp_path, edit, row, problem):
    sc = load_scenario(_copy_with_sidecar(tmp_path, edit))
    with pytest.raises(InputError) as exc:
        sc.series()
    message = str(exc.value)
    assert "feb-2026.series.csv.gz" in message and "\n" not in message
    assert f"row {row}" in message and problem in message, message


def test_a_sidecar_not_covering_the_event_window(tmp_path):
    # the BTC 5-minute block stops an hour before the event's end
    def cut(lines):
        last = ms("2026-02-06 23:00")
        return [ln for ln in lines if not (ln.startswith("BTC,300,") and int(ln.split(",")[2]) >= last)]

    sc = load_scenario(_copy_with_sidecar(tmp_path, cut))
    with pytest.raises(InputError, match=r"BTC 300-s bars run 2026-01-01 .* to 2026-02-06 22:55.* do not cover"):
        sc.series()


def test_a_missing_sidecar_is_named(tmp_path):
    f = tmp_path / "feb-2026.toml"
    f.write_text(bundled_text("feb-2026"), "utf-8")
    with pytest.raises(InputError, match=r"feb-2026.series.csv.gz: no such file"):
        load_scenario(f).series()


def test_series_table_is_validated(tmp_path):
    f = tmp_path / "x.toml"
    f.write_text(re.sub(r"event_end = \S+", "event_end = 2026-02-04T00:00:00Z", bundled_text("feb-2026")), "utf-8")
    with pytest.raises(InputError, match=r"series: lookback_start <= event_start < event_end"):
        load_scenario(f)


# ------------------------------------------------------------------------- the builder


@pytest.mark.parametrize("name", FEB)
def test_the_builder_reproduces_the_bundled_scenario(shared_data, tmp_path, name):
    from liqcascade.scenario_build import build_event_scenario

    bundled = load_scenario(name)
    t0, e0, e1 = WINDOWS[name]
    built = build_event_scenario(
        shared_data,
        tmp_path,
        name=name,
        title=bundled.spec.title,
        event_start=e0,
        event_end=e1,
        lookback_start=t0,
        template=name,
        venues=tuple(dict.fromkeys(m.venue for m in bundled.spec.markets)),
    )
    bundled_sidecar = Path(__file__).parents[1] / "src" / "liqcascade" / "scenarios" / f"{name}.series.csv.gz"
    assert built.series_path.read_bytes() == bundled_sidecar.read_bytes()
    pd.testing.assert_frame_equal(
        load_scenario(built.toml_path).series(), bundled.series(), check_like=False, check_index_type=False
    )
    rebuilt = load_scenario(built.toml_path).spec
    assert rebuilt.model_dump(exclude={"series"}) == bundled.spec.model_dump(exclude={"series"})
    assert rebuilt.series.model_dump() == bundled.spec.series.model_dump()


def test_the_fitted_binance_book(shared_data):
    from liqcascade.scenario_build import fit_book_depth

    fit = fit_book_depth(shared_data / "binance_bookdepth_2026-01-31" / "BTCUSDT-bookDepth-2026-01-31.zip")
    assert fit.snapshots == 2_717 and fit.bands == (0.2, 1.0, 2.0, 3.0, 4.0, 5.0)
    assert 0.5 < fit.kappa < 1.5 and 4.0e7 < fit.depth_1pct_usd < 4.4e8  # within the day's reported range
    sc = load_scenario("feb-2026")
    binance_btc = next(m for m in sc.spec.markets if (m.venue, m.asset) == ("binance", "BTC"))
    assert binance_btc.depth_1pct_usd == pytest.approx(fit.depth_1pct_usd, rel=1e-5)
    assert binance_btc.kappa == pytest.approx(fit.kappa, abs=5e-5)


def test_the_book_fit_recovers_a_power_law(tmp_path):
    from liqcascade.scenario_build import fit_book_depth

    rows = ["timestamp,percentage,depth,notional"]
    for k, (b, kappa) in enumerate(((2.0e10, 1.2), (3.0e10, 0.9), (2.5e10, 1.05))):
        for p in (-5.0, -3.0, -1.0, -0.2, 0.2, 1.0, 3.0, 5.0):
            usd = b * (abs(p) / 100) ** kappa
            rows.append(f"2026-01-31 00:0{k}:00,{p:.2f},{usd / 80_000:.6f},{usd:.6f}")
    f = tmp_path / "BTCUSDT-bookDepth-2026-01-31.csv"
    f.write_text("\n".join(rows) + "\n")
    fit = fit_book_depth(f)
    assert fit.kappa == pytest.approx(1.05, abs=1e-9) and fit.bid_kappa == pytest.approx(1.05, abs=1e-9)
    assert fit.depth_1pct_usd == pytest.approx(2.5e10 * 0.01**1.05, rel=1e-9)


def _data_copy(shared_data: Path, tmp_path: Path) -> Path:
    """A data folder of links to the real files, to spoil one of them."""
    root = tmp_path / "data"
    for folder in (
        "binance_2026_harthor",
        "binance_oi_2026_hlreaper",
        "binance_1m_feb2026_owlacar",
        "binance_bookdepth_2026-01-31",
    ):
        (root / folder).mkdir(parents=True)
        for f in (shared_data / folder).iterdir():
            (root / folder / f.name).symlink_to(f)
    return root


def _spoil(path: Path, edit) -> None:
    lines = path.read_text().splitlines()
    path.unlink()
    path.write_text("\n".join(edit(lines)) + "\n")


@pytest.mark.parametrize(
    "file, edit, needles",
    [
        (
            "binance_oi_2026_hlreaper/binance_usdm_ETHUSDT_oi_5m_2026-01-01_2026-02-28.csv",
            lambda ls: ls[:1000] + ls[1001:],
            ["row 1001", "gap: no bar between"],
        ),
        (
            "binance_2026_harthor/binance_usdm_SOLUSDT_5m_2026-01-01_2026-02-19.csv",
            lambda ls: _with_price(ls, 2000, "-1"),
            ["row 2001", "low must be positive"],
        ),
        (
            "binance_2026_harthor/binance_usdm_DOGEUSDT_funding_8h_2024-12-31_2026-02-19.csv",
            lambda ls: ["time,funding"] + ls[1:],
            ["row 1", "unknown funding convention"],
        ),
    ],
)
def test_cli_build_with_a_bad_file_exits_2_in_one_line(shared_data, tmp_path, file, edit, needles):
    data = _data_copy(shared_data, tmp_path)
    _spoil(data / file, edit)
    r = CliRunner().invoke(
        app,
        [
            "scenario",
            "build",
            "ev",
            "--data",
            str(data),
            "--start",
            "2026-02-05T00:00Z",
            "--end",
            "2026-02-07T00:00Z",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("liqcascade: error: ")
    assert Path(file).name in lines[0] and all(n in lines[0] for n in needles), lines[0]
    assert not (tmp_path / "out" / "ev.toml").exists()


def _with_price(lines, i, low):
    f = lines[i].split(",")
    f[3] = low
    return lines[:i] + [",".join(f)] + lines[i + 1 :]


def test_cli_build_writes_a_scenario_that_loads(shared_data, tmp_path):
    out = tmp_path / "out"
    r = CliRunner().invoke(
        app,
        [
            "scenario",
            "build",
            "ev",
            "--data",
            str(shared_data),
            "--start",
            "2026-02-05T00:00Z",
            "--end",
            "2026-02-06T00:00Z",
            "--assets",
            "BTC,ETH",
            "--venues",
            "binance,bybit",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    assert f"wrote {out / 'ev.toml'}" in r.output
    sc = load_scenario(out / "ev.toml")
    assert [(m.venue, m.asset) for m in sc.spec.markets] == [
        ("binance", "BTC"),
        ("bybit", "BTC"),
        ("binance", "ETH"),
        ("bybit", "ETH"),
    ]
    assert sc.spec.horizon_hours == 24.0 and sc.spec.flows == []
    assert len(sc.series()) == 2 * (35 * 288 + 288) + 1440


def test_cli_build_without_the_data_folder_exits_2(tmp_path):
    r = CliRunner().invoke(
        app,
        [
            "scenario",
            "build",
            "ev",
            "--data",
            str(tmp_path / "nowhere"),
            "--start",
            "2026-02-05T00:00Z",
            "--end",
            "2026-02-07T00:00Z",
            "--out",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 2
    assert r.output.strip().splitlines() == [
        f"liqcascade: error: field 'data_dir': {tmp_path / 'nowhere'}: no such data folder"
    ]
    r = CliRunner().invoke(
        app,
        [
            "scenario",
            "build",
            "ev",
            "--data",
            str(tmp_path),
            "--start",
            "yesterday",
            "--end",
            "2026-02-07T00:00Z",
            "--out",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 2 and "event_start" in r.output and len(r.output.strip().splitlines()) == 1
