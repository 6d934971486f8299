"""Torch modules of decoder-only language models, in Hugging Face transformers' state_dict layout.

- :class:`TokenEmbedding` (``nn.Embedding``: ``weight``, vocab x D) and :class:`LearnedPositions`
  (GPT-2's ``wpe``: adds ``weight[:L]`` to the tokens);
- :class:`CausalSelfAttention`: ``q_proj``, ``k_proj``, ``v_proj``, ``o_proj`` with grouped-query
  heads (``kv_heads`` <= ``heads``), rotary position embedding (θ, and Llama 3's frequency scaling)
  applied to q and k, computed by ``F.scaled_dot_product_attention(is_causal=True)``;
- :class:`GPT2Attention` and :class:`GPT2MLP`: GPT-2's fused ``c_attn`` and ``c_proj``, ``c_fc``, in
  ``Conv1D`` layout (weight ``in x out``), the MLP with GELU's tanh approximation;
- :class:`GatedMLP`: SwiGLU, ``down_proj(act(gate_proj(x)) * up_proj(x))``;
- :class:`MoE`: Mixtral's sparse mixture of experts: a router (``gate.weight``, experts x D), the
  top-k experts per token weighted by their renormalised soft-max, each a SwiGLU
  (``experts.gate_up_proj``: E x 2F x D, ``experts.down_proj``: E x D x F, transformers 5's layout);
- :func:`tied_head`: the output head that reuses the token embedding's matrix.

Each reports its multiply-adds to the forward-hook counter (``netc_macs``, per sample), by the
convention of netc's other layers: matrix products only; attention's QK^T and AV included.

Every module takes the optional ``attention_mask`` of the model's forward by way of
:data:`MASK` (a padding mask, 1 keep / 0 pad, N x L), set for one call by :func:`with_mask`.

Incremental decoding: inside :func:`kv_cache` (``with kv_cache(model): model(prompt);
model(next_ids)``) each attention module keeps the keys and values of the tokens it has seen
(its ``cache``: (k, v), N x kv_heads x past x head_dim) and attends the new tokens to them;
positions (RoPE's rotation, GPT-2's ``wpe`` rows) continue from the tokens already seen
(:data:`POSITION`, set for each forward of the model). :func:`netc.generate
<netc.backends.torch.generate.generate>` drives it.
"""
from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from netc.dsl.errors import UsageError

#: the padding mask of the forward being run (N x L, 1 = a token, 0 = padding), or None
MASK: list = [None]


#: the position of the first token of the forward being run: 0, or inside :func:`kv_cache` the
#: number of tokens the model has seen before this call
POSITION: list = [0]


@contextlib.contextmanager
def with_mask(mask):
    MASK.append(mask)
    try:
        yield
    finally:
        MASK.pop()


def attention_layers(model: nn.Module) -> list[nn.Module]:
    """The modules of a model that keep a key/value cache (gqa, gpt2-attn)."""
    return [m for m in model.modules() if isinstance(m, (CausalSelfAttention, GPT2Attention))]


class DecodeState:
    """What :func:`kv_cache` yields: ``length``, the tokens the model has seen (cached) so far."""

    def __init__(self, layers: list[nn.Module]):
        self.layers, self.length = layers, 0

    def __repr__(self) -> str:
        return f"DecodeState(length={self.length}, layers={len(self.layers)})"


@contextlib.contextmanager
def kv_cache(model: nn.Module):
    """Incremental decoding: while the context is open, each forward of ``model`` continues the
    sequences of the forwards before it. The first call reads the prompt (N x L ids) and keeps every
    attention layer's keys and values; each later call gives only the new tokens (N x 1) and
    attends them to all the tokens before. The caches are dropped when the context closes.

    >>> with kv_cache(model) as state:                      # doctest: +SKIP
    ...     logits = model(prompt)                          # N x L x vocab, keys/values kept
    ...     logits = model(logits[:, -1].argmax(-1, keepdim=True))   # the next token only
    ...     state.length                                    # L + 1
    """
    layers = attention_layers(model)
    if not layers:
        raise UsageError("kv_cache: the model has no attention layer that keeps a cache (gqa, gpt2-attn)")
    if any(m.cache is not None for m in layers):
        raise UsageError("kv_cache: the model is decoding already (one kv_cache at a time)")
    state = DecodeState(layers)
    depth = len(POSITION)

    def before(mod, args):
        POSITION.append(state.length)

    def after(mod, args, out):
        POSITION.pop()
        state.length += args[0].shape[1]

    hooks = [model.register_forward_pre_hook(before), model.register_forward_hook(after)]
    for m in layers:
        m.cache = True
    try:
        yield state
    finally:
        for h in hooks:
            h.remove()
        del POSITION[depth:]
        for m in layers:
            m.cache = None


