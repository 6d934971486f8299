"""The bundled shufflenet_v2_x0_5 ... x2_0 (specs/shufflenet.net) and yolov8n / yolov8s
(specs/yolov8.net) against their references. Oracles outside netc: torchvision 0.29's weights tables
for ShuffleNet V2 (``num_params``, the ``_ops`` GFLOPS column) and its exact multiply-adds
(torch.utils.flop_counter on its modules, FLOPs / 2); ultralytics' parameter counts for
DetectionModel("yolov8n.yaml") / ("yolov8s.yaml") (3,157,200 / 11,166,560, the DFL's 16 fixed
weights included); and hand-written modules with torchvision's and ultralytics' layouts (below:
ShuffleNetV2 with both unit kinds, YOLOv8 with C2f, SPPF and Detect, registered in the references'
order, C2f's cv2 before its bottlenecks) whose outputs the compiled networks must reproduce after
netc.load_weights, with every batch-norm weight and statistic randomised."""
from __future__ import annotations

import re
from functools import lru_cache

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import netc
from conftest import run_cli
from netc.elaborate.specref import bundled_dir
from netc.passes import infer

# name: (parameters, multiply-adds at 224x224, torchvision's GFLOPS column)
SHUFFLENET = {
    "shufflenet_v2_x0_5": (1_366_792, 40_476_448, 0.04),
    "shufflenet_v2_x1_0": (2_278_604, 144_907_992, 0.145),
    "shufflenet_v2_x1_5": (3_503_624, 295_759_392, 0.296),
    "shufflenet_v2_x2_0": (7_393_996, 583_253_464, 0.583),
}
#: Table 5's output channels of stage 2, 3, 4 and conv5
WIDTHS = {"shufflenet_v2_x0_5": (48, 96, 192, 1024), "shufflenet_v2_x1_0": (116, 232, 464, 1024),
          "shufflenet_v2_x1_5": (176, 352, 704, 1024), "shufflenet_v2_x2_0": (244, 488, 976, 2048)}
# name: (ultralytics' parameter count, width multiple); the DFL's fixed 1x1 convolution holds 16 of them
YOLO = {"yolov8n": (3_157_200, 0.25), "yolov8s": (11_166_560, 0.5)}
DFL = 16


@lru_cache(maxsize=None)
def ir(name: str):
    return netc.load(name)


def _randomise_bn(m: nn.Module) -> nn.Module:
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.5, 0.5)
    return m


def _count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _at(name: str, hw: tuple[int, int]):
    """The bundled network's IR evaluated at an input of H x W (what `netc summary --input` does)."""
    m = netc.load(name)
    for n in m.nodes():
        n.shape = None
    infer(m, hw)
    netc.raise_all(m.errors)
    return m


def _with_blocks_of(file: str, config: str):
    """A configuration written beside a bundled spec, using its blocks (include "file"; the file's
    defaults stay in the file, so the configuration repeats them)."""
    return netc.loads(f'include "{file}"\n' + config, filename=str(bundled_dir() / "_test_blocks.net"))


# ------------------------------------------------------------------ counts
@pytest.mark.parametrize("name", list(SHUFFLENET))
def test_shufflenet_counts_equal_torchvisions(name):
    params, macs, gflops = SHUFFLENET[name]
    m = ir(name)
    assert m.params == m.params_inference == params
    assert tuple(m.input_shape) == (3, 224, 224)
    assert m.macs == macs
    assert round(m.macs / 1e9, 3) == gflops
    assert netc.load("shufflenet", name).params == params      # found by model name in its file
    assert tuple(m.min_input) == (1, 1)


@pytest.mark.parametrize("name", list(YOLO))
def test_yolov8_counts_equal_ultralytics_the_dfl_frozen(name):
    m = ir(name)
    assert m.params == YOLO[name][0]
    from netc import summary as S
    assert (S.totals(m)["trainable"], S.totals(m)["frozen"]) == (YOLO[name][0] - DFL, DFL)
    assert m.any_size and list(m.outputs) == ["p3", "p4", "p5", "dist"]


