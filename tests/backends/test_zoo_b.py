"""The bundled 2017-2022 mobile and modern CNNs against torchvision: mobilenet_v2 and
mobilenet_v3_large (specs/mobilenet.net), efficientnet_b0 (specs/efficientnet.net), convnext_tiny
(specs/convnext.net). Oracles: torchvision 0.28's models (parameter counts in its weights tables;
multiply-adds from torch.utils.flop_counter on its modules, FLOPs / 2, conv and linear only, which
is also how its "GFLOPS" column rounds), its per-block settings (stochastic-depth rates, squeeze
widths, which blocks have a shortcut), and its documented minimum input sizes."""
from __future__ import annotations

from functools import lru_cache

import pytest

import netc

# name: (parameters, multiply-adds at 224x224, torchvision's GFLOPS column, smallest input)
TORCHVISION = {
    "mobilenet_v2": (3_504_872, 300_774_272, 0.301, (1, 1)),
    "mobilenet_v3_large": (5_483_032, 216_589_760, 0.217, (1, 1)),
    "efficientnet_b0": (5_288_548, 385_814_752, 0.386, (1, 1)),
    "convnext_tiny": (28_589_128, 4_455_531_264, 4.456, (32, 32)),
}


@lru_cache(maxsize=None)
def ir(name: str, **over):
    return netc.load(name, **over)


@pytest.mark.parametrize("name", list(TORCHVISION))
def test_counts_equal_torchvisions(name):
    params, macs, gflops, _ = TORCHVISION[name]
    m = ir(name)
    assert m.params == m.params_inference == params
    assert m.macs == macs
    assert abs(m.macs / 1e9 - gflops) <= 0.0015


@pytest.mark.parametrize("name", list(TORCHVISION))
def test_found_by_model_name_in_its_file(name):
    assert ir(name).config == name
    r = netc.load({"mobilenet_v2": "mobilenet", "mobilenet_v3_large": "mobilenet", "efficientnet_b0": "efficientnet",
                   "convnext_tiny": "convnext"}[name], name)
    assert r.params == TORCHVISION[name][0]


@pytest.mark.parametrize("width,params,macs", [
    (0.35, 1_677_128, 59_285_808), (0.5, 1_968_680, 97_131_840), (0.75, 2_636_424, 209_069_792),
    (1.4, 6_108_776, 582_195_824),
])
def test_mobilenet_v2_width_multiplier(width, params, macs):
    """torchvision's mobilenet_v2(width_mult=...): widths rounded to 8, the last conv kept at 1280 below 1."""
    m = netc.load("mobilenet_v2", width=width)
    assert (m.params, m.macs) == (params, macs)


@pytest.mark.parametrize("name", list(TORCHVISION))
def test_smallest_input(name):
    assert tuple(ir(name).min_input) == TORCHVISION[name][3]


def shortcuts(m) -> int:
    return sum(1 for n in m.nodes() if n.kind == "residual" and n.meta.get("shortcut"))


def test_shortcuts_where_torchvision_has_them():
    """use_res_connect: stride 1 and as many channels out as in."""
    assert {name: shortcuts(ir(name)) for name in TORCHVISION} == {
        "mobilenet_v2": 10, "mobilenet_v3_large": 10, "efficientnet_b0": 9, "convnext_tiny": 18}


def test_no_expansion_conv_where_t_is_1():
    names = [n.name for n in ir("mobilenet_v2").nodes()]
    assert "bottleneck_1/inverted_residual_1/expand" not in names
    assert "bottleneck_2/inverted_residual_1/expand" in names
    v3 = [n.name for n in ir("mobilenet_v3_large").nodes()]
    assert "bneck_1/expand" not in v3 and "bneck_2/expand" in v3


def drop_paths(m) -> list[float]:
    return [round(n.params.p, 6) for n in m.nodes() if n.kind == "droppath"]


