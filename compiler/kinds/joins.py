"""Joins: layers with several inputs, written ``WORD { branch ... }``: ``concat`` (U-Net's
copy-and-crop as ``concat(crop)``), ``add`` and ``mul`` (broadcasting a C x 1 x 1 gate over a
C x H x W map), and ``residual``, whose lines form one branch added to the group's input only
where the shapes agree (MobileNetV2's "residual when stride is 1 and channels agree"); ``crop``, which
cuts its first branch to the size of its second (Caffe's Crop)."""
from __future__ import annotations

import operator
from typing import Literal, Union

from pydantic import Field, field_validator

from netc.types import dims
from netc.types.dims import ShapeProblem
from netc.kinds.params import IntOrPair, NoParams, Params, _pair
from netc.types.tensortype import MAP, TOKENS, TensorType, layout_of
from netc.kinds.base import Kind


def _desc(preds, ins) -> str:
    return ", ".join(f"{p} gives {dims.fmt_shape(s)}" for p, s in zip(preds, ins))


def _one_layout(kind: str, preds, ins) -> str:
    lays = {layout_of(s) for s in ins}
    if len(lays) > 1 or len({len(s) for s in ins}) > 1:
        raise ShapeProblem(f"{kind} inputs mix feature maps and vectors: {_desc(preds, ins)}")
    return lays.pop()


def _rf_max(rf_ins):
    if any(r is None for r in rf_ins):
        return None
    return max(r[0] for r in rf_ins), max(r[1] for r in rf_ins)


class Join(Kind):
    join, family, role, functional = True, "join", "join", True
    hidden_in_tables = False

    def paper(self, p):
        return self.kind

    def check(self, node, preds: list[str], ins: list) -> TensorType:
        """Shape rule with the names of the inputs, for messages (called instead of infer)."""
        return self.infer(node.params, ins)

    def rf_join(self, rf_ins):
        return _rf_max(rf_ins)


class ConcatParams(Params):
    crop: bool = Field(False, description="center-crop every branch to the smallest H x W (U-Net's copy and crop)")
    axis: Literal["channels", "tokens"] = Field("channels", description="what is stacked: the channels, or the "
                                                "tokens of sequences (one after another)")


class Concat(Join):
    kind, words, Params, prefix = "concat", ("concat",), ConcatParams, "concat"
    onnx = {"Concat": {}}        # on the channels: the importer
    caffe = {"Concat": {"axis": 1, "concat_dim": 1}}
    doc = ("concatenates its branches along the channels; concat(crop) first center-crops each to the smallest "
           "H x W (U-Net's copy and crop)")

    def paper(self, p):
        if p is not None and p.axis == "tokens":
            return "concat(axis=tokens)"
        return "concat(crop)" if p is not None and p.crop else "concat"

    def check(self, node, preds, ins):
        lay = _one_layout("concat", preds, ins)
        if node.params is not None and node.params.axis == "tokens":
            if lay != TOKENS or any(len(s) != 2 for s in ins):
                raise ShapeProblem(f"concat(axis=tokens) joins sequences of tokens: {_desc(preds, ins)}",
                                   hint="make each branch a sequence first: to-tokens(flat)")
            if any(not dims.same(s[1], ins[0][1]) for s in ins):
                raise ShapeProblem(f"concat(axis=tokens) inputs disagree in channels: {_desc(preds, ins)}")
            return TensorType((dims.total([s[0] for s in ins]), ins[0][1]), TOKENS)
        if lay == TOKENS:
            if any(not dims.same(s[0], ins[0][0]) for s in ins):
                raise ShapeProblem(f"concat inputs disagree in length: {_desc(preds, ins)}")
            return TensorType((ins[0][0], sum(s[1] for s in ins)), TOKENS)
        rest = ins[0][1:]
        wide = [s for s in ins if tuple(s[1:]) != (1, 1)]
        if lay == MAP and wide and len(wide) < len(ins) and not node.params.crop:
            rest = wide[0][1:]     # a 1 x 1 branch (a pooled summary) is repeated over the others' H x W
            node.meta["expand"] = [i for i, s in enumerate(ins) if tuple(s[1:]) == (1, 1)]
        if node.params.crop and lay == MAP:
            node.meta["crop_ref"] = rest = self._smallest(preds, ins)
        elif any(not all(dims.same(a, b) for a, b in zip(s[1:], rest)) for s in ins if tuple(s[1:]) != (1, 1)):
            raise ShapeProblem(f"concat inputs disagree in spatial size: {_desc(preds, ins)}",
                               hint="concatenated branches must keep the same H x W (check padding and strides), "
                                    "or crop them: concat(crop); a 1 x 1 branch is repeated over the others' size")
        return TensorType((sum(s[0] for s in ins), *rest), lay)

    def infer(self, p, ins):
        class _N:  # a node stand-in for callers without one
            params, meta = p, {}
        return self.check(_N, [f"input {i + 1}" for i in range(len(ins))], ins)

    @staticmethod
    def _smallest(preds, ins):
        best = ins[0][1:]
        for s in ins[1:]:
            for i in (0, 1):
                le = dims.at_most(s[1 + i], best[i])
                if le is None:
                    raise ShapeProblem(f"concat(crop) cannot tell which input is smaller for every input size: "
                                       f"{_desc(preds, ins)}", hint="declare a fixed input size")
            hw = tuple(s[1 + i] if dims.at_most(s[1 + i], best[i]) else best[i] for i in (0, 1))
            best = hw
        return best

    def lower(self, lo, args):
        import torch
        xs = list(args)
        ref = lo.node.meta.get("crop_ref")
        if ref is not None:
            from netc.backends.torch.layers import center_crop
            small = next(i for i, s in enumerate(lo.ins) if tuple(s[1:]) == tuple(ref))
            xs = [x if tuple(s[1:]) == tuple(ref) else lo.call(center_crop, x, xs[small], name=f"{lo.name}_crop{i}")
                  for i, (x, s) in enumerate(zip(args, lo.ins))]
        expand = lo.node.meta.get("expand")
        if expand:
            from netc.backends.torch.layers import expand_like
            big = next(i for i in range(len(xs)) if i not in expand)
            xs = [lo.call(expand_like, x, xs[big], name=f"{lo.name}_expand{i}") if i in expand else x
                  for i, x in enumerate(xs)]
        tokens = lo.ins[0].layout == TOKENS
        dim = 1 if not tokens or lo.node.params.axis == "tokens" else -1
        return lo.call(torch.cat, xs, dim, name=lo.name)


