"""Issue 19 items 7 (map size), 9 and 10: requests that cannot fit are refused before anything is
allocated, I/O failures are one line at the boundary, catalogues that cannot be read say so,
targets that name a figure the summary lacks are refused, NaN is named, an interrupt is one line,
``--version``, and ``--account`` reads ccxt's unified positions.

Everything here is refused before any simulation runs (fast), except one tiny sweep whose
``--json`` must be valid JSON."""

from __future__ import annotations

import json
import math
import re
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from small_scenarios import small_scenario_file
from typer.testing import CliRunner

from liqcascade import __version__, resources
from liqcascade.cli import app, main
from liqcascade.scenario import bundled_text
from liqcascade.summary import SUMMARY_FIGURES, unknown_key

FIXTURES = Path(__file__).parent / "fixtures" / "cli"
runner = CliRunner()


def free_text() -> str:
    """The bundled feb-2026 scenario without its market series (a copy elsewhere runs free)."""
    return bundled_text("feb-2026").split("\n[series]", 1)[0] + "\n"


def one_line(capsys, *args: str, code: int = 2) -> str:
    assert main(list(args)) == code
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert out.out == "" and len(lines) == 1, (out.out, out.err)
    assert lines[0].startswith("liqcascade: error: ") and "Traceback" not in out.err
    return lines[0]


def tree(path: Path) -> dict[str, bytes]:
    return (
        {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
        if path.exists()
        else {}
    )


# ---------------------------------------------------------------------------- item 10
def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"liqcascade {__version__}\n"


def test_account_reads_ccxt_unified_positions():
    """A recorded ccxt ``fetch_positions`` response (with the wallet balance) gives the same
    figures as the project's own account format holding the same positions."""
    ours = runner.invoke(app, ["liqprice", "--venue", "binance", "--account", str(FIXTURES / "account.json"), "--json"])
    ccxt = runner.invoke(
        app, ["liqprice", "--venue", "binance", "--account", str(FIXTURES / "account_ccxt.json"), "--json"]
    )
    assert ours.exit_code == 0 and ccxt.exit_code == 0, ccxt.output
    assert json.loads(ccxt.stdout) == json.loads(ours.stdout)


def test_ccxt_contracts_times_contract_size(tmp_path):
    doc = json.loads((FIXTURES / "account_ccxt.json").read_text())
    for p in doc["positions"]:  # OKX-style: 0.01 BTC per contract
        p["contracts"], p["contractSize"] = p["contracts"] * 100, 0.01
    f = tmp_path / "okx_style.json"
    f.write_text(json.dumps(doc))
    got = json.loads(runner.invoke(app, ["liqprice", "--venue", "binance", "--account", str(f), "--json"]).stdout)
    assert [r["size"] for r in got] == pytest.approx([1.0, 20.0], rel=1e-12)


@pytest.mark.parametrize(
    "change, needles",
    [
        ({"marginMode": "isolated"}, ("positions[0].marginMode", "isolated")),
        ({"contractSize": None}, ("positions[0].contractSize", "contracts × contractSize")),
        ({"markPrice": None}, ("positions[0].markPrice", "missing")),
        ({"contracts": 0}, ("positions[0].contracts", "positive")),
        ({"contracts": "NaN"}, ("positions[0].contracts", "nan")),
        ({"entryPrice": -1}, ("positions[0].entry", "positive")),
        ({"sidee": "long"}, ("positions[0].sidee", "did you mean 'side'")),
    ],
)
def test_bad_ccxt_position(tmp_path, capsys, change, needles):
    doc = json.loads((FIXTURES / "account_ccxt.json").read_text())
    doc["positions"][0].update(change)
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(doc))
    line = one_line(capsys, "liqprice", "--venue", "binance", "--account", str(f))
    for n in needles:
        assert n in line, (n, line)


# ---------------------------------------------------------------------------- item 9: memory
def test_run_with_more_positions_than_memory_is_refused_at_once(tmp_path, capsys):
    out = tmp_path / "out"
    line = one_line(capsys, "run", "--positions", "99999999999", "--out", str(out))
    assert "99,999,999,999 positions: needs about 20 TB of memory; this machine has" in line and "available" in line
    assert not out.exists()


