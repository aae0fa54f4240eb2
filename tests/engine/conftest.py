"""The reference engine's call of the engine's flows (``tests/engine/reference.py``).

The reference engine calls ``core.flows_step`` with the eighteen arrays the engine's flow stage
took before its state moved into named bundles; the engine's own stage is now
:func:`liqcascade.engine.core.flows_stage` (``t``, the books, the rules and the flows' arrays).
Until the reference engine calls it, this adapter stands in for the old name in the tests: it
bundles the arrays and calls the engine's stage, so the reference runs the engine's own flows.
"""

from __future__ import annotations

import numpy as np

from liqcascade.engine import core as C


def _flows_step(
    t,
    sched,
    mst,
    vst,
    ast,
    mkt_i,
    mkt_f,
    ven_f,
    glob,
    co_asset,
    co,
    st_price,
    st_size,
    st_end,
    st_ptr,
    cmat,
    vsched,
    pin,
):
    no_tiers = np.zeros((len(mkt_i), 0))
    rules = C.Rules(no_tiers, no_tiers, no_tiers, mkt_i, mkt_f, np.zeros((len(vst), C.N_VEN_I), np.int64), ven_f, glob)
    fl = C.FlowArrays(sched, co_asset, co, st_price, st_size, st_end, st_ptr, cmat, vsched, pin)
    C.flows_stage(t, C.Books(mst, vst, ast), rules, fl)


C.flows_step = _flows_step
