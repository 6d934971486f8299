"""The hand-written reference CNNs (tests/references) against torchvision's published figures.

Parameter counts are torchvision's ``num_params`` metadata; multiply-adds are its ``_ops`` metadata
(GFLOPS in its docs, but one multiply-add counts as one operation), which count convolutions and
matrix products only (no bias, norm, activation, pooling, residual add or squeeze-excitation
product), in eval mode (Inception-v3's aux head does not run). Counts and MACs are taken on the meta
device; real forwards run at batch 1 only.
"""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from tests.references import BUILDERS  # noqa: E402
from tests.references.macs import count_macs, macs  # noqa: E402

# name: (parameters, published GMACs or None, input side, input channels, output shape)
EXPECTED = {
    "resnet18": (11_689_512, 1.814, 224, 3, (1, 1000)),
    "resnet34": (21_797_672, 3.664, 224, 3, (1, 1000)),
    "resnet50": (25_557_032, 4.089, 224, 3, (1, 1000)),
    "resnet101": (44_549_160, 7.801, 224, 3, (1, 1000)),
    "resnet152": (60_192_808, 11.514, 224, 3, (1, 1000)),
    "mobilenet_v2": (3_504_872, 0.301, 224, 3, (1, 1000)),
    "mobilenet_v3_large": (5_483_032, 0.217, 224, 3, (1, 1000)),
    "densenet121": (7_978_856, 2.834, 224, 3, (1, 1000)),
    "efficientnet_b0": (5_288_548, 0.386, 224, 3, (1, 1000)),
    "convnext_tiny": (28_589_128, 4.456, 224, 3, (1, 1000)),
    "inception_v3": (27_161_264, 5.713, 299, 3, (1, 1000)),
    "squeezenet1_0": (1_248_424, 0.819, 224, 3, (1, 1000)),
    "unet": (31_030_658, None, 572, 1, (1, 2, 388, 388)),
}

# Exact conv+linear multiply-adds of each reference (the published figures are these, rounded).
EXACT_MACS = {
    "resnet18": 1_814_073_344, "resnet34": 3_663_761_408, "resnet50": 4_089_184_256,
    "resnet101": 7_801_405_440, "resnet152": 11_513_626_624, "mobilenet_v2": 300_774_272,
    "mobilenet_v3_large": 216_589_760, "densenet121": 2_834_161_664, "efficientnet_b0": 385_814_752,
    "convnext_tiny": 4_455_531_264, "inception_v3": 5_713_216_096, "squeezenet1_0": 818_924_576,
    "unet": 150_428_424_448,  # checked by hand: 23 convs / up-convs of Figure 1
}

# Smallest square input each reference accepts (eval mode), found by scanning H = W.
MIN_SIZE = {
    "resnet18": 1, "resnet34": 1, "resnet50": 1, "resnet101": 1, "resnet152": 1, "mobilenet_v2": 1,
    "mobilenet_v3_large": 1, "efficientnet_b0": 1, "convnext_tiny": 32, "densenet121": 29,
    "inception_v3": 75, "squeezenet1_0": 21, "unet": 188,
}


def meta_model(name: str):
    with torch.device("meta"):
        return BUILDERS[name]().eval()


@pytest.mark.parametrize("name", list(EXPECTED))
def test_parameter_count(name):
    params = sum(p.numel() for p in meta_model(name).parameters())
    assert params == EXPECTED[name][0]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_macs_match_torchvision(name):
    params, published, size, channels, _ = EXPECTED[name]
    total = macs(meta_model(name), size, channels)
    assert total == EXACT_MACS[name]
    if published is not None:
        assert abs(total / 1e9 - published) <= 0.0015
        assert round(total / 1e9, 3) == published  # in fact the published figure is this, rounded


def test_inception_aux_head_is_not_in_the_published_macs():
    """The aux head runs only in training mode; counting it would give 5.719, not 5.713."""
    model = meta_model("inception_v3").train()
    total, per_module = count_macs(model, torch.zeros(2, 3, 299, 299, device="meta"))
    aux = sum(v for k, v in per_module.items() if k.startswith("AuxLogits.")) // 2
    assert total // 2 - aux == EXACT_MACS["inception_v3"]
    assert round(total / 2e9, 3) == 5.719


def test_aux_head_parameters():
    with torch.device("meta"):
        model = BUILDERS["inception_v3"](aux_logits=False)
    assert sum(p.numel() for p in model.parameters()) == 23_834_568


@pytest.mark.parametrize("name", list(EXPECTED))
def test_output_shape_meta(name):
    _, _, size, channels, shape = EXPECTED[name]
    out = meta_model(name)(torch.zeros(1, channels, size, size, device="meta"))
    assert tuple(out.shape) == shape


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny",
                                  "densenet121", "squeezenet1_0"])
def test_real_forward_at_min_size(name):
    """A real CPU forward at the smallest accepted input; one pixel less fails (where it can)."""
    torch.manual_seed(0)
    model = BUILDERS[name]().eval()
    size = MIN_SIZE[name]
    with torch.no_grad():
        out = model(torch.randn(1, 3, size, size))
        assert out.shape == (1, 1000) and torch.isfinite(out).all()
        if size > 1:
            with pytest.raises(RuntimeError):
                model(torch.randn(1, 3, size - 1, size - 1))


