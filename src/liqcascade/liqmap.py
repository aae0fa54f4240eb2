"""Liquidation maps: where open positions would be liquidated, as price levels × time.

Two kinds, each carrying its label:

``"estimated"`` — :func:`liquidation_map` — the model the commercial heatmaps use, documented:

1. **Positions come from open-interest increases.**  Each bar ``i`` whose open interest (USD)
   rises by ``ΔOI_i > 0`` opens ``ΔOI_i`` USD of new positions at that bar's *typical price*
   ``(high + low + close) / 3``.  A fraction ``long_share`` of it is long and the rest short;
   each side is spread over the leverage buckets of ``leverage_mix`` (weights summing to 1).
   Open interest held before the first bar is unknown and not mapped.
2. **Each bucket's liquidation price comes from the venue's rule book**, tier-exact, for an
   isolated position of ``position_notional`` USD at that leverage: ``size = N / entry``,
   ``margin = N / leverage`` (``VenueRules.liquidation_price``).  The representative notional
   picks the tier; the bucket's USD is ``ΔOI_i × side share × weight``, however many positions
   that stands for.
3. **Crossed positions are removed**: a long bucket opened at bar ``i`` is liquidated at the
   first later bar ``j > i`` whose low is at or below its liquidation price (a short: whose high
   is at or above).  Its USD leaves the map at bar ``j`` and is counted in
   ``liquidated_long_usd[j]`` / ``liquidated_short_usd[j]``.  The opening bar itself is not
   tested (the order of prices inside one bar is unknown).
4. **Optional decay** (``decay_with_oi=True``): a bar whose open interest falls by ``x %`` closes
   ``x %`` of every live bucket (voluntary closing, pro rata), after that bar's liquidations.
5. **Accumulation**: row ``t`` of the grids holds the USD of the buckets alive at the close of bar
   ``t``, summed into price levels ``[level, level + bin_size)`` by liquidation price, longs and
   shorts in separate grids.  Buckets whose liquidation price falls outside the range are tracked
   (``out_of_range_usd``) but not drawn.

Conservation (tested): at every bar, USD in the grids + out of range = USD opened − liquidated −
decayed.

``"observed"`` — :func:`observed_liquidation_map` — real positions with the venue's own liquidation
prices (Hyperliquid ``clearinghouseState``), one snapshot.

The kernel is vectorised NumPy, no per-bar loop: the first crossing of every bucket is found with
a sparse table of range minima by binary lifting (``log2 n`` vector passes over all buckets), and
the grids are filled with a difference array along time (one scatter, one cumulative sum, fused
into one compiled kernel with Numba through :func:`liqcascade._jit.jit`, plain NumPy without it).
The venue's liquidation-price kernel prices all buckets in one call.
:func:`_liquidation_map_reference` is the slow, obvious per-bar version the tests and the
benchmark compare it with.

Units: prices USD per base unit, amounts USD (notional at entry), timestamps UTC epoch ms.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ._jit import HAVE_NUMBA, jit
from .errors import InputError
from .venues import get_venue

#: Default leverage mix (leverage → share of notional).  A prior from the reference notes: most
#: notional at low leverage, a retail tail at 25–100×.
DEFAULT_LEVERAGE_MIX: dict[float, float] = {5.0: 0.30, 10.0: 0.30, 25.0: 0.20, 50.0: 0.12, 100.0: 0.08}

ESTIMATED = "estimated"
OBSERVED = "observed"


# ----------------------------------------------------------------------------- kernels
def _sparse_min_table(values: np.ndarray) -> np.ndarray:
    """``table[k, i] = min(values[i : i + 2**k])`` (truncated at the end), ``k = 0..log2(n)``."""
    values = np.asarray(values, np.float64)
    n = values.shape[0]
    levels = max(1, int(n).bit_length())
    table = np.empty((levels, n))
    table[0] = values
    for k in range(1, levels):
        half = 1 << (k - 1)
        table[k] = table[k - 1]
        np.minimum(table[k, :-half], table[k - 1, half:], out=table[k, :-half])
    return table


def _first_at_or_below_numpy(
    table: np.ndarray, start: np.ndarray, threshold: np.ndarray, out: np.ndarray
) -> np.ndarray:
    """For each query, the first index ``j >= start[q]`` with ``values[j] <= threshold[q]`` (``n``
    when there is none), by binary lifting over the sparse table: at each level from the top, skip
    a block of ``2**k`` bars when its minimum is above the threshold.  One vector pass per level."""
    levels, n = table.shape
    pos = np.asarray(start, np.int64).copy()
    x = np.asarray(threshold, np.float64)
    for k in range(levels - 1, -1, -1):
        inside = pos < n
        skip = np.zeros(pos.shape, bool)
        skip[inside] = table[k, pos[inside]] > x[inside]
        pos[skip] += 1 << k
    out[:] = np.minimum(pos, n)
    return out


@jit
def _first_at_or_below_kernel(table, start, threshold, out):  # pragma: no cover - compiled
    """:func:`_first_at_or_below_numpy` query by query (compiled with Numba): the same binary
    lifting without the temporary arrays of every level."""
    levels, n = table.shape
    for q in range(start.shape[0]):
        pos = start[q]
        x = threshold[q]
        for k in range(levels - 1, -1, -1):
            if pos < n and table[k, pos] > x:
                pos += 1 << k
        out[q] = pos if pos < n else n
    return out


def _first_at_or_below(table: np.ndarray, start: np.ndarray, threshold: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The compiled search when Numba is there, the NumPy version otherwise (same result)."""
    if HAVE_NUMBA:
        return _first_at_or_below_kernel(
            table, np.ascontiguousarray(start, np.int64), np.ascontiguousarray(threshold, np.float64), out
        )
    return _first_at_or_below_numpy(table, start, threshold, out)


