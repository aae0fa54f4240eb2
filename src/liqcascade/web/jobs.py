"""Stress-test jobs: a replay (``run``) or a ``sweep`` in a worker process of its own.

At most ``max_jobs`` run at once (a further request is refused: HTTP 429); each is watched for its
resident memory (the worker and its children, from ``/proc``) and killed beyond ``max_memory_mb``;
a job can be cancelled (SIGTERM, then SIGKILL after 3 s).  A killed worker leaves nothing half
written in the run store: runs are staged and renamed into place (:mod:`liqcascade.store`), sweep
parts are written atomically.

The worker runs at a lower CPU priority (nice 10) than the server.  It reports progress by appending JSON lines to ``OUT/jobs/<id>/progress.jsonl`` and writes
``result.json`` when it ends; the server's watcher thread reads them.  Parameters are validated and
bounded before anything starts (:class:`RunRequest`, :class:`SweepRequest`).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import secrets
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import InputError

JOBS_DIR = "jobs"
SCENARIOS = ("feb-2026", "feb-2026-weekend")
MAX_SWEEP_PATHS = 256


class RunRequest(BaseModel):
    """A replay of a bundled scenario (bounded)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["run"] = "run"
    scenario: Literal["feb-2026", "feb-2026-weekend"] = "feb-2026"
    positions: int = Field(20_000, ge=1_000, le=300_000, description="positions drawn")
    seed: int = Field(0, ge=0, le=2**31 - 1)