@pytest.mark.parametrize("name", ["inception_v3", "unet"])
def test_min_size_meta(name):
    channels = EXPECTED[name][3]
    model = meta_model(name)
    size = MIN_SIZE[name]
    model(torch.zeros(1, channels, size, size, device="meta"))
    with pytest.raises(RuntimeError):
        model(torch.zeros(1, channels, size - 1, size - 1, device="meta"))


def test_inception_train_mode_returns_aux_logits():
    """Training mode returns (logits, aux_logits); the aux head needs the full 299x299 input
    (its 5x5 conv wants a 17x17 grid at Mixed_6e), eval mode goes down to 75x75. Shapes only."""
    model = meta_model("inception_v3").train()
    logits, aux = model(torch.zeros(2, 3, 299, 299, device="meta"))
    assert logits.shape == (2, 1000) and aux.shape == (2, 1000)
    with pytest.raises(RuntimeError):
        model(torch.zeros(2, 3, 298, 298, device="meta"))


def test_real_forward_full_size():
    torch.manual_seed(0)
    with torch.no_grad():
        for name in ("resnet50", "inception_v3"):
            size = EXPECTED[name][2]
            out = BUILDERS[name]().eval()(torch.randn(1, 3, size, size))
            assert out.shape == (1, 1000) and torch.isfinite(out).all()


def test_state_dict_layout_samples():
    """Spot checks of torchvision's key names and order (the full layout mirrors its modules)."""
    keys = {name: list(meta_model(name).state_dict()) for name in EXPECTED}
    assert keys["resnet50"][:6] == ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean",
                                    "bn1.running_var", "bn1.num_batches_tracked"]
    assert "layer1.0.downsample.0.weight" in keys["resnet50"] and keys["resnet50"][-2:] == ["fc.weight", "fc.bias"]
    assert "features.1.conv.0.0.weight" in keys["mobilenet_v2"] and "features.2.conv.3.weight" in keys["mobilenet_v2"]
    assert "features.4.block.2.fc1.weight" in keys["mobilenet_v3_large"]
    assert keys["mobilenet_v3_large"][-4:] == ["classifier.0.weight", "classifier.0.bias", "classifier.3.weight",
                                               "classifier.3.bias"]
    assert "features.1.0.block.1.fc2.bias" in keys["efficientnet_b0"]
    assert "features.8.0.weight" in keys["efficientnet_b0"] and keys["efficientnet_b0"][-1] == "classifier.1.bias"
    cn = keys["convnext_tiny"]
    assert cn[:4] == ["features.0.0.weight", "features.0.0.bias", "features.0.1.weight", "features.0.1.bias"]
    assert cn[4:6] == ["features.1.0.layer_scale", "features.1.0.block.0.weight"]
    assert "features.2.0.weight" in cn and "features.2.1.weight" in cn and cn[-4:-2] == ["classifier.0.weight",
                                                                                          "classifier.0.bias"]
    assert "features.denseblock1.denselayer1.norm1.weight" in keys["densenet121"]
    assert "features.transition3.conv.weight" in keys["densenet121"] and "features.norm5.bias" in keys["densenet121"]
    inc = keys["inception_v3"]
    assert inc.index("AuxLogits.fc.bias") < inc.index("Mixed_7a.branch3x3_1.conv.weight")
    assert "Mixed_6b.branch7x7dbl_5.bn.running_var" in inc and inc[-2:] == ["fc.weight", "fc.bias"]
    assert "features.3.expand3x3.weight" in keys["squeezenet1_0"] and keys["squeezenet1_0"][-1] == "classifier.1.bias"
    assert keys["unet"][:4] == ["down1.0.weight", "down1.0.bias", "down1.2.weight", "down1.2.bias"]
    assert keys["unet"][-2:] == ["head.weight", "head.bias"]


def _torchvision_models():
    try:
        from torchvision import models  # not installed in netc's environment; used where it is
    except Exception:  # ImportError, or a torchvision whose C ops do not match this torch
        pytest.skip("torchvision not importable")
    return models


@pytest.mark.parametrize("name", [n for n in EXPECTED if n != "unet"])
def test_against_torchvision(name):
    """Where torchvision is importable: same state-dict keys, order and shapes, same module tree,
    and the same eval-mode output after loading torchvision's (randomised) weights. Run once against
    torchvision 0.28.0: every network identical, outputs bitwise equal."""
    models = _torchvision_models()
    kwargs = dict(aux_logits=True, transform_input=False, init_weights=False) if name == "inception_v3" else {}
    theirs, ours = getattr(models, name)(**kwargs).eval(), BUILDERS[name]().eval()
    state = theirs.state_dict()
    assert [(k, v.shape) for k, v in state.items()] == [(k, v.shape) for k, v in ours.state_dict().items()]
    assert [n for n, _ in theirs.named_modules()] == [n for n, _ in ours.named_modules()]
    torch.manual_seed(0)
    with torch.no_grad():
        for key, value in state.items():
            if value.is_floating_point():
                value.copy_(torch.rand_like(value) + 0.5 if "running_var" in key else torch.randn_like(value) * 0.05)
    ours.load_state_dict(state)
    x = torch.randn(1, 3, EXPECTED[name][2], EXPECTED[name][2])
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))
