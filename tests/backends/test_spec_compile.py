"""Every bundled configuration compiles (on the meta device) and runs one forward pass on CPU at
its input size. The oracle is outside netc's own counting: paper-facts.md's numbers, and the
multiply-adds measured the way paper-facts.md measured them (forward hooks on nn.Conv2d and
nn.Linear) on the compiled torch module."""
from __future__ import annotations

import importlib.util

import pytest

import netc

if importlib.util.find_spec("torch") is None:
    pytest.skip("torch is not installed (pip install netc[torch])", allow_module_level=True)
if importlib.util.find_spec("netc.backends.torch") is None:
    pytest.skip("the torch backend (netc.backends.torch) has not landed yet", allow_module_level=True)

import torch  # noqa: E402
from torch import nn  # noqa: E402

from conftest import ROOT  # noqa: E402
from paper_facts import EXACT  # noqa: E402

SPECS = ["vgg", "googlenet", "chatfield", "sppnet", "alexnet"]
BIG = {"googlenet:naive",    # 12.6G multiply-adds: its forward runs only with -m slow
       # the deeper ResNets and DenseNets (7-12G multiply-adds, or hundreds of layers) and U-Net's
       # 572x572 tile (150G); resnet18/34/50, densenet121 and inception_v3 stand for their files
       "resnet:resnet101", "resnet:resnet152", "densenet:densenet161", "densenet:densenet169",
       "densenet:densenet201", "densenet:densenet264", "unet:unet",
       "vit:vit_b_16", "vit:vit_l_16", "vit:vit_h_14", "swin:swin_s", "swin:swin_b",   # 8.7G to 167G
       "swin:swin_v2_s", "swin:swin_v2_b",                                              # 11.5G, 20.3G
       # the zoo of 2016-2023 above 5G multiply-adds, and the dense-prediction networks at 520x520 or
       # 800x800 (88G to 169G): their own tests run them small (test_zoo_c/d, test_zoo_dense_a/b)
       "resnet:resnext101_32x8d", "resnet:wide_resnet50_2", "resnet:fcn_resnet50", "resnet:deeplabv3_resnet50",
       "resnet:resnet50_fpn", "efficientnet:efficientnet_v2_s", "convnext:convnext_small", "maxvit:maxvit_t",
       "mobilenet:deeplabv3_mobilenet_v3_large"}


def bundled_refs() -> list[str]:
    refs = []
    for f in sorted((ROOT / "specs").glob("*.net")):
        refs += [f"{f.stem}:{c}" for c in netc.program(str(f)).own_configs()]
    return refs


REFS = bundled_refs()


def canonical(ref: str) -> str:
    """Give the key EXACT uses: 'googlenet:googlenet' -> 'googlenet'."""
    spec, cfg = ref.split(":")
    return spec if cfg == spec else ref


def test_every_spec_is_bundled():
    assert {r.split(":")[0] for r in REFS} >= set(SPECS)
    assert {canonical(r) for r in REFS} >= set(EXACT)


@pytest.mark.parametrize("ref", REFS)
def test_compiles_on_meta_with_the_papers_parameter_count(ref):
    model = netc.compile(ref, device="meta")
    n = sum(p.numel() for p in model.parameters())
    assert n == netc.load(ref).params
    if canonical(ref) in EXACT:
        assert n == EXACT[canonical(ref)][0]
    assert all(p.device.type == "meta" for p in model.parameters())


