"""Folding: runs of identical layers become ``x N``; subgraphs under one name scope with the same
structure, differing only in widths, become one parameterised block; repeated runs of items with
the same structure become one block whatever their names say (:func:`fold_structure`: Kaiming
He's ResNets, GoogLeNet with ``_`` in its names); identical side-output heads become one block.
"""
from __future__ import annotations

import os
import re

from netc.importers.graph import Layer
from netc.importers.structure import ACT_KINDS, WEIGHTED, Block, Item, _Ctx, _label, _layers, _groups, _pair, _path

# ------------------------------------------------------------------ names the language takes
#: words of the language a block or a parameter may not be called (besides layer words and joins)
_WORDS = frozenset(("include", "var", "block", "config", "default", "table", "input", "output", "naming", "defaults",
                    "aux", "replace", "remove", "insert", "if", "else", "let", "from", "as", "on", "weight", "true",
                    "false", "and", "or", "not", "in", "x", "identity", "variant", "num_classes"))


def usable_name(name: str | None) -> bool:
    """Whether a printed block or parameter may be called ``name``: an identifier that is no layer
    word (``conv``, ``gap``, ``conv3``), no join, no keyword of the language and no reserved name."""
    from netc.elaborate.reserved import is_reserved
    from netc.kinds import DEFAULT
    if not name or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
        return False
    return not (name.lower() in _WORDS or is_reserved(name) or DEFAULT.lookup_word(name) is not None
                or DEFAULT.join(name) is not None
                or DEFAULT.lookup_word(name + "-1") is not None)     # conv3: read as conv3-64 would be


def _free(base: str, taken) -> str:
    """``base``, or ``base_2``, ``base_3`` ... : the first that is usable and not in ``taken``."""
    name, n = base, 2
    while name in taken or not usable_name(name):
        name, n = f"{base}_{n}", n + 1
    return name


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
    """Runs of items under one name scope become block instances where two or more agree (at any
    depth: a block inside a block, ``layer_1/basic_2/conv1``, folds its inner instances first)."""
    cands: dict = {}
    _collect(items, prefix, cands)
    return _fold(ctx, items, aux, prefix, cands, {})


def _runs(items: list, depth: int) -> list:
    runs: list = []         # (scope or None, [items])
    for it in items:
        p = _prefix(it, depth)
        if p is not None and runs and runs[-1][0] == p:
            runs[-1][1].append(it)
        else:
            runs.append((p, [it]))
    return runs


def _collect(items: list, prefix: str, cands: dict) -> None:
    """Every scope's run of items, at every depth, by signature (widths left out)."""
    for p, its in _runs(items, len(_path(prefix))):
        if p is None:
            for it in its:      # a block inside a branch (MobileNetV3's squeeze_excite in residual { })
                for b in (it.branches if it.kind == "group" else []):
                    _collect(b, prefix, cands)
            continue
        if len(_layers(its)) > 1:
            cands.setdefault(_key(its, prefix + p), []).append((prefix + p, its))
        _collect(its, prefix + p + "/", cands)


def _key(its: list, inst: str):
    """A run's structure: its signature and how deep under the instance each layer sits (a block
    whose one item is an inner block is not that inner block)."""
    joins = {id(x.layer) for x in _groups(its)}
    d = len(_path(inst))
    return _signature(its), tuple(len(_path(l.name)) - d for l in _layers(its) if id(l) not in joins)


def _fold(ctx: _Ctx, items: list, aux: bool, prefix: str, cands: dict, made: dict) -> list:
    out: list = []
    for p, its in _runs(items, len(_path(prefix))):
        if p is None:
            out += [Item("group", it.layer, branches=[_fold(ctx, b, aux, prefix, cands, made) for b in it.branches])
                    if it.kind == "group" else it for it in its]
            continue
        inst = prefix + p
        sig = _key(its, inst)
        group = cands.get(sig, [])
        hinted = inst in getattr(ctx.net, "block_names", {}) and len(_layers(its)) > 1
        inner = _fold(ctx, its, aux, inst + "/", cands, made)
        if (len(group) < 2 and not hinted) or len({n for n, _ in group}) < len(group):
            out += inner        # one instance: a block only where the source says so; a scope met twice
            continue            # (features/transition1 between calls of features/...): no instances
        if sig not in made:
            group = group or [(inst, its)]
            bodies = [inner if n == inst else _fold(ctx, g, aux, n + "/", cands, made) for n, g in group]
            made[sig] = _make_block(ctx, bodies, [n for n, _ in group], aux)
        blk = made[sig]
        out.append(Item("call", block=blk, inst=inst, body=inner, args=_args(ctx, blk, inner),
                        src_depth=len(_path(inst))))
        blk.depth = len(_path(inst))
    return out


