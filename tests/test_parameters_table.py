"""The model-parameters file reads as a table: one line per parameter with its unit and its source
(``key = value   # unit · source``), the [provenance] fitted list agrees with the sources, the
values are those the engine has always read, and the file holds no log."""

from __future__ import annotations

import json
import struct
import tomllib
from pathlib import Path

import pytest

from liqcascade.parameters_table import (
    MAX_BLOCK_LINES,
    MAX_HEADER_LINES,
    SOURCE_KINDS,
    comment_blocks,
    parameter_rows,
    problems,
    source_kind,
    split_comment,
)
from liqcascade.scenario import ModelParameters, bundled_text, load_parameters

HERE = Path(__file__).resolve().parent
#: the values of the file before it became a table (commit 378a3da), generated once from it
FROZEN = json.loads((HERE / "data" / "model_parameters_values.json").read_text("utf-8"))
TEXT = bundled_text("model-parameters")
ROWS = parameter_rows(TEXT)


def _leaves(node, prefix=""):
    if isinstance(node, dict):
        return {k2: v2 for k, v in node.items() for k2, v2 in _leaves(v, f"{prefix}.{k}" if prefix else k).items()}
    if isinstance(node, list) and node and all(isinstance(x, dict) for x in node):
        return {k2: v2 for i, v in enumerate(node) for k2, v2 in _leaves(v, f"{prefix}.{i}").items()}
    return {prefix: node}


def _same(a, b) -> bool:
    """Equal and of one type; floats bit for bit."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    return a == b


# ---------------------------------------------------------------------------- the shipped file
def test_every_parameter_has_a_unit_and_a_source_from_the_vocabulary():
    assert problems(TEXT) == []
    assert len(ROWS) >= 50
    for r in ROWS:
        assert r.line > 0, r.key
        assert r.unit, r.key
        assert r.kind in SOURCE_KINDS, (r.key, r.source)


def test_the_fitted_list_is_exactly_the_keys_whose_source_says_fitted():
    listed = tomllib.loads(TEXT)["provenance"]["fitted"]
    assert len(listed) == len(set(listed))
    assert set(listed) == {r.key for r in ROWS if r.kind == "fitted"}
    assert set(listed) == {r.key for r in ROWS if r.fitted}
    # the loader and the report read the same list
    assert load_parameters().provenance.fitted == listed


def test_values_are_the_recorded_ones():
    """A changed value is a deliberate change: regenerate tests/data/model_parameters_values.json with it."""
    loaded = load_parameters().model_dump(mode="json")
    assert loaded == FROZEN["loaded"]
    old, new = _leaves(FROZEN["loaded"]), _leaves(loaded)
    assert set(old) == set(new)
    assert all(_same(old[k], new[k]) for k in old), [k for k in old if not _same(old[k], new[k])]
    # every key the old file stated is stated with the same value (keys it left to their defaults
    # may now be written out: the same value, so the loaded parameters are the same)
    stated_old, stated_new = _leaves(FROZEN["file"]), _leaves(tomllib.loads(TEXT))
    assert set(stated_old) <= set(stated_new)
    assert all(_same(stated_old[k], stated_new[k]) for k in stated_old)
    assert all(_same(new[k], v) for k, v in stated_new.items())


def test_the_table_has_every_value_the_file_states():
    stated = {k: v for k, v in _leaves(tomllib.loads(TEXT)).items() if not k.startswith("provenance.")}
    assert {r.key: r.value for r in ROWS} == stated


def test_the_file_holds_no_log():
    blocks = comment_blocks(TEXT)
    assert blocks[0][0] == 1 and blocks[0][1] <= MAX_HEADER_LINES
    assert all(n <= MAX_BLOCK_LINES for _, n in blocks[1:]), blocks
    # and no history beside a value: one line per parameter, no comment continuing on the next line
    lines = TEXT.splitlines()
    for r in ROWS:
        nxt = lines[r.line] if r.line < len(lines) else ""
        assert not (nxt.startswith((" ", "\t")) and nxt.strip().startswith("#")), r.key


def test_a_fitted_value_becomes_a_measured_one_in_one_line():
    """Replacing a fitted value with a measured one: its line changes and its name leaves the
    [provenance] list; the rule then holds again (and fails, naming the key, halfway)."""
    key = "prices.arbitrage_rate"
    row = next(r for r in ROWS if r.key == key)
    line = TEXT.splitlines()[row.line - 1]
    measured = "arbitrage_rate = 0.2   # 1/s · data: ticks.csv — AR(1) of the perpetual-index gap"
    halfway = TEXT.replace(line, measured)
    assert any(key in p and "lists it" in p for p in problems(halfway))
    done = halfway.replace(f'  "{key}",\n', "")
    assert problems(done) == []
    assert ModelParameters.model_validate(tomllib.loads(done)).prices.arbitrage_rate == 0.2


# ---------------------------------------------------------------------------- the parser
def test_split_comment_ignores_a_hash_inside_a_string():
    assert split_comment('leader = "B#TC"   # asset · assumption') == ('leader = "B#TC"', "asset · assumption")
    assert split_comment("x = 'a#b'") == ("x = 'a#b'", "")
    assert split_comment('x = "a\\"#"  # u · ref: r') == ('x = "a\\"#"', "u · ref: r")
    assert split_comment("x = 1") == ("x = 1", "")


@pytest.mark.parametrize(
    "source, kind",
    [
        ("data: binance.csv — median of the 5-minute bars", "data"),
        ("data: binance.csv", ""),  # a measurement names its method
        ("ref: exchange-mechanics.md §2", "ref"),
        ("fitted: targets", "fitted"),
        ("prior: market-and-cascades.md §Leverage", "prior"),
        ("assumption", "assumption"),
        ("assumption — no source", "assumption"),
        ("assumed", ""),
        ("fitted:", ""),
        ("guess: 3", ""),
        ("", ""),
    ],
)
def test_source_kinds(source, kind):
    assert source_kind(source) == kind


def test_rows_of_tables_arrays_of_tables_and_multi_line_records():
    text = """# header
