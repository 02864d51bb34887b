"""Read an ONNX file safely and recognise the exporter that wrote it.

The file is ``stat``-ed before it is opened (a FIFO would block every loader
forever), read once, and parsed without touching external data: static
analysis never needs weight bytes.
"""

from __future__ import annotations

import math
import os
import re
import stat
from dataclasses import dataclass
from operator import attrgetter
from typing import Callable, Optional, Union

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError

from .errors import SymcheckError
from .proto import AttributeProto, GraphProto, ModelProto, TensorProto, ValueInfoProto

#: Files above this size are refused without being read: protobuf cannot parse
#: a message of 2 GiB or more, so a larger file cannot be a single ModelProto.
MAX_FILE_BYTES = 2 * 1024**3 - 1

#: Largest size of one tensor in bytes: an int64 byte count (what runtimes use).
MAX_TENSOR_BYTES = 2**63 - 1

_ITEMSIZE: dict[int, int] = {TensorProto.DOUBLE: 8, TensorProto.INT64: 8, TensorProto.UINT64: 8,
             TensorProto.COMPLEX64: 8, TensorProto.COMPLEX128: 16, TensorProto.FLOAT16: 2,
             TensorProto.BFLOAT16: 2, TensorProto.INT16: 2, TensorProto.UINT16: 2,
             TensorProto.INT8: 1, TensorProto.UINT8: 1, TensorProto.BOOL: 1}


@dataclass(frozen=True)
class Exporter:
    """Who wrote the file. ``family`` is keras, pytorch, matlab or unknown."""

    family: str
    variant: str  # tf2onnx, torchscript, dynamo, exportONNXNetwork, ...
    description: str

    @property
    def channels_last_hint(self) -> bool:
        return self.family == "keras"


#: Files at least this large are read without their large inline weights when
#: the caller asks for that (see :func:`read_model`). The wire-format walk costs
#: a few microseconds per graph field in Python where protobuf copies bytes at
#: over 1 GB/s: below this size a plain parse is as fast (a 10k-node U-Net with
#: 17 MB of small weights: 20 ms parsed, 150 ms walked).
LEAN_READ_BYTES = 64 * 1024**2

#: Files at least this large are parsed straight from a read-only memory map
#: instead of a copy read into memory: protobuf copies what it keeps, and the
#: file's pages come from the page cache without a private copy of every one
#: (a 30k-node U-Net's 51 MB file: 12,000 fewer page faults, read + parse
#: 96-101 ms -> 62-67 ms). Smaller files are read: the time is too small to
#: matter, and a mapped file truncated meanwhile ends the process with SIGBUS.
MAPPED_READ_BYTES = 8 * 1024**2


