"""Hand-written reference ViT and Swin modules with torchvision's exact module layout.

torchvision is not installable here, so these stand in for ``torchvision.models.vit_b_16`` &c. when
netc's compiled specs are checked: the ``state_dict()`` keys, their order and shapes are
torchvision's (so a torchvision checkpoint loads with ``strict=True``), the parameter counts are
torchvision's, and the eval-mode forward computes the same function. Written from a reading of
torchvision's ``models/vision_transformer.py``, ``models/swin_transformer.py``, ``ops/misc.py``
(MLP, Permute) and ``ops/stochastic_depth.py``; not a copy.

Layout (torchvision's attribute names, in registration order):

ViT   class_token, conv_proj, encoder.pos_embedding,
      encoder.layers.encoder_layer_<i>.{ln_1, self_attention (nn.MultiheadAttention:
      in_proj_weight, in_proj_bias, out_proj), dropout, ln_2, mlp.{0: Linear, 1: GELU, 2: Dropout,
      3: Linear, 4: Dropout}}, encoder.ln, heads.head
Swin  features.0 = (0: Conv2d patch embedding, 1: Permute NCHW->NHWC, 2: LayerNorm);
      features.{1,3,5,7} = stages of SwinTransformerBlock {norm1, attn.{relative_position_bias_table,
      relative_position_index (buffer), qkv, proj}, stochastic_depth, norm2, mlp (as above)};
      features.{2,4,6} = PatchMerging {reduction (Linear 4C->2C, no bias), norm (LayerNorm 4C)};
      norm, permute, avgpool, flatten, head

Input sizes: a ViT accepts only ``image_size`` x ``image_size`` (the position embedding has one row
per patch of that grid; other sizes need ``interpolate_pos_embedding``, as torchvision's
``interpolate_embeddings``). A Swin accepts any size: a window attention pads its feature map on the
right/bottom to a multiple of the window and crops afterwards, a patch merging pads odd sizes by one.
See tests/references/transformers_notes.md.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["VisionTransformer", "SwinTransformer", "vit_b_16", "vit_l_16", "vit_h_14", "swin_t",
           "interpolate_pos_embedding", "randomize_", "count_params"]


# --------------------------------------------------------------------------- shared pieces (ops/misc)

class Permute(nn.Module):
    """``x.permute(dims)`` as a module (torchvision.ops.misc.Permute)."""

    def __init__(self, dims: list[int]):
        super().__init__()
        self.dims = list(dims)

    def forward(self, x: Tensor) -> Tensor:
        return x.permute(*self.dims)


class StochasticDepth(nn.Module):
    """Drops the whole residual branch per sample ("row") or per batch with probability ``p`` while
    training, scaling survivors by 1/(1-p); the identity in eval mode (torchvision.ops.StochasticDepth)."""

    def __init__(self, p: float, mode: str = "row"):
        super().__init__()
        if not 0.0 <= p <= 1.0 or mode not in ("row", "batch"):
            raise ValueError(f"bad stochastic depth p={p} mode={mode}")
        self.p, self.mode = p, mode

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        shape = [x.shape[0]] + [1] * (x.dim() - 1) if self.mode == "row" else [1] * x.dim()
        noise = x.new_empty(shape).bernoulli_(keep)
        if keep > 0.0:
            noise.div_(keep)
        return x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode}"


class MLP(nn.Sequential):
    """Linear, GELU, Dropout, Linear, Dropout: indices 0..4, as torchvision.ops.MLP(in, [hidden, out],
    activation_layer=nn.GELU) builds them; only 0 and 3 hold weights."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, dropout: float = 0.0):
        super().__init__(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Dropout(dropout),
                         nn.Linear(hidden_dim, out_dim), nn.Dropout(dropout))


# --------------------------------------------------------------------------------------------- ViT

class MLPBlock(MLP):
    _version = 2  # torchvision's MLPBlock: version 2 is the Sequential layout (mlp.0 / mlp.3)

    def __init__(self, dim: int, mlp_dim: int, dropout: float):
        super().__init__(dim, mlp_dim, dim, dropout)
        for lin in (self[0], self[3]):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.normal_(lin.bias, std=1e-6)


_vit_norm = partial(nn.LayerNorm, eps=1e-6)


