"""The step loop: flows, arbitrage, marks, and waves of forced flow, compiled with Numba.

Why it is fast: an isolated position's liquidation price (LP) is fixed while its margin and size
are fixed (its maintenance margin depends only on the mark, and the LP already solves for it,
tier-exact).  So every LP is computed once with the vectorised rule book, positions are sorted
per (market, side) by LP once, and each wave advances one pointer per (market, side) over the
positions the mark has crossed: O(crossed) per step, never O(n).  A position whose margin or size
changes (a partial liquidation step, an ADL reduction) gets a new LP and leaves the sorted list
for a small *active set* that is checked directly every wave.

State: the loop works on an :class:`Engine`, a named tuple of named bundles of arrays —
:class:`Rules` (tier tables, market, venue and global parameters; read only),
:class:`Books` (market, venue and asset state), :class:`PositionArrays`, :class:`Sweep`,
:class:`Active` (active set and ADL queue), :class:`EventLog`, :class:`Accounts` (multi-asset
cross accounts), :class:`Pending`, :class:`Heaps`, :class:`Timed`, :class:`FlowArrays` and
:class:`Records` — each field documented with its unit.  Functions take the bundles they use
(at most 12 parameters: ``tests/engine/test_shape.py``); the matrices' columns are named by the
constants below (``MID``, ``INDEX`` ...).

Order of one step (``t_now = t*dt`` seconds; :func:`run_kernel`):

1. Flows (:mod:`.flows`; :func:`flows_stage`, :func:`timed_step`): scheduled USD, cohorts,
   triggered stops; each asset's flow is split across its books (venues and spot) so that its last
   fills are equally far from every mid (:func:`route_level`), and walks them.
2. Arbitrage (each mid closes a fraction of its gap to the index), index, basis EMA, marks
   (:func:`prices_step`).
3. Waves (:func:`waves_stage`): snapshot every market's mark; in market order, find the
   positions whose condition is met (longs: mark <= LP, shorts: mark >= LP, cooldown over;
   :func:`crossed_positions`), process them in ascending position index (:func:`liquidate`: the
   venue's procedure: backstop takeover, partial step, or full close; fills walk the book and
   move the mid; insurance fund, ADL).  Recompute index and marks and repeat until a wave
   triggers nothing (at most ``MAX_WAVES`` waves per step).
4. Market makers' depth response, realised volatility; resilience: the fair price keeps a
   fraction ``permanent_impact`` of the step's trading-induced index move and the index closes a
   share of its gap to the fair price (:class:`~liqcascade.engine.prices.PriceConfig`); the
   step's index returns (feeding next step's contagion flows); records (:func:`end_of_step`).

Positions opened during the run (pending entry orders): per market, two lists sorted by trigger
price (those below the start price, descending; those above, ascending) and one pointer each;
at the start of every wave the pointer fires every order whose trigger the mark has reached: a
market order that walks the book, its fill price becomes the entry and its LP is computed then.
Its place in the sorted sweep may already lie behind the pointer, so opened positions go to a
binary heap per (market, side) keyed by LP and are popped when the mark crosses the top: O(log n)
per opened position.  Stale heap entries (a position that since moved to the active set or
closed) are dropped when popped.

Branching ratio of a wave (estimator): ``R = L / D`` with ``L`` the USD (size x mark) of the
liquidation orders triggered in the wave, and ``D = sum_m Cum_m(|Δmark_m| / mark_m)`` the book
USD that sits within the mark move that triggered them (since the previous wave's snapshot, or
the previous step's last marks for the first wave; a move below ``BR_MIN_MOVE`` = 1 bp counts
as 1 bp), on the side the liquidations hit, summed over the markets that liquidated.  Both are
per $ of the same move, so their ratio is the issue's "liquidations per $ of move / depth per $
of move"; R > 1 means the forced flow exceeds the
depth that the move consumed, and the next wave moves the price further.

Full close and the insurance fund: a full close is first priced by walking the book without
committing.  If the equity at that fill is negative and the venue's fund (insurance fund, or the
liquidator vault where fees go there) cannot pay the shortfall, the order is split: the book
takes the largest part ``q_b`` whose shortfall the fund can pay exactly (bisection, 100
halvings), and ADL closes the rest at the bankruptcy price against profitable opposite
positions — by the venue's ranking key (``queue``: the ranking is taken once per wave and market
side, when the wave first needs it, and consumed from the top; ties go to the lower position
index) or pro-rata by size over the profitable positions (``pro_rata``).  If no opposite position is profitable the whole order goes to
the book and what the fund cannot pay stays as bad debt (a negative trader balance).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._jit import jit as _jit
from ..venues.base import STEP_CAP_RTOL


def jit(func):
    """The engine's kernels allocate nothing, so they are compiled without Numba's reference
    counting (``_nrt=False``): with it every call of a helper that takes arrays pays two atomic
    operations per array, which was half the step loop's time."""
    return _jit(func, _nrt=False)


def jit_inline(func):
    """:func:`jit`, and inlined into its callers by Numba (``inline="always"``): for the once-a-step
    stages of the loop and the liquidation itself, whose calls with dozens of arrays (in their
    bundles) cost as much as their bodies (each array is passed as seven machine words).  Numba
    inlines only calls with at most 30 arguments (CPython compiles a longer call as
    ``f(*args)``); the bundles keep every call far below that.  Inlining :func:`liquidate` took the
    benchmark's step loop from ~84 to ~69 ms.  Numba's inlining types the function anew at every
    call site: for the small helpers called from many places see :func:`jit_forceinline`."""
    return _jit(func, _nrt=False, inline="always")


def jit_forceinline(func):
    """:func:`jit`, compiled once and marked for LLVM to inline at every call
    (``forceinline=True``, LLVM's ``alwaysinline``): the book walks and fills, which the step
    loop calls every step and every liquidation.  Left to LLVM's own judgement they stayed calls
    inside the loop (a call clobbers every floating-point register the loop keeps); inlined, the
    benchmark's step loop took 29.0 instead of 34.0 ms at 1,000 positions and 52.0 instead of
    58.4 ms at 1,000,000 (first quartiles of paired runs).  Inlining them in Numba instead
    (:func:`jit_inline`) gained ~1 ms more but took the step loop's compilation from ~40 s to
    ~185 s."""
    return _jit(func, _nrt=False, forceinline=True)


MAX_WAVES = 200
#: The smallest mark move (fraction of the mark, 1e-4 = 1 bp) the branching ratio's depth D is
#: taken over: a wave set off by a smaller move (a rounding-sized tick) is measured against the
#: book within 1 bp, so R stays finite and comparable across waves.
BR_MIN_MOVE = 1e-4
MAX_WALK = 0.95
#: the largest hole (fraction of the mid) book memory carries into a step (:func:`start_of_step`)
MAX_HOLE = 0.5
#: holes below this (fraction) are the rounding of the fair price, not eaten depth
MIN_HOLE = 1e-12

# market float parameters (mkt_f columns)
# CALM_VAR_M: the market makers' calm variance per step of the market's asset (the volatility
# their withdrawal is measured against)
(
    BID_B,
    ASK_B,
    BID_K,
    ASK_K,
    IDX_W,
    EMA_A,
    CSIZE,
    EXTRA,
    FEE_RATE,
    DEPTH1,
    RMAX,
    TOUCH_U,
    TOUCH_PW_BID,
    TOUCH_PW_ASK,
    CALM_VAR_M,
) = range(15)
N_MKT_F = 15
# market int parameters (mkt_i columns)
VENUE, ASSET, NTIER, CONTRACTS, MARK_RULE = range(5)
N_MKT_I = 5
#: mark rules: the index plus an EMA of the basis; or the median of that, the book's mid and the index
MARK_INDEX_EMA, MARK_MEDIAN3 = 0, 1
# venue float parameters
COOLDOWN, BACKSTOP_FRAC, HL_THRESH, HL_FRAC, TAKER = range(5)
N_VEN_F = 5
# venue int parameters
STEP_KIND, FEE_KIND, ADL_KIND, FIXED_MM_ISO, ADL_AT_PREV_MARK = range(5)
N_VEN_I = 5
# global parameters
(
    ARB_THETA,
    CALM_VAR,
    VOL_A,
    VOL_SENS,
    FLOW_SENS,
    MIN_MULT,
    REFILL_RHO,
    FEAR_A,
    FEAR_SCALE,
    DT,
    ADL_PRO_RATA,
    PERM_THETA,
    RESIL_RHO,
    PERM_FLOW,
    VAULT_RHO,
    BOOK_MEMORY,
) = range(16)
N_GLOB = 16
# market state
(
    MID,
    EMA,
    MULT,
    VAR,
    LP_CASH,
    LP_INV,
    VAULT_INV,
    FLOW_CASH,
    FLOW_INV,
    OI_L,
    OI_S,
    MARK,
    PREV_MARK,
    LIQ_L,
    LIQ_S,
    ADL_USD,
    BAD_DEBT,
    WAVE_L,
    WAVE_BUY,
    STEP_MID,
    TRADED,
    OPENED,
    CONS_BID,
    CONS_ASK,
    U_BID,
    U_ASK,
) = range(26)
# (OPENED: USD notional of entry orders filled; CONS_BID/CONS_ASK: USD walked on each side of
# the book in the current step, reset every step; spot: SP_CONS_BID/SP_CONS_ASK likewise;
# U_BID/U_ASK: the distance from the step's mid (fraction) those walks have reached, the sum of
# their moves: see :func:`walk_market`); with book memory both start at the side's hole
# (HOLE_BID/HOLE_ASK, asset state), not at 0
N_MST = 26
# venue state
FUND, VAULT_CASH, FEE_INCOME = range(3)
# asset state
(
    INDEX,
    PEAK,
    SLOW,
    FAIR,
    STEP_INDEX,
    LAST_MOVE,
    FLOW_INDEX,
    SPOT_MID,
    SP_BID_B,
    SP_ASK_B,
    SP_BID_K,
    SP_ASK_K,
    SP_DEPTH1,
    SPOT_FLOW_CASH,
    SPOT_FLOW_INV,
    SPOT_LP_CASH,
    SPOT_LP_INV,
    SPOT_TRADED,
    SP_CONS_BID,
    SP_CONS_ASK,
    SP_TOUCH_U,
    SP_TOUCH_PW_BID,
    SP_TOUCH_PW_ASK,
    FEAR,
    HOLE_BID,
    HOLE_ASK,
) = range(26)
# (LAST_MOVE: the previous step's index move as a ratio, for the contagion flows; FEAR: the
# step's fear, 0-1, see :func:`flows_stage`; HOLE_BID/HOLE_ASK: with book memory, the distance
# (fraction of the mid) from the fair price to the index on the side the index has moved into,
# where every book of the asset starts this step's walks on that side, 0 on the other side and
# without memory: see :func:`start_of_step`)
N_AST = 26
# counters
N_EV, N_ACT, N_WV, STATUS = range(4)
# records per step and market
R_MARK, R_MID, R_LIQ_L, R_LIQ_S, R_OI, R_FUND, R_ADL, R_BAD, R_MULT, R_INDEX = range(10)
N_REC = 10
# event methods
BOOK, BACKSTOP, ADL = 0, 1, 2
# status codes
OK, EVENTS_FULL, ACTIVE_FULL, WAVES_FULL = 0, 1, 2, 3
# position flags: in the sorted sweep, in the active set, closed, in a multi-asset cross account,
# pending (opens during the run), opened during the run (in its group's heap)
F_SORTED, F_ACTIVE, F_CLOSED, F_ACCOUNT, F_PENDING, F_OPENED = 0, 1, 2, 3, 4, 5


# ---------------------------------------------------------------------------------- state bundles
# The step loop's state in named bundles (NamedTuples of arrays, typed by Numba as named tuples:
# a field is read by name, and a bundle of the wrong kind does not compile).  Markets are indexed
# ``m = venue * n_assets + asset``; a position's group is ``g = 2*m + (1 for a short)``.


class Rules(NamedTuple):
    """The venues' rules and the model's parameters; read only in the step loop."""

    rates: np.ndarray  #: (markets, tiers) float: maintenance margin rate per tier (fraction of notional)
    amounts: np.ndarray  #: (markets, tiers) float: maintenance amount per tier (USD, deducted)
    caps: np.ndarray  #: (markets, tiers) float: tier caps (USD notional, or contracts; inf past the last)
    mkt_i: np.ndarray  #: (markets, N_MKT_I) int64: VENUE, ASSET, NTIER, CONTRACTS (0/1), MARK_RULE
    mkt_f: np.ndarray  #: (markets, N_MKT_F) float: book depth (USD), exponents, fee rate, ... (``BID_B`` ...)
    ven_i: np.ndarray  #: (venues, N_VEN_I) int64: step, fee and ADL kinds, isolated MM rule, ADL price
    ven_f: np.ndarray  #: (venues, N_VEN_F) float: cooldown (s), backstop fraction, HL threshold (USD), taker
    glob: np.ndarray  #: (N_GLOB,) float: per-step rates and switches (``ARB_THETA`` ...; ``DT`` in s)


class Books(NamedTuple):
    """Market, venue and asset state: prices (USD), book use, inventories, funds."""

    mst: np.ndarray  #: (markets, N_MST) float: mid, mark (USD), depth multiplier, LP inventory ... (``MID`` ...)
    vst: np.ndarray  #: (venues, 3) float: insurance fund, liquidator vault's cash, fee income (USD)
    ast: np.ndarray  #: (assets, N_AST) float: index, peak, fair price (USD), spot book ... (``INDEX`` ...)


class PositionArrays(NamedTuple):
    """The run's working copy of the positions, one entry per position."""

    side: np.ndarray  #: int8: +1 long, -1 short
    size: np.ndarray  #: float: base units held (0 once closed, or while pending)
    entry: np.ndarray  #: float: entry price (USD; a pending order's trigger price until it fills)
    margin: np.ndarray  #: float: collateral (USD), realised PnL and fees booked into it
    lp: np.ndarray  #: float: liquidation price (USD)
    mkt: np.ndarray  #: int: market index
    mode: np.ndarray  #: int8: 0 isolated, 1 cross
    flag: np.ndarray  #: int8: where the engine keeps it (``F_SORTED``, ``F_ACTIVE``, ``F_CLOSED`` ...)


class Sweep(NamedTuple):
    """The positions sorted per group by LP once, and the pointers that sweep them."""

    order: np.ndarray  #: int32: positions per group (longs by LP descending, shorts ascending)
    grp_start: np.ndarray  #: int64 per group: the group's first slot in ``order``
    grp_end: np.ndarray  #: int64 per group: one past its last slot
    ptr: np.ndarray  #: int64 per group: the next slot the mark has not crossed
    trig: np.ndarray  #: int32 scratch: the positions a wave triggers on one market (+ 1 slot)


class Active(NamedTuple):
    """The active set (positions whose LP changed since the sort) and the ADL queue."""

    idx: np.ndarray  #: int32: the set's positions (``cnt[N_ACT]`` of them)
    cool: np.ndarray  #: float per slot: end of the position's cooldown (s)
    slot_of: np.ndarray  #: int32 per position: its slot in the set
    bound: np.ndarray  #: float per group: highest LP of its active longs / lowest of its shorts (USD)
    adl_rank: np.ndarray  #: (2, n) float: ADL ranking, position index and minus its key
    adl_state: np.ndarray  #: int64 (4,): the ranking's wave and group, its length, its next entry


