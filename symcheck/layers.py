"""From ONNX nodes to logical layers: the exporter dialects collapsed.

One pass over the nodes in topological order. Every tensor that carries data
(reachable from a graph input other than through ``Shape``) has a *view*: the
logical layer it comes from and how its axes map onto that layer's output
axes. The pass handles, in this order:

* shape machinery (``Shape``, ``Gather``, ``Concat`` of shape values,
  ``Constant`` ...): nodes whose outputs carry no data are hidden;
* layers: Conv, ConvTranspose, Gemm/MatMul with a constant operand, pooling,
  Resize/Upsample, DepthToSpace/SpaceToDepth, Pad, Slice, each part of a Split,
  merges (Concat/Add/Mul of two data tensors, broadcast as ONNX does) and
  products of two data tensors (MatMul: attention's q·kᵀ, with no image axes)
  each become one layer;
* fused ops: an activation, normalization, bias ``Add`` or scale ``Mul``
  directly after a layer joins that layer (tf2onnx ``BiasAdd``, Keras-torch
  separate bias, BatchNorm as Mul+Add, GroupNorm as Reshape →
  InstanceNormalization → Reshape);
* layout: ``Transpose``, and ``Reshape``/``Squeeze``/``Unsqueeze`` that only
  move size-1 axes, are followed as axis permutations (NHWC graphs); a MatMul
  over the channel axis of such a channels-last view is a dense layer that keeps
  the map's spatial size and layout (ConvNeXt's permute → LayerNorm → Linear);
* data movement that changes sizes (Keras ``UpSampling2D`` as Tile/Expand +
  Reshape, Flatten before a dense layer, Reshape after it) is collected and
  becomes one layer judged by the shapes at its two ends;
* noise (Identity, Dropout, no-op Cast, all-zero Pad) disappears.

After the pass, layout detours (reshapes out of a feature map's grid that a
later reshape undoes: self-attention, a qkv split) are marked with the grid
they stay on (:func:`_mark_detours`).

Layers keep the names a user knows: Keras scopes (``conv2d_5``), PyTorch module
paths (``decoder.3``), MATLAB layer names (``transposed-conv_1``).
"""

from __future__ import annotations

import ast
import functools
import itertools
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from .digraph import Digraph
from .dims import Dim, Expr, ceildiv, floordiv
from .load import Exporter, keras_layer_names
from .errors import SymcheckError
from .proto import ModelProto, NodeProto
from .shapes import (Node, Propagation, Tensor, attributes, pool_out, same_pads, scale_dim,
                     static_numel, transposed_size)

LEARNED_KINDS = {"conv", "conv-transpose", "dense"}
TRANSITION_KINDS = {"max-pool", "avg-pool", "upsample", "pixel-shuffle", "space-to-depth",
                    "global-pool", "flatten", "unflatten"}

_ACTIVATIONS = {
    "Relu": "relu", "LeakyRelu": "leaky-relu", "PRelu": "prelu", "Sigmoid": "sigmoid",
    "Tanh": "tanh", "Elu": "elu", "Selu": "selu", "Celu": "celu", "Softplus": "softplus",
    "Softsign": "softsign", "HardSigmoid": "hard-sigmoid", "HardSwish": "hard-swish",
    "Gelu": "gelu", "Mish": "mish", "Swish": "silu", "Silu": "silu",
    "ThresholdedRelu": "thresholded-relu", "Softmax": "softmax", "LogSoftmax": "log-softmax",
    "Clip": "clip",
}
_NORMS = {"BatchNormalization": "batch-norm", "InstanceNormalization": "instance-norm",
          "LayerNormalization": "layer-norm", "GroupNormalization": "group-norm",
          "LpNormalization": "lp-norm", "LRN": "lrn", "MeanVarianceNormalization": "mvn"}
#: Ops that change no shape and no meaning for symmetry; QuantizeLinear/DequantizeLinear
#: pairs wrap every tensor of a QDQ-quantized model (onnxruntime.quantization).
_NOISE = {"Identity", "Dropout", "Cast", "CastLike", "QuantizeLinear", "DequantizeLinear"}
_FUSABLE = frozenset(_NOISE | _ACTIVATIONS.keys() | _NORMS.keys())  # one input, one layer's output
_LAYOUT = {"Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Tile", "Expand"}
_REGROUP = {"Reshape", "Flatten", "Squeeze", "Unsqueeze"}  # new sizes, the same element order
_ELEMENTWISE_CONST = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min"}
_POOLS = {"MaxPool": "max-pool", "AveragePool": "avg-pool", "LpPool": "lp-pool"}
_X = Expr.symbol("x")  # the input size in a transfer function
_MERGE_KINDS = {"Concat": "concat", "Add": "add", "Sum": "add", "Mul": "mul", "Sub": "sub"}
#: ops that pick values by an index tensor; along spatial axes, a resampling (see _resamples)
_GATHERS = {"Gather", "GatherElements", "GatherND"}
# ops that read their input as an image (N, C, *spatial) in their own layout
_IMAGE_KINDS = {"conv", "conv-transpose", "max-pool", "avg-pool", "lp-pool", "global-pool",
                "upsample", "pixel-shuffle", "space-to-depth"}
# products of two data tensors (attention's q·kᵀ and scores·v): no axis of the output is
# an axis of one input carried over, so no layout follows through them
_CONTRACTIONS = {"MatMul", "Gemm", "MatMulInteger", "Einsum"}
# layers that are one elementwise function of one input (candidates for a gated activation)
ELEMENTWISE_KINDS = {"activation", "scale", "erf", "exp", "log", "sqrt", "reciprocal", "neg",
                     "abs", "tanh", "softplus", "sin", "cos", "pow"}


@dataclass
class Layer:
    """One logical layer. Shapes are canonical: (N, C, *spatial)."""

    id: int
    name: str
    kind: str
    op: str  # the ONNX op that anchors it ("" for synthesized layers)
    nodes: list = field(default_factory=list)  # ONNX node names absorbed
    inputs: list = field(default_factory=list)  # layer ids, data inputs in order
    in_shape: Optional[tuple] = None
    out_shape: Optional[tuple] = None
    params: int = 0
    attrs: dict = field(default_factory=dict)
    activation: Optional[str] = None
    norm: Optional[str] = None
    out_tensor: str = ""
    out_axes: Optional[tuple] = None  # canonical axis j lives at out_tensor axis out_axes[j]
    transfer: list = field(default_factory=list)  # per spatial axis: Expr in "x", int, ("match", id, axis) or None
    scopes: list = field(default_factory=list)  # candidate names, best first
    weight: str = ""  # the weight initializer of a learned layer
    grid: Optional[tuple] = None  # inside a layout detour: the spatial grid its values stay on
    untracked: bool = False  # its axes are not an image's (attention's products): no spatial size
    broadcast: tuple = ()  # merges: ids of the inputs stretched over a channel or spatial axis (gates)

    @property
    def learned(self) -> bool:
        return self.kind in LEARNED_KINDS

    @property
    def spatial(self) -> Optional[tuple]:
        return None if self.out_shape is None else tuple(self.out_shape[2:])

    @property
    def channels(self) -> Optional[Dim]:
        if self.out_shape is None or len(self.out_shape) < 2:
            return None
        return self.out_shape[1]

    @property
    def in_channels(self) -> Optional[Dim]:
        if self.in_shape is None or len(self.in_shape) < 2:
            return None
        return self.in_shape[1]


@functools.lru_cache(maxsize=64)
def _identity(rank: int) -> tuple:
    """``tuple(range(rank))``, one shared tuple per rank (tuples never change)."""
    return tuple(range(rank))


@dataclass(slots=True)
class View:
    """Where a data tensor's values come from (one per data tensor: kept small)."""

    layer: int
    axes: Optional[tuple]  # tensor axis i -> layer-output tensor axis (None: new size-1 axis)
    pending: Sequence = ()  # data-movement nodes not yet explained (never changed in place)


@dataclass
class LayerGraph:
    dag: Digraph  # layer ids; what the analysis passes walk
    layers: dict  # id -> Layer
    inputs: list  # ids of input layers
    outputs: list  # ids of output layers
    input_layout: str  # "NCHW" style string for the primary input, e.g. "NHWC"
    hidden_nodes: int
    unknown_ops: set
    _nx: Any = field(default=None, repr=False, compare=False)
    _io: Any = field(default=None, repr=False, compare=False)  # structure.choose_io's answer

    @property
    def graph(self) -> Any:
        """The layer graph as a networkx ``DiGraph`` of layer ids (built on first use)."""
        if self._nx is None:
            self._nx = self.dag.to_networkx()
        return self._nx


