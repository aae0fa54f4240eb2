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
- a figure the run did not produce: ``d = 10``.

Inside every band ``J = 0``: the fit does not chase the reported point, only the band (the
reports are news, not data).  The search is deterministic: a seeded Latin-hypercube sample of the
ranges (log-uniform where the range spans a decade or more), then coordinate refinement around
the best point with halving steps.  Every evaluation runs the same population seed (common random
numbers), so differences between candidates are the parameters', not the noise's.

The result is written as a complete parameters file (the old one with the fitted values
replaced and a ``[provenance]`` table: which keys were fitted, on which targets, when, the
objective) plus a fit report (JSON and Markdown).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .errors import InputError
from .scenario import ModelParameters, Scenario, load_scenario
from .targets import Row, Targets, compare, load_targets

LOG_UNITS = ("USD", "accounts")


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


def with_values(params: ModelParameters, values: dict[str, float]) -> ModelParameters:
    """A copy of ``params`` with ``section.key`` values replaced (validated)."""
    d = params.model_dump()
    for path, v in values.items():
        section, key = path.split(".", 1)
        if section not in d or key not in d[section]:
            raise InputError(f"unknown parameter {path!r}", field="free")
        d[section][key] = v
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
    seed: int = 0

    @property
    def parameters(self) -> dict[str, float]:
        return dict(self.best.values)


def evaluate(scenario: Scenario, targets: Targets, values: dict[str, float], *, n_positions: int | None,
             seed: int) -> Evaluation:
    """Run the scenario with ``values`` substituted and score it against ``targets``."""
    from .scenario import run_scenario
    from .summary import summarize

    trial = Scenario(scenario.spec, with_values(scenario.params, values), scenario.overridden, scenario.source,
                     scenario.text)
    run, pop = run_scenario(trial, n_positions=n_positions, seed=seed)
    summary = summarize(run, pop, trial, seed=seed)
    rows = compare(summary, targets)
    return Evaluation(dict(values), objective(rows), rows, summary)


def calibrate(scenario: Scenario | str, targets: Targets | str, *, free: Sequence[FreeParameter] = DEFAULT_FREE,
              n_positions: int | None = 300_000, samples: int = 16, refine_rounds: int = 3, seed: int = 0,
              progress: Callable[[int, int, Evaluation], None] | None = None) -> CalibrationResult:
    """Fit ``free`` to ``targets`` (see the module docstring for the objective and search)."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if not isinstance(targets, Targets):
        targets = load_targets(targets)
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
        ev = evaluate(scenario, targets, values, n_positions=n_positions, seed=seed)
        history.append(ev)
        done += 1
        if progress:
            progress(done, total, ev)
        return ev

    start = run({k: float(np.clip(v, p.low, p.high)) for (k, v), p in zip(current.items(), free)})
    best = start
    # Latin hypercube in the unit cube
    rng = np.random.default_rng(seed)
    d = len(free)
    cube = (rng.permuted(np.tile(np.arange(samples), (d, 1)), axis=1).T + rng.random((samples, d))) / samples
    for u in cube:
        ev = run({p.path: p.from_unit(float(x)) for p, x in zip(free, u)})
        if ev.objective < best.objective:
            best = ev
    # coordinate refinement with halving steps (in the unit cube)
    step = 0.5 / samples * 4
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
    return CalibrationResult(scenario.name, targets.name, list(free), best, start, history, n_positions, seed)


def _get(params: ModelParameters, path: str) -> float:
    section, key = path.split(".", 1)
    return float(getattr(getattr(params, section), key))


# ---------------------------------------------------------------------------------- writing
def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(float(v)) if isinstance(v, float) else str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[\n" + "".join(f"  {_toml_value(x)},\n" for x in v) + "]" if v and isinstance(v[0], dict) \
            else "[" + ", ".join(_toml_value(x) for x in v) + "]"
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


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_result(result: CalibrationResult, scenario: Scenario, out_dir: str | Path) -> dict[str, Path]:
    """Write ``model-parameters.toml`` (fitted) and ``fit-report.{json,md}`` into ``out_dir``."""
    out = Path(out_dir)
    fitted = with_values(scenario.params, result.best.values)
    provenance = {
        "fitted": [p.path for p in result.free],
        "targets": [result.targets],
        "fitted_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "objective": result.best.objective,
        "positions": result.n_positions if result.n_positions is not None else 0,
        "seed": result.seed,
    }
    paths = {"parameters": out / "model-parameters.toml", "json": out / "fit-report.json", "md": out / "fit-report.md"}
    report = {
        "scenario": result.scenario, "targets": result.targets, "objective": result.best.objective,
        "start_objective": result.start.objective, "evaluations": len(result.history),
        "fitted": result.best.values, "start": result.start.values,
        "ranges": {p.path: [p.low, p.high] for p in result.free},
        "rows": [{"key": r.key, "label": r.label, "simulated": r.simulated, "band": r.band, "ok": r.ok}
                 for r in result.best.rows],
    }
    md = [f"# Calibration of {result.scenario} against {result.targets}", "",
          f"Objective J = {result.best.objective:.4g} (start {result.start.objective:.4g}) after "
          f"{len(result.history)} runs of {result.n_positions or 'the real count of'} positions, seed {result.seed}.",
          "", "| parameter | start | fitted | range |", "|---|---|---|---|"]
    for p in result.free:
        md.append(f"| {p.path} | {result.start.values[p.path]:.4g} | {result.best.values[p.path]:.4g} | "
                  f"{p.low:g} – {p.high:g} |")
    md += ["", "| figure | simulated | band | |", "|---|---|---|---|"]
    for r in result.best.rows:
        md.append(f"| {r.label} | {r.simulated_text} | {r.band} | {r.mark} |")
    md += ["", "These figures are in-sample: the parameters above were fitted to them."]
    _atomic_write(paths["parameters"], parameters_toml(fitted, provenance))
    _atomic_write(paths["json"], json.dumps(report, indent=1, default=str))
    _atomic_write(paths["md"], "\n".join(md) + "\n")
    return paths
