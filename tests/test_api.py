"""The Python API on models defined in code: the same answers as from exported files."""

from __future__ import annotations

import onnx
import pytest
import torch
from torch import nn

import symcheck
from symcheck.testing import assert_symmetric

from .conftest import sample


class KerasPortCAE(nn.Module):
    """The Keras blog autoencoder in PyTorch (as samples/make_torch.py exports it)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(16, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True))
        self.decoder = nn.Sequential(
            nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Upsample(scale_factor=2),
            nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Upsample(scale_factor=2),
            nn.Conv2d(8, 16, 3), nn.ReLU(), nn.Upsample(scale_factor=2),
            nn.Conv2d(16, 1, 3, padding=1), nn.Sigmoid())

    def forward(self, x):
        return self.decoder(self.encoder(x))


class SmallUNet(nn.Module):
    """A 3-level U-Net with 'same' convs, max-pool, transposed-conv up and Concat skips."""

    def __init__(self, widths=(4, 8, 16, 32)) -> None:
        super().__init__()
        def block(i, o):
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.ReLU(), nn.Conv2d(o, o, 3, padding=1), nn.ReLU())
        w = widths
        self.down = nn.ModuleList([block(1 if k == 0 else w[k - 1], w[k]) for k in range(3)])
        self.pool = nn.MaxPool2d(2)
        self.bottom = block(w[2], w[3])
        self.up = nn.ModuleList([nn.ConvTranspose2d(w[k + 1], w[k], 2, stride=2) for k in range(3)])
        self.merge = nn.ModuleList([block(2 * w[k], w[k]) for k in range(3)])
        self.head = nn.Conv2d(w[0], 1, 1)

    def forward(self, x):
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        for k in reversed(range(3)):
            x = self.merge[k](torch.cat([skips[k], self.up[k](x)], dim=1))
        return self.head(x)


def codes(a):
    return sorted(f.code for f in a.findings)


def test_module_gives_the_same_findings_as_its_export():
    torch.manual_seed(0)
    from_module = symcheck.analyze(KerasPortCAE(), input_shape=(1, 1, 28, 28))
    from_file = symcheck.analyze(sample("torch_cae.onnx"))
    assert from_module.ladder_text() == from_file.ladder_text()
    assert codes(from_module) == codes(from_file) == ["SC101", "SC102", "SC102", "SC103", "SC104", "SC201"]
    assert [f.layers for f in from_module.findings] == [f.layers for f in from_file.findings]
    assert from_module.total_params == 4385


def test_module_stays_in_training_mode():
    module = KerasPortCAE().train()
    symcheck.analyze(module, input_shape=(1, 1, 28, 28))
    assert module.training


def test_module_needs_an_input_shape():
    with pytest.raises(symcheck.SymcheckError) as exc:
        symcheck.analyze(KerasPortCAE())
    assert exc.value.code == "bad-input-shape"


def test_modelproto_and_bytes_entry_points():
    data = open(sample("matlab_cae.onnx"), "rb").read()
    for source in (data, onnx.load_from_string(data)):
        a = symcheck.analyze(source)
        assert a.ladder_text() == "32 → 16 → 8 → 4 ‖ 4 → 8 → 16 → 32"
        assert codes(a) == ["SC104", "SC201", "SC204"]


def test_unsupported_object_is_a_type_error():
    with pytest.raises(TypeError):
        symcheck.analyze(42)


def test_unet_module_pairs_by_skips():
    a = symcheck.analyze(SmallUNet(), input_shape=(1, 1, 64, 64))
    assert a.ladder_text() == "64 → 32 → 16 → 8 ‖ 8 → 16 → 32 → 64"
    assert len(a.structure.skips) == 3
    pairs = {(a.layer(p.encoder).name, a.layer(p.decoder).name, p.how) for p in a.structure.pairs}
    assert ("down.0.0", "head", "stem-head") in pairs
    assert ("down.2.2", "merge.2.0", "skip") in pairs  # the conv reading the concatenation
    assert codes(a) == ["SC104", "SC201", "SC204"]
    sc201 = next(f for f in a.findings if f.code == "SC201")
    assert sc201.layers == ("bottom.0", "bottom.2", "up.2") and sc201.level == 3


def test_assert_symmetric_passes_on_a_symmetric_unet():
    a = assert_symmetric(SmallUNet(), input_shape=(1, 1, 64, 64))
    assert a.verdict == "symmetric with notes"


def test_assert_symmetric_fails_on_the_keras_port():
    with pytest.raises(AssertionError) as exc:
        assert_symmetric(KerasPortCAE(), input_shape=(1, 1, 28, 28))
    message = str(exc.value)
    assert message.startswith("<KerasPortCAE> is asymmetric: 4 finding(s) at or above warning (SC101, SC102, SC103)")
    assert "decoder.0 (conv 8→8 at 4×4) has no encoder counterpart" in message  # Keras's conv2d_3
    assert 'decoder.6 uses padding "valid" to trim 16×16 to 14×14' in message  # the trim


def test_assert_symmetric_allow_and_no_decoder(external_matlab):
    assert_symmetric(sample("keras_cae.onnx"), allow={"SC1"})
    with pytest.raises(AssertionError, match="has no decoder"):
        assert_symmetric(external_matlab)


def test_repr_html_is_the_report_in_a_sandboxed_iframe():
    import html

    a = symcheck.analyze(sample("keras_cae.onnx"))
    snippet = a._repr_html_()
    assert snippet.startswith('<iframe srcdoc="') and 'sandbox=""' in snippet
    page = html.unescape(snippet.split('srcdoc="', 1)[1].split('" sandbox=', 1)[0])
    assert page.startswith("<!DOCTYPE html>") and "conv2d_3" in page and "SC201" in page
    assert "<script" not in snippet


FACTORY_MODULE = '''
import torch
from torch import nn


class TinyCAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True))
        self.decoder = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Upsample(scale_factor=2),
                                     nn.Conv2d(8, 1, 3, padding=1))

    def forward(self, x):
        return self.decoder(self.encoder(x))


def make():
    return TinyCAE()


NOT_A_MODEL = 42
'''


def test_cli_builds_a_model_from_a_factory(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from symcheck.cli import check

    (tmp_path / "mymodels.py").write_text(FACTORY_MODULE)
    monkeypatch.chdir(tmp_path)
    for spec in ("mymodels:make", "mymodels:TinyCAE"):
        result = CliRunner().invoke(check, [spec, "--input-shape", "1x1x28x28", "--no-verify", "-j", "1"])
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(f"{spec}  PyTorch")
        assert "ladder   28 → 14 ‖ 14 → 28" in result.stdout
        assert "decoder.0 (conv 8→8 at 14×14) has no encoder counterpart" in result.stdout
    missing_shape = CliRunner().invoke(check, ["mymodels:make", "--no-verify", "-j", "1"])
    assert missing_shape.exit_code == 2 and "error[bad-input-shape]" in missing_shape.stderr
    bad = CliRunner().invoke(check, ["mymodels:NOT_A_MODEL", "--input-shape", "1x1x28x28", "-j", "1"])
    assert bad.exit_code == 2 and "error[bad-factory]: mymodels:NOT_A_MODEL:" in bad.stderr
    absent = CliRunner().invoke(check, ["nosuchmodule:make", "--input-shape", "1x1x28x28", "-j", "1"])
    assert absent.exit_code == 2 and "ModuleNotFoundError" in absent.stderr


def test_garbage_collector_is_paused_only_during_analysis():
    import gc

    seen = []
    import symcheck.analysis as module

    original = module.analyze_model

    def spy(*args, **kwargs):
        seen.append(gc.isenabled())
        return original(*args, **kwargs)

    module.analyze_model = spy
    try:
        assert gc.isenabled()
        symcheck.analyze(sample("keras_cae.onnx"))
        assert seen == [False] and gc.isenabled()
        def refuses(*args, **kwargs):
            assert not gc.isenabled()
            raise symcheck.SymcheckError("cycle", "the graph has a cycle")

        module.analyze_model = refuses
        with pytest.raises(symcheck.SymcheckError):
            symcheck.analyze(sample("keras_cae.onnx"))
        assert gc.isenabled()  # restored when the analysis raises
        module.analyze_model = spy
        gc.disable()
        try:
            symcheck.analyze(sample("keras_cae.onnx"))
            assert not gc.isenabled()  # the caller's choice is kept
        finally:
            gc.enable()
    finally:
        module.analyze_model = original


@pytest.mark.parametrize("name", ["keras_cae.onnx", "torch_cae_dynamic.onnx", "torch_cae_dynamo.onnx",
                                  "matlab_cae.onnx", "custom-op"])
def test_an_analysis_leaves_no_cyclic_garbage(name):
    """Everything an analysis builds is freed by reference counting: the
    collector it pauses finds nothing to do afterwards (a cycle through the
    propagation once kept every node and tensor alive until a collector pass)."""
    import gc

    from onnx import TensorProto, helper

    if name == "custom-op":  # an op of an unknown domain: the onnx-inference fallback's path
        graph = helper.make_graph(
            [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Mystery", ["c"], ["y"], domain="com.example")], "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 8])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
            [helper.make_tensor("w", TensorProto.FLOAT, [2, 2, 3, 3], [0.0] * 36)])
        source: object = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                                  helper.make_opsetid("com.example", 1)])
    else:
        source = sample(name)
    gc.collect()
    gc.disable()
    try:
        a = symcheck.analyze(source)
        assert a.layers.layers
        del a
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_repeated_identical_convs_keep_their_own_layers():
    """Convs with the same attributes and shapes share the worked-out window
    description, but each layer keeps its own weight, parameter count, fused ops
    and attribute lists."""
    from onnx import TensorProto, helper

    def conv(i: int, src: str, bias: bool) -> list:
        ins = [src, f"w{i}"] + ([f"b{i}"] if bias else [])
        return [helper.make_node("Conv", ins, [f"c{i}"], name=f"conv{i}", kernel_shape=[3, 3],
                                 pads=[1, 1, 1, 1]),
                helper.make_node("Relu", [f"c{i}"], [f"r{i}"], name=f"relu{i}")]

    nodes = conv(0, "x", True) + [helper.make_node("Mul", ["r0", "s"], ["m0"], name="scale0")]
    nodes += conv(1, "m0", False) + conv(2, "r1", True)
    inits = [helper.make_tensor(f"w{i}", TensorProto.FLOAT, [4, 4, 3, 3], [0.0] * 144) for i in range(3)]
    inits += [helper.make_tensor(f"b{i}", TensorProto.FLOAT, [4], [0.0] * 4) for i in (0, 2)]
    inits.append(helper.make_tensor("s", TensorProto.FLOAT, [1, 4, 1, 1], [1.0] * 4))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
                              [helper.make_tensor_value_info("r2", TensorProto.FLOAT, [1, 4, 8, 8])], inits)
    a = symcheck.analyze(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    convs = [layer for layer in a.layers.layers.values() if layer.kind == "conv"]
    assert [layer.nodes for layer in convs] == [["conv0", "relu0", "scale0"], ["conv1", "relu1"],
                                                ["conv2", "relu2"]]
    assert [layer.weight for layer in convs] == ["w0", "w1", "w2"]
    assert [layer.params for layer in convs] == [144 + 4 + 4, 144, 144 + 4]  # the fused scale counts
    assert [layer.attrs.get("fused") for layer in convs] == [["Mul"], None, None]
    assert [layer.attrs["padding"] for layer in convs] == ["same"] * 3
    assert all(layer.attrs["kernel"] == [3, 3] for layer in convs)
    assert len({id(layer.attrs["kernel"]) for layer in convs}) == 3  # no list shared between layers
    assert [layer.out_shape for layer in convs] == [(1, 4, 8, 8)] * 3


def test_node_views_read_each_attribute_set_once_but_own_their_values():
    """read_nodes reads a repeated attribute set once; every view still gets its
    own dict and lists, and a set that differs in one byte is read for itself."""
    from onnx import TensorProto, helper

    from symcheck.shapes import read_nodes

    value = helper.make_tensor("v", TensorProto.INT64, [2], [1, 2])
    same = [helper.make_node("Conv", [src, "w"], [dst], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
            for src, dst in (("x", "a"), ("a", "b"), ("b", "c"))]
    nodes = same + [helper.make_node("Conv", ["c", "w"], ["d"], kernel_shape=[3, 3], pads=[0, 0, 0, 0]),
                    helper.make_node("Constant", [], ["k"], value=value),
                    helper.make_node("Constant", [], ["k2"], value=value),
                    helper.make_node("Relu", ["d"], ["e"])]
    graph = helper.make_graph(nodes, "g", [], [])
    views = read_nodes(graph)
    assert [v.attrs for v in views[:4]] == [{"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}] * 3 + [
        {"kernel_shape": [3, 3], "pads": [0, 0, 0, 0]}]
    assert len({id(v.attrs) for v in views[:3]}) == len({id(v.attrs["pads"]) for v in views[:3]}) == 3
    views[1].attrs["pads"].append(9)
    views[1].attrs["group"] = 2
    assert views[2].attrs == {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
    assert read_nodes(graph)[1].attrs["pads"] == [1, 1, 1, 1]
    # tensor values stay the node's own message, never a cached one
    assert views[4].attrs["value"] is not views[5].attrs["value"]
    assert [v.plain_attributes for v in views] == [True] * 4 + [False, False, True]
    assert views[6].attrs == {}


def test_node_views_never_serialize_tensor_or_graph_attributes(monkeypatch):
    """The attribute-set memo keys on serialized bytes, but not for the ops whose
    attributes can be large (a Constant's weights, a Loop's body) or of other domains."""
    from onnx import TensorProto, helper

    import symcheck.shapes as shapes

    serialized: list = []
    real = shapes._SERIALIZE
    monkeypatch.setattr(shapes, "_SERIALIZE", lambda attr: serialized.append(attr.name) or real(attr))
    body = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "body", [], [])
    nodes = [helper.make_node("Constant", [], ["k"], value=helper.make_tensor(
                 "v", TensorProto.FLOAT, [1000], [0.0] * 1000)),
             helper.make_node("Loop", ["n", "c"], ["o"], body=body),
             helper.make_node("Mystery", ["o"], ["m"], domain="com.example", size=3),
             helper.make_node("Conv", ["m", "w"], ["a"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])]
    views = shapes.read_nodes(helper.make_graph(nodes, "g", [], []))
    assert serialized == ["kernel_shape", "pads"]
    assert len(views[0].attrs["value"].float_data) == 1000 and views[2].attrs == {"size": 3}


def test_dim_texts_follow_the_display_names():
    """dim_text renders each expression once, and again when the names change."""
    a = symcheck.analyze(sample("torch_cae_dynamic.onnx"))
    bottleneck = a.bottleneck.out_shape[2]
    assert a.dim_text(bottleneck) == "ceil(H/8)"
    assert a.dim_text(bottleneck) == "ceil(H/8)"  # from the cache
    assert a.ladder()[0] == ["H", "ceil(H/2)", "ceil(H/4)", "ceil(H/8)"]
    a.symbols = {**a.symbols, "height": "Y"}
    assert a.dim_text(bottleneck) == "ceil(Y/8)"
    assert a.ladder()[0] == ["Y", "ceil(Y/2)", "ceil(Y/4)", "ceil(Y/8)"]
    a.symbols["height"] = "Z"  # changed in place
    assert a.dim_text(bottleneck) == "ceil(Z/8)"
    assert a.ladder_text().startswith("Z → ceil(Z/2)")


def test_reports_work_the_ladder_out_once(monkeypatch):
    """The brief record, the text, JSON and HTML reports all show the ladder; it is
    worked out once, and each caller gets its own lists."""
    from symcheck.analysis import Analysis
    from symcheck.cli import brief_record
    from symcheck.render import html, json as json_render, text

    a = symcheck.analyze(sample("keras_cae.onnx"))
    calls: list = []
    real = Analysis._work_out_ladder
    monkeypatch.setattr(Analysis, "_work_out_ladder", lambda self: calls.append(1) or real(self))
    brief_record(a), text.render(a), json_render.analysis_dict(a), html.render(a)
    assert len(calls) == 1
    enc, dec = a.ladder()
    enc.append("9")
    assert a.ladder() == (["28", "14", "7", "4"], ["4", "8", "16", "14", "28"])


def test_declared_shapes_are_read_on_demand_with_outputs_winning():
    """A declaration is read only when asked for; an output's declaration wins over
    a value_info one, unless it has no shape."""
    from onnx import TensorProto, helper

    from symcheck.dims import Expr
    from symcheck.shapes import DeclaredShapes

    graph = helper.make_graph(
        [], "g", [], [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 2]),
                      helper.make_tensor_value_info("b", TensorProto.FLOAT, None)],
        value_info=[helper.make_tensor_value_info("a", TensorProto.FLOAT, [3, 4]),
                    helper.make_tensor_value_info("b", TensorProto.INT64, ["n", 5]),
                    helper.make_tensor_value_info("c", TensorProto.FLOAT, [None])])
    fresh = iter(range(100))
    declared = DeclaredShapes(graph, lambda stem: Expr.symbol(f"?{stem}{next(fresh)}"))
    assert declared.get("a").shape == (1, 2)
    b = declared.get("b")
    assert (b.dtype, b.shape[1], str(b.shape[0])) == (TensorProto.INT64, 5, "?d0")
    assert declared.get("b") is b  # converted once
    assert str(declared.get("c").shape[0]) == "?d1"
    assert declared.get("nothing") is None
