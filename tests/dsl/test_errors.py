"""Every error kind, from a corpus of broken specs, against golden renderings (tests/errors/*.err).

Each tests/errors/NAME.net must fail; its rendered diagnostics (FILE:LINE:COL: error: ..., the line,
a caret, hint) must equal NAME.err. Refresh with NETC_ACCEPT=1 and review the diff.
"""
from __future__ import annotations

import networkx as nx
import pytest

import netc
from netc.dsl.parser import decode
from netc.ir import Node
from netc.passes import check_graph

from conftest import ROOT, golden, run_cli

CORPUS = sorted((ROOT / "tests" / "errors").glob("*.net"))


def check_file(path) -> list:
    """netc.check on a file's bytes, decoded as the CLI decodes them (syntax_latin1.net is not UTF-8)."""
    try:
        text = decode(path.read_bytes(), path.name)
    except netc.NetcError as e:
        return [e]
    return netc.check(text, filename=path.name)


def render_all(path) -> str:
    return "\n".join(e.render() for e in check_file(path)) + "\n"


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_error_corpus(path):
    errors = check_file(path)
    assert errors, f"{path.name} should not be valid"
    for e in errors:
        assert isinstance(e, netc.NetcError)
        assert e.span.file == path.name and e.span.line >= 1 and e.span.col >= 1
    golden(path.with_suffix(".err"), render_all(path))


@pytest.mark.parametrize("path", CORPUS[:8], ids=[p.stem for p in CORPUS[:8]])
def test_cli_exit_1_without_traceback(path):
    p = run_cli("check", str(path))
    assert p.returncode == 1
    assert "Traceback" not in p.stderr
    assert f"{path.name}:" in p.stderr and ": error: " in p.stderr


def test_all_semantic_errors_in_one_run():
    text = "input 32x32 RGB\nconv3-16\nmaxpol\nconv3-0\ndropout(2)\nFC-10\n"
    errors = netc.check(text, filename="x.net")
    assert [(e.line, e.message.split(":")[0]) for e in errors] == [
        (3, "unknown layer 'maxpol'"), (4, "conv3-0"), (5, "dropout")]


def test_error_in_a_table_row_reported_once():
    text = ("input 32x32 RGB\ntable A | B {\n  conv3-16 | conv3-16\n  maxpol\n  FC-10\n}\n")
    errors = netc.check(text, filename="t.net")
    assert len(errors) == 1 and errors[0].line == 4


def test_syntax_error_stops_at_first():
    errors = netc.check("input 32x32 RGB\nconv3-16 (\nconv3-16 (\n", filename="s.net")
    assert len(errors) == 1 and isinstance(errors[0], netc.SpecSyntaxError) and errors[0].line == 2


# ------------------------------------------------------------------ text as editors and PDFs give it
PLAIN = "input 32x32 RGB\nconv3-16 x2\nFC-10\n"


def test_byte_order_mark_and_line_ends_are_read_alike(tmp_path):
    want = netc.loads(PLAIN).params
    for name, data in [("bom.net", b"\xef\xbb\xbf" + PLAIN.encode()),
                       ("crlf.net", b"\xef\xbb\xbf" + PLAIN.replace("\n", "\r\n").encode()),
                       ("cr.net", PLAIN.replace("\n", "\r").encode())]:
        f = tmp_path / name
        f.write_bytes(data)
        assert netc.load(str(f)).params == want, name
        assert netc.loads(data.decode("utf-8")).params == want, name
    # columns count from the first character after the mark, as editors show them
    (e,) = netc.check("\ufeffinput 32x32 RGB\r\nconv3-16 (\r\n", filename="b.net")
    assert (e.line, e.col) == (2, 11)
    (e,) = netc.check("\ufeffinput 32x32 RGBB\nFC-10\n", filename="b.net")
    assert (e.line, e.col, e.span.end_col) == (1, 13, 17)


# not in tests/errors/: the fuzzer reads that corpus as UTF-8 text
LATIN1 = b"# VGG-A, after Simonyan & Zisserman\n# r\xe9sum\xe9: eight conv layers\ninput 32x32 RGB\nconv3-16\n"


