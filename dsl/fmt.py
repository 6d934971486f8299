"""The canonical text of a .net file: ``netc fmt``.

``format_text(text)`` parses the file, lays the syntax tree out again in the house style, puts
every comment back where it was, and checks its own work: the output must parse to the same
syntax tree, with the same comments, or the text is refused rather than changed. The style is
the one the bundled specs are written in:

- four spaces per ``{ }`` level; one statement per line; a body of one statement written on one
  line (``aux loss1 on 4a weight 0.3 { head() }``) stays on one line;
- ``a -> b``, ``f(a, k=v)``, ``spp[4,2,1]`` (the paper's notation), ``x3``, ``var n = 10``;
- table columns aligned: each cell padded to its column's widest entry, cells joined by ``' | '``,
  rows indented under the first column name (``table A | B {`` puts rows at column 7);
- own-line comments at the indentation of the code they precede; a trailing comment keeps the
  gap before it, and a run of trailing comments aligned in one column stays aligned;
- blank lines kept where the source has them (several become one), none after ``{``, before
  ``}``, or at either end of the file.

Words, names and numbers are kept as written (``soft-max`` stays ``soft-max``, ``1e-4`` stays
``1e-4``); only whitespace, the ``×``/``X``/``x`` spellings (``x 3`` becomes ``x3``, ``224X224``
``224x224``), line ends (CRLF and CR become LF) and a leading byte-order mark (dropped) change.
fmt(fmt(x)) == fmt(x).

>>> print(format_text("input 32x32 RGB\\nconv3-16->maxpool   # stem\\nFC-10\\n"), end="")
input 32x32 RGB
conv3-16 -> maxpool   # stem
FC-10
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from . import ast
from .errors import NetcError, Span
from .parser import _comment_start, normalize, parse

INDENT = 4


@dataclass
class _Line:
    indent: int
    text: str
    src: int               # the source line it comes from
    inner: int             # indentation for own-line comments placed just before it
    opens: bool = False    # ends with '{'
    closes: bool = False   # is a closing '}'


def format_text(text: str, filename: str = "<string>") -> str:
    """The canonical form of ``text``; raises :class:`NetcError` when it does not parse.

    >>> format_text("config a {conv3-64\\n  maxpool }\\n")
    'config a {\\n    conv3-64\\n    maxpool\\n}\\n'
    """
    text = normalize(text)
    module = parse(text, filename)
    out = format_module(module, text)
    _verify(module, out, filename)
    return out


def format_module(module: ast.Module, text: str) -> str:
    """Lay out a parsed module; ``text`` is its source (for comments and blank lines)."""
    src = text.split("\n")
    w = _Writer(src)
    for item in module.items:
        w.item(item)
    return _merge(w.lines, src, module.comments)


# ------------------------------------------------------------------ values and layers
def value(v: ast.Value) -> str:
    if isinstance(v, ast.Number):
        return v.text or repr(v.value)
    if isinstance(v, ast.Bool):
        return "true" if v.value else "false"
    if isinstance(v, ast.Ident):
        return v.name
    if isinstance(v, ast.String):
        return f'"{v.value}"'
    if isinstance(v, ast.ListValue):
        return "[" + ", ".join(value(x) for x in v.items) + "]"
    if isinstance(v, ast.BinOp):
        if v.op == "-" and isinstance(v.left, ast.Number) and v.left.text == "0" and v.left.span == v.span:
            return f"-{value(v.right)}"
        return f"{value(v.left)} {v.op} {value(v.right)}"
    if isinstance(v, ast.Not):
        return f"not {value(v.value)}"
    if isinstance(v, ast.Call):
        return f"{v.name}(" + ", ".join(value(x) for x in v.args) + ")"
    if isinstance(v, ast.Paren):
        return f"({value(v.value)})"
    raise TypeError(f"not a value: {v!r}")


def args(a: list[ast.Arg]) -> str:
    return "(" + ", ".join(value(x.value) if x.name is None else f"{x.name}={value(x.value)}" for x in a) + ")"


def layer(l: ast.Layer) -> str:
    out = l.word
    if l.args is not None:
        out += args(l.args)
    if l.list_arg is not None:   # paper notation: spp[4,2,1]
        out += "[" + ",".join(value(x) for x in l.list_arg.items) + "]"
    if l.repeat_value is not None:
        out += f" x{value(l.repeat_value)}" if isinstance(l.repeat_value, ast.Paren) else f" x {value(l.repeat_value)}"
    elif l.repeat_span is not None:
        out += f" x{l.repeat}"
    if l.index is not None:
        out += f" for {l.index}"
    if l.name is not None:
        out += f" as {l.name}"
    return out


def chain(c: ast.Chain) -> str:
    return " -> ".join(f"from {l.target}" if isinstance(l, ast.Ref) else layer(l) for l in c.layers)


def simple(s) -> str | None:
    """The one-line text of a statement without a body, or None."""
    if isinstance(s, ast.Chain):
        return chain(s)
    if isinstance(s, ast.Assign):
        return f"{s.name} = {value(s.value)}"
    if isinstance(s, ast.Replace):
        return f"replace {', '.join(t for t, _ in s.targets)} with {chain(s.chain)}"
    if isinstance(s, ast.Outputs):
        return "outputs " + ", ".join(t if k is None else f"{t} as {k}" for (t, _), (k, _) in zip(s.targets, s.keys))
    if isinstance(s, ast.Remove):
        return f"remove {', '.join(t for t, _ in s.targets)}"
    if isinstance(s, ast.Insert):
        return f"insert {chain(s.chain)} {s.position} {s.target}"
    if isinstance(s, ast.InputStmt):
        if s.tokens:
            return f"input tokens {s.height}"
        return f"input {s.height}x{s.width}" + (f" {s.channels}" if s.channels else "")
    if isinstance(s, ast.OutputStmt):
        return f"output {s.mode}"
    if isinstance(s, ast.NamingStmt):
        return f"naming {s.scheme}"
    if isinstance(s, ast.DefaultsStmt):
        return f"defaults {s.kind}{args(s.args)}"
    if isinstance(s, ast.Include):
        return f'include "{s.path}"'
    if isinstance(s, ast.VarDecl):
        return f"var {s.name} = {value(s.value)}"
    if isinstance(s, ast.Let):
        return f"let {s.name} = {value(s.value)}"
    return None


# ------------------------------------------------------------------ layout
class _Writer:
    def __init__(self, src: list[str]):
        self.src = src
        self.lines: list[_Line] = []

    def put(self, indent: int, text: str, src: int, inner: int | None = None, **kw) -> None:
        self.lines.append(_Line(indent, text, src, indent if inner is None else inner, **kw))

    def item(self, it, indent: int = 0) -> None:
        one = simple(it)
        if one is not None:
            self.put(indent, one, it.span.line)
        elif isinstance(it, ast.BlockDef):
            params = ", ".join(p.name if p.default is None else f"{p.name}={value(p.default)}" for p in it.params)
            self.body(f"block {it.name}({params})", it.body, it.span, indent)
        elif isinstance(it, ast.Config):
            head = ("default " if it.default else "") + f"config {it.name}"
            self.body(head + (f" extends {it.base}" if it.base else ""), it.body, it.span, indent)
        elif isinstance(it, ast.Aux):
            weight = f" weight {value(it.weight)}" if it.weight is not None else ""
            self.body(f"aux {it.name} on {it.target}{weight}", it.body, it.span, indent)
        elif isinstance(it, ast.Group):
            self.group(it, indent)
        elif isinstance(it, ast.If):
            self.if_(it, indent)
        elif isinstance(it, ast.Table):
            self.table(it)
        else:
            raise TypeError(f"cannot format {type(it).__name__}")

    def body(self, head: str, stmts: list, span: Span, indent: int) -> None:
        close = _close_line(self.src, span)
        if close == span.line and len(stmts) <= 1 and all(isinstance(s, (ast.Chain, ast.Assign)) for s in stmts):
            inside = f" {simple(stmts[0])} " if stmts else ""
            self.put(indent, f"{head} {{{inside}}}", span.line)
            return
        self.put(indent, head + " {", span.line, opens=True)
        for s in stmts:
            self.item(s, indent + INDENT)
        self.put(indent, "}", close, inner=indent + INDENT, closes=True)

    def if_(self, s: ast.If, indent: int, head: str = "if") -> None:
        self.put(indent, f"{head} {value(s.cond)} {{", s.span.line, opens=True)
        for x in s.then:
            self.item(x, indent + INDENT)
        if s.orelse is None:
            self.put(indent, "}", _close_line(self.src, s.span), inner=indent + INDENT, closes=True)
            return
        if len(s.orelse) == 1 and isinstance(s.orelse[0], ast.If):
            self.if_(s.orelse[0], indent, head="} else if")
            return
        at = s.orelse[0].span.line - 1 if s.orelse else _close_line(self.src, s.span)
        self.put(indent, "} else {", at, inner=indent + INDENT, opens=True)
        for x in s.orelse:
            self.item(x, indent + INDENT)
        self.put(indent, "}", _close_line(self.src, s.span), inner=indent + INDENT, closes=True)

    def group(self, g: ast.Group, indent: int) -> None:
        head = g.op + (args(g.args) if g.args is not None else "") + (f" as {g.name}" if g.name else "")
        self.put(indent, head + " {", g.span.line, opens=True)
        for br in g.branches:
            self.branch(br, indent + INDENT, g.span.line)
        self.put(indent, "}", _close_line(self.src, g.span), inner=indent + INDENT, closes=True)

    def branch(self, stmts: list, indent: int, at: int) -> None:
        if len(stmts) == 1 and isinstance(stmts[0], (ast.Chain, ast.Group, ast.If, ast.Let)):   # no braces needed
            self.item(stmts[0], indent)
            return
        first = stmts[0].span.line if stmts else self.lines[-1].src
        self.put(indent, "{", first, inner=indent + INDENT, opens=True)
        for s in stmts:
            self.item(s, indent + INDENT)
        last = _after(self.src, stmts[-1].span) if stmts else first
        self.put(indent, "}", last, inner=indent + INDENT, closes=True)

    def table(self, t: ast.Table) -> None:
        names = [n for n, _ in t.columns]
        cells = [[chain(c) if c is not None else "" for c in r.cells] for r in t.rows]
        ncol = max([len(names)] + [len(r) for r, row in zip(cells, t.rows) if not row.spanning])
        width = [0] * ncol
        for r in [names] + [r for r, row in zip(cells, t.rows) if not row.spanning]:
            for i, c in enumerate(r):
                width[i] = max(width[i], len(c))
        pad = len("table ")
        self.put(0, "table " + _join(names, width) + " {", t.span.line, inner=pad, opens=True)
        for r, row in zip(cells, t.rows):
            text = r[0] if row.spanning else _join(r, width)
            self.put(pad, text.rstrip(), row.span.line)
        self.put(0, "}", _close_line(self.src, t.span), inner=pad, closes=True)


def _join(cells: list[str], width: list[int]) -> str:
    return " | ".join(c if i == len(cells) - 1 else c.ljust(width[i]) for i, c in enumerate(cells))


# ------------------------------------------------------------------ source positions
def _code(line: str) -> str:
    stop = _comment_start(line)
    return line if stop is None else line[:stop]


def _close_line(src: list[str], span: Span) -> int:
    """The line of the '}' that ends the construct at ``span`` (its span may run past it)."""
    for n in range(min(span.end_line, len(src)), span.line - 1, -1):
        code = _code(src[n - 1])
        if n == span.end_line:
            code = code[: max(0, span.end_col - 1)]
        if "}" in code:
            return n
    return span.end_line


def _after(src: list[str], span: Span) -> int:
    """The line of the first '}' after ``span``."""
    for n in range(span.end_line, len(src) + 1):
        code = _code(src[n - 1])
        if n == span.end_line:
            code = code[span.end_col - 1:]
        if "}" in code:
            return n
    return span.end_line


# ------------------------------------------------------------------ comments and blank lines
def _merge(lines: list[_Line], src: list[str], comments: list[tuple[int, str]]) -> str:
    """Interleave the code lines with the comments and the blank lines of the source."""
    last_on = {l.src: i for i, l in enumerate(lines)}
    trailing: dict[int, tuple[int, int, str]] = {}    # output line -> (column, gap, comment)
    own: list[tuple[int, str]] = []
    for n, text in comments:
        line = src[n - 1] if n <= len(src) else ""
        code = _code(line)
        if code.strip() and n in last_on:
            trailing[last_on[n]] = (len(code), len(code) - len(code.rstrip()), text)
        else:
            own.append((n, text))
    codes = [" " * l.indent + l.text for l in lines]
    _place_trailing(codes, lines, trailing)
    out: list[str] = []
    prev_src, prev_opens = 0, True
    k = 0

    def emit(text: str, src_line: int, opens: bool, closes: bool) -> None:
        nonlocal prev_src, prev_opens
        if out and not prev_opens and not closes and _blank_between(src, prev_src, src_line):
            out.append("")
        out.append(text.rstrip())
        prev_src, prev_opens = max(prev_src, src_line), opens

    for i, l in enumerate(lines):
        while k < len(own) and own[k][0] < l.src:
            emit(" " * l.inner + own[k][1], own[k][0], False, False)
            k += 1
        emit(codes[i], l.src, l.opens, l.closes)
    for n, c in own[k:]:
        emit(c, n, False, False)
    return "\n".join(out) + "\n" if out else ""


def _place_trailing(codes: list[str], lines: list[_Line], trailing: dict) -> None:
    """Append trailing comments: a run of comments aligned in the source (adjacent lines, one
    column) stays aligned, at its old column if the code still fits; a lone comment keeps its gap."""
    runs: list[list[int]] = []
    for i in sorted(trailing):
        prev = runs[-1][-1] if runs else None
        if prev is not None and prev == i - 1 and lines[prev].src + 1 == lines[i].src \
                and trailing[prev][0] == trailing[i][0]:
            runs[-1].append(i)
        else:
            runs.append([i])
    for run in runs:
        if len(run) == 1:
            col, gap, text = trailing[run[0]]
            codes[run[0]] += " " * max(1, gap) + text
            continue
        gap = max(1, min([2] + [trailing[i][1] for i in run]))
        col = max([trailing[run[0]][0]] + [len(codes[i]) + gap for i in run])
        for i in run:
            codes[i] = codes[i].ljust(col) + trailing[i][2]


def _blank_between(src: list[str], a: int, b: int) -> bool:
    return any(not src[n - 1].strip() for n in range(a + 1, min(b, len(src) + 1)))


# ------------------------------------------------------------------ self-check
def structure(node):
    """The syntax tree without positions: equal for two texts that mean the same."""
    if isinstance(node, list):
        return [structure(x) for x in node]
    if isinstance(node, tuple):
        return tuple(structure(x) for x in node if not isinstance(x, Span))
    if dataclasses.is_dataclass(node) and not isinstance(node, Span):
        skip = {"span", "filename", "comments"}
        return (type(node).__name__,) + tuple(
            (f.name, structure(getattr(node, f.name))) for f in dataclasses.fields(node)
            if f.name not in skip and not f.name.endswith("_span"))
    return node


def _verify(module: ast.Module, out: str, filename: str) -> None:
    try:
        again = parse(out, filename)
    except NetcError:
        again = None
    if again is None or structure(again) != structure(module) or \
            [c.rstrip() for _, c in again.comments] != [c.rstrip() for _, c in module.comments]:
        raise NetcError("netc fmt cannot format this file without changing it; it was left as it is",
                        module.span, hint="please report this as a bug in netc fmt")


__all__ = ["format_text", "format_module", "structure", "value", "args", "layer", "chain"]
