"""Layers that move or gate values: dropout and stochastic depth, flatten, identity, channel
shuffle, a part of the channels (chunk), layer scale, upsampling, and the network's input."""
from __future__ import annotations

import math
import re
from typing import Literal, Optional, Union

from pydantic import Field, field_validator, model_validator

from netc.types import dims
from netc.types.dims import ShapeProblem
from netc.kinds.params import DropoutParams, IntOrPair, NoParams, Params, _pair, _positive_pair
from netc.types.tensortype import MAP, TOKENS, TensorType, fmap, vector
from netc.kinds.base import Kind, num, scaled_rf


class Dropout(Kind):
    kind, words, Params, prefix, family, pointwise = "dropout", ("dropout",), DropoutParams, "drop", "drop", True
    positional = ("p",)
    hidden_in_tables = True
    doc = "dropout with drop probability p (default 0.5): dropout(0.5)"
    onnx = {"Dropout": {}}
    caffe = {"Dropout": {}}

    stochastic = True
    torch_modules, torch_functions = ("Dropout", "Dropout2d"), ("dropout",)
    aten, torch_args = ("aten.dropout.default",), ("p",)

    def torch_params(self, m, x):
        return {"p": float(getattr(m, "p", 0.5))}

    def paper(self, p: DropoutParams):
        return f"dropout({num(p.p)})"

    def table_text(self, p) -> str:
        return f"dropout ({p.p * 100:g}%)"

    def module(self, node, ins):
        from torch import nn
        return nn.Dropout(node.params.p)


class DropPathParams(Params):
    p: float = Field(0.0, ge=0, lt=1, description="the probability of dropping the whole branch")


class DropPath(Kind):
    kind, words, Params, prefix, family, pointwise = "droppath", ("drop-path", "droppath", "drop_path",
                                                                  "stochastic-depth"), DropPathParams, "droppath", \
        "drop", True
    positional = ("p",)
    hidden_in_tables = True
    doc = ("stochastic depth: in training, drops a residual branch for a whole sample with probability p "
           "(scaling the kept ones by 1/(1-p)); the identity at inference: drop-path(0.1)")
    stochastic = True
    torch_modules = ("DropPath",)       # timm's and netc's

    def torch_params(self, m, x):
        return {"p": float(getattr(m, "p", getattr(m, "drop_prob", 0.0)))}

    def paper(self, p):
        return f"drop-path({num(p.p)})"

    def module(self, node, ins):
        from netc.backends.torch.layers import DropPath as DropPathModule
        return DropPathModule(node.params.p)


class Flatten(Kind):
    kind, words, prefix, family, functional = "flatten", ("flatten",), "flatten", "drop", True
    doc = "flatten a feature map into a vector (implicit before FC)"
    onnx = {"Flatten": {}}
    caffe = {"Flatten": {}}

    def infer(self, p, ins):
        if not dims.is_fixed(ins[0]):
            raise ShapeProblem(f"flatten needs a fixed-size input, but gets {dims.fmt_shape(ins[0])}",
                               hint="put spp[...] or a global average pool before it")
        return vector(math.prod(ins[0]))

    def lower(self, lo, args):
        import torch
        return lo.call(torch.flatten, args[0], 1, name=lo.name)


class Identity(Kind):
    kind, words, prefix, family, pointwise, functional = "identity", ("identity", "id", "skip"), "identity", \
        "drop", True, True
    doc = "passes its input through (a residual shortcut in add { ... })"

    def lower(self, lo, args):
        return args[0]


class ShuffleParams(Params):
    groups: int = Field(ge=1)


class ChannelShuffle(Kind):
    kind, words, Params, prefix, family, pointwise = "shuffle", ("shuffle", "channel-shuffle", "channel_shuffle"), \
        ShuffleParams, "shuffle", "drop", True
    accepts, functional = (MAP,), True
    positional = ("groups",)
    doc = "ShuffleNet's channel shuffle between groups: shuffle(3)"

    def paper(self, p):
        return f"shuffle({p.groups})"

    def infer(self, p, ins):
        if ins[0][0] % p.groups:
            raise ShapeProblem(f"shuffle({p.groups}): channels ({ins[0][0]}) are not divisible by the groups")
        return ins[0]

    def lower(self, lo, args):
        import torch.nn.functional as F
        return lo.call(F.channel_shuffle, args[0], lo.node.params.groups, name=lo.name)


class LayerScaleParams(Params):
    init: float = Field(1e-6, description="the initial value of every scale")


