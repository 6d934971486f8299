"""The few facts the language server reads from the compiler, in one place.

Everything the server knows about layer kinds, IR nodes and costs goes through these functions,
so that a change of the compiler's internals (the layer-kind registry) is re-pointed here only.
Nothing here imports torch.
"""
from __future__ import annotations

from typing import Any

from netc.types import dims
from netc.kinds import DEFAULT
import netc
from netc.dsl.errors import NetcError
from netc.dsl.fmt import format_text
from netc.passes import build
from netc.elaborate.resolve import resolve

__all__ = ["build_config", "check_program", "config_facts", "format_text", "join_words", "kind_of_word", "kind_fields", "kind_positional", "word_settings", "show",
           "layer_facts", "layer_words", "node_shape", "scope_facts", "shape_text"]


def build_config(prog, name: str):
    """The IR of one configuration (with its ``.errors``), or raises NetcError."""
    return build(resolve(prog, name))


def check_program(prog) -> tuple[list[NetcError], dict]:
    """Every error of a program and the IR of each configuration built (:func:`netc.check_configs`,
    the one way a program is checked), kept for hover and navigation."""
    checked = netc.check_configs(prog)
    return checked.errors, checked.irs


def layer_words() -> list[tuple[str, str, str]]:
    """Every layer spelling: (word, kind name, one-line doc); the paper examples included."""
    return DEFAULT.spellings()


def join_words() -> list[str]:
    """The words that open a join group (``concat {``, ``add {``, ``residual {``)."""
    return DEFAULT.join_words()


def kind_of_word(word: str):
    """The layer kind a layer word names (``conv3-64`` -> conv), or None (a block, a typo)."""
    hit = DEFAULT.lookup_word(word)
    return hit[0] if hit else None


def show(v) -> str:
    """A value as the language writes it (``true``, ``[3, 5]``): hovers and the playground's tooltips."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(show(x) for x in v) + "]"
    return str(v)


def word_settings(word: str) -> dict:
    """The parameters a paper word sets itself (``maxpool3/2``: k=3, stride=2); empty for a bare kind."""
    hit = DEFAULT.lookup_word(word)
    return dict(hit[1]) if hit else {}


def kind_fields(kind) -> list[tuple[str, Any, str, tuple]]:
    """A kind's keyword parameters: (name, default or None when required, description, choices)."""
    out = []
    for name, f in kind.Params.model_fields.items():
        default = None if f.is_required() else f.default
        out.append((name, default, f.description or "", _choices(f.annotation)))
    return out


def kind_positional(kind) -> tuple[str, ...]:
    """The parameters a kind takes by position, in order (conv: out, k, stride)."""
    return tuple(getattr(kind, "positional", ()))


def _choices(annotation) -> tuple:
    """The values of a Literal[...] parameter (``act``: relu, none...), found inside unions."""
    import typing
    if typing.get_origin(annotation) is typing.Literal:
        return tuple(typing.get_args(annotation))
    out: tuple = ()
    for a in typing.get_args(annotation):
        out += _choices(a)
    return out


def shape_text(shape) -> str:
    return dims.fmt_shape(shape) if shape is not None else "?"


def node_shape(node) -> str:
    if node is None:
        return "?"
    return shape_text(node.shape if node.shape is not None else node.sym_shape)


def _total(values) -> int | None:
    values = list(values)
    return None if any(v is None for v in values) else sum(values)


def config_facts(ir) -> dict:
    """What hover shows of one configuration."""
    return {"depth": ir.depth, "input": node_shape(ir.node("input")), "output": node_shape(ir.node(ir.output)),
            "params": ir.params, "params_inference": ir.params_inference, "macs": ir.macs}


def scope_facts(ir, scope) -> dict:
    """What hover shows of one block instance."""
    nodes = ir.scope_nodes(scope.name)
    out = ir.node(scope.output) if scope.output in ir.g else None
    return {"name": scope.name, "label": scope.label, "args": dict(scope.args), "output": node_shape(out),
            "layers": len(nodes), "params": sum(n.n_params for n in nodes), "macs": _total(n.macs for n in nodes)}


def layer_facts(node) -> dict:
    """What hover shows of one IR node."""
    params = node.params.model_dump() if hasattr(node.params, "model_dump") else {}
    return {
        "name": node.name, "kind": node.kind, "paper": node.paper, "shape": node_shape(node),
        "n_params": node.n_params, "macs": node.macs, "rf": node.rf, "act": getattr(node, "act", "none"),
        "params": params, "span": node.span, "scope": node.scope, "aux": node.aux,
    }
