"""A slow, obvious reference engine.

Every wave it recomputes *every* open position's liquidation price with the venue rule books
(vectorised, tier-exact) and compares it with the mark — no sorting, no pointers, no active set —
and it takes each liquidation step, fee, backstop decision and ADL ranking straight from the rule
books (``liquidation_step``, ``liquidation_fee``, ``backstop_triggered``, ``adl_rank_key``,
``maintenance_margin``, ``bankruptcy_price``) instead of the kernel's restatements.  The price
machinery that is not a shortcut (flows, arbitrage, marks, book walks, market-maker response) is
the engine's own, so a disagreement points at the sweep or at a rule restated in the kernel.

The observed mode is written out here too, as the model documents it (``core.pin_asset``,
``core.timed_step``, docs/guide/observed-replay.md), not as the kernel computes it:

* the pin (:func:`pin_asset_to`): at the start of every step, before any other flow, every book of
  an asset whose path has a price that step (each venue's perpetual in market order, then the spot
  book) takes a market order of the USD its own depth profile holds within the move
  ``u = |target/index - 1|`` (at most 50 %), so every mid, and with them the index, scales by
  ``target/index``; the flow party pays the perpetual venue's taker fee, the liquidity providers
  take the other side.  The signed USD at mid is the step's implied flow.  The order's USD and
  its average fill are integrated from the profile here (:func:`fresh_walk`), not taken from the
  kernel's book walk.
* timed opens and closes, after the flows and before the arbitrage: positions opening at
  ``open_s`` (ascending time, then index) buy (long) or sell (short) their size at the market and
  hold from the fill, the taker fee taken from their margin, exactly like a triggered entry
  order; then positions closing at ``close_s`` (same order) are sold (long) / bought back (short) at
  the market, the PnL less the taker fee to their margin -- unless not open (pending, closed,
  liquidated), in a multi-asset cross account, or left with negative equity by the fill.
  The signed USD at the fills is the step's timed flow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from liqcascade.engine import core as C
from liqcascade.engine import run as R
from liqcascade.engine.positions import CROSS
from liqcascade.venues import get_venue


def simulate_reference(
    positions,
    liquidity,
    prices,
    flows=None,
    *,
    n_steps,
    dt=1.0,
    insurance_fund=0.0,
    adl_rule="queue",
    seed=0,
    vault_unwind_half_life_s=None,
    index_path=None,
):
    from liqcascade.engine.flows import Flows

    flows = flows or Flows()
    venues, assets = positions.venues, tuple(a.upper() for a in positions.assets)
    na = len(assets)
    market = R.build_market(venues, assets, liquidity, prices, dt)
    nm = len(venues) * na
    funds = np.array(
        [
            float(insurance_fund.get(v, 0.0)) if isinstance(insurance_fund, dict) else float(insurance_fund)
            for v in venues
        ]
    )
    sched = flows.schedule(assets, n_steps, dt, seed)
    co_asset, co = flows.cohort_arrays(assets)
    st_price, st_size, st_side, st_start, st_end = flows.stop_arrays(assets)
    st_ptr = st_start.copy()
    co = co.copy()
    p0 = prices.initial_array(assets)
    glob = R.global_parameters(liquidity, prices, flows, dt, adl_rule, vault_unwind_half_life_s)
    cmat = R.contagion_arrays(flows, liquidity, venues, assets)
    vsched = flows.venue_schedule(venues, assets, n_steps, dt)

    mkt = positions.market()
    side = positions.side
    sidef = side.astype(np.float64)
    entry = positions.entry.copy()  # a pending order's entry becomes its fill price
    pending = positions.is_pending.copy()  # still waiting for the mark to reach its entry
    size = np.where(pending, 0.0, positions.size)
    margin = positions.margin.copy()
    below = entry <= p0[positions.asset]  # opens as the mark falls to it
    # orders fire in the engine's order: by market; those below the start (highest trigger
    # first), then those above (lowest first); ties by position index
    horizon = n_steps * dt
    open_s = np.full(len(size), np.nan) if positions.open_s is None else positions.open_s
    close_s = np.full(len(size), np.nan) if positions.close_s is None else positions.close_s
    at_a_time = pending & ~np.isnan(open_s)  # opens at open_s whatever the price, not at its entry
    pidx = np.flatnonzero(pending & ~at_a_time)
    pend_order = pidx[np.lexsort((pidx, np.where(below[pidx], -entry[pidx], entry[pidx]), ~below[pidx], mkt[pidx]))]
    # the timed opens and closes inside the run, each list by time, ties by position index
    to_open = [int(i) for i in sorted(np.flatnonzero(at_a_time & (open_s < horizon)), key=lambda i: (open_s[i], i))]
    to_close = [int(i) for i in sorted(np.flatnonzero(close_s < horizon), key=lambda i: (close_s[i], i))]
    # the observed path: the index target per step and asset (NaN: not pinned that step)
    targets = np.full((n_steps, na), np.nan)
    for name, values in (index_path or {}).items():
        targets[:, assets.index(name.upper())] = np.asarray(values, np.float64)
    implied = np.zeros((n_steps, na))  # USD at mid the pin traded (+ bought)
    timed_usd = np.zeros((n_steps, na))  # USD at the fills of the timed opens and closes (+ bought)
    cool = np.zeros(len(size))
    mc_pos, mc_start = R.multi_asset_cross_accounts(positions)
    in_account = np.zeros(len(size), bool)
    in_account[mc_pos] = True
    acc_cool = {}  # multi-asset account -> end of its cooldown after a partial step (s)

    mst = np.zeros((nm, C.N_MST))
    mst[:, C.MID] = p0[market.mkt_i[:, C.ASSET]]
    mst[:, C.MARK] = mst[:, C.MID]
    mst[:, C.MULT] = 1.0
    mst[:, C.VAR] = market.mkt_f[:, C.CALM_VAR_M]
    mst[:, C.LP_INV] = -np.bincount(mkt, weights=sidef * size, minlength=nm)
    mst[:, C.LP_CASH] = np.bincount(mkt, weights=sidef * size * entry, minlength=nm)
    mst[:, C.OI_L] = np.bincount(mkt, weights=np.where(sidef > 0, size, 0.0), minlength=nm)
    mst[:, C.OI_S] = np.bincount(mkt, weights=np.where(sidef < 0, size, 0.0), minlength=nm)
    vst = np.zeros((len(venues), 3))
    vst[:, C.FUND] = funds
    ast = R.initial_asset_state(p0, liquidity.spot_arrays(assets))
    rec = np.zeros((C.N_REC, n_steps, nm))
    events = []
    waves = []
    initial_value = float(np.sum(positions.margin) + np.sum(funds))

    def rules_of(m):
        v, a = divmod(m, na)
        return get_venue(venues[v]), market.tables[(venues[v], assets[a])], v

    def lps(idx, m):
        rules, table, _ = rules_of(m)
        out = np.empty(len(idx))
        for mode in (0, 1):
            sel = positions.mode[idx] == mode
            if np.any(sel):
                j = idx[sel]
                out[sel] = rules.liquidation_price(
                    side[j], size[j], entry[j], margin[j], table, mode="cross" if mode == CROSS else "isolated"
                )
        return out

    def book(m, s, q, usd):
        mst[m, C.TRADED] += usd
        if s > 0:
            mst[m, C.LIQ_L] += usd
            mst[m, C.OI_L] -= q
        else:
            mst[m, C.LIQ_S] += usd
            mst[m, C.OI_S] -= q

    def adl_keys(m, cand):
        rules, table, _ = rules_of(m)
        mark = mst[m, C.MARK]
        mm = rules.maintenance_margin(size[cand], np.full(len(cand), mark), table, entry=entry[cand], mode="cross")
        return rules.adl_rank_key(side[cand], size[cand], entry[cand], np.full(len(cand), mark), margin[cand], mm)

    def reduce(j, a, bp):
        m = mkt[j]
        if a >= size[j] * (1.0 - 1e-12):
            a = size[j]
        margin[j] += sidef[j] * a * (bp - entry[j])
        size[j] = 0.0 if a >= size[j] else size[j] - a
        if sidef[j] > 0:
            mst[m, C.OI_L] -= a
        else:
            mst[m, C.OI_S] -= a
        return a

    queue = {"key": None, "ranked": []}

    def adl(i, q_adl, bp):
        m = mkt[i]
        opp = np.flatnonzero((mkt == m) & (side == -side[i]) & ~in_account)
        done = 0.0
        if adl_rule == "pro_rata":
            cand = opp[size[opp] > 0]
            keys = adl_keys(m, cand)
            cand = cand[keys > -np.inf]
            total = float(np.sum(size[cand]))  # summed in another order than the kernel: last-bit differences
            if total <= 0:
                return 0.0
            want = min(q_adl, total)
            for j in cand:
                a = min(want * size[j] / total, size[j])
                done += reduce(j, a, bp)
            return done
        # the queue: ranked once per wave and side, when the wave first needs it
        key = (len(waves), int(m), int(side[i]))
        if queue["key"] != key:
            cand = opp[size[opp] > 0]
            keys = adl_keys(m, cand) if len(cand) else np.zeros(0)
            cand, keys = cand[keys > -np.inf], keys[keys > -np.inf]
            queue.update(key=key, ranked=list(cand[np.argsort(-keys, kind="stable")]))
        ranked = queue["ranked"]
        while q_adl - done > 1e-12 * q_adl and ranked:
            j = ranked[0]
            if size[j] <= 0:
                ranked.pop(0)
                continue
            done += reduce(j, min(size[j], q_adl - done), bp)
            if size[j] <= 0:
                ranked.pop(0)
        return done

    def liquidate(i, t, t_now):
        m = int(mkt[i])
        rules, table, v = rules_of(m)
        s = float(sidef[i])
        d = -s
        q, e, mg = size[i], entry[i], margin[i]
        mark = mst[m, C.MARK]
        bp = float(rules.bankruptcy_price(side[i], q, e, mg))
        eq_mark = mg + s * q * (mark - e)
        mode = "cross" if positions.mode[i] == CROSS else "isolated"
        mm = float(rules.maintenance_margin(q, mark, table, entry=e, mode="cross"))
        if bool(rules.backstop_triggered(eq_mark, mm)):
            margin[i] = mg + s * q * (bp - e)
            size[i] = 0.0
            mst[m, C.VAULT_INV] += s * q
            vst[v, C.VAULT_CASH] -= s * q * bp
            book(m, s, q, q * bp)
            events.append((t, i, q, bp, C.BACKSTOP))
            return
        step = float(rules.liquidation_step(q, mark, table))
        if step < q and eq_mark > 0.0:
            f = C.fill(mst, market.mkt_f, m, d, step)
            pnl = s * step * (f - e)
            rem = (step / q) * mg + pnl
            fee = float(rules.liquidation_fee(step * f, rem, table.symbol))
            margin[i] = mg + pnl - fee
            vst[v, C.FUND] += fee
            size[i] = q - step
            mst[m, C.LP_INV] += s * step
            mst[m, C.LP_CASH] -= s * step * f
            book(m, s, step, step * f)
            events.append((t, i, step, f, C.BOOK))
            cool[i] = t_now + rules.procedure.cooldown_s
            return
        q_book, f = close_whole(i, bp, mg, t)
        if q_book > 0.0 and margin[i] > 0.0:
            fee = float(rules.liquidation_fee(q_book * f, margin[i], table.symbol))
            margin[i] -= fee
            vst[v, C.FUND] += fee
        if margin[i] < 0.0:
            pay = min(vst[v, C.FUND], -margin[i])
            if pay > 0.0:
                vst[v, C.FUND] -= pay
                margin[i] += pay
            if margin[i] < 0.0:
                mst[m, C.BAD_DEBT] += -margin[i]
        size[i] = 0.0

    def close_in_account(i, members, t, t_now):
        """A whole close inside a multi-asset account: bankruptcy price where the account's
        equity (wallet, other positions at their marks) is zero; what the fund cannot cover goes
        to ADL there.  Returns the USD filled on the book."""
        s = float(sidef[i])
        q, e = size[i], entry[i]
        rest = sum(
            margin[j] + (sidef[j] * size[j] * (mst[int(mkt[j]), C.MARK] - entry[j]) if j != i and size[j] > 0 else 0.0)
            for j in members
        )
        bp = max(e - s * rest / q, 0.0)
        q_book, f = close_whole(i, bp, rest, t)
        size[i] = 0.0
        return q_book * f

    def close_whole(i, bp, eq0, t):
        """All of position ``i`` to the book, or in part to ADL (at ``bp``, or at the previous mark
        where the venue says so) when the deficit left after the book fill,
        ``-(eq0 + s*q*(f - e))``, exceeds the fund; returns ``(q_book, f)``."""
        m = int(mkt[i])
        rules, _, v = rules_of(m)
        s = float(sidef[i])
        d = -s
        q, e = size[i], entry[i]
        f = C.preview_fill(mst, market.mkt_f, m, d, q)
        q_book = q
        if eq0 + s * q * (f - e) < 0.0 and -(eq0 + s * q * (f - e)) > vst[v, C.FUND]:
            fund = vst[v, C.FUND]
            lo, hi = 0.0, q
            for _ in range(100):
                x = 0.5 * (lo + hi)
                if s * x * (bp - C.preview_fill(mst, market.mkt_f, m, d, x)) > fund:
                    hi = x
                else:
                    lo = x
            q_book = lo
        if q - q_book > 1e-12 * q:
            # the ADL price: the bankruptcy price, or the mark before this wave's update (Hyperliquid)
            px = mst[m, C.PREV_MARK] if rules.procedure.adl_price == "previous_mark" else bp
            done = adl(i, q - q_book, px)
            q_book = q - done
            if q_book <= 1e-9 * q:
                q_book = 0.0
            if done > 0.0:
                margin[i] += s * done * (px - e)
                mst[m, C.ADL_USD] += done * px
                book(m, s, done, done * px)
                events.append((t, i, done, px, C.ADL))
        if q_book > 0.0:
            f = C.fill(mst, market.mkt_f, m, d, q_book)
            margin[i] += s * q_book * (f - e)
            mst[m, C.LP_INV] += s * q_book
            mst[m, C.LP_CASH] -= s * q_book * f
            book(m, s, q_book, q_book * f)
            events.append((t, i, q_book, f, C.BOOK))
        return q_book, f

    def taker(m):
        return get_venue(venues[m // na]).default_taker_fee

    def open_at_market(i):
        """A pending position opens by a market order of its size (a long buys, a short sells);
        its fill is its entry, the taker fee comes out of its margin.  Returns the fill price."""
        m = int(mkt[i])
        pending[i] = False
        q = positions.size[i]
        f = C.fill(mst, market.mkt_f, m, sidef[i], q)
        fee = q * f * taker(m)
        entry[i] = f
        margin[i] -= fee
        vst[m // na, C.FEE_INCOME] += fee
        size[i] = q
        mst[m, C.LP_INV] -= sidef[i] * q
        mst[m, C.LP_CASH] += sidef[i] * q * f
        mst[m, C.OI_L if side[i] > 0 else C.OI_S] += q
        mst[m, C.TRADED] += q * f
        mst[m, C.OPENED] += q * f
        return f

    def close_at_market(i):
        """Position ``i`` closed by its holder: sold (long) or bought back (short) at the market,
        its PnL at the fill less the taker fee to its margin.  Left alone when it is not open, is
        checked with its multi-asset account, or the fill would leave it negative equity (then it
        is the liquidation engine's).  Returns the signed USD traded (+ bought), 0 if left."""
        if size[i] <= 0.0 or pending[i] or in_account[i]:
            return 0.0
        m = int(mkt[i])
        s = float(sidef[i])
        q = size[i]
        f = C.preview_fill(mst, market.mkt_f, m, -s, q)
        if margin[i] + s * q * (f - entry[i]) - q * f * taker(m) < 0.0:
            return 0.0
        f = C.fill(mst, market.mkt_f, m, -s, q)
        fee = q * f * taker(m)
        margin[i] += s * q * (f - entry[i]) - fee
        vst[m // na, C.FEE_INCOME] += fee
        size[i] = 0.0
        mst[m, C.LP_INV] += s * q
        mst[m, C.LP_CASH] -= s * q * f
        mst[m, C.OI_L if s > 0 else C.OI_S] -= q
        mst[m, C.TRADED] += q * f
        return -s * q * f

    def cum_and_moment(b, kappa, u0, x):
        """``Cum(x)`` (USD within ``x`` of the book's anchor) and ``integral of y dCum(y)`` over
        ``[0, x]``: ``Cum(x) = b*x**kappa``, uniform within the touch ``u0``
        (``Cum(x) = X0*x/u0`` there, ``X0 = b*u0**kappa``)."""
        if u0 > 0.0 and x <= u0:
            x0 = b * u0**kappa
            return x0 * x / u0, x0 / u0 * 0.5 * x * x
        c = kappa / (kappa + 1.0)
        usd, moment = b * x**kappa, c * b * x ** (kappa + 1.0)
        if u0 > 0.0:  # the touch holds X0 at u0 on average, the power law beyond
            x0 = b * u0**kappa
            moment += x0 * 0.5 * u0 - c * b * u0 ** (kappa + 1.0)
        return usd, moment

    def fresh_walk(b, kappa, u0, u, hole=0.0):
        """A market order that moves a book side by ``u`` (fraction of its mid) from where it
        starts, ``hole`` beyond its anchor (book memory: the depth within ``hole`` is eaten; 0: a
        fresh side): the USD it takes (at mid) and its average fill distance from the mid, the
        first moment of the depth between ``hole`` and ``hole + u`` over that depth, less ``hole``."""
        c1, m1 = cum_and_moment(b, kappa, u0, hole + u)
        c0, m0 = cum_and_moment(b, kappa, u0, hole)
        usd = c1 - c0
        return usd, (m1 - m0) / usd - hole

    def hole(a, ask):
        """Book memory: the distance (fraction of the mid) from the asset's fair price to its
        index on the side the index has moved into, at most 0.5; 0 without memory."""
        if glob[C.BOOK_MEMORY] == 0.0:
            return 0.0
        h = ast[a, C.FAIR] / ast[a, C.STEP_INDEX] - 1.0
        if abs(h) < 1e-12:  # the fair price's rounding
            return 0.0
        return min(max(-h if ask else h, 0.0), 0.5)

    def pin_asset_to(a, target):
        """The observed mode's market orders that take asset ``a``'s index to ``target``: each of
        its books, perpetuals in market order then spot, fresh at the step's start, is moved by
        ``u = |target/index - 1|`` (at most 0.5) by an order of the USD its profile holds within
        ``u`` (:func:`fresh_walk`), so every mid, and the index, scales by ``target/index``.
        Perpetual fills: the flow party pays the venue's taker fee, the liquidity providers take
        the other side; spot fills: the spot liquidity providers, no fee.  The books carry the
        walk on within the step (USD walked and distance reached on the side).  Returns the
        signed USD at mid traded (+ bought)."""
        idx = ast[a, C.INDEX]
        if target == idx:
            return 0.0
        d = 1.0 if target > idx else -1.0
        u = min(abs(target / idx - 1.0), 0.5)
        ask = d > 0
        traded = 0.0
        for m in range(nm):
            if market.mkt_i[m, C.ASSET] != a:
                continue
            h = hole(a, ask)
            assert mst[m, C.U_ASK if ask else C.U_BID] == h  # the step's first trade, from the hole
            b = market.mkt_f[m, C.ASK_B if ask else C.BID_B] * mst[m, C.MULT]
            usd, avg = fresh_walk(b, market.mkt_f[m, C.ASK_K if ask else C.BID_K], market.mkt_f[m, C.TOUCH_U], u, h)
            mid = mst[m, C.MID]
            price = mid * (1.0 + d * avg)
            base = usd / mid
            fee = base * price * taker(m)
            mst[m, C.MID] = mid * (1.0 + d * u)
            mst[m, C.CONS_ASK if ask else C.CONS_BID] += usd
            mst[m, C.U_ASK if ask else C.U_BID] += u
            mst[m, C.FLOW_INV] += d * base
            mst[m, C.FLOW_CASH] -= d * base * price + fee
            mst[m, C.LP_INV] -= d * base
            mst[m, C.LP_CASH] += d * base * price
            vst[m // na, C.FEE_INCOME] += fee
            mst[m, C.TRADED] += base * price
            traded += usd
        if ast[a, C.SP_DEPTH1] > 0.0:
            usd, avg = fresh_walk(
                ast[a, C.SP_ASK_B if ask else C.SP_BID_B],
                ast[a, C.SP_ASK_K if ask else C.SP_BID_K],
                ast[a, C.SP_TOUCH_U],
                u,
                hole(a, ask),
            )
            mid = ast[a, C.SPOT_MID]
            price = mid * (1.0 + d * avg)
            base = usd / mid
            ast[a, C.SPOT_MID] = mid * (1.0 + d * u)
            ast[a, C.SP_CONS_ASK if ask else C.SP_CONS_BID] += usd
            ast[a, C.SPOT_FLOW_INV] += d * base
            ast[a, C.SPOT_FLOW_CASH] -= d * base * price
            ast[a, C.SPOT_LP_INV] -= d * base
            ast[a, C.SPOT_LP_CASH] += d * base * price
            ast[a, C.SPOT_TRADED] += base * price
            traded += usd
        C.update_index(mst, ast, market.mkt_i, market.mkt_f)
        if u < 0.5:  # the rule's point: the index lands on the path
            assert abs(ast[a, C.INDEX] / target - 1.0) < 1e-12, (ast[a, C.INDEX], target)
        return d * traded

    waves_per_step = np.zeros(n_steps, np.int32)
    for t in range(n_steps):
        t_now = t * dt
        C.start_of_step(mst, ast, market.mkt_i, market.mkt_f, glob)
        for a in range(na):  # the pin, before every other flow of the step
            if not np.isnan(targets[t, a]):
                implied[t, a] = pin_asset_to(a, targets[t, a])
        C.flows_stage(
            t,
            C.Books(mst, vst, ast),
            market.rules(glob),
            C.FlowArrays(sched, co_asset, co, st_price, st_size, st_end, st_ptr, cmat, vsched, np.zeros((0, 3 * na))),
        )
        # after the flows, before the arbitrage: the timed opens, then the timed closes
        while to_open and open_s[to_open[0]] <= t_now:
            i = to_open.pop(0)
            timed_usd[t, positions.asset[i]] += sidef[i] * positions.size[i] * open_at_market(i)
        while to_close and close_s[to_close[0]] <= t_now:
            i = to_close.pop(0)
            timed_usd[t, positions.asset[i]] += close_at_market(i)
        C.prices_step(mst, ast, market.mkt_i, market.mkt_f, glob)
        wave = 0
        while True:
            n_total = 0
            for i in pend_order:
                if not pending[i]:
                    continue
                m = int(mkt[i])
                mark = mst[m, C.MARK]
                if (below[i] and mark <= entry[i]) or (not below[i] and mark >= entry[i]):
                    open_at_market(i)
            wave_l = np.zeros(nm)
            wave_buy = np.zeros(nm)
            for a in range(len(mc_start) - 1):
                members = mc_pos[mc_start[a] : mc_start[a + 1]]
                open_ = [i for i in members if size[i] > 0]
                if not open_:
                    continue
                equity = sum(margin[i] for i in members)
                mm = 0.0
                for i in open_:
                    m = int(mkt[i])
                    rules, table, v = rules_of(m)
                    equity += sidef[i] * size[i] * (mst[m, C.MARK] - entry[i])
                    mm += float(rules.maintenance_margin(size[i], mst[m, C.MARK], table, mode="cross"))
                if equity > mm or t_now < acc_cool.get(a, 0.0):
                    continue
                n_total += 1
                first = int(members[0])
                rules, table, v = rules_of(int(mkt[first]))
                # the vault takes it all over at the marks, or each position goes to its book by
                # its venue's step rule while the account's equity is positive
                backstop = bool(rules.backstop_triggered(equity, mm))
                fee_cap = open_usd = closed_usd = 0.0
                stays = False
                for i in open_:
                    m = int(mkt[i])
                    s = float(sidef[i])
                    q = size[i]
                    mark = mst[m, C.MARK]
                    wave_l[m] += q * mark
                    if s < 0:
                        wave_buy[m] += q * mark
                    if backstop:
                        margin[i] += s * q * (mark - entry[i])
                        mst[m, C.VAULT_INV] += s * q
                        vst[v, C.VAULT_CASH] -= s * q * mark
                        book(m, s, q, q * mark)
                        events.append((t, i, q, mark, C.BACKSTOP))
                        size[i] = 0.0
                        continue
                    r_i, tab_i, _ = rules_of(m)
                    x = float(r_i.liquidation_step(q, mark, tab_i)) if equity > 0 else q
                    open_usd += q * mark
                    closed_usd += x * mark
                    if x >= q:
                        fee_cap += float(
                            r_i.liquidation_fee(close_in_account(i, members, t, t_now), 1e300, tab_i.symbol)
                        )
                        continue
                    f = C.fill(mst, market.mkt_f, m, -s, x)
                    margin[i] += s * x * (f - entry[i])
                    mst[m, C.LP_INV] += s * x
                    mst[m, C.LP_CASH] -= s * x * f
                    book(m, s, x, x * f)
                    events.append((t, i, x, f, C.BOOK))
                    fee_cap += float(r_i.liquidation_fee(x * f, 1e300, tab_i.symbol))
                    size[i] = q - x
                    stays = stays or size[i] > 0
                if backstop:
                    vst[v, C.VAULT_CASH] += sum(margin[i] for i in members)
                    margin[members] = 0.0
                    continue
                left = sum(margin[i] for i in members)
                if stays:  # partly liquidated: fee on the closed share of what is left; cooldown
                    fee = min(fee_cap, max(left, 0.0) * (closed_usd / open_usd))
                    margin[first] -= fee
                    vst[v, C.FUND] += fee
                    acc_cool[a] = t_now + rules.procedure.cooldown_s
                elif left > 0:
                    fee = min(fee_cap, left)
                    margin[first] -= fee
                    vst[v, C.FUND] += fee
                elif left < 0:
                    pay = min(vst[v, C.FUND], -left)
                    vst[v, C.FUND] -= pay
                    margin[first] += pay
                    if pay < -left:
                        mst[mkt[first], C.BAD_DEBT] += -left - pay
            for m in range(nm):
                mark = mst[m, C.MARK]
                idx = np.flatnonzero((mkt == m) & (size > 0) & (cool <= t_now) & ~in_account)
                if len(idx) == 0:
                    continue
                lp = lps(idx, m)
                crossed = np.where(side[idx] > 0, mark <= lp, mark >= lp)
                trig = np.sort(idx[crossed])
                n_total += len(trig)
                for j in trig:
                    if size[j] <= 0:
                        continue
                    usd = size[j] * mark
                    wave_l[m] += usd
                    if side[j] < 0:
                        wave_buy[m] += usd
                    liquidate(int(j), t, t_now)
            if n_total == 0:
                break
            wave += 1
            liq = depth = 0.0
            for m in range(nm):
                if wave_l[m] <= 0:
                    continue
                liq += wave_l[m]
                u = max(abs(mst[m, C.MARK] - mst[m, C.PREV_MARK]) / mst[m, C.PREV_MARK], C.BR_MIN_MOVE)
                dside = 1.0 if wave_buy[m] > 0.5 * wave_l[m] else -1.0
                b, kap = C.book_side(mst, market.mkt_f, m, dside)
                depth += b * u**kap
            mst[:, C.PREV_MARK] = mst[:, C.MARK]
            waves.append((t, wave, liq, depth))
            C.update_index(mst, ast, market.mkt_i, market.mkt_f)
            C.update_marks(mst, ast, market.mkt_i)
            if wave >= C.MAX_WAVES:
                break
        waves_per_step[t] = wave
        C.end_of_step(t, mst, vst, ast, market.mkt_i, market.mkt_f, glob, rec)

    # the log's code (method, market, side), as the kernel logs it
    events = [(t, i, q, f, C.ev_code(meth, int(mkt[i]), float(side[i]))) for t, i, q, f, meth in events]
    ev = tuple(
        np.array(col, dtype=dt_)
        for col, dt_ in zip(
            zip(*events) if events else ([], [], [], [], []), (np.int32, np.int32, np.float64, np.float64, np.int32)
        )
    )
    wv = tuple(
        np.array(col, dtype=dt_)
        for col, dt_ in zip(zip(*waves) if waves else ([], [], [], []), (np.int32, np.int32, np.float64, np.float64))
    )
    cnt = np.array([len(events), 0, len(waves), 0], np.int64)
    from liqcascade.engine import ledger as L

    check = L.balance(initial_value, side, size, entry, margin, mkt, mst, vst, mst[:, C.MARK], ast)
    run = R.collect(positions, market, rec, waves_per_step, ev, wv, cnt, dt, check, p0)
    run.final = dict(size=size, margin=margin, entry=entry, mst=mst, vst=vst, ast=ast)
    run.summary["opened_during_run_usd"] = float(np.sum(mst[:, C.OPENED]))
    run.summary["mode"] = "observed" if index_path else "free"
    if index_path:
        steps_s = np.arange(n_steps) * dt
        run.implied_flow_usd = pd.DataFrame(implied, columns=list(assets))
        run.implied_flow_usd.insert(0, "time_s", steps_s)
        run.timed_flow_usd = pd.DataFrame(timed_usd, columns=list(assets))
        run.timed_flow_usd.insert(0, "time_s", steps_s)
    return run
