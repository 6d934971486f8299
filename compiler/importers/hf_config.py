"""A Hugging Face ``config.json`` (model_type llama, mistral, qwen2, mixtral, gpt2) -> a ``.net`` spec:
the decoder layer as a block, the config's numbers as variables, module names as transformers'
(so ``netc.load_weights(netc.compile(spec), hf_model)`` loads the model's weights by name).

Only that file is read, as JSON (at most 1 MB); nothing is executed and nothing is downloaded.

>>> text = from_config_text('{"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4, '
...                         '"n_positions": 128, "vocab_size": 256}')
>>> import netc
>>> netc.loads(text).params
108288
"""
from __future__ import annotations

import json
import math
import os

from netc.dsl.errors import UsageError

MAX_BYTES = 1_000_000
FAMILIES = ("llama", "mistral", "qwen2", "mixtral", "gpt2")


def from_config(path: str) -> str:
    """The spec text of a transformers ``config.json``."""
    size = os.path.getsize(path)
    if size > MAX_BYTES:
        raise UsageError(f"{path}: {size:,} bytes; a config.json is a few kilobytes (at most {MAX_BYTES:,} read)")
    with open(path, "rb") as f:
        data = f.read(MAX_BYTES + 1)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None
    return from_config_text(text, os.path.basename(path))


def from_config_text(text: str, name: str = "config.json") -> str:
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"{name}:{e.lineno}:{e.colno}: not JSON: {e.msg}") from None
    if not isinstance(cfg, dict):
        raise UsageError(f"{name}: a config.json is a JSON object, not {type(cfg).__name__}")
    mt = cfg.get("model_type")
    if mt not in FAMILIES:
        raise UsageError(f"{name}: model_type {mt!r} is not one netc imports",
                         hint=f"netc imports the model types {', '.join(FAMILIES)}")
    return _gpt2(cfg, name) if mt == "gpt2" else _llama_like(cfg, name, mt)


def _int(cfg: dict, key: str, name: str, default=None) -> int:
    v = cfg.get(key)
    if v is None:
        v = default
    if v is None:
        raise UsageError(f"{name}: '{key}' is missing")
    if isinstance(v, bool) or not isinstance(v, int) or v < 1 or v > 10 ** 12:
        raise UsageError(f"{name}: '{key}' must be a whole number from 1 to 10^12, not {v!r}")
    return v


def _float(cfg: dict, key: str, name: str, default: float) -> float:
    v = cfg.get(key, default)
    if v is None:
        v = default
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise UsageError(f"{name}: '{key}' must be a positive number, not {v!r}")
    return float(v)


def _num(x: float) -> str:
    from netc.kinds.base import num
    return num(x)


def _rope(cfg: dict, name: str) -> tuple[float, dict | None]:
    """θ and Llama 3's scaling, from transformers 5's ``rope_parameters`` or the older
    ``rope_theta`` and ``rope_scaling``."""
    params = cfg.get("rope_parameters") if isinstance(cfg.get("rope_parameters"), dict) else {}
    scaling = cfg.get("rope_scaling") if isinstance(cfg.get("rope_scaling"), dict) else {}
    merged = {**scaling, **params}
    theta = _float({"rope_theta": merged.get("rope_theta", cfg.get("rope_theta"))}, "rope_theta", name, 10000.0)
    kind = merged.get("rope_type", merged.get("type", "default"))
    if kind in (None, "default"):
        return theta, None
    if kind != "llama3":
        raise UsageError(f"{name}: RoPE scaling {kind!r} is not one netc models",
                         hint="netc models the default rotary embedding and Llama 3's ('llama3')")
    return theta, {"factor": _float(merged, "factor", name, 8.0),
                   "low_freq_factor": _float(merged, "low_freq_factor", name, 1.0),
                   "high_freq_factor": _float(merged, "high_freq_factor", name, 4.0),
                   "original_max": _int(merged, "original_max_position_embeddings", name, 8192)}


