"""Spatial pyramid pooling: the bins of the SPP-net appendix at every map size, one output length
for every input size, and a clear error below the smallest input.

Oracles: paper-facts.md section 5.3 (the bin table, the a=10/n=6 sliding-window pitfall), the
appendix formula written out here with explicit slicing, torch's own layers for the map sizes,
and a brute-force search with plain torch layers for the smallest input."""
from __future__ import annotations

import importlib.util
import math

import pytest

import netc
from netc.types import dims

if importlib.util.find_spec("torch") is None:
    pytest.skip("torch is not installed (pip install netc[torch])", allow_module_level=True)

import torch  # noqa: E402
from torch import nn  # noqa: E402

from conftest import run_cli  # noqa: E402
from netc.backends.torch.guards import InputError  # noqa: E402
from netc.backends.torch.spp import SPP, bin_masks, bins, masked_pooling, out_features, pool_by_masks, sliding_bins  # noqa: E402,E501

LEVELS = (6, 3, 2, 1)
NOMINAL = 224

# ZF-5's spatial skeleton (paper-facts 5.1) with few channels, so that every size runs fast.
THIN_ZF5 = """input HxW RGB
naming sequential
conv7-4/2(pad=1)
LRN(size=3, alpha=5e-5, convention=caffe, region=within)
maxpool3/2(ceil)
conv5-4/2(pad=0)
LRN(size=3, alpha=5e-5, convention=caffe, region=within)
maxpool3/2(ceil)
conv3-4
conv3-4
conv3-3
spp[6,3,2,1]
FC-7
"""


def appendix_bin(i: int, a: int, n: int) -> tuple[int, int]:
    """Bin i (1-based, as the appendix writes it) of a side of length a: [floor((i-1)a/n), ceil(ia/n))."""
    return math.floor((i - 1) * a / n), math.ceil(i * a / n)


def appendix_spp(x: torch.Tensor, levels) -> torch.Tensor:
    """SPP by explicit slicing with the appendix's bins (the oracle for the module)."""
    _, _, h, w = x.shape
    out = []
    for n in levels:
        grid = torch.empty(x.shape[0], x.shape[1], n, n, dtype=x.dtype)
        for i in range(1, n + 1):
            y0, y1 = appendix_bin(i, h, n)
            for j in range(1, n + 1):
                x0, x1 = appendix_bin(j, w, n)
                grid[:, :, i - 1, j - 1] = x[:, :, y0:y1, x0:x1].amax(dim=(2, 3))
        out.append(grid.flatten(1))
    return torch.cat(out, 1)


# ---------------------------------------------------------------- bins
@pytest.mark.parametrize("a,n,same", [(13, 6, True), (13, 3, True), (13, 2, True), (13, 1, True),
                                      (18, 6, True), (18, 4, False), (10, 6, False), (10, 4, False)])
def test_sliding_window_formula_matches_the_paper_table(a, n, same):
    """paper-facts 5.3: window ceil(a/n), stride floor(a/n) agrees with the appendix bins only
    where the table says so."""
    assert (sliding_bins(a, n) == bins(a, n)) is same
    assert len(bins(a, n)) == n


def test_the_sliding_formula_gives_nine_bins_at_a10_n6():
    assert len(sliding_bins(10, 6)) == 9
    assert bins(10, 6) == [appendix_bin(i, 10, 6) for i in range(1, 7)]


def covers(bs: list[tuple[int, int]], a: int) -> bool:
    """Non-empty bins in order, the first at 0, the last at a, no gap between neighbours."""
    return (bs[0][0] == 0 and bs[-1][1] == a and all(s < e for s, e in bs)
            and all(bs[k + 1][0] <= bs[k][1] for k in range(len(bs) - 1)))


def test_every_level_gives_n_by_n_bins_covering_the_map_at_every_input_size():
    """For every input side from the smallest valid one to 4x the nominal 224, the conv5 map
    side (ZF-5's symbolic size) splits into exactly n bins per level that cover it."""
    ir = netc.load("sppnet:ZF-5")
    _, sh, sw = ir.node("conv5").sym_shape
    lo = ir.min_input[0]
    for side in range(lo, 4 * NOMINAL + 1):
        a = dims.at(sh, side)
        assert a >= 1
        for n in LEVELS:
            bs = bins(a, n)
            assert len(bs) == n and covers(bs, a), (side, a, n)
            assert bs == [appendix_bin(i, a, n) for i in range(1, n + 1)]