class EventLog(NamedTuple):
    """One row per fill of a forced order (``cnt[N_EV]`` rows)."""

    step: np.ndarray  #: int32: step index
    pos: np.ndarray  #: int32: position index
    qty: np.ndarray  #: float: base units filled
    price: np.ndarray  #: float: fill price (USD)
    code: np.ndarray  #: int16/int32: method, market and side (:func:`ev_code`)


class Accounts(NamedTuple):
    """Multi-asset cross accounts (see :func:`check_cross_accounts`)."""

    pos: np.ndarray  #: int: the accounts' positions, account by account
    start: np.ndarray  #: int (accounts + 1): account ``a``'s positions are ``pos[start[a]:start[a+1]]``
    rho: np.ndarray  #: (3, accounts) float: rho at the epoch's start, rho at the last check, cooldown end (s)
    ref: np.ndarray  #: float (markets + 1): the epoch's marks (USD), then 0 once started (-1 before)
    hkey: np.ndarray  #: float: the heap's keys (epoch moves, fractions)
    hidx: np.ndarray  #: int32: the heap's accounts
    hbase: np.ndarray  #: int64 (2,): the heap's region
    hn: np.ndarray  #: int64 (2,): the heap's size, the due list's length
    batch: np.ndarray  #: int32: the due list (accounts, ascending)
    mark: np.ndarray  #: float per account position: the mark at the account's last check (USD)


class Heaps(NamedTuple):
    """Per group, a binary min-heap of the positions opened during the run (longs keyed by
    ``-LP``, shorts by ``LP``), all in one array: group ``g``'s region starts at ``base[g]``."""

    key: np.ndarray  #: float: the keys (USD)
    idx: np.ndarray  #: int32: the positions
    base: np.ndarray  #: int64 (groups + 1): each group's region
    n: np.ndarray  #: int64 per group: its heap's size


class Pending(NamedTuple):
    """Entry orders that open positions during the run when the mark reaches their trigger
    (their ``entry``): per market, group ``2*m`` below the start price (descending), ``2*m + 1``
    above (ascending)."""

    idx: np.ndarray  #: int: the pending positions, group by group
    size: np.ndarray  #: float: each order's size (base units)
    start: np.ndarray  #: int64 per group: its first order
    end: np.ndarray  #: int64 per group: one past its last
    ptr: np.ndarray  #: int64 per group: its next order not yet fired


class Timed(NamedTuple):
    """Positions opened and closed at a time (observed mode; :func:`timed_step`)."""

    op_idx: np.ndarray  #: int32: positions to open, ascending by time
    op_time: np.ndarray  #: float: when (s)
    op_size: np.ndarray  #: float: their size (base units)
    cl_idx: np.ndarray  #: int32: positions to close, ascending by time
    cl_time: np.ndarray  #: float: when (s)
    ptrs: np.ndarray  #: int64 (2,): the next opening and the next close


class FlowArrays(NamedTuple):
    """The non-liquidation flows (:mod:`.flows`) and the observed mode's path."""

    sched: np.ndarray  #: (steps, 2*assets) float: informed, then noise traders' signed USD per step
    co_asset: np.ndarray  #: int64 per cohort: its asset
    co: np.ndarray  #: (cohorts, 7) float: holdings (base units) or cash (USD) left, then its rates
    st_price: np.ndarray  #: float: stop-loss triggers (USD), per asset sells descending, buys ascending
    st_size: np.ndarray  #: float: their sizes (base units)
    st_end: np.ndarray  #: (assets, 2) int64: one past each asset's last sell / buy stop
    st_ptr: np.ndarray  #: (assets, 2) int64: each asset's next sell / buy stop
    cmat: np.ndarray  #: (assets, assets + markets) float: contagion, USD per unit log return of the leader; then per market its share of the follower's fresh density (0: fresh books)
    vsched: np.ndarray  #: (steps, markets) float: venue-level programmes' USD per step (no rows: none)
    pin: np.ndarray  #: (steps, 3*assets) float: target index (USD; NaN free), the USD it took, timed USD


class Records(NamedTuple):
    """What the run records: per step and market, and per wave."""

    rec: np.ndarray  #: (N_REC, steps, markets) float: mark, mid (USD), liquidated USD ... (``R_MARK`` ...)
    waves_per_step: np.ndarray  #: int32 per step: its waves
    wv_step: np.ndarray  #: int32 per wave: its step
    wv_no: np.ndarray  #: int32 per wave: its number in the step (from 1)
    wv_liq: np.ndarray  #: float per wave: USD of the liquidation orders it triggered
    wv_depth: np.ndarray  #: float per wave: book USD within the mark move that triggered them


class Engine(NamedTuple):
    """Everything :func:`run_kernel` works on; ``cnt``: int64 (4,) counters ``N_EV``, ``N_ACT``,
    ``N_WV`` and the run's ``STATUS``."""

    rules: Rules
    books: Books
    pos: PositionArrays
    sweep: Sweep
    active: Active
    events: EventLog
    accounts: Accounts
    pending: Pending
    heaps: Heaps
    timed: Timed
    flows: FlowArrays
    records: Records
    cnt: np.ndarray


# ---------------------------------------------------------------------------------- rule kernels
@jit
def tier_of(measure, caps, nt):
    """0-based tier holding ``measure`` (first cap >= measure), at most the last tier."""
    k = 0
    while k < nt - 1 and caps[k] < measure:
        k += 1
    return k


@jit
def max_line(x, m, nt, extra, rates, amounts):
    """``max over k < nt of x*(rates[m, k] + extra) - amounts[m, k]``: the largest of a tier
    table's maintenance lines at notional ``x`` (USD).  Four running maxima over every fourth
    line, then the largest of them: the same value as one running maximum (a maximum does not
    depend on the order of its terms; lines that compare equal have the same value), without
    each comparison waiting on the one before (tables of 20 lines: 4x fewer steps in the
    chain)."""
    b0 = -np.inf
    b1 = -np.inf
    b2 = -np.inf
    b3 = -np.inf
    k = 0
    while k + 4 <= nt:
        v0 = x * (rates[m, k] + extra) - amounts[m, k]
        v1 = x * (rates[m, k + 1] + extra) - amounts[m, k + 1]
        v2 = x * (rates[m, k + 2] + extra) - amounts[m, k + 2]
        v3 = x * (rates[m, k + 3] + extra) - amounts[m, k + 3]
        if v0 > b0:
            b0 = v0
        if v1 > b1:
            b1 = v1
        if v2 > b2:
            b2 = v2
        if v3 > b3:
            b3 = v3
        k += 4
    while k < nt:
        v0 = x * (rates[m, k] + extra) - amounts[m, k]
        if v0 > b0:
            b0 = v0
        k += 1
    if b1 > b0:
        b0 = b1
    if b3 > b2:
        b2 = b3
    return b2 if b2 > b0 else b0


@jit
def liquidation_price(s, q, e, coll, m, fixed_mm, rules):
    """Tier-exact LP (USD) of ``q`` base units on side ``s`` (+1/-1) entered at ``e`` (USD) on
    ``coll`` USD of collateral, market ``m`` (``fixed_mm``: maintenance on the entry value, a venue's
    isolated rule), with the same arithmetic as :mod:`liqcascade.venues.margin` (:func:`lp_rule`,
    called)."""
    return lp_rule(s, q, e, coll, m, fixed_mm, rules)


@jit_inline
def lp_rule(s, q, e, coll, m, fixed_mm, rules):
    """:func:`liquidation_price`, inlined where it is called (the packing pass: a call with five
    arrays costs as much as the rule)."""
    rates, amounts, caps, mkt_i, mkt_f = rules.rates, rules.amounts, rules.caps, rules.mkt_i, rules.mkt_f
    nt = mkt_i[m, NTIER]
    extra = mkt_f[m, EXTRA]
    if fixed_mm:  # maintenance set on the entry value (a venue's isolated rule)
        mm = max_line(q * e, m, nt, 0.0, rates, amounts)
        lp = e - s * (coll - mm) / q
        if s > 0 and lp < 0:
            lp = 0.0
        return lp
    num0 = coll - s * q * e
    if mkt_i[m, CONTRACTS] == 1:
        k = tier_of(q / mkt_f[m, CSIZE], caps[m], nt)
        r = rates[m, k] + extra
        if s > 0:
            p = (num0 + 0.0) / (q * (0.0 + r) - q)
            return p if p > 0.0 else 0.0
        return (num0 + 0.0) / (q * (0.0 + r) + q)
    # The LP is the max (long) / min (short) over the tiers' lines of each line's root (equity
    # rises faster than any line's maintenance margin), reached at the tier holding the notional
    # q*LP.  Find that tier by iterating from the entry's, then take the extreme over it and its
    # neighbours: the same value and bits as the extreme over all lines (the others lie below it
    # by more than rounding); without convergence, all lines.  A long's max is the max of the
    # roots, a short's min minus the max of their negatives: both are ``s * max(s * root)``, the
    # same bits, without a branch on the side (taken at random from one position to the next).
    sd = -s  # the root's denominator q*(rate + extra) - s*q (adding -q is subtracting q: same bits)
    k = tier_of(q * e, caps[m], nt)
    converged = False
    p = 0.0
    for _ in range(nt):
        p = (num0 + amounts[m, k]) / (q * (rates[m, k] + extra) + sd * q)
        k2 = tier_of(q * p, caps[m], nt)
        if k2 == k:
            converged = True
            break
        k = k2
    best = -np.inf  # of s * root; a NaN root is passed over, as in a running comparison
    if converged:
        # the tier's root (p) and its neighbours' (clamped to the table: a line taken twice
        # changes no extreme), always three: no branch on how many
        km = k - 1 if k > 0 else 0
        kp = k + 1 if k + 1 < nt else nt - 1
        pm = (num0 + amounts[m, km]) / (q * (rates[m, km] + extra) + sd * q)
        pp = (num0 + amounts[m, kp]) / (q * (rates[m, kp] + extra) + sd * q)
        if s * pm > best:
            best = s * pm
        if s * p > best:
            best = s * p
        if s * pp > best:
            best = s * pp
    else:
        for k in range(nt):
            v = s * ((num0 + amounts[m, k]) / (q * (rates[m, k] + extra) + sd * q))
            if v > best:
                best = v
    best *= s
    return best if s < 0.0 or best > 0.0 else 0.0  # a long's LP is at least 0


@jit
def maintenance_at(q, p, m, rules):
    """Maintenance margin (USD) of ``q`` base units on market ``m`` at mark ``p`` (USD; lines;
    contract tables by size)."""
    rates, amounts, caps, mkt_i, mkt_f = rules.rates, rules.amounts, rules.caps, rules.mkt_i, rules.mkt_f
    nt = mkt_i[m, NTIER]
    extra = mkt_f[m, EXTRA]
    if mkt_i[m, CONTRACTS] == 1:
        k = tier_of(q / mkt_f[m, CSIZE], caps[m], nt)
        return q * p * (rates[m, k] + extra) - amounts[m, k]
    return max_line(q * p, m, nt, extra, rates, amounts)


@jit
def step_size(q, p, m, v, rules):
    """Base units one liquidation step of ``q`` base units at mark ``p`` (USD) on market ``m`` of
    venue ``v`` closes (mirrors each rule book's ``liquidation_step``)."""
    caps, mkt_i, mkt_f, ven_i, ven_f = rules.caps, rules.mkt_i, rules.mkt_f, rules.ven_i, rules.ven_f
    kind = ven_i[v, STEP_KIND]
    if kind == 0:
        return q
    if kind == 3:  # fraction above a notional threshold
        return q * ven_f[v, HL_FRAC] if q * p > ven_f[v, HL_THRESH] else q
    nt = mkt_i[m, NTIER]
    contracts = mkt_i[m, CONTRACTS] == 1
    # the rule books' tolerance at a tier's cap (venues.base.STEP_CAP_RTOL): a position a step
    # left at the cap is in that tier, whatever the last ulp of size * price
    measure = (q / mkt_f[m, CSIZE] if contracts else q * p) * (1.0 - STEP_CAP_RTOL)
    k = 0
    while k < nt and caps[m, k] < measure:
        k += 1
    if k > nt - 1:
        k = nt - 1
    down = 1 if kind == 1 else 2
    if kind == 2 and k < 2:
        return q
    target = k - down
    if target < 0:
        return q
    keep_measure = caps[m, target]
    if contracts:
        keep = keep_measure * mkt_f[m, CSIZE]
    else:
        keep = keep_measure / p if p > 0 else 0.0
    return q - min(keep, q)


@jit
def liquidation_fee(notional, remaining, m, v, rules):
    """Fee (USD) to the fund on a liquidation fill of ``notional`` USD with ``remaining`` USD of
    equity left: none, a rate capped by what is left, or all that is left."""
    mkt_f, ven_i = rules.mkt_f, rules.ven_i
    kind = ven_i[v, FEE_KIND]
    rem = remaining if remaining > 0.0 else 0.0
    if kind == 0:
        return 0.0
    if kind == 2:
        return rem
    f = notional * mkt_f[m, FEE_RATE]
    return f if f < rem else rem


@jit
def adl_key(s, q, e, mark, coll, m, v, rules):
    """ADL ranking key (higher first; -inf when not profitable), as the rule books define it, of
    a position (side ``s``, ``q`` base units, entry ``e`` and collateral ``coll`` USD) at
    ``mark`` (USD) on market ``m`` of venue ``v``."""
    ven_i = rules.ven_i
    upnl = s * q * (mark - e)
    if not upnl > 0:
        return -np.inf
    kind = ven_i[v, ADL_KIND]
    if kind == 1:  # venues.ADL_PNL_X_MARGIN_RATIO
        mm = maintenance_at(q, mark, m, rules)
        balance = coll + upnl
        pnl_pct = max(upnl, 0.0) / max(coll, 1.0)
        return pnl_pct * (mm / max(balance, 1e-12))
    if kind == 2:  # venues.ADL_PRICE_X_NOTIONAL_SHARE
        av = max(coll + upnl, 1e-12)
        pf = mark / e if s > 0 else e / mark
        return pf * q * mark / av
    eq = coll + upnl
    pnl_frac = upnl / max(coll, 1e-12)
    eff = q * mark / max(eq, 1e-12)
    return pnl_frac * eff


# ---------------------------------------------------------------------------------- logs
#: |z| below which :func:`log_ratio` sums its series (2**-8: a/b within ~0.8 % of 1)
LOG_SERIES_Z = 0.00390625


