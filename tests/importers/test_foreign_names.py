"""A kind is importable from every format by its one definition: a kind the importers have never
heard of (an absolute value, ``absval``) declares its torch function, ATen operator, ONNX operator
and Caffe layer type, and netc.from_torch, torch.export's reader, ``netc import f.onnx`` and
``netc import f.prototxt`` read it, with the source's parameter count and outputs. The importers
name no kind: the six kinds the issue counts appear as string literals only in their own
definitions."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from netc.kinds import DEFAULT
from netc.kinds.base import Kind
from tests.conftest import imports_as_module

ROOT = Path(__file__).resolve().parents[2]


class AbsVal(Kind):
    kind, words, prefix, family, pointwise, functional = "absval", ("absval", "abs"), "abs", "act", True, True
    doc = "the absolute value of each input: absval (Caffe's AbsVal)"
    torch_functions, aten = ("abs",), ("aten.abs.default",)
    onnx, caffe = {"Abs": {}}, {"AbsVal": {}}

    def torch_params(self, m, x):
        return {}

    def lower(self, lo, args):
        import torch
        return lo.call(torch.abs, args[0], name=lo.name)


@pytest.fixture
def absval():
    kind = DEFAULT.register(AbsVal())
    try:
        yield kind
    finally:
        DEFAULT.unregister("absval")


def test_the_importers_name_none_of_the_counted_kinds():
    """`grep -rlE "[\"']maxpool[\"']"` and the like, over the project's files less tests and bench:
    each of the six kinds only in the file that defines it."""
    home = {"lrn": "compiler/kinds/norm.py", "spp": "compiler/kinds/pool.py", "avgpool": "compiler/kinds/pool.py",
            "dropout": "compiler/kinds/misc.py", "softmax": "compiler/kinds/act.py",
            "maxpool": "compiler/kinds/pool.py"}
    try:
        files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    files = [f for f in files.split() if not f.startswith(("tests/", "bench/")) and (ROOT / f).is_file()]
    texts = {f: (ROOT / f).read_text(errors="replace") for f in files}
    for kind, where in home.items():
        pat = re.compile(rf"[\"']{kind}[\"']")
        assert [f for f, t in texts.items() if pat.search(t)] == [where], kind


def test_torch_fx_and_torch_export_read_a_new_kind(absval):
    torch = pytest.importorskip("torch")
    import netc
    from netc.importers import export_import, header
    from netc.importers.printer import to_spec

    def from_export(module, x):
        net = export_import.read(module, x)
        return to_spec(net, header(net, "torch.export"))

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.fc = torch.nn.Linear(8, 4)

        def forward(self, x):
            return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(torch.abs(self.conv(x)), 1), 1))

    torch.manual_seed(0)
    src, x = Net().eval(), torch.randn(2, 3, 16, 16)
    for text in (netc.from_torch(src, x), from_export(src, x)):
        assert "absval" in text
        imports_as_module(src, x, text)


def test_onnx_reads_a_new_kind(absval, tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    torch = pytest.importorskip("torch")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    import netc
    from netc.importers import from_onnx
    rng = np.random.default_rng(0)
    w, b = rng.standard_normal((8, 3, 3, 3)).astype("float32"), rng.standard_normal(8).astype("float32")
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
         helper.make_node("Abs", ["c"], ["a"]), helper.make_node("GlobalAveragePool", ["a"], ["y"])],
        "absnet", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 1, 1])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    path = tmp_path / "abs.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    text = from_onnx(str(path))
    assert "absval" in text
    ir = netc.loads(text)
    assert ir.params == w.size + b.size
    m = netc.compile(ir).eval()
    netc.load_weights(m, {"w": torch.from_numpy(w), "b": torch.from_numpy(b)})
    x = rng.standard_normal((1, 3, 8, 8)).astype("float32")
    (ref,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    with torch.no_grad():
        assert np.abs(m(torch.from_numpy(x)).numpy() - ref).max() < 1e-5


def test_caffe_reads_a_new_kind(absval):
    import netc
    from netc.importers import from_caffe
    text = from_caffe("absnet.prototxt", """
name: "absnet"
input: "data"
input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 8 kernel_size: 3 pad: 1 } }
layer { name: "abs1" type: "AbsVal" bottom: "conv1" top: "conv1" }
layer { name: "fc" type: "InnerProduct" bottom: "conv1" top: "fc" inner_product_param { num_output: 4 } }
""")
    assert "absval" in text
    assert netc.loads(text).params == 8 * 3 * 9 + 8 + 8 * 8 * 8 * 4 + 4
