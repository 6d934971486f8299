"""Text -> :class:`~netc.dsl.ast.Module`, with the LALR parser Lark makes of ``grammar.lark``
(run by :mod:`netc.dsl.lalr` from its tables, without importing Lark; Lark itself parses a text
that does not parse, to say why).

Lark's raw errors (``Unexpected token Token('WORD', 'x')``) are wrapped into
:class:`SpecSyntaxError` with a span, what was found and what was expected.

Text as it comes from editors: :func:`decode` turns a file's bytes into text (UTF-8; anything else
is an error at the first bad byte); :func:`parse` skips a leading byte-order mark and reads CRLF,
CR and LF line ends alike, so columns are the ones an editor shows. Characters copied from PDFs
that look like the language's own (en dash, minus sign, curly quotes, no-break space, zero-width
space, arrow, fraction slash) are refused, each with the ASCII it stands for: ``conv3–64`` is not
read as ``conv3-64`` (only ``×`` is read as ``x``, the papers' own notation). They are all listed
in one run, since a pasted table has many.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

import functools
import math
import re
import unicodedata
from pathlib import Path

from . import ast, lalr
from .lalr import Token
from .errors import LimitError, NetcError, Source, Span, SpecSyntaxError, raise_all

GRAMMAR = Path(__file__).with_name("grammar.lark")

#: Limits on what the front end accepts. Each is checked before the work it bounds (no large
#: allocation, no deep recursion first) and refused with a :class:`LimitError` that has a span;
#: each is overridable: ``netc.LIMITS["max_params"] = 10**10`` (``None`` switches it off where noted).
#: limits for the call in progress (netc.load(..., limits={...}), netc.limits(...)): a context
#: variable, so that one caller's limits never reach another's, in threads and tasks alike
_CALL_LIMITS: ContextVar[dict | None] = ContextVar("netc_call_limits", default=None)


class _Limits(dict):
    """``netc.LIMITS``: the process's defaults, a dict whose values are checked when set, so that a
    wrong type is a usage error here (``LIMITS["max_layers"] = None``) and not a TypeError deep in a
    later call. Reading it gives the limits of the call in progress where the caller passed its own
    (:func:`call_limits`), else the defaults."""

    OFF_OK = {"max_params", "max_activation_bytes", "max_macs"}   # None switches these off

    def __getitem__(self, key):
        over = _CALL_LIMITS.get()
        if over is not None and key in over:
            return over[key]
        return super().__getitem__(key)

    def get(self, key, default=None):
        over = _CALL_LIMITS.get()
        if over is not None and key in over:
            return over[key]
        return super().get(key, default)

    def checked(self, key, value):
        """``value`` if it may stand for limit ``key`` (as assignment checks it); else a usage error."""
        if key not in self:
            from .errors import UsageError, did_you_mean
            raise UsageError(f"there is no limit {key!r}", hint=did_you_mean(key, self) or
                             "limits: " + ", ".join(sorted(self)))
        probe = _Limits({key: dict.__getitem__(self, key)})
        probe[key] = value
        return value

    def __setitem__(self, key, value):
        old = self.get(key)
        if key in self and value is None and key not in self.OFF_OK:
            raise _limit_error(key, value, "None switches off only " + ", ".join(sorted(self.OFF_OK)))
        if isinstance(old, bool) and not isinstance(value, bool):
            raise _limit_error(key, value, "give True or False")
        if isinstance(old, (int, float)) and not isinstance(old, bool) and value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0
                or not math.isfinite(value)):
            raise _limit_error(key, value, "give a number, at least 0")
        super().__setitem__(key, value)

    def update(self, *a, **kw):
        for k, v in dict(*a, **kw).items():
            self[k] = v


@contextmanager
def call_limits(overrides: dict | None):
    """Run the block under these limits (validated like ``netc.LIMITS[key] = value``), on top of
    the defaults and of any enclosing call's: ``with netc.limits({"max_layers": 100}): ...``."""
    if not overrides:
        yield
        return
    if not isinstance(overrides, dict):
        from .errors import UsageError
        raise UsageError(f"limits must be a dict such as {{'max_layers': 100}}, not {type(overrides).__name__}")
    merged = dict(_CALL_LIMITS.get() or {})
    merged.update({k: LIMITS.checked(k, v) for k, v in overrides.items()})
    token = _CALL_LIMITS.set(merged)
    try:
        yield
    finally:
        _CALL_LIMITS.reset(token)


