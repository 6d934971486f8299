"""One version of one open document, analysed once: its program, every error, every
configuration's IR. The features (diagnostics, hover, definition...) read an :class:`Analysis`.

Positions: the compiler's spans are 1-based lines and columns in characters; LSP positions are
0-based lines and UTF-16 code units. :func:`to_lsp` and :func:`from_lsp` convert.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
import re
import signal
import stat
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from lsprotocol import types as T

import netc
from netc.dsl import ast
from netc.dsl.errors import NetcError, NetcErrors, Source, Span, sort_errors

from netc.tools.lsp.adapter import check_program
from netc.tools.lsp.settings import BUDGET_S, MEMORY_MB

_QUOTED = re.compile(r"'([^']+)'")
_FIX = re.compile(r"did you mean '([^']+)'\?")


def uri_to_path(uri: str) -> str:
    u = urlparse(uri)
    path = unquote(u.path) if u.scheme == "file" else "<string>"
    return "<string>" if "\x00" in path else path            # no file has a NUL in its name


def path_to_uri(path: str) -> str:
    return Path(path).resolve().as_uri()


#: the most of a never-opened document read from disk (larger ones are read as empty)
DISK_LIMIT = 16 * 1024 * 1024


def read_unopened(uri: str, limit: int = DISK_LIMIT) -> str:
    """The text of a document the client never opened, read from disk, or "" when it is not a
    regular file of at most ``limit`` bytes (a FIFO, a device such as /dev/zero, a folder, a file
    that is missing or unreadable). Never blocks: the path is checked before it is opened, and
    opened non-blocking (and checked again) in case it was replaced in between."""
    path = uri_to_path(uri)
    if path == "<string>" or not path:
        return ""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return ""
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
                     | getattr(os, "O_CLOEXEC", 0))
    except (OSError, ValueError):           # ValueError: a NUL in the path
        return ""
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return ""
        chunks, n = [], 0
        while n <= limit:
            b = os.read(fd, min(1 << 20, limit + 1 - n))
            if not b:
                break
            chunks.append(b)
            n += len(b)
        if n > limit:                       # it grew while being read
            return ""
    except OSError:
        return ""
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", errors="replace")


# ---------------------------------------------------------------- positions
#: how LSP positions count characters, as negotiated with the client (the server sets it)
ENCODING = {"unit": "utf-16"}
_WIDTH = {"utf-16": lambda ch: 2 if ord(ch) > 0xFFFF else 1, "utf-8": lambda ch: len(ch.encode("utf-8")),
          "utf-32": lambda ch: 1}


def _units(line: str, chars: int) -> int:
    """Code units (of the negotiated encoding) in the first ``chars`` characters of a line."""
    head = line[:chars]
    if head.isascii():
        return len(head)
    width = _WIDTH.get(ENCODING["unit"], _WIDTH["utf-16"])
    return sum(width(ch) for ch in head)


def _chars(line: str, units: int) -> int:
    if line.isascii():
        return min(units, len(line))
    width, n = _WIDTH.get(ENCODING["unit"], _WIDTH["utf-16"]), 0
    for i, ch in enumerate(line):
        if n >= units:
            return i
        n += width(ch)
    return len(line)


def to_lsp(span: Span) -> T.Range:
    """The LSP range of a span (in the span's own file)."""
    if span.source is None or span.line <= 0:
        return T.Range(T.Position(0, 0), T.Position(0, 0))
    a, b = span.source.line(span.line), span.source.line(span.end_line)
    return T.Range(T.Position(span.line - 1, _units(a, span.col - 1)),
                   T.Position(max(span.end_line - 1, 0), _units(b, max(span.end_col - 1, 0))))


@dataclass
class Pos:
    """A cursor: 1-based line and column in characters (the compiler's convention)."""
    line: int
    col: int

    def within(self, span: Span | None) -> bool:
        """Inside the span, both ends included (a cursor just after a word is on it)."""
        if span is None or span.line <= 0:
            return False
        return (span.line, span.col) <= (self.line, self.col) <= (span.end_line, span.end_col)


def from_lsp(lines: list[str], p: T.Position) -> Pos:
    line = lines[p.line] if p.line < len(lines) else ""
    return Pos(p.line + 1, _chars(line, p.character) + 1)


def location(span: Span, here: "Analysis | None" = None) -> T.Location:
    """Where a span is: the document's own URI for a span in it, a file URI for another file."""
    if here is not None and here.mine(span):
        return T.Location(here.uri, to_lsp(span))
    return T.Location(path_to_uri(span.file) if span.source is not None and span.file.startswith("/")
                      else span.file, to_lsp(span))


# ---------------------------------------------------------------- the analysis
@dataclass
class Fix:
    """A did-you-mean: replace ``range`` by ``text``."""
    range: T.Range
    text: str
    title: str


@dataclass
class Analysis:
    uri: str
    version: int | None
    text: str
    path: str
    lines: list[str]
    program: netc.Program | None = None
    errors: list[NetcError] = field(default_factory=list)
    irs: dict = field(default_factory=dict)          # configuration name -> IR (in file order)
    diagnostics: list[T.Diagnostic] = field(default_factory=list)
    fixes: list[Fix] = field(default_factory=list)

    @property
    def module(self) -> ast.Module | None:
        return self.program.module if self.program else None

    def pos(self, p: T.Position) -> Pos:
        return from_lsp(self.lines, p)

    def mine(self, span: Span | None) -> bool:
        """The span is in this document (not in an included file)."""
        return span is not None and span.source is not None and span.file == self.path


def analyse(uri: str, text: str, version: int | None = None) -> Analysis:
    """Parse and check a document: every error, and the IR of every configuration.

    >>> a = analyse("file:///tmp/probe.net", "input 32x32 RGB\\nconv3-16\\nrleu\\n")
    >>> [(d.range.start.line, d.range.start.character, d.message) for d in a.diagnostics]
    [(2, 0, "unknown layer 'rleu'\\nhint: did you mean 'relu'?")]
    >>> a.fixes[0].text, list(a.irs)
    ('relu', ['main'])
    """
    path = uri_to_path(uri)
    a = Analysis(uri, version, text, path, text.split("\n"))
    try:
        with _budget(BUDGET_S):
            _check(a, text, path)
    except (_TooLong, MemoryError) as e:
        a.program, a.irs = None, {}
        what = "takes too long to check" if isinstance(e, _TooLong) else "needs too much memory to check"
        memory = f"{MEMORY_MB:,} MB for the server" if MEMORY_MB else "no memory cap"
        a.errors = [NetcError(f"this spec {what} (the budget is {BUDGET_S:g} s a check and "
                              f"{memory}); the next change is checked as usual",
                              Span(Source(path, text), 1, 1, 1, 1),
                              hint="a repetition or block nesting that builds an enormous network? "
                                   "netc check on the command line reports its limits")]
    for e in a.errors:
        d, fix = diagnostic(a, e)
        a.diagnostics.append(d)
        if fix:
            a.fixes.append(fix)
    return a


class _TooLong(BaseException):
    """Raised into an analysis that outlives its budget (a BaseException: no handler swallows it)."""


@contextmanager
def _budget(seconds: float):
    """Interrupt the block after ``seconds`` (SIGALRM; only in the main thread, where pygls runs)."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return
    active = [True]

    def expire(signum, frame):
        if active[0]:
            raise _TooLong()

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        active[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def limit_memory(mb: int = MEMORY_MB) -> None:
    """Cap the server's address space, so that a hostile spec gets a MemoryError, not the OOM killer."""
    try:
        import resource
        if mb <= 0:
            return
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        want = mb * 1024 * 1024
        if soft == resource.RLIM_INFINITY or soft > want:
            resource.setrlimit(resource.RLIMIT_AS, (want, hard))
    except (ImportError, ValueError, OSError):
        pass


def _check(a: "Analysis", text: str, path: str) -> None:
    try:
        a.program = netc.Program.from_text(text, path)
    except RecursionError:
        a.errors = [NetcError("internal error in netc: the spec nests too deeply to analyse")]
    except NetcError as e:
        a.errors = sort_errors(e.errors if isinstance(e, NetcErrors) else [e])
    except MemoryError:
        raise
    except Exception as e:          # a bug in netc, not in the spec: say so, keep the server alive
        a.errors = [NetcError(f"internal error in netc: {type(e).__name__}: {e}",
                              hint="this is a bug in netc, not in your spec")]
    else:
        try:
            a.errors, a.irs = check_program(a.program)
        except MemoryError:
            raise
        except Exception as e:      # a bug in netc, not in the spec: say so, keep the server alive
            a.errors = [NetcError(f"internal error in netc: {type(e).__name__}: {e}",
                                  hint="this is a bug in netc, not in your spec")]


# ---------------------------------------------------------------- diagnostics
_SEVERITY = {"error": T.DiagnosticSeverity.Error, "warning": T.DiagnosticSeverity.Warning,
             "note": T.DiagnosticSeverity.Information}


def diagnostic(a: Analysis, e: NetcError) -> tuple[T.Diagnostic, Fix | None]:
    """An LSP diagnostic for an error; one in an included file is shown on the include line."""
    span, message = e.span, e.message
    related = [T.DiagnosticRelatedInformation(location(sp, a), msg) for msg, sp in e.notes if sp.source]
    if not a.mine(span):
        here = next((sp for _, sp in e.notes if a.mine(sp)), None)
        if span.source is not None and span.line > 0:
            related.insert(0, T.DiagnosticRelatedInformation(location(span, a), message))
            message = f"{span.file}:{span.line}:{span.col}: {message}"
        span = here or span
    full = message + (f"\nhint: {e.hint}" if e.hint else "")
    suggestion = _suggestion(e)
    rng = to_lsp(span) if a.mine(span) else T.Range(T.Position(0, 0), T.Position(0, 0))
    d = T.Diagnostic(range=rng, message=full, severity=_SEVERITY.get(e.kind, T.DiagnosticSeverity.Error),
                     source="netc", code=type(e).__name__, related_information=related or None,
                     data={"fix": suggestion} if suggestion else None)
    fix = _fix(a, e, span, suggestion) if suggestion and a.mine(span) else None
    return d, fix


def _suggestion(e: NetcError) -> str | None:
    m = _FIX.search(e.hint or "") or _FIX.search(e.message)
    return m.group(1) if m else None


def _fix(a: Analysis, e: NetcError, span: Span, word: str) -> Fix | None:
    """Replace the misspelt word inside the span: the quoted word of the message closest to the
    suggestion (``unknown variable 'num_clases' in 'FC-num_clases'``), or the whole span."""
    if span.line != span.end_line:
        return None
    line = span.source.line(span.line)
    start, end = span.col - 1, span.end_col - 1
    inside = line[start:end]
    found = {q: re.search(rf"(?<!\w){re.escape(q)}(?!\w)", inside) for q in set(_QUOTED.findall(e.message)) - {word}}
    found = {q: m for q, m in found.items() if m}
    if found:
        bad = max(found, key=lambda q: (difflib.SequenceMatcher(None, q.lower(), word.lower()).ratio(), -len(q)))
        start, end = start + found[bad].start(), start + found[bad].end()
    elif not re.fullmatch(r"[\w\-/]+", inside):
        return None
    sub = dataclasses.replace(span, col=start + 1, end_col=end + 1)
    return Fix(to_lsp(sub), word, f"Change to '{word}'")
