"""Dense evaluation (VGG section 3.2): FC layers as convolutions, class score map averaged.

Oracles: the ordinary network with the same weights (equal at the nominal size), and, above it,
the ordinary network's fully-connected head applied by hand to every window of the last
feature map, averaged, which is what VGG's dense evaluation computes."""
from __future__ import annotations

import importlib.util

import pytest

import netc
from netc.dsl.errors import UsageError

if importlib.util.find_spec("torch") is None:
    pytest.skip("torch is not installed (pip install netc[torch])", allow_module_level=True)

import torch  # noqa: E402

from conftest import run_cli  # noqa: E402
from netc.backends.torch.dense import convert_state_dict, densify, fc_to_conv  # noqa: E402
from netc.backends.torch.guards import InputError  # noqa: E402

SMALL = """input 32x24 RGB
conv3-8
maxpool
conv3-8
maxpool as pool2
FC-16 as fc6
dropout(0.5)
FC-12 as fc7
FC-5 as fc8
soft-max
"""


def pair(text=SMALL, filename="small.net"):
    torch.manual_seed(0)
    ordinary = netc.compile(netc.loads(text, filename=filename)).eval()
    dense = netc.compile(netc.loads(text, filename=filename), dense=True).eval()
    netc.load_weights(dense, ordinary.state_dict())
    return ordinary, dense


def sliding_head(ordinary, fmap, k, fcs):
    """The ordinary FC head on every k[0] x k[1] window of ``fmap``, averaged."""
    h, w = fmap.shape[2:]
    outs = []
    for i in range(h - k[0] + 1):
        for j in range(w - k[1] + 1):
            x = fmap[:, :, i:i + k[0], j:j + k[1]].flatten(1)
            for n, fc in enumerate(fcs):
                x = getattr(ordinary, fc)(x)
                if n < len(fcs) - 1:
                    x = torch.relu(x)
            outs.append(x)
    return torch.stack(outs).mean(0)


# ---------------------------------------------------------------- the IR transform
def test_densify_vgg_d_ir():
    ir = netc.load("vgg:D")
    d = densify(ir)
    assert [d.node(n).paper for n in ("fc6", "fc7", "fc8")] == ["conv7-4096", "conv1-4096", "conv1-1000"]
    assert d.node("fc6").params.pad == 0 and d.node("fc6").act == "relu" and d.node("fc8").act == "none"
    assert [n.name for n in d.layers()][-4:] == ["fc8", "fc8_avg", "fc8_flat", "prob"]
    assert d.params == ir.params == 138_357_544 and d.macs == ir.macs       # paper-facts: VGG D
    assert d.any_size and not ir.any_size
    assert d.min_input == (224, 224) and d.min_input_layer == ("fc6", "fc6")
    assert d.output_shape == (1000,)
    assert ir.node("fc6").kind == "fc"        # the input IR is left alone


def test_densify_keeps_side_outputs_consistent():
    ir = netc.load("googlenet")
    d = densify(ir)
    assert d.params == ir.params
    assert [a.output for a in d.aux] == ["loss1/head/classifier_flat", "loss2/head/classifier_flat"]
    assert d.node("loss1/head/fc").paper == "conv4-1024"       # fed by 128 x 4 x 4
    assert d.output_shape == (1000,)


def test_densify_without_fc_is_an_error():
    with pytest.raises(UsageError, match="fully-connected"):
        densify(netc.loads("input HxW RGB\nconv3-4\ngap\n"))