def _limit_error(key, value, hint):
    from .errors import UsageError
    return UsageError(f"netc.LIMITS[{key!r}] cannot be {value!r}", hint=hint)


LIMITS = _Limits({
    "max_file_bytes": 1_000_000,   # a spec larger than this is refused unread
    "max_nesting": 64,             # depth of nested { } and ( ) and [ ], counted before parsing
    "max_include_depth": 16,       # files including files including files ...; cycles are always refused
    "include_outside_tree": False,  # include may not leave the including file's directory tree
                                   # (CLI: netc --allow-include-outside; API: Program.load(allow_outside=True))
    "max_block_depth": 32,         # blocks calling blocks; a block calling itself is always refused
    "max_depth": 100,              # blocks and branches nested, once expanded (blocks x braces)
    "max_repeat": 10_000,          # the N of `x N`
    "max_layers": 20_000,          # layers in one configuration after blocks and repetition are expanded
    "max_params": 2_000_000_000,   # parameters of one configuration (None: no limit); netc.compile has budget=
    "max_activation_bytes": 16_000_000_000,  # every layer's output for one image, float32 (None: no limit)
    "max_macs": 10_000_000_000_000,          # multiply-adds of one image, side outputs included (None: no limit)
})

# How a terminal reads in an error message.
_TERMINAL_NAMES = {
    "WORD": "a layer or name", "LABEL": "a name", "NUMBER": "a number", "STRING": "a quoted path",
    "SIZE": "an input size such as 224x224 or HxW", "NCH": "a channel count such as 4ch", "REPEAT": "a repetition such as x3",
    "_NL": "a new line", "LBRACE": "'{'", "RBRACE": "'}'", "LPAR": "'('", "RPAR": "')'",
    "LSQB": "'['", "RSQB": "']'", "COMMA": "','", "EQUAL": "'='", "VBAR": "'|'", "MINUS": "'-'",
    "__ANON_0": "'->'", "AFTER": "'after'", "BEFORE": "'before'", "REPEAT_VAR": "a repetition such as x3",
    "STAR": "'*'", "SLASH": "'/'", "PLUS": "'+'", "PERCENT": "'%'", "COMPARE": "a comparison such as ==",
    "DEFAULT": "'default'", "$END": "the end of the file",
}


@functools.lru_cache(maxsize=1)
def _lark():
    """Lark's parser of the grammar (from Lark's own cache): it makes the direct parser's tables,
    and parses a text the direct parser cannot, to say what is wrong with it."""
    from lark import Lark
    return Lark(GRAMMAR.read_text(), parser="lalr", lexer="contextual",
                propagate_positions=True, maybe_placeholders=True, cache=True)


def parse(text: str, filename: str = "<string>") -> ast.Module:
    """Parse the text of a .net file.

    >>> m = parse("input 224x224 RGB\\nconv3-64\\nmaxpool\\nFC-10\\n")
    >>> [layer.word for chain in m.items[1:] for layer in chain.layers]
    ['conv3-64', 'maxpool', 'FC-10']
    """
    if len(text.encode("utf-8", "surrogatepass")) > LIMITS["max_file_bytes"]:
        raise _too_large(filename, text[:1000])
    text = normalize(text)
    source = Source(filename, text)
    _check_characters(source)
    _check_nesting(source)
    comments: list[tuple[int, str]] = []
    body = _source_body(text, comments)
    direct = _direct()
    if direct is not None:      # the AST built as the parser reduces, no parse tree in between
        module = direct.parse(body, _ToAst(source), source)
    else:
        module = _parse_with_lark(body, source)
    module.filename = filename
    module.comments = comments
    return module


