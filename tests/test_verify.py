"""Verification in onnxruntime: every sample agrees, planted and declared lies are caught,
SC104's round-trip prediction holds at 28 and 32, and the bounds hold (memory, time,
failing models, no child left behind)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Optional

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

import symcheck
from symcheck.cli import check
from symcheck.dims import Expr
from symcheck.limits import DEFAULT_MAX_MEMORY, memory_text, parse_memory
from symcheck.verify import Verification, attach, verify, verify_and_attach

from .conftest import SAMPLES, sample

#: Logical layers (graph input and output markers excluded) per sample.
LAYER_COUNTS = {
    "keras_cae.onnx": 13,
    "matlab_cae.onnx": 10,
    "matlab_cae_28.onnx": 10,
    "torch_cae.onnx": 13,
    "torch_cae_dynamic.onnx": 13,
    "torch_cae_dynamo.onnx": 13,
    "torch_matlab_cae.onnx": 10,
}


def run_cli(*args):
    return CliRunner().invoke(check, list(args))


def children() -> list:
    """Live or zombie child processes of this test process (Linux /proc), sorted."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == me:
            found.append(int(entry.name))
    return sorted(found)


# -- small models built here ----------------------------------------------------------

def _weight(*shape, name="w"):
    return numpy_helper.from_array(
        np.random.default_rng(0).standard_normal(shape).astype(np.float32), name)


def _model(nodes, inputs, outputs, inits=(), value_info=(), domains=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits), value_info=list(value_info))
    model = helper.make_model(graph, producer_name="symcheck-tests", opset_imports=[
        helper.make_opsetid("", 17)] + [helper.make_opsetid(d, 1) for d in domains])
    model.ir_version = 8
    return model


def _x(*dims):
    return helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims))


def _y():
    return helper.make_tensor_value_info("y", TensorProto.FLOAT, None)


def lying_model():
    """value_info lies twice: about a Conv output (symcheck computes its own) and about an
    Einsum output (an op symcheck does not know, so it takes the file's word)."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Einsum", ["r"], ["e"], equation="nchw->nchw", name="einsum"),
             helper.make_node("MaxPool", ["e"], ["y"], kernel_shape=[2, 2], strides=[2, 2],
                              name="pool")]
    return _model(nodes, [_x(1, 1, 8, 8)], [_y()], [_weight(4, 1, 3, 3)],
                  [helper.make_tensor_value_info("r", TensorProto.FLOAT, [1, 4, 30, 30]),
                   helper.make_tensor_value_info("e", TensorProto.FLOAT, [1, 4, 9, 9])])


def huge_model(n=100_000):
    """conv, pool and transposed conv on a declared 1×1×n×n input."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("MaxPool", ["c"], ["p"], kernel_shape=[2, 2], strides=[2, 2],
                              name="pool"),
             helper.make_node("ConvTranspose", ["p", "wt"], ["y"], strides=[2, 2], name="up")]
    return _model(nodes, [_x(1, 1, n, n)], [_y()],
                  [_weight(4, 1, 3, 3), _weight(4, 1, 2, 2, name="wt")])


def foreign_op_model():
    """An op from a domain onnxruntime does not know: the session cannot be created."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Frobnicate", ["c"], ["f"], domain="com.example", name="frob"),
             helper.make_node("Relu", ["f"], ["y"], name="relu")]
    return _model(nodes, [_x(1, 1, 8, 8)], [_y()], [_weight(4, 1, 3, 3)], domains=["com.example"])


def bad_reshape_model():
    """Loads, but fails when run: a Reshape to a fixed element count of a symbolic-size map."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Reshape", ["c", "s"], ["y"], name="reshape")]
    return _model(nodes, [_x(1, 1, "H", "W")], [_y()],
                  [_weight(4, 1, 3, 3), numpy_helper.from_array(np.array([1, 4, 7, 7], np.int64), "s")])


