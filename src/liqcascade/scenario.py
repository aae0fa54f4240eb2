"""Scenarios (an event's state, TOML) and the global model parameters, validated with Pydantic.

A scenario file holds *state*: the start, horizon and step, each asset's start price and stated
price path, per venue and asset the open interest (USD), long share, depth within ±1 % of mid
(USD per side) and depth exponent κ, the insurance funds, and the exogenous flows with their
timing.  Behaviour lives in one global parameters file (``scenarios/model-parameters.toml``)
that every scenario shares; a scenario may override a value in ``[overrides]`` (same sections
and keys), and :attr:`Scenario.overridden` lists what it changed.

Every validation error becomes one :class:`~liqcascade.errors.InputError` line naming the file
and the field's path (``markets[2].open_interest_usd: …``).
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import math
import tomllib
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import numpy as np
import pandas as pd
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import InputError, from_validation_error
from .population import MarketSpec, PopulationParams, synthesize

BUNDLED = ("feb-2026", "feb-2026-weekend", "oct-2025", "aug-2024")
DEFAULT = "feb-2026"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AssetState(_Strict):
    start_price: float = Field(gt=0, description="USD per base unit at the start")
    path: list[tuple[str, float]] = Field(min_length=2, description="(UTC date, USD) before the start")
    #: the spot books of all spot venues together, per side within 1 % of mid (USD); when given,
    #: the asset's index is the spot mid, perpetuals are arbitraged to it and flows trade spot
    #: and perpetual books in proportion to their depth
    spot_depth_1pct_usd: float | None = Field(None, gt=0, description="USD per side within 1 %")
    spot_kappa: float = Field(1.13, gt=0, description="depth exponent of the spot book")

    @field_validator("path")
    @classmethod
    def _path(cls, v):
        last = None
        for d, p in v:
            t = _parse_date(d)
            if not (math.isfinite(p) and p > 0):
                raise ValueError(f"price {p!r} on {d} must be positive")
            if last is not None and t <= last:
                raise ValueError("dates must increase")
            last = t
        return v


def _registered_venue(v: str) -> str:
    """A venue name the registry knows (:func:`liqcascade.venues.names`), or a one-line error
    naming the known ones."""
    from .venues import names

    known = names()
    if v not in known:
        raise ValueError(f"unknown venue {v!r}; known venues: {', '.join(known)}")
    return v


#: a registered venue's name (checked against the registry when the file is read)
VenueName = Annotated[str, AfterValidator(_registered_venue)]


class ScenarioMarket(_Strict):
    venue: VenueName
    asset: str
    open_interest_usd: float = Field(gt=0)
    long_share: float = Field(ge=0, le=1)
    depth_1pct_usd: float = Field(gt=0, description="USD within 1 % of mid, per side")
    kappa: float = Field(gt=0)


class _Flow(_Strict):
    asset: str


class SellProgramme(_Flow):
    kind: Literal["sell_programme", "buy_programme"]
    usd: float = Field(gt=0, description="USD over the window")
    start_hour: float = Field(ge=0)
    end_hour: float = Field(gt=0)


class EtfRedemptions(_Flow):
    kind: Literal["etf_redemptions"]
    usd: float = Field(gt=0, description="USD redeemed over the window")
    start_hour: float = Field(ge=0)
    end_hour: float = Field(gt=0)


class MacroShockSpec(_Flow):
    kind: Literal["macro_shock"]
    equity_return: float = Field(gt=-1, description="equity index return over the window, fraction")
    start_hour: float = Field(ge=0)
    end_hour: float = Field(gt=0)
    beta: float
    usd_per_unit_return: float = Field(ge=0)


class PanicSellers(_Flow):
    """Discretionary sellers holding ``holdings`` base units; their rates are global
    (``[cohorts]`` of the model parameters)."""

    kind: Literal["panic_sellers"]
    holdings: float = Field(gt=0, description="base units")


class LongTermHolders(_Flow):
    """Long-term holders holding ``holdings`` base units; their rates are global."""

    kind: Literal["long_term_holders"]
    holdings: float = Field(gt=0, description="base units")


class TreasuryCompany(_Flow):
    kind: Literal["treasury_company"]
    holdings: float = Field(gt=0, description="base units")
    cost_basis: float = Field(gt=0, description="USD per base unit")
    threshold: float = Field(ge=0, lt=1)
    usd_per_s: float = Field(ge=0)


class FlowSchedule(_Flow):
    """A net exogenous flow stated per window (USD, + bought), each window's USD spread evenly
    over it: e.g. what the observed replay of the event implies beyond the liquidations and the
    positions' own openings and closings (:func:`liqcascade.replay.flow_schedule`)."""

    kind: Literal["flow_schedule"]
    window_hours: float = Field(gt=0)
    start_hour: float = Field(0.0, ge=0)
    usd: list[float] = Field(min_length=1, description="signed USD per window, + bought")
    source: str = Field("", description="how the schedule was measured")

    @field_validator("usd")
    @classmethod
    def _finite(cls, v: list[float]) -> list[float]:
        if not all(math.isfinite(x) for x in v):
            raise ValueError("every window's USD must be a finite number")
        return v


FlowSpec = Annotated[
    Union[SellProgramme, EtfRedemptions, MacroShockSpec, PanicSellers, LongTermHolders, TreasuryCompany, FlowSchedule],
    Field(discriminator="kind"),
]


class LargePosition(_Strict):
    """A reported large position placed explicitly (isolated), on top of the synthetic ones:
    its notional is taken out of its market's open interest before synthesis."""

    venue: VenueName
    asset: str
    side: Literal["long", "short"]
    notional_usd: float = Field(gt=0, description="USD at entry")
    leverage: float = Field(gt=1)
    entry: float = Field(gt=0, description="USD per base unit")


