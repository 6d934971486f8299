"""netc.load_weights: a compiled model takes the weights of an independently written model of the
same architecture and then computes the same function. The references below are written by
hand in the layouts people use (torchvision's ``features.N`` / ``classifier.N``, BVLC's GoogLeNet);
bench/bench_forward.py times them against the compiled models."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import netc  # noqa: E402
from netc.backends.torch import WeightsError  # noqa: E402


# ---------------------------------------------------------------- hand-written references
class VGG16(nn.Module):
    """VGG-16 (config D) in torchvision's layout."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        layers, c = [], 3
        for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(),
                                        nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(),
                                        nn.Linear(4096, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def _conv(cin, cout, k, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, padding=k // 2), nn.ReLU(inplace=True))


class Inception(nn.Module):
    def __init__(self, cin, n1, r3, n3, r5, n5, pp):
        super().__init__()
        self.b1 = _conv(cin, n1, 1)
        self.b2 = nn.Sequential(_conv(cin, r3, 1), _conv(r3, n3, 3))
        self.b3 = nn.Sequential(_conv(cin, r5, 1), _conv(r5, n5, 5))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), _conv(cin, pp, 1))

    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


class AuxHead(nn.Module):
    def __init__(self, cin, num_classes):
        super().__init__()
        self.pool = nn.AvgPool2d(5, 3)
        self.conv = _conv(cin, 128, 1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.drop = nn.Dropout(0.7)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x):
        x = torch.flatten(self.conv(self.pool(x)), 1)
        return self.fc2(self.drop(torch.relu(self.fc1(x))))


class GoogLeNet(nn.Module):
    """GoogLeNet as BVLC's deploy/train_val prototxt (Table 1 with Caffe's ceil pooling and LRN)."""

    CFG = {"3a": (192, 64, 96, 128, 16, 32, 32), "3b": (256, 128, 128, 192, 32, 96, 64),
           "4a": (480, 192, 96, 208, 16, 48, 64), "4b": (512, 160, 112, 224, 24, 64, 64),
           "4c": (512, 128, 128, 256, 24, 64, 64), "4d": (512, 112, 144, 288, 32, 64, 64),
           "4e": (528, 256, 160, 320, 32, 128, 128), "5a": (832, 256, 160, 320, 32, 128, 128),
           "5b": (832, 384, 192, 384, 48, 128, 128)}

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.conv1 = _conv(3, 64, 7, 2)
        self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.lrn = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)
        self.conv2_reduce = _conv(64, 64, 1)
        self.conv2 = _conv(64, 192, 3)
        for name, args in self.CFG.items():
            setattr(self, f"inception{name}", Inception(*args))
        self.avgpool = nn.AvgPool2d(7, 1)
        self.drop = nn.Dropout(0.4)
        self.fc = nn.Linear(1024, num_classes)
        self.aux1 = AuxHead(512, num_classes)
        self.aux2 = AuxHead(528, num_classes)

    def forward(self, x):
        x = self.lrn(self.pool(self.conv1(x)))
        x = self.pool(self.lrn(self.conv2(self.conv2_reduce(x))))
        x = self.pool(self.inception3b(self.inception3a(x)))
        a = self.inception4a(x)
        x = self.inception4c(self.inception4b(a))
        d = self.inception4d(x)
        x = self.pool(self.inception4e(d))
        x = self.inception5b(self.inception5a(x))
        out = self.fc(self.drop(torch.flatten(self.avgpool(x), 1)))
        if self.training:
            return out, self.aux1(a), self.aux2(d)
        return out


# ---------------------------------------------------------------- tests
def test_vgg16_equals_reference():
    torch.manual_seed(0)
    ref = VGG16().eval()
    m = netc.compile("vgg:D").eval()
    netc.load_weights(m, ref.state_dict())
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert (m(x) - ref(x)).abs().max().item() < 1e-5


@pytest.mark.skipif("googlenet" not in netc.bundled_names(), reason="no bundled googlenet spec")
def test_googlenet_equals_reference_with_side_outputs():
    torch.manual_seed(0)
    ref = GoogLeNet(num_classes=10)
    m = netc.compile("googlenet", num_classes=10)
    netc.load_weights(m, ref)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert (m.eval()(x) - ref.eval()(x)).abs().max().item() < 1e-5
        for model in (m.train(), ref.train()):
            for d in model.modules():
                if isinstance(d, nn.Dropout):
                    d.eval()
        got, want = m(x), ref(x)
    assert len(got) == len(want) == 3 and got[1].shape == (1, 10)
    for g, w in zip(got, want):
        assert (g - w).abs().max().item() < 1e-5


def test_mismatch_names_first_layer():
    d = netc.compile("vgg:D", device="meta").state_dict()
    e = netc.compile("vgg:E", device="meta")
    with pytest.raises(WeightsError) as info:
        netc.load_weights(e, d)
    msg = info.value.message
    assert "conv3_4.weight" in msg and "[256, 256, 3, 3]" in msg and "conv4_1.weight" in msg
    assert "[512, 256, 3, 3]" in msg and "vgg.net:" in msg