def loop_bomb_model(trips: Optional[int] = 10**15):
    """A Loop with ``trips`` iterations whose result the output needs (None: a
    while-loop whose condition never turns false, which no count predicts)."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["v_in", "one"], ["v_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [1])],
        [numpy_helper.from_array(np.array([1.0], np.float32), "one")])
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Loop", ["trips" if trips is not None else "", "cond", "v0"], ["v"],
                              body=body, name="loop"),
             helper.make_node("Add", ["c", "v"], ["y"], name="add")]
    counts = [] if trips is None else [numpy_helper.from_array(np.array(trips, np.int64), "trips")]
    inits = [_weight(4, 1, 3, 3), *counts,
             numpy_helper.from_array(np.array(True), "cond"),
             numpy_helper.from_array(np.array([0.0], np.float32), "v0")]
    return _model(nodes, [_x(1, 1, 8, 8)], [_y()], inits)


def save(model, tmp_path, name) -> str:
    path = tmp_path / name
    onnx.save(model, str(path))
    return str(path)


# -- every sample agrees ----------------------------------------------------------------

def test_layer_counts_cover_every_sample():
    assert sorted(LAYER_COUNTS) == sorted(p.name for p in SAMPLES.glob("*.onnx"))


@pytest.mark.parametrize("filename", sorted(LAYER_COUNTS))
def test_every_sample_verifies_without_disagreement(filename):
    a = symcheck.analyze(sample(filename))
    result = verify(a)
    n = LAYER_COUNTS[filename]
    assert result.status == "verified", result.reason
    assert (result.checked, result.agreeing) == (n, n)
    assert result.unchecked == () and result.disagreements() == []
    assert all(c.ok and c.actual == c.inferred for c in result.layers)
    attach(a, result)
    assert "SC901" not in {f.code for f in a.findings}
    assert result.text_lines()[0].startswith(f"verified {n}/{n} layer shapes in onnxruntime at ")


def test_keras_shapes_are_compared_in_the_users_layout():
    result = verify(symcheck.analyze(sample("keras_cae.onnx")))
    assert result.text_lines() == ["verified 13/13 layer shapes in onnxruntime at 28×28"]
    trim = next(c for c in result.layers if c.layer == "conv2d_5")
    assert trim.inferred == trim.actual == (1, 14, 14, 16)  # NHWC, as Keras shows it
    assert result.runs[0].input_shape == (1, 28, 28, 1)


def test_verification_never_changes_the_model_or_the_file():
    path = sample("torch_cae.onnx")
    before = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    a = symcheck.analyze(path)
    proto = a.model.SerializeToString()
    verify(a)
    assert a.model.SerializeToString() == proto
    assert [o.name for o in a.model.graph.output] == ["output"]
    assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == before


# -- disagreements are reported ----------------------------------------------------------

def test_planted_wrong_shape_is_a_disagreement_with_both_shapes():
    a = symcheck.analyze(sample("torch_cae.onnx"))
    trim = next(layer for layer in a.layers.layers.values() if layer.name == "decoder.6")
    trim.out_shape = (1, 16, 16, 16)  # the truth is 14×14
    result = verify(a)
    assert result.status == "disagreement"
    assert (result.checked, result.agreeing) == (13, 12)
    (wrong,) = [c for c in result.layers if not c.ok]
    assert (wrong.layer, wrong.inferred, wrong.actual) == ("decoder.6", (1, 16, 16, 16), (1, 16, 14, 14))
    message = "decoder.6: inferred 1×16×16×16, onnxruntime gives 1×16×14×14 (input 28×28)"
    assert result.text_lines() == [
        "verified 12/13 layer shapes in onnxruntime at 28×28; 1 disagrees", f"  {message}"]
    attach(a, result)
    (finding,) = [f for f in a.findings if f.code == "SC901"]
    assert (finding.severity, finding.name, finding.message, finding.layers) == (
        "error", "shape-disagreement", message, ("decoder.6",))
    assert "SC901" not in {f.code for f in symcheck.analyze(sample("torch_cae.onnx")).findings}


def test_sc901_respects_ignore():
    a = symcheck.analyze(sample("torch_cae.onnx"))
    next(layer for layer in a.layers.layers.values() if layer.name == "decoder.6").out_shape = (1, 2, 3, 4)
    verify_and_attach(a, ignore=["SC9"])
    assert a.verification.status == "disagreement"
    assert "SC901" not in {f.code for f in a.findings}


def test_declared_value_info_that_lies_does_not_fool_verification():
    a = symcheck.analyze(lying_model())
    shapes = {layer.name: layer.out_shape for layer in a.layers.layers.values()}
    assert shapes["conv"] == (1, 4, 8, 8)  # symcheck ignores the lie about a conv ...
    assert shapes["einsum"] == (1, 4, 9, 9)  # ... but must take the file's word for an Einsum
    result = verify(a)
    assert result.status == "disagreement"
    assert [(c.layer, c.ok, c.actual) for c in result.layers] == [
        ("conv", True, (1, 4, 8, 8)), ("einsum", False, (1, 4, 8, 8)), ("pool", True, (1, 4, 4, 4))]
    assert result.disagreements() == [
        ("einsum", "einsum: inferred 1×4×9×9, onnxruntime gives 1×4×8×8 (input 8×8)")]


# -- dims symcheck could not work out are not confirmations ------------------------------

def unresolved_pad_model():
    """Pads computed by an op symcheck does not evaluate (Sqrt of a float constant): the
    Pad's output, and every shape after it, holds symbols nothing in the model determines."""
    root = numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.float32), "squares")
    nodes = [helper.make_node("Sqrt", ["squares"], ["roots"], name="sqrt"),
             helper.make_node("Cast", ["roots"], ["pads"], to=TensorProto.INT64, name="cast"),
             helper.make_node("Pad", ["x", "pads"], ["p"], name="pad"),
             helper.make_node("Conv", ["p", "w"], ["c"], name="conv"),
             helper.make_node("MaxPool", ["c"], ["y"], kernel_shape=[2, 2], strides=[2, 2],
                              name="pool")]
    return _model(nodes, [_x(1, 1, 8, 8)], [_y()], [root, _weight(4, 1, 3, 3)])


