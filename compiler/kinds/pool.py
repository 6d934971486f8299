"""Pooling: ``maxpool``, ``maxpool3/2(ceil)``, ``avgpool7/1``, global and adaptive pooling, and
SPP-net's pyramid ``spp[6,3,2,1]``."""
from __future__ import annotations

import re

from netc.types import dims
from netc.kinds.params import AdaptivePoolParams, PoolParams, SPPParams, _pair
from netc.types.tensortype import MAP, fmap, vector
from netc.kinds.base import Kind, check_positive, window_rf


class _Pool(Kind):
    Params, prefix, role, ends_stage, accepts, family = PoolParams, "pool", "pool", True, (MAP,), "pool"
    positional = ("k", "stride")
    op = "max"

    def torch_params(self, m, x):
        """nn.MaxPool2d / nn.AvgPool2d, or a call of F.max_pool2d / F.avg_pool2d (its arguments by name)."""
        if getattr(m, "return_indices", False) or getattr(m, "divisor_override", None):
            raise ValueError("a pooling that returns indices or divides by another count")
        k = m.kernel_size
        p = {"k": _one(k), "stride": _one(getattr(m, "stride", None) or k), "pad": _one(getattr(m, "padding", 0)),
             "ceil": bool(getattr(m, "ceil_mode", False))}
        if self.op == "avg" and not getattr(m, "count_include_pad", True):
            p["count_include_pad"] = False
        if self.op == "max" and _pair(getattr(m, "dilation", 1)) != (1, 1):
            p["dilation"] = _one(m.dilation)
        return p

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

    def canonical(self, p: PoolParams) -> dict:
        d = dict(p.model_dump())
        for key, method in (("k", "kernel"), ("stride", "strides"), ("pad", "padding"), ("dilation", "dilations")):
            h, w = getattr(p, method)()
            d[key] = h if h == w else [h, w]
        return d

    def infer(self, p: PoolParams, ins):
        c, h, w = ins[0]
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = p.kernel(), p.strides(), p.padding(), p.dilations()
        out = fmap(c, dims.window(h, kh, sh, ph, dh, p.ceil), dims.window(w, kw, sw, pw, dw, p.ceil))
        check_positive(out[1:], lambda: self.paper(p), ins[0])
        return out

    def rf(self, p: PoolParams, rf_in, ins):
        return window_rf(rf_in, p.kernel()[0], p.strides()[0], p.dilations()[0])


class MaxPool(_Pool):
    kind, words, table_word = "maxpool", ("maxpool", "max-pool", "max_pool", "mpool"), "max pool"
    paper_re = re.compile(r"^(?:maxpool|max-pool|max_pool)(\d+)(?:x(\d+))?(?:/(\d+))?$")
    doc = "max pooling, 2x2 stride 2 by default: maxpool, maxpool3/2, maxpool3/2(ceil)"
    torch_modules, torch_functions, aten = ("MaxPool2d",), ("max_pool2d",), ("aten.max_pool2d.default",)
    torch_args = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
    onnx = {"MaxPool": {}}
    caffe = {"Pooling": {"pool": 0, "global_pooling": False}}    # MAX

    def module(self, node, ins):
        from torch import nn
        p = node.params
        return nn.MaxPool2d(p.kernel(), p.strides(), p.padding(), p.dilations(), ceil_mode=p.ceil)


class AvgPool(_Pool):
    kind, words, table_word = "avgpool", ("avgpool", "avg-pool", "avg_pool", "avepool", "average-pool"), "avg pool"
    paper_re = re.compile(r"^(?:avgpool|avg-pool|avg_pool|avepool)(\d+)(?:x(\d+))?(?:/(\d+))?$")
    op = "avg"
    doc = "average pooling: avgpool7/1, avgpool5/3"
    torch_modules, torch_functions, aten = ("AvgPool2d",), ("avg_pool2d",), ("aten.avg_pool2d.default",)
    torch_args = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
    onnx = {"AveragePool": {}}
    caffe = {"Pooling": {"pool": 1, "global_pooling": False}}    # AVE

    def module(self, node, ins):
        from torch import nn

        from netc.dsl.errors import SpecError
        p = node.params
        if p.dilations() != (1, 1):
            raise SpecError(f"{node.paper}: PyTorch's average pooling has no dilation", node.span,
                            hint="remove dilation=, or use maxpool")
        return nn.AvgPool2d(p.kernel(), p.strides(), p.padding(), ceil_mode=p.ceil,
                            count_include_pad=p.count_include_pad)


def _one(v):
    """A size as netc writes it: one number where height and width agree, else [h, w]."""
    h, w = _pair(v)
    return h if h == w else [h, w]


