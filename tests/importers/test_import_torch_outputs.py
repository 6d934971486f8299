"""netc.from_torch of modules with several outputs: a forward that returns a dict, a tuple or a list
of tensors imports as ``outputs a, b as KEY``; the spec compiled from the text returns the same
keys, and after ``load_weights(model, source)`` the same tensors. Training-only extra outputs
(GoogLeNet's side heads) stay ``aux``. The references are hand-written modules with torchvision's
layouts (FeaturePyramidNetwork, LastLevelMaxPool) and netc's own compiled specs."""
from __future__ import annotations

from collections import OrderedDict

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import netc  # noqa: E402
from netc.diff import diff  # noqa: E402
from netc.importers import ImportError_  # noqa: E402


def _outputs_line(text: str) -> str:
    return next(l for l in text.splitlines() if l.startswith("outputs "))


def _randomise_bn(module):
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)


# ------------------------------------------------------------------ torchvision's FPN layout, written out
class Backbone(nn.Module):
    """Four stages, each halving the size: the maps an FPN reads (ResNet's C2 ... C5, small)."""

    def __init__(self):
        super().__init__()
        chans = [8, 16, 24, 32]
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.stages = nn.ModuleList()
        cin = 8
        for c in chans:
            self.stages.append(nn.Sequential(nn.Conv2d(cin, c, 3, stride=2, padding=1, bias=False),
                                             nn.BatchNorm2d(c), nn.ReLU()))
            cin = c
        self.channels = chans

    def forward(self, x):
        x = self.stem(x)
        out = OrderedDict()
        for i, s in enumerate(self.stages):
            x = s(x)
            out[str(i)] = x
        return out


class FeaturePyramidNetwork(nn.Module):
    """torchvision.ops.FeaturePyramidNetwork's forward: 1x1 lateral convs (inner_blocks), 3x3 output
    convs (layer_blocks), the top-down path upsampled to each lateral's size with F.interpolate
    (nearest), and LastLevelMaxPool's F.max_pool2d(x, 1, 2, 0) as 'pool'."""

    def __init__(self, in_channels_list, out_channels):
        super().__init__()
        self.inner_blocks = nn.ModuleList(nn.Conv2d(c, out_channels, 1) for c in in_channels_list)
        self.layer_blocks = nn.ModuleList(nn.Conv2d(out_channels, out_channels, 3, padding=1)
                                          for _ in in_channels_list)

    def get_result_from_inner_blocks(self, x, idx):
        out = x
        for i, module in enumerate(self.inner_blocks):
            if i == idx:
                out = module(x)
        return out

    def get_result_from_layer_blocks(self, x, idx):
        out = x
        for i, module in enumerate(self.layer_blocks):
            if i == idx:
                out = module(x)
        return out

    def forward(self, x: dict):
        names = list(x.keys())
        x = list(x.values())
        last_inner = self.get_result_from_inner_blocks(x[-1], -1 % len(x))
        results = [self.get_result_from_layer_blocks(last_inner, len(x) - 1)]
        for idx in range(len(x) - 2, -1, -1):
            inner_lateral = self.get_result_from_inner_blocks(x[idx], idx)
            feat_shape = inner_lateral.shape[-2:]
            inner_top_down = F.interpolate(last_inner, size=feat_shape, mode="nearest")
            last_inner = inner_lateral + inner_top_down
            results.insert(0, self.get_result_from_layer_blocks(last_inner, idx))
        names.append("pool")
        results.append(F.max_pool2d(results[-1], 1, 2, 0))
        return OrderedDict([(k, v) for k, v in zip(names, results)])


