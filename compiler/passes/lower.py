"""Lowering: an elaborated configuration (items) -> the IR's graph of layer instances.

Each layer item becomes a node, each join a node fed by its branches' ends, each block instance
a scope, each side output a head hanging off its target; ``from NAME`` continues from an earlier
node. Nothing is inferred here: the analyses are passes (:mod:`netc.passes`).
"""
from __future__ import annotations

from netc.dsl.errors import Span, SpecError, did_you_mean

from netc.kinds.params import NoParams
from netc.ir import IR, AuxHead, Node, Scope
from netc.elaborate.items import AuxItem, BlockItem, GroupItem, LayerItem, OutputsItem, RefItem, Resolved


def lower(resolved: Resolved) -> IR:
    """Items -> an IR with nodes and edges (no types, counts or checks yet)."""
    ir = IR(resolved)
    b = _Builder(ir)
    inp = resolved.input
    ir.g.add_node("input", node=Node("input", "input", NoParams(), inp.span or resolved.span,
                                         spec=ir.registry["input"]))
    ir.output = b.seq(resolved.items, "input", ())
    for a in resolved.aux:
        b.aux(a)
    if resolved.outputs is not None:
        b.aux_names = {a.name for a in resolved.aux} | {n for a in resolved.aux for n in _item_names(a.body)}
        b.outputs(resolved.outputs)
    return ir


