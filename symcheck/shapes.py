"""Shape propagation over ONNX nodes, with small integer tensors evaluated.

Exporters compute resize targets, reshape targets and pads with sub-graphs of
Shape, Gather, Slice, Concat, Cast, arithmetic, ConstantOfShape, Equal and
Where (``EXPORTERS.md`` pitfalls 4 and 15). onnx's own inference leaves many
of them unknown, so this module propagates, per tensor, a shape whose dims are
ints or :class:`~symcheck.dims.Expr` and, for small tensors, their values.

Ops it does not know fall back to the shapes the file declares (value_info,
graph outputs), then to ``onnx.shape_inference`` run once on a weight-free
copy of the graph.
"""

from __future__ import annotations

import functools
import math
import struct
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, Optional, Sequence, Union

from .dims import Dim, Expr, ceildiv, exact_div, floordiv
from .errors import SymcheckError
from .load import attribute_is_text_safe
from .proto import AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, TypeProto

#: Tensors with at most this many elements keep their values.
MAX_VALUE_ELEMENTS = 4096

_INT_TYPES = {TensorProto.INT64, TensorProto.INT32, TensorProto.INT16, TensorProto.INT8,
              TensorProto.UINT8, TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64,
              TensorProto.BOOL}


@dataclass
class Tensor:
    """What is known of one tensor: its shape, and its values when small."""

    shape: Optional[tuple]  # tuple of Dim (None for an unknown dim); None if rank unknown
    dtype: int = 0
    value: Optional[list] = None  # flat, row-major; elements int, float or Expr

    @property
    def rank(self) -> Optional[int]:
        return None if self.shape is None else len(self.shape)


UNKNOWN = Tensor(None)


_A = AttributeProto
#: The common attribute types, read directly (``onnx.helper.get_attribute_value``
#: is generic and several times slower).
_PLAIN_READERS = {
    _A.INT: lambda a: a.i,
    _A.INTS: lambda a: a.ints[:],
    _A.FLOAT: lambda a: a.f,
    _A.FLOATS: lambda a: a.floats[:],
    _A.STRING: lambda a: a.s.decode("utf-8", "replace"),
    _A.TENSOR: lambda a: a.t,
    _A.GRAPH: lambda a: None,
    _A.GRAPHS: lambda a: None,
}


def attributes(node: "AnyNode") -> dict:
    """A node's attributes as Python values; strings decoded, subgraphs as None."""
    return _read_attributes(node.attribute)[0]


def _read_attributes(attrs) -> tuple[dict, bool]:
    """Attribute values, and whether every attribute is text-safe
    (:func:`symcheck.load.attribute_is_text_safe`), in one walk."""
    out = {}
    plain = True
    for attr in attrs:
        if plain and not attribute_is_text_safe(attr):
            plain = False
        reader = _PLAIN_READERS.get(attr.type)
        if reader is not None:
            out[attr.name] = reader(attr)
            continue
        from onnx import helper  # the rarer types (see symcheck.proto)

        value = helper.get_attribute_value(attr)
        out[attr.name] = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return out, plain


#: Float tensors keep their values only when this small (Resize scales, Clip
#: bounds, Pad values); weights are never decoded.
MAX_FLOAT_VALUES = 16


def tensor_from_proto(proto: TensorProto, with_value: bool = True) -> Tensor:
    """Shape and dtype of an initializer or Constant; values for shape-sized tensors only.

    Integer (and bool) tensors up to :data:`MAX_VALUE_ELEMENTS` elements and
    float tensors up to :data:`MAX_FLOAT_VALUES` are decoded: they are what
    shape arithmetic reads. Weight bytes are never touched.
    """
    shape = tuple(int(d) for d in proto.dims)
    return Tensor(shape, proto.data_type, _decode(proto, shape) if with_value else None)


#: Element types read here from their little-endian ``raw_data`` (struct formats);
#: onnx.numpy_helper reads the others.
_RAW_FORMATS: dict[int, str] = {
    TensorProto.INT64: "q", TensorProto.INT32: "i", TensorProto.INT16: "h", TensorProto.INT8: "b",
    TensorProto.UINT64: "Q", TensorProto.UINT32: "I", TensorProto.UINT16: "H", TensorProto.UINT8: "B",
    TensorProto.BOOL: "?", TensorProto.FLOAT: "f", TensorProto.DOUBLE: "d"}
#: Element types read here from their typed field when there is no ``raw_data``
#: (the types stored in a field of their own width).
_TYPED_FIELDS: dict[int, str] = {TensorProto.INT64: "int64_data", TensorProto.INT32: "int32_data",
                                 TensorProto.FLOAT: "float_data", TensorProto.DOUBLE: "double_data"}


def _decode(proto: TensorProto, shape: tuple) -> Optional[list]:
    limit = MAX_VALUE_ELEMENTS if proto.data_type in _INT_TYPES else MAX_FLOAT_VALUES
    count = math.prod(shape)
    if count > limit or proto.external_data or proto.data_location == TensorProto.EXTERNAL:
        return None
    try:
        value = _read_values(proto, count)
    except Exception:  # unusual dtypes, or a wrong number of values: shape is enough
        return None
    if proto.data_type == TensorProto.BOOL:
        value = [int(v) for v in value]
    return value


def _read_values(proto: TensorProto, count: int) -> list:
    """A tensor's values, flat: what ``onnx.numpy_helper.to_array`` reads, for the
    common element types without importing onnx or numpy (see :mod:`symcheck.proto`)."""
    fmt = _RAW_FORMATS.get(proto.data_type)
    field = _TYPED_FIELDS.get(proto.data_type)
    raw = proto.HasField("raw_data")
    if proto.HasField("segment"):
        fmt = field = None  # onnx refuses these; let it say so
    if raw and fmt is not None:
        data = proto.raw_data
        if len(data) != count * struct.calcsize("<" + fmt):
            raise ValueError(f"{len(data)} bytes for {count} elements")
        return list(struct.unpack(f"<{count}{fmt}", data))
    if not raw and field is not None:
        values = list(getattr(proto, field))
        if len(values) != count:
            raise ValueError(f"{len(values)} values for {count} elements")
        return values
    from onnx import numpy_helper

    return numpy_helper.to_array(proto).reshape(-1).tolist()


class _Initializer(Tensor):
    """An initializer's :class:`Tensor` whose values are decoded on first read.

    A U-Net has thousands of small float initializers (BatchNorm scales,
    biases) that no shape computation reads; decoding them all cost a fifth of
    the analysis.
    """

    def __init__(self, proto: TensorProto) -> None:  # pylint: disable=super-init-not-called
        self.name: str = proto.name
        self.shape = tuple(proto.dims[:])  # protobuf gives Python ints
        self.dtype = proto.data_type
        self._proto: Optional[TensorProto] = proto

    @property
    def value(self) -> Optional[list]:
        if self._proto is not None:
            self._value = _decode(self._proto, tuple(self._proto.dims))
            self._proto = None
        return self._value

    @value.setter
    def value(self, value: Optional[list]) -> None:
        self._value, self._proto = value, None


def read_initializers(graph: GraphProto) -> list:
    """The graph's initializers as lazily decoded tensors with a ``name``, in file order."""
    return [_Initializer(proto) for proto in graph.initializer]


def static_numel(shape: Optional[tuple]) -> Optional[int]:
    """Elements of a shape whose dims are all ints; None otherwise."""
    if shape is None:
        return None
    for d in shape:
        if not isinstance(d, int):
            return None
    return math.prod(shape)


#: Largest symbolic expression kept (terms plus atoms, floors included); larger
#: ones become unknown, so a hostile chain of Mul/Flatten cannot grow them
#: exponentially.
MAX_EXPR_SIZE = 256


def expr_size(value, limit: int = MAX_EXPR_SIZE) -> int:
    """Size of a dim or value: 1 for an int, terms plus atoms for an Expr (iterative,
    stops counting past ``limit``)."""
    if not isinstance(value, Expr):
        return 1
    total, stack = 0, [value]
    while stack and total <= limit:
        for mono, coeff in stack.pop()._terms:
            total += 1 + len(mono) + (limit if abs(coeff) > 2**64 else 0)
            stack.extend(atom.num for atom in mono if not isinstance(atom, str))
    return total


def _mul(a, b):
    """``a * b`` for dims, refusing (ValueError) a product of two large expressions."""
    if isinstance(a, Expr) and isinstance(b, Expr) and expr_size(a) * expr_size(b) > 16 * MAX_EXPR_SIZE:
        raise ValueError("symbolic product too large")
    return a * b


