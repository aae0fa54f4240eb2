"""The sweep itself: chunks of paths run on a backend, each finished chunk written at once as a
part file, a restarted sweep resuming from its parts, and the aggregates, summary, report and
catalogue row written at the end."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from .._io import atomic_path, remove_temporaries, write_atomic
from ..errors import InputError
from .backends import _backend_name, _run_dask, _run_processes, connect_scheduler
from .catalogue import _summary, register_sweep
from .paths import _Payload, build_populations, run_chunk
from .plan import plan
from .report import write_sweep_report
from .risk import aggregate
from .spec import SweepSpec

SWEEPS_DIR = "sweeps"


# ================================================================================ parts on disk
_PART = re.compile(r"^part-(\d{9})-(\d{9})-([0-9a-f]{16})\.parquet$")


def _part_name(first: int, last: int, spec_hash: str) -> str:
    return f"part-{first:09d}-{last:09d}-{spec_hash}.parquet"


def done_paths(parts_dir: Path, spec_hash: str, n_paths: int) -> np.ndarray:
    """Boolean mask of the paths already in part files of this spec."""
    done = np.zeros(n_paths, bool)
    if parts_dir.is_dir():
        for p in parts_dir.iterdir():
            m = _PART.match(p.name)
            if m and m.group(3) == spec_hash:
                a, b = int(m.group(1)), int(m.group(2))
                if b < n_paths:
                    done[a : b + 1] = True
    return done


def write_part(parts_dir: Path, rows: list[dict[str, Any]], spec_hash: str) -> Path:
    """Write one chunk's rows atomically (temporary file, then rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    first, last = rows[0]["path"], rows[-1]["path"]
    final = parts_dir / _part_name(first, last, spec_hash)
    table = pa.Table.from_pylist(rows)
    table = table.replace_schema_metadata({"spec_hash": spec_hash})
    with atomic_path(final, keep_suffix=True, fsync=False) as tmp:  # renamed whole: resume sees whole parts
        pq.write_table(table, tmp)
    return final


def read_parts(parts_dir: Path, spec_hash: str) -> pd.DataFrame:
    """All part files of this spec, one row per path, sorted by path index."""
    files = sorted(p for p in parts_dir.iterdir() if (m := _PART.match(p.name)) and m.group(3) == spec_hash)
    if not files:
        return pd.DataFrame()
    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    return frame.sort_values("path", kind="stable").drop_duplicates("path").reset_index(drop=True)


def _chunks(missing: np.ndarray, size: int) -> list[list[int]]:
    """Runs of consecutive missing path indices, cut into chunks of at most ``size``."""
    out: list[list[int]] = []
    cur: list[int] = []
    for i in missing.tolist():
        if cur and (i != cur[-1] + 1 or len(cur) >= size):
            out.append(cur)
            cur = []
        cur.append(i)
    if cur:
        out.append(cur)
    return out


@dataclasses.dataclass
class SweepResult:
    """A finished sweep: where it is, the per-path table and the aggregates."""

    sweep_id: str
    path: Path
    spec: SweepSpec
    spec_hash: str
    paths: pd.DataFrame
    cells: pd.DataFrame
    pooled: pd.DataFrame
    curve: pd.DataFrame
    critical: pd.DataFrame
    summary: dict
    computed: int
    report: Path | None = None


