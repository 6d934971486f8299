"""Structural diff of two configurations: what was added, removed, changed, moved or renamed,
and what each edit costs in parameters and multiply-adds.

Each IR is read back into a tree: a sequence of layers, block instances (a unit whose body is a
sequence) and groups (``concat``/``add``, whose branches are sequences); side outputs are units
of their own. Sequences are aligned by a weighted edit distance on layer signatures (kind and
parameters; never generated names), so ``conv1-256 -> conv3-256`` is one change rather than a
remove and an add; block instances with the same block and arguments compare equal as units,
otherwise their bodies are aligned in turn. Removed and added units with the same signature
become moves. Layers that did not change but whose input did (``fc8`` after ``fc7`` shrank) are
reported once per run as downstream changes; their deltas count in the totals, so
``diff.params_delta == new.params - old.params`` always.

>>> import netc
>>> from netc.diff import diff
>>> d = diff(netc.load("vgg:A"), netc.load("vgg:B"))
>>> [(e.op, e.new.name, e.new.layer) for e in d.edits], d.params_delta
([('add', 'conv1_2', 'conv3-64'), ('add', 'conv2_2', 'conv3-128')], 184512)
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from . import dims
from .align import INDEL, align
from .ir import IR, Node


# ------------------------------------------------------------------ edit records
@dataclass(frozen=True)
class Side:
    """One side of an edit: the layer (or unit) as it is in one of the two configurations."""
    name: str
    layer: str          # as the paper writes it: conv3-256, inception(64, 96, 128, 16, 32, 32)
    file: str
    line: int

    def to_json(self) -> dict:
        return {"name": self.name, "layer": self.layer, "file": self.file, "line": self.line}


@dataclass
class Edit:
    op: str                         # add | remove | change | rename | move
    old: Side | None
    new: Side | None
    params_delta: int
    macs_delta: int | None
    changes: tuple = ()             # ((parameter, old value, new value), ...) for change / rename

    def to_json(self) -> dict:
        return {"op": self.op, "old": self.old and self.old.to_json(), "new": self.new and self.new.to_json(),
                "params_delta": self.params_delta, "macs_delta": self.macs_delta,
                "changes": [{"param": p, "old": _plain(a), "new": _plain(b)} for p, a, b in self.changes]}


@dataclass
class Downstream:
    """A run of unchanged layers whose input changed because of an edit before them."""
    first: str
    last: str
    count: int
    old_in: tuple | None
    new_in: tuple | None
    params_delta: int
    macs_delta: int | None
    file: str
    line: int

    def to_json(self) -> dict:
        return {"first": self.first, "last": self.last, "layers": self.count,
                "old_input": dims.fmt_shape(self.old_in) if self.old_in else None,
                "new_input": dims.fmt_shape(self.new_in) if self.new_in else None,
                "params_delta": self.params_delta, "macs_delta": self.macs_delta,
                "file": self.file, "line": self.line}


@dataclass
class Diff:
    old: str
    new: str
    edits: list[Edit]
    downstream: list[Downstream]
    matched: dict[str, str] = field(default_factory=dict)   # old node name -> new node name (paired)

    @property
    def identical(self) -> bool:
        return not self.edits and not self.downstream

    @property
    def params_delta(self) -> int:
        return sum(e.params_delta for e in self.edits) + sum(d.params_delta for d in self.downstream)

    @property
    def macs_delta(self) -> int | None:
        """Multiply-adds of a training pass (side outputs included); None for a variable-size input."""
        return _sum([e.macs_delta for e in self.edits] + [d.macs_delta for d in self.downstream])

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.edits:
            out[e.op] = out.get(e.op, 0) + 1
        return out

    def to_json(self) -> dict:
        return {"old": self.old, "new": self.new, "edits": [e.to_json() for e in self.edits],
                "params_delta": self.params_delta, "macs_delta": self.macs_delta,
                "downstream": [d.to_json() for d in self.downstream], "counts": self.counts()}


def _sum(vals):
    return None if any(v is None for v in vals) else sum(vals)


def _plain(v):
    return v if isinstance(v, (int, float, str, bool, type(None))) else str(v)


# ------------------------------------------------------------------ the tree of units
@dataclass(eq=False)
class Unit:
    """A layer, a block instance, a concat/add group, one branch of a group, or a side output."""
    kind: str                       # layer | block | group | branch | aux
    key: tuple                      # what may be paired as a change: ("layer", "conv"), ("block", "inception")
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
    g = ir.graph
    idom = nx.immediate_dominators(g, "input")
    main = _nest(ir, _chain(ir, ir.output, "input", idom), ())
    aux = []
    for a in ir.aux:
        body = _nest(ir, _chain(ir, a.output, a.attach, idom), (a.name,))
        sc = ir.scopes.get(a.name)
        params = {"attach": a.attach, "weight": a.weight}
        aux.append(Unit("aux", ("aux", a.name), a.name, True, sc.label if sc else a.name, a.span, (),
                        children=body, params=params, full=a.name))
    seen = {n.name for u in main + aux for n in u.nodes()}
    main += [_layer(n) for n in ir.layers() if n.name not in seen]   # not series-parallel: keep every node
    return main, aux


def _layer(n: Node) -> Unit:
    return Unit("layer", ("layer", n.kind), n.local, n.explicit, n.paper, n.span, n.scope, n,
                params=layer_params(n), full=n.name)


def layer_params(n: Node) -> dict:
    """A layer's parameters as compared by the diff (``act`` resolved: auto -> relu/none)."""
    d = dict(n.params.model_dump()) if n.params is not None else {}
    if d.get("bn") is False:          # conv(bn=true) was expanded into conv + bn: the bn_* are moot
        for k in ("bn", "bn_eps", "bn_momentum"):
            d.pop(k, None)
    if "act" in d:
        d["act"] = n.act
    return d


