"""One run's report: a single self-contained HTML file (Plotly, plotly.js inlined: it opens
offline) and static PNGs of the main charts beside it (matplotlib, no browser needed).

``write_report(directory, run, population, scenario, summary, rows=..., targets=...)`` writes
``report.html`` and ``prices.png``, ``liquidations.png``, ``depth.png``, ``funds_adl.png``,
``branching.png``, ``liquidation_map.png`` into ``directory`` and returns the HTML path.

The report shows: mark prices per asset and venue; liquidations per minute by venue and side;
depth within ±1 % of mid over time; insurance funds, ADL and bad debt; the branching ratio by
wave; the liquidation map of the synthetic population at the start (before the crash); the
simulated figures beside the reported ones (band, ✓/✗, true and as-reported totals side by side);
and which parameters were fitted and which figures came out of the model.

Charts use one-minute bars (the engine steps by the second): prices and funds at the minute's
close, liquidations summed, depth averaged.
"""

from __future__ import annotations

import html
import math
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .summary import index_paths, parameter_provenance, parameters_of
from .targets import FAIL, PASS, Row, Targets, fmt

# one colour per venue and side, the same in the HTML and the PNGs
VENUE_COLOURS = {"binance": "#F0B90B", "bybit": "#17181E", "okx": "#4A6CF7", "hyperliquid": "#50D2C1"}
_FALLBACK = ("#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
LONG_COLOUR, SHORT_COLOUR = "#d62728", "#2ca02c"
PNGS = ("prices", "liquidations", "depth", "funds_adl", "branching", "liquidation_map")
MAX_WAVE_POINTS = 20_000
#: the liquidation charts' bin (s)
LIQ_BIN_S = 300


def _colour(venue: str, i: int = 0) -> str:
    return VENUE_COLOURS.get(venue, _FALLBACK[i % len(_FALLBACK)])


# ---------------------------------------------------------------------------------- data
def minute_bars(steps: pd.DataFrame, bar_s: float = 60.0) -> pd.DataFrame:
    """Steps per market aggregated to bars of ``bar_s`` seconds: ``bar_s`` (bar start, s from the
    run's start), venue, asset, mark (close), depth_1pct_usd (mean), liq_long_usd and
    liq_short_usd (sum, USD), insurance_fund_usd (close), adl_usd (sum), bad_debt_usd (close,
    cumulative)."""
    if steps.empty:
        return pd.DataFrame(columns=["bar_s", "venue", "asset", "mark", "depth_1pct_usd", "liq_long_usd",
                                     "liq_short_usd", "insurance_fund_usd", "adl_usd", "bad_debt_usd"])
    f = steps.assign(bar_s=np.floor(steps["time_s"].to_numpy() / bar_s) * bar_s)
    # group on the categoricals' codes (a million rows of strings would cost seconds)
    g = f.groupby(["bar_s", "venue", "asset"], sort=True, observed=True)
    out = g.agg(mark=("mark", "last"), depth_1pct_usd=("depth_1pct_usd", "mean"),
                liq_long_usd=("liq_long_usd", "sum"), liq_short_usd=("liq_short_usd", "sum"),
                insurance_fund_usd=("insurance_fund_usd", "last"), adl_usd=("adl_usd", "sum"),
                bad_debt_usd=("bad_debt_usd", "last")).reset_index()
    out["venue"] = np.asarray(out["venue"], dtype=object).astype(str)
    out["asset"] = np.asarray(out["asset"], dtype=object).astype(str)
    return out


def _nice_bin(price: float) -> float:
    """A round bin near 0.2 % of the price: 1, 2 or 5 × 10^k USD."""
    raw = max(price * 0.002, 1e-9)
    k = 10.0 ** math.floor(math.log10(raw))
    return min((m * k for m in (1.0, 2.0, 5.0, 10.0)), key=lambda b: abs(b - raw))


def population_liquidation_prices(population) -> np.ndarray:
    """Each synthetic position's liquidation price (USD) at the start, from the venues' rule
    books (cross positions against their account's wallet, as the engine margins them)."""
    from .population import MODE_CROSS
    from .venues import get_venue

    n = len(population)
    margin = np.asarray(population.margin, np.float64).copy()
    cross = np.asarray(population.mode) == MODE_CROSS
    margin[cross] = np.asarray(population.wallet)[np.asarray(population.account)[cross]]
    lp = np.full(n, np.nan)
    venue, asset, mode = (np.asarray(population.venue), np.asarray(population.asset), np.asarray(population.mode))
    for vi, v in enumerate(population.venues):
        rules = get_venue(v)
        for ai, a in enumerate(population.assets):
            table = rules.tier_table(rules.resolve_symbol(f"{str(a).upper()}/USDT:USDT"))
            for m in np.unique(mode):
                idx = np.flatnonzero((venue == vi) & (asset == ai) & (mode == m))
                if idx.size:
                    lp[idx] = rules.liquidation_price(
                        np.asarray(population.side)[idx], np.asarray(population.size)[idx],
                        np.asarray(population.entry)[idx], margin[idx], table,
                        mode="cross" if m == MODE_CROSS else "isolated")
    return lp


def liquidation_maps(population, scenario) -> dict[str, dict[str, Any]]:
    """Per asset, the USD of the synthetic positions (notional at entry) whose liquidation price
    lies in each price bin, all venues together, within ±50 % of the start price.  Built with
    :func:`liqcascade.liqmap.observed_liquidation_map` on the modelled positions: the map is
    *modelled* (synthetic population), not observed.  Entry orders that open only during the
    run (``population.pending``) are not on the map: before the crash they hold no position."""
    from .liqmap import observed_liquidation_map

    lp = population_liquidation_prices(population)
    assets = [str(a) for a in population.assets]
    side = np.where(np.asarray(population.side) > 0, "long", "short")
    out = {}
    for ai, a in enumerate(assets):
        sel = (np.asarray(population.asset) == ai) & ~population.is_pending
        start = float(scenario.spec.assets[a].start_price)
        frame = pd.DataFrame({"account": np.asarray(population.account)[sel], "symbol": a, "side": side[sel],
                              "size": np.asarray(population.size)[sel], "entry": np.asarray(population.entry)[sel],
                              "liquidation_price": lp[sel], "margin": np.asarray(population.margin)[sel]})
        if frame.empty:
            continue
        bin_size = _nice_bin(start)
        lo = math.floor(start * 0.5 / bin_size) * bin_size
        hi = math.ceil(start * 1.5 / bin_size) * bin_size
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # positions no positive price liquidates: counted in meta
            try:
                m = observed_liquidation_map(frame, symbol=a, bin_size=bin_size, price_range=(lo, hi),
                                             venue="all venues")
            except Exception as exc:  # noqa: BLE001 - a map that cannot be drawn is reported, not fatal
                out[a] = {"error": str(exc), "start_price": start}
                continue
        prof = m.profile(0)
        out[a] = {"price": prof["price_level"].to_numpy() + bin_size / 2, "long_usd": prof["long_usd"].to_numpy(),
                  "short_usd": prof["short_usd"].to_numpy(), "bin_size": bin_size, "start_price": start,
                  "positions": int(m.meta.get("positions", 0)),
                  "without_price": int(m.meta.get("dropped_without_liquidation_price", 0)),
                  "out_of_range_usd": float(m.meta.get("out_of_range_usd", 0.0))}
    return out


# ---------------------------------------------------------------------------------- plotly
def _times(start: datetime, seconds) -> np.ndarray:
    """UTC datetimes (datetime64[ms], naive UTC) ``seconds`` after ``start``: an array, which
    Plotly serialises in one go (a list of datetime objects is validated one by one)."""
    t0 = np.datetime64(start.astimezone(timezone.utc).replace(tzinfo=None), "ms")
    return t0 + np.round(np.asarray(seconds, float) * 1000.0).astype("timedelta64[ms]")


def _log_axis(values) -> bool:
    v = np.asarray(values, float)
    v = v[np.isfinite(v) & (v > 0)]
    return v.size > 0 and v.max() / v.min() > 20


def plotly_figures(bars: pd.DataFrame, run, summary: dict, scenario, maps: dict, replay=None) -> dict[str, Any]:
    """The report's Plotly figures by name (the PNG names)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    start = datetime.fromisoformat(summary["start_utc"].replace("Z", "+00:00"))
    venues = [v for v in dict.fromkeys(bars["venue"])] if len(bars) else []
    assets = list(scenario.spec.assets)
    figs: dict[str, Any] = {}
    layout = dict(template="plotly_white", height=420, margin=dict(l=60, r=20, t=50, b=40),
                  legend=dict(orientation="h", y=-0.15))

    # prices: one panel per asset, a mark per venue and the index
    index = index_paths(run, scenario)
    f = make_subplots(rows=len(assets), cols=1, shared_xaxes=True, subplot_titles=[f"{a} (USD)" for a in assets])
    for r, a in enumerate(assets, 1):
        for i, v in enumerate(venues):
            b = bars[(bars["venue"] == v) & (bars["asset"] == a)]
            if len(b):
                f.add_trace(go.Scatter(x=_times(start, b["bar_s"] + 60), y=b["mark"], mode="lines",
                                       name=f"{v} mark", legendgroup=v, showlegend=r == 1,
                                       line=dict(color=_colour(v, i), width=1.2)), row=r, col=1)
        if a in index.columns:
            ix = index[["time_s", a]].iloc[:: max(1, len(index) // 3000)]
            f.add_trace(go.Scatter(x=_times(start, ix["time_s"]), y=ix[a], mode="lines", name="index",
                                   legendgroup="index", showlegend=r == 1,
                                   line=dict(color="#555", width=1, dash="dot")), row=r, col=1)
            if _log_axis(index[a]):
                f.update_yaxes(type="log", row=r, col=1)
    f.update_layout(title="Mark prices per asset and venue (one-minute closes)",
                    **dict(layout, height=300 * len(assets) + 120))
    figs["prices"] = f

    # liquidations per 5 minutes, longs up and shorts down, stacked by venue (a minute's bars are
    # hairlines on a two-day axis)
    f = go.Figure()
    for i, v in enumerate(venues):
        b = bars[bars["venue"] == v]
        b = b.groupby((b["bar_s"] // LIQ_BIN_S) * LIQ_BIN_S)[["liq_long_usd", "liq_short_usd"]].sum()
        t = _times(start, b.index + LIQ_BIN_S / 2)
        f.add_trace(go.Bar(x=t, y=b["liq_long_usd"], name=f"{v} longs", marker_color=_colour(v, i)))
        f.add_trace(go.Bar(x=t, y=-b["liq_short_usd"], name=f"{v} shorts", marker_color=_colour(v, i),
                           marker_pattern_shape="/", opacity=0.7))
    f.update_layout(title="Liquidations per 5 minutes by venue (longs above zero, shorts below), USD",
                    barmode="relative", bargap=0, yaxis_title="USD per 5 minutes", **layout)
    figs["liquidations"] = f

    # depth within ±1 % of mid, per market
    f = go.Figure()
    for i, v in enumerate(venues):
        for a in assets:
            b = bars[(bars["venue"] == v) & (bars["asset"] == a)]
            if len(b):
                f.add_trace(go.Scatter(x=_times(start, b["bar_s"]), y=b["depth_1pct_usd"], mode="lines",
                                       name=f"{v} {a}", line=dict(color=_colour(v, i), width=1.2,
                                                                  dash="solid" if a == assets[0] else "dash")))
    f.update_layout(title="Depth within ±1 % of mid (both sides, USD; one-minute means)", yaxis_title="USD",
                    **layout)
    if len(bars) and _log_axis(bars["depth_1pct_usd"]):
        f.update_yaxes(type="log")
    figs["depth"] = f

    # insurance funds; cumulative ADL and bad debt
    f = make_subplots(rows=1, cols=2, subplot_titles=["Insurance fund / liquidator vault cash (USD)",
                                                       "Cumulative ADL and bad debt (USD)"])
    for i, v in enumerate(venues):
        b = bars[bars["venue"] == v]
        fund = b.groupby("bar_s")["insurance_fund_usd"].last()
        adl = b.groupby("bar_s")["adl_usd"].sum().cumsum()
        bad = b.groupby("bar_s")["bad_debt_usd"].sum()
        f.add_trace(go.Scatter(x=_times(start, fund.index + 60), y=fund, name=f"{v} fund", mode="lines",
                               line=dict(color=_colour(v, i))), row=1, col=1)
        f.add_trace(go.Scatter(x=_times(start, adl.index + 60), y=adl, name=f"{v} ADL", mode="lines",
                               line=dict(color=_colour(v, i))), row=1, col=2)
        f.add_trace(go.Scatter(x=_times(start, bad.index + 60), y=bad, name=f"{v} bad debt", mode="lines",
                               line=dict(color=_colour(v, i), dash="dot")), row=1, col=2)
    if len(bars) and not (bars["adl_usd"].abs().sum() > 0 or bars["bad_debt_usd"].abs().sum() > 0):
        f.add_annotation(text="no ADL and no bad debt in this run", xref="x2 domain", yref="y2 domain",
                         x=0.5, y=0.5, showarrow=False)
    f.update_layout(title="Insurance funds, ADL and bad debt", **layout)
    figs["funds_adl"] = f

    # branching ratio by wave
    f = go.Figure()
    w = run.waves
    w = w[np.isfinite(w["branching_ratio"].to_numpy(float))] if len(w) else w
    note = ""
    if len(w) > MAX_WAVE_POINTS:
        w = w.sample(MAX_WAVE_POINTS, random_state=0).sort_index()
        note = f" (a sample of {MAX_WAVE_POINTS:,} of {len(run.waves):,} waves)"
    if len(w):
        f.add_trace(go.Scatter(x=w["wave"], y=w["branching_ratio"], mode="markers", name="one wave",
                               marker=dict(size=5, opacity=0.5, color="#1f77b4"),
                               customdata=np.stack([w["time_s"] / 3600.0, w["liquidated_usd"]], axis=1),
                               hovertemplate="wave %{x}<br>ratio %{y:.3g}<br>hour %{customdata[0]:.2f}"
                                             "<br>liquidated $%{customdata[1]:,.0f}<extra></extra>"))
        med = w.groupby("wave")["branching_ratio"].median()
        f.add_trace(go.Scatter(x=med.index, y=med, mode="lines+markers", name="median", line=dict(color="#d62728")))
        f.add_hline(y=1.0, line_dash="dash", annotation_text="critical (1)")
        if _log_axis(w["branching_ratio"]):
            f.update_yaxes(type="log")
    f.update_layout(title="Branching ratio by wave within a step: liquidated USD / depth consumed" + note,
                    xaxis_title="wave number within the step", yaxis_title="branching ratio", **layout)
    figs["branching"] = f

    # liquidation map before the crash
    f = make_subplots(rows=1, cols=max(1, len(maps)), subplot_titles=[f"{a}" for a in maps] or [""])
    for c, (a, m) in enumerate(maps.items(), 1):
        if "error" in m:
            continue
        f.add_trace(go.Bar(x=m["price"], y=m["long_usd"], name="longs", marker_color=LONG_COLOUR,
                           showlegend=c == 1), row=1, col=c)
        f.add_trace(go.Bar(x=m["price"], y=m["short_usd"], name="shorts", marker_color=SHORT_COLOUR,
                           showlegend=c == 1), row=1, col=c)
        f.add_vline(x=m["start_price"], line_dash="dash", row=1, col=c)
    f.update_layout(title="Liquidation map at the start (modelled: the synthetic population's liquidation "
                          "prices from the venues' rule books; USD notional per price bin)",
                    barmode="stack", bargap=0, **layout)
    figs["liquidation_map"] = f
    if replay is not None:
        figs.update(replay_figures(replay, scenario, start, layout))
    return figs


def real_closes(scenario, assets) -> pd.DataFrame:
    """The scenario's own 5-minute closes over its window (``time_s`` from the start, one column
    per asset), empty without a series."""
    series = scenario.series() if hasattr(scenario, "series") else None
    if series is None:
        return pd.DataFrame()
    s = series[(series["bar_s"] == 300) & series["asset"].isin(assets)]
    t = (s["time_ms"].to_numpy(np.int64) - scenario.start_ms) / 1000.0 + 300.0  # at the bar's close
    s = s.assign(time_s=t)
    s = s[(s["time_s"] > 0) & (s["time_s"] <= scenario.n_steps * scenario.spec.step_seconds)]
    return s.pivot_table(index="time_s", columns="asset", values="close")


def replay_figures(replay, scenario, start, layout) -> dict[str, Any]:
    """The observed replay's figures: the real path, the engine's and the counterfactuals'
    (5-minute closes) per asset; the attribution over time (cumulative log moves)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    assets = [a for a in scenario.spec.assets if a in replay.paths]
    real = real_closes(scenario, assets)
    figs = {}
    f = make_subplots(rows=len(assets), cols=1, shared_xaxes=True, subplot_titles=[f"{a} (USD)" for a in assets])
    dash = {"no_liquidations": "dash", "leverage_10x": "dot", "consistency": "dashdot"}
    for r, a in enumerate(assets, 1):
        if a in real.columns:
            f.add_trace(go.Scatter(x=_times(start, real.index), y=real[a], mode="lines", name="real (Binance, 5 min)",
                                   legendgroup="real", showlegend=r == 1, line=dict(color="#111", width=2.2)),
                        row=r, col=1)
        ix = replay.index5m
        if a in ix.columns:
            f.add_trace(go.Scatter(x=_times(start, ix.index), y=ix[a], mode="lines", name="replay (engine index)",
                                   legendgroup="replay", showlegend=r == 1, line=dict(color="#1f77b4", width=1.2)),
                        row=r, col=1)
        for name, path in replay.counterfactual_paths.items():
            if a in path.columns:
                f.add_trace(go.Scatter(x=_times(start, path.index), y=path[a], mode="lines",
                                       name=f"counterfactual: {name.replace('_', ' ')}", legendgroup=name,
                                       showlegend=r == 1, line=dict(width=1.2, dash=dash.get(name, "solid"))),
                            row=r, col=1)
    f.update_layout(title="The real path, the replay on it, and the exogenous flow replayed without "
                          "liquidations / with leverage capped at 10x", **dict(layout, height=260 * len(assets) + 140))
    figs["observed"] = f
    att = replay.attribution.frame
    f = make_subplots(rows=len(assets), cols=1, shared_xaxes=True,
                      subplot_titles=[f"{a}: cumulative log move" for a in assets])
    for r, a in enumerate(assets, 1):
        d = att[att["asset"] == a]
        t = _times(start, d["time_s"] + 300)
        for col, name, style in (("observed_move", "observed", dict(color="#111", width=2)),
                                 ("endogenous_move", "forced flow (all of its impact kept)",
                                  dict(color="#d62728", width=1.4)),
                                 ("endogenous_move_transient", "forced flow (model's resilience)",
                                  dict(color="#d62728", width=1.2, dash="dot"))):
            f.add_trace(go.Scatter(x=t, y=d[col].cumsum(), mode="lines", name=name, legendgroup=col,
                                   showlegend=r == 1, line=style), row=r, col=1)
    f.update_layout(title="Attribution: the observed move and the part the liquidations' forced flow "
                          "causes through the books (5-minute steps)", **dict(layout, height=240 * len(assets) + 140))
    figs["attribution"] = f
    return figs


