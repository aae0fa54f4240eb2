"""Sweeps: the same per-path table whatever the backend (in-process, a process pool, a real Dask
LocalCluster of two worker processes), resume after an interruption without recomputing, the
aggregation against distributions with known quantiles and expected shortfall, the critical-shock
estimator on curves with a known answer, memory that does not grow with the number of paths, and
bad specifications refused in one line (exit code 2 on the command line).

Small sweeps only: a few thousand positions, one-minute steps, a horizon of minutes.
"""

from __future__ import annotations

import json
import math
import os
import socket

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from liqcascade.cli import app
from liqcascade.errors import InputError
from liqcascade.sweep import (
    _Payload,
    aggregate,
    build_populations,
    cell_statistics,
    critical_shock,
    list_sweeps,
    parse_spec,
    plan,
    run_path,
    sweep,
    var_es,
)

SMALL = dict(
    scenario="feb-2026",
    shocks=dict(usd=[0.0, 1e8, 1e9], seconds=[300.0]),
    paths=2,
    n_steps=20,
    step_seconds=60.0,
    positions=3000,
    noise=dict(flow_usd=2e6, depth=0.2),
    parameters={"depth.scale": [1.0, 0.5]},
)
runner = CliRunner()


@pytest.fixture(scope="module")
def inprocess(tmp_path_factory):
    return sweep(SMALL, backend="inprocess", out_dir=tmp_path_factory.mktemp("inproc"))


# ---------------------------------------------------------------------------------- backends
def test_grid_is_the_cartesian_product_times_paths(inprocess):
    t = inprocess.paths
    assert len(t) == 3 * 2 * 2
    assert t["path"].tolist() == list(range(12))
    assert sorted(set(zip(t["shock_usd"], t["depth.scale"]))) == sorted(
        (s, d) for s in (0.0, 1e8, 1e9) for d in (1.0, 0.5)
    )
    assert (t["replicate"] == t["path"] % 2).all()
    assert t["liquidated_usd"].ge(0).all() and t["liquidated_usd_reported"].le(t["liquidated_usd"] + 1e-6).all()


