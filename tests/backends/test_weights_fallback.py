"""load_weights(model, source_module) where the source's forward never reads one of its buffers
(torchvision's MaxViT holds relative_position_index but its traced forward does not read it, and it
reads its attention's table after the projections): pairing by dataflow fails, the source's
state_dict in registration order pairs tensor for tensor, so that is loaded, with a warning; the
outputs then equal the hand-written module's. Where neither order pairs, the dataflow error stands."""
from __future__ import annotations

import math
import warnings

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import netc  # noqa: E402
from netc.backends.torch import WeightsError  # noqa: E402

SPEC = "input 6x6 64ch\nto-tokens\nblocked-attention(2, window=2, scale=dim) as attn\nto-map\n"


def _rel_index(n: int) -> torch.Tensor:
    coords = torch.stack(torch.meshgrid([torch.arange(n), torch.arange(n)], indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
    rel[:, :, 0] += n - 1
    rel[:, :, 1] += n - 1
    rel[:, :, 0] *= 2 * n - 1
    return rel.sum(-1)


class BlockedAttention(nn.Module):
    """MaxViT's block attention on a (B, C, H, W) map, as torchvision's layout registers it (the bias
    table and the relative_position_index buffer, then to_qkv and merge), but reading the projections
    first and the index from a plain attribute: its traced forward never reads the buffer."""

    def __init__(self, dim: int = 64, heads: int = 2, size: int = 2, table_rows: int | None = None):
        super().__init__()
        self.heads, self.size, self.dim = heads, size, dim
        self.relative_position_bias_table = nn.Parameter(torch.randn(table_rows or (2 * size - 1) ** 2, heads))
        self.register_buffer("relative_position_index", _rel_index(size))
        self.to_qkv = nn.Linear(dim, 3 * dim)
        self.merge = nn.Linear(dim, dim)
        self.index = _rel_index(size).view(-1).tolist()         # a Python list: no tensor read

    def forward(self, x):
        B, C, H, W = x.shape
        p, t = self.size, self.size * self.size
        g = (H // p) * (W // p)
        x = x.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 3, 5, 1).reshape(B, g, t, C)
        q, k, v = torch.chunk(self.to_qkv(x), 3, dim=-1)
        q, k, v = (z.reshape(B, g, t, self.heads, C // self.heads).permute(0, 1, 3, 2, 4) for z in (q, k, v))
        dot = torch.einsum("bghid,bghjd->bghij", q, k * C ** -0.5)
        bias = self.relative_position_bias_table[self.index].view(t, t, -1).permute(2, 0, 1)
        out = torch.einsum("bghij,bghjd->bghid", F.softmax(dot + bias, dim=-1), v)
        out = self.merge(out.permute(0, 1, 3, 2, 4).reshape(B, g, t, C))
        return out.reshape(B, H // p, W // p, p, p, C).permute(0, 5, 1, 3, 2, 4).reshape(B, C, H, W)


def test_a_buffer_the_forward_never_reads_falls_back_to_registration_order():
    torch.manual_seed(0)
    ref = BlockedAttention()
    m = netc.compile(netc.loads(SPEC))
    assert sum(p.numel() for p in m.parameters()) == sum(p.numel() for p in ref.parameters())
    with pytest.warns(UserWarning, match=r"do not pair with the model's in the order the computation uses them, "
                                         r"at tensor 2 \(attn.relative_position_index is \[4, 4\], the source's to_qkv.weight "
                                         r"\[192, 64\]\); its state_dict in registration order does, tensor for tensor"):
        netc.load_weights(m, ref)
    x = torch.randn(2, 64, 6, 6)
    with torch.no_grad():
        want, got = ref(x), m(x)
    assert want.std() > 0.1
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-5), float((got - want).abs().max())


def test_the_state_dict_loads_without_a_warning():
    ref = BlockedAttention()
    m = netc.compile(netc.loads(SPEC))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        netc.load_weights(m, ref.state_dict())
    assert torch.equal(m.attn.to_qkv.weight, ref.to_qkv.weight)


def test_where_neither_order_pairs_the_dataflow_error_stands():
    wrong = BlockedAttention(table_rows=10)          # a table of 10 rows where the model's has 9
    m = netc.compile(netc.loads(SPEC))
    before = m.attn.to_qkv.weight.clone()
    with warnings.catch_warnings():
        warnings.simplefilter("error")               # no fallback warning: nothing was loaded
        with pytest.raises(WeightsError, match=r"the weights do not fit at tensor 1: .*relative_position_bias_table"
                                               r".* is \[9, 2\], but the source's relative_position_bias_table is \[10, 2\]"
                                               r"(.|\n)*matched by dataflow"):
            netc.load_weights(m, wrong)
    assert torch.equal(m.attn.to_qkv.weight, before)
    assert math.isfinite(float(before.sum()))
