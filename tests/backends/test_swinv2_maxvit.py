"""Swin V2 and MaxViT by torchvision's names (specs/swin.net's swin_v2_t/s/b, specs/maxvit.net):
counts against torchvision's published figures, and the new kinds (Swin V2's cosine window
attention with a continuous position bias, patch-merge(norm=post), MaxViT's block and grid
attention) against independent hand-written references with torchvision's state_dict layout:
one attention layer, one Swin V2 block, one MaxViT layer (MBConv, block and grid attention).

The references below are written from torchvision's swin_transformer.py and maxvit.py (the
function-style window attention with its slice-built shift mask, the reshape-and-permute window
partition and the swapped axes of the grid partition), not from netc's modules.
"""
from __future__ import annotations

import math

import pytest

import netc

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# torchvision's weights meta: num_params and _ops (GFLOPS, i.e. G multiply-adds, at min_size)
TORCHVISION = {
    "swin_v2_t": (28_351_570, 5.94, 256),
    "swin_v2_s": (49_737_442, 11.546, 256),
    "swin_v2_b": (87_930_848, 20.325, 256),
    "maxvit_t": (30_919_624, 5.558, 224),
}
# multiply-adds as torch.utils.flop_counter counts torchvision's models (mm/addmm/bmm/conv, / 2)
EXACT_MACS = {"swin_v2_t": 5_939_690_496, "maxvit_t": 5_558_046_720}


@pytest.mark.parametrize("name", list(TORCHVISION))
def test_counts_are_torchvisions(name):
    params, gmacs, size = TORCHVISION[name]
    ir = netc.load(name)
    assert ir.params == params
    assert tuple(ir.input_shape[1:]) == (size, size)
    assert abs(ir.macs / 1e9 - gmacs) < 0.0005, ir.macs
    if name in EXACT_MACS:
        assert ir.macs == EXACT_MACS[name]


@pytest.mark.parametrize("name", ["swin_v2_t", "maxvit_t"])
def test_the_compiled_modules_count_what_the_ir_counts(name):
    """Forward hooks on the compiled module (on the meta device: shapes only) count the same
    multiply-adds and parameters as the analytic rules."""
    from netc.backends.torch.counting import count_macs
    ir = netc.load(name)
    m = netc.compile(name, device="meta").eval()
    assert sum(p.numel() for p in m.parameters()) == ir.params
    assert count_macs(m, torch.empty(1, *ir.input_shape, device="meta")) == ir.macs


def test_swin_v2_attention_counts():
    """Per layer: 4C² + 4C, the bias MLP (2·512 + 512 + 512·heads), the logit scale (heads)."""
    ir = netc.load("swin_v2_t")
    attn = ir.node("stage_1/swin_pair_1/swin_block_1/attn")
    c, heads = 96, 3
    assert attn.n_params == 4 * c * c + 4 * c + 3 * 512 + 512 * heads + heads
    tokens, m = 64 * 64, 8
    assert attn.macs == 4 * tokens * c * c + 2 * tokens * m * m * c + 15 * 15 * (2 * 512 + 512 * heads)
    assert ir.node("merge_1").n_params == 4 * 96 * 192 + 2 * 192     # the norm over 2C


def test_swin_v2_takes_any_size():
    text = netc.bundled_dir().joinpath("swin.net").read_text()
    assert not netc.check(text.replace("input 256x256 RGB", "input HxW RGB"), filename="swin.net")


def test_maxvit_refuses_a_size_its_windows_do_not_divide():
    text = netc.bundled_dir().joinpath("maxvit.net").read_text()
    errors = netc.check(text.replace("input 224x224 RGB", "input 256x256 RGB"), filename="maxvit.net")
    assert errors
    msg = str(errors[0])
    assert "blocked-attention" in msg and "64x64 grid of tokens does not divide into windows of 7x7" in msg
    assert "^" in msg                                      # rendered with its span
    errors = netc.check(text.replace("input 224x224 RGB", "input HxW RGB"), filename="maxvit.net")
    assert errors and "needs a fixed grid" in str(errors[0])


def test_compiled_maxvit_refuses_another_input_size():
    m = netc.compile("maxvit_t", device="meta")
    with pytest.raises(ValueError, match="224x224"):
        m(torch.empty(1, 3, 256, 256, device="meta"))


