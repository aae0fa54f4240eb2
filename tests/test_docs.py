"""The documentation site builds without a warning: `mkdocs build --strict` (mkdocs-material,
mkdocstrings' API pages from the docstrings, the tables read from the shipped files)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_docs_site_builds_strictly(tmp_path):
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            pytest.skip(f"{module} is not installed (the docs tools come with the dev extras: pip install -e '.[dev]')")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    site = tmp_path / "site"
    r = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert r.returncode == 0, f"mkdocs build --strict failed:\n{r.stdout}{r.stderr}"
    for page in ("index.html", "model/index.html", "venues/okx/index.html", "api/engine/index.html"):
        assert (site / page).is_file(), page
    model = (site / "model" / "index.html").read_text("utf-8")
    assert "population.path_vol" in model and "fitted" in model  # the parameter table was generated