def test_an_unresolved_dim_is_unconfirmed_with_onnxruntimes_value():
    a = symcheck.analyze(unresolved_pad_model())
    assert [str(d) for d in a.layer(a.structure.path[1]).out_shape][1:] == ["?pad2", "?pad3", "?pad4"]
    result = verify(a)
    assert result.status == "unconfirmed"
    assert (result.checked, result.agreeing, result.unconfirmed) == (3, 0, 3)
    assert [(c.layer, c.result, c.ok, c.actual) for c in result.layers] == [
        ("pad", "unconfirmed", False, (1, 1, 10, 10)), ("conv", "unconfirmed", False, (1, 4, 8, 8)),
        ("pool", "unconfirmed", False, (1, 4, 4, 4))]
    assert result.layers[1].inferred == ("?pad1", 4, "?pad3 - 2", "?pad4 - 2")
    assert result.disagreements() == []  # nothing it worked out is wrong: no SC901
    assert result.text_lines() == [
        "verified 0/3 layer shapes in onnxruntime at 8×8; 3 not worked out statically",
        "  pad: inferred ?pad1×?pad2×?pad3×?pad4, not worked out; onnxruntime gives 1×1×10×10 "
        "(input 8×8)",
        "  conv: inferred ?pad1×4×?pad3 - 2×?pad4 - 2, not worked out; onnxruntime gives 1×4×8×8 "
        "(input 8×8)",
        "  pool: inferred ?pad1×4×floor(?pad3/2) - 1×floor(?pad4/2) - 1, not worked out; "
        "onnxruntime gives 1×4×4×4 (input 8×8)"]
    doc = result.to_dict()
    assert (doc["status"], doc["layers_checked"], doc["layers_agreeing"], doc["layers_unconfirmed"]) \
        == ("unconfirmed", 3, 0, 3)
    assert doc["layers"][0] == {"layer": "pad", "at": [8, 8], "inferred": ["?pad1", "?pad2", "?pad3", "?pad4"],
                                "actual": [1, 1, 10, 10], "ok": False, "result": "unconfirmed"}


def test_cli_unconfirmed_is_no_finding_and_keeps_the_exit_code(tmp_path):
    path = save(unresolved_pad_model(), tmp_path, "unresolved.onnx")
    result = run_cli(path)
    assert result.exit_code == 0 and "SC901" not in result.stdout
    assert "\nverified 0/3 layer shapes in onnxruntime at 8×8; 3 not worked out statically\n" \
        in result.stdout
    v = json.loads(run_cli(path, "--format", "json").stdout)["files"][0]["verification"]
    assert v["status"] == "unconfirmed" and v["layers_unconfirmed"] == 3
    assert [c["result"] for c in v["layers"]] == ["unconfirmed"] * 3