def test_yolov8n_maps_at_640():
    m = _at("yolov8n", (640, 640))
    shapes = {k: tuple(m.node(v).shape) for k, v in m.output_nodes.items()}
    assert shapes == {"p3": (144, 80, 80), "p4": (144, 40, 40), "p5": (144, 20, 20), "dist": (8400, 4)}
    # torch.utils.flop_counter on DetectionModel("yolov8n.yaml") in training mode at 640: FLOPs / 2
    # (ultralytics' own get_flops, thop with the batch norms, prints 8.855 GFLOPs)
    # plus the DFL's 1x1 convolution: 16 multiply-adds for each of 4 sides of 8,400 anchors
    assert m.macs == 4_371_456_000 + 16 * 4 * 8400
    assert _at("yolov8s", (640, 640)).macs == 14_300_774_400 + 16 * 4 * 8400


def test_netc_list_shows_them():
    p = run_cli("list")
    assert p.returncode == 0, p.stderr
    rows = {}
    for line in p.stdout.splitlines():
        hit = re.match(r"(\S+)\s+([\d,]+)\s+(.+?)\s+specs/", line)
        if hit:
            rows[hit.group(1)] = (int(hit.group(2).replace(",", "")), hit.group(3))
    for name, (params, _, gflops) in SHUFFLENET.items():
        assert rows.get(name) == (params, f"{gflops:.3f} G"), name
    for name, (params, _) in YOLO.items():
        assert rows.get(name) == (params, "any size"), name


# ------------------------------------------------------------------ ShuffleNetV2, torchvision's layout
def _dw(c, stride):
    return nn.Conv2d(c, c, 3, stride, 1, groups=c, bias=False)


class InvertedResidual(nn.Module):
    """torchvision's ShuffleNetV2 unit: stride 2 (both branches, no split) or stride 1 (chunk)."""

    def __init__(self, inp, oup, stride):
        super().__init__()
        self.stride = stride
        h = oup // 2
        if stride > 1:
            self.branch1 = nn.Sequential(_dw(inp, stride), nn.BatchNorm2d(inp), nn.Conv2d(inp, h, 1, bias=False),
                                         nn.BatchNorm2d(h), nn.ReLU())
        self.branch2 = nn.Sequential(nn.Conv2d(inp if stride > 1 else h, h, 1, bias=False), nn.BatchNorm2d(h),
                                     nn.ReLU(), _dw(h, stride), nn.BatchNorm2d(h), nn.Conv2d(h, h, 1, bias=False),
                                     nn.BatchNorm2d(h), nn.ReLU())

    def forward(self, x):
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        b, c, h, w = out.shape                       # channel shuffle, 2 groups, written out
        return out.view(b, 2, c // 2, h, w).transpose(1, 2).reshape(b, c, h, w)


class ShuffleNetV2(nn.Module):
    def __init__(self, widths, repeats=(4, 8, 4), num_classes=1000):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, 24, 3, 2, 1, bias=False), nn.BatchNorm2d(24), nn.ReLU())
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin, stages = 24, []
        for c, n in zip(widths[:3], repeats):
            stages.append(nn.Sequential(InvertedResidual(cin, c, 2), *[InvertedResidual(c, c, 1) for _ in range(n - 1)]))
            cin = c
        self.stage2, self.stage3, self.stage4 = stages
        self.conv5 = nn.Sequential(nn.Conv2d(cin, widths[3], 1, bias=False), nn.BatchNorm2d(widths[3]), nn.ReLU())
        self.fc = nn.Linear(widths[3], num_classes)

    def forward(self, x):
        x = self.stage4(self.stage3(self.stage2(self.maxpool(self.conv1(x)))))
        return self.fc(self.conv5(x).mean([2, 3]))


