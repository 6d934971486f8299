"""Local response normalisation within a channel (Caffe's ``norm_region: WITHIN_CHANNEL``).

PyTorch's ``nn.LocalResponseNorm`` normalises across channels only; SPP-net's ZF-5 uses the
within-channel form, which Caffe computes as::

    b = a / (k + alpha/n^2 * sum over an n x n window of a^2) ^ beta

with the window zero-padded by (n-1)/2 (Caffe's average pooling of the squares, which always
divides by n^2 at stride 1).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class WithinChannelLRN(nn.Module):
    """Caffe's within-channel LRN; ``alpha`` is in Caffe's convention (divided by size**2).

    >>> import torch
    >>> m = WithinChannelLRN(3, alpha=5e-5, beta=0.75, k=1.0)
    >>> m(torch.ones(1, 2, 4, 4)).shape
    torch.Size([1, 2, 4, 4])
    """

    def __init__(self, size: int, alpha: float = 1.0, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # NOTE: pad (size-1)//2 keeps H x W for odd sizes, as Caffe requires (it rejects even sizes).
        sq = F.avg_pool2d(x * x, self.size, stride=1, padding=(self.size - 1) // 2, count_include_pad=True)
        return x / (self.k + self.alpha * sq).pow(self.beta)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class LocalResponseNorm(nn.LocalResponseNorm):
    """``nn.LocalResponseNorm`` (across channels), computed in float32 for half-precision inputs
    on the CPU, where PyTorch has no half-precision kernel for it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu" and (x.dtype == torch.bfloat16 or x.dtype == torch.float16):
            return F.local_response_norm(x.float(), self.size, self.alpha, self.beta, self.k).to(x.dtype)
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)
