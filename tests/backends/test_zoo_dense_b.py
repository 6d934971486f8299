"""The bundled dense-prediction networks (issue #24): fcn_resnet50, deeplabv3_resnet50 and resnet50_fpn
(specs/resnet.net), deeplabv3_mobilenet_v3_large and lraspp_mobilenet_v3_large (specs/mobilenet.net).

Oracles outside netc:
- torchvision 0.29.1's published parameter counts (``num_params`` of its weights tables; resnet50_fpn:
  ``resnet_fpn_backbone('resnet50', weights=None, trainable_layers=5)``, 26,799,296 parameters and
  106,240 FrozenBatchNorm2d buffer values);
- the multiply-adds of torchvision's own modules at 520x520 with ``aux_loss=False`` and
  ``weights_backbone=None``, counted by ``torch.utils.flop_counter.FlopCounterMode`` (total FLOPs / 2),
  run once in the world venv (torchvision 0.29.1, torch 2.13):
  fcn_resnet50 142,725,772,800; deeplabv3_resnet50 168,731,205,888; deeplabv3_mobilenet_v3_large
  10,436,350,688; lraspp_mobilenet_v3_large 2,086,219,688; resnet50_fpn at 800x800 88,381,440,000.
  (torchvision's GFLOPS column is higher for the first three, 152.717 / 178.722 / 10.452: its weights
  come with the auxiliary head.) The same FPN in the world venv returned
  '0'..'3', 'pool' of 80x120, 40x60, 20x30, 10x15, 5x8 at 320x480 and 25x33, 13x17, 7x9, 4x5, 2x3 at
  97x131: the input's size over 4, 8, 16, 32, 64, rounded up;
- hand-written reference modules with torchvision's layouts, written below with torch alone (the
  heads: ASPP / DeepLabHead, FCNHead, LRASPPHead, FeaturePyramidNetwork with LastLevelMaxPool; the
  dilated MobileNetV3-Large and ResNet-50 backbones, FrozenBatchNorm2d), whose outputs the compiled
  specs must reproduce after ``netc.load_weights`` with every weight and batch-norm statistic
  randomised; and, where torchvision imports (the world venv, not CI), those references against
  torchvision's modules themselves (the same state_dict keys and shapes, the same outputs);
- their multiply-adds counted by forward hooks (tests/references/macs.py) at 520x520.
"""
from __future__ import annotations

import json
import math
import re
from collections import OrderedDict
from functools import lru_cache, partial

import pytest

import netc
from conftest import run_cli

# name: (parameters, multiply-adds at 520x520: flop_counter on torchvision's module, FLOPs / 2)
TORCHVISION = {
    "fcn_resnet50": (32_957_013, 142_725_772_800),
    "deeplabv3_resnet50": (39_638_869, 168_731_205_888),
    "deeplabv3_mobilenet_v3_large": (11_025_477, 10_436_350_688),
    "lraspp_mobilenet_v3_large": (3_221_538, 2_086_219_688),
}
SEGMENTERS = list(TORCHVISION)
FILES = {"fcn_resnet50": "resnet", "deeplabv3_resnet50": "resnet", "resnet50_fpn": "resnet",
         "deeplabv3_mobilenet_v3_large": "mobilenet", "lraspp_mobilenet_v3_large": "mobilenet"}
FPN_PARAMS, FPN_BUFFERS = 26_799_296, 106_240
FPN_MACS = 88_381_440_000          # flop_counter on torchvision's resnet_fpn_backbone at 800x800, FLOPs / 2
FPN_KEYS = ["0", "1", "2", "3", "pool"]
FPN_STRIDES = [4, 8, 16, 32, 64]


@lru_cache(maxsize=None)
def ir(name: str):
    return netc.load(name)


