"""The parser's tables (netc.dsl.lalr): made by Lark once, kept in the cache directory, run without
importing Lark. A cache that is missing, damaged, or made for another grammar, format or Lark is
made again; one that cannot be written costs time, never a result. Whether the tables parse
exactly as Lark does is tests/test_parser_direct.py's subject."""
from __future__ import annotations

import marshal
import os
import subprocess
import sys
from pathlib import Path

import pytest

from netc.dsl import lalr
from netc.dsl import parser as P
from netc.dsl.errors import SpecSyntaxError

ROOT = Path(__file__).resolve().parent.parent
VGG = (ROOT / "specs" / "vgg.net").read_text()
BAD = "input 8x8 RGB\nconv3-8 ->\nFC-2\n"

PROBE = ("import sys\nfrom netc.dsl import parser as P\n"
         "m = P.parse(open('specs/vgg.net').read(), 'vgg.net')\n"
         "print(len(m.items), 'lark' in sys.modules)\n"
         "try:\n    P.parse(sys.argv[1], 'bad.net')\n"
         "except Exception as e:\n    print(type(e).__name__, e.message, e.span.line, e.span.col, 'lark' in sys.modules)\n")


def _probe(cache: Path, text: str = "FC-2\n") -> list[str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, text], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, NETC_CACHE_DIR=str(cache)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.splitlines()


def _tree_error(text: str) -> str:
    """The error the tree path (Lark's parser alone) gives."""
    try:
        P._parse_with_lark(P._source_body(P.normalize(text), []), P.Source("bad.net", P.normalize(text)))
    except SpecSyntaxError as e:
        return f"SpecSyntaxError {e.message} {e.span.line} {e.span.col}"
    raise AssertionError("the tree path parsed it")


def test_the_first_run_makes_the_tables_and_the_next_runs_without_lark(tmp_path):
    cache = tmp_path / "cache"
    assert _probe(cache) == ["4 True"]          # made by Lark, kept
    (made,) = cache.iterdir()
    assert _probe(cache) == ["4 False"]         # read back: Lark not imported
    assert list(cache.iterdir()) == [made]


def test_a_text_that_does_not_parse_is_reported_by_lark(tmp_path):
    _probe(tmp_path)
    out = _probe(tmp_path, BAD)
    assert out[0] == "4 False"
    assert out[1] == _tree_error(BAD) + " True"     # Lark imported for the message, the same message


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """In this process: the cache directory ``tmp_path/"c"``, the direct parser made again."""
    monkeypatch.setenv("NETC_CACHE_DIR", str(tmp_path / "c"))
    P._direct.cache_clear()
    yield Path(lalr._cache_file(P.GRAMMAR.read_text()))
    P._direct.cache_clear()


def _good_tables() -> dict:
    grammar = P.GRAMMAR.read_text()
    return lalr.compile_tables(P._lark(), grammar)


@pytest.mark.parametrize("damage", ["empty", "garbage", "truncated", "other format", "other grammar", "other lark",
                                    "bad state", "bad shape", "huge", "not a dict"])
