"""Order-book depth per venue and asset, and the market makers' response to stress.

Depth profile (one per side of each book)::

    Cum(u) = B * u**kappa        USD resting within a fraction u of mid (u = 0.01 is 1 %)

Walking a market order of V USD (valued at mid) through one side moves the mid by the fraction
``u = (V/B)**(1/kappa)`` and fills it at the USD-weighted average distance
``kappa/(kappa+1) * u`` from the pre-trade mid.  The book is re-centred on the new mid after each
order (the profile is relative to mid), so consecutive orders compound.  A single walk is capped
at ``MAX_WALK`` (the price cannot fall below 5 % of mid in one order: a book never empties
completely).  A measured curve (pairs of u and cumulative USD) is fitted by least squares in
log-log space to ``B, kappa`` (:meth:`DepthProfile.from_curve`); the reported ``R**2`` says how
well the power law holds (about 0.99 on the venues' books).

Market-maker response (per market, once per step): with ``sigma`` the per-second realised
volatility of the mid (an EWMA of squared log returns with window ``vol_window_s``) and ``L`` the
liquidation USD of the step::

    stress = vol_sensitivity * max(0, log(sigma/calm_sigma)) + flow_sensitivity * L / depth_1pct_base
    target = max(min_multiplier, 1 / (1 + stress))

The volatility term is logarithmic on purpose: a thinner book makes the same flow move the price
more, so a response linear in volatility feeds on itself and empties every book within minutes
of any shock.  With the defaults a 25-fold rise in volatility withdraws depth about 4x (the
median event), and the hundredfold withdrawals come from the liquidation-flow term.

The depth multiplier drops to the target at once when the target is lower (withdrawal is fast)
and refills toward it with half-life ``refill_half_life_s`` otherwise.  ``min_multiplier = 0.01``
allows the hundredfold withdrawals seen in the worst minutes (10 Oct 2025).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .._jit import jit
from ..errors import InputError
from .core import maker_multiplier_step

MAX_WALK = 0.95


@dataclass(frozen=True)
class DepthProfile:
    """``Cum(u) = B*u**kappa`` for the bid and the ask side of one book (USD)."""

    bid_b: float
    ask_b: float
    bid_kappa: float = 1.16
    ask_kappa: float = 1.16

    def __post_init__(self):
        for name in ("bid_b", "ask_b"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise InputError(f"depth scale must be a positive number of USD, got {v!r}", field=name)
        for name in ("bid_kappa", "ask_kappa"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise InputError(f"depth exponent kappa must be > 0, got {v!r}", field=name)

    @classmethod
    def from_depth_1pct(cls, usd_per_side: float, kappa: float = 1.16) -> "DepthProfile":
        """A symmetric profile holding ``usd_per_side`` USD within 1 % of mid on each side."""
        if not (np.isfinite(kappa) and kappa > 0):
            raise InputError(f"depth exponent kappa must be > 0, got {kappa!r}", field="kappa")
        if not (np.isfinite(usd_per_side) and usd_per_side > 0):
            raise InputError(f"depth must be a positive number of USD, got {usd_per_side!r}", field="depth_1pct")
        b = usd_per_side / 0.01**kappa
        return cls(b, b, kappa, kappa)

    @classmethod
    def from_curve(cls, u, cum_bid, cum_ask=None) -> "DepthProfile":
        """Fit ``B, kappa`` per side to a measured curve (fractions ``u`` > 0, cumulative USD)."""
        u = np.asarray(u, np.float64)
        if np.any(u <= 0) or len(u) < 2:
            raise InputError("a measured depth curve needs at least two distances u > 0", field="u")

        def fit(cum):
            cum = np.asarray(cum, np.float64)
            if cum.shape != u.shape or np.any(cum <= 0):
                raise InputError("cumulative depth must be positive, one value per distance", field="cum")
            k, logb = np.polyfit(np.log(u), np.log(cum), 1)
            return float(np.exp(logb)), float(k)

        bb, bk = fit(cum_bid)
        ab, ak = fit(cum_bid if cum_ask is None else cum_ask)
        return cls(bb, ab, bk, ak)

    def depth_within(self, pct: float) -> float:
        """USD resting within ``pct`` percent of mid, both sides."""
        u = pct / 100.0
        return self.bid_b * u**self.bid_kappa + self.ask_b * u**self.ask_kappa


@dataclass(frozen=True)
class MarketMakerResponse:
    """Parameters of the depth multiplier (see module docstring)."""

    calm_sigma: float = 2.0e-4  # per-second volatility of a calm market (fraction)
    vol_window_s: float = 60.0
    vol_sensitivity: float = 1.0
    flow_sensitivity: float = 20.0
    min_multiplier: float = 0.01
    refill_half_life_s: float = 300.0
    #: per asset, its own calm per-second volatility (fraction); an asset not here has ``calm_sigma``
    calm_sigma_by_asset: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        for name in ("calm_sigma", "vol_window_s", "refill_half_life_s"):
            if not getattr(self, name) > 0:
                raise InputError("must be positive", field=name)
        for a, v in self.calm_sigma_by_asset.items():
            if not (np.isfinite(v) and v > 0):
                raise InputError(f"must be positive, got {v!r} for {a}", field="calm_sigma_by_asset")
        for name in ("vol_sensitivity", "flow_sensitivity"):
            if not getattr(self, name) >= 0:
                raise InputError("must be non-negative", field=name)
        if not (0 < self.min_multiplier <= 1):
            raise InputError("must be in (0, 1]", field="min_multiplier")

    def calm_sigma_of(self, asset: str) -> float:
        """The calm per-second volatility the market makers measure ``asset``'s against."""
        return float(self.calm_sigma_by_asset.get(asset.upper(), self.calm_sigma))


