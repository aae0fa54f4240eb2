"""Stress-test jobs through the API: real worker processes over a real run store."""

from __future__ import annotations

import os
import time

import pytest
from fastapi.testclient import TestClient

from liqcascade import store
from liqcascade.web import create_app

SMALL_SWEEP = {"kind": "sweep", "shocks_usd": [2e8, 5e9], "paths": 1, "positions": 1000, "steps": 20}


def _wait(client, job_id, timeout=300.0, until=lambda j: j["state"] != "running"):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        j = client.get(f"/api/jobs/{job_id}").json()
        if until(j):
            return j
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} still {j['state']} after {timeout} s")


def test_sweep_job_ends_with_its_curve(store_copy):
    with TestClient(create_app(store_copy)) as c:
        r = c.post("/api/jobs", json=SMALL_SWEEP)
        assert r.status_code == 202, r.text
        j = _wait(c, r.json()["id"])
        assert j["state"] == "done", j["error"]
        assert [row["shock_usd"] for row in j["result"]["curve"]] == [2e8, 5e9]
        assert j["progress"]["done"] == j["progress"]["total"] == 2
        sweeps = c.get("/api/sweeps").json()
        assert j["result"]["sweep_id"] in {s["sweep_id"] for s in sweeps}
        # the SSE stream ends with the final state
        with c.stream("GET", f"/api/jobs/{j['id']}/events") as s:
            lines = [ln for ln in s.iter_lines() if ln.startswith("data:")]
        assert '"state": "done"' in lines[-1]


def test_limit_cancel_and_a_killed_job_leave_the_store_whole(store_copy):
    before = store.list_runs(store_copy)
    with TestClient(create_app(store_copy, max_jobs=1)) as c:
        first = c.post("/api/jobs", json={"kind": "run", "positions": 20_000}).json()
        r = c.post("/api/jobs", json=SMALL_SWEEP)
        assert r.status_code == 429 and "limit is 1" in r.json()["detail"]
        _wait(c, first["id"], 120, until=lambda j: (j["progress"] or {}).get("stage") in ("engine", "store"))
        pid = c.app.state.jobs.get(first["id"]).process.pid
        j = c.delete(f"/api/jobs/{first['id']}").json()
        assert j["state"] == "cancelled"
        with pytest.raises(ProcessLookupError):
            for _ in range(40):
                os.kill(pid, 0)
                time.sleep(0.05)
        # the server still answers; the catalogue is readable and unchanged; no half-written run is listed
        assert c.get("/api/health").json()["status"] == "ok"
        after = store.list_runs(store_copy)
        assert list(after["run_id"]) == list(before["run_id"])
        assert sorted(p.name for p in (store_copy / "runs").iterdir() if not p.name.startswith(".")) == sorted(
            before["run_id"]
        )
        # the slot is free again
        r = c.post("/api/jobs", json=SMALL_SWEEP)
        assert r.status_code == 202
        assert _wait(c, r.json()["id"])["state"] == "done"


def test_a_job_over_its_memory_limit_is_killed(store_copy):
    with TestClient(create_app(store_copy, max_job_memory_mb=40)) as c:
        j = c.post("/api/jobs", json=SMALL_SWEEP).json()
        j = _wait(c, j["id"], 120)
        assert j["state"] == "failed" and "MiB limit" in j["error"], j
        assert c.get("/api/health").status_code == 200


@pytest.mark.parametrize(
    "body, status, words",
    [
        (dict(SMALL_SWEEP, shocks_usd=[1e6 * (i + 1) for i in range(12)], paths=32), 400, "at most 256"),
        (dict(SMALL_SWEEP, paths=33), 422, "paths"),
        (dict(SMALL_SWEEP, shocks_usd=[1e6] * 3), 422, "differ"),
        (dict(SMALL_SWEEP, shocks_usd=[1e13, 1e6]), 422, "1e5-1e11"),
        (dict(SMALL_SWEEP, scenario="../../etc/passwd"), 422, "scenario"),
        (dict(SMALL_SWEEP, workers=64), 422, "workers"),
        ({"kind": "run", "positions": 10**9}, 422, "positions"),
        ({"kind": "delete-everything"}, 422, "kind"),
    ],
)
def test_bounded_requests(store_copy, body, status, words):
    with TestClient(create_app(store_copy)) as c:
        r = c.post("/api/jobs", json=body)
        assert r.status_code == status, r.text
        assert words in r.json()["detail"]
        assert c.get("/api/jobs").json() == []
