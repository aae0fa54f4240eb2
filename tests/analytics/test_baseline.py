"""The measured stochastic baseline: the fit recovers known parameters, the simulator reproduces the
fit, and the shipped measurement equals a fresh fit of the real data."""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from arch import arch_model
from arch.univariate import StudentsT

from liqcascade.analytics import baseline as B
from liqcascade.errors import InputError

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _arch_garch_t(omega_bp2: float, alpha: float, beta: float, nu: float, n: int, seed: int) -> np.ndarray:
    """A GARCH(1,1)-t path from arch's own simulator, in basis points."""
    model = arch_model(None, mean="Zero", vol="GARCH", p=1, q=1, dist="t")
    model.distribution = StudentsT(seed=np.random.default_rng(seed))
    return model.simulate([omega_bp2, alpha, beta, nu], n)["data"].to_numpy()


# ----------------------------------------------------------------------------------- (a) the fit


def test_fit_recovers_known_garch_t_parameters():
    # 12 bp per 5 min long-run vol, persistence 0.95, nu 5: close to what BTC measures
    x = _arch_garch_t(144 * 0.05, 0.10, 0.85, 5.0, 20_000, seed=0) / 1e4
    fit = B.fit_baseline(pd.DataFrame({"BTC": x}), window=None, daily_normalise=False)
    f = fit["BTC"]
    assert f.converged and f.role == "leader"
    assert abs(f.alpha + f.beta_garch - 0.95) < 0.02
    assert abs(f.alpha - 0.10) < 0.03
    assert abs(f.nu - 5.0) < 0.75
    assert f.uncond_vol_5m == pytest.approx(0.0012, rel=0.08)
    # units: omega comes back in (fraction per 5 min)^2, not in the optimiser's basis points
    assert f.omega == pytest.approx(f.uncond_vol_5m**2 * (1 - f.alpha - f.beta_garch), rel=1e-9)
    assert f.omega < 1e-6


def test_factor_beta_is_the_ols_slope():
    rng = np.random.default_rng(3)
    lead = _arch_garch_t(144 * 0.05, 0.10, 0.85, 5.0, 10_000, seed=1) / 1e4
    resid = _arch_garch_t(100 * 0.10, 0.08, 0.82, 6.0, 10_000, seed=2) / 1e4
    rng.shuffle(resid)  # independent of the leader
    y = 1.3 * lead + resid
    fit = B.fit_baseline(pd.DataFrame({"ETH": y, "BTC": lead}), leader="BTC", window=None, daily_normalise=False)
    assert fit.assets == ("BTC", "ETH")
    e = fit["ETH"]
    se = np.std(resid) / (np.sqrt(len(lead)) * np.std(lead))
    assert abs(e.factor_beta - 1.3) < 4 * se + 1e-3
    assert e.corr_leader == pytest.approx(np.corrcoef(lead, y)[0, 1], abs=1e-12)
    assert e.resid_vol_5m == pytest.approx(np.std(y - e.factor_beta * lead, ddof=1), rel=1e-9)
    assert e.role == "factor"
    assert e.uncond_vol_5m == pytest.approx(0.001, rel=0.15)  # the residual's own GARCH level


def test_fit_window_selects_the_pre_event_weeks():
    idx = pd.date_range("2025-12-25", periods=12_000, freq="5min", tz="UTC")
    x = _arch_garch_t(144 * 0.05, 0.10, 0.85, 5.0, len(idx), seed=4) / 1e4
    fit = B.fit_baseline(pd.DataFrame({"BTC": x}, index=idx))
    assert fit["BTC"].n_bars == 27 * 288  # 1 Jan 00:00 up to, not including, 28 Jan 00:00
    assert fit.window_start.startswith("2026-01-01T00:00") and fit.window_end.startswith("2026-01-28T00:00")


# ---------------------------------------------------------------------------- (c) the simulator


def _five_min(x: np.ndarray, dt_s: float) -> np.ndarray:
    m = int(300 / dt_s)
    n = len(x) // m * m
    return x[:n].reshape(-1, m, x.shape[1]).sum(axis=1)