@dataclass
class Liquidity:
    """Depth profiles keyed by ``(venue, asset)`` plus the market makers' response."""

    profiles: dict[tuple[str, str], DepthProfile]
    response: MarketMakerResponse = field(default_factory=MarketMakerResponse)
    #: per asset, the spot book (all spot venues together) that anchors the index; an asset
    #: without one takes its index from the perpetual mids (see :mod:`.prices`)
    spot: dict[str, DepthProfile] = field(default_factory=dict)
    #: every book's depth is uniform within this distance of mid (fraction; 0.001 = 0.1 %) and
    #: follows the power law beyond: ``Cum(u) = B*u0**kappa * u/u0`` for ``u < u0``.  The power
    #: law is fitted on wider distances; taken to the touch it makes the first basis points of a
    #: book with kappa > 1 implausibly thin for the small orders of every second.  0: pure power law.
    touch_u: float = 0.0

    def __post_init__(self):
        if not (np.isfinite(self.touch_u) and 0.0 <= self.touch_u < 0.01):
            raise InputError(f"touch_u must be a fraction in [0, 0.01), got {self.touch_u!r}", field="touch_u")

    def spot_arrays(self, assets) -> np.ndarray:
        """Per asset ``(bid_b, ask_b, bid_kappa, ask_kappa, depth_1pct_both_sides, touch_u,
        touch_u**bid_kappa, touch_u**ask_kappa)``; zeros where the asset has no spot book."""
        out = np.zeros((len(assets), 8))
        u0 = self.touch_u
        for a, an in enumerate(assets):
            p = self.spot.get(an.upper())
            if p is not None:
                out[a] = (
                    p.bid_b,
                    p.ask_b,
                    p.bid_kappa,
                    p.ask_kappa,
                    p.depth_within(1.0),
                    u0,
                    u0**p.bid_kappa,
                    u0**p.ask_kappa,
                )
        return out

    @classmethod
    def uniform(
        cls,
        venues,
        assets,
        depth_1pct: dict[str, float] | float,
        *,
        kappa: float = 1.16,
        venue_share: dict[str, float] | None = None,
        response: MarketMakerResponse | None = None,
    ) -> "Liquidity":
        """Every venue gets ``venue_share[venue]`` (default equal shares) of each asset's
        per-side depth within 1 % (USD)."""
        venues = [v.lower() for v in venues]
        share = venue_share or {v: 1.0 / len(venues) for v in venues}
        profiles = {}
        for v in venues:
            for a in assets:
                d = depth_1pct[a] if isinstance(depth_1pct, dict) else depth_1pct
                profiles[(v, a.upper())] = DepthProfile.from_depth_1pct(d * share[v], kappa)
        return cls(profiles, response or MarketMakerResponse())

    def asset_books(self, asset: str) -> np.ndarray:
        """Every book of ``asset`` (each venue's perpetual, then the spot book if any) as rows
        ``(bid_b, ask_b, bid_kappa, ask_kappa)``: ``Cum(u) = B*u**kappa`` USD per side."""
        a = asset.upper()
        rows = [(p.bid_b, p.ask_b, p.bid_kappa, p.ask_kappa) for (v, an), p in sorted(self.profiles.items()) if an == a]
        if a in self.spot:
            p = self.spot[a]
            rows.append((p.bid_b, p.ask_b, p.bid_kappa, p.ask_kappa))
        if not rows:
            raise InputError(f"no book for asset {asset}", field="liquidity")
        return np.array(rows, np.float64)

    def move_usd(self, asset: str, u, perp_multiplier=None) -> np.ndarray:
        """The signed USD (+ bought) that moves every book of ``asset`` by the signed fraction
        ``u`` of its mid (buys walk the asks, sells the bids): the sum over its books of
        ``B * Cum_unit(|u|)``, uniform within ``touch_u`` and ``u**kappa`` beyond (what the flow's
        routing solves for, inverted).  ``perp_multiplier`` (a number or one per element of ``u``):
        the market makers' depth multiplier on the perpetuals' books (the spot book does not
        withdraw in the engine); ``None`` is 1, the fresh books the engine starts from."""
        books = self.asset_books(asset)
        n_perp = len(books) - (1 if asset.upper() in self.spot else 0)
        u = np.asarray(u, np.float64)
        mult = 1.0 if perp_multiplier is None else np.asarray(perp_multiplier, np.float64)
        m = np.abs(u)
        out = np.zeros(u.shape)
        u0 = self.touch_u
        for i, (bid_b, ask_b, bid_k, ask_k) in enumerate(books):
            scale = mult if i < n_perp else 1.0
            for b, k, side in ((ask_b, ask_k, u > 0), (bid_b, bid_k, u < 0)):
                cum = m**k if u0 <= 0 else np.where(m <= u0, u0**k * m / np.maximum(u0, 1e-300), m**k)
                out += np.where(side, scale * b * cum, 0.0)
        return np.where(u < 0, -out, out)

    def maker_multiplier(self, asset: str, log_returns, dt: float) -> np.ndarray:
        """The depth multiplier the market makers' law holds on the perpetuals' books of
        ``asset`` while its mids follow ``log_returns`` (one per step of ``dt`` seconds): the
        engine's own recursion (``core.market_makers``, from the calm variance and a multiplier
        of 1) with its volatility term alone, no liquidations."""
        r = self.response
        if not (np.isfinite(dt) and dt > 0):
            raise InputError(f"the step must be a positive number of seconds, got {dt!r}", field="dt")
        x = np.ascontiguousarray(log_returns, np.float64)
        return _maker_multiplier(
            x,
            r.calm_sigma_of(asset) ** 2 * dt,
            1.0 - math.exp(-dt / r.vol_window_s),
            r.vol_sensitivity,
            r.min_multiplier,
            1.0 - 0.5 ** (dt / r.refill_half_life_s),
            np.empty(x.shape[0]),
        )

    def book_densities(self, asset: str) -> np.ndarray:
        """USD per unit of a small move of each book of ``asset`` (each venue's perpetual in venue
        order, then the spot book if any): both sides' mean density within the touch (their
        secant at 1 bp where ``touch_u`` is 0).  They sum to :meth:`usd_per_unit_move`."""
        u = self.touch_u if self.touch_u > 0 else 1e-4
        books = self.asset_books(asset)
        return (books[:, 1] * u ** books[:, 3] + books[:, 0] * u ** books[:, 2]) / (2.0 * u)

    def perp_density_shares(self, asset: str) -> dict[str, float]:
        """Per venue, its perpetual's share of all of ``asset``'s books' density
        (:meth:`book_densities`; the spot book holds the rest): how much of a small move's USD
        each venue's book takes, and so how much a venue's withdrawal thins the asset's books."""
        dens = self.book_densities(asset)
        venues = sorted(v for (v, an) in self.profiles if an == asset.upper())  # asset_books' order
        return {v: float(d / dens.sum()) for v, d in zip(venues, dens)}

    def usd_per_unit_move(self, asset: str) -> float:
        """USD per unit of a small move of ``asset``'s mids (both sides' mean): the books' density
        within the touch (their secant at 1 bp where ``touch_u`` is 0)."""
        u = self.touch_u if self.touch_u > 0 else 1e-4
        return float((self.move_usd(asset, u) - self.move_usd(asset, -u)) / (2.0 * u))

    def arrays(self, venues, assets):
        """Per-market arrays ``(bid_b, ask_b, bid_kappa, ask_kappa)``, market = venue*A + asset."""
        out = np.zeros((4, len(venues) * len(assets)))
        for v, vn in enumerate(venues):
            for a, an in enumerate(assets):
                key = (vn.lower(), an.upper())
                if key not in self.profiles:
                    raise InputError(f"no depth profile for {vn} {an}", field="liquidity")
                p = self.profiles[key]
                out[:, v * len(assets) + a] = (p.bid_b, p.ask_b, p.bid_kappa, p.ask_kappa)
        return out


@jit
def _maker_multiplier(r, calm_var, vol_a, vol_sens, min_mult, refill_rho, out):  # pragma: no cover - compiled
    """``core.market_makers``'s law (:func:`~.core.maker_multiplier_step`) with its volatility
    term alone, on a given path of one-step log returns: the multiplier at the end of each step
    (the one the next step's flow meets)."""
    var = calm_var
    mult = 1.0
    for t in range(r.shape[0]):
        var += vol_a * (r[t] * r[t] - var)
        mult = maker_multiplier_step(mult, var / calm_var, 0.0, vol_sens, min_mult, refill_rho)
        out[t] = mult
    return out
