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

import re

import networkx as nx

from netc.importers.fold import _fold_aux, _fold_blocks, _local, _repeats, common_name, fold_structure
from netc.dsl.errors import NetcError, NetcErrors, Span, raise_all

from netc.importers.graph import ImportError_, Layer, Net, fail
from netc.importers.structure import (JOINS, WEIGHTED, Block, Item, _aux_name, _Ctx, _graph, _label, _last, _layers, _path, _seq,
                                      simplify)
from netc.importers.words import fmt_num, word


def _prob(kind: str) -> bool:
    """Whether a layer of ``kind`` turns scores into probabilities (the soft-max: role ``prob``)."""
    from netc.kinds import DEFAULT
    k = DEFAULT.get(kind)
    return k is not None and k.role == "prob"


def to_spec(net: Net, header: list[str] | None = None, verify: bool = True, order: list | None = None) -> str:
    """The spec text of ``net`` (see the module docstring). ``order``, a list, receives the
    source's layer names in the order the spec builds them (main network, then side outputs)."""
    from netc.dsl.fmt import format_text
    locate = getattr(net, "locate", None)       # the importer's: a layer's place in its source file
    net = simplify(net)
    _max_layers(net, locate)
    g = _graph(net)
    ctx = _Ctx(net, g, idx=net.index())
    main_out = net.outputs[0][0] if net.outputs else net.layers[-1].name
    head = net.layer(main_out)
    if _prob(head.kind) and len(head.inputs) == 1 and head.inputs[0] != "input":
        head = net.layer(head.inputs[0])
    if head.kind == "fc":
        ctx.classes, ctx.classifier = head.params.get("out"), head.name
    idom = nx.immediate_dominators(g, "input")
    named = getattr(net, "named_outputs", None)     # several outputs: the layers in order, `from` between
    main_nodes = set().union(*(nx.ancestors(g, o) | {o} for o, _ in (named or [(main_out, None)])))
    if named:
        from netc.importers.linear import sequence
        main = sequence([l for l in net.layers if l.name in main_nodes], [o for o, _ in named],
                        getattr(net, "identity_joins", None))
    else:
        main = _seq(ctx, main_out, "input", idom)
        main = _unshared(main, set())
    auxes = []
    for name, weight in net.outputs[1:]:
        nodes = (nx.ancestors(g, name) | {name}) - main_nodes
        first = [n for n in nodes if not any(p in nodes for p in g.predecessors(n))]
        if len(first) != 1 or len(list(g.predecessors(first[0]))) != 1:
            raise fail("a side output must hang off one layer of the main network", net.layer(name))
        attach = next(iter(g.predecessors(first[0])))
        aux = _aux_name(net, nodes, name)
        if not any("/" in n for n in nodes):      # loss1_ave_pool, loss1_conv ...: loss1
            aux = common_name(nodes) or aux
        auxes.append([aux, attach, weight, _seq(ctx, name, attach, idom)])
    covered = main_nodes | {n for a in auxes for n in (nx.ancestors(g, _last(a[3])) | {_last(a[3])})}
    for l in net.layers:
        if l.name not in covered:
            raise fail("it feeds no output of the network; netc cannot print a layer whose result is unused", l)
    keep = frozenset(a[1] for a in auxes)
    ctx.aux_attach = keep       # type: ignore[attr-defined]
    if getattr(net, "block_names", None):     # the source names its blocks (a module netc compiled): those first
        main = _fold_blocks(ctx, main, aux=False)
        main = fold_structure(ctx, main, keep)
    else:                                     # by structure, then what the names group beside it
        main = fold_structure(ctx, main, keep)
        main = _fold_blocks(ctx, main, aux=False)
    _fold_aux(ctx, auxes)
    for a in auxes:
        a[3] = _fold_blocks(ctx, a[3], aux=False, prefix=a[0] + "/")
    main = _repeats(main)
    for a in auxes:
        a[3] = _repeats(a[3])
    _desired_names(ctx, main, auxes)
    ctx.main_items = main       # type: ignore[attr-defined]   (ref_name: an instance named by its output)
    best = None
    for naming in ("stage", "sequential"):     # VGG's conv1_1 ... or AlexNet's conv1 ...: fewer names wins
        ctx.naming, ctx.explicit, ctx.acts, ctx.unfold = naming, set(), set(), set()
        _pin_from(ctx, main + [it for a in auxes for it in a[3]])
        ctx.explicit |= {ctx.template.get(n, n) for n in getattr(net, "named_joins", ())}
        for _ in range(4):
            text = _render(ctx, main, auxes, header or [])
            try:
                if not verify or not _fix(ctx, text, main, auxes):
                    break
            except NetcError as e:      # an error in the printed text is one in the source: say where
                if _printers(e):
                    raise _printer_bug(e, text, net) from None
                raise _in_source(e, text, ctx, locate) from None
        top = ctx.explicit - set(ctx.template.values())     # names in block bodies are the same either way
        if best is None or len(top) < best[0]:
            best = (len(top), text)
        if not verify or not top:
            break
    if order is not None:
        order[:] = [l.name for l, _ in _slots(main, auxes)]
    out = format_text(best[1])
    if verify:                  # what is written is what was checked: parsed and elaborated once more
        import netc
        try:
            ir = netc.loads(out)
        except NetcError as e:
            raise _printer_bug(e, out, net) from None
        if len(_written(ir)) < len(_slots(main, auxes)):
            raise _printer_bug(ImportError_("netc fmt lost layers of the printed spec"), out, net)
    return out


