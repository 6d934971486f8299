"""Shared test helpers: golden files (refresh with NETC_ACCEPT=1), the repository root, the CLI, and
an imported spec checked against the module it came from."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ACCEPT = os.environ.get("NETC_ACCEPT") == "1"


def golden(path: Path, actual: str) -> None:
    """Compare ``actual`` with the golden file; NETC_ACCEPT=1 rewrites it (review the git diff)."""
    if ACCEPT or not path.exists():
        if not ACCEPT:
            pytest.fail(f"missing golden file {path}; run with NETC_ACCEPT=1 and review it")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
        return
    assert actual == path.read_text(), f"output differs from {path} (NETC_ACCEPT=1 to refresh)"


def run_cli(*args: str, stdin: str | None = None, cwd: Path | None = None, env: dict | None = None):
    """Run the netc CLI in a subprocess of this interpreter; return the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "netc.tools.cli", *args], capture_output=True, text=True,
                          input=stdin, cwd=cwd or ROOT, env={**os.environ, **(env or {})}, timeout=300)


FRONT_END_AND_CORE = ("dsl", "core")


def pytest_sessionfinish(session, exitstatus):
    """The front end's and the core's tests need no torch: a run of tests/dsl and tests/core alone
    fails if torch was imported on the way (a test that compiles belongs in tests/backends)."""
    items = getattr(session, "items", None) or []
    folders = {Path(str(item.fspath)).parent.name for item in items}
    if items and folders <= set(FRONT_END_AND_CORE) and "torch" in sys.modules:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("FAILED: torch was imported by the tests of tests/dsl or tests/core")


def imports_as_module(src, x, text: str | None = None) -> str:
    """``text`` (default: ``netc.from_torch(src, x)``) has the module's parameter count and, after
    ``load_weights`` from it, its outputs (relative 1e-4). The module's weights are drawn again first
    (not its initial values: a wrong pairing of tensors shows) and it is put in eval mode."""
    import torch
    import netc
    torch.manual_seed(0)
    for p in src.parameters():
        torch.nn.init.normal_(p, 0.0, 0.1)
    for b in src.buffers():
        if b.is_floating_point():
            b.uniform_(0.5, 1.5)
    src.eval()
    text = text or netc.from_torch(src, x)
    ir = netc.loads(text)
    assert ir.params == sum(p.numel() for p in src.parameters()), text
    m = netc.compile(ir).eval()
    netc.load_weights(m, src)
    with torch.no_grad():
        a, b = src(x), m(x)
    assert a.shape == b.shape, text
    assert float((a - b).abs().max()) <= 1e-4 * max(1.0, float(a.abs().max())), text
    return text
