"""Validation: every bundled event that has targets, replayed over seeds with the global
parameters unchanged, against its reported figures.

    >>> from liqcascade.validate import validate
    >>> res = validate(["aug-2024"], seeds=range(2), positions=20_000)  # doctest: +SKIP
    >>> print(res.to_markdown())  # doctest: +SKIP

:func:`validate` replays each event (:func:`liqcascade.pipeline.replay`; observed where the
scenario has a market series) once per seed, in a process pool, and gives per event and target
the simulated median and 10–90 % range over the seeds, the band, the reported figures, whether the
median lies in the band, and whether the event is in-sample (the global parameters were fitted to
it: the February 2026 episodes) or out-of-sample (``sample`` in its targets file).  Nothing is
tuned: a miss is reported as it comes.

Counts.  The population's USD totals (liquidations, their shares, prices) are full scale at any
``positions`` (a reduced draw scales its notionals so each market holds its open interest);
``accounts_liquidated_full_scale`` is an *estimate* at a reduced count (the liquidated accounts
× the population's scale factor); ``largest_liquidation_usd`` is not scaled and depends on the count (the largest of a
heavy-tailed draw: oct-2025's median over seeds 0–9 is $65M at 300,000 positions and $99M at
the real count).  ``positions="real"`` (``None``) draws the real count.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .errors import InputError

__all__ = ["DEFAULT_POSITIONS", "TargetResult", "ValidationResult", "validate", "parse_seeds", "event_names"]

#: the default position count: below every bundled event's real count (aug-2024 draws 568,869
#: at the real count, oct-2025 808,478, feb-2026 4.7M), a run of 2-16 s on one core once the
#: kernels are compiled (measured 6 Dec 2026); ``None`` draws the real count
DEFAULT_POSITIONS = 300_000


# ---------------------------------------------------------------------------------- inputs
def parse_seeds(text: str) -> list[int]:
    """``"0-9"`` → 0…9, ``"0,3,5"`` → [0, 3, 5] (ranges and lists may mix: ``"0-2,7"``).
    Seeds are non-negative integers, each listed once."""
    out: list[int] = []
    parts = [p.strip() for p in str(text).split(",")]
    if not parts or any(not p for p in parts):
        raise InputError(f"--seeds: {text!r} is not a seed list (e.g. 0-9 or 0,3,5)", field="seeds")
    for p in parts:
        lo, sep, hi = p.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise InputError(f"--seeds: {p!r} is not a seed or a range of seeds (e.g. 0-9 or 0,3,5)", field="seeds")
        a, b = int(lo), int(hi) if sep else int(lo)
        if b < a:
            raise InputError(f"--seeds: the range {p!r} runs backwards", field="seeds")
        out += range(a, b + 1)
    if len(set(out)) != len(out):
        raise InputError(f"--seeds: {text!r} lists a seed twice", field="seeds")
    return out


def event_names() -> list[str]:
    """The bundled scenarios that have bundled targets, in the targets' order."""
    from .scenario import BUNDLED
    from .targets import BUNDLED_TARGETS

    return [n for n in BUNDLED_TARGETS if n in BUNDLED]


def _resolve(event: str):
    """(label, scenario name or path, loaded targets) of an event: a bundled name, or a targets
    TOML whose ``scenario`` is a bundled name or a scenario TOML (relative to the targets file)."""
    from .scenario import BUNDLED
    from .targets import load_targets

    key = str(event)
    if key in event_names():
        return key, key, load_targets(key)
    if not key.endswith(".toml") or not Path(key).is_file():
        raise InputError(
            f"unknown event {key!r}: give a bundled event ({', '.join(event_names())}) or a targets TOML file",
            field="events",
        )
    tg = load_targets(key)
    if tg.scenario in BUNDLED:
        return tg.name, tg.scenario, tg
    sc = Path(tg.scenario)
    sc = sc if sc.is_absolute() else Path(key).parent / sc
    if not sc.is_file():
        raise InputError(f"{key}: its scenario {tg.scenario!r} is neither bundled nor a file", field="events")
    return tg.name, str(sc), tg