@jit
def _fill_grid_kernel(grid, start, end, level, weight, decay):  # pragma: no cover - compiled
    """:func:`_fill_grid_numpy` fused into two passes over the grid (compiled with Numba)."""
    n_t = grid.shape[0]
    n_b = grid.shape[1]
    for q in range(start.shape[0]):
        b = level[q]
        if b < 0 or b >= n_b:
            continue
        grid[start[q], b] += weight[q]
        if end[q] < n_t:
            grid[end[q], b] -= weight[q]
    for t in range(1, n_t):
        for b in range(n_b):
            grid[t, b] += grid[t - 1, b]
    for t in range(n_t):
        d = decay[t]
        for b in range(n_b):
            v = grid[t, b] * d
            grid[t, b] = v if v > 1e-9 else 0.0
    return grid


def _fill_grid(grid, start, end, level, weight, decay):
    """The compiled kernel when Numba is there, the NumPy version otherwise (same result)."""
    if HAVE_NUMBA:
        return _fill_grid_kernel(grid, start, end, level, weight, decay)
    return _fill_grid_numpy(grid, start, end, level, weight, decay)


def _fill_grid_numpy(grid: np.ndarray, start, end, level, weight, decay) -> np.ndarray:
    """Rows ``start..end-1`` of column ``level`` get ``weight * decay[t]`` (``weight`` already
    divided by ``decay[start]``): a difference array along time, one running sum, one scaling.
    Columns outside the grid are skipped."""
    n_t, n_b = grid.shape
    ok = (level >= 0) & (level < n_b)
    start, end, level, weight = start[ok], end[ok], level[ok], weight[ok]
    flat = grid.reshape(-1)
    np.add.at(flat, start * n_b + level, weight)
    live = end < n_t
    np.add.at(flat, end[live] * n_b + level[live], -weight[live])
    np.cumsum(grid, axis=0, out=grid)
    grid *= decay[:, None]
    # running sums of +w/-w leave rounding residue; a live bucket is never negative
    grid[grid < 1e-9] = 0.0
    return grid


