"""Shared machinery of the readers: opening files, parsing CSV fast, validating rows.

Every problem with a user's file becomes one :class:`~liqcascade.errors.InputError` whose message
names the file, the row and the problem.  Row numbers are line numbers of the (decompressed) file
as an editor shows them: the header is line 1, the first data row line 2.  For JSON sources the row
is the line of a JSON-lines file, or the 1-based position of the record in a JSON array.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import InputError

PathLike = str | os.PathLike[str]


class DataCleaningWarning(UserWarning):
    """Rows were dropped by a documented cleaning rule (the message gives the counts)."""


def show(value: Any) -> str:
    """A value as a user reads it: ``0.0``, ``nan``, ``'abc'`` — not ``np.float64(0.0)``."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "nan"
    return repr(value) if isinstance(value, str) else str(value)


def fail(name: str, problem: str, *, row: int | None = None, field: str | None = None) -> InputError:
    """An :class:`InputError` whose one-line message starts with the file name."""
    return InputError(f"{name}: {problem}", row=row, field=field)


# --------------------------------------------------------------------------------------- files


def read_bytes(path: PathLike) -> tuple[bytes, str]:
    """The decompressed content of ``path`` (plain, ``.gz`` or single-member ``.zip``) and the
    name to use in messages."""
    p = Path(path)
    name = str(path)
    if not p.is_file():
        raise fail(name, "no such file")
    if p.stat().st_size == 0:
        raise fail(name, "file is empty")
    raw = p.read_bytes()
    suffix = p.suffix.lower()
    if suffix == ".zip":
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as zf:
                members = [m for m in zf.infolist() if not m.is_dir()]
                if len(members) != 1:
                    raise fail(name, f"expected one file inside the zip archive, found {len(members)}")
                data = zf.read(members[0])
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise fail(name, f"not a readable zip archive (truncated or corrupt: {exc})") from None
    elif suffix == ".gz":
        try:
            data = gzip.decompress(raw)
        except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
            raise fail(name, f"not a readable gzip file (truncated or corrupt: {exc})") from None
    else:
        data = raw
    if not data.strip():
        raise fail(name, "file is empty")
    return data, name


def first_line(data: bytes) -> str:
    end = data.find(b"\n")
    line = data if end < 0 else data[:end]
    return line.decode("utf-8", errors="replace").strip().lstrip("\ufeff")


def looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def normalise_column_name(name: str) -> str:
    """``'Adj Close'`` → ``'adj_close'``, ``'SMA #1'`` → ``'sma_1'``."""
    out = "".join(ch.lower() if ch.isalnum() else "_" for ch in name.strip().lstrip("\ufeff"))
    while "__" in out:
        out = out.replace("__", "_")
    return out.strip("_")


# ---------------------------------------------------------------------------------------- CSV


def parse_csv(
    data: bytes,
    name: str,
    *,
    header: bool,
    names: Sequence[str] | None = None,
    types: dict[str, pa.DataType] | None = None,
) -> pd.DataFrame:
    """Parse CSV bytes with pyarrow.

    With ``names`` the columns get those names (and a header line, if present, is skipped);
    without, the header gives them.  ``types`` pins column types for the fast path; when a value
    does not convert, the file is parsed again as text so that the caller's checks can name the
    offending row.  A row with the wrong number of fields (a truncated file, a stray delimiter) is
    reported here.
    """
    if names is not None:
        read = pacsv.ReadOptions(column_names=list(names), skip_rows=1 if header else 0)
    else:
        if not header:
            raise ValueError("parse_csv needs names when the file has no header")
        read = pacsv.ReadOptions()
    attempts: list[pacsv.ConvertOptions] = []
    if types:
        attempts.append(pacsv.ConvertOptions(column_types=types, strings_can_be_null=False))
    columns = list(names) if names is not None else _header_fields(data)
    attempts.append(pacsv.ConvertOptions(column_types={c: pa.string() for c in columns}, strings_can_be_null=False))
    for convert in attempts:
        try:
            table = pacsv.read_csv(io.BytesIO(data), read_options=read, convert_options=convert)
        except pa.ArrowInvalid:
            continue
        if table.num_rows == 0:
            raise fail(name, "no data rows (only a header)" if header else "no data rows", row=1)
        return table.to_pandas(split_blocks=True)
    _raise_field_count_error(data, name, expected=len(columns))
    raise fail(name, "cannot be parsed as CSV")  # pragma: no cover - the scan above finds the row


def _header_fields(data: bytes) -> list[str]:
    return next(csv.reader([first_line(data)]))


