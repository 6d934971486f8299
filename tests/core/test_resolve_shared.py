"""Resolve validates identical layer parameters once per file (for all its configurations) and
shares the (frozen) model: nothing a spec can see may change by it."""
from __future__ import annotations

from pydantic import ConfigDict

import netc
from netc.elaborate.resolve import _values_key


def test_identical_layers_share_one_model():
    ir = netc.loads("input 8x8 RGB\nconv3-8\nrelu\nconv3-8\nconv3-8(stride=1)\nFC-2\n")
    a, b, c = ir.node("conv1_1"), ir.node("conv1_2"), ir.node("conv1_3")
    assert a.params is b.params
    assert c.params is not a.params and c.params == a.params.model_copy(update={"stride": 1})
    assert a.params.model_fields_set == {"out", "k"} and c.params.model_fields_set == {"out", "k", "stride"}


def test_each_bad_layer_is_reported_at_its_place():
    errors = netc.check("input 8x8 RGB\nconv3-8(stride=0)\nconv3-8(stride=0)\n"
                        "conv3-8(stride=2147483648)\nconv3-8(stride=2147483648)\nFC-2\n")
    assert [(e.message, e.span.line) for e in errors] == [
        ("conv3-8: stride must be at least 1 (got 0)", 2),
        ("conv3-8: stride must be at least 1 (got 0)", 3),
        ("conv3-8: stride must be at most 2,147,483,647 (got 2147483648)", 4),
        ("conv3-8: stride must be at most 2,147,483,647 (got 2147483648)", 5)]


def test_values_that_python_calls_equal_are_kept_apart():
    ir = netc.loads("input 8x8 RGB\nconv3-8\ndropout(p=0.0)\ndropout(p=-0.0)\nFC-2\n")
    p1, p2 = (n.params.p for n in ir.nodes() if n.kind == "dropout")
    assert (repr(p1), repr(p2)) == ("0.0", "-0.0")
    conv = netc.kinds.DEFAULT["conv"].Params
    keys = {_values_key(conv, {"out": 8, "bias": v}) for v in (1, 1.0, True)}
    assert len(keys) == 3


def test_a_model_that_is_not_frozen_is_not_shared():
    class Open(netc.kinds.params.Params):
        model_config = ConfigDict(frozen=False)
        a: int = 1

    assert _values_key(Open, {"a": 1}) is None
    assert _values_key(netc.kinds.DEFAULT["conv"].Params, {"out": 8, "k": [3, 5], "x": object()}) is None


def test_configurations_of_a_file_share_models_and_keep_their_errors():
    prog = netc.program("vgg")
    a, e = netc.build_config(prog, "A"), netc.build_config(prog, "E")
    assert a.node("conv1_1").params is e.node("conv1_1").params
    assert a.node("fc8").params is e.node("fc8").params
    assert netc.build_config(prog, "A", num_classes=20).node("fc8").params.out == 20      # other values: its own
    assert a.node("fc8").params.out == 1000
    errors = netc.check("input 8x8 RGB\ntable A | B {\n  conv3-8(stride=0) | conv3-8(stride=0)\n  FC-2\n}\n")
    assert [(e.message, e.span.line, e.span.col) for e in errors] == [
        ("conv3-8: stride must be at least 1 (got 0)", 3, 11), ("conv3-8: stride must be at least 1 (got 0)", 3, 31)]
