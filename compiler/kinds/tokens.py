"""Token sequences: the patch embedding (ViT's "linear projection of flattened patches"), the
class token, the position embedding, reading out a token or pooling over tokens, and the
conversions between feature maps and tokens.

A token sequence is ``L x D`` (``197x768`` for ViT-B/16: the class token and 14 x 14 patches).
Swin keeps its tokens on their grid, channels last: ``H x W x D`` (``56x56x96``), which its
window attention and patch merging need, and which a feature map's symbolic sizes carry exactly
(``H/4 x W/4 x 96``). The tokens of an ``H x W`` input are a product of symbolic sizes
(``(H/16)*(W/16)+1``); a position embedding needs a fixed number of them.
"""
from __future__ import annotations

import math
import operator
import re
from typing import Literal

from pydantic import Field

from netc.types import dims
from netc.types.dims import ShapeProblem
from netc.kinds.params import NoParams, Params
from netc.types.tensortype import MAP, TOKENS, TensorType, vector
from netc.kinds.base import Kind, check_positive, window_rf

_WORD = r"(\d+|[a-z_][a-z0-9_]*)"


def grid(h, w, d) -> TensorType:
    """Tokens that keep their grid, channels last (Swin): ``H x W x D``."""
    return TensorType((h, w, d), TOKENS)


def seq(length, d) -> TensorType:
    return TensorType((length, d), TOKENS)


def is_grid(t) -> bool:
    return t.layout == TOKENS and len(t) == 3


def need_seq(word: str, t, pred: str | None) -> None:
    if t.layout != TOKENS:
        src = f"'{pred}' gives" if pred else "gets"
        raise ShapeProblem(f"{word} needs a token sequence (L x D), but {src} a "
                           f"{'feature map' if t.layout == MAP else 'vector'} of {dims.fmt_shape(t)}",
                           hint="turn a feature map into tokens first: patch16-768 or to-tokens(flat)")
    if len(t) != 2:
        raise ShapeProblem(f"{word} needs a token sequence (L x D), but gets tokens on a grid "
                           f"({dims.fmt_shape(t)})", hint="flatten the grid first: to-tokens(flat)")


def need_grid(word: str, t, pred: str | None) -> None:
    if not is_grid(t):
        src = f"'{pred}' gives" if pred else "gets"
        what = "a flat token sequence" if t.layout == TOKENS else \
            "a feature map" if t.layout == MAP else "a vector"
        raise ShapeProblem(f"{word} needs tokens on a grid (H x W x D, channels last), but {src} {what} of "
                           f"{dims.fmt_shape(t)}", hint="keep the grid: patch4-96(grid) or to-tokens")


# ---------------------------------------------------------------------------------- patch embedding
class PatchParams(Params):
    out: int = Field(ge=1, description="the embedding size D")
    k: int = Field(ge=1, description="the patch size P (a P x P convolution of stride P)")
    grid: bool = Field(False, description="keep the patch grid (H/P x W/P x D, Swin) instead of a sequence")
    bias: bool = True


