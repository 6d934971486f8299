"""Spatial pyramid pooling (He et al., SPP-net): any H x W -> a fixed-length vector.

Level ``n`` splits the map into ``n x n`` bins and max-pools (or averages) each; the levels are
flattened (channel-major, like Caffe's ``pool5_spm{n}`` blobs) and concatenated in the order the
spec writes them, so ``spp[6,3,2,1]`` on 256 channels gives 256 * (36 + 9 + 4 + 1) = 12,800
features whatever the map size.

Bins follow the paper's appendix, not its section 2.3: bin ``i`` of a side of length ``a`` covers
``[floor(i*a/n), ceil((i+1)*a/n))`` (0-based), which is exactly what PyTorch's adaptive pooling
computes. The sliding-window form of section 2.3 (window ``ceil(a/n)``, stride ``floor(a/n)``)
gives the wrong number of bins for some sizes (a=10, n=6 gives 9); see :func:`sliding_bins`.

For ONNX, which has no adaptive pooling, :func:`pool_by_masks` computes the same bins with masks
built from the map's size, so an exported graph keeps H and W dynamic and stays exact
(:func:`masked_pooling` switches a model to it during an export).

>>> import torch
>>> spp = SPP((6, 3, 2, 1))
>>> spp(torch.randn(2, 256, 13, 13)).shape, spp(torch.randn(2, 256, 10, 17)).shape
(torch.Size([2, 12800]), torch.Size([2, 12800]))
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn


def bins(a: int, n: int) -> list[tuple[int, int]]:
    """The ``n`` bins of a side of length ``a``, as half-open ``[start, end)`` (paper appendix).

    >>> bins(10, 6)
    [(0, 2), (1, 4), (3, 5), (5, 7), (6, 9), (8, 10)]
    """
    return [((i * a) // n, -(-((i + 1) * a) // n)) for i in range(n)]


def sliding_bins(a: int, n: int) -> list[tuple[int, int]]:
    """The windows of the paper's section 2.3 formula (window ceil(a/n), stride floor(a/n),
    floor mode), for comparison only: ``len(sliding_bins(10, 6)) == 9``."""
    win, stride = -(-a // n), a // n
    return [(s, s + win) for s in range(0, a - win + 1, stride)]


def out_features(channels: int, levels) -> int:
    """Length of the SPP output: ``C * sum(n^2)``."""
    return channels * sum(n * n for n in levels)


class SPP(nn.Module):
    """Spatial pyramid pooling over ``levels`` (bins per side), ``mode`` "max" or "avg"."""

    def __init__(self, levels, mode: str = "max"):
        super().__init__()
        if mode not in ("max", "avg"):
            raise ValueError(f"SPP mode must be 'max' or 'avg', not {mode!r}")
        self.levels = tuple(int(n) for n in levels)
        self.mode = mode
        self.masked = False   # True: pool_by_masks (ONNX export; see masked_pooling)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = []
        for n in self.levels:
            if self.masked:
                y = pool_by_masks(x, n, n, self.mode)
            elif self.mode == "max":
                y = F.adaptive_max_pool2d(x, n)
            else:
                y = F.adaptive_avg_pool2d(x, n)
            out.append(y.flatten(1))
        return torch.cat(out, dim=1)

    def extra_repr(self) -> str:
        return f"levels={list(self.levels)}, mode={self.mode!r}"


def bin_masks(a: int, n: int, device: torch.device) -> torch.Tensor:
    """(n, a) booleans: ``[i, y]`` says whether row ``y`` lies in bin ``i`` of a side of length
    ``a``, ``[floor(i*a/n), ceil((i+1)*a/n))`` (as :func:`bins`), in integer arithmetic:
    ``y >= floor(i*a/n)  <=>  (y+1)*n > i*a`` and ``y < ceil((i+1)*a/n)  <=>  y*n < (i+1)*a``."""
    i = torch.arange(n, device=device)[:, None]
    y = torch.arange(a, device=device)[None, :]
    return ((y + 1) * n > i * a) & (y * n < (i + 1) * a)


def pool_by_masks(x: torch.Tensor, oh: int, ow: int, mode: str = "max") -> torch.Tensor:
    """Adaptive pooling of the last two dimensions to ``oh x ow`` bins (the bins of :func:`bins`
    and of PyTorch's adaptive pooling), written with bin masks built from the map's size: rows
    first, then columns (every bin of a row band spans the same rows, so the maximum, or the
    mean, of the band maxima is that of the rectangle). Max is bit-exact; mean equal up to
    rounding. No operation depends on a size at trace time, so an exported graph (ONNX has no
    adaptive pooling) keeps H and W dynamic. Costs ``oh`` (then ``ow``) times the map's memory:
    for export, not for training.

    >>> x = torch.randn(2, 3, 10, 7)
    >>> torch.equal(pool_by_masks(x, 6, 4), F.adaptive_max_pool2d(x, (6, 4)))
    True
    """
    h, w = x.shape[-2], x.shape[-1]
    rows, cols = bin_masks(h, oh, x.device), bin_masks(w, ow, x.device)
    if mode == "max":
        r = torch.where(rows[:, :, None], x[..., None, :, :], float("-inf")).amax(-2)   # (..., oh, w)
        return torch.where(cols, r[..., :, None, :], float("-inf")).amax(-1)            # (..., oh, ow)
    fr, fc = rows.to(x.dtype), cols.to(x.dtype)
    r = torch.matmul(fr, x) / fr.sum(1, keepdim=True)                                   # (..., oh, w)
    return torch.matmul(r, fc.t()) / fc.sum(1)                                          # (..., oh, ow)


class MaskedAdaptivePool(nn.Module):
    """``nn.AdaptiveMaxPool2d`` / ``nn.AdaptiveAvgPool2d`` by :func:`pool_by_masks` (for export)."""

    def __init__(self, output_size, mode: str):
        super().__init__()
        oh, ow = output_size if isinstance(output_size, (tuple, list)) else (output_size, output_size)
        self.oh, self.ow, self.mode = oh, ow, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pool_by_masks(x, self.oh, self.ow, self.mode)


def _masked_form(m: nn.Module) -> nn.Module | None:
    """The mask form of an adaptive pooling module, or None when it needs none."""
    if isinstance(m, nn.AdaptiveMaxPool2d) and not m.return_indices:
        mode = "max"
    elif isinstance(m, nn.AdaptiveAvgPool2d):
        mode = "avg"
    else:
        return None
    size = m.output_size if isinstance(m.output_size, (tuple, list)) else (m.output_size, m.output_size)
    if None in size:
        return None
    return MaskedAdaptivePool(tuple(size), mode)


@contextmanager
def masked_pooling(model: nn.Module):
    """Within the block, every SPP layer and adaptive pooling module of ``model`` pools by
    :func:`pool_by_masks` (same bins, same values); restored afterwards, even on an error."""
    spps = [m for m in model.modules() if isinstance(m, SPP) and not m.masked]
    swaps = []
    for parent in list(model.modules()):
        for name, child in list(parent._modules.items()):
            new = _masked_form(child) if child is not None else None
            if new is not None:
                swaps.append((parent, name, child))
                parent._modules[name] = new
    for m in spps:
        m.masked = True
    try:
        yield model
    finally:
        for m in spps:
            m.masked = False
        for parent, name, child in swaps:
            parent._modules[name] = child
