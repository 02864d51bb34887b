"""The hostile-file corpus of issue 7: model files as untrusted input.

:func:`build_corpus` writes every case into a fresh folder and returns the
table: one :class:`Case` per file, with the exit code and error code static
analysis must give (``symcheck --no-verify``), a sentence on the expected
static behaviour, and, where it matters, what verification must do with it
(``verify``). Layout::

    ROOT/canary.bin       a file next to the model folder: must never be read
    ROOT/outside.onnx     a valid model outside the folder (symlink target)
    ROOT/models/...       every case file; cases are run from here

The canary's text (:data:`CANARY_TEXT`) must never appear in any output.
Nothing here needs torch: every model is built with ``onnx.helper``.

Run directly to build the corpus into a folder and print the table::

    python -m tests.hostile /tmp/hostile
"""

from __future__ import annotations

import gzip
import os
import random
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from symcheck.wire import encode_varint, length_delimited

#: The canary file's text. Its appearance in any output means a file outside
#: the model folder was read.
CANARY_TEXT = "CANARY-7f3a9c2e-this-file-must-never-be-read"

#: One string with every kind of payload: HTML, ANSI CSI and OSC escapes, BEL,
#: CR/LF, bidi overrides and isolates, a zero-width joiner, a line separator,
#: a NUL and a BOM.
EVIL = ("<img src=x onerror=alert(1)>\x1b]0;pwned\x07\x1b[2J\x1b[31m\u202eexe.txt\u2066"
        "\r\nINJECTED\u200d\u2028\x00\ufeff</script>")

#: The sizes a few cases use.
HUGE = 2**62

#: Exit codes.
CLEAN, FINDINGS, INPUT = 0, 1, 2


@dataclass(frozen=True)
class Case:
    """One hostile file and what symcheck must do with it.

    ``exit`` and ``code`` are for static analysis (``--no-verify``): ``code``
    is the ``error[CODE]`` of the one stderr line, or None when the file is
    analysed. ``fast`` cases must finish in under 1 s, every case in 5 s.
    ``payload`` cases carry hostile strings: the text report must be inert and
    the JSON must keep them exactly. ``verify`` says what verification must do
    ("" when it has nothing special to do).
    """

    name: str
    file: str  # relative to ROOT/models ("" -> the models folder itself)
    exit: int
    code: Optional[str]
    note: str
    args: tuple = ()
    fast: bool = False
    payload: Optional[str] = None
    verify: str = ""


_BUILDERS: list[Callable[[Path], list]] = []


def _case(fn: Callable[[Path], list]) -> Callable[[Path], list]:
    _BUILDERS.append(fn)
    return fn


# ---------------------------------------------------------------------------
# Building blocks

def _rng() -> np.random.Generator:
    return np.random.default_rng(7)


def _init(name: str, shape, rng=None) -> onnx.TensorProto:
    rng = rng or _rng()
    return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32) * 0.1, name)


def _vi(name: str, dims, elem=TensorProto.FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, list(dims) if dims is not None else None)


def cae_parts(names: Optional[dict] = None, channels: int = 1):
    """A tiny static conv autoencoder: conv relu pool conv relu resize conv sigmoid.

    Returns (nodes, initializers). Tensor ``input`` in, ``output`` out; every
    name can be replaced through ``names``.
    """
    n = {k: k for k in ("input", "output", "c1", "r1", "p1", "c2", "r2", "u1", "c3",
                        "w1", "b1", "w2", "b2", "w3", "b3", "scales")}
    n.update(names or {})
    rng = _rng()
    inits = [_init(n["w1"], (4, channels, 3, 3), rng), _init(n["b1"], (4,), rng),
             _init(n["w2"], (8, 4, 3, 3), rng), _init(n["b2"], (8,), rng),
             _init(n["w3"], (channels, 8, 3, 3), rng), _init(n["b3"], (channels,), rng),
             numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), n["scales"])]
    pads = dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    nodes = [
        helper.make_node("Conv", [n["input"], n["w1"], n["b1"]], [n["c1"]], name=n.get("conv1", "conv1"), **pads),
        helper.make_node("Relu", [n["c1"]], [n["r1"]], name=n.get("relu1", "relu1")),
        helper.make_node("MaxPool", [n["r1"]], [n["p1"]], name=n.get("pool1", "pool1"),
                         kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", [n["p1"], n["w2"], n["b2"]], [n["c2"]], name=n.get("conv2", "conv2"), **pads),
        helper.make_node("Relu", [n["c2"]], [n["r2"]], name=n.get("relu2", "relu2")),
        helper.make_node("Resize", [n["r2"], "", n["scales"]], [n["u1"]], name=n.get("up1", "up1"),
                         mode=n.get("mode", "nearest")),
        helper.make_node("Conv", [n["u1"], n["w3"], n["b3"]], [n["c3"]], name=n.get("conv3", "conv3"), **pads),
        helper.make_node("Sigmoid", [n["c3"]], [n["output"]], name=n.get("sigmoid", "sigmoid")),
    ]
    return nodes, inits


def cae(in_dims=(1, 1, 28, 28), out_dims=None, names: Optional[dict] = None, opset: int = 17,
        producer: str = "hostile-corpus", graph_name: str = "cae", extra_nodes=(), extra_inits=(),
        output: Optional[str] = None, value_info=()) -> onnx.ModelProto:
    """The tiny autoencoder as a ModelProto, with hooks for the cases."""
    n = {"input": "input", "output": "output"}
    n.update(names or {})
    nodes, inits = cae_parts(names)
    nodes = nodes + list(extra_nodes)
    out_name = output or n["output"]
    out_dims = out_dims if out_dims is not None else in_dims
    graph = helper.make_graph(nodes, graph_name, [_vi(n["input"], in_dims)],
                              [_vi(out_name, out_dims)], inits + list(extra_inits),
                              value_info=list(value_info))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name=producer)
    model.ir_version = 8
    return model


def chain(ops: list, in_dims=(1, 1, 28, 28), opset: int = 17, inits=()) -> onnx.ModelProto:
    """A model from (op_type, extra_inputs, attrs) triples applied one after another."""
    nodes = []
    prev = "input"
    for i, (op, extra, attrs) in enumerate(ops):
        out = f"t{i}"
        nodes.append(helper.make_node(op, [prev, *extra], [out], name=f"n{i}", **attrs))
        prev = out
    nodes.append(helper.make_node("Identity", [prev], ["output"], name="out"))
    graph = helper.make_graph(nodes, "chain", [_vi("input", in_dims)], [_vi("output", None)],
                              list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="hostile-corpus")
    model.ir_version = 8
    return model


def _save(model: onnx.ModelProto, path: Path) -> None:
    path.write_bytes(model.SerializeToString())


def _with_external(model: onnx.ModelProto, init_name: str, location: str, offset: int = 0,
                   length: Optional[int] = None) -> onnx.ModelProto:
    """Move one initializer's bytes to external data at ``location`` (never written)."""
    for init in model.graph.initializer:
        if init.name == init_name:
            nbytes = len(init.raw_data) or 4 * int(np.prod(init.dims))
            init.ClearField("raw_data")
            init.ClearField("float_data")
            init.data_location = TensorProto.EXTERNAL
            del init.external_data[:]
            entries = {"location": location, "offset": str(offset),
                       "length": str(nbytes if length is None else length)}
            for key, value in entries.items():
                init.external_data.add(key=key, value=value)
            return model
    raise KeyError(init_name)


# Raw protobuf encoding, for files protobuf itself refuses to build.

