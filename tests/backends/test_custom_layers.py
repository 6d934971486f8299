"""Custom layers registered from Python (squeeze-and-excitation, CBAM): checked parameters, shape
inference, counts equal to the module's own, compiled forward, and the CLI's --plugin."""
from __future__ import annotations

import textwrap

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import netc  # noqa: E402
from netc.kinds import DEFAULT  # noqa: E402
from netc.backends.torch import count_macs  # noqa: E402
from tests.conftest import run_cli  # noqa: E402


class SqueezeExcite(nn.Module):
    """Hu et al. 2018: channel weights from a global average through a bottleneck."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.fc1 = nn.Linear(channels, channels // reduction)
        self.fc2 = nn.Linear(channels // reduction, channels)

    def forward(self, x):
        w = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3))))))
        return x * w[:, :, None, None]


class CBAM(nn.Module):
    """Woo et al. 2018, the spatial half: a 7x7 conv over [mean, max] of the channels."""

    def __init__(self, channels: int, kernel: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2, bias=False)

    def forward(self, x):
        s = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
        return x * torch.sigmoid(self.conv(s))


@pytest.fixture()
def registered():
    netc.register_layer("se", SqueezeExcite, params={"reduction": 16})

    @netc.register_layer("cbam", params={"kernel": 7}, shape=lambda s, kernel: s,
                         n_params=lambda s, out, kernel: 2 * kernel * kernel,
                         macs=lambda s, out, kernel: out[1] * out[2] * 2 * kernel * kernel)
    def cbam(channels, kernel):
        return CBAM(channels, kernel)

    yield
    DEFAULT.unregister("se")
    DEFAULT.unregister("cbam")


SPEC = """
input 32x32 RGB
conv3-32
se(8)
cbam
maxpool
conv3-64
se
cbam(kernel=3)
gap
FC-10
"""


def test_counts_shapes_and_forward(registered):
    ir = netc.loads(SPEC)
    se1 = next(n for n in ir.layers() if n.kind == "se")
    assert se1.paper == "se(8)" and se1.shape == (32, 32, 32)
    assert se1.n_params == 32 * 4 + 4 + 4 * 32 + 32          # measured from the module on meta
    assert [n.paper for n in ir.layers() if n.kind == "cbam"] == ["cbam(7)", "cbam(3)"]
    m = netc.compile(ir)
    assert sum(p.numel() for p in m.parameters()) == ir.params
    assert count_macs(m.eval(), torch.randn(1, 3, 32, 32)) == ir.macs
    assert m.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert "self.se1_1(" in m.code or "se1_1" in m.code


def test_variable_size_input(registered):
    ir = netc.loads("input HxW RGB\nconv3-16\nse(4)\ngap\nFC-3\n")
    assert ir.any_size and ir.params == 448 + (16 * 4 + 4 + 4 * 16 + 16) + 51
    m = netc.compile(ir).eval()
    assert m(torch.randn(1, 3, 40, 24)).shape == (1, 3)


def test_parameters_are_checked(registered):
    errors = netc.check("input 32x32 RGB\nconv3-16\nse(ratio=4)\nse(\"x\")\nse(4, 5)\n")
    msgs = [e.message for e in errors]
    assert any("se has no parameter 'ratio'" in m for m in msgs)
    assert any("reduction" in m and "whole number" in m for m in msgs)
    assert any("too many positional arguments for se" in m for m in msgs)
    assert all(e.span.line > 0 for e in errors)


def test_a_failing_layer_is_a_spec_error(registered):
    def grouped(channels, groups):
        return nn.Conv2d(channels, channels, 3, padding=1, groups=groups)   # raises unless groups | channels

    netc.register_layer("grouped", grouped, params={"groups": int})
    try:
        errors = netc.check("input 32x32 RGB\nconv3-16\ngrouped(5)\ngrouped\n")
    finally:
        DEFAULT.unregister("grouped")
    assert [e.span.line for e in errors] == [3, 4]
    assert "grouped(5) fails on an input of 16x32x32" in errors[0].message
    assert "missing parameter 'groups'" in errors[1].message


def test_registration_rules(registered):
    with pytest.raises(ValueError, match="built-in"):
        netc.register_layer("conv", SqueezeExcite)
    with pytest.raises(ValueError, match="already registered"):
        netc.register_layer("se", SqueezeExcite)
    netc.register_layer("se", SqueezeExcite, params={"reduction": 4}, replace=True)
    assert netc.loads("input 8x8 RGB\nconv3-8\nse\n").layers()[-1].paper == "se(4)"


def test_unknown_without_registration():
    assert any("unknown layer 'se'" in e.message for e in netc.check("input 8x8 RGB\nse\n"))


def test_cli_plugin(tmp_path):
    (tmp_path / "my_layers.py").write_text(textwrap.dedent('''
        import netc, torch
        from torch import nn

        class Gate(nn.Module):
            def __init__(self, channels):
                super().__init__()
                self.w = nn.Parameter(torch.ones(channels))

            def forward(self, x):
                return x * self.w[:, None, None]

        netc.register_layer("gate", Gate)
    '''))
    spec = tmp_path / "g.net"
    spec.write_text("input 8x8 RGB\nconv3-4\ngate\nFC-2\n")
    env = {"PYTHONPATH": str(tmp_path)}
    r = run_cli("check", str(spec), env=env)
    assert r.returncode == 1 and "unknown layer 'gate'" in r.stderr       # not loaded unless asked
    r = run_cli("--plugin", "my_layers", "compile", str(spec), "--print", env=env)
    assert r.returncode == 0 and "self.gate1_1(" in r.stdout, r.stderr
    r = run_cli("--plugin", "my_layers", "check", "g.net", cwd=tmp_path)     # from the current directory
    assert r.returncode == 0, r.stderr
    r = run_cli("--plugin", "no_such_module", "check", str(spec))
    assert r.returncode == 2 and "cannot import plugin" in r.stderr


def test_registries_are_per_caller():
    """Registries travel with the call: a layer registered in one is unknown to another."""
    from torch import nn
    mine, theirs = netc.registry(), netc.registry()
    netc.register_layer("twice", lambda c: nn.Identity(), registry=mine)
    text = "input 8x8 RGB\ntwice\nFC-2\n"
    assert netc.loads(text, registry=mine).params == 8 * 8 * 3 * 2 + 2
    for reg in (theirs, None):
        with pytest.raises(netc.NetcError, match="unknown layer 'twice'"):
            netc.loads(text, registry=reg)
