"""Positions as a struct of arrays.

One row per position; every column a NumPy array of the same length.  Units: ``size`` in base
units (BTC), ``entry`` in USD per base unit, ``margin`` in USD, ``leverage`` the declared
leverage (notional at entry / initial margin).  ``side`` is +1 long, -1 short; ``mode`` is 0
isolated, 1 cross.  Venues and assets are small integer codes into :attr:`Positions.venues` and
:attr:`Positions.assets`.

Cross positions: an account holding one cross position on a venue has that position's ``margin``
as its wallet, and the venue's *cross* liquidation price (it differs from isolated on a venue
whose isolated maintenance margin is set on the entry value); the engine sweeps it like an
isolated position.  An account holding cross positions in several markets of one venue is a
multi-asset cross account: its wallet is the sum of those positions' ``margin`` fields, and the
engine checks it as a whole at every wave (see :func:`liqcascade.engine.core.check_cross_accounts`).

Pending positions (``pending`` True): positions *opened during the run* — a stop entry order
triggered when the venue's mark first reaches ``entry`` (USD): from above when ``entry`` is at or
below the asset's start price (dip buyers, momentum shorts on the way down), from below
otherwise.  Until then the trader's ``margin`` sits in the wallet and the position has no size;
when triggered it is a market order that walks the book (a long buys, a short sells), its entry
becomes the fill price and the taker fee comes out of its margin.  A pending position is
isolated or a single cross position (never part of a multi-asset cross account).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..venues import get_venue

ISOLATED = 0
CROSS = 1


def venue_symbol(venue: str, asset: str) -> str:
    """The venue's symbol for a base asset (``BTC`` → ``BTC/USDT:USDT`` or ``BTC/USDC:USDC``)."""
    return get_venue(venue).resolve_symbol(f"{asset.upper()}/USDT:USDT")