@pytest.fixture(scope="module")
def measured() -> B.BaselineFit:
    return B.load_measured()


@pytest.fixture(scope="module")
def long_run(measured) -> np.ndarray:
    """200,000 five-minute bars (694 days) of the measured baseline, simulated at 60 s."""
    return _five_min(B.simulate_baseline(measured, 200_000 * 5, dt_s=60.0, seed=11), 60.0)


def test_simulated_vol_is_the_fits_long_run_vol(measured, long_run):
    got = long_run.std(axis=0)
    for j, f in enumerate(measured.fits):
        assert got[j] == pytest.approx(f.sample_vol_5m, rel=0.10), f.asset
    garch = _five_min(B.simulate_baseline(measured, 200_000 * 5, dt_s=60.0, seed=12, level="garch"), 60.0)
    for j, f in enumerate(measured.fits):
        assert garch[:, j].std() == pytest.approx(f.model_vol_5m, rel=0.10), f.asset


def test_simulated_returns_have_fat_tails_clustering_and_the_measured_correlation(measured, long_run):
    facts = B.stylised_facts(long_run, 300)
    for j, f in enumerate(measured.fits):
        name = f"asset{j}"
        assert facts["excess_kurtosis_5m"][name] > 0, f.asset
        assert facts["abs_acf_5m"][name][0] > 0.05, f.asset  # volatility clustering
        assert facts["corr_5m"]["asset0"][name] == pytest.approx(f.corr_leader, abs=0.03), f.asset
    # zero drift: the mean 5-minute return is within 4 standard errors of 0
    se = long_run.std(axis=0) / math.sqrt(len(long_run))
    assert np.all(np.abs(long_run.mean(axis=0)) < 4 * se)


def test_per_step_variance_scales_with_dt(measured):
    x = B.simulate_baseline(measured, 2_000 * 300, dt_s=1.0, seed=5, assets=["BTC"])
    x60 = B.simulate_baseline(measured, 2_000 * 5, dt_s=60.0, seed=5, assets=["BTC"])
    # 2,000 bars: both per-step stds sit near level * sqrt(dt/300)
    level = measured["BTC"].sample_vol_5m
    assert x.std() == pytest.approx(level * math.sqrt(1 / 300), rel=0.25)
    assert x60.std() == pytest.approx(level * math.sqrt(60 / 300), rel=0.25)


def test_simulation_is_deterministic_per_seed_and_fast(measured):
    a = B.simulate_baseline(measured, 172_800, seed=7)
    assert a.shape == (172_800, 6) and a.dtype == np.float64
    assert np.array_equal(a, B.simulate_baseline(measured, 172_800, seed=7))
    assert not np.array_equal(a, B.simulate_baseline(measured, 172_800, seed=8))
    # asking for a subset (in any order) gives the same paths
    sub = B.simulate_baseline(measured, 172_800, seed=7, assets=["SOL", "BTC"])
    assert np.array_equal(sub, a[:, [2, 0]])
    best = min(_timed(lambda seed=s: B.simulate_baseline(measured, 172_800, seed=seed)) for s in range(3))
    assert best < 1.0, f"172,800 steps x 6 assets took {best:.2f} s"


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


# ------------------------------------------------------------------------- stylised facts itself


def test_stylised_facts_on_known_returns():
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 0.0005, size=(60 * 24 * 40, 2))  # 40 days of 1-minute normal returns
    x[:, 1] = 0.6 * x[:, 0] + 0.8 * x[:, 1]
    f = B.stylised_facts(x, 60)
    assert f["n_hours"] == 960
    # an hour of 60 normal returns: RV ~ 0.0005 * sqrt(60); calm-hour selection barely moves it
    assert f["calm_hour_rv"]["asset0"] == pytest.approx(0.0005 * math.sqrt(60), rel=0.05)
    assert f["calm_hour_rv_5m"]["asset0"] == pytest.approx(0.0005 * math.sqrt(60), rel=0.10)
    assert f["vol_5m"]["asset0"] == pytest.approx(0.0005 * math.sqrt(5), rel=0.03)
    assert abs(f["excess_kurtosis_5m"]["asset0"]) < 0.3
    assert max(abs(v) for v in f["abs_acf_5m"]["asset0"]) < 0.05
    assert f["corr_5m"]["asset0"]["asset1"] == pytest.approx(0.6, abs=0.03)


