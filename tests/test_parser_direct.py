"""The parser builds the AST as it reduces, with Lark's tables run without Lark (netc.dsl.lalr), no
parse tree: it must give exactly what Lark's parse tree, transformed, gives, spans and tokens
included, and raise the same error where the text is wrong."""
from __future__ import annotations

import dataclasses
import random

import pytest

from netc.dsl import lalr
from netc.dsl import parser as P
from netc.dsl.errors import NetcError, Span

import strategies


def _dump(x):
    if isinstance(x, Span):
        return ("Span", x.line, x.col, x.end_line, x.end_col)
    if isinstance(x, str) and hasattr(x, "type"):      # a token: netc's (direct) or Lark's (tree)
        return ("Token", x.type, str(x), x.line, x.column, x.end_line, x.end_column)
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return (type(x).__name__, tuple(sorted((k, _dump(v)) for k, v in vars(x).items())))
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, *(_dump(y) for y in x))
    return x


def _parse(text: str, way: str, monkeypatch):
    """Parse ``way``: "tree" (Lark's parser and tree), or the direct parser lexing with each
    terminal's expression ("each", short texts) or with each lexer's whole one ("whole", long texts)."""
    with monkeypatch.context() as m:
        if way == "tree":
            m.setattr(P, "_direct", lambda: None)
        else:
            m.setattr(lalr.Parser, "LONG", 0 if way == "whole" else 10 ** 9)
        try:
            return "ok", _dump(P.parse(text, "t.net"))
        except NetcError as e:
            return "error", type(e).__name__, e.message, _dump(e.span), e.hint


def test_direct_parser_is_used():
    assert P._direct() is not None


EXTRA = [
    "", "\n", "# only a comment\n", "input 8x8 RGB", "var a = -(1)\nvar b = -2.5e3\nvar c = not true or 1 < 2\n",
    "input 8x8 RGB\nconv3-8 x 3 as c\nconv(k=[3, 5], c=8) -> relu\nadd {\n  conv3-8\n  {\n  }\n}\n",
    "input 8x8 RGB\nconv3-" + "9" * 40 + "\nFC-2 x\n",        # a method's error, then a syntax error: the syntax error
    "input 8x8 RGB\nconv3-" + "9" * 40 + "\nFC-2\n",          # a method's error alone
    "var a = 1e999\nvar b = " + "1" * 30 + "\n",              # two method errors: the first
]


@pytest.mark.parametrize("way", ["each", "whole"])
def test_same_as_tree_on_specs_and_error_corpus(monkeypatch, way):
    texts = strategies.seed_texts() + EXTRA
    for text in texts:
        assert _parse(text, way, monkeypatch) == _parse(text, "tree", monkeypatch), text[:200]


@pytest.mark.parametrize("way", ["each", "whole"])
def test_same_as_tree_on_mutated_texts(monkeypatch, way):
    rng = random.Random(20141104)
    seeds = strategies.seed_texts()
    for _ in range(300):
        text = strategies.mutate(rng.choice(seeds), rng)
        if len(text) > 100_000:
            continue
        assert _parse(text, way, monkeypatch) == _parse(text, "tree", monkeypatch), text[:200]