def _chain(ir: IR, end: str, stop: str, idom: dict) -> list[Unit]:
    """Units on the path from ``stop`` (exclusive) to ``end``, walking back through the graph."""
    out: list[Unit] = []
    n = end
    while n != stop and n != "input":
        node = ir.node(n)
        preds = ir.preds(n)
        if node.kind in ("concat", "add") and node.params is None:
            fork = idom[n]
            branches = [Unit("branch", ("branch",), "", False, "branch", None, node.scope,
                             children=_chain(ir, p, fork, idom)) for p in preds]
            out.append(Unit("group", ("group", node.kind), node.local, node.explicit, node.kind, node.span,
                            node.scope, node, branches=branches, full=node.name))
            n = fork
            continue
        out.append(_layer(node))
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


# ------------------------------------------------------------------ the diff
def diff(old: IR, new: IR, old_ref: str | None = None, new_ref: str | None = None) -> Diff:
    """Align ``old`` with ``new`` and list the edits (see the module docstring)."""
    intern = Interner()
    (a_main, a_aux), (b_main, b_aux) = tree(old), tree(new)
    for u in a_main + a_aux + b_main + b_aux:
        intern(u)
    w = _Walk(old, new, intern.cost)
    w.input()
    w.seq(a_main, b_main)
    w.seq(a_aux, b_aux)
    edits = w.finish()
    return Diff(old_ref or f"{old.filename}:{old.config}", new_ref or f"{new.filename}:{new.config}",
                edits, w.downstream(edits), w.matched)


class _Walk:
    def __init__(self, old: IR, new: IR, cost=cost):
        self.old, self.new, self.cost = old, new, cost
        self.events: list = []        # Edit, or ("add" | "remove", unit) until moves are found
        self.same: list[tuple[Node, Node]] = []
        self.matched: dict[str, str] = {"input": "input"}

    def input(self):
        a, b = self.old.input_spec, self.new.input_spec
        pa, pb = ({"channels": s.channels, "height": s.height, "width": s.width} for s in (a, b))
        if pa != pb:
            na, nb = self.old.node("input"), self.new.node("input")
            ch = tuple((k, pa[k], pb[k]) for k in pa if pa[k] != pb[k])
            self.events.append(Edit("change", _side_node(na, _input_label(a)), _side_node(nb, _input_label(b)),
                                    0, 0, ch))

    def seq(self, a: list[Unit], b: list[Unit]):
        for x, y in align(a, b, self.cost):
            if x is None:
                self.events.append(("add", y))
            elif y is None:
                self.events.append(("remove", x))
            else:
                self.pair(x, y)

    def pair(self, x: Unit, y: Unit):
        renamed = x.name != y.name and (x.explicit or y.explicit)
        if x.node is not None:
            self.matched[x.node.name] = y.node.name
        if x.kind == "layer" and x.sid != y.sid:
            ch = param_changes(x, y) + ((("name", x.name, y.name),) if renamed else ())
            self.events.append(Edit("change", _side(x), _side(y), y.node.n_params - x.node.n_params,
                                    _delta(x.node.macs, y.node.macs), ch))
            return
        if x.kind == "block" and x.params.get("block") != y.params.get("block"):
            self.events.append(_unit_edit("change", x, y))
            return
        if renamed:
            self.events.append(Edit("rename", _side(x), _side(y), 0, 0, (("name", x.name, y.name),)))
        if x.kind == "aux" and x.params != y.params:
            self.events.append(Edit("change", _side(x), _side(y), 0, 0, param_changes(x, y)))
        if x.kind == "layer":
            self.same.append((x.node, y.node))
        elif x.kind == "group":
            self.same.append((x.node, y.node))
            self.seq(x.branches, y.branches)
        else:
            self.seq(x.children, y.children)

    def finish(self) -> list[Edit]:
        """Pair removed and added units with equal signatures as moves; the rest stay add / remove."""
        removed: dict[int, list[Unit]] = {}
        for ev in self.events:
            if isinstance(ev, tuple) and ev[0] == "remove":
                removed.setdefault(ev[1].sid, []).append(ev[1])
        source: dict[int, Unit] = {}          # id(added unit) -> the removed unit it moved from
        for ev in self.events:
            if isinstance(ev, tuple) and ev[0] == "add" and removed.get(ev[1].sid):
                source[id(ev[1])] = removed[ev[1].sid].pop(0)
        moved = {id(u) for u in source.values()}
        out: list[Edit] = []
        for ev in self.events:
            if isinstance(ev, Edit):
                out.append(ev)
            elif id(ev[1]) in source:
                src, u = source[id(ev[1])], ev[1]
                self.matched.update((p.name, q.name) for p, q in zip(src.nodes(), u.nodes()))
                out.append(_unit_edit("move", src, u))
            elif id(ev[1]) not in moved:
                out += _unit_edits(*ev)
        return out

    def downstream(self, edits: list[Edit]) -> list[Downstream]:
        """Runs (in NEW's order) of unchanged layers whose input, output or cost changed."""
        pairs = {b.name: a for a, b in self.same}
        runs: list[list[tuple[Node, Node]]] = []
        open_run = False
        for b in self.new.nodes():
            if b.name not in pairs:
                continue                      # an edited layer: neither extends nor ends a run
            a = pairs[b.name]
            if _affected(self.old, self.new, a, b):
                if not open_run:
                    runs.append([])
                runs[-1].append((a, b))
                open_run = True
            else:
                open_run = False
        return [_run(self.old, self.new, r) for r in runs]

