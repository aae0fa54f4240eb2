"""Venue rule books: one module per venue behind :class:`VenueRules`.

>>> from liqcascade.venues import get_venue
>>> v = get_venue("binance"); t = v.tier_table("BTC/USDT:USDT")
>>> float(v.liquidation_price("long", 100.0, 30_000.0, 300_000.0, t).round(2))
27167.09
"""

from __future__ import annotations

from typing import Any

from ..errors import InputError
from .base import LiquidationProcedure, MarginFigures, VenueRules
from .binance import Binance
from .bybit import Bybit
from .hyperliquid import Hyperliquid
from .okx import OKX
from .tiers import TierTable, derive_maintenance_amounts, table_date

VENUES: dict[str, type[VenueRules]] = {v.name: v for v in (Binance, Bybit, OKX, Hyperliquid)}
_cache: dict[tuple, VenueRules] = {}


def get_venue(name: str, as_of: Any = None) -> VenueRules:
    """The rule book of a venue by name (``binance``, ``bybit``, ``okx``, ``hyperliquid``).

    ``as_of`` (a date, datetime or ISO string): the rule book looks its bundled tables up at that
    date (:meth:`VenueRules.tier_table`); default the latest versions.  Cached per (venue, day).
    """
    key = str(name).lower()
    if key not in VENUES:
        raise InputError(f"unknown venue {name!r}; choose one of {', '.join(VENUES)}", field="venue")
    day = None if as_of is None else table_date(as_of)
    if (key, None) not in _cache:
        _cache[(key, None)] = VENUES[key]()
    if (key, day) not in _cache:
        _cache[(key, day)] = _cache[(key, None)].at(day)
    return _cache[(key, day)]


__all__ = [
    "VENUES", "get_venue", "VenueRules", "MarginFigures", "LiquidationProcedure", "TierTable",
    "derive_maintenance_amounts", "table_date", "Binance", "Bybit", "OKX", "Hyperliquid",
]
