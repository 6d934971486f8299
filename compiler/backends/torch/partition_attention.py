"""Torch modules for attention within partitions of a token grid, beyond Swin's first version:

- :class:`WindowAttentionV2`: Swin V2's window attention (Liu et al., "Swin Transformer V2",
  arXiv:2111.09883, section 3.2 and 3.3) with torchvision's ``ShiftedWindowAttentionV2`` layout:
  scaled cosine attention with a learned per-head ``logit_scale`` (clamped at log 100, the key's
  bias held at zero as torchvision does), and the log-spaced continuous position bias: a small
  MLP ``cpb_mlp`` (2 -> hidden, ReLU, hidden -> heads, no bias) on the fixed
  ``relative_coords_table``, read through ``relative_position_index``, as 16·sigmoid. Either
  part may be used alone (``cosine``, ``cpb``).
- :class:`PatchMergingV2`: Swin V2's patch merging, ``reduction`` (4C -> 2C, no bias) then
  ``norm`` (LayerNorm over the 2C output; Swin V1 normalises the 4C input first).
- :class:`PartitionAttention`: MaxViT's block and grid attention (Tu et al., "MaxViT:
  Multi-axis vision transformer", arXiv:2204.01697, section 3.2) with torchvision's
  ``RelativePositionalMultiHeadAttention`` layout (``relative_position_bias_table``, the
  ``relative_position_index`` buffer, ``to_qkv``, ``merge``): on an (N, H, W, C) grid, block
  attention attends within non-overlapping P x P windows, grid attention among the G x G tokens
  spaced H/G and W/G apart (a dilated, global grid), each with a relative position bias.

Each module reports the multiply-adds of its projections and of QK^T and AV (``netc_macs``,
torchvision's convention); the continuous position bias MLP is counted by the forward hooks on its
``nn.Linear`` layers, as torchvision's published count includes it.

Loading torchvision's weights by dataflow (``netc.load_weights(model, torchvision_module)``) pairs
tensors in the order torchvision's traced forward reads them; :class:`WindowAttentionV2` lists its
``state_dict`` in that order (the bias MLP and its tables, then ``qkv.weight``, ``proj.weight``,
``qkv.bias``, ``proj.bias``, ``logit_scale``), under torchvision's names.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from netc.backends.torch.attention import cached_shift_mask, relative_position_index, window_macs, windows_back


def log_spaced_coords(wh: int, ww: int) -> Tensor:
    """Swin V2's (1, 2wh-1, 2ww-1, 2) table of relative offsets, normalised to [-8, 8] and
    log-spaced: sign(d) * log2(1 + |d|) / 3 (torchvision's ``relative_coords_table``)."""
    dh = torch.arange(-(wh - 1), wh, dtype=torch.float32)
    dw = torch.arange(-(ww - 1), ww, dtype=torch.float32)
    table = torch.stack(torch.meshgrid([dh, dw], indexing="ij")).permute(1, 2, 0).contiguous().unsqueeze(0)
    table[:, :, :, 0] /= wh - 1
    table[:, :, :, 1] /= ww - 1
    table *= 8
    return torch.sign(table) * torch.log2(torch.abs(table) + 1.0) / 3.0


def _reorder_state_dict(module: nn.Module, state_dict, prefix: str, local_metadata) -> None:
    """A state_dict post-hook: the module's own entries (the tail of ``state_dict``) in the order
    ``module.netc_tensor_order()`` names them."""
    keys = [prefix + k for k in module.netc_tensor_order() if prefix + k in state_dict]
    values = [state_dict.pop(k) for k in keys]
    for k, v in zip(keys, values):
        state_dict[k] = v


class WindowAttentionV2(nn.Module):
    """Swin V2's (shifted) window attention on an (N, H, W, C) grid: torchvision's semantics for sizes
    (pad right and bottom to a multiple of the window, no shift along an axis the window covers),
    scaled cosine attention (``cosine``) and the continuous position bias (``cpb``: the hidden width
    of its MLP; 0 keeps Swin V1's learned table)."""

    def __init__(self, dim: int, heads: int, window: int, shift: int, cosine: bool = True, cpb: int = 512,
                 bias: bool = True, dropout: float = 0.0, device=None):
        super().__init__()
        self.dim, self.heads, self.window, self.shift, self.dropout = dim, heads, window, shift, dropout
        self.cosine, self.cpb = cosine, cpb
        self.qkv = nn.Linear(dim, 3 * dim, bias=bias, device=device)
        self.proj = nn.Linear(dim, dim, bias=bias, device=device)
        where = device or "cpu"
        if cpb:
            self.register_buffer("relative_coords_table", log_spaced_coords(window, window).to(where))
        else:
            self.relative_position_bias_table = nn.Parameter(
                torch.empty((2 * window - 1) ** 2, heads, device=device))
        self.register_buffer("relative_position_index", relative_position_index(window, window).to(where))
        if cosine:
            self.logit_scale = nn.Parameter(torch.empty(heads, 1, 1, device=device))
        if cpb:
            self.cpb_mlp = nn.Sequential(nn.Linear(2, cpb, bias=True, device=device), nn.ReLU(inplace=True),
                                         nn.Linear(cpb, heads, bias=False, device=device))
        self.register_state_dict_post_hook(_reorder_state_dict)
        self._masks: dict = {}
        self._tables: dict = {}

    def netc_tensor_order(self) -> list[str]:
        """torchvision's dataflow order: the position bias (MLP and tables), then the projections'
        weights, their biases, and the logit scale."""
        bias = ["relative_coords_table", "cpb_mlp.0.weight", "cpb_mlp.0.bias", "cpb_mlp.2.weight"] if self.cpb \
            else ["relative_position_bias_table"]
        return bias + ["relative_position_index", "qkv.weight", "proj.weight", "qkv.bias", "proj.bias",
                       "logit_scale"]

    def _fixed(self, device) -> tuple[Tensor, Tensor]:
        """The index and the coordinate table, computed from the window (the buffers hold the same
        values for torchvision's state_dict, but a module moved with ``to_empty`` holds garbage)."""
        hit = self._tables.get(device)
        if hit is None:
            m = self.window
            hit = self._tables[device] = (relative_position_index(m, m).to(device),
                                          log_spaced_coords(m, m).to(device) if self.cpb else None)
        return hit

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """torchvision's: truncated normal (std 0.02) for every Linear (the bias MLP's too), zero
        biases, logit scale log 10."""
        m = self.window
        self.relative_position_index.copy_(relative_position_index(m, m))
        if self.cpb:
            self.relative_coords_table.copy_(log_spaced_coords(m, m))
            lins = (self.qkv, self.proj, self.cpb_mlp[0], self.cpb_mlp[2])
        else:
            nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
            lins = (self.qkv, self.proj)
        for lin in lins:
            nn.init.trunc_normal_(lin.weight, std=0.02)
            if lin.bias is not None:
                nn.init.zeros_(lin.bias)
        if self.cosine:
            self.logit_scale.fill_(math.log(10.0))

    def position_bias(self, device) -> Tensor:
        """(heads, t, t): the bias of query token i and key token j of a window."""
        index, coords = self._fixed(device)
        t = self.window * self.window
        if self.cpb:
            table = self.cpb_mlp(coords).view(-1, self.heads)
            return 16 * torch.sigmoid(table[index].view(t, t, self.heads).permute(2, 0, 1))
        return self.relative_position_bias_table[index].view(t, t, self.heads).permute(2, 0, 1)

    def _mask(self, ph, pw, sh, sw, x: Tensor) -> Tensor:
        return cached_shift_mask(self._masks, self.window, ph, pw, sh, sw, x)

    def forward(self, x: Tensor) -> Tensor:
        b, h, w, c = x.shape
        m, heads = self.window, self.heads
        hd = c // heads
        ph, pw = -(-h // m) * m, -(-w // m) * m
        if ph != h or pw != w:
            x = F.pad(x, (0, 0, 0, pw - w, 0, ph - h))
        sh = 0 if m >= ph else self.shift
        sw = 0 if m >= pw else self.shift
        if sh or sw:
            x = torch.roll(x, shifts=(-sh, -sw), dims=(1, 2))
        nh, nw, t = ph // m, pw // m, m * m
        x = x.view(b, nh, m, nw, m, c).transpose(2, 3).reshape(b, nh * nw, t, c)
        qkv_bias = self.qkv.bias
        if self.cosine and qkv_bias is not None:      # torchvision: the key's bias is not used
            qkv_bias = torch.cat([qkv_bias[:c], torch.zeros_like(qkv_bias[c:2 * c]), qkv_bias[2 * c:]])
        qkv = F.linear(x, self.qkv.weight, qkv_bias).view(b, nh * nw, t, 3, heads, hd)
        q, k, v = qkv.permute(3, 0, 1, 4, 2, 5).unbind(0)                     # (b, windows, heads, t, hd)
        if self.cosine:
            attn = torch.matmul(F.normalize(q, dim=-1), F.normalize(k, dim=-1).transpose(-2, -1))
            attn = attn * torch.clamp(self.logit_scale, max=math.log(100.0)).exp()
        else:
            attn = torch.matmul(q * hd ** -0.5, k.transpose(-2, -1))
        attn = attn + self.position_bias(x.device)
        if sh or sw:
            attn = attn + self._mask(ph, pw, sh, sw, x).unsqueeze(0)             # (1, windows, 1, t, t)
        attn = torch.softmax(attn, dim=-1)
        if self.training and self.dropout:
            attn = F.dropout(attn, self.dropout)
        return windows_back(torch.matmul(attn, v), self.proj, (b, nh, nw, m, c), (h, w, ph, pw), (sh, sw))

    def netc_macs(self, inp: Tensor, out: Tensor) -> int:
        return window_macs(inp, self.window)

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, heads={self.heads}, window={self.window}, shift={self.shift}, "
                f"cosine={self.cosine}, cpb={self.cpb}")

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_masks"], state["_tables"] = {}, {}
        return state


class PatchMergingV2(nn.Module):
    """Swin V2's patch merging of an (N, H, W, C) grid: each 2x2 neighbourhood concatenated (4C, in
    Swin's order), ``reduction`` to ``out`` without bias, then ``norm`` over the output. An odd H or
    W is zero-padded by one."""

    def __init__(self, dim: int, out: int, eps: float = 1e-5, device=None):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, out, bias=False, device=device)
        self.norm = nn.LayerNorm(out, eps=eps, device=device)

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
        return self.norm(self.reduction(x))


