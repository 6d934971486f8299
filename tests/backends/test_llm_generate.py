"""Incremental decoding with a key/value cache, against transformers as the oracle: for each family
(Llama, Llama with tied embeddings and Llama 3's RoPE scaling, Mistral, Qwen 2, Mixtral, GPT-2) at
the tiny configs of test_llm_hf, after netc.load_weights, netc.generate's greedy tokens equal
transformers' generate(do_sample=False), its logits at each step equal transformers' and netc's own
uncached full forward (relative 1e-4). No hub access; nothing is timed here (bench/bench_llm.py)."""
from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import netc  # noqa: E402
from netc.backends.torch.llm import kv_cache  # noqa: E402
from test_llm_hf import _configs, _pair, _rel  # noqa: E402

FAMILIES = list(_configs())


def _prompt(n=2, length=8, seed=3):
    return torch.randint(0, 256, (n, length), generator=torch.Generator().manual_seed(seed))


def _hf_generate(hf, ids, new=20, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new, do_sample=False,
                           output_logits=True, return_dict_in_generate=True, **kw)


@pytest.mark.parametrize("label", FAMILIES)
def test_greedy_tokens_and_logits_equal_transformers(label, tmp_path):
    hf, m = _pair(label, tmp_path)
    ids = _prompt()
    r = _hf_generate(hf, ids)
    gc = hf.generation_config
    out, logits = netc.generate(m, ids, max_new_tokens=20, eos_token_id=gc.eos_token_id,
                                pad_token_id=gc.pad_token_id, output_logits=True)
    assert out.shape == r.sequences.shape == (2, 28)
    assert torch.equal(out, r.sequences)
    assert _rel(torch.stack(r.logits, dim=1), logits) < 1e-4


@pytest.mark.parametrize("label", FAMILIES)
def test_cached_logits_equal_the_full_forward(label, tmp_path):
    _, m = _pair(label, tmp_path)
    ids = _prompt(seed=4)
    out, logits = netc.generate(m, ids, 20, output_logits=True)
    assert out.shape == (2, 28) and logits.shape == (2, 20, 256)
    with torch.no_grad():
        for i in range(20):
            full = m(out[:, :8 + i])[:, -1]        # no cache: the whole sequence so far
            assert _rel(full, logits[:, i]) < 1e-4, i
    slow, slow_logits = netc.generate(m, ids, 20, use_cache=False, output_logits=True)
    assert torch.equal(slow, out) and _rel(slow_logits, logits) < 1e-4


@pytest.mark.parametrize("label", ["llama-tied-scaled", "gpt2"])
def test_the_cache_takes_chunks_of_several_tokens(label, tmp_path):
    # the prompt in three pieces (5, 4 and 1 tokens): a causal mask that is offset by the past
    _, m = _pair(label, tmp_path)
    ids = _prompt(n=3, length=10, seed=5)
    with torch.no_grad():
        full = m(ids)
        with kv_cache(m) as state:
            parts = [m(ids[:, :5]), m(ids[:, 5:9]), m(ids[:, 9:])]
            assert state.length == 10
        assert all(a.cache is None for a in netc.backends.torch.llm.attention_layers(m))
    assert _rel(full, torch.cat(parts, dim=1)) < 1e-4


@pytest.mark.parametrize("label", ["llama", "gpt2"])
def test_a_row_that_ends_stops_as_transformers_does(label, tmp_path):
    hf, m = _pair(label, tmp_path)
    ids = _prompt(seed=6)
    free = netc.generate(m, ids, 20)
    eos = int(free[0, 8 + 4])                 # row 0's fifth new token ends it
    r = _hf_generate(hf, ids, eos_token_id=eos, pad_token_id=0)
    out = netc.generate(m, ids, 20, eos_token_id=eos, pad_token_id=0)
    assert torch.equal(out, r.sequences)
    assert (out[0, 8 + 5:] == 0).all() or eos in out[1, 8:].tolist()


def test_a_one_dimensional_prompt_and_no_new_tokens(tmp_path):
    _, m = _pair("qwen2", tmp_path)
    ids = _prompt()[0]
    out = netc.generate(m, ids, 5)
    assert out.shape == (13,) and torch.equal(out, netc.generate(m, ids[None], 5)[0])
    assert torch.equal(netc.generate(m, ids, 0), ids)


def test_generate_refuses_what_it_cannot_decode(tmp_path):
    _, m = _pair("gpt2", tmp_path)
    with pytest.raises(netc.UsageError, match="position table"):
        netc.generate(m, _prompt(length=120), 20)          # GPT-2's 128 learned positions
    with pytest.raises(netc.UsageError, match="token ids"):
        netc.generate(m, torch.zeros(2, 4), 3)
    with pytest.raises(netc.UsageError, match="max_new_tokens"):
        netc.generate(m, _prompt(), -1)
    with pytest.raises(netc.UsageError, match="not a language model"):
        netc.generate(netc.compile(netc.loads("input 8x8 RGB\nconv3-4\ngap\nFC-2\n")), _prompt(), 3)
    with kv_cache(m):
        with pytest.raises(netc.UsageError, match="decoding already"):
            netc.generate(m, _prompt(), 3)
