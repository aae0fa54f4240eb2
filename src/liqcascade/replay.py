"""Replays on the real market: the observed path, the liquidations a venue-exact model puts on
it, and how much of the fall the forced selling caused.

The observed replay (:func:`run_observed`):

1. **The path.**  Each asset's index follows the market's own bars, expanded to the engine's
   one-second steps by :func:`bridge`: within every bar the path starts at the open, visits the
   low and the high (low first when the bar closed at or above its open, high first otherwise),
   and is at the close in the bar's last second; the two extremes' seconds are drawn (seeded)
   uniformly inside the bar and the stretches between the four anchors are Brownian bridges in
   log price with the bar's Parkinson variance, clipped to ``[low, high]``.  One-minute bars are
   used where the series has them, five-minute bars elsewhere.
2. **The engine on that path.**  Every step starts with the market orders that take each
   asset's books to the path (:func:`liqcascade.engine.core.pin_asset`); liquidations, venue
   procedures, insurance funds, backstops, ADL and the public feeds' throttles then act as in a
   free run, and their fills move the books within the step.  Price dynamics are the replay law
   (:func:`replay_price_config`): the path's moves are kept, since the path already is what
   happened; the liquidations' own moves follow the model's resilience (a fraction
   ``permanent_impact`` stays, the rest recovers as the book refills).  Positions
   opened during the event (the open interest's own rises) open at the market at their time;
   voluntary closes (its falls) close at the market.
3. **What the path implies.**  The USD the pin took each step is the flow the observed path
   implies beyond what the engine computes: the *exogenous* flow (``run.implied_flow_usd``).

Attribution (:func:`attribution`): for every step the move the forced flow alone causes through
the books' aggregate depth law ``Cum(u) = B*u**kappa`` (every venue's book of the asset, at its
market makers' depth multiplier then, and the spot books), signed, summed into five-minute
intervals beside the observed move.  Two laws for how long such a move lasts: the replay's (all
of it stays: ``share_of_fall``) and the model's resilience (a fraction ``permanent_impact``
stays, the rest halves every ``resilience_half_life_s``: ``share_of_fall_transient``).  The share
is the endogenous log move accumulated from the start to the low over the observed log fall.

Counterfactual (:func:`counterfactual`): the exogenous flow replayed free through the same
books, with the same population (``consistency``: it should come back near the observed low),
with liquidations off (every position's margin raised to its notional: 1x), and with leverage
capped at 10x; the low each reaches.

Units: prices USD per base unit, flows USD (+ bought), times seconds from the start (``time_s``)
or UTC epoch milliseconds (``time_ms``), moves as log returns.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from ._jit import jit
from .engine.threads import setup_threads
from .errors import InputError
from .summary import recorded_index

#: the bar columns :func:`bridge` reads
BAR_COLUMNS = ("time_ms", "open", "high", "low", "close")


# ---------------------------------------------------------------------------------- the path
def _check_bars(bars: pd.DataFrame, bar_s: int, where: str) -> pd.DataFrame:
    missing = [c for c in BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise InputError(f"{where}: bars lack column(s) {', '.join(missing)}", field="bars")
    b = bars.loc[:, list(BAR_COLUMNS)].reset_index(drop=True)
    px = b[["open", "high", "low", "close"]].to_numpy(np.float64)
    bad = ~(np.isfinite(px) & (px > 0)).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{where}: row {i}: a price that is not a positive number", field="bars", row=i)
    lo_ok = px[:, 2] <= np.minimum(px[:, 0], px[:, 3]) * (1 + 1e-12)
    hi_ok = px[:, 1] >= np.maximum(px[:, 0], px[:, 3]) * (1 - 1e-12)
    if not (lo_ok & hi_ok).all():
        i = int(np.flatnonzero(~(lo_ok & hi_ok))[0])
        raise InputError(f"{where}: row {i}: low/high do not bracket open and close", field="bars", row=i)
    t = b["time_ms"].to_numpy(np.int64)
    step = np.diff(t)
    if np.any(step <= 0):
        i = int(np.flatnonzero(step <= 0)[0]) + 1
        raise InputError(f"{where}: row {i}: bars unsorted or overlapping", field="bars", row=i)
    if np.any(step % (bar_s * 1000) != 0):
        i = int(np.flatnonzero(step % (bar_s * 1000) != 0)[0]) + 1
        raise InputError(f"{where}: row {i}: bar time off the {bar_s}-second grid", field="bars", row=i)
    return b


def bridge(
    bars: pd.DataFrame,
    *,
    start_ms: int,
    n_steps: int,
    dt: float = 1.0,
    bar_s: int = 300,
    seed: int = 0,
    where: str = "bars",
) -> np.ndarray:
    """The price (USD) at the start of each of ``n_steps`` steps of ``dt`` seconds from
    ``start_ms`` (UTC epoch ms), through every bar's open, high, low and close.

    ``bars``: columns ``time_ms`` (bar open, UTC epoch ms, on a ``bar_s`` grid, ascending),
    ``open, high, low, close`` (USD).  Within a bar of ``n = bar_s/dt`` steps: step 0 is the open,
    step ``n-1`` the close; the low and the high fall on two distinct steps drawn uniformly in
    ``1 .. n-2`` (low first when ``close >= open``); between these anchors a Brownian bridge in
    log price with per-step variance ``ln(high/low)**2 / (4 ln 2) / n`` (Parkinson), clipped to
    ``[low, high]``.  Steps outside every bar are NaN.  Seeded: the same bars and seed give
    the same path."""
    if not (isinstance(n_steps, (int, np.integer)) and n_steps > 0):
        raise InputError(f"must be a positive integer, got {n_steps!r}", field="n_steps")
    n = bar_s / dt
    if not (n >= 4 and abs(n - round(n)) < 1e-9):
        raise InputError(f"a {bar_s}-second bar is not a whole number (>= 4) of {dt}-second steps", field="dt")
    n = int(round(n))
    b = _check_bars(bars, bar_s, where)
    out = np.full(n_steps, np.nan)
    rng = np.random.default_rng(seed)
    t = b["time_ms"].to_numpy(np.int64)
    o, h, lo, c = (b[k].to_numpy(np.float64) for k in ("open", "high", "low", "close"))
    first = np.round((t - start_ms) / 1000.0 / dt).astype(np.int64)
    # the draws are made for every bar, in order, so a bar's path does not depend on the window
    p1 = rng.integers(1, n - 1, len(t))  # two distinct steps in 1 .. n-2
    p2 = rng.integers(1, n - 2, len(t))
    p2 = p2 + (p2 >= p1)
    picks = np.sort(np.stack([p1, p2], axis=1), axis=1)
    noise = rng.standard_normal((len(t), n))
    for i in range(len(t)):
        k0 = first[i]
        if k0 + n <= 0 or k0 >= n_steps:
            continue
        low_first = c[i] >= o[i]
        i1, i2 = int(picks[i, 0]), int(picks[i, 1])
        a1, a2 = (lo[i], h[i]) if low_first else (h[i], lo[i])
        knots = np.array([0, i1, i2, n - 1])
        vals = np.log([o[i], a1, a2, c[i]])
        sd = math.log(h[i] / lo[i]) / math.sqrt(4.0 * math.log(2.0) * n)
        x = np.empty(n)
        for s in range(3):
            ka, kb = knots[s], knots[s + 1]
            m = kb - ka
            w = np.cumsum(np.r_[0.0, noise[i, ka:kb]]) * sd  # a random walk over the stretch
            frac = np.arange(m + 1) / m
            x[ka : kb + 1] = vals[s] + (vals[s + 1] - vals[s]) * frac + (w - frac * w[-1])  # pinned at both ends
        seg = np.clip(np.exp(x), lo[i], h[i])
        seg[[0, i1, i2, n - 1]] = [o[i], a1, a2, c[i]]
        a, z = max(k0, 0), min(k0 + n, n_steps)
        out[a:z] = seg[a - k0 : z - k0]
    return out


def observed_paths(
    series: pd.DataFrame, assets, *, start_ms: int, n_steps: int, dt: float = 1.0, seed: int = 0
) -> dict[str, np.ndarray]:
    """Per asset, :func:`bridge` over its finest bars: ``series`` in the bundled long format
    (``asset, bar_s, time_ms, open, high, low, close, …``).  Where an asset has one-minute bars
    (``bar_s = 60``) they are used over their span and five-minute bars elsewhere.  An asset with
    no bars is left out (free in the replay)."""
    out = {}
    for k, a in enumerate(assets):
        rows = series[series["asset"] == a]
        if rows.empty:
            continue
        path = np.full(n_steps, np.nan)
        for bar_s in sorted(rows["bar_s"].unique(), reverse=True):  # coarse first, fine over it
            bars = rows[rows["bar_s"] == bar_s].sort_values("time_ms")
            p = bridge(
                bars,
                start_ms=start_ms,
                n_steps=n_steps,
                dt=dt,
                bar_s=int(bar_s),
                seed=seed * 1009 + k,
                where=f"series {a} {int(bar_s)} s",
            )
            path = np.where(np.isnan(p), path, p)
        out[a] = path
    return out


# ---------------------------------------------------------------------------------- attribution
@jit
def _decayed(x, r, out):  # pragma: no cover - compiled
    acc = 0.0
    for t in range(x.shape[0]):
        acc = acc * r + x[t]
        out[t] = acc
    return out


def _decay_sum(x: np.ndarray, keep: float, half_life_steps: float) -> np.ndarray:
    """``y_t = keep * sum_{s<=t} x_s + (1-keep) * sum_{s<=t} x_s * 2**(-(t-s)/h)``."""
    perm = np.cumsum(x)
    if keep >= 1.0:
        return perm
    trans = _decayed(np.asarray(x, np.float64), 0.5 ** (1.0 / half_life_steps), np.empty(len(x)))
    return keep * perm + (1.0 - keep) * trans


@dataclass
class Attribution:
    """The forced flow's share of the moves (see the module docstring)."""

    frame: pd.DataFrame  # per asset and 5-minute interval
    summary: dict[str, Any] = field(default_factory=dict)