# ----------------------------------------------------------------------------- result
@dataclass
class LiquidationMap:
    """A liquidation map (heatmap) of longs and shorts over price levels × time.

    Attributes
    ----------
    timestamps: int64 epoch ms (UTC), one per row (the bar's open time).
    price_levels: lower edges of the price levels, USD; a level holds ``[level, level + bin_size)``.
    bin_size: USD.
    long_usd, short_usd: float64 arrays ``(n_times, n_levels)``, USD of positions whose
        liquidation price lies in the level, alive at the close of the row's bar.
    candles: float64 ``(n_times, 4)`` open, high, low, close (USD), or ``None``.
    label: ``"estimated"`` (modelled from open interest) or ``"observed"`` (real positions).
    liquidated_long_usd, liquidated_short_usd: USD removed by crossing at each bar (estimated maps).
    out_of_range_usd: USD alive outside the price range at each bar (both sides).
    meta: the parameters the map was built with.
    """

    timestamps: np.ndarray
    price_levels: np.ndarray
    bin_size: float
    long_usd: np.ndarray
    short_usd: np.ndarray
    label: str
    candles: np.ndarray | None = None
    venue: str = ""
    symbol: str = ""
    liquidated_long_usd: np.ndarray | None = None
    liquidated_short_usd: np.ndarray | None = None
    out_of_range_usd: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ views
    @property
    def total_usd(self) -> np.ndarray:
        """Long + short USD per cell."""
        return self.long_usd + self.short_usd

    def profile(self, row: int = -1) -> pd.DataFrame:
        """One row of the map as a frame: ``price_level, long_usd, short_usd`` (USD)."""
        return pd.DataFrame(
            {"price_level": self.price_levels, "long_usd": self.long_usd[row], "short_usd": self.short_usd[row]}
        )

    def resample(self, every: int) -> "LiquidationMap":
        """Every ``every``-th bar: the map at the close of each group of bars, candles merged
        (first open, highest high, lowest low, last close), liquidations summed."""
        if not (isinstance(every, (int, np.integer)) and every >= 1):
            raise InputError(f"must be a positive integer, got {every!r}", field="every")
        if every == 1:
            return self
        n = len(self.timestamps)
        starts = np.arange(0, n, every)
        ends = np.minimum(starts + every, n) - 1
        candles = None
        if self.candles is not None:
            c = self.candles
            candles = np.column_stack(
                [c[starts, 0], np.maximum.reduceat(c[:, 1], starts), np.minimum.reduceat(c[:, 2], starts), c[ends, 3]]
            )

        def summed(a):
            return None if a is None else np.add.reduceat(a, starts)

        return LiquidationMap(
            self.timestamps[starts],
            self.price_levels,
            self.bin_size,
            self.long_usd[ends],
            self.short_usd[ends],
            self.label,
            candles,
            self.venue,
            self.symbol,
            summed(self.liquidated_long_usd),
            summed(self.liquidated_short_usd),
            None if self.out_of_range_usd is None else self.out_of_range_usd[ends],
            {**self.meta, "resampled_every": int(every)},
        )

    def to_frame(self, *, every: int = 1, nonzero: bool = True) -> pd.DataFrame:
        """Long format: ``timestamp`` (ms), ``price_level`` (USD), ``long_usd``, ``short_usd``,
        ``label``; cells where both sides are zero are left out unless ``nonzero=False``."""
        m = self.resample(every)
        n_t, n_b = m.long_usd.shape
        ts = np.repeat(m.timestamps, n_b)
        lv = np.tile(m.price_levels, n_t)
        lo, sh = m.long_usd.ravel(), m.short_usd.ravel()
        keep = (lo > 0) | (sh > 0) if nonzero else slice(None)
        return pd.DataFrame(
            {
                "timestamp": ts[keep],
                "price_level": lv[keep],
                "long_usd": lo[keep],
                "short_usd": sh[keep],
                "label": m.label,
            }
        )

    def to_parquet(self, path, *, every: int = 1) -> Path:
        """Write :meth:`to_frame` as Parquet; the parameters go into the file's metadata."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(self.to_frame(every=every), preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[b"liqcascade"] = json.dumps(self._header(), default=_json_default).encode()
        pq.write_table(table.replace_schema_metadata(meta), path)
        return Path(path)

    def to_csv(self, path, *, every: int = 1) -> Path:
        """Write :meth:`to_frame` as CSV."""
        self.to_frame(every=every).to_csv(path, index=False)
        return Path(path)

    def to_coinglass(self, *, side: str = "total", every: int = 1) -> dict[str, Any]:
        """The map in CoinGlass's liquidation-heatmap shape.

        ``y_axis``: price levels (USD, lower edges); ``liquidation_leverage_data``: ``[x, y, value]``
        with ``x`` the time index, ``y`` the price-level index and ``value`` USD (non-zero cells
        only); ``price_candlesticks``: ``[[ts_ms, open, high, low, close], …]``, one per ``x``.
        ``side`` is ``"total"``, ``"long"`` or ``"short"``.  Extra keys: ``label``, ``side``,
        ``unit``, ``x_axis`` (ms), ``bin_size``, ``venue``, ``symbol``.
        """
        if side not in ("total", "long", "short"):
            raise InputError(f"must be 'total', 'long' or 'short', got {side!r}", field="side")
        m = self.resample(every)
        z = {"total": m.total_usd, "long": m.long_usd, "short": m.short_usd}[side]
        xs, ys = np.nonzero(z)
        data = [[int(x), int(y), float(v)] for x, y, v in zip(xs, ys, z[xs, ys])]
        candles = []
        if m.candles is not None:
            candles = [[int(t), *map(float, c)] for t, c in zip(m.timestamps, m.candles)]
        return {
            "label": m.label,
            "side": side,
            "unit": "USD",
            "venue": m.venue,
            "symbol": m.symbol,
            "bin_size": float(m.bin_size),
            "x_axis": [int(t) for t in m.timestamps],
            "y_axis": [float(p) for p in m.price_levels],
            "liquidation_leverage_data": data,
            "price_candlesticks": candles,
        }

    def to_coinglass_json(self, path=None, *, side: str = "total", every: int = 1) -> str:
        """:meth:`to_coinglass` as JSON text, written to ``path`` when given."""
        text = json.dumps(self.to_coinglass(side=side, every=every), separators=(",", ":"))
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def figure(self, *, every: int | None = None, max_columns: int = 600, title: str | None = None):
        """A Plotly figure: the total map as a heatmap with the candles on top."""
        import plotly.graph_objects as go

        if len(self.timestamps) == 1:
            return self._snapshot_figure(title)
        if every is None:
            every = max(1, math.ceil(len(self.timestamps) / max_columns))
        m = self.resample(every)
        x = pd.to_datetime(m.timestamps, unit="ms", utc=True)
        y = m.price_levels + m.bin_size / 2
        z = np.round(m.total_usd.T)  # whole USD: keeps the HTML small
        fig = go.Figure(
            go.Heatmap(x=x, y=y, z=z, colorscale="Viridis", colorbar=dict(title="USD"), name=f"{m.label} liquidations")
        )
        if m.candles is not None:
            c = m.candles
            fig.add_trace(
                go.Candlestick(
                    x=x,
                    open=c[:, 0],
                    high=c[:, 1],
                    low=c[:, 2],
                    close=c[:, 3],
                    name="price",
                    increasing_line_color="white",
                    decreasing_line_color="red",
                )
            )
        fig.update_layout(
            title=title or f"{m.venue} {m.symbol} liquidation map ({m.label}, ${m.bin_size:g} levels)",
            xaxis_rangeslider_visible=False,
            yaxis_title="price (USD)",
            template="plotly_dark",
        )
        return fig

    def _snapshot_figure(self, title: str | None = None):
        """One moment (an observed snapshot): not a heatmap over a one-column time axis but the
        liquidation-map view — USD per price level, longs and shorts, with each side's
        cumulative USD from the price outwards and the price as a line."""
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        y = self.price_levels + self.bin_size / 2
        longs, shorts = self.long_usd[0], self.short_usd[0]
        price = None if self.candles is None else float(self.candles[0, 3])
        fig = make_subplots(specs=[[{"secondary_y": True}]])
        fig.add_trace(go.Bar(x=y, y=longs, name="longs (USD per level)", marker_color="#d62728"))
        fig.add_trace(go.Bar(x=y, y=shorts, name="shorts (USD per level)", marker_color="#2ca02c"))
        if price is not None:
            below, above = y < price, y >= price
            cum_long = np.where(below, np.cumsum(np.where(below, longs, 0.0)[::-1])[::-1], np.nan)
            cum_short = np.where(above, np.cumsum(np.where(above, shorts, 0.0)), np.nan)
            fig.add_trace(
                go.Scatter(
                    x=y, y=cum_long, name="longs, cumulative from the price", mode="lines", line=dict(color="#d62728")
                ),
                secondary_y=True,
            )
            fig.add_trace(
                go.Scatter(
                    x=y, y=cum_short, name="shorts, cumulative from the price", mode="lines", line=dict(color="#2ca02c")
                ),
                secondary_y=True,
            )
            fig.add_vline(x=price, line_dash="dash", annotation_text=f"price {price:,.6g}")
        when = pd.to_datetime(int(self.timestamps[0]), unit="ms", utc=True).strftime("%Y-%m-%d %H:%M UTC")
        fig.update_layout(
            title=title
            or f"{self.venue} {self.symbol} liquidation map ({self.label}, {when}, ${self.bin_size:g} levels)",
            barmode="overlay",
            bargap=0,
            xaxis_title="liquidation price (USD)",
            template="plotly_white",
        )
        fig.update_yaxes(title_text="USD per level", secondary_y=False)
        fig.update_yaxes(title_text="cumulative USD", secondary_y=True)
        return fig

    def plot(self, path, **kwargs) -> Path:
        """Write the map to ``path``: ``.html`` is the interactive Plotly figure, self-contained
        (plotly.js inlined, opens offline); ``.png`` a static matplotlib rendering of the same
        heatmap with the close price on top.  Returns the path written."""
        path = Path(path)
        if path.suffix.lower() == ".png":
            return self._plot_png(path, **kwargs)
        self.figure(**kwargs).write_html(str(path), include_plotlyjs=True, full_html=True)
        return path

    def _plot_png(
        self, path: Path, *, every: int | None = None, max_columns: int = 600, title: str | None = None
    ) -> Path:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        if len(self.timestamps) == 1:  # one moment: USD per level, not a one-column heatmap
            fig, ax = plt.subplots(figsize=(12, 6), dpi=110)
            y = self.price_levels + self.bin_size / 2
            ax.bar(y, self.long_usd[0], width=self.bin_size, color="#d62728", label="longs", alpha=0.8)
            ax.bar(y, self.short_usd[0], width=self.bin_size, color="#2ca02c", label="shorts", alpha=0.8)
            if self.candles is not None:
                ax.axvline(float(self.candles[0, 3]), color="#333", linestyle="--", label="price")
            when = pd.to_datetime(int(self.timestamps[0]), unit="ms", utc=True).strftime("%Y-%m-%d %H:%M UTC")
            ax.set_xlabel("liquidation price (USD)")
            ax.set_ylabel("USD per level")
            ax.legend()
            ax.set_title(
                title or f"{self.venue} {self.symbol} liquidation map ({self.label}, {when}, ${self.bin_size:g} levels)"
            )
            fig.tight_layout()
            fig.savefig(path)
            plt.close(fig)
            return path
        if every is None:
            every = max(1, math.ceil(len(self.timestamps) / max_columns))
        m = self.resample(every)
        x = pd.to_datetime(m.timestamps, unit="ms", utc=True).tz_localize(None)
        edges = np.append(m.price_levels, m.price_levels[-1] + m.bin_size)
        fig, ax = plt.subplots(figsize=(12, 6), dpi=110)
        xe = np.append(
            x.to_numpy(),
            x.to_numpy()[-1] + (x.to_numpy()[-1] - x.to_numpy()[-2] if len(x) > 1 else np.timedelta64(1, "m")),
        )
        mesh = ax.pcolormesh(xe, edges, m.total_usd.T, cmap="viridis", shading="flat")
        fig.colorbar(mesh, ax=ax, label="USD")
        if m.candles is not None:
            ax.plot(x, m.candles[:, 3], color="white", linewidth=0.8, label="close")
        ax.set_ylabel("price (USD)")
        ax.set_title(title or f"{m.venue} {m.symbol} liquidation map ({m.label}, ${m.bin_size:g} levels)")
        fig.autofmt_xdate()
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        return path

    def _header(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "venue": self.venue,
            "symbol": self.symbol,
            "bin_size": self.bin_size,
            "meta": self.meta,
        }


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


# ----------------------------------------------------------------------------- validation
def _timestamps_ms(values: pd.Series, field_name: str = "timestamp") -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(values):
        ts = values
        if getattr(ts.dt, "tz", None) is None:
            ts = ts.dt.tz_localize("UTC")
        return (ts.dt.tz_convert("UTC").astype("datetime64[ns, UTC]").astype("int64") // 1_000_000).to_numpy()
    arr = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise InputError("not a timestamp", field=field_name, row=int(bad[0]))
    return arr.astype(np.int64)


def _check_sorted_unique(ts: np.ndarray, field_name: str = "timestamp") -> None:
    d = np.diff(ts)
    if np.any(d < 0):
        i = int(np.flatnonzero(d < 0)[0]) + 1
        raise InputError("timestamps are not sorted ascending", field=field_name, row=i)
    if np.any(d == 0):
        i = int(np.flatnonzero(d == 0)[0]) + 1
        raise InputError("duplicated timestamp", field=field_name, row=i)


def _positive_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    arr = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~(np.isfinite(arr) & (arr > 0)))
    if bad.size:
        raise InputError(f"must be a positive finite price, got {float(arr[bad[0]])!r}", field=name, row=int(bad[0]))
    return arr


def _check_bin_size(bin_size) -> float:
    try:
        b = float(bin_size)
    except (TypeError, ValueError):
        raise InputError(f"must be a positive number of USD, got {bin_size!r}", field="bin_size") from None
    if not (math.isfinite(b) and b > 0):
        raise InputError(f"must be a positive number of USD, got {bin_size!r}", field="bin_size")
    return b


def _check_leverage_mix(mix: Mapping[float, float]) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(mix, Mapping) or len(mix) == 0:
        raise InputError("must be a non-empty mapping leverage -> share", field="leverage_mix")
    lev = np.array([float(k) for k in mix], dtype=np.float64)
    w = np.array([float(v) for v in mix.values()], dtype=np.float64)
    if not np.all(np.isfinite(lev) & (lev >= 1.0)):
        raise InputError(f"leverages must be >= 1, got {sorted(mix)}", field="leverage_mix")
    if not np.all(np.isfinite(w) & (w >= 0)):
        raise InputError("shares must be >= 0", field="leverage_mix")
    if abs(w.sum() - 1.0) > 1e-6:
        raise InputError(f"shares must sum to 1, they sum to {w.sum():.6g}", field="leverage_mix")
    return lev, w


def _price_grid(lo: float, hi: float, bin_size: float, n_rows: int = 1) -> np.ndarray:
    """Lower edges of the levels ``[lo, hi)`` of ``bin_size`` USD.  A map of ``n_rows`` bars over
    that many levels that cannot fit in memory is refused before anything is allocated."""
    from .resources import BYTES_PER_MAP_CELL, require_memory

    lo = math.floor(lo / bin_size) * bin_size
    n_float = max(1.0, math.ceil((hi - lo) / bin_size + 1e-9))
    require_memory(
        f"a map of {n_rows:,} bar(s) × {n_float:,.4g} price levels of ${bin_size:g} ({lo:,.6g} to {hi:,.6g} USD)",
        n_float * max(1, n_rows) * BYTES_PER_MAP_CELL,
        field="bin_size",
    )
    n = int(n_float)
    return lo + bin_size * np.arange(n, dtype=np.float64)


# ----------------------------------------------------------------------------- estimated map
@dataclass(frozen=True)
class _Buckets:
    """Every (bar, side, leverage) bucket, flattened; USD at entry."""

    bar: np.ndarray  # int64
    side: np.ndarray  # int8, +1 long / -1 short
    leverage: np.ndarray
    entry: np.ndarray
    usd: np.ndarray
    liquidation_price: np.ndarray


def _prepare(
    bars: pd.DataFrame, open_interest, venue: str, symbol: str, leverage_mix, long_share, bin_size, position_notional
):
    if not isinstance(bars, pd.DataFrame):
        raise InputError("must be a pandas DataFrame with timestamp, open, high, low, close", field="bars")
    if len(bars) == 0:
        raise InputError("is empty", field="bars")
    for col in ("timestamp", "high", "low", "close"):
        if col not in bars.columns:
            raise InputError(f"missing column; got {list(bars.columns)}", field=col)
    bin_size = _check_bin_size(bin_size)
    lev, w = _check_leverage_mix(leverage_mix)
    try:
        long_share = float(long_share)
    except (TypeError, ValueError):
        raise InputError(f"must be a fraction in [0, 1], got {long_share!r}", field="long_share") from None
    if not (0.0 <= long_share <= 1.0):
        raise InputError(f"must be a fraction in [0, 1], got {long_share!r}", field="long_share")
    if not (math.isfinite(float(position_notional)) and float(position_notional) > 0):
        raise InputError(f"must be a positive USD amount, got {position_notional!r}", field="position_notional")
    ts = _timestamps_ms(bars["timestamp"])
    _check_sorted_unique(ts)
    high, low, close = (_positive_column(bars, c) for c in ("high", "low", "close"))
    opn = _positive_column(bars, "open") if "open" in bars.columns else close.copy()
    bad = np.flatnonzero(low > high)
    if bad.size:
        raise InputError("low is above high", field="low", row=int(bad[0]))
    if open_interest is None:
        if "open_interest" not in bars.columns:
            raise InputError("give an open_interest column (USD) or the open_interest argument", field="open_interest")
        open_interest = bars["open_interest"]
    oi = pd.to_numeric(pd.Series(np.asarray(open_interest)), errors="coerce").to_numpy(np.float64)
    if oi.shape[0] != len(bars):
        raise InputError(f"has {oi.shape[0]} values for {len(bars)} bars", field="open_interest")
    bad = np.flatnonzero(~(np.isfinite(oi) & (oi >= 0)))
    if bad.size:
        raise InputError(
            f"must be a finite USD amount >= 0, got {oi[bad[0]]!r}", field="open_interest", row=int(bad[0])
        )
    rules = get_venue(venue)
    table = rules.tier_table(symbol)
    n_pos = float(position_notional)
    k = int(np.minimum(table.tier_index(table.measure(n_pos / close.mean(), close.mean())), table.n_tiers - 1))
    if np.any(lev > table.max_leverage[k] * (1 + 1e-12)):
        raise InputError(
            f"{lev.max():g}x is above the {table.max_leverage[k]:g}x maximum of {rules.name} {table.symbol} "
            f"for {n_pos:,.0f} USD positions",
            field="leverage_mix",
        )
    return dict(
        ts=ts,
        open=opn,
        high=high,
        low=low,
        close=close,
        oi=oi,
        rules=rules,
        table=table,
        lev=lev,
        w=w,
        long_share=long_share,
        bin_size=bin_size,
        position_notional=n_pos,
    )


def _buckets(p) -> _Buckets:
    typical = (p["high"] + p["low"] + p["close"]) / 3.0
    d_oi = np.diff(p["oi"], prepend=p["oi"][0])
    opened = np.flatnonzero(d_oi > 0)
    n_lev = p["lev"].shape[0]
    shares = np.array([p["long_share"], 1.0 - p["long_share"]])
    # layout: bar-major, then side (long, short), then leverage
    bar = np.repeat(opened, 2 * n_lev)
    side = np.tile(np.repeat(np.array([1, -1], np.int8), n_lev), opened.size)
    lev = np.tile(np.tile(p["lev"], 2), opened.size)
    weight = np.tile(np.outer(shares, p["w"]).ravel(), opened.size)
    usd = d_oi[bar] * weight
    entry = typical[bar]
    n_pos = p["position_notional"]
    lp = p["rules"].liquidation_price(side, n_pos / entry, entry, n_pos / lev, p["table"], mode="isolated")
    return _Buckets(bar.astype(np.int64), side, lev, entry, usd, np.asarray(lp, np.float64))


def _decay_factors(oi: np.ndarray, enabled: bool) -> np.ndarray:
    """Cumulative product of the per-bar surviving fraction ``OI_t / OI_{t-1}`` over falls."""
    if not enabled:
        return np.ones_like(oi)
    prev = np.concatenate([[oi[0]], oi[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where((oi < prev) & (prev > 0), oi / prev, 1.0)
    return np.cumprod(f)


def _death_bars(b: _Buckets, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """First bar after opening at which each bucket's liquidation price is crossed (n: never)."""
    n = low.shape[0]
    death = np.full(b.bar.shape[0], n, dtype=np.int64)
    start = b.bar + 1
    for s, values, sign in ((1, low, 1.0), (-1, high, -1.0)):
        sel = np.flatnonzero(b.side == s)
        if sel.size == 0:
            continue
        table = _sparse_min_table(np.ascontiguousarray(sign * values))
        out = np.empty(sel.size, dtype=np.int64)
        _first_at_or_below(
            table, np.ascontiguousarray(start[sel]), np.ascontiguousarray(sign * b.liquidation_price[sel]), out
        )
        death[sel] = out
    return death


