"""The layer vocabulary: every built-in layer kind, its parameters (pydantic), the paper
notation that names it, its shape rule, and its cost.

A kind is a :class:`LayerKind`; the registry :data:`KINDS` maps every spelling (``FC``, ``fc``,
``linear``; ``soft-max``, ``softmax``) to one. Shapes are ``(C, H, W)`` for feature maps and
``(F,)`` for vectors; ``H`` and ``W`` may be symbolic (:mod:`netc.dims`).

Counting conventions (also in README and the JSON): ``params`` counts every learnable value
(weights, biases, batch-norm gamma/beta); ``macs`` are multiply-accumulates of convolutions and
fully-connected layers only (a conv: ``Hout*Wout*Cout * k*k*Cin/groups``), which is what the
GoogLeNet paper's "ops" column counts. Bias adds, activations, normalisation and pooling are free.
"""
from __future__ import annotations

import math
import re
from typing import ClassVar

from . import dims
from .dims import Dim, ShapeProblem, Sym  # noqa: F401 (ShapeProblem is re-exported)
from .params import (ActParams, AdaptivePoolParams, BNParams, ConvParams, DropoutParams,  # noqa: F401
                     FCParams, IntOrPair, LRNParams, NoParams, Params, PoolParams, SPPParams, _pair)

Shape = tuple  # (C, H, W) or (F,)


# ---------------------------------------------------------------- kinds
class LayerKind:
    """One kind of layer. Subclasses fill in the class attributes and override the rules."""

    kind: ClassVar[str]
    words: ClassVar[tuple[str, ...]] = ()       # spellings, compared lower-case
    Params: ClassVar[type[Params]] = NoParams
    positional: ClassVar[tuple[str, ...]] = ()  # names of positional arguments, in order
    prefix: ClassVar[str] = "layer"             # default-name prefix
    weight: ClassVar[bool] = False              # counts as a weight layer (depth, naming)
    ends_stage: ClassVar[bool] = False          # a pooling layer closes a VGG stage
    paper_re: ClassVar[re.Pattern | None] = None
    spatial_in: ClassVar[bool] = False          # needs a (C, H, W) input
    doc: ClassVar[str] = ""

    def from_paper(self, m: re.Match) -> dict:
        return {}

    def paper(self, p) -> str:
        return self.words[0] if self.words else self.kind

    def infer(self, p, ins: list[Shape]) -> Shape:
        return ins[0]

    def count_params(self, p, ins: list[Shape], out: Shape) -> int:
        return 0

    def count_macs(self, p, ins: list[Shape], out: Shape) -> int | None:
        return 0

    def rf(self, p, rf_in: tuple[int, int] | None, ins: list[Shape]) -> tuple[int, int] | None:
        return rf_in

    def activation(self, p) -> str:
        return "none"


def _need_spatial(kind: str, shape: Shape) -> None:
    if len(shape) != 3:
        raise ShapeProblem(f"{kind} needs a feature map (C x H x W), but gets a vector of {shape[0]}",
                           hint="put it before the fully-connected layers")


def _check_positive(dims_: tuple, what: str, before: Shape) -> None:
    for d in dims_:
        if isinstance(d, int) and d < 1:
            raise ShapeProblem(f"{what} makes the spatial size fall below 1 ({dims.fmt_shape(before)} -> "
                               f"{'x'.join(str(x) for x in dims_)})",
                               hint="use a larger input, less pooling, or padding")


def _window_rf(rf_in, k: int, s: int, d: int = 1):
    if rf_in is None:
        return None
    size, stride = rf_in
    return size + d * (k - 1) * stride, stride * s