@jit_forceinline
def log_ratio(a, b):
    """``log(a/b)`` for positive ``a`` and ``b``.  Near 1 (``|z| < 2**-8`` with
    ``z = (a-b)/(a+b)``: a price over the one a second before, a fall over the slow average)
    the series ``2*atanh(z) = 2*(z + z**3/3 + z**5/5 + z**7/7 + ...)`` cut after ``z**7`` (the
    rest is below ``z**8/9 < 6e-21`` of the sum); ``a - b`` is exact there, so the result is good
    to a few units in its last place, where ``math.log(a/b)`` carries the rounding of ``a/b``
    (~1e-16 absolute: up to 3e-10 relative for a one-second log return).  It is also a call
    less in the step loop, which keeps its floating-point values in registers across it.
    Elsewhere ``math.log(a/b)``."""
    z = (a - b) / (a + b)
    if abs(z) < LOG_SERIES_Z:
        z2 = z * z
        return 2.0 * z * (1.0 + z2 * (1.0 / 3.0 + z2 * (0.2 + z2 * (1.0 / 7.0))))
    return math.log(a / b)


# ---------------------------------------------------------------------------------- book
@jit_forceinline
def walk_from(b, kappa, a_usd, usd, ua=-1.0):
    """Move and average fill distance (fractions of the current mid) of a market order of
    ``usd`` that continues a walk which has already consumed ``a_usd`` of this side of the book
    in the current step: the book is ``Cum(u) = b*u**kappa`` around the step's mid, so orders
    within one step walk it cumulatively (a cascade of many small orders moves the price as
    much as one order of their sum), and it is re-centred at the next step.  With
    ``u(x) = (x/b)**(1/kappa)``: move ``u(a+v) - u(a)``, average distance
    ``kappa/(kappa+1) * ((a+v) u(a+v) - a u(a)) / v - u(a)``.  ``ua``: ``u(a)`` when the caller
    carries it from the walks before (>= 0), -1 to compute it here."""
    if usd <= 0.0:
        return 0.0, 0.0
    if ua < 0.0:
        ua = (a_usd / b) ** (1.0 / kappa) if a_usd > 0.0 else 0.0
    if ua >= MAX_WALK:  # the book ran out earlier in the step
        return 0.0, 0.0
    du = _walk_du(b, kappa, a_usd, ua, usd)
    if ua + du > MAX_WALK:
        usd = b * MAX_WALK**kappa - a_usd  # what lies beyond the last level fills at it
        du = MAX_WALK - ua
    c = kappa / (kappa + 1.0)
    if ua > 0.0:
        # c*((a+v) u(a+v) - a u(a))/v - u(a), rearranged to stay exact for v << a
        return du, c * (du * a_usd / usd + du) - ua / (kappa + 1.0)
    return du, c * du


@jit_forceinline
def walk_book(b, kappa, a_usd, usd, u0, pw, ua=-1.0):
    """:func:`walk_from` on a book whose depth is uniform within ``u0`` of the step's mid
    (``Cum(u) = X0*u/u0`` below ``u0``, ``b*u**kappa`` beyond, ``X0 = b*u0**kappa = b*pw``): the
    power law, fitted on wider ranges, would make the touch implausibly thin for the small
    orders of every second.  ``u0 = 0``: the pure power law.  ``ua``: as for :func:`walk_from`."""
    if u0 <= 0.0 or usd <= 0.0:
        return walk_from(b, kappa, a_usd, usd, ua)
    x0 = b * pw
    if a_usd >= x0:
        return walk_from(b, kappa, a_usd, usd, ua)
    # the linear piece, from a to min(a+v, X0): u(x) = u0*x/X0, rising u0*v1/X0 over it
    v1 = min(usd, x0 - a_usd)
    rise = u0 * v1 / x0
    if v1 >= usd:
        return rise, 0.5 * rise
    # the power-law piece from X0, its distances measured from u(X0) = u0
    v2 = usd - v1
    u2, f2 = walk_from(b, kappa, x0, v2)
    return rise + u2, (v1 * 0.5 * rise + v2 * (rise + f2)) / usd


@jit_forceinline
def _walk_du(b, kappa, a_usd, ua, usd):
    """``u(a+v) - u(a)`` without cancellation (``u(x) = (x/b)**(1/kappa)``; ``ua = u(a)``, 0 when
    ``a`` is below what the book resolves)."""
    if ua > 0.0 and usd < a_usd:  # a small order after a larger walk: the cancellation-free form
        return ua * math.expm1(math.log1p(usd / a_usd) / kappa)
    return ((a_usd + usd) / b) ** (1.0 / kappa) - ua


@jit_forceinline
def book_side(mst, mkt_f, m, d):
    """(B, kappa) of the side an order in direction ``d`` (+1 buy, -1 sell) walks."""
    if d > 0:
        return mkt_f[m, ASK_B] * mst[m, MULT], mkt_f[m, ASK_K]
    return mkt_f[m, BID_B] * mst[m, MULT], mkt_f[m, BID_K]


@jit_forceinline
def walk_market(mst, mkt_f, m, d, usd):
    """``(move, average fill distance)`` (fractions of the mid) of a market order of ``usd`` (USD
    at mid) in direction ``d`` on market ``m``'s book, continuing this step's walk on that side
    (:func:`walk_book`) from the distance that walk has reached (``U_BID``/``U_ASK``: the sum of
    its moves, carried rather than recomputed from the USD walked, which costs a ``pow``);
    changes nothing (:func:`commit_walk` books it)."""
    b, k = book_side(mst, mkt_f, m, d)
    if d > 0:
        return walk_book(b, k, mst[m, CONS_ASK], usd, mkt_f[m, TOUCH_U], mkt_f[m, TOUCH_PW_ASK], mst[m, U_ASK])
    return walk_book(b, k, mst[m, CONS_BID], usd, mkt_f[m, TOUCH_U], mkt_f[m, TOUCH_PW_BID], mst[m, U_BID])


@jit_forceinline
def commit_walk(mst, m, d, usd, u):
    """Book a walk from :func:`walk_market` (nothing moved since): the side's USD walked in this
    step grows by ``usd``, the distance it has reached by ``u``, and the mid moves by the fraction
    ``u``."""
    if d > 0:
        mst[m, CONS_ASK] += usd
        mst[m, U_ASK] += u
    else:
        mst[m, CONS_BID] += usd
        mst[m, U_BID] += u
    mst[m, MID] = mst[m, MID] * (1.0 + d * u)


@jit_forceinline
def preview_fill(mst, mkt_f, m, d, q):
    """Average fill price of ``q`` base units in direction ``d`` without moving the book."""
    mid = mst[m, MID]
    u, a = walk_market(mst, mkt_f, m, d, q * mid)
    return mid * (1.0 + d * a)


@jit_forceinline
def fill(mst, mkt_f, m, d, q):
    """Walk ``q`` base units in direction ``d``; moves the mid; returns the average price."""
    mid = mst[m, MID]
    u, a = walk_market(mst, mkt_f, m, d, q * mid)
    commit_walk(mst, m, d, q * mid, u)
    return mid * (1.0 + d * a)


# ---------------------------------------------------------------------------------- prices
@jit_inline
def update_index(mst, ast, mkt_i, mkt_f):
    """Index per asset: its spot market's mid where the asset has one (``SP_DEPTH1 > 0``),
    else the perpetual mids weighted by their depth."""
    na = ast.shape[0]
    for a in range(na):
        ast[a, INDEX] = ast[a, SPOT_MID] if ast[a, SP_DEPTH1] > 0.0 else 0.0
    for m in range(mst.shape[0]):
        a = mkt_i[m, ASSET]
        if ast[a, SP_DEPTH1] <= 0.0:
            ast[a, INDEX] += mkt_f[m, IDX_W] * mst[m, MID]


@jit
def spot_fill(ast, a, d, v_usd):
    """A flow's market order of ``v_usd`` USD in direction ``d`` walks asset ``a``'s spot book
    (spot liquidity providers take the other side, no fee); moves the spot mid."""
    mid = ast[a, SPOT_MID]
    if d > 0:
        b, k, col, pw = ast[a, SP_ASK_B], ast[a, SP_ASK_K], SP_CONS_ASK, ast[a, SP_TOUCH_PW_ASK]
    else:
        b, k, col, pw = ast[a, SP_BID_B], ast[a, SP_BID_K], SP_CONS_BID, ast[a, SP_TOUCH_PW_BID]
    base = v_usd / mid
    u, avg = walk_book(b, k, ast[a, col], v_usd, ast[a, SP_TOUCH_U], pw)
    ast[a, col] += v_usd
    price = mid * (1.0 + d * avg)
    ast[a, SPOT_MID] = mid * (1.0 + d * u)
    ast[a, SPOT_FLOW_INV] += d * base
    ast[a, SPOT_FLOW_CASH] -= d * base * price
    ast[a, SPOT_LP_INV] -= d * base
    ast[a, SPOT_LP_CASH] += d * base * price
    ast[a, SPOT_TRADED] += base * price


@jit_inline
def update_marks(mst, ast, mkt_i):
    """Each venue's mark by its rule: ``index + EMA(mid - index)``, or the median of that, the
    book's mid (the venue's last/best prices) and the index (a funding-adjusted index or
    a median of other venues' perpetual prices: equal to the index within a run's horizon)."""
    for m in range(mst.shape[0]):
        idx = ast[mkt_i[m, ASSET], INDEX]
        c1 = idx + mst[m, EMA]
        if mkt_i[m, MARK_RULE] == MARK_MEDIAN3:
            c2 = mst[m, MID]
            lo = min(c1, c2)
            hi = max(c1, c2)
            mst[m, MARK] = max(lo, min(hi, idx))
        else:
            mst[m, MARK] = c1


@jit_forceinline
def fear_index(ast, glob):
    """``ast[a, FEAR]``, 0-1, from the price-derived fear-and-greed index ``FG = 50 + 50*tanh(y)``,
    ``y = log(index/slow)/fear_scale``: ``(50 - FG)/50`` below the slow average, 0 at or above it
    (greed).  ``(50 - FG)/50 = -tanh(y) = (1 - e)/(1 + e)`` with ``e = exp(2y)`` in (0, 1): as
    accurate as ``tanh`` of the log (~1e-15 absolute, the rounding of ``y``), one call (``exp``)
    in the step loop where ``log`` and ``tanh`` were two, ``tanh`` the slower (21 against 9 ns a
    pair measured here)."""
    for a in range(ast.shape[0]):
        fear = 0.0
        if ast[a, INDEX] < ast[a, SLOW]:
            e = math.exp(2.0 * log_ratio(ast[a, INDEX], ast[a, SLOW]) / glob[FEAR_SCALE])
            fear = (1.0 - e) / (1.0 + e)
        ast[a, FEAR] = fear


@jit_inline
def flows_stage(t, bk, rules, fl):
    """Scheduled flow + contagion + cohorts + stops per asset, split across its books to one
    distance from every mid (:func:`asset_flow`); walks books.  Contagion: ``cmat[a, l]`` USD per unit log return of asset ``l`` over the
    previous step (a fall in the leader sells the follower), times ``1 - sum_m cmat[a, na + m] *
    (1 - MULT_m)`` (the share of its fresh books' density the follower's books still hold, where
    its contagion is on its current books; the weights are 0 otherwise).  ``sched[t, :na]`` holds the
    scheduled informed flows (programmes, macro), ``sched[t, na:]`` the noise traders' flow,
    which trades after the informed flows' move is measured (``FLOW_INDEX``).

    Observed mode (``pin`` has rows): first, every asset whose ``pin[t, a]`` (USD) is a number
    is traded to that index (:func:`pin_asset`); the signed USD it took is added to
    ``pin[t, na + a]``: the flow the observed path implies beyond what the engine computes.

    ``bk``: the :class:`Books`, ``rules``: the :class:`Rules`, ``fl``: the :class:`FlowArrays`."""
    mst, vst, ast = bk
    mkt_i, mkt_f, glob = rules.mkt_i, rules.mkt_f, rules.glob
    sched, co_asset, co, st_price, st_size, st_end, st_ptr, cmat, vsched, pin = fl
    dt = glob[DT]
    na = ast.shape[0]
    nm = mst.shape[0]
    if pin.shape[0] > 0:
        for a in range(na):
            target = pin[t, a]
            if target == target:
                pin[t, na + a] += pin_asset(bk, rules, a, target)
    # the fear index first, in a loop of its own (the assets' chains overlap; the
    # index does not move before the flows below are measured)
    fear_index(ast, glob)
    for a in range(na):
        idx = ast[a, INDEX]
        usd = sched[t, a]
        c_usd = 0.0
        for l in range(na):
            if cmat[a, l] != 0.0:  # the log of the previous step's move only where it is used
                c_usd += cmat[a, l] * math.log(ast[l, LAST_MOVE])
        if c_usd != 0.0:
            # on the follower's current books: the share of its fresh density they still hold
            keep = 1.0
            for m in range(nm):
                w = cmat[a, na + m]
                if w != 0.0:
                    keep -= w * (1.0 - mst[m, MULT])
            usd += c_usd * keep
        dd = 1.0 - idx / ast[a, PEAK]
        fear = ast[a, FEAR]
        for c in range(co_asset.shape[0]):
            if co_asset[c] != a:
                continue
            rate = co[c, 4] * max(0.0, dd - co[c, 3]) + co[c, 5] * fear
            if idx < co[c, 1]:
                rate += co[c, 2]
            amount = rate * dt
            if co[c, 6] > 0.0:  # a buyer: co[c, 0] is its cash (USD)
                if amount > co[c, 0]:
                    amount = co[c, 0]
                if amount > 0.0:
                    co[c, 0] -= amount
                    usd += amount
                continue
            have = co[c, 0] * idx
            if amount > have:
                amount = have
            if amount > 0.0:
                co[c, 0] -= amount / idx
                if co[c, 0] < 0.0:
                    co[c, 0] = 0.0
                usd -= amount
        while st_ptr[a, 0] < st_end[a, 0] and st_price[st_ptr[a, 0]] >= idx:
            usd -= st_size[st_ptr[a, 0]] * idx
            st_ptr[a, 0] += 1
        while st_ptr[a, 1] < st_end[a, 1] and st_price[st_ptr[a, 1]] <= idx:
            usd += st_size[st_ptr[a, 1]] * idx
            st_ptr[a, 1] += 1
        if usd != 0.0:
            asset_flow(bk, rules, a, usd)
    # venue-level programmes: one market's book only (``vsched`` has no rows when there are none)
    for m in range(nm if vsched.shape[0] > 0 else 0):
        usd = vsched[t, m]
        if usd != 0.0:
            flow_fill(bk, rules, m, 1.0 if usd > 0 else -1.0, abs(usd))
    # what the informed flows above moved is measured here (FLOW_INDEX); the noise traders' flow
    # and the vaults' unwinding below are uninformed, like the forced flow of the waves
    update_index(mst, ast, mkt_i, mkt_f)
    for a in range(na):
        ast[a, FLOW_INDEX] = ast[a, INDEX]
    for a in range(na):
        usd = sched[t, na + a]
        if usd != 0.0:
            asset_flow(bk, rules, a, usd)
    # the liquidator vaults work off the positions they took over, a share VAULT_RHO a step
    rho = glob[VAULT_RHO]
    if rho > 0.0:
        for m in range(nm):
            inv = mst[m, VAULT_INV]
            if inv == 0.0:
                continue
            q = inv * rho
            if abs(inv - q) * mst[m, MID] < 1.0:  # the last dollar goes with this order
                q = inv
            f = fill(mst, mkt_f, m, -1.0 if q > 0 else 1.0, abs(q))
            mst[m, VAULT_INV] -= q
            vst[mkt_i[m, VENUE], VAULT_CASH] += q * f
            mst[m, LP_INV] += q
            mst[m, LP_CASH] -= q * f
            mst[m, TRADED] += abs(q) * f


