"""``simulate(...) -> Run``: build the kernel's arrays from the model's parts, run, collect.

Kernel codes and parameters per venue are each rule book's declared ``kernel`` (a
:class:`~liqcascade.venues.KernelSpec`: liquidation step, ADL key, isolated-margin convention,
backstop ratio, partial-step threshold and fraction, cooldown, ADL price, mark rule and window,
feed throttle); ``tests/engine/test_rules_mirror.py`` checks them against the rule books' methods
on random positions, so a rule book change that the codes miss fails a test.  Fee rates and the
taker fee are read from the rule books.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError
from ..venues import get_venue
from . import core as C
from . import ledger as L
from .flows import Flows
from .liquidity import Liquidity
from .positions import CROSS, Positions, venue_symbol
from .prices import PriceConfig
from .threads import map_all, prefault_async, setup_threads, share

ADL_RULES = ("queue", "pro_rata")


@dataclass
class Market:
    """Everything the kernel needs about venues and markets (market = venue*A + asset)."""

    venues: tuple
    assets: tuple
    rates: np.ndarray
    amounts: np.ndarray
    caps: np.ndarray
    mkt_i: np.ndarray
    mkt_f: np.ndarray
    ven_i: np.ndarray
    ven_f: np.ndarray
    tables: dict

    def rules(self, glob: np.ndarray | None = None) -> C.Rules:
        """The kernel's :class:`~liqcascade.engine.core.Rules` (``glob``: the global parameters,
        :func:`global_parameters`; zeros where only the margin rules are used)."""
        return C.Rules(
            self.rates,
            self.amounts,
            self.caps,
            self.mkt_i,
            self.mkt_f,
            self.ven_i,
            self.ven_f,
            np.zeros(C.N_GLOB) if glob is None else glob,
        )


def build_market(venues, assets, liquidity: Liquidity, prices: PriceConfig, dt: float) -> Market:
    """The kernel's tables for ``venues`` x ``assets`` (market ``m = venue*n_assets + asset``):
    tier tables from the rule books, the books' depth (``liquidity``), mark rules and EMA rates
    (``prices``, per step of ``dt`` s), fee, step, ADL and backstop codes per venue."""
    nv, na = len(venues), len(assets)
    nm = nv * na
    tables = {}
    for v in venues:
        for a in assets:
            tables[(v, a)] = get_venue(v).tier_table(venue_symbol(v, a))
    nt = max(t.n_tiers for t in tables.values())
    rates = np.zeros((nm, nt))
    amounts = np.zeros((nm, nt))
    caps = np.full((nm, nt), np.inf)
    mkt_i = np.zeros((nm, C.N_MKT_I), np.int64)
    mkt_f = np.zeros((nm, C.N_MKT_F))
    ven_i = np.zeros((nv, C.N_VEN_I), np.int64)
    ven_f = np.zeros((nv, C.N_VEN_F))
    depth = liquidity.arrays(venues, assets)
    for vi, v in enumerate(venues):
        rules = get_venue(v)
        ks = rules.kernel  # the venue's declared kernel codes and parameters (venues.KernelSpec)
        ven_i[vi] = (ks.step_rule, 0, ks.adl_rule, int(ks.fixed_mm_isolated), int(ks.adl_at_previous_mark))
        ven_f[vi, C.COOLDOWN] = ks.cooldown_s
        ven_f[vi, C.BACKSTOP_FRAC] = ks.backstop_ratio
        ven_f[vi, C.HL_THRESH] = ks.partial_threshold_usd
        ven_f[vi, C.HL_FRAC] = ks.partial_fraction
        ven_f[vi, C.TAKER] = rules.default_taker_fee
        for ai, a in enumerate(assets):
            m = vi * na + ai
            t = tables[(v, a)]
            k = t.n_tiers
            rates[m, :k] = t.mmr
            amounts[m, :k] = t.maintenance_amount
            caps[m, :k] = t.caps
            mkt_i[m] = (
                vi,
                ai,
                k,
                1 if t.basis == "contracts" else 0,
                C.MARK_MEDIAN3 if prices.rule(v) == "median3" else C.MARK_INDEX_EMA,
            )
            # fee rule probed from the rule book: none, a rate capped by what is left, or all of it
            big = 1e12
            f = float(np.asarray(rules.liquidation_fee(1.0, big, t.symbol)))
            if f == 0.0:
                fee_kind, rate = 0, 0.0
            elif f >= big:
                fee_kind, rate = 2, 0.0
            else:
                fee_kind, rate = 1, f
            ven_i[vi, C.FEE_KIND] = fee_kind
            mkt_f[m, C.FEE_RATE] = rate
            mkt_f[m, C.BID_B], mkt_f[m, C.ASK_B], mkt_f[m, C.BID_K], mkt_f[m, C.ASK_K] = depth[:, m]
            mkt_f[m, C.TOUCH_U] = liquidity.touch_u
            mkt_f[m, C.TOUCH_PW_BID] = liquidity.touch_u ** depth[2, m]
            mkt_f[m, C.TOUCH_PW_ASK] = liquidity.touch_u ** depth[3, m]
            mkt_f[m, C.CALM_VAR_M] = liquidity.response.calm_sigma_of(a) ** 2 * dt
            mkt_f[m, C.EMA_A] = 1.0 - math.exp(-dt / prices.window(v))
            mkt_f[m, C.CSIZE] = t.contract_size
            extra = rules._extra_rate(None)
            mkt_f[m, C.EXTRA] = float(extra)
            mkt_f[m, C.DEPTH1] = depth[0, m] * 0.01 ** depth[2, m] + depth[1, m] * 0.01 ** depth[3, m]
            mkt_f[m, C.RMAX] = float(np.max(t.mmr)) + float(extra)
    for ai in range(na):
        sel = mkt_i[:, C.ASSET] == ai
        w = mkt_f[sel, C.DEPTH1]
        mkt_f[sel, C.IDX_W] = w / w.sum()
    return Market(tuple(venues), tuple(assets), rates, amounts, caps, mkt_i, mkt_f, ven_i, ven_f, tables)


def contagion_arrays(flows, liquidity: Liquidity, venues, assets) -> np.ndarray:
    """The kernel's contagion table, ``(assets, assets + markets)``: ``[a, l]`` USD traded in
    asset ``a`` per unit log return of asset ``l`` over the previous step
    (:meth:`~.flows.Flows.contagion_matrix`); ``[a, assets + m]`` market ``m``'s share of the
    fresh books' density of follower ``a`` where ``a``'s contagion is on its current books (0
    elsewhere): the step's contagion USD is scaled by ``1 - sum_m share_m * (1 - multiplier_m)``."""
    assets = [a.upper() for a in assets]
    venues = [v.lower() for v in venues]
    na = len(assets)
    out = np.zeros((na, na + len(venues) * na))
    out[:, :na] = flows.contagion_matrix(assets)
    for c in flows.contagion:
        if not c.on_current_books:
            continue
        a = assets.index(c.asset)
        for v, w in liquidity.perp_density_shares(c.asset).items():
            if v in venues:
                out[a, na + venues.index(v) * na + a] = w
    return out


