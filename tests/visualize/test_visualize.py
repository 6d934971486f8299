"""Diagrams: golden DOT text, structure checked against the IR, real Graphviz output, legible layout."""
from __future__ import annotations

import importlib
import re
import shlex
import shutil
import subprocess
import sys

import pytest

import netc
from netc.visualize import GraphvizMissing, render, to_dot, to_svg
from netc.visualize.dot import figure_options

from conftest import ROOT, golden, run_cli

GOLDEN = ROOT / "tests" / "golden"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot not installed")
EDGE = re.compile(r'^\s*"((?:[^"\\]|\\.)*)" -> "((?:[^"\\]|\\.)*)"', re.M)
NODE = re.compile(r'^\s*"((?:[^"\\]|\\.)*)" \[', re.M)


def edges(dot: str) -> list[tuple[str, str]]:
    return EDGE.findall(dot)


def nodes(dot: str) -> list[str]:
    return NODE.findall(dot)


CASES = {
    "vgg-D.dot": ("vgg:D", {}),
    "googlenet-depth1.dot": ("googlenet", {"depth": 1}),
    "googlenet-depth2.dot": ("googlenet", {"depth": 2}),
    "sppnet-ZF-5.dot": ("sppnet:ZF-5", {"shapes": True, "params": True}),
    "vgg-D-repeats-LR.dot": ("vgg:D", {"repeats": True, "rankdir": "LR", "edge_shapes": True}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_dot(name):
    ref, opts = CASES[name]
    golden(GOLDEN / name, to_dot(netc.load(ref), **opts))


def test_dot_is_deterministic_and_has_no_absolute_paths():
    a = to_dot(netc.load("googlenet"))
    b = to_dot(netc.load("googlenet"))
    assert a == b
    assert str(ROOT) not in a


def test_vgg_edges_are_the_ir_edges():
    ir = netc.load("vgg:D")
    dot = to_dot(ir)
    assert sorted(edges(dot)) == sorted(ir.graph.edges())
    assert nodes(dot) == [n.name for n in ir.nodes()]
    for paper in ("conv3-64", "maxpool", "FC-4096", "soft-max"):
        assert f"<b>{paper}</b>" in dot


def test_googlenet_depth1_is_a_column_of_nine_inception_boxes():
    ir = netc.load("googlenet")
    dot = to_dot(ir, depth=1)
    blocks = [s for s in ir.scopes.values() if s.block == "inception"]
    assert len(blocks) == 9
    assert "cluster_inception_3a" not in dot
    for s in blocks:
        assert s.name in nodes(dot)
        assert f"<b>inception ({s.name.removeprefix('inception_')})</b>" in dot
    # aux heads: dashed side branches with their loss weight, attached where the spec says
    aux = [(u, v) for u, v in edges(dot) if v in ("loss1/head", "loss2/head")]
    assert aux == [("inception_4a", "loss1/head"), ("inception_4d", "loss2/head")]
    assert dot.count('label="loss weight 0.3"') == 2 and dot.count('style="dashed"') == 2


def test_googlenet_depth2_shows_every_branch():
    ir = netc.load("googlenet")
    dot = to_dot(ir, depth=2)
    assert dot == to_dot(ir)   # no block nested two deep: depth 2 is the full expansion
    drawn = set(nodes(dot))
    assert {n.name for n in ir.nodes()} <= drawn
    for s in ir.scopes.values():
        if s.block == "inception":
            assert f'subgraph "cluster_{s.name}"' in dot
    # every IR edge is drawn, directly or through the cluster's entry point
    drawn_edges = set(edges(dot))
    for u, v in ir.graph.edges():
        assert (u, v) in drawn_edges or any((u, e) in drawn_edges and (e, v) in drawn_edges
                                             for e in drawn if e.endswith("/#in")), (u, v)


def test_depth_collapses_fewer_edges():
    ir = netc.load("googlenet")
    assert len(edges(to_dot(ir, depth=1))) < len(edges(to_dot(ir, depth=2)))


def test_repeats_collapse_runs():
    dot = to_dot(netc.load("vgg:D"), repeats=True)
    assert dot.count("<b>conv3-512</b> ×3") == 2 and dot.count("<b>conv3-256</b> ×3") == 1
    assert dot.count("<b>conv3-64</b> ×2") == 1 and "conv4_1 … conv4_3" in dot


def test_shapes_and_params_options():
    dot = to_dot(netc.load("vgg:D"), shapes=True, params=True, edge_shapes=True)
    assert "64×224×224" in dot and "102.8M params" in dot and 'label="512×7×7"' in dot


def test_highlight_and_ghost_hook():
    old, new = netc.load("vgg:A"), netc.load("vgg:B")
    dot = to_dot(new, highlight={"conv1_2": "added", "conv2_1": "changed"},
                 ghosts=[old.node("pool1")], ghost_edges=[("conv1_1", "pool1")])
    line = next(l for l in dot.splitlines() if l.strip().startswith('"conv1_2"'))
    assert "#b6e3b0" in line
    assert "#ffd699" in next(l for l in dot.splitlines() if l.strip().startswith('"conv2_1"'))
    assert '"ghost:pool1"' in dot and '"conv1_1" -> "ghost:pool1"' in dot


@needs_dot
@pytest.mark.parametrize("ext,magic", [("svg", b"<svg"), ("png", b"\x89PNG"), ("pdf", b"%PDF")])
def test_render_formats(tmp_path, ext, magic):
    out = tmp_path / f"a.{ext}"
    render(netc.load("vgg:A"), out)
    assert magic in out.read_bytes()[:4096]


@needs_dot
def test_svg_and_jupyter_repr():
    ir = netc.load("vgg:A")
    svg = ir._repr_svg_()
    assert svg == to_svg(ir) and "conv3-64" in svg and "FC-4096" in svg


def test_missing_dot_writes_dot_and_says_how_to_install(tmp_path, monkeypatch):
    R = importlib.import_module("netc.visualize.render")   # the name is shadowed by the function
    monkeypatch.setattr(R.shutil, "which", lambda name: None)
    with pytest.raises(GraphvizMissing) as e:
        render(netc.load("vgg:A"), tmp_path / "a.png")
    assert (tmp_path / "a.dot").read_text() == to_dot(netc.load("vgg:A"))
    assert "apt-get install graphviz" in e.value.hint


def test_cli_missing_dot_exits_1(tmp_path):
    env = {"PATH": str(tmp_path)}   # no dot on this PATH
    r = run_cli("render", "vgg:A", "-o", str(tmp_path / "a.svg"), env=env)
    assert r.returncode == 1 and "apt-get install graphviz" in r.stderr and "Traceback" not in r.stderr
    assert (tmp_path / "a.dot").exists()


def test_cli_usage_errors(tmp_path):
    r = run_cli("render", "vgg:D", "-o", str(tmp_path / "a.gif"))
    assert r.returncode == 2 and "svg" in r.stderr
    r = run_cli("render", "vgg:Q", "-o", str(tmp_path / "a.dot"))
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_cli_dot_output(tmp_path):
    out = tmp_path / "g.dot"
    r = run_cli("render", "googlenet", "--depth", "1", "-o", str(out))
    assert r.returncode == 0, r.stderr
    ir = netc.load("googlenet")
    assert out.read_text() == to_dot(ir, **figure_options(ir, 1))


def test_cli_dot_to_stdout():
    r = run_cli("render", "googlenet", "--depth", "1", "-o", "-")
    assert r.returncode == 0, r.stderr
    ir = netc.load("googlenet")
    assert r.stdout == to_dot(ir, **figure_options(ir, 1))
    assert run_cli("render", "vgg:A", "-o", "-", "--format", "png").returncode == 2


def test_visualize_does_not_import_torch():
    code = ("import sys, netc; from netc.visualize import to_dot, family_table; "
            "to_dot(netc.load('googlenet')); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def _layout(dot: str):
    """Graphviz's own layout of ``dot`` (``dot -Tplain``): node boxes {name: (x0, y0, x1, y1)} and
    edges [(tail, head, B-spline control points)], in inches."""
    plain = subprocess.run(["dot", "-Tplain"], input=dot, capture_output=True, text=True, check=True).stdout
    boxes, edges = {}, []
    for line in plain.splitlines():
        parts = shlex.split(line)
        if parts[0] == "node":
            x, y, w, h = map(float, parts[2:6])
            boxes[parts[1]] = (x - w / 2, y - h / 2, x + w / 2, y + h / 2)
        elif parts[0] == "edge":
            xy = list(map(float, parts[4:4 + 2 * int(parts[3])]))
            edges.append((parts[1], parts[2], list(zip(xy[::2], xy[1::2]))))
    return boxes, edges


def _curve(points, steps: int = 24):
    """Points along a piecewise cubic Bezier curve (Graphviz's spline: p0 c1 c2 p1 c1 c2 p2 ...)."""
    for i in range(0, len(points) - 3, 3):
        p0, p1, p2, p3 = points[i:i + 4]
        for k in range(steps + 1):
            t = k / steps
            u = 1 - t
            yield tuple(u ** 3 * a + 3 * u * u * t * b + 3 * u * t * t * c + t ** 3 * d
                        for a, b, c, d in zip(p0, p1, p2, p3))


def _edges_through_nodes(boxes, edges, margin: float = 0.02):
    return sorted({(a, b, n) for a, b, points in edges for x, y in _curve(points)
                   for n, (x0, y0, x1, y1) in boxes.items()
                   if n not in (a, b) and x0 + margin < x < x1 - margin and y0 + margin < y < y1 - margin})


@needs_dot
def test_edge_check_sees_an_edge_through_a_node():
    """The oracle below can fail: a straight a -> c drawn through a wide b is caught."""
    boxes, edges = _layout("digraph { splines=line; a -> b -> c; a -> c; b [width=3] }")
    assert ("a", "c", "b") in _edges_through_nodes(boxes, edges)


@needs_dot
@pytest.mark.parametrize("ref,depth", [("googlenet", 1), ("googlenet", 2), ("vgg:D", 1), ("vgg:E", 2),
                                       ("sppnet:ZF-5", 1), ("chatfield:CNN-S", 1), ("alexnet", 1)])
def test_layout_is_legible(ref, depth):
    """Legibility, in Graphviz's own layout: no two node boxes overlap and no edge passes
    through a node other than its own two ends."""
    boxes, edges = _layout(to_dot(netc.load(ref), depth=depth))
    assert len(boxes) > 15 and len(edges) >= len(boxes) - 1
    items = list(boxes.items())
    for i, (a, (ax0, ay0, ax1, ay1)) in enumerate(items):
        for b, (bx0, by0, bx1, by1) in items[i + 1:]:
            assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0, f"{a} overlaps {b}"
    assert _edges_through_nodes(boxes, edges) == []


@pytest.mark.parametrize("mod", ["netc.visualize", "netc.visualize.dot", "netc.visualize.tables",
                                 "netc.visualize.render", "netc.visualize.table_format", "netc.visualize.palette",
                                 "netc.visualize.align"])
def test_docstring_examples(mod):
    import doctest
    result = doctest.testmod(importlib.import_module(mod), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
