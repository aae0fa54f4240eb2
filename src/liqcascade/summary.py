"""A run's headline figures in the keys of issue 4 (``liqcascade run --json``), and where the
model's parameters came from.

``summarize(run, population, scenario, seed=...)`` maps a :class:`~liqcascade.engine.Run` and
the population it ran on to one JSON-ready dict.  Units: USD for every ``*_usd`` key, fractions
for ``*_share`` keys, percent for ``drawdown_pct``.  Where a figure cannot be computed it is
``None`` (JSON ``null``), never NaN.

Two figures need a word:

- **Counts at a reduced population.**  With ``n_positions`` below the real count the synthesiser
  draws fewer, larger positions that still hold the full open interest: USD figures are at full
  scale, counts are not.  ``accounts_liquidated`` is the count in the simulated population;
  ``accounts_liquidated_full_scale`` multiplies it by ``population_scale``: the real count the
  population stands for (``meta["implied_count"]``: the positions a full-count draw keeps after
  survivorship, estimated per market, side and leverage component from the reduced draw's own
  survival fractions, plus the entry orders) divided by the positions drawn; 1 for a full
  population.  The targets use the latter.
- **The largest liquidation** is the largest USD liquidated from one *position* over the run
  (Hyperliquid and OKX close large positions in partial steps; the reports count the position),
  with its venue and asset; ``largest_liquidation_event_usd`` is the largest single fill.
- **The branching ratio** ``branching_ratio_max`` is the largest over the run's waves of
  ``R = L / D`` (a pure number): L the USD a wave liquidated, D the book USD within the mark move
  that set it off, the move counted as at least 1 bp (``engine.core.BR_MIN_MOVE``).  R > 1: the
  wave's forced flow exceeds the depth the move consumed.  Without the floor a rounding-sized move
  made D ~ 0 and R ~ 1e15.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd

from .engine import Run, as_reported

SUMMARY_KEYS = (
    "liquidations_usd",
    "liquidations_usd_reported",
    "accounts_liquidated",
    "long_share",
    "by_venue_usd",
    "by_asset_usd",
    "largest_liquidation_usd",
    "drawdown_pct",
    "adl_usd",
    "bad_debt_usd",
    "branching_ratio_max",
    "ledger_imbalance_usd",
)
"""The keys issue 4 requires of ``liqcascade run --json`` (the summary holds more)."""

_SCALARS = (
    "scenario",
    "scenario_title",
    "scenario_source",
    "scenario_hash",
    "start_utc",
    "horizon_hours",
    "step_seconds",
    "seed",
    "positions",
    "accounts",
    "population_scale",
    "parameters_hash",
    "overridden_parameters",
    "parameters_fitted",
    "parameters_status",
    "liquidations_usd",
    "liquidations_usd_reported",
    "accounts_liquidated",
    "accounts_liquidated_full_scale",
    "liquidation_events",
    "long_share",
    "long_share_reported",
    "largest_liquidation_usd",
    "largest_liquidation_venue",
    "largest_liquidation_asset",
    "largest_liquidation_event_usd",
    "opened_during_run_usd",
    "liquidations_of_opened_usd",
    "adl_usd",
    "backstop_usd",
    "bad_debt_usd",
    "branching_ratio_max",
    "branching_ratio_first_wave_max",
    "waves",
    "ledger_imbalance_usd",
    "ledger_ok",
    "mode",
)
SUMMARY_FIGURES: dict[str, Any] = {
    **{k: None for k in _SCALARS},
    **{k: "venue" for k in ("by_venue_usd", "by_venue_usd_reported", "venue_share_reported")},
    **{
        k: "asset"
        for k in ("by_asset_usd", "start_price_usd", "drawdown_pct", "low_usd", "low_time_utc", "asset_share")
    },
    "by_side_usd": ("long", "short"),
    "by_method_usd": ("book", "backstop", "adl"),
    "liquidation_peak": ("max_minute_share", "max_minute_utc", "busiest_hour_utc", "busiest_hour_from_low_h"),
}
"""Every key :func:`summarize` writes: ``None`` for a figure, ``"venue"``/``"asset"`` for a dict
keyed by the scenario's venues/assets, or the tuple of its keys.  A targets file may name only
these (``drawdown_pct.BTC``); see :func:`unknown_key`."""


def unknown_key(key: str, venues, assets) -> str | None:
    """Why the dotted summary ``key`` names nothing a run's summary holds (``None`` when it does)."""
    head, _, rest = key.partition(".")
    if head not in SUMMARY_FIGURES:
        import difflib

        close = difflib.get_close_matches(head, list(SUMMARY_FIGURES), n=1)
        return f"the summary has no figure {head!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
    kind = SUMMARY_FIGURES[head]
    if kind is None:
        return None if not rest else f"{head!r} is a single figure, not a table ({key!r})"
    keys = tuple(venues) if kind == "venue" else tuple(assets) if kind == "asset" else kind
    if not rest:
        return f"{head!r} is a table: name one of its entries ({head}.{keys[0]})" if keys else None
    if rest not in keys:
        return f"{head!r} has no entry {rest!r} in this scenario (it has {', '.join(map(str, keys))})"
    return None