def normalize(text: str) -> str:
    """The text without a leading byte-order mark, with CRLF and CR line ends made LF.

    >>> normalize("\\ufeffinput 8x8 RGB\\r\\nFC-2\\rFC-1")
    'input 8x8 RGB\\nFC-2\\nFC-1'
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def decode(data: bytes, filename: str = "<string>") -> str:
    """The text of a spec file's bytes, which must be UTF-8 (with or without a byte-order mark).

    Raises :class:`LimitError` for a file over ``LIMITS["max_file_bytes"]`` and
    :class:`SpecSyntaxError` at the first byte that is not UTF-8, quoting its line.
    """
    if len(data) > LIMITS["max_file_bytes"]:
        raise _too_large(filename, data[:1000].decode("utf-8", "replace"))
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        source = Source(filename, normalize(data[:1000].decode("utf-16", "replace").split("\n")[0]))
        raise SpecSyntaxError("this file is UTF-16 text, not UTF-8", Span(source, 1, 1, 1, 2),
                              hint="save it as UTF-8 (in Notepad: Save as, Encoding: UTF-8)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _not_utf8(data, e, filename) from None


def _too_large(filename: str, head: str) -> LimitError:
    return LimitError(f"file is larger than {LIMITS['max_file_bytes']:,} bytes",
                      Span(Source(filename, normalize(head)), 1, 1, 1, 2),
                      hint="raise netc.LIMITS['max_file_bytes'] if this is intended")


def _not_utf8(data: bytes, e: UnicodeDecodeError, filename: str) -> SpecSyntaxError:
    before = normalize(data[:e.start].decode("utf-8"))
    line = before.count("\n") + 1
    col = len(before) - (before.rfind("\n") + 1) + 1
    source = Source(filename, normalize(data.decode("utf-8", "replace")))
    bad = data[e.start]
    try:
        guess = bytes([bad]).decode("cp1252")
    except UnicodeDecodeError:
        guess = bytes([bad]).decode("latin-1")
    shown = repr(guess) if guess.isprintable() else f"U+{ord(guess):04X}"
    return SpecSyntaxError(f"the file is not UTF-8 text: byte 0x{bad:02X} cannot be decoded",
                           Span(source, line, col, line, col + 1),
                           hint=f"save the file as UTF-8 (it looks like Latin-1 or Windows-1252, where this "
                                f"byte is {shown})")


def _source_body(text: str, comments: list) -> str:
    """The text as the grammar reads it (ending in a new line); its comments, which the grammar
    %ignores, are collected for the formatter."""
    body = text if text.endswith("\n") else text + "\n"
    for line_no, line in enumerate(body.split("\n"), 1):
        if "#" not in line:
            continue
        pos = _comment_start(line)
        if pos is not None:
            comments.append((line_no, line[pos:].rstrip("\r")))
    return body


def _comment_start(line: str) -> int | None:
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == "#" and not quoted:
            return i
    return None


# Characters that PDFs and word processors put where the language has ASCII: what each stands
# for, and what kind of look-alike it is (which decides the message).
_LOOKALIKES: dict[str, tuple[str, str]] = {ch: (ascii_, kind) for chars, ascii_, kind in (
    ("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d", "-", "dash"),
    ("\u201c\u201d\u201e\u201f\u2018\u2019\u201a\u201b\uff02", '"', "quote"),
    ("\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000",
     " ", "space"),
    ("\u00ad\u200b\u200c\u200d\u2060\ufeff", "", "invisible"),
    ("\u2192\u27f6", "->", "arrow"),
    ("\u2044\u2215", "/", "slash"),
) for ch in chars}
_RUN_STOP = set(" \t\f(),[]{}|=#")   # what ends the word quoted in a look-alike's hint
_MAX_CHAR_ERRORS = 20


def _check_characters(source: Source) -> None:
    """Refuse control characters and Unicode look-alikes (outside comments; look-alikes also
    outside "strings"), every look-alike of the file in one :class:`NetcErrors`."""
    errors: list[SpecSyntaxError] = []
    more = 0
    for n, line in enumerate(source.text.split("\n"), 1):
        stop = _comment_start(line) if "#" in line else None
        code = line[:stop] if stop is not None else line
        quoted = False
        i = 0
        while i < len(code):
            ch = code[i]
            if ch == "\x00" or (ord(ch) < 32 and ch not in "\t\r\f\n"):
                raise SpecSyntaxError(f"unexpected control character {ch!r}", Span(source, n, i + 1, n, i + 2))
            if ch == '"':
                quoted = not quoted
            elif ch in _LOOKALIKES and not quoted:
                end = _run_end(code, i)
                if len(errors) < _MAX_CHAR_ERRORS:
                    errors.append(_lookalike_error(source, n, code, i, end))
                else:
                    more += 1
                quoted = quoted ^ (code[i:end].count('"') % 2 == 1)
                i = end
                continue
            i += 1
    if more:
        last = errors[-1]
        last.hint = f"{last.hint}; {more} more such character{'s' if more != 1 else ''} follow"
    raise_all(errors)


def _run_end(code: str, i: int) -> int:
    while i < len(code) and code[i] not in _RUN_STOP:
        i += 1
    return i


def _lookalike_error(source: Source, n: int, code: str, i: int, end: int) -> SpecSyntaxError:
    start = i
    while start > 0 and code[start - 1] not in _RUN_STOP:
        start -= 1
    run = code[start:end]
    fixed = "".join(_LOOKALIKES.get(c, (c,))[0] for c in run)
    last = max(j for j in range(i, end) if code[j] in _LOOKALIKES)
    ch = code[i]
    repl, kind = _LOOKALIKES[ch]
    name = f"U+{ord(ch):04X} {unicodedata.name(ch, '')}".rstrip()
    if kind == "space":
        msg, hint = f"{name} is not a plain space", f"retype it as a space: {fixed}"
    elif kind == "invisible":
        msg, hint = f"invisible character {name}", f"delete it: {fixed}" if fixed.strip() else "delete it"
    elif kind == "quote":
        msg, hint = f"'{ch}' ({name}) is not '\"'", f"use straight quotes: {fixed}"
    else:
        msg, hint = f"'{ch}' ({name}) is not '{repl}'", f"did you mean {fixed}?"
    return SpecSyntaxError(msg, Span(source, n, i + 1, n, last + 2), hint=hint)


def _check_nesting(source: Source) -> None:
    depth, limit = 0, LIMITS["max_nesting"]
    for n, line in enumerate(source.text.split("\n"), 1):
        stop = _comment_start(line)
        for col, ch in enumerate(line[:stop] if stop is not None else line, 1):
            if ch in "{([":
                depth += 1
                if depth > limit:
                    raise LimitError(f"nesting deeper than {limit} levels", Span(source, n, col, n, col + 1),
                                     hint="raise netc.LIMITS['max_nesting'] if this is intended")
            elif ch in "})]":
                depth = max(0, depth - 1)


def _describe(tok: Token | None) -> str:
    if tok is None or tok.type == "$END":
        return "end of file"
    if tok.type == "_NL":
        return "end of line"
    return f"'{tok.value}'"


_VALUE_START = {"NUMBER", "WORD", "STRING", "MINUS", "LSQB", "TRUE", "FALSE", "LPAR", "NOT"}


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


def _syntax_error(e, source: Source) -> SpecSyntaxError:
    """The message for Lark's exception ``e`` (an ``UnexpectedInput``)."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken
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
        tok = _whole_number(e.token, source)
        width = max(1, len(str(tok.value).split("\n")[0])) if tok.type != "_NL" else 1
        msg = f"unexpected {_describe(tok)}"
        exp = _expected(e.accepts or e.expected)
        if tok.type == "_NL":
            line, col = tok.line, tok.column
        unknown = _unknown_keyword(source, tok, line, col)
        if unknown is not None:
            return unknown
        hint = _hint_for(tok, e.accepts or e.expected) or _paren_hint(source, tok, line, col)
        return SpecSyntaxError(msg + (f"; {exp}" if exp else ""), Span(source, line, col, line, col + width), hint)
    if isinstance(e, UnexpectedCharacters):
        ch = source.text[e.pos_in_stream] if e.pos_in_stream < len(source.text) else "?"
        exp = _expected(e.allowed or [])
        return SpecSyntaxError(f"unexpected character {ch!r}" + (f"; {exp}" if exp else ""),
                               Span(source, line, col, line, col + 1))
    return SpecSyntaxError(str(e).splitlines()[0], Span(source, line, col, line, col + 1))


