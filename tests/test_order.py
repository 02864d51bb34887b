"""shapes.topological_nodes: the one-pass check of the file's order and the general sort agree."""

from __future__ import annotations

import random

import pytest
from onnx import TensorProto, helper

import symcheck.shapes as shapes
from symcheck.load import read_model
from symcheck.shapes import read_nodes, topological_nodes

from .conftest import sample


def _random_graph(rng: random.Random, count: int):
    """A random DAG of Sum nodes (some reading a tensor twice or skipping an optional
    input) in dependency order, and the names of its input and initializer."""
    tensors = ["x", "w"]
    nodes = []
    for i in range(count):
        reads = rng.sample(tensors, k=min(len(tensors), rng.randint(1, 3)))
        if rng.random() < 0.2:
            reads.append(reads[0])  # a repeated read
        if rng.random() < 0.1:
            reads.insert(1, "")  # an omitted optional input
        nodes.append(helper.make_node("Sum", reads, [f"t{i}"], name=f"n{i}"))
        tensors.append(f"t{i}")
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info(f"t{count - 1}", TensorProto.FLOAT, [1])],
                              [helper.make_tensor("w", TensorProto.FLOAT, [1], [1.0])])
    return graph, {"x", "w"}


def _general(graph, available, nodes, monkeypatch):
    """topological_nodes with the file-order check switched off."""
    with monkeypatch.context() as patch:
        patch.setattr(shapes, "_in_file_order", lambda *args: None)
        reads: dict = {}
        return topological_nodes(graph, available, reads, nodes), reads


@pytest.mark.parametrize("seed", range(30))
def test_file_order_and_general_sort_agree(seed, monkeypatch):
    rng = random.Random(seed)
    graph, available = _random_graph(rng, rng.randint(1, 40))
    nodes = read_nodes(graph)
    reads: dict = {}
    order = topological_nodes(graph, available, reads, nodes)
    assert order == nodes  # already a dependency order: kept
    assert (order, reads) == _general(graph, available, nodes, monkeypatch)
    # Shuffled, the general sort finds a dependency order of every node.
    shuffled = list(graph.node)
    rng.shuffle(shuffled)
    del graph.node[:]
    graph.node.extend(shuffled)
    nodes = read_nodes(graph)
    order = topological_nodes(graph, available, {}, nodes)
    assert sorted(map(id, order)) == sorted(map(id, nodes))
    defined = set(available)
    for node in order:
        assert all(name in defined for name in node.input if name)
        defined.update(node.output)
    if order != nodes:
        assert shapes._in_file_order(graph, available, nodes) is None


@pytest.mark.parametrize("name", ["keras_cae.onnx", "torch_cae.onnx", "matlab_cae.onnx",
                                  "torch_cae_dynamo.onnx"])
def test_exported_files_are_in_dependency_order_and_take_the_one_pass(name, monkeypatch):
    model = read_model(sample(name))
    graph = model.graph
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer}
    nodes = read_nodes(graph)
    reads = shapes._in_file_order(graph, available, nodes)
    assert reads is not None
    assert (nodes, reads) == _general(graph, available, nodes, monkeypatch)


def test_a_tensor_written_twice_in_file_order_is_still_refused():
    graph, available = _random_graph(random.Random(1), 5)
    graph.node.append(helper.make_node("Relu", ["x"], ["t2"], name="again"))
    with pytest.raises(shapes.SymcheckError) as err:
        topological_nodes(graph, available)
    assert err.value.code == "duplicate-tensor"