def test_stylised_facts_align_to_clock_hours():
    # 1-minute returns labelled by their bar's open time: 00:00 … 02:59 cover three clock hours
    idx = pd.date_range("2026-01-01 00:00", periods=3 * 60, freq="1min", tz="UTC")
    df = pd.DataFrame({"BTC": np.random.default_rng(0).normal(0, 1e-4, len(idx))}, index=idx)
    assert B.stylised_facts(df, 60)["n_hours"] == 3
    assert B.stylised_facts(df.iloc[30:], 60)["n_hours"] == 2  # starts mid-hour: two whole hours remain


# ---------------------------------------------------------------------------------- (d) real data


@pytest.fixture(scope="module")
def real_5m() -> pd.DataFrame:
    if not (DATA / B.FIVE_MIN_FILE.format(asset="BTC")).exists():
        pytest.skip(f"real data not available: {DATA} (the shared data folder is absent in a fresh clone)")
    return B.load_returns_5m(DATA)


@pytest.fixture(scope="module")
def fresh_fit(real_5m) -> B.BaselineFit:
    return B.fit_baseline(real_5m)


def test_embedded_measurement_equals_a_fresh_fit(fresh_fit, measured):
    assert measured.assets == fresh_fit.assets == B.ASSETS
    assert (measured.leader, measured.window_start, measured.window_end) == (
        fresh_fit.leader,
        fresh_fit.window_start,
        fresh_fit.window_end,
    )
    for shipped, fresh in zip(measured.fits, fresh_fit.fits):
        for fld in dataclasses.fields(B.AssetFit):
            a, b = getattr(shipped, fld.name), getattr(fresh, fld.name)
            if isinstance(a, float):
                assert a == pytest.approx(b, rel=1e-6, abs=1e-15), f"{shipped.asset}.{fld.name}"
            else:
                assert a == b, f"{shipped.asset}.{fld.name}"


def test_measured_file_round_trips(fresh_fit, tmp_path):
    path = tmp_path / "baseline.toml"
    written = B.write_measured(path, DATA)
    assert B.load_measured(path) == written
    text = path.read_text()
    assert "arch GARCH(1,1)-t MLE" in text and "binance_usdm_HYPEUSDT_5m" in text


def test_raw_return_fit_of_btc_is_integrated(real_5m):
    """Why the fit divides by the day's level: on raw returns BTC's alpha + beta reaches 1."""
    with pytest.raises(InputError, match=r"'BTC'.*not covariance-stationary"):
        B.fit_baseline(real_5m[["BTC"]], daily_normalise=False)


def test_simulated_calm_hour_vol_is_within_two_of_the_real(real_5m, measured):
    """Calm hours: the whole hours whose |hourly return| is at or below the median hour's, in the
    real and the simulated series alike.  5-minute returns: real 1–28 Jan 2026 (the fit window)
    against 27 simulated days; 1-minute returns: the real 1-minute file's first week, 29 Jan 00:00
    – 5 Feb 00:00 (it includes the 31 Jan flush, which the calm-hour rule leaves out), against 7
    simulated days at 1 s."""
    win = real_5m[(real_5m.index >= "2026-01-01") & (real_5m.index < "2026-01-28")]
    real5 = B.stylised_facts(win[["BTC", "ETH"]], 300)
    sim = B.simulate_baseline(measured, 27 * 288 * 5, dt_s=60.0, seed=1, assets=["BTC", "ETH"])
    sim5 = B.stylised_facts(_five_min(sim, 60.0), 300)
    for j, asset in enumerate(("BTC", "ETH")):
        ratio = sim5["calm_hour_rv"][f"asset{j}"] / real5["calm_hour_rv"][asset]
        assert 0.5 < ratio < 2.0, f"{asset} 5-min calm-hour RV sim/real = {ratio:.2f}"

    path = DATA / B.ONE_MIN_FILE
    r1 = B.log_returns(B.load_closes({"BTC": path}))
    r1 = r1[(r1.index >= "2026-01-29") & (r1.index < "2026-02-05")]
    real1 = B.stylised_facts(r1, 60)
    x = B.simulate_baseline(measured, 7 * 86_400, dt_s=1.0, seed=2, assets=["BTC"])
    sim1 = B.stylised_facts(x.reshape(-1, 60, 1).sum(axis=1), 60)
    for key in ("calm_hour_rv", "calm_hour_rv_5m"):
        ratio = sim1[key]["asset0"] / real1[key]["BTC"]
        assert 0.5 < ratio < 2.0, f"BTC {key} (1-min file) sim/real = {ratio:.2f}"