def test_stochastic_depth_rates():
    """torchvision: 0.2 * b / 16 on EfficientNet's blocks with a shortcut, 0.1 * b / 17 on ConvNeXt-T's."""
    assert drop_paths(ir("efficientnet_b0")) == [0.025, 0.05, 0.075, 0.0875, 0.1125, 0.125, 0.15, 0.1625, 0.175]
    assert drop_paths(ir("convnext_tiny")) == [round(0.1 * b / 17, 6) for b in range(18)]


def squeezes(m) -> list[int]:
    return [n.params.out for n in m.nodes() if n.kind == "conv" and n.local == "fc1"]


def test_squeeze_excitation_widths():
    # MobileNetV3: make_divisible(exp // 4, 8); EfficientNet: max(1, input_channels // 4)
    assert squeezes(ir("mobilenet_v3_large")) == [24, 32, 32, 120, 168, 168, 240, 240]
    assert squeezes(ir("efficientnet_b0")) == [8, 4, 6, 6, 10, 10, 20, 20, 20, 28, 28, 28, 48, 48, 48, 48]


def test_convnext_patchify_stem_and_downsampling_do_not_pad():
    m = ir("convnext_tiny")
    for name in ("stem", "downsample_1/conv", "downsample_2/conv", "downsample_3/conv"):
        assert m.node(name).params.padding() == (0, 0), name
    assert m.node("stem").shape == (96, 56, 56)


torch = pytest.importorskip("torch")


@pytest.mark.parametrize("name,hw", [("mobilenet_v2", 64), ("mobilenet_v3_large", 64), ("efficientnet_b0", 64),
                                     ("convnext_tiny", 32)])
def test_forward_gives_1000_logits(name, hw):
    model = netc.compile(name).eval()
    assert sum(p.numel() for p in model.parameters()) == TORCHVISION[name][0]
    with torch.no_grad():
        y = model(torch.randn(1, 3, hw, hw))
    assert y.shape == (1, 1000) and torch.isfinite(y).all()


def test_convnext_refuses_an_input_below_32():
    from netc.backends.torch.guards import InputError
    model = netc.compile("convnext_tiny", device="meta").eval()
    with pytest.raises(InputError, match="32x32"):
        model(torch.empty(1, 3, 31, 31, device="meta"))


def test_mobilenet_v2_table_is_table2():
    """netc table mobilenet_v2: one row per line of Table 2, its columns headed t, c, n, s (a nested
    block's `conv1-c as project` does not rename the column c, and a stride names no column)."""
    from netc.visualize import row_table
    t = row_table(ir("mobilenet_v2"))
    assert t.header[0][4:9] == ["cin", "t", "c", "n", "s"]
    rows = [[c.text for c in r.cells] for r in t.rows if r.cells[0].text.startswith("bottleneck")]
    assert [r[2] for r in rows] == ["112×112×16", "56×56×24", "28×28×32", "14×14×64", "14×14×96", "7×7×160",
                                    "7×7×320"]
    assert [r[5:9] for r in rows] == [["1", "16", "1", "1"], ["6", "24", "2", "2"], ["6", "32", "3", "2"],
                                      ["6", "64", "4", "2"], ["6", "96", "3", "1"], ["6", "160", "3", "2"],
                                      ["6", "320", "1", "1"]]


def test_mobilenet_v3_table_writes_flags_as_the_spec_does():
    from netc.visualize import row_table
    t = row_table(ir("mobilenet_v3_large"))
    head = t.header[0]
    rows = [[c.text for c in r.cells] for r in t.rows if r.cells[0].text.startswith("bneck")]
    assert len(rows) == 15 and len(set(head)) == len(head)
    se, nl = head.index("se"), head.index("nl")
    assert [r[se] for r in rows[:4]] == ["false", "false", "false", "true"]
    assert [r[nl] for r in rows[5:7]] == ["relu", "hardswish"]


def test_small_parameters_read_as_the_spec_writes_them():
    m = ir("convnext_tiny")
    assert m.node("stem_norm").paper == "LN(eps=1e-6)"                  # not Python's 1e-06
    assert m.node("stage_1/cnblock_1/scale").paper == "layer-scale(1e-6)"
    assert m.node("stage_4/cnblock_3/drop_path").paper == "drop-path(0.1)"