def test_processes_and_dask_localcluster_equal_inprocess_bit_for_bit(inprocess, tmp_path):
    procs = sweep(SMALL, backend="processes", workers=2, out_dir=tmp_path / "p", chunk_size=1)
    pd.testing.assert_frame_equal(procs.paths, inprocess.paths, check_exact=True)
    pytest.importorskip("distributed")
    from distributed import Client

    from liqcascade.sweep import local_cluster

    with local_cluster(2) as cluster, Client(cluster) as client:  # 2 worker processes, 1 thread each
        info = client.scheduler_info()["workers"]
        assert len(info) == 2 and all(w["nthreads"] == 1 for w in info.values())
        assert set(client.run(os.getpid).values()).isdisjoint({os.getpid()})  # separate processes
        assert not any(client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_")).values())
        dk = sweep(SMALL, backend="dask", client=client, out_dir=tmp_path / "d", chunk_size=2)
    pd.testing.assert_frame_equal(dk.paths, inprocess.paths, check_exact=True)
    for name in ("cells", "curve", "critical"):
        pd.testing.assert_frame_equal(getattr(dk, name), getattr(inprocess, name), check_exact=True)


def test_a_venue_shock_hits_that_venue_first(tmp_path):
    """The venue is a grid axis: the same USD sold on Hyperliquid's book alone gives another
    outcome than the same sale split across every venue by depth."""
    spec = dict(
        SMALL,
        shocks=dict(usd=[2e9], seconds=[60.0], venue=["all", "hyperliquid"]),
        paths=1,
        parameters={},
        noise=dict(flow_usd=0.0, depth=0.0),
    )
    t = sweep(spec, backend="inprocess", out_dir=tmp_path).paths.set_index("shock_venue")
    assert set(t.index) == {"all", "hyperliquid"}
    assert t.loc["hyperliquid", "liquidated_usd"] != t.loc["all", "liquidated_usd"]


def test_a_path_is_reproducible_from_its_index_alone(inprocess):
    pl = plan(SMALL)
    payload = _Payload(pl, build_populations(pl))
    for i in (0, 7, 11):
        row = run_path(payload, i)
        ref = inprocess.paths.iloc[i]
        for k, v in row.items():
            assert ref[k] == v or (isinstance(v, float) and math.isnan(v) and math.isnan(ref[k])), k


# ---------------------------------------------------------------------------------- resume
class Stop(Exception):
    pass


def test_interrupted_sweep_resumes_without_recomputing(inprocess, tmp_path):
    seen = []

    def kill_after_5(done, total):
        seen.append(done)
        if done >= 5:
            raise Stop

    with pytest.raises(Stop):
        sweep(SMALL, out_dir=tmp_path, chunk_size=1, progress=kill_after_5)
    parts = list((tmp_path / "sweeps").glob("*/parts/part-*.parquet"))
    assert len(parts) == 5 and not list((tmp_path / "sweeps").glob("*/parts/.*"))
    calls = []
    res = sweep(SMALL, out_dir=tmp_path, chunk_size=4, progress=lambda d, t: calls.append(d))
    assert res.computed == 12 - 5
    assert calls[0] == 5 and calls[-1] == 12
    pd.testing.assert_frame_equal(res.paths, inprocess.paths, check_exact=True)
    # a third run computes nothing
    again = sweep(SMALL, out_dir=tmp_path)
    assert again.computed == 0
    pd.testing.assert_frame_equal(again.paths, inprocess.paths, check_exact=True)


def test_another_spec_does_not_reuse_parts(tmp_path):
    a = sweep(dict(SMALL, paths=1), out_dir=tmp_path)
    b = sweep(dict(SMALL, paths=1, seed=1), out_dir=tmp_path)
    assert a.sweep_id != b.sweep_id and b.computed == len(b.paths)


# ---------------------------------------------------------------------------------- store, report
def test_sweep_is_stored_catalogued_and_reported(inprocess):
    d = inprocess.path
    for f in ("paths", "cells", "pooled", "curve", "critical"):
        assert (d / f"{f}.parquet").is_file()
    pd.testing.assert_frame_equal(pd.read_parquet(d / "paths.parquet"), inprocess.paths)
    cat = list_sweeps(d.parents[1])
    assert inprocess.sweep_id in cat["sweep_id"].tolist()
    html = (d / "report.html").read_text("utf-8")
    assert "Amplification curve" in html and "Plotly" in html and "<script src=" not in html
    s = json.loads((d / "summary.json").read_text("utf-8"))
    assert s["paths_total"] == 12 and set(s["liquidation_risk_pooled"]) == {"0.95", "0.99"}


# ---------------------------------------------------------------------------------- aggregation
def test_var_and_es_of_a_uniform_and_a_normal_sample():
    rng = np.random.default_rng(7)
    u = rng.uniform(0.0, 1.0, 400_000)
    var, es = var_es(u, 0.95)
    assert var == pytest.approx(0.95, abs=3e-3) and es == pytest.approx(0.975, abs=3e-3)
    z = rng.normal(0.0, 1.0, 400_000)
    var, es = var_es(z, 0.99)
    phi = math.exp(-0.5 * 2.3263478740408408**2) / math.sqrt(2 * math.pi)
    assert var == pytest.approx(2.3263478740408408, abs=0.03)
    assert es == pytest.approx(phi / 0.01, abs=0.03)  # 2.665


def test_es_of_a_small_sample_is_the_mean_of_the_worst_values():
    x = np.arange(1.0, 101.0)  # 1..100
    var, es = var_es(x, 0.95)
    assert var == pytest.approx(np.quantile(x, 0.95))
    assert es == pytest.approx(np.mean([96, 97, 98, 99, 100]))


def test_cell_statistics_recover_known_quantiles_per_cell():
    rng = np.random.default_rng(3)
    n = 100_000
    frame = pd.DataFrame(
        {
            "shock_usd": np.repeat([1.0, 2.0], n),
            "liquidated_usd": np.r_[rng.uniform(0, 1e9, n), rng.exponential(1e9, n)],
            "drawdown_pct": np.r_[rng.normal(10, 2, n), rng.normal(20, 2, n)],
        }
    )
    st = cell_statistics(frame, ["shock_usd"], levels=(0.9,))
    uni, exp = st.iloc[0], st.iloc[1]
    assert uni["liquidated_usd_q50"] == pytest.approx(0.5e9, rel=0.01)
    assert uni["liquidated_usd_q99"] == pytest.approx(0.99e9, rel=0.01)
    assert exp["liquidated_usd_q50"] == pytest.approx(1e9 * math.log(2), rel=0.02)
    # exponential: VaR_a = -ln(1-a) scale, ES_a = VaR_a + scale
    assert exp["liquidation_var90_usd"] == pytest.approx(1e9 * math.log(10), rel=0.02)
    assert exp["liquidation_es90_usd"] == pytest.approx(1e9 * (math.log(10) + 1), rel=0.02)
    assert uni["drawdown_pct_q05"] == pytest.approx(10 - 1.6449 * 2, abs=0.05)
    assert st["paths"].tolist() == [n, n]


def test_critical_shock_where_the_ratio_crosses_one_and_the_drawdown_jumps():
    s = [1e8, 2e8, 5e8, 1e9, 2e9]
    # ratio reaches 1 at 5e8 but the drawdown only jumps at 1e9
    r = critical_shock(s, [0.2, 0.6, 1.1, 1.8, 2.5], [1.0, 1.5, 2.5, 12.0, 14.0])
    assert r["status"] == "found" and r["critical_shock_usd"] == 1e9 and r["drawdown_jump_pct"] == pytest.approx(9.5)
    assert r["largest_jump_at_usd"] == 1e9
    # median ratio crosses 1 between 2e8 and 5e8, log-linearly interpolated
    lo, hi = math.log(2e8), math.log(5e8)
    assert r["branching_crossing_usd"] == pytest.approx(math.exp(lo + (1 - 0.6) / (1.1 - 0.6) * (hi - lo)))
    # ratio and jump together
    assert critical_shock(s, [0.2, 0.6, 1.1, 1.8, 2.5], [1.0, 1.5, 9.0, 10.0, 11.0])["critical_shock_usd"] == 5e8
    # never above one: not reached; above one from the start: below the grid
    assert critical_shock(s, [0.1] * 5, [1, 2, 3, 4, 5])["status"] == "not_reached"
    below = critical_shock(s, [1.5] * 5, [1, 2, 30, 40, 50])
    assert below["status"] == "below_grid" and below["critical_shock_usd"] == 1e8
    assert below["largest_jump_at_usd"] == 5e8 and below["largest_jump_pct"] == pytest.approx(28)
    # NaN ratios (no waves) count as 0
    assert critical_shock([1, 2], [float("nan"), float("nan")], [0, 0])["status"] == "not_reached"


def test_aggregation_does_not_depend_on_row_order():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "path": np.arange(200),
            "shock_usd": np.repeat([1e8, 1e9], 100),
            "liquidated_usd": rng.exponential(1e9, 200),
            "drawdown_pct": rng.uniform(0, 50, 200),
            "branching_ratio_max": rng.uniform(0, 2, 200),
        }
    )
    a = aggregate(frame, ["shock_usd"])
    b = aggregate(frame.sample(frac=1.0, random_state=2).sort_values("path"), ["shock_usd"])
    for k in a:
        pd.testing.assert_frame_equal(a[k].reset_index(drop=True), b[k].reset_index(drop=True), check_exact=True)


