"""The habits `make test` checks: ruff's lint rules and its format over the tree, and mypy on
the public API's modules (the rules and file lists are in pyproject.toml)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(module: str) -> list[str]:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (it comes with the dev extras: pip install -e '.[dev]')")
    return [sys.executable, "-m", module]


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_lint():
    r = _run([*_tool("ruff"), "check", "--no-cache", "."])
    assert r.returncode == 0, f"ruff check found problems (try `ruff check --fix FILE`):\n{r.stdout}{r.stderr}"


def test_ruff_format_of_the_tree():
    r = _run([*_tool("ruff"), "format", "--no-cache", "--check", "."])
    assert r.returncode == 0, f"run `ruff format` on these files:\n{r.stdout}{r.stderr}"


def test_mypy_on_the_public_api():
    r = _run([*_tool("mypy")])  # the files and options: [tool.mypy] in pyproject.toml
    assert r.returncode == 0, f"mypy:\n{r.stdout}{r.stderr}"
