"""The measured flow schedule: the implied flow summed per window, and a scenario's
``flow_schedule`` turned into the engine's per-step flow with every window's USD kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from small_scenarios import cut_text

from liqcascade.errors import InputError
from liqcascade.replay import flow_schedule
from liqcascade.scenario import load_scenario


@settings(max_examples=50, deadline=None)
@given(
    usd=st.lists(st.floats(-1e9, 1e9, allow_nan=False), min_size=1, max_size=400),
    window=st.integers(1, 120),
)
def test_the_schedule_sums_each_window_and_keeps_the_total(usd, window):
    frame = pd.DataFrame({"time_s": np.arange(len(usd), dtype=float), "BTC": usd})
    out = flow_schedule(frame, float(window), 1.0)
    assert list(out) == ["BTC"]
    assert len(out["BTC"]) == -(-len(usd) // window)
    for k, v in enumerate(out["BTC"]):
        assert v == pytest.approx(sum(usd[k * window : (k + 1) * window]), abs=1e-3)
    assert sum(out["BTC"]) == pytest.approx(sum(usd), abs=1e-3 * len(usd))


def test_a_window_shorter_than_a_step_is_refused():
    with pytest.raises(InputError):
        flow_schedule(pd.DataFrame({"BTC": [1.0, 2.0]}), 0.2, 1.0)


def _scenario(tmp_path, block: str):
    p = tmp_path / "s.toml"
    p.write_text(cut_text(3.0, flows=False) + block, "utf-8")
    return load_scenario(p)


def test_a_scenario_schedule_becomes_the_engine_flow_window_by_window(tmp_path):
    from liqcascade.scenario import build_engine_inputs, build_population

    block = '\n[[flows]]\nkind = "flow_schedule"\nasset = "BTC"\nwindow_hours = 1.0\nusd = [-3.6e8, 7.2e7, 0.0]\n'
    sc = _scenario(tmp_path, block)
    (f,) = sc.spec.flows
    assert f.kind == "flow_schedule" and f.usd == [-3.6e8, 7.2e7, 0.0]
    sc.params = sc.params.model_copy(update={"baseline": sc.params.baseline.model_copy(update={"measured": ""})})
    sc.params = sc.params.model_copy(
        update={
            "contagion": sc.params.contagion.model_copy(update={"law": "oi_rate", "rate_per_oi": 0.0}),
            "market_maker": sc.params.market_maker.model_copy(update={"calm_sigma_per_asset": "global"}),
        }
    )
    *_, flows = build_engine_inputs(sc, build_population(sc, n_positions=2_000, seed=0))
    assets = list(sc.spec.assets)
    sched = flows.schedule(assets, sc.n_steps, sc.spec.step_seconds, 0)
    b = assets.index("BTC")
    per_hour = sched[:, b].reshape(3, -1).sum(axis=1)
    np.testing.assert_allclose(per_hour, f.usd, rtol=1e-9, atol=1e-3)
    others = [i for i in range(len(assets)) if i != b]
    assert np.all(sched[:, others] == 0.0)


@pytest.mark.parametrize(
    "usd, window",
    [("[1.0, nan]", "1.0"), ("[1.0, inf]", "1.0"), ("[]", "1.0"), ("[1.0]", "0.0"), ("[1.0]", "-1.0")],
)
def test_a_bad_schedule_is_one_input_error(tmp_path, usd, window):
    block = f'\n[[flows]]\nkind = "flow_schedule"\nasset = "BTC"\nwindow_hours = {window}\nusd = {usd}\n'
    with pytest.raises(InputError) as e:
        _scenario(tmp_path, block)
    assert "\n" not in str(e.value)


# ------------------------------------------------------------- writing a measured schedule back
def test_rewriting_the_bundled_schedule_with_itself_changes_nothing():
    import tomllib

    from liqcascade.scenario import bundled_text
    from liqcascade.scenario_build import replace_flow_schedule

    for name in ("feb-2026", "feb-2026-weekend"):
        text = bundled_text(name)
        flows = [f for f in tomllib.loads(text)["flows"] if f["kind"] == "flow_schedule"]
        schedule = {f["asset"]: f["usd"] for f in flows}
        assert replace_flow_schedule(text, schedule, 1.0, flows[0]["source"]) == text


def test_a_new_schedule_replaces_the_old_and_keeps_other_flows(tmp_path):
    from liqcascade.scenario_build import replace_flow_schedule

    text = (
        cut_text(3.0)
        + '\n[[flows]]\nkind = "sell_programme"\nasset = "BTC"\nusd = 1.0e8\nstart_hour = 0.5\nend_hour = 1.0\n'
    )
    new = replace_flow_schedule(text, {"ETH": [1.0e6, -2.0e6, 3.0e6]}, 1.0, 'a "quoted" source')
    p = tmp_path / "s.toml"
    p.write_text(new, "utf-8")
    sc = load_scenario(p)
    kinds = [(f.kind, f.asset) for f in sc.spec.flows]
    assert kinds.count(("flow_schedule", "ETH")) == 1 and ("sell_programme", "BTC") in kinds
    assert not any(k == "flow_schedule" and a != "ETH" for k, a in kinds)
    (f,) = [f for f in sc.spec.flows if f.kind == "flow_schedule"]
    assert f.usd == [1.0e6, -2.0e6, 3.0e6]


@pytest.mark.parametrize(
    "args", [["--window-hours", "0"], ["--window-hours", "nan"], ["--seed", "-1"], ["--positions", "0"]]
)
def test_scenario_flows_refuses_bad_input_in_one_line(tmp_path, capsys, args):
    from liqcascade.cli import main

    assert main(["scenario", "flows", "feb-2026", "--out", str(tmp_path / "out"), *args]) == 2
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("liqcascade: error: ") and "Traceback" not in out.err, out.err
    assert not (tmp_path / "out").exists()


# -------------------------------------------------------------- the baseline's level on the day
def test_event_vol_scale_is_the_previous_days_realised_volatility_of_each_factor():
    from liqcascade.analytics.baseline import event_vol_scale
    from liqcascade.scenario import measured_baseline

    fit = measured_baseline("baseline.toml")
    start = 1_770_249_600_000  # 2026-02-05 00:00 UTC
    rng = np.random.default_rng(3)
    rows = []
    n = 2 * 288 + 1  # two days of 5-minute bars and the close before them
    t = start - (n - 1) * 300_000 + 300_000 * np.arange(n) - 300_000

    def day_at(x, k, vol):  # the last day at k times the window's volatility
        return x * (k * vol / np.sqrt(np.mean(x[-288:] ** 2)))

    r_btc = day_at(rng.standard_normal(n - 1), 2.0, fit["BTC"].sample_vol_5m)
    e_eth = day_at(rng.standard_normal(n - 1), 0.5, fit["ETH"].resid_vol_5m)
    r_eth = fit["ETH"].factor_beta * r_btc + e_eth  # ETH: its beta on BTC plus its own residual
    for a, r in (("BTC", r_btc), ("ETH", r_eth)):
        close = 100.0 * np.exp(np.r_[0.0, np.cumsum(r)])
        rows.append(pd.DataFrame({"asset": a, "bar_s": 300, "time_ms": t, "close": close}))
    series = pd.concat(rows, ignore_index=True)
    out = event_vol_scale(fit, series, start)
    # the leader's own level, and ETH's residual's (not its return's, which holds BTC's 2x)
    assert out["BTC"] == pytest.approx(2.0, rel=1e-9) and out["ETH"] == pytest.approx(0.5, rel=1e-6)
    alone = event_vol_scale(fit, series[series["asset"] == "ETH"], start)  # no leader: its own returns
    assert alone["ETH"] == pytest.approx(
        float(np.sqrt(np.mean(r_eth[-288:] ** 2))) / fit["ETH"].sample_vol_5m, rel=1e-9
    )
    with pytest.raises(InputError):
        event_vol_scale(fit, series, start, hours=0.0)
    with pytest.raises(InputError):
        event_vol_scale(fit, series, int(series["time_ms"].min()) + 1)  # nothing before the start


@pytest.mark.parametrize("current", [True, False])
def test_the_co_movement_a_free_run_adds_is_the_kernels(current):
    """``contagion_on_path`` gives, step by step, the USD the kernel's contagion traded: in a run
    where ETH has no flow but its contagion, each step's ETH move on its linear book (kappa 1,
    1e9 USD per unit move at full depth) is that USD over the depth it met."""
    import math

    from liqcascade.engine import Flows, Liquidity, Positions, PriceConfig, programme, simulate
    from liqcascade.engine.flows import contagion
    from liqcascade.replay import contagion_on_path

    p0 = {"BTC": 60_000.0, "ETH": 3_000.0}
    pos = Positions.from_arrays(
        account=[0, 1],
        venue=["binance"] * 2,
        asset=["BTC", "ETH"],
        side=[1, 1],
        size=[0.01, 0.1],
        entry=[p0["BTC"], p0["ETH"]],
        margin=[600.0, 300.0],
        leverage=[1.0, 1.0],
    )
    liq = Liquidity.uniform(["binance"], ["BTC", "ETH"], {"BTC": 1e7, "ETH": 1e7}, kappa=1.0)
    flows = Flows(
        programmes=[programme("BTC", -4e6 * 86_400, 0.0, 3.0), programme("ETH", -3e6 * 86_400, 0.0, 1.0)],
        contagion=[contagion("ETH", "BTC", 2.0, 1e8, on_current_books=current)],
    )
    run = simulate(pos, liq, PriceConfig(dict(p0)), flows, n_steps=6)
    usd = contagion_on_path(run, flows, liq)
    assert usd["BTC"].abs().sum() == 0.0 and usd["ETH"].iloc[0] == 0.0
    eth = run.steps[run.steps.asset == "ETH"]
    mid, mult = eth["mid"].to_numpy(), eth["depth_multiplier"].to_numpy()
    assert mult[:3].min() < 0.9  # ETH's books withdrawn: the two rules differ
    for t in range(2, 5):  # steps with no programme on ETH: the contagion alone moved it
        met = mult[t - 1]
        u = math.log(mid[t] / mid[t - 1])
        assert usd["ETH"].iloc[t] == pytest.approx((mid[t] / mid[t - 1] - 1.0) * 1e9 * met, rel=1e-9), (t, u)
