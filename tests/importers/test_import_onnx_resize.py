"""ONNX Resize (and opset 9's Upsample) reads as netc's upsample: nearest and bilinear, by whole
factors or to a size, with onnxruntime's outputs; what netc does not compute (cubic, sizes taken
from the graph, another pixel mapping) is refused with the node named."""
from __future__ import annotations

import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import netc  # noqa: E402
from netc.importers import ImportError_, from_onnx  # noqa: E402


def _model(tmp_path, scales=None, sizes=None, op="Resize", opset=17, **attrs):
    inits, ins = [], ["x"]
    if op == "Resize":
        ins += ["", "scales" if scales is not None else "", "sizes" if sizes is not None else ""]
    else:
        ins += ["scales"]
    if scales is not None:
        inits.append(numpy_helper.from_array(np.array(scales, dtype="float32"), "scales"))
    if sizes is not None:
        inits.append(numpy_helper.from_array(np.array(sizes, dtype="int64"), "sizes"))
    g = helper.make_graph([helper.make_node(op, [i for i in ins if i or op == "Resize"], ["y"], name="up", **attrs)],
                          "up", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    path = tmp_path / "up.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]), str(path))
    return path


CASES = [
    (dict(scales=[1, 1, 2, 2], mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
     "upsample(2)"),
    (dict(scales=[1, 1, 3, 3], mode="nearest"), "upsample(3)"),           # half_pixel, round_prefer_floor
    (dict(scales=[1, 1, 2, 2], mode="linear"), "upsample(2, mode=bilinear)"),
    (dict(scales=[1, 1, 2, 2], mode="linear", coordinate_transformation_mode="pytorch_half_pixel"),
     "upsample(2, mode=bilinear)"),
    (dict(sizes=[1, 3, 13, 13], mode="linear", coordinate_transformation_mode="align_corners"),
     "upsample(size=13, mode=bilinear, align_corners)"),
    (dict(sizes=[1, 3, 12, 20], mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
     "upsample(size=[12, 20])"),
    (dict(op="Upsample", opset=9, scales=[1, 1, 2, 2], mode="nearest"), "upsample(2)"),
]


@pytest.mark.parametrize("kw,word", CASES)
def test_resize_reads_as_upsample_with_onnxruntimes_outputs(tmp_path, kw, word):
    path = _model(tmp_path, **kw)
    text = from_onnx(str(path))
    assert word in [line.split(" as ")[0] for line in text.splitlines()]
    m = netc.compile(netc.loads(text)).eval()
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype("float32")
    (ref,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    with torch.no_grad():
        got = m(torch.from_numpy(x)).numpy()
    assert got.shape == ref.shape and np.abs(got - ref).max() < 1e-5


@pytest.mark.parametrize("kw,says", [
    (dict(scales=[1, 1, 2, 2], mode="cubic"), "mode='cubic'"),
    (dict(scales=[1, 1, 1.5, 1.5], mode="nearest"), "whole factors"),
    (dict(sizes=[1, 3, 12, 12], mode="nearest"), "coordinate_transformation_mode='half_pixel'"),
    (dict(scales=[1, 1, 2, 2], mode="linear", coordinate_transformation_mode="tf_crop_and_resize"),
     "tf_crop_and_resize"),
])
def test_what_netc_does_not_compute_is_refused_at_the_node(tmp_path, kw, says):
    with pytest.raises(ImportError_, match="node up") as e:
        from_onnx(str(_model(tmp_path, **kw)))
    assert says in str(e.value)


def test_an_any_size_export_reads_back_upsample_like(tmp_path):
    """netc's own export of upsample(like=input) at any size: the exporter computes the sizes from the
    input's shape; they read back as like=input, with onnxruntime's outputs at two sizes. (A like= of
    another layer is exported as arithmetic on the input's sizes, which the reader refuses.)"""
    pytest.importorskip("onnxscript")
    from tests.conftest import run_cli
    spec = tmp_path / "up.net"
    spec.write_text("input HxW RGB\nconv3-8/2 as c1\nconv3-8/2\nupsample(2, mode=bilinear)\n"
                    "upsample(like=input)\n")
    path = tmp_path / "up.onnx"
    assert run_cli("compile", str(spec), "-o", str(path), "--input", "32x32").returncode == 0
    r = run_cli("import", str(path), "-o", str(tmp_path / "back.net"), "--weights", str(tmp_path / "back.pt"))
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "back.net").read_text()
    assert "upsample(like=input)" in text and "upsample(2, mode=bilinear)" in text
    m = netc.compile(netc.loads(text)).eval()
    netc.load_weights(m, torch.load(tmp_path / "back.pt", weights_only=True))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for hw in ((32, 32), (40, 24)):
        x = np.random.default_rng(1).standard_normal((1, 3, *hw)).astype("float32")
        (ref,) = sess.run(None, {sess.get_inputs()[0].name: x})
        with torch.no_grad():
            got = m(torch.from_numpy(x)).numpy()
        assert got.shape == ref.shape and np.abs(got - ref).max() < 1e-4
