"""The run store: each run's frames and summary in ``OUT/runs/<run_id>/``, catalogued in DuckDB.

Layout of an output directory::

    OUT/runs.duckdb              the catalogue: one row per run (table ``runs``)
    OUT/runs/<run_id>/           steps.parquet, events.parquet, waves.parquet, summary.json,
                                 ledger.json, parameters.json, scenario.toml, and the report

**Atomic.**  A run is written into a hidden sibling ``OUT/runs/.<run_id>.tmp-<pid>`` and renamed
into place (:func:`liqcascade._io.staged_dir`) only when everything in it is written; then it is
catalogued.  An exception (or Ctrl-C) while writing removes the staging directory; a failed
catalogue insert removes the renamed directory again.  A staging directory left by a killed
process is removed by the next run once its process is gone.  So ``OUT/runs/`` holds complete
runs only, and the catalogue lists exactly those.

The catalogue's columns: run id, created (UTC), scenario, scenario and parameters hashes, seed,
code version, positions, the headline figures as columns (USD, fractions, counts), the targets
met, and the full summary as JSON.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from . import __version__
from ._io import staged_dir
from .errors import InputError

CATALOGUE = "runs.duckdb"
RUNS_DIR = "runs"
FRAMES = ("steps", "events", "waves")

# (column, DuckDB type, summary key); dict-valued figures are JSON columns
_COLUMNS: tuple[tuple[str, str, str | None], ...] = (
    ("run_id", "VARCHAR PRIMARY KEY", "run_id"),
    ("created_utc", "TIMESTAMP", None),
    ("scenario", "VARCHAR", "scenario"),
    ("scenario_hash", "VARCHAR", "scenario_hash"),
    ("parameters_hash", "VARCHAR", "parameters_hash"),
    ("overridden_parameters", "JSON", "overridden_parameters"),
    ("seed", "BIGINT", "seed"),
    ("code_version", "VARCHAR", "code_version"),
    ("positions", "BIGINT", "positions"),
    ("accounts", "BIGINT", "accounts"),
    ("horizon_hours", "DOUBLE", "horizon_hours"),
    ("liquidations_usd", "DOUBLE", "liquidations_usd"),
    ("liquidations_usd_reported", "DOUBLE", "liquidations_usd_reported"),
    ("accounts_liquidated", "BIGINT", "accounts_liquidated"),
    ("accounts_liquidated_full_scale", "DOUBLE", "accounts_liquidated_full_scale"),
    ("long_share", "DOUBLE", "long_share"),
    ("largest_liquidation_usd", "DOUBLE", "largest_liquidation_usd"),
    ("largest_liquidation_venue", "VARCHAR", "largest_liquidation_venue"),
    ("adl_usd", "DOUBLE", "adl_usd"),
    ("bad_debt_usd", "DOUBLE", "bad_debt_usd"),
    ("branching_ratio_max", "DOUBLE", "branching_ratio_max"),
    ("ledger_imbalance_usd", "DOUBLE", "ledger_imbalance_usd"),
    ("by_venue_usd", "JSON", "by_venue_usd"),
    ("by_asset_usd", "JSON", "by_asset_usd"),
    ("drawdown_pct", "JSON", "drawdown_pct"),
    ("low_usd", "JSON", "low_usd"),
    ("targets", "VARCHAR", None),
    ("targets_met", "INTEGER", None),
    ("targets_total", "INTEGER", None),
    ("path", "VARCHAR", None),
    ("summary", "JSON", None),
)
COLUMNS = tuple(c for c, _, _ in _COLUMNS)


# ---------------------------------------------------------------------------------- identity
def code_version() -> str:
    """The package version, with the git commit when running from a clone (``0.1.0+g83e2ad4``)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        )
        if out.returncode == 0 and out.stdout.strip():
            return f"{__version__}+g{out.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        pass
    return __version__


def new_run_id(scenario: str, seed: int, now: datetime | None = None) -> str:
    """``20260205T120000Z-feb-2026-s0-1a2b3c``: sortable by time, readable, unique."""
    now = now or datetime.now(timezone.utc)
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", scenario).strip("-")[:40] or "run"
    return f"{now:%Y%m%dT%H%M%SZ}-{slug}-s{int(seed)}-{secrets.token_hex(3)}"


