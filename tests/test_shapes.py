"""Shape rules: _broadcast remembers its answers only where that cannot change them;
the rarer ops' rules agree with onnx's inference."""

from __future__ import annotations

import math

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
    ("LSTM", [("x", (5, 2, 3), 1), ("w", (1, 16, 3), 1), ("r", (1, 16, 4), 1)], {"hidden_size": 4},
     ((5, 1, 2, 4), 1)),
    ("GRU", [("x", (5, 2, 3), 1), ("w", (2, 12, 3), 1), ("r", (2, 12, 4), 1)],
     {"hidden_size": 4, "direction": "bidirectional"}, ((5, 2, 2, 4), 1)),
    ("RNN", [("x", (2, 5, 3), 1), ("w", (1, 4, 3), 1), ("r", (1, 4, 4), 1)], {"hidden_size": 4, "layout": 1},
     ((2, 5, 1, 4), 1)),
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
# -- small integer tensors of any rank keep their values --------------------------------
# Exporters compute pads, reshape targets and sizes with sub-graphs on small int tensors
# (TorchScript writes F.pad's pads as ConstantOfShape -> Concat -> Reshape [-1, 2] ->
# Slice (step -1) -> Transpose -> Reshape -> Cast). Each chain below is evaluated by
# symcheck and by onnx's reference evaluator and must agree value for value.

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from symcheck.shapes import MAX_VALUE_ELEMENTS, Propagation  # noqa: E402


def _const(name: str, array) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(array, np.int64), name))


