"""The measured files' one writer and reader (``analytics._measured``): a round trip keeps every
value, unit and source (quotes and backslashes too), and a missing or malformed file is one
InputError."""

from __future__ import annotations

import pytest

from liqcascade.analytics._measured import read_rows, write_rows
from liqcascade.errors import InputError


def test_round_trip_keeps_every_row(tmp_path):
    rows = {
        "fit.a.p": {"value": 0.7154613572100073, "unit": "1", "source": 'data: "x.csv" \\ method'},
        "book.jan31.bid_b": {"value": 3913348278.217073, "unit": "USD", "source": "data: y.zip"},
    }
    p = tmp_path / "m.toml"
    write_rows(p, "first line\nsecond line", rows)
    text = p.read_text("utf-8")
    assert text.startswith("# first line\n# second line\n\n[fit.a.p]\n")
    assert read_rows(lambda: p.read_text("utf-8"), p) == rows


def test_a_missing_or_malformed_file_is_one_input_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_rows(lambda: (tmp_path / "none.toml").read_text("utf-8"), tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[a\nvalue = 1\n", "utf-8")
    with pytest.raises(InputError, match="not TOML"):
        read_rows(lambda: bad.read_text("utf-8"), bad)
