"""Ctrl-C on a sweep running on a real Dask LocalCluster, as a terminal sends it: SIGINT to the
whole process group (the CLI, its nannies and its worker processes).

The CLI must print one line and exit 130; no worker or nanny may print a traceback or a warning;
what is on disk is whole parts only (each a readable Parquet file), and the same command run
again resumes from them and finishes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from small_scenarios import small_scenario_file

pytest.importorskip("distributed")

EXE = Path(sys.executable).with_name("liqcascade")
#: paths per shock: enough that the sweep is still computing when the first part lands and the
#: interrupt is sent (with 24 a fast machine finished the last paths first)
PATHS = "96"


def _sweep(sc: Path, out: Path) -> list[str]:
    return [
        str(EXE),
        "sweep",
        str(sc),
        "--workers",
        "2",
        "--shocks",
        "1e8,2e8",
        "--paths",
        PATHS,
        "--positions",
        "5000",
        "--steps",
        "600",
        "--out",
        str(out),
    ]


@pytest.mark.skipif(
    not EXE.exists() or os.name != "posix", reason="needs the installed console script and POSIX signals"
)
def test_ctrl_c_on_a_dask_sweep_is_one_line_and_resumes(tmp_path):
    sc = small_scenario_file(tmp_path / "s.toml", assets=(("BTC", 6.0e8),))
    out = tmp_path / "out"
    proc = subprocess.Popen(
        _sweep(sc, out),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # as from a terminal: a suite started in the background of a non-interactive shell runs
        # with SIGINT ignored, and an ignored signal stays ignored in every child
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 600  # the workers may compile the engine first on a cold cache
        while time.monotonic() < deadline and proc.poll() is None:
            # a whole part, renamed into place: pathlib's "*" also matches the hidden temporary
            # (".part-….parquet") a worker is still writing, which the interrupt then removes
            if any(out.glob("sweeps/*/parts/part-*.parquet")):
                break
            time.sleep(0.2)
        assert proc.poll() is None, f"the sweep ended before it could be interrupted: {proc.stderr.read()}"
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        _, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("liqcascade: error: interrupted") and "resume" in lines[0]

    parts = sorted(out.glob("sweeps/*/parts/*"))
    assert parts, "no finished part on disk"
    for p in parts:
        assert p.name.startswith("part-") and p.suffix == ".parquet", f"a half-written file: {p.name}"
        assert pq.read_table(p).num_rows > 0
    done_before = sum(pq.read_table(p).num_rows for p in parts)

    res = subprocess.run(_sweep(sc, out), capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr
    frames = list(out.glob("sweeps/*/paths.parquet"))
    assert len(frames) == 1
    assert pq.read_table(frames[0]).num_rows == 2 * int(PATHS) >= done_before
    shutil.rmtree(out)