def _widths(items: list) -> list:
    """What a block's parameters can stand for, in order: the width of each layer with weights
    and each argument of a nested block instance, as (slot key, value, layer or None, name hint)."""
    out: list = []
    for it in items:
        if it.kind == "call":
            out += [((id(it), i), a, None, it.block.params[i] if i < len(it.block.params) else "c")
                    for i, a in enumerate(it.args)]
        elif it.kind == "from":
            continue
        elif it.kind == "group":
            for b in it.branches:
                out += _widths(b)
            out += _widths([Item("layer", it.layer)])
        else:
            for l in (it.run if it.kind == "repeat" else [it.layer]):
                if l.kind in WEIGHTED:
                    out.append((id(l), l.params.get("out"), l, None))
    return out


def _local(l: Layer, depth: int) -> str:
    return "/".join(_path(l.name)[depth:])


def _signature(items: list, depth: int | None = None):
    ls = _layers(items)
    if depth is None:
        depth = min(len(_path(l.name)) for l in ls) - 1
    def sig(it):
        if it.kind == "call":
            return ("call", it.block.name, tuple(it.args), _path(it.inst)[-1])
        if it.kind == "from":
            return ("from", it.layer.name)
        if it.kind == "group":
            return ("group", it.layer.kind, tuple(tuple(sig(x) for x in b) for b in it.branches))
        l = it.layer
        ps = tuple(sorted((k, repr(v)) for k, v in l.params.items() if k != "out" or l.kind not in WEIGHTED))
        return (l.kind, ps, l.act, _path(l.name)[-1])
    return tuple(sig(it) for it in items)


def _make_block(ctx: _Ctx, instances: list, names: list, aux: bool) -> Block:
    ws = [[w[1] for w in _widths(its)] for its in instances]
    template = _widths(instances[0])
    slots, params = {}, []
    for i, (key, _, l, hint) in enumerate(template):
        vals = {w[i] for w in ws}
        is_classes = ctx.classes is not None and vals == {ctx.classes} and l is not None and l.kind == "fc"
        if len(vals) > 1 or is_classes:
            if l is None:
                name, n = hint, 2
                while name in params:
                    name, n = f"{hint}{n}", n + 1
            else:
                name = "classes" if is_classes else _param_name(_path(l.name)[-1], l, params)
            slots[key] = name
            params.append(name)
    hints = {getattr(ctx.net, "block_names", {}).get(n) for n in names}
    family = None
    if len(hints) == 1 and None not in hints:
        name = hints.pop()          # the source knows its blocks' names (a module netc compiled)
        # one block of the source's, two bodies here (its `if`s took other paths): one block whose
        # first argument picks the body
        family = next((b.family for b in ctx.blocks if b.name == name and b.family is not None), None)
    elif aux:
        name = "aux_classifier"
    else:
        name = _block_name([_path(n)[-1] for n in names])
        if not usable_name(name):      # conv2_1/dw, conv2_2/dw ...: 'conv' is the built-in layer
            name = shape_name(instances[0])
    if family is None and not usable_name(name):
        name = _free(re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "unit", ())
    if family is not None:
        taken = {p for b in family for p in b.params} | {"variant"}
        for key, p in list(slots.items()):
            q, n = p, 2
            while q in taken:
                q, n = f"{p}{n}", n + 1
            slots[key] = q
            taken.add(q)
        params = [slots.get(key, p) for key, p in zip(list(slots), params)]
    else:
        taken = {b.name for b in ctx.blocks}
        base, n = name, 2
        while name in taken:
            name, n = f"{base}_{n}", n + 1
    blk = Block(name, params, instances[0], slots, aux)
    if len(hints) == 0 or family is not None or blk.name in getattr(ctx.net, "block_names", {}).values():
        blk.family = family if family is not None else []
        blk.family.append(blk)
    tmpl = _layers(instances[0])
    for its in instances:
        for a, b in zip(_layers(its), tmpl):
            ctx.template[a.name] = b.name
    ctx.blocks.append(blk)
    return blk