def _unshared(items: list, seen: set) -> list:
    """``items`` with each layer written once. The walk back through dominators writes a branch as
    the whole path from the fork, so the layers two branches of a join share are written in both
    (DLA's tree: ``concat(tree2(x1), x1)``, ``x1`` in both branches). A branch whose first
    layers an earlier line already wrote starts ``from`` the last of them. ``seen``: the layers
    written so far, in the text's order (every layer's inputs are written before it)."""
    out = []
    for it in items:
        if it.kind == "group":
            it.branches = [_unshared_branch(b, seen) for b in it.branches]
        elif it.kind == "call":
            it.body = _unshared(it.body, seen)
        seen.update(_names_written(it))
        out.append(it)
    return out


def _unshared_branch(items: list, seen: set) -> list:
    last = max((k for k, it in enumerate(items) if it.kind != "from" and _names_written(it)
                and _names_written(it) <= seen), default=-1)
    if last < 0:
        return _unshared(items, seen)
    head = Item("from", _out_layer(items[last]))
    return [head] + _unshared(items[last + 1:], seen)


def _out_layer(it: Item) -> Layer:
    """The layer whose output is ``it``'s (a group's join, a run's last layer)."""
    if it.kind == "repeat":
        return it.run[-1]
    if it.kind == "call":
        return _out_layer(it.body[-1])
    return it.layer


def _names_written(it: Item) -> set:
    return {l.name for l in _layers([it])}


#: what an error of the printed text says where the printer, not the source, is at fault: a name
#: the language refuses, text that does not parse, a word or block it does not know
_PRINTER_FAULT = re.compile(r"duplicate name|a name cannot contain|is reserved|name of a built-in layer|"
                            r"unknown (layer|block|name|variable|word)|is not defined")


#: a syntax error that is the source's: a value beyond what the language reads (a 19-digit size)
_SOURCE_SYNTAX = re.compile(r"digits|larger than|more than|at most|too (long|large|deep)")


def _printers(e: NetcError) -> bool:
    from netc.dsl.errors import LimitError, SpecSyntaxError
    errs = e.errors if isinstance(e, NetcErrors) else [e]
    return any(_PRINTER_FAULT.search(x.message or "") or (isinstance(x, SpecSyntaxError) and not isinstance(x, LimitError)
                                                           and not _SOURCE_SYNTAX.search(x.message or ""))
               for x in errs)


