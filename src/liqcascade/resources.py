"""What a request needs of the machine, checked before anything is allocated.

A request that cannot fit is refused with one :class:`~liqcascade.errors.InputError` line: what
was asked, what it needs, what the machine has (``--positions 99,999,999,999: needs about 22.4 TB
of memory; this machine has 23.1 GB available``), instead of a ``MemoryError`` minutes later.

The estimates are per item and deliberately round: they are measured peaks of the real code
paths divided by the item count (see each constant), and a request is refused only when even
that estimate exceeds the memory available now; a request near the limit may still run out.  A
replay also carries a fixed cost whatever its count (interpreter, libraries, compiled engine, the
per-step records: :data:`FIXED_BYTES`, :data:`COMPILE_BYTES`), less what this process holds already.
"""

from __future__ import annotations

import math
import os

from .errors import InputError

#: Peak resident bytes per simulated position of a replay (``liqcascade run``): population arrays,
#: the engine's packed copy, its sort and the event buffers.  Measured with ``/usr/bin/time -v``
#: on the default scenario: 830 MB peak at 139,520 positions drawn, 1,145 MB at 2,096,458, a
#: slope of 165 bytes per position (the rest is the interpreter, the libraries and the per-step
#: records); rounded up.
BYTES_PER_POSITION = 200

#: Bytes per cell of a liquidation map: two float64 grids (longs, shorts) while they are built.
BYTES_PER_MAP_CELL = 16

#: Resident bytes a replay holds whatever its count: the interpreter, the NumPy/Numba/pandas
#: imports, the compiled engine loaded from Numba's disk cache and the per-step records of the
#: default scenario.  Measured with ``/usr/bin/time -v .venv/bin/liqcascade run feb-2026
#: --positions 1000`` on 2026-12-06 (48 h at 1 s), engine in the disk cache: maximum resident set
#: 1,146,556 kB with OKX in the scenario (4 assets x 4 venues; 31,073 positions drawn, the floor
#: its tables impose, ~6 MB of it per-position), 964,828 kB before (4 x 3; 5,949 positions).
#: Rounded up.  What this process already holds when a request is checked (about 180 MB after the
#: CLI's imports) is in use, not available, and is not counted twice (see :func:`fixed_bytes_to_come`).
FIXED_BYTES = 1_200_000_000

#: More resident bytes while Numba compiles the engine (the first run after an install or an
#: edit of the package's sources): the same command peaked at 1,425,508 kB when it compiled the
#: engine (279 MB above the cached run; 1,280,784 kB, 316 MB above, before OKX).  Rounded up.
COMPILE_BYTES = 350_000_000


def available_memory_bytes() -> int:
    """Memory available to a new allocation now, bytes (psutil's ``available``; the physical
    memory when psutil is absent; a cgroup limit lowers either)."""
    try:
        import psutil

        avail = int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil comes with the dask extra
        avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        with open("/sys/fs/cgroup/memory.max") as fh:
            limit = fh.read().strip()
        if limit.isdigit():
            avail = min(avail, int(limit))
    except OSError:
        pass
    return avail


def human_bytes(n: float) -> str:
    """``23.1 GB``: decimal units, three significant figures."""
    if not math.isfinite(n):
        return "an unbounded amount"
    for unit, div in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= div:
            return f"{n / div:,.3g} {unit}"
    return f"{n:,.0f} bytes"


#: A request may use at most this share of the memory available: the estimates are rough and the
#: machine is shared with other processes.
MAX_SHARE = 0.5


def require_memory(what: str, need_bytes: float, *, field: str | None = None) -> None:
    """Refuse ``what`` (the request in the user's words) when ``need_bytes`` exceed
    :data:`MAX_SHARE` of the memory available now."""
    have = available_memory_bytes()
    if not (need_bytes <= MAX_SHARE * have):  # NaN needs are refused too
        raise InputError(
            f"{what}: needs about {human_bytes(need_bytes)} of memory; this machine has "
            f"{human_bytes(have)} available (a request may take half)",
            field=field,
        )


