"""Greedy decoding of a compiled language model, with a key/value cache.

:func:`generate` reads the prompt once (every attention layer keeps its keys and values,
:func:`netc.backends.torch.llm.kv_cache`), then feeds one token at a time: the arg-max of the
last position's logits, as transformers' ``model.generate(ids, do_sample=False)`` does, stopping
rows that produced ``eos_token_id`` the same way (later tokens are ``pad_token_id``, and the loop
ends when every row has stopped).
"""
from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn

from netc.dsl.errors import UsageError
from netc.backends.torch.llm import LearnedPositions, attention_layers, kv_cache


def generate(model: nn.Module, ids, max_new_tokens: int = 20, *, eos_token_id=None, pad_token_id=None,
             use_cache: bool = True, output_logits: bool = False):
    """Greedy decoding: ``ids`` (N x L token ids, or L) followed by up to ``max_new_tokens`` tokens,
    each the arg-max of the model's logits at the last position.

    The prompt is read once and then one token per step, attending to the cached keys and values
    (``use_cache=False`` runs the whole sequence every step instead: the same tokens, slower).
    ``eos_token_id`` (an id or a list of ids): a row that produces one stops, and its later tokens
    are ``pad_token_id`` (default: the first ``eos_token_id``); decoding ends when every row has
    stopped. Returns the ids, N x (L + new) (or L + new for a 1-D prompt), and with
    ``output_logits=True`` also the logits of each step, N x new x vocab. The model runs under
    ``torch.no_grad()`` in the mode it is in (call ``model.eval()`` first, as for transformers).
    """
    if not isinstance(max_new_tokens, int) or isinstance(max_new_tokens, bool) or max_new_tokens < 0:
        raise UsageError(f"generate: max_new_tokens must be a whole number >= 0, not {max_new_tokens!r}")
    if not attention_layers(model):
        raise UsageError("generate: the model has no causal attention layer (gqa, gpt2-attn): not a "
                         "language model")
    ids = torch.as_tensor(ids)
    flat = ids.dim() == 1
    if flat:
        ids = ids[None]
    if ids.dim() != 2 or ids.shape[1] == 0 or ids.dtype in (torch.float16, torch.float32, torch.float64,
                                                              torch.bfloat16, torch.bool):
        raise UsageError(f"generate: ids must be token ids, N x L (L >= 1) integers, not "
                         f"{tuple(ids.shape)} {ids.dtype}")
    table = min((m.weight.shape[0] for m in model.modules() if isinstance(m, LearnedPositions)), default=None)
    if table is not None and ids.shape[1] + max_new_tokens > table:
        raise UsageError(f"generate: {ids.shape[1]} + {max_new_tokens} tokens are more than the model's "
                         f"position table holds ({table})")
    device = next((p.device for p in model.parameters()), ids.device)
    ids = ids.to(device=device, dtype=torch.long)
    eos = None
    if eos_token_id is not None:
        eos = torch.tensor([eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id),
                           dtype=torch.long, device=device)
        pad = int(eos[0]) if pad_token_id is None else int(pad_token_id)
    done = torch.zeros(ids.shape[0], dtype=torch.bool, device=device)
    steps: list[Tensor] = []
    out = ids
    with torch.no_grad(), (kv_cache(model) if use_cache else contextlib.nullcontext()):
        feed = ids
        for _ in range(max_new_tokens):
            logits = model(feed if use_cache else out)[:, -1]
            if output_logits:
                steps.append(logits)
            nxt = logits.argmax(dim=-1)
            if eos is not None:
                nxt = torch.where(done, torch.full_like(nxt, pad), nxt)
                done = done | torch.isin(nxt, eos)
            out = torch.cat((out, nxt[:, None]), dim=1)
            if eos is not None and bool(done.all()):
                break
            feed = nxt[:, None]
    result = out[0] if flat else out
    if not output_logits:
        return result
    vocab = steps[0].shape[-1] if steps else 0
    logits = torch.stack(steps, dim=1) if steps else torch.empty(ids.shape[0], 0, vocab, device=device)
    return result, (logits[0] if flat else logits)


__all__ = ["generate"]
