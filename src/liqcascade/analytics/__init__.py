"""Analytics: the market measured the way the reports measure it.

- :mod:`.volatility` — annualised rolling realised volatility (365-day year, any bar size),
  drawdown from the running all-time high.
- :mod:`.correlation` — rolling correlation of BTC with the Nasdaq-100 on shared trading days.
- :mod:`.depth` — depth within ±x %, depth collapse around an event; bookDepth cleaning is the
  readers' :func:`liqcascade.data.clean_book_depth` (frozen stretches, inverted buckets).
- :mod:`.derivatives` — funding and open-interest changes.
- :mod:`.fear_greed` — a fear & greed index rebuilt from price and volume.
- :func:`analyze` — all of the above that the inputs allow, as one JSON-ready dict (the
  intended body of ``liqcascade analyze``).

Every function takes plain pandas objects and raises :class:`liqcascade.errors.InputError`
naming the field on bad input.  The liquidation map lives in :mod:`liqcascade.liqmap`.
"""

from .correlation import align_trading_days, rolling_correlation
from .depth import DepthCollapse, clean_book_depth, depth_collapse, depth_within
from .derivatives import funding_changes, open_interest_changes
from .fear_greed import WEIGHTS as FEAR_GREED_WEIGHTS
from .fear_greed import classify, compare_with, fear_greed_components, fear_greed_index
from .summary import analyze
from .volatility import drawdown, max_drawdown, periods_per_year, realized_volatility, volatility

__all__ = [
    "analyze",
    "realized_volatility",
    "volatility",
    "periods_per_year",
    "drawdown",
    "max_drawdown",
    "align_trading_days",
    "rolling_correlation",
    "clean_book_depth",
    "depth_within",
    "depth_collapse",
    "DepthCollapse",
    "funding_changes",
    "open_interest_changes",
    "fear_greed_index",
    "fear_greed_components",
    "compare_with",
    "classify",
    "FEAR_GREED_WEIGHTS",
]