@jit_inline
def _level_usd(u, b, k, u0, pw, used, hole):
    """``(USD, dUSD/du)``: what takes one book side from where this step's walks have left it to
    the distance ``u`` (fraction) from the step's mid, 0 when it is there already (depth ``b``
    USD, exponent ``k``, touch ``u0`` holding ``b * pw``: :func:`book_law`).  The side is counted
    from its anchor: ``hole`` (fraction) before the step's mid with book memory, 0 without, and
    ``used`` is the USD eaten from the anchor so far (the hole's and this step's walks)."""
    v, dv = book_law(hole + u, b, k, u0, pw), book_law_slope(hole + u, b, k, u0, pw)
    v -= used
    if v <= 0.0:
        return 0.0, 0.0
    return v, dv


@jit_inline
def _spot_level_usd(ast, a, d, u):
    """:func:`_level_usd` of asset ``a``'s spot book side hit by direction ``d``."""
    if d > 0:
        return _level_usd(
            u,
            ast[a, SP_ASK_B],
            ast[a, SP_ASK_K],
            ast[a, SP_TOUCH_U],
            ast[a, SP_TOUCH_PW_ASK],
            ast[a, SP_CONS_ASK],
            ast[a, HOLE_ASK],
        )
    return _level_usd(
        u,
        ast[a, SP_BID_B],
        ast[a, SP_BID_K],
        ast[a, SP_TOUCH_U],
        ast[a, SP_TOUCH_PW_BID],
        ast[a, SP_CONS_BID],
        ast[a, HOLE_BID],
    )


@jit_inline
def _market_level_usd(mst, mkt_f, m, d, u, hole):
    """:func:`_level_usd` of market ``m``'s book side hit by direction ``d`` (``hole``: its
    asset's on that side)."""
    b, k = book_side(mst, mkt_f, m, d)
    if d > 0:
        return _level_usd(u, b, k, mkt_f[m, TOUCH_U], mkt_f[m, TOUCH_PW_ASK], mst[m, CONS_ASK], hole)
    return _level_usd(u, b, k, mkt_f[m, TOUCH_U], mkt_f[m, TOUCH_PW_BID], mst[m, CONS_BID], hole)


@jit_forceinline
def side_hole(ast, a, d):
    """Asset ``a``'s hole (fraction of the mid) on the side direction ``d`` walks (asks for a buy)."""
    return ast[a, HOLE_ASK] if d > 0 else ast[a, HOLE_BID]


@jit_inline
def _books_to_level(bk, rules, a, d, u):
    """Sum over asset ``a``'s books (perpetuals and spot) of :func:`_level_usd` at ``u``."""
    mst, ast, mkt_i, mkt_f = bk.mst, bk.ast, rules.mkt_i, rules.mkt_f
    g, dg = 0.0, 0.0
    for m in range(mst.shape[0]):
        if mkt_i[m, ASSET] == a:
            v, dv = _market_level_usd(mst, mkt_f, m, d, u, side_hole(ast, a, d))
            g += v
            dg += dv
    if ast[a, SP_DEPTH1] > 0.0:
        v, dv = _spot_level_usd(ast, a, d, u)
        g += v
        dg += dv
    return g, dg


@jit_inline
def _solve_level(bk, rules, a, d, usd):
    """Safeguarded Newton on ``sum_m USD_m(u) = usd`` (increasing in ``u``) for
    :func:`route_level`; -1 when the books hold less than ``usd`` within :data:`MAX_WALK`."""
    lo = 0.0
    hi = MAX_WALK - side_hole(bk.ast, a, d)  # the walks reach MAX_WALK from the anchor
    g_hi, _ = _books_to_level(bk, rules, a, d, hi)
    if g_hi <= usd:
        return -1.0
    u = 0.5 * hi
    for _ in range(100):
        g, dg = _books_to_level(bk, rules, a, d, u)
        r = g - usd
        if abs(r) <= 1e-12 * usd:
            return u
        if r > 0.0:
            hi = u
        else:
            lo = u
        nu = u - r / dg if dg > 0.0 else -1.0
        if not (lo < nu < hi):
            nu = 0.5 * (lo + hi)
        if nu == u:
            return u
        u = nu
    return u


@jit
def route_level(bk, rules, a, d, usd):
    """``(u, scale)``: the distance ``u`` from the step's mid to which ``usd`` (> 0) takes every
    book of asset ``a`` at once, each walked only beyond where this step has already taken it,
    and the factor that makes the books' USD to that level sum to ``usd`` exactly (1 to rounding).
    This is a taker who splits an order across venues so that its last fills are equally far from
    each mid (and the arbitrage that keeps the venues' prices together): every book moves by the
    same fraction, as the observed mode's pin (:func:`pin_asset`) moves them, so a path's implied
    flow replayed free moves the books as the pin did.  ``(-1, 1)`` when the books hold less than
    ``usd`` within :data:`MAX_WALK`.  Compiled once, not inlined into the step loop (it runs only
    where an asset's books differ in shape).  ``(-1, 1)`` too for a flow below what the walked books'
    levels resolve."""
    u = _solve_level(bk, rules, a, d, usd)
    if u < 0.0:
        return -1.0, 1.0
    g, _ = _books_to_level(bk, rules, a, d, u)
    if not g > 0.0:
        # a flow below what the books' levels resolve where they were walked already (the USD to a
        # level is the law's USD there less the USD walked, which cancels to 0 for a flow some
        # 1e-15 of it): split in proportion to depth, each book's walk computed on its own
        return -1.0, 1.0
    return u, usd / g


@jit_inline
def asset_flow(bk, rules, a, usd):
    """A signed USD flow in asset ``a`` split across its books (perpetuals and spot) so that its
    last fills are equally far from every book's mid (:func:`route_level`): each book moves by the
    same fraction.  Books not yet walked on that side in this step whose profiles have one shape
    (``kappa``, touch) then take the same USD per unit of their depth ``B``, and that walk is
    computed once, in units of ``B``, for all of them.  Where the books hold less than the flow
    within :data:`MAX_WALK`, each takes a share in proportion to its depth."""
    mst, ast = bk.mst, bk.ast
    mkt_i, mkt_f = rules.mkt_i, rules.mkt_f
    nm = mst.shape[0]
    d = 1.0 if usd > 0 else -1.0
    v = abs(usd)
    total = 0.0
    shared = True  # every book of the asset fresh on this side, with one profile shape
    kap, u0, pw = -1.0, 0.0, 0.0
    for m in range(nm):
        if mkt_i[m, ASSET] == a:
            b, k = book_side(mst, mkt_f, m, d)
            total += b
            pw_m = mkt_f[m, TOUCH_PW_ASK] if d > 0 else mkt_f[m, TOUCH_PW_BID]
            if kap < 0.0:
                kap, u0, pw = k, mkt_f[m, TOUCH_U], pw_m
            elif k != kap or mkt_f[m, TOUCH_U] != u0 or pw_m != pw:
                shared = False
            if (mst[m, CONS_ASK] if d > 0 else mst[m, CONS_BID]) != 0.0:
                shared = False
    b_spot = 0.0
    if ast[a, SP_DEPTH1] > 0.0:
        b_spot = ast[a, SP_ASK_B] if d > 0 else ast[a, SP_BID_B]
        total += b_spot
        k_s = ast[a, SP_ASK_K] if d > 0 else ast[a, SP_BID_K]
        pw_s = ast[a, SP_TOUCH_PW_ASK] if d > 0 else ast[a, SP_TOUCH_PW_BID]
        used_s = ast[a, SP_CONS_ASK] if d > 0 else ast[a, SP_CONS_BID]
        if k_s != kap or ast[a, SP_TOUCH_U] != u0 or pw_s != pw or used_s != 0.0:
            shared = False
    if not shared:
        split_flow(bk, rules, a, d, v, total, b_spot)
        return
    if b_spot > 0.0:
        spot_fill(ast, a, d, v * b_spot / total)
    u, avg = walk_book(1.0, kap, 0.0, v / total, u0, pw)
    for m in range(nm):
        if mkt_i[m, ASSET] != a:
            continue
        b, k = book_side(mst, mkt_f, m, d)
        v_usd = v * b / total
        if v_usd <= 0.0:
            continue
        flow_book(bk, rules, m, d, v_usd, u, avg)


@jit
def split_flow(bk, rules, a, d, v, total, b_spot):
    """:func:`asset_flow` of ``v`` USD in direction ``d`` where asset ``a``'s books differ in
    shape or were walked earlier in the step: each book (the spot book first) takes the USD to the
    level of :func:`route_level` and walks on its own; in proportion to depth (``total``: the
    books' summed depth, ``b_spot`` the spot book's) where they hold less than the flow.  Compiled
    once, not inlined into the step loop."""
    mst, ast = bk.mst, bk.ast
    mkt_i, mkt_f = rules.mkt_i, rules.mkt_f
    level, scale = route_level(bk, rules, a, d, v)
    if b_spot > 0.0:
        if level >= 0.0:
            vs, _ = _spot_level_usd(ast, a, d, level)
            vs *= scale
        else:
            vs = v * b_spot / total
        if vs > 0.0:
            spot_fill(ast, a, d, vs)
    for m in range(mst.shape[0]):
        if mkt_i[m, ASSET] != a:
            continue
        if level >= 0.0:
            v_usd, _ = _market_level_usd(mst, mkt_f, m, d, level, side_hole(ast, a, d))
            v_usd *= scale
        else:
            b, k = book_side(mst, mkt_f, m, d)
            v_usd = v * b / total
        if v_usd <= 0.0:
            continue
        u, avg = walk_market(mst, mkt_f, m, d, v_usd)
        flow_book(bk, rules, m, d, v_usd, u, avg)


@jit
def flow_fill(bk, rules, m, d, v_usd):
    """A flow's market order of ``v_usd`` USD (at mid) in direction ``d`` walks market ``m``'s
    book (:func:`flow_book`)."""
    mst, mkt_f = bk.mst, rules.mkt_f
    u, avg = walk_market(mst, mkt_f, m, d, v_usd)
    flow_book(bk, rules, m, d, v_usd, u, avg)


@jit_forceinline
def book_law(u, b, kappa, u0, pw):
    """The book law, stated here only: the USD a fresh book side of depth ``b`` holds within
    ``u`` (fraction, >= 0) of its mid, uniform within the touch ``u0`` (``b*pw*u/u0``, with
    ``pw = u0**kappa``) and ``b*u**kappa`` beyond (a pure power law where ``u0`` is 0); the
    inverse of :func:`walk_book` from ``a = 0``.  Its slope is :func:`book_law_slope`.
    :func:`cum_unit` and :func:`_level_usd` take the book from here."""
    if u0 > 0.0 and u <= u0:
        return b * pw * u / u0
    return b * u**kappa


@jit_forceinline
def book_law_slope(u, b, kappa, u0, pw):
    """``d/du`` of :func:`book_law` (a separate function: the callers that need only the USD do
    not compute the power ``kappa - 1``, which is infinite at ``u = 0`` for ``kappa < 1``)."""
    if u0 > 0.0 and u <= u0:
        return b * pw / u0
    return b * kappa * u ** (kappa - 1.0)


@jit_forceinline
def cum_unit(u, kappa, u0, pw):
    """USD a fresh book side holds within ``u`` (fraction) of its mid, in units of its depth
    ``B``: :func:`book_law` of a book with ``B = 1``."""
    return book_law(u, 1.0, kappa, u0, pw)


@jit_inline
def pin_asset(bk, rules, a, target):
    """Observed mode: market orders that take asset ``a``'s index to ``target`` (USD) at the
    start of a step.  Every book of the asset (perpetuals and spot, all fresh at the step's
    start) is walked by the USD its own profile holds within the move ``u = |target/index - 1|``
    (:func:`cum_unit`), so each mid, and with them the index (the spot mid or the depth-weighted
    perpetual mids), scales by ``target/index`` exactly, whatever the books' shapes.  The flow
    party pays the taker fee on the perpetuals and the liquidity providers take the other side
    (:func:`flow_book`, :func:`spot_fill`): money is conserved.  A move beyond 50 % in one step
    is taken as 50 % (no real bar moves so far in a second; the next step goes on from there).
    Returns the signed USD (at mid) traded: + bought, - sold."""
    mst, ast = bk.mst, bk.ast
    mkt_i, mkt_f = rules.mkt_i, rules.mkt_f
    idx = ast[a, INDEX]
    if not (target > 0.0) or not (idx > 0.0) or target == idx:
        return 0.0
    d = 1.0 if target > idx else -1.0
    u = abs(target / idx - 1.0)
    if u > 0.5:
        u = 0.5
    total = 0.0
    h = side_hole(ast, a, d)  # the walks count from the side's anchor (0 without book memory)
    for m in range(mst.shape[0]):
        if mkt_i[m, ASSET] != a:
            continue
        b, k = book_side(mst, mkt_f, m, d)
        pw = mkt_f[m, TOUCH_PW_ASK] if d > 0 else mkt_f[m, TOUCH_PW_BID]
        v_usd = b * cum_unit(h + u, k, mkt_f[m, TOUCH_U], pw) - (mst[m, CONS_ASK] if d > 0 else mst[m, CONS_BID])
        if v_usd <= 0.0:
            continue
        uu, avg = walk_market(mst, mkt_f, m, d, v_usd)
        flow_book(bk, rules, m, d, v_usd, uu, avg)
        total += v_usd
    if ast[a, SP_DEPTH1] > 0.0:
        if d > 0:
            b, k, pw, used = ast[a, SP_ASK_B], ast[a, SP_ASK_K], ast[a, SP_TOUCH_PW_ASK], ast[a, SP_CONS_ASK]
        else:
            b, k, pw, used = ast[a, SP_BID_B], ast[a, SP_BID_K], ast[a, SP_TOUCH_PW_BID], ast[a, SP_CONS_BID]
        v_usd = b * cum_unit(h + u, k, ast[a, SP_TOUCH_U], pw) - used
        if v_usd > 0.0:
            spot_fill(ast, a, d, v_usd)
            total += v_usd
    update_index(mst, ast, mkt_i, mkt_f)
    return d * total


@jit_inline
def flow_book(bk, rules, m, d, v_usd, u, avg):
    """Book a flow's walk of ``v_usd`` (USD at mid) in direction ``d`` on market ``m``
    (:func:`walk_market`'s move ``u`` and average distance ``avg``, nothing moved since): the
    flow party pays the taker fee to the venue; liquidity providers take the other side."""
    mst, vst = bk.mst, bk.vst
    mid = mst[m, MID]
    base = v_usd / mid
    commit_walk(mst, m, d, v_usd, u)
    price = mid * (1.0 + d * avg)
    v = rules.mkt_i[m, VENUE]
    fee = base * price * rules.ven_f[v, TAKER]
    mst[m, FLOW_INV] += d * base
    mst[m, FLOW_CASH] -= d * base * price + fee
    mst[m, LP_INV] -= d * base
    mst[m, LP_CASH] += d * base * price
    vst[v, FEE_INCOME] += fee
    mst[m, TRADED] += base * price


