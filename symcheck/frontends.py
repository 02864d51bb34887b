"""Models that are not files yet: PyTorch modules and Keras models, exported in-process.

torch and keras are imported only when such an object is passed: a module
object can only exist if the user already imported its framework, so
``sys.modules`` tells, without importing anything.
"""

from __future__ import annotations

import importlib
import io
import os
import re
import sys
import tempfile
import warnings
from typing import Any, Optional, Sequence, cast

from .errors import SymcheckError
from .load import parse_model
from .proto import ModelProto


def is_torch_module(obj: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def is_keras_model(obj: Any) -> bool:
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(obj, keras.Model)


def torch_to_onnx(module: Any, input_shape: Optional[Sequence[int]], opset: int = 17) -> ModelProto:
    """Export ``module`` with the TorchScript exporter, keeping module paths in node names.

    The module is exported in eval mode (BatchNorm folded, Dropout gone) and
    its training flag is restored afterwards.
    """
    if input_shape is None:
        raise SymcheckError("bad-input-shape",
                            "a torch.nn.Module needs input_shape, e.g. (1, 1, 28, 28)")
    import torch

    shape = tuple(int(d) for d in input_shape)
    example = torch.zeros(shape)
    was_training = module.training
    buffer = io.BytesIO()
    try:
        module.eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # torch annotates f as a path, but the TorchScript exporter writes to file objects
            torch.onnx.export(module, (example,), cast(Any, buffer), dynamo=False,
                              opset_version=opset,
                              input_names=["input"], output_names=None)
    except Exception as exc:  # torch raises many types; report one line
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SymcheckError("not-onnx", f"torch.onnx.export failed: {reason}") from None
    finally:
        module.train(was_training)
    return parse_model(buffer.getvalue())


def keras_to_onnx(model: Any) -> ModelProto:
    """Export a Keras model through Keras's own ONNX path (tf2onnx) into a temporary file."""
    with tempfile.TemporaryDirectory(prefix="symcheck-keras-") as tmp:
        path = os.path.join(tmp, "model.onnx")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.export(path, format="onnx", verbose=False)
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SymcheckError("not-onnx", f"Keras ONNX export failed: {reason}") from None
        with open(path, "rb") as handle:
            return parse_model(handle.read())


_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def is_factory_spec(text: str) -> bool:
    """``pkg.module:factory`` (and not an existing file of that name)."""
    return bool(_FACTORY.match(text)) and not os.path.exists(text)


def load_factory(spec: str) -> Any:
    """Import ``pkg.module`` (from the current directory too) and build its model.

    ``factory`` may be a model object, or a class or function called without
    arguments that returns a ``torch.nn.Module`` or a Keras model. Anything
    else is ``SymcheckError('bad-factory')``. The user names the code to run.
    """
    module_name, _, attr = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
        model = obj if is_torch_module(obj) or is_keras_model(obj) else obj()
    except Exception as exc:  # the user's code: any error is one line
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise SymcheckError("bad-factory", f"{type(exc).__name__}: {reason}".rstrip(": ")) from None
    if not (is_torch_module(model) or is_keras_model(model)):
        raise SymcheckError("bad-factory", f"{spec} gave a {type(model).__name__}, not a "
                                           "torch.nn.Module or Keras model")
    return model