class PatchEmbed(Kind):
    role = "token"
    kind, words, Params, prefix, weight = "patch", ("patch", "patch-embed", "patchify"), PatchParams, \
        "patch_embed", True
    accepts, family, table_word = (MAP,), "embed", "patch embedding"
    positional = ("out", "k")
    paper_re = re.compile(rf"^(?:patch|patch-embed){_WORD}-(\w+)$")
    doc = ("patch embedding, ViT's linear projection of flattened patches: a P x P stride-P convolution, then "
           "the patches as tokens in row-major order: patch16-768 (196x768 at 224x224); patch4-96(grid) keeps "
           "the grid, channels last (Swin)")

    def from_paper(self, m):
        return {"k": m.group(1), "out": m.group(2)}

    def paper(self, p):
        return f"patch{p.k}-{p.out}" + ("(grid)" if p.grid else "")

    def infer(self, p, ins):
        c, h, w = ins[0]
        gh, gw = dims.window(h, p.k, p.k), dims.window(w, p.k, p.k)
        check_positive((gh, gw), lambda: self.paper(p), ins[0])
        return grid(gh, gw, p.out) if p.grid else seq(dims.product(gh, gw), p.out)

    def count_params(self, p, ins, out):
        return p.out * ins[0][0] * p.k * p.k + (p.out if p.bias else 0)

    def count_macs(self, p, ins, out):
        if not dims.is_fixed(out):
            return None
        positions = math.prod(out[:-1])
        return positions * p.out * ins[0][0] * p.k * p.k

    def rf(self, p, rf_in, ins):
        return window_rf(rf_in, p.k, p.k)

    def module(self, node, ins):
        from torch import nn
        p = node.params
        return nn.Conv2d(ins[0][0], p.out, p.k, stride=p.k, bias=p.bias, device="meta")

    def lower(self, lo, args):
        import torch
        y = lo.call_module(args[0])
        if lo.node.params.grid:
            return lo.call(torch.permute, y, (0, 2, 3, 1), name=f"{lo.name}_tokens")
        y = lo.call(torch.flatten, y, 2, name=f"{lo.name}_flat")
        return lo.call(torch.transpose, y, 1, 2, name=f"{lo.name}_tokens")

    def init(self, m):
        from netc.backends.torch.attention import init_patch_embedding
        init_patch_embedding(m)


# --------------------------------------------------------------------------------------- conversions
class ToTokensParams(Params):
    flat: bool = Field(False, description="a sequence (H*W) x C instead of the grid H x W x C")


class ToTokens(Kind):
    role = "token"
    kind, words, Params, prefix = "to_tokens", ("to-tokens", "tokens"), ToTokensParams, "tokens"
    accepts, family, functional, pointwise = (MAP, TOKENS), "resize", True, False
    hidden_in_tables = True
    doc = ("a feature map C x H x W as tokens on its grid, channels last (H x W x C); to-tokens(flat): as a "
           "sequence (H*W) x C, row-major")

    def paper(self, p):
        return "to-tokens(flat)" if p.flat else "to-tokens"

    def check_input(self, p, ins, preds):
        t = ins[0]
        if t.layout == TOKENS and not (is_grid(t) and p.flat):
            raise ShapeProblem(f"{self.paper(p)}: '{preds[0]}' gives tokens already ({dims.fmt_shape(t)})",
                               hint="remove it" + ("" if is_grid(t) else "; to-tokens(flat) flattens a grid"))
        if t.layout not in (MAP, TOKENS):
            raise ShapeProblem(f"{self.paper(p)} needs a feature map, but '{preds[0]}' gives a vector of "
                               f"{dims.fmt_shape(t)}")

    def infer(self, p, ins):
        t = ins[0]
        if t.layout == MAP:
            c, h, w = t
        else:
            h, w, c = t
        return seq(dims.product(h, w), c) if p.flat else grid(h, w, c)

    def lower(self, lo, args):
        import torch
        x, t = args[0], lo.ins[0]
        if t.layout == TOKENS:                                 # a grid, flattened
            return lo.call(torch.flatten, x, 1, 2, name=lo.name)
        if lo.node.params.flat:
            x = lo.call(torch.flatten, x, 2, name=f"{lo.name}_flat")
            return lo.call(torch.transpose, x, 1, 2, name=lo.name)
        return lo.call(torch.permute, x, (0, 2, 3, 1), name=lo.name)


