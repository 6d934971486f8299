"""IR -> torch.fx graphs (no tracing) and the submodule tree they call.

Each layer node becomes one ``call_module`` whose target is the node's name with ``/`` replaced
by ``.`` (so ``inception_3a/3x3_reduce`` lives at ``model.inception_3a.3x3_reduce`` and its weight is
the state_dict key ``inception_3a.3x3_reduce.weight``), followed by its activation as a function call
(``torch.relu_`` in place after conv, FC and batch-norm, whose outputs are fresh tensors).
Joins are ``torch.cat(..., 1)`` and ``operator.add``; an FC fed by a feature map flattens it first
with ``torch.flatten(x, 1)``. The result is the straight-line ``forward`` a person would write.
"""
from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import fx, nn

from netc.dsl.errors import SpecError
from netc.ir import IR, Node

from netc.backends.torch.modules import build_module

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
    if getattr(m, "netc_inline", False):   # a learned tensor (class token): a parameter of its scope's module
        parent.register_parameter(leaf, m.value)
        return
    parent.add_module(leaf, m)


def build_graph(ir: IR, with_aux: bool, output_mode: str) -> fx.Graph:
    """The forward graph: the output, or a dict of the named outputs (``outputs a, b as KEY``);
    with_aux: ``(that, aux1, ...)`` in the order of ``ir.aux``."""
    g = fx.Graph()
    env: dict[str, fx.Node] = {"input": g.placeholder("x")}
    outputs = {*ir.output_nodes.values(), *(a.output for a in ir.aux)}
    for n in ir.layers(aux=None if with_aux else False):
        ins = [env[p] for p in ir.preds(n.name)]
        env[n.name] = emit(g, ir, n, ins, trailing=n.name in outputs and output_mode != "probs")
    if ir.outputs:       # several named outputs: a dict, in the order of `outputs`
        result = {k: env[n] for k, n in ir.outputs.items()}
    else:
        result = env[ir.output]
        if output_mode == "probs" and getattr(ir.node(ir.output).layer_kind, "role", None) != "prob":   # no soft-max
            result = _fn(g, torch.softmax, (result, 1), "probs")
    if with_aux and ir.aux:
        result = (result, *(env[a.output] for a in ir.aux))
    g.output(result)
    g.lint()
    return g


class Lowering:
    """What a kind's ``lower`` gets: the graph, the node, its input types, and helpers to emit."""

    def __init__(self, g: fx.Graph, ir: IR, n: Node, trailing: bool):
        self.g, self.ir, self.node, self.trailing = g, ir, n, trailing
        self.name = var(n.name)
        self.ins = [shape_of(ir.node(p)) for p in ir.preds(n.name)]

    def call_module(self, x: fx.Node) -> fx.Node:
        return self.g.create_node("call_module", target(self.node.name), (x,), name=self.name)

    def get_attr(self) -> fx.Node:
        """The layer's own learned tensor (a class token, a position embedding), read as an attribute."""
        return self.g.create_node("get_attr", target(self.node.name), name=f"{self.name}_param")

    def call(self, fn, *args, name: str | None = None, **kwargs) -> fx.Node:
        return self.g.create_node("call_function", fn, args, kwargs, name=name)

    def activate(self, x: fx.Node) -> fx.Node:
        """The layer's resolved activation (``act``) after its output; in place on a fresh tensor."""
        return activation(self, x)


def emit(g: fx.Graph, ir: IR, n: Node, ins: list[fx.Node], trailing: bool) -> fx.Node:
    """The fx node(s) for one layer, as its kind lowers it; returns the node holding its output."""
    kind = n.layer_kind
    if kind is None:
        raise SpecError(f"the torch backend has no rule for layer kind '{n.kind}'", n.span)
    lo = Lowering(g, ir, n, trailing)
    if getattr(kind, "torch_module", None) is not None:   # custom layers: a module, then act
        return lo.activate(lo.call_module(ins[0]))
    return kind.lower(lo, list(ins))


def _fn(g: fx.Graph, fn, args: tuple, name: str | None) -> fx.Node:
    return g.create_node("call_function", fn, args, name=name)


#: activations with an in-place form, used after layers whose output is a fresh tensor
_INPLACE = {"relu": (torch.relu_, {}), "relu6": (F.relu6, {"inplace": True}),
            "hardswish": (F.hardswish, {"inplace": True}), "silu": (F.silu, {"inplace": True})}


def activation(lo: Lowering, x: fx.Node) -> fx.Node:
    n = lo.node
    act = n.act or "none"
    if act == "none":
        return x
    fresh = n.layer_kind is not None and (n.layer_kind.weight or n.layer_kind.family == "norm")
    if fresh and act in _INPLACE:
        fn, kw = _INPLACE[act]
        return lo.call(fn, x, name=f"{var(n.name)}_{act}", **kw)
    kind = lo.ir.registry.get(act) if getattr(lo.ir, "registry", None) is not None else None
    if kind is None or not kind.activation_fn:
        raise SpecError(f"the torch backend has no activation '{act}'", n.span)
    fn, kw = kind.act_fn(None)
    return lo.call(fn, x, name=f"{var(n.name)}_{act}", **kw)