@dataclass
class Positions:
    """Open positions, struct of arrays (see module docstring for units)."""

    account: np.ndarray
    venue: np.ndarray
    asset: np.ndarray
    side: np.ndarray
    size: np.ndarray
    entry: np.ndarray
    margin: np.ndarray
    mode: np.ndarray
    leverage: np.ndarray
    venues: tuple[str, ...]
    assets: tuple[str, ...]
    pending: np.ndarray | None = None  # bool per position: opens during the run at ``entry``
    #: seconds after the start at which a pending position opens at the market (NaN: at its
    #: ``entry`` trigger price); None: no timed openings
    open_s: np.ndarray | None = None
    #: seconds after the start at which the position is closed at the market by its holder (NaN:
    #: held); None: no timed closes
    close_s: np.ndarray | None = None

    @classmethod
    def from_arrays(
        cls,
        *,
        account,
        venue,
        asset,
        side,
        size,
        entry,
        margin,
        leverage,
        mode=None,
        venues=None,
        assets=None,
        pending=None,
        open_s=None,
        close_s=None,
    ) -> "Positions":
        """Build from columns.  ``venue``/``asset`` may be names or integer codes (then pass
        ``venues``/``assets``); ``side`` may be +1/-1 or "long"/"short"; ``mode`` 0/1 or
        "isolated"/"cross" (default isolated); ``pending`` booleans (default: all open at the
        start); ``open_s``/``close_s`` seconds after the start (NaN: none) at which a pending
        position opens at the market / a position is closed at the market by its holder."""
        venue_codes, venues = _codes(venue, venues, "venue", str.lower)
        asset_codes, assets = _codes(asset, assets, "asset", str.upper)
        side = np.asarray(side)
        if side.dtype.kind in "USO":
            low = np.char.lower(side.astype(str))
            side = np.where(low == "long", 1, np.where(low == "short", -1, 0))
        side = np.asarray(side).astype(np.int8)
        n = len(side)
        if mode is None:
            mode = np.zeros(n, np.int8)
        mode = np.asarray(mode)
        if mode.dtype.kind in "USO":
            low = np.char.lower(mode.astype(str))
            mode = np.where(low == "isolated", 0, np.where(low == "cross", 1, -1))
        pos = cls(
            account=np.asarray(account, np.int64),
            venue=venue_codes,
            asset=asset_codes,
            side=side,
            size=np.asarray(size, np.float64),
            entry=np.asarray(entry, np.float64),
            margin=np.asarray(margin, np.float64),
            mode=np.asarray(mode).astype(np.int8),
            leverage=np.broadcast_to(np.asarray(leverage, np.float64), (n,)).copy()
            if np.ndim(leverage) == 0
            else np.asarray(leverage, np.float64),
            venues=tuple(venues),
            assets=tuple(assets),
            pending=None if pending is None else np.asarray(pending, bool),
            open_s=None if open_s is None else np.asarray(open_s, np.float64),
            close_s=None if close_s is None else np.asarray(close_s, np.float64),
        )
        pos.validate()
        return pos

    def __len__(self) -> int:
        return len(self.size)

    @property
    def notional(self) -> np.ndarray:
        """Entry notional, USD."""
        return self.size * self.entry

    @property
    def is_pending(self) -> np.ndarray:
        """Bool per position: opens during the run (all False when ``pending`` is None)."""
        return np.zeros(len(self.size), bool) if self.pending is None else self.pending

    @property
    def n_pending(self) -> int:
        return 0 if self.pending is None else int(np.count_nonzero(self.pending))

    def market(self) -> np.ndarray:
        """Market code ``venue * n_assets + asset`` (int16)."""
        return (self.venue.astype(np.int16) * len(self.assets) + self.asset).astype(np.int16)

    def validate(self) -> None:
        """Refuse what no venue would hold, with a message naming the field and the first bad row."""
        n = len(self.side)
        for name in ("account", "venue", "asset", "size", "entry", "margin", "mode", "leverage") + tuple(
            f for f in ("pending", "open_s", "close_s") if getattr(self, f) is not None
        ):
            if len(getattr(self, name)) != n:
                raise InputError(f"has {len(getattr(self, name))} rows, side has {n}", field=name)

        def bad(mask, field, msg):
            if np.any(mask):
                i = int(np.flatnonzero(mask)[0])
                raise InputError(f"{msg} (first bad position: row {i})", field=field, row=i)

        bad(~np.isin(self.side, (-1, 1)), "side", "side must be +1/'long' or -1/'short'")
        for name in ("size", "entry", "margin", "leverage"):
            arr = getattr(self, name)
            bad(~(np.isfinite(arr) & (arr > 0)), name, "must be a positive finite number")
        bad(~np.isin(self.mode, (ISOLATED, CROSS)), "mode", "mode must be 'isolated' or 'cross'")
        for name in ("open_s", "close_s"):
            arr = getattr(self, name)
            if arr is not None:
                bad(
                    ~np.isnan(arr) & ~(np.isfinite(arr) & (arr >= 0)),
                    name,
                    "must be NaN or a non-negative finite number of seconds",
                )
        if self.open_s is not None:
            bad(~np.isnan(self.open_s) & ~self.is_pending, "open_s", "a timed opening must be a pending position")
        bad((self.venue < 0) | (self.venue >= len(self.venues)), "venue", "unknown venue code")
        bad((self.asset < 0) | (self.asset >= len(self.assets)), "asset", "unknown asset code")
        notional = self.size * self.entry
        bad(
            self.margin < notional / self.leverage * (1 - 1e-9),
            "margin",
            "margin is below the initial margin size*entry/leverage",
        )
        for v, vname in enumerate(self.venues):
            rules = get_venue(vname)
            for a, aname in enumerate(self.assets):
                sel = (self.venue == v) & (self.asset == a)
                if not np.any(sel):
                    continue
                table = rules.tier_table(venue_symbol(vname, aname))
                measure = table.measure(self.size, self.entry)
                over = sel & (measure > table.max_position())
                bad(over, "size", f"position exceeds the largest tier of {vname} {table.symbol}")
                k = np.minimum(table.tier_index(measure), table.n_tiers - 1)
                max_lev = table.max_leverage[k]
                bad(
                    sel & (self.leverage > max_lev * (1 + 1e-12)),
                    "leverage",
                    f"leverage above the tier maximum of {vname} {table.symbol}",
                )
        cross = self.mode == CROSS
        if np.any(cross):  # one-way mode: one cross position per account, venue and asset
            key = (self.account[cross] * 256 + self.venue[cross]) * 256 + self.asset[cross]
            uniq, counts = np.unique(key, return_counts=True)
            if np.any(counts > 1):
                acct = int(uniq[counts > 1][0] // 65536)
                raise InputError(
                    f"account {acct} holds two cross positions in one market (one-way mode keeps one per market)",
                    field="mode",
                )


def _codes(values, names, field, case):
    arr = np.asarray(values)
    if arr.dtype.kind in "USO":
        low = [case(x) for x in arr.astype(str).tolist()]
        if names is None:
            names = tuple(sorted(set(low)))
        names = tuple(case(str(x)) for x in names)
        lookup = {nm: i for i, nm in enumerate(names)}
        try:
            codes = np.array([lookup[x] for x in low], np.int8)
        except KeyError as e:
            raise InputError(f"unknown {field} {e.args[0]!r}; known: {', '.join(names)}", field=field) from None
        return codes, names
    if names is None:
        raise InputError(f"integer {field} codes need the list of {field} names", field=field)
    return arr.astype(np.int8), tuple(case(str(x)) for x in names)
