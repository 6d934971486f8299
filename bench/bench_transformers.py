"""Forward time of the compiled vit_b_16 and swin_t against hand-written references with the same
weights (tests/references/transformers.py: torchvision's module layout and forward; proven equal in
tests/backends/test_transformers.py and tests/backends/test_reference_transformers.py).

CPU, eval, ``no_grad``, batch 2 at 224x224, interleaved A B / B A rounds in one run, median; ratio =
compiled / reference (the target is at most 1.02). By default the clock is the process's CPU time
at one thread (``--clock cpu --threads 1``): on a machine shared with other jobs, wall time measures
the neighbours, while the CPU time of a one-thread forward is its own work. ``--clock wall`` times
wall-clock instead (for a quiet machine).

    .venv/bin/python bench/bench_transformers.py [--rounds 11] [--batch 2] [--threads 1] [--clock cpu|wall]
        [--models vit_b_16,swin_t]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

import netc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from references.transformers import randomize_, swin_t, vit_b_16  # noqa: E402

REFERENCES = {"vit_b_16": vit_b_16, "swin_t": swin_t}


def compare(name: str, rounds: int, batch: int, size: int, clock) -> float:
    torch.manual_seed(0)
    reference = randomize_(REFERENCES[name](), seed=1).eval()
    compiled = netc.load_weights(netc.compile(name), reference.state_dict()).eval()
    x = torch.randn(batch, 3, size, size)
    a, b = [], []
    with torch.no_grad():
        diff = (compiled(x) - reference(x)).abs().max().item()
        assert diff < 1e-4, f"{name}: outputs differ by {diff}"
        for _ in range(2):   # warm-up
            compiled(x), reference(x)
        for i in range(rounds):
            order = [(compiled, a), (reference, b)] if i % 2 == 0 else [(reference, b), (compiled, a)]
            for m, acc in order:
                t = clock()
                m(x)
                acc.append(clock() - t)
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"{name:10s} compiled {ma * 1e3:8.1f} ms   reference {mb * 1e3:8.1f} ms   ratio {ma / mb:.3f}   "
          f"(max |diff| {diff:.1e})", flush=True)
    return ma / mb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    ap.add_argument("--models", default="vit_b_16,swin_t")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), batch {args.batch} at "
          f"{args.size}x{args.size}, {args.rounds} interleaved rounds, median of {args.clock} time")
    for name in args.models.split(","):
        compare(name, args.rounds, args.batch, args.size, clock)


if __name__ == "__main__":
    main()