def _args(ctx: _Ctx, blk: Block, its: list) -> list:
    out = []
    for t, w in zip(_widths(blk.body), _widths(its)):
        if t[0] in blk.slots:
            out.append("num_classes" if blk.slots[t[0]] == "classes" else str(w[1]))
    return out


def _param_name(local: str, l: Layer, taken: list) -> str:
    m = re.fullmatch(r"(\d+)x\d+(_reduce)?", local)
    if m:
        base = ("r" if m.group(2) else "n") + m.group(1)
    else:
        parts = [p for p in re.split(r"[^A-Za-z0-9]+", local) if p]
        base = "".join(p[0] for p in parts).lower() if len(parts) > 1 else (parts[0].lower() if parts else "c")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", base) or not usable_name(base):
            base = "c"
    name, n = base, 2
    while name in taken or not usable_name(name):
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
    names = getattr(ctx.net, "block_names", {})
    if len(auxes) < 2 and not (auxes and any(k.startswith(auxes[0][0] + "/") for k in names)):
        return      # one head: a block only where the source says so
    sigs = [_signature(a[3], depth=len(_path(a[0]))) for a in auxes]
    if len(set(sigs)) != 1 and len(auxes) > 1 and len(_layers(auxes[0][3])) > 1:
        ssigs = {tuple(_ssig(it, frozenset()) for it in a[3]) for a in auxes}   # loss1_conv, loss2_conv ...
        if len(ssigs) == 1 and None not in next(iter(ssigs)):
            calls = _struct_calls(ctx, [a[3] for a in auxes], frozenset(), aux=True, scopes=[a[0] for a in auxes],
                                  base="aux_classifier")
            for a, call in zip(auxes, calls):
                call.inst = f"{a[0]}/head"
                a[3] = [call]
            calls[0].block.depth = len(_path(auxes[0][0])) + 1
        return
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


# ------------------------------------------------------------------ blocks by structure
#: the longest run of items one block of :func:`fold_structure` stands for
MAX_UNIT = 16
#: what a block must save, in lines, to be made
MIN_SAVING = 3
#: parameters a block of :func:`fold_structure` may take besides the widths
_SLOT_FIELDS = ("stride", "groups")


def fold_structure(ctx: _Ctx, items: list, keep: frozenset = frozenset()) -> list:
    """Runs of items that repeat with the same structure (kinds, kernels, paddings, activations,
    joins and branches), whatever the layers are called, become calls of one block whose
    parameters are the widths, strides and groups that differ between the runs: Kaiming He's
    ``res2a_branch2a ... res5c`` is ``bottleneck(c, out, s)`` ``x n``. The run that saves the most
    lines is folded first, then the next, until none saves ``MIN_SAVING`` lines. A run never
    starts with an activation, and never holds a layer named in ``keep`` (a side output's root)
    or a ``from``."""
    for _ in range(64):
        best = _best_run(ctx, items, keep)
        if best is None:
            return items
        items = _fold_run(ctx, items, *best, keep)
    return items


def _ssig(it: Item, keep: frozenset):
    """An item's structure with its widths, strides and groups left out; None where it cannot be
    part of a block (a call, a ``from``, a layer a side output hangs on)."""
    if it.kind == "layer":
        l = it.layer
        ps = []
        for k, v in sorted(l.params.items()):
            if k == "out" and l.kind in WEIGHTED:
                continue
            if k in _SLOT_FIELDS and l.kind in ("conv", "upconv"):
                if k == "stride":
                    sh, sw = _pair(v)
                    ps.append((k, "square" if sh == sw else (sh, sw)))
                continue
            ps.append((k, repr(v)))
        return ("L", l.kind, tuple(ps), l.act)
    if it.kind == "group":
        bs = []
        for b in it.branches:
            sb = tuple(_ssig(x, keep) for x in b)
            if None in sb:
                return None
            bs.append(sb)
        return ("G", it.layer.kind, repr(sorted(it.layer.params.items())), tuple(bs))
    return None


def _keeps(items: list, keep: frozenset) -> bool:
    """Whether a side output can still hang on ``items`` as a block instance: on its last layer,
    by the instance's name, or on none of them."""
    ls = _layers(items)
    inner = [l for l in ls[:-1] if l.name in keep]
    return not inner and (ls[-1].name not in keep or _instance_name(items) is not None)


