"""ONNX files netc did not write: hand-written modules laid out as torchvision's (squeeze-excitation
with SiLU and hard activations, ReLU6, ConvNeXt's channels-last block, DenseNet's repeated concats,
Inception-v3's split branch, ShuffleNet's channel shuffle) exported by torch's TorchScript exporter
in eval mode (batch norm folded into the convolutions), imported with their weights, and compared
with the module's own outputs. An operator netc cannot express is an error naming the op and node."""
from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import netc  # noqa: E402
from netc.importers import ImportError_, from_onnx  # noqa: E402

from conftest import run_cli  # noqa: E402


def _roundtrip(model, x, tmp_path):
    """(imported spec text, the module's output, the imported module's output)."""
    torch.manual_seed(0)
    model.eval()
    with torch.no_grad():
        for m in model.modules():       # batch norms that do something, so folding them matters
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    f = tmp_path / "m.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(f), dynamo=False, opset_version=17)
    r = run_cli("import", str(f), "-o", str(tmp_path / "m.net"), "--weights", str(tmp_path / "m.pt"))
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "m.net").read_text()
    back = netc.compile(str(tmp_path / "m.net")).eval()
    netc.load_weights(back, torch.load(tmp_path / "m.pt", weights_only=True))
    with torch.no_grad():
        return text, model(x), back(x)


def _close(a, b):
    return a.shape == b.shape and float((a - b).abs().max()) <= 1e-4 * max(1.0, float(a.abs().max()))


class SE(nn.Module):
    """torchvision's SqueezeExcitation: pool, 1x1, act, 1x1, gate, times the input."""

    def __init__(self, c, s, act=nn.SiLU, gate=nn.Sigmoid):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1, self.fc2 = nn.Conv2d(c, s, 1), nn.Conv2d(s, c, 1)
        self.activation, self.scale_activation = act(), gate()

    def forward(self, x):
        return self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x))))) * x