def broadcast(kind: str, preds, ins, hint: str | None = None) -> TensorType:
    """Elementwise shape rule with broadcasting: equal sizes, or 1 against anything."""
    lay = _one_layout(kind, preds, ins)
    out = list(ins[0])
    for s in ins[1:]:
        for i, (a, b) in enumerate(zip(out, s)):
            if dims.same(a, b) or b == 1:
                continue
            if a == 1:
                out[i] = b
                continue
            what = "channels" if i == 0 and all(dims.same(x, y) for x, y in zip(s[1:], ins[0][1:])) else "shapes"
            raise ShapeProblem(f"{kind} inputs disagree in {what}: {_desc(preds, ins)}", hint=hint)
    return TensorType(tuple(out), lay)


class _Elementwise(Join):
    """A join applying ``op`` across its branches, broadcasting sizes of 1."""
    Params = NoParams
    op = operator.add
    hint = ""

    def check(self, node, preds, ins):
        return broadcast(self.kind, preds, ins, hint=self.hint)

    def infer(self, p, ins):
        return broadcast(self.kind, [f"input {i + 1}" for i in range(len(ins))], ins)

    def lower(self, lo, args):
        out = args[0]
        for i, other in enumerate(args[1:]):
            out = lo.call(type(self).op, out, other, name=lo.name if i == len(args) - 2 else None)
        return out


class Add(_Elementwise):
    kind, words, prefix, op = "add", ("add",), "add", operator.add
    onnx = {"Add": {}}      # of two computed tensors (a constant added: the importer)
    caffe = {"Eltwise": {"operation": 1}}     # SUM (its coefficients: the importer)
    hint = "every branch of add must give the same shape; project the shortcut with conv1-C"
    doc = "adds its branches elementwise (broadcasting sizes of 1): add { conv3-64 ; identity }"


class Mul(_Elementwise):
    kind, words, prefix, op = "mul", ("mul", "multiply"), "mul", operator.mul
    onnx = {"Mul": {}}      # of two computed tensors: a gate
    hint = "the branches must agree, or be 1 where they differ (C x 1 x 1 scales C x H x W)"
    doc = ("multiplies its branches elementwise, broadcasting sizes of 1 (a C x 1 x 1 gate times a C x H x W map): "
           "squeeze-excitation is mul { identity ; { gap -> conv1-16 -> conv1-64(act=sigmoid) } }")


class ResidualParams(Params):
    required: bool = Field(False, description="the shortcut must be added: a body whose shape differs from the "
                                              "input is an error (residual(required) { ... })")