class SeriesSource(_Strict):
    """One market file the series was derived from: its path under the data folder and its origin."""

    file: str = Field(min_length=1, description="path under the data folder (../shared/data)")
    origin: str = Field(min_length=1, description="public repository @ commit, from the data README")
    what: str = ""


class SeriesSpec(_Strict):
    """The ``[series]`` table: the scenario's derived market series (see :data:`SERIES_COLUMNS`)."""

    file: str = Field(min_length=1, description="sidecar beside the TOML, e.g. feb-2026.series.csv.gz")
    lookback_start: datetime = Field(description="first 5-minute bar of every asset (UTC)")
    event_start: datetime
    event_end: datetime = Field(description="end of the event window (UTC, exclusive)")
    minute_assets: list[str] = Field(default_factory=list, description="assets with 1-minute bars over the event")
    bar_s: dict[str, int] = Field(
        default_factory=dict,
        description="base bar length (s) per asset, from lookback_start to event_end; 300 where not given",
    )
    event_bar_s: dict[str, int] = Field(
        default_factory=dict,
        description="assets with bars finer than their base bars over the event window, and their length (s)",
    )
    sources: list[SeriesSource] = Field(min_length=1)

    def base_bar_s(self, asset: str) -> int:
        """The length (s) of ``asset``'s base bars, the ones that cover the look-back."""
        return int(self.bar_s.get(asset, 300))

    def blocks(self, assets) -> list[tuple[str, int, bool]]:
        """(asset, bar length s, covers the look-back) of every block of bars the series holds."""
        out = []
        for a in assets:
            out.append((a, self.base_bar_s(a), True))
            if a in self.event_bar_s:
                out.append((a, int(self.event_bar_s[a]), False))
            if a in self.minute_assets:
                out.append((a, 60, False))
        return out

    @model_validator(mode="after")
    def _ordered(self):
        if not (_utc_ms(self.lookback_start) <= _utc_ms(self.event_start) < _utc_ms(self.event_end)):
            raise ValueError("lookback_start <= event_start < event_end is required")
        for k in ("lookback_start", "event_start", "event_end"):
            if _utc_ms(getattr(self, k)) % 300_000:
                raise ValueError(f"{k} must be on the 5-minute grid")
        for what, table in (("bar_s", self.bar_s), ("event_bar_s", self.event_bar_s)):
            for a, s in table.items():
                if s not in SERIES_BAR_S or s == 60:
                    allowed = ", ".join(str(x) for x in SERIES_BAR_S if x != 60)
                    raise ValueError(f"{what}.{a}: {s} is not a bar length the series takes ({allowed} s)")
        for a, s in self.bar_s.items():
            for k in ("lookback_start", "event_start", "event_end"):
                if _utc_ms(getattr(self, k)) % (s * 1000):
                    raise ValueError(f"{k} must be on {a}'s {s}-second bar grid")
        for a, s in self.event_bar_s.items():
            if s >= self.base_bar_s(a):
                raise ValueError(f"event_bar_s.{a}: {s} s is not finer than the base bars ({self.base_bar_s(a)} s)")
        return self


class ScenarioFile(_Strict):
    name: str
    title: str = ""
    start: datetime
    horizon_hours: float = Field(gt=0, le=24 * 14)
    step_seconds: float = Field(gt=0)
    assets: dict[str, AssetState]
    markets: list[ScenarioMarket] = Field(min_length=1)
    insurance_fund_usd: dict[str, float] = Field(default_factory=dict)
    flows: list[FlowSpec] = Field(default_factory=list)
    large_positions: list[LargePosition] = Field(default_factory=list)
    overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)
    series: SeriesSpec | None = None

    @model_validator(mode="after")
    def _consistent(self):
        if self.series is not None:
            for a in self.series.minute_assets:
                if a not in self.assets:
                    raise ValueError(f"series.minute_assets: {a!r} has no [assets.{a}] section")
            for what in ("bar_s", "event_bar_s"):
                for a in getattr(self.series, what):
                    if a not in self.assets:
                        raise ValueError(f"series.{what}: {a!r} has no [assets.{a}] section")
        seen = set()
        for i, m in enumerate(self.markets):
            if m.asset not in self.assets:
                raise ValueError(f"markets[{i}].asset {m.asset!r} has no [assets.{m.asset}] section")
            if (m.venue, m.asset) in seen:
                raise ValueError(f"markets[{i}]: {m.venue} {m.asset} appears twice")
            seen.add((m.venue, m.asset))
        for i, f in enumerate(self.flows):
            if f.asset not in self.assets:
                raise ValueError(f"flows[{i}].asset {f.asset!r} has no [assets.{f.asset}] section")
            if hasattr(f, "end_hour") and f.end_hour <= f.start_hour:
                raise ValueError(f"flows[{i}]: end_hour must be after start_hour")
        for i, w in enumerate(self.large_positions):
            m = next((m for m in self.markets if (m.venue, m.asset) == (w.venue, w.asset)), None)
            if m is None:
                raise ValueError(f"large_positions[{i}]: no market {w.venue} {w.asset}")
            if w.notional_usd >= m.open_interest_usd:
                raise ValueError(f"large_positions[{i}]: notional exceeds the market's open interest")
        for v, usd in self.insurance_fund_usd.items():
            if not (math.isfinite(usd) and usd >= 0):
                raise ValueError(f"insurance_fund_usd.{v} must be a non-negative USD amount")
        return self


class MarketMakerParams(_Strict):
    calm_sigma: float = Field(gt=0)
    #: "baseline": each asset's calm volatility is calm_sigma scaled by the asset's measured
    #: baseline volatility relative to the leader's (calm_sigma is the leader's); "global": one for all
    calm_sigma_per_asset: Literal["global", "baseline"] = "global"
    vol_window_s: float = Field(gt=0)
    vol_sensitivity: float = Field(ge=0)
    flow_sensitivity: float = Field(ge=0)
    min_multiplier: float = Field(gt=0, le=1)
    refill_half_life_s: float = Field(gt=0)