def read_model(path: str, max_bytes: int = MAX_FILE_BYTES,
               skipped: Optional[dict] = None) -> ModelProto:
    """Parse ``path`` into a ModelProto or raise :class:`SymcheckError`.

    The path is ``stat``-ed first: directories, FIFOs, devices and sockets are
    refused without being opened, and so is a file over ``max_bytes``. The
    file is then opened non-blocking and checked again on the open descriptor
    (it may have been swapped meanwhile), and at most ``max_bytes`` are read.
    External data is never opened.

    With ``skipped`` (a dict to fill), a file of :data:`LEAN_READ_BYTES` or
    more is memory-mapped and parsed without the ``raw_data`` of its large
    initializers (:func:`symcheck.wire.strip_weights`): their pages are never
    read, and ``skipped`` receives ``{name: (offset, length)}`` of each payload
    in the file. Those initializers keep their dims and type, so static
    analysis is unchanged. Otherwise a file of :data:`MAPPED_READ_BYTES` or
    more is parsed from a read-only map of it, which is closed before this
    returns. (A file truncated by someone else while it is mapped would end
    the process with SIGBUS; onnx.load has no such window but holds the whole
    file twice.)
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise SymcheckError("not-found", "no such file") from None
    except ValueError:  # an embedded NUL byte
        raise SymcheckError("unreadable", "the path contains a NUL byte") from None
    except OSError as exc:
        raise SymcheckError("unreadable", exc.strerror or str(exc)) from None
    _check_regular(info, max_bytes)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise SymcheckError("not-found", "no such file") from None
    except OSError as exc:
        raise SymcheckError("unreadable", exc.strerror or str(exc)) from None
    try:
        with os.fdopen(fd, "rb") as handle:
            opened = os.fstat(handle.fileno())
            _check_regular(opened, max_bytes)
            if skipped is not None and opened.st_size >= LEAN_READ_BYTES:
                lean = _read_lean(handle.fileno())
                if lean is not None:
                    skipped.update(lean[1])
                    return parse_model(lean[0])
            if opened.st_size >= MAPPED_READ_BYTES:
                model = _parse_mapped(handle.fileno(), max_bytes)
                if model is not None:
                    return model
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise SymcheckError("unreadable", exc.strerror or str(exc)) from None
    if len(data) > max_bytes:
        raise SymcheckError("too-large", f"the file grew past the {max_bytes:,}-byte limit while read")
    return parse_model(data)


def _read_lean(fd: int) -> Optional[tuple]:
    import mmap

    from .wire import strip_weights

    try:
        mapped = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None
    try:
        view = memoryview(mapped)
        try:
            return strip_weights(view)
        finally:
            view.release()
    finally:
        mapped.close()


def _parse_mapped(fd: int, max_bytes: int) -> Optional[ModelProto]:
    """The model parsed from a read-only map of ``fd``; None when it cannot be mapped."""
    import mmap

    try:
        mapped = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None
    try:
        if len(mapped) > max_bytes:  # it grew after the size check
            raise SymcheckError("too-large", f"the file grew past the {max_bytes:,}-byte limit while read")
        view = memoryview(mapped)
        try:
            return parse_model(view)
        finally:
            view.release()
    finally:
        mapped.close()


def _check_regular(info: os.stat_result, max_bytes: int) -> None:
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        raise SymcheckError("not-a-file", "is a directory, not an .onnx file")
    if not stat.S_ISREG(mode):
        kind = ("a FIFO" if stat.S_ISFIFO(mode) else
                "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else
                "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
        raise SymcheckError("not-a-file", f"is {kind}, not a regular file")
    if info.st_size > max_bytes:
        raise SymcheckError(
            "too-large", f"{info.st_size:,} bytes is over the {max_bytes:,}-byte limit")


def parse_model(data: Union[bytes, memoryview]) -> ModelProto:
    """Parse serialized bytes; a file that is not a model is ``not-onnx``.

    A serialized GraphProto (which onnx.load reads as an empty model) is
    ``graph-not-model``; protobuf's nesting limit is ``nested-too-deep``.
    """
    model = ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "depth" in reason.lower() or "recursion" in reason.lower():
            raise SymcheckError("nested-too-deep", "messages nest deeper than protobuf's limit of "
                                                   "100 levels (subgraphs inside subgraphs)") from None
        raise SymcheckError("not-onnx", f"not an ONNX model ({reason})") from None
    if not model.HasField("graph") or (not model.graph.node and not model.graph.input):
        if data and _is_graph(data):
            raise SymcheckError("graph-not-model", "a serialized GraphProto, not a ModelProto "
                                                   "(wrap it with onnx.helper.make_model)")
        raise SymcheckError("not-onnx", "not an ONNX model (no graph)")
    if not model.graph.node:
        raise SymcheckError("empty-model", "the graph has no nodes")
    return model


def _is_graph(data: Union[bytes, memoryview]) -> bool:
    graph = GraphProto()
    try:
        graph.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError):
        return False
    return bool(graph.node) and all(n.op_type for n in graph.node)


#: The newest ai.onnx opset of onnx 1.15, the oldest onnx symcheck installs with:
#: a model at or below it needs no question to the installed onnx, whose schema
#: registry comes with the ``import onnx`` that static analysis avoids
#: (:mod:`symcheck.proto`).
OPSET_ALWAYS_DEFINED = 20


def check_model(model: ModelProto, nodes: list, initializers: list) -> None:
    """Refuse what static analysis cannot stand on, before any shape is computed.

    * an ai.onnx opset above the newest the installed onnx defines (op
      semantics change between opsets: guessing is worse than refusing) or
      below 1: ``unsupported-opset``. Ops of unknown domains are analysed as
      unknown ops instead (see ``Propagation.unknown_ops``);
    * an initializer with a negative dim (``bad-dims``) or of 2^63 bytes or
      more (``too-large-dims``), computed with Python integers (numpy.prod of
      2^62 x 2^62 x 4 wraps to 0).

    ``nodes`` and ``initializers`` are the main graph's nodes as
    :class:`symcheck.shapes.Node` views and its initializers as read by
    :func:`symcheck.shapes.read_initializers` (their fields already read from
    protobuf, once for every pass).
    """
    _check_strings(model, nodes, initializers)
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx") and not 1 <= entry.version <= OPSET_ALWAYS_DEFINED:
            import onnx  # its schema registry (see OPSET_ALWAYS_DEFINED)

            newest = onnx.defs.onnx_opset_version()
            if not 1 <= entry.version <= newest:
                raise SymcheckError(
                    "unsupported-opset",
                    f"ai.onnx opset {entry.version} is not between 1 and {newest}, the newest the "
                    f"installed onnx {onnx.__version__} defines")
    # Each distinct dims once (a 30k-node U-Net's 37,506 initializers have 21); only
    # the initializers with unusual dims are looked at again, in file order.
    unusual = {dims for dims in set(map(_SHAPE, initializers))
               if not (dims and min(dims) >= 0 and math.prod(dims) < 2**40)}
    for init in initializers if unusual else ():
        if init.shape in unusual:
            check_tensor_dims(lambda: f"initializer {init.name!r}", init.shape, init.dtype)


_SHAPE = attrgetter("shape")


def _check_strings(model: ModelProto, nodes: list, initializers: list) -> None:
    """Refuse string fields that are not UTF-8 (``not-onnx``).

    ONNX strings are UTF-8, but protobuf hands invalid ones to Python as
    ``bytes``, which no name-handling code expects. Walks every message with a
    stack (no recursion); weight bytes are ``bytes`` fields and not looked at.
    The main graph's ``nodes`` and ``initializers`` are checked from their
    views; its ``node`` and ``initializer`` fields are not walked again.
    """
    string = FieldDescriptor.TYPE_STRING
    message = FieldDescriptor.TYPE_MESSAGE
    try:  # str.join refuses bytes (see _plain_node_is_text)
        "".join(map(_NAME, initializers))
    except TypeError:
        raise _not_text("TensorProto", "name") from None
    stack: list = [model]
    stack.extend(node.proto for node in nodes if not _plain_node_is_text(node))
    main_graph: Optional[GraphProto] = model.graph
    while stack:
        msg = stack.pop()
        if isinstance(msg, TensorProto):  # weights: only the name is text we use
            if type(msg.name) is not str:
                raise _not_text("TensorProto", "name")
            continue
        if main_graph is not None and msg is main_graph:
            main_graph = None  # seen; its nodes and initializers were checked above
            fields = [(f, v) for f, v in msg.ListFields() if f.name not in ("node", "initializer")]
        else:
            fields = msg.ListFields()
        for field, value in fields:
            repeated = _is_repeated(field)
            if field.type == message:
                if repeated and field.message_type.name == "NodeProto":
                    # the bulk of a graph: ordinary nodes are checked here, not stacked
                    stack.extend(node for node in value if not _plain_node_is_text(node))
                elif repeated and field.message_type.name == "ValueInfoProto":
                    # exporters often declare every tensor: ordinary declarations checked here
                    stack.extend(info for info in value if not _plain_value_info_is_text(info))
                elif repeated and field.message_type.name == "TensorProto":
                    for tensor in value:  # weights: only the name is text we use
                        if type(tensor.name) is not str:
                            raise _not_text("TensorProto", "name")
                elif repeated:
                    stack.extend(value)
                else:
                    stack.append(value)
            elif field.type == string and any(isinstance(v, bytes) for v in (value if repeated else [value])):
                raise _not_text(msg.DESCRIPTOR.name, field.name)


#: Attribute types whose only text is the name (STRING values are bytes fields).
TEXT_SAFE_ATTRIBUTES = frozenset({AttributeProto.FLOAT, AttributeProto.INT,
                                  AttributeProto.FLOATS, AttributeProto.INTS,
                                  AttributeProto.STRING, AttributeProto.STRINGS})


def _not_text(message: str, field: str) -> SymcheckError:
    return SymcheckError("not-onnx", f"not an ONNX model (a {message} field {field!r} is not UTF-8 text)")


def _plain_node_is_text(node) -> bool:
    """True when a node without subgraphs or tensors has only text in its string
    fields (name, op, domain, inputs, outputs, doc string, metadata); False sends
    it to the generic walk (which names the bad field).

    ``node`` is a NodeProto or a :class:`symcheck.shapes.Node` view. The generic
    walk costs ``ListFields`` per message; this is the same check for the
    fields an ordinary node has, several times faster.
    """
    proto = getattr(node, "proto", node)
    try:  # str.join refuses bytes: one loop in C instead of a type check per name
        "".join((node.name, node.op_type, node.domain, proto.doc_string,
                 getattr(proto, "overload", "")))
        "".join(node.input)
        "".join(node.output)
    except TypeError:
        return False
    metadata = proto.metadata_props  # the dynamo exporter annotates every node
    if metadata and not _metadata_is_text(metadata):
        return False
    plain = getattr(node, "plain_attributes", None)
    if plain is not None:  # a view: its attributes were looked at when it was read
        return plain
    return all(attribute_is_text_safe(attr) for attr in node.attribute)


_NAME = attrgetter("name")


def _plain_value_info_is_text(info: ValueInfoProto) -> bool:
    """True when a tensor declaration (name, element type, dims) has only text in
    its string fields; False sends it to the generic walk, which names the bad
    field. The same check as the walk's for what an ordinary declaration holds,
    without a ``ListFields`` per nested message."""
    if type(info.name) is not str or type(info.doc_string) is not str \
            or not _metadata_is_text(info.metadata_props):
        return False
    kind = info.type
    if kind.WhichOneof("value") != "tensor_type" or kind.denotation:
        return False
    for dim in kind.tensor_type.shape.dim:
        if type(dim.dim_param) is not str or dim.denotation:
            return False
    return True


def _metadata_is_text(entries) -> bool:
    """True when every key and value of a ``metadata_props`` list is text."""
    return all(type(entry.key) is str and type(entry.value) is str for entry in entries)


def attribute_is_text_safe(attr: AttributeProto) -> bool:
    """True when an attribute's only text is a UTF-8 name (no subgraph, tensor,
    reference or doc string to walk); STRING values are bytes fields."""
    return attr.type in TEXT_SAFE_ATTRIBUTES and type(attr.name) is str \
        and not attr.ref_attr_name and not attr.doc_string


def _is_repeated(field) -> bool:
    if hasattr(field, "is_repeated"):
        return field.is_repeated
    return field.label == FieldDescriptor.LABEL_REPEATED  # protobuf < 5


def check_tensor_dims(label: Union[str, Callable[[], str]], dims, elem_type: int = 0,
                      data: bool = False) -> int:
    """Raise ``bad-dims`` for a negative dim (for data tensors, also a zero dim) and
    ``too-large-dims`` when the known dims hold 2^63 bytes or more.

    Symbolic dims (anything not an int) are skipped: they are at least 1.
    ``label`` names the tensor in the error (a callable is called only then).
    Returns the bytes the known dims hold.

    >>> check_tensor_dims("input 'x'", (1, 1, 2**62, 2**62), TensorProto.FLOAT)
    Traceback (most recent call last):
    ...
    symcheck.errors.SymcheckError: input 'x' would hold 2^124 elements of 4 bytes (2^63 bytes or more)...
    """
    known = [d for d in dims if isinstance(d, int) and not isinstance(d, bool)]
    for d in known:
        if d < 0 or (data and d == 0):
            shown = "×".join(str(x) if isinstance(x, int) else "?" for x in dims)
            raise SymcheckError("bad-dims", f"{_text(label)} has dims {_short(shown)}: a dim of {d} "
                                            f"{'is negative' if d < 0 else 'leaves no data'}")
    count = math.prod(known)
    itemsize = _ITEMSIZE.get(elem_type, 4)
    if count * itemsize > MAX_TENSOR_BYTES:
        raise SymcheckError(
            "too-large-dims",
            f"{_text(label)} would hold {_magnitude(count)} elements of {itemsize} bytes (2^63 bytes or "
            "more): no runtime can address it")
    return count * itemsize


def _text(label: Union[str, Callable[[], str]]) -> str:
    return label if isinstance(label, str) else label()


def _magnitude(n: int) -> str:
    if n > 0 and n & (n - 1) == 0:
        return f"2^{n.bit_length() - 1}"
    text = f"{n:,}"
    return text if len(text) <= 30 else f"about 2^{n.bit_length() - 1}"


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def opset_version(model: ModelProto) -> int:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return entry.version
    return 1


def detect_exporter(model: ModelProto) -> Exporter:
    """Recognise tf2onnx/Keras, PyTorch (TorchScript or dynamo) and MATLAB."""
    producer = model.producer_name
    version = model.producer_version.replace(" None", "").strip()  # tf2onnx writes "1.17.0 None"
    if producer == "tf2onnx" or producer.startswith("keras2onnx"):
        return Exporter("keras", "tf2onnx", f"Keras/TensorFlow via {producer} {version}".strip())
    if producer == "pytorch":
        dynamo = any(
            prop.key.startswith("pkg.torch.onnx")
            for node in model.graph.node[:50] for prop in node.metadata_props
        ) or any(n.name.startswith("node_") for n in model.graph.node[:20])
        variant = "dynamo" if dynamo else "torchscript"
        channels_last = _keras_torch_backend(model)
        if channels_last:
            return Exporter("keras", variant,
                            f"Keras (torch backend) via torch.onnx {variant} {version}")
        return Exporter("pytorch", variant, f"PyTorch {version} torch.onnx ({variant})")
    if "MATLAB" in producer:
        return Exporter("matlab", "exportONNXNetwork", f"MATLAB exportONNXNetwork {version}".strip())
    text = f"{producer} {version}".strip() or "unknown exporter"
    return Exporter("unknown", producer or "unknown", text)


def _keras_torch_backend(model: ModelProto, window: int = 60) -> bool:
    """Keras's torch backend wraps every conv and pool in Transposes between its
    channels-last tensors and torch's channels-first ops: among the first ``window``
    nodes, Transposes with perm ``[0, r-1, 1, ..., r-2]`` (r >= 3) feed at least two
    Convs or pools, directly or through Casts (its TorchScript path adds no-op Casts
    around every op), and the first of them reads a graph input.

    A PyTorch model's own Transposes do not make it Keras: F.pad's 2-D ``[1, 0]``
    on its pads, a ConvNeXt block's permutes around its channels-last LayerNorm
    (inside the network, not at the input), one permute of an NHWC input before
    the first conv.
    """
    inputs = {i.name for i in model.graph.input}
    channels_first: dict = {}  # tensor -> whether its Transpose chain starts at a graph input
    fed = []
    for node in model.graph.node[:window]:
        if node.op_type == "Transpose":
            perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), [])
            rank = len(perm)
            if rank >= 3 and perm == [0, rank - 1, *range(1, rank - 1)] and node.input:
                from_input = node.input[0] in inputs or channels_first.get(node.input[0], False)
                channels_first.update(dict.fromkeys(node.output, from_input))
        elif node.op_type == "Cast" and node.input and node.input[0] in channels_first:
            channels_first.update(dict.fromkeys(node.output, channels_first[node.input[0]]))
        elif node.op_type in ("Cast", "Identity") and node.input and node.input[0] in inputs:
            inputs.update(node.output)  # the input as its no-op Casts pass it on
        elif node.op_type in _CHANNELS_FIRST_OPS and node.input and node.input[0] in channels_first:
            fed.append(channels_first[node.input[0]])
    return len(fed) >= 2 and fed[0]


_CHANNELS_FIRST_OPS = frozenset({"Conv", "ConvTranspose", "MaxPool", "AveragePool"})


_TF_SUFFIX = re.compile(r"^(.*)_(\d+)$")


def keras_layer_names(scopes: list[str]) -> dict[str, str]:
    """Undo tf2onnx's extra ``_N`` per scope when Keras traced twice.

    When every scope carries a trailing ``_<n>`` (``conv2d_1`` for layer
    ``conv2d``, ``conv2d_1_2`` for ``conv2d_1``) and stripping one keeps the
    names unique, strip it; otherwise keep the names as they are.

    >>> keras_layer_names(["conv2d_1", "conv2d_1_2", "max_pooling2d_1"])["conv2d_1_2"]
    'conv2d_1'
    >>> keras_layer_names(["conv2d", "conv2d_1"])["conv2d_1"]
    'conv2d_1'
    """
    unique = sorted(set(scopes))
    stripped = {}
    for scope in unique:
        match = _TF_SUFFIX.match(scope)
        if not match:
            return {s: s for s in unique}
        stripped[scope] = match.group(1)
    if len(set(stripped.values())) != len(unique):
        return {s: s for s in unique}
    return stripped


def check_computed(nodes, tensors: dict) -> int:
    """:func:`check_tensor_dims` on every node output shape propagation computed.

    ``nodes`` in order, ``tensors`` name -> object with ``shape`` and ``dtype``;
    the first offender is named with the node that writes it. Returns the
    bytes of the largest output whose shape is fully static (Python ints, so a
    ConstantOfShape asking for terabytes is a big number, not an overflow).
    """
    largest = 0
    checked: dict = {}  # (shape, dtype) -> bytes if fully static, else 0 (a model repeats a few)
    for node in nodes:
        for out in node.output:
            tensor = tensors.get(out) if out else None
            if tensor is None or tensor.shape is None:
                continue
            key = (tensor.shape, tensor.dtype)
            size = checked.get(key)
            if size is None:
                size = check_tensor_dims(
                    lambda: f"tensor {_short(out, 60)!r} (output of {node.op_type} node "
                            f"{_short(node.name, 60)!r})",
                    tensor.shape, tensor.dtype)
                if not all(type(d) is int for d in tensor.shape):
                    size = 0
                checked[key] = size
            if size > largest:
                largest = size
    return largest


def check_layer_sizes(layers) -> None:
    """Refuse a data layer whose output has a zero or negative dim (``bad-dims``):
    the model cannot run on the analysed input size."""
    for layer in layers:
        shape = getattr(layer, "out_shape", None)
        if layer.kind == "input" or not shape:
            continue
        bad = [d for d in shape if isinstance(d, int) and d <= 0]
        if bad:
            shown = "×".join(str(d) if isinstance(d, int) else "?" for d in shape)
            raise SymcheckError(
                "bad-dims", f"layer {_short(layer.name, 60)!r} ({layer.kind}) would output "
                            f"{_short(shown)}: the model cannot run on the analysed input size")
