"""One `jit` wrapper for the numeric kernels.

Kernels are written once as plain Python over NumPy arrays and compiled with Numba
(``nopython``, cached on disk) when Numba imports; otherwise they run as the same plain Python.
Setting ``LIQCASCADE_DISABLE_JIT=1`` forces the Python path (the tests run both).
"""

from __future__ import annotations

import os
from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable)

try:  # pragma: no cover - depends on the environment
    if os.environ.get("LIQCASCADE_DISABLE_JIT") == "1":
        raise ImportError
    import numba

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


#: the package's directory, and its sources' fingerprint once computed (:func:`_package_stamp`)
_ROOT = os.path.dirname(os.path.abspath(__file__))
_STAMP: str | None = None


def _package_stamp() -> str:
    """A fingerprint of the package's Python sources (each file's path, modification time and
    size), computed once per process."""
    global _STAMP
    if _STAMP is None:
        import hashlib

        h = hashlib.sha256()
        for dirpath, dirnames, files in os.walk(_ROOT):
            dirnames.sort()
            for name in sorted(files):
                if name.endswith(".py"):
                    st = os.stat(os.path.join(dirpath, name))
                    h.update(f"{os.path.relpath(dirpath, _ROOT)}/{name}:{st.st_mtime_ns}:{st.st_size};".encode())
        _STAMP = h.hexdigest()
    return _STAMP



def _install_cache_locators() -> bool:
    """Make Numba's on-disk cache of this package's kernels depend on all of its sources.

    Numba keys a cached function by its own file's modification time and its own bytecode, not
    by the functions it calls or inlines from other files: a kernel in ``engine/run.py`` that
    inlines the LP rule of ``engine/core.py`` would load its old machine code after an edit of
    ``core.py`` alone.  These locators (Numba's own, for files inside this package) add the
    package's fingerprint (:func:`_package_stamp`) to that stamp, so any edit recompiles every
    kernel once.  Returns False (Numba's default locators stay) where Numba's caching internals
    differ from those this was written for."""
    try:
        from numba.core import caching
    except ImportError:  # pragma: no cover
        return False
    bases = [getattr(caching, n, None) or getattr(caching, "_" + n, None)
             for n in ("UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator")]
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    if impl is None or not isinstance(getattr(impl, "_locator_classes", None), list) or None in bases:
        return False  # pragma: no cover - another Numba

    class _PackageStamp:
        def get_source_stamp(self):
            return (super().get_source_stamp(), _package_stamp())

        @classmethod
        def from_function(cls, py_func, py_file):
            if not os.path.abspath(py_file).startswith(_ROOT + os.sep):
                return None
            return super().from_function(py_func, py_file)

    ours = [type(f"Package{b.__name__.lstrip('_')}", (_PackageStamp, b), {}) for b in bases]
    if not any(getattr(c, "_liqcascade", False) for c in impl._locator_classes):
        for c in ours:
            c._liqcascade = True
        impl._locator_classes[:0] = ours
    return True


if HAVE_NUMBA:  # pragma: no branch - depends on the environment
    _install_cache_locators()


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
                    name = f"{module[len(__package__) + 1:]}.{func.__qualname__}"
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
