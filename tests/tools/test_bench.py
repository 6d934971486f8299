"""The benchmarks still run: each script once with the smallest arguments it takes.

Their timings are not asserted (the machines are noisy); bench/README.md records real runs."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

RUNS = {
    "bench_windows.py": (["--windows", "8", "--sample", "4", "--batch", "4", "--repeat", "1",
                          "--image", "120x160", "--scale", "224"], ["ratio, whole scoring", "bound:"]),
    "bench_diff.py": (["--layers", "50", "--repeat", "1"], ["ratio"]),
    "bench_compile.py": (["--repeat", "1", "--sizes", "50"], ["us/layer"]),
    "bench_lsp.py": (["--runs", "3"], ["didChange -> publishDiagnostics", "hover"]),
    "bench_adversarial.py": (["--scale", "0.05", "--families", "repetition,nesting,includes"], ["ms per unit"]),
    "bench_transformers.py": (["--rounds", "1", "--batch", "1", "--size", "64", "--models", "swin_t"], ["ratio"]),
}


@pytest.mark.parametrize("script", sorted(RUNS))
def test_bench_runs(script):
    args, expect = RUNS[script]
    r = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    for text in expect:
        assert text in r.stdout, r.stdout