class PriceParams(_Strict):
    arbitrage_rate: float = Field(ge=0, description="per second")
    permanent_impact: float = Field(ge=0, le=1, description="fraction of a move that stays")
    resilience_half_life_s: float = Field(gt=0, description="seconds for half the transient part to decay")
    flow_permanent_impact: float | None = Field(
        None,
        ge=0,
        le=1,
        description="fraction of the move made by "
        "flows (programmes, cohorts, noise) that stays; default: "
        "permanent_impact",
    )
    #: "fresh": every book side is fresh at its mid each step (eaten depth back at once);
    #: "memory": depth eaten by the transient part of earlier moves stays eaten until the index
    #: returns to the fair price (each book anchored at the fair price)
    books: Literal["fresh", "memory"] = "fresh"


class ContagionParams(_Strict):
    """Every other asset follows ``leader``, trading USD per unit log return of the leader over
    the previous step.  ``law = "measured_beta"``: the USD that moves the follower's fresh books by
    its measured factor beta times the leader's move (the baseline's ``factor_beta``, see
    :class:`BaselineParams`; the books' density within the touch); ``law = "oi_rate"``:
    ``beta * rate_per_oi * OI`` (OI: the follower's open interest, USD)."""

    leader: str = "BTC"
    law: Literal["measured_beta", "oi_rate"] = "oi_rate"
    beta: float = Field(0.0, ge=0)
    rate_per_oi: float = Field(0.0, ge=0)
    #: with ``law = "measured_beta"``, the books the follower's move is made on: ``"fresh"`` its
    #: books at full depth (a thinner book then moves it further than beta times the leader's
    #: move); ``"current"`` its books as the market makers leave them (the move is beta times the
    #: leader's whatever the withdrawal: the beta is measured on real returns, which hold it)
    books: Literal["fresh", "current"] = "fresh"


class BaselineParams(_Strict):
    """The free-running market's stochastic exogenous flow (:class:`liqcascade.engine.BaselineFlow`):
    per step, the USD that moves each asset's fresh books by a return of the factor GARCH measured
    in ``scenarios/measured/<measured>`` (:mod:`liqcascade.analytics.baseline`); the leader's
    own shocks, the other assets' residuals (their share of the leader's moves comes through the
    contagion channel with ``law = "measured_beta"``).  ``measured = ""``: no baseline."""

    measured: str = Field("", description="file under scenarios/measured/, '' for none")
    level: Literal["sample", "garch"] = "sample"
    #: the day's level: ``"window"`` the fit window's; ``"previous_day"`` scaled per asset by the
    #: realised volatility of the scenario's series over the 24 h before its start against the
    #: window's (:func:`~liqcascade.analytics.baseline.event_vol_scale`; a scenario without a
    #: series keeps the window's)
    event_level: Literal["window", "previous_day"] = "window"
    #: the books a baseline return is turned into USD on: ``"fresh"`` the books at full depth;
    #: ``"makers"`` the books as the market makers' volatility law leaves them on the baseline's
    #: own path (:meth:`~liqcascade.engine.Liquidity.maker_multiplier`): the measured returns
    #: already hold the makers' response to their volatility, so the engine's withdrawal then
    #: amplifies only what the baseline does not carry (liquidations, shocks, schedules)
    books: Literal["fresh", "makers"] = "fresh"


class FlowParams(_Strict):
    fear_window_s: float = Field(gt=0)
    fear_scale: float = Field(gt=0)
    #: two-sided taker noise: per asset a Gaussian USD flow per step with standard deviation
    #: noise_per_oi * OI * sqrt(step seconds) (OI: the asset's open interest, USD)
    noise_per_oi: float = Field(0.0, ge=0)


class CohortParams(_Strict):
    """Holder cohorts' rates, as fractions of the asset's open interest (USD) per second."""

    panic_per_drawdown: float = Field(ge=0, description="per second per unit of drawdown")
    panic_at_max_fear: float = Field(ge=0, description="per second at extreme fear")
    lth_per_drawdown: float = Field(ge=0, description="per second per unit of drawdown beyond the floor")
    lth_drawdown_floor: float = Field(ge=0, le=1, description="fraction")
    #: dip buyers in every asset: cash OI * dip_cash_per_oi (USD), bought at OI * dip_per_drawdown
    #: USD/s per unit of drawdown beyond dip_drawdown_floor (0: none)
    dip_per_drawdown: float = Field(0.0, ge=0, description="per second per unit of drawdown beyond the floor")
    dip_drawdown_floor: float = Field(0.05, ge=0, le=1, description="fraction")
    dip_cash_per_oi: float = Field(0.1, ge=0, description="their cash, fraction of the asset's open interest")


class BookParams(_Strict):
    """Shape of every order book beyond what a scenario states (its depth within 1 % and kappa)."""

    #: depth is uniform within this distance of mid (fraction, 0.001 = 0.1 %): the power law
    #: Cum(u) = B u^kappa, fitted on wider ranges, would make the touch implausibly thin
    touch_u: float = Field(0.0, ge=0.0, lt=0.01, description="fraction of the mid")


class LiquidationParams(_Strict):
    adl_rule: Literal["queue", "pro_rata"] = "queue"
    #: a liquidator vault (a venue's backstop that keeps the fees) sells what it took over, half of it in this many
    #: seconds (None: it keeps it to the end of the run)
    vault_unwind_half_life_s: float | None = Field(None, gt=0)


class Provenance(_Strict):
    """Which parameters were fitted, to which targets, when (written by calibration)."""

    fitted: list[str] = Field(default_factory=list)
    targets: list[str] = Field(default_factory=list)
    fitted_at: str = ""
    objective: float | None = None
    positions: int | None = None
    seed: int | None = None
    seeds: list[int] | None = None  # a fit over several seeds: the mean objective over these