def _whole_map_rf(rf_in, ins):
    return window_rf(rf_in, ins[0][1], 1) if isinstance(ins[0][1], int) else None


class GlobalAvgPool(Kind):
    kind, words, prefix, role, ends_stage = "gap", ("gap", "global-avgpool", "global_avgpool", "globalavgpool",
                                                    "global-avg-pool"), "pool", "pool", True
    accepts, family, table_word = (MAP,), "pool", "global avg pool"
    doc = "global average pooling: C x H x W -> C x 1 x 1, for any H and W"
    onnx = {"GlobalAveragePool": {}}
    caffe = {"Pooling": {"pool": 1, "global_pooling": True}}

    def paper(self, p):
        return "global-avgpool"

    def infer(self, p, ins):
        return fmap(ins[0][0], 1, 1)

    def rf(self, p, rf_in, ins):
        return _whole_map_rf(rf_in, ins)

    def module(self, node, ins):
        from torch import nn
        return nn.AdaptiveAvgPool2d(1)


class GlobalMaxPool(GlobalAvgPool):
    kind, words, table_word = "gmp", ("gmp", "global-maxpool", "global_maxpool", "globalmaxpool",
                                      "global-max-pool"), "global max pool"
    doc = "global max pooling: C x H x W -> C x 1 x 1"
    onnx = {"GlobalMaxPool": {}}
    caffe = {"Pooling": {"pool": 0, "global_pooling": True}}

    torch_modules = ("AdaptiveMaxPool2d",)

    def torch_params(self, m, x):
        if _pair(m.output_size) != (1, 1):
            raise ValueError("adaptive max pooling to more than 1x1")
        return {}

    def paper(self, p):
        return "global-maxpool"

    def module(self, node, ins):
        from torch import nn
        return nn.AdaptiveMaxPool2d(1)


class AdaptiveAvgPool(Kind):
    kind, words, Params, prefix, role, ends_stage = "adaptive_avgpool", ("adaptive-avgpool", "adaptive_avgpool",
                                                                         "adaptiveavgpool"), AdaptivePoolParams, \
        "pool", "pool", True
    accepts, family, table_word = (MAP,), "pool", "adaptive avg pool"
    positional = ("out",)
    doc = "adaptive average pooling to a fixed grid: adaptive-avgpool(7) (torchvision's AdaptiveAvgPool2d)"
    torch_modules, torch_functions = ("AdaptiveAvgPool2d",), ("adaptive_avg_pool2d",)
    aten, torch_args = ("aten.adaptive_avg_pool2d.default",), ("output_size",)

    def torch_params(self, m, x):
        return {"out": _one(m.output_size)}

    def paper(self, p):
        return f"adaptive-avgpool({p.out if isinstance(p.out, int) else list(p.out)})"

    def infer(self, p, ins):
        oh, ow = _pair(p.out)
        return fmap(ins[0][0], oh, ow)

    def rf(self, p, rf_in, ins):
        # bin i covers [floor(i*H/n), ceil((i+1)*H/n)): the widest bin, and the stride H/n when n divides H
        h, n = ins[0][1], _pair(p.out)[0]
        if not isinstance(h, int):
            return None
        widest = max(-(-(i + 1) * h // n) - i * h // n for i in range(n))
        return window_rf(rf_in, widest, max(1, h // n))

    def module(self, node, ins):
        from torch import nn
        return nn.AdaptiveAvgPool2d(_pair(node.params.out))


class SPP(Kind):
    kind, words, Params, prefix, role, ends_stage = "spp", ("spp",), SPPParams, "spp", "pool", True
    accepts, family, table_word = (MAP,), "pyramid", "spatial pyramid pool"
    positional = ("levels",)
    doc = "spatial pyramid pooling: spp[6,3,2,1] max-pools each level into n x n bins -> C * sum(n^2), any H and W"
    torch_modules = ("SPP",)        # netc's own

    def torch_params(self, m, x):
        return {"levels": [int(v) for v in m.levels], "mode": getattr(m, "mode", "max")}

    def paper(self, p: SPPParams):
        return "spp[" + ",".join(str(n) for n in p.levels) + "]"

    def patch(self, p: SPPParams) -> str:
        return "[" + ",".join(str(x) for x in p.levels) + "]"

    def infer(self, p: SPPParams, ins):
        return vector(ins[0][0] * sum(n * n for n in p.levels))

    def rf(self, p, rf_in, ins):
        return _whole_map_rf(rf_in, ins)

    def module(self, node, ins):
        from netc.backends.torch.spp import SPP as SPPModule
        return SPPModule(node.params.levels, node.params.mode)


KINDS = [MaxPool(), AvgPool(), GlobalAvgPool(), GlobalMaxPool(), AdaptiveAvgPool(), SPP()]
