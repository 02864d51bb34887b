"""shapes._broadcast remembers its answers only where that cannot change them."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from symcheck.dims import Expr
from symcheck.shapes import _broadcast, _broadcast_uncached

H = Expr.symbol("H")
dims = st.one_of(st.integers(0, 4), st.none(), st.sampled_from([H, 2 * H, H + 1]))
shapes = st.one_of(st.none(), st.lists(dims, max_size=4).map(tuple))


@settings(max_examples=400, deadline=None, database=None)
@given(st.lists(shapes, min_size=1, max_size=3))
def test_remembered_broadcast_equals_the_worked_out_one(given_shapes):
    expected = _broadcast_uncached(given_shapes)
    assert _broadcast(given_shapes) == expected
    assert _broadcast(list(given_shapes)) == expected  # asked again: from the cache
    if expected is not None:
        assert [type(d) for d in _broadcast(given_shapes)] == [type(d) for d in expected]


def test_a_float_dim_is_never_answered_from_an_int_dims_entry():
    assert _broadcast([(1, 2), (3, 1)]) == (3, 2)
    got = _broadcast([(1, 2.0), (3, 1)])  # 2.0 == 2 and hashes alike
    assert got == (3, 2.0) and type(got[1]) is float
