"""The summary in issue 4's keys and the run store: frames as Parquet plus summary.json in
OUT/runs/<run_id>/, written atomically (an exception or Ctrl-C at any point leaves no half run and
no catalogue row), catalogued in a real DuckDB file.

Small runs only: 20,000 positions over a 2-hour copy of ``feb-2026`` with a sell programme added
so that something gets liquidated.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys

import duckdb
import numpy as np
import pandas as pd
import pytest
from small_scenarios import small_scenario

from liqcascade import store
from liqcascade.errors import InputError
from liqcascade.scenario import run_scenario
from liqcascade.summary import SUMMARY_KEYS, index_paths, parameters_hash, summarize

N_POSITIONS = 20_000


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    sc = small_scenario(tmp_path_factory.mktemp("scenario") / "feb-2026-2h.toml")
    run, pop = run_scenario(sc, n_positions=N_POSITIONS, seed=0)
    return sc, run, pop, summarize(run, pop, sc, seed=0)


# ---------------------------------------------------------------------------------- summary
def test_summary_has_the_issue_keys_and_is_strict_json(small):
    sc, run, pop, s = small
    for key in SUMMARY_KEYS + (
        "scenario",
        "seed",
        "positions",
        "parameters_hash",
        "overridden_parameters",
        "low_usd",
        "largest_liquidation_venue",
        "accounts_liquidated_full_scale",
    ):
        assert key in s, key
    json.dumps(store._clean(s), allow_nan=False)
    assert s["scenario"] == "feb-2026" and s["seed"] == 0 and s["positions"] == len(pop)
    assert s["parameters_hash"] == parameters_hash(sc) and s["overridden_parameters"] == []
    assert set(s["drawdown_pct"]) == set(s["low_usd"]) == set(sc.spec.assets) == {"BTC", "ETH", "SOL", "DOGE"}


def test_summary_figures_agree_with_the_frames(small):
    sc, run, pop, s = small
    ev = run.events
    assert s["liquidations_usd"] == pytest.approx(ev["usd"].sum())
    assert s["liquidations_usd"] == pytest.approx(sum(s["by_venue_usd"].values()))
    assert s["liquidations_usd"] == pytest.approx(sum(s["by_asset_usd"].values()))
    assert 0 <= s["liquidations_usd_reported"] <= s["liquidations_usd"] * (1 + 1e-12)
    assert s["accounts_liquidated"] == ev["account"].nunique()
    assert s["accounts_liquidated_full_scale"] == pytest.approx(s["accounts_liquidated"] * s["population_scale"])
    assert s["population_scale"] > 1  # a reduced population
    if len(ev):
        assert 0 <= s["long_share"] <= 1
        assert s["largest_liquidation_usd"] >= ev["usd"].max() * (1 - 1e-12)
        assert s["largest_liquidation_venue"] in s["by_venue_usd"]
    assert s["adl_usd"] == pytest.approx(ev.loc[ev["method"] == "adl", "usd"].sum())
    assert s["bad_debt_usd"] >= 0
    assert s["ledger_imbalance_usd"] == run.ledger["imbalance"]


def test_low_and_drawdown_come_from_the_same_index(small):
    """The low is the minimum of the index the engine's drawdown uses, so the fall from the start
    price to the low can never exceed the drawdown from the running peak."""
    sc, run, pop, s = small
    idx = index_paths(run, sc)
    for a, start in s["start_price_usd"].items():
        assert idx[a].iloc[0] == start
        low = s["low_usd"][a]
        assert low <= start
        assert 100 * (1 - low / start) <= s["drawdown_pct"][a] + 1e-6


def test_summary_without_liquidations(tmp_path):
    sc = small_scenario(tmp_path / "calm.toml", sell=False)
    run, pop = run_scenario(sc, n_positions=N_POSITIONS, seed=0)
    s = summarize(run, pop, sc, seed=0)
    if len(run.events) == 0:
        assert s["liquidations_usd"] == 0 and s["long_share"] is None and s["largest_liquidation_venue"] is None
    json.dumps(store._clean(s), allow_nan=False)


# ---------------------------------------------------------------------------------- store
def test_save_run_writes_frames_and_catalogues_them(small, tmp_path):
    sc, run, pop, s = small
    out = tmp_path / "out"
    path = store.save_run(out, run, s, scenario=sc)
    assert path.parent == out / "runs" and path.is_dir()
    for name in (
        "steps.parquet",
        "events.parquet",
        "waves.parquet",
        "summary.json",
        "ledger.json",
        "parameters.json",
        "scenario.toml",
    ):
        assert (path / name).is_file(), name
    stored = store.read_run(out, path.name)
    pd.testing.assert_frame_equal(stored["events"], run.events, check_categorical=False)
    assert np.array_equal(stored["steps"]["mark"].to_numpy(), run.steps["mark"].to_numpy())
    assert stored["summary"]["run_id"] == path.name
    assert stored["summary"]["liquidations_usd"] == s["liquidations_usd"]
    # the catalogue is a real DuckDB file, readable without liqcascade
    con = duckdb.connect(str(out / "runs.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "SELECT run_id, scenario, seed, parameters_hash, positions, code_version, "
            "liquidations_usd, accounts_liquidated, created_utc, path, "
            "json_extract(summary, '$.liquidations_usd_reported')::DOUBLE "
            "FROM runs"
        ).fetchall()
    finally:
        con.close()
    assert len(rows) == 1
    rid, scen, seed, phash, npos, version, liq, acc, created, rel, rep = rows[0]
    assert (rid, scen, seed, phash, npos) == (path.name, "feb-2026", 0, s["parameters_hash"], s["positions"])
    assert version.startswith(store.code_version().split("+")[0])
    assert liq == pytest.approx(s["liquidations_usd"]) and acc == s["accounts_liquidated"]
    assert rep == pytest.approx(s["liquidations_usd_reported"])
    assert rel == f"runs/{path.name}"
    assert created is not None


def test_list_runs_lists_every_run_oldest_first(small, tmp_path):
    sc, run, pop, s = small
    out = tmp_path / "out"
    assert store.list_runs(out).empty
    a = store.save_run(out, run, s, scenario=sc)
    b = store.save_run(out, run, dict(s, seed=7), scenario=sc)
    frame = store.list_runs(out)
    assert list(frame["run_id"]) == [a.name, b.name]
    assert list(frame["seed"]) == [0, 7]
    assert set(store.COLUMNS) <= set(frame.columns)
    assert json.loads(frame["summary"].iloc[1])["seed"] == 7


def _only_complete_runs(out):
    runs = out / "runs"
    names = sorted(p.name for p in runs.iterdir()) if runs.exists() else []
    return names, store.list_runs(out)


@pytest.mark.parametrize("exc", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_an_interrupted_write_leaves_no_half_run(small, tmp_path, exc):
    sc, run, pop, s = small
    out = tmp_path / "out"
    kept = store.save_run(out, run, s, scenario=sc)

    def crash(directory, summary):
        # the frames and the summary are already in the staging directory: crash before commit
        assert (directory / "steps.parquet").is_file() and (directory / "summary.json").is_file()
        assert directory.name.startswith(".") and directory.parent == out / "runs"
        raise exc

    with pytest.raises(type(exc)):
        store.save_run(out, run, s, scenario=sc, extra=crash)
    names, frame = _only_complete_runs(out)
    assert names == [kept.name]
    assert list(frame["run_id"]) == [kept.name]


def test_a_crash_in_the_middle_of_the_frames_leaves_nothing(small, tmp_path, monkeypatch):
    sc, run, pop, s = small
    out = tmp_path / "out"

    def half_parquet(directory):
        run.steps.to_parquet(directory / "steps.parquet", index=False)
        raise OSError("no space left on device")

    monkeypatch.setattr(run, "to_parquet", half_parquet)
    with pytest.raises(OSError):
        store.save_run(out, run, s, scenario=sc)
    names, frame = _only_complete_runs(out)
    assert names == [] and frame.empty


def test_a_failed_catalogue_insert_takes_the_run_back_out(small, tmp_path, monkeypatch):
    sc, run, pop, s = small
    out = tmp_path / "out"

    def broken(*args, **kwargs):
        raise duckdb.IOException("catalogue unavailable")

    monkeypatch.setattr(store, "register", broken)
    with pytest.raises(duckdb.IOException):
        store.save_run(out, run, s, scenario=sc)
    names, frame = _only_complete_runs(out)
    assert names == [] and frame.empty


def test_a_stage_without_summary_is_not_committed(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="no summary.json"):
        with store.staged_run(out, {"scenario": "x", "seed": 0}) as stage:
            (stage.path / "steps.parquet").write_bytes(b"")
    assert _only_complete_runs(out)[0] == []


def test_staging_left_by_a_killed_process_is_cleaned(small, tmp_path):
    sc, run, pop, s = small
    out = tmp_path / "out"
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    stale = out / "runs" / f".20260101T000000Z-x-s0-abcdef.tmp-{p.pid}"
    stale.mkdir(parents=True)
    (stale / "steps.parquet").write_bytes(b"half")
    mine = out / "runs" / f".20260101T000000Z-y-s0-abcdef.tmp-{os.getpid()}"  # a live process's: kept
    mine.mkdir()
    store.save_run(out, run, s, scenario=sc)
    assert not stale.exists() and mine.exists()


def test_out_must_be_a_directory(small, tmp_path):
    sc, run, pop, s = small
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        store.save_run(f, run, s, scenario=sc)


def test_run_ids_sort_by_time_and_are_unique():
    ids = {store.new_run_id("feb-2026", 0) for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"\d{8}T\d{6}Z-feb-2026-s0-[0-9a-f]{6}", i) for i in ids)
    assert store.new_run_id("my scenario/../x", 3).split("-s3-")[0].endswith("my-scenario-x")


def test_clean_makes_strict_json():
    assert store._clean({"a": math.nan, "b": [np.float64(1.5), math.inf], "c": np.int64(3)}) == {
        "a": None,
        "b": [1.5, None],
        "c": 3,
    }
