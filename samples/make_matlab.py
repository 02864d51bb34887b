"""Make ``matlab_cae.onnx`` and ``matlab_cae_28.onnx``: the MATLAB CAE as MATLAB exports it.

MATLAB cannot run here, so this script writes, with ``onnx.helper`` and numpy only,
the file that ``exportONNXNetwork`` would write for the autoencoder of the MathWorks
example "Image-to-Image Regression in Deep Learning" (the one quoted in ``seed/``)::

    imageInputLayer([32 32 1])                     % Normalization "zerocenter" (default)
    convolution2dLayer(3,8,Padding="same")  reluLayer  maxPooling2dLayer(2,Padding="same",Stride=2)
    convolution2dLayer(3,16,Padding="same") reluLayer  maxPooling2dLayer(2,Padding="same",Stride=2)
    convolution2dLayer(3,32,Padding="same") reluLayer  maxPooling2dLayer(2,Padding="same",Stride=2)
    transposedConv2dLayer(2,32,Stride=2)    reluLayer
    transposedConv2dLayer(2,16,Stride=2)    reluLayer
    transposedConv2dLayer(2,8,Stride=2)     reluLayer
    convolution2dLayer(1,1,Padding="same")  clippedReluLayer(1.0)  regressionLayer

Two files with identical layers (seeded random weights, non-zero biases):

- ``matlab_cae.onnx``: input 32x32, the example's size: 32 -> 16 -> 8 -> 4 -> 8 -> 16 -> 32.
- ``matlab_cae_28.onnx``: input 28x28 (the raw digit size): 28 -> 14 -> 7 -> 4, the last
  pool padded [0,0,1,1], then 4 -> 8 -> 16 -> 32, so the output (32x32) != the input.

Where each convention comes from (tags repeated at the code that applies them):

- [REAL]  seen in the genuine MATLAB export ``NN_rul_small_window_20.onnx``
  (``/work/shared/external/matlab/``, MATLAB converter 20.1.0): producer name and
  version, IR 6, opset 8, graph name ``Network``, data input ``imageinput`` with
  dims [``BatchSize``, C, H, W] (NCHW), node name = layer name = output tensor name,
  parameters ``<layer>_W`` / ``<layer>_B`` stored as raw data, every initializer
  repeated in ``graph.input`` before the data input, Conv attributes group / dilations /
  kernel_shape / pads / strides always written (in that order), separate Relu nodes
  named ``relu_<n>``, a layer's second node named ``<layer>_<Op>`` (``fc_2_Flatten``),
  graph output = last node's tensor with the ``BatchSize`` dim, no value_info,
  regressionLayer leaves no node.
- [DOC]   MathWorks documentation facts listed in ``/work/shared/EXPORTERS.md`` section 6
  (and the ONNX operator spec): 'same' padding puts the odd extra pad at the
  bottom/right; opset 8 Clip takes ``min``/``max`` as attributes and opset 8 MaxPool has
  no ``ceil_mode`` or ``dilations`` (ONNX spec).
- [GUESS] not confirmed by any real file: the zero-center normalization as a ``Sub`` of
  an ``imageinput_Mean`` image [1, C, H, W] (code that reads MATLAB exports names an
  ``imageinput_Mean`` initializer; an older export had ``data_AvgImg`` [1,3,224,224]);
  MaxPool 'same' as explicit pads rather than auto_pad; the default layer names
  ``maxpool_<n>``, ``transposed-conv_<n>``, ``clippedrelu``; ConvTranspose written with
  the same explicit attributes as Conv; clippedReluLayer as ``Clip(min=0, max=ceiling)``.

Run from anywhere with the system interpreter (onnx, numpy; onnxruntime for the check)::

    python3 samples/make_matlab.py
"""

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
SEED = 0

