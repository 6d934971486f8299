"""Torch modules and functions for kinds that PyTorch has no class for, in torchvision's layout
(so its state_dicts load): LayerNorm2d (ConvNeXt), stochastic depth, layer scale, center crop."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of an (N, C, H, W) map at each position (torchvision's)."""

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class DropPath(nn.Module):
    """Stochastic depth, "row" mode: each sample's branch dropped with probability p in training."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = torch.empty([x.shape[0]] + [1] * (x.dim() - 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask.div_(keep)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class LayerScale(nn.Module):
    """A learned scale per channel: (C, 1, 1) on a map, (D,) on tokens."""

    def __init__(self, channels: int, init: float, spatial: bool = True):
        super().__init__()
        self.init_value = init
        shape = (channels, 1, 1) if spatial else (channels,)
        self.scale = nn.Parameter(torch.empty(shape, device="meta"))

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.scale.fill_(self.init_value)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale


def center_crop(x: Tensor, ref: Tensor) -> Tensor:
    """Crop ``x`` around its center to the height and width of ``ref`` (U-Net's copy and crop)."""
    h, w = ref.shape[-2], ref.shape[-1]
    top = (x.shape[-2] - h) // 2
    left = (x.shape[-1] - w) // 2
    return x[..., top:top + h, left:left + w]


def resize_like(x: Tensor, ref: Tensor, mode: str, align_corners: Optional[bool]) -> Tensor:
    """``x`` resized to the height and width of ``ref`` (torchvision's segmentation heads and FPN)."""
    return torch.nn.functional.interpolate(x, size=ref.shape[-2:], mode=mode, align_corners=align_corners)


def resize_scaled(x: Tensor, ref: Tensor, nh: int, dh: int, nw: int, dw: int, mode: str,
                  align_corners: Optional[bool]) -> Tensor:
    """``x`` resized to ``[H*nh/dh, W*nw/dw]`` of ``ref``'s height and width (a divisor 0: the number
    itself): upsample(size=[H/8, W/8])."""
    h = ref.shape[-2] * nh // dh if dh else nh
    w = ref.shape[-1] * nw // dw if dw else nw
    return torch.nn.functional.interpolate(x, size=[h, w], mode=mode, align_corners=align_corners)


def expand_like(x: Tensor, ref: Tensor) -> Tensor:
    """A 1 x 1 map repeated over the height and width of ``ref`` (a concat with a pooled branch)."""
    return x.expand(-1, -1, ref.shape[-2], ref.shape[-1])


def crop_at(x: Tensor, ref: Tensor, top: int, left: int) -> Tensor:
    """``x`` cropped to the height and width of ``ref``, the window starting at (top, left) (Caffe's Crop)."""
    return x[..., top:top + ref.shape[-2], left:left + ref.shape[-1]]


class DFL(nn.Module):
    """YOLOv8's DFL (ultralytics.nn.modules.block.DFL): per box side, a soft-max over ``reg_max``
    bins and the expectation of the bin index, by a fixed 1x1 convolution (``conv.weight`` = 0 ...
    reg_max-1, not trained). Reads a map (4*reg_max x H x W) or tokens (L x 4*reg_max)."""

    def __init__(self, reg_max: int = 16, tokens: bool = False, device=None):
        super().__init__()
        self.reg_max, self.tokens = reg_max, tokens
        self.conv = nn.Conv2d(reg_max, 1, 1, bias=False, device=device).requires_grad_(False)

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.conv.weight.copy_(torch.arange(self.reg_max, dtype=self.conv.weight.dtype).view(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        if self.tokens:                                   # (b, L, 4r) -> (b, 4r, L)
            x = x.transpose(1, 2)
        shape = x.shape
        a = x.reshape(shape[0], 4, self.reg_max, -1).transpose(2, 1).softmax(1)
        out = self.conv(a).reshape([shape[0], 4] + list(shape[2:]))
        return out.transpose(1, 2) if self.tokens else out
