"""Small scenarios whose runs are fingerprinted bit for bit (``test_bit_identical.py``).

Each scenario exercises a part of the step loop: isolated and cross margin, multi-asset cross
accounts, pending entry orders, spot books, cohorts, stop-losses and contagion, the insurance
fund running dry (ADL by queue and pro rata, bad debt), Hyperliquid's backstop and vault unwind,
and the observed mode (``index_path`` pin with timed openings and closes).

``python -m tests.engine.fingerprints`` prints the current fingerprints as JSON (to record them).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from liqcascade._jit import HAVE_NUMBA
from liqcascade.engine import Flows, Positions, contagion, dip_buyers, panic_sellers, simulate, stop_losses

from .markets import liquidity, prices, random_positions, shock_flows


def _frame_digest(df: pd.DataFrame) -> str:
    h = hashlib.sha256()
    for col in df.columns:
        values = df[col]
        h.update(f"{col}:{values.dtype}:{len(values)};".encode())
        if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object:
            h.update("\x1f".join(map(str, values.tolist())).encode())
        else:
            h.update(np.ascontiguousarray(values.to_numpy()).tobytes())
    return h.hexdigest()


def _summary_digest(summary: dict) -> str:
    def norm(x):
        if isinstance(x, dict):
            return {str(k): norm(v) for k, v in sorted(x.items(), key=lambda kv: str(kv[0]))}
        if isinstance(x, (list, tuple)):
            return [norm(v) for v in x]
        if isinstance(x, (float, np.floating)):
            return float(x).hex()
        if isinstance(x, (np.integer,)):
            return int(x)
        if isinstance(x, np.ndarray):
            return norm(x.tolist())
        if isinstance(x, pd.DataFrame):
            return _frame_digest(x)
        return x if isinstance(x, (int, str, bool, type(None))) else repr(x)

    return hashlib.sha256(json.dumps(norm(summary), sort_keys=True).encode()).hexdigest()


def fingerprint(run) -> dict:
    """sha256 of the steps, events and waves frames, the summary, and the observed mode's flows."""
    out = {name: _frame_digest(getattr(run, name)) for name in ("steps", "events", "waves")}
    out["summary"] = _summary_digest(run.summary)
    for name in ("implied_flow_usd", "timed_flow_usd"):
        df = getattr(run, name, None)
        if df is not None:
            out[name] = _frame_digest(df)
    out["n_events"] = len(run.events)
    out["methods"] = sorted(set(run.events["method"].astype(str)))
    return out


def free_queue():
    """Isolated and cross margin, multi-asset accounts, pending orders, spot books, cohorts,
    stops and contagion; a small fund: ADL by queue."""
    pos = random_positions(5, 1_500, multi_asset=True, cross_share=0.3, pending_share=0.05)
    flows = shock_flows(-8e6, -3e6, 3, 40)
    flows.cohorts += [panic_sellers("BTC", 50.0), dip_buyers("ETH", 2e6)]
    flows.stops += [stop_losses("BTC", np.array([99_000.0, 98_000.0]), np.array([5.0, 8.0]))]
    flows.contagion += [contagion("ETH", "BTC", 1.0, 5e7)]
    return simulate(pos, liquidity(spot={"BTC": 3e7}), prices(), flows, n_steps=80, insurance_fund=2e3, seed=5)


def free_pro_rata():
    """ADL pro rata, Hyperliquid's backstop, its vault unwinding what it took over."""
    pos = random_positions(8, 1_200, cross_share=0.5, max_lev=50)
    return simulate(
        pos,
        liquidity(),
        prices(),
        shock_flows(-1.2e7, -4e6, 2, 30),
        n_steps=60,
        insurance_fund={"binance": 0.0, "bybit": 1e3, "hyperliquid": 5e5},
        adl_rule="pro_rata",
        seed=8,
        vault_unwind_half_life_s=20.0,
    )


def observed():
    """Observed mode: the index pinned to a path (NaN steps free), timed openings and closes."""
    base = random_positions(13, 800, cross_share=0.3, multi_asset=True)
    n = len(base)
    rng = np.random.default_rng(13)
    alone = np.bincount(base.account, minlength=n)[base.account] == 1
    pending = alone & (rng.random(n) < 0.1)
    open_s = np.where(pending, rng.uniform(0, 50, n), np.nan)
    close_s = np.where(~pending & alone & (rng.random(n) < 0.1), rng.uniform(0, 60, n), np.nan)
    close_s = np.where(pending & (rng.random(n) < 0.3), open_s + 10.0, close_s)
    pos = Positions(
        base.account,
        base.venue,
        base.asset,
        base.side,
        base.size,
        base.entry,
        base.margin,
        base.mode,
        base.leverage,
        base.venues,
        base.assets,
        pending=pending,
        open_s=open_s,
        close_s=close_s,
    )
    steps = 70
    btc = 1e5 * np.r_[np.linspace(1.0, 0.93, 40), np.linspace(0.93, 0.96, steps - 40)]
    btc[[10, 11, 50]] = np.nan
    eth = 3e3 * np.linspace(1.0, 0.9, steps)
    return simulate(
        pos,
        liquidity(),
        prices(),
        Flows(noise_usd={"ETH": 3e4}),
        n_steps=steps,
        index_path={"BTC": btc, "ETH": eth},
        insurance_fund=1e4,
        seed=13,
    )


SCENARIOS = {"free_queue": free_queue, "free_pro_rata": free_pro_rata, "observed": observed}
MODE = "jit" if HAVE_NUMBA else "python"


if __name__ == "__main__":
    print(json.dumps({MODE: {name: fingerprint(f()) for name, f in SCENARIOS.items()}}, indent=1, sort_keys=True))