def hooked_macs(model: nn.Module) -> tuple[list[int], list]:
    """MACs of conv and linear layers, counted the way paper-facts.md counts them. An attention
    module computes its projections and QK^T, AV inside and reports them (``netc_macs``); those are
    checked independently against torch's aten-level flop counter in tests/backends/test_transformers.py."""
    total: list[int] = []

    def attention(m, inp, out):
        total.append(m.netc_macs(inp[0], out) * out.shape[0])

    def conv(m, _inp, out):
        kh, kw = m.kernel_size
        total.append(out.numel() * (m.in_channels // m.groups) * kh * kw)

    def linear(m, _inp, out):
        total.append(out.numel() * m.in_features)

    hooks = [m.register_forward_hook(conv if isinstance(m, nn.Conv2d) else linear)
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    hooks += [m.register_forward_hook(attention) for m in model.modules() if hasattr(m, "netc_macs")]
    return total, hooks


def cpu_model(ref: str) -> nn.Module:
    # build on meta, then take uninitialised CPU storage: the shapes matter, not the values
    return netc.compile(ref, device="meta").to_empty(device="cpu")


def run_forward(ref: str):
    ir = netc.load(ref)
    model = cpu_model(ref).eval()
    x = torch.zeros(1, *ir.input_shape)
    macs, hooks = hooked_macs(model)
    with torch.inference_mode():
        y = model(x)
    for h in hooks:
        h.remove()
    if ir.outputs:          # several named outputs: a dict, each of its type
        assert list(y) == list(ir.outputs)
        assert all(tuple(y[k].shape) == (1, *ir.node(n).type) for k, n in ir.outputs.items())
    else:
        assert isinstance(y, torch.Tensor) and tuple(y.shape) == (1, *ir.output_shape)
    assert sum(macs) == ir.macs
    if canonical(ref) in EXACT:
        assert sum(macs) == EXACT[canonical(ref)][2]


@pytest.mark.parametrize("ref", [r for r in REFS if r not in BIG])
def test_one_cpu_forward(ref):
    if not netc.load(ref).input_spec.fixed:
        pytest.skip("an H x W input: no nominal size to run at (its own tests run it at sizes they choose)")
    run_forward(ref)


@pytest.mark.slow
@pytest.mark.parametrize("ref", sorted(BIG))
def test_one_cpu_forward_big(ref):
    run_forward(ref)


def test_googlenet_training_forward_returns_the_side_outputs():
    model = cpu_model("googlenet").train()
    macs, hooks = hooked_macs(model)
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 224, 224))
    for h in hooks:
        h.remove()
    assert [tuple(o.shape) for o in out] == [(1, 1000)] * 3
    assert model.aux_weights == {"loss1": 0.3, "loss2": 0.3}
    assert sum(macs) == EXACT["googlenet"][3]               # paper-facts 3.4, MACs in training


def test_fine_tuning_and_grayscale_compile():
    voc = cpu_model_with("chatfield:CNN-M", num_classes=20)
    assert tuple(voc(torch.zeros(1, 3, 224, 224)).shape) == (1, 20)
    gray = cpu_model_with("chatfield:CNN-M-gray")
    assert tuple(gray(torch.zeros(1, 1, 224, 224)).shape) == (1, 1000)


def cpu_model_with(ref: str, **overrides) -> nn.Module:
    return netc.compile(ref, device="meta", **overrides).to_empty(device="cpu").eval()


def test_spp_net_runs_at_other_sizes():
    model = cpu_model("sppnet:ZF-5").eval()
    with torch.inference_mode():
        for hw in ((180, 180), (224, 300)):
            assert tuple(model(torch.zeros(1, 3, *hw)).shape) == (1, 1000)


def test_lrn_matches_pytorch_constants():
    """paper-facts section 1: Krizhevsky's LRN is nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2)."""
    model = netc.compile("chatfield:CNN-F", device="cpu").eval()
    x = torch.rand(1, 64, 8, 8) * 10
    ref = nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)(x)
    lrn = dict(model.named_modules())["norm1"]
    assert torch.allclose(lrn(x), ref, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ reference implementations
# Written from the sources paper-facts.md cites (torchvision's alexnet.py, bvlc_alexnet and
# bvlc_googlenet deploy.prototxt), in plain PyTorch; netc's module must compute the same function.
def relu_conv(*a, **k):
    return nn.Sequential(nn.Conv2d(*a, **k), nn.ReLU())


def torchvision_alexnet():
    return nn.Sequential(
        relu_conv(3, 64, 11, 4, 2), nn.MaxPool2d(3, 2), relu_conv(64, 192, 5, padding=2), nn.MaxPool2d(3, 2),
        relu_conv(192, 384, 3, padding=1), relu_conv(384, 256, 3, padding=1), relu_conv(256, 256, 3, padding=1),
        nn.MaxPool2d(3, 2), nn.AdaptiveAvgPool2d(6), nn.Flatten(), nn.Dropout(), nn.Linear(9216, 4096), nn.ReLU(),
        nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 1000))


