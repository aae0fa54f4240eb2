"""`liqcascade validate` and the out-of-sample events (oct-2025, aug-2024) it runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from small_scenarios import small_scenario_file
from typer.testing import CliRunner

from liqcascade.cli import app
from liqcascade.errors import InputError
from liqcascade.scenario import SERIES_COLUMNS, load_scenario
from liqcascade.targets import load_targets, require_known_keys
from liqcascade.validate import event_names, parse_seeds, validate

runner = CliRunner()
SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
OUT_OF_SAMPLE = ("oct-2025", "aug-2024")
SMALL_POSITIONS = "3000"


def _targets_file(tmp_path: Path) -> Path:
    """A small free-mode scenario (feb-2026 cut to 2 h, sell programmes) and targets for it."""
    small_scenario_file(tmp_path / "small.toml")
    f = tmp_path / "small-targets.toml"
    f.write_text(
        """name = "small"
scenario = "small.toml"
sample = "out-of-sample"

[[targets]]
key = "liquidations_usd"
label = "liquidations"
low = 1.0
units = "USD"
reported = [{ value = 1.0e9, note = "a made-up figure", source = "test" }]

[[targets]]
key = "drawdown_pct.BTC"
label = "BTC drawdown"
low = 90.0
high = 99.0
units = "percent"

[[targets]]
key = "drawdown_pct.BTC"
label = "BTC falls further than ETH"
kind = "greater_than"
than = "drawdown_pct.ETH"
units = "percent"

