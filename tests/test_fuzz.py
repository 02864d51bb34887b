"""Fuzzing (issue 7): only symcheck's own errors escape, and inferred shapes are right.

Two oracles:

* **robustness**: seeded mutations of the samples, of their bytes and of their
  parsed fields (dims, attribute ints, names, wiring), go through
  ``symcheck.analyze`` and both renderers; anything but a
  :class:`~symcheck.errors.SymcheckError` is a bug, and so is a case that runs
  longer than its time bound.
* **correctness**: a hypothesis strategy builds random small encoder-decoders
  with ``onnx.helper`` (convs, pools, strided convs, space-to-depth, Resize,
  ConvTranspose, depth-to-space, Keras-style Tile/Reshape upsampling, skip
  merges with crops and pads, NHWC wrappers, symbolic H and W); every layer's
  statically inferred output shape must equal the one onnxruntime computes,
  read from the layer's ``out_tensor`` through its ``out_axes``.

The default run is bounded (about 15 s); ``-m slow`` runs far more examples
(about 3 minutes).
``fuzz/atheris_harness.py`` is the coverage-guided version for long runs.
"""

from __future__ import annotations

import random
import signal
import time
from contextlib import contextmanager

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import symcheck
from symcheck.dims import Expr
from symcheck.errors import SymcheckError
from symcheck.render import json as json_render
from symcheck.render import text as text_render

from .conftest import SAMPLES
from .hostile import mutate_bytes, mutate_fields

SAMPLE_FILES = sorted(SAMPLES.glob("*.onnx"))
SEED = 20240707

#: Long fuzzing runs only with ``-m slow``.
SLOW = [pytest.mark.slow,
        pytest.mark.skipif("'slow' not in config.getoption('markexpr', '')",
                           reason="long fuzzing: run with -m slow")]


# ---------------------------------------------------------------------------
# Robustness: seeded mutations

class Hang(Exception):
    pass


@contextmanager
def time_limit(seconds: int):
    def alarm(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def only_symcheck_errors(data, label: str, seconds: int = 10) -> str:
    """Analyse and render ``data`` (bytes or ModelProto); return the error code or 'ok'."""
    try:
        with time_limit(seconds):
            analysis = symcheck.analyze(data)
            text_render.render(analysis)
            json_render.render(analysis)
    except SymcheckError as err:
        assert err.code != "internal", (label, err.reason)
        return err.code
    except Hang:
        pytest.fail(f"{label}: hang")
    except Exception as exc:  # noqa: BLE001 - the oracle
        raise AssertionError(f"{label}: {type(exc).__name__}: {exc}") from exc
    return "ok"


def _mutation_run(count: int, seed: int) -> dict:
    rng = random.Random(seed)
    outcomes: dict = {}
    for path in SAMPLE_FILES:
        data = path.read_bytes()
        model = onnx.load_from_string(data)
        for i in range(count):
            case = f"{path.name} seed={seed} #{i}"
            if i % 2:
                code = only_symcheck_errors(mutate_bytes(data, rng), "bytes " + case)
            else:
                code = only_symcheck_errors(mutate_fields(model, rng), "fields " + case)
            outcomes[code] = outcomes.get(code, 0) + 1
    return outcomes


def test_seeded_mutations_of_the_samples():
    start = time.perf_counter()
    outcomes = _mutation_run(60, SEED)
    assert sum(outcomes.values()) == 60 * len(SAMPLE_FILES)
    assert "ok" in outcomes and "not-onnx" in outcomes  # both paths were exercised
    assert time.perf_counter() - start < 60


@pytest.mark.parametrize("seed", range(8))
@SLOW[0]
@SLOW[1]
def test_seeded_mutations_long(seed):
    _mutation_run(150, SEED + 1 + seed)


# ---------------------------------------------------------------------------
# Correctness: random encoder-decoders against onnxruntime

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies
ort = pytest.importorskip("onnxruntime")


class Net:
    """A model under construction: NCHW tensors, with sizes tracked as ints."""

    def __init__(self) -> None:
        self.nodes: list = []
        self.inits: list = []
        self.count = 0
        self.rng = np.random.default_rng(0)

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}{self.count}"

    def const(self, values, dtype=np.int64) -> str:
        name = self.name("k")
        self.inits.append(numpy_helper.from_array(np.array(values, dtype), name))
        return name

    def add(self, op: str, inputs: list, **attrs) -> str:
        out = self.name(op.lower() + "_")
        self.nodes.append(helper.make_node(op, inputs, [out], name=self.name("n_" + op), **attrs))
        return out

    def conv(self, x, shape, cout, k, stride=1, pads=None, dilation=1, transpose=False,
             output_padding=0):
        _, c, h, w = shape
        pads = pads or [0, 0, 0, 0]
        wname = self.name("w")
        wshape = (c, cout, k, k) if transpose else (cout, c, k, k)
        self.inits.append(numpy_helper.from_array(
            (self.rng.standard_normal(wshape) * 0.1).astype(np.float32), wname))
        attrs = dict(kernel_shape=[k, k], strides=[stride, stride], pads=pads,
                     dilations=[dilation, dilation])
        if transpose:
            if output_padding:
                attrs["output_padding"] = [output_padding, output_padding]
            out = self.add("ConvTranspose", [x, wname], **attrs)
            size = lambda n, p0, p1: stride * (n - 1) + output_padding + dilation * (k - 1) + 1 - p0 - p1
        else:
            out = self.add("Conv", [x, wname], **attrs)
            size = lambda n, p0, p1: (n + p0 + p1 - dilation * (k - 1) - 1) // stride + 1
        return out, (1, cout, size(h, pads[0], pads[2]), size(w, pads[1], pads[3]))


