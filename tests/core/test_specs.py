"""The bundled spec library against the papers: every number comes from
/work/shared/reference/paper-facts.md (section cited beside it) or from the paper's own layer
shapes worked out by hand here, never from netc's counting."""
from __future__ import annotations

import csv
import io
import json
import re
from functools import lru_cache

import pytest

import netc
from netc import summary as S
from netc.passes import infer

from conftest import ROOT, run_cli


@lru_cache(maxsize=None)
def ir(ref: str):
    return netc.load(ref)


from paper_facts import EXACT  # noqa: E402  (shared with tests/backends/test_spec_compile.py)


@pytest.mark.parametrize("ref", list(EXACT))
def test_exact_params_and_macs(ref):
    m = ir(ref)
    assert (m.params, m.params_inference, m.macs, m.macs_train) == EXACT[ref]


def test_no_spp_baselines_section_5_4():
    m = ir("sppnet:ZF-5-no-SPP")
    assert m.params == 62_357_608
    assert m.node("fc6").shape == (4096,) and m.node(m.preds("fc6")[0]).shape == (256, 6, 6)


def test_the_default_configuration_is_what_the_bare_name_names():
    assert ir("googlenet").config == "googlenet"
    assert netc.load("alexnet").config == "paper"
    assert netc.load("sppnet").config == "ZF-5"


# ------------------------------------------------------------------ weight layers
@pytest.mark.parametrize("ref,depth", [
    ("vgg:A", 11), ("vgg:B", 13), ("vgg:C", 16), ("vgg:D", 16), ("vgg:E", 19),  # Table 1 header
    ("vgg:B-shallow", 8),            # section 4.1: five 5x5 convs + 3 FC
    ("googlenet", 22),               # section 5: "22 layers deep when counting only layers with parameters"
    ("googlenet:torchvision", 22),
    ("alexnet:paper", 8), ("chatfield:CNN-F", 8), ("sppnet:Overfeat-7", 10),
])
def test_weight_layer_depth(ref, depth):
    assert ir(ref).depth == depth


# ------------------------------------------------------------------ GoogLeNet Table 1
# row: (output size C, H, paper params K, paper ops M, weights (section 3.1), bias count, MACs M)
# The bias count is the sum of the row's Table 1 columns (each conv has one bias per output).
TABLE1 = {
    "3a": (256, 28, 159, 128, 163_328, 64 + 96 + 128 + 16 + 32 + 32, 128.0),
    "3b": (480, 28, 380, 304, 388_096, 128 + 128 + 192 + 32 + 96 + 64, 304.3),
    "4a": (512, 14, 364, 73, 375_552, 192 + 96 + 208 + 16 + 48 + 64, 73.6),
    "4b": (512, 14, 437, 88, 448_512, 160 + 112 + 224 + 24 + 64 + 64, 87.9),
    "4c": (512, 14, 463, 100, 509_440, 128 + 128 + 256 + 24 + 64 + 64, 99.9),
    "4d": (528, 14, 580, 119, 604_672, 112 + 144 + 288 + 32 + 64 + 64, 118.5),
    "4e": (832, 14, 840, 170, 867_328, 256 + 160 + 320 + 32 + 128 + 128, 170.0),
    "5a": (832, 7, 1072, 54, 1_042_432, 256 + 160 + 320 + 32 + 128 + 128, 51.1),
    "5b": (1024, 7, 1388, 71, 1_442_816, 384 + 192 + 384 + 48 + 128 + 128, 70.7),
}
INCONSISTENT_OPS = {"5a"}          # section 3.1: the print disagrees with the layer shapes (also conv1)


def depth1_rows(ref="googlenet"):
    return {r.name: r for r in S.rows(ir(ref), depth=1)}