def _slot_values(items: list) -> list:
    """The values a block of ``items`` may take as parameters, in a fixed order: (layer, field, value)."""
    out = []
    for l in _layers(items):
        if l.kind in WEIGHTED:
            out.append((l, "out", l.params.get("out")))
        if l.kind in ("conv", "upconv"):
            sh, _ = _pair(l.params.get("stride"))
            out.append((l, "stride", sh))
            out.append((l, "groups", int(l.params.get("groups", 1) or 1)))
    return out


def _lines(items: list) -> int:
    """About how many lines the printer writes for ``items`` (runs of equal layers as one)."""
    n, prev = 0, None
    for it in items:
        if it.kind == "group":
            n += 2 + sum(1 if not b or all(x.kind in ("layer", "repeat", "from") for x in b) else 2 + _lines(b)
                         for b in it.branches)
        elif it.kind == "layer" and prev is not None and prev.kind == "layer" and _same_layer(prev.layer, it.layer):
            pass
        else:
            n += 1
        prev = it
    return n


def _tail_word(l: Layer) -> bool:
    """A dropout, a flatten, a soft-max: what ends a block rather than starting one."""
    from netc.kinds import DEFAULT
    from netc.kinds.misc import Dropout, Flatten
    k = DEFAULT.get(l.kind)
    return isinstance(k, (Dropout, Flatten)) or _prob(l)


def _prob(l: Layer) -> bool:
    """A soft-max: the network's probabilities, never folded into a repetition."""
    from netc.kinds import DEFAULT
    return getattr(DEFAULT.get(l.kind), "role", None) == "prob"


def _windowed_pool(l: Layer) -> bool:
    """Max or average pooling over windows (DenseNet's transition ends with one)."""
    from netc.kinds import DEFAULT
    from netc.kinds.params import PoolParams
    return getattr(DEFAULT.get(l.kind), "Params", None) is PoolParams


def _may_start(it: Item) -> bool:
    return not (it.kind == "layer" and (it.layer.kind in ACT_KINDS or _tail_word(it.layer)))


def _weighty(it: Item) -> bool:
    return it.kind == "group" or (it.kind == "layer" and it.layer.kind in WEIGHTED)


def _best_run(ctx: _Ctx, items: list, keep: frozenset):
    sigs = [_ssig(it, keep) for it in items]
    n = len(items)
    starts: dict = {}
    for i in range(n):
        if sigs[i] is None or not _may_start(items[i]):
            continue
        for p in range(1, min(MAX_UNIT, n - i) + 1):
            if sigs[i + p - 1] is None:
                break
            starts.setdefault(tuple(sigs[i:i + p]), []).append(i)
    best = None
    for key, at in starts.items():
        p = len(key)
        if len(at) < 2 or (p == 1 and items[at[0]].kind != "group"):
            continue
        occ, end = [], -1
        for i in at:                      # left to right, not overlapping
            if i > end and _keeps(items[i:i + p], keep):
                occ.append(i)
                end = i + p - 1
        if len(occ) < 2 or not any(_weighty(it) for it in items[occ[0]:occ[0] + p]):
            continue
        if sum(1 for it in items[occ[0]:occ[0] + p] if it.kind == "group") > 1 and \
                not _scoped_units(items, occ, p):
            continue        # one join per block: a run of two units is two calls (or `x 2`), not a block,
            #               unless the source says they are one (a transformer layer's two residuals)
        if any(len(starts.get(key[:k], ())) >= len(at) + 2 and len(starts.get(key[k:], ())) >= len(at) + 2
               for k in range(1, p)):
            continue        # two units that each repeat more often on their own (MobileNetV2's plain and residual)
        vals = [[v for _, _, v in _slot_values(items[i:i + p])] for i in occ]
        if len({len(v) for v in vals}) != 1:
            continue
        varying = [j for j in range(len(vals[0])) if len({v[j] for v in vals}) > 1]
        args = [tuple(v[j] for j in varying) for v in vals]
        calls = sum(1 for k in range(len(occ)) if k == 0 or occ[k] != occ[k - 1] + p or args[k] != args[k - 1])
        body = _lines(items[occ[0]:occ[0] + p])
        saving = sum(_lines(items[i:i + p]) for i in occ) - (body + 3) - calls
        rank = (saving, _weighty(items[occ[0]]), -p, -occ[0])    # a unit starts with a conv or a join
        if saving >= MIN_SAVING and (best is None or rank > best[0]):
            best = (rank, occ, p)
    return None if best is None else best[1:]


