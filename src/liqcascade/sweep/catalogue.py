"""A sweep's summary and its row in the ``sweeps`` table of ``OUT/runs.duckdb``."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from .plan import Plan, _label
from .risk import _CRIT_FIELDS, grid_finding


def _summary(pl: Plan, sweep_id, frame, agg, backend, n_workers, elapsed, computed) -> dict[str, Any]:
    from ..store import code_version
    from ..summary import parameters_hash, scenario_hash

    crit = agg["critical"].to_dict("records")
    pooled = agg["pooled"].iloc[0].to_dict() if len(agg["pooled"]) else {}
    risk = {}
    for a in pl.spec.levels:
        tag = f"{a * 100:g}".replace(".", "_")
        risk[f"{a:g}"] = {
            "var_usd": pooled.get(f"liquidation_var{tag}_usd"),
            "es_usd": pooled.get(f"liquidation_es{tag}_usd"),
        }
    return {
        "sweep_id": sweep_id,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "scenario": pl.scenario.name,
        "scenario_hash": scenario_hash(pl.scenario),
        "parameters_hash": parameters_hash(pl.scenario),
        "spec_hash": pl.spec_hash,
        "code_version": code_version(),
        "spec": pl.spec.model_dump(mode="json"),
        "axes": {k: [_label(v) for v in vals] for k, vals in pl.axes},
        "cells": pl.n_cells,
        "paths_total": pl.n_paths,
        "paths_per_cell": pl.spec.paths,
        "paths_computed_now": computed,
        "positions": pl.spec.positions,
        "n_steps": pl.n_steps,
        "step_seconds": pl.dt,
        "backend": backend,
        "workers": n_workers,
        "seconds": elapsed,
        "critical": crit,
        "critical_shock_usd": crit[0]["critical_shock_usd"] if crit else None,
        "critical_status": crit[0]["status"] if crit else None,
        "largest_jump_at_usd": crit[0]["largest_jump_at_usd"] if crit else None,
        "finding": _first_finding(agg["curve"], agg["critical"]),
        "liquidation_risk_pooled": risk,
        "liquidated_usd_median": pooled.get("liquidated_usd_q50"),
        "drawdown_pct_median": pooled.get("drawdown_pct_q50"),
    }


def _first_finding(curve: pd.DataFrame, crit: pd.DataFrame) -> str | None:
    """:func:`grid_finding` of the first curve (the one the summary's critical shock is of)."""
    if not len(crit):
        return None
    first = curve
    for k in (c for c in crit.columns if c in curve.columns and c != "shock_usd" and c not in _CRIT_FIELDS):
        first = first[first[k] == crit.iloc[0][k]]
    return grid_finding(
        first["shock_usd"], first["branching_ratio_median"], first["drawdown_pct_median"], crit.iloc[0].to_dict()
    )


_SWEEP_COLUMNS = (
    ("sweep_id", "VARCHAR PRIMARY KEY"),
    ("created_utc", "TIMESTAMP"),
    ("scenario", "VARCHAR"),
    ("scenario_hash", "VARCHAR"),
    ("parameters_hash", "VARCHAR"),
    ("spec_hash", "VARCHAR"),
    ("code_version", "VARCHAR"),
    ("positions", "BIGINT"),
    ("n_steps", "BIGINT"),
    ("step_seconds", "DOUBLE"),
    ("cells", "BIGINT"),
    ("paths_total", "BIGINT"),
    ("backend", "VARCHAR"),
    ("workers", "INTEGER"),
    ("critical_shock_usd", "DOUBLE"),
    ("critical_status", "VARCHAR"),
    ("liquidated_usd_median", "DOUBLE"),
    ("drawdown_pct_median", "DOUBLE"),
    ("path", "VARCHAR"),
    ("summary", "JSON"),
)


def register_sweep(out_dir: str | Path, summary: dict, directory: Path) -> None:
    """Add (or replace) the sweep's row in the ``sweeps`` table of ``OUT/runs.duckdb``."""
    from ..store import _clean, insert_row

    out = Path(out_dir)
    clean = _clean(summary)
    values = []
    for c, _ in _SWEEP_COLUMNS:
        if c == "created_utc":
            values.append(datetime.fromisoformat(clean["created_utc"].replace("Z", "+00:00")).replace(tzinfo=None))
        elif c == "path":
            values.append(str(directory.relative_to(out)) if directory.is_relative_to(out) else str(directory))
        elif c == "summary":
            values.append(json.dumps(clean, allow_nan=False))
        else:
            values.append(clean.get(c))
    insert_row(out, "sweeps", _SWEEP_COLUMNS, values, replace=("sweep_id", clean["sweep_id"]))


def list_sweeps(out_dir: str | Path) -> pd.DataFrame:
    """The ``sweeps`` table of ``OUT/runs.duckdb`` (empty when there is none)."""
    from ..store import read_table

    return read_table(out_dir, "sweeps", _SWEEP_COLUMNS, "created_utc, sweep_id")