def test_scenario_with_absurd_open_interest_is_refused(tmp_path, capsys):
    text = re.sub(r"open_interest_usd = [0-9.e+]+", "open_interest_usd = 9.0e15", free_text(), count=1)
    assert "9.0e15" in text
    sc = tmp_path / "huge.toml"
    sc.write_text(text)
    line = one_line(capsys, "run", str(sc), "--out", str(tmp_path / "out"))
    assert "real position count" in line and "needs about" in line and "--positions" in line
    assert not (tmp_path / "out").exists()


def test_sweep_with_more_positions_than_memory_is_refused_before_writing(tmp_path, capsys):
    out = tmp_path / "out"
    line = one_line(capsys, "sweep", "--positions", "99999999999", "--out", str(out))
    assert "99,999,999,999 positions" in line and "needs about" in line
    assert not out.exists()


def test_the_estimate_is_the_measured_slope():
    assert resources.BYTES_PER_POSITION >= 165  # the measured slope, rounded up
    assert resources.human_bytes(2e13) == "20 TB" and resources.human_bytes(1.5e9) == "1.5 GB"
    with pytest.raises(Exception, match="needs about"):
        resources.require_memory("this", resources.available_memory_bytes() * 2.0)
    with pytest.raises(Exception, match="needs about"):
        resources.require_memory("this", float("nan"))


# ---------------------------------------------------------------------------- liqmap: sizes
@pytest.fixture
def market(tmp_path):
    """2,016 five-minute bars (a week) and a Binance metrics file whose OI rises and falls."""
    t = pd.date_range("2025-10-01", periods=2016, freq="5min", tz="UTC")
    rng = np.random.default_rng(5)
    close = 110_000 * np.exp(np.cumsum(rng.normal(0, 0.002, len(t))))
    opn = np.r_[close[0], close[:-1]]
    bars = tmp_path / "bars.csv"
    pd.DataFrame(
        {
            "timestamp": t.strftime("%Y-%m-%d %H:%M:%S"),
            "open": opn,
            "high": np.maximum(opn, close) * 1.001,
            "low": np.minimum(opn, close) * 0.999,
            "close": close,
            "volume": 1.0,
        }
    ).to_csv(bars, index=False)
    oi = 1e9 + 2e8 * np.sin(np.linspace(0, 6, len(t)))
    lines = [
        "create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,"
        "sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio"
    ]
    lines += [f"{x:%Y-%m-%d %H:%M:%S},BTCUSDT,{v / 110_000:.6f},{v:.4f},1.5,1.4,1.6,0.9" for x, v in zip(t, oi)]
    metrics = tmp_path / "metrics.csv"
    metrics.write_text("\n".join(lines) + "\n")
    return bars, metrics


def test_liqmap_resamples_written_maps_by_default_and_says_so(market, tmp_path):
    bars, metrics = market
    base = ["liqmap", "--bars", str(bars), "--open-interest", str(metrics), "--json"]
    res = runner.invoke(app, [*base, "--out", str(tmp_path / "auto.csv")])
    assert res.exit_code == 0, res.output
    # 2,016 bars: 4 bars a column gives 504 <= 600 columns
    assert "one column per 4 bars (504 columns for 2,016 bars" in res.stderr and "--every 1" in res.stderr
    assert json.loads(res.stdout)["written_every_bars"] == 4
    auto = pd.read_csv(tmp_path / "auto.csv")
    assert auto["timestamp"].nunique() == 504
    full = runner.invoke(app, [*base, "--every", "1", "--out", str(tmp_path / "full.csv")])
    assert full.exit_code == 0 and "one column per" not in full.stderr
    assert pd.read_csv(tmp_path / "full.csv")["timestamp"].nunique() == 2015  # the first bar opens nothing
    assert (tmp_path / "auto.csv").stat().st_size * 3 < (tmp_path / "full.csv").stat().st_size


@pytest.mark.parametrize(
    "args, needles",
    [
        (["--bin", "0.001"], ("price levels of $0.001", "needs about", "available")),
        (["--range", "0", "1e12", "--bin", "1"], ("1e+12 price levels of $1", "needs about")),
    ],
)
def test_liqmap_grid_that_cannot_fit_is_refused(market, capsys, args, needles):
    bars, metrics = market
    line = one_line(capsys, "liqmap", "--bars", str(bars), "--open-interest", str(metrics), *args)
    for n in needles:
        assert n in line, (n, line)