class LayerScale(Kind):
    kind, words, Params, prefix, family, pointwise = "layerscale", ("layer-scale", "layerscale", "layer_scale"), \
        LayerScaleParams, "layer_scale", "norm", True
    positional = ("init",)
    doc = "a learned scale per channel (ConvNeXt, CaiT), initialised to a small value: layer-scale(1e-6)"

    torch_modules = ("LayerScale",)         # timm's and netc's

    def torch_params(self, m, x):
        return {"init": float(getattr(m, "init_value", 1e-5))}

    def paper(self, p):
        return f"layer-scale({num(p.init)})"

    def count_params(self, p, ins, out):
        return ins[0].channels

    def module(self, node, ins):
        from netc.backends.torch.layers import LayerScale as LayerScaleModule
        return LayerScaleModule(ins[0].channels, node.params.init, spatial=ins[0].layout == MAP)

    def init(self, m) -> None:
        m.reset_parameters()


class ChunkParams(Params):
    parts: Union[int, list[int]] = Field(description="equal parts (2), or the channels of each part ([24, 40])")
    index: int = Field(0, ge=0, description="which part, from 0")

    @field_validator("parts", mode="before")
    @classmethod
    def _parts(cls, v):
        if isinstance(v, (list, tuple)):
            if not v or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in v):
                raise ValueError("the parts' sizes must be whole numbers at least 1, e.g. [24, 40]")
            return list(v)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError("parts must be a whole number at least 1 (chunk(2, 1)) or a list of sizes")
        return v

    @model_validator(mode="after")
    def _index(self):
        n = len(self.parts) if isinstance(self.parts, list) else self.parts
        if self.index >= n:
            raise ValueError(f"index {self.index} is past the last of {n} parts (they count from 0)")
        return self


def chunk_range(p: ChunkParams, channels) -> tuple[int, int]:
    """(start, length) of part ``p.index`` of ``channels`` split as ``p.parts`` says."""
    if isinstance(p.parts, list):
        if isinstance(channels, int) and sum(p.parts) != channels:
            raise ShapeProblem(f"the parts {p.parts} add up to {sum(p.parts)} channels, but the input has {channels}",
                               field="parts")
        return sum(p.parts[:p.index]), p.parts[p.index]
    if not isinstance(channels, int) or channels % p.parts:
        raise ShapeProblem(f"{channels} channels do not split into {p.parts} equal parts",
                           hint="give the parts' sizes as a list, e.g. [24, 40]", field="parts")
    size = channels // p.parts
    return size * p.index, size


class Chunk(Kind):
    kind, words, Params, prefix, family, functional = "chunk", ("chunk", "channel-split"), ChunkParams, "part", \
        "drop", True
    accepts = (MAP, TOKENS)
    positional = ("parts", "index")
    doc = ("one part of the channels: chunk(2, 1) is the second of two equal halves (torch's x.chunk(2, 1)[1]); "
           "chunk([24, 40], 0) the first 24")

    def paper(self, p):
        parts = p.parts if isinstance(p.parts, int) else list(p.parts)
        return f"chunk({parts}, {p.index})"

    def infer(self, p, ins):
        t = ins[0]
        if t.layout == TOKENS:
            _, size = chunk_range(p, t[1])
            return TensorType((t[0], size), TOKENS)
        _, size = chunk_range(p, t[0])
        return fmap(size, t[1], t[2])

    def lower(self, lo, args):
        import torch
        t = lo.ins[0]
        start, size = chunk_range(lo.node.params, t[1] if t.layout == TOKENS else t[0])
        return lo.call(torch.narrow, args[0], -1 if t.layout == TOKENS else 1, start, size, name=lo.name)


class DFLParams(Params):
    reg_max: int = Field(16, ge=1, description="the bins of each box side's distribution")