def _printer_bug(e: NetcError, text: str, net: Net) -> ImportError_:
    """An internal error: the spec printed for ``net`` does not read back. Nothing is written."""
    errs = e.errors if isinstance(e, NetcErrors) else [e]
    x = errs[0]
    lines = text.splitlines()
    line = x.span.line if x.span is not None and x.span.source is not None else 0
    at = f" (printed line {line}: {lines[line - 1].strip()[:120]!r})" if 0 < line <= len(lines) else ""
    src = net.source or "the source"
    return ImportError_(f"internal error: the spec printed for {src} does not read back: {x.message}{at}",
                        hint="this is a bug in netc import, not in the file; nothing was written. Please report it "
                             "with the file")


def _max_layers(net: Net, locate) -> None:
    """A network of more layers than a spec may have (``max_layers``) is refused before it is
    printed: every one of its layers is a layer of the spec (a join too), so loading would refuse it."""
    from netc.dsl.limits import LIMITS
    most = LIMITS.get("max_layers")
    if most and len(net.layers) > most:
        l = net.layers[most]
        span = locate(l.name) if locate is not None else None
        where = f" ({l.where})" if l.where and span is None else ""
        raise ImportError_(f"layer '{l.name}' of type {l.source_type or l.kind}{where}: the network has "
                           f"{len(net.layers):,} layers, more than the limit of {most:,}", span,
                           hint="raise the limit for one run: netc --limit max_layers=N import ... "
                                "(netc.LIMITS['max_layers'])")


# ------------------------------------------------------------------ names
_DECORATION = re.compile(r"^(\d+x\d+)(_s\d+)?$")


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
    return _label(name).replace("/", "_")      # no scope at the top: a/b/c is a_b_c


def _desired_names(ctx: _Ctx, main: list, auxes: list) -> None:
    """The full name each layer should have in the IR: scope + local name."""
    merged = {id(it.block) for it in _calls(main) if it.count > 1}
    structural: list = []
    called: set = set()         # the instances the source's scopes name (features/5/0 at the top: features_5_0)

    def walk(items, scope: str, depth: int, top: bool):
        for it in items:
            if it.kind == "call" and getattr(it, "structural", False):
                structural.append(it)           # named below, once every other name is known
                continue
            if it.kind == "call":
                inst = it.inst if "/" in it.inst else _label(it.inst)
                called.add(_label(it.inst).replace("/", "_"))
                walk(it.body, inst, it.src_depth, False)
                continue
            for l in _own(it):
                if l.name.startswith("#"):
                    continue        # an anonymous layer (no name in the source): netc names it
                if top:
                    local = _top_name(l.name)
                else:
                    local = _label(_local(l, depth)).replace("/", "_")    # x1/bn in conv2_1: x1_bn
                    if not _local(l, depth):    # loss1_conv beside loss1 (no '/'): conv
                        local = _label(l.name[len(scope):].lstrip("_-.") if l.name.startswith(scope)
                                       else l.name).replace("/", "_")
                ctx.names[l.name] = f"{scope}/{local}" if scope else local
            for b in it.branches:
                walk(b, scope, depth, top)
    walk(main, "", 0, True)
    for name, attach, weight, items in auxes:
        walk(items, name, len(_path(name)), False)
    # a block found by structure: an instance is named where its layers' names share a prefix no
    # other name has (inception_3a), and its layers where every instance calls them alike; the
    # instances of a run (bottleneck(64, 256) x2) and their layers take netc's names
    taken = {_path(v)[0] for v in ctx.names.values()} | called
    for it in structural:
        if it.count > 1 or not it.inst or (it.inst in taken and not getattr(it, "pinned", False)):
            it.inst = ""
            continue
        taken.add(it.inst)
        if id(it.block) in merged:
            continue
        locs = [loc for loc in it.locals.values() if loc]
        for l in _layers(it.body):
            loc = it.locals.get(l.name)
            if loc and locs.count(loc) == 1:
                ctx.names[l.name] = f"{it.inst}/{loc}"
    seen: dict = {}
    for k, v in list(ctx.names.items()):
        if v in seen:       # two layers would get one name: keep the source's names
            ctx.names[k] = _label(k) if "/" in v else _label(k).replace("/", "_")
            ctx.names[seen[v]] = _label(seen[v]) if "/" in v else _label(seen[v]).replace("/", "_")
        seen[v] = k
    taken, kept, after = set(ctx.names.values()), set(), {}
    for k, v in list(ctx.names.items()):
        if v in kept:       # the source's names agree once made netc names (`..` and `__`): number them
            n = after.get(v, 2)
            while f"{v}_{n}" in taken:
                n += 1
            after[v] = n + 1
            ctx.names[k] = f"{v}_{n}"
            taken.add(ctx.names[k])
        kept.add(ctx.names[k])