def test_shufflenet_unit_kinds_equal_torchvisions():
    """One stage (a down-sampling unit, then basic units) of the bundled spec's blocks."""
    text = "input HxW 24ch\ndefaults conv(bias=false, bn=true, act=relu)\nstage(24, 48, 3) as stage2\n"
    torch.manual_seed(0)
    ref = _randomise_bn(nn.Sequential(InvertedResidual(24, 48, 2), InvertedResidual(48, 48, 1),
                                      InvertedResidual(48, 48, 1))).eval()
    m = _with_blocks_of("shufflenet.net", text)
    assert m.params == _count(ref)
    net = netc.compile(m).eval()
    netc.load_weights(net, ref)
    for hw in ((28, 28), (15, 9)):
        x = torch.randn(2, 24, *hw)
        with torch.no_grad():
            torch.testing.assert_close(net(x), ref(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["shufflenet_v2_x0_5", pytest.param("shufflenet_v2_x1_0", marks=pytest.mark.slow)])
def test_shufflenet_equals_torchvision_layout(name):
    torch.manual_seed(1)
    ref = _randomise_bn(ShuffleNetV2(WIDTHS[name])).eval()
    assert _count(ref) == SHUFFLENET[name][0]
    m = netc.compile(name).eval()
    netc.load_weights(m, ref)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(m(x), ref(x), rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------ YOLOv8, ultralytics' layout
class Conv(nn.Module):
    """ultralytics' Conv: convolution without bias, batch norm (eps 1e-3, momentum 0.03), SiLU."""

    def __init__(self, c1, c2, k=1, s=1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=0.001, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c, shortcut):
        super().__init__()
        self.cv1, self.cv2, self.add = Conv(c, c, 3), Conv(c, c, 3), shortcut

    def forward(self, x):
        return x + self.cv2(self.cv1(x)) if self.add else self.cv2(self.cv1(x))


class C2f(nn.Module):
    """As ultralytics registers it (cv1, cv2, then the bottlenecks) and runs it (a list of chunks:
    torch.fx cannot trace it, so load_weights pairs it in the order one run uses its tensors)."""

    def __init__(self, c1, c2, n=1, shortcut=False):
        super().__init__()
        self.c = c2 // 2
        self.cv1 = Conv(c1, 2 * self.c, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, shortcut) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, c1, c2, k=5):
        super().__init__()
        self.cv1, self.cv2 = Conv(c1, c1 // 2, 1), Conv(c1 // 2 * 4, c2, 1)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x):
        y = [self.cv1(x)]
        y.extend(self.m(y[-1]) for _ in range(3))
        return self.cv2(torch.cat(y, 1))


class DFLRef(nn.Module):
    """ultralytics.nn.modules.block.DFL: a soft-max over each side's reg_max bins, and their expected
    index by a fixed 1x1 convolution (weights 0 ... reg_max-1, requires_grad False)."""

    def __init__(self, c1=16):
        super().__init__()
        self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(c1, dtype=torch.float).view(1, c1, 1, 1)
        self.c1 = c1

    def forward(self, x):
        b, _, a = x.shape
        return self.conv(x.view(b, 4, self.c1, a).transpose(2, 1).softmax(1)).view(b, 4, a)


class Detect(nn.Module):
    """Detect's raw maps (training mode, no decoding): cat(cv2[i](x[i]), cv3[i](x[i])) per level, and the
    DFL's expected distances of every anchor (ultralytics' decoding before anchors and strides)."""

    def __init__(self, ch, nc=80, reg_max=16):
        super().__init__()
        c2, c3 = max(16, ch[0] // 4, 4 * reg_max), max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * reg_max, 1))
                                 for x in ch)
        self.cv3 = nn.ModuleList(nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1)) for x in ch)
        self.dfl = DFLRef(reg_max)

    def forward(self, xs):            # as ultralytics' forward_head: every level's boxes, then the classes
        boxes = [b(x) for b, x in zip(self.cv2, xs)]
        scores = [c(x) for c, x in zip(self.cv3, xs)]
        dist = self.dfl(torch.cat([b.flatten(2) for b in boxes], 2)).transpose(1, 2)
        return [*(torch.cat(bs, 1) for bs in zip(boxes, scores)), dist]


