"""Decoder-only language models: token embedding, GPT-2's learned positions, RMSNorm, causal
self-attention with grouped-query heads and rotary position embedding (θ, Llama 3's frequency
scaling), SwiGLU, GPT-2's attention and MLP (Conv1D layout, GELU's tanh approximation), a mixture
of experts, rotary embedding on its own, and the output head (tied to the embedding or not).

The input is a sequence of token ids, ``input tokens 2048`` or ``input tokens L`` (a variable
length): ``L`` ids. ``embed(vocab, D)`` makes them ``L x D`` tokens, and every other kind here acts
on tokens. Multiply-adds follow netc's convention, one per multiply-add of a matrix product:
an attention layer costs its projections plus QK^T and AV (``2·L²·heads·head_dim``, the part
quadratic in the context), a mixture of experts its router and the ``top_k`` experts a token
visits. The embedding is a lookup (no multiply-adds); the head is a product (``L·D·vocab``).
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from netc.kinds.base import Kind, num
from netc.kinds.params import Params
from netc.kinds.tokens import need_seq, seq
from netc.types import dims
from netc.types.dims import ShapeProblem
from netc.types.tensortype import IDS, TOKENS


def _tokens_of(ins) -> int | None:
    """The number of tokens of a sequence, when it is fixed."""
    n = ins[0][0]
    return n if isinstance(n, int) else None


# --------------------------------------------------------------------------------- token embedding
class EmbedParams(Params):
    vocab: int = Field(ge=1, description="the vocabulary size")
    dim: int = Field(ge=1, description="the model width D")


class TokenEmbed(Kind):
    role = "token"
    kind, words, Params, prefix, weight = "embed", ("embed", "token-embed", "embedding", "tok-embed"), \
        EmbedParams, "embed_tokens", False
    accepts, family, table_word = (IDS,), "embed", "token embedding"
    positional = ("vocab", "dim")
    doc = "token embedding: L token ids -> L x D tokens, a learned row per id: embed(128256, 4096); vocab·D parameters"

    def paper(self, p):
        return f"embed({p.vocab}, {p.dim})"

    def check_input(self, p, ins, preds):
        if ins[0].layout != IDS:
            src = f"'{preds[0]}' gives" if preds else "gets"
            raise ShapeProblem(f"{self.paper(p)} needs token ids, but {src} {dims.fmt_shape(ins[0])}",
                               hint="declare the input as token ids: input tokens 2048 (or input tokens L)")

    def infer(self, p, ins):
        return seq(ins[0][0], p.dim)

    def count_params(self, p, ins, out):
        return p.vocab * p.dim

    def module(self, node, ins):
        from netc.backends.torch.llm import TokenEmbedding
        p = node.params
        return TokenEmbedding(p.vocab, p.dim, device="meta")

    def init(self, m):
        m.reset_parameters()

    def lower(self, lo, args):
        return lo.call_module(args[0])


# ------------------------------------------------------------------------- GPT-2's learned positions
class LearnedPosParams(Params):
    max: int = Field(ge=1, description="the longest context: one learned D-vector per position")


class LearnedPos(Kind):
    role = "token"
    kind, words, Params, prefix = "learned_pos", ("learned-pos", "pos-table", "wpe"), LearnedPosParams, "wpe"
    accepts, family, table_word = (TOKENS,), "embed", "position embedding"
    positional = ("max",)
    doc = ("GPT-2's learned position embedding: position i adds row i of a max x D table (any length up to "
           "max): learned-pos(1024); max·D parameters")

    def paper(self, p):
        return f"learned-pos({p.max})"

    def check_input(self, p, ins, preds):
        need_seq(self.paper(p), ins[0], preds[0] if preds else None)
        n = _tokens_of(ins)
        if n is not None and n > p.max:
            raise ShapeProblem(f"{self.paper(p)}: {n} tokens, but the table has {p.max} positions",
                               hint=f"use a context of at most {p.max} tokens")

    def count_params(self, p, ins, out):
        return p.max * ins[0][-1]

    def module(self, node, ins):
        from netc.backends.torch.llm import LearnedPositions
        return LearnedPositions(node.params.max, ins[0][-1], device="meta")

    def init(self, m):
        m.reset_parameters()

    def lower(self, lo, args):
        return lo.call_module(args[0])


# ------------------------------------------------------------------------------------------ RMSNorm
class RMSParams(Params):
    eps: float = Field(1e-6, gt=0)


class RMSNorm(Kind):
    kind, words, Params, prefix, role = "rmsnorm", ("rmsnorm", "rms-norm", "rms_norm"), RMSParams, "norm", "norm"
    accepts, family, table_word, pointwise = (TOKENS,), "norm", "RMSNorm", True
    doc = "RMSNorm (Zhang & Sennrich 2019) over each token's features, a learned scale: D parameters"

    def paper(self, p):
        return "RMSNorm" if p.eps == 1e-6 else f"RMSNorm(eps={num(p.eps)})"

    def count_params(self, p, ins, out):
        return ins[0][-1]

    def module(self, node, ins):
        from torch import nn
        return nn.RMSNorm(ins[0][-1], eps=node.params.eps, device="meta")

    def init(self, m):
        m.reset_parameters()

    def lower(self, lo, args):
        return lo.call_module(args[0])


# ---------------------------------------------------------------------- rotary position embedding
class RopeParams(Params):
    theta: float = Field(10000.0, gt=0, description="RoPE's base θ (Llama 3: 500000)")
    factor: Optional[float] = Field(None, gt=0, description="Llama 3's frequency scaling: the factor (8)")
    low_freq_factor: float = Field(1.0, gt=0)
    high_freq_factor: float = Field(4.0, gt=0)
    original_max: int = Field(8192, ge=1, description="the context the frequencies were trained at")

    def scaling(self) -> dict | None:
        if self.factor is None:
            return None
        return {"factor": self.factor, "low_freq_factor": self.low_freq_factor,
                "high_freq_factor": self.high_freq_factor, "original_max": self.original_max}


class RopeOnlyParams(RopeParams):
    head_dim: int = Field(ge=2, description="the size of one head (rotated in pairs)")


def _rope_text(p) -> list[str]:
    out = [] if p.theta == 10000.0 else [f"theta={num(p.theta)}"]
    if p.factor is not None:
        out.append(f"factor={num(p.factor)}")
        out += [f"low_freq_factor={num(p.low_freq_factor)}"] * (p.low_freq_factor != 1.0)
        out += [f"high_freq_factor={num(p.high_freq_factor)}"] * (p.high_freq_factor != 4.0)
        out += [f"original_max={p.original_max}"] * (p.original_max != 8192)
    return out


class Rope(Kind):
    role = "token"
    kind, words, Params, prefix = "rope", ("rope", "rotary"), RopeOnlyParams, "rope"
    accepts, family, functional = (TOKENS,), "embed", True
    positional = ("head_dim",)
    doc = ("rotary position embedding (Su et al.) on its own: each head of head_dim features rotated in pairs by "
           "position, θ^(-2i/d); factor= applies Llama 3's frequency scaling; no parameters. The attention "
           "layers (gqa) apply it to q and k themselves")

    def paper(self, p):
        return f"RoPE({', '.join([str(p.head_dim), *_rope_text(p)])})"

    def check_input(self, p, ins, preds):
        need_seq(self.paper(p), ins[0], preds[0] if preds else None)
        d = ins[0][-1]
        if d % p.head_dim or p.head_dim % 2:
            raise ShapeProblem(f"{self.paper(p)}: the token size ({d}) is not a multiple of an even head_dim")

    def lower(self, lo, args):
        from netc.backends.torch.llm import apply_rope
        p = lo.node.params
        return lo.call(apply_rope, args[0], p.head_dim, p.theta, p.scaling(), name=lo.name)


# ------------------------------------------------------------------------ causal self-attention (GQA)
class GQAParams(RopeParams):
    heads: int = Field(ge=1, description="query heads")
    kv_heads: Optional[int] = Field(None, ge=1, description="key/value heads (grouped-query attention; default heads)")
    head_dim: Optional[int] = Field(None, ge=1, description="the size of one head (default D / heads)")
    bias: bool = Field(False, description="biases on q, k and v (Qwen 2)")
    out_bias: bool = Field(False, description="a bias on the output projection")
    rope: bool = Field(True, description="rotary position embedding on q and k")

    def kv(self) -> int:
        return self.kv_heads if self.kv_heads is not None else self.heads


class CausalAttention(Kind):
    role = "token"
    kind, words, Params, prefix, weight = "gqa", ("gqa", "causal-attention", "causal-self-attention"), \
        GQAParams, "self_attn", True
    accepts, family, table_word = (TOKENS,), "attention", "causal self-attention"
    positional = ("heads", "kv_heads", "head_dim")
    doc = ("causal self-attention with grouped-query heads and rotary position embedding (Llama, Mistral, Qwen 2): "
           "gqa(32, 8, theta=500000); q, k, v, o projections (q_proj ... o_proj), torch's "
           "scaled_dot_product_attention(is_causal=True); factor= applies Llama 3's RoPE scaling")

    def _hd(self, p, d):
        return p.head_dim if p.head_dim is not None else d // p.heads

    def paper(self, p):
        args = [str(p.heads)] + ([f"kv_heads={p.kv_heads}"] if p.kv_heads not in (None, p.heads) else []) \
            + ([f"head_dim={p.head_dim}"] if p.head_dim is not None else []) + (["bias"] if p.bias else []) \
            + (["out_bias"] if p.out_bias else []) + ([] if p.rope else ["rope=false"]) \
            + (_rope_text(p) if p.rope else [])
        return f"GQA({', '.join(args)})" if p.kv() != p.heads else f"MSA({', '.join(args)})"

    def check_input(self, p, ins, preds):
        need_seq(self.paper(p), ins[0], preds[0] if preds else None)
        d = ins[0][1]
        if p.head_dim is None and d % p.heads:
            raise ShapeProblem(f"{self.paper(p)}: the token size ({d}) is not divisible by the heads ({p.heads})",
                               hint="give head_dim= explicitly")
        if p.heads % p.kv():
            raise ShapeProblem(f"{self.paper(p)}: {p.heads} query heads do not split into {p.kv()} key/value groups")
        if p.rope and self._hd(p, d) % 2:
            raise ShapeProblem(f"{self.paper(p)}: rotary embedding needs an even head size ({self._hd(p, d)})")

    def count_params(self, p, ins, out):
        d = ins[0][1]
        hd = self._hd(p, d)
        q, kv = p.heads * hd, p.kv() * hd
        return d * (q + 2 * kv) + q * d + ((q + 2 * kv) if p.bias else 0) + (d if p.out_bias else 0)

    def count_macs(self, p, ins, out):
        length, d = ins[0]
        if not isinstance(length, int):
            return None
        hd = self._hd(p, d)
        q, kv = p.heads * hd, p.kv() * hd
        return length * d * (q + 2 * kv) + length * q * d + 2 * length * length * q

    def rf(self, p, rf_in, ins):
        return None

    def module(self, node, ins):
        from netc.backends.torch.llm import CausalSelfAttention
        p = node.params
        d = ins[0][1]
        return CausalSelfAttention(d, p.heads, p.kv(), self._hd(p, d), bias=p.bias, out_bias=p.out_bias,
                                   rope=p.rope, theta=p.theta, scaling=p.scaling(), device="meta")

    def init(self, m):
        m.reset_parameters()

    def lower(self, lo, args):
        return lo.call_module(args[0])


# --------------------------------------------------------------------------------------- GPT-2
class GPT2AttnParams(Params):
    heads: int = Field(ge=1, description="the number of heads")


class GPT2Attention(Kind):
    role = "token"
    kind, words, Params, prefix, weight = "gpt2_attention", ("gpt2-attention", "gpt2-attn"), GPT2AttnParams, \
        "attn", True
    accepts, family, table_word = (TOKENS,), "attention", "masked self-attention"
    positional = ("heads",)
    doc = ("GPT-2's masked (causal) multi-head self-attention: c_attn (D -> 3D) and c_proj in Conv1D layout "
           "(weight in x out), with biases: gpt2-attn(12); 4·D² + 4·D parameters")

    def paper(self, p):
        return f"masked-MSA({p.heads})"

    def check_input(self, p, ins, preds):
        need_seq(self.paper(p), ins[0], preds[0] if preds else None)
        if ins[0][1] % p.heads:
            raise ShapeProblem(f"{self.paper(p)}: the token size ({ins[0][1]}) is not divisible by the heads")

    def count_params(self, p, ins, out):
        d = ins[0][1]
        return 4 * d * d + 4 * d

    def count_macs(self, p, ins, out):
        length, d = ins[0]
        if not isinstance(length, int):
            return None
        return 4 * length * d * d + 2 * length * length * d

    def rf(self, p, rf_in, ins):
        return None

    def module(self, node, ins):
        from netc.backends.torch.llm import GPT2Attention as Module
        return Module(ins[0][1], node.params.heads, device="meta")

    def init(self, m):
        m.reset_parameters()

    def lower(self, lo, args):
        return lo.call_module(args[0])


class MLPParams(Params):
    hidden: int = Field(ge=1, description="the hidden (FFN) width")


class GPT2MLP(Kind):
    role = "token"
    kind, words, Params, prefix, weight = "gpt2_mlp", ("gpt2-mlp",), MLPParams, "mlp", True
    accepts, family, table_word = (TOKENS,), "fc", "MLP (GELU)"
    positional = ("hidden",)
    doc = ("GPT-2's MLP: c_fc (D -> hidden), GELU (tanh approximation), c_proj (hidden -> D), Conv1D layout, "
           "with biases: gpt2-mlp(3072)")

    def paper(self, p):
        return f"MLP-{p.hidden}(gelu)"

    def check_input(self, p, ins, preds):
        need_seq(self.paper(p), ins[0], preds[0] if preds else None)

    def count_params(self, p, ins, out):
        d = ins[0][1]
        return 2 * d * p.hidden + p.hidden + d

    def count_macs(self, p, ins, out):
        n = _tokens_of(ins)
        return None if n is None else 2 * n * ins[0][1] * p.hidden

    def module(self, node, ins):
        from netc.backends.torch.llm import GPT2MLP as Module
        return Module(ins[0][1], node.params.hidden, device="meta")

    def init(self, m):
        m.reset_parameters()

    def lower(self, lo, args):
        return lo.call_module(args[0])


# ----------------------------------------------------------------------------------------- SwiGLU
class GatedParams(Params):
    hidden: int = Field(ge=1, description="the hidden (FFN) width")
    act: Literal["silu", "gelu", "gelu_tanh", "relu"] = Field("silu", description="the gate's activation")
    bias: bool = False


class SwiGLU(Kind):
    role = "token"
    kind, words, Params, prefix, weight = "swiglu", ("swiglu", "gated-mlp", "glu-mlp"), GatedParams, "mlp", True
    accepts, family, table_word = (TOKENS,), "fc", "SwiGLU"
    positional = ("hidden",)
    doc = ("a gated MLP, SwiGLU (Shazeer 2020): down_proj(silu(gate_proj(x)) * up_proj(x)): swiglu(14336); "
           "3·D·hidden parameters")

    def paper(self, p):
        word = "SwiGLU" if p.act == "silu" else f"GLU-{p.act}"
        return f"{word}-{p.hidden}" + ("(bias)" if p.bias else "")

    def check_input(self, p, ins, preds):
        need_seq(self.paper(p), ins[0], preds[0] if preds else None)

    def count_params(self, p, ins, out):
        d = ins[0][1]
        return 3 * d * p.hidden + ((2 * p.hidden + d) if p.bias else 0)

    def count_macs(self, p, ins, out):
        n = _tokens_of(ins)
        return None if n is None else 3 * n * ins[0][1] * p.hidden

    def module(self, node, ins):
        from netc.backends.torch.llm import GatedMLP
        p = node.params
        return GatedMLP(ins[0][1], p.hidden, act=p.act, bias=p.bias, device="meta")

    def init(self, m):
        m.reset_parameters()

    def lower(self, lo, args):
        return lo.call_module(args[0])


# ------------------------------------------------------------------------------ mixture of experts
class MoEParams(Params):
    experts: int = Field(ge=1, description="the number of experts")
    top_k: int = Field(ge=1, description="the experts each token is routed to")
    hidden: int = Field(ge=1, description="each expert's hidden (FFN) width")
    act: Literal["silu", "gelu", "gelu_tanh", "relu"] = "silu"


class MoE(Kind):
    role = "token"
    kind, words, Params, prefix, weight = "moe", ("moe", "mixture-of-experts", "sparse-moe"), MoEParams, \
        "mlp", True
    accepts, family, table_word = (TOKENS,), "fc", "mixture of experts"
    positional = ("experts", "top_k", "hidden")
    doc = ("a sparse mixture of experts (Mixtral): a router (D -> experts, no bias) picks top_k experts per token, "
           "weighted by their renormalised soft-max; each expert a SwiGLU: moe(8, 2, 14336); "
           "experts·3·D·hidden + D·experts parameters, of which top_k·3·D·hidden + D·experts are active per token")

    def paper(self, p):
        return f"MoE({p.experts}, top-{p.top_k}, SwiGLU-{p.hidden})"

    def check_input(self, p, ins, preds):
        need_seq(self.paper(p), ins[0], preds[0] if preds else None)
        if p.top_k > p.experts:
            raise ShapeProblem(f"{self.paper(p)}: top_k ({p.top_k}) is more than the experts ({p.experts})")

    def count_params(self, p, ins, out):
        d = ins[0][1]
        return p.experts * 3 * d * p.hidden + d * p.experts

    def active_params(self, p, ins) -> int:
        d = ins[0][1]
        return p.top_k * 3 * d * p.hidden + d * p.experts

    def count_macs(self, p, ins, out):
        n = _tokens_of(ins)
        return None if n is None else n * self.active_params(p, ins)

    def module(self, node, ins):
        from netc.backends.torch.llm import MoE as Module
        p = node.params
        return Module(ins[0][1], p.hidden, p.experts, p.top_k, act=p.act, device="meta")

    def init(self, m):
        m.reset_parameters()

    def lower(self, lo, args):
        return lo.call_module(args[0])


# ------------------------------------------------------------------------------------- output head
class HeadParams(Params):
    vocab: int = Field(ge=1, description="the vocabulary size")
    tied: bool = Field(False, description="reuse the token embedding's matrix (tied embeddings): no parameters")
    bias: bool = False


class LMHead(Kind):
    role = "token"
    kind, words, Params, prefix, weight = "lm_head", ("lm-head", "lmhead", "unembed"), HeadParams, "lm_head", True
    accepts, family, table_word = (TOKENS,), "fc", "LM head"
    positional = ("vocab",)
    doc = ("the language-model head: each token's logits over the vocabulary, L x D -> L x vocab: lm-head(50257); "
           "lm-head(50257, tied) reuses the token embedding (tied embeddings, no parameters of its own)")

    def paper(self, p):
        return f"lm-head({p.vocab}" + (", tied" if p.tied else "") + (", bias" if p.bias else "") + ")"

    def check_input(self, p, ins, preds):
        need_seq(self.paper(p), ins[0], preds[0] if preds else None)

    def infer(self, p, ins):
        return seq(ins[0][0], p.vocab)

    def count_params(self, p, ins, out):
        return (0 if p.tied else ins[0][1] * p.vocab) + (p.vocab if p.bias else 0)

    def count_macs(self, p, ins, out):
        n = _tokens_of(ins)
        return None if n is None else n * ins[0][1] * p.vocab

    def module(self, node, ins):
        from torch import nn
        p = node.params
        if p.tied:
            if not p.bias:
                return None
            from netc.backends.torch.attention import TensorParam
            return TensorParam((p.vocab,), init="zeros")
        return nn.Linear(ins[0][1], p.vocab, bias=p.bias, device="meta")

    def init(self, m):
        if hasattr(m, "reset_parameters") and not hasattr(m, "netc_inline"):
            from torch import nn
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        else:
            m.reset_parameters()

    def lower(self, lo, args):
        p = lo.node.params
        if not p.tied:
            return lo.call_module(args[0])
        from netc.backends.torch.codegen import target
        from netc.backends.torch.llm import tied_head
        from netc.dsl.errors import SpecError
        embed = next((n for n in lo.ir.layers() if n.kind == "embed"), None)
        if embed is None or embed.params.vocab != p.vocab:
            raise SpecError(f"{self.paper(p)}: tied to a token embedding, but the network has no "
                            f"embed({p.vocab}, D)", lo.node.span, hint="write embed(vocab, D) first, or drop 'tied'")
        w = lo.g.create_node("get_attr", target(embed.name) + ".weight", name=f"{lo.name}_tied_weight")
        y = lo.call(tied_head, args[0], w, name=lo.name)
        if p.bias:
            import operator
            y = lo.call(operator.add, y, lo.get_attr(), name=f"{lo.name}_bias")
        return y


KINDS = [TokenEmbed(), LearnedPos(), RMSNorm(), Rope(), CausalAttention(), GPT2Attention(), GPT2MLP(), SwiGLU(),
         MoE(), LMHead()]


# ------------------------------------------------------------------------------- counts of a model
def active_params(ir) -> int:
    """Parameters a token uses: every parameter, less the experts a mixture of experts leaves out
    (Mixtral 8x7B: 12.9 B of 46.7 B)."""
    total = 0
    for n in ir.nodes():
        if n.kind == "moe" and n.layer_kind is not None:
            ins = [ir.node(p).shape or ir.node(p).sym_shape for p in ir.preds(n.name)]
            total += n.layer_kind.active_params(n.params, ins)
        else:
            total += n.n_params
    return total


def context_costs(ir) -> dict | None:
    """For a language model: its multiply-adds per token (the part linear in the context) and, where
    its sequence length is a number (``input tokens 2048``, ``netc summary --input 2048``), the total for
    that context with attention's quadratic part; None for a network that does not read token ids.
    The IR is left as it is (a copy is counted at one token)."""
    import copy
    spec = getattr(ir, "input_spec", None)
    if spec is None or not getattr(spec, "tokens", False):
        return None
    length = ir.node("input").shape[0] if ir.node("input").shape is not None else None
    if isinstance(length, int) and ir.macs is not None:
        quad = _quadratic(ir)
        return {"context": length, "total": ir.macs, "attention_quadratic": quad,
                "per_token": (ir.macs - quad) // length}
    one = costs(copy.deepcopy(ir), 1)
    return {"context": None, "total": None, "attention_quadratic": None, "per_token": one["per_token_linear"]}


def _quadratic(ir) -> int:
    """Attention's QK^T and AV multiply-adds at the IR's own (numeric) length."""
    quad = 0
    for n in ir.nodes():
        if n.kind in ("gqa", "gpt2_attention") and n.shape is not None:
            length, d = ir.node(ir.preds(n.name)[0]).shape
            p = n.params
            width = d if n.kind == "gpt2_attention" else p.heads * (p.head_dim or d // p.heads)
            quad += 2 * length * length * width
    return quad


def costs(ir, context: int) -> dict:
    """Multiply-adds of a language model for one sequence of ``context`` tokens: the total, the part
    quadratic in the context (attention's QK^T and AV), the rest (linear in it), and per token.

    >>> import netc
    >>> c = costs(netc.load("gpt2"), 1024)
    >>> c["linear"] // 1024 == c["per_token_linear"]
    True
    """
    from netc.passes import infer
    infer(ir, (context, 1))
    try:
        total = ir.macs
        quad = _quadratic(ir)
    finally:
        infer(ir, None)
    return {"context": context, "total": total, "attention_quadratic": quad, "linear": total - quad,
            "per_token_linear": (total - quad) // context, "per_token_average": total / context}