def _raise_field_count_error(data: bytes, name: str, *, expected: int) -> None:
    text = data.decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text))
    for line_no, fields in enumerate(reader, start=1):
        if not fields:
            continue
        if len(fields) != expected:
            last = line_no == text.rstrip("\n").count("\n") + 1
            hint = " (the file looks truncated)" if last and len(fields) < expected else ""
            raise fail(name, f"expected {expected} fields, found {len(fields)}{hint}", row=line_no)


def require_columns(name: str, columns: Iterable[str], required: Iterable[str]) -> None:
    present = list(columns)
    missing = [c for c in required if c not in present]
    if missing:
        raise fail(
            name,
            f"missing column(s) {', '.join(missing)}; the file has {', '.join(map(str, present))}",
            row=1,
            field=missing[0],
        )


# ------------------------------------------------------------------------------- value checks


def to_float(df: pd.DataFrame, column: str, name: str, line0: int) -> np.ndarray:
    """Column as float64; a value that is not a number is an error naming its row.

    ``line0`` is the file line of the frame's first row.  Empty cells become NaN (the caller's
    checks decide whether NaN is allowed).
    """
    s = df[column]
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    text = s.astype("string").str.strip()
    values = pd.to_numeric(text, errors="coerce")
    bad = values.isna() & text.notna() & (text != "") & (text.str.lower() != "nan")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise fail(name, f"{column} is not a number: {show(text.iloc[i])}", row=line0 + i, field=column)
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def check_positive(values: np.ndarray, column: str, name: str, line0: int, *, allow_zero: bool = False) -> None:
    """NaN, infinity, zero (unless allowed) and negative values are errors naming the first such row."""
    ok = np.isfinite(values) & (values >= 0 if allow_zero else values > 0)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        need = "non-negative" if allow_zero else "positive"
        problem = (
            "is missing or NaN"
            if np.isnan(values[i])
            else f"must be finite, got {show(values[i])}"
            if np.isinf(values[i])
            else f"must be {need}, got {show(values[i])}"
        )
        raise fail(name, f"{column} {problem}", row=line0 + i, field=column)


def check_high_low(high: np.ndarray, low: np.ndarray, name: str, line0: int) -> None:
    bad = high < low
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise fail(name, f"high {show(high[i])} is below low {show(low[i])}", row=line0 + i, field="high")


# ------------------------------------------------------------------------------------- time

# Epoch magnitudes: seconds from 1973 to 5138 lie in [1e8, 1e11); each finer unit is 1000× larger.
_UNITS = ("s", "ms", "us", "ns")
_UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
_EDGES = np.array([1e8, 1e11, 1e14, 1e17, 1e20])


