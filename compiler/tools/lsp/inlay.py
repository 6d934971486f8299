"""Inlay hints: the output shape after each layer and block call of a configuration, as the
papers' tables print it (``conv3-64  ▸ 64x224x224``). Table rows and block bodies get none (one
line stands for several configurations or instances there; hover tells each)."""
from __future__ import annotations

from lsprotocol import types as T

from netc.dsl import ast

from netc.tools.lsp.adapter import node_shape
from netc.tools.lsp.analysis import Analysis, to_lsp
from netc.tools.lsp.navigate import walk


def inlay_hints(a: Analysis, rng: T.Range) -> list[T.InlayHint]:
    if a.module is None:
        return []
    out = []
    main = [i for i in a.module.items if not isinstance(i, (ast.Config, ast.Table, ast.BlockDef, ast.VarDecl,
                                                            ast.Include))]
    for name, items in [(i.name, i.body) for i in a.module.configs] + [("main", main)]:
        ir = a.irs.get(name)
        if ir is None:
            continue
        shapes = _shapes(ir)
        for node, _ in walk(items):
            if isinstance(node, ast.Layer) and a.mine(node.span) and rng.start.line <= node.span.line - 1 <= rng.end.line:
                shape = shapes.get((node.word_span.file, node.word_span.line, node.word_span.col))
                if shape:
                    out.append(T.InlayHint(to_lsp(node.span).end, f"▸ {shape}", kind=T.InlayHintKind.Type,
                                           padding_left=True))
    return out


def _shapes(ir) -> dict:
    """(file, line, col) of a layer word -> the output shape of the last node or block instance it
    makes, outside block instances (a block call's own shape is its instance's output)."""
    def in_block(name: str) -> bool:
        parts = name.split("/")
        return any(ir.scopes.get("/".join(parts[:i])) is not None and ir.scopes["/".join(parts[:i])].kind == "block"
                   for i in range(1, len(parts)))

    out = {}
    for n in ir.nodes():
        if n.kind != "input" and n.span is not None and not in_block(n.name):
            out[(n.span.file, n.span.line, n.span.col)] = node_shape(n)
    for s in ir.scopes.values():
        if s.kind == "block" and not in_block(s.name) and s.output in ir.g:
            out[(s.span.file, s.span.line, s.span.col)] = node_shape(ir.node(s.output))
    return out
