"""Where things are: the word under the cursor, what it refers to, go to definition, references,
document symbols and folding ranges."""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from lsprotocol import types as T

from netc.dsl import ast
from netc.dsl.errors import Span

from netc.tools.lsp.analysis import Analysis, Pos, location, to_lsp

_WORD = re.compile(r"[A-Za-z0-9_]+(?:[-/\[][A-Za-z0-9_,\]]+)*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# ---------------------------------------------------------------- the syntax tree, walked
def walk(node, parents: tuple = ()) -> Iterator[tuple[object, tuple]]:
    """Every AST node below ``node`` (dataclasses with a span), with its ancestors."""
    if isinstance(node, (list, tuple)):
        for x in node:
            yield from walk(x, parents)
        return
    if not dataclasses.is_dataclass(node) or isinstance(node, Span):
        return
    yield node, parents
    for f in dataclasses.fields(node):
        v = getattr(node, f.name)
        if isinstance(v, (list, tuple)) or (dataclasses.is_dataclass(v) and not isinstance(v, Span)):
            yield from walk(v, parents + (node,))


def layers(module: ast.Module) -> Iterator[tuple[ast.Layer, tuple]]:
    for n, parents in walk(module.items):
        if isinstance(n, ast.Layer):
            yield n, parents


@dataclass
class Word:
    """The identifier under the cursor: ``text`` (``num_classes``), the whole token it is part of
    (``FC-num_classes``), and the AST node and ancestors that hold the cursor."""
    text: str
    span: Span | None
    token: str
    node: object | None
    parents: tuple


def word_at(a: Analysis, pos: Pos) -> Word | None:
    line = a.lines[pos.line - 1] if 0 < pos.line <= len(a.lines) else ""
    c = pos.col - 1
    ident = next((m for m in _IDENT.finditer(line) if m.start() <= c <= m.end()), None)
    token = next((m for m in _WORD.finditer(line) if m.start() <= c <= m.end()), None)
    if ident is None and token is None:
        return None
    node, parents = innermost(a, pos)
    src = a.program.module.span.source if a.program else None
    span = Span(src, pos.line, ident.start() + 1, pos.line, ident.end() + 1) if ident and src else None
    return Word(ident.group() if ident else "", span, token.group() if token else "", node, parents)


def innermost(a: Analysis, pos: Pos) -> tuple[object | None, tuple]:
    """The smallest AST node whose span holds the cursor, with its ancestors."""
    best, best_parents = None, ()
    if a.module is None:
        return None, ()
    for n, parents in walk(a.module.items):
        if pos.within(getattr(n, "span", None)):
            best, best_parents = n, parents      # walk is pre-order: later hits are deeper
    return best, best_parents


def enclosing(parents: tuple, cls) -> object | None:
    return next((p for p in reversed(parents) if isinstance(p, cls)), None)


# ---------------------------------------------------------------- what a word refers to
def block_param(parents: tuple, name: str) -> ast.Param | None:
    block = enclosing(parents, ast.BlockDef)
    if block is None:
        return None
    return next((p for p in block.params if p.name == name), None)


def definition(a: Analysis, pos: Pos) -> list[T.Location]:
    if a.program is None:
        return []
    w = word_at(a, pos)
    if w is None:
        return []
    prog, node = a.program, w.node
    for n in (node, *reversed(w.parents)):
        if isinstance(n, ast.Include):
            target = (Path(a.path).parent / n.path).resolve()
            return [T.Location(target.as_uri(), T.Range(T.Position(0, 0), T.Position(0, 0)))] if target.is_file() else []
    if isinstance(node, ast.Config) and pos.within(node.base_span) and node.base in prog.configs:
        return [location(prog.configs[node.base].span, a)]
    target = edit_target(a, pos, node, w.parents)
    if target is not None:
        return [location(target[1].span, a)]
    if isinstance(node, ast.Layer) and pos.within(node.word_span) and node.word in prog.blocks \
            and w.text == node.word:
        b = prog.blocks[node.word]
        return [location(b.name_span or b.span, a)]
    var = variable(a, w)
    if var is not None:
        return [location(var.index_span if isinstance(var, ast.Layer) else var.span, a)]
    return []


def variable(a: Analysis, w: Word):
    """The block parameter or variable a word names (``c`` in ``conv3-c``, ``num_classes``)."""
    if not w.text or a.program is None:
        return None
    chain = list(w.parents) + [w.node]
    if isinstance(w.node, ast.Layer) and w.token == w.text and w.text == w.node.word:
        return None                                      # the layer word itself, not a value in it
    rep = next((n for n in reversed(chain) if isinstance(n, ast.Layer)), None)
    if rep is not None and rep.index == w.text and w.text != rep.word:
        return rep                                       # x n for i: the index, in the line's arguments
    let = _let(a, chain, w.text, w.span)
    if let is not None:
        return let
    p = block_param(tuple(chain), w.text)
    if p is not None:
        return p
    return a.program.vars.get(w.text)


def _let(a: Analysis, chain: list, name: str, at: Span | None) -> ast.Let | None:
    """The ``let NAME = ...`` in force at the cursor: the last one before it in the enclosing block
    or configuration (or at the top level)."""
    if at is None:
        return None
    scope = next((p for p in reversed(chain) if isinstance(p, (ast.BlockDef, ast.Config))), None)
    found = None
    for n, _ in walk(scope.body if scope is not None else a.module.items):
        if isinstance(n, ast.Let) and n.name == name and (n.span.line, n.span.col) <= (at.line, at.col):
            found = n
    return found


def edit_target(a: Analysis, pos: Pos, node, parents: tuple) -> tuple[str, object] | None:
    """``replace conv1_1 with ...``, ``remove drop6``, ``insert ... after X``, ``aux ... on X``,
    ``outputs X, Y``: the configuration (the base; this one for aux, from and outputs) and the node or
    block instance so named."""
    names = []
    if isinstance(node, (ast.Replace, ast.Remove)):
        names = [n for n, sp in node.targets if pos.within(sp)]
    elif isinstance(node, ast.Insert) and pos.within(node.target_span):
        names = [node.target]
    elif isinstance(node, ast.Aux) and pos.within(node.target_span):
        names = [node.target]
    elif isinstance(node, ast.Ref) and pos.within(node.target_span):
        names = [node.target]
    elif isinstance(node, ast.Outputs):
        names = [n for n, sp in node.targets if pos.within(sp)]
    if not names:
        return None
    here = isinstance(node, (ast.Aux, ast.Ref, ast.Outputs))   # a layer of this configuration, not of the base
    cfg = enclosing(parents + (node,), ast.Config)
    if cfg is None:
        return _in_main(a, names[0]) if here and enclosing(parents, ast.BlockDef) is None else None
    name = cfg.name if here or not cfg.base else cfg.base
    ir = a.irs.get(name)
    if ir is None:
        return None
    if names[0] in ir.g:
        return name, ir.node(names[0])
    scope = ir.scopes.get(names[0])
    return (name, scope) if scope else None


def _in_main(a: Analysis, name: str):
    ir = a.irs.get("main")
    if ir is None:
        return None
    if name in ir.g:
        return "main", ir.node(name)
    return ("main", ir.scopes[name]) if name in ir.scopes else None


def references(a: Analysis, pos: Pos, include_declaration: bool = True) -> list[T.Location]:
    """Every call of the block under the cursor (on its definition or on a call)."""
    if a.program is None:
        return []
    w = word_at(a, pos)
    if w is None:
        return []
    name = None
    if isinstance(w.node, ast.BlockDef) and pos.within(w.node.name_span):
        name = w.node.name
    elif isinstance(w.node, ast.Layer) and w.node.word in a.program.blocks:
        name = w.node.word
    if name is None:
        return []
    out = [location(la.word_span, a) for la, _ in layers(a.module) if la.word == name]
    b = a.program.blocks[name]
    if include_declaration:
        out.insert(0, location(b.name_span or b.span, a))
    return out


# ---------------------------------------------------------------- outline and folding
def symbols(a: Analysis) -> list[T.DocumentSymbol]:
    if a.module is None:
        return []
    out = []
    for item in a.module.items:
        rng = to_lsp(item.span)
        if isinstance(item, ast.Config):
            detail = ("default " if item.default else "") + (f"extends {item.base}" if item.base else "")
            out.append(T.DocumentSymbol(item.name, T.SymbolKind.Class, rng, to_lsp(item.name_span or item.span),
                                        detail=detail or "configuration"))
        elif isinstance(item, ast.Table):
            cols = [T.DocumentSymbol(n, T.SymbolKind.Class, to_lsp(sp), to_lsp(sp), detail="table column")
                    for n, sp in item.columns]
            out.append(T.DocumentSymbol("table " + " | ".join(n for n, _ in item.columns), T.SymbolKind.Namespace,
                                        rng, to_lsp(item.columns[0][1]), children=cols))
        elif isinstance(item, ast.BlockDef):
            sig = ", ".join(p.name for p in item.params)
            out.append(T.DocumentSymbol(item.name, T.SymbolKind.Function, rng, to_lsp(item.name_span or item.span),
                                        detail=f"block {item.name}({sig})"))
        elif isinstance(item, ast.VarDecl):
            out.append(T.DocumentSymbol(item.name, T.SymbolKind.Variable, rng, rng, detail="var"))
    return out


def folding(text: str) -> list[T.FoldingRange]:
    """One range per pair of braces over several lines (comments and strings skipped)."""
    out, stack = [], []
    for i, line in enumerate(text.split("\n")):
        in_str = False
        for ch in line:
            if ch == '"':
                in_str = not in_str
            elif in_str:
                continue
            elif ch == "#":
                break
            elif ch == "{":
                stack.append(i)
            elif ch == "}" and stack:
                start = stack.pop()
                if i > start:
                    out.append(T.FoldingRange(start, max(start, i - 1) if i - 1 > start else i))
    return sorted(out, key=lambda r: r.start_line)