def _llama_like(cfg: dict, name: str, mt: str) -> str:
    vocab = _int(cfg, "vocab_size", name)
    hidden = _int(cfg, "hidden_size", name)
    layers = _int(cfg, "num_hidden_layers", name)
    heads = _int(cfg, "num_attention_heads", name)
    kv = _int(cfg, "num_key_value_heads", name, heads)
    head_dim = _int(cfg, "head_dim", name, hidden // heads if hidden % heads == 0 else None)
    ffn = _int(cfg, "intermediate_size", name)
    eps = _float(cfg, "rms_norm_eps", name, 1e-6)
    act = cfg.get("hidden_act", "silu")
    if act not in ("silu", "gelu", "relu", "gelu_pytorch_tanh"):
        raise UsageError(f"{name}: hidden_act {act!r} is not one netc models", hint="silu, gelu, relu")
    act = {"gelu_pytorch_tanh": "gelu_tanh"}.get(act, act)
    theta, scaling = _rope(cfg, name)
    tied = bool(cfg.get("tie_word_embeddings", False))
    qkv_bias = mt == "qwen2" or bool(cfg.get("attention_bias", False))
    out_bias = mt != "qwen2" and bool(cfg.get("attention_bias", False))
    mlp_bias = bool(cfg.get("mlp_bias", False))
    notes = []
    if cfg.get("sliding_window") and mt in ("mistral", "mixtral", "qwen2") and cfg.get("use_sliding_window", True):
        notes.append(f"sliding_window {cfg['sliding_window']} is not modelled: equal within that many tokens")
    lines = [f"# {name}: imported by netc import from a Hugging Face config.json (model_type {mt}).",
             "# The decoder layer is a block; the config's numbers are the variables. Module names are",
             "# transformers' (without the 'model.' prefix): netc.load_weights(model, hf_model) loads by name."]
    lines += [f"# Note: {n}" for n in notes]
    lines += ["", "input tokens L", f"var vocab = {vocab}", f"var hidden = {hidden}", f"var layers = {layers}",
              f"var heads = {heads}", f"var kv_heads = {kv}", f"var head_dim = {head_dim}",
              f"var ffn = {ffn}", f"var norm_eps = {_num(eps)}", f"var rope_theta = {_num(theta)}"]
    if mt == "mixtral":
        lines += [f"var experts = {_int(cfg, 'num_local_experts', name)}",
                  f"var top_k = {_int(cfg, 'num_experts_per_tok', name)}"]
    attn = ["heads", "kv_heads", "head_dim"] + (["bias=true"] if qkv_bias else []) + \
        (["out_bias=true"] if out_bias else []) + ["theta=rope_theta"]
    if scaling:
        attn += [f"factor={_num(scaling['factor'])}", f"low_freq_factor={_num(scaling['low_freq_factor'])}",
                 f"high_freq_factor={_num(scaling['high_freq_factor'])}", f"original_max={scaling['original_max']}"]
    if mt == "mixtral":
        mlp = "moe(experts, top_k, ffn" + (f", act={act}" if act != "silu" else "") + ")"
    else:
        extra = ([f"act={act}"] if act != "silu" else []) + (["bias=true"] if mlp_bias else [])
        mlp = "swiglu(" + ", ".join(["ffn", *extra]) + ")"
    lines += ["", "block decoder_layer() {", "    residual {",
              "        rmsnorm(eps=norm_eps) as input_layernorm",
              f"        gqa({', '.join(attn)}) as self_attn", "    }", "    residual {",
              "        rmsnorm(eps=norm_eps) as post_attention_layernorm", f"        {mlp} as mlp", "    }", "}", "",
              "block decoder(n) {", "    decoder_layer() x n", "}", "",
              "embed(vocab, hidden) as embed_tokens", "decoder(layers) as layers", "rmsnorm(eps=norm_eps) as norm",
              f"lm-head(vocab{', tied' if tied else ''}) as lm_head", ""]
    return "\n".join(lines)


def _gpt2(cfg: dict, name: str) -> str:
    vocab = _int(cfg, "vocab_size", name)
    d = _int(cfg, "n_embd", name)
    layers = _int(cfg, "n_layer", name)
    heads = _int(cfg, "n_head", name)
    ctx = _int(cfg, "n_positions", name)
    inner = _int(cfg, "n_inner", name, 4 * d) if cfg.get("n_inner") is not None else 4 * d
    eps = _float(cfg, "layer_norm_epsilon", name, 1e-5)
    act = cfg.get("activation_function", "gelu_new")
    if act not in ("gelu_new", "gelu_pytorch_tanh"):
        raise UsageError(f"{name}: activation_function {act!r}: netc's gpt2-mlp is GELU's tanh approximation",
                         hint="gelu_new (GPT-2's own)")
    for flag in ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn", "add_cross_attention"):
        if cfg.get(flag):
            raise UsageError(f"{name}: {flag} is not modelled by netc's GPT-2 layers")
    if cfg.get("scale_attn_weights") is False:
        raise UsageError(f"{name}: scale_attn_weights false is not modelled (netc scales by 1/sqrt(head size))")
    tied = bool(cfg.get("tie_word_embeddings", True))
    lines = [f"# {name}: imported by netc import from a Hugging Face config.json (model_type gpt2).",
             "# The decoder layer is a block; the config's numbers are the variables. Module names are",
             "# transformers' (without the 'transformer.' prefix): netc.load_weights(model, hf_model) loads by name.",
             "", "input tokens L", f"var vocab = {vocab}", f"var hidden = {d}", f"var layers = {layers}",
             f"var heads = {heads}", f"var ffn = {inner}", f"var context = {ctx}", f"var eps = {_num(eps)}", "",
             "block gpt2_block() {", "    residual {", "        ln(eps=eps) as ln_1", "        gpt2-attn(heads) as attn",
             "    }", "    residual {", "        ln(eps=eps) as ln_2", "        gpt2-mlp(ffn) as mlp", "    }", "}", "",
             "block gpt2_stack(n) {", "    gpt2_block() x n", "}", "",
             "embed(vocab, hidden) as wte", "learned-pos(context) as wpe", "gpt2_stack(layers) as h",
             "ln(eps=eps) as ln_f", f"lm-head(vocab{', tied' if tied else ''}) as lm_head", ""]
    return "\n".join(lines)


__all__ = ["from_config", "from_config_text", "FAMILIES"]
