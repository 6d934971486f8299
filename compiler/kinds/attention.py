"""Attention: multi-head self-attention over a token sequence (ViT: ``mhsa(12)``) and Swin's
(shifted) window attention on a token grid (``W-MSA(3)``, ``SW-MSA(3)``, as the Swin paper
writes them).

Multiply-adds follow the convention of every other layer, one per multiply-add of a matrix
product: the projections (q, k, v in: L·D·3D; out: L·D·D) and the two attention products, QK^T
and AV, each L·L·D summed over the heads; nothing element-wise (scaling, soft-max, biases).
Window attention costs the same per window of M x M tokens, over the windows it computes: the
map padded to a multiple of the window. Swin V2's window attention (``cosine=true, cpb=512``)
adds its continuous position bias MLP, run once per forward on the (2M-1)² offsets.

MaxViT's block and grid attention (``blocked-attention``, ``grid-attention``) partition the grid
into P x P windows or a G x G dilated grid, and cost the same per group of P² (G²) tokens.
"""
from __future__ import annotations

import re
from typing import Literal, Optional

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
    pos: Literal["none", "sine"] = Field("none", description="sine: DETR's fixed 2-D sine position embedding "
                                         "added to the queries and keys, not the values (tokens on a grid)")


class SelfAttention(Kind):
    role = "token"
    kind, words, Params, prefix, weight = "mhsa", ("mhsa", "msa", "attention", "self-attention"), \
        AttentionParams, "attention", True
    accepts, family, table_word = (TOKENS,), "attention", "multi-head attention"
    positional = ("heads",)
    doc = ("multi-head self-attention over a token sequence (torch's scaled_dot_product_attention, with "
           "nn.MultiheadAttention's parameters): mhsa(12); 4·D² + 4·D parameters")

    torch_modules = ("SelfAttention", "Attention")      # netc's own; timm's ViT attention

    def torch_params(self, m, x):
        if type(m).__name__ == "SelfAttention":
            return dict(heads=int(m.heads), bias=m.in_proj_bias is not None, dropout=float(m.dropout))
        if not timm_attention_fits(m):
            raise ValueError("an attention with normalised queries/keys or without a qkv projection")
        drop = getattr(m, "attn_drop", None)
        return dict(heads=int(m.num_heads), bias=m.qkv.bias is not None, dropout=float(getattr(drop, "p", 0.0) or 0.0))

    def paper(self, p):
        return f"MSA({p.heads})" if p.pos == "none" else f"MSA({p.heads}, pos={p.pos})"

    def written(self, p):
        return self.paper(p).replace("MSA", "mhsa", 1)     # as specs write it (specs/vit.net)

    def check_input(self, p, ins, preds):
        if p.pos == "sine":       # DETR: the positions of a grid of tokens
            need_grid(self.paper(p), ins[0], preds[0] if preds else None)
            if ins[0][2] % 2:
                raise ShapeProblem(f"{self.paper(p)}: a sine position embedding needs an even token size "
                                   f"(got {ins[0][2]})")
        else:
            need_seq(self.paper(p), ins[0], preds[0] if preds else None)
        d = ins[0][-1]
        if d % p.heads:
            raise ShapeProblem(f"{self.paper(p)}: the token size ({d}) is not divisible by the heads ({p.heads})")

    def count_params(self, p, ins, out):
        d = ins[0][-1]
        return 4 * d * d + (4 * d if p.bias else 0)

    def count_macs(self, p, ins, out):
        *lengths, d = ins[0]
        length = dims.product(*lengths)
        if not isinstance(length, int):
            return None
        return 4 * length * d * d + 2 * length * length * d

    def rf(self, p, rf_in, ins):
        return None     # every token sees every other: the whole input

    def module(self, node, ins):
        from netc.backends.torch.attention import SelfAttention as Module
        p = node.params
        return Module(ins[0][-1], p.heads, bias=p.bias, dropout=p.dropout, device="meta", pos=p.pos)

    def init(self, m):
        m.reset_parameters()


def timm_attention_fits(m) -> bool:
    """timm's ViT attention is mhsa: qkv and proj Linear layers around scaled dot-product attention, no norm
    of the queries and keys, no dropout after the projection."""
    qkv, proj = getattr(m, "qkv", None), getattr(m, "proj", None)
    if type(qkv).__name__ != "Linear" or type(proj).__name__ != "Linear" or not hasattr(m, "num_heads"):
        return False
    if (qkv.bias is None) != (proj.bias is None) or qkv.out_features != 3 * qkv.in_features:
        return False
    for extra in ("q_norm", "k_norm", "norm"):
        sub = getattr(m, extra, None)
        if sub is not None and type(sub).__name__ != "Identity":
            return False
    return float(getattr(getattr(m, "proj_drop", None), "p", 0.0) or 0.0) == 0.0