@pytest.mark.parametrize("h,w", [(1, 1), (1, 7), (2, 3), (5, 5), (10, 10), (13, 13), (13, 17), (18, 18),
                                 (29, 40), (52, 52), (53, 38)])
def test_spp_module_equals_the_appendix_bins(h, w):
    torch.manual_seed(h * 100 + w)
    x = torch.randn(2, 5, h, w)
    got = SPP(LEVELS)(x)
    assert got.shape == (2, out_features(5, LEVELS)) == (2, 5 * 50)
    assert torch.equal(got, appendix_spp(x, LEVELS))


def test_spp_avg_mode_and_level_order():
    x = torch.randn(1, 3, 7, 9)
    got = SPP((1, 2), mode="avg")(x)
    assert torch.allclose(got[:, :3], x.mean(dim=(2, 3)))   # the 1x1 level comes first, as written
    assert got.shape == (1, 3 * 5)
    with pytest.raises(ValueError):
        SPP((2,), mode="median")


# ---------------------------------------------------------------- the export form (ONNX)
@pytest.mark.parametrize("a,n", [(1, 1), (1, 6), (5, 6), (10, 6), (13, 6), (13, 3), (18, 4), (31, 7), (64, 2)])
def test_bin_masks_are_the_appendix_bins(a, n):
    mask = bin_masks(a, n, torch.device("cpu"))
    got = [(int(row.nonzero().min()), int(row.nonzero().max()) + 1) for row in mask]
    assert got == [appendix_bin(i, a, n) for i in range(1, n + 1)]
    assert all(bool(row[s:e].all()) for row, (s, e) in zip(mask, got))   # contiguous


@pytest.mark.parametrize("h,w", [(1, 1), (1, 7), (2, 3), (5, 5), (10, 10), (13, 17), (29, 40), (53, 38)])
def test_pool_by_masks_equals_the_appendix_bins(h, w):
    torch.manual_seed(h * 100 + w)
    x = torch.randn(2, 5, h, w)
    spp = SPP(LEVELS)
    spp.masked = True
    assert torch.equal(spp(x), appendix_spp(x, LEVELS))                  # max: bit-exact
    for oh, ow in ((6, 4), (3, 3), (1, 1), (2, 5)):
        assert torch.equal(pool_by_masks(x, oh, ow), torch.nn.functional.adaptive_max_pool2d(x, (oh, ow)))
        assert torch.allclose(pool_by_masks(x, oh, ow, "avg"), torch.nn.functional.adaptive_avg_pool2d(x, (oh, ow)),
                              atol=1e-6)


def test_masked_pooling_swaps_and_restores():
    model = netc.compile(netc.loads("input HxW RGB\nconv3-4 as c\nadaptive-avgpool(3) as a\nconv3-4 as d\n"
                                    "spp[2,1] as s\nFC-3 as fc\n")).eval()
    pool = model.a
    x = torch.randn(2, 3, 11, 14)
    want = model(x)
    with masked_pooling(model):
        assert model.s.masked and type(model.a).__name__ == "MaskedAdaptivePool"
        assert torch.allclose(model(x), want, atol=1e-6)
    assert model.a is pool and not model.s.masked
    with pytest.raises(RuntimeError), masked_pooling(model):
        raise RuntimeError("export failed")
    assert model.a is pool and not model.s.masked                          # restored on an error too


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_spp_scripts(mode):
    spp = SPP(LEVELS, mode)
    scripted = torch.jit.script(spp)
    for h, w in ((1, 1), (13, 17)):
        x = torch.randn(2, 4, h, w)
        assert torch.equal(scripted(x), spp(x))


# ---------------------------------------------------------------- whole networks
def zf5_thin_sizes():
    """Odd, even, square and not, from the smallest input to 4x the nominal one."""
    return [(31, 31), (31, 32), (32, 47), (47, 31), (63, 100), (100, 63), (127, 255), (180, 180),
            (224, 224), (257, 391), (391, 257), (500, 375), (896, 896), (896, 611)]


