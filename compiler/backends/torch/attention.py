"""Torch modules for token sequences and attention, in torchvision's state_dict layout.

- :class:`TensorParam`: a learned tensor that is not a layer (ViT's class token and position
  embedding). The code generator registers it on its scope's module as a plain parameter, as
  torchvision does (``class_token``, ``encoder.pos_embedding``), and the forward reads it with
  ``get_attr``.
- :class:`SelfAttention`: multi-head self-attention with ``nn.MultiheadAttention``'s parameters
  (``in_proj_weight``, ``in_proj_bias``, ``out_proj``), computed with
  ``F.scaled_dot_product_attention``.
- :class:`WindowAttention`: Swin's (shifted) window attention on an (N, H, W, C) grid:
  ``relative_position_bias_table``, the ``relative_position_index`` buffer, ``qkv``, ``proj``
  (on 7x7 windows SDPA with a mask was ~10 % slower on a CPU: the products are written out).
- :class:`PatchMerging`: Swin's 2x2 merge, ``reduction`` (4C -> 2C, no bias) registered before
  ``norm`` (LayerNorm 4C), applied norm first.

Each attention module reports its multiply-adds (``netc_macs``) to the forward-hook counter
(netc.backends.torch.counting): the projections and QK^T and AV, torchvision's convention.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class TensorParam(nn.Module):
    """Holds one learned tensor until the code generator registers it on its scope's module."""

    netc_inline = True

    def __init__(self, shape: tuple, init: str = "zeros", std: float = 0.02):
        super().__init__()
        self.value = nn.Parameter(torch.empty(shape, device="meta"))
        self.init_kind, self.std = init, std

    @torch.no_grad()
    def reset_parameters(self) -> None:
        if self.init_kind == "zeros":
            self.value.zero_()
        else:
            self.value.normal_(0.0, self.std)


def prepend_token(x: Tensor, token: Tensor) -> Tensor:
    """``[token; x]`` along the sequence: the class token in front of every sample's patches."""
    return torch.cat([token.expand(x.shape[0], -1, -1), x], dim=1)


class SelfAttention(nn.Module):
    """Multi-head self-attention over (N, L, D) tokens with ``nn.MultiheadAttention``'s parameters,
    lowered to ``F.scaled_dot_product_attention``."""

    def __init__(self, dim: int, heads: int, bias: bool = True, dropout: float = 0.0, device=None,
                 pos: str = "none"):
        super().__init__()
        self.dim, self.heads, self.dropout, self.pos = dim, heads, dropout, pos
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim, device=device))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * dim, device=device)) if bias else None
        self.out_proj = nn.Linear(dim, dim, bias=bias, device=device)

    @torch.no_grad()
    def reset_parameters(self) -> None:   # nn.MultiheadAttention's
        nn.init.xavier_uniform_(self.in_proj_weight)
        self.out_proj.reset_parameters()
        if self.in_proj_bias is not None:
            nn.init.zeros_(self.in_proj_bias)
            nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: Tensor) -> Tensor:
        if self.pos == "sine":      # DETR: tokens on a grid, the positions added to queries and keys only
            n, h, w, d = x.shape
            pe = sine_position_embedding(h, w, d, x.dtype, x.device).flatten(0, 1)
            x = x.reshape(n, h * w, d)
            qk = F.linear(x + pe, self.in_proj_weight[:2 * d],
                          None if self.in_proj_bias is None else self.in_proj_bias[:2 * d])
            v = F.linear(x, self.in_proj_weight[2 * d:], None if self.in_proj_bias is None else self.in_proj_bias[2 * d:])
            qkv = torch.cat([qk, v], -1)
            length = h * w
        else:
            n, length, d = x.shape
            qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        qkv = qkv.view(n, length, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2],
                                           dropout_p=self.dropout if self.training else 0.0)
        y = F.linear(y.transpose(1, 2).reshape(n, length, d), self.out_proj.weight, self.out_proj.bias)
        return y.reshape(n, h, w, d) if self.pos == "sine" else y

    def netc_macs(self, inp: Tensor, out: Tensor) -> int:
        length, d = math.prod(inp.shape[1:-1]), self.dim        # (N, L, D), or (N, H, W, D) with pos=sine
        return 4 * length * d * d + 2 * length * length * d

    def extra_repr(self) -> str:
        return f"dim={self.dim}, heads={self.heads}, dropout={self.dropout}"