def _replay_html(summary: dict, divs: dict) -> str:
    """The observed replay's section: what it is, its attribution and counterfactual figures."""
    if summary.get("mode") != "observed" or "observed" not in divs:
        return ""
    att = summary.get("attribution") or {}
    cf = summary.get("counterfactual") or {}
    rows = []
    for a, x in att.items():
        share = x.get("share_of_fall")
        tr = x.get("share_of_fall_transient")
        lows = " · ".join(f"{name.replace('_', ' ')} {c[a]['low']:,.6g}" for name, c in cf.items() if a in c)
        rows.append(f"<tr><td>{_e(a)}</td><td>{x['low']:,.6g}</td><td>{100 * x['observed_fall']:.1f} %</td>"
                    f"<td>{'n/a' if share is None else f'{100 * share:.0f} %'}</td>"
                    f"<td>{'n/a' if tr is None else f'{100 * tr:.0f} %'}</td><td>{_e(lows)}</td></tr>")
    table = ("<table><tr><th>asset</th><th>real low (USD)</th><th>log fall to the low</th>"
             "<th>share of the fall the liquidations cause (impact kept)</th><th>same, model's resilience</th>"
             "<th>counterfactual lows (USD)</th></tr>" + "".join(rows) + "</table>")
    return f"""<h2>The crash as it happened</h2>
<p>Observed replay: every asset's index follows the real Binance perpetual bars (one-minute where the
series has them), bridged to one-second steps through each bar's open, high, low and close; the
liquidations are what the venues' rule books do to the population on that path. The flow the
path implies beyond them is replayed free for the counterfactuals.</p>
{divs['observed']}
<h3>How much of the fall did the liquidations cause?</h3>
<p>The forced flow's own move through the books' depth (every venue and spot, at the market makers'
depth then), accumulated from the start to the low, over the observed fall. Two bounds: every move
kept (the replay's law) and the model's resilience (a fraction stays, the rest decays).</p>
{table}
{divs['attribution']}
"""