def test_unconfirmed_layers_are_listed_after_disagreements_and_capped():
    a = symcheck.analyze(sample("torch_cae.onnx"))
    unknown = Expr.symbol("?slice9")
    planted = ["encoder.3", "encoder.5", "encoder.6", "encoder.8", "decoder.0"]
    for layer in a.layers.layers.values():
        if layer.name in planted:
            layer.out_shape = (1, layer.out_shape[1], unknown, layer.out_shape[3])
        if layer.name == "decoder.6":  # an unknown dim does not hide a wrong one
            layer.out_shape = (1, 15, unknown, 14)
    result = verify(a)
    assert result.status == "disagreement"
    assert (result.checked, result.agreeing, result.unconfirmed) == (13, 7, 5)
    assert [c.layer for c in result.layers if c.result == "disagrees"] == ["decoder.6"]
    assert result.text_lines() == [
        "verified 7/13 layer shapes in onnxruntime at 28×28; 1 disagrees; 5 not worked out statically",
        "  decoder.6: inferred 1×15×?slice9×14, onnxruntime gives 1×16×14×14 (input 28×28)",
        "  encoder.3: inferred 1×8×?slice9×14, not worked out; onnxruntime gives 1×8×14×14 (input 28×28)",
        "  encoder.5: inferred 1×8×?slice9×7, not worked out; onnxruntime gives 1×8×7×7 (input 28×28)",
        "  encoder.6: inferred 1×8×?slice9×7, not worked out; onnxruntime gives 1×8×7×7 (input 28×28)",
        "  and 2 more not worked out (the JSON report lists every layer)"]
    attach(a, result)
    assert [f.layers for f in a.findings if f.code == "SC901"] == [("decoder.6",)]