@jit_inline
def prices_step(mst, ast, mkt_i, mkt_f, glob):
    """Arbitrage toward the index, then index, basis EMA and marks."""
    update_index(mst, ast, mkt_i, mkt_f)
    theta = glob[ARB_THETA]
    for m in range(mst.shape[0]):
        a = mkt_i[m, ASSET]
        if ast[a, SP_DEPTH1] > 0.0:
            # spot-perp arbitrage: the gap closes by theta, shared in inverse proportion to the
            # books' depth within 1 % (the deeper side moves less)
            gap = mst[m, MID] - ast[a, SPOT_MID]
            dm = mkt_f[m, DEPTH1] * mst[m, MULT]
            w = ast[a, SP_DEPTH1] / (ast[a, SP_DEPTH1] + dm)
            mst[m, MID] -= theta * gap * w
            ast[a, SPOT_MID] += theta * gap * (1.0 - w)
        else:
            idx = ast[a, INDEX]
            mst[m, MID] += (idx - mst[m, MID]) * theta
    update_index(mst, ast, mkt_i, mkt_f)
    for m in range(mst.shape[0]):
        idx = ast[mkt_i[m, ASSET], INDEX]
        mst[m, EMA] += mkt_f[m, EMA_A] * ((mst[m, MID] - idx) - mst[m, EMA])
    update_marks(mst, ast, mkt_i)


@jit_inline
def end_of_step(t, mst, vst, ast, mkt_i, mkt_f, glob, rec):
    """Stage 4 of step ``t``: the market makers' response (:func:`market_makers`), resilience
    (:func:`resilience`), the indices' peaks and slow averages (:func:`index_memory`) and the
    step's records (:func:`record_step`)."""
    market_makers(mst, mkt_f, glob)
    resilience(mst, ast, mkt_i, mkt_f, glob)
    index_memory(ast, glob)
    record_step(t, mst, vst, ast, mkt_i, rec)


@jit_inline
def market_makers(mst, mkt_f, glob):
    """Realised volatility (an EMA of the squared one-step log return of each mid) and the market
    makers' depth response: each book's depth multiplier ``MULT`` falls at once to
    ``1/(1 + stress)`` (at least ``MIN_MULT``), stress from the volatility ratio over calm and
    the step's liquidations per unit of depth, and refills toward it at ``REFILL_RHO`` a step."""
    # the variances first, in a loop of their own: the books' returns are independent and overlap
    for m in range(mst.shape[0]):
        r = log_ratio(mst[m, MID], mst[m, STEP_MID])
        mst[m, VAR] += glob[VOL_A] * (r * r - mst[m, VAR])
    for m in range(mst.shape[0]):
        liq = mst[m, LIQ_L] + mst[m, LIQ_S]
        mst[m, MULT] = maker_multiplier_step(
            mst[m, MULT],
            mst[m, VAR] / mkt_f[m, CALM_VAR_M],
            glob[FLOW_SENS] * liq / mkt_f[m, DEPTH1],
            glob[VOL_SENS],
            glob[MIN_MULT],
            glob[REFILL_RHO],
        )


@jit_forceinline
def maker_multiplier_step(mult, vr, flow_stress, vol_sens, min_mult, refill_rho):
    """The market makers' law, stated here only: the depth multiplier after a step from ``mult``,
    with ``vr`` the realised over the calm variance and ``flow_stress`` the liquidation term.
    The volatility term is logarithmic: a thinner book raises volatility, which must not thin it
    without bound (a linear response feeds on itself and empties every book).  The multiplier
    falls at once to a lower target and refills toward a higher one at ``refill_rho`` a step.
    ``Liquidity.maker_multiplier`` runs it on a given path."""
    stress = vol_sens * (max(0.0, 0.5 * math.log(vr)) if vr > 1.0 else 0.0) + flow_stress
    target = 1.0 / (1.0 + stress)
    if target < min_mult:
        target = min_mult
    if target < mult:
        return target
    return mult + (target - mult) * refill_rho


@jit_inline
def resilience(mst, ast, mkt_i, mkt_f, glob):
    """The fair price keeps part of the step's index move, the index closes a share of its gap to
    it (below); then the index and the marks at the new mids."""
    # resilience: a fraction PERM_THETA of the step's trading-induced (log) index move is permanent
    # (the fair price follows it); the rest decays, each step the index closes RESIL_RHO of its
    # gap to the fair price (mids scale together, keeping each venue's basis)
    update_index(mst, ast, mkt_i, mkt_f)
    for a in range(ast.shape[0]):
        idx = ast[a, INDEX]
        # in log space: the fair price keeps PERM_FLOW of the log move the step's informed flows
        # made (FLOW_INDEX) and PERM_THETA of the rest (noise, forced flow) (stays positive)
        theta = glob[PERM_THETA]
        move = idx / ast[a, STEP_INDEX]
        if glob[PERM_FLOW] == theta:
            ast[a, FAIR] *= move if theta == 1.0 else (1.0 if theta == 0.0 else move**theta)  # x**1 = x, x**0 = 1
        else:
            ast[a, FAIR] *= (ast[a, FLOW_INDEX] / ast[a, STEP_INDEX]) ** glob[PERM_FLOW] * (
                idx / ast[a, FLOW_INDEX]
            ) ** theta
        target = idx + (ast[a, FAIR] - idx) * glob[RESIL_RHO]
        k = target / idx
        if k != 1.0:
            for m in range(mst.shape[0]):
                if mkt_i[m, ASSET] == a:
                    mst[m, MID] *= k
                    mst[m, EMA] *= k
            ast[a, SPOT_MID] *= k
        ast[a, LAST_MOVE] = target / ast[a, STEP_INDEX]
    update_index(mst, ast, mkt_i, mkt_f)
    update_marks(mst, ast, mkt_i)


@jit_inline
def index_memory(ast, glob):
    """Each index's running peak (USD; drawdowns, cohorts) and slow average (USD; an EMA at
    ``FEAR_A`` a step, the fear index's reference)."""
    for a in range(ast.shape[0]):
        if ast[a, INDEX] > ast[a, PEAK]:
            ast[a, PEAK] = ast[a, INDEX]
        ast[a, SLOW] += glob[FEAR_A] * (ast[a, INDEX] - ast[a, SLOW])


@jit_inline
def record_step(t, mst, vst, ast, mkt_i, rec):
    """Step ``t``'s records per market (``rec[R_*, t, m]``): mark, mid, liquidated USD per side,
    open interest (USD at the mark), the venue's fund, ADL and bad debt (USD), the depth
    multiplier and the index."""
    for m in range(mst.shape[0]):
        v = mkt_i[m, VENUE]
        mark = mst[m, MARK]
        rec[R_MARK, t, m] = mark
        rec[R_MID, t, m] = mst[m, MID]
        rec[R_LIQ_L, t, m] = mst[m, LIQ_L]
        rec[R_LIQ_S, t, m] = mst[m, LIQ_S]
        rec[R_OI, t, m] = 0.5 * (mst[m, OI_L] + mst[m, OI_S]) * mark
        rec[R_FUND, t, m] = vst[v, FUND]
        rec[R_ADL, t, m] = mst[m, ADL_USD]
        rec[R_BAD, t, m] = mst[m, BAD_DEBT]
        rec[R_MULT, t, m] = mst[m, MULT]
        rec[R_INDEX, t, m] = ast[mkt_i[m, ASSET], INDEX]


@jit_inline
def start_of_step(mst, ast, mkt_i, mkt_f, glob):
    """Start a step: the step's reference index and mids, the previous marks, and this step's
    book use (USD walked and distance reached per side), liquidations and ADL set to zero.

    With book memory (``BOOK_MEMORY``), a side's depth eaten by earlier steps' transient moves is
    not back: each book is anchored at the asset's fair price (:func:`resilience`), the side
    facing it is eaten from there to the mid (``h = FAIR/INDEX - 1`` of the mid on the bids when
    the index is below the fair price, ``1 - FAIR/INDEX`` on the asks when above, at most
    :data:`MAX_HOLE`; below :data:`MIN_HOLE` none: ``HOLE_BID``/``HOLE_ASK``), and the step's walks
    on that side start there (``U_BID``/``U_ASK``, with the USD that hole holds on the book as it
    stands: ``CONS_BID``/``CONS_ASK``).  The hole refills as the index returns to the
    fair price; the permanent part of a move moves the anchor.  Without it every side is fresh
    at its mid, as if the eaten depth were back at once."""
    mem = glob[BOOK_MEMORY] > 0.0
    for a in range(ast.shape[0]):
        ast[a, STEP_INDEX] = ast[a, INDEX]
        ast[a, HOLE_BID] = 0.0
        ast[a, HOLE_ASK] = 0.0
        if mem:
            h = ast[a, FAIR] / ast[a, INDEX] - 1.0
            if h >= MIN_HOLE:  # below MIN_HOLE: the rounding of the fair price's product of moves
                ast[a, HOLE_BID] = min(h, MAX_HOLE)
            elif h <= -MIN_HOLE:
                ast[a, HOLE_ASK] = min(-h, MAX_HOLE)
        # the spot book's USD eaten from its anchor: the hole's
        hb, ha = ast[a, HOLE_BID], ast[a, HOLE_ASK]
        ast[a, SP_CONS_BID] = 0.0
        ast[a, SP_CONS_ASK] = 0.0
        if ast[a, SP_DEPTH1] > 0.0:
            if hb > 0.0:
                ast[a, SP_CONS_BID] = ast[a, SP_BID_B] * cum_unit(
                    hb, ast[a, SP_BID_K], ast[a, SP_TOUCH_U], ast[a, SP_TOUCH_PW_BID]
                )
            elif ha > 0.0:
                ast[a, SP_CONS_ASK] = ast[a, SP_ASK_B] * cum_unit(
                    ha, ast[a, SP_ASK_K], ast[a, SP_TOUCH_U], ast[a, SP_TOUCH_PW_ASK]
                )
    for m in range(mst.shape[0]):
        # each perpetual's side starts at its asset's hole, with the USD the hole holds on the
        # book as it stands (0 and 0 without one)
        a = mkt_i[m, ASSET]
        hb, ha = ast[a, HOLE_BID], ast[a, HOLE_ASK]
        mst[m, U_BID] = hb
        mst[m, U_ASK] = ha
        mst[m, CONS_BID] = 0.0
        mst[m, CONS_ASK] = 0.0
        if hb > 0.0:
            b, k = book_side(mst, mkt_f, m, -1.0)
            mst[m, CONS_BID] = b * cum_unit(hb, k, mkt_f[m, TOUCH_U], mkt_f[m, TOUCH_PW_BID])
        elif ha > 0.0:
            b, k = book_side(mst, mkt_f, m, 1.0)
            mst[m, CONS_ASK] = b * cum_unit(ha, k, mkt_f[m, TOUCH_U], mkt_f[m, TOUCH_PW_ASK])
        mst[m, STEP_MID] = mst[m, MID]
        mst[m, PREV_MARK] = mst[m, MARK]
        mst[m, LIQ_L] = 0.0
        mst[m, LIQ_S] = 0.0
        mst[m, ADL_USD] = 0.0


# ---------------------------------------------------------------------------------- forced flow
@jit
def ev_code(method, m, s):
    """An event's code in the log: the method (BOOK, BACKSTOP, ADL) in the two low bits, above
    them the position's group ``2*market + (1 for a short)`` (the events' columns are decoded
    from it after the run instead of being gathered from the population)."""
    return method + 4 * (2 * m + (1 if s < 0 else 0))


@jit
def log_event(t, i, q, price, code, ev, cnt):
    """Log a fill of ``q`` (base units) of position ``i`` at ``price`` (USD) in step ``t`` in the
    :class:`EventLog` ``ev``; ``code``: its :func:`ev_code` (method, market, side)."""
    k = cnt[N_EV]
    if k >= ev.step.shape[0]:
        cnt[STATUS] = EVENTS_FULL
        return
    ev.step[k] = t
    ev.pos[k] = i
    ev.qty[k] = q
    ev.price[k] = price
    ev.code[k] = code
    cnt[N_EV] = k + 1


@jit
def book_liq(mst, m, s, q, usd):
    """Book a forced fill of ``q`` base units (``usd`` USD) of a position on side ``s`` of market
    ``m``: traded and liquidated USD, open interest."""
    mst[m, TRADED] += usd
    if s > 0:
        mst[m, LIQ_L] += usd
        mst[m, OI_L] -= q
    else:
        mst[m, LIQ_S] += usd
        mst[m, OI_S] -= q


@jit
def make_active(j, cool, pos, act, cnt):
    """Move position ``j`` into the active set (or update its cooldown there, ``cool``: its end,
    s; negative keeps the one it has) and widen its group's bound (``act.bound[2*market + short]``:
    the highest LP of the group's active longs, the lowest of its shorts), so that a wave scans
    the active set for a group only when the mark crosses that bound."""
    side, lp, flag = pos.side, pos.lp, pos.flag
    bound = act.bound
    g = 2 * pos.mkt[j] + (0 if side[j] > 0 else 1)
    if side[j] > 0:
        if lp[j] > bound[g]:
            bound[g] = lp[j]
    elif lp[j] < bound[g]:
        bound[g] = lp[j]
    if flag[j] == F_ACTIVE:
        if cool >= 0.0:  # a negative cooldown keeps the one it has
            act.cool[act.slot_of[j]] = cool
        return
    if cool < 0.0:
        cool = 0.0
    k = cnt[N_ACT]
    if k >= act.idx.shape[0]:
        cnt[STATUS] = ACTIVE_FULL
        return
    act.idx[k] = j
    act.slot_of[j] = k
    act.cool[k] = cool
    cnt[N_ACT] = k + 1
    flag[j] = F_ACTIVE


