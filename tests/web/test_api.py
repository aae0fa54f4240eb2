"""The dashboard's JSON API through FastAPI's TestClient, over a real DuckDB run store."""

from __future__ import annotations

import json
import shutil

import pytest
from fastapi.testclient import TestClient

from liqcascade import liqprice as lp
from liqcascade import store
from liqcascade.web import create_app

from .conftest import SHARED


@pytest.fixture()
def client(store_copy):
    with TestClient(create_app(store_copy)) as c:
        yield c


def test_runs_catalogue_matches_the_store(client, store_copy):
    rows = client.get("/api/runs").json()
    cat = store.list_runs(store_copy)
    assert [r["run_id"] for r in rows] == list(cat["run_id"])
    rid = rows[0]["run_id"]
    one = client.get(f"/api/runs/{rid}").json()
    summary = json.loads((store_copy / "runs" / rid / "summary.json").read_text())
    assert one["summary"]["liquidations_usd"] == summary["liquidations_usd"]
    assert "report.html" in one["files"] and "liquidation_map.png" in one["files"]


def test_series_sum_to_the_run_liquidations(client):
    rid = client.get("/api/runs").json()[0]["run_id"]
    s = client.get(f"/api/runs/{rid}/series").json()
    total = sum(sum(v["long_usd"]) + sum(v["short_usd"]) for v in s["liquidations"])
    summary = client.get(f"/api/runs/{rid}").json()["summary"]
    assert total == pytest.approx(summary["liquidations_usd"], rel=1e-6, abs=1.0)
    assert {p["asset"] for p in s["path"]} == set(summary["start_price_usd"])  # every asset of the scenario
    assert s["path"][0]["time"][0].startswith(summary["start_utc"][:10])


def test_unknown_run_and_traversal_are_refused(client, store_copy):
    rid = client.get("/api/runs").json()[0]["run_id"]
    assert client.get("/api/runs/nope").status_code == 404
    for name in ("..%2F..%2Fruns.duckdb", "..%2Fsummary.json", ".hidden", "a%5Cb"):
        r = client.get(f"/api/runs/{rid}/files/{name}")
        assert r.status_code in (400, 404), name
    assert client.get(f"/api/runs/{rid}/files/steps.parquet").status_code == 404  # not a served kind
    assert client.get("/api/liqmap", params={"bars": "../runs.duckdb", "open_interest": "x.csv"}).status_code == 400
    assert client.get("/api/liqmap", params={"bars": "/etc/passwd", "open_interest": "x.csv"}).status_code == 400
    assert client.get("/api/liqmap/snapshot", params={"name": "../../etc/hosts"}).status_code == 400
    # a symlink inside data/ pointing outside the store is refused as well
    (store_copy / "data").mkdir()
    (store_copy / "data" / "link.csv").symlink_to("/etc/hostname")
    r = client.get("/api/liqmap", params={"bars": "link.csv", "open_interest": "link.csv"})
    assert r.status_code == 400 and "outside" in r.json()["detail"]


def test_calculator_equals_the_library(client):
    body = {"side": "long", "entry": 70_000, "margin": 1_000, "leverage": 20}
    got = client.post("/api/liqprice", json=body).json()["venues"]
    want = lp.compare_venues(**body)
    assert set(got) == set(want)
    for v in want:
        if "error" not in want[v]:
            assert got[v]["liquidation_price"] == pytest.approx(want[v]["liquidation_price"])
    one = client.post("/api/liqprice", json=dict(body, venue="bybit")).json()["venues"]
    assert list(one) == ["bybit"]


