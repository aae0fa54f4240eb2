"""The one equation under all four venues, vectorised.

For a linear, one-way position with direction ``s`` (+1 long, -1 short), size ``Q`` (base
units, > 0), entry ``E`` (USD per base unit) and collateral ``M`` (USD) at mark ``P``::

    equity(P) = M + s*Q*(P - E)
    MM(P)     = Q*P*r_k - D_k          (tier k holds the notional Q*P; r_k may include a fee)
    liquidated when equity(P) <= MM(P)

For isolated positions ``M`` is the position's margin; for cross positions it is the wallet
balance plus the other positions' unrealised PnL minus their maintenance margin (see
:func:`cross_collateral`).

**The tier at the liquidation price.**  With continuous maintenance amounts the maintenance
margin is the maximum of the tier lines, ``MM(N) = max_k (N*r_k - D_k)``.  For a long,
``equity - MM = min_k (equity - line_k)`` is a minimum of increasing lines, so its root is the
*largest* of the per-tier roots; for a short the lines decrease and the root is the *smallest*.
This is the fixed point of "solve, find the tier that holds Q*LP, re-solve" reached in one pass
over the tiers, without iteration and without a convergence question; the test suite checks it
against a literal iterate-to-consistency reference.

Every function takes scalars or NumPy arrays (broadcast together) and returns float64 arrays.
The hot loops are compiled with Numba when it is installed and run as plain Python otherwise.
"""

from __future__ import annotations

import numpy as np

from .._jit import jit

FloatArray = np.ndarray


@jit
def _liq_price_lines(side, size, entry, collateral, rates, amounts, extra_rate, out):  # pragma: no cover - compiled
    """Liquidation price over a convex set of tier lines (see module docstring).

    side: +1/-1 (int8); size: base units; entry: USD; collateral: USD; rates: tier MMR
    (fractions); amounts: tier D (USD); extra_rate: per-position rate added to every tier (OKX
    taker fee), fraction.  Longs whose root is <= 0 are never liquidated and get 0.
    """
    n = size.shape[0]
    t = rates.shape[0]
    for i in range(n):
        s = side[i]
        q = size[i]
        num0 = collateral[i] - s * q * entry[i]
        if s > 0:
            best = -np.inf
            for k in range(t):
                p = (num0 + amounts[k]) / (q * (rates[k] + extra_rate[i]) - q)
                if p > best:
                    best = p
            out[i] = best if best > 0.0 else 0.0
        else:
            best = np.inf
            for k in range(t):
                p = (num0 + amounts[k]) / (q * (rates[k] + extra_rate[i]) + q)
                if p < best:
                    best = p
            out[i] = best
    return out


@jit
def _maintenance_lines(notional, rates, amounts, extra_rate, out):  # pragma: no cover - compiled
    """MM(N) = max_k N*(r_k + extra) - D_k for N >= 0, USD."""
    n = notional.shape[0]
    t = rates.shape[0]
    for i in range(n):
        best = -np.inf
        for k in range(t):
            v = notional[i] * (rates[k] + extra_rate[i]) - amounts[k]
            if v > best:
                best = v
        out[i] = best
    return out


def as_side(side) -> np.ndarray:
    """+1 for long, -1 for short, from strings ("long"/"short", "buy"/"sell") or numbers."""
    arr = np.asarray(side)
    if arr.dtype.kind in "USO":
        flat = np.char.lower(arr.astype(str))
        out = np.where(np.isin(flat, ("long", "buy")), 1, np.where(np.isin(flat, ("short", "sell")), -1, 0))
        if np.any(out == 0):
            bad = flat[out == 0].ravel()[0]
            from ..errors import InputError

            raise InputError(f"side must be 'long' or 'short', got {bad!r}", field="side")
        return out.astype(np.int8).reshape(arr.shape)
    out = np.sign(arr).astype(np.int8)
    if np.any(out == 0):
        from ..errors import InputError

        raise InputError("side must be +1 (long) or -1 (short)", field="side")
    return out


