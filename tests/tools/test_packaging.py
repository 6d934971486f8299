"""The wheel carries the grammar and the bundled specs, so `netc.load("vgg:D")` works installed."""
from __future__ import annotations

import subprocess
import sys
import zipfile

from conftest import ROOT


def test_wheel_ships_specs_and_grammar(tmp_path):
    out = tmp_path / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(ROOT)], check=True, capture_output=True, timeout=300)
    [wheel] = list(out.glob("netc-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    bundled = {f"netc/specs/{p.name}" for p in (ROOT / "specs").glob("*.net")}
    assert bundled and bundled <= names
    assert "netc/dsl/grammar.lark" in names
    assert not any(n.startswith(("dsl/", "compiler/", "visualize/", "tests/")) for n in names)

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = "import netc; print(netc.__file__); print(netc.load('vgg:D').params)"
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                       env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert p.returncode == 0, p.stderr
    where, params = p.stdout.split()
    assert where.startswith(str(site)) and params == "138357544"