def _varint(value: int) -> bytes:
    return encode_varint(value & ((1 << 64) - 1))  # negative ints as protobuf writes them


def _ld(field: int, payload: bytes) -> bytes:
    return length_delimited(field, payload)


def _vf(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def nested_if_bytes(depth: int) -> bytes:
    """A ModelProto whose graph nests ``depth`` If nodes (3 message levels each)."""
    out_vi = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1]).SerializeToString()
    graph = _ld(1, helper.make_node("Identity", ["x"], ["y"]).SerializeToString()) + _ld(2, b"leaf") \
        + _ld(12, out_vi)
    for i in range(depth):
        attr = _ld(1, b"then_branch") + _vf(20, onnx.AttributeProto.GRAPH) + _ld(6, graph)
        node = _ld(1, b"c") + _ld(2, b"y") + _ld(3, f"if{i}".encode()) + _ld(4, b"If") + _ld(5, attr)
        graph = _ld(1, node) + _ld(2, f"g{i}".encode()) + _ld(12, out_vi)
    inp = helper.make_tensor_value_info("c", TensorProto.BOOL, []).SerializeToString()
    graph += _ld(11, inp)
    opset = _ld(1, b"") + _vf(2, 17)
    return _vf(1, 8) + _ld(8, opset) + _ld(7, graph)


# ---------------------------------------------------------------------------
# Cases: bytes that are not a model

@_case
def _not_models(models: Path) -> list:
    sample = Path(__file__).resolve().parent.parent / "samples" / "torch_cae.onnx"
    data = sample.read_bytes()
    (models / "empty.onnx").write_bytes(b"")
    (models / "text.onnx").write_text("this is not a model\n")
    (models / "random.onnx").write_bytes(np.random.default_rng(1).bytes(4096))
    (models / "gzip.onnx").write_bytes(gzip.compress(data, mtime=0))
    (models / "utf16.onnx").write_bytes("\ufeffnot a model".encode("utf-16"))
    (models / "onnx_text_format.onnx").write_text(onnx.printer.to_text(cae()))
    (models / "truncated_half.onnx").write_bytes(data[: len(data) // 2])
    (models / "truncated_1.onnx").write_bytes(data[:1])
    (models / "truncated_last_byte.onnx").write_bytes(data[:-1])
    (models / "graph_as_model.onnx").write_bytes(cae().graph.SerializeToString())
    (models / "node_as_model.onnx").write_bytes(cae().graph.node[0].SerializeToString())
    (models / "tensor_as_model.onnx").write_bytes(cae().graph.initializer[0].SerializeToString())
    header_only = onnx.ModelProto(ir_version=8, producer_name="hostile")
    (models / "no_graph.onnx").write_bytes(header_only.SerializeToString())
    (models / "nested_if_40.onnx").write_bytes(nested_if_bytes(40))
    return [
        Case("empty-file", "empty.onnx", INPUT, "not-onnx", "0 bytes: onnx.load accepts it as an empty model; refused", fast=True),
        Case("text-file", "text.onnx", INPUT, "not-onnx", "plain text", fast=True),
        Case("random-bytes", "random.onnx", INPUT, "not-onnx", "4 KiB of random bytes", fast=True),
        Case("gzip", "gzip.onnx", INPUT, "not-onnx", "a gzipped model", fast=True),
        Case("utf16", "utf16.onnx", INPUT, "not-onnx", "UTF-16 text with a BOM", fast=True),
        Case("onnx-text-format", "onnx_text_format.onnx", INPUT, "not-onnx",
             "the ONNX textual syntax, not a serialized model", fast=True),
        Case("truncated-half", "truncated_half.onnx", INPUT, "not-onnx", "the first half of a sample", fast=True),
        Case("truncated-1-byte", "truncated_1.onnx", INPUT, "not-onnx", "one byte of a sample", fast=True),
        Case("truncated-last-byte", "truncated_last_byte.onnx", INPUT, "not-onnx",
             "a sample without its last byte", fast=True),
        Case("graph-as-model", "graph_as_model.onnx", INPUT, "graph-not-model",
             "a serialized GraphProto: onnx.load reads it as an empty model; named as a graph", fast=True),
        Case("node-as-model", "node_as_model.onnx", INPUT, "not-onnx", "a serialized NodeProto", fast=True),
        Case("tensor-as-model", "tensor_as_model.onnx", INPUT, "not-onnx", "a serialized TensorProto", fast=True),
        Case("no-graph", "no_graph.onnx", INPUT, "not-onnx", "a ModelProto header without a graph", fast=True),
        Case("nested-if-40", "nested_if_40.onnx", INPUT, "nested-too-deep",
             "If inside If 40 deep: past protobuf's 100-level nesting limit", fast=True),
    ]


# ---------------------------------------------------------------------------
# Cases: paths that are not regular files

@_case
def _special_files(models: Path) -> list:
    root = models.parent
    (models / "a_directory.onnx").mkdir()
    (models / "no_models").mkdir()
    os.mkfifo(models / "fifo.onnx")
    os.symlink("/dev/zero", models / "dev_zero.onnx")
    os.symlink("nowhere.onnx", models / "dangling.onnx")
    os.symlink("loop_b.onnx", models / "loop_a.onnx")
    os.symlink("loop_a.onnx", models / "loop_b.onnx")
    with open(models / "too_large.onnx", "wb") as handle:  # sparse: no disk used
        handle.truncate(2_200_000_000)
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(models / "socket.onnx"))
        has_socket = True
    except OSError:  # path too long for AF_UNIX
        has_socket = False
    finally:
        sock.close()
    _save(cae(), root / "outside.onnx")
    os.symlink("../outside.onnx", models / "link_out.onnx")
    cases = [
        Case("missing", "missing.onnx", INPUT, "not-found", "no such file", fast=True),
        Case("directory", "a_directory.onnx", INPUT, "not-a-file", "a directory named .onnx", fast=True),
        Case("folder-without-models", "no_models", INPUT, "not-a-file",
             "a folder holding no .onnx file (a folder is searched for models)", fast=True),
        Case("fifo", "fifo.onnx", INPUT, "not-a-file",
             "a FIFO: every loader blocks forever on it; refused after stat, never opened", fast=True),
        Case("dev-zero", "dev_zero.onnx", INPUT, "not-a-file",
             "a symlink to /dev/zero (a character device): never read", fast=True),
        Case("dangling-symlink", "dangling.onnx", INPUT, "not-found", "a symlink to nothing", fast=True),
        Case("symlink-loop", "loop_a.onnx", INPUT, "unreadable", "two symlinks pointing at each other",
             fast=True),
        Case("too-large", "too_large.onnx", INPUT, "too-large",
             "a 2.2 GB (sparse) file: refused from its size, never read", fast=True),
        Case("symlinked-model", "link_out.onnx", CLEAN, None,
             "a symlink to a model outside the folder: the user named it, so it is read and analysed"),
    ]
    if has_socket:
        cases.append(Case("socket", "socket.onnx", INPUT, "not-a-file", "a Unix socket", fast=True))
    return cases


# ---------------------------------------------------------------------------
# Cases: graphs that cannot be analysed

@_case
def _bad_graphs(models: Path) -> list:
    # cycle: conv1 reads the output of relu2
    m = cae()
    m.graph.node[0].input[0] = "r2"
    _save(m, models / "cycle.onnx")
    m = chain([("Relu", [], {})])
    m.graph.node[0].input[0] = "t0"
    _save(m, models / "self_loop.onnx")
    ring = [helper.make_node("Relu", [f"r{(i - 1) % 5000}"], [f"r{i}"], name=f"ring{i}") for i in range(5000)]
    ring.append(helper.make_node("Add", ["input", "r0"], ["output"], name="join"))
    g = helper.make_graph(ring, "ring", [_vi("input", (1, 1, 8, 8))], [_vi("output", None)])
    _save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), models / "cycle_5000.onnx")
    m = cae()
    m.graph.node[3].input[0] = "ghost"
    _save(m, models / "undefined_tensor.onnx")
    m = cae()
    m.graph.output[0].name = "ghost_output"
    _save(m, models / "undefined_output.onnx")
    m = cae()
    m.graph.node[4].output[0] = "r1"  # relu2 writes relu1's tensor
    _save(m, models / "duplicate_producer.onnx")
    m = cae()
    m.graph.node[1].output[0] = "input"  # relu1 overwrites the graph input
    _save(m, models / "writes_graph_input.onnx")
    m = cae()
    m.graph.node[1].output[0] = "w2"  # relu1 overwrites an initializer
    _save(m, models / "writes_initializer.onnx")
    g = helper.make_graph([], "empty", [_vi("input", (1, 1, 28, 28))], [_vi("input", (1, 1, 28, 28))])
    _save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), models / "no_nodes.onnx")
    m = cae()
    m.graph.input.append(_vi("w1", (4, 1, 3, 3)))
    del m.graph.input[0]
    m.graph.initializer.append(_init("input", (1, 1, 28, 28)))
    _save(m, models / "no_data_input.onnx")
    shape_only = chain([("Shape", [], {})])
    _save(shape_only, models / "shape_only_output.onnx")
    return [
        Case("cycle", "cycle.onnx", INPUT, "cycle", "conv1 reads relu2's output: names nodes on the cycle", fast=True),
        Case("self-loop", "self_loop.onnx", INPUT, "cycle", "a node that reads its own output", fast=True),
        Case("cycle-5000", "cycle_5000.onnx", INPUT, "cycle", "a 5,000-node ring, found without recursion", fast=True),
        Case("undefined-tensor", "undefined_tensor.onnx", INPUT, "undefined-tensor",
             "conv2 reads a tensor nothing produces", fast=True),
        Case("undefined-output", "undefined_output.onnx", INPUT, "undefined-tensor",
             "the graph output is produced by no node", fast=True),
        Case("duplicate-producer", "duplicate_producer.onnx", INPUT, "duplicate-tensor",
             "two nodes write one tensor (strict shape inference passes it)", fast=True),
        Case("writes-graph-input", "writes_graph_input.onnx", INPUT, "duplicate-tensor",
             "a node writes the graph input's name", fast=True),
        Case("writes-initializer", "writes_initializer.onnx", INPUT, "duplicate-tensor",
             "a node writes an initializer's name", fast=True),
        Case("no-nodes", "no_nodes.onnx", INPUT, "empty-model", "a graph without nodes", fast=True),
        Case("no-data-input", "no_data_input.onnx", INPUT, "empty-model",
             "every graph input is an initializer", fast=True),
        Case("shape-only-output", "shape_only_output.onnx", INPUT, "empty-model",
             "the only output is Shape(input): no output carries the input's data", fast=True),
    ]


