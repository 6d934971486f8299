"""Text -> :class:`~netc.dsl.ast.Module`, with Lark's LALR parser.

Lark's raw errors (``Unexpected token Token('WORD', 'x')``) are wrapped into
:class:`SpecSyntaxError` with a span, what was found and what was expected.
"""
from __future__ import annotations

import functools
from pathlib import Path

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from . import ast
from .errors import LimitError, NetcError, Source, Span, SpecSyntaxError

GRAMMAR = Path(__file__).with_name("grammar.lark")

#: Limits on what the front end accepts. Each is checked before the work it bounds (no large
#: allocation, no deep recursion first) and refused with a :class:`LimitError` that has a span;
#: each is overridable: ``netc.LIMITS["max_params"] = 10**10`` (``None`` switches it off where noted).
LIMITS = {
    "max_file_bytes": 1_000_000,   # a spec larger than this is refused unread
    "max_nesting": 64,             # depth of nested { } and ( ) and [ ], counted before parsing
    "max_include_depth": 16,       # files including files including files ...; cycles are always refused
    "include_outside_tree": False,  # include may not leave the including file's directory tree
                                   # (CLI: netc --allow-include-outside; API: Program.load(allow_outside=True))
    "max_block_depth": 32,         # blocks calling blocks; a block calling itself is always refused
    "max_repeat": 10_000,          # the N of `x N`
    "max_layers": 20_000,          # layers in one configuration after blocks and repetition are expanded
    "max_params": 2_000_000_000,   # parameters of one configuration (None: no limit); netc.compile has budget=
}

# How a terminal reads in an error message.
_TERMINAL_NAMES = {
    "WORD": "a layer or name", "LABEL": "a name", "NUMBER": "a number", "STRING": "a quoted path",
    "SIZE": "an input size such as 224x224 or HxW", "NCH": "a channel count such as 4ch", "REPEAT": "a repetition such as x3",
    "_NL": "a new line", "LBRACE": "'{'", "RBRACE": "'}'", "LPAR": "'('", "RPAR": "')'",
    "LSQB": "'['", "RSQB": "']'", "COMMA": "','", "EQUAL": "'='", "VBAR": "'|'", "MINUS": "'-'",
    "__ANON_0": "'->'", "CONCAT": "'concat'", "ADD": "'add'", "AFTER": "'after'", "BEFORE": "'before'",
    "DEFAULT": "'default'", "$END": "the end of the file",
}


@functools.lru_cache(maxsize=1)
def _lark() -> Lark:
    return Lark(GRAMMAR.read_text(), parser="lalr", lexer="contextual",
                propagate_positions=True, maybe_placeholders=True, cache=True)


def parse(text: str, filename: str = "<string>") -> ast.Module:
    """Parse the text of a .net file.

    >>> m = parse("input 224x224 RGB\\nconv3-64\\nmaxpool\\nFC-10\\n")
    >>> [layer.word for chain in m.items[1:] for layer in chain.layers]
    ['conv3-64', 'maxpool', 'FC-10']
    """
    source = Source(filename, text)
    if len(text.encode("utf-8", "surrogatepass")) > LIMITS["max_file_bytes"]:
        raise LimitError(f"file is larger than {LIMITS['max_file_bytes']:,} bytes",
                         Span(source, 1, 1, 1, 2),
                         hint="raise netc.dsl.parser.LIMITS['max_file_bytes'] if this is intended")
    _check_characters(source)
    _check_nesting(source)
    comments: list[tuple[int, str]] = []
    try:
        tree = _parse_tree(text, comments)
    except UnexpectedInput as e:
        raise _syntax_error(e, source) from None
    try:
        module = _ToAst(source).transform(tree)
    except VisitError as e:
        if isinstance(e.orig_exc, NetcError):
            raise e.orig_exc from None
        raise
    module.filename = filename
    module.comments = comments
    return module


def _parse_tree(text: str, comments: list):
    parser = _lark()
    body = text if text.endswith("\n") else text + "\n"
    # comments are %ignored by the grammar; collect them for the formatter
    for line_no, line in enumerate(body.split("\n"), 1):
        pos = _comment_start(line)
        if pos is not None:
            comments.append((line_no, line[pos:].rstrip("\r")))
    return parser.parse(body)


def _comment_start(line: str) -> int | None:
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == "#" and not quoted:
            return i
    return None


def _check_characters(source: Source) -> None:
    for n, line in enumerate(source.text.split("\n"), 1):
        code = line[: _comment_start(line) or len(line)] if "#" in line else line
        for col, ch in enumerate(code, 1):
            if ch == "\x00" or (ord(ch) < 32 and ch not in "\t\r\f\n"):
                raise SpecSyntaxError(f"unexpected control character {ch!r}", Span(source, n, col, n, col + 1))


