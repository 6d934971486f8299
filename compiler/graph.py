"""The IR's graph storage: networkx's DiGraph layout, without importing networkx.

Importing networkx costs about as much as the rest of the front end together (it loads every
algorithm it ships), and checking a spec needs none of them. So the IR keeps its nodes and edges
in the very dicts a ``networkx.DiGraph`` keeps them in (node -> attribute dict; successor and
predecessor dicts of dicts sharing each edge's attribute dict), and :meth:`Graph.to_networkx`
wraps that storage in a real DiGraph, without copying, the first time something asks for one
(``ir.graph``). An edit through either is seen by both.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator


class Graph:
    """A directed graph with insertion-ordered nodes: the part of DiGraph's interface the passes use."""

    __slots__ = ("_node", "_succ", "_pred", "attrs", "_nx")

    def __init__(self, name: str = ""):
        self._node: dict[Any, dict] = {}
        self._succ: dict[Any, dict[Any, dict]] = {}
        self._pred: dict[Any, dict[Any, dict]] = {}
        self.attrs: dict[str, Any] = {"name": name}
        self._nx = None

    # ------------------------------------------------------------ building
    def add_node(self, n, **attr) -> None:
        if n in self._node:
            self._node[n].update(attr)
            return
        self._node[n] = attr
        self._succ[n] = {}
        self._pred[n] = {}

    def add_edge(self, u, v, **attr) -> None:
        for n in (u, v):
            if n not in self._node:
                self.add_node(n)
        d = self._succ[u].get(v)
        if d is None:
            d = self._succ[u][v] = self._pred[v][u] = {}
        d.update(attr)

    # ------------------------------------------------------------ reading
    @property
    def nodes(self) -> dict[Any, dict]:
        """Node -> its attribute dict, in insertion order."""
        return self._node

    @property
    def succ(self) -> dict[Any, dict[Any, dict]]:
        return self._succ

    @property
    def pred(self) -> dict[Any, dict[Any, dict]]:
        return self._pred

    def successors(self, n) -> Iterator:
        return iter(self._succ[n])

    def predecessors(self, n) -> Iterator:
        return iter(self._pred[n])

    def edge(self, u, v) -> dict:
        """The attribute dict of the edge u -> v."""
        return self._succ[u][v]

    def edges(self) -> Iterator[tuple[Any, Any, dict]]:
        for u, nbrs in self._succ.items():
            for v, d in nbrs.items():
                yield u, v, d

    def __contains__(self, n) -> bool:
        return n in self._node

    def __iter__(self) -> Iterator:
        return iter(self._node)

    def __len__(self) -> int:
        return len(self._node)

    # ------------------------------------------------------------ algorithms
    def reachable(self, starts: Iterable, backwards: bool = False) -> set:
        """Every node reachable from ``starts`` (them included), along edges or against them."""
        adj = self._pred if backwards else self._succ
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
        order = {n: i for i, n in enumerate(self._node)}
        if all(order[u] < order[v] for u, nbrs in self._succ.items() for v in nbrs):
            return True
        indeg = {n: len(p) for n, p in self._pred.items()}
        ready = [n for n, k in indeg.items() if k == 0]
        done = 0
        while ready:
            n = ready.pop()
            done += 1
            for m in self._succ[n]:
                indeg[m] -= 1
                if indeg[m] == 0:
                    ready.append(m)
        return done == len(self._node)

    def to_networkx(self):
        """A ``networkx.DiGraph`` over this graph's own storage (built once; edits show in both)."""
        if self._nx is None:
            import networkx as nx
            g = nx.DiGraph()
            g.graph = self.attrs
            g._node = self._node
            g._adj = self._succ        # also sets _succ
            g._pred = self._pred
            self._nx = g
        return self._nx

    def __getstate__(self):
        return (self._node, self._succ, self._pred, self.attrs)

    def __setstate__(self, state):
        self._node, self._succ, self._pred, self.attrs = state
        self._nx = None
