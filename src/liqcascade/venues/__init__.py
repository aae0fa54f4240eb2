"""Venue rule books: one module per venue behind :class:`VenueRules`.

>>> from liqcascade.venues import get_venue
>>> v = get_venue("binance"); t = v.tier_table("BTC/USDT:USDT")
>>> float(v.liquidation_price("long", 100.0, 30_000.0, 300_000.0, t).round(2))
27167.09
"""

from __future__ import annotations

from ..errors import InputError
from .base import LiquidationProcedure, MarginFigures, VenueRules
from .binance import Binance
from .bybit import Bybit
from .hyperliquid import Hyperliquid
from .okx import OKX
from .tiers import TierTable, derive_maintenance_amounts

VENUES: dict[str, type[VenueRules]] = {v.name: v for v in (Binance, Bybit, OKX, Hyperliquid)}
_cache: dict[str, VenueRules] = {}


def get_venue(name: str) -> VenueRules:
    """The rule book of a venue by name (``binance``, ``bybit``, ``okx``, ``hyperliquid``)."""
    key = str(name).lower()
    if key not in VENUES:
        raise InputError(f"unknown venue {name!r}; choose one of {', '.join(VENUES)}", field="venue")
    if key not in _cache:
        _cache[key] = VENUES[key]()
    return _cache[key]


__all__ = [
    "VENUES", "get_venue", "VenueRules", "MarginFigures", "LiquidationProcedure", "TierTable",
    "derive_maintenance_amounts", "Binance", "Bybit", "OKX", "Hyperliquid",
]