def test_thin_zf5_gives_one_length_and_the_ir_map_sizes_at_every_size():
    ir = netc.loads(THIN_ZF5)
    assert ir.min_input == netc.load("sppnet:ZF-5").min_input   # same spatial skeleton
    torch.manual_seed(0)
    model = netc.compile(ir).eval()
    fmaps = {}
    model.conv5.register_forward_hook(lambda m, i, o: fmaps.__setitem__("conv5", o))
    _, sh, sw = ir.node("conv5").sym_shape
    with torch.no_grad():
        for h, w in zf5_thin_sizes():
            x = torch.randn(1, 3, h, w)
            out = model(x)
            assert out.shape == (1, 7), (h, w)
            fm = fmaps["conv5"]
            assert tuple(fm.shape[2:]) == (dims.at(sh, h), dims.at(sw, w)), (h, w)
            assert torch.equal(model.spp5(torch.relu(fm)), appendix_spp(torch.relu(fm), LEVELS))


def test_multi_size_training_same_weights_same_length():
    """SPP-net trains ZF-5 at 180 and 224 with shared weights: one network, one output length."""
    torch.manual_seed(0)
    model = netc.compile("sppnet:ZF-5")
    seen = []
    model.fc6.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[1]))
    for size in (180, 224):
        x = torch.randn(2, 3, size, size)
        out = model(x)
        assert out.shape == (2, 1000)
        out.sum().backward()       # trainable at either size, into the same parameters
    assert seen == [12800, 12800]  # 256 x 50 bins (paper-facts 5.2)
    assert model.fc6.weight.grad.shape == (4096, 12800)


# ---------------------------------------------------------------- the smallest input
def brute_force_min_side() -> int:
    """The smallest side for which plain torch layers with ZF-5's geometry give a map >= 1."""
    layers = nn.Sequential(nn.Conv2d(1, 1, 7, 2, 1), nn.MaxPool2d(3, 2, ceil_mode=True),
                           nn.Conv2d(1, 1, 5, 2, 0), nn.MaxPool2d(3, 2, ceil_mode=True),
                           nn.Conv2d(1, 1, 3, 1, 1), nn.Conv2d(1, 1, 3, 1, 1), nn.Conv2d(1, 1, 3, 1, 1))
    for side in range(1, 200):
        try:
            out = layers(torch.zeros(1, 1, side, side))
        except RuntimeError:
            continue
        if min(out.shape[2:]) >= 1:
            return side
    raise AssertionError("no valid size below 200")


def test_min_input_is_the_smallest_size_torch_accepts():
    ir = netc.load("sppnet:ZF-5")
    side = brute_force_min_side()
    assert ir.min_input == (side, side) == (31, 31)
    assert ir.min_input_layer == ("pool2", "pool2")


def test_netc_check_prints_the_minimum():
    r = run_cli("check", "sppnet:ZF-5")
    assert r.returncode == 0, r.stderr
    assert "any size >= 31x31" in r.stdout


def test_compiled_model_rejects_inputs_below_the_minimum_naming_the_layer():
    model = netc.compile(netc.loads(THIN_ZF5, filename="thin.net")).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 31, 31)).shape == (1, 7)
        for h, w in ((30, 31), (31, 30), (8, 8)):
            with pytest.raises(InputError) as e:
                model(torch.randn(1, 3, h, w))
            err = e.value
            assert isinstance(err, ValueError) and isinstance(err, netc.NetcError)
            assert f"{h}x{w}" in err.message and "31x31" in err.message and "'pool2'" in err.message
            assert err.span.line == 8 and err.span.file == "thin.net"   # the second maxpool3/2(ceil)
            assert "maxpool3/2(ceil)" in str(err)


def test_guard_checks_rank_and_channels():
    model = netc.compile(netc.loads(THIN_ZF5)).eval()
    with pytest.raises(InputError, match="batch of images"):
        model(torch.randn(3, 64, 64))
    with pytest.raises(InputError, match="3-channel"):
        model(torch.randn(1, 1, 64, 64))
    assert "input_guard" not in model.state_dict() and len(model.state_dict()) == len(
        netc.compile(netc.loads(THIN_ZF5)).state_dict())
