"""Every --json output is valid JSON whatever numbers netc computed: a receptive-field stride that an
upsampling makes a fraction (4/3), symbolic sizes of an ``input HxW`` spec. One writer,
:mod:`netc.jsonout`, for summary, diff and list."""
from __future__ import annotations

import json
from fractions import Fraction

import netc
from netc import jsonout, summary as S

from conftest import run_cli

FRACTIONAL = "input 64x64 RGB\nconv3-8/2\nmaxpool\nupsample(3)\n"
SYMBOLIC = "input HxW RGB\nconv3-8/2\nmaxpool\nupsample(3)\ngap\nFC-3\n"


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_summary_json_after_an_upsample_that_makes_a_fractional_stride(tmp_path):
    p = run_cli("summary", _write(tmp_path, "frac.net", FRACTIONAL), "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    ir = netc.loads(FRACTIONAL)
    size, stride = ir.node("up1_1").rf
    assert stride == Fraction(4, 3)                      # the oracle: the IR's exact stride
    up = [r for r in d["layers"] if r["name"] == "up1_1"][0]
    assert up["rf"] == [size, float(Fraction(4, 3))] and up["out_shape"] == [8, 48, 48]
    assert [r["rf"] for r in d["layers"][:2]] == [[3, 2], [5, 4]]    # whole strides stay integers
    assert all(isinstance(v, int) for v in d["layers"][1]["rf"])


def test_summary_json_of_a_symbolic_input(tmp_path):
    p = run_cli("summary", _write(tmp_path, "sym.net", SYMBOLIC), "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    ir = netc.loads(SYMBOLIC)
    assert d["input"] == [3, "H", "W"]
    for row in d["layers"]:                              # each size as the IR writes it
        node = ir.node(row["name"])
        shape = node.shape if node.shape is not None else node.sym_shape
        assert row["out_shape"] == [v if isinstance(v, int) else str(v) for v in shape]
    assert d["layers"][2]["out_shape"][1] == "3*((H+1)/4)"
    assert d["any_size"] is True and d["output"] == [3]


def test_to_dict_is_plain_json_for_the_playground():
    d = S.to_dict(netc.loads(FRACTIONAL))
    assert json.loads(json.dumps(d, allow_nan=False)) == d          # no Fraction, no Sym left inside


def test_diff_and_list_json_are_valid(tmp_path):
    a = _write(tmp_path, "a.net", FRACTIONAL)
    b = _write(tmp_path, "b.net", FRACTIONAL.replace("upsample(3)", "upsample(3)\nconv3-4"))
    p = run_cli("diff", a, b, "--json")
    d = json.loads(p.stdout)
    assert [e["op"] for e in d["edits"]][-1] == "add"
    p = run_cli("list", "vgg", "--json")
    assert p.returncode == 0
    rows = {r["name"]: r["params"] for r in json.loads(p.stdout)}
    assert rows["vgg:D"] == 138_357_544                   # torchvision's vgg16


def test_the_writer_itself():
    assert json.loads(jsonout.dumps({"s": (1, Fraction(1, 2)), "n": float("inf"), 3: {4}})) == \
        {"s": [1, 0.5], "n": None, "3": [4]}