# ---------------------------------------------------------------------------
# Cases: dims

@_case
def _dims(models: Path) -> list:
    _save(cae(in_dims=(1, 1, 1_000_000, 1_000_000)), models / "input_1e6x1e6.onnx")
    _save(cae(in_dims=(1, 1, HUGE, 28)), models / "input_2_62.onnx")
    _save(cae(in_dims=(1, 1, HUGE, HUGE)), models / "input_2_62_squared.onnx")
    _save(cae(in_dims=(1, 1, 2**63 - 1, 1)), models / "input_int64_max.onnx")
    _save(cae(in_dims=(1, 1, -28, 28)), models / "input_negative_dim.onnx")
    _save(cae(in_dims=(1, 1, 0, 28)), models / "input_zero_dim.onnx")
    m = cae()
    m.graph.initializer.append(TensorProto(name="wraps", data_type=TensorProto.FLOAT, dims=[HUGE, HUGE, 4]))
    _save(m, models / "initializer_wraps_to_zero.onnx")
    m = cae()
    init = m.graph.initializer[0]
    init.dims[0] = -4
    _save(m, models / "initializer_negative_dim.onnx")
    m = cae()
    m.graph.value_info.append(_vi("c2", (1, -8, -14, -14)))
    _save(m, models / "value_info_negative.onnx")
    rank = (1, 1) + (2,) * 30
    _save(chain([("Relu", [], {})], in_dims=rank), models / "rank_32.onnx")
    _save(cae(in_dims=()), models / "rank_0.onnx")
    m = cae()
    m.graph.input[0].type.tensor_type.ClearField("shape")
    _save(m, models / "unknown_rank.onnx")
    m = cae()
    m.graph.input[0].type.CopyFrom(helper.make_sequence_type_proto(
        helper.make_tensor_type_proto(TensorProto.FLOAT, [1, 1, 28, 28])))
    _save(m, models / "sequence_input.onnx")
    m = cae()
    m.graph.input[0].ClearField("type")
    _save(m, models / "untyped_input.onnx")
    _save(cae(in_dims=("N", 1, "H", "W")), models / "symbolic_input.onnx")
    return [
        Case("pin-2^62", "symbolic_input.onnx", INPUT, "too-large-dims",
             "--input-shape pins a dim of 2^62", args=("--input-shape", f"input=1x1x{HUGE}x28"), fast=True),
        Case("pin-too-small", "symbolic_input.onnx", INPUT, "bad-dims",
             "--input-shape 1x1x1x1: the 2x2 pool leaves 0x0", args=("--input-shape", "input=1x1x1x1"), fast=True),
        Case("pin-wrong-rank", "symbolic_input.onnx", INPUT, "bad-input-shape",
             "--input-shape of rank 3 for a rank-4 input", args=("--input-shape", "input=1x28x28"), fast=True),
        Case("pin-ok", "symbolic_input.onnx", CLEAN, None, "--input-shape 1x1x28x28 on the symbolic input",
             args=("--input-shape", "input=1x1x28x28"), fast=True),
        Case("input-1e6x1e6", "input_1e6x1e6.onnx", CLEAN, None,
             "a 1x1x1000000x1000000 input: shapes are Python ints, nothing is allocated; analysed",
             fast=True, verify="refuse before running: ~4 TB of activations is over --max-memory"),
        Case("input-2^62", "input_2_62.onnx", INPUT, "too-large-dims",
             "a dim of 2^62: 2^64 bytes is more than any runtime can address", fast=True),
        Case("input-2^62-squared", "input_2_62_squared.onnx", INPUT, "too-large-dims",
             "2^62 x 2^62: numpy.prod would wrap; Python ints do not", fast=True),
        Case("input-int64-max", "input_int64_max.onnx", INPUT, "too-large-dims", "a dim of 2^63-1", fast=True),
        Case("input-negative-dim", "input_negative_dim.onnx", INPUT, "bad-dims", "an input dim of -28", fast=True),
        Case("input-zero-dim", "input_zero_dim.onnx", INPUT, "bad-dims", "an input dim of 0", fast=True),
        Case("initializer-wraps-to-zero", "initializer_wraps_to_zero.onnx", INPUT, "too-large-dims",
             "an initializer of dims 2^62 x 2^62 x 4, whose numpy.prod wraps to 0", fast=True),
        Case("initializer-negative-dim", "initializer_negative_dim.onnx", INPUT, "bad-dims",
             "a weight with dims [-4, 1, 3, 3] (check_model passes it)", fast=True),
        Case("value-info-negative", "value_info_negative.onnx", CLEAN, None,
             "negative dims in value_info are ignored: symcheck infers that tensor itself", fast=True),
        Case("rank-32", "rank_32.onnx", CLEAN, None, "a rank-32 input through a Relu", fast=True),
        Case("rank-0", "rank_0.onnx", INPUT, "bad-dims", "a scalar input into a Conv: no spatial axes",
             fast=True),
        Case("unknown-rank", "unknown_rank.onnx", CLEAN, None,
             "an input without a shape: nothing to infer, analysed as far as it goes", fast=True),
        Case("sequence-input", "sequence_input.onnx", CLEAN, None,
             "a sequence-typed input: no tensor shape, analysed as far as it goes", fast=True),
        Case("untyped-input", "untyped_input.onnx", CLEAN, None, "an input without a type", fast=True),
    ]


