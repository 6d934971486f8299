"""Language models against Hugging Face transformers on this CPU: the forward of a batch, and greedy
decoding with a key/value cache (netc.generate against transformers' generate(do_sample=False)).

For each family (llama, mistral, qwen2, mixtral, gpt2) a small config built in code (4 layers,
width 256, 8 heads, 4 key/value heads, FFN 688 (gpt2: 1024), vocabulary 2048, no end-of-sequence
token, so both decode every token), transformers' model in its default attention (sdpa), netc's
model compiled from the imported config.json with the same weights (``netc.load_weights``). First
checked equal (logits 1e-4, the same greedy tokens), then timed: interleaved A B / B A rounds,
median; ratio = netc / transformers (below 1: netc faster). By default the clock is the process's
CPU time at one thread (``--clock cpu --threads 1``), as bench_transformers.py: on a shared
machine wall time measures the neighbours.

    .venv/bin/python bench/bench_llm.py [--rounds 11] [--batch 4] [--length 128] [--prompt 16]
        [--new 32] [--threads 1] [--clock cpu|wall] [--families llama,mistral,qwen2,mixtral,gpt2]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import torch

import netc
from netc.importers.hf_config import from_config

SMALL = dict(vocab_size=2048, hidden_size=256, intermediate_size=688, num_hidden_layers=4, num_attention_heads=8,
             num_key_value_heads=4, max_position_embeddings=512, bos_token_id=None, eos_token_id=None,
             pad_token_id=None)


def configs() -> dict:
    from transformers import GPT2Config, LlamaConfig, MistralConfig, MixtralConfig, Qwen2Config
    return {
        "llama": LlamaConfig(**SMALL, rope_theta=500000.0, tie_word_embeddings=False),
        "mistral": MistralConfig(**SMALL, sliding_window=None),
        "qwen2": Qwen2Config(**SMALL, tie_word_embeddings=True),
        "mixtral": MixtralConfig(**SMALL, num_local_experts=4, num_experts_per_tok=2),
        "gpt2": GPT2Config(vocab_size=2048, n_embd=256, n_layer=4, n_head=8, n_positions=512,
                           bos_token_id=None, eos_token_id=None),
    }


def pair(label: str):
    from transformers import AutoModelForCausalLM
    cfg = configs()[label]
    torch.manual_seed(0)
    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as d:
        warnings.simplefilter("ignore")
        hf = AutoModelForCausalLM.from_config(cfg).eval()
        cfg.save_pretrained(d)
        spec = Path(d) / "model.net"
        spec.write_text(from_config(str(Path(d) / "config.json")))
        m = netc.compile(str(spec)).eval()
    netc.load_weights(m, hf)
    return hf, m


def interleaved(a_fn, b_fn, rounds: int, clock) -> tuple[float, float]:
    a, b = [], []
    for _ in range(2):          # warm-up
        a_fn(), b_fn()
    for i in range(rounds):
        order = [(a_fn, a), (b_fn, b)] if i % 2 == 0 else [(b_fn, b), (a_fn, a)]
        for fn, acc in order:
            t = clock()
            fn()
            acc.append(clock() - t)
    return statistics.median(a), statistics.median(b)


def bench(label: str, args, clock) -> tuple[float, float]:
    hf, m = pair(label)
    vocab = hf.config.vocab_size
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, vocab, (args.batch, args.length), generator=g)
    prompt = torch.randint(0, vocab, (args.batch, args.prompt), generator=g)
    ones = torch.ones_like(prompt)

    def hf_generate():
        return hf.generate(prompt, attention_mask=ones, max_new_tokens=args.new, min_new_tokens=args.new,
                           do_sample=False)

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = m(x), hf(x).logits
        diff = float((a - b).abs().max()) / max(1.0, float(b.abs().max()))
        assert diff < 1e-4, f"{label}: logits differ by {diff}"
        ours, theirs = netc.generate(m, prompt, args.new), hf_generate()
        assert ours.shape == theirs.shape and torch.equal(ours, theirs), f"{label}: greedy tokens differ"
        fa, fb = interleaved(lambda: m(x), lambda: hf(x), args.rounds, clock)
        ga, gb = interleaved(lambda: netc.generate(m, prompt, args.new), hf_generate, args.rounds, clock)
    print(f"{label:8s} forward  netc {fa * 1e3:7.1f} ms  transformers {fb * 1e3:7.1f} ms  ratio {fa / fb:.3f}   "
          f"decode  netc {ga * 1e3:7.1f} ms  transformers {gb * 1e3:7.1f} ms  ratio {ga / gb:.3f}", flush=True)
    return fa / fb, ga / gb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--length", type=int, default=128, help="tokens of the forward")
    ap.add_argument("--prompt", type=int, default=16, help="tokens of the decoding prompt")
    ap.add_argument("--new", type=int, default=32, help="tokens decoded")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    ap.add_argument("--families", default="llama,mistral,qwen2,mixtral,gpt2")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    import transformers
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, {torch.get_num_threads()} "
          f"thread(s), {args.rounds} interleaved rounds, median of {args.clock} time; forward: batch "
          f"{args.batch} x {args.length} tokens; decode: batch {args.batch}, prompt {args.prompt}, "
          f"{args.new} new tokens, greedy, with cache")
    for label in args.families.split(","):
        bench(label, args, clock)


if __name__ == "__main__":
    main()
