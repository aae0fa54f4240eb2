"""The two commands: ``liqcascade serve`` and ``liqcascade monitor`` (bad input: one line, exit 2)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import httpx
import pytest

from liqcascade.cli import main

from .conftest import SHARED


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "args, words",
    [
        (["serve", "--port", "0"], "port"),
        (["serve", "--max-jobs", "0"], "max_jobs"),
        (["monitor", "--exchange", "binance", "--replay-bars", "x.csv"], "not both"),
        (["monitor"], "--replay-bars"),
        (["monitor", "--exchange", "kraken"], "unknown exchange"),
        (["monitor", "--exchange", "binance", "--oi-level-usd", "1e10"], "replay only"),
        (
            ["monitor", "--replay-bars", "x.csv", "--replay-open-interest", "y.csv", "--oi-level-usd", "0"],
            "oi_level_usd",
        ),
        (
            ["monitor", "--replay-bars", "x.csv", "--replay-open-interest", "y.csv", "--oi-level-usd", "-1"],
            "oi_level_usd",
        ),
        (
            ["monitor", "--replay-bars", "x.csv", "--replay-open-interest", "y.csv", "--oi-level-usd", "2e12"],
            "oi_level_usd",
        ),
        (
            ["monitor", "--replay-bars", "x.csv", "--replay-open-interest", "y.csv", "--oi-level-usd", "nan"],
            "oi-level-usd",
        ),
        (
            ["monitor", "--replay-bars", "x.csv", "--replay-open-interest", "y.csv", "--oi-level-usd", "inf"],
            "oi-level-usd",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, words, capsys, tmp_path):
    assert main(args + ["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("liqcascade: error:") and words in err[0], err


def test_serve_binds_loopback_by_default_and_warns_otherwise(tmp_path):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "liqcascade.cli", "serve", "--out", str(tmp_path / "s"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(300):
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).json()["runs"] == 0
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        listening = subprocess.run(["cat", "/proc/net/tcp"], capture_output=True, text=True).stdout
        local = [ln.split()[1] for ln in listening.splitlines()[1:] if ln.split()[3] == "0A"]
        assert f"0100007F:{port:04X}" in local  # 127.0.0.1:port, LISTEN
        assert f"00000000:{port:04X}" not in local
    finally:
        proc.terminate()
        proc.wait(10)
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "liqcascade.cli",
            "serve",
            "--out",
            str(tmp_path / "s"),
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(300):
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
    finally:
        proc.terminate()
        err = proc.communicate(timeout=10)[1].decode()
    assert "no authentication" in err


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is absent (a fresh clone)")
def test_monitor_replay_command(tmp_path, capsys):
    rc = main(
        [
            "monitor",
            "--replay-bars",
            str(SHARED / "binance_2026_harthor" / "binance_usdm_BTCUSDT_5m_2026-01-01_2026-02-19.csv"),
            "--replay-open-interest",
            str(SHARED / "binance_oi_2026_hlreaper" / "binance_usdm_BTCUSDT_oi_5m_2026-01-01_2026-02-28.csv"),
            "--replay-depth",
            str(SHARED / "binance_bookdepth_2026-01-31" / "BTCUSDT-bookDepth-2026-01-31.zip"),
            "--start",
            "2026-01-31T14:00:00Z",
            "--end",
            "2026-01-31T15:00:00Z",
            "--out",
            str(tmp_path),
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    alerts = [json.loads(ln) for ln in (tmp_path / "monitor" / "alerts.jsonl").read_text().splitlines()]
    assert alerts and alerts[0]["kind"] == "cascade_down" and alerts[0]["state"] == "fired"
    assert alerts[0]["message"] in out and f"{len(alerts)} alert(s)" in out
    state = json.loads((tmp_path / "monitor" / "state.json").read_text())
    assert state["BTC/USDT:USDT"]["datetime"] == "2026-01-31T15:00:00Z"