class TokenEmbedding(nn.Embedding):
    """Token ids (N, L) -> (N, L, D)."""

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, 0.0, 0.02)


class LearnedPositions(nn.Embedding):
    """GPT-2's learned position embedding (``wpe``): tokens (N, L, D) + weight[:L]."""

    def forward(self, x: Tensor) -> Tensor:
        start = POSITION[-1]
        end = start + x.shape[1]
        if end > self.weight.shape[0]:
            raise ValueError(f"learned-pos({self.weight.shape[0]}): position {end - 1} is past the table "
                             f"(the model reads at most {self.weight.shape[0]} tokens)")
        return x + self.weight[start:end]

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, 0.0, 0.02)


def rope_inv_freq(head_dim: int, theta: float, scaling: dict | None = None) -> Tensor:
    """The rotary frequencies, with Llama 3's scaling (``rope_type: llama3``) when given:
    wavelengths above ``original_max / low_freq_factor`` divided by ``factor``, those below
    ``original_max / high_freq_factor`` kept, the band between interpolated (transformers' rule)."""
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    if not scaling:
        return inv
    factor, low, high, old = (scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"],
                              scaling["original_max"])
    low_wavelen, high_wavelen = old / low, old / high
    wavelen = 2 * math.pi / inv
    scaled = torch.where(wavelen > low_wavelen, inv / factor, inv)
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
    return torch.where(medium, smoothed, scaled)


def rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """x (N, heads, L, hd) rotated by position: x·cos + rotate_half(x)·sin."""
    h = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., h:], x[..., :h]), dim=-1) * sin


def rope_tables(inv_freq: Tensor, positions: Tensor, dtype) -> tuple[Tensor, Tensor]:
    freqs = positions.float()[..., None] * inv_freq.to(positions.device)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def apply_rope(x: Tensor, head_dim: int, theta: float, scaling: dict | None = None) -> Tensor:
    """The ``rope`` kind: tokens (N, L, D) rotated head by head (D = heads x head_dim)."""
    n, length, d = x.shape
    h = x.view(n, length, d // head_dim, head_dim).transpose(1, 2)
    cos, sin = rope_tables(rope_inv_freq(head_dim, theta, scaling), _positions(x, POSITION[-1]), x.dtype)
    return rotate(h, cos, sin).transpose(1, 2).reshape(n, length, d)


def _positions(x: Tensor, offset: int = 0) -> Tensor:
    return torch.arange(offset, offset + x.shape[1], device=x.device)


def _attention(q: Tensor, k: Tensor, v: Tensor, groups: int, past: int = 0) -> Tensor:
    """Causal SDPA over (N, heads, L, hd); key/value heads repeated for grouped-query attention;
    the padding mask (MASK), when one is set, joined to the causal one."""
    gqa = groups > 1
    mask = MASK[-1]
    lq, lk = q.shape[2], k.shape[2]
    if mask is None and past == 0:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
    if mask is None and lq == 1:          # one new token: it sees every key
        return F.scaled_dot_product_attention(q, k, v, enable_gqa=gqa)
    causal = torch.ones(lq, lk, dtype=torch.bool, device=q.device).tril(diagonal=lk - lq)
    allowed = causal[None, None]
    if mask is not None:
        allowed = allowed & mask[:, None, None, -lk:].to(torch.bool)
        # a padded query row that sees no key at all attends to itself (its output is unused)
        diag = torch.ones(lq, lk, dtype=torch.bool, device=q.device).tril(lk - lq).triu(lk - lq)
        allowed = allowed | (~allowed.any(-1, keepdim=True) & diag)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, enable_gqa=gqa)