# Words that start a statement, for "unknown keyword 'confg'; did you mean 'config'?"
_KEYWORDS = ("include", "var", "block", "config", "default", "table", "input", "output", "naming", "defaults",
             "aux", "replace", "remove", "insert", "concat", "add")
_JOINS = ("concat", "add")
_LEADING_WORD = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(as\s+\S+\s*)?")


def _close(word: str, candidates) -> str | None:
    from difflib import get_close_matches      # only when there is a mistake to name
    hits = get_close_matches(word.lower(), list(candidates), n=1, cutoff=0.75)
    return hits[0] if hits else None


def _unknown_keyword(source: Source, tok: Token, line: int, col: int) -> SpecSyntaxError | None:
    """A line that starts with one bare word and then goes wrong: a misspelt keyword
    (``confg A {``) or a join that does not exist (``sum {``)."""
    if tok.type in ("_NL", "$END") or getattr(tok, "line", line) != line:
        return None
    m = _LEADING_WORD.fullmatch(source.line(line)[:col - 1])
    if m is None or m.group(1) in _KEYWORDS:
        return None
    word = m.group(1)
    wcol = m.start(1) + 1
    span = Span(source, line, wcol, line, wcol + len(word))
    if tok.type == "LBRACE":
        join = _close(word, _JOINS)
        if join is not None:
            return SpecSyntaxError(f"unknown join '{word}'; did you mean '{join}'?", span,
                                   hint="add { } sums its branches, concat { } stacks their channels")
        kw = _close(word, ("config", "block", "table", "default"))
        if kw is not None:
            return SpecSyntaxError(f"unknown keyword '{word}'; did you mean '{kw}'?", span)
        return SpecSyntaxError(f"unknown join '{word}'; use add {{ }} or concat {{ }}", span,
                               hint=f"add {{ }} sums its branches, concat {{ }} stacks their channels; "
                                    f"a configuration is written config {word} {{ }}")
    if m.group(2):
        return None
    kw = _close(word, _KEYWORDS)
    if kw is None:
        return None
    return SpecSyntaxError(f"unknown keyword '{word}'; did you mean '{kw}'?", span)