class ToMap(Kind):
    role = "token"
    kind, words, prefix = "to_map", ("to-map", "to-fmap"), "to_map"
    accepts, family, functional = (TOKENS,), "resize", True
    hidden_in_tables = True
    doc = ("tokens on a grid (H x W x C) back to a feature map C x H x W; a square sequence of L = k*k tokens "
           "(no class token) as a k x k map")

    def paper(self, p):
        return "to-map"

    def check_input(self, p, ins, preds):
        t = ins[0]
        if t.layout != TOKENS:
            raise ShapeProblem(f"to-map needs tokens, but '{preds[0]}' gives a "
                               f"{'feature map' if t.layout == MAP else 'vector'} of {dims.fmt_shape(t)}")
        if not is_grid(t):
            n = t[0]
            if not isinstance(n, int) or math.isqrt(n) ** 2 != n:
                raise ShapeProblem(f"to-map: '{preds[0]}' gives {dims.fmt_shape(t)}, a sequence that is not a "
                                   f"square grid", hint="drop the class token first, or keep the grid: "
                                                        "patch16-768(grid)")

    def infer(self, p, ins):
        t = ins[0]
        if is_grid(t):
            h, w, c = t
        else:
            h = w = math.isqrt(t[0])
            c = t[1]
        return TensorType((c, h, w), MAP)

    def lower(self, lo, args):
        import torch
        t = lo.ins[0]
        x = args[0]
        if not is_grid(t):
            k = math.isqrt(t[0])
            x = lo.call(torch.transpose, x, 1, 2, name=f"{lo.name}_t")
            return lo.call(torch.unflatten, x, 2, (k, k), name=lo.name)
        return lo.call(torch.permute, x, (0, 3, 1, 2), name=lo.name)


# -------------------------------------------------------------------- class token, position embedding
class ClassToken(Kind):
    role = "token"
    kind, words, prefix = "cls_token", ("cls-token", "class-token", "cls_token"), "class_token"
    accepts, family, table_word = (TOKENS,), "embed", "class token"
    doc = "ViT's learned class token, prepended to the sequence: L x D -> (L+1) x D (D parameters)"

    def paper(self, p):
        return "cls-token"

    def check_input(self, p, ins, preds):
        need_seq("cls-token", ins[0], preds[0] if preds else None)

    def infer(self, p, ins):
        length, d = ins[0]
        return seq(dims.plus(length, 1), d)

    def count_params(self, p, ins, out):
        return ins[0][-1]

    def module(self, node, ins):
        from netc.backends.torch.attention import TensorParam
        return TensorParam((1, 1, ins[0][-1]), init="zeros")

    def init(self, m):
        m.reset_parameters()

    def lower(self, lo, args):
        from netc.backends.torch.attention import prepend_token
        token = lo.get_attr()
        return lo.call(prepend_token, args[0], token, name=lo.name)


class PosEmbed(Kind):
    role = "token"
    kind, words, prefix = "pos_embed", ("pos-embed", "pos-embedding", "position-embedding"), "pos_embedding"
    accepts, family, table_word = (TOKENS,), "embed", "position embedding"
    doc = ("a learned position embedding added to the tokens (one D-vector per position: L x D parameters); it "
           "fixes the number of tokens, hence the input size")

    def paper(self, p):
        return "pos-embed"

    def check_input(self, p, ins, preds):
        t = ins[0]
        if t.layout != TOKENS:
            need_seq("pos-embed", t, preds[0] if preds else None)
        if not dims.is_fixed(t):
            raise ShapeProblem(
                f"pos-embed needs a fixed number of tokens, but '{preds[0]}' gives {dims.fmt_shape(t)}: the "
                f"position embedding has one row per token, so it fixes the input size",
                hint="declare the size it was trained at (input 224x224 RGB); to run at another size, interpolate "
                     "the embedding to the new grid (torchvision's interpolate_embeddings) and compile at that size")

    def count_params(self, p, ins, out):
        return math.prod(ins[0])

    def module(self, node, ins):
        from netc.backends.torch.attention import TensorParam
        return TensorParam((1, *ins[0]), init="normal", std=0.02)

    def init(self, m):
        m.reset_parameters()

    def lower(self, lo, args):
        return lo.call(operator.add, args[0], lo.get_attr(), name=lo.name)


# --------------------------------------------------------------------------------- reading tokens out
class SelectParams(Params):
    index: int = Field(0, description="which token (0: the class token)")


class Select(Kind):
    role = "token"
    kind, words, Params, prefix = "select", ("select", "take-token", "cls-out"), SelectParams, "select"
    accepts, family, functional = (TOKENS,), "pool", True
    positional = ("index",)
    doc = "one token of the sequence as a vector: select(0) reads out ViT's class token"

    def paper(self, p):
        return f"select({p.index})"

    def check_input(self, p, ins, preds):
        need_seq(self.paper(p), ins[0], preds[0] if preds else None)
        n = ins[0][0]
        if isinstance(n, int) and not -n <= p.index < n:
            raise ShapeProblem(f"select({p.index}): the sequence has {n} tokens")

    def infer(self, p, ins):
        return vector(ins[0][-1])

    def lower(self, lo, args):
        return lo.call(operator.getitem, args[0], (slice(None), lo.node.params.index), name=lo.name)