def epoch_to_ms(values: np.ndarray, column: str, name: str, line0: int) -> tuple[np.ndarray, str]:
    """Epoch numbers in s, ms, µs or ns (detected by magnitude) → int64 milliseconds.

    Returns the millisecond array and the detected unit.  A value whose magnitude belongs to a
    different unit than the rest of the column (ms and s mixed) is an error naming its row.
    """
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise fail(
            name,
            f"{column} is missing or NaN" if np.isnan(v[i]) else f"{column} must be finite, got {v[i]}",
            row=line0 + i,
            field=column,
        )
    cls = np.searchsorted(_EDGES, np.abs(v), side="right")  # 1..4 valid
    invalid = (cls < 1) | (cls > 4) | (v < 0)
    if invalid.any():
        i = int(np.flatnonzero(invalid)[0])
        raise fail(
            name, f"{column} {show(values[i])} is not an epoch time in s, ms, µs or ns", row=line0 + i, field=column
        )
    counts = np.bincount(cls, minlength=5)
    major = int(np.argmax(counts))
    if counts[major] != len(cls):
        i = int(np.flatnonzero(cls != major)[0])
        raise fail(
            name,
            f"mixed time units: {column} {show(values[i])} is in {_UNIT_NAMES[_UNITS[cls[i] - 1]]} "
            f"but the column is in {_UNIT_NAMES[_UNITS[major - 1]]}",
            row=line0 + i,
            field=column,
        )
    unit = _UNITS[major - 1]
    factor = {"s": 1e3, "ms": 1.0, "us": 1e-3, "ns": 1e-6}[unit]
    if np.issubdtype(np.asarray(values).dtype, np.integer):
        iv = np.asarray(values, dtype=np.int64)
        ms = {"s": iv * 1000, "ms": iv, "us": iv // 1000, "ns": iv // 1_000_000}[unit]
    else:
        ms = np.floor(v * factor + 1e-6).astype(np.int64)
    return ms, unit


def strings_to_ms(values: pd.Series, column: str, name: str, line0: int) -> np.ndarray:
    """ISO-8601 dates or date-times (``2025-10-10``, ``2025-10-10 21:34:32``, ``…T…Z``) → int64 ms.

    Leading and trailing spaces are ignored; a time without an offset is read as UTC.
    """
    text = values.astype("string").str.strip()
    parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    bad = parsed.isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        shown = text.iloc[i]
        what = (
            "is missing" if pd.isna(shown) or shown == "" else f"{shown!r} is not an ISO-8601 date/time or epoch number"
        )
        raise fail(name, f"{column} {what}", row=line0 + i, field=column)
    return parsed.dt.tz_localize(None).to_numpy().astype("datetime64[ms]").astype(np.int64)


def column_to_ms(df: pd.DataFrame, column: str, name: str, line0: int) -> tuple[np.ndarray, str]:
    """A time column of epoch numbers or ISO strings → (int64 ms, unit or ``'iso'``)."""
    s = df[column]
    if pd.api.types.is_numeric_dtype(s.dtype):
        return epoch_to_ms(s.to_numpy(), column, name, line0)
    text = s.astype("string").str.strip()
    is_number = pd.to_numeric(text, errors="coerce").notna().to_numpy()
    if is_number.all():
        as_float = pd.to_numeric(text).to_numpy(dtype=np.float64)
        values = as_float.astype(np.int64) if np.all(np.mod(as_float, 1) == 0) else as_float
        return epoch_to_ms(values, column, name, line0)
    if is_number.any():
        # epoch numbers and date strings in one column: name the first row unlike the first one
        i = int(np.flatnonzero(is_number != is_number[0])[0])
        kinds = ("date strings", "epoch numbers") if not is_number[0] else ("epoch numbers", "date strings")
        raise fail(
            name,
            f"mixed time formats: {column} {show(text.iloc[i])} among {kinds[0]}",
            row=line0 + i,
            field=column,
        )
    return strings_to_ms(text, column, name, line0), "iso"


def ms_to_datetime(ms: np.ndarray) -> pd.Series:
    """int64 epoch ms → tz-aware UTC datetimes (millisecond resolution)."""
    return pd.Series(np.asarray(ms, dtype=np.int64).astype("datetime64[ms]")).dt.tz_localize("UTC")


def iso_ms(ms: int) -> str:
    return pd.Timestamp(int(ms), unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def check_time_order(
    ms: np.ndarray,
    name: str,
    line0: int,
    *,
    column: str = "timestamp",
    strict: bool = True,
    groups: np.ndarray | None = None,
    group_label: str = "symbol",
) -> None:
    """Timestamps must increase (strictly, unless ``strict=False``) within each group."""
    n = len(ms)
    if n < 2:
        return
    if groups is None:
        order = np.arange(n)
        same = np.ones(n - 1, dtype=bool)
    else:
        codes, _ = pd.factorize(groups)
        order = np.argsort(codes, kind="stable")
        same = codes[order][1:] == codes[order][:-1]
    t = ms[order]
    d = np.diff(t)
    backwards = same & (d < 0)
    dup = same & (d == 0) if strict else np.zeros_like(same)
    bad = backwards | dup
    if not bad.any():
        return
    # report the earliest offending line of the file
    k = np.flatnonzero(bad)
    rows = order[k + 1]
    j = int(np.argmin(rows))
    i, prev = int(rows[j]), int(order[k[j]])
    where = f" for {group_label} {groups[i]}" if groups is not None else ""
    if backwards[k[j]]:
        raise fail(
            name,
            f"{column} {iso_ms(ms[i])} is earlier than {iso_ms(ms[prev])} on row {line0 + prev}{where}: rows are not sorted by time",
            row=line0 + i,
            field=column,
        )
    raise fail(
        name, f"duplicated {column} {iso_ms(ms[i])}{where} (also on row {line0 + prev})", row=line0 + i, field=column
    )


def check_regular_bars(ms: np.ndarray, step_ms: int, name: str, line0: int, *, column: str = "timestamp") -> None:
    """Bar open times (sorted, no duplicates: see :func:`check_time_order`) must follow each other
    exactly ``step_ms`` apart — a longer step is a gap, a shorter one an overlap (a bar opening
    before the previous one closed) — and lie on the ``step_ms`` grid (UTC epoch multiples)."""
    d = np.diff(ms)
    bad = np.flatnonzero(d != step_ms)
    if bad.size:
        i = int(bad[0])
        if d[i] < step_ms:
            problem = f"bar at {iso_ms(ms[i + 1])} overlaps the {_span(step_ms)} bar at {iso_ms(ms[i])}"
        elif d[i] % step_ms == 0:
            problem = (
                f"gap: no bar between {iso_ms(ms[i])} and {iso_ms(ms[i + 1])} "
                f"({(d[i] // step_ms) - 1:,} missing {_span(step_ms)} bars)"
            )
        else:
            problem = (
                f"{column} {iso_ms(ms[i + 1])} is not on the {_span(step_ms)} grid of the bars "
                f"({d[i] / 1000:g} s after the bar at {iso_ms(ms[i])})"
            )
        raise fail(name, problem, row=line0 + i + 1, field=column)
    off = np.flatnonzero(ms % step_ms)
    if off.size:
        i = int(off[0])
        raise fail(
            name,
            f"{column} {iso_ms(ms[i])} is not on the {_span(step_ms)} grid of the bars",
            row=line0 + i,
            field=column,
        )


def _span(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}-{unit}" if unit != "min" else f"{ms // size}-minute"
    return f"{ms}-ms"


# -------------------------------------------------------------------------------------- JSON


def load_json_records(source: Any) -> tuple[list[tuple[int, Any]], str]:
    """Records from a JSON source, each with its row number for messages.

    ``source`` is a path to a ``.json``/``.jsonl`` file (optionally ``.gz``) — a JSON array, one
    JSON document, or one JSON document per line — or already-decoded objects: a dict, or a list
    of dicts or of JSON strings (e.g. websocket messages as received).
    """
    if isinstance(source, (str, os.PathLike)):
        data, name = read_bytes(source)
        text = data.decode("utf-8", errors="replace")
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as whole_error:
            lines = text.splitlines()
            first = next((ln for ln in lines if ln.strip()), "")
            try:
                json.loads(first)
                json_lines = len([ln for ln in lines if ln.strip()]) > 1
            except json.JSONDecodeError:
                json_lines = False  # one (pretty-printed) document: report where it broke
            if not json_lines:
                raise fail(name, f"not valid JSON ({whole_error.msg}; truncated?)", row=whole_error.lineno) from None
            records = []
            for line_no, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    records.append((line_no, json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise fail(name, f"not valid JSON ({exc.msg}; truncated?)", row=line_no) from None
            return records, name
        if isinstance(doc, list):
            return [(i + 1, r) for i, r in enumerate(doc)], name
        return [(1, doc)], name
    name = "<records>"
    if isinstance(source, dict):
        return [(1, source)], name
    if isinstance(source, (list, tuple)):
        out = []
        for i, r in enumerate(source, start=1):
            if isinstance(r, (str, bytes)):
                try:
                    r = json.loads(r)
                except json.JSONDecodeError as exc:
                    raise fail(name, f"not valid JSON ({exc.msg})", row=i) from None
            out.append((i, r))
        return out, name
    raise InputError(f"cannot read records from a {type(source).__name__}; pass a path, a dict or a list")


def number(value: Any, field: str, name: str, row: int, *, positive: bool = True, allow_zero: bool = False) -> float:
    """A venue's decimal string (or number) as float; missing or non-positive is an error."""
    if value is None or value == "":
        raise fail(name, f"{field} is missing", row=row, field=field)
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise fail(name, f"{field} is not a number: {value!r}", row=row, field=field) from None
    if not np.isfinite(x):
        raise fail(name, f"{field} must be a finite number, got {value!r}", row=row, field=field)
    if positive and not (x > 0 or (allow_zero and x == 0)):
        need = "non-negative" if allow_zero else "positive"
        raise fail(name, f"{field} must be {need}, got {value!r}", row=row, field=field)
    return x


def get(record: Any, key: str, field: str, name: str, row: int) -> Any:
    if not isinstance(record, dict):
        raise fail(name, f"expected a JSON object, got {type(record).__name__}", row=row, field=field)
    if key not in record:
        raise fail(name, f"{field} is missing", row=row, field=field)
    return record[key]


def epoch_ms_value(value: Any, field: str, name: str, row: int) -> int:
    """One venue timestamp (epoch ms, as number or string) → int ms; other units are errors."""
    x = number(value, field, name, row)
    if not 1e11 <= x < 1e14:
        raise fail(name, f"{field} {value!r} is not an epoch time in milliseconds", row=row, field=field)
    return int(x)
