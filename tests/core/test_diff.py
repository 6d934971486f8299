"""netc diff: VGG Table 1's bold layers, Chatfield's CNN-M-2048, moves, renames, blocks, scale.

The oracles: the layers the papers print in bold (VGG Table 1) or name as the difference
(Chatfield: "full7" narrowed), the parameter counts of paper-facts.md, and, for every diff, the
two IRs' own totals (the edits' deltas must add up to NEW.params - OLD.params).
"""
from __future__ import annotations

import doctest
import importlib
import json
import re

import pytest

import netc
from netc import diff as diff_mod
from netc.diff import difftree as difftree_mod

align_mod = importlib.import_module("netc.diff.align")   # netc.diff.align is also a function's name
from netc.diff import diff

from conftest import ROOT, golden, run_cli

# paper-facts.md section 1 (VGG Table 2 / torchvision) and section 4 (Chatfield)
VGG_PARAMS = {"A": 132_863_336, "A-LRN": 132_863_336, "B": 133_047_848, "C": 133_638_952,
              "D": 138_357_544, "E": 143_667_240}
CNN_M, CNN_M_2048 = 102_908_520, 92_469_864


def vgg(a: str, b: str):
    return diff(netc.load(f"vgg:{a}"), netc.load(f"vgg:{b}"))


def ops(d) -> list[str]:
    return [e.op for e in d.edits]


def added(d) -> list[tuple[str, str]]:
    return [(e.new.name, e.new.layer) for e in d.edits if e.op == "add"]


# ------------------------------------------------------------------ VGG Table 1: the bold layers
def test_a_to_b_two_conv3_layers_in_the_64_and_128_stages():
    d = vgg("A", "B")
    assert added(d) == [("conv1_2", "conv3-64"), ("conv2_2", "conv3-128")]
    assert ops(d) == ["add", "add"]
    assert d.params_delta == VGG_PARAMS["B"] - VGG_PARAMS["A"] == 184_512
    assert not d.downstream


def test_b_to_c_three_conv1_layers():
    d = vgg("B", "C")
    assert added(d) == [("conv3_3", "conv1-256"), ("conv4_3", "conv1-512"), ("conv5_3", "conv1-512")]
    assert d.params_delta == VGG_PARAMS["C"] - VGG_PARAMS["B"]


def test_c_to_d_the_conv1_layers_become_conv3():
    d = vgg("C", "D")
    assert ops(d) == ["change"] * 3
    assert [(e.old.layer, e.new.layer) for e in d.edits] == [
        ("conv1-256", "conv3-256"), ("conv1-512", "conv3-512"), ("conv1-512", "conv3-512")]
    assert all(e.changes == (("k", 1, 3),) for e in d.edits)
    assert d.params_delta == VGG_PARAMS["D"] - VGG_PARAMS["C"] == 4_718_592


def test_d_to_e_three_conv3_layers():
    d = vgg("D", "E")
    assert added(d) == [("conv3_4", "conv3-256"), ("conv4_4", "conv3-512"), ("conv5_4", "conv3-512")]
    assert d.params_delta == VGG_PARAMS["E"] - VGG_PARAMS["D"]


def test_a_to_a_lrn_one_lrn():
    d = vgg("A", "A-LRN")
    assert [(e.op, e.new.layer) for e in d.edits] == [("add", "LRN")]
    assert d.params_delta == 0


def test_added_layers_point_at_their_table_rows():
    d = vgg("A", "B")
    lines = (ROOT / "specs/vgg.net").read_text().splitlines()
    for e in d.edits:
        row = lines[e.new.line - 1]
        assert e.new.file.endswith("vgg.net")
        assert row.split("|")[0].strip() == "" and "conv3-" in row   # A's cell is empty on that row


