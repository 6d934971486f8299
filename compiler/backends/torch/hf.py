"""Weights from Hugging Face transformers' causal language models (Llama, Mistral, Qwen 2, Mixtral,
GPT-2), matched by name.

netc's language-model specs name their layers as transformers does (``embed_tokens``,
``self_attn.q_proj``, ``mlp.gate_proj``, ``attn.c_attn``, ...), so a key maps by one rule: both
sides' keys lose their model prefix (``model.``, ``transformer.``), and a repeated block
instance (``layers.decoder_3``, ``h.block_1``) is the index transformers counts from 0
(``layers.2``, ``h.0``). A tied output head has no tensor of its own in netc; transformers lists
``lm_head.weight`` as well (the same tensor), which is skipped. Mixtral's experts in
transformers' older layout (``experts.0.w1``, ``w2``, ``w3``) are packed into the newer one
(``experts.gate_up_proj``, ``experts.down_proj``) that netc keeps.

>>> import netc, torch
>>> from transformers import LlamaConfig, LlamaForCausalLM          # doctest: +SKIP
"""
from __future__ import annotations

import re
from typing import Mapping

import torch
from torch import nn

_PREFIXES = ("model.", "transformer.")
_INSTANCE = re.compile(r"(^|\.)(layers|h)\.[A-Za-z_][A-Za-z0-9_]*?_(\d+)(?=\.)")
_HF_SIGNS = ("model.layers.", "model.embed_tokens.", "transformer.h.", "transformer.wte.", "lm_head.")


def is_hf(source) -> bool:
    """A transformers model, or a state_dict with transformers' names."""
    if isinstance(source, nn.Module):
        return getattr(getattr(source, "config", None), "model_type", None) is not None
    if isinstance(source, Mapping):
        return any(isinstance(k, str) and k.startswith(_HF_SIGNS) for k in source)
    return False


def canonical(key: str) -> str:
    """``model.layers.0.mlp.up_proj.weight`` and ``layers.decoder_1.mlp.up_proj.weight`` alike ->
    ``layers.0.mlp.up_proj.weight``."""
    for p in _PREFIXES:
        if key.startswith(p):
            key = key[len(p):]
            break
    return _INSTANCE.sub(lambda m: f"{m.group(1)}{m.group(2)}.{int(m.group(3)) - 1}", key)


def _pack_experts(src: dict) -> dict:
    """transformers' older Mixtral layout (one module per expert) -> stacked tensors."""
    pat = re.compile(r"^(.*)\.block_sparse_moe\.experts\.(\d+)\.(w[123])\.weight$")
    found: dict = {}
    for k in list(src):
        m = pat.match(k)
        if m:
            found.setdefault(m.group(1), {}).setdefault(int(m.group(2)), {})[m.group(3)] = src.pop(k)
    for layer, experts in found.items():
        order = sorted(experts)
        src[f"{layer}.mlp.experts.gate_up_proj"] = torch.stack(
            [torch.cat((experts[e]["w1"], experts[e]["w3"]), 0) for e in order])
        src[f"{layer}.mlp.experts.down_proj"] = torch.stack([experts[e]["w2"] for e in order])
    for k in [k for k in src if ".block_sparse_moe.gate." in k]:
        src[k.replace(".block_sparse_moe.gate.", ".mlp.gate.")] = src.pop(k)
    return src


def load_hf(model: nn.Module, source, strict: bool = True) -> nn.Module:
    """Copy a transformers model's weights (or its state_dict) into a compiled netc language model."""
    from netc.backends.torch.weights import WeightsError, _where, _shape
    sd = source.state_dict() if isinstance(source, nn.Module) else source
    src = _pack_experts({k: v for k, v in sd.items() if isinstance(v, torch.Tensor)})
    by_name = {canonical(k): k for k in src}
    dst = model.state_dict()
    used, missing = set(), []
    with torch.no_grad():
        for k, t in dst.items():
            hk = by_name.get(canonical(k))
            if hk is None:
                missing.append(k)
                continue
            v = src[hk]
            if tuple(v.shape) != tuple(t.shape):
                raise WeightsError(f"{_where(model, k)}: {k} is {_shape(t)} here, but {hk} is {_shape(v)} in "
                                   f"the transformers model", None,
                                   hint="compile the spec from the same config (netc import config.json)")
            t.copy_(v)
            used.add(hk)
    tied = getattr(getattr(source, "config", None), "tie_word_embeddings", None)
    extra = [k for k in src if k not in used and not (k == "lm_head.weight" and "lm_head.weight" not in dst
                                                      and tied is not False)
             and not k.endswith(("rotary_emb.inv_freq", "attn.bias", "attn.masked_bias"))]
    if strict and (missing or extra):
        what = (f"netc's {missing[0]} has no tensor in the transformers model" if missing else
                f"the transformers model's {extra[0]} has no place in netc's")
        raise WeightsError(f"load_weights: {what} ({len(missing)} missing, {len(extra)} left over)", None,
                           hint="compile the spec from the same config (netc import config.json)")
    return model


__all__ = ["is_hf", "canonical", "load_hf"]
