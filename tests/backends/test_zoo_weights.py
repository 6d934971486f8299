"""torchvision's state_dicts load into the compiled zoo and give the same outputs.

The oracle is tests/references/cnn.py: hand-written modules with torchvision's exact state_dict
layout (proven there against torchvision's own figures). Weights, biases and batch-norm statistics
are randomised so that a wrong pairing of tensors, a missing layer or a wrong activation shows.
"""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import netc  # noqa: E402
from tests.references import cnn  # noqa: E402

CASES = [("resnet50", 224), ("mobilenet_v3_large", 224), ("convnext_tiny", 224), ("efficientnet_b0", 224),
         ("resnet18", 224), ("mobilenet_v2", 224), ("squeezenet1_0", 224), ("densenet121", 224),
         ("inception_v3", 299)]


def randomize_(model: torch.nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith(("running_mean", "bias")):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            elif t.dim() <= 1 or name.endswith("layer_scale"):
                t.copy_(1 + torch.randn(t.shape, generator=g) * 0.1)
            else:
                fan_in = t[0].numel()
                t.copy_(torch.randn(t.shape, generator=g) * (2.0 / fan_in) ** 0.5)


@pytest.mark.parametrize("name,size", CASES, ids=[c[0] for c in CASES])
def test_torchvision_weights_load_and_agree(name, size):
    ref = getattr(cnn, name)().eval()
    randomize_(ref)
    model = netc.compile(name).eval()
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in ref.parameters())
    # by dataflow (the module, traced): torchvision lists a ConvNeXt block's layer_scale first and
    # Inception v3's AuxLogits mid-network; a bare state_dict is matched by order (test_torch_weights)
    netc.load_weights(model, ref)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want, got = ref(x), model(x)
    assert got.shape == want.shape == (2, 1000)
    scale = want.abs().max().item()
    assert (got - want).abs().max().item() <= 1e-4 * max(1.0, scale), name
