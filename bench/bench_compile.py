"""Compile time: VGG-E on the meta device, and generated specs of 250 to 2,000 layers.

Each row splits the time into the front end (netc.load: parse, resolve, IR, shapes, counts) and
the torch backend (modules on meta + fx codegen). Time per layer should stay flat as the layer
count grows (linear cost).

    .venv/bin/python bench/bench_compile.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import time

import torch

import netc
from netc.backends.torch import to_module


def generated(layers: int) -> str:
    """A plain chain: conv3-16 / relu pairs count as one layer each (weight layers only)."""
    return "input 32x32 RGB\nconv3-16 x%d\ngap\nFC-10\n" % (layers - 2)


def best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def row(label: str, load, repeat: int) -> None:
    t_front, ir = best(load, repeat)
    t_back, m = best(lambda: to_module(ir, device="meta"), repeat)
    n = len(ir.layers())
    assert sum(p.numel() for p in m.parameters()) == ir.params
    total = t_front + t_back
    print(f"{label:24s} {n:6d} layers  front end {t_front * 1e3:8.1f} ms  backend {t_back * 1e3:8.1f} ms  "
          f"total {total * 1e3:8.1f} ms  {total / n * 1e6:7.1f} us/layer")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sizes", default="250,500,1000,2000", help="layers of the generated chains")
    args = ap.parse_args()
    torch.manual_seed(0)
    to_module(netc.load("vgg:A"), device="meta")   # warm-up (imports, first meta allocations)
    print(f"torch {torch.__version__}; best of {args.repeat}")
    row("vgg:E (meta)", lambda: netc.load("vgg:E"), args.repeat)
    for n in (int(v) for v in args.sizes.split(",")):
        text = generated(n)
        row(f"generated {n} (meta)", lambda text=text: netc.loads(text), args.repeat)


if __name__ == "__main__":
    main()
