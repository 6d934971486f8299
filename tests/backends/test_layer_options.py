"""Keyword options map onto the PyTorch module's own arguments (oracle: torch.nn.functional)."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

import netc  # noqa: E402


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv_padding_mode(mode):
    torch.manual_seed(0)
    m = netc.compile(netc.loads(f"input 8x8 RGB\nconv3-4(padding_mode={mode}, act=none) as c\n")).eval()
    conv = m.get_submodule("c")
    x = torch.randn(2, 3, 8, 8)
    pad = F.pad(x, (1, 1, 1, 1), mode="constant" if mode == "zeros" else mode)
    want = F.conv2d(pad, conv.weight, conv.bias)
    with torch.no_grad():
        assert torch.allclose(m(x), want, atol=1e-6)


def test_unknown_padding_mode_is_a_spec_error():
    [e] = netc.check("input 8x8 RGB\nconv3-4(padding_mode=mirror)\n", "p.net")
    assert "padding_mode must be one of" in e.message and e.span.line == 2


# act=auto steps aside where the writer spells the activation out (ResNet is written conv, BN, ReLU)
SPELLED_OUT = {
    "conv3-4\nrelu": lambda m, x: F.relu(m.conv1_1(x)),
    "conv3-4\nbn\nrelu": lambda m, x: F.relu(m.bn1_1(m.conv1_1(x))),
    "conv3-4\nbn": lambda m, x: F.relu(m.bn1_1(m.conv1_1(x))),          # as conv3-4(bn=true)
    "conv3-4\nbn(act=none)": lambda m, x: m.bn1_1(F.relu(m.conv1_1(x))),  # an explicit act is kept
    "conv3-4\nsigmoid": lambda m, x: torch.sigmoid(m.conv1_1(x)),
    "conv3-4": lambda m, x: F.relu(m.conv1_1(x)),
}


@pytest.mark.parametrize("body", sorted(SPELLED_OUT), ids=lambda b: b.replace("\n", " / "))
def test_auto_activation_where_the_spec_spells_it_out(body):
    torch.manual_seed(0)
    spec = f"input 8x8 RGB\n{body}\nconv3-2(act=none) as head\n"
    m = netc.compile(netc.loads(spec)).eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        want = m.head(SPELLED_OUT[body](m, x))
        assert torch.allclose(m(x), want, atol=1e-6)


def test_no_double_relu():
    """ReLU twice computes the same thing once, so check the IR: the conv hands the job over."""
    ir = netc.loads("input 8x8 RGB\nconv3-4\nrelu\nconv3-4\nbn\nconv3-2\n")
    assert [(n.kind, n.act) for n in ir.layers()] == [
        ("conv", "none"), ("relu", "none"), ("conv", "none"), ("bn", "relu"), ("conv", "none")]


def test_summary_shows_what_the_word_does_not_say():
    """groups, dilation and padding_mode change the weights or the reach: the layer's text shows
    them as a spec writes them, and that text parses back to the same layer."""
    for text in ("conv5-256(groups=2)", "conv3-64(dilation=2)", "conv3-8(padding_mode=reflect)",
                 "conv3-64/2", "conv3-64(dilation=2, groups=4, padding_mode=circular)"):
        ir = netc.loads(f"input 32x32 RGB\nconv3-64\n{text}\n")
        shown = ir.layers()[-1].paper
        again = netc.loads(f"input 32x32 RGB\nconv3-64\n{shown}\n").layers()[-1]
        assert again.params == ir.layers()[-1].params, (text, shown)
    assert netc.load("alexnet").node("conv2").paper == "conv5-256(groups=2)"


@pytest.mark.parametrize("region", ["across", "within"])
def test_lrn_runs_in_bfloat16_on_cpu(region):
    """PyTorch's LRN has no CPU kernel for bfloat16; netc's computes it in float32 and casts back."""
    spec = f"input 16x16 RGB\nconv3-8\nLRN(size=3, region={region})\ngap\nFC-4\n"
    torch.manual_seed(0)
    m32 = netc.compile(netc.loads(spec)).eval()
    m16 = netc.compile(netc.loads(spec), dtype=torch.bfloat16).eval()
    netc.load_weights(m16, m32.state_dict())
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        out = m16(x.bfloat16())
    assert out.dtype == torch.bfloat16
    assert torch.allclose(out.float(), m32(x), atol=5e-2, rtol=5e-2)
