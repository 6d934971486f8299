"""The .net language: every layer form, every construct, names, shapes; VGG Table 2 as the oracle."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from work import front_end_work  # noqa: E402

import netc
from netc.types.dims import Sym

from conftest import ROOT, run_cli

# paper-facts.md section 2.3 (Table 2, exact) and 2.4 (MACs at 224)
VGG = {"A": (132_863_336, 7_609_090_048), "A-LRN": (132_863_336, 7_609_090_048),
       "B": (133_047_848, 11_308_466_176), "C": (133_638_952, 11_770_888_192),
       "D": (138_357_544, 15_470_264_320), "E": (143_667_240, 19_632_062_464)}
VGG_DEPTH = {"A": 11, "A-LRN": 11, "B": 13, "C": 16, "D": 16, "E": 19}
TABLE2_MILLIONS = {"A": 133, "A-LRN": 133, "B": 133, "C": 134, "D": 138, "E": 144}


def net(body: str, **overrides):
    return netc.loads(textwrap.dedent(body), **overrides)


def one(body: str, name: str):
    return net(body).node(name)


# ------------------------------------------------------------------ VGG Table 1 / Table 2
@pytest.mark.parametrize("cfg", list(VGG))
def test_vgg_table2_params_and_macs(cfg):
    ir = netc.load(f"vgg:{cfg}")
    assert (ir.params, ir.macs) == VGG[cfg]
    assert round(ir.params / 1e6) == TABLE2_MILLIONS[cfg]
    assert ir.depth == VGG_DEPTH[cfg]
    assert ir.output_shape == (1000,)


def test_vgg_fc_part_is_the_same_everywhere():
    fc = 25088 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000   # paper-facts 2.3
    for cfg in VGG:
        ir = netc.load(f"vgg:{cfg}")
        assert sum(n.n_params for n in ir.nodes() if n.kind == "fc") == fc


def test_vgg_names_follow_caffe():
    names = [n.name for n in netc.load("vgg:D").layers()]
    assert names[:4] == ["conv1_1", "conv1_2", "pool1", "conv2_1"]
    assert [n for n in names if n.startswith("conv5")] == ["conv5_1", "conv5_2", "conv5_3"]
    assert [n for n in names if n.startswith("fc")] == ["fc6", "fc7", "fc8"]
    assert netc.load("vgg:A-LRN").layers()[1].name == "norm1"


def test_vgg_receptive_fields_two_and_three_3x3():
    ir = netc.load("vgg:E")
    assert [ir.node(n).rf for n in ("conv1_1", "conv1_2")] == [(3, 1), (5, 1)]
    assert [ir.node(n).rf[0] - ir.node("pool2").rf[0] for n in ("conv3_1", "conv3_2", "conv3_3")] == [8, 16, 24]


def test_num_classes_override():
    ir = netc.load("vgg:D", num_classes=20)
    assert ir.output_shape == (20,)
    assert ir.params == 138_357_544 - 4_097_000 + 4096 * 20 + 20
    with pytest.raises(netc.UsageError, match="no variable 'num_class'"):
        netc.load("vgg:D", num_class=20)


# ------------------------------------------------------------------ layer forms
PAPER_FORMS = [
    ("conv3-64", "conv", {"out": 64, "k": 3, "stride": 1, "pad": "same"}, (64, 32, 32)),
    ("conv1-256", "conv", {"out": 256, "k": 1}, (256, 32, 32)),
    ("conv11-96/4", "conv", {"out": 96, "k": 11, "stride": 4}, (96, 8, 8)),
    ("conv7x5-8", "conv", {"out": 8, "k": (7, 5)}, (8, 32, 32)),
    ("Conv3-128", "conv", {"out": 128}, (128, 32, 32)),
    ("maxpool", "maxpool", {"k": 2, "stride": None}, (3, 16, 16)),
    ("maxpool3/2", "maxpool", {"k": 3, "stride": 2}, (3, 15, 15)),
    ("maxpool3/2(ceil)", "maxpool", {"k": 3, "stride": 2, "ceil": True}, (3, 16, 16)),
    ("avgpool7/1", "avgpool", {"k": 7, "stride": 1}, (3, 26, 26)),
    ("LRN", "lrn", {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}, (3, 32, 32)),
    ("lrn", "lrn", {}, (3, 32, 32)),
    ("bn", "bn", {"eps": 1e-5}, (3, 32, 32)),
    ("batchnorm", "bn", {}, (3, 32, 32)),
    ("FC-4096", "fc", {"out": 4096}, (4096,)),
    ("fc-10", "fc", {"out": 10}, (10,)),
    ("dropout(0.5)", "dropout", {"p": 0.5}, (3, 32, 32)),
    ("dropout", "dropout", {"p": 0.5}, (3, 32, 32)),
    ("soft-max", "softmax", {}, (3, 32, 32)),
    ("softmax", "softmax", {}, (3, 32, 32)),
    ("spp[4,2,1]", "spp", {"levels": (4, 2, 1)}, (3 * 21,)),
    ("gap", "gap", {}, (3, 1, 1)),
    ("global-avgpool", "gap", {}, (3, 1, 1)),
    ("adaptive-avgpool(7)", "adaptive_avgpool", {"out": 7}, (3, 7, 7)),
    ("relu", "relu", {}, (3, 32, 32)),
    ("identity", "identity", {}, (3, 32, 32)),
    ("flatten", "flatten", {}, (3072,)),
]


@pytest.mark.parametrize("word,kind,params,shape", PAPER_FORMS, ids=[f[0] for f in PAPER_FORMS])
def test_paper_notation(word, kind, params, shape):
    ir = net(f"input 32x32 RGB\n{word} as x\n")
    n = ir.node("x")
    assert n.kind == kind
    for k, v in params.items():
        assert getattr(n.params, k) == v, k
    assert n.shape == shape


KEYWORD_FORMS = [
    ("conv(out=96, k=11, stride=4, pad=0)", (96, 6, 6), 96 * 3 * 121 + 96),
    ("conv(c=8, kernel_size=3, dilation=2, pad=2, bias=false)", (8, 32, 32), 8 * 3 * 9),
    ("conv(out=6, k=3, groups=3, act=none)", (6, 32, 32), 6 * 1 * 9 + 6),
    ("conv(16, 5, 2)", (16, 16, 16), 16 * 3 * 25 + 16),
    ("conv3-8(pad=0, stride=2)", (8, 15, 15), 8 * 3 * 9 + 8),
    ("conv(out=4, k=[3, 1], pad=[1, 0])", (4, 32, 32), 4 * 3 * 3 + 4),
    ("maxpool(k=3, stride=2, pad=1, ceil_mode=true, dilation=1)", (3, 17, 17), 0),
    ("avgpool(k=3, stride=1, pad=1, count_include_pad=false)", (3, 32, 32), 0),
    ("LRN(size=3, alpha=5e-5, beta=0.75, k=1, convention=caffe, region=within)", (3, 32, 32), 0),
    ("bn(eps=0.001, momentum=0.01, affine=false)", (3, 32, 32), 0),
    ("FC(out=10, bias=false)", (10,), 3072 * 10),
    ("linear(10)", (10,), 3072 * 10 + 10),
    ("spp(levels=[6, 3, 2, 1], mode=avg)", (3 * 50,), 0),
    ("dropout(p=0.7)", (3, 32, 32), 0),
]


@pytest.mark.parametrize("text,shape,params", KEYWORD_FORMS, ids=[f[0] for f in KEYWORD_FORMS])
def test_keyword_forms(text, shape, params):
    n = one(f"input 32x32 RGB\n{text} as x\n", "x")
    assert n.shape == shape and n.n_params == params


def test_lrn_paper_constants_map_to_pytorch():
    # paper-facts.md section 1: Krizhevsky's alpha=1e-4 over n=5 is PyTorch's alpha=5e-4
    p = one("input 32x32 RGB\nLRN as x\n", "x").params
    assert (p.size, p.torch_alpha(), p.beta, p.k) == (5, pytest.approx(5e-4), 0.75, 2.0)
    p = one("input 32x32 RGB\nLRN(alpha=1e-4, k=1, convention=caffe) as x\n", "x").params
    assert p.torch_alpha() == pytest.approx(1e-4) and p.k == 1


def test_activation_relu_on_hidden_layers_only():
    ir = net("input 8x8 RGB\nconv3-4\nFC-8\nFC-2\nsoft-max\n")
    assert [(n.name, n.act) for n in ir.layers()] == [
        ("conv1_1", "relu"), ("fc1", "relu"), ("fc2", "none"), ("prob", "none")]
    assert one("input 8x8 RGB\nFC(2, act=relu) as x\n", "x").act == "relu"


def test_conv_bn_expands_to_two_layers():
    ir = net("input 8x8 RGB\nconv3-4(bn, bias=false, bn_eps=0.001)\nFC-2\n")
    conv, bn = ir.layers()[:2]
    assert (conv.kind, conv.act, conv.n_params) == ("conv", "none", 4 * 27)
    assert (bn.name, bn.kind, bn.act, bn.n_params, bn.params.eps) == ("conv1_1_bn", "bn", "relu", 8, 0.001)


# ------------------------------------------------------------------ constructs
def test_comments_and_several_configurations():
    ir = netc.loads("# a comment\ninput 8x8 gray   # grayscale\nconfig a {\n  conv3-4  # c\n}\n"
                    "config b {\n  conv3-8\n}\n", config="b")
    assert ir.input_shape == (1, 8, 8) and ir.output_shape == (8, 8, 8)


def test_table_spanning_rows_and_empty_cells():
    text = """
    input 16x16 RGB
    table X | Y | Z {
        conv3-8 | conv3-8 | conv3-8
                | LRN     | conv3-8
        maxpool
        FC-10
    }
    """
    kinds = {c: [n.kind for n in net(text).layers()] for c in ()}
    prog = netc.Program.from_text(textwrap.dedent(text), "t.net")
    kinds = {c: [n.kind for n in netc.build_config(prog, c).layers()] for c in "XYZ"}
    assert kinds == {"X": ["conv", "maxpool", "fc"], "Y": ["conv", "lrn", "maxpool", "fc"],
                     "Z": ["conv", "conv", "maxpool", "fc"]}


def test_inheritance_with_edits_and_variables():
    text = """
    input 32x32 RGB
    var width = 64
    config base {
        conv3-width x2
        maxpool
        FC-10
    }
    config wide extends base {
        width = 128
    }
    config edited extends base {
        replace conv1_1, conv1_2 with conv5-32
        insert dropout(0.5) before fc2
        insert bn after pool1
    }
    config shorter extends edited {
        remove drop1_1
    }
    """
    prog = netc.Program.from_text(textwrap.dedent(text), "i.net")
    get = lambda c: [n.paper for n in netc.build_config(prog, c).layers()]  # noqa: E731
    assert get("base") == ["conv3-64", "conv3-64", "maxpool", "FC-10"]
    assert get("wide") == ["conv3-128", "conv3-128", "maxpool", "FC-10"]
    assert get("edited") == ["conv5-32", "maxpool", "BN", "dropout(0.5)", "FC-10"]
    assert get("shorter") == ["conv5-32", "maxpool", "BN", "FC-10"]


def test_blocks_with_parameters_defaults_and_names():
    text = """
    input 28x28 RGB
    block unit(c, k=3) {
        conv(out=c, k=k) as conv
        bn as bn
    }
    unit(8) as first
    unit(c=16, k=1) x2 as more
    gap
    FC-10
    """
    ir = net(text)
    names = [n.name for n in ir.layers()]
    assert names[:6] == ["first/conv", "first/bn", "more_1/conv", "more_1/bn", "more_2/conv", "more_2/bn"]
    assert ir.node("more_2/conv").paper == "conv1-16"
    # an instance is labelled with the arguments written (defaults left out): unit(8), unit(16, 1)
    assert ir.scopes["first"].label == "unit(8)" and ir.scopes["more_1"].label == "unit(16, 1)"
    assert ir.scopes["more_1"].kind == "block" and ir.scopes["first"].args == {"c": 8, "k": 3}
    assert ir.node("first/conv").scope == ("first",)


def test_concat_and_add_branches():
    text = """
    input 16x16 RGB
    conv3-8 as stem
    add as res {
        { conv3-8 as a
          conv3-8 as b }
        identity as skip
    }
    concat as cat {
        conv1-4 as p
        maxpool3/1(pad=1) as q -> conv1-6 as r
    }
    gap
    FC-10
    """
    ir = net(text)
    assert ir.preds("res") == ["b", "skip"] and ir.node("res").shape == (8, 16, 16)
    assert ir.preds("cat") == ["p", "r"] and ir.node("cat").shape == (10, 16, 16)
    assert ir.graph.edges["stem", "a"]["shape"] == (8, 16, 16)


def test_repetition_and_explicit_names_win():
    ir = net("input 16x16 RGB\nconv3-8 x3\nmaxpool as down\nconv3-8 as mine\nconv3-8\nFC-2\n")
    assert [n.name for n in ir.layers()] == ["conv1_1", "conv1_2", "conv1_3", "down", "mine", "conv2_2", "fc2"]


def test_sequential_naming():
    ir = net("naming sequential\ninput 64x64 RGB\nconv3-8\nLRN\nmaxpool\nconv3-8\nconv3-8\nmaxpool\n"
             "FC-16\ndropout\nFC-2\n")
    assert [n.name for n in ir.layers()] == ["conv1", "norm1", "pool1", "conv2", "conv3", "pool3", "fc4",
                                             "drop4", "fc5"]


def test_side_outputs():
    text = """
    input 32x32 RGB
    conv3-8 as trunk
    maxpool
    FC-10 as out
    aux side on trunk weight 0.3 {
        gap
        FC-10 as fc
    }
    """
    ir = net(text)
    assert [(a.name, a.attach, a.weight) for a in ir.aux] == [("side", "trunk", 0.3)]
    assert ir.node("side/fc").aux == "side" and ir.node("side/fc").act == "none"
    assert ir.params == ir.params_inference + 8 * 10 + 10
    assert ir.macs == 8 * 27 * 32 * 32 + 8 * 16 * 16 * 10 and ir.macs_train == ir.macs + 80


def test_variable_input_is_symbolic():
    ir = net("input HxW RGB\nconv3-64\nmaxpool\nconv3-64/2\nmaxpool3/2(ceil)\nspp[2,1]\nFC-10\n")
    assert ir.node("pool1").sym_shape == (64, Sym("H", 0, 2), Sym("W", 0, 2))
    assert str(ir.node("pool1").sym_shape[1]) == "H/2"
    assert ir.any_size and ir.output_shape == (10,) and ir.macs is None
    # pool2 (3x3/2, ceil) needs an input of at least 2: conv2_1 gives floor((H/2 + 1)/2) >= 2, so H >= 6
    assert str(ir.node("pool2").sym_shape[1]) == "(H+2)/8"
    assert ir.min_input == (6, 6) and ir.min_input_layer[0] == "pool2"


def test_fixed_input_net_knows_it_takes_only_its_size():
    assert netc.load("vgg:D").any_size is False


def test_include_is_relative_to_the_including_file(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "blocks.net").write_text("block pair(c) {\n  conv3-c x2\n}\n")
    (tmp_path / "net.net").write_text('include "lib/blocks.net"\ninput 8x8 RGB\npair(4)\nFC-2\n')
    ir = netc.load(str(tmp_path / "net.net"))
    assert [n.paper for n in ir.layers()] == ["conv3-4", "conv3-4", "FC-2"]


def test_include_cannot_leave_the_tree(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "x.net").write_text("block b() { conv3-4 }\n")
    (tmp_path / "a" / "net.net").write_text('include "../x.net"\ninput 8x8 RGB\nb()\n')
    errors = netc.check((tmp_path / "a" / "net.net").read_text(), str(tmp_path / "a" / "net.net"))
    assert any("leaves the directory" in e.message for e in errors)


def test_default_configuration():
    prog = netc.Program.from_text("input 8x8 RGB\nconfig a { FC-2 }\ndefault config b { FC-3 }\n", "d.net")
    assert prog.default_config() == "b" and netc.build_config(prog).output_shape == (3,)


def test_nothing_in_a_spec_is_executed():
    text = 'input 8x8 RGB\nvar x = "__import__(\'os\').system(\'touch /tmp/netc-pwned\')"\nFC-2\n'
    netc.check(text, "e.net")
    import os
    assert not os.path.exists("/tmp/netc-pwned")


# ------------------------------------------------------------------ API and CLI
def test_parse_returns_the_ast_with_spans():
    m = netc.parse("input 8x8 RGB\nconv3-4 as c\n", filename="p.net")
    layer = m.items[1].layers[0]
    assert (layer.word, layer.name, layer.span.line, layer.span.col, layer.span.file) == ("conv3-4", "c", 2, 1, "p.net")


def test_check_returns_diagnostics_with_spans():
    assert netc.check((ROOT / "specs" / "vgg.net").read_text(), "vgg.net") == []
    [e] = netc.check("input 8x8 RGB\nmaxpol\n", filename="m.net")
    assert isinstance(e, netc.NetcError) and (e.span.file, e.span.line, e.span.col) == ("m.net", 2, 1)


def test_import_check_and_summary_do_not_import_torch():
    code = ("import sys, netc; netc.load('vgg:D'); netc.check(open('specs/vgg.net').read());"
            "from netc.tools.cli import main; main(['summary', 'vgg:D', '--json']) ; main(['check', 'specs/vgg.net']);"
            "print('TORCH' if 'torch' in sys.modules else 'NOTORCH', file=sys.stderr)")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert p.stderr.strip().endswith("NOTORCH"), p.stderr


def test_cli_check_lines():
    p = run_cli("check", "specs/vgg.net")
    assert p.returncode == 0
    lines = p.stdout.splitlines()
    assert lines[0].split()[:4] == ["specs/vgg.net", "A", "11", "weight"]
    assert "132,863,336 params" in lines[0] and "143,667,240 params" in lines[5]


def test_cli_summary_json_schema():
    import json
    p = run_cli("summary", "vgg:D", "--json")
    js = json.loads(p.stdout)
    assert {"config", "input", "output", "params", "macs", "layers"} <= set(js)
    assert js["input"] == [3, 224, 224] and js["output"] == [1000]
    assert set(js["layers"][0]) >= {"name", "kind", "out_shape", "params", "macs", "rf"}
    many = json.loads(run_cli("summary", "vgg", "--json").stdout)
    assert [d["config"] for d in many] == ["A", "A-LRN", "B", "C", "D", "E"] + [
        d["config"] for d in many[6:]]


def test_cli_num_classes_shorthand():
    import json
    a = json.loads(run_cli("summary", "vgg:D", "--num-classes", "20", "--json").stdout)
    b = json.loads(run_cli("summary", "vgg:D", "--set", "num_classes=20", "--json").stdout)
    assert a["output"] == [20] and a == b and a["params"] == 134_342_484


def test_cli_summary_other_input_size():
    import json
    js = json.loads(run_cli("summary", "vgg:D", "--input", "3x256x256", "--json").stdout)
    assert js["input"] == [3, 256, 256] and js["params"] > 138_357_544   # fc6 sees 8x8


def test_ten_thousand_layers_check_quickly(monkeypatch):
    """Linear work (bench/bench_check.py measures the time): each of the 10,002 layer statements
    elaborated once, each node's shape inferred once, each name looked up once or twice."""
    text = "input HxW RGB\n" + "conv3-8\n" * 10_000 + "gap\nFC-10\n"
    seen = front_end_work(monkeypatch)
    assert netc.check(text, "big.net") == []
    assert seen["layers"] == 10_002 and seen["nodes"] <= 2 * 10_003 and seen["names"] <= 2 * 10_003, seen


def test_a_branch_whose_ifs_chose_nothing_is_no_branch():
    """concat { A ; if n >= 2 { B } } with n = 1 is concat(A), not concat(A, the input): YOLOv8's C2f
    with one bottleneck. An empty body written as a branch stays the identity."""
    text = "input 8x8 4ch\nlet n = {n}\nconcat {{\n    conv1-4\n    if n >= 2 {{\n        conv1-6\n    }}\n}}\n"
    assert netc.loads(text.format(n=1)).output_shape == (4, 8, 8)
    assert netc.loads(text.format(n=2)).output_shape == (10, 8, 8)
    assert netc.loads("input 8x8 4ch\nconcat {\n    conv1-4\n    {\n    }\n}\n").output_shape == (8, 8, 8)