def pool_size(n, k, s, p0, p1, ceil):
    room = n + p0 + p1 - k
    out = (-(-room // s) if ceil else room // s) + 1
    if ceil and (out - 1) * s >= n + p0:
        out -= 1
    return out


@st.composite
def encoder_decoders(draw):
    """(model, concrete input shape, symbolic?) for a random valid encoder-decoder."""
    net = Net()
    cin = draw(st.sampled_from([1, 3]))
    h = draw(st.integers(8, 36))
    w = draw(st.sampled_from([h, draw(st.integers(8, 36))]))
    symbolic = draw(st.booleans())
    nhwc = draw(st.booleans())
    x = "input"
    if nhwc:
        x = net.add("Transpose", [x], perm=[0, 3, 1, 2])
    shape = (1, cin, h, w)
    width = draw(st.sampled_from([2, 4]))
    skips = []
    levels = draw(st.integers(1, 3))
    for level in range(levels):
        for _ in range(draw(st.integers(1, 2))):
            k = draw(st.sampled_from([1, 3, 5]))
            same = draw(st.booleans()) or min(shape[2:]) <= k
            pad = k // 2 if same else 0
            x, shape = net.conv(x, shape, width, k, pads=[pad] * 4)
            act = draw(st.sampled_from(["Relu", "LeakyRelu", "Sigmoid", None]))
            if act:
                x = net.add(act, [x])
        skips.append((x, shape))
        if min(shape[2:]) < 4:
            break
        down = draw(st.sampled_from(["max2", "max3", "avgceil", "stride", "s2d"]))
        _, c, hh, ww = shape
        if down == "max2":
            x = net.add("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
            shape = (1, c, hh // 2, ww // 2)
        elif down == "max3":
            x = net.add("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
            shape = (1, c, pool_size(hh, 3, 2, 1, 1, False), pool_size(ww, 3, 2, 1, 1, False))
        elif down == "avgceil":
            x = net.add("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)
            shape = (1, c, pool_size(hh, 2, 2, 0, 0, True), pool_size(ww, 2, 2, 0, 0, True))
        elif down == "stride":
            x, shape = net.conv(x, shape, c * 2, 3, stride=2, pads=[1, 1, 1, 1])
        elif hh % 2 == 0 and ww % 2 == 0:
            x = net.add("SpaceToDepth", [x], blocksize=2)
            shape = (1, c * 4, hh // 2, ww // 2)
        else:
            x = net.add("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
            shape = (1, c, hh // 2, ww // 2)
        width *= 2
    if draw(st.booleans()):
        x, shape = net.conv(x, shape, shape[1], 3, pads=[1, 1, 1, 1])
    for skip, skip_shape in reversed(skips[: len(skips)]):
        _, c, hh, ww = shape
        up = draw(st.sampled_from(["resize", "resize_sizes", "convt2", "convt3", "d2s", "tile"]))
        if up == "resize":
            x = net.add("Resize", [x, "", net.const([1, 1, 2, 2], np.float32)], mode="nearest")
            shape = (1, c, hh * 2, ww * 2)
        elif up == "resize_sizes" and not symbolic:
            target = skip_shape[2:]
            x = net.add("Resize", [x, "", "", net.const([1, c, *target])], mode="nearest")
            shape = (1, c, *target)
        elif up == "convt2":
            x, shape = net.conv(x, shape, max(c // 2, 1), 2, stride=2, transpose=True)
        elif up == "convt3":
            op = draw(st.sampled_from([0, 1]))
            x, shape = net.conv(x, shape, max(c // 2, 1), 3, stride=2, pads=[1, 1, 1, 1], transpose=True,
                                output_padding=op)
        elif up == "d2s":
            x, shape = net.conv(x, shape, 4 * max(c // 4, 1), 1)
            x = net.add("DepthToSpace", [x], blocksize=2, mode="CRD")
            shape = (1, shape[1] // 4, hh * 2, ww * 2)
        else:  # Keras UpSampling2D as tf2onnx writes it: Reshape, Tile, Reshape to a computed shape
            shp = net.add("Shape", [x])
            nc = net.add("Slice", [shp, net.const([0]), net.const([2])])
            dims = net.add("Slice", [shp, net.const([2]), net.const([4])])
            doubled = net.add("Mul", [dims, net.const([2, 2])])
            target = net.add("Concat", [nc, doubled], axis=0)
            if symbolic:  # [N, C, H, 1, W, 1] from the tensor's own shape
                one = net.const([1])
                six_target = net.add("Concat", [nc, net.add("Slice", [shp, net.const([2]), net.const([3])]), one,
                                                net.add("Slice", [shp, net.const([3]), net.const([4])]), one],
                                     axis=0)
            else:
                six_target = net.const([1, c, hh, 1, ww, 1])
            six = net.add("Reshape", [x, six_target])
            tiled = net.add("Tile", [six, net.const([1, 1, 1, 2, 1, 2])])
            x = net.add("Reshape", [tiled, target])
            shape = (1, c, hh * 2, ww * 2)
        merge = draw(st.sampled_from(["concat", "add", None]))
        sh, sw = skip_shape[2:]
        if merge and not symbolic and shape[2:] != skip_shape[2:]:
            _, c, hh, ww = shape
            if hh >= sh and ww >= sw:  # crop the decoder to the skip, as U-Nets crop
                x = net.add("Slice", [x, net.const([0, 0]), net.const([sh, sw]), net.const([2, 3])])
            elif hh <= sh and ww <= sw:
                x = net.add("Pad", [x, net.const([0, 0, 0, 0, 0, 0, sh - hh, sw - ww])])
            else:
                merge = None
            if merge:
                shape = (1, c, sh, sw)
        if merge and shape[2:] == skip_shape[2:]:
            if merge == "concat":
                x = net.add("Concat", [x, skip], axis=1)
                shape = (1, shape[1] + skip_shape[1], *shape[2:])
            else:
                x, shape = net.conv(x, shape, skip_shape[1], 1)
                x = net.add("Add", [x, skip])
        x, shape = net.conv(x, shape, max(shape[1] // 2, 1), 3, pads=[1, 1, 1, 1])
        x = net.add("Relu", [x])
    x, shape = net.conv(x, shape, cin, 3, pads=[1, 1, 1, 1])
    x = net.add("Sigmoid", [x])
    if nhwc:
        x = net.add("Transpose", [x], perm=[0, 2, 3, 1])
    net.nodes.append(helper.make_node("Identity", [x], ["output"], name="out"))
    spatial = ["H", "W"] if symbolic else [h, w]
    dims = [1, *spatial, cin] if nhwc else [1, cin, *spatial]
    graph = helper.make_graph(net.nodes, "random", [helper.make_tensor_value_info("input", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, None)], net.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="fuzz")
    model.ir_version = 8
    concrete = (1, h, w, cin) if nhwc else (1, cin, h, w)
    return model, concrete, symbolic


def _value(dim, env):
    if isinstance(dim, int):
        return dim
    if isinstance(dim, Expr) and dim.symbols() <= set(env):
        return dim.evaluate(env)
    return None


def check_against_onnxruntime(model: onnx.ModelProto, concrete: tuple, symbolic: bool) -> int:
    """Every layer's inferred canonical shape == onnxruntime's; returns dims compared."""
    analysis = symcheck.analyze(model)
    layers = [layer for layer in analysis.layers.layers.values()
              if layer.kind != "input" and layer.out_tensor and layer.out_shape is not None]
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    outputs = {o.name for o in exposed.graph.output}
    for layer in layers:
        if layer.out_tensor not in outputs:
            exposed.graph.output.append(helper.make_tensor_value_info(layer.out_tensor, TensorProto.FLOAT, None))
            outputs.add(layer.out_tensor)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(exposed.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    feed = {"input": np.random.default_rng(0).random(concrete, dtype=np.float32)}
    actual = dict(zip(names, (v.shape for v in session.run(names, feed))))
    env = {}
    if symbolic:
        spatial = concrete[1:3] if analysis.layout.endswith("C") else concrete[2:]
        env = {"H": spatial[0], "W": spatial[1]}
    compared = 0
    for layer in layers:
        got = actual[layer.out_tensor]
        axes = layer.out_axes if layer.out_axes is not None else tuple(range(len(got)))
        assert len(axes) == len(got) == len(layer.out_shape), (layer.name, layer.out_shape, got)
        canonical = tuple(got[a] for a in axes)
        inferred = tuple(_value(d, env) for d in layer.out_shape)
        if not symbolic:
            assert None not in inferred, (layer.name, layer.kind, layer.out_shape)
        for want, have in zip(inferred, canonical):
            if want is not None:
                assert want == have, (layer.name, layer.kind, layer.out_shape, canonical)
                compared += 1
    return compared


def _settings(examples: int, **kw):
    return hypothesis.settings(max_examples=examples, deadline=None, database=None,
                               suppress_health_check=list(hypothesis.HealthCheck), **kw)


@_settings(150, derandomize=True)
@hypothesis.given(encoder_decoders())
def test_random_encoder_decoders_match_onnxruntime(case):
    model, concrete, symbolic = case
    assert check_against_onnxruntime(model, concrete, symbolic) > 0


@SLOW[0]
@SLOW[1]
@_settings(1500)
@hypothesis.given(encoder_decoders())
def test_random_encoder_decoders_match_onnxruntime_long(case):
    model, concrete, symbolic = case
    check_against_onnxruntime(model, concrete, symbolic)


@_settings(100, derandomize=True)
@hypothesis.given(encoder_decoders(), st.randoms(use_true_random=False))
def test_mutated_random_models_raise_only_symcheck_errors(case, rng):
    model, _, _ = case
    only_symcheck_errors(mutate_fields(model, rng), "mutated random model")


@_settings(400, derandomize=True)
@hypothesis.given(st.lists(st.text(max_size=12), max_size=6), st.sampled_from(["repr", "str", "garbled"]))
def test_name_scopes_read_as_literal_eval_reads_them(scopes, form):
    """The fast reading of the dynamo exporter's name scopes gives what
    ``ast.literal_eval`` gives, for plain lists, lists with quotes and escapes,
    and text that is not a list."""
    import ast

    from symcheck.layers import _name_scopes

    text = repr(scopes) if form == "repr" else str(scopes)[:-1] if form == "garbled" else \
        "[" + ", ".join(f"'{s}'" for s in scopes) + "]"
    try:
        want = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        want = []
    assert _name_scopes(text) == (want if isinstance(want, list) else [])