class DFL(Kind):
    """Generalized Focal Loss's integral (X. Li et al., arXiv:2006.04388, section 3.3), as YOLOv8's
    DFL module computes it: each box side's ``reg_max`` logits through a soft-max, then their
    expectation over the bins 0 ... reg_max-1, taken by a fixed 1x1 convolution whose weights are
    those bin values (its ``reg_max`` parameters are frozen: counted, not trained)."""
    kind, words, Params, prefix = "dfl", ("dfl", "integral"), DFLParams, "dfl"
    accepts, family, frozen_params = (MAP, TOKENS), "act", True
    positional = ("reg_max",)
    doc = ("the expected distance of each box side from its distribution over reg_max bins (YOLOv8's DFL, "
           "Generalized Focal Loss): 4*reg_max channels -> 4; dfl(16)")

    torch_modules = ("DFL",)        # netc's own (ultralytics' reads (N, 4r, A), another layout)

    def torch_params(self, m, x):
        return {"reg_max": int(m.reg_max)} if hasattr(m, "reg_max") and hasattr(m, "tokens") else None

    def paper(self, p):
        return f"dfl({p.reg_max})"

    def _channels(self, p, t):
        c = t[-1] if t.layout == TOKENS else t[0]
        if c != 4 * p.reg_max:
            raise ShapeProblem(f"dfl({p.reg_max}) reads 4 x {p.reg_max} = {4 * p.reg_max} channels (a distribution "
                               f"per box side), but gets {c}")

    def infer(self, p, ins):
        t = ins[0]
        self._channels(p, t)
        if t.layout == TOKENS:
            return TensorType((*t[:-1], 4), TOKENS)
        return fmap(4, t[1], t[2])

    def count_params(self, p, ins, out):
        return p.reg_max

    def count_macs(self, p, ins, out):
        n = math.prod(out)
        return None if not isinstance(n, int) else n * p.reg_max

    def module(self, node, ins):
        from netc.backends.torch.layers import DFL as DFLModule
        return DFLModule(node.params.reg_max, tokens=ins[0].layout == TOKENS, device="meta")

    def init(self, m) -> None:
        m.reset_parameters()


_SYM_SIZE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\*(\d+))?(?:/(\d+))?$")


def sym_size(v: str) -> tuple[str, int, int]:
    """``H/8`` -> ("H", 1, 8); ``W*3/4`` -> ("W", 3, 4): a size of the input, times a number, divided."""
    m = _SYM_SIZE.match(v.replace(" ", ""))
    if not m:
        raise ValueError(f"'{v}' is not a size: a number, or the input's H or W times or divided by a number (H/8)")
    return m.group(1), int(m.group(2) or 1), int(m.group(3) or 1)


class UpsampleParams(Params):
    factor: Optional[IntOrPair] = None
    size: Optional[Union[IntOrPair, tuple[Union[int, str], Union[int, str]]]] = Field(
        None, description="the output's height and width: numbers, or the input's sizes scaled ([H/8, W/8])")
    like: Optional[str] = Field(None, description="upsample to the height and width of this layer (or input)")
    mode: Literal["nearest", "bilinear"] = "nearest"
    align_corners: bool = False

    @field_validator("factor", "size", mode="before")
    @classmethod
    def _pos(cls, v, info):
        if info.field_name == "size" and isinstance(v, (list, tuple)) and any(isinstance(x, str) for x in v):
            if len(v) != 2:
                raise ValueError("size takes [height, width]")
            for x in v:
                if isinstance(x, str):
                    _, num, den = sym_size(x)
                    if num < 1 or den < 1:
                        raise ValueError(f"'{x}': multiply and divide by whole numbers at least 1")
                elif isinstance(x, bool) or not isinstance(x, int) or x < 1:
                    raise ValueError("size must be whole numbers at least 1, or the input's H or W scaled")
            return tuple(x.replace(" ", "") if isinstance(x, str) else x for x in v)
        return None if v is None else _positive_pair(v, info.field_name)

    def symbolic(self) -> bool:
        """The size is written with the input's names (``[H/8, W/8]``)."""
        return isinstance(self.size, tuple) and any(isinstance(x, str) for x in self.size)

    @model_validator(mode="after")
    def _one(self):
        if sum(x is not None for x in (self.factor, self.size, self.like)) != 1:
            raise ValueError("give one of a factor (upsample(2)), a size (upsample(size=[32, 32])) or a layer "
                             "whose size to take (upsample(like=c3))")
        return self


