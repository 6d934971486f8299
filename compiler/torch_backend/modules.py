"""One IR layer -> one ``nn.Module`` (or none), dispatched by kind: ``emit_conv``, ``emit_fc``...

Built-in layers are created on the meta device (emitters pass ``device="meta"``) and
materialised by :func:`materialise`, which initialises them the way torchvision's VGG does:
convolutions kaiming-normal (fan_out, ReLU), fully-connected layers N(0, 0.01), biases zero,
batch-norm weight 1 and bias 0. The draws come
from torch's global RNG in program order, so ``torch.manual_seed`` makes a compile repeatable.
Custom layers (``netc.register_layer``) are built by their own factory, with their own init.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from netc.dsl.errors import SpecError
from netc.ir import Node

from .lrn import LocalResponseNorm, WithinChannelLRN
from .spp import SPP

Shape = tuple


def _pair(v) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def emit_conv(n: Node, ins: list[Shape]) -> nn.Module:
    p = n.params
    return nn.Conv2d(ins[0][0], p.out, p.kernel(), stride=p.strides(), padding=p.padding(),
                     dilation=p.dilations(), groups=p.groups, bias=p.bias, padding_mode=p.padding_mode,
                     device="meta")


def emit_fc(n: Node, ins: list[Shape]) -> nn.Module:
    return nn.Linear(math.prod(ins[0]), n.params.out, bias=n.params.bias, device="meta")


def emit_maxpool(n: Node, ins: list[Shape]) -> nn.Module:
    p = n.params
    return nn.MaxPool2d(p.kernel(), p.strides(), p.padding(), p.dilations(), ceil_mode=p.ceil)


def emit_avgpool(n: Node, ins: list[Shape]) -> nn.Module:
    p = n.params
    if p.dilations() != (1, 1):
        raise SpecError(f"{n.paper}: PyTorch's average pooling has no dilation", n.span,
                        hint="remove dilation=, or use maxpool")
    return nn.AvgPool2d(p.kernel(), p.strides(), p.padding(), ceil_mode=p.ceil,
                        count_include_pad=p.count_include_pad)


def emit_gap(n: Node, ins: list[Shape]) -> nn.Module:
    return nn.AdaptiveAvgPool2d(1)


def emit_gmp(n: Node, ins: list[Shape]) -> nn.Module:
    return nn.AdaptiveMaxPool2d(1)


def emit_adaptive_avgpool(n: Node, ins: list[Shape]) -> nn.Module:
    return nn.AdaptiveAvgPool2d(_pair(n.params.out))


def emit_spp(n: Node, ins: list[Shape]) -> nn.Module:
    return SPP(n.params.levels, n.params.mode)


def emit_lrn(n: Node, ins: list[Shape]) -> nn.Module:
    p = n.params
    if p.region == "across":
        return LocalResponseNorm(p.size, alpha=p.torch_alpha(), beta=p.beta, k=p.k)
    if p.size % 2 == 0:
        raise SpecError(f"LRN within a channel needs an odd size (got {p.size})", n.span,
                        hint="Caffe rejects even sizes too; use size=3 or 5")
    return WithinChannelLRN(p.size, alpha=p.torch_alpha(), beta=p.beta, k=p.k)


def emit_bn(n: Node, ins: list[Shape]) -> nn.Module:
    p = n.params
    cls = nn.BatchNorm2d if len(ins[0]) == 3 else nn.BatchNorm1d
    return cls(ins[0][0], eps=p.eps, momentum=p.momentum, affine=p.affine, device="meta")


def emit_dropout(n: Node, ins: list[Shape]) -> nn.Module:
    return nn.Dropout(n.params.p)


EMITTERS: dict[str, Callable[[Node, list[Shape]], nn.Module]] = {
    "conv": emit_conv, "fc": emit_fc, "maxpool": emit_maxpool, "avgpool": emit_avgpool, "gap": emit_gap,
    "gmp": emit_gmp, "adaptive_avgpool": emit_adaptive_avgpool, "spp": emit_spp, "lrn": emit_lrn,
    "bn": emit_bn, "dropout": emit_dropout,
}

#: kinds that are plain functions in forward (no submodule): see netc.torch_backend.codegen
FUNCTIONAL = ("softmax", "flatten", "identity", "relu", "sigmoid", "tanh", "concat", "add")


def build_module(n: Node, ins: list[Shape], device, dtype) -> nn.Module | None:
    """The submodule for one layer, on ``device`` and initialised; None for functional kinds."""
    if n.kind in FUNCTIONAL:
        return None
    custom = getattr(n.layer_kind, "torch_module", None)
    if custom is not None:
        with torch.device(device):
            m = custom(n.params, ins[0])
        return m.to(dtype) if dtype is not None else m
    emit = EMITTERS.get(n.kind)
    if emit is None:
        raise SpecError(f"the torch backend has no rule for layer kind '{n.kind}'", n.span,
                        hint="register it with netc.register_layer(name, factory, ...)")
    m = emit(n, ins)   # on the meta device: no memory, no default init
    if dtype is not None:
        m = m.to(dtype)
    return materialise(m, device)


def materialise(m: nn.Module, device) -> nn.Module:
    """Move a meta-device module to ``device`` and initialise it (nothing to do on meta)."""
    if torch.device(device).type == "meta":
        return m
    m = m.to_empty(device=device)
    init_module(m)
    return m


@torch.no_grad()
def init_module(m: nn.Module) -> None:
    if isinstance(m, nn.Conv2d):
        nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, 0, 0.01)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        m.reset_parameters()   # weight 1, bias 0, running stats 0/1
