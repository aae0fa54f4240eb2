"""Flows other than liquidations, each a plain rule with parameters.

All flows are market orders in USD (valued at the index) that walk the venues' books; an asset's
flow in a step is split across its books (venues and spot) so that its last fills are equally far
from every book's mid: every book moves by the same fraction (``core.route_level``).  They are
booked to one "flow" party per market (the books stand in for the whole market's liquidity), and
pay the venue's taker fee to the venue's fee income.

Scheduled (fixed in advance; may be built from a seed):

- :func:`programme` — a constant USD rate over a time window (ETF redemptions or creations, an
  OTC programme).  Negative = selling.
- :func:`macro_shock` — flow tied to an equity-index path: each step ``usd_per_unit_return *
  beta * log(E_t / E_{t-1})`` (a fall in equities sells crypto with beta ``beta``).
- ``noise_usd`` of :class:`Flows` — Gaussian two-sided taker flow (USD per step), from the seed.
- :class:`BaselineFlow` — the free-running market's exogenous two-sided flow: per step the USD
  that moves each asset's fresh books by a log return drawn from a stochastic process (the
  measured factor GARCH of :mod:`liqcascade.analytics.baseline`), from the seed.  Informed: its
  moves stay (they are the market's news), like the programmes'.

Contagion (:func:`contagion`): flow in one asset driven by another's move over the previous step,
``usd_per_unit_return * beta * log(I_t / I_{t-1})`` of the leader (a fall in BTC sells ETH): the
cross-market channel the reports describe.

State-dependent cohorts (evaluated every step inside the engine), one rule::

    rate (USD/s) = trigger_rate * [index < trigger_price]
                 + drawdown_rate * max(0, drawdown - drawdown_floor)
                 + fear_rate * fear

``drawdown`` = 1 - index / running peak of the index; ``fear`` = max(0, (50 - FG)/50) with the
price-derived fear-and-greed index ``FG = 50 + 50*tanh(log(index/EMA_slow)/fear_scale)`` (EMA
window ``fear_window_s``): 0 in calm or rising markets, 1 in extreme fear.  A cohort never sells
more than it holds (``holdings`` in base units); the constructors give it its meaning:

- :func:`treasury_company` — sells at ``rate`` once the index is ``threshold`` below its cost basis.
- :func:`long_term_holders` — distribute into a fall beyond ``drawdown_floor``.
- :func:`panic_sellers` — rate rises with drawdown and with fear.

Stop-losses (:func:`stop_losses`): resting orders that become market orders when the index
crosses their trigger: sells below, buys above.  A cohort (or stop book) that would sell more
than it holds is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import InputError


def _window(t: np.ndarray, start_s: float, end_s: float) -> slice:
    """The steps whose time ``t`` (seconds, ascending) lies in ``[start_s, end_s)``, as a slice
    (the rows of ``(t >= start_s) & (t < end_s)``, without a mask over the whole day)."""
    return slice(int(np.searchsorted(t, start_s, "left")), int(np.searchsorted(t, end_s, "left")))


@dataclass(frozen=True)
class Programme:
    asset: str
    usd_per_s: float  # negative = sell
    start_s: float
    end_s: float
    venue: str | None = None  # None: split across the asset's venues by depth


@dataclass(frozen=True)
class MacroShock:
    asset: str
    equity_path: np.ndarray  # equity index level at each step (>0), length n_steps + 1
    beta: float
    usd_per_unit_return: float


@dataclass(frozen=True)
class Contagion:
    asset: str
    leader: str
    beta: float
    usd_per_unit_return: float
    #: True: ``usd_per_unit_return`` is the follower's fresh books' density and the engine scales
    #: the step's USD by the share of that density its books still hold (the market makers'
    #: multipliers; the spot book does not withdraw), so the follower moves by ``beta`` times the
    #: leader's move on its books as they are; False: a flow of that many USD whatever the books
    on_current_books: bool = False


@dataclass(frozen=True)
class Cohort:
    """A holder of ``holdings`` base units that sells by the rule in the module docstring, or
    (``side = +1``) a buyer with ``cash_usd`` to spend by the same rate rule."""

    name: str
    asset: str
    holdings: float  # base units a seller may sell
    trigger_price: float = 0.0
    trigger_rate: float = 0.0
    drawdown_floor: float = 0.0
    drawdown_rate: float = 0.0
    fear_rate: float = 0.0
    #: -1 sells out of ``holdings`` (base units); +1 buys out of ``cash_usd`` (USD)
    side: int = -1
    cash_usd: float = 0.0

    def __post_init__(self):
        if self.side not in (-1, 1):
            raise InputError(f"cohort {self.name!r}: side must be -1 (sells) or +1 (buys)", field="side")
        if not (np.isfinite(self.cash_usd) and self.cash_usd >= 0):
            raise InputError(f"cohort {self.name!r}: cash must be >= 0 USD", field="cash_usd")
        if not (np.isfinite(self.holdings) and self.holdings >= 0):
            raise InputError(f"cohort {self.name!r}: holdings must be >= 0 base units", field="holdings")
        for f in ("trigger_price", "trigger_rate", "drawdown_floor", "drawdown_rate", "fear_rate"):
            v = getattr(self, f)
            if not (np.isfinite(v) and v >= 0):
                raise InputError(f"cohort {self.name!r}: must be a non-negative number, got {v!r}", field=f)


@dataclass(frozen=True)
class BaselineFlow:
    """Exogenous order flow whose move on each asset's fresh books is a given log return.

    ``draw(n_steps, dt, seed)``: log returns (fraction per step), shape ``(n_steps, len(assets))``;
    ``move_usd(asset, u, returns, dt)``: the signed USD per step that moves the asset's books by
    the fraction ``u`` (:meth:`~liqcascade.engine.liquidity.Liquidity.move_usd`), given the whole
    draw ``returns`` and the step ``dt`` (s) the books' state may depend on.  Through thinner
    books than those (the market makers withdrawn further) the same flow moves the price further."""

    assets: tuple[str, ...]
    draw: Callable[[int, float, int], np.ndarray]
    move_usd: Callable[[str, np.ndarray, np.ndarray, float], np.ndarray]

    def usd(self, n_steps: int, dt: float, seed: int) -> dict[str, np.ndarray]:
        """Per asset, the signed USD per step (+ bought)."""
        r = np.asarray(self.draw(n_steps, dt, seed), np.float64)
        if r.shape != (n_steps, len(self.assets)) or not np.all(np.isfinite(r)):
            raise InputError(
                f"the baseline's returns must be finite, shape ({n_steps}, {len(self.assets)})", field="baseline"
            )
        return {a: self.move_usd(a, np.expm1(r[:, i]), r, dt) for i, a in enumerate(self.assets)}


@dataclass(frozen=True)
class StopLosses:
    """Resting stop orders on one asset: ``side`` -1 sells when index <= trigger, +1 buys when
    index >= trigger; ``size`` in base units."""

    asset: str
    trigger: np.ndarray
    size: np.ndarray
    side: np.ndarray
    holdings: float = np.inf  # base units the stop-sellers own

    def __post_init__(self):
        if np.any(~np.isfinite(self.trigger)) or np.any(np.asarray(self.trigger) <= 0):
            raise InputError("stop triggers must be positive prices", field="trigger")
        if np.any(np.asarray(self.size) <= 0):
            raise InputError("stop sizes must be positive base units", field="size")
        sells = float(np.sum(np.asarray(self.size)[np.asarray(self.side) < 0]))
        if sells > self.holdings * (1 + 1e-12):
            raise InputError(
                f"stop-loss sellers of {self.asset} would sell {sells:g} but hold {self.holdings:g}", field="size"
            )


def programme(
    asset: str, usd_per_day: float, start_s: float = 0.0, end_s: float = np.inf, venue: str | None = None
) -> Programme:
    """A constant flow of ``usd_per_day`` USD per day (negative sells: ETF redemptions), split
    across the asset's venues by depth, or on one ``venue``'s book only."""
    if not np.isfinite(usd_per_day):
        raise InputError("must be a finite USD amount", field="usd_per_day")
    if end_s < start_s:
        raise InputError("end before start", field="end_s")
    return Programme(asset.upper(), usd_per_day / 86_400.0, start_s, end_s, venue.lower() if venue else None)


def etf_redemptions(asset: str, usd_per_day: float, start_s: float = 0.0, end_s: float = np.inf) -> Programme:
    """ETF redemptions sold into the market at a constant rate (``usd_per_day`` > 0 USD sold)."""
    if usd_per_day < 0:
        raise InputError("redemptions are a positive USD amount", field="usd_per_day")
    return programme(asset, -usd_per_day, start_s, end_s)


def macro_shock(asset: str, equity_path, beta: float, usd_per_unit_return: float) -> MacroShock:
    path = np.asarray(equity_path, np.float64)
    if np.any(~np.isfinite(path)) or np.any(path <= 0):
        raise InputError("equity index path must be positive", field="equity_path")
    if usd_per_unit_return < 0:
        raise InputError("must be >= 0", field="usd_per_unit_return")
    return MacroShock(asset.upper(), path, float(beta), float(usd_per_unit_return))


def contagion(
    asset: str, leader: str, beta: float, usd_per_unit_return: float, *, on_current_books: bool = False
) -> Contagion:
    """``asset`` trades ``usd_per_unit_return * beta`` USD per unit log return of ``leader`` over
    the previous step (same sign: the follower is sold when the leader falls); with
    ``on_current_books`` that USD times the share of its fresh books' density the follower's books
    still hold (see :class:`Contagion`)."""
    if asset.upper() == leader.upper():
        raise InputError("an asset cannot follow itself", field="leader")
    if not (np.isfinite(beta) and np.isfinite(usd_per_unit_return)) or usd_per_unit_return < 0:
        raise InputError("beta must be finite and usd_per_unit_return >= 0", field="usd_per_unit_return")
    return Contagion(asset.upper(), leader.upper(), float(beta), float(usd_per_unit_return), bool(on_current_books))


def treasury_company(asset, holdings, cost_basis, threshold=0.0, usd_per_s=1e6, name="treasury") -> Cohort:
    """Sells ``usd_per_s`` once the index is ``threshold`` (fraction) below ``cost_basis`` (USD)."""
    if not cost_basis > 0:
        raise InputError("cost basis must be a positive price", field="cost_basis")
    return Cohort(name, asset.upper(), holdings, trigger_price=cost_basis * (1 - threshold), trigger_rate=usd_per_s)


def long_term_holders(asset, holdings, drawdown_floor=0.05, usd_per_s_per_drawdown=1e7, name="lth") -> Cohort:
    """Distribute ``usd_per_s_per_drawdown * (drawdown - drawdown_floor)`` USD per second."""
    return Cohort(name, asset.upper(), holdings, drawdown_floor=drawdown_floor, drawdown_rate=usd_per_s_per_drawdown)


def panic_sellers(asset, holdings, usd_per_s_per_drawdown=5e6, usd_per_s_at_max_fear=1e6, name="panic") -> Cohort:
    return Cohort(name, asset.upper(), holdings, drawdown_rate=usd_per_s_per_drawdown, fear_rate=usd_per_s_at_max_fear)


def dip_buyers(asset, cash_usd, drawdown_floor=0.05, usd_per_s_per_drawdown=1e6, name="dip") -> Cohort:
    """Buy ``usd_per_s_per_drawdown * (drawdown - drawdown_floor)`` USD per second out of
    ``cash_usd``: the bargain hunters whose bids stop a fall and lift the price after it."""
    return Cohort(
        name,
        asset.upper(),
        0.0,
        drawdown_floor=drawdown_floor,
        drawdown_rate=usd_per_s_per_drawdown,
        side=1,
        cash_usd=cash_usd,
    )


def stop_losses(asset, trigger, size, side=-1, holdings=np.inf) -> StopLosses:
    trigger = np.asarray(trigger, np.float64)
    size = np.broadcast_to(np.asarray(size, np.float64), trigger.shape).copy()
    side = np.broadcast_to(np.asarray(side, np.int8), trigger.shape).copy()
    return StopLosses(asset.upper(), trigger, size, side, holdings)


@dataclass
class Flows:
    """All non-liquidation flows of a run."""

    programmes: list[Programme] = field(default_factory=list)
    macro: list[MacroShock] = field(default_factory=list)
    cohorts: list[Cohort] = field(default_factory=list)
    stops: list[StopLosses] = field(default_factory=list)
    contagion: list[Contagion] = field(default_factory=list)
    noise_usd: dict[str, float] = field(default_factory=dict)  # std of USD per step, per asset
    #: a given signed USD flow per step (+ buys), per asset: ``n_steps`` values each (e.g. the flow
    #: an observed replay implies, replayed free)
    exogenous_usd: dict[str, np.ndarray] = field(default_factory=dict)
    #: the free-running market's stochastic exogenous flow (None: none)
    baseline: BaselineFlow | None = None
    fear_window_s: float = 3_600.0
    fear_scale: float = 0.05

    def schedule(self, assets, n_steps: int, dt: float, seed: int) -> np.ndarray:
        """Scheduled signed USD flow per step (positive buys), shape ``(n_steps, 2 * n_assets)``:
        the informed flows (programmes, macro shocks) in the first ``n_assets`` columns, the
        noise traders' flow in the last ``n_assets``."""
        assets = [a.upper() for a in assets]
        na = len(assets)
        out = np.zeros((n_steps, 2 * na))
        t = np.arange(n_steps) * dt
        for p in self.programmes:
            if p.asset not in assets:
                raise InputError(f"programme on unknown asset {p.asset}", field="asset")
            if p.venue is not None:
                continue  # venue-level: see venue_schedule
            out[_window(t, p.start_s, p.end_s), assets.index(p.asset)] += p.usd_per_s * dt
        for m in self.macro:
            if m.asset not in assets:
                raise InputError(f"macro shock on unknown asset {m.asset}", field="asset")
            if len(m.equity_path) < n_steps + 1:
                raise InputError(f"equity path needs {n_steps + 1} points", field="equity_path")
            r = np.diff(np.log(m.equity_path[: n_steps + 1]))
            out[:, assets.index(m.asset)] += m.usd_per_unit_return * m.beta * r
        for a, usd in self.exogenous_usd.items():
            usd = np.asarray(usd, np.float64)
            if a.upper() not in assets:
                raise InputError(f"exogenous flow on unknown asset {a}", field="asset")
            if usd.shape != (n_steps,) or not np.all(np.isfinite(usd)):
                raise InputError(f"exogenous flow of {a} needs {n_steps} finite USD values", field="exogenous_usd")
            out[:, assets.index(a.upper())] += usd
        if self.baseline is not None:
            for a, usd in self.baseline.usd(n_steps, dt, seed).items():
                if a.upper() not in assets:
                    raise InputError(f"baseline flow on unknown asset {a}", field="baseline")
                out[:, assets.index(a.upper())] += usd
        rng = np.random.default_rng(seed)
        for a, sd in sorted(self.noise_usd.items()):
            if sd < 0:
                raise InputError("noise must be a non-negative USD standard deviation", field="noise_usd")
            if a.upper() in assets and sd > 0:
                out[:, na + assets.index(a.upper())] += rng.normal(0.0, sd, n_steps)
        return out

    def venue_schedule(self, venues, assets, n_steps: int, dt: float) -> np.ndarray:
        """Venue-level programmes, signed USD per step, shape ``(n_steps, n_markets)`` with market
        ``venue_index * n_assets + asset_index``; ``(0, n_markets)`` when no programme is
        venue-level (a day of zeros would be read every step and held through the run)."""
        venues = [v.lower() for v in venues]
        assets = [a.upper() for a in assets]
        if all(p.venue is None for p in self.programmes):
            return np.zeros((0, len(venues) * len(assets)))
        out = np.zeros((n_steps, len(venues) * len(assets)))
        t = np.arange(n_steps) * dt
        for p in self.programmes:
            if p.venue is None:
                continue
            if p.venue not in venues or p.asset not in assets:
                raise InputError(f"programme on unknown market {p.venue} {p.asset}", field="venue")
            out[_window(t, p.start_s, p.end_s), venues.index(p.venue) * len(assets) + assets.index(p.asset)] += (
                p.usd_per_s * dt
            )
        return out

    def contagion_matrix(self, assets) -> np.ndarray:
        """``cmat[a, l]``: USD traded in asset ``a`` per unit log return of asset ``l`` over the
        previous step (``usd_per_unit_return * beta``; positive sells the follower in a fall)."""
        assets = [a.upper() for a in assets]
        cmat = np.zeros((len(assets), len(assets)))
        for c in self.contagion:
            if c.asset not in assets or c.leader not in assets:
                raise InputError(f"contagion between unknown assets {c.asset}/{c.leader}", field="asset")
            cmat[assets.index(c.asset), assets.index(c.leader)] += c.usd_per_unit_return * c.beta
        return cmat

    def cohort_arrays(self, assets):
        """``(asset, left, trigger_price, trigger_rate, drawdown_floor, drawdown_rate, fear_rate, side)``;
        ``left`` is a seller's holdings (base units) or a buyer's cash (USD)."""
        assets = [a.upper() for a in assets]
        a = np.array([assets.index(c.asset) if c.asset in assets else -1 for c in self.cohorts], np.int64)
        if np.any(a < 0):
            raise InputError("cohort on an unknown asset", field="asset")
        cols = np.array(
            [
                [
                    c.cash_usd if c.side > 0 else c.holdings,
                    c.trigger_price,
                    c.trigger_rate,
                    c.drawdown_floor,
                    c.drawdown_rate,
                    c.fear_rate,
                    float(c.side),
                ]
                for c in self.cohorts
            ],
            np.float64,
        ).reshape(len(self.cohorts), 7)
        return a, np.ascontiguousarray(cols)

    def stop_arrays(self, assets):
        """Stops sorted per asset: sells by trigger descending, buys ascending.

        Returns ``(price, size, side, start, end)`` with ``start/end`` of shape (n_assets, 2)
        (column 0 sells, 1 buys)."""
        assets = [a.upper() for a in assets]
        prices, sizes, sides = [], [], []
        start = np.zeros((len(assets), 2), np.int64)
        end = np.zeros((len(assets), 2), np.int64)
        n = 0
        for ai, a in enumerate(assets):
            for col, sd in ((0, -1), (1, 1)):
                p = [s.trigger[s.side == sd] for s in self.stops if s.asset == a]
                z = [s.size[s.side == sd] for s in self.stops if s.asset == a]
                p = np.concatenate(p) if p else np.zeros(0)
                z = np.concatenate(z) if z else np.zeros(0)
                o = np.argsort(-p if sd < 0 else p, kind="stable")
                prices.append(p[o])
                sizes.append(z[o])
                sides.append(np.full(len(o), sd, np.int8))
                start[ai, col] = n
                n += len(o)
                end[ai, col] = n
        for s in self.stops:
            if s.asset not in assets:
                raise InputError(f"stop-losses on unknown asset {s.asset}", field="asset")
        cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)
        return cat(prices, np.float64), cat(sizes, np.float64), cat(sides, np.int8), start, end