def _f64(*arrays):
    """float64, C-contiguous, writeable arrays of one broadcast shape (copies only where an
    input must be broadcast or converted)."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    # (np.ascontiguousarray would turn 0-d inputs into 1-d ones)
    return [
        (a if a.flags.c_contiguous else a.copy()) if a.shape == shape else np.broadcast_to(a, shape).copy()
        for a in arrays
    ]


def equity(side, size, entry, collateral, price) -> FloatArray:
    """Margin balance at ``price``: ``collateral + s*Q*(price - entry)``, USD."""
    s = as_side(side).astype(np.float64)
    q, e, m, p = _f64(size, entry, collateral, price)
    return m + s * q * (p - e)


def bankruptcy_price(side, size, entry, collateral) -> FloatArray:
    """Price at which equity reaches zero: ``E - s*M/Q`` (USD; a long's is floored at 0)."""
    s = as_side(side).astype(np.float64)
    q, e, m = _f64(size, entry, collateral)
    bp = e - s * m / q
    return np.where((s > 0) & (bp < 0), 0.0, bp)


def maintenance_from_lines(notional, rates, amounts, extra_rate=0.0) -> FloatArray:
    """Maintenance margin (USD) of a notional (USD) under convex tier lines."""
    notional, extra = _f64(notional, extra_rate)
    shape = notional.shape
    out = np.empty(notional.size)
    _maintenance_lines(
        notional.ravel(),
        np.ascontiguousarray(rates, np.float64),
        np.ascontiguousarray(amounts, np.float64),
        extra.ravel(),
        out,
    )
    return out.reshape(shape)


def liquidation_price_from_lines(side, size, entry, collateral, rates, amounts, extra_rate=0.0) -> FloatArray:
    """Liquidation price (USD) when the maintenance margin is ``max_k N*(r_k+extra) - D_k``
    evaluated at the mark (Binance, Hyperliquid, Bybit cross, OKX)."""
    s = as_side(side)
    q, e, m, x = _f64(size, entry, collateral, extra_rate)
    shape = np.broadcast_shapes(s.shape, q.shape)
    if q.shape != shape:
        q, e, m, x = (np.broadcast_to(a, shape).copy() for a in (q, e, m, x))
    s = np.ascontiguousarray(np.broadcast_to(s, shape)) if s.shape != shape else s
    out = np.empty(q.size)
    _liq_price_lines(
        s.ravel(),
        q.ravel(),
        e.ravel(),
        m.ravel(),
        np.ascontiguousarray(rates, np.float64),
        np.ascontiguousarray(amounts, np.float64),
        x.ravel(),
        out,
    )
    return out.reshape(shape)


def liquidation_price_fixed_mm(side, size, entry, collateral, maintenance) -> FloatArray:
    """Liquidation price (USD) when the maintenance margin is a fixed USD amount (Bybit isolated,
    where MM is set on the entry value): ``E - s*(M - MM)/Q``; a long's is floored at 0."""
    s = as_side(side).astype(np.float64)
    q, e, m, mm = _f64(size, entry, collateral, maintenance)
    lp = e - s * (m - mm) / q
    return np.where((s > 0) & (lp < 0), 0.0, lp)


def cross_collateral(account, wallet_balance, upnl, maintenance) -> FloatArray:
    """Each cross position's collateral given the account's *other* positions, USD.

    ``collateral_i = WB_a + sum_{j in a, j != i} (uPnL_j - MM_j)`` for the account ``a`` of
    position ``i`` (Binance's ``WB - TMM + UPNL`` with TMM and UPNL over the other contracts).

    Parameters
    ----------
    account: int array, the account index of each position (0..n_accounts-1).
    wallet_balance: USD, one per account.
    upnl, maintenance: USD, one per position, at the positions' current marks.
    """
    account = np.asarray(account, dtype=np.int64)
    wallet_balance = np.asarray(wallet_balance, dtype=np.float64)
    upnl = np.asarray(upnl, dtype=np.float64)
    maintenance = np.asarray(maintenance, dtype=np.float64)
    net = upnl - maintenance
    total = np.bincount(account, weights=net, minlength=len(wallet_balance))
    return wallet_balance[account] + total[account] - net