def liquidation_map(
    bars: pd.DataFrame,
    open_interest=None,
    *,
    venue: str = "binance",
    symbol: str = "BTC/USDT:USDT",
    leverage_mix: Mapping[float, float] = DEFAULT_LEVERAGE_MIX,
    long_share: float = 0.5,
    bin_size: float = 100.0,
    price_range: tuple[float, float] | None = None,
    position_notional: float = 10_000.0,
    decay_with_oi: bool = True,
) -> LiquidationMap:
    """Estimate a liquidation map from bars and open interest (see the module docstring).

    Parameters
    ----------
    bars: DataFrame with ``timestamp`` (epoch ms or datetime, UTC, ascending, unique), ``high``,
        ``low``, ``close`` (USD) and optionally ``open`` and ``open_interest`` (USD).
    open_interest: USD open interest per bar (array or Series of ``len(bars)``); defaults to the
        ``open_interest`` column.
    venue, symbol: the rule book and symbol whose tier table sets the liquidation prices.
    leverage_mix: leverage → share of each side's new notional; shares sum to 1.
    long_share: fraction of each OI increase that is long (the rest short).
    bin_size: height of a price level, USD (> 0).
    price_range: ``(low, high)`` USD of the grid; default: the span of all buckets' liquidation
        prices, clipped to half the lowest low and twice the highest high.
    position_notional: USD notional of the representative position (picks the tier).
    decay_with_oi: close live buckets pro rata when open interest falls.

    Returns
    -------
    LiquidationMap labelled ``"estimated"``.
    """
    p = _prepare(bars, open_interest, venue, symbol, leverage_mix, long_share, bin_size, position_notional)
    n = p["ts"].shape[0]
    b = _buckets(p)
    decay = _decay_factors(p["oi"], decay_with_oi)
    death = _death_bars(b, p["low"], p["high"])
    levels = _levels_for(b.liquidation_price, p, price_range)
    bin_size = p["bin_size"]
    level_idx = np.floor((b.liquidation_price - levels[0]) / bin_size).astype(np.int64)
    in_range = (level_idx >= 0) & (level_idx < levels.shape[0])
    weight = b.usd / decay[b.bar]

    grids = []
    for s in (1, -1):
        sel = b.side == s
        grid = np.zeros((n, levels.shape[0]))
        _fill_grid(grid, b.bar[sel], death[sel], np.where(in_range[sel], level_idx[sel], -1), weight[sel], decay)
        grids.append(grid)

    # liquidated USD at the death bar: the bucket as it stood at the close of the bar before
    dead = death < n
    liq_usd = weight[dead] * decay[death[dead] - 1]
    liq_long = np.bincount(death[dead][b.side[dead] == 1], weights=liq_usd[b.side[dead] == 1], minlength=n)
    liq_short = np.bincount(death[dead][b.side[dead] == -1], weights=liq_usd[b.side[dead] == -1], minlength=n)
    # alive outside the grid: same difference array, one column
    out = ~in_range
    oor = np.zeros((n, 1))
    if np.any(out):
        _fill_grid(oor, b.bar[out], death[out], np.zeros(int(out.sum()), np.int64), weight[out], decay)
    candles = np.column_stack([p["open"], p["high"], p["low"], p["close"]])
    meta = dict(
        leverage_mix={float(k): float(v) for k, v in dict(leverage_mix).items()},
        long_share=p["long_share"],
        position_notional=p["position_notional"],
        decay_with_oi=bool(decay_with_oi),
        opened_usd=float(b.usd.sum()),
        entry_price="typical (high+low+close)/3",
        margin_mode="isolated",
        n_buckets=int(b.usd.shape[0]),
    )
    return LiquidationMap(
        p["ts"],
        levels,
        bin_size,
        grids[0],
        grids[1],
        ESTIMATED,
        candles,
        p["rules"].name,
        p["table"].symbol,
        liq_long,
        liq_short,
        oor[:, 0],
        meta,
    )


