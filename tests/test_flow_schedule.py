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