class _Builder:
    def __init__(self, model: ModelProto, prop: Propagation, exporter: Exporter,
                 data_inputs: list[str]) -> None:
        self.model = model
        self.prop = prop
        self.exporter = exporter
        self.layers: dict[int, Layer] = {}
        self.views: dict[str, View] = {}
        # readers of each tensor name, counted in C (the same nodes as the file's, read once)
        consumers = Counter(itertools.chain.from_iterable(node.input for node in prop.order))
        del consumers[""]  # an omitted optional input
        consumers.update(out.name for out in model.graph.output)
        self.consumers: dict[str, int] = consumers
        self.constants = prop.initializers
        self.hidden = 0
        self._windows: dict = {}  # see window_layer
        self._reader_map: Optional[dict] = None  # see _readers
        self.input_ids = []
        for name in data_inputs:
            t = prop.tensors[name]
            layer = self._new("input", name, "", None, t.shape, out_tensor=name)
            layer.out_axes = None  # unknown until a layer consumes it
            self.views[name] = View(layer.id, tuple(range(len(t.shape or ()))))
            self.input_ids.append(layer.id)

    # -- helpers --------------------------------------------------------
    def _new(self, kind: str, name: str, op: str, in_shape, out_shape, **kw) -> Layer:
        layer = Layer(len(self.layers), name, kind, op, in_shape=in_shape,
                      out_shape=out_shape, **kw)
        self.layers[layer.id] = layer
        return layer

    def shape(self, name: str) -> Optional[tuple]:
        tensor = self.prop.tensors.get(name)
        return None if tensor is None else tensor.shape

    def is_data(self, name: str) -> bool:
        return bool(name) and name in self.views

    def const_numel(self, name: str) -> int:
        """Elements of tensor ``name``; 0 when its shape is not fully known."""
        t = self.prop.tensors.get(name)
        return (static_numel(t.shape) or 0) if t is not None else 0

    def param_numel(self, name: str) -> int:
        """Parameters in a weight or bias input: its elements when it is computed from
        constants alone (an initializer, or one behind a DequantizeLinear, Transpose or
        Reshape); 0 for a tensor computed from the data."""
        return 0 if not name or name in self.views else self.const_numel(name)

    # -- resolving a view into a layer feeding a canonical consumer ------
    def resolve(self, name: str, consumer_shape: Optional[tuple], node: NodeProto,
                drop: tuple = ()) -> int:
        """The layer whose output is ``name`` as a consumer with a canonical input sees it.

        ``drop`` lists tensor axes the consumer ignores (a degenerate axis of a
        1-D conv written as a 1×k 2-D conv); ``consumer_shape`` excludes them.
        """
        view = self.views[name]
        src = self.layers[view.layer]
        if view.pending or view.axes is None:
            return self._materialize(view, name, consumer_shape, drop).id
        if src.kind == "input" and src.out_axes is None:
            axes = tuple(a for i, a in enumerate(view.axes) if i not in drop)
            rank = len(src.out_shape or ())
            if None not in axes and sorted(axes) == list(range(rank)):
                src.out_axes = axes
            else:  # size-1 axes moved ambiguously: match the consumer's shape
                src.out_axes = _match_axes(self.shape(src.out_tensor), consumer_shape, axes)
            src.out_shape = tuple((self.shape(src.out_tensor) or ())[a] for a in src.out_axes)
            src.in_shape = src.out_shape
        return src.id

    def _materialize(self, view: View, name: str, target: Optional[tuple], drop: tuple = ()) -> Layer:
        """Explain collected data-movement nodes by the shapes at both ends.

        ``target`` is the canonical shape the consumer sees (without the tensor
        axes in ``drop``); without one, the channel axis is guessed.
        """
        src = self.layers[view.layer]
        if src.kind == "input" and src.out_axes is None:
            src.out_axes = tuple(range(len(src.out_shape or ())))
        before = src.out_shape
        out_axes = None
        if target is not None:
            after = target
        else:  # no consumer fixes the layout (a crop, the output): find the channel axis
            after, out_axes = _guess_canonical(before, self.shape(name))
        moved = any(n.op_type == "Transpose" for n in view.pending)
        gathered = [n.op_type for n in view.pending if n.op_type in _GATHERS or n.op_type.startswith("Reduce")]
        if gathered:  # pixels picked by index (and windows reduced): a resampling
            kind, transfer, attrs = classify_resampling(before, after, gathered)
        else:
            kind, transfer, attrs = classify_reshape(before, after, moved)
        names = [n.name for n in view.pending]
        layer = self._new(kind, "", "", before, after, nodes=names, attrs=attrs,
                          out_tensor=name, inputs=[src.id])
        # sizes regrouped (attention's (b, 3c, h, w) -> (b, 3, c, h*w), GroupNorm's
        # (b, c, h, w) -> (b, g, c/g*h*w)): no image axes, until a reshape back to more
        # axes or an image op (a conv) reads the result in its own layout
        known = after is not None and before is not None  # else nothing says what it did
        grown = known and len(after or ()) > len(before or ())
        layer.untracked = (kind == "reshape" and known and not grown) or (
            src.untracked and kind == "identity")
        if layer.untracked:
            # fixed sizes in and out: the file runs only at the sizes it was exported at
            fixed = not src.untracked and before is not None and len(before) > 2 \
                and all(isinstance(d, int) for d in before[2:])
            transfer = [("fixed", d, 1) for d in before[2:]] if fixed and before else []
        elif kind == "reshape" and grown and None in transfer and after is not None:
            # symbolic sizes regrouped and restored (attention's and GroupNorm's reshape
            # back to (b, c, h, w)): the sizes of the image they came from
            source = self._ancestor_of_size(src.id, tuple(after[2:]))
            if source is not None:
                transfer = [("match", source, i) if t is None else t for i, t in enumerate(transfer)]
        if out_axes is None and drop:
            out_axes = tuple(i for i in range(len(self.shape(name) or ())) if i not in drop)
        layer.out_axes = out_axes or tuple(range(len(after or ())))
        layer.transfer = transfer
        layer.scopes = [n.name for n in view.pending]
        layer.attrs["ops"] = [n.op_type for n in view.pending]
        self.views[name] = View(layer.id, tuple(range(len(after or ()))))
        return layer

    def _ancestor_of_size(self, start: int, spatial: tuple, limit: int = 64) -> Optional[int]:
        """The nearest layer at or before ``start`` with image axes of exactly ``spatial``
        (symbolic sizes that are equal expressions are equal at every input size)."""
        seen, queue = {start}, [start]
        for lid in queue:
            layer = self.layers.get(lid)
            if layer is None or len(queue) > limit:
                break
            shape = layer.out_shape
            if not layer.untracked and shape is not None and tuple(shape[2:]) == spatial:
                return lid
            for i in layer.inputs:
                if i not in seen:
                    seen.add(i)
                    queue.append(i)
        return None

    # -- the pass -------------------------------------------------------
    def run(self) -> None:
        views, reads = self.views, self.prop.reads
        for node in self.prop.order:
            data_in = [n for n in reads[id(node)] if n in views]
            if not data_in or node.op_type in ("Shape", "Size", "RandomNormalLike",
                                               "RandomUniformLike", "EyeLike"):
                self.hidden += 1
                continue
            self.visit(node, data_in)

    def visit(self, node: Node, data_in: list[str]) -> None:
        op = node.op_type
        attrs = self.prop.attrs(node)
        # the commonest ops first (activations, norms, bias and scale): no later branch
        # takes any of them
        if op in _FUSABLE or (op in _ELEMENTWISE_CONST and len(data_in) == 1):
            self.elementwise(node, attrs, data_in[0])
        elif op in ("Conv", "ConvTranspose", "ConvInteger", "QLinearConv"):
            self.window_layer(node, attrs, "conv-transpose" if op == "ConvTranspose" else "conv")
        elif op in _POOLS or op in ("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"):
            self.window_layer(node, attrs, _POOLS.get(op, "global-pool"))
        elif op in ("Resize", "Upsample"):
            self.resize_layer(node, attrs)
        elif op in ("DepthToSpace", "SpaceToDepth"):
            self.simple_layer(node, attrs, "pixel-shuffle" if op == "DepthToSpace" else "space-to-depth",
                              data_in[0])
        elif op in ("Gemm", "MatMul") and len(data_in) == 1 and node.input[0] == data_in[0]:
            self.dense_layer(node, attrs)
        elif len(data_in) >= 2 and op in _CONTRACTIONS:
            self.contraction_layer(node, data_in)
        elif len(data_in) >= 2 and op in ("Concat", "Add", "Sum", "Mul", "Sub", "Max", "Min",
                                          "Mean", "Div", "Where"):
            self.merge_layer(node, attrs, data_in)
        elif op == "Pad":
            self.pad_layer(node, attrs, data_in[0])
        elif op == "Slice":
            self.slice_layer(node, attrs, data_in[0])
        elif op == "Split" and node.input[0] == data_in[0]:
            for out in node.output:  # every part is data, as each Slice of an unbind is
                if out:
                    self._axis_op(node, "split", data_in[0], out)
        elif op in _LAYOUT and node.input[0] == data_in[0]:
            self.movement(node, attrs, data_in[0])
        elif self._resamples(node, attrs, data_in):
            self._collect(node, data_in[0])
        else:
            self.simple_layer(node, attrs, op.lower(), data_in[0], inputs=data_in)

    # -- layer constructors ------------------------------------------------
    def _anchor(self, node, kind, data_name, drop: tuple = (), shapes: Optional[tuple] = None) -> Layer:
        """A layer of ``node`` reading ``data_name``; ``shapes``, when the caller has
        looked them up, are the tensor shapes of ``data_name`` and the node's output."""
        out = node.output[0]
        tensor_in, tensor_out = shapes or (self.shape(data_name), self.shape(out))
        in_shape, out_shape = _without(tensor_in, drop), _without(tensor_out, drop)
        src = self.resolve(data_name, in_shape, node, drop)
        layer = Layer(len(self.layers), "", kind, node.op_type, [node.name], [src], in_shape, out_shape,
                      out_tensor=out)
        self.layers[layer.id] = layer
        source = self.layers[src]
        if kind in _IMAGE_KINDS:  # a conv reads its input as an image, whatever made it
            if source.untracked and source.kind == "reshape" and source.out_shape is not None:
                source.untracked = False
                source.transfer = [b if isinstance(b, int) else None for b in source.out_shape[2:]]
        else:
            layer.untracked = source.untracked
        axes = _identity(len(tensor_out or ()))
        layer.out_axes = tuple(i for i in axes if i not in drop) if drop else axes
        layer.scopes = [node.name]
        self.views[out] = View(layer.id, axes)
        return layer

    def window_layer(self, node, attrs, kind) -> None:
        data = node.input[0]
        weight = node.input[3] if node.op_type == "QLinearConv" else (
            node.input[1] if len(node.input) > 1 else "")
        tensor_in, tensor_out = self.shape(data), self.shape(node.output[0])
        wshape = self.shape(weight) if weight else None
        # What follows from the attributes and shapes alone is worked out once per
        # distinct (op, attributes, shapes): a large model repeats a few convs
        # thousands of times. A node that fails a check is never stored.
        try:
            key: Optional[tuple] = (kind, node.op_type, tensor_in, tensor_out, wshape,
                                    *((k, tuple(v) if type(v) is list else v) for k, v in attrs.items()))
            found = self._windows.get(key)
        except TypeError:  # an attribute or dim that cannot be hashed
            key, found = None, None
        if found is None:
            found = self._window_info(node, attrs, kind, tensor_in, tensor_out, wshape)
            if key is not None:
                self._windows[key] = found
        drop, info, lists, transfer, dense = found
        layer = self._anchor(node, kind, data, drop, (tensor_in, tensor_out))
        layer.attrs = attrs = info.copy()
        for k in lists:  # a layer's own lists (a folded Pad changes its pads)
            attrs[k] = attrs[k][:]
        layer.transfer = list(transfer)
        if kind in ("conv", "conv-transpose"):
            layer.params = self.param_numel(weight)
            layer.weight = weight
            for extra in node.input[2:3]:
                layer.params += self.param_numel(extra)
        if dense:  # MATLAB writes fullyConnectedLayer as a Conv over the whole map
            assert layer.out_shape is not None  # a dense conv has a known output
            layer.kind = "dense"
            layer.attrs["units"] = layer.out_shape[1]

    def _window_info(self, node, attrs: dict, kind: str, tensor_in, tensor_out, wshape) -> tuple:
        """(dropped tensor axes, layer attributes, the keys of those that are lists,
        transfer per spatial axis, is it a dense layer) of a conv or pool; raises for
        attributes no runtime accepts."""
        drop = _degenerate_axes(tensor_in, tensor_out, attrs)
        if drop:  # Keras Conv1D/MaxPool1D through tf2onnx: a 1×k window on a 1×L map
            attrs = _drop_window_axes(attrs, [a - 2 for a in drop])
        in_shape, out_shape = _without(tensor_in, drop), _without(tensor_out, drop)
        spatial = len(in_shape or ()) - 2
        if in_shape is None:  # rank unknown: the attributes tell the spatial axes
            spatial = len(attrs.get("kernel_shape") or ()) or (len(wshape) - 2 if wshape else 0)
        info = {"kernel": list(attrs.get("kernel_shape") or ()),
                "stride": list(attrs.get("strides") or [1] * max(spatial, 0)),
                "dilation": list(attrs.get("dilations") or [1] * max(spatial, 0)),
                "pads": list(attrs.get("pads") or [0] * max(2 * spatial, 0)),
                "auto_pad": attrs.get("auto_pad", "NOTSET"),
                "group": attrs.get("group", 1),
                "pads_given": "pads" in attrs}
        if kind in ("conv", "conv-transpose"):
            if not info["kernel"] and wshape:
                info["kernel"] = list(wshape[2:])
            if kind == "conv-transpose":
                info["output_padding"] = list(attrs.get("output_padding") or [0] * spatial)
                if attrs.get("output_shape"):
                    info["output_shape"] = list(attrs["output_shape"])
        else:
            info["ceil_mode"] = int(attrs.get("ceil_mode", 0))
        info["rank"] = None if in_shape is None else len(in_shape)
        _check_window(node, info, spatial, kind, _without(wshape, drop) if wshape is not None else None)
        del info["rank"]
        if kind == "global-pool":
            info["kernel"] = [None] * spatial
        info["padding"] = self._padding_mode(info, in_shape, kind)
        transfer: list = [self._window_transfer(info, i, kind) for i in range(max(spatial, 0))]
        dense = (kind == "conv" and in_shape is not None and out_shape is not None
                 and _covers_whole_map(info, in_shape, out_shape))
        if dense:
            assert in_shape is not None
            transfer = [("fixed", d, 1) for d in in_shape[2:]]
        lists = tuple(k for k, v in info.items() if type(v) is list)
        return drop, info, lists, tuple(transfer), dense

    def _padding_mode(self, info: dict, in_shape, kind: str) -> str:
        """'same', 'valid' or 'explicit', read through the exporter's dialect."""
        if info["auto_pad"] in ("SAME_UPPER", "SAME_LOWER"):
            return "same"
        if info["auto_pad"] == "VALID":
            return "valid"
        if kind == "global-pool" or not info["kernel"]:
            return "valid"
        spatial = len(info["kernel"])
        pads = info["pads"]
        if kind == "conv-transpose":
            return "valid" if not any(pads) else "explicit"
        if not any(pads):
            # tf2onnx writes no pads for 'valid' and explicit pads for 'same'.
            keras_same = self.exporter.variant == "tf2onnx" and info["pads_given"]
            return "same" if keras_same else "valid"
        if all(s == 1 for s in info["stride"]) and all(
                pads[i] + pads[i + spatial] == info["dilation"][i] * (info["kernel"][i] - 1)
                and abs(pads[i] - pads[i + spatial]) <= 1 for i in range(spatial)):
            return "same"
        sizes = (in_shape or ())[2:]
        same = True
        for i in range(spatial):
            size = sizes[i] if i < len(sizes) else None
            if not isinstance(size, int):
                same = False
                break
            want = same_pads(size, info["kernel"][i], info["stride"][i], info["dilation"][i])
            if (pads[i], pads[i + spatial]) != want and (pads[i + spatial], pads[i]) != want:
                same = False
        if same and all(s == 1 for s in info["stride"]):
            return "same"
        if same and self.exporter.family in ("keras", "matlab"):
            return "same"
        return "explicit"

    def _window_transfer(self, info: dict, axis: int, kind: str):
        if kind == "global-pool":
            return 1
        spatial = len(info["kernel"])
        if axis >= spatial:
            return None
        k, s, d = info["kernel"][axis], info["stride"][axis], info["dilation"][axis]
        p0, p1 = info["pads"][axis], info["pads"][axis + spatial]
        if kind == "conv-transpose":
            if "output_shape" in info:
                return info["output_shape"][-spatial + axis]
            same = info["auto_pad"] in ("SAME_UPPER", "SAME_LOWER")
            return _transposed_transfer(k, s, d, p0, p1, info["output_padding"][axis], same)
        if info["auto_pad"] == "VALID":
            p0 = p1 = 0
        same = info["padding"] == "same" and not info.get("ceil_mode")
        return _window_transfer(k, s, d, p0, p1, bool(info.get("ceil_mode")), same)

    def resize_layer(self, node, attrs) -> None:
        layer = self._anchor(node, "upsample", node.input[0])
        before, after = layer.in_shape, layer.out_shape
        spatial = len(before or ()) - 2
        mode = attrs.get("mode", "nearest")
        layer.attrs = {"mode": mode,
                       "coordinate_transformation_mode": attrs.get("coordinate_transformation_mode", "")}
        sizes_name = node.input[3] if len(node.input) > 3 else ""
        computed = sizes_name and sizes_name not in self.constants and not self._is_const_value(sizes_name)
        fixed = bool(sizes_name) and not computed  # constant sizes: the output size is fixed
        transfer, factors = [], []
        for i in range(spatial):
            assert before is not None  # spatial > 0 only when the input rank is known
            a = before[2 + i]
            b = after[2 + i] if after is not None and len(after) > 2 + i else None  # unknown output
            ratio = _ratio(a, b)
            factors.append(ratio)
            if computed:
                source = self._shape_source(sizes_name, node.input[0])
                transfer.append(("match", source, i) if source is not None else b)
            elif fixed:
                transfer.append(b if isinstance(b, int) else None)
            elif ratio is not None:
                transfer.append(scale_dim(Expr.symbol("x"), ratio))
            else:
                transfer.append(b if isinstance(b, int) else None)
        layer.attrs["factor"] = factors
        layer.attrs["to_size"] = bool(sizes_name)
        if factors and all(f is not None and f < 1 for f in factors):
            layer.kind = "downsample"
        layer.transfer = transfer

    def _is_const_value(self, name: str) -> bool:
        t = self.prop.tensors.get(name)
        return t is not None and t.value is not None and all(isinstance(v, (int, float)) for v in t.value) \
            and not self._depends_on_shape(name)

    def _depends_on_shape(self, name: str) -> bool:
        return self._shape_source(name, None, any_source=True) is not None

    def _shape_source(self, name: str, exclude: Optional[str], any_source: bool = False) -> Optional[int]:
        """The layer whose size a computed shape tensor copies (resize/crop to a skip)."""
        producers = self._producers()
        seen: set[str] = set()
        stack, found = [name], []
        while stack and len(seen) < 200:
            cur = stack.pop()
            if cur in seen:
                continue
            seen.add(cur)
            node = producers.get(cur)
            if node is None:
                continue
            if node.op_type == "Shape":
                found.append(node.input[0])
                continue
            stack.extend(i for i in node.input if i)
        if any_source:
            return 0 if found else None
        for tensor in found:
            if tensor != exclude and tensor in self.views:
                return self.views[tensor].layer
        return None

    def _producers(self) -> dict:
        if not hasattr(self, "_producer_map"):
            self._producer_map = {o: n for n in self.model.graph.node for o in n.output}
        return self._producer_map

    def simple_layer(self, node, attrs, kind, data_name, inputs=None) -> None:
        layer = self._anchor(node, kind, data_name)
        if inputs and len(inputs) > 1:
            for extra in inputs[1:]:
                layer.inputs.append(self.resolve(extra, self.shape(extra), node))
        layer.attrs = {k: v for k, v in attrs.items() if isinstance(v, (int, float, str, list))}
        before, after = layer.in_shape, layer.out_shape
        if kind in ("pixel-shuffle", "space-to-depth"):
            b = attrs.get("blocksize", 1)
            x = Expr.symbol("x")
            layer.attrs = {"blocksize": b, "factor": [b if kind == "pixel-shuffle" else 1 / b] * (len(before or ()) - 2)}
            layer.transfer = [b * x if kind == "pixel-shuffle" else floordiv(x, b)] * (len(before or ()) - 2)
        else:
            layer.transfer = _same_or_const(before, after)

    def dense_layer(self, node, attrs) -> None:
        positions = self._channels_last(node)
        layer = self._anchor(node, "dense", node.input[0])
        weight = node.input[1]
        layer.weight = weight
        layer.params = self.param_numel(weight)
        if len(node.input) > 2:
            layer.params += self.param_numel(node.input[2])
        layer.attrs = {"units": (layer.out_shape or (None, None))[-1]}
        layer.transfer = []
        if positions is not None:
            # a Linear over the channels of a channels-last view (ConvNeXt's
            # permute → LayerNorm → Linear, a Keras Dense on an NHWC map): a
            # pointwise layer, canonical (N, C, *spatial) at the same sizes
            layer.in_shape = _to_canonical(layer.in_shape, positions)
            layer.out_shape = _to_canonical(layer.out_shape, positions)
            layer.out_axes = positions
            layer.attrs["units"] = (layer.out_shape or (None, None))[1]
            layer.transfer = [Expr.symbol("x")] * (len(positions) - 2)

    def _channels_last(self, node) -> Optional[tuple]:
        """Canonical axis j -> tensor axis of a MatMul's data input, when the axis it
        contracts (the last) is the canonical channel axis of an image (N, C, *spatial)
        read in another layout; else None (a flattened vector, tokens N×L×C that no
        image layout names, a product over a spatial axis).

        The weight is one matrix (K, units): the other axes of the input are carried
        over to the output in their order, so the output has the input's layout.
        """
        name = node.input[0]
        view = self.views[name]
        if node.op_type != "MatMul" or view.pending or view.axes is None:
            return None
        src = self.layers[view.layer]
        before, after = self.shape(name), self.shape(node.output[0])
        weight = self.shape(node.input[1])
        if src.untracked or src.out_axes is None or before is None or after is None \
                or len(before) < 3 or len(after) != len(before) or weight is None or len(weight) != 2 \
                or tuple(before[:-1]) != tuple(after[:-1]):
            return None
        positions = _positions(view.axes, src.out_axes, len(before))
        if positions is None or positions[1] != len(before) - 1:
            return None
        return positions

    def contraction_layer(self, node, data_in: list) -> None:
        """A product of data tensors (MatMul, Gemm, Einsum), as attention computes ``q·kᵀ``.

        Its output's axes are not the axes of one input in another order: (b, hw, c)
        times (b, c, hw) gives (b, hw, hw). The layer keeps the output tensor's shape
        as it is and tracks no spatial axis through it.
        """
        ids = [self.resolve(n, self.shape(n), node) for n in data_in]
        out = node.output[0]
        shape = self.shape(out)
        layer = self._new(node.op_type.lower(), "", node.op_type, self.shape(data_in[0]), shape,
                          nodes=[node.name], inputs=ids, out_tensor=out)
        layer.scopes = [node.name]
        layer.out_axes = _identity(len(shape or ()))
        layer.transfer = []  # no spatial axis, as after a dense layer
        layer.untracked = True
        self.views[out] = View(layer.id, _identity(len(shape or ())))

    def merge_layer(self, node, attrs, data_in) -> None:
        """Concat, Add, Mul, ... of data tensors: one layer whose output is their broadcast.

        Elementwise merges broadcast as ONNX does (numpy's rules): a squeeze-and-
        excitation gate N×C×1×1 or a per-channel bias stretches over H×W, so the
        merge has the size of its full-resolution input; those stretched inputs are
        listed in ``broadcast``. Where inputs agree symbolically only at run time
        (an encoder's ``floor(H/8)`` and a decoder's ``2*floor(H/16)``), the newest
        input (the decoder side) gives the size.
        """
        views = [self.views[n] for n in data_in]
        shapes = [self.shape(n) for n in data_in]
        ids = [self.resolve(n, tensor, node) for n, tensor in zip(data_in, shapes)]
        if node.op_type in ("Mul", "Add") and self._fold_gated_activation(node, ids, views):
            return
        if node.op_type == "Concat" and self._wrap_pad(node, ids, data_in):
            return
        layers = self.layers
        sources = [layers[i] for i in ids]
        out = node.output[0]
        shape = self.shape(out)
        rank = len(shape or ())
        kind = _MERGE_KINDS.get(node.op_type) or node.op_type.lower()
        # the merge works in the layout of its inputs: the first input of the output's
        # rank whose axes map one to one onto its layer's canonical axes gives it
        positions = None
        for name, source, tensor in zip(data_in, sources, shapes):
            if tensor is not None and len(tensor) == rank:  # (the view resolve left)
                positions = _positions(self.views[name].axes, source.out_axes, rank)
                if positions is not None:
                    break
        out_axes = positions or _identity(rank)
        layer = Layer(len(layers), "", kind, node.op_type, [node.name], ids, out_tensor=out,
                      out_axes=out_axes, scopes=[node.name])
        layers[layer.id] = layer
        concat_axis = None
        if kind == "concat":
            axis = attrs.get("axis", 0)
            axis = axis + rank if isinstance(axis, int) and axis < 0 else axis
            concat_axis = out_axes.index(axis) if axis in out_axes else axis
            layer.attrs["axis"] = concat_axis
        layer.attrs["input_shapes"] = [source.out_shape for source in sources]
        # each input's dim along each canonical axis (right-aligned, as ONNX broadcasts)
        dims = [_aligned(tensor, out_axes, rank) for tensor in shapes]
        if shape is not None:
            merged = [shape[k] for k in out_axes]
            newest_first = sorted(range(len(ids)), key=ids.__getitem__, reverse=True)  # stable
            for j in range(2, rank):
                if j == concat_axis:
                    continue
                for i in newest_first:  # symbolically follow the decoder (newest) side
                    own = sources[i]
                    tensor_dims = dims[i]
                    if tensor_dims is None or tensor_dims[j] == 1:
                        continue  # stretched along this axis (or of unknown shape)
                    d = own.out_shape[j] if own.out_shape is not None and len(own.out_shape) == rank \
                        and not own.untracked else tensor_dims[j]
                    if d is not None and d != 1:
                        merged[j] = d
                        break
            layer.out_shape = tuple(merged)
            if kind != "concat" and dims.count(dims[0]) != len(dims):  # equal inputs stretch nothing
                layer.broadcast = tuple(dict.fromkeys(
                    lid for lid, d in zip(ids, dims) if d is not None and any(
                        d[j] == 1 and merged[j] != 1 for j in range(1, rank))))
        if layer.broadcast:
            full = [lid for lid in ids if lid not in layer.broadcast]
            layer.in_shape = layers[(full or ids)[0]].out_shape
        else:
            layer.in_shape = sources[0].out_shape
        layer.untracked = all(source.untracked for source in sources)
        spatial = len(layer.out_shape or ()) - 2
        layer.transfer = [_X] * max(spatial, 0)
        self.views[out] = View(layer.id, _identity(rank))

    def _wrap_pad(self, node, ids: list, data_in: list) -> bool:
        """A Concat of a tensor with crops of itself along one spatial axis is a pad (the
        TorchScript exporter writes ``padding_mode="circular"`` as Concat(x[..., -1:, :],
        x, x[..., :1, :]), an axis at a time): one ``pad`` layer, mode ``wrap``, whose
        input is the tensor, instead of a merge whose crops read as the main path.

        Only crops read nowhere else and made just before (the newest layers), so that
        removing them renumbers nothing; a second axis padded the same way right after
        joins the first axis' pad layer.
        """
        crops = sorted({lid for lid in ids if self.layers[lid].kind == "crop"})
        kept = {lid for lid in ids if lid not in crops}
        if not crops or len(kept) != 1:
            return False
        src = self.layers[kept.pop()]
        newest = len(self.layers)
        if crops != list(range(newest - len(crops), newest)):
            return False
        out = node.output[0]
        shape = self.shape(out)
        rank = len(shape or ())
        name = data_in[ids.index(src.id)]
        positions = _positions(self.views[name].axes, src.out_axes, rank)
        if shape is None or positions is None or src.out_shape is None or len(src.out_shape) != rank:
            return False
        out_shape = tuple(shape[k] for k in positions)
        grown = [j for j in range(rank) if out_shape[j] != src.out_shape[j]]
        if len(grown) != 1 or grown[0] < 2:
            return False
        axis = grown[0]
        for lid in crops:
            crop = self.layers[lid]
            if crop.inputs != [src.id] or self.consumers.get(crop.out_tensor, 0) != 1 \
                    or crop.out_shape is None or len(crop.out_shape) != rank \
                    or any(crop.out_shape[j] != src.out_shape[j] for j in range(rank) if j != axis):
                return False
        nodes = [n for lid in crops for n in self.layers[lid].nodes] + [node.name]
        for lid in reversed(crops):  # the newest first: ids stay dense
            del self.layers[lid]
        x = Expr.symbol("x")
        delta = out_shape[axis] - src.out_shape[axis]
        step = x + delta if isinstance(delta, int) else None
        if src.kind == "pad" and src.attrs.get("mode") == "wrap" and src.id == len(self.layers) - 1 \
                and src.transfer[axis - 2] == x and self.consumers.get(src.out_tensor, 0) == len(ids):
            layer = src  # the next axis of the same padding
            layer.nodes += nodes
        else:
            layer = self._new("pad", "", node.op_type, src.out_shape, None, nodes=nodes,
                              inputs=[src.id], out_tensor=out)
            layer.scopes = [node.name]
            layer.untracked = src.untracked
            layer.attrs["mode"] = "wrap"
            layer.transfer = [x] * (rank - 2)
        layer.transfer[axis - 2] = step
        layer.out_shape, layer.out_axes, layer.out_tensor = out_shape, positions, out
        self.views[out] = View(layer.id, _identity(rank))
        return True

    def _fold_gated_activation(self, node, ids: list, views: list) -> bool:
        """``x * sigmoid(x)`` (SiLU), ``x * 0.5 * (1 + erf(x / √2))`` (GELU), ``x * tanh(softplus(x))``.

        A Mul/Add whose data inputs all come from one layer, directly or through
        single-input elementwise layers used nowhere else, is that layer's
        activation: the chain layers disappear and the merge output continues
        the root layer.
        """
        roots, chain = set(), []
        for lid in ids:
            cur = lid
            while self.layers[cur].kind in ELEMENTWISE_KINDS and len(self.layers[cur].inputs) == 1:
                if self.consumers.get(self.layers[cur].out_tensor, 0) != 1:
                    return False
                chain.append(cur)
                cur = self.layers[cur].inputs[0]
            roots.add(cur)
        if len(roots) != 1 or not chain:
            return False
        root = self.layers[roots.pop()]
        if root.kind in ("input", "output") or any(v.pending for v in views):
            return False
        ops = [op for lid in chain for op in self.layers[lid].attrs.get("ops", [self.layers[lid].op])]
        ops += [self.layers[lid].op for lid in chain]
        name = ("gelu" if "Erf" in ops or ("Tanh" in ops and "Pow" in ops) else
                "mish" if "Softplus" in ops else "hard-swish" if "HardSigmoid" in ops else
                "silu" if "Sigmoid" in ops else "gated")
        root.activation = name if not root.activation else f"{root.activation}+{name}"
        for lid in dict.fromkeys(chain):
            root.nodes.extend(self.layers[lid].nodes)
            del self.layers[lid]
        root.nodes.append(node.name)
        root.out_tensor = node.output[0]
        self.views[node.output[0]] = View(root.id, views[0].axes)
        return True

    def pad_layer(self, node, attrs, data_name) -> None:
        before = self.shape(data_name)
        after = self.shape(node.output[0])
        if before is not None and before == after and not self._computed(node):
            self.elementwise(node, attrs, data_name)  # all-zero pads: a no-op
            return
        layer = self._axis_op(node, "pad", data_name)
        layer.attrs["mode"] = attrs.get("mode", "constant")

    def slice_layer(self, node, attrs, data_name) -> None:
        """A crop; a crop of a crop that nothing else reads, on other axes, is one crop
        (``y[:, :, 1:-1, 1:-1]`` is a Slice per axis in both torch exporters)."""
        layer = self._axis_op(node, "crop", data_name)
        src = self.layers[layer.inputs[0]]
        x = Expr.symbol("x")
        if src.kind != "crop" or data_name != src.out_tensor or layer.out_axes != src.out_axes \
                or self.consumers.get(src.out_tensor, 0) != 1 or layer.id != len(self.layers) - 1 \
                or len(src.transfer) != len(layer.transfer):  # (read directly, in one layout)
            return
        combined = []
        for first, second in zip(src.transfer, layer.transfer):
            if second == x:
                combined.append(first)
            elif first == x:
                combined.append(second)
            else:
                return  # the same axis cropped twice: two steps, as written
        src.transfer = combined
        src.out_shape, src.out_axes, src.out_tensor = layer.out_shape, layer.out_axes, layer.out_tensor
        src.nodes += layer.nodes
        del self.layers[layer.id]  # the newest id: the next layer takes it again
        self.views[layer.out_tensor] = View(src.id, self.views[layer.out_tensor].axes)

    def _axis_op(self, node, kind, data_name, out: str = "") -> Layer:
        """Pad, Slice or one output of a Split: a size change along tensor axes, mapped to canonical."""
        view = self.views[data_name]
        src_id = self.resolve(data_name, None, node) if not view.pending else \
            self._materialize(view, data_name, None).id
        view = self.views[data_name]
        src = self.layers[src_id]
        out = out or node.output[0]
        shape_after = self.shape(out)
        layer = self._new(kind, "", node.op_type, src.out_shape, None, nodes=[node.name],
                          inputs=[src_id], out_tensor=out)
        layer.scopes = [node.name]
        layer.untracked = src.untracked
        positions = _positions(view.axes, src.out_axes, len(shape_after)) if shape_after else None
        if positions is not None:
            assert shape_after is not None
            layer.out_axes = positions
            layer.out_shape = tuple(shape_after[k] for k in positions)
        if layer.out_shape is None:
            layer.out_shape = shape_after
            layer.out_axes = tuple(range(len(shape_after or ())))
        before, after = layer.in_shape, layer.out_shape
        transfer: list = []
        spatial = len(before or ()) - 2
        computed = self._computed(node)
        kept = self._unsliced_axes(node, len(shape_after or ())) if computed else frozenset()
        for i in range(max(spatial, 0)):
            assert before is not None  # spatial > 0 only when the input rank is known
            a, b = before[2 + i], after[2 + i] if after and len(after) > 2 + i else None
            if computed and a == b and layer.out_axes is not None and layer.out_axes[2 + i] in kept:
                transfer.append(Expr.symbol("x"))  # an axis the Slice does not cut
            elif computed:
                source = self._shape_source_any(node.input[1:], data_name)
                transfer.append(("match", source, i) if source is not None else b)
            elif isinstance(a, int) and isinstance(b, int):
                delta = b - a
                transfer.append(Expr.symbol("x") + delta)
            elif a is not None and b is not None:
                try:
                    delta = b - a
                    transfer.append(Expr.symbol("x") + delta if isinstance(delta, int) else None)
                except TypeError:
                    transfer.append(None)
            else:
                transfer.append(None)
        layer.transfer = transfer
        self.views[out] = View(layer.id, _identity(len(shape_after or ())))
        return layer

    def _unsliced_axes(self, node, rank: int) -> frozenset:
        """Tensor axes a Slice leaves whole because its constant ``axes`` input does not
        name them (``x.chunk(2, 1)``: ends computed from the channel count, axes [1])."""
        if node.op_type != "Slice" or len(node.input) < 4 or not node.input[3]:
            return frozenset()
        t = self.prop.tensors.get(node.input[3])
        if t is None or t.value is None or not all(isinstance(v, int) for v in t.value):
            return frozenset()
        named = {v + rank if v < 0 else v for v in t.value}
        return frozenset(range(rank)) - named

    def _computed(self, node) -> bool:
        """A Pad or Slice whose amounts are computed at run time (from shapes, or from
        values symcheck does not know), not constants: pads that are zero at the
        analysed size may not be zero at another."""
        return any(i and i not in self.constants and not self._is_const_value(i) for i in node.input[1:])

    def _shape_source_any(self, names, exclude) -> Optional[int]:
        for name in names:
            if name:
                found = self._shape_source(name, exclude)
                if found is not None:
                    return found
        return None

    def elementwise(self, node, attrs, data_name) -> None:
        view = self.views[data_name]
        out = node.output[0]
        op = node.op_type
        if op in _NORMS and view.pending and self._norm_undone(view, node):
            # GroupNorm written as Reshape → InstanceNormalization → Reshape: the norm
            # joins the run of reshapes, and the reshape that undoes them folds it
            self.views[out] = View(view.layer, None, list(view.pending) + [node])
            return
        src = self.layers[view.layer]
        single = self.consumers.get(data_name, 0) == 1
        if op in _NOISE or op == "Pad":
            self.views[out] = View(view.layer, view.axes, list(view.pending))
            if not view.pending and single and src.out_tensor == data_name:
                src.out_tensor = out
            self.hidden += 1
            return
        fusable = (single and not view.pending and src.kind not in ("input",)
                   and src.out_tensor == data_name)
        if src.kind == "input" and op in _ELEMENTWISE_CONST and single and not view.pending:
            src.nodes.append(node.name)
            src.attrs.setdefault("preprocessing", []).append(op)
            src.out_tensor = out
            self.views[out] = view  # nothing pending: the same view
            return
        if fusable:
            src.nodes.append(node.name)
            src.scopes.append(node.name)
            if op in _ACTIVATIONS:
                name = _ACTIVATIONS[op]
                if op == "Clip":
                    name = _clip_name(node, attrs, self.prop)
                src.activation = name if not src.activation else f"{src.activation}+{name}"
            elif op in _NORMS:
                src.norm = _NORMS[op]
            else:  # bias Add, scale Mul (BatchNorm as Mul+Add), ...
                src.attrs.setdefault("ops", [src.op]).append(op)
                if src.learned and op in ("Add", "Sub", "Mul"):
                    for const in node.input:
                        if const and const != data_name and const in self.constants:
                            src.params += self.const_numel(const)
                    if op == "Mul" or (src.attrs.get("fused") and "Mul" in src.attrs["fused"]):
                        src.norm = src.norm or "affine"
                src.attrs.setdefault("fused", []).append(op)
            src.out_tensor = out
            self.views[out] = view  # nothing pending: the same view (views never change)
            return
        kind = "activation" if op in _ACTIVATIONS else "norm" if op in _NORMS else "scale"
        in_shape = self.shape(data_name)
        layer = self._anchor(node, kind, data_name)
        layer.in_shape = in_shape
        rank = len(in_shape or ())
        positions = None if view.pending or not rank else \
            _positions(view.axes, self.layers[layer.inputs[0]].out_axes, rank)
        out_shape = layer.out_shape
        if positions is not None and positions != _identity(rank) and in_shape is not None \
                and out_shape is not None and len(out_shape) == rank:
            # one op on a permuted view of a map (a LayerNorm over the channels of its
            # channels-last view, NAFNet's LayerNorm2d): it works in place, in that layout
            layer.out_axes = positions
            layer.in_shape = tuple(in_shape[k] for k in positions)
            layer.out_shape = tuple(out_shape[k] for k in positions)
        if kind == "activation":
            layer.activation = _clip_name(node, attrs, self.prop) if op == "Clip" else _ACTIVATIONS[op]
        elif kind == "norm":
            layer.norm = _NORMS[op]
        layer.transfer = [Expr.symbol("x")] * max(len(in_shape or ()) - 2, 0)

    def movement(self, node, attrs, data_name) -> None:
        view = self.views[data_name]
        out = node.output[0]
        before, after = self.shape(data_name), self.shape(node.output[0])
        axes = None if view.pending or view.axes is None else _track_axes(
            node.op_type, attrs, view.axes, before, after)
        self.hidden += 1
        if axes is None:
            pending = list(view.pending) + [node]
            if not self._fold_norm_detour(view, pending, out):
                self.views[out] = View(view.layer, None, pending)
            return
        self.views[out] = View(view.layer, axes)
        src = self.layers[view.layer]
        if src.out_tensor == data_name and self.consumers.get(data_name, 0) == 1 \
                and src.kind not in ("input",) and src.out_axes is not None:
            # a pure layout op right after the layer (tf2onnx Squeeze, Keras-torch
            # Transpose): the layer's output continues here, so a bias or an
            # activation after it still fuses
            moved = _follow_axes(src.out_axes, view.axes, axes)
            if moved is not None and len(axes) == len(src.out_axes):  # same rank as canonical
                src.out_tensor, src.out_axes = out, moved
                # views are relative to the layer's out_tensor, which is now ``out``
                self.views[out] = View(view.layer, tuple(range(len(axes))))

    def _resamples(self, node, attrs: dict, data_in: list) -> bool:
        """Whether ``node`` picks pixels of an image by a fixed index along its spatial
        axes, so the run it starts (or continues) is one resampling judged by the shapes
        at its two ends: a ``Gather``, ``GatherElements`` or ``GatherND`` whose indices
        are not data and whose gathered axes are spatial axes of the image (the dynamo
        exporter's nearest-exact upsampling and adaptive pooling), and a ``Reduce*``
        over such a run (the windows of an adaptive pool, averaged)."""
        op, data = node.op_type, data_in[0]
        if len(data_in) != 1 or node.input[0] != data:
            return False
        view = self.views[data]
        if op.startswith("Reduce"):
            return any(n.op_type in _GATHERS for n in view.pending)
        if op not in _GATHERS:
            return False
        if view.pending:  # a second gather of the same resampling (rows, then columns)
            return any(n.op_type in _GATHERS for n in view.pending)
        index = self.shape(node.input[1]) if len(node.input) > 1 else None
        before = self.shape(data)
        src = self.layers[view.layer]
        if index is None or before is None or view.axes is None or src.out_axes is None \
                or not index or static_numel(index) in (None, 0, 1):
            return False
        rank = len(before)
        if op == "GatherND":
            depth = index[-1]
            if attrs.get("batch_dims", 0) or not isinstance(depth, int) or not 0 < depth <= rank:
                return False
            axes = list(range(depth))
        else:
            axis = attrs.get("axis", 0)
            axes = [axis + rank if isinstance(axis, int) and axis < 0 else axis]
        canonical = []
        for a in axes:
            source = view.axes[a] if isinstance(a, int) and 0 <= a < len(view.axes) else None
            canonical.append(src.out_axes.index(source) if source in src.out_axes else None)
        return all(isinstance(j, int) and j >= 2 for j in canonical)

    def _collect(self, node, data_name: str) -> None:
        """Add ``node`` to the data movement its input's view collects (see :meth:`_materialize`)."""
        view = self.views[data_name]
        self.hidden += 1
        self.views[node.output[0]] = View(view.layer, None, list(view.pending) + [node])

    def _readers(self, name: str) -> list:
        """The nodes that read tensor ``name``'s values, once each (``Shape`` and ``Size``
        read only its shape), and None for a graph output."""
        if self._reader_map is None:
            readers: dict = {}
            for node in self.prop.order:
                if node.op_type not in ("Shape", "Size"):
                    for i in dict.fromkeys(node.input):
                        if i:
                            readers.setdefault(i, []).append(node)
            for out in self.model.graph.output:
                readers.setdefault(out.name, []).append(None)
            self._reader_map = readers
        return self._reader_map.get(name, [])

    def _norm_undone(self, view: View, node) -> bool:
        """Whether a norm over a regrouped view is regrouped back to the view's start.

        The collected run before the norm and the nodes after it are Reshape,
        Flatten, Squeeze or Unsqueeze alone (they keep the element order), each
        after the norm the only reader of its input, up to the first tensor of the
        run's starting shape: GroupNorm as the TorchScript and dynamo exporters
        write it, ``(N, C, H, W) → (N, G, C/G·H·W) → InstanceNormalization → (N, C, H, W)``.
        """
        if any(n.op_type not in _REGROUP for n in view.pending):
            return False
        want = self.shape(view.pending[0].input[0])
        if want is None or any(d is None for d in want):
            return False
        name = node.output[0]
        for _ in range(4):
            readers = self._readers(name)
            if len(readers) != 1 or readers[0] is None:
                return False
            reader = readers[0]
            if reader.op_type not in _REGROUP or reader.input[0] != name:
                return False
            name = reader.output[0]
            if self.shape(name) == want:
                return True
        return False

    def _fold_norm_detour(self, view: View, pending: list, out: str) -> bool:
        """Fold a run that :meth:`_norm_undone` let a norm join, once it is back at its
        starting shape: the norm joins the layer before it as BatchNorm does (when it
        is that layer's only reader), else it is one ``norm`` layer. The norm is a
        ``group-norm`` when it normalized groups of channels."""
        norms = [n for n in pending if n.op_type in _NORMS]
        start = pending[0].input[0]
        if len(norms) != 1 or self.shape(out) != self.shape(start):
            return False
        norm, shape = norms[0], self.shape(start) or ()
        grouped = self.shape(norm.input[0])
        name = _NORMS[norm.op_type]
        if norm.op_type == "InstanceNormalization" and grouped and len(grouped) > 1 \
                and len(shape) > 1 and grouped[1] != shape[1]:
            name = "group-norm"
        names = [n.name for n in pending]
        start_view = self.views[start]
        src = self.layers[view.layer]
        if not start_view.pending and start_view.axes is not None and src.kind != "input" \
                and src.out_tensor == start and len(self._readers(start)) == 1:
            src.nodes.extend(names)
            src.scopes.append(norm.name)
            src.norm = name
            src.out_tensor = out
            self.views[out] = View(src.id, start_view.axes)  # the same elements in the same order
            return True
        src_id = self.resolve(start, shape, norm)
        layer = self._new("norm", "", norm.op_type, shape, shape, nodes=names, inputs=[src_id],
                          out_tensor=out, norm=name)
        layer.out_axes = _identity(len(shape))
        layer.scopes = [norm.name] + [n for n in names if n != norm.name]
        layer.transfer = [Expr.symbol("x")] * max(len(shape) - 2, 0)
        self.views[out] = View(layer.id, _identity(len(shape)))
        return True

    # -- outputs ----------------------------------------------------------
    def finish(self, output_names: list[str]) -> list[int]:
        ids = []
        for name in output_names:
            if name not in self.views:
                continue
            view = self.views[name]
            src_id = view.layer
            target = None
            if view.pending:
                # a reshape at the very end: read it in the input's layout
                shape = self.shape(name)
                target = _to_canonical(shape, self._input_axes())
                src_id = self._materialize(view, name, target).id
                axes = self._input_axes()
            else:
                src = self.layers[src_id]
                if src.kind == "input" and src.out_axes is None:
                    src.out_axes = tuple(range(len(src.out_shape or ())))
                axes = _positions(view.axes, src.out_axes, len(view.axes or ()))
            src = self.layers[src_id]
            shape = src.out_shape
            tensor_shape = self.shape(name)
            if tensor_shape is not None and shape is not None and len(tensor_shape) != len(shape):
                shape, axes = tensor_shape, None
            layer = self._new("output", name, "", shape, shape, inputs=[src_id], out_tensor=name)
            layer.out_axes = axes or tuple(range(len(shape or ())))
            layer.untracked = src.untracked
            layer.transfer = [Expr.symbol("x")] * max(len(shape or ()) - 2, 0)
            ids.append(layer.id)
        return ids

    def _input_axes(self) -> Optional[tuple]:
        if not self.input_ids:
            return None
        return self.layers[self.input_ids[0]].out_axes