# ---------------------------------------------------------------------------
# Cases: bombs (shapes that would need terabytes; nothing may be allocated)

@_case
def _bombs(models: Path) -> list:
    def bomb(shape, name, op="ConstantOfShape"):
        """A side output of ``shape`` (the model's own output stays 1x1x28x28)."""
        shape_init = numpy_helper.from_array(np.array(shape, np.int64), "bomb_shape")
        one = numpy_helper.from_array(np.ones([1] * len(shape), np.float32), "one")
        if op == "ConstantOfShape":
            node = helper.make_node("ConstantOfShape", ["bomb_shape"], ["bomb"], name="bomb",
                                    value=numpy_helper.from_array(np.array([1.0], np.float32)))
        elif op == "Expand":
            node = helper.make_node("Expand", ["one", "bomb_shape"], ["bomb"], name="bomb")
        else:  # Tile of the model's output
            node = helper.make_node("Tile", ["output", "bomb_shape"], ["bomb"], name="bomb")
        m = cae(extra_nodes=[node], extra_inits=[shape_init, one])
        m.graph.output.append(_vi("bomb", None))
        _save(m, models / name)

    bomb([1, 1, 1_000_000, 1_000_000], "constantofshape_bomb.onnx")
    bomb([1_000_000, 1_000_000, 1_000_000], "constantofshape_bomb_1e18.onnx")
    bomb([HUGE, HUGE, 4], "constantofshape_wraps.onnx")
    bomb([1, 1, 1_000_000, 1_000_000], "expand_bomb.onnx", op="Expand")
    bomb([1, 1, 10**9, 10**9], "tile_bomb.onnx", op="Tile")
    rng = helper.make_node("Range", ["zero", "limit", "one"], ["idx"], name="range_bomb")
    m = cae(extra_nodes=[rng], extra_inits=[numpy_helper.from_array(np.array(0, np.int64), "zero"),
                                           numpy_helper.from_array(np.array(HUGE, np.int64), "limit"),
                                           numpy_helper.from_array(np.array(1, np.int64), "one")])
    m.graph.output.append(_vi("idx", None, TensorProto.INT64))
    _save(m, models / "range_bomb.onnx")
    # Loop with a constant trip count of 2^62
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Relu", ["v_in"], ["v_out"])],
        "body", [_vi("iter", [], TensorProto.INT64), _vi("cond_in", [], TensorProto.BOOL), _vi("v_in", None)],
        [_vi("cond_out", [], TensorProto.BOOL), _vi("v_out", None)])
    loop = helper.make_node("Loop", ["trips", "", "output_pre"], ["output"], name="loop_bomb", body=body)
    m = cae(names={"output": "output_pre"}, extra_nodes=[loop], output="output",
            extra_inits=[numpy_helper.from_array(np.array(HUGE, np.int64), "trips")])
    _save(m, models / "loop_bomb.onnx")
    resize = {}
    for label, scale in (("inf", np.inf), ("nan", np.nan), ("1e30", 1e30), ("zero", 0.0), ("negative", -2.0)):
        m = cae()
        scales = next(i for i in m.graph.initializer if i.name == "scales")
        scales.CopyFrom(numpy_helper.from_array(np.array([1, 1, scale, scale], np.float32), "scales"))
        resize[label] = f"resize_scale_{label}.onnx"
        _save(m, models / resize[label])
    pad = helper.make_node("Pad", ["output_pre", "pads"], ["output"], name="pad_bomb")
    m = cae(names={"output": "output_pre"}, extra_nodes=[pad], output="output",
            extra_inits=[numpy_helper.from_array(np.array([0, 0, HUGE, HUGE, 0, 0, HUGE, HUGE], np.int64), "pads")])
    _save(m, models / "pad_bomb.onnx")
    # shape-value bombs: growth of Python ints, symbolic expressions and value lists
    def value_bomb(name, steps, op, start):
        nodes = [helper.make_node("Shape", ["input"], ["shp"], name="shape"),
                 helper.make_node("Gather", ["shp", "two"], ["v0"], name="gather", axis=0)]
        if start == "sum":
            nodes += [helper.make_node("Gather", ["shp", "three"], ["w"], name="gather_w", axis=0),
                      helper.make_node("Add", ["v0", "w"], ["v0s"], name="sum")]
            prev = "v0s"
        else:
            prev = "v0"
        for i in range(steps):
            nodes.append(helper.make_node(op, [prev, prev if op != "Pow" else "big"], [f"v{i + 1}"],
                                          name=f"grow{i}"))
            prev = f"v{i + 1}"
        nodes.append(helper.make_node("Cast", [prev], ["grown"], name="cast", to=TensorProto.FLOAT))
        nodes.append(helper.make_node("Mul", ["output_pre", "grown"], ["output"], name="use"))
        m = cae(in_dims=(1, 1, "H", "W"), out_dims=(1, 1, "H", "W"), names={"output": "output_pre"},
                extra_nodes=nodes, output="output",
                extra_inits=[numpy_helper.from_array(np.array(2, np.int64), "two"),
                             numpy_helper.from_array(np.array(3, np.int64), "three"),
                             numpy_helper.from_array(np.array(HUGE, np.int64), "big")])
        _save(m, models / name)

    value_bomb("square_bomb_symbolic.onnx", 40, "Mul", "symbol")
    value_bomb("square_bomb_polynomial.onnx", 30, "Mul", "sum")
    value_bomb("pow_bomb.onnx", 3, "Pow", "symbol")
    m = cae(extra_nodes=[helper.make_node("Pow", ["two_i", "big_i"], ["p"], name="pow_const"),
                         helper.make_node("Mul", ["p", "p"], ["p2"], name="pow_square")],
            extra_inits=[numpy_helper.from_array(np.array([2], np.int64), "two_i"),
                         numpy_helper.from_array(np.array([HUGE], np.int64), "big_i")])
    m.graph.output.append(_vi("p2", None, TensorProto.INT64))
    _save(m, models / "pow_bomb_constant.onnx")
    g_nodes = [helper.make_node("Shape", ["input"], ["g0"], name="shape")]
    g_nodes += [helper.make_node("Gather", [f"g{i}", "idx4096"], [f"g{i + 1}"], name=f"gather{i}", axis=0)
                for i in range(8)]
    g_nodes += [helper.make_node("Concat", [f"g{i}" for i in range(1, 9)] * 300, ["gc"], name="concat_all", axis=0)]
    m = cae(extra_nodes=g_nodes,
            extra_inits=[numpy_helper.from_array(np.zeros(4096, np.int64), "idx4096")])
    m.graph.output.append(_vi("gc", None, TensorProto.INT64))
    _save(m, models / "gather_value_bomb.onnx")
    _save(chain([("Flatten", [], {"axis": 0}), ("Relu", [], {})], in_dims=["N", 1] + [f"S{i}" for i in range(8)]),
          models / "flatten_symbolic_rank10.onnx")
    # onnx's own shape inference (symcheck's fallback) materialises a 2^31-element
    # constant that declares 2^31 dims over 8 bytes: found by atheris on the Keras sample
    m = onnx.load_from_string((Path(__file__).resolve().parent.parent / "samples" / "keras_cae.onnx").read_bytes())
    init = next(i for i in m.graph.initializer if i.name.endswith("up_sampling2d_2_1/Repeat/concat/values_1__10"))
    init.dims[0] = 2**31
    _save(m, models / "onnx_inference_bomb.onnx")
    return [
        Case("onnx-inference-bomb", "onnx_inference_bomb.onnx", CLEAN, None,
             "the Keras sample with one shape constant declaring 2^31 elements over 8 bytes: onnx's shape "
             "inference (symcheck's fallback) takes GBs on it, so it runs in a child under a 1 GiB limit"),
        Case("square-bomb-symbolic", "square_bomb_symbolic.onnx", CLEAN, None,
             "H squared 40 times through Mul on shape values (H^(2^40)): the value is dropped once large",
             fast=True),
        Case("square-bomb-polynomial", "square_bomb_polynomial.onnx", CLEAN, None,
             "(H+W) squared 30 times: 2^30 terms if kept; dropped once large", fast=True),
        Case("pow-bomb", "pow_bomb.onnx", CLEAN, None, "H ** 2^62 on shape values: never evaluated", fast=True),
        Case("pow-bomb-constant", "pow_bomb_constant.onnx", CLEAN, None,
             "2 ** 2^62 on constants: never evaluated (Python would compute it for ever)", fast=True),
        Case("gather-value-bomb", "gather_value_bomb.onnx", CLEAN, None,
             "Gathers of 4,096 indices and a 2,400-input Concat of shape values: values capped at 4,096",
             fast=True),
        Case("flatten-symbolic-rank-10", "flatten_symbolic_rank10.onnx", CLEAN, None,
             "Flatten of a rank-10 symbolic input into its product of 9 symbols", fast=True),
        Case("constantofshape-bomb", "constantofshape_bomb.onnx", CLEAN, None,
             "ConstantOfShape([1,1,1e6,1e6]) (4 TB): shape only, nothing allocated; analysed", fast=True,
             verify="refuse before running: predicted memory over --max-memory"),
        Case("constantofshape-bomb-1e18", "constantofshape_bomb_1e18.onnx", CLEAN, None,
             "ConstantOfShape of 10^18 floats: 4e18 bytes still fits int64; analysed", fast=True,
             verify="refuse before running: predicted memory over --max-memory"),
        Case("constantofshape-wraps", "constantofshape_wraps.onnx", INPUT, "too-large-dims",
             "ConstantOfShape([2^62, 2^62, 4]): numpy.prod wraps to 0; Python ints do not", fast=True),
        Case("expand-bomb", "expand_bomb.onnx", CLEAN, None, "Expand to 1e6 x 1e6: shape only; analysed",
             fast=True, verify="refuse before running: predicted memory over --max-memory"),
        Case("tile-bomb", "tile_bomb.onnx", INPUT, "too-large-dims",
             "Tile by 1e9 x 1e9 of a 28x28 map: 3e24 bytes", fast=True),
        Case("range-bomb", "range_bomb.onnx", INPUT, "too-large-dims", "Range(0, 2^62, 1) as an output", fast=True),
        Case("loop-bomb", "loop_bomb.onnx", CLEAN, None,
             "Loop with a constant trip count of 2^62: static analysis never runs it", fast=True,
             verify="with --verify-timeout 3: timeout in under 5 s and no child process left "
                    "(or refused before running from the constant trip count)"),
        Case("resize-scale-inf", resize["inf"], INPUT, "bad-dims",
             "Resize scales inf: onnx's inference (the fallback) gives size -2^63", fast=True),
        Case("resize-scale-nan", resize["nan"], INPUT, "bad-dims", "Resize scales NaN: the same", fast=True),
        Case("resize-scale-1e30", resize["1e30"], INPUT, "too-large-dims",
             "Resize scales 1e30: a 10^32-pixel map", fast=True),
        Case("resize-scale-zero", resize["zero"], INPUT, "bad-dims", "Resize scales 0: a 0x0 map", fast=True),
        Case("resize-scale-negative", resize["negative"], INPUT, "bad-dims", "Resize scales -2", fast=True),
        Case("pad-bomb", "pad_bomb.onnx", INPUT, "too-large-dims", "Pad by 2^62 on each side", fast=True),
    ]