class Residual(Join):
    kind, words, Params, prefix, sequential_body = "residual", ("residual",), ResidualParams, "residual", True
    positional = ("required",)
    doc = ("its lines form one branch; the group's input is added to it where the two shapes agree, and left out "
           "where they do not (MobileNetV2: a shortcut only when the stride is 1 and the channels agree); "
           "residual(required) makes a disagreement an error")

    def check(self, node, preds, ins):
        body, short = ins
        active = len(body) == len(short) and all(dims.same(a, b) for a, b in zip(body, short))
        node.meta["shortcut"] = active
        if not active and node.params is not None and node.params.required:
            what = "channels" if len(body) == len(short) and body[0] != short[0] and \
                all(dims.same(a, b) for a, b in zip(body[1:], short[1:])) else "shapes"
            raise ShapeProblem(
                f"residual(required): the shortcut cannot be added, the body and the input disagree in {what}: "
                f"'{preds[0]}' gives {dims.fmt_shape(body)}, the input '{preds[1]}' {dims.fmt_shape(short)}",
                hint="the body must keep its input's shape (channels, and stride 1) to be added to it; without "
                     "(required), residual leaves the shortcut out where the shapes disagree")
        return body

    def infer(self, p, ins):
        return ins[0]

    def paper(self, p):
        return "residual(required)" if p is not None and p.required else "residual"

    def lower(self, lo, args):
        if lo.node.meta.get("shortcut"):
            return lo.call(operator.add, args[0], args[1], name=lo.name)
        return args[0]


class SplitParams(ConcatParams):
    parts: Union[int, list[int]] = Field(2, description="equal parts (2), or the channels of each part ([24, 40])")


class Split(Concat):
    """``split(2) { a ; b }``: the group's input is cut into parts along the channels, branch i reads part i,
    and the branches' outputs are concatenated (ShuffleNetV2's unit)."""
    kind, words, Params, prefix = "split", ("split",), SplitParams, "split"
    onnx: dict = {}      # not ONNX's Concat
    caffe: dict = {}     # not Caffe's Concat
    splits_input = True
    positional = ("parts",)
    doc = ("cuts its input into parts along the channels, one per branch (each branch reads its part), and "
           "concatenates the branches: split(2) { identity ; conv1-58 -> ... } (ShuffleNetV2)")

    def paper(self, p):
        parts = 2 if p is None else p.parts if isinstance(p.parts, int) else list(p.parts)
        return f"split({parts})"


class CropParams(Params):
    offset: IntOrPair = Field(0, description="where the kept window starts, from the top left: one number or [h, w] "
                                             "(Caffe's crop_param offset)")

    @field_validator("offset", mode="before")
    @classmethod
    def _offset(cls, v):
        vals = list(v) if isinstance(v, (list, tuple)) else [v]
        if len(vals) not in (1, 2) or any(isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in vals):
            raise ValueError("must be a whole number at least 0, or a pair [h, w]")
        return vals[0] if len(vals) == 1 or vals[0] == vals[1] else tuple(vals)


class Crop(Join):
    kind, words, Params, prefix = "crop", ("crop",), CropParams, "crop"
    caffe = {"Crop": {}}
    doc = ("crops its first branch to the H x W of its second, the window starting at offset (Caffe's Crop, FCN's "
           "score): crop(offset=19) { identity ; from input }")

    def paper(self, p):
        off = p.offset if p is not None else 0
        return "crop" if off == 0 else f"crop(offset={list(off) if isinstance(off, tuple) else off})"

    def check(self, node, preds, ins):
        return self._rule(node.params, preds, ins)

    def infer(self, p, ins):
        return self._rule(p, [f"input {i + 1}" for i in range(len(ins))], ins)

    def _rule(self, p, preds, ins):
        if len(ins) != 2:
            raise ShapeProblem(f"crop takes two branches (what to crop, and the size to crop it to), not {len(ins)}")
        if any(layout_of(s) != MAP for s in ins):
            raise ShapeProblem(f"crop crops feature maps: {_desc(preds, ins)}")
        oh, ow = _pair(p.offset)
        x, ref = ins
        for i, o in ((1, oh), (2, ow)):
            if dims.at_most(dims.plus(ref[i], o), x[i]) is False:
                raise ShapeProblem(f"crop: the window ({dims.fmt_shape(ref[1:])} at offset {oh}, {ow}) does not fit in "
                                   f"the first branch: {_desc(preds, ins)}")
        return TensorType((x[0], ref[1], ref[2]), MAP)

    def rf_join(self, rf_ins):
        return rf_ins[0] if rf_ins else None

    def lower(self, lo, args):
        from netc.backends.torch.layers import crop_at
        oh, ow = _pair(lo.node.params.offset)
        return lo.call(crop_at, args[0], args[1], oh, ow, name=lo.name)


KINDS = [Concat(), Split(), Add(), Mul(), Residual(), Crop()]
