"""The language server on ``outputs a, b as KEY``: go-to-definition on a name finds the layer it
returns, hover describes that layer, and the statement raises no diagnostics."""
from __future__ import annotations

import pytest

pytest.importorskip("lsprotocol")

from lsprotocol import types as T  # noqa: E402

from netc.tools.lsp.analysis import analyse  # noqa: E402
from netc.tools.lsp.hover import hover  # noqa: E402
from netc.tools.lsp.navigate import definition  # noqa: E402

TEXT = """\
input 32x32 RGB
conv3-8 as c1
maxpool
conv3-16 as c2
outputs c1, c2 as deep
"""


def at(a, line: int, col: int):
    return a.pos(T.Position(line - 1, col - 1))


def test_definition_and_hover_of_an_output():
    a = analyse("file:///tmp/outputs.net", TEXT, 1)
    assert a.diagnostics == []
    (loc,) = definition(a, at(a, 5, 14))              # on c2
    assert loc.range.start.line == 3
    h = hover(a, at(a, 5, 9))                          # on c1
    assert h is not None and "conv3-8" in h.contents.value


def test_a_misnamed_output_is_a_diagnostic_at_the_name():
    a = analyse("file:///tmp/outputs.net", TEXT.replace("outputs c1, c2", "outputs c1, c3"), 1)
    (d,) = a.diagnostics
    assert "no layer or block is named 'c3'" in d.message and (d.range.start.line, d.range.start.character) == (4, 12)
