"""Same spec, same output: the IR, layer names, state_dict keys, DOT text, summaries and tables are
identical across runs and across Python hash seeds (three processes, PYTHONHASHSEED=0/1/2)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

# Runs in a fresh interpreter; prints {item: text} as JSON. Every text output netc makes of every
# bundled spec, through the CLI's own entry point, plus the IR and (with torch) state_dict keys.
PROBE = r'''
import contextlib, glob, importlib.util, io, json, os, sys, tempfile
import netc
from netc.tools.cli import main

def cli(*argv):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
        code = main(list(argv))
    return f"exit {code}\n" + buf.getvalue()

def ir_text(ir):
    lines = [f"{n.name} {n.kind} {n.word} {n.params!r} {n.shape} {n.sym_shape} {n.n_params} {n.macs} {n.act} {n.scope}"
             for n in ir.nodes()]
    lines += [f"{u} -> {v} {d}" for u, v, d in ir.graph.edges(data=True)]
    return "\n".join(lines)

out, tmp = {}, tempfile.mkdtemp()
commands = {m for m in ("table", "render") if importlib.util.find_spec(f"netc.tools.commands.{m}")}
torch_ok = importlib.util.find_spec("torch") is not None and importlib.util.find_spec("netc.backends.torch")
for path in sorted(glob.glob("specs/*.net")):
    name = os.path.basename(path)[:-4]
    out[f"{name} summary --json"] = cli("summary", "--json", path)
    if "table" in commands:
        out[f"{name} table"] = cli("table", path)
        out[f"{name} table markdown"] = cli("table", "--format", "markdown", path)
    for ir in netc.load_all(path):
        ref = f"{path}:{ir.config}"
        out[f"{ref} ir"] = ir_text(ir)
        if "render" in commands:
            dot = os.path.join(tmp, "x.dot")
            code = cli("render", ref, "-o", dot, "--shapes")
            out[f"{ref} dot"] = code + (open(dot).read() if os.path.exists(dot) else "")
        if torch_ok and ir.config in ("D", "googlenet", "CNN-S", "torchvision", "paper"):
            model = netc.compile(ir, device="meta")
            out[f"{ref} state_dict"] = "\n".join(f"{k} {tuple(v.shape)}" for k, v in model.state_dict().items())
print(json.dumps(out))
'''


def _probe(seed: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    return subprocess.Popen([sys.executable, "-c", PROBE], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def runs() -> list[dict]:
    procs = [_probe(seed) for seed in (0, 1, 2)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        results.append(json.loads(out))
    return results


def test_outputs_exist(runs):
    kinds = {k.rsplit(" ", 1)[-1] for k in runs[0]}
    assert {"ir", "--json"} <= kinds
    assert all(not v.startswith("exit") or v.startswith("exit 0") for v in runs[0].values()), \
        [k for k, v in runs[0].items() if v.startswith("exit") and not v.startswith("exit 0")]
    assert sum(1 for k in runs[0] if k.endswith(" ir")) >= 10


def test_same_outputs_across_hash_seeds(runs):
    first = runs[0]
    for other in runs[1:]:
        assert other.keys() == first.keys()
        differ = [k for k in first if first[k] != other[k]]
        assert not differ, f"differs across PYTHONHASHSEED: {differ[:5]}"


def test_state_dict_keys_follow_the_spec(runs):
    keys = [k for k in runs[0] if k.endswith("state_dict")]
    if not keys:
        pytest.skip("torch backend not available")
    vgg = runs[0].get("specs/vgg.net:D state_dict")
    if vgg:
        names = [line.split()[0] for line in vgg.splitlines()]
        assert names[:2] == ["conv1_1.weight", "conv1_1.bias"] and names[-1] == "fc8.bias"
