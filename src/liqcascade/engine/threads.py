"""The setup threads: the parts of a run before and after the step loop that split into
independent pieces (the kernels are compiled without the GIL, and NumPy's sort releases it)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
import os

from ..errors import InputError


def setup_threads() -> int:
    """Threads for the run's setup (liquidation prices and the sort; the step loop is one
    thread): ``LIQCASCADE_THREADS`` if set, else the CPUs this process may use (at most 4).
    Sweeps set it to 1 in their worker processes."""
    env = os.environ.get("LIQCASCADE_THREADS")
    if env:
        try:
            k = int(env)
        except ValueError:
            k = 0
        if k < 1:
            raise InputError(f"must be a positive integer, got {env!r}", field="LIQCASCADE_THREADS")
        return k
    try:
        return max(1, min(4, len(os.sched_getaffinity(0))))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, min(4, os.cpu_count() or 1))


#: pools by (process id, threads): a forked child gets its own (the parent's threads do not exist there)
_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}


def map_all(func, items) -> list:
    """``func`` over ``items`` on the setup threads (the kernels and NumPy's sort release the GIL)."""
    return map_async(func, items)()


def map_async(func, items):
    """Start ``func`` over ``items`` on the setup threads; returns a function that waits for
    and returns the results (on one thread: computes them when called)."""
    items = list(items)
    k = min(setup_threads(), len(items))
    if k <= 1:
        return lambda: [func(x) for x in items]
    key = (os.getpid(), k)
    if key not in _POOLS:
        _POOLS[key] = ThreadPoolExecutor(max_workers=k, thread_name_prefix="liqcascade-setup")
    futures = [_POOLS[key].submit(func, x) for x in items]
    return lambda: [f.result() for f in futures]
