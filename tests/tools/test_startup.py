"""Start-up: `netc check` imports only what checking needs.

The time a whole `netc check specs/vgg.net` process takes is benchmarked against
`python -c "import torch"` in bench/bench_check.py (never asserted here: these machines are noisy).
What keeps it low is asserted here, deterministically: the modules a check process has imported
when it ends. A budget on their number catches a new eager import (networkx alone is 300
modules), and the list of what must stay out names the heavy ones.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# packages a check never needs: the IR's algorithms, the torch back end, the server, the language
# server, the importers, the pictures
NEVER = ("torch", "networkx", "numpy", "starlette", "uvicorn", "pygls", "lsprotocol", "onnx", "google.protobuf",
         "graphviz", "netc.backends.torch", "netc.tools.serve", "netc.tools.lsp", "netc.importers", "netc.visualize",
         "netc.diff", "netc.diff.difftree", "netc.summary", "netc.tools.commands.serve", "netc.tools.commands.lsp",
         "netc.tools.commands.import_", "netc.tools.commands.render", "netc.tools.commands.diff",
         "importlib.metadata",     # what pydantic's plugin loader imports to find none (netc.tools.cli._no_pydantic_plugins)
         "lark",                   # the parser is Lark's standalone module (netc.dsl.lark_standalone)
         "shutil")                 # what argparse imports for the terminal's width (netc.tools.cli._Formatter)

# every module the process imports, the interpreter's own start-up included (222 today: pydantic
# and its helpers 49, netc 40, the interpreter's start-up and the standard library the rest);
# networkx would add 300, numpy 100, importlib.metadata 30, lark 23
BUDGET = 240


def imported(*args: str, env: dict | None = None) -> list[str]:
    """Every module in sys.modules at the end of a `netc ARGS` process, run as the console script
    runs it (netc.tools.cli.console, which ends with os._exit or sys.exit)."""
    code = ("import atexit, json, os, sys\n"
            "def show(): print('MODULES=' + json.dumps(sorted(sys.modules)), flush=True)\n"
            "real = os._exit\n"
            "os._exit = lambda c: (show(), real(c))\n"
            "atexit.register(show)\n"
            "sys.argv = ['netc', *sys.argv[1:]]\n"
            "from netc.tools.cli import console\n"
            "console()\n")
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("MODULES="))
    return json.loads(line[len("MODULES="):])


def _offenders(mods: list[str]) -> list[str]:
    return sorted({m for m in mods for bad in NEVER if m == bad or m.startswith(bad + ".")})


def test_check_imports_only_what_checking_needs():
    mods = imported("check", "specs/vgg.net")
    assert "netc.elaborate.resolve" in mods and "netc.dsl.lark_standalone" in mods       # it did check
    assert _offenders(mods) == []
    assert len(mods) <= BUDGET, f"{len(mods)} modules imported by netc check (budget {BUDGET})"


@pytest.mark.parametrize("argv", [["--limit", "max_layers=100", "check", "specs/vgg.net"],
                                  ["--plugin", "json", "check", "specs/vgg.net"]])
def test_options_before_the_command_still_import_one_command(argv):
    mods = imported(*argv)
    assert "netc.tools.commands.check" in mods and "netc.tools.commands.serve" not in mods


def test_help_still_lists_every_command():
    proc = subprocess.run([sys.executable, "-m", "netc.tools.cli", "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    from netc.tools.cli import COMMANDS
    assert proc.returncode == 0
    for name in COMMANDS:
        assert name in proc.stdout


def test_a_mistyped_command_is_answered_with_every_choice():
    proc = subprocess.run([sys.executable, "-m", "netc.tools.cli", "chek", "x.net"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert "invalid choice: 'chek'" in proc.stderr and "'check'" in proc.stderr and "'serve'" in proc.stderr


def test_the_ir_graph_is_networkx_on_demand():
    """ir.graph is a networkx DiGraph of the passes' own graph (ir.g), built on first use, made
    again after ir.g changes; networkx's algorithms run on it, and editing it leaves the IR alone."""
    code = ("import sys, netc; ir = netc.loads('input 8x8 RGB\\nconv3-4 as a\\nFC-2 as b\\n'); "
            "assert 'networkx' not in sys.modules; import networkx as nx; g = ir.graph; "
            "assert isinstance(g, nx.DiGraph) and list(nx.topological_sort(g)) == ['input', 'a', 'b']; "
            "assert g.edges['a', 'b']['shape'] == (4, 8, 8) and g.nodes['a']['node'] is ir.node('a'); "
            "assert ir.graph is g; g.add_edge('b', 'a'); assert ir.g.pred['a'].keys() == {'input'}; "
            "ir.g.add_edge('b', 'a'); assert ir.graph is not g and not nx.is_directed_acyclic_graph(ir.graph); "
            "assert ir.g.pred['a'].keys() == {'input', 'b'} and not ir.g.is_acyclic()")
    _passes(code)


