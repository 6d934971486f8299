"""Convolutions: ``conv3-64``, ``conv11-96/4``, ``conv(k=11, c=96, stride=4, pad=0)``, and the
transposed convolution U-Net writes ``up-conv 2x2`` (``upconv2-512``)."""
from __future__ import annotations

import re
from typing import Literal, Optional, Union

from pydantic import Field, field_validator, model_validator

from netc.types import dims
from netc.types.dims import ShapeProblem
from netc.kinds.params import Activation, ConvParams, IntOrPair, Params, _pair, _positive_pair
from netc.types.tensortype import MAP, fmap
from netc.kinds.base import Kind, check_positive, scaled_rf, window_rf

_WORD = r"(\d+|[a-z_][a-z0-9_]*)"


def _k_from_word(kh, kw):
    kh = int(kh) if kh.isdigit() else kh
    if kw is None or kw == str(kh):
        return kh
    return [kh, int(kw) if kw.isdigit() else kw]


def _from_word(m) -> dict:
    """conv3-64/2, upconv2-c: kernel (or kh x kw), channels, stride: numbers or variables."""
    kh, kw, c, s = m.groups()
    out = {"k": _k_from_word(kh, kw), "out": c}
    if s is not None:
        out["stride"] = s
    return out


def _one(v):
    """A size as netc writes it: one number where height and width agree, else [h, w]."""
    h, w = _pair(v)
    return h if h == w else [h, w]


def _stride_text(sh: int, sw: int) -> str:
    return "" if (sh, sw) == (1, 1) else f"/{sh}" if sh == sw else f"/{sh}x{sw}"


