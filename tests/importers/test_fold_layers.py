"""A transformer layer is two residuals (attention, MLP) under one scope of the source's: it folds as
one block repeated (`blocks() x3`), as the source writes it, not as two blocks called in turn; a
ResNet stage, whose units have a scope each (layer2/0, layer2/1), still folds by unit."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import netc  # noqa: E402
from tests.conftest import imports_as_module  # noqa: E402


class Attention(nn.Module):      # timm's layout: qkv and proj around scaled dot-product attention
    def __init__(self, d, heads):
        super().__init__()
        self.num_heads, self.qkv, self.proj = heads, nn.Linear(d, 3 * d), nn.Linear(d, d)

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4).unbind(0)
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c))


Attention.__module__ = "timm.layers.attention"      # read whole, as netc.from_torch reads timm's


class Layer(nn.Module):          # timm's Block: the adds are written in forward (torch.fx names them add_1 ...)
    def __init__(self, d):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = Attention(d, 2)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Tiny(nn.Module):
    def __init__(self, d=16, n=3):
        super().__init__()
        self.proj = nn.Conv2d(3, d, 4, 4)
        self.blocks = nn.Sequential(*[Layer(d) for _ in range(n)])
        self.head = nn.Linear(d, 5)

    def forward(self, x):
        x = self.proj(x).flatten(2).transpose(1, 2)
        return self.head(self.blocks(x).mean(1))


def test_a_transformer_layer_folds_as_one_block():
    torch.manual_seed(0)
    src, x = Tiny().eval(), torch.randn(2, 3, 16, 16)
    text = netc.from_torch(src, x)
    calls = [l for l in text.splitlines() if l.endswith(" x3")]
    assert len(calls) == 1, text
    body = text[text.index("block "):text.index("}\n\n") + 2]
    assert body.count("add {") == 2, body          # the attention and the MLP residual, in one block
    imports_as_module(src, x, text)
