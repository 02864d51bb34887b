"""Static analysis without ``import onnx`` or numpy: the message classes of
symcheck.proto, tensor values read without onnx.numpy_helper, and the answers
they give."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, numpy_helper

from symcheck import proto
from symcheck.load import OPSET_ALWAYS_DEFINED
from symcheck.shapes import _INT_TYPES, MAX_FLOAT_VALUES, MAX_VALUE_ELEMENTS, _decode

from .conftest import ROOT, sample
from .corpus import MODELS

SAMPLES = ["keras_cae.onnx", "torch_cae.onnx", "torch_cae_dynamic.onnx", "torch_cae_dynamo.onnx",
           "matlab_cae.onnx"]


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_static_analysis_imports_neither_onnx_nor_numpy_and_answers_as_with_them():
    paths = [sample(name) for name in SAMPLES]
    body = f"""
import contextlib, io, json, sys
from symcheck.cli import main
docs = []
for path in {paths!r}:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main(["--no-verify", "--format", "json", path])
        except SystemExit:
            pass
    docs.append(json.loads(out.getvalue()))
print(json.dumps({{"onnx": "onnx" in sys.modules, "numpy": "numpy" in sys.modules, "docs": docs}}))
"""
    alone = _run(body)
    with_onnx = _run("import numpy, onnx\n" + body)
    assert alone.returncode == 0, alone.stderr
    assert with_onnx.returncode == 0, with_onnx.stderr
    first, second = json.loads(alone.stdout), json.loads(with_onnx.stdout)
    assert (first["onnx"], first["numpy"]) == (False, False)
    assert (second["onnx"], second["numpy"]) == (True, True)
    assert first["docs"][0]["files"][0]["ladder"]["text"] == "28 → 14 → 7 → 4 ‖ 4 → 8 → 16 → 14 → 28"
    assert first["docs"] == second["docs"]


def test_onnx_imported_afterwards_shares_the_classes():
    result = _run(f"""
import symcheck.proto as p
import sys
assert "onnx" not in sys.modules
import onnx
model = onnx.load({sample("torch_cae.onnx")!r})
print(onnx.ModelProto is p.ModelProto, isinstance(model, p.ModelProto),
      onnx.TensorProto.FLOAT == p.TensorProto.FLOAT, onnx.AttributeProto is p.AttributeProto)
