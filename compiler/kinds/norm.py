"""Normalisation: Krizhevsky's ``LRN``, batch norm (and frozen batch norm), layer norm (over a map's channels as ConvNeXt
does, or over each token), group norm and instance norm."""
from __future__ import annotations

import math

from pydantic import Field

from netc.kinds.params import Activation, BNParams, LRNParams, Params
from netc.types.tensortype import MAP, TOKENS, VECTOR
from netc.kinds.base import Kind, num


class LRN(Kind):
    kind, words, Params, prefix, role = "lrn", ("lrn", "norm", "local-response-norm"), LRNParams, "norm", "norm"
    accepts, family, table_word = (MAP,), "norm", "LRN"
    onnx = {"LRN": {}}
    caffe = {"LRN": {}}
    positional = ("size", "alpha", "beta", "k")
    doc = ("local response normalisation with Krizhevsky et al.'s constants (n=5, alpha=1e-4, beta=0.75, k=2), "
           "alpha in the paper's convention; convention=torch|caffe takes PyTorch's")

    torch_modules = ("LocalResponseNorm", "WithinChannelLRN")     # torch's, and netc's own within a channel

    def torch_params(self, m, x):
        region = "within" if type(m).__name__ == "WithinChannelLRN" else "across"
        return {"size": m.size, "alpha": float(m.alpha), "beta": float(m.beta), "k": float(m.k), "region": region}

    def paper(self, p):
        return "LRN"

    def canonical(self, p):
        # alpha as PyTorch computes it: the paper's 1e-4 and Caffe's 1e-4 are different layers
        return {**p.model_dump(), "alpha": p.torch_alpha()}

    def foreign_params(self, d):
        # torch, ONNX and Caffe divide alpha by the window: Krizhevsky's constants are the plain word,
        # any others keep that convention (convention=caffe)
        p = LRNParams(**{"convention": "caffe", **d})
        paper = LRNParams()
        return paper if p.region == "across" and p.size == 5 and math.isclose(p.torch_alpha(), paper.torch_alpha(), rel_tol=1e-5) \
            and math.isclose(p.beta, paper.beta, rel_tol=1e-5) and math.isclose(p.k, paper.k, rel_tol=1e-5) else p

    def module(self, node, ins):
        from netc.dsl.errors import SpecError
        from netc.backends.torch.lrn import LocalResponseNorm, WithinChannelLRN
        p = node.params
        if p.region == "across":
            return LocalResponseNorm(p.size, alpha=p.torch_alpha(), beta=p.beta, k=p.k)
        if p.size % 2 == 0:
            raise SpecError(f"LRN within a channel needs an odd size (got {p.size})", node.span,
                            hint="Caffe rejects even sizes too; use size=3 or 5")
        return WithinChannelLRN(p.size, alpha=p.torch_alpha(), beta=p.beta, k=p.k)


class BatchNorm(Kind):
    kind, words, Params, prefix = "bn", ("bn", "batchnorm", "batch-norm", "batch_norm"), BNParams, "bn"
    caffe = {"BatchNorm": {}}     # its affine part: the Scale layer after it (the importer joins them)
    accepts, family, table_word, pointwise = (MAP, VECTOR), "norm", "batch norm", True
    doc = "batch normalisation over channels (2 parameters per channel)"
    onnx = {"BatchNormalization": {}}

    def paper(self, p):
        return "BN"

    def count_params(self, p: BNParams, ins, out):
        return 2 * ins[0][0] if p.affine else 0

    def count_buffers(self, p, out):
        return 2 * out[0]                     # running mean and variance

    def activation(self, p):
        return p.act

    def module(self, node, ins):
        from torch import nn
        p = node.params
        cls = nn.BatchNorm2d if ins[0].layout == MAP else nn.BatchNorm1d
        return cls(ins[0][0], eps=p.eps, momentum=p.momentum, affine=p.affine, device="meta")


class FrozenBNParams(Params):
    eps: float = Field(1e-5, gt=0, description="added to the variance (torchvision's 1e-5)")
    act: Activation = "none"


