"""A compiled model goes through PyTorch's own tooling: TorchScript (script and trace),
torch.export, torch.compile and ONNX (checked in onnxruntime), and the ``netc compile`` CLI."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import netc  # noqa: E402
from netc.cli import main  # noqa: E402
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
    from netc.torch_backend.export import export
    path = tmp_path / "m.onnx"
    assert export(model, path, x) == "onnx"
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
    assert "self.conv1(x)" in r.stdout
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