@jit
def adl(i, q_adl, px, t_now, pos, sweep, mst, rules, act, cnt):
    """Close ``q_adl`` base units of position ``i`` at ``px`` (USD: the ADL price, see
    :func:`close_whole`) against profitable opposite positions of its market (queue by key, or
    pro rata by size).  Returns the size closed."""
    side, size, entry, margin, flag = pos.side, pos.size, pos.entry, pos.margin, pos.flag
    order = sweep.order
    adl_rank, adl_state = act.adl_rank, act.adl_state
    m = pos.mkt[i]
    v = rules.mkt_i[m, VENUE]
    s = float(side[i])
    g = 2 * m + (1 if s > 0 else 0)  # opposite side's group
    mark = mst[m, MARK]
    done = 0.0
    if rules.glob[ADL_PRO_RATA] > 0.5:
        total = 0.0
        for p in range(sweep.grp_start[g], sweep.grp_end[g]):
            j = order[p]
            if (
                size[j] > 0.0
                and flag[j] != F_ACCOUNT
                and adl_key(float(side[j]), size[j], entry[j], mark, margin[j], m, v, rules) > -np.inf
            ):
                total += size[j]
        if total <= 0.0:
            return 0.0
        want = min(q_adl, total)
        for p in range(sweep.grp_start[g], sweep.grp_end[g]):
            j = order[p]
            if (
                size[j] > 0.0
                and flag[j] != F_ACCOUNT
                and adl_key(float(side[j]), size[j], entry[j], mark, margin[j], m, v, rules) > -np.inf
            ):
                a = want * size[j] / total
                if a > size[j]:
                    a = size[j]
                done += reduce_counterparty(j, a, px, pos, mst, rules, act, cnt)
        return done
    # the queue: ranked once per wave and group (the first time the wave needs it), then taken
    # from the top (the ranking is built in place, only when ADL happens)
    if adl_state[0] != cnt[N_WV] or adl_state[1] != g:
        # adl_rank rows: 0 position index, 1 minus its key; sorted by (row 1, row 0), so ties in the
        # key go to the lower position index
        k = 0
        for p in range(sweep.grp_start[g], sweep.grp_end[g]):
            j = order[p]
            if size[j] > 0.0 and flag[j] != F_ACCOUNT:
                key = adl_key(float(side[j]), size[j], entry[j], mark, margin[j], m, v, rules)
                if key > -np.inf:
                    adl_rank[0, k] = j
                    adl_rank[1, k] = -key
                    k += 1
        heap_sort_pairs(adl_rank[1], adl_rank[0], k)
        adl_state[0] = cnt[N_WV]
        adl_state[1] = g
        adl_state[2] = k
        adl_state[3] = 0
    while q_adl - done > 1e-12 * q_adl and adl_state[3] < adl_state[2]:
        j = int(adl_rank[0, adl_state[3]])
        if size[j] <= 0.0:
            adl_state[3] += 1
            continue
        a = min(size[j], q_adl - done)
        done += reduce_counterparty(j, a, px, pos, mst, rules, act, cnt)
        if size[j] <= 0.0:
            adl_state[3] += 1
    return done


@jit
def reduce_counterparty(j, a, px, pos, mst, rules, act, cnt):
    """ADL: close ``a`` base units of the opposite position ``j`` at ``px`` (USD); what is left
    gets a new LP and goes to the active set.  Returns the size closed."""
    side, size, entry, margin = pos.side, pos.size, pos.entry, pos.margin
    m = pos.mkt[j]
    sj = float(side[j])
    if a >= size[j] * (1.0 - 1e-12):  # no dust positions from pro-rata rounding
        a = size[j]
    margin[j] += sj * a * (px - entry[j])
    if a >= size[j]:
        size[j] = 0.0
    else:
        size[j] -= a
    if sj > 0:
        mst[m, OI_L] -= a
    else:
        mst[m, OI_S] -= a
    if size[j] > 0.0:
        v = rules.mkt_i[m, VENUE]
        pos.lp[j] = liquidation_price(
            sj, size[j], entry[j], margin[j], m, rules.ven_i[v, FIXED_MM_ISO] == 1 and pos.mode[j] == 0, rules
        )
        make_active(j, -1.0, pos, act, cnt)
    else:
        pos.flag[j] = F_CLOSED
    return a


@jit
def shortfall_at(mst, mkt_f, m, d, s, x, bp):
    """Loss beyond bankruptcy (USD) if ``x`` base units fill on the book."""
    f = preview_fill(mst, mkt_f, m, d, x)
    return s * x * (bp - f)


@jit_inline
def close_whole(t, t_now, i, bp, eq0, pos, sweep, bk, rules, act, ev, cnt):
    """Close all of position ``i`` (bankruptcy price ``bp``; ``eq0``: the equity behind it before
    its own PnL — its margin, or its account's equity without it): the whole size goes to the
    book unless the deficit left after that fill, ``-(eq0 + s*q*(f - e))``, exceeds the venue's
    fund; then the book takes the largest part whose shortfall beyond ``bp`` the fund covers
    (bisection) and ADL closes the rest at ``bp``, or where the venue says so (``adl_at_previous_mark``) at
    the previous mark (``PREV_MARK``: the mark before the update that set off this wave).
    Books the fills into ``margin[i]``, the markets and the event log; leaves ``size[i]``, fees
    and the fund's payment to the caller.  Returns ``(q_book, f)``: base units filled on the book
    and their average price (USD).  Inlined into :func:`liquidate`, itself inlined into the step
    loop."""
    mst, vst = bk.mst, bk.vst
    mkt_f = rules.mkt_f
    m = pos.mkt[i]
    v = rules.mkt_i[m, VENUE]
    s = float(pos.side[i])
    d = -s
    q = pos.size[i]
    e = pos.entry[i]
    # the walk of the whole size, kept to be committed if it all goes to the book
    mid = mst[m, MID]
    u_all, a_all = walk_market(mst, mkt_f, m, d, q * mid)
    f = mid * (1.0 + d * a_all)
    eq = eq0 + s * q * (f - e)
    q_book = q
    if eq < 0.0 and -eq > vst[v, FUND]:
        fund = vst[v, FUND]
        lo = 0.0
        hi = q
        for _ in range(100):
            mid_x = 0.5 * (lo + hi)
            if shortfall_at(mst, mkt_f, m, d, s, mid_x, bp) > fund:
                hi = mid_x
            else:
                lo = mid_x
        q_book = lo
    q_adl = q - q_book
    if q_adl > 1e-12 * q:
        px = mst[m, PREV_MARK] if rules.ven_i[v, ADL_AT_PREV_MARK] == 1 else bp
        done = adl(i, q_adl, px, t_now, pos, sweep, mst, rules, act, cnt)
        q_book = q - done
        if q_book <= 1e-9 * q:  # what the ADL sums left over is rounding, not an order
            q_book = 0.0
        if done > 0.0:
            pos.margin[i] += s * done * (px - e)
            mst[m, ADL_USD] += done * px
            book_liq(mst, m, s, done, done * px)
            log_event(t, i, done, px, ev_code(ADL, m, s), ev, cnt)
    if q_book > 0.0:
        if q_book == q:  # the walk above, nothing moved since (what fill() would compute again)
            commit_walk(mst, m, d, q * mid, u_all)
        else:
            f = fill(mst, mkt_f, m, d, q_book)
        pos.margin[i] += s * q_book * (f - e)
        mst[m, LP_INV] += s * q_book
        mst[m, LP_CASH] -= s * q_book * f
        book_liq(mst, m, s, q_book, q_book * f)
        log_event(t, i, q_book, f, ev_code(BOOK, m, s), ev, cnt)
    return q_book, f


@jit_inline
def liquidate(i, t, t_now, pos, sweep, bk, rules, act, ev, cnt):
    """One liquidation step of position ``i`` in step ``t`` (``t_now`` s) by its venue's procedure:
    backstop takeover, a partial step, or a full close (:func:`close_whole`); inlined into the
    step loop."""
    side, size, entry, margin = pos.side, pos.size, pos.entry, pos.margin
    mst, vst = bk.mst, bk.vst
    ven_i, ven_f = rules.ven_i, rules.ven_f
    m = pos.mkt[i]
    v = rules.mkt_i[m, VENUE]
    s = float(side[i])
    d = -s
    q = size[i]
    e = entry[i]
    mg = margin[i]
    mark = mst[m, MARK]
    bp = e - s * mg / q
    if s > 0 and bp < 0:
        bp = 0.0
    eq_mark = mg + s * q * (mark - e)
    # backstop takeover at the bankruptcy price
    if ven_f[v, BACKSTOP_FRAC] > 0.0:
        mm = maintenance_at(q, mark, m, rules)
        if eq_mark < ven_f[v, BACKSTOP_FRAC] * mm:
            margin[i] = mg + s * q * (bp - e)
            size[i] = 0.0
            pos.flag[i] = F_CLOSED
            mst[m, VAULT_INV] += s * q
            vst[v, VAULT_CASH] -= s * q * bp
            book_liq(mst, m, s, q, q * bp)
            log_event(t, i, q, bp, ev_code(BACKSTOP, m, s), ev, cnt)
            return
    step = step_size(q, mark, m, v, rules)
    if step < q and eq_mark > 0.0:
        f = fill(mst, rules.mkt_f, m, d, step)
        pnl = s * step * (f - e)
        rem = (step / q) * mg + pnl
        fee = liquidation_fee(step * f, rem, m, v, rules)
        margin[i] = mg + pnl - fee
        vst[v, FUND] += fee
        size[i] = q - step
        mst[m, LP_INV] += s * step
        mst[m, LP_CASH] -= s * step * f
        book_liq(mst, m, s, step, step * f)
        log_event(t, i, step, f, ev_code(BOOK, m, s), ev, cnt)
        pos.lp[i] = liquidation_price(
            s, size[i], e, margin[i], m, ven_i[v, FIXED_MM_ISO] == 1 and pos.mode[i] == 0, rules
        )
        make_active(i, t_now + ven_f[v, COOLDOWN], pos, act, cnt)
        return
    # full close: to the book, or in part to ADL when the fund cannot cover the shortfall
    q_book, f = close_whole(t, t_now, i, bp, mg, pos, sweep, bk, rules, act, ev, cnt)
    if q_book > 0.0:
        eq = margin[i]
        if eq > 0.0:
            fee = liquidation_fee(q_book * f, eq, m, v, rules)
            margin[i] -= fee
            vst[v, FUND] += fee
    if margin[i] < 0.0:
        pay = min(vst[v, FUND], -margin[i])
        if pay > 0.0:
            vst[v, FUND] -= pay
            margin[i] += pay
        if margin[i] < 0.0:
            mst[m, BAD_DEBT] += -margin[i]
    size[i] = 0.0
    pos.flag[i] = F_CLOSED


@jit
def close_in_account(t, t_now, i, a, acc, pos, sweep, bk, rules, act, ev, cnt):
    """Close position ``i`` of multi-asset cross account ``a`` whole, as :func:`liquidate` closes
    a lone one.  Its bankruptcy price is where the account's equity is zero, ``bp = e - s*rest/q``
    with ``rest`` the account's wallet (realised PnL included) plus the other open positions'
    unrealised PnL at their marks (the cross-margin formula without maintenance margin).  The book
    takes the whole size unless the account's deficit after that fill exceeds the venue's fund;
    then the book takes the largest part whose deficit the fund covers, and ADL closes the rest
    against the market's profitable opposite positions at ``bp``.  The account's balance is
    settled once it is closed (:func:`liquidate_account`).  Returns the USD filled on the book."""
    side, size, entry, margin, mkt = pos.side, pos.size, pos.entry, pos.margin, pos.mkt
    mst = bk.mst
    s = float(side[i])
    q = size[i]
    e = entry[i]
    rest = 0.0
    for k in range(acc.start[a], acc.start[a + 1]):
        j = acc.pos[k]
        rest += margin[j]
        if j != i and size[j] > 0.0:
            rest += side[j] * size[j] * (mst[mkt[j], MARK] - entry[j])
    bp = e - s * rest / q
    if bp < 0:  # a long in an account without equity, or a short behind a deficit over its notional
        bp = 0.0
    q_book, f = close_whole(t, t_now, i, bp, rest, pos, sweep, bk, rules, act, ev, cnt)
    size[i] = 0.0
    return q_book * f


#: a new epoch of multi-asset cross-account checks starts when a mark moves this far (fraction)
EPOCH_BAND = 0.002


#: what a check of a multi-asset cross account did: nothing (above its maintenance margin),
#: closed it, closed part of it (it stays, cooling down), or nothing because it is cooling down
ACC_OPEN, ACC_CLOSED, ACC_PARTIAL, ACC_COOLING = 0, 1, 2, 3


@jit
def liquidate_account(t, t_now, a, acc, pos, sweep, bk, rules, act, ev, cnt):
    """Check one multi-asset cross account at the marks; liquidate it if its equity is at or
    below its maintenance margin and it is not cooling down (``acc.rho[2, a]``: until when, s).

    The venue's backstop takes the account over whole below its share of the maintenance margin
    (``KernelSpec.backstop_ratio``).  Otherwise its positions go to their books by the venue's step rule, as a
    lone position's would (the next lower tier, two tiers down, 20 % above a notional; a position
    the rule closes whole closes whole), while the account's equity at the marks is positive,
    and whole when it is not; a whole close is :func:`close_in_account`'s (what the venue's fund
    cannot cover goes to ADL at the position's bankruptcy price in the account).  After a partial
    step the account cools down for the venue's cooldown; the fee is the venue's rule on the
    closed part's share of the remaining equity (by notional at the marks).  Returns ``(status,
    slack, exposure)``: ``ACC_*``, ``slack = equity - MM`` and ``exposure = sum q*mark*(1 +
    highest maintenance rate)``, the most the slack can lose per unit of relative mark move."""
    side, size, entry, margin, mkt = pos.side, pos.size, pos.entry, pos.margin, pos.mkt
    mst, vst = bk.mst, bk.vst
    mkt_f, ven_f = rules.mkt_f, rules.ven_f
    mc_pos, mc_start = acc.pos, acc.start
    equity = 0.0
    mm = 0.0
    exposure = 0.0
    n_open = 0
    for k in range(mc_start[a], mc_start[a + 1]):
        i = mc_pos[k]
        equity += margin[i]
        if size[i] > 0.0:
            m = mkt[i]
            mark = mst[m, MARK]
            equity += side[i] * size[i] * (mark - entry[i])
            mm += maintenance_at(size[i], mark, m, rules)
            exposure += size[i] * mark * (1.0 + mkt_f[m, RMAX])
            n_open += 1
    if n_open == 0:
        return ACC_OPEN, np.inf, 0.0
    if equity > mm:
        return ACC_OPEN, equity - mm, exposure
    if t_now < acc.rho[2, a]:
        return ACC_COOLING, equity - mm, exposure
    first = mc_pos[mc_start[a]]
    v = rules.mkt_i[mkt[first], VENUE]
    # the venue's backstop at the account level (equity below its backstop ratio of the
    # maintenance margin): the liquidator vault takes every position over at its mark and the account's
    # remaining equity with them (the maintenance margin is not returned; a negative equity is the
    # vault's loss), leaving the account at zero; otherwise the positions go to their books
    backstop = ven_f[v, BACKSTOP_FRAC] > 0.0 and equity < ven_f[v, BACKSTOP_FRAC] * mm
    steps = equity > 0.0
    fee_cap = 0.0
    open_usd = 0.0
    closed_usd = 0.0
    stays = False
    for k in range(mc_start[a], mc_start[a + 1]):
        i = mc_pos[k]
        q = size[i]
        if q <= 0.0:
            continue
        m = mkt[i]
        s = float(side[i])
        mark = mst[m, MARK]
        usd = q * mark
        mst[m, WAVE_L] += usd
        if s < 0:
            mst[m, WAVE_BUY] += usd
        if backstop:
            margin[i] += s * q * (mark - entry[i])
            mst[m, VAULT_INV] += s * q
            vst[v, VAULT_CASH] -= s * q * mark
            book_liq(mst, m, s, q, usd)
            log_event(t, i, q, mark, ev_code(BACKSTOP, m, s), ev, cnt)
            size[i] = 0.0
        else:
            x = step_size(q, mark, m, v, rules) if steps else q
            open_usd += usd
            closed_usd += x * mark
            if x >= q:
                fee_cap += (
                    close_in_account(t, t_now, i, a, acc, pos, sweep, bk, rules, act, ev, cnt) * mkt_f[m, FEE_RATE]
                )
                continue
            f = fill(mst, mkt_f, m, -s, x)
            margin[i] += s * x * (f - entry[i])
            mst[m, LP_INV] += s * x
            mst[m, LP_CASH] -= s * x * f
            book_liq(mst, m, s, x, x * f)
            log_event(t, i, x, f, ev_code(BOOK, m, s), ev, cnt)
            fee_cap += x * f * mkt_f[m, FEE_RATE]
            size[i] = q - x
            stays = True
    left = 0.0
    for k in range(mc_start[a], mc_start[a + 1]):
        left += margin[mc_pos[k]]
    if backstop:
        for k in range(mc_start[a], mc_start[a + 1]):
            margin[mc_pos[k]] = 0.0
        vst[v, VAULT_CASH] += left
        return ACC_CLOSED, np.inf, 0.0
    kind = rules.ven_i[v, FEE_KIND]
    if stays:  # a partial step: the account stays, cooling down
        rem = max(left, 0.0) * (closed_usd / open_usd)
        fee = 0.0 if kind == 0 else (rem if kind == 2 else min(fee_cap, rem))
        margin[first] -= fee
        vst[v, FUND] += fee
        acc.rho[2, a] = t_now + ven_f[v, COOLDOWN]
        return ACC_PARTIAL, -np.inf, 0.0
    if left > 0.0:
        fee = 0.0 if kind == 0 else (left if kind == 2 else min(fee_cap, left))
        margin[first] -= fee
        vst[v, FUND] += fee
    elif left < 0.0:
        pay = min(vst[v, FUND], -left)
        vst[v, FUND] -= pay
        margin[first] += pay
        if pay < -left:
            mst[mkt[first], BAD_DEBT] += -left - pay
    return ACC_CLOSED, np.inf, 0.0


