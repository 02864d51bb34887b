"""ONNX's protobuf message classes, without importing the ``onnx`` package.

``import onnx`` costs about 0.1 s on top of numpy (its ``__init__`` brings the
C++ checker and inference bindings, ``helper``, ``compose``, ``hub``, ml_dtypes
and more), which is a quarter of a whole ``symcheck --no-verify`` run on a
small model and the larger part of the serial start-up a directory run pays
before its workers fork. Static analysis needs only the message classes of
``onnx/onnx-ml.proto``.

They come from the installed onnx package's own generated module
(``onnx/onnx_ml_pb2.py``), executed without its package ``__init__``. protobuf
keeps one class per message descriptor, so these *are* ``onnx.ModelProto`` and
the rest: when ``onnx`` is imported later (onnx's shape inference as a
fallback, verification, a caller's own code) its module registers the same
file again, which protobuf accepts because it is identical, and
``isinstance`` works across both. Where onnx is already imported, or its
layout is not the one expected, the ordinary import is used.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType
from typing import TYPE_CHECKING

#: The onnx module whose generated code is reused.
GENERATED = "onnx.onnx_ml_pb2"


def _generated() -> ModuleType:
    loaded = sys.modules.get(GENERATED)
    if loaded is not None:
        return loaded
    try:
        spec = importlib.util.find_spec("onnx")  # finds the package; runs none of it
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("onnx is not a package here")
        path = os.path.join(list(spec.submodule_search_locations)[0], "onnx_ml_pb2.py")
        file_spec = importlib.util.spec_from_file_location("symcheck._onnx_ml_pb2", path)
        if file_spec is None or file_spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(file_spec)
        file_spec.loader.exec_module(module)
        module.ModelProto  # noqa: B018 - a module without it is not the one expected
        return module
    except Exception:  # noqa: BLE001 - any other layout: the plain import is always right
        import onnx

        return onnx.onnx_ml_pb2


if TYPE_CHECKING:
    from onnx import (AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, TypeProto,
                      ValueInfoProto)
else:
    _module = _generated()
    AttributeProto = _module.AttributeProto
    GraphProto = _module.GraphProto
    ModelProto = _module.ModelProto
    NodeProto = _module.NodeProto
    TensorProto = _module.TensorProto
    TypeProto = _module.TypeProto
    ValueInfoProto = _module.ValueInfoProto

__all__ = ["AttributeProto", "GraphProto", "ModelProto", "NodeProto", "TensorProto", "TypeProto",
           "ValueInfoProto"]
