"""One printer from a neutral layer graph (:class:`~netc.importers.graph.Net`) to spec text.

What comes out reads like a person wrote it:

- layers in the papers' notation (``conv3-64``, ``maxpool3/2(ceil)``, ``FC-4096``, ``LRN``); an
  activation that follows a conv / FC is folded into it and written only where netc's ``auto``
  would not give it; ``(ceil)`` only where rounding up changes the output size;
- a ``concat`` / ``add`` of branches that fork from one layer is written as a group;
- runs of identical layers are folded (``conv3-512 x3``);
- subgraphs that share a name scope (``inception_3a/...``) and the same structure, differing only
  in widths, become one parameterised block called once per instance
  (``block inception(n1, r3, n3, r5, n5, pp)``); identical side-output heads become one block;
- names are written only where netc would generate other ones (checked by loading the text);
- side outputs are ``aux NAME on LAYER weight W``;
- the result goes through ``netc fmt``.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import networkx as nx

from .graph import Layer, Net, fail

WEIGHTED = ("conv", "fc")
ACT_KINDS = ("relu", "sigmoid", "tanh")


# ------------------------------------------------------------------ items
@dataclass(eq=False)
class Item:
    kind: str                       # layer | group | call | repeat
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


@dataclass
class _Ctx:
    net: Net
    g: nx.DiGraph
    shapes: dict
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


def to_spec(net: Net, header: list[str] | None = None, verify: bool = True, order: list | None = None) -> str:
    """The spec text of ``net`` (see the module docstring). ``order``, a list, receives the
    source's layer names in the order the spec builds them (main network, then side outputs)."""
    from netc.dsl.fmt import format_text
    net = simplify(net)
    g = _graph(net)
    ctx = _Ctx(net, g, shapes(net), idx=net.index())
    main_out = net.outputs[0][0] if net.outputs else net.layers[-1].name
    head = net.layer(main_out)
    if head.kind == "softmax" and len(head.inputs) == 1 and head.inputs[0] != "input":
        head = net.layer(head.inputs[0])
    if head.kind == "fc":
        ctx.classes, ctx.classifier = head.params.get("out"), head.name
    idom = nx.immediate_dominators(g, "input")
    main_nodes = nx.ancestors(g, main_out) | {main_out}
    main = _seq(ctx, main_out, "input", idom)
    auxes = []
    for name, weight in net.outputs[1:]:
        nodes = (nx.ancestors(g, name) | {name}) - main_nodes
        first = [n for n in nodes if not any(p in nodes for p in g.predecessors(n))]
        if len(first) != 1 or len(list(g.predecessors(first[0]))) != 1:
            raise fail("a side output must hang off one layer of the main network", net.layer(name))
        attach = next(iter(g.predecessors(first[0])))
        auxes.append([_aux_name(net, nodes, name), attach, weight, _seq(ctx, name, attach, idom)])
    covered = main_nodes | {n for a in auxes for n in (nx.ancestors(g, _last(a[3])) | {_last(a[3])})}
    for l in net.layers:
        if l.name not in covered:
            raise fail("it feeds no output of the network; netc cannot print a layer whose result is unused", l)
    main = _fold_blocks(ctx, main, aux=False)
    for a in auxes:
        a[3] = _strip_scope(a[3], a[0])
    _fold_aux(ctx, auxes)
    for a in auxes:
        a[3] = _fold_blocks(ctx, a[3], aux=False, prefix=a[0] + "/")
    main = _repeats(main)
    for a in auxes:
        a[3] = _repeats(a[3])
    _desired_names(ctx, main, auxes)
    best = None
    for naming in ("stage", "sequential"):     # VGG's conv1_1 ... or AlexNet's conv1 ...: fewer names wins
        ctx.naming, ctx.explicit, ctx.acts, ctx.unfold = naming, set(), set(), set()
        for _ in range(4):
            text = _render(ctx, main, auxes, header or [])
            if not verify or not _fix(ctx, text, main, auxes):
                break
        top = ctx.explicit - set(ctx.template.values())     # names in block bodies are the same either way
        if best is None or len(top) < best[0]:
            best = (len(top), text)
        if not verify or not top:
            break
    if order is not None:
        order[:] = [l.name for l, _ in _slots(main, auxes)]
    return format_text(best[1])


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
    outputs = {n for n, _ in net.outputs}
    drop: dict[str, str] = {}       # removed layer -> the layer it forwards
    for l in layers:
        src = idx.get(l.inputs[0]) if len(l.inputs) == 1 else None
        if l.kind in ACT_KINDS and src is not None and src.kind in (*WEIGHTED, "bn") and src.act is None \
                and len(consumers.get(src.name, [])) == 1 and src.name not in outputs:
            src.act = l.kind
            drop[l.name] = src.name
        elif l.kind == "identity" or (l.kind == "flatten" and _feeds_fc(l, consumers)):
            drop[l.name] = l.inputs[0]
    kept = []
    for l in layers:
        if l.name in drop:
            continue
        l.inputs = [_follow(i, drop) for i in l.inputs]
        kept.append(l)
    outs = [(_follow(n, drop), w) for n, w in net.outputs]
    out = Net(kept, net.input, net.channels, outs, net.comments, net.name, net.source, net.softmax_head)
    out.block_names = getattr(net, "block_names", {})    # type: ignore[attr-defined]
    return out