@pytest.mark.parametrize("a,b", [(a, b) for a in VGG_PARAMS for b in VGG_PARAMS])
def test_totals_are_the_true_difference(a, b):
    d = vgg(a, b)
    assert d.params_delta == VGG_PARAMS[b] - VGG_PARAMS[a]
    new, old = netc.load(f"vgg:{b}"), netc.load(f"vgg:{a}")
    assert d.macs_delta == new.macs - old.macs
    assert d.identical == (a == b)


def test_generated_names_are_not_renames():
    d = vgg("A", "E")       # conv3_3 in A is not conv3_3 in E: names shift, no rename reported
    assert set(ops(d)) == {"add"}
    assert len(d.edits) == 8


# ------------------------------------------------------------------ Chatfield: CNN-M -> CNN-M-2048
def test_cnn_m_2048_one_changed_layer_and_the_changed_fc8_input():
    d = diff(netc.load("chatfield:CNN-M"), netc.load("chatfield:CNN-M-2048"))
    assert [(e.op, e.old.name, e.old.layer, e.new.layer) for e in d.edits] == [
        ("change", "fc7", "FC-4096", "FC-2048")]
    assert d.edits[0].changes == (("out", 4096, 2048),)
    assert len(d.downstream) == 1
    ds = d.downstream[0]
    assert ds.last == "fc8" and (ds.old_in, ds.new_in) == ((4096,), (2048,))
    assert ds.params_delta == -2048 * 1000          # fc8's weights shrink with its input
    assert d.params_delta == CNN_M_2048 - CNN_M


# ------------------------------------------------------------------ written differently, moved, renamed
SMALL = """input 32x32 RGB
var n = 10
table A | B {
    conv3-16 | conv3-16
             | conv3-16
    maxpool
    conv3-32 as wide | conv3-32 as wide
    maxpool
    FC-64
    FC-n
}
config A2 {
    # the same network as column A, written as a plain configuration
    conv3-16
    maxpool   # comments move around
    conv3-32 as wide
    maxpool
    FC-64
    FC-n
}
config B2 extends A2 { insert conv3-16 after conv1_1 }
config moved {
    conv3-32 as wide
    conv3-16
    maxpool
    maxpool
    FC-64
    FC-n
}
config renamed {
    conv3-16
    maxpool
    conv3-32 as broad
    maxpool
    FC-64
    FC-n
}
config strided {
    conv3-16/2
    maxpool
    conv3-32 as wide
    maxpool
    FC-64
    FC-n
}
"""


def small(cfg: str):
    return netc.loads(SMALL, cfg, filename="small.net")


@pytest.mark.parametrize("a,b", [("A", "A2"), ("A2", "A"), ("B", "B2"), ("B2", "B")])
def test_same_network_written_differently_is_identical(a, b):
    d = diff(small(a), small(b))
    assert d.identical and d.edits == [] and d.params_delta == 0


def test_comments_and_layout_do_not_matter():
    text = SMALL.replace("    maxpool   # comments move around\n", "\n\n    # moved\n    maxpool\n")
    d = diff(small("A2"), netc.loads(text, "A2", filename="other.net"))
    assert d.identical


def test_a_moved_layer_is_one_move_not_a_cascade():
    d = diff(small("A2"), small("moved"))
    assert len(d.edits) <= 2 and set(ops(d)) <= {"move", "add", "remove"}
    assert ops(d) == ["move"]
    assert d.params_delta == small("moved").params - small("A2").params


def test_a_user_written_name_can_be_renamed():
    d = diff(small("A2"), small("renamed"))
    assert [(e.op, e.old.name, e.new.name) for e in d.edits] == [("rename", "wide", "broad")]
    assert d.params_delta == 0


def test_a_stride_change_lists_downstream_shapes_once():
    d = diff(small("A2"), small("strided"))
    assert ops(d) == ["change"] and d.edits[0].changes == (("stride", 1, 2),)
    assert len(d.downstream) == 1                     # pool1 .. fc3: one entry, not one per layer
    ds = d.downstream[0]
    assert (ds.first, ds.last, ds.count) == ("pool1", "fc3", 4)
    assert d.params_delta == small("strided").params - small("A2").params


