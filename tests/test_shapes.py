"""Shape rules: _broadcast remembers its answers only where that cannot change them;
the rarer ops' rules agree with onnx's inference."""

from __future__ import annotations

import pytest
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


@pytest.mark.parametrize("op,inputs,attrs,expected", [
    ("QuantizeLinear", [("x", (1, 3, 5, 7), 1), ("s", (), 1), ("z", (), 3)], {}, ((1, 3, 5, 7), 3)),
    ("QuantizeLinear", [("x", (2, 4), 1), ("s", (), 1)], {}, ((2, 4), 2)),
    ("DequantizeLinear", [("x", (1, 3, 5, 7), 3), ("s", (3,), 1), ("z", (3,), 3)], {"axis": 1},
     ((1, 3, 5, 7), 1)),
    ("DynamicQuantizeLinear", [("x", (6, 2), 1)], {}, ((6, 2), 2)),
    ("ScatterND", [("x", (1, 16, 8, 8), 1), ("i", (5, 1), 7), ("u", (5, 16, 8, 8), 1)], {},
     ((1, 16, 8, 8), 1)),
    ("ScatterElements", [("x", (4, 9), 1), ("i", (2, 3), 7), ("u", (2, 3), 1)], {"axis": 1}, ((4, 9), 1)),
    ("GatherElements", [("x", (4, 9), 1), ("i", (4, 2), 7)], {"axis": 1}, ((4, 2), 1)),
    ("BitwiseAnd", [("a", (3, 1), 6), ("b", (1, 5), 6)], {}, ((3, 5), 6)),
    ("Asinh", [("x", (2, 3, 4), 1)], {}, ((2, 3, 4), 1)),
    ("CumProd", [("x", (2, 3), 1), ("a", (), 7)], {}, ((2, 3), 1)),
])
def test_shape_rules_agree_with_onnx_shape_inference(op, inputs, attrs, expected):
    """The rules added for quantized (QDQ) models, scatters and the rarer elementwise ops:
    the exact shape and element type, and what onnx's own inference says."""
    from onnx import helper, shape_inference

    from symcheck.shapes import Propagation, Tensor

    opset = 26 if op == "CumProd" else 21
    values = [helper.make_tensor_value_info(n, t, s) for n, s, t in inputs]
    node = helper.make_node(op, [n for n, _, _ in inputs], ["y"] if op != "DynamicQuantizeLinear"
                            else ["y", "ys", "yz"], **attrs)
    model = helper.make_model(helper.make_graph([node], "g", values, [helper.make_tensor_value_info(
        "y", 0, None)]), opset_imports=[helper.make_opsetid("", opset)])
    prop = Propagation(model, {n: Tensor(s, t) for n, s, t in inputs}, opset)
    assert op not in prop.unknown_ops
    out = prop.tensors["y"]
    assert (out.shape, out.dtype) == expected
    inferred = shape_inference.infer_shapes(model, strict_mode=True)
    onnx_y = next(v for v in inferred.graph.output if v.name == "y").type.tensor_type
    assert tuple(d.dim_value for d in onnx_y.shape.dim) == expected[0]
    assert onnx_y.elem_type == expected[1]