def _levels_for(lp: np.ndarray, p, price_range) -> np.ndarray:
    bin_size = p["bin_size"]
    if price_range is None:
        lo_clip, hi_clip = 0.5 * p["low"].min(), 2.0 * p["high"].max()
        pos = lp[lp > 0]
        if pos.size == 0:
            lo, hi = p["low"].min(), p["high"].max()
        else:
            lo, hi = max(pos.min(), lo_clip), min(pos.max(), hi_clip)
        return _price_grid(lo, hi + bin_size, bin_size, len(p["ts"]))
    try:
        lo, hi = (float(x) for x in price_range)
    except (TypeError, ValueError):
        raise InputError(f"must be (low, high) in USD, got {price_range!r}", field="price_range") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo < hi):
        raise InputError(f"must be (low, high) with 0 <= low < high, got {price_range!r}", field="price_range")
    return _price_grid(lo, hi, bin_size, len(p["ts"]))


def _liquidation_map_reference(
    bars,
    open_interest=None,
    *,
    venue="binance",
    symbol="BTC/USDT:USDT",
    leverage_mix=DEFAULT_LEVERAGE_MIX,
    long_share=0.5,
    bin_size=100.0,
    price_range=None,
    position_notional=10_000.0,
    decay_with_oi=True,
):
    """The slow, obvious version: walk the bars, keep the live buckets in arrays, remove the
    crossed ones, scale by the OI fall, add the new ones, histogram the row.  Returns
    ``(long_grid, short_grid, levels, liquidated_long, liquidated_short)``."""
    p = _prepare(bars, open_interest, venue, symbol, leverage_mix, long_share, bin_size, position_notional)
    n = p["ts"].shape[0]
    b = _buckets(p)
    levels = _levels_for(b.liquidation_price, p, price_range)
    n_b = levels.shape[0]
    prev_oi = np.concatenate([[p["oi"][0]], p["oi"][:-1]])
    grids = np.zeros((2, n, n_b))
    liq = np.zeros((2, n))
    live_usd = np.zeros(0)
    live_lp = np.zeros(0)
    live_side = np.zeros(0, np.int8)
    order = np.argsort(b.bar, kind="stable")
    bounds = np.searchsorted(b.bar[order], np.arange(n + 1))
    for t in range(n):
        crossed = np.where(live_side == 1, p["low"][t] <= live_lp, p["high"][t] >= live_lp)
        liq[0, t] = live_usd[crossed & (live_side == 1)].sum()
        liq[1, t] = live_usd[crossed & (live_side == -1)].sum()
        keep = ~crossed
        live_usd, live_lp, live_side = live_usd[keep], live_lp[keep], live_side[keep]
        if decay_with_oi and p["oi"][t] < prev_oi[t] and prev_oi[t] > 0:
            live_usd = live_usd * (p["oi"][t] / prev_oi[t])
        new = order[bounds[t] : bounds[t + 1]]
        live_usd = np.concatenate([live_usd, b.usd[new]])
        live_lp = np.concatenate([live_lp, b.liquidation_price[new]])
        live_side = np.concatenate([live_side, b.side[new]])
        idx = np.floor((live_lp - levels[0]) / p["bin_size"]).astype(np.int64)
        ok = (idx >= 0) & (idx < n_b)
        for k, s in enumerate((1, -1)):
            sel = ok & (live_side == s)
            grids[k, t] = np.bincount(idx[sel], weights=live_usd[sel], minlength=n_b)
    return grids[0], grids[1], levels, liq[0], liq[1]