def test_not_utf8_is_a_located_spec_error(tmp_path):
    f = tmp_path / "latin1.net"
    f.write_bytes(LATIN1)
    p = run_cli("check", str(f), cwd=tmp_path)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert p.stderr == (
        f"{f}:2:4: error: the file is not UTF-8 text: byte 0xE9 cannot be decoded\n"
        " 2 | # r\ufffdsum\ufffd: eight conv layers\n"
        "   |    ^\n"
        "hint: save the file as UTF-8 (it looks like Latin-1 or Windows-1252, where this byte is 'é')\n"
        "1 error\n")
    # in an included file: the error is in that file, at its line
    (tmp_path / "blocks.net").write_bytes(b"block b(c) {\n    conv3-c  # na\xefve\n}\n")
    (tmp_path / "main.net").write_text('include "blocks.net"\ninput 32x32 RGB\nb(16)\nFC-10\n')
    (e,) = netc.program(str(tmp_path / "main.net")).errors
    assert isinstance(e, netc.SpecSyntaxError) and e.file.endswith("blocks.net") and (e.line, e.col) == (2, 18)


def test_utf16_is_named(tmp_path):
    f = tmp_path / "u16.net"
    f.write_bytes("input 32x32 RGB\nFC-10\n".encode("utf-16"))
    with pytest.raises(netc.SpecSyntaxError) as e:
        netc.Program.load(f)
    assert e.value.render() == (f"{f}:1:1: error: this file is UTF-16 text, not UTF-8\n"
                                " 1 | input 32x32 RGB\n"
                                "   | ^\n"
                                "hint: save it as UTF-8 (in Notepad: Save as, Encoding: UTF-8)")


def test_lookalikes_are_named_every_one_in_one_run():
    errors = check_file(ROOT / "tests" / "errors" / "syntax_lookalikes.net")
    assert [(e.line, e.col) for e in errors] == [(2, 9), (4, 6), (4, 18), (5, 11), (6, 3), (6, 14)]
    assert all(isinstance(e, netc.SpecSyntaxError) for e in errors)
    p = run_cli("check", str(ROOT / "tests" / "errors" / "syntax_lookalikes.net"))
    assert p.returncode == 1 and p.stderr.rstrip().endswith("6 errors")
    # in comments and inside "strings" they are left alone
    ok = "# conv3\u201364, \u201cquoted\u201d\ninput 32x32 RGB\nconv3-16  # \u2212 \u00a0\nFC-10\n"
    assert netc.check(ok, "ok.net") == []
    (e,) = netc.check('include "a\u2013b.net"\ninput 8x8 RGB\nFC-2\n', "s.net")
    assert e.message == "included file not found: 'a\u2013b.net'"


def test_repetition_and_size_spellings():
    want = netc.loads(PLAIN).params
    for text in ["input 32x32 RGB\nconv3-16 x 2\nFC-10\n", "input 32X32 RGB\nconv3-16 X2\nFC-10\n",
                 "input 32\u00d732 RGB\nconv3-16 \u00d7 2\nFC-10\n"]:
        assert netc.loads(text).params == want, text
    assert netc.loads("input HxW RGB\nconv3-16\ngap\nFC-10\n").any_size


@pytest.mark.parametrize("text, where, message, hint", [
    ("input 3x224x224\n", (1, 7), "'3x224x224' has three dimensions", "input 224x224 RGB (or 3ch)"),
    ("input 28x28x1\n", (1, 7), "'28x28x1' has three dimensions", "input 28x28 gray (or 1ch)"),
    ("input 64x64 x4\n", (1, 7), "'64x64 x4' has three dimensions", "input 64x64 4ch"),
    ("confg A {\n}\n", (1, 1), "unknown keyword 'confg'; did you mean 'config'?", None),
    ("input 8x8 RGB\nouput probs\n", (2, 1), "unknown keyword 'ouput'; did you mean 'output'?", None),
    ("input 8x8 RGB\ndropout 0.5\n", (2, 9), "unexpected '0.5'", "dropout(0.5)"),
])
def test_syntax_messages(text, where, message, hint):
    (e,) = netc.check(text, "m.net")
    assert isinstance(e, netc.SpecSyntaxError)
    assert (e.line, e.col) == where and e.message.startswith(message)
    assert hint is None or hint in e.hint