PRODUCER_NAME = "MATLAB Deep Learning Toolbox Converter for ONNX Model Format"  # [REAL]
PRODUCER_VERSION = "20.1.0"  # [REAL]
IR_VERSION = 6  # [REAL]
OPSET = 8  # [REAL]
GRAPH_NAME = "Network"  # [REAL]
INPUT = "imageinput"  # [REAL] input tensor = imageInputLayer's name
BATCH = "BatchSize"  # [REAL]


class MatlabExport:
    """Collects nodes and parameters the way ``exportONNXNetwork`` lays them out."""

    def __init__(self, height: int, width: int, channels: int, rng: np.random.Generator):
        self.shape = [channels, height, width]  # C, H, W of the tensor being built
        self.rng = rng
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.tensor = INPUT  # name of the current output tensor

    def _param(self, name: str, array: np.ndarray) -> str:
        # [REAL] parameters are initializers named <layer>_W / <layer>_B, stored as raw data.
        self.initializers.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    def _node(self, op_type: str, name: str, inputs: list[str], **attributes) -> None:
        # [REAL] node name = layer name = output tensor name; attributes written in full,
        # in the order given (helper.make_node would sort them; MATLAB writes group first).
        node = helper.make_node(op_type, inputs, [name], name=name)
        node.attribute.extend(helper.make_attribute(key, val) for key, val in attributes.items())
        self.nodes.append(node)
        self.tensor = name

    def _weights(self, layer: str, shape: tuple[int, ...], n_bias: int) -> list[str]:
        weight = self.rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[1:])), size=shape)
        bias = self.rng.uniform(0.01, 0.1, size=n_bias)  # non-zero, as after training
        return [self._param(f"{layer}_W", weight), self._param(f"{layer}_B", bias)]

    def zerocenter(self, layer: str) -> None:
        """imageInputLayer(Normalization="zerocenter"): subtract the stored mean image."""
        # [GUESS] a Sub of <layer>_Mean [1, C, H, W]; the node is the layer's second op,
        # so it is named <layer>_<Op> like fc_2_Flatten [REAL], since <layer> is the input.
        mean = self.rng.uniform(0.0, 0.5, size=[1, *self.shape])
        self._node("Sub", f"{layer}_Sub", [self.tensor, self._param(f"{layer}_Mean", mean)])

    def conv(self, layer: str, size: int, filters: int) -> None:
        """convolution2dLayer(size, filters, Padding="same"), stride 1."""
        channels, height, width = self.shape
        inputs = self._weights(layer, (filters, channels, size, size), filters)
        top, bottom = same_pads(height, size, 1)  # [DOC] odd extra pad at the bottom/right
        left, right = same_pads(width, size, 1)
        self._node(
            "Conv", layer, [self.tensor, *inputs],
            group=1, dilations=[1, 1], kernel_shape=[size, size],  # [REAL] all five, this order
            pads=[top, left, bottom, right], strides=[1, 1],
        )
        self.shape = [filters, height, width]

    def relu(self, layer: str) -> None:
        self._node("Relu", layer, [self.tensor])  # [REAL] a separate Relu node

    def maxpool(self, layer: str, size: int, stride: int) -> None:
        """maxPooling2dLayer(size, Padding="same", Stride=stride)."""
        channels, height, width = self.shape
        top, bottom = same_pads(height, size, stride)  # [DOC] extra pad at the bottom/right
        left, right = same_pads(width, size, stride)
        # [GUESS] explicit pads, not auto_pad; [DOC] opset 8 MaxPool has no ceil_mode/dilations.
        self._node(
            "MaxPool", layer, [self.tensor],
            kernel_shape=[size, size], pads=[top, left, bottom, right], strides=[stride, stride],
        )
        self.shape = [channels, -(-height // stride), -(-width // stride)]

    def transposed_conv(self, layer: str, size: int, filters: int, stride: int) -> None:
        """transposedConv2dLayer(size, filters, Stride=stride), no cropping."""
        channels, height, width = self.shape
        # ONNX ConvTranspose weight layout: (C_in, C_out, kH, kW).
        inputs = self._weights(layer, (channels, filters, size, size), filters)
        # [GUESS] same explicit attribute set as Conv [REAL]; no output_padding/output_shape.
        self._node(
            "ConvTranspose", layer, [self.tensor, *inputs],
            group=1, dilations=[1, 1], kernel_shape=[size, size],
            pads=[0, 0, 0, 0], strides=[stride, stride],
        )
        self.shape = [filters, (height - 1) * stride + size, (width - 1) * stride + size]

    def clipped_relu(self, layer: str, ceiling: float) -> None:
        # [DOC] opset 8 Clip takes min/max attributes; [GUESS] that MATLAB uses Clip here.
        self._node("Clip", layer, [self.tensor], min=0.0, max=float(ceiling))

    def model(self, input_hw: tuple[int, int], input_channels: int) -> onnx.ModelProto:
        data_input = helper.make_tensor_value_info(
            INPUT, TensorProto.FLOAT, [BATCH, input_channels, *input_hw]
        )
        output = helper.make_tensor_value_info(self.tensor, TensorProto.FLOAT, [BATCH, *self.shape])
        # [REAL] every initializer is also a graph input, listed before the data input.
        param_inputs = [
            helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
            for t in self.initializers
        ]
        graph = helper.make_graph(
            self.nodes, GRAPH_NAME, [*param_inputs, data_input], [output],
            initializer=self.initializers,
        )  # [REAL] no value_info
        model = helper.make_model(
            graph, producer_name=PRODUCER_NAME, producer_version=PRODUCER_VERSION,
            ir_version=IR_VERSION, opset_imports=[helper.make_opsetid("", OPSET)],
        )
        return model


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding for 'same': output ceil(size / stride), odd pad after.

    >>> same_pads(7, 2, 2), same_pads(8, 2, 2), same_pads(32, 3, 1)
    ((0, 1), (0, 0), (1, 1))
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def build(height: int, width: int) -> onnx.ModelProto:
    """The image-to-image regression CAE, layer names as MATLAB assigns them by default."""
    net = MatlabExport(height, width, channels=1, rng=np.random.default_rng(SEED))
    net.zerocenter("imageinput")
    for n, filters in enumerate([8, 16, 32], start=1):
        net.conv(f"conv_{n}", 3, filters)
        net.relu(f"relu_{n}")
        net.maxpool(f"maxpool_{n}", 2, stride=2)
    for n, filters in enumerate([32, 16, 8], start=1):
        net.transposed_conv(f"transposed-conv_{n}", 2, filters, stride=2)
        net.relu(f"relu_{n + 3}")
    net.conv("conv_4", 1, 1)
    net.clipped_relu("clippedrelu", 1.0)
    # regressionLayer is the loss: [REAL] it leaves no node in the exported graph.
    return net.model((height, width), input_channels=1)


def check(path: Path, input_hw: tuple[int, int], output_hw: tuple[int, int]) -> None:
    """Validate with onnx.checker and run once in onnxruntime; print a one-line summary."""
    onnx.checker.check_model(str(path))
    options = ort.SessionOptions()
    options.log_severity_level = 3  # silence the "initializer in graph.input" warning
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    data = [i for i in session.get_inputs() if i.name == INPUT]
    x = np.random.default_rng(SEED + 1).random((2, 1, *input_hw), dtype=np.float32)
    (y,) = session.run(None, {data[0].name: x})
    assert y.shape == (2, 1, *output_hw), y.shape
    assert 0.0 <= y.min() and y.max() <= 1.0
    ops = " ".join(node.op_type for node in onnx.load(str(path)).graph.node)
    print(f"{path.name}: {path.stat().st_size:,} bytes, {x.shape} -> {y.shape}; {ops}")


def main() -> None:
    for name, size in [("matlab_cae.onnx", 32), ("matlab_cae_28.onnx", 28)]:
        path = HERE / name
        onnx.save(build(size, size), str(path))
        check(path, (size, size), (32, 32))


if __name__ == "__main__":
    main()