def summary_json(*args: str) -> dict:
    p = run_cli("summary", *args, "--json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


# ------------------------------------------------------------------ counts
@pytest.mark.parametrize("name", SEGMENTERS)
def test_segmenters_count_as_torchvision(name):
    params, macs = TORCHVISION[name]
    m = ir(name)
    assert m.params == m.params_inference == params
    assert tuple(m.input_shape) == (3, 520, 520)
    assert m.macs == macs
    assert m.outputs == {"out": "scores"} and tuple(m.output_shape) == (21, 520, 520)
    assert netc.load(FILES[name], name).params == params         # found by its name in its file


def test_resnet50_fpn_counts_as_summary_json_reports():
    d = summary_json("resnet50_fpn")
    assert (d["params"], d["trainable"], d["frozen"]) == (FPN_PARAMS, FPN_PARAMS, 0)
    assert d["buffers"] == d["frozen_bn_buffers"] == FPN_BUFFERS
    assert d["input"] == [3, 800, 800] and d["macs"] == FPN_MACS
    assert d["any_size"] is True
    assert [(o["key"], o["layer"], o["shape"]) for o in d["outputs"]] == [
        ("0", "p2", [256, 200, 200]), ("1", "p3", [256, 100, 100]), ("2", "p4", [256, 50, 50]),
        ("3", "p5", [256, 25, 25]), ("pool", "p6", [256, 13, 13])]
    # every batch norm of the backbone is frozen: 4 buffers a channel, none of them parameters
    bns = [n for n in ir("resnet50_fpn").nodes() if n.kind in ("bn", "frozen-bn")]
    assert bns and {n.kind for n in bns} == {"frozen-bn"}
    assert 4 * sum(n.shape[0] for n in bns) == FPN_BUFFERS


def test_netc_list_shows_them_with_their_counts():
    p = run_cli("list")
    assert p.returncode == 0, p.stderr
    rows = {}
    for line in p.stdout.splitlines():
        m = re.match(r"(\S+)\s+([\d,]+)\s+([\d.]+) G\s+(\S+)", line)
        if m:
            rows[m.group(1)] = (int(m.group(2).replace(",", "")), float(m.group(3)), m.group(4))
    for name, (params, macs) in TORCHVISION.items():
        assert rows.get(name) == (params, round(macs / 1e9, 3), f"specs/{FILES[name]}.net:{name}"), name
    assert rows.get("resnet50_fpn") == (FPN_PARAMS, round(ir("resnet50_fpn").macs / 1e9, 3),
                                        "specs/resnet.net:resnet50_fpn")


def test_summary_of_resnet50_fpn_lists_the_five_outputs_and_the_frozen_buffers():
    p = run_cli("summary", "resnet50_fpn")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert re.search(r"total \(inference\)\s+5 outputs\s+26,799,296", out)
    assert "outputs: 0 256x200x200 (p2), 1 256x100x100 (p3), 2 256x50x50 (p4), 3 256x25x25 (p5), " \
           "pool 256x13x13 (p6)" in out
    assert "26,799,296 trainable, 0 frozen, 106,240 buffers (frozen batch norm: statistics and affine)" in out
    assert re.search(r"conv1_bn\s+FrozenBN\s+64x400x400\s+0\s", out)


def test_render_of_resnet50_fpn_draws_five_output_boxes(tmp_path):
    p = run_cli("render", "resnet50_fpn", "-o", "-")
    assert p.returncode == 0, p.stderr
    boxes = re.findall(r'^\s*"output:([^"]+)" \[shape=box.*?<b>output ([^<]+)</b><br/><font[^>]*>([^<]+)</font>',
                       p.stdout, re.M)
    assert boxes == [("0", "0", "256×200×200"), ("1", "1", "256×100×100"), ("2", "2", "256×50×50"),
                     ("3", "3", "256×25×25"), ("pool", "pool", "256×13×13")]
    edges = re.findall(r'^\s*"(\w+)" -> "output:([^"]+)"', p.stdout, re.M)
    assert edges == [("p2", "0"), ("p3", "1"), ("p4", "2"), ("p5", "3"), ("p6", "pool")]
    png = tmp_path / "fpn.png"
    p = run_cli("render", "resnet50_fpn", "-o", str(png))
    assert p.returncode == 0, p.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------ any input size
@pytest.mark.parametrize("hw", [(97, 131), (200, 200)])
def test_segmenters_types_follow_any_input_size(hw):
    """summary --input: the scores have the input's height and width."""
    for name in SEGMENTERS:
        d = summary_json(name, "--input", f"{hw[0]}x{hw[1]}")
        assert [(o["key"], o["shape"]) for o in d["outputs"]] == [("out", [21, *hw])], name


@pytest.mark.parametrize("hw", [(320, 480), (97, 131)])
def test_resnet50_fpn_types_at_any_size_are_the_strides_rounded_up(hw):
    d = summary_json("resnet50_fpn", "--input", f"{hw[0]}x{hw[1]}")
    want = [(k, [256, math.ceil(hw[0] / s), math.ceil(hw[1] / s)]) for k, s in zip(FPN_KEYS, FPN_STRIDES)]
    assert [(o["key"], o["shape"]) for o in d["outputs"]] == want


torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from tests.references.cnn import ConvNormAct, SqueezeExcite, make_divisible  # noqa: E402
from tests.references.macs import count_macs, macs as hooked_macs  # noqa: E402


@pytest.mark.parametrize("name", SEGMENTERS + ["resnet50_fpn"])
def test_compiled_networks_run_at_any_size(name):
    """On the meta device (shapes only): a dict with the keys in order, sizes from the input."""
    model = netc.compile(name, device="meta").eval()
    for hw in ((97, 131), (200, 200), (320, 480)):
        out = model(torch.empty(1, 3, *hw, device="meta"))
        assert isinstance(out, dict)
        if name == "resnet50_fpn":
            assert list(out) == FPN_KEYS
            assert [tuple(t.shape) for t in out.values()] == \
                [(1, 256, math.ceil(hw[0] / s), math.ceil(hw[1] / s)) for s in FPN_STRIDES]
        else:
            assert list(out) == ["out"] and tuple(out["out"].shape) == (1, 21, *hw)


# ------------------------------------------------------------------ reference modules (torchvision's layouts)
class FrozenBatchNorm2d(nn.Module):
    """torchvision.ops.FrozenBatchNorm2d: weight, bias, running_mean, running_var as buffers, eps 1e-5."""

    def __init__(self, c: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        for name, v in (("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)):
            self.register_buffer(name, torch.full((c,), v))

    def forward(self, x):
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale[None, :, None, None] + shift[None, :, None, None]


class Bottleneck(nn.Module):
    """torchvision's ResNet v1.5 bottleneck with its ``dilation`` and ``norm_layer``."""

    def __init__(self, cin, planes, stride=1, downsample=None, dilation=1, norm=nn.BatchNorm2d) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, planes, 1, bias=False), norm(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, dilation, dilation=dilation, bias=False)
        self.bn2 = norm(planes)
        self.conv3, self.bn3 = nn.Conv2d(planes, planes * 4, 1, bias=False), norm(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNetBody(nn.Module):
    """torchvision's ResNet without avgpool and fc (what IntermediateLayerGetter keeps), its
    ``replace_stride_with_dilation`` (``dilate``) and ``norm_layer``; returns the stages' outputs."""

    def __init__(self, widths=(64, 128, 256, 512), depths=(3, 4, 6, 3), dilate=(False, False, False),
                 norm=nn.BatchNorm2d, stem=64) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, stem, 7, 2, 3, bias=False), norm(stem)
        self.relu, self.maxpool = nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)
        cin, dilation = stem, 1
        for i, (planes, n) in enumerate(zip(widths, depths)):
            stride, previous = (1 if i == 0 else 2), dilation
            if i and dilate[i - 1]:
                dilation, stride = dilation * stride, 1
            downsample = None
            if stride != 1 or cin != planes * 4:
                downsample = nn.Sequential(nn.Conv2d(cin, planes * 4, 1, stride, bias=False), norm(planes * 4))
            blocks = [Bottleneck(cin, planes, stride, downsample, previous, norm)]
            blocks += [Bottleneck(planes * 4, planes, dilation=dilation, norm=norm) for _ in range(n - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            cin = planes * 4
        self.stages = len(widths)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        feats = []
        for i in range(self.stages):
            x = getattr(self, f"layer{i + 1}")(x)
            feats.append(x)
        return feats


class ASPPPooling(nn.Sequential):
    def __init__(self, cin, c) -> None:
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU())

    def forward(self, x):
        size = x.shape[-2:]
        for mod in self:
            x = mod(x)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    """torchvision's ASPP: a 1x1, three dilated 3x3s, image pooling; concatenated, projected, dropout 0.5."""

    def __init__(self, cin, rates, c=256) -> None:
        super().__init__()
        convs = [nn.Sequential(nn.Conv2d(cin, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU())]
        convs += [nn.Sequential(nn.Conv2d(cin, c, 3, padding=r, dilation=r, bias=False), nn.BatchNorm2d(c), nn.ReLU())
                  for r in rates]
        self.convs = nn.ModuleList(convs + [ASPPPooling(cin, c)])
        self.project = nn.Sequential(nn.Conv2d(5 * c, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(), nn.Dropout(0.5))

    def forward(self, x):
        return self.project(torch.cat([conv(x) for conv in self.convs], dim=1))


def deeplab_head(cin, classes, rates=(12, 24, 36), c=256) -> nn.Sequential:
    """torchvision's DeepLabHead (its width, 256, a parameter here)."""
    return nn.Sequential(ASPP(cin, rates, c), nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c),
                         nn.ReLU(), nn.Conv2d(c, classes, 1))


def fcn_head(cin, classes) -> nn.Sequential:
    """torchvision's FCNHead: 3x3 to in/4, batch norm, ReLU, dropout 0.1, 1x1 classifier."""
    inter = cin // 4
    return nn.Sequential(nn.Conv2d(cin, inter, 3, padding=1, bias=False), nn.BatchNorm2d(inter), nn.ReLU(),
                         nn.Dropout(0.1), nn.Conv2d(inter, classes, 1))


class LRASPPHead(nn.Module):
    """torchvision's LRASPPHead (taking the two maps rather than the backbone's dict)."""

    def __init__(self, low, high, classes, inter) -> None:
        super().__init__()
        self.cbr = nn.Sequential(nn.Conv2d(high, inter, 1, bias=False), nn.BatchNorm2d(inter), nn.ReLU(inplace=True))
        self.scale = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(high, inter, 1, bias=False), nn.Sigmoid())
        self.low_classifier = nn.Conv2d(low, classes, 1)
        self.high_classifier = nn.Conv2d(inter, classes, 1)

    def forward(self, low, high):
        x = self.cbr(high) * self.scale(high)
        x = F.interpolate(x, size=low.shape[-2:], mode="bilinear", align_corners=False)
        return self.low_classifier(low) + self.high_classifier(x)


class FPN(nn.Module):
    """torchvision's FeaturePyramidNetwork (inner_blocks, layer_blocks: Conv2dNormActivation without
    norm or activation, so a Conv2d with bias as child '0') with extra_blocks=LastLevelMaxPool()."""

    def __init__(self, cins, c) -> None:
        super().__init__()
        self.inner_blocks = nn.ModuleList(nn.Sequential(nn.Conv2d(ci, c, 1)) for ci in cins)
        self.layer_blocks = nn.ModuleList(nn.Sequential(nn.Conv2d(c, c, 3, padding=1)) for _ in cins)

    def forward(self, feats):
        last = self.inner_blocks[-1](feats[-1])
        results = [self.layer_blocks[-1](last)]
        for i in range(len(feats) - 2, -1, -1):
            lateral = self.inner_blocks[i](feats[i])
            last = lateral + F.interpolate(last, size=lateral.shape[-2:], mode="nearest")
            results.insert(0, self.layer_blocks[i](last))
        results.append(F.max_pool2d(results[-1], 1, 2, 0))                    # LastLevelMaxPool
        return OrderedDict(zip([str(i) for i in range(len(feats))] + ["pool"], results))


class BackboneWithFPN(nn.Module):
    def __init__(self, body: ResNetBody, cins, c) -> None:
        super().__init__()
        self.body, self.fpn = body, FPN(cins, c)

    def forward(self, x):
        return self.fpn(self.body(x))


class Segmenter(nn.Module):
    """torchvision's _SimpleSegmentationModel without aux: backbone's last map -> classifier -> resized."""

    def __init__(self, backbone, classifier) -> None:
        super().__init__()
        self.backbone, self.classifier = backbone, classifier

    def forward(self, x):
        out = self.classifier(self.backbone(x)[-1])
        return {"out": F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)}


# MobileNetV3-Large, dilated (torchvision's _mobilenet_v3_conf(dilated=True)): input, kernel, expanded,
# output, squeeze-excite, hard-swish, stride, dilation
V3_LARGE_DILATED = [
    (16, 3, 16, 16, False, False, 1, 1), (16, 3, 64, 24, False, False, 2, 1), (24, 3, 72, 24, False, False, 1, 1),
    (24, 5, 72, 40, True, False, 2, 1), (40, 5, 120, 40, True, False, 1, 1), (40, 5, 120, 40, True, False, 1, 1),
    (40, 3, 240, 80, False, True, 2, 1), (80, 3, 200, 80, False, True, 1, 1), (80, 3, 184, 80, False, True, 1, 1),
    (80, 3, 184, 80, False, True, 1, 1), (80, 3, 480, 112, True, True, 1, 1), (112, 3, 672, 112, True, True, 1, 1),
    (112, 5, 672, 160, True, True, 2, 2), (160, 5, 960, 160, True, True, 1, 2), (160, 5, 960, 160, True, True, 1, 2),
]
BN_V3 = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)


class InvertedResidual(nn.Module):
    """torchvision's MobileNetV3 InvertedResidual: a dilated block runs at stride 1; the shortcut where
    the configured stride is 1 and the width is kept."""

    def __init__(self, cin, k, exp, cout, se, hs, stride, dilation) -> None:
        super().__init__()
        self.use_res_connect = stride == 1 and cin == cout
        act = nn.Hardswish if hs else nn.ReLU
        layers = [ConvNormAct(cin, exp, 1, norm=BN_V3, act=act)] if exp != cin else []
        layers.append(ConvNormAct(exp, exp, k, 1 if dilation > 1 else stride, groups=exp, norm=BN_V3, act=act,
                                  dilation=dilation))
        if se:
            layers.append(SqueezeExcite(exp, make_divisible(exp // 4, 8), gate=nn.Hardsigmoid))
        layers.append(ConvNormAct(exp, cout, 1, norm=BN_V3, act=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        out = self.block(x)
        return out + x if self.use_res_connect else out


class Features(nn.Sequential):
    """A backbone as IntermediateLayerGetter runs it: the children in order, the maps at ``taps``."""

    def __init__(self, taps, *modules) -> None:
        super().__init__(*modules)
        self.taps = taps

    def forward(self, x):
        feats = []
        for i, mod in enumerate(self):
            x = mod(x)
            if i in self.taps:
                feats.append(x)
        return feats


def mobilenet_v3_features(taps) -> Features:
    """mobilenet_v3_large(dilated=True).features (0 ... 16); torchvision taps 4 ('low', the first
    40-channel block) and 16 ('high' / 'out')."""
    return Features(taps, ConvNormAct(3, 16, 3, 2, norm=BN_V3, act=nn.Hardswish),
                    *[InvertedResidual(*row) for row in V3_LARGE_DILATED],
                    ConvNormAct(160, 960, 1, norm=BN_V3, act=nn.Hardswish))


class LRASPP(nn.Module):
    """torchvision's LRASPP: {'out': the head's scores resized to the input}."""

    def __init__(self, backbone, classifier) -> None:
        super().__init__()
        self.backbone, self.classifier = backbone, classifier

    def forward(self, x):
        low, high = self.backbone(x)
        out = self.classifier(low, high)
        return {"out": F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)}


SEGMENTATION_DILATION = (False, True, True)
REFERENCES = {
    "fcn_resnet50": lambda: Segmenter(ResNetBody(dilate=SEGMENTATION_DILATION), fcn_head(2048, 21)),
    "deeplabv3_resnet50": lambda: Segmenter(ResNetBody(dilate=SEGMENTATION_DILATION), deeplab_head(2048, 21)),
    "deeplabv3_mobilenet_v3_large": lambda: Segmenter(mobilenet_v3_features((16,)), deeplab_head(960, 21)),
    "lraspp_mobilenet_v3_large": lambda: LRASPP(mobilenet_v3_features((4, 16)), LRASPPHead(40, 960, 21, 128)),
    "resnet50_fpn": lambda: BackboneWithFPN(ResNetBody(norm=FrozenBatchNorm2d), [256, 512, 1024, 2048], 256),
}


def randomize_(model: nn.Module, seed: int = 0, var=(0.5, 1.5)) -> None:
    """Every float tensor of the state_dict redrawn (frozen batch norm's buffers too): a wrong pairing,
    a missing layer, a misplaced norm or activation, a wrong eps or dilation changes the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(var[0] + torch.rand(t.shape, generator=g) * (var[1] - var[0]))
            elif name.endswith(("running_mean", "bias")):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            elif t.dim() <= 1:
                t.copy_(1 + torch.randn(t.shape, generator=g) * 0.1)
            else:
                t.copy_(torch.randn(t.shape, generator=g) * (2.0 / t[0].numel()) ** 0.5)


def agree(what: str, got, want) -> None:
    assert isinstance(got, dict) and list(got) == list(want), what
    for key in want:
        assert got[key].shape == want[key].shape, (what, key)
        scale = max(1.0, want[key].abs().max().item())
        assert (got[key] - want[key]).abs().max().item() <= 1e-4 * scale, (what, key)


def counts(module: nn.Module) -> tuple[int, int]:
    return sum(p.numel() for p in module.parameters()), sum(b.numel() for b in module.buffers()
                                                            if b.is_floating_point())


@pytest.mark.parametrize("name", list(REFERENCES))
def test_reference_modules_count_as_torchvision(name):
    """The references (on the meta device) have torchvision's parameters and, hooked, its multiply-adds."""
    with torch.device("meta"):
        ref = REFERENCES[name]()
    params, _ = counts(ref)
    if name == "resnet50_fpn":
        assert (params, counts(ref)[1]) == (FPN_PARAMS, FPN_BUFFERS)
        assert hooked_macs(ref, 800) == ir(name).macs
    else:
        assert params == TORCHVISION[name][0]
        assert hooked_macs(ref, 520) == TORCHVISION[name][1] == ir(name).macs


# ------------------------------------------------------------------ the heads at small widths
def bundled(file: str, extra: str) -> str:
    """A bundled file with a small configuration appended: it uses the file's blocks (aspp, layer,
    bottleneck) and its head lines as the bundled configurations write them."""
    return (netc.elaborate.specref.bundled_dir() / f"{file}.net").read_text() + extra


SMALL_DILATED = """
    conv7-8/2 as conv1
    maxpool3/2(pad=1) as pool1
    layer(bottleneck, 4, 1)
    layer(bottleneck, 8, 2, 2)
    layer(bottleneck, 16, 2, 1, d=2)
    layer(bottleneck, 32, 2, 1, d=4, d0=2)
"""
# every stage changes the width, as ResNet-50's do: netc's layer() always projects in its first
# block, torchvision only where the stride or the width changes
SMALL_BODY = dict(widths=(4, 8, 16, 32), depths=(1, 2, 2, 2), dilate=SEGMENTATION_DILATION, stem=8)

def small_mobile(taps, c) -> Features:
    """A stem and two MobileNetV3 blocks: 16 -> 24 at stride 2 without squeeze-and-excite (ReLU), then
    a 5x5 with squeeze-and-excite and hard-swish to c, dilated 2 at stride 1 when c is 24 (with its
    shortcut), at stride 2 otherwise."""
    last = (24, 5, 72, 24, True, True, 1, 2) if c == 24 else (24, 5, 72, c, True, True, 2, 1)
    return Features(taps, ConvNormAct(3, 16, 3, 2, norm=BN_V3, act=nn.Hardswish),
                    InvertedResidual(16, 3, 64, 24, False, False, 2, 1), InvertedResidual(*last))


SMALL = {
    # resnet.net's aspp block and DeepLab head on a dilated ResNet of bottlenecks (output stride 8)
    "deeplab_resnet": ("resnet", """
config small {
    input 45x61 RGB
    num_classes = 5""" + SMALL_DILATED + """
    aspp(2, 3, 5, c=8)
    conv3-8 as head
    conv1-num_classes(bias=true, bn=false, act=none) as classifier
    upsample(like=input, mode=bilinear) as scores
    outputs scores as out
}
""", lambda: Segmenter(ResNetBody(**SMALL_BODY), deeplab_head(128, 5, (2, 3, 5), 8))),
    # resnet.net's FCN head lines (3x3 to a quarter of the width, dropout 0.1, 1x1)
    "fcn_resnet": ("resnet", """
config small {
    input 45x61 RGB
    num_classes = 5""" + SMALL_DILATED + """
    conv3-32 as head
    dropout(0.1)
    conv1-num_classes(bias=true, bn=false, act=none) as classifier
    upsample(like=input, mode=bilinear) as scores
    outputs scores as out
}
""", lambda: Segmenter(ResNetBody(**SMALL_BODY), fcn_head(128, 5))),
    # mobilenet.net's aspp block (PyTorch's batch norm in the head, MobileNetV3's in the backbone)
    "deeplab_mobilenet": ("mobilenet", """
config small {
    input 45x61 RGB
    num_classes = 5
    defaults conv(bias=false, bn=true, bn_eps=0.001, bn_momentum=0.01, act=relu)
    conv3-16/2(act=hardswish) as conv1
    bneck(16, 3, 64, 24, false, RE, 2)
    bneck(24, 5, 72, 24, true, HS, 1, 2)
    aspp(2, 3, 5, c=8)
    conv3-8(bn_eps=1e-5, bn_momentum=0.1) as head
    conv1-num_classes(bias=true, bn=false, act=none) as classifier
    upsample(like=input, mode=bilinear) as scores
    outputs scores as out
}
""", lambda: Segmenter(small_mobile((2,), 24), deeplab_head(24, 5, (2, 3, 5), 8))),
    # mobilenet.net's Lite R-ASPP lines on two maps (stride 4 'low', stride 8 'high')
    "lraspp": ("mobilenet", """
config small {
    input 45x61 RGB
    num_classes = 5
    defaults conv(bias=false, bn=true, bn_eps=0.001, bn_momentum=0.01)
    conv3-16/2(act=hardswish) as conv1
    bneck(16, 3, 64, 24, false, RE, 2) as c3
    bneck(24, 5, 72, 40, true, HS, 2)
    mul {
        conv1-12(bn_eps=1e-5, bn_momentum=0.1, act=relu) as cbr
        gap -> conv1-12(bn=false, act=sigmoid) as scale
    }
    upsample(like=c3, mode=bilinear)
    add {
        from c3 -> conv1-num_classes(bias=true, bn=false, act=none) as low_classifier
        conv1-num_classes(bias=true, bn=false, act=none) as high_classifier
    }
    upsample(like=input, mode=bilinear) as scores
    outputs scores as out
}
""", lambda: LRASPP(small_mobile((1, 2), 40), LRASPPHead(24, 40, 5, 12))),
    # resnet50_fpn's lines at three levels: frozen-BN bottlenecks, laterals, top-down nearest
    # upsampling to the lateral's size, 3x3 outputs, and the 1x1 stride-2 max pool of the top
    "fpn": ("resnet", """
config small {
    input 45x61 RGB
    defaults conv(bias=false, bn=frozen)
    conv7-8/2 as conv1
    maxpool3/2(pad=1) as pool1
    layer(bottleneck, 4, 1) as c2
    layer(bottleneck, 8, 2, 2) as c3
    layer(bottleneck, 16, 1, 2) as c4
    conv1-8(bias=true, bn=false, act=none) as inner3
    conv3-8(bias=true, bn=false, act=none) as p4
    from c3
    conv1-8(bias=true, bn=false, act=none) as lateral2
    add as inner2 {
        identity
        from inner3 -> upsample(like=lateral2)
    }
    conv3-8(bias=true, bn=false, act=none) as p3
    from c2
    conv1-8(bias=true, bn=false, act=none) as lateral1
    add as inner1 {
        identity
        from inner2 -> upsample(like=lateral1)
    }
    conv3-8(bias=true, bn=false, act=none) as p2
    from p4
    maxpool1/2 as p5
    outputs p2 as 0, p3 as 1, p4 as 2, p5 as pool
}
""", lambda: BackboneWithFPN(ResNetBody((4, 8, 16), (1, 2, 1), norm=FrozenBatchNorm2d, stem=8), [16, 32, 64], 8)),
}


def small(name: str):
    file, text, reference = SMALL[name]
    return netc.loads(bundled(file, text), "small", filename=f"{file}.net"), reference


@pytest.mark.parametrize("name", list(SMALL))
def test_heads_at_small_widths_equal_the_references(name):
    """Eval mode, batch-norm statistics randomised (running variances from 0.05, so an eps of 1e-3 where
    torchvision has 1e-5 shows), at the configuration's size and at two others (one odd, so that no
    upsampling is a whole factor)."""
    m, reference = small(name)
    torch.manual_seed(0)
    ref = reference().eval()
    randomize_(ref, var=(0.05, 1.5))
    model = netc.compile(m).eval()
    assert counts(model)[0] == counts(ref)[0] == m.params
    assert m.macs == count_macs(ref, torch.zeros(1, 3, 45, 61))[0]
    netc.load_weights(model, ref)
    g = torch.Generator().manual_seed(1)
    for hw in ((45, 61), (37, 50), (64, 64)):
        x = torch.randn(2, 3, *hw, generator=g)
        with torch.no_grad():
            agree(f"{name} at {hw}", model(x), ref(x))


# ------------------------------------------------------------------ whole bundled networks
def full_pair(name: str, seed: int = 0):
    torch.manual_seed(seed)
    ref = REFERENCES[name]().eval()
    randomize_(ref, seed)
    model = netc.compile(name).eval()
    netc.load_weights(model, ref)
    return model, ref


def test_lraspp_mobilenet_v3_large_equals_the_reference_network():
    """The whole bundled network against the hand-written one (dilated MobileNetV3-Large's features
    0 ... 16, the first 40-channel block as 'low', LRASPPHead), every weight and statistic randomised;
    in eval mode at two sizes, and in training mode (batch statistics) at one."""
    model, ref = full_pair("lraspp_mobilenet_v3_large")
    assert counts(model)[0] == counts(ref)[0] == TORCHVISION["lraspp_mobilenet_v3_large"][0]
    g = torch.Generator().manual_seed(1)
    for hw in ((97, 131), (64, 64)):
        x = torch.randn(2, 3, *hw, generator=g)
        with torch.no_grad():
            agree(f"lraspp at {hw}", model(x), ref(x))
    x = torch.randn(2, 3, 65, 81, generator=g)
    with torch.no_grad():
        agree("lraspp (train)", model.train()(x), ref.train()(x))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fcn_resnet50", "deeplabv3_resnet50", "deeplabv3_mobilenet_v3_large",
                                  "resnet50_fpn"])
def test_the_other_bundled_networks_equal_their_reference_networks(name):
    """11M to 40M parameters to draw and load: slow. One small odd-sized input each."""
    model, ref = full_pair(name)
    x = torch.randn(1, 3, 67, 91, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        agree(name, model(x), ref(x))


# ------------------------------------------------------------------ the references against torchvision
def _torchvision_modules():
    tv = pytest.importorskip("torchvision")
    from torchvision.models import segmentation as S
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
    from torchvision.ops import FeaturePyramidNetwork
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool
    from torchvision.models.segmentation.deeplabv3 import DeepLabHead
    from torchvision.models.segmentation.fcn import FCNHead
    from torchvision.models.segmentation.lraspp import LRASPPHead as TvLRASPPHead
    whole = {name: partial(getattr(S, name), weights=None, weights_backbone=None, aux_loss=False)
             for name in SEGMENTERS if name != "lraspp_mobilenet_v3_large"}
    whole["lraspp_mobilenet_v3_large"] = partial(S.lraspp_mobilenet_v3_large, weights=None, weights_backbone=None)
    whole["resnet50_fpn"] = partial(resnet_fpn_backbone, backbone_name="resnet50", weights=None, trainable_layers=5)
    return tv, whole, dict(DeepLabHead=DeepLabHead, FCNHead=FCNHead, LRASPPHead=TvLRASPPHead,
                           FeaturePyramidNetwork=FeaturePyramidNetwork, LastLevelMaxPool=LastLevelMaxPool)


def _same_layout_and_outputs(mine: nn.Module, theirs: nn.Module, *inputs, what: str) -> None:
    a, b = mine.state_dict(), theirs.state_dict()
    a = {k: v for k, v in a.items() if not k.endswith("num_batches_tracked")}
    b = {k: v for k, v in b.items() if not k.endswith("num_batches_tracked")}
    assert [(k, tuple(v.shape)) for k, v in a.items()] == [(k, tuple(v.shape)) for k, v in b.items()], what
    randomize_(theirs, var=(0.05, 1.5))
    mine.load_state_dict(theirs.state_dict())
    with torch.no_grad():
        want, got = theirs.eval()(*inputs), mine.eval()(*inputs)
    if not isinstance(want, dict):
        want, got = {"out": want}, {"out": got}
    agree(what, {k: got[k] for k in want}, want)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(REFERENCES))
def test_reference_networks_are_torchvisions(name):
    """Where torchvision imports (not in CI): the same state_dict keys, order and shapes, and the same
    outputs with torchvision's randomised weights loaded."""
    _, whole, _ = _torchvision_modules()
    torch.manual_seed(0)
    x = torch.randn(1, 3, 67, 91)
    _same_layout_and_outputs(REFERENCES[name](), whole[name](), x, what=name)


def test_reference_heads_are_torchvisions():
    _, _, tv = _torchvision_modules()
    torch.manual_seed(0)
    x = torch.randn(2, 32, 9, 13)
    _same_layout_and_outputs(deeplab_head(32, 5), tv["DeepLabHead"](32, 5), x, what="DeepLabHead")
    _same_layout_and_outputs(fcn_head(32, 5), tv["FCNHead"](32, 5), x, what="FCNHead")
    low, high = torch.randn(2, 24, 17, 25), torch.randn(2, 40, 9, 13)

    class Dict(nn.Module):                      # torchvision's head takes the backbone's dict
        def __init__(self, head):
            super().__init__()
            self.head = head

        def forward(self, low, high):
            return self.head({"low": low, "high": high})

    mine = nn.Module()
    mine.head = LRASPPHead(24, 40, 5, 12)
    mine.forward = lambda lo, hi: mine.head(lo, hi)
    _same_layout_and_outputs(mine, Dict(tv["LRASPPHead"](24, 40, 5, 12)), low, high, what="LRASPPHead")
    feats = [torch.randn(2, 16, 23, 31), torch.randn(2, 32, 12, 16), torch.randn(2, 64, 6, 8)]
    fpn = tv["FeaturePyramidNetwork"]([16, 32, 64], 8, extra_blocks=tv["LastLevelMaxPool"]())

    class Listed(nn.Module):                    # torchvision's FPN takes an ordered dict
        def __init__(self, fpn):
            super().__init__()
            self.fpn = fpn

        def forward(self, feats):
            return self.fpn(OrderedDict((str(i), f) for i, f in enumerate(feats)))

    ours = nn.Module()
    ours.fpn = FPN([16, 32, 64], 8)
    ours.forward = lambda f: ours.fpn(f)
    _same_layout_and_outputs(ours, Listed(fpn), feats, what="FeaturePyramidNetwork")