class TokenPool(Kind):
    role = "token"
    kind, words, prefix = "token_pool", ("token-pool", "token-mean", "mean-tokens"), "token_pool"
    accepts, family, functional, table_word = (TOKENS,), "pool", True, "avg pool"
    doc = "the mean over all tokens (a sequence or a grid) as a vector of D: Swin's global average pooling"

    def paper(self, p):
        return "token-pool"

    def infer(self, p, ins):
        return vector(ins[0][-1])

    def lower(self, lo, args):
        import torch
        d = (1, 2) if is_grid(lo.ins[0]) else 1
        return lo.call(torch.mean, args[0], d, name=lo.name)


# ------------------------------------------------------------------------------------- patch merging
class MergeParams(Params):
    out: int | None = Field(None, ge=1, description="output size (default 2C)")
    eps: float = Field(1e-5, gt=0)
    norm: Literal["pre", "post"] = Field("pre", description="LayerNorm over the 4C concatenation before the "
                                                             "projection (Swin), or over its output after it "
                                                             "(post: Swin V2)")


class PatchMerge(Kind):
    role = "token"
    kind, words, Params, prefix, weight = "patch_merge", ("patch-merge", "patch-merging", "merge"), MergeParams, \
        "merge", True
    accepts, family, table_word = (TOKENS,), "embed", "patch merging"
    positional = ("out",)
    doc = ("Swin's patch merging: each 2x2 neighbourhood of a token grid concatenated (4C), layer-normed and "
           "projected to 2C without bias: H x W x C -> H/2 x W/2 x 2C (odd sizes padded by one); norm=post: "
           "projected, then layer-normed (Swin V2)")

    def paper(self, p):
        args = [str(p.out)] * (p.out is not None) + ["norm=post"] * (p.norm == "post")
        return f"patch-merge({', '.join(args)})" if args else "patch-merge"

    def check_input(self, p, ins, preds):
        need_grid(self.paper(p), ins[0], preds[0] if preds else None)

    def _out(self, p, c):
        return p.out if p.out is not None else 2 * c

    torch_modules = ("PatchMerging", "PatchMergingV2")       # netc's own and timm's (Swin), netc's Swin V2

    def torch_params(self, m, x):
        out = int(m.reduction.out_features)
        n = int(m.norm.normalized_shape[0])          # over the 4C concatenation (pre) or the output (post)
        post = type(m).__name__ == "PatchMergingV2" or (n == out and n != m.reduction.in_features)
        return {"out": None if x and 2 * x[-1] == out else out, "eps": float(m.norm.eps),
                **({"norm": "post"} if post else {})}

    def infer(self, p, ins):
        h, w, c = ins[0]
        return grid(dims.window(h, 1, 2), dims.window(w, 1, 2), self._out(p, c))

    def count_params(self, p, ins, out):
        c = ins[0][-1]
        return 4 * c * self._out(p, c) + 2 * (4 * c if p.norm == "pre" else self._out(p, c))

    def count_macs(self, p, ins, out):
        if not dims.is_fixed(out):
            return None
        return out[0] * out[1] * 4 * ins[0][-1] * out[2]

    def rf(self, p, rf_in, ins):
        return window_rf(rf_in, 2, 2)

    def module(self, node, ins):
        from netc.backends.torch.attention import PatchMerging
        from netc.backends.torch.partition_attention import PatchMergingV2
        c = ins[0][-1]
        cls = PatchMerging if node.params.norm == "pre" else PatchMergingV2
        return cls(c, self._out(node.params, c), eps=node.params.eps, device="meta")

    def init(self, m):
        m.reset_parameters()


KINDS = [PatchEmbed(), ToTokens(), ToMap(), ClassToken(), PosEmbed(), Select(), TokenPool(), PatchMerge()]
__all__ = ["grid", "seq", "is_grid", "NoParams"]