@pytest.mark.parametrize("tag", list(TABLE1))
def test_googlenet_table1_inception_rows(tag):
    c, hw, _paper_k, paper_ops, weights, biases, mmacs = TABLE1[tag]
    row = depth1_rows()[f"inception_{tag}"]
    assert row.block and row.shape == (c, hw, hw)
    assert row.params == weights + biases
    assert round(row.macs / 1e6, 1) == mmacs
    if tag not in INCONSISTENT_OPS:
        assert abs(row.macs / 1e6 - paper_ops) < 1.0     # the paper prints whole millions


def test_googlenet_table1_other_rows():
    rows = depth1_rows()
    # conv1 7x7/2 -> 112x112x64: 9,408 weights, 118.0M (the paper's 2.7K / 34M is inconsistent)
    assert rows["conv1"].shape == (64, 112, 112)
    assert rows["conv1"].params == 7 * 7 * 3 * 64 + 64 and round(rows["conv1"].macs / 1e6, 1) == 118.0
    # "convolution 3x3/1, #3x3 reduce 64": 112K weights, 360M ops, written as two layers
    pair = [rows["conv2_reduce"], rows["conv2"]]
    assert sum(r.params for r in pair) == 114_688 + 64 + 192
    assert round(sum(r.macs for r in pair) / 1e6) == 360
    assert rows["conv2"].shape == (192, 56, 56) and rows["pool2"].shape == (192, 28, 28)
    assert [rows[p].shape[1] for p in ("pool1", "pool3", "pool4", "pool5")] == [56, 14, 7, 1]
    assert rows["drop"].layer == "dropout(0.4)"
    assert rows["classifier"].params == 1_024_000 + 1000 and rows["classifier"].macs == 1_024_000


def test_googlenet_depth1_rows_are_table1_in_order():
    names = [r.name for r in S.rows(ir("googlenet"), depth=1) if r.aux is None]
    assert names == ["conv1", "pool1", "norm1", "conv2_reduce", "conv2", "norm2", "pool2", "inception_3a", "inception_3b",
                     "pool3", "inception_4a", "inception_4b", "inception_4c", "inception_4d", "inception_4e",
                     "pool4", "inception_5a", "inception_5b", "pool5", "drop", "classifier", "prob"]
    assert sum(r.params for r in S.rows(ir("googlenet"), depth=1)) == 13_378_280


def test_googlenet_paper_ops_column_is_the_1_5_billion_budget():
    # section 3.1: the printed ops column sums to 1,502M, the "1.5 billion multiply-adds" of section 1
    printed = 34 + 360 + sum(v[3] for v in TABLE1.values()) + 1
    assert printed == 1502
    assert abs(ir("googlenet").macs / 1e6 - 1582.7) < 0.05


def test_googlenet_aux_heads_section_3_2():
    m = ir("googlenet")
    assert [(a.name, a.attach.split("/")[0], a.weight) for a in m.aux] == [("loss1", "inception_4a", 0.3), ("loss2", "inception_4d", 0.3)]
    assert m.preds("loss1/head/ave_pool") == [m.scopes["inception_4a"].output]
    head = lambda c: 128 * c + 128 + 2048 * 1024 + 1024 + 1024 * 1000 + 1000   # noqa: E731
    assert head(512) == 3_188_840 and head(528) == 3_190_888
    assert m.params - m.params_inference == head(512) + head(528)
    assert m.node("loss1/head/ave_pool").shape == (512, 4, 4) and m.node("loss2/head/ave_pool").shape == (528, 4, 4)
    assert m.node("loss1/head/fc").shape == (1024,)
    assert m.node("loss1/head/drop_fc").params.p == 0.7
    assert m.macs_train - m.macs == 8_372_224


