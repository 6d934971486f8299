"""A compiled model goes through PyTorch's own tooling: TorchScript (script and trace),
torch.export, torch.compile and ONNX (checked in onnxruntime), and the ``netc compile`` CLI."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import netc  # noqa: E402
from netc.tools.cli import main  # noqa: E402
from tests.conftest import run_cli  # noqa: E402


class _Result:
    def __init__(self, code, captured):
        self.returncode, self.stdout, self.stderr = code, captured.out, captured.err


@pytest.fixture()
def cli(capsys):
    """The netc CLI in this process (torch is imported once): cli(*args) -> returncode, stdout, stderr."""
    def run(*args):
        capsys.readouterr()
        code = main(list(args))
        return _Result(code, capsys.readouterr())
    return run

SPEC = """
input 16x16 RGB
var num_classes = 5
conv3-8 as conv1
maxpool3/2(ceil) as pool1
LRN(size=3) as norm1
concat {
    conv1-8 as a
    conv1-4 as b -> conv3-8 as c
}
add {
    conv3-16 as d
    identity
}
conv(out=8, k=1, bias=false, bn=true) as proj
maxpool
FC-32 as fc
dropout(0.5)
FC-num_classes as out
soft-max
aux side on proj weight 0.3 { gap
                              FC-num_classes as classifier }
