"""Aggregation of a sweep's per-path table: per-cell statistics, liquidation value-at-risk and
expected shortfall, the amplification curve and the critical-shock estimator (the package
docstring states the estimators)."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
METRICS = (
    "liquidated_usd",
    "liquidated_usd_reported",
    "drawdown_pct",
    "final_drawdown_pct",
    "insurance_fund_loss_usd",
    "adl_usd",
    "bad_debt_usd",
    "branching_ratio_max",
    "waves",
)


def var_es(x: np.ndarray, level: float) -> tuple[float, float]:
    """Value-at-risk (the ``level``-quantile, linear interpolation) and expected shortfall (the
    mean of the ``ceil(n (1 - level))`` largest values) of losses ``x``."""
    x = np.sort(np.asarray(x, np.float64)[np.isfinite(x)])
    if len(x) == 0:
        return float("nan"), float("nan")
    k = max(1, math.ceil(len(x) * (1.0 - level) - 1e-9))
    return float(np.quantile(x, level)), float(np.mean(x[-k:]))


def _group_cols(frame: pd.DataFrame, plan_axes: Sequence[str], drop: Sequence[str] = ()) -> list[str]:
    return [c for c in plan_axes if c in frame.columns and c not in drop]


def cell_statistics(
    frame: pd.DataFrame,
    axes: Sequence[str],
    levels: Sequence[float] = (0.95, 0.99),
    quantiles: Sequence[float] = QUANTILES,
) -> pd.DataFrame:
    """Per grid cell (rows grouped by ``axes``; all rows as one group when ``axes`` is empty):
    paths, and per figure the mean and quantiles; VaR and ES of ``liquidated_usd`` per level."""
    cols = _group_cols(frame, axes)
    groups = frame.groupby(cols, sort=True, dropna=False) if cols else [((), frame)]
    out = []
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        rec: dict[str, Any] = dict(zip(cols, key))
        rec["paths"] = len(g)
        for m in METRICS:
            if m not in g.columns:
                continue
            x = g[m].to_numpy(np.float64)
            fin = x[np.isfinite(x)]
            rec[f"{m}_mean"] = float(np.mean(fin)) if len(fin) else float("nan")
            qs = np.quantile(fin, quantiles) if len(fin) else np.full(len(quantiles), np.nan)
            for q, v in zip(quantiles, qs):
                rec[f"{m}_q{round(q * 100):02d}"] = float(v)
        for a in levels:
            var, es = var_es(g["liquidated_usd"].to_numpy(np.float64), a)
            tag = f"{a * 100:g}".replace(".", "_")
            rec[f"liquidation_var{tag}_usd"] = var
            rec[f"liquidation_es{tag}_usd"] = es
        out.append(rec)
    return pd.DataFrame(out)


def amplification_curve(frame: pd.DataFrame, axes: Sequence[str]) -> pd.DataFrame:
    """Per curve group (every axis but ``shock_usd``) and shock size: medians and 5–95 % bands of
    ``drawdown_pct``, ``final_drawdown_pct`` and ``liquidated_usd``; median branching ratio
    (NaN counted as 0: no wave, nothing fed back)."""
    cols = _group_cols(frame, axes, drop=("shock_usd",))
    out = []
    for key, g in (
        frame.groupby(cols + ["shock_usd"], sort=True, dropna=False)
        if cols
        else frame.groupby(["shock_usd"], sort=True)
    ):
        key = key if isinstance(key, tuple) else (key,)
        rec = dict(zip(cols + ["shock_usd"], key))
        rec["paths"] = len(g)
        for m in ("drawdown_pct", "final_drawdown_pct", "liquidated_usd"):
            if m not in g.columns:
                continue
            x = g[m].to_numpy(np.float64)
            x = x[np.isfinite(x)]
            q = np.quantile(x, (0.05, 0.5, 0.95)) if len(x) else (np.nan,) * 3
            rec[f"{m}_q05"], rec[f"{m}_median"], rec[f"{m}_q95"] = map(float, q)
        br = np.nan_to_num(g["branching_ratio_max"].to_numpy(np.float64), nan=0.0)
        rec["branching_ratio_median"] = float(np.median(br))
        out.append(rec)
    return pd.DataFrame(out)


def critical_shock(shock_usd, branching_median, drawdown_median, *, jump_share: float = 0.5) -> dict[str, Any]:
    """The critical shock of one amplification curve (estimator in the module docstring)."""
    s = np.asarray(shock_usd, np.float64)
    m = np.nan_to_num(np.asarray(branching_median, np.float64), nan=0.0)
    d = np.nan_to_num(np.asarray(drawdown_median, np.float64), nan=0.0)
    o = np.argsort(s, kind="stable")
    s, m, d = s[o], m[o], d[o]
    res: dict[str, Any] = {
        "critical_shock_usd": None,
        "status": "not_reached",
        "branching_crossing_usd": None,
        "drawdown_jump_pct": None,
        "branching_median_at": None,
        "largest_jump_at_usd": None,
        "largest_jump_pct": None,
    }
    if len(s) == 0:
        return res
    if len(s) >= 2 and np.max(np.diff(d)) > 0:
        j = int(np.argmax(np.diff(d)))
        res["largest_jump_at_usd"], res["largest_jump_pct"] = float(s[j + 1]), float(d[j + 1] - d[j])
    up = np.flatnonzero(m >= 1.0)
    if len(up):
        i = int(up[0])
        if i == 0:
            res["branching_crossing_usd"] = float(s[0])
        else:
            ls0 = math.log(max(s[i - 1], 1.0))
            ls1 = math.log(max(s[i], 1.0))
            frac = (1.0 - m[i - 1]) / (m[i] - m[i - 1]) if m[i] != m[i - 1] else 1.0
            res["branching_crossing_usd"] = float(math.exp(ls0 + frac * (ls1 - ls0)))
    if m[0] >= 1.0:
        res.update(critical_shock_usd=float(s[0]), status="below_grid", branching_median_at=float(m[0]))
        return res
    if len(s) < 2:
        return res
    jumps = np.diff(d)
    big = float(np.max(jumps))
    if big <= 0:
        return res
    for i in range(1, len(s)):
        if m[i] >= 1.0 and jumps[i - 1] >= jump_share * big:
            res.update(
                critical_shock_usd=float(s[i]),
                status="found",
                drawdown_jump_pct=float(jumps[i - 1]),
                branching_median_at=float(m[i]),
            )
            break
    return res


def grid_finding(shock_usd, branching_median, drawdown_median, crit: dict[str, Any]) -> str:
    """One sentence saying what one amplification curve shows: the median drawdown from the
    smallest to the largest shock and its largest step, where the median branching ratio stands,
    and what the critical-shock status means on this grid (``below_grid``: every shock is already
    past R = 1, so the grid does not bracket the critical point)."""
    from ..targets import fmt

    s = np.asarray(shock_usd, np.float64)
    o = np.argsort(s, kind="stable")
    s = s[o]
    m = np.nan_to_num(np.asarray(branching_median, np.float64)[o], nan=0.0)
    d = np.nan_to_num(np.asarray(drawdown_median, np.float64)[o], nan=0.0)
    if len(s) == 0:
        return "the grid is empty"
    parts = [
        f"median drawdown {d[0]:.1f} % at {fmt(s[0], 'USD')}"
        + (f" to {d[-1]:.1f} % at {fmt(s[-1], 'USD')}" if len(s) > 1 else "")
    ]
    if crit.get("largest_jump_at_usd") is not None:
        parts.append(
            f"its largest step +{crit['largest_jump_pct']:.1f} points into {fmt(crit['largest_jump_at_usd'], 'USD')}"
        )
    r = f"median branching ratio {m[0]:.3g}" + (f" to {m[-1]:.3g}" if len(s) > 1 else "")
    status = crit.get("status")
    if status == "below_grid":
        tail = (
            f"{r}: at or above 1 from the smallest shock on, so the critical shock lies at or below "
            f"{fmt(s[0], 'USD')}, outside the grid (extend --shocks downward to bracket it)"
        )
    elif status == "found":
        tail = (
            f"{r}: critical shock {fmt(crit['critical_shock_usd'], 'USD')}, where the ratio is "
            f"{crit['branching_median_at']:.3g} and the drawdown steps +{crit['drawdown_jump_pct']:.1f} points"
        )
    elif np.all(m < 1.0):
        tail = f"{r}: below 1 at every shock, no critical shock up to {fmt(s[-1], 'USD')}"
    else:
        tail = f"{r}: no shock where the ratio is >= 1 coincides with a large drawdown step: no critical shock"
    return "; ".join(parts + [tail])


_CRIT_FIELDS = (
    "critical_shock_usd",
    "status",
    "branching_crossing_usd",
    "drawdown_jump_pct",
    "branching_median_at",
    "largest_jump_at_usd",
    "largest_jump_pct",
)


def critical_shocks(curve: pd.DataFrame, axes: Sequence[str], *, jump_share: float = 0.5) -> pd.DataFrame:
    """:func:`critical_shock` of every curve group."""
    cols = _group_cols(curve, axes, drop=("shock_usd",))
    out = []
    for key, g in curve.groupby(cols, sort=True, dropna=False) if cols else [((), curve)]:
        key = key if isinstance(key, tuple) else (key,)
        rec = dict(zip(cols, key))
        rec.update(
            critical_shock(g["shock_usd"], g["branching_ratio_median"], g["drawdown_pct_median"], jump_share=jump_share)
        )
        out.append(rec)
    return pd.DataFrame(out)


def aggregate(
    frame: pd.DataFrame, axes: Sequence[str], *, levels: Sequence[float] = (0.95, 0.99), jump_share: float = 0.5
) -> dict[str, Any]:
    """Everything aggregated from the per-path table (sorted by path: the order is fixed)."""
    cells = cell_statistics(frame, axes, levels)
    pooled = cell_statistics(frame, (), levels)
    curve = amplification_curve(frame, axes)
    crit = critical_shocks(curve, axes, jump_share=jump_share)
    return {"cells": cells, "pooled": pooled, "curve": curve, "critical": crit}
