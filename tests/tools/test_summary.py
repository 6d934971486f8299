"""netc summary as torchinfo and better: a table that fits a screen (blocks and stages of a deep
network, ``--depth all`` for every layer), names relative to their block, trainable and frozen
parameters, memory of parameters and activations for a batch; ``--json`` keeps every layer."""
from __future__ import annotations

import json

import pytest

import netc
from netc import summary as S

from conftest import run_cli


def _table_rows(out: str) -> list[str]:
    lines = out.splitlines()
    rules = [i for i, l in enumerate(lines) if l.strip().startswith("---")]
    return lines[rules[0] + 1:rules[1]]


def test_a_deep_network_fits_a_screen_and_all_expands():
    short = run_cli("summary", "resnet50")
    assert short.returncode == 0, short.stderr
    rows = _table_rows(short.stdout)
    assert len(rows) <= S.SCREEN
    assert any(r.split()[0] == "layer_1" for r in rows)             # the stages
    assert any(r.split()[0] == "bottleneck_1" for r in rows)        # and their blocks
    assert "--depth all" in short.stdout
    full = run_cli("summary", "resnet50", "--depth", "all")
    assert len(_table_rows(full.stdout)) > 150
    assert "--depth all" not in full.stdout


def test_a_small_network_shows_every_layer():
    out = run_cli("summary", "vgg:D").stdout
    assert len(_table_rows(out)) == len(netc.load("vgg:D").layers())


def test_names_are_relative_to_their_block_and_indented():
    rows = S.tree(netc.load("resnet50"), None)
    names = [("  " * r.depth + r.name) for r in rows]
    assert "layer_1" in names and "  bottleneck_1" in names and "    conv1" in names
    assert not any("/" in r.name for r in rows)


def test_depth_rows_match_the_flat_rows():
    ir = netc.load("googlenet")
    flat = [r for r in S.rows(ir, 1)]
    tree = [r for r in S.tree(ir, 1)]
    assert [r.params for r in tree] == [r.params for r in flat]


def test_totals_and_memory():
    ir = netc.load("resnet50")
    t = S.totals(ir, batch=4)
    assert t["trainable"] == ir.params == 25_557_032 and t["frozen"] == 0
    assert t["buffers"] == 53_120                       # running mean and variance of every BN
    assert t["param_bytes"] == 4 * (ir.params + t["buffers"])
    one = S.totals(ir, batch=1)["activation_bytes"]
    assert t["activation_bytes"] == 4 * one
    out = run_cli("summary", "resnet50", "--batch", "4").stdout
    assert "25,557,032 trainable, 0 frozen" in out
    assert f"activations {t['activation_bytes'] / 1e6:,.2f} MB for a batch of 4" in out


def test_json_keeps_every_layer_and_adds_totals():
    d = json.loads(run_cli("summary", "resnet50", "--json").stdout)
    assert len(d["layers"]) == len(netc.load("resnet50").layers())
    assert d["layers"][3]["name"] == "layer_1/bottleneck_1/conv1"     # full names, as before
    for key in ("config", "params", "params_inference", "macs", "layers", "conventions"):
        assert key in d
    assert d["trainable"] == d["params"] and d["frozen"] == 0 and d["batch"] == 1
    assert d["param_bytes"] > 0 and d["activation_bytes"] > 0


@pytest.mark.parametrize("args,msg", [(["--depth", "0"], "--depth"), (["--depth", "x"], "--depth"),
                                      (["--batch", "0"], "--batch")])
def test_bad_depth_or_batch_is_a_usage_error(args, msg):
    p = run_cli("summary", "vgg:A", *args)
    assert p.returncode == 2 and msg in p.stderr and "Traceback" not in p.stderr


def test_notebook_html_has_the_totals_and_the_folded_rows():
    h = netc.load("vit_b_16")._repr_html_()
    assert "86,567,656" in h and "trainable / frozen" in h and "MB" in h
    assert "encoder_block ×12" in h and h.count("multi-head attention") == 0
    small = netc.loads("input 8x8 RGB\nconv3-4\ngap\nFC-2\n")._repr_html_()
    assert small.startswith("<div") and small.count("<table") == 2