def dim_product(dims) -> Optional[Dim]:
    """The product of dims, or None when a dim is unknown or the product too large.

    >>> dim_product([2, 3, 4])
    24
    """
    total: Dim = 1
    for d in dims:
        if d is None:
            return None
        try:
            total = _mul(total, d)
        except ValueError:
            return None
    return None if expr_size(total) > MAX_EXPR_SIZE else total


def _bounded(tensor: "Tensor", fresh) -> "Tensor":
    """Drop values that grew too large (ints outside int64, big expressions) and
    replace oversized symbolic dims by fresh symbols."""
    value, shape = tensor.value, tensor.shape
    if value is not None and (len(value) > MAX_VALUE_ELEMENTS or any(
            (isinstance(v, int) and not -2**63 <= v < 2**63) or
            (isinstance(v, Expr) and expr_size(v) > MAX_EXPR_SIZE) for v in value)):
        value = None
    if shape is not None and any(isinstance(d, Expr) and expr_size(d) > MAX_EXPR_SIZE for d in shape):
        shape = tuple(fresh("big") if isinstance(d, Expr) and expr_size(d) > MAX_EXPR_SIZE else d
                      for d in shape)
    if value is tensor.value and shape is tensor.shape:
        return tensor
    return Tensor(shape, tensor.dtype, value)


def _broadcast(shapes: Sequence[Optional[tuple]]) -> Optional[tuple]:
    """Numpy-style broadcast of shapes; None when a rank is unknown. Remembered per
    tuple of shapes: a model adds the same bias shape to the same maps thousands
    of times. Only shapes of int, Expr and None dims are remembered (an Expr never
    equals an int): a float dim from a malformed shape value would equal an int
    one, and the answer would depend on what was analysed before."""
    key = tuple(shapes)
    for shape in key:
        if shape is not None:
            for d in shape:
                if type(d) not in _CACHED_DIM_TYPES:
                    return _broadcast_uncached(shapes)
    return _broadcast_of(key)


_CACHED_DIM_TYPES = frozenset({int, Expr, type(None)})


@functools.lru_cache(maxsize=4096)
def _broadcast_of(shapes: tuple) -> Optional[tuple]:
    return _broadcast_uncached(shapes)


def _broadcast_uncached(shapes: Sequence[Optional[tuple]]) -> Optional[tuple]:
    known = [s for s in shapes if s is not None]
    if len(known) != len(shapes):
        return None
    if all(s == known[0] for s in known):  # the common case: a residual Add of equal shapes
        return tuple(known[0])
    rank = max(len(s) for s in known)
    out = []
    for axis in range(rank):
        chosen: Dim = 1
        for s in known:  # right-aligned; the first dim that is not 1 wins, a known int over an Expr
            k = axis - rank + len(s)
            if k < 0:
                continue
            d = s[k]
            if d == 1:
                continue
            if chosen == 1 or chosen is None:
                chosen = d
            elif isinstance(chosen, Expr) and isinstance(d, int):
                chosen = d
        out.append(chosen)
    return tuple(out)


def _norm_axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def _strides(shape: tuple) -> list[int]:
    out, step = [], 1
    for d in reversed(shape):
        out.append(step)
        step *= d
    return out[::-1]


# ---------------------------------------------------------------------------
# Values of small tensors of any rank, row-major and flat (what Reshape keeps).

def _value_shape(t: Tensor) -> Optional[tuple]:
    """The static shape of a tensor whose values are known and fill it; else None."""
    if t.value is None or t.shape is None:
        return None
    for d in t.shape:
        if type(d) is not int or d < 0:
            return None
    return t.shape if math.prod(t.shape) == len(t.value) else None


def _axis_offsets(shape: tuple) -> list[list[int]]:
    """Per axis, the flat offset of each index along it (index times the axis's stride)."""
    return [[i * step for i in range(d)] for d, step in zip(shape, _strides(shape))]


def _pick(value: list, offsets: Sequence[Sequence[int]]) -> Optional[list]:
    """Elements of a flat row-major tensor, chosen axis by axis.

    ``offsets[k]`` gives, for each index along output axis k, what that index
    adds to the flat position in ``value``; the result is row-major over the
    output axes. Slice, Transpose, Gather, Tile, Split and broadcasts are all
    such a choice. None when the result would hold more than
    :data:`MAX_VALUE_ELEMENTS` values: nothing large is ever built.

    >>> _pick([0, 1, 2, 3, 4, 5], [[0, 1, 2], [0, 3]])  # a 2×3 matrix transposed
    [0, 3, 1, 4, 2, 5]
    """
    count = 1
    for axis in offsets:
        count *= len(axis)
    if count == 0:
        return []
    if count > MAX_VALUE_ELEMENTS:
        return None
    flat = [0]
    for axis in offsets:
        flat = [f + o for f in flat for o in axis]
    return [value[f] for f in flat]


# ---------------------------------------------------------------------------
# Spatial arithmetic shared with the layer transfer functions.

@functools.lru_cache(maxsize=4096)
def pool_out(size: Dim, kernel: int, stride: int, dilation: int, pad_begin: int,
             pad_end: int, ceil_mode: bool = False) -> Dim:
    """Output size of a convolution or pooling window along one axis (cached: symbolic
    arithmetic is costly and a model repeats a few windows at a few sizes)."""
    span = dilation * (kernel - 1) + 1
    room = size + pad_begin + pad_end - span
    if not ceil_mode:
        return floordiv(room, stride) + 1
    out = ceildiv(room, stride) + 1
    # The last window must start inside the input or the left padding.
    if isinstance(out, int) and isinstance(size, int) and (out - 1) * stride >= size + pad_begin:
        out -= 1
    return out


def same_pads(size: int, kernel: int, stride: int, dilation: int, upper: bool = True) -> tuple[int, int]:
    """Pads that SAME_UPPER/SAME_LOWER would use for a known size."""
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    small = total // 2
    return (small, total - small) if upper else (total - small, small)


def _window_attrs(attrs: dict, spatial: int) -> tuple[list, list, list, list]:
    kernel = list(attrs.get("kernel_shape") or [])
    strides = list(attrs.get("strides") or [1] * spatial)
    dilations = list(attrs.get("dilations") or [1] * spatial)
    pads = list(attrs.get("pads") or [0] * (2 * spatial))
    return kernel, strides, dilations, pads


def window_shape(in_shape: tuple, attrs: dict, out_channels: Dim, kernel: list,
                 ceil_mode: bool = False) -> tuple:
    spatial = len(in_shape) - 2
    _, strides, dilations, pads = _window_attrs(attrs, spatial)
    auto_pad = attrs.get("auto_pad", "NOTSET")
    out = [in_shape[0], out_channels]
    for i in range(spatial):
        size = in_shape[2 + i]
        if size is None:
            out.append(None)
        elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            out.append(ceildiv(size, strides[i]))
        elif auto_pad == "VALID":
            out.append(pool_out(size, kernel[i], strides[i], dilations[i], 0, 0, ceil_mode))
        else:
            out.append(pool_out(size, kernel[i], strides[i], dilations[i], pads[i],
                                pads[i + spatial], ceil_mode))
    return tuple(out)


def transposed_size(size: Dim, kernel: int, stride: int, dilation: int, pad_begin: int,
                    pad_end: int, output_padding: int) -> Dim:
    return stride * (size - 1) + output_padding + dilation * (kernel - 1) + 1 - pad_begin - pad_end


def scale_dim(size: Dim, scale: float) -> Optional[Dim]:
    """``floor(size * scale)`` as ONNX Resize computes it."""
    frac = Fraction(scale).limit_denominator(64)
    if abs(float(frac) - scale) > 1e-6:
        if isinstance(size, int):
            return int(math.floor(size * scale))
        return None
    return floordiv(size * frac.numerator, frac.denominator)


# ---------------------------------------------------------------------------
# Op rules. Each takes (node, attrs, inputs, ctx) and returns output Tensors.

Rule = Callable[[Any, dict, list, "Context"], list]  # node: a Node (or NodeProto)
_RULES: dict[str, Rule] = {}


def _rule(*ops: str):
    def register(fn: Rule) -> Rule:
        for op in ops:
            _RULES[op] = fn
        return fn
    return register


@dataclass
class Context:
    opset: int
    fresh: Callable[[str], Expr]


_UNARY = (
    "Relu LeakyRelu PRelu Sigmoid Tanh Elu Selu Celu Softplus Softsign HardSigmoid HardSwish "
    "Gelu Mish Swish Silu ThresholdedRelu Clip Softmax LogSoftmax Hardmax Identity Dropout "
    "BatchNormalization InstanceNormalization LayerNormalization GroupNormalization "
    "LpNormalization MeanVarianceNormalization LRN Abs Neg Exp Log Sqrt Reciprocal Erf Sin Cos "
    "Tan Floor Ceil Round Sign Not IsNaN IsInf Shrink Trilu RandomNormalLike RandomUniformLike "
    "Bernoulli CumSum CumProd Asin Acos Atan Sinh Cosh Asinh Acosh Atanh BitwiseNot "
    "RMSNormalization ReverseSequence"
).split()