_NUMBER_TEXT = re.compile(r"(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?")


def _whole_number(tok: Token, source: Source) -> Token:
    """The token Lark reports when no terminal fits there can be a name ``0`` where ``0.5`` is written:
    report the whole number."""
    if tok.type in ("_NL", "$END") or not str(tok.value)[:1].isdigit():
        return tok
    m = _NUMBER_TEXT.match(source.line(tok.line), tok.column - 1)
    if m is None or len(m.group()) <= len(str(tok.value)):
        return tok
    return Token.new_borrow_pos("NUMBER", m.group(), tok)


def _paren_hint(source: Source, tok: Token, line: int, col: int) -> str | None:
    """``dropout 0.5``: a layer word, then its argument without parentheses."""
    text = source.line(line)
    m = _LEADING_WORD.fullmatch(text[:col - 1])
    stop = _comment_start(text)
    rest = text[col - 1:stop].strip()
    if m is None or m.group(2) or m.group(1) in _KEYWORDS or not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", rest):
        return None
    return f"arguments go in parentheses: {m.group(1)}({rest})"


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


class _ToAst:
    """Parsed rules -> AST; one method per grammar rule, called as ``rule(meta, children)`` (by the
    direct parser as it reduces, or by :func:`_tree_to_ast` on Lark's tree)."""

    def __init__(self, source: Source):
        self.source = source

    def s(self, meta) -> Span:
        return _span(self.source, meta)

    def t(self, tok: Token) -> Span:
        return _tspan(self.source, tok)

    # values
    def number(self, meta, c):
        text = str(c[0])
        is_float = any(ch in text for ch in ".eE")
        _check_digits(c[0], self.source, whole=not is_float)
        value = _finite(float(text), c[0], self.source) if is_float else int(text)
        return ast.Number(value, self.s(meta), text)

    def neg(self, meta, c):
        x = c[0]
        if isinstance(x, ast.Number):     # -1 is a number, as before
            x.value, x.text, x.span = -x.value, "-" + x.text, self.s(meta)
            return x
        span = self.s(meta)      # the 0 shares the span of the whole: fmt writes -x back, not 0 - x
        return ast.BinOp("-", ast.Number(0, span, "0"), x, span)

    def _bin(op):  # noqa: N805 (a method factory)
        def rule(self, meta, c):
            return ast.BinOp(op if op != "cmp" else str(c[1]), c[0], c[-1], self.s(meta))
        return rule

    add_op, sub_op, mul_op, div_op, mod_op = _bin("+"), _bin("-"), _bin("*"), _bin("/"), _bin("%")
    and_op, or_op, compare = _bin("and"), _bin("or"), _bin("cmp")

    def not_op(self, meta, c):
        return ast.Not(c[0], self.s(meta))

    def paren(self, meta, c):
        return ast.Paren(c[0], self.s(meta))

    def call(self, meta, c):
        return ast.Call(str(c[0]), [v for v in c[1:] if v is not None], self.s(meta))

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
        _check_digits(word, self.source)
        count, rep_span, rep_value = 1, None, None
        if rep is not None:
            kind, tok, rep_value = rep
            rep_span = self.t(tok) if rep_value is None else Span(self.source, tok.line, tok.column,
                                                                  rep_value.span.end_line, rep_value.span.end_col)
            if rep_value is None:
                _check_digits(tok, self.source)
                count = int(str(tok)[1:].strip(" \t"))
        return ast.Layer(
            word=str(word), word_span=self.t(word), span=self.s(meta), args=args, list_arg=lst,
            repeat=count, repeat_span=rep_span, repeat_value=rep_value,
            name=str(name) if name is not None else None,
            name_span=self.t(name) if name is not None else None)

    def repeat_n(self, meta, c):
        return ("n", c[0], None)

    def repeat_var(self, meta, c):
        return ("var", c[0], ast.Ident(str(c[1]), self.t(c[1])))

    def repeat_expr(self, meta, c):
        return ("expr", c[0], ast.Paren(c[1], self.s(meta)))

    def ref(self, meta, c):
        return ast.Ref(str(c[0]), self.s(meta), self.t(c[0]))

    def chain(self, meta, c):
        return ast.Chain(list(c), self.s(meta))

    def if_stmt(self, meta, c):
        cond, then, *rest = c
        orelse = rest[0] if rest else None
        if isinstance(orelse, ast.If):
            orelse = [orelse]
        return ast.If(cond, then, orelse, self.s(meta))

    def let_stmt(self, meta, c):
        return ast.Let(str(c[0]), c[1], self.s(meta))

    def body(self, meta, c):
        return [x for x in c if x is not None]

    def branch(self, meta, c):
        x = c[0]
        return x if isinstance(x, list) else [x]

    def group(self, meta, c):
        op, args, name, *branches = c
        return ast.Group(str(op), [b for b in branches if b is not None], self.s(meta),
                         str(name) if name is not None else None,
                         self.t(name) if name is not None else None, args=args, op_span=self.t(op))

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
        _check_digits(size, self.source)
        if channels is not None:
            _check_digits(channels, self.source)
        parts = _SIZE_PARTS.split(str(size)) if _THREE.fullmatch(str(size)) else None
        if parts is not None or (channels is not None and _THREE_TAIL.fullmatch(str(channels))):
            raise _channels_in_size(self.source, size, channels, parts)
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
        cols = [x for x in c if isinstance(x, str)]     # the tokens
        rows = [x for x in c if isinstance(x, ast.Row)]
        return ast.Table([(str(t), self.t(t)) for t in cols], rows, self.s(meta))

    def start(self, meta, c):
        return ast.Module([x for x in c if x is not None], self.s(meta))