def _propagate(nodes: list, out: str):
    """symcheck's tensor ``out`` and onnx's reference value for it."""
    graph = helper.make_graph(nodes, "g", [], [helper.make_tensor_value_info(out, onnx.TensorProto.INT64, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return Propagation(model, {}, 17).tensors[out], ReferenceEvaluator(model).run(None, {})[0]


@st.composite
def _chains(draw):
    """A small int64 tensor and 1-3 ops on it, with valid random arguments."""
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    value = np.arange(math.prod(shape), dtype=np.int64).reshape(shape) - 5
    nodes, current, k = [_const("t0", value)], "t0", 0
    for _ in range(draw(st.integers(1, 3))):
        k += 1
        rank, out = value.ndim, f"t{k}"
        op = draw(st.sampled_from(["Slice", "Transpose", "Concat", "Gather", "Tile", "Expand", "Split"]))
        axis = draw(st.integers(-rank, rank - 1))
        size = value.shape[axis]
        if op == "Gather" and size == 0:
            op = "Transpose"  # nothing to gather from an empty axis
        if op == "Slice":
            step = draw(st.sampled_from([1, 2, -1, -2]))
            start = draw(st.sampled_from([0, 1, -1, size, -size - 3, 2**63 - 1, -(2**63) + 1]))
            end = draw(st.sampled_from([0, 1, -1, size, -size - 3, 2**63 - 1, -(2**63) + 1]))
            nodes += [_const(f"s{k}", [start]), _const(f"e{k}", [end]), _const(f"a{k}", [axis]),
                      _const(f"p{k}", [step]),
                      helper.make_node("Slice", [current, f"s{k}", f"e{k}", f"a{k}", f"p{k}"], [out])]
        elif op == "Transpose":
            perm = draw(st.permutations(range(rank)))
            nodes.append(helper.make_node("Transpose", [current], [out], perm=list(perm)))
        elif op == "Concat":
            nodes.append(helper.make_node("Concat", [current, current], [out], axis=axis))
        elif op == "Gather":
            idx = draw(st.lists(st.integers(-size, size - 1), min_size=1, max_size=3))
            scalar = rank > 1 and draw(st.booleans())  # a scalar index drops the axis
            idx = np.array(idx[0] if scalar else idx, np.int64)
            nodes += [_const(f"i{k}", idx), helper.make_node("Gather", [current, f"i{k}"], [out], axis=axis)]
        elif op == "Tile":
            reps = draw(st.lists(st.integers(0, 3), min_size=rank, max_size=rank))
            nodes += [_const(f"r{k}", reps), helper.make_node("Tile", [current, f"r{k}"], [out])]
        elif op == "Expand":
            target = [2] + [d if draw(st.booleans()) or d != 1 else 3 for d in value.shape]
            nodes += [_const(f"x{k}", target), helper.make_node("Expand", [current, f"x{k}"], [out])]
        else:
            parts = [1, size - 1] if size > 1 else [size]
            nodes += [_const(f"q{k}", parts),
                      helper.make_node("Split", [current, f"q{k}"], [out, f"rest{k}"][:len(parts)], axis=axis)]
        nodes.append(helper.make_node("Identity", [out], [f"id{k}"]))
        current = f"id{k}"
        value = ReferenceEvaluator(helper.make_model(
            helper.make_graph(nodes, "g", [], [helper.make_tensor_value_info(current, onnx.TensorProto.INT64, None)]),
            opset_imports=[helper.make_opsetid("", 17)])).run(None, {})[0]
    return nodes, current


@settings(max_examples=150, deadline=None, database=None)
@given(_chains())
def test_small_int_tensors_of_any_rank_are_evaluated_like_onnx(chain):
    nodes, out = chain
    got, want = _propagate(nodes, out)
    assert got.shape == want.shape
    assert got.value == want.reshape(-1).tolist()


def test_torchscript_pad_arguments_are_evaluated():
    # F.pad(x, (1, 2, 3, 4)) on a 4-D tensor, as torch.onnx (TorchScript) writes the pads
    nodes = [
        _const("n", [4]), _const("given", [1, 2, 3, 4]),
        helper.make_node("ConstantOfShape", ["n"], ["zeros"],
                         value=numpy_helper.from_array(np.array([0], np.int64))),
        helper.make_node("Concat", ["given", "zeros"], ["all"], axis=0),
        _const("pairs", [-1, 2]), helper.make_node("Reshape", ["all", "pairs"], ["matrix"]),
        _const("start", [-1]), _const("end", [-(2**63) + 1]), _const("axis", [0]), _const("step", [-1]),
        helper.make_node("Slice", ["matrix", "start", "end", "axis", "step"], ["reversed"]),
        helper.make_node("Transpose", ["reversed"], ["columns"], perm=[1, 0]),
        _const("flat", [-1]), helper.make_node("Reshape", ["columns", "flat"], ["pads"]),
        helper.make_node("Cast", ["pads"], ["out"], to=onnx.TensorProto.INT64),
    ]
    got, want = _propagate(nodes, "out")
    assert got.value == want.tolist() == [0, 0, 3, 1, 0, 0, 4, 2]  # begins then ends, N C H W


def test_values_are_never_built_beyond_the_bound():
    # a Tile of 2^40 copies, an Expand to 2^41 elements, an empty Tile with a 2^61 repeat
    # and a Concat past the bound keep their shapes and drop their values, at once
    nodes = [_const("small", [[1, 2], [3, 4]]), _const("huge", [2**20, 2**20]),
             helper.make_node("Tile", ["small", "huge"], ["tiled"]),
             _const("column", [[1], [2]]), _const("wide", [2, 2**40]),
             helper.make_node("Expand", ["column", "wide"], ["expanded"]),
             _const("reps", [0, 2**61]), helper.make_node("Tile", ["small", "reps"], ["empty"]),
             _const("block", np.zeros((MAX_VALUE_ELEMENTS // 2 + 1,), np.int64)),
             helper.make_node("Concat", ["block", "block"], ["joined"], axis=0)]
    graph = helper.make_graph(nodes, "g", [], [helper.make_tensor_value_info("joined", onnx.TensorProto.INT64, None)])
    tensors = Propagation(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), {}, 17).tensors
    assert (tensors["tiled"].shape, tensors["tiled"].value) == ((2**21, 2**21), None)
    assert (tensors["expanded"].shape, tensors["expanded"].value) == ((2, 2**40), None)
    assert (tensors["empty"].shape, tensors["empty"].value) == ((0, 2**62), [])
    assert (tensors["joined"].shape, tensors["joined"].value) == ((MAX_VALUE_ELEMENTS + 2,), None)


def test_exact_division_of_symbolic_products():
    # reshape's -1: the element count over the dims it keeps
    from symcheck.dims import exact_div

    N, H, W = (Expr.symbol(s) for s in "NHW")
    assert str(exact_div(4 * N * H * W, 8 * N * W)) == "floor(H/2)"  # PixelUnshuffle(2)
    assert str(exact_div(16 * N * H * W, 4 * N * W)) == "4*H"
    assert str(exact_div(6 * H * W + 12 * W, 4 * W)) == "H + floor(H/2) + 3"  # (3*H + 6)/2
    with pytest.raises(ValueError):
        exact_div(H * W + 1, W)  # the constant term has no W