_BINARY = ("Add Sub Mul Div Pow Max Min Sum Mean Equal Less Greater LessOrEqual GreaterOrEqual And "
           "Or Xor Mod BitShift Where BitwiseAnd BitwiseOr BitwiseXor").split()
_JOINS = {"Concat", "Add", "Sub", "Mul", "Sum", "Max", "Min", "Mean"}


def _small_pow(a, b):
    """``a ** b`` only where it stays small (a hostile 2 ** 2**62 would never finish)."""
    if isinstance(b, int) and isinstance(a, int) and abs(b) <= 64 and abs(a) < 2**32:
        return a ** b
    if isinstance(a, float) or isinstance(b, float):
        return float(a) ** float(b)
    raise ValueError("power too large to evaluate")


def _values_op(op: str, values: list) -> list:
    fns = {
        "Add": lambda a, b: a + b, "Sub": lambda a, b: a - b, "Mul": lambda a, b: a * b,
        "Max": lambda a, b: max(a, b), "Min": lambda a, b: min(a, b),
        "Equal": lambda a, b: int(a == b), "Less": lambda a, b: int(a < b),
        "Greater": lambda a, b: int(a > b), "LessOrEqual": lambda a, b: int(a <= b),
        "GreaterOrEqual": lambda a, b: int(a >= b), "Pow": _small_pow,
        "Mod": lambda a, b: a % b, "And": lambda a, b: int(a and b), "Or": lambda a, b: int(a or b),
        "BitwiseAnd": lambda a, b: a & b, "BitwiseOr": lambda a, b: a | b,
        "BitwiseXor": lambda a, b: a ^ b,
    }
    if op == "Div":
        def div(a, b):
            if isinstance(a, float) or isinstance(b, float):
                return a / b
            if isinstance(b, int) and isinstance(a, (int, Expr)):
                return exact_div(a, b) if isinstance(a, Expr) else int(a / b)
            return exact_div(a, b)
        fn = div
    else:
        fn = fns[op]
    return fn(*values)


@_rule("QuantizeLinear", "DequantizeLinear")
def _quantize(node, attrs, inputs, ctx):
    """The input's shape in another element type: QuantizeLinear's is its zero point's
    (else ``output_dtype``, else uint8); DequantizeLinear's is its scale's."""
    src = inputs[0]
    if node.op_type == "DequantizeLinear":
        dtype = inputs[1].dtype if len(inputs) > 1 and inputs[1] is not None else TensorProto.FLOAT
    elif len(inputs) > 2 and inputs[2] is not None and inputs[2].dtype:
        dtype = inputs[2].dtype
    else:
        dtype = attrs.get("output_dtype") or TensorProto.UINT8
    return [Tensor(src.shape, dtype or TensorProto.FLOAT)]


@_rule("DynamicQuantizeLinear")
def _dynamic_quantize(node, attrs, inputs, ctx):
    """y (uint8, the input's shape), its scale and its zero point (scalars)."""
    return [Tensor(inputs[0].shape, TensorProto.UINT8), Tensor((), TensorProto.FLOAT),
            Tensor((), TensorProto.UINT8)]


@_rule("RNN", "GRU", "LSTM")
def _recurrent(node, attrs, inputs, ctx):
    """Y (seq, directions, batch, hidden), Y_h and (LSTM) Y_c (directions, batch, hidden);
    with ``layout=1`` batch first: Y (batch, seq, directions, hidden), Y_h (batch,
    directions, hidden). X is (seq, batch, input) or, batch first, (batch, seq, input)."""
    x = inputs[0].shape
    hidden = attrs.get("hidden_size")
    if x is None or len(x) != 3 or not isinstance(hidden, int):
        return None
    directions = 2 if attrs.get("direction") == "bidirectional" else 1
    if attrs.get("layout", 0):
        batch, seq = x[0], x[1]
        y, state = (batch, seq, directions, hidden), (batch, directions, hidden)
    else:
        seq, batch = x[0], x[1]
        y, state = (seq, directions, batch, hidden), (directions, batch, hidden)
    dtype = inputs[0].dtype
    return [Tensor(y, dtype), Tensor(state, dtype), Tensor(state, dtype)][:max(len(node.output), 1)]


@_rule("ScatterND", "ScatterElements", "Scatter")
def _scatter(node, attrs, inputs, ctx):
    """The data's shape: updates are written into a copy of it."""
    return [Tensor(inputs[0].shape, inputs[0].dtype)]


@_rule("GatherElements")
def _gather_elements(node, attrs, inputs, ctx):
    """The indices' shape, the data's element type."""
    return [Tensor(inputs[1].shape, inputs[0].dtype)]


@_rule(*_UNARY)
def _unary(node, attrs, inputs, ctx):
    src = inputs[0]
    value = None
    if src.value is not None and node.op_type in ("Identity", "Neg", "Abs", "Floor", "Ceil", "Round"):
        conv = {"Identity": lambda v: v, "Neg": lambda v: -v, "Abs": abs,
                "Floor": lambda v: math.floor(v) if isinstance(v, float) else v,
                "Ceil": lambda v: math.ceil(v) if isinstance(v, float) else v,
                "Round": lambda v: round(v) if isinstance(v, float) else v}[node.op_type]
        try:
            value = [conv(v) for v in src.value]
        except TypeError:
            value = None
    outs = [Tensor(src.shape, src.dtype, value)]
    if node.op_type == "Dropout" and len(node.output) > 1:
        outs.append(Tensor(src.shape, TensorProto.BOOL))
    if node.op_type == "BatchNormalization" and len(node.output) > 1:
        outs += [UNKNOWN] * (len(node.output) - 1)
    return outs


@_rule(*_BINARY)
def _binary(node, attrs, inputs, ctx):
    known = [t for t in inputs if t is not None]
    shape = _broadcast([t.shape for t in known])
    dtype = known[0].dtype if node.op_type not in ("Equal", "Less", "Greater", "LessOrEqual",
                                                 "GreaterOrEqual", "And", "Or", "Not") else TensorProto.BOOL
    if node.op_type == "Where" and len(known) == 3:
        dtype = known[1].dtype
    value = None
    n = static_numel(shape)
    if n is not None and n <= MAX_VALUE_ELEMENTS and all(t.value is not None for t in known):
        try:
            cols = [_expand_value(t, shape) for t in known]
            if node.op_type == "Where":
                value = [b if c else d for c, b, d in zip(*cols)]
            elif node.op_type in ("Sum", "Max", "Min", "Mean") and len(cols) > 2:
                value = None
            else:
                value = [_values_op(node.op_type, list(vals)) for vals in zip(*cols)]
        except (TypeError, ValueError, ZeroDivisionError):
            value = None
    return [Tensor(shape, dtype, value)]


def _expand_value(t: Tensor, shape: tuple) -> list:
    """``t``'s values broadcast to the static ``shape`` (at most
    :data:`MAX_VALUE_ELEMENTS` elements); ValueError when they do not broadcast."""
    # Callers pass a tensor whose value (hence shape) is known.
    assert t.value is not None and t.shape is not None
    n = math.prod(shape)
    if len(t.value) == n and tuple(t.shape) == tuple(shape):
        return t.value
    if n == 0:
        return []
    if len(t.value) == 1:
        return t.value * n
    have = _value_shape(t)
    if have is None or len(have) > len(shape):
        raise ValueError("values do not broadcast")
    have = (1,) * (len(shape) - len(have)) + tuple(have)
    offsets: list = []
    for d, want, along in zip(have, shape, _axis_offsets(have)):
        if d == want:
            offsets.append(along)
        elif d == 1:
            offsets.append([0] * want)
        else:
            raise ValueError("values do not broadcast")
    value = _pick(t.value, offsets)
    if value is None:
        raise ValueError("too many values")
    return value


@_rule("Not")
def _not(node, attrs, inputs, ctx):
    src = inputs[0]
    value = [int(not v) for v in src.value] if src.value is not None else None
    return [Tensor(src.shape, TensorProto.BOOL, value)]


@_rule("Cast", "CastLike")
def _cast(node, attrs, inputs, ctx):
    src = inputs[0]
    to = attrs.get("to") if node.op_type == "Cast" else (inputs[1].dtype if inputs[1] else 0)
    value = None
    if src.value is not None:
        if to in _INT_TYPES:
            value = [int(v) if isinstance(v, float) else v for v in src.value]
            if to == TensorProto.BOOL:
                value = [int(bool(v)) if not isinstance(v, Expr) else 1 for v in value]
        elif to in (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16):
            value = [float(v) if isinstance(v, int) else v for v in src.value]
    return [Tensor(src.shape, to or src.dtype, value)]


