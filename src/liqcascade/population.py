"""Population synthesis: the leveraged positions behind a market's open interest.

Given, per venue and asset, the open interest (USD) and its long share, and a price history for
each asset, :func:`synthesize` draws individual positions (struct-of-arrays, real counts):

- **notional** per position from a heavy-tailed (Pareto) account-size law with a floor, drawn
  per leverage component: the core (2-10x) holds most of the notional in fewer, larger
  positions; the retail tail (20-100x) is small in notional and large in count;
- **leverage** from a mixture of log-uniform components, capped by the venue's tier maximum at
  the position's notional;
- **entry** at a price actually traded during the look-back: the entry time is drawn with an
  exponential weight towards the present (``entry_halflife_days``) and the entry price is the
  history's price then;
- **survivorship**: a position whose liquidation price the path has already crossed since its
  entry — or comes within two standard deviations of the moves the (smooth) stated path hides,
  ``2 * path_vol * sqrt(age in years)`` — would have been liquidated before the scenario starts;
  it is redrawn (up to a few rounds, then dropped), so the book the scenario starts from is one
  that could exist;
- **margin mode**: a share are isolated; the rest are cross, and a share of cross accounts hold
  positions in several assets on the same venue (one wallet);
- notionals are finally rescaled so the open interest per venue, asset and side is met exactly;
- **counts**: by default the real count (open interest / mean notional per component, before
  survivorship).  A reduced count ``n_positions`` is about the count *after* survivorship: a
  pilot draw at the naive scale measures each group's surviving fraction and the draw is made at
  the scale it implies; ``meta["implied_count"]`` (the full-scale count after survivorship) over
  the count drawn is the factor that scales counts to full scale.

The population from the market's history (open-interest rises, the path's liquidations and the
falls' closings) is :func:`liqcascade.population_history.synthesize_from_history`.

Units: sizes in base units, prices and money in USD, leverage as a multiple, shares as fractions,
times in days for parameters and epoch milliseconds in histories.  Everything is seeded: the
same inputs and seed give the same population bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .errors import InputError
from .venues import get_venue

MODE_ISOLATED = 0
MODE_CROSS = 1


class LeverageComponent(BaseModel):
    """One component of the leverage mixture: log-uniform in ``[low, high]`` (multiples)."""

    model_config = ConfigDict(extra="forbid")
    low: float = Field(gt=1.0, description="lowest leverage, x")
    high: float = Field(gt=1.0, description="highest leverage, x")
    notional_share: float = Field(gt=0.0, le=1.0, description="share of open interest (fraction)")
    mean_notional_usd: float = Field(gt=0.0, description="mean position notional in this component, USD")

    @model_validator(mode="after")
    def _order(self):
        if self.high < self.low:
            raise ValueError("high must be >= low")
        return self


class OpenerParams(BaseModel):
    """Positions opened *during* the run: resting entry orders below the start price that fill
    as the market falls — dip buyers going long and momentum traders shorting the breakdown —
    with the same leverage mixture and size law as the standing population.  They give a crash
    its second population of victims: longs that caught the knife, and shorts opened near the
    low that the rebound squeezes."""

    model_config = ConfigDict(extra="forbid")
    share_of_oi: float = Field(
        0.0, ge=0.0, le=1.0, description="notional of the entry orders per market, fraction of its open interest"
    )
    short_share: float = Field(0.5, ge=0.0, le=1.0, description="fraction of that notional that is short")
    max_drawdown: float = Field(
        0.2,
        gt=0.0,
        lt=1.0,
        description="entry prices spread from the start price down to "
        "start * (1 - max_drawdown) (fraction), with a density in log price "
        "rising linearly from zero at the start price",
    )
    # Panic shorts: a second, deeper ladder of entry orders.  The reports' crashes end with
    # traders shorting into the fall at 20-100x ("at 20x-100x a 2 %-5 % move is enough"); opened
    # near the low, the first rebound squeezes them.  Their orders rest from start * (1 -
    # panic_min_drawdown) down to start * (1 - panic_max_drawdown), uniform in log price, with the
    # leverage range and size law of the mixture's highest-leverage component (the retail tail).
    # Off (0) by default.
    panic_share_of_oi: float = Field(
        0.0, ge=0.0, le=1.0, description="notional of the panic ladder per market, fraction of its open interest"
    )
    panic_short_share: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="fraction of the panic ladder's notional that is short "
        "(the rest: high-leverage dip buyers at the same levels)",
    )
    panic_min_drawdown: float = Field(
        0.05, ge=0.0, lt=1.0, description="shallowest trigger of the panic ladder, fraction below the start"
    )
    panic_max_drawdown: float = Field(
        0.2, gt=0.0, lt=1.0, description="deepest trigger of the panic ladder, fraction below the start"
    )

    @model_validator(mode="after")
    def _panic_range(self):
        if self.panic_max_drawdown <= self.panic_min_drawdown:
            raise ValueError("panic_max_drawdown must exceed panic_min_drawdown")
        return self


class PopulationParams(BaseModel):
    """Behavioural parameters of the population (global, shared by every scenario)."""

    model_config = ConfigDict(extra="forbid")
    leverage_mix: list[LeverageComponent] = Field(
        default_factory=lambda: [
            LeverageComponent(low=1.5, high=2.0, notional_share=0.12, mean_notional_usd=150_000),
            LeverageComponent(low=2.0, high=10.0, notional_share=0.68, mean_notional_usd=40_000),
            LeverageComponent(low=10.0, high=20.0, notional_share=0.12, mean_notional_usd=8_000),
            LeverageComponent(low=20.0, high=100.0, notional_share=0.08, mean_notional_usd=1_200),
        ]
    )
    pareto_alpha: float = Field(1.6, gt=1.0, description="tail index of position notionals (>1)")
    min_notional_usd: float = Field(20.0, gt=0.0, description="smallest position, USD")
    max_notional_share: float = Field(
        0.05, gt=0.0, le=1.0, description="cap of one position, fraction of its market's OI"
    )
    entry_lookback_days: float = Field(21.0, gt=0.0, description="how far back entries reach, days")
    entry_halflife_days: float = Field(5.0, gt=0.0, description="half-life of entry-time weights, days")
    path_vol: float = Field(
        0.4,
        ge=0.0,
        description="annualised volatility of the price between the stated path's points (fraction), for survivorship",
    )
    isolated_share: float = Field(0.55, ge=0.0, le=1.0, description="share of positions in isolated mode")
    multi_asset_share: float = Field(0.25, ge=0.0, le=1.0, description="share of cross accounts holding several assets")
    cross_extra_margin: float = Field(0.5, ge=0.0, description="cross wallet above initial margin, fraction of it")
    redraw_rounds: int = Field(6, ge=0, description="redraws of positions already liquidated by the path")
    openers: OpenerParams = Field(default_factory=OpenerParams)

    @model_validator(mode="after")
    def _shares(self):
        total = sum(c.notional_share for c in self.leverage_mix)
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"leverage_mix notional shares must sum to 1, got {total:.6g}")
        return self


@dataclass(frozen=True)
class MarketSpec:
    """Open interest of one venue and asset."""

    venue: str
    asset: str  # base currency, e.g. "BTC"
    open_interest_usd: float
    long_share: float = 0.5  # fraction of OI held long

    def __post_init__(self):
        if not (self.open_interest_usd > 0):
            raise InputError(f"open interest of {self.venue} {self.asset} must be positive", field="open_interest_usd")
        if not (0.0 <= self.long_share <= 1.0):
            raise InputError(f"long share of {self.venue} {self.asset} must be in [0, 1]", field="long_share")


@dataclass
class Population:
    """Positions as struct-of-arrays (one row per position).

    Columns: ``account`` (int64), ``venue`` / ``asset`` (int16 codes into :attr:`venues` /
    :attr:`assets`), ``side`` (+1/-1, int8), ``size`` (base units), ``entry`` (USD), ``margin``
    (USD: the isolated margin, or for cross positions the position's initial margin), ``mode``
    (0 isolated, 1 cross, int8), ``leverage`` (x), ``entry_time`` (epoch ms), ``open_s`` /
    ``close_s`` (float64 seconds after the start: opened / closed voluntarily at the market then;
    NaN: standing at the start / held).  Cross accounts'
    wallets are in :attr:`wallet` (USD, indexed by account; 0 for isolated-only accounts).
    """

    venues: list[str]
    assets: list[str]
    account: np.ndarray
    venue: np.ndarray
    asset: np.ndarray
    side: np.ndarray
    size: np.ndarray
    entry: np.ndarray
    margin: np.ndarray
    mode: np.ndarray
    leverage: np.ndarray
    entry_time: np.ndarray
    wallet: np.ndarray
    dropped: int = 0
    redrawn: int = 0
    meta: dict = field(default_factory=dict)
    #: bool per position: a position that opens during the run (None: every position is open at
    #: the start) -- at the market at ``open_s`` when that is finite, else a resting entry order
    #: that fills when the mark reaches ``entry``
    pending: np.ndarray | None = None
    #: float64 per position: seconds after the start (``meta["now_ms"]``) at which the position
    #: opens at the market; NaN for a position standing at the start or a resting entry order
    #: (None given: all NaN)
    open_s: np.ndarray | None = None
    #: float64 per position: seconds after the start at which the position is closed voluntarily
    #: at the market; NaN = held to the end (None given: all NaN)
    close_s: np.ndarray | None = None

    def __post_init__(self):
        n = len(self.size)
        for name in ("open_s", "close_s"):
            v = getattr(self, name)
            setattr(self, name, np.full(n, np.nan) if v is None else np.asarray(v, np.float64))
            if len(getattr(self, name)) != n:
                raise InputError(f"{name} has {len(getattr(self, name))} values for {n} positions", field=name)

    @property
    def is_pending(self) -> np.ndarray:
        return np.zeros(len(self.size), bool) if self.pending is None else self.pending

    def __len__(self) -> int:
        return len(self.size)

    @property
    def notional(self) -> np.ndarray:
        """Notional at entry, USD."""
        return self.size * self.entry

    @property
    def n_accounts(self) -> int:
        return len(self.wallet)

    def with_position(
        self, *, venue: str, asset: str, side: int, size: float, entry: float, leverage: float, entry_time: int
    ) -> "Population":
        """A copy with one more isolated position (its own account) appended; size in base
        units, entry in USD, margin = notional / leverage."""
        if venue not in self.venues or asset not in self.assets:
            raise InputError(f"no market {venue} {asset} in the population", field="venue")
        acct = self.n_accounts

        def add(arr, v, dtype):
            return np.concatenate([arr, np.array([v], dtype=dtype)])

        return Population(
            venues=self.venues,
            assets=self.assets,
            account=add(self.account, acct, np.int64),
            venue=add(self.venue, self.venues.index(venue), np.int16),
            asset=add(self.asset, self.assets.index(asset), np.int16),
            side=add(self.side, side, np.int8),
            size=add(self.size, size, np.float64),
            entry=add(self.entry, entry, np.float64),
            margin=add(self.margin, size * entry / leverage, np.float64),
            mode=add(self.mode, MODE_ISOLATED, np.int8),
            leverage=add(self.leverage, leverage, np.float64),
            entry_time=add(self.entry_time, entry_time, np.int64),
            wallet=np.concatenate([self.wallet, [0.0]]),
            dropped=self.dropped,
            redrawn=self.redrawn,
            meta=dict(self.meta),
            pending=None if self.pending is None else add(self.pending, False, bool),
            open_s=add(self.open_s, np.nan, np.float64),
            close_s=add(self.close_s, np.nan, np.float64),
        )

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "account": self.account,
                "venue": pd.Categorical.from_codes(self.venue, self.venues),
                "asset": pd.Categorical.from_codes(self.asset, self.assets),
                "side": self.side,
                "size": self.size,
                "entry": self.entry,
                "margin": self.margin,
                "mode": np.where(self.mode == MODE_CROSS, "cross", "isolated"),
                "leverage": self.leverage,
                "entry_time": self.entry_time,
                "pending": self.is_pending,
                "open_s": self.open_s,
                "close_s": self.close_s,
            }
        )


def _history_arrays(history: pd.DataFrame | Sequence, asset: str) -> tuple[np.ndarray, np.ndarray]:
    """(timestamps ms, prices USD) sorted; accepts a frame with ``timestamp`` and ``close`` (or
    ``price``) columns or a sequence of (timestamp ms, price) pairs."""
    if isinstance(history, pd.DataFrame):
        price_col = "close" if "close" in history.columns else "price"
        if "timestamp" not in history.columns or price_col not in history.columns:
            raise InputError(
                f"{asset} price history needs 'timestamp' and 'close' (or 'price') columns", field="history"
            )
        ts = history["timestamp"].to_numpy(np.int64)
        px = history[price_col].to_numpy(np.float64)
    else:
        arr = np.asarray(history, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise InputError(f"{asset} price path must be (timestamp_ms, price) pairs", field="history")
        ts, px = arr[:, 0].astype(np.int64), arr[:, 1]
    if len(ts) < 2:
        raise InputError(f"{asset} price history needs at least two points", field="history")
    if np.any(np.diff(ts) <= 0):
        raise InputError(f"{asset} price history timestamps must increase strictly", field="history")
    if not np.all(np.isfinite(px)) or np.any(px <= 0):
        raise InputError(f"{asset} price history has a non-positive or missing price", field="history")
    return ts, px


def _resample(
    ts: np.ndarray, px: np.ndarray, start_ms: int, end_ms: int, step_ms: int
) -> tuple[np.ndarray, np.ndarray]:
    grid = np.arange(start_ms, end_ms + 1, step_ms, dtype=np.int64)
    return grid, np.interp(grid, ts, px)


def _cap_leverage(lev, size, entry, table):
    """Leverage capped at the maximum of the tier each position (size in base units, entry USD)
    sits in."""
    k_tier = np.minimum(table.tier_index(table.measure(size, entry)), table.n_tiers - 1)
    return np.minimum(lev, table.max_leverage[k_tier])


def _pareto_scale(mean_usd: float, params: "PopulationParams") -> float:
    """Scale x_m (USD) of the Pareto notional law with mean ``mean_usd``: x_m * alpha/(alpha-1) =
    mean, at least the smallest position."""
    a_ = params.pareto_alpha
    return max(mean_usd * (a_ - 1) / a_, params.min_notional_usd)


def _fit_open_interest(size, entry, lev, oi, table, market, cap_entry=None):
    """Scale ``size`` (base units) so the notional sums to ``oi`` USD with no position beyond
    95 % of the table's largest tier; cap leverage at the tier each final size sits in.
    ``cap_entry``: the prices (USD) at which the tier cap is measured when they differ from the
    ones that value the open interest (a position's entry, where ``entry`` is the start price)."""
    at = entry if cap_entry is None else np.maximum(entry, cap_entry)
    per_unit = table.contract_size if table.basis == "contracts" else 1.0 / at
    cap_size = np.broadcast_to(0.95 * table.max_position() * per_unit, size.shape)
    # water-filling: the scale lam with sum_i min(lam*size_i, cap_i)*entry_i = oi, exactly
    clip_at = cap_size / size  # the scale at which each position reaches its cap
    order = np.argsort(clip_at)
    capped_usd = np.concatenate(([0.0], np.cumsum((cap_size * entry)[order])))  # first k capped
    free_usd = np.concatenate((np.cumsum((size * entry)[order][::-1])[::-1], [0.0]))  # the rest
    k = np.arange(len(size) + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = (oi - capped_usd) / free_usd
    lo = np.concatenate(([0.0], clip_at[order]))
    hi = np.concatenate((clip_at[order], [np.inf]))
    ok = (free_usd > 0) & (lam >= lo * (1 - 1e-12)) & (lam <= hi * (1 + 1e-12))
    if not ok.any():
        raise InputError(
            f"{market.venue} {market.asset}: {len(size)} positions cannot hold {oi:,.0f} USD "
            f"within the largest tier; raise the position count",
            field="positions",
        )
    lam_k = lam[np.flatnonzero(ok)[0]]
    size = np.minimum(size * lam_k, cap_size)
    return size, _cap_leverage(lev, size, entry, table)


def _accounts(cols: dict, n_assets: int, params: "PopulationParams", rng: np.random.Generator):
    """Shuffle the positions ``cols`` (dict of equal-length arrays with ``venue``, ``asset``,
    ``margin`` and ``pending``), draw their margin modes and group them into accounts: isolated
    positions are one account each; cross positions form accounts, a share holding another asset
    on the same venue (one wallet for all of them; positions opening during the run are not
    grouped).  Returns ``(cols shuffled, mode, account, wallet USD per account)``."""
    n_total = len(cols["size"])
    # shuffle so that accounts and modes are not aligned with the generation order
    perm = rng.permutation(n_total)
    cols = {k: v[perm] for k, v in cols.items()}

    # margin modes and accounts: isolated positions are one account each; cross positions form
    # accounts, some holding another asset on the same venue (one wallet for all of them)
    mode = np.where(rng.random(n_total) < params.isolated_share, MODE_ISOLATED, MODE_CROSS).astype(np.int8)
    account = np.empty(n_total, np.int64)
    iso = np.flatnonzero(mode == MODE_ISOLATED)
    account[iso] = np.arange(len(iso))
    next_acct = len(iso)
    cross = np.flatnonzero(mode == MODE_CROSS)
    multi = (rng.random(len(cross)) < params.multi_asset_share) & ~cols["pending"][cross]
    single = cross[~multi]
    account[single] = next_acct + np.arange(len(single))
    next_acct += len(single)
    # multi-asset accounts: within a venue, the r-th candidate of each asset joins account (venue, r),
    # so an account holds at most one position per asset, all on one venue under one wallet
    cand = cross[multi]
    if len(cand):
        v, a = cols["venue"][cand].astype(np.int64), cols["asset"][cand].astype(np.int64)
        order = np.lexsort((a, v))
        va = v[order] * n_assets + a[order]
        first = np.r_[0, np.flatnonzero(np.diff(va)) + 1]
        rank = np.arange(len(order)) - np.repeat(first, np.diff(np.r_[first, len(order)]))
        key = v[order] * (len(cand) + 1) + rank
        _, group = np.unique(key, return_inverse=True)
        account[cand[order]] = next_acct + group
        next_acct += int(group.max()) + 1
    wallet = np.zeros(next_acct)
    cross_mask = mode == MODE_CROSS
    np.add.at(wallet, account[cross_mask], cols["margin"][cross_mask] * (1 + params.cross_extra_margin))
    return cols, mode, account, wallet


def synthesize(
    markets: Sequence[MarketSpec],
    histories: Mapping[str, pd.DataFrame | Sequence],
    *,
    now_ms: int,
    params: PopulationParams | None = None,
    n_positions: int | None = None,
    seed: int = 0,
    symbol_of: Mapping[str, str] | None = None,
) -> Population:
    """Draw the positions behind ``markets``' open interest.

    Parameters
    ----------
    markets: open interest per venue and asset.
    histories: per asset, the traded prices before ``now_ms`` (see :func:`_history_arrays`).
    now_ms: the scenario's start, epoch ms; entries are drawn before it.
    n_positions: about how many positions to draw (after survivorship, entry orders included);
        default: the count implied by the components' mean notionals (real counts: millions for
        tens of billions of OI).  ``meta["implied_count"]`` is the real count the population
        stands for (survivors of the path at full scale, estimated per market, side and component
        from the draw's own survival, plus the entry orders), ``count_before_survivorship`` the
        candidates' real count.
    symbol_of: asset -> ccxt symbol for the tier tables (default ``ASSET/USDT:USDT``).
    """
    params = params or PopulationParams()
    rng = np.random.default_rng(seed)
    if not markets:
        raise InputError("no markets to populate", field="markets")
    venues = sorted({m.venue for m in markets})
    assets = sorted({m.asset for m in markets})
    for a in assets:
        if a not in histories:
            raise InputError(f"no price history for asset {a}", field="histories")
    comps = params.leverage_mix
    shares = np.array([c.notional_share for c in comps])
    means = np.array([c.mean_notional_usd for c in comps])
    total_oi = sum(m.open_interest_usd for m in markets)
    implied = float(np.sum(total_oi * shares / means))
    if n_positions is not None and n_positions < len(markets) * 2:
        raise InputError("n_positions must allow at least two positions per market", field="positions")

    # price paths on a 5-minute grid over the look-back, with suffix extremes for survivorship
    step_ms = 300_000
    start_ms = int(now_ms - params.entry_lookback_days * 86_400_000)
    paths = {}
    for a in assets:
        ts, px = _history_arrays(histories[a], a)
        if ts[0] > start_ms or ts[-1] < now_ms - step_ms:
            raise InputError(
                f"{a} price history covers {ts[0]}..{ts[-1]} ms, needs {start_ms}..{now_ms}", field="histories"
            )
        grid, gp = _resample(ts, px, start_ms, now_ms, step_ms)
        suffix_min = np.minimum.accumulate(gp[::-1])[::-1]
        suffix_max = np.maximum.accumulate(gp[::-1])[::-1]
        paths[a] = (grid, gp, suffix_min, suffix_max)
    n_grid = len(paths[assets[0]][0])
    age = (n_grid - 1 - np.arange(n_grid)) * step_ms / 86_400_000  # days before now
    # the stated path is smooth between its points; the real one was not: a position survived
    # only if its liquidation price also lies beyond two standard deviations of the moves the
    # path hides since its entry (annualised path_vol over the position's age)
    band = 2.0 * params.path_vol * np.sqrt(age / 365.0)
    w_time = 0.5 ** (age / params.entry_halflife_days)
    cdf_time = np.cumsum(w_time) / w_time.sum()

    def standing(scale_count: float, rng: np.random.Generator):
        """The positions standing at the start, drawn at ``scale_count`` times the real count
        per group (market, side, leverage component); also the full-scale count they stand for:
        per group, its real candidate count times the fraction of its candidates that survived
        the path (survivorship removes about two thirds of the retail tail)."""
        parts = {k: [] for k in ("venue", "asset", "side", "size", "entry", "margin", "leverage", "entry_time")}
        dropped = redrawn = 0
        full_count = 0.0
        for m in markets:
            vi, ai = venues.index(m.venue), assets.index(m.asset)
            rules = get_venue(m.venue)
            table = rules.tier_table((symbol_of or {}).get(m.asset, f"{m.asset}/USDT:USDT"))
            grid, gp, smin, smax = paths[m.asset]
            cap_market = params.max_notional_share * m.open_interest_usd
            for side, side_oi in (
                (1, m.open_interest_usd * m.long_share),
                (-1, m.open_interest_usd * (1 - m.long_share)),
            ):
                if side_oi <= 0:
                    continue
                for c, share in zip(comps, shares):
                    oi = side_oi * share
                    n = max(1, int(round(oi / c.mean_notional_usd * scale_count)))
                    # enough positions that none must outgrow the venue's largest tier (heavy tails:
                    # room for the biggest to hold several times the mean)
                    # (contracts: valued at the path's lowest price, where a contract is worth least)
                    max_usd = table.max_position() * (
                        table.contract_size * gp.min() if table.basis == "contracts" else 1.0
                    )
                    n_min = int(np.ceil(4.0 * oi / (0.95 * max_usd)))
                    n = max(n, n_min)
                    slots = n  # candidates drawn for the group (a redraw replaces one in its slot)
                    # Pareto notional with the component's mean; fewer positions than the real count
                    # carry proportionally more notional each
                    a_ = params.pareto_alpha
                    xm = _pareto_scale(c.mean_notional_usd / scale_count, params)

                    def draw(k):
                        notional = np.minimum(xm * (1 + rng.pareto(a_, k)), max(cap_market, xm))
                        lev = np.exp(rng.uniform(np.log(c.low), np.log(c.high), k))
                        ti = np.minimum(np.searchsorted(cdf_time, rng.random(k)), n_grid - 1)
                        entry = gp[ti]
                        size = notional / entry
                        lev = _cap_leverage(lev, size, entry, table)
                        margin = notional / lev
                        lp = rules.liquidation_price(np.full(k, side, np.int8), size, entry, margin, table)
                        crossed = (smin[ti] * (1 - band[ti]) <= lp) if side > 0 else (smax[ti] * (1 + band[ti]) >= lp)
                        return size, entry, margin, lev, grid[ti], crossed

                    size, entry, margin, lev, t_ms, crossed = draw(n)
                    for _ in range(params.redraw_rounds):
                        idx = np.flatnonzero(crossed)
                        if len(idx) == 0:
                            break
                        redrawn += len(idx)
                        s2, e2, m2, l2, t2, c2 = draw(len(idx))
                        size[idx], entry[idx], margin[idx], lev[idx], t_ms[idx], crossed[idx] = s2, e2, m2, l2, t2, c2
                    keep = ~crossed
                    dropped += int(np.count_nonzero(crossed))
                    size, entry, margin, lev, t_ms = size[keep], entry[keep], margin[keep], lev[keep], t_ms[keep]
                    # too few survivors to hold the component's OI under the largest tier: draw more
                    for _ in range(50):
                        if len(size) >= n_min:
                            break
                        s2, e2, m2, l2, t2, c2 = draw(4 * n_min)
                        slots += 4 * n_min
                        ok = ~c2
                        size, entry, margin, lev, t_ms = (
                            np.concatenate([a, b[ok]])
                            for a, b in ((size, s2), (entry, e2), (margin, m2), (lev, l2), (t_ms, t2))
                        )
                    if len(size) == 0:
                        continue
                    # meet the component's open interest exactly: scale sizes (leverage kept), cap
                    # each at the venue's largest tier, de-lever to the tier the final size sits in
                    # (a lower leverage only moves the liquidation price away); a larger size can
                    # reach a tier with a higher rate, so check survivorship again and repeat: first
                    # by halving the leverage of the positions the path would have liquidated, then
                    # (with few positions) by dropping them
                    for rnd in range(12):
                        size, lev = _fit_open_interest(size, entry, lev, oi, table, m)
                        margin = size * entry / lev
                        lp = rules.liquidation_price(np.full(len(size), side, np.int8), size, entry, margin, table)
                        ti = np.searchsorted(grid, t_ms)
                        crossed = (smin[ti] * (1 - band[ti]) <= lp) if side > 0 else (smax[ti] * (1 + band[ti]) >= lp)
                        if not crossed.any():
                            break
                        if rnd < 6:  # a position the path would have liquidated at its grown size: de-lever it
                            lev[crossed] = np.maximum(0.5 * lev[crossed], 1.0)
                            continue
                        dropped += int(crossed.sum())
                        keep = ~crossed
                        size, entry, lev, t_ms = size[keep], entry[keep], lev[keep], t_ms[keep]
                    if crossed.any():
                        raise InputError(
                            f"{m.venue} {m.asset}: cannot place {oi:,.0f} USD of open interest on "
                            f"positions the path has not liquidated",
                            field="positions",
                        )
                    k = len(size)
                    full_count += oi / c.mean_notional_usd * k / slots
                    parts["venue"].append(np.full(k, vi, np.int16))
                    parts["asset"].append(np.full(k, ai, np.int16))
                    parts["side"].append(np.full(k, side, np.int8))
                    for key, val in (
                        ("size", size),
                        ("entry", entry),
                        ("margin", margin),
                        ("leverage", lev),
                        ("entry_time", t_ms),
                    ):
                        parts[key].append(val)
        return parts, dropped, redrawn, full_count

    op = params.openers
    tail = int(np.argmax([c.high for c in comps]))  # the retail tail: the panic ladder's leverage and sizes
    # the entry orders' real count (they open during the run: no survivorship)
    opener_count = total_oi * (
        op.share_of_oi * float(np.sum(shares / means)) + op.panic_share_of_oi / comps[tail].mean_notional_usd
    )
    if n_positions is None:
        scale_count = 1.0
    else:
        # a reduced draw holds about n_positions after survivorship: a pilot draw at the naive
        # scale measures the survivors' full-scale count, and the draw itself is made at the
        # scale that count implies
        _, _, _, full_pilot = standing(n_positions / (implied + opener_count), np.random.default_rng([seed, 1]))
        scale_count = n_positions / (full_pilot + opener_count)
    parts, dropped, redrawn, full_count = standing(scale_count, rng)
    n_standing = sum(len(x) for x in parts["size"])
    if op.share_of_oi > 0 or op.panic_share_of_oi > 0:
        for m in markets:
            vi, ai = venues.index(m.venue), assets.index(m.asset)
            rules = get_venue(m.venue)
            table = rules.tier_table((symbol_of or {}).get(m.asset, f"{m.asset}/USDT:USDT"))
            p_start = paths[m.asset][1][-1]
            per_unit_cap = 0.95 * table.max_position() * (table.contract_size if table.basis == "contracts" else 1.0)

            def add_orders(side, c, oi, draw_entry):
                """Entry orders of one side and leverage component holding ``oi`` USD, triggers
                from ``draw_entry(n)``."""
                n = max(1, int(round(oi / c.mean_notional_usd * scale_count)))
                a_ = params.pareto_alpha
                xm = _pareto_scale(c.mean_notional_usd / scale_count, params)
                notional = np.minimum(xm * (1 + rng.pareto(a_, n)), params.max_notional_share * m.open_interest_usd)
                notional *= oi / notional.sum()
                entry = draw_entry(n)
                size = notional / entry
                cap = per_unit_cap if table.basis == "contracts" else per_unit_cap / entry
                size = np.minimum(size, cap)
                lev = _cap_leverage(np.exp(rng.uniform(np.log(c.low), np.log(c.high), n)), size, entry, table)
                parts["venue"].append(np.full(n, vi, np.int16))
                parts["asset"].append(np.full(n, ai, np.int16))
                parts["side"].append(np.full(n, side, np.int8))
                for key, val in (
                    ("size", size),
                    ("entry", entry),
                    ("margin", size * entry / lev),
                    ("leverage", lev),
                    ("entry_time", np.full(n, int(now_ms), np.int64)),
                ):
                    parts[key].append(val)

            # log-distance below the start with a density rising linearly from zero at the start
            # price (sqrt of a uniform): no order rests at the touch, where the ordinary moves
            # before the start would already have filled it
            def ladder(n):
                return p_start * np.exp(np.log1p(-op.max_drawdown) * np.sqrt(rng.random(n)))

            def panic_ladder(n):  # uniform in log price between the panic ladder's two depths
                lo, hi = np.log1p(-op.panic_min_drawdown), np.log1p(-op.panic_max_drawdown)
                return p_start * np.exp(lo + (hi - lo) * rng.random(n))

            if op.share_of_oi > 0:
                for side, side_share in ((1, 1.0 - op.short_share), (-1, op.short_share)):
                    for c, share in zip(comps, shares):
                        oi = m.open_interest_usd * op.share_of_oi * side_share * share
                        if oi > 0:
                            add_orders(side, c, oi, ladder)
            if op.panic_share_of_oi > 0:
                for side, side_share in ((1, 1.0 - op.panic_short_share), (-1, op.panic_short_share)):
                    oi = m.open_interest_usd * op.panic_share_of_oi * side_share
                    if oi > 0:
                        add_orders(side, comps[tail], oi, panic_ladder)
    cols = {k: np.concatenate(v) for k, v in parts.items()}
    n_total = len(cols["size"])
    cols["pending"] = np.arange(n_total) >= n_standing
    return _canonical_population(
        venues,
        assets,
        cols,
        params,
        rng,
        dropped=dropped,
        redrawn=redrawn,
        # implied_count: the real count this population stands for (survivors of the path at full
        # scale, plus the entry orders); a reduced draw's population_scale is implied_count / len
        meta=dict(
            seed=seed,
            now_ms=int(now_ms),
            n_requested=n_positions,
            implied_count=full_count + opener_count,
            count_before_survivorship=implied + opener_count,
        ),
    )


def _canonical_population(
    venues: list[str],
    assets: list[str],
    cols: dict,
    params: "PopulationParams",
    rng: np.random.Generator,
    *,
    dropped: int,
    redrawn: int,
    meta: dict,
) -> Population:
    """The :class:`Population` of the drawn positions ``cols`` (dict of equal-length arrays,
    as :func:`_accounts` takes them; ``open_s`` and ``close_s`` optional, else all NaN), for
    :func:`synthesize` and :func:`~liqcascade.population_history.synthesize_from_history`:
    shuffled and grouped into accounts (:func:`_accounts`, drawing from ``rng``), then in the
    canonical order, by account, then venue, asset (every column sorted alike); ``pending`` is
    None where no position is pending."""
    cols, mode, account, wallet = _accounts(cols, len(assets), params, rng)
    order = np.lexsort((cols["asset"], cols["venue"], account))
    pending = cols["pending"][order]
    return Population(
        venues=venues,
        assets=assets,
        account=account[order],
        venue=cols["venue"][order],
        asset=cols["asset"][order],
        side=cols["side"][order],
        size=cols["size"][order],
        entry=cols["entry"][order],
        margin=cols["margin"][order],
        mode=mode[order],
        leverage=cols["leverage"][order],
        entry_time=cols["entry_time"][order],
        wallet=wallet,
        dropped=dropped,
        redrawn=redrawn,
        meta=meta,
        pending=pending if pending.any() else None,
        open_s=cols["open_s"][order] if "open_s" in cols else None,
        close_s=cols["close_s"][order] if "close_s" in cols else None,
    )
