"""The bundled mobilenet_v3_small (specs/mobilenet.net), efficientnet_b3 and efficientnet_v2_s
(specs/efficientnet.net), convnext_small (specs/convnext.net) and vit_b_32 (specs/vit.net) against
torchvision. Oracles outside netc: torchvision 0.29's weights tables (``num_params`` and the
``_ops`` GFLOPS column, multiply-adds), its exact multiply-adds (torch.utils.flop_counter on its
modules, FLOPs / 2; for ViT plus the QK^T and AV products its fused attention hides from the counter,
2 x 50^2 x 768 x 12), its per-block rules (stochastic-depth rates, squeeze widths, which blocks have
a shortcut, EfficientNet's compound scaling), and hand-written reference modules with torchvision's
layout (tests/references, and the Fused-MBConv / EfficientNetV2 written out below) whose outputs the
compiled networks must reproduce after netc.load_weights, with every weight and batch-norm statistic
randomised."""
from __future__ import annotations

import math
import re
from functools import lru_cache, partial

import pytest

import netc
from conftest import run_cli

# name: (parameters, multiply-adds at the nominal input, torchvision's GFLOPS column, nominal input, smallest input)
TORCHVISION = {
    "mobilenet_v3_small": (2_542_856, 56_510_400, 0.057, (3, 224, 224), (1, 1)),
    "efficientnet_b3": (12_233_232, 1_827_141_392, 1.827, (3, 300, 300), (1, 1)),
    "efficientnet_v2_s": (21_458_488, 8_365_617_152, 8.366, (3, 384, 384), (1, 1)),
    "convnext_small": (50_223_688, 8_683_712_256, 8.684, (3, 224, 224), (32, 32)),
    "vit_b_32": (88_224_232, 4_409_186_304, 4.409, (3, 224, 224), None),
}
FILES = {"mobilenet_v3_small": "mobilenet", "efficientnet_b3": "efficientnet", "efficientnet_v2_s": "efficientnet",
         "convnext_small": "convnext", "vit_b_32": "vit"}


@lru_cache(maxsize=None)
def ir(name: str):
    return netc.load(name)


@pytest.mark.parametrize("name", list(TORCHVISION))
def test_counts_equal_torchvisions(name):
    params, macs, gflops, shape, _ = TORCHVISION[name]
    m = ir(name)
    assert m.params == m.params_inference == params
    assert tuple(m.input_shape) == shape
    assert m.macs == macs
    assert round(m.macs / 1e9, 3) == gflops              # the published column, to its last digit


@pytest.mark.parametrize("name", list(TORCHVISION))
def test_found_by_model_name_in_its_file(name):
    assert ir(name).config == name
    assert netc.load(FILES[name], name).params == TORCHVISION[name][0]


@pytest.mark.parametrize("name", [n for n in TORCHVISION if TORCHVISION[n][4]])
def test_smallest_input(name):
    assert tuple(ir(name).min_input) == TORCHVISION[name][4]


def test_vit_b_32_is_fixed_at_224_with_50_tokens():
    m = ir("vit_b_32")
    assert tuple(m.node("conv_proj").shape) == (7 * 7, 768) and tuple(m.node("class_token").shape) == (50, 768)
    assert m.params - ir("vit_b_16").params == (32 * 32 - 16 * 16) * 3 * 768 - (197 - 50) * 768


# torch.utils.flop_counter on torchvision's efficientnet_b3 / efficientnet_v2_s at 224x224 (FLOPs / 2)
AT_224 = {"efficientnet_b3": 962_708_240, "efficientnet_v2_s": 2_849_895_872}


