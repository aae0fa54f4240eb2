"""Sweep benchmark: 1,000 paths x 100,000 positions x 1,440 one-minute steps (feb-2026).

    .venv/bin/python benchmarks/bench_sweep.py                  # the full benchmark (several minutes)
    .venv/bin/python benchmarks/bench_sweep.py --paths 20       # paths per shock size (10 sizes)

Prints absolute times and the ratios measured in this run:

1. the population (built once) and the in-process cost of one path, with a profile of where a
   path's time goes inside the engine (``simulate`` and the functions it calls);
2. the whole sweep on a process pool of 2 workers (target: <= 60 s for 1,000 paths);
3. the same sweep on a Dask ``LocalCluster`` with 2 workers and with 1 worker (cluster start-up
   excluded; target: 2 workers >= 1.7x faster than 1).

Every sweep writes into a fresh temporary directory (a reused one would resume, computing nothing).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from liqcascade.sweep import _Payload, build_populations, local_cluster, plan, run_chunk, sweep

SHOCKS = [float(x) for x in np.geomspace(1e8, 1e10, 10)]


def spec(paths_per_shock: int, positions: int, steps: int) -> dict:
    return dict(
        scenario="feb-2026",
        shocks=dict(usd=SHOCKS, seconds=[600.0], asset=["BTC"]),
        paths=paths_per_shock,
        n_steps=steps,
        step_seconds=60.0,
        positions=positions,
        noise=dict(flow_usd=2e6, depth=0.1),
        seed=0,
    )


def children_cpu() -> float:
    """CPU seconds used by finished child processes (pool workers, Dask nannies and workers)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def load() -> str:
    return "load average %.2f" % os.getloadavg()[0]


def machine_busy() -> float:
    """CPU seconds every process on the machine has used since boot (/proc/stat)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except OSError:  # pragma: no cover - not Linux
        return float("nan")
    return (sum(v[:3]) + sum(v[5:8])) / os.sysconf("SC_CLK_TCK")  # user nice system irq softirq steal


def _process_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime + children_cpu()


class Meter:
    """Wall time, our CPU seconds (this process and its children) and other processes' CPU
    seconds over a block: other processes' work on a 2-core machine slows a 2-worker sweep."""

    def __init__(self, client=None):
        self.client = client  # a Dask client: its workers' CPU counts as ours (they are not reaped yet)

    def _workers_cpu(self) -> float:
        if self.client is None:
            return 0.0
        return sum(self.client.run(_process_cpu).values())

    def __enter__(self):
        self.t, self.busy, self.own, self.wk = time.perf_counter(), machine_busy(), own_cpu(), self._workers_cpu()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.t
        self.ours = own_cpu() - self.own + self._workers_cpu() - self.wk
        self.others = max(0.0, machine_busy() - self.busy - self.ours)

    def __str__(self):
        return f"{self.wall:.1f} s wall, {self.ours:.1f} CPU-s ours, {self.others:.1f} CPU-s by other processes"


SCENARIO = None  # loaded once: files edited while the benchmark runs must not change its sweeps


def timed_sweep(sp: dict, **kw) -> tuple[float, object]:
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        res = sweep(sp, out_dir=Path(d), report=False, register=False, scenario=SCENARIO, **kw)
        return time.perf_counter() - t, res


def spread(payload: _Payload, n: int) -> list[int]:
    """``n`` path indices spread over the whole grid (cells are ordered by shock size)."""
    return sorted({int(i) for i in np.linspace(0, payload.plan.n_paths - 1, n)})


