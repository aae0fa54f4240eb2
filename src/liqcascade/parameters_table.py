"""The model-parameters file read as a table: every key with its value, unit and source.

``scenarios/model-parameters.toml`` gives each parameter one line with a trailing comment::

    key = value   # unit · source

``source`` is one of (:data:`SOURCE_KINDS`)::

    data: <file> — <method>      measured from a data file, by that method
    ref: <document §section>     a published or reference figure
    fitted: <identifying data>   fitted by ``liqcascade calibrate`` (listed in [provenance] fitted)
    prior: <document §section>   set from a reference's range or statement, not fitted
    assumption — <why>           no source: a modelling choice

:func:`parameter_rows` pairs each leaf of the parsed TOML with its line's comment; :func:`problems`
lists every way a file breaks the rule (a key without unit or source, a source outside the
vocabulary, a [provenance] fitted list that disagrees with the sources, a comment block that reads
as a log).  The values come from :mod:`tomllib`, never from the comment, so the engine reads
exactly what it always read.  Standard library only: the docs build loads this file by path.

Why trailing comments and not a sibling ``[units]``/``[sources]`` table: a reader of the raw file
sees a value, its unit and its source on one line, and replacing a fitted value with a measured
one is an edit of that line (plus striking the key from ``[provenance] fitted``, which
:func:`problems` enforces); a sibling table would repeat every key in a second place to drift.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from typing import Any

#: the source vocabulary, each the start of a source text
SOURCE_KINDS = ("data", "ref", "fitted", "prior", "assumption")
#: separates a key's unit from its source in the trailing comment
SEPARATOR = " · "
#: tables whose keys are records, not parameters (no unit or source required)
RECORD_TABLES = ("provenance",)
#: the longest comment block the header may have, and any other block (more reads as a log)
MAX_HEADER_LINES = 20
MAX_BLOCK_LINES = 4

_TABLE = re.compile(r"^\[\s*([\w.-]+)\s*\]\s*(#.*)?$")
_ARRAY = re.compile(r"^\[\[\s*([\w.-]+)\s*\]\]\s*(#.*)?$")
_KEY = re.compile(r"^([\w-]+)\s*=")


@dataclass(frozen=True)
class ParameterRow:
    """One parameter: ``key`` dotted as the [provenance] table names it (list entries by index:
    ``population.leverage_mix.3.notional_share``), its ``value`` as TOML parses it, its ``unit``,
    its ``source`` text, the source's ``kind`` (one of :data:`SOURCE_KINDS`, "" when the text
    starts with none of them), whether [provenance] lists it as ``fitted``, and its ``line``
    (1-based)."""

    key: str
    value: Any
    unit: str
    source: str
    kind: str
    fitted: bool
    line: int


def split_comment(line: str) -> tuple[str, str]:
    """``(code, comment)`` of one TOML line: the comment is the text after the first ``#`` that
    is not inside a string, without the ``#`` and surrounding spaces ("" when there is none)."""
    quote = ""
    i = 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 2
                continue
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c == "#":
            return line[:i].rstrip(), line[i + 1 :].strip()
        i += 1
    return line.rstrip(), ""


def source_kind(source: str) -> str:
    """The vocabulary word a source text starts with ("" if none): ``data``, ``ref``, ``fitted``
    and ``prior`` take a colon and a non-empty text (``data`` also ``—`` and its method);
    ``assumption`` stands alone or is followed by ``— why``."""
    m = re.match(r"^(data|ref|fitted|prior):\s*(\S.*)$", source)
    if m:
        if m.group(1) == "data" and " — " not in m.group(2):
            return ""
        return m.group(1)
    if source == "assumption" or source.startswith("assumption — "):
        return "assumption"
    return ""


