"""netc import of ONNX files: networks netc exported come back as the same spec, weights
included; an operator with no netc kind is an error naming the node."""
from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

import netc  # noqa: E402
from netc.diff import diff  # noqa: E402
from netc.importers import ImportError_, from_onnx  # noqa: E402

from conftest import run_cli  # noqa: E402


def _export(model, x, path, train: bool):
    """TorchScript-based export; in training mode the file keeps dropout and the side outputs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.train(train)
        kw = {"training": torch.onnx.TrainingMode.PRESERVE, "do_constant_folding": False} if train else {}
        torch.onnx.export(model, x, str(path), dynamo=False, **kw)


def _edits(d):
    return [(e.op, e.old and e.old.name, e.changes) for e in d.edits]


@pytest.mark.parametrize("ref", ["googlenet"])
def test_exported_spec_imports_back_identical(ref, tmp_path):
    ir0 = netc.load(ref)
    _export(netc.compile(ir0), torch.randn(2, *ir0.input_shape), tmp_path / "n.onnx", train=True)
    text = from_onnx(str(tmp_path / "n.onnx"))
    ir = netc.loads(text)
    assert ir.params == ir0.params
    d = diff(ir0, ir)
    # ONNX has no notion of a loss weight: side outputs come back with weight 1
    assert all(e.op == "change" and [c[0] for c in e.changes] == ["weight"] for e in d.edits), _edits(d)
    assert not d.downstream


@pytest.mark.slow
def test_every_bundled_spec_round_trips_through_onnx(tmp_path):
    for ir0 in [ir for n in netc.bundled_names() for ir in netc.load_all(n)]:
        if ir0.any_size:      # SPP and adaptive pooling export as masks, not as pooling operators
            continue
        _export(netc.compile(ir0), torch.randn(2, *ir0.input_shape), tmp_path / "n.onnx", train=True)
        ir = netc.loads(from_onnx(str(tmp_path / "n.onnx")))
        d = diff(ir0, ir)
        assert ir.params == ir0.params and all([c[0] for c in e.changes] == ["weight"] for e in d.edits), ir0.config


SPEC = """input 16x16 RGB
conv3-8
LRN
maxpool3/2(ceil)
conv(out=4, k=1, bn=true)
FC-10
"""


def test_onnx_weights_give_the_same_outputs(tmp_path):
    torch.manual_seed(0)
    model = netc.compile(netc.loads(SPEC)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.1)
        for b in model.buffers():
            if b.dtype.is_floating_point:
                b.uniform_(0.5, 1.0)
    x = torch.randn(2, 3, 16, 16)
    _export(model, x, tmp_path / "s.onnx", train=False)
    r = run_cli("import", str(tmp_path / "s.onnx"), "-o", str(tmp_path / "s.net"), "--weights", str(tmp_path / "s.pt"))
    assert r.returncode == 0, r.stderr
    back = netc.compile(str(tmp_path / "s.net")).eval()
    back.load_state_dict(torch.load(tmp_path / "s.pt"))
    with torch.no_grad():
        assert torch.allclose(back(x), model.eval()(x), atol=1e-5)


def test_an_operator_without_a_netc_kind_is_an_error_naming_the_node(tmp_path):
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["r"], name="act"),
                           helper.make_node("Erf", ["r"], ["y"], name="weird")], "g", [x], [y])
    onnx.save(helper.make_model(g), str(tmp_path / "e.onnx"))
    with pytest.raises(ImportError_, match="node weird of type Erf has no netc kind"):
        from_onnx(str(tmp_path / "e.onnx"))
    r = run_cli("import", str(tmp_path / "e.onnx"))
    assert r.returncode == 1 and "Erf" in r.stderr and "Traceback" not in r.stderr


def _conv_bn_file(path, bias: str):
    """Conv (3 -> 8, 3x3, no bias of its own) then BatchNormalization, as torch's dynamo exporter writes
    ``nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8))`` without optimising:
    its bias input all zeros, ``bias`` saying how: "val" (an initializer the exporter names val_N, what
    its constant folding leaves), "computed" (Expand of a zero Constant to the weight's output channels,
    what it writes before folding), "trained" (a zero initializer named as a module's parameter,
    ``0.bias``: a trained bias that happens to be zero). Returns the torch module with the same weights."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1, bias=bias == "trained"),
                            torch.nn.BatchNorm2d(8)).eval()
    with torch.no_grad():
        if bias == "trained":
            m[0].bias.zero_()
        for t in (m[1].weight, m[1].bias, m[1].running_mean):
            t.normal_(0, 0.5)
        m[1].running_var.uniform_(0.5, 2.0)
    inits = {"0.weight": m[0].weight, "1.weight": m[1].weight, "1.bias": m[1].bias,
             "1.running_mean": m[1].running_mean, "1.running_var": m[1].running_var}
    nodes, b = [], {"val": "val_5", "computed": "val_5", "trained": "0.bias"}[bias]
    if bias == "computed":
        nodes += [helper.make_node("Shape", ["0.weight"], ["val_0"], start=0, end=1),
                  helper.make_node("Constant", [], ["val_3"], value=numpy_helper.from_array(np.array(0, np.float32))),
                  helper.make_node("Expand", ["val_3", "val_0"], ["val_5"])]
    else:
        inits[b] = torch.zeros(8)
    nodes += [helper.make_node("Conv", ["input", "0.weight", b], ["conv2d"], kernel_shape=[3, 3],
                               pads=[1, 1, 1, 1], strides=[1, 1]),
              helper.make_node("BatchNormalization", ["conv2d", "1.weight", "1.bias", "1.running_mean",
                                                      "1.running_var"], ["out"], epsilon=1e-5, momentum=0.9)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 8, 8, 8])],
                          [numpy_helper.from_array(v.detach().numpy().astype(np.float32), k) for k, v in inits.items()])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    return m


@pytest.mark.parametrize("bias", ["val", "computed", "trained"])
def test_a_zero_bias_the_exporter_made_reads_as_no_bias(bias, tmp_path):
    """torch's exporter writes a convolution without bias with a zero bias it makes (not optimising, as
    netc's own export does to keep its batch norms): read as bias=false, so the import has the source's
    parameters; a trained bias of zeros (named as the module's) stays a bias."""
    from netc.importers import onnx_import
    f = tmp_path / "cb.onnx"
    src = _conv_bn_file(f, bias)
    text = from_onnx(str(f))
    assert ("bias=false" in text) == (bias != "trained"), text
    back = netc.compile(netc.loads(text)).eval()
    assert sum(p.numel() for p in back.parameters()) == sum(p.numel() for p in src.parameters())
    back.load_state_dict(onnx_import.weights(str(f), text))
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        want = src(x)
        assert torch.allclose(back(x), want, atol=1e-5)
    ort = pytest.importorskip("onnxruntime")
    got = ort.InferenceSession(str(f), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    assert torch.allclose(torch.from_numpy(got), want, atol=1e-5)