class _Node:
    """A reduced rule on the parser's stack: its value and where it lies.

    The value is what the rule's :class:`_ToAst` method returned; for a rule whose name starts
    with '_' (``_item``, ``_stmt``), which Lark inlines into the rule using it, the list of its
    children. The positions are the ones Lark's ``propagate_positions`` gives the tree node the
    rule would have built: ``line`` ... ``end_column`` its own (what ``_span`` reads; the node is
    the ``meta`` the method gets), ``c_*`` those of its container (wider where a ``?rule`` passed
    its one child up)."""

    __slots__ = ("value", "empty", "line", "column", "end_line", "end_column",
                 "c_line", "c_column", "c_end_line", "c_end_column")


class _Fallback(Exception):
    """The direct parse met a case it does not reproduce exactly: parse through a tree instead."""


class _DirectParser:
    """The grammar's LALR parser (:mod:`netc.dsl.lalr`, Lark's tables run without Lark) with
    callbacks that build the AST as it reduces: no parse tree, no second pass over it. Each
    callback does what Lark's tree builder does for the rule (the same positions, the same
    children: tokens filtered out, placeholders for absent optionals, '_' rules inlined, a
    ``?rule`` of one child passing it up) and then calls the :class:`_ToAst` method with those
    positions and children, exactly as transforming the tree would.

    An exception raised by a method is kept and raised once the whole text has parsed, as
    transforming the finished tree would: a syntax error anywhere still wins over it, and of
    several, the first in the tree's order (the order of reduction) is the one raised. Where the
    text does not parse, Lark parses it again and its exception makes the message."""

    def __init__(self, tables: dict):
        self._parser = lalr.Parser(tables)
        self._shapes = [shape[2:] for shape in tables["rules"]]

    def parse(self, body: str, ast_builder: "_ToAst", source: Source):
        failed: list = []
        callbacks = [_callback(ast_builder, name, inline, expand1, include, nones, failed)
                     for name, inline, expand1, include, nones in self._shapes]
        try:
            result = self._parser.parse(body, callbacks)
        except (_Fallback, lalr.Miss):
            failed = [None]
        if failed:
            if failed[0] is None:       # not a text it parses, or a case it does not reproduce
                return _parse_with_lark(body, source)
            raise failed[0]
        return result.value


