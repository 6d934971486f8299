"""Side outputs: returned in train(), absent (and not computed) in eval(); the module survives
deepcopy and torch.save/torch.load in either mode."""
from __future__ import annotations

import copy
import io

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import netc  # noqa: E402

SPEC = """
input 32x32 RGB
var num_classes = 10
block inception(n1, r3, n3, r5, n5, pp) {
    concat {
        conv1-n1 as 1x1
        conv1-r3 as 3x3_reduce -> conv3-n3 as 3x3
        conv1-r5 as 5x5_reduce -> conv5-n5 as 5x5
        maxpool3/1(pad=1, ceil) as pool -> conv1-pp as pool_proj
    }
}
default config mini {
    conv3-16 as conv1
    maxpool3/2(ceil) as pool1
    inception(8, 8, 16, 4, 8, 8) as 3a
    maxpool3/2(ceil) as pool3
    inception(8, 8, 16, 4, 8, 8) as 4a
    gap
    FC-num_classes as classifier
    soft-max
    aux loss1 on 3a weight 0.3 { avgpool5/3 as pool
                                 FC-32 as fc
                                 dropout(0.7) as drop
                                 FC-num_classes as classifier }
    aux loss2 on 4a weight 0.2 { gap as pool
                                 FC-num_classes as classifier }
}
"""


@pytest.fixture()
def model():
    torch.manual_seed(0)
    return netc.compile(netc.loads(SPEC))


def test_train_returns_main_and_aux(model):
    x = torch.randn(2, 3, 32, 32)
    out = model.train()(x)
    assert isinstance(out, tuple) and [o.shape for o in out] == [(2, 10)] * 3
    assert model.aux_weights == {"loss1": 0.3, "loss2": 0.2}
    y = model.eval()(x)
    assert isinstance(y, torch.Tensor) and torch.allclose(y, out[0])   # no dropout on the main path
    loss = sum(w * nn.functional.cross_entropy(o, torch.tensor([1, 2]))
               for w, o in zip([1.0, *model.aux_weights.values()], model.train()(x)))
    loss.backward()
    assert model.loss1.fc.weight.grad is not None


def test_eval_runs_no_side_head(model):
    calls = []
    for name, m in model.named_modules():
        if name.startswith(("loss1.", "loss2.")):
            m.register_forward_hook(lambda *a, name=name: calls.append(name))
    model.eval()(torch.randn(1, 3, 32, 32))
    assert calls == [] and "loss1" not in model.code
    model.train()(torch.randn(1, 3, 32, 32))
    assert "loss1.classifier" in calls and "loss2.classifier" in calls


def test_side_heads_always_registered(model):
    keys = list(model.eval().state_dict())
    assert "loss1.fc.weight" in keys and keys.index("loss1.fc.weight") > keys.index("classifier.weight")
    assert sum(p.numel() for p in model.parameters()) == netc.loads(SPEC).params


@pytest.mark.parametrize("mode", [True, False])
def test_deepcopy_and_pickle(model, mode):
    model.train(mode)
    x = torch.randn(2, 3, 32, 32)
    for other in (copy.deepcopy(model), _roundtrip(model)):
        assert type(other).__name__ == "NetcModule" and other.training == mode
        assert other.aux_weights == model.aux_weights and other.netc == model.netc
        assert list(other.state_dict()) == list(model.state_dict())
        other.eval(), model.eval()
        assert torch.equal(other(x), model(x))
        assert len(other.train()(x)) == 3
        model.train(mode)


def _roundtrip(m):
    buf = io.BytesIO()
    torch.save(m, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=False)


def test_copy_is_independent(model):
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.conv1.weight.zero_()
    assert model.conv1.weight.abs().sum() > 0
    other.eval()
    assert model.training and isinstance(model(torch.randn(1, 3, 32, 32)), tuple)