def _check_window(node, info: dict, spatial: int, kind: str, wshape) -> None:
    """Refuse window attributes no runtime accepts, with ``bad-attribute``: kernel,
    strides and dilations that are not positive ints, negative pads, lists of the
    wrong length, a group below 1, a kernel_shape that contradicts the weight."""
    if info.get("rank") is not None and spatial < 1:
        raise SymcheckError("bad-dims", f"{node.op_type} node {node.name[:60]!r} reads a rank-"
                                        f"{info['rank']} tensor; it needs (N, C, spatial axes...)")
    if kind == "global-pool":
        return

    def bad(what: str, value) -> SymcheckError:
        text = str(value)
        text = text if len(text) <= 60 else text[:59] + "…"
        name = node.name if len(node.name) <= 60 else node.name[:59] + "…"
        return SymcheckError("bad-attribute", f"{node.op_type} node {name!r}: {what} {text}")

    checks: list[tuple[str, object, int, Optional[int]]] = [
        ("kernel_shape", info["kernel"], 1, spatial), ("strides", info["stride"], 1, spatial),
        ("dilations", info["dilation"], 1, spatial), ("pads", info["pads"], 0, 2 * spatial)]
    if kind == "conv-transpose":
        checks.append(("output_padding", info["output_padding"], 0, spatial))
        checks.append(("output_shape", info.get("output_shape", []), 1, None))
    for key, values, low, length in checks:
        if not isinstance(values, list) or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= low for v in values):
            raise bad(f"{key} must be ints >= {low}, not", values)
        if values and spatial and length is not None and len(values) != length:
            raise bad(f"{key} needs {length} values for {spatial} spatial axes, not", values)
    group = info.get("group", 1)
    if kind in ("conv", "conv-transpose") and (not isinstance(group, int) or group < 1):
        raise bad("group must be an int >= 1, not", group)
    if info.get("auto_pad") not in ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"):
        raise bad("auto_pad is not NOTSET, SAME_UPPER, SAME_LOWER or VALID:", info.get("auto_pad"))
    weight_kernel = [d for d in (wshape or ())[2:]]
    if kind in ("conv", "conv-transpose") and info["kernel"] and weight_kernel and \
            all(isinstance(d, int) for d in weight_kernel) and info["kernel"] != weight_kernel:
        raise bad(f"kernel_shape disagrees with the weight's {weight_kernel}:", info["kernel"])


