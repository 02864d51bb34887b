"""The small directed graph the analysis passes walk, and its networkx view.

Importing networkx costs about 0.1 s of start-up, more than analysing a
1,000-node model, so the passes use this adjacency structure and the layer
graph is handed to users as a networkx ``DiGraph`` (:meth:`Digraph.to_networkx`)
only when they ask for one. Orders match networkx's: nodes and edges iterate in
insertion order, and :meth:`topological_sort` is networkx's generation order,
so tie-breaks do not depend on which structure a pass walks.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator


class Digraph:
    """Integer nodes (layer ids) and edges in insertion order; no attributes, no parallel edges."""

    def __init__(self) -> None:
        self.succ: dict[int, dict[int, None]] = {}
        self.pred: dict[int, dict[int, None]] = {}
        self._order: list | None = None  # the whole graph's topological order, once asked for

    def add_node(self, node: int) -> None:
        if node not in self.succ:
            self.succ[node] = {}
            self.pred[node] = {}
            self._order = None

    def add_edge(self, src: int, dst: int) -> None:
        self.add_node(src)
        self.add_node(dst)
        self.succ[src][dst] = None
        self.pred[dst][src] = None
        self._order = None

    def remove_node(self, node: int) -> None:
        self._order = None
        for s in self.succ.pop(node):
            del self.pred[s][node]
        for p in self.pred.pop(node):
            del self.succ[p][node]

    def __contains__(self, node: object) -> bool:
        return node in self.succ

    def __len__(self) -> int:
        return len(self.succ)

    def __iter__(self) -> Iterator[int]:
        return iter(self.succ)

    def successors(self, node: int) -> Iterator[int]:
        return iter(self.succ[node])

    def predecessors(self, node: int) -> Iterator[int]:
        return iter(self.pred[node])

    def edges(self) -> Iterator[tuple[int, int]]:
        return ((u, v) for u, nbrs in self.succ.items() for v in nbrs)

    def descendants(self, node: int) -> set:
        return _reach(self.succ, node)

    def ancestors(self, node: int) -> set:
        return _reach(self.pred, node)

    def topological_sort(self, nodes: Iterable[int] | None = None) -> list:
        """Kahn's algorithm by generations (networkx's order), over ``nodes`` only when
        given (the induced subgraph, iterated in this graph's insertion order).
        The whole graph's order is worked out once until the graph changes."""
        if nodes is None:
            if self._order is None:
                self._order = self._sorted(None)
            return list(self._order)
        return self._sorted(set(nodes))

    def _sorted(self, keep: set | None) -> list:
        succ = self.succ if keep is None else {n: s for n, s in self.succ.items() if n in keep}
        indegree: dict = {}
        for n in succ:
            preds = self.pred[n]
            indegree[n] = len(preds) if keep is None else sum(1 for p in preds if p in keep)
        generation = [n for n, d in indegree.items() if d == 0]
        order: list = []
        while generation:
            order.extend(generation)
            following = []
            for n in generation:
                for child in succ[n]:
                    if keep is not None and child not in keep:
                        continue
                    indegree[child] -= 1
                    if indegree[child] == 0:
                        following.append(child)
            generation = following
        if len(order) != len(succ):
            raise ValueError("graph contains a cycle")
        return order

    def to_networkx(self) -> Any:
        """A networkx ``DiGraph`` with the same nodes and edges, in the same order."""
        import networkx as nx

        graph = nx.DiGraph()
        graph.add_nodes_from(self.succ)
        graph.add_edges_from(self.edges())
        return graph


def _reach(adjacency: dict, start: int) -> set:
    seen: set = set()
    stack = list(adjacency[start])
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            stack.extend(adjacency[n])
    return seen
