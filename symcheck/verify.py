"""Verification: prove the inferred shapes by running the model in onnxruntime.

``verify(analysis)`` exposes the output tensor of every logical layer as an
extra graph output (on serialized bytes; the user's file and the in-memory
model are never changed), runs the model on seeded random input in a child
process, and compares each layer's actual shape with the inferred one, in
canonical ``(N, C, *spatial)`` layout. Where the input's spatial dims are
symbolic it runs at a size predicted to round-trip and one predicted not to
(or at ``sizes``), and checks the SC104 prediction at each.

The run is bounded before and while it happens:

* memory: the activations (every layer output stays alive, since all are
  fetched), the largest static intermediate tensor (a ConstantOfShape bomb)
  and the weights are estimated with Python integers; above ``max_memory``
  the run is refused without starting;
* external data: every location is validated and the bytes are read by
  handed to the child as open descriptors (:func:`_external_weights`),
  which gives them to onnxruntime as initializers; onnxruntime never gets a
  path;
* time: the child runs in its own process group and is killed with it after
  ``timeout`` seconds;
* onnxruntime: CPU provider, graph optimisation off (with it on, every marked
  output gets a reorder node and session creation grows superlinearly), a
  fixed thread count.

* memory while running: the child caps its own address space
  (``RLIMIT_AS``) at its start-up mappings plus :func:`memory_budget`, so a
  tensor the estimate could not see (sized from input values, or grown by a
  loop) fails to allocate instead of exhausting the machine;
* loops: a Loop whose constant trip count times its body's nodes exceeds
  :data:`MAX_LOOP_STEPS` is refused before anything runs.

``attach(analysis, verification)`` stores the result on the analysis and adds
an SC901 error finding per disagreement. A model that onnxruntime cannot load
or run, a refused run and a timeout are a ``status`` with a one-line
``reason``, never an exception and never a finding.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from .dims import Expr
from .limits import DEFAULT_MAX_MEMORY, DEFAULT_TIMEOUT, memory_text
from .proto import AttributeProto, GraphProto, ModelProto, TensorProto, ValueInfoProto
from .shapes import tensor_from_proto

#: The spatial size fed to a symbolic input when SC104 offers no better one.
DEFAULT_SIZE = 32
#: Seed of the random input.
SEED = 0
#: Layers not worked out statically that the text report names (the first ones
#: along the graph; the ones after usually inherit the same unknown dim).
UNCONFIRMED_SHOWN = 3

CHILD_SCRIPT = Path(__file__).with_name("_verify_child.py")
_MARKERS = ("input", "output")
_FEEDABLE = {"float16", "float32", "float64", "int8", "int16", "int32", "int64",
             "uint8", "uint16", "uint32", "uint64", "bool"}


# ---------------------------------------------------------------------------
# Records

def _dims_text(shape: Optional[Sequence]) -> str:
    """``1×16×14×14``; ``?`` when there is no shape."""
    if shape is None:
        return "?"
    return "×".join(str(d) for d in shape) or "scalar"


def _size_text(sizes: Sequence) -> str:
    """``28`` when every axis agrees, else ``28×30``."""
    values = list(sizes)
    if values and all(v == values[0] for v in values):
        return str(values[0])
    return "×".join(str(v) for v in values)


@dataclass(frozen=True)
class LayerCheck:
    """One layer's shape in one run: inferred (evaluated at the run's input) and actual.

    Shapes are in the user's layout, batch included. An inferred dim symcheck
    could not evaluate (a symbol nothing in the model determines, such as
    ``?pad3``, not one of the inputs' dims) stays a string: it cannot disagree,
    and it cannot be confirmed either. ``result`` is ``agrees`` (every dim
    worked out and equal to onnxruntime's), ``disagrees`` (a worked-out dim or
    the rank differs, or there is no tensor) or ``unconfirmed`` (the worked-out
    dims agree, some dim was not worked out); ``ok`` is ``result == "agrees"``.
    """

    layer: str
    at: tuple  # the run's input spatial size, canonical order, e.g. (28, 28)
    inferred: Optional[tuple]
    actual: Optional[tuple]  # None when onnxruntime did not produce the tensor
    result: str

    @property
    def ok(self) -> bool:
        return self.result == "agrees"

    def message(self) -> str:
        actual = "no tensor" if self.actual is None else _dims_text(self.actual)
        if self.result == "unconfirmed":
            return (f"{self.layer}: inferred {_dims_text(self.inferred)}, not worked out; "
                    f"onnxruntime gives {actual} (input {_dims_text(self.at)})")
        return (f"{self.layer}: inferred {_dims_text(self.inferred)}, onnxruntime gives "
                f"{actual} (input {_dims_text(self.at)})")

    def to_dict(self) -> dict:
        return {"layer": self.layer, "at": list(self.at),
                "inferred": None if self.inferred is None else list(self.inferred),
                "actual": None if self.actual is None else list(self.actual), "ok": self.ok,
                "result": self.result}


@dataclass(frozen=True)
class RoundTripCheck:
    """SC104's prediction for one input size against the output onnxruntime gives.

    ``predicted`` holds per spatial axis an int, ``"invalid"`` (the model cannot
    run at that size) or None (no prediction). ``held`` is None when there was
    nothing to compare.
    """

    size: int
    predicted: tuple
    round_trips: Optional[bool]  # predicted to give back its input size
    actual: Optional[tuple]  # output spatial size; None when the run failed
    held: Optional[bool]
    error: str = ""

    def text(self) -> str:
        if all(isinstance(p, int) for p in self.predicted):
            want = _size_text(self.predicted)
        elif "invalid" in self.predicted:
            want = "no output (the model cannot run)"
        else:
            want = "nothing"
        got = _size_text(self.actual) if self.actual is not None else "an error"
        mark = {True: " ✓", False: " ✗", None: ""}[self.held]
        return f"round-trip at {self.size}: predicted {want}, got {got}{mark}"

    def message(self, output: str) -> str:
        got = _size_text(self.actual) if self.actual is not None else f"an error ({self.error})"
        if "invalid" in self.predicted:
            return (f"{output}: SC104 predicted that the model cannot run at input {self.size}, "
                    f"onnxruntime gives {got}")
        return (f"{output}: SC104 predicted an output of {_size_text(self.predicted)} for input "
                f"{self.size}, onnxruntime gives {got}")

    def to_dict(self) -> dict:
        return {"size": self.size, "predicted": list(self.predicted),
                "round_trips": self.round_trips,
                "actual": None if self.actual is None else list(self.actual),
                "held": self.held, "error": self.error or None}


@dataclass(frozen=True)
class RunRecord:
    """One onnxruntime run: the input size asked for, the analysed input's shape fed, any error."""

    size: Optional[int]  # None: the analysed (static) size
    input_shape: tuple  # file layout
    error: str = ""

    def to_dict(self) -> dict:
        return {"size": self.size, "input_shape": list(self.input_shape),
                "error": self.error or None}


@dataclass(frozen=True)
class Verification:
    """What running the model in onnxruntime showed.

    ``status`` is ``verified`` (every layer's shape worked out and agreed),
    ``disagreement`` (an inferred shape or a round-trip prediction is wrong),
    ``unconfirmed`` (no disagreement, but a layer had a dim symcheck could not
    work out, so its shape was not proven), ``failed`` (onnxruntime could
    not load or run the model), ``refused`` (over the memory bound, or a model
    verification cannot feed) or ``timeout``; ``reason`` is one line for the
    last three.
    """

    status: str
    reason: str = ""
    layers: tuple = field(default=(), repr=False)  # LayerCheck, per run and layer
    round_trips: tuple = ()  # RoundTripCheck, per symbolic run
    runs: tuple = field(default=(), repr=False)  # RunRecord
    output: str = ""  # name of the analysed output, for messages
    unchecked: tuple = ()  # layers without an inferred shape or tensor to compare
    memory_estimate: Optional[int] = None
    max_memory: int = DEFAULT_MAX_MEMORY
    notes: tuple = ()
    onnxruntime: str = ""
    seconds: float = field(default=0.0, compare=False)  # wall time, not reported

    @property
    def checked(self) -> int:
        """Layers compared in at least one run."""
        return len({c.layer for c in self.layers})

    @property
    def agreeing(self) -> int:
        """Layers whose every dim was worked out and agreed, in every run."""
        bad = {c.layer for c in self.layers if not c.ok}
        return self.checked - len(bad)

    @property
    def unconfirmed(self) -> int:
        """Layers that disagreed in no run but had a dim symcheck could not work out in one."""
        wrong = {c.layer for c in self.layers if c.result == "disagrees"}
        return len({c.layer for c in self.layers if c.result == "unconfirmed"} - wrong)

    def disagreements(self) -> list:
        """``(layer, message)`` per disagreeing layer (first run only) and missed round-trip."""
        out = [(check.layer, check.message()) for check in self._first("disagrees")]
        for rt in self.round_trips:
            if rt.held is False and rt.actual is not None:
                out.append((self.output, rt.message(self.output)))
        return out

    def _sizes_text(self) -> str:
        ats = []
        for check in self.layers:
            text = "×".join(str(d) for d in check.at)
            if text and text not in ats:
                ats.append(text)
        if not ats:
            return ""
        return " at " + (f"{', '.join(ats[:-1])} and {ats[-1]}" if len(ats) > 1 else ats[0])

    def text_lines(self) -> list:
        """The report's verification block (model-supplied names cleaned).

        ``verified 13/13 layer shapes in onnxruntime at 28×28``, then one line
        per disagreement and per round-trip check; a run that did not happen
        or failed is one ``verification failed|refused|timed out: REASON`` line
        (followed by what the runs that worked showed).
        """
        from .render.text import clean

        lines = []
        if self.status in ("failed", "refused", "timeout"):
            word = {"timeout": "timed out"}.get(self.status, self.status)
            lines.append(f"verification {word}: {clean(self.reason, 400)}")
        if self.layers:
            head = f"verified {self.agreeing}/{self.checked} layer shapes in onnxruntime{self._sizes_text()}"
            unsure = self.unconfirmed
            wrong = self.checked - self.agreeing - unsure
            if wrong:
                head += f"; {wrong} disagree" + ("s" if wrong == 1 else "")
            if unsure:
                head += f"; {unsure} not worked out statically"
            if self.unchecked:
                head += f" ({len(self.unchecked)} without a shape to compare)"
            lines.append(head)
            lines += [f"  {clean(check.message(), 400)}" for check in self._first("disagrees")]
            unsure_checks = self._first("unconfirmed")
            lines += [f"  {clean(check.message(), 400)}" for check in unsure_checks[:UNCONFIRMED_SHOWN]]
            if len(unsure_checks) > UNCONFIRMED_SHOWN:
                lines.append(f"  and {len(unsure_checks) - UNCONFIRMED_SHOWN} more not worked out "
                             "(the JSON report lists every layer)")
        elif self.status in ("verified", "disagreement", "unconfirmed"):
            lines.append("verified 0/0 layer shapes in onnxruntime (no layer had a shape to compare)")
        lines += [f"  {rt.text()}" for rt in self.round_trips]
        lines += [f"  note: {clean(n, 300)}" for n in self.notes]
        return lines

    def _first(self, result: str) -> list:
        """The first check with ``result`` of each layer; an unconfirmed layer only when
        it disagrees in no run."""
        seen = {c.layer for c in self.layers if c.result == "disagrees"} if result != "disagrees" else set()
        out = []
        for check in self.layers:
            if check.result == result and check.layer not in seen:
                seen.add(check.layer)
                out.append(check)
        return out

    def to_dict(self) -> dict:
        return {
            "status": self.status,
            "reason": self.reason or None,
            "onnxruntime": self.onnxruntime or None,
            "layers_checked": self.checked,
            "layers_agreeing": self.agreeing,
            "layers_unconfirmed": self.unconfirmed,
            "unchecked": list(self.unchecked),
            "runs": [r.to_dict() for r in self.runs],
            "layers": [c.to_dict() for c in self.layers],
            "round_trips": [rt.to_dict() for rt in self.round_trips],
            "memory_estimate": self.memory_estimate,
            "max_memory": self.max_memory,
            "notes": list(self.notes),
        }


class _Stop(Exception):
    """Verification ends early with ``status`` and a one-line ``reason``."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# ---------------------------------------------------------------------------
# Options

# ---------------------------------------------------------------------------
# Planning the runs (parent side, nothing allocated)

@dataclass(frozen=True)
class _Run:
    size: Optional[int]
    env: dict  # symbol -> int for evaluating inferred dims
    at: tuple  # canonical spatial size of the analysed input
    feeds: dict  # input name -> {"shape": [...], "dtype": "float32"}
    input_shape: tuple  # the analysed input's shape, file layout


def _bare_symbol(dim) -> Optional[str]:
    """The symbol name when ``dim`` is a single symbol (``H``), else None."""
    if isinstance(dim, Expr) and len(dim.symbols()) == 1:
        name = next(iter(dim.symbols()))
        if dim == Expr.symbol(name):
            return name
    return None


def _evaluate(dim, env: dict) -> Optional[int]:
    """An int for a dim: itself, or the expression evaluated in ``env``; None if unknown."""
    if isinstance(dim, int):
        return dim
    if isinstance(dim, Expr):
        try:
            return dim.evaluate(env)
        except KeyError:
            return None
    return None


def _np_dtype(elem_type: int, name: str) -> str:
    """The numpy dtype name of an ONNX element type that verification can feed."""
    import onnx  # its helpers only here (see symcheck.proto)

    try:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(elem_type).name
    except (KeyError, TypeError, ValueError):
        dtype = ""
    if dtype not in _FEEDABLE:
        kind = TensorProto.DataType.Name(elem_type) if elem_type in TensorProto.DataType.values() \
            else str(elem_type)
        raise _Stop("refused", f"input {name!r} has element type {kind}, which verification cannot feed")
    return dtype


def _symbol_key(param: str) -> str:
    """How analysis names the symbol of a dim_param (see ``shapes.type_to_tensor``)."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in param) or "d"


def _other_feed(vi: ValueInfoProto, env: dict) -> dict:
    """Feed spec for a data input other than the analysed one: declared dims, symbols from ``env`` or 1."""
    tt = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
    if tt is None or not tt.HasField("shape"):
        raise _Stop("refused", f"input {vi.name!r} declares no tensor shape, so verification "
                               "cannot make up a value for it")
    shape = []
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            shape.append(int(d.dim_value))
        else:
            shape.append(env.get(_symbol_key(d.dim_param), 1) if d.HasField("dim_param") else 1)
    return {"shape": shape, "dtype": _np_dtype(tt.elem_type, vi.name)}


def _data_inputs(model: ModelProto) -> list:
    inits = {i.name for i in model.graph.initializer}
    return [vi for vi in model.graph.input if vi.name not in inits]


def _plan_run(analysis, size: Optional[int]) -> _Run:
    """Input values for one run: batch 1, symbolic spatial dims ``size``, others as declared.

    Symbolic channel dims become 1. An input dim that is an expression rather
    than a plain symbol, or unknown, cannot be chosen: the run is refused.
    """
    layer = analysis.input_layer
    shape = layer.out_shape
    env: dict = {}
    for j, dim in enumerate(shape):
        if isinstance(dim, int):
            continue
        name = _bare_symbol(dim)
        if name is None:
            raise _Stop("refused", f"the input's dim {j} is {analysis.dim_text(dim)}; pin the "
                                   "input with --input-shape to verify")
        env[name] = size if j >= 2 and size is not None else 1
    canonical = [_evaluate(d, env) for d in shape]
    axes = _tensor_axes(layer)
    tensor_shape: list[Optional[int]] = [0] * len(shape)
    for j, a in enumerate(axes):
        tensor_shape[a] = canonical[j]
    inputs = _data_inputs(analysis.model)
    main = next((vi for vi in inputs if vi.name == analysis.input_name), inputs[0])
    elem = main.type.tensor_type.elem_type if main.type.HasField("tensor_type") else 0
    feeds = {main.name: {"shape": tensor_shape, "dtype": _np_dtype(elem, main.name)}}
    others = {analysis.layers.layers[i].out_tensor: analysis.layers.layers[i]
              for i in analysis.layers.inputs}
    for vi in inputs:
        if vi.name != main.name:
            feeds[vi.name] = _other_feed(vi, env)
            if vi.name in others:
                _bind(env, others[vi.name], feeds[vi.name]["shape"])
    return _Run(size, env, tuple(canonical[2:]), feeds, tuple(tensor_shape))


def _tensor_axes(layer) -> tuple:
    """Where each canonical axis of an input layer's shape lives in the fed tensor."""
    rank = len(layer.out_shape)
    return layer.out_axes if layer.out_axes and sorted(layer.out_axes) == list(range(rank)) \
        else tuple(range(rank))


def _bind(env: dict, layer, fed: Sequence) -> None:
    """Give the symbols of another input's dims the sizes fed to it: they are the
    model's declared input dims, as known in a run as the analysed input's."""
    shape = layer.out_shape
    if shape is None or len(shape) != len(fed):
        return
    for j, a in enumerate(_tensor_axes(layer)):
        name = _bare_symbol(shape[j])
        if name is not None:
            env.setdefault(name, fed[a])


def default_sizes(analysis) -> list:
    """Sizes to run a symbolic model at: SC104's example pair (one that round-trips, one not)."""
    from .rules import round_trip_examples

    sizes = [h for h, _ in round_trip_examples(analysis)] if analysis.round_trips else []
    return list(dict.fromkeys(sizes)) or [DEFAULT_SIZE]


def plan_runs(analysis, sizes: Optional[Sequence[int]]) -> tuple:
    """The runs to make, and notes: one at the analysed size when it is static, else one per size."""
    shape = analysis.input_layer.out_shape
    if shape is None:
        raise _Stop("refused", "the input's rank is unknown; pin it with --input-shape to verify")
    symbolic = any(not isinstance(d, int) for d in shape[2:])
    notes = []
    if not symbolic:
        if sizes:
            notes.append(f"--sizes ignored: the input's spatial size is fixed at "
                         f"{_dims_text(shape[2:])}")
        return [_plan_run(analysis, None)], notes
    chosen = list(dict.fromkeys(sizes)) if sizes else default_sizes(analysis)
    return [_plan_run(analysis, s) for s in chosen], notes


# ---------------------------------------------------------------------------
# The memory bound

def _itemsize(elem_type: int) -> int:
    import onnx

    try:
        return int(onnx.helper.tensor_dtype_to_np_dtype(elem_type).itemsize)
    except (KeyError, TypeError, ValueError):
        return 4


def weight_bytes(model: ModelProto) -> int:
    """Bytes of the initializers, from their dims (weight bytes are never read)."""
    return sum(math.prod(int(d) for d in init.dims) * _itemsize(init.data_type)
               for init in model.graph.initializer)


def estimate_bytes(analysis, run: _Run) -> int:
    """Activations alive at the end of a run (every fetched layer output) plus weights.

    Python integers throughout, so 100000×100000 inputs or 2^62 dims cannot
    overflow. Layers are counted at the input's element size; dims symcheck
    could not evaluate count as 1, layers without a shape as 0. The largest
    fully static intermediate tensor is added, so a ConstantOfShape bomb is
    refused before onnxruntime allocates it.
    """
    import numpy as np  # here and below: verification's own imports (static analysis has none)

    item = np.dtype(next(iter(run.feeds.values()))["dtype"]).itemsize
    feeds = sum(math.prod(max(int(d), 0) for d in spec["shape"]) * np.dtype(spec["dtype"]).itemsize
                for spec in run.feeds.values())
    total = feeds
    for layer in analysis.layers.layers.values():
        if layer.kind in _MARKERS or layer.out_shape is None:
            continue
        values = [_evaluate(d, run.env) for d in layer.out_shape]
        total += math.prod(max(v, 0) if v is not None else 1 for v in values) * item
    # a constant-shape ConstantOfShape/Expand/Range inside the graph must exist at some point
    hidden = feeds + getattr(analysis, "largest_tensor_bytes", 0)
    return max(total, hidden) + weight_bytes(analysis.model)


#: Refuse a run whose constant Loop trip counts times their bodies' node
#: counts exceed this many node executions: at onnxruntime's per-node cost
#: (microseconds at best) it cannot end within any sensible --verify-timeout.
MAX_LOOP_STEPS = 10**8


def loop_steps(graph: GraphProto) -> tuple:
    """(node executions one run needs, the Loop that dominates them or None).

    A Loop counts its body's steps times its trip count when the trip count is
    a constant (an initializer or Constant of this graph or an enclosing one);
    an unknown count, a while-loop and a Scan count one pass (the timeout
    bounds those). If counts its larger branch. Python integers, so a 2^62
    trip count is a number, not an overflow. Iterative (an explicit stack of
    subgraphs), like every graph walk in symcheck.
    """
    return _graph_steps(graph, {})


def _constants(graph: GraphProto, outer: dict) -> dict:
    known = dict(outer)
    for init in graph.initializer:
        if init.data_type in (TensorProto.INT64, TensorProto.INT32) and math.prod(init.dims) == 1:
            known[init.name] = init
    for node in graph.node:
        if node.op_type == "Constant" and node.output:
            for attr in node.attribute:
                if attr.name == "value" and attr.type == AttributeProto.TENSOR \
                        and math.prod(attr.t.dims) == 1:
                    known[node.output[0]] = attr.t
    return known


def _trip_count(name: str, known: dict) -> Optional[int]:
    proto = known.get(name) if name else None
    # external, malformed (no data, a wrong length) or unreadable: the count is unknown
    value = None if proto is None else tensor_from_proto(proto).value
    return max(int(value[0]), 0) if value else None


class _Frame:
    """One graph being counted by :func:`loop_steps`, and the node waiting for its bodies."""

    __slots__ = ("nodes", "known", "index", "total", "worst", "worst_steps", "node", "bodies", "done")

    def __init__(self, graph: GraphProto, outer: dict) -> None:
        self.nodes = list(graph.node)
        self.known = _constants(graph, outer)
        self.index = 0
        self.total = 0
        self.worst = None
        self.worst_steps = 0
        self.node = None  # a node whose subgraphs are being counted
        self.bodies: list = []
        self.done: list = []  # (steps, culprit) of those counted so far


def _graph_steps(graph: GraphProto, outer: dict) -> tuple:
    """:func:`loop_steps` with an explicit stack: one frame per subgraph being counted."""
    stack = [_Frame(graph, outer)]
    while True:
        frame = stack[-1]
        if frame.node is not None:
            if len(frame.done) < len(frame.bodies):
                stack.append(_Frame(frame.bodies[len(frame.done)], frame.known))
                continue
            steps, culprit = max(frame.done, key=lambda item: item[0])
            node = frame.node
            if node.op_type == "Loop":
                trips = _trip_count(node.input[0] if node.input else "", frame.known)
                steps *= 1 if trips is None else trips
                if trips is not None:
                    culprit = node
            frame.total += 1 + steps
            if culprit is not None and steps > frame.worst_steps:
                frame.worst, frame.worst_steps = culprit, steps
            frame.node, frame.bodies, frame.done = None, [], []
            frame.index += 1
            continue
        if frame.index == len(frame.nodes):
            stack.pop()
            if not stack:
                return frame.total, frame.worst
            stack[-1].done.append((frame.total, frame.worst))
            continue
        node = frame.nodes[frame.index]
        bodies = [a.g for a in node.attribute if a.type == AttributeProto.GRAPH]
        bodies += [g for a in node.attribute if a.type == AttributeProto.GRAPHS for g in a.graphs]
        if bodies:
            frame.node, frame.bodies = node, bodies
        else:
            frame.total += 1
            frame.index += 1


# ---------------------------------------------------------------------------
# The child process

def _exposed(analysis) -> list:
    """Output tensors of the logical layers, deduplicated, that a node of the graph produces."""
    graph = analysis.model.graph
    produced = {o for node in graph.node for o in node.output if o}
    names = [o.name for o in graph.output]
    for layer in analysis.layers.layers.values():
        if layer.kind not in _MARKERS and layer.out_tensor in produced:
            names.append(layer.out_tensor)
    return list(dict.fromkeys(names))


_NUMPY_TYPES = {TensorProto.FLOAT: "<f4", TensorProto.DOUBLE: "<f8", TensorProto.FLOAT16: "<f2",
                TensorProto.INT8: "i1", TensorProto.INT16: "<i2", TensorProto.INT32: "<i4",
                TensorProto.INT64: "<i8", TensorProto.UINT8: "u1", TensorProto.UINT16: "<u2",
                TensorProto.UINT32: "<u4", TensorProto.UINT64: "<u8", TensorProto.BOOL: "?"}


@dataclass
class ExternalWeights:
    """External initializers handed to the child as open, validated file descriptors.

    ``model`` is a copy whose external locations are placeholders (so
    onnxruntime never gets a path); ``entries`` say where each weight is
    (``{"name", "fd", "offset", "length", "dtype", "dims"}``); ``fds`` are
    closed by :meth:`close` once the child has finished.
    """

    model: ModelProto
    entries: list = field(default_factory=list)
    fds: list = field(default_factory=list)

    def close(self) -> None:
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds.clear()


def _external_weights(model: ModelProto, path: str, in_file: Optional[dict] = None) -> ExternalWeights:
    """Validate every external-data location of ``model`` and open it for the child.

    Anything unsafe is refused: an absolute path or one with ``..``, a symlink
    in any component, a file that is not regular or has more than one hard
    link, an offset or length past the end. Files are opened with
    ``O_NOFOLLOW`` and checked through the open descriptor. The child maps
    the descriptors and gives the weights to onnxruntime with
    ``SessionOptions.add_external_initializers``: no path reaches onnxruntime,
    the weights are never copied through a pipe, and the 2 GB protobuf limit
    does not apply to them. A model without external data is returned as it is.

    ``in_file`` are inline initializers static analysis read without their
    bytes (``Analysis.weights_in_file``, ``{name: (offset, length)}``): they
    are served the same way, from the model file itself.
    """
    import numpy as np

    external = [init for init in model.graph.initializer
                if init.data_location == TensorProto.EXTERNAL]
    if not external and not in_file:
        return ExternalWeights(model)
    folder = os.path.dirname(os.path.abspath(path)) if path and not path.startswith("<") else None
    if external and folder is None:
        raise _Stop("refused", "the weights are external data and the model was not read from a "
                               "file, so there is no folder to read them from")
    copy = ModelProto()
    copy.CopyFrom(model)  # small: the weights are elsewhere
    weights = ExternalWeights(copy)
    skipped = in_file or {}
    opened: dict = {}  # (the model file itself?, location) -> (fd, size)
    try:
        index = 0
        for init in copy.graph.initializer:
            own = init.data_location != TensorProto.EXTERNAL  # a weight left in the model file
            if own and init.name not in skipped:
                continue
            if own:
                info = {"offset": str(skipped[init.name][0]), "length": str(skipped[init.name][1])}
                location = os.path.basename(path)
            else:
                info = {entry.key: entry.value for entry in init.external_data}
                location = info.get("location", "")
            if (own, location) not in opened:
                opened[own, location] = _open_model_file(path) if own else _open_external(str(folder), location)
                weights.fds.append(opened[own, location][0])
            fd, size = opened[own, location]
            offset, length = _extent(location, info, size)
            dtype = _NUMPY_TYPES.get(init.data_type)
            count = math.prod(init.dims)
            if dtype is None:
                raise _Stop("refused", f"external weights of type "
                                       f"{TensorProto.DataType.Name(init.data_type)} cannot be "
                                       "handed to onnxruntime")
            if count * np.dtype(dtype).itemsize != length:
                raise _Stop("refused", f"unsafe external data {location[:80]!r}: initializer "
                                       f"{init.name[:80]!r} declares {count:,} elements but "
                                       f"{length:,} bytes")
            weights.entries.append({"name": init.name, "fd": fd, "offset": offset, "length": length,
                                    "dtype": dtype, "dims": [int(d) for d in init.dims]})
            # onnxruntime gets a reference to replace, never a path, not even a real name
            del init.external_data[:]
            init.data_location = TensorProto.EXTERNAL
            placeholder = init.external_data.add()
            placeholder.key, placeholder.value = "location", f"symcheck-provided-{index}"
            index += 1
    except BaseException:
        weights.close()
        raise
    return weights


def _open_model_file(path: str) -> tuple:
    """(descriptor, size) of the model file itself, checked as when it was read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise _Stop("failed", f"cannot reopen the model file for its weights "
                              f"({exc.strerror or exc})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise _Stop("failed", "the model file is no longer a regular file")
    return fd, st.st_size


def _unsafe(location: str, why: str) -> _Stop:
    return _Stop("refused", f"unsafe external data {location[:80]!r}: {why}")


def _open_external(folder: str, location: str) -> tuple:
    """(descriptor, size) of a validated external-data file below ``folder``."""
    if not location or "\0" in location or os.path.isabs(location):
        raise _unsafe(location, "not a relative path")
    parts = os.path.normpath(location).split(os.sep)
    if ".." in parts or parts == ["."]:
        raise _unsafe(location, "it leaves the model's folder")
    current = folder
    for part in parts:  # no symlink anywhere below the model's folder
        current = os.path.join(current, part)
        if os.path.islink(current):
            raise _unsafe(location, "a symlink in the path")
    try:
        fd = os.open(current, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise _unsafe(location, exc.strerror or "cannot be opened") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _unsafe(location, "not a regular file")
        if st.st_nlink != 1:
            raise _unsafe(location, "a hard link")
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def _extent(location: str, info: dict, size: int) -> tuple:
    try:
        offset = int(info.get("offset", 0))
        length = int(info["length"]) if "length" in info else size - offset
    except ValueError:
        raise _unsafe(location, "offset or length is not a number") from None
    if offset < 0 or length < 0 or offset + length > size:
        raise _unsafe(location, "offset or length past the end of the file")
    return offset, length


def _payload(model: ModelProto, request: dict, outputs: list) -> bytes:
    """Request line + model bytes with ``outputs`` appended as graph outputs.

    Protobuf merges concatenated messages (repeated fields append), so the
    extra outputs are a second serialized ModelProto after the original's
    bytes: no copy of the model proto, and the analysed one is untouched.
    Only the names are given; onnxruntime infers types and ignores declared
    value_info shapes, so a file's shape claims cannot hide the real shapes.
    """
    known = {o.name for o in model.graph.output}
    extra = ModelProto()
    for name in outputs:
        if name not in known:
            extra.graph.output.add().name = name
    try:
        body = model.SerializeToString()
    except Exception as exc:  # protobuf refuses messages over 2 GB
        raise _Stop("failed", f"the model cannot be handed to onnxruntime as bytes ({exc})") from None
    header = json.dumps(request).encode("utf-8") + b"\n"
    return b"".join([header, body, extra.SerializeToString()])


def _start_child(fds: Sequence[int] = ()) -> subprocess.Popen:
    """The onnxruntime child, in a process group of its own so a kill takes all of it;
    ``fds`` (validated external-data files) stay open in it under the same numbers."""
    return subprocess.Popen([sys.executable, str(CHILD_SCRIPT)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, pass_fds=tuple(fds))


def _kill(proc: subprocess.Popen) -> None:
    """Kill a still-running child with its process group, and reap it: nothing is left behind.

    A child that already exited was reaped by ``communicate``; its group is
    not signalled then (its id could belong to someone else by now).
    """
    if proc.poll() is None:
        try:
            if hasattr(os, "killpg"):
                os.killpg(proc.pid, signal.SIGKILL)
            else:  # pragma: no cover - Windows
                proc.kill()
        except (ProcessLookupError, PermissionError):
            proc.kill()
        try:
            proc.communicate(timeout=5)  # drains and closes the pipes
        except (subprocess.TimeoutExpired, ValueError, OSError):
            pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover - a process SIGKILL cannot stop
        pass


def _last_line(data: bytes) -> str:
    lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
    text = lines[-1] if lines else ""
    return text if len(text) <= 300 else text[:299] + "…"


#: Address space the child may map beyond --max-memory and the model's own
#: copies: thread stacks and malloc arenas reserve far more than they touch.
ADDRESS_SLACK = 1024**3


def _quoted(name: str, limit: int = 60) -> str:
    return repr(name if len(name) <= limit else name[:limit - 1] + "…")


def _count_text(n: Optional[int]) -> str:
    """A count for a message: ``1,000,000``, or ``2^62`` / ``about 2^70`` when long."""
    if n is None:
        return "an unknown number of"
    if n < 10**12:
        return f"{n:,}"
    if n & (n - 1) == 0:
        return f"2^{n.bit_length() - 1}"
    digits = str(n)
    return f"{'' if digits.rstrip('0') == '1' else 'about '}10^{len(digits) - 1}"


def memory_budget(max_memory: int, model_bytes: int) -> int:
    """Bytes the child may map past its start-up size: the activations and weights
    allowed by ``max_memory``, the model's bytes twice (the serialized copy and
    onnxruntime's), and :data:`ADDRESS_SLACK`."""
    return max_memory + 2 * model_bytes + ADDRESS_SLACK


#: The onnxruntime children running now (one at most): what :func:`kill_children` kills.
_RUNNING: set = set()


def kill_children() -> None:
    """Kill every running onnxruntime child's process group, at once and without waiting:
    for a process that is about to end itself (a symcheck worker told to stop)."""
    for proc in list(_RUNNING):
        try:
            if hasattr(os, "killpg"):
                os.killpg(proc.pid, signal.SIGKILL)
            else:  # pragma: no cover - Windows
                proc.kill()
        except OSError:
            pass


def run_child(payload: bytes, timeout: float, fds: Sequence[int] = ()) -> dict:
    """Run the child on ``payload`` (passing it ``fds``); its reply, or :class:`_Stop` on
    timeout or crash."""
    try:
        proc = _start_child(fds)
    except OSError as exc:
        raise _Stop("failed", f"cannot start the onnxruntime process ({exc})") from None
    _RUNNING.add(proc)
    try:
        out, err = proc.communicate(payload, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise _Stop("timeout", f"onnxruntime did not finish within {timeout:g} s "
                               "(--verify-timeout); the run was stopped") from None
    finally:
        _kill(proc)
        _RUNNING.discard(proc)
    if proc.returncode != 0:
        if proc.returncode < 0:
            sig = signal.Signals(-proc.returncode).name if -proc.returncode in signal.valid_signals() \
                else str(-proc.returncode)
            reason = f"the onnxruntime process was killed by {sig}"
        else:
            reason = f"the onnxruntime process failed (exit {proc.returncode})"
        tail = _last_line(err)
        raise _Stop("failed", f"{reason}: {tail}" if tail else reason)
    try:
        return json.loads(out)
    except ValueError:
        raise _Stop("failed", "the onnxruntime process gave no result: " + _last_line(err)) from None


# ---------------------------------------------------------------------------
# Comparing

def _canonical(actual: Optional[list], axes: Optional[tuple]) -> Optional[tuple]:
    """The actual tensor shape read in canonical order through ``axes``; as is when it cannot be."""
    if actual is None:
        return None
    if axes and len(axes) == len(actual) and sorted(axes) == list(range(len(actual))):
        return tuple(actual[a] for a in axes)
    if axes and len(axes) < len(actual) and len(set(axes)) == len(axes) and max(axes) < len(actual) \
            and all(actual[i] == 1 for i in range(len(actual)) if i not in axes):
        return tuple(actual[a] for a in axes)  # a degenerate size-1 axis the layer does not count
    return tuple(actual)


def _result(inferred: tuple, actual: Optional[tuple]) -> str:
    """``agrees``, ``disagrees`` or ``unconfirmed`` (see :class:`LayerCheck`)."""
    if actual is None or len(inferred) != len(actual):
        return "disagrees"
    if any(isinstance(i, int) and i != a for i, a in zip(inferred, actual)):
        return "disagrees"
    return "agrees" if all(isinstance(i, int) for i in inferred) else "unconfirmed"


# ops whose data input and output are (N, C, *spatial) by the ONNX specification
_SPEC_IMAGE_OPS = {"Conv", "ConvTranspose", "ConvInteger", "MaxPool", "AveragePool", "LpPool",
                   "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", "Resize", "Upsample",
                   "DepthToSpace", "SpaceToDepth", "BatchNormalization", "InstanceNormalization",
                   "LRN", "MaxRoiPool", "MaxUnpool", "DeformConv"}
# ops whose output has the layout of their data inputs (elementwise, and a Concat along any axis)
_SAME_LAYOUT_OPS = {"Relu", "LeakyRelu", "PRelu", "Sigmoid", "Tanh", "Elu", "Selu", "Celu",
                    "Softplus", "Softsign", "HardSigmoid", "HardSwish", "Gelu", "Mish", "Clip",
                    "Identity", "Dropout", "Cast", "CastLike", "Erf", "Exp", "Log", "Sqrt", "Neg",
                    "Abs", "Reciprocal", "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum",
                    "Mean", "Where", "Concat", "QuantizeLinear", "DequantizeLinear"}


def _same_layout(a, b) -> bool:
    identity = lambda t: t == "id" or t == tuple(range(len(t)))
    return a == b or (identity(a) and identity(b))


def spec_layouts(graph: GraphProto) -> dict:
    """Each tensor's layout as the ONNX specification fixes it, found without the analysis:
    ``"id"`` ((N, C, *spatial) in order) or a tuple (canonical axis k lives at tensor
    axis ``t[k]``), for the tensors an image op (Conv, pools, Resize, BatchNorm ...)
    reads or writes and those joined to them by elementwise ops, Concat and Transpose.
    A tensor reached with two layouts is left out. Verification reads a layer's tensor
    in this layout, so a wrong canonical reading of it cannot agree with itself.

    >>> from onnx import helper
    >>> g = helper.make_graph([helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]),
    ...                        helper.make_node("Conv", ["x", "w"], ["y"])], "g", [], [])
    >>> sorted(spec_layouts(g).items())
    [('t', (0, 3, 1, 2)), ('x', 'id'), ('y', 'id')]
    """
    constants = {i.name for i in graph.initializer}
    constants.update(o for n in graph.node if n.op_type == "Constant" for o in n.output)
    links: dict = {}  # tensor -> [(other tensor, perm or None, forward)]

    def link(a: str, b: str, perm) -> None:
        if a and b and a not in constants and b not in constants:
            links.setdefault(a, []).append((b, perm, True))
            links.setdefault(b, []).append((a, perm, False))

    found: dict = {}
    for node in graph.node:
        op = node.op_type
        if op in _SAME_LAYOUT_OPS:  # the most common first; each field read once
            outputs = node.output[:1]
            if outputs:
                for name in node.input[:1] if op in ("Clip", "PRelu") else node.input[:]:
                    link(name, outputs[0], None)
        elif op in _SPEC_IMAGE_OPS:
            inputs, outputs = node.input[:1], node.output[:1]
            if inputs and outputs:
                for name in (inputs[0], outputs[0]):
                    if name and name not in constants:
                        found.setdefault(name, set()).add("id")
        elif op == "Transpose":
            inputs, outputs = node.input[:1], node.output[:1]
            perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
            if perm and inputs and outputs:
                link(inputs[0], outputs[0], tuple(perm))
    layouts: dict = {}
    conflict: set = set()
    queue = []
    for name, seen in found.items():
        layouts[name] = "id"
        queue.append(name)
    while queue:
        name = queue.pop()
        here = layouts.get(name)
        if here is None or name in conflict:
            continue
        for other, perm, forward in links.get(name, ()):
            if perm is None:
                there = here
            else:
                rank = len(perm)
                cur = tuple(range(rank)) if here == "id" else here
                if len(cur) != rank or sorted(perm) != list(range(rank)):
                    continue
                there = tuple(perm.index(a) for a in cur) if forward else tuple(perm[a] for a in cur)
            if other in conflict:
                continue
            if other not in layouts:
                layouts[other] = there
                queue.append(other)
            elif not _same_layout(layouts[other], there):
                conflict.add(other)
    for name in conflict:
        layouts.pop(name, None)
    return layouts


def _consistent(claimed: Optional[tuple], spec: tuple, actual: Sequence) -> bool:
    """Whether a layer's canonical axes (``claimed``) are the ones the specification
    gives its tensor (``spec``), but for degenerate size-1 spatial axes the layer does
    not count (a 1-D conv written as a 1×k 2-D conv)."""
    axes = claimed if claimed else tuple(range(len(actual)))
    if len(axes) < 2 or len(spec) < 2 or tuple(axes[:2]) != tuple(spec[:2]):
        return False
    rest = list(spec[2:])
    position = 0
    for a in axes[2:]:  # the layer's spatial axes, in order, among the spec's
        while position < len(rest) and rest[position] != a:
            if actual[rest[position]] != 1:
                return False
            position += 1
        if position == len(rest):
            return False
        position += 1
    return all(actual[r] == 1 for r in rest[position:])


def _check_layers(analysis, run: _Run, shapes: dict) -> tuple:
    """LayerCheck per logical layer for one successful run, and the layers left unchecked.

    Each layer's tensor is read in the layout the ONNX specification gives it where an
    image op fixes one (:func:`spec_layouts`), else through the layer's own axes: a
    layer whose canonical axes contradict the specification disagrees, whatever sizes
    its wrong reading gives."""
    checks, unchecked = [], []
    layouts = spec_layouts(analysis.model.graph)
    for layer in analysis.layers.layers.values():
        if layer.kind in _MARKERS:
            continue
        if layer.out_shape is None or layer.out_tensor not in shapes:
            unchecked.append(layer.name)
            continue
        values = [_evaluate(d, run.env) for d in layer.out_shape]
        if any(isinstance(v, int) and v < 1 for v in values):
            # below the sizes the model is predicted to run at, runtimes differ
            # (onnxruntime truncates (1 - 2) / 2 to 0 where ONNX floors to -1)
            unchecked.append(layer.name)
            continue
        inferred = tuple(v if v is not None else analysis.dim_text(d)
                         for v, d in zip(values, layer.out_shape))
        tensor = shapes[layer.out_tensor]
        actual = _canonical(tensor, layer.out_axes)
        result = None
        spec = layouts.get(layer.out_tensor)
        if tensor is not None and spec is not None:
            spec = tuple(range(len(tensor))) if spec == "id" else spec
            if len(spec) == len(tensor) and not _consistent(layer.out_axes, spec, tensor):
                actual, result = _canonical(tensor, spec), "disagrees"
        same_rank = actual is not None and len(actual) == len(inferred)
        checks.append(LayerCheck(
            layer.name, run.at, _user(analysis, inferred),
            _user(analysis, actual) if same_rank else (None if actual is None else tuple(actual)),
            result or _result(inferred, actual)))
    return checks, unchecked


def _user(analysis, shape: Optional[tuple]) -> Optional[tuple]:
    return None if shape is None else tuple(analysis.to_user_layout(tuple(shape)))


def _predicted(analysis, axis: int, size: int):
    """SC104's output size along ``axis`` for input ``size`` (the transfer functions' answer)."""
    rt = analysis.round_trips[axis]
    if size in rt.examples:
        return rt.examples[size]
    from .structure import evaluate_axis
    st = analysis.structure
    order = analysis.layers.dag.topological_sort()
    return evaluate_axis(analysis.layers, order, st.input_id, axis, size).get(st.output_id)


def _check_round_trip(analysis, run: _Run, shapes: Optional[dict], error: str) -> RoundTripCheck:
    """Compare SC104's prediction at ``run.size`` with the analysed output's actual size."""
    assert run.size is not None  # only symbolic runs, which all have a size, are compared
    axes = range(len(run.at))
    predicted = tuple(_predicted(analysis, i, run.at[i]) if i < len(analysis.round_trips) else None
                      for i in axes)
    holds = all(analysis.round_trips[i].holds(run.at[i]) for i in axes) \
        if len(analysis.round_trips) >= len(run.at) else None
    out = analysis.output_layer
    actual = None
    if shapes is not None and out.out_tensor in shapes:
        canon = _canonical(shapes[out.out_tensor], out.out_axes)
        actual = None if canon is None else tuple(canon[2:])
    if "invalid" in predicted:
        held = shapes is None
    elif any(not isinstance(p, int) for p in predicted):
        held = None
    else:
        held = actual == predicted
    return RoundTripCheck(run.size, predicted, holds, actual, held, error)


def _compare(analysis, runs: list, reply: dict) -> dict:
    """Records from the child's reply: layer checks, round-trip checks, runs, status."""
    layers, round_trips, records, unchecked = [], [], [], []
    symbolic = any(r.size is not None for r in runs)
    for run, result in zip(runs, reply.get("runs", [])):
        error = result.get("error") or ""
        shapes = None if error else result.get("shapes", {})
        records.append(RunRecord(run.size, run.input_shape, error))
        if shapes is not None:
            checks, missing = _check_layers(analysis, run, shapes)
            layers += checks
            unchecked += [m for m in missing if m not in unchecked]
        if symbolic and analysis.round_trips:
            round_trips.append(_check_round_trip(analysis, run, shapes, error))
    return {"layers": tuple(layers), "round_trips": tuple(round_trips), "runs": tuple(records),
            "unchecked": tuple(unchecked)}


def _status(records: dict) -> tuple:
    """failed (a run that should have worked failed) > disagreement > verified."""
    expected_fail = {rt.size for rt in records["round_trips"] if "invalid" in rt.predicted}
    for run in records["runs"]:
        if run.error and run.size not in expected_fail:
            if "Failed to allocate memory" in run.error or "bad_alloc" in run.error:  # arena / malloc
                return "refused", (f"onnxruntime ran out of the memory limit at input "
                                   f"{_dims_text(run.input_shape)} (--max-memory plus slack): "
                                   f"{run.error}")
            return "failed", f"onnxruntime failed at input {_dims_text(run.input_shape)}: {run.error}"
    if any(c.result == "disagrees" for c in records["layers"]) or any(
            rt.held is False for rt in records["round_trips"]):
        return "disagreement", ""
    if any(c.result == "unconfirmed" for c in records["layers"]):
        return "unconfirmed", ""
    return "verified", ""


# ---------------------------------------------------------------------------
# Entry points

def verify(analysis, sizes: Optional[Sequence[int]] = None, max_memory: int = DEFAULT_MAX_MEMORY,
           timeout: float = DEFAULT_TIMEOUT, threads: int = 1) -> Verification:
    """Run ``analysis``'s model in onnxruntime and compare every layer's shape.

    ``sizes`` are spatial sizes to feed a symbolic input (every symbolic
    spatial axis gets the same size); by default SC104's pair of sizes, one
    that round-trips and one that does not. Static inputs run once, at the
    analysed shape. Nothing on ``analysis`` changes; see :func:`attach`.
    """
    start = time.monotonic()
    base = {"output": analysis.output_name, "max_memory": max_memory}
    estimate = None
    try:
        runs, notes = plan_runs(analysis, sizes)
        base["notes"] = tuple(notes)
        estimate = max(estimate_bytes(analysis, run) for run in runs)
        if estimate > max_memory:
            worst = max(runs, key=lambda r: estimate_bytes(analysis, r))
            raise _Stop("refused", f"running at input {_dims_text(worst.input_shape)} needs about "
                                   f"{memory_text(estimate)} for activations and weights, over "
                                   f"--max-memory {memory_text(max_memory)}")
        steps, loop = loop_steps(analysis.model.graph)
        if steps > MAX_LOOP_STEPS and loop is not None:
            trips = _trip_count(loop.input[0], _constants(analysis.model.graph, {}))
            raise _Stop("refused", f"Loop node {_quoted(loop.name or loop.op_type)} runs "
                                   f"{_count_text(trips)} times: {_count_text(steps)} node "
                                   f"runs in all, over the {_count_text(MAX_LOOP_STEPS)} that can "
                                   "finish; it was not started")
        outputs = _exposed(analysis)
        weights = _external_weights(analysis.model, analysis.path,
                                    getattr(analysis, "weights_in_file", None))
        try:
            model = weights.model
            request = {"outputs": outputs, "runs": [r.feeds for r in runs], "seed": SEED,
                       "threads": threads, "external": weights.entries,
                       "memory_budget": memory_budget(max_memory, model.ByteSize() + sum(
                           e["length"] for e in weights.entries))}
            reply = run_child(_payload(model, request, outputs), timeout, weights.fds)
        finally:
            weights.close()
        if reply.get("error"):
            raise _Stop("failed", "onnxruntime cannot load the model: "
                        + reply["error"].removeprefix("load: "))
    except _Stop as stop:
        return Verification(stop.status, stop.reason, memory_estimate=estimate,
                            seconds=time.monotonic() - start, **base)
    records = _compare(analysis, runs, reply)
    status, reason = _status(records)
    return Verification(status, reason, memory_estimate=estimate,
                        onnxruntime=str(reply.get("onnxruntime", "")),
                        seconds=time.monotonic() - start, **records, **base)


def attach(analysis, verification: Verification, select: Sequence[str] = (),
           ignore: Sequence[str] = ()) -> None:
    """Store ``verification`` on ``analysis`` and add its SC901 findings (if selected)."""
    from .rules import RULES, _model_suppressions, is_selected

    analysis.verification = verification
    rule = RULES["SC901"]
    if is_selected(rule.code, rule.name, select, list(ignore) + _model_suppressions(analysis)):
        analysis.findings = [f for f in analysis.findings if f.code != rule.code]
        analysis.findings.extend(rule.check(analysis))


def verify_and_attach(analysis, select: Sequence[str] = (), ignore: Sequence[str] = (),
                      debug: bool = False, **options) -> Verification:
    """:func:`verify` then :func:`attach`; a bug in verification becomes a failed status.

    The static analysis is worth showing even when verification breaks, so an
    unexpected exception is reported as ``failed`` with a one-line reason
    (``debug`` re-raises it instead).
    """
    try:
        result = verify(analysis, **options)
    except Exception as exc:
        if debug:
            raise
        result = Verification("failed", f"symcheck failed while verifying ({type(exc).__name__}: "
                                        f"{exc}); this is a bug, rerun with --debug",
                              output=analysis.output_name)
    attach(analysis, result, select, ignore)
    return result
