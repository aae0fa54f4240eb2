"""The cumulative book walk: orders within a step continue where the last one stopped."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

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
    if (a + v1 + v2) / b > C.MAX_WALK**k * 0.999:  # the book's end: a different rule
        return
    assert math.isclose(u1 + u2, u, rel_tol=1e-9, abs_tol=1e-15)
    # the USD-weighted average distance (from the first order's mid) of the pair is the sum's
    assert math.isclose((v1 * f1 + v2 * (u1 + f2)) / (v1 + v2), f, rel_tol=1e-7, abs_tol=1e-13)


@settings(max_examples=300, deadline=None)
@given(b=B, k=K, a=USD, v=st.floats(1e-9, 1e9))
def test_walk_matches_the_integral_of_the_book(b, k, a, v):
    """Move u(a+v) - u(a) and average distance (1/v) * integral of (u(x) - u(a)) over [a, a+v],
    ``u(x) = (x/b)**(1/k)``; checked with a 2,000-point midpoint rule."""
    if (a + v) / b > C.MAX_WALK**k * 0.999:
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


@settings(max_examples=300, deadline=None)
@given(b=B, k=K, a=USD, v=st.floats(1e-6, 1e9), u0=st.sampled_from([1e-4, 1e-3, 5e-3]))
def test_a_book_uniform_near_the_touch_matches_its_integral(b, k, a, v, u0):
    """``Cum(u) = X0*u/u0`` within u0, ``b*u**k`` beyond: the walk's move and average distance
    are the inverse and the mean of that book (midpoint rule), continuous at X0."""
    pw = u0**k
    x0 = b * pw
    if (a + v) / b > C.MAX_WALK**k * 0.999:
        return

    def u_of(x):
        return u0 * x / x0 if x <= x0 else (x / b) ** (1 / k)

    u, f = C.walk_book(b, k, a, v, u0, pw)
    ua = u_of(a)
    assert math.isclose(u, u_of(a + v) - ua, rel_tol=1e-9, abs_tol=1e-15)
    n = 4000
    avg = sum(u_of(a + (i + 0.5) * v / n) - ua for i in range(n)) / n
    assert math.isclose(f, avg, rel_tol=2e-3, abs_tol=1e-12)
    # additivity across the kink
    u1, f1 = C.walk_book(b, k, a, v / 3, u0, pw)
    u2, f2 = C.walk_book(b, k, a + v / 3, 2 * v / 3, u0, pw)
    assert math.isclose(u1 + u2, u, rel_tol=1e-9, abs_tol=1e-15)


def test_a_small_order_on_a_thin_touch_moves_less_with_a_uniform_touch():
    """kappa 1.35, $20k against $1.45e8 within 1 %: the pure power law moves the mid ~1.4 bp; with
    the book uniform within 0.1 % it moves (2e4/X0)*0.1 % ~ 0.31 bp."""
    k, d1 = 1.35, 1.45e8
    b = d1 / 0.01**k
    u_pow, _ = C.walk_book(b, k, 0.0, 2e4, 0.0, 0.0)
    u_lin, f_lin = C.walk_book(b, k, 0.0, 2e4, 1e-3, 1e-3**k)
    assert math.isclose(u_pow, (2e4 / b) ** (1 / k), rel_tol=1e-14)
    assert math.isclose(u_lin, 1e-3 * 2e4 / (b * 1e-3**k), rel_tol=1e-14)
    assert math.isclose(f_lin, 0.5 * u_lin, rel_tol=1e-14)
    assert u_lin < u_pow / 4