class Conv(LayerKind):
    kind, words, Params, prefix, weight, spatial_in = "conv", ("conv", "convolution"), ConvParams, "conv", True, True
    positional = ("out", "k", "stride")
    paper_re = re.compile(r"^(?:conv|convolution)(\d+)(?:x(\d+))?-(\w+)(?:/(\d+))?$")
    doc = "convolution, same padding and ReLU by default: conv3-64, conv11-96/4, conv(k=11, c=96, stride=4, pad=0)"

    def from_paper(self, m):
        kh, kw, c, s = m.groups()
        out = {"k": int(kh) if kw is None or kw == kh else [int(kh), int(kw)], "out": c}
        if s is not None:
            out["stride"] = int(s)
        return out

    def paper(self, p: ConvParams):
        kh, kw = p.kernel()
        sh, sw = p.strides()
        k = f"{kh}" if kh == kw else f"{kh}x{kw}"
        s = "" if (sh, sw) == (1, 1) else f"/{sh}" if sh == sw else f"/{sh}x{sw}"
        # what changes the layer's weights or reach beyond the word: shown as the spec writes it
        extra = [f"groups={p.groups}"] * (p.groups != 1) + [f"padding_mode={p.padding_mode}"] * (
            p.padding_mode != "zeros")
        dh, dw = p.dilations()
        if (dh, dw) != (1, 1):
            extra.insert(0, f"dilation={dh}" if dh == dw else f"dilation=[{dh}, {dw}]")
        return f"conv{k}-{p.out}{s}" + (f"({', '.join(extra)})" if extra else "")

    def infer(self, p: ConvParams, ins):
        c, h, w = ins[0]
        if c % p.groups:
            raise ShapeProblem(f"{self.paper(p)}: input channels ({c}) are not divisible by groups ({p.groups})")
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = p.kernel(), p.strides(), p.padding(), p.dilations()
        out = (p.out, dims.window(h, kh, sh, ph, dh), dims.window(w, kw, sw, pw, dw))
        _check_positive(out[1:], self.paper(p), ins[0])
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
        return _window_rf(rf_in, p.kernel()[0], p.strides()[0], p.dilations()[0])

    def activation(self, p):
        return p.act


class FC(LayerKind):
    kind, words, Params, prefix, weight = "fc", ("fc", "linear", "fully-connected", "ip", "innerproduct"), FCParams, "fc", True
    positional = ("out",)
    paper_re = re.compile(r"^(?:fc|linear)-(\w+)$")
    doc = "fully-connected layer (flattens a feature map first), ReLU unless it is the output layer: FC-4096"

    def from_paper(self, m):
        return {"out": m.group(1)}

    def paper(self, p: FCParams):
        return f"FC-{p.out}"

    def infer(self, p, ins):
        return (p.out,)

    def in_features(self, shape: Shape) -> int:
        return math.prod(shape)

    def count_params(self, p: FCParams, ins, out):
        return self.in_features(ins[0]) * p.out + (p.out if p.bias else 0)

    def count_macs(self, p: FCParams, ins, out):
        return self.in_features(ins[0]) * p.out

    def rf(self, p, rf_in, ins):
        if len(ins[0]) == 3:   # a flattened map acts like a conv as large as the map
            return _window_rf(rf_in, ins[0][1], 1) if isinstance(ins[0][1], int) else None
        return rf_in

    def activation(self, p):
        return p.act


class _Pool(LayerKind):
    Params, prefix, ends_stage, spatial_in = PoolParams, "pool", True, True
    positional = ("k", "stride")
    op = "max"

    def from_paper(self, m):
        k, k2, s = m.groups()
        out: dict = {}
        if k is not None:
            out["k"] = int(k) if k2 is None or k2 == k else [int(k), int(k2)]
        if s is not None:
            out["stride"] = int(s)
        return out

    def paper(self, p: PoolParams):
        (kh, kw), (sh, sw) = p.kernel(), p.strides()
        base = self.words[0]
        if (kh, kw, sh, sw) == (2, 2, 2, 2):
            return base
        k = f"{kh}" if kh == kw else f"{kh}x{kw}"
        return f"{base}{k}/{sh}" if sh == sw else f"{base}{k}/{sh}x{sw}"

    def infer(self, p: PoolParams, ins):
        c, h, w = ins[0]
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = p.kernel(), p.strides(), p.padding(), p.dilations()
        out = (c, dims.window(h, kh, sh, ph, dh, p.ceil), dims.window(w, kw, sw, pw, dw, p.ceil))
        _check_positive(out[1:], self.paper(p), ins[0])
        return out

    def rf(self, p: PoolParams, rf_in, ins):
        return _window_rf(rf_in, p.kernel()[0], p.strides()[0], p.dilations()[0])


class MaxPool(_Pool):
    kind, words = "maxpool", ("maxpool", "max-pool", "max_pool", "mpool")
    paper_re = re.compile(r"^(?:maxpool|max-pool|max_pool)(\d+)(?:x(\d+))?(?:/(\d+))?$")
    doc = "max pooling, 2x2 stride 2 by default: maxpool, maxpool3/2, maxpool3/2(ceil)"