# ---------------------------------------------------------------------------------- (e) bad input


def _returns(n: int = 2_000, seed: int = 0) -> pd.DataFrame:
    x = _arch_garch_t(144 * 0.05, 0.10, 0.85, 5.0, n, seed=seed) / 1e4
    return pd.DataFrame({"BTC": x, "ETH": 1.2 * x + np.random.default_rng(seed).normal(0, 8e-4, n)})


def _one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_nan_returns_name_the_asset_and_row():
    r = _returns()
    r.iloc[17, 1] = np.nan
    with pytest.raises(InputError) as err:
        B.fit_baseline(r, window=None)
    assert "field 'ETH'" in _one_line(err) and "row 17" in _one_line(err)


def test_too_few_bars():
    with pytest.raises(InputError) as err:
        B.fit_baseline(_returns().iloc[:500], window=None)
    assert "at least 1000" in _one_line(err)
    # the default window on data outside it leaves nothing
    r = _returns()
    r.index = pd.date_range("2025-06-01", periods=len(r), freq="5min", tz="UTC")
    with pytest.raises(InputError, match="got 0"):
        B.fit_baseline(r)


def test_other_bad_inputs():
    r = _returns()
    with pytest.raises(InputError, match="leader 'SOL'"):
        B.fit_baseline(r, leader="SOL", window=None)
    with pytest.raises(InputError, match="DatetimeIndex"):
        B.fit_baseline(r)  # the default window needs times
    flat = r.assign(ETH=0.0)
    with pytest.raises(InputError, match="field 'ETH'.*all equal"):
        B.fit_baseline(flat, window=None)


def test_a_fit_that_does_not_converge_names_the_asset(monkeypatch):
    import arch

    real = arch.arch_model

    class _Stuck:
        def __init__(self, res):
            self._res = res

        def __getattr__(self, name):
            return getattr(self._res, name)

        convergence_flag = 9

        class optimization_result:  # noqa: N801 - mimics scipy's attribute
            message = "Iteration limit reached"

    def stuck_model(*args, **kwargs):
        model = real(*args, **kwargs)
        fit = model.fit
        model.fit = lambda *a, **k: _Stuck(fit(*a, **k))
        return model

    monkeypatch.setattr(arch, "arch_model", stuck_model)
    with pytest.raises(InputError) as err:
        B.fit_baseline(_returns(), window=None)
    assert _one_line(err) == "field 'BTC': GARCH(1,1)-t fit did not converge: Iteration limit reached"


def test_simulator_rejects_bad_arguments(measured):
    with pytest.raises(InputError, match="n_steps"):
        B.simulate_baseline(measured, 0)
    with pytest.raises(InputError, match="whole multiple"):
        B.simulate_baseline(measured, 10, dt_s=7.0)
    with pytest.raises(InputError, match="unknown asset 'ADA'"):
        B.simulate_baseline(measured, 10, assets=["ADA"])
    with pytest.raises(InputError, match="level"):
        B.simulate_baseline(measured, 10, level="mle")


def test_load_measured_refuses_a_broken_file(tmp_path):
    p = tmp_path / "b.toml"
    p.write_text('[baseline]\nleader = "BTC"\n')
    with pytest.raises(InputError) as err:
        B.load_measured(p)
    assert "missing key" in _one_line(err)
    with pytest.raises(InputError, match="no measured baseline"):
        B.load_measured(tmp_path / "absent.toml")
