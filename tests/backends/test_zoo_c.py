"""The bundled resnext50_32x4d, resnext101_32x8d and wide_resnet50_2 (specs/resnet.net),
regnet_x_400mf and regnet_y_400mf (specs/regnet.net) and mnasnet1_0 (specs/mnasnet.net) against
torchvision. Oracles outside netc: torchvision 0.29's weights tables (``num_params`` and the ``_ops``
GFLOPS column, multiply-adds), its exact multiply-adds (torch.utils.flop_counter on its modules,
FLOPs / 2, conv and linear), the counts of its other RegNets and MnasNets (the same files with
torchvision's parameters set), its per-stage RegNet widths, depths and groups, the RegNet paper's
width rule written out in Python below, and hand-written reference modules with torchvision's layout
(written out below) whose outputs the compiled networks must reproduce after netc.load_weights, with
every weight and batch-norm statistic randomised."""
from __future__ import annotations

import math
import re
from collections import OrderedDict
from functools import lru_cache

import pytest

import netc
from conftest import run_cli

# name: (parameters, multiply-adds at 224x224, torchvision's GFLOPS column)
TORCHVISION = {
    "resnext50_32x4d": (25_028_904, 4_230_479_872, 4.23),
    "resnext101_32x8d": (88_791_336, 16_414_015_488, 16.414),
    "wide_resnet50_2": (68_883_240, 11_398_021_120, 11.398),
    "regnet_y_400mf": (4_344_144, 401_842_848, 0.402),
    "regnet_x_400mf": (5_495_976, 413_812_608, 0.414),
    "mnasnet1_0": (4_383_312, 314_415_872, 0.314),
}
FILES = {"resnext50_32x4d": "resnet", "resnext101_32x8d": "resnet", "wide_resnet50_2": "resnet",
         "regnet_y_400mf": "regnet", "regnet_x_400mf": "regnet", "mnasnet1_0": "mnasnet"}


@lru_cache(maxsize=None)
def ir(name: str, **over):
    return netc.load(name, **over)


@pytest.mark.parametrize("name", list(TORCHVISION))
def test_counts_equal_torchvisions(name):
    params, macs, gflops = TORCHVISION[name]
    m = ir(name)
    assert m.params == m.params_inference == params
    assert tuple(m.input_shape) == (3, 224, 224) and tuple(m.min_input) == (1, 1)
    assert m.macs == macs
    assert round(m.macs / 1e9, 3) == gflops              # the published column, to its last digit


@pytest.mark.parametrize("name", list(TORCHVISION))
def test_found_by_model_name_in_its_file(name):
    assert ir(name).config == name
    assert netc.load(FILES[name], name).params == TORCHVISION[name][0]


def test_netc_list_shows_them():
    p = run_cli("list")
    assert p.returncode == 0, p.stderr
    rows = {}
    for line in p.stdout.splitlines():
        m = re.match(r"(\S+)\s+([\d,]+)\s+([\d.]+) G\s", line)
        if m:
            rows[m.group(1)] = (int(m.group(2).replace(",", "")), float(m.group(3)))
    for name, (params, macs, _) in TORCHVISION.items():
        assert rows.get(name) == (params, round(macs / 1e9, 3)), name


# ------------------------------------------------------------------ ResNeXt and Wide ResNet
@pytest.mark.parametrize("name,groups,widths", [
    ("resnext50_32x4d", 32, (128, 256, 512, 1024)),      # ResNeXt's Table 1: C = 32, d = 4 at conv2
    ("resnext101_32x8d", 32, (256, 512, 1024, 2048)),
    ("wide_resnet50_2", 1, (128, 256, 512, 1024)),       # WRN-50-2: twice ResNet-50's 64 ... 512
    ("resnet50", 1, (64, 128, 256, 512)),
])
def test_bottleneck_inner_width_and_groups(name, groups, widths):
    m = ir(name)
    for stage, width in enumerate(widths, 1):
        for conv in ("conv1", "conv2"):
            node = m.node(f"layer_{stage}/bottleneck_1/{conv}")
            assert node.params.out == width, (stage, conv)
        assert m.node(f"layer_{stage}/bottleneck_1/conv2").params.groups == groups
        assert m.node(f"layer_{stage}/bottleneck_1/conv3").params.out == 256 * 2 ** (stage - 1)
    down = [n.name for n in m.layers() if n.name.endswith("/downsample")]
    assert len(down) == 4                                  # as ResNet-50: the first block of each stage