# ---------------------------------------------------------------------------- item 9: --out
def test_liqmap_out_that_cannot_be_written(market, tmp_path, capsys):
    bars, metrics = market
    base = ["liqmap", "--bars", str(bars), "--open-interest", str(metrics)]
    line = one_line(capsys, *base, "--out", "/proc/map.csv")  # /proc takes no new files, even for root
    assert "--out /proc/map.csv: cannot write there" in line
    blocker = tmp_path / "a-file"
    blocker.write_text("keep")
    line = one_line(capsys, *base, "--out", str(blocker / "map.csv"))
    assert "does not exist" in line and blocker.read_text() == "keep"


def test_calibrate_out_that_cannot_be_written_is_refused_before_the_fit(tmp_path, capsys):
    line = one_line(capsys, "calibrate", "--out", "/proc/calibration", "--positions", "1000")
    assert "--out /proc/calibration: cannot write there" in line
    blocker = tmp_path / "a-file"
    blocker.write_text("keep")
    line = one_line(capsys, "calibrate", "--out", str(blocker / "sub"), "--positions", "1000")
    assert "cannot write there" in line and blocker.read_text() == "keep"


# ---------------------------------------------------------------------------- item 9: catalogue
def test_a_catalogue_that_is_a_directory_is_not_no_runs(tmp_path, capsys):
    (tmp_path / "runs.duckdb").mkdir()
    line = one_line(capsys, "runs", "--out", str(tmp_path))
    assert "runs.duckdb is not a file" in line


@pytest.mark.parametrize("content", [b"not a database\n", bytes(range(256)) * 64])
def test_a_corrupt_catalogue_is_one_line_and_stops_a_run_before_it_starts(tmp_path, capsys, content):
    cat = tmp_path / "runs.duckdb"
    cat.write_bytes(content)
    line = one_line(capsys, "runs", "--out", str(tmp_path))
    assert "runs.duckdb: not a readable DuckDB catalogue" in line
    line = one_line(capsys, "run", "--out", str(tmp_path), "--positions", "1000")
    assert "not a readable DuckDB catalogue" in line
    assert cat.read_bytes() == content and not (tmp_path / "runs").exists()


# ---------------------------------------------------------------------------- item 9: targets
def test_targets_naming_a_figure_the_summary_lacks_are_refused(tmp_path, capsys):
    bundled = (Path(__file__).resolve().parents[1] / "src/liqcascade/scenarios/targets/feb-2026.toml").read_text()
    for bad, needle in (
        ("liquidations_usd_reportd", "did you mean 'liquidations_usd_reported'"),
        ("drawdown_pct.XRP", "'drawdown_pct' has no entry 'XRP'"),
        ("drawdown_pct", "'drawdown_pct' is a table"),
    ):
        f = tmp_path / "t.toml"
        f.write_text(bundled.replace('key = "liquidations_usd_reported"', f'key = "{bad}"', 1))
        line = one_line(capsys, "run", "--targets", str(f), "--out", str(tmp_path / "out"), "--positions", "1000")
        assert needle in line and "targets[0].key" in line
    assert not (tmp_path / "out").exists()


