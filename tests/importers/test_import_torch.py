"""netc.from_torch and load_weights(model, module): PyTorch modules back to specs, weights matched
by dataflow rather than by the order a module registered its layers in."""
from __future__ import annotations

import sys

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import netc  # noqa: E402
from netc.diff import diff  # noqa: E402
from netc.importers import ImportError_  # noqa: E402

from conftest import run_cli  # noqa: E402

# the image networks (the language models come back through netc import config.json: tests/backends/test_llm_hf.py)
CONFIGS = [f"{ir.filename}:{ir.config}" for n in netc.bundled_names() for ir in netc.load_all(n) if not ir.input_spec.tokens]


@pytest.mark.parametrize("ref", CONFIGS, ids=lambda r: r.rsplit("/", 1)[-1])
def test_every_bundled_spec_round_trips_through_from_torch(ref):
    ir0 = netc.load(ref)
    model = netc.compile(ir0, device="meta")          # tracing needs no weights
    c, h, w = ir0.input_shape
    h, w = (h, w) if isinstance(h, int) else (224, 224)
    text = netc.from_torch(model, torch.empty(1, c, h, w, device="meta"))
    ir = netc.loads(text)
    d = diff(ir0, ir)
    assert d.identical, [(e.op, e.old and e.old.name, e.new and e.new.name, e.changes) for e in d.edits]
    assert ir.params == ir0.params


def test_googlenet_traced_back_is_short_and_uses_one_inception_block():
    text = netc.from_torch(netc.compile("googlenet", device="meta"), torch.empty(1, 3, 224, 224, device="meta"))
    assert len(text.splitlines()) <= 60
    assert text.count("block inception(") == 1 and "aux loss2 on inception_4d weight 0.3" in text


