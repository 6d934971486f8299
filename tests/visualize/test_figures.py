"""Figures as the papers draw them: a default depth by size, runs of a block folded though an
argument varies, stages stacked as rows, U-Net as a U, labels in the language's words."""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess

import pytest

import netc
from netc.visualize.dot import SCREEN, block_runs, count_nodes, figure_options, find_block, merge_papers, to_dot

from conftest import ROOT, run_cli

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot not installed")
NODE = re.compile(r'^\s*"((?:[^"\\]|\\.)*)" \[label=', re.M)
LABEL = re.compile(r'label=<(.*?)>[,;\]]', re.S)
JUNK = re.compile(r"\bTrue\b|\bFalse\b|\bNone\b|\d\.\d{5,}|dropout\(0(?:\.0)?\)|drop-path\(0\)|<b>identity</b>")


def _plain(dot: str):
    """Graphviz's layout: (width, height) in inches and {node: (x, y)}."""
    out = subprocess.run(["dot", "-Tplain"], input=dot, capture_output=True, text=True, check=True).stdout
    size, pos = None, {}
    for line in out.splitlines():
        parts = shlex.split(line)
        if parts[0] == "graph":
            size = (float(parts[2]), float(parts[3]))
        elif parts[0] == "node":
            pos[parts[1]] = (float(parts[2]), float(parts[3]))
    return size, pos


def _figure(ref: str, **opts) -> str:
    ir = netc.load(ref)
    return to_dot(ir, **figure_options(ir, **opts))


@pytest.mark.parametrize("ref,depth", [("resnet50", 2), ("swin_t", 3), ("vit_b_16", 3), ("googlenet", 1)])
def test_default_depth_folds_a_large_network(ref, depth):
    ir = netc.load(ref)
    opts = figure_options(ir)
    assert opts["depth"] == depth
    assert count_nodes(ir, **opts) <= SCREEN
    assert count_nodes(ir, depth=None, fold=None) > SCREEN        # all of it would not fit


def test_small_network_is_drawn_whole():
    ir = netc.load("vgg:D")
    assert figure_options(ir)["depth"] is None
    assert len(NODE.findall(_figure("vgg:D"))) == len(ir.nodes())


def test_depth_all_and_a_number():
    ir = netc.load("resnet50")
    assert figure_options(ir, "all")["depth"] is None
    assert figure_options(ir, 1)["depth"] == 1
    assert len(NODE.findall(to_dot(ir, **figure_options(ir, "all")))) > 100


@needs_dot
@pytest.mark.parametrize("ref", ["resnet50", "swin_t"])
def test_default_figure_is_folded_and_not_a_strip(ref):
    dot = _figure(ref)
    (w, h), pos = _plain(dot)
    assert len(pos) <= 80
    assert h <= 4 * w, (w, h)


def test_resnet_stages_are_rows_of_folded_bottlenecks():
    dot = _figure("resnet50")
    for n in (2, 3, 5):
        assert f"<b>bottleneck</b> ×{n}" in dot
    rows = re.findall(r"\{rank=same; ([^}]*)\}", dot)
    assert len(rows) >= 5
    assert any('"layer_2/bottleneck_1"' in r and '"layer_2/bottleneck_2"' in r for r in rows)


@needs_dot
def test_stages_are_stacked_not_side_by_side():
    """Each stage's row lies wholly below the one before (no tall parallel columns)."""
    dot = _figure("resnet50")
    _, pos = _plain(dot)
    ys = [pos[f"layer_{k}/bottleneck_1"][1] for k in range(1, 5)]
    assert ys == sorted(ys, reverse=True) and len(set(ys)) == 4


def test_runs_fold_though_an_argument_varies():
    """Swin's blocks differ in their drop-path rate (and shift): they still fold, with the range noted."""
    ir = netc.load("swin_t")
    assert ["stage_1/swin_pair_1/swin_block_1", "stage_1/swin_pair_1/swin_block_2"] in block_runs(ir, 2, vary=True)
    assert block_runs(ir, 2) == []                               # equal arguments only: nothing folds
    dot = to_dot(ir, **figure_options(ir))
    assert "<b>swin_block</b> ×2" in dot and "<b>swin_pair</b> ×3" in dot
    assert "p=0–0.0182" in dot and "shift=0/3" in dot


def test_varying_layer_shows_its_range():
    text = ("input 32x32 RGB\nblock b(p) {\n  conv3-8\n  dropout(p)\n}\nconv3-8\n"
            "b(0.1)\nb(0.2)\nb(0.3)\ngap\nFC-10\n")
    ir = netc.loads(text)
    dot = to_dot(ir, fold=2, depth=2)
    assert "<b>b</b> ×3" in dot and "<b>dropout(0.1–0.3)</b>" in dot
    assert "p=0.1–0.3" in to_dot(ir, fold=2, depth=1)