@pytest.mark.parametrize("text, where, message, hint", [
    ("input 8x8 RGB\nsum {\n  FC-2\n}\n", (2, 1), "unknown join 'sum'; use add { } or concat { }", "add { }"),
    ("input 8x8 RGB\nconcta as c {\n  FC-2\n}\n", (2, 1), "unknown join 'concta'; did you mean 'concat'?", None),
])
def test_unknown_joins(text, where, message, hint):
    """Joins are layer kinds (netc.kinds.joins), so an unknown one is a semantic error, like a layer."""
    (e,) = netc.check(text, "m.net")
    assert isinstance(e, netc.SpecError)
    assert (e.line, e.col) == where and e.message.startswith(message)
    assert hint is None or hint in e.hint


def test_a_layer_word_is_not_taken_for_a_keyword():
    (e,) = netc.check("input 8x8 RGB\nconv 64\n", "m.net")
    assert e.message.startswith("unexpected '64'") and e.hint == "arguments go in parentheses: conv(64)"


@pytest.mark.parametrize("text", ["dropout(9{big})", "FC-2 x9{big}", "FC-9{big}", "conv3-9{big}"])
def test_numbers_too_long_to_convert_are_errors(text):
    """Python converts at most 4,300 digits to an int; a spec never needs 100."""
    (e,) = netc.check("input 8x8 RGB\n" + text.format(big="9" * 5000) + "\n", "d.net")
    assert isinstance(e, netc.SpecSyntaxError) and e.message == "a number of 5,001 digits" and e.line == 2


def test_limit_hints_name_netc_limits():
    from netc.dsl.limits import LIMITS
    old = LIMITS["max_nesting"]
    try:
        LIMITS["max_nesting"] = 2
        (e,) = netc.check("input 8x8 RGB\nFC-2(a=[[[1]]])\n", "n.net")
    finally:
        LIMITS["max_nesting"] = old
    assert isinstance(e, netc.LimitError) and "netc.LIMITS['max_nesting']" in e.hint


def test_did_you_mean_for_configurations():
    with pytest.raises(netc.UsageError) as e:
        netc.load("vgg:A-LNR")
    assert "A-LRN" in (e.value.hint or "")


def test_cli_usage_errors_exit_2():
    assert run_cli("check", "no/such/file.net").returncode == 2
    assert run_cli("summary", "vgg:Z").returncode == 2
    p = run_cli("summary", "vgg:D", "--bogus")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    p = run_cli("summary", "vgg:D", "--set", "num_class=3")
    assert p.returncode == 2 and "num_classes" in p.stderr


def _ir_with_edges(edges):
    ir = netc.loads("input 8x8 RGB\nconv3-4 as a\nconv3-4 as b\nFC-2 as c\n")
    for u, v in edges:
        ir.g.add_edge(u, v)
    return ir


def test_cycle_is_an_error():
    # the language cannot express a cycle; the IR check guards programmatic graphs
    ir = _ir_with_edges([("b", "a")])
    ir.errors.clear()
    check_graph(ir)
    assert len(ir.errors) == 1 and isinstance(ir.errors[0], netc.GraphError)
    assert "cycle" in ir.errors[0].message


def test_unreachable_layer_is_an_error():
    ir = netc.loads("input 8x8 RGB\nconv3-4 as a\nFC-2 as c\n")
    span = ir.node("a").span
    ir.g.add_node("orphan", node=Node("orphan", "relu", None, span))
    ir.errors.clear()
    check_graph(ir)
    msgs = sorted(e.message for e in ir.errors)
    assert msgs == ["layer 'orphan' does not reach any output", "layer 'orphan' is unreachable from the input"]
    assert nx.is_directed_acyclic_graph(ir.graph)