def current_rss_bytes() -> int:
    """Resident bytes of this process now (0 when they cannot be read)."""
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except Exception:  # pragma: no cover - psutil comes with the dask extra
        try:
            with open("/proc/self/statm") as fh:
                return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return 0


def engine_compiles() -> bool:
    """Whether a replay started now would compile the engine (it is not in Numba's disk cache)."""
    try:
        from ._jit import engine_in_disk_cache

        return engine_in_disk_cache() is False
    except Exception:  # pragma: no cover - an unreadable cache: assume the cached case
        return False


def fixed_bytes_to_come() -> int:
    """The part of the fixed cost (:data:`FIXED_BYTES`, plus :data:`COMPILE_BYTES` when the engine
    must be compiled) this process does not hold yet: what it holds now is already subtracted from
    the memory available, so only the rest is still to be allocated."""
    fixed = FIXED_BYTES + (COMPILE_BYTES if engine_compiles() else 0)
    return max(0, fixed - current_rss_bytes())


def positions_bytes(n_positions: float) -> float:
    """Peak memory a replay of ``n_positions`` still needs: the per-position arrays
    (:data:`BYTES_PER_POSITION`) and the fixed cost not yet held (:func:`fixed_bytes_to_come`)."""
    return float(n_positions) * BYTES_PER_POSITION + fixed_bytes_to_come()


def require_positions(n_positions: float, what: str, *, field: str | None = "positions") -> None:
    """Refuse a population of ``n_positions`` that cannot fit (see :data:`BYTES_PER_POSITION` and
    :data:`FIXED_BYTES`)."""
    require_memory(what, positions_bytes(n_positions), field=field)


def require_population(scenario, n_positions: int | None) -> None:
    """Refuse a population of ``scenario`` that cannot fit: ``n_positions``, or by default the real
    count its open interest implies (OI × Σ share / mean notional over the leverage mix).  Either
    way the synthesiser draws at least enough positions per market that none outgrows the venue's
    largest tier (4 × OI / the largest tier's notional, per leverage component): an open interest
    far beyond the venues' tiers needs that many whatever ``n_positions`` says."""
    mix = scenario.params.population.leverage_mix
    oi = sum(m.open_interest_usd for m in scenario.spec.markets)
    floor = _tier_floor(scenario, mix)
    if n_positions is not None:
        if floor > n_positions:
            # the synthesiser redraws up to 4 x that count while it looks for survivors
            require_positions(
                5 * floor,
                f"{scenario.name}'s ${oi:,.4g} of open interest under the venues' "
                f"largest tiers ({floor:,.4g} positions at least, whatever --positions "
                "says)",
            )
        require_positions(n_positions, f"{int(n_positions):,} positions")
        return
    implied = max(oi * sum(c.notional_share / c.mean_notional_usd for c in mix), floor)
    require_positions(
        implied,
        f"the real position count of {scenario.name}'s ${oi:,.4g} of open interest "
        f"({implied:,.4g} positions; --positions draws fewer)",
    )


def _tier_floor(scenario, mix) -> float:
    """The positions the synthesiser needs so that no position outgrows its venue's largest tier
    (the estimate of ``population.synthesize``'s ``n_min``, summed over markets, sides and
    leverage components)."""
    from .venues import get_venue

    total = 0.0
    for m in scenario.spec.markets:
        try:
            table = get_venue(m.venue).tier_table(f"{m.asset}/USDT:USDT")
        except Exception:  # an unknown venue or table is the scenario loader's to report
            continue
        price = scenario.spec.assets[m.asset].start_price if m.asset in scenario.spec.assets else 1.0
        max_usd = float(table.max_position()) * (table.contract_size * price if table.basis == "contracts" else 1.0)
        if max_usd > 0:
            total += sum(4.0 * m.open_interest_usd * c.notional_share / (0.95 * max_usd) for c in mix)
    return total