@functools.lru_cache(maxsize=1024)
def _window_transfer(k: int, s: int, d: int, p0: int, p1: int, ceil_mode: bool, same: bool):
    """Output size of a conv or pool window as an expression of its input size ``x``."""
    x = Expr.symbol("x")
    return ceildiv(x, s) if same else pool_out(x, k, s, d, p0, p1, ceil_mode)


@functools.lru_cache(maxsize=1024)
def _transposed_transfer(k: int, s: int, d: int, p0: int, p1: int, output_padding: int, same: bool):
    x = Expr.symbol("x")
    return s * x if same else transposed_size(x, k, s, d, p0, p1, output_padding)


def _covers_whole_map(info: dict, before, after) -> bool:
    if before is None or after is None or len(before) < 3:
        return False
    if any(d != 1 for d in after[2:]) or any(p for p in info["pads"]):
        return False
    return list(before[2:]) == list(info["kernel"]) and all(isinstance(d, int) for d in before[2:])


def _without(shape: Optional[tuple], drop: tuple) -> Optional[tuple]:
    if shape is None or not drop:
        return shape
    return tuple(d for i, d in enumerate(shape) if i not in drop)


def _degenerate_axes(before: Optional[tuple], after: Optional[tuple], attrs: dict) -> tuple:
    """Tensor axes of a window op that are size 1 in and out with a 1-wide, stride-1, unpadded window."""
    kernel = list(attrs.get("kernel_shape") or ())
    if before is None or after is None or len(before) != len(after) or len(kernel) != len(before) - 2:
        return ()
    spatial = len(kernel)
    strides = list(attrs.get("strides") or [1] * spatial)
    pads = list(attrs.get("pads") or [0] * 2 * spatial)
    if attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        return ()
    drop = tuple(2 + i for i in range(spatial)
                 if before[2 + i] == 1 and after[2 + i] == 1 and kernel[i] == 1 and strides[i] == 1
                 and pads[i] == 0 and pads[i + spatial] == 0)
    return drop if len(drop) < spatial else ()