def sine_position_embedding(h: int, w: int, d: int, dtype=None, device=None, temperature: float = 10000.0) -> Tensor:
    """DETR's PositionEmbeddingSine (normalize=True, scale 2*pi, no mask) for an h x w grid: (h, w, d),
    the first d/2 channels for the row, the last d/2 for the column, sine and cosine interleaved."""
    npf, eps, scale = d // 2, 1e-6, 2 * math.pi
    y = torch.arange(1, h + 1, dtype=torch.float32, device=device)[:, None].expand(h, w)
    x = torch.arange(1, w + 1, dtype=torch.float32, device=device)[None, :].expand(h, w)
    y, x = y / (h + eps) * scale, x / (w + eps) * scale
    dim_t = torch.arange(npf, dtype=torch.float32, device=device)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / npf)
    px, py = x[..., None] / dim_t, y[..., None] / dim_t
    px = torch.stack((px[..., 0::2].sin(), px[..., 1::2].cos()), dim=3).flatten(2)
    py = torch.stack((py[..., 0::2].sin(), py[..., 1::2].cos()), dim=3).flatten(2)
    return torch.cat((py, px), dim=2).to(dtype or torch.float32)


def relative_position_index(wh: int, ww: int) -> Tensor:
    """Index of the bias of query token i and key token j (row-major in the window) into the
    (2wh-1)(2ww-1) table: (dy + wh - 1) * (2ww - 1) + (dx + ww - 1), d = pos_i - pos_j."""
    ys, xs = torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij")
    ys, xs = ys.flatten(), xs.flatten()
    dy = ys[:, None] - ys[None, :] + (wh - 1)
    dx = xs[:, None] - xs[None, :] + (ww - 1)
    return (dy * (2 * ww - 1) + dx).flatten()