def forced_moves(run, depth: Mapping[str, Mapping[str, Any]], *, dt: float = 1.0) -> pd.DataFrame:
    """Per step and asset, the log move the step's forced flow causes alone: the signed USD of
    the step's liquidation fills to the books and backstops (the events' ``usd``; longs
    liquidated sell; ADL closes against other traders, not the book, and is left out) through
    the asset's aggregate book ``Cum(u) = B*u**kappa``.  ``depth`` (:func:`aggregate_depth`):
    per asset ``perp`` (venue -> USD within 1 % per side at full depth), ``spot`` (USD) and
    ``kappa``; each venue's part is scaled by its market makers' depth multiplier at that step
    (the steps frame).  Returns columns ``time_s, asset, forced_usd, move`` (log return)."""
    ev = run.events
    steps = run.steps
    out = []
    for a, d in depth.items():
        e = ev[(ev["asset"] == a) & (ev["method"] != "adl")]
        if e.empty:
            continue
        signed = np.where(e["side"].to_numpy() == "long", -1.0, 1.0) * e["usd"].to_numpy(np.float64)
        step = np.round(e["time_s"].to_numpy(np.float64) / dt).astype(np.int64)
        k, inv = np.unique(step, return_inverse=True)
        usd = np.bincount(inv, weights=signed)
        st = steps[steps["asset"] == a]
        b_now = np.full(len(k), float(d["spot"]))
        for venue, side_usd in d["perp"].items():
            mult = st[st["venue"] == venue].set_index("time_s")["depth_multiplier"]
            b_now += side_usd * np.nan_to_num(mult.reindex(k * dt).to_numpy(np.float64), nan=1.0)
        kappa = float(d["kappa"])
        u = (np.abs(usd) / (b_now / 0.01**kappa)) ** (1.0 / kappa)
        u = np.minimum(u, 0.95)  # the book's last level, as in the engine's walk
        move = np.where(usd > 0, np.log1p(u), np.log1p(-u))  # a buy lifts the mid by u, a sell lowers it
        out.append(pd.DataFrame({"time_s": k * dt, "asset": a, "forced_usd": usd, "move": move}))
    if not out:
        return pd.DataFrame({"time_s": [], "asset": [], "forced_usd": [], "move": []})
    return pd.concat(out, ignore_index=True)