@functools.lru_cache(maxsize=1)
def _direct() -> _DirectParser | None:
    """The direct parser, its tables from the cache (or made by Lark once); None where Lark's
    set-up is not one it reproduces."""
    grammar = GRAMMAR.read_text()
    tables = lalr.load_tables(grammar, lambda: lalr.compile_tables(_lark(), grammar))
    return _DirectParser(tables) if tables is not None else None


def _parse_with_lark(body: str, source: Source) -> ast.Module:
    """Parse to Lark's tree and transform it: where the text is wrong, Lark's exception gives
    the message."""
    from lark.exceptions import UnexpectedInput, VisitError
    try:
        tree = _lark().parse(body)
    except UnexpectedInput as e:
        raise _syntax_error(e, source) from None
    try:
        return _tree_to_ast()(source).transform(tree)
    except VisitError as e:
        if isinstance(e.orig_exc, NetcError):
            raise e.orig_exc from None
        raise


@functools.lru_cache(maxsize=1)
def _tree_to_ast():
    """:class:`_ToAst` as a Lark transformer of parse trees."""
    from lark import Transformer

    class TreeToAst(_ToAst, Transformer):
        def __init__(self, source: Source):
            Transformer.__init__(self)
            self.source = source

        def _call_userfunc(self, tree, new_children=None):
            # what v_args(meta=True) does, without re-wrapping the method on every call (10x faster)
            return getattr(self, tree.data)(tree.meta, tree.children if new_children is None else new_children)

    return TreeToAst


def _placed(children):
    """The first child that has a position: a token, or a reduced rule that is not empty."""
    for c in children:
        if (not c.empty) if type(c) is _Node else c is not None:
            return c
    return None


def _callback(ast_builder: "_ToAst", name: str, inline: bool, expand1: bool, include, nones: int, failed: list):
    """The reduction of one grammar rule (see :class:`_DirectParser`). A child is a :class:`_Node`,
    a token, or None (a ``?rule`` can pass up a placeholder)."""
    method = None if inline else getattr(ast_builder, name, None)

    def reduce(children):
        if failed:
            return None
        # where it lies: from the first and the last child that has a position (tokens included:
        # a statement's span runs to the end of its newline, as Lark's tree node's does)
        first = _placed(children)
        last = _placed(reversed(children)) if first is not None else None
        # the children the rule keeps
        if include is None:
            kept = children
        else:
            kept = []
            for i, expand, add in include:
                if add:
                    kept += [None] * add
                if expand:
                    if kept:
                        kept += children[i].value
                    else:
                        kept = children[i].value
                else:
                    kept.append(children[i])
            if nones:
                kept += [None] * nones
        if expand1 and len(kept) == 1:      # ?rule with one child: the child, in a wider container
            node = kept[0]
            if type(node) is _Node:
                if node.empty and first is not None:
                    raise _Fallback(name)   # its method already ran without the positions it now gets
                _contain(node, first, last)
            return node
        node = _Node()
        if first is None:
            node.empty = True
        else:       # its own positions are its container's: from the first to the last placed child
            node.empty = False
            _contain(node, first, last)
            node.line, node.column = node.c_line, node.c_column
            node.end_line, node.end_column = node.c_end_line, node.c_end_column
        if inline:
            node.value = kept
            return node
        values = [c.value if type(c) is _Node else c for c in kept]
        try:
            node.value = method(node, values) if method is not None else getattr(ast_builder, name)(node, values)
        except _Fallback:
            raise
        except Exception as e:      # kept until the text has parsed: a syntax error still wins
            failed.append(e)
            return None
        return node

    return reduce