def _follow(name: str, drop: dict) -> str:
    while name in drop:
        name = drop[name]
    return name


def _feeds_fc(l: Layer, consumers: dict) -> bool:
    seen = consumers.get(l.name, [])
    while len(seen) == 1 and seen[0].kind in ("dropout", "relu", "flatten"):
        seen = consumers.get(seen[0].name, [])
    return bool(seen) and all(c.kind == "fc" for c in seen)


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


# ------------------------------------------------------------------ shapes (for ceil and padding)
def shapes(net: Net) -> dict:
    """Output (C, H, W) or (N,) of every layer at the input size; None where unknown."""
    out: dict = {"input": net.input if net.input and None not in net.input else None}
    for l in net.layers:
        ins = [out.get(i) for i in l.inputs]
        try:
            out[l.name] = _shape(l, ins)
        except (TypeError, ValueError, ZeroDivisionError):
            out[l.name] = None
    return out


def _pair(v, default=1):
    if v is None:
        return (default, default)
    return (int(v[0]), int(v[1])) if isinstance(v, (list, tuple)) else (int(v), int(v))


def pool_size(a: int, k: int, s: int, p: int, ceil: bool) -> int:
    n = (a + 2 * p - k) / s
    o = (math.ceil(n) if ceil else math.floor(n)) + 1
    if ceil and (o - 1) * s >= a + p:      # the last window must start inside the input (Caffe, PyTorch)
        o -= 1
    return o


