"""Mid, index and mark prices.

- **Mid** per venue and asset: moved only by orders walking the book (:mod:`.liquidity`) and by
  arbitrage.
- **Index** per asset: the mid of the asset's spot book where the model has one
  (:attr:`Liquidity.spot`: all spot venues together, walked by the flows' share of spot trading);
  otherwise the weighted mean of the venues' mids, with fixed weights proportional to each
  venue's depth within 1 % at the start (a stand-in for the venues' spot-index baskets).
- **Arbitrage**: each step every venue's mid closes a fraction ``1 - exp(-arbitrage_rate*dt)`` of
  its gap to the index (a quote revision; it leaves the weighted index unchanged).  With a spot
  book the gap between a perpetual and spot closes by the same fraction, shared in inverse
  proportion to the two books' depth within 1 % (the deeper side moves less).  At the
  default 0.2 per second half a spread is gone in about 3.5 s.
- **Mark** per venue, by the rule its rule book declares (``kernel.mark_rule`` and
  ``kernel.mark_window_s``, :class:`liqcascade.venues.KernelSpec`): ``"median3"``, the median of
  ``index + EMA(mid - index)`` (the EMA over the venue's window), the venue's mid (its last and
  best prices) and the index (the venues' funding-adjusted or oracle indices all equal the index
  over a run's horizon); or ``"index_ema"``, ``index + EMA(basis)`` alone.  The EMA is updated
  once per step; within a step's waves the mark follows the index and the mid.
- **Resilience** (transient impact): per asset a *fair* price keeps ``permanent_impact`` of each
  step's trading-induced log move of the index (``F *= (I_end/I_start)**theta``); at the end of every step the index closes
  ``1 - 0.5**(dt/resilience_half_life_s)`` of its gap to the fair price (all the asset's mids
  scale together).  Informed and forced flow differ in how much of their impact stays
  (``flow_permanent_impact`` for the move the step's flows make before its waves — programmes,
  holder cohorts, noise — and ``permanent_impact`` for the waves' forced orders; by default the
  same).  Orders worked slowly are mostly absorbed as the book springs back; a cascade
  of minutes outruns it.  ``permanent_impact = 1`` turns resilience off.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..venues import MARK_RULES, kernel_spec


@dataclass(frozen=True)
class PriceConfig:
    """Starting prices (USD per base unit, per asset) and the arbitrage and mark rules."""

    initial: dict[str, float]
    arbitrage_rate: float = 0.2  # per second
    #: fraction of each step's trading-induced move that is permanent (1 = the book never
    #: springs back, the old behaviour); the rest decays with ``resilience_half_life_s``
    permanent_impact: float = 1.0
    resilience_half_life_s: float = 600.0
    #: permanent fraction of the move the step's *flows* make (programmes, cohorts, noise,
    #: before the waves); None: the same as ``permanent_impact``, which then applies to the
    #: forced flow (the waves) only
    flow_permanent_impact: float | None = None
    #: each book anchored at the asset's fair price: depth eaten by the transient part of earlier
    #: steps' moves stays eaten until the index is back (``kernel.start_of_step``); False: every
    #: side fresh at its mid at each step
    book_memory: bool = False
    #: per venue, the basis EMA's window (seconds) where it departs from the venue's rule book
    #: (``kernel.mark_window_s``); venues not listed use their rule book's
    mark_window_s: dict[str, float] = field(default_factory=dict)
    #: per venue, "median3" (median of index + EMA(basis), the book's mid and the index) or
    #: "index_ema" (index + EMA(basis) alone) where it departs from the venue's rule book
    #: (``kernel.mark_rule``); venues not listed use their rule book's, except that a book
    #: declaring the common "median3" takes ``default_mark_rule`` (to compare the two rules)
    mark_rule: dict[str, str] = field(default_factory=dict)
    default_mark_rule: str = "median3"

    def __post_init__(self):
        for a, p in self.initial.items():
            if not (np.isfinite(p) and p > 0):
                raise InputError(f"initial price of {a} must be positive, got {p!r}", field="initial")
        if not (np.isfinite(self.arbitrage_rate) and self.arbitrage_rate >= 0):
            raise InputError("must be a non-negative rate per second", field="arbitrage_rate")
        if not (0.0 <= self.permanent_impact <= 1.0):
            raise InputError("must be a fraction in [0, 1]", field="permanent_impact")
        if self.flow_permanent_impact is not None and not (0.0 <= self.flow_permanent_impact <= 1.0):
            raise InputError("must be a fraction in [0, 1]", field="flow_permanent_impact")
        if not self.resilience_half_life_s > 0:
            raise InputError("must be a positive number of seconds", field="resilience_half_life_s")
        for v, w in self.mark_window_s.items():
            if not w > 0:
                raise InputError(f"mark window of {v} must be positive", field="mark_window_s")

    def initial_array(self, assets) -> np.ndarray:
        try:
            return np.array([float(self.initial[a.upper()]) for a in assets])
        except KeyError as e:
            raise InputError(f"no initial price for {e.args[0]}", field="initial") from None

    def rule(self, venue: str) -> str:
        """The venue's mark rule: this config's override, else its rule book's (a book's
        "median3" replaced by ``default_mark_rule``)."""
        r = self.mark_rule.get(venue.lower())
        if r is None:
            declared = kernel_spec(venue).mark_rule
            r = self.default_mark_rule if declared == "median3" else declared
        if r not in MARK_RULES:
            raise InputError(f"mark rule of {venue} must be 'median3' or 'index_ema', got {r!r}", field="mark_rule")
        return r

    def window(self, venue: str) -> float:
        """The venue's basis EMA window (seconds): this config's override, else its rule book's."""
        w = self.mark_window_s.get(venue.lower())
        return float(kernel_spec(venue).mark_window_s if w is None else w)
