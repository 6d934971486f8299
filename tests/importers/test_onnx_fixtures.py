"""Committed ONNX files of torchvision's models (tests/data/onnx/), imported without the world venv.

The large models are graph only: every initializer over 256 values is stripped (its data said to be
in an external file that does not exist), so the import must read the spec from the graph alone
(shapes from the declared dimensions, shape arithmetic computed, nothing big read). Each is
compared with its golden spec (``<name>.net``, made by ``netc import`` of the same file) and its
parameter count with two oracles: the weights the file's operators read, counted from the ONNX
graph here (each use: the dynamo exporter shares one initializer among equal weights), and
torchvision's published count (``counts.json``), which the file's count falls short of by the
batch norms the exporters fold into the convolutions and the zero biases they drop.

- resnet18-dyn: the dynamo exporter (opset 18), module-path names from its scopes;
- shufflenet_v2_x1_0-ts: the TorchScript exporter (opset 17), x.chunk(2, 1) as Slice with
  ends computed from Shape, read as split(2) { identity ; ... };
- vit_b_16-dyn: patch embedding, class token, position embedding, attention written out as
  MatMul / Softmax (mhsa), select(0);
- convnext_block-dyn: a ConvNeXt stem and block (torchvision's CNBlock, LayerNorm2d) with its
  weights: dynamo's as_strided (Reshape + Gather of 0..n-1) and ReduceMean with axes as an input;
  its imported spec with --weights gives onnxruntime's outputs.
Regenerate with the world venv: tests/data/onnx/make_fixtures.py (export, strip, netc import).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

onnx = pytest.importorskip("onnx")

import netc  # noqa: E402
from netc.importers import from_onnx  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "data" / "onnx"
COUNTS = json.loads((DATA / "counts.json").read_text())
#: torchvision's published parameter counts (its model builders' docs)
TORCHVISION = {"resnet18": 11_689_512, "shufflenet_v2_x1_0": 2_278_604, "vit_b_16": 86_567_656}
GRAPH_ONLY = ["resnet18-dyn", "shufflenet_v2_x1_0-ts", "vit_b_16-dyn"]


def _file_params(path: Path) -> int:
    """The weights the file's operators read, each use counted: Conv, Gemm, MatMul, LayerNorm and
    BatchNorm's scale and shift, and the learned tensors added, multiplied or concatenated (biases,
    position embedding, layer scale, class token): declared shapes only, nothing read."""
    m = onnx.load(str(path), load_external_data=False)
    dims = {t.name: list(t.dims) for t in m.graph.initializer}
    alias = {n.output[0]: n.input[0] for n in m.graph.node if n.op_type in ("Identity", "Expand")
             and n.input and n.input[0] in dims}
    size = lambda v: math.prod(dims[alias.get(v, v)]) if alias.get(v, v) in dims else 0  # noqa: E731
    total = 0
    for n in m.graph.node:
        ins = list(n.input)
        if n.op_type in ("Conv", "Gemm", "LayerNormalization"):
            total += sum(size(i) for i in ins[1:3])
        elif n.op_type == "BatchNormalization":
            total += sum(size(i) for i in ins[1:3])
        elif n.op_type == "MatMul":
            total += sum(size(i) for i in ins if len(dims.get(i, [])) == 2)
        elif n.op_type in ("Add", "Mul", "Concat"):       # a scalar constant is no weight
            total += sum(size(i) for i in ins if size(i) > 1)
    return total


@pytest.mark.parametrize("name", GRAPH_ONLY + ["convnext_block-dyn"])
def test_fixture_imports_as_its_golden_spec(name):
    text = from_onnx(str(DATA / f"{name}.onnx"))
    assert text == (DATA / f"{name}.net").read_text()


@pytest.mark.parametrize("name", GRAPH_ONLY)
def test_fixture_counts_are_the_files_and_at_most_torchvisions(name):
    text = (DATA / f"{name}.net").read_text()
    params = netc.loads(text).params
    c = COUNTS[f"{name}.onnx"]
    assert params == c["params"] == _file_params(DATA / f"{name}.onnx") + c.get("zero_biases", 0)
    model = name.rsplit("-", 1)[0]
    assert COUNTS[f"{name}.onnx"]["torchvision"] == TORCHVISION[model]
    assert 0.99 * TORCHVISION[model] < params <= TORCHVISION[model]


def test_graph_only_fixtures_hold_no_weights():
    """The graph-only files are small, and what they strip cannot be read: --weights says so."""
    total = sum((DATA / f"{n}.onnx").stat().st_size for n in GRAPH_ONLY)
    assert total < 400_000
    from netc.importers import ImportError_, onnx_import
    with pytest.raises(ImportError_, match="external data 'stripped.bin'"):
        onnx_import.weights(str(DATA / "resnet18-dyn.onnx"), (DATA / "resnet18-dyn.net").read_text())


def test_the_golden_specs_read_as_the_language_writes_these_networks():
    shuffle = (DATA / "shufflenet_v2_x1_0-ts.net").read_text()
    assert "split(2) {" in shuffle and "shuffle(2)" in shuffle
    vit = (DATA / "vit_b_16-dyn.net").read_text()
    for word in ("patch16-768", "cls-token", "pos-embed", "mhsa(12)", "select(0)"):
        assert word in vit, word
    assert "as_strided" not in (DATA / "convnext_block-dyn.net").read_text()


def test_convnext_block_with_weights_gives_onnxruntimes_outputs():
    torch = pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")
    from netc.importers import onnx_import
    path = DATA / "convnext_block-dyn.onnx"
    text = from_onnx(str(path))
    model = netc.compile(netc.loads(text)).eval()
    netc.load_weights(model, onnx_import.weights(str(path), text))
    assert sum(p.numel() for p in model.parameters()) == _file_params(path) == 1429
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = torch.cat([torch.from_numpy(sess.run(None, {sess.get_inputs()[0].name: x[i:i + 1].numpy()})[0])
                      for i in range(2)])
    with torch.no_grad():
        got = model(x)
    assert got.shape == want.shape
    assert float((got - want).abs().max()) <= 1e-4 * max(1.0, float(want.abs().max()))
