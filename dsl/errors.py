"""Spans, diagnostics and their one renderer.

Every AST node and every IR node carries a :class:`Span`; every error netc reports is a
:class:`NetcError` that renders as::

    specs/vgg.net:14:5: error: unknown layer 'rleu'
       14 |     rleu
          |     ^~~~
    hint: did you mean 'relu'?
"""
from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass
from typing import Iterable, Sequence


@dataclass(eq=False)
class Source:
    """The text of one spec file, kept so that errors can quote it."""

    name: str
    text: str

    def line(self, n: int) -> str:
        lines = self.__dict__.get("_lines")
        if lines is None or self.__dict__.get("_of") is not self.text:   # split once, not per error
            lines = self.__dict__["_lines"] = self.text.split("\n")
            self.__dict__["_of"] = self.text
        return lines[n - 1].rstrip("\r") if 0 < n <= len(lines) else ""


@dataclass(frozen=True, eq=False)
class Span:
    """A region of a source file: 1-based line and column, end exclusive."""

    source: Source | None
    line: int
    col: int
    end_line: int
    end_col: int

    @property
    def file(self) -> str:
        return self.source.name if self.source else "<unknown>"

    def __repr__(self) -> str:
        return f"Span({self.file}:{self.line}:{self.col})"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    def to(self, other: "Span | None") -> "Span":
        """The span from the start of this one to the end of ``other``."""
        if other is None:
            return self
        return Span(self.source, self.line, self.col, other.end_line, other.end_col)


UNKNOWN_SPAN = Span(None, 0, 0, 0, 0)


class NetcError(Exception):
    """Base of every error netc reports for bad input. ``.span`` says where."""

    kind = "error"

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.span = span or UNKNOWN_SPAN
        self.hint = hint
        self.notes: list[tuple[str, Span]] = []   # where it was reached from: ("in unit(-4)", call span)

    def note(self, message: str, span: Span) -> "NetcError":
        """Add a ``note:`` pointing at another place, e.g. the block call an error came through."""
        self.notes.append((message, span))
        return self

    def __str__(self) -> str:
        return self.render(color=False)

    @property
    def file(self) -> str:
        return self.span.file

    @property
    def line(self) -> int:
        return self.span.line

    @property
    def col(self) -> int:
        return self.span.col

    def render(self, color: bool = False) -> str:
        return render_diagnostic(self, color=color)


class SpecSyntaxError(NetcError):
    """The text does not parse."""


class SpecError(NetcError):
    """The text parses but means nothing valid (unknown layer, bad parameter...)."""


class ShapeError(SpecError):
    """Shapes do not fit: a map smaller than 1, channels that disagree, an FC on a variable map."""


class GraphError(SpecError):
    """The network graph is malformed: a cycle, an unreachable layer."""


class LimitError(SpecError):
    """A limit (file size, nesting, include depth, parameter budget) was exceeded."""


class UsageError(NetcError):
    """The user asked for something that does not exist (a file, a configuration, an option)."""


class NetcErrors(NetcError):
    """Several errors found in one run; ``.errors`` lists them in source order."""

    def __init__(self, errors: Sequence[NetcError]):
        errors = sort_errors(errors)
        first = errors[0]
        super().__init__(first.message, first.span, first.hint)
        self.notes = first.notes
        self.errors = list(errors)

    def render(self, color: bool = False) -> str:
        shown = self.errors[:MAX_SHOWN]
        body = "\n".join(e.render(color) for e in shown)
        n = len(self.errors)
        more = f"\n... and {n - len(shown):,} more" if n > len(shown) else ""
        return body + more + f"\n{n:,} error{'s' if n != 1 else ''}"


#: at most this many errors are rendered (the rest are counted: "... and 812 more")
MAX_SHOWN = 100
#: a quoted line longer than this is cut to a window around the caret
MAX_QUOTE = 200