def _scoped_units(items: list, occ: list, p: int) -> bool:
    """Whether every occurrence of a run of several joins is one scope of the source's, of its own, that
    the joins share without a scope each (ViT's encoder_layer_0, encoder_layer_1 ...: the attention and
    MLP residuals of one layer; not ResNet's layer2, whose units are layer2/0 and layer2/1)."""
    scopes = []
    for i in occ:
        run = items[i:i + p]
        joins = {id(x.layer) for x in _groups(run)}     # a join's name may be the tool's (torch.fx's add_1)

        def own(its):
            return [l for l in _layers(its) if id(l) not in joins]
        whole = _common_scope(own(run))
        if not whole or any(_common_scope(own([it])) != whole for it in run if it.kind == "group"):
            return False
        scopes.append(whole)
    return len(set(scopes)) == len(scopes)


def _common_scope(layers: list) -> tuple:
    """The scope (path less the layer's own name) that every layer of ``layers`` is under."""
    paths = [_path(l.name)[:-1] for l in layers]
    if not paths:
        return ()
    common = paths[0]
    for q in paths[1:]:
        k = 0
        while k < min(len(common), len(q)) and common[k] == q[k]:
            k += 1
        common = common[:k]
    return tuple(common)


def _fold_run(ctx: _Ctx, items: list, occ: list, p: int, keep: frozenset) -> list:
    calls = _struct_calls(ctx, [items[i:i + p] for i in occ], keep)
    out, k = [], 0
    for i, call in zip(occ, calls):
        out += items[k:i] + [call]
        k = i + p
    return out + items[k:]


def _struct_calls(ctx: _Ctx, runs: list, keep: frozenset, aux: bool = False, scopes: list | None = None,
                  base: str | None = None) -> list:
    """One block for ``runs`` (lists of items of one structure) and a call of it for each run.
    ``scopes``: the names the runs' layers are under (default: what each run's names share)."""
    per = [_slot_values(r) for r in runs]
    tmpl = per[0]
    vectors = [tuple(v[j][2] for v in per) for j in range(len(tmpl))]
    # names: an instance is called by what its layers' names share (inception_3a_1x1,
    # inception_3a_3x3 ...: inception_3a); a layer keeps its name inside the block where every
    # instance calls it the same (1x1)
    insts = scopes if scopes is not None else [_instance_name(r) for r in runs]
    layer_lists = [_layers(r) for r in runs]
    locals_: list = [None] * len(layer_lists[0])
    if all(insts):
        for j in range(len(locals_)):
            ls = {_local_name(ll[j].name, inst) for ll, inst in zip(layer_lists, insts)}
            if len(ls) == 1 and None not in ls:
                locals_[j] = ls.pop()
    # parameters: one per distinct vector of values that differs between instances; widths first,
    # the block's output width last of them (out), then strides (s) and groups (g)
    outs = [j for j, (l, f, _) in enumerate(tmpl) if f == "out"]
    last_out = vectors[outs[-1]] if outs else None
    classes = {j for j in outs if aux and tmpl[j][0].kind == "fc" and ctx.classes is not None
               and set(vectors[j]) == {ctx.classes}}     # a head's classifier: FC-classes
    varying = [j for j in range(len(tmpl)) if len(set(vectors[j])) > 1 or j in classes]
    n_widths = len({vectors[j] for j in varying if tmpl[j][1] == "out"})
    rank = {"out": 0, "stride": 2, "groups": 3}
    varying.sort(key=lambda j: (rank[tmpl[j][1]] + (1 if tmpl[j][1] == "out" and vectors[j] == last_out
                                                     and n_widths > 1 else 0), j))
    # equal values are one parameter (ResNet's shortcut and last 1x1 are both `out`), except widths of
    # two branches of one concat, which only happen to agree (SqueezeNet's expand1x1, expand3x3)
    branch = _concat_branches(runs[0])
    params, slots, by_vector, values, owners = [], {}, {}, {}, {}
    for j in varying:
        l, f, _ = tmpl[j]
        vec = vectors[j]
        local = locals_[layer_lists[0].index(l)] if f == "out" else None
        key = ("classes", j) if j in classes else vec
        tied = f != "out" or all(_depthwise(ll[layer_lists[0].index(l)]) for ll in layer_lists)
        if not tied and key in by_vector and any(_apart(branch, id(l), o) for o in owners[key]):
            key = ("apart", j)
        if key not in by_vector:
            own = local is not None and _param_name(local, l, []) != "c"    # n1, r3, squeeze1x1, dw
            if j in classes:
                name = _param_name("classes", l, params)
            elif own:
                name = _param_name(local, l, params)
            elif f == "out":
                name = _param_name("out" if vec == last_out and n_widths > 1 else "c", l, params)
            else:
                name = _param_name({"stride": "s", "groups": "g"}[f], l, params)
            by_vector[key], owners[key] = name, []
            values[key] = ("num_classes",) * len(runs) if j in classes else vec
            params.append(name)
        owners[key].append(id(l))
        slots[id(l) if f == "out" else (id(l), f)] = by_vector[key]
    if base is None:         # what it is where the structure says (bottleneck), else what the names share (fire)
        names = [i for i in insts if i]
        base = _block_name(names) if len(names) == len(insts) else "unit"
        shaped = shape_name(runs[0])
        if shaped in _TELLING or base == "unit" or not usable_name(base):
            base = shaped
    name = _free(base, {b.name for b in ctx.blocks})
    blk = Block(name, params, runs[0], slots, aux)
    blk.depth = 1
    blk.structural = True                   # type: ignore[attr-defined]
    ctx.blocks.append(blk)
    for ll in layer_lists:
        for a, b in zip(ll, layer_lists[0]):
            ctx.template[a.name] = b.name
    vec_of = {nm: values[k] for k, nm in by_vector.items()}
    calls = []
    for idx, (r, inst, ll) in enumerate(zip(runs, insts, layer_lists)):
        call = Item("call", block=blk, inst=inst or "", body=r, args=[str(vec_of[pn][idx]) for pn in params],
                    src_depth=1)
        call.structural = True              # type: ignore[attr-defined]
        call.locals = {a.name: loc for a, loc in zip(ll, locals_)}                   # type: ignore[attr-defined]
        call.pinned = ll[-1].name in keep   # type: ignore[attr-defined]  # a side output hangs on it: named
        calls.append(call)
    return calls


