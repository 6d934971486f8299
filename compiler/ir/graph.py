"""The IR's graph storage, without importing networkx.

Importing networkx costs about as much as the rest of the front end together (it loads every
algorithm it ships), and checking a spec needs none of them. So the passes keep nodes and edges
in plain dicts (node -> attribute dict; successor and predecessor dicts of dicts sharing each
edge's attribute dict), and :meth:`Graph.to_networkx` builds a ``networkx.DiGraph`` of them with
networkx's public API when something asks for one (``ir.graph``): the same nodes, edges and
attributes (the :class:`~netc.ir.Node` objects themselves), made again after the graph changes.
Changes go through this graph (``add_node``, ``add_edge``, ``set_edge``); the DiGraph is a view
for networkx's algorithms.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator


class Graph:
    """A directed graph with insertion-ordered nodes: the part of DiGraph's interface the passes use."""

    __slots__ = ("_nodes", "_succs", "_preds", "attrs", "_nx", "_version")

    def __init__(self, name: str = ""):
        self._nodes: dict[Any, dict] = {}
        self._succs: dict[Any, dict[Any, dict]] = {}
        self._preds: dict[Any, dict[Any, dict]] = {}
        self.attrs: dict[str, Any] = {"name": name}
        self._nx = None          # (version, DiGraph) of the last to_networkx
        self._version = 0        # counts changes, so that a DiGraph made earlier is not handed out again

    # ------------------------------------------------------------ building
    def add_node(self, n, **attr) -> None:
        self._version += 1
        if n in self._nodes:
            self._nodes[n].update(attr)
            return
        self._nodes[n] = attr
        self._succs[n] = {}
        self._preds[n] = {}

    def add_edge(self, u, v, **attr) -> None:
        self._version += 1
        for n in (u, v):
            if n not in self._nodes:
                self.add_node(n)
        d = self._succs[u].get(v)
        if d is None:
            d = self._succs[u][v] = self._preds[v][u] = {}
        d.update(attr)

    def set_edge(self, u, v, **attr) -> None:
        """Set attributes of the existing edge u -> v."""
        self._version += 1
        self._succs[u][v].update(attr)

    # ------------------------------------------------------------ reading
    @property
    def nodes(self) -> dict[Any, dict]:
        """Node -> its attribute dict, in insertion order."""
        return self._nodes

    @property
    def succ(self) -> dict[Any, dict[Any, dict]]:
        return self._succs

    @property
    def pred(self) -> dict[Any, dict[Any, dict]]:
        return self._preds

    def successors(self, n) -> Iterator:
        return iter(self._succs[n])

    def predecessors(self, n) -> Iterator:
        return iter(self._preds[n])

    def edge(self, u, v) -> dict:
        """The attribute dict of the edge u -> v (to read; :meth:`set_edge` changes it)."""
        return self._succs[u][v]

    def edges(self) -> Iterator[tuple[Any, Any, dict]]:
        for u, nbrs in self._succs.items():
            for v, d in nbrs.items():
                yield u, v, d

    def __contains__(self, n) -> bool:
        return n in self._nodes

    def __iter__(self) -> Iterator:
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    # ------------------------------------------------------------ algorithms
    def reachable(self, starts: Iterable, backwards: bool = False) -> set:
        """Every node reachable from ``starts`` (them included), along edges or against them."""
        adj = self._preds if backwards else self._succs
        seen = set()
        stack = [s for s in starts if s in adj]
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            stack.extend(m for m in adj[n] if m not in seen)
        return seen

    def is_acyclic(self) -> bool:
        """Whether the graph has no cycle. Linear: lowering links each node to earlier ones, so
        insertion order is nearly always a topological order; otherwise Kahn's algorithm decides."""
        order = {n: i for i, n in enumerate(self._nodes)}
        if all(order[u] < order[v] for u, nbrs in self._succs.items() for v in nbrs):
            return True
        indeg = {n: len(p) for n, p in self._preds.items()}
        ready = [n for n, k in indeg.items() if k == 0]
        done = 0
        while ready:
            n = ready.pop()
            done += 1
            for m in self._succs[n]:
                indeg[m] -= 1
                if indeg[m] == 0:
                    ready.append(m)
        return done == len(self._nodes)

    def to_networkx(self):
        """A ``networkx.DiGraph`` of this graph (built with networkx's public API; made again after
        a change). Its node attributes hold the same objects; editing it does not edit this graph."""
        if self._nx is None or self._nx[0] != self._version:
            import networkx as nx
            g = nx.DiGraph(**self.attrs)
            g.add_nodes_from(self._nodes.items())
            g.add_edges_from(self.edges())
            self._nx = (self._version, g)
        return self._nx[1]

    def __getstate__(self):
        return (self._nodes, self._succs, self._preds, self.attrs)

    def __setstate__(self, state):
        self._nodes, self._succs, self._preds, self.attrs = state
        self._nx, self._version = None, 0
