"""Specification tests of the liquidity measurements (analytics/liquidity.py): synthetic books
and multipliers with known parameters are recovered; the shipped measured/liquidity.toml equals
a fresh measurement of ../shared/data (skipped without it); bad input is one InputError line."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from liqcascade.analytics import liquidity as L
from liqcascade.errors import InputError

T0 = pd.Timestamp("2026-01-01 00:00", tz="UTC")
BANDS = (0.2, 1.0, 2.0, 3.0, 4.0, 5.0)


def book_frame(times: pd.DatetimeIndex, bid: tuple[np.ndarray, np.ndarray], ask: tuple[np.ndarray, np.ndarray],
               scale: np.ndarray | None = None, noise: float = 0.0, seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """A bookDepth frame: per snapshot, bucket ±p % holds ``scale * B * (p/100)**kappa`` USD."""
    rng = np.random.default_rng(seed)
    scale = np.ones(len(times)) if scale is None else scale
    rows = []
    for i, t in enumerate(times):
        for sign, (b, k) in ((-1, bid), (1, ask)):
            for p in BANDS:
                usd = scale[i] * b[i] * (p / 100.0) ** k[i] * math.exp(noise * rng.standard_normal())
                rows.append((t, sign * p, usd / 100_000.0, usd))
    return pd.DataFrame(rows, columns=["timestamp", "percentage", "depth", "notional"])


def reference_law(sigma2_step: np.ndarray, dt: float, vs: float, cs: float, floor: float, half_life: float,
                  window: float, var0: float) -> np.ndarray:  # fmt: skip
    """The engine's market_makers step (engine/core.py) written out: an EMA of squared one-step
    log returns, ``vr = VAR/(calm_sigma**2 dt)``, ``stress = vs*0.5*log(vr)`` when vr > 1,
    target ``max(floor, 1/(1+stress))``; m drops at once, refills by ``1 - 0.5**(dt/h)``."""
    a = 1.0 - math.exp(-dt / window)
    rho = 1.0 - 0.5 ** (dt / half_life)
    var, m, out = var0, 1.0, []
    for r2 in sigma2_step:
        var += a * (r2 - var)
        vr = var / (cs * cs * dt)
        target = max(floor, 1.0 / (1.0 + (vs * 0.5 * math.log(vr) if vr > 1.0 else 0.0)))
        m = target if target < m else m + (target - m) * rho
        out.append(m)
    return np.array(out)


# (a) book shape ---------------------------------------------------------------------------------


def test_book_shape_recovers_b_and_kappa():
    times = pd.date_range(T0, periods=200, freq="30s")
    rng = np.random.default_rng(1)
    bid_k = 0.7 + 0.02 * rng.standard_normal(200)
    ask_k = 1.16 + 0.02 * rng.standard_normal(200)
    bid_b = np.full(200, 4e9)
    ask_b = np.full(200, 2e10)
    f = book_frame(times, (bid_b, bid_k), (ask_b, ask_k), noise=0.01)
    s = L.book_shape(f, (times[0], times[-1] + pd.Timedelta("1s")))
    assert s.bands_pct == (1.0, 2.0, 3.0, 4.0, 5.0)
    assert s.bid_kappa == pytest.approx(np.median(bid_k), abs=0.02)
    assert s.ask_kappa == pytest.approx(np.median(ask_k), abs=0.02)
    assert s.bid_b == pytest.approx(4e9, rel=0.1)
    assert s.ask_b == pytest.approx(2e10, rel=0.1)
    assert s.bid_kappa_iqr[0] < s.bid_kappa < s.bid_kappa_iqr[1]
    assert s.bid_depth_1pct == pytest.approx(4e9 * 0.01**0.7, rel=0.05)
    # the ±0.2 % bucket follows the same law here: ratio 1
    assert s.bid_near_touch_ratio == pytest.approx(1.0, abs=0.05)
    assert s.bid_r2 > 0.99


def test_book_shape_exact_without_noise_and_calm_window():
    times = pd.date_range(T0, periods=20, freq="30s")
    k = np.r_[np.full(10, 0.8), np.full(10, 1.5)]
    b = np.r_[np.full(10, 1e10), np.full(10, 5e11)]
    f = book_frame(times, (b, k), (b, k))
    s = L.book_shape(f, (times[0], times[10]))  # the first ten only
    assert s.n_calm == 10
    assert s.bid_kappa == pytest.approx(0.8, rel=1e-9)
    assert s.ask_b == pytest.approx(1e10, rel=1e-9)


# (b) the engine's law --------------------------------------------------------------------------


def synthetic_withdrawal(vs: float, cs: float, floor: float, half_life: float):
    """Minute closes with a known volatility path; depth snapshots every 30 s scaled by the
    engine's m(t) on that path."""
    rng = np.random.default_rng(7)
    n = 600
    sig = np.full(n, 4e-5)  # per second
    sig[200:230] = np.geomspace(4e-5, 2e-3, 30)
    sig[230:260] = 2e-3
    sig[260:400] = np.geomspace(2e-3, 6e-5, 140)
    sig[450:470] = 4e-4
    r = sig * math.sqrt(60.0) * rng.standard_normal(n)
    closes = 50_000.0 * np.exp(np.cumsum(r))
    close_t = T0 + pd.to_timedelta(np.arange(1, n + 1) * 60, unit="s")
    prices = pd.Series(closes, index=close_t)
    # the law on the realised squared returns, as the engine sees them (a 60-s step)
    r2 = np.diff(np.log(np.r_[50_000.0, closes])) ** 2
    m_min = reference_law(r2, 60.0, vs, cs, floor, half_life, 60.0, float(np.median(r2[:60])))
    snaps = T0 + pd.to_timedelta(60 + np.arange(0, 2 * (n - 1)) * 30, unit="s")
    pos = np.searchsorted(close_t.asi8, snaps.asi8, side="right") - 1
    scale = m_min[pos]
    bk = np.full(len(snaps), 0.8)
    bb = np.full(len(snaps), 5e9)
    frame = book_frame(snaps, (bb, bk), (bb, bk), scale=scale, noise=0.005, seed=3)
    return frame, prices, m_min