class CausalSelfAttention(nn.Module):
    """Llama's, Mistral's, Qwen 2's and Mixtral's self-attention: grouped-query heads and RoPE."""

    def __init__(self, dim: int, heads: int, kv_heads: int, head_dim: int, bias: bool = False,
                 out_bias: bool = False, rope: bool = True, theta: float = 10000.0, scaling: dict | None = None,
                 device=None):
        super().__init__()
        self.dim, self.heads, self.kv_heads, self.head_dim = dim, heads, kv_heads, head_dim
        self.rope, self.theta, self.scaling = rope, theta, scaling
        self.q_proj = nn.Linear(dim, heads * head_dim, bias=bias, device=device)
        self.k_proj = nn.Linear(dim, kv_heads * head_dim, bias=bias, device=device)
        self.v_proj = nn.Linear(dim, kv_heads * head_dim, bias=bias, device=device)
        self.o_proj = nn.Linear(heads * head_dim, dim, bias=out_bias, device=device)
        self.cache = None          # (k, v) of the tokens seen so far, while decoding (kv_cache, netc.generate)
        self._inv_freq = None      # RoPE's frequencies, computed once (not state: no buffer on the meta device)

    def reset_parameters(self) -> None:
        for m in (self.q_proj, self.k_proj, self.v_proj, self.o_proj):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        n, length, _ = x.shape
        q = self.q_proj(x).view(n, length, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(n, length, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(n, length, self.kv_heads, self.head_dim).transpose(1, 2)
        past = 0 if self.cache is None or self.cache is True else self.cache[0].shape[2]
        if self.rope:
            inv = self._inv_freq
            if inv is None:
                inv = self._inv_freq = rope_inv_freq(self.head_dim, self.theta, self.scaling)
            cos, sin = rope_tables(inv, _positions(x, past), q.dtype)
            q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        if self.cache is not None:
            if self.cache is not True:
                k = torch.cat((self.cache[0], k), dim=2)
                v = torch.cat((self.cache[1], v), dim=2)
            self.cache = (k, v)
        y = _attention(q, k, v, self.heads // self.kv_heads, past)
        return self.o_proj(y.transpose(1, 2).reshape(n, length, self.heads * self.head_dim))

    def netc_macs(self, inp: Tensor, out: Tensor) -> int:
        length = inp.shape[1]
        return 2 * length * length * self.heads * self.head_dim     # QK^T and AV (the projections hook)


class Conv1D(nn.Module):
    """GPT-2's ``Conv1D``: a linear layer whose weight is stored in x out."""

    def __init__(self, nx: int, nf: int, device=None):
        super().__init__()
        self.nx, self.nf = nx, nf
        self.weight = nn.Parameter(torch.empty(nx, nf, device=device))
        self.bias = nn.Parameter(torch.empty(nf, device=device))

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, 0.0, 0.02)
        nn.init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return torch.addmm(self.bias, x.reshape(-1, self.nx), self.weight).view(*x.shape[:-1], self.nf)

    def netc_macs(self, inp: Tensor, out: Tensor) -> int:
        return out.numel() // out.shape[0] * self.nx


class GPT2Attention(nn.Module):
    """GPT-2's causal self-attention: ``c_attn`` (D -> 3D) and ``c_proj``, Conv1D layout."""

    def __init__(self, dim: int, heads: int, device=None):
        super().__init__()
        self.dim, self.heads = dim, heads
        self.c_attn = Conv1D(dim, 3 * dim, device=device)
        self.c_proj = Conv1D(dim, dim, device=device)
        self.cache = None

    def reset_parameters(self) -> None:
        self.c_attn.reset_parameters()
        self.c_proj.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        n, length, d = x.shape
        hd = d // self.heads
        q, k, v = (t.view(n, length, self.heads, hd).transpose(1, 2) for t in self.c_attn(x).split(d, dim=2))
        past = 0 if self.cache is None or self.cache is True else self.cache[0].shape[2]
        if self.cache is not None:
            if self.cache is not True:
                k = torch.cat((self.cache[0], k), dim=2)
                v = torch.cat((self.cache[1], v), dim=2)
            self.cache = (k, v)
        y = _attention(q, k, v, 1, past)
        return self.c_proj(y.transpose(1, 2).reshape(n, length, d))

    def netc_macs(self, inp: Tensor, out: Tensor) -> int:
        length = inp.shape[1]
        return 2 * length * length * self.dim


class GPT2MLP(nn.Module):
    """GPT-2's MLP: ``c_fc`` (D -> F), GELU (tanh approximation), ``c_proj`` (F -> D)."""

    def __init__(self, dim: int, hidden: int, device=None):
        super().__init__()
        self.c_fc = Conv1D(dim, hidden, device=device)
        self.c_proj = Conv1D(hidden, dim, device=device)

    def reset_parameters(self) -> None:
        self.c_fc.reset_parameters()
        self.c_proj.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class GatedMLP(nn.Module):
    """SwiGLU (Shazeer 2020; Llama): ``down_proj(act(gate_proj(x)) * up_proj(x))``."""

    def __init__(self, dim: int, hidden: int, act: str = "silu", bias: bool = False, device=None):
        super().__init__()
        self.act = act
        self.gate_proj = nn.Linear(dim, hidden, bias=bias, device=device)
        self.up_proj = nn.Linear(dim, hidden, bias=bias, device=device)
        self.down_proj = nn.Linear(hidden, dim, bias=bias, device=device)

    def reset_parameters(self) -> None:
        for m in (self.gate_proj, self.up_proj, self.down_proj):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(_ACTS[self.act](self.gate_proj(x)) * self.up_proj(x))


_ACTS = {"silu": F.silu, "gelu": F.gelu, "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"), "relu": F.relu}


class Router(nn.Module):
    def __init__(self, dim: int, experts: int, device=None):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(experts, dim, device=device))