def test_widths_that_differ_do_not_fold():
    """GoogLeNet's inception modules are each a row of the paper's table: not one run."""
    dot = _figure("googlenet")
    assert "inception</b> ×" not in dot and "<b>inception (4c)</b>" in dot


def test_merge_papers():
    assert merge_papers(["conv3-64", "conv3-64"]) == "conv3-64"
    assert merge_papers(["drop-path(0.0181818)", "drop-path(0.2)"]) == "drop-path(0.0182–0.2)"


def _labels(dot: str) -> str:
    return " ".join(re.sub(r"<[^>]*>", " ", m) for m in LABEL.findall(dot))


def _bundled_configs():
    for f in sorted((ROOT / "specs").glob("*.net")):
        prog = netc.Program.from_text(f.read_text(), str(f))
        for name in prog.configs:
            yield f"{f.stem}:{name}"


def test_labels_have_no_python_reprs_in_any_bundled_spec():
    refs = list(_bundled_configs())
    assert len(refs) > 40
    bad = {}
    for ref in refs:
        ir = netc.load(ref)
        for opts in (figure_options(ir), figure_options(ir, "all"), figure_options(ir, 1)):
            junk = JUNK.findall(_labels(to_dot(ir, **opts)))
            if junk:
                bad[ref] = junk[:3]
    assert bad == {}


def test_titles_and_arguments_read_as_the_language():
    dot = _figure("vit_b_16")
    assert "encoder (encoder)" not in dot and "<b>encoder</b>" in dot
    assert "heads=12, D=768, mlp=3072" in dot
    assert "dropout(0)" not in dot
    rn = _figure("resnet50")
    assert "project=true" in rn and "True" not in rn


def test_unet_is_a_u():
    ir = netc.load("unet")
    dot = _figure("unet")
    assert "identity" not in _labels(dot)                  # the crop branch's identity is not drawn
    assert not any(n.startswith("identity") for n in NODE.findall(dot))
    rows = re.findall(r"\{rank=same; ([^}]*)\}", dot)
    for k in range(1, 5):                                  # each skip leaves and joins at one level
        assert f'"conv{k}_2"; "skip{k}";' in rows
    assert any('"pool4"' in r and '"up4"' in r for r in rows)      # the bottom level across
    assert 'dir="back"' in dot                                      # the decoder drawn upwards
    assert ir.node("skip1")


@needs_dot
def test_unet_ranks_in_the_layout():
    _, pos = _plain(_figure("unet"))
    for k in range(1, 5):
        assert pos[f"conv{k}_2"][1] == pos[f"skip{k}"][1]           # the skip runs across
        assert pos[f"conv{k}_2"][0] < pos[f"skip{k}"][0]            # encoder left, decoder right
    levels = [pos[f"skip{k}"][1] for k in range(1, 5)]
    assert levels == sorted(levels, reverse=True)                   # deeper levels lower
    bottom = pos["conv5_1"][1]
    assert bottom < min(levels) and pos["up4"][1] == bottom
    assert pos["score"][1] > pos["skip1"][1] and pos["input"][0] < pos["score"][0]


def test_block_detail():
    ir = netc.load("vit_b_16")
    assert find_block(ir, "encoder_block") == "encoder/encoder_block_1"
    dot = to_dot(ir, block="encoder_block")
    assert '"#in"' in dot and '"#out"' in dot and "MSA(12)" in dot
    assert "pos_embedding" not in dot and "one of 12 in a row" in dot
    with pytest.raises(netc.NetcError, match="no block"):
        to_dot(ir, block="nope")


def test_cli_block_and_edge_shapes(tmp_path):
    r = run_cli("render", "resnet50", "--block", "bottleneck", "--edge-shapes", "-o", "-")
    assert r.returncode == 0, r.stderr
    assert "<b>conv1-64</b>" in r.stdout and "256×56×56" in r.stdout
    r = run_cli("render", "resnet50", "--depth", "zero", "-o", "-")
    assert r.returncode == 2


@needs_dot
@pytest.mark.parametrize("ref", ["resnet50", "swin_t", "vit_b_16", "googlenet"])
def test_cli_default_svg_passes_the_viewer_check(tmp_path, ref):
    out = tmp_path / f"{ref}.svg"
    r = run_cli("render", ref, "-o", str(out))
    assert r.returncode == 0, r.stderr
    svg = out.read_text()
    m = re.search(r'<svg[^>]*\bwidth="([\d.]+)pt"[^>]*\bheight="([\d.]+)pt"', svg, re.S)
    w, h = float(m.group(1)), float(m.group(2))
    if ref in ("resnet50", "swin_t"):
        assert h <= 4 * w and svg.count('class="node"') <= 80
    texts = " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg))
    assert not re.findall(r"\bTrue\b|\bFalse\b|\bNone\b|\d\.\d{5,}|dropout\(0(?:\.0)?\)", texts)