class YOLOv8(nn.Module):
    """yolov8.yaml at a width multiple (depth multiple 0.33): the layers 0-22 and their wiring."""

    def __init__(self, width):
        super().__init__()
        w = [max(16, -(-int(c * width) // 8) * 8) for c in (64, 128, 256, 512, 1024)]
        self.model = nn.ModuleList([
            Conv(3, w[0], 3, 2), Conv(w[0], w[1], 3, 2), C2f(w[1], w[1], 1, True),
            Conv(w[1], w[2], 3, 2), C2f(w[2], w[2], 2, True), Conv(w[2], w[3], 3, 2), C2f(w[3], w[3], 2, True),
            Conv(w[3], w[4], 3, 2), C2f(w[4], w[4], 1, True), SPPF(w[4], w[4]),
            nn.Upsample(scale_factor=2), nn.Identity(), C2f(w[4] + w[3], w[3]),
            nn.Upsample(scale_factor=2), nn.Identity(), C2f(w[3] + w[2], w[2]),
            Conv(w[2], w[2], 3, 2), nn.Identity(), C2f(w[2] + w[3], w[3]),
            Conv(w[3], w[3], 3, 2), nn.Identity(), C2f(w[3] + w[4], w[4]),
            Detect((w[2], w[3], w[4]))])

    def forward(self, x):
        y = []
        cat = {11: 6, 14: 4, 17: 12, 20: 9}          # Concat([-1, j]): the running map, then layer j
        for i, layer in enumerate(self.model[:22]):
            x = torch.cat((x, y[cat[i]]), 1) if i in cat else layer(x)
            y.append(x)
        return self.model[22]([y[15], y[18], y[21]])


def test_c2f_and_sppf_load_in_the_order_they_run():
    """A C2f registers cv2 before its bottlenecks and cannot be traced: matched by one run."""
    text = ("input HxW 32ch\ndefaults conv(bias=false, bn=true, bn_eps=0.001, bn_momentum=0.03, act=silu)\n"
            "c2f(32, 2, true) as a\nsppf(32) as b\nc2f(32, 1, false) as c\n")
    torch.manual_seed(2)
    ref = _randomise_bn(nn.Sequential(C2f(32, 32, 2, True), SPPF(32, 32), C2f(32, 32, 1, False))).eval()
    m = _with_blocks_of("yolov8.net", text)
    assert m.params == _count(ref)
    net = netc.compile(m).eval()
    with pytest.warns(UserWarning, match="the order one run of it uses them"):
        netc.load_weights(net, ref)
    x = torch.randn(2, 32, 12, 20)
    with torch.no_grad():
        torch.testing.assert_close(net(x), ref(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_yolov8n_equals_ultralytics_layout(mode):
    torch.manual_seed(3)
    ref = _randomise_bn(YOLOv8(YOLO["yolov8n"][1]))
    assert _count(ref) == YOLO["yolov8n"][0]
    m = netc.compile("yolov8n")
    ref.train(mode == "train")
    m.train(mode == "train")
    with pytest.warns(UserWarning, match="cannot trace"):
        netc.load_weights(m, ref)
    for hw in ((64, 64), (96, 160)):
        x = torch.randn(2, 3, *hw)
        with torch.no_grad():
            want, got = ref(x), m(x)
        assert list(got) == ["p3", "p4", "p5", "dist"]
        for (key, g), w, s in zip(got.items(), want, (8, 16, 32)):
            assert tuple(g.shape) == (2, 144, hw[0] // s, hw[1] // s), key
            torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)
        anchors = sum((hw[0] // s) * (hw[1] // s) for s in (8, 16, 32))
        assert tuple(got["dist"].shape) == (2, anchors, 4)
        torch.testing.assert_close(got["dist"], want[3], rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_yolov8s_equals_ultralytics_layout():
    torch.manual_seed(4)
    ref = _randomise_bn(YOLOv8(YOLO["yolov8s"][1])).eval()
    assert _count(ref) == YOLO["yolov8s"][0]
    m = netc.compile("yolov8s").eval()
    netc.load_weights(m, ref)
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        for g, w in zip(m(x).values(), ref(x)):
            torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)


def test_yolov8_at_sides_not_multiples_of_32():
    """At a fixed size whose sides are not multiples of 32 the neck's maps still meet (nearest
    upsampling to the backbone's size), where ultralytics' own concatenation would fail."""
    m = _at("yolov8n", (100, 100))
    assert tuple(m.node(m.output_nodes["p5"]).shape) == (144, 4, 4)
