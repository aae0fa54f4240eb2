"""Double-entry accounting of a run.

Every fill and transfer in the engine has a source and a destination among these parties:

- **traders** (each position: cash ``margin - s*size*entry``, inventory ``s*size``),
- **liquidity providers** (one per market: the other side of every book fill, and the initial
  other side of the traders' open interest),
- **flow parties** (one per market: programmes, cohorts, stop-losses),
- **insurance funds / liquidator vaults** (cash per venue; a vault also holds the inventory it
  took over per market),
- **venues' fee income** (taker fees paid by flows),
- **spot markets** (per asset, where the model has one): the flow party's spot inventory and
  cash, and the spot liquidity providers on the other side, valued at the spot mid.

Each party's value is ``cash + inventory * mark``.  Perpetual inventories net to zero in every
market, so the sum over parties is the sum of cash, and a run conserves money when that sum is
unchanged.  :func:`balance` recomputes it from the final state (not from running totals), and the
run fails its check when the imbalance exceeds ``$1 per $1B traded``, plus the rounding floor of
summing the parties' balances in float64: one micro-dollar, or ``1e-12`` of the money held at the
start (a cent per $10B) when that is larger — a run that trades nothing still sums $10B+ of
margins and funds, whose last bits are ~1e-6 USD.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._jit import jit
from . import core as C
from .threads import share


@dataclass(frozen=True)
class LedgerCheck:
    """Values in USD."""

    initial_value: float
    final_value: float
    imbalance: float
    traded: float
    tolerance: float
    inventory_residual: float  # largest |sum of inventories| over markets, base units
    parties: dict

    @property
    def ok(self) -> bool:
        return abs(self.imbalance) <= self.tolerance

    def as_dict(self) -> dict:
        return dict(
            initial_value=self.initial_value,
            final_value=self.final_value,
            imbalance=self.imbalance,
            traded=self.traded,
            tolerance=self.tolerance,
            inventory_residual=self.inventory_residual,
            ok=self.ok,
            **{f"party_{k}": v for k, v in self.parties.items()},
        )


@jit
def _traders_pass(side, size, entry, margin, mkt, marks, inv):
    """Sum over positions of ``margin - s*size*entry + s*size*mark`` (USD), compensated
    (Kahan) summation in four interleaved lanes (position ``i`` in lane ``i % 4``: the lanes'
    additions overlap instead of waiting on one another), then over the lanes; without
    temporaries the size of the population.  In the same pass, the traders' inventory per
    market into ``inv`` (base units, summed in position order as ``np.bincount``): one read of
    the positions instead of two."""
    total = np.zeros(4)
    comp = np.zeros(4)
    for i in range(size.shape[0]):
        lane = i & 3
        s = float(side[i])
        m = mkt[i]
        inv[m] += size[i] if side[i] > 0 else -size[i]
        x = (margin[i] - s * size[i] * entry[i]) + s * size[i] * marks[m]
        y = x - comp[lane]
        t = total[lane] + y
        comp[lane] = (t - total[lane]) - y
        total[lane] = t
    out = 0.0
    c = 0.0
    for lane in range(4):
        y = (total[lane] - comp[lane]) - c
        t = out + y
        c = (t - out) - y
        out = t
    return out


def party_values(traders: float, mst, vst, marks, ast=None) -> dict:
    """Value (USD) of each class of party at ``marks`` (one per market; spot at its mid), the
    traders' given (:func:`_traders_pass`)."""
    lps = float(np.sum(mst[:, C.LP_CASH] + mst[:, C.LP_INV] * marks))
    flows = float(np.sum(mst[:, C.FLOW_CASH] + mst[:, C.FLOW_INV] * marks))
    funds = float(np.sum(vst[:, C.FUND]))
    vaults = float(np.sum(vst[:, C.VAULT_CASH] + 0.0) + np.sum(mst[:, C.VAULT_INV] * marks))
    fees = float(np.sum(vst[:, C.FEE_INCOME]))
    out = dict(
        traders=traders, liquidity_providers=lps, flows=flows, insurance_funds=funds, vaults=vaults, fee_income=fees
    )
    if ast is not None:
        spot = ast[:, C.SPOT_MID]
        out["spot_flows"] = float(np.sum(ast[:, C.SPOT_FLOW_CASH] + ast[:, C.SPOT_FLOW_INV] * spot))
        out["spot_liquidity_providers"] = float(np.sum(ast[:, C.SPOT_LP_CASH] + ast[:, C.SPOT_LP_INV] * spot))
    return out


def _residual(inv, mst) -> float:
    """Largest |traders' + other parties' inventory| over markets (base units)."""
    tot = inv + mst[:, C.LP_INV] + mst[:, C.FLOW_INV] + mst[:, C.VAULT_INV]
    return float(np.max(np.abs(tot))) if len(tot) else 0.0


def balance(initial_value: float, side, size, entry, margin, mkt, mst, vst, marks, ast=None) -> LedgerCheck:
    """The run's books from its final state (USD; see the module's docstring)."""
    return balance_async(initial_value, side, size, entry, margin, mkt, mst, vst, marks, ast)()


def balance_async(initial_value: float, side, size, entry, margin, mkt, mst, vst, marks, ast=None):
    """:func:`balance` started: its pass over the positions (the traders' value and inventories)
    starts on a setup thread; returns a function that takes the pass if no setup thread has,
    waits, and returns the :class:`LedgerCheck` (the caller collects the run's frames meanwhile;
    the arrays must not change until then)."""
    marks_c = np.ascontiguousarray(marks)
    inv = np.zeros(mst.shape[0])
    out = [0.0]

    def task(_):
        out[0] = _traders_pass(side, size, entry, margin, mkt, marks_c, inv)

    finish = share(task, 1)

    def result() -> LedgerCheck:
        finish()
        traders = float(out[0])
        parties = party_values(traders, mst, vst, marks, ast)
        final = float(sum(parties.values()))
        traded = float(np.sum(mst[:, C.TRADED])) + (float(np.sum(ast[:, C.SPOT_TRADED])) if ast is not None else 0.0)
        tol = traded / 1e9 + max(1e-6, 1e-12 * abs(initial_value))
        return LedgerCheck(initial_value, final, final - initial_value, traded, tol, _residual(inv, mst), parties)

    return result
