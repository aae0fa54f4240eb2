"""The dashboard's FastAPI application: a JSON API (documented by its OpenAPI schema at
``/openapi.json``, browsable at ``/docs``) and the static pages built on it.

``create_app(out_dir)`` serves the run store in ``out_dir``: the catalogue and each run
(``/api/runs``), the liquidation-price calculator (``/api/liqprice``), liquidation maps from data
files in ``OUT/data/`` or snapshots in ``OUT/snapshots/`` (``/api/liqmap``), stress-test jobs
(``/api/jobs``) and the monitor's alerts (``/api/monitor``).  Bad input is an HTTP 4xx whose
``detail`` is one line naming the field; nothing outside ``out_dir`` is read or written.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import json
import math
import time
from pathlib import Path
from typing import Any, Literal, Optional

import pandas as pd
from fastapi import Body, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from .. import liqprice as lp
from .. import store
from ..errors import InputError
from . import files, maps
from .jobs import JobLimit, JobManager, RunRequest, SweepRequest

STATIC = Path(__file__).resolve().parent / "static"
RUN_FILES = (".png", ".html", ".json", ".toml")
PAGES = ("runs", "map", "calculator", "stress", "monitor")


def _clean(obj: Any) -> Any:
    return store._clean(obj)


def _one_line(err: RequestValidationError) -> str:
    e = err.errors()[0]
    where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path"))
    more = f" (and {len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"{where or 'request'}: {e.get('msg', 'invalid')}{more}"


# ------------------------------------------------------------------------------ request bodies
class Position(BaseModel):
    """One position; give two of size, margin and leverage."""

    model_config = ConfigDict(extra="forbid")
    side: Literal["long", "short"]
    entry: float = Field(..., gt=0, le=1e9, description="entry price, USD")
    size: Optional[float] = Field(None, gt=0, le=1e9, description="base units")
    margin: Optional[float] = Field(None, gt=0, le=1e12, description="USD")
    leverage: Optional[float] = Field(None, gt=0, le=1000)
    mode: Optional[Literal["isolated", "cross"]] = None
    symbol: Optional[str] = Field(None, max_length=40, pattern=r"^[A-Z0-9]{1,15}/[A-Z0-9]{1,10}(:[A-Z0-9]{1,10})?$")
    venue: Optional[Literal["binance", "bybit", "okx", "hyperliquid"]] = Field(
        None, description="omitted: every venue side by side"
    )


class AccountPosition(BaseModel):
    model_config = ConfigDict(extra="allow")
    symbol: str = Field(..., max_length=40)
    side: Literal["long", "short"]
    size: float = Field(..., gt=0, le=1e9)
    entry: float = Field(..., gt=0, le=1e9)
    mark: Optional[float] = Field(None, gt=0, le=1e9)


class Account(BaseModel):
    model_config = ConfigDict(extra="forbid")
    venue: Literal["binance", "bybit", "okx", "hyperliquid"]
    wallet_balance: float = Field(..., ge=0, le=1e12, description="USD")
    positions: list[AccountPosition] = Field(..., min_length=1, max_length=200)


# ------------------------------------------------------------------------------ the app
def create_app(out_dir: str | Path, *, max_jobs: int = 1, max_job_memory_mb: float = 4096.0) -> FastAPI:
    """The application over the run store ``out_dir`` (created if missing)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a directory", field="out")
    out.mkdir(parents=True, exist_ok=True)
    jobs = JobManager(out, max_jobs=max_jobs, max_memory_mb=max_job_memory_mb)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        jobs.shutdown()

    app = FastAPI(
        title="liqcascade dashboard",
        version="1",
        lifespan=lifespan,
        description="Runs, liquidation maps, the liquidation-price calculator, stress-test jobs and the "
        "cascade-risk monitor of a liqcascade run store. Amounts in USD, prices in USD per "
        "base unit, times UTC.",
    )
    app.state.out = out
    app.state.jobs = jobs

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError):
        return JSONResponse({"detail": " ".join(str(exc).split())}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        return JSONResponse({"detail": _one_line(exc)}, status_code=422)

    _routes(app, out)
    return app


@functools.lru_cache(maxsize=8)
def _run_series(run_dir: str, mtime: float) -> dict[str, Any]:
    """Minute bars of a stored run: the path per market and the liquidations by venue and side."""
    from ..report import minute_bars

    d = Path(run_dir)
    summary = json.loads((d / "summary.json").read_text("utf-8"))
    steps = pd.read_parquet(
        d / "steps.parquet",
        columns=[
            "time_s",
            "venue",
            "asset",
            "mark",
            "depth_1pct_usd",
            "liq_long_usd",
            "liq_short_usd",
            "insurance_fund_usd",
            "adl_usd",
            "bad_debt_usd",
        ],
    )
    bars = minute_bars(steps)
    start = pd.Timestamp(summary.get("start_utc") or 0, tz="UTC") if summary.get("start_utc") else None

    def times(sec):
        if start is None:
            return [float(s) for s in sec]
        return [(start + pd.to_timedelta(float(s), unit="s")).strftime("%Y-%m-%dT%H:%M:%SZ") for s in sec]

    path, liq = [], []
    for (venue, asset), g in bars.groupby(["venue", "asset"], sort=True):
        path.append({"venue": venue, "asset": asset, "time": times(g["bar_s"]), "mark": g["mark"].round(4).tolist()})
    by_venue = bars.groupby(["venue", "bar_s"], sort=True)[["liq_long_usd", "liq_short_usd"]].sum().reset_index()
    for venue, g in by_venue.groupby("venue", sort=True):
        liq.append(
            {
                "venue": venue,
                "time": times(g["bar_s"]),
                "long_usd": g["liq_long_usd"].round(2).tolist(),
                "short_usd": g["liq_short_usd"].round(2).tolist(),
            }
        )
    return {"bar_seconds": 60, "path": path, "liquidations": liq}


def _routes(app: FastAPI, out: Path) -> None:
    data_dir = out / files.DATA_DIR
    snap_dir = out / files.SNAPSHOTS_DIR

    # ---------------------------------------------------------------- health and pages
    catalogue = _Catalogue(out)

    @app.get("/api/health", tags=["meta"])
    async def health() -> dict:
        """Liveness: the store's path, the number of catalogued runs and of running jobs."""
        rows, _ = await catalogue.get()
        return {
            "status": "ok",
            "out": str(out),
            "runs": len(rows),
            "jobs_running": app.state.jobs.running(),
            "max_jobs": app.state.jobs.max_jobs,
        }

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str):
        if name == "plotly.min.js":
            return FileResponse(
                _plotly_js(), media_type="application/javascript", headers={"Cache-Control": "public, max-age=86400"}
            )
        p = files.inside(STATIC, name)
        media = {".js": "application/javascript", ".css": "text/css", ".html": "text/html"}.get(p.suffix, "text/plain")
        return FileResponse(p, media_type=media)

    # ---------------------------------------------------------------- runs
    @app.get("/api/runs", tags=["runs"], response_model=list[dict])
    async def runs():
        """The catalogue (``OUT/runs.duckdb``), oldest first, without the full summaries."""
        _, body = await catalogue.get()
        return Response(body, media_type="application/json")

    def _run_dir(run_id: str) -> Path:
        files.safe_name(run_id, "run_id")
        d = files.inside(out / store.RUNS_DIR, run_id, "run_id", must_exist=False)
        if not (d / "summary.json").is_file():
            raise HTTPException(404, f"no run {run_id!r} in this store")
        return d

    @app.get("/api/runs/{run_id}", tags=["runs"])
    async def run(run_id: str):
        """One run's summary, the simulated-vs-reported rows and its files."""
        d = _run_dir(run_id)
        return Response(_run_doc(str(d), (d / "summary.json").stat().st_mtime_ns), media_type="application/json")

    @app.get("/api/runs/{run_id}/series", tags=["runs"])
    def run_series(run_id: str) -> dict:
        """Minute bars: the mark price path per venue and asset, liquidations per minute by venue and side
        (USD)."""
        d = _run_dir(run_id)
        return _run_series(str(d), (d / "steps.parquet").stat().st_mtime)

    @app.get("/api/runs/{run_id}/files/{name}", tags=["runs"])
    def run_file(run_id: str, name: str):
        """A file of the run (report.html, the PNG charts, summary.json, …)."""
        d = _run_dir(run_id)
        p = files.inside(d, name, "name")
        if not p.name.lower().endswith(RUN_FILES):
            raise HTTPException(404, f"{name!r} is not served (only {', '.join(RUN_FILES)})")
        return FileResponse(p)

    @app.get("/api/sweeps", tags=["runs"])
    def sweeps() -> list[dict]:
        """The sweeps catalogued in ``OUT/runs.duckdb``."""
        from ..sweep import list_sweeps

        frame = list_sweeps(out)
        return [
            _clean({k: (str(v) if isinstance(v, pd.Timestamp) else v) for k, v in r.items()})
            for r in frame.to_dict(orient="records")
        ]

    # ---------------------------------------------------------------- calculator
    @app.post("/api/liqprice", tags=["calculator"])
    async def liqprice(position: Position):
        """Liquidation, bankruptcy and maintenance figures of one position: on one venue, or on every
        venue side by side (``venue`` omitted).  The answer is a pure function of the position: repeats
        are served from a cache of the last 4,096 positions; a new one is computed in a worker thread."""
        key = tuple(sorted(position.model_dump().items()))
        body = _liqprice_cache.get(key)
        if body is None:
            pending = _liqprice_pending.get(key)
            if pending is None:  # the first asker computes; concurrent askers of the same position wait for it
                pending = _liqprice_pending[key] = asyncio.get_running_loop().create_future()
                try:
                    body = await run_in_threadpool(_liqprice_body, position)
                    _liqprice_cache.put(key, body)
                    pending.set_result(body)
                except BaseException as exc:
                    pending.set_exception(exc)
                    pending.exception()  # retrieved: no "never retrieved" warning when nobody waits
                    raise
                finally:
                    _liqprice_pending.pop(key, None)
            else:
                body = await asyncio.shield(pending)
        return Response(body, media_type="application/json")

    @app.post("/api/liqprice/account", tags=["calculator"])
    def liqprice_account(account: Account) -> dict:
        """A cross-margin account: each position's liquidation price holding the others at their marks."""
        doc = {
            "wallet_balance": account.wallet_balance,
            "positions": [p.model_dump(exclude_none=True) for p in account.positions],
        }
        frame = lp.account_figures(doc, account.venue)
        return {"account": _clean(frame.attrs.get("account", {})), "positions": _clean(lp.frame_records(frame))}

    # ---------------------------------------------------------------- maps
    @app.get("/api/data", tags=["maps"])
    def data_files() -> dict:
        """Files usable by the map: ``OUT/data/`` (bars, open interest) and ``OUT/snapshots/`` (JSON)."""
        return {
            "data": files.listing(data_dir, (".csv", ".zip", ".gz")),
            "snapshots": files.listing(snap_dir, (".json",)),
        }

    @app.get("/api/liqmap", tags=["maps"])
    def liqmap(
        bars: str = Query(..., max_length=200, description="bars file in OUT/data/"),
        open_interest: str = Query(..., max_length=200, description="open-interest file in OUT/data/"),
        venue: Literal["binance", "bybit", "okx", "hyperliquid"] = "binance",
        symbol: str = Query(
            "BTC/USDT:USDT", max_length=40, pattern=r"^[A-Z0-9]{1,15}/[A-Z0-9]{1,10}(:[A-Z0-9]{1,10})?$"
        ),
        bin: Optional[float] = Query(None, gt=0, description="level height, USD"),
        lo: Optional[float] = Query(None, gt=0),
        hi: Optional[float] = Query(None, gt=0),
        long_share: float = Query(0.5, ge=0, le=1),
        start: Optional[str] = Query(None, max_length=40, description="first bar, ISO UTC"),
        at: Optional[str] = Query(None, max_length=40, description="the map's moment, ISO UTC"),
        columns: int = Query(200, ge=1, le=maps.MAX_COLUMNS),
    ) -> dict:
        """The estimated liquidation map at one moment (levels by leverage, cumulative from the price) and
        the heatmap over time, from a bars file and an open-interest file."""
        bp = files.inside(data_dir, bars, "bars")
        op = files.inside(data_dir, open_interest, "open_interest")
        return _clean(
            maps.file_map(
                bp,
                op,
                venue=venue,
                symbol=symbol,
                bin_size=bin,
                lo=lo,
                hi=hi,
                long_share=long_share,
                start_ms=_ms(start, "start"),
                at_ms=_ms(at, "at"),
                columns=columns,
            )
        )

    @app.get("/api/liqmap/snapshot", tags=["maps"])
    def liqmap_snapshot(
        name: Optional[str] = Query(
            None, max_length=200, description="snapshot JSON in OUT/snapshots/; default the latest"
        ),
        bin: Optional[float] = Query(None, gt=0),
        lo: Optional[float] = Query(None, gt=0),
        hi: Optional[float] = Query(None, gt=0),
        long_share: float = Query(0.5, ge=0, le=1),
    ) -> dict:
        """The leverage-bucket map of a snapshot (``liqcascade snapshot --out OUT/snapshots/x.json``)."""
        from ..snapshot import MarketState

        if name is None:
            snaps = files.listing(snap_dir, (".json",))
            if not snaps:
                raise HTTPException(404, "no snapshot in snapshots/: write one with `liqcascade snapshot`")
            name = snaps[0]["name"]
        state = MarketState.from_json(files.inside(snap_dir, name, "name"))
        res = maps.snapshot_map(
            state, bin_size=bin, lo=lo, hi=hi, long_share=long_share, now_ms=int(time.time() * 1000)
        )
        res["inputs"][0]["file"] = name
        return _clean(res)

    # ---------------------------------------------------------------- jobs
    @app.post("/api/jobs", tags=["jobs"], status_code=202)
    def submit(request: RunRequest | SweepRequest = Body(..., discriminator="kind")) -> dict:
        """Launch a replay (``kind: run``) or a sweep (``kind: sweep``) in a worker process.  429 when the
        configured number of jobs is already running."""
        try:
            job = app.state.jobs.submit(request)
        except JobLimit as exc:
            raise HTTPException(429, str(exc)) from None
        return job.to_dict()

    @app.get("/api/jobs", tags=["jobs"])
    def jobs() -> list[dict]:
        return [j.to_dict() for j in app.state.jobs.jobs.values()]

    def _job(job_id: str):
        files.safe_name(job_id, "job_id")
        try:
            return app.state.jobs.get(job_id)
        except KeyError:
            raise HTTPException(404, f"no job {job_id!r}") from None

    @app.get("/api/jobs/{job_id}", tags=["jobs"])
    def job(job_id: str) -> dict:
        return _job(job_id).to_dict()

    @app.delete("/api/jobs/{job_id}", tags=["jobs"])
    def cancel(job_id: str) -> dict:
        """Cancel a running job (its worker is terminated; nothing half-written stays in the store)."""
        _job(job_id)
        return app.state.jobs.cancel(job_id).to_dict()

    @app.get("/api/jobs/{job_id}/events", tags=["jobs"])
    async def job_events(job_id: str):
        """Server-sent events: the job's state every half second until it ends."""
        j = _job(job_id)

        async def stream():
            last = None
            while True:
                doc = json.dumps(_clean(j.to_dict()), allow_nan=False)
                if doc != last:
                    yield f"data: {doc}\n\n"
                    last = doc
                if j.state != "running":
                    return
                await asyncio.sleep(0.5)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    # ---------------------------------------------------------------- monitor
    @app.get("/api/monitor", tags=["monitor"])
    def monitor(limit: int = Query(200, ge=1, le=5000)) -> dict:
        """The monitor's latest state per symbol and its alerts (newest last), from ``OUT/monitor/``."""
        mdir = out / files.MONITOR_DIR
        return {"state": _read_json(mdir / "state.json"), "alerts": _tail_jsonl(mdir / "alerts.jsonl", limit)}


