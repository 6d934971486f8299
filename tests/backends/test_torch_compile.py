"""netc.compile: every bundled spec compiles to a module whose own counts equal the analytic ones;
layer forms map to the right torch operations; names, seeds, devices and dtypes behave."""
from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
from torch import fx, nn  # noqa: E402

import netc  # noqa: E402
from netc.backends.torch import NetcModule, count_macs  # noqa: E402
from netc.backends.torch.lrn import WithinChannelLRN  # noqa: E402

ALL = [(name, ir.config) for name in netc.bundled_names() for ir in netc.load_all(name)]


def nparams(m) -> int:
    return sum(p.numel() for p in m.parameters())


def meta_input(m, hw=(224, 224)):
    c, h, w = m.netc["input"]
    # a batch of 2: in training, batch norm on a 1x1 map (Inception v3's auxiliary head) needs more
    # than one value per channel; count_macs counts per sample
    return torch.empty(2, c, h or hw[0], w or hw[1], device="meta")


@pytest.mark.parametrize("name,config", ALL, ids=[f"{n}:{c}" for n, c in ALL])
def test_bundled_counts_equal_the_module(name, config):
    ir = netc.load(name, config)
    m = netc.compile(ir, device="meta")
    assert isinstance(m, fx.GraphModule) and all(p.is_meta for p in m.parameters())
    assert nparams(m) == ir.params
    if ir.macs is not None:   # multiply-adds from forward hooks on conv / linear (shapes only, on meta)
        assert count_macs(m.eval(), meta_input(m)) == ir.macs
        assert count_macs(m.train(), meta_input(m)) == ir.macs_train


def test_paper_numbers():
    # paper-facts.md: VGG-16 138,357,544; GoogLeNet with both aux heads 13,378,280
    assert nparams(netc.compile("vgg:D", device="meta")) == 138_357_544
    if "googlenet" in netc.bundled_names():
        g = netc.compile("googlenet", device="meta")
        assert nparams(g) == 13_378_280
        assert g.aux_weights == {"loss1": 0.3, "loss2": 0.3}


def test_small_specs_run_on_cpu():
    for name, config in [(n, c) for n, c in ALL if n in ("alexnet", "googlenet")][:2]:
        m = netc.compile(name, config, num_classes=7).eval()
        with torch.no_grad():
            y = m(torch.randn(1, *(d or 224 for d in m.netc["input"])))
        assert y.shape == (1, 7), (name, config)


def test_num_classes_override():
    m = netc.compile("vgg:D", num_classes=20, device="meta")
    assert m.fc8.weight.shape == (20, 4096)
    assert nparams(m) == 134_342_484   # paper-facts: 138,357,544 - 4096*980 - 980


def test_generated_code_is_straight_line():
    m = netc.compile("vgg:A", device="meta")
    code = m.code
    assert "for " not in code and "while " not in code
    assert "x_checked = self.input_guard(x)" in code              # the input check comes first
    assert "conv1_1 = self.conv1_1(x_checked)" in code
    assert "torch.relu_(conv1_1)" in code
    assert "fc6_flat = torch.flatten(pool5, 1)" in code
    # the guard, then one call per weight layer, pooling and dropout
    assert code.count("self.") == 1 + sum(1 for n in netc.load("vgg:A").layers() if n.kind not in ("softmax",))


def test_state_dict_keys_hierarchical_and_stable():
    keys = list(netc.compile("vgg:A", device="meta").state_dict())
    assert keys[:4] == ["conv1_1.weight", "conv1_1.bias", "conv2_1.weight", "conv2_1.bias"]
    assert keys[-2:] == ["fc8.weight", "fc8.bias"]
    assert keys == list(netc.compile("vgg:A", device="meta").state_dict())
    if "googlenet" in netc.bundled_names():
        g = list(netc.compile("googlenet", device="meta").state_dict())
        assert any(k.startswith("inception_4a.") and k.endswith(".weight") for k in g)
        assert any(k.startswith("loss1.") for k in g)
        assert g == sorted(g, key=g.index)   # deterministic order, main path before the side heads
        assert g.index(next(k for k in g if k.startswith("loss1."))) > g.index(next(k for k in g if k.startswith("inception_5b.")))


INIT = "input 8x8 RGB\nconv3-128\nconv3-256\nmaxpool\nFC-1024\nFC-10\n"


def test_seeded_init():
    torch.manual_seed(3)
    a = netc.compile(netc.loads(INIT))
    torch.manual_seed(3)
    b = netc.compile(netc.loads(INIT))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    # torchvision's VGG init: kaiming normal (fan_out) for conv, N(0, 0.01) for linear, zero biases
    want = math.sqrt(2 / (256 * 9))
    assert abs(a.conv1_2.weight.std().item() - want) < 0.02 * want
    assert abs(a.fc2.weight.std().item() - 0.01) < 2e-4
    assert a.fc2.bias.abs().sum() == 0 and a.conv1_1.bias.abs().sum() == 0


