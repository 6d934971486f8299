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

from netc.types import dims
from netc.diff.align import align
from netc.diff.difftree import Interner, Unit, cost, layer_unit, param_changes, tree
from netc.ir import IR, Node


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
    side_outputs: bool = False      # either network has aux heads: macs_delta counts their training cost
    notes: list[str] = field(default_factory=list)   # e.g. an alignment bounded for its size

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
                "macs_include_side_outputs": self.side_outputs,
                "downstream": [d.to_json() for d in self.downstream], "counts": self.counts(),
                "notes": list(self.notes)}

    def marks(self, old: IR, new: IR) -> dict:
        """How the picture of NEW shows this diff, as keyword arguments of ``to_dot``/``render``:
        added layers green, changed amber, moved outlined, removed ones as ghost nodes with dashed
        edges from their old neighbours (named as in NEW)."""
        highlight: dict[str, str] = {}
        ghosts, ghost_names = [], set()
        for e in self.edits:
            if e.new is not None and e.op in ("add", "change", "move"):
                for n in _under(new, e.new.name):
                    highlight[n.name] = {"add": "added", "move": "moved"}.get(e.op, "changed")
            elif e.op == "remove":
                for n in _under(old, e.old.name):
                    ghosts.append(n)
                    ghost_names.add(n.name)
        return {"highlight": highlight, "ghosts": ghosts,
                "ghost_edges": self._ghost_edges(old, ghosts, ghost_names)}

    def _ghost_edges(self, old: IR, ghosts: list, names: set) -> list[tuple[str, str]]:
        """(An edge whose NEW end has the name of a ghost is left out: to_dot could not tell them apart.)"""
        out = []
        for n in ghosts:
            for p in old.preds(n.name):
                if p in names:
                    out.append((p, n.name))
                elif p in self.matched and self.matched[p] not in names:
                    out.append((self.matched[p], n.name))
            for s in old.g.successors(n.name):
                if s not in names and s in self.matched and self.matched[s] not in names:
                    out.append((n.name, self.matched[s]))
        return out


def _under(ir: IR, name: str) -> list:
    """The nodes of ``name``: one layer, or every layer of a block instance / side output."""
    return [n for n in ir.nodes() if n.name == name or n.name.startswith(name + "/")]


def _sum(vals):
    return None if any(v is None for v in vals) else sum(vals)


def _plain(v):
    return v if isinstance(v, (int, float, str, bool, type(None))) else str(v)


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
    w.output()
    edits = w.finish()
    return Diff(old_ref or f"{old.filename}:{old.config}", new_ref or f"{new.filename}:{new.config}",
                edits, w.downstream(edits), w.matched, bool(old.aux or new.aux), w.notes)


class _Walk:
    def __init__(self, old: IR, new: IR, cost=cost):
        self.old, self.new, self.cost = old, new, cost
        self.events: list = []        # Edit, or ("add" | "remove", unit) until moves are found
        self.same: list[tuple[Node, Node]] = []
        self.matched: dict[str, str] = {"input": "input"}
        self.notes: list[str] = []

    def input(self):
        a, b = self.old.input_spec, self.new.input_spec
        pa, pb = ({"channels": s.channels, "height": s.height, "width": s.width} for s in (a, b))
        if pa != pb:
            na, nb = self.old.node("input"), self.new.node("input")
            ch = tuple((k, pa[k], pb[k]) for k in pa if pa[k] != pb[k])
            self.events.append(Edit("change", _side_node(na, _input_label(a)), _side_node(nb, _input_label(b)),
                                    0, 0, ch))

    def output(self):
        """``output probs`` against logits: the same layers, another forward."""
        a, b = self.old.output_mode, self.new.output_mode
        if a != b:
            na, nb = self.old.node(self.old.output), self.new.node(self.new.output)
            self.events.append(Edit("change", _side_node(na, f"output {a}"), _side_node(nb, f"output {b}"),
                                    0, 0, (("output", a, b),)))
        ka, kb = (", ".join(ir.outputs) or "one" for ir in (self.old, self.new))
        if ka != kb:     # several named outputs: which, and under which keys
            sa, sb = (ir.outputs_span or ir.node(ir.output).span for ir in (self.old, self.new))
            self.events.append(Edit("change", Side("outputs", f"outputs {ka}", _file(sa), sa.line if sa else 0),
                                    Side("outputs", f"outputs {kb}", _file(sb), sb.line if sb else 0),
                                    0, 0, (("outputs", ka, kb),)))

    def seq(self, a: list[Unit], b: list[Unit]):
        for x, y in align(a, b, self.cost, self.notes):
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
            out.append(_unit_edit(op, *((None, layer_unit(u.node)) if op == "add" else (layer_unit(u.node), None))))
        return out
    return [_unit_edit(op, *((None, u) if op == "add" else (u, None)))]


__all__ = ["diff", "Diff", "Edit", "Side", "Downstream"]