def test_variable_override_changes_the_classifier():
    d = diff(small("A2"), netc.loads(SMALL, "A2", filename="small.net", n=20))
    assert [(e.op, e.old.layer, e.new.layer) for e in d.edits] == [("change", "FC-10", "FC-20")]


# ------------------------------------------------------------------ blocks
BLOCKS = """input 32x32 RGB
block mix(a, b) {
    concat {
        conv1-a as one
        conv1-8 as reduce -> conv3-b as three
    }
}
config base { conv3-16
    mix(8, 8) as m1
    mix(16, 8) as m2
    gap
    FC-10 }
config wider { conv3-16
    mix(8, 8) as m1
    mix(16, 24) as m2
    gap
    FC-10 }
config extra { conv3-16
    mix(8, 8) as m1
    mix(8, 8) as m1b
    mix(16, 8) as m2
    gap
    FC-10 }
"""


def test_block_instances_compare_as_units_and_recurse_when_they_differ():
    a, b = netc.loads(BLOCKS, "base"), netc.loads(BLOCKS, "wider")
    d = diff(a, b)
    assert [(e.op, e.new.name, e.old.layer, e.new.layer) for e in d.edits] == [
        ("change", "m2/three", "conv3-8", "conv3-24")]
    assert d.params_delta == b.params - a.params


def test_an_added_block_instance_is_one_edit():
    a, b = netc.loads(BLOCKS, "base"), netc.loads(BLOCKS, "extra")
    d = diff(a, b)
    assert [(e.op, e.new.name, e.new.layer) for e in d.edits] == [("add", "m1b", "mix(8, 8)")]
    assert d.params_delta == b.params - a.params


