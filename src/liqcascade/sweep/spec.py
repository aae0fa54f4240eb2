"""The sweep's spec: what to sweep (:class:`SweepSpec`), validated into one-line errors."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import InputError

DEFAULT_SHOCKS_USD = (1e8, 2e8, 5e8, 1e9, 2e9, 5e9, 1e10)
_PARAM_SECTIONS = ("population", "market_maker", "prices", "flows", "cohorts", "liquidation")
DEPTH_SCALE = "depth.scale"


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
        from ..venues import VENUES

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


# ================================================================================ from command-line options
def parse_floats(text: str | None, flag: str) -> list[float] | None:
    """Comma-separated finite numbers (``flag`` names them in an error); None stays None."""
    if text is None:
        return None
    out: list[float] = []
    for part in text.split(","):
        if not part.strip():
            continue
        try:
            out.append(float(part))
        except ValueError:
            raise InputError(f"{flag}: {part.strip()!r} is not a number", field=flag.lstrip("-")) from None
        if not math.isfinite(out[-1]):
            what = "NaN (not a number)" if math.isnan(out[-1]) else f"{out[-1]} (infinite)"
            raise InputError(f"{flag}: got {what}; give finite numbers", field=flag.lstrip("-"))
    if not out:
        raise InputError(f"{flag}: empty list (the grid would be empty)", field=flag.lstrip("-"))
    return out


def parse_parameter(text: str) -> tuple[str, list[Any]]:
    """``section.key=v1,v2,...`` (or a JSON list after ``=``) as (key, values)."""
    key, eq, values = text.partition("=")
    if not eq or not key.strip():
        raise InputError(f"--param expects section.key=v1,v2,..., got {text!r}", field="param")
    values = values.strip()
    if values.startswith("["):
        try:
            parsed = json.loads(values)
        except ValueError:
            raise InputError(f"--param {key}: not a JSON list of values", field="param") from None
        if not isinstance(parsed, list):
            raise InputError(f"--param {key}: not a JSON list of values", field="param")
        _finite_values(key, parsed)
        return key.strip(), list(parsed)
    out: list[Any] = []
    for v in values.split(","):
        v = v.strip()
        if not v:
            continue
        try:
            out.append(int(v) if v.lstrip("-").isdigit() else float(v))
        except ValueError:
            out.append(v)
    _finite_values(key, out)
    return key.strip(), out


def _finite_values(key: str, values: Any) -> None:
    """NaN or infinity anywhere in a --param value list is refused, naming it."""
    if isinstance(values, float) and not math.isfinite(values):
        what = "NaN (not a number)" if math.isnan(values) else f"{values} (infinite)"
        raise InputError(f"--param {key.strip()}: got {what}; give finite numbers", field="param")
    if isinstance(values, (list, tuple)):
        for v in values:
            _finite_values(key, v)
    elif isinstance(values, dict):
        for v in values.values():
            _finite_values(key, v)


def spec_from_options(
    scenario: str = "feb-2026",
    *,
    shocks: str | None = None,
    shock_seconds: str = "600",
    shock_asset: str = "BTC",
    shock_venue: str = "all",
    shock_start_hour: float = 0.0,
    parameters: Sequence[str] = (),
    paths: int = 16,
    seed: int = 0,
    flow_noise: float = 0.0,
    depth_noise: float = 0.0,
    n_steps: int | None = 1440,
    step_seconds: float | None = 60.0,
    positions: int | None = 100_000,
    levels: str = "0.95,0.99",
) -> SweepSpec:
    """A :class:`SweepSpec` from the ``sweep`` command's options, given as text where the command
    takes lists: ``shocks`` (USD sizes, default :data:`DEFAULT_SHOCKS_USD`), ``shock_seconds``,
    ``shock_asset``, ``shock_venue`` and ``levels`` comma-separated; ``parameters`` one
    ``section.key=v1,v2`` per axis."""
    return parse_spec(
        {
            "scenario": scenario,
            "shocks": {
                "usd": parse_floats(shocks, "--shocks") if shocks is not None else list(DEFAULT_SHOCKS_USD),
                "seconds": parse_floats(shock_seconds, "--shock-seconds"),
                "asset": [a.strip() for a in shock_asset.split(",") if a.strip()],
                "venue": [v.strip() for v in shock_venue.split(",") if v.strip()],
                "start_hour": shock_start_hour,
            },
            "parameters": dict(parse_parameter(p) for p in parameters),
            "paths": paths,
            "seed": seed,
            "noise": {"flow_usd": flow_noise, "depth": depth_noise},
            "n_steps": n_steps,
            "step_seconds": step_seconds,
            "positions": positions,
            "levels": parse_floats(levels, "--levels"),
        }
    )
