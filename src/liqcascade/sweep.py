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
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import InputError

SWEEPS_DIR = "sweeps"
BACKENDS = ("inprocess", "processes", "dask")
DEFAULT_SHOCKS_USD = (1e8, 2e8, 5e8, 1e9, 2e9, 5e9, 1e10)
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
METRICS = ("liquidated_usd", "liquidated_usd_reported", "drawdown_pct", "final_drawdown_pct",
           "insurance_fund_loss_usd", "adl_usd", "bad_debt_usd", "branching_ratio_max", "waves")
_PARAM_SECTIONS = ("population", "market_maker", "prices", "flows", "cohorts", "liquidation")
DEPTH_SCALE = "depth.scale"


# ================================================================================ the spec
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ShockGrid(_Strict):
    """Exogenous sell programmes: every combination of the lists is one grid axis value."""

    usd: list[float] = Field(min_length=1, description="shock sizes, USD sold")
    seconds: list[float] = Field(default=[600.0], min_length=1, description="durations, seconds")
    asset: list[str] = Field(default=["BTC"], min_length=1)
    venue: list[str] = Field(default=["all"], min_length=1)
    start_hour: float = Field(0.0, ge=0, description="hours after the scenario's start")

    @field_validator("usd")
    @classmethod
    def _usd(cls, v):
        for x in v:
            if not (math.isfinite(x) and x >= 0):
                raise ValueError(f"shock sizes must be non-negative USD amounts, got {x!r}")
        if len(set(v)) != len(v):
            raise ValueError("shock sizes repeat")
        return sorted(v)

    @field_validator("seconds")
    @classmethod
    def _seconds(cls, v):
        for x in v:
            if not (math.isfinite(x) and x > 0):
                raise ValueError(f"shock durations must be positive seconds, got {x!r}")
        return v

    @field_validator("asset")
    @classmethod
    def _asset(cls, v):
        return [a.upper() for a in v]

    @field_validator("venue")
    @classmethod
    def _venue(cls, v):
        v = [x.lower() for x in v]
        from .venues import VENUES

        for x in v:
            if x != "all" and x not in VENUES:
                raise ValueError(f"venue {x!r}: use 'all' or one of {', '.join(VENUES)}")
        return v


class Noise(_Strict):
    """Random paths: Gaussian order-flow noise and lognormal depth noise."""

    flow_usd: float | dict[str, float] = Field(0.0, description="std of USD per step, per asset (or one for all)")
    depth: float = Field(0.0, ge=0, le=3, description="sigma of the mean-one lognormal factor on each market's depth")

    @field_validator("flow_usd")
    @classmethod
    def _flow(cls, v):
        vals = v.values() if isinstance(v, dict) else [v]
        for x in vals:
            if not (math.isfinite(x) and x >= 0):
                raise ValueError(f"must be a non-negative USD standard deviation, got {x!r}")
        return {k.upper(): float(x) for k, x in v.items()} if isinstance(v, dict) else float(v)


