"""Where a sweep's chunks run: in this process, on a process pool, or on a Dask cluster."""

from __future__ import annotations

import itertools
import re

from ..errors import InputError
from .paths import _init_worker, _Payload, run_chunk

BACKENDS = ("inprocess", "processes", "dask")


def _backend_name(backend: str) -> str:
    b = backend.lower().replace("-", "").replace("_", "")
    alias = {
        "inprocess": "inprocess",
        "serial": "inprocess",
        "processes": "processes",
        "process": "processes",
        "dask": "dask",
    }
    if b not in alias:
        raise InputError(f"unknown backend {backend!r} (one of {', '.join(BACKENDS)})", field="backend")
    return alias[b]


def connect_scheduler(address: str, timeout: float = 3.0):
    """A Dask client of the scheduler at ``address``; an unreachable one is one InputError line."""
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover
        raise InputError("the dask backend needs dask[distributed] installed", field="scheduler") from None
    if not re.match(r"^(tcp|tls|inproc|ws|wss|ucx)://[^\s]+$", address):
        raise InputError(f"scheduler address {address!r} is not a URL such as tcp://host:8786", field="scheduler")
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as e:
        raise InputError(
            f"cannot reach the Dask scheduler at {address} within {timeout:g} s ({type(e).__name__})", field="scheduler"
        ) from None


def _run_processes(payload: _Payload, chunks, n_workers: int, finished) -> None:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")  # a clean interpreter: no inherited threads or locks
    with ProcessPoolExecutor(
        max_workers=n_workers, mp_context=ctx, initializer=_init_worker, initargs=(payload,)
    ) as pool:
        pending = set()
        it = iter(chunks)
        try:
            # a bounded window of chunks in flight: memory does not grow with the number of paths
            for c in itertools.islice(it, 4 * n_workers):
                pending.add(pool.submit(run_chunk, None, c))
            while pending:
                ready, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in ready:
                    finished(f.result())
                    nxt = next(it, None)
                    if nxt is not None:
                        pending.add(pool.submit(run_chunk, None, nxt))
        except BaseException:
            for f in pending:
                f.cancel()
            raise


def local_cluster(n_workers: int, **kwargs):
    """A Dask ``LocalCluster`` of ``n_workers`` single-threaded worker processes, without the
    ``MALLOC_TRIM_THRESHOLD_`` Dask sets in its workers' environment by default.

    Setting that variable switches off glibc's dynamic mmap threshold: every large array a path
    allocates is then mapped fresh and page-faulted in, which made the NumPy parts of
    ``simulate`` (``fresh_state``, ``sort_positions``, ``initial_liquidation_prices``, the
    ledger) 2.5–3.5× slower in a worker than in-process, about 1.5–2× per path overall.
    A cluster started elsewhere (``--scheduler``) can do the same in its Dask configuration
    (``distributed.nanny.pre-spawn-environ``).
    """
    import dask
    from distributed import LocalCluster

    env = {
        k: v
        for k, v in (dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {}).items()
        if not str(k).startswith("MALLOC_")
    }
    # a worker logs errors only: an interrupted sweep's cancelled tasks are not the user's news
    env.setdefault("DASK_LOGGING__DISTRIBUTED", "error")
    opts = dict(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None)
    opts.update(kwargs)
    # Ctrl-C reaches the whole process group: the workers start with SIGINT ignored (an ignored
    # signal stays ignored across their spawn), so the parent alone stops the sweep and says so
    # in one line instead of every nanny and worker printing its KeyboardInterrupt traceback
    import signal
    import threading

    main = threading.current_thread() is threading.main_thread()
    before = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": env}):
            return LocalCluster(**opts)
    finally:
        if main:
            signal.signal(signal.SIGINT, before)


def _run_dask(payload: _Payload, chunks, n_workers: int, client, finished) -> None:
    from distributed import Client, as_completed

    cluster = None
    own = client is None
    if own:
        cluster = local_cluster(n_workers)
        client = Client(cluster)
    try:
        shared = client.scatter(payload, broadcast=True, hash=False)
        it = iter(chunks)
        window = 4 * max(1, len(client.scheduler_info().get("workers", {})) or n_workers)
        futures = [client.submit(run_chunk, shared, c, pure=False) for c in itertools.islice(it, window)]
        ac = as_completed(futures)
        try:
            for f in ac:
                rows = f.result()
                f.release()
                finished(rows)
                nxt = next(it, None)
                if nxt is not None:
                    ac.add(client.submit(run_chunk, shared, nxt, pure=False))
        except BaseException:
            if own:  # stopping our own cluster early: its nannies' shutdown warnings are expected
                import logging

                logging.getLogger("distributed").setLevel(logging.ERROR)
            for f in futures:
                f.cancel()
            raise
    finally:
        if own:
            client.close()
            cluster.close()