# ---------------------------------------------------------------------------
# Cases: opsets, domains, nesting

@_case
def _opsets(models: Path) -> list:
    _save(cae(opset=99), models / "opset_99.onnx")
    _save(cae(opset=0), models / "opset_0.onnx")
    m = cae()
    m.ir_version = 99
    _save(m, models / "ir_99.onnx")
    custom = helper.make_node("Frobnicate", ["r2"], ["frob"], name="frob", domain="com.evil")
    m = cae(names={"r2": "r2"})
    m.graph.node[5].input[0] = "frob"
    m.graph.node.insert(5, custom)
    m.opset_import.append(helper.make_opsetid("com.evil", 1))
    _save(m, models / "unknown_domain_op.onnx")
    m2 = onnx.ModelProto()
    m2.CopyFrom(m)
    m2.graph.value_info.append(_vi("frob", (1, 8, 14, 14)))
    _save(m2, models / "unknown_domain_op_value_info.onnx")
    m = cae()
    m.graph.node[1].op_type = "NoSuchOp"
    _save(m, models / "unknown_default_domain_op.onnx")
    fn = helper.make_function("local", "Twice", ["x"], ["y"],
                              [helper.make_node("Relu", ["x"], ["y"])], [helper.make_opsetid("", 17)])
    m = cae()
    m.graph.node[1].op_type = "Twice"
    m.graph.node[1].domain = "local"
    m.opset_import.append(helper.make_opsetid("local", 1))
    m.functions.append(fn)
    _save(m, models / "local_function.onnx")
    # an If 10 deep on the data path
    inner = helper.make_graph([helper.make_node("Identity", ["output_pre"], ["y"])], "leaf", [], [_vi("y", None)])
    for i in range(10):
        node = helper.make_node("If", ["cond"], ["y"], name=f"if{i}", then_branch=inner, else_branch=inner)
        inner = helper.make_graph([node], f"g{i}", [], [_vi("y", None)])
    m = cae(names={"output": "output_pre"}, output="output",
            extra_nodes=[helper.make_node("If", ["cond"], ["output"], name="outer_if",
                                          then_branch=inner, else_branch=inner)],
            extra_inits=[numpy_helper.from_array(np.array(True), "cond")])
    _save(m, models / "nested_if_10.onnx")
    return [
        Case("opset-99", "opset_99.onnx", INPUT, "unsupported-opset",
             "ai.onnx opset 99 (check_model passes it): op semantics unknown, refused", fast=True),
        Case("opset-0", "opset_0.onnx", INPUT, "unsupported-opset", "ai.onnx opset 0", fast=True),
        Case("ir-version-99", "ir_99.onnx", CLEAN, None, "IR version 99: the graph is still read", fast=True),
        Case("unknown-domain-op", "unknown_domain_op.onnx", CLEAN, None,
             "a com.evil op on the data path: analysed, the op named as unknown, shapes after it unknown",
             fast=True),
        Case("unknown-domain-op-value-info", "unknown_domain_op_value_info.onnx", CLEAN, None,
             "the same with value_info for its output: shapes continue from the file", fast=True),
        Case("unknown-default-domain-op", "unknown_default_domain_op.onnx", CLEAN, None,
             "an ai.onnx op that does not exist", fast=True),
        Case("local-function", "local_function.onnx", CLEAN, None,
             "a model-local function used as an op: named as unknown", fast=True),
        Case("nested-if-10", "nested_if_10.onnx", CLEAN, None,
             "If 10 deep on the output: subgraphs are not walked", fast=True),
    ]


