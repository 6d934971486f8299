"""A progress line on a terminal for long work (compile, export, import, check): on stderr, only
when stderr is a terminal (tested with a pseudo-terminal), erased when the work is done; piped
output has none. NETC_PROGRESS_DELAY=0 shows it at once, so the tests need no slow network."""
from __future__ import annotations

import os
import pty
import select
import subprocess
import sys

import pytest

from conftest import ROOT

ERASE = "\r\033[K"


def _env(**kw):
    env = {k: v for k, v in os.environ.items() if k not in ("NETC_PROGRESS", "NO_COLOR")}
    env.update(NETC_PROGRESS_DELAY="0", TERM="xterm", COLUMNS="200", **kw)
    return env


def in_pty(*args: str, cwd=ROOT) -> tuple[int, str]:
    """Run ``netc ARGS`` with stdout and stderr on a pseudo-terminal: (exit status, what it showed)."""
    main, sub = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "netc.tools.cli", *args], stdin=subprocess.DEVNULL,
                         stdout=sub, stderr=sub, cwd=cwd, env=_env())
    os.close(sub)
    out = b""
    while True:
        r, _, _ = select.select([main], [], [], 300)
        if not r:
            p.kill()
            break
        try:
            chunk = os.read(main, 65536)
        except OSError:          # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(main)
    return p.wait(), out.decode("utf-8", "replace")


def piped(*args: str, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "netc.tools.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=_env())


def test_check_shows_its_stage_on_a_terminal():
    code, shown = in_pty("check", "specs/resnet.net")
    assert code == 0, shown
    assert "checking: specs/resnet.net" in shown and ERASE in shown
    last = shown.rsplit(ERASE, 1)[0]
    assert "configurations" in last
    # the lines check prints are whole: no progress text before them on their line
    for line in shown.replace("\r\n", "\n").split("\n"):
        if "weight layers" in line:
            assert "checking" not in line.rsplit(ERASE, 1)[-1]


def test_piped_output_has_no_progress_line():
    p = piped("check", "specs/resnet.net")
    assert p.returncode == 0
    assert "checking" not in p.stderr and "\033" not in p.stderr + p.stdout and "\r" not in p.stderr


@pytest.mark.slow   # 9 s: compiles a network with progress reporting
def test_compile_names_its_stages(tmp_path):
    pytest.importorskip("torch")
    code, shown = in_pty("compile", "vgg:A", "--set", "num_classes=10", "-o", str(tmp_path / "a.pt"))
    assert code == 0, shown
    for stage in ("compiling vgg:A: checking the spec", "building modules", "exporting to a state_dict"):
        assert stage in shown
    assert shown.rstrip().split("\n")[-1].rsplit(ERASE, 1)[-1].startswith("wrote ")
    p = piped("compile", "vgg:A", "--set", "num_classes=10", "-o", str(tmp_path / "b.pt"))
    assert p.returncode == 0 and "compiling" not in p.stderr and "\033" not in p.stderr
    assert p.stderr.startswith("wrote ")


def test_netc_progress_0_turns_it_off():
    from netc.tools import progress
    env = dict(os.environ)
    try:
        os.environ["NETC_PROGRESS"] = "0"
        assert not progress.enabled()
        os.environ["NETC_PROGRESS"] = "1"
        assert progress.enabled()
    finally:
        os.environ.clear()
        os.environ.update(env)