def _drop_window_axes(attrs: dict, axes: list) -> dict:
    """The window attributes without the given spatial axes."""
    out = dict(attrs)
    keep = lambda values: [v for i, v in enumerate(values) if i not in axes]
    for key in ("kernel_shape", "strides", "dilations", "output_padding"):
        if attrs.get(key):
            out[key] = keep(list(attrs[key]))
    if attrs.get("pads"):
        pads = list(attrs["pads"])
        half = len(pads) // 2
        out["pads"] = keep(pads[:half]) + keep(pads[half:])
    return out


def _match_axes(tensor: Optional[tuple], canonical: Optional[tuple], hint: tuple) -> tuple:
    """canonical axis j -> tensor axis, by matching sizes; identity when nothing fits.

    Used for graph inputs whose layout tracking went through ambiguous size-1
    axes: (N, 100, 1) feeding a conv that sees (N, 1, 100) is NLC.
    """
    rank = len(tensor or ())
    identity = tuple(range(rank))
    if tensor is None or canonical is None or len(canonical) != rank or rank > 6:
        return identity
    fits = [p for p in itertools.permutations(range(rank))
            if all(tensor[p[j]] == canonical[j] for j in range(rank))]
    if not fits:
        return identity
    if identity in fits:
        return identity
    scored = sorted(fits, key=lambda p: -sum(1 for j, a in enumerate(hint) if j < rank and a == p[j]))
    return scored[0]


