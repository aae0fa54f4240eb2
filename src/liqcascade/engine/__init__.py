"""The cascade engine: forced orders that walk the book and move the price.

Modules, upstream to downstream: :mod:`.positions` (struct-of-arrays positions and their
validation), :mod:`.liquidity` (depth profiles and market-maker response), :mod:`.prices` (index,
arbitrage, marks), :mod:`.flows` (programmes, cohorts, stop-losses), :mod:`.ledger` (double-entry
check), :mod:`.core` (the compiled step loop), :mod:`.run` (``simulate`` and ``Run``).
"""

from .flows import (
    BaselineFlow,
    Cohort,
    Flows,
    contagion,
    dip_buyers,
    etf_redemptions,
    long_term_holders,
    macro_shock,
    panic_sellers,
    programme,
    stop_losses,
    treasury_company,
)
from .liquidity import DepthProfile, Liquidity, MarketMakerResponse
from .positions import CROSS, ISOLATED, Positions
from .prices import PriceConfig
from .run import Run, as_reported, simulate

__all__ = [
    "Positions",
    "ISOLATED",
    "CROSS",
    "DepthProfile",
    "Liquidity",
    "MarketMakerResponse",
    "PriceConfig",
    "Flows",
    "BaselineFlow",
    "Cohort",
    "contagion",
    "programme",
    "etf_redemptions",
    "macro_shock",
    "treasury_company",
    "long_term_holders",
    "panic_sellers",
    "dip_buyers",
    "stop_losses",
    "simulate",
    "Run",
    "as_reported",
]
