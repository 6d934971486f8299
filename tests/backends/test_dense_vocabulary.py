"""The vocabulary of dense prediction: chunk (one part of the channels), split { } (a branch per
part, concatenated), upsample(like=NAME) (to another layer's size, any input size), and a 1 x 1
branch repeated over the others' size in concat and add.

Oracle: hand-written torch modules (ShuffleNetV2's unit, DeepLabV3's ASPP pooling, YOLOv8's C2f
split) with netc's module loaded from them."""
import pytest
import torch
from torch import nn
import torch.nn.functional as F

import netc
from netc.dsl.errors import NetcError


def _cbr(cin, cout, k=1, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, padding=k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, *([nn.ReLU()] if act else []))


class ShuffleUnit(nn.Module):
    """torchvision's InvertedResidual with stride 1: x1, x2 = x.chunk(2, 1); cat(x1, branch2(x2)); shuffle."""

    def __init__(self, c):
        super().__init__()
        h = c // 2
        self.branch2 = nn.Sequential(_cbr(h, h), _cbr(h, h, 3, groups=h, act=False), _cbr(h, h))

    def forward(self, x):
        x1, x2 = x.chunk(2, dim=1)
        return F.channel_shuffle(torch.cat((x1, self.branch2(x2)), 1), 2)


SHUFFLE = """input HxW 16ch
defaults conv(bias=false, bn=true, act=relu)
split(2) {
    identity
    conv1-8 -> conv3-8(groups=8, act=none) -> conv1-8
}
shuffle(2)
"""


def _randomise_bn(m):
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2)
    return m


def test_split_is_shufflenets_unit():
    torch.manual_seed(0)
    ref = _randomise_bn(ShuffleUnit(16)).eval()
    ir = netc.loads(SHUFFLE)
    assert ir.params == sum(p.numel() for p in ref.parameters())
    m = netc.compile(ir).eval()
    netc.load_weights(m, ref)
    for hw in ((9, 13), (16, 16)):
        x = torch.randn(2, 16, *hw)
        with torch.no_grad():
            torch.testing.assert_close(m(x), ref(x), rtol=1e-5, atol=1e-5)


