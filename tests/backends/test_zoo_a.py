"""The 2015-2016 CNN zoo (specs/resnet.net, densenet.net, squeezenet.net, inception.net, unet.net)
against torchvision's published figures and the papers. The oracle is outside netc: the parameter
counts and GFLOPS (multiply-adds) of torchvision's model documentation (the `num_params` and
`_ops` of each weights entry) and, for U-Net, the paper's Figure 1 worked out by hand. Counts are
taken on the meta device; real tensors run only through the small networks."""
from __future__ import annotations

import pytest

import netc

# model name: (params, params at inference, torchvision's GFLOPS (multiply-adds, G))
TORCHVISION = {
    "resnet18": (11_689_512, 11_689_512, 1.814),
    "resnet34": (21_797_672, 21_797_672, 3.664),
    "resnet50": (25_557_032, 25_557_032, 4.089),
    "resnet101": (44_549_160, 44_549_160, 7.801),
    "resnet152": (60_192_808, 60_192_808, 11.514),
    "densenet121": (7_978_856, 7_978_856, 2.834),
    "densenet161": (28_681_000, 28_681_000, 7.728),
    "densenet169": (14_149_480, 14_149_480, 3.360),
    "densenet201": (20_013_928, 20_013_928, 4.291),
    "squeezenet1_0": (1_248_424, 1_248_424, 0.819),
    "squeezenet1_1": (1_235_496, 1_235_496, 0.349),
    "inception_v3": (27_161_264, 23_834_568, 5.713),
}

# Figure 1 of the U-Net paper: 10 contracting convolutions, 4 up-convolutions, 8 expanding ones, 1x1
UNET_PARAMS = 31_030_658

# the smallest input each takes (inference), and in training where the side outputs need more
MIN_INPUT = {
    "resnet50": (1, 1), "densenet121": (29, 29), "squeezenet1_0": (21, 21), "squeezenet1_1": (17, 17),
    "inception_v3": (75, 75), "unet": (188, 188), "unet_same": (16, 16),
}


@pytest.mark.parametrize("name", list(TORCHVISION))
def test_counts_equal_torchvision(name):
    params, inference, gmacs = TORCHVISION[name]
    ir = netc.load(name)                     # found by model name, whatever file holds it
    assert (ir.params, ir.params_inference) == (params, inference)
    assert abs(ir.macs / 1e9 - gmacs) <= 0.0015, ir.macs


@pytest.mark.parametrize("name,depth", [("resnet18", 18), ("resnet34", 34), ("resnet50", 50),
                                        ("resnet101", 101), ("resnet152", 152), ("densenet121", 121),
                                        ("densenet169", 169), ("densenet201", 201), ("densenet161", 161)])
def test_depth_is_the_name(name, depth):
    assert netc.load(name).depth == depth


def test_densenet264_has_265_weight_layers():
    """Table 1's DenseNet-264: blocks of 6, 12, 64 and 48 dense layers (2 convolutions each), conv0,
    three transitions and the FC layer make 265 weight layers."""
    ir = netc.load("densenet:densenet264")
    assert ir.depth == 2 * (6 + 12 + 64 + 48) + 1 + 3 + 1 == 265
    assert ir.params == 33_337_704


def test_resnet_projections_are_where_torchvision_has_downsample():
    """A projection on the first block of a stage whose stride or width changes: three in the
    basic-block networks (conv3_1, conv4_1, conv5_1), four in the bottleneck ones."""
    for name, n in [("resnet18", 3), ("resnet34", 3), ("resnet50", 4), ("resnet152", 4)]:
        ir = netc.load(name)
        down = [x.name for x in ir.layers() if x.name.endswith("/downsample")]
        assert len(down) == n, (name, down)
        assert all(x.split("/")[1] == "basic_1" or x.split("/")[1] == "bottleneck_1" for x in down)
    ir = netc.load("resnet50")
    assert not any(x.bias for x in (n.params for n in ir.layers() if n.kind == "conv"))
    v15 = ir.node("layer_2/bottleneck_1/conv2")            # ResNet v1.5: the 3x3 strides
    assert v15.params.strides() == (2, 2) and ir.node("layer_2/bottleneck_1/conv1").params.strides() == (1, 1)


@pytest.mark.parametrize("name", list(MIN_INPUT))
def test_min_input(name):
    assert netc.load(name).min_input == MIN_INPUT[name]