class SweepSpec(_Strict):
    """What to sweep (see the module docstring)."""

    scenario: str = "feb-2026"
    shocks: ShockGrid | None = None
    parameters: dict[str, list[Any]] = Field(default_factory=dict)
    paths: int = Field(1, description="random paths per grid cell")
    seed: int = Field(0, ge=0)
    noise: Noise = Field(default_factory=Noise)
    n_steps: int | None = Field(None, gt=0, description="horizon in steps (default: the scenario's)")
    step_seconds: float | None = Field(None, gt=0, description="step, seconds (default: the scenario's)")
    positions: int | None = Field(100_000, gt=0, description="positions drawn (None: the real count)")
    levels: list[float] = Field(default=[0.95, 0.99], min_length=1, description="VaR / ES levels")
    jump_share: float = Field(0.5, gt=0, le=1)

    @field_validator("paths")
    @classmethod
    def _paths(cls, v):
        if v <= 0:
            raise ValueError(f"must be a positive number of paths per grid cell, got {v}")
        return v

    @field_validator("levels")
    @classmethod
    def _levels(cls, v):
        for a in v:
            if not 0 < a < 1:
                raise ValueError(f"levels are probabilities in (0, 1), got {a!r}")
        return sorted(v)

    @field_validator("parameters")
    @classmethod
    def _parameters(cls, v):
        for k, vals in v.items():
            if not vals:
                raise ValueError(f"{k}: empty list of values (the grid would be empty)")
        return v

    @model_validator(mode="after")
    def _horizon(self):
        if self.n_steps is not None and self.step_seconds is not None and self.n_steps * self.step_seconds > 14 * 86400:
            raise ValueError("horizon longer than 14 days")
        return self

    def canonical(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def _one_line(err: ValidationError) -> InputError:
    e = err.errors()[0]
    path = ""
    for part in e["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] == "extra_forbidden":
        msg = "unknown key"
    return InputError(f"sweep spec: {msg}", field=path or None)


def parse_spec(spec: SweepSpec | dict | str | Path) -> SweepSpec:
    """A validated :class:`SweepSpec` from a spec, a dict, or a JSON/TOML file's path."""
    if isinstance(spec, SweepSpec):
        return spec
    if isinstance(spec, (str, Path)):
        p = Path(spec)
        if not p.is_file():
            raise InputError(f"no such sweep spec file: {p}", field="spec")
        text = p.read_text("utf-8")
        try:
            if p.suffix == ".toml":
                import tomllib

                spec = tomllib.loads(text)
            else:
                spec = json.loads(text)
        except ValueError as e:
            raise InputError(f"{p}: not valid {p.suffix.lstrip('.') or 'JSON'}: {e}", field="spec") from None
    try:
        return SweepSpec.model_validate(spec)
    except ValidationError as e:
        raise _one_line(e) from None


# ================================================================================ the plan
@dataclasses.dataclass
class Plan:
    """The expanded grid: axes (name, values), the scenario with the horizon applied, the base
    parameters and the validated parameters of every value of every parameter axis."""

    spec: SweepSpec
    scenario: Any
    n_steps: int
    dt: float
    axes: list[tuple[str, list[Any]]]
    spec_hash: str

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(v) for _, v in self.axes)

    @property
    def n_cells(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def n_paths(self) -> int:
        return self.n_cells * self.spec.paths

    def coordinates(self, path: int) -> dict[str, Any]:
        cell, _ = divmod(path, self.spec.paths)
        idx = np.unravel_index(cell, self.shape)
        return {name: values[int(i)] for (name, values), i in zip(self.axes, idx)}

    @property
    def param_keys(self) -> list[str]:
        return [k for k, _ in self.axes if not k.startswith("shock_")]


def _label(v: Any) -> Any:
    """A grid value as a Parquet cell: numbers and strings as they are, anything else as JSON."""
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, (int, float, str)):
        return v
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


def _short(v: Any, width: int = 60) -> str:
    text = repr(v)
    return text if len(text) <= width else text[: width - 1] + "…"


def _apply_params(base, assignments: dict[str, Any], where: str = "parameters"):
    """``base`` (ModelParameters) with dotted-key values set, validated (one line on error)."""
    from .scenario import ModelParameters

    merged = base.model_dump()
    for key, value in assignments.items():
        if key == DEPTH_SCALE:
            continue
        section, _, name = key.partition(".")
        merged[section][name] = value
    try:
        return ModelParameters.model_validate(merged)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        value = ", ".join(f"{k} = {_short(v)}" for k, v in assignments.items() if k != DEPTH_SCALE)
        inner = "" if where.endswith(loc) else f" ({loc})"
        raise InputError(f"sweep spec: {value}: {err['msg'].removeprefix('Value error, ')}{inner}",
                         field=where) from None


def plan(spec: SweepSpec | dict, scenario=None) -> Plan:
    """Validate a spec against its scenario and expand the grid (no engine run)."""
    from .scenario import Scenario, load_scenario
    from .summary import parameters_hash, scenario_hash

    spec = parse_spec(spec)
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(spec.scenario)
    # the horizon override
    dt = float(spec.step_seconds or sc.spec.step_seconds)
    n_steps = int(spec.n_steps) if spec.n_steps else int(round(sc.spec.horizon_hours * 3600.0 / dt))
    if n_steps <= 0:
        raise InputError("sweep spec: the horizon holds no step", field="n_steps")
    file = sc.spec.model_copy(update={"horizon_hours": n_steps * dt / 3600.0, "step_seconds": dt})
    sc = Scenario(file, sc.params, list(sc.overridden), sc.source, sc.text)

    axes: list[tuple[str, list[Any]]] = []
    sh = spec.shocks
    if sh is not None:
        for a in sh.asset:
            if a not in file.assets:
                raise InputError(f"sweep spec: {a!r} is not an asset of {sc.name} "
                                 f"({', '.join(file.assets)})", field="shocks.asset")
        venues = {m.venue for m in file.markets}
        for v in sh.venue:
            if v != "all" and v not in venues:
                raise InputError(f"sweep spec: {v!r} is not a venue of {sc.name} ({', '.join(sorted(venues))})",
                                 field="shocks.venue")
            for a in sh.asset:
                if v != "all" and not any(m.venue == v and m.asset == a for m in file.markets):
                    raise InputError(f"sweep spec: {sc.name} has no {v} {a} market", field="shocks.venue")
        if sh.start_hour * 3600.0 >= n_steps * dt:
            raise InputError(f"sweep spec: {sh.start_hour:g} h is beyond the horizon "
                             f"({n_steps * dt / 3600:g} h)", field="shocks.start_hour")
        axes += [("shock_usd", list(sh.usd)), ("shock_seconds", list(sh.seconds)), ("shock_asset", list(sh.asset)),
                 ("shock_venue", list(sh.venue))]
    else:
        axes += [("shock_usd", [0.0]), ("shock_seconds", [0.0]), ("shock_asset", [next(iter(file.assets))]),
                 ("shock_venue", ["all"])]
    dump = sc.params.model_dump()
    for key, values in spec.parameters.items():
        if key == DEPTH_SCALE:
            for v in values:
                if not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0):
                    raise InputError(f"sweep spec: a depth factor must be a positive number, "
                                     f"got {v!r}", field=f"parameters.{key}")
        else:
            section, dot, name = key.partition(".")
            if not dot or section not in _PARAM_SECTIONS or name not in dump.get(section, {}):
                raise InputError(f"sweep spec: unknown parameter (section.key of "
                                 f"model-parameters.toml, or {DEPTH_SCALE})", field=f"parameters.{key}")
            for v in values:
                _apply_params(sc.params, {key: v}, where=f"parameters.{key}")
        values = list(values)
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            values = [float(v) for v in values]  # one column type, whichever chunk a part holds
        axes.append((key, values))
    h = hashlib.sha256()
    h.update(spec.canonical().encode())
    h.update(scenario_hash(sc).encode())
    h.update(parameters_hash(sc).encode())
    return Plan(spec, sc, n_steps, dt, axes, h.hexdigest()[:16])


# ================================================================================ one path
def _population_key(plan: Plan, coords: dict[str, Any]) -> str:
    return json.dumps({k: coords[k] for k in plan.param_keys if k.startswith("population.")}, sort_keys=True)


def build_populations(plan: Plan) -> dict[str, Any]:
    """One population per distinct ``population.*`` setting of the grid (usually one), each
    synthesised once from the spec's seed."""
    from .scenario import Scenario, build_population

    keys = [k for k in plan.param_keys if k.startswith("population.")]
    values = [dict(plan.axes)[k] for k in keys]
    out = {}
    for combo in itertools.product(*values):
        assign = dict(zip(keys, combo))
        params = _apply_params(plan.scenario.params, assign)
        sc = Scenario(plan.scenario.spec, params, plan.scenario.overridden, plan.scenario.source, plan.scenario.text)
        out[json.dumps(assign, sort_keys=True)] = build_population(sc, n_positions=plan.spec.positions,
                                                                   seed=plan.spec.seed)
    return out


@dataclasses.dataclass
class _Payload:
    """What every worker holds once: the plan and the shared, read-only populations."""

    plan: Plan
    populations: dict[str, Any]
    token: str = dataclasses.field(default_factory=lambda: os.urandom(8).hex())  # keys the worker's cache


_CACHE: dict[tuple, tuple] = {}  # per process: engine inputs per (population, parameter cell)
_WORKER_PAYLOAD: _Payload | None = None


def _engine_inputs(payload: _Payload, coords: dict[str, Any]):
    from .scenario import Scenario, build_engine_inputs

    plan = payload.plan
    assign = {k: coords[k] for k in plan.param_keys if k != DEPTH_SCALE}
    key = (payload.token, json.dumps({k: _label(v) for k, v in assign.items()}, sort_keys=True))
    hit = _CACHE.get(key)
    if hit is None:
        params = _apply_params(plan.scenario.params, assign)
        sc = Scenario(plan.scenario.spec, params, plan.scenario.overridden, plan.scenario.source, plan.scenario.text)
        pop = payload.populations[_population_key(plan, coords)]
        hit = (sc, *build_engine_inputs(sc, pop))
        if len(_CACHE) >= 8:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = hit
    return hit


def path_seeds(seed: int, replicate: int) -> tuple[int, np.random.Generator]:
    """The engine's seed (flow noise) and a generator for the depth noise of replicate ``k``."""
    flow_ss, depth_ss = np.random.SeedSequence([int(seed), int(replicate)]).spawn(2)
    return int(flow_ss.generate_state(1, np.uint32)[0]), np.random.default_rng(depth_ss)


