"""One `jit` wrapper for the numeric kernels.

Kernels are written once as plain Python over NumPy arrays and compiled with Numba
(``nopython``, cached on disk) when Numba imports; otherwise they run as the same plain Python.
Setting ``LIQCASCADE_DISABLE_JIT=1`` forces the Python path (the tests run both).

**The disk cache follows every source file of the package.**  Numba keys a cached kernel by its
own file's modification time and size, not by the functions it calls or inlines from other
files: a kernel in ``engine/run.py`` that inlines the LP rule of ``engine/core.py`` would load
its old machine code after an edit of ``core.py`` alone.  So the cache lives in a directory named
by a fingerprint of all the package's sources (:func:`package_stamp`), given to Numba through
its documented ``NUMBA_CACHE_DIR`` setting before Numba is imported: any edit moves the cache to
a fresh directory and every kernel is compiled once more; unchanged sources find theirs.
Nothing of Numba's internals is patched.

Where: ``LIQCASCADE_CACHE_DIR`` if set, else a ``NUMBA_CACHE_DIR`` the user set, else
``__pycache__/numba`` inside the package (a per-user cache directory where the package is not
writable), each followed by ``<stamp>``; the fingerprints of the latest few source versions are
kept (:data:`KEEP_STAMPS`), older ones removed.  The setting is process-wide (Numba has one
cache directory per process): other libraries' cached kernels go there too, and worker
processes inherit it.
"""

from __future__ import annotations

import os
from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable)

#: the package's directory, and its sources' fingerprint once computed (:func:`package_stamp`)
_ROOT = os.path.dirname(os.path.abspath(__file__))
_STAMP: str | None = None
#: the fingerprint directories kept beside the current one's (the most recently used)
KEEP_STAMPS = 4
#: the cache directory in use (None: Numba absent or disabled, or nothing writable)
CACHE_DIR: str | None = None


def _package_stamp() -> str:
    """A fingerprint of the package's Python sources (each file's path, modification time and
    size), computed once per process."""
    global _STAMP
    if _STAMP is None:
        import hashlib

        h = hashlib.sha256()
        for dirpath, dirnames, files in os.walk(_ROOT):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")  # not the caches themselves
            for name in sorted(files):
                if name.endswith(".py"):
                    st = os.stat(os.path.join(dirpath, name))
                    h.update(f"{os.path.relpath(dirpath, _ROOT)}/{name}:{st.st_mtime_ns}:{st.st_size};".encode())
        _STAMP = h.hexdigest()
    return _STAMP


package_stamp = _package_stamp


def _writable(directory: str) -> bool:
    try:
        os.makedirs(directory, exist_ok=True)
        return os.access(directory, os.W_OK | os.X_OK)
    except OSError:
        return False


def _prune(base: str, keep: str) -> None:
    """Remove fingerprint directories of ``base`` beyond the :data:`KEEP_STAMPS` most recently
    used (``keep``, the current one, always stays)."""
    import shutil

    try:
        entries = [
            e
            for e in os.scandir(base)
            if e.is_dir() and e.name != keep and len(e.name) == 16 and all(c in "0123456789abcdef" for c in e.name)
        ]
    except OSError:
        return
    entries.sort(key=lambda e: e.stat().st_mtime, reverse=True)
    for e in entries[KEEP_STAMPS - 1 :]:
        shutil.rmtree(e.path, ignore_errors=True)


def cache_dir_for_sources(environ: dict[str, str] | None = None) -> str | None:
    """The cache directory of the current sources, ``<base>/<stamp>`` (the module docstring says
    which base), or None when no base is writable."""
    env = os.environ if environ is None else environ
    numba_dir = env.get("NUMBA_CACHE_DIR", "")
    if numba_dir and numba_dir == env.get("_LIQCASCADE_NUMBA_CACHE_DIR"):
        numba_dir = os.path.dirname(numba_dir)  # set by this module (in a parent process): its base
    bases = [
        env.get("LIQCASCADE_CACHE_DIR", ""),
        numba_dir,
        os.path.join(_ROOT, "__pycache__", "numba"),
        os.path.join(
            env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "liqcascade", "numba"
        ),
    ]
    stamp = _package_stamp()[:16]
    for base in (b for b in bases if b):
        if _writable(os.path.join(base, stamp)):
            return os.path.join(base, stamp)
    return None


def _configure_cache() -> str | None:
    """Point ``NUMBA_CACHE_DIR`` at :func:`cache_dir_for_sources` (before Numba reads it)."""
    directory = cache_dir_for_sources()
    if directory is None:
        return None
    os.environ["NUMBA_CACHE_DIR"] = os.environ["_LIQCASCADE_NUMBA_CACHE_DIR"] = directory
    base, stamp = os.path.split(directory)
    try:
        os.utime(directory)  # the most recently used: kept by the next prune
    except OSError:  # pragma: no cover
        pass
    _prune(base, stamp)
    return directory