class HeadFirst(nn.Module):
    """Registers its classifier before its trunk."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(8 * 4 * 4, 10)
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        return self.head(torch.flatten(self.pool(torch.relu(self.c1(x))), 1))


def test_from_torch_and_load_weights_from_a_module_registered_out_of_order():
    torch.manual_seed(0)
    src, x = HeadFirst().eval(), torch.randn(2, 3, 8, 8)
    text = netc.from_torch(src, x)
    assert netc.check(text) == []
    assert [l for l in text.splitlines() if not l.startswith("#")] == [
        "input 8x8 RGB", "var num_classes = 10", "", "conv3-8 as c1", "maxpool as pool", "FC-num_classes as head",
        "soft-max"]
    model = netc.compile(netc.loads(text)).eval()
    with pytest.raises(netc.NetcError, match="pass the source module itself"):
        netc.load_weights(model, src.state_dict())    # by registration order: the head comes first
    netc.load_weights(model, src)
    with torch.no_grad():
        assert torch.allclose(model(x), src(x), atol=1e-6)


# ------------------------------------------------------------------ torchvision's googlenet layout
class BasicConv2d(nn.Module):
    def __init__(self, cin, cout, **kw):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, bias=False, **kw)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)), inplace=True)


class Inception(nn.Module):
    def __init__(self, cin, n1, r3, n3, r5, n5, pp):
        super().__init__()
        self.branch1 = BasicConv2d(cin, n1, kernel_size=1)
        self.branch2 = nn.Sequential(BasicConv2d(cin, r3, kernel_size=1), BasicConv2d(r3, n3, kernel_size=3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(cin, r5, kernel_size=1), BasicConv2d(r5, n5, kernel_size=3, padding=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True), BasicConv2d(cin, pp, kernel_size=1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    def __init__(self, cin, classes):
        super().__init__()
        self.conv = BasicConv2d(cin, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, classes)
        self.dropout = nn.Dropout(0.7)

    def forward(self, x):
        x = self.conv(F.adaptive_avg_pool2d(x, (4, 4)))
        return self.fc2(self.dropout(F.relu(self.fc1(torch.flatten(x, 1)), inplace=True)))


class TorchvisionGoogLeNet(nn.Module):
    """torchvision/models/googlenet.py's layout, written out: the auxiliary heads are registered
    before the final classifier, so registration order is not dataflow order."""

    def __init__(self, classes=1000):
        super().__init__()
        self.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)
        self.aux1 = InceptionAux(512, classes)
        self.aux2 = InceptionAux(528, classes)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(1024, classes)

    def forward(self, x):
        x = self.maxpool2(self.conv3(self.conv2(self.maxpool1(self.conv1(x)))))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if self.training else None
        x = self.inception5b(self.inception5a(self.maxpool4(self.inception4e(x))))
        x = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
        return (x, aux2, aux1) if self.training else x


def test_torchvision_layout_googlenet_loads_into_googlenet_torchvision():
    torch.manual_seed(0)
    src = TorchvisionGoogLeNet().eval()
    with torch.no_grad():
        for m in src.modules():     # non-trivial batch-norm statistics, so that buffers are checked too
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    model = netc.compile("googlenet:torchvision").eval()
    x = torch.randn(1, 3, 224, 224)
    # by dataflow from the module; and from the bare state_dict too, whose side heads are found
    # where their shapes fit (torchvision registers aux1/aux2 before fc)
    for source in (src, src.state_dict()):
        netc.compile("googlenet:torchvision")       # nothing cached between the two loads
        netc.load_weights(model, source)
        with torch.no_grad():
            assert torch.allclose(model(x), src(x), atol=1e-4)
    # a source in another order, whose shapes do not fit anywhere: the hint says to pass the module
    shuffled = dict(reversed(list(src.state_dict().items())))
    with pytest.raises(netc.NetcError) as e:
        netc.load_weights(model, shuffled)
    assert "load_weights(model, source_module)" in e.value.hint
    assert src.training is False and model.training is False        # modes are put back


def test_from_torch_names_what_it_cannot_express():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(3, 4, 3)
            self.act = nn.Softplus()

        def forward(self, x):
            return self.act(self.c(x))
    with pytest.raises(ImportError_, match="calls act, a Softplus, which has no netc kind"):
        netc.from_torch(Odd(), torch.randn(1, 3, 8, 8))


def test_cli_import_of_a_callable_runs_only_what_was_asked(tmp_path):
    (tmp_path / "mynets.py").write_text(
        "import torch.nn as nn\n"
        "def tiny():\n"
        "    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),\n"
        "                         nn.Linear(8 * 16 * 16, 10))\n")
    r = run_cli("import", "mynets:tiny", "--input", "3x32x32", "-o", str(tmp_path / "t.net"),
                "--weights", str(tmp_path / "t.pt"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "t.net").read_text()
    assert "conv3-8 as 0" in text or "conv3-8" in text
    assert netc.load(str(tmp_path / "t.net")).params == 3 * 9 * 8 + 8 + 8 * 16 * 16 * 10 + 10
    r = run_cli("import", "nosuchmodule:f", cwd=tmp_path)
    assert r.returncode == 2 and "cannot import nosuchmodule:f" in r.stderr


def test_import_netc_still_does_not_import_torch():
    code = "import netc, netc.importers, sys; print('torch' in sys.modules)"
    import subprocess
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False"


class ShapeBranch(nn.Module):
    """Control flow on the input's size: torch.fx cannot trace it, torch.export can."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        if x.shape[-1] > 4:
            x = self.pool(torch.relu(self.bn(self.c1(x))))
        return self.fc(torch.flatten(x, 1))


def test_from_torch_falls_back_to_torch_export():
    torch.manual_seed(0)
    src, x = ShapeBranch().eval(), torch.randn(2, 3, 8, 8)
    text = netc.from_torch(src, x)
    assert "torch.export" in text and "conv3-8 as c1" in text and "bn as bn" in text
    model = netc.compile(netc.loads(text)).eval()
    with pytest.warns(UserWarning, match="the order one run of it uses them"):    # fx cannot trace it
        netc.load_weights(model, src)
    with torch.no_grad():
        assert torch.allclose(model(x), src(x), atol=1e-6)