[[targets]]
key = "largest_liquidation_venue"
label = "venue of the largest liquidation"
kind = "equals"
value = "nowhere"
units = "venue"
""",
        "utf-8",
    )
    return f


# ------------------------------------------------------------------------------ seeds
@pytest.mark.parametrize(
    "text, seeds", [("0-9", list(range(10))), ("0,3,5", [0, 3, 5]), ("0-2,7", [0, 1, 2, 7]), ("4", [4])]
)
def test_seed_lists(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["x", "5-2", "", "1,,2", "-1", "1,1", "0-2,2", "1.5"])
def test_bad_seed_lists(text):
    with pytest.raises(InputError, match="--seeds"):
        parse_seeds(text)


# ------------------------------------------------------------------------------ the command
@pytest.fixture(scope="module")
def small(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("validate")
    targets = _targets_file(tmp)
    out = tmp / "table.md"
    res = runner.invoke(
        app,
        [
            "validate",
            "--events",
            str(targets),
            "--seeds",
            "0,1",
            "--positions",
            SMALL_POSITIONS,
            "--workers",
            "2",
            "--json",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout), out


def test_json_shape(small):
    doc, _ = small
    assert doc["seeds"] == [0, 1] and doc["positions"] == int(SMALL_POSITIONS) and doc["mode"] == "free"
    (ev,) = doc["events"]
    assert ev["event"] == "small" and ev["sample"] == "out-of-sample" and ev["total"] == 4
    assert ev["met"] == sum(t["in_band"] for t in ev["targets"])
    assert [t["label"] for t in ev["targets"]] == [
        "liquidations",
        "BTC drawdown",
        "BTC falls further than ETH",
        "venue of the largest liquidation",
    ]
    for t in ev["targets"]:
        assert t["n"] == 2 and len(t["values"]) == 2 and t["sample"] == "out-of-sample"
        assert {"median", "p10", "p90", "band", "reported", "in_band", "seeds_in_band"} <= set(t)
    assert sorted((r["event"], r["seed"]) for r in doc["runs"]) == [("small", 0), ("small", 1)]


def test_ranges_are_ordered_and_bands_judged(small):
    doc, _ = small
    rows = {t["label"]: t for t in doc["events"][0]["targets"]}
    for t in rows.values():
        if t["kind"] != "equals" and t["median"] is not None:
            assert t["p10"] <= t["median"] <= t["p90"]
            assert min(t["values"]) <= t["p10"] and t["p90"] <= max(t["values"])
    liq = rows["liquidations"]
    assert liq["median"] == pytest.approx(float(np.median(liq["values"])))
    assert liq["in_band"] is (liq["median"] >= 1.0)
    assert rows["BTC drawdown"]["in_band"] is False  # no 2-hour cut falls 90 %
    assert rows["venue of the largest liquidation"]["in_band"] is False
    assert rows["venue of the largest liquidation"]["p10"] is None


def test_markdown_table(small):
    _, out = small
    text = out.read_text("utf-8")
    assert "Seeds 0, 1 (2), positions 3,000" in text
    assert "| event | sample | target | median | 10–90 % | band | reported | in band (seeds) |" in text
    rows = [ln for ln in text.splitlines() if ln.startswith("| small |")]
    assert len(rows) == 4 and all("| out-of-sample |" in r for r in rows)
    assert any(r.endswith("| no (0/2) |") for r in rows)
    assert "- small (out-of-sample): " in text


def test_table_output(tmp_path):
    targets = _targets_file(tmp_path)
    res = runner.invoke(
        app,
        ["validate", "--events", str(targets), "--seeds", "0", "--positions", SMALL_POSITIONS, "--workers", "1"],
    )
    assert res.exit_code == 0, res.output
    assert "BTC falls further than ETH" in res.stdout and "out-of-sample" in res.stdout
    assert "small (out-of-sample): " in res.stdout


@pytest.mark.parametrize(
    "args, words",
    [
        (["--seeds", "x"], "--seeds"),
        (["--seeds", "5-2"], "backwards"),
        (["--events", "no-such-event"], "unknown event"),
        (["--positions", "-1"], "--positions"),
        (["--positions", "lots"], "--positions"),
        (["--workers", "0"], "--workers"),
        (["--mode", "sideways"], "--mode"),
    ],
)
def test_bad_input_is_one_line(args, words):
    res = runner.invoke(app, ["validate", *args])
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert "\n" not in err and err.startswith("liqcascade: error:") and words in err, err


def test_out_must_be_a_file_in_a_directory(tmp_path):
    for out in (tmp_path, tmp_path / "missing" / "t.md"):
        res = runner.invoke(app, ["validate", "--events", "aug-2024", "--out", str(out)])
        assert res.exit_code == 2 and "--out" in res.stderr and "\n" not in res.stderr.strip()


def test_the_bundled_events_and_their_labels():
    assert event_names() == ["feb-2026", "feb-2026-weekend", "oct-2025", "aug-2024"]
    labels = {n: load_targets(n).sample for n in event_names()}
    assert labels == {
        "feb-2026": "in-sample",
        "feb-2026-weekend": "in-sample",
        "oct-2025": "out-of-sample",
        "aug-2024": "out-of-sample",
    }


def test_targets_refuse_an_unknown_sample_label(tmp_path):
    f = tmp_path / "t.toml"
    text = (Path(__file__).parents[1] / "src/liqcascade/scenarios/targets/aug-2024.toml").read_text("utf-8")
    f.write_text(text.replace('sample = "out-of-sample"', 'sample = "half-sample"'), "utf-8")
    with pytest.raises(InputError, match="sample"):
        load_targets(f)


# ------------------------------------------------------------------------------ the out-of-sample events
@pytest.mark.parametrize("name", OUT_OF_SAMPLE)
def test_the_event_loads_with_its_series_and_targets(name):
    sc = load_scenario(name)
    assert list(sc.spec.assets) == ["BTC", "ETH"]  # no SOL or DOGE prices for these dates
    df = sc.series()
    assert tuple(df.columns) == SERIES_COLUMNS
    spec = sc.spec.series
    start, e0, e1 = (
        int(pd.Timestamp(getattr(spec, k)).value // 1_000_000) for k in ("lookback_start", "event_start", "event_end")
    )
    for a, g in df.groupby("asset", sort=False):
        base = spec.base_bar_s(a)
        t = g.loc[g["bar_s"] == base, "time_ms"].to_numpy()
        np.testing.assert_array_equal(t, np.arange(start, e1, base * 1000))
        assert g.loc[g["bar_s"] == base, "oi_usd"].gt(0).all()
        if a in spec.event_bar_s:
            fine = spec.event_bar_s[a]
            np.testing.assert_array_equal(
                g.loc[g["bar_s"] == fine, "time_ms"].to_numpy(), np.arange(e0, e1, fine * 1000)
            )
        # the open interest is given at the start and the contracts held: oi_usd / open is constant
        b = g[g["bar_s"] == base]
        ratio = (b["oi_usd"] / b["open"]).to_numpy()
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)
        # the start price is the base bar's open at the event start
        assert sc.spec.assets[a].start_price == b.loc[b["time_ms"] == e0, "open"].item()
    # 21 days of history at least: the population's look-back
    assert e0 - start >= 21 * 86_400_000
    tg = load_targets(name)
    assert tg.scenario == name and tg.sample == "out-of-sample"
    require_known_keys(tg, [m.venue for m in sc.spec.markets], list(sc.spec.assets))
    for t in tg.targets:  # every target says where its figure or its band comes from
        assert t.reported or t.note


def test_the_series_table_refuses_a_bar_length_it_does_not_take(tmp_path):
    from liqcascade.scenario import bundled_text

    f = tmp_path / "x.toml"
    f.write_text(
        bundled_text("aug-2024").replace("bar_s = { BTC = 3600, ETH = 14400 }", "bar_s = { BTC = 7200, ETH = 14400 }")
    )
    with pytest.raises(InputError, match="7200 is not a bar length"):
        load_scenario(f)


@pytest.mark.parametrize("name", OUT_OF_SAMPLE)
def test_the_event_runs_end_to_end(name):
    res = validate([name], seeds=[0], positions=int(SMALL_POSITIONS), workers=1)
    assert res.events == [name] and res.samples[name] == "out-of-sample" and res.mode == "observed"
    assert len(res.rows) == len(load_targets(name).targets)
    (run,) = res.runs
    assert run["seed"] == 0 and run["positions"] > 0
    by = {r.key: r for r in res.rows}
    # the observed path drives the price: the real low is reached (the engine may go below it)
    low = {"oct-2025": 101516.5, "aug-2024": 49000.0}[name]
    assert by["low_usd.BTC"].median <= low * 1.001


# ------------------------------------------------------------------------------ the builder
@pytest.mark.parametrize("name", OUT_OF_SAMPLE)
def test_the_builder_reproduces_the_event(tmp_path, name):
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real market data folder {SHARED_DATA} is absent; the rebuild is skipped")
    from liqcascade.scenario_events import build

    built = build(name, SHARED_DATA, tmp_path)
    bundled = Path(__file__).parents[1] / "src" / "liqcascade" / "scenarios"
    assert built.series_path.read_bytes() == (bundled / f"{name}.series.csv.gz").read_bytes()
    assert built.toml_path.read_text("utf-8") == (bundled / f"{name}.toml").read_text("utf-8")


def test_the_builder_takes_a_given_open_interest_and_funding(tmp_path):
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real market data folder {SHARED_DATA} is absent")
    from liqcascade.scenario_build import Stated, event_series

    frame, sources = event_series(
        SHARED_DATA,
        assets=("BTC",),
        lookback_start="2024-08-01T00:00Z",
        event_start="2024-08-04T12:00Z",
        event_end="2024-08-05T12:00Z",
        minute_assets=(),
        bar_s={"BTC": 3600},
        bar_files={"BTC": {3600: "scofieldchen_daily/binance_btcusdt_1h.csv"}},
        open_interest_usd={"BTC": Stated(1.0e9, "test")},
        funding_rate_8h={"BTC": Stated(2e-4, "test")},
    )
    assert (frame["bar_s"] == 3600).all() and len(frame) == 4 * 24 + 12
    at = frame.loc[frame["time_ms"] == pd.Timestamp("2024-08-04T12:00Z").value // 1_000_000]
    assert at["oi_usd"].item() == pytest.approx(1.0e9)
    assert (frame["funding_rate_8h"] == 2e-4).all()
    assert [s.file for s in sources] == ["scofieldchen_daily/binance_btcusdt_1h.csv"]
    with pytest.raises(InputError, match="grid"):
        event_series(
            SHARED_DATA,
            assets=("BTC",),
            lookback_start="2024-08-01T00:00Z",
            event_start="2024-08-04T12:05Z",
            event_end="2024-08-05T12:00Z",
            minute_assets=(),
            bar_s={"BTC": 3600},
            bar_files={"BTC": {3600: "scofieldchen_daily/binance_btcusdt_1h.csv"}},
            open_interest_usd={"BTC": Stated(1.0e9, "test")},
            funding_rate_8h={"BTC": Stated(2e-4, "test")},
        )


def test_an_equals_target_needs_a_majority_of_seeds():
    from liqcascade.targets import Target
    from liqcascade.validate import _summarise

    t = Target(key="largest_liquidation_venue", label="venue", kind="equals", value="hyperliquid", units="venue")
    tie = _summarise("e", "out-of-sample", t, ["hyperliquid", "binance"] * 5, [None] * 10)
    assert tie.median is None and tie.in_band is False and tie.seeds_in_band == 5
    most = _summarise("e", "out-of-sample", t, ["hyperliquid"] * 6 + ["binance"] * 4, [None] * 10)
    assert most.median == "hyperliquid" and most.in_band is True and most.seeds_in_band == 6
    band = Target(key="x", label="x", low=1.0, high=2.0, units="USD")
    r = _summarise("e", "in-sample", band, [0.5, 1.5, 1.6, None], [None] * 4)
    assert r.median == pytest.approx(1.5) and r.p10 <= r.median <= r.p90 and r.in_band and r.seeds_in_band == 2
