"""The observed replay of ``feb-2026`` beside the free run of the same scenario, one process.

Both at the same position count (default: the real count, ~4M positions), after compilation
(each is run once to compile and warm, then timed).  The ratio is the observed replay's engine
time over the free run's; the population is built once and shared (its time is printed apart).
The observed replay's "engine" is the engine on the real path (the bridge included); its
attribution and its three counterfactual runs are timed separately.

    python benchmarks/bench_replay.py [--positions N] [--repeat K]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--positions", type=int, default=None, help="positions to draw (default: the real count)")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    from liqcascade.engine import Flows, simulate
    from liqcascade.replay import aggregate_depth, attribution, counterfactual, observed_paths, replay_price_config
    from liqcascade.scenario import build_engine_inputs, build_population, load_scenario

    sc = load_scenario("feb-2026")
    n_steps, dt = sc.n_steps, sc.spec.step_seconds
    t = time.perf_counter()
    pop = build_population(sc, n_positions=args.positions, seed=0)
    t_pop = time.perf_counter() - t
    pos, liq, prices, flows = build_engine_inputs(sc, pop)
    series = sc.series()
    liq_p = sc.params.liquidation
    common = dict(
        n_steps=n_steps,
        dt=dt,
        insurance_fund=sc.spec.insurance_fund_usd,
        adl_rule=liq_p.adl_rule,
        seed=0,
        vault_unwind_half_life_s=liq_p.vault_unwind_half_life_s,
    )
    rp = replay_price_config(prices)

    def observed():
        paths = observed_paths(series, list(sc.spec.assets), start_ms=sc.start_ms, n_steps=n_steps, dt=dt)
        return paths, simulate(pos, liq, rp, Flows(), index_path=paths, **common)

    def free():
        return simulate(pos, liq, prices, flows, **common)

    observed(), free()  # compile and warm
    t_obs, t_free = [], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        paths, run = observed()
        t_obs.append(time.perf_counter() - t)
        t = time.perf_counter()
        free()
        t_free.append(time.perf_counter() - t)
    t = time.perf_counter()
    p = sc.params.prices
    attribution(
        run,
        paths,
        aggregate_depth(sc),
        dt=dt,
        permanent_impact=p.permanent_impact,
        resilience_half_life_s=p.resilience_half_life_s,
    )
    t_att = time.perf_counter() - t
    t = time.perf_counter()
    counterfactual(pos, liq, rp, run.implied_flow_usd, start_index={a: v[0] for a, v in paths.items()}, **common)
    t_cf = time.perf_counter() - t
    o, f = min(t_obs), min(t_free)
    print(f"feb-2026, {len(pop):,} positions, {n_steps:,} steps of {dt:g} s")
    print(f"population (history):      {t_pop:8.2f} s")
    print(f"observed replay (engine):  {o:8.2f} s   (fastest of {args.repeat})")
    print(f"free run (engine):         {f:8.2f} s")
    print(f"ratio observed / free:     {o / f:8.2f}x")
    print(f"attribution:               {t_att:8.2f} s")
    print(f"counterfactual (3 runs):   {t_cf:8.2f} s")
    print(
        f"liquidated (observed):     ${run.summary['true_total_liquidated_usd'] / 1e9:.2f}B; "
        f"ledger imbalance {run.ledger['imbalance']:.2e} USD"
    )
    assert np.isfinite(o)


if __name__ == "__main__":
    main()
