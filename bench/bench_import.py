"""netc import: the time to import GoogLeNet's released train_val prototxt (folding included), and
how the printer's folding scales with the size of the network.

    .venv/bin/python bench/bench_import.py

1. ``netc.importers.from_caffe`` on BVLC's bvlc_googlenet train_val.prototxt (2,433 lines): the
   first call in a process (imports of protobuf and netc's front end included) and the median of
   5 more; then ``netc import`` as a whole process.
2. A synthetic network of N layers built straight into the neutral graph: units of an
   inception-like module (two branches and a concat, widths varying from unit to unit, so that
   they fold into one parameterised block) alternating with runs of identical convolutions
   (folded as ``conv3-64 xK``), N from 250 to 2,000. Time of ``to_spec`` per layer; 1.00 = linear.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GOOGLENET = os.path.join(ROOT, "tests", "data", "caffe", "bvlc_googlenet-train_val.prototxt")


def googlenet() -> None:
    from netc.importers import from_caffe
    t = time.perf_counter()
    text = from_caffe(GOOGLENET)
    first = time.perf_counter() - t
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        from_caffe(GOOGLENET)
        runs.append(time.perf_counter() - t)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "netc.tools.cli", "import", GOOGLENET], check=True, capture_output=True)
    whole = time.perf_counter() - t
    print(f"googlenet train_val.prototxt (2,433 lines) -> {len(text.splitlines())} spec lines")
    print(f"  from_caffe, first call in the process  {first:6.3f} s")
    print(f"  from_caffe, median of 5 more           {statistics.median(runs):6.3f} s")
    print(f"  netc import, whole process             {whole:6.3f} s")


def synthetic(n_layers: int):
    """A Net of about n_layers layers: (unit with 4 layers, run of 4 identical convs) repeated."""
    from netc.importers.graph import Layer, Net
    layers, prev, i = [], "input", 0
    while len(layers) < n_layers:
        i += 1
        u = f"unit_{i}"
        w = 8 + (i % 5) * 8
        layers += [Layer(f"{u}/a", "conv", {"out": w, "k": 1}, [prev], act="relu"),
                   Layer(f"{u}/b_reduce", "conv", {"out": 8, "k": 1}, [prev], act="relu"),
                   Layer(f"{u}/b", "conv", {"out": w, "k": 3, "pad": 1}, [f"{u}/b_reduce"], act="relu"),
                   Layer(f"{u}/concat", "concat", {}, [f"{u}/a", f"{u}/b"])]
        prev = f"{u}/concat"
        for j in range(4):
            name = f"#run{i}_{j}"   # anonymous: netc names it
            layers.append(Layer(name, "conv", {"out": 32, "k": 3, "pad": 1}, [prev], act="relu"))
            prev = name
    layers.append(Layer("gap", "gap", {}, [prev]))
    layers.append(Layer("fc", "fc", {"out": 10}, ["gap"]))
    return Net(layers, (3, 32, 32), None, [("fc", None)], [], "synthetic", "synthetic")


def scaling() -> None:
    from netc.importers.printer import to_spec
    per = {}
    for n in (250, 500, 1000, 2000):
        net = synthetic(n)
        t = time.perf_counter()
        text = to_spec(net)
        dt = time.perf_counter() - t
        per[n] = dt / len(net.layers) * 1000
        print(f"{len(net.layers):5d} layers -> {len(text.splitlines()):4d} spec lines  {dt:6.2f} s  "
              f"{per[n]:6.3f} ms per layer")
    print(f"per-layer cost at 2,000 / at 250 layers  {per[2000] / per[250]:.2f}  (1.00 = linear)")


if __name__ == "__main__":
    googlenet()
    scaling()
