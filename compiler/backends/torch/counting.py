"""Counting multiply-adds from a module itself, with forward hooks on convolutions (transposed ones
too), ``nn.Linear``, and attention modules (which report their own: the projections, QK^T and AV).

This is the oracle the analytic counts (``netc summary``) are tested against, and the default
cost rule of a custom layer: a conv costs ``out.numel() * C_in/groups * kh * kw`` per sample, a
linear layer ``out.numel() * in_features``. It works on the meta device (shapes only).

>>> import torch, netc
>>> m = netc.compile("vgg:A", device="meta").eval()
>>> count_macs(m, torch.empty(1, 3, 224, 224, device="meta"))
7609090048
"""
from __future__ import annotations

import torch
from torch import nn


_COUNTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def _hook_macs(m: nn.Module, out: torch.Tensor, inp: torch.Tensor | None = None) -> int:
    per_sample = out.numel() // out.shape[0]
    if hasattr(m, "netc_macs"):             # attention: projections, QK^T and AV (per sample)
        return m.netc_macs(inp, out)
    if isinstance(m, nn.ConvTranspose2d):   # every input pixel scatters a kernel into each output channel
        kh, kw = m.kernel_size
        return inp.numel() // inp.shape[0] * (m.out_channels // m.groups) * kh * kw
    if isinstance(m, nn.Conv2d):
        kh, kw = m.kernel_size
        return per_sample * (m.in_channels // m.groups) * kh * kw
    return per_sample * m.in_features


def count_macs(model: nn.Module, x: torch.Tensor, per_layer: bool = False):
    """Multiply-adds per sample of one forward of ``model`` on ``x`` (conv and linear only).

    per_layer=True returns ``{module path: macs}`` instead of the total.
    """
    counts: dict[str, int] = {}
    handles = []
    for name, m in model.named_modules():
        if isinstance(m, _COUNTED) or hasattr(m, "netc_macs"):
            def hook(mod, inp, out, name=name):
                counts[name] = counts.get(name, 0) + _hook_macs(mod, out, inp[0])
            handles.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return counts if per_layer else sum(counts.values())


def probe(module: nn.Module, in_shape: tuple) -> tuple[tuple, int, int]:
    """Run ``module`` on a meta tensor of ``(1, *in_shape)``: (output shape, params, macs)."""
    module = module.to("meta")
    x = torch.empty((1, *in_shape), device="meta")
    out_shape: list = []

    class _Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.m = module

        def forward(self, t):
            y = self.m(t)
            out_shape.append(tuple(y.shape[1:]))
            return y

    macs = count_macs(_Wrap(), x)
    n_params = sum(p.numel() for p in module.parameters())
    return out_shape[0], n_params, macs

