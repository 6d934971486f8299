"""Shape inference, the smallest accepted input, receptive fields and costs, run on the IR.

Shapes are inferred twice: at the nominal input (exact integers) and for a symbolic ``H x W``
(:mod:`netc.dims`), which tells whether the network takes other sizes and the smallest it takes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import networkx as nx

from netc.dsl.errors import NetcError, ShapeError

from . import dims, layers as L
from .limits import bounded_rf
from .dims import Sym

if TYPE_CHECKING:
    from .ir import IR, Node


def infer(ir: IR, input_hw: tuple[int, int] | None = None) -> IR:
    """Infer shapes (nominal and symbolic), receptive fields, params and MACs; record errors.

    ``input_hw`` overrides the nominal input size (``netc summary --input``)."""
    if not nx.is_directed_acyclic_graph(ir.graph):
        return ir
    spec = ir.input_spec
    c = spec.channels
    fixed = input_hw or ((spec.height, spec.width) if spec.fixed else None)
    h_name = spec.height if isinstance(spec.height, str) else "H"
    w_name = spec.width if isinstance(spec.width, str) else "W"
    sym_errors = _propagate(ir, (c, Sym(h_name), Sym(w_name)), "sym_shape")
    ir.any_size = not sym_errors
    if fixed is not None:
        errors = _propagate(ir, (c, *fixed), "shape")
    else:
        errors = sym_errors
        for n in ir.nodes():
            n.shape = None
    ir.errors.extend(errors)
    _min_input(ir)
    _costs(ir)
    return ir


def _propagate(ir: IR, in_shape: tuple, attr: str) -> list[NetcError]:
    g = ir.graph
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
        except L.ShapeProblem as e:
            err = ShapeError(e.message, n.span, e.hint)
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
                    g.edges[p, name]["shape" if attr == "shape" else "sym_shape"] = getattr(g.nodes[p]["node"], attr)
    return errors


def _infer_node(ir: IR, n: Node, preds: list[str], ins: list[tuple]) -> tuple:
    if n.kind in ("concat", "add"):
        return _join(ir, n, preds, ins)
    kind = n.layer_kind
    if kind.spatial_in and len(ins[0]) != 3:
        raise L.ShapeProblem(f"{n.paper} needs a feature map (C x H x W), but '{preds[0]}' gives a vector of "
                             f"{ins[0][0]}", hint="put it before the fully-connected layers")
    if n.kind == "fc" and len(ins[0]) == 3 and not dims.is_fixed(ins[0]):
        raise L.ShapeProblem(f"{n.paper} needs a fixed-size input, but {preds[0]} gives "
                             f"{dims.fmt_shape(ins[0])}",
                             hint="put spp[4,2,1] or a global average pool (gap) before it")
    return kind.infer(n.params, ins)


def _join(ir: IR, n: Node, preds: list[str], ins: list[tuple]) -> tuple:
    ranks = {len(s) for s in ins}
    desc = ", ".join(f"{p} gives {dims.fmt_shape(s)}" for p, s in zip(preds, ins))
    if len(ranks) > 1:
        raise L.ShapeProblem(f"{n.kind} inputs mix feature maps and vectors: {desc}")
    if n.kind == "add":
        if any(s != ins[0] for s in ins):
            what = "channels" if all(s[1:] == ins[0][1:] for s in ins) else "shapes"
            raise L.ShapeProblem(f"add inputs disagree in {what}: {desc}",
                                 hint="every branch of add must give the same shape; project the shortcut with conv1-C")
        return ins[0]
    if any(s[1:] != ins[0][1:] for s in ins):
        raise L.ShapeProblem(f"concat inputs disagree in spatial size: {desc}",
                             hint="concatenated branches must keep the same H x W (check padding and strides)")
    return (sum(s[0] for s in ins), *ins[0][1:])


def _min_input(ir: IR) -> None:
    """The smallest H and W for which every layer's output is at least 1x1."""
    if not ir.any_size:
        ir.min_input = None
        return
    best = [(1, "input"), (1, "input")]
    for n in ir.nodes():
        s = n.sym_shape
        if s is None or len(s) != 3:
            continue
        for i, d in enumerate(s[1:]):
            if isinstance(d, Sym) and d.min_input > best[i][0]:
                best[i] = (d.min_input, n.name)
    ir.min_input = (best[0][0], best[1][0])
    ir.min_input_layer = (best[0][1], best[1][1])


def _costs(ir: IR) -> None:
    g = ir.graph
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
        if n.kind in ("concat", "add"):
            n.n_params, n.macs = 0, 0
            n.rf = None if any(r is None for r in rf_ins) else (max(r[0] for r in rf_ins), max(r[1] for r in rf_ins))
            continue
        kind = n.layer_kind
        n.n_params = kind.count_params(n.params, ins, out)
        n.macs = kind.count_macs(n.params, ins, out) if n.shape is not None else None
        n.rf = bounded_rf(kind.rf(n.params, rf_ins[0], ins))