import symcheck
print(symcheck.analyze(model).ladder_text())
""")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["True True True True", "28 → 14 → 7 → 4 ‖ 4 → 8 → 16 → 14 → 28"]


def test_generated_module_loaded_without_the_package(monkeypatch):
    monkeypatch.delitem(sys.modules, proto.GENERATED)
    module = proto._generated()
    assert module.__name__ == "symcheck._onnx_ml_pb2"
    assert module.ModelProto is onnx.ModelProto  # one class per descriptor


def test_unexpected_layout_falls_back_to_the_plain_import(monkeypatch):
    monkeypatch.delitem(sys.modules, proto.GENERATED)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, package=None: None)
    assert proto._generated() is onnx.onnx_ml_pb2


def test_opsets_above_the_floor_are_checked_against_the_installed_onnx():
    """Up to OPSET_ALWAYS_DEFINED nothing asks onnx; above it the installed onnx's
    newest opset decides, as before."""
    import symcheck

    newest = onnx.defs.onnx_opset_version()
    assert OPSET_ALWAYS_DEFINED <= newest

    def model(opset: int) -> onnx.ModelProto:
        h = onnx.helper
        graph = h.make_graph([h.make_node("Relu", ["x"], ["y"])], "g",
                             [h.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
                             [h.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 4, 4])])
        return h.make_model(graph, opset_imports=[h.make_opsetid("", opset)])

    assert symcheck.analyze(model(OPSET_ALWAYS_DEFINED)).opset == OPSET_ALWAYS_DEFINED
    assert symcheck.analyze(model(newest)).opset == newest
    with pytest.raises(symcheck.SymcheckError) as refused:
        symcheck.analyze(model(newest + 1))
    assert refused.value.code == "unsupported-opset"
    assert f"between 1 and {newest}" in refused.value.reason


# ---------------------------------------------------------------------------
# Tensor values: the same as onnx.numpy_helper reads

_DTYPES = [TensorProto.INT64, TensorProto.INT32, TensorProto.INT16, TensorProto.INT8,
           TensorProto.UINT64, TensorProto.UINT32, TensorProto.UINT16, TensorProto.UINT8,
           TensorProto.BOOL, TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16,
           TensorProto.BFLOAT16]


def _reference(tensor: onnx.TensorProto, shape: tuple):
    """What symcheck decoded with onnx.numpy_helper (before it stopped importing onnx)."""
    limit = MAX_VALUE_ELEMENTS if tensor.data_type in _INT_TYPES else MAX_FLOAT_VALUES
    if int(np.prod(shape)) > limit:
        return None
    try:
        value = numpy_helper.to_array(tensor).reshape(-1).tolist()
    except Exception:  # noqa: BLE001 - the reference's own "cannot read"
        return None
    return [int(v) for v in value] if tensor.data_type == TensorProto.BOOL else value


@st.composite
def tensors(draw):
    dtype = draw(st.sampled_from(_DTYPES))
    dims = draw(st.lists(st.integers(0, 3), max_size=3))
    count = int(np.prod(dims)) if dims else 1
    stored = count + draw(st.sampled_from([0, 0, 0, -1, 1]))  # sometimes the wrong number
    np_dtype = onnx.helper.tensor_dtype_to_np_dtype(dtype)
    raw = draw(st.binary(min_size=max(stored, 0) * np_dtype.itemsize,
                         max_size=max(stored, 0) * np_dtype.itemsize))
    values = np.frombuffer(raw, dtype=np_dtype.newbyteorder("<"))
    tensor = onnx.TensorProto(name="t", data_type=dtype, dims=dims)
    if draw(st.booleans()):
        tensor.raw_data = raw
    else:  # the typed field onnx stores this type in
        field = onnx.helper.tensor_dtype_to_field(dtype)
        if dtype in (TensorProto.FLOAT16, TensorProto.BFLOAT16):
            getattr(tensor, field).extend(values.view(np.uint16).astype(np.int32).tolist())
        else:
            getattr(tensor, field).extend(values.astype(
                onnx.helper.tensor_dtype_to_np_dtype(
                    onnx.helper.tensor_dtype_to_storage_tensor_dtype(dtype))).tolist())
    return tensor, tuple(dims)


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return len(a) == len(b) and all(x == y or (x != x and y != y) for x, y in zip(a, b))  # NaN == NaN


@settings(max_examples=400, deadline=None, database=None)
@given(tensors())
def test_decode_reads_what_numpy_helper_reads(case):
    tensor, shape = case
    assert _same(_decode(tensor, shape), _reference(tensor, shape))


@pytest.mark.parametrize("dtype", [TensorProto.FLOAT, TensorProto.INT64])
def test_decode_leaves_external_and_segmented_tensors_alone(dtype):
    external = onnx.TensorProto(name="w", data_type=dtype, dims=[2], data_location=TensorProto.EXTERNAL)
    external.external_data.add(key="location", value="w.bin")
    assert _decode(external, (2,)) is None
    segmented = onnx.helper.make_tensor("s", dtype, [2], [1, 2])
    segmented.segment.begin, segmented.segment.end = 0, 2
    assert _decode(segmented, (2,)) is None
    assert _decode(onnx.helper.make_tensor("p", dtype, [2], [1, 2]), (2,)) == [1, 2]


# ---------------------------------------------------------------------------
# Sizes along an axis: what the numpy evaluation gave


def _numpy_sizes(lg, order, input_id, axis, sizes):
    """The numpy form of structure.evaluate_sizes, as symcheck had it (the reference),
    with elementwise merges broadcasting as ONNX does (a size 1 stretches) and a
    space-to-depth refusing sizes that are not a multiple of its block."""
    from symcheck.structure import (_IDENTITY, BROADCAST_KINDS, INVALID, MERGE_KINDS, NO_AXIS,
                                    UNKNOWN, _compiled)

    sizes = np.asarray(sizes)
    out: dict = {}
    n = len(sizes)

    def apply(transfer, x):
        if transfer == _IDENTITY:
            return x
        if transfer is None:
            return np.full(n, UNKNOWN, dtype=np.int64)
        if isinstance(transfer, int):
            return np.full(n, transfer, dtype=np.int64)
        if isinstance(transfer, tuple) and transfer[0] == "fixed":
            return np.where((x == transfer[1]) | (x == NO_AXIS), transfer[2], INVALID).astype(np.int64)
        if isinstance(transfer, tuple) and transfer[0] == "match":
            return out.get(transfer[1], np.full(n, UNKNOWN, dtype=np.int64)).copy()
        values = np.asarray(_compiled(transfer)(x), dtype=np.int64)
        return np.where(x < 0, x, np.where(values < 1, INVALID, values))

    for lid in order:
        layer = lg.layers[lid]
        if lid == input_id:
            out[lid] = sizes.astype(np.int64)
            continue
        if layer.kind == "input":
            out[lid] = np.full(n, NO_AXIS, dtype=np.int64)
            continue
        ins = [out[i] for i in layer.inputs if i in out]
        transfer = layer.transfer[axis] if axis < len(layer.transfer) else None
        spatial = [v for v in ins if not np.all(v == NO_AXIS)]
        if not layer.transfer and layer.kind != "output":
            result = np.full(n, NO_AXIS, dtype=np.int64)
            for v in spatial:
                result = np.where(v == INVALID, INVALID, result)
            out[lid] = result
            continue
        x = spatial[0] if spatial else np.full(n, NO_AXIS, dtype=np.int64)
        bad = x == INVALID
        for v in ins:
            bad = bad | (v == INVALID)
        if len(spatial) > 1 and layer.kind in BROADCAST_KINDS:
            stack = np.stack(spatial)
            top = np.where(stack > 1, stack, 0).max(axis=0)
            clash = ((stack > 1) & (stack != top)).any(axis=0) | (stack == INVALID).any(axis=0)
            x = np.where(clash, INVALID, np.where(top > 0, top, np.where(
                (stack == UNKNOWN).any(axis=0), UNKNOWN, np.where((stack == 1).any(axis=0), 1, NO_AXIS))))
            bad = bad | (x == INVALID)
        elif len(spatial) > 1 and layer.kind in MERGE_KINDS:
            for v in spatial[1:]:
                bad = bad | ((v != x) & (v >= 0) & (x >= 0))
        factors = getattr(layer, "attrs", {}).get("factor") or ()
        if layer.kind == "space-to-depth" and axis < len(factors) and 0 < factors[axis] < 1:
            block = round(1 / factors[axis])  # onnxruntime refuses a size that is not a multiple
            bad = bad | ((x > 0) & (x % block != 0))
        result = apply(transfer, x)
        result = np.where(bad & (x != UNKNOWN), INVALID, result)
        out[lid] = np.where((x == UNKNOWN) & (result >= 0), UNKNOWN, result)
    return out


def _unknown_op_unet() -> onnx.ModelProto:
    """Down, an op of an unknown domain (its output declared, its size rule
    unknown), up, and a skip Concat with the input: unknown sizes meet known
    ones at a merge."""
    h = onnx.helper
    nodes = [h.make_node("Conv", ["x", "w"], ["d"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
             h.make_node("Mystery", ["d"], ["m"], domain="com.example"),
             h.make_node("Resize", ["m", "", "scales"], ["u"], mode="nearest"),
             h.make_node("Concat", ["u", "x"], ["c"], axis=1),
             h.make_node("Conv", ["c", "w2"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])]
    inits = [h.make_tensor("w", TensorProto.FLOAT, [2, 1, 3, 3], [0.0] * 18),
             h.make_tensor("w2", TensorProto.FLOAT, [1, 3, 3, 3], [0.0] * 27),
             h.make_tensor("scales", TensorProto.FLOAT, [4], [1.0, 1.0, 2.0, 2.0])]
    graph = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 16, 16])],
                         [h.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits,
                         value_info=[h.make_tensor_value_info("m", TensorProto.FLOAT, [1, 2, 8, 8])])
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("com.example", 1)])


@pytest.mark.parametrize("path", [sample(name) for name in SAMPLES + ["torch_matlab_cae.onnx"]]
                         + [str(p) for p in sorted((ROOT / "tests" / "data" / "keras").glob("*.onnx"))]
                         + [f"corpus:{name}" for name in MODELS] + ["unknown-op"])
def test_sizes_along_an_axis_are_what_numpy_computed(path, request):
    import symcheck
    from symcheck.structure import evaluate_sizes

    source: object = path
    if path.startswith("corpus:"):  # the architecture corpus: U-Nets, crops, strided, 1-D, dense
        source = str(request.getfixturevalue("corpus")[path.split(":", 1)[1]])
    elif path == "unknown-op":
        source = _unknown_op_unet()
    a = symcheck.analyze(source)
    order = a.layers.dag.topological_sort()
    spatial = max(len(a.input_layer.out_shape or ()) - 2, 1)
    sizes = list(range(1, 700))
    for axis in range(spatial):
        lists = evaluate_sizes(a.layers, order, a.structure.input_id, axis, sizes)
        arrays = _numpy_sizes(a.layers, order, a.structure.input_id, axis, sizes)
        assert lists.keys() == arrays.keys()
        assert {lid: list(v) for lid, v in lists.items()} == {lid: v.tolist() for lid, v in arrays.items()}


def test_sizes_through_every_kind_of_transfer():
    """Unknown transfers, unknown sizes meeting known ones at merges, merges of
    unequal sizes, fixed sizes, matched sizes, layers without spatial axes."""
    from types import SimpleNamespace

    from symcheck.dims import Expr, ceildiv
    from symcheck.structure import INVALID, NO_AXIS, UNKNOWN, evaluate_sizes

    x = Expr.symbol("x")
    down = ceildiv(x, 2)
    spec = {0: ("input", [], []), 1: ("conv", [0], [None]), 2: ("resize", [1], [2 * x]),
            3: ("pool", [0], [down]), 4: ("concat", [3, 2], [x]), 5: ("concat", [0, 3], [x]),
            6: ("conv", [3], [("fixed", 4, 1)]), 7: ("conv", [5], [("match", 3)]),
            8: ("dense", [5], []), 9: ("output", [2], []), 10: ("conv", [1], [7]),
            # elementwise merges broadcast: a global pool's 1 stretches, Concat does not
            11: ("global-pool", [0], [1]), 12: ("mul", [0, 11], [x]), 13: ("mul", [11, 0], [x]),
            14: ("add", [3, 0], [x]), 15: ("add", [1, 11], [x]), 16: ("concat", [0, 11], [x])}
    lg = SimpleNamespace(layers={lid: SimpleNamespace(kind=k, inputs=i, transfer=t)
                                 for lid, (k, i, t) in spec.items()})
    sizes = list(range(1, 12))
    got = evaluate_sizes(lg, list(spec), 0, 0, sizes)
    ref = _numpy_sizes(lg, list(spec), 0, 0, sizes)
    assert {lid: list(v) for lid, v in got.items()} == {lid: v.tolist() for lid, v in ref.items()}
    halves = [(h + 1) // 2 for h in sizes]
    assert got[1] == got[2] == got[9] == [UNKNOWN] * 11
    assert got[10] == [UNKNOWN] * 11  # a fixed size after an unknown one is unknown too
    assert got[4] == halves  # an unknown size beside a known one is no mismatch
    assert got[5] == [1] + [INVALID] * 10  # h and ceil(h/2) agree at 1 only
    assert got[6] == [1 if v == 4 else INVALID for v in halves]
    assert got[7] == got[5]  # the matched layer's sizes, where this one runs
    assert got[8] == [NO_AXIS] + [INVALID] * 10
    assert got[12] == got[13] == sizes  # an SE gate (N×C×1×1) times the map: the map's size
    assert got[14] == [1, 2] + [INVALID] * 9  # ceil(h/2) = 1 stretches over h = 2 only
    assert got[15] == [UNKNOWN] * 11  # 1 beside an unknown size: unknown
    assert got[16] == [1] + [INVALID] * 10  # a Concat needs equal sizes

