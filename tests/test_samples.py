"""The two worked examples of DESIGN.md, through every exporter: exact ladders,
pairings, parameters and finding codes."""

from __future__ import annotations

import pytest

import symcheck
from symcheck.rules import round_trip_statement

from .conftest import sample

KERAS_LADDER = "28 → 14 → 7 → 4 ‖ 4 → 8 → 16 → 14 → 28"

# module / layer names of the same Keras blog model in each export
KERAS_NAMES = {
    "keras_cae.onnx": dict(
        stem="conv2d", e1="conv2d_1", e2="conv2d_2", pool="max_pooling2d_2",
        extra="conv2d_3", d2="conv2d_4", trim="conv2d_5", head="conv2d_6",
        ups=["up_sampling2d", "up_sampling2d_1", "up_sampling2d_2"]),
    "torch_cae.onnx": dict(
        stem="encoder.0", e1="encoder.3", e2="encoder.6", pool="encoder.8",
        extra="decoder.0", d2="decoder.3", trim="decoder.6", head="decoder.9",
        ups=["decoder.2", "decoder.5", "decoder.8"]),
    "torch_cae_dynamo.onnx": dict(
        stem="encoder.0", e1="encoder.3", e2="encoder.6", pool="encoder.8",
        extra="decoder.0", d2="decoder.3", trim="decoder.6", head="decoder.9",
        ups=["decoder.2", "decoder.5", "decoder.8"]),
}


def codes(analysis) -> list:
    return sorted(f.code for f in analysis.findings)


def by_code(analysis, code):
    return [f for f in analysis.findings if f.code == code]


@pytest.mark.parametrize("filename", sorted(KERAS_NAMES))
def test_keras_blog_model(filename):
    a = symcheck.analyze(sample(filename))
    n = KERAS_NAMES[filename]
    assert a.ladder_text() == KERAS_LADDER
    assert a.ladder() == (["28", "14", "7", "4"], ["4", "8", "16", "14", "28"])
    assert a.total_params == 4385
    assert (a.side_params("encoder"), a.side_params("decoder")) == (1904, 2481)
    assert a.bottleneck.name == n["pool"]
    assert a.bottleneck.out_shape[1:] == (8, 4, 4)
    assert a.bottleneck_values == 128
    assert round(a.compression, 3) == 6.125

    pairs = [(a.layer(p.encoder).name, a.layer(p.decoder).name, p.level) for p in a.structure.pairs]
    assert pairs == [(n["stem"], n["head"], 0), (n["e1"], n["trim"], 1), (n["e2"], n["d2"], 2)]
    assert [a.layer(i).name for i in a.structure.unpaired] == [n["extra"]]

    levels = a.structure.levels
    assert [lv.encoder_size for lv in levels] == [(28, 28), (14, 14), (7, 7), (4, 4)]
    assert [lv.decoder_size for lv in levels] == [(28, 28), (16, 16), (8, 8), (4, 4)]
    assert [lv.encoder_width for lv in levels[:3]] == [16, 8, 8]
    assert [lv.decoder_width for lv in levels[:3]] == [16, 8, 8]
    assert [a.layer(lv.up).name for lv in reversed(levels[:3])] == n["ups"]

    assert codes(a) == ["SC101", "SC102", "SC102", "SC103", "SC104", "SC201"]
    assert by_code(a, "SC101")[0].layers == (n["pool"],)
    assert "7×7 to 4×4" in by_code(a, "SC101")[0].message
    assert [f.level for f in by_code(a, "SC102")] == [1, 2]
    assert "8×8 where the encoder ran at 7×7" in by_code(a, "SC102")[1].message
    sc103 = by_code(a, "SC103")[0]
    assert sc103.layers[0] == n["trim"] and "16×16 to 14×14" in sc103.message
    assert n["pool"] in sc103.message  # it points at the rounding it repairs
    assert round_trip_statement(a) == "H, W ≡ 4 (mod 8)"
    assert by_code(a, "SC104")[0].message.endswith("28 works, 32 returns 28")
    assert by_code(a, "SC201")[0].layers == (n["extra"],)
    assert a.verdict == "asymmetric"


