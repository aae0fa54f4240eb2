"""`liqcascade run` and `liqcascade runs`: a small replay end to end (the summary's keys in JSON, the
report where it says, the run in the catalogue), and bad input — one line on stderr, exit code 2,
nothing written.

Small runs only: 20,000 positions over a 2-hour copy of ``feb-2026``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from small_scenarios import small_scenario_file
from typer.testing import CliRunner

from liqcascade.cli import app, main
from liqcascade.scenario import bundled_text
from liqcascade.summary import SUMMARY_KEYS

runner = CliRunner()
SMALL = ["--positions", "20000"]


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    scenario = small_scenario_file(d / "feb-2026-2h.toml", assets=(("BTC", 6.0e8),))
    out = d / "out"
    res = runner.invoke(app, ["run", str(scenario), "--out", str(out), "--seed", "3", *SMALL, "--json"])
    return scenario, out, res


def test_run_json_prints_the_summary(replay):
    scenario, out, res = replay
    assert res.exit_code == 0, (res.output, res.exception)
    s = json.loads(res.stdout)
    for key in SUMMARY_KEYS:
        assert key in s, key
    assert s["scenario"] == "feb-2026" and s["seed"] == 3 and s["positions"] > 0
    assert s["targets"]["name"] == "feb-2026" and s["targets"]["total"] == 9
    report = Path(s["report"])
    assert report.is_file() and report.parent == Path(s["run_dir"]) == out / "runs" / s["run_id"]


def test_runs_lists_the_catalogue(replay):
    scenario, out, res = replay
    s = json.loads(res.stdout)
    listed = runner.invoke(app, ["runs", "--out", str(out), "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [r["run_id"] for r in rows] == [s["run_id"]]
    assert rows[0]["seed"] == 3 and rows[0]["liquidations_usd"] == pytest.approx(s["liquidations_usd"])
    table = runner.invoke(app, ["runs", "--out", str(out)])
    assert table.exit_code == 0 and s["run_id"] in table.stdout


def test_run_prints_the_comparison_and_where_the_report_is(tmp_path):
    scenario = small_scenario_file(tmp_path / "calm.toml", sell=False)
    res = runner.invoke(app, ["run", str(scenario), "--out", str(tmp_path / "out"), *SMALL])
    assert res.exit_code == 0, (res.output, res.exception)
    m = re.search(r"^report: (.+report\.html)$", res.stdout, re.M)
    assert m and Path(m.group(1)).is_file()
    assert "simulated vs reported (feb-2026)" in res.stdout
    assert "✗" in res.stdout  # uncalibrated: the calm copy lands outside the bands


def test_runs_on_an_empty_directory(tmp_path):
    res = runner.invoke(app, ["runs", "--out", str(tmp_path)])
    assert res.exit_code == 0 and "no runs" in res.stdout
    assert not (tmp_path / "runs.duckdb").exists()


def _one_line_exit_2(res, *needles):
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    assert "Traceback" not in res.output and res.stdout == ""
    lines = res.stderr.strip("\n").splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("liqcascade: error: ")
    for n in needles:
        assert n in lines[0], (n, lines[0])


def _bad_files(tmp_path):
    base = bundled_text("feb-2026")
    files = {
        "not_toml.toml": "name = \n",
        "unknown_key.toml": base.replace('title = "', 'colour = "red"\ntitle = "', 1),
        "negative_oi.toml": re.sub(r"open_interest_usd = \S+", "open_interest_usd = -9.0e9", base, count=1),
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (tmp_path / name).write_text(text, "utf-8")
    return tmp_path


@pytest.mark.parametrize(
    "args, needles",
    [
        (["no-such-scenario"], ["no scenario named 'no-such-scenario'"]),
        (["FILE:not_toml.toml"], ["not valid TOML"]),
        (["FILE:unknown_key.toml"], ["colour", "unknown key"]),
        (["FILE:negative_oi.toml"], ["markets[0].open_interest_usd"]),
        (["feb-2026", "--positions", "0"], ["positions"]),
        (["feb-2026", "--positions", "-20"], ["positions"]),
        (["feb-2026", "--seed", "-1"], ["seed"]),
        (["feb-2026", "--targets", "no-such-targets"], ["no targets named"]),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, needles):
    d = _bad_files(tmp_path / "files")
    args = [str(d / a[5:]) if a.startswith("FILE:") else a for a in args]
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", *args, "--out", str(out)])
    _one_line_exit_2(res, *needles)
    assert not out.exists()


def test_a_usage_error_through_the_entry_point_is_one_line_too(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "feb-2026", "--positions", "many", "--out", str(out)]) == 2
    cap = capsys.readouterr()
    assert cap.out == "" and len(cap.err.strip().splitlines()) == 1
    assert cap.err.startswith("liqcascade: error: ") and "--positions" in cap.err
    assert not out.exists()


def test_out_that_is_a_file(tmp_path):
    f = tmp_path / "out"
    f.write_text("x")
    res = runner.invoke(app, ["run", "feb-2026", "--out", str(f), *SMALL])
    _one_line_exit_2(res, "out", "not a directory")
    assert f.read_text() == "x"
