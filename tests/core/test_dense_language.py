"""The language of issue 24 (no torch): frozen batch norm as a kind and as conv(bn=frozen), residual { }
saying which instances add their shortcut and residual(required) refusing a mismatch with a span.
Oracles: torchvision's counts (its InvertedResidual's use_res_connect over mobilenet_v2, mnasnet1_0,
mobilenet_v3_small; resnet50's parameters and batch norms), and the spans of the written text."""
from __future__ import annotations

import textwrap

import pytest

import netc
from netc import summary as S
from netc.dsl.errors import NetcError
from netc.elaborate.resolve import resolve
from netc.passes import build

from conftest import ROOT, run_cli


def _errors(text: str) -> list:
    with pytest.raises(NetcError) as e:
        netc.loads(textwrap.dedent(text))
    return getattr(e.value, "errors", [e.value])


# ------------------------------------------------------------------ frozen batch norm
def test_conv_bn_frozen_expands_into_a_conv_and_a_frozen_batch_norm():
    ir = netc.loads("input 8x8 RGB\nconv3-8(bias=false, bn=frozen, bn_eps=0.001) as a\ngap\nFC-3\n")
    a, bn = ir.node("a"), ir.node("a_bn")
    assert (a.kind, bn.kind, bn.params.eps, bn.paper) == ("conv", "frozen-bn", 0.001, "FrozenBN(eps=0.001)")
    assert (a.act, bn.act, bn.n_params) == ("none", "relu", 0)       # the ReLU goes after the norm, as bn=true
    assert ir.params == 3 * 8 * 9 + 8 * 3 + 3                          # no parameters for the norm
    assert S.totals(ir)["buffers"] == S.totals(ir)["frozen_bn_buffers"] == 4 * 8


def test_defaults_conv_bn_frozen_freezes_every_batch_norm_of_resnet50():
    """torchvision's resnet50(norm_layer=FrozenBatchNorm2d): 25,557,032 - 53,120 parameters, and
    53,120 / 2 channels x 4 buffers."""
    src = (ROOT / "specs" / "resnet.net").read_text()
    src += "\nconfig frozen extends resnet50 {\n    defaults conv(bias=false, bn=frozen)\n}\n"
    plain = build(resolve(netc.Program.from_text(src, "resnet.net"), "resnet50"))
    frozen = build(resolve(netc.Program.from_text(src, "resnet.net"), "frozen"))
    assert plain.params == 25_557_032 and S.totals(plain)["buffers"] == 53_120
    assert frozen.params == 25_557_032 - 53_120 and S.totals(frozen)["frozen_bn_buffers"] == 2 * 53_120 == 106_240


def test_a_wrong_bn_value_is_an_error_at_its_argument():
    (e,) = _errors("input 8x8 RGB\nconv3-8(bn=froze)\ngap\nFC-3\n")
    assert "bn must be true, false or frozen (got froze)" in e.message
    assert (e.span.line, e.span.col) == (2, 9)


def test_frozen_bn_takes_no_momentum():
    (e,) = _errors("input 8x8 RGB\nconv3-8\nfrozen-bn(momentum=0.1)\ngap\nFC-3\n")
    assert "no parameter 'momentum'" in e.message and e.span.line == 3


# ------------------------------------------------------------------ residual { }
@pytest.mark.parametrize("ref,added,total", [("mobilenet:mobilenet_v2", 10, 17), ("mnasnet:mnasnet1_0", 10, 16),
                                             ("mobilenet:mobilenet_v3_small", 6, 11)])
def test_which_residuals_add_their_shortcut_is_torchvisions(ref, added, total):
    """torchvision: sum(b.use_res_connect) over the InvertedResidual blocks (apply_residual in MnasNet)."""
    ir = netc.load(ref)
    yes, no = S.residuals(ir)
    assert (len(yes), len(yes) + len(no)) == (added, total)
    rows = {r.name: r.layer for r in S.rows(ir)}
    assert all(rows[n.name] == "residual + shortcut" for n in yes)
    assert all(rows[n.name].startswith("residual (no shortcut: ") for n in no)
    text = S.to_text(ir)
    assert f"residual: {added} of {total} add their shortcut; {total - added} leave it out" in text


RES = """\
input 16x16 RGB
conv3-8
residual {
    conv3-16
}
residual {
    conv3-16/2
}
residual {
    conv3-16
}
gap
FC-3
"""