def test_googlenet_torchvision_differences_section_3_5():
    tv = ir("googlenet:torchvision")
    bn = [n for n in tv.layers() if n.kind == "bn"]
    convs = [n for n in tv.layers() if n.kind == "conv"]
    assert len(bn) == len(convs) and all(n.params.eps == 0.001 for n in bn)
    assert all(not n.params.bias for n in convs)
    assert not [n for n in tv.layers() if n.kind == "lrn"]
    assert tv.node("inception_4a/5x5").params.kernel() == (3, 3)
    assert ir("googlenet").node("inception_4a/5x5").params.kernel() == (5, 5)
    assert tv.node("pool4").params.kernel() == (2, 2) and tv.node("pool4").shape == (832, 7, 7)
    assert tv.node("drop").params.p == 0.2
    aux = tv.params - tv.params_inference
    assert aux == 3_188_968 + 3_191_016                     # section 3.2, torchvision column


def test_naive_inception_costs_more_figure_2a():
    naive = ir("googlenet:naive")
    row = {r.name: r for r in S.rows(naive, depth=1)}
    # 3a without reductions on a 192-channel input: 1x1 64, 3x3 128, 5x5 32, and the pool
    # branch passes all 192 channels through: 64 + 128 + 32 + 192 = 416 channels.
    assert row["inception_3a"].shape == (416, 28, 28)
    assert row["inception_3a"].params == 192 * 64 + 64 + 192 * 128 * 9 + 128 + 192 * 32 * 25 + 32
    assert row["inception_3a"].macs == 28 * 28 * 192 * (64 + 128 * 9 + 32 * 25)
    assert naive.macs > 7 * ir("googlenet").macs
    assert naive.depth == 13


def test_googlenet_lrn_is_bvlc_caffe():
    n = ir("googlenet").node("norm1").params
    assert (n.size, n.torch_alpha(), n.beta, n.k) == (5, 1e-4, 0.75, 1.0)


# ------------------------------------------------------------------ Chatfield et al. (section 4)
# maps at 224 with ceil-mode pooling (section 4.1): conv1 pool1 conv2 pool2 conv3 conv4 conv5 pool5
MAPS = {
    "CNN-F": [54, 27, 27, 13, 13, 13, 13, 6],
    "CNN-M": [109, 54, 26, 13, 13, 13, 13, 6],
    "CNN-S": [109, 37, 33, 17, 17, 17, 17, 6],
    "CNN-S-pad1": [109, 37, 35, 18, 18, 18, 18, 6],
}
# the same nets with PyTorch's default floor rounding (section 1, "What floor mode breaks")
FLOOR_MAPS = {
    "CNN-F": [54, 26, None, None, None, None, None, 5],
    "CNN-M": [109, 54, 26, 12, None, None, None, 5],
    "CNN-S": [109, 36, 32, 16, None, None, None, 5],
}
ORDER = ["conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5"]


@pytest.mark.parametrize("cfg", list(MAPS))
def test_chatfield_feature_maps(cfg):
    m = ir(f"chatfield:{cfg}")
    assert [m.node(n).shape[1] for n in ORDER] == MAPS[cfg]
    width = 256 if cfg == "CNN-F" else 512
    assert m.node("fc6").params.out == 4096 and m.node("pool5").shape == (width, 6, 6)


@pytest.mark.parametrize("cfg", list(FLOOR_MAPS))
def test_chatfield_without_ceil_pooling_gets_5x5(cfg):
    text = (ROOT / "specs" / "chatfield.net").read_text().replace("(ceil)", "")
    m = netc.loads(text, cfg)
    got = [m.node(n).shape[1] for n in ORDER]
    assert [g for g, w in zip(got, FLOOR_MAPS[cfg]) if w is not None] == [w for w in FLOOR_MAPS[cfg] if w]
    assert m.node("fc6").params.out == 4096 and m.params < ir(f"chatfield:{cfg}").params


def test_chatfield_lrn_is_krizhevsky_in_pytorch_terms():
    for cfg, norms in (("CNN-F", ("norm1", "norm2")), ("CNN-M", ("norm1", "norm2")), ("CNN-S", ("norm1",))):
        for name in norms:
            p = ir(f"chatfield:{cfg}").node(name).params
            # section 1: nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2)
            assert (p.size, p.beta, p.k) == (5, 0.75, 2.0) and abs(p.torch_alpha() - 5e-4) < 1e-12