def _calls(items: list) -> list:
    """Every call item in ``items``, in groups' branches too."""
    out = []
    for it in items:
        if it.kind == "call":
            out.append(it)
        for b in it.branches:
            out += _calls(b)
    return out


def _bodies(it: Item) -> list:
    """The items of each instance a call stands for (several for ``block(...) x n``)."""
    return [c.body for c in it.run] if it.kind == "call" and it.count > 1 else [it.body]


def _pin_from(ctx: _Ctx, items: list) -> None:
    """A layer that a ``from`` names is written with its name (out of a repeat)."""
    refs: set = set()
    runs: list = []

    def walk(its):
        for it in its:
            if it.kind == "from":
                refs.add(it.layer.name)
            elif it.kind == "repeat":
                runs.append(it)
            for b in it.branches:
                walk(b)
            if it.kind == "call":
                for body in _bodies(it):
                    walk(body)
    walk(items)
    for l in _layers(items):        # upsample(like=NAME) names the layer too, and so do the outputs
        if l.kind == "upsample" and l.params.get("like") not in (None, "input"):
            refs.add(l.params["like"])
    refs |= {o for o, _ in getattr(ctx.net, "named_outputs", None) or ()}
    refs |= {a for a in getattr(ctx, "aux_attach", ()) if a not in ctx.template}   # `aux ... on NAME`
    for r in refs:
        ctx.explicit.add(ctx.template.get(r, r))
    for it in runs:
        if any(l.name in refs for l in it.run):
            ctx.unfold.add(id(it))


def _own(it: Item) -> list:
    if it.kind == "repeat":
        return it.run
    return [it.layer] if it.layer is not None and it.kind != "from" else []


# ------------------------------------------------------------------ rendering
# ------------------------------------------------------------------ rendering
def _as(ctx: _Ctx, l: Layer, scope_depth: int) -> str:
    if l.name not in ctx.explicit or l.name not in ctx.names:
        return ""
    # a name never holds '/' (that separates an instance from its layers): the parts below the
    # scope of a layer that a block holds outside the instance its source scope names, joined
    name = "_".join(_path(ctx.names[l.name])[scope_depth:])
    return " as " + _label(name) if name else ""        # nothing below the scope: netc's name


class _Out:
    def __init__(self):
        self.lines: list[str] = []
        self.at: dict = {}          # line number -> the source layer the line writes (for errors)
        self.input = 0              # the line of the input declaration

    def add(self, depth: int, text: str, layer: Layer | None = None):
        self.lines.append("    " * depth + text)
        if layer is not None:
            self.at[len(self.lines)] = layer


