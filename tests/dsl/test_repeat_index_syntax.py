"""``x n for i`` in the front end: parsed into the layer (index and its span), written back by
netc fmt in the canonical spelling, and fmt's output parses to the same network."""
from __future__ import annotations

import textwrap

import pytest

import netc
from netc.dsl import ast
from netc.dsl.fmt import format_text
from netc.dsl.parser import parse

MESSY = """\
input 32x32 RGB
var n = 3
block blk(c,b) {
  conv3-c(groups=1+b*0)
}
conv3-8  x3   for  i   as down
blk(8, i)x n for i
conv3-8(stride = 1+j % 2)×(n-1) for j
FC-10
"""

CANONICAL = """\
input 32x32 RGB
var n = 3
block blk(c, b) {
    conv3-c(groups=1 + b * 0)
}
conv3-8 x3 for i as down
blk(8, i) x n for i
conv3-8(stride=1 + j % 2) x(n-1) for j
FC-10
"""


def layers(text: str) -> list[ast.Layer]:
    return [s.layers[0] for s in parse(text, "t.net").items if isinstance(s, ast.Chain)]


def test_the_index_is_parsed_with_its_place():
    got = [(l.word, l.repeat, l.index, l.index_span and (l.index_span.line, l.index_span.col), l.name)
           for l in layers(MESSY)]
    assert got == [("conv3-8", 3, "i", (6, 20), "down"), ("blk", 1, "i", (7, 18), None),
                   ("conv3-8", 1, "j", (8, 37), None), ("FC-10", 1, None, None, None)]


def test_fmt_writes_it_back_and_round_trips():
    out = format_text(MESSY, "t.net")
    assert out == CANONICAL
    assert format_text(out, "t.net") == out
    key = [(n.name, n.kind, repr(n.params), n.shape) for n in netc.loads(MESSY).nodes()]
    assert [(n.name, n.kind, repr(n.params), n.shape) for n in netc.loads(out).nodes()] == key
    assert [n.params.stride for n in netc.loads(out).nodes() if n.kind == "conv"][-2:] == [1, 2]


@pytest.mark.parametrize("text", ["conv3-8 x3 for\n", "conv3-8 x3 for i j\n", "conv3-8 for 3\n"])
def test_a_malformed_index_is_a_syntax_error_with_a_caret(text):
    with pytest.raises(netc.NetcError) as e:
        parse("input 32x32 RGB\n" + text, "t.net")
    assert e.value.span.line == 2 and "^" in str(e.value)


def test_for_stays_a_word_elsewhere():
    """``for`` is a keyword only right after a layer; a configuration may still be called that."""
    text = textwrap.dedent("""\
        input 32x32 RGB
        config format {
            conv3-8 x2 for i
            FC-10
        }
        """)
    assert netc.loads(text).params == netc.loads("input 32x32 RGB\nconv3-8 x2\nFC-10\n").params