def test_chatfield_cnn_s_has_no_lrn_after_conv2_as_released():
    m = ir("chatfield:CNN-S")
    assert [n.name for n in m.layers() if n.kind == "lrn"] == ["norm1"]
    assert m.preds("pool2") == ["conv2"]


@pytest.mark.parametrize("cfg,width", [("CNN-M-2048", 2048), ("CNN-M-1024", 1024), ("CNN-M-128", 128)])
def test_chatfield_low_dimensional_full7(cfg, width):
    m = ir(f"chatfield:{cfg}")
    assert m.node("fc7").shape == (width,)
    assert m.params == 102_908_520 - (4096 * 4096 + 4096) - 4096 * 1000 + (4096 * width + width) + width * 1000


def test_grayscale_variant():
    gray = ir("chatfield:CNN-M-gray")
    assert gray.input_shape == (1, 224, 224)
    assert gray.params == 102_908_520 - 2 * 96 * 7 * 7        # conv1 sees one channel, not three


def test_fine_tuning_on_pascal_voc():
    voc = netc.load("chatfield:CNN-M", num_classes=20)
    assert voc.output_shape == (20,)
    assert voc.params == 102_908_520 - 4096 * 980 - 980
    g = netc.load("googlenet", num_classes=20)                 # main and both auxiliary classifiers
    assert g.params == 13_378_280 - 3 * (1024 * 980 + 980)
    assert g.node("loss1/head/classifier").shape == (20,)


# ------------------------------------------------------------------ SPP-net (section 5)
@pytest.mark.parametrize("cfg,conv_out,fc6_in", [
    ("ZF-5", (256, 13, 13), 12_800), ("Convnet-5", (256, 13, 13), 12_800),
    ("Overfeat-5", (512, 18, 18), 25_600), ("Overfeat-7", (512, 18, 18), 25_600),
])
def test_spp_shapes(cfg, conv_out, fc6_in):
    m = ir(f"sppnet:{cfg}")
    spp = next(n for n in m.layers() if n.kind == "spp")
    assert spp.params.levels == (6, 3, 2, 1) and spp.shape == (fc6_in,)
    assert m.node(m.preds(spp.name)[0]).shape == conv_out
    assert m.any_size


def test_zf5_maps_and_lrn():
    m = ir("sppnet:ZF-5")
    assert [m.node(n).shape[1] for n in ("pool1", "pool2", "conv5")] == [55, 13, 13]   # section 5.1
    lrn = m.node("norm1").params
    assert (lrn.size, lrn.torch_alpha(), lrn.region) == (3, 5e-5, "within")


def test_spp_accepts_other_sizes():
    m = netc.load("sppnet:ZF-5")
    for n in m.nodes():
        n.shape = None
    infer(m, (180, 180))                       # multi-size training (section 5.3): a = 10
    assert m.node("conv5").shape == (256, 10, 10) and m.node("fc6").shape == (4096,)
    assert m.params == 77_037_672
    convnet = ir("sppnet:Convnet-5")           # Convnet*: pools moved after conv2 and conv3
    assert [convnet.node(n).shape[1] for n in ("conv1", "pool2", "pool3")] == [55, 27, 13]
    over = ir("sppnet:Overfeat-5")
    assert [over.node(n).shape[1] for n in ("pool1", "pool2")] == [36, 18]


def test_recalled_cells_are_marked():
    text = (ROOT / "specs" / "sppnet.net").read_text()
    assert "⚠️" in text and "Recalled, not confirmed" in text


