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