def attribution(
    run,
    paths: Mapping[str, np.ndarray],
    depth: Mapping[str, tuple[float, float]],
    *,
    dt: float = 1.0,
    interval_s: float = 300.0,
    permanent_impact: float = 1.0,
    resilience_half_life_s: float = np.inf,
) -> Attribution:
    """Per asset and interval (seconds), the observed log move, the forced flow's USD and the
    endogenous log move it causes (:func:`forced_moves`) under the replay law (all of it
    stays) and under the model's resilience; the summary's ``share_of_fall`` per asset is the
    endogenous log move from the start to the observed low over the observed log fall, and
    ``share_of_fall_transient`` the same with the resilience."""
    fm = forced_moves(run, depth, dt=dt)
    rows, summary = [], {}
    for a, path in paths.items():
        n = len(path)
        x = np.zeros(n)
        f = fm[fm["asset"] == a]
        if not f.empty:
            k = np.round(f["time_s"].to_numpy() / dt).astype(np.int64)
            np.add.at(x, k, f["move"].to_numpy())
            usd = np.zeros(n)
            np.add.at(usd, k, f["forced_usd"].to_numpy())
        else:
            usd = np.zeros(n)
        perm = np.cumsum(x)
        half = resilience_half_life_s / dt if np.isfinite(resilience_half_life_s) else np.inf
        trans = _decay_sum(x, permanent_impact, half) if np.isfinite(half) else perm
        logp = np.log(np.where(np.isfinite(path), path, np.nan))
        logp = pd.Series(logp).ffill().bfill().to_numpy()
        per = int(round(interval_s / dt))
        edges = np.arange(0, n, per)
        end = np.minimum(edges + per, n) - 1
        rows.append(
            pd.DataFrame(
                {
                    "time_s": edges * dt,
                    "asset": a,
                    "observed_move": np.diff(np.r_[logp[0], logp[end]]),
                    "forced_usd": np.add.reduceat(usd, edges),
                    "endogenous_move": np.diff(np.r_[0.0, perm[end]]),
                    "endogenous_move_transient": np.diff(np.r_[0.0, trans[end]]),
                }
            )
        )
        low = int(np.nanargmin(path))
        fall = logp[low] - logp[0]
        summary[a] = {
            "low_time_s": low * dt,
            "low": float(path[low]),
            "observed_fall": float(-fall),
            "endogenous_fall": float(-perm[low]),
            "endogenous_fall_transient": float(-trans[low]),
            "share_of_fall": float(perm[low] / fall) if fall < 0 else None,
            "share_of_fall_transient": float(trans[low] / fall) if fall < 0 else None,
        }
    frame = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    return Attribution(frame, summary)