@_rule("Constant")
def _constant(node, attrs, inputs, ctx):
    if "value" in attrs and attrs["value"] is not None:
        return [tensor_from_proto(attrs["value"])]
    for key, dtype in (("value_int", TensorProto.INT64), ("value_float", TensorProto.FLOAT)):
        if key in attrs:
            return [Tensor((), dtype, [attrs[key]])]
    for key, dtype in (("value_ints", TensorProto.INT64), ("value_floats", TensorProto.FLOAT)):
        if key in attrs:
            return [Tensor((len(attrs[key]),), dtype, list(attrs[key]))]
    return [UNKNOWN]


@_rule("Shape")
def _shape(node, attrs, inputs, ctx):
    src = inputs[0]
    if src.shape is None:
        return [Tensor(None, TensorProto.INT64)]
    dims = list(src.shape)
    start = attrs.get("start", 0)
    end = attrs.get("end", len(dims))
    dims = dims[slice(start, end)]
    dims = [d if d is not None else ctx.fresh("d") for d in dims]
    return [Tensor((len(dims),), TensorProto.INT64, dims)]


@_rule("Size")
def _size(node, attrs, inputs, ctx):
    src = inputs[0]
    value = None
    if src.shape is not None and all(d is not None for d in src.shape):
        total: Dim = 1
        for d in src.shape:
            total = _mul(total, d)
        value = [total]
    return [Tensor((), TensorProto.INT64, value)]


@_rule("ConstantOfShape")
def _constant_of_shape(node, attrs, inputs, ctx):
    dims = inputs[0].value
    fill = 0.0
    dtype = TensorProto.FLOAT
    if attrs.get("value") is not None:
        t = tensor_from_proto(attrs["value"])
        dtype = t.dtype
        fill = t.value[0] if t.value else 0
    if dims is None:
        return [Tensor(None, dtype)]
    shape = tuple(dims)
    n = static_numel(shape)
    value = [fill] * n if n is not None and n <= MAX_VALUE_ELEMENTS else None
    return [Tensor(shape, dtype, value)]


@_rule("Range")
def _range(node, attrs, inputs, ctx):
    start, limit, delta = (t.value[0] if t.value else None for t in inputs)
    if all(isinstance(v, (int, float)) for v in (start, limit, delta)) and delta:
        count = max(int(math.ceil((limit - start) / delta)), 0)
        value = [start + i * delta for i in range(count)] if count <= MAX_VALUE_ELEMENTS else None
        return [Tensor((count,), inputs[0].dtype, value)]
    return [Tensor((ctx.fresh("range"),), inputs[0].dtype)]


@_rule("Gather")
def _gather(node, attrs, inputs, ctx):
    data, idx = inputs
    if data.shape is None or idx.shape is None:
        return [Tensor(None, data.dtype)]
    axis = _norm_axis(attrs.get("axis", 0), len(data.shape))
    shape = data.shape[:axis] + idx.shape + data.shape[axis + 1:]
    have = _value_shape(data)
    value = None
    if have is not None and _value_shape(idx) is not None:
        size = have[axis]
        if all(type(i) is int and -size <= i < size for i in idx.value):
            offsets = _axis_offsets(have)
            step = _strides(have)[axis]
            chosen = [(i + size if i < 0 else i) * step for i in idx.value]
            value = _pick(data.value, offsets[:axis] + [chosen] + offsets[axis + 1:])
    return [Tensor(tuple(shape), data.dtype, value)]


@_rule("Unsqueeze")
def _unsqueeze(node, attrs, inputs, ctx):
    src = inputs[0]
    axes = attrs.get("axes")
    if axes is None and len(inputs) > 1:
        axes = inputs[1].value
    if src.shape is None or axes is None:
        return [Tensor(None, src.dtype, None)]
    rank = len(src.shape) + len(axes)
    axes = sorted(_norm_axis(int(a), rank) for a in axes)
    shape = list(src.shape)
    for a in axes:
        shape.insert(a, 1)
    return [Tensor(tuple(shape), src.dtype, src.value)]


@_rule("Squeeze")
def _squeeze(node, attrs, inputs, ctx):
    src = inputs[0]
    axes = attrs.get("axes")
    if axes is None and len(inputs) > 1 and inputs[1] is not None:
        axes = inputs[1].value
    if src.shape is None:
        return [Tensor(None, src.dtype)]
    if axes is None:
        shape = tuple(d for d in src.shape if d != 1)
    else:
        drop = {_norm_axis(int(a), len(src.shape)) for a in axes}
        shape = tuple(d for i, d in enumerate(src.shape) if i not in drop)
    return [Tensor(shape, src.dtype, src.value)]


@_rule("Concat")
def _concat(node, attrs, inputs, ctx):
    known = [t for t in inputs if t is not None]
    if any(t.shape is None for t in known):
        return [Tensor(None, known[0].dtype)]
    rank = len(known[0].shape)
    axis = _norm_axis(attrs.get("axis", 0), rank)
    total: Dim = 0
    for t in known:
        total = total + t.shape[axis] if t.shape[axis] is not None and total is not None else None
    shape = list(known[0].shape)
    for t in known[1:]:  # prefer static dims on other axes
        for i, d in enumerate(t.shape):
            if i != axis and isinstance(d, int) and not isinstance(shape[i], int):
                shape[i] = d
    shape[axis] = total
    value = None
    if all(t.value is not None for t in known) and sum(len(t.value) for t in known) <= MAX_VALUE_ELEMENTS:
        if rank == 1:
            value = [v for t in known for v in t.value]
        else:
            value = _concat_values(known, axis)
    return [Tensor(tuple(shape), known[0].dtype, value)]


def _concat_values(known: list, axis: int) -> Optional[list]:
    """The values of a Concat of tensors of any rank; None unless every input's
    values fill a static shape that agrees with the others off ``axis``."""
    haves = [_value_shape(t) for t in known]
    first = haves[0]
    if first is None or any(h is None or len(h) != len(first) or h[:axis] != first[:axis]
                            or h[axis + 1:] != first[axis + 1:] for h in haves):
        return None
    chunks = [math.prod(h[axis:]) for h in haves if h is not None]
    return [v for o in range(math.prod(first[:axis]))
            for t, chunk in zip(known, chunks) for v in t.value[o * chunk:(o + 1) * chunk]]


@_rule("Slice")
def _slice(node, attrs, inputs, ctx):
    data = inputs[0]
    if ctx.opset < 10:
        starts, ends = attrs.get("starts"), attrs.get("ends")
        axes, steps = attrs.get("axes"), None
    else:
        starts = inputs[1].value if inputs[1] else None
        ends = inputs[2].value if len(inputs) > 2 and inputs[2] else None
        axes = inputs[3].value if len(inputs) > 3 and inputs[3] else None
        steps = inputs[4].value if len(inputs) > 4 and inputs[4] else None
    if data.shape is None:
        return [Tensor(None, data.dtype)]
    rank = len(data.shape)
    if starts is None or ends is None:
        n_axes = len(axes) if axes is not None else None
        shape = list(data.shape)
        targets = ([_norm_axis(int(a), rank) for a in axes] if axes is not None
                   else list(range(rank)) if n_axes is None else [])
        for a in targets:
            shape[a] = ctx.fresh("slice")
        return [Tensor(tuple(shape), data.dtype)]
    axes = [_norm_axis(int(a), rank) for a in (axes if axes is not None else range(len(starts)))]
    steps = list(steps) if steps is not None else [1] * len(starts)
    shape = list(data.shape)
    index_ranges = {}
    for a, s, e, st in zip(axes, starts, ends, steps):
        size = shape[a]
        rng = _slice_range(size, s, e, int(st))
        if rng is None:
            shape[a] = ctx.fresh("slice")
        else:
            shape[a] = rng[1]
            index_ranges[a] = rng
    value = None
    if data.value is not None and rank == 1 and 0 in index_ranges:
        begin, count, step = index_ranges[0]
        if isinstance(begin, int) and isinstance(count, int):
            value = [data.value[begin + i * step] for i in range(count)]
    elif len(index_ranges) == len(set(axes)):
        value = _slice_values(data, index_ranges)
    return [Tensor(tuple(shape), data.dtype, value)]