# ---------------------------------------------------------------------------
# Cases: bad attributes

@_case
def _attributes(models: Path) -> list:
    out = []

    def variant(name, mutate, exit=CLEAN, code=None, note=""):
        m = cae()
        mutate(m)
        _save(m, models / f"{name}.onnx")
        out.append(Case(name, f"{name}.onnx", exit, code, note, fast=True))

    def attr(m, node_name, key, value):
        node = next(n for n in m.graph.node if n.name == node_name)
        for a in list(node.attribute):
            if a.name == key:
                node.attribute.remove(a)
        node.attribute.append(helper.make_attribute(key, value))

    variant("conv-stride-zero", lambda m: attr(m, "conv1", "strides", [0, 0]), INPUT, "bad-attribute",
            "Conv strides [0, 0]")
    variant("pool-stride-negative", lambda m: attr(m, "pool1", "strides", [-2, -2]), INPUT, "bad-attribute",
            "MaxPool strides [-2, -2]")
    variant("conv-kernel-huge", lambda m: attr(m, "conv1", "kernel_shape", [HUGE, HUGE]), INPUT, "bad-dims",
            "Conv kernel 2^62 (its weight says 3x3): the output size would be negative")
    variant("pool-kernel-bigger-than-input", lambda m: attr(m, "pool1", "kernel_shape", [64, 64]), INPUT,
            "bad-dims", "a 64x64 pool on a 28x28 map: output size -17")
    variant("conv-kernel-string", lambda m: attr(m, "conv1", "kernel_shape", "3x3"), INPUT, "bad-attribute",
            "kernel_shape as a string")
    variant("conv-pads-wrong-length", lambda m: attr(m, "conv1", "pads", [1]), INPUT, "bad-attribute",
            "pads of length 1 for a 2-D conv")
    variant("pool-dilation-zero", lambda m: attr(m, "pool1", "dilations", [0, 0]), INPUT, "bad-attribute",
            "MaxPool dilations [0, 0]")
    variant("resize-mode-payload", lambda m: attr(m, "up1", "mode", EVIL), CLEAN, None,
            "Resize mode is a payload string")
    def bad_perm(m):
        m.graph.node.insert(2, helper.make_node("Transpose", ["r1"], ["r1t"], name="bad_transpose",
                                                perm=[0, 9, 2]))
        m.graph.node[3].input[0] = "r1t"

    variant("transpose-bad-perm", bad_perm, INPUT, "bad-attribute", "Transpose perm [0, 9, 2] on a rank-4 tensor")
    variant("conv-group-zero", lambda m: attr(m, "conv2", "group", 0), INPUT, "bad-attribute", "Conv group 0")
    variant("conv-kernel-contradicts-weight", lambda m: attr(m, "conv2", "kernel_shape", [5, 5]), INPUT,
            "bad-attribute", "kernel_shape 5x5 on a 3x3 weight")
    variant("conv-auto-pad-payload", lambda m: attr(m, "conv2", "auto_pad", EVIL), INPUT, "bad-attribute",
            "auto_pad is a payload string")
    return out


# ---------------------------------------------------------------------------
# Cases: large graphs (iterative algorithms)

@_case
def _large(models: Path) -> list:
    ops = [("Conv", ["w", "b"], dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1])),
           ("MaxPool", [], dict(kernel_shape=[2, 2], strides=[2, 2]))]
    ops += [("Relu", [], {})] * 4995
    ops += [("Resize", ["", "scales"], dict(mode="nearest")),
            ("Conv", ["w", "b"], dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1]))]
    inits = [_init("w", (1, 1, 3, 3)), _init("b", (1,)),
             numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")]
    _save(chain(ops, inits=inits), models / "chain_5000_relu.onnx")
    ops = [("Conv", ["w1x1", "b"], dict(kernel_shape=[1, 1]))] * 2500
    ops = [("MaxPool", [], dict(kernel_shape=[2, 2], strides=[2, 2]))] + ops[:2498] + \
        [("Resize", ["", "scales"], dict(mode="nearest"))]
    inits = [_init("w1x1", (1, 1, 1, 1)), _init("b", (1,)),
             numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")]
    _save(chain(ops, in_dims=(1, 1, 16, 16), inits=inits), models / "chain_2500_conv.onnx")
    # residual chain: x = x + conv(x), 2,500 times (5,000 nodes)
    nodes, prev = [], "input"
    for i in range(2500):
        nodes.append(helper.make_node("Conv", [prev, "w1x1", "b"], [f"c{i}"], name=f"conv{i}", kernel_shape=[1, 1]))
        nodes.append(helper.make_node("Add", [prev, f"c{i}"], [f"a{i}"], name=f"add{i}"))
        prev = f"a{i}"
    nodes.append(helper.make_node("Identity", [prev], ["output"], name="out"))
    g = helper.make_graph(nodes, "residual", [_vi("input", (1, 1, 16, 16))], [_vi("output", None)],
                          [_init("w1x1", (1, 1, 1, 1)), _init("b", (1,))])
    _save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), models / "residual_5000.onnx")
    # wide: 2,000 branches concatenated
    nodes = [helper.make_node("Relu", ["input"], [f"r{i}"], name=f"branch{i}") for i in range(2000)]
    nodes.append(helper.make_node("Concat", [f"r{i}" for i in range(2000)], ["output"], name="concat", axis=1))
    g = helper.make_graph(nodes, "wide", [_vi("input", (1, 1, 8, 8))], [_vi("output", None)])
    _save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), models / "wide_2000.onnx")
    return [
        Case("chain-5000-relu", "chain_5000_relu.onnx", CLEAN, None,
             "conv, pool, 4,995 Relus, resize, conv, Identity: 5,000 nodes; no recursion on depth"),
        Case("chain-2500-conv", "chain_2500_conv.onnx", CLEAN, None,
             "2,498 1x1 convs between a pool and a resize: 2,500 layers"),
        Case("residual-5000", "residual_5000.onnx", CLEAN, None, "x = x + conv(x) 2,500 times"),
        Case("wide-2000", "wide_2000.onnx", CLEAN, None, "2,000 Relu branches into one Concat"),
    ]


# ---------------------------------------------------------------------------
# Cases: external data (static analysis never opens it)

