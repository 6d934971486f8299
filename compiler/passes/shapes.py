"""Shape inference, the smallest accepted input, receptive fields and costs, run on the IR.

Shapes are inferred twice: at the nominal input (exact integers) and for a symbolic ``H x W``
(:mod:`netc.types.dims`), which tells whether the network takes other sizes and the smallest it takes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from netc.dsl.errors import NetcError, ShapeError

from netc.types.dims import ShapeProblem
from netc.elaborate.bounds import bounded_rf
from netc.types.dims import Sym
from netc.types.tensortype import IDS, MAP, TOKENS, fmap, ids, layout_of, typed

if TYPE_CHECKING:
    from netc.ir import IR, Node


def _acyclic(ir: IR) -> bool:
    """Found once by the graph-check pass (lowering only ever links to earlier nodes)."""
    acyclic = getattr(ir, "acyclic", None)
    return ir.g.is_acyclic() if acyclic is None else acyclic


def infer_types(ir: IR) -> IR:
    """The pass that infers every value's type, nominal and symbolic; records shape errors.

    ``ir.input_hw`` overrides the nominal input size (``netc summary --input``)."""
    if not _acyclic(ir):
        return ir
    spec = ir.input_spec
    if getattr(spec, "tokens", False):          # token ids: input tokens 2048 / input tokens L
        return _infer_ids(ir, spec)
    c = spec.channels
    fixed = ir.input_hw or ((spec.height, spec.width) if spec.fixed else None)
    h_name = spec.height if isinstance(spec.height, str) else "H"
    w_name = spec.width if isinstance(spec.width, str) else "W"
    sym_errors = _propagate(ir, fmap(c, Sym(h_name), Sym(w_name)), "sym_shape")
    ir.any_size = not sym_errors
    if fixed is not None:
        errors = _propagate(ir, fmap(c, *fixed), "shape")
    else:
        errors = sym_errors
        for n in ir.nodes():
            n.shape = None
    ir.errors.extend(errors)
    return ir


def _infer_ids(ir: IR, spec) -> IR:
    """``input tokens L``: a sequence of token ids, fixed (2048) or symbolic (L); ``ir.input_hw``
    (its first entry) sets the nominal length, as --input does for an image."""
    name = spec.height if isinstance(spec.height, str) else "L"
    sym_errors = _propagate(ir, ids(Sym(name)), "sym_shape")
    ir.any_size = not sym_errors
    fixed = ir.input_hw[0] if ir.input_hw else (spec.height if isinstance(spec.height, int) else None)
    if fixed is not None:
        errors = _propagate(ir, ids(fixed), "shape")
    else:
        errors = sym_errors
        for n in ir.nodes():
            n.shape = None
    ir.errors.extend(errors)
    return ir


def _propagate(ir: IR, in_shape: tuple, attr: str) -> list[NetcError]:
    g = ir.g
    errors: list[NetcError] = []
    for name in g:
        n: Node = g.nodes[name]["node"]
        if n.kind == "input":
            setattr(n, attr, in_shape)
            continue
        preds = ir.preds(name)
        ins = [getattr(g.nodes[p]["node"], attr) for p in preds]
        if any(s is None for s in ins):
            setattr(n, attr, None)
            continue
        try:
            out = _infer_node(ir, n, preds, ins)
        except ShapeProblem as e:
            err = ShapeError(e.message, n.arg_spans.get(e.field, n.span) if e.field else n.span, e.hint)
            for sc in reversed(n.scope):          # the block instances it sits in, innermost first
                scope = ir.scopes.get(sc)
                if scope is not None and scope.kind == "block":
                    err.note(f"in {scope.label}, used here", scope.span)
            errors.append(err)
            out = None
        setattr(n, attr, out)
        if attr == "shape" or attr == "sym_shape":
            for p in preds:
                if out is not None:
                    g.set_edge(p, name, **{"shape" if attr == "shape" else "sym_shape": getattr(g.nodes[p]["node"], attr)})
    return errors


def readable(ir: IR, name: str) -> str:
    """A layer as an error message names it: its name where the user wrote it (``as b9``) or where the
    papers' naming makes it telling (conv1_2, pool3, fc6); an unnamed identity, join or activation
    (``identity1_5``, ``add3``) as what the text says and where: ``identity (line 9, in residual_1)``."""
    n = ir.node(name) if name in ir.g else None
    kind = n.layer_kind if n is not None else None
    if n is None or n.explicit or kind is None or kind.role not in ("other", "join") or not n.span.line \
            or n.kind == "input":
        return name
    scope = name.rsplit("/", 1)[0] if "/" in name else ""
    return f"{n.word or n.paper} (line {n.span.line}{', in ' + scope if scope else ''})"


def _infer_node(ir: IR, n: Node, preds: list[str], ins: list[tuple]) -> tuple:
    kind = n.layer_kind
    preds = [readable(ir, p) for p in preds]      # for messages only
    ins = [typed(s) for s in ins]
    if kind.join:
        return typed(kind.check(n, preds, ins))
    if ins and ins[0].layout == IDS and IDS not in kind.accepts:     # token ids: only an embedding reads them
        from netc.kinds.base import need_layout
        need_layout(kind.paper(n.params), ins[0], kind.accepts, preds[0] if preds else None)
    kind.check_input(n.params, ins, preds)
    return typed(kind.infer(n.params, ins))


def find_min_input(ir: IR) -> None:
    """The pass that finds the smallest H and W for which every layer's output is at least 1x1: at
    inference (``min_input``; the side outputs do not run) and in training (``min_input_train``, side
    outputs included: Inception v3 takes 75x75 images, but its auxiliary head needs 299x299)."""
    if not ir.any_size or not _acyclic(ir) or getattr(ir.input_spec, "tokens", False):
        ir.min_input = ir.min_input_train = None      # token ids: any length (a position table bounds it)
        return
    best = [(1, "input"), (1, "input")]
    for n in ir.nodes(aux=False):
        best = _at_least(n, best)
    ir.min_input = (best[0][0], best[1][0])
    ir.min_input_layer = (best[0][1], best[1][1])
    for n in ir.nodes(aux=True):
        best = _at_least(n, best)
    ir.min_input_train = (best[0][0], best[1][0])
    ir.min_input_train_layer = (best[0][1], best[1][1])


def _at_least(n: Node, best: list) -> list:
    s = n.sym_shape
    if s is None or layout_of(s) not in (MAP, TOKENS) or len(s) != 3:
        return best
    best = list(best)
    for i, d in enumerate(s[1:] if layout_of(s) == MAP else s[:2]):     # a map, or tokens on a grid
        if isinstance(d, Sym) and d.min_input > best[i][0]:
            best[i] = (d.min_input, n.name)
    return best


def count_costs(ir: IR) -> None:
    """The pass that counts each layer's parameters, multiply-adds and receptive field."""
    if not _acyclic(ir):
        return
    g = ir.g
    for name in g:
        n: Node = g.nodes[name]["node"]
        preds = ir.preds(name)
        if n.kind == "input":
            n.rf = (1, 1)
            continue
        ins = [g.nodes[p]["node"].shape or g.nodes[p]["node"].sym_shape for p in preds]
        out = n.shape if n.shape is not None else n.sym_shape
        rf_ins = [g.nodes[p]["node"].rf for p in preds]
        if out is None or any(s is None for s in ins):
            n.n_params, n.macs, n.rf = 0, None, None
            continue
        kind = n.layer_kind
        if kind.join:
            n.n_params, n.macs = 0, 0
            n.rf = kind.rf_join(rf_ins)
            continue
        n.n_params = kind.count_params(n.params, ins, out)
        n.macs = kind.count_macs(n.params, ins, out) if n.shape is not None else None
        n.rf = bounded_rf(kind.rf(n.params, rf_ins[0], ins))