class BackboneWithFPN(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = Backbone()
        self.fpn = FeaturePyramidNetwork(self.body.channels, 16)

    def forward(self, x):
        return self.fpn(self.body(x))


def _compare(src, text, x, keys):
    """The spec ``text`` compiled, loaded from ``src`` by dataflow: the same keys and tensors."""
    model = netc.compile(netc.loads(text)).eval()
    netc.load_weights(model, src)
    with torch.no_grad():
        want, got = src(x), model(x)
    if isinstance(want, (tuple, list)):
        want = {str(i): v for i, v in enumerate(want)}
    assert list(got) == list(want) == keys
    for k in keys:
        assert got[k].shape == want[k].shape, k
        assert torch.allclose(got[k], want[k], atol=1e-5), (k, (got[k] - want[k]).abs().max())


def test_a_torchvision_style_fpn_returning_an_ordered_dict_imports_with_its_keys():
    torch.manual_seed(0)
    src = BackboneWithFPN().eval()
    _randomise_bn(src)
    x = torch.randn(2, 3, 64, 64)
    text = netc.from_torch(src, x)
    assert netc.check(text) == []
    ir = netc.loads(text)
    assert list(ir.outputs) == ["0", "1", "2", "3", "pool"]
    assert ir.params == sum(p.numel() for p in src.parameters())
    assert "upsample(like=" in text and text.count("from ") >= 3
    # the output sizes: strides 4, 8, 16, 32 and the pool's 64 at 64x64
    assert [tuple(ir.node(n).type)[1:] for n in ir.outputs.values()] == [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    _compare(src, text, x, ["0", "1", "2", "3", "pool"])


class TwoHeads(nn.Module):
    """A classifier and a box regressor on one trunk, returned as a tuple in every mode."""

    def __init__(self, as_list=False):
        super().__init__()
        self.as_list = as_list
        self.trunk = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                   nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
        self.cls = nn.Conv2d(16, 5, 1)
        self.box = nn.Conv2d(16, 4, 3, padding=1)

    def forward(self, x):
        y = self.trunk(x)
        out = (self.cls(y), self.box(y))
        return list(out) if self.as_list else out


@pytest.mark.parametrize("as_list", [False, True], ids=["tuple", "list"])
def test_a_module_returning_a_tuple_or_list_imports_as_outputs_0_1(as_list):
    torch.manual_seed(0)
    src = TwoHeads(as_list).eval()
    x = torch.randn(1, 3, 16, 16)
    text = netc.from_torch(src, x)
    assert netc.check(text) == []
    assert _outputs_line(text) == "outputs cls as 0, box as 1"
    assert "aux" not in text
    assert netc.loads(text).params == sum(p.numel() for p in src.parameters())
    _compare(src, text, x, ["0", "1"])


class SideHead(nn.Module):
    """GoogLeNet's pattern: a second output only in training mode (a side head, not an output)."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.aux = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))
        self.c2 = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))

    def forward(self, x):
        x = F.max_pool2d(torch.relu(self.c1(x)), 2)
        side = self.aux(x) if self.training else None
        x = self.head(torch.relu(self.c2(x)))
        return (x, side) if self.training else x


def test_a_tuple_only_in_training_stays_a_side_output():
    src = SideHead()
    text = netc.from_torch(src, torch.randn(1, 3, 8, 8))
    assert "outputs " not in text and "aux " in text
    assert netc.loads(text).params == sum(p.numel() for p in src.parameters())
    assert src.training        # the mode is put back


class BadKey(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return {"feat.0": self.c(x)}


def test_a_key_the_language_cannot_write_is_an_error_naming_it():
    with pytest.raises(ImportError_, match=r"under the key 'feat.0'"):
        netc.from_torch(BadKey(), torch.randn(1, 3, 8, 8))


FPN_SPEC = """input HxW RGB
defaults conv(bn=true, act=relu)
conv3-16/2 -> conv3-16 as c2
conv3-32/2 -> conv3-32 as c3
conv1-32(bn=false, act=none) as lat3
from c2
conv1-32(bn=false, act=none) as lat2
add {
    identity
    from lat3 -> upsample(like=lat2)
}
conv3-32(bn=false, act=none) as p2
from lat3
conv3-32(bn=false, act=none) as p3
from p3
maxpool1/2 as p4
outputs p2 as 0, p3 as 1, p4 as pool
"""


def test_a_netc_module_with_outputs_round_trips_with_its_keys_and_tensors(tmp_path):
    torch.manual_seed(0)
    (tmp_path / "fpn.net").write_text(FPN_SPEC)
    ir0 = netc.load(str(tmp_path / "fpn.net"))     # the module knows its spec: any input size
    src = netc.compile(ir0).eval()
    _randomise_bn(src)
    x = torch.randn(1, 3, 48, 48)
    text = netc.from_torch(src, x)
    ir = netc.loads(text)
    d = diff(ir0, ir)
    assert d.identical, [(e.op, e.old and e.old.name, e.new and e.new.name, e.changes) for e in d.edits]
    assert list(ir.outputs) == ["0", "1", "pool"] and ir.params == ir0.params
    assert _outputs_line(text) == "outputs p2 as 0, p3 as 1, p4 as pool"
    _compare(src, text, x, ["0", "1", "pool"])


@pytest.mark.parametrize("name", ["resnet50_fpn", "yolov8n"])
def test_bundled_detection_specs_keep_their_output_keys(name):
    ir0 = netc.load(name)
    model = netc.compile(ir0, device="meta")
    h = ir0.input_shape[1] if isinstance(ir0.input_shape[1], int) else 256
    text = netc.from_torch(model, torch.empty(1, 3, h, h, device="meta"))
    ir = netc.loads(text)
    assert list(ir.outputs) == list(ir0.outputs) and ir.params == ir0.params
    assert {k: tuple(t) for k, t in ir.output_shapes.items()} == {k: tuple(t) for k, t in ir0.output_shapes.items()}
