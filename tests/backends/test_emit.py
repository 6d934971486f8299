"""Each stage printed (netc check --emit ast|ir|torch), against golden files looked at by a person."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import golden, run_cli

HERE = Path(__file__).resolve().parents[1] / "emit"


@pytest.mark.parametrize("stage", ["ast", "ir", "torch"])
def test_emit_stage(stage):
    if stage == "torch":
        pytest.importorskip("torch")
    r = run_cli("check", "--emit", stage, "residual.net", cwd=HERE)
    assert r.returncode == 0, r.stderr
    golden(HERE / f"residual.{stage}.txt", r.stdout)


def test_emit_ir_shows_what_the_passes_found():
    r = run_cli("check", "--emit", "ir", "residual.net", cwd=HERE)
    lines = r.stdout.splitlines()
    # the residual of the second unit changes the channels: its shortcut is left out
    assert any(l.startswith("%unit_1/residual = residual(%unit_1/conv1_2, %stem)") and "shortcut=True" in l
               for l in lines)
    assert any(l.startswith("%unit_2/residual") and "shortcut=False" in l for l in lines)
    assert lines[-1] == "return %fc2"
