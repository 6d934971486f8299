"""Forward time of compiled models against hand-written references with the same weights.

CPU, batch 8, inference (eval, no_grad). The compiled VGG-16 (vgg:D) runs against a VGG-16 in
torchvision's layout, the compiled GoogLeNet (googlenet) against a GoogLeNet in BVLC's layout
(both references are in tests/backends/test_torch_weights.py, where they are also proven equal). The two
are timed interleaved in one run (A B A B ...) and the ratio is compiled / reference median.

The 2015-2020 zoo (``--zoo``): compiled resnet50, mobilenet_v3_large and convnext_tiny against the
hand-written references with torchvision's layout in tests/references/cnn.py (``--transformers``:
vit_b_16 and swin_t against tests/references/transformers.py), same weights, same protocol.

    .venv/bin/python bench/bench_forward.py [--rounds 15] [--batch 8] [--threads N] [--zoo] [--transformers]
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from pathlib import Path

import torch

import netc

ROOT = Path(__file__).resolve().parent.parent


def references():
    spec = importlib.util.spec_from_file_location("refs", ROOT / "tests" / "backends" / "test_torch_weights.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


CLOCK = time.perf_counter


def timed(model, x) -> float:
    t = CLOCK()
    model(x)
    return CLOCK() - t


def compare(name: str, compiled, reference, x, rounds: int) -> float:
    netc.load_weights(compiled, reference)       # the module: matched by dataflow (ConvNeXt lists layer_scale first)
    compiled.eval(), reference.eval()
    with torch.no_grad():
        assert (compiled(x) - reference(x)).abs().max().item() < 1e-4, "outputs differ"
        for _ in range(2):   # warm-up
            compiled(x), reference(x)
        a, b = [], []
        for i in range(rounds):
            order = [(compiled, a), (reference, b)] if i % 2 == 0 else [(reference, b), (compiled, a)]
            for m, acc in order:
                acc.append(timed(m, x))
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"{name:10s} compiled {ma * 1e3:8.1f} ms   reference {mb * 1e3:8.1f} ms   ratio {ma / mb:.3f}")
    return ma / mb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--zoo", action="store_true", help="resnet50, mobilenet_v3_large, convnext_tiny instead")
    ap.add_argument("--transformers", action="store_true", help="vit_b_16 and swin_t instead")
    ap.add_argument("--only", help="comma-separated names (with --zoo or --transformers)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: the process's CPU time (steadier than wall time on a shared machine)")
    args = ap.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    refs = references()
    x = torch.randn(args.batch, 3, 224, 224)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, "
          f"{args.rounds} interleaved rounds, median")
    if args.zoo or args.transformers:
        import sys
        sys.path.insert(0, str(ROOT))
        names = ["resnet50", "mobilenet_v3_large", "convnext_tiny"] if args.zoo else ["vit_b_16", "swin_t"]
        if args.only:
            names = [n for n in names if n in args.only.split(",")]
        if args.zoo:
            from tests.references import cnn as zoo
        else:
            from tests.references import transformers as zoo
        for name in names:
            reference = getattr(zoo, name)()
            if hasattr(zoo, "randomize_"):
                zoo.randomize_(reference)
            compare(name, netc.compile(name), reference, x, args.rounds)
        return
    compare("VGG-16", netc.compile("vgg:D"), refs.VGG16(), x, args.rounds)
    compare("GoogLeNet", netc.compile("googlenet"), refs.GoogLeNet(), x, args.rounds)


if __name__ == "__main__":
    main()