def run_path(payload: _Payload, path: int) -> dict[str, Any]:
    """Run path ``path`` and return its row of figures (see the module docstring)."""
    from .engine import DepthProfile, Liquidity, programme, simulate

    plan = payload.plan
    spec = plan.spec
    coords = plan.coordinates(path)
    sc, positions, liquidity, prices, flows = _engine_inputs(payload, coords)
    replicate = path % spec.paths
    engine_seed, depth_rng = path_seeds(spec.seed, replicate)
    dt, n_steps = plan.dt, plan.n_steps

    # depth: the grid's factor times a mean-one lognormal factor per market (sorted keys: stable draws)
    scale = float(coords.get(DEPTH_SCALE, 1.0))
    keys = sorted(liquidity.profiles)
    sigma = spec.noise.depth
    z = depth_rng.standard_normal(len(keys)) if sigma > 0 else np.zeros(len(keys))
    profiles = {}
    for k, zi in zip(keys, z):
        p = liquidity.profiles[k]
        f = scale * math.exp(sigma * zi - 0.5 * sigma * sigma)
        profiles[k] = DepthProfile(p.bid_b * f, p.ask_b * f, p.bid_kappa, p.ask_kappa)
    # spot books (where the scenario has them) take the grid's factor; the book shape is kept
    spot = {a: DepthProfile(p.bid_b * scale, p.ask_b * scale, p.bid_kappa, p.ask_kappa)
            for a, p in liquidity.spot.items()}
    liq = Liquidity(profiles, liquidity.response, spot=spot, touch_u=liquidity.touch_u)

    progs = list(flows.programmes)
    usd = float(coords["shock_usd"])
    if usd > 0:
        n_on = max(1, math.ceil(float(coords["shock_seconds"]) / dt - 1e-9))
        k0 = math.ceil(spec.shocks.start_hour * 3600.0 / dt - 1e-9)
        venue = coords.get("shock_venue", "all")
        progs.append(programme(coords["shock_asset"], -usd / (n_on * dt) * 86_400.0, k0 * dt, (k0 + n_on) * dt,
                               venue=None if venue == "all" else venue))
    # the sweep's flow noise is independent of the model's own (flows.noise_per_oi): variances add
    nf = spec.noise.flow_usd
    extra = dict(nf) if isinstance(nf, dict) else ({a.upper(): nf for a in positions.assets} if nf > 0 else {})
    noise = {a.upper(): float(sd) for a, sd in flows.noise_usd.items()}
    for a, sd in extra.items():
        noise[a] = math.hypot(noise.get(a, 0.0), sd)
    fl = dataclasses.replace(flows, programmes=progs, noise_usd=noise)

    run = simulate(positions, liq, prices, fl, n_steps=n_steps, dt=dt, insurance_fund=sc.spec.insurance_fund_usd,
                   adl_rule=sc.params.liquidation.adl_rule, seed=engine_seed,
                   vault_unwind_half_life_s=sc.params.liquidation.vault_unwind_half_life_s)
    return _row(plan, path, coords, run, positions, liq, sc)


