"""Static analysis without ``import onnx``: the message classes of symcheck.proto,
tensor values read without onnx.numpy_helper, and the answers they give."""

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

from .conftest import sample

SAMPLES = ["keras_cae.onnx", "torch_cae.onnx", "torch_cae_dynamic.onnx", "torch_cae_dynamo.onnx",
           "matlab_cae.onnx"]


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_static_analysis_never_imports_onnx_and_answers_as_with_it():
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
print(json.dumps({{"onnx": "onnx" in sys.modules, "numpy_helper": "onnx.numpy_helper" in sys.modules,
                  "docs": docs}}))
"""
    alone = _run(body)
    with_onnx = _run("import onnx\n" + body)
    assert alone.returncode == 0, alone.stderr
    assert with_onnx.returncode == 0, with_onnx.stderr
    first, second = json.loads(alone.stdout), json.loads(with_onnx.stdout)
    assert (first["onnx"], first["numpy_helper"]) == (False, False)
    assert second["onnx"] is True
    ladders = [doc["files"][0]["ladder"]["text"] if "files" in doc else doc["ladder"]["text"]
               for doc in first["docs"]]
    assert ladders[0] == "28 → 14 → 7 → 4 ‖ 4 → 8 → 16 → 14 → 28"
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


def test_opset_floor_is_defined_by_the_installed_onnx():
    assert OPSET_ALWAYS_DEFINED <= onnx.defs.onnx_opset_version()


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
