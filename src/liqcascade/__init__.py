"""liqcascade: venue-exact margin math, liquidation maps and a cascade engine for crypto perps.

The public surface is a few nouns and verbs, importable from the package itself:

    >>> import liqcascade as lc
    >>> binance = lc.get_venue("binance")  # a venue's rule book
    >>> scenario = lc.load_scenario("feb-2026")  # a bundled replay
    >>> scenario.name
    'feb-2026'
    >>> result = lc.replay(scenario, positions=20_000)  # doctest: +SKIP
    >>> result.summary["liquidations_usd"]  # doctest: +SKIP

Names are resolved on first use, so ``import liqcascade`` itself loads neither NumPy nor Numba.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("liqcascade")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

if TYPE_CHECKING:  # the type checker sees the real objects; at run time they load lazily
    from .calibrate import calibrate
    from .engine import Positions, Run, simulate
    from .errors import InputError
    from .liqmap import LiquidationMap, liquidation_map, observed_liquidation_map
    from .pipeline import ReplayResult, replay
    from .population import Population, synthesize
    from .report import run_and_report
    from .scenario import Scenario, load_scenario, run_scenario
    from .snapshot import fetch_market_state
    from .sweep import SweepSpec, sweep
    from .venues import VenueRules, get_venue

#: public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "get_venue": ".venues",
    "VenueRules": ".venues",
    "Scenario": ".scenario",
    "load_scenario": ".scenario",
    "run_scenario": ".scenario",
    "Population": ".population",
    "synthesize": ".population",
    "Positions": ".engine",
    "Run": ".engine",
    "simulate": ".engine",
    "liquidation_map": ".liqmap",
    "observed_liquidation_map": ".liqmap",
    "LiquidationMap": ".liqmap",
    "fetch_market_state": ".snapshot",
    "sweep": ".sweep",
    "SweepSpec": ".sweep",
    "calibrate": ".calibrate",
    "replay": ".pipeline",
    "ReplayResult": ".pipeline",
    "run_and_report": ".report",
    "InputError": ".errors",
}

__all__ = [
    "__version__",
    "get_venue",
    "VenueRules",
    "Scenario",
    "load_scenario",
    "run_scenario",
    "Population",
    "synthesize",
    "Positions",
    "Run",
    "simulate",
    "liquidation_map",
    "observed_liquidation_map",
    "LiquidationMap",
    "fetch_market_state",
    "sweep",
    "SweepSpec",
    "calibrate",
    "replay",
    "ReplayResult",
    "run_and_report",
    "InputError",
]


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first access (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'liqcascade' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