"""


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = netc.compile(netc.loads(SPEC)).eval()
    with torch.no_grad():   # non-trivial batch-norm statistics
        m.proj_bn.running_mean.uniform_(-0.5, 0.5)
        m.proj_bn.running_var.uniform_(0.5, 2.0)
    return m


@pytest.fixture(scope="module")
def x():
    return torch.randn(3, 3, 16, 16)


def test_torchscript(model, x):
    want = model(x)
    assert torch.allclose(torch.jit.script(model)(x), want, atol=1e-6)
    assert torch.allclose(torch.jit.trace(model, x)(x), want, atol=1e-6)


def test_torch_export(model, x):
    ep = torch.export.export(model, (x,))
    assert torch.allclose(ep.module()(x), model(x), atol=1e-6)


def test_torch_compile_cpu(model, x):
    compiled = torch.compile(model, backend="aot_eager")   # dynamo + AOTAutograd, no C++ toolchain
    assert torch.allclose(compiled(x), model(x), atol=1e-5)


@pytest.mark.slow
def test_torch_compile_inductor(model, x):
    compiled = torch.compile(model)
    assert torch.allclose(compiled(x), model(x), atol=1e-4)


def test_onnx_runs_in_onnxruntime(model, x, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from netc.backends.torch.export import export
    path = tmp_path / "m.onnx"
    done = export(model, path, x)
    assert done.format == "onnx" and done.shape == (None, 3, 16, 16) and not done.dynamic_hw
    assert done.describe() == "input (N, 3, 16, 16), fixed size"
    sess = ort.InferenceSession(str(path))
    for batch in (x, torch.randn(7, 3, 16, 16)):   # the batch dimension stays dynamic
        (got,) = sess.run(None, {sess.get_inputs()[0].name: batch.numpy()})
        assert abs(got - model(batch).detach().numpy()).max() < 1e-4
    assert model.training is False


def test_cli_print_and_pt2(tmp_path, cli):
    spec = tmp_path / "net.net"
    spec.write_text(SPEC)
    r = cli("compile", str(spec), "--print")
    assert r.returncode == 0 and "def forward(self, x):" in r.stdout and "side" not in r.stdout
    assert "x_checked = self.input_guard(x)" in r.stdout and "self.conv1(x_checked)" in r.stdout
    r = cli("compile", str(spec), "--print", "--train")
    assert "self.side.classifier" in r.stdout and "return (out, side_classifier)" in r.stdout
    out = tmp_path / "net.pt2"
    r = cli("compile", str(spec), "--set", "num_classes=4", "-o", str(out))
    assert r.returncode == 0, r.stderr
    ep = torch.export.load(str(out))
    assert ep.module()(torch.randn(2, 3, 16, 16)).shape == (2, 4)


@pytest.mark.slow
def test_cli_onnx(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "vgg.onnx"
    r = run_cli("compile", "vgg:A", "--set", "num_classes=10", "-o", str(out))
    assert r.returncode == 0, r.stderr
    sess = ort.InferenceSession(str(out))
    assert sess.run(None, {"input": torch.randn(1, 3, 224, 224).numpy()})[0].shape == (1, 10)
    assert "input (N, 3, 224, 224), fixed size" in r.stderr


def test_cli_state_dict_and_weights(tmp_path, cli):
    spec = tmp_path / "net.net"
    spec.write_text(SPEC)
    sd = tmp_path / "w.pt"
    assert cli("compile", str(spec), "-o", str(sd)).returncode == 0
    keys = list(torch.load(sd, weights_only=True))
    assert keys[:2] == ["conv1.weight", "conv1.bias"]
    r = cli("compile", str(spec), "--weights", str(sd), "--print")
    assert r.returncode == 0, r.stderr
    r = cli("compile", str(spec), "--set", "num_classes=3", "--weights", str(sd), "--print")
    assert r.returncode == 1 and "out.weight" in r.stderr and "[3, 32]" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("args,code,text", [
    (["vgg:Z", "--print"], 2, "no configuration 'Z'"),
    (["vgg:A", "--set", "num_clases=3", "--print"], 2, "did you mean 'num_classes'"),
    (["vgg:A", "-o", "model.txt"], 2, "cannot tell the export format"),
    (["vgg:A"], 2, "nothing to do"),
    (["vgg:A", "--weights", "/nonexistent.pt", "--print"], 2, "no such weight file"),
    (["vgg:E", "--budget", "100000000", "--print"], 1, "143,667,240 parameters"),
])
def test_cli_bad_input(args, code, text, cli):
    r = cli("compile", *args)
    assert r.returncode == code and text in r.stderr and "Traceback" not in r.stderr


def test_budget_refused_before_allocation(tmp_path):
    with pytest.raises(netc.LimitError, match="143,667,240 parameters, more than the (budget|limit) of 1,000"):
        netc.compile("vgg:E", budget=1000)
    huge = tmp_path / "huge.net"   # 25 billion parameters: would need 100 GB
    huge.write_text("input 224x224 RGB\nFC-100000\nFC-100000\n")
    with pytest.raises(netc.LimitError, match="25,053,000,000 parameters"):
        netc.compile(huge)
    assert sum(p.numel() for p in netc.compile(huge, device="meta", budget=None).parameters()) == 25_053_000_000
    r = run_cli("compile", str(huge), "--print")
    assert r.returncode == 1 and "25,053,000,000 parameters" in r.stderr and "Traceback" not in r.stderr


# ---------------------------------------------------------------- networks that take any size
# Oracle: the eager module's output at each size; the IR's smallest input (netc check).
ANY = {
    "spp": "input HxW RGB\nconv3-4/2 as conv1\nmaxpool as pool1\nconv3-6 as conv2\nspp[3,2,1] as spp\nFC-5 as fc\n",
    "spp_avg": "input HxW RGB\nconv3-4/2 as conv1\nspp(levels=[3,1], mode=avg) as spp\nFC-5 as fc\n",
    "adaptive_avgpool": "input 32x32 RGB\nconv3-4/2 as conv1\nadaptive-avgpool(3) as pool\nFC-5 as fc\n",
    "gmp": "input HxW RGB\nconv3-4 as conv1\ngmp\nFC-5 as fc\n",
}


def any_model(kind):
    torch.manual_seed(1)
    return netc.compile(netc.loads(ANY[kind])).eval()


def sizes(model):
    mh, mw = model.netc["min_input"]
    return [(mh, mw), (mh + 1, mw + 2), (mh + 13, mw), (17, 30), (64, 48)]


def test_torchscript_any_size_networks():
    """Every any-size network scripts (bug: 'try blocks aren't supported' in the guard, then
    'Can't redefine method: forward on class InputGuard' for the next one)."""
    torch.manual_seed(0)
    for ref, hw in [("sppnet:ZF-5", [(31, 31), (100, 77), (224, 224)]),
                    ("alexnet:torchvision", [(63, 63), (224, 224)])]:
        m = netc.compile(ref).eval()
        s = torch.jit.script(m)
        with torch.no_grad():
            for h, w in hw:
                x = torch.randn(2, 3, h, w)
                assert torch.equal(s(x), m(x)), (ref, h, w)
        with pytest.raises(Exception, match="smaller than this network's minimum"):
            s(torch.randn(1, 3, 20, 20))
    m = any_model("gmp")   # an `input HxW` spec
    s = torch.jit.script(m)
    for h, w in sizes(m):
        x = torch.randn(2, 3, h, w)
        assert torch.equal(s(x), m(x)), (h, w)


@pytest.mark.parametrize("kind", list(ANY))
def test_onnx_any_size_keeps_h_and_w_dynamic(kind, tmp_path):
    """ONNX has no adaptive pooling: SPP and adaptive pools are exported by bin masks, H and W
    stay dynamic, and onnxruntime equals torch at every size from the smallest one up."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from netc.backends.torch.export import export
    m = any_model(kind)
    path = tmp_path / "m.onnx"
    done = export(m, path)
    mh, mw = m.netc["min_input"]
    assert done.shape == (None, 3, None, None) and done.min_hw == (mh, mw)
    assert done.describe() == f"input (N, 3, H, W), any size >= {mh}x{mw}"
    sess = ort.InferenceSession(str(path))
    assert [isinstance(d, str) for d in sess.get_inputs()[0].shape] == [True, False, True, True]
    with torch.no_grad():
        for batch in (1, 3):
            for h, w in sizes(m):
                x = torch.randn(batch, 3, h, w)
                (got,) = sess.run(None, {"input": x.numpy()})
                assert abs(got - m(x).numpy()).max() < 1e-5, (kind, batch, h, w)
    assert m.spp.masked is False if hasattr(m, "spp") else True   # the export form is undone


def test_pt2_any_size(tmp_path):
    from netc.backends.torch.export import export
    m = any_model("spp")
    done = export(m, tmp_path / "m.pt2")
    assert done.format == "pt2" and done.dynamic_hw and done.min_hw == m.netc["min_input"]
    prog = torch.export.load(str(tmp_path / "m.pt2")).module()
    with torch.no_grad():
        for h, w in sizes(m):
            x = torch.randn(2, 3, h, w)
            assert torch.equal(prog(x), m(x)), (h, w)


def test_cli_onnx_any_size(tmp_path, cli):
    ort = pytest.importorskip("onnxruntime")
    spec = tmp_path / "spp.net"
    spec.write_text("input HxW RGB\nconv3-4/2 as conv1\nspp[2,1] as spp\nFC-5 as fc\n")
    out = tmp_path / "spp.onnx"
    r = cli("compile", str(spec), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "input (N, 3, H, W), any size >= 1x1" in r.stderr and "internal error" not in r.stderr
    sess = ort.InferenceSession(str(out))
    for h, w in ((1, 1), (40, 29)):
        assert sess.run(None, {"input": torch.randn(1, 3, h, w).numpy()})[0].shape == (1, 5)


def test_export_example_below_the_minimum_is_netc_error(tmp_path, cli):
    r = cli("compile", "sppnet:ZF-5", "--input", "20x20", "-o", str(tmp_path / "z.onnx"))
    assert r.returncode == 1 and "smaller than this network's minimum of 31x31" in r.stderr
    r = cli("compile", "vgg:A", "--input", "256x256", "-o", str(tmp_path / "a.onnx"))
    assert r.returncode == 1 and "224x224 images" in r.stderr and "Traceback" not in r.stderr


class DataDependent(torch.nn.Module):
    """A custom layer torch.export cannot trace: its control flow depends on the values."""

    def __init__(self, channels):
        super().__init__()

    def forward(self, x):
        return x if bool(x.sum() > 0) else -x


@pytest.fixture()
def unexportable(tmp_path, monkeypatch):
    from netc.kinds import DEFAULT
    netc.register_layer("valuegate", DataDependent, shape=lambda s: s, n_params=lambda i, o: 0, macs=lambda i, o: 0)
    spec = tmp_path / "u.net"
    spec.write_text("input 8x8 RGB\nconv3-4 as conv1\nvaluegate as gate\nFC-3 as fc\n")
    yield spec
    DEFAULT.unregister("valuegate")


def test_unexportable_network_is_a_clear_error(unexportable, tmp_path, cli):
    from netc.backends.torch.export import ExportError, export
    m = netc.compile(unexportable).eval()
    assert m(torch.randn(1, 3, 8, 8)).shape == (1, 3)
    with pytest.raises(ExportError, match="cannot export"):
        export(m, tmp_path / "u.onnx")
    for out in ("u.onnx", "u.pt2"):
        r = cli("compile", str(unexportable), "-o", str(tmp_path / out))
        assert r.returncode == 1 and "cannot export" in r.stderr, r.stderr
        assert "internal error" not in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("ref,check", [("sppnet:ZF-5", [(31, 31), (32, 45), (180, 180), (224, 224), (300, 257)]),
                                       ("alexnet:torchvision", [(63, 63), (224, 224), (250, 301)]),
                                       ("googlenet:torchvision", [(15, 15), (224, 224), (161, 250)])])
def test_cli_onnx_bundled_any_size(ref, check, tmp_path):
    """The reviewer's command: `netc compile sppnet:ZF-5 -o z.onnx` (it crashed with "No ONNX
    function found for aten.adaptive_max_pool2d"); the file runs at every size from the minimum
    up and equals the eager module with the same weights."""
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    m = netc.compile(ref).eval()
    if any(isinstance(b, torch.nn.BatchNorm2d) for b in m.modules()):
        with torch.no_grad():   # non-trivial statistics, so that folding them into the convolutions shows
            for b in m.modules():
                if isinstance(b, torch.nn.BatchNorm2d):
                    b.running_mean.uniform_(-0.5, 0.5)
                    b.running_var.uniform_(0.5, 2.0)
    weights = tmp_path / "w.pt"
    torch.save(m.state_dict(), weights)
    out = tmp_path / "z.onnx"
    r = run_cli("compile", ref, "--weights", str(weights), "-o", str(out))
    assert r.returncode == 0, r.stderr
    mh, mw = m.netc["min_input"]
    assert f"input (N, 3, H, W), any size >= {mh}x{mw}" in r.stderr
    sess = ort.InferenceSession(str(out))
    with torch.no_grad():
        for h, w in check:
            x = torch.randn(2, 3, h, w)
            want = m(x).numpy()
            got = sess.run(None, {"input": x.numpy()})[0]
            assert abs(got - want).max() < 1e-4 * max(1.0, abs(want).max()), (ref, h, w)