class EncoderBlock(nn.Module):
    """Pre-norm transformer block: x + MHA(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, num_heads: int, dim: int, mlp_dim: int, dropout: float, attention_dropout: float):
        super().__init__()
        self.num_heads = num_heads
        self.ln_1 = _vit_norm(dim)
        self.self_attention = nn.MultiheadAttention(dim, num_heads, dropout=attention_dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.ln_2 = _vit_norm(dim)
        self.mlp = MLPBlock(dim, mlp_dim, dropout)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3:
            raise ValueError(f"expected (batch, sequence, dim), got {tuple(x.shape)}")
        y = self.ln_1(x)
        y, _ = self.self_attention(y, y, y, need_weights=False)
        x = x + self.dropout(y)
        return x + self.mlp(self.ln_2(x))


class Encoder(nn.Module):
    def __init__(self, seq_length: int, num_layers: int, num_heads: int, dim: int, mlp_dim: int,
                 dropout: float, attention_dropout: float):
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, seq_length, dim).normal_(std=0.02))
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.Sequential(OrderedDict(
            (f"encoder_layer_{i}", EncoderBlock(num_heads, dim, mlp_dim, dropout, attention_dropout))
            for i in range(num_layers)))
        self.ln = _vit_norm(dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.ln(self.layers(self.dropout(x + self.pos_embedding)))


class VisionTransformer(nn.Module):
    """ViT (arXiv 2010.11929) as torchvision.models.VisionTransformer without the conv-stem option and
    without ``representation_size`` (neither is used by vit_b_16 / vit_l_16 / vit_h_14)."""

    def __init__(self, image_size: int, patch_size: int, num_layers: int, num_heads: int, hidden_dim: int,
                 mlp_dim: int, dropout: float = 0.0, attention_dropout: float = 0.0, num_classes: int = 1000):
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image size {image_size} is not a multiple of the patch size {patch_size}")
        self.image_size, self.patch_size, self.hidden_dim = image_size, patch_size, hidden_dim
        self.num_classes = num_classes
        self.conv_proj = nn.Conv2d(3, hidden_dim, kernel_size=patch_size, stride=patch_size)
        self.class_token = nn.Parameter(torch.zeros(1, 1, hidden_dim))
        self.seq_length = (image_size // patch_size) ** 2 + 1
        self.encoder = Encoder(self.seq_length, num_layers, num_heads, hidden_dim, mlp_dim, dropout,
                               attention_dropout)
        self.heads = nn.Sequential(OrderedDict(head=nn.Linear(hidden_dim, num_classes)))
        # torchvision's initialisation: a truncated-normal patch projection, a zero head
        fan_in = 3 * patch_size * patch_size
        nn.init.trunc_normal_(self.conv_proj.weight, std=math.sqrt(1 / fan_in))
        nn.init.zeros_(self.conv_proj.bias)
        nn.init.zeros_(self.heads.head.weight)
        nn.init.zeros_(self.heads.head.bias)

    def forward(self, x: Tensor) -> Tensor:
        n, _, h, w = x.shape
        if h != self.image_size or w != self.image_size:
            raise ValueError(f"expected {self.image_size}x{self.image_size} images, got {h}x{w} "
                             "(the position embedding fixes the resolution)")
        x = self.conv_proj(x).flatten(2).transpose(1, 2)            # (n, patches, dim), row-major grid
        x = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1)
        x = self.encoder(x)
        return self.heads(x[:, 0])


def _vit(patch: int, layers: int, heads: int, dim: int, mlp_dim: int, image_size: int = 224,
         **kwargs) -> VisionTransformer:
    return VisionTransformer(image_size, patch, layers, heads, dim, mlp_dim, **kwargs)


def vit_b_16(**kwargs) -> VisionTransformer:
    return _vit(16, 12, 12, 768, 3072, **kwargs)


def vit_l_16(**kwargs) -> VisionTransformer:
    return _vit(16, 24, 16, 1024, 4096, **kwargs)


def vit_h_14(**kwargs) -> VisionTransformer:
    return _vit(14, 32, 16, 1280, 5120, **kwargs)


def interpolate_pos_embedding(state: dict, image_size: int, patch_size: int, mode: str = "bicubic") -> dict:
    """A copy of a ViT state dict whose ``encoder.pos_embedding`` is resampled to the patch grid of
    ``image_size`` (the class-token row is kept as is), as torchvision's ``interpolate_embeddings``:
    the only way to run a ViT at another resolution."""
    pos = state["encoder.pos_embedding"]
    cls, grid = pos[:, :1], pos[:, 1:]
    old = math.isqrt(grid.shape[1])
    new = image_size // patch_size
    if old * old != grid.shape[1]:
        raise ValueError(f"{grid.shape[1]} patch positions are not a square grid")
    if new != old:
        grid = grid.transpose(1, 2).reshape(1, -1, old, old)
        grid = F.interpolate(grid, size=new, mode=mode, align_corners=True)
        grid = grid.reshape(1, -1, new * new).transpose(1, 2)
    out = dict(state)
    out["encoder.pos_embedding"] = torch.cat([cls, grid], dim=1)
    return out


# -------------------------------------------------------------------------------------------- Swin

def _relative_position_index(wh: int, ww: int) -> Tensor:
    """(wh*ww)**2 indices into the (2wh-1)(2ww-1) bias table: entry [i, j] for query token i, key
    token j of a window (row-major) is (dy + wh-1) * (2ww-1) + (dx + ww-1), d = pos_i - pos_j."""
    ys, xs = torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij")
    ys, xs = ys.flatten(), xs.flatten()
    dy = ys[:, None] - ys[None, :] + (wh - 1)
    dx = xs[:, None] - xs[None, :] + (ww - 1)
    return (dy * (2 * ww - 1) + dx).flatten()


def _shift_mask(ph: int, pw: int, wh: int, ww: int, sh: int, sw: int, device) -> Tensor:
    """(windows, wh*ww, wh*ww) additive mask for shifted windows: 0 between tokens of the same region
    of the rolled map, -100 across regions (regions split at -window and -shift from each edge)."""
    def bands(n: int, w: int, s: int) -> Tensor:
        lab = torch.zeros(n, dtype=torch.long, device=device)
        lab[n - w:] = 1
        lab[n - s:] = 2
        return lab
    region = bands(ph, wh, sh)[:, None] * 3 + bands(pw, ww, sw)[None, :]             # (ph, pw)
    region = region.view(ph // wh, wh, pw // ww, ww).permute(0, 2, 1, 3).reshape(-1, wh * ww)
    same = region[:, None, :] == region[:, :, None]
    zero = torch.zeros((), device=device)
    return torch.where(same, zero, zero - 100.0)


def window_attention(x: Tensor, qkv: nn.Linear, proj: nn.Linear, bias: Tensor, window: list[int],
                     heads: int, shift: list[int], attention_dropout: float = 0.0, dropout: float = 0.0,
                     training: bool = False) -> Tensor:
    """(shifted) window multi-head self-attention of an NHWC map, torchvision's semantics: pad right
    and bottom to a multiple of the window, no shift along an axis the window covers, roll by -shift,
    attend within windows (scaled q, + relative position bias, + shift mask), undo all of it."""
    b, h, w, c = x.shape
    wh, ww = window
    ph, pw = -(-h // wh) * wh, -(-w // ww) * ww
    x = F.pad(x, (0, 0, 0, pw - w, 0, ph - h))
    sh = 0 if wh >= ph else shift[0]
    sw = 0 if ww >= pw else shift[1]
    if sh or sw:
        x = torch.roll(x, shifts=(-sh, -sw), dims=(1, 2))
    nw, t = (ph // wh) * (pw // ww), wh * ww
    x = x.view(b, ph // wh, wh, pw // ww, ww, c).permute(0, 1, 3, 2, 4, 5).reshape(b * nw, t, c)
    q, k, v = F.linear(x, qkv.weight, qkv.bias).view(b * nw, t, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    attn = (q * (c // heads) ** -0.5) @ k.transpose(-2, -1) + bias              # (b*nw, heads, t, t)
    if sh or sw:
        mask = _shift_mask(ph, pw, wh, ww, sh, sw, x.device).to(attn.dtype)
        attn = (attn.view(b, nw, heads, t, t) + mask[None, :, None]).view(b * nw, heads, t, t)
    attn = F.dropout(attn.softmax(-1), attention_dropout, training)
    x = (attn @ v).transpose(1, 2).reshape(b * nw, t, c)
    x = F.dropout(F.linear(x, proj.weight, proj.bias), dropout, training)
    x = x.view(b, ph // wh, pw // ww, wh, ww, c).permute(0, 1, 3, 2, 4, 5).reshape(b, ph, pw, c)
    if sh or sw:
        x = torch.roll(x, shifts=(sh, sw), dims=(1, 2))
    return x[:, :h, :w].contiguous()


class ShiftedWindowAttention(nn.Module):
    def __init__(self, dim: int, window_size: list[int], shift_size: list[int], num_heads: int,
                 attention_dropout: float = 0.0, dropout: float = 0.0):
        super().__init__()
        self.window_size, self.shift_size = list(window_size), list(shift_size)
        self.num_heads, self.attention_dropout, self.dropout = num_heads, attention_dropout, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        wh, ww = self.window_size
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * wh - 1) * (2 * ww - 1), num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", _relative_position_index(wh, ww))

    def relative_position_bias(self) -> Tensor:
        t = self.window_size[0] * self.window_size[1]
        table = self.relative_position_bias_table[self.relative_position_index]      # (t*t, heads)
        return table.view(t, t, -1).permute(2, 0, 1).unsqueeze(0)                    # (1, heads, t, t)

    def forward(self, x: Tensor) -> Tensor:
        return window_attention(x, self.qkv, self.proj, self.relative_position_bias(), self.window_size,
                                self.num_heads, self.shift_size, self.attention_dropout, self.dropout,
                                self.training)


class SwinTransformerBlock(nn.Module):
    def __init__(self, dim: int, num_heads: int, window_size: list[int], shift_size: list[int],
                 mlp_ratio: float = 4.0, dropout: float = 0.0, attention_dropout: float = 0.0,
                 stochastic_depth_prob: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn = ShiftedWindowAttention(dim, window_size, shift_size, num_heads, attention_dropout, dropout)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob, "row")
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.mlp = MLP(dim, int(dim * mlp_ratio), dim, dropout)
        for lin in (self.mlp[0], self.mlp[3]):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.normal_(lin.bias, std=1e-6)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.stochastic_depth(self.attn(self.norm1(x)))
        return x + self.stochastic_depth(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    """Concatenates each 2x2 neighbourhood (order (0,0), (1,0), (0,1), (1,1) as (row, col)) into 4C
    channels, LayerNorm, Linear to 2C. Odd H or W is zero-padded by one first."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim, eps=1e-5)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-3], x.shape[-2]
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[..., 0::2, 0::2, :], x[..., 1::2, 0::2, :],
                       x[..., 0::2, 1::2, :], x[..., 1::2, 1::2, :]], dim=-1)
        return self.reduction(self.norm(x))