@pytest.mark.parametrize("name", list(AT_224))
def test_efficientnets_are_counted_at_224_too(name):
    """Counted at 300 and 384, their nominal sizes; `--input 3x224x224` counts them where the
    ImageNet pipelines of other models (and the dense check) feed them."""
    import json
    p = run_cli("summary", name, "--input", "3x224x224", "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert (d["params"], d["macs"]) == (TORCHVISION[name][0], AT_224[name])


def test_netc_list_shows_them():
    p = run_cli("list")
    assert p.returncode == 0, p.stderr
    rows = {}
    for line in p.stdout.splitlines():
        m = re.match(r"(\S+)\s+([\d,]+)\s+([\d.]+) G\s", line)
        if m:
            rows[m.group(1)] = (int(m.group(2).replace(",", "")), float(m.group(3)))
    for name, (params, _, gflops, _, _) in TORCHVISION.items():
        assert rows.get(name) == (params, gflops), name


# ------------------------------------------------------------------ torchvision's per-block rules
def make_divisible(v: float, divisor: int = 8) -> int:       # torchvision's _make_divisible
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


# torchvision's settings: (expand, kernel, stride, input, output, layers)
B0 = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
      (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)]
B3 = [(t, k, s, make_divisible(i * 1.2), make_divisible(o * 1.2), math.ceil(n * 1.4)) for t, k, s, i, o, n in B0]
V2_S_FUSED = [(1, 3, 1, 24, 24, 2), (4, 3, 2, 24, 48, 4), (4, 3, 2, 48, 64, 4)]
V2_S_MBCONV = [(4, 3, 2, 64, 128, 6), (6, 3, 1, 128, 160, 9), (6, 3, 2, 160, 256, 15)]
# MobileNetV3-Small (torchvision's bneck_conf rows): input, kernel, expanded, output, SE, hard-swish, stride
V3_SMALL = [(16, 3, 16, 16, True, False, 2), (16, 3, 72, 24, False, False, 2), (24, 3, 88, 24, False, False, 1),
            (24, 5, 96, 40, True, True, 2), (40, 5, 240, 40, True, True, 1), (40, 5, 240, 40, True, True, 1),
            (40, 5, 120, 48, True, True, 1), (48, 5, 144, 48, True, True, 1), (48, 5, 288, 96, True, True, 2),
            (96, 5, 576, 96, True, True, 1), (96, 5, 576, 96, True, True, 1)]


def blocks(setting):
    """(input, output, stride) of every block of an EfficientNet setting, in order."""
    return [(i if j == 0 else o, o, s if j == 0 else 1) for _, _, s, i, o, n in setting for j in range(n)]


def shortcuts(m) -> int:
    return sum(1 for n in m.nodes() if n.kind == "residual" and n.meta.get("shortcut"))


def drop_paths(m) -> list[float]:
    return [round(n.params.p, 6) for n in m.nodes() if n.kind == "droppath"]


def squeezes(m) -> list[int]:
    return [n.params.out for n in m.nodes() if n.kind == "conv" and n.local == "fc1"]


def test_efficientnet_b3_is_b0_compound_scaled():
    """width 1.2 (channels to multiples of 8), depth 1.4 (layers rounded up): 26 blocks."""
    assert B3 == [(1, 3, 1, 40, 24, 2), (6, 3, 2, 24, 32, 3), (6, 5, 2, 32, 48, 3), (6, 3, 2, 48, 96, 5),
                  (6, 5, 1, 96, 136, 5), (6, 5, 2, 136, 232, 6), (6, 3, 1, 232, 384, 2)]
    m = ir("efficientnet_b3")
    assert m.node("stem").params.out == 40 and m.node("head").params.out == 4 * 384
    projections = [n.params.out for n in m.nodes() if n.kind == "conv" and n.local == "project"]
    assert projections == [o for _, o, _ in blocks(B3)]


@pytest.mark.parametrize("name,setting,rate", [("efficientnet_b3", B3, 0.2),
                                               ("efficientnet_v2_s", V2_S_FUSED + V2_S_MBCONV, 0.2)])
def test_efficientnet_shortcuts_and_stochastic_depth(name, setting, rate):
    """torchvision: a shortcut (with stochastic depth rate * b / blocks) where stride 1 keeps the channels."""
    bl = blocks(setting)
    with_shortcut = [b for b, (i, o, s) in enumerate(bl) if s == 1 and i == o]
    assert shortcuts(ir(name)) == len(with_shortcut)
    assert drop_paths(ir(name)) == [round(rate * b / len(bl), 6) for b in with_shortcut]


