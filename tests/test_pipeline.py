"""The replay pipeline as one library call (``liqcascade.replay``), the one atomic writer, and the
CLI's file handling reachable from the library (``liqcascade.market_files``).

Small runs only: 3,000 positions over a 2-hour copy of ``feb-2026``.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from small_scenarios import small_scenario, small_scenario_file

import liqcascade as lc
from liqcascade import _io
from liqcascade.errors import InputError


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    sc = small_scenario(tmp_path_factory.mktemp("scenario") / "feb-2026-2h.toml")
    return sc, lc.replay(sc, positions=3000, seed=1)


def test_replay_runs_the_pipeline_and_writes_nothing(result, tmp_path):
    from liqcascade.scenario import run_scenario
    from liqcascade.summary import summarize

    sc, res = result
    assert isinstance(res, lc.ReplayResult) and res.mode == "free" and res.seed == 1 and res.observed is None
    run, pop = run_scenario(sc, n_positions=3000, seed=1)
    expected = dict(summarize(run, pop, sc, seed=1), mode="free")
    assert res.summary.keys() == expected.keys()
    for key, value in expected.items():
        assert res.summary[key] == value or (value != value and res.summary[key] != res.summary[key]), key
    assert not list(tmp_path.iterdir())


def test_liquidation_prices_come_from_the_rule_books_once(result):
    from liqcascade.pipeline import population_liquidation_prices

    sc, res = result
    lp = res.liquidation_prices
    assert lp is res.liquidation_prices  # computed once
    np.testing.assert_array_equal(lp, population_liquidation_prices(res.population))
    maps = res.liquidation_maps()
    assert set(maps) <= set(sc.spec.assets) and all("error" not in m for m in maps.values())


def test_replay_refuses_bad_input_before_running(tmp_path):
    with pytest.raises(InputError, match="positive whole number of positions"):
        lc.replay("feb-2026", positions=0)
    with pytest.raises(InputError, match="non-negative integer"):
        lc.replay("feb-2026", seed=-1)
    with pytest.raises(InputError, match="no such file"):
        lc.replay("feb-2026", parameters=tmp_path / "missing.toml")
    with pytest.raises(InputError, match="no market series"):
        lc.replay(small_scenario_file(tmp_path / "s.toml"), mode="observed")


def test_replay_and_sweep_stay_callable_whatever_was_imported_first():
    import liqcascade.replay
    import liqcascade.sweep
    from liqcascade.replay import bridge  # noqa: F401 - the module's names stay importable

    assert callable(lc.replay) and callable(lc.sweep) and callable(liqcascade.replay)
    with pytest.raises(InputError, match="positive whole number"):
        lc.replay("feb-2026", positions=-5)
    with pytest.raises(InputError, match="paths per grid cell"):
        lc.sweep({"paths": 0})


def test_atomic_path_leaves_nothing_behind_on_error(tmp_path):
    target = tmp_path / "map.parquet"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with _io.atomic_path(target, keep_suffix=True) as tmp:
            assert tmp.parent == tmp_path and tmp.suffix == ".parquet" and tmp.name.startswith(".map.")
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["map.parquet"]
    with _io.atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["map.parquet"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    with pytest.raises(InputError, match="does not exist"):
        _io.write_atomic(tmp_path / "no" / "x.json", "{}")


def test_staged_dir_is_renamed_whole_or_removed(tmp_path):
    final = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        with _io.staged_dir(final) as d:
            (d / "a.txt").write_text("a")
            raise KeyboardInterrupt
    assert not list(tmp_path.iterdir())
    with _io.staged_dir(final) as d:
        (d / "a.txt").write_text("a")
    assert (final / "a.txt").read_text() == "a" and [p.name for p in tmp_path.iterdir()] == ["run"]
    with pytest.raises(InputError, match="already exists"):
        with _io.staged_dir(final):
            pass


def test_open_interest_on_bars_warns_about_bars_outside_the_file():
    from liqcascade.market_files import open_interest_on_bars

    with pytest.warns(UserWarning, match="2 of 4 bars lie outside"):
        oi = open_interest_on_bars(np.array([0, 10, 20, 30]), np.array([10, 20]), np.array([1.0, 3.0]))
    np.testing.assert_array_equal(oi, [1.0, 1.0, 3.0, 3.0])