def conditioned_model():
    """An image and a conditioning vector of symbolic batch ``k``: the layers after the
    join carry ``k``, a declared input dim, which the run gives a value (1)."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Gemm", ["cond", "wc"], ["g"], name="film"),
             helper.make_node("Unsqueeze", ["g", "axes"], ["gu"], name="unsqueeze"),
             helper.make_node("Add", ["c", "gu"], ["s"], name="add"),
             helper.make_node("Conv", ["s", "wh"], ["y"], pads=[1, 1, 1, 1], name="head")]
    cond = helper.make_tensor_value_info("cond", TensorProto.FLOAT, ["k", 3])
    return _model(nodes, [_x(1, 1, 8, 8), cond], [_y()],
                  [_weight(4, 1, 3, 3), _weight(3, 4, name="wc"), _weight(1, 4, 3, 3, name="wh"),
                   numpy_helper.from_array(np.array([2, 3], np.int64), "axes")])


def test_declared_dims_of_other_inputs_are_worked_out_in_the_run():
    a = symcheck.analyze(conditioned_model())
    assert a.input_name == "x" and str(a.output_layer.out_shape[0]) == "k"
    result = verify(a)
    assert result.status == "verified" and result.unconfirmed == 0
    assert result.runs[0].input_shape == (1, 1, 8, 8)
    head = next(c for c in result.layers if c.layer == "head")
    assert (head.inferred, head.actual, head.result) == ((1, 1, 8, 8), (1, 1, 8, 8), "agrees")


# -- round trips at other sizes ----------------------------------------------------------

def test_dynamic_sample_round_trips_at_28_and_not_at_32_as_sc104_predicts():
    a = symcheck.analyze(sample("torch_cae_dynamic.onnx"))
    result = verify(a)
    assert result.status == "verified"
    assert [(rt.size, rt.predicted, rt.round_trips, rt.actual, rt.held) for rt in result.round_trips] == [
        (28, (28, 28), True, (28, 28), True),
        (32, (28, 28), False, (28, 28), True)]
    assert [r.input_shape for r in result.runs] == [(1, 1, 28, 28), (1, 1, 32, 32)]
    assert result.text_lines() == [
        "verified 13/13 layer shapes in onnxruntime at 28×28 and 32×32",
        "  round-trip at 28: predicted 28, got 28 ✓",
        "  round-trip at 32: predicted 28, got 28 ✓"]
    assert {c.at for c in result.layers} == {(28, 28), (32, 32)}
    trim_at_32 = next(c for c in result.layers if c.layer == "decoder.6" and c.at == (32, 32))
    assert trim_at_32.actual == (1, 16, 14, 14)  # 4*ceil(32/8) - 2


def test_sizes_option_and_a_wrong_prediction():
    a = symcheck.analyze(sample("torch_cae_dynamic.onnx"))
    result = verify(a, sizes=[20, 33])
    assert [(rt.size, rt.round_trips, rt.actual, rt.held) for rt in result.round_trips] == [
        (20, True, (20, 20), True), (33, False, (36, 36), True)]
    a.round_trips[0].examples[20] = 21  # plant a wrong SC104 prediction
    planted = verify(a, sizes=[20])
    assert planted.status == "disagreement"
    assert planted.round_trips[0].held is False
    assert planted.disagreements() == [
        ("output", "output: SC104 predicted an output of 21×20 for input 20, onnxruntime gives 20")]


def test_static_model_ignores_sizes_with_a_note():
    result = verify(symcheck.analyze(sample("matlab_cae.onnx")), sizes=[28])
    assert result.status == "verified" and result.round_trips == ()
    assert result.notes == ("--sizes ignored: the input's spatial size is fixed at 32×32",)


# -- bounds: memory, failures, time -----------------------------------------------------

def test_huge_input_is_refused_by_the_memory_bound_in_under_a_second():
    model = huge_model()
    before = children()
    start = time.monotonic()
    a = symcheck.analyze(model)
    result = verify(a)
    elapsed = time.monotonic() - start
    assert elapsed < 1.0, elapsed
    assert result.status == "refused"
    assert result.memory_estimate > 10**11
    assert result.reason == ("running at input 1×1×100000×100000 needs about 261 GiB for activations "
                             "and weights, over --max-memory 2 GiB")
    assert result.text_lines() == [f"verification refused: {result.reason}"]
    assert set(children()) <= set(before)  # no child was started


def test_memory_bound_is_an_option():
    a = symcheck.analyze(sample("torch_cae.onnx"))
    assert verify(a, max_memory=100 * 1024).status == "refused"
    assert verify(a, max_memory=DEFAULT_MAX_MEMORY).memory_estimate < 1024**2


def test_model_that_onnxruntime_cannot_load_is_a_verification_error():
    a = symcheck.analyze(foreign_op_model())
    result = verify(a)
    assert result.status == "failed"
    assert result.reason == ("onnxruntime cannot load the model: Fatal error: "
                             "com.example:Frobnicate(-1) is not a registered function/op")
    assert "SC901" not in {f.code for f in a.findings}


def test_model_that_fails_when_run_is_a_verification_error(tmp_path):
    path = save(bad_reshape_model(), tmp_path, "reshape.onnx")
    result = run_cli(path)
    assert result.exit_code == 0, result.output  # no error finding: the static report stands
    assert result.stderr == ""
    assert "ladder" in result.stdout and "verdict" in result.stdout
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("verification")]
    assert line.startswith("verification failed: onnxruntime failed at input 1×1×32×32: ")
    assert "The input tensor cannot be reshaped to the requested shape" in line
    assert "\n" not in line and "onnxruntime_src" not in line


def test_loop_with_a_constant_trip_count_is_refused_before_it_runs():
    a = symcheck.analyze(loop_bomb_model(10**15))
    start = time.monotonic()
    result = verify(a, timeout=30)
    assert time.monotonic() - start < 1
    assert result.status == "refused"
    assert result.reason == ("Loop node 'loop' runs 10^15 times: about 10^15 node runs in all, over "
                             "the 100,000,000 that can finish; it was not started")


def test_loop_with_a_small_trip_count_is_verified():
    result = verify(symcheck.analyze(loop_bomb_model(3)))
    assert result.status == "verified", result.reason
    assert [c.layer for c in result.layers] == ["conv"] and result.layers[0].ok
    assert [run.error for run in result.runs] == [""]


def test_loop_steps_multiply_through_nested_loops():
    from symcheck.verify import loop_steps

    inner = loop_bomb_model(1000).graph.node[1]  # a Loop of 1,000 runs of a 2-node body
    outer_body = helper.make_graph([inner], "outer_body",
                                   [helper.make_tensor_value_info("j", TensorProto.INT64, []),
                                    helper.make_tensor_value_info("c_in", TensorProto.BOOL, [])],
                                   [helper.make_tensor_value_info("c_in", TensorProto.BOOL, [])])
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["n"], value=numpy_helper.from_array(np.array(500, np.int64))),
         helper.make_node("Loop", ["n", "", ""], [], body=outer_body, name="outer")],
        "g", [], [], [numpy_helper.from_array(np.array(1000, np.int64), "trips")])
    steps, culprit = loop_steps(graph)
    assert steps == 2 + 500 * (1 + 1000 * 2)  # Constant + Loop, then 500 × (inner Loop + 1,000 × 2)
    assert culprit.name == "outer"
    # an If counts its larger branch, through 25 levels of nesting (protobuf allows ~30)
    branch = helper.make_graph([inner], "big", [], [])
    for depth in range(25):
        small = helper.make_graph([helper.make_node("Identity", ["a"], ["b"])], f"small{depth}", [], [])
        branch = helper.make_graph([helper.make_node("If", ["c"], [], then_branch=small, else_branch=branch,
                                                     name=f"if{depth}")], f"level{depth}", [], [])
    branch.initializer.extend(graph.initializer)  # the inner Loop's trip count, in scope
    steps, culprit = loop_steps(branch)
    assert steps == 25 + 1 + 1000 * 2 and culprit.name == "loop"


def test_allocation_past_the_memory_limit_fails_inside_the_child():
    """A tensor sized from input values (no estimate can see it) asks for 8 GB; the
    child's address-space cap makes the allocation fail instead of the machine swap."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("ReduceMax", ["x"], ["m"], keepdims=0, name="max"),
             helper.make_node("Abs", ["m"], ["a"]), helper.make_node("Add", ["a", "one"], ["a1"]),
             helper.make_node("Mul", ["a1", "big"], ["b"]),
             helper.make_node("Cast", ["b"], ["n"], to=TensorProto.INT64),
             helper.make_node("Unsqueeze", ["n", "axes"], ["shape"]),
             helper.make_node("ConstantOfShape", ["shape"], ["bomb"], name="bomb",
                              value=numpy_helper.from_array(np.array([1.0], np.float32))),
             helper.make_node("ReduceSum", ["bomb"], ["s"], keepdims=0),
             helper.make_node("Add", ["c", "s"], ["y"], name="add")]
    inits = [_weight(4, 1, 3, 3), numpy_helper.from_array(np.array(1.0, np.float32), "one"),
             numpy_helper.from_array(np.array(2e9, np.float32), "big"),
             numpy_helper.from_array(np.array([0], np.int64), "axes")]
    a = symcheck.analyze(_model(nodes, [_x(1, 1, 8, 8)], [_y()], inits))
    assert a.largest_tensor_bytes < 10**6  # invisible to the estimate
    result = verify(a, max_memory=64 * 1024**2)
    assert result.status == "refused"
    assert result.reason.startswith("onnxruntime ran out of the memory limit at input 1×1×8×8 "
                                    "(--max-memory plus slack): ")
    assert "bad_alloc" in result.reason  # the child runs without onnxruntime's arena