@_case
def _external(models: Path) -> list:
    root = models.parent
    canary = root / "canary.bin"
    ok = models / "weights_ok.bin"
    ok.write_bytes(np.zeros(36, np.float32).tobytes())
    os.symlink("../canary.bin", models / "weights_link.bin")
    os.symlink("..", models / "up")
    os.link(canary, models / "weights_hardlink.bin")
    os.mkfifo(models / "weights_fifo.bin")
    cases = []
    table = [
        ("ext-traversal", "../canary.bin", {}, "location ../canary.bin leaves the folder",
         "refused as unsafe external data (outside the model folder)"),
        ("ext-absolute", str(canary), {}, "an absolute location pointing at the canary",
         "refused as unsafe external data (absolute path)"),
        ("ext-symlink", "weights_link.bin", {}, "a symlink in the folder pointing at the canary",
         "refused as unsafe external data (symlink)"),
        ("ext-symlinked-dir", "up/canary.bin", {}, "a path through a symlinked directory",
         "refused as unsafe external data (symlink in a path component)"),
        ("ext-hardlink", "weights_hardlink.bin", {}, "a hard link to the canary (onnxruntime follows it)",
         "refused as unsafe external data (hard link, st_nlink > 1)"),
        ("ext-fifo", "weights_fifo.bin", {}, "external data in a FIFO",
         "refused as unsafe external data (not a regular file); must not block"),
        ("ext-dev-zero", "/dev/zero", {}, "external data from /dev/zero",
         "refused as unsafe external data (absolute, not a regular file)"),
        ("ext-missing", "no_such_weights.bin", {}, "external data that does not exist",
         "refuse or fail with one line: the file is missing"),
        ("ext-offset-past-end", "weights_ok.bin", {"offset": 1 << 40}, "offset 2^40 in a 144-byte file",
         "refused as unsafe external data (offset/length past the end)"),
        ("ext-length-past-end", "weights_ok.bin", {"length": 1 << 40}, "length 2^40 in a 144-byte file",
         "refused as unsafe external data (offset/length past the end)"),
        ("ext-directory", ".", {}, "external data location is the folder itself",
         "refused as unsafe external data (not a regular file)"),
        ("ext-nul", "weights_ok.bin\x00../canary.bin", {}, "a location with a NUL byte",
         "refused as unsafe external data"),
        ("ext-valid", "weights_ok.bin", {}, "valid external data in the folder (the control case)",
         "verify normally: weights read by symcheck, given to onnxruntime as initializers"),
    ]
    for name, location, extra, note, verify in table:
        m = _with_external(cae(), "w1", location, **extra)
        path = f"{name}.onnx"
        _save(m, models / path)
        cases.append(Case(name, path, CLEAN, None,
                          f"{note}: static analysis reads only the graph, never the data; analysed",
                          fast=True, verify=verify))
    return cases


# ---------------------------------------------------------------------------
# Cases: payload strings in every string field

@_case
def _payloads(models: Path) -> list:
    cases = []

    def payload_case(name, model, field, note, exit=CLEAN):
        _save(model, models / f"{name}.onnx")
        cases.append(Case(name, f"{name}.onnx", exit, None, note, fast=True, payload=field))

    m = cae()
    m.producer_name = EVIL
    m.producer_version = EVIL
    m.domain = EVIL
    m.doc_string = EVIL
    m.graph.doc_string = EVIL
    payload_case("payload-producer", m, "producer", "producer name/version, domain, doc strings")
    m = cae(graph_name=EVIL)
    payload_case("payload-graph-name", m, "graph", "graph name")
    names = {"conv1": "conv1" + EVIL, "pool1": "pool1" + EVIL, "up1": "up1" + EVIL, "conv3": "conv3" + EVIL}
    payload_case("payload-node-names", cae(names=names), "layer", "node names (= layer names)")
    m = cae(names={k: k + EVIL for k in ("c1", "r1", "p1", "c2", "r2", "u1", "c3", "w1", "b1", "scales")})
    payload_case("payload-tensor-names", m, "tensor", "intermediate tensor and initializer names")
    m = cae(names={"input": "in" + EVIL, "output": "out" + EVIL})
    payload_case("payload-io-names", m, "io", "graph input and output names")
    m = cae(in_dims=(EVIL, 1, "H" + EVIL, "W" + EVIL), out_dims=(EVIL, 1, "H" + EVIL, "W" + EVIL))
    payload_case("payload-dim-param", m, "dim", "symbolic dim names (dim_param)")
    m = cae(in_dims=("N", 1, "__import__('os').system('touch PWNED')", "x"),
            out_dims=("N", 1, "__import__('os').system('touch PWNED')", "x"))
    payload_case("payload-dim-param-code", m, "dim", "dim_params that look like Python code, and one named x")
    m = cae()
    for node in m.graph.node:
        node.metadata_props.add(key="pkg.torch.onnx.name_scopes", value=repr(["", "enc" + EVIL, "conv"]))
        node.doc_string = EVIL
    m.producer_name = "pytorch"
    m.metadata_props.add(key=EVIL, value=EVIL)
    payload_case("payload-metadata", m, "metadata", "dynamo-style name_scopes metadata and model metadata")
    m = cae()
    m.producer_name = "pytorch"
    for node in m.graph.node:
        node.metadata_props.add(key="pkg.torch.onnx.name_scopes", value="[" * 100_000 + "]" * 100_000)
    payload_case("payload-metadata-nesting", m, "metadata",
                 "name_scopes metadata nested 100,000 deep (ast.literal_eval would recurse)")
    m = cae()
    m.producer_name = "tf2onnx"
    for node in m.graph.node:
        node.name = f"model/{EVIL}{node.name}/op"
    payload_case("payload-tf2onnx-scopes", m, "layer", "tf2onnx-style scope names")
    m = cae()
    custom = helper.make_node(EVIL, ["r2"], ["frob"], name="custom", domain=EVIL, evil=EVIL)
    m.graph.node[5].input[0] = "frob"
    m.graph.node.insert(5, custom)
    m.opset_import.append(helper.make_opsetid(EVIL, 1))
    payload_case("payload-op-type", m, "op", "an op type, domain and attribute that are payloads")
    long = "L" * 1_000_000
    m = cae(names={"conv1": long, "conv2": long + "2", "input": "in" + long})
    m.producer_name = long
    payload_case("payload-long-names", m, "long", "1,000,000-character names: the text report shortens them")
    m = cae(in_dims=("N", 1, "H" * 100_000, "W"), out_dims=("N", 1, "H" * 100_000, "W"))
    m.graph.value_info.append(_vi("p1", ("N", 4, "P" * 100_000, "Q")))
    payload_case("payload-long-dim-param", m, "long", "100,000-character dim_params")
    return cases


@_case
def _file_names(models: Path) -> list:
    valid = "evil\x1b[31m\u202e\nname.onnx"
    _save(cae(), models / valid)
    invalid = "evil\x1b[31m\u202e\nbroken.onnx"
    (models / invalid).write_bytes(b"garbage")
    return [
        Case("payload-file-name", valid, CLEAN, None,
             "a valid model whose file name has ANSI, bidi and a newline", fast=True, payload="path"),
        Case("payload-file-name-error", invalid, INPUT, "not-onnx",
             "a broken file with the same name: the error stays one inert line", fast=True, payload="path"),
    ]


# ---------------------------------------------------------------------------

def build_corpus(root: Path) -> list:
    """Write every case under ``root`` (which must be empty or missing); return the table."""
    root = Path(root)
    models = root / "models"
    models.mkdir(parents=True)
    (root / "canary.bin").write_text((CANARY_TEXT + "\n") * 100)
    cases: list = []
    for build in _BUILDERS:
        cases.extend(build(models))
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "duplicate case names"
    return cases


def case_path(root: Path, case: Case) -> str:
    return str(Path(root) / "models" / case.file) if case.file else str(Path(root) / "models")


