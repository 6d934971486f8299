"""The parser is the module Lark's standalone tool generates from grammar.lark (scripts/gen_parser.py):
it must be made from the grammar as it is, import no Lark, and parse exactly as Lark itself and a
freshly generated module do: the same AST with the same spans, the same error at the same place."""
from __future__ import annotations

import ast as pyast
import dataclasses
import hashlib
import importlib.util
import random
import sys
import types
from pathlib import Path

import pytest

from netc.dsl import lark_standalone
from netc.dsl import parser as P
from netc.dsl.errors import NetcError, Span

import strategies

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import gen_parser  # noqa: E402


def _dump(x):
    if isinstance(x, Span):
        return ("Span", x.line, x.col, x.end_line, x.end_col)
    if isinstance(x, str) and hasattr(x, "type"):      # a token, of whichever parser
        return ("Token", x.type, str(x), x.line, x.column, x.end_line, x.end_column)
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return (type(x).__name__, tuple(sorted((k, _dump(v)) for k, v in vars(x).items())))
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, *(_dump(y) for y in x))
    return x


def _parse(text: str):
    try:
        return "ok", _dump(P.parse(text, "t.net"))
    except NetcError as e:
        return "error", type(e).__name__, e.message, _dump(e.span), e.hint


def _corpus(n_mutated: int) -> list[str]:
    texts = strategies.seed_texts()
    rng = random.Random(20141104)
    seeds = list(texts)
    for _ in range(n_mutated):
        text = strategies.mutate(rng.choice(seeds), rng)
        if len(text) <= 100_000:
            texts.append(text)
    return texts


def _parses(module, texts, monkeypatch) -> list:
    with monkeypatch.context() as m:
        m.setattr(P, "_lark_sa", module)
        P._reset()
        try:
            return [_parse(t) for t in texts]
        finally:
            P._reset()


def _full_lark() -> types.SimpleNamespace:
    """Lark itself, with the options the generator is given, in the standalone module's shape."""
    import lark
    from lark import exceptions

    def make():
        return lark.Lark(P.GRAMMAR.read_text(), parser="lalr", lexer="contextual", start="start",
                         propagate_positions=True, maybe_placeholders=True)
    return types.SimpleNamespace(Lark_StandAlone=make, Transformer=lark.Transformer, **{
        name: getattr(exceptions, name) for name in
        ("UnexpectedInput", "UnexpectedCharacters", "UnexpectedEOF", "UnexpectedToken", "VisitError")})


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    path = tmp_path_factory.mktemp("gen") / "regenerated_standalone.py"
    path.write_text(gen_parser.generate())
    spec = importlib.util.spec_from_file_location("regenerated_standalone", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_made_from_the_grammar_as_it_is():
    assert lark_standalone.GRAMMAR_SHA256 == hashlib.sha256(P.GRAMMAR.read_bytes()).hexdigest(), \
        "grammar.lark changed: run scripts/gen_parser.py"


def test_imports_no_lark():
    tree = pyast.parse(Path(lark_standalone.__file__).read_text())
    imported = {a.name.split(".")[0] for n in pyast.walk(tree) if isinstance(n, pyast.Import) for a in n.names}
    imported |= {(n.module or "").split(".")[0] for n in pyast.walk(tree) if isinstance(n, pyast.ImportFrom)}
    assert "lark" not in imported


def test_same_as_a_regenerated_module_and_as_lark(regenerated, monkeypatch):
    texts = _corpus(300)
    ours = [_parse(t) for t in texts]
    assert sum(r[0] == "ok" for r in ours) > 20 and sum(r[0] == "error" for r in ours) > 100   # both kinds met
    assert _parses(regenerated, texts, monkeypatch) == ours
    assert _parses(_full_lark(), texts, monkeypatch) == ours


def test_a_method_error_waits_for_the_syntax_error():
    """A number too long in line 2 (found while building the AST) and a syntax error in line 3:
    the syntax error is the one reported, as when the whole text is parsed first."""
    with pytest.raises(NetcError) as e:
        P.parse("input 8x8 RGB\nconv3-" + "9" * 40 + "\nFC-2 x\n")
    assert e.value.span.line == 3
