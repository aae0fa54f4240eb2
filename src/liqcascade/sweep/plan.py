"""The sweep's plan: the spec checked against its scenario and expanded into grid axes."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from ..errors import InputError
from .spec import _PARAM_SECTIONS, DEPTH_SCALE, SweepSpec, parse_spec


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
    from ..scenario import ModelParameters

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
        raise InputError(
            f"sweep spec: {value}: {err['msg'].removeprefix('Value error, ')}{inner}", field=where
        ) from None


def plan(spec: SweepSpec | dict | str | Path, scenario=None) -> Plan:
    """Validate a spec against its scenario and expand the grid (no engine run)."""
    from ..scenario import Scenario, load_scenario
    from ..summary import parameters_hash, scenario_hash

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
                raise InputError(
                    f"sweep spec: {a!r} is not an asset of {sc.name} ({', '.join(file.assets)})", field="shocks.asset"
                )
        venues = {m.venue for m in file.markets}
        for v in sh.venue:
            if v != "all" and v not in venues:
                raise InputError(
                    f"sweep spec: {v!r} is not a venue of {sc.name} ({', '.join(sorted(venues))})", field="shocks.venue"
                )
            for a in sh.asset:
                if v != "all" and not any(m.venue == v and m.asset == a for m in file.markets):
                    raise InputError(f"sweep spec: {sc.name} has no {v} {a} market", field="shocks.venue")
        if sh.start_hour * 3600.0 >= n_steps * dt:
            raise InputError(
                f"sweep spec: {sh.start_hour:g} h is beyond the horizon ({n_steps * dt / 3600:g} h)",
                field="shocks.start_hour",
            )
        axes += [
            ("shock_usd", list(sh.usd)),
            ("shock_seconds", list(sh.seconds)),
            ("shock_asset", list(sh.asset)),
            ("shock_venue", list(sh.venue)),
        ]
    else:
        axes += [
            ("shock_usd", [0.0]),
            ("shock_seconds", [0.0]),
            ("shock_asset", [next(iter(file.assets))]),
            ("shock_venue", ["all"]),
        ]
    dump = sc.params.model_dump()
    for key, values in spec.parameters.items():
        if key == DEPTH_SCALE:
            for v in values:
                if not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0):
                    raise InputError(
                        f"sweep spec: a depth factor must be a positive number, got {v!r}", field=f"parameters.{key}"
                    )
        else:
            section, dot, name = key.partition(".")
            if not dot or section not in _PARAM_SECTIONS or name not in dump.get(section, {}):
                raise InputError(
                    f"sweep spec: unknown parameter (section.key of model-parameters.toml, or {DEPTH_SCALE})",
                    field=f"parameters.{key}",
                )
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