def _read_json(p: Path):
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text("utf-8"))
    except ValueError:
        return None


def _tail_jsonl(p: Path, limit: int) -> list[dict]:
    if not p.is_file():
        return []
    out = []
    with open(p, encoding="utf-8") as fh:
        for line in fh:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out[-limit:]


def _ms(text: Optional[str], field: str) -> Optional[int]:
    if text is None or text == "":
        return None
    t = pd.to_datetime(text, utc=True, errors="coerce")
    if pd.isna(t):
        raise InputError(f"{text!r} is not a date/time", field=field)
    return int(t.value // 1_000_000)


@functools.lru_cache(maxsize=1)
def _plotly_js() -> Path:
    """plotly.min.js of the installed plotly package (served once, cached by the browser)."""
    import plotly

    p = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    if not p.is_file():  # pragma: no cover - every plotly wheel ships it
        raise RuntimeError(f"plotly.min.js not found in {p.parent}")
    return p


class _Catalogue:
    """The catalogue's rows and their JSON, read again only when ``runs.duckdb`` (or its WAL) changes
    on disk: a DuckDB read costs tens of milliseconds, a stat microseconds."""

    def __init__(self, out: Path):
        self.out = out
        self._key = None
        self._rows: list[dict] = []
        self._body = b"[]"
        self._lock = asyncio.Lock()

    def _stat(self):
        key = []
        for name in (store.CATALOGUE, store.CATALOGUE + ".wal"):
            try:
                st = (self.out / name).stat()
                key.append((st.st_mtime_ns, st.st_size))
            except FileNotFoundError:
                key.append(None)
        return tuple(key)

    async def get(self) -> tuple[list[dict], bytes]:
        key = self._stat()
        if key != self._key:
            async with self._lock:
                if key != self._key:
                    rows = await run_in_threadpool(_catalogue_rows, self.out)
                    self._rows, self._body, self._key = rows, json.dumps(rows, allow_nan=False).encode(), key
        return self._rows, self._body


def _catalogue_rows(out: Path) -> list[dict]:
    frame = store.list_runs(out)
    rows = []
    for rec in frame.drop(columns=["summary"]).to_dict(orient="records"):
        for k in ("overridden_parameters", "by_venue_usd", "by_asset_usd", "drawdown_pct", "low_usd"):
            if isinstance(rec.get(k), str):
                rec[k] = json.loads(rec[k])
        rec["created_utc"] = None if rec.get("created_utc") is None else str(rec["created_utc"])
        rows.append(
            _clean({k: (None if (isinstance(v, float) and math.isnan(v)) or v is pd.NA else v) for k, v in rec.items()})
        )
    return rows


@functools.lru_cache(maxsize=64)
def _run_doc(run_dir: str, mtime_ns: int) -> bytes:
    d = Path(run_dir)
    summary = json.loads((d / "summary.json").read_text("utf-8"))
    doc = {
        "run_id": d.name,
        "summary": summary,
        "comparison": (summary.get("targets") or {}).get("rows", []),
        "files": [f["name"] for f in files.listing(d, RUN_FILES)],
    }
    return json.dumps(_clean(doc), allow_nan=False).encode()


class _LRU:
    def __init__(self, size: int):
        self.size = size
        self.data: "collections.OrderedDict" = collections.OrderedDict()

    def get(self, key):
        v = self.data.get(key)
        if v is not None:
            self.data.move_to_end(key)
        return v

    def put(self, key, value) -> None:
        self.data[key] = value
        self.data.move_to_end(key)
        while len(self.data) > self.size:
            self.data.popitem(last=False)


_liqprice_cache = _LRU(4096)
_liqprice_pending: dict = {}


def _liqprice_body(position: Position) -> bytes:
    kw = position.model_dump(exclude={"venue"})
    if position.venue is not None:
        doc = {"venues": {position.venue: lp.position_figures(venue=position.venue, **kw)}}
    else:
        doc = {"venues": lp.compare_venues(**kw)}
    return json.dumps(_clean(doc), allow_nan=False).encode()