def test_engine_multiplier_is_the_engines_law():
    rng = np.random.default_rng(0)
    sigma = np.abs(rng.standard_normal(300)) * 3e-4
    r2 = sigma**2 * 60.0
    ref = reference_law(r2, 60.0, 0.7, 1e-4, 0.05, 90.0, 1e-9, 0.0)  # window -> 0: VAR = r^2 of the step
    ours = L.engine_multiplier(sigma, 60.0, 0.7, 1e-4, 0.05, 90.0)
    np.testing.assert_allclose(ours, ref, rtol=1e-9)


def test_withdrawal_fit_recovers_vol_sensitivity_and_calm_sigma():
    vs, cs, floor, h = 0.6, 1.2e-4, 0.15, 150.0
    frame, prices, m = synthetic_withdrawal(vs, cs, floor, h)
    calm = (T0, T0 + pd.Timedelta(minutes=150))
    w = L.withdrawal(frame, prices, calm=calm, floor=floor, refill_half_life_s=h, n_boot=20)
    assert w.side == "both" and w.band_pct == 1.0
    assert w.vol_sensitivity == pytest.approx(vs, rel=0.1)
    assert w.calm_sigma == pytest.approx(cs, rel=0.1)
    assert w.vol_sensitivity_ci[0] <= w.vol_sensitivity <= w.vol_sensitivity_ci[1]
    assert w.minimum == pytest.approx(m.min(), rel=0.03)
    assert w.collapse_factor == pytest.approx(1 / m.min(), rel=0.03)
    assert w.rmse < 0.2 * w.rmse_flat
    # one law for two events at once recovers the same
    law = L.fit_engine_law([w, w], n_boot=0)
    assert law.vol_sensitivity == pytest.approx(w.vol_sensitivity, rel=1e-6)


# (b2) the liquidation-flow term --------------------------------------------------------------


