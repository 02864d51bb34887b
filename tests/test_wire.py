"""symcheck.wire: a model read without its large inline weights is the model minus their bytes."""

from __future__ import annotations

import random

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import symcheck
from symcheck import wire
from symcheck.errors import SymcheckError
from symcheck.load import read_model

from .conftest import sample
from .hostile import mutate_bytes


def _big_model() -> onnx.ModelProto:
    """A conv autoencoder whose two conv weights are over the skip threshold and whose
    biases are under it; extra fields after the graph check that field order is kept."""
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((128, 16, 3, 3), dtype=np.float32), "enc.weight")
    w2 = numpy_helper.from_array(rng.standard_normal((128, 16, 3, 3), dtype=np.float32), "dec.weight")
    b1 = numpy_helper.from_array(np.zeros(128, np.float32), "enc.bias")
    nodes = [helper.make_node("Conv", ["x", "enc.weight", "enc.bias"], ["h"], pads=[1, 1, 1, 1],
                              strides=[2, 2], name="enc"),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("ConvTranspose", ["r", "dec.weight"], ["y"], strides=[2, 2],
                              kernel_shape=[3, 3], pads=[1, 1, 1, 1], output_padding=[1, 1], name="dec")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 32, 32])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 32, 32])],
                              [w1, b1, w2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="test")
    helper.set_model_props(model, {"note": "after the graph"})
    return model


def _without_large_raw_data(model: onnx.ModelProto, names) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for init in copy.graph.initializer:
        if init.name in names:
            init.ClearField("raw_data")
    return copy


def test_large_raw_data_is_skipped_and_located():
    model = _big_model()
    data = model.SerializeToString()
    stripped, skipped = wire.strip_weights(memoryview(data))
    assert sorted(skipped) == ["dec.weight", "enc.weight"]  # enc.bias (512 bytes) stays
    for init in model.graph.initializer:
        if init.name in skipped:
            offset, length = skipped[init.name]
            assert data[offset:offset + length] == init.raw_data and length == 128 * 16 * 9 * 4
    parsed = onnx.ModelProto()
    parsed.ParseFromString(stripped)
    assert parsed == _without_large_raw_data(model, skipped)
    assert len(stripped) < 4096


def test_nothing_to_skip_and_malformed_input_give_none():
    small = onnx.load(sample("keras_cae.onnx")).SerializeToString()
    assert wire.strip_weights(small) is None  # no initializer of 64 KiB
    data = _big_model().SerializeToString()
    assert wire.strip_weights(data[:1000]) is None  # cut inside a weight: a length past the end
    assert wire.strip_weights(b"\x0b\x0c") is None  # a group
    assert wire.strip_weights(data + data) is None  # a second graph field (protobuf would merge)


@pytest.mark.parametrize("seed", range(3))
def test_mutations_either_refused_or_equal_to_a_full_parse(seed):
    """The oracle: when strip_weights answers, its model is the full parse minus the
    skipped bytes; when the full parse fails, strip_weights' answer must not parse either
    into something else (it may still parse: protobuf is lenient where we bail)."""
    rng = random.Random(seed)
    original = _big_model().SerializeToString()
    answered = 0
    for _ in range(400):
        data = mutate_bytes(original, rng)
        result = wire.strip_weights(memoryview(data))
        if result is None:
            continue
        stripped, skipped = result
        full = onnx.ModelProto()
        try:
            full.ParseFromString(data)
        except Exception:
            continue  # the lean read then fails in parse_model, as the full read would
        answered += 1
        lean = onnx.ModelProto()
        lean.ParseFromString(stripped)
        assert lean == _without_large_raw_data(full, skipped)
        for init in full.graph.initializer:
            if init.name in skipped:
                offset, length = skipped[init.name]
                assert data[offset:offset + length] == init.raw_data
    assert answered >= 20  # enough mutations survive both parsers to test the oracle


def test_read_model_and_verification_use_the_file_for_skipped_weights(tmp_path, monkeypatch):
    import symcheck.load as load
    from symcheck.verify import verify

    path = tmp_path / "big.onnx"
    path.write_bytes(_big_model().SerializeToString())
    monkeypatch.setattr(load, "LEAN_READ_BYTES", 1024)  # the file is ~150 KB
    skipped: dict = {}
    lean = read_model(str(path), skipped=skipped)
    assert sorted(skipped) == ["dec.weight", "enc.weight"]
    assert lean == _without_large_raw_data(onnx.load(str(path)), skipped)
    a = symcheck.analyze(str(path))
    assert a.weights_in_file == skipped
    assert a.total_params == 128 * 16 * 9 * 2 + 128
    result = verify(a)
    assert result.status == "verified", result.reason
    assert [(c.layer, c.actual) for c in result.layers] == [("enc", (1, 128, 16, 16)), ("dec", (1, 16, 32, 32))]


