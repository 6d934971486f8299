"""The grammar's LALR parser, run without importing Lark.

Lark compiles ``grammar.lark`` into a parse table and one lexer per parser state (its contextual
lexer); :func:`compile_tables` reads those out of a built Lark instance as plain data, with how
Lark's tree builder shapes each rule's children (see ``_DirectParser`` in parser.py). The tables
are kept in the user's cache directory (``$NETC_CACHE_DIR``, else ``$XDG_CACHE_HOME/netc``, else
``~/.cache/netc``) and :class:`Parser` runs them: the same terminals, in the same order, the same
tokens and positions, the same shifts and reductions as Lark's LALR parser with its contextual
lexer. Importing Lark and loading its parser is most of the time a short ``netc check`` took.

It is the fast path only: at the first token it cannot lex or shift it raises :class:`Miss`, and
the caller parses the text again with Lark, whose exception the error message is made from. A
cache written for another grammar, another netc format, or another installed Lark is not used.
The file is :mod:`marshal` data (numbers, strings, tuples, dicts), checked before use; nothing in
it is executed.
"""
from __future__ import annotations

import binascii
import marshal
import os
import re
from itertools import chain

FORMAT = 2      # of the tables below; raise it when their layout changes


class Miss(Exception):
    """The text does not lex or parse here: parse it with Lark, which says why."""


class Token(str):
    """A token, as Lark's: the text, with its terminal's name and where it lies (1-based lines and
    columns; ``end_column`` is the column after its last character)."""

    __slots__ = ("type", "start_pos", "value", "line", "column", "end_line", "end_column", "end_pos")

    def __new__(cls, type, value, start_pos=None, line=None, column=None, end_line=None, end_column=None,
                end_pos=None):
        self = str.__new__(cls, value)
        self.type, self.value, self.start_pos, self.line, self.column = type, value, start_pos, line, column
        self.end_line, self.end_column, self.end_pos = end_line, end_column, end_pos
        return self

    @classmethod
    def new_borrow_pos(cls, type_: str, value, borrow_t) -> "Token":
        return cls(type_, value, borrow_t.start_pos, borrow_t.line, borrow_t.column, borrow_t.end_line,
                   borrow_t.end_column, borrow_t.end_pos)

    def __repr__(self):
        return f"Token({self.type!r}, {self.value!r})"

    def __eq__(self, other):
        if isinstance(other, Token) and self.type != other.type:
            return False
        return str.__eq__(self, other)

    __hash__ = str.__hash__


# ---- the tables, out of Lark ------------------------------------------------------------------

class Refused(Exception):
    """Lark's set-up is not one these tables reproduce (a postlexer, callbacks, templates ...)."""


def compile_tables(lark, grammar: str) -> dict:
    """The parse table, the lexers and the rules' shapes of a built ``Lark(..., parser="lalr",
    lexer="contextual")``, as plain data. Raises :class:`Refused` where the set-up is one that
    :class:`Parser` and the callers' tree building do not reproduce exactly."""
    from lark import __version__ as lark_version
    from lark.lexer import BasicLexer, ContextualLexer, PatternStr
    from lark.parsers.lalr_analysis import Shift

    opts = lark.options
    if opts.parser != "lalr" or opts.propagate_positions is not True or opts.transformer is not None \
            or opts.postlex is not None or opts.tree_class is not None or opts.lexer_callbacks \
            or opts.use_bytes or opts.g_regex_flags:
        raise Refused("options")
    frontend = lark.parser
    lexer = frontend.lexer
    if type(lexer) is not ContextualLexer:
        raise Refused("lexer")
    parser = frontend.parser.parser
    table = parser.parse_table
    (start,) = frontend.parser_conf.start

    rules = {}
    shapes = []
    for rule in lark.rules:
        rules[rule] = len(shapes)
        shapes.append((rule.origin.name, len(rule.expansion), *_shape(rule, opts.maybe_placeholders)))
    if set(parser.callbacks) != set(rules):
        raise Refused("callbacks")

    states = []
    for s in range(len(table.states)):
        row = {}
        for sym, (action, arg) in table.states[s].items():
            row[sym] = arg if action is Shift else ~rules[arg]
        states.append(row)

    lexers, by_id, state_lexer = [], {}, []
    for s in range(len(table.states)):
        basic = lexer.lexers[s]
        if type(basic) is not BasicLexer:
            raise Refused("lexer")
        if id(basic) not in by_id:
            scanner = basic.scanner
            unless = {}
            for name, callback in basic.callback.items():
                strs = callback.scanner.terminals
                if not all(isinstance(t.pattern, PatternStr) and not t.pattern.flags for t in strs):
                    raise Refused("callback")
                unless[name] = {t.pattern.value: t.name for t in strs}
            by_id[id(basic)] = len(lexers)
            lexers.append((tuple(m.pattern for m in scanner._mres),
                           tuple(f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in scanner.terminals),
                           unless, frozenset(basic.newline_types), frozenset(basic.ignore_types)))
        state_lexer.append(by_id[id(basic)])
    return {"format": FORMAT, "grammar": grammar, "lark": (lark_version, _lark_stamp()),
            "start": table.start_states[start], "end": table.end_states[start], "states": states,
            "rules": shapes, "lexers": lexers, "state_lexer": state_lexer}