class AvgPool(_Pool):
    kind, words = "avgpool", ("avgpool", "avg-pool", "avg_pool", "avepool", "average-pool")
    paper_re = re.compile(r"^(?:avgpool|avg-pool|avg_pool|avepool)(\d+)(?:x(\d+))?(?:/(\d+))?$")
    op = "avg"
    doc = "average pooling: avgpool7/1, avgpool5/3"


class GlobalAvgPool(LayerKind):
    kind, words, prefix, ends_stage, spatial_in = "gap", ("gap", "global-avgpool", "global_avgpool", "globalavgpool", "global-avg-pool"), "pool", True, True
    doc = "global average pooling: C x H x W -> C x 1 x 1, for any H and W"

    def paper(self, p):
        return "global-avgpool"

    def infer(self, p, ins):
        return (ins[0][0], 1, 1)

    def rf(self, p, rf_in, ins):
        return _window_rf(rf_in, ins[0][1], 1) if isinstance(ins[0][1], int) else None


class GlobalMaxPool(GlobalAvgPool):
    kind, words = "gmp", ("gmp", "global-maxpool", "global_maxpool", "globalmaxpool", "global-max-pool")
    doc = "global max pooling: C x H x W -> C x 1 x 1"

    def paper(self, p):
        return "global-maxpool"


