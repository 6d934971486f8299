"""Spatial pyramid pooling (He et al., SPP-net): any H x W -> a fixed-length vector.

Level ``n`` splits the map into ``n x n`` bins and max-pools (or averages) each; the levels are
flattened (channel-major, like Caffe's ``pool5_spm{n}`` blobs) and concatenated in the order the
spec writes them, so ``spp[6,3,2,1]`` on 256 channels gives 256 * (36 + 9 + 4 + 1) = 12,800
features whatever the map size.

Bins follow the paper's appendix, not its section 2.3: bin ``i`` of a side of length ``a`` covers
``[floor(i*a/n), ceil((i+1)*a/n))`` (0-based), which is exactly what PyTorch's adaptive pooling
computes. The sliding-window form of section 2.3 (window ``ceil(a/n)``, stride ``floor(a/n)``)
gives the wrong number of bins for some sizes (a=10, n=6 gives 9); see :func:`sliding_bins`.

>>> import torch
>>> spp = SPP((6, 3, 2, 1))
>>> spp(torch.randn(2, 256, 13, 13)).shape, spp(torch.randn(2, 256, 10, 17)).shape
(torch.Size([2, 12800]), torch.Size([2, 12800]))
"""
from __future__ import annotations

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pool = F.adaptive_max_pool2d if self.mode == "max" else F.adaptive_avg_pool2d
        return torch.cat([pool(x, n).flatten(1) for n in self.levels], dim=1)

    def extra_repr(self) -> str:
        return f"levels={list(self.levels)}, mode={self.mode!r}"
