"""A language model's multiply-adds, against the rule every LLM paper uses: a token costs one
multiply-add per weight of its matrix products (every parameter but the embeddings and the norms'
scales), and attention adds 2 x L^2 x d_attn per layer for a context of L tokens (QK^T and AV)."""
from __future__ import annotations

import json

import netc
from netc.kinds.llm import context_costs
from netc.passes import infer

from conftest import run_cli


def test_llama3_8b_per_token_and_for_a_context_of_8192():
    ir = netc.load("llama3_8b")
    per_token = ir.params - 128_256 * 4096 - (2 * 32 + 1) * 4096          # less the embedding and the RMSNorms
    assert context_costs(ir) == {"context": None, "total": None, "attention_quadratic": None, "per_token": per_token}
    infer(ir, (8192, 1))
    c = context_costs(ir)
    assert c["attention_quadratic"] == 32 * 2 * 8192 ** 2 * 4096 == 17_592_186_044_416
    assert c["total"] == 8192 * per_token + c["attention_quadratic"] and c["per_token"] == per_token


def test_gpt2_ties_its_head_and_counts_the_head_once():
    ir = netc.load("gpt2")
    infer(ir, (1024, 1))
    c = context_costs(ir)
    # the tied head is a matrix product of 768 x 50,257 per token though it adds no parameter
    assert c["per_token"] == 12 * (4 * 768 * 768 + 2 * 4 * 768 * 768) + 768 * 50_257
    assert c["attention_quadratic"] == 12 * 2 * 1024 ** 2 * 768


def test_summary_and_list_show_them():
    p = run_cli("summary", "llama3_8b", "--input", "8192")
    assert p.returncode == 0 and "7.50G per token; for a context of 8,192 tokens 79.07T, of which attention's " \
        "quadratic part 17.59T" in p.stdout
    doc = json.loads(run_cli("summary", "gpt2", "--input", "1024", "--json").stdout)
    assert doc["tokens"]["context"] == 1024 and doc["tokens"]["total"] == doc["macs"]
    listed = {r["name"]: r for r in json.loads(run_cli("list", "llama*", "--json").stdout)}
    assert listed["llama3_70b"]["macs_per_token"] == context_costs(netc.load("llama3_70b"))["per_token"]
    assert run_cli("summary", "gpt2", "--input", "12x12").returncode == 2