class AdaptiveAvgPool(LayerKind):
    kind, words, Params, prefix, ends_stage, spatial_in = "adaptive_avgpool", ("adaptive-avgpool", "adaptive_avgpool", "adaptiveavgpool"), AdaptivePoolParams, "pool", True, True
    positional = ("out",)
    doc = "adaptive average pooling to a fixed grid: adaptive-avgpool(7) (torchvision's AdaptiveAvgPool2d)"

    def paper(self, p):
        return f"adaptive-avgpool({p.out if isinstance(p.out, int) else list(p.out)})"

    def infer(self, p, ins):
        oh, ow = _pair(p.out)
        return (ins[0][0], oh, ow)

    def rf(self, p, rf_in, ins):
        # bin i covers [floor(i*H/n), ceil((i+1)*H/n)): the widest bin, and the stride H/n when n divides H
        h, n = ins[0][1], _pair(p.out)[0]
        if not isinstance(h, int):
            return None
        widest = max(-(-(i + 1) * h // n) - i * h // n for i in range(n))
        return _window_rf(rf_in, widest, max(1, h // n))


class SPP(LayerKind):
    kind, words, Params, prefix, ends_stage, spatial_in = "spp", ("spp",), SPPParams, "spp", True, True
    positional = ("levels",)
    doc = "spatial pyramid pooling: spp[6,3,2,1] max-pools each level into n x n bins -> C * sum(n^2), any H and W"

    def paper(self, p: SPPParams):
        return "spp[" + ",".join(str(n) for n in p.levels) + "]"

    def infer(self, p: SPPParams, ins):
        return (ins[0][0] * sum(n * n for n in p.levels),)

    def rf(self, p, rf_in, ins):
        return _window_rf(rf_in, ins[0][1], 1) if isinstance(ins[0][1], int) else None


class LRN(LayerKind):
    kind, words, Params, prefix = "lrn", ("lrn", "norm", "local-response-norm"), LRNParams, "norm"
    positional = ("size", "alpha", "beta", "k")
    doc = ("local response normalisation with Krizhevsky et al.'s constants (n=5, alpha=1e-4, beta=0.75, k=2), "
           "alpha in the paper's convention; convention=torch|caffe takes PyTorch's")

    def paper(self, p):
        return "LRN"

    def infer(self, p, ins):
        _need_spatial("LRN", ins[0])
        return ins[0]


class BatchNorm(LayerKind):
    kind, words, Params, prefix = "bn", ("bn", "batchnorm", "batch-norm", "batch_norm"), BNParams, "bn"
    doc = "batch normalisation over channels (2 parameters per channel)"

    def paper(self, p):
        return "BN"

    def count_params(self, p: BNParams, ins, out):
        return 2 * ins[0][0] if p.affine else 0

    def activation(self, p):
        return p.act


class Dropout(LayerKind):
    kind, words, Params, prefix = "dropout", ("dropout",), DropoutParams, "drop"
    positional = ("p",)
    doc = "dropout with drop probability p (default 0.5): dropout(0.5)"

    def paper(self, p: DropoutParams):
        return f"dropout({p.p:g})"


class Softmax(LayerKind):
    kind, words, prefix = "softmax", ("soft-max", "softmax"), "prob"
    doc = "soft-max over classes; at the end of a network it is the output layer (see `output`)"

    def paper(self, p):
        return "soft-max"


class Flatten(LayerKind):
    kind, words, prefix = "flatten", ("flatten",), "flatten"
    doc = "flatten a feature map into a vector (implicit before FC)"

    def infer(self, p, ins):
        if len(ins[0]) == 3 and not dims.is_fixed(ins[0]):
            raise ShapeProblem(f"flatten needs a fixed-size input, but gets {dims.fmt_shape(ins[0])}",
                               hint="put spp[...] or a global average pool before it")
        return (math.prod(ins[0]),)


class Identity(LayerKind):
    kind, words, prefix = "identity", ("identity", "id", "skip"), "identity"
    doc = "passes its input through (a residual shortcut in add { ... })"


class Act(LayerKind):
    Params, prefix = NoParams, "act"

    def paper(self, p):
        return self.words[0]


class ReLU(Act):
    kind, words, prefix = "relu", ("relu",), "relu"
    doc = "ReLU as a layer of its own (layers with weights have it built in)"

    def paper(self, p):
        return "ReLU"


class Sigmoid(Act):
    kind, words, prefix = "sigmoid", ("sigmoid",), "sigmoid"
    doc = "logistic sigmoid"


class Tanh(Act):
    kind, words, prefix = "tanh", ("tanh",), "tanh"
    doc = "hyperbolic tangent"


BUILTIN_KINDS: list[LayerKind] = [Conv(), FC(), MaxPool(), AvgPool(), GlobalAvgPool(), GlobalMaxPool(),
                                  AdaptiveAvgPool(), SPP(), LRN(), BatchNorm(), Dropout(), Softmax(),
                                  Flatten(), Identity(), ReLU(), Sigmoid(), Tanh()]

#: kind name -> LayerKind (built-ins and registered custom layers)
KINDS: dict[str, LayerKind] = {k.kind: k for k in BUILTIN_KINDS}
#: every spelling, lower-case -> kind name
WORDS: dict[str, str] = {w: k.kind for k in BUILTIN_KINDS for w in k.words}


def register(kind: LayerKind, replace: bool = False) -> LayerKind:
    """Add a layer kind to the vocabulary (used by :func:`netc.register_layer`)."""
    names = [kind.kind, *kind.words]
    for w in names:
        w = w.lower()
        if not replace and w in WORDS and WORDS[w] != kind.kind:
            raise ValueError(f"layer name {w!r} is already taken by {WORDS[w]!r}")
    KINDS[kind.kind] = kind
    for w in names:
        WORDS[w.lower()] = kind.kind
    return kind


def unregister(name: str) -> None:
    kind = KINDS.pop(name, None)
    if kind is not None:
        for w in [name, *kind.words]:
            if WORDS.get(w.lower()) == name:
                del WORDS[w.lower()]


def lookup_word(word: str) -> tuple[LayerKind, dict] | None:
    """Interpret a layer word as written in a spec: ``conv3-64`` -> (Conv, {k: 3, out: '64'}).

    Values from the notation stay strings when they are names (``FC-num_classes``); the
    compiler resolves them against variables.
    """
    w = word.lower()
    if w in WORDS:
        return KINDS[WORDS[w]], {}
    for k in KINDS.values():
        if k.paper_re is not None:
            m = k.paper_re.match(w)
            if m:
                return k, k.from_paper(_orig_case(word, m))
    return None


def _orig_case(word: str, m: re.Match) -> re.Match:
    # paper_re matched the lower-cased word; match again on the original so names keep their case
    again = m.re.match(word) or re.compile(m.re.pattern, re.IGNORECASE).match(word)
    return again or m


def vocabulary() -> list[str]:
    """Every layer spelling netc knows, for did-you-mean hints."""
    words = set(WORDS)
    words.update({"conv3-64", "conv1-256", "conv11-96/4", "maxpool3/2", "avgpool7/1", "FC-4096", "spp[6,3,2,1]"})
    return sorted(words)


__all__ = ["LayerKind", "KINDS", "WORDS", "lookup_word", "register", "unregister", "ShapeProblem",
           "Params", "Sym", "Dim"]