# ---------------------------------------------------------------------------------- memory
_MEMORY_PROBE = """
import gc, json, sys, tracemalloc
from pathlib import Path
from liqcascade.sweep import sweep

out = Path(sys.argv[1])
spec = dict(scenario="feb-2026", shocks=dict(usd=[1e8, 1e9]), paths=100, n_steps=3, step_seconds=60.0,
            positions=3000, noise=dict(flow_usd=1e6))
sweep(dict(spec, paths=2), out_dir=out / "warm", report=False, register=False)  # caches, imports
at, snaps = {}, {}

def probe(done, total):
    if done in (50, 200):
        gc.collect()  # what the sweep holds, not garbage a collection has not reached yet
        at[done] = tracemalloc.get_traced_memory()[0]
        snaps[done] = tracemalloc.take_snapshot()

tracemalloc.start()
sweep(spec, out_dir=out / "main", chunk_size=1, progress=probe, report=False, register=False)
tracemalloc.stop()
grew = [str(d) for d in snaps[200].compare_to(snaps[50], "lineno")[:5]] if len(snaps) == 2 else []
print(json.dumps({"at": at, "grew": grew}))
"""


def test_memory_does_not_grow_with_the_number_of_paths(tmp_path):
    """Results stream to part files: Python memory after 200 paths is what it was after 50.
    Measured in a fresh interpreter, as a user's sweep runs (in the suite's process, the state
    other tests leave behind is measured too)."""
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    at = {int(k): v for k, v in res["at"].items()}
    assert set(at) == {50, 200}
    assert at[200] - at[50] < 256 * 1024, (at, res["grew"])  # 150 more paths, well under 2 kB each