def table(cases: list) -> str:
    """The corpus as a markdown table."""
    rows = ["| case | exit | code | static behaviour | verification |", "|---|---|---|---|---|"]
    for c in cases:
        rows.append(f"| {c.name} | {c.exit} | {c.code or '-'} | {c.note} | {c.verify or '-'} |")
    return "\n".join(rows)


# ---------------------------------------------------------------------------
# Mutations for fuzzing (tests/test_fuzz.py, fuzz/atheris_harness.py)

def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """One of: flip bits, overwrite bytes, insert, delete, duplicate a chunk, truncate."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        how = rng.randrange(6)
        at = rng.randrange(len(buf)) if buf else 0
        if how == 0 and buf:
            buf[at] ^= 1 << rng.randrange(8)
        elif how == 1 and buf:
            for i in range(at, min(at + rng.randint(1, 8), len(buf))):
                buf[i] = rng.choice([0, 0xFF, 0x7F, 0x80, rng.randrange(256)])
        elif how == 2:
            buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif how == 3 and buf:
            del buf[at:at + rng.randint(1, 64)]
        elif how == 4 and buf:
            chunk = buf[at:at + rng.randint(1, 256)]
            buf[at:at] = chunk
        else:
            del buf[at:]
    return bytes(buf)


INTERESTING = [0, 1, -1, 2, 3, 7, 64, 2**31 - 1, 2**31, 2**62, 2**63 - 1, -(2**63)]


def mutate_fields(model: onnx.ModelProto, rng: random.Random) -> onnx.ModelProto:
    """Structural mutations: attribute ints, dims, names, wiring, op types, opsets."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    graph = m.graph
    nodes = list(graph.node)
    for _ in range(rng.randint(1, 3)):
        how = rng.randrange(9)
        if how == 0 and nodes:  # an attribute int / ints
            node = rng.choice(nodes)
            ints = [a for a in node.attribute if a.type in (onnx.AttributeProto.INT, onnx.AttributeProto.INTS)]
            if ints:
                attr = rng.choice(ints)
                if attr.type == onnx.AttributeProto.INT:
                    attr.i = rng.choice(INTERESTING)
                elif attr.ints:
                    attr.ints[rng.randrange(len(attr.ints))] = rng.choice(INTERESTING)
                    if rng.random() < 0.3:
                        attr.ints.append(rng.choice(INTERESTING))
        elif how == 1 and graph.input:  # an input dim
            dims = graph.input[0].type.tensor_type.shape.dim
            if dims:
                dim = dims[rng.randrange(len(dims))]
                if rng.random() < 0.5:
                    dim.dim_value = rng.choice(INTERESTING[:10])
                else:
                    dim.dim_param = rng.choice(["H", "W", "x", "?", "", "a b", "\x1b[31m"])
        elif how == 2 and graph.initializer:  # an initializer dim or its int data
            init = rng.choice(list(graph.initializer))
            if init.dims:
                init.dims[rng.randrange(len(init.dims))] = rng.choice(INTERESTING)
        elif how == 3 and nodes:  # rewire an input
            node = rng.choice(nodes)
            if node.input:
                names = [o for n in nodes for o in n.output] + [i.name for i in graph.input] + ["ghost"]
                node.input[rng.randrange(len(node.input))] = rng.choice(names)
        elif how == 4 and nodes:  # delete a node
            graph.node.remove(rng.choice(list(graph.node)))
            nodes = list(graph.node)
        elif how == 5 and nodes:  # change an op type
            rng.choice(nodes).op_type = rng.choice(
                ["Relu", "Conv", "MaxPool", "Resize", "Reshape", "Transpose", "Concat", "If", "Nope", ""])
        elif how == 6 and len(nodes) > 1:  # duplicate a node (two producers)
            graph.node.append(rng.choice(nodes))
        elif how == 7:
            for entry in m.opset_import:
                entry.version = rng.choice([0, 1, 7, 11, 13, 17, 20, 99])
        elif how == 8 and nodes:  # int tensor values (reshape targets, pads, scales)
            consts = [i for i in graph.initializer if i.data_type == TensorProto.INT64 and 0 < np.prod(i.dims) < 64]
            if consts:
                init = rng.choice(consts)
                values = numpy_helper.to_array(init).copy().reshape(-1)
                values[rng.randrange(values.size)] = rng.choice(INTERESTING)
                init.CopyFrom(numpy_helper.from_array(values.reshape(tuple(init.dims)), init.name))
    return m



# ---------------------------------------------------------------------------
# Running the corpus: one child process, every case through the real CLI

#: Audit events recorded while the CLI runs.
AUDITED = ("open", "os.listdir", "os.scandir", "os.open")


def run_corpus(root: Path, cases: list, static_args: list, audit: bool = True,
               per_case_timeout: int = 30) -> dict:
    """Run ``symcheck`` (``symcheck.cli.main``) on every case in this process.

    Per case: exit code, stdout and stderr captured at the file-descriptor level
    (so C++ writes to fd 2 are caught), wall time, peak RSS so far, and every
    path opened while it ran (``sys.addaudithook``). Last, one multi-file JSON
    run over every case. Meant to run in a fresh child process
    (``python -m tests.hostile --run ROOT OUT``).
    """
    import resource
    import signal
    import tempfile
    import time

    from symcheck.cli import main

    opened: list = []
    recording = [False]

    def hook(event, args):
        if recording[0] and event in AUDITED and args and isinstance(args[0], (str, bytes)):
            opened.append((event, os.fsdecode(args[0])))

    if audit:
        sys.addaudithook(hook)

    def alarm(signum, frame):
        raise TimeoutError("case did not finish in time")

    signal.signal(signal.SIGALRM, alarm)

    def invoke(args: list) -> dict:
        out_file, err_file = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(out_file.fileno(), 1)
        os.dup2(err_file.fileno(), 2)
        del opened[:]
        code, hung = None, False
        start = time.perf_counter()
        recording[0] = True
        signal.alarm(per_case_timeout)
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        except TimeoutError:
            hung = True
        except BaseException as exc:  # noqa: BLE001 - recorded, the test fails on it
            code = f"escaped {type(exc).__name__}: {exc}"
        finally:
            signal.alarm(0)
            recording[0] = False
            elapsed = time.perf_counter() - start
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        out_file.seek(0)
        err_file.seek(0)
        return {"exit": code, "hung": hung, "elapsed": elapsed,
                "stdout": out_file.read().decode("utf-8", "replace"),
                "stderr": err_file.read().decode("utf-8", "replace"),
                "opened": sorted(set(opened)),
                "maxrss_mb": peak_rss_mb()}

    def peak_rss_mb() -> float:
        """This process image's peak RSS: VmHWM (ru_maxrss carries the parent's over fork)."""
        try:
            with open("/proc/self/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    baseline = peak_rss_mb()
    results = {}
    for case in cases:
        results[case.name] = invoke([case_path(root, case), *static_args, *case.args])
    everything = [case_path(root, c) for c in cases if not c.args]
    results["__all_json__"] = invoke([*everything, *static_args, "--format", "json"])
    return {"baseline_mb": baseline, "cases": results, "paths": everything}


def _run_main(argv: list) -> None:
    """``--run ROOT CASES.json OUT.json [static args...]``: run a built corpus."""
    import json

    root, table_file, out = Path(argv[0]), Path(argv[1]), Path(argv[2])
    cases = [Case(name, file, 0, None, "", tuple(args))
             for name, file, args in json.loads(table_file.read_text())]
    out.write_text(json.dumps(run_corpus(root, cases, argv[3:])))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--run"]:
        _run_main(sys.argv[2:])
    else:
        target = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile-corpus")
        print(table(build_corpus(target)))
