"""Calibration: fit the global behavioural parameters to an event's reported figures.

``calibrate(scenario, targets)`` searches the free parameters (sections and keys of
``model-parameters.toml``, each with a range) for the smallest **objective**:

    J = sum over targets of d_i**2

where ``d_i`` is how far the simulated figure lies *outside* the target's band, in band widths:

- money and counts (units ``USD``, ``accounts``): on a log scale,
  ``d = log(low/x) / log(high/low)`` below the band, ``log(x/high) / log(high/low)`` above;
- other banded figures (percent, fraction, USD prices): linearly, ``(low - x)/(high - low)``
  below, ``(x - high)/(high - low)`` above; a one-sided band uses 10 % of its bound as the width;
- a relation ("ETH falls further than BTC"): ``0`` when it holds, else
  ``0.1 + (other - x)/|other|``; an identity ("largest on Hyperliquid"): 0 or 1;
- a figure the run did not produce: ``d = 10``;
- a candidate whose run fails outright (a runaway whose prices leave the float range and whose
  books then cannot balance, or a population its parameters cannot build) scores ``J = 1e6``.

Inside every band ``J = 0``: the fit does not chase the reported point, only the band (the
reports are news, not data).  The search is deterministic: a seeded Latin-hypercube sample of the
ranges (log-uniform where the range spans a decade or more), then coordinate refinement around
the best point with halving steps (an eighth of each range first).  Every evaluation runs the
same population seed (common random numbers), so differences between candidates are the
parameters', not the noise's.

A fit on one seed finds the band edges of that seed's realisation: the cascade's depth varies from
seed to seed (feb-2026's BTC drawdown moves by several points), so a candidate that sits on an
edge for seed 0 can fall out for seed 1.  With several seeds (``seeds=(0, 1, 2)``, ``--seeds``
on the command line) every candidate runs each seed and the objective is the **mean** of the
per-seed ``J``; every seed's figures are reported.

The result is written as a complete parameters file (the old one with the fitted values
replaced and a ``[provenance]`` table: which keys were fitted, on which targets, when, the
objective) plus a fit report (JSON and Markdown).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ._io import write_atomic
from .errors import InputError
from .scenario import ModelParameters, Scenario, load_scenario
from .targets import Row, Targets, compare, load_targets

LOG_UNITS = ("USD", "accounts")
#: objective of a candidate whose run failed (a runaway that left the float range)
FAILED = 1e6


@dataclass(frozen=True)
class FreeParameter:
    """A parameter to fit: ``section.key`` of the model parameters and its range."""

    path: str
    low: float
    high: float

    @property
    def log(self) -> bool:
        return self.low > 0 and self.high / self.low >= 10

    def to_unit(self, x: float) -> float:
        if self.log:
            return (math.log(x) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (x - self.low) / (self.high - self.low)

    def from_unit(self, u: float) -> float:
        u = min(max(u, 0.0), 1.0)
        if self.log:
            return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return self.low + u * (self.high - self.low)


DEFAULT_FREE = (
    FreeParameter("market_maker.flow_sensitivity", 0.5, 50.0),
    FreeParameter("market_maker.min_multiplier", 0.01, 0.5),
    FreeParameter("market_maker.refill_half_life_s", 30.0, 3600.0),
    FreeParameter("cohorts.panic_per_drawdown", 1e-6, 1e-3),
)


def joint_scenarios(also: Sequence[str], parameters) -> list[tuple[Any, Any]]:
    """Further scenarios fitted jointly, each ``SCENARIO[=TARGETS]`` (its bundled targets unless
    ``TARGETS`` is given), loaded with the same global ``parameters``: a list of (scenario,
    targets)."""
    from .pipeline import resolve_targets

    joint = []
    for spec in also:
        name, _, tfile = spec.partition("=")
        other = load_scenario(name.strip(), parameters=parameters)
        otg = resolve_targets(tfile.strip() or "auto", other)
        if otg is None:
            raise InputError(f"no bundled targets for {other.name}; give --also {name.strip()}=TARGETS", field="also")
        joint.append((other, otg))
    return joint


def row_distance(row: Row) -> float:
    """How far one figure lies outside its band, in band widths (see the module docstring)."""
    x = row.simulated
    if row.kind == "greater_than":
        o = row.than_value
        if not (_finite(x) and _finite(o)):
            return 10.0
        return 0.0 if x > o else 0.1 + (o - x) / max(abs(o), 1e-12)
    if row.kind != "band":
        return 0.0 if row.ok else 1.0
    if not _finite(x):
        return 10.0
    lo, hi = row.low, row.high
    if row.units in LOG_UNITS and (lo is None or lo > 0):
        if x <= 0:
            return 10.0
        width = math.log(hi / lo) if (lo and hi) else math.log(1.5)
        if lo is not None and x < lo:
            return math.log(lo / x) / width
        if hi is not None and x > hi:
            return math.log(x / hi) / width
        return 0.0
    width = (hi - lo) if (lo is not None and hi is not None) else 0.1 * abs(lo if lo is not None else hi) or 1.0
    if lo is not None and x < lo:
        return (lo - x) / width
    if hi is not None and x > hi:
        return (x - hi) / width
    return 0.0


def objective(rows: Sequence[Row]) -> float:
    """``J = sum d_i**2`` over the targets (0 when every figure is in its band)."""
    return float(sum(row_distance(r) ** 2 for r in rows))


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _walk(d, path: str):
    """The container and key that ``path`` (``section.key`` or ``section.list.3.key``) names."""
    parts = path.split(".")
    node = d
    for part in parts[:-1]:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError):
            raise InputError(f"unknown parameter {path!r}", field="free") from None
    last = parts[-1]
    if isinstance(node, list):
        try:
            last = int(last)
            node[last]
        except (ValueError, IndexError):
            raise InputError(f"unknown parameter {path!r}", field="free") from None
    elif not isinstance(node, dict) or last not in node:
        raise InputError(f"unknown parameter {path!r}", field="free")
    return node, last


def with_values(params: ModelParameters, values: dict[str, float]) -> ModelParameters:
    """A copy of ``params`` with the values at ``section.key`` paths replaced (validated).

    A path may index into lists: ``population.leverage_mix.3.mean_notional_usd``.  Notional
    shares of the leverage mix are renormalised to sum to one after a change."""
    d = params.model_dump()
    for path, v in values.items():
        node, key = _walk(d, path)
        node[key] = v
    mix = d["population"]["leverage_mix"]
    total = sum(c["notional_share"] for c in mix)
    for c in mix:
        c["notional_share"] /= total
    return ModelParameters.model_validate(d)


@dataclass
class Evaluation:
    values: dict[str, float]
    objective: float
    rows: list[Row]
    summary: dict


@dataclass
class CalibrationResult:
    scenario: str
    targets: str
    free: list[FreeParameter]
    best: Evaluation
    start: Evaluation
    history: list[Evaluation] = field(default_factory=list)
    n_positions: int | None = None
    #: the seeds every candidate ran (the objective is the mean over them)
    seeds: list[int] = field(default_factory=lambda: [0])

    @property
    def seed(self) -> int:
        """The first seed (the only one of a single-seed fit)."""
        return self.seeds[0]

    @property
    def parameters(self) -> dict[str, float]:
        return dict(self.best.values)


def parse_free(spec: str, params: ModelParameters | None = None) -> FreeParameter:
    """A free parameter from ``"section.key=LOW:HIGH"`` (a path may index into lists:
    ``population.leverage_mix.3.mean_notional_usd=1000:3000``).  With ``params`` the path must
    name a number there.  Raises :class:`InputError` naming the problem."""
    path, sep, rng = str(spec).partition("=")
    lo_s, sep2, hi_s = rng.partition(":")
    path = path.strip()
    if not sep or not sep2 or not path:
        raise InputError(f"expected PATH=LOW:HIGH, got {spec!r}", field="free")
    try:
        low, high = float(lo_s), float(hi_s)
    except ValueError:
        raise InputError(f"{path}: range bounds must be numbers, got {rng!r}", field="free") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise InputError(f"{path}: range low must be a finite number below high, got {rng!r}", field="free")
    if params is not None:
        node, key = _walk(params.model_dump(), path)
        if isinstance(node[key], bool) or not isinstance(node[key], (int, float)):
            raise InputError(f"{path} is not a number and cannot be fitted", field="free")
    return FreeParameter(path, low, high)


#: the modes a candidate is scored in: its scenarios run free, or on their real paths
MODES = ("free", "observed")


def check_mode(mode: str) -> None:
    """An unknown scoring mode is an :class:`InputError` naming ``mode``."""
    if mode not in MODES:
        raise InputError(f"must be free or observed, got {mode!r}", field="mode")


def seed_list(seed: int | Sequence[int]) -> list[int]:
    """``seed`` as a list of distinct non-negative seeds; :class:`InputError` otherwise."""
    seeds = [seed] if isinstance(seed, (int, np.integer)) else list(seed)
    if not seeds:
        raise InputError("at least one seed is needed", field="seeds")
    if any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in seeds) or len(
        set(seeds)
    ) < len(seeds):
        raise InputError(f"seeds must be distinct non-negative integers, got {seeds}", field="seeds")
    return [int(s) for s in seeds]


def parse_seeds(spec: str) -> list[int]:
    """Seeds from ``"0,1,2"``; :class:`InputError` naming the problem otherwise."""
    try:
        seeds = [int(x) for x in str(spec).split(",") if x.strip()]
    except ValueError:
        raise InputError(f"expected comma-separated integers, got {spec!r}", field="seeds") from None
    return seed_list(seeds)


def evaluate(
    pairs: Sequence[tuple[Scenario, Targets]],
    values: dict[str, float],
    *,
    n_positions: int | None,
    seed: int | Sequence[int],
    mode: str = "free",
) -> Evaluation:
    """Run each scenario with ``values`` substituted and score it against its targets; the
    objective is the sum over all of them (rows are labelled with the scenario's name when
    there are several).  ``seed`` may be a sequence of seeds: each scenario then runs once per
    seed, the objective is the mean over seeds of the per-seed sums, and rows and summaries are
    labelled with their seed.  ``mode``: ``"free"`` (the scenarios' flows drive the price) or
    ``"observed"`` (their real path does: :func:`liqcascade.replay.run_observed`, no
    counterfactual), the mode :func:`liqcascade.validate.validate` and ``make run`` report."""
    from .replay import run_observed
    from .scenario import run_scenario

    check_mode(mode)
    from .summary import summarize

    seeds = seed_list(seed)
    trials = [
        (Scenario(sc.spec, with_values(sc.params, values), sc.overridden, sc.source, sc.text), targets)
        for sc, targets in pairs
    ]
    rows: list[Row] = []
    summaries = {}
    for sd in seeds:
        for trial, targets in trials:
            try:
                if mode == "observed":
                    obs = run_observed(trial, n_positions=n_positions, seed=sd, with_counterfactual=False)
                    run, pop = obs.run, obs.population
                else:
                    run, pop = run_scenario(trial, n_positions=n_positions, seed=sd)
            except AssertionError as e:  # the ledger check failed: prices left the float range
                return Evaluation(dict(values), FAILED, [], {"failed": f"{trial.name}: {e}"[:300]})
            except InputError as e:  # these parameters cannot build the population (e.g. open interest unplaceable)
                return Evaluation(dict(values), FAILED, [], {"failed": f"{trial.name}: {e}"[:300]})
            summary = summarize(run, pop, trial, seed=sd)
            these = compare(summary, targets)
            prefix = (f"seed {sd}: " if len(seeds) > 1 else "") + (f"{trial.name}: " if len(pairs) > 1 else "")
            for r in these:
                r.label = prefix + r.label
            rows += these
            summaries[trial.name if len(seeds) == 1 else f"{trial.name} (seed {sd})"] = summary
    return Evaluation(dict(values), objective(rows) / len(seeds), rows, summaries)


def calibrate(
    scenario: Scenario | str,
    targets: Targets | str,
    *,
    free: Sequence[FreeParameter] = DEFAULT_FREE,
    n_positions: int | None = 300_000,
    samples: int = 16,
    refine_rounds: int = 3,
    seed: int | Sequence[int] = 0,
    also: Sequence[tuple[Scenario | str, Targets | str]] = (),
    progress: Callable[[int, int, Evaluation], None] | None = None,
    search_seed: int | None = None,
    mode: str = "free",
) -> CalibrationResult:
    """Fit ``free`` to ``targets`` (see the module docstring for the objective and search).

    ``also``: further (scenario, targets) pairs fitted jointly with the same parameters (the
    objective sums over all of them).  ``seed``: the population and flow seed of every run, or
    several (the objective is then the mean over them).  ``search_seed``: seed of the Latin
    hypercube (default the first ``seed``), so that independent searches can run side by side on
    the same population.  ``mode``: as in :func:`evaluate`."""
    check_mode(mode)
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if not isinstance(targets, Targets):
        targets = load_targets(targets)
    pairs = [(scenario, targets)]
    for sc, tg in also:
        sc = sc if isinstance(sc, Scenario) else load_scenario(sc, parameters=scenario.params)
        pairs.append((sc, tg if isinstance(tg, Targets) else load_targets(tg)))
    seeds = seed_list(seed)
    if not free:
        raise InputError("nothing to fit: the list of free parameters is empty", field="free")
    if samples < 1 or refine_rounds < 0:
        raise InputError("samples must be >= 1 and refine rounds >= 0", field="samples")
    current = {p.path: _get(scenario.params, p.path) for p in free}
    for p in free:
        if not (p.low < p.high):
            raise InputError(f"{p.path}: range low must be below high", field="free")
    total = 1 + samples + refine_rounds * 2 * len(free)
    done = 0
    history: list[Evaluation] = []

    def run(values):
        nonlocal done
        ev = evaluate(pairs, values, n_positions=n_positions, seed=seeds, mode=mode)
        history.append(ev)
        done += 1
        if progress:
            progress(done, total, ev)
        return ev

    start = run({k: float(np.clip(v, p.low, p.high)) for (k, v), p in zip(current.items(), free)})
    best = start
    # Latin hypercube in the unit cube
    rng = np.random.default_rng(seeds[0] if search_seed is None else search_seed)
    d = len(free)
    cube = (rng.permuted(np.tile(np.arange(samples), (d, 1)), axis=1).T + rng.random((samples, d))) / samples
    for u in cube:
        ev = run({p.path: p.from_unit(float(x)) for p, x in zip(free, u)})
        if ev.objective < best.objective:
            best = ev
    # coordinate refinement with halving steps (in the unit cube)
    step = 0.125  # in the unit cube; halves every round
    for _ in range(refine_rounds):
        for p in free:
            if best.objective == 0.0:
                break
            u0 = p.to_unit(best.values[p.path])
            for u in (u0 - step, u0 + step):
                if 0.0 <= u <= 1.0:
                    vals = dict(best.values)
                    vals[p.path] = p.from_unit(u)
                    ev = run(vals)
                    if ev.objective < best.objective:
                        best = ev
        step /= 2
    return CalibrationResult(
        " + ".join(sc.name for sc, _ in pairs),
        " + ".join(tg.name for _, tg in pairs),
        list(free),
        best,
        start,
        history,
        n_positions,
        seeds,
    )


def _get(params: ModelParameters, path: str) -> float:
    node, key = _walk(params.model_dump(), path)
    return float(node[key])


# ---------------------------------------------------------------------------------- writing
def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(float(v)) if isinstance(v, float) else str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return (
            "[\n" + "".join(f"  {_toml_value(x)},\n" for x in v) + "]"
            if v and isinstance(v[0], dict)
            else "[" + ", ".join(_toml_value(x) for x in v) + "]"
        )
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def parameters_toml(params: ModelParameters, provenance: dict | None = None) -> str:
    """A complete parameters file for ``params`` (and a ``[provenance]`` table)."""
    lines = ["# Global behavioural parameters of liqcascade (written by `liqcascade calibrate`).", ""]
    for section, values in params.model_dump(exclude={"provenance"}).items():
        lines.append(f"[{section}]")
        for k, v in values.items():
            lines.append(f"{k} = {_toml_value(v)}")
        lines.append("")
    if provenance:
        lines.append("[provenance]")
        for k, v in provenance.items():
            lines.append(f"{k} = {_toml_value(v)}")
        lines.append("")
    return "\n".join(lines)


def write_result(result: CalibrationResult, scenario: Scenario, out_dir: str | Path) -> dict[str, Path]:
    """Write ``model-parameters.toml`` (fitted) and ``fit-report.{json,md}`` into ``out_dir``."""
    out = Path(out_dir)
    fitted = with_values(scenario.params, result.best.values)
    provenance = {
        "fitted": [p.path for p in result.free],
        "targets": result.targets.split(" + "),
        "fitted_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "objective": result.best.objective,
        "seed": result.seed,
    }
    if len(result.seeds) > 1:
        provenance["seeds"] = list(result.seeds)
    if result.n_positions is not None:  # absent: fitted at the real position count
        provenance["positions"] = result.n_positions
    out.mkdir(parents=True, exist_ok=True)
    paths = {"parameters": out / "model-parameters.toml", "json": out / "fit-report.json", "md": out / "fit-report.md"}
    report = {
        "scenario": result.scenario,
        "targets": result.targets,
        "objective": result.best.objective,
        "start_objective": result.start.objective,
        "evaluations": len(result.history),
        "seeds": result.seeds,
        "fitted": result.best.values,
        "start": result.start.values,
        "ranges": {p.path: [p.low, p.high] for p in result.free},
        "rows": [
            {"key": r.key, "label": r.label, "simulated": r.simulated, "band": r.band, "ok": r.ok}
            for r in result.best.rows
        ],
    }
    md = [
        f"# Calibration of {result.scenario} against {result.targets}",
        "",
        f"Objective J = {result.best.objective:.4g} (start {result.start.objective:.4g}) after "
        f"{len(result.history)} candidates, each run at {result.n_positions or 'the real count of'} positions "
        + (
            f"with seed {result.seed}."
            if len(result.seeds) == 1
            else f"with seeds {', '.join(map(str, result.seeds))} (J is the mean over them)."
        ),
        "",
        "| parameter | start | fitted | range |",
        "|---|---|---|---|",
    ]
    for p in result.free:
        md.append(
            f"| {p.path} | {result.start.values[p.path]:.4g} | {result.best.values[p.path]:.4g} | "
            f"{p.low:g} – {p.high:g} |"
        )
    md += ["", "| figure | simulated | band | |", "|---|---|---|---|"]
    for r in result.best.rows:
        md.append(f"| {r.label} | {r.simulated_text} | {r.band} | {r.mark} |")
    md += ["", "These figures are in-sample: the parameters above were fitted to them."]
    write_atomic(paths["parameters"], parameters_toml(fitted, provenance))
    write_atomic(paths["json"], json.dumps(report, indent=1, default=str))
    write_atomic(paths["md"], "\n".join(md) + "\n")
    return paths