class Upsample(Kind):
    kind, words, Params, prefix, family = "upsample", ("upsample", "up", "upsampling", "resize"), UpsampleParams, \
        "up", "resize"
    accepts, table_word = (MAP,), "upsample"
    positional = ("factor",)
    layer_refs = ("like",)
    doc = ("upsampling by an integer factor, to a size, or to another layer's size, nearest or bilinear: "
           "upsample(2), upsample(2, mode=bilinear), upsample(like=input, mode=bilinear)")

    torch_modules = ("Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d")
    onnx = {"Resize": {}, "Upsample": {}}

    def torch_params(self, m, x):
        mode = str(m.mode)
        if mode not in ("nearest", "bilinear"):
            raise ValueError(f"mode={mode!r}")
        p: dict = {"mode": mode}
        if mode == "bilinear" and m.align_corners:
            p["align_corners"] = True
        if m.size is not None:
            p["size"] = _one_or_pair(m.size)
        else:
            f = m.scale_factor if isinstance(m.scale_factor, (tuple, list)) else (m.scale_factor, m.scale_factor)
            if any(float(v) != int(v) for v in f):
                raise ValueError(f"scale_factor={m.scale_factor}")
            p["factor"] = _one_or_pair([int(v) for v in f])
        return p

    def refs(self, p) -> list:
        """like=NAME reads NAME's size; a size written with the input's names reads the input's."""
        return [p.like] if p.like is not None else ["input"] if p.symbolic() else []

    def paper(self, p):
        mode = "" if p.mode == "nearest" else f", mode={p.mode}"
        if p.like is not None:
            return f"upsample(like={p.like}{mode})"
        if p.symbolic():
            return f"upsample(size=[{', '.join(str(x) for x in p.size)}]{mode})"
        if p.factor is not None:
            f = p.factor if isinstance(p.factor, int) else list(p.factor)
            return f"upsample({f}{mode})"
        s = p.size if isinstance(p.size, int) else list(p.size)
        return f"upsample(size={s}{mode})"

    def infer(self, p, ins):
        c, h, w = ins[0]
        if p.like is not None and len(ins) < 2:      # the name was not found (reported): no size to take
            return fmap(c, h, w)
        if p.like is not None:
            ref = ins[1]
            if ref.layout != MAP:
                raise ShapeProblem(f"upsample(like={p.like}): '{p.like}' gives {dims.fmt_shape(ref)}, not a feature map")
            return fmap(c, ref[1], ref[2])
        if p.factor is not None:
            fh, fw = _pair(p.factor)
            return fmap(c, dims.scale(h, fh), dims.scale(w, fw))
        if p.symbolic():        # [H/8, W/8]: the input's size (its second input; the first if it reads the input)
            src = ins[-1]
            return fmap(c, *(_scaled(x, src[1 + i]) for i, x in enumerate(p.size)))
        sh, sw = _pair(p.size)
        return fmap(c, sh, sw)

    def rf(self, p, rf_in, ins):
        if p.factor is not None:
            return scaled_rf(rf_in, _pair(p.factor)[0])
        h = ins[0][1]
        target = (ins[-1][1] if p.like is not None or p.symbolic() else _pair(p.size)[0])   # its own if not found
        if rf_in is None or not isinstance(h, int) or not isinstance(target, int):
            return None
        from fractions import Fraction
        return scaled_rf(rf_in, Fraction(target, h))

    def lower(self, lo, args):
        p = lo.node.params
        if p.symbolic():
            from netc.backends.torch.layers import resize_scaled
            (_, nh, dh), (_, nw, dw) = (sym_size(x) if isinstance(x, str) else ("", x, 0) for x in p.size)
            return lo.call(resize_scaled, args[0], args[-1], nh, dh, nw, dw, p.mode,
                           p.align_corners if p.mode == "bilinear" else None, name=lo.name)
        if p.like is None:
            return lo.activate(lo.call_module(args[0]))
        from netc.backends.torch.layers import resize_like
        return lo.call(resize_like, args[0], args[-1], p.mode, p.align_corners if p.mode == "bilinear" else None,
                       name=lo.name)

    def module(self, node, ins):
        from torch import nn
        p = node.params
        if p.like is not None or p.symbolic():
            return None
        ac = p.align_corners if p.mode == "bilinear" else None
        if p.factor is not None:
            f = _pair(p.factor)
            return nn.Upsample(scale_factor=(float(f[0]), float(f[1])), mode=p.mode, align_corners=ac)
        return nn.Upsample(size=_pair(p.size), mode=p.mode, align_corners=ac)


def _one_or_pair(v):
    h, w = (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))
    return h if h == w else [h, w]


def _scaled(x, dim):
    """A size of ``[H/8, W/8]``: a number, or the input's dimension times num, divided by den (floor)."""
    if not isinstance(x, str):
        return x
    _, num, den = sym_size(x)
    if isinstance(dim, int):
        return dim * num // den
    from netc.types.dims import _floordiv
    return _floordiv(dims.scale(dim, num), 0, den)


class Input(Kind):
    kind, words, family = "input", (), "input"
    doc = "the network's input (the `input` statement)"

    def paper(self, p):
        return "input"


KINDS = [Dropout(), DropPath(), Flatten(), Identity(), ChannelShuffle(), Chunk(), LayerScale(), Upsample(), DFL(),
         Input()]
__all__ = ["NoParams", "TOKENS"]