def _render(ctx: _Ctx, main: list, auxes: list, header: list[str]) -> str:
    o = ctx.out = _Out()
    for c in header:
        o.add(0, f"# {c}" if c else "#")
    net = ctx.net
    if net.input:
        c, h, w = net.input
        ch = net.channels or {1: "gray", 3: "RGB", 4: "RGBA"}.get(c, f"{c}ch")
        size = f"{h}x{w}" if h is not None else "HxW"
        o.add(0, f"input {size} {ch}")
        o.input = len(o.lines)
    if ctx.classes is not None:
        o.add(0, f"var num_classes = {ctx.classes}")
    if ctx.naming != "stage":
        o.add(0, f"naming {ctx.naming}")
    for i, blk in enumerate(ctx.blocks):
        if any(b.name == blk.name for b in ctx.blocks[i + 1:]):
            continue            # a block with variants is written where its last one was made
        o.add(0, "")
        fam = blk.family or [blk]
        if len(fam) == 1:
            o.add(0, f"block {blk.name}({', '.join(blk.params)}) {{", _first(blk.body))
            _items(ctx, o, blk.body, 1, blk.depth, blk)
        else:
            o.add(0, f"block {blk.name}({', '.join(['variant'] + [f'{p}=0' for b in fam for p in b.params])}) {{")
            for k, b in enumerate(fam):
                o.add(1, f"if variant == {k + 1} {{")
                _items(ctx, o, b.body, 2, b.depth, b)
                o.add(1, "}")
        o.add(0, "}")
    o.add(0, "")
    _items(ctx, o, main, 0, 0, None)
    if main and main[-1].kind == "layer" and _prob(main[-1].layer.kind):
        if net.probs:   # the source returns probabilities (a Softmax node, x.softmax(1)): netc leaves a
            o.add(0, "output probs")    # trailing soft-max to the loss unless told
    elif net.softmax_head:              # a loss's soft-max (Caffe's SoftmaxWithLoss, netc's own logits)
        o.add(0, "soft-max")
    if getattr(net, "named_outputs", None):
        refs = [(ref_name(ctx, n, 0), str(k)) for n, k in net.named_outputs]
        o.add(0, "outputs " + ", ".join(r if r == k else f"{r} as {k}" for r, k in refs))
    for name, attach, weight, items in auxes:
        target = _attach_name(ctx, attach, main)
        wt = f" weight {fmt_num(weight)}" if weight is not None else ""
        if len(items) == 1 and items[0].kind == "call":
            o.add(0, f"aux {name} on {target}{wt} {{ {_call(items[0], 1)} }}", _first(items))
            continue
        o.add(0, f"aux {name} on {target}{wt} {{", _first(items))
        _items(ctx, o, items, 1, len(_path(name)), None)
        o.add(0, "}")
    return "\n".join(o.lines) + "\n"


def _join_word(join: Layer) -> str:
    """A group's head: ``concat``, ``concat(crop)``, ``crop(offset=19)``, ``add`` ..."""
    if join.kind == "concat" and join.params.get("crop"):
        return "concat(crop)"
    if join.kind == "concat" and join.params.get("axis") == "tokens":
        return "concat(axis=tokens)"
    if join.kind == "split":
        return f"split({fmt_num(join.params.get('parts', 2))})"
    if join.kind == "crop":
        off = join.params.get("offset", 0)
        return "crop" if off in (0, [0, 0], (0, 0)) else f"crop(offset={fmt_num(off)})"
    return join.kind


def _call(it: Item, depth: int, blk: Block | None = None, scope: int | None = None) -> str:
    slots = blk.slots if blk is not None else {}
    args = [slots.get((id(it), i), a) for i, a in enumerate(it.args)]     # a nested instance's widths
    fam = it.block.family or [it.block]
    if len(fam) > 1:
        args = [str(fam.index(it.block) + 1)] + [f"{p}={a}" for p, a in zip(it.block.params, args)]
    text = f"{it.block.name}({', '.join(args)})"
    if it.count > 1:
        return f"{text} x{it.count}"
    # the instance's name below the scope it is called in (features/5/0 at the top: features_5_0)
    below = _path(it.inst)[scope:] if scope is not None and scope < len(_path(it.inst)) else _path(it.inst)[-1:]
    return f"{text} as {'_'.join(below)}" if it.inst else text


def _attach_name(ctx: _Ctx, attach: str, main: list) -> str:
    for it in main:
        if it.kind == "call" and _last(it.body) == attach:
            return _label(it.inst)
    return ctx.names.get(attach, _label(attach))


def ref_name(ctx: _Ctx, name: str, scope: int) -> str:
    """How ``from`` (or ``like=``, ``outputs``) names a layer at ``scope`` path segments deep: a block
    instance by its name where the layer is its output, else the layer's name below the scope."""
    if name == "input":
        return name
    outs: dict = {}         # {a layer: the outermost block instance whose output it is, as written}

    def walk(items, at, depth):
        for it in items:
            if it.kind == "call" and it.count == 1 and it.inst:
                p = _path(it.inst)                          # what _call writes after `as`
                here = [*at, "_".join(p[depth:] if depth < len(p) else p[-1:])]
                outs.setdefault(_last(it.body), "/".join(here))
                walk(it.body, here, len(p))
            for b in it.branches:
                walk(b, at, depth)
    walk(getattr(ctx, "main_items", ()), [], 0)
    inst = outs.get(name)
    full = inst if inst is not None and len(_path(inst)) > scope else ctx.names.get(name, _label(name))
    return "/".join(_path(full)[scope:]) or full