[a]
x = 1.5   # USD · ref: r.md §1
y = "q"   # rule · assumption — why

[[a.mix]]
lo = 2.0   # x · prior: m.md §L
[[a.mix]]
lo = 3.0   # x · fitted: targets

[a.b]
z = 0.1   # 1/s · data: f.csv — regression

[provenance]
fitted = [
  "a.mix.1.lo",
]
seed = 0
"""
    rows = {r.key: r for r in parameter_rows(text)}
    assert list(rows) == ["a.x", "a.y", "a.mix.0.lo", "a.mix.1.lo", "a.b.z"]
    assert (rows["a.x"].value, rows["a.x"].unit, rows["a.x"].kind, rows["a.x"].line) == (1.5, "USD", "ref", 3)
    assert rows["a.mix.1.lo"].fitted and rows["a.mix.1.lo"].kind == "fitted" and rows["a.mix.1.lo"].line == 9
    assert rows["a.b.z"].source == "data: f.csv — regression"
    assert problems(text) == []


def test_problems_name_each_break_of_the_rule():
    text = """[a]
x = 1.0
y = 2.0   # USD
z = 3.0   # USD · guess
w = [ { p = 1.0 } ]   # x · prior: m.md
v = 4.0   # 1 · fitted: targets
u = 5.0   # 1 · assumption
#
#
#
#
#
[provenance]
fitted = ["a.u", "a.nope"]
"""
    found = "\n".join(problems(text))
    assert "a.x (line 2): no unit" in found
    assert "a.y (line 3): source ''" in found
    assert "a.z (line 4): source 'guess'" in found
    assert "a.w.0.p (not on a line of its own)" in found
    assert "a.v: its source says fitted but [provenance] fitted does not list it" in found
    assert "a.u: [provenance] fitted lists it but its source says assumption" in found
    assert "names a.nope" in found
    assert "lines 8-12: a comment block of 5 lines" in found


def test_the_original_log_file_would_fail_the_rule():
    """The file as it was (a 60-line search log, inline tables, values without units) is what the
    rule exists to reject."""
    import subprocess

    r = subprocess.run(
        ["git", "show", "378a3da:src/liqcascade/scenarios/model-parameters.toml"],
        cwd=HERE.parent,
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip("no git history here (an sdist or a shallow clone)")
    found = problems(r.stdout)
    assert any("a comment block of" in p and "lines 1-" in p for p in found)
    assert any("not on a line of its own" in p for p in found)