@jit
def remember_marks(a, acc, mkt, mst):
    """Keep the marks account ``a`` was checked at (per position) and its rho then (row 1)."""
    acc.rho[1, a] = acc.rho[0, a]
    for k in range(acc.start[a], acc.start[a + 1]):
        acc.mark[k] = mst[mkt[acc.pos[k]], MARK]


@jit_inline
def accounts_move(mst, acc):
    """The largest relative move of any mark since the multi-asset accounts' epoch started
    (``acc.ref[:nm]``: its marks; inf before the first epoch).  The step loop computes it once a
    wave and calls :func:`check_cross_accounts` only when it has something to do (a new epoch,
    accounts on the due list, or the heap's first key reached): that call costs more than the
    test."""
    mc_ref = acc.ref
    nm = mst.shape[0]
    if mc_ref[nm] < 0.0:
        return np.inf
    delta = 0.0
    for m in range(nm):
        d = abs(mst[m, MARK] / mc_ref[m] - 1.0)
        if d > delta:
            delta = d
    return delta


@jit_inline
def due_accounts_unmoved(mst, mkt, acc):
    """True when every account on the due list passes :func:`check_cross_accounts`' first test
    (its markets' marks have moved less than its rho at its last check): that call would then
    change nothing, and the step loop skips it.  Most waves with accounts on the due list are
    such waves, and the call cost ~10 ms of the benchmark's 86,400 steps."""
    for k in range(acc.hn[1]):
        if not account_within_rho(acc.batch[k], mst, mkt, acc):
            return False
    return True


@jit_inline
def account_within_rho(a, mst, mkt, acc):
    """The move of account ``a``'s marks since its last check (per position's market, at the
    marks then) bounds its slack's fall exactly as rho does: below its rho there, it cannot be
    liquidated yet."""
    moved = 0.0
    for kk in range(acc.start[a], acc.start[a + 1]):
        x = abs(mst[mkt[acc.pos[kk]], MARK] / acc.mark[kk] - 1.0)
        if x > moved:
            moved = x
    return moved * (1.0 + 1e-9) < acc.rho[1, a]


@jit
def check_cross_accounts(t, t_now, delta, acc, pos, sweep, bk, rules, act, ev, cnt):
    """Multi-asset cross accounts at the wave's marks, in account order: an account whose equity
    (wallet + unrealised PnL of all its positions) is at or below the sum of their maintenance
    margins is liquidated by :func:`liquidate_account` (its positions in ascending position
    index).  On a full close the fee is the venue's rule on the account's remaining equity; a
    negative balance is paid by the venue's fund, and what the fund cannot pay is bad debt.

    Which accounts are looked at (the answer is the same as checking all, every wave): at the
    start of an *epoch* every account is checked at the marks ``P_E`` and gets
    ``rho = slack / exposure``; since equity minus maintenance margin moves by at most
    ``q*(1 + highest rate)`` per $ of mark, no account can be liquidated before some mark moves by
    a fraction ``rho`` from ``P_E``.  An account checked at an epoch move ``d_c`` (0 at the
    epoch's start) with rho ``r_c`` cannot be liquidated while the marks have moved by less than
    ``r_c`` since, i.e. while the epoch's move ``delta`` satisfies ``(delta + d_c)/(1 - d_c) <
    r_c``: it waits in a min-heap keyed by the smallest ``delta`` that breaks this (less a margin
    far above rounding).  A wave moves the accounts whose key the move has reached to a due
    list kept in account order; every wave tests each due account against the marks of its last
    check (the move of its own markets since then, below its rho there: it cannot be liquidated
    yet), checks fully those that fail, closes or re-keys them, and sends back to the heap those
    whose new key lies beyond the move.  A move beyond ``EPOCH_BAND`` starts a new epoch, so only
    accounts with ``rho <= EPOCH_BAND`` enter the heap.
    ``acc`` (:class:`Accounts`; ``mc_*`` below: its fields): ``mc_ref[:nm]`` holds ``P_E`` and ``mc_ref[nm]`` is 0 once the first epoch has started (-1
    before).  ``mc_rho[0]``: each account's rho at the epoch's start (a lower bound of it for
    accounts not looked at then; inf once closed; 0 while partly liquidated or cooling down, when
    it is checked fully every wave); ``mc_rho[1]``: its rho at its last check, and ``mc_mark`` the
    marks then (per position); ``mc_rho[2]``: the end of its cooldown (s).  ``mc_hkey``/``mc_hidx``:
    the heap (size ``mc_hn[0]``, region ``mc_hbase[0]:mc_hbase[1]``); ``mc_batch[:mc_hn[1]]``: the
    due list.  ``delta``: :func:`accounts_move` at this wave's marks.  Returns the number of
    accounts liquidated."""
    mst, mkt = bk.mst, pos.mkt
    mc_start, mc_rho, mc_ref, mc_batch = acc.start, acc.rho, acc.ref, acc.batch
    mc_hkey, mc_hidx, mc_hbase, mc_hn = acc.hkey, acc.hidx, acc.hbase, acc.hn
    nm = mst.shape[0]
    n_acc = mc_start.shape[0] - 1
    n_liq = 0
    if delta > EPOCH_BAND:
        first = mc_ref[nm] < 0.0
        d = delta * (1.0 + 1e-9)
        for m in range(nm):
            mc_ref[m] = mst[m, MARK]
        mc_ref[nm] = 0.0
        mc_hn[0] = 0
        mc_hn[1] = 0
        for a in range(n_acc):
            if not first:
                # a lower bound of the account's rho at the new marks from the one at the previous
                # epoch's marks (slack falls by at most d*exposure, exposure grows by at most a
                # factor 1 + d): an account still beyond this epoch's reach is not looked at (its
                # positions are only changed by this check, so a closed account, rho = inf, stays)
                rb = (mc_rho[0, a] - d) / (1.0 + d) * (1.0 - 1e-9)
                if rb > EPOCH_BAND:
                    mc_rho[0, a] = rb
                    continue
            st, slack, expo = liquidate_account(t, t_now, a, acc, pos, sweep, bk, rules, act, ev, cnt)
            if st == ACC_CLOSED or st == ACC_PARTIAL:
                n_liq += 1
            if st == ACC_PARTIAL or st == ACC_COOLING:
                mc_rho[0, a] = 0.0  # due at once: checked every wave until it is above its margin
            else:
                mc_rho[0, a] = slack / expo * (1.0 - 1e-9) if expo > 0.0 else np.inf
            remember_marks(a, acc, mkt, mst)
        for a in range(n_acc):
            rho = mc_rho[0, a]
            if rho <= EPOCH_BAND:  # checked (or bounded) at move 0: due once delta reaches rho
                heap_push(mc_hkey, mc_hidx, mc_hbase, mc_hn, 0, rho / (1.0 + 1e-9) - 1e-12, a)
        return n_liq
    # the due list (mc_batch[:mc_hn[1]], kept in account order): accounts whose key the move has
    # reached; they stay there, tested against the marks of their last check every wave, until a
    # full check gives them a key beyond the move (back to the heap) or closes them
    nb = mc_hn[1]
    n_new = 0
    while mc_hn[0] > 0 and mc_hkey[0] <= delta:
        mc_batch[nb + n_new] = heap_pop(mc_hkey, mc_hidx, mc_hbase, mc_hn, 0)
        n_new += 1
    if nb + n_new == 0:
        return 0
    if n_new > 0:  # fills walk the books in account order
        nb += n_new
        if n_new < 32:
            insertion_sort(mc_batch, nb)  # a sorted list and a few new ones: near linear
        else:
            heap_sort(mc_batch, nb)
    w = 0
    for k in range(nb):
        a = mc_batch[k]
        if account_within_rho(a, mst, mkt, acc):
            mc_batch[w] = a
            w += 1
            continue
        st, slack, expo = liquidate_account(t, t_now, a, acc, pos, sweep, bk, rules, act, ev, cnt)
        if st == ACC_CLOSED:
            n_liq += 1
            mc_rho[0, a] = np.inf
        elif st == ACC_PARTIAL or st == ACC_COOLING:  # stays due, checked fully every wave
            if st == ACC_PARTIAL:
                n_liq += 1
            mc_rho[1, a] = -1.0
            mc_batch[w] = a
            w += 1
        elif expo > 0.0:
            rc = slack / expo * (1.0 - 1e-9)
            remember_marks(a, acc, mkt, mst)
            mc_rho[1, a] = rc
            # due when (delta' + delta)/(1 - delta) * (1 + 1e-9) reaches rc
            key = rc * (1.0 - delta) / (1.0 + 1e-9) - delta - 1e-12
            if key <= delta:
                mc_batch[w] = a
                w += 1
            elif key <= EPOCH_BAND:
                heap_push(mc_hkey, mc_hidx, mc_hbase, mc_hn, 0, key, a)
    mc_hn[1] = w
    return n_liq


@jit
def heap_push(hp_key, hp_idx, hp_base, hp_n, g, key, j):
    """Push ``j`` with ``key`` on group ``g``'s min-heap (region ``hp_base[g]:hp_base[g+1]``)."""
    b = hp_base[g]
    i = hp_n[g]
    hp_n[g] = i + 1
    while i > 0:
        parent = (i - 1) // 2
        if hp_key[b + parent] <= key:
            break
        hp_key[b + i] = hp_key[b + parent]
        hp_idx[b + i] = hp_idx[b + parent]
        i = parent
    hp_key[b + i] = key
    hp_idx[b + i] = j


@jit
def heap_pop(hp_key, hp_idx, hp_base, hp_n, g):
    """Remove and return the position at the top of group ``g``'s min-heap."""
    b = hp_base[g]
    top = hp_idx[b]
    n = hp_n[g] - 1
    hp_n[g] = n
    if n == 0:
        return top
    key = hp_key[b + n]
    j = hp_idx[b + n]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and hp_key[b + c + 1] < hp_key[b + c]:
            c += 1
        if hp_key[b + c] >= key:
            break
        hp_key[b + i] = hp_key[b + c]
        hp_idx[b + i] = hp_idx[b + c]
        i = c
    hp_key[b + i] = key
    hp_idx[b + i] = j
    return top


@jit
def open_pending(bk, pos, pend, heaps, rules):
    """Send every pending entry order (:class:`Pending`) whose trigger the mark has reached (group
    ``2*m``: triggers at or below the start price, descending, fire when ``mark <= trigger``;
    ``2*m + 1``: above, ascending, fire when ``mark >= trigger``) to the market
    (:func:`enter_position`)."""
    mst = bk.mst
    for m in range(mst.shape[0]):
        mark = mst[m, MARK]
        for up in range(2):
            g = 2 * m + up
            p = pend.ptr[g]
            while p < pend.end[g]:
                j = pend.idx[p]
                e = pos.entry[j]
                if (up == 0 and mark > e) or (up == 1 and mark < e):
                    break
                enter_position(j, pend.size[p], m, bk, pos, heaps, rules)
                p += 1
            pend.ptr[g] = p


@jit_forceinline
def enter_position(j, q, m, bk, pos, heaps, rules):
    """A pending position ``j`` of ``q`` base units opens on market ``m`` by a market order: it
    walks the book (a long buys, a short sells), the liquidity providers take the other side at
    the fill price, which becomes the position's entry; the taker fee comes out of its margin.
    Its LP is then computed by the venue's rule and it goes to its (market, side) heap (longs
    ``-LP``, shorts ``LP``).  Returns the fill price (USD)."""
    mst, vst = bk.mst, bk.vst
    side, margin, lp = pos.side, pos.margin, pos.lp
    v = rules.mkt_i[m, VENUE]
    s = float(side[j])
    f = fill(mst, rules.mkt_f, m, s, q)
    fee = q * f * rules.ven_f[v, TAKER]
    pos.entry[j] = f
    margin[j] -= fee
    vst[v, FEE_INCOME] += fee
    pos.size[j] = q
    pos.flag[j] = F_OPENED
    mst[m, LP_INV] -= s * q
    mst[m, LP_CASH] += s * q * f
    lp[j] = liquidation_price(s, q, f, margin[j], m, rules.ven_i[v, FIXED_MM_ISO] == 1 and pos.mode[j] == 0, rules)
    if s > 0:
        mst[m, OI_L] += q
        heap_push(heaps.key, heaps.idx, heaps.base, heaps.n, 2 * m, -lp[j], j)
    else:
        mst[m, OI_S] += q
        heap_push(heaps.key, heaps.idx, heaps.base, heaps.n, 2 * m + 1, lp[j], j)
    mst[m, TRADED] += q * f
    mst[m, OPENED] += q * f
    return f


