"""Multiply-add counter for the reference transformers, with torchvision's ``_ops`` convention.

torchvision's published ``_ops`` (GFLOPS in its tables; pytorch/vision PR 6936) were measured with a
``__torch_dispatch__`` counter after Chillee's, which counts one unit per multiply-add of the
matrix products only: ``aten.mm``/``addmm``/``bmm``/``matmul`` (m*k*n, the bias of addmm free) and
``aten.convolution`` (output elements * Cin/groups * kh * kw, bias free). Nothing element-wise is
counted: not the softmax, the 1/sqrt(d) scaling, the relative position bias or shift mask adds, the
LayerNorms, GELU, residual adds, position embedding add, pooling.

For a transformer that means, per image:

* conv: the patch embedding;
* linear: every ``nn.Linear`` module that runs (MLPs, Swin's PatchMerging ``reduction``, the head);
* attention projections: nn.MultiheadAttention's ``in_proj`` (L*D*3D) and ``out_proj`` (L*D*D),
  Swin's ``qkv`` (T*C*3C) and ``proj`` (T*C*C) over all T padded tokens -- these run as
  ``F.linear`` on the weights, not through the Linear modules' forward, so they are counted at the
  attention module;
* attention matmuls: QK^T and AV, each L*L*D summed over heads (D = heads * head_dim); for Swin
  windows * (M*M)^2 * C each, windows counted on the padded map.

This module counts with forward hooks, so it runs on the meta device (shapes only).
``attention_matmuls=False`` gives the hooks-only convention (conv + linear + projections) for
comparison.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .transformers import ShiftedWindowAttention


@dataclass
class Macs:
    conv: int = 0
    linear: int = 0
    attn_proj: int = 0
    attn_matmul: int = 0
    per_layer: dict = field(default_factory=dict)

    @property
    def conv_linear(self) -> int:
        """Everything a conv/linear hook sees, the in-attention projections included."""
        return self.conv + self.linear + self.attn_proj

    @property
    def total(self) -> int:
        return self.conv_linear + self.attn_matmul


def _mha_macs(mod: nn.MultiheadAttention, q: torch.Tensor, k: torch.Tensor) -> tuple[int, int]:
    if mod.batch_first:
        lq, lk = q.shape[-2], k.shape[-2]
    else:
        lq, lk = q.shape[0], k.shape[0]
    d, kd, vd = mod.embed_dim, mod.kdim, mod.vdim
    proj = lq * d * d + lk * kd * d + lk * vd * d + lq * d * d   # q, k, v in-projections; out-projection
    return proj, lq * lk * d * 2                                  # QK^T and AV, summed over heads


def _window_macs(mod: ShiftedWindowAttention, x: torch.Tensor) -> tuple[int, int]:
    _, h, w, c = x.shape
    wh, ww = mod.window_size
    ph, pw = -(-h // wh) * wh, -(-w // ww) * ww
    windows, t = (ph // wh) * (pw // ww), wh * ww
    tokens = windows * t
    return tokens * c * 3 * c + tokens * c * c, windows * t * t * c * 2


def _device(model: nn.Module):
    return next(iter(model.parameters())).device


def count_macs(model: nn.Module, input_size=(3, 224, 224), attention_matmuls=True) -> Macs:
    """Multiply-adds of one forward pass for one image (batch 1), by category; the model is run
    where it is (build it under ``torch.device("meta")`` to count without computing)."""
    out = Macs()
    handles = []

    def hook(name):
        def f(mod, args, kwargs, result):
            if isinstance(mod, nn.Conv2d):
                n = result.numel() // result.shape[0] * (mod.in_channels // mod.groups) \
                    * mod.kernel_size[0] * mod.kernel_size[1]
                out.conv += n
            elif isinstance(mod, nn.Linear):
                n = result.numel() * mod.in_features
                out.linear += n
            elif isinstance(mod, nn.MultiheadAttention):
                q = args[0] if args else kwargs["query"]
                k = args[1] if len(args) > 1 else kwargs["key"]
                proj, mm = _mha_macs(mod, q, k)
                out.attn_proj += proj
                out.attn_matmul += mm if attention_matmuls else 0
                n = proj + mm
            else:
                proj, mm = _window_macs(mod, args[0] if args else kwargs["x"])
                out.attn_proj += proj
                out.attn_matmul += mm if attention_matmuls else 0
                n = proj + mm
            out.per_layer[name] = out.per_layer.get(name, 0) + n
        return f

    for name, mod in model.named_modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear, nn.MultiheadAttention, ShiftedWindowAttention)):
            handles.append(mod.register_forward_hook(hook(name), with_kwargs=True))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_size, device=_device(model)))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return out


def count_macs_dispatch(model: nn.Module, input_size=(3, 224, 224)) -> int:
    """Independent count: torch.utils.flop_counter (aten-level mm/addmm/bmm/convolution/attention
    FLOPs, 2 per multiply-add) halved. Grad mode stays on so nn.MultiheadAttention takes its
    decomposed path rather than the fused inference kernel, and scaled_dot_product_attention is held
    to its math backend (bmm, counted): the CPU flash kernel is missing from the counter's table and
    would silently drop QK^T and AV."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    counter = FlopCounterMode(display=False)
    try:
        model.eval()
        with sdpa_kernel(SDPBackend.MATH), counter:
            model(torch.zeros(1, *input_size, device=_device(model)))
    finally:
        model.train(was_training)
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return flops // 2
