"""The cumulative book walk: orders within a step continue where the last one stopped."""

import math

from hypothesis import given, settings, strategies as st

from liqcascade.engine import core as C

B = st.floats(1e6, 1e12)
K = st.floats(0.6, 2.0)
USD = st.floats(0.0, 1e9)


@settings(max_examples=300, deadline=None)
@given(b=B, k=K, a=USD, v1=st.floats(1e-6, 1e9), v2=st.floats(1e-6, 1e9))
def test_two_orders_move_the_price_like_one_order_of_their_sum(b, k, a, v1, v2):
    u1, f1 = C.walk_from(b, k, a, v1)
    u2, f2 = C.walk_from(b, k, a + v1, v2)
    u, f = C.walk_from(b, k, a, v1 + v2)
    if (a + v1 + v2) / b > C.MAX_WALK ** k * 0.999:  # the book's end: a different rule
        return
    assert math.isclose(u1 + u2, u, rel_tol=1e-9, abs_tol=1e-15)
    # the USD-weighted average distance (from the first order's mid) of the pair is the sum's
    assert math.isclose((v1 * f1 + v2 * (u1 + f2)) / (v1 + v2), f, rel_tol=1e-7, abs_tol=1e-13)


@settings(max_examples=300, deadline=None)
@given(b=B, k=K, a=USD, v=st.floats(1e-9, 1e9))
def test_walk_matches_the_integral_of_the_book(b, k, a, v):
    """Move u(a+v) - u(a) and average distance (1/v) * integral of (u(x) - u(a)) over [a, a+v],
    ``u(x) = (x/b)**(1/k)``; checked with a 2,000-point midpoint rule."""
    if (a + v) / b > C.MAX_WALK ** k * 0.999:
        return
    u, f = C.walk_from(b, k, a, v)
    ua = (a / b) ** (1 / k)
    assert math.isclose(u, ((a + v) / b) ** (1 / k) - ua, rel_tol=1e-9, abs_tol=1e-15)
    n = 2000

    def rise(d):  # u(a+d) - u(a), evaluated without cancellation for d << a
        return ua * math.expm1(math.log1p(d / a) / k) if 0 < d < a else ((a + d) / b) ** (1 / k) - ua

    avg = sum(rise((i + 0.5) * v / n) for i in range(n)) / n
    assert math.isclose(f, avg, rel_tol=1e-4, abs_tol=1e-12)
    assert -1e-15 <= f <= u + 1e-15  # rounding of the rearranged form: ~eps * u(a)


def test_the_first_order_of_a_step_is_the_old_walk():
    u, f = C.walk_from(2e9, 1.2, 0.0, 5e6)
    uu = (5e6 / 2e9) ** (1 / 1.2)
    assert math.isclose(u, uu, rel_tol=1e-14) and math.isclose(f, 1.2 / 2.2 * uu, rel_tol=1e-14)