# ---------------------------------------------------------------------------------- counterfactual
def _capped(positions, leverage: float):
    """The same positions with margin at least ``notional/leverage`` (USD): leverage capped."""
    import dataclasses

    notional = positions.size * positions.entry
    margin = np.maximum(positions.margin, notional / leverage)
    lev = np.minimum(positions.leverage, leverage)
    return dataclasses.replace(positions, margin=margin, leverage=lev)


def window_sums(usd: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """A flow per step (USD) summed over consecutive windows of ``window`` steps, the last window
    as long as what is left: ``(sums, lengths)``, USD and steps per window."""
    usd = np.asarray(usd, np.float64)
    edges = np.arange(0, len(usd), window)
    return np.add.reduceat(usd, edges), np.diff(np.r_[edges, len(usd)])


def spread_flow(usd: np.ndarray, window: int) -> np.ndarray:
    """A flow per step spread evenly over consecutive windows of ``window`` steps (each window's
    sum kept, the last window as long as what is left)."""
    usd = np.asarray(usd, np.float64)
    if window <= 1:
        return usd.copy()
    sums, lengths = window_sums(usd, window)
    return np.repeat(sums / lengths, lengths)


def counterfactual(
    positions,
    liquidity,
    prices,
    implied_flow: pd.DataFrame,
    *,
    n_steps: int,
    dt: float,
    insurance_fund,
    adl_rule: str,
    seed: int,
    start_index: Mapping[str, float],
    vault_unwind_half_life_s: float | None = None,
    smooth_s: float = 0.0,
):
    """The exogenous flow (``implied_flow``: per asset, USD per step) replayed free: with the
    same positions (``consistency``), with liquidations off (``no_liquidations``: every position
    at 1x) and with leverage capped at 10x (``leverage_10x``).

    ``smooth_s`` > 0 spreads the flow evenly over each such window first (off by default: the
    cascades then move in time and the same positions no longer come back to the observed
    lows).  The implied flow holds the buying that took the price back to the path after each
    liquidation beyond what the book's own recovery (the replay law's resilience) did; replayed
    without that liquidation, that buying is a rise of its own, so the cases without liquidations
    are an upper bound on where the price would have been.  Returns ``(figures, paths)``: per case and asset the low (USD),
    its time (s) and the fall from the start (fraction), and the liquidated USD; per case the
    index at every 5-minute close."""
    from .engine import Flows, simulate

    window = max(1, int(round(smooth_s / dt)))
    exo = {a: spread_flow(implied_flow[a].to_numpy(np.float64), window) for a in implied_flow.columns if a != "time_s"}
    cases = {
        "consistency": positions,
        "no_liquidations": _capped(positions, 1.0),
        "leverage_10x": _capped(positions, 10.0),
    }
    out, paths = {}, {}

    def one(name_pos):
        name, pos = name_pos
        run = simulate(
            pos,
            liquidity,
            prices,
            Flows(exogenous_usd=exo),
            n_steps=n_steps,
            dt=dt,
            insurance_fund=insurance_fund,
            adl_rule=adl_rule,
            seed=seed,
            vault_unwind_half_life_s=vault_unwind_half_life_s,
        )
        idx = recorded_index(run)
        res = {"liquidated_usd": float(run.summary["true_total_liquidated_usd"])}
        for a in idx.columns:
            s = idx[a].to_numpy()
            k = int(np.argmin(s))
            p0 = float(start_index[a])
            res[a] = {"low": float(s[k]), "low_time_s": float(idx.index[k]), "fall": float(1.0 - s[k] / p0)}
        return res, every(idx, 300.0, dt)

    # the cases are independent runs and the step loop runs without the GIL: one thread each, as
    # many at once as the setup threads allow (each run's result is the same as run alone)
    with ThreadPoolExecutor(max_workers=max(1, min(len(cases), setup_threads()))) as pool:
        for name, (res, path) in zip(cases, pool.map(one, cases.items())):
            out[name], paths[name] = res, path
    return out, paths


def flow_schedule(implied_flow: pd.DataFrame, window_s: float, dt: float) -> dict[str, list[float]]:
    """Per asset, the implied exogenous flow (``run.implied_flow_usd``: USD per step, + bought)
    summed over consecutive windows of ``window_s`` seconds (the last one as long as what is
    left): the slow part of what the observed path implies, for a free replay of the event to
    carry with the measured stochastic baseline as its fast part."""
    k = int(round(window_s / dt))
    if k < 1:
        raise InputError(f"the window must hold at least one step, got {window_s} s", field="window_s")
    out = {}
    for a in implied_flow.columns:
        if a == "time_s":
            continue
        out[a] = window_sums(implied_flow[a].to_numpy(np.float64), k)[0].tolist()
    return out


def measured_flow_schedule(
    scenario,
    *,
    seed: int = 0,
    n_positions: int | None = None,
    window_s: float = 3600.0,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, list[float]], str]:
    """The hourly (``window_s``) exogenous flow of a free replay of ``scenario``, measured on its
    observed replay: per asset, the implied exogenous flow plus the positions' own timed openings
    and closings (a free run starts from the positions as they stood and replays none of the
    history's), summed per window (:func:`flow_schedule`).  Returns the schedule (USD per window,
    + bought) and the sentence naming its source."""
    if isinstance(scenario, str):
        from .scenario import load_scenario

        scenario = load_scenario(scenario)
    setup = observed_setup(scenario, n_positions=n_positions, seed=seed, progress=progress)
    obs = run_setup(setup, with_counterfactual=False, progress=progress)
    run = obs.run
    assets = [c for c in run.implied_flow_usd.columns if c != "time_s"]
    flow = run.implied_flow_usd[assets] + run.timed_flow_usd[assets]
    dt = float(scenario.spec.step_seconds)
    hours = window_s / 3600.0
    per = "hour" if hours == 1.0 else f"{hours:g} hours"
    source = (
        f"the observed replay of this scenario (seed {seed}, {len(obs.population):,} positions): its implied"
        f" exogenous flow plus the positions' own openings and closings"
    )
    if setup.flows.contagion:
        flow = flow - contagion_on_path(run, setup.flows, setup.liquidity)[assets]
        source += ", less the co-movement its leader's observed moves make (the scenario's contagion)"
    return flow_schedule(flow, window_s, dt), source + f", summed per {per}"


