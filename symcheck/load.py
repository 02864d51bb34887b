"""Read an ONNX file safely and recognise the exporter that wrote it.

The file is ``stat``-ed before it is opened (a FIFO would block every loader
forever), read once, and parsed without touching external data: static
analysis never needs weight bytes.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass

import onnx
from google.protobuf.message import DecodeError

from .errors import SymcheckError

#: Files above this size are refused without being read.
MAX_FILE_BYTES = 4 * 1024**3


@dataclass(frozen=True)
class Exporter:
    """Who wrote the file. ``family`` is keras, pytorch, matlab or unknown."""

    family: str
    variant: str  # tf2onnx, torchscript, dynamo, exportONNXNetwork, ...
    description: str

    @property
    def channels_last_hint(self) -> bool:
        return self.family == "keras"


def read_model(path: str, max_bytes: int = MAX_FILE_BYTES) -> onnx.ModelProto:
    """Parse ``path`` into a ModelProto or raise :class:`SymcheckError`."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise SymcheckError("not-found", "no such file") from None
    except OSError as exc:
        raise SymcheckError("unreadable", exc.strerror or str(exc)) from None
    if stat.S_ISDIR(info.st_mode):
        raise SymcheckError("not-a-file", "is a directory, not an .onnx file")
    if not stat.S_ISREG(info.st_mode):
        raise SymcheckError("not-a-file", "is not a regular file")
    if info.st_size > max_bytes:
        raise SymcheckError(
            "too-large", f"{info.st_size:,} bytes is over the {max_bytes:,}-byte limit")
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise SymcheckError("unreadable", exc.strerror or str(exc)) from None
    return parse_model(data)


def parse_model(data: bytes) -> onnx.ModelProto:
    """Parse serialized bytes; a file that is not a model is ``not-onnx``."""
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SymcheckError("not-onnx", f"not an ONNX model ({reason})") from None
    if not model.HasField("graph") or (not model.graph.node and not model.graph.input):
        raise SymcheckError("not-onnx", "not an ONNX model (no graph)")
    if not model.graph.node:
        raise SymcheckError("empty-model", "the graph has no nodes")
    return model


def opset_version(model: onnx.ModelProto) -> int:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return entry.version
    return 1


def detect_exporter(model: onnx.ModelProto) -> Exporter:
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


def _keras_torch_backend(model: onnx.ModelProto) -> bool:
    """Keras's torch backend wraps every conv in NHWC<->NCHW Transposes."""
    ops = [n.op_type for n in model.graph.node[:40]]
    return bool(ops) and ops.count("Transpose") >= 2 and "Conv" in ops and ops.index("Transpose") < ops.index("Conv")


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
