"""Kind.spell: every kind writes any of its layers as text of the language that gives the same
parameters back: the paper word, plus by keyword what the word does not say.

Oracle: the language's own front end and elaboration (netc.loads) reading the spelled text."""
from pathlib import Path

import pytest

import netc
from netc.kinds import DEFAULT
from netc.kinds.spell import SpellError, literal, read, spell

ROWS = [l.split(";")[0].strip() for l in (Path(__file__).parent / "fixtures.txt").read_text().splitlines()
        if l.strip() and not l.startswith("#")]
INPUTS = {l.split(";")[0].strip(): l.split(";")[1].strip() for l in
          (Path(__file__).parent / "fixtures.txt").read_text().splitlines() if l.strip() and not l.startswith("#")}


def _layers(row: str):
    """The layers of a fixture row as netc reads them (joins written inline are skipped)."""
    if "{" in row:
        return []
    dims = INPUTS[row].split("x")
    head = f"input {dims[1]}x{dims[2]} {dims[0]}ch" if len(dims) == 3 else f"input tokens {dims[0]}"
    try:
        ir = netc.loads(head + "\n" + row.replace(" -> ", "\n") + "\n")
    except netc.NetcError:
        return []
    return [n for n in ir.layers() if n.params is not None]


@pytest.mark.parametrize("row", ROWS)
def test_every_kind_spells_its_fixture_layers_back(row):
    layers = _layers(row)
    for n in layers:
        text = n.layer_kind.spell(n.params)
        kind, params = read(DEFAULT, text)
        assert kind.kind == n.kind and params == n.params, (row, text)
    if layers and layers[0].kind != "bn":       # the language itself reads the first one back the same
        first = layers[0]
        dims = INPUTS[row].split("x")
        head = f"input {dims[1]}x{dims[2]} {dims[0]}ch" if len(dims) == 3 else f"input tokens {dims[0]}"
        again = netc.loads(f"{head}\n{first.layer_kind.spell(first.params)}\n").layers()[0]
        assert (again.kind, again.params) == (first.kind, first.params)


@pytest.mark.parametrize("text, want", [
    ("conv3-64/2(pad=0, bias=false)", "conv3-64/2(pad=0, bias=false)"),
    ("conv(out=64, k=3, stride=2, pad=0, bias=false, groups=1)", "conv3-64/2(pad=0, bias=false)"),
    ("maxpool(k=3, stride=2, ceil=true)", "maxpool3/2(ceil)"),
    ("conv3-8(dilation=2, act=none)", "conv3-8(dilation=2, act=none)"),
    ("bn(eps=0.001, momentum=0.01)", "BN(eps=0.001, momentum=0.01)"),
    ("FC-10(bias=false)", "FC-10(bias=false)"),
])
def test_the_shortest_word_and_only_what_it_does_not_say(text, want):
    tail = "" if text.startswith("FC") else "gap\nFC-2\n"
    n = netc.loads(f"input 16x16 RGB\n{text}\n{tail}").layers()[0]
    assert n.layer_kind.spell(n.params) == want


def test_a_name_in_place_of_a_value():
    n = netc.loads("input 16x16 RGB\nconv3-64/2(bias=false)\n").layers()[0]
    assert n.layer_kind.spell(n.params, names={"out": "c"}) == "conv3-c/2(bias=false)"


def test_literals_round_trip():
    assert [literal(v) for v in (True, 3, 0.5, 1e-5, 1 / 3, [3, 5], "bilinear")] == \
        ["true", "3", "0.5", "1e-05", repr(1 / 3), "[3, 5]", "bilinear"]
    assert float(literal(1 / 3)) == 1 / 3


def test_a_parameter_no_text_gives_back_is_refused():
    kind = DEFAULT["conv"]
    bad = kind.Params.model_construct(**{**kind.Params(out=8).model_dump(), "k": (3, 0)})
    with pytest.raises(SpellError):
        spell(kind, bad)
