"""The language server's features as plain functions (no server process): every feature at every
token of every bundled spec and every broken spec answers without raising, the diagnostics are
exactly netc.check's errors, and each did-you-mean becomes a fix replacing the misspelt word."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("lsprotocol")

import netc  # noqa: E402
from netc.tools.lsp.analysis import analyse  # noqa: E402
from netc.tools.lsp.complete import complete, signature_help  # noqa: E402
from netc.tools.lsp.hover import hover  # noqa: E402
from netc.tools.lsp.inlay import inlay_hints  # noqa: E402
from netc.tools.lsp.navigate import definition, folding, references, symbols  # noqa: E402

ERRORS = Path(__file__).resolve().parents[1] / "errors"
FILES = sorted(netc.bundled_dir().glob("*.net")) + sorted(ERRORS.glob("*.net"))
#: the bundled files whose every token takes more than 4 s (many configurations each): -m slow
LONG = {"mobilenet", "resnet", "swin", "efficientnet", "yolov8"}


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.slow) if p.stem in LONG and p.parent.name == "specs"
                                  else p for p in FILES], ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_feature_at_every_token_answers(path):
    text = path.read_text(encoding="utf-8", errors="replace")
    a = analyse(path.resolve().as_uri(), text, 1)
    symbols(a)
    folding(text)
    inlay_hints(a, _range(len(a.lines)))
    for i, line in enumerate(a.lines, 1):
        for k, m in enumerate(re.finditer(r"\S+", line)):
            col = m.start() + 1 if k % 2 == 0 else m.end()     # the start of a token, or just after it
            p = a.pos(_lsp(i, col))
            hover(a, p)
            definition(a, p)
            references(a, p)
            complete(a, None, i, col - 1)
            signature_help(a, None, i, col - 1)


def _range(lines: int):
    from lsprotocol import types as T
    return T.Range(T.Position(0, 0), T.Position(lines, 0))


def _lsp(line: int, col: int):
    from lsprotocol import types as T
    return T.Position(line - 1, col - 1)


@pytest.mark.parametrize("path", sorted(ERRORS.glob("*.net")), ids=lambda p: p.stem)
def test_diagnostics_are_the_errors_of_netc_check(path):
    text = path.read_text(encoding="utf-8", errors="replace")
    a = analyse(path.resolve().as_uri(), text, 1)
    expected = netc.check(text, str(path.resolve()))
    assert [d.message.split("\nhint:")[0] for d in a.diagnostics] == [_shown(e, a) for e in expected]
    for e, d in zip(expected, a.diagnostics):
        if e.hint:
            assert d.message.endswith("hint: " + e.hint)


def _shown(e, a) -> str:
    if a.mine(e.span) or e.span.source is None or e.span.line <= 0:
        return e.message
    return f"{e.span.file}:{e.span.line}:{e.span.col}: {e.message}"


def test_every_did_you_mean_in_the_error_corpus_is_a_fix_on_the_misspelt_word():
    checked = 0
    for path in sorted(ERRORS.glob("*.net")):
        text = path.read_text(encoding="utf-8", errors="replace")
        a = analyse(path.resolve().as_uri(), text, 1)
        for fix in a.fixes:
            r = fix.range
            assert r.start.line == r.end.line
            line = a.lines[r.start.line].lstrip("\ufeff")
            old = line[r.start.character:r.end.character]
            assert old and old != fix.text and re.fullmatch(r"[\w\-/]+", old), (path.name, old, fix.text)
            checked += 1
    assert checked >= 10


def test_docstring_examples():
    import doctest
    import importlib
    for mod in ("netc.tools.lsp.analysis", "netc.tools.pygments_lexer"):
        result = doctest.testmod(importlib.import_module(mod))
        assert result.attempted and not result.failed, mod


def test_the_server_never_imports_torch():
    import subprocess
    import sys
    code = ("import sys, netc.tools.cli, netc.tools.lsp.server as s; netc.tools.cli.make_parser(); "
            "s.analyse('file:///x.net', open(sys.argv[1]).read()); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(netc.bundled_dir() / "googlenet.net")],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_completion_of_setting_values():
    a = analyse("file:///x.net", "input 32x32 \noutput \nconv3-8\n", 1)
    assert "gray" in {i.label for i in complete(a, None, 1, 12)}
    assert {i.label for i in complete(a, None, 2, 7)} == {"logits", "probs"}


def test_completion_knows_the_parameter_it_completes():
    """After ``act=`` only act's values; after a flag's ``=`` true and false; inside ``maxpool3/2(`` k and
    stride are what the paper word set (offered last, with that value), not required; a parameter
    already given is not offered again."""
    text = "input 32x32 RGB\nconv3-8(act=\nconv3-8(bias=\nmaxpool3/2(\nconv3-8(pad=1, \n"
    a = analyse("file:///x.net", text, 1)
    acts = {i.label for i in complete(a, None, 2, len("conv3-8(act="))}
    assert {"relu", "gelu", "none", "auto"} <= acts and not acts & {"zeros", "reflect", "true", "nearest"}
    assert {i.label for i in complete(a, None, 3, len("conv3-8(bias="))} == {"true", "false"}
    pool = {i.label: i for i in complete(a, None, 4, len("maxpool3/2("))}
    assert pool["k="].detail.startswith("set by maxpool3/2: 3") and pool["stride="].detail.startswith("set by maxpool3/2: 2")
    assert not any(i.detail.startswith("required") for i in pool.values() if i.detail)
    assert max(pool, key=lambda n: pool[n].sort_text or "") in ("k=", "stride=")
    conv = {i.label for i in complete(a, None, 5, len("conv3-8(pad=1, "))}
    assert "pad=" not in conv and "groups=" in conv


def test_positions_count_in_the_negotiated_encoding():
    from netc.tools.lsp import analysis
    line = "# \U0001d400 x"
    text = "input 32x32 RGB\nconv3-16 \u00d72 -> maxpol\n"         # the paper's x is two bytes in UTF-8
    try:
        for unit, col, start in (("utf-16", 5, 15), ("utf-8", 7, 16), ("utf-32", 4, 15)):
            analysis.ENCODING["unit"] = unit
            assert analysis._units(line, 4) == col
            assert analysis._chars(line, col) == 4
            r = analyse("file:///x.net", text, 1).diagnostics[0].range
            assert (r.start.character, r.end.character) == (start, start + 6)
    finally:
        analysis.ENCODING["unit"] = "utf-16"


def test_mutated_specs_never_break_a_feature():
    """The fuzzer's damaged specs (tests/strategies.py): analysis and every feature at random
    positions answer without raising (3,000 inputs once by hand; a few dozen here)."""
    import random
    from lsprotocol import types as T
    from strategies import mutate, seed_texts
    rng, seeds = random.Random(20141104), seed_texts()
    for i in range(40):
        text = mutate(rng.choice(seeds), rng)
        a = analyse("file:///tmp/fuzz/x.net", text, i)
        symbols(a)
        folding(text)
        inlay_hints(a, _range(len(a.lines)))
        for _ in range(10):
            line = rng.randrange(len(a.lines))
            p = a.pos(T.Position(line, rng.randrange(len(a.lines[line]) + 1)))
            hover(a, p)
            definition(a, p)
            references(a, p)
            complete(a, a, p.line, p.col - 1)
            signature_help(a, a, p.line, p.col - 1)


def test_let_from_joins_and_branches_not_taken():
    from test_editor_grammar import NEW_SYNTAX
    a = analyse("file:///tmp/new-syntax.net", NEW_SYNTAX, 1)
    assert a.diagnostics == []
    lines = a.lines

    def at(line: int, word: str, k: int = 0):
        cols = [i for i in range(len(lines[line - 1])) if lines[line - 1].startswith(word, i)]
        return a.pos(_lsp(line, cols[k] + 2))

    h = hover(a, at(6, "-m")).contents.value               # conv3-m in `if down`, down=false
    assert "no layer of any configuration comes from this line" in h and "let m = c * 4" in h
    assert [d.range.start.line for d in definition(a, at(6, "-m"))] == [3]          # -> let m
    assert [d.range.start.line for d in definition(a, at(19, "stem"))] == [13]      # from stem -> conv3-16 as stem
    assert "`stem`" in hover(a, at(19, "stem")).contents.value
    h = hover(a, at(10, "residual")).contents.value
    assert "`u1/residual`" in h and "16x32x32" in h
    assert "join: each line a branch" in {i.detail for i in complete(a, None, 21, 0)}


def test_hover_in_a_table_row_with_more_cells_than_columns():
    text = "input 8x8 RGB\ntable A | B {\n    conv3-8 | conv3-8 | conv3-8\n    FC-2\n}\n"
    a = analyse("file:///tmp/row.net", text, 1)
    assert "3 cells but the table has 2 columns" in a.diagnostics[0].message
    hover(a, a.pos(_lsp(3, 26)))          # the third cell: no column to show, no crash


def test_a_let_at_the_top_level():
    text = "input 8x8 RGB\nlet w = 4 * 2\nconv3-w\nFC-2\n"
    a = analyse("file:///tmp/let.net", text, 1)
    assert a.diagnostics == []
    assert [d.range.start.line for d in definition(a, a.pos(_lsp(3, 7)))] == [1]
    assert "let w = 4 * 2" in hover(a, a.pos(_lsp(3, 7))).contents.value
