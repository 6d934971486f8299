"""Folding: runs of identical layers become ``x N``; subgraphs under one name scope with the same
structure, differing only in widths, become one parameterised block; identical side-output
heads become one block.
"""
from __future__ import annotations

import re

from netc.importers.graph import Layer
from netc.importers.structure import WEIGHTED, Block, Item, _Ctx, _label, _layers, _groups, _path


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
        if len(group) < 2 and not hinted:      # one instance: a block only where the source says so
            out += inner
            continue
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
    names = getattr(ctx.net, "block_names", {})
    if len(auxes) < 2 and not (auxes and any(k.startswith(auxes[0][0] + "/") for k in names)):
        return      # one head: a block only where the source says so
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
    """Runs of identical layers as ``x N``; a run longer than netc allows (``max_repeat``,
    10,000) is written as several."""
    from netc.dsl.limits import LIMITS
    most = LIMITS.get("max_repeat") or float("inf")
    out: list = []
    for it in items:
        if it.kind == "group":
            it.branches = [_repeats(b) for b in it.branches]
        if it.kind == "layer" and out and out[-1].kind in ("layer", "repeat") and it.layer.kind != "softmax":
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


def _same_layer(a: Layer, b: Layer) -> bool:
    return a.kind == b.kind and a.params == b.params and a.act == b.act
