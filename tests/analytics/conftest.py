"""Shared fixtures: the real data folder (../shared/data next to the repository), skipped when absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA = REPO_ROOT.parent / "shared" / "data"


def _data_file(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} (the shared data folder is absent in a fresh clone)")
    return path


@pytest.fixture
def data_file():
    """``data_file("folder", "file.csv")``: a file under ../shared/data, or skip the test saying
    which one is missing."""
    return _data_file