def test_dtype_and_device():
    m = netc.compile(netc.loads(INIT), dtype=torch.float64)
    assert {p.dtype for p in m.parameters()} == {torch.float64}
    m = netc.compile("vgg:A", device="meta", dtype="bfloat16")
    assert {p.dtype for p in m.parameters()} == {torch.bfloat16}


SPEC = """
input 16x16 RGB
output {mode}
conv3-8 as c1
maxpool3/2(ceil) as p1
conv(out=8, k=3, pad=0) as c2
LRN as n2
LRN(size=3, alpha=5e-5, k=1, convention=caffe, region=within) as n3
avgpool(k=2, stride=1, pad=1, count_include_pad=false) as p2
FC-5 as fc
soft-max
"""


def test_layer_forms_map_to_torch():
    m = netc.compile(netc.loads(SPEC.format(mode="logits")))
    assert m.c1.padding == (1, 1)                         # conv3: same padding
    assert m.p1.ceil_mode and m.p1.kernel_size == (3, 3) and m.p1.stride == (2, 2)
    assert m.c2.padding == (0, 0)
    assert isinstance(m.n2, nn.LocalResponseNorm)
    assert (m.n2.size, m.n2.alpha, m.n2.beta, m.n2.k) == (5, pytest.approx(5e-4), 0.75, 2.0)  # paper alpha*n
    assert isinstance(m.n3, WithinChannelLRN) and m.n3.alpha == pytest.approx(5e-5) and m.n3.k == 1
    assert m.p2.count_include_pad is False
    x = torch.randn(3, 3, 16, 16)
    logits = m.eval()(x)
    assert logits.shape == (3, 5) and not torch.allclose(logits.sum(1), torch.ones(3))


def test_output_probs():
    logits_m = netc.compile(netc.loads(SPEC.format(mode="logits"))).eval()
    probs_m = netc.compile(netc.loads(SPEC.format(mode="probs"))).eval()
    netc.load_weights(probs_m, logits_m.state_dict())
    x = torch.randn(2, 3, 16, 16)
    assert probs_m.output_mode == "probs" and "torch.softmax" in probs_m.code
    assert torch.allclose(probs_m(x), torch.softmax(logits_m(x), 1))


def test_output_probs_without_a_softmax_layer():
    spec = "input 16x16 RGB\nconv3-4\nmaxpool\nFC-8\nFC-5\n{}"
    torch.manual_seed(0)
    logits_m = netc.compile(netc.loads(spec.format(""))).eval()
    probs_m = netc.compile(netc.loads(spec.format("output probs\n"))).eval()
    netc.load_weights(probs_m, logits_m.state_dict())
    x = torch.randn(2, 3, 16, 16)
    assert torch.allclose(probs_m(x), torch.softmax(logits_m(x), 1))


def test_within_channel_lrn_matches_caffe_formula():
    size, alpha, beta, k = 3, 5e-5, 0.75, 1.0
    x = torch.randn(2, 4, 6, 7, dtype=torch.float64) * 30
    got = WithinChannelLRN(size, alpha, beta, k)(x)
    want = torch.empty_like(x)
    r = size // 2
    for i in range(x.shape[2]):
        for j in range(x.shape[3]):
            win = x[:, :, max(0, i - r):i + r + 1, max(0, j - r):j + r + 1]
            s = (win ** 2).sum((2, 3))   # zero padding: the divisor stays size*size
            want[:, :, i, j] = x[:, :, i, j] / (k + alpha / size ** 2 * s) ** beta
    assert torch.allclose(got, want, atol=1e-12)


def test_add_and_bn_and_activations():
    m = netc.compile(netc.loads("""
input 8x8 RGB
conv(out=4, k=1, bias=false, bn=true) as stem
add {
    conv3-4 -> conv(out=4, k=3, act=none)
    identity
}
tanh
gap
FC-3
"""))
    assert isinstance(m.stem_bn, nn.BatchNorm2d) and m.stem.bias is None
    assert "operator.add" in m.code or " + " in m.code
    assert m.eval()(torch.randn(2, 3, 8, 8)).shape == (2, 3)


def test_module_type_and_metadata():
    m = netc.compile("vgg:A", device="meta")
    assert isinstance(m, NetcModule) and m.netc["config"] == "A" and m.netc["input"] == (3, 224, 224)
    assert m.output_mode == "logits" and m.aux_weights == {}
