"""Multiply-add counting by forward hooks: convolutions and fully connected layers only.

* ``nn.Conv2d``: ``Hout * Wout * Cout * kh * kw * Cin / groups`` per sample (no bias term);
* ``nn.ConvTranspose2d``: ``Hin * Win * Cin * kh * kw * Cout / groups`` per sample (each input pixel is
  scattered through the whole kernel);
* ``nn.Linear``: ``in_features * out_features`` per row of the input, so a Linear applied to an NHWC
  map (ConvNeXt) counts once per position.

Nothing else is counted: no bias adds, norms, activations, pools, residual adds or the elementwise
product of squeeze-excitation. This is the convention of torchvision's published ``_ops`` figures
(see :func:`macs` and tests/backends/test_references.py), which were measured with a dispatch-level counter
that sees only ``aten.convolution`` and the matrix products (``mm``/``addmm``/``bmm``) and counts a
multiply-add as one operation.

Only the modules that actually run are counted: Inception-v3's aux head runs in training mode only,
so :func:`macs` (which puts the model in eval mode) leaves it out, as torchvision does.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def _conv_macs(module: nn.Conv2d, inputs, output) -> int:
    kernel = math.prod(module.kernel_size)
    per_out = kernel * module.in_channels // module.groups
    return output.numel() * per_out  # numel = N * Cout * Hout * Wout


def _conv_transpose_macs(module: nn.ConvTranspose2d, inputs, output) -> int:
    kernel = math.prod(module.kernel_size)
    return inputs[0].numel() * kernel * module.out_channels // module.groups


def _linear_macs(module: nn.Linear, inputs, output) -> int:
    return output.numel() * module.in_features  # rows * out * in


COUNTERS = {nn.Conv2d: _conv_macs, nn.ConvTranspose2d: _conv_transpose_macs, nn.Linear: _linear_macs}


def count_macs(model: nn.Module, x: torch.Tensor) -> tuple[int, dict[str, int]]:
    """Run ``model(x)`` once (in whatever mode it is in) and return the total multiply-adds of the
    forward pass and the per-module figures (keyed by qualified module name; a module that runs
    several times accumulates). Works on the meta device (shapes only, no arithmetic)."""
    per_module: dict[str, int] = {}
    handles = []
    for name, module in model.named_modules():
        counter = COUNTERS.get(type(module))
        if counter is None:
            continue

        def hook(mod, inputs, output, _name=name, _counter=counter):
            per_module[_name] = per_module.get(_name, 0) + _counter(mod, inputs, output)

        handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return sum(per_module.values()), per_module


def macs(model: nn.Module, size: int = 224, channels: int = 3, device: str = "meta") -> int:
    """Multiply-adds of one ``channels x size x size`` image through ``model`` in eval mode."""
    model = model.to(device).eval()
    total, _ = count_macs(model, torch.zeros(1, channels, size, size, device=device))
    return total