class EfficientLike(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.SiLU())
        self.block = nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1, groups=16, bias=False), nn.BatchNorm2d(16), nn.SiLU(),
                                   SE(16, 4), nn.Conv2d(16, 24, 1, bias=False), nn.BatchNorm2d(24))
        self.v3 = nn.Sequential(nn.Conv2d(24, 32, 1), nn.Hardswish(), SE(32, 8, nn.ReLU, nn.Hardsigmoid),
                                nn.Conv2d(32, 32, 1), nn.ReLU6())
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.v3(self.block(self.stem(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class CNBlock(nn.Module):
    """torchvision's ConvNeXt block: depthwise 7x7, to channels-last, LayerNorm, Linear, GELU,
    Linear, back, a learned scale, added to the input."""

    def __init__(self, c):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm, self.l1, self.l2 = nn.LayerNorm(c, eps=1e-6), nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
        self.layer_scale = nn.Parameter(torch.rand(c, 1, 1))

    def forward(self, x):
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.l2(F.gelu(self.l1(self.norm(y)))).permute(0, 3, 1, 2)
        return x + self.layer_scale * y


class ConvNeXtLike(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 4, 4)
        self.blocks = nn.Sequential(CNBlock(16), CNBlock(16))
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        return self.head(torch.flatten(F.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1), 1))


class DenseLike(nn.Module):
    """DenseNet's layers each concatenate every earlier output again (torchvision's _DenseLayer)."""

    def __init__(self, c=8, g=4, n=4):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.layers = nn.ModuleList(nn.Sequential(nn.BatchNorm2d(c + i * g), nn.ReLU(), nn.Conv2d(c + i * g, g, 3,
                                                                                                  padding=1))
                                    for i in range(n))
        self.fc = nn.Linear(c + n * g, 3)

    def forward(self, x):
        feats = [self.stem(x)]
        for layer in self.layers:
            feats.append(layer(torch.cat(feats, 1)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(torch.cat(feats, 1), 1), 1))


class SplitBranch(nn.Module):
    """Inception-v3's InceptionE: a branch that splits in two again, its halves concatenated
    (the exporter flattens the concat of concats into one)."""

    def __init__(self):
        super().__init__()
        self.b1, self.b3_1 = nn.Conv2d(3, 4, 1), nn.Conv2d(3, 6, 1)
        self.b3_2a, self.b3_2b = nn.Conv2d(6, 5, (1, 3), padding=(0, 1)), nn.Conv2d(6, 5, (3, 1), padding=(1, 0))
        self.pool = nn.Conv2d(3, 2, 1)

    def forward(self, x):
        b3 = F.relu(self.b3_1(x))
        b3 = torch.cat([F.relu(self.b3_2a(b3)), F.relu(self.b3_2b(b3))], 1)
        p = F.relu(self.pool(F.avg_pool2d(x, 3, 1, 1)))
        return torch.cat([F.relu(self.b1(x)), b3, p], 1)


class Shuffle(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 12, 1)
        self.conv2 = nn.Conv2d(12, 6, 3, groups=3)

    def forward(self, x):
        x = self.conv(x)
        n, c, h, w = x.shape
        x = x.view(n, 3, c // 3, h, w).transpose(1, 2).contiguous().view(n, c, h, w)
        return self.conv2(x)


@pytest.mark.parametrize("make, words", [
    (EfficientLike, ["silu", "hardswish", "hardsigmoid", "relu6", "mul {"]),
    (ConvNeXtLike, ["ln(eps=1e-06)", "gelu", "layer-scale"]),
    (DenseLike, ["concat {"]),
    (Shuffle, ["shuffle(3)"]),
])
def test_torchvision_layouts_import_with_their_outputs(make, words, tmp_path):
    torch.manual_seed(0)
    text, want, got = _roundtrip(make(), torch.randn(1, 3, 32, 32), tmp_path)
    assert _close(want, got), text
    for w in words:
        assert w in text, (w, text)


def test_a_flattened_concat_of_concats_imports_as_nested_branches(tmp_path):
    torch.manual_seed(0)
    text, want, got = _roundtrip(SplitBranch(), torch.randn(1, 3, 16, 16), tmp_path)
    assert _close(want, got), text
    ir = netc.loads(text)
    assert ir.params == sum(p.numel() for p in SplitBranch().parameters())    # b3_1 once, not once per half
    assert text.count("concat {") == 2, text


def test_densenet_concats_import_as_a_chain(tmp_path):
    """Layer k's concat of x0 .. xk is the concat made before it and xk: each dense layer is one
    concat { identity ; ... }, not a concat of every earlier branch written again."""
    torch.manual_seed(0)
    text, want, got = _roundtrip(DenseLike(n=6), torch.randn(1, 3, 16, 16), tmp_path)
    assert _close(want, got)
    assert netc.loads(text).params == sum(p.numel() for p in DenseLike(n=6).parameters())


class ChannelSplit(nn.Module):
    """ShuffleNet V2's basic unit: x.chunk(2, 1), the first half passed on, the second through layers."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1)
        self.branch = nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4), nn.ReLU(),
                                    nn.Conv2d(4, 4, 3, padding=1, groups=4))

    def forward(self, x):
        a, b = self.conv(x).chunk(2, dim=1)
        return torch.cat([a, self.branch(b)], 1)


class UnevenParts(nn.Module):
    """A part of uneven size (torch.split(x, [2, 6], 1)), read on its own."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 8, 1), nn.Conv2d(6, 5, 1)

    def forward(self, x):
        a, b = torch.split(self.conv(x), [2, 6], 1)
        return self.fc(F.relu(b))


def test_a_channel_split_imports_as_split_with_its_outputs(tmp_path):
    torch.manual_seed(0)
    text, want, got = _roundtrip(ChannelSplit(), torch.randn(1, 3, 8, 8), tmp_path)
    assert _close(want, got), text
    assert "split(2) {" in text and "identity" in text, text
    assert netc.loads(text).params == sum(p.numel() for p in ChannelSplit().parameters()) - 2 * 4   # BN folded into the conv


def test_an_uneven_part_imports_as_chunk(tmp_path):
    torch.manual_seed(0)
    text, want, got = _roundtrip(UnevenParts(), torch.randn(1, 3, 8, 8), tmp_path)
    assert _close(want, got), text
    assert "chunk([2, 6], 1)" in text, text


class RowSlice(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1)

    def forward(self, x):
        return self.conv(x)[:, :, 1:]


def test_a_slice_of_rows_is_an_error_naming_the_op_and_node(tmp_path):
    f = tmp_path / "s.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(RowSlice().eval(), (torch.randn(1, 3, 8, 8),), str(f), dynamo=False, opset_version=17)
    with pytest.raises(ImportError_, match=r"node \S+ \(Slice\) takes a slice along axis 2 of a map"):
        from_onnx(str(f))
    r = run_cli("import", str(f))
    assert r.returncode == 1 and "chunk" in r.stderr.lower() and "Traceback" not in r.stderr


def test_onnx_operators_are_declared_on_their_kinds():
    from netc.importers.onnx_import import OPS, _declared
    from netc.kinds import DEFAULT
    declared = _declared()
    assert declared["HardSigmoid"] == ("hardsigmoid", {"alpha": 1 / 6, "beta": 0.5})
    assert declared["Relu"][0] == "relu" and declared["GlobalAveragePool"][0] == "gap"
    assert not set(declared) & set(OPS)          # one home for each operator
    assert all(DEFAULT.get(k) is not None for k, _ in declared.values())