@jit
def timed_step(t, t_now, bk, pos, heaps, timed, rules, pin):
    """Positions that open or close at a time (observed mode: the open interest's own rises and
    falls), at the start of the step, after the flows.

    ``timed`` (:class:`Timed`): positions to open, ascending by time (s), with their size (base
    units), and positions to close, ascending by time, and the two pointers.  An opening is
    :func:`enter_position`.  A close sells a long (buys back a short) at the market: the fill's
    PnL less the taker fee goes to the position's margin (its cash), the liquidity providers
    take the other side; a position that is not open (pending, closed, liquidated) or is checked
    with its account (``F_ACCOUNT``), or whose equity at the fill would be negative (it is the
    liquidation engine's), is left alone.  The signed USD traded (+ bought) is added to
    ``pin[t, 2*na + asset]`` when ``pin`` has rows."""
    mst, vst, ast = bk
    side, size, entry, margin, lp, mkt, mode, flag = pos
    op_idx, op_time, op_size, cl_idx, cl_time, ptrs = timed
    mkt_i, mkt_f, ven_f = rules.mkt_i, rules.mkt_f, rules.ven_f
    na = ast.shape[0]
    p = ptrs[0]
    while p < op_idx.shape[0] and op_time[p] <= t_now:
        j = op_idx[p]
        m = mkt[j]
        f = enter_position(j, op_size[p], m, bk, pos, heaps, rules)
        if pin.shape[0] > 0:
            pin[t, 2 * na + mkt_i[m, ASSET]] += side[j] * op_size[p] * f
        p += 1
    ptrs[0] = p
    p = ptrs[1]
    while p < cl_idx.shape[0] and cl_time[p] <= t_now:
        j = cl_idx[p]
        p += 1
        q = size[j]
        fl = flag[j]
        if q <= 0.0 or fl == F_PENDING or fl == F_CLOSED or fl == F_ACCOUNT:
            continue
        m = mkt[j]
        v = mkt_i[m, VENUE]
        s = float(side[j])
        f = preview_fill(mst, mkt_f, m, -s, q)
        fee = q * f * ven_f[v, TAKER]
        if margin[j] + s * q * (f - entry[j]) - fee < 0.0:
            continue
        f = fill(mst, mkt_f, m, -s, q)
        fee = q * f * ven_f[v, TAKER]
        margin[j] += s * q * (f - entry[j]) - fee
        vst[v, FEE_INCOME] += fee
        size[j] = 0.0
        flag[j] = F_CLOSED
        mst[m, LP_INV] += s * q
        mst[m, LP_CASH] -= s * q * f
        if s > 0:
            mst[m, OI_L] -= q
        else:
            mst[m, OI_S] -= q
        mst[m, TRADED] += q * f
        if pin.shape[0] > 0:
            pin[t, 2 * na + mkt_i[m, ASSET]] -= s * q * f
    ptrs[1] = p


@jit
def pair_before(ka, ja, kb, jb):
    """``(ka, ja) < (kb, jb)``; a NaN key sorts last (as in ``np.argsort``)."""
    if ka != ka:
        return kb != kb and ja < jb
    if kb != kb:
        return True
    return ka < kb or (ka == kb and ja < jb)


@jit
def sift_pairs(key, idx, root, n):
    """Sift ``root`` down the max-heap of pairs ``(key, idx)[:n]`` (:func:`heap_sort_pairs`)."""
    while True:
        c = 2 * root + 1
        if c >= n:
            return
        if c + 1 < n and pair_before(key[c], idx[c], key[c + 1], idx[c + 1]):
            c += 1
        if not pair_before(key[root], idx[root], key[c], idx[c]):
            return
        key[root], key[c] = key[c], key[root]
        idx[root], idx[c] = idx[c], idx[root]
        root = c


@jit
def heap_sort_pairs(key, idx, n):
    """Sort ``key[:n]`` and ``idx[:n]`` together, ascending by ``(key, idx)``, in place (no
    allocation; with distinct ``idx`` the order is the stable argsort's)."""
    for r in range(n // 2 - 1, -1, -1):
        sift_pairs(key, idx, r, n)
    for e in range(n - 1, 0, -1):
        key[0], key[e] = key[e], key[0]
        idx[0], idx[e] = idx[e], idx[0]
        sift_pairs(key, idx, 0, e)


@jit
def sift(a, root, n):
    """Sift ``root`` down the max-heap ``a[:n]`` (:func:`heap_sort`)."""
    while True:
        c = 2 * root + 1
        if c >= n:
            return
        if c + 1 < n and a[c] < a[c + 1]:
            c += 1
        if not a[root] < a[c]:
            return
        a[root], a[c] = a[c], a[root]
        root = c


@jit
def heap_sort(a, n):
    """Sort ``a[:n]`` ascending in place (no allocation; for values without NaN)."""
    for r in range(n // 2 - 1, -1, -1):
        sift(a, r, n)
    for e in range(n - 1, 0, -1):
        a[0], a[e] = a[e], a[0]
        sift(a, 0, e)


@jit
def insertion_sort(a, n):
    """Sort ``a[:n]`` ascending in place (fast for short or nearly sorted runs)."""
    for k in range(1, n):
        x = a[k]
        j = k - 1
        while j >= 0 and a[j] > x:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = x


@jit
def run_kernel(n_steps, eng):
    """The whole run: ``n_steps`` steps of the model on the :class:`Engine` ``eng``, each in the
    four stages of the module's docstring.  Arrays are modified in place; nothing is allocated
    inside the loop.  ``eng.flows.pin``: the observed mode's target index per step and asset and
    the USD it took (:func:`flows_stage`; no rows: free mode); ``eng.timed``: positions opened
    and closed at a time (:func:`timed_step`).

    Returns with ``cnt[STATUS] != OK`` when a buffer is full (the caller grows it and reruns)."""
    rules, bk, recs, cnt = eng.rules, eng.books, eng.records, eng.cnt
    mst, vst, ast = bk
    mkt_i, mkt_f, glob = rules.mkt_i, rules.mkt_f, rules.glob
    dt = glob[DT]
    has_timed = eng.timed.op_idx.shape[0] > 0 or eng.timed.cl_idx.shape[0] > 0
    for t in range(n_steps):
        t_now = t * dt
        # 1. flows: scheduled, cohorts, stops, contagion (the observed mode's pin first); timed
        #    openings and closes
        start_of_step(mst, ast, mkt_i, mkt_f, glob)
        flows_stage(t, bk, rules, eng.flows)
        if has_timed:
            timed_step(t, t_now, bk, eng.pos, eng.heaps, eng.timed, rules, eng.flows.pin)
        # 2. arbitrage, index, basis EMA, marks
        prices_step(mst, ast, mkt_i, mkt_f, glob)
        # 3. waves of forced flow until one triggers nothing
        waves = waves_stage(t, t_now, eng)
        if cnt[STATUS] != OK:
            return
        recs.waves_per_step[t] = waves
        drop_closed(eng.pos, eng.active, cnt)
        # 4. market makers, volatility, resilience, records
        end_of_step(t, mst, vst, ast, mkt_i, mkt_f, glob, recs.rec)
    return


@jit_inline
def waves_stage(t, t_now, eng):
    """Stage 3 of step ``t``: waves.  Each wave fires the pending entry orders the mark has
    reached, checks the multi-asset cross accounts (:func:`accounts_stage`), then, market by
    market, liquidates the positions whose LP the wave's mark has crossed
    (:func:`crossed_positions`, :func:`liquidate_crossed`); the wave's branching ratio is
    recorded (:func:`record_wave`) and the index and marks recomputed, until a wave triggers
    nothing or ``MAX_WAVES``.  Returns the number of waves (early, with ``cnt[STATUS] != OK``,
    when a buffer is full)."""
    rules, bk, cnt = eng.rules, eng.books, eng.cnt
    mst, ast = bk.mst, bk.ast
    nm = mst.shape[0]
    has_pending = eng.pending.idx.shape[0] > 0
    has_opened = has_pending or eng.timed.op_idx.shape[0] > 0  # positions opened during the run: in the heaps
    wave = 0
    while True:
        if has_pending:
            open_pending(bk, eng.pos, eng.pending, eng.heaps, rules)
        for m in range(nm):
            mst[m, WAVE_L] = 0.0
            mst[m, WAVE_BUY] = 0.0
        n_total = accounts_stage(t, t_now, eng)
        for m in range(nm):
            n_trig = crossed_positions(m, t_now, eng, has_opened)
            if n_trig == 0:
                continue
            n_total += n_trig
            liquidate_crossed(m, n_trig, t, t_now, eng)
            if cnt[STATUS] != OK:
                return wave
        if n_total == 0:
            break
        wave += 1
        if not record_wave(t, wave, mst, rules.mkt_f, eng.records, cnt):
            return wave
        update_index(mst, ast, rules.mkt_i, rules.mkt_f)
        update_marks(mst, ast, rules.mkt_i)
        if wave >= MAX_WAVES:
            break
    return wave


@jit_inline
def accounts_stage(t, t_now, eng):
    """The multi-asset cross accounts at the wave's marks (:func:`check_cross_accounts`), called
    only when it has something to do: a new epoch, the heap's first key reached, or an account on
    the due list whose marks moved beyond its rho.  Returns the number of accounts liquidated."""
    acc, mst = eng.accounts, eng.books.mst
    if acc.start.shape[0] <= 1:
        return 0
    delta = accounts_move(mst, acc)
    if (
        delta > EPOCH_BAND
        or (acc.hn[0] > 0 and acc.hkey[0] <= delta)
        or (acc.hn[1] > 0 and not due_accounts_unmoved(mst, eng.pos.mkt, acc))
    ):
        return check_cross_accounts(
            t, t_now, delta, acc, eng.pos, eng.sweep, eng.books, eng.rules, eng.active, eng.events, eng.cnt
        )
    return 0


@jit_inline
def crossed_positions(m, t_now, eng, has_opened):
    """The positions of market ``m`` whose condition the mark meets (longs: mark <= LP, shorts:
    mark >= LP, cooldown over), into ``eng.sweep.trig``: from the sorted sweep (each group's
    pointer advances over the LPs the mark has crossed), from the heaps of positions opened
    during the run, and from the active set when the mark crosses its bound (scanned, the
    bounds tightened to the positions that stay).  Returns how many."""
    pos, sweep, heaps, act = eng.pos, eng.sweep, eng.heaps, eng.active
    side, size, lp, mkt, flag = pos.side, pos.size, pos.lp, pos.mkt, pos.flag
    order, grp_end, ptr, trig = sweep.order, sweep.grp_end, sweep.ptr, sweep.trig
    bound = act.bound
    mark = eng.books.mst[m, MARK]
    n_trig = 0
    g = 2 * m
    p = ptr[g]
    while p < grp_end[g]:
        j = order[p]
        if flag[j] != F_SORTED:  # in the active set or closed: its LP is no longer a sort key
            p += 1
            continue
        if lp[j] < mark:
            break
        p += 1
        trig[n_trig] = j
        n_trig += 1
    ptr[g] = p
    g = 2 * m + 1
    p = ptr[g]
    while p < grp_end[g]:
        j = order[p]
        if flag[j] != F_SORTED:
            p += 1
            continue
        if lp[j] > mark:
            break
        p += 1
        trig[n_trig] = j
        n_trig += 1
    ptr[g] = p
    if has_opened:
        # opened positions the mark has crossed (longs: -LP >= -mark; shorts: LP <= mark)
        for sd in range(2):
            g = 2 * m + sd
            lim = -mark if sd == 0 else mark
            while heaps.n[g] > 0 and heaps.key[heaps.base[g]] <= lim:
                j = heap_pop(heaps.key, heaps.idx, heaps.base, heaps.n, g)
                if flag[j] == F_OPENED and size[j] > 0.0:
                    trig[n_trig] = j
                    n_trig += 1
    if mark <= bound[2 * m] or mark >= bound[2 * m + 1]:
        # some active position of this market may cross: scan, and tighten the bounds
        # to the positions that stay (triggered ones re-widen them if they survive)
        hi = -np.inf
        lo = np.inf
        for k in range(eng.cnt[N_ACT]):
            j = act.idx[k]
            if mkt[j] != m or size[j] <= 0.0:
                continue
            crossed = (side[j] > 0 and mark <= lp[j]) or (side[j] < 0 and mark >= lp[j])
            if crossed and t_now >= act.cool[k]:
                trig[n_trig] = j
                n_trig += 1
            elif side[j] > 0:
                if lp[j] > hi:
                    hi = lp[j]
            elif lp[j] < lo:
                lo = lp[j]
        bound[2 * m] = hi
        bound[2 * m + 1] = lo
    return n_trig


@jit_inline
def liquidate_crossed(m, n_trig, t, t_now, eng):
    """Liquidate the ``n_trig`` positions of market ``m`` in ``eng.sweep.trig`` in ascending
    position index (:func:`liquidate`), each adding its USD at the mark to the wave's total
    (``WAVE_L``; ``WAVE_BUY``: the shorts', whose orders buy)."""
    pos, mst = eng.pos, eng.books.mst
    side, size = pos.side, pos.size
    trig = eng.sweep.trig
    mark = mst[m, MARK]
    # by position index; insertion sort is the faster up to a few hundred (measured:
    # 9.7 against 24.8 ns a position at 64, 28.9 against 36.9 at 256), heap sort beyond
    if n_trig < 256:
        insertion_sort(trig, n_trig)
    else:
        heap_sort(trig, n_trig)
    # touch the triggered positions' fields first: independent loads overlap, where
    # inside the liquidations each waits on the one before (trig[n_trig] is scratch)
    touch = 0.0
    for k in range(n_trig):
        j = trig[k]
        touch += size[j] + pos.entry[j] + pos.margin[j] + pos.lp[j] + side[j] + pos.mode[j] + pos.mkt[j] + pos.flag[j]
    trig[n_trig] = 1 if touch == 0.5 else 0
    for k in range(n_trig):
        j = trig[k]
        if size[j] <= 0.0:
            continue
        usd = size[j] * mark
        mst[m, WAVE_L] += usd
        if side[j] < 0:
            mst[m, WAVE_BUY] += usd
        liquidate(j, t, t_now, pos, eng.sweep, eng.books, eng.rules, eng.active, eng.events, eng.cnt)


@jit_inline
def record_wave(t, wave, mst, mkt_f, recs, cnt):
    """Record wave ``wave`` of step ``t``: its liquidation USD ``L`` and the book USD ``D`` within
    the mark moves that set it off (the branching ratio ``R = L / D``, module docstring); the
    marks become the next wave's reference (``PREV_MARK``).  Returns False when the wave log is
    full (``cnt[STATUS] = WAVES_FULL``)."""
    nm = mst.shape[0]
    liq = 0.0
    depth = 0.0
    for m in range(nm):
        if mst[m, WAVE_L] <= 0.0:
            continue
        liq += mst[m, WAVE_L]
        u = max(abs(mst[m, MARK] - mst[m, PREV_MARK]) / mst[m, PREV_MARK], BR_MIN_MOVE)
        dside = 1.0 if mst[m, WAVE_BUY] > 0.5 * mst[m, WAVE_L] else -1.0
        b, kap = book_side(mst, mkt_f, m, dside)
        depth += b * u**kap
    for m in range(nm):
        mst[m, PREV_MARK] = mst[m, MARK]
    k = cnt[N_WV]
    if k >= recs.wv_step.shape[0]:
        cnt[STATUS] = WAVES_FULL
        return False
    recs.wv_step[k] = t
    recs.wv_no[k] = wave
    recs.wv_liq[k] = liq
    recs.wv_depth[k] = depth
    cnt[N_WV] = k + 1
    return True


@jit_inline
def drop_closed(pos, act, cnt):
    """Drop the closed positions from the active set (kept in order)."""
    w = 0
    for k in range(cnt[N_ACT]):
        j = act.idx[k]
        if pos.size[j] > 0.0:
            act.idx[w] = j
            act.cool[w] = act.cool[k]
            act.slot_of[j] = w
            w += 1
    cnt[N_ACT] = w
