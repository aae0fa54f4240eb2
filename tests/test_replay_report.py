"""The default job on the real market: `feb-2026` replayed on its bundled 5-minute series (runs
on a fresh clone: the series is in the package), at a reduced count, stored and reported."""

import json
from datetime import datetime

import pytest

from liqcascade.errors import InputError
from liqcascade.report import run_and_report, scenario_mode
from liqcascade.scenario import load_scenario


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    out = tmp_path_factory.mktemp("replay")
    return run_and_report("feb-2026", out_dir=out, n_positions=30_000, seed=0)


def test_the_default_mode_is_observed_where_a_series_exists(replayed):
    assert replayed.summary["mode"] == "observed"
    assert scenario_mode(load_scenario("feb-2026"), None) == "observed"
    with pytest.raises(InputError, match="one of observed, free"):
        scenario_mode(load_scenario("feb-2026"), "replay")


def test_the_replay_follows_the_real_low_and_spreads_its_liquidations(replayed):
    s = replayed.summary
    low = s["low_usd"]["BTC"]
    assert abs(low / 59_800.0 - 1.0) < 0.015  # the engine's index at step ends; liquidations move it within a step
    t_low = datetime.fromisoformat(s["low_time_utc"]["BTC"].replace("Z", "+00:00"))
    real = datetime.fromisoformat("2026-02-06T00:15:00+00:00")
    assert abs((t_low - real).total_seconds()) <= 30 * 60
    assert abs(s["drawdown_pct"]["ETH"] - 19.1) < 1.5  # the data's 2,147.0 -> 1,736.0
    assert s["liquidation_peak"]["max_minute_share"] <= 0.25
    assert s["ledger_ok"]


def test_attribution_and_counterfactual_are_in_the_summary_and_the_report(replayed):
    s = replayed.summary
    for a in ("BTC", "ETH", "SOL", "DOGE"):
        x = s["attribution"][a]
        assert x["observed_fall"] > 0.15 and x["share_of_fall"] is not None
        assert x["share_of_fall_transient"] < x["share_of_fall"]  # resilience takes part of each move back
    cf = s["counterfactual"]
    assert set(cf) == {"consistency", "no_liquidations", "leverage_10x"}
    assert cf["no_liquidations"]["liquidated_usd"] == 0.0
    assert cf["no_liquidations"]["BTC"]["low"] > s["attribution"]["BTC"]["low"]
    page = replayed.report.read_text("utf-8")
    for fig in ("fig-observed", "fig-attribution", "fig-liquidations"):
        assert f'id="{fig}"' in page
    assert "How much of the fall did the liquidations cause?" in page
    d = replayed.path
    assert (d / "observed.png").stat().st_size > 10_000
    assert (d / "attribution.parquet").is_file() and (d / "implied_flow_5m.parquet").is_file()
    stored = json.loads((d / "summary.json").read_text())
    assert stored["mode"] == "observed" and "attribution" in stored


def test_a_scenario_without_series_cannot_be_replayed(tmp_path):
    from small_scenarios import small_scenario_file

    sc = load_scenario(small_scenario_file(tmp_path / "small.toml"))
    assert sc.series() is None and scenario_mode(sc, None) == "free"
    with pytest.raises(InputError, match="no market series"):
        scenario_mode(sc, "observed")