# ---------------------------------------------------------------------------------- PNGs
def write_pngs(directory: Path, bars: pd.DataFrame, run, summary: dict, scenario, maps: dict) -> list[Path]:
    """Static PNGs of the main charts (matplotlib's Agg canvas: no display, no browser)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    directory = Path(directory)
    hours = f"hours since {summary['start_utc']}"
    venues = list(dict.fromkeys(bars["venue"])) if len(bars) else []
    assets = list(scenario.spec.assets)
    written = []

    def finish(ax, title, ylabel, xlabel=hours, ncol=2):
        """Title, axis labels, grid and (with venues) the legend of one chart."""
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        if venues:
            ax.legend(loc="upper right", fontsize=8, ncol=ncol)

    def save(fig, name):
        FigureCanvasAgg(fig)
        fig.tight_layout()
        p = directory / f"{name}.png"
        fig.savefig(p, dpi=110)
        written.append(p)

    fig = Figure(figsize=(10, 3.2 * len(assets)))
    for r, a in enumerate(assets):
        ax = fig.add_subplot(len(assets), 1, r + 1)
        for i, v in enumerate(venues):
            b = bars[(bars["venue"] == v) & (bars["asset"] == a)]
            ax.plot((b["bar_s"] + 60) / 3600, b["mark"], lw=1, color=_colour(v, i), label=f"{v} mark")
        if len(bars) and _log_axis(bars.loc[bars["asset"] == a, "mark"]):
            ax.set_yscale("log")
        ax.set_ylabel(f"{a}, USD")
        ax.grid(alpha=0.3)
        if r == 0:
            ax.set_title("Mark prices per asset and venue")
            ax.legend(loc="upper right", fontsize=8)
    ax.set_xlabel(hours)
    save(fig, "prices")

    fig = Figure(figsize=(10, 4))
    ax = fig.add_subplot()
    up = down = None
    # filled steps, not bars: one polygon per series instead of one patch per minute
    for i, v in enumerate(venues):
        b = bars[bars["venue"] == v].groupby("bar_s")[["liq_long_usd", "liq_short_usd"]].sum()
        x = np.append(b.index.to_numpy(), b.index.to_numpy()[-1] + 60.0) / 3600 if len(b) else np.zeros(1)
        up = np.zeros(len(b)) if up is None or len(up) != len(b) else up
        down = np.zeros(len(b)) if down is None or len(down) != len(b) else down
        new_up, new_down = up + b["liq_long_usd"].to_numpy(), down + b["liq_short_usd"].to_numpy()
        ax.fill_between(x, np.append(up, up[-1:]), np.append(new_up, new_up[-1:]), step="post", lw=0,
                        color=_colour(v, i), label=f"{v} longs")
        ax.fill_between(x, -np.append(down, down[-1:]), -np.append(new_down, new_down[-1:]), step="post", lw=0,
                        color=_colour(v, i), alpha=0.45, label=f"{v} shorts")
        up, down = new_up, new_down
    ax.axhline(0, color="k", lw=0.5)
    finish(ax, "Liquidations per minute by venue (longs up, shorts down)", "USD per minute")
    save(fig, "liquidations")

    fig = Figure(figsize=(10, 4))
    ax = fig.add_subplot()
    for i, v in enumerate(venues):
        for a in assets:
            b = bars[(bars["venue"] == v) & (bars["asset"] == a)]
            ax.plot(b["bar_s"] / 3600, b["depth_1pct_usd"], lw=1, color=_colour(v, i),
                    ls="-" if a == assets[0] else "--", label=f"{v} {a}")
    if len(bars) and _log_axis(bars["depth_1pct_usd"]):
        ax.set_yscale("log")
    finish(ax, "Depth within ±1 % of mid (both sides)", "USD")
    save(fig, "depth")

    fig = Figure(figsize=(11, 4))
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for i, v in enumerate(venues):
        b = bars[bars["venue"] == v]
        fund = b.groupby("bar_s")["insurance_fund_usd"].last()
        adl = b.groupby("bar_s")["adl_usd"].sum().cumsum()
        bad = b.groupby("bar_s")["bad_debt_usd"].sum()
        ax1.plot((fund.index + 60) / 3600, fund, color=_colour(v, i), label=v)
        ax2.plot((adl.index + 60) / 3600, adl, color=_colour(v, i), label=f"{v} ADL")
        ax2.plot((bad.index + 60) / 3600, bad, color=_colour(v, i), ls=":", label=f"{v} bad debt")
    finish(ax1, "Insurance fund / vault cash", "USD", ncol=1)
    finish(ax2, "Cumulative ADL and bad debt", "USD", ncol=1)
    if not (bars["adl_usd"].abs().sum() > 0 or bars["bad_debt_usd"].abs().sum() > 0):
        ax2.text(0.5, 0.5, "no ADL and no bad debt in this run", transform=ax2.transAxes, ha="center",
                 va="center", fontsize=11, color="#555")
    save(fig, "funds_adl")

    fig = Figure(figsize=(10, 4))
    ax = fig.add_subplot()
    w = run.waves
    w = w[np.isfinite(w["branching_ratio"].to_numpy(float))] if len(w) else w
    if len(w) > MAX_WAVE_POINTS:
        w = w.sample(MAX_WAVE_POINTS, random_state=0)
    if len(w):
        ax.scatter(w["wave"], w["branching_ratio"], s=8, alpha=0.4, label="one wave")
        med = w.groupby("wave")["branching_ratio"].median()
        ax.plot(med.index, med, color="#d62728", marker="o", label="median")
        if _log_axis(w["branching_ratio"]):
            ax.set_yscale("log")
        ax.legend(loc="upper right", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no wave in this run", ha="center", va="center", transform=ax.transAxes)
    ax.axhline(1.0, color="k", ls="--", lw=0.8)
    ax.set_title("Branching ratio by wave (liquidated USD / depth consumed)")
    ax.set_xlabel("wave number within the step")
    ax.set_ylabel("branching ratio")
    ax.grid(alpha=0.3)
    save(fig, "branching")

    fig = Figure(figsize=(5.5 * max(1, len(maps)), 4))
    for c, (a, m) in enumerate(maps.items(), 1):
        ax = fig.add_subplot(1, max(1, len(maps)), c)
        if "error" in m:
            ax.text(0.5, 0.5, m["error"], ha="center", va="center", transform=ax.transAxes, wrap=True)
            continue
        wdt = m["bin_size"]
        x = np.append(m["price"] - wdt / 2, m["price"][-1] + wdt / 2)
        lo, top = np.append(m["long_usd"], 0.0), np.append(m["long_usd"] + m["short_usd"], 0.0)
        ax.fill_between(x, 0.0, lo, step="post", lw=0, color=LONG_COLOUR, label="longs")
        ax.fill_between(x, lo, top, step="post", lw=0, color=SHORT_COLOUR, label="shorts")
        ax.axvline(m["start_price"], color="k", ls="--", lw=0.8, label="start price")
        ax.set_title(f"{a}: liquidation map at the start (modelled)")
        ax.set_xlabel(f"liquidation price, USD (bins of ${wdt:g})")
        ax.set_ylabel("USD notional per bin")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
    save(fig, "liquidation_map")
    return written


# ---------------------------------------------------------------------------------- HTML
def _e(x: Any) -> str:
    return html.escape(str(x))


def _usd(x) -> str:
    return fmt(x, "USD")


def _ledger(x) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:,.6f} USD"


def _comparison_table(rows: Sequence[Row], targets: Targets | None, in_sample: bool) -> str:
    if not rows:
        return "<p>No targets file for this scenario: nothing to compare with.</p>"
    head = ("<tr><th>figure</th><th>simulated</th><th>reported band</th><th>reported</th><th>source</th>"
            "<th></th><th>from</th></tr>")
    body = []
    for r in rows:
        cls = "ok" if r.ok else "bad"
        body.append(f"<tr class='{cls}'><td>{_e(r.label)}<br><code>{_e(r.key)}</code></td>"
                    f"<td class='num'>{_e(r.simulated_text)}</td><td class='num'>{_e(r.band)}</td>"
                    f"<td>{_e(r.reported)}</td><td>{_e(r.sources)}</td>"
                    f"<td class='mark'>{PASS if r.ok else FAIL}</td>"
                    f"<td>{'fitted to (in-sample)' if in_sample else 'model output'}</td></tr>")
    met = sum(r.ok for r in rows)
    title = _e(targets.title or targets.name) if targets else ""
    return (f"<p><b>{met} of {len(rows)}</b> figures inside the reported band ({title}; targets file "
            f"<code>{_e(targets.name if targets else '')}</code>).</p>"
            f"<table class='cmp'>{head}{''.join(body)}</table>")


def _totals_table(summary: dict) -> str:
    rows = [("all venues", summary.get("liquidations_usd"), summary.get("liquidations_usd_reported"))]
    true_v, rep_v = summary.get("by_venue_usd", {}), summary.get("by_venue_usd_reported", {})
    rows += [(v, true_v.get(v), rep_v.get(v)) for v in true_v]
    out = ["<table class='cmp'><tr><th>venue</th><th>true liquidations</th><th>as reported (public feed)</th>"
           "<th>feed shows</th></tr>"]
    for name, t, r in rows:
        share = f"{r / t:.0%}" if t and r is not None and t > 0 else "n/a"
        out.append(f"<tr><td>{_e(name)}</td><td class='num'>{_usd(t)}</td><td class='num'>{_usd(r)}</td>"
                   f"<td class='num'>{share}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _seeds_text(seeds) -> str:
    """`` with seed 0`` / `` over seeds 0, 1, 2 (the mean objective)`` for the fit's seeds."""
    seeds = list(seeds or [])
    if not seeds:
        return ""
    if len(seeds) == 1:
        return f" with seed {seeds[0]}"
    return f" over seeds {', '.join(str(x) for x in seeds)} (the mean objective)"


