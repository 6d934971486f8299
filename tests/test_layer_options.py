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
