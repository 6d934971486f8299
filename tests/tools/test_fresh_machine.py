"""The first run on a fresh machine is like every other: the CLI with empty temporary and cache
directories and a home it cannot write (a read-only folder, or a path that is not a folder at all,
which even root cannot write under) exits as a warm run does, prints the same, and writes nothing
to the cache, the temporary directory or the home."""
from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from conftest import ROOT

COMMANDS = [
    ["check", "specs/vgg.net"],
    ["check", "tests/errors/unknown_layer.net"],
    ["summary", "googlenet", "--json"],
    ["table", "vgg"],
    ["diff", "vgg:A", "vgg:B"],
    ["render", "vgg:D", "--format", "dot"],
    ["fmt", "--check", "specs/resnet.net"],
    ["check", "specs/nosuch.net"],
]


def _files(folder) -> list[str]:
    return sorted(os.path.join(r, f) for r, _, fs in os.walk(folder) for f in fs)


def _netc(args, env):
    # the installed program, as a user runs it (netc.tools.cli:console, with its own exit path)
    exe = os.path.join(os.path.dirname(sys.executable), "netc")
    return subprocess.run([exe, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(params=["read-only home", "home is a file"])
def fresh_env(request, tmp_path):
    tmp, cache, home = tmp_path / "tmp", tmp_path / "cache", tmp_path / "home"
    tmp.mkdir()
    cache.mkdir()
    if request.param == "read-only home":
        home.mkdir()
        home.chmod(stat.S_IRUSR | stat.S_IXUSR)
    else:
        home.write_text("")
    env = {k: v for k, v in os.environ.items() if k != "NETC_CACHE_DIR"}
    env.update(TMPDIR=str(tmp), XDG_CACHE_HOME=str(cache), HOME=str(home))
    yield env, [tmp, cache] + ([home] if home.is_dir() else [])
    if home.is_dir():
        home.chmod(stat.S_IRWXU)


def test_first_run_is_like_a_warm_run(fresh_env):
    env, folders = fresh_env
    for args in COMMANDS:
        warm = _netc(args, dict(os.environ))
        cold = _netc(args, env)
        assert (cold.returncode, cold.stdout, cold.stderr) == (warm.returncode, warm.stdout, warm.stderr), args
        assert "internal error" not in cold.stderr, args
    assert [f for d in folders for f in _files(d)] == []


def test_a_spec_error_on_a_fresh_machine_is_a_spec_error(fresh_env):
    env, _ = fresh_env
    p = _netc(["check", "tests/errors/unknown_layer.net"], env)
    assert p.returncode == 1 and "error: unknown layer" in p.stderr + p.stdout