try:  # pragma: no cover - depends on the environment
    if os.environ.get("LIQCASCADE_DISABLE_JIT") == "1":
        raise ImportError
    import importlib.util

    if importlib.util.find_spec("numba") is None:
        raise ImportError
    CACHE_DIR = _configure_cache()
    import numba

    if CACHE_DIR is not None and numba.config.CACHE_DIR != CACHE_DIR:
        # Numba was imported before this module: it re-reads its environment settings
        from numba.core import config as _config

        _config.reload_config()
    HAVE_NUMBA = True
    try:
        from numba.core.cpu import CPUTargetOptions as _TO

        _HAS_NRT_OPTION = hasattr(_TO, "_nrt")
        _HAS_FORCEINLINE = hasattr(_TO, "forceinline")
    except Exception:  # pragma: no cover
        _HAS_NRT_OPTION = False
        _HAS_FORCEINLINE = False
except ImportError:  # pragma: no cover
    numba = None
    HAVE_NUMBA = False
    _HAS_NRT_OPTION = False
    _HAS_FORCEINLINE = False


def jit(func: F | None = None, **options) -> F:
    """Compile ``func`` with ``numba.njit(cache=True, nogil=True, error_model="numpy", **options)``
    if available.

    ``error_model="numpy"``: a float division by zero gives inf or nan as in NumPy instead of
    raising, so the compiled code has no zero test and exception path at every division (the
    engine's step loop is ~7 % faster; every result with a non-zero divisor has the same bits).
    A kernel that met a zero divisor would carry inf or nan into its result rather than stop;
    the inputs' checks (positive sizes, prices and depths) come before any kernel runs.

    The plain-Python original stays reachable as ``func.py_func`` either way.
    """

    def wrap(f: F) -> F:
        if not HAVE_NUMBA:
            f.py_func = f  # type: ignore[attr-defined]
            return f
        opts = {"cache": True, "nogil": True, "error_model": "numpy"}
        opts.update(options)
        if "_nrt" in opts and not _HAS_NRT_OPTION:  # a private Numba option: drop it if unknown
            opts.pop("_nrt")
        if "forceinline" in opts and not _HAS_FORCEINLINE:  # a speed hint only: drop it if unknown
            opts.pop("forceinline")
        return numba.njit(**opts)(f)

    return wrap(func) if func is not None else wrap  # type: ignore[return-value]


def in_disk_cache(dispatcher) -> bool | None:
    """Whether Numba's disk cache holds machine code of ``dispatcher`` (a :func:`jit` kernel) that
    this process can load: written for these sources (the package's fingerprint) and this CPU.

    True also when there is nothing to compile (Numba absent or disabled); ``None`` when this
    Numba's cache cannot be read this way.  Reads one small index file; compiles nothing."""
    if not HAVE_NUMBA or not hasattr(dispatcher, "py_func") or dispatcher is getattr(dispatcher, "py_func", None):
        return True
    try:
        index = dispatcher._cache._cache_file._load_index()  # {} when absent or stale
        magic = dispatcher.targetctx.codegen().magic_tuple()
    except Exception:  # pragma: no cover - another Numba
        return None
    return any(isinstance(key, tuple) and len(key) > 1 and key[1] == magic for key in index)


def engine_in_disk_cache() -> bool | None:
    """Whether the cascade engine's step loop (the kernel whose first compilation takes about a
    minute) is in Numba's disk cache: see :func:`in_disk_cache`."""
    from .engine import core

    return in_disk_cache(core.run_kernel)


class compile_watch:
    """Count this package's kernels as Numba compiles them, inside a ``with`` block.

    ``on_compiled(name, count)`` is called after each kernel of the package is compiled (``name``
    like ``engine.core.adl``; nested kernels are compiled, and counted, before their caller).
    Does nothing when Numba is absent or its event API differs."""

    def __init__(self, on_compiled: Callable[[str, int], None]) -> None:
        self.on_compiled = on_compiled
        self.count = 0
        self._listener = None

    def __enter__(self) -> "compile_watch":
        try:
            from numba.core import event
        except ImportError:  # pragma: no cover
            return self
        watch = self

        class _Listener(event.Listener):
            def on_start(self, ev):
                pass

            def on_end(self, ev):
                func = getattr(ev.data.get("dispatcher"), "py_func", None)
                module = getattr(func, "__module__", "") or ""
                if module.startswith(__package__ + "."):
                    watch.count += 1
                    name = f"{module[len(__package__) + 1 :]}.{func.__qualname__}"
                    watch.on_compiled(name, watch.count)

        try:
            self._listener = _Listener()
            event.register("numba:compile", self._listener)
        except Exception:  # pragma: no cover - another Numba
            self._listener = None
        return self

    def __exit__(self, *exc) -> None:
        if self._listener is not None:
            from numba.core import event

            event.unregister("numba:compile", self._listener)
            self._listener = None
