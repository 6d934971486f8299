"""Activations as layers of their own (``relu``, ``relu6``, ``hardswish``, ``gelu`` ...), each also
usable as ``act=NAME`` on a layer with weights, and the soft-max output layer."""
from __future__ import annotations

from pydantic import Field

from netc.kinds.params import Params
from netc.kinds.base import Kind, num


class Activation(Kind):
    prefix, family, pointwise, functional, activation_fn = "act", "act", True, True, True
    inplace_ok = True      # has an in-place form, used where its input is a fresh tensor
    fn_path: str = ""      # "torch.relu", "torch.nn.functional.relu6"

    def paper(self, p):
        return self.words[0]

    def act_fn(self, p=None):
        import torch
        import torch.nn.functional as F
        mod, _, name = self.fn_path.rpartition(".")
        return getattr(F if mod.endswith("functional") else torch, name), {}

    def lower(self, lo, args):
        fn, kw = self.act_fn(lo.node.params)
        return lo.call(fn, args[0], name=lo.name, **kw)


def _act(kind: str, words: tuple, fn_path: str, doc: str, paper: str | None = None, onnx: dict | None = None,
         caffe: dict | None = None) -> Activation:
    cls = type(kind.title().replace("_", ""), (Activation,), {"kind": kind, "words": words, "prefix": kind,
                                                               "fn_path": fn_path, "doc": doc, "onnx": onnx or {},
                                                               "caffe": caffe or {}})
    if paper is not None:
        cls.paper = lambda self, p: paper
    return cls()


class LeakyParams(Params):
    slope: float = Field(0.01, ge=0, description="the slope for negative inputs")


class LeakyReLU(Activation):
    kind, words, Params, prefix = "leaky_relu", ("leaky_relu", "leaky-relu", "leakyrelu", "lrelu"), LeakyParams, \
        "leaky_relu"
    positional = ("slope",)
    doc = "leaky ReLU with the given negative slope: leaky_relu(0.1)"

    def paper(self, p):
        return f"leaky_relu({num(p.slope)})" if p is not None and p.slope != 0.01 else "leaky_relu"

    def act_fn(self, p=None):
        import torch.nn.functional as F
        return F.leaky_relu, {"negative_slope": p.slope if isinstance(p, LeakyParams) else 0.01}


class Softmax(Kind):
    kind, words, prefix, role, family, functional = "softmax", ("soft-max", "softmax"), "prob", "prob", "act", True
    table_word = "softmax"
    onnx = {"Softmax": {}}
    caffe = {"Softmax": {}}
    doc = "soft-max over classes; at the end of a network it is the output layer (see `output`)"

    torch_modules, torch_functions = ("Softmax",), ("softmax",)
    aten = ("aten.softmax.int", "aten._softmax.default")

    def torch_params(self, m, x):
        return {}

    def paper(self, p):
        return "soft-max"

    def lower(self, lo, args):
        if lo.trailing:
            return args[0]   # a trailing soft-max is left to the loss (output logits)
        import torch
        return lo.call(torch.softmax, args[0], 1 if lo.ins[0].layout != "tokens" else -1, name=lo.name)


KINDS = [
    _act("relu", ("relu",), "torch.relu", "ReLU as a layer of its own (layers with weights have it built in)",
         paper="ReLU", onnx={"Relu": {}, "Clip": {"min": 0.0, "max": None}}, caffe={"ReLU": {"negative_slope": 0}}),
    _act("relu6", ("relu6",), "torch.nn.functional.relu6", "ReLU capped at 6 (MobileNetV2)",
         onnx={"Clip": {"min": 0.0, "max": 6.0}}),
    _act("hardswish", ("hardswish", "hard-swish", "h-swish", "hswish"), "torch.nn.functional.hardswish",
         "hard swish, x * relu6(x + 3) / 6 (MobileNetV3)",
         onnx={"HardSwish": {}}),
    _act("hardsigmoid", ("hardsigmoid", "hard-sigmoid", "h-sigmoid", "hsigmoid"),
         "torch.nn.functional.hardsigmoid", "hard sigmoid, relu6(x + 3) / 6 (MobileNetV3's squeeze-excitation)",
         onnx={"HardSigmoid": {"alpha": 1 / 6, "beta": 0.5}}),
    _act("gelu", ("gelu",), "torch.nn.functional.gelu", "Gaussian error linear unit (transformers, ConvNeXt)",
         onnx={"Gelu": {"approximate": "none"}}),
    _act("silu", ("silu", "swish"), "torch.nn.functional.silu", "SiLU / swish, x * sigmoid(x) (EfficientNet)"),
    _act("sigmoid", ("sigmoid",), "torch.sigmoid", "logistic sigmoid", onnx={"Sigmoid": {}},
         caffe={"Sigmoid": {}}),
    _act("tanh", ("tanh",), "torch.tanh", "hyperbolic tangent", onnx={"Tanh": {}}, caffe={"TanH": {}}),
    _act("elu", ("elu",), "torch.nn.functional.elu", "exponential linear unit", onnx={"Elu": {"alpha": 1.0}}),
    LeakyReLU(),
    Softmax(),
]