class ModelParameters(_Strict):
    """The global behavioural parameters (see ``scenarios/model-parameters.toml``)."""

    population: PopulationParams
    market_maker: MarketMakerParams
    prices: PriceParams
    flows: FlowParams
    cohorts: CohortParams
    contagion: ContagionParams
    liquidation: LiquidationParams
    book: BookParams = Field(default_factory=BookParams)
    baseline: BaselineParams = Field(default_factory=BaselineParams)
    provenance: Provenance | None = None


class Scenario:
    """A validated scenario with its effective model parameters."""

    def __init__(
        self,
        spec: ScenarioFile,
        params: ModelParameters,
        overridden: list[str],
        source: str,
        text: str,
        *,
        base: Any = None,
    ):
        self.spec = spec
        self.params = params
        self.overridden = overridden
        self.source = source
        self.text = text
        #: the folder the scenario's sidecar files are read from (a Path or a package resource)
        self.base = base

    def series(self) -> pd.DataFrame | None:
        """The scenario's market series (the ``[series]`` sidecar), validated; None without one.

        Long format, one row per bar, columns :data:`SERIES_COLUMNS`: ``asset``; ``bar_s`` (bar
        length in seconds: the asset's base bars over the look-back and the event window — 300
        unless ``[series] bar_s`` names another of :data:`SERIES_BAR_S` — and, over the event
        window, finer bars of ``event_bar_s`` and 60-s bars of the ``minute_assets``); ``time_ms`` (bar open time, int64 epoch ms UTC);
        ``open``, ``high``, ``low``, ``close`` (USDT per base unit, trades of the USDT perpetual
        the series was derived from: ``[series] sources``); ``volume`` (base units); ``oi_usd``
        (that perpetual's open interest in USD at the bar's close, i.e. stamped ``time_ms + bar_s``;
        NaN where the data has none, e.g. 1-minute bars that do not close on the 5-minute grid);
        ``funding_rate_8h`` (its last funding rate settled at or before ``time_ms``, fraction per
        8 hours).

        Rows come sorted by asset (in the order of ``[assets]``), then ``bar_s`` descending, then
        time.  Raises :class:`~liqcascade.errors.InputError` naming the file, the row (line of the
        decompressed file, header = line 1) and the problem: a missing or extra column, bars
        unsorted, duplicated, with a gap or off their grid, a price or open interest that is not
        positive, high below low, a series that does not cover its window.
        """
        spec = self.spec.series
        if spec is None:
            return None
        if getattr(self, "_series", None) is None:  # read and checked once per scenario
            self._series = read_series(self._sidecar(spec.file), spec, assets=list(self.spec.assets))
        return self._series

    def _sidecar(self, file: str):
        if self.base is not None:
            return self.base.joinpath(file)
        bundled = {f"{n}.toml" for n in BUNDLED}
        if self.source in bundled and not Path(self.source).is_file():
            return resources.files("liqcascade.scenarios").joinpath(file)
        return Path(self.source).parent / file

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def n_steps(self) -> int:
        return int(round(self.spec.horizon_hours * 3600.0 / self.spec.step_seconds))

    @property
    def start_ms(self) -> int:
        start = self.spec.start if self.spec.start.tzinfo else self.spec.start.replace(tzinfo=timezone.utc)
        return int(start.timestamp() * 1000)


# ----------------------------------------------------------------------------------- series
#: the columns of a scenario's series sidecar, in order (see :meth:`Scenario.series`)
SERIES_COLUMNS = ("asset", "bar_s", "time_ms", "open", "high", "low", "close", "volume", "oi_usd", "funding_rate_8h")
#: the bar lengths (s) a series may hold: 60 for minute assets, the others as base or event bars
SERIES_BAR_S = (60, 300, 900, 3600, 14400)


