"""The setup threads: the parts of a run before, beside and after the step loop that split
into independent pieces — the packing and the sort before it, the mapping of its records' pages
while it runs, the ledger's pass and the summary after it (the kernels are compiled without the
GIL, and NumPy's sort and libc's madvise release it)."""

from __future__ import annotations

import itertools
import os
import sys
from concurrent.futures import ThreadPoolExecutor

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
    futures = [_pool(k).submit(func, x) for x in items]
    return lambda: [f.result() for f in futures]


def share(func, n_items: int, min_items_per_thread: int = 1):
    """Run ``func(i)`` for ``i`` in ``range(n_items)`` on ``setup_threads() - 1`` pool threads,
    which take the items one at a time, and return a function that makes the calling thread
    take what is left, then waits for the pool's last items.  The caller can work on something
    else in between without a third thread competing for two cores (a thread left waiting for
    a time slice stalls its work for milliseconds).  Each item must write its own outputs: the
    order in which they are done does not matter."""
    counter = itertools.count()  # next() is atomic under the GIL
    k = min(setup_threads() - 1, n_items // max(1, min_items_per_thread))

    def work():
        while True:
            i = next(counter)
            if i >= n_items:
                return
            func(i)

    futures = [_pool(k).submit(work) for _ in range(k)] if k > 0 else []

    def finish():
        work()
        for f in futures:
            f.result()

    return finish


def _pool(k: int) -> ThreadPoolExecutor:
    key = (os.getpid(), k)
    if key not in _POOLS:
        _POOLS[key] = ThreadPoolExecutor(max_workers=k, thread_name_prefix="liqcascade-setup")
    return _POOLS[key]


#: Linux's ``MADV_POPULATE_WRITE`` (5.14+): map and zero a range's pages as a write would,
#: without writing to them
_MADV_POPULATE_WRITE = 23
_madvise = None  # libc's madvise once looked up; False where unavailable


def _populate(arrays) -> None:
    global _madvise
    if _madvise is None:
        if not sys.platform.startswith("linux"):  # the advice's number is Linux's
            _madvise = False
            return
        try:
            import ctypes

            f = ctypes.CDLL(None, use_errno=True).madvise
            f.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
            f.restype = ctypes.c_int
            _madvise = f
        except (OSError, AttributeError):  # pragma: no cover - not on Linux
            _madvise = False
    if not _madvise:
        return
    page = os.sysconf("SC_PAGE_SIZE")
    for a in arrays:
        addr = a.ctypes.data
        start = addr - addr % page
        if _madvise(start, a.nbytes + (addr - start), _MADV_POPULATE_WRITE) != 0:
            _madvise = False  # an older kernel: the pages fault in as they are written
            return


def prefault_async(*arrays):
    """Start mapping the pages of freshly allocated arrays on a setup thread while the caller
    goes on (the step loop, which writes its records a step at a time, then finds them mapped
    instead of faulting each in on its own thread).  The pages' contents are not touched, so the
    arrays may be written meanwhile.  Returns a function that waits; does nothing with one
    setup thread or where the kernel lacks ``MADV_POPULATE_WRITE`` (Linux < 5.14)."""
    k = setup_threads()
    if k < 2 or _madvise is False:
        return lambda: None
    return _pool(k).submit(_populate, arrays).result
