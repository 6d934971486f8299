"""The printer's first stage: the neutral graph simplified (activations folded into the layer
before them) and read back as a series-parallel tree of items (layers, concat/add groups of
branches).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import networkx as nx

from netc.elaborate.reserved import is_reserved

from netc.importers.graph import Layer, Net, fail

WEIGHTED = ("conv", "fc", "upconv")
ACT_KINDS = ("relu", "sigmoid", "tanh", "relu6", "hardswish", "hardsigmoid", "silu", "gelu")
#: joins read back as a group of branches (``residual``: its body, and its input)
JOINS = ("concat", "add", "mul", "residual", "crop", "split")


# ------------------------------------------------------------------ items
@dataclass(eq=False)
class Item:
    kind: str                       # layer | group | call | repeat | from (a branch that reads an earlier layer)
    layer: Layer | None = None      # layer / group join / repeat (first)
    branches: list = field(default_factory=list)    # group: list of item lists
    count: int = 1                  # repeat
    run: list = field(default_factory=list)          # repeat: the layers
    block: "Block | None" = None    # call
    inst: str = ""                  # call: instance name
    body: list = field(default_factory=list)         # call: this instance's items
    args: list = field(default_factory=list)         # call: argument texts
    src_depth: int = 1              # call: path segments of the instance's scope in the source


@dataclass(eq=False)
class Block:
    name: str
    params: list                    # parameter names
    body: list                      # items of the first instance (template)
    slots: dict                     # id(layer in template) -> parameter name, for its width
    aux: bool = False
    depth: int = 1                  # path segments of an instance's scope in the IR
    family: list | None = None      # the bodies of one source block (its variants), this one among them


@dataclass
class _Ctx:
    net: Net
    g: nx.DiGraph
    classes: int | None = None
    classifier: str | None = None
    naming: str = "stage"
    names: dict = field(default_factory=dict)      # layer name -> name to write (full, scoped)
    explicit: set = field(default_factory=set)     # layer names written with `as`
    acts: set = field(default_factory=set)         # layer names written with act=
    unfold: set = field(default_factory=set)       # ids of repeat runs to write out
    template: dict = field(default_factory=dict)   # layer name in an instance -> layer name in its block's body
    idx: dict = field(default_factory=dict)        # layer name -> layer
    blocks: list = field(default_factory=list)


def _last(items: list) -> str:
    it = items[-1]
    if it.kind == "call":
        return _last(it.body)
    if it.kind == "repeat":
        return it.run[-1].name
    return it.layer.name


# ------------------------------------------------------------------ simplification
def simplify(net: Net) -> Net:
    """Fold activations into the layer before them, drop flatten before FC and passthroughs."""
    layers = [Layer(l.name, l.kind, dict(l.params), list(l.inputs), l.where, l.act, l.source_type) for l in net.layers]
    idx = {l.name: l for l in layers}
    consumers: dict[str, list] = {}
    for l in layers:
        for i in l.inputs:
            consumers.setdefault(i, []).append(l)
    named = getattr(net, "named_outputs", None) or []      # several outputs: [(layer, key)]
    outputs = {n for n, _ in net.outputs} | {n for n, _ in named}
    drop: dict[str, str] = {}       # removed layer -> the layer it forwards
    own = getattr(net, "own_layers", set())     # activations the source wrote as layers of their own
    memo: dict = {}
    for l in layers:
        src = idx.get(l.inputs[0]) if len(l.inputs) == 1 else None
        if l.kind in ACT_KINDS and l.name not in own and src is not None and src.kind in (*WEIGHTED, "bn", "frozen-bn") and src.act is None \
                and len(consumers.get(src.name, [])) == 1 and src.name not in outputs:
            src.act = l.kind
            drop[l.name] = src.name
        elif l.kind == "identity" or (l.kind == "flatten" and l.name not in own and _feeds_fc(l, consumers, memo)):
            drop[l.name] = l.inputs[0]
    kept = []
    for l in layers:
        if l.name in drop:
            continue
        l.inputs = [_follow(i, drop) for i in l.inputs]
        if l.params.get("like") in drop:        # upsample(like=NAME): the layer that now gives NAME's value
            l.params["like"] = _follow(l.params["like"], drop)
        kept.append(l)
    outs = [(_follow(n, drop), w) for n, w in net.outputs]
    out = Net(kept, net.input, net.channels, outs, net.comments, net.name, net.source, net.softmax_head, net.probs)
    out.block_names = getattr(net, "block_names", {})    # type: ignore[attr-defined]
    out.own_layers = own                                  # type: ignore[attr-defined]
    out.skips = getattr(net, "skips", {})                 # type: ignore[attr-defined]
    out.named_joins = getattr(net, "named_joins", set())  # type: ignore[attr-defined]
    out.named_outputs = [(_follow(n, drop), k) for n, k in named]     # type: ignore[attr-defined]
    out.identity_joins = getattr(net, "identity_joins", None)         # type: ignore[attr-defined]
    return out


def _follow(name: str, drop: dict) -> str:
    while name in drop:
        name = drop[name]
    return name


def _passes_on(l: Layer) -> bool:
    """A layer between a classifier's layers that computes nothing of its own: a dropout, an activation,
    a flatten (what the kinds say: no weights, no change of what a position holds)."""
    from netc.kinds import DEFAULT
    k = DEFAULT.get(l.kind)
    return k is not None and not k.weight and (k.activation_fn or k.family == "drop") and not k.layer_refs


def _feeds_fc(l: Layer, consumers: dict, memo: dict | None = None) -> bool:
    """Whether ``l`` feeds only FC layers, through a chain of dropout / relu / flatten. Every layer
    on that chain has the same answer: ``memo`` keeps it, so a long chain is walked once."""
    memo = {} if memo is None else memo
    chain = [l.name]
    seen = consumers.get(l.name, [])
    while len(seen) == 1 and _passes_on(seen[0]) and seen[0].name not in memo:
        chain.append(seen[0].name)
        seen = consumers.get(seen[0].name, [])
    if len(seen) == 1 and seen[0].name in memo and _passes_on(seen[0]):
        out = memo[seen[0].name]
    else:
        out = bool(seen) and all(c.kind == "fc" for c in seen)
    for n in chain:
        memo[n] = out
    return out


def _graph(net: Net) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_node("input")
    for l in net.layers:
        g.add_node(l.name)
        for i in l.inputs:
            if i not in g:
                raise fail(f"it reads '{i}', which no layer before it produces", l)
            g.add_edge(i, l.name)
    return g


def _pair(v, default=1):
    if v is None:
        return (default, default)
    return (int(v[0]), int(v[1])) if isinstance(v, (list, tuple)) else (int(v), int(v))


# ------------------------------------------------------------------ series-parallel structure
def _seq(ctx: _Ctx, end: str, stop: str, idom: dict) -> list:
    """The items on the path from ``stop`` (exclusive) to ``end``, walking back through joins."""
    out: list[Item] = []
    n = end
    while n != stop:
        if n == "input":
            raise fail(f"it is not reached from '{stop}' alone: netc cannot print this graph as branches and joins",
                       ctx.idx[end])
        l = ctx.idx[n]
        preds = l.inputs
        if l.kind in JOINS and len(preds) > 1:
            fork = idom[n]
            skips = [p for p in preds if p in getattr(ctx.net, "skips", {}).get(n, ())]
            rest = [p for p in preds if p not in skips]
            if skips and len(rest) == 1:   # U-Net's skip: `from conv4_2` beside the path it joins
                fork = rest[0]
                out.append(Item("group", l, branches=[[Item("from", ctx.idx.get(p) or Layer(p, "input"))] if p in skips else []
                                                      for p in preds]))
                n = fork
                continue
            out.append(Item("group", l, branches=[_seq(ctx, p, fork, idom) if p != fork else [] for p in preds]))
            n = fork
            continue
        if len(preds) != 1:
            raise fail(f"it reads {len(preds)} inputs; netc joins branches only with concat or add", l)
        out.append(Item("layer", l))
        n = preds[0]
    out.reverse()
    return out


def _layers(items: list) -> list:
    out = []
    for it in items:
        if it.kind == "group":
            for b in it.branches:
                out += _layers(b)
            out.append(it.layer)
        elif it.kind == "call":
            out += _layers(it.body)
        elif it.kind == "repeat":
            out += it.run
        elif it.kind != "from":
            out.append(it.layer)
    return out


def _groups(items: list) -> list:
    out = []
    for it in items:
        if it.kind == "group":
            out.append(it)
            for b in it.branches:
                out += _groups(b)
    return out


def _path(name: str) -> list:
    return [s for s in name.split("/") if s]


def _aux_name(net: Net, nodes: set, out: str) -> str:
    firsts = {_path(n)[0] for n in nodes if len(_path(n)) > 1}
    if len(firsts) == 1 and all(len(_path(n)) > 1 for n in nodes):
        return _label(firsts.pop())
    return _label(_path(out)[0]) + "_aux"


def _label(s: str) -> str:
    """A source's name as a netc name: other characters as ``_``, and no part (between ``/``) that
    netc reserves (``..`` is ``__``, a dunder: left out; ``forward`` is ``forward_``)."""
    s = re.sub(r"[^A-Za-z0-9_\-/]", "_", s).strip("/")
    if "/" in s or is_reserved(s):
        s = "/".join(p for p in map(_unreserved, s.split("/")) if p)
    s = re.sub(r"^-+", "", s)
    return s or "layer"


def _unreserved(part: str) -> str:
    if not is_reserved(part):
        return part
    bare = part.strip("_")
    return bare + "_" if bare and is_reserved(bare) else bare