class _Builder:
    def __init__(self, ir: IR):
        self.ir = ir
        self.names: dict[str, str] = {}   # local reference (block instance name) -> output node

    def add(self, name: str, node: Node, preds: list[str]) -> str:
        g = self.ir.g
        if name in g:
            self.ir.errors.append(SpecError(f"duplicate name '{name}'", node.span,
                                            hint=f"'{name}' is already used at {g.nodes[name]['node'].span}; "
                                                 "pick another with 'as NAME'"))
            i = 2
            while f"{name}_{i}" in g:
                i += 1
            name = node.name = f"{name}_{i}"
        g.add_node(name, node=node)
        for port, p in enumerate(preds):
            g.add_edge(p, name, port=port)
        return name

    def seq(self, items: list, tail: str, scope: tuple, aux: str | None = None) -> str:
        for it in items:
            tail = self.item(it, tail, scope, aux)
        return tail

    def item(self, it, tail: str, scope: tuple, aux: str | None) -> str:
        prefix = "/".join(scope)
        full = f"{prefix}/{it.local}" if prefix else it.local
        if isinstance(it, LayerItem):
            node = Node(full, it.kind.kind, it.params, it.span, scope, aux, it.word, explicit=it.name is not None,
                        spec=it.kind)
            node.arg_spans = it.arg_spans
            refs = [self.lookup(r, _ref_span(it, r), scope, f"{it.word}: '{r}'") for r in it.kind.refs(it.params)]
            self.check_size_names(it)
            refs = [r for r in refs if r != tail]
            out = self.add(full, node, [tail, *refs])
            if it.attach is not None:   # conv(bn=true) as a: `a` means the layer's final output, after bn and act
                self.names[f"{prefix}/{it.attach.local}" if prefix else it.attach.local] = out
            return out
        if isinstance(it, RefItem):
            return self.ref(it, scope)
        if isinstance(it, BlockItem):
            out = self.seq(it.body, tail, (*scope, it.local), aux)
            if out == tail:   # an empty block passes its input through
                ident = self.ir.registry["identity"]
                out = self.add(f"{full}/identity", Node(f"{full}/identity", "identity", NoParams(), it.span,
                                                        (*scope, it.local), aux, "identity", spec=ident), [tail])
            self.ir.scopes[full] = Scope(full, "block", it.label, it.span, it.block, it.args, out, tail,
                                         explicit=it.name is not None)
            self.names.setdefault(it.local, out)
            self.names[full] = out
            return out
        if isinstance(it, GroupItem):
            if getattr(it.kind, "splits_input", False):     # split(n) { ... }: branch i reads part i
                return self.add(full, Node(full, it.kind.kind, it.params, it.span, scope, aux, it.op,
                                           explicit=it.name is not None, spec=it.kind),
                                [self.seq(br, self.part(it, i, tail, scope, aux), scope, aux)
                                 for i, br in enumerate(it.branches)])
            ends = [self.seq(br, tail, scope, aux) for br in it.branches]
            if it.kind.sequential_body:     # residual: the body, then the group's input as the shortcut
                ends = [ends[-1] if ends else tail, tail]
            node = Node(full, it.kind.kind, it.params, it.span, scope, aux, it.op, explicit=it.name is not None,
                        spec=it.kind)
            return self.add(full, node, ends)
        raise TypeError(f"unknown item {it!r}")

    def check_size_names(self, it: LayerItem) -> None:
        """upsample(size=[H/8, W/8]): the names are the input's height and width, in that order."""
        size = getattr(it.params, "size", None)
        if not isinstance(size, tuple) or not any(isinstance(x, str) for x in size):
            return
        spec = self.ir.input_spec
        for x, want, what in zip(size, (spec.height, spec.width), ("height", "width")):
            name = x.split("*")[0].split("/")[0] if isinstance(x, str) else None
            if name is not None and isinstance(want, str) and name != want:
                self.ir.errors.append(SpecError(f"{it.word}: '{x}' reads '{name}', but the input's {what} is "
                                                f"'{want}'", it.span, f"write size=[{spec.height}/8, {spec.width}/8] "
                                                "and the like: the height first"))

    def part(self, it: GroupItem, i: int, tail: str, scope: tuple, aux: str | None) -> str:
        """The chunk node that gives branch ``i`` of a split its part of the input."""
        parts = it.params.parts
        n = len(parts) if isinstance(parts, list) else parts
        if len(it.branches) != n:
            if i == 0:
                self.ir.errors.append(SpecError(f"split({parts}) makes {n} parts but has {len(it.branches)} "
                                                f"branch{'es' * (len(it.branches) != 1)}", it.span,
                                                hint="one branch per part, one per line (identity passes a part on)"))
            if i >= n:
                return tail
        kind = self.ir.registry["chunk"]
        prefix = "/".join(scope)
        name = f"{prefix}/{it.local}_part{i}" if prefix else f"{it.local}_part{i}"
        node = Node(name, "chunk", kind.Params(parts=parts, index=i), it.span, scope, aux, "chunk", spec=kind)
        return self.add(name, node, [tail])

    def ref(self, it: "RefItem", scope: tuple) -> str:
        """``from NAME``: continue from an earlier layer (a skip that does not nest)."""
        return self.lookup(it.target, it.span, scope, f"'from {it.target}'")

    def lookup(self, target: str, span, scope: tuple, what: str | None = None) -> str:
        """The node an earlier layer, block instance or ``input`` named ``target`` gives (its final output)."""
        g = self.ir.g
        prefix = "/".join(scope)
        for cand in ([f"{prefix}/{target}"] if prefix else []) + [target]:
            hit = self.names.get(cand, cand if cand in g else None)
            if hit is not None:
                return hit
        cands = [n for n in g if n != "input"] + list(self.names)
        self.ir.errors.append(SpecError(f"{what or repr(target)}: no earlier layer is named '{target}'", span,
                                        did_you_mean(target, cands) or
                                        "name the layer with 'as NAME' before referring to it"))
        return "input"

    def outputs(self, o: OutputsItem):
        """``outputs a, b as KEY``: the network returns these nodes (the first is ``ir.output``)."""
        g = self.ir.g
        self.ir.outputs_broken, self.ir.outputs_span = o.broken, o.span
        for target, span, key, _ in o.entries:
            node = self.names.get(target, target if target in g else None)
            if node is None and (target in self.aux_names or target.split("/")[0] in self.aux_names):
                self.ir.errors.append(SpecError(f"output '{target}' is part of a side output (aux): side outputs "
                                                "are heads for training, returned beside the outputs in training "
                                                "mode", span, "list layers of the network itself after outputs, "
                                                "or make the head part of the network"))
                self.ir.outputs_broken = True
                continue
            if node is None or g.nodes[node]["node"].aux is not None:
                cands = [n for n in g if n != "input" and g.nodes[n]["node"].aux is None] + list(self.names)
                self.ir.errors.append(SpecError(f"output '{target}': no layer or block is named '{target}'", span,
                                                did_you_mean(target, cands) or
                                                "name the layer with 'as NAME' and list it after outputs"))
                self.ir.outputs_broken = True     # what it should have reached is unknown: no follow-on errors
                continue
            self.ir.outputs[key] = node
        if self.ir.outputs:
            self.ir.output = next(iter(self.ir.outputs.values()))

    def aux(self, a: AuxItem):
        g = self.ir.g
        target = self.names.get(a.target, a.target)
        if target not in g or g.nodes[target]["node"].aux is not None:
            cands = [n for n in g if g.nodes[n]["node"].aux is None] + list(self.names)
            self.ir.errors.append(SpecError(f"side output '{a.name}' is attached to '{a.target}', which is not a layer "
                                            "of this configuration", a.target_span, did_you_mean(a.target, cands)))
            return
        if a.name in g or a.name in self.ir.scopes:
            self.ir.errors.append(SpecError(f"duplicate name '{a.name}'", a.span))
            return
        out = self.seq(a.body, target, (a.name,), aux=a.name)
        self.ir.scopes[a.name] = Scope(a.name, "aux", f"aux {a.name} (weight {a.weight:g})", a.span,
                                       output=out, input=target)
        self.ir.aux.append(AuxHead(a.name, target, out, a.weight, a.span))


def _item_names(items: list) -> set[str]:
    """The local names of items, nested blocks and groups included (a side output's layers)."""
    out: set[str] = set()
    for it in items:
        if getattr(it, "name", None):
            out.add(it.name)
        for sub in [getattr(it, "body", None) or [], *(getattr(it, "branches", None) or [])]:
            out |= _item_names(sub)
    return out


def _ref_span(it: LayerItem, target: str) -> Span:
    """Where a layer names ``target`` (``like=c3``): that argument, else the layer's word."""
    for f in it.kind.layer_refs:
        if getattr(it.params, f, None) == target and f in it.arg_spans:
            return it.arg_spans[f]
    return it.span