class SweepRequest(BaseModel):
    """A sweep of sell shocks (bounded: at most 12 shocks, 32 paths a cell, 256 paths in all)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["sweep"] = "sweep"
    scenario: Literal["feb-2026", "feb-2026-weekend"] = "feb-2026"
    shocks_usd: list[float] = Field([2e8, 1e9, 5e9], min_length=2, max_length=12, description="shock sizes, USD sold")
    shock_seconds: float = Field(600.0, gt=0, le=86_400)
    paths: int = Field(2, ge=1, le=32, description="random paths per shock")
    positions: int = Field(5_000, ge=1_000, le=100_000)
    steps: int = Field(120, ge=10, le=2_880, description="horizon, steps")
    step_seconds: float = Field(60.0, ge=1, le=600)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    flow_noise_usd: float = Field(0.0, ge=0, le=1e9)

    @field_validator("shocks_usd")
    @classmethod
    def _shocks(cls, v):
        if any(not (1e5 <= x <= 1e11) for x in v):
            raise ValueError("each shock must lie in 1e5-1e11 USD")
        if len(set(v)) != len(v):
            raise ValueError("shocks must differ")
        return sorted(v)

    def grid_paths(self) -> int:
        return len(self.shocks_usd) * self.paths


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


# ------------------------------------------------------------------------ the worker process
def _append(path: Path, rec: dict) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(rec, allow_nan=False) + "\n")


def _worker(kind: str, params: dict, out_dir: str, job_dir: str) -> None:  # pragma: no cover - child process
    """Run one job; progress lines and the result go to ``job_dir``."""
    jd = Path(job_dir)
    progress = jd / "progress.jsonl"
    try:
        os.nice(10)  # below the server: the API stays responsive while a job computes
    except OSError:
        pass
    try:
        if kind == "run":
            from ..report import STAGES, run_and_report

            def tell(stage: str) -> None:
                _append(
                    progress,
                    {
                        "t": time.time(),
                        "stage": stage,
                        "done": STAGES.index(stage) if stage in STAGES else 0,
                        "total": len(STAGES),
                    },
                )

            res = run_and_report(
                params["scenario"],
                out_dir=out_dir,
                seed=params["seed"],
                n_positions=params["positions"],
                progress=tell,
                png=True,
            )
            result = {"run_id": res.run_id, "liquidations_usd": res.summary.get("liquidations_usd")}
        else:
            from ..sweep import sweep

            spec = {
                "scenario": params["scenario"],
                "shocks": {
                    "usd": params["shocks_usd"],
                    "seconds": [params["shock_seconds"]],
                    "asset": ["BTC"],
                    "venue": ["all"],
                    "start_hour": 0.0,
                },
                "paths": params["paths"],
                "seed": params["seed"],
                "noise": {"flow_usd": params["flow_noise_usd"], "depth": 0.0},
                "n_steps": params["steps"],
                "step_seconds": params["step_seconds"],
                "positions": params["positions"],
                "levels": [0.95],
            }

            def tell_paths(done: int, total: int) -> None:
                _append(progress, {"t": time.time(), "stage": "paths", "done": done, "total": total})

            res = sweep(spec, backend="inprocess", out_dir=out_dir, progress=tell_paths)
            curve = res.curve
            result = {
                "sweep_id": res.sweep_id,
                "curve": json.loads(curve.to_json(orient="records")),
                "critical_shock_usd": res.summary.get("critical_shock_usd"),
                "critical_status": res.summary.get("critical_status"),
            }
        (jd / "result.json").write_text(json.dumps({"ok": True, **result}, default=str), "utf-8")
    except BaseException as exc:  # the parent reads the reason; nothing else is shared
        (jd / "result.json").write_text(
            json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}), "utf-8"
        )


# ------------------------------------------------------------------------ the manager
@dataclass
class Job:
    id: str
    kind: str
    params: dict
    dir: Path
    created: str = field(default_factory=_now)
    state: str = "running"  # running, done, failed, cancelled
    error: str | None = None
    result: dict | None = None
    process: Any = None
    peak_memory_mb: float = 0.0
    finished: str | None = None

    def progress(self) -> dict | None:
        p = self.dir / "progress.jsonl"
        if not p.is_file():
            return None
        last = None
        with open(p, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    try:
                        last = json.loads(line)
                    except ValueError:
                        pass  # a line being written
        return last

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "params": self.params,
            "state": self.state,
            "created": self.created,
            "finished": self.finished,
            "progress": self.progress(),
            "result": self.result,
            "error": self.error,
            "peak_memory_mb": round(self.peak_memory_mb, 1),
        }


def _rss_mb(pid: int) -> float:
    """Resident memory (MiB) of ``pid`` and its descendants, from /proc (0 when unreadable)."""
    total = 0.0
    todo = [pid]
    seen = set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += float(line.split()[1]) / 1024
            for task in os.listdir(f"/proc/{p}/task"):  # children belong to the thread that started them
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            continue
    return total


class JobManager:
    """Starts, watches, bounds and cancels jobs (see the module docstring)."""

    def __init__(self, out_dir: Path, *, max_jobs: int = 1, max_memory_mb: float = 4096.0, keep: int = 100):
        if max_jobs < 1:
            raise InputError(f"must be >= 1, got {max_jobs}", field="max_jobs")
        self.out = Path(out_dir)
        self.max_jobs = int(max_jobs)
        self.max_memory_mb = float(max_memory_mb)
        self.keep = keep
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._ctx = mp.get_context("spawn")  # a clean interpreter: no server threads or sockets inherited
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="liqcascade-jobs", daemon=True)
        self._watcher.start()

    def running(self) -> int:
        return sum(j.state == "running" for j in self.jobs.values())

    def submit(self, request: RunRequest | SweepRequest) -> Job:
        if isinstance(request, SweepRequest) and request.grid_paths() > MAX_SWEEP_PATHS:
            raise InputError(
                f"{request.grid_paths()} paths ({len(request.shocks_usd)} shocks x {request.paths}); "
                f"at most {MAX_SWEEP_PATHS}",
                field="paths",
            )
        with self._lock:
            if self.running() >= self.max_jobs:
                raise JobLimit(f"{self.running()} job(s) running; the limit is {self.max_jobs}: wait or cancel one")
            job_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{request.kind}-{secrets.token_hex(3)}"
            jd = self.out / JOBS_DIR / job_id
            jd.mkdir(parents=True)
            params = request.model_dump(mode="json")
            (jd / "request.json").write_text(json.dumps(params), "utf-8")
            proc = self._ctx.Process(
                target=_worker,
                args=(request.kind, params, str(self.out), str(jd)),
                name=f"liqcascade-job-{job_id}",
                daemon=True,
            )
            proc.start()
            job = Job(job_id, request.kind, params, jd, process=proc)
            self.jobs[job_id] = job
            self._trim()
        return job

    def get(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise KeyError(job_id)
        return job

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job.state == "running":
            self._kill(job, "cancelled", None)
        return job

    def _kill(self, job: Job, state: str, error: str | None) -> None:
        p = job.process
        if p is not None and p.is_alive():
            p.terminate()
            p.join(3)
            if p.is_alive():
                os.kill(p.pid, signal.SIGKILL)
                p.join(3)
        job.state, job.error, job.finished = state, error, _now()

    def _finish(self, job: Job) -> None:
        res_path = job.dir / "result.json"
        res = None
        if res_path.is_file():
            try:
                res = json.loads(res_path.read_text("utf-8"))
            except ValueError:
                res = None
        if res is None:
            job.state, job.error = "failed", f"the worker ended without a result (exit code {job.process.exitcode})"
        elif res.get("ok"):
            job.state, job.result = "done", {k: v for k, v in res.items() if k != "ok"}
        else:
            job.state, job.error = "failed", res.get("error")
        job.finished = _now()

    def _watch(self) -> None:
        while not self._stop.wait(0.25):
            for job in list(self.jobs.values()):
                if job.state != "running" or job.process is None:
                    continue
                if not job.process.is_alive():
                    job.process.join(0)
                    self._finish(job)
                    continue
                rss = _rss_mb(job.process.pid)
                job.peak_memory_mb = max(job.peak_memory_mb, rss)
                if rss > self.max_memory_mb:
                    self._kill(
                        job, "failed", f"killed: {rss:,.0f} MiB resident, above the {self.max_memory_mb:,.0f} MiB limit"
                    )

    def _trim(self) -> None:
        done = [j for j in self.jobs.values() if j.state != "running"]
        for j in done[: max(0, len(self.jobs) - self.keep)]:
            self.jobs.pop(j.id, None)

    def shutdown(self) -> None:
        self._stop.set()
        for job in list(self.jobs.values()):
            if job.state == "running":
                self._kill(job, "cancelled", "server shut down")


class JobLimit(RuntimeError):
    """Too many jobs running."""
