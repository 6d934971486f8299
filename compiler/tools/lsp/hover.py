"""Hover: a layer's notation, name, output shape, parameters, multiply-adds and receptive field in
the configuration being edited; a block call's signature and totals; a variable's value."""
from __future__ import annotations

from lsprotocol import types as T

from netc.dsl import ast

from netc.tools.lsp.adapter import config_facts, layer_facts, scope_facts, show
from netc.tools.lsp.analysis import Analysis, Pos, to_lsp
from netc.tools.lsp.navigate import Word, edit_target, enclosing, variable, word_at


def hover(a: Analysis, pos: Pos) -> T.Hover | None:
    if a.program is None:
        return None
    w = word_at(a, pos)
    if w is None:
        return None
    parts, rng = [], None
    var = variable(a, w)
    if var is not None:
        parts.append(_variable(a, w, var))
        rng = w.span
    layer = w.node if isinstance(w.node, ast.Layer) else None
    if layer is not None and pos.within(layer.word_span):
        text = _block_call(a, pos, layer) if layer.word in a.program.blocks else _layer(a, pos, layer)
        if text:
            parts.insert(0, text)
            rng = rng or layer.word_span
    elif isinstance(w.node, ast.Group) and pos.within(w.node.op_span):
        found = nodes_at(a, pos, w.node.span)          # the join node: concat, add, residual
        if found:
            parts.append(_facts(*found))
            rng = w.node.op_span
    elif isinstance(w.node, ast.BlockDef) and pos.within(w.node.name_span):
        parts.append(_block_def(a, w.node))
        rng = w.node.name_span
    elif (target := edit_target(a, pos, w.node, w.parents)) is not None:
        config, node = target
        is_scope = node.name in a.irs[config].scopes
        parts.append(_scope(config, scope_facts(a.irs[config], node)) if is_scope else _facts(config, [node]))
        rng = w.span
    elif (config := _config_named(a, pos)) is not None:
        parts.append(_config(a, config))
        rng = w.span
    if not parts:
        return None
    return T.Hover(T.MarkupContent(T.MarkupKind.Markdown, "\n\n---\n\n".join(parts)),
                   to_lsp(rng) if rng is not None else None)


# ---------------------------------------------------------------- which configuration
def config_order(a: Analysis, pos: Pos) -> list[str]:
    """Configurations to look in: the one under the cursor first, then all in file order."""
    names = list(a.irs)
    here = None
    for item in a.module.items:
        if isinstance(item, ast.Config) and pos.within(item.span):
            here = item.name
        elif isinstance(item, ast.Table) and pos.within(item.span):
            here = _column(item, pos)
        elif not isinstance(item, (ast.Config, ast.Table, ast.BlockDef, ast.VarDecl, ast.Include)) \
                and pos.within(item.span):
            here = "main"
    return ([here] if here in a.irs else []) + [n for n in names if n != here]


def _column(table: ast.Table, pos: Pos) -> str:
    for row in table.rows:
        if row.spanning or not pos.within(row.span):
            continue
        for i, cell in enumerate(row.cells):
            if cell is not None and pos.within(cell.span) and i < len(table.columns):   # (a row may have too many)
                return table.columns[i][0]
    return table.columns[0][0]


def nodes_at(a: Analysis, pos: Pos, span) -> tuple[str, list] | None:
    """The configuration and its IR nodes made from the layer written at ``span``."""
    for name in config_order(a, pos):
        hits = [n for n in a.irs[name].nodes() if n.span is span or _same(n.span, span)]
        if hits:
            return name, hits
    return None


def _same(s, t) -> bool:
    return (s.file, s.line, s.col, s.end_line, s.end_col) == (t.file, t.line, t.col, t.end_line, t.end_col)


# ---------------------------------------------------------------- texts
def _num(v) -> str:
    return "n/a (variable input)" if v is None else f"{v:,}"


def _layer(a: Analysis, pos: Pos, layer: ast.Layer) -> str | None:
    found = nodes_at(a, pos, layer.word_span)
    if found is None:
        return (f"**{layer.word}**: no layer of any configuration comes from this line (an `if` branch "
                f"not taken, a block never called, or a configuration with errors)")
    return _facts(*found)


def _facts(config: str, nodes: list) -> str:
    f = layer_facts(nodes[0])
    args = ", ".join(f"{k}={show(v)}" for k, v in f["params"].items())
    rf = f"{f['rf'][0]} (stride {f['rf'][1]})" if f["rf"] else "n/a"
    lines = [f"**{f['paper']}** `{f['name']}` ({f['kind']}{', ' + f['act'] if f['act'] not in ('none', '') else ''})"
             f" in configuration `{config}`", "",
             "| | |", "|---|---|",
             f"| output | {f['shape']} |",
             f"| params | {_num(f['n_params'])} |",
             f"| mult-adds | {_num(f['macs'])} |",
             f"| receptive field | {rf} |"]
    if args:
        lines += ["", f"`{f['kind']}({args})`"]
    if len(nodes) > 1:
        total = sum(n.n_params for n in nodes)
        names = ", ".join(n.name for n in nodes[:6]) + (", ..." if len(nodes) > 6 else "")
        what = "instances of this layer" if len({n.scope for n in nodes}) > 1 else "layers from this line"
        lines += ["", f"{len(nodes)} {what} in `{config}` ({names}): {total:,} params in all"]
    return "\n".join(lines)