def _concat_branches(items: list, at: tuple = ()) -> dict:
    """id(layer) -> the concat branches it is in, as ((id(concat), branch index), ...)."""
    out: dict = {}
    for it in items:
        if it.kind == "group":
            for i, b in enumerate(it.branches):
                out.update(_concat_branches(b, at + ((id(it.layer), i),) if it.layer.kind == "concat" else at))
            out[id(it.layer)] = at
        elif it.kind == "layer":
            out[id(it.layer)] = at
    return out


def _apart(branch: dict, a: int, b: int) -> bool:
    """Whether layers ``a`` and ``b`` sit in different branches of one concat."""
    bs = dict(branch.get(b, ()))
    return any(g in bs and bs[g] != i for g, i in branch.get(a, ()))


def _instance_name(items: list) -> str | None:
    """What the names of ``items``' layers share, up to a separator (``inception_3a``), or None.
    A join's name is left out: it may be the tool's (ONNX's ``Concat``), not the scope's."""
    joins = {id(g.layer) for g in _groups(items)}
    return common_name([l.name for l in _layers(items) if id(l) not in joins])


def common_name(names) -> str | None:
    """What ``names`` share from their start, up to a separator (``inception_3a`` of
    ``inception_3a_1x1``, ``inception_3a_3x3`` ...), as a name; None where they share too little."""
    names = [n for n in names if not n.startswith("#")]
    if not names:
        return None
    pre = os.path.commonprefix(names)
    while pre and not all(len(n) == len(pre) or n[len(pre)] in "_/.-" for n in names):
        pre = pre[:-1]
    pre = pre.rstrip("_/.-")
    lab = _label(pre).replace("/", "_") if pre else ""
    return lab if len(lab) >= 2 and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", lab) else None


def _local_name(name: str, inst: str) -> str | None:
    if name.startswith("#"):
        return None
    rest = _label(name).replace("/", "_")
    if not rest.startswith(inst):
        return None
    rest = rest[len(inst):].lstrip("_-.")
    return rest or None


def _depthwise(l: Layer) -> bool:
    g = int(l.params.get("groups", 1) or 1)
    return l.kind == "conv" and g > 1 and g == l.params.get("out")


