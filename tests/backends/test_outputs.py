"""Several named outputs (`outputs a, b as KEY`): the compiled module returns a dict of them, in
order, in every mode; exports have one graph output per key; every tool lists them.

Oracle: a hand-written torch module returning the same intermediate maps, loaded into netc's."""
import json
import subprocess
import sys

import pytest
import torch
from torch import nn

import netc
from netc.dsl.errors import NetcError

SPEC = """input 32x32 RGB
conv3-8 as c1
maxpool
conv3-16(bn=true) as c2
maxpool
conv3-32(act=none) as c3
outputs c1, c2 as mid, c3
"""


class Ref(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.bn, self.c3 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 16, 3, padding=1), \
            nn.BatchNorm2d(16), nn.Conv2d(16, 32, 3, padding=1)

    def forward(self, x):
        a = torch.relu(self.c1(x))
        b = torch.relu(self.bn(self.c2(nn.functional.max_pool2d(a, 2))))
        return {"c1": a, "mid": b, "c3": self.c3(nn.functional.max_pool2d(b, 2))}


def _pair():
    torch.manual_seed(0)
    ref = Ref().eval()
    ref.bn.running_mean.uniform_(-1, 1)
    ref.bn.running_var.uniform_(0.5, 2)
    m = netc.compile(netc.loads(SPEC)).eval()
    netc.load_weights(m, ref)
    return ref, m


def test_outputs_are_a_dict_in_order_equal_to_the_reference():
    ref, m = _pair()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        got, want = m(x), ref(x)
    assert list(got) == ["c1", "mid", "c3"]
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=1e-5, atol=1e-6)
    m.train()
    assert list(m(x)) == ["c1", "mid", "c3"]


def test_counts_and_shapes():
    ir = netc.loads(SPEC)
    assert ir.params == sum(p.numel() for p in Ref().parameters())
    assert ir.output_shapes == {"c1": (8, 32, 32), "mid": (16, 16, 16), "c3": (32, 8, 8)}
    assert ir.output_shape == (8, 32, 32)   # the first


def test_side_outputs_stay_training_heads_beside_the_outputs():
    text = SPEC + "aux side on c1 weight 0.5 {\n    gap\n    FC-4\n}\n"
    m = netc.compile(netc.loads(text))
    x = torch.randn(1, 3, 32, 32)
    outs, side = m.train()(x)
    assert list(outs) == ["c1", "mid", "c3"] and side.shape == (1, 4)
    assert list(m.eval()(x)) == ["c1", "mid", "c3"]


def test_torch_export_and_onnx_have_one_output_per_key(tmp_path):
    pytest.importorskip("onnx")
    import onnx
    m = netc.compile(netc.loads(SPEC))
    from netc.backends.torch.export import export
    export(m, tmp_path / "o.onnx")
    assert [o.name for o in onnx.load(str(tmp_path / "o.onnx")).graph.output] == ["c1", "mid", "c3"]
    ep = torch.export.export(m.eval(), (torch.randn(1, 3, 32, 32),))
    assert len(ep.graph_signature.user_outputs) == 3


def test_every_tool_lists_the_outputs(tmp_path):
    f = tmp_path / "o.net"
    f.write_text(SPEC)
    run = lambda *a: subprocess.run([sys.executable, "-m", "netc.tools.cli", *a], capture_output=True, text=True)
    js = json.loads(run("summary", str(f), "--json").stdout)
    assert [(o["key"], o["layer"], o["shape"]) for o in js["outputs"]] == \
        [("c1", "c1", [8, 32, 32]), ("mid", "c2_bn", [16, 16, 16]), ("c3", "c3", [32, 8, 8])]
    text = run("summary", str(f)).stdout
    assert "3 outputs" in text and "outputs: c1 8x32x32, mid 16x16x16 (c2_bn), c3 32x8x8" in text
    assert "3 outputs" in run("check", str(f)).stdout
    assert "outputs c1 (c1, 8x32x32)" in run("table", str(f)).stdout
    from netc.visualize import to_dot
    dot = to_dot(netc.loads(SPEC))
    assert dot.count('"output:') >= 6     # three boxes and three edges
    g = tmp_path / "g.net"
    g.write_text(SPEC.replace("outputs c1, c2 as mid, c3", "outputs c2 as mid, c3"))
    assert "outputs c1, mid, c3 -> outputs mid, c3" in run("diff", str(f), str(g)).stdout


@pytest.mark.parametrize("tail, message", [
    ("outputs c1, cx\n", "output 'cx': no layer or block is named 'cx'"),
    ("outputs c1, c3 as c1\n", "two outputs are called 'c1'"),
    ("outputs c1\noutputs c3\n", "outputs is declared twice"),
])
def test_errors_point_at_the_name(tail, message):
    text = SPEC.rsplit("outputs", 1)[0] + tail
    with pytest.raises(NetcError) as e:
        netc.loads(text)
    assert message in str(e.value)
    assert "does not reach any output" not in str(e.value)


def test_outputs_belong_in_a_configuration():
    with pytest.raises(NetcError, match="outputs belong in a configuration"):
        netc.loads("input 8x8 RGB\nblock b() {\n    conv3-4 as a\n    outputs a\n}\nb()\n")


def test_fmt_round_trip():
    from netc.dsl.fmt import format_text
    assert format_text("input 8x8 RGB\nconv3-4 as a\nconv3-4 as b\noutputs   a,b as x\n") == \
        "input 8x8 RGB\nconv3-4 as a\nconv3-4 as b\noutputs a, b as x\n"


BASE = """input 32x32 RGB
defaults conv(bn=true, act=relu)
config A {
    conv3-16/2 as st
    conv1-8 as head2
    from st
    conv3-8/2 as head3
    outputs head2, head3
}
"""


def test_removing_a_listed_output_is_an_error_not_another_tensor():
    """`remove head2` takes conv(bn=true)'s batch norm with it, so outputs head2 names nothing."""
    with pytest.raises(NetcError, match="output 'head2': no layer or block is named 'head2'"):
        _config(BASE + "config C extends A {\n    remove head2\n}\n", "C")


def _config(text, name):
    from netc.elaborate.specfile import Program
    from netc.api import build_config
    return build_config(Program.from_text(text), name)


def test_a_layer_of_a_side_output_cannot_be_an_output():
    text = "input 8x8 RGB\nconv3-4 as a\naux side on a weight 0.3 {\n    conv1-2 as sh\n}\noutputs a, sh\n"
    with pytest.raises(NetcError, match="part of a side output"):
        netc.loads(text)


def test_diff_of_reordered_outputs_is_one_change_named_outputs():
    from netc.diff import diff
    a = _config(BASE, "A")
    e = _config(BASE + "config E extends A {\n    outputs head3, head2 as h2\n}\n", "E")
    d = diff(a, e)
    [edit] = d.edits
    assert edit.old.name == edit.new.name == "outputs" and ("outputs", "head2, head3", "head3, h2") in edit.changes