# ---------------------------------------------------------------------------------- parameters
def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def parameters_of(scenario) -> dict[str, Any]:
    """The scenario's effective global parameters, flattened to dotted keys
    (``market_maker.flow_sensitivity``); a list-valued parameter (the leverage mix) is one key."""
    return _flatten(scenario.params.model_dump(mode="json"))


def parameters_hash(scenario) -> str:
    """SHA-256 (first 16 hex digits) of the effective parameters, canonical JSON."""
    text = json.dumps(scenario.params.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def scenario_hash(scenario) -> str:
    """SHA-256 (first 16 hex digits) of the scenario file's text."""
    return hashlib.sha256(scenario.text.encode()).hexdigest()[:16]


def parameter_provenance(scenario) -> dict[str, Any]:
    """Which global parameters were fitted, and which are priors.

    Read from the parameters' own ``[provenance]`` table (``fitted = ["section.key", ...]``,
    ``targets``, ``fitted_at``), so a parameters file given with ``--parameters`` speaks for
    itself.  Without one, nothing was fitted: every parameter is a prior.  Scenario overrides are
    listed apart.
    """
    attr = getattr(scenario.params, "provenance", None)
    prov: dict[str, Any] = attr.model_dump(mode="json") if attr is not None else {}
    names = list(parameters_of(scenario))
    # a fitted key names a parameter or a part of one (population.leverage_mix.3.notional_share)
    fitted = [k for k in prov.get("fitted", []) if any(k == n or k.startswith(n + ".") for n in names)]
    touched = {n for n in names for k in fitted if k == n or k.startswith(n + ".")}
    return {
        "fitted": fitted,
        "priors": [k for k in names if k not in touched],
        "overridden": list(scenario.overridden),
        "fitted_on": prov.get("targets") or prov.get("fitted_on"),
        "fitted_at": prov.get("fitted_at"),
        # the population seeds the fit ran (several: its objective was the mean over them)
        "fitted_seeds": prov.get("seeds") or ([prov["seed"]] if prov.get("seed") is not None else []),
        "status": "fitted" if fitted else "priors (not calibrated)",
    }


# ---------------------------------------------------------------------------------- figures
def _num(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _by(frame: pd.DataFrame, key: str, names) -> dict[str, float]:
    sums = frame.groupby(key, observed=False)["usd"].sum() if len(frame) else pd.Series(dtype=float)
    return {str(n): float(sums.get(n, 0.0)) for n in names}


def recorded_index(run: Run) -> pd.DataFrame:
    """The index the engine recorded at each step's end, one column per asset (USD), indexed by
    ``time_s`` (s)."""
    index = run.steps.groupby(["time_s", "asset"], sort=True, observed=True)["index"].first().unstack("asset")
    return index.rename_axis(columns=None)


def index_paths(run: Run, scenario) -> pd.DataFrame:
    """Per asset, the index the engine's drawdowns use (the spot mid where the scenario gives a
    spot book, else the venues' mids weighted by their depth within 1 %), one row per step, with the start price as the
    first row (time −step).  Columns: ``time_s`` and one per asset (USD)."""
    spec = scenario.spec
    steps = run.steps
    if "index" in steps.columns:  # recorded by the engine (the spot mid where there is a spot book)
        index = recorded_index(run)
        start = pd.DataFrame({a: [s.start_price] for a, s in spec.assets.items()}, index=[-spec.step_seconds])
        index = pd.concat([start, index[[a for a in spec.assets if a in index.columns]]])
        index.index.name = "time_s"
        return index.reset_index()
    weight = {(m.venue, m.asset): m.depth_1pct_usd for m in spec.markets}
    vcat, acat = steps["venue"].astype("category"), steps["asset"].astype("category")
    table = np.array(
        [[weight.get((str(v), str(a)), 0.0) for a in acat.cat.categories] for v in vcat.cat.categories]
    ).reshape(len(vcat.cat.categories), len(acat.cat.categories))
    w = table[vcat.cat.codes.to_numpy(), acat.cat.codes.to_numpy()]
    frame = pd.DataFrame(
        {
            "time_s": steps["time_s"].to_numpy(),
            "asset": steps["asset"].astype(str).to_numpy(),
            "wmid": w * steps["mid"].to_numpy(),
            "w": w,
        }
    )
    g = frame.groupby(["time_s", "asset"], sort=True)[["wmid", "w"]].sum()
    index = (g["wmid"] / g["w"]).unstack("asset")
    start = pd.DataFrame({a: [s.start_price] for a, s in spec.assets.items()}, index=[-spec.step_seconds])
    index = pd.concat([start, index[[a for a in spec.assets if a in index.columns]]])
    index.index.name = "time_s"
    return index.reset_index()


def summarize(run: Run, population, scenario, *, seed: int) -> dict[str, Any]:
    """The run's summary (see the module docstring for units and the two subtle figures)."""
    ev = run.events
    venues = [str(v) for v in population.venues]
    assets = [str(a) for a in population.assets]
    reported = as_reported(ev)
    total = float(ev["usd"].sum())
    total_rep = float(reported["usd"].sum())
    longs = float(ev.loc[ev["side"] == "long", "usd"].sum())
    longs_rep = float(reported.loc[reported["side"] == "long", "usd"].sum())
    by_venue_rep = _by(reported, "venue", venues)

    # largest: per position over the run (partial steps add up), and the largest single fill
    if len(ev):
        per_pos = ev.groupby("position", sort=False).agg(
            usd=("usd", "sum"), venue=("venue", "first"), asset=("asset", "first")
        )
        top = per_pos["usd"].idxmax()
        largest = float(per_pos.at[top, "usd"])
        largest_venue, largest_asset = str(per_pos.at[top, "venue"]), str(per_pos.at[top, "asset"])
        largest_event = float(ev["usd"].max())
    else:
        largest, largest_venue, largest_asset, largest_event = 0.0, None, None, 0.0

    meta = getattr(population, "meta", {}) or {}
    n_pos = len(population)
    implied = meta.get("implied_count")
    scale = float(implied) / n_pos if meta.get("n_requested") is not None and implied and n_pos else 1.0
    accounts_liq = int(ev["account"].nunique()) if len(ev) else 0

    index = index_paths(run, scenario)
    low = {a: _num(index[a].min()) for a in assets if a in index.columns}
    dd_engine = run.summary.get("drawdown_pct", {})
    last = run.steps[run.steps["time_s"] == run.steps["time_s"].max()]
    bad_debt = float(last["bad_debt_usd"].sum()) if len(last) else 0.0  # cumulative per market
    br = run.waves["branching_ratio"].to_numpy(dtype=float) if len(run.waves) else np.array([])
    br_first = (
        run.waves.loc[run.waves["wave"] == 1, "branching_ratio"].to_numpy(dtype=float)
        if len(run.waves)
        else np.array([])
    )
    prov = parameter_provenance(scenario)
    start = scenario.spec.start
    start = start if start.tzinfo else start.replace(tzinfo=timezone.utc)

    return {
        # what ran
        "scenario": scenario.name,
        "scenario_title": scenario.spec.title,
        "scenario_source": scenario.source,
        "scenario_hash": scenario_hash(scenario),
        "start_utc": start.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
        "horizon_hours": float(scenario.spec.horizon_hours),
        "step_seconds": float(scenario.spec.step_seconds),
        "seed": int(seed),
        "positions": int(n_pos),
        "accounts": int(population.n_accounts),
        "population_scale": scale,
        "parameters_hash": parameters_hash(scenario),
        "overridden_parameters": list(scenario.overridden),
        "parameters_fitted": prov["fitted"],
        "parameters_status": prov["status"],
        # liquidations
        "liquidations_usd": total,
        "liquidations_usd_reported": total_rep,
        "accounts_liquidated": accounts_liq,
        "accounts_liquidated_full_scale": accounts_liq * scale,
        "liquidation_events": int(len(ev)),
        "long_share": longs / total if total > 0 else None,
        "long_share_reported": longs_rep / total_rep if total_rep > 0 else None,
        "by_venue_usd": _by(ev, "venue", venues),
        "by_venue_usd_reported": by_venue_rep,
        "venue_share_reported": {v: (u / total_rep if total_rep > 0 else None) for v, u in by_venue_rep.items()},
        "by_asset_usd": _by(ev, "asset", assets),
        "by_side_usd": {"long": longs, "short": total - longs},
        "by_method_usd": _by(ev, "method", ("book", "backstop", "adl")),
        "largest_liquidation_usd": largest,
        "largest_liquidation_venue": largest_venue,
        "largest_liquidation_asset": largest_asset,
        "largest_liquidation_event_usd": largest_event,
        # entry orders that opened during the run (dip buyers, momentum shorts) and what of them
        # was liquidated
        "opened_during_run_usd": float(run.summary.get("opened_during_run_usd", 0.0)),
        "liquidations_of_opened_usd": float(ev.loc[population.is_pending[ev["position"].to_numpy()], "usd"].sum())
        if len(ev) and hasattr(population, "is_pending")
        else 0.0,
        # prices
        "start_price_usd": {a: float(s.start_price) for a, s in scenario.spec.assets.items()},
        "drawdown_pct": {a: _num(dd_engine.get(a, float("nan"))) for a in assets},
        "low_usd": low,
        "low_time_utc": {
            a: _utc(start, float(index["time_s"].iloc[int(np.nanargmin(index[a].to_numpy()))]))
            for a in assets
            if a in index.columns and np.isfinite(index[a].to_numpy()).any()
        },
        "asset_share": {a: (u / total if total > 0 else None) for a, u in _by(ev, "asset", assets).items()},
        "liquidation_peak": liquidation_peak(ev, index, start),
        # backstops and the cascade
        "adl_usd": float(ev.loc[ev["method"] == "adl", "usd"].sum()),
        "backstop_usd": float(ev.loc[ev["method"] == "backstop", "usd"].sum()),
        "bad_debt_usd": bad_debt,
        "branching_ratio_max": _num(np.nanmax(br)) if np.isfinite(br).any() else None,
        "branching_ratio_first_wave_max": _num(np.nanmax(br_first)) if np.isfinite(br_first).any() else None,
        "waves": int(len(run.waves)),
        "ledger_imbalance_usd": float(run.ledger.get("imbalance", float("nan"))),
        "ledger_ok": bool(run.ledger.get("ok", False)),
    }


def _utc(start, seconds: float) -> str:
    return (start + timedelta(seconds=float(seconds))).astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def liquidation_peak(ev: pd.DataFrame, index: pd.DataFrame, start) -> dict[str, Any]:
    """When the liquidations happened: the largest share of the run's liquidated USD in one
    minute (fraction) and that minute, the busiest hour (a window of 60 minutes sliding by one)
    and its centre's distance from the first asset's low (hours, + after the low)."""
    if not len(ev) or float(ev["usd"].sum()) <= 0:
        return {
            "max_minute_share": None,
            "max_minute_utc": None,
            "busiest_hour_utc": None,
            "busiest_hour_from_low_h": None,
        }
    minute = (ev["time_s"].to_numpy(np.float64) // 60).astype(np.int64)
    per = np.bincount(minute - minute.min(), weights=ev["usd"].to_numpy(np.float64))
    k = int(np.argmax(per))
    c = np.r_[0.0, np.cumsum(per)]
    hour = c[np.minimum(np.arange(len(per)) + 60, len(per))] - c[:-1]  # minutes i .. i+59
    h_start_s = (minute.min() + int(np.argmax(hour))) * 60.0
    first = [c for c in index.columns if c != "time_s"][:1]
    from_low = None
    if first:
        t_low = float(index["time_s"].iloc[int(np.nanargmin(index[first[0]].to_numpy()))])
        from_low = (h_start_s + 1800.0 - t_low) / 3600.0
    return {
        "max_minute_share": float(per[k] / per.sum()),
        "max_minute_utc": _utc(start, (minute.min() + k) * 60.0),
        "busiest_hour_utc": _utc(start, h_start_s),
        "busiest_hour_from_low_h": None if from_low is None else float(from_low),
    }


def lookup(summary: dict, key: str):
    """``summary[key]``, where a dotted key reaches into dicts (``drawdown_pct.BTC``); ``None``
    when absent."""
    node: Any = summary
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node
