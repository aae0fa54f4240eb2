"""Numba's on-disk cache of the package's kernels follows every source file of the package: a
kernel that inlines a rule from another module is recompiled when only that module changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from liqcascade import _jit

numba = pytest.importorskip("numba")
if not _jit.HAVE_NUMBA:  # pragma: no cover - LIQCASCADE_DISABLE_JIT=1
    pytest.skip("the compiled path is disabled (LIQCASCADE_DISABLE_JIT=1)", allow_module_level=True)


def test_stamp_changes_with_any_source_file(tmp_path, monkeypatch):
    (tmp_path / "engine").mkdir()
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "engine" / "core.py").write_text("y = 2\n")
    (tmp_path / "notes.txt").write_text("not a source\n")
    monkeypatch.setattr(_jit, "_ROOT", str(tmp_path))

    def stamp():
        monkeypatch.setattr(_jit, "_STAMP", None)
        return _jit._package_stamp()

    first = stamp()
    assert stamp() == first  # the same sources, the same stamp
    st = os.stat(tmp_path / "engine" / "core.py")
    os.utime(tmp_path / "engine" / "core.py", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    edited = stamp()
    assert edited != first  # a nested module edited alone
    (tmp_path / "engine" / "core.py").write_text("y = 22\n")
    assert stamp() != edited
    os.utime(tmp_path / "notes.txt", ns=(1, 1))
    assert stamp() == stamp()  # other files do not count
    (tmp_path / "b.py").write_text("")
    assert stamp() not in (first, edited)  # a new module


def test_package_kernels_cache_in_the_stamp_directory():
    """Numba's documented NUMBA_CACHE_DIR points at a directory named by the sources' stamp;
    nothing of Numba's caching classes is replaced."""
    from numba.core import caching, config

    from liqcascade.engine import core

    assert _jit.CACHE_DIR is not None and os.path.basename(_jit.CACHE_DIR) == _jit._package_stamp()[:16]
    assert config.CACHE_DIR == _jit.CACHE_DIR == os.environ["NUMBA_CACHE_DIR"]
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl
    assert not any(getattr(c, "_liqcascade", False) for c in impl._locator_classes)
    assert core.run_kernel._cache._cache_path.startswith(_jit.CACHE_DIR + os.sep)


def test_cache_dir_choice(tmp_path, monkeypatch):
    stamp = _jit._package_stamp()[:16]
    env = {"LIQCASCADE_CACHE_DIR": str(tmp_path / "mine")}
    assert _jit.cache_dir_for_sources(env) == str(tmp_path / "mine" / stamp)
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "user")}  # the user's: a stamp directory inside
    assert _jit.cache_dir_for_sources(env) == str(tmp_path / "user" / stamp)
    ours = str(tmp_path / "base" / "0123456789abcdef")  # set by this module for other sources
    env = {"NUMBA_CACHE_DIR": ours, "_LIQCASCADE_NUMBA_CACHE_DIR": ours}
    assert _jit.cache_dir_for_sources(env) == str(tmp_path / "base" / stamp)


def test_old_stamp_directories_are_pruned(tmp_path):
    for i in range(8):
        d = tmp_path / f"{i:016x}"
        d.mkdir()
        os.utime(d, (1000 + i, 1000 + i))
    (tmp_path / "not-a-stamp").mkdir()
    _jit._prune(str(tmp_path), f"{0:016x}")
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == [f"{0:016x}", f"{5:016x}", f"{6:016x}", f"{7:016x}", "not-a-stamp"]


_PROBE = """
import numpy as np
from liqcascade import _jit
from liqcascade.replay import _decayed
_decayed(np.ones(3), 0.5, np.empty(3))
print(_jit.CACHE_DIR, _decayed.stats.cache_hits.get(_decayed.signatures[0], 0))
"""


@pytest.mark.slow
def test_fresh_checkout_compiles_once_and_an_edit_anywhere_recompiles(tmp_path):
    """A copy of the package (a fresh checkout): the first run compiles, the second loads the
    cache; an edit of another module than the kernel's compiles again, once."""
    import shutil
    import subprocess
    import sys

    src = Path(_jit._ROOT)
    shutil.copytree(src, tmp_path / "liqcascade", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NUMBA_CACHE_DIR", "_LIQCASCADE_NUMBA_CACHE_DIR", "LIQCASCADE_CACHE_DIR")
    }
    env["PYTHONPATH"] = str(tmp_path)

    def run():
        out = subprocess.run(
            [sys.executable, "-c", _PROBE], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
        )
        assert out.returncode == 0, out.stderr
        where, hits = out.stdout.split()
        assert where.startswith(str(tmp_path / "liqcascade" / "__pycache__" / "numba"))
        return where, int(hits)

    first = run()
    assert first[1] == 0  # compiled
    assert run() == (first[0], 1)  # loaded from the disk cache
    core = tmp_path / "liqcascade" / "engine" / "core.py"
    core.write_text(core.read_text() + "\n# edited\n")
    edited = run()
    assert edited[0] != first[0] and edited[1] == 0  # another module changed: compiled again
    assert run() == (edited[0], 1)
