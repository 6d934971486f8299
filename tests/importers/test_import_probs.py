"""A source that returns probabilities imports as one that does: a Softmax node at the end of an
ONNX graph, a module ending in x.softmax(1) and a netc network compiled with `output probs` print
`output probs` (netc leaves a trailing soft-max to the loss unless told), and the compiled spec gives
the source's outputs. A loss's soft-max (Caffe's SoftmaxWithLoss, a netc network that returns
logits) stays a trailing soft-max; so does a Caffe file's prob layer, as the papers' tables and
netc's bundled specs write it (a VGG deploy file is vgg:D, by netc diff)."""
from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import netc  # noqa: E402
from netc.importers import from_caffe, from_onnx  # noqa: E402
from tests.conftest import imports_as_module  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data"


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8, 5)

    def forward(self, x):
        return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(self.conv(x).relu(), 1), 1)).softmax(1)


def test_a_module_ending_in_softmax_imports_with_output_probs():
    torch.manual_seed(0)
    src, x = Net().eval(), torch.randn(2, 3, 16, 16)
    text = netc.from_torch(src, x)
    assert text.rstrip().endswith("output probs")
    imports_as_module(src, x, text)


def test_an_onnx_graph_ending_in_softmax_gives_onnxruntimes_probabilities(tmp_path):
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    src, x = Net().eval(), torch.randn(1, 3, 16, 16)
    path = tmp_path / "net.onnx"
    torch.onnx.export(src, (x,), str(path), dynamo=False, opset_version=17)
    text = from_onnx(str(path))
    assert text.rstrip().endswith("output probs")
    m = netc.compile(netc.loads(text)).eval()
    netc.load_weights(m, src)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (ref,) = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        assert abs(m(x).numpy() - ref).max() < 1e-6


def test_caffe_prob_and_loss_softmax_are_the_papers_trailing_softmax():
    for f in ("caffe-vgg16-deploy.prototxt", "bvlc_googlenet-train_val.prototxt"):
        text = from_caffe(str(DATA / "caffe" / f))
        assert "output probs" not in text and "\nsoft-max\n" in text


@pytest.mark.parametrize("mode", ["logits", "probs"])
def test_a_netc_network_round_trips_its_output_mode(mode):
    spec = f"input 16x16 RGB\nconv3-8\ngap\nFC-5\nsoft-max\noutput {mode}\n"
    torch.manual_seed(0)
    src, x = netc.compile(netc.loads(spec)).eval(), torch.randn(2, 3, 16, 16)
    text = netc.from_torch(src, x)
    assert ("output probs" in text) == (mode == "probs")
    imports_as_module(src, x, text)