def test_googlenet_naive_modules_are_nine_block_changes():
    a, b = netc.load("googlenet"), netc.load("googlenet:naive")
    d = diff(a, b)
    assert ops(d) == ["change"] * 9
    assert [e.new.name for e in d.edits] == [f"inception_{t}" for t in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b")]
    assert d.params_delta == b.params - a.params
    assert d.macs_delta == b.macs_train - a.macs_train


# ------------------------------------------------------------------ scale
def generated(n_layers: int, edits: dict[int, str] | None = None) -> str:
    """A plain configuration of ``n_layers`` convolutions; ``edits`` replaces line i with a
    text ('' removes it; 'conv3-24\\nX' inserts X after)."""
    widths = (16, 24, 32, 24)
    rows = [f"conv{1 + 2 * (i % 3 == 0)}-{widths[i % 4]}" for i in range(n_layers)]
    for i, text in (edits or {}).items():
        rows[i] = text
    body = "\n".join(f"    {r}" for r in "\n".join(rows).split("\n") if r)
    return f"input 8x8 RGB\nconfig net {{\n{body}\n    gap\n    FC-10\n}}\n"


def ten_edits(n: int) -> tuple[dict[int, str], dict[str, int]]:
    step = n // 10
    edits: dict[int, str] = {}
    for k in range(10):
        i = step * k + step // 2
        row = generated(n).splitlines()[2 + i].strip()
        if k % 3 == 0:
            edits[i] = row.replace("conv1-", "conv5-").replace("conv3-", "conv5-")  # change k
        elif k % 3 == 1:
            edits[i] = f"{row}\ndropout(0.{k})"                                     # add
        else:
            edits[i] = ""                                                          # remove
    return edits, {"change": 4, "add": 3, "remove": 3}


def test_ten_edits_in_a_generated_network_are_exactly_ten(monkeypatch):
    import netc.diff as diff_module
    n = 300
    edits, expected = ten_edits(n)
    a = netc.loads(generated(n), filename="a.net")
    b = netc.loads(generated(n, edits), filename="b.net")
    priced = []                    # pairs of layers the alignment priced: a band, not n x n
    real = diff_module.align
    monkeypatch.setattr(diff_module, "align", lambda x, y, cost, notes=None: real(
        x, y, lambda p, q: priced.append(1) or cost(p, q), notes))
    d = diff(a, b)
    counts = {op: ops(d).count(op) for op in set(ops(d))}
    assert counts == expected
    assert d.params_delta == b.params - a.params
    assert 0 < len(priced) <= 30 * (len(a) + len(b)) < len(a) * len(b) // 2, len(priced)


# ------------------------------------------------------------------ command line
def cli(capsys, *args: str):
    """Run ``netc ARGS`` in this process: (exit status, stdout, stderr)."""
    from netc.tools.cli import main
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json_schema_and_exit_status(capsys):
    code, out, err = cli(capsys, "diff", "vgg:A", "vgg:B", "--json")
    assert code == 1, err
    js = json.loads(out)
    assert js["old"] == "vgg:A" and js["new"] == "vgg:B" and js["params_delta"] == 184_512
    for e in js["edits"]:
        assert e["op"] == "add" and e["old"] is None
        assert set(e["new"]) >= {"name", "layer", "line"} and isinstance(e["new"]["line"], int)
        assert isinstance(e["params_delta"], int) and isinstance(e["macs_delta"], int)
    assert sum(e["macs_delta"] for e in js["edits"]) == js["macs_delta"]


def test_cli_identical_unknown_and_broken(capsys):
    assert cli(capsys, "diff", "vgg:D", "vgg:D")[0] == 0
    r = run_cli("diff", "vgg:D", "vgg:Z")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "no configuration 'Z'" in r.stderr
    code, out, err = cli(capsys, "diff", "vgg:D", "nosuch.net:D")
    assert code == 2 and "no such spec file" in err


def test_cli_broken_spec_is_an_error_not_a_difference(tmp_path, capsys):
    bad = tmp_path / "bad.net"
    bad.write_text("input 32x32 RGB\nconv3-16\nmaxpol\n")
    code, out, err = cli(capsys, "diff", str(bad), str(bad))
    assert code == 2 and "unknown layer 'maxpol'" in err


@pytest.mark.parametrize("a,b,name", [("vgg:A", "vgg:B", "vgg_A_B"), ("vgg:C", "vgg:D", "vgg_C_D"),
                                      ("chatfield:CNN-M", "chatfield:CNN-M-2048", "cnn_m_2048")])
def test_cli_text_is_plain_when_not_a_tty_and_matches_golden(a, b, name, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    code, out, err = cli(capsys, "diff", a, b)
    assert code == 1 and "\033[" not in out
    golden(ROOT / "tests/golden/diff" / f"{name}.txt", out)


def test_cli_text_line_for_an_added_layer(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = cli(capsys, "diff", "vgg:A", "vgg:B", "--no-color")[1]
    first = out.splitlines()[0]
    assert re.match(r"\+\s+conv1_2\s+conv3-64\s+specs/vgg\.net:\d+\s+\+36,928 params\s+\+1\.85G mult-adds$", first)
    assert out.splitlines()[-1] == "2 added · +184,512 params · +3.70G mult-adds"


def test_colour_only_when_asked():
    from netc.tools.commands.diff import to_text
    d = vgg("A", "B")
    assert "\033[32m+" in to_text(d, color=True) and "\033[" not in to_text(d, color=False)


def test_cli_render_draws_new_with_ghosts(tmp_path, capsys):
    from netc.visualize import have_dot
    out = tmp_path / ("out.svg" if have_dot() else "out.dot")
    code, _, err = cli(capsys, "diff", "vgg:E", "vgg:A", "--render", str(out))
    assert code == 1, err
    text = out.read_text()
    dashed = "stroke-dasharray" if have_dot() else "dashed"
    assert text.count(dashed) >= 8            # the eight layers E has and A has not, as ghosts
    assert "conv5_4" in text and "wrote" in err


def test_cli_render_colours_a_moved_layer_apart_from_an_added_one(tmp_path, capsys):
    from netc.visualize import palette
    spec = tmp_path / "mv.net"
    spec.write_text("input 32x32 RGB\nconfig A {\n  conv3-8\n  dropout(0.3) as d\n  maxpool\n  conv3-32\n"
                    "  gap\n  FC-10\n}\nconfig B {\n  conv3-8\n  maxpool\n  conv3-32\n  dropout(0.3) as d\n"
                    "  conv1-16\n  gap\n  FC-10\n}\n")
    out = tmp_path / "mv.dot"
    code, _, err = cli(capsys, "diff", f"{spec}:A", f"{spec}:B", "--render", str(out))
    assert code == 1, err
    nodes = {line.split()[0].strip('"'): line for line in out.read_text().splitlines() if "fillcolor" in line}
    moved, added = palette.HIGHLIGHT["moved"].fill, palette.HIGHLIGHT["added"].fill
    assert moved != added
    assert f'fillcolor="{moved}"' in nodes["d"]
    assert "moved</font>" in out.read_text() and "added</font>" in out.read_text()   # the legend
    assert f'fillcolor="{added}"' in next(v for k, v in nodes.items() if "conv1-16" in v)


def test_diff_never_imports_torch():
    code = "import sys, netc; from netc.diff import diff; diff(netc.load('vgg:A'), netc.load('vgg:B')); " \
           "print('torch' in sys.modules)"
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.strip() == "False", r.stderr


@pytest.mark.parametrize("mod", [diff_mod, difftree_mod, align_mod])
def test_docstring_examples(mod):
    failures, tried = doctest.testmod(mod)
    assert tried and not failures


# ------------------------------------------------------------------ properties
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

VOCAB = ["conv3-16", "conv1-16", "conv3-24", "conv5-16", "LRN", "dropout(0.5)", "conv3-16/1"]


def plain(layers: list[str]) -> str:
    body = "\n".join(f"    {x}" for x in layers)
    return f"input 8x8 RGB\nconfig net {{\n{body}\n    gap\n    FC-10\n}}\n"


@settings(max_examples=25, deadline=None)
@given(base=st.lists(st.sampled_from(VOCAB), min_size=1, max_size=25), data=st.data())
def test_property_insertions_are_exactly_the_adds(base, data):
    k = data.draw(st.integers(1, 4))
    new = list(base)
    for j in range(k):   # each inserted layer is one the base does not have
        new.insert(data.draw(st.integers(0, len(new))), f"dropout(0.{j + 1}1)")
    a, b = netc.loads(plain(base)), netc.loads(plain(new))
    d = diff(a, b)
    assert sorted(e.new.layer for e in d.edits if e.op == "add") == sorted(f"dropout(0.{j + 1}1)" for j in range(k))
    assert ops(d) == ["add"] * k
    assert d.params_delta == b.params - a.params


@settings(max_examples=25, deadline=None)
@given(base=st.lists(st.sampled_from(VOCAB), min_size=2, max_size=25), data=st.data())
def test_property_deletions_are_exactly_the_removes(base, data):
    drop = data.draw(st.sets(st.integers(0, len(base) - 1), min_size=1, max_size=len(base) - 1))
    new = [x for i, x in enumerate(base) if i not in drop]
    a, b = netc.loads(plain(base)), netc.loads(plain(new))
    d = diff(a, b)
    assert ops(d) == ["remove"] * len(drop)
    layers = a.layers()      # base[i] is layers[i]: the removed layers are the dropped ones, as a multiset
    assert sorted(e.old.layer for e in d.edits) == sorted(layers[i].paper for i in drop)
    assert d.params_delta == b.params - a.params


@settings(max_examples=25, deadline=None)
@given(a_rows=st.lists(st.sampled_from(VOCAB), min_size=1, max_size=20),
       b_rows=st.lists(st.sampled_from(VOCAB), min_size=1, max_size=20))
def test_property_deltas_add_up_and_a_spec_equals_itself(a_rows, b_rows):
    a, b = netc.loads(plain(a_rows)), netc.loads(plain(b_rows))
    d = diff(a, b)
    assert d.params_delta == b.params - a.params
    assert d.macs_delta == b.macs_train - a.macs_train
    assert diff(a, netc.loads(plain(a_rows))).identical
    assert len(d.edits) <= len(a_rows) + len(b_rows)


def test_two_versions_of_one_file(tmp_path, capsys):
    text = (ROOT / "specs/vgg.net").read_text()
    old = tmp_path / "old" / "vgg.net"
    old.parent.mkdir()
    old.write_text("# an older copy, with more comments\n\n" + text)      # every line shifted
    assert cli(capsys, "diff", f"{old}:D", "vgg:D")[0] == 0
    lines = text.splitlines(keepends=True)
    row = next(i for i, l in enumerate(lines) if "| LRN" in l)            # the row of conv1_2 (and LRN)
    head, _, tail = lines[row].rpartition("conv3-64")                      # E's cell: conv3-128
    lines[row] = head + "conv3-128" + tail
    old.write_text("".join(lines))
    code, out, _ = cli(capsys, "diff", f"{old}:E", "vgg:E", "--json")
    js = json.loads(out)
    assert code == 1 and [(e["op"], e["new"]["name"], e["new"]["layer"]) for e in js["edits"]] == [
        ("change", "conv1_2", "conv3-64")]
    assert js["downstream"] and js["downstream"][0]["first"] == "pool1"


def test_the_same_layer_written_two_ways_is_no_change():
    """Compared as the layer acts, not as it is written: maxpool is maxpool2/2, a conv3's pad=1 is
    'same', and conv1 -> conv3 keeps 'same' padding (only k changes)."""
    a = netc.loads("input 32x32 RGB\nconv3-8\nmaxpool\nconv1-8\ngap\nFC-10\n")
    b = netc.loads("input 32x32 RGB\nconv3-8(pad=1)\nmaxpool2/2(pad=0)\nconv3-8\ngap\nFC-10\n")
    d = diff_mod.diff(a, b)
    assert [(e.op, e.changes) for e in d.edits] == [("change", (("k", 1, 3),))]
    c = netc.loads("input 32x32 RGB\nconv3-8(pad=0)\nmaxpool\nconv1-8\ngap\nFC-10\n")
    [e] = [e for e in diff_mod.diff(a, c).edits if e.op == "change"]
    assert e.changes == (("pad", "same", 0),)


def test_output_probs_is_a_difference():
    a = netc.loads("input 32x32 RGB\nconv3-8\ngap\nFC-10\n")
    b = netc.loads("input 32x32 RGB\nconv3-8\ngap\nFC-10\noutput probs\n")
    [e] = diff_mod.diff(a, b).edits
    assert (e.op, e.new.name, e.changes) == ("change", "fc2", (("output", "logits", "probs"),))
    assert diff_mod.diff(a, a).edits == []


def test_rounding_up_that_gives_the_same_size_in_a_fixed_size_network_is_no_change():
    """Caffe's pools round up: an imported VGG writes maxpool(ceil) where 224 halves evenly. In a
    network that takes one size only that is the same layer; in one that takes any size it is not."""
    from netc.diff import diff
    fixed = "input 224x224 RGB\nconv3-8\nmaxpool{}\nFC-10\n"
    a, b = netc.loads(fixed.format("")), netc.loads(fixed.format("(ceil)"))
    assert not diff(a, b).edits
    odd = netc.loads("input 225x225 RGB\nconv3-8\nmaxpool(ceil)\nFC-10\n")
    assert diff(netc.loads("input 225x225 RGB\nconv3-8\nmaxpool\nFC-10\n"), odd).edits   # 112 against 113
    anysize = "input 224x224 RGB\nconv3-8\nmaxpool{}\nconv1-4\n"
    assert diff(netc.loads(anysize.format("")), netc.loads(anysize.format("(ceil)"))).edits