def _inputs(ir: IR, n: Node) -> tuple:
    return tuple(_shape(ir.node(p)) for p in ir.preds(n.name))


def _shape(n: Node):
    return n.shape if n.shape is not None else n.sym_shape


def _affected(old: IR, new: IR, a: Node, b: Node) -> bool:
    return (a.n_params != b.n_params or a.macs != b.macs or _shape(a) != _shape(b)
            or _inputs(old, a) != _inputs(new, b))


def _run(old: IR, new: IR, run: list[tuple[Node, Node]]) -> Downstream:
    a0, b0 = run[0]
    ia, ib = _inputs(old, a0), _inputs(new, b0)
    return Downstream(b0.name, run[-1][1].name, len(run), ia[0] if len(ia) == 1 else ia,
                      ib[0] if len(ib) == 1 else ib, sum(b.n_params - a.n_params for a, b in run),
                      _sum([_delta(a.macs, b.macs) for a, b in run]), _file(b0.span), b0.span.line)


def _delta(a, b):
    return None if a is None or b is None else b - a


def _file(span) -> str:
    f = span.file if span is not None else "<unknown>"
    try:
        rel = os.path.relpath(f)
    except ValueError:
        return f
    return rel if not rel.startswith("..") else f


def _side(u: Unit) -> Side:
    return Side(u.full, u.label, _file(u.span), u.line)


def _side_node(n: Node, label: str | None = None) -> Side:
    return Side(n.name, label or n.paper, _file(n.span), n.span.line if n.span else 0)


def _input_label(s) -> str:
    return f"input {s.channels}x{s.height}x{s.width}"


def _unit_edit(op: str, a: Unit | None, b: Unit | None) -> Edit:
    pa = sum(n.n_params for n in a.nodes()) if a else 0
    pb = sum(n.n_params for n in b.nodes()) if b else 0
    ma = _sum([n.macs for n in a.nodes()]) if a else 0
    mb = _sum([n.macs for n in b.nodes()]) if b else 0
    return Edit(op, a and _side(a), b and _side(b), pb - pa, _delta(ma, mb))


def _unit_edits(op: str, u: Unit) -> list[Edit]:
    """An added / removed unit: one edit per layer, block instance or side output; a group is
    reported as its branches' units and its concat / add node."""
    if u.kind in ("group", "branch"):
        out = [e for c in (u.branches or u.children) for e in _unit_edits(op, c)]
        if u.kind == "group":
            out.append(_unit_edit(op, *((None, _layer(u.node)) if op == "add" else (_layer(u.node), None))))
        return out
    return [_unit_edit(op, *((None, u) if op == "add" else (u, None)))]


__all__ = ["diff", "Diff", "Edit", "Side", "Downstream", "Unit", "tree", "cost", "layer_params", "INDEL"]