# ----------------------------------------------------------------------------- observed map
OBSERVED_COLUMNS = ("account", "symbol", "side", "size", "entry", "liquidation_price", "margin")


def observed_liquidation_map(
    positions: pd.DataFrame,
    *,
    symbol: str | None = None,
    bin_size: float = 100.0,
    price_range: tuple[float, float] | None = None,
    timestamp: int | None = None,
    mark_price: float | None = None,
    venue: str = "hyperliquid",
) -> LiquidationMap:
    """A one-snapshot map from real positions and the venue's own liquidation prices.

    ``positions`` has the columns ``account, symbol, side, size, entry, liquidation_price,
    margin`` (Hyperliquid ``clearinghouseState``: ``side`` long/short, or leave it and give signed
    sizes ``szi``; ``size`` base units, prices USD, ``margin`` USD).  Each position counts its
    notional at entry, ``|size| × entry`` USD, at its liquidation price.  Positions without a
    liquidation price (cross positions the account can carry to zero) are dropped with a warning
    that counts them.  ``timestamp`` (ms) labels the snapshot; ``mark_price`` adds a one-candle
    price.  Labelled ``"observed"``.
    """
    if not isinstance(positions, pd.DataFrame):
        raise InputError("must be a pandas DataFrame", field="positions")
    if len(positions) == 0:
        raise InputError("is empty", field="positions")
    for col in OBSERVED_COLUMNS:
        if col not in positions.columns:
            raise InputError(f"missing column; got {list(positions.columns)}", field=col)
    bin_size = _check_bin_size(bin_size)
    frame = positions
    symbols = frame["symbol"].astype(str).unique()
    if symbol is None:
        if len(symbols) > 1:
            raise InputError(f"positions hold {len(symbols)} symbols; choose one of {sorted(symbols)}", field="symbol")
        symbol = str(symbols[0])
    frame = frame[frame["symbol"].astype(str) == symbol]
    if len(frame) == 0:
        raise InputError(f"no position in {symbol!r}", field="symbol")
    size = pd.to_numeric(frame["size"], errors="coerce").to_numpy(np.float64)
    entry = pd.to_numeric(frame["entry"], errors="coerce").to_numpy(np.float64)
    lp = pd.to_numeric(frame["liquidation_price"], errors="coerce").to_numpy(np.float64)
    side_raw = frame["side"]
    if side_raw.isna().all():
        side = np.sign(size).astype(np.int8)
    else:
        from .venues.margin import as_side

        side = as_side(side_raw.astype(str).to_numpy())
    for name, arr in (("size", size), ("entry", entry)):
        bad = np.flatnonzero(~np.isfinite(arr) | (arr == 0) | ((arr < 0) & (name == "entry")))
        if bad.size:
            raise InputError(f"must be a non-zero finite number, got {arr[bad[0]]!r}", field=name, row=int(bad[0]))
    usable = np.isfinite(lp) & (lp > 0)
    dropped = int((~usable).sum())
    if dropped:
        warnings.warn(f"{dropped} position(s) without a liquidation price dropped from the observed map", stacklevel=2)
    if not usable.any():
        raise InputError("no position has a liquidation price", field="liquidation_price")
    usd = np.abs(size) * entry
    side, usd, lp = side[usable], usd[usable], lp[usable]
    if price_range is None:
        levels = _price_grid(lp.min(), lp.max() + bin_size, bin_size)
    else:
        lo, hi = (float(x) for x in price_range)
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo < hi):
            raise InputError(f"must be (low, high) with 0 <= low < high, got {price_range!r}", field="price_range")
        levels = _price_grid(lo, hi, bin_size)
    idx = np.floor((lp - levels[0]) / bin_size).astype(np.int64)
    ok = (idx >= 0) & (idx < levels.shape[0])
    long_row = np.bincount(idx[ok & (side > 0)], weights=usd[ok & (side > 0)], minlength=levels.shape[0])
    short_row = np.bincount(idx[ok & (side < 0)], weights=usd[ok & (side < 0)], minlength=levels.shape[0])
    ts = np.array([int(timestamp) if timestamp is not None else 0], dtype=np.int64)
    candles = None if mark_price is None else np.array([[mark_price] * 4], dtype=np.float64)
    meta = dict(
        positions=int(usable.sum()),
        dropped_without_liquidation_price=dropped,
        accounts=int(frame["account"].nunique()),
        out_of_range_usd=float(usd[~ok].sum()),
        value="notional at entry, USD",
    )
    return LiquidationMap(
        ts,
        levels,
        bin_size,
        long_row[None, :],
        short_row[None, :],
        OBSERVED,
        candles,
        venue,
        symbol,
        None,
        None,
        np.array([float(usd[~ok].sum())]),
        meta,
    )


__all__ = [
    "LiquidationMap",
    "liquidation_map",
    "observed_liquidation_map",
    "DEFAULT_LEVERAGE_MIX",
    "ESTIMATED",
    "OBSERVED",
]