# ---------------------------------------------------------------------------------- bad specs
@pytest.mark.parametrize(
    "bad, field",
    [
        (dict(SMALL, paths=0), "paths"),
        (dict(SMALL, paths=-3), "paths"),
        (dict(SMALL, shocks=dict(usd=[])), "shocks.usd"),
        (dict(SMALL, parameters={"market_maker.min_multiplier": []}), "parameters"),
        (dict(SMALL, parameters={"market_maker.nope": [1]}), "parameters.market_maker.nope"),
        (dict(SMALL, parameters={"market_maker.min_multiplier": [0.5, 2.0]}), "parameters.market_maker.min_multiplier"),
        (dict(SMALL, shocks=dict(usd=[1e8], asset=["XRP"])), "shocks.asset"),  # not an asset of feb-2026
        (dict(SMALL, shocks=dict(usd=[1e8], venue=["deribit"])), "shocks.venue"),
        (dict(SMALL, levels=[1.0]), "levels"),
        (dict(SMALL, surprise=1), "surprise"),
    ],
)
def test_bad_specs_are_refused_in_one_line_naming_the_field(bad, field, tmp_path):
    with pytest.raises(InputError) as e:
        sweep(bad, out_dir=tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and f"field '{field}'" in msg
    assert not (tmp_path / "sweeps").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--shocks", ""], "empty"),
        (["--paths", "0"], "paths"),
        (["--paths", "-2"], "paths"),
        (["--param", "market_maker.min_multiplier="], "empty"),
        (["--scheduler", "tcp://127.0.0.1:{port}"], "cannot reach the Dask scheduler"),
        (["--scheduler", "not-an-address"], "scheduler"),
        (["--workers", "0"], "workers"),
    ],
)
def test_cli_refuses_bad_specs_in_one_line_exit_2(args, needle, tmp_path):
    args = [a.replace("{port}", str(_free_port())) for a in args]
    res = runner.invoke(app, ["sweep", "--steps", "5", "--positions", "2000", "--out", str(tmp_path), *args])
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("liqcascade: error:") and needle in err
    assert not (tmp_path / "sweeps").exists()


def test_cli_sweep_draws_the_curve_and_names_the_critical_shock(tmp_path):
    res = runner.invoke(
        app,
        [
            "sweep",
            "feb-2026",
            "--shocks",
            "0,1e8,1e9",
            "--paths",
            "2",
            "--steps",
            "20",
            "--positions",
            "2000",
            "--depth-noise",
            "0.1",
            "--out",
            str(tmp_path),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.stderr
    s = json.loads(res.stdout)
    assert s["paths_total"] == 6 and s["critical_status"] in ("found", "below_grid", "not_reached")
    assert (tmp_path / "sweeps" / s["sweep_id"] / "report.html").is_file()
    assert s["sweep_id"] in list_sweeps(tmp_path)["sweep_id"].tolist()
    text = runner.invoke(
        app,
        [
            "sweep",
            "feb-2026",
            "--shocks",
            "0,1e8,1e9",
            "--paths",
            "2",
            "--steps",
            "20",
            "--positions",
            "2000",
            "--depth-noise",
            "0.1",
            "--out",
            str(tmp_path),
        ],
    )
    assert text.exit_code == 0 and "critical shock" in text.stdout and "0 computed now" in text.stdout


def test_spec_files_parse(tmp_path):
    p = tmp_path / "spec.json"
    p.write_text(json.dumps(SMALL), "utf-8")
    assert parse_spec(p).paths == 2
    (tmp_path / "bad.json").write_text("{", "utf-8")
    with pytest.raises(InputError):
        parse_spec(tmp_path / "bad.json")


def test_population_parameters_build_one_population_per_setting(tmp_path):
    from liqcascade.scenario import load_parameters

    mix = load_parameters().population.model_dump(mode="json")["leverage_mix"]
    calmer = [dict(c, low=max(1.01, c["low"] / 2), high=max(1.5, c["high"] / 2)) for c in mix]
    spec = dict(
        SMALL,
        paths=1,
        parameters={"population.leverage_mix": [mix, calmer], "liquidation.adl_rule": ["queue", "pro_rata"]},
    )
    pl = plan(spec)
    pops = build_populations(pl)
    assert len(pops) == 2  # not one per cell (3 shocks x 2 mixes x 2 rules = 12 cells)
    lev = [float(np.average(p.leverage, weights=p.size * p.entry)) for p in pops.values()]
    assert lev[1] < lev[0]
    res = sweep(spec, out_dir=tmp_path, report=False)
    assert len(res.paths) == 12 and res.paths["population.leverage_mix"].nunique() == 2
