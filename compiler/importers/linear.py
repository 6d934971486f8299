"""A network with several outputs (``outputs a, b as KEY``) as the language writes one: its layers in
the source's order, each line reading the one before it, ``from NAME`` where it reads another, and
joins as groups whose branches are the layers just before them.

The printer's other reading (:func:`netc.importers.structure._seq`) walks back from one output
through dominators; a feature pyramid's or a detector's outputs share no such path. Here the order
of the layers is kept (a module netc compiled traces in its spec's order) and each join takes as
its branches the run of layers just before it that feed only the join, as long a run as saves a
``from`` (the fewest ``from`` lines; of equals, the shortest run): FPN's top-down step is written

    from c3
    conv1-256 as lateral2
    add as inner2 {
        identity
        from inner3 -> upsample(like=lateral2)
    }
"""
from __future__ import annotations

from netc.importers.graph import Layer, fail
from netc.importers.structure import JOINS, Item


def sequence(layers: list, outputs: list, identities: set | None = None) -> list:
    """The items of ``layers`` (every layer the outputs need, in the source's order) from ``input``.
    ``identities``: the joins whose branch that is the group's input is written ``identity`` (a
    module netc compiled: where its spec wrote one; an ``identity`` is a layer of the spec), the
    others ``from NAME``; None: every such branch is an ``identity``."""

    def plain(join: Layer) -> bool:     # the group's input as a branch: `identity`, not `from NAME`
        return identities is None or join.name in identities
    idx = {l.name: l for l in layers}
    cons: dict = {}         # layer -> the layers that read it (an input or a size: like=)
    for l in layers:
        for i in _reads(l):
            cons.setdefault(i, set()).add(l.name)
    outs = set(outputs)
    anc_memo: dict = {}

    def ancestors(name):     # within the layers, through inputs and like= references
        got = anc_memo.get(name)
        if got is None:
            got, todo = set(), [name]
            while todo:
                n = todo.pop()
                for i in _reads(idx[n]) if n in idx else ():
                    if i in idx and i not in got:
                        got.add(i)
                        todo.append(i)
            anc_memo[name] = got
        return got

    def breaks(l: Layer, before: str) -> int:
        """1 where ``l`` reads something other than ``before`` (a ``from`` line); a join: none."""
        return 0 if _is_join(l) or (l.inputs and l.inputs[0] == before) else 1

    def build(seg: list, tail: str) -> list:
        """Items for ``seg`` (layers in order) read from ``tail``; built back to front."""
        rev: list = []       # item lists, last first
        k = len(seg)
        while k > 0:
            l = seg[k - 1]
            prev = seg[k - 2].name if k >= 2 else tail
            if not _is_join(l):
                rev.append([Item("layer", l)])
                if l.inputs and l.inputs[0] != prev:
                    rev.append([Item("from", idx.get(l.inputs[0]) or Layer(l.inputs[0], "input"))])
                k -= 1
                continue
            s, gtail, hoist = _window(seg, k - 1, tail)
            rev.append([_group(l, seg[s:k - 1], gtail)])
            if hoist is not None:
                rev.append([Item("from", idx.get(hoist) or Layer(hoist, "input"))])
            k = s
        return [it for part in reversed(rev) for it in part]

    def _window(seg: list, j: int, tail: str):
        """Where the branches of the join ``seg[j]`` start, what the group reads, and the layer a
        ``from`` line before the group must name (or None): of the runs before the join whose
        branches keep the source's order, the one with the fewest ``from`` lines; of equals, one
        read from the branches' fork, then the shortest."""
        join = seg[j]
        common = None
        for p in join.inputs:
            a = ancestors(p) | {p}
            common = a if common is None else common & a
        inside = {join.name}
        best, choice = None, (j, seg[j - 1].name if j >= 1 else tail, None)
        prefix = 0            # the `from` lines seg[s:j] would need outside the group (saved inside)
        s = j
        while True:
            before = seg[s - 1].name if s >= 1 else tail
            w = seg[s:j]
            forced = join.inputs[1] if join.kind == "residual" else None
            for gtail in ([forced] if forced else [before, *_starts(join, w)]):
                cost, inner, order = _cost(join, w, gtail)
                if order != [x.name for x in w]:
                    continue        # the branches would reorder the source's layers
                rank = (cost - prefix + (gtail != before), inner, gtail not in common, len(w))
                if best is None or rank < best:
                    best, choice = rank, (s, gtail, gtail if gtail != before else None)
            if s == 0:
                break
            x = seg[s - 1]
            if x.name in common or x.name in outs or x.name not in ancestors(join.name) \
                    or not cons.get(x.name, set()) <= inside:
                break
            inside.add(x.name)
            prefix += breaks(x, seg[s - 2].name if s >= 2 else tail)
            s -= 1
        if join.kind in ("residual", "split"):      # its branches read the group's input: all of them inside
            before = seg[s - 1].name if s >= 1 else tail
            src = join.inputs[1] if join.kind == "residual" else _split_source(join, seg[s:j], before)
            return s, src, src if src != before else None
        return choice

    def _mine(w: list, p: str, claimed: set) -> list:
        mine = [x for x in w if x.name not in claimed and (x.name == p or x.name in ancestors(p))]
        claimed |= {x.name for x in mine}
        return mine

    def _starts(join: Layer, w: list) -> list:
        """What the branches read first from outside ``w``: candidates for the group's input."""
        out, claimed, names = [], set(), {x.name for x in w}
        for p in _branch_preds(join):
            first = p if p not in names else next((x.inputs[0] for x in _mine(w, p, claimed) if x.inputs), None)
            if first is not None and first not in names and first not in out:
                out.append(first)
        return out

    def _cost(join: Layer, w: list, gtail: str):
        """The ``from`` lines of the join's group with branches made of ``w``, read from ``gtail``,
        those that start a branch, and the order its branches write ``w``'s layers in."""
        n, inner, claimed, names, order = 0, 0, set(), {x.name for x in w}, []
        for p in _branch_preds(join):
            if p not in names:
                n += p != gtail or not plain(join)
                inner += p != gtail or not plain(join)
                continue
            before = gtail
            for i, x in enumerate(_mine(w, p, claimed)):
                n += breaks(x, before)
                inner += i == 0 and breaks(x, before)
                before = x.name
                order.append(x.name)
        return n, inner, order

    def _group(join: Layer, w: list, gtail: str):
        """The group item of ``join`` with branches made of ``w``, read from ``gtail``."""
        names, claimed = {x.name for x in w}, set()
        branches = []
        for p in _branch_preds(join):
            if p not in names:
                branches.append([] if p == gtail and plain(join) else [Item("from", idx.get(p) or Layer(p, "input"))])
                continue
            branches.append(build(_mine(w, p, claimed), gtail))
        return Item("group", join, branches=branches)

    def _split_source(join: Layer, w: list, gtail: str) -> str:
        names = {x.name for x in w}
        for p in join.inputs:
            if p not in names:
                return p
            first = next(x for x in w if x.name == p or x.name in ancestors(p))
            return first.inputs[0]
        return gtail

    for l in layers:
        if len(l.inputs) != 1 and not _is_join(l):
            raise fail(f"it reads {len(l.inputs)} inputs; netc joins branches only with concat or add", l)
    return build(layers, "input")


def _branch_preds(join: Layer) -> list:
    """The inputs of a join that are its branches (a residual's second input is the group's input)."""
    return join.inputs[:1] if join.kind == "residual" else list(join.inputs)


def _is_join(l: Layer) -> bool:
    return l.kind in JOINS and (len(l.inputs) > 1 or l.kind in ("split", "residual"))


def _reads(l: Layer) -> list:
    like = l.params.get("like") if l.kind == "upsample" else None
    return list(l.inputs) + ([like] if like and like != "input" else [])