def _shape(rule, placeholders: bool) -> tuple:
    """How Lark's tree builder makes a node of this rule out of the matched symbols: ``(name,
    inline, expand1, include, nones)``. ``name``: the rule's alias or name (the method called);
    ``inline``: a '_rule', whose children go into its parent's; ``expand1``: a '?rule', which passes
    a single child up; ``include``: ``(index, inline child, placeholders before it)`` for each
    symbol kept (tokens such as '(' are filtered out), None when all are kept as they are;
    ``nones``: placeholders after the last (``maybe_placeholders`` for an absent ``[optional]``)."""
    o = rule.options
    if o.template_source is not None or (rule.origin.name.startswith("_") and (rule.alias or o.expand1)):
        raise Refused("rule")
    expansion = rule.expansion
    empty = o.empty_indices if placeholders else None
    if empty:
        bits = "".join(str(int(b)) for b in empty)
        empty_at = [len(ones) for ones in bits.split("0")]
    else:
        empty_at = [0] * (len(expansion) + 1)
    include, nones = [], 0
    for i, sym in enumerate(expansion):
        nones += empty_at[i]
        if o.keep_all_tokens or not (sym.is_term and sym.filter_out):
            include.append((i, not sym.is_term and sym.name.startswith("_"), nones))
            nones = 0
    nones += empty_at[len(expansion)]
    if not (empty or len(include) < len(expansion) or any(x for _, x, _ in include)):
        include = None          # the children as they are
    return (rule.alias or rule.origin.name, rule.origin.name.startswith("_"),
            bool(o.expand1 and not rule.alias), tuple(include) if include is not None else None, nones)


def _lark_stamp():
    """Where the installed Lark lies and when it was written, found without importing it: tables
    made with another Lark are made again."""
    from importlib.machinery import PathFinder
    spec = PathFinder.find_spec("lark")
    if spec is None or not spec.origin:
        return None
    try:
        st = os.stat(spec.origin)
    except OSError:
        return None
    return (spec.origin, st.st_mtime_ns, st.st_size)


# ---- the cache --------------------------------------------------------------------------------

def cache_dir() -> str | None:
    """``$NETC_CACHE_DIR``, else ``$XDG_CACHE_HOME/netc`` (an absolute path, as the XDG spec asks),
    else ``~/.cache/netc``; None where there is no home to put it in (no cache then)."""
    base = os.environ.get("NETC_CACHE_DIR")
    if base:
        return base
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return os.path.join(xdg, "netc")
    home = os.path.expanduser("~")
    return os.path.join(home, ".cache", "netc") if os.path.isabs(home) else None


_MAX_BYTES = 4_000_000     # the tables are about 100 KB; a larger file is not theirs


def _cache_file(grammar: str) -> str | None:
    """Named by format and grammar: two netc versions side by side keep a file each."""
    where = cache_dir()
    if where is None:
        return None
    return os.path.join(where, f"grammar-tables-{FORMAT}-{binascii.crc32(grammar.encode()):08x}.marshal")


def load_tables(grammar: str, build) -> dict | None:
    """The tables of this grammar: from the cache where it holds them for this grammar, format
    and Lark, else ``build()`` (which imports Lark) and kept in the cache. None where ``build``
    refuses."""
    path = _cache_file(grammar)
    try:
        if path is None:
            raise FileNotFoundError("no cache directory")
        with open(path, "rb") as f:
            data = f.read(_MAX_BYTES + 1)
        if len(data) <= _MAX_BYTES:
            tables = marshal.loads(data)
            if _valid(tables, grammar):
                return tables
    except (OSError, ValueError, EOFError, TypeError):
        pass
    try:
        tables = build()
    except Refused:
        return None
    if path is not None:
        _store(path, tables)
    return tables


def _valid(t, grammar: str) -> bool:
    """The tables are whole and made for this grammar, format and Lark."""
    if not (type(t) is dict and t.get("format") == FORMAT and t.get("grammar") == grammar):
        return False
    lark = t.get("lark")
    if not (type(lark) is tuple and len(lark) == 2 and lark[1] == _lark_stamp()):
        return False
    states, rules, lexers, state_lexer = t.get("states"), t.get("rules"), t.get("lexers"), t.get("state_lexer")
    if not (type(states) is list and type(rules) is list and type(lexers) is list and type(state_lexer) is list
            and len(state_lexer) == len(states) and type(t.get("start")) is int and type(t.get("end")) is int
            and 0 <= t["start"] < len(states) and 0 <= t["end"] < len(states)):
        return False
    for row in states:
        if type(row) is not dict or not all(type(k) is str and type(v) is int
                                            and (0 <= v < len(states) or 0 <= ~v < len(rules))
                                            for k, v in row.items()):
            return False
    if not all(type(i) is int and 0 <= i < len(lexers) for i in state_lexer):
        return False
    for lx in lexers:
        if not (type(lx) is tuple and len(lx) == 5 and all(type(p) is tuple and all(type(x) is str for x in p)
                                                           for p in lx[:2])
                and type(lx[2]) is dict and all(type(k) is str and type(v) is dict and all(
                    type(a) is str and type(b) is str for a, b in v.items()) for k, v in lx[2].items())
                and type(lx[3]) is frozenset and type(lx[4]) is frozenset):
            return False
    for r in rules:
        if not (type(r) is tuple and len(r) == 7 and type(r[0]) is str and type(r[1]) is int and r[1] >= 0
                and type(r[2]) is str and type(r[6]) is int and r[6] >= 0 and (r[5] is None or (
                    type(r[5]) is tuple and all(type(i) is tuple and len(i) == 3 and type(i[0]) is int
                                                and 0 <= i[0] < r[1] and type(i[2]) is int and i[2] >= 0
                                                for i in r[5])))):
            return False
    return True


