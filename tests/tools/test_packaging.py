"""The wheel carries the grammar and the bundled specs, so `netc.load("vgg:D")` works installed, and the
whole playground (its page and the bundled editor and viewer): what `pip install` gives is the product."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT
from serve_helpers import CHROMIUM, CHROMIUM_ARGS


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


# ------------------------------------------------------------------ the playground's bundles
STATIC = ROOT / "compiler" / "tools" / "serve" / "static"
BUNDLES = ("editor.js", "viewer.js")


def test_playground_bundles_are_committed_and_rebuild_the_same(tmp_path):
    """static/editor.js and static/viewer.js are generated (playground/build.mjs, esbuild) and committed,
    so that a wheel built from a clean checkout holds them; rebuilt from playground/ they are the same."""
    tracked = subprocess.run(["git", "ls-files", "--", *(f"compiler/tools/serve/static/{b}" for b in BUNDLES)],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert len(tracked) == len(BUNDLES), f"commit the bundles: {tracked}"
    node = shutil.which("node")
    if node is None or not (ROOT / "playground" / "node_modules" / "esbuild").is_dir():
        pytest.skip("node or playground/node_modules is missing (cd playground && npm ci)")
    subprocess.run([node, "playground/build.mjs", str(tmp_path)], cwd=ROOT, check=True, capture_output=True, timeout=300)
    for b in BUNDLES:
        assert (tmp_path / b).read_bytes() == (STATIC / b).read_bytes(), \
            f"static/{b} is stale: rebuild it (cd playground && npm run build) and commit it"


def _clean_checkout(dest: Path) -> Path:
    """The committed tree (HEAD), as a fresh clone has it: no build outputs, no ignored or untracked files."""
    dest.mkdir(parents=True)
    tar = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=tar, check=True)
    return dest


def test_the_wheel_is_the_whole_playground(tmp_path):
    """A wheel built from a clean checkout, installed into a fresh venv without its dependencies (they come
    from .venv; torch is not pulled), serves the playground with its editor and viewer (Chromium)."""
    src = _clean_checkout(tmp_path / "src")
    out = tmp_path / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(src)], check=True, capture_output=True, timeout=300)
    [wheel] = list(out.glob("netc-*.whl"))
    z = zipfile.ZipFile(wheel)
    names = set(z.namelist())
    for f in ("index.html", "app.js", "style.css", *BUNDLES):
        assert f"netc/tools/serve/static/{f}" in names, f
    [meta] = [n for n in names if n.endswith(".dist-info/METADATA")]
    requires = [ln for ln in z.read(meta).decode().splitlines() if ln.startswith("Requires-Dist:")]
    assert not [r for r in requires if "torch" in r and "extra ==" not in r], requires      # torch is an extra

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    ours = subprocess.run([sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True, timeout=300)
    # the dependencies (starlette, uvicorn, pydantic, ...) from .venv, after the venv's own site-packages: a
    # path in a .pth is searched after it, and .venv's editable netc hook (itself a .pth there) is not run
    Path(site, "zz_deps.pth").write_text(ours + "\n")
    p = subprocess.run([str(py), "-c", "import netc, netc.tools.serve.app as a; print(netc.__file__); "
                        "print(all((a.STATIC / f).is_file() for f in ('editor.js', 'viewer.js')))"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120, env=_env())
    assert p.returncode == 0, p.stderr
    where, bundles = p.stdout.split()
    assert where.startswith(str(venv)) and bundles == "True", p.stdout

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api")
    spec = tmp_path / "tiny.net"
    spec.write_text("input 32x32 RGB\nconv3-16\nmaxpool\nconv3-32\ngap\nFC-10\n")
    proc = subprocess.Popen([str(venv / "bin" / "netc"), "serve", str(spec), "--port", "0"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env())
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            m = re.search(r"(http://127\.0\.0\.1:\d+/)", proc.stderr.readline().decode("utf-8", "replace"))
            url = m and m.group(1)
        assert url, "the installed netc serve did not start"
        with sync_api.sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pg = b.new_page(viewport={"width": 1400, "height": 900})
            errors = []
            pg.on("pageerror", lambda e: errors.append(str(e)))
            pg.goto(url)
            try:
                pg.wait_for_function("document.querySelectorAll('#diagram svg g.node').length >= 5", timeout=30000)
            except Exception:
                raise AssertionError(f"no diagram: {pg.inner_text('body')[:2000]!r} {errors}") from None
            assert pg.evaluate("window.netcPlayground.editor.kind") == "codemirror"
            assert pg.evaluate("typeof window.NetcPanzoom") == "function"
            assert not errors, errors
            b.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _env() -> dict:
    return {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "PYTHONUNBUFFERED": "1"}