class FrozenBatchNorm(Kind):
    """torchvision's FrozenBatchNorm2d: statistics and affine are fixed buffers (4 per channel), nothing
    is trained, and training mode normalises as eval mode does (detection backbones)."""
    kind, words, Params, prefix = "frozen-bn", ("frozen-bn", "frozenbn", "frozen_bn", "frozen-batchnorm",
                                                "frozenbatchnorm", "frozenbatchnorm2d"), FrozenBNParams, "bn"
    accepts, family, table_word, pointwise = (MAP,), "norm", "frozen batch norm", True
    doc = ("frozen batch normalisation (torchvision's FrozenBatchNorm2d): weight, bias, running mean and "
           "variance are buffers, 0 parameters; conv(bn=frozen) puts one after a convolution")

    torch_modules = ("FrozenBatchNorm2d",)      # torchvision's and netc's

    def torch_params(self, m, x):
        return {"eps": float(m.eps)}

    def paper(self, p):
        return "FrozenBN" if p.eps == 1e-5 else f"FrozenBN(eps={num(p.eps)})"

    def count_buffers(self, p, out):
        return 4 * out[0]                     # weight, bias, running mean, running variance

    def activation(self, p):
        return p.act

    def module(self, node, ins):
        from netc.backends.torch.frozen_bn import FrozenBatchNorm2d
        return FrozenBatchNorm2d(ins[0][0], eps=node.params.eps, device="meta")

    def init(self, m) -> None:
        m.reset_parameters()


class LNParams(Params):
    eps: float = Field(1e-5, gt=0)
    affine: bool = True
    act: Activation = "none"


class LayerNorm(Kind):
    kind, words, Params, prefix = "ln", ("ln", "layernorm", "layer-norm", "layer_norm"), LNParams, "ln"
    accepts, family, table_word, pointwise = (MAP, TOKENS, VECTOR), "norm", "layer norm", True
    onnx = {"LayerNormalization": {}}     # over the last axis: the importer
    doc = ("layer normalisation: over the channels at each position of a feature map (ConvNeXt's LayerNorm2d), "
           "over each token's features, or over a vector")

    def paper(self, p):
        return "LN" if p.eps == 1e-5 else f"LN(eps={num(p.eps)})"

    def count_params(self, p, ins, out):
        return 2 * ins[0].channels if p.affine else 0

    def activation(self, p):
        return p.act

    def module(self, node, ins):
        from torch import nn

        from netc.backends.torch.layers import LayerNorm2d
        p = node.params
        cls = LayerNorm2d if ins[0].layout == MAP else nn.LayerNorm
        return cls(ins[0].channels, eps=p.eps, elementwise_affine=p.affine, device="meta")


class GNParams(Params):
    groups: int = Field(32, ge=1)
    eps: float = Field(1e-5, gt=0)
    affine: bool = True
    act: Activation = "none"


class GroupNorm(Kind):
    kind, words, Params, prefix = "gn", ("gn", "groupnorm", "group-norm", "group_norm"), GNParams, "gn"
    accepts, family, table_word, pointwise = (MAP,), "norm", "group norm", True
    positional = ("groups",)
    doc = "group normalisation: gn(32) normalises each of 32 channel groups"

    def paper(self, p):
        return f"GN({p.groups})"

    def infer(self, p, ins):
        from netc.types.dims import ShapeProblem
        if ins[0][0] % p.groups:
            raise ShapeProblem(f"{self.paper(p)}: channels ({ins[0][0]}) are not divisible by groups ({p.groups})")
        return ins[0]

    def count_params(self, p, ins, out):
        return 2 * ins[0][0] if p.affine else 0

    def activation(self, p):
        return p.act

    def module(self, node, ins):
        from torch import nn
        p = node.params
        return nn.GroupNorm(p.groups, ins[0][0], eps=p.eps, affine=p.affine, device="meta")


class INParams(Params):
    eps: float = Field(1e-5, gt=0)
    affine: bool = False
    act: Activation = "none"


class InstanceNorm(Kind):
    kind, words, Params, prefix = "instnorm", ("instnorm", "instancenorm", "instance-norm", "instance_norm"), \
        INParams, "instnorm"
    accepts, family, table_word, pointwise = (MAP,), "norm", "instance norm", True
    doc = "instance normalisation (per sample and channel); affine=true adds 2 parameters per channel"

    def paper(self, p):
        return "IN"

    def count_params(self, p, ins, out):
        return 2 * ins[0][0] if p.affine else 0

    def activation(self, p):
        return p.act

    def module(self, node, ins):
        from torch import nn
        p = node.params
        return nn.InstanceNorm2d(ins[0][0], eps=p.eps, affine=p.affine, device="meta")


KINDS = [LRN(), BatchNorm(), FrozenBatchNorm(), LayerNorm(), GroupNorm(), InstanceNorm()]
