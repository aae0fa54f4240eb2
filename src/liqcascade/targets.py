"""Target figures (TOML, validated with Pydantic) and the comparison of a run's summary with them.

A targets file lists what a replay should reproduce: each target names a summary key (dotted to
reach into a dict: ``drawdown_pct.BTC``), a band with units, and the reported figures with the
seed report they come from.  Bundled: ``scenarios/targets/feb-2026.toml`` and
``feb-2026-weekend.toml``, from ``../shared/events/feb-2026.md`` and issue 4's bands (``sample =
"in-sample"``: the global parameters were fitted to them), and ``oct-2025.toml``,
``aug-2024.toml`` (``sample = "out-of-sample"``), from public reports named beside each figure.

Kinds of target:

- ``band`` (default): ``low <= simulated <= high``; either bound may be left out.
- ``greater_than``: the summary's ``key`` exceeds its ``than`` key (ETH falls further than BTC).
- ``equals``: the summary's ``key`` equals ``value`` (the largest liquidation is on Hyperliquid).

:func:`compare` gives one row per target — figure, simulated, band, reported, ✓/✗ — and a figure
the run does not produce (missing, ``None``, NaN) is a ✗, never a pass.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import InputError, from_validation_error, reject_non_finite
from .summary import lookup

PASS, FAIL = "✓", "✗"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Reported(_Strict):
    """One reported figure: its value (in the target's units) where it is a number, the wording,
    and the seed report (``000`` … ``003``, ``../shared/seeds/NNN_*.txt``)."""

    value: float | None = None
    note: str
    source: str = Field(min_length=1)


class Target(_Strict):
    key: str = Field(min_length=1, description="summary key, dotted into dicts")
    label: str = Field(min_length=1)
    kind: Literal["band", "greater_than", "equals"] = "band"
    low: float | None = None
    high: float | None = None
    than: str | None = None
    value: str | float | None = None
    units: str = Field(min_length=1)
    reported: list[Reported] = Field(default_factory=list)
    note: str = Field("", description="where the band comes from when no report gives the figure")

    @model_validator(mode="after")
    def _kind(self):
        if self.kind == "band":
            if self.low is None and self.high is None:
                raise ValueError("a band needs low, high or both")
            for name in ("low", "high"):
                v = getattr(self, name)
                if v is not None and not math.isfinite(v):
                    raise ValueError(f"{name} must be a finite number")
            if self.low is not None and self.high is not None and self.low > self.high:
                raise ValueError(f"low {self.low:g} is above high {self.high:g}")
            if self.than is not None or self.value is not None:
                raise ValueError("a band takes low/high, not than/value")
        elif self.kind == "greater_than":
            if not self.than:
                raise ValueError("kind greater_than needs than (another summary key)")
            if self.low is not None or self.high is not None or self.value is not None:
                raise ValueError("kind greater_than takes than, not low/high/value")
        else:
            if self.value is None:
                raise ValueError("kind equals needs value")
            if self.low is not None or self.high is not None or self.than is not None:
                raise ValueError("kind equals takes value, not low/high/than")
        return self


class Targets(_Strict):
    name: str = Field(min_length=1)
    scenario: str = Field(min_length=1, description="the scenario these targets are for")
    title: str = ""
    source: str = ""
    sample: Literal["in-sample", "out-of-sample"] | None = Field(
        None,
        description="in-sample: the global parameters were fitted to this event; out-of-sample: "
        "they were not (a validation); None: not said",
    )
    targets: list[Target] = Field(min_length=1)


BUNDLED_TARGETS = ("feb-2026", "feb-2026-weekend", "oct-2025", "aug-2024")


def _one_line(err: ValidationError, where: str) -> InputError:
    return from_validation_error(err, where)


def bundled_targets_exist(name: str) -> bool:
    return name in BUNDLED_TARGETS


def load_targets(name_or_path: str | Path) -> Targets:
    """A bundled targets file by name (``feb-2026``) or a TOML file by path, validated.  Errors
    are one :class:`InputError` line naming the file and the field (``targets[2].low: …``)."""
    key = str(name_or_path)
    if key in BUNDLED_TARGETS:
        where = f"targets/{key}.toml"
        text = resources.files("liqcascade.scenarios").joinpath("targets", f"{key}.toml").read_text("utf-8")
    else:
        p = Path(key)
        if not p.is_file():
            raise InputError(
                f"no targets named {key!r} and no such file (bundled: {', '.join(BUNDLED_TARGETS)})", field="targets"
            )
        where = str(p)
        try:
            text = p.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"{where}: cannot read: {e}", field="targets") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{where}: not valid TOML: {e}", field="targets") from None
    reject_non_finite(doc, where)
    try:
        return Targets.model_validate(doc)
    except ValidationError as e:
        raise _one_line(e, where) from None


def require_known_keys(targets: Targets, venues, assets) -> None:
    """Refuse a targets file that names a figure a run's summary does not have (``key`` or
    ``than``): it could never pass, and would be found out only after the run."""
    from .summary import unknown_key

    for i, t in enumerate(targets.targets):
        for name in ("key", "than"):
            key = getattr(t, name)
            why = None if key is None else unknown_key(key, venues, assets)
            if why:
                raise InputError(f"targets {targets.name!r}: {why}", field=f"targets[{i}].{name}")


# ---------------------------------------------------------------------------------- comparison
@dataclass
class Row:
    """One line of the comparison.  ``simulated`` is the run's figure (``None`` when the run did
    not produce it); ``ok`` is ``True`` only when it lies in the band (or holds the relation)."""

    key: str
    label: str
    kind: str
    units: str
    simulated: Any
    low: float | None
    high: float | None
    than: str | None
    than_value: Any
    expected: Any
    reported: str
    sources: str
    ok: bool

    @property
    def mark(self) -> str:
        return PASS if self.ok else FAIL

    @property
    def band(self) -> str:
        return format_band(self)

    @property
    def simulated_text(self) -> str:
        if self.kind == "greater_than":
            return f"{fmt(self.simulated, self.units)} vs {fmt(self.than_value, self.units)}"
        return fmt(self.simulated, self.units)

    def as_dict(self) -> dict:
        d = asdict(self)
        d.update(mark=self.mark, band=self.band)
        return d


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check(target: Target, summary: dict) -> Row:
    """Compare one target with a summary."""
    sim = lookup(summary, target.key)
    than_value = lookup(summary, target.than) if target.than else None
    if target.kind == "band":
        ok = _finite(sim) and (target.low is None or sim >= target.low) and (target.high is None or sim <= target.high)
    elif target.kind == "greater_than":
        ok = _finite(sim) and _finite(than_value) and sim > than_value
    else:
        ok = sim is not None and (
            sim == target.value if not _finite(target.value) else _finite(sim) and math.isclose(sim, target.value)
        )
    rep = "; ".join(r.note for r in target.reported) or "not reported"
    if target.note:
        rep = f"{rep} ({target.note})"
    src = ", ".join(dict.fromkeys(r.source for r in target.reported))
    return Row(
        target.key,
        target.label,
        target.kind,
        target.units,
        sim,
        target.low,
        target.high,
        target.than,
        than_value,
        target.value,
        rep,
        src,
        bool(ok),
    )


def compare(summary: dict, targets: Targets) -> list[Row]:
    """One row per target: figure, simulated, band, reported, ✓/✗."""
    return [check(t, summary) for t in targets.targets]


def comparison_summary(rows: list[Row], targets: Targets) -> dict:
    """A compact, JSON-ready record of a comparison (stored in the run's summary)."""
    return {
        "name": targets.name,
        "met": sum(r.ok for r in rows),
        "total": len(rows),
        "rows": [{"key": r.key, "label": r.label, "simulated": r.simulated, "band": r.band, "ok": r.ok} for r in rows],
    }


# ---------------------------------------------------------------------------------- formatting
def fmt(x: Any, units: str) -> str:
    """A figure in its units: USD as $2.60B, accounts as 573,198, fractions and percent."""
    if x is None:
        return "n/a"
    if isinstance(x, str):
        return x
    if not _finite(x):
        return "n/a"
    if units == "USD":
        a = abs(x)
        sign = "-" if x < 0 else ""
        for div, suf, dec in ((1e9, "B", 2), (1e6, "M", 1), (1e3, "k", 0)):
            if a >= div:
                return f"{sign}${a / div:,.{dec}f}{suf}"
        return f"{sign}${a:,.0f}"
    if units.startswith("USD"):  # a price: USD per base unit
        return f"${x:,.0f}" if abs(x) >= 100 else f"${x:.4g}"
    if units == "accounts":
        return f"{x:,.0f}"
    if units == "fraction":
        return f"{x:.3f}"
    if units == "percent":
        return f"{x:.1f} %"
    if units == "hours":
        return f"{x:+.1f} h"
    return f"{x:g}"


def format_band(row: Row | Target) -> str:
    if row.kind == "greater_than":
        return f"> {row.than}"
    if row.kind == "equals":
        return f"= {row.value if hasattr(row, 'value') else row.expected}"
    lo = None if row.low is None else fmt(row.low, row.units)
    hi = None if row.high is None else fmt(row.high, row.units)
    if lo is not None and hi is not None:
        return f"{lo} – {hi}"
    return f"≥ {lo}" if lo is not None else f"≤ {hi}"
