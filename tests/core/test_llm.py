"""Language models by name: transformers' parameter counts, the active count of a mixture of
experts, multiply-adds with attention's quadratic part, and token-id input (no torch)."""
from __future__ import annotations

import pytest

import netc
from netc.kinds.llm import active_params, costs

# transformers' counts: sum(p.numel() for p in AutoModelForCausalLM.from_config(cfg).parameters())
COUNTS = {"gpt2": 124_439_808, "gpt2_medium": 354_823_168, "gpt2_large": 774_030_080, "gpt2_xl": 1_557_611_200,
          "llama3_2_1b": 1_235_814_400, "llama3_8b": 8_030_261_248, "llama3_70b": 70_553_706_496,
          "mistral_7b": 7_241_732_096, "qwen2_5_0_5b": 494_032_768, "mixtral_8x7b": 46_702_792_704}


@pytest.mark.parametrize("name", COUNTS)
def test_counts_are_transformers(name):
    assert netc.load(name).params == COUNTS[name]


def test_mixtral_active_parameters():
    # Mixtral's paper: 47B parameters, 13B active (two of eight experts per token)
    ir = netc.load("mixtral_8x7b")
    assert active_params(ir) == 12_879_925_248
    assert active_params(netc.load("llama3_8b")) == COUNTS["llama3_8b"]


def test_costs_split_attention_quadratic_part():
    ir = netc.load("gpt2")
    c = costs(ir, 1024)
    # per token: every weight matrix once (the tied head included, the embeddings not): 12 layers
    # of 12·D² plus the head's D·V
    d, v = 768, 50257
    assert c["per_token_linear"] == 12 * 12 * d * d + d * v
    assert c["attention_quadratic"] == 12 * 2 * 1024 * 1024 * d
    assert c["total"] == c["linear"] + c["attention_quadratic"]
    assert ir.macs is None and ir.params == COUNTS["gpt2"]      # the IR is left at its variable length


def test_token_input_fixed_and_variable():
    ir = netc.loads("input tokens 16\nembed(100, 8)\nrmsnorm\nlm-head(100, tied)\n")
    assert tuple(ir.output_shape) == (16, 100) and ir.params == 808 and ir.macs == 16 * 8 * 100
    ir = netc.loads("input tokens L\nembed(100, 8)\nlm-head(100)\n")
    assert str(ir.output_shape) == "L x 100" and ir.macs is None


def test_token_input_errors_have_spans():
    with pytest.raises(netc.NetcError) as e:
        netc.loads("input tokens 16\nFC-10\n")
    assert "token ids" in str(e.value) and "embed" in (e.value.hint or str(e.value))
    with pytest.raises(netc.NetcError) as e:
        netc.loads("input 32x32 RGB\nembed(10, 4)\n")
    assert "needs token ids" in str(e.value) and "^" in str(e.value)
    with pytest.raises(netc.NetcError) as e:
        netc.loads("input tokens 2048\nembed(10, 8)\nlearned-pos(1024)\n")
    assert "1024 positions" in str(e.value)
    with pytest.raises(netc.NetcError) as e:
        netc.loads("input tokens 8\nembed(10, 8)\ngqa(3, 2, head_dim=4)\n")
    assert "key/value groups" in str(e.value)


def test_fmt_round_trips_token_input():
    from netc.dsl.fmt import format_text
    assert "input tokens L" in format_text("input tokens L\nembed(10, 4)\n")


def test_llama_70b_is_checked_without_allocating():
    assert netc.check_configs is not None
    ir = netc.load("llama3_70b")
    assert ir.ok and ir.params == COUNTS["llama3_70b"]