def _config_named(a: Analysis, pos: Pos) -> str | None:
    """The configuration whose name (``config D``, a table column, ``extends D``) is under the cursor."""
    for item in a.module.items:
        if isinstance(item, ast.Config):
            if pos.within(item.name_span):
                return item.name
            if pos.within(item.base_span):
                return item.base
        elif isinstance(item, ast.Table):
            for name, span in item.columns:
                if pos.within(span):
                    return name
    return None


def _config(a: Analysis, name: str) -> str:
    ir = a.irs.get(name)
    if ir is None:
        return f"configuration `{name}` (does not build; see the diagnostics)"
    f = config_facts(ir)
    lines = [f"configuration **{name}**: {f['depth']} weight layers", "", "| | |", "|---|---|",
             f"| input | {f['input']} |", f"| output | {f['output']} |", f"| params | {f['params']:,} |",
             f"| mult-adds | {_num(f['macs'])} |"]
    if f["params_inference"] != f["params"]:
        lines.append(f"| params at inference | {f['params_inference']:,} |")
    return "\n".join(lines)


def _signature(b: ast.BlockDef) -> str:
    ps = [p.name + (f"={value_text(p.default)}" if p.default is not None else "") for p in b.params]
    return f"block {b.name}({', '.join(ps)})"


def _block_call(a: Analysis, pos: Pos, layer: ast.Layer) -> str:
    b = a.program.blocks[layer.word]
    lines = [f"```netc\n{_signature(b)}\n```"]
    for name in config_order(a, pos):
        ir = a.irs[name]
        start = (layer.word_span.file, layer.word_span.line, layer.word_span.col)
        scopes = [s for s in ir.scopes.values()
                  if s.block == layer.word and (s.span.file, s.span.line, s.span.col) == start]
        if not scopes:
            continue
        lines.append(_scope(name, scope_facts(ir, scopes[0])))
        if len(scopes) > 1:
            lines += ["", f"{len(scopes)} instances from this line"]
        break
    return "\n".join(lines)


def _scope(config: str, f: dict) -> str:
    args = ", ".join(f"{k}={show(v)}" for k, v in f["args"].items())
    return "\n".join([f"`{f['name']}` = `{f['label']}` in configuration `{config}`", "",
                      "| | |", "|---|---|",
                      f"| arguments | {args or '-'} |",
                      f"| output | {f['output']} |",
                      f"| layers | {f['layers']} |",
                      f"| params | {f['params']:,} |",
                      f"| mult-adds | {_num(f['macs'])} |"])


def _block_def(a: Analysis, b: ast.BlockDef) -> str:
    calls = sum(1 for ir in a.irs.values() for s in ir.scopes.values() if s.block == b.name)
    used = [name for name, ir in a.irs.items() if any(s.block == b.name for s in ir.scopes.values())]
    tail = f"{calls} instance{'s' * (calls != 1)}" + (f" in {', '.join(used)}" if used else "")
    return f"```netc\n{_signature(b)}\n```\n{tail}"


def value_text(v) -> str:
    span = getattr(v, "span", None)
    if span is not None and span.source is not None and span.line == span.end_line and span.line > 0:
        return span.source.line(span.line)[span.col - 1:span.end_col - 1]      # as written: c * 4
    return _value_text(v)


def _value_text(v) -> str:
    """A value as the formatter writes it (expressions included)."""
    from netc.dsl.fmt import value
    try:
        return value(v)
    except TypeError:
        return str(v)


def _variable(a: Analysis, w: Word, var) -> str:
    if isinstance(var, ast.Layer):      # x n for i
        last = f"{value_text(var.repeat_value)} - 1" if var.repeat_value is not None else str(var.repeat - 1)
        return f"**{var.index}**: the index of this repetition, 0 ... {last} (one value for each copy of `{var.word}`)"
    if isinstance(var, ast.Let):
        return f"```netc\nlet {var.name} = {value_text(var.value)}\n```"
    if isinstance(var, ast.Param):
        block = enclosing(tuple(w.parents) + (w.node,), ast.BlockDef)
        lines = [f"**{var.name}**: parameter of `{_signature(block)}`"
                 + (f", default {value_text(var.default)}" if var.default is not None else "")]
        seen = []
        for name, ir in a.irs.items():
            for s in ir.scopes.values():
                if s.block == block.name and var.name in s.args and len(seen) < 8:
                    seen.append(f"`{s.name}`: {show(s.args[var.name])}")
        if seen:
            lines += ["", ", ".join(seen)]
        return "\n".join(lines)
    lines = [f"```netc\nvar {var.name} = {value_text(var.value)}\n```"]
    over = [f"`{n}`: {show(ir.vars[var.name])}" for n, ir in a.irs.items()
            if var.name in ir.vars and show(ir.vars[var.name]) != value_text(var.value)]
    if over:
        lines.append("overridden in " + ", ".join(over))
    return "\n".join(lines)
