"""netc's ONNX export holds the network's own layers and parameters: each batch norm stays a
BatchNormalization (the exporter's optimizer would fold it into its conv), a conv without a bias
gets no made-up zero bias, a bias parameter that happens to be zero stays, no equal tensors are
merged; the file still gives the module's outputs in onnxruntime and imports back with the
spec's parameter count. Side outputs (aux heads) are written only when asked for."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

import numpy as np  # noqa: E402

import netc  # noqa: E402
from netc.backends.torch.export import export  # noqa: E402
from tests.conftest import run_cli  # noqa: E402

SPEC = """
input 16x16 RGB
var num_classes = 5
conv(out=8, k=3, bias=false, bn=true) as stem
add {
    conv(out=8, k=3, bias=false, bn=true) as a
    identity
}
conv(out=8, k=1) as zero_bias
maxpool
FC-num_classes as out
aux side on a weight 0.3 { gap
                           FC-num_classes as classifier }
"""

ANY_SIZE = """
input HxW RGB
conv(out=8, k=3, bias=false, bn=true) as stem
conv(out=8, k=3, stride=2, bias=false, bn=true) as down
gap
FC-4 as out
"""


def _model(text):
    torch.manual_seed(0)
    m = netc.compile(netc.loads(text)).eval()
    with torch.no_grad():   # batch norm statistics that are not the identity; a zero bias parameter
        for name, b in m.named_buffers():
            if name.endswith("running_mean"):
                b.uniform_(-0.5, 0.5)
            elif name.endswith("running_var"):
                b.uniform_(0.5, 2.0)
        if hasattr(m, "zero_bias"):
            m.zero_bias.bias.zero_()
    return m


def _file_params(path, model) -> int:
    """The values of the file's initializers that are parameters of the model."""
    names = {n for n, _ in model.named_parameters()}
    return sum(int(np.prod(t.dims)) for t in onnx.load(str(path)).graph.initializer if t.name in names)


@pytest.mark.parametrize("text", [SPEC, ANY_SIZE], ids=["fixed", "any-size"])
def test_onnx_keeps_batch_norm_and_gives_the_module_outputs(text, tmp_path):
    model = _model(text)
    path = tmp_path / "m.onnx"
    export(model, path)
    g = onnx.load(str(path)).graph
    ops = [n.op_type for n in g.node]
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert ops.count("BatchNormalization") == len(bns) > 0
    inits = {t.name for t in g.initializer}
    for n in g.node:    # every conv bias is the network's own (none made up of zeros)
        if n.op_type == "Conv" and len(n.input) > 2 and n.input[2]:
            assert n.input[2] in dict(model.named_parameters()), n.input[2]
    inference = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("side."))
    assert _file_params(path, model) == inference
    # every batch-norm tensor is its own initializer (equal tensors are not merged)
    assert all(f"{n}.{k}" in inits for n, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)
               for k in ("weight", "bias", "running_mean", "running_var"))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for x in (torch.randn(3, 3, 16, 16),) if "16x16" in text else (torch.randn(2, 3, 16, 16), torch.randn(1, 3, 23, 30)):
        (got,) = sess.run(None, {"input": x.numpy()})
        with torch.no_grad():
            ref = model(x).numpy()
        assert np.abs(got - ref).max() <= 1e-4 * max(1.0, np.abs(ref).max())


def test_fresh_network_keeps_its_separate_tensors(tmp_path):
    """A freshly initialised network: every batch norm's weight is ones and bias zeros, every conv
    bias zeros; the file still holds each of them (the exporter's optimizer merged equal tensors
    and dropped zero biases)."""
    torch.manual_seed(0)
    model = netc.compile(netc.loads(SPEC)).eval()
    export(model, tmp_path / "m.onnx")
    inference = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("side."))
    assert _file_params(tmp_path / "m.onnx", model) == inference


def test_onnx_imports_back_with_the_spec_counts_and_outputs(tmp_path):
    model = _model(SPEC)
    path = tmp_path / "m.onnx"
    export(model, path)
    r = run_cli("import", str(path), "-o", str(tmp_path / "m.net"), "--weights", str(tmp_path / "m.pt"))
    assert r.returncode == 0, r.stderr
    ir0, ir = netc.loads(SPEC), netc.load(str(tmp_path / "m.net"))
    assert ir.params == ir0.params_inference      # the inference graph: no side head
    back = netc.compile(ir).eval()
    netc.load_weights(back, torch.load(tmp_path / "m.pt", weights_only=True))
    x = torch.randn(2, 3, 16, 16)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (ref,) = sess.run(None, {"input": x.numpy()})
    with torch.no_grad():
        assert np.abs(back(x).numpy() - ref).max() <= 1e-4 * max(1.0, np.abs(ref).max())


def test_side_outputs_only_when_asked(tmp_path):
    model = _model(SPEC)
    done = export(model, tmp_path / "plain.onnx")
    assert done.side_outputs == () and [o.name for o in onnx.load(str(tmp_path / "plain.onnx")).graph.output] == ["output"]
    path = tmp_path / "sides.onnx"
    done = export(model, path, side_outputs=True)
    assert done.side_outputs == ("side",) and done.describe().endswith("side outputs side")
    assert not model.training and model.graph is model._netc_graphs["eval"]     # the module is as it was
    assert _file_params(path, model) == sum(p.numel() for p in model.parameters())
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["output", "side"]
    x = torch.randn(2, 3, 16, 16)
    got = sess.run(None, {"input": x.numpy()})
    model.graph = model._netc_graphs["train"]      # the training forward over inference layers
    try:
        with torch.no_grad():
            ref = [t.numpy() for t in model(x)]
    finally:
        model.graph = model._netc_graphs["eval"]
    for g, r in zip(got, ref):
        assert np.abs(g - r).max() <= 1e-4 * max(1.0, np.abs(r).max())
    r = run_cli("import", str(path), "-o", str(tmp_path / "s.net"))
    assert r.returncode == 0, r.stderr
    assert netc.load(str(tmp_path / "s.net")).params == netc.loads(SPEC).params


def test_compile_says_what_the_file_holds_and_train_writes_the_side_outputs(tmp_path):
    spec = tmp_path / "aux.net"
    spec.write_text(SPEC)
    ir = netc.loads(SPEC)
    r = run_cli("compile", str(spec), "-o", str(tmp_path / "plain.onnx"))
    assert r.returncode == 0, r.stderr
    assert f"{ir.params_inference:,} parameters, the inference graph (--train adds the side outputs' " \
           f"{ir.params - ir.params_inference:,})" in r.stderr
    r = run_cli("compile", str(spec), "--train", "-o", str(tmp_path / "train.onnx"))
    assert r.returncode == 0, r.stderr
    assert f"{ir.params:,} parameters" in r.stderr and "side outputs side" in r.stderr
    r = run_cli("import", str(tmp_path / "train.onnx"), "-o", str(tmp_path / "back.net"))
    assert r.returncode == 0, r.stderr
    assert netc.load(str(tmp_path / "back.net")).params == ir.params      # the whole network, heads too
