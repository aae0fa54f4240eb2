"""Paths a request names, confined to the server's output directory.

Every file the dashboard reads or writes lies under ``--out``: run files under ``OUT/runs/<id>/``,
data files under ``OUT/data/``, snapshots under ``OUT/snapshots/``, the monitor's alerts under
``OUT/monitor/``.  A name from a request is one path component of a restricted alphabet; the
resolved path (symlinks followed) must still lie inside the allowed folder.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import InputError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
DATA_DIR = "data"
SNAPSHOTS_DIR = "snapshots"
MONITOR_DIR = "monitor"


def safe_name(name: str, field: str = "name") -> str:
    """``name`` when it is a single plain file name (letters, digits, ``._-``, no leading dot,
    no ``..``), else :class:`InputError`."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise InputError(
            f"{name!r} is not a plain file name (letters, digits, '.', '_', '-'; no '/', no '..')", field=field
        )
    return name


def inside(root: Path, name: str, field: str = "name", *, must_exist: bool = True) -> Path:
    """``root / name`` after :func:`safe_name`, refused unless it resolves inside ``root``."""
    safe_name(name, field)
    root_r = root.resolve()
    p = (root / name).resolve()
    if not p.is_relative_to(root_r) or p == root_r:
        raise InputError(f"{name!r} lies outside {root.name}/", field=field)
    if must_exist and not p.is_file():
        raise InputError(f"no file {name!r} in {root.name}/", field=field)
    return p


def listing(root: Path, suffixes: tuple[str, ...] | None = None) -> list[dict]:
    """Plain files directly in ``root`` (name, bytes, modified epoch ms), newest first."""
    if not root.is_dir():
        return []
    out = []
    root_r = root.resolve()
    for p in root.iterdir():
        if not _NAME.match(p.name) or not p.is_file() or not p.resolve().is_relative_to(root_r):
            continue
        if suffixes and not p.name.lower().endswith(suffixes):
            continue
        st = p.stat()
        out.append({"name": p.name, "bytes": st.st_size, "modified_ms": int(st.st_mtime * 1000)})
    return sorted(out, key=lambda r: (-r["modified_ms"], r["name"]))
