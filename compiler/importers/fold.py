"""Folding: runs of identical layers become ``x N``; subgraphs under one name scope with the same
structure, differing only in widths, become one parameterised block; identical side-output
heads become one block.
"""
from __future__ import annotations

import re

from .graph import Layer
from .structure import WEIGHTED, Block, Item, _Ctx, _label, _layers, _groups, _path


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
        hinted = p is not None and (prefix + p) in getattr(ctx.net, "block_names", {})
        if hinted and not group and len(_layers(its)) > 1:
            group = cands[sig] = [(p, its)]
        if not group or (len(group) < 2 and not hinted):   # one instance: a block only where the source says so
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