def test_a_damaged_or_foreign_cache_is_made_again(fresh, damage):
    good = _good_tables()
    data = marshal.dumps(good)
    bad = {"empty": b"", "garbage": b"\x00not marshal\xff" * 10, "truncated": data[:len(data) // 2],
           "other format": marshal.dumps({**good, "format": lalr.FORMAT + 1}),
           "other grammar": marshal.dumps({**good, "grammar": good["grammar"] + "\n// changed\n"}),
           "other lark": marshal.dumps({**good, "lark": ("0.0.1", ("/elsewhere/lark/__init__.py", 1, 2))}),
           "bad state": marshal.dumps({**good, "states": [{"WORD": 10 ** 6}] + good["states"][1:]}),
           "bad shape": marshal.dumps({**good, "rules": [r[:5] + (((99, False, 0),), 0) for r in good["rules"]]}),
           "huge": data + b"\x00" * 5_000_000,
           "not a dict": marshal.dumps([1, 2, 3])}[damage]
    fresh.parent.mkdir(parents=True)
    fresh.write_bytes(bad)
    assert P._direct() is not None
    assert lalr._valid(marshal.loads(fresh.read_bytes()), good["grammar"])        # made again, kept
    module = P.parse(VGG, "vgg.net")
    (table,) = [x for x in module.items if hasattr(x, "columns")]
    assert [name for name, _ in table.columns] == ["A", "A-LRN", "B", "C", "D", "E"]
    assert [x.name for x in module.items if hasattr(x, "base")] == ["B-shallow"]


def test_a_cache_that_cannot_be_written_costs_time_not_results(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("NETC_CACHE_DIR", str(blocker / "cache"))
    P._direct.cache_clear()
    try:
        assert P._direct() is not None
        assert len(P.parse(VGG, "vgg.net").items) == 4
    finally:
        P._direct.cache_clear()
    assert blocker.read_text() == "not a directory"


def test_the_cache_directory(monkeypatch):
    monkeypatch.delenv("NETC_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/x/cache")
    assert lalr.cache_dir() == os.path.join("/x/cache", "netc")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")          # not absolute: ignored, as the spec says
    assert lalr.cache_dir() == os.path.join(os.path.expanduser("~"), ".cache", "netc")
    monkeypatch.setenv("HOME", "")                             # no home: no cache, still a parser
    monkeypatch.setattr(os.path, "expanduser", lambda p: p)
    assert lalr.cache_dir() is None
    P._direct.cache_clear()
    try:
        assert P._direct() is not None and len(P.parse(VGG, "vgg.net").items) == 4
    finally:
        P._direct.cache_clear()
    monkeypatch.setenv("NETC_CACHE_DIR", "/y")
    assert lalr.cache_dir() == "/y"


def test_a_lark_setup_the_tables_do_not_reproduce_is_refused():
    from lark import Lark
    other = Lark("start: WORD+\nWORD: /[a-z]+/\n%ignore \" \"\n", parser="lalr", lexer="basic",
                 propagate_positions=True)
    with pytest.raises(lalr.Refused):
        lalr.compile_tables(other, "")


def test_the_tables_parse_what_lark_parses_and_miss_where_it_fails():
    """Lexing and parsing a small grammar of our own with its tables: the same tokens, values and
    positions as Lark's tree; :class:`lalr.Miss` where Lark raises."""
    from lark import Lark, Token
    from lark.exceptions import UnexpectedInput
    grammar = ('start: _NL* (item _NL+)*\nitem: NAME "=" NUMBER | "print" NAME\n'
               'NAME: /[a-z]+/\nNUMBER: /\\d+/\n_NL: /\\n/\n%ignore " "\n')
    lk = Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True, keep_all_tokens=True)
    tables = lalr.compile_tables(lk, grammar)
    parser = lalr.Parser(tables)

    def callbacks():
        return [(lambda name: lambda c: (name, [x if isinstance(x, tuple) else (x.type, str(x), x.line, x.column,
                                                                                 x.end_line, x.end_column)
                                                 for x in c]))(shape[2]) for shape in tables["rules"]]

    def tree(t):
        return (t.data, [tree(c) if not isinstance(c, Token) else (c.type, str(c), c.line, c.column, c.end_line,
                                                                    c.end_column) for c in t.children])

    def flat(x):    # the tables' values are per rule, unflattened: compare the tokens in order
        return [y for c in x[1] for y in (flat(c) if isinstance(c[1], list) else [c])]

    for text in ["a = 1\n", "\n\nprint  x\nb=22\n  print print\n", "print = 3\n", "x = \n", "= 1\n", "a = 1"]:
        try:
            expected = tree(lk.parse(text))
        except UnexpectedInput:
            with pytest.raises(lalr.Miss):
                parser.parse(text, callbacks())
            continue
        got = parser.parse(text, callbacks())
        assert flat(got) == flat(expected), text
    # "print print": the second is a NAME (the keyword is not expected there), as in Lark
    assert ("NAME", "print", 5, 9, 5, 14) in flat(parser.parse("\n\nprint  x\nb=22\n  print print\n", callbacks()))