def _passes(code: str) -> None:
    """Python ``code`` runs to its end in a fresh process (its asserts hold)."""
    proc = subprocess.run([sys.executable, "-c", code + "\nprint('ok')"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_the_program_exits_quickly_with_all_its_output_and_its_code(tmp_path):
    """`netc check` / `table` end the process without the interpreter's teardown: what they
    printed is all there (flushed first) and the exit status is main()'s."""
    bad = tmp_path / "bad.net"
    bad.write_text("input 8x8 RGB\nconv3-4\nmaxpol\n")
    for argv, code in ((["table", "vgg"], 0), (["check", "specs/vgg.net", str(bad)], 1)):
        proc = subprocess.run([sys.executable, "-m", "netc.tools.cli", *argv], cwd=ROOT, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == code
        here = subprocess.run([sys.executable, "-c", "import sys; from netc.tools.cli import main; "
                               f"print('CODE', main({argv!r}))"], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert here.stdout == proc.stdout + f"CODE {code}\n" and here.stderr == proc.stderr
    assert "unknown layer 'maxpol'" in proc.stderr and proc.stdout.count("weight layers") == 7


def test_pydantic_still_validates_and_a_users_plugin_setting_is_kept(tmp_path):
    """With its plugin loader answered by netc, pydantic still validates (a bad parameter is
    reported); where the user names plugins to disable, pydantic's own loader is used."""
    bad = tmp_path / "bad.net"
    bad.write_text("input 8x8 RGB\nconv3-4\ndropout(p=2)\nFC-2\n")
    proc = subprocess.run([sys.executable, "-m", "netc.tools.cli", "check", str(bad)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1 and "dropout: p must be less than 1.0 (got 2)" in proc.stderr
    assert "importlib.metadata" not in imported("check", "specs/vgg.net")
    mods = imported("check", "specs/vgg.net", env=dict(os.environ, PYDANTIC_DISABLE_PLUGINS="some_plugin"))
    assert "importlib.metadata" in mods         # pydantic's own loader, which looks for the others


def test_import_netc_is_light_and_every_public_name_is_the_api_s():
    """``import netc`` imports no more than the package; each public name, asked for, is
    netc.api's, whatever submodules were imported before (none is named like one of them)."""
    code = ("import sys, pkgutil, importlib, netc\n"
            "assert [m for m in sys.modules if m.startswith('netc')] == ['netc'], sorted(sys.modules)\n"
            "assert 'pydantic' not in sys.modules and 'lark' not in sys.modules\n"
            "skip = ('netc.backends.torch', 'netc.importers', 'netc.tools.serve', 'netc.tools.lsp', 'netc.tools.commands', 'netc.specs')\n"
            "for m in pkgutil.walk_packages(netc.__path__, 'netc.'):\n"
            "    if not m.name.startswith(skip): importlib.import_module(m.name)\n"
            "import netc.api as api\n"
            "bad = [n for n in netc.__all__ if getattr(netc, n) is not getattr(api, n)]\n"
            "assert not bad, bad\n"
            "assert netc.load('vgg:A').params == 132863336 and callable(netc.limits) and callable(netc.program)\n")
    _passes(code)


@pytest.mark.parametrize("columns", [None, "50", "abc", "", "-3", "200"])
def test_the_help_is_as_wide_as_shutil_says(monkeypatch, columns):
    import shutil
    from netc.tools.cli import _columns
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert _columns() == shutil.get_terminal_size().columns