class PartitionAttention(nn.Module):
    """MaxViT's block (``grid=False``: P x P windows) or grid (``grid=True``: a G x G grid of tokens
    spaced H/G and W/G apart) attention on an (N, H, W, C) grid of tokens, with a relative position
    bias over the ``size`` x ``size`` partition. ``scale``: "head" multiplies the keys by
    1/sqrt(head size), "dim" by 1/sqrt(C) (torchvision's MaxViT)."""

    def __init__(self, dim: int, heads: int, size: int, grid: bool, bias: bool = True, scale: str = "head",
                 dropout: float = 0.0, device=None):
        super().__init__()
        self.dim, self.heads, self.size, self.grid, self.dropout = dim, heads, size, grid, dropout
        self.scale_by = scale
        self.to_qkv = nn.Linear(dim, 3 * dim, bias=bias, device=device)
        self.merge = nn.Linear(dim, dim, bias=bias, device=device)
        self.relative_position_bias_table = nn.Parameter(torch.empty((2 * size - 1) ** 2, heads, device=device))
        t = size * size
        self.register_buffer("relative_position_index",
                             relative_position_index(size, size).view(t, t).to(device or "cpu"))
        self._index: dict = {}

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """torchvision's MaxViT: normal (std 0.02) Linear weights, zero biases, a truncated normal
        bias table."""
        self.relative_position_index.copy_(relative_position_index(self.size, self.size).view_as(
            self.relative_position_index))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        for lin in (self.to_qkv, self.merge):
            nn.init.normal_(lin.weight, std=0.02)
            if lin.bias is not None:
                nn.init.zeros_(lin.bias)

    def position_bias(self, device) -> Tensor:
        idx = self._index.get(device)
        if idx is None:
            idx = self._index[device] = relative_position_index(self.size, self.size).to(device)
        t = self.size * self.size
        return self.relative_position_bias_table[idx].view(t, t, self.heads).permute(2, 0, 1)

    def forward(self, x: Tensor) -> Tensor:
        b, h, w, c = x.shape
        p, heads = self.size, self.heads
        hd = c // heads
        if self.grid:                     # token (a*sh + i, bb*sw + j): group (i, j), position (a, bb)
            sh, sw = h // p, w // p
            x = x.view(b, p, sh, p, sw, c).permute(0, 2, 4, 1, 3, 5)
            groups = sh * sw
        else:                             # token (A*p + i, B*p + j): group (A, B), position (i, j)
            x = x.view(b, h // p, p, w // p, p, c).permute(0, 1, 3, 2, 4, 5)
            groups = (h // p) * (w // p)
        t = p * p
        x = x.reshape(b, groups, t, c)
        qkv = F.linear(x, self.to_qkv.weight, self.to_qkv.bias).view(b, groups, t, 3, heads, hd)
        q, k, v = qkv.permute(3, 0, 1, 4, 2, 5).unbind(0)                     # (b, groups, heads, t, hd)
        k = k * (c if self.scale_by == "dim" else hd) ** -0.5
        attn = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) + self.position_bias(x.device), dim=-1)
        if self.training and self.dropout:
            attn = F.dropout(attn, self.dropout)
        y = torch.matmul(attn, v).transpose(2, 3).reshape(b, groups, t, c)
        y = F.linear(y, self.merge.weight, self.merge.bias)
        if self.grid:
            y = y.view(b, h // p, w // p, p, p, c).permute(0, 3, 1, 4, 2, 5)
        else:
            y = y.view(b, h // p, w // p, p, p, c).permute(0, 1, 3, 2, 4, 5)
        return y.reshape(b, h, w, c)

    def netc_macs(self, inp: Tensor, out: Tensor) -> int:
        _, h, w, c = inp.shape
        tokens = h * w
        return 4 * tokens * c * c + 2 * tokens * self.size * self.size * c

    def extra_repr(self) -> str:
        what = "grid" if self.grid else "window"
        return f"dim={self.dim}, heads={self.heads}, {what}={self.size}, scale={self.scale_by}"

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_index"] = {}
        return state


__all__ = ["WindowAttentionV2", "PatchMergingV2", "PartitionAttention", "log_spaced_coords"]
