"""Atomic writes: a reader sees the old file (or directory) or the new one, never half of one.

The package's one home for them:

- :func:`write_atomic` writes bytes or text;
- :func:`atomic_path` yields a temporary path for a writer that needs a path of its own
  (Parquet, Plotly, matplotlib), and renames the file into place when the block ends;
- :func:`staged_dir` does the same for a whole directory (a stored run).

All of them write beside the target (same directory, so the final ``os.replace`` is a rename on
one file system), remove what they wrote when the block raises (``KeyboardInterrupt`` included)
and give a missing directory or an OS error as one :class:`InputError` naming the path.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import InputError


def _directory(path: Path) -> Path:
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(f"directory {str(directory)!r} does not exist", field="out")
    return directory


def _cannot_write(path: Path, exc: OSError) -> InputError:
    return InputError(f"{path}: cannot write: {exc.strerror or exc}", field="out")


def _usual_permissions(path: str | os.PathLike) -> None:
    """The permissions a new file gets under the umask (a temporary's 0600 is not kept)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, keep_suffix: bool = False, fsync: bool = True) -> Iterator[Path]:
    """A temporary path beside ``path`` to write the file at; when the block ends normally the
    file is flushed to disk (``fsync``), given the usual permissions and renamed over ``path``
    (``os.replace``); when it raises, the temporary is removed.

    The temporary is hidden (``.<name>.<random>.tmp``; with ``keep_suffix``
    ``.<stem>.<random><suffix>``, for writers that pick the format by the suffix).  A missing
    directory or an OS error is an :class:`InputError` naming ``path`` (field ``out``)."""
    path = Path(path)
    directory = _directory(path)
    prefix, suffix = (f".{path.stem}.", path.suffix) if keep_suffix else (f".{path.name}.", ".tmp")
    try:
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
        os.close(fd)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    tmp = Path(name)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        _usual_permissions(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _cannot_write(path, exc) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` through a temporary file in the same
    directory, flushed to disk, then ``os.replace``.  The file gets the usual permissions (the
    temporary's 0600 is not kept).  A missing directory or an OS error is an
    :class:`InputError` naming the path (field ``out``); nothing is left behind."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path, fsync=False) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
    return path


def remove_temporaries(directory: str | os.PathLike, prefix: str) -> None:
    """Remove the temporaries :func:`atomic_path` left in ``directory`` for files whose names
    start with ``prefix`` (hidden files ``.<prefix>…``) when a process was killed mid-write."""
    for p in Path(directory).glob(f".{prefix}*"):
        if p.is_file():
            with contextlib.suppress(OSError):
                p.unlink()


@contextlib.contextmanager
def staged_dir(final: str | os.PathLike, *, tag: str | int | None = None) -> Iterator[Path]:
    """A hidden sibling directory ``.<name>.tmp-<tag>`` (``tag``: this process's id by default)
    to write a whole directory in; renamed to ``final`` when the block ends normally, removed
    when it raises.  ``final`` must not exist yet (an :class:`InputError` if it does)."""
    final = Path(final)
    if final.exists():
        raise InputError(f"{final} already exists", field="out")
    tmp = final.parent / f".{final.name}.tmp-{os.getpid() if tag is None else tag}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
    except OSError as exc:
        raise _cannot_write(final, exc) from None
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