def test_keras_layout_and_names():
    a = symcheck.analyze(sample("keras_cae.onnx"))
    assert a.exporter.family == "keras" and a.exporter.variant == "tf2onnx"
    assert a.layout == "NHWC"
    assert a.to_user_layout(a.input_layer.out_shape)[1:] == (28, 28, 1)
    names = [a.layer(i).name for i in a.structure.path[1:-1]]
    assert names == ["conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1", "conv2d_2",
                     "max_pooling2d_2", "conv2d_3", "up_sampling2d", "conv2d_4",
                     "up_sampling2d_1", "conv2d_5", "up_sampling2d_2", "conv2d_6"]
    kinds = [a.layer(i).kind for i in a.structure.path[1:-1]]
    assert kinds.count("upsample") == 3  # Tile + Reshape sub-graphs, not Resize nodes
    assert a.layer(a.structure.path[-2]).activation == "sigmoid"


def test_torch_exporters_detected():
    ts = symcheck.analyze(sample("torch_cae.onnx"))
    dyn = symcheck.analyze(sample("torch_cae_dynamo.onnx"))
    assert (ts.exporter.family, ts.exporter.variant) == ("pytorch", "torchscript")
    assert (dyn.exporter.family, dyn.exporter.variant) == ("pytorch", "dynamo")
    assert ts.layout == dyn.layout == "NCHW"


def _pytorch_file(nodes: list, inputs: list, outputs: list, initializers: list):
    from onnx import helper

    graph = helper.make_graph(nodes, "g", inputs, outputs, initializers)
    model = helper.make_model(graph, producer_name="pytorch", producer_version="2.13.0",
                              opset_imports=[helper.make_opsetid("", 17)])
    return model


