"""One path of a sweep: its engine inputs, its random numbers, its run and its row of figures;
the payload every worker holds once and the chunk a worker runs."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
from typing import Any, Sequence

import numpy as np

from .plan import Plan, _apply_params, _label
from .spec import DEPTH_SCALE


def _population_key(plan: Plan, coords: dict[str, Any]) -> str:
    return json.dumps({k: coords[k] for k in plan.param_keys if k.startswith("population.")}, sort_keys=True)


def build_populations(plan: Plan) -> dict[str, Any]:
    """One population per distinct ``population.*`` setting of the grid (usually one), each
    synthesised once from the spec's seed."""
    from ..scenario import Scenario, build_population

    keys = [k for k in plan.param_keys if k.startswith("population.")]
    values = [dict(plan.axes)[k] for k in keys]
    out = {}
    for combo in itertools.product(*values):
        assign = dict(zip(keys, combo))
        params = _apply_params(plan.scenario.params, assign)
        sc = Scenario(plan.scenario.spec, params, plan.scenario.overridden, plan.scenario.source, plan.scenario.text)
        out[json.dumps(assign, sort_keys=True)] = build_population(
            sc, n_positions=plan.spec.positions, seed=plan.spec.seed, timed=False
        )
    return out


@dataclasses.dataclass
class _Payload:
    """What every worker holds once: the plan and the shared, read-only populations."""

    plan: Plan
    populations: dict[str, Any]
    token: str = dataclasses.field(default_factory=lambda: os.urandom(8).hex())  # keys the worker's cache


_CACHE: dict[tuple, tuple] = {}  # per process: engine inputs per (population, parameter cell)
_WORKER_PAYLOAD: _Payload | None = None


def _engine_inputs(payload: _Payload, coords: dict[str, Any]):
    from ..scenario import Scenario, build_engine_inputs

    plan = payload.plan
    assign = {k: coords[k] for k in plan.param_keys if k != DEPTH_SCALE}
    key = (payload.token, json.dumps({k: _label(v) for k, v in assign.items()}, sort_keys=True))
    hit = _CACHE.get(key)
    if hit is None:
        params = _apply_params(plan.scenario.params, assign)
        sc = Scenario(plan.scenario.spec, params, plan.scenario.overridden, plan.scenario.source, plan.scenario.text)
        pop = payload.populations[_population_key(plan, coords)]
        hit = (sc, *build_engine_inputs(sc, pop))
        if len(_CACHE) >= 8:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = hit
    return hit


def path_seeds(seed: int, replicate: int) -> tuple[int, np.random.Generator]:
    """The engine's seed (flow noise) and a generator for the depth noise of replicate ``k``."""
    flow_ss, depth_ss = np.random.SeedSequence([int(seed), int(replicate)]).spawn(2)
    return int(flow_ss.generate_state(1, np.uint32)[0]), np.random.default_rng(depth_ss)


def run_path(payload: _Payload, path: int) -> dict[str, Any]:
    """Run path ``path`` and return its row of figures (see the module docstring)."""
    from ..engine import DepthProfile, Liquidity, programme, simulate

    plan = payload.plan
    spec = plan.spec
    coords = plan.coordinates(path)
    sc, positions, liquidity, prices, flows = _engine_inputs(payload, coords)
    replicate = path % spec.paths
    engine_seed, depth_rng = path_seeds(spec.seed, replicate)
    dt, n_steps = plan.dt, plan.n_steps

    # depth: the grid's factor times a mean-one lognormal factor per market (sorted keys: stable draws)
    scale = float(coords.get(DEPTH_SCALE, 1.0))
    keys = sorted(liquidity.profiles)
    sigma = spec.noise.depth
    z = depth_rng.standard_normal(len(keys)) if sigma > 0 else np.zeros(len(keys))
    profiles = {}
    for k, zi in zip(keys, z):
        p = liquidity.profiles[k]
        f = scale * math.exp(sigma * zi - 0.5 * sigma * sigma)
        profiles[k] = DepthProfile(p.bid_b * f, p.ask_b * f, p.bid_kappa, p.ask_kappa)
    # spot books (where the scenario has them) take the grid's factor; the book shape is kept
    spot = {
        a: DepthProfile(p.bid_b * scale, p.ask_b * scale, p.bid_kappa, p.ask_kappa) for a, p in liquidity.spot.items()
    }
    liq = Liquidity(profiles, liquidity.response, spot=spot, touch_u=liquidity.touch_u)

    progs = list(flows.programmes)
    usd = float(coords["shock_usd"])
    if usd > 0:
        n_on = max(1, math.ceil(float(coords["shock_seconds"]) / dt - 1e-9))
        k0 = math.ceil(spec.shocks.start_hour * 3600.0 / dt - 1e-9)
        venue = coords.get("shock_venue", "all")
        progs.append(
            programme(
                coords["shock_asset"],
                -usd / (n_on * dt) * 86_400.0,
                k0 * dt,
                (k0 + n_on) * dt,
                venue=None if venue == "all" else venue,
            )
        )
    # the sweep's flow noise is independent of the model's own (flows.noise_per_oi): variances add
    nf = spec.noise.flow_usd
    extra = dict(nf) if isinstance(nf, dict) else ({a.upper(): nf for a in positions.assets} if nf > 0 else {})
    noise = {a.upper(): float(sd) for a, sd in flows.noise_usd.items()}
    for a, sd in extra.items():
        noise[a] = math.hypot(noise.get(a, 0.0), sd)
    fl = dataclasses.replace(flows, programmes=progs, noise_usd=noise)

    run = simulate(
        positions,
        liq,
        prices,
        fl,
        n_steps=n_steps,
        dt=dt,
        insurance_fund=sc.spec.insurance_fund_usd,
        adl_rule=sc.params.liquidation.adl_rule,
        seed=engine_seed,
        vault_unwind_half_life_s=sc.params.liquidation.vault_unwind_half_life_s,
    )
    return _row(plan, path, coords, run, positions, liq, sc)