def _check_nesting(source: Source) -> None:
    depth, limit = 0, LIMITS["max_nesting"]
    for n, line in enumerate(source.text.split("\n"), 1):
        stop = _comment_start(line)
        for col, ch in enumerate(line[:stop] if stop is not None else line, 1):
            if ch in "{([":
                depth += 1
                if depth > limit:
                    raise LimitError(f"nesting deeper than {limit} levels", Span(source, n, col, n, col + 1),
                                     hint="raise netc.dsl.parser.LIMITS['max_nesting'] if this is intended")
            elif ch in "})]":
                depth = max(0, depth - 1)


def _describe(tok: Token | None) -> str:
    if tok is None or tok.type == "$END":
        return "end of file"
    if tok.type == "_NL":
        return "end of line"
    return f"'{tok.value}'"


_VALUE_START = {"NUMBER", "WORD", "STRING", "MINUS", "LSQB", "TRUE", "FALSE"}


def _expected(names) -> str:
    names = set(names)
    words = set()
    if "NUMBER" in names and names & {"TRUE", "FALSE", "MINUS"}:
        names -= _VALUE_START
        words.add("a value")
    words |= {_TERMINAL_NAMES.get(n, f"'{n.lower()}'" if n.isupper() else n) for n in names}
    words = sorted(words, key=lambda w: (w.startswith("'"), w))
    if not words:
        return ""
    if len(words) > 5:
        words = words[:5] + ["..."]
        return "expected " + ", ".join(words[:-1]) + " ..."
    return "expected " + (words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1])


def _open_brace(source: Source) -> tuple[int, int] | None:
    """Line and column of the innermost '{' never closed, if any."""
    stack = []
    for n, line in enumerate(source.text.split("\n"), 1):
        stop = _comment_start(line)
        for col, ch in enumerate(line[:stop] if stop is not None else line, 1):
            if ch == "{":
                stack.append((n, col))
            elif ch == "}" and stack:
                stack.pop()
    return stack[-1] if stack else None


def _syntax_error(e: UnexpectedInput, source: Source) -> SpecSyntaxError:
    line = max(1, getattr(e, "line", 1) or 1)
    col = max(1, getattr(e, "column", 1) or 1)
    lines = source.text.splitlines()
    if isinstance(e, UnexpectedEOF) or (isinstance(e, UnexpectedToken) and e.token.type == "$END"):
        line = max(1, len(lines))
        col = len(lines[-1]) + 1 if lines else 1
        opened = _open_brace(source)
        if opened is not None:
            text = source.line(opened[0]).strip()
            return SpecSyntaxError("unexpected end of file: a '{' is still open",
                                   Span(source, line, col, line, col + 1),
                                   hint=f"close the '{{' of line {opened[0]} ({text}) with '}}'")
        exp = _expected(getattr(e, "expected", []) or [])
        return SpecSyntaxError(f"unexpected end of file{'; ' + exp if exp else ''}",
                               Span(source, line, col, line, col + 1),
                               hint="the file ends in the middle of a statement")
    if isinstance(e, UnexpectedToken):
        tok = e.token
        width = max(1, len(str(tok.value).split("\n")[0])) if tok.type != "_NL" else 1
        msg = f"unexpected {_describe(tok)}"
        exp = _expected(e.accepts or e.expected)
        if tok.type == "_NL":
            line, col = tok.line, tok.column
        hint = _hint_for(tok, e.accepts or e.expected)
        return SpecSyntaxError(msg + (f"; {exp}" if exp else ""), Span(source, line, col, line, col + width), hint)
    if isinstance(e, UnexpectedCharacters):
        ch = source.text[e.pos_in_stream] if e.pos_in_stream < len(source.text) else "?"
        exp = _expected(e.allowed or [])
        return SpecSyntaxError(f"unexpected character {ch!r}" + (f"; {exp}" if exp else ""),
                               Span(source, line, col, line, col + 1))
    return SpecSyntaxError(str(e).splitlines()[0], Span(source, line, col, line, col + 1))


def _hint_for(tok: Token, expected) -> str | None:
    expected = set(expected)
    if "RBRACE" in expected and tok.type in ("$END",):
        return "a '{' is still open"
    if tok.type == "NUMBER" and "WORD" in expected:
        return "layers start with a letter: conv3-64, FC-4096, maxpool"
    if tok.type == "RPAR" and "__ANON_0" not in expected:
        return None
    return None


def _span(source: Source, meta) -> Span:
    if getattr(meta, "empty", True):
        return Span(source, 1, 1, 1, 1)
    return Span(source, meta.line, meta.column, meta.end_line, meta.end_column)


def _tspan(source: Source, tok: Token) -> Span:
    return Span(source, tok.line, tok.column, tok.end_line, tok.end_column)