class WindowParams(Params):
    heads: int = Field(ge=1, description="the number of heads")
    window: int = Field(7, ge=1, description="windows of M x M tokens")
    shift: Optional[int] = Field(None, ge=0, description="the cyclic shift (default: window // 2 when shifted)")
    shifted: bool = Field(False, description="shifted windows (SW-MSA): shift by window // 2")
    bias: bool = True
    dropout: float = Field(0.0, ge=0, lt=1)
    cosine: bool = Field(False, description="Swin V2's scaled cosine attention: cos(q, k) times a learned "
                                            "per-head logit scale (clamped at 100)")
    cpb: int = Field(0, ge=0, description="Swin V2's log-spaced continuous position bias: the hidden width of "
                                          "its MLP (2 -> cpb -> heads); 0: a learned table (Swin V1)")

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
           "bias table of (2M-1)² x heads parameters; Swin V2: cosine=true, cpb=512 (continuous position bias)")

    def from_paper(self, m):
        return {"shifted": True}

    def paper(self, p):
        s = p.shift_size()
        name = "SW-MSA" if s else "W-MSA"
        extra = [f"window={p.window}"] * (p.window != 7) + [f"shift={s}"] * (s not in (0, p.window // 2)) + \
            ["cosine=true"] * p.cosine + [f"cpb={p.cpb}"] * bool(p.cpb)
        return f"{name}({', '.join([str(p.heads), *extra])})"

    torch_modules = ("WindowAttention", "WindowAttentionV2")     # netc's own (Swin V1, V2)

    def torch_params(self, m, x):
        if not hasattr(m, "window") or not hasattr(m, "shift"):     # timm's WindowAttention: a macro reads it
            return None
        qkv = getattr(m, "qkv", None)
        return dict(heads=int(m.heads), window=int(m.window), shift=int(m.shift), bias=qkv is None or qkv.bias is not None,
                    dropout=float(m.dropout), cosine=bool(getattr(m, "cosine", False)), cpb=int(getattr(m, "cpb", 0) or 0))

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
        if p.cpb and p.window < 2:
            raise ShapeProblem(f"{self.paper(p)}: a continuous position bias needs windows of at least 2x2 "
                               f"(its offsets are scaled by window - 1)")

    def count_params(self, p, ins, out):
        c = ins[0][2]
        table = 3 * p.cpb + p.cpb * p.heads if p.cpb else (2 * p.window - 1) ** 2 * p.heads
        return 4 * c * c + (4 * c if p.bias else 0) + table + (p.heads if p.cosine else 0)

    def count_macs(self, p, ins, out):
        h, w, c = ins[0]
        if not dims.is_fixed(ins[0]):
            return None
        m = p.window
        tokens = -(-h // m) * m * (-(-w // m) * m)      # the windows computed: the map padded to the window
        cpb = (2 * m - 1) ** 2 * (2 * p.cpb + p.cpb * p.heads)   # the bias MLP, once per forward
        return 4 * tokens * c * c + 2 * tokens * m * m * c + cpb

    def rf(self, p, rf_in, ins):
        return None

    def module(self, node, ins):
        p = node.params
        if p.cosine or p.cpb:
            from netc.backends.torch.partition_attention import WindowAttentionV2
            return WindowAttentionV2(ins[0][2], p.heads, p.window, p.shift_size(), cosine=p.cosine, cpb=p.cpb,
                                     bias=p.bias, dropout=p.dropout, device="meta")
        from netc.backends.torch.attention import WindowAttention as Module
        return Module(ins[0][2], p.heads, p.window, p.shift_size(), bias=p.bias, dropout=p.dropout,
                      device="meta")

    def init(self, m):
        m.reset_parameters()


class PartitionParams(Params):
    heads: int = Field(ge=1, description="the number of heads")
    bias: bool = True
    scale: Literal["head", "dim"] = Field("head", description="keys scaled by 1/sqrt(head size), or by 1/sqrt(C) "
                                                              "as torchvision's MaxViT does (dim)")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the attention weights (training)")


class BlockParams(PartitionParams):
    window: int = Field(7, ge=1, description="non-overlapping windows of P x P tokens")


class GridParams(PartitionParams):
    grid: int = Field(7, ge=1, description="a G x G grid of tokens spaced H/G and W/G apart")


class _PartitionAttention(Kind):
    """MaxViT's multi-axis attention (Tu et al., arXiv:2204.01697, section 3.2) on a token grid: block
    attention within P x P windows (local), grid attention over a G x G grid spread across the whole
    map (global, dilated); each with a relative position bias of (2P-1)² x heads."""
    role, weight = "token", True
    accepts, family = (TOKENS,), "attention"
    positional = ("heads",)
    size_name, what = "window", ""

    torch_modules = ("PartitionAttention",)     # netc's own; its ``grid`` says which of the two

    def _size(self, p) -> int:
        return getattr(p, self.size_name)

    def torch_params(self, m, x):
        if not hasattr(m, "grid") or bool(m.grid) != (self.size_name == "grid"):
            return None
        return {**dict(heads=int(m.heads), bias=m.to_qkv.bias is not None, scale=str(m.scale_by),
                       dropout=float(m.dropout)), self.size_name: int(m.size)}

    def paper(self, p):
        extra = [f"{self.size_name}={self._size(p)}"] * (self._size(p) != 7) + ["scale=dim"] * (p.scale == "dim")
        return f"{self.words[0]}({', '.join([str(p.heads), *extra])})"

    def check_input(self, p, ins, preds):
        need_grid(self.paper(p), ins[0], preds[0] if preds else None)
        h, w, c = ins[0]
        if c % p.heads:
            raise ShapeProblem(f"{self.paper(p)}: the token size ({c}) is not divisible by the heads ({p.heads})")
        n = self._size(p)
        for d in (h, w):
            if not isinstance(d, int):
                raise ShapeProblem(f"{self.paper(p)} needs a fixed grid whose sides divide into {self.what} of "
                                   f"{n}, but gets {dims.fmt_shape(ins[0])}",
                                   hint="declare a fixed input size (MaxViT: input 224x224 RGB, its grids "
                                        "56, 28, 14 and 7 all multiples of 7)")
            if d % n:
                raise ShapeProblem(f"{self.paper(p)}: the {h}x{w} grid of tokens does not divide into "
                                   f"{self.what} of {n}x{n} ({d} is not a multiple of {n})",
                                   hint=f"use an input size whose grid here is a multiple of {n} "
                                        "(MaxViT: 224x224)")

    def count_params(self, p, ins, out):
        c = ins[0][2]
        return 4 * c * c + (4 * c if p.bias else 0) + (2 * self._size(p) - 1) ** 2 * p.heads

    def count_macs(self, p, ins, out):
        h, w, c = ins[0]
        if not dims.is_fixed(ins[0]):
            return None
        tokens, t = h * w, self._size(p) ** 2
        return 4 * tokens * c * c + 2 * tokens * t * c

    def rf(self, p, rf_in, ins):
        return None

    def module(self, node, ins):
        from netc.backends.torch.partition_attention import PartitionAttention
        p = node.params
        return PartitionAttention(ins[0][2], p.heads, self._size(p), grid=self.size_name == "grid", bias=p.bias,
                                  scale=p.scale, dropout=p.dropout, device="meta")

    def init(self, m):
        m.reset_parameters()


class BlockAttention(_PartitionAttention):
    kind, words, Params, prefix = "block_attention", ("blocked-attention", "block-attention"), BlockParams, \
        "block_attn"
    table_word, size_name, what = "block attention", "window", "windows"
    doc = ("MaxViT's block attention (\"blocked local attention\") on a token grid: multi-head self-attention "
           "within non-overlapping P x P windows (window=7), a relative position bias per head; scale=dim scales "
           "keys by 1/sqrt(C) (torchvision); 4·C² + 4·C + (2P-1)²·heads parameters")


class GridAttention(_PartitionAttention):
    kind, words, Params, prefix = "grid_attention", ("grid-attention",), GridParams, "grid_attn"
    table_word, size_name, what = "grid attention", "grid", "a grid"
    doc = ("MaxViT's grid attention (\"dilated global attention\") on a token grid: multi-head self-attention "
           "among the G x G tokens spaced H/G and W/G apart (grid=7), a relative position bias per head; scale=dim "
           "as blocked-attention; 4·C² + 4·C + (2G-1)²·heads parameters")


KINDS = [SelfAttention(), WindowAttention(), BlockAttention(), GridAttention()]
