"""The habits `make test` checks: ruff's lint rules over the tree, ruff's format on the files that
follow it, and mypy on the public API's modules (the rules and file lists are in pyproject.toml)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Files held to `ruff format`: new files, and files that already followed it (6 Dec 2026) and that
# no work in progress that day was changing.  Add a file here once it is formatted.
FORMATTED = [
    "benchmarks/bench_readers.py",
    "benchmarks/run.py",
    "src/liqcascade/__init__.py",
    "src/liqcascade/_callable.py",
    "src/liqcascade/_io.py",
    "src/liqcascade/_jit.py",
    "src/liqcascade/_templates.py",
    "src/liqcascade/calibrate.py",
    "src/liqcascade/cli.py",
    "src/liqcascade/market_files.py",
    "src/liqcascade/pipeline.py",
    "src/liqcascade/replay.py",
    "src/liqcascade/report.py",
    "src/liqcascade/store.py",
    "src/liqcascade/sweep/__init__.py",
    "src/liqcascade/sweep/backends.py",
    "src/liqcascade/sweep/catalogue.py",
    "src/liqcascade/sweep/paths.py",
    "src/liqcascade/sweep/plan.py",
    "src/liqcascade/sweep/report.py",
    "src/liqcascade/sweep/risk.py",
    "src/liqcascade/sweep/runner.py",
    "src/liqcascade/sweep/spec.py",
    "src/liqcascade/errors.py",
    "src/liqcascade/data/_liquidations.py",
    "src/liqcascade/data/ohlcv.py",
    "src/liqcascade/scenarios/__init__.py",
    "src/liqcascade/engine/core.py",
    "src/liqcascade/engine/run.py",
    "src/liqcascade/engine/__init__.py",
    "src/liqcascade/engine/flows.py",
    "src/liqcascade/engine/ledger.py",
    "src/liqcascade/engine/liquidity.py",
    "src/liqcascade/engine/positions.py",
    "tests/analytics/test_correlation_and_derivatives.py",
    "tests/analytics/test_fear_greed.py",
    "tests/analytics/test_liquidity_measure.py",
    "src/liqcascade/analytics/liquidity.py",
    "tests/engine/test_reference_observed.py",
    "tests/engine/fingerprints.py",
    "tests/engine/test_fast_paths.py",
    "tests/engine/test_bit_identical.py",
    "tests/engine/test_rules_mirror.py",
    "tests/engine/test_setup_threads.py",
    "tests/engine/test_shape.py",
    "tests/engine/test_routing.py",
    "tests/test_docs.py",
    "tests/test_first_run.py",
    "tests/test_jit_cache.py",
    "tests/test_pipeline.py",
    "tests/test_lint.py",
    "docs/hooks/parameters.py",
    "src/liqcascade/engine/prices.py",
    "src/liqcascade/venues/__init__.py",
    "src/liqcascade/venues/base.py",
    "src/liqcascade/venues/binance.py",
    "src/liqcascade/venues/bybit.py",
    "src/liqcascade/venues/hyperliquid.py",
    "src/liqcascade/venues/live.py",
    "src/liqcascade/venues/okx.py",
    "src/liqcascade/venues/registry.py",
    "tests/fictional_venue.py",
    "tests/test_fictional_venue.py",
]


def _tool(module: str) -> list[str]:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (it comes with the dev extras: pip install -e '.[dev]')")
    return [sys.executable, "-m", module]


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_lint():
    r = _run([*_tool("ruff"), "check", "--no-cache", "."])
    assert r.returncode == 0, f"ruff check found problems (try `ruff check --fix FILE`):\n{r.stdout}{r.stderr}"


def test_ruff_format_of_the_listed_files():
    files = [f for f in FORMATTED if (ROOT / f).exists()]
    r = _run([*_tool("ruff"), "format", "--no-cache", "--check", *files])
    assert r.returncode == 0, f"run `ruff format` on these files:\n{r.stdout}{r.stderr}"


def test_mypy_on_the_public_api():
    r = _run([*_tool("mypy")])  # the files and options: [tool.mypy] in pyproject.toml
    assert r.returncode == 0, f"mypy:\n{r.stdout}{r.stderr}"
