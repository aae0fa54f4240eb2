"""The replay pipeline as one library call: scenario → population → engine → summary →
(observed replays) attribution and counterfactual.

    >>> import liqcascade as lc
    >>> res = lc.replay("feb-2026", positions=20_000, seed=0)  # doctest: +SKIP
    >>> res.summary["liquidations_usd"], res.mode  # doctest: +SKIP

:func:`replay` runs it and returns a :class:`ReplayResult` (nothing is written);
:func:`liqcascade.report.run_and_report` composes it with the store and the report.  The
scenario's assembly (a bundled name or a TOML path, a parameters file, the mode, the targets) is
here too (:func:`load`, :func:`scenario_mode`, :func:`resolve_targets`), so that a notebook
reaches everything the ``run`` command does.

The liquidation prices the report's map draws come from the venues' rule books, computed once
per result (:attr:`ReplayResult.liquidation_prices`, :meth:`ReplayResult.liquidation_maps`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import pandas as pd

from .errors import InputError

if TYPE_CHECKING:
    from .replay import ObservedReplay
    from .scenario import ModelParameters, Scenario
    from .targets import Targets

#: how a scenario is replayed: on its real path (``observed``) or driven by its flows (``free``)
MODES = ("observed", "free")


# ---------------------------------------------------------------------------------- assembly
def load(scenario: Any = "feb-2026", *, parameters: str | Path | ModelParameters | None = None) -> Scenario:
    """A scenario from a bundled name, a TOML path or a loaded :class:`~liqcascade.scenario.Scenario`;
    ``parameters``: a global model-parameters file (or loaded parameters) instead of the bundled one."""
    from .scenario import ModelParameters, Scenario, load_parameters, load_scenario

    if isinstance(scenario, Scenario):
        if parameters is not None:
            raise InputError(
                "parameters go with a scenario's name or file, not with a loaded scenario "
                "(load_scenario(..., parameters=...) applies them)",
                field="parameters",
            )
        return scenario
    params = None
    if isinstance(parameters, ModelParameters):
        params = parameters
    elif parameters is not None:
        if not Path(parameters).is_file():
            raise InputError(f"no such file: {parameters}", field="parameters")
        params = load_parameters(parameters)
    return load_scenario(scenario, parameters=params)


def scenario_mode(scenario: Any, mode: str | None) -> str:
    """``mode`` checked, or the default: ``observed`` where the scenario has a market series,
    else ``free``."""
    has_series = hasattr(scenario, "series") and scenario.series() is not None
    if mode is None:
        return "observed" if has_series else "free"
    if mode not in MODES:
        raise InputError(f"must be one of {', '.join(MODES)}, got {mode!r}", field="mode")
    if mode == "observed" and not has_series:
        raise InputError(f"scenario {scenario.name} has no market series to replay: use --mode free", field="mode")
    return mode


def resolve_targets(targets: Any, scenario: Any) -> Targets | None:
    """The targets a run is compared with: ``"auto"`` (the bundled targets of the scenario's name,
    if any), a name or path, a loaded :class:`~liqcascade.targets.Targets`, or ``None``."""
    from .targets import BUNDLED_TARGETS, Targets, load_targets, require_known_keys

    if targets is None:
        return None
    if isinstance(targets, Targets):
        return targets
    if str(targets) == "auto":
        tg = load_targets(scenario.name) if scenario.name in BUNDLED_TARGETS else None
    else:
        tg = load_targets(targets)
    if tg is not None:  # a key the summary does not have is refused before the run
        require_known_keys(tg, [m.venue for m in scenario.spec.markets], list(scenario.spec.assets))
    return tg


def check_run_request(*, positions: Any = None, seed: Any = 0, out_dir: str | Path | None = None) -> None:
    """Refuse, before anything runs, a position count that is not a positive whole number, a
    negative or non-integer seed, and an output path that is a file."""
    if positions is not None and (
        isinstance(positions, bool) or not isinstance(positions, (int, np.integer)) or positions <= 0
    ):
        raise InputError(f"must be a positive whole number of positions, got {positions!r}", field="positions")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"must be a non-negative integer, got {seed!r}", field="seed")
    if out_dir is not None:
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise InputError(f"{out} exists and is not a directory", field="out")


# ---------------------------------------------------------------------------------- liquidation prices
def population_liquidation_prices(population: Any) -> np.ndarray:
    """Each synthetic position's liquidation price (USD) at the start, from the venues' rule
    books (cross positions against their account's wallet, as the engine margins them)."""
    from .population import MODE_CROSS
    from .venues import get_venue

    n = len(population)
    margin = np.asarray(population.margin, np.float64).copy()
    cross = np.asarray(population.mode) == MODE_CROSS
    margin[cross] = np.asarray(population.wallet)[np.asarray(population.account)[cross]]
    lp = np.full(n, np.nan)
    venue, asset, mode = (np.asarray(population.venue), np.asarray(population.asset), np.asarray(population.mode))
    for vi, v in enumerate(population.venues):
        rules = get_venue(v)
        for ai, a in enumerate(population.assets):
            table = rules.tier_table(rules.resolve_symbol(f"{str(a).upper()}/USDT:USDT"))
            for m in np.unique(mode):
                idx = np.flatnonzero((venue == vi) & (asset == ai) & (mode == m))
                if idx.size:
                    lp[idx] = rules.liquidation_price(
                        np.asarray(population.side)[idx],
                        np.asarray(population.size)[idx],
                        np.asarray(population.entry)[idx],
                        margin[idx],
                        table,
                        mode="cross" if m == MODE_CROSS else "isolated",
                    )
    return lp


def _nice_bin(price: float) -> float:
    """A round bin near 0.2 % of the price: 1, 2 or 5 × 10^k USD."""
    raw = max(price * 0.002, 1e-9)
    k = 10.0 ** math.floor(math.log10(raw))
    return min((m * k for m in (1.0, 2.0, 5.0, 10.0)), key=lambda b: abs(b - raw))


def liquidation_maps(
    population: Any, scenario: Any, liquidation_prices: np.ndarray | None = None
) -> dict[str, dict[str, Any]]:
    """Per asset, the USD of the synthetic positions (notional at entry) whose liquidation price
    lies in each price bin, all venues together, within ±50 % of the start price.  Built with
    :func:`liqcascade.liqmap.observed_liquidation_map` on the modelled positions: the map is
    *modelled* (synthetic population), not observed.  Entry orders that open only during the
    run (``population.pending``) are not on the map: before the crash they hold no position.
    ``liquidation_prices``: the positions' (:func:`population_liquidation_prices`, computed when
    not given)."""
    from .liqmap import observed_liquidation_map

    lp = population_liquidation_prices(population) if liquidation_prices is None else liquidation_prices
    assets = [str(a) for a in population.assets]
    side = np.where(np.asarray(population.side) > 0, "long", "short")
    out: dict[str, dict[str, Any]] = {}
    for ai, a in enumerate(assets):
        sel = (np.asarray(population.asset) == ai) & ~population.is_pending
        start = float(scenario.spec.assets[a].start_price)
        frame = pd.DataFrame(
            {
                "account": np.asarray(population.account)[sel],
                "symbol": a,
                "side": side[sel],
                "size": np.asarray(population.size)[sel],
                "entry": np.asarray(population.entry)[sel],
                "liquidation_price": lp[sel],
                "margin": np.asarray(population.margin)[sel],
            }
        )
        if frame.empty:
            continue
        bin_size = _nice_bin(start)
        lo = math.floor(start * 0.5 / bin_size) * bin_size
        hi = math.ceil(start * 1.5 / bin_size) * bin_size
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # positions no positive price liquidates: counted in meta
            try:
                m = observed_liquidation_map(
                    frame, symbol=a, bin_size=bin_size, price_range=(lo, hi), venue="all venues"
                )
            except Exception as exc:  # noqa: BLE001 - a map that cannot be drawn is reported, not fatal
                out[a] = {"error": str(exc), "start_price": start}
                continue
        prof = m.profile(0)
        out[a] = {
            "price": prof["price_level"].to_numpy() + bin_size / 2,
            "long_usd": prof["long_usd"].to_numpy(),
            "short_usd": prof["short_usd"].to_numpy(),
            "bin_size": bin_size,
            "start_price": start,
            "positions": int(m.meta.get("positions", 0)),
            "without_price": int(m.meta.get("dropped_without_liquidation_price", 0)),
            "out_of_range_usd": float(m.meta.get("out_of_range_usd", 0.0)),
        }
    return out


# ---------------------------------------------------------------------------------- the pipeline
@dataclass
class ReplayResult:
    """One replay in memory: the scenario, how it ran (``mode``, ``seed``), the engine's
    :class:`~liqcascade.engine.Run`, the population, the summary (:func:`liqcascade.summary.summarize`
    plus ``mode`` and, for observed replays, ``attribution`` and ``counterfactual``), and the
    observed replay's paths, attribution and counterfactual paths (``observed``; None when free)."""

    scenario: Any
    mode: str
    seed: int
    run: Any = field(repr=False)
    population: Any = field(repr=False)
    summary: dict[str, Any] = field(repr=False)
    observed: ObservedReplay | None = field(default=None, repr=False)

    @cached_property
    def liquidation_prices(self) -> np.ndarray:
        """Each position's liquidation price at the start (USD), from its venue's rule book."""
        return population_liquidation_prices(self.population)

    def liquidation_maps(self) -> dict[str, dict[str, Any]]:
        """The modelled liquidation map at the start per asset (:func:`liquidation_maps`)."""
        return liquidation_maps(self.population, self.scenario, self.liquidation_prices)


def replay(
    scenario: Any = "feb-2026",
    *,
    mode: str | None = None,
    seed: int = 0,
    positions: int | None = None,
    parameters: str | Path | ModelParameters | None = None,
    progress: Callable[[str], None] | None = None,
) -> ReplayResult:
    """Replay a scenario (a bundled name, a TOML path or a loaded
    :class:`~liqcascade.scenario.Scenario`) and summarise it; nothing is written.

    ``mode``: ``observed`` (the real path drives the price: :func:`liqcascade.replay.run_observed`,
    with its attribution and counterfactual) or ``free`` (the scenario's flows do); default
    observed where the scenario has a market series.  ``positions``: positions drawn (default the
    real count).  ``parameters``: a global model-parameters file or loaded parameters.
    ``progress(stage)`` is told when the population and the engine start.  Bad input raises
    :class:`InputError` before anything runs."""
    from .scenario import run_scenario
    from .summary import summarize

    check_run_request(positions=positions, seed=seed)
    sc = load(scenario, parameters=parameters)
    mode = scenario_mode(sc, mode)
    tell = progress or (lambda stage: None)

    def forward(stage: str) -> None:
        if stage in ("population", "engine"):
            tell(stage)

    n = None if positions is None else int(positions)
    observed = None
    if mode == "observed":
        from .replay import run_observed

        observed = run_observed(sc, n_positions=n, seed=int(seed), progress=forward)
        run, population = observed.run, observed.population
    else:
        run, population = run_scenario(sc, n_positions=n, seed=int(seed), progress=forward)
    summary = summarize(run, population, sc, seed=int(seed))
    summary["mode"] = mode
    if observed is not None:
        summary["attribution"] = observed.attribution.summary
        summary["counterfactual"] = observed.counterfactual
    return ReplayResult(sc, mode, int(seed), run, population, summary, observed)
