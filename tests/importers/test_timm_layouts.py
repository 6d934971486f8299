"""from_torch on hand-written modules with timm's layouts (timm itself is not a dependency): a norm
layer that reads ``x.ndim``, a squeeze-excitation gate (``x * gate``), ConvNeXt's channels-last
detour, DenseNet's ``cat`` of every earlier feature, in-place ops through torch.export, and a
clear error for an op netc has no kind for. Each spec is compared with the module it came from:
its parameter count and, after ``netc.load_weights``, its outputs in eval mode."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import netc  # noqa: E402
from netc.importers.graph import ImportError_  # noqa: E402
from tests.conftest import imports_as_module  # noqa: E402


def _same(src: nn.Module, x, text: str | None = None) -> str:
    return imports_as_module(src, x, text)


class NormAct(nn.Module):
    """timm's BatchNormAct2d as a module of its own: reads x.ndim, then F.batch_norm and ReLU."""

    def __init__(self, c):
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.ones(c)), nn.Parameter(torch.zeros(c))
        self.register_buffer("running_mean", torch.zeros(c))
        self.register_buffer("running_var", torch.ones(c))

    def forward(self, x):
        torch._assert(x.ndim == 4, "expected 4D input")
        x = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, self.training, 0.1, 1e-3)
        return F.relu(x)


class SE(nn.Module):
    def __init__(self, c, r):
        super().__init__()
        self.reduce, self.expand = nn.Conv2d(c, r, 1), nn.Conv2d(r, c, 1)

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.expand(F.relu(self.reduce(s))))


def test_norm_reading_ndim_and_se_gate():
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), NormAct(16), SE(16, 4),
                        nn.Conv2d(16, 8, 3, stride=2), nn.Flatten(), nn.Linear(8 * 7 * 7, 10))
    text = _same(net, torch.randn(2, 3, 16, 16))
    assert "mul {" in text and "global-avgpool" in text and "eps=0.001" in text


class ChannelsLast(nn.Module):
    """ConvNeXt's block as timm writes it: depthwise conv, permute to channels last, LayerNorm,
    Linear, GELU, Linear, permute back, a learned scale, added to the input."""

    def __init__(self, c):
        super().__init__()
        self.conv_dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.fc1, self.fc2 = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
        self.gamma = nn.Parameter(torch.full((c,), 1e-6))

    def forward(self, x):
        y = self.conv_dw(x).permute(0, 2, 3, 1)
        y = self.fc2(F.gelu(self.fc1(self.norm(y)))).permute(0, 3, 1, 2)
        return x + y.mul(self.gamma.reshape(1, -1, 1, 1))


def test_channels_last_block_reads_on_the_map():
    net = nn.Sequential(nn.Conv2d(3, 8, 4, stride=4), ChannelsLast(8), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(8, 5))
    text = _same(net, torch.randn(2, 3, 32, 32))
    assert "to-tokens" not in text and "to-map" not in text and "layer-scale" in text
    assert "ln(eps=1e-06)" in text and "conv1-32" in text


class Tokens(nn.Module):
    """A patch embedding kept on its grid (Swin's, channels last), a norm, pooling over the grid."""

    def __init__(self):
        super().__init__()
        self.proj, self.norm, self.head = nn.Conv2d(3, 12, 4, stride=4), nn.LayerNorm(12), nn.Linear(12, 3)

    def forward(self, x):
        x = self.norm(self.proj(x).permute(0, 2, 3, 1))
        return self.head(x.mean((1, 2)))


def test_grid_tokens():
    text = _same(Tokens(), torch.randn(2, 3, 16, 16))
    assert "patch4-12(grid)" in text and "token-pool" in text


class Dense(nn.Module):
    """DenseNet's dense block as timm writes it: every layer reads cat(x0 ... xk)."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(nn.Conv2d(4 + 2 * i, 2, 3, padding=1) for i in range(3))
        self.head = nn.Linear(10, 2)

    def forward(self, x):
        feats = [x]
        for conv in self.layers:
            feats.append(conv(torch.cat(feats, 1)))
        return self.head(torch.cat(feats, 1).mean((2, 3)))


def test_dense_concatenation():
    text = _same(Dense(), torch.randn(2, 4, 8, 8))
    assert "concat {" in text and "x3" in text, text     # cat(cat(x0, x1), x2): one block, three times


class Branchy(nn.Module):
    """torch.fx cannot follow control flow on a shape: torch.export reads it, in-place ops included."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 6, 3, padding=1), nn.Conv2d(6, 6, 3, padding=1)
        self.act = nn.SiLU(inplace=True)
        self.fc = nn.Linear(6 * 8 * 8, 4)

    def forward(self, x):
        if x.shape[-1] > 4:
            x = self.act(self.a(x))
        y = self.b(x)
        y += x
        return self.fc(torch.flatten(F.hardswish(y), 1))


def test_inplace_ops_through_torch_export():
    _same(Branchy(), torch.randn(1, 3, 8, 8))


class Subtracts(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 4, 3), nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.a(x) - self.b(x)


def test_an_op_without_a_kind_is_named_with_its_node():
    with pytest.raises(ImportError_) as e:
        netc.from_torch(Subtracts(), torch.randn(1, 3, 8, 8))
    msg = str(e.value)
    assert "node sub" in msg and "no netc kind" in msg and "Traceback" not in msg
