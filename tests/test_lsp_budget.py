"""The language server checks on every keystroke: a spec that would take too long is cut off at its
budget and shown as a diagnostic, and the next change is answered as usual. Run in a fresh
interpreter, as the server runs (its own process; nothing else owns its signals there)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("pygls")

PROBE = r'''
import json, sys, time
from netc.lsp import analysis as A
hostile = ("input 32x32 RGB\ntable " + " | ".join(f"c{i}" for i in range(40)) +
           " {\n    conv3-8 x9000\n    conv3-8 x9000\n    FC-10\n}\n")
t = time.perf_counter()
a = A.analyse("file:///tmp/hostile.net", hostile)
spent = time.perf_counter() - t
t = time.perf_counter()
b = A.analyse("file:///tmp/ok.net", "input 32x32 RGB\nconv3-8\nmaxpol\n")
quick = time.perf_counter() - t
print(json.dumps({"lines": [d.range.start.line for d in a.diagnostics], "messages": [d.message for d in a.diagnostics],
                  "irs": list(a.irs), "spent": spent, "quick": quick,
                  "next": [d.message.splitlines()[0] for d in b.diagnostics]}))
'''


def test_a_check_past_its_budget_becomes_a_diagnostic():
    env = {**os.environ, "NETC_LSP_TIMEOUT": "0.3"}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["lines"] == [0] and "takes too long to check" in r["messages"][0] and r["irs"] == []
    assert r["spent"] < 0.3 + 50 * max(r["quick"], 0.02)      # cut off near the budget, not run to the end
    assert r["next"] == ["unknown layer 'maxpol'"]             # the next change is checked as usual


def test_no_budget_outside_the_main_thread_is_harmless(monkeypatch):
    import threading

    from netc.lsp import analysis as A
    monkeypatch.setattr(A, "BUDGET_S", 0.3)
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("a", A.analyse("file:///tmp/ok.net", "input 8x8 RGB\nFC-2\n")))
    t.start()
    t.join(30)
    assert out["a"].diagnostics == [] and list(out["a"].irs) == ["main"]