def test_calculator_bad_input_is_a_clear_4xx(client):
    r = client.post("/api/liqprice", json={"side": "sideways", "entry": 1, "margin": 1, "leverage": 2})
    assert r.status_code == 422 and r.json()["detail"].startswith("side:")
    r = client.post("/api/liqprice", json={"side": "long", "entry": 70_000})
    assert r.status_code == 400 and "\n" not in r.json()["detail"]
    r = client.post("/api/liqprice", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422


def test_account(client):
    doc = {
        "venue": "binance",
        "wallet_balance": 10_000,
        "positions": [
            {"symbol": "BTC/USDT:USDT", "side": "long", "size": 1, "entry": 70_000, "mark": 69_000},
            {"symbol": "ETH/USDT:USDT", "side": "short", "size": 10, "entry": 2_000, "mark": 2_100},
        ],
    }
    got = client.post("/api/liqprice/account", json=doc).json()
    want = lp.frame_records(lp.account_figures({k: v for k, v in doc.items() if k != "venue"}, "binance"))
    assert [p["liquidation_price"] for p in got["positions"]] == pytest.approx([p["liquidation_price"] for p in want])


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is absent (a fresh clone)")
def test_liqmap_from_files_by_leverage_sums_to_the_whole(client, store_copy):
    data = store_copy / "data"
    data.mkdir(exist_ok=True)
    shutil.copy(SHARED / "binance_2026_harthor" / "binance_usdm_BTCUSDT_5m_2026-01-01_2026-02-19.csv", data)
    shutil.copy(SHARED / "binance_oi_2026_hlreaper" / "binance_usdm_BTCUSDT_oi_5m_2026-01-01_2026-02-28.csv", data)
    assert {f["name"] for f in client.get("/api/data").json()["data"]} >= {
        "binance_usdm_BTCUSDT_5m_2026-01-01_2026-02-19.csv"
    }
    params = {
        "bars": "binance_usdm_BTCUSDT_5m_2026-01-01_2026-02-19.csv",
        "open_interest": "binance_usdm_BTCUSDT_oi_5m_2026-01-01_2026-02-28.csv",
        "start": "2026-01-25",
        "at": "2026-02-05T12:00:00Z",
        "bin": 100,
        "lo": 60_000,
        "hi": 100_000,
    }
    r = client.get("/api/liqmap", params=params)
    assert r.status_code == 200, r.text
    m = r.json()
    assert m["at"] == "2026-02-05T12:00:00Z" and m["model"]["label"] == "estimated"
    longs = [sum(v["long_usd"][i] for v in m["by_leverage"].values()) for i in range(len(m["levels"]))]
    assert longs == pytest.approx(m["long_usd"], rel=1e-9, abs=1e-6)
    below = [l for l, v in zip(m["levels"], m["long_usd"]) if v > 1.0]  # a dollar and up: not float dust
    assert below and max(below) < m["price"] + 100  # long levels sit below the price
    assert m["inputs"][1]["age_at_map_s"] is not None and m["inputs"][1]["age_at_map_s"] <= 300
    assert len(m["heatmap"]["x"]) <= 200
    # bounds: too many levels, a range over a factor 10
    assert client.get("/api/liqmap", params=dict(params, bin=1)).status_code == 400
    assert client.get("/api/liqmap", params=dict(params, lo=1_000)).status_code == 400
    assert client.get("/api/liqmap", params=dict(params, columns=100_000)).status_code == 422


def test_openapi_documents_the_api(client):
    paths = client.get("/openapi.json").json()["paths"]
    for p in (
        "/api/runs",
        "/api/runs/{run_id}",
        "/api/runs/{run_id}/series",
        "/api/liqprice",
        "/api/liqmap",
        "/api/liqmap/snapshot",
        "/api/jobs",
        "/api/jobs/{job_id}",
        "/api/monitor",
    ):
        assert p in paths, p


def test_plotly_is_served_from_the_package(client):
    import plotly.offline

    r = client.get("/static/plotly.min.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/javascript")
    assert len(r.content) > 1_000_000
    assert plotly.offline.get_plotlyjs()[:200] in r.text[:2000]


def test_liqmap_of_the_latest_snapshot(client, store_copy):
    """A snapshot (the snapshot tests' recorded Binance answers, through ccxt's parsers) spread over the
    leverage mix at its mark: every bucket's USD is on the map, longs below the mark, shorts above."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import test_snapshot as ts

    from liqcascade.liqmap import DEFAULT_LEVERAGE_MIX

    assert client.get("/api/liqmap/snapshot").status_code == 404  # none yet: said so
    state, _ = ts.snapshot("binance")
    (store_copy / "snapshots").mkdir()
    state.to_json(store_copy / "snapshots" / "binance-btc.json")
    m = client.get("/api/liqmap/snapshot").json()
    assert m["inputs"][0]["file"] == "binance-btc.json" and m["inputs"][0]["age_s"] > 0
    assert sum(m["long_usd"]) == pytest.approx(state.open_interest_usd * 0.5)
    assert sum(m["short_usd"]) == pytest.approx(state.open_interest_usd * 0.5)
    levels = [lv for lv, v in zip(m["levels"], m["long_usd"]) if v > 0]
    assert max(levels) < state.mark < min(lv for lv, v in zip(m["levels"], m["short_usd"]) if v > 0)
    assert set(m["by_leverage"]) == {f"{k:g}x" for k in DEFAULT_LEVERAGE_MIX}
    # the 100x longs sit within 1 % under the mark
    assert m["within_pct"]["1"]["long_usd"] >= state.open_interest_usd * 0.5 * DEFAULT_LEVERAGE_MIX[100.0]
    assert m["heatmap"] is None