def _row(plan: Plan, path: int, coords, run, positions, liq, sc) -> dict[str, Any]:
    """The path's figures, read from the run's arrays (no frame operations)."""
    s = run.summary
    steps = run.steps
    venues, assets = tuple(positions.venues), tuple(a.upper() for a in positions.assets)
    nv, na = len(venues), len(assets)
    nm = nv * na
    # the engine's index: mids weighted by depth within 1 % (both sides), per asset; start price first
    mid = steps["mid"].to_numpy().reshape(plan.n_steps, nm)
    w = np.zeros((nm, na))
    for m in range(nm):
        v, a = divmod(m, na)
        p = liq.profiles.get((venues[v], assets[a]))
        if p is not None:
            w[m, a] = p.depth_within(1.0)
    w /= np.where(w.sum(axis=0) > 0, w.sum(axis=0), 1.0)
    p0 = np.array([sc.spec.assets[a].start_price for a in assets])
    index = np.vstack([p0[None, :], mid @ w])
    peak = np.maximum.accumulate(index, axis=0)
    final_dd = (1.0 - index[-1] / peak[-1]) * 100.0
    fund = steps["insurance_fund_usd"].to_numpy()[-nm:].reshape(nv, na)[:, 0]
    fund0 = np.array([float(sc.spec.insurance_fund_usd.get(v, 0.0)) for v in venues])
    bad = float(steps["bad_debt_usd"].to_numpy()[-nm:].sum())
    dd = s.get("drawdown_pct", {})
    shocked = str(coords["shock_asset"])
    br = s.get("branching_ratio_path_max", float("nan"))
    row: dict[str, Any] = {"path": int(path), "cell": int(path // plan.spec.paths),
                           "replicate": int(path % plan.spec.paths)}
    for k, v in coords.items():
        row[k] = _label(v)
    row.update({
        "liquidated_usd": float(s["true_total_liquidated_usd"]),
        "liquidated_usd_reported": float(s["as_reported_total_usd"]),
        "drawdown_pct": float(dd.get(shocked, float("nan"))),
        "final_drawdown_pct": float(final_dd[assets.index(shocked)]) if shocked in assets else float("nan"),
        "insurance_fund_loss_usd": float(np.maximum(fund0 - fund, 0.0).sum()),
        "adl_usd": float(s["adl_usd"]),
        "backstop_usd": float(s["backstop_usd"]),
        "bad_debt_usd": bad,
        "branching_ratio_max": float(br) if br is not None else float("nan"),
        "waves": int(s["waves_total"]),
        "liquidation_events": int(s["liquidation_events"]),
        "ledger_imbalance_usd": float(s["ledger_imbalance_usd"]),
    })
    for a in assets:
        row[f"drawdown_pct_{a}"] = float(dd.get(a, float("nan")))
    return row


def run_chunk(payload: _Payload | None, paths: Sequence[int]) -> list[dict[str, Any]]:
    """Rows of consecutive paths (``payload`` None: the one this worker process was given)."""
    payload = payload if payload is not None else _WORKER_PAYLOAD
    if payload is None:  # pragma: no cover
        raise RuntimeError("worker has no sweep payload")
    import multiprocessing as mp

    if mp.parent_process() is not None:  # a worker process: its siblings have the other cores
        os.environ["LIQCASCADE_THREADS"] = "1"
    return [run_path(payload, int(i)) for i in paths]


def _init_worker(payload: _Payload) -> None:
    global _WORKER_PAYLOAD
    _WORKER_PAYLOAD = payload
    # Ctrl-C reaches the whole process group: the parent stops the sweep and says so in one line;
    # a worker finishes its chunk quietly instead of printing its own KeyboardInterrupt traceback
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


# ================================================================================ parts on disk
_PART = re.compile(r"^part-(\d{9})-(\d{9})-([0-9a-f]{16})\.parquet$")


def _part_name(first: int, last: int, spec_hash: str) -> str:
    return f"part-{first:09d}-{last:09d}-{spec_hash}.parquet"


def done_paths(parts_dir: Path, spec_hash: str, n_paths: int) -> np.ndarray:
    """Boolean mask of the paths already in part files of this spec."""
    done = np.zeros(n_paths, bool)
    if parts_dir.is_dir():
        for p in parts_dir.iterdir():
            m = _PART.match(p.name)
            if m and m.group(3) == spec_hash:
                a, b = int(m.group(1)), int(m.group(2))
                if b < n_paths:
                    done[a:b + 1] = True
    return done


def write_part(parts_dir: Path, rows: list[dict[str, Any]], spec_hash: str) -> Path:
    """Write one chunk's rows atomically (temporary file, then rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    first, last = rows[0]["path"], rows[-1]["path"]
    final = parts_dir / _part_name(first, last, spec_hash)
    tmp = parts_dir / f".{final.name}.tmp-{os.getpid()}"
    table = pa.Table.from_pylist(rows)
    table = table.replace_schema_metadata({"spec_hash": spec_hash})
    pq.write_table(table, tmp)
    os.replace(tmp, final)
    return final


def read_parts(parts_dir: Path, spec_hash: str) -> pd.DataFrame:
    """All part files of this spec, one row per path, sorted by path index."""
    files = sorted(p for p in parts_dir.iterdir() if (m := _PART.match(p.name)) and m.group(3) == spec_hash)
    if not files:
        return pd.DataFrame()
    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    return frame.sort_values("path", kind="stable").drop_duplicates("path").reset_index(drop=True)


def _chunks(missing: np.ndarray, size: int) -> list[list[int]]:
    """Runs of consecutive missing path indices, cut into chunks of at most ``size``."""
    out: list[list[int]] = []
    cur: list[int] = []
    for i in missing.tolist():
        if cur and (i != cur[-1] + 1 or len(cur) >= size):
            out.append(cur)
            cur = []
        cur.append(i)
    if cur:
        out.append(cur)
    return out


# ================================================================================ aggregation
def var_es(x: np.ndarray, level: float) -> tuple[float, float]:
    """Value-at-risk (the ``level``-quantile, linear interpolation) and expected shortfall (the
    mean of the ``ceil(n (1 - level))`` largest values) of losses ``x``."""
    x = np.sort(np.asarray(x, np.float64)[np.isfinite(x)])
    if len(x) == 0:
        return float("nan"), float("nan")
    k = max(1, math.ceil(len(x) * (1.0 - level) - 1e-9))
    return float(np.quantile(x, level)), float(np.mean(x[-k:]))


def _group_cols(frame: pd.DataFrame, plan_axes: Sequence[str], drop: Sequence[str] = ()) -> list[str]:
    return [c for c in plan_axes if c in frame.columns and c not in drop]


def cell_statistics(frame: pd.DataFrame, axes: Sequence[str], levels: Sequence[float] = (0.95, 0.99),
                    quantiles: Sequence[float] = QUANTILES) -> pd.DataFrame:
    """Per grid cell (rows grouped by ``axes``; all rows as one group when ``axes`` is empty):
    paths, and per figure the mean and quantiles; VaR and ES of ``liquidated_usd`` per level."""
    cols = _group_cols(frame, axes)
    groups = frame.groupby(cols, sort=True, dropna=False) if cols else [((), frame)]
    out = []
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        rec: dict[str, Any] = dict(zip(cols, key))
        rec["paths"] = len(g)
        for m in METRICS:
            if m not in g.columns:
                continue
            x = g[m].to_numpy(np.float64)
            fin = x[np.isfinite(x)]
            rec[f"{m}_mean"] = float(np.mean(fin)) if len(fin) else float("nan")
            qs = np.quantile(fin, quantiles) if len(fin) else np.full(len(quantiles), np.nan)
            for q, v in zip(quantiles, qs):
                rec[f"{m}_q{round(q * 100):02d}"] = float(v)
        for a in levels:
            var, es = var_es(g["liquidated_usd"].to_numpy(np.float64), a)
            tag = f"{a * 100:g}".replace(".", "_")
            rec[f"liquidation_var{tag}_usd"] = var
            rec[f"liquidation_es{tag}_usd"] = es
        out.append(rec)
    return pd.DataFrame(out)


def amplification_curve(frame: pd.DataFrame, axes: Sequence[str]) -> pd.DataFrame:
    """Per curve group (every axis but ``shock_usd``) and shock size: medians and 5–95 % bands of
    ``drawdown_pct``, ``final_drawdown_pct`` and ``liquidated_usd``; median branching ratio
    (NaN counted as 0: no wave, nothing fed back)."""
    cols = _group_cols(frame, axes, drop=("shock_usd",))
    out = []
    for key, g in (frame.groupby(cols + ["shock_usd"], sort=True, dropna=False) if cols
                   else frame.groupby(["shock_usd"], sort=True)):
        key = key if isinstance(key, tuple) else (key,)
        rec = dict(zip(cols + ["shock_usd"], key))
        rec["paths"] = len(g)
        for m in ("drawdown_pct", "final_drawdown_pct", "liquidated_usd"):
            if m not in g.columns:
                continue
            x = g[m].to_numpy(np.float64)
            x = x[np.isfinite(x)]
            q = np.quantile(x, (0.05, 0.5, 0.95)) if len(x) else (np.nan,) * 3
            rec[f"{m}_q05"], rec[f"{m}_median"], rec[f"{m}_q95"] = map(float, q)
        br = np.nan_to_num(g["branching_ratio_max"].to_numpy(np.float64), nan=0.0)
        rec["branching_ratio_median"] = float(np.median(br))
        out.append(rec)
    return pd.DataFrame(out)


def critical_shock(shock_usd, branching_median, drawdown_median, *, jump_share: float = 0.5) -> dict[str, Any]:
    """The critical shock of one amplification curve (estimator in the module docstring)."""
    s = np.asarray(shock_usd, np.float64)
    m = np.nan_to_num(np.asarray(branching_median, np.float64), nan=0.0)
    d = np.nan_to_num(np.asarray(drawdown_median, np.float64), nan=0.0)
    o = np.argsort(s, kind="stable")
    s, m, d = s[o], m[o], d[o]
    res: dict[str, Any] = {"critical_shock_usd": None, "status": "not_reached", "branching_crossing_usd": None,
                           "drawdown_jump_pct": None, "branching_median_at": None, "largest_jump_at_usd": None,
                           "largest_jump_pct": None}
    if len(s) == 0:
        return res
    if len(s) >= 2 and np.max(np.diff(d)) > 0:
        j = int(np.argmax(np.diff(d)))
        res["largest_jump_at_usd"], res["largest_jump_pct"] = float(s[j + 1]), float(d[j + 1] - d[j])
    up = np.flatnonzero(m >= 1.0)
    if len(up):
        i = int(up[0])
        if i == 0:
            res["branching_crossing_usd"] = float(s[0])
        else:
            ls0 = math.log(max(s[i - 1], 1.0))
            ls1 = math.log(max(s[i], 1.0))
            frac = (1.0 - m[i - 1]) / (m[i] - m[i - 1]) if m[i] != m[i - 1] else 1.0
            res["branching_crossing_usd"] = float(math.exp(ls0 + frac * (ls1 - ls0)))
    if m[0] >= 1.0:
        res.update(critical_shock_usd=float(s[0]), status="below_grid", branching_median_at=float(m[0]))
        return res
    if len(s) < 2:
        return res
    jumps = np.diff(d)
    big = float(np.max(jumps))
    if big <= 0:
        return res
    for i in range(1, len(s)):
        if m[i] >= 1.0 and jumps[i - 1] >= jump_share * big:
            res.update(critical_shock_usd=float(s[i]), status="found", drawdown_jump_pct=float(jumps[i - 1]),
                       branching_median_at=float(m[i]))
            break
    return res


def grid_finding(shock_usd, branching_median, drawdown_median, crit: dict[str, Any]) -> str:
    """One sentence saying what one amplification curve shows: the median drawdown from the
    smallest to the largest shock and its largest step, where the median branching ratio stands,
    and what the critical-shock status means on this grid (``below_grid``: every shock is already
    past R = 1, so the grid does not bracket the critical point)."""
    from .targets import fmt

    s = np.asarray(shock_usd, np.float64)
    o = np.argsort(s, kind="stable")
    s = s[o]
    m = np.nan_to_num(np.asarray(branching_median, np.float64)[o], nan=0.0)
    d = np.nan_to_num(np.asarray(drawdown_median, np.float64)[o], nan=0.0)
    if len(s) == 0:
        return "the grid is empty"
    parts = [f"median drawdown {d[0]:.1f} % at {fmt(s[0], 'USD')}"
             + (f" to {d[-1]:.1f} % at {fmt(s[-1], 'USD')}" if len(s) > 1 else "")]
    if crit.get("largest_jump_at_usd") is not None:
        parts.append(f"its largest step +{crit['largest_jump_pct']:.1f} points into {fmt(crit['largest_jump_at_usd'], 'USD')}")
    r = f"median branching ratio {m[0]:.3g}" + (f" to {m[-1]:.3g}" if len(s) > 1 else "")
    status = crit.get("status")
    if status == "below_grid":
        tail = (f"{r}: at or above 1 from the smallest shock on, so the critical shock lies at or below "
                f"{fmt(s[0], 'USD')}, outside the grid (extend --shocks downward to bracket it)")
    elif status == "found":
        tail = (f"{r}: critical shock {fmt(crit['critical_shock_usd'], 'USD')}, where the ratio is "
                f"{crit['branching_median_at']:.3g} and the drawdown steps +{crit['drawdown_jump_pct']:.1f} points")
    elif np.all(m < 1.0):
        tail = f"{r}: below 1 at every shock, no critical shock up to {fmt(s[-1], 'USD')}"
    else:
        tail = f"{r}: no shock where the ratio is >= 1 coincides with a large drawdown step: no critical shock"
    return "; ".join(parts + [tail])


_CRIT_FIELDS = ("critical_shock_usd", "status", "branching_crossing_usd", "drawdown_jump_pct", "branching_median_at",
                "largest_jump_at_usd", "largest_jump_pct")


def critical_shocks(curve: pd.DataFrame, axes: Sequence[str], *, jump_share: float = 0.5) -> pd.DataFrame:
    """:func:`critical_shock` of every curve group."""
    cols = _group_cols(curve, axes, drop=("shock_usd",))
    out = []
    for key, g in (curve.groupby(cols, sort=True, dropna=False) if cols else [((), curve)]):
        key = key if isinstance(key, tuple) else (key,)
        rec = dict(zip(cols, key))
        rec.update(critical_shock(g["shock_usd"], g["branching_ratio_median"], g["drawdown_pct_median"],
                                  jump_share=jump_share))
        out.append(rec)
    return pd.DataFrame(out)


def aggregate(frame: pd.DataFrame, axes: Sequence[str], *, levels: Sequence[float] = (0.95, 0.99),
              jump_share: float = 0.5) -> dict[str, Any]:
    """Everything aggregated from the per-path table (sorted by path: the order is fixed)."""
    cells = cell_statistics(frame, axes, levels)
    pooled = cell_statistics(frame, (), levels)
    curve = amplification_curve(frame, axes)
    crit = critical_shocks(curve, axes, jump_share=jump_share)
    return {"cells": cells, "pooled": pooled, "curve": curve, "critical": crit}


# ================================================================================ the sweep
@dataclasses.dataclass
class SweepResult:
    """A finished sweep: where it is, the per-path table and the aggregates."""

    sweep_id: str
    path: Path
    spec: SweepSpec
    spec_hash: str
    paths: pd.DataFrame
    cells: pd.DataFrame
    pooled: pd.DataFrame
    curve: pd.DataFrame
    critical: pd.DataFrame
    summary: dict
    computed: int
    report: Path | None = None


def _backend_name(backend: str) -> str:
    b = backend.lower().replace("-", "").replace("_", "")
    alias = {"inprocess": "inprocess", "serial": "inprocess", "processes": "processes", "process": "processes",
             "dask": "dask"}
    if b not in alias:
        raise InputError(f"unknown backend {backend!r} (one of {', '.join(BACKENDS)})", field="backend")
    return alias[b]


def connect_scheduler(address: str, timeout: float = 3.0):
    """A Dask client of the scheduler at ``address``; an unreachable one is one InputError line."""
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover
        raise InputError("the dask backend needs dask[distributed] installed", field="scheduler") from None
    if not re.match(r"^(tcp|tls|inproc|ws|wss|ucx)://[^\s]+$", address):
        raise InputError(f"scheduler address {address!r} is not a URL such as tcp://host:8786", field="scheduler")
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as e:
        raise InputError(f"cannot reach the Dask scheduler at {address} within {timeout:g} s "
                         f"({type(e).__name__})", field="scheduler") from None


def sweep(spec: SweepSpec | dict | str | Path, *, backend: str = "inprocess", workers: int | None = None,
          scheduler: str | None = None, client=None, out_dir: str | Path = "out", chunk_size: int | None = None,
          progress: Callable[[int, int], None] | None = None, report: bool = True, register: bool = True,
          scenario=None) -> SweepResult:
    """Run a sweep (see the module docstring) and store it in ``OUT/sweeps/<sweep_id>/``.

    ``backend``: ``"inprocess"``, ``"processes"`` (``workers`` processes, default the CPU count)
    or ``"dask"`` (``scheduler`` address, or a given ``client``, or a ``LocalCluster`` of
    ``workers`` single-threaded worker processes).  ``chunk_size``: paths per chunk, the unit of
    work, of part files and of resume (default: a sixteenth of each worker's share of the missing
    paths, 1 to 16).  ``progress(done, total)`` is told the number
    of finished paths after each chunk (and once at the start); an exception it raises stops the
    sweep, leaving the finished chunks on disk for a restart.  Bad specs raise :class:`InputError`
    before anything runs.

    The ``processes`` and ``dask`` backends start fresh interpreters that import the caller's
    main module: a script calling them needs the usual ``if __name__ == "__main__":`` guard.
    """
    from . import store
    from ._io import write_atomic

    backend = _backend_name(backend)
    if scheduler is not None:
        backend = "dask"
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers <= 0):
        raise InputError(f"must be a positive number of workers, got {workers!r}", field="workers")
    if chunk_size is not None and chunk_size <= 0:
        raise InputError(f"must be a positive number of paths, got {chunk_size!r}", field="chunk_size")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a directory", field="out")
    pl = plan(spec, scenario)
    spec = pl.spec
    from .resources import require_population

    require_population(pl.scenario, spec.positions)  # before anything is written
    if register:
        store.check_catalogue(out)
    # connect before anything is built: an unreachable scheduler is refused at once
    own_client = None
    if backend == "dask" and client is None and scheduler is not None:
        client = own_client = connect_scheduler(scheduler)

    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", pl.scenario.name).strip("-")[:40] or "sweep"
    sweep_id = f"{slug}-{pl.spec_hash}"
    sdir = out / SWEEPS_DIR / sweep_id
    parts = sdir / "parts"
    try:
        parts.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create {parts}: {e.strerror or e}", field="out") from None
    for stale in parts.glob(".part-*.tmp-*"):
        stale.unlink(missing_ok=True)
    write_atomic(sdir / "spec.json", json.dumps(spec.model_dump(mode="json"), indent=2) + "\n")

    total = pl.n_paths
    done = done_paths(parts, pl.spec_hash, total)
    missing = np.flatnonzero(~done)
    tell = progress or (lambda d, t: None)
    n_done = int(done.sum())
    tell(n_done, total)
    started = time.perf_counter()
    n_workers = 1 if backend == "inprocess" else int(workers or os.cpu_count() or 1)
    computed = 0
    drawn = None
    if len(missing):
        size = chunk_size or max(1, min(16, math.ceil(len(missing) / (16 * n_workers))))
        chunks = _chunks(missing, size)
        payload = _Payload(pl, build_populations(pl))
        drawn = {k: len(p) for k, p in payload.populations.items()}

        def finished(rows):
            nonlocal n_done, computed
            write_part(parts, rows, pl.spec_hash)
            n_done += len(rows)
            computed += len(rows)
            tell(n_done, total)

        if backend == "inprocess":
            for c in chunks:
                finished(run_chunk(payload, c))
        elif backend == "processes":
            _run_processes(payload, chunks, n_workers, finished)
        else:
            try:
                _run_dask(payload, chunks, n_workers, client, finished)
            finally:
                if own_client is not None:
                    own_client.close()
    elif own_client is not None:
        own_client.close()
    elapsed = time.perf_counter() - started

    frame = read_parts(parts, pl.spec_hash)
    axes = [k for k, _ in pl.axes]
    agg = aggregate(frame, axes, levels=spec.levels, jump_share=spec.jump_share)
    _write_parquet(sdir / "paths.parquet", frame)
    for name in ("cells", "pooled", "curve", "critical"):
        _write_parquet(sdir / f"{name}.parquet", agg[name])
    summary = _summary(pl, sweep_id, frame, agg, backend, n_workers, elapsed, computed)
    if drawn is None and (sdir / "summary.json").is_file():  # resumed with nothing to run
        drawn = json.loads((sdir / "summary.json").read_text("utf-8")).get("positions_drawn")
    summary["positions_drawn"] = drawn  # per population setting ("{}": the only one)
    write_atomic(sdir / "summary.json", store.dumps(summary) + "\n")
    res = SweepResult(sweep_id, sdir, spec, pl.spec_hash, frame, agg["cells"], agg["pooled"], agg["curve"],
                      agg["critical"], summary, computed)
    if report:
        res.report = write_sweep_report(sdir, res, pl)
    if register:
        register_sweep(out, summary, sdir)
    return res


def _write_parquet(path: Path, frame: pd.DataFrame) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _run_processes(payload: _Payload, chunks, n_workers: int, finished) -> None:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")  # a clean interpreter: no inherited threads or locks
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(payload,)) as pool:
        pending = set()
        it = iter(chunks)
        try:
            # a bounded window of chunks in flight: memory does not grow with the number of paths
            for c in itertools.islice(it, 4 * n_workers):
                pending.add(pool.submit(run_chunk, None, c))
            while pending:
                ready, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in ready:
                    finished(f.result())
                    nxt = next(it, None)
                    if nxt is not None:
                        pending.add(pool.submit(run_chunk, None, nxt))
        except BaseException:
            for f in pending:
                f.cancel()
            raise


def local_cluster(n_workers: int, **kwargs):
    """A Dask ``LocalCluster`` of ``n_workers`` single-threaded worker processes, without the
    ``MALLOC_TRIM_THRESHOLD_`` Dask sets in its workers' environment by default.

    Setting that variable switches off glibc's dynamic mmap threshold: every large array a path
    allocates is then mapped fresh and page-faulted in, which made the NumPy parts of
    ``simulate`` (``fresh_state``, ``sort_positions``, ``initial_liquidation_prices``, the
    ledger) 2.5–3.5× slower in a worker than in-process, about 1.5–2× per path overall.
    A cluster started elsewhere (``--scheduler``) can do the same in its Dask configuration
    (``distributed.nanny.pre-spawn-environ``).
    """
    import dask
    from distributed import LocalCluster

    env = {k: v for k, v in (dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {}).items()
           if not str(k).startswith("MALLOC_")}
    # a worker logs errors only: an interrupted sweep's cancelled tasks are not the user's news
    env.setdefault("DASK_LOGGING__DISTRIBUTED", "error")
    opts = dict(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None)
    opts.update(kwargs)
    # Ctrl-C reaches the whole process group: the workers start with SIGINT ignored (an ignored
    # signal stays ignored across their spawn), so the parent alone stops the sweep and says so
    # in one line instead of every nanny and worker printing its KeyboardInterrupt traceback
    import signal
    import threading

    main = threading.current_thread() is threading.main_thread()
    before = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": env}):
            return LocalCluster(**opts)
    finally:
        if main:
            signal.signal(signal.SIGINT, before)


def _run_dask(payload: _Payload, chunks, n_workers: int, client, finished) -> None:
    from distributed import Client, as_completed

    cluster = None
    own = client is None
    if own:
        cluster = local_cluster(n_workers)
        client = Client(cluster)
    try:
        shared = client.scatter(payload, broadcast=True, hash=False)
        it = iter(chunks)
        window = 4 * max(1, len(client.scheduler_info().get("workers", {})) or n_workers)
        futures = [client.submit(run_chunk, shared, c, pure=False) for c in itertools.islice(it, window)]
        ac = as_completed(futures)
        try:
            for f in ac:
                rows = f.result()
                f.release()
                finished(rows)
                nxt = next(it, None)
                if nxt is not None:
                    ac.add(client.submit(run_chunk, shared, nxt, pure=False))
        except BaseException:
            if own:  # stopping our own cluster early: its nannies' shutdown warnings are expected
                import logging

                logging.getLogger("distributed").setLevel(logging.ERROR)
            for f in futures:
                f.cancel()
            raise
    finally:
        if own:
            client.close()
            cluster.close()


# ================================================================================ summary, catalogue
def _summary(pl: Plan, sweep_id, frame, agg, backend, n_workers, elapsed, computed) -> dict[str, Any]:
    from .store import code_version
    from .summary import parameters_hash, scenario_hash

    crit = agg["critical"].to_dict("records")
    pooled = agg["pooled"].iloc[0].to_dict() if len(agg["pooled"]) else {}
    risk = {}
    for a in pl.spec.levels:
        tag = f"{a * 100:g}".replace(".", "_")
        risk[f"{a:g}"] = {"var_usd": pooled.get(f"liquidation_var{tag}_usd"),
                          "es_usd": pooled.get(f"liquidation_es{tag}_usd")}
    return {
        "sweep_id": sweep_id,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "scenario": pl.scenario.name,
        "scenario_hash": scenario_hash(pl.scenario),
        "parameters_hash": parameters_hash(pl.scenario),
        "spec_hash": pl.spec_hash,
        "code_version": code_version(),
        "spec": pl.spec.model_dump(mode="json"),
        "axes": {k: [_label(v) for v in vals] for k, vals in pl.axes},
        "cells": pl.n_cells,
        "paths_total": pl.n_paths,
        "paths_per_cell": pl.spec.paths,
        "paths_computed_now": computed,
        "positions": pl.spec.positions,
        "n_steps": pl.n_steps,
        "step_seconds": pl.dt,
        "backend": backend,
        "workers": n_workers,
        "seconds": elapsed,
        "critical": crit,
        "critical_shock_usd": crit[0]["critical_shock_usd"] if crit else None,
        "critical_status": crit[0]["status"] if crit else None,
        "largest_jump_at_usd": crit[0]["largest_jump_at_usd"] if crit else None,
        "finding": _first_finding(agg["curve"], agg["critical"]),
        "liquidation_risk_pooled": risk,
        "liquidated_usd_median": pooled.get("liquidated_usd_q50"),
        "drawdown_pct_median": pooled.get("drawdown_pct_q50"),
    }


def _first_finding(curve: pd.DataFrame, crit: pd.DataFrame) -> str | None:
    """:func:`grid_finding` of the first curve (the one the summary's critical shock is of)."""
    if not len(crit):
        return None
    first = curve
    for k in (c for c in crit.columns if c in curve.columns and c != "shock_usd" and c not in _CRIT_FIELDS):
        first = first[first[k] == crit.iloc[0][k]]
    return grid_finding(first["shock_usd"], first["branching_ratio_median"], first["drawdown_pct_median"],
                        crit.iloc[0].to_dict())


_SWEEP_COLUMNS = (
    ("sweep_id", "VARCHAR PRIMARY KEY"), ("created_utc", "TIMESTAMP"), ("scenario", "VARCHAR"),
    ("scenario_hash", "VARCHAR"), ("parameters_hash", "VARCHAR"), ("spec_hash", "VARCHAR"),
    ("code_version", "VARCHAR"), ("positions", "BIGINT"), ("n_steps", "BIGINT"), ("step_seconds", "DOUBLE"),
    ("cells", "BIGINT"), ("paths_total", "BIGINT"), ("backend", "VARCHAR"), ("workers", "INTEGER"),
    ("critical_shock_usd", "DOUBLE"), ("critical_status", "VARCHAR"), ("liquidated_usd_median", "DOUBLE"),
    ("drawdown_pct_median", "DOUBLE"), ("path", "VARCHAR"), ("summary", "JSON"),
)


def register_sweep(out_dir: str | Path, summary: dict, directory: Path) -> None:
    """Add (or replace) the sweep's row in the ``sweeps`` table of ``OUT/runs.duckdb``."""
    from .store import _clean, insert_row

    out = Path(out_dir)
    clean = _clean(summary)
    values = []
    for c, _ in _SWEEP_COLUMNS:
        if c == "created_utc":
            values.append(datetime.fromisoformat(clean["created_utc"].replace("Z", "+00:00")).replace(tzinfo=None))
        elif c == "path":
            values.append(str(directory.relative_to(out)) if directory.is_relative_to(out) else str(directory))
        elif c == "summary":
            values.append(json.dumps(clean, allow_nan=False))
        else:
            values.append(clean.get(c))
    insert_row(out, "sweeps", _SWEEP_COLUMNS, values, replace=("sweep_id", clean["sweep_id"]))


def list_sweeps(out_dir: str | Path) -> pd.DataFrame:
    """The ``sweeps`` table of ``OUT/runs.duckdb`` (empty when there is none)."""
    from .store import read_table

    return read_table(out_dir, "sweeps", _SWEEP_COLUMNS, "created_utc, sweep_id")


# ================================================================================ the report
def _figures(res: SweepResult) -> dict[str, Any]:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figs: dict[str, Any] = {}
    curve, crit = res.curve, res.critical
    group_cols = [c for c in crit.columns if c not in _CRIT_FIELDS]
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=("drawdown of the shocked asset, % (median, 5–95 %)",
                                        "liquidated, USD (median, 5–95 %)", "branching ratio, median of path maxima"))
    groups = curve.groupby(group_cols, sort=True, dropna=False) if group_cols else [((), curve)]
    for gi, (key, g) in enumerate(groups):
        key = key if isinstance(key, tuple) else (key,)
        name = ", ".join(f"{c}={v}" for c, v in zip(group_cols, key) if c != "shock_venue") or "all"
        x = g["shock_usd"].to_numpy()
        for row, m in ((1, "drawdown_pct"), (2, "liquidated_usd")):
            fig.add_trace(go.Scatter(x=np.r_[x, x[::-1]], y=np.r_[g[f"{m}_q95"], g[f"{m}_q05"].to_numpy()[::-1]],
                                     fill="toself", opacity=0.15, line=dict(width=0), showlegend=False,
                                     hoverinfo="skip", legendgroup=str(gi)), row=row, col=1)
            fig.add_trace(go.Scatter(x=x, y=g[f"{m}_median"], mode="lines+markers", name=name, legendgroup=str(gi),
                                     showlegend=row == 1), row=row, col=1)
        fig.add_trace(go.Scatter(x=x, y=g["branching_ratio_median"], mode="lines+markers", name=name,
                                 legendgroup=str(gi), showlegend=False), row=3, col=1)
    fig.add_hline(y=1.0, line_dash="dot", row=3, col=1)
    br = curve["branching_ratio_median"].to_numpy(np.float64)
    if len(br) and np.all(np.isfinite(br) & (br > 0)):  # R spans orders of magnitude: a log axis
        fig.update_yaxes(type="log", row=3, col=1)
    if len(crit) and crit.iloc[0]["critical_shock_usd"] is not None and np.isfinite(crit.iloc[0]["critical_shock_usd"]):
        for row in (1, 2, 3):
            fig.add_vline(x=float(crit.iloc[0]["critical_shock_usd"]), line_dash="dash", line_color="#d62728",
                          row=row, col=1)
    pos = curve["shock_usd"].to_numpy()
    if len(pos) and np.all(pos > 0):
        fig.update_xaxes(type="log")
    fig.update_xaxes(title_text="exogenous shock, USD sold", row=3, col=1)
    fig.update_layout(height=900, margin=dict(l=60, r=20, t=40, b=40), template="plotly_white")
    figs["curve"] = fig

    dist = make_subplots(rows=2, cols=3, subplot_titles=("liquidated, USD", "drawdown, %", "insurance-fund loss, USD",
                                                         "ADL, USD", "bad debt, USD", "branching ratio max"))
    for i, m in enumerate(("liquidated_usd", "drawdown_pct", "insurance_fund_loss_usd", "adl_usd", "bad_debt_usd",
                           "branching_ratio_max")):
        x = res.paths[m].to_numpy(np.float64)
        dist.add_trace(go.Histogram(x=x[np.isfinite(x)], nbinsx=40, showlegend=False, marker_color="#4A6CF7"),
                       row=i // 3 + 1, col=i % 3 + 1)
    dist.update_layout(height=560, margin=dict(l=50, r=20, t=40, b=40), template="plotly_white")
    figs["distributions"] = dist
    return figs


def write_sweep_report(directory: Path, res: SweepResult, pl: Plan | None = None) -> Path:
    """``report.html`` of a sweep: self-contained (plotly.js inlined), opens offline."""
    import html

    from plotly.offline import get_plotlyjs

    from .targets import fmt

    e = lambda x: html.escape(str(x))  # noqa: E731
    figs = _figures(res)
    divs = {k: f.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig-{k}",
                         config={"displaylogo": False, "responsive": True}) for k, f in figs.items()}
    s = res.summary
    crit_rows = []
    for r in res.critical.to_dict("records"):
        coords = ", ".join(f"{k}={v}" for k, v in r.items() if k.startswith(("shock_", "market", "population",
                                                                            "liquidation", "depth", "prices",
                                                                            "flows", "cohorts")))
        crit_rows.append(f"<tr><td>{e(coords)}</td><td>{e(fmt(r['critical_shock_usd'], 'USD'))}</td>"
                         f"<td>{e(r['status'])}</td><td>{e(fmt(r['branching_crossing_usd'], 'USD'))}</td>"
                         f"<td>{e(fmt(r['largest_jump_at_usd'], 'USD'))}</td></tr>")
    risk_rows = []
    for lvl, v in s["liquidation_risk_pooled"].items():
        risk_rows.append(f"<tr><td>{e(lvl)}</td><td>{e(fmt(v['var_usd'], 'USD'))}</td>"
                         f"<td>{e(fmt(v['es_usd'], 'USD'))}</td></tr>")
    cells = res.cells
    cell_cols = [c for c in cells.columns if c in dict(pl.axes if pl else [])] if pl else []
    show = cell_cols + ["paths", "liquidated_usd_q50", "liquidated_usd_q95", "drawdown_pct_q50",
                        "insurance_fund_loss_usd_q95", "adl_usd_q95", "bad_debt_usd_q95", "branching_ratio_max_q50"]
    show += [c for c in cells.columns if c.startswith("liquidation_var") or c.startswith("liquidation_es")]
    show = [c for c in show if c in cells.columns]
    head = "".join(f"<th>{e(c)}</th>" for c in show)
    body = []
    for r in cells[show].head(500).to_dict("records"):
        tds = []
        for c in show:
            v = r[c]
            if isinstance(v, float) and c.endswith("_usd") or "_usd_" in c:
                tds.append(f"<td>{e(fmt(v, 'USD'))}</td>")
            elif isinstance(v, float):
                tds.append(f"<td>{v:.4g}</td>")
            else:
                tds.append(f"<td>{e(v)}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    status = "n/a"
    if pl is not None:
        from .summary import parameter_provenance

        status = parameter_provenance(pl.scenario)["status"]
    crit_txt = ("no critical shock on this grid" if s["critical_shock_usd"] is None
                else f"critical shock {fmt(s['critical_shock_usd'], 'USD')} ({s['critical_status']})")
    finding = f"<p><b>What the grid shows:</b> {e(s['finding'])}.</p>" if s.get("finding") else ""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sweep {e(res.sweep_id)}</title>
<script type="text/javascript">{get_plotlyjs()}</script>
<style>body{{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse;font-size:13px}}td,th{{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right}}
th{{background:#f4f4f4}}.meta{{color:#666;font-size:13px}}</style></head><body>
<h1>Sweep of {e(s['scenario'])}: {e(crit_txt)}</h1>
{finding}
<p class="meta">{s['paths_total']:,} paths ({s['cells']:,} grid cells × {s['paths_per_cell']:,}),
{e(', '.join(f'{n:,}' for n in (s.get('positions_drawn') or {}).values()) or s['positions'])} positions drawn, {s['n_steps']:,} steps of {s['step_seconds']:g} s;
seed {s['spec']['seed']}; spec hash {e(s['spec_hash'])}; code {e(s['code_version'])}; sweep {e(res.sweep_id)}.
Global parameters: {e(status)}; every figure depends on them.</p>
<h2>Amplification curve</h2>
<p>Median over paths (band: 5–95 %) against the exogenous shock. <b>Critical shock</b>: the smallest grid
shock at which the median branching ratio is at least 1 and the median drawdown takes a step of at least
{s['spec']['jump_share']:g} × the largest step on the grid (dashed line; <i>below_grid</i>: the median
ratio is ≥ 1 already at the smallest shock; <i>not_reached</i>: no grid shock qualifies).</p>
{divs['curve']}
<table><tr><th>curve</th><th>critical shock</th><th>status</th><th>median ratio crosses 1 at</th>
<th>largest drawdown step at</th></tr>
{''.join(crit_rows)}</table>
<h2>Liquidation value-at-risk and expected shortfall (all paths)</h2>
<table><tr><th>level</th><th>VaR</th><th>ES</th></tr>{''.join(risk_rows)}</table>
<h2>Distributions over all paths</h2>{divs['distributions']}
<h2>Per grid cell</h2>
<table><tr>{head}</tr>{''.join(body)}</table>
<p class="meta">Files beside this report: paths.parquet (one row per path), cells.parquet, pooled.parquet,
curve.parquet, critical.parquet, summary.json, spec.json, parts/.</p>
</body></html>
"""
    out = directory / "report.html"
    tmp = directory / f".report.html.tmp-{os.getpid()}"
    tmp.write_text(page, "utf-8")
    os.replace(tmp, out)
    return out
