"""The engine's book at the 31 Jan 2026 flush's trough beside the measured one (``reach.*``):
``analytics.liquidity.engine_reach`` on the observed replay of the bundled weekend (its series is
embedded: no external data needed)."""

from __future__ import annotations

import numpy as np
import pytest

from liqcascade.analytics.liquidity import engine_reach
from liqcascade.errors import InputError

DIST = (0.002, 0.01, 0.02, 0.05)


@pytest.fixture(scope="module")
def both():
    return {mem: engine_reach(positions=20_000, distances=DIST, memory=mem) for mem in (False, True)}


def test_fresh_books_are_the_multiplier_at_every_distance(both):
    r = both[False]
    assert r.attrs["hole"] == 0.0 and not r.attrs["memory"]
    np.testing.assert_allclose(r.to_numpy(), r.attrs["multiplier"], rtol=1e-12)
    assert 0.158 <= r.attrs["multiplier"] < 1.0  # withdrawn at the flush, not below the floor


def test_memory_thins_the_near_book_and_the_profile_rises_with_distance(both):
    """At the trough the index is below the fair price: the bids are eaten from there, so the
    depth within a small distance is a smaller share of the fresh depth than within a large one
    (measured on 31 Jan: 0.20 within 0.2 %, 0.68 within 5 %)."""
    r = both[True]
    assert r.attrs["memory"] and r.attrs["hole"] > 0.0
    v = r.to_numpy()
    assert np.all(np.diff(v) > 0) and v[-1] <= r.attrs["multiplier"]
    assert v[0] < both[False].iloc[0]


def test_bad_arguments_are_named():
    with pytest.raises(InputError, match="side"):
        engine_reach(side="mid", positions=1_000)
    with pytest.raises(InputError, match="window"):
        engine_reach(at="2026-03-01T00:00:00Z", positions=1_000)
