"""Tiered margin tables (Binance brackets, Bybit risk limits, OKX position tiers, Hyperliquid
margin tables) in one shape.

A table is a list of contiguous tiers.  Each tier holds positions whose *measure* lies in
``(floor, cap]`` and gives a maximum leverage, a maintenance-margin rate (fraction, not percent)
and a maintenance amount ``D`` in USD (Binance "cum", Bybit "MMD", Hyperliquid "deduction"), so
that the maintenance margin of a position of notional ``N`` (USD) in tier ``k`` is

    MM = N * mmr[k] - D[k]

The measure is the position's notional in USD (``basis="notional"``: Binance, Bybit,
Hyperliquid) or its size in contracts (``basis="contracts"``: OKX, where one contract is
``contract_size`` base units).  Where a source gives no ``D`` it is derived by the recursion
``D_1 = 0, D_n = D_{n-1} + floor_n * (mmr_n - mmr_{n-1})`` which makes ``MM`` continuous across
tier boundaries.  With ``D`` from that recursion and non-decreasing rates, ``MM(N)`` is the
maximum over the tiers' lines ``N*mmr_k - D_k``: a convex, piecewise-linear function.  The margin
kernels rely on that (see :mod:`liqcascade.venues.margin`), so tables are validated on
construction.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Mapping

import numpy as np

from ..errors import InputError

Basis = Literal["notional", "contracts"]


def derive_maintenance_amounts(floors: np.ndarray, mmr: np.ndarray) -> np.ndarray:
    """Maintenance amounts (USD for notional tiers) by the continuity recursion.

    ``D_1 = 0``, ``D_n = D_{n-1} + floor_n * (mmr_n - mmr_{n-1})``.
    """
    floors = np.asarray(floors, dtype=np.float64)
    mmr = np.asarray(mmr, dtype=np.float64)
    d = np.zeros_like(mmr)
    for n in range(1, len(mmr)):
        d[n] = d[n - 1] + floors[n] * (mmr[n] - mmr[n - 1])
    return d


def table_date(value: Any, field: str = "as_of") -> _dt.date:
    """A calendar date (UTC) from a ``datetime.date``/``datetime``, a pandas or NumPy timestamp,
    or an ISO string (``2026-02-05``, ``2026-02-05T12:00:00Z``); InputError naming ``field``
    otherwise.  Tier tables are dated to the day."""
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.timezone.utc)
        return value.date()
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, np.datetime64):
        return _dt.date.fromisoformat(str(value.astype("datetime64[D]")))
    to_pydatetime = getattr(value, "to_pydatetime", None)  # pandas.Timestamp
    if callable(to_pydatetime):
        return table_date(to_pydatetime(), field)
    if isinstance(value, str):
        text = value.strip()
        try:
            return _dt.date.fromisoformat(text[:10])
        except ValueError:
            pass
    raise InputError(f"expected a date such as 2026-02-05, got {value!r}", field=field)


@dataclass(frozen=True)
class TierTable:
    """One symbol's tier table on one venue.

    Attributes
    ----------
    venue, symbol:
        Venue name and ccxt unified symbol (``BTC/USDT:USDT``).
    floors, caps:
        Lower and upper bound of each tier's measure (USD notional, or contracts when
        ``basis == "contracts"``).  A position belongs to the first tier with ``measure <= cap``.
    max_leverage:
        Highest leverage allowed inside the tier.
    mmr:
        Maintenance-margin rate, a fraction (0.004 = 0.4 %).
    maintenance_amount:
        ``D`` in USD.  For contract-based tiers it is zero (OKX has none).
    basis:
        What the bounds measure.
    contract_size:
        Base units per contract (OKX ``ctVal``); 1.0 where sizes are in base units.
    as_of, source:
        When and where the table was read.  Bundled tables carry an ISO date (``2024-10-24``):
        the day from which the table is known to be in force; :attr:`as_of_date` parses it.
    """

    venue: str
    symbol: str
    floors: np.ndarray
    caps: np.ndarray
    max_leverage: np.ndarray
    mmr: np.ndarray
    maintenance_amount: np.ndarray
    basis: Basis = "notional"
    contract_size: float = 1.0
    as_of: str = ""
    source: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("floors", "caps", "max_leverage", "mmr", "maintenance_amount"):
            arr = np.ascontiguousarray(getattr(self, name), dtype=np.float64)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        n = len(self.mmr)
        where = f"{self.venue} {self.symbol} tier table"
        if n == 0:
            raise InputError(f"{where} has no tiers", field="tiers")
        if not all(len(getattr(self, a)) == n for a in ("floors", "caps", "max_leverage", "maintenance_amount")):
            raise InputError(f"{where}: tier columns differ in length", field="tiers")
        if not np.all(np.isfinite(self.mmr)) or np.any(self.mmr < 0) or np.any(self.mmr >= 1):
            raise InputError(f"{where}: maintenance rate must be a fraction in [0, 1)", field="mmr")
        if np.any(np.diff(self.mmr) < -1e-15):
            raise InputError(f"{where}: maintenance rates must not fall with the tier", field="mmr")
        if np.any(self.max_leverage <= 0):
            raise InputError(f"{where}: max leverage must be positive", field="max_leverage")
        if np.any(self.caps <= self.floors):
            raise InputError(f"{where}: each tier's cap must exceed its floor", field="caps")
        if n > 1 and not np.allclose(self.floors[1:], self.caps[:-1], rtol=1e-12, atol=1e-9):
            raise InputError(f"{where}: tiers must be contiguous (floor = previous cap)", field="floors")
        if self.basis not in ("notional", "contracts"):
            raise InputError(f"{where}: basis must be 'notional' or 'contracts'", field="basis")
        if not self.contract_size > 0:
            raise InputError(f"{where}: contract size must be positive", field="contract_size")
        if self.basis == "notional":
            # MM must be continuous (the recursion); a source whose amounts disagree is wrong
            # or the table was misread.
            expect = derive_maintenance_amounts(self.floors, self.mmr)
            if not np.allclose(self.maintenance_amount, expect, rtol=1e-6, atol=0.5):
                raise InputError(
                    f"{where}: maintenance amounts {self.maintenance_amount.tolist()} are not "
                    f"continuous across tiers (expected {expect.tolist()})",
                    field="maintenance_amount",
                )

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_rows(
        cls,
        venue: str,
        symbol: str,
        rows: Iterable[Mapping[str, Any]],
        *,
        basis: Basis = "notional",
        contract_size: float = 1.0,
        as_of: str = "",
        source: str = "",
    ) -> "TierTable":
        """Build from rows with ``floor, cap, max_leverage, mmr`` and optional
        ``maintenance_amount`` (derived by the recursion when absent or None)."""
        rows = sorted(list(rows), key=lambda r: float(r["floor"]))
        floors = np.array([float(r["floor"]) for r in rows])
        caps = np.array([float(r["cap"]) for r in rows])
        lev = np.array([float(r["max_leverage"]) for r in rows])
        mmr = np.array([float(r["mmr"]) for r in rows])
        if basis == "contracts":
            d = np.zeros_like(mmr)
        elif all(r.get("maintenance_amount") not in (None, "") for r in rows):
            d = np.array([float(r["maintenance_amount"]) for r in rows])
        else:
            d = derive_maintenance_amounts(floors, mmr)
        return cls(venue, symbol, floors, caps, lev, mmr, d, basis, float(contract_size), as_of, source)

    @classmethod
    def single(
        cls,
        venue: str,
        symbol: str,
        *,
        mmr: float,
        max_leverage: float,
        maintenance_amount: float = 0.0,
    ) -> "TierTable":
        """A one-tier table that pins the parameters (the CLI's ``--mmr`` overrides).

        The maintenance amount is taken as given (it may be non-zero for a pinned tier that sits
        higher in a real table), so the continuity check does not apply.
        """
        t = cls.__new__(cls)
        vals = dict(
            venue=venue,
            symbol=symbol,
            floors=np.array([0.0]),
            caps=np.array([np.inf]),
            max_leverage=np.array([float(max_leverage)]),
            mmr=np.array([float(mmr)]),
            maintenance_amount=np.array([float(maintenance_amount)]),
            basis="notional",
            contract_size=1.0,
            as_of="pinned",
            source="user parameters",
            extra={},
        )
        for k, v in vals.items():
            object.__setattr__(t, k, v)
        for name in ("floors", "caps", "max_leverage", "mmr", "maintenance_amount"):
            arr = np.ascontiguousarray(getattr(t, name), dtype=np.float64)
            arr.setflags(write=False)
            object.__setattr__(t, name, arr)
        if not (0 <= mmr < 1):
            raise InputError("maintenance rate must be a fraction in [0, 1)", field="mmr")
        if not max_leverage > 0:
            raise InputError("max leverage must be positive", field="max_leverage")
        return t

    # ------------------------------------------------------------------ queries
    @property
    def as_of_date(self) -> _dt.date | None:
        """``as_of`` as a date, or None when it is not an ISO date (a live or pinned table)."""
        try:
            return _dt.date.fromisoformat(self.as_of.strip()[:10])
        except ValueError:
            return None

    @property
    def n_tiers(self) -> int:
        return len(self.mmr)

    def measure(self, size: np.ndarray | float, price: np.ndarray | float) -> np.ndarray:
        """The quantity tiers are defined on: USD notional ``size*price`` or contracts
        ``size/contract_size`` (size in base units)."""
        size = np.asarray(size, dtype=np.float64)
        if self.basis == "contracts":
            return size / self.contract_size
        return size * np.asarray(price, dtype=np.float64)

    def tier_index(self, measure: np.ndarray | float) -> np.ndarray:
        """0-based tier holding each measure (``floor < measure <= cap``; 0 for measure 0).

        Measures above the last cap return ``n_tiers`` (out of table)."""
        return np.searchsorted(self.caps, np.asarray(measure, dtype=np.float64), side="left")

    def max_position(self) -> float:
        """Largest measure the table admits (USD or contracts)."""
        return float(self.caps[-1])

    def rows(self) -> list[dict[str, float]]:
        return [
            dict(
                tier=i + 1,
                floor=float(self.floors[i]),
                cap=float(self.caps[i]),
                max_leverage=float(self.max_leverage[i]),
                mmr=float(self.mmr[i]),
                maintenance_amount=float(self.maintenance_amount[i]),
            )
            for i in range(self.n_tiers)
        ]