@pytest.mark.parametrize("rank", [3, 4, 5])
def test_keras_torch_backend_is_told_by_its_channels_last_transposes(rank):
    """Keras's torch backend: Transposes [0, r-1, 1, ..., r-2] (then no-op Casts) into
    every conv, the first reading the (channels-last) input. PyTorch models with their
    own Transposes are PyTorch: F.pad's 2-D [1, 0] on its pads; one permute of an NHWC
    input before a single conv; a ConvNeXt-style permute back to channels-first inside
    the network before each downsampling conv."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    from symcheck.load import detect_exporter

    spatial = [6] * (rank - 2)
    weights = [numpy_helper.from_array(np.zeros([4, 4] + [1] * (rank - 2), np.float32), w)
               for w in ("w1", "w2")]
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    first = [0, rank - 1, *range(1, rank - 1)]  # channels-last -> channels-first
    last = [0, *range(2, rank), 1]

    def family(nodes, x_shape, initializers=()):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)
        return detect_exporter(_pytorch_file(nodes, [x], [y], [*weights, *initializers])).family

    keras = [helper.make_node("Transpose", ["x"], ["t"], perm=first),
             helper.make_node("Cast", ["t"], ["c"], to=TensorProto.FLOAT),
             helper.make_node("Conv", ["c", "w1"], ["h"]),
             helper.make_node("Transpose", ["h"], ["hl"], perm=last),
             helper.make_node("Transpose", ["hl"], ["hf"], perm=first),
             helper.make_node("Conv", ["hf", "w2"], ["y"])]
    assert family(keras, [1, *spatial, 4]) == "keras"
    one_permute = [helper.make_node("Transpose", ["x"], ["t"], perm=first),
                   helper.make_node("Conv", ["t", "w1"], ["h"]),
                   helper.make_node("Conv", ["h", "w2"], ["y"])]
    assert family(one_permute, [1, *spatial, 4]) == "pytorch"
    inside = [helper.make_node("Conv", ["x", "w1"], ["h"]),
              helper.make_node("Transpose", ["h"], ["hl"], perm=last),
              helper.make_node("Transpose", ["hl"], ["hf"], perm=first),
              helper.make_node("Conv", ["hf", "w2"], ["g"]),
              helper.make_node("Transpose", ["g"], ["gl"], perm=last),
              helper.make_node("Transpose", ["gl"], ["gf"], perm=first),
              helper.make_node("Conv", ["gf", "w2"], ["y"])]
    assert family(inside, [1, 4, *spatial]) == "pytorch"
    pads = numpy_helper.from_array(np.zeros((2, rank), np.int64), "pads2d")
    flat = numpy_helper.from_array(np.array([-1], np.int64), "flat")
    padded = [helper.make_node("Transpose", ["pads2d"], ["pt"], perm=[1, 0]),
              helper.make_node("Reshape", ["pt", "flat"], ["pads"]),
              helper.make_node("Pad", ["x", "pads"], ["p"]),
              helper.make_node("Conv", ["p", "w1"], ["h"]),
              helper.make_node("Conv", ["h", "w2"], ["y"])]
    assert family(padded, [1, 4, *spatial], [pads, flat]) == "pytorch"


@pytest.mark.parametrize("filename,names", [
    ("matlab_cae.onnx", dict(stem="conv_1", head="conv_4", c2="conv_2", c3="conv_3",
                             t1="transposed-conv_1", t2="transposed-conv_2", t3="transposed-conv_3")),
    ("torch_matlab_cae.onnx", dict(stem="encoder.0", head="decoder.6", c2="encoder.3", c3="encoder.6",
                                   t1="decoder.0", t2="decoder.2", t3="decoder.4")),
])
def test_matlab_model_at_32(filename, names):
    a = symcheck.analyze(sample(filename))
    assert a.ladder_text() == "32 → 16 → 8 → 4 ‖ 4 → 8 → 16 → 32"
    assert [lv.encoder_width for lv in a.structure.levels[:3]] == [8, 16, 32]
    assert [lv.decoder_width for lv in a.structure.levels[:3]] == [8, 16, 32]
    pairs = [(a.layer(p.encoder).name, a.layer(p.decoder).name) for p in a.structure.pairs]
    assert pairs == [(names["stem"], names["head"]), (names["c2"], names["t3"]), (names["c3"], names["t2"])]
    assert codes(a) == ["SC104", "SC201", "SC204"]
    assert by_code(a, "SC201")[0].layers == (names["t1"],)
    assert "32→32" in by_code(a, "SC201")[0].message
    assert round_trip_statement(a) == "H, W ≡ 0 (mod 8)"
    assert a.verdict == "symmetric with notes"
    assert a.total_params == 12609


def test_matlab_conventions():
    a = symcheck.analyze(sample("matlab_cae.onnx"))
    assert a.exporter.family == "matlab"
    assert a.input_name == "imageinput"
    assert a.output_layer.out_shape[1:] == (1, 32, 32)
    head = a.layer(a.structure.path[-2])
    assert head.name == "conv_4" and head.activation == "clipped-relu(1)"
    # the zerocenter mean image is preprocessing, not a learned parameter
    assert a.input_layer.attrs.get("preprocessing") == ["Sub"]


def test_matlab_model_at_28():
    a = symcheck.analyze(sample("matlab_cae_28.onnx"))
    assert a.ladder_text() == "28 → 14 → 7 → 4 ‖ 4 → 8 → 16 → 32"
    assert {"SC002", "SC101", "SC102"} <= set(codes(a))
    assert by_code(a, "SC002")[0].severity == "error"
    assert by_code(a, "SC101")[0].layers == ("maxpool_3",)
    assert [f.level for f in by_code(a, "SC102")] == [0, 1, 2]


def test_symbolic_ladder():
    a = symcheck.analyze(sample("torch_cae_dynamic.onnx"))
    assert a.ladder_text() == ("H → ceil(H/2) → ceil(H/4) → ceil(H/8) ‖ ceil(H/8) → 2*ceil(H/8) → "
                               "4*ceil(H/8) → 4*ceil(H/8) - 2 → 8*ceil(H/8) - 4")
    assert round_trip_statement(a) == "H, W ≡ 4 (mod 8)"
    assert "SC002" not in codes(a)  # some sizes round-trip: SC104 says which
    assert by_code(a, "SC104")[0].message.endswith("28 works, 32 returns 28")
    # size-dependent findings are judged at a size that round-trips (28)
    assert codes(a) == ["SC101", "SC102", "SC102", "SC103", "SC104", "SC201"]
    assert by_code(a, "SC101")[0].message.endswith("at H = 28 (7→4)")
    assert [f.level for f in by_code(a, "SC102")] == [1, 2]
    assert "at H = 28 (16→14)" in by_code(a, "SC103")[0].message


def test_input_shape_pins_symbolic_dims():
    a = symcheck.analyze(sample("torch_cae_dynamic.onnx"), input_shapes={"input": (1, 1, 28, 28)})
    assert a.ladder_text() == KERAS_LADDER
    assert codes(a) == ["SC101", "SC102", "SC102", "SC103", "SC104", "SC201"]
    b = symcheck.analyze(sample("torch_cae_dynamic.onnx"), input_shapes={"input": (1, 1, 32, 32)})
    assert b.ladder_text() == "32 → 16 → 8 → 4 ‖ 4 → 8 → 16 → 14 → 28"
    assert "SC002" in codes(b)


def test_external_matlab_regressor_has_no_decoder(external_matlab):
    a = symcheck.analyze(external_matlab)
    assert a.exporter.family == "matlab"
    assert not a.is_encoder_decoder
    assert codes(a) == ["SC001"]
    names = [a.layer(i).name for i in a.structure.path[1:-1]]
    assert names == ["conv_1", "conv_2", "conv_3", "conv_4", "fc_1", "fc_2"]
    assert [a.layer(i).kind for i in a.structure.path[1:-1]][-2:] == ["dense", "dense"]
    assert a.total_params == 60826
    assert a.verdict == "not an encoder-decoder"


def test_layer_graph_is_networkx():
    import networkx as nx

    a = symcheck.analyze(sample("keras_cae.onnx"))
    g = a.layers.graph
    assert isinstance(g, nx.DiGraph)
    assert nx.is_directed_acyclic_graph(g)
    assert g.number_of_nodes() == 15 and g.number_of_edges() == 14  # input, 13 layers, output


def test_transfer_functions_evaluate_other_sizes():
    from symcheck.structure import evaluate_axis

    a = symcheck.analyze(sample("keras_cae.onnx"))
    order = list(a.structure.path)
    names = {lid: a.layer(lid).name for lid in order}
    at32 = evaluate_axis(a.layers, order, a.structure.input_id, 0, 32)
    ladder = [at32[lid] for lid in order]
    assert ladder == [32, 32, 16, 16, 8, 8, 4, 4, 8, 8, 16, 14, 28, 28, 28]
    trim = next(lid for lid in order if names[lid] == "conv2d_5")
    from symcheck.render.json import transfer_text
    assert transfer_text(a, a.layer(trim), 0) == "H - 2"
    pool = next(lid for lid in order if names[lid] == "max_pooling2d_2")
    assert transfer_text(a, a.layer(pool), 1) == "ceil(W/2)"


def test_a_qdq_quantized_export_reads_as_its_float_model(tmp_path):
    """onnxruntime's static quantizer (QDQ format) wraps every tensor and every weight
    in QuantizeLinear/DequantizeLinear and folds the ReLUs. The structure, shapes and
    parameters are the float model's; only the activations differ."""
    import numpy as np
    quantization = pytest.importorskip("onnxruntime.quantization")

    class Calibration(quantization.CalibrationDataReader):
        def __init__(self):
            self.left = [{"input": np.random.default_rng(i).random((1, 1, 28, 28), np.float32)}
                         for i in range(3)]

        def get_next(self):
            return self.left.pop() if self.left else None

    target = tmp_path / "torch_cae_qdq.onnx"
    quantization.quantize_static(str(sample("torch_cae.onnx")), str(target), Calibration(),
                                 quant_format=quantization.QuantFormat.QDQ)
    float_model = symcheck.analyze(sample("torch_cae.onnx"))
    a = symcheck.analyze(str(target))
    assert a.layers.unknown_ops == set()
    assert a.ladder_text() == float_model.ladder_text() == "28 → 14 → 7 → 4 ‖ 4 → 8 → 16 → 14 → 28"
    layers = [(a.layer(i).name, a.layer(i).kind, a.layer(i).out_shape, a.layer(i).params)
              for i in a.structure.path[1:-1]]
    assert layers == [(float_model.layer(i).name, float_model.layer(i).kind,
                       float_model.layer(i).out_shape, float_model.layer(i).params)
                      for i in float_model.structure.path[1:-1]]
    assert sum(p for *_, p in layers) == 4385
    assert sorted(f.code for f in a.findings) == sorted(f.code for f in float_model.findings)