def shift_mask(ph: int, pw: int, wh: int, ww: int, sh: int, sw: int, device) -> Tensor:
    """(windows, 1, t, t) additive mask of a shifted-window attention: 0 within one region of the
    rolled map, -100 across regions (the regions split at -window and -shift from each edge)."""
    def bands(n: int, w: int, s: int) -> Tensor:
        lab = torch.zeros(n, dtype=torch.long, device=device)
        if s:
            lab[n - w:] = 1
            lab[n - s:] = 2
        return lab
    region = bands(ph, wh, sh)[:, None] * 3 + bands(pw, ww, sw)[None, :]
    region = region.view(ph // wh, wh, pw // ww, ww).permute(0, 2, 1, 3).reshape(-1, wh * ww)
    same = region[:, None, :] == region[:, :, None]
    return torch.where(same, 0.0, -100.0).unsqueeze(1)


def cached_shift_mask(cache: dict, window: int, ph, pw, sh, sw, x: Tensor) -> Tensor:
    """:func:`shift_mask` for ``x``'s device and type, kept in ``cache`` per size (not for symbolic
    sizes under torch.export)."""
    if not all(type(v) is int for v in (ph, pw, sh, sw)):
        return shift_mask(ph, pw, window, window, sh, sw, x.device).to(x.dtype)
    key = (ph, pw, sh, sw, x.device, x.dtype)
    m = cache.get(key)
    if m is None:
        m = cache[key] = shift_mask(ph, pw, window, window, sh, sw, x.device).to(x.dtype)
    return m


def windows_back(y: Tensor, proj: nn.Linear, sizes: tuple, hw: tuple, shift: tuple) -> Tensor:
    """The attention's values of every window (b, windows, heads, t, head dim) back on the grid:
    the heads joined, the output projection, the windows put back in place, the shift undone and the
    padding cut (Swin V1 and V2 alike)."""
    b, nh, nw, m, c = sizes
    h, w, ph, pw = hw
    sh, sw = shift
    y = y.transpose(2, 3).reshape(b, nh * nw, m * m, c)
    y = F.linear(y, proj.weight, proj.bias)
    y = y.view(b, nh, nw, m, m, c).transpose(2, 3).reshape(b, ph, pw, c)
    if sh or sw:
        y = torch.roll(y, shifts=(sh, sw), dims=(1, 2))
    if ph != h or pw != w:
        y = y[:, :h, :w].contiguous()
    return y


def window_macs(inp: Tensor, m: int) -> int:
    """Multiply-adds of a window attention on an (N, H, W, C) grid with M x M windows (the map padded
    to whole windows): the projections and QK^T, AV per window."""
    _, h, w, c = inp.shape
    tokens = -(-h // m) * m * (-(-w // m) * m)
    return 4 * tokens * c * c + 2 * tokens * m * m * c


class WindowAttention(nn.Module):
    """Swin's (shifted) window multi-head self-attention on an (N, H, W, C) grid of tokens, with
    torchvision's semantics: pad right and bottom to a multiple of the window, no shift along an
    axis the window covers, roll by -shift, attend within windows (+ relative position bias,
    + the shift mask), undo it all."""

    def __init__(self, dim: int, heads: int, window: int, shift: int, bias: bool = True, dropout: float = 0.0,
                 device=None):
        super().__init__()
        self.dim, self.heads, self.window, self.shift, self.dropout = dim, heads, window, shift, dropout
        self.relative_position_bias_table = nn.Parameter(torch.empty((2 * window - 1) ** 2, heads, device=device))
        self.register_buffer("relative_position_index",
                             relative_position_index(window, window).to(device or "cpu"))
        self.qkv = nn.Linear(dim, 3 * dim, bias=bias, device=device)
        self.proj = nn.Linear(dim, dim, bias=bias, device=device)
        self._masks: dict = {}
        self._index: dict = {}

    def _bias_index(self, device) -> Tensor:
        """The relative position index, computed from the window (the buffer holds the same values for
        torchvision's state_dict, but a module moved with ``to_empty`` holds garbage there)."""
        idx = self._index.get(device)
        if idx is None:
            idx = self._index[device] = relative_position_index(self.window, self.window).to(device)
        return idx

    @torch.no_grad()
    def reset_parameters(self) -> None:
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.relative_position_index.copy_(relative_position_index(self.window, self.window))
        for lin in (self.qkv, self.proj):
            nn.init.trunc_normal_(lin.weight, std=0.02)
            if lin.bias is not None:
                nn.init.zeros_(lin.bias)

    def _mask(self, ph, pw, sh, sw, x: Tensor) -> Tensor:
        return cached_shift_mask(self._masks, self.window, ph, pw, sh, sw, x)

    def forward(self, x: Tensor) -> Tensor:
        b, h, w, c = x.shape
        m, heads = self.window, self.heads
        ph, pw = -(-h // m) * m, -(-w // m) * m
        if ph != h or pw != w:
            x = F.pad(x, (0, 0, 0, pw - w, 0, ph - h))
        sh = 0 if m >= ph else self.shift
        sw = 0 if m >= pw else self.shift
        if sh or sw:
            x = torch.roll(x, shifts=(-sh, -sw), dims=(1, 2))
        nh, nw, t = ph // m, pw // m, m * m
        x = x.view(b, nh, m, nw, m, c).transpose(2, 3).reshape(b, nh * nw, t, c)
        qkv = F.linear(x, self.qkv.weight, self.qkv.bias).view(b, nh * nw, t, 3, heads, c // heads)
        q, k, v = qkv.permute(3, 0, 1, 4, 2, 5).unbind(0)                     # (b, windows, heads, t, hd)
        bias = self.relative_position_bias_table[self._bias_index(x.device)].view(t, t, heads).permute(2, 0, 1)
        if sh or sw:
            bias = bias + self._mask(ph, pw, sh, sw, x)                           # (windows, heads, t, t)
        # softmax(q k^T / sqrt(d) + bias) v, written out: on 7x7 windows faster than SDPA with a mask (CPU)
        attn = torch.matmul(q * (c // heads) ** -0.5, k.transpose(-2, -1))
        attn = torch.softmax(attn + bias, dim=-1)
        if self.training and self.dropout:
            attn = F.dropout(attn, self.dropout)
        return windows_back(torch.matmul(attn, v), self.proj, (b, nh, nw, m, c), (h, w, ph, pw), (sh, sw))

    def netc_macs(self, inp: Tensor, out: Tensor) -> int:
        return window_macs(inp, self.window)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, heads={self.heads}, window={self.window}, shift={self.shift}"

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_masks"], state["_index"] = {}, {}
        return state


class PatchMerging(nn.Module):
    """Swin's patch merging of an (N, H, W, C) grid: each 2x2 neighbourhood ((0,0), (1,0), (0,1),
    (1,1) as (row, col)) concatenated to 4C, LayerNorm, Linear to ``out`` (2C) without bias. An odd
    H or W is zero-padded by one."""

    def __init__(self, dim: int, out: int, eps: float = 1e-5, device=None):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, out, bias=False, device=device)
        self.norm = nn.LayerNorm(4 * dim, eps=eps, device=device)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        nn.init.trunc_normal_(self.reduction.weight, std=0.02)
        self.norm.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-3], x.shape[-2]
        if h % 2 or w % 2:
            x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[..., 0::2, 0::2, :], x[..., 1::2, 0::2, :],
                       x[..., 0::2, 1::2, :], x[..., 1::2, 1::2, :]], dim=-1)
        return self.reduction(self.norm(x))


def init_patch_embedding(conv: nn.Conv2d) -> None:
    """torchvision's ViT: a truncated normal of std sqrt(1 / fan_in), zero bias."""
    fan_in = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
    with torch.no_grad():
        nn.init.trunc_normal_(conv.weight, std=math.sqrt(1 / fan_in))
        if conv.bias is not None:
            nn.init.zeros_(conv.bias)
