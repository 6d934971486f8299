"""Language models equal to Hugging Face transformers: for each family (Llama, Llama with tied
embeddings and Llama 3's RoPE scaling, Mistral, Qwen 2, Mixtral, GPT-2), a tiny config built in code
is imported from its config.json (netc import), compiled, loaded with the transformers model's
weights, and compared: parameter counts equal, logits equal (relative 1e-4), also with a padding
mask; at full size on the meta device the counts agree with netc's bundled specs. No hub access."""
from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import netc  # noqa: E402
from netc.backends.torch.llm import with_mask  # noqa: E402
from netc.importers.hf_config import from_config  # noqa: E402

SMALL = dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=128)


def _configs():
    from transformers import GPT2Config, LlamaConfig, MistralConfig, MixtralConfig, Qwen2Config
    return {
        "llama": LlamaConfig(**SMALL, rope_theta=500000.0, tie_word_embeddings=False),
        "llama-tied-scaled": LlamaConfig(**SMALL, tie_word_embeddings=True, rope_scaling={
            "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 64}),
        "mistral": MistralConfig(**SMALL, sliding_window=None),
        "qwen2": Qwen2Config(**SMALL, tie_word_embeddings=True),
        "mixtral": MixtralConfig(**SMALL, num_local_experts=4, num_experts_per_tok=2),
        "gpt2": GPT2Config(vocab_size=256, n_embd=64, n_layer=2, n_head=4, n_positions=128),
    }


def _pair(label, tmp_path):
    from transformers import AutoModelForCausalLM
    cfg = _configs()[label]
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hf = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").eval()
        cfg.save_pretrained(tmp_path)
    spec = tmp_path / "model.net"
    spec.write_text(from_config(str(tmp_path / "config.json")))
    m = netc.compile(str(spec)).eval()
    netc.load_weights(m, hf)
    return hf, m


def _rel(a, b) -> float:
    return float((a - b).abs().max()) / max(1.0, float(a.abs().max()))


@pytest.mark.parametrize("label", list(_configs()))
def test_logits_equal_transformers(label, tmp_path):
    hf, m = _pair(label, tmp_path)
    assert sum(p.numel() for p in m.parameters()) == sum(p.numel() for p in hf.parameters())
    ids = torch.randint(0, 256, (2, 24), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = hf(ids).logits, m(ids)
    assert a.shape == b.shape and _rel(a, b) < 1e-4


@pytest.mark.parametrize("label", list(_configs()))
def test_logits_equal_with_padding_mask(label, tmp_path):
    hf, m = _pair(label, tmp_path)
    ids = torch.randint(0, 256, (3, 16), generator=torch.Generator().manual_seed(2))
    mask = torch.ones(3, 16, dtype=torch.long)
    mask[0, :5] = 0          # left padding
    mask[1, 12:] = 0         # right padding
    with torch.no_grad(), with_mask(mask):
        b = m(ids)
    with torch.no_grad():
        a = hf(ids, attention_mask=mask).logits
    keep = mask.bool()
    assert _rel(a[keep], b[keep]) < 1e-4


def test_import_command_writes_the_spec(tmp_path):
    cfg = _configs()["mixtral"]
    cfg.save_pretrained(tmp_path)
    out = tmp_path / "m.net"
    netc_bin = Path(sys.executable).with_name("netc")
    p = subprocess.run([str(netc_bin), "import", str(tmp_path / "config.json"), "-o", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    text = out.read_text()
    assert "var experts = 4" in text and "block decoder_layer" in text and "moe(experts, top_k, ffn)" in text


def test_import_refuses_other_model_types(tmp_path):
    f = tmp_path / "config.json"
    f.write_text('{"model_type": "bert", "hidden_size": 8}')
    with pytest.raises(netc.NetcError, match="not one netc imports"):
        from_config(str(f))
    f.write_text('{"model_type": "llama", "hidden_size": "big"}')
    with pytest.raises(netc.NetcError):
        from_config(str(f))


@pytest.mark.parametrize("name,cls,kw", [
    ("llama3_8b", "LlamaConfig", dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336,
                                      num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8)),
    ("qwen2_5_0_5b", "Qwen2Config", dict(vocab_size=151936, hidden_size=896, intermediate_size=4864,
                                         num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                                         tie_word_embeddings=True)),
    ("mixtral_8x7b", "MixtralConfig", dict(vocab_size=32000, hidden_size=4096, intermediate_size=14336,
                                           num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                                           num_local_experts=8, num_experts_per_tok=2)),
    ("gpt2_medium", "GPT2Config", dict(n_embd=1024, n_layer=24, n_head=16)),
])
def test_full_size_counts_on_meta(name, cls, kw):
    from transformers import AutoModelForCausalLM
    cfg = getattr(transformers, cls)(**kw)
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hf = AutoModelForCausalLM.from_config(cfg)
    n_hf = sum(p.numel() for p in hf.parameters())
    m = netc.compile(name, device="meta")
    assert netc.load(name).params == n_hf == sum(p.numel() for p in m.parameters())
