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
import json, sys
from netc.tools.lsp import analysis as A
hostile = ("input 32x32 RGB\ntable " + " | ".join(f"c{i}" for i in range(40)) +
           " {\n    conv3-8 x9000\n    conv3-8 x9000\n    FC-10\n}\n")
a = A.analyse("file:///tmp/hostile.net", hostile)
b = A.analyse("file:///tmp/ok.net", "input 32x32 RGB\nconv3-8\nmaxpol\n")
print(json.dumps({"lines": [d.range.start.line for d in a.diagnostics], "messages": [d.message for d in a.diagnostics],
                  "irs": list(a.irs), "next": [d.message.splitlines()[0] for d in b.diagnostics],
                  "next_irs": list(b.irs)}))
'''


def test_a_check_past_its_budget_becomes_a_diagnostic():
    """The hostile spec (40 columns of 18,000 convolutions) is cut off by the budget: one diagnostic
    on line 1 and no IR (a check run to its end would report the table's IRs or its own errors);
    the next check is made as usual. A hang fails through the subprocess timeout."""
    env = {**os.environ, "NETC_LSP_TIMEOUT": "0.3"}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["lines"] == [0] and len(r["messages"]) == 1 and r["irs"] == []
    assert r["messages"][0].startswith("this spec takes too long to check (the budget is 0.3 s a check")
    assert r["next"] == ["unknown layer 'maxpol'"] and r["next_irs"] == ["main"]   # checked as usual


def test_no_budget_outside_the_main_thread_is_harmless(monkeypatch):
    import threading

    from netc.tools.lsp import analysis as A
    monkeypatch.setattr(A, "BUDGET_S", 0.3)
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("a", A.analyse("file:///tmp/ok.net", "input 8x8 RGB\nFC-2\n")))
    t.start()
    t.join(30)
    assert out["a"].diagnostics == [] and list(out["a"].irs) == ["main"]


def test_the_server_cuts_off_a_spec_past_its_budget_and_checks_the_next_edit(tmp_path):
    """End to end: the over-budget document gets the one diagnostic, the next edit of it is checked
    as usual, and the server answers all along."""
    from test_lsp_hostile import Client
    c = Client(tmp_path, env={**os.environ, "NETC_LSP_TIMEOUT": "0.3"})
    try:
        c.init(tmp_path)
        uri = (tmp_path / "hostile.net").as_uri()
        hostile = ("input 32x32 RGB\ntable " + " | ".join(f"c{i}" for i in range(40)) +
                   " {\n    conv3-8 x9000\n    conv3-8 x9000\n    FC-10\n}\n")
        c.open(uri, hostile)
        first = c.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri)
        [d] = first["params"]["diagnostics"]
        assert d["message"].startswith("this spec takes too long to check") and d["range"]["start"]["line"] == 0
        c.note("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                          "contentChanges": [{"text": "input 32x32 RGB\nconv3-8\nmaxpol\n"}]})
        second = c.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                        and m["params"]["uri"] == uri and m["params"].get("version") == 2)
        assert [x["message"].splitlines()[0] for x in second["params"]["diagnostics"]] == ["unknown layer 'maxpol'"]
        assert "conv3-8" in c.hover(uri, 1, 2)["result"]["contents"]["value"]
    finally:
        assert c.close() == 0