# ---------------------------------------------------------------- VGG D, the paper's network
@pytest.mark.slow   # 6 s: VGG-D's forward twice
def test_vgg_d_dense_equals_ordinary_at_224_and_takes_256x320():
    torch.manual_seed(0)
    d = netc.compile("vgg:D").eval()
    dense = netc.compile("vgg:D", dense=True).eval()
    netc.load_weights(dense, d.state_dict())
    maps = {}
    dense.pool5.register_forward_hook(lambda m, i, o: maps.__setitem__("pool5", o))
    with torch.no_grad():
        x = torch.randn(1, 3, 224, 224)
        assert (dense(x) - d(x)).abs().max() < 1e-5
        big = dense(torch.randn(1, 3, 256, 320))
        assert big.shape == (1, 1000)
        assert maps["pool5"].shape[2:] == (8, 10)        # a 2 x 4 class score map, averaged
        want = sliding_head(d, maps["pool5"], (7, 7), ["fc6", "fc7", "fc8"])
    assert torch.allclose(big, want, atol=1e-5)


# ---------------------------------------------------------------- a small network, every size
@pytest.mark.parametrize("h,w", [(32, 24), (33, 24), (40, 24), (32, 57), (64, 48), (71, 39)])
def test_small_dense_equals_the_averaged_sliding_head(h, w):
    ordinary, dense = pair()
    maps = {}
    dense.pool2.register_forward_hook(lambda m, i, o: maps.__setitem__("pool2", o))
    with torch.no_grad():
        x = torch.randn(2, 3, h, w)
        got = dense(x)
        assert got.shape == (2, 5)
        want = sliding_head(ordinary, maps["pool2"], (8, 6), ["fc6", "fc7", "fc8"])
        assert torch.allclose(got, want, atol=1e-5)
        if (h, w) == (32, 24):
            assert (got - ordinary(x)).abs().max() < 1e-5


def test_dense_below_the_nominal_size_is_an_error_naming_the_layer():
    _, dense = pair()
    with pytest.raises(InputError) as e:
        dense(torch.randn(1, 3, 31, 24))
    assert "32x24" in e.value.message and "'fc6'" in e.value.message
    assert e.value.span.file == "small.net" and e.value.span.line == 6


def test_dense_with_probs_averages_scores_then_normalises():
    text = "output probs\n" + SMALL
    ordinary, dense = pair(text)
    with torch.no_grad():
        x = torch.randn(1, 3, 32, 24)
        assert (dense(x) - ordinary(x)).abs().max() < 1e-6
        p = dense(torch.randn(1, 3, 50, 50))
    assert torch.allclose(p.sum(1), torch.ones(1)) and (p > 0).all()


# ---------------------------------------------------------------- weights
def test_weights_convert_both_ways():
    ordinary, dense = pair()
    sd, dsd = ordinary.state_dict(), dense.state_dict()
    assert sd["fc6.weight"].shape == (16, 8 * 8 * 6) and dsd["fc6.weight"].shape == (16, 8, 8, 6)
    assert torch.equal(dsd["fc6.weight"], fc_to_conv(sd["fc6.weight"], (16, 8, 8, 6)))
    assert torch.equal(dsd["fc8.weight"].flatten(1), sd["fc8.weight"])
    back = netc.compile(netc.loads(SMALL)).eval()
    netc.load_weights(back, dense.state_dict())                     # conv -> FC
    assert all(torch.equal(v, sd[k]) for k, v in back.state_dict().items())
    conv = convert_state_dict(sd, dsd)
    assert all(conv[k].shape == dsd[k].shape for k in dsd)
    dense.load_state_dict(conv)                                    # plain torch, after the reshape
    with pytest.raises(ValueError, match="sizes differ"):
        fc_to_conv(sd["fc6.weight"], (16, 8, 8, 5))


def test_cli_compile_dense(tmp_path):
    spec = tmp_path / "small.net"
    spec.write_text(SMALL)
    r = run_cli("compile", str(spec), "--dense", "--print")
    assert r.returncode == 0, r.stderr
    assert "self.input_guard(x)" in r.stdout and "fc8_avg = self.fc8_avg(fc8)" in r.stdout
    assert "torch.flatten(fc8_avg, 1)" in r.stdout and "fc6_flat" not in r.stdout