def test_count_mismatch_and_strict():
    small = "input 8x8 RGB\nconv3-4\nmaxpool\nFC-{n}\n"
    a = netc.compile(netc.loads(small.format(n=3)))
    sd = dict(a.state_dict())
    sd["extra.weight"] = torch.zeros(2)
    b = netc.compile(netc.loads(small.format(n=3)))
    with pytest.raises(WeightsError, match="model has 4 tensors and the source 5.*extra.weight"):
        netc.load_weights(b, sd)
    netc.load_weights(b, sd, strict=False)
    assert torch.equal(b.fc2.weight, a.fc2.weight)
    with pytest.raises(WeightsError, match="not a|expected a state_dict"):
        netc.load_weights(b, [1, 2])


def test_fc_weights_onto_conv():
    # the same function written with an FC and with a conv as large as its input (dense form)
    fc = netc.compile(netc.loads("input 6x6 RGB\nconv3-4\nmaxpool\nFC-5\n")).eval()
    conv = netc.compile(netc.loads("input 6x6 RGB\nconv3-4\nmaxpool\nconv(out=5, k=3, pad=0, act=none)\n"
                                   "flatten\n")).eval()
    netc.load_weights(conv, fc.state_dict())
    x = torch.randn(3, 3, 6, 6)
    with torch.no_grad():
        assert torch.allclose(conv(x), fc(x), atol=1e-6)


def test_strict_false_loads_a_backbone_under_a_new_head():
    """Fine-tuning: ImageNet weights into a 20-class VGG-16 load up to fc8, with a warning."""
    torch.manual_seed(0)
    src = netc.compile("vgg:D", device="meta").to_empty(device="cpu")
    with torch.no_grad():
        for p in src.parameters():
            p.normal_()
    dst = netc.compile("vgg:D", num_classes=20)
    head = dst.fc8.weight.detach().clone()
    with pytest.warns(UserWarning, match="loaded the first 30 of 32 tensors; fc8.weight"):
        netc.load_weights(dst, src.state_dict(), strict=False)
    assert torch.equal(dst.fc7.weight, src.fc7.weight) and torch.equal(dst.conv1_1.bias, src.conv1_1.bias)
    assert torch.equal(dst.fc8.weight, head)
    with pytest.raises(netc.NetcError, match="tensor 31: fc8.weight") as e:
        netc.load_weights(dst, src.state_dict())
    assert "strict=False loads everything before" in e.value.hint


def test_meta_tensors_hold_no_weights():
    with pytest.raises(netc.NetcError, match="model is on the meta device"):
        netc.load_weights(netc.compile("vgg:A", device="meta"), netc.compile("vgg:A", device="meta").state_dict())


def test_side_heads_registered_mid_network_load_by_structure():
    """torchvision registers Inception3's AuxLogits between Mixed_6e and Mixed_7a, and GoogLeNet's
    aux1/aux2 before its fc; netc lists side heads after the main path. load_weights places each
    head's tensors where their shapes fit (they used to fail: 'do not fit at tensor 3')."""
    spec = ("input 16x16 RGB\nconv3-8 as a\nconv3-16 as b\ngap\nFC-10 as fc\n"
            "aux side on a weight 0.4 {\n    gap\n    FC-10 as fc\n}\n"
            "aux late on b weight 0.3 {\n    gap\n    FC-5 as fc\n}\n")

    class Ref(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 8, 3, padding=1)
            self.aux1 = nn.Linear(8, 10)          # the side head on a, registered before b
            self.b = nn.Conv2d(8, 16, 3, padding=1)
            self.aux2 = nn.Linear(16, 5)          # the one on b, before the main fc
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            a = torch.relu(self.a(x))
            b = torch.relu(self.b(a))
            return self.fc(b.mean((2, 3))), self.aux1(a.mean((2, 3))), self.aux2(b.mean((2, 3)))

    torch.manual_seed(0)
    ref, m = Ref(), netc.compile(netc.loads(spec))
    assert [k for k in m.state_dict()] == ["a.weight", "a.bias", "b.weight", "b.bias", "fc.weight", "fc.bias",
                                           "side.fc.weight", "side.fc.bias", "late.fc.weight", "late.fc.bias"]
    netc.load_weights(m, ref.state_dict())
    assert torch.equal(m.side.fc.weight, ref.aux1.weight) and torch.equal(m.late.fc.weight, ref.aux2.weight)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        for got, want in zip(m.train()(x), ref(x)):
            assert torch.allclose(got, want, atol=1e-6)
    wrong = dict(ref.state_dict())
    wrong["aux2.weight"] = torch.zeros(5, 17)    # no placement fits: the plain order's error, as before
    with pytest.raises(WeightsError, match="do not fit at tensor 3"):
        netc.load_weights(m, wrong)
