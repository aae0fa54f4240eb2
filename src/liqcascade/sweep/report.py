"""A sweep's ``report.html``: self-contained (plotly.js inlined), opens offline."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._io import write_atomic
from .._templates import plot_divs, render
from .plan import Plan
from .risk import _CRIT_FIELDS

if TYPE_CHECKING:
    from .runner import SweepResult


def _figures(res: SweepResult) -> dict[str, Any]:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figs: dict[str, Any] = {}
    curve, crit = res.curve, res.critical
    group_cols = [c for c in crit.columns if c not in _CRIT_FIELDS]
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        subplot_titles=(
            "drawdown of the shocked asset, % (median, 5–95 %)",
            "liquidated, USD (median, 5–95 %)",
            "branching ratio, median of path maxima",
        ),
    )
    groups = curve.groupby(group_cols, sort=True, dropna=False) if group_cols else [((), curve)]
    for gi, (key, g) in enumerate(groups):
        key = key if isinstance(key, tuple) else (key,)
        name = ", ".join(f"{c}={v}" for c, v in zip(group_cols, key) if c != "shock_venue") or "all"
        x = g["shock_usd"].to_numpy()
        for row, m in ((1, "drawdown_pct"), (2, "liquidated_usd")):
            fig.add_trace(
                go.Scatter(
                    x=np.r_[x, x[::-1]],
                    y=np.r_[g[f"{m}_q95"], g[f"{m}_q05"].to_numpy()[::-1]],
                    fill="toself",
                    opacity=0.15,
                    line=dict(width=0),
                    showlegend=False,
                    hoverinfo="skip",
                    legendgroup=str(gi),
                ),
                row=row,
                col=1,
            )
            fig.add_trace(
                go.Scatter(
                    x=x, y=g[f"{m}_median"], mode="lines+markers", name=name, legendgroup=str(gi), showlegend=row == 1
                ),
                row=row,
                col=1,
            )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=g["branching_ratio_median"],
                mode="lines+markers",
                name=name,
                legendgroup=str(gi),
                showlegend=False,
            ),
            row=3,
            col=1,
        )
    fig.add_hline(y=1.0, line_dash="dot", row=3, col=1)
    br = curve["branching_ratio_median"].to_numpy(np.float64)
    if len(br) and np.all(np.isfinite(br) & (br > 0)):  # R spans orders of magnitude: a log axis
        fig.update_yaxes(type="log", row=3, col=1)
    if len(crit) and crit.iloc[0]["critical_shock_usd"] is not None and np.isfinite(crit.iloc[0]["critical_shock_usd"]):
        for row in (1, 2, 3):
            fig.add_vline(
                x=float(crit.iloc[0]["critical_shock_usd"]), line_dash="dash", line_color="#d62728", row=row, col=1
            )
    pos = curve["shock_usd"].to_numpy()
    if len(pos) and np.all(pos > 0):
        fig.update_xaxes(type="log")
    fig.update_xaxes(title_text="exogenous shock, USD sold", row=3, col=1)
    fig.update_layout(height=900, margin=dict(l=60, r=20, t=40, b=40), template="plotly_white")
    figs["curve"] = fig

    dist = make_subplots(
        rows=2,
        cols=3,
        subplot_titles=(
            "liquidated, USD",
            "drawdown, %",
            "insurance-fund loss, USD",
            "ADL, USD",
            "bad debt, USD",
            "branching ratio max",
        ),
    )
    for i, m in enumerate(
        ("liquidated_usd", "drawdown_pct", "insurance_fund_loss_usd", "adl_usd", "bad_debt_usd", "branching_ratio_max")
    ):
        x = res.paths[m].to_numpy(np.float64)
        dist.add_trace(
            go.Histogram(x=x[np.isfinite(x)], nbinsx=40, showlegend=False, marker_color="#4A6CF7"),
            row=i // 3 + 1,
            col=i % 3 + 1,
        )
    dist.update_layout(height=560, margin=dict(l=50, r=20, t=40, b=40), template="plotly_white")
    figs["distributions"] = dist
    return figs


def _cell_text(column: str, v: Any) -> str:
    """One cell of the per-cell table: USD figures in USD, other floats to 4 significant digits."""
    from ..targets import fmt

    if isinstance(v, float) and column.endswith("_usd") or "_usd_" in column:
        return fmt(v, "USD")
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def write_sweep_report(directory: Path, res: SweepResult, pl: Plan | None = None) -> Path:
    """``report.html`` of a sweep (``templates/sweep_report.html.j2``): self-contained
    (plotly.js inlined), opens offline."""
    from plotly.offline import get_plotlyjs

    from ..targets import fmt

    figs = _figures(res)
    divs = plot_divs(figs)
    s = res.summary
    prefixes = ("shock_", "market", "population", "liquidation", "depth", "prices", "flows", "cohorts")
    critical = []
    for r in res.critical.to_dict("records"):
        coords = ", ".join(f"{k}={v}" for k, v in r.items() if k.startswith(prefixes))
        critical.append(dict(r, coords=coords))
    cells = res.cells
    cell_cols = [c for c in cells.columns if c in dict(pl.axes if pl else [])] if pl else []
    show = cell_cols + [
        "paths",
        "liquidated_usd_q50",
        "liquidated_usd_q95",
        "drawdown_pct_q50",
        "insurance_fund_loss_usd_q95",
        "adl_usd_q95",
        "bad_debt_usd_q95",
        "branching_ratio_max_q50",
    ]
    show += [c for c in cells.columns if c.startswith("liquidation_var") or c.startswith("liquidation_es")]
    show = [c for c in show if c in cells.columns]
    rows = [[_cell_text(c, r[c]) for c in show] for r in cells[show].head(500).to_dict("records")]
    status = "n/a"
    if pl is not None:
        from ..summary import parameter_provenance

        status = parameter_provenance(pl.scenario)["status"]
    crit_text = (
        "no critical shock on this grid"
        if s["critical_shock_usd"] is None
        else f"critical shock {fmt(s['critical_shock_usd'], 'USD')} ({s['critical_status']})"
    )
    drawn = ", ".join(f"{n:,}" for n in (s.get("positions_drawn") or {}).values()) or s["positions"]
    page = render(
        "sweep_report.html.j2",
        s=dict(s, finding=s.get("finding")),
        sweep_id=res.sweep_id,
        plotlyjs=get_plotlyjs(),
        divs=divs,
        crit_text=crit_text,
        critical=critical,
        columns=show,
        cells=rows,
        drawn=drawn,
        status=status,
    )
    return write_atomic(directory / "report.html", page)