# ---------------------------------------------------------------------------------- JSON
def _clean(obj: Any) -> Any:
    """JSON-safe: NaN/inf → None, NumPy scalars → Python, tuples → lists."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dumps(obj: Any) -> str:
    return json.dumps(_clean(obj), indent=2, allow_nan=False, ensure_ascii=False)


# ---------------------------------------------------------------------------------- staging
@dataclass
class StagedRun:
    """A run being written: write into :attr:`path`; on leaving the ``with`` block it moves to
    :attr:`final` and is catalogued."""

    out_dir: Path
    run_id: str
    path: Path
    final: Path
    summary: dict
    created: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: an existence check, sends nothing
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_staging(runs: Path) -> None:
    for p in runs.glob(".*.tmp-*"):
        m = re.search(r"\.tmp-(\d+)$", p.name)
        if p.is_dir() and m and not _pid_alive(int(m.group(1))):
            shutil.rmtree(p, ignore_errors=True)


def _out_dir(out_dir: str | Path) -> Path:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a directory", field="out")
    return out


@contextlib.contextmanager
def staged_run(out_dir: str | Path, summary: dict, *, run_id: str | None = None) -> Iterator[StagedRun]:
    """Stage a run in a hidden sibling directory; commit it (rename + catalogue) when the block
    ends normally, remove it when the block raises (including ``KeyboardInterrupt``).

    ``summary`` is the run's summary; the stage's copy (:attr:`StagedRun.summary`) carries the
    run id, creation time (UTC) and code version as well — write that one.
    """
    out = _out_dir(out_dir)
    runs = out / RUNS_DIR
    try:
        runs.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create {runs}: {e.strerror or e}", field="out") from None
    _remove_stale_staging(runs)
    run_id = run_id or new_run_id(str(summary.get("scenario", "run")), int(summary.get("seed", 0)))
    final = runs / run_id
    if final.exists():
        raise InputError(f"run {run_id} already exists in {runs}", field="run_id")
    created = datetime.now(timezone.utc)
    stamped = dict(
        summary,
        run_id=run_id,
        created_utc=created.isoformat(timespec="seconds").replace("+00:00", "Z"),
        code_version=code_version(),
    )
    with staged_dir(final) as tmp:  # OUT/runs/.<run_id>.tmp-<pid>, renamed into place at the end
        stage = StagedRun(out, run_id, tmp, final, stamped, created)
        yield stage
        if not (tmp / "summary.json").is_file():
            raise RuntimeError(f"staged run {run_id} has no summary.json; nothing committed")
    try:
        register(out, stage.summary, created=created, path=final)
    except BaseException:
        shutil.rmtree(final, ignore_errors=True)
        raise


def write_run(directory: str | Path, run, summary: dict, *, scenario=None) -> None:
    """Write a run's frames (Parquet), ledger, parameters, scenario text and, last, its summary
    into ``directory`` (a staging directory: see :func:`staged_run`)."""
    d = Path(directory)
    run.to_parquet(d)
    (d / "ledger.json").write_text(dumps(run.ledger) + "\n", "utf-8")
    if scenario is not None:
        (d / "scenario.toml").write_text(scenario.text, "utf-8")
        (d / "parameters.json").write_text(dumps(scenario.params.model_dump(mode="json")) + "\n", "utf-8")
    (d / "summary.json").write_text(dumps(summary) + "\n", "utf-8")


def write_observed(directory: str | Path, observed) -> None:
    """An observed replay's own frames beside the run's (a staging directory): the attribution
    (``attribution.parquet``) and the flow the real path implies, summed per 5 minutes
    (``implied_flow_5m.parquet``; USD per asset, ``time_s`` the interval's start)."""
    d = Path(directory)
    observed.attribution.frame.to_parquet(d / "attribution.parquet")
    flow = observed.run.implied_flow_usd
    flow.groupby((flow["time_s"] // 300) * 300).sum().drop(columns="time_s").rename_axis(
        "time_s"
    ).reset_index().to_parquet(d / "implied_flow_5m.parquet")


def save_run(out_dir: str | Path, run, summary: dict, *, scenario=None, run_id: str | None = None, extra=None) -> Path:
    """Write and catalogue a run in one call; ``extra(directory, summary)`` may add files (the
    report) before the commit.  Returns the run's directory."""
    with staged_run(out_dir, summary, run_id=run_id) as stage:
        write_run(stage.path, run, stage.summary, scenario=scenario)
        if extra is not None:
            extra(stage.path, stage.summary)
    return stage.final


# ---------------------------------------------------------------------------------- catalogue
def _connect(path: Path, *, read_only: bool = False, attempts: int = 40):
    """Open the catalogue, waiting while another process holds its lock (DuckDB allows one
    writer process at a time).  A catalogue that is not a DuckDB file (a directory, a corrupt or
    foreign file) is an :class:`InputError` naming it."""
    import duckdb

    if path.exists() and not path.is_file():
        raise InputError(
            f"{path} is not a file (a directory?): the catalogue cannot be read; move it away", field="out"
        )
    delay = 0.05
    for i in range(attempts):
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as e:
            if "lock" in str(e).lower() and i < attempts - 1:
                time.sleep(delay)
                delay = min(delay * 1.5, 0.5)
                continue
            raise InputError(
                f"{path}: not a readable DuckDB catalogue ({_first_line(e)}); move it away", field="out"
            ) from None
        except (duckdb.Error, OSError) as e:
            raise InputError(
                f"{path}: not a readable DuckDB catalogue ({_first_line(e)}); move it away", field="out"
            ) from None
    raise AssertionError("unreachable")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def check_catalogue(out_dir: str | Path) -> None:
    """Refuse, before any work, an ``OUT/runs.duckdb`` that exists but cannot be read (a
    directory, a corrupt file): a run would otherwise be computed and then fail to register."""
    path = Path(out_dir) / CATALOGUE
    if path.exists():
        _connect(path, read_only=True, attempts=1).close()


def _ensure_table(con, table: str, columns) -> None:
    """Create ``table`` with ``columns`` (name, DuckDB type) if needed; a table from an older
    version gains the columns it lacks."""
    cols = ",\n  ".join(f"{c} {t}" for c, t in columns)
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} (\n  {cols}\n)")
    have = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
        ).fetchall()
    }
    for c, t in columns:
        if c not in have:
            con.execute(f"ALTER TABLE {table} ADD COLUMN {c} {t.replace(' PRIMARY KEY', '')}")


