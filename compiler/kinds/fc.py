"""Fully-connected layers: ``FC-4096``, ``fc-10``, ``linear(10)``. A feature map is flattened
first; on a token sequence the layer acts on each token (the transformer's Linear)."""
from __future__ import annotations

import math
import re

from netc.types import dims
from netc.types.dims import ShapeProblem
from netc.kinds.params import FCParams
from netc.types.tensortype import MAP, TOKENS, TensorType, vector
from netc.kinds.base import Kind, window_rf


class FC(Kind):
    kind, words, Params, prefix, role, weight = "fc", ("fc", "linear", "fully-connected", "ip",
                                                       "innerproduct"), FCParams, "fc", "fc", True
    family, table_word = "fc", "linear"
    positional = ("out",)
    paper_re = re.compile(r"^(?:fc|linear)-(\w+)$")
    onnx = {"Gemm": {}}     # alpha, beta, transA: the importer
    caffe = {"InnerProduct": {"transpose": False}}
    doc = ("fully-connected layer (flattens a feature map first; acts per token on tokens), ReLU unless it is "
           "the output layer: FC-4096")

    torch_modules = ("Linear",)

    def torch_params(self, m, x):
        return {"out": m.out_features, "bias": m.bias is not None}

    def from_paper(self, m):
        return {"out": m.group(1)}

    def paper(self, p: FCParams):
        return f"FC-{p.out}"

    def check_input(self, p, ins, preds):
        if ins[0].layout == MAP and not dims.is_fixed(ins[0]):
            raise ShapeProblem(f"{self.paper(p)} needs a fixed-size input, but {preds[0]} gives "
                               f"{dims.fmt_shape(ins[0])}",
                               hint="put spp[4,2,1] or a global average pool (gap) before it")

    def infer(self, p, ins):
        if ins[0].layout == TOKENS:      # per token, on a sequence (L x D) or a grid (H x W x D)
            return TensorType((*ins[0][:-1], p.out), TOKENS)
        self.check_input(p, ins, ["its input"])
        return vector(p.out)

    def in_features(self, shape) -> int:
        return shape[-1] if shape.layout == TOKENS else math.prod(shape)

    def count_params(self, p: FCParams, ins, out):
        return self.in_features(ins[0]) * p.out + (p.out if p.bias else 0)

    def count_macs(self, p: FCParams, ins, out):
        n = math.prod(ins[0][:-1]) if ins[0].layout == TOKENS and dims.is_fixed(ins[0]) else \
            None if ins[0].layout == TOKENS else 1
        if n is None:
            return None
        return n * self.in_features(ins[0]) * p.out

    def rf(self, p, rf_in, ins):
        if ins[0].layout == MAP:   # a flattened map acts like a conv as large as the map
            return window_rf(rf_in, ins[0][1], 1) if isinstance(ins[0][1], int) else None
        return rf_in

    def activation(self, p):
        return p.act

    def module(self, node, ins):
        from torch import nn
        return nn.Linear(self.in_features(ins[0]), node.params.out, bias=node.params.bias, device="meta")

    def lower(self, lo, args):
        x = args[0]
        if lo.ins[0].layout == MAP:
            import torch
            x = lo.call(torch.flatten, x, 1, name=f"{lo.name}_flat")
        return lo.activate(lo.call_module(x))


KINDS = [FC()]