def contagion_on_path(run, flows, liquidity) -> pd.DataFrame:
    """Per asset and step (rows: the run's steps), the USD (+ bought) the contagion flows of ``flows`` trade when the
    assets follow ``run``'s recorded index: a follower trades ``usd_per_unit_return * beta`` times
    its leader's log move over the previous step, on its books as the run's market makers left
    them where its contagion is on its current books (the kernel's rule, ``core.flows_stage``).
    A free replay adds this flow itself, so a schedule measured on the observed path leaves it
    out."""
    steps = run.steps
    assets = [str(a) for a in steps["asset"].cat.categories]
    idx = steps.drop_duplicates(["time_s", "asset"]).pivot(index="time_s", columns="asset", values="index")
    n = len(idx)
    out = pd.DataFrame(0.0, index=np.arange(n), columns=assets)
    for c in flows.contagion:
        lead = idx[c.leader].to_numpy(np.float64)
        move = np.log(lead / np.r_[lead[0], lead[:-1]])  # the leader's move over each step (0 at the first)
        lagged = np.r_[0.0, move[:-1]]  # a step trades on the previous step's move
        keep = np.ones(n)
        if c.on_current_books:
            g = steps[steps["asset"] == c.asset]
            mult = g.pivot(index="time_s", columns="venue", values="depth_multiplier")
            for v, share in liquidity.perp_density_shares(c.asset).items():
                m = np.r_[1.0, mult[v].to_numpy(np.float64)[:-1]]  # the books the step's flow meets
                keep -= share * (1.0 - m)
        out[c.asset] += c.usd_per_unit_return * c.beta * lagged * keep
    return out