def _slice_values(data: Tensor, index_ranges: dict) -> Optional[list]:
    """The values of a slice of a tensor of any rank (steps of any sign); None
    unless its values fill a static shape."""
    have = _value_shape(data)
    if have is None or data.value is None:
        return None
    offsets = _axis_offsets(have)
    strides = _strides(have)
    for a, (begin, count, step) in index_ranges.items():
        offsets[a] = [(begin + i * step) * strides[a] for i in range(count)]
    return _pick(data.value, offsets)


def _slice_range(size: Dim, start, end, step: int):
    """(begin, count, step) for a slice of a dim, or None when unknown."""
    big = 2**62
    if isinstance(size, int):
        if not all(isinstance(v, int) for v in (start, end)):
            return None
        begin, stop, stride = slice(start, min(end, big), step).indices(size)
        return begin, len(range(begin, stop, stride)), step
    if step != 1:
        return None

    def bound(value, default):
        """A slice bound on a symbolic dim: negative counts from the end, INT_MAX-ish is the end."""
        if not isinstance(value, int):
            return value if isinstance(value, Expr) else default
        if value >= 2**31 - 1:  # exporters write INT32_MAX / INT64_MAX for "to the end"
            return size
        if value <= -(2**31):
            return 0
        return value + size if value < 0 else value

    begin, stop = bound(start, None), bound(end, None)
    if stop is None or begin is None:
        return None
    return begin, stop - begin, 1


@_rule("Reshape")
def _reshape(node, attrs, inputs, ctx):
    data, target = inputs[0], inputs[1]
    if target is None or target.value is None:
        n = target.shape[0] if target is not None and target.shape else None
        if isinstance(n, int) and 0 <= n <= MAX_VALUE_ELEMENTS:  # a hostile 2^62-long target: unknown rank
            return [Tensor(tuple(ctx.fresh("r") for _ in range(n)), data.dtype)]
        return [Tensor(None, data.dtype)]
    dims = list(target.value)
    allowzero = attrs.get("allowzero", 0)
    out: list = []
    for i, d in enumerate(dims):
        if isinstance(d, int) and d == 0 and not allowzero and data.shape is not None:
            out.append(data.shape[i])
        else:
            out.append(d)
    if any(isinstance(d, int) and d == -1 for d in out):
        known: Dim = 1
        for d in out:
            if not (isinstance(d, int) and d == -1):
                known = _mul(known, d)
        total: Dim = 1
        if data.shape is not None and all(d is not None for d in data.shape):
            for d in data.shape:
                total = _mul(total, d)
            try:
                missing = exact_div(total, known)
            except (ValueError, ZeroDivisionError):
                missing = ctx.fresh("r")
        else:
            missing = ctx.fresh("r")
        out = [missing if isinstance(d, int) and d == -1 else d for d in out]
    value = data.value if data.value is not None else None
    return [Tensor(tuple(out), data.dtype, value)]


@_rule("Flatten")
def _flatten(node, attrs, inputs, ctx):
    data = inputs[0]
    if data.shape is None:
        return [Tensor(None, data.dtype)]
    axis = _norm_axis(attrs.get("axis", 1), len(data.shape))
    left: Dim = 1
    right: Dim = 1
    for d in data.shape[:axis]:
        left = _mul(left, d)
    for d in data.shape[axis:]:
        right = _mul(right, d)
    return [Tensor((left, right), data.dtype, data.value)]


@_rule("Transpose")
def _transpose(node, attrs, inputs, ctx):
    data = inputs[0]
    if data.shape is None:
        return [Tensor(None, data.dtype)]
    perm = attrs.get("perm") or list(reversed(range(len(data.shape))))
    if sorted(perm) != list(range(len(data.shape))):
        raise SymcheckError("bad-attribute", f"Transpose node {_label(node)} has perm {_short_list(perm)}, "
                                             f"not a permutation of the {len(data.shape)} axes")
    shape = tuple(data.shape[p] for p in perm)
    have = _value_shape(data)
    value = None
    if have is not None:
        offsets = _axis_offsets(have)
        value = _pick(data.value, [offsets[p] for p in perm])
    return [Tensor(shape, data.dtype, value)]


@_rule("Tile")
def _tile(node, attrs, inputs, ctx):
    data, repeats = inputs[0], inputs[1]
    if data.shape is None or repeats is None or repeats.value is None:
        return [Tensor(None if data.shape is None else tuple(ctx.fresh("t") for _ in data.shape), data.dtype)]
    shape = tuple(d * int(r) for d, r in zip(data.shape, repeats.value))
    have = _value_shape(data)
    value = None
    if have is not None and len(repeats.value) == len(have) and all(type(d) is int for d in shape):
        n = math.prod(shape)
        if n == 0:
            value = []
        elif n <= MAX_VALUE_ELEMENTS:
            offsets = [[along[i % d] for i in range(size)]
                       for d, size, along in zip(have, shape, _axis_offsets(have))]
            value = _pick(data.value, offsets)
    return [Tensor(shape, data.dtype, value)]


@_rule("Expand")
def _expand(node, attrs, inputs, ctx):
    data, target = inputs[0], inputs[1]
    if target is None or target.value is None or data.shape is None:
        return [Tensor(None, data.dtype)]
    shape = _broadcast([data.shape, tuple(target.value)])
    value = None
    n = static_numel(shape)
    if data.value is not None and n is not None and n <= MAX_VALUE_ELEMENTS:
        value = _expand_value(data, shape)
    return [Tensor(shape, data.dtype, value)]


@_rule("Conv", "ConvInteger", "QLinearConv")
def _conv(node, attrs, inputs, ctx):
    x = inputs[0]
    w = inputs[3] if node.op_type == "QLinearConv" else inputs[1]
    if x.shape is None:
        return [Tensor(None, x.dtype)]
    kernel = list(attrs.get("kernel_shape") or (w.shape[2:] if w and w.shape else []))
    channels = w.shape[0] if w is not None and w.shape is not None else None
    if not kernel:
        return [Tensor((x.shape[0], channels) + tuple(None for _ in x.shape[2:]), x.dtype)]
    return [Tensor(window_shape(x.shape, attrs, channels, kernel), x.dtype)]


@_rule("ConvTranspose")
def _conv_transpose(node, attrs, inputs, ctx):
    x, w = inputs[0], inputs[1]
    if x.shape is None:
        return [Tensor(None, x.dtype)]
    spatial = len(x.shape) - 2
    kernel = list(attrs.get("kernel_shape") or (w.shape[2:] if w and w.shape else []))
    group = attrs.get("group", 1)
    channels = w.shape[1] * group if w is not None and w.shape is not None else None
    if attrs.get("output_shape"):
        dims = list(attrs["output_shape"])[-spatial:]
        return [Tensor((x.shape[0], channels, *dims), x.dtype)]
    _, strides, dilations, pads = _window_attrs(attrs, spatial)
    out_pad = list(attrs.get("output_padding") or [0] * spatial)
    auto_pad = attrs.get("auto_pad", "NOTSET")
    out = [x.shape[0], channels]
    for i in range(spatial):
        size = x.shape[2 + i]
        if size is None or not kernel:
            out.append(None)
        elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            out.append(size * strides[i])
        else:
            p0, p1 = (0, 0) if auto_pad == "VALID" else (pads[i], pads[i + spatial])
            out.append(transposed_size(size, kernel[i], strides[i], dilations[i], p0, p1, out_pad[i]))
    return [Tensor(tuple(out), x.dtype)]


@_rule("MaxPool", "AveragePool", "LpPool", "MaxRoundingPool")
def _pool(node, attrs, inputs, ctx):
    x = inputs[0]
    if x.shape is None:
        return [Tensor(None, x.dtype)]
    kernel = list(attrs.get("kernel_shape") or [])
    shape = window_shape(x.shape, attrs, x.shape[1], kernel, bool(attrs.get("ceil_mode", 0)))
    outs = [Tensor(shape, x.dtype)]
    if len(node.output) > 1:
        outs.append(Tensor(shape, TensorProto.INT64))
    return outs


@_rule("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool")
def _global_pool(node, attrs, inputs, ctx):
    x = inputs[0]
    if x.shape is None:
        return [Tensor(None, x.dtype)]
    return [Tensor(x.shape[:2] + (1,) * (len(x.shape) - 2), x.dtype)]


@_rule("Pad")
def _pad(node, attrs, inputs, ctx):
    x = inputs[0]
    if x.shape is None:
        return [Tensor(None, x.dtype)]
    rank = len(x.shape)
    if ctx.opset < 11:
        pads = attrs.get("pads")
        axes = None
    else:
        pads = inputs[1].value if len(inputs) > 1 and inputs[1] is not None else None
        axes = inputs[3].value if len(inputs) > 3 and inputs[3] is not None else None
    if pads is None:
        return [Tensor(tuple(ctx.fresh("pad") for _ in x.shape), x.dtype)]
    axes = [_norm_axis(int(a), rank) for a in axes] if axes is not None else list(range(rank))
    half = len(pads) // 2
    shape = list(x.shape)
    for i, a in enumerate(axes[:half]):
        begin, end = pads[i], pads[i + half]
        shape[a] = shape[a] + begin + end if shape[a] is not None else None
    return [Tensor(tuple(shape), x.dtype)]