def insert_row(out_dir: str | Path, table: str, columns, values, *, replace: tuple[str, Any] | None = None) -> None:
    """Insert one row into ``table`` of ``OUT/runs.duckdb`` (created or extended as needed);
    ``replace=(column, value)`` first deletes the rows holding that key."""
    con = _connect(Path(out_dir) / CATALOGUE)
    try:
        _ensure_table(con, table, columns)
        if replace is not None:
            con.execute(f"DELETE FROM {table} WHERE {replace[0]} = ?", [replace[1]])
        names = ", ".join(c for c, _ in columns)
        con.execute(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})", values)
    finally:
        con.close()


def read_table(out_dir: str | Path, table: str, columns, order_by: str) -> pd.DataFrame:
    """``table`` of ``OUT/runs.duckdb`` as a frame ordered by ``order_by`` (empty, with
    ``columns``' names, when the catalogue or the table does not exist)."""
    import duckdb

    path = Path(out_dir) / CATALOGUE
    empty = pd.DataFrame(columns=[c for c, _ in columns])
    if not path.exists():
        return empty
    con = _connect(path, read_only=True)
    try:
        if not con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]).fetchone()[
            0
        ]:
            return empty
        return con.execute(f"SELECT * FROM {table} ORDER BY {order_by}").df()
    except duckdb.Error as e:
        raise InputError(f"{path}: the {table} table cannot be read ({_first_line(e)})", field="out") from None
    finally:
        con.close()


def register(out_dir: str | Path, summary: dict, *, created: datetime, path: Path) -> None:
    """Add one run to ``OUT/runs.duckdb``."""
    out = Path(out_dir)
    clean = _clean(summary)
    tg = clean.get("targets") or {}
    values = []
    for c, t, key in _COLUMNS:
        if key is not None:
            v = clean.get(key)
            values.append(json.dumps(v) if t == "JSON" else v)
        elif c == "created_utc":
            values.append(created.astimezone(timezone.utc).replace(tzinfo=None))
        elif c == "targets":
            values.append(tg.get("name"))
        elif c == "targets_met":
            values.append(tg.get("met"))
        elif c == "targets_total":
            values.append(tg.get("total"))
        elif c == "path":
            values.append(str(Path(path).relative_to(out)) if Path(path).is_relative_to(out) else str(path))
        elif c == "summary":
            values.append(json.dumps(clean, allow_nan=False))
    insert_row(out, "runs", [(c, t) for c, t, _ in _COLUMNS], values)


def list_runs(out_dir: str | Path) -> pd.DataFrame:
    """The catalogue of ``out_dir`` as a frame, oldest first (empty when there is none)."""
    return read_table(out_dir, "runs", [(c, t) for c, t, _ in _COLUMNS], "created_utc, run_id")


def run_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The catalogue (:func:`list_runs`) as JSON-ready records without the full summaries: the
    JSON columns parsed, missing values None, the creation time as text."""
    body = frame.drop(columns=["summary"])
    rows = []
    for rec in body.astype(object).where(body.notna(), None).to_dict(orient="records"):
        for k in ("overridden_parameters", "by_venue_usd", "by_asset_usd", "drawdown_pct", "low_usd"):
            if isinstance(rec.get(k), str):
                rec[k] = json.loads(rec[k])
        rec["created_utc"] = str(rec["created_utc"]) if rec.get("created_utc") is not None else None
        rows.append(rec)
    return rows


def read_run(out_dir: str | Path, run_id: str) -> dict[str, Any]:
    """A stored run: ``summary`` (dict) and its frames (``steps``, ``events``, ``waves``)."""
    d = Path(out_dir) / RUNS_DIR / run_id
    if not (d / "summary.json").is_file():
        raise InputError(f"no run {run_id!r} in {Path(out_dir) / RUNS_DIR}", field="run_id")
    res: dict[str, Any] = {"summary": json.loads((d / "summary.json").read_text("utf-8")), "path": d}
    for name in FRAMES:
        res[name] = pd.read_parquet(d / f"{name}.parquet")
    return res
