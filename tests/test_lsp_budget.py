"""The language server checks on every keystroke: a spec that would take too long is cut off at its
budget and shown as a diagnostic, and the next change is answered as usual."""
from __future__ import annotations

import time

import pytest

pytest.importorskip("pygls")
from netc.lsp import analysis as A  # noqa: E402

HOSTILE = ("input 32x32 RGB\ntable " + " | ".join(f"c{i}" for i in range(40)) +
           " {\n    conv3-8 x9000\n    conv3-8 x9000\n    FC-10\n}\n")


def test_a_check_past_its_budget_becomes_a_diagnostic(monkeypatch):
    monkeypatch.setattr(A, "BUDGET_S", 0.3)
    t = time.perf_counter()
    a = A.analyse("file:///tmp/hostile.net", HOSTILE)
    spent = time.perf_counter() - t
    quick = time.perf_counter()
    A.analyse("file:///tmp/ok.net", "input 32x32 RGB\nconv3-8\nFC-10\n")
    quick = time.perf_counter() - quick
    assert [d.range.start.line for d in a.diagnostics] == [0]
    assert "takes too long to check" in a.diagnostics[0].message and not a.irs
    assert spent < 0.3 + 50 * max(quick, 0.02)     # cut off near the budget, not run to the end
    after = A.analyse("file:///tmp/ok.net", "input 32x32 RGB\nconv3-8\nmaxpol\n")   # the next change
    assert [d.message.splitlines()[0] for d in after.diagnostics] == ["unknown layer 'maxpol'"]


def test_no_budget_outside_the_main_thread_is_harmless(monkeypatch):
    import threading
    monkeypatch.setattr(A, "BUDGET_S", 0.3)
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("a", A.analyse("file:///tmp/ok.net", "input 8x8 RGB\nFC-2\n")))
    t.start()
    t.join(30)
    assert out["a"].diagnostics == [] and list(out["a"].irs) == ["main"]