@_rule("Resize", "Upsample")
def _resize(node, attrs, inputs, ctx):
    x = inputs[0]
    if x.shape is None:
        return [Tensor(None, x.dtype)]
    scales = sizes = None
    if node.op_type == "Upsample" and "scales" in attrs:
        scales = attrs["scales"]
    elif node.op_type == "Upsample" or ctx.opset == 10:
        scales = inputs[1].value if len(inputs) > 1 and inputs[1] else None
    else:
        if len(inputs) > 2 and inputs[2] is not None and inputs[2].value:
            scales = inputs[2].value
        if len(inputs) > 3 and inputs[3] is not None and inputs[3].value is not None:
            sizes = inputs[3].value
    axes = attrs.get("axes")
    rank = len(x.shape)
    axes = [_norm_axis(a, rank) for a in axes] if axes else list(range(rank))
    shape = list(x.shape)
    if sizes is not None:
        for a, s in zip(axes, sizes):
            shape[a] = s
    elif scales is not None:
        for a, s in zip(axes, scales):
            if float(s) != 1.0:
                shape[a] = scale_dim(shape[a], float(s)) if shape[a] is not None else None
                if shape[a] is None:
                    shape[a] = ctx.fresh("resize")
    else:
        shape = [shape[0], shape[1]] + [ctx.fresh("resize") for _ in shape[2:]]
    return [Tensor(tuple(shape), x.dtype)]


@_rule("DepthToSpace", "SpaceToDepth")
def _depth_space(node, attrs, inputs, ctx):
    x = inputs[0]
    if x.shape is None:
        return [Tensor(None, x.dtype)]
    b = attrs.get("blocksize", 1)
    n, c, *spatial = x.shape
    if node.op_type == "DepthToSpace":
        shape = (n, exact_div(c, b ** len(spatial)) if c is not None else None, *[d * b for d in spatial])
    else:
        shape = (n, c * b ** len(spatial) if c is not None else None, *[floordiv(d, b) for d in spatial])
    return [Tensor(shape, x.dtype)]


@_rule("Gemm")
def _gemm(node, attrs, inputs, ctx):
    a, b = inputs[0], inputs[1]
    if a.shape is None or b.shape is None:
        return [Tensor(None, a.dtype)]
    m = a.shape[1] if attrs.get("transA", 0) else a.shape[0]
    n = b.shape[0] if attrs.get("transB", 0) else b.shape[1]
    return [Tensor((m, n), a.dtype)]


@_rule("MatMul", "MatMulInteger")
def _matmul(node, attrs, inputs, ctx):
    a, b = inputs[0], inputs[1]
    if a.shape is None or b.shape is None:
        return [Tensor(None, a.dtype)]
    sa, sb = list(a.shape), list(b.shape)
    if len(sa) == 1:
        sa = [1] + sa
    if len(sb) == 1:
        sb = sb + [1]
    batch = _broadcast([tuple(sa[:-2]), tuple(sb[:-2])]) or ()
    shape = list(batch) + [sa[-2], sb[-1]]
    if len(a.shape) == 1:
        shape.pop(-2)
    if len(b.shape) == 1:
        shape.pop(-1)
    return [Tensor(tuple(shape), a.dtype)]


@_rule("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2",
       "ReduceL1", "ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin")
def _reduce(node, attrs, inputs, ctx):
    x = inputs[0]
    if x.shape is None:
        return [Tensor(None, x.dtype)]
    rank = len(x.shape)
    if node.op_type in ("ArgMax", "ArgMin"):
        axes = [attrs.get("axis", 0)]
    else:
        axes = attrs.get("axes")
        if axes is None and len(inputs) > 1 and inputs[1] is not None:
            axes = inputs[1].value
    keep = attrs.get("keepdims", 1)
    if axes is None:
        if attrs.get("noop_with_empty_axes", 0):
            return [Tensor(x.shape, x.dtype, x.value)]
        axes = range(rank)
    axes = {_norm_axis(int(a), rank) for a in axes}
    shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape) if keep or i not in axes)
    value = None
    if node.op_type == "ReduceProd" and x.value is not None and rank == 1:
        total: Dim = 1
        for v in x.value:
            total = _mul(total, v)
        value = [total]
    return [Tensor(shape, TensorProto.INT64 if node.op_type.startswith("Arg") else x.dtype, value)]


@_rule("Split")
def _split(node, attrs, inputs, ctx):
    x = inputs[0]
    count = len(node.output)
    if x.shape is None:
        return [Tensor(None, x.dtype)] * count
    axis = _norm_axis(attrs.get("axis", 0), len(x.shape))
    split = attrs.get("split")
    if split is None and len(inputs) > 1 and inputs[1] is not None:
        split = inputs[1].value
    if split is None:
        size = x.shape[axis]
        split = [exact_div(size, count) if size is not None else None] * count
    have = _value_shape(x)
    if have is not None and not (all(type(p) is int and p >= 0 for p in split) and sum(split) == have[axis]):
        have = None  # values only for a split that covers the axis
    outs, start = [], 0
    for part in split:
        shape = list(x.shape)
        shape[axis] = part
        value = None
        if have is not None:
            offsets = _axis_offsets(have)
            offsets[axis] = offsets[axis][start:start + part]
            value = _pick(x.value, offsets)
            start += part
        outs.append(Tensor(tuple(shape), x.dtype, value))
    return outs


@_rule("RandomNormal", "RandomUniform", "EyeLike")
def _random(node, attrs, inputs, ctx):
    if node.op_type == "EyeLike":
        return [Tensor(inputs[0].shape, inputs[0].dtype)]
    return [Tensor(tuple(attrs.get("shape", [])), attrs.get("dtype", TensorProto.FLOAT))]


# ---------------------------------------------------------------------------

class Node:
    """A graph node's fields, read from protobuf once.

    Every pass reads a node's op type, name, inputs and outputs several times;
    each protobuf access builds new Python objects. Duck-typed like
    ``onnx.NodeProto`` for those fields and ``attribute``; ``proto`` is the
    message itself. Build them with :func:`read_nodes`.
    """

    __slots__ = ("proto", "op_type", "domain", "name", "input", "output", "attrs", "plain_attributes")

    def __init__(self, proto: NodeProto, seen: Optional[dict] = None) -> None:
        self.proto = proto
        self.op_type: str = proto.op_type
        self.domain: str = proto.domain
        self.name: str = proto.name
        self.input: tuple = tuple(proto.input[:])
        self.output: tuple = tuple(proto.output[:])
        # One walk gives the attribute values and whether all are text-safe (what
        # ``load.check_model`` asks before anything else reads them). A value onnx
        # cannot read leaves ``attrs`` None: Propagation reads it again where the
        # failure is handled, and the generic UTF-8 walk looks at the node.
        self.attrs: Optional[dict]
        attrs = proto.attribute
        if not attrs:
            self.attrs, self.plain_attributes = {}, True
            return
        # A network repeats a few attribute sets (every 3x3 'same' conv): ``seen``
        # maps their serialized bytes, which decide every value, to the values and
        # the names of those that are lists.
        # Not for the ops whose attributes hold a tensor or a graph: serializing a
        # Constant's weights or a Loop's body would copy them.
        if seen is not None and (self.op_type in _TENSOR_ATTRIBUTE_OPS
                                 or self.domain not in ("", "ai.onnx")):
            seen = None
        key = tuple(map(_SERIALIZE, attrs)) if seen is not None else None
        known = seen.get(key) if seen is not None else None
        if known is not None:  # a copy of its own, lists too: rules may change them
            values, lists = known
            own = values.copy()
            for name in lists:
                own[name] = values[name][:]
            self.attrs, self.plain_attributes = own, True
            return
        try:
            self.attrs, self.plain_attributes = _read_attributes(attrs)
        except (ValueError, TypeError):
            self.attrs, self.plain_attributes = None, False
            return
        if seen is not None and self.plain_attributes:  # plain values only: no tensor or graph
            seen[key] = ({k: v[:] if type(v) is list else v for k, v in self.attrs.items()},
                         [k for k, v in self.attrs.items() if type(v) is list])

    @property
    def attribute(self):
        return self.proto.attribute


