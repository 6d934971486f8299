"""One IR layer -> one ``nn.Module`` (or none): the layer's kind builds it (``Kind.module``).

Built-in layers are created on the meta device (``Kind.module`` passes ``device="meta"``) and
materialised by :func:`materialise`, which initialises them the way torchvision's VGG does:
convolutions kaiming-normal (fan_out, ReLU), fully-connected layers N(0, 0.01), biases zero,
batch-norm weight 1 and bias 0. The draws come
from torch's global RNG in program order, so ``torch.manual_seed`` makes a compile repeatable.
Custom layers (``netc.register_layer``) are built by their own factory, with their own init.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from netc.dsl.errors import SpecError
from netc.ir import Node

Shape = tuple


def build_module(n: Node, ins: list[Shape], device, dtype) -> nn.Module | None:
    """The submodule for one layer, on ``device`` and initialised; None for functional kinds.

    The kind builds it (``Kind.module``, on the meta device) and initialises it (``Kind.init``)."""
    kind = n.layer_kind
    if kind is None:
        raise SpecError(f"the torch backend has no rule for layer kind '{n.kind}'", n.span,
                        hint="register it with netc.register_layer(name, factory, ...)")
    custom = getattr(kind, "torch_module", None)
    if custom is not None:
        with torch.device(device):
            m = custom(n.params, ins[0])
        return m.to(dtype) if dtype is not None else m
    m = kind.module(n, ins)   # on the meta device: no memory, no default init
    if m is None:
        return None
    if dtype is not None:
        m = m.to(dtype)
    return materialise(m, device, kind.init)


def materialise(m: nn.Module, device, init: Callable[[nn.Module], None] | None = None) -> nn.Module:
    """Move a meta-device module to ``device`` and initialise it (nothing to do on meta)."""
    if torch.device(device).type == "meta":
        return m
    m = m.to_empty(device=device)
    (init or init_module)(m)
    return m


@torch.no_grad()
def init_module(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, 0, 0.01)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm2d)):
        m.reset_parameters()   # weight 1, bias 0, running stats 0/1
    else:
        for child in m.children():
            init_module(child)
