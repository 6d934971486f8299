"""DETR's encoder self-attention: `mhsa(heads, pos=sine)` on tokens on a grid adds the fixed 2-D sine
position embedding to the queries and keys, not the values.

Oracle: DETR's own code (models/position_encoding.py PositionEmbeddingSine with normalize=True and no
mask, models/transformer.py TransformerEncoderLayer: q = k = src + pos, value = src), written out
here with torch's nn.MultiheadAttention, whose parameters netc's module loads."""
import math

import pytest
import torch
from torch import nn

import netc
from netc.dsl.errors import NetcError


class PositionEmbeddingSine(nn.Module):
    def __init__(self, num_pos_feats=64, temperature=10000):
        super().__init__()
        self.num_pos_feats, self.temperature, self.scale = num_pos_feats, temperature, 2 * math.pi

    def forward(self, x):
        not_mask = torch.ones(x.shape[0], *x.shape[-2:], dtype=torch.bool)
        y_embed = not_mask.cumsum(1, dtype=torch.float32)
        x_embed = not_mask.cumsum(2, dtype=torch.float32)
        y_embed = y_embed / (y_embed[:, -1:, :] + 1e-6) * self.scale
        x_embed = x_embed / (x_embed[:, :, -1:] + 1e-6) * self.scale
        dim_t = torch.arange(self.num_pos_feats, dtype=torch.float32)
        dim_t = self.temperature ** (2 * (dim_t // 2) / self.num_pos_feats)
        pos_x, pos_y = x_embed[:, :, :, None] / dim_t, y_embed[:, :, :, None] / dim_t
        pos_x = torch.stack((pos_x[:, :, :, 0::2].sin(), pos_x[:, :, :, 1::2].cos()), dim=4).flatten(3)
        pos_y = torch.stack((pos_y[:, :, :, 0::2].sin(), pos_y[:, :, :, 1::2].cos()), dim=4).flatten(3)
        return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)


class EncoderAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.attn, self.pos = nn.MultiheadAttention(d, heads), PositionEmbeddingSine(d // 2)

    def forward(self, x):                          # a (N, C, H, W) map; out: (N, H, W, C)
        n, c, h, w = x.shape
        pos = self.pos(x).flatten(2).permute(2, 0, 1)
        src = x.flatten(2).permute(2, 0, 1)
        out = self.attn(src + pos, src + pos, value=src)[0]
        return out.permute(1, 0, 2).reshape(n, h, w, c)


@pytest.mark.parametrize("hw", [(6, 9), (5, 5)])
def test_equals_detrs_encoder_attention(hw):
    torch.manual_seed(0)
    ref = EncoderAttention(32, 4).eval()
    ir = netc.loads(f"input {hw[0]}x{hw[1]} 32ch\nto-tokens\nmhsa(4, pos=sine)\n")
    assert ir.params == sum(p.numel() for p in ref.parameters())
    m = netc.compile(ir).eval()
    netc.load_weights(m, ref.attn.state_dict())
    x = torch.randn(2, 32, *hw)
    with torch.no_grad():
        torch.testing.assert_close(m(x), ref(x), rtol=1e-5, atol=1e-5)
    # the position embedding matters: without it the output differs
    plain = netc.compile(netc.loads(f"input {hw[0]}x{hw[1]} 32ch\nto-tokens(flat)\nmhsa(4)\n")).eval()
    netc.load_weights(plain, ref.attn.state_dict())
    with torch.no_grad():
        assert (plain(x).reshape(2, *hw, 32) - ref(x)).abs().max() > 1e-3


def test_counts_and_errors():
    ir = netc.loads("input 8x8 64ch\nto-tokens\nmhsa(8, pos=sine)\n")
    n = ir.layers()[-1]
    assert n.paper == "MSA(8, pos=sine)" and n.type == (8, 8, 64)
    assert n.macs == 4 * 64 * 64 * 64 + 2 * 64 * 64 * 64
    with pytest.raises(NetcError, match="needs tokens on a grid"):
        netc.loads("input 8x8 64ch\nto-tokens(flat)\nmhsa(8, pos=sine)\n")
    with pytest.raises(NetcError, match="pos"):
        netc.loads("input 8x8 64ch\nto-tokens\nmhsa(8, pos=cosine)\n")
