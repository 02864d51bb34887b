"""Make the PyTorch sample models: ports of the Keras and MATLAB autoencoders.

Writes four files next to this script, each checked against PyTorch in onnxruntime
(atol 1e-4):

- ``torch_cae.onnx``: ``TorchCAE`` (the Keras blog CAE ported to NCHW), TorchScript
  exporter (``dynamo=False``), opset 17, input ``input`` 1x1x28x28, output ``output``.
- ``torch_cae_dynamo.onnx``: the same model through the dynamo exporter
  (``dynamo=True``), weights inlined (``external_data=False``).
- ``torch_cae_dynamic.onnx``: the same model, TorchScript exporter, with batch, height
  and width symbolic (``batch``/``height``/``width`` in, ``batch``/``out_height``/
  ``out_width`` out).
- ``torch_matlab_cae.onnx``: ``TorchMatlabCAE`` (the MATLAB image-to-image regression
  CAE), TorchScript exporter, opset 17, input 1x1x32x32.

Run from anywhere with the system interpreter (torch, onnx, onnxruntime, onnxscript)::

    python3 samples/make_torch.py
"""

import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
SEED = 0
OPSET = 17


class TorchCAE(nn.Module):
    """The Keras blog autoencoder in PyTorch (NCHW), 4,385 parameters.

    Keras 'same' 3x3 convs become ``padding=1``; the one 'valid' conv (16x16 -> 14x14)
    becomes ``padding=0``; Keras 'same' 2x2 max-pooling is ``ceil_mode=True`` (7 -> 4);
    ``UpSampling2D`` is nearest-neighbour ``nn.Upsample``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(16, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(8, 16, 3, padding=0), nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(16, 1, 3, padding=1), nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class TorchMatlabCAE(nn.Module):
    """The MATLAB image-to-image regression autoencoder in PyTorch (NCHW).

    ``clippedReluLayer(1.0)`` is ``clamp(0, 1)``; MATLAB's ``regressionLayer`` is a
    loss, not a layer of the exported network, so it has no counterpart here.
    """

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, stride=2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, stride=2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, stride=2),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(32, 32, 2, stride=2), nn.ReLU(),
            nn.ConvTranspose2d(32, 16, 2, stride=2), nn.ReLU(),
            nn.ConvTranspose2d(16, 8, 2, stride=2), nn.ReLU(),
            nn.Conv2d(8, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x)).clamp(0.0, 1.0)


def export_torchscript(model: nn.Module, x: torch.Tensor, path: Path, **kwargs) -> None:
    """Export with the legacy TorchScript exporter (silencing its deprecation warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model, (x,), str(path), dynamo=False, opset_version=OPSET,
            input_names=["input"], output_names=["output"], **kwargs,
        )


def export_dynamo(model: nn.Module, x: torch.Tensor, path: Path) -> None:
    """Export with the dynamo exporter, weights inlined in the one file."""
    torch.onnx.export(model, (x,), str(path), dynamo=True, external_data=False, verbose=False)
    assert not path.with_name(path.name + ".data").exists(), "external data written"
    model_proto = onnx.load(str(path), load_external_data=False)
    assert not any(
        t.data_location == onnx.TensorProto.EXTERNAL for t in model_proto.graph.initializer
    ), "initializers stored outside the file"


def check(path: Path, model: nn.Module, x: torch.Tensor) -> None:
    """Run ``path`` in onnxruntime and compare with PyTorch; print a one-line summary."""
    onnx.checker.check_model(str(path))
    with torch.no_grad():
        expected = model(x).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (actual,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, atol=1e-4)
    ops = " ".join(node.op_type for node in onnx.load(str(path)).graph.node)
    print(f"{path.name}: {path.stat().st_size:,} bytes, {tuple(x.shape)} -> {actual.shape}; {ops}")


def main() -> None:
    torch.manual_seed(SEED)
    cae = TorchCAE().eval()
    assert sum(p.numel() for p in cae.parameters()) == 4385
    x28 = torch.rand(1, 1, 28, 28)

    path = HERE / "torch_cae.onnx"
    export_torchscript(cae, x28, path)
    check(path, cae, x28)

    path = HERE / "torch_cae_dynamo.onnx"
    export_dynamo(cae, x28, path)
    check(path, cae, x28)

    path = HERE / "torch_cae_dynamic.onnx"
    export_torchscript(
        cae, x28, path,
        dynamic_axes={
            "input": {0: "batch", 2: "height", 3: "width"},
            "output": {0: "batch", 2: "out_height", 3: "out_width"},
        },
    )
    check(path, cae, x28)
    check(path, cae, torch.rand(2, 1, 32, 40))  # 32 -> 28 and 40 -> 36: out_height != height

    torch.manual_seed(SEED)
    matlab = TorchMatlabCAE().eval()
    x32 = torch.rand(1, 1, 32, 32)
    path = HERE / "torch_matlab_cae.onnx"
    export_torchscript(matlab, x32, path)
    check(path, matlab, x32)


if __name__ == "__main__":
    main()