def initial_liquidation_prices(pos: Positions, market: Market) -> np.ndarray:
    """Every position's LP (USD): the kernel's tier-exact rule (``core.liquidation_price``, the
    same arithmetic and bits as the vectorised rule books; ``tests/engine/test_rules_mirror.py``),
    compiled, in chunks on the setup threads (each position's LP is its own: the same bits)."""
    n = len(pos)
    lp = np.empty(n)
    mkt = pos.market()
    k = setup_threads() if n >= 200_000 else 1
    cuts = [n * i // k for i in range(k + 1)]

    rules = market.rules()

    def chunk(i):
        a, b = cuts[i], cuts[i + 1]
        liquidation_prices_into(
            rules, pos.side[a:b], pos.size[a:b], pos.entry[a:b], pos.margin[a:b], mkt[a:b], pos.mode[a:b], lp[a:b]
        )

    map_all(chunk, range(k))
    return lp


def liquidation_prices_into(rules: C.Rules | Market, side, size, entry, margin, mkt, mode, out) -> np.ndarray:
    """Each position's LP (USD) into ``out`` by its market's rule (compiled, on this thread):
    ``side`` +1/-1, ``size`` base units, ``entry`` and ``margin`` USD, ``mkt`` market index,
    ``mode`` 0 isolated / 1 cross; ``rules``: the market's :class:`~liqcascade.engine.core.Rules`
    (or the :class:`Market`).  Returns ``out``."""
    if isinstance(rules, Market):
        rules = rules.rules()
    _liquidation_prices(C.PositionArrays(side, size, entry, margin, out, mkt, mode, np.zeros(0, np.int8)), rules)
    return out


#: columns of the run's packed per-position state (:func:`packed_positions`)
H_SIZE, H_ENTRY, H_MARGIN, H_LP = 0, 1, 2, 3
K_SIDE, K_MODE, K_MKT, K_FLAG = 0, 1, 2, 3
PACK_BLOCK = 1 << 16


def packed_positions(pos: Positions, market: Market, mkt: np.ndarray, open_size: np.ndarray):
    """:func:`packed_positions_async`, waited for."""
    return packed_positions_async(pos, market, mkt, open_size)()


def packed_positions_async(pos: Positions, market: Market, mkt: np.ndarray, open_size: np.ndarray):
    """Start computing the run's working copy of the positions, one record per position: ``hot[i]`` holds size
    (base units), entry (USD), margin (USD) and LP (USD, as :func:`initial_liquidation_prices`)
    in 32 bytes on one cache line; ``codes[i]`` side, margin mode, market and the engine's flag
    (0) as small integers.  A liquidation touches a position's fields together, at random places
    in the population: packed, it reads two cache lines instead of eight.  The columns
    (``hot[:, H_SIZE]``, ...) are the arrays the kernel and the ledger take.

    Also returns the markets' totals over the open positions ``tot`` (rows: sum of ``s*size``,
    of ``s*size*entry`` (USD), long size, short size; base units), summed per block of
    :data:`PACK_BLOCK` positions and then over the blocks in order, so that they do not depend
    on the number of threads, and each block's count of positions per sort group ``2*market +
    (short)`` (``blocks``, int64, one row per block: :func:`sort_positions` takes them instead of
    counting again).  Computed block by block on the setup threads but one, the caller's thread
    taking the blocks left when it calls the function returned, which waits for the rest and
    returns ``(hot, codes, tot, blocks)``."""
    n, nm = len(pos), len(market.mkt_i)
    hot = _aligned((n, 4), np.float64)
    codes = _aligned((n, 4), np.int8 if nm <= 127 else np.int16)
    n_blocks = max(1, -(-n // PACK_BLOCK))
    # the blocks' sums and counts, which the pass updates for every position: each block's on
    # cache lines of its own (the threads work on neighbouring blocks; rows sharing a line would
    # bounce it between the cores at every update)
    part = _line_rows(n_blocks, (4, nm), np.float64)
    blocks = _line_rows(n_blocks, (2 * nm,), np.int64)

    rules = market.rules()

    def block(blk):
        a, b = blk * PACK_BLOCK, min(n, (blk + 1) * PACK_BLOCK)
        # the user's columns; lp and flag: the records' columns the pass fills
        src = C.PositionArrays(
            pos.side[a:b],
            pos.size[a:b],
            pos.entry[a:b],
            pos.margin[a:b],
            hot[a:b, H_LP],
            mkt[a:b],
            pos.mode[a:b],
            codes[a:b, K_FLAG],
        )
        _pack(src, open_size[a:b], rules, hot[a:b], codes[a:b], part[blk], blocks[blk])

    # the pool's threads start on the blocks; the caller's thread joins in when it waits
    finish = share(block, n_blocks, min_items_per_thread=3)

    def result():
        finish()
        tot = np.zeros((4, nm))
        for blk in range(n_blocks):
            tot += part[blk]
        return hot, codes, tot, blocks

    return result


def _line_rows(n_rows: int, shape: tuple, dtype) -> np.ndarray:
    """Zeros of shape ``(n_rows, *shape)`` whose rows each start on a 64-byte boundary and share
    no cache line with another row (for per-block accumulators written by different threads)."""
    itemsize = np.dtype(dtype).itemsize
    per = int(np.prod(shape))
    stride = -(-per * itemsize // 64) * 64 // itemsize
    buf = _aligned((n_rows, stride), dtype)
    buf[:] = 0
    return buf[:, :per].reshape((n_rows, *shape))


def _aligned(shape, dtype) -> np.ndarray:
    """An empty C-ordered array whose first element sits on a 64-byte boundary (a cache line)."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buf = np.empty(nbytes + 64, np.uint8)
    off = -buf.ctypes.data % 64
    return buf[off : off + nbytes].view(dtype).reshape(shape)


@C.jit_inline
def _position_lp(i, pos, rules):
    """Position ``i``'s LP (USD) by its market's rule (isolated maintenance on the entry value where the venue says so);
    ``pos``: a :class:`~liqcascade.engine.core.PositionArrays` (its ``lp`` and ``flag`` unread)."""
    m = pos.mkt[i]
    fixed = rules.ven_i[rules.mkt_i[m, C.VENUE], C.FIXED_MM_ISO] == 1 and pos.mode[i] == 0
    return C.lp_rule(float(pos.side[i]), pos.size[i], pos.entry[i], pos.margin[i], m, fixed, rules)


@C.jit
def _pack(pos, open_size, rules, hot, codes, tot, groups):
    """Fill the packed records ``hot``/``codes`` of the positions ``pos`` (open at ``open_size``
    base units), the markets' totals ``tot`` and the groups' counts (:func:`packed_positions_async`)."""
    side, size, entry, margin, mkt, mode = pos.side, pos.size, pos.entry, pos.margin, pos.mkt, pos.mode
    for i in range(size.shape[0]):
        m = mkt[i]
        s = float(side[i])
        q = open_size[i]
        groups[2 * m + (1 if s < 0 else 0)] += 1
        tot[0, m] += s * q
        tot[1, m] += s * q * entry[i]
        tot[2 if s > 0 else 3, m] += q
        hot[i, H_SIZE] = q
        hot[i, H_ENTRY] = entry[i]
        hot[i, H_MARGIN] = margin[i]
        hot[i, H_LP] = _position_lp(i, pos, rules)
        codes[i, K_SIDE] = side[i]
        codes[i, K_MODE] = mode[i]
        codes[i, K_MKT] = m
        codes[i, K_FLAG] = C.F_SORTED


@C.jit
def _liquidation_prices(pos, rules):
    """Every position's LP (USD) into ``pos.lp`` (:func:`_position_lp`)."""
    for i in range(pos.size.shape[0]):
        pos.lp[i] = _position_lp(i, pos, rules)


def sort_positions(lp, side, mkt, n_markets, block_counts=None):
    """Order positions per group ``2*market + (short)``: longs by LP descending, shorts
    ascending, equal LPs by ascending position index.  Returns ``(order int32, start, end)``.

    One compiled pass puts each position into its group with one unsigned 64-bit sort key: the
    LP's bits made monotone in the LP (reversed for longs, which are swept by LP descending),
    their lowest bits replaced by the position's index.  A plain sort of those integers (NumPy's
    vectorised sort, ~3x faster than an argsort of the LPs) orders each group by LP to within
    the dropped bits (a relative ~2e-10 at 1,000,000 positions), ties by index; a last pass
    reads the indices out and re-orders the runs whose kept bits are equal by their exact LPs
    (stable).  The order is exact: LP, then position index.  The counting and key passes run in
    chunks on the setup threads (where a key lands within its group does not matter: the sort
    orders the whole group), then the groups' sorts, the largest first.  The chunks are whole
    blocks of :data:`PACK_BLOCK` positions: ``block_counts``, each block's count of positions
    per group (:func:`packed_positions_async`'s ``blocks``), spares the counting pass."""
    n = len(lp)
    n_groups = 2 * n_markets
    n_blocks = max(1, -(-n // PACK_BLOCK))
    k = min(setup_threads(), n_blocks) if n >= 200_000 else 1
    cut_blocks = [n_blocks * i // k for i in range(k + 1)]
    cuts = [min(n, b * PACK_BLOCK) for b in cut_blocks]  # the last: n
    per_chunk = np.zeros((k, n_groups), np.int64)
    if block_counts is None:
        map_all(
            lambda c: _group_counts(side[cuts[c] : cuts[c + 1]], mkt[cuts[c] : cuts[c + 1]], per_chunk[c]), range(k)
        )
    else:
        for c in range(k):
            per_chunk[c] = block_counts[cut_blocks[c] : cut_blocks[c + 1]].sum(axis=0)
    counts = per_chunk.sum(axis=0)
    end = np.cumsum(counts)
    start = end - counts
    at = start + np.cumsum(per_chunk, axis=0) - per_chunk  # each chunk's first slot in each group
    shift = max(1, (n - 1).bit_length())  # low bits that hold a position index
    keys = np.empty(n, np.uint64)
    bits = lp.view(np.uint64)  # the same memory (a column of the packed records, or an array)
    map_all(
        lambda c: _group_keys(
            bits[cuts[c] : cuts[c + 1]],
            side[cuts[c] : cuts[c + 1]],
            mkt[cuts[c] : cuts[c + 1]],
            at[c].copy(),
            np.uint64(shift),
            cuts[c],
            keys,
        ),
        range(k),
    )
    order = np.empty(n, np.int32)

    def one(g):
        a, b = int(start[g]), int(end[g])
        keys[a:b].sort()
        _order_from_keys(keys[a:b], np.uint64(shift), lp, g % 2 == 1, order[a:b])

    map_all(one, sorted((g for g in range(n_groups) if end[g] > start[g]), key=lambda g: -int(counts[g])))
    return order, start, end


@C.jit
def _group_counts(side, mkt, counts):
    for i in range(side.shape[0]):
        counts[2 * mkt[i] + (1 if side[i] < 0 else 0)] += 1


@C.jit
def _group_keys(bits, side, mkt, at, shift, base, keys):
    """Positions ``base, base+1, ...`` into their groups' slots from ``at``, each with its sort
    key (see :func:`sort_positions`; ``bits``: the LPs' IEEE bits)."""
    sign = np.uint64(1) << np.uint64(63)
    for i in range(side.shape[0]):
        short = side[i] < 0
        g = 2 * mkt[i] + (1 if short else 0)
        p = at[g]
        at[g] = p + 1
        b = bits[i]
        if b == sign:  # -0.0: the same LP as 0.0
            b = np.uint64(0)
        b = ~b if b & sign else b | sign  # unsigned order = the float's order
        if not short:
            b = ~b  # longs: LP descending
        keys[p] = ((b >> shift) << shift) | np.uint64(base + i)


@C.jit
def _order_from_keys(keys, shift, lp, short, out):
    """Position indices from sorted keys into ``out``; runs of equal kept bits re-ordered by the
    exact sort key (LP for shorts, -LP for longs), stably (insertion sort: such runs are short
    or already in order)."""
    n = keys.shape[0]
    mask = (np.uint64(1) << shift) - np.uint64(1)
    for p in range(n):
        out[p] = keys[p] & mask
    p = 0
    while p < n:
        hi = keys[p] >> shift
        q = p + 1
        while q < n and keys[q] >> shift == hi:
            q += 1
        for r in range(p + 1, q):
            j = out[r]
            kj = lp[j] if short else -lp[j]
            k = r - 1
            while k >= p and (lp[out[k]] if short else -lp[out[k]]) > kj:
                out[k + 1] = out[k]
                k -= 1
            out[k + 1] = j
        p = q


def pending_orders(positions: Positions, p0: np.ndarray, n_markets: int):
    """The pending entry orders per group ``2*market + (entry above the start price)``: at or
    below the start price sorted by entry descending (they open as the mark falls), above it
    ascending.  Returns ``(pd_idx int32, pd_size (base units), start, end, heap_base)``; ``heap_base`` gives
    each (market, side) heap its region, as large as the group's pending count."""
    pend = np.flatnonzero(positions.is_pending & ~_timed_open(positions))
    mkt = positions.market()[pend].astype(np.int64)
    if len(pend) == 0 and not positions.n_pending:
        z = np.zeros(2 * n_markets, np.int64)
        return np.zeros(0, np.int32), np.zeros(0), z, z.copy(), np.zeros(2 * n_markets + 1, np.int64)
    e = positions.entry[pend]
    up = e > p0[positions.asset[pend]]
    grp = 2 * mkt + up
    o = np.lexsort((pend, np.where(up, e, -e), grp))
    pend, grp = pend[o], grp[o]
    counts = np.bincount(grp, minlength=2 * n_markets)
    end = np.cumsum(counts).astype(np.int64)
    allp = positions.is_pending  # the heaps take the timed openings too
    hgrp = 2 * positions.market()[allp].astype(np.int64) + (positions.side[allp] < 0)
    hcounts = np.bincount(hgrp, minlength=2 * n_markets)
    base = np.r_[0, np.cumsum(hcounts)].astype(np.int64)
    return pend.astype(np.int32), positions.size[pend].copy(), end - counts, end, base


def _timed_open(positions: Positions) -> np.ndarray:
    """Bool per position: pending and opened at a time (``open_s``), not at a trigger price."""
    if positions.open_s is None:
        return np.zeros(len(positions), bool)
    return positions.is_pending & ~np.isnan(positions.open_s)


def timed_orders(positions: Positions, n_steps: int, dt: float):
    """The kernel's ``timed`` tuple (:func:`core.timed_step`): positions opening at a time,
    ascending by time then index, with their sizes (base units); positions closed by their
    holders at a time, likewise; and the two pointers.  Times past the horizon are dropped."""
    horizon = n_steps * dt
    op = (
        np.flatnonzero(_timed_open(positions) & (np.nan_to_num(positions.open_s, nan=np.inf) < horizon))
        if positions.open_s is not None
        else np.zeros(0, np.int64)
    )
    op = op[np.lexsort((op, positions.open_s[op]))] if len(op) else op.astype(np.int64)
    if positions.close_s is not None:
        cl = np.flatnonzero(np.nan_to_num(positions.close_s, nan=np.inf) < horizon)
        cl = cl[np.lexsort((cl, positions.close_s[cl]))]
    else:
        cl = np.zeros(0, np.int64)
    op_time = positions.open_s[op].copy() if len(op) else np.zeros(0)
    cl_time = positions.close_s[cl].copy() if len(cl) else np.zeros(0)
    return (
        op.astype(np.int32),
        op_time,
        positions.size[op].copy(),
        cl.astype(np.int32),
        cl_time,
        np.zeros(2, np.int64),
    )


def multi_asset_cross_accounts(positions: Positions):
    """Cross positions of accounts that hold several on one venue, grouped per account (CSR:
    ``mc_pos[mc_start[a]:mc_start[a+1]]``); accounts ordered by their lowest position index,
    positions ascending.  Such an account's wallet is the sum of its positions' ``margin``."""
    cross = np.flatnonzero(positions.mode == CROSS)
    if len(cross) == 0:
        return np.zeros(0, np.int32), np.zeros(1, np.int64)
    key = positions.account[cross].astype(np.int64) * len(positions.venues) + positions.venue[cross]
    lo, hi = (int(key.min()), int(key.max()))
    if hi - lo < 64 * len(cross) + 4096:  # dense account ids: count in a table, not by a sort
        multi = np.empty(len(key), np.bool_)
        _several(key, lo, np.zeros(hi - lo + 1, np.uint8), multi)
    else:
        _, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
        multi = counts[inv] > 1
    idx = cross[multi]
    if len(idx) == 0:
        return np.zeros(0, np.int32), np.zeros(1, np.int64)
    uniq, k = np.unique(key[multi], return_inverse=True)  # the few positions of such accounts
    first = np.full(len(uniq), np.iinfo(np.int64).max)
    np.minimum.at(first, k, idx)
    o = np.lexsort((idx, first[k]))
    idx, k = idx[o], k[o]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    return idx.astype(np.int32), np.r_[starts, len(idx)].astype(np.int64)


@C.jit
def _several(key, lo, seen, out):
    """``out[i]``: does ``key[i]`` occur more than once (``seen``: a zeroed table over the keys'
    range, counts saturating at 2)."""
    for i in range(key.shape[0]):
        k = key[i] - lo
        if seen[k] < 2:
            seen[k] += 1
    for i in range(key.shape[0]):
        out[i] = seen[key[i] - lo] > 1


class Run:
    """Results of one simulation.

    ``steps``: one row per step and market (time_s, venue, asset, mark, mid, depth_1pct_usd,
    liq_long_usd, liq_short_usd, open_interest_usd, insurance_fund_usd, adl_usd, bad_debt_usd,
    depth_multiplier).  ``events``: the liquidation log (time_s, account, venue, asset, side,
    size, price, usd, method in book/backstop/adl).  ``waves``: one row per wave (time_s, wave,
    liquidated_usd L, depth_usd D, branching_ratio R = L / D, a pure number): L is the USD of the
    liquidations the wave triggered, D the book USD on the side they hit within the mark move that
    triggered them, the move counted as at least 1 bp (``core.BR_MIN_MOVE``), so R is finite on
    every wave.  ``summary``: headline figures; ``ledger``: the conservation check.

    The three frames are built from the kernel's record arrays on first access (``frames``: a
    builder per frame name), so a caller that needs only the summary does not pay for pandas.
    """

    def __init__(
        self,
        steps: pd.DataFrame | None = None,
        events: pd.DataFrame | None = None,
        waves: pd.DataFrame | None = None,
        summary: dict | None = None,
        ledger: dict | None = None,
        final: dict | None = None,
        *,
        frames: dict | None = None,
    ):
        self._frames = {"steps": steps, "events": events, "waves": waves}
        self._builders = dict(frames or {})
        self.summary = {} if summary is None else summary
        self.ledger = {} if ledger is None else ledger
        self.final = {} if final is None else final
        #: observed mode: the flow the path implies per step and asset (USD, + bought), else None
        self.implied_flow_usd: pd.DataFrame | None = None
        self.timed_flow_usd: pd.DataFrame | None = None

    def _frame(self, name: str) -> pd.DataFrame:
        f = self._frames[name]
        if f is None:
            f = self._frames[name] = self._builders.pop(name)()
        return f

    def _set_frame(self, name: str, value: pd.DataFrame) -> None:
        self._frames[name] = value
        self._builders.pop(name, None)

    steps = property(lambda self: self._frame("steps"), lambda self, v: self._set_frame("steps", v))
    events = property(lambda self: self._frame("events"), lambda self, v: self._set_frame("events", v))
    waves = property(lambda self: self._frame("waves"), lambda self, v: self._set_frame("waves", v))

    def __repr__(self) -> str:
        return f"Run(summary={self.summary!r}, ledger={self.ledger!r})"

    def __getstate__(self):  # pickling (process pools) builds the frames: the builders are closures
        for name in ("steps", "events", "waves"):
            self._frame(name)
        return self.__dict__.copy()

    def to_parquet(self, directory) -> None:
        from pathlib import Path

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.steps.to_parquet(d / "steps.parquet", index=False)
        self.events.to_parquet(d / "events.parquet", index=False)
        self.waves.to_parquet(d / "waves.parquet", index=False)


METHODS = np.array(["book", "backstop", "adl"])
#: smallest initial size of the event, active-set and wave buffers; a full buffer grows by the
#: share of the run it lasted and the run starts again (deterministic, so the same run)
MIN_BUFFER = 4096


def global_parameters(
    liquidity: Liquidity,
    prices: PriceConfig,
    flows: Flows,
    dt: float,
    adl_rule: str,
    vault_unwind_half_life_s: float | None = None,
) -> np.ndarray:
    """The kernel's global parameters (per-step rates from the model's per-second ones)."""
    r = liquidity.response
    glob = np.zeros(C.N_GLOB)
    glob[C.ARB_THETA] = 1.0 - math.exp(-prices.arbitrage_rate * dt)
    glob[C.CALM_VAR] = (r.calm_sigma**2) * dt
    glob[C.VOL_A] = 1.0 - math.exp(-dt / r.vol_window_s)
    glob[C.VOL_SENS] = r.vol_sensitivity
    glob[C.FLOW_SENS] = r.flow_sensitivity
    glob[C.MIN_MULT] = r.min_multiplier
    glob[C.REFILL_RHO] = 1.0 - 0.5 ** (dt / r.refill_half_life_s)
    glob[C.FEAR_A] = 1.0 - math.exp(-dt / flows.fear_window_s)
    glob[C.FEAR_SCALE] = flows.fear_scale
    glob[C.DT] = dt
    glob[C.ADL_PRO_RATA] = 1.0 if adl_rule == "pro_rata" else 0.0
    glob[C.PERM_THETA] = prices.permanent_impact
    glob[C.PERM_FLOW] = (
        prices.permanent_impact if prices.flow_permanent_impact is None else prices.flow_permanent_impact
    )
    glob[C.VAULT_RHO] = 0.0 if vault_unwind_half_life_s is None else 1.0 - 0.5 ** (dt / vault_unwind_half_life_s)
    glob[C.RESIL_RHO] = 1.0 - 0.5 ** (dt / prices.resilience_half_life_s)
    glob[C.BOOK_MEMORY] = 1.0 if prices.book_memory else 0.0
    return glob


def initial_asset_state(p0: np.ndarray, spot: np.ndarray | None = None) -> np.ndarray:
    """Per asset: index, running peak, slow EMA and fair price at the start prices (USD), the
    previous step's move (a ratio, 1); the spot book's parameters (``spot``:
    :meth:`Liquidity.spot_arrays`) and its mid."""
    ast = np.zeros((len(p0), C.N_AST))
    ast[:, C.LAST_MOVE] = 1.0
    for col in (C.INDEX, C.PEAK, C.SLOW, C.FAIR, C.STEP_INDEX, C.FLOW_INDEX, C.SPOT_MID):
        ast[:, col] = p0
    if spot is not None:
        ast[
            :,
            [
                C.SP_BID_B,
                C.SP_ASK_B,
                C.SP_BID_K,
                C.SP_ASK_K,
                C.SP_DEPTH1,
                C.SP_TOUCH_U,
                C.SP_TOUCH_PW_BID,
                C.SP_TOUCH_PW_ASK,
            ],
        ] = spot
    return ast


def simulate(
    positions: Positions,
    liquidity: Liquidity,
    prices: PriceConfig,
    flows: Flows | None = None,
    *,
    n_steps: int,
    dt: float = 1.0,
    insurance_fund: dict | float = 0.0,
    adl_rule: str = "queue",
    seed: int = 0,
    check_ledger: bool = True,
    keep_final: bool = False,
    vault_unwind_half_life_s: float | None = None,
    index_path: dict | None = None,
) -> Run:
    """Run the cascade engine for ``n_steps`` steps of ``dt`` seconds.

    ``insurance_fund``: USD per venue (a dict by venue name, or one number for all) — the
    insurance fund, or the liquidator vault's cash where the venue's fees go to a vault.
    ``adl_rule``: ``"queue"`` (the venue's ranking) or ``"pro_rata"`` (by size).
    ``vault_unwind_half_life_s``: a liquidator vault (a venue's liquidity vault) sells what it took over
    into the book, half of what it holds in this many seconds (None: it keeps it).
    ``index_path``: the observed mode — per asset name, the index (USD) at the start of every
    step (``n_steps`` values; NaN: not pinned that step): each step begins with the market
    orders that take the asset's books there (:func:`core.pin_asset`).  The signed USD they
    took (+ bought) is ``run.implied_flow_usd`` (one column per asset): the flow the path implies
    beyond the liquidations and the timed openings and closes the engine computes (the latter's
    USD: ``run.timed_flow_usd``).
    Raises :class:`InputError` for bad parameters before anything runs, and ``AssertionError``
    if the ledger does not balance (``check_ledger``).
    """
    flows = flows or Flows()
    if not (isinstance(n_steps, (int, np.integer)) and n_steps > 0):
        raise InputError(f"must be a positive integer, got {n_steps!r}", field="n_steps")
    if not (np.isfinite(dt) and dt > 0):
        raise InputError(f"must be a positive number of seconds, got {dt!r}", field="dt")
    if adl_rule not in ADL_RULES:
        raise InputError(f"must be one of {ADL_RULES}, got {adl_rule!r}", field="adl_rule")
    venues, assets = positions.venues, tuple(a.upper() for a in positions.assets)
    market = build_market(venues, assets, liquidity, prices, dt)
    funds = np.array(
        [
            float(insurance_fund.get(v, 0.0)) if isinstance(insurance_fund, dict) else float(insurance_fund)
            for v in venues
        ]
    )
    if np.any(~np.isfinite(funds)) or np.any(funds < 0):
        raise InputError("insurance funds must be non-negative USD", field="insurance_fund")
    n = len(positions)
    nm = len(venues) * len(assets)
    mkt = positions.market()
    pending = positions.is_pending
    open_size = np.where(pending, 0.0, positions.size) if positions.n_pending else positions.size
    # the packed records on the setup threads while this thread builds the flows' arrays, the
    # accounts and the entry orders (nothing of the run is returned before all of them are checked)
    packing = packed_positions_async(positions, market, mkt, open_size)
    sched = flows.schedule(assets, n_steps, dt, seed)
    co_asset, co = flows.cohort_arrays(assets)
    st_price, st_size, st_side, st_start, st_end = flows.stop_arrays(assets)
    if not (flows.fear_window_s > 0 and flows.fear_scale > 0):
        raise InputError("fear window and scale must be positive", field="fear_window_s")
    p0 = prices.initial_array(assets)
    if vault_unwind_half_life_s is not None and not vault_unwind_half_life_s > 0:
        raise InputError("must be a positive number of seconds", field="vault_unwind_half_life_s")
    glob = global_parameters(liquidity, prices, flows, dt, adl_rule, vault_unwind_half_life_s)
    rules = market.rules(glob)
    cmat = contagion_arrays(flows, liquidity, venues, assets)
    vsched = flows.venue_schedule(venues, assets, n_steps, dt)

    mc_pos, mc_start = multi_asset_cross_accounts(positions)
    if positions.n_pending and np.any(pending[mc_pos]):
        raise InputError("a pending position cannot belong to a multi-asset cross account", field="pending")
    pd_idx, pd_size, pd_start, pd_end, hp_base = pending_orders(positions, p0, nm)
    timed0 = timed_orders(positions, n_steps, dt)
    pin0 = observed_pin(index_path, assets, n_steps)
    hot, codes, tot, blocks = packing()
    order, grp_start, grp_end = sort_positions(hot[:, H_LP], positions.side, mkt, nm, blocks)

    def fresh_state():
        mst = np.zeros((nm, C.N_MST))
        mst[:, C.MID] = p0[market.mkt_i[:, C.ASSET]]
        mst[:, C.MARK] = mst[:, C.MID]
        mst[:, C.MULT] = 1.0
        mst[:, C.VAR] = market.mkt_f[:, C.CALM_VAR_M]
        mst[:, C.LP_INV] = -tot[0]
        mst[:, C.LP_CASH] = tot[1]
        mst[:, C.OI_L] = tot[2]
        mst[:, C.OI_S] = tot[3]
        vst = np.zeros((len(venues), 3))
        vst[:, C.FUND] = funds
        return mst, vst, initial_asset_state(p0, liquidity.spot_arrays(assets))

    ev_cap = max(MIN_BUFFER, n // 4)
    act_cap = max(MIN_BUFFER, n // 16)
    wv_cap = max(MIN_BUFFER, n_steps // 2)
    initial_value = float(np.sum(positions.margin) + np.sum(funds))  # USD: traders' margin and the funds
    for attempt in range(20):
        mst, vst, ast = fresh_state()
        if attempt > 0:  # the run changed them: the same records again
            hot, codes, _, _ = packed_positions(positions, market, mkt, open_size)
        size, entry, margin, lp_run = (hot[:, c] for c in (H_SIZE, H_ENTRY, H_MARGIN, H_LP))
        side_k, mode_k, mkt_k, flag = (codes[:, c] for c in (K_SIDE, K_MODE, K_MKT, K_FLAG))
        flag[mc_pos] = C.F_ACCOUNT  # checked per account, never by the sweep
        flag[pending] = C.F_PENDING
        pd_ptr = pd_start.copy()
        hp_key = np.zeros(int(hp_base[-1]))
        hp_idx = np.zeros(int(hp_base[-1]), np.int32)
        hp_n = np.zeros(2 * nm, np.int64)
        n_acc = len(mc_start) - 1
        mc_rho = np.zeros((3, n_acc))  # rho at the epoch's start, rho at the last check, cooldown end (s)
        mc_ref = np.full(nm + 1, -1.0)
        mc_heap = (
            np.zeros(n_acc),
            np.zeros(n_acc, np.int32),
            np.array([0, n_acc], np.int64),
            np.zeros(2, np.int64),
            np.zeros(n_acc, np.int32),
            np.ones(len(mc_pos)),
        )  # keys, accounts, region, size; scratch; marks
        ptr = grp_start.copy()
        co_run = co.copy()
        st_ptr = st_start.copy()
        rec = np.zeros((C.N_REC, n_steps, nm))  # one contiguous (step, market) plane per output
        waves_per_step = np.zeros(n_steps, np.int32)
        act_idx = np.zeros(act_cap, np.int32)
        act_cool = np.zeros(act_cap)
        slot_of = np.zeros(n, np.int32)
        bound = np.empty(2 * nm)
        bound[0::2] = -np.inf
        bound[1::2] = np.inf
        adl_rank = np.zeros((2, int(np.max(grp_end - grp_start, initial=0)) + 1))  # position, -key
        adl_state = np.full(4, -1, np.int64)
        # a wave triggers at most every position of one market (sweep and active set together)
        trig = np.zeros(int(np.max(grp_end[1::2] - grp_start[0::2], initial=0)) + 1, np.int32)
        ev = (
            np.zeros(ev_cap, np.int32),
            np.zeros(ev_cap, np.int32),
            np.zeros(ev_cap),
            np.zeros(ev_cap),
            np.zeros(ev_cap, np.int16 if 8 * nm + 4 <= np.iinfo(np.int16).max else np.int32),
        )  # core.ev_code
        wv = (np.zeros(wv_cap, np.int32), np.zeros(wv_cap, np.int32), np.zeros(wv_cap), np.zeros(wv_cap))
        cnt = np.zeros(4, np.int64)
        # the records' and the event log's pages are mapped on a setup thread while the loop runs
        # (it writes them a step at a time; contents untouched, so no race)
        prefaulted = prefault_async(rec, *ev)
        pin = pin0.copy()
        timed = timed0[:5] + (timed0[5].copy(),)
        eng = C.Engine(
            rules,
            C.Books(mst, vst, ast),
            C.PositionArrays(side_k, size, entry, margin, lp_run, mkt_k, mode_k, flag),
            C.Sweep(order, grp_start, grp_end, ptr, trig),
            C.Active(act_idx, act_cool, slot_of, bound, adl_rank, adl_state),
            C.EventLog(*ev),
            C.Accounts(mc_pos, mc_start, mc_rho, mc_ref, *mc_heap),
            C.Pending(pd_idx, pd_size, pd_start, pd_end, pd_ptr),
            C.Heaps(hp_key, hp_idx, hp_base, hp_n),
            C.Timed(*timed),
            C.FlowArrays(sched, co_asset, co_run, st_price, st_size, st_end, st_ptr, cmat, vsched, pin),
            C.Records(rec, waves_per_step, *wv),
            cnt,
        )
        C.run_kernel(n_steps, eng)
        del eng
        prefaulted()  # done long before the loop (a few ms); the buffers outlive it
        status = int(cnt[C.STATUS])
        if status == C.OK:
            break
        # a buffer was full: grow it and run again from the start (deterministic, so the same run)
        del rec, act_idx, act_cool, trig, size, entry, margin, lp_run, flag, hot, codes
        # grow by the share of the run the buffer lasted (events and waves come in time order)
        if status == C.EVENTS_FULL:
            reached = int(ev[0][ev_cap - 1]) + 1
            ev_cap = int(ev_cap * max(2.0, 1.25 * n_steps / reached))
        elif status == C.ACTIVE_FULL:
            act_cap *= 4
        else:
            reached = int(wv[0][wv_cap - 1]) + 1
            wv_cap = int(wv_cap * max(2.0, 1.25 * n_steps / reached))
    else:  # pragma: no cover
        raise RuntimeError("engine buffers kept overflowing")
    marks = mst[:, C.MARK]
    # the ledger's pass over the positions runs on a setup thread while the frames are collected
    checking = L.balance_async(initial_value, positions.side, size, entry, margin, mkt, mst, vst, marks, ast)

    def checked() -> L.LedgerCheck:
        check = checking()
        if check_ledger and not check.ok:
            raise AssertionError(
                f"ledger does not balance: imbalance {check.imbalance:.6f} USD "
                f"(tolerance {check.tolerance:.6f}); parties {check.parties}"
            )
        return check

    final = (
        dict(
            size=size.copy(),
            margin=margin.copy(),
            entry=entry.copy(),
            lp=lp_run.copy(),
            mst=mst,
            vst=vst,
            ast=ast,
            cohorts=co_run,
        )
        if keep_final
        else {}
    )
    # the working arrays the ledger does not read are not needed for the frames: free them first
    del flag, order, slot_of, trig, adl_rank, act_idx, act_cool
    run = collect(positions, market, rec, waves_per_step, ev, wv, cnt, dt, checked, p0)
    del size, entry, margin, lp_run, hot, codes
    run.summary["opened_during_run_usd"] = float(np.sum(mst[:, C.OPENED]))
    if pin.shape[0]:
        na = len(assets)
        run.implied_flow_usd = pd.DataFrame(pin[:, na : 2 * na], columns=list(assets))
        run.implied_flow_usd.insert(0, "time_s", np.arange(n_steps) * dt)
        run.timed_flow_usd = pd.DataFrame(pin[:, 2 * na :], columns=list(assets))
        run.timed_flow_usd.insert(0, "time_s", np.arange(n_steps) * dt)
        run.summary["mode"] = "observed"
    else:
        run.summary["mode"] = "free"
    run.final = final
    return run


def observed_pin(index_path: dict | None, assets, n_steps: int) -> np.ndarray:
    """The kernel's ``pin`` array: ``(n_steps, 3*n_assets)``, the target index (USD) per step
    and asset in the first block (NaN: free that step), then zeros for the USD the pin takes and
    for the USD of the timed openings and closes; no rows without a path (free mode)."""
    if not index_path:
        return np.zeros((0, 3 * len(assets)))
    na = len(assets)
    pin = np.zeros((n_steps, 3 * na))
    pin[:, :na] = np.nan
    for name, values in index_path.items():
        if name.upper() not in assets:
            raise InputError(
                f"index path for {name!r}, which has no market (assets: {', '.join(assets)})", field="index_path"
            )
        v = np.asarray(values, np.float64)
        if v.shape != (n_steps,):
            raise InputError(f"index path for {name} has {v.size} values, the run {n_steps} steps", field="index_path")
        ok = np.isnan(v) | (np.isfinite(v) & (v > 0))
        if not np.all(ok):
            i = int(np.flatnonzero(~ok)[0])
            raise InputError(
                f"index path for {name}: step {i} is {v[i]!r}, not a positive price", field="index_path", row=i
            )
        pin[:, assets.index(name.upper())] = v
    return pin


def collect(positions, market, rec, waves_per_step, ev, wv, cnt, dt, check, initial_index) -> Run:
    """The :class:`Run` from the kernel's buffers.  ``check``: the run's :class:`LedgerCheck`, or
    a function that returns it, called once the events are gathered and summarized (the
    ledger's pass over the positions runs meanwhile)."""
    venues, assets = market.venues, market.assets
    _, n_steps, nm = rec.shape
    na = len(assets)

    def steps_frame():
        t = np.arange(n_steps) * dt
        # the frame holds views of the kernel's buffers (copy=False): no second copy of a day of records
        return pd.DataFrame(
            {
                "time_s": np.repeat(t, nm),
                "venue": pd.Categorical.from_codes(np.tile(market.mkt_i[:, C.VENUE].astype(np.int8), n_steps), venues),
                "asset": pd.Categorical.from_codes(np.tile(market.mkt_i[:, C.ASSET].astype(np.int8), n_steps), assets),
                "mark": rec[C.R_MARK].ravel(),
                "mid": rec[C.R_MID].ravel(),
                # both sides within 1 %: the base depth times the step's multiplier (the kernel's product)
                "depth_1pct_usd": (rec[C.R_MULT] * market.mkt_f[:, C.DEPTH1]).ravel(),
                "liq_long_usd": rec[C.R_LIQ_L].ravel(),
                "liq_short_usd": rec[C.R_LIQ_S].ravel(),
                "open_interest_usd": rec[C.R_OI].ravel(),
                "insurance_fund_usd": rec[C.R_FUND].ravel(),
                "adl_usd": rec[C.R_ADL].ravel(),
                "bad_debt_usd": rec[C.R_BAD].ravel(),
                "depth_multiplier": rec[C.R_MULT].ravel(),
                "index": rec[C.R_INDEX].ravel(),
            },
            copy=False,
        )

    # the events' columns are gathered now (the population may change after the run); the frame later
    k = int(cnt[C.N_EV])
    ev_step, ev_pos, ev_qty, ev_price, ev_code = (a[:k] for a in ev)
    e = dict(
        time_s=ev_step * dt,
        account=np.empty(k, positions.account.dtype),
        position=ev_pos,
        venue=np.empty(k, np.int8),
        asset=np.empty(k, np.int8),
        short=np.empty(k, np.int8),
        size=ev_qty,
        price=ev_price,
        usd=np.empty(k),
        method=np.empty(k, np.int8),
    )
    _event_columns(
        ev_pos,
        ev_qty,
        ev_price,
        ev_code,
        market.mkt_i[:, C.VENUE].astype(np.int8),
        market.mkt_i[:, C.ASSET].astype(np.int8),
        e["venue"],
        e["asset"],
        e["short"],
        e["usd"],
        e["method"],
    )

    def events_frame():
        return pd.DataFrame(
            {
                "time_s": e["time_s"],
                "account": e["account"],
                "position": e["position"],
                "venue": pd.Categorical.from_codes(e["venue"], venues),
                "asset": pd.Categorical.from_codes(e["asset"], assets),
                "side": pd.Categorical.from_codes(e["short"], ["long", "short"]),
                "size": e["size"],
                "price": e["price"],
                "usd": e["usd"],
                "method": pd.Categorical.from_codes(e["method"], list(METHODS)),
            },
            copy=False,
        )

    kw = int(cnt[C.N_WV])
    wv_step, wv_no, wv_liq, wv_depth = (a[:kw] for a in wv)
    out = {}
    first_market = [int(np.flatnonzero(market.mkt_i[:, C.ASSET] == a)[0]) for a in range(na)]

    def summary_task(i):
        if i == 0:  # the events' sums and the waves' branching ratios
            with np.errstate(divide="ignore", invalid="ignore"):
                out["rr"] = np.where(wv_depth > 0, wv_liq / wv_depth, np.nan)
            out["sums"] = event_sums(e, venues, assets)
        else:  # the drawdowns: the index per asset from the start, one row per asset so that the
            # running maximum runs along contiguous memory (a (steps, assets) view of it is passed);
            # every market of an asset records the same index: one of them is read
            index = np.empty((na, n_steps + 1))
            index[:, 0] = initial_index
            for a, m in enumerate(first_market):
                index[a, 1:] = rec[C.R_INDEX, :, m]
            out["dd"] = drawdowns_pct(index.T)

    # the summary's two items on a setup thread (after the ledger's pass, started before) and
    # this one, which first gathers the events' accounts from the population and counts them
    summing = share(summary_task, 2)
    _gather_by_page(positions.account, ev_pos, e["account"])
    accounts = _count_distinct(e["account"])
    summing()
    rr = out["rr"]
    summary = headline_figures(
        e, rr, wv_no, waves_per_step, assets, venues, sums=out["sums"], accounts=accounts, drawdown_pct=out["dd"]
    )

    def waves_frame():
        return pd.DataFrame(
            {
                "time_s": wv_step * dt,
                "wave": wv_no,
                "liquidated_usd": wv_liq,
                "depth_usd": wv_depth,
                "branching_ratio": rr,
            },
            copy=False,
        )

    check = check() if callable(check) else check
    summary["ledger_imbalance_usd"] = check.imbalance
    return Run(
        summary=summary,
        ledger=check.as_dict(),
        frames={"steps": steps_frame, "events": events_frame, "waves": waves_frame},
    )


@C.jit
def _event_columns(ev_pos, ev_qty, ev_price, ev_code, mkt_venue, mkt_asset, ven, ast, short, usd, method):
    """The events' columns in one pass: venue and asset codes, 1 for a short and the method
    decoded from the log's code (:func:`core.ev_code`; ``mkt_venue``/``mkt_asset``: per market),
    and the USD (``qty * price``)."""
    for k in range(ev_pos.shape[0]):
        c = ev_code[k]
        method[k] = c & 3
        g = c >> 2
        ven[k] = mkt_venue[g >> 1]
        ast[k] = mkt_asset[g >> 1]
        short[k] = g & 1
        usd[k] = ev_qty[k] * ev_price[k]


def _gather_by_page(values, idx, out):
    """``out[:] = values[idx]``, the reads made page by page of ``values``: the population's
    arrays are out of the cache after the step loop, and random reads over them wait on the
    TLB and DRAM (the events' accounts: 4.0 ms cold at 1,000,000 positions, 2.1 ms so)."""
    shift = max(0, (4096 // values.itemsize).bit_length() - 1)  # log2 of the values in a 4 KiB page
    start = np.zeros((len(values) >> shift) + 2, np.int64)
    order = np.empty(len(idx), np.int32)
    _page_order(idx, shift, start, order)
    _gather_in_order(values, idx, order, out)


@C.jit
def _page_order(idx, shift, start, order):
    """``order``: the positions of ``idx`` bucketed by ``idx >> shift`` (counting sort)."""
    for k in range(idx.shape[0]):
        start[(idx[k] >> shift) + 1] += 1
    for b in range(start.shape[0] - 1):
        start[b + 1] += start[b]
    for k in range(idx.shape[0]):
        b = idx[k] >> shift
        order[start[b]] = k
        start[b] += 1


@C.jit
def _gather_in_order(values, idx, order, out):
    for p in range(order.shape[0]):
        k = order[p]
        out[k] = values[idx[k]]


def feed_throttles_s(venues) -> np.ndarray:
    """Per venue, the window (seconds) within which its public liquidation feed prints only the
    latest liquidation of a symbol; 0 where the feed prints every one."""
    return np.array([get_venue(v).kernel.feed_throttle_s for v in venues], np.float64)


def reported_mask(venue, asset, time_s, usd, venues) -> np.ndarray:
    """Which liquidations a venue's public feed shows (see :func:`as_reported`), from the events'
    columns: venue and asset codes, time (s) and USD.  Within a throttle window the *latest*
    liquidation is kept (the last in time, then in row order: the engine logs a step's
    liquidations in the order they fill)."""
    keep = np.ones(len(usd), bool)
    throttle = feed_throttles_s(venues)
    if len(usd) == 0 or not np.any(throttle > 0):
        return keep
    na = int(asset.max()) + 1
    last = np.full(len(throttle) * na, -1, np.int64)
    cur = np.full(len(throttle) * na, -np.inf)
    if _latest(venue, asset, time_s, throttle, na, last, cur, keep):  # in time order (the engine's log)
        return keep
    keep[:] = True
    sel = np.flatnonzero(throttle[venue] > 0)
    if len(sel) == 0:
        return keep
    window = np.floor(time_s[sel] / throttle[venue[sel]])
    keep[sel] = False
    # one integer key per (venue, asset, window); stable sorts keep the rows' order within ties
    if np.all(np.isfinite(window)) and np.max(np.abs(window), initial=0.0) < 2.0**40:
        wcode = window.astype(np.int64)
        wcode -= wcode.min()
    else:  # pragma: no cover - times outside any engine run
        wcode = np.unique(window, return_inverse=True)[1].reshape(-1).astype(np.int64)
    key = (venue[sel].astype(np.int64) * 256 + asset[sel]) * (int(wcode.max()) + 1) + wcode
    o = np.argsort(time_s[sel], kind="stable")  # time order, ties in row order
    o = o[np.argsort(key[o], kind="stable")]
    ks = key[o]
    last = np.r_[ks[1:] != ks[:-1], True]
    keep[sel[o[last]]] = True
    return keep


def as_reported(events: pd.DataFrame) -> pd.DataFrame:
    """The liquidations a venue's public feed shows.  Where the venue throttles (its rule book's
    ``kernel.feed_throttle_s`` > 0: a stream that pushes only the latest liquidation order of a
    symbol within each window) only the latest liquidation of each symbol in each throttle window
    is kept; a complete feed (throttle 0) reports every one."""
    if events.empty:
        return events
    keep = reported_mask(
        events["venue"].cat.codes.to_numpy(),
        events["asset"].cat.codes.to_numpy(),
        events["time_s"].to_numpy(np.float64),
        events["usd"].to_numpy(np.float64),
        list(events["venue"].cat.categories),
    )
    return events[keep]


@C.jit
def _latest(venue, asset, time_s, throttle, na, last, cur, keep):
    """Rows in time order, in one pass: a row of a throttled feed is kept when it is the last of
    its (venue, asset, window ``floor(time_s / throttle)``), the others all; ``last`` and
    ``cur`` are scratch per feed (-1, -inf).  Returns False, ``keep`` unfinished, at the first
    row earlier than the one before."""
    for i in range(time_s.shape[0]):
        if i > 0 and not time_s[i] >= time_s[i - 1]:
            return False
        th = throttle[venue[i]]
        if not th > 0.0:
            continue
        keep[i] = False
        f = venue[i] * na + asset[i]
        w = np.floor(time_s[i] / th)
        if last[f] >= 0 and w != cur[f]:
            keep[last[f]] = True
        cur[f] = w
        last[f] = i
    for f in range(last.shape[0]):
        if last[f] >= 0:
            keep[last[f]] = True
    return True


def headline_figures(e, r, wave_no, waves_per_step, assets, venues, *, sums, accounts: int, drawdown_pct) -> dict:
    """Headline figures from the events' columns ``e`` (NumPy arrays: ``usd`` and the rest as
    :func:`event_sums` reads them), the waves' branching ratios ``r`` and the figures computed
    beside it (:func:`collect` computes them on two threads): ``sums`` (:func:`event_sums`),
    ``accounts`` (the distinct accounts liquidated) and ``drawdown_pct`` (per asset, percent:
    :func:`drawdowns_pct`).  The ledger's imbalance is added by :func:`collect` once the
    ledger's pass is done."""
    usd = e["usd"]
    nv = len(venues)
    total, reported, longs = (float(sums[k]) for k in (EV_TOTAL, EV_REPORTED, EV_LONG))
    r_first = r[wave_no == 1]
    by_venue = sums[EV_BY_VENUE : EV_BY_VENUE + nv]
    by_asset = sums[EV_BY_VENUE + nv :]
    return {
        "true_total_liquidated_usd": total,
        "as_reported_total_usd": reported,
        "accounts_liquidated": int(accounts),
        "liquidation_events": int(len(usd)),
        "long_share": longs / total if total > 0 else float("nan"),
        "by_venue_usd": {str(k): float(v) for k, v in zip(venues, by_venue)},
        "by_asset_usd": {str(k): float(v) for k, v in zip(assets, by_asset)},
        "largest_liquidation_usd": float(usd.max()) if len(usd) else 0.0,
        "drawdown_pct": {a: float(d) for a, d in zip(assets, drawdown_pct)},
        "waves_total": int(len(r)),
        "max_waves_in_a_step": int(waves_per_step.max()) if len(waves_per_step) else 0,
        "branching_ratio_first_wave_max": float(np.nanmax(r_first)) if np.any(np.isfinite(r_first)) else float("nan"),
        "branching_ratio_path_max": float(np.nanmax(r)) if np.any(np.isfinite(r)) else float("nan"),
        "adl_usd": float(sums[EV_ADL]),
        "backstop_usd": float(sums[EV_BACKSTOP]),
    }


def event_sums(e, venues, assets) -> np.ndarray:
    """The events' USD (``e``: ``usd``, ``venue`` and ``asset`` codes, ``short``, ``method``,
    ``time_s``) summed per column ``EV_*``: all, as the feeds report them (:func:`reported_mask`),
    longs', ADL's, the backstops', then per venue and per asset; compensated, in one pass."""
    sums = np.zeros((2, EV_BY_VENUE + len(venues) + len(assets)))  # sums and their compensations
    usd = e["usd"]
    _event_sums(
        usd,
        e["venue"],
        e["asset"],
        e["short"],
        e["method"],
        reported_mask(e["venue"], e["asset"], e["time_s"], usd, venues),
        len(venues),
        sums,
    )
    return sums[0]


def drawdowns_pct(index) -> np.ndarray:
    """Per column of ``index`` (an asset's index per step, rows from the start) the largest fall
    from its running peak, in percent."""
    dd = np.zeros(index.shape[1])
    if len(index):
        _max_drawdown(index, dd)
    return dd * 100.0


#: :func:`_event_sums`' columns: USD in all events, in those the feeds report, in longs', ADL and
#: backstop events, then per venue and per asset
EV_TOTAL, EV_REPORTED, EV_LONG, EV_ADL, EV_BACKSTOP, EV_BY_VENUE = range(6)


@C.jit
def _event_sums(usd, venue, asset, short, method, reported, n_venues, sums):
    """The events' USD summed in one pass into ``sums[0]`` (columns ``EV_*``), compensated
    (Neumaier; ``sums[1]`` holds the compensations, added at the end): as exact as the
    rounding of the total allows, in any order."""
    for k in range(usd.shape[0]):
        x = usd[k]
        _add(sums, EV_TOTAL, x)
        if reported[k]:
            _add(sums, EV_REPORTED, x)
        if short[k] == 0:
            _add(sums, EV_LONG, x)
        if method[k] == C.ADL:
            _add(sums, EV_ADL, x)
        elif method[k] == C.BACKSTOP:
            _add(sums, EV_BACKSTOP, x)
        _add(sums, EV_BY_VENUE + venue[k], x)
        _add(sums, EV_BY_VENUE + n_venues + asset[k], x)
    for j in range(sums.shape[1]):
        sums[0, j] += sums[1, j]


@C.jit_inline
def _add(sums, j, x):
    s = sums[0, j]
    t = s + x
    if abs(s) >= abs(x):
        sums[1, j] += (s - t) + x
    else:
        sums[1, j] += (x - t) + s
    sums[0, j] = t


@C.jit
def _max_drawdown(index, out):
    """``out[a]``: the largest ``1 - index/peak`` over the steps (rows) of column ``a``, the peak
    the running maximum from the first row (the same operations as NumPy's accumulate, divide
    and max, in one pass)."""
    for a in range(index.shape[1]):
        peak = index[0, a]
        best = -np.inf
        for t in range(index.shape[0]):
            x = index[t, a]
            if x > peak:
                peak = x
            d = 1.0 - x / peak
            if d > best:
                best = d
        out[a] = best


def _count_distinct(a: np.ndarray) -> int:
    if len(a) == 0:
        return 0
    lo, hi = int(a.min()), int(a.max())
    if hi - lo < 8 * len(a) + 1024:  # dense ids: a bitmap instead of a sort
        seen = np.zeros(hi - lo + 1, bool)
        seen[a - lo] = True
        return int(np.count_nonzero(seen))
    return int(len(np.unique(a)))