def test_summary_figures_list_every_key_of_a_real_summary(tmp_path):
    """SUMMARY_FIGURES (what targets may name) is the summary's key set: a small real run."""
    sc = small_scenario_file(tmp_path / "s.toml", assets=(("BTC", 6.0e8),))
    res = runner.invoke(app, ["run", str(sc), "--out", str(tmp_path / "out"), "--positions", "20000", "--json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    produced = set(s) - {"targets", "run_id", "created_utc", "code_version", "run_dir", "report"}
    assert produced == set(SUMMARY_FIGURES)
    for key, kind in SUMMARY_FIGURES.items():
        if kind is not None:
            assert isinstance(s[key], dict) and all(
                unknown_key(f"{key}.{k}", s["by_venue_usd"], s["by_asset_usd"]) is None for k in s[key]
            ), key
    # item 6: the branching ratio is finite on every wave
    assert s["branching_ratio_max"] is None or math.isfinite(s["branching_ratio_max"])


# ---------------------------------------------------------------------------- item 9: NaN, JSON
@pytest.mark.parametrize(
    "args, flag",
    [
        (
            ["liqprice", "--venue", "binance", "--side", "long", "--entry", "nan", "--size", "1", "--leverage", "10"],
            "--entry",
        ),
        (["liqprice", "--side", "long", "--entry", "95000", "--size", "inf", "--leverage", "10"], "--size"),
        (["sweep", "--flow-noise", "nan"], "--flow-noise"),
        (["sweep", "--shocks", "1e8,nan"], "--shocks"),
        (["sweep", "--levels", "0.95,inf"], "--levels"),
        (["sweep", "--param", "depth.scale=0.5,nan"], "--param depth.scale"),
        (["sweep", "--param", "depth.scale=[1, NaN]"], "--param depth.scale"),
        (["analyze", "--bars", "x.csv", "--depth-pct", "nan"], "--depth-pct"),
    ],
)
def test_nan_and_inf_flags_are_named(capsys, tmp_path, args, flag):
    line = one_line(capsys, *args)
    assert flag in line and ("NaN" in line or "inf" in line), line


def test_nan_in_a_file_is_named(tmp_path, capsys):
    sc = tmp_path / "s.toml"
    sc.write_text(re.sub(r"open_interest_usd = [0-9.e+]+", "open_interest_usd = nan", free_text(), count=1))
    line = one_line(capsys, "run", str(sc), "--out", str(tmp_path / "out"))
    assert "markets[0].open_interest_usd: got NaN" in line
    sc.write_text(re.sub(r"kappa = [0-9.]+", "kappa = inf", free_text(), count=1))
    assert "got inf (infinite)" in one_line(capsys, "run", str(sc), "--out", str(tmp_path / "out"))
    bundled = (Path(__file__).resolve().parents[1] / "src/liqcascade/scenarios/targets/feb-2026.toml").read_text()
    t = tmp_path / "t.toml"
    t.write_text(bundled.replace("low = 2.0e9", "low = nan", 1))
    assert "targets[0].low: got NaN" in one_line(capsys, "run", "--targets", str(t), "--out", str(tmp_path / "out"))
    funding = tmp_path / "funding.csv"
    funding.write_text(
        "rank,coin_name,coin_symbol,symbol,date,timestamp,funding_rate,funding_rate_pct\n"
        "1,Bitcoin,BTC,BTCUSD_PERP.A,2024-01-01,1704067200,nan,1.0\n"
    )
    bars = tmp_path / "bars.csv"
    bars.write_text("timestamp,open,high,low,close\n2024-01-01,1,2,0.5,1\n2024-01-02,1,2,0.5,1\n")
    assert "funding_rate is missing or NaN" in one_line(
        capsys, "analyze", "--bars", str(bars), "--funding", str(funding)
    )


def test_sweep_param_json_is_valid_json(tmp_path):
    sc = small_scenario_file(tmp_path / "s.toml", assets=(("BTC", 6.0e8),))
    res = runner.invoke(
        app,
        [
            "sweep",
            str(sc),
            "--param",
            "depth.scale=0.5,1",
            "--shocks",
            "1e8",
            "--paths",
            "1",
            "--positions",
            "2000",
            "--steps",
            "5",
            "--out",
            str(tmp_path / "out"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output

    def no_nan(token):
        raise AssertionError(f"{token} in --json output")

    doc = json.loads(res.stdout, parse_constant=no_nan)
    assert doc["cells"] == 2 and "finding" in doc


# ---------------------------------------------------------------------------- item 9: interrupts
def test_interrupting_a_run_is_one_line_and_stores_nothing(tmp_path, capsys, monkeypatch):
    import liqcascade.report as report

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "run_and_report", interrupted)
    line = one_line(capsys, "run", "--out", str(tmp_path / "out"), "--positions", "1000", code=130)
    assert "interrupted" in line and tree(tmp_path / "out") == {}


def test_interrupting_a_sweep_is_one_line(tmp_path, capsys, monkeypatch):
    import liqcascade.sweep as sweep_mod

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep_mod, "sweep", interrupted)
    line = one_line(capsys, "sweep", "--out", str(tmp_path / "out"), code=130)
    assert "interrupted" in line and "resume" in line


def test_sweep_workers_leave_ctrl_c_to_the_parent():
    """A process-pool worker ignores SIGINT: Ctrl-C stops the sweep in the parent, which prints
    one line, instead of every worker printing a KeyboardInterrupt traceback."""
    from liqcascade.sweep import _init_worker

    before = signal.getsignal(signal.SIGINT)
    try:
        _init_worker(None)
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def test_main_turns_an_interrupt_anywhere_into_one_line(capsys, monkeypatch):
    import liqcascade.cli as cli

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "app", interrupted)
    assert main(["runs"]) == 130
    err = capsys.readouterr().err
    assert err == "liqcascade: error: interrupted\n"