def test_hanging_model_is_stopped_by_the_timeout_and_no_child_is_left():
    a = symcheck.analyze(loop_bomb_model(None))
    before = children()  # other tests' helpers (torch compile workers) may live on
    start = time.monotonic()
    result = verify(a, timeout=1.5)
    assert time.monotonic() - start < 5
    assert result.status == "timeout"
    assert result.reason == ("onnxruntime did not finish within 1.5 s (--verify-timeout); "
                             "the run was stopped")
    assert set(children()) <= set(before)


def test_bug_in_verification_becomes_a_failed_status(monkeypatch):
    import symcheck.verify as module

    def broken(*args, **kwargs):
        raise KeyError("oops")

    monkeypatch.setattr(module, "plan_runs", broken)
    a = symcheck.analyze(sample("torch_cae.onnx"))
    result = verify_and_attach(a)
    assert result.status == "failed" and "this is a bug" in result.reason
    assert a.verification is result
    with pytest.raises(KeyError):
        verify_and_attach(a, debug=True)


# -- records, options, CLI and JSON ----------------------------------------------------------

def test_records_are_frozen_and_serialisable():
    result = verify(symcheck.analyze(sample("torch_cae_dynamic.onnx")))
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = "x"
    doc = result.to_dict()
    assert json.loads(json.dumps(doc)) == doc
    assert set(doc) == {"status", "reason", "onnxruntime", "layers_checked", "layers_agreeing",
                        "layers_unconfirmed", "unchecked", "runs", "layers", "round_trips",
                        "memory_estimate", "max_memory", "notes"}
    assert doc["round_trips"][1] == {"size": 32, "predicted": [28, 28], "round_trips": False,
                                     "actual": [28, 28], "held": True, "error": None}
    assert doc["layers"][0] == {"layer": "encoder.0", "at": [28, 28], "inferred": [1, 16, 28, 28],
                                "actual": [1, 16, 28, 28], "ok": True, "result": "agrees"}