@functools.lru_cache(maxsize=1024)  # a U-Net's merges see a handful of axis layouts
def _positions(view_axes: Optional[tuple], out_axes: Optional[tuple], rank: int) -> Optional[tuple]:
    """canonical axis j -> tensor axis, for a tensor of ``rank`` axes that reads a layer's
    output through ``view_axes`` (tensor axis i is the layer's output tensor axis
    ``view_axes[i]``; the layer's canonical axis j lives at ``out_axes[j]``).

    None unless the tensor's axes are the layer's canonical axes in some order: a
    tensor that lost, gained or repeated one (two transposed views of a 4-D layer
    squeezed to 3-D, (0, 3, 2)) has no canonical layout.

    >>> _positions((0, 3, 2, 1), (0, 3, 1, 2), 4)
    (0, 1, 3, 2)
    >>> _positions((0, 3, 2), (0, 1, 2, 3), 3) is None
    True
    """
    if view_axes is None or out_axes is None or len(view_axes) != rank or len(out_axes) != rank:
        return None
    inverse = {t: j for j, t in enumerate(out_axes)}
    canon = [inverse.get(a) for a in view_axes]
    if sorted(canon, key=lambda j: -1 if j is None else j) != list(range(rank)):
        return None
    position = {j: k for k, j in enumerate(canon)}
    return tuple(position[j] for j in range(rank))


@functools.lru_cache(maxsize=4096)  # and a few hundred distinct shapes
def _aligned(tensor: Optional[tuple], positions: tuple, rank: int) -> Optional[tuple]:
    """A merge input's dim along each canonical axis of the merge, as ONNX broadcasts it
    (right-aligned: an axis the input lacks is size 1); None when its shape is unknown."""
    if tensor is None or len(tensor) > rank:
        return None
    offset = rank - len(tensor)
    return tuple(tensor[k - offset] if k >= offset else 1 for k in positions)


def _follow_axes(out_axes: tuple, old_view: Optional[tuple], new_view: tuple) -> Optional[tuple]:
    """Canonical->tensor axes after a layout op, or None when an axis is lost."""
    if old_view is None:
        return None
    moved = []
    for tensor_axis in out_axes:
        source = old_view[tensor_axis] if tensor_axis < len(old_view) else None
        if source is None or source not in new_view:
            return None
        moved.append(new_view.index(source))
    return tuple(moved)


def _guess_canonical(before: Optional[tuple], tensor: Optional[tuple]) -> tuple:
    """(canonical shape, canonical->tensor axes) of a reshaped tensor of the same rank.

    The channel axis is the one with the source's channel count (axis 1 when
    it fits, else the last that does); the rest keep their order.
    """
    if before is None or tensor is None or len(before) != len(tensor) or len(tensor) < 3:
        return tensor, None
    channels = before[1]
    candidates = [k for k in range(1, len(tensor)) if tensor[k] == channels]
    if not candidates or 1 in candidates:
        return tensor, None
    k = candidates[-1]
    axes = (0, k) + tuple(i for i in range(1, len(tensor)) if i != k)
    return tuple(tensor[a] for a in axes), axes


def _to_canonical(shape, axes):
    if shape is None or axes is None or len(axes) != len(shape):
        return shape
    return tuple(shape[a] for a in axes)


