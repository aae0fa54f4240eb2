"""Numba's on-disk cache of the package's kernels follows every source file of the package: a
kernel that inlines a rule from another module is recompiled when only that module changes."""

from __future__ import annotations

import os

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


def test_package_kernels_use_the_package_stamp():
    from numba.core import caching

    from liqcascade.engine import core, run

    assert _jit._install_cache_locators()  # idempotent: installed once at import
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl")
    assert sum(getattr(c, "_liqcascade", False) for c in impl._locator_classes) == 3
    for kernel in (run._pack, core.run_kernel):
        locator = caching.FunctionCache(kernel.py_func)._impl._locator
        assert getattr(type(locator), "_liqcascade", False)
        own, package = locator.get_source_stamp()
        assert package == _jit._package_stamp()
    # a function outside the package keeps Numba's own locator

    def outside(x):
        return x

    locator = caching.FunctionCache(outside)._impl._locator
    assert not getattr(type(locator), "_liqcascade", False)