class _ToAst(Transformer):
    """Lark tree -> AST; one method per grammar rule, called as ``rule(meta, children)``."""

    def __init__(self, source: Source):
        super().__init__()
        self.source = source

    def _call_userfunc(self, tree, new_children=None):
        # what v_args(meta=True) does, without re-wrapping the method on every call (10x faster)
        return getattr(self, tree.data)(tree.meta, tree.children if new_children is None else new_children)

    def s(self, meta) -> Span:
        return _span(self.source, meta)

    def t(self, tok: Token) -> Span:
        return _tspan(self.source, tok)

    # values
    def number(self, meta, c):
        text = str(c[0])
        is_float = any(ch in text for ch in ".eE")
        return ast.Number(float(text) if is_float else int(text), self.s(meta), text)

    def neg_number(self, meta, c):
        n = self.number(meta, c)
        n.value, n.text = -n.value, "-" + n.text
        return n

    def true(self, meta, c):
        return ast.Bool(True, self.s(meta))

    def false(self, meta, c):
        return ast.Bool(False, self.s(meta))

    def ident(self, meta, c):
        return ast.Ident(str(c[0]), self.s(meta))

    def string(self, meta, c):
        return ast.String(str(c[0])[1:-1], self.s(meta))

    def list(self, meta, c):
        return ast.ListValue([v for v in c if v is not None], self.s(meta))

    def kwarg(self, meta, c):
        return ast.Arg(str(c[0]), c[1], self.s(meta))

    def posarg(self, meta, c):
        return ast.Arg(None, c[0], self.s(meta))

    def args(self, meta, c):
        return [a for a in c if a is not None]

    # statements
    def layer(self, meta, c):
        word, args, lst, rep, name = c
        return ast.Layer(
            word=str(word), word_span=self.t(word), span=self.s(meta), args=args, list_arg=lst,
            repeat=int(str(rep)[1:]) if rep is not None else 1,
            repeat_span=self.t(rep) if rep is not None else None,
            name=str(name) if name is not None else None,
            name_span=self.t(name) if name is not None else None)

    def chain(self, meta, c):
        return ast.Chain(list(c), self.s(meta))

    def body(self, meta, c):
        return [x for x in c if x is not None]

    def branch(self, meta, c):
        x = c[0]
        return x if isinstance(x, list) else [x]

    def group(self, meta, c):
        op, name, *branches = c
        return ast.Group(str(op), [b for b in branches if b is not None], self.s(meta),
                         str(name) if name is not None else None,
                         self.t(name) if name is not None else None)

    def aux(self, meta, c):
        name, target, weight, body = c
        return ast.Aux(str(name), str(target), weight, body, self.s(meta), self.t(target))

    def assign(self, meta, c):
        return ast.Assign(str(c[0]), c[1], self.s(meta))

    def replace(self, meta, c):
        *targets, chain = c
        return ast.Replace([(str(t), self.t(t)) for t in targets], chain, self.s(meta))

    def remove(self, meta, c):
        return ast.Remove([(str(t), self.t(t)) for t in c], self.s(meta))

    def insert(self, meta, c):
        chain, pos, target = c
        return ast.Insert(chain, str(pos), str(target), self.t(target), self.s(meta))

    def input_stmt(self, meta, c):
        size, channels = c
        h, w = _split_size(str(size))
        return ast.InputStmt(h, w, str(channels) if channels is not None else None, self.s(meta),
                             self.t(channels) if channels is not None else None)

    def output_stmt(self, meta, c):
        return ast.OutputStmt(str(c[0]), self.s(meta))

    def naming_stmt(self, meta, c):
        return ast.NamingStmt(str(c[0]), self.s(meta))

    def defaults_stmt(self, meta, c):
        return ast.DefaultsStmt(str(c[0]), c[1], self.s(meta))

    # top level
    def include(self, meta, c):
        return ast.Include(str(c[0])[1:-1], self.s(meta))

    def var_decl(self, meta, c):
        return ast.VarDecl(str(c[0]), c[1], self.s(meta))

    def param(self, meta, c):
        return ast.Param(str(c[0]), c[1], self.s(meta))

    def block_def(self, meta, c):
        name, *rest = c
        body = rest[-1]
        params = [p for p in rest[:-1] if p is not None]
        return ast.BlockDef(str(name), params, body, self.s(meta), self.t(name))

    def config_def(self, meta, c):
        default, name, base, body = c
        return ast.Config(str(name), body, self.s(meta),
                          base=str(base) if base is not None else None,
                          base_span=self.t(base) if base is not None else None,
                          default=default is not None, name_span=self.t(name))

    def row(self, meta, c):
        return ast.Row(list(c), self.s(meta), spanning=len(c) == 1)

    def row_lead(self, meta, c):
        return ast.Row([None, *c], self.s(meta))

    def table_def(self, meta, c):
        cols = [x for x in c if isinstance(x, Token)]
        rows = [x for x in c if isinstance(x, ast.Row)]
        return ast.Table([(str(t), self.t(t)) for t in cols], rows, self.s(meta))

    def start(self, meta, c):
        return ast.Module([x for x in c if x is not None], self.s(meta))


def _split_size(text: str) -> tuple[int | str, int | str]:
    sep = "x" if "x" in text else "\u00d7"
    # the first separator that splits into two valid halves
    for i, ch in enumerate(text):
        if ch == sep and 0 < i < len(text) - 1:
            h, w = text[:i], text[i + 1:]
            return (int(h) if h.isdigit() else h), (int(w) if w.isdigit() else w)
    return text, text