def _row(plan: Plan, path: int, coords, run, positions, liq, sc) -> dict[str, Any]:
    """The path's figures, read from the run's arrays (no frame operations)."""
    s = run.summary
    steps = run.steps
    venues, assets = tuple(positions.venues), tuple(a.upper() for a in positions.assets)
    nv, na = len(venues), len(assets)
    nm = nv * na
    # the engine's index: mids weighted by depth within 1 % (both sides), per asset; start price first
    mid = steps["mid"].to_numpy().reshape(plan.n_steps, nm)
    w = np.zeros((nm, na))
    for m in range(nm):
        v, a = divmod(m, na)
        p = liq.profiles.get((venues[v], assets[a]))
        if p is not None:
            w[m, a] = p.depth_within(1.0)
    w /= np.where(w.sum(axis=0) > 0, w.sum(axis=0), 1.0)
    p0 = np.array([sc.spec.assets[a].start_price for a in assets])
    index = np.vstack([p0[None, :], mid @ w])
    peak = np.maximum.accumulate(index, axis=0)
    final_dd = (1.0 - index[-1] / peak[-1]) * 100.0
    fund = steps["insurance_fund_usd"].to_numpy()[-nm:].reshape(nv, na)[:, 0]
    fund0 = np.array([float(sc.spec.insurance_fund_usd.get(v, 0.0)) for v in venues])
    bad = float(steps["bad_debt_usd"].to_numpy()[-nm:].sum())
    dd = s.get("drawdown_pct", {})
    shocked = str(coords["shock_asset"])
    br = s.get("branching_ratio_path_max", float("nan"))
    row: dict[str, Any] = {
        "path": int(path),
        "cell": int(path // plan.spec.paths),
        "replicate": int(path % plan.spec.paths),
    }
    for k, v in coords.items():
        row[k] = _label(v)
    row.update(
        {
            "liquidated_usd": float(s["true_total_liquidated_usd"]),
            "liquidated_usd_reported": float(s["as_reported_total_usd"]),
            "drawdown_pct": float(dd.get(shocked, float("nan"))),
            "final_drawdown_pct": float(final_dd[assets.index(shocked)]) if shocked in assets else float("nan"),
            "insurance_fund_loss_usd": float(np.maximum(fund0 - fund, 0.0).sum()),
            "adl_usd": float(s["adl_usd"]),
            "backstop_usd": float(s["backstop_usd"]),
            "bad_debt_usd": bad,
            "branching_ratio_max": float(br) if br is not None else float("nan"),
            "waves": int(s["waves_total"]),
            "liquidation_events": int(s["liquidation_events"]),
            "ledger_imbalance_usd": float(s["ledger_imbalance_usd"]),
        }
    )
    for a in assets:
        row[f"drawdown_pct_{a}"] = float(dd.get(a, float("nan")))
    return row


def run_chunk(payload: _Payload | None, paths: Sequence[int]) -> list[dict[str, Any]]:
    """Rows of consecutive paths (``payload`` None: the one this worker process was given)."""
    payload = payload if payload is not None else _WORKER_PAYLOAD
    if payload is None:  # pragma: no cover
        raise RuntimeError("worker has no sweep payload")
    import multiprocessing as mp

    if mp.parent_process() is not None:  # a worker process: its siblings have the other cores
        os.environ["LIQCASCADE_THREADS"] = "1"
    return [run_path(payload, int(i)) for i in paths]


def _init_worker(payload: _Payload) -> None:
    global _WORKER_PAYLOAD
    _WORKER_PAYLOAD = payload
    # Ctrl-C reaches the whole process group: the parent stops the sweep and says so in one line;
    # a worker finishes its chunk quietly instead of printing its own KeyboardInterrupt traceback
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
