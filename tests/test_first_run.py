"""First contact: `liqcascade --version`, and the first run on a machine, which compiles the
kernels into Numba's disk cache, says so and reports its steps."""

from __future__ import annotations

import importlib.util
from importlib.metadata import version

import pytest
from small_scenarios import small_scenario_file
from typer.testing import CliRunner

from liqcascade import _jit
from liqcascade.cli import app

runner = CliRunner()


def test_version_prints_the_installed_version():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == f"liqcascade {version('liqcascade')}"


needs_numba = pytest.mark.skipif(not _jit.HAVE_NUMBA, reason="the compiled path is disabled or Numba is absent")


@needs_numba
def test_in_disk_cache_tells_a_cold_kernel_from_a_cached_one(tmp_path):
    path = tmp_path / "kernels.py"
    path.write_text("from liqcascade._jit import jit\n\n\n@jit\ndef triple(x):\n    return 3.0 * x\n")
    spec = importlib.util.spec_from_file_location("kernels_probe", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert _jit.in_disk_cache(module.triple) is False  # never compiled: nothing on disk
    assert module.triple(2.0) == 6.0  # compiles and writes the cache beside the file
    assert _jit.in_disk_cache(module.triple) is True
    assert _jit.in_disk_cache(module.triple.py_func) is True  # plain Python: nothing to compile


@needs_numba
def test_compile_watch_counts_only_this_packages_kernels():
    def double(x):
        return 2.0 * x

    def elsewhere(x):
        return x + 1.0

    double.__module__ = "liqcascade.probe"  # as if defined in the package
    ours, theirs = _jit.jit(double, cache=False), _jit.jit(elsewhere, cache=False)
    seen = []
    with _jit.compile_watch(lambda name, n: seen.append((name, n))) as watch:
        ours(1.0), theirs(1.0), ours(2.0)  # the second call of `ours` compiles nothing
    assert [n for _, n in seen] == [1] and watch.count == 1
    assert seen[0][0].startswith("probe.") and seen[0][0].endswith("double")
    ours(3.5)  # outside the block: not counted
    assert watch.count == 1


def test_a_first_run_says_it_compiles_and_reports_its_steps(tmp_path, monkeypatch):
    monkeypatch.setattr(_jit, "engine_in_disk_cache", lambda: False)  # as on a fresh machine
    scenario = small_scenario_file(tmp_path / "feb-2026-2h.toml", assets=(("BTC", 6.0e8),))
    res = runner.invoke(app, ["run", str(scenario), "--out", str(tmp_path / "out"), "--positions", "5000"])
    assert res.exit_code == 0, (res.output, res.exception)
    lines = res.stderr.splitlines()
    assert lines[0] == "compiling the engine (once, about a minute)"
    steps = [line.split()[:3] for line in lines[1:]]
    assert steps == [
        ["1/4", "population", "done"],
        ["2/4", "engine", "done"],
        ["3/4", "store", "done"],
        ["4/4", "report", "done"],
    ]
    assert "report: " in res.stdout


def test_a_run_with_the_engine_cached_prints_nothing_extra(tmp_path, monkeypatch):
    monkeypatch.setattr(_jit, "engine_in_disk_cache", lambda: True)
    scenario = small_scenario_file(tmp_path / "feb-2026-2h.toml", assets=(("BTC", 6.0e8),))
    res = runner.invoke(app, ["run", str(scenario), "--out", str(tmp_path / "out"), "--positions", "5000"])
    assert res.exit_code == 0, (res.output, res.exception)
    assert res.stderr == ""