def _ratio(a, b) -> Optional[float]:
    if a is None or b is None:  # an unknown size: no ratio
        return None
    if isinstance(a, int) and isinstance(b, int) and a > 0:
        if b % a == 0:
            return b // a
        if a % b == 0 and b > 0:
            return 1 / (a // b)
        return b / a
    if isinstance(a, Expr) or isinstance(b, Expr):
        for factor in (2, 3, 4, 8, 16):
            if b == factor * a:
                return factor
            if a == factor * b or b == floordiv(a, factor):  # floor(H/2): a reshape's exact H/2
                return 1 / factor
        if a == b:
            return 1
    return None


def _same_or_const(before, after) -> list:
    spatial = len(before or ()) - 2
    out = []
    for i in range(max(spatial, 0)):
        a = before[2 + i]
        b = after[2 + i] if after is not None and len(after) > 2 + i else None
        out.append(Expr.symbol("x") if a == b else (b if isinstance(b, int) else None))
    return out


def classify_reshape(before, after, moved: bool = True) -> tuple[str, list, dict]:
    """Name what a run of reshapes/tiles did, from the shapes at its ends.

    ``moved`` says the run permutes axes (a Transpose): without one, a run only
    regroups values in their order, which moves no pixel into a channel or back,
    so it is no pixel shuffle, whatever its shapes (attention's (b, 3c, h, w) ->
    (b, 3, c, h*w) has the shapes of one).
    """
    x = Expr.symbol("x")
    if before is None or after is None:
        return "reshape", [], {}
    if len(before) >= 3 and len(after) == 2:
        return "flatten", [("fixed", d, 1) for d in before[2:]], {"features": after[1]}
    if len(before) == 2 and len(after) >= 3:
        return "unflatten", [b if isinstance(b, int) else None for b in after[2:]], {}
    if len(before) != len(after) or len(before) < 3:
        # axes regrouped; a rank-3+ result is read along its own spatial axes (the
        # (b, c, h*w) -> (b, c, h, w) at the end of an attention block)
        grown = len(after) > len(before) and len(after) >= 3
        return "reshape", [b if isinstance(b, int) else None for b in after[2:]] if grown else [], {}
    c0, c1 = before[1], after[1]
    ratios = [_ratio(a, b) for a, b in zip(before[2:], after[2:])]
    factors = [f for f in ratios if f is not None]
    if len(factors) != len(ratios):
        return "reshape", [b if isinstance(b, int) else None for b in after[2:]], {}
    if all(f == 1 for f in factors):
        return ("identity" if c0 == c1 else "reshape"), [x] * len(factors), {}
    if c0 == c1 and all(f >= 1 and float(f).is_integer() for f in factors):
        return "upsample", [int(f) * x for f in factors], {"factor": [int(f) for f in factors],
                                                          "mode": "nearest (repeat)"}
    up = math.prod(f for f in factors)
    if not moved:
        return "reshape", [b if isinstance(b, int) else None for b in after[2:]], {}
    if all(f >= 1 for f in factors) and isinstance(c0, int) and isinstance(c1, int) and c1 * up == c0:
        return "pixel-shuffle", [int(f) * x for f in factors], {"factor": [int(f) for f in factors]}
    if all(f < 1 for f in factors) and isinstance(c0, int) and isinstance(c1, int):
        inv = [round(1 / f) for f in factors]
        if c0 * math.prod(inv) == c1:
            return "space-to-depth", [floordiv(x, r) for r in inv], {"factor": [1 / r for r in inv]}
    return "reshape", [b if isinstance(b, int) else None for b in after[2:]], {}


def classify_resampling(before, after, ops: list) -> tuple[str, list, dict]:
    """Name a run that picks pixels by index (``Gather*``, then perhaps a ``Reduce*`` of
    the picked windows) from the shapes at its ends: an ``upsample`` or a ``downsample``
    by the ratio of the sizes, the channels kept; else a plain ``reshape``.

    An integer factor has the transfer function of a resize by it (``2*x``,
    ``floor(x/2)``); another ratio (an adaptive pool 50→4) maps to the fixed size
    the index was built for, as a resize to constant sizes does.

    >>> kind, transfer, _ = classify_resampling((1, 8, 16, 16), (1, 8, 32, 32), ["GatherND"])
    >>> kind, [str(t) for t in transfer]
    ('upsample', ['2*x', '2*x'])
    >>> classify_resampling((1, 8, 50, 50), (1, 8, 4, 4), ["GatherND", "ReduceMean"])[2]
    {'factor': [0.08, 0.08], 'mode': 'mean', 'to_size': True}
    """
    x = Expr.symbol("x")
    if before is None or after is None or len(before) != len(after) or len(before) < 3 \
            or before[:2] != after[:2]:
        return "reshape", [b if isinstance(b, int) else None for b in (after or ())[2:]], {}
    found = [_ratio(a, b) for a, b in zip(before[2:], after[2:])]
    ratios = [f for f in found if f is not None]
    if len(ratios) != len(found) or all(f == 1 for f in ratios):
        return "reshape", [b if isinstance(b, int) else None for b in after[2:]], {}
    reduce = next((op for op in ops if op.startswith("Reduce")), "")
    mode = {"ReduceMean": "mean", "ReduceMax": "max", "ReduceMin": "min"}.get(reduce, "nearest")
    mode = mode if reduce in ("", "ReduceMean", "ReduceMax", "ReduceMin") else reduce[6:].lower()
    transfer: list = []
    for f, b in zip(ratios, after[2:]):
        if f >= 1 and float(f).is_integer():
            transfer.append(int(f) * x)
        elif f < 1 and float(1 / f).is_integer():
            transfer.append(floordiv(x, round(1 / f)))
        else:
            transfer.append(b if isinstance(b, int) else None)
    fixed = any(not isinstance(t, Expr) for t in transfer)
    factors = [int(f) if f >= 1 and float(f).is_integer() else f for f in ratios]
    attrs = {"factor": factors, "mode": mode}
    if fixed:
        attrs["to_size"] = True
    up = all(f >= 1 for f in ratios)
    if up or all(f <= 1 for f in ratios):
        return ("upsample" if up else "downsample"), transfer, attrs
    return "reshape", [b if isinstance(b, int) else None for b in after[2:]], {}


def _track_axes(op: str, attrs: dict, axes: tuple, before, after) -> Optional[tuple]:
    """Follow axes through a layout op; None when sizes are regrouped."""
    if before is None or after is None:
        return None
    if op == "Transpose":
        perm = attrs.get("perm") or list(reversed(range(len(axes))))
        return tuple(axes[p] for p in perm)
    if op in ("Tile", "Expand"):
        return axes if tuple(before) == tuple(after) else None
    if op in ("Reshape", "Squeeze", "Unsqueeze", "Flatten"):
        big_before = [(i, d) for i, d in enumerate(before) if d != 1]
        big_after = [(i, d) for i, d in enumerate(after) if d != 1]
        if [d for _, d in big_before] != [d for _, d in big_after]:
            return None
        ones_before = [i for i, d in enumerate(before) if d == 1]
        ones_after = [i for i, d in enumerate(after) if d == 1]
        out: list = [None] * len(after)
        for (i, _), (j, _) in zip(big_before, big_after):
            out[j] = axes[i]
        for k, j in enumerate(ones_after):
            out[j] = axes[ones_before[k]] if k < len(ones_before) else None
        return tuple(out)
    return None


def _clip_name(node, attrs, prop) -> str:
    lo, hi = attrs.get("min"), attrs.get("max")
    if len(node.input) > 1:
        t = prop.tensors.get(node.input[1])
        lo = t.value[0] if t is not None and t.value else lo
    if len(node.input) > 2:
        t = prop.tensors.get(node.input[2])
        hi = t.value[0] if t is not None and t.value else hi
    if lo == 0 and hi is not None:
        return f"clipped-relu({hi:g})"
    if lo == 0 and hi is None:
        return "relu"
    return "clip"


# ---------------------------------------------------------------------------
# Names

_TS_NAME = re.compile(r"^/(?:(.*)/)?([A-Za-z]+)(?:_\d+)?$")


def assign_names(layers: dict, graph_nodes: list, exporter: Exporter) -> None:
    """Give every layer the name its framework shows (see module docstring).
    ``graph_nodes`` are the main graph's :class:`Node` views, in file order."""
    nodes = {n.name: n.proto for n in graph_nodes}
    keras_scopes: dict[str, str] = {}
    if exporter.variant == "tf2onnx":
        scopes = []
        for n in graph_nodes:
            parts = n.name.split("/")
            if len(parts) >= 3:
                scopes.append(parts[1])
        keras_scopes = keras_layer_names(scopes)
    used: dict[str, int] = {}
    for layer in layers.values():
        if layer.kind in ("input", "output"):
            continue
        name = None
        if exporter.family == "pytorch" and layer.weight.endswith(".weight"):
            name = layer.weight[: -len(".weight")]  # state_dict names survive BatchNorm folding
        for candidate in ([] if name else layer.scopes):
            name = _framework_name(candidate, nodes.get(candidate), exporter, keras_scopes)
            if name:
                break
        if not name:
            name = layer.scopes[0] if layer.scopes else f"{layer.kind}_{layer.id}"
        count = used.get(name, 0)
        used[name] = count + 1
        layer.name = name if count == 0 else f"{name}#{count + 1}"


_PLAIN_LIST = re.compile(r"\[(?:'[^'\\\n\r\x00]*'(?:, '[^'\\\n\r\x00]*')*)?\]\Z")
_PLAIN_ITEM = re.compile(r"'([^']*)'")


def _name_scopes(text: str) -> list:
    """The dynamo exporter's ``pkg.torch.onnx.name_scopes`` value, a Python list of
    strings: read by a regular expression when every string is plain (no quote,
    backslash, line break or NUL inside, as module paths are), else by
    ``ast.literal_eval``. A model-supplied literal: bounded, and any failure is
    "no scopes"."""
    if _PLAIN_LIST.match(text):
        return _PLAIN_ITEM.findall(text)
    try:
        scopes = ast.literal_eval(text) if len(text) <= 10_000 else []
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return []
    return scopes if isinstance(scopes, list) else []


def _framework_name(node_name: str, node: Optional[NodeProto], exporter: Exporter,
                    keras_scopes: dict) -> Optional[str]:
    if node is not None:
        for prop in node.metadata_props:
            if prop.key == "pkg.torch.onnx.name_scopes":
                scopes = _name_scopes(prop.value)
                modules = [s for s in scopes[:-1] if s and isinstance(s, str)]
                if modules:
                    return modules[-1]
                return node_name.removeprefix("node_") or None  # a function call outside any module
    if exporter.variant == "tf2onnx":
        parts = node_name.split("/")
        if len(parts) >= 3:
            return keras_scopes.get(parts[1], parts[1])
        return None
    if exporter.family in ("pytorch", "keras", "unknown") and node_name.startswith("/"):
        # (unknown: a TorchScript export rewritten by another tool, e.g. a quantizer)
        match = _TS_NAME.match(node_name)
        if match and match.group(1):
            return match.group(1).split("/")[-1]
        return node_name.lstrip("/")  # a functional call outside any module: /MaxPool_1
    if exporter.family == "matlab":
        return node_name
    return node_name or None


def build(model: ModelProto, prop: Propagation, exporter: Exporter,
          data_inputs: list[str]) -> LayerGraph:
    """Build the logical layer graph (layer ids; ``LayerGraph.graph`` is its networkx view)."""
    builder = _Builder(model, prop, exporter, data_inputs)
    builder.run()
    outputs = builder.finish([o.name for o in model.graph.output])
    for layer in builder.layers.values():
        if layer.untracked and layer.kind != "reshape":
            layer.transfer = []  # no image axis to follow (attention's products and what reads them)
    _fold_pads(builder.layers)
    _fold_separable(builder.layers)
    assign_names(builder.layers, prop.nodes, exporter)
    graph = Digraph()
    for layer in builder.layers.values():
        graph.add_node(layer.id)
        for src in layer.inputs:
            graph.add_edge(src, layer.id)
    _drop_identity(graph, builder.layers)
    _mark_detours(graph, builder.layers)
    layout = "NCHW"
    if builder.input_ids:
        layout = describe_layout(builder.layers[builder.input_ids[0]].out_axes)
    return LayerGraph(graph, builder.layers, builder.input_ids, outputs, layout,
                      builder.hidden, prop.unknown_ops)


def describe_layout(axes: Optional[tuple]) -> str:
    """'NCHW', 'NHWC', 'NCDHW', 'NLC' ... from canonical->tensor axes."""
    if axes is None:
        return "NCHW"
    rank = len(axes)
    spatial = {1: "L", 2: "HW", 3: "DHW"}.get(rank - 2, "S" * max(rank - 2, 0))
    canonical = "NC" + spatial
    letters = [""] * rank
    for j, t in enumerate(axes):
        if t is not None and t < rank:
            letters[t] = canonical[j]
    return "".join(letters) if all(letters) else canonical


def _fold_pads(layers: dict) -> None:
    """A Pad whose only consumer is a pool or conv is that layer's padding."""
    pad_layers = [layer for layer in layers.values() if layer.kind == "pad"]
    if not pad_layers:
        return
    consumers: dict[int, list[int]] = {}
    for layer in layers.values():
        for src in layer.inputs:
            consumers.setdefault(src, []).append(layer.id)
    for layer in pad_layers:
        users = consumers.get(layer.id, [])
        if len(users) != 1:
            continue
        user = layers[users[0]]
        if user.kind not in ("conv", "max-pool", "avg-pool") or not user.attrs.get("kernel"):
            continue
        spatial = len(user.attrs["kernel"])
        before, after = layer.in_shape, layer.out_shape
        if before is None or after is None or len(before) != spatial + 2:
            continue
        if before[:2] != after[:2]:
            continue
        extra = [after[2 + i] - before[2 + i] for i in range(spatial)]
        if not all(isinstance(e, int) for e in extra):
            continue
        pads = list(user.attrs["pads"])
        for i, e in enumerate(extra):
            pads[i + spatial] += e  # exporters put the odd pad at the end
        user.attrs["pads"] = pads
        user.attrs["pad_layer"] = layer.attrs.get("mode", "constant")
        user.nodes = layer.nodes + user.nodes
        user.in_shape = before
        user.inputs = layer.inputs
        user.transfer = [_compose(layer.transfer[i], user.transfer[i]) for i in range(spatial)]
        same = all(
            user.transfer[i] == ceildiv(Expr.symbol("x"), user.attrs["stride"][i]) for i in range(spatial))
        user.attrs["padding"] = "same" if same else "explicit"
        del layers[layer.id]


def _fold_separable(layers: dict) -> None:
    """A depthwise conv (one group per input channel) read only by a 1×1 conv is one
    depthwise separable conv (Keras SeparableConv2D, which tf2onnx writes as those
    two Convs; a MobileNet block): one conv layer with the depthwise conv's kernel,
    stride and padding and the pointwise conv's output channels. Its name and weight
    are the depthwise conv's; ``attrs["separable"]`` holds the depthwise group count,
    and an activation between the two stays on record as ``depthwise_activation``.
    """
    if not any(layer.kind == "conv" and layer.attrs.get("group", 1) != 1 for layer in layers.values()):
        return  # no grouped conv: the readers map is not worth building
    readers: dict[int, list[int]] = {}
    for layer in layers.values():
        for src in layer.inputs:
            readers.setdefault(src, []).append(layer.id)
    for pw in list(layers.values()):
        if pw.kind != "conv" or len(pw.inputs) != 1:
            continue
        dw = layers[pw.inputs[0]]
        if dw.kind != "conv" or readers.get(dw.id) != [pw.id] or not _depthwise(dw) or not _pointwise(pw):
            continue
        attrs = dict(dw.attrs)
        attrs["separable"] = attrs.pop("group")
        attrs["group"] = 1
        if dw.activation or dw.norm:
            attrs["depthwise_activation"] = " ".join(filter(None, (dw.norm, dw.activation)))
        pw.attrs = attrs
        pw.nodes = dw.nodes + pw.nodes
        pw.inputs = dw.inputs
        pw.in_shape = dw.in_shape
        pw.params += dw.params
        pw.transfer = dw.transfer
        pw.weight = dw.weight
        pw.scopes = dw.scopes + pw.scopes
        readers[dw.inputs[0]] = [pw.id if i == dw.id else i for i in readers.get(dw.inputs[0], [])]
        del layers[dw.id]


def _depthwise(layer: Layer) -> bool:
    group = layer.attrs.get("group", 1)
    cin, cout = layer.in_channels, layer.channels
    return isinstance(group, int) and group > 1 and cin == group and isinstance(cout, int) and cout % group == 0


def _pointwise(layer: Layer) -> bool:
    attrs = layer.attrs
    return (bool(attrs.get("kernel")) and all(k == 1 for k in attrs["kernel"])
            and all(s == 1 for s in attrs.get("stride") or ()) and not any(attrs.get("pads") or ())
            and attrs.get("group", 1) == 1 and layer.in_shape is not None and len(layer.in_shape) > 2)


def _compose(first, second):
    if isinstance(first, Expr) and isinstance(second, Expr):
        return second.substitute({"x": first})
    return second


def _drop_identity(graph: Digraph, layers: dict) -> None:
    for layer in list(layers.values()):
        if layer.kind != "identity":
            continue
        preds = list(graph.predecessors(layer.id))
        succs = list(graph.successors(layer.id))
        if len(preds) != 1:
            continue
        for s in succs:
            graph.add_edge(preds[0], s)
            layers[s].inputs = [preds[0] if i == layer.id else i for i in layers[s].inputs]
            layers[s].broadcast = tuple(preds[0] if i == layer.id else i for i in layers[s].broadcast)
        graph.remove_node(layer.id)
        del layers[layer.id]


# kinds that work on a spatial grid of their own: never part of a layout detour
_GRID_KINDS = {"conv", "conv-transpose", "max-pool", "avg-pool", "lp-pool", "global-pool",
               "upsample", "downsample", "pixel-shuffle", "space-to-depth"}


def _mark_detours(graph: Digraph, layers: dict) -> None:
    """Layout detours: reshapes out of a spatial grid that a later reshape undoes.

    A *detour* is a region of layers between tensors on a grid (``N×C×H×W``) and a
    reshape back to the same grid (``H×W``; the channels may differ), where

    * the region is entered only through reshapes (collected data movement, not an
      op of their own) and left through reshapes back to the grid, each keeping
      its element count;
    * no layer inside works on a grid (conv, pool, resize, depth/space op), and a
      dense layer inside is applied per position: a MatMul whose input keeps an
      axis besides the batch and the features it maps;
    * nothing inside is read from outside the region but by those reshapes back.

    Self-attention at a feature map (``N×C×HW`` or ``N×HW×C``, softmax over the
    positions, back to ``N×C×H×W``; a class token concatenated to the tokens and
    sliced off again), GroupNorm written with reductions, a qkv split through
    ``N×3×C×HW`` are detours; a flatten → dense bottleneck → unflatten is
    not (its dense layers map the whole flattened map). The layers inside keep
    their shapes and get the grid (``Layer.grid``), so the ladder reads them at the
    grid's resolution; their transfer functions keep the size, and the reshapes
    among them are plain ``reshape`` layers, not transitions.

    Linear in the layers per distinct grid: whether the way back from a layer
    breaks a rule is worked out once per grid.
    """
    broken: dict = {}  # (rank, grid) -> {layer id: the region behind it breaks a rule}
    x = Expr.symbol("x")
    for lid in graph.topological_sort():
        layer = layers[lid]
        shape = layer.out_shape
        if not _moves_data(layer) or shape is None or len(shape) < 3 or not _keeps_count(layer):
            continue
        rank, grid = len(shape), tuple(shape[2:])
        preds = list(graph.predecessors(lid))
        if len(preds) != 1 or _on_grid(layers[preds[0]], rank, grid):
            continue
        rows: Dim = shape[0]
        for d in grid:
            rows = rows * d
        if _breaks(graph, layers, preds[0], rank, grid, rows, broken.setdefault((rank, grid, rows), {})):
            continue
        region = _detour_region(graph, layers, lid, rank, grid)
        if region is None:
            continue
        for member in region:
            inside = layers[member]
            inside.grid = grid
            if member != lid or len(inside.transfer) != len(grid) or None in inside.transfer:
                inside.transfer = [x] * len(grid)
            else:
                # the reshape back keeps what its target says: sizes copied from the map's
                # (a dynamic export), or constants, which fit only the element count of
                # the grid they were written for (a static export runs at that size only)
                inside.transfer = [("fixed", g, t) if isinstance(t, int) and isinstance(g, int) else t
                                   for g, t in zip(grid, inside.transfer)]
            if _moves_data(inside) and inside.kind != "reshape":
                inside.kind = "reshape"
                for key in ("factor", "mode", "features"):
                    inside.attrs.pop(key, None)


def _moves_data(layer: Layer) -> bool:
    """A collected run of data movement (see ``_Builder._materialize``)."""
    return layer.op == "" and layer.kind not in ("input", "output")


def _keeps_count(layer: Layer) -> bool:
    before, after = layer.in_shape, layer.out_shape
    if before is None or after is None or None in before or None in after:
        return False
    return bool(math.prod(before) == math.prod(after))


def _on_grid(layer: Layer, rank: int, grid: tuple) -> bool:
    """Is ``layer``'s output a map on ``grid``? Not an attention matrix whose sizes
    happen to be the grid's (4×4 windows give 16×16 scores on a 16×16 map)."""
    shape = layer.out_shape
    return shape is not None and len(shape) == rank and tuple(shape[2:]) == grid and not layer.untracked


def _detour_member(layer: Layer, rows: Dim) -> bool:
    """May ``layer`` be inside a detour (see :func:`_mark_detours`) from a grid whose
    batch times positions is ``rows``?"""
    if layer.kind in ("input", "output") or layer.out_shape is None:
        return False
    if _moves_data(layer):
        return True
    if layer.kind in _GRID_KINDS:
        return False
    if layer.kind == "dense":
        shape = layer.in_shape
        if layer.op not in ("MatMul", "Gemm") or shape is None:
            return False
        # per position: an axis kept besides the batch and the features, or one row per
        # pixel (a vector quantizer's N·H·W × C codes against its codebook; attention's
        # sequence-first L × N × E and its output projection, a Gemm over L·N rows)
        if layer.op == "MatMul" and len(shape) >= 3 and any(d != 1 for d in shape[1:-1]):
            return True
        count: Dim = 1
        for d in shape[:-1]:
            if d is None:
                return False
            count = count * d
        return count == rows
    return True


def _breaks(graph: Digraph, layers: dict, start: int, rank: int, grid: tuple, rows: Dim,
            memo: dict) -> bool:
    """Whether the layers from ``start`` back to the grid break a rule of a detour: a
    layer that may not be inside, or the grid left other than by a reshape alone.
    ``memo`` keeps every answer for this grid (iterative: no recursion on depth)."""
    stack = [start]
    while stack:
        lid = stack[-1]
        if lid in memo:
            stack.pop()
            continue
        layer = layers[lid]
        preds = list(graph.predecessors(lid))
        if not _detour_member(layer, rows) or any(memo.get(p) for p in preds):
            memo[lid] = True
        elif any(_on_grid(layers[p], rank, grid) for p in preds):  # it leaves the grid
            memo[lid] = not (_moves_data(layer) and _keeps_count(layer) and len(preds) == 1)
        else:
            waiting = [p for p in preds if p not in memo]
            if waiting:
                stack.extend(waiting)
                continue
            memo[lid] = False
        stack.pop()
    return bool(memo[start])


def _detour_region(graph: Digraph, layers: dict, exit_id: int, rank: int, grid: tuple) -> Optional[set]:
    """The layers between the grid and ``exit_id``, itself included, when nothing inside
    is read from outside but by a reshape back to the grid; else None. The way back
    is known to keep the rules (:func:`_breaks`)."""
    region = {exit_id}
    stack = list(graph.predecessors(exit_id))
    while stack:
        lid = stack.pop()
        if lid in region or _on_grid(layers[lid], rank, grid):
            continue
        region.add(lid)
        stack.extend(graph.predecessors(lid))
    for lid in region:
        for succ in graph.successors(lid):
            other = layers[succ]
            if lid != exit_id and succ not in region and not (
                    _moves_data(other) and _keeps_count(other) and _on_grid(other, rank, grid)):
                return None
    return region