def _check_positions(positions: Any) -> int | None:
    if positions is None or (isinstance(positions, str) and positions.strip().lower() == "real"):
        return None
    if isinstance(positions, str):
        try:
            positions = int(positions.strip().replace("_", ""))
        except ValueError:
            raise InputError(
                f"--positions: must be a positive whole number or 'real', got {positions!r}", field="positions"
            ) from None
    if isinstance(positions, bool) or not isinstance(positions, (int, np.integer)) or positions <= 0:
        raise InputError(
            f"--positions: must be a positive whole number or 'real', got {positions!r}", field="positions"
        )
    return int(positions)


# ---------------------------------------------------------------------------------- one run
def _lookup(summary: dict, key: str) -> Any:
    from .summary import lookup

    return lookup(summary, key)


def _run_one(task: tuple[str, str, int, int | None, str | None, tuple[str, ...]]) -> dict[str, Any]:
    """One replay (in a worker process): the figures the targets name, and how it ran."""
    label, scenario, seed, positions, mode, keys = task
    from .pipeline import replay

    t = time.perf_counter()
    res = replay(scenario, seed=seed, positions=positions, mode=mode)
    s = res.summary
    return {
        "event": label,
        "seed": seed,
        "mode": res.mode,
        "positions": int(s.get("positions", 0)),
        "population_scale": float(s.get("population_scale", 1.0)),
        "seconds": time.perf_counter() - t,
        "values": {k: _plain(_lookup(s, k)) for k in keys},
    }


def _plain(x: Any) -> Any:
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return x


def _init_worker() -> None:
    os.environ["LIQCASCADE_THREADS"] = "1"  # the pool's processes share the cores


# ---------------------------------------------------------------------------------- results
def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


@dataclass
class TargetResult:
    """One event's one target over the seeds.  ``median``, ``p10``, ``p90``: over the seeds'
    figures (linear percentiles; None when no seed gave a number); for an ``equals`` target the
    value more than half of the seeds give is the median (None without such a majority) and
    p10/p90 are None.  ``in_band``: the median lies in the
    band (``greater_than``: the median of ``key`` exceeds the median of ``than``; ``equals``:
    the most common value is the expected one).  ``seeds_in_band``: how many single seeds do."""

    event: str
    sample: str
    key: str
    label: str
    kind: str
    units: str
    band: str
    low: float | None
    high: float | None
    reported: str
    sources: str
    values: list[Any]
    median: Any
    p10: Any
    p90: Any
    in_band: bool
    seeds_in_band: int

    @property
    def n(self) -> int:
        return len(self.values)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["n"] = self.n
        return d