def every(frame: pd.DataFrame, interval_s: float, dt: float) -> pd.DataFrame:
    """The rows at the end of every ``interval_s`` seconds (``time_s`` = the interval's end)."""
    k = int(round(interval_s / dt))
    out = frame.iloc[k - 1 :: k]
    return out.set_axis(out.index + dt, axis=0)


# ---------------------------------------------------------------------------------- the pipeline
@dataclass
class ObservedReplay:
    """An observed replay's results: the run, its population, the paths it followed, the
    attribution and the counterfactual."""

    run: Any
    population: Any
    paths: dict[str, np.ndarray]
    attribution: Attribution
    counterfactual: dict[str, Any]
    #: the replay's index at every 5-minute close (``time_s`` from the start; a column per asset)
    index5m: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: per counterfactual case, its index at every 5-minute close
    counterfactual_paths: dict[str, pd.DataFrame] = field(default_factory=dict)


def replay_price_config(prices):
    """The replay law: the scenario's price rules with every move of the path kept.  The pin and
    the exogenous flow are the step's informed flow (``flow_permanent_impact = 1``: the fair price
    follows them); the engine's own forced flow keeps the model's law, a fraction
    ``permanent_impact`` kept and the rest recovered with ``resilience_half_life_s`` (the book
    refilling after a liquidation's walk).  So the path's implied flow does not hold the book's
    own recovery from each liquidation, which replayed without that liquidation would be a rise
    of its own."""
    import dataclasses

    return dataclasses.replace(prices, flow_permanent_impact=1.0)


def aggregate_depth(scenario) -> dict[str, dict[str, Any]]:
    """Per asset: ``perp`` (venue -> USD within 1 % of the mid per side), ``spot`` (USD, 0 without
    a spot book) and ``kappa``, the depth-weighted mean of the books' exponents."""
    out = {}
    for a, st in scenario.spec.assets.items():
        perp = {m.venue: m.depth_1pct_usd for m in scenario.spec.markets if m.asset == a}
        books = [(m.depth_1pct_usd, m.kappa) for m in scenario.spec.markets if m.asset == a]
        spot = float(st.spot_depth_1pct_usd or 0.0)
        if spot:
            books.append((spot, st.spot_kappa))
        if books:
            b = sum(x for x, _ in books)
            out[a] = {"perp": perp, "spot": spot, "kappa": sum(x * k for x, k in books) / b}
    return out


@dataclass(frozen=True)
class ObservedSetup:
    """The observed replay's engine inputs: the scenario, its population, the engine's positions,
    books and price law (the replay's: :func:`replay_price_config`), the scenario's own flows (what
    a free run of it trades; the observed replay trades none of them), the pinned index per asset
    and step (USD per base unit, :func:`observed_paths`) and the keyword arguments of
    :func:`liqcascade.engine.simulate` (steps, step in s, funds, ADL rule, seed, vault)."""

    scenario: Any
    population: Any
    positions: Any
    liquidity: Any
    prices: Any
    flows: Any
    paths: dict[str, np.ndarray]
    run_kw: dict[str, Any]


