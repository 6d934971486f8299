"""The tree of units that ``netc diff`` aligns, and what pairing two units costs.

An IR is read back into a sequence of units: layers, block instances (whose body is a sequence),
``concat``/``add`` groups (whose branches are sequences, found through the immediate dominator of
the join: the fork it started from) and side outputs. Each unit gets an interned signature: kind
and parameters for a layer (``act`` resolved, generated names ignored), block and arguments plus
body for a block instance, so equal units compare in O(1).

>>> import netc
>>> main, aux = tree(netc.load("googlenet"))
>>> [u.kind for u in main][:8], main[7].label, [b.children[-1].label for b in main[7].children[0].branches]
(['layer', 'layer', 'layer', 'layer', 'layer', 'layer', 'layer', 'block'], 'inception(64, 96, 128, 16, 32, 32)', ['conv1-64', 'conv3-128', 'conv5-32', 'conv1-32'])
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


from netc.diff.align import INDEL
from netc.ir import IR, Node


# ------------------------------------------------------------------ the tree of units
@dataclass(eq=False)
class Unit:
    """A layer, a block instance, a concat/add group, one branch of a group, or a side output."""
    kind: str                       # layer | block | group | branch | aux
    key: tuple                      # what may be paired as a change: ("layer", "conv"), ("block",), ("aux", "loss1")
    name: str                       # local name ("conv3_3", "3a"); "" for a branch
    explicit: bool                  # the name was written by the user
    label: str                      # conv3-256, inception(64, ...), aux loss1 on 4a (weight 0.3)
    span: Any
    scope: tuple = ()
    node: Node | None = None        # the layer, or the concat/add node of a group
    children: list = field(default_factory=list)   # body of a block / branch / aux head
    branches: list = field(default_factory=list)   # branch units of a group
    params: dict = field(default_factory=dict)     # the signature's parameters (layers, aux heads)
    full: str = ""                  # full name
    sid: int = -1                   # interned signature: equal sid = equal unit
    line: int = 0

    def __post_init__(self):
        self.line = self.span.line if self.span else 0

    def nodes(self) -> list[Node]:
        """Every IR node in the unit."""
        if self.kind == "layer":
            return [self.node]
        out = [n for u in (self.branches or self.children) for n in u.nodes()]
        return out + ([self.node] if self.node is not None and self.kind == "group" else [])


def tree(ir: IR) -> tuple[list[Unit], list[Unit]]:
    """The main sequence of units and the side-output units of an IR (signatures not yet interned)."""
    import networkx as nx           # diff only: the dominator tree
    _mark_moot_ceil(ir)
    idom = nx.immediate_dominators(ir.graph, "input")
    order = {n: i for i, n in enumerate(ir.g)}       # several outputs: the chain to the last in the text,
    end = max(ir.output_nodes.values(), key=lambda n: order.get(n, -1))   # whatever order outputs lists them
    main = _nest(ir, _chain(ir, end, "input", idom), ())
    aux = []
    for a in ir.aux:
        body = _nest(ir, _chain(ir, a.output, a.attach, idom), (a.name,))
        sc = ir.scopes.get(a.name)
        params = {"attach": a.attach, "weight": a.weight}
        aux.append(Unit("aux", ("aux", a.name), a.name, True, sc.label if sc else a.name, a.span, (),
                        children=body, params=params, full=a.name))
    seen = {n.name for u in main + aux for n in u.nodes()}
    main += [layer_unit(n) for n in ir.layers() if n.name not in seen]   # not series-parallel: keep every node
    return main, aux


def layer_unit(n: Node) -> Unit:
    return Unit("layer", ("layer", n.kind), n.local, n.explicit, n.paper, n.span, n.scope, n,
                params=layer_params(n), full=n.name)


def _mark_moot_ceil(ir: IR) -> None:
    """A pool's rounding up (Caffe's ``ceil``) in a network that takes one input size only, where it
    gives the size rounding down gives: the same layer (an imported Caffe VGG is vgg:D)."""
    if ir.any_size:
        return
    from netc.types import dims
    for n in ir.layers():
        p = n.params
        if not getattr(p, "ceil", False) or not hasattr(p, "kernel") or n.shape is None:
            continue
        ins = [ir.node(q).shape for q in ir.preds(n.name)]
        if not ins or ins[0] is None or len(ins[0]) != 3:
            continue
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = p.kernel(), p.strides(), p.padding(), p.dilations()
        floor = (dims.window(ins[0][1], kh, sh, ph, dh, False), dims.window(ins[0][2], kw, sw, pw, dw, False))
        if floor == tuple(n.shape[1:]):
            n.meta["ceil_moot"] = True


def layer_params(n: Node) -> dict:
    """A layer's parameters as compared by the diff: its kind's canonical form (what the layer does,
    not how it was written: maxpool == maxpool2/2), with ``act`` resolved (auto -> relu/none)."""
    k = n.layer_kind
    d = k.canonical(n.params) if k is not None and n.params is not None else {}
    if "act" in d:
        d["act"] = n.act
    if d.get("ceil") and n.meta.get("ceil_moot"):
        d["ceil"] = False
    return d


def _chain(ir: IR, end: str, stop: str, idom: dict) -> list[Unit]:
    """Units on the path from ``stop`` (exclusive) to ``end``, walking back through the graph."""
    out: list[Unit] = []
    n = end
    while n != stop and n != "input":
        node = ir.node(n)
        preds = ir.preds(n)
        if node.layer_kind is not None and node.layer_kind.join:
            fork = idom[n]
            branches = [Unit("branch", ("branch",), "", False, "branch", None, node.scope,
                             children=_chain(ir, p, fork, idom)) for p in preds]
            out.append(Unit("group", ("group", node.kind), node.local, node.explicit, node.kind, node.span,
                            node.scope, node, branches=branches, full=node.name))
            n = fork
            continue
        out.append(layer_unit(node))
        if not preds:
            break
        n = preds[0]
    out.reverse()
    return out


def _nest(ir: IR, units: list[Unit], prefix: tuple) -> list[Unit]:
    """Gather runs of units that belong to one block instance under ``prefix`` into block units."""
    out: list[Unit] = []
    i, k = 0, len(prefix)
    while i < len(units):
        s = units[i].scope
        if len(s) > k and s[:k] == prefix:
            inst, j = s[:k + 1], i
            while j < len(units) and units[j].scope[:k + 1] == inst:
                j += 1
            out.append(_block(ir, inst, _nest(ir, units[i:j], inst)))
            i = j
            continue
        u = units[i]
        for b in u.branches:
            b.children = _nest(ir, b.children, prefix)
        out.append(u)
        i += 1
    return out


def _block(ir: IR, inst: tuple, body: list[Unit]) -> Unit:
    full = "/".join(inst)
    sc = ir.scopes.get(full)
    if sc is None:
        return Unit("block", ("block",), inst[-1], True, full, None, inst[:-1], children=body, full=full)
    return Unit("block", ("block",), inst[-1], sc.explicit, sc.label, sc.span, inst[:-1],
                children=body, params={"block": sc.block}, full=full)


class Interner:
    """Signatures -> small ints, shared by both sides of a diff, so equal units compare in O(1);
    ``cost`` is :func:`cost` with the price of a change remembered per pair of signatures."""

    def __init__(self):
        self.ids: dict = {}
        self.memo: dict[tuple[int, int], int | None] = {}

    def cost(self, a: Unit, b: Unit) -> int | None:
        tie = (a.line != b.line) + (a.name != b.name)
        if a.sid == b.sid:
            return tie
        key = (a.sid, b.sid)
        c = self.memo[key] if key in self.memo else self.memo.setdefault(key, change_cost(a, b))
        return None if c is None else c + tie

    def __call__(self, u: Unit) -> int:
        parts = [self(c) for c in (u.branches or u.children)]
        if u.kind == "layer":
            sig = ("layer", u.node.kind, tuple(sorted((k, repr(v)) for k, v in u.params.items())))
        elif u.kind == "block":
            sig = ("block", u.params.get("block"), u.label, tuple(parts))
        elif u.kind == "aux":
            sig = ("aux", u.name, repr(sorted(u.params.items())), tuple(parts))
        else:
            sig = (u.kind, u.key, tuple(parts))
        u.sid = self.ids.setdefault(sig, len(self.ids))
        return u.sid


# ------------------------------------------------------------------ costs
CHANGE, CHANGE_STEP = 1_200_000, 100_000   # a change costs less than remove + add (2 * INDEL)


def cost(a: Unit, b: Unit) -> int | None:
    """Cost of aligning ``a`` with ``b``: 0-2 for equal units (tie-breaks: same line, same name),
    about 1.2-1.8 INDEL for a change, None when they cannot be paired."""
    tie = (a.line != b.line) + (a.name != b.name)
    if a.sid == b.sid:
        return tie
    c = change_cost(a, b)
    return None if c is None else c + tie


def change_cost(a: Unit, b: Unit) -> int | None:
    """The price of pairing two different units as a change (more for more differences)."""
    if a.key != b.key:
        return None
    if a.kind == "layer":
        diff = sum(1 for k in a.params.keys() | b.params.keys() if a.params.get(k) != b.params.get(k))
        return CHANGE + CHANGE_STEP * min(diff, 6)
    if a.kind == "block" and a.params.get("block") != b.params.get("block"):
        return CHANGE + 6 * CHANGE_STEP      # another block in the same place: one change
    return CHANGE + 3 * CHANGE_STEP


def param_changes(a: Unit, b: Unit) -> tuple:
    keys = list(a.params) + [k for k in b.params if k not in a.params]
    return tuple((k, a.params.get(k), b.params.get(k)) for k in keys if a.params.get(k) != b.params.get(k))


__all__ = ["Unit", "tree", "layer_unit", "layer_params", "Interner", "cost", "change_cost", "param_changes", "INDEL"]
