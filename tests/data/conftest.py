"""Fixtures of the readers' tests: the real market files and malformed copies of them."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path
from typing import Callable

import pytest

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repository; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"real market data folder {SHARED_DATA} is absent (it sits beside the repository, "
            "not in it); the tests on real files are skipped"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


def read_text(path: Path) -> str:
    """Text of a plain, ``.gz`` or single-file ``.zip`` data file."""
    if path.suffix == ".gz":
        return gzip.decompress(path.read_bytes()).decode()
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            return zf.read(zf.namelist()[0]).decode()
    return path.read_text()


@pytest.fixture
def malformed(tmp_path: Path) -> Callable[..., Path]:
    """``malformed(src, edit, name=None)`` writes ``edit(lines)`` of ``src`` to a CSV in tmp_path.

    ``edit`` gets the file's lines (without newlines) and returns the new lines; the copy is plain
    text whatever the original's compression.
    """

    def make(src: Path, edit: Callable[[list[str]], list[str]], name: str | None = None) -> Path:
        lines = read_text(src).splitlines()
        out = tmp_path / (name or src.name.removesuffix(".gz").removesuffix(".zip").removesuffix(".csv") + ".csv")
        out.write_text("\n".join(edit(list(lines))) + "\n")
        return out

    return make