def test_summary_and_check_say_which_instances_add_the_shortcut(tmp_path):
    ir = netc.loads(RES)
    rows = {r.name: r.layer for r in S.rows(ir)}
    assert rows["residual"] == "residual (no shortcut: 8x16x16 -> 16x16x16)"        # channels differ
    assert rows["residual_2"] == "residual (no shortcut: 16x16x16 -> 16x8x8)"       # the stride
    assert rows["residual_3"] == "residual + shortcut"
    assert ir.params == (3 * 9 + 1) * 8 + (8 * 9 + 1) * 16 + 2 * (16 * 9 + 1) * 16 + 16 * 3 + 3
    d = S.to_dict(ir)
    assert d["residuals"] == {"shortcut": ["residual_3"], "no_shortcut": ["residual", "residual_2"]}
    p = tmp_path / "res.net"
    p.write_text(RES)
    out = run_cli("check", str(p))
    assert out.returncode == 0 and "shortcut in 1 of 3 residuals" in out.stdout


def test_residual_required_refuses_a_mismatch_at_the_residual():
    (e,) = _errors(RES.replace("residual {\n    conv3-16\n}\nresidual {\n    conv3-16/2",
                               "residual(required) {\n    conv3-16\n}\nresidual {\n    conv3-16/2", 1))
    assert e.message.startswith("residual(required): the shortcut cannot be added, the body and the input "
                                "disagree in channels")
    assert "16x16x16" in e.message and "8x16x16" in e.message
    assert (e.span.line, e.span.col) == (3, 1) and "without (required)" in e.hint


STACK = """\
input 32x32 RGB
block mb(cin, c, s) {
    let hidden = cin * 3
    residual(required = s == 1) {
        conv1-hidden(bn=true)
        conv3-hidden/s(groups=hidden, bn=true)
        conv1-c(bn=true, act=none)
    }
}
block stack(cin, c, n, s) {
    mb(cin, c, s)
    mb(c, c, 1) x(n-1)
}
conv3-16/2(bn=true)
stack(16, 24, 3, 2)
gap
FC-10
"""


def test_required_as_an_expression_catches_a_wrong_channel_count_in_a_stack():
    """MnasNet's mistake: a repeated block given the wrong width silently lost its shortcuts."""
    ir = netc.loads(STACK)
    assert [len(x) for x in S.residuals(ir)] == [2, 1]              # the strided first block has none
    (e,) = _errors(STACK.replace("mb(c, c, 1) x(n-1)", "mb(c, cin, 1) x(n-1)"))
    assert "disagree in channels" in e.message and "16x8x8" in e.message and "24x8x8" in e.message
    assert e.span.line == 4
    loose = STACK.replace("residual(required = s == 1)", "residual").replace("mb(c, c, 1) x(n-1)",
                                                                            "mb(c, cin, 1) x(n-1)")
    assert [len(x) for x in S.residuals(netc.loads(loose))] == [1, 2]   # what exit 0 hid: one shortcut of three


# ------------------------------------------------------------------ follow-on errors
TYPO_ON_B9 = """\
input 32x32 RGB
conv3-8
conv3-8(groupz=2) as b9
conv3-8
add {
    identity
    from b9
}
gap
FC-3
"""


def test_an_error_caused_by_an_earlier_error_is_not_reported_before_it():
    """Today's cause and effects: the typo drops the line naming b9; 'from b9', the add's shapes and the
    layers that no longer reach the output follow from it and would be listed around it."""
    errs = _errors(TYPO_ON_B9)
    assert [(e.span.line, e.message) for e in errs] == [(3, "conv has no parameter 'groupz'")]
    fixed = netc.loads(TYPO_ON_B9.replace("groupz", "groups"))       # and the rest was fine
    assert fixed.node("b9").params.groups == 2


def test_an_unrelated_error_before_the_first_elaboration_error_is_kept():
    errs = _errors("input 32x32 RGB\nvar n = 4\nconv3-16(groups=n)\nconv(out=10, k=3, groups=4)\nFC-10\n")
    assert [e.span.line for e in errs] == [3, 4]
    assert "input channels (3) are not divisible by groups (4)" in errs[0].message


def test_a_wrong_from_name_alone_is_still_reported():
    (e,) = _errors("input 32x32 RGB\nconv3-8 as b9\nconv3-8\nadd {\n    identity\n    from b8\n}\ngap\nFC-3\n")
    assert "'from b8': no earlier layer is named 'b8'" in e.message and e.span.line == 6   # not the add's shapes


def test_generated_names_in_messages_say_what_and_where():
    (e,) = _errors("input 32x32 RGB\nconv3-16\nadd {\n  conv3-32\n  identity\n}\nFC-10\n")
    assert e.message == ("add inputs disagree in channels: conv1_2 gives 32x32x32, identity (line 5) gives "
                         "16x32x32")
    (e,) = _errors("input 32x32 RGB\nblock r(c) {\n    add {\n        conv3-c\n        identity\n    }\n}\n"
                   "conv3-16\nr(32)\nFC-10\n")
    assert "identity (line 5, in r_1) gives 16x32x32" in e.message