def test_squeeze_excitation_widths():
    # EfficientNet (both versions): max(1, input_channels // 4); MobileNetV3: make_divisible(expanded // 4, 8)
    assert squeezes(ir("efficientnet_b3")) == [max(1, i // 4) for i, _, _ in blocks(B3)]
    assert squeezes(ir("efficientnet_v2_s")) == [max(1, i // 4) for i, _, _ in blocks(V2_S_MBCONV)]
    assert squeezes(ir("mobilenet_v3_small")) == [make_divisible(e // 4) for _, _, e, _, se, _, _ in V3_SMALL if se]


def test_efficientnet_v2_s_fused_stages():
    """Stages 1-3: a regular 3x3 (no depthwise, no squeeze-and-excitation); a 1x1 projection only
    where the block expands (stage 1 has t = 1); batch norm with eps 1e-3 everywhere."""
    m = ir("efficientnet_v2_s")
    convs = [n for n in m.nodes() if n.kind == "conv" and n.name.startswith("fused_stage")]
    assert len(convs) == 2 + 2 * 4 + 2 * 4
    assert all(n.params.groups == 1 for n in convs)
    assert [n.local for n in convs[:2]] == ["fused", "fused"] and convs[2].local == "expand"
    assert convs[2].params.out == 4 * 24 and convs[2].params.strides() == (2, 2)
    assert not [n for n in m.nodes() if n.name.startswith("fused_stage") and n.local == "fc1"]
    assert {n.params.eps for n in m.nodes() if n.kind == "bn"} == {0.001}
    assert {n.params.eps for n in ir("efficientnet_b3").nodes() if n.kind == "bn"} == {1e-5}   # PyTorch's default
    assert shortcuts(m) == 2 + 3 + 3 + 5 + 8 + 14            # stage 1 keeps 24 channels at stride 1: both


def test_mobilenet_v3_small_is_table_2():
    m = ir("mobilenet_v3_small")
    names = [n.name for n in m.nodes()]
    assert "bneck_1/expand" not in names and "bneck_2/expand" in names     # exp 16 == input 16
    assert m.node("bneck_1/depthwise").params.strides() == (2, 2)
    assert shortcuts(m) == sum(1 for i, _, _, o, _, _, s in V3_SMALL if s == 1 and i == o)
    assert [m.node(f"bneck_{b + 1}/project").params.out for b in range(11)] == [r[3] for r in V3_SMALL]
    assert m.node("conv2").params.out == 576 and m.node("fc1").params.out == 1024


def test_convnext_small_stages_and_rates():
    m = ir("convnext_small")
    assert drop_paths(m) == [round(0.4 * b / 35, 6) for b in range(36)]
    assert [len([n for n in m.nodes() if n.name.startswith(f"stage_{s}/") and n.local == "dwconv"])
            for s in (1, 2, 3, 4)] == [3, 3, 27, 3]
    assert m.node("stage_3/cnblock_27/pwconv1").params.out == 4 * 384


# ------------------------------------------------------------------ outputs against reference modules
torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from tests.references import cnn  # noqa: E402
from tests.references.macs import macs as hooked_macs  # noqa: E402
from tests.references.transformers import VisionTransformer  # noqa: E402

BN_V2 = partial(nn.BatchNorm2d, eps=1e-3)


class FusedMBConv(nn.Module):
    """torchvision's FusedMBConv: k x k conv to the expanded width (stride s), SiLU, then a linear
    1x1 projection; with expansion 1, one k x k conv straight to the output, with SiLU. Stochastic
    depth and the shortcut where stride 1 keeps the channels."""

    def __init__(self, expand: float, kernel: int, stride: int, cin: int, cout: int, sd_prob: float) -> None:
        super().__init__()
        self.use_res_connect = stride == 1 and cin == cout
        expanded = make_divisible(cin * expand)
        if expanded != cin:
            layers = [cnn.ConvNormAct(cin, expanded, kernel, stride, norm=BN_V2, act=nn.SiLU),
                      cnn.ConvNormAct(expanded, cout, 1, norm=BN_V2, act=None)]
        else:
            layers = [cnn.ConvNormAct(cin, cout, kernel, stride, norm=BN_V2, act=nn.SiLU)]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = cnn.StochasticDepth(sd_prob)

    def forward(self, x):
        out = self.block(x)
        return self.stochastic_depth(out) + x if self.use_res_connect else out


class MBConvV2(nn.Module):
    """torchvision's MBConv with EfficientNetV2's batch norm (eps 1e-3)."""

    def __init__(self, expand: float, kernel: int, stride: int, cin: int, cout: int, sd_prob: float) -> None:
        super().__init__()
        self.use_res_connect = stride == 1 and cin == cout
        expanded = make_divisible(cin * expand)
        layers = [cnn.ConvNormAct(cin, expanded, 1, norm=BN_V2, act=nn.SiLU)] if expanded != cin else []
        layers += [cnn.ConvNormAct(expanded, expanded, kernel, stride, groups=expanded, norm=BN_V2, act=nn.SiLU),
                   cnn.SqueezeExcite(expanded, max(1, cin // 4), act=partial(nn.SiLU, inplace=True)),
                   cnn.ConvNormAct(expanded, cout, 1, norm=BN_V2, act=None)]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = cnn.StochasticDepth(sd_prob)

    def forward(self, x):
        out = self.block(x)
        return self.stochastic_depth(out) + x if self.use_res_connect else out


def efficientnet_v2_s(num_classes: int = 1000) -> nn.Module:
    """torchvision's efficientnet_v2_s layout: features.0 stem, features.1-6 stages, features.7 the
    1x1 head conv, avgpool, classifier (dropout 0.2, Linear)."""
    total = sum(row[5] for row in V2_S_FUSED + V2_S_MBCONV)
    layers, b = [cnn.ConvNormAct(3, 24, 3, 2, norm=BN_V2, act=nn.SiLU)], 0
    for block, setting in ((FusedMBConv, V2_S_FUSED), (MBConvV2, V2_S_MBCONV)):
        for t, k, s, cin, cout, n in setting:
            stage = []
            for j in range(n):
                stage.append(block(t, k, s if j == 0 else 1, cin if j == 0 else cout, cout, 0.2 * b / total))
                b += 1
            layers.append(nn.Sequential(*stage))
    layers.append(cnn.ConvNormAct(256, 1280, 1, norm=BN_V2, act=nn.SiLU))
    model = nn.Sequential()
    model.features = nn.Sequential(*layers)
    model.avgpool = nn.AdaptiveAvgPool2d(1)
    model.flatten = nn.Flatten(1)
    model.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))
    return model


REFERENCES = {
    "mobilenet_v3_small": lambda: cnn.MobileNetV3(V3_SMALL, 1024),
    "efficientnet_b3": lambda: cnn.EfficientNet(B3, dropout=0.3),
    "efficientnet_v2_s": efficientnet_v2_s,
    "convnext_small": lambda: cnn.ConvNeXt([96, 192, 384, 768], [3, 3, 27, 3], stochastic_depth_prob=0.4),
    "vit_b_32": lambda: VisionTransformer(224, 32, 12, 12, 768, 3072),
}


def randomize_(model: nn.Module, seed: int = 0) -> None:
    """Every float tensor of the state_dict redrawn: a wrong pairing, a missing layer, a misplaced
    norm or activation changes the output. Batch-norm statistics too."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith(("running_mean", "bias")):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            elif t.dim() <= 1 or name.endswith("layer_scale"):
                t.copy_(1 + torch.randn(t.shape, generator=g) * 0.1)
            else:
                t.copy_(torch.randn(t.shape, generator=g) * (2.0 / t[0].numel()) ** 0.5)


def agree(name: str, model: nn.Module, ref: nn.Module, x) -> None:
    with torch.no_grad():
        want, got = ref(x), model(x)
    assert got.shape == want.shape
    scale = max(1.0, want.abs().max().item())
    assert (got - want).abs().max().item() <= 1e-4 * scale, name


# small inputs keep the CNNs quick (global pooling takes any size); ViT's embedding fixes 224
SIZES = {"mobilenet_v3_small": 96, "efficientnet_b3": 64, "efficientnet_v2_s": 64, "convnext_small": 64,
         "vit_b_32": 224}
SLOW = {"efficientnet_v2_s", "convnext_small", "vit_b_32"}     # 21M, 50M and 88M parameters to draw and load


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in REFERENCES])
def test_reference_weights_load_and_agree(name):
    torch.manual_seed(0)
    ref = REFERENCES[name]().eval()
    assert sum(p.numel() for p in ref.parameters()) == TORCHVISION[name][0]
    randomize_(ref)
    model = netc.compile(name).eval()
    # the CNNs by dataflow (the module, traced); the reference ViT's forward does not trace, and its
    # state_dict is torchvision's tensor for tensor (specs/vit.net)
    netc.load_weights(model, ref.state_dict() if name == "vit_b_32" else ref)
    agree(name, model, ref, torch.randn(2, 3, SIZES[name], SIZES[name], generator=torch.Generator().manual_seed(1)))


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "efficientnet_b3", "efficientnet_v2_s", "convnext_small"])
def test_multiply_adds_equal_the_reference_modules(name):
    """Counted with forward hooks on the reference's convolutions and Linear layers (meta device)."""
    with torch.device("meta"):
        ref = REFERENCES[name]()
    assert hooked_macs(ref, TORCHVISION[name][3][1]) == TORCHVISION[name][1] == ir(name).macs


@pytest.mark.parametrize("name", ["efficientnet_b3", "efficientnet_v2_s"])
def test_efficientnets_run_at_224_and_their_nominal_size(name):
    model = netc.compile(name, device="meta").eval()
    for hw in (224, TORCHVISION[name][3][1]):
        assert model(torch.empty(2, 3, hw, hw, device="meta")).shape == (2, 1000)


def fused_spec(extra: str) -> str:
    return (netc.elaborate.specref.bundled_dir() / "efficientnet.net").read_text() + extra


FUSED = """
config fused {
    input 32x32 RGB
    blocks = 6
    defaults conv(bias=false, bn=true, bn_eps=0.001, act=silu)
    fused_stage(4, 3, 3, 16, 2, 2, 0)
    fused_stage(1, 3, 16, 16, 2, 1, 2)
    fused_stage(4, 5, 16, 24, 2, 1, 4)
}
"""


def test_fused_mbconv_blocks_equal_a_hand_written_module():
    """The spec's fused_mbconv, on its own: expansion 4 with stride 2, expansion 1 (one k x k conv
    with its activation, a shortcut), a 5x5 without stride that changes the width (no shortcut), and
    the repeated blocks with one; in eval and in training mode (batch statistics; stochastic depth 0)."""
    m = netc.loads(fused_spec(FUSED), "fused", drop_path=0.0)
    assert shortcuts(m) == 4 and tuple(m.output_shape) == (24, 16, 16)
    ref = nn.Sequential(FusedMBConv(4, 3, 2, 3, 16, 0.0), FusedMBConv(4, 3, 1, 16, 16, 0.0),
                        FusedMBConv(1, 3, 1, 16, 16, 0.0), FusedMBConv(1, 3, 1, 16, 16, 0.0),
                        FusedMBConv(4, 5, 1, 16, 24, 0.0), FusedMBConv(4, 5, 1, 24, 24, 0.0))
    randomize_(ref)
    model = netc.compile(netc.loads(fused_spec(FUSED), "fused", drop_path=0.0))
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in ref.parameters()) == m.params
    netc.load_weights(model, ref)
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    agree("fused (eval)", model.eval(), ref.eval(), x)
    agree("fused (train)", model.train(), ref.train(), x)