def caffe_alexnet():
    lrn = lambda: nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)   # noqa: E731  (paper constants)
    return nn.Sequential(
        relu_conv(3, 96, 11, 4), lrn(), nn.MaxPool2d(3, 2), relu_conv(96, 256, 5, padding=2, groups=2), lrn(),
        nn.MaxPool2d(3, 2), relu_conv(256, 384, 3, padding=1), relu_conv(384, 384, 3, padding=1, groups=2),
        relu_conv(384, 256, 3, padding=1, groups=2), nn.MaxPool2d(3, 2), nn.Flatten(),
        nn.Linear(9216, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 1000))


class Inception(nn.Module):
    def __init__(self, cin, n1, r3, n3, r5, n5, pp):
        super().__init__()
        self.b1 = relu_conv(cin, n1, 1)
        self.b3 = nn.Sequential(relu_conv(cin, r3, 1), relu_conv(r3, n3, 3, padding=1))
        self.b5 = nn.Sequential(relu_conv(cin, r5, 1), relu_conv(r5, n5, 5, padding=2))
        self.bp = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), relu_conv(cin, pp, 1))

    def forward(self, x):
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], 1)


def bvlc_googlenet():
    pool = lambda: nn.MaxPool2d(3, 2, ceil_mode=True)                     # noqa: E731
    lrn = lambda: nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)   # noqa: E731
    rows = [(192, 64, 96, 128, 16, 32, 32), (256, 128, 128, 192, 32, 96, 64), "pool",
            (480, 192, 96, 208, 16, 48, 64), (512, 160, 112, 224, 24, 64, 64), (512, 128, 128, 256, 24, 64, 64),
            (512, 112, 144, 288, 32, 64, 64), (528, 256, 160, 320, 32, 128, 128), "pool",
            (832, 256, 160, 320, 32, 128, 128), (832, 384, 192, 384, 48, 128, 128)]
    return nn.Sequential(
        relu_conv(3, 64, 7, 2, 3), pool(), lrn(), relu_conv(64, 64, 1), relu_conv(64, 192, 3, padding=1), lrn(),
        pool(), *[pool() if r == "pool" else Inception(*r) for r in rows], nn.AvgPool2d(7, 1), nn.Flatten(),
        nn.Linear(1024, 1000))


@pytest.mark.parametrize("ref,reference", [("alexnet:torchvision", torchvision_alexnet),
                                           ("alexnet:paper", caffe_alexnet),
                                           ("googlenet", bvlc_googlenet)])
def test_same_function_as_a_reference_implementation(ref, reference):
    torch.manual_seed(0)
    theirs = reference().eval()
    ours = netc.load_weights(netc.compile(ref, device="cpu"), theirs.state_dict(), strict=False).eval()
    n_theirs = sum(p.numel() for p in theirs.parameters())
    assert n_theirs == netc.load(ref).params_inference
    x = torch.rand(1, *netc.load(ref).input_shape) * 255 - 128     # pixel scale, so the LRN matters
    with torch.inference_mode():
        a, b = ours(x), theirs(x)
    # relative to the output's scale: LRN's k off by 0.5 moves GoogLeNet's output by ~4e-3 of it
    assert a.shape == b.shape and (a - b).abs().max() <= 1e-4 * b.abs().max(), (a - b).abs().max()
