"""symcheck.digraph keeps networkx's orders, so passes give the same answers on either."""

import random
from pathlib import Path

import networkx as nx
import pytest

from symcheck.digraph import Digraph


def _random_dag(seed: int, n: int = 40) -> tuple[Digraph, nx.DiGraph]:
    rng = random.Random(seed)
    ours, theirs = Digraph(), nx.DiGraph()
    ids = list(range(n))
    rng.shuffle(ids)  # insertion order differs from numeric order
    for k, node in enumerate(ids):
        ours.add_node(node)
        theirs.add_node(node)
        for src in rng.sample(ids[:k], min(k, rng.randint(0, 3))):
            ours.add_edge(src, node)
            theirs.add_edge(src, node)
    for node in rng.sample(ids, 3):  # removal keeps the order of what remains
        ours.remove_node(node)
        theirs.remove_node(node)
    return ours, theirs


@pytest.mark.parametrize("seed", range(25))
def test_orders_and_reachability_match_networkx(seed):
    ours, theirs = _random_dag(seed)
    assert list(ours) == list(theirs.nodes)
    assert list(ours.edges()) == list(theirs.edges)
    assert ours.topological_sort() == list(nx.topological_sort(theirs))
    node = list(ours)[len(ours) // 2]
    assert ours.descendants(node) == nx.descendants(theirs, node)
    assert ours.ancestors(node) == nx.ancestors(theirs, node)
    subset = set(list(ours)[::2])
    assert ours.topological_sort(subset) == list(nx.topological_sort(theirs.subgraph(subset)))
    converted = ours.to_networkx()
    assert list(converted.nodes) == list(theirs.nodes) and list(converted.edges) == list(theirs.edges)


def test_cycle_is_refused():
    g = Digraph()
    g.add_edge(1, 2)
    g.add_edge(2, 1)
    g.add_edge(0, 1)
    with pytest.raises(ValueError, match="cycle"):
        g.topological_sort()


def test_analysis_does_not_import_networkx():
    import subprocess
    import sys

    sample = Path(__file__).resolve().parent.parent / "samples" / "keras_cae.onnx"
    code = ("import sys, symcheck; "
            f"a = symcheck.analyze({str(sample)!r}); "
            "assert 'networkx' not in sys.modules, 'imported by analyze'; "
            "g = a.layers.graph; assert 'networkx' in sys.modules; print(g.number_of_nodes())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "15"


def test_the_whole_order_is_remembered_until_the_graph_changes():
    g = Digraph()
    g.add_edge(0, 1)
    g.add_edge(0, 2)
    first = g.topological_sort()
    assert first == [0, 1, 2]
    first.append(99)  # callers get their own list
    assert g.topological_sort() == [0, 1, 2]
    g.add_edge(2, 1)
    assert g.topological_sort() == [0, 2, 1]
    g.add_node(3)
    assert g.topological_sort() == [0, 3, 2, 1]
    g.remove_node(2)
    assert g.topological_sort() == [0, 3, 1]
    assert g.topological_sort([1, 0]) == [0, 1]  # a subset is sorted on its own


def _longest_by_predecessors(graph: Digraph, source: int, target: int, weight) -> list:
    """longest_path's answer worked out the other way round: each node's best length
    from its predecessors' (memoized), ties to the smallest predecessor id."""
    memo: dict = {source: (0, None)}
    reachable = graph.descendants(source) | {source}

    def best(node):
        if node not in memo:
            options = [(best(p)[0] + weight(node), p) for p in graph.predecessors(node) if p in reachable]
            top = max(length for length, _ in options)
            memo[node] = (top, min(p for length, p in options if length == top))
        return memo[node]

    if target not in reachable:
        return [source, target]
    for node in graph.topological_sort():  # fill the memo in order: no deep recursion
        if node in reachable:
            best(node)
    path, node = [], target
    while node is not None:
        path.append(node)
        node = memo[node][1]
    return path[::-1]


@pytest.mark.parametrize("seed", range(60))
def test_longest_path_matches_the_predecessor_formulation(seed):
    from types import SimpleNamespace

    from symcheck.structure import STRUCTURAL, longest_path

    ours, _ = _random_dag(seed)
    rng = random.Random(seed)
    layers = {n: SimpleNamespace(kind=rng.choice(["conv", "relu", "add", "scale"])) for n in ours}
    nodes = list(ours)
    for _ in range(5):
        source, target = rng.choice(nodes), rng.choice(nodes)
        assert longest_path(ours, source, target) == \
            _longest_by_predecessors(ours, source, target, lambda n: 1)
        assert longest_path(ours, source, target, layers) == \
            _longest_by_predecessors(ours, source, target, lambda n: int(layers[n].kind in STRUCTURAL))
