"""Attention: multi-head self-attention over a token sequence (ViT: ``mhsa(12)``) and Swin's
(shifted) window attention on a token grid (``W-MSA(3)``, ``SW-MSA(3)``, as the Swin paper
writes them).

Multiply-adds follow the convention of every other layer, one per multiply-add of a matrix
product: the projections (q, k, v in: L·D·3D; out: L·D·D) and the two attention products, QK^T
and AV, each L·L·D summed over the heads; nothing element-wise (scaling, soft-max, biases).
Window attention costs the same per window of M x M tokens, over the windows it computes: the
map padded to a multiple of the window.
"""
from __future__ import annotations

import re
from typing import Optional

from pydantic import Field

from netc.types import dims
from netc.types.dims import ShapeProblem
from netc.kinds.params import Params
from netc.types.tensortype import TOKENS
from netc.kinds.base import Kind
from netc.kinds.tokens import need_grid, need_seq


class AttentionParams(Params):
    heads: int = Field(ge=1, description="the number of heads")
    bias: bool = True
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the attention weights (training)")


class SelfAttention(Kind):
    role = "token"
    kind, words, Params, prefix, weight = "mhsa", ("mhsa", "msa", "attention", "self-attention"), \
        AttentionParams, "attention", True
    accepts, family, table_word = (TOKENS,), "attention", "multi-head attention"
    positional = ("heads",)
    doc = ("multi-head self-attention over a token sequence (torch's scaled_dot_product_attention, with "
           "nn.MultiheadAttention's parameters): mhsa(12); 4·D² + 4·D parameters")

    def paper(self, p):
        return f"MSA({p.heads})"

    def check_input(self, p, ins, preds):
        need_seq(self.paper(p), ins[0], preds[0] if preds else None)
        d = ins[0][1]
        if d % p.heads:
            raise ShapeProblem(f"{self.paper(p)}: the token size ({d}) is not divisible by the heads ({p.heads})")

    def count_params(self, p, ins, out):
        d = ins[0][1]
        return 4 * d * d + (4 * d if p.bias else 0)

    def count_macs(self, p, ins, out):
        length, d = ins[0]
        if not isinstance(length, int):
            return None
        return 4 * length * d * d + 2 * length * length * d

    def rf(self, p, rf_in, ins):
        return None     # every token sees every other: the whole input

    def module(self, node, ins):
        from netc.backends.torch.attention import SelfAttention as Module
        p = node.params
        return Module(ins[0][1], p.heads, bias=p.bias, dropout=p.dropout, device="meta")

    def init(self, m):
        m.reset_parameters()


class WindowParams(Params):
    heads: int = Field(ge=1, description="the number of heads")
    window: int = Field(7, ge=1, description="windows of M x M tokens")
    shift: Optional[int] = Field(None, ge=0, description="the cyclic shift (default: window // 2 when shifted)")
    shifted: bool = Field(False, description="shifted windows (SW-MSA): shift by window // 2")
    bias: bool = True
    dropout: float = Field(0.0, ge=0, lt=1)

    def shift_size(self) -> int:
        if self.shift is not None:
            return self.shift
        return self.window // 2 if self.shifted else 0


class WindowAttention(Kind):
    role = "token"
    kind, words, Params, prefix, weight = "window_attention", ("window-attention", "w-msa", "wmsa"), \
        WindowParams, "attn", True
    accepts, family, table_word = (TOKENS,), "attention", "window attention"
    positional = ("heads",)
    paper_re = re.compile(r"^(?:sw-msa|swmsa|shifted-window-attention)$")
    doc = ("Swin's window multi-head self-attention on a token grid: W-MSA(3) attends within 7x7 windows, "
           "SW-MSA(3) in windows shifted by 3 (cyclic shift and mask); window=M, shift=S; a relative position "
           "bias table of (2M-1)² x heads parameters")

    def from_paper(self, m):
        return {"shifted": True}

    def paper(self, p):
        s = p.shift_size()
        name = "SW-MSA" if s else "W-MSA"
        extra = [f"window={p.window}"] * (p.window != 7) + [f"shift={s}"] * (s not in (0, p.window // 2))
        return f"{name}({', '.join([str(p.heads), *extra])})"

    def canonical(self, p):
        d = dict(p.model_dump())
        d["shift"] = p.shift_size()
        d.pop("shifted", None)
        return d

    def check_input(self, p, ins, preds):
        need_grid(self.paper(p), ins[0], preds[0] if preds else None)
        c = ins[0][2]
        if c % p.heads:
            raise ShapeProblem(f"{self.paper(p)}: the token size ({c}) is not divisible by the heads ({p.heads})")
        if p.shift_size() >= p.window:
            raise ShapeProblem(f"{self.paper(p)}: the shift ({p.shift_size()}) must be smaller than the window "
                               f"({p.window})")

    def count_params(self, p, ins, out):
        c = ins[0][2]
        return 4 * c * c + (4 * c if p.bias else 0) + (2 * p.window - 1) ** 2 * p.heads

    def count_macs(self, p, ins, out):
        h, w, c = ins[0]
        if not dims.is_fixed(ins[0]):
            return None
        m = p.window
        tokens = -(-h // m) * m * (-(-w // m) * m)      # the windows computed: the map padded to the window
        return 4 * tokens * c * c + 2 * tokens * m * m * c

    def rf(self, p, rf_in, ins):
        return None

    def module(self, node, ins):
        from netc.backends.torch.attention import WindowAttention as Module
        p = node.params
        return Module(ins[0][2], p.heads, p.window, p.shift_size(), bias=p.bias, dropout=p.dropout,
                      device="meta")

    def init(self, m):
        m.reset_parameters()


KINDS = [SelfAttention(), WindowAttention()]
