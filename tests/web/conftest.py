"""Fixtures of the dashboard tests: a real run store with one small stored run (two hours of the
bundled feb-2026 scenario, 3,000 positions), made once per session."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from small_scenarios import small_scenario_file  # noqa: E402

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture(scope="session")
def store_dir(tmp_path_factory) -> Path:
    from liqcascade.report import run_and_report

    out = tmp_path_factory.mktemp("store")
    sc = small_scenario_file(out.parent / "small.toml")
    run_and_report(str(sc), out_dir=out, seed=1, n_positions=3000, png=True)
    return out


@pytest.fixture()
def store_copy(store_dir, tmp_path) -> Path:
    out = tmp_path / "store"
    shutil.copytree(store_dir, out)
    return out