def test_inception_takes_75x75_and_its_aux_head_needs_299():
    torch = pytest.importorskip("torch")
    from netc.backends.torch.guards import InputError
    ir = netc.load("inception_v3")
    assert ir.min_input == (75, 75) and ir.min_input_train == (299, 299)
    m = netc.compile("inception_v3", device="meta")
    assert m.aux_weights == {"AuxLogits": 0.4}
    assert m.eval()(torch.empty(2, 3, 75, 75, device="meta")).shape == (2, 1000)
    with pytest.raises(InputError, match="AuxLogits"):
        m.train()(torch.empty(2, 3, 298, 298, device="meta"))
    main, aux = m.train()(torch.empty(2, 3, 299, 299, device="meta"))
    assert main.shape == aux.shape == (2, 1000)


@pytest.mark.parametrize("name,shape", [("resnet152", (1000,)), ("densenet121", (1000,)),
                                        ("inception_v3", (1000,)), ("squeezenet1_0", (1000,)),
                                        ("unet", (2, 388, 388))])
def test_meta_forward_at_the_nominal_size(name, shape):
    torch = pytest.importorskip("torch")
    ir = netc.load(name)
    m = netc.compile(ir, device="meta").eval()
    assert sum(p.numel() for p in m.parameters()) == ir.params
    y = m(torch.empty(2, *ir.input_shape, device="meta"))
    assert tuple(y.shape) == (2, *shape) and tuple(ir.output_shape) == shape


def test_small_networks_run_on_real_tensors():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    with torch.no_grad():
        assert netc.compile("squeezenet1_1").eval()(torch.randn(1, 3, 17, 17)).shape == (1, 1000)
        assert netc.compile("resnet18", num_classes=10).eval()(torch.randn(2, 3, 32, 32)).shape == (2, 10)
        # U-Net with valid convolutions at its smallest tile: 188x188 in, 4x4 out
        assert netc.compile("unet").eval()(torch.randn(1, 1, 188, 188)).shape == (1, 2, 4, 4)


def test_unet_is_figure_1():
    ir = netc.load("unet")
    assert ir.params == UNET_PARAMS and ir.input_shape == (1, 572, 572)
    sizes = {n.name: tuple(n.shape) for n in ir.layers()}
    assert sizes["conv1_2"] == (64, 568, 568) and sizes["conv5_2"] == (1024, 28, 28)
    assert sizes["up4"] == (512, 56, 56) and sizes["skip4"] == (1024, 56, 56)    # 64x64 cropped to 56x56
    assert sizes["skip1"] == (128, 392, 392) and sizes["score"] == (2, 388, 388)
    assert ir.node("up4").kind == "upconv" and ir.node("up4").act == "none"
    assert ir.node("score").act == "none"


def test_unet_same_crop_is_proven_and_needed():
    """Going up, 2*(H/16) meets the skip's H/8: equal when 16 divides H, smaller otherwise. netc
    proves the up-sampled map is never the larger, so concat(crop) is exact for every H; a plain
    concat is refused with both sizes."""
    ir = netc.load("unet_same")
    assert ir.any_size and str(ir.output_shape[1]) == "16*(H/16)"
    text = (netc.elaborate.specref.bundled_dir() / "unet.net").read_text()
    errors = netc.check(text.replace("concat(crop)", "concat"), "unet.net")
    messages = [e.message for e in errors]
    assert any("512 x H/8 x W/8" in m and "512 x 2*(H/16) x 2*(W/16)" in m for m in messages), messages


def test_unet_same_runs_at_sizes_not_divisible_by_16():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    m = netc.compile("unet_same").eval()
    with torch.no_grad():
        assert m(torch.randn(1, 1, 72, 56)).shape == (1, 2, 64, 48)
        assert m(torch.randn(1, 1, 64, 48)).shape == (1, 2, 64, 48)


def test_squeezenet_table1_sizes_are_the_caffe_crop():
    """Table 1 prints conv1 111x111 and maxpool1 55x55: the 227x227 crops of the Caffe release.
    torchvision's 224x224 gives 109 and 54, then the same 27 and 13."""
    def sizes(ref):
        ir = netc.load(ref)
        return [tuple(ir.node(n).shape[1:]) for n in ("conv1", "maxpool1", "maxpool4", "maxpool8")]
    assert sizes("squeezenet:paper") == [(111, 111), (55, 55), (27, 27), (13, 13)]
    assert sizes("squeezenet1_0") == [(109, 109), (54, 54), (27, 27), (13, 13)]
    assert netc.load("squeezenet:paper").params == TORCHVISION["squeezenet1_0"][0]