def _lines_by_key(text: str) -> dict[str, tuple[int, str]]:
    """The trailing comment of every key line, by dotted key (tables and arrays of tables
    resolved; an array-of-tables entry is numbered in order of appearance)."""
    out: dict[str, tuple[int, str]] = {}
    prefix = ""
    counts: dict[str, int] = {}
    depth = 0  # open brackets of a multi-line value: its lines are not keys
    for n, raw in enumerate(text.splitlines(), 1):
        code, comment = split_comment(raw)
        stripped = code.strip()
        if depth:
            depth += stripped.count("[") - stripped.count("]")
            continue
        if not stripped:
            continue
        m = _ARRAY.match(stripped)
        if m:
            name = m.group(1)
            counts[name] = counts.get(name, -1) + 1
            prefix = f"{name}.{counts[name]}"
            continue
        m = _TABLE.match(stripped)
        if m:
            prefix = m.group(1)
            continue
        m = _KEY.match(stripped)
        if m:
            key = f"{prefix}.{m.group(1)}" if prefix else m.group(1)
            out[key] = (n, comment)
            value = stripped[m.end() :]
            depth = max(0, value.count("[") - value.count("]"))
    return out


def _leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(_leaves(v, f"{prefix}.{k}" if prefix else k))
        return out
    if isinstance(node, list) and node and all(isinstance(x, dict) for x in node):
        out = {}
        for i, v in enumerate(node):
            out.update(_leaves(v, f"{prefix}.{i}"))
        return out
    return {prefix: node}


def parameter_rows(text: str) -> list[ParameterRow]:
    """Every parameter of a model-parameters file (``text``), in the order TOML gives them;
    the record tables (:data:`RECORD_TABLES`) are left out.  A key whose line has no comment, or
    a comment without :data:`SEPARATOR`, gets an empty unit or source."""
    data = tomllib.loads(text)
    fitted = set(data.get("provenance", {}).get("fitted", []))
    comments = _lines_by_key(text)
    params = {k: v for k, v in data.items() if k not in RECORD_TABLES}
    rows = []
    for key, value in _leaves(params).items():
        line, comment = comments.get(key, (0, ""))
        unit, sep, source = comment.partition(SEPARATOR)
        if not sep:
            unit, source = comment, ""
        unit, source = unit.strip(), source.strip()
        rows.append(ParameterRow(key, value, unit, source, source_kind(source), key in fitted, line))
    return rows


def comment_blocks(text: str) -> list[tuple[int, int]]:
    """``(first line, number of lines)`` of every run of consecutive whole-line comments."""
    blocks: list[tuple[int, int]] = []
    start = count = 0
    for n, raw in enumerate(text.splitlines(), 1):
        if raw.strip().startswith("#"):
            if not count:
                start = n
            count += 1
        elif count:
            blocks.append((start, count))
            count = 0
    if count:
        blocks.append((start, count))
    return blocks


def problems(text: str) -> list[str]:
    """Every way ``text`` breaks the parameters file's rule, one line each (empty: none)."""
    out = []
    rows = parameter_rows(text)
    for r in rows:
        where = f"{r.key} (line {r.line})" if r.line else f"{r.key} (not on a line of its own)"
        if not r.line:
            out.append(f"{where}: every parameter needs a line `key = value   # unit · source`")
            continue
        if not r.unit:
            out.append(f"{where}: no unit (the comment reads `# unit · source`)")
        if not r.kind:
            out.append(
                f"{where}: source {r.source!r} is not data: <file> — <method>, ref:, fitted:, prior: or assumption"
            )
    keys = {r.key for r in rows}
    listed = tomllib.loads(text).get("provenance", {}).get("fitted", [])
    for k in listed:
        if k not in keys:
            out.append(f"[provenance] fitted names {k}, which is not a parameter of the file")
    for r in rows:
        if r.kind == "fitted" and not r.fitted:
            out.append(f"{r.key}: its source says fitted but [provenance] fitted does not list it")
        if r.fitted and r.kind != "fitted":
            out.append(f"{r.key}: [provenance] fitted lists it but its source says {r.kind or 'nothing'}")
    for i, (start, n) in enumerate(comment_blocks(text)):
        limit = MAX_HEADER_LINES if i == 0 and start == 1 else MAX_BLOCK_LINES
        if n > limit:
            out.append(
                f"lines {start}-{start + n - 1}: a comment block of {n} lines (at most {limit}; "
                "histories belong in the changelog)"
            )
    return out
