"""The measured files under ``scenarios/measured/``: one TOML table per value (``value``, ``unit``,
``source``), written by an analytics module's ``write_measured`` and read back by its
``load_measured``; one writer and one reader for all of them."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Mapping

from ..errors import InputError


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_rows(path: str | Path, header: str, rows: Mapping[str, Mapping[str, Any]]) -> None:
    """Write ``rows`` (name -> {"value", "unit", "source"}) to ``path`` under the comment lines
    of ``header``, one table per value."""
    lines = [f"# {ln}".rstrip() for ln in header.strip().splitlines()] + [""]
    for name, row in rows.items():
        lines += [
            f"[{name}]",
            f"value = {row['value']!r}",
            f"unit = {_toml_str(row['unit'])}",
            f"source = {_toml_str(row['source'])}",
            "",
        ]
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("\n".join(lines), encoding="utf-8")


def read_rows(read: Any, where: Any) -> dict[str, dict[str, Any]]:
    """The values of a measured file as ``{"a.b.c": {"value", "unit", "source"}, ...}``: ``read()``
    gives its text, ``where`` names it in errors.  A missing file or a file that is not TOML is
    an :class:`InputError`."""
    try:
        doc = tomllib.loads(read())
    except FileNotFoundError:
        raise InputError(f"no such file: {where}", field="path") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{where}: not TOML ({e})", field="path") from None
    out: dict[str, dict[str, Any]] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for k, v in node.items():
            name = f"{prefix}.{k}" if prefix else k
            if isinstance(v, dict) and "value" in v:
                out[name] = v
            elif isinstance(v, dict):
                walk(v, name)

    walk(doc, "")
    return out