_SERIALIZE = AttributeProto.SerializeToString
#: ai.onnx ops with a tensor or graph attribute (the only kinds that can be large).
_TENSOR_ATTRIBUTE_OPS = frozenset({"Constant", "ConstantOfShape", "If", "Loop", "Scan", "SequenceMap"})


def read_nodes(graph: GraphProto) -> list:
    """A graph's nodes as :class:`Node` views, in file order."""
    seen: dict = {}
    return [Node(proto, seen) for proto in graph.node]


#: A protobuf node or its :class:`Node` view.
AnyNode = Union[NodeProto, Node]


def topological_nodes(graph: GraphProto, available: set[str],
                      reads: Optional[dict] = None, nodes: Optional[list] = None) -> list[Node]:
    """Nodes in dependency order, file order kept where it already is one.

    ``nodes``, when given, are the graph's nodes as :class:`Node` views, in file order.

    ``reads``, when given, is filled with ``id(node)`` -> the tensors the node
    reads (inputs, then its subgraphs' outer-scope reads; no repeats, no empty names).

    Iterative (a 5,000-node chain is fine). Raises ``SymcheckError('cycle')``
    naming nodes on a cycle and ``SymcheckError('undefined-tensor')`` for an
    input that nothing produces.
    """
    if nodes is None:
        nodes = read_nodes(graph)  # kept alive: ``id(node)`` keys stay valid
    in_file_order = _in_file_order(graph, available, nodes)
    if in_file_order is not None:
        if reads is not None:
            reads.update(in_file_order)
        return list(nodes)
    import heapq

    producer: dict[str, int] = {}
    for i, node in enumerate(nodes):
        for out in node.output:
            if out:
                if out in producer or out in available:
                    first = (f"node {_label(nodes[producer[out]])}" if out in producer
                             else "a graph input or initializer")
                    raise SymcheckError(
                        "duplicate-tensor",
                        f"node {_label(node)} writes tensor {_label_name(out)}, already written by {first}")
                producer[out] = i
    for out in graph.output:
        if out.name and out.name not in producer and out.name not in available:
            raise SymcheckError("undefined-tensor",
                                f"graph output {_label_name(out.name)} is produced by no node")
    waiting = [0] * len(nodes)
    consumers: dict[int, list[int]] = {}
    for i, node in enumerate(nodes):
        names = _reads_of(node)
        if reads is not None:
            reads[id(node)] = names
        for name in names:
            if name in available:
                continue
            if name not in producer:
                raise SymcheckError(
                    "undefined-tensor",
                    f"node {_label(node)} reads tensor {_label_name(name)} that nothing produces")
            waiting[i] += 1
            consumers.setdefault(producer[name], []).append(i)
    heap = [i for i, w in enumerate(waiting) if w == 0]
    heapq.heapify(heap)
    order = []
    while heap:
        i = heapq.heappop(heap)
        order.append(nodes[i])
        for j in consumers.get(i, ()):
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(heap, j)
    if len(order) != len(nodes):
        stuck = [_label(nodes[i]) for i, w in enumerate(waiting) if w][:5]
        raise SymcheckError("cycle", f"the graph has a cycle through {', '.join(stuck)}")
    return order


def _reads_of(node: Node) -> list:
    """The tensors a node reads: inputs, then its subgraphs' outer-scope reads (no
    repeats, no empty names)."""
    inputs = node.input
    if node.op_type in _SUBGRAPH_OPS or node.domain not in ("", "ai.onnx"):
        outer = implicit_inputs(node)
        if outer:
            return [name for name in dict.fromkeys([*inputs, *outer]) if name]
    if len(inputs) == 1 and inputs[0]:
        return [inputs[0]]  # most nodes: nothing to drop or merge
    names = list(dict.fromkeys(inputs))
    if "" in names:  # an omitted optional input (once, after dict.fromkeys)
        names.remove("")
    return names


def _in_file_order(graph: GraphProto, available: set, nodes: list) -> Optional[dict]:
    """``id(node)`` -> the tensors it reads, when the file's order is already a
    dependency order (as exporters write it) and nothing is amiss; else None, and
    the general sort finds the order or names the problem.

    One pass: every read is a graph input, an initializer or an earlier node's
    output, no tensor is written twice, and every graph output is written.
    """
    defined = set(available)
    reads: dict = {}
    for node in nodes:
        names = _reads_of(node)
        if not defined.issuperset(names):
            return None
        reads[id(node)] = names
        for out in node.output:
            if out:
                if out in defined:
                    return None
                defined.add(out)
    for out in graph.output:
        if out.name and out.name not in defined:
            return None
    return reads


def _label_name(name: str, limit: int = 60) -> str:
    """``repr`` of a model-supplied name, shortened for error messages."""
    text = name if len(name) <= limit else name[:limit - 1] + "…"
    return repr(text)


def _label(node: "AnyNode") -> str:
    return _label_name(node.name or node.op_type)


def _short_list(values) -> str:
    text = str(list(values))
    return text if len(text) <= 60 else text[:59] + "…"


#: Standard ops with subgraph attributes; nodes of other domains are checked too.
_SUBGRAPH_OPS = {"If", "Loop", "Scan", "SequenceMap"}


def implicit_inputs(node: "AnyNode") -> list:
    """Outer-scope tensors a node's subgraphs read (If/Loop/Scan bodies), in order.

    Walks nested subgraphs with a stack (no recursion). Names defined anywhere
    inside the subgraphs (their inputs, initializers and node outputs) are not
    outer-scope reads. A standard op without subgraphs (all but If, Loop, Scan,
    SequenceMap) reads none; its attributes are not even looked at.
    """
    if node.op_type not in _SUBGRAPH_OPS and node.domain in ("", "ai.onnx"):
        return []
    stack = []
    for attr in node.attribute:
        if attr.type == AttributeProto.GRAPH:
            stack.append(attr.g)
        elif attr.type == AttributeProto.GRAPHS:
            stack.extend(attr.graphs)
    if not stack:
        return []
    defined: set = set()
    used: list = []
    while stack:
        graph = stack.pop()
        defined.update(i.name for i in graph.input)
        defined.update(i.name for i in graph.initializer)
        for inner in graph.node:
            defined.update(inner.output)
            used.extend(inner.input)
            for attr in inner.attribute:
                if attr.type == AttributeProto.GRAPH:
                    stack.append(attr.g)
                elif attr.type == AttributeProto.GRAPHS:
                    stack.extend(attr.graphs)
        used.extend(o.name for o in graph.output)
    return [name for name in dict.fromkeys(used) if name and name not in defined]


class DeclaredShapes:
    """The shapes a graph declares for its tensors (``value_info``, then outputs),
    read on demand.

    Exporters often declare every intermediate tensor, and reading 10,000
    declarations from protobuf costs more than propagating the shapes; the
    propagation consults one only where its own rules give up. As with reading
    them all, an output's declaration wins over a ``value_info`` one, and a
    declaration without a shape does not count.
    """

    def __init__(self, graph: GraphProto, fresh: Callable[[str], Expr]) -> None:
        self._graph = graph
        self._fresh = fresh
        self._protos: Optional[dict] = None  # name -> its declarations, in file order
        self._shapes: dict = {}

    def get(self, name: str) -> Optional[Tensor]:
        if name in self._shapes:
            return self._shapes[name]
        if self._protos is None:
            protos: dict = {}
            for vi in [*self._graph.value_info, *self._graph.output]:
                protos.setdefault(vi.name, []).append(vi)
            self._protos = protos
        found = None
        for vi in self._protos.get(name, ()):
            tensor = type_to_tensor(vi.type, self._fresh)
            if tensor.shape is not None:
                found = tensor
        self._shapes[name] = found
        return found


def type_to_tensor(type_proto: TypeProto, fresh: Callable[[str], Expr],
                   symbols: Optional[dict] = None) -> Tensor:
    if not type_proto.HasField("tensor_type"):
        return UNKNOWN
    tt = type_proto.tensor_type
    if not tt.HasField("shape"):
        return Tensor(None, tt.elem_type)
    dims: list = []
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param") and symbols is not None:
            dims.append(symbols.setdefault(d.dim_param, Expr.symbol(_symbol_name(d.dim_param))))
        else:
            dims.append(fresh("d"))
    return Tensor(tuple(dims), tt.elem_type)


def _symbol_name(param: str) -> str:
    cleaned = "".join(c if c.isalnum() or c == "_" else "_" for c in param)
    return cleaned or "d"


