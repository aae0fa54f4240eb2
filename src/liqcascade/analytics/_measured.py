"""The measured files under ``scenarios/measured/``: one TOML table per value (``value``, ``unit``,
``source``), written by an analytics module's ``write_measured`` and read back by its
``load_measured``; one writer and one reader for all of them."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Mapping

from ..errors import InputError


def row(value: float, unit: str, source: str) -> dict[str, Any]:
    """One measured value: ``value`` in ``unit``, with the ``source`` that measured it."""
    return {"value": float(value), "unit": unit, "source": source}


def with_interval(key: str, value: float, interval: tuple[float, float], unit: str, source: str, how: str):
    """``(key, value, unit, source)`` for a value and for the two ends of its 95 % interval
    (``key_lo``, ``key_hi``; ``how`` names the interval's method in their sources)."""
    return [
        (key, value, unit, source),
        (f"{key}_lo", interval[0], unit, f"{source}; {how}: 2.5 %"),
        (f"{key}_hi", interval[1], unit, f"{source}; {how}: 97.5 %"),
    ]


def shared_data_dir(data_dir: str | Path | None) -> Path:
    """``data_dir``, or the shared data folder (:func:`liqcascade.analytics.baseline.default_data_dir`:
    ``$LIQCASCADE_DATA`` or ``../shared/data`` next to the checkout); an absent default folder is an
    :class:`InputError` (a fresh clone has none)."""
    if data_dir is not None:
        return Path(data_dir)
    from .baseline import default_data_dir

    d = default_data_dir()
    if not d.is_dir():
        raise InputError(f"the shared data folder is absent: {d} (set LIQCASCADE_DATA or pass it)", field="data_dir")
    return d


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
