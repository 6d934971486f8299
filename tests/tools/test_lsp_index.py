"""The language server on ``x n for i``: hover on the index says what it counts, go-to-definition
finds the ``for i``, completion in the line's arguments offers it, and nothing is offered where a
new index name is typed."""
from __future__ import annotations

import pytest

pytest.importorskip("lsprotocol")

from lsprotocol import types as T  # noqa: E402

from netc.tools.lsp.analysis import analyse  # noqa: E402
from netc.tools.lsp.complete import complete  # noqa: E402
from netc.tools.lsp.hover import hover  # noqa: E402
from netc.tools.lsp.navigate import definition  # noqa: E402

TEXT = """\
input 32x32 RGB
var rate = 0.3
block blk(c, b) {
    drop-path(rate * b) as dp
}
blk(8, i) x4 for i
conv3-16(stride=1 + i) x n for i
FC-10
"""


def at(a, line: int, col: int):
    return a.pos(T.Position(line - 1, col - 1))


def test_hover_definition_and_completion_of_an_index():
    a = analyse("file:///tmp/index.net", TEXT.replace("x n for", "x2 for"), 1)
    assert a.diagnostics == []
    h = hover(a, at(a, 6, 8))
    assert h.contents.value == "**i**: the index of this repetition, 0 ... 3 (one value for each copy of `blk`)"
    (loc,) = definition(a, at(a, 6, 8))
    assert (loc.range.start.line, loc.range.start.character, loc.range.end.character) == (5, 17, 18)
    assert "0 ... 1 (one value for each copy of `conv3-16`)" in hover(a, at(a, 7, 21)).contents.value
    items = {c.label: c.detail for c in complete(a, None, 6, 7)}
    assert items["i"] == "index of this repetition: 0, 1, ..." and "rate" in items and "c=" in items
    assert complete(a, None, 6, 18) == []             # typing the index's own name


def test_a_count_from_a_variable_and_a_broken_line_still_answer():
    a = analyse("file:///tmp/index.net", TEXT.replace("var rate = 0.3", "var rate = 0.3\nvar n = 2"), 1)
    assert a.diagnostics == []
    assert "0 ... n - 1" in hover(a, at(a, 8, 21)).contents.value
    broken = analyse("file:///tmp/index.net", TEXT.replace("x4 for i", "x4 for"), 1)
    assert broken.diagnostics and hover(broken, at(broken, 6, 8)) is None
