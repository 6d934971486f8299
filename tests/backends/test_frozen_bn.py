"""Frozen batch norm (``frozen-bn``, ``conv(bn=frozen)``): torchvision's FrozenBatchNorm2d, whose
statistics and affine are buffers. The oracle is a hand-written module with torchvision's layout (four
buffers per channel: weight, bias, running_mean, running_var) that normalises by the textbook formula,
and torch's own counts of the compiled module."""
from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import netc  # noqa: E402
from netc import summary as S  # noqa: E402
from netc.elaborate.resolve import resolve  # noqa: E402
from netc.passes import build  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SPEC = "input 12x12 RGB\nconv3-8(bias=false, bn=frozen)\nconv3-16/2(bias=false)\nfrozen-bn\ngap\nFC-5\n"


class RefFrozenBN(nn.Module):
    """torchvision's FrozenBatchNorm2d's buffers, normalising as the definition says."""

    def __init__(self, c: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        for name, v in (("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)):
            self.register_buffer(name, torch.full((c,), v))

    def forward(self, x):
        v = lambda t: t[None, :, None, None]  # noqa: E731
        return (x - v(self.running_mean)) / torch.sqrt(v(self.running_var) + self.eps) * v(self.weight) + v(self.bias)


class Ref(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 8, 3, padding=1, bias=False), RefFrozenBN(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), RefFrozenBN(16)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.fc(x.mean((2, 3)))


def _random_ref(seed=0) -> Ref:
    torch.manual_seed(seed)
    ref = Ref().eval()
    with torch.no_grad():
        for bn in (ref.bn1, ref.bn2):
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
            bn.running_mean.uniform_(-0.3, 0.3)
            bn.running_var.uniform_(0.5, 2.0)
    return ref


def test_counts_are_torchs_no_parameters_four_buffers_per_channel():
    ir = netc.loads(SPEC)
    m = netc.compile(ir)
    ref = Ref()
    assert ir.params == sum(p.numel() for p in m.parameters()) == sum(p.numel() for p in ref.parameters()) == 1_453
    t = S.totals(ir)
    assert t["buffers"] == t["frozen_bn_buffers"] == sum(b.numel() for b in m.buffers()) == 4 * (8 + 16)
    assert [k for k, _ in m.named_buffers()] == ["conv1_1_bn.weight", "conv1_1_bn.bias", "conv1_1_bn.running_mean",
                                                 "conv1_1_bn.running_var", "bn1_2.weight", "bn1_2.bias",
                                                 "bn1_2.running_mean", "bn1_2.running_var"]


@pytest.mark.parametrize("source", ["module", "state_dict"])
def test_outputs_equal_the_reference_after_load_weights(source):
    ref = _random_ref()
    m = netc.compile(netc.loads(SPEC)).eval()
    netc.load_weights(m, ref if source == "module" else ref.state_dict())
    x = torch.randn(3, 3, 12, 12)
    with torch.no_grad():
        want = ref(x)
        assert (m(x) - want).abs().max().item() < 1e-5
        m.train()                                  # frozen: training mode normalises with the same buffers
        assert (m(x) - want).abs().max().item() < 1e-5
    assert not any(p.requires_grad for n, p in m.named_parameters() if "bn" in n)


def test_a_batch_norm_state_dict_loads_without_its_counter():
    """torchvision drops num_batches_tracked when a BatchNorm2d's state_dict goes into a frozen one."""
    from netc.backends.torch.frozen_bn import FrozenBatchNorm2d
    bn = nn.BatchNorm2d(4)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.weight.uniform_(0.5, 2)
    fb = FrozenBatchNorm2d(4)
    fb.load_state_dict(bn.state_dict())            # strict: the counter is no unexpected key
    x = torch.randn(2, 4, 3, 3)
    with torch.no_grad():
        assert (fb(x) - bn.eval()(x)).abs().max().item() < 1e-5


def test_resnet50_with_frozen_batch_norm_counts_as_torchvision():
    """resnet50(norm_layer=FrozenBatchNorm2d): 25,503,912 parameters (torchvision's 25,557,032 less the
    53,120 of batch norm's affine) and 106,240 buffer values, as torchvision's detection backbones count."""
    text = (ROOT / "specs" / "resnet.net").read_text() + \
        "\nconfig resnet50_frozen extends resnet50 {\n    defaults conv(bias=false, bn=frozen)\n}\n"
    ir = build(resolve(netc.Program.from_text(text, "resnet.net"), "resnet50_frozen"))
    assert ir.params == 25_503_912
    assert S.totals(ir)["buffers"] == S.totals(ir)["frozen_bn_buffers"] == 106_240
    m = netc.compile(ir, device="meta")
    assert sum(p.numel() for p in m.parameters()) == 25_503_912
    assert sum(b.numel() for b in m.buffers()) == 106_240
    assert "106,240 buffers (frozen batch norm: statistics and affine)" in S.to_text(ir)