def test_resnext_is_resnet_with_torchvisions_arguments():
    """groups and width_per_group are variables: resnet50 with them set is resnext50_32x4d."""
    assert ir("resnet50", groups=32, width_per_group=4).params == TORCHVISION["resnext50_32x4d"][0]
    assert ir("resnet101", groups=32, width_per_group=8).macs == TORCHVISION["resnext101_32x8d"][1]


# ------------------------------------------------------------------ RegNet's width rule
def regnet_stages(depth, w_0, w_a, w_m, group_width):
    """Equations 2-4 of Radosavovic et al. block by block, as torchvision's BlockParams: the stage
    widths (rounded to whole groups), depths and group counts."""
    widths = [round(w_0 * w_m ** round(math.log((w_0 + w_a * j) / w_0, w_m)) / 8) * 8 for j in range(depth)]
    stages = []
    for w in widths:
        if stages and stages[-1][0] == w:
            stages[-1][1] += 1
        else:
            stages.append([w, 1])
    out = []
    for w, d in stages:
        g = min(group_width, w)
        w = make_divisible(w, g)
        out.append((w, d, w // g))
    return out


def make_divisible(v: float, divisor: int = 8) -> int:       # torchvision's _make_divisible
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def stages_of(m):
    """(width, blocks, groups of the 3x3) per stage of a compiled RegNet IR."""
    out = []
    for i in range(1, 5):
        bs = [n for n in m.nodes() if re.fullmatch(rf"block{i}/res_bottleneck_\d+/b", n.name)]
        out.append((bs[0].params.out, len(bs), bs[0].params.groups))
    return out


# torchvision's per-stage widths, depths and groups (its published models' trunk_output)
def test_regnet_400mf_stages_are_torchvisions():
    assert stages_of(ir("regnet_x_400mf")) == [(32, 1, 2), (64, 2, 4), (160, 7, 10), (400, 12, 25)]
    assert stages_of(ir("regnet_y_400mf")) == [(48, 1, 6), (104, 3, 13), (208, 6, 26), (440, 6, 55)]


# torchvision's RegNet parameters (d, w_0, w_a, w_m, g, se_ratio) with its counts (num_params, and
# torch.utils.flop_counter's multiply-adds, which round to its GFLOPS column)
REGNETS = {
    "regnet_x_400mf": ((22, 24, 24.48, 2.54, 16, 0.0), 5_495_976, 413_812_608),
    "regnet_y_400mf": ((16, 48, 27.89, 2.09, 8, 0.25), 4_344_144, 401_842_848),
    "regnet_y_800mf": ((14, 56, 38.84, 2.4, 16, 0.25), 6_432_512, 833_856_256),
    "regnet_x_800mf": ((16, 56, 35.73, 2.28, 16, 0.0), 7_259_656, 799_699_712),
    "regnet_y_1_6gf": ((27, 48, 20.71, 2.65, 24, 0.25), 11_202_430, 1_612_076_160),
    "regnet_x_1_6gf": ((18, 80, 34.01, 2.25, 24, 0.0), 9_190_136, 1_602_849_792),
    "regnet_y_3_2gf": ((21, 80, 42.63, 2.66, 24, 0.25), 19_436_338, 3_176_482_752),
    "regnet_x_3_2gf": ((25, 88, 26.31, 2.25, 48, 0.0), 15_296_552, 3_176_621_952),
    "regnet_y_8gf": ((17, 192, 76.82, 2.19, 56, 0.25), 39_381_472, 8_473_070_592),
    "regnet_x_16gf": ((22, 216, 55.59, 2.1, 128, 0.0), 54_278_536, 15_940_755_456),
}


@pytest.mark.parametrize("name", list(REGNETS))
def test_regnet_rule_gives_every_torchvision_regnet(name):
    """The spec's closed form (stage i holds the blocks with u_j < w_0 * w_m^(i + 1/2)) against the
    rule applied block by block, and the counts against torchvision's."""
    (d, w_0, w_a, w_m, g, se), params, macs = REGNETS[name]
    m = ir("regnet_x_400mf", depth=d, w_0=w_0, w_a=w_a, w_m=w_m, group_width=g, se_ratio=se)
    assert stages_of(m) == regnet_stages(d, w_0, w_a, w_m, g)
    assert (m.params, m.macs) == (params, macs)


def test_regnet_shortcuts_project_once_per_stage_and_se_squeezes_the_block_input():
    m = ir("regnet_y_400mf")
    proj = [n.name for n in m.nodes() if n.local == "proj"]
    assert proj == [f"block{i}/res_bottleneck_1/proj" for i in range(1, 5)]
    squeezes = [n.params.out for n in m.nodes() if n.local == "fc1"]
    # round(0.25 * the block's input width): 32 (the stem), then 48, 104, 208 for each stage's first
    assert squeezes == [8] + [12, 26, 26] + [26] + [52] * 5 + [52] + [110] * 5
    assert not any(n.local == "fc1" for n in ir("regnet_x_400mf").nodes())


# ------------------------------------------------------------------ MnasNet
def shortcuts(m) -> list[bool]:
    return [bool(n.meta.get("shortcut")) for n in m.nodes() if n.kind == "residual"]


def test_mnasnet_shortcuts_where_torchvision_applies_them():
    """apply_residual: as many channels out as in and stride 1, on every layer of a stack but its
    first (3, 3, 3, 2, 4, 1 layers): 10 of 16."""
    got = shortcuts(ir("mnasnet1_0"))
    want = [j > 0 for n in (3, 3, 3, 2, 4, 1) for j in range(n)]
    assert got == want and sum(got) == 10


@pytest.mark.parametrize("alpha,params,macs", [
    (0.5, 2_218_512, 104_455_968), (0.75, 3_170_208, 215_493_104), (1.3, 6_282_256, 526_362_432),
])
def test_mnasnet_depth_multiplier(alpha, params, macs):
    """torchvision's mnasnet0_5, mnasnet0_75 and mnasnet1_3 (num_params; flop_counter's multiply-adds)."""
    m = ir("mnasnet1_0", alpha=alpha)
    assert (m.params, m.macs) == (params, macs)
    assert shortcuts(m) == shortcuts(ir("mnasnet1_0"))


# ------------------------------------------------------------------ outputs against references
torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from tests.references.cnn import ConvNormAct, SqueezeExcite  # noqa: E402


class GroupedBottleneck(nn.Module):
    """torchvision's Bottleneck(groups, base_width): inner width int(planes * base_width / 64) * groups."""

    def __init__(self, cin: int, planes: int, stride: int, groups: int, base_width: int,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNeXt(nn.Module):
    def __init__(self, depths, groups: int, base_width: int, num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (planes, depth) in enumerate(zip((64, 128, 256, 512), depths)):
            stride = 1 if i == 0 else 2
            down = nn.Sequential(nn.Conv2d(cin, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4))
            blocks = [GroupedBottleneck(cin, planes, stride, groups, base_width, down)]
            blocks += [GroupedBottleneck(planes * 4, planes, 1, groups, base_width) for _ in range(depth - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            cin = planes * 4
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class RegNetBlock(nn.Module):
    """torchvision's ResBottleneckBlock (bottleneck ratio 1): proj registered and applied first."""

    def __init__(self, cin: int, w: int, stride: int, group_width: int, se_ratio: float) -> None:
        super().__init__()
        self.proj = ConvNormAct(cin, w, 1, stride, act=None) if cin != w or stride != 1 else None
        f = OrderedDict(a=ConvNormAct(cin, w, 1), b=ConvNormAct(w, w, 3, stride, groups=w // group_width))
        if se_ratio:
            f["se"] = SqueezeExcite(w, int(round(se_ratio * cin)))
        f["c"] = ConvNormAct(w, w, 1, act=None)
        self.f = nn.Sequential(f)
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x):
        shortcut = x if self.proj is None else self.proj(x)
        return self.activation(shortcut + self.f(x))


class RegNet(nn.Module):
    """torchvision's RegNet from its published per-stage widths and depths (not from the rule)."""

    def __init__(self, widths, depths, group_width: int, se_ratio: float, num_classes: int = 1000) -> None:
        super().__init__()
        self.stem = ConvNormAct(3, 32, 3, 2)
        stages, cin = OrderedDict(), 32
        for i, (w, d) in enumerate(zip(widths, depths), 1):
            stages[f"block{i}"] = nn.Sequential(OrderedDict(
                (f"block{i}-{j}", RegNetBlock(cin if j == 0 else w, w, 2 if j == 0 else 1, group_width, se_ratio))
                for j in range(d)))
            cin = w
        self.trunk_output = nn.Sequential(stages)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        return self.fc(self.avgpool(self.trunk_output(self.stem(x))).flatten(1))


BN_MOMENTUM = 1 - 0.9997


class MnasBlock(nn.Module):
    """torchvision's _InvertedResidual: 1x1 expand, k x k depthwise, linear 1x1, shortcut where shapes agree."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, t: int) -> None:
        super().__init__()
        mid = cin * t
        self.apply_residual = cin == cout and stride == 1
        self.layers = nn.Sequential(
            nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid, momentum=BN_MOMENTUM), nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, k, stride, k // 2, groups=mid, bias=False), nn.BatchNorm2d(mid, momentum=BN_MOMENTUM),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout, momentum=BN_MOMENTUM))

    def forward(self, x):
        return self.layers(x) + x if self.apply_residual else self.layers(x)


# MnasNet-B1's stacks: input, output, kernel, stride, expansion, layers
MNAS_STACKS = [(16, 24, 3, 2, 3, 3), (24, 40, 5, 2, 3, 3), (40, 80, 5, 2, 6, 3), (80, 96, 3, 1, 6, 2),
               (96, 192, 5, 2, 6, 4), (192, 320, 3, 1, 6, 1)]


class MnasNet(nn.Module):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()

        def bn(c):
            return nn.BatchNorm2d(c, momentum=BN_MOMENTUM)
        layers = [nn.Conv2d(3, 32, 3, 2, 1, bias=False), bn(32), nn.ReLU(inplace=True),
                  nn.Conv2d(32, 32, 3, 1, 1, groups=32, bias=False), bn(32), nn.ReLU(inplace=True),
                  nn.Conv2d(32, 16, 1, bias=False), bn(16)]
        for cin, cout, k, s, t, n in MNAS_STACKS:
            layers.append(nn.Sequential(MnasBlock(cin, cout, k, s, t), *[MnasBlock(cout, cout, k, 1, t)
                                                                       for _ in range(n - 1)]))
        layers += [nn.Conv2d(320, 1280, 1, bias=False), bn(1280), nn.ReLU(inplace=True)]
        self.layers = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2, inplace=True), nn.Linear(1280, num_classes))

    def forward(self, x):
        return self.classifier(self.layers(x).mean([2, 3]))


REFERENCES = {
    "resnext50_32x4d": lambda: ResNeXt((3, 4, 6, 3), 32, 4),
    "resnext101_32x8d": lambda: ResNeXt((3, 4, 23, 3), 32, 8),
    "wide_resnet50_2": lambda: ResNeXt((3, 4, 6, 3), 1, 128),
    "regnet_x_400mf": lambda: RegNet((32, 64, 160, 400), (1, 2, 7, 12), 16, 0.0),
    "regnet_y_400mf": lambda: RegNet((48, 104, 208, 440), (1, 3, 6, 6), 8, 0.25),
    "mnasnet1_0": MnasNet,
}
BIG = {"resnext101_32x8d", "wide_resnet50_2"}


@pytest.mark.parametrize("name", list(REFERENCES))
def test_references_have_torchvisions_parameter_count(name):
    with torch.device("meta"):
        assert sum(p.numel() for p in REFERENCES[name]().parameters()) == TORCHVISION[name][0]


def randomize_(model: nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith(("running_mean", "bias")):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            elif t.dim() <= 1:
                t.copy_(1 + torch.randn(t.shape, generator=g) * 0.1)
            else:
                t.copy_(torch.randn(t.shape, generator=g) * (2.0 / t[0].numel()) ** 0.5)


def assert_same_outputs(name: str, source, hw: int = 64) -> None:
    ref = REFERENCES[name]().eval()
    randomize_(ref)
    model = netc.compile(name).eval()
    netc.load_weights(model, ref if source == "module" else ref.state_dict())
    x = torch.randn(2, 3, hw, hw, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want, got = ref(x), model(x)
    assert got.shape == want.shape == (2, 1000)
    assert want.abs().max().item() > 1e-3                 # a comparison of two near-zero outputs shows nothing
    assert (got - want).abs().max().item() <= 1e-4 * max(1.0, want.abs().max().item()), name


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in BIG else n for n in REFERENCES])
def test_outputs_equal_the_reference_after_load_weights(name):
    """By dataflow (the reference module itself, traced)."""
    assert_same_outputs(name, "module")


@pytest.mark.parametrize("name", ["regnet_y_400mf", "mnasnet1_0"])
def test_a_bare_state_dict_loads_in_torchvisions_order(name):
    """By order: RegNet's projection is the add's first branch, as torchvision registers proj before f."""
    assert_same_outputs(name, "state_dict")


def test_mnasnet_batch_norm_momentum_is_tensorflows_decay():
    m = netc.compile("mnasnet1_0", device="meta")
    momenta = [mod.momentum for mod in m.modules() if isinstance(mod, nn.BatchNorm2d)]
    assert len(momenta) == 52 and momenta == pytest.approx([BN_MOMENTUM] * 52)     # one per convolution