def _provenance_html(scenario, summary: dict, targets: Targets | None) -> tuple[str, bool]:
    prov = parameter_provenance(scenario)
    n = len(parameters_of(scenario))
    fitted = prov["fitted"]
    fitted_on = prov.get("fitted_on")
    fitted_on_list = fitted_on if isinstance(fitted_on, list) else ([fitted_on] if fitted_on else [])
    in_sample = bool(fitted) and targets is not None and targets.name in fitted_on_list
    parts = []
    if fitted:
        parts.append(f"<p><b>Fitted parameters ({len(fitted)} of {n}):</b> "
                     f"{', '.join(f'<code>{_e(k)}</code>' for k in fitted)}"
                     f"{' — fitted on ' + _e(', '.join(fitted_on_list)) if fitted_on_list else ''}"
                     f"{' at ' + _e(prov['fitted_at']) if prov.get('fitted_at') else ''}"
                     f"{_seeds_text(prov.get('fitted_seeds'))}. "
                     f"The other {n - len(fitted)} are priors.</p>")
    else:
        parts.append(f"<p><b>Fitted parameters: none.</b> All {n} global behavioural parameters are priors "
                     "(<code>model-parameters.toml</code>, not calibrated to any reported figure).</p>")
    over = prov["overridden"]
    parts.append("<p><b>Scenario overrides:</b> " + (
        ", ".join(f"<code>{_e(k)}</code>" for k in over) + " (this scenario changes them; other scenarios do not)"
        if over else "none: the scenario runs on the global parameters unchanged") + ".</p>")
    if in_sample:
        parts.append("<p><b>Figures:</b> the figures in the table were targets of the fit (in-sample); "
                     "they show how well the fit went, not that the model predicts them.</p>")
    else:
        parts.append("<p><b>Figures:</b> every simulated figure in this report came out of the model; none of "
                     "them was fitted to or put in. Inputs taken from the reports are the scenario's "
                     "<i>state</i> only — start prices and the stated price path before the start, open interest, "
                     "depth, insurance funds and the exogenous flows with their timing (see "
                     "<code>scenario.toml</code> beside this report).</p>")
    return "".join(parts), in_sample


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1200px;color:#222}
h1{font-size:1.5em;margin-bottom:0} h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
.meta{color:#666;font-size:.9em} code{font-size:.85em;color:#444}
table.cmp{border-collapse:collapse;margin:.5em 0;font-size:.9em}
table.cmp td,table.cmp th{border:1px solid #ddd;padding:4px 8px;vertical-align:top;text-align:left}
td.num{text-align:right;white-space:nowrap} td.mark{text-align:center;font-size:1.2em}
tr.ok td.mark{color:#2ca02c} tr.bad td.mark{color:#d62728}
.warn{background:#fff4e5;border-left:4px solid #f0a000;padding:8px 12px}
"""


def _scope_html(scenario, s: dict) -> str:
    """What the simulation holds beside what the reports count: the reports' totals cover every
    venue and symbol they name, the run only its scenario's markets, so a venue's share of the
    total is its share of the modelled venues' as-reported total."""
    from .engine.run import feed_throttles_s

    markets = scenario.spec.markets
    venues = sorted({m.venue for m in markets})
    assets = sorted({m.asset for m in markets})
    shares = s.get("venue_share_reported") or {}
    throttled = [v for v, w in zip(venues, feed_throttles_s(venues)) if w > 0]
    feed = ""
    printed = [shares.get(v) for v in throttled]
    if throttled and all(x is not None for x in printed):
        feed = (f"; the venues whose public feed is throttled ({', '.join(_e(v) for v in throttled)}) print "
                f"{fmt(sum(printed), 'fraction')} of it")
    return (f"<p><b>Scope.</b> The simulation holds {_e(', '.join(assets))} on {_e(', '.join(venues))} "
            f"({len(markets)} markets). The reported figures are the reports' totals over every venue and symbol "
            f"they cover, so a venue's simulated share is its share of the modelled venues' as-reported total{feed}.</p>")


def render_html(run, population, scenario, summary: dict, rows: Sequence[Row], targets: Targets | None,
                figs: dict[str, Any], maps: dict) -> str:
    """The report page as one string, plotly.js inlined once."""
    from plotly.offline import get_plotlyjs

    prov_html, in_sample = _provenance_html(scenario, summary, targets)
    divs = {name: f.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig-{name}",
                            config={"displaylogo": False, "responsive": True})
            for name, f in figs.items()}
    s = summary
    scale = s.get("population_scale") or 1.0
    pop_note = ""
    if scale and scale > 1.0001:
        pop_note = (f"<p class='warn'>Reduced population: {s['positions']:,} positions drawn for a real count of about "
                    f"{s['positions'] * scale:,.0f}. USD figures are at full scale (the positions hold the full "
                    f"open interest); account counts are multiplied by {scale:,.1f} for the comparison.</p>")
    uncal = ""
    missed = sum(not r.ok for r in rows)
    if missed:
        why = ("the global parameters are priors, not calibrated yet" if not s.get("parameters_fitted")
               else "see what was fitted below")
        uncal = (f"<p class='warn'>{missed} of {len(rows)} figures land outside the reported band: {why} "
                 "(see <a href='#provenance'>parameters</a>).</p>")
    map_notes = []
    for a, m in maps.items():
        if "error" in m:
            map_notes.append(f"{_e(a)}: no map ({_e(m['error'])})")
        else:
            map_notes.append(f"{_e(a)}: {m['positions']:,} positions, bins of ${m['bin_size']:g}; "
                             f"{_usd(m['out_of_range_usd'])} lies beyond ±50 % of the start price; "
                             f"{m['without_price']:,} positions have no positive liquidation price")
    dd = ", ".join(f"{a} {fmt(v, 'percent')}" for a, v in (s.get("drawdown_pct") or {}).items())
    title = f"{s['scenario']}: {s.get('scenario_title', '')}"
    scope_html = _scope_html(scenario, s)
    replay_html = _replay_html(s, divs)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{_e(title)} · liqcascade run {_e(s.get('run_id', ''))}</title>
<style>{_CSS}</style>
<script type="text/javascript">{get_plotlyjs()}</script>
</head><body>
<h1>{_e(title)}</h1>
<p class="meta">run <code>{_e(s.get('run_id', ''))}</code> · created {_e(s.get('created_utc', ''))} ·
seed {s['seed']} · {s['positions']:,} positions in {s['accounts']:,} accounts ·
horizon {s['horizon_hours']:g} h from {_e(s['start_utc'])}, steps of {s['step_seconds']:g} s ·
parameters <code>{_e(s['parameters_hash'])}</code> · scenario <code>{_e(s['scenario_hash'])}</code> ·
liqcascade {_e(s.get('code_version', ''))}</p>
{uncal}{pop_note}
<h2>Simulated vs reported</h2>
{_comparison_table(rows, targets, in_sample)}
{scope_html}
<h3>Liquidations: true and as reported, side by side</h3>
<p>The true total is every forced close in the simulation; the as-reported total is what the venues'
public feeds would show (Binance and OKX print only the latest liquidation of each symbol in each
second, Bybit and Hyperliquid print all). The reported figures are as-reported totals.</p>
{_totals_table(s)}
<p>Accounts liquidated: {s['accounts_liquidated']:,} in the simulated population
({fmt(s.get('accounts_liquidated_full_scale'), 'accounts')} at full scale) ·
long share {fmt(s.get('long_share'), 'fraction')} · largest liquidation {_usd(s.get('largest_liquidation_usd'))}
({_e(s.get('largest_liquidation_venue') or 'n/a')}, {_e(s.get('largest_liquidation_asset') or 'n/a')}) ·
drawdown {_e(dd)} · ADL {_usd(s.get('adl_usd'))} · backstop {_usd(s.get('backstop_usd'))} ·
bad debt {_usd(s.get('bad_debt_usd'))} · branching ratio max {fmt(s.get('branching_ratio_max'), '')} ·
ledger imbalance {_ledger(s.get('ledger_imbalance_usd'))}</p>
<p>Positions opened during the run (entry orders below the start: dip buyers and momentum shorts):
{_usd(s.get('opened_during_run_usd'))} opened, of which {_usd(s.get('liquidations_of_opened_usd'))} were
liquidated before the end.</p>
<h2 id="provenance">What was fitted, what came out of the model</h2>
{prov_html}
<h2>Prices</h2>{divs['prices']}
{replay_html}
<h2>Liquidations per 5 minutes</h2>{divs['liquidations']}
<h2>Depth within ±1 %</h2>{divs['depth']}
<h2>Insurance funds and ADL</h2>{divs['funds_adl']}
<h2>Branching ratio by wave</h2>
<p>Within a step, each wave's forced orders move the price and may cross further liquidation prices;
the ratio is the USD liquidated in a wave over the depth it consumed. Above 1 the cascade feeds itself.</p>
{divs['branching']}
<h2>Liquidation map before the crash</h2>
<p>Modelled, not observed: the synthetic population's positions at the start, each counted at its
notional (USD at entry) at the liquidation price its venue's rule book gives; all venues together.
{'; '.join(map_notes)}.</p>
{divs['liquidation_map']}
<p class="meta">Files beside this report: steps.parquet, events.parquet, waves.parquet, summary.json,
ledger.json, parameters.json, scenario.toml and PNGs of the charts ({', '.join(p + '.png' for p in PNGS)}).</p>
</body></html>
"""


def write_report(directory: str | Path, run, population, scenario, summary: dict, *,
                 rows: Sequence[Row] = (), targets: Targets | None = None, png: bool = True, replay=None) -> Path:
    """Write ``report.html`` (and the PNGs) into ``directory``; returns the HTML's path.
    ``replay``: an observed replay's :class:`~liqcascade.replay.ObservedReplay` (its path,
    attribution and counterfactual figures)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    bars = minute_bars(run.steps, max(60.0, float(scenario.spec.step_seconds)))
    maps = liquidation_maps(population, scenario)
    figs = plotly_figures(bars, run, summary, scenario, maps, replay)
    page = render_html(run, population, scenario, summary, list(rows), targets, figs, maps)
    out = d / "report.html"
    out.write_text(page, "utf-8")
    if png:
        write_pngs(d, bars, run, summary, scenario, maps)
        if replay is not None:
            write_replay_png(d, replay, scenario, summary)
    return out


def write_replay_png(directory: Path, replay, scenario, summary: dict) -> Path:
    """``observed.png``: per asset the real 5-minute closes, the replay and the counterfactuals;
    beneath, the liquidations per 5 minutes (longs above zero, shorts below, all venues)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    assets = [a for a in scenario.spec.assets if a in replay.paths]
    real = real_closes(scenario, assets)
    fig = Figure(figsize=(10, 2.6 * len(assets) + 2.8))
    axes = fig.subplots(len(assets) + 1, 1, sharex=True)
    for ax, a in zip(axes, assets):
        if a in real.columns:
            ax.plot(real.index / 3600, real[a], color="#111", lw=2, label="real (Binance 5 min)")
        ax.plot(replay.index5m.index / 3600, replay.index5m[a], color="#1f77b4", lw=1, label="replay")
        for name, path in replay.counterfactual_paths.items():
            if name != "consistency" and a in path.columns:
                ax.plot(path.index / 3600, path[a], lw=1, ls="--" if name == "no_liquidations" else ":",
                        label=name.replace("_", " "))
        ax.set_ylabel(f"{a} (USD)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    ev = replay.run.events
    b = (ev["time_s"] // LIQ_BIN_S) * LIQ_BIN_S
    longs = ev[ev["side"] == "long"].groupby(b)["usd"].sum()
    shorts = ev[ev["side"] == "short"].groupby(b)["usd"].sum()
    ax = axes[-1]
    ax.bar((longs.index + LIQ_BIN_S / 2) / 3600, longs / 1e6, width=LIQ_BIN_S / 3600, color=LONG_COLOUR, label="longs")
    ax.bar((shorts.index + LIQ_BIN_S / 2) / 3600, -shorts / 1e6, width=LIQ_BIN_S / 3600, color=SHORT_COLOUR,
           label="shorts")
    ax.set_ylabel("liquidated, $M / 5 min")
    ax.set_xlabel(f"hours since {summary['start_utc']}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.suptitle(f"{scenario.name}: the real path, the replay and the counterfactuals; liquidations per 5 minutes")
    FigureCanvasAgg(fig)
    fig.tight_layout()
    p = Path(directory) / "observed.png"
    fig.savefig(p, dpi=110)
    return p


# ---------------------------------------------------------------------------------- the main job
STAGES = ("population", "engine", "store", "report")


@dataclass
class ReportedRun:
    """What :func:`run_and_report` made: the stored run's id and directory, its report, the
    summary (as stored), the comparison rows, and the run and population in memory."""

    run_id: str
    path: Path
    report: Path
    summary: dict
    rows: list
    targets: Targets | None
    run: Any = field(repr=False, default=None)
    population: Any = field(repr=False, default=None)


def resolve_targets(targets, scenario) -> Targets | None:
    """The targets a run is compared with: ``"auto"`` (the bundled targets of the scenario's name,
    if any), a name or path, a loaded :class:`Targets`, or ``None``."""
    from .targets import BUNDLED_TARGETS, load_targets

    if targets is None:
        return None
    if isinstance(targets, Targets):
        return targets
    if str(targets) == "auto":
        tg = load_targets(scenario.name) if scenario.name in BUNDLED_TARGETS else None
    else:
        tg = load_targets(targets)
    if tg is not None:  # a key the summary does not have is refused before the run
        from .targets import require_known_keys

        require_known_keys(tg, [m.venue for m in scenario.spec.markets], list(scenario.spec.assets))
    return tg


MODES = ("observed", "free")


def scenario_mode(scenario, mode: str | None) -> str:
    """``mode`` checked, or the default: ``observed`` where the scenario has a market series,
    else ``free``."""
    from .errors import InputError

    has_series = hasattr(scenario, "series") and scenario.series() is not None
    if mode is None:
        return "observed" if has_series else "free"
    if mode not in MODES:
        raise InputError(f"must be one of {', '.join(MODES)}, got {mode!r}", field="mode")
    if mode == "observed" and not has_series:
        raise InputError(f"scenario {scenario.name} has no market series to replay: use --mode free", field="mode")
    return mode


def run_and_report(scenario: Any = "feb-2026", *, out_dir: str | Path = "out", seed: int = 0,
                   n_positions: int | None = None, targets: Any = "auto", progress=None,
                   png: bool = True, mode: str | None = None) -> ReportedRun:
    """The main job: run a scenario (a bundled name, a TOML path or a loaded
    :class:`~liqcascade.scenario.Scenario`), compare it with its targets, store it in
    ``out_dir`` (atomically, catalogued) and write its report beside the frames.

    ``targets``: ``"auto"`` (the bundled targets of the scenario's name, if any), a targets name
    or path, a loaded :class:`Targets`, or ``None``.  ``progress(stage)`` is told when each of
    :data:`STAGES` starts.  Bad input raises :class:`InputError` before anything is run or
    written.  ``mode``: ``observed`` (the real path: :func:`liqcascade.replay.run_observed`) or
    ``free`` (the scenario's flows drive the price); default observed where the scenario has a
    market series.
    """
    from . import store
    from .errors import InputError
    from .scenario import Scenario, load_scenario, run_scenario
    from .summary import summarize
    from .targets import compare, comparison_summary

    if n_positions is not None and (isinstance(n_positions, bool) or not isinstance(n_positions, (int, np.integer))
                                    or n_positions <= 0):
        raise InputError(f"must be a positive whole number of positions, got {n_positions!r}", field="positions")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"must be a non-negative integer, got {seed!r}", field="seed")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a directory", field="out")
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    tg = resolve_targets(targets, sc)
    tell = progress or (lambda stage: None)

    mode = scenario_mode(sc, mode)

    def forward(stage: str) -> None:
        if stage in ("population", "engine"):
            tell(stage)

    replay = None
    n = None if n_positions is None else int(n_positions)
    if mode == "observed":
        from .replay import run_observed

        replay = run_observed(sc, n_positions=n, seed=int(seed), progress=forward)
        run, population = replay.run, replay.population
    else:
        run, population = run_scenario(sc, n_positions=n, seed=int(seed), progress=forward)
    summary = summarize(run, population, sc, seed=int(seed))
    summary["mode"] = mode
    if replay is not None:
        summary["attribution"] = replay.attribution.summary
        summary["counterfactual"] = replay.counterfactual
    rows = compare(summary, tg) if tg is not None else []
    if tg is not None:
        summary["targets"] = comparison_summary(rows, tg)
    tell("store")
    with store.staged_run(out, summary) as stage:
        store.write_run(stage.path, run, stage.summary, scenario=sc)
        if replay is not None:
            replay.attribution.frame.to_parquet(stage.path / "attribution.parquet")
            flow = run.implied_flow_usd
            flow.groupby((flow["time_s"] // 300) * 300).sum().drop(columns="time_s") \
                .rename_axis("time_s").reset_index().to_parquet(stage.path / "implied_flow_5m.parquet")
        tell("report")
        write_report(stage.path, run, population, sc, stage.summary, rows=rows, targets=tg, png=png, replay=replay)
    return ReportedRun(stage.run_id, stage.final, stage.final / "report.html", stage.summary, rows, tg, run,
                       population)