class SwinTransformer(nn.Module):
    """Swin Transformer v1 (arXiv 2103.14030) as torchvision.models.SwinTransformer with its defaults."""

    def __init__(self, patch_size: list[int], embed_dim: int, depths: list[int], num_heads: list[int],
                 window_size: list[int], mlp_ratio: float = 4.0, dropout: float = 0.0,
                 attention_dropout: float = 0.0, stochastic_depth_prob: float = 0.1, num_classes: int = 1000):
        super().__init__()
        self.num_classes = num_classes
        layers: list[nn.Module] = [nn.Sequential(
            nn.Conv2d(3, embed_dim, kernel_size=tuple(patch_size), stride=tuple(patch_size)),
            Permute([0, 2, 3, 1]),
            nn.LayerNorm(embed_dim, eps=1e-5))]
        total, block_id = sum(depths), 0
        for stage, (depth, heads) in enumerate(zip(depths, num_heads)):
            dim = embed_dim * 2 ** stage
            blocks = []
            for i in range(depth):
                blocks.append(SwinTransformerBlock(
                    dim, heads, window_size, [0 if i % 2 == 0 else w // 2 for w in window_size],
                    mlp_ratio, dropout, attention_dropout, stochastic_depth_prob * block_id / (total - 1)))
                block_id += 1
            layers.append(nn.Sequential(*blocks))
            if stage < len(depths) - 1:
                layers.append(PatchMerging(dim))
        self.features = nn.Sequential(*layers)
        features = embed_dim * 2 ** (len(depths) - 1)
        self.norm = nn.LayerNorm(features, eps=1e-5)
        self.permute = Permute([0, 3, 1, 2])
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.head = nn.Linear(features, num_classes)
        for m in self.modules():        # torchvision re-initialises every Linear, the blocks' MLPs included
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm(self.features(x))
        return self.head(self.flatten(self.avgpool(self.permute(x))))


def swin_t(**kwargs) -> SwinTransformer:
    return SwinTransformer([4, 4], 96, [2, 2, 6, 2], [3, 6, 12, 24], [7, 7], stochastic_depth_prob=0.2, **kwargs)


# ----------------------------------------------------------------------------------------- helpers

def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def randomize_(model: nn.Module, seed: int = 0, std: float = 0.05) -> nn.Module:
    """Fill every parameter with seeded N(0, std) values (LayerNorm weights around 1), in place.
    torchvision's initialisation zeroes the ViT head and class token, so outputs compared straight
    after construction would be trivially equal; compare randomized weights instead."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        values = torch.randn(p.shape, generator=g) * std
        if name.endswith("weight") and p.dim() == 1:
            values += 1.0
        p.copy_(values.to(p.device, p.dtype))
    return model