def _store(path: str, tables: dict) -> None:
    """Write the tables where the next run finds them (whole or not at all); a cache that cannot be
    written is no error."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(marshal.dumps(tables))
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


# ---- the parser -------------------------------------------------------------------------------

class Parser:
    """Lexes and parses with the tables; ``parse(text, callbacks)`` returns the start rule's value,
    where ``callbacks[i]`` reduces rule ``i``'s children (tokens, or earlier callbacks' values).

    A state's lexer tries its terminals in Lark's order and takes the first that matches, as
    Lark's one regular expression of them all does (``(?P<A>..)|(?P<B>..)``). For a long text it
    is that expression, compiled; for a short one (most specs, and every keystroke in an editor)
    each terminal's own, compiled once for every lexer it is in: compiling each lexer's whole
    expression took longer than lexing vgg.net."""

    LONG = 20_000       # characters from which a text is lexed with the lexers' whole expressions

    def __init__(self, tables: dict):
        self.tables = tables
        self.states = tables["states"]
        self.rules = tables["rules"]
        self._state_lexer = tables["state_lexer"]
        self._whole: list = [None] * len(tables["lexers"])
        self._each: list = [None] * len(tables["lexers"])
        self._terminals: dict = {}

    def _lexer(self, i: int, whole: bool):
        """Lexer ``i``, compiled on first use (most texts meet few of them): its matchers in order,
        the keywords its names may be, the terminals that may hold new lines, those skipped."""
        patterns, terminals, unless, newline, ignore = self.tables["lexers"][i]
        if whole:
            lx = self._whole[i] = (tuple(re.compile(p).match for p in patterns), unless, newline, ignore)
        else:
            cache = self._terminals
            for t in terminals:
                if t not in cache:
                    cache[t] = re.compile(t).match
            lx = self._each[i] = (tuple(cache[t] for t in terminals), unless, newline, ignore)
        return lx

    def parse(self, text: str, callbacks: list):
        states, rules, final = self.states, self.rules, self.tables["end"]
        stack = [self.tables["start"]]
        values: list = []
        for token in chain(self._tokens(text, stack), (None,)):
            type_ = token.type if token is not None else "$END"
            while True:         # the reductions this token completes, then its shift
                arg = states[stack[-1]].get(type_)
                if arg is None or (arg >= 0 and token is None):
                    raise Miss(token.start_pos if token is not None else len(text))
                if arg >= 0:
                    stack.append(arg)
                    values.append(token)
                    break
                origin, size = rules[~arg][0], rules[~arg][1]
                if size:
                    children = values[-size:]
                    del stack[-size:]
                    del values[-size:]
                else:
                    children = []
                values.append(callbacks[~arg](children))
                goto = states[stack[-1]].get(origin)
                if goto is None or goto < 0:
                    raise Miss(len(text))
                stack.append(goto)
                if token is None and goto == final:
                    return values[-1]

    def _tokens(self, text: str, stack: list):
        """The text's tokens, each lexed by the lexer of the state the parser is in when it is
        asked for it (Lark's contextual lexer); ignored terminals (spaces, comments) skipped."""
        whole = len(text) >= self.LONG
        state_lexer, lexers = self._state_lexer, self._whole if whole else self._each
        new = str.__new__
        pos, line, line_start, end = 0, 1, 0, len(text)
        while pos < end:
            i = state_lexer[stack[-1]]
            matchers, unless, newline, ignore = lexers[i] or self._lexer(i, whole)
            for match in matchers:
                m = match(text, pos)
                if m is not None:
                    break
            else:
                raise Miss(pos)
            value, type_ = m.group(0), m.lastgroup
            start, col, start_line = pos, pos - line_start + 1, line
            if type_ in newline:
                n = value.count("\n")
                if n:
                    line += n
                    line_start = pos + value.rindex("\n") + 1
            pos += len(value)
            if type_ in ignore:
                continue
            token = new(Token, value)
            if type_ in unless:     # a keyword the name's pattern matched: the keyword
                type_ = unless[type_].get(value, type_)
            token.type, token.value, token.start_pos, token.line, token.column = type_, value, start, start_line, col
            token.end_line, token.end_column, token.end_pos = line, pos - line_start + 1, pos
            yield token