def test_parse_memory_and_memory_text():
    assert parse_memory("512M") == 512 * 1024**2
    assert parse_memory("2G") == parse_memory("2GiB") == parse_memory("2gb") == 2 * 1024**3
    assert parse_memory("1.5K") == 1536 and parse_memory("4096") == 4096
    for bad in ("", "2X", "-1G", "0", "G"):
        with pytest.raises(ValueError):
            parse_memory(bad)
    assert memory_text(2 * 1024**3) == "2 GiB" and memory_text(100) == "100 bytes"
    assert memory_text(2**62 * 2**62 * 4) == "7.38e+19 EiB" and memory_text(10**400).startswith("more")


def test_cli_verifies_by_default_and_no_verify_skips_it():
    result = run_cli(sample("keras_cae.onnx"))
    assert result.exit_code == 0 and result.stderr == ""
    assert "\nverified 13/13 layer shapes in onnxruntime at 28×28\n" in result.stdout
    skipped = run_cli(sample("keras_cae.onnx"), "--no-verify", "--format", "json")
    assert skipped.exit_code == 0
    assert json.loads(skipped.stdout)["files"][0]["verification"] is None
    assert "verified" not in run_cli(sample("keras_cae.onnx"), "--no-verify").stdout


def test_cli_options_reach_verification():
    result = run_cli(sample("torch_cae_dynamic.onnx"), "--sizes", "28,30", "--format", "json")
    v = json.loads(result.stdout)["files"][0]["verification"]
    assert [rt["size"] for rt in v["round_trips"]] == [28, 30] and v["status"] == "verified"
    refused = run_cli(sample("torch_cae.onnx"), "--max-memory", "64K")
    assert refused.exit_code == 0
    assert "verification refused: " in refused.stdout and "over --max-memory 64 KiB" in refused.stdout
    for bad in (["--max-memory", "lots"], ["--sizes", "a,b"], ["--sizes", "0"],
                ["--verify-timeout", "0"]):
        usage = run_cli(sample("torch_cae.onnx"), *bad)
        assert usage.exit_code == 2 and "Invalid value" in usage.stderr


def test_cli_disagreement_is_an_error_finding_and_exit_1(tmp_path):
    path = save(lying_model(), tmp_path, "lying.onnx")
    result = run_cli(path)
    assert result.exit_code == 1
    assert "error   SC901 shape-disagreement" in result.stdout
    assert "  einsum: inferred 1×4×9×9, onnxruntime gives 1×4×8×8 (input 8×8)" in result.stdout
    doc = json.loads(run_cli(path, "--format", "json").stdout)["files"][0]
    assert doc["verification"]["status"] == "disagreement"
    assert [f["code"] for f in doc["findings"] if f["severity"] == "error"] == ["SC901"]
    assert run_cli(path, "--ignore", "SC901").exit_code == 0


def test_failed_verification_keeps_the_exit_code_and_the_report(tmp_path):
    path = save(foreign_op_model(), tmp_path, "foreign.onnx")
    result = run_cli(path, "--format", "json")
    assert result.exit_code == 0 and result.stderr == ""
    v = json.loads(result.stdout)["files"][0]["verification"]
    assert v["status"] == "failed" and v["reason"].startswith("onnxruntime cannot load the model: ")
    assert v["layers"] == [] and v["layers_checked"] == 0


def test_verification_object_is_a_documented_type():
    assert Verification("verified").to_dict()["status"] == "verified"
    assert Verification("verified").text_lines() == [
        "verified 0/0 layer shapes in onnxruntime (no layer had a shape to compare)"]


def test_constant_of_shape_bomb_is_refused_before_running():
    import time

    import onnx.helper as h
    from onnx import TensorProto as T

    x = h.make_tensor_value_info("x", T.FLOAT, [1, 1, 8, 8])
    y = h.make_tensor_value_info("y", T.FLOAT, None)
    shape = h.make_tensor("shape", T.INT64, [4], [1, 1, 1000000, 1000000])  # 3.6 TiB of zeros
    graph = h.make_graph([h.make_node("ConstantOfShape", ["shape"], ["big"]),
                          h.make_node("Add", ["x", "big"], ["y"])], "bomb", [x], [y], [shape])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    start = time.perf_counter()
    a = symcheck.analyze(model)
    result = verify(a)
    assert time.perf_counter() - start < 1.0
    assert a.largest_tensor_bytes == 4 * 10**12
    assert result.status == "refused" and "3.64 TiB" in result.reason