def test_lean_read_of_a_mutated_file_gives_symcheck_errors_only(tmp_path, monkeypatch):
    import symcheck.load as load

    monkeypatch.setattr(load, "LEAN_READ_BYTES", 1024)
    _analyze_mutants(tmp_path, random.Random(7), 60)


def _analyze_mutants(folder, rng: random.Random, count: int) -> None:
    """Analyse ``count`` byte-mutated copies of the big model: SymcheckError is the only
    exception allowed."""
    original = _big_model().SerializeToString()
    for i in range(count):
        path = folder / f"m{i}.onnx"
        path.write_bytes(mutate_bytes(original, rng))
        try:
            symcheck.analyze(str(path))
        except SymcheckError:
            pass


# -- files parsed from a read-only map (load.MAPPED_READ_BYTES) ------------------

class _RecordingMap:
    """mmap.mmap that remembers every map it made, to check that each was closed."""

    made: list = []

    def __init__(self, real):
        self.real = real

    def __call__(self, *args, **kwargs):
        mapped = self.real(*args, **kwargs)
        self.made.append(mapped)
        return mapped


@pytest.fixture
def mapped_reads(monkeypatch):
    """Every file read_model reads is parsed from a map; yields the maps it made."""
    import mmap

    import symcheck.load as load

    monkeypatch.setattr(load, "MAPPED_READ_BYTES", 1)
    recorder = _RecordingMap(mmap.mmap)
    recorder.made = []
    monkeypatch.setattr(mmap, "mmap", recorder)
    yield recorder.made


@pytest.mark.parametrize("name", ["keras_cae.onnx", "torch_cae.onnx", "matlab_cae.onnx",
                                  "torch_cae_dynamo.onnx"])
def test_a_mapped_file_gives_the_same_model_and_the_map_is_closed(name, mapped_reads):
    path = sample(name)
    model = read_model(path)
    assert len(mapped_reads) == 1 and mapped_reads[0].closed
    # The message owns its bytes: every field is readable after the map is gone.
    with open(path, "rb") as handle:
        assert model.SerializeToString() == onnx.load_from_string(handle.read()).SerializeToString()
    assert sum(len(init.raw_data) for init in model.graph.initializer) > 0


def test_a_mapped_read_gives_the_same_analysis(mapped_reads):
    mapped = symcheck.analyze(sample("keras_cae.onnx")).to_dict()
    assert mapped_reads and all(m.closed for m in mapped_reads)
    plain = symcheck.analyze(onnx.load(sample("keras_cae.onnx"))).to_dict()
    mapped.pop("file")
    plain.pop("file")
    assert mapped == plain


def test_a_mapped_read_refuses_what_a_plain_read_refuses(tmp_path, mapped_reads):
    graph_only = tmp_path / "graph.onnx"
    graph_only.write_bytes(_big_model().graph.SerializeToString())
    with pytest.raises(SymcheckError) as err:
        read_model(str(graph_only))
    assert err.value.code == "graph-not-model"
    _analyze_mutants(tmp_path, random.Random(11), 40)
    assert len(mapped_reads) >= 41 and all(m.closed for m in mapped_reads)


def test_a_file_that_grew_past_the_limit_after_the_size_check_is_refused(tmp_path, mapped_reads):
    import os

    import symcheck.load as load

    path = tmp_path / "m.onnx"
    path.write_bytes(_big_model().SerializeToString())
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(SymcheckError) as err:
            load._parse_mapped(fd, max_bytes=1000)  # the size check saw a smaller file
    finally:
        os.close(fd)
    assert err.value.code == "too-large"
    assert mapped_reads and mapped_reads[-1].closed


def test_a_file_that_cannot_be_mapped_is_read(tmp_path, mapped_reads, monkeypatch):
    import symcheck.load as load

    monkeypatch.setattr(load, "MAPPED_READ_BYTES", 0)
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    with pytest.raises(SymcheckError) as err:
        read_model(str(path))  # mmap refuses an empty file; the plain read answers
    assert err.value.code == "not-onnx" and mapped_reads == []