def _contain(node: _Node, first, last) -> None:
    """Lark's PropagatePositions: a node's container's start and end, from the first and last
    placed children (a node a ``?rule`` passed up keeps its own, see the caller)."""
    if first is not None:
        if type(first) is _Node:
            node.c_line, node.c_column = first.c_line, first.c_column
        else:
            node.c_line, node.c_column = first.line, first.column
        if type(last) is _Node:
            node.c_end_line, node.c_end_column = last.c_end_line, last.c_end_column
        else:
            node.c_end_line, node.c_end_column = last.end_line, last.end_column


_MAX_DIGITS = 100
_WHOLE_DIGITS = 18
MAX_INT = 10 ** _WHOLE_DIGITS - 1     # the largest whole number a spec, --set or an override may give
_DIGITS = re.compile(r"\d+")


def _check_digits(tok: Token, source: Source, whole: bool = True) -> None:
    """A whole number has at most 18 digits (it must fit torch's int64; a stride of 10**100 would
    pass every check and fail in forward); the digits of a decimal number at most 100."""
    limit = _WHOLE_DIGITS if whole else _MAX_DIGITS
    if len(tok) <= limit:       # no run of digits longer than the limit fits (most words)
        return
    for m in _DIGITS.finditer(str(tok)):
        if len(m.group().lstrip("0")) > limit:
            col = tok.column + m.start()
            raise SpecSyntaxError(f"a number of {len(m.group()):,} digits",
                                  Span(source, tok.line, col, tok.line, col + len(m.group())),
                                  hint=f"whole numbers have at most {_WHOLE_DIGITS} digits" if whole
                                  else f"numbers have at most {_MAX_DIGITS} digits")


def _finite(value: float, tok: Token, source: Source) -> float:
    """Infinity (``1e999``) is no value for a layer: the model would compute NaN."""
    if not math.isfinite(value):
        raise SpecSyntaxError(f"{tok} is not a finite number", _tspan(source, tok),
                         hint="write a number of at most about 1.8e308")
    return value


_SIZE_PARTS = re.compile("[xX\u00d7]")
_THREE = re.compile(r"\d+[xX\u00d7]\d+[xX\u00d7]\d+")
_THREE_TAIL = re.compile(r"[xX\u00d7]\d+")
_NUMBER_SIZE = re.compile(r"(\d+)[xX\u00d7](\d+)")
_NAME_SIZE = re.compile(r"(\d+|[A-Za-z_][A-Za-z0-9_]*?)[x\u00d7](\d+|[A-Za-z_][A-Za-z0-9_]*)")


def _split_size(text: str) -> tuple[int | str, int | str]:
    """``224x224`` -> (224, 224), ``HxW`` -> ('H', 'W'): split as the SIZE terminal matched it."""
    m = _NUMBER_SIZE.fullmatch(text) or _NAME_SIZE.fullmatch(text)
    if m is None:
        return text, text
    h, w = m.groups()
    return (int(h) if h.isdigit() else h), (int(w) if w.isdigit() else w)


_CHANNEL_WORDS = {1: "gray", 3: "RGB"}


def _channels_in_size(source: Source, size: Token, channels: Token | None, parts: list[str] | None) -> SpecSyntaxError:
    """``input 3x224x224`` or ``input 224x224x3``: the channels written as a third dimension."""
    if parts is None:                     # input 224x224 x3
        h, w = _split_size(str(size))
        n = int(str(channels)[1:])
        end = channels
    else:
        a, b, c = (int(p) for p in parts)
        # the smaller end is the channels: CxHxW (3x224x224) or HxWxC (224x224x3)
        n, h, w = (a, b, c) if a < c else (c, a, b)
        end = channels or size
    word = _CHANNEL_WORDS.get(n, f"{n}ch")
    also = f" (or {n}ch)" if n in _CHANNEL_WORDS else ""
    span = Span(source, size.line, size.column, end.end_line, end.end_column)
    text = f"{size} {channels}" if parts is None else str(size)
    return SpecSyntaxError(f"'{text}' has three dimensions; input takes a size HxW and a channel word",
                           span, hint=f"the size is HxW; give channels as a word: input {h}x{w} {word}{also}")