def _external_model(folder, location: str, **entries):
    """matlab_cae.onnx with conv_1's weight moved to external data at ``location``."""
    import onnx

    model = onnx.load(sample("matlab_cae.onnx"))
    init = next(i for i in model.graph.initializer if i.name == "conv_1_W")
    raw = onnx.numpy_helper.to_array(init).tobytes()
    (folder / "weights.bin").write_bytes(raw)
    init.ClearField("raw_data")
    init.ClearField("float_data")
    init.data_location = onnx.TensorProto.EXTERNAL
    for key, value in {"location": location, "offset": "0", "length": str(len(raw)), **entries}.items():
        entry = init.external_data.add()
        entry.key, entry.value = key, value
    path = folder / "model.onnx"
    path.write_bytes(model.SerializeToString())
    return str(path)


def test_external_data_is_validated_then_verified(tmp_path):
    import os

    good = _external_model(tmp_path, "weights.bin")
    result = verify(symcheck.analyze(good))
    assert result.status == "verified", result.reason
    canary = tmp_path.parent / f"{tmp_path.name}-canary.bin"
    canary.write_bytes(b"canary" * 100)
    cases = {
        f"../{canary.name}": "leaves the model's folder",
        str(canary): "not a relative path",
        "weights.bin.lnk": "a symlink in the path",
        "weights.bin.hard": "a hard link",
        "missing.bin": "No such file",
    }
    os.symlink(canary, tmp_path / "weights.bin.lnk")
    os.link(canary, tmp_path / "weights.bin.hard")
    for location, why in cases.items():
        folder = tmp_path / f"case{len(os.listdir(tmp_path))}"
        folder.mkdir()
        for name in ("weights.bin.lnk", "weights.bin.hard"):
            if location == name:
                target = folder / name
                (os.symlink if name.endswith("lnk") else os.link)(canary, target)
        result = verify(symcheck.analyze(_external_model(folder, location)))
        assert result.status == "refused" and why in result.reason, (location, result.reason)
    past_end = tmp_path / "past"
    past_end.mkdir()
    result = verify(symcheck.analyze(_external_model(past_end, "weights.bin", offset=str(1 << 40))))
    assert result.status == "refused" and "past the end" in result.reason


def test_external_weights_reach_the_child_as_descriptors_not_paths(tmp_path):
    from symcheck.verify import _external_weights

    good = _external_model(tmp_path, "weights.bin")
    a = symcheck.analyze(good)
    weights = _external_weights(a.model, a.path)
    try:
        (entry,) = weights.entries
        assert (entry["name"], entry["offset"], entry["dtype"], entry["dims"]) == ("conv_1_W", 0, "<f4",
                                                                                  [8, 1, 3, 3])
        assert entry["length"] == 8 * 9 * 4 and os.fstat(entry["fd"]).st_size == 8 * 9 * 4
        (init,) = [i for i in weights.model.graph.initializer if i.name == "conv_1_W"]
        locations = [e.value for e in init.external_data if e.key == "location"]
        assert locations == ["symcheck-provided-0"]  # no path reaches onnxruntime
        assert "weights.bin" not in weights.model.SerializeToString().decode("latin-1")
        assert [e.value for e in next(i for i in a.model.graph.initializer if i.name == "conv_1_W")
                .external_data if e.key == "location"] == ["weights.bin"]  # the analysed model is untouched
    finally:
        weights.close()
    assert weights.fds == []
    short = tmp_path / "short"
    short.mkdir()
    result = verify(symcheck.analyze(_external_model(short, "weights.bin", length="8")))
    assert result.status == "refused"
    assert result.reason == ("unsafe external data 'weights.bin': initializer 'conv_1_W' declares 72 "
                             "elements but 8 bytes")


@pytest.mark.slow
def test_external_weights_over_2_gb_are_verified(tmp_path):
    """Past protobuf's 2 GB limit: the weights never go through the serialized model."""
    import onnx

    columns = 70_000_000  # 8 × 7e7 float32 = 2.24 GB
    path = tmp_path / "weights.bin"
    with open(path, "wb") as f:
        f.truncate(8 * columns * 4)  # zeros, written sparsely
    init = onnx.TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[8, columns],
                            data_location=onnx.TensorProto.EXTERNAL)
    for key, value in {"location": "weights.bin", "offset": "0", "length": str(8 * columns * 4)}.items():
        entry = init.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="dense")], "big",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, columns])],
                              [init])
    model_path = tmp_path / "big.onnx"
    model_path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
                           .SerializeToString())
    result = verify(symcheck.analyze(str(model_path)), max_memory=8 * 1024**3, timeout=300)
    assert result.status == "verified", result.reason
    assert [(c.layer, c.actual) for c in result.layers] == [("dense", (1, columns))]
