"""Venue rule books: one module per venue behind :class:`VenueRules`, in a registry.

>>> from liqcascade.venues import get_venue
>>> v = get_venue("binance"); t = v.tier_table("BTC/USDT:USDT")
>>> float(v.liquidation_price("long", 100.0, 30_000.0, 300_000.0, t).round(2))
27167.09

A venue is one module: its rule book (a :class:`VenueRules` subclass with its formulas, tier
tables, liquidation procedure, fee, ADL, mark and feed rules, and the :class:`KernelSpec` the
engine reads) registers itself with ``@register``.  The bundled venues register when the line
below imports them; :func:`names` lists every registered venue.
"""

from __future__ import annotations  # noqa: I001 (the venues register in their listing order)

from .base import (
    ADL_PNL_X_LEVERAGE,
    ADL_PNL_X_MARGIN_RATIO,
    ADL_PRICE_X_NOTIONAL_SHARE,
    MARK_RULES,
    STEP_FRACTION_ABOVE,
    STEP_ONE_TIER_DOWN,
    STEP_TWO_TIERS_DOWN,
    STEP_WHOLE,
    KernelSpec,
    LiquidationProcedure,
    MarginFigures,
    VenueRules,
)

# the bundled venues, in the order they are listed (each module registers its rule book)
from .binance import Binance
from .bybit import Bybit
from .okx import OKX
from .hyperliquid import Hyperliquid
from .registry import REGISTRY, get_venue, kernel_spec, names, register, unregister
from .tiers import TierTable, derive_maintenance_amounts, table_date

#: rule book classes by name: the registry itself (venues registered later appear here too)
VENUES = REGISTRY

__all__ = [
    "VENUES",
    "get_venue",
    "names",
    "register",
    "unregister",
    "kernel_spec",
    "KernelSpec",
    "VenueRules",
    "MarginFigures",
    "LiquidationProcedure",
    "TierTable",
    "derive_maintenance_amounts",
    "table_date",
    "Binance",
    "Bybit",
    "OKX",
    "Hyperliquid",
    "STEP_WHOLE",
    "STEP_ONE_TIER_DOWN",
    "STEP_TWO_TIERS_DOWN",
    "STEP_FRACTION_ABOVE",
    "ADL_PNL_X_LEVERAGE",
    "ADL_PNL_X_MARGIN_RATIO",
    "ADL_PRICE_X_NOTIONAL_SHARE",
    "MARK_RULES",
]