def _items(ctx: _Ctx, o: _Out, items: list, depth: int, scope: int, blk: Block | None) -> None:
    for it in items:
        if it.kind == "from":
            o.add(depth, f"from {ref_name(ctx, it.layer.name, scope)}", it.layer)
        elif it.kind == "call":
            o.add(depth, _call(it, depth, blk, scope), _first(it.body))
        elif it.kind == "group":
            join = it.layer
            name = _as(ctx, join, scope)
            o.add(depth, f"{_join_word(join)}{name} {{", join)
            if join.kind == "residual":         # its lines are its one branch; the other is its input
                _items(ctx, o, it.branches[0], depth + 1, scope, blk)
            else:
                for b in it.branches:
                    _branch(ctx, o, b, depth + 1, scope, blk)
            o.add(depth, "}")
        elif it.kind == "repeat" and id(it) in ctx.unfold:
            for l in it.run:
                o.add(depth, _word(ctx, l, blk) + _as(ctx, l, scope), l)
        else:
            o.add(depth, _one(ctx, it, scope, blk), it.layer)


def _one(ctx: _Ctx, it: Item, scope: int, blk: Block | None) -> str:
    if it.kind == "repeat":
        if id(it) not in ctx.unfold:
            return f"{_word(ctx, it.layer, blk)} x{it.count}"
        return " -> ".join(_word(ctx, l, blk) + _as(ctx, l, scope) for l in it.run)
    return _word(ctx, it.layer, blk) + _as(ctx, it.layer, scope)


def _width(blk: Block | None, l: Layer) -> str | None:
    return blk.slots.get(id(l)) if blk is not None else None


_STANDIN = 7_340_033        # a value no layer has: stands for a block's parameter while a word is written


def _word(ctx: _Ctx, l: Layer, blk: Block | None) -> str:
    """The layer's word inside ``blk``: its width, stride and groups as the block's parameters
    where the block takes them (``conv1-c/s``, ``conv3-c(groups=c)``)."""
    extra = {f: blk.slots[(id(l), f)] for f in ("stride", "groups") if blk is not None and (id(l), f) in blk.slots}
    if not extra:
        return word(ctx, l, _width(blk, l))
    params, subs = dict(l.params), {}
    for i, (f, name) in enumerate(extra.items()):
        params[f] = _STANDIN + i
        subs[str(_STANDIN + i)] = name
    w = word(ctx, Layer(l.name, l.kind, params, l.inputs, l.where, l.act, l.source_type), _width(blk, l))
    return re.sub(r"\d+", lambda m: subs.get(m.group(0), m.group(0)), w)


def _branch(ctx: _Ctx, o: _Out, items: list, depth: int, scope: int, blk: Block | None) -> None:
    if not items:
        o.add(depth, "identity")
    elif len(items) == 1 and items[0].kind == "from":
        o.add(depth, f"from {ref_name(ctx, items[0].layer.name, scope)}", items[0].layer)
    elif all(it.kind in ("layer", "repeat") for it in items):
        o.add(depth, " -> ".join(_one(ctx, it, scope, blk) for it in items), items[0].layer)
    elif items[0].kind == "from" and all(it.kind in ("layer", "repeat", "call") for it in items[1:]):
        o.add(depth, " -> ".join([f"from {ref_name(ctx, items[0].layer.name, scope)}"] +
                                 [_call(it, depth, blk, scope) if it.kind == "call" else _one(ctx, it, scope, blk)
                                  for it in items[1:]]), items[1].layer if items[1].kind != "call" else None)
    else:
        o.add(depth, "{")
        _items(ctx, o, items, depth + 1, scope, blk)
        o.add(depth, "}")


