"""Monte Carlo sweeps: many runs of one scenario over a grid of shocks and parameters.

``sweep(spec, backend="inprocess" | "processes" | "dask", ...) -> SweepResult``.

**The grid.**  A :class:`SweepSpec` names a scenario and, in any combination (cartesian product):

- exogenous **shocks** — a sell programme of ``usd`` (USD) over ``seconds`` on ``asset``, starting
  ``start_hour`` after the start, added to the scenario's own flows, on ``venue``'s book only or
  split across the asset's venues by depth (``"all"``).  A shock is delivered over whole steps:
  ``ceil(seconds / step)`` steps, the full USD amount in total;
- **parameter** ranges over the global model parameters, ``section.key`` as in
  ``model-parameters.toml`` (``market_maker.min_multiplier``, ``liquidation.adl_rule``,
  ``population.leverage_mix`` given as whole mixes, …), and ``depth.scale``, a factor applied to
  every market's depth;
- ``paths`` random **paths** per grid cell: seeded Gaussian noise on the order flow (USD per
  step per asset, :attr:`Flows.noise_usd`; independent of the model's own ``flows.noise_per_oi``
  noise, so the standard deviations add in quadrature) and mean-one lognormal noise on each
  market's depth.

Path ``i`` belongs to cell ``i // paths`` and is replicate ``k = i % paths``.  Its random numbers
come from ``np.random.SeedSequence([seed, k])`` only — replicate ``k`` of every cell sees the same
noise (common random numbers), so the difference between two cells is the cells' doing and the
amplification curve is not blurred by sampling noise.  A path is thus reproducible from
(scenario, parameters, seed, path index) alone, whatever backend or worker ran it.

**The population** is synthesised once (per distinct ``population.*`` setting, usually one) from
``seed`` and shared read-only by every path: pickled once into each worker process (the pool's
initializer, or Dask's ``scatter(..., broadcast=True)``), never per path.

**Streaming and resume.**  Paths run in chunks of consecutive indices; each finished chunk is
written at once as ``parts/part-<first>-<last>-<spec hash>.parquet`` (atomically: a temporary
file renamed into place) and dropped from memory.  A sweep restarted with the same spec finds its
directory (named by the spec's hash), skips the paths already in part files and runs the rest.
When all are done the parts are read in path order into ``paths.parquet`` and aggregated; no
figure depends on the order in which paths finished, so the results are bit for bit the same
for every backend and worker count.

**Per-path figures** (one row; USD unless named otherwise): ``liquidated_usd`` (true total),
``liquidated_usd_reported`` (what throttled public feeds show), ``drawdown_pct`` (peak-to-trough
fall of the shocked asset's index over the horizon, percent; per asset in ``drawdown_pct_<A>``),
``final_drawdown_pct`` (fall from the peak at the end of the horizon), ``insurance_fund_loss_usd``
(sum over venues of the fall of the fund from its start to the end, a venue whose fund grew
counts 0), ``adl_usd``, ``backstop_usd``, ``bad_debt_usd``, ``branching_ratio_max`` (largest
wave's USD liquidated / book USD within the move that set it off, the move counted as at least
1 bp; NaN when nothing was liquidated), ``waves``.

**Aggregates.**  Per grid cell: mean and quantiles of each figure (NumPy's default linear
interpolation), liquidation **value-at-risk** ``VaR_a`` = the ``a``-quantile of ``liquidated_usd``
and **expected shortfall** ``ES_a`` = the mean of the ``ceil(n (1 - a))`` largest values.

The **amplification curve** of a curve group (every coordinate but the shock size fixed) is the
median (and 5–95 % band) of ``drawdown_pct`` and ``liquidated_usd`` against shock size.

The **critical shock** estimator, on the group's grid of shock sizes ``s_0 < s_1 < …``, with
``m_i`` the median over paths of ``branching_ratio_max`` (NaN counts as 0) and ``d_i`` the median
``drawdown_pct``, drawdown steps ``D_i = d_i - d_{i-1}``:

    critical shock = the smallest s_i (i >= 1) with  m_i >= 1  and  D_i >= jump_share * max_j D_j > 0

i.e. the first grid shock at which the median cascade feeds itself *and* the median drawdown
takes one of its big steps (``jump_share`` = 0.5 by default).  ``status`` says how it came out:
``"found"``; ``"below_grid"`` when ``m_0 >= 1`` already at the smallest shock (the critical
shock is at or below it: extend the grid down); ``"not_reached"`` when no grid shock qualifies.
``branching_crossing_usd`` adds where the median branching ratio crosses 1, interpolated
linearly in log shock between the two grid points around the first crossing, and
``largest_jump_at_usd`` the grid shock at the end of the largest median-drawdown step (the jump
alone, whatever the branching ratio says).

The package holds one module per concern: :mod:`.spec` (the spec), :mod:`.plan` (the grid),
:mod:`.paths` (one path and a worker's chunk), :mod:`.runner` (the sweep, its part files and
resume), :mod:`.risk` (VaR, ES, curves, the critical shock), :mod:`.backends`, :mod:`.catalogue`
and :mod:`.report`.  Every public name is importable from ``liqcascade.sweep`` itself.
"""

from __future__ import annotations

from .backends import BACKENDS, connect_scheduler, local_cluster
from .catalogue import list_sweeps, register_sweep
from .paths import _init_worker as _init_worker  # the processes backend's initializer (tests name it)
from .paths import _Payload as _Payload  # what each worker holds (the sweep benchmark builds one)
from .paths import build_populations, path_seeds, run_chunk, run_path
from .plan import Plan, plan
from .report import write_sweep_report
from .risk import (
    METRICS,
    QUANTILES,
    aggregate,
    amplification_curve,
    cell_statistics,
    critical_shock,
    critical_shocks,
    grid_finding,
    var_es,
)
from .runner import SWEEPS_DIR, SweepResult, done_paths, read_parts, sweep, write_part
from .spec import (
    DEFAULT_SHOCKS_USD,
    DEPTH_SCALE,
    Noise,
    ShockGrid,
    SweepSpec,
    parse_floats,
    parse_parameter,
    parse_spec,
    spec_from_options,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_SHOCKS_USD",
    "DEPTH_SCALE",
    "METRICS",
    "QUANTILES",
    "SWEEPS_DIR",
    "Noise",
    "Plan",
    "ShockGrid",
    "SweepResult",
    "SweepSpec",
    "aggregate",
    "amplification_curve",
    "build_populations",
    "cell_statistics",
    "connect_scheduler",
    "critical_shock",
    "critical_shocks",
    "done_paths",
    "grid_finding",
    "list_sweeps",
    "local_cluster",
    "parse_floats",
    "parse_parameter",
    "parse_spec",
    "spec_from_options",
    "path_seeds",
    "plan",
    "read_parts",
    "register_sweep",
    "run_chunk",
    "run_path",
    "sweep",
    "var_es",
    "write_part",
    "write_sweep_report",
]

# ``liqcascade.sweep(...)`` is :func:`sweep` whether the package's ``sweep`` attribute is the
# function or, once imported, this package.
from .._callable import callable_module  # noqa: E402

callable_module(__name__, "liqcascade.sweep.runner:sweep")