def sort_errors(errors: Iterable[NetcError]) -> list[NetcError]:
    """Flatten, drop duplicates (same place, same message: an error inside a block is reported
    through its first call only) and sort by position."""
    flat: list[NetcError] = []
    for e in errors:
        flat.extend(e.errors if isinstance(e, NetcErrors) else [e])
    seen, out = set(), []
    for e in flat:
        key = (e.span.file, e.span.line, e.span.col, e.message)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return sorted(out, key=lambda e: (e.span.file, e.span.line, e.span.col))


def raise_all(errors: Sequence[NetcError]) -> None:
    """Raise nothing, the one error, or a :class:`NetcErrors` holding them all."""
    errors = sort_errors(errors)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise NetcErrors(errors)


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A hint naming the closest candidate, compared without case, or None."""
    return _closest(word.lower(), tuple(sorted(set(candidates))))


@functools.lru_cache(maxsize=4096)
def _closest(word: str, cands: tuple) -> str | None:   # 32,000 typos of one word: one comparison
    from difflib import get_close_matches      # only when there is a mistake to name
    lower = {c.lower(): c for c in cands}
    hits = get_close_matches(word, list(lower), n=1, cutoff=0.6)
    return f"did you mean '{lower[hits[0]]}'?" if hits else None


_RED, _BOLD, _CYAN, _RESET = "\033[31m", "\033[1m", "\033[36m", "\033[0m"


def render_diagnostic(err: NetcError, color: bool = False) -> str:
    def c(code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if color else text

    out = _located(err.span, c(_RED + _BOLD, err.kind + ":"), err.message, c(_RED, "^"), c(_RED, "~"))
    if err.hint:
        out.append(f"{c(_CYAN, 'hint:')} {err.hint}")
    for message, span in err.notes:
        out += _located(span, c(_BOLD, "note:"), message, "^", "~")
    return "\n".join(out)


def _located(span: Span, label: str, message: str, caret_head: str, caret_tail: str) -> list[str]:
    """``file:line:col: label message``, then the line quoted with a caret under the span."""
    if span.source is None or span.line <= 0:
        head = f"{span.file}: " if span.source else ""
        out = [f"{head}{label} {message}"]
    else:
        out = [f"{span.file}:{span.line}:{span.col}: {label} {message}"]
        raw = span.source.line(span.line)
        col, end_col = span.col, span.end_col if span.end_line == span.line else len(raw) + 1
        if len(raw) > MAX_QUOTE:          # a long line: quote a window around the culprit
            lo = max(0, min(col - 1 - MAX_QUOTE // 4, len(raw) - MAX_QUOTE))
            head, tail = ("..." if lo else ""), ("..." if lo + MAX_QUOTE < len(raw) else "")
            raw = head + raw[lo:lo + MAX_QUOTE] + tail
            col, end_col = col - lo + len(head), min(end_col - lo, MAX_QUOTE + 1) + len(head)
        text = raw.expandtabs(4)
        gutter = " " * (len(str(span.line)) + 1)
        # columns count characters; the quoted line shows tabs expanded, so the caret must too
        start = len(raw[:col - 1].expandtabs(4))
        end = len(raw[:end_col - 1].expandtabs(4))
        width = max(1, min(end - start, len(text) - start))
        out.append(f" {span.line} | {text}")
        out.append(f" {gutter}| {' ' * start}{caret_head}{caret_tail * (width - 1)}")
    return out


def use_color(stream=None) -> bool:
    stream = stream or sys.stderr
    return hasattr(stream, "isatty") and stream.isatty() and not os.environ.get("NO_COLOR")


__all__ = [
    "Source", "Span", "NetcError", "SpecSyntaxError", "SpecError", "ShapeError", "GraphError",
    "LimitError", "UsageError", "NetcErrors", "raise_all", "sort_errors", "did_you_mean",
    "render_diagnostic", "use_color", "UNKNOWN_SPAN",
]
