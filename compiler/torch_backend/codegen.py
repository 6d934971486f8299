"""IR -> torch.fx graphs (no tracing) and the submodule tree they call.

Each layer node becomes one ``call_module`` whose target is the node's name with ``/`` replaced
by ``.`` (so ``inception_3a/3x3_reduce`` lives at ``model.inception_3a.3x3_reduce`` and its weight is
the state_dict key ``inception_3a.3x3_reduce.weight``), followed by its activation as a function call
(``torch.relu_`` in place after conv, FC and batch-norm, whose outputs are fresh tensors).
Joins are ``torch.cat(..., 1)`` and ``operator.add``; an FC fed by a feature map flattens it first
with ``torch.flatten(x, 1)``. The result is the straight-line ``forward`` a person would write.
"""
from __future__ import annotations

import operator
import re

import torch
import torch.nn.functional as F
from torch import fx, nn

from netc.dsl.errors import SpecError
from netc.ir import IR, Node

from .modules import build_module

#: activation name -> function; the in-place form is used where the input is a fresh tensor
ACTS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "gelu": F.gelu, "silu": F.silu,
        "leaky_relu": F.leaky_relu, "elu": F.elu}
INPLACE_AFTER = ("conv", "fc", "bn")


def target(name: str) -> str:
    """IR name -> submodule path: ``4a/3x3_reduce`` -> ``4a.3x3_reduce``."""
    return ".".join(part.replace(".", "_") for part in name.split("/"))


def var(name: str) -> str:
    """IR name -> a variable name for the generated code: ``4a/3x3_reduce`` -> ``4a_3x3_reduce``
    (fx prefixes names that start with a digit)."""
    return re.sub(r"\W", "_", name.replace("/", "_"))


def shape_of(n: Node) -> tuple:
    return n.shape if n.shape is not None else n.sym_shape


def build_modules(ir: IR, device, dtype) -> nn.Module:
    """The tree of submodules, nested by scope, created in program order."""
    root = nn.Module()
    for n in ir.layers():
        ins = [shape_of(ir.node(p)) for p in ir.preds(n.name)]
        m = build_module(n, ins, device, dtype)
        if m is not None:
            place(root, target(n.name), m)
    return root


def place(root: nn.Module, path: str, m: nn.Module) -> None:
    *scopes, leaf = path.split(".")
    parent = root
    for s in scopes:
        child = parent._modules.get(s)
        if child is None:
            child = nn.Module()
            parent.add_module(s, child)
        parent = child
    parent.add_module(leaf, m)


def build_graph(ir: IR, with_aux: bool, output_mode: str) -> fx.Graph:
    """The forward graph; with_aux: return ``(main, aux1, ...)`` in the order of ``ir.aux``."""
    g = fx.Graph()
    env: dict[str, fx.Node] = {"input": g.placeholder("x")}
    outputs = {ir.output, *(a.output for a in ir.aux)}
    for n in ir.layers(aux=None if with_aux else False):
        ins = [env[p] for p in ir.preds(n.name)]
        env[n.name] = emit(g, ir, n, ins, trailing=n.name in outputs and output_mode != "probs")
    result = env[ir.output]
    if output_mode == "probs" and ir.node(ir.output).kind != "softmax":   # `output probs` with no soft-max layer
        result = _fn(g, torch.softmax, (result, 1), "probs")
    if with_aux and ir.aux:
        result = (result, *(env[a.output] for a in ir.aux))
    g.output(result)
    g.lint()
    return g


def emit(g: fx.Graph, ir: IR, n: Node, ins: list[fx.Node], trailing: bool) -> fx.Node:
    """The fx node(s) for one layer; returns the node holding its output."""
    name = var(n.name)
    k = n.kind
    if k == "identity" or (k == "softmax" and trailing):
        return ins[0]   # a trailing soft-max is left to the loss (output logits)
    if k == "concat":
        return _fn(g, torch.cat, (list(ins), 1), name)
    if k == "add":
        out = ins[0]
        for i, other in enumerate(ins[1:]):
            out = _fn(g, operator.add, (out, other), name if i == len(ins) - 2 else None)
        return out
    if k == "softmax":
        return _fn(g, torch.softmax, (ins[0], 1), name)
    if k == "flatten":
        return _fn(g, torch.flatten, (ins[0], 1), name)
    if k in ("relu", "sigmoid", "tanh"):
        return _fn(g, ACTS[k], (ins[0],), name)
    x = ins[0]
    pred_shape = shape_of(ir.node(ir.preds(n.name)[0]))
    if k == "fc" and len(pred_shape) == 3:
        x = _fn(g, torch.flatten, (x, 1), f"{name}_flat")
    out = g.create_node("call_module", target(n.name), (x,), name=name)
    return activation(g, n, out)


def _fn(g: fx.Graph, fn, args: tuple, name: str | None) -> fx.Node:
    return g.create_node("call_function", fn, args, name=name)


def activation(g: fx.Graph, n: Node, x: fx.Node) -> fx.Node:
    act = n.act or "none"
    if act == "none":
        return x
    if act == "relu" and n.kind in INPLACE_AFTER:
        return _fn(g, torch.relu_, (x,), f"{var(n.name)}_relu")
    fn = ACTS.get(act)
    if fn is None:
        raise SpecError(f"the torch backend has no activation '{act}'", n.span)
    return _fn(g, fn, (x,), f"{var(n.name)}_{act}")