def _utc_ms(dt: datetime) -> int:
    return int((dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp() * 1000)


def read_series(path, spec: SeriesSpec, *, assets: list[str]) -> pd.DataFrame:
    """Read and validate a series sidecar (``.csv`` or ``.csv.gz``) against its ``[series]`` table.

    ``path``: a file path or a package resource.  ``assets``: the scenario's assets, each of which
    needs base bars (5-minute unless ``spec.bar_s`` names another length) from
    ``spec.lookback_start`` to ``spec.event_end`` (bar open times ``lookback_start`` …
    ``event_end − bar``); each of ``spec.event_bar_s`` also needs its finer bars, and each of
    ``spec.minute_assets`` 1-minute bars, over ``[event_start, event_end)``.  Returns the frame described in
    :meth:`Scenario.series`; errors are one-line :class:`InputError` messages naming file and row.
    """
    import pyarrow as pa

    from .data._common import (
        check_high_low,
        check_positive,
        check_regular_bars,
        fail,
        iso_ms,
        parse_csv,
        read_bytes,
        require_columns,
        to_float,
    )

    if not isinstance(path, (str, Path)):  # a package resource (the bundled scenarios' sidecars)
        name = getattr(path, "name", str(path))
        try:
            raw = path.read_bytes()
        except (OSError, FileNotFoundError):
            raise InputError(f"{name}: no such file (the scenario's [series] sidecar)", field="series.file") from None
        data = gzip.decompress(raw) if name.endswith(".gz") else raw
    else:
        if not Path(path).is_file():
            raise InputError(f"{path}: no such file (the scenario's [series] sidecar)", field="series.file")
        data, name = read_bytes(path)
        name = str(path)
    head = [h.strip() for h in data[: data.find(b"\n")].decode("utf-8", "replace").split(",")]
    require_columns(name, head, SERIES_COLUMNS)
    if tuple(head) != SERIES_COLUMNS:
        extra = [h for h in head if h not in SERIES_COLUMNS]
        raise fail(
            name,
            f"columns must be exactly {','.join(SERIES_COLUMNS)}"
            + (f" (unexpected {', '.join(extra)})" if extra else " in this order"),
            row=1,
        )
    types = {
        "asset": pa.string(),
        "bar_s": pa.int64(),
        "time_ms": pa.int64(),
        **{c: pa.float64() for c in SERIES_COLUMNS[3:]},
    }
    df = parse_csv(data, name, header=True, names=SERIES_COLUMNS, types=types)
    line0 = 2
    asset = df["asset"].astype("string").str.strip()
    unknown = ~asset.isin(assets).to_numpy()
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise fail(
            name,
            f"asset {asset.iloc[i]!r} is not one of the scenario's assets ({', '.join(assets)})",
            row=line0 + i,
            field="asset",
        )
    bar_s = to_float(df, "bar_s", name, line0)
    declared = spec.blocks(assets)
    lengths = sorted({s for _a, s, _lb in declared}, reverse=True)
    odd = ~np.isin(bar_s, SERIES_BAR_S)
    if odd.any():
        i = int(np.flatnonzero(odd)[0])
        coarse = ", ".join(str(x) for x in SERIES_BAR_S if x > 300)
        raise fail(
            name,
            f"bar_s must be 300 or 60 (seconds), or a coarser base bar ({coarse}), got {bar_s[i]:g}",
            row=line0 + i,
            field="bar_s",
        )
    t = to_float(df, "time_ms", name, line0)
    if not np.isfinite(t).all():
        i = int(np.flatnonzero(~np.isfinite(t))[0])
        raise fail(name, "time_ms is missing", row=line0 + i, field="time_ms")
    t = t.astype(np.int64)
    px = {c: to_float(df, c, name, line0) for c in ("open", "high", "low", "close")}
    for c, v in px.items():
        check_positive(v, c, name, line0)
    check_high_low(px["high"], px["low"], name, line0)
    vol = to_float(df, "volume", name, line0)
    check_positive(vol, "volume", name, line0, allow_zero=True)
    oi = to_float(df, "oi_usd", name, line0)
    bad = np.flatnonzero(~np.isnan(oi) & ~(oi > 0))
    if bad.size:
        i = int(bad[0])
        raise fail(name, f"oi_usd must be positive (or empty), got {oi[i]:g}", row=line0 + i, field="oi_usd")
    fr = to_float(df, "funding_rate_8h", name, line0)
    bad = np.flatnonzero(~np.isfinite(fr))
    if bad.size:
        raise fail(name, "funding_rate_8h is missing", row=line0 + int(bad[0]), field="funding_rate_8h")

    # blocks: asset in the scenario's order, 300-s bars before 60-s bars, each block contiguous
    order = sorted(set(SERIES_BAR_S), reverse=True)
    rank = np.array([assets.index(a) for a in asset]) * len(order) + np.searchsorted(-np.array(order), -bar_s)
    back = np.flatnonzero(np.diff(rank) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise fail(
            name,
            f"rows are not sorted by asset ({', '.join(assets)}) then bar_s ({', '.join(map(str, lengths))}): "
            f"{asset.iloc[i]} {bar_s[i]:g} s after {asset.iloc[i - 1]} {bar_s[i - 1]:g} s",
            row=line0 + i,
            field="asset",
        )
    start, ev0, ev1 = (_utc_ms(getattr(spec, k)) for k in ("lookback_start", "event_start", "event_end"))
    need = [(a, step_s, start if lookback else ev0) for a, step_s, lookback in declared]
    bounds = np.r_[0, np.flatnonzero(np.diff(rank)) + 1, len(rank)]
    blocks = {(asset.iloc[b], int(bar_s[b])): (b, e) for b, e in zip(bounds[:-1], bounds[1:]) if e > b}
    for a, step_s, first in need:
        if (a, step_s) not in blocks:
            raise fail(
                name,
                f"no {step_s}-s bars for {a}: the series must cover {iso_ms(first)} to {iso_ms(ev1)}",
                field="asset",
            )
        b, e = blocks[(a, step_s)]
        tb = t[b:e]
        back = np.flatnonzero(np.diff(tb) <= 0)
        if back.size:
            i = b + int(back[0]) + 1
            what = "duplicated" if t[i] == t[i - 1] else f"earlier than {iso_ms(t[i - 1])} on row {line0 + i - 1}"
            raise fail(
                name,
                f"{a} {step_s}-s bar time_ms {iso_ms(t[i])} is {what}: bars must be sorted by time",
                row=line0 + i,
                field="time_ms",
            )
        check_regular_bars(tb, step_s * 1000, name, line0 + b, column="time_ms")
        last = ev1 - step_s * 1000
        if tb[0] > first or tb[-1] < last:
            row = line0 + (b if tb[0] > first else e - 1)
            raise fail(
                name,
                f"{a} {step_s}-s bars run {iso_ms(tb[0])} to {iso_ms(tb[-1])}: they do not cover the "
                f"window {iso_ms(first)} to {iso_ms(ev1)} (last bar opening {iso_ms(last)})",
                row=row,
                field="time_ms",
            )
    wanted = {(a, step_s) for a, step_s, _lb in declared}
    for (a, step_s), (b, _e) in blocks.items():
        if step_s == 60 and a not in spec.minute_assets:
            raise fail(
                name, f"60-s bars for {a}, which series.minute_assets does not list", row=line0 + b, field="bar_s"
            )
        if (a, step_s) not in wanted:
            raise fail(
                name,
                f"{step_s}-s bars for {a}, which the [series] table does not declare (bar_s, event_bar_s)",
                row=line0 + b,
                field="bar_s",
            )
    out = pd.DataFrame(
        {
            "asset": asset.to_numpy(dtype=object),
            "bar_s": bar_s.astype(np.int64),
            "time_ms": t,
            **px,
            "volume": vol,
            "oi_usd": oi,
            "funding_rate_8h": fr,
        }
    )
    out.attrs["source"] = name
    return out


# ---------------------------------------------------------------------------------- loading
def _parse_date(d: str) -> int:
    try:
        dt = datetime.fromisoformat(str(d))
    except ValueError:
        raise ValueError(f"{d!r} is not an ISO date") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


def _one_line(err: ValidationError, where: str) -> InputError:
    return from_validation_error(err, where)


def _read_toml(text: str, where: str) -> dict:
    from .errors import reject_non_finite

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{where}: not valid TOML: {e}") from None
    reject_non_finite(doc, where)
    return doc


def bundled_text(name: str) -> str:
    return resources.files("liqcascade.scenarios").joinpath(f"{name}.toml").read_text("utf-8")


def load_parameters(path: str | Path | None = None) -> ModelParameters:
    """The global model parameters (the bundled file, or ``path``)."""
    where = str(path) if path else "model-parameters.toml"
    try:
        text = Path(path).read_text("utf-8") if path else bundled_text("model-parameters")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{where}: cannot read: {e}", field="parameters") from None
    try:
        return ModelParameters.model_validate(_read_toml(text, where))
    except ValidationError as e:
        raise _one_line(e, where) from None


def list_scenarios() -> list[tuple[str, str]]:
    """(name, title) of the bundled scenarios."""
    out = []
    for name in BUNDLED:
        doc = tomllib.loads(bundled_text(name))
        out.append((name, doc.get("title", "")))
    return out


def load_scenario(name_or_path: str | Path = DEFAULT, *, parameters: ModelParameters | None = None) -> Scenario:
    """A bundled scenario by name, or a TOML file by path, validated; its effective parameters
    are the global ones with the scenario's ``[overrides]`` applied."""
    key = str(name_or_path)
    if key in BUNDLED:
        text, where = bundled_text(key), f"{key}.toml"
    else:
        p = Path(key)
        if not p.exists():
            names = ", ".join(BUNDLED)
            raise InputError(f"no scenario named {key!r} and no such file (bundled: {names})", field="scenario")
        try:
            text = p.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"{p}: cannot read: {e}") from None
        where = str(p)
    try:
        spec = ScenarioFile.model_validate(_read_toml(text, where))
    except ValidationError as e:
        raise _one_line(e, where) from None
    params = parameters or load_parameters()
    overridden = []
    if spec.overrides:
        merged = params.model_dump()
        for section, values in spec.overrides.items():
            if section not in merged:
                raise InputError(
                    f"{where}: overrides.{section}: unknown parameter section", field=f"overrides.{section}"
                )
            for k, v in values.items():
                if k not in merged[section]:
                    raise InputError(
                        f"{where}: overrides.{section}.{k}: unknown parameter", field=f"overrides.{section}.{k}"
                    )
                merged[section][k] = v
                overridden.append(f"{section}.{k}")
        try:
            params = ModelParameters.model_validate(merged)
        except ValidationError as e:
            raise _one_line(e, f"{where} [overrides]") from None
    # every market needs its venue's tier table for the asset
    from .venues import get_venue

    for i, m in enumerate(spec.markets):
        try:
            get_venue(m.venue).tier_table(f"{m.asset}/USDT:USDT")
        except InputError:
            raise InputError(
                f"{where}: markets[{i}]: {m.venue} has no tier table for {m.asset}", field=f"markets[{i}].asset"
            ) from None
    base = resources.files("liqcascade.scenarios") if key in BUNDLED else Path(key).parent
    return Scenario(spec, params, overridden, where, text, base=base)


# ---------------------------------------------------------------------------------- building
def build_population(
    scenario: Scenario,
    *,
    n_positions: int | None = None,
    seed: int = 0,
    bars=None,
    from_history: bool = True,
    timed: bool = True,
):
    """Synthesize the positions behind the scenario's open interest.

    From the market's history (:func:`~liqcascade.population_history.synthesize_from_history`:
    positions open where open interest rose, at those bars' prices; positions opening
    (``open_s``) and closing (``close_s``) during the run from its rises and falls) when ``bars``
    is given (per asset, 5-minute bars with open interest covering the look-back and the run) or
    the scenario has a market series (its 5-minute rows; ``from_history=False`` skips it);
    otherwise from the scenario's stated paths (:func:`~liqcascade.population.synthesize`).
    ``timed=False``: the positions as they stand at the start only, none of the openings and
    closings the history shows during the run (a free run knows nothing of the event's future:
    the scenario's flows stand for them).  A
    count that cannot fit in memory is refused first (:func:`liqcascade.resources.require_population`).
    """
    from .resources import require_population

    require_population(scenario, n_positions)
    spec = scenario.spec
    taken = {}
    for w in spec.large_positions:
        key = (w.venue, w.asset, w.side)
        taken[key] = taken.get(key, 0.0) + w.notional_usd
    markets = []
    for m in spec.markets:
        longs = m.open_interest_usd * m.long_share - taken.get((m.venue, m.asset, "long"), 0.0)
        shorts = m.open_interest_usd * (1 - m.long_share) - taken.get((m.venue, m.asset, "short"), 0.0)
        if longs < 0 or shorts < 0:
            raise InputError(
                f"large positions exceed {m.venue} {m.asset}'s open interest on one side", field="large_positions"
            )
        markets.append(MarketSpec(m.venue, m.asset, longs + shorts, longs / (longs + shorts)))
    histories = {}
    for a, st in spec.assets.items():
        pts = [(_parse_date(d), p) for d, p in st.path]
        if pts[-1][0] < scenario.start_ms:
            pts.append((scenario.start_ms, st.start_price))
        histories[a] = pts
    if bars is None and from_history:
        series = scenario.series()
        if series is not None:
            base = spec.series.base_bar_s
            bars = {
                a: series[(series["asset"] == a) & (series["bar_s"] == base(a))].reset_index(drop=True)
                for a in spec.assets
            }
    if bars is not None:
        from .population_history import synthesize_from_history

        end_ms = scenario.start_ms + int(round(scenario.spec.horizon_hours * 3_600_000)) if timed else scenario.start_ms
        pop = synthesize_from_history(
            markets,
            bars,
            start_ms=scenario.start_ms,
            end_ms=end_ms,
            params=scenario.params.population,
            n_positions=n_positions,
            seed=seed,
        )
    else:
        pop = synthesize(
            markets,
            histories,
            now_ms=scenario.start_ms,
            params=scenario.params.population,
            n_positions=n_positions,
            seed=seed,
        )
    for w in spec.large_positions:
        pop = pop.with_position(
            venue=w.venue,
            asset=w.asset,
            side=1 if w.side == "long" else -1,
            size=w.notional_usd / w.entry,
            entry=w.entry,
            leverage=w.leverage,
            entry_time=scenario.start_ms,
        )
    return pop


@functools.lru_cache(maxsize=4)
def measured_baseline(name: str):
    """The factor GARCH measured in ``scenarios/measured/<name>`` (read once per process)."""
    from .analytics.baseline import load_measured

    path = Path(__file__).resolve().parent / "scenarios" / "measured" / name
    if "/" in name or "\\" in name or not path.is_file():
        raise InputError(f"no measured file {name!r} in scenarios/measured/", field="baseline.measured")
    return load_measured(path)


def baseline_flow(fit, assets, liquidity, level: str = "sample", vol_scale=None, books: str = "fresh"):
    """The :class:`~liqcascade.engine.BaselineFlow` of ``assets`` that ``fit`` covers: the
    leader's own shocks and the others' residuals (:func:`~liqcascade.analytics.baseline.simulate_baseline`
    with ``factors=True``), each turned into the USD that moves the asset's books so far:
    ``books="fresh"`` the books at full depth, ``"makers"`` the perpetuals' books at the depth
    multiplier the makers' volatility law holds on the asset's whole move (its own shocks plus,
    for an asset other than the leader, its measured beta times the leader's), the one the
    step's flow meets (the previous step's)."""
    from .analytics.baseline import simulate_baseline
    from .engine import BaselineFlow

    if books not in ("fresh", "makers"):
        raise InputError(f"must be 'fresh' or 'makers', got {books!r}", field="baseline.books")
    names = tuple(a for a in assets if a in fit.assets)

    def draw(n_steps: int, dt: float, seed: int) -> np.ndarray:
        return simulate_baseline(
            fit, n_steps, dt_s=dt, seed=[seed, 0xBA5E], assets=names, level=level, factors=True, vol_scale=vol_scale
        )

    if books == "fresh":
        return BaselineFlow(names, draw, lambda a, u, r_all, dt: liquidity.move_usd(a, u))

    def move(asset: str, u: np.ndarray, r_all: np.ndarray, dt: float) -> np.ndarray:
        whole = _whole_move(fit, names, asset, r_all)
        m = liquidity.maker_multiplier(asset, whole, dt)
        met = np.concatenate(([1.0], m[:-1]))  # a step's flow meets the previous step's books
        return liquidity.move_usd(asset, u, perp_multiplier=met)

    return BaselineFlow(names, draw, move)


def _whole_move(fit, names, asset: str, r_all: np.ndarray) -> np.ndarray:
    """An asset's log return per step in the baseline's market: its own draw plus, for an asset
    that follows a leader, the measured beta times the leader's (what the contagion channel adds)."""
    i = names.index(asset)
    lead, beta = fit.leader, float(fit[asset].factor_beta)
    if lead != asset and lead in names and beta:
        return r_all[:, i] + beta * r_all[:, names.index(lead)]
    return r_all[:, i]


def calm_sigma_by_asset(params: ModelParameters, assets) -> dict[str, float]:
    """Per asset, the calm per-second volatility its market makers measure against: with
    ``calm_sigma_per_asset = "baseline"``, ``calm_sigma`` (the leader's, measured) times the
    asset's baseline 5-minute volatility over the leader's; otherwise none (one for all)."""
    mm = params.market_maker
    if mm.calm_sigma_per_asset == "global":
        return {}
    if not params.baseline.measured:
        raise InputError("calm_sigma_per_asset = baseline needs a measured baseline", field="baseline.measured")
    fit = measured_baseline(params.baseline.measured)
    lead = fit[fit.leader].sample_vol_5m  # fraction per 5 min, as each asset's below
    return {a: mm.calm_sigma * fit[a].sample_vol_5m / lead for a in assets if a in fit.assets}


def build_engine_inputs(scenario: Scenario, population):
    """The engine's positions, liquidity, prices and flows for a scenario and a population."""
    from .engine import (
        DepthProfile,
        Flows,
        Liquidity,
        MarketMakerResponse,
        Positions,
        PriceConfig,
        contagion,
        dip_buyers,
        etf_redemptions,
        long_term_holders,
        macro_shock,
        panic_sellers,
        programme,
        treasury_company,
    )
    from .population import MODE_CROSS

    spec, params = scenario.spec, scenario.params
    # a cross position's collateral is its account's wallet (one cross position per account here)
    margin = population.margin.copy()
    cross = population.mode == MODE_CROSS
    margin[cross] = population.wallet[population.account[cross]]
    positions = Positions.from_arrays(
        account=population.account,
        venue=population.venue,
        asset=population.asset,
        side=population.side,
        size=population.size,
        entry=population.entry,
        margin=margin,
        leverage=population.leverage,
        mode=population.mode,
        venues=population.venues,
        assets=population.assets,
        pending=population.pending,
        open_s=getattr(population, "open_s", None),
        close_s=getattr(population, "close_s", None),
    )
    liquidity = Liquidity(
        profiles={(m.venue, m.asset): DepthProfile.from_depth_1pct(m.depth_1pct_usd, m.kappa) for m in spec.markets},
        response=MarketMakerResponse(
            **params.market_maker.model_dump(exclude={"calm_sigma_per_asset"}),
            calm_sigma_by_asset=calm_sigma_by_asset(params, spec.assets),
        ),
        spot={
            a: DepthProfile.from_depth_1pct(s.spot_depth_1pct_usd, s.spot_kappa)
            for a, s in spec.assets.items()
            if s.spot_depth_1pct_usd
        },
        touch_u=params.book.touch_u,
    )
    prices = PriceConfig(
        initial={a: s.start_price for a, s in spec.assets.items()},
        arbitrage_rate=params.prices.arbitrage_rate,
        permanent_impact=params.prices.permanent_impact,
        resilience_half_life_s=params.prices.resilience_half_life_s,
        flow_permanent_impact=params.prices.flow_permanent_impact,
        book_memory=params.prices.books == "memory",
    )
    n_steps, dt = scenario.n_steps, spec.step_seconds
    oi = {a: sum(m.open_interest_usd for m in spec.markets if m.asset == a) for a in spec.assets}
    noise = {a: params.flows.noise_per_oi * oi[a] * dt**0.5 for a in spec.assets if params.flows.noise_per_oi > 0}
    flows = Flows(fear_window_s=params.flows.fear_window_s, fear_scale=params.flows.fear_scale, noise_usd=noise)
    co = params.cohorts
    lead = params.contagion.leader
    fit = measured_baseline(params.baseline.measured) if params.baseline.measured else None
    if params.contagion.law == "measured_beta" and fit is None:
        raise InputError("contagion law measured_beta needs a measured baseline", field="baseline.measured")
    if lead in spec.assets:
        for a in spec.assets:
            if a == lead:
                continue
            if params.contagion.law == "measured_beta":
                if a in fit.assets:
                    flows.contagion.append(
                        contagion(
                            a,
                            lead,
                            fit[a].factor_beta,
                            liquidity.usd_per_unit_move(a),
                            on_current_books=params.contagion.books == "current",
                        )
                    )
            elif params.contagion.rate_per_oi > 0:
                flows.contagion.append(contagion(a, lead, params.contagion.beta, params.contagion.rate_per_oi * oi[a]))
    if fit is not None:
        scale = None
        if params.baseline.event_level == "previous_day":
            from .analytics.baseline import event_vol_scale

            series = scenario.series()
            scale = None if series is None else event_vol_scale(fit, series, scenario.start_ms)
        flows = dataclasses.replace(
            flows,
            baseline=baseline_flow(
                fit, spec.assets, liquidity, params.baseline.level, scale, books=params.baseline.books
            ),
        )
    if co.dip_per_drawdown > 0:  # a global behaviour: every asset has its bargain hunters
        for a in spec.assets:
            flows.cohorts.append(
                dip_buyers(a, co.dip_cash_per_oi * oi[a], co.dip_drawdown_floor, co.dip_per_drawdown * oi[a])
            )
    for f in spec.flows:
        if f.kind in ("sell_programme", "buy_programme"):
            days = (f.end_hour - f.start_hour) / 24.0
            sign = -1.0 if f.kind == "sell_programme" else 1.0
            flows.programmes.append(programme(f.asset, sign * f.usd / days, f.start_hour * 3600, f.end_hour * 3600))
        elif f.kind == "etf_redemptions":
            days = (f.end_hour - f.start_hour) / 24.0
            flows.programmes.append(etf_redemptions(f.asset, f.usd / days, f.start_hour * 3600, f.end_hour * 3600))
        elif f.kind == "macro_shock":
            t = np.arange(n_steps + 1) * dt / 3600.0
            frac = np.clip((t - f.start_hour) / (f.end_hour - f.start_hour), 0.0, 1.0)
            path = 100.0 * (1.0 + f.equity_return) ** frac
            flows.macro.append(macro_shock(f.asset, path, f.beta, f.usd_per_unit_return))
        elif f.kind == "panic_sellers":
            flows.cohorts.append(
                panic_sellers(
                    f.asset, f.holdings, co.panic_per_drawdown * oi[f.asset], co.panic_at_max_fear * oi[f.asset]
                )
            )
        elif f.kind == "long_term_holders":
            flows.cohorts.append(
                long_term_holders(f.asset, f.holdings, co.lth_drawdown_floor, co.lth_per_drawdown * oi[f.asset])
            )
        elif f.kind == "flow_schedule":
            w = f.window_hours * 3600.0
            for i, usd in enumerate(f.usd):
                t0 = f.start_hour * 3600.0 + i * w
                flows.programmes.append(programme(f.asset, usd / w * 86_400.0, t0, t0 + w))
        elif f.kind == "treasury_company":
            flows.cohorts.append(treasury_company(f.asset, f.holdings, f.cost_basis, f.threshold, f.usd_per_s))
    return positions, liquidity, prices, flows


def run_scenario(scenario: Scenario | str = DEFAULT, *, n_positions: int | None = None, seed: int = 0, progress=None):
    """Synthesize the population and run the engine over the scenario's horizon, free-running:
    the positions as they stand at the start (no openings or closings from the event's history),
    the scenario's flows and the measured baseline.

    ``progress``: optional callable ``progress(stage: str)`` told when each stage starts.
    Returns ``(run, population)``.
    """
    from .engine import simulate

    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    tell = progress or (lambda stage: None)
    tell("population")
    pop = build_population(scenario, n_positions=n_positions, seed=seed, timed=False)
    tell("inputs")
    positions, liquidity, prices, flows = build_engine_inputs(scenario, pop)
    tell("engine")
    run = simulate(
        positions,
        liquidity,
        prices,
        flows,
        n_steps=scenario.n_steps,
        dt=scenario.spec.step_seconds,
        insurance_fund=scenario.spec.insurance_fund_usd,
        adl_rule=scenario.params.liquidation.adl_rule,
        seed=seed,
        vault_unwind_half_life_s=scenario.params.liquidation.vault_unwind_half_life_s,
    )
    return run, pop