@dataclass
class ValidationResult:
    """The validation: one :class:`TargetResult` per event and target, and how it ran."""

    rows: list[TargetResult]
    events: list[str]
    samples: dict[str, str]
    seeds: list[int]
    positions: int | None
    mode: str | None
    runs: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def met(self, event: str | None = None) -> tuple[int, int]:
        rows = [r for r in self.rows if event is None or r.event == event]
        return sum(r.in_band for r in rows), len(rows)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready record."""
        return {
            "seeds": self.seeds,
            "positions": "real" if self.positions is None else self.positions,
            "mode": self.mode,
            "seconds": self.seconds,
            "events": [
                {
                    "event": e,
                    "sample": self.samples[e],
                    "met": self.met(e)[0],
                    "total": self.met(e)[1],
                    "targets": [r.as_dict() for r in self.rows if r.event == e],
                }
                for e in self.events
            ],
            "runs": self.runs,
        }

    def table_rows(self) -> list[list[str]]:
        """The table's text cells: event, sample, target, median, 10–90 % range, band, reported,
        in band."""
        out = []
        for r in self.rows:
            out.append(
                [
                    r.event,
                    r.sample,
                    r.label,
                    _fmt(r.median, r.units, r.kind),
                    _range(r),
                    r.band,
                    _reported(r),
                    ("yes" if r.in_band else "no") + f" ({r.seeds_in_band}/{r.n})",
                ]
            )
        return out

    HEADER = ("event", "sample", "target", "median", "10–90 %", "band", "reported", "in band (seeds)")

    def to_markdown(self) -> str:
        """The table as Markdown, with a line saying how it ran."""
        pos = "the real count" if self.positions is None else f"{self.positions:,}"
        lines = [
            f"Seeds {_seeds_text(self.seeds)} ({len(self.seeds)}), positions {pos}, "
            f"mode {self.mode or 'scenario default'}; global parameters unchanged.",
            "",
            "| " + " | ".join(self.HEADER) + " |",
            "|" + "|".join("---" for _ in self.HEADER) + "|",
        ]
        for cells in self.table_rows():
            lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
        lines.append("")
        for e in self.events:
            k, n = self.met(e)
            lines.append(f"- {e} ({self.samples[e]}): {k} of {n} targets in band (median)")
        return "\n".join(lines) + "\n"


def _seeds_text(seeds: list[int]) -> str:
    if seeds and seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2:
        return f"{seeds[0]}–{seeds[-1]}"
    return ", ".join(str(s) for s in seeds)


def _fmt(x: Any, units: str, kind: str = "band") -> str:
    from .targets import fmt

    return fmt(x, units)


def _range(r: TargetResult) -> str:
    if r.p10 is None or r.p90 is None:
        if r.kind == "equals":
            top = Counter(repr(v) for v in r.values).most_common(1)
            return f"{top[0][1]}/{r.n} seeds" if top and r.median is not None else "no majority"
        return "n/a"
    return f"{_fmt(r.p10, r.units)} – {_fmt(r.p90, r.units)}"


def _reported(r: TargetResult) -> str:
    text = r.reported.split("; ")[0] if r.reported else "not reported"
    return text if len(text) <= 60 else text[:57] + "…"


def _summarise(label: str, sample: str, target, values: list[Any], than_values: list[Any]) -> TargetResult:
    from .targets import check, format_band

    nums = [v for v in values if _finite(v)]
    if target.kind == "equals":  # the value most seeds give, when more than half give it
        common = Counter(repr(v) for v in values).most_common(1)
        median = next(v for v in values if repr(v) == common[0][0]) if common else None
        if not common or 2 * common[0][1] <= len(values):
            median = None  # no majority (e.g. a 5/5 tie): not in band
        p10 = p90 = None
    elif nums:
        median, p10, p90 = (float(np.percentile(nums, q)) for q in (50, 10, 90))
    else:
        median = p10 = p90 = None
    singles = [check(target, _nested(target.key, v, target.than, tv)) for v, tv in zip(values, than_values)]
    than_med = None
    if target.kind == "greater_than":
        tn = [v for v in than_values if _finite(v)]
        than_med = float(np.median(tn)) if tn else None
    row = check(target, _nested(target.key, median, target.than, than_med))
    reported = "; ".join(r.note for r in target.reported) or (target.note or "not reported")
    return TargetResult(
        event=label,
        sample=sample,
        key=target.key,
        label=target.label,
        kind=target.kind,
        units=target.units,
        band=format_band(target),
        low=target.low,
        high=target.high,
        reported=reported,
        sources=", ".join(dict.fromkeys(r.source for r in target.reported)),
        values=values,
        median=median,
        p10=p10,
        p90=p90,
        in_band=bool(row.ok),
        seeds_in_band=sum(s.ok for s in singles),
    )


def _nested(key: str, value: Any, than: str | None = None, than_value: Any = None) -> dict:
    """A summary-like dict holding ``value`` at the dotted ``key`` (and ``than_value`` at ``than``)."""
    out: dict = {}
    for k, v in ((key, value), (than, than_value)):
        if k is None:
            continue
        d = out
        parts = k.split(".")
        for p in parts[:-1]:
            d = d.setdefault(p, {})
        d[parts[-1]] = v
    return out


# ---------------------------------------------------------------------------------- validate
def validate(
    events: Sequence[str] | None = None,
    seeds: Iterable[int] = range(10),
    positions: int | str | None = DEFAULT_POSITIONS,
    mode: str | None = None,
    *,
    workers: int = 2,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> ValidationResult:
    """Replay every event over ``seeds`` with the global parameters unchanged and compare each
    target's median over the seeds with its band.

    Parameters
    ----------
    events:
        Bundled event names (default: every bundled scenario with bundled targets:
        :func:`event_names`), or targets TOML files whose ``scenario`` is a bundled name or a
        scenario TOML (a path relative to the targets file).
    seeds:
        The seeds (non-negative integers, each once); default 0–9.
    positions:
        Positions drawn per run (default :data:`DEFAULT_POSITIONS`); ``None`` or ``"real"``: the
        real count.  See the module docstring for which figures scale with it.
    mode:
        ``observed``, ``free`` or None (each scenario's default: observed where it has a market
        series).
    workers:
        At most this many runs at once, each in its own process (1: in this process).
    progress:
        Called with each finished run's record (event, seed, seconds, …).

    Returns
    -------
    :class:`ValidationResult`.  Bad input raises :class:`~liqcascade.errors.InputError` before
    any run.
    """
    from .pipeline import MODES, load, scenario_mode
    from .targets import require_known_keys

    seeds = list(seeds)
    if not seeds:
        raise InputError("--seeds: no seed given", field="seeds")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            raise InputError(f"--seeds: seeds are non-negative integers, got {s!r}", field="seeds")
    if len(set(seeds)) != len(seeds):
        raise InputError("--seeds: a seed is listed twice", field="seeds")
    seeds = [int(s) for s in seeds]
    n = _check_positions(positions)
    if mode is not None and mode not in MODES:
        raise InputError(f"--mode: must be one of {', '.join(MODES)}, got {mode!r}", field="mode")
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise InputError(f"--workers: must be a positive whole number, got {workers!r}", field="workers")
    names = list(event_names() if events is None else events)
    if not names:
        raise InputError("no event to validate", field="events")
    resolved, samples, seen = [], {}, set()
    for e in names:
        label, scenario, tg = _resolve(e)
        if label in seen:
            raise InputError(f"event {label!r} is listed twice", field="events")
        seen.add(label)
        sc = load(scenario)
        scenario_mode(sc, mode)  # refuses observed for a scenario without a series
        require_known_keys(tg, [m.venue for m in sc.spec.markets], list(sc.spec.assets))
        keys = tuple(dict.fromkeys(k for t in tg.targets for k in (t.key, t.than) if k))
        resolved.append((label, scenario, tg, keys))
        samples[label] = tg.sample or "not said"

    tasks = [(label, scenario, s, n, mode, keys) for label, scenario, _tg, keys in resolved for s in seeds]
    t0 = time.perf_counter()
    runs = _run_all(tasks, int(workers), progress)
    by = {(r["event"], r["seed"]): r for r in runs}
    rows = []
    for label, _scenario, tg, _keys in resolved:
        for t in tg.targets:
            vals = [by[(label, s)]["values"].get(t.key) for s in seeds]
            than = [by[(label, s)]["values"].get(t.than) if t.than else None for s in seeds]
            rows.append(_summarise(label, samples[label], t, vals, than))
    runs.sort(key=lambda r: ([x[0] for x in resolved].index(r["event"]), r["seed"]))
    modes = {r["mode"] for r in runs}
    return ValidationResult(
        rows=rows,
        events=[x[0] for x in resolved],
        samples=samples,
        seeds=seeds,
        positions=n,
        mode=mode or (modes.pop() if len(modes) == 1 else None),
        runs=runs,
        seconds=time.perf_counter() - t0,
    )


def _run_all(tasks, workers: int, progress) -> list[dict[str, Any]]:
    tell = progress or (lambda rec: None)
    out = []
    if workers == 1 or len(tasks) == 1:
        for task in tasks:
            rec = _run_one(task)
            out.append(rec)
            tell(rec)
        return out
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # a clean interpreter: no inherited threads or locks
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx, initializer=_init_worker) as pool:
        pending = {pool.submit(_run_one, t) for t in tasks}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    rec = f.result()
                    out.append(rec)
                    tell(rec)
        except BaseException:
            for f in pending:
                f.cancel()
            raise
    return out