def observed_setup(
    scenario,
    *,
    n_positions: int | None = None,
    seed: int = 0,
    population=None,
    series: pd.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
) -> ObservedSetup:
    """What :func:`run_observed` runs the engine on (:class:`ObservedSetup`)."""
    from .scenario import build_engine_inputs, build_population, load_scenario

    tell = progress or (lambda stage: None)
    if isinstance(scenario, str):
        scenario = load_scenario(scenario)
    series = scenario.series() if series is None else series
    if series is None:
        raise InputError(
            f"scenario {scenario.name} has no market series: it runs only free (--mode free)", field="mode"
        )
    n_steps, dt = scenario.n_steps, scenario.spec.step_seconds
    assets = list(scenario.spec.assets)
    tell("population")
    pop = population if population is not None else build_population(scenario, n_positions=n_positions, seed=seed)
    tell("inputs")
    positions, liquidity, prices, flows = build_engine_inputs(scenario, pop)
    prices = replay_price_config(prices)
    paths = observed_paths(series, assets, start_ms=scenario.start_ms, n_steps=n_steps, dt=dt, seed=seed)
    for a, p in paths.items():
        if np.isnan(p[0]):
            raise InputError(f"series of {a} does not cover the scenario's start", field="series")
        gaps = int(np.count_nonzero(np.isnan(p)))
        if gaps:
            raise InputError(f"series of {a} leaves {gaps} of {n_steps} steps of the window uncovered", field="series")
    liq = scenario.params.liquidation
    run_kw = dict(
        n_steps=n_steps,
        dt=dt,
        insurance_fund=scenario.spec.insurance_fund_usd,
        adl_rule=liq.adl_rule,
        seed=seed,
        vault_unwind_half_life_s=liq.vault_unwind_half_life_s,
    )
    return ObservedSetup(scenario, pop, positions, liquidity, prices, flows, paths, run_kw)


def run_observed(
    scenario,
    *,
    n_positions: int | None = None,
    seed: int = 0,
    population=None,
    series: pd.DataFrame | None = None,
    with_counterfactual: bool = True,
    progress: Callable[[str], None] | None = None,
) -> ObservedReplay:
    """The observed replay of a scenario whose series covers its window (module docstring)."""
    setup = observed_setup(
        scenario, n_positions=n_positions, seed=seed, population=population, series=series, progress=progress
    )
    return run_setup(setup, with_counterfactual=with_counterfactual, progress=progress)


def run_setup(
    setup: ObservedSetup, *, with_counterfactual: bool = True, progress: Callable[[str], None] | None = None
) -> ObservedReplay:
    """:func:`run_observed` on inputs already built (:func:`observed_setup`)."""
    from .engine import Flows, simulate

    tell = progress or (lambda stage: None)
    scenario, pop, positions, liquidity, prices, paths = (
        setup.scenario,
        setup.population,
        setup.positions,
        setup.liquidity,
        setup.prices,
        setup.paths,
    )
    dt = setup.run_kw["dt"]
    assets = list(scenario.spec.assets)
    tell("engine")
    run = simulate(positions, liquidity, prices, Flows(), index_path=paths, **setup.run_kw)
    tell("attribution")
    p = scenario.params.prices
    att = attribution(
        run,
        paths,
        aggregate_depth(scenario),
        dt=dt,
        permanent_impact=p.permanent_impact,
        resilience_half_life_s=p.resilience_half_life_s,
    )
    cf: dict[str, Any] = {}
    cf_paths: dict[str, pd.DataFrame] = {}
    if with_counterfactual:
        tell("counterfactual")
        exo = run.implied_flow_usd.copy()
        cf, cf_paths = counterfactual(
            positions,
            liquidity,
            prices,
            exo,
            start_index={a: float(paths[a][0]) if a in paths else prices.initial[a] for a in assets},
            **setup.run_kw,
        )
    run.summary["attribution"] = att.summary
    run.summary["counterfactual"] = cf
    return ObservedReplay(run, pop, paths, att, cf, every(recorded_index(run), 300.0, dt), cf_paths)


# ``liqcascade.replay(...)`` is the pipeline (:func:`liqcascade.pipeline.replay`) whether the
# package's ``replay`` attribute is the function or, once imported, this module.
from ._callable import callable_module  # noqa: E402

callable_module(__name__, "liqcascade.pipeline:replay")