def _shape(l: Layer, ins: list):
    x = ins[0] if ins else None
    if l.kind == "concat":
        return None if any(i is None for i in ins) else (sum(i[0] for i in ins), *ins[0][1:])
    if x is None:
        return None
    p = l.params
    if l.kind == "conv":
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (_pair(p.get("k")), _pair(p.get("stride")), _pair(p.get("pad"), 0),
                                                  _pair(p.get("dilation")))
        return (p["out"], (x[1] + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (x[2] + 2 * pw - dw * (kw - 1) - 1) // sw + 1)
    if l.kind in ("maxpool", "avgpool"):
        (kh, kw), (sh, sw), (ph, pw) = _pair(p.get("k")), _pair(p.get("stride")), _pair(p.get("pad"), 0)
        c = bool(p.get("ceil"))
        return (x[0], pool_size(x[1], kh, sh, ph, c), pool_size(x[2], kw, sw, pw, c))
    if l.kind == "fc":
        return (p["out"],)
    if l.kind in ("gap", "gmp"):
        return (x[0], 1, 1)
    if l.kind == "adaptive_avgpool":
        o = _pair(p.get("out"))
        return (x[0], *o)
    if l.kind == "flatten":
        return (math.prod(x),)
    return x


# ------------------------------------------------------------------ series-parallel structure
def _seq(ctx: _Ctx, end: str, stop: str, idom: dict) -> list:
    """The items on the path from ``stop`` (exclusive) to ``end``, walking back through joins."""
    out: list[Item] = []
    n = end
    g = ctx.g
    while n != stop:
        if n == "input":
            raise fail(f"it is not reached from '{stop}' alone: netc cannot print this graph as branches and joins",
                       ctx.idx[end])
        l = ctx.idx[n]
        preds = l.inputs
        if l.kind in ("concat", "add") and len(preds) > 1:
            fork = idom[n]
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
        else:
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


def _strip_scope(items: list, scope: str) -> list:
    return items   # names inside an aux head are made relative when names are chosen


# ------------------------------------------------------------------ blocks
def _prefix(it: Item, depth: int) -> str | None:
    if it.kind == "call":
        return None
    joins = {id(x.layer) for x in _groups([it])}
    ls = [l for l in _layers([it]) if id(l) not in joins]   # a join's name may be the tool's, not the scope's
    heads = {tuple(_path(l.name)[:depth + 1]) for l in ls}
    if len(heads) == 1 and all(len(_path(l.name)) > depth + 1 for l in ls):
        return heads.pop()[-1]
    return None


def _fold_blocks(ctx: _Ctx, items: list, aux: bool, prefix: str = "") -> list:
    """Runs of items under one name scope become block instances where two or more agree."""
    depth = len(_path(prefix))
    runs: list = []         # (scope or None, [items])
    for it in items:
        p = _prefix(it, depth)
        if p is not None and runs and runs[-1][0] == p:
            runs[-1][1].append(it)
        else:
            runs.append((p, [it]))
    cands: dict = {}
    for p, its in runs:
        if p is not None and len(_layers(its)) > 1:
            cands.setdefault(_signature(its), []).append((p, its))
    out: list = []
    made: dict = {}
    for p, its in runs:
        sig = _signature(its) if p is not None else None
        group = cands.get(sig) if sig is not None else None
        if not group or len(group) < 2:
            out += its
            continue
        if sig not in made:
            made[sig] = _make_block(ctx, [x[1] for x in group], [x[0] for x in group], aux)
        blk = made[sig]
        out.append(Item("call", block=blk, inst=(prefix + p), body=its, args=_args(ctx, blk, its),
                        src_depth=len(_path(prefix + p))))
        blk.depth = len(_path(prefix + p))
    return out


def _widths(items: list) -> list:
    return [l for l in _layers(items) if l.kind in WEIGHTED]


def _local(l: Layer, depth: int) -> str:
    return "/".join(_path(l.name)[depth:])


def _signature(items: list, depth: int | None = None):
    ls = _layers(items)
    if depth is None:
        depth = min(len(_path(l.name)) for l in ls) - 1
    def sig(it):
        if it.kind == "group":
            return ("group", it.layer.kind, tuple(tuple(sig(x) for x in b) for b in it.branches))
        l = it.layer
        ps = tuple(sorted((k, repr(v)) for k, v in l.params.items() if k != "out" or l.kind not in WEIGHTED))
        return (l.kind, ps, l.act, _path(l.name)[-1])
    return tuple(sig(it) for it in items)


def _make_block(ctx: _Ctx, instances: list, names: list, aux: bool) -> Block:
    ws = [[l.params.get("out") for l in _widths(its)] for its in instances]
    template = _widths(instances[0])
    slots, params = {}, []
    for i, l in enumerate(template):
        vals = {w[i] for w in ws}
        is_classes = ctx.classes is not None and vals == {ctx.classes} and l.kind == "fc"
        if len(vals) > 1 or is_classes:
            name = "classes" if is_classes else _param_name(_path(l.name)[-1], l, params)
            slots[id(l)] = name
            params.append(name)
    hints = {getattr(ctx.net, "block_names", {}).get(n) for n in names}
    if len(hints) == 1 and None not in hints:
        name = hints.pop()          # the source knows its blocks' names (a module netc compiled)
    elif aux:
        name = "aux_classifier"
    else:
        name = _block_name(names)
    taken = {b.name for b in ctx.blocks}
    base, n = name, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    blk = Block(name, params, instances[0], slots, aux)
    tmpl = _layers(instances[0])
    for its in instances:
        for a, b in zip(_layers(its), tmpl):
            ctx.template[a.name] = b.name
    ctx.blocks.append(blk)
    return blk


def _args(ctx: _Ctx, blk: Block, its: list) -> list:
    out = []
    tmpl = _widths(blk.body)
    mine = _widths(its)
    for t, l in zip(tmpl, mine):
        if id(t) in blk.slots:
            v = l.params.get("out")
            out.append("num_classes" if blk.slots[id(t)] == "classes" else str(v))
    return out


def _param_name(local: str, l: Layer, taken: list) -> str:
    m = re.fullmatch(r"(\d+)x\d+(_reduce)?", local)
    if m:
        base = ("r" if m.group(2) else "n") + m.group(1)
    else:
        parts = [p for p in re.split(r"[^A-Za-z0-9]+", local) if p]
        base = "".join(p[0] for p in parts).lower() if len(parts) > 1 else (parts[0].lower() if parts else "c")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", base) or base in ("conv", "fc", "lrn", "bn", "relu", "x"):
            base = "c"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}{n}", n + 1
    return name


def _block_name(names: list) -> str:
    pre = names[0]
    for n in names[1:]:
        while not n.startswith(pre):
            pre = pre[:-1]
    pre = re.sub(r"[^A-Za-z]+$", "", pre)
    return _label(pre) if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", pre or "") else "unit"


def _fold_aux(ctx: _Ctx, auxes: list) -> None:
    """Two or more side-output heads of the same structure become one block (``aux_classifier``)."""
    if len(auxes) < 2:
        return
    sigs = [_signature(a[3], depth=len(_path(a[0]))) for a in auxes]
    if len(set(sigs)) != 1 or len(_layers(auxes[0][3])) < 2:
        return
    insts = []
    for a in auxes:
        d = len(_path(a[0]))
        inner = {tuple(_path(l.name)[d:d + 1]) for l in _layers(a[3]) if len(_path(l.name)) > d + 1}
        own = len(inner) == 1 and all(len(_path(l.name)) > d + 1 for l in _layers(a[3]))
        insts.append((f"{a[0]}/{inner.pop()[0]}" if own else f"{a[0]}/head", d + 1 if own else d))  # the source's scope, or "head"
    blk = _make_block(ctx, [a[3] for a in auxes], [i for i, _ in insts], aux=True)
    for a, (inst, depth) in zip(auxes, insts):
        a[3] = [Item("call", block=blk, inst=inst, body=a[3], args=_args(ctx, blk, a[3]), src_depth=depth)]
    blk.depth = len(_path(auxes[0][0])) + 1


# ------------------------------------------------------------------ repetition
def _repeats(items: list) -> list:
    out: list = []
    for it in items:
        if it.kind == "group":
            it.branches = [_repeats(b) for b in it.branches]
        if it.kind == "layer" and out and out[-1].kind in ("layer", "repeat") and it.layer.kind != "softmax":
            prev = out[-1]
            first = prev.layer
            if _same_layer(first, it.layer):
                if prev.kind == "layer":
                    out[-1] = Item("repeat", first, count=2, run=[first, it.layer])
                else:
                    prev.count += 1
                    prev.run.append(it.layer)
                continue
        out.append(it)
    return out


def _same_layer(a: Layer, b: Layer) -> bool:
    return a.kind == b.kind and a.params == b.params and a.act == b.act


# ------------------------------------------------------------------ names
_DECORATION = re.compile(r"^(\d+x\d+)(_s\d+)?$")


def _label(s: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_\-/]", "_", s).strip("/")
    s = re.sub(r"^-+", "", s)
    return s or "layer"


def _top_name(name: str) -> str:
    """A top-level source name as netc would write it. Caffe decorates names with the window
    (``conv1/7x7_s2``, ``pool5/drop_7x7_s1``): the spec's word already says that."""
    parts = _path(name)
    if len(parts) == 2:
        a, b = parts
        if _DECORATION.match(b):
            return _label(a)
        m = re.fullmatch(r"\d+x\d+_(reduce)", b)
        if m:
            return _label(f"{a}_reduce")
        b = re.sub(r"_\d+x\d+(_s\d+)?$", "", b)
        return _label(b)
    return _label(name)


def _desired_names(ctx: _Ctx, main: list, auxes: list) -> None:
    """The full name each layer should have in the IR: scope + local name."""
    def walk(items, scope: str, depth: int, top: bool):
        for it in items:
            if it.kind == "call":
                inst = it.inst if "/" in it.inst else _label(it.inst)
                walk(it.body, inst, it.src_depth, False)
                continue
            for l in _own(it):
                if l.name.startswith("#"):
                    continue        # an anonymous layer (no name in the source): netc names it
                if top:
                    local = _top_name(l.name)
                else:
                    local = _label(_local(l, depth))
                ctx.names[l.name] = f"{scope}/{local}" if scope else local
            for b in it.branches:
                walk(b, scope, depth, top)
    walk(main, "", 0, True)
    for name, attach, weight, items in auxes:
        walk(items, name, len(_path(name)), False)
    seen: dict = {}
    for k, v in list(ctx.names.items()):
        if v in seen:       # two layers would get one name: keep the source's names
            ctx.names[k] = _label(k)
            ctx.names[seen[v]] = _label(seen[v])
        seen[v] = k


def _own(it: Item) -> list:
    if it.kind == "repeat":
        return it.run
    return [it.layer] if it.layer is not None else []


# ------------------------------------------------------------------ rendering
def fmt_num(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v == int(v) and abs(v) < 1e9:
            return str(int(v)) if abs(v) >= 1 or v == 0 else repr(v)
        s = "%.6g" % v
        return s
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(fmt_num(x) for x in v) + "]"
    return str(v)


def _dim(v) -> str:
    h, w = _pair(v)
    return str(h) if h == w else f"{h}x{w}"


def word(ctx: _Ctx, l: Layer, width: str | None = None) -> str:
    """The layer as the paper writes it, with the keyword arguments it needs."""
    p, kw = l.params, []
    out = width if width is not None else (
        "num_classes" if ctx.classes is not None and l.name == ctx.classifier else fmt_num(p.get("out")))
    k = l.kind
    if k == "conv":
        kh, kw_ = _pair(p.get("k"))
        sh, sw = _pair(p.get("stride"))
        dh, dw = _pair(p.get("dilation"))
        ph, pw = _pair(p.get("pad"), 0)
        w = f"conv{_dim(p.get('k'))}-{out}" + (f"/{sh}" if sh == sw and sh != 1 else "")
        if sh != sw:
            kw.append(f"stride=[{sh}, {sw}]")
        if (kh % 2 == 0 or kw_ % 2 == 0) or (ph, pw) != (dh * (kh - 1) // 2, dw * (kw_ - 1) // 2):
            kw.append(f"pad={ph}" if ph == pw else f"pad=[{ph}, {pw}]")
        if (dh, dw) != (1, 1):
            kw.append(f"dilation={dh}" if dh == dw else f"dilation=[{dh}, {dw}]")
        if p.get("groups", 1) != 1:
            kw.append(f"groups={p['groups']}")
        if p.get("bias") is False:
            kw.append("bias=false")
    elif k == "fc":
        w = f"FC-{out}"
        if p.get("bias") is False:
            kw.append("bias=false")
    elif k in ("maxpool", "avgpool"):
        kk, ss, pp = _pair(p.get("k")), _pair(p.get("stride")), _pair(p.get("pad"), 0)
        ceil = bool(p.get("ceil")) and (not p.get("ceil_implicit") or _ceil_matters(ctx, l))
        if kk == (2, 2) and ss == (2, 2) and pp == (0, 0) and not ceil and p.get("count_include_pad", True):
            w = k
        elif kk[0] == kk[1] and ss[0] == ss[1]:
            w = f"{k}{kk[0]}/{ss[0]}"
        else:
            w = k
            kw += [f"k={fmt_num(list(kk))}", f"stride={fmt_num(list(ss))}"]
        if pp != (0, 0):
            kw.append(f"pad={pp[0]}" if pp[0] == pp[1] else f"pad=[{pp[0]}, {pp[1]}]")
        if k == "avgpool" and p.get("count_include_pad") is False:
            kw.append("count_include_pad=false")
        if ceil:
            kw.append("ceil")
    elif k == "lrn":
        w = "LRN"
        size, alpha, beta, kk = p.get("size", 5), p.get("alpha", 1e-4), p.get("beta", 0.75), p.get("k", 1.0)
        region = p.get("region", "across")
        if region == "across" and size == 5 and _close(alpha, 5e-4) and _close(beta, 0.75) and _close(kk, 2.0):
            pass   # Krizhevsky's constants
        else:
            if size != 5:
                kw.append(f"size={size}")
            kw.append(f"alpha={fmt_num(alpha)}")
            if not _close(beta, 0.75):
                kw.append(f"beta={fmt_num(beta)}")
            if not _close(kk, 2.0):
                kw.append(f"k={fmt_num(kk)}")
            kw.append("convention=caffe")
            if region != "across":
                kw.append(f"region={region}")
    elif k == "bn":
        w = "bn"
        if not _close(p.get("eps", 1e-5), 1e-5):
            kw.append(f"eps={fmt_num(p['eps'])}")
        if not _close(p.get("momentum", 0.1), 0.1):
            kw.append(f"momentum={fmt_num(p['momentum'])}")
        if p.get("affine") is False:
            kw.append("affine=false")
    elif k == "dropout":
        w = f"dropout({fmt_num(p.get('p', 0.5))})"
    elif k == "softmax":
        w = "soft-max"
    elif k == "adaptive_avgpool":
        o = _pair(p.get("out"))
        w = f"adaptive-avgpool({o[0] if o[0] == o[1] else fmt_num(list(o))})"
    elif k == "spp":
        w = "spp[" + ",".join(str(x) for x in p["levels"]) + "]"
        if p.get("mode", "max") != "max":
            kw.append(f"mode={p['mode']}")
    else:
        w = k
    if l.name in ctx.acts:
        kw.append(f"act={l.act or 'none'}")
    if kw:
        w += ("(" + ", ".join(kw) + ")") if "(" not in w else ""
    return w


def _close(a, b) -> bool:
    return a is not None and math.isclose(float(a), float(b), rel_tol=1e-5)


def _ceil_matters(ctx: _Ctx, l: Layer) -> bool:
    x = ctx.shapes.get(l.inputs[0]) if l.inputs else None
    if x is None or len(x) != 3:
        return True
    p = l.params
    (kh, kw), (sh, sw), (ph, pw) = _pair(p.get("k")), _pair(p.get("stride")), _pair(p.get("pad"), 0)
    return (pool_size(x[1], kh, sh, ph, True), pool_size(x[2], kw, sw, pw, True)) != \
           (pool_size(x[1], kh, sh, ph, False), pool_size(x[2], kw, sw, pw, False))


def _as(ctx: _Ctx, l: Layer, scope_depth: int) -> str:
    if l.name not in ctx.explicit:
        return ""
    return " as " + "/".join(_path(ctx.names[l.name])[scope_depth:])


class _Out:
    def __init__(self):
        self.lines: list[str] = []

    def add(self, depth: int, text: str):
        self.lines.append("    " * depth + text)


def _render(ctx: _Ctx, main: list, auxes: list, header: list[str]) -> str:
    o = _Out()
    for c in header:
        o.add(0, f"# {c}" if c else "#")
    net = ctx.net
    if net.input:
        c, h, w = net.input
        ch = net.channels or {1: "gray", 3: "RGB", 4: "RGBA"}.get(c, f"{c}ch")
        size = f"{h}x{w}" if h is not None else "HxW"
        o.add(0, f"input {size} {ch}")
    if ctx.classes is not None:
        o.add(0, f"var num_classes = {ctx.classes}")
    if ctx.naming != "stage":
        o.add(0, f"naming {ctx.naming}")
    rendered = set()
    for blk in ctx.blocks:
        if blk.name in rendered:
            continue
        rendered.add(blk.name)
        o.add(0, "")
        o.add(0, f"block {blk.name}({', '.join(blk.params)}) {{")
        _items(ctx, o, blk.body, 1, blk.depth, blk)
        o.add(0, "}")
    o.add(0, "")
    _items(ctx, o, main, 0, 0, None)
    if net.softmax_head and not (main and main[-1].kind == "layer" and main[-1].layer.kind == "softmax"):
        o.add(0, "soft-max")
    for name, attach, weight, items in auxes:
        target = _attach_name(ctx, attach, main)
        wt = f" weight {fmt_num(weight)}" if weight is not None else ""
        if len(items) == 1 and items[0].kind == "call":
            o.add(0, f"aux {name} on {target}{wt} {{ {_call(items[0], 1)} }}")
            continue
        o.add(0, f"aux {name} on {target}{wt} {{")
        _items(ctx, o, items, 1, len(_path(name)), None)
        o.add(0, "}")
    return "\n".join(o.lines) + "\n"


def _call(it: Item, depth: int) -> str:
    return f"{it.block.name}({', '.join(it.args)}) as {_path(it.inst)[-1]}"


def _attach_name(ctx: _Ctx, attach: str, main: list) -> str:
    for it in main:
        if it.kind == "call" and _last(it.body) == attach:
            return _label(it.inst)
    return ctx.names.get(attach, _label(attach))


def _items(ctx: _Ctx, o: _Out, items: list, depth: int, scope: int, blk: Block | None) -> None:
    for it in items:
        if it.kind == "call":
            o.add(depth, _call(it, depth))
        elif it.kind == "group":
            join = it.layer
            name = _as(ctx, join, scope)
            o.add(depth, f"{join.kind}{name} {{")
            for b in it.branches:
                _branch(ctx, o, b, depth + 1, scope, blk)
            o.add(depth, "}")
        elif it.kind == "repeat" and id(it) in ctx.unfold:
            for l in it.run:
                o.add(depth, word(ctx, l, _width(blk, l)) + _as(ctx, l, scope))
        else:
            o.add(depth, _one(ctx, it, scope, blk))


def _one(ctx: _Ctx, it: Item, scope: int, blk: Block | None) -> str:
    if it.kind == "repeat":
        if id(it) not in ctx.unfold:
            return f"{word(ctx, it.layer, _width(blk, it.layer))} x{it.count}"
        return " -> ".join(word(ctx, l, _width(blk, l)) + _as(ctx, l, scope) for l in it.run)
    return word(ctx, it.layer, _width(blk, it.layer)) + _as(ctx, it.layer, scope)


def _width(blk: Block | None, l: Layer) -> str | None:
    return blk.slots.get(id(l)) if blk is not None else None


def _branch(ctx: _Ctx, o: _Out, items: list, depth: int, scope: int, blk: Block | None) -> None:
    if not items:
        o.add(depth, "identity")
    elif all(it.kind in ("layer", "repeat") for it in items):
        o.add(depth, " -> ".join(_one(ctx, it, scope, blk) for it in items))
    else:
        o.add(depth, "{")
        _items(ctx, o, items, depth + 1, scope, blk)
        o.add(depth, "}")


# ------------------------------------------------------------------ verification: names and activations
def _fix(ctx: _Ctx, text: str, main: list, auxes: list) -> bool:
    """Load ``text``; where netc's generated name or resolved activation differs from the
    source's, mark the layer to be written explicitly. True when something changed."""
    import netc
    ir = netc.loads(text)
    want = _slots(main, auxes)
    nodes = [n for n in ir.layers() if n.kind not in ("concat", "add", "identity")]
    if ctx.net.softmax_head and len(nodes) == len(want) + 1 and nodes[len(_slots(main, []))].kind == "softmax":
        nodes.pop(len(_slots(main, [])))
    if len(nodes) != len(want):
        raise fail(f"internal: the printed spec has {len(nodes)} layers, the source {len(want)}")
    changed = False
    for (l, it), n in zip(want, nodes):
        target = ctx.names.get(l.name)
        t = ctx.template.get(l.name, l.name)
        if target is not None and n.name != target and t not in ctx.explicit:
            ctx.explicit.add(t)
            if it is not None and it.kind == "repeat":
                ctx.unfold.add(id(it))
            changed = True
        want_act = l.act or "none"
        if l.kind in (*WEIGHTED, "bn") and n.act != want_act and t not in ctx.acts:
            ctx.acts.add(t)
            if it is not None and it.kind == "repeat":
                ctx.unfold.add(id(it))
            changed = True
    return changed


def _slots(main: list, auxes: list) -> list:
    out = []

    def walk(items, owner):
        for it in items:
            if it.kind == "call":
                walk(it.body, it)
            elif it.kind == "group":
                for b in it.branches:
                    walk(b, owner)
            elif it.kind == "repeat":
                out.extend((l, it) for l in it.run)
            else:
                out.append((it.layer, owner or it))
    walk(main, None)
    for a in auxes:
        walk(a[3], None)
    return out
