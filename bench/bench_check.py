"""Front-end speed, measured against references taken in the same run.

1. `netc check specs/vgg.net` as a whole process vs `python -c "import torch"` as a whole process,
   interleaved; reports the medians and their ratio (target: at most 0.10). netc is byte-compiled
   first, as pip leaves any installed package.
   Then where the time of one such process goes: the interpreter's start (``python -c pass``, with
   and without site), and in one process, as the ``netc`` program runs, each step (best of --runs).
2. Scaling: netc.check on generated specs of 1,250 ... 10,000 layers; reports seconds per 1,000
   layers at each size (linear parsing keeps these roughly equal) and the 10,000-layer time.

    .venv/bin/python bench/bench_check.py [--runs 5] [--against REV]

3. With ``--against REV``: the 10,000-layer check of this tree against the tree of git revision REV
   (before the kind registry: 433f71d), each in a fresh process, interleaved, medians of --runs:
   the per-layer cost must not grow with the registry.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv" / "bin"


def wall(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - t


def processes(runs: int) -> None:
    check = [str(VENV / "netc"), "check", "specs/vgg.net"]
    torch = [str(VENV / "python"), "-c", "import torch"]
    # netc byte-compiled, as pip leaves an installed package (torch's modules are): with
    # PYTHONDONTWRITEBYTECODE set, an editable install would recompile every module on each run
    subprocess.run([str(VENV / "python"), "-m", "compileall", "-q", "compiler", "dsl", "visualize"], cwd=ROOT,
                   check=True, capture_output=True)
    wall(check), wall(torch)  # warm the file cache
    a, b = [], []
    for _ in range(runs):
        a.append(wall(check))
        b.append(wall(torch))
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"netc check specs/vgg.net   median {ma:6.3f} s  best {min(a):6.3f} s  ({runs} runs)")
    print(f"python -c 'import torch'   median {mb:6.3f} s  best {min(b):6.3f} s  ({runs} runs)")
    print(f"ratio check / torch import       {ma / mb:6.3f} (medians)  {min(a) / min(b):6.3f} (best)")


_STEPS = """
import json, sys, time
t = [time.perf_counter()]
import gc, io, contextlib
from netc.tools import cli                                      # the program: argparse, the front end's errors
t.append(time.perf_counter())
cli._no_pydantic_plugins()
gc.disable()                                              # as console() does for a short command
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
t.append(time.perf_counter())
import netc.api                                           # netc's modules: kinds, parameter models, AST, IR
t.append(time.perf_counter())
from netc.dsl import parser
parser._lark()                                            # the parser: Lark's standalone module, its tables loaded
t.append(time.perf_counter())
with contextlib.redirect_stdout(io.StringIO()):
    code = cli.main(["check", "specs/vgg.net"])
t.append(time.perf_counter())
assert code == 0
print(json.dumps([b - a for a, b in zip(t, t[1:])]))
"""

_STEP_NAMES = ("netc.tools.cli imported (argparse, the parser's modules)", "pydantic imported",
               "netc's modules (kinds, parameter models, IR)", "the parser (standalone module, tables loaded)",
               "netc check specs/vgg.net: parse, check 7 configurations, print")


def breakdown(runs: int) -> None:
    python = str(VENV / "python")
    bare = min(wall([python, "-S", "-c", "pass"]) for _ in range(runs))
    site = min(wall([python, "-c", "pass"]) for _ in range(runs))
    steps = [json.loads(subprocess.run([python, "-c", _STEPS], cwd=ROOT, capture_output=True, text=True,
                                       check=True).stdout) for _ in range(runs)]
    print(f"where one check's time goes (best of {runs}):")
    print(f"  {'python started, no site':<68} {bare * 1000:5.1f} ms")
    print(f"  {'site (the editable install finder, pathlib)':<68} {(site - bare) * 1000:5.1f} ms")
    for i, name in enumerate(_STEP_NAMES):
        print(f"  {name:<68} {min(s[i] for s in steps) * 1000:5.1f} ms")


def scaling() -> None:
    sys.path.insert(0, str(_current()))    # this tree (ROOT itself holds no netc package)
    import netc
    netc.check("input 8x8 RGB\nFC-2\n", "warm.net")
    per = []
    for n in (1250, 2500, 5000, 10000):
        text = "input HxW RGB\n" + "conv3-8\n" * n + "gap\nFC-10\n"
        t = time.perf_counter()
        errors = netc.check(text, "gen.net")
        dt = time.perf_counter() - t
        assert not errors
        per.append(dt / n * 1000)
        print(f"{n:6,} layers  {dt:6.2f} s  {dt / n * 1000:6.3f} s per 1,000 layers")
    print(f"per-layer cost at 10,000 / at 1,250 layers   {per[-1] / per[0]:5.2f}  (1.00 = linear)")


_TIMED = """
import sys, time
sys.path.insert(0, sys.argv[1])
import netc
netc.check("input 8x8 RGB\\nFC-2\\n", "warm.net")
text = "input HxW RGB\\n" + "conv3-8\\nrelu\\n" * 5000 + "gap\\nFC-10\\n"
t = time.perf_counter()
assert not netc.check(text, "gen.net")
print(time.perf_counter() - t)
"""


def _tree(rev: str, dest: Path) -> Path:
    """The netc package of git revision ``rev`` laid out under ``dest`` (netc, netc.dsl, ...)."""
    import shutil
    import tarfile
    import tempfile
    raw = Path(tempfile.mkdtemp())
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, check=True, capture_output=True).stdout
    (raw / "a.tar").write_bytes(archive)
    with tarfile.open(raw / "a.tar") as t:
        t.extractall(raw, filter="data")
    pkg = dest / "netc"
    shutil.copytree(raw / "compiler", pkg)
    for sub in ("dsl", "visualize", "specs"):
        shutil.copytree(raw / sub, pkg / sub)
    return dest


def against(rev: str, runs: int) -> None:
    import tempfile
    old = _tree(rev, Path(tempfile.mkdtemp()))
    here = [str(VENV / "python"), "-c", _TIMED]
    a, b = [], []
    for _ in range(runs):
        b.append(float(subprocess.run(here + [str(old)], capture_output=True, text=True, check=True).stdout))
        a.append(float(subprocess.run(here + [str(_current())], capture_output=True, text=True,
                                      check=True).stdout))
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"10,000 layers, this tree      median {ma:6.2f} s  ({runs} runs)")
    print(f"10,000 layers, {rev:<14} median {mb:6.2f} s")
    print(f"ratio this / {rev}              {ma / mb:6.2f}  (<= 1.00: no slower with the registry)")


def _current() -> Path:
    """This working tree as an importable netc (the editable install maps netc -> compiler/)."""
    import tempfile
    global _CURRENT
    if _CURRENT is None:
        import shutil
        dest = Path(tempfile.mkdtemp())
        pkg = dest / "netc"
        shutil.copytree(ROOT / "compiler", pkg, ignore=shutil.ignore_patterns("__pycache__"))
        for sub in ("dsl", "visualize", "specs"):
            shutil.copytree(ROOT / sub, pkg / sub, ignore=shutil.ignore_patterns("__pycache__"))
        _CURRENT = dest
    return _CURRENT


_CURRENT = None


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--against", metavar="REV", help="also compare the 10,000-layer check with revision REV")
    args = ap.parse_args()
    processes(args.runs)
    breakdown(args.runs)
    scaling()
    if args.against:
        against(args.against, args.runs)