#: names :func:`shape_name` gives that say more than a source's scope (torchvision's layer1_0 is a stage)
_TELLING = frozenset(("bottleneck", "bottleneck_proj", "basic", "basic_proj", "dense_layer", "inception", "fire",
                      "inverted", "inverted_residual", "inverted_residual_proj", "separable"))


def shape_name(items: list) -> str:
    """A name for a block from what it is: ``bottleneck`` (1x1, 3x3, 1x1 beside a shortcut),
    ``basic``, ``dense_layer`` (a branch concatenated to its input), ``inception``, ``separable``
    (depthwise, then 1x1), ``inverted`` (1x1 up, depthwise, 1x1 down), ``transition`` ..."""
    ls = _layers(items)
    groups = [it for it in items if it.kind == "group"]
    if groups:
        g = groups[0]
        j = g.layer.kind
        if j in ("add", "residual"):
            main = max(g.branches, key=lambda b: len(_layers(b)))
            convs = [l for l in _layers(main) if l.kind == "conv"]
            ks = [_pair(l.params.get("k"))[0] for l in convs]
            if any(_depthwise(l) for l in convs):
                base = "inverted_residual"
            else:
                base = "bottleneck" if ks == [1, 3, 1] else "basic" if ks == [3, 3] else "res_unit"
            if j == "add" and all(_layers(b) for b in g.branches):
                base += "_proj"             # a projection on the shortcut
            return base
        if j == "concat":
            if any(not b for b in g.branches):
                return "dense_layer"
            if len(g.branches) >= 3:
                return "inception"
            first = ls[0] if ls else None       # squeeze 1x1, then 1x1 and 3x3 side by side (SqueezeNet)
            if first is not None and first.kind == "conv" and _pair(first.params.get("k"))[0] == 1 and \
                    sorted(_pair(b[0].layer.params.get("k"))[0] for b in g.branches
                           if len(b) == 1 and b[0].kind == "layer" and b[0].layer.kind == "conv") == [1, 3]:
                return "fire"
            return "branches"
        if j == "mul":
            return "gated"
        return "unit"
    convs = [l for l in ls if l.kind == "conv"]
    if any(_depthwise(l) for l in convs):
        ks = [_pair(l.params.get("k"))[0] for l in convs]
        return "inverted" if len(convs) == 3 and ks[0] == 1 and ks[-1] == 1 else "separable"
    if ls and _windowed_pool(ls[-1]) and convs:
        return "transition"
    return "unit"


# ------------------------------------------------------------------ repetition
def _repeats(items: list) -> list:
    """Runs of identical layers as ``x N``; a run longer than netc allows (``max_repeat``,
    10,000) is written as several."""
    from netc.dsl.limits import LIMITS
    most = LIMITS.get("max_repeat") or float("inf")
    out: list = []
    for it in items:
        if it.kind == "group":
            it.branches = [_repeats(b) for b in it.branches]
        prev = out[-1] if out else None
        if _same_call(prev, it) and prev.count < most:      # bottleneck(64, 256) x2
            if prev.count == 1:
                merged = Item("call", block=prev.block, inst="", body=prev.body, args=prev.args, count=2,
                              run=[prev, it], src_depth=prev.src_depth)
                merged.structural, merged.locals = True, {}          # type: ignore[attr-defined]
                out[-1] = merged
            else:
                prev.count += 1
                prev.run.append(it)
            continue
        if it.kind == "layer" and out and out[-1].kind in ("layer", "repeat") and not _prob(it.layer):
            prev = out[-1]
            first = prev.layer
            if _same_layer(first, it.layer) and (prev.count if prev.kind == "repeat" else 1) < most:
                if prev.kind == "layer":
                    out[-1] = Item("repeat", first, count=2, run=[first, it.layer])
                else:
                    prev.count += 1
                    prev.run.append(it.layer)
                continue
        out.append(it)
    return out


def _same_call(a: Item | None, b: Item) -> bool:
    """Two calls of one block of :func:`fold_structure` with the same arguments, one after the other."""
    return a is not None and a.kind == "call" and b.kind == "call" and getattr(a, "structural", False) \
        and getattr(b, "structural", False) and a.block is b.block and a.args == b.args and b.count == 1 \
        and not getattr(a, "pinned", False) and not getattr(b, "pinned", False)


def _same_layer(a: Layer, b: Layer) -> bool:
    return a.kind == b.kind and a.params == b.params and a.act == b.act