def sweep(
    spec: SweepSpec | dict | str | Path,
    *,
    backend: str = "inprocess",
    workers: int | None = None,
    scheduler: str | None = None,
    client=None,
    out_dir: str | Path = "out",
    chunk_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    report: bool = True,
    register: bool = True,
    scenario=None,
) -> SweepResult:
    """Run a sweep (see the module docstring) and store it in ``OUT/sweeps/<sweep_id>/``.

    ``backend``: ``"inprocess"``, ``"processes"`` (``workers`` processes, default the CPU count)
    or ``"dask"`` (``scheduler`` address, or a given ``client``, or a ``LocalCluster`` of
    ``workers`` single-threaded worker processes).  ``chunk_size``: paths per chunk, the unit of
    work, of part files and of resume (default: a sixteenth of each worker's share of the missing
    paths, 1 to 16).  ``progress(done, total)`` is told the number
    of finished paths after each chunk (and once at the start); an exception it raises stops the
    sweep, leaving the finished chunks on disk for a restart.  Bad specs raise :class:`InputError`
    before anything runs.

    The ``processes`` and ``dask`` backends start fresh interpreters that import the caller's
    main module: a script calling them needs the usual ``if __name__ == "__main__":`` guard.
    """
    from .. import store

    backend = _backend_name(backend)
    if scheduler is not None:
        backend = "dask"
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers <= 0
    ):
        raise InputError(f"must be a positive number of workers, got {workers!r}", field="workers")
    if chunk_size is not None and chunk_size <= 0:
        raise InputError(f"must be a positive number of paths, got {chunk_size!r}", field="chunk_size")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a directory", field="out")
    pl = plan(spec, scenario)
    spec = pl.spec
    from ..resources import require_population

    require_population(pl.scenario, spec.positions)  # before anything is written
    if register:
        store.check_catalogue(out)
    # connect before anything is built: an unreachable scheduler is refused at once
    own_client = None
    if backend == "dask" and client is None and scheduler is not None:
        client = own_client = connect_scheduler(scheduler)

    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", pl.scenario.name).strip("-")[:40] or "sweep"
    sweep_id = f"{slug}-{pl.spec_hash}"
    sdir = out / SWEEPS_DIR / sweep_id
    parts = sdir / "parts"
    try:
        parts.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create {parts}: {e.strerror or e}", field="out") from None
    remove_temporaries(parts, "part-")  # of a sweep killed while writing a part
    write_atomic(sdir / "spec.json", json.dumps(spec.model_dump(mode="json"), indent=2) + "\n")

    total = pl.n_paths
    done = done_paths(parts, pl.spec_hash, total)
    missing = np.flatnonzero(~done)
    tell = progress or (lambda d, t: None)
    n_done = int(done.sum())
    tell(n_done, total)
    started = time.perf_counter()
    n_workers = 1 if backend == "inprocess" else int(workers or os.cpu_count() or 1)
    computed = 0
    drawn = None
    if len(missing):
        size = chunk_size or max(1, min(16, math.ceil(len(missing) / (16 * n_workers))))
        chunks = _chunks(missing, size)
        payload = _Payload(pl, build_populations(pl))
        drawn = {k: len(p) for k, p in payload.populations.items()}

        def finished(rows):
            nonlocal n_done, computed
            write_part(parts, rows, pl.spec_hash)
            n_done += len(rows)
            computed += len(rows)
            tell(n_done, total)

        if backend == "inprocess":
            for c in chunks:
                finished(run_chunk(payload, c))
        elif backend == "processes":
            _run_processes(payload, chunks, n_workers, finished)
        else:
            try:
                _run_dask(payload, chunks, n_workers, client, finished)
            finally:
                if own_client is not None:
                    own_client.close()
    elif own_client is not None:
        own_client.close()
    elapsed = time.perf_counter() - started

    frame = read_parts(parts, pl.spec_hash)
    axes = [k for k, _ in pl.axes]
    agg = aggregate(frame, axes, levels=spec.levels, jump_share=spec.jump_share)
    _write_parquet(sdir / "paths.parquet", frame)
    for name in ("cells", "pooled", "curve", "critical"):
        _write_parquet(sdir / f"{name}.parquet", agg[name])
    summary = _summary(pl, sweep_id, frame, agg, backend, n_workers, elapsed, computed)
    if drawn is None and (sdir / "summary.json").is_file():  # resumed with nothing to run
        drawn = json.loads((sdir / "summary.json").read_text("utf-8")).get("positions_drawn")
    summary["positions_drawn"] = drawn  # per population setting ("{}": the only one)
    write_atomic(sdir / "summary.json", store.dumps(summary) + "\n")
    res = SweepResult(
        sweep_id,
        sdir,
        spec,
        pl.spec_hash,
        frame,
        agg["cells"],
        agg["pooled"],
        agg["curve"],
        agg["critical"],
        summary,
        computed,
    )
    if report:
        res.report = write_sweep_report(sdir, res, pl)
    if register:
        register_sweep(out, summary, sdir)
    return res


def _write_parquet(path: Path, frame: pd.DataFrame) -> None:
    with atomic_path(path, keep_suffix=True, fsync=False) as tmp:
        frame.to_parquet(tmp, index=False)