class Experts(nn.Module):
    def __init__(self, dim: int, hidden: int, experts: int, device=None):
        super().__init__()
        self.gate_up_proj = nn.Parameter(torch.empty(experts, 2 * hidden, dim, device=device))
        self.down_proj = nn.Parameter(torch.empty(experts, dim, hidden, device=device))


class MoE(nn.Module):
    """Mixtral's sparse mixture of experts (router, top-k, SwiGLU experts)."""

    def __init__(self, dim: int, hidden: int, experts: int, top_k: int, act: str = "silu", device=None):
        super().__init__()
        self.dim, self.hidden, self.n_experts, self.top_k, self.act = dim, hidden, experts, top_k, act
        self.gate = Router(dim, experts, device=device)
        self.experts = Experts(dim, hidden, experts, device=device)

    def reset_parameters(self) -> None:
        for p in (self.gate.weight, self.experts.gate_up_proj, self.experts.down_proj):
            nn.init.normal_(p, 0.0, 0.02)

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        h = x.reshape(-1, self.dim)
        probs = F.softmax(F.linear(h, self.gate.weight).float(), dim=-1)
        top, idx = torch.topk(probs, self.top_k, dim=-1)
        top = (top / top.sum(dim=-1, keepdim=True)).to(h.dtype)
        out = torch.zeros_like(h)
        for e in range(self.n_experts):
            tok, slot = torch.where(idx == e)
            if tok.numel() == 0:
                continue
            gate, up = F.linear(h[tok], self.experts.gate_up_proj[e]).chunk(2, dim=-1)
            y = F.linear(_ACTS[self.act](gate) * up, self.experts.down_proj[e])
            out.index_add_(0, tok, y * top[tok, slot, None])
        return out.view(shape)

    def netc_macs(self, inp: Tensor, out: Tensor) -> int:
        tokens = inp.numel() // inp.shape[0] // self.dim
        return tokens * (self.dim * self.n_experts + self.top_k * 3 * self.dim * self.hidden)


def tied_head(x: Tensor, weight: Tensor) -> Tensor:
    """The output head that reuses the token embedding (tied embeddings): x @ E^T."""
    return F.linear(x, weight)