def _first(items: list) -> Layer | None:
    ls = _layers(items)
    return ls[0] if ls else None


# ------------------------------------------------------------------ errors in the printed text
def _in_source(e: NetcError, text: str, ctx: _Ctx, locate) -> NetcError:
    """``e``, found loading the printed ``text``, as an error of the source layer its line writes
    (the nearest line above that writes one): at the layer's place in the source file where the
    importer can say (``locate(name)``, a span; ``locate(None)``: its input), else naming the layer
    and where it came from. Never at the printed text, which the user has not seen."""
    import bisect
    out_ = getattr(ctx, "out", None)
    at = out_.at if out_ is not None else {}
    lines = sorted(at)
    out = []
    for x in (e.errors if isinstance(e, NetcErrors) else [e]):
        src = x.span.source
        if src is None or not text.startswith(src.text):
            out.append(x)
            continue
        k = bisect.bisect_right(lines, x.span.line)
        l = at[lines[k - 1]] if k else None
        span = locate(l.name if l is not None else None) if locate is not None else None
        if l is None and out_ is not None and x.span.line == out_.input:
            msg = f"the input ({out_.lines[out_.input - 1].strip()}): {x.message}"
        elif l is None:         # the file as a whole (its size): its first line
            msg = f"the spec written for it: {x.message}"
            if span is not None:
                span = Span(span.source, 1, 1, 1, max(2, len(span.source.line(1).rstrip()) + 1))
        else:
            where = f" ({l.where})" if l.where and span is None else ""
            msg = f"layer '{l.name}' of type {l.source_type or l.kind}{where}: {x.message}"
        out.append(ImportError_(_no_text(msg, text, at, lines, locate), span,
                                hint=x.hint and _no_text(x.hint, text, at, lines, locate)))
    try:
        raise_all(out)
    except NetcError as err:
        return err
    return e


def _no_text(s: str, text: str, at: dict, lines: list, locate) -> str:
    """``s`` with each place in the printed text (``<string>:7:1``) as the source's place of the
    layer written there."""
    import bisect

    def place(m):
        k = bisect.bisect_right(lines, int(m.group(1)))
        l = at[lines[k - 1]] if k else None
        span = locate(l.name) if locate is not None and l is not None else None
        if span is not None:
            return f"{span.file}:{span.line}"
        return f"layer '{l.name}'" + (f" ({l.where})" if l.where else "") if l is not None else "the spec written for it"
    return re.sub(r"<string>:(\d+):\d+", place, s)


# ------------------------------------------------------------------ verification: names and activations
def _written(ir) -> list:
    """The IR's nodes that are lines of the text: not joins, identities, nor the parts a
    ``split(n)`` gives its branches (``<split>_part<i>``)."""
    splits = {n.name for n in ir.layers() if n.kind == "split"}
    return [n for n in ir.layers() if n.kind not in (*JOINS, "identity")
            and not (n.kind == "chunk" and n.name.rsplit("_part", 1)[0] in splits)]


def _fix(ctx: _Ctx, text: str, main: list, auxes: list) -> bool:
    """Load ``text``; where netc's generated name or resolved activation differs from the
    source's, mark the layer to be written explicitly. True when something changed."""
    import netc
    ir = netc.loads(text)
    want = _slots(main, auxes)
    nodes = _written(ir)
    if ctx.net.softmax_head and len(nodes) == len(want) + 1 and _prob(nodes[len(_slots(main, []))].kind):
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
        if l.kind in (*WEIGHTED, "bn", "frozen-bn") and n.act != want_act and t not in ctx.acts:
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
                for c in (it.run if it.count > 1 else [it]):
                    walk(c.body, c)
            elif it.kind == "group":
                for b in it.branches:
                    walk(b, owner)
            elif it.kind == "repeat":
                out.extend((l, it) for l in it.run)
            elif it.kind == "from":
                continue
            else:
                out.append((it.layer, owner or it))
    walk(main, None)
    for a in auxes:
        walk(a[3], None)
    return out