# ---------------------------------------------------------------------------------- Swin V2 reference
def ref_swin_v2_attention(x, qkv_weight, proj_weight, bias, window, heads, shift, qkv_bias, proj_bias,
                          logit_scale):
    """torchvision's shifted_window_attention with a logit scale, transcribed."""
    B, H, W, C = x.shape
    pad_r = (window - W % window) % window
    pad_b = (window - H % window) % window
    x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
    _, pH, pW, _ = x.shape
    shift = [0 if window >= pH else shift, 0 if window >= pW else shift]
    if sum(shift) > 0:
        x = torch.roll(x, shifts=(-shift[0], -shift[1]), dims=(1, 2))
    nW = (pH // window) * (pW // window)
    x = x.view(B, pH // window, window, pW // window, window, C)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(B * nW, window * window, C)
    qkv_bias = qkv_bias.clone()
    qkv_bias[C:2 * C] = 0
    qkv = F.linear(x, qkv_weight, qkv_bias)
    qkv = qkv.reshape(x.size(0), x.size(1), 3, heads, C // heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    attn = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
    attn = attn * torch.clamp(logit_scale, max=math.log(100.0)).exp()
    attn = attn + bias
    if sum(shift) > 0:
        mask = x.new_zeros((pH, pW))
        hs = ((0, -window), (-window, -shift[0]), (-shift[0], None))
        ws = ((0, -window), (-window, -shift[1]), (-shift[1], None))
        count = 0
        for h in hs:
            for w in ws:
                mask[h[0]:h[1], w[0]:w[1]] = count
                count += 1
        mask = mask.view(pH // window, window, pW // window, window).permute(0, 2, 1, 3).reshape(nW, -1)
        mask = mask.unsqueeze(1) - mask.unsqueeze(2)
        mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
        attn = attn.view(x.size(0) // nW, nW, heads, x.size(1), x.size(1)) + mask.unsqueeze(1).unsqueeze(0)
        attn = attn.view(-1, heads, x.size(1), x.size(1))
    attn = F.softmax(attn, dim=-1)
    x = attn.matmul(v).transpose(1, 2).reshape(x.size(0), x.size(1), C)
    x = F.linear(x, proj_weight, proj_bias)
    x = x.view(B, pH // window, pW // window, window, window, C).permute(0, 1, 3, 2, 4, 5).reshape(B, pH, pW, C)
    if sum(shift) > 0:
        x = torch.roll(x, shifts=(shift[0], shift[1]), dims=(1, 2))
    return x[:, :H, :W, :].contiguous()


torch.fx.wrap("ref_swin_v2_attention")     # as torchvision wraps its function: traced as one call


class RefAttentionV2(nn.Module):
    """torchvision's ShiftedWindowAttentionV2: its attributes, registered in its order."""

    def __init__(self, dim, window, shift, heads, cpb=512):
        super().__init__()
        self.window, self.shift, self.heads = window, shift, heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        d = torch.arange(-(window - 1), window, dtype=torch.float32)
        table = torch.stack(torch.meshgrid([d, d], indexing="ij")).permute(1, 2, 0).contiguous().unsqueeze(0)
        table = table / (window - 1) * 8
        self.register_buffer("relative_coords_table", torch.sign(table) * torch.log2(table.abs() + 1.0) / 3.0)
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
        self.register_buffer("relative_position_index", (rel[:, :, 0] * (2 * window - 1) + rel[:, :, 1]).flatten())
        self.logit_scale = nn.Parameter(torch.log(10 * torch.ones((heads, 1, 1))))
        self.cpb_mlp = nn.Sequential(nn.Linear(2, cpb), nn.ReLU(inplace=True), nn.Linear(cpb, heads, bias=False))

    def forward(self, x):
        n = self.window * self.window
        table = self.cpb_mlp(self.relative_coords_table).view(-1, self.heads)
        bias = 16 * torch.sigmoid(table[self.relative_position_index].view(n, n, -1).permute(2, 0, 1).unsqueeze(0))
        return ref_swin_v2_attention(x, self.qkv.weight, self.proj.weight, bias, self.window, self.heads,
                                     self.shift, self.qkv.bias, self.proj.bias, self.logit_scale)


class RefBlockV2(nn.Module):
    """torchvision's SwinTransformerBlockV2 (res-post-norm), its submodules in its order."""

    def __init__(self, dim, heads, window, shift):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = RefAttentionV2(dim, window, shift, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Dropout(0.0), nn.Linear(4 * dim, dim),
                                 nn.Dropout(0.0))

    def forward(self, x):
        x = x + self.norm1(self.attn(x))
        return x + self.norm2(self.mlp(x))


def _randomise(module):
    torch.manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.3)


@pytest.mark.parametrize("hw,shift", [((10, 13), 2), ((8, 8), 2), ((8, 12), 0), ((3, 5), 2)])
def test_cosine_window_attention_equals_the_reference(hw, shift):
    """One layer, torchvision's names: the reference loads the compiled layer's state_dict by name."""
    h, w = hw
    word = "SW-MSA" if shift else "W-MSA"
    m = netc.compile(netc.loads(f"input {h}x{w} 8ch\nto-tokens\n{word}(2, window=4, cosine=true, cpb=32) as attn\n"))
    _randomise(m)
    ref = RefAttentionV2(8, 4, shift, 2, cpb=32)
    ref.load_state_dict(m.attn.state_dict())
    x = torch.randn(2, 8, h, w)
    with torch.no_grad():
        want = ref(x.permute(0, 2, 3, 1))
        got = m(x)
    assert got.shape == want.shape == (2, h, w, 8)
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-5)
    assert float((want - ref.proj.bias).abs().max().detach()) > 0.1       # not a trivial output


def test_swin_v2_attention_state_dict_has_torchvisions_names_in_its_dataflow_order():
    m = netc.compile(netc.loads("input 8x8 8ch\nto-tokens\nSW-MSA(2, window=4, cosine=true, cpb=32) as attn\n"))
    assert list(m.attn.state_dict()) == [
        "relative_coords_table", "cpb_mlp.0.weight", "cpb_mlp.0.bias", "cpb_mlp.2.weight", "relative_position_index",
        "qkv.weight", "proj.weight", "qkv.bias", "proj.bias", "logit_scale"]
    assert sorted(m.attn.state_dict()) == sorted(RefAttentionV2(8, 4, 2, 2, cpb=32).state_dict())


def _swin_v2_block_spec(h: int, w: int) -> str:
    """The bundled swin.net's blocks, with a configuration of one Swin V2 block (window 4, shift 2)."""
    text = netc.bundled_dir().joinpath("swin.net").read_text()
    return text + (f"\nconfig one_block {{\n    input {h}x{w} 16ch\n    to-tokens\n"
                   "    swin_block(16, 2, 2, 0.0, 4, true) as block\n}\n")


@pytest.mark.parametrize("hw", [(8, 8), (9, 14)])
def test_swin_v2_block_loads_the_reference_module_by_dataflow(hw):
    """specs/swin.net's block (res-post-norm) equals torchvision's block layout, its weights loaded
    with load_weights(model, module): matched in the order the forward reads them (torchvision's
    state_dict lists norm1 before the attention, the spec after it)."""
    h, w = hw
    ref = RefBlockV2(16, 2, 4, 2).eval()
    _randomise(ref)
    prog = netc.loads(_swin_v2_block_spec(h, w), config="one_block")
    m = netc.compile(prog).eval()
    netc.load_weights(m, ref)
    x = torch.randn(2, 16, h, w)
    with torch.no_grad():
        want = ref(x.permute(0, 2, 3, 1))
        got = m(x)
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-5)
    assert prog.params == sum(p.numel() for p in ref.parameters())


def test_patch_merge_after_equals_the_reference():
    """Swin V2's PatchMergingV2: the 2x2 neighbourhoods (odd sizes padded), reduction, then norm."""
    m = netc.compile(netc.loads("input 5x7 4ch\nto-tokens\npatch-merge(norm=post) as merge\n"))
    _randomise(m)
    assert list(m.merge.state_dict()) == ["reduction.weight", "norm.weight", "norm.bias"]
    x = torch.randn(2, 4, 5, 7)
    t = F.pad(x.permute(0, 2, 3, 1), (0, 0, 0, 1, 0, 1))
    cat = torch.cat([t[:, 0::2, 0::2], t[:, 1::2, 0::2], t[:, 0::2, 1::2], t[:, 1::2, 1::2]], -1)
    want = F.layer_norm(cat @ m.merge.reduction.weight.T, (8,), m.merge.norm.weight, m.merge.norm.bias)
    with torch.no_grad():
        assert torch.allclose(m(x), want, atol=1e-5)


# ---------------------------------------------------------------------------------- MaxViT reference
def _rel_index(n):
    coords = torch.stack(torch.meshgrid([torch.arange(n), torch.arange(n)], indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
    rel[:, :, 0] += n - 1
    rel[:, :, 1] += n - 1
    rel[:, :, 0] *= 2 * n - 1
    return rel.sum(-1)


class RefRelAttention(nn.Module):
    """torchvision's RelativePositionalMultiHeadAttention: keys scaled by 1/sqrt(C)."""

    def __init__(self, dim, head_dim, seq):
        super().__init__()
        self.heads, self.head_dim, self.size, self.seq = dim // head_dim, head_dim, int(math.sqrt(seq)), seq
        self.to_qkv = nn.Linear(dim, 3 * dim)
        self.scale = dim ** -0.5
        self.merge = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.randn((2 * self.size - 1) ** 2, self.heads))
        self.register_buffer("relative_position_index", _rel_index(self.size))

    def forward(self, x):
        B, G, P, D = x.shape
        q, k, v = torch.chunk(self.to_qkv(x), 3, dim=-1)
        q, k, v = (t.reshape(B, G, P, self.heads, self.head_dim).permute(0, 1, 3, 2, 4) for t in (q, k, v))
        k = k * self.scale
        dot = torch.einsum("bghid,bghjd->bghij", q, k)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(self.seq, self.seq, -1)
        dot = F.softmax(dot + bias.permute(2, 0, 1).unsqueeze(0), dim=-1)
        out = torch.einsum("bghij,bghjd->bghid", dot, v).permute(0, 1, 3, 2, 4).reshape(B, G, P, D)
        return self.merge(out)


class RefPartitionLayer(nn.Module):
    """torchvision's PartitionAttentionLayer: partition a (B, C, H, W) map, swap axes for the grid."""

    def __init__(self, dim, head_dim, size, kind, grid_size):
        super().__init__()
        n = grid_size // size
        self.p = size if kind == "window" else n
        self.kind, self.grid_size = kind, grid_size
        self.attn_layer = nn.Sequential(nn.LayerNorm(dim), RefRelAttention(dim, head_dim, size * size),
                                        nn.Dropout(0.0))
        self.mlp_layer = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 4 * dim), nn.GELU(),
                                       nn.Linear(4 * dim, dim), nn.Dropout(0.0))

    def forward(self, x):
        B, C, H, W = x.shape
        p = self.p
        x = x.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 3, 5, 1).reshape(B, (H // p) * (W // p), p * p, C)
        if self.kind == "grid":
            x = x.swapaxes(-2, -3)
        x = x + self.attn_layer(x)
        x = x + self.mlp_layer(x)
        if self.kind == "grid":
            x = x.swapaxes(-2, -3)
        return x.reshape(B, H // p, W // p, p, p, C).permute(0, 5, 1, 3, 2, 4).reshape(B, C, H, W)


class ConvBN(nn.Sequential):
    def __init__(self, cin, cout, k, stride=1, groups=1):
        super().__init__(nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01), nn.GELU())


class RefSE(nn.Module):
    def __init__(self, c, squeeze):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1, self.fc2 = nn.Conv2d(c, squeeze, 1), nn.Conv2d(squeeze, c, 1)

    def forward(self, x):
        return torch.sigmoid(self.fc2(F.silu(self.fc1(self.avgpool(x))))) * x


class RefMBConv(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.proj = nn.Sequential(nn.AvgPool2d(3, stride, 1), nn.Conv2d(cin, cout, 1)) if stride == 2 else \
            nn.Identity()
        mid = 4 * cout
        self.layers = nn.Sequential()
        self.layers.add_module("pre_norm", nn.BatchNorm2d(cin, eps=1e-3, momentum=0.01))
        self.layers.add_module("conv_a", ConvBN(cin, mid, 1))
        self.layers.add_module("conv_b", ConvBN(mid, mid, 3, stride, groups=mid))
        self.layers.add_module("squeeze_excitation", RefSE(mid, cout // 4))
        self.layers.add_module("conv_c", nn.Conv2d(mid, cout, 1))

    def forward(self, x):
        return self.proj(x) + self.layers(x)


class RefMaxVitLayer(nn.Module):
    """torchvision's MaxVitLayer: MBConv, window attention, grid attention (head size 32, P = G = 7)."""

    def __init__(self, cin, cout, stride, grid_size):
        super().__init__()
        self.layers = nn.Sequential()
        self.layers.add_module("MBconv", RefMBConv(cin, cout, stride))
        self.layers.add_module("window_attention", RefPartitionLayer(cout, 32, 7, "window", grid_size))
        self.layers.add_module("grid_attention", RefPartitionLayer(cout, 32, 7, "grid", grid_size))

    def forward(self, x):
        return self.layers(x)


def _maxvit_layer_spec() -> str:
    """The bundled maxvit.net's blocks, with a configuration of one stride-2 MaxViT layer from 32 to
    64 channels on a 28x28 map: 7x7 windows in a 2x2 arrangement, a 7x7 grid spaced 2 apart."""
    text = netc.bundled_dir().joinpath("maxvit.net").read_text()
    return text + ("\nconfig one_layer {\n    input 28x28 32ch\n"
                   "    defaults conv(bias=false, bn=true, bn_eps=0.001, bn_momentum=0.01, act=gelu)\n"
                   "    maxvit_layer(32, 64, 2, 0) as layer\n}\n")


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_maxvit_layer_equals_the_reference(mode):
    ref = RefMaxVitLayer(32, 64, 2, 14)
    _randomise(ref)
    with torch.no_grad():
        for mod in ref.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
    prog = netc.loads(_maxvit_layer_spec(), config="one_layer")
    assert prog.params == sum(p.numel() for p in ref.parameters())
    m = netc.compile(prog)
    netc.load_weights(m, ref.state_dict())
    ref.train(mode == "train")
    m.train(mode == "train")
    x = torch.randn(2, 32, 28, 28)
    with torch.no_grad():
        want, got = ref(x), m(x)
    assert got.shape == want.shape == (2, 64, 14, 14)
    assert torch.allclose(got, want, atol=1e-4, rtol=1e-4), float((got - want).abs().max())


@pytest.mark.parametrize("kind,size", [("block", 2), ("grid", 2), ("grid", 3)])
def test_partition_attention_equals_the_reference(kind, size):
    """One layer, on a 6x6 grid of 64 channels (two heads of 32): the reference partitions the map
    as torchvision does and loads the compiled layer's state_dict by name."""
    word = "blocked-attention(2, window=%d, scale=dim)" if kind == "block" else "grid-attention(2, grid=%d, scale=dim)"
    m = netc.compile(netc.loads(f"input 6x6 64ch\nto-tokens\n{word % size} as attn\nto-map\n"))
    _randomise(m)
    ref_attn = RefRelAttention(64, 32, size * size)
    ref_attn.load_state_dict(m.attn.state_dict())
    x = torch.randn(2, 64, 6, 6)
    p = size if kind == "block" else 6 // size
    t = x.reshape(2, 64, 6 // p, p, 6 // p, p).permute(0, 2, 4, 3, 5, 1).reshape(2, (6 // p) ** 2, p * p, 64)
    with torch.no_grad():
        if kind == "grid":
            want = ref_attn(t.swapaxes(-2, -3)).swapaxes(-2, -3)
        else:
            want = ref_attn(t)
        want = want.reshape(2, 6 // p, 6 // p, p, p, 64).permute(0, 5, 1, 3, 2, 4).reshape(2, 64, 6, 6)
        got = m(x)
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-5)


def test_block_and_grid_attention_differ():
    """The same weights, partitioned two ways, give different outputs (the partition matters)."""
    a = netc.compile(netc.loads("input 6x6 64ch\nto-tokens\nblocked-attention(2, window=3) as attn\n"))
    b = netc.compile(netc.loads("input 6x6 64ch\nto-tokens\ngrid-attention(2, grid=3) as attn\n"))
    _randomise(a)
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 64, 6, 6)
    with torch.no_grad():
        assert float((a(x) - b(x)).abs().max()) > 1e-2
