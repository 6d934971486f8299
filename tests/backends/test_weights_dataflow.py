"""load_weights from a module, matched by dataflow: an add's branches in either order (when their
shapes tell them apart), a module that reads its own buffers in its forward in another order than it
registers them, and the hint of a mismatch that fits what was passed. Oracles: hand-written modules
and their outputs."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import netc  # noqa: E402
from netc.backends.torch.weights import WeightsError, dataflow_tensors  # noqa: E402

SPEC = """input 8x8 RGB
conv3-8
add {
    { conv3-8
      conv3-8(act=none) }
    conv1-8(act=none)
}
gap
FC-3
"""


class ShortcutFirst(nn.Module):
    """The spec's network, its sum written `proj(x) + body(x)` (the spec lists the body first)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.proj = nn.Conv2d(8, 8, 1)
        self.a, self.b = nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        y = self.proj(x) + self.b(torch.relu(self.a(x)))
        return self.fc(y.mean((2, 3)))


class ShortcutFirstInPlace(ShortcutFirst):
    """The same with torchvision's in-place `out += identity` and `torch.add`."""

    def forward(self, x):
        x = torch.relu(self.stem(x))
        out = self.proj(x)
        out += self.b(torch.relu(self.a(x)))
        return self.fc(torch.add(out, 0).mean((2, 3)))


def _randomised(cls):
    torch.manual_seed(1)
    ref = cls().eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.uniform_(-0.5, 0.5)
    return ref


@pytest.mark.parametrize("cls", [ShortcutFirst, ShortcutFirstInPlace])
def test_an_adds_branches_match_whatever_their_order(cls):
    ref = _randomised(cls)
    m = netc.compile(netc.loads(SPEC)).eval()
    netc.load_weights(m, ref)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert (m(x) - ref(x)).abs().max().item() < 1e-5
    # the shortcut's 1x1 went to the spec's 1x1, the body's 3x3s to its 3x3s
    assert torch.equal(m.conv1_4.weight, ref.proj.weight) and torch.equal(m.conv1_2.weight, ref.a.weight)


def test_branches_with_the_same_shapes_keep_their_written_order():
    """Two 3x3 branches cannot be told apart by shape: they pair in the order each side adds them."""
    spec = "input 8x8 RGB\nadd {\n    conv3-4(act=none)\n    conv3-4(act=none)\n}\ngap\nFC-2\n"

    class Ref(nn.Module):
        def __init__(self):
            super().__init__()
            self.second, self.first = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(3, 4, 3, padding=1)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc((self.first(x) + self.second(x)).mean((2, 3)))

    ref = Ref()
    m = netc.compile(netc.loads(spec))
    netc.load_weights(m, ref)
    assert torch.equal(m.conv1_1.weight, ref.first.weight) and torch.equal(m.conv1_2.weight, ref.second.weight)


class OwnBuffersReadOutOfOrder(nn.Module):
    """Like torchvision's FrozenBatchNorm2d: registers weight, bias, running_mean, running_var, but its
    forward reads running_var before running_mean (traced naively, its tensors would come last)."""

    def __init__(self, c):
        super().__init__()
        for name, v in (("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)):
            self.register_buffer(name, torch.full((c,), v))

    def forward(self, x):
        w, b = self.weight.reshape(1, -1, 1, 1), self.bias.reshape(1, -1, 1, 1)
        rv, rm = self.running_var.reshape(1, -1, 1, 1), self.running_mean.reshape(1, -1, 1, 1)
        scale = w * (rv + 1e-5).rsqrt()
        return x * scale + (b - rm * scale)


def test_a_module_reading_its_own_buffers_is_one_step_of_the_dataflow():
    class Ref(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn, self.fc = nn.Conv2d(3, 8, 3, padding=1, bias=False), OwnBuffersReadOutOfOrder(8), \
                nn.Linear(8, 3)

        def forward(self, x):
            return self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3)))

    ref = Ref().eval()
    with torch.no_grad():
        for b in ref.bn.buffers():
            b.uniform_(0.5, 1.5)
    assert [k for k, _ in dataflow_tensors(ref)] == ["conv.weight", "bn.weight", "bn.bias", "bn.running_mean",
                                                     "bn.running_var", "fc.weight", "fc.bias"]
    m = netc.compile(netc.loads("input 8x8 RGB\nconv3-8(bias=false, bn=frozen)\ngap\nFC-3\n")).eval()
    netc.load_weights(m, ref)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert (m(x) - ref(x)).abs().max().item() < 1e-6


def test_the_hint_fits_what_was_passed():
    """A mismatch from a state_dict suggests passing the module; from the module itself it does not."""
    class Other(nn.Module):                    # another network: a 5x5 where the spec has a 3x3
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 5, padding=2)
            self.fc = nn.Linear(8, 3)

        def forward(self, x):
            return self.fc(self.conv(x).mean((2, 3)))

    m = netc.compile(netc.loads("input 8x8 RGB\nconv3-8\ngap\nFC-3\n"))
    with pytest.raises(WeightsError) as e:
        netc.load_weights(m, Other())
    assert "pass the source module itself" not in e.value.render()
    assert "conv1_1.weight" in str(e.value) and "[8, 3, 3, 3]" in str(e.value) and "[8, 3, 5, 5]" in str(e.value)
    with pytest.raises(WeightsError) as e:
        netc.load_weights(m, Other().state_dict())
    assert "pass the source module itself" in e.value.render()
