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

The report renders; it runs nothing.  The page is ``templates/run_report.html.j2`` (Jinja2,
autoescaped); the run, the population, the summary and the liquidation map's rule-book
liquidation prices come from the replay pipeline (:func:`liqcascade.pipeline.replay`).
:func:`run_and_report` is the composition kept for the CLI and the dashboard: the pipeline, then
the store and this report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ._io import write_atomic
from ._templates import plot_divs, render
from .pipeline import MODES as MODES  # the run's assembly lives in the pipeline; these names stay here too
from .pipeline import liquidation_maps, resolve_targets, scenario_mode
from .pipeline import population_liquidation_prices as population_liquidation_prices
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
        return pd.DataFrame(
            columns=[
                "bar_s",
                "venue",
                "asset",
                "mark",
                "depth_1pct_usd",
                "liq_long_usd",
                "liq_short_usd",
                "insurance_fund_usd",
                "adl_usd",
                "bad_debt_usd",
            ]
        )
    f = steps.assign(bar_s=np.floor(steps["time_s"].to_numpy() / bar_s) * bar_s)
    # group on the categoricals' codes (a million rows of strings would cost seconds)
    g = f.groupby(["bar_s", "venue", "asset"], sort=True, observed=True)
    out = g.agg(
        mark=("mark", "last"),
        depth_1pct_usd=("depth_1pct_usd", "mean"),
        liq_long_usd=("liq_long_usd", "sum"),
        liq_short_usd=("liq_short_usd", "sum"),
        insurance_fund_usd=("insurance_fund_usd", "last"),
        adl_usd=("adl_usd", "sum"),
        bad_debt_usd=("bad_debt_usd", "last"),
    ).reset_index()
    out["venue"] = np.asarray(out["venue"], dtype=object).astype(str)
    out["asset"] = np.asarray(out["asset"], dtype=object).astype(str)
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
    layout = dict(
        template="plotly_white", height=420, margin=dict(l=60, r=20, t=50, b=40), legend=dict(orientation="h", y=-0.15)
    )

    # prices: one panel per asset, a mark per venue and the index
    index = index_paths(run, scenario)
    f = make_subplots(rows=len(assets), cols=1, shared_xaxes=True, subplot_titles=[f"{a} (USD)" for a in assets])
    for r, a in enumerate(assets, 1):
        for i, v in enumerate(venues):
            b = bars[(bars["venue"] == v) & (bars["asset"] == a)]
            if len(b):
                f.add_trace(
                    go.Scatter(
                        x=_times(start, b["bar_s"] + 60),
                        y=b["mark"],
                        mode="lines",
                        name=f"{v} mark",
                        legendgroup=v,
                        showlegend=r == 1,
                        line=dict(color=_colour(v, i), width=1.2),
                    ),
                    row=r,
                    col=1,
                )
        if a in index.columns:
            ix = index[["time_s", a]].iloc[:: max(1, len(index) // 3000)]
            f.add_trace(
                go.Scatter(
                    x=_times(start, ix["time_s"]),
                    y=ix[a],
                    mode="lines",
                    name="index",
                    legendgroup="index",
                    showlegend=r == 1,
                    line=dict(color="#555", width=1, dash="dot"),
                ),
                row=r,
                col=1,
            )
            if _log_axis(index[a]):
                f.update_yaxes(type="log", row=r, col=1)
    f.update_layout(
        title="Mark prices per asset and venue (one-minute closes)", **dict(layout, height=300 * len(assets) + 120)
    )
    figs["prices"] = f

    # liquidations per 5 minutes, longs up and shorts down, stacked by venue (a minute's bars are
    # hairlines on a two-day axis)
    f = go.Figure()
    for i, v in enumerate(venues):
        b = bars[bars["venue"] == v]
        b = b.groupby((b["bar_s"] // LIQ_BIN_S) * LIQ_BIN_S)[["liq_long_usd", "liq_short_usd"]].sum()
        t = _times(start, b.index + LIQ_BIN_S / 2)
        f.add_trace(go.Bar(x=t, y=b["liq_long_usd"], name=f"{v} longs", marker_color=_colour(v, i)))
        f.add_trace(
            go.Bar(
                x=t,
                y=-b["liq_short_usd"],
                name=f"{v} shorts",
                marker_color=_colour(v, i),
                marker_pattern_shape="/",
                opacity=0.7,
            )
        )
    f.update_layout(
        title="Liquidations per 5 minutes by venue (longs above zero, shorts below), USD",
        barmode="relative",
        bargap=0,
        yaxis_title="USD per 5 minutes",
        **layout,
    )
    figs["liquidations"] = f

    # depth within ±1 % of mid, per market
    f = go.Figure()
    for i, v in enumerate(venues):
        for a in assets:
            b = bars[(bars["venue"] == v) & (bars["asset"] == a)]
            if len(b):
                f.add_trace(
                    go.Scatter(
                        x=_times(start, b["bar_s"]),
                        y=b["depth_1pct_usd"],
                        mode="lines",
                        name=f"{v} {a}",
                        line=dict(color=_colour(v, i), width=1.2, dash="solid" if a == assets[0] else "dash"),
                    )
                )
    f.update_layout(title="Depth within ±1 % of mid (both sides, USD; one-minute means)", yaxis_title="USD", **layout)
    if len(bars) and _log_axis(bars["depth_1pct_usd"]):
        f.update_yaxes(type="log")
    figs["depth"] = f

    # insurance funds; cumulative ADL and bad debt
    f = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=["Insurance fund / liquidator vault cash (USD)", "Cumulative ADL and bad debt (USD)"],
    )
    for i, v in enumerate(venues):
        b = bars[bars["venue"] == v]
        fund = b.groupby("bar_s")["insurance_fund_usd"].last()
        adl = b.groupby("bar_s")["adl_usd"].sum().cumsum()
        bad = b.groupby("bar_s")["bad_debt_usd"].sum()
        f.add_trace(
            go.Scatter(
                x=_times(start, fund.index + 60), y=fund, name=f"{v} fund", mode="lines", line=dict(color=_colour(v, i))
            ),
            row=1,
            col=1,
        )
        f.add_trace(
            go.Scatter(
                x=_times(start, adl.index + 60), y=adl, name=f"{v} ADL", mode="lines", line=dict(color=_colour(v, i))
            ),
            row=1,
            col=2,
        )
        f.add_trace(
            go.Scatter(
                x=_times(start, bad.index + 60),
                y=bad,
                name=f"{v} bad debt",
                mode="lines",
                line=dict(color=_colour(v, i), dash="dot"),
            ),
            row=1,
            col=2,
        )
    if len(bars) and not (bars["adl_usd"].abs().sum() > 0 or bars["bad_debt_usd"].abs().sum() > 0):
        f.add_annotation(
            text="no ADL and no bad debt in this run", xref="x2 domain", yref="y2 domain", x=0.5, y=0.5, showarrow=False
        )
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
        f.add_trace(
            go.Scatter(
                x=w["wave"],
                y=w["branching_ratio"],
                mode="markers",
                name="one wave",
                marker=dict(size=5, opacity=0.5, color="#1f77b4"),
                customdata=np.stack([w["time_s"] / 3600.0, w["liquidated_usd"]], axis=1),
                hovertemplate="wave %{x}<br>ratio %{y:.3g}<br>hour %{customdata[0]:.2f}"
                "<br>liquidated $%{customdata[1]:,.0f}<extra></extra>",
            )
        )
        med = w.groupby("wave")["branching_ratio"].median()
        f.add_trace(go.Scatter(x=med.index, y=med, mode="lines+markers", name="median", line=dict(color="#d62728")))
        f.add_hline(y=1.0, line_dash="dash", annotation_text="critical (1)")
        if _log_axis(w["branching_ratio"]):
            f.update_yaxes(type="log")
    f.update_layout(
        title="Branching ratio by wave within a step: liquidated USD / depth consumed" + note,
        xaxis_title="wave number within the step",
        yaxis_title="branching ratio",
        **layout,
    )
    figs["branching"] = f

    # liquidation map before the crash
    f = make_subplots(rows=1, cols=max(1, len(maps)), subplot_titles=[f"{a}" for a in maps] or [""])
    for c, m in enumerate(maps.values(), 1):
        if "error" in m:
            continue
        f.add_trace(
            go.Bar(x=m["price"], y=m["long_usd"], name="longs", marker_color=LONG_COLOUR, showlegend=c == 1),
            row=1,
            col=c,
        )
        f.add_trace(
            go.Bar(x=m["price"], y=m["short_usd"], name="shorts", marker_color=SHORT_COLOUR, showlegend=c == 1),
            row=1,
            col=c,
        )
        f.add_vline(x=m["start_price"], line_dash="dash", row=1, col=c)
    f.update_layout(
        title="Liquidation map at the start (modelled: the synthetic population's liquidation "
        "prices from the venues' rule books; USD notional per price bin)",
        barmode="stack",
        bargap=0,
        **layout,
    )
    figs["liquidation_map"] = f
    if replay is not None:
        figs.update(replay_figures(replay, scenario, start, layout))
    return figs


def real_closes(scenario, assets) -> pd.DataFrame:
    """The scenario's own closes of its base bars (5-minute unless ``[series] bar_s`` says
    otherwise) over its window (``time_s`` from the start, one column per asset), empty without a
    series."""
    series = scenario.series() if hasattr(scenario, "series") else None
    if series is None:
        return pd.DataFrame()
    base = np.array([scenario.spec.series.base_bar_s(a) for a in series["asset"]], np.int64)
    s = series[(series["bar_s"].to_numpy() == base) & series["asset"].isin(assets)]
    t = (s["time_ms"].to_numpy(np.int64) - scenario.start_ms) / 1000.0 + s["bar_s"].to_numpy()  # at the bar's close
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

    def line(frame, a, r, name, group, style):  # one asset's path (USD) in row r, legend once
        if a in frame.columns:
            f.add_trace(
                go.Scatter(
                    x=_times(start, frame.index),
                    y=frame[a],
                    mode="lines",
                    name=name,
                    legendgroup=group,
                    showlegend=r == 1,
                    line=style,
                ),
                row=r,
                col=1,
            )

    for r, a in enumerate(assets, 1):
        line(real, a, r, "real (Binance, 5 min)", "real", dict(color="#111", width=2.2))
        line(replay.index5m, a, r, "replay (engine index)", "replay", dict(color="#1f77b4", width=1.2))
        for name, path in replay.counterfactual_paths.items():
            line(
                path,
                a,
                r,
                f"counterfactual: {name.replace('_', ' ')}",
                name,
                dict(width=1.2, dash=dash.get(name, "solid")),
            )
    f.update_layout(
        title="The real path, the replay on it, and the exogenous flow replayed without "
        "liquidations / with leverage capped at 10x",
        **dict(layout, height=260 * len(assets) + 140),
    )
    figs["observed"] = f
    att = replay.attribution.frame
    f = make_subplots(
        rows=len(assets), cols=1, shared_xaxes=True, subplot_titles=[f"{a}: cumulative log move" for a in assets]
    )
    for r, a in enumerate(assets, 1):
        d = att[att["asset"] == a]
        t = _times(start, d["time_s"] + 300)
        for col, name, style in (
            ("observed_move", "observed", dict(color="#111", width=2)),
            ("endogenous_move", "forced flow (all of its impact kept)", dict(color="#d62728", width=1.4)),
            (
                "endogenous_move_transient",
                "forced flow (model's resilience)",
                dict(color="#d62728", width=1.2, dash="dot"),
            ),
        ):
            f.add_trace(
                go.Scatter(
                    x=t, y=d[col].cumsum(), mode="lines", name=name, legendgroup=col, showlegend=r == 1, line=style
                ),
                row=r,
                col=1,
            )
    f.update_layout(
        title="Attribution: the observed move and the part the liquidations' forced flow "
        "causes through the books (5-minute steps)",
        **dict(layout, height=240 * len(assets) + 140),
    )
    figs["attribution"] = f
    return figs


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
        ax.fill_between(
            x,
            np.append(up, up[-1:]),
            np.append(new_up, new_up[-1:]),
            step="post",
            lw=0,
            color=_colour(v, i),
            label=f"{v} longs",
        )
        ax.fill_between(
            x,
            -np.append(down, down[-1:]),
            -np.append(new_down, new_down[-1:]),
            step="post",
            lw=0,
            color=_colour(v, i),
            alpha=0.45,
            label=f"{v} shorts",
        )
        up, down = new_up, new_down
    ax.axhline(0, color="k", lw=0.5)
    finish(ax, "Liquidations per minute by venue (longs up, shorts down)", "USD per minute")
    save(fig, "liquidations")

    fig = Figure(figsize=(10, 4))
    ax = fig.add_subplot()
    for i, v in enumerate(venues):
        for a in assets:
            b = bars[(bars["venue"] == v) & (bars["asset"] == a)]
            ax.plot(
                b["bar_s"] / 3600,
                b["depth_1pct_usd"],
                lw=1,
                color=_colour(v, i),
                ls="-" if a == assets[0] else "--",
                label=f"{v} {a}",
            )
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
        ax2.text(
            0.5,
            0.5,
            "no ADL and no bad debt in this run",
            transform=ax2.transAxes,
            ha="center",
            va="center",
            fontsize=11,
            color="#555",
        )
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


def _seeds_text(seeds) -> str:
    """`` with seed 0`` / `` over seeds 0, 1, 2 (the mean objective)`` for the fit's seeds."""
    seeds = list(seeds or [])
    if not seeds:
        return ""
    if len(seeds) == 1:
        return f" with seed {seeds[0]}"
    return f" over seeds {', '.join(str(x) for x in seeds)} (the mean objective)"


def provenance_context(scenario, targets: Targets | None) -> dict[str, Any]:
    """What the provenance section says: the fitted parameters (on which targets, when, over
    which seeds), the scenario's overrides, and whether the compared figures are in-sample."""
    prov = parameter_provenance(scenario)
    fitted = prov["fitted"]
    fitted_on = prov.get("fitted_on")
    fitted_on_list = fitted_on if isinstance(fitted_on, list) else ([fitted_on] if fitted_on else [])
    in_sample = bool(fitted) and targets is not None and targets.name in fitted_on_list
    return {
        "fitted": list(fitted),
        "n": len(parameters_of(scenario)),
        "fitted_on": fitted_on_list,
        "fitted_at": prov.get("fitted_at"),
        "seeds_text": _seeds_text(prov.get("fitted_seeds")),
        "overridden": list(prov["overridden"]),
        "in_sample": in_sample,
    }


def _provenance_html(scenario, summary: dict, targets: Targets | None) -> tuple[str, bool]:
    """The provenance section alone (HTML) and whether the figures are in-sample."""
    ctx = provenance_context(scenario, targets)
    return render("_provenance.html.j2", **ctx), ctx["in_sample"]


def _scope(scenario, s: dict) -> dict[str, Any]:
    """What the simulation holds beside what the reports count: the reports' totals cover every
    venue and symbol they name, the run only its scenario's markets, so a venue's share of the
    total is its share of the modelled venues' as-reported total."""
    from .engine.run import feed_throttles_s

    markets = scenario.spec.markets
    venues = sorted({m.venue for m in markets})
    assets = sorted({m.asset for m in markets})
    shares = s.get("venue_share_reported") or {}
    throttled = [v for v, w in zip(venues, feed_throttles_s(venues)) if w > 0]
    printed = [shares.get(v) for v in throttled]
    shown = bool(throttled) and all(x is not None for x in printed)
    return {
        "venues": venues,
        "assets": assets,
        "markets": len(markets),
        "throttled": throttled if shown else [],
        "throttled_share": sum(printed) if shown else None,
    }


def _replay_rows(summary: dict, divs: dict) -> list[dict[str, Any]] | None:
    """The observed replay's table: per asset its low, fall, the liquidations' share of it and
    the counterfactual lows (None for a free run)."""
    if summary.get("mode") != "observed" or "observed" not in divs:
        return None
    cf = summary.get("counterfactual") or {}
    rows = []
    for a, x in (summary.get("attribution") or {}).items():
        lows = " · ".join(f"{name.replace('_', ' ')} {c[a]['low']:,.6g}" for name, c in cf.items() if a in c)
        rows.append(
            {
                "asset": a,
                "low": x["low"],
                "observed_fall": x["observed_fall"],
                "share": x.get("share_of_fall"),
                "share_transient": x.get("share_of_fall_transient"),
                "lows": lows,
            }
        )
    return rows


def render_html(
    run,
    population,
    scenario,
    summary: dict,
    rows: Sequence[Row],
    targets: Targets | None,
    figs: dict[str, Any],
    maps: dict,
) -> str:
    """The report page as one string (``templates/run_report.html.j2``), plotly.js inlined once."""
    from collections import defaultdict

    from plotly.offline import get_plotlyjs

    prov = provenance_context(scenario, targets)
    divs = plot_divs(figs)
    s = defaultdict(lambda: None, summary)  # a figure the summary lacks is shown as n/a
    missed = sum(not r.ok for r in rows)
    why = (
        "the global parameters are priors, not calibrated yet"
        if not s.get("parameters_fitted")
        else "see what was fitted below"
    )
    totals = [("all venues", s.get("liquidations_usd"), s.get("liquidations_usd_reported"))]
    true_v, rep_v = s.get("by_venue_usd") or {}, s.get("by_venue_usd_reported") or {}
    totals += [(v, true_v.get(v), rep_v.get(v)) for v in true_v]
    drawdown = ", ".join(f"{a} {fmt(v, 'percent')}" for a, v in (s.get("drawdown_pct") or {}).items())
    return render(
        "run_report.html.j2",
        s=s,
        title=f"{s['scenario']}: {s.get('scenario_title') or ''}",
        css=_CSS,
        plotlyjs=get_plotlyjs(),
        divs=divs,
        rows=list(rows),
        targets=targets,
        missed=missed,
        why=why,
        scale=s.get("population_scale") or 1.0,
        totals=totals,
        drawdown=drawdown,
        scope=_scope(scenario, s),
        replay=_replay_rows(s, divs),
        maps=maps,
        pngs=[p + ".png" for p in PNGS],
        PASS=PASS,
        FAIL=FAIL,
        **prov,
    )


def write_report(
    directory: str | Path,
    run,
    population,
    scenario,
    summary: dict,
    *,
    rows: Sequence[Row] = (),
    targets: Targets | None = None,
    png: bool = True,
    replay=None,
    maps: dict | None = None,
) -> Path:
    """Write ``report.html`` (and the PNGs) into ``directory``; returns the HTML's path.
    ``replay``: an observed replay's :class:`~liqcascade.replay.ObservedReplay` (its path,
    attribution and counterfactual figures).  ``maps``: the liquidation maps at the start
    (:meth:`liqcascade.pipeline.ReplayResult.liquidation_maps`; computed from the population's
    rule-book liquidation prices when not given)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    bars = minute_bars(run.steps, max(60.0, float(scenario.spec.step_seconds)))
    if maps is None:
        maps = liquidation_maps(population, scenario)
    figs = plotly_figures(bars, run, summary, scenario, maps, replay)
    page = render_html(run, population, scenario, summary, list(rows), targets, figs, maps)
    out = write_atomic(d / "report.html", page)
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
                ax.plot(
                    path.index / 3600,
                    path[a],
                    lw=1,
                    ls="--" if name == "no_liquidations" else ":",
                    label=name.replace("_", " "),
                )
        ax.set_ylabel(f"{a} (USD)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    ev = replay.run.events
    b = (ev["time_s"] // LIQ_BIN_S) * LIQ_BIN_S
    longs = ev[ev["side"] == "long"].groupby(b)["usd"].sum()
    shorts = ev[ev["side"] == "short"].groupby(b)["usd"].sum()
    ax = axes[-1]
    ax.bar((longs.index + LIQ_BIN_S / 2) / 3600, longs / 1e6, width=LIQ_BIN_S / 3600, color=LONG_COLOUR, label="longs")
    ax.bar(
        (shorts.index + LIQ_BIN_S / 2) / 3600, -shorts / 1e6, width=LIQ_BIN_S / 3600, color=SHORT_COLOUR, label="shorts"
    )
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
    #: the pipeline's result (:class:`liqcascade.pipeline.ReplayResult`)
    result: Any = field(repr=False, default=None)


def run_and_report(
    scenario: Any = "feb-2026",
    *,
    out_dir: str | Path = "out",
    seed: int = 0,
    n_positions: int | None = None,
    targets: Any = "auto",
    progress=None,
    png: bool = True,
    mode: str | None = None,
) -> ReportedRun:
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
    from .pipeline import check_run_request, load, replay
    from .targets import compare, comparison_summary

    check_run_request(positions=n_positions, seed=seed, out_dir=out_dir)
    sc = load(scenario)
    tg = resolve_targets(targets, sc)
    mode = scenario_mode(sc, mode)
    tell = progress or (lambda stage: None)
    res = replay(sc, mode=mode, seed=int(seed), positions=n_positions, progress=tell)
    summary = res.summary
    rows = compare(summary, tg) if tg is not None else []
    if tg is not None:
        summary["targets"] = comparison_summary(rows, tg)
    tell("store")
    with store.staged_run(out_dir, summary) as stage:
        store.write_run(stage.path, res.run, stage.summary, scenario=sc)
        if res.observed is not None:
            store.write_observed(stage.path, res.observed)
        tell("report")
        write_report(
            stage.path,
            res.run,
            res.population,
            sc,
            stage.summary,
            rows=rows,
            targets=tg,
            png=png,
            replay=res.observed,
            maps=res.liquidation_maps(),
        )
    return ReportedRun(
        stage.run_id, stage.final, stage.final / "report.html", stage.summary, rows, tg, res.run, res.population, res
    )