def synthetic_flow(vs: float, cs: float, fs: float, floor: float, half_life: float):
    """Minute closes with a volatility burst, open interest every 5 minutes falling in two
    windows, and depth snapshots every 30 s scaled by the engine's m(t) with both terms."""
    rng = np.random.default_rng(11)
    n = 600
    sig = np.full(n, 4e-5)
    sig[200:230] = 8e-4  # a volatility burst (the vol term)
    r = sig * math.sqrt(60.0) * rng.standard_normal(n)
    closes = 50_000.0 * np.exp(np.cumsum(r))
    close_t = T0 + pd.to_timedelta(np.arange(1, n + 1) * 60, unit="s")
    prices = pd.Series(closes, index=close_t)
    # open interest: flat, then two falls (5,000 and 2,000 coins in one 5-minute window each)
    t_oi = T0 + pd.to_timedelta(np.arange(-2, n // 5 + 2) * 300, unit="s")
    coins = np.full(len(t_oi), 100_000.0)
    coins[t_oi > T0 + pd.Timedelta(minutes=350)] -= 5_000.0
    coins[t_oi > T0 + pd.Timedelta(minutes=450)] -= 2_000.0
    oi = pd.DataFrame({"timestamp": L._ns(t_oi) // 1_000_000, "open_interest": coins,
                       "open_interest_usd": coins * 50_000.0})  # fmt: skip
    sigma = L._ewma_sigma(prices, 60.0)
    b, k = 5e9, 0.8
    depth = 2 * b * 0.01**k  # both sides within 1 %
    flow = L.oi_flow_proxy(oi, sigma.index).to_numpy() / depth
    m = L.engine_multiplier(sigma.to_numpy(), 60.0, vs, cs, floor, half_life, flow, fs)
    snaps = T0 + pd.to_timedelta(120 + np.arange(0, 2 * (n - 2)) * 30, unit="s")
    pos = np.searchsorted(L._ns(sigma.index), L._ns(snaps), side="right") - 1
    scale = m[pos]
    frame = book_frame(snaps, (np.full(len(snaps), b), np.full(len(snaps), k)),
                       (np.full(len(snaps), b), np.full(len(snaps), k)), scale=scale, noise=0.005, seed=4)  # fmt: skip
    return frame, prices, oi, m, flow


def test_oi_flow_proxy_spreads_falls_evenly():
    t = T0 + pd.to_timedelta(np.arange(4) * 300, unit="s")
    oi = pd.DataFrame({"timestamp": L._ns(t) // 1_000_000, "open_interest": [10.0, 7.0, 8.0, 8.0],
                       "open_interest_usd": [1000.0, 770.0, 880.0, 880.0]})  # fmt: skip
    at = t[0] + pd.to_timedelta([60, 300, 360, 900], unit="s")
    got = L.oi_flow_proxy(oi, at).to_numpy()
    rate = 3.0 * 0.5 * (100.0 + 110.0) / 300.0  # 3 coins fell, valued at the mean price, per second
    np.testing.assert_allclose(got, [rate, rate, 0.0, 0.0])
    with pytest.raises(InputError) as e:
        L.oi_flow_proxy(oi, [t[0] - pd.Timedelta("1min")])
    assert "range" in one_line(e)
    with pytest.raises(InputError) as e:
        L.oi_flow_proxy(oi.drop(columns="open_interest"), at)
    one_line(e)


def test_engine_multiplier_flow_term():
    sigma = np.full(5, 1e-5)
    flow = np.array([0.0, 0.002, 0.0, 0.0, 0.0])
    m = L.engine_multiplier(sigma, 60.0, 0.5, 1e-4, 0.1, None, flow, 300.0)
    np.testing.assert_allclose(m, [1.0, 1.0 / 1.6, 1.0, 1.0, 1.0])
    # no flow (or a zero sensitivity) is the volatility law alone
    np.testing.assert_array_equal(L.engine_multiplier(sigma, 60.0, 0.5, 1e-4, 0.1, 90.0),
                                  L.engine_multiplier(sigma, 60.0, 0.5, 1e-4, 0.1, 90.0, flow, 0.0))  # fmt: skip


def test_flow_fit_recovers_flow_sensitivity():
    vs, cs, fs, floor, h = 0.6, 1.2e-4, 300.0, 0.15, 150.0
    frame, prices, oi, m, flow = synthetic_flow(vs, cs, fs, floor, h)
    assert 0.2 < m.min() < 0.6  # the flow term bites
    calm = (T0, T0 + pd.Timedelta(minutes=150))
    w = L.withdrawal(frame, prices, calm=calm, floor=floor, refill_half_life_s=h, n_boot=0)
    # the volatility term held at its true values
    f = L.flow_fit(w, oi, hold=(vs, cs), n_boot=30)
    assert f.vol_held and f.vol_sensitivity == vs
    assert f.flow_sensitivity == pytest.approx(fs, rel=0.05)
    assert f.flow_sensitivity_ci[0] <= f.flow_sensitivity <= f.flow_sensitivity_ci[1]
    assert f.flow_sensitivity_ci[0] > 0 and f.law.flow_boot_at_zero == 0.0
    assert f.rmse < 0.5 * f.rmse_no_flow
    assert f.depth_usd == pytest.approx(2 * 5e9 * 0.01**0.8, rel=0.01)
    # fitted jointly with the volatility term
    j = L.flow_fit(w, oi, n_boot=0)
    assert j.flow_sensitivity == pytest.approx(fs, rel=0.1)
    assert j.vol_sensitivity == pytest.approx(vs, rel=0.15)
    # a series without any flow response: the fit puts flow_sensitivity at 0
    frame0, prices0, oi0, _, _ = synthetic_flow(vs, cs, 0.0, floor, h)
    w0 = L.withdrawal(frame0, prices0, calm=calm, floor=floor, refill_half_life_s=h, n_boot=0)
    f0 = L.flow_fit(w0, oi0, hold=(vs, cs), n_boot=20)
    assert f0.flow_sensitivity < 0.05 * fs and f0.flow_sensitivity_ci[0] < 1.0


# (c) refill --------------------------------------------------------------------------------------


def test_refill_half_life_recovered():
    rng = np.random.default_rng(5)
    t = np.arange(0, 1800, 30.0)
    h = 140.0
    m = 0.85 + (0.3 - 0.85) * 0.5 ** (t / h) + 0.02 * rng.standard_normal(len(t))
    s = pd.Series(np.r_[np.ones(20), m], index=T0 + pd.to_timedelta(np.r_[np.arange(-20, 0) * 30.0, t], unit="s"))
    fit = L.refill_fit(s, window_s=1800)
    assert fit.start == T0
    assert fit.half_life_s == pytest.approx(h, rel=0.15)
    assert fit.half_life_ci[0] < h < fit.half_life_ci[1]
    assert fit.m_inf == pytest.approx(0.85, abs=0.02)
    # the same through a frame
    times = s.index
    k = np.full(len(times), 0.8)
    b = np.full(len(times), 5e9)
    frame = book_frame(times, (b, k), (b, k), scale=s.to_numpy())
    hl = L.refill(frame, calm=(times[0], times[19] + pd.Timedelta("1s")), window_s=1800)
    assert hl == pytest.approx(fit.half_life_s, rel=0.05)


# (d) the real data ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fresh():
    data = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    if not all((data / f).exists() for f in (L._DATA_JAN, L._DATA_OCT, L._OI_JAN)):
        pytest.skip(f"real data not available: {data} (the shared data folder is absent in a fresh clone)")
    return L.measure(data, detail=True)


def test_shipped_toml_equals_a_fresh_measurement(fresh):
    rows, _ = fresh
    shipped = L.load_measured()
    assert sorted(shipped) == sorted(rows)
    for name, row in rows.items():
        assert shipped[name]["value"] == pytest.approx(row["value"], rel=1e-9), name
        assert shipped[name]["unit"] == row["unit"]
        assert shipped[name]["source"] == row["source"]
        assert shipped[name]["source"].startswith("data: ") or "not measured" in shipped[name]["source"]


def test_jan31_bid_minimum_as_the_data_readme_says(fresh):
    rows, objs = fresh
    assert rows["collapse.jan31.bid_1pct_min_usd"]["value"] == pytest.approx(47.9e6, abs=0.05e6)
    assert "18:44:30" in rows["collapse.jan31.bid_1pct_min_usd"]["source"]


def test_oct10_collapse_between_6_and_39x(fresh):
    rows, _ = fresh
    ask1 = rows["collapse.oct10.ask_1pct"]["value"]  # asks within 1 %: the clean side
    bid5 = rows["collapse.oct10.bid_5pct"]["value"]  # bids within 5 %: the deepest clean bid band
    assert 6.0 <= ask1 <= 39.0 and 6.0 <= bid5 <= 39.0
    assert ask1 == pytest.approx(6.33, abs=0.01)
    assert bid5 == pytest.approx(38.7, abs=0.1)


def test_measured_values_are_plausible(fresh):
    rows, objs = fresh
    for k in ("jan31", "oct10"):
        for side in ("bid", "ask"):
            assert 0.4 < rows[f"book.{k}.{side}_kappa"]["value"] < 1.2
    assert 0 < rows["market_maker.min_multiplier"]["value"] < 1
    lo, hi = rows["market_maker.refill_half_life_s_lo"]["value"], rows["market_maker.refill_half_life_s_hi"]["value"]
    assert lo < rows["market_maker.refill_half_life_s"]["value"] < hi


def test_flow_sensitivity_embedded_equals_fresh(fresh):
    rows, objs = fresh
    shipped = L.load_measured()
    for name in ("market_maker.flow_sensitivity", "market_maker.flow_sensitivity_lo",
                 "market_maker.flow_sensitivity_hi"):  # fmt: skip
        assert shipped[name]["value"] == pytest.approx(rows[name]["value"], rel=1e-9)
    f = objs["flow_jan31"]
    assert rows["market_maker.flow_sensitivity"]["value"] == pytest.approx(f.flow_sensitivity, rel=1e-12)
    lo, hi = rows["market_maker.flow_sensitivity_lo"]["value"], rows["market_maker.flow_sensitivity_hi"]["value"]
    assert 0 < lo < rows["market_maker.flow_sensitivity"]["value"] < hi
    assert "open-interest falls" in rows["market_maker.flow_sensitivity"]["source"]
    # the flush's open-interest fall: 18:40-18:45 UTC
    assert "18:45" in rows["flow.jan31.proxy_peak_usd_per_s"]["source"]


def test_load_measured_without_shared_data():
    rows = L.load_measured()
    for name in ("market_maker.vol_sensitivity", "market_maker.calm_sigma", "market_maker.min_multiplier",
                 "market_maker.refill_half_life_s", "book.jan31.bid_kappa", "book.oct10.ask_b"):  # fmt: skip
        assert math.isfinite(rows[name]["value"]) and rows[name]["unit"] and rows[name]["source"]


# (e) bad input ---------------------------------------------------------------------------------------


def one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_malformed_frame_is_one_input_error():
    times = pd.date_range(T0, periods=5, freq="30s")
    f = book_frame(times, (np.full(5, 1e9), np.full(5, 0.8)), (np.full(5, 1e9), np.full(5, 0.8)))
    with pytest.raises(InputError) as e:
        L.book_shape(f.drop(columns="notional"))
    assert "notional" in one_line(e)
    bad = f.astype({"notional": object})
    bad.loc[3, "notional"] = "x"
    with pytest.raises(InputError) as e:
        L.book_shape(bad)
    assert "notional" in one_line(e)
    with pytest.raises(InputError) as e:
        L.book_shape("not a frame")  # type: ignore[arg-type]
    one_line(e)
    with pytest.raises(InputError) as e:
        L.book_shape(f, bands=(1.0, 7.0))
    assert "7" in one_line(e)
    with pytest.raises(InputError) as e:
        L.withdrawal(f, pd.Series([1.0, 2.0]), calm=(times[0], times[-1]))
    one_line(e)
    with pytest.raises(InputError) as e:
        L.withdrawal(f, pd.Series(dtype=float), calm=(times[0], times[-1]), side="middle")
    assert "side" in one_line(e)
    with pytest.raises(InputError) as e:
        L.refill(f, calm=(times[-1], times[0]))
    assert "calm" in one_line(e)
    with pytest.raises(InputError) as e:
        L.load_measured("/nonexistent/liquidity.toml")
    one_line(e)


def test_withdrawal_by_distance_from_mid(fresh):
    """At the snapshot where a side's 1 % depth is lowest, every band's multiplier: on 31 Jan the
    bids withdrew near mid and much less beyond 1 % (0.34 within 1 %, about 0.6-0.7 within 2-5 %);
    on 10 Oct the asks withdrew almost as much at 5 % as at 1 % (0.16-0.21)."""
    rows, _ = fresh
    jan = [rows[f"reach.jan31.bid_{p:g}pct"]["value"] for p in (0.2, 1.0, 2.0, 3.0, 4.0, 5.0)]
    oct_ = [rows[f"reach.oct10.ask_{p:g}pct"]["value"] for p in (1.0, 2.0, 3.0, 4.0, 5.0)]
    assert jan[1] == pytest.approx(rows["collapse.jan31.bid_1pct"]["value"] ** -1, rel=1e-9)
    assert oct_[0] == pytest.approx(rows["collapse.oct10.ask_1pct"]["value"] ** -1, rel=1e-9)
    assert jan[0] < jan[1] < 0.4 and min(jan[2:]) > 1.5 * jan[1]
    assert all(0.1 < m < 0.25 for m in oct_) and max(oct_) / min(oct_) < 1.5