class Conv(Kind):
    kind, words, Params, prefix, role, weight = "conv", ("conv", "convolution"), ConvParams, "conv", "conv", True
    accepts, family, table_word = (MAP,), "conv", "convolution"
    positional = ("out", "k", "stride")
    # the kernel, channels and stride may be numbers or variables: conv3-64, convk-c, conv3-c/s
    paper_re = re.compile(rf"^(?:conv|convolution){_WORD}(?:x{_WORD})?-(\w+)(?:/(\w+))?$")
    doc = "convolution, same padding and ReLU by default: conv3-64, conv11-96/4, conv(k=11, c=96, stride=4, pad=0)"
    onnx = {"Conv": {}}
    caffe = {"Convolution": {}}

    torch_modules = ("Conv2d",)

    def torch_params(self, m, x):
        if m.padding_mode != "zeros":
            raise ValueError(f"padding_mode={m.padding_mode}")
        pad = m.padding
        if isinstance(pad, str):      # 'same' / 'valid'
            (kh, kw), (dh, dw) = _pair(m.kernel_size), _pair(m.dilation)
            pad = (0, 0) if pad == "valid" else (dh * (kh - 1) // 2, dw * (kw - 1) // 2)
        p = {"out": m.out_channels, "k": _one(m.kernel_size), "stride": _one(m.stride), "pad": _one(pad),
             "groups": m.groups, "bias": m.bias is not None}
        if _pair(m.dilation) != (1, 1):
            p["dilation"] = _one(m.dilation)
        return p

    def from_paper(self, m):
        return _from_word(m)

    def paper(self, p: ConvParams):
        kh, kw = p.kernel()
        k = f"{kh}" if kh == kw else f"{kh}x{kw}"
        # what changes the layer's weights or reach beyond the word: shown as the spec writes it
        extra = [f"groups={p.groups}"] * (p.groups != 1) + [f"padding_mode={p.padding_mode}"] * (
            p.padding_mode != "zeros")
        dh, dw = p.dilations()
        if (dh, dw) != (1, 1):
            extra.insert(0, f"dilation={dh}" if dh == dw else f"dilation=[{dh}, {dw}]")
        return f"conv{k}-{p.out}{_stride_text(*p.strides())}" + (f"({', '.join(extra)})" if extra else "")

    def canonical(self, p: ConvParams) -> dict:
        d = dict(p.model_dump())
        for key, method in (("k", "kernel"), ("stride", "strides"), ("pad", "padding"), ("dilation", "dilations")):
            h, w = getattr(p, method)()
            d[key] = h if h == w else [h, w]
        if p.padding() == p.same_padding():
            d["pad"] = "same"   # conv1 -> conv3 keeps "same" however its padding is written
        if d.get("bn") is False:          # conv(bn=true) was expanded into conv + bn: the bn_* are moot
            for k in ("bn", "bn_eps", "bn_momentum"):
                d.pop(k, None)
        return d

    def infer(self, p: ConvParams, ins):
        c, h, w = ins[0]
        if c % p.groups:
            raise ShapeProblem(f"{self.paper(p)}: input channels ({c}) are not divisible by groups ({p.groups})")
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = p.kernel(), p.strides(), p.padding(), p.dilations()
        out = fmap(p.out, dims.window(h, kh, sh, ph, dh), dims.window(w, kw, sw, pw, dw))
        check_positive(out[1:], lambda: self.paper(p), ins[0])
        return out

    def count_params(self, p: ConvParams, ins, out):
        kh, kw = p.kernel()
        return p.out * (ins[0][0] // p.groups) * kh * kw + (p.out if p.bias else 0)

    def count_macs(self, p: ConvParams, ins, out):
        if not dims.is_fixed(out):
            return None
        kh, kw = p.kernel()
        return out[0] * out[1] * out[2] * (ins[0][0] // p.groups) * kh * kw

    def rf(self, p: ConvParams, rf_in, ins):
        return window_rf(rf_in, p.kernel()[0], p.strides()[0], p.dilations()[0])

    def activation(self, p):
        return p.act

    def module(self, node, ins):
        from torch import nn
        p = node.params
        return nn.Conv2d(ins[0][0], p.out, p.kernel(), stride=p.strides(), padding=p.padding(),
                         dilation=p.dilations(), groups=p.groups, bias=p.bias, padding_mode=p.padding_mode,
                         device="meta")


class UpConvParams(Params):
    out: int = Field(ge=1, description="output channels")
    k: IntOrPair = 2
    stride: Optional[IntOrPair] = None        # the kernel size when omitted: up-conv 2x2 doubles H and W
    pad: IntOrPair = 0
    output_pad: IntOrPair = 0
    groups: int = Field(1, ge=1)
    bias: bool = True
    act: Activation = "none"

    @field_validator("k", mode="before")
    @classmethod
    def _pos(cls, v):
        return _positive_pair(v, "k")

    @field_validator("stride", mode="before")
    @classmethod
    def _stride(cls, v):
        return None if v is None else _positive_pair(v, "stride")

    @field_validator("pad", "output_pad", mode="before")
    @classmethod
    def _pad(cls, v):
        vals = list(v) if isinstance(v, (list, tuple)) else [v]
        if any(isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in vals) or len(vals) not in (1, 2):
            raise ValueError("must be a whole number at least 0, or a pair [h, w]")
        return vals[0] if len(vals) == 1 else tuple(vals)

    @model_validator(mode="after")
    def _groups(self):
        if self.out % self.groups:
            raise ValueError(f"out ({self.out}) must be divisible by groups ({self.groups})")
        return self

    def kernel(self):
        return _pair(self.k)

    def strides(self):
        return _pair(self.stride if self.stride is not None else self.k)


class UpConv(Kind):
    kind, words, Params, prefix, role, weight = "upconv", ("upconv", "up-conv", "deconv", "convt",
                                                           "conv-transpose"), UpConvParams, "upconv", "conv", True
    accepts, family, table_word = (MAP,), "conv", "up-convolution"
    positional = ("out", "k", "stride")
    paper_re = re.compile(rf"^(?:upconv|up-conv|deconv){_WORD}(?:x{_WORD})?-(\w+)(?:/(\w+))?$")
    caffe = {"Deconvolution": {}}
    doc = ("transposed convolution, stride = kernel by default (U-Net's up-conv 2x2 doubles H and W): "
           "upconv2-512, upconv(out=64, k=4, stride=2, pad=1)")

    torch_modules = ("ConvTranspose2d",)

    def torch_params(self, m, x):
        if m.padding_mode != "zeros" or _pair(m.dilation) != (1, 1):
            raise ValueError(f"padding_mode={m.padding_mode}, dilation={m.dilation}")
        return {"out": m.out_channels, "k": _one(m.kernel_size), "stride": _one(m.stride), "pad": _one(m.padding),
                "output_pad": _one(m.output_padding), "groups": m.groups, "bias": m.bias is not None}

    def from_paper(self, m):
        return _from_word(m)

    def paper(self, p: UpConvParams):
        kh, kw = p.kernel()
        k = f"{kh}" if kh == kw else f"{kh}x{kw}"
        sh, sw = p.strides()
        s = "" if (sh, sw) == (kh, kw) else f"/{sh}" if sh == sw else f"/{sh}x{sw}"
        return f"upconv{k}-{p.out}{s}"

    def canonical(self, p):
        d = dict(p.model_dump())
        d["stride"] = list(p.strides())
        return d

    def infer(self, p: UpConvParams, ins):
        c, h, w = ins[0]
        if c % p.groups:
            raise ShapeProblem(f"{self.paper(p)}: input channels ({c}) are not divisible by groups ({p.groups})")
        (kh, kw), (sh, sw) = p.kernel(), p.strides()
        (ph, pw), (oh, ow) = _pair(p.pad), _pair(p.output_pad)
        out = fmap(p.out, dims.shift(dims.scale(h, sh), kh - sh - 2 * ph + oh),
                   dims.shift(dims.scale(w, sw), kw - sw - 2 * pw + ow))
        check_positive(out[1:], lambda: self.paper(p), ins[0])
        return out

    def count_params(self, p, ins, out):
        kh, kw = p.kernel()
        return ins[0][0] * (p.out // p.groups) * kh * kw + (p.out if p.bias else 0)

    def count_macs(self, p, ins, out):
        if not dims.is_fixed(ins[0]):
            return None
        kh, kw = p.kernel()
        c, h, w = ins[0]
        return h * w * c * (p.out // p.groups) * kh * kw

    def rf(self, p, rf_in, ins):
        return scaled_rf(rf_in, p.strides()[0])

    def activation(self, p):
        return p.act

    def module(self, node, ins):
        from torch import nn
        p = node.params
        return nn.ConvTranspose2d(ins[0][0], p.out, p.kernel(), stride=p.strides(), padding=_pair(p.pad),
                                  output_padding=_pair(p.output_pad), groups=p.groups, bias=p.bias, device="meta")


KINDS = [Conv(), UpConv()]
__all__ = ["Conv", "UpConv", "UpConvParams", "Literal", "Union"]
