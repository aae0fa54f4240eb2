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
    except Exception:  # pragma: no cover
        _HAS_NRT_OPTION = False
except ImportError:  # pragma: no cover
    numba = None
    HAVE_NUMBA = False
    _HAS_NRT_OPTION = False


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
        return numba.njit(**opts)(f)

    return wrap(func) if func is not None else wrap  # type: ignore[return-value]
