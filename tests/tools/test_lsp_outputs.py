"""The language server on ``outputs a, b as KEY``: go-to-definition on a name finds the layer it
returns, hover describes that layer, and the statement raises no diagnostics."""
from __future__ import annotations

import pytest

pytest.importorskip("lsprotocol")

from lsprotocol import types as T  # noqa: E402

from netc.tools.lsp.analysis import analyse  # noqa: E402
from netc.tools.lsp.hover import hover  # noqa: E402
from netc.tools.lsp.navigate import definition  # noqa: E402

TEXT = """\
input 32x32 RGB
conv3-8 as c1
maxpool
conv3-16 as c2
outputs c1, c2 as deep
"""


def at(a, line: int, col: int):
    return a.pos(T.Position(line - 1, col - 1))


def test_definition_and_hover_of_an_output():
    a = analyse("file:///tmp/outputs.net", TEXT, 1)
    assert a.diagnostics == []
    (loc,) = definition(a, at(a, 5, 14))              # on c2
    assert loc.range.start.line == 3
    h = hover(a, at(a, 5, 9))                          # on c1
    assert h is not None and "conv3-8" in h.contents.value


def test_a_misnamed_output_is_a_diagnostic_at_the_name():
    a = analyse("file:///tmp/outputs.net", TEXT.replace("outputs c1, c2", "outputs c1, c3"), 1)
    (d,) = a.diagnostics
    assert "no layer or block is named 'c3'" in d.message and (d.range.start.line, d.range.start.character) == (4, 12)


def test_table_and_render_take_input(tmp_path):
    """netc table and netc render evaluate an H x W network at --input, as summary does."""
    import subprocess
    import sys
    f = tmp_path / "any.net"
    f.write_text("input HxW RGB\nconv3-8/2 as a\nconv3-8 as b\noutputs a, b\n")
    run = lambda *a: subprocess.run([sys.executable, "-m", "netc.tools.cli", *a], capture_output=True, text=True)
    t = run("table", str(f), "--input", "3x64x64")
    assert t.returncode == 0 and "32×32×8" in t.stdout and "811K" in t.stdout
    d = run("render", str(f), "--input", "64x64", "--shapes", "-o", "-")
    assert d.returncode == 0 and "8×32×32" in d.stdout
    bad = run("table", str(f), "--input", "1x64x64")
    assert bad.returncode != 0 and "--input gives 1 channel, but main takes 3" in bad.stderr