class FreshSymbols:
    """``fresh(stem)``: a new symbol ``?stem1``, ``?stem2``, ... for a dim nothing determines."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, stem: str) -> Expr:
        self.count += 1
        return Expr.symbol(f"?{stem}{self.count}")


class Propagation:
    """Run the op rules over a graph; ``tensors`` maps names to :class:`Tensor`."""

    def __init__(self, model: ModelProto, inputs: dict[str, Tensor], opset: int,
                 nodes: Optional[list] = None, initializers: Optional[list] = None) -> None:
        """``nodes`` and ``initializers``, when the caller has read them already, are
        the main graph's :class:`Node` views and :func:`read_initializers`."""
        self.model = model
        self.opset = opset
        #: new symbols for dims nothing determines; an object of its own, not a bound
        #: method, so the declarations that keep it make no reference cycle
        self.fresh = FreshSymbols()
        self.tensors: dict[str, Tensor] = {}
        self.unknown_ops: set[str] = set()
        graph = model.graph
        for init in initializers if initializers is not None else read_initializers(graph):
            self.tensors[init.name] = init
        self.initializers = set(self.tensors)  # names of the graph's initializers
        self.tensors.update(inputs)
        self.declared = DeclaredShapes(graph, self.fresh)
        self._inferred: Optional[DeclaredShapes] = None
        available = set(self.tensors)
        self.reads: dict[int, list[str]] = {}
        #: the main graph's nodes as :class:`Node` views, in file order
        self.nodes: list = nodes if nodes is not None else read_nodes(graph)
        self.order = topological_nodes(graph, available, self.reads, self.nodes)
        self._produced_at: Optional[dict[str, int]] = None  # see _follow_newest
        ctx = Context(opset, self.fresh)
        for node in self.order:
            self._run(node, ctx)


    def _run(self, node: Node, ctx: Context) -> None:
        get = self.tensors.get
        ins = [get(name, UNKNOWN) if name else None for name in node.input]
        rule = _RULES.get(node.op_type) if node.domain in ("", "ai.onnx") else None
        outs: Optional[list] = None
        if rule is not None:
            try:
                outs = rule(node, self.attrs(node), ins, ctx)
            except (ValueError, TypeError, IndexError, KeyError, ArithmeticError, AttributeError,
                    RecursionError):
                outs = None
        if outs is None:
            self.unknown_ops.add(node.op_type)
            outs = [self._fallback(name) for name in node.output]
        if node.op_type in _JOINS and outs and outs[0].shape is not None:
            outs[0] = self._follow_newest(node, ins, outs[0])
        for name, tensor in zip(node.output, outs):
            if not name:
                continue
            shape = tensor.shape
            if shape is not None and tensor.value is None:
                for d in shape:
                    if type(d) is not int:
                        break
                else:  # the usual output: a static shape, no values; nothing to bound
                    self.tensors[name] = tensor
                    continue
            tensor = _bounded(tensor, self.fresh)
            if tensor.shape is None or any(d is None for d in tensor.shape):
                fb = self._fallback(name)
                if fb.shape is not None and (tensor.shape is None or len(fb.shape) == len(tensor.shape)):
                    merged = fb.shape if tensor.shape is None else tuple(
                        d if d is not None else f for d, f in zip(tensor.shape, fb.shape))
                    tensor = Tensor(merged, tensor.dtype or fb.dtype, tensor.value)
            self.tensors[name] = tensor

    def attrs(self, node: "AnyNode") -> dict:
        """A node's attributes as Python values (a view's, read when it was made)."""
        found = getattr(node, "attrs", None)
        return found if found is not None else attributes(node)

    def _follow_newest(self, node: Node, ins: list, out: Tensor) -> Tensor:
        """Symbolic dims of a join follow its most recently computed input.

        The inputs of a Concat/Add agree at run time, but symbolically a U-Net's
        skip says ``floor(H/8)`` where the decoder says ``2*floor(H/16)``; the
        decoder (computed last) is the path the ladder follows.
        """
        if out.shape is None:
            return out
        for d in out.shape:
            if isinstance(d, Expr):
                break
        else:
            return out  # only symbolic dims are replaced
        produced_at = self._produced_at
        if produced_at is None:  # worked out on first use: most models have no symbolic dim
            # each tensor is written once, by a node before any that reads it (see
            # topological_nodes), so the whole order gives the index of every input
            produced_at = self._produced_at = {
                name: index for index, later in enumerate(self.order) for name in later.output}
        ranked = sorted(((produced_at.get(name, -1), t) for name, t in zip(node.input, ins)
                         if t is not None and t.shape is not None and len(t.shape) == len(out.shape)
                         and t.value is None), key=lambda item: item[0])
        if not ranked:
            return out
        newest = ranked[-1][1].shape
        axis = None
        if node.op_type == "Concat":
            axis = self.attrs(node).get("axis", 0)
            axis = axis + len(out.shape) if axis < 0 else axis
        shape = tuple(n if i != axis and isinstance(d, Expr) and n is not None and n != 1 else d
                      for i, (d, n) in enumerate(zip(out.shape, newest)))
        return Tensor(shape, out.dtype, out.value)

    def _fallback(self, name: str) -> Tensor:
        declared = self.declared.get(name)
        if declared is not None:
            return declared
        if self._inferred is None:
            self._inferred = _onnx_inferred(self.model, self.fresh)
        inferred = self._inferred.get(name)
        return inferred if inferred is not None else UNKNOWN


def _onnx_inferred(model: ModelProto, fresh) -> "DeclaredShapes":
    """onnx.shape_inference on a copy without weight bytes.

    The copy keeps only small constants. onnx's data propagation materialises
    the constants it reads, so an initializer or ``Constant`` declaring more
    than :data:`MAX_VALUE_ELEMENTS` elements (its bytes stripped, external, or a
    hostile 2^31-element declaration over a few bytes) becomes a typed graph
    input of that shape: inference sees its shape, never its values.
    """
    graph = model.graph
    stripped = ModelProto(ir_version=model.ir_version)
    stripped.opset_import.extend(model.opset_import)
    stripped.functions.extend(model.functions)
    copy = stripped.graph
    copy.name = graph.name
    copy.input.extend(graph.input)
    copy.output.extend(graph.output)
    copy.value_info.extend(graph.value_info)
    declared = {i.name for i in graph.input}

    def as_input(name: str, proto: TensorProto) -> None:
        if name not in declared:
            declared.add(name)
            info = copy.input.add(name=name)  # as onnx.helper.make_tensor_value_info writes it
            tensor_type = info.type.tensor_type
            tensor_type.elem_type = proto.data_type
            tensor_type.shape.SetInParent()  # a scalar has a shape, of no dims
            for d in proto.dims:
                dim = tensor_type.shape.dim.add()
                if d >= 0:
                    dim.dim_value = d

    def small(proto: TensorProto) -> bool:
        return not proto.external_data and all(d >= 0 for d in proto.dims) \
            and math.prod(proto.dims) <= MAX_VALUE_ELEMENTS

    for init in graph.initializer:
        if small(init):
            copy.initializer.append(init)
        else:
            as_input(init.name, init)
    for node in graph.node:
        value = next((a.t for a in node.attribute if a.name == "value" and a.type == AttributeProto.TENSOR),
                     None)
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and value is not None \
                and not small(value) and node.output:
            as_input(node.output[0], value)
        else:
            copy.node.append(node)
    inferred = _infer_in_child(stripped.SerializeToString())
    return DeclaredShapes(GraphProto() if inferred is None else inferred.graph, fresh)


#: onnx shape inference runs in a child process with these bounds: on a hostile
#: graph it can build a tensor of rank 2^31 (Tile with a 2^31-long repeats) and
#: neither the memory nor the time of its C++ code can be bounded in-process.
INFER_MEMORY = 1024**3
INFER_TIMEOUT = 10.0

_INFER_CHILD = """
import sys
sys.path[:] = {path!r}
try:
    import resource
    resource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory}))
except (ImportError, ValueError, OSError):
    pass
import onnx
model = onnx.ModelProto()
model.ParseFromString(sys.stdin.buffer.read())
out = onnx.shape_inference.infer_shapes(model, data_prop=True)
del out.graph.node[:]
sys.stdout.buffer.write(out.SerializeToString())
"""


def _infer_in_child(data: bytes) -> Optional[ModelProto]:
    """``onnx.shape_inference.infer_shapes(data_prop=True)`` in a bounded child; None on
    any failure (the fallback is optional: shapes just stay unknown)."""
    import subprocess
    import sys

    code = _INFER_CHILD.format(memory=INFER_MEMORY, path=[p for p in sys.path if p])  # the parent's onnx
    try:
        proc = subprocess.run([sys.executable, "-I", "-c", code], input=data, capture_output=True,
                              timeout=INFER_TIMEOUT)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    model = ModelProto()
    try:
        model.ParseFromString(proc.stdout)
    except Exception:
        return None
    return model