# ------------------------------------------------------------------ AlexNet (section 6)
def test_alexnet_paper_by_layer():
    m = ir("alexnet:paper")
    by_layer = {"conv1": 34_944, "conv2": 307_456, "conv3": 885_120, "conv4": 663_936, "conv5": 442_624,
                "fc6": 37_752_832, "fc7": 16_781_312, "fc8": 4_097_000}        # section 6.2, hand check
    assert {n: m.node(n).n_params for n in by_layer} == by_layer
    assert [m.node(n).params.groups for n in ("conv1", "conv2", "conv3", "conv4", "conv5")] == [1, 2, 1, 2, 2]
    assert m.input_shape == (3, 227, 227) and m.node("pool5").shape == (256, 6, 6)
    p = m.node("norm1").params                               # Krizhevsky's constants
    assert (p.size, p.k, p.beta) == (5, 2.0, 0.75) and abs(p.torch_alpha() - 5e-4) < 1e-12
    assert round(m.params / 1e6) == 61                       # "60 million parameters"


def test_alexnet_to_googlenet_ratio_is_reported_honestly():
    ratio = ir("alexnet:paper").params / ir("googlenet").params_inference
    assert 8.7 < ratio < 8.72                                # not the paper's "12x"
    doc = (ROOT / "docs" / "specs.md").read_text()
    assert f"{ratio:.2f}" in doc and "12" in doc


# ------------------------------------------------------------------ receptive fields (VGG 2.3)
def test_receptive_fields_b_against_b_shallow():
    b, shallow = ir("vgg:B"), ir("vgg:B-shallow")
    assert [b.node(n).rf[0] for n in ("conv1_1", "conv1_2")] == [3, 5]
    assert shallow.node("conv1_1").rf == (5, 1)
    pools = [f"pool{i}" for i in range(1, 6)]
    assert [b.node(p).rf for p in pools] == [shallow.node(p).rf for p in pools]


def test_three_3x3_see_7x7_with_fewer_weights():
    # section 2.3: a stack of three 3x3 layers sees 7x7 and has 27C^2 weights against 49C^2
    stack = netc.loads("input 32x32 RGB\nconv1-64 as c0\nconv3-64(bias=false) x3\n")
    single = netc.loads("input 32x32 RGB\nconv1-64 as c0\nconv7-64(bias=false)\n")
    assert [n.rf[0] for n in stack.layers()] == [1, 3, 5, 7] and single.layers()[-1].rf == (7, 1)
    assert sum(n.n_params for n in stack.layers()[1:]) == 27 * 64 * 64
    assert single.layers()[-1].n_params == 49 * 64 * 64


# ------------------------------------------------------------------ summary formats
def test_summary_json_depth1_cli():
    p = run_cli("summary", "googlenet", "--depth", "1", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert (doc["params"], doc["params_inference"], doc["macs"]) == EXACT["googlenet"][:3]
    rows = {r["name"]: r for r in doc["layers"]}
    assert round(rows["inception_4e"]["macs"] / 1e6, 1) == 170.0 and rows["inception_4e"]["out_shape"] == [832, 14, 14]
    assert all(len(r["rf"]) == 2 for r in doc["layers"])


def test_summary_markdown_and_csv():
    m = ir("googlenet")
    md = S.to_markdown(m, 1)
    assert "| inception_4c | inception(128, 128, 256, 24, 64, 64) | 512x14x14 |" in md
    assert "6,998,552" in md
    table = list(csv.DictReader(io.StringIO(S.to_csv(ir("vgg:B-shallow")))))
    assert sum(int(r["params"]) for r in table) == 134_503_528
    assert sum(int(r["macs"] or 0) for r in table) == 9_356_017_664
    assert [(r["rf_size"], r["rf_stride"]) for r in table if r["name"] == "pool5"] == [("156", "32")]


# ------------------------------------------------------------------ every bundled spec checks
def test_every_bundled_spec_checks():
    files = sorted((ROOT / "specs").glob("*.net"))
    assert {f.stem for f in files} >= {"vgg", "googlenet", "chatfield", "sppnet", "alexnet"}
    for f in files:
        assert netc.check(f.read_text(), str(f)) == [], f
    for f in files:                              # each header cites its paper
        head = f.read_text()[:400]
        assert head.startswith("#") and re.search(r"arXiv:\d{4}\.\d{4,5}|NIPS 2012", head), f