def engine_profile(payload: _Payload, n: int) -> None:
    """Where a path's time goes: cumulative seconds per engine function over ``n`` paths."""
    prof = cProfile.Profile()
    prof.enable()
    run_chunk(payload, spread(payload, n))
    prof.disable()
    st = pstats.Stats(prof, stream=io.StringIO())
    wanted = {
        "run_kernel": "core.run_kernel (the compiled step loop)",
        "simulate": "run.simulate (everything)",
        "collect": "run.collect (frames + engine summary)",
        "headline_figures": "run.headline_figures (engine headline figures)",
        "as_reported": "run.as_reported (feed throttling, pandas)",
        "packed_positions_async": "run.packed_positions_async (packing with the LPs, started; the wait is in simulate)",
        "sort_positions": "run.sort_positions (packed LPs sorted per market side)",
        "fresh_state": "simulate.fresh_state",
        "balance_async": "ledger.balance_async (the ledger's pass, started; the wait is in collect)",
        "build_market": "run.build_market",
        "_row": "sweep._row (per-path figures)",
    }
    rows = []
    for (file, _, func), (cc, nc, tt, ct, _) in st.stats.items():
        if func in wanted and ("liqcascade" in file):
            rows.append((ct, nc, wanted[func]))
    print(f"  profile over {n} paths (cProfile; cumulative seconds, calls):")
    for ct, nc, name in sorted(rows, reverse=True):
        print(f"    {name:<48} {ct:8.3f} s  {nc:5d} calls  {ct / n * 1e3:8.1f} ms/path")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=100, help="paths per shock size (10 sizes; default 100 = 1,000)")
    ap.add_argument(
        "--positions",
        type=int,
        default=100_000,
        help="positions drawn (the request is scaled up once for the positions the synthesiser drops)",
    )
    ap.add_argument("--repeat", type=int, default=2, help="Dask runs per worker count, alternating (best kept)")
    ap.add_argument("--steps", type=int, default=1440)
    ap.add_argument("--profile-paths", type=int, default=10)
    ap.add_argument("--skip-dask", action="store_true")
    a = ap.parse_args(argv)
    sp = spec(a.paths, a.positions, a.steps)
    n_total = 10 * a.paths
    print(
        f"sweep: feb-2026, {len(SHOCKS)} shock sizes x {a.paths} paths = {n_total:,} paths, "
        f"{a.positions:,} positions requested, {a.steps:,} steps of 60 s; {os.cpu_count()} CPUs"
    )

    global SCENARIO
    from liqcascade.scenario import load_scenario

    SCENARIO = load_scenario(sp["scenario"])
    pl = plan(sp, SCENARIO)
    n_pos = len(next(iter(build_populations(pl).values())))
    if n_pos < a.positions:  # survivorship drops positions: ask for more, once
        sp["positions"] = int(round(a.positions * a.positions / max(n_pos, 1)))
        pl = plan(sp, SCENARIO)
    t = time.perf_counter()
    pops = build_populations(pl)
    t_pop = time.perf_counter() - t
    n_pos = len(next(iter(pops.values())))
    print(f"population (once): {t_pop:.2f} s, {n_pos:,} positions drawn ({sp['positions']:,} requested)")
    payload = _Payload(pl, pops)
    run_chunk(payload, [0])  # compile / load the kernel
    k = a.profile_paths
    t = time.perf_counter()
    run_chunk(payload, spread(payload, k))
    per_path = (time.perf_counter() - t) / k
    print(
        f"in-process: {per_path * 1e3:.1f} ms per path ({k} paths across the grid; {load()}) -> "
        f"{n_total:,} paths serial ~ "
        f"{per_path * n_total:.0f} s, on 2 cores ideal ~ {per_path * n_total / 2:.0f} s"
    )
    engine_profile(payload, k)

    with Meter() as m:
        t_proc, res = timed_sweep(sp, backend="processes", workers=2)
    print(
        f"processes, 2 workers: {t_proc:.1f} s for {res.computed:,} paths "
        f"({t_proc / res.computed * 1e3:.1f} ms/path; target <= 60 s for 1,000); {m}; "
        f"critical shock {res.summary['critical_shock_usd']} ({res.summary['critical_status']})"
    )
    base = res.paths

    if not a.skip_dask:
        import logging

        from distributed import Client

        logging.getLogger("distributed").setLevel(logging.CRITICAL)  # shutdown chatter, not results

        times: dict[int, list[float]] = {1: [], 2: []}
        clean: dict[int, list[float]] = {1: [], 2: []}
        for _ in range(a.repeat):
            for w in (1, 2):
                t = time.perf_counter()
                with local_cluster(w) as cl, Client(cl) as client:
                    t_up = time.perf_counter() - t
                    with Meter(client) as m:
                        dt, r = timed_sweep(sp, backend="dask", client=client)
                times[w].append(dt)
                if m.others < 0.05 * m.wall:
                    clean[w].append(dt)
                same = r.paths.equals(base)
                print(
                    f"dask LocalCluster {w} worker(s): {dt:.1f} s (start-up {t_up:.1f} s, excluded); {m}; "
                    f"table identical to the process pool's: {same}"
                )
        t1, t2 = min(times[1]), min(times[2])
        print(f"dask 2 workers vs 1 (best of {a.repeat}): {t1:.1f} s / {t2:.1f} s = {t1 / t2:.2f}x (target >= 1.7x)")
        if clean[1] and clean[2]:
            print(f"  on runs without other processes' load: {min(clean[1]) / min(clean[2]):.2f}x")
        else:
            print("  (every run shared the machine with other processes: see their CPU-s above)")
        times = {w: min(v) for w, v in times.items()}
        print(f"dask(2) time / processes(2) time: {times[2] / t_proc:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
