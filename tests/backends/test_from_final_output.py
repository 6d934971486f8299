"""`from NAME`, `aux ... on NAME` and `outputs NAME` read NAME's final output: for a layer that
expands into several nodes (`conv3-4(bn=true, act=relu) as a` is a conv, a batch norm and its
activation), that is the output after the batch norm and the activation.

Oracle: a hand-written torch module (conv -> bn -> relu -> ...), with netc's module loaded from it."""
import pytest
import torch
from torch import nn

import netc
from netc.kinds import DEFAULT

# the kinds whose `bn=true` expands one layer into several nodes; a new one must join the cases below
EXPANDING = {k.kind for k in DEFAULT.kinds.values() if "bn" in getattr(k.Params, "model_fields", {})}


def test_every_expanding_kind_is_covered():
    assert EXPANDING == {"conv"}, "add a case for the new kind to this file"


class Ref(nn.Module):
    """conv3-4 + bn + relu, then global average pooling and a linear layer: what `from a` must read."""

    def __init__(self, scale=1.0):
        super().__init__()
        self.scale = scale
        self.conv, self.bn, self.fc = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.scale * torch.relu(self.bn(self.conv(x))).mean((2, 3)))


def _ref(scale=1.0):
    torch.manual_seed(0)
    ref = Ref(scale).eval()
    ref.bn.running_mean.uniform_(-1, 1)
    ref.bn.running_var.uniform_(0.5, 2)
    ref.bn.bias.data.uniform_(-1, 1)
    return ref


ADD = "add {\n    identity\n    from a\n}\n"


@pytest.mark.parametrize("text, scale", [
    ("input 8x8 RGB\nconv3-4(bn=true, act=relu) as a\nfrom a\ngap\nFC-3\n", 1.0),
    ("input 8x8 RGB\nconv3-4(bn=true, act=relu) as a\n" + ADD + "gap\nFC-3\n", 2.0),
    ("input 8x8 RGB\nblock b() {\n    conv3-4(bn=true, act=relu) as a\n" + ADD.replace("\n", "\n    ") +
     "\n}\nb()\ngap\nFC-3\n", 2.0),
])
def test_from_reads_the_final_output(text, scale):
    ref = _ref(scale)
    m = netc.compile(netc.loads(text)).eval()
    netc.load_weights(m, ref)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(m(x), ref(x), rtol=1e-5, atol=1e-6)


def test_aux_on_reads_the_final_output():
    ref = _ref()
    text = ("input 8x8 RGB\nconv3-4(bn=true, act=relu) as a\nconv3-4\ngap\nFC-3\n"
            "aux side on a weight 0.3 {\n    gap\n    FC-3\n}\n")
    m = netc.compile(netc.loads(text)).train()
    sd = m.state_dict()
    # the side output's FC is the reference's FC; the main path's own layers get their own values
    for k, v in ref.state_dict().items():
        dst = {"conv.weight": "a.weight", "conv.bias": "a.bias"}.get(k)
        if dst is None and k.startswith("bn."):
            dst = "a_bn." + k[3:]
        if k.startswith("fc."):
            dst = next(n for n in sd if n.startswith("side") and n.endswith(k[3:]))
        sd[dst] = v
    m.load_state_dict(sd)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        for mod in m.modules():   # side outputs run in training mode; the batch norm uses its statistics
            if isinstance(mod, nn.BatchNorm2d):
                mod.eval()
        out = m(x)
    side = out[1] if isinstance(out, (tuple, list)) else out["side"]
    torch.testing.assert_close(side, ref(x), rtol=1e-5, atol=1e-6)