class C2f(nn.Module):
    """YOLOv8's C2f with one bottleneck: cv1, then y = cv1(x).chunk(2, 1); cat(y0, y1, m(y1)); cv2."""

    def __init__(self, c):
        super().__init__()
        self.cv1, self.m, self.cv2 = _cbr(c, c), nn.Sequential(_cbr(c // 2, c // 2, 3), _cbr(c // 2, c // 2, 3)), \
            _cbr(3 * (c // 2), c)

    def forward(self, x):
        a, b = self.cv1(x).chunk(2, 1)
        return self.cv2(torch.cat([a, b, b + self.m(b)], 1))


C2F = """input HxW 8ch
defaults conv(bias=false, bn=true, act=relu)
conv1-8 as cv1
concat {
    chunk(2, 0)
    chunk(2, 1) as y1
    {
        from y1
        add {
            identity
            conv3-4 -> conv3-4
        }
    }
}
conv1-8 as cv2
"""


def test_chunk_selects_parts_like_yolov8s_c2f():
    torch.manual_seed(1)
    ref = _randomise_bn(C2f(8)).eval()
    ir = netc.loads(C2F)
    assert ir.params == sum(p.numel() for p in ref.parameters())
    m = netc.compile(ir).eval()
    netc.load_weights(m, ref)
    x = torch.randn(1, 8, 12, 10)
    with torch.no_grad():
        torch.testing.assert_close(m(x), ref(x), rtol=1e-5, atol=1e-5)


class ASPPPool(nn.Module):
    """DeepLabV3's ASPP: a 1x1 branch and a pooled branch upsampled (bilinear) to the map's size, concatenated."""

    def __init__(self, c, o):
        super().__init__()
        self.b0, self.pool = _cbr(c, o), _cbr(c, o)

    def forward(self, x):
        p = self.pool(F.adaptive_avg_pool2d(x, 1))
        return torch.cat([self.b0(x), F.interpolate(p, size=x.shape[-2:], mode="bilinear", align_corners=False)], 1)


@pytest.mark.parametrize("pool_branch", ["gap -> conv1-4 -> upsample(like=m, mode=bilinear)", "gap -> conv1-4"])
def test_pooled_branch_upsampled_or_repeated_equals_deeplabs(pool_branch):
    text = (f"input HxW 6ch\ndefaults conv(bias=false, bn=true, act=relu)\nidentity as m\nconcat {{\n"
            f"    conv1-4\n    {pool_branch}\n}}\n")
    torch.manual_seed(2)
    ref = _randomise_bn(ASPPPool(6, 4)).eval()
    m = netc.compile(netc.loads(text)).eval()
    netc.load_weights(m, ref)
    x = torch.randn(1, 6, 11, 7)
    with torch.no_grad():
        torch.testing.assert_close(m(x), ref(x), rtol=1e-5, atol=1e-5)


def test_upsample_like_keeps_any_input_size():
    text = "input HxW RGB\nconv3-8/2 as a\nconv3-8/2\nupsample(like=input, mode=bilinear)\n"
    ir = netc.loads(text)
    assert str(ir.output_shape) == str(ir.input_shape).replace("3", "8", 1) or ir.any_size
    m = netc.compile(ir).eval()
    for hw in ((37, 50), (64, 64)):
        assert m(torch.randn(1, 3, *hw)).shape == (1, 8, *hw)


@pytest.mark.parametrize("text, message", [
    ("input 8x8 16ch\nsplit(3) {\n    identity\n    conv1-8\n}\n", "split(3) makes 3 parts but has 2 branches"),
    ("input 8x8 16ch\nchunk(3, 1)\n", "16 channels do not split into 3 equal parts"),
    ("input 8x8 16ch\nchunk([4, 4], 1)\n", "the parts [4, 4] add up to 8 channels, but the input has 16"),
    ("input 8x8 16ch\nchunk(2, 2)\n", "index 2 is past the last of 2 parts"),
    ("input 8x8 16ch\nupsample(like=nowhere)\n", "no earlier layer is named 'nowhere'"),
    ("input 8x8 16ch\nupsample(2, like=input)\n", "give one of a factor"),
])
def test_mistakes_are_located(text, message):
    with pytest.raises(NetcError) as e:
        netc.loads(text)
    assert message in str(e.value)


def test_torch_jit_script_takes_the_new_layers():
    """docs/pytorch.md: a compiled module works with torch.jit.script; upsample(like=...), chunk,
    split, a repeated 1x1 concat branch, concat(axis=tokens) and dfl included."""
    text = ("input HxW RGB\nconv3-64/2 as a\nsplit(2) {\n    identity\n    chunk(2, 1) -> conv1-16\n}\n"
            "concat {\n    upsample(like=input, mode=bilinear) -> conv1-56\n    gap -> conv1-8\n}\n"
            "to-tokens(flat) as t\nfrom a\nto-tokens(flat)\nconcat(axis=tokens) {\n    identity\n    from t\n}\n"
            "dfl(16) as dist\noutputs t, dist\n")
    m = netc.compile(netc.loads(text)).eval()
    s = torch.jit.script(m)
    x = torch.randn(1, 3, 10, 14)
    with torch.no_grad():
        want, got = m(x), s(x)
    assert list(got) == ["t", "dist"]
    for k in want:
        torch.testing.assert_close(got[k], want[k])


def test_upsample_to_a_symbolic_size_of_the_input():
    """upsample(size=[H/8, W/8]) at any input size: the type says H/8, the module gives input // 8;
    the reference is torch's interpolate to that size."""
    text = "input HxW RGB\nconv3-8/4 as a\nupsample(size=[H/2, W/2], mode=bilinear)\n"
    ir = netc.loads(text)
    assert str(ir.output_shape[1]) == "H/2" and ir.any_size
    m = netc.compile(ir).eval()
    for hw in ((64, 64), (37, 50)):
        x = torch.randn(1, 3, *hw)
        with torch.no_grad():
            y = m(x)
        assert tuple(y.shape) == (1, 8, hw[0] // 2, hw[1] // 2)
    fixed = netc.loads(text.replace("HxW", "64x96"))
    assert fixed.output_shape == (8, 32, 48)


@pytest.mark.parametrize("size, message", [("[W/2, H/2]", "reads 'W', but the input's height is 'H'"),
                                           ("[H-2, W]", "is not a size"), ("[H/0, W]", "at least 1")])
def test_symbolic_size_mistakes(size, message):
    with pytest.raises(NetcError, match=message):
        netc.loads(f"input HxW RGB\nconv3-8/2\nupsample(size={size})\n")
