"""Every error kind, from a corpus of broken specs, against golden renderings (tests/errors/*.err).

Each tests/errors/NAME.net must fail; its rendered diagnostics (FILE:LINE:COL: error: ..., the line,
a caret, hint) must equal NAME.err. Refresh with NETC_ACCEPT=1 and review the diff.
"""
from __future__ import annotations

import networkx as nx
import pytest

import netc
from netc.ir import Node, check_graph

from conftest import ROOT, golden, run_cli

CORPUS = sorted((ROOT / "tests" / "errors").glob("*.net"))


def render_all(path) -> str:
    errors = netc.check(path.read_text(), filename=path.name)
    return "\n".join(e.render() for e in errors) + "\n"


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_error_corpus(path):
    errors = netc.check(path.read_text(), filename=path.name)
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
        ir.graph.add_edge(u, v)
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
    ir.graph.add_node("orphan", node=Node("orphan", "relu", None, span))
    ir.errors.clear()
    check_graph(ir)
    msgs = sorted(e.message for e in ir.errors)
    assert msgs == ["layer 'orphan' does not reach any output", "layer 'orphan' is unreachable from the input"]
    assert nx.is_directed_acyclic_graph(ir.graph)
