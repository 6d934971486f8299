"""Hostile inputs to ``netc import`` and ``netc compile --weights`` (issue #21: N05, N06, N18, N19,
N20, D12b), each generated here in tmp_path.

No test here measures time. Quadratic work is caught by counting it (probes of a set, comparisons
of a name); the large end-to-end runs go through the CLI in a subprocess under a memory cap with a
generous timeout, and assert what comes out.
"""
from __future__ import annotations

import io
import os
import resource
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import pytest

import netc
from netc.importers import ImportError_, caffe, from_caffe
from netc.importers.graph import Layer
from netc.elaborate.reserved import is_reserved

from conftest import ROOT

GB = 1 << 30
_SCRIPT = Path(sys.executable).parent / "netc"
# the console script users run: `python -m netc.tools.cli` would put the cwd first on sys.path itself
NETC = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "netc.tools.cli"]

HDR = 'name: "t"\ninput: "data"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 8\ninput_dim: 8\n'
HDR_LINES = HDR.count("\n")


def cli(*args, cwd=None, mem=3 * GB, timeout=900):
    """(returncode, stdout, stderr) of ``netc ARGS`` in a subprocess whose address space is capped."""
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    p = subprocess.run([*NETC, *map(str, args)], capture_output=True, text=True, cwd=cwd or ROOT,
                       timeout=timeout, preexec_fn=cap)
    return p.returncode, p.stdout, p.stderr


def relus(names, bottom: str = "data") -> str:
    """A chain of ReLU layers with these names, one a line."""
    out = []
    for i, name in enumerate(names):
        out.append(f'layer {{ name: "{name}" type: "ReLU" bottom: "{bottom}" top: "b{i}" }}')
        bottom = f"b{i}"
    return "\n".join(out) + "\n"


def conv(name: str, out: int | str = 4, k: int = 3, bottom: str = "data", top: str = "c") -> str:
    return (f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{top}" '
            f'convolution_param {{ num_output: {out} kernel_size: {k} }} }}\n')


# ------------------------------------------------------------------ N05: linear in the number of layers
class _CountingSet(set):
    def __init__(self, *a):
        super().__init__(*a)
        self.probes = 0

    def __contains__(self, x):
        self.probes += 1
        return super().__contains__(x)


def test_repeated_names_are_numbered_with_linear_work(monkeypatch):
    """3,000 layers named `a` (and a real `a_3` among them): each later `a` takes the next free
    suffix, found with a few probes of the names taken, not by trying a_2, a_3 ... every time."""
    n = 3000
    made = []
    init = caffe._Build.__init__

    def counting_init(self, *a, **kw):
        init(self, *a, **kw)
        self.names = _CountingSet()
        made.append(self)
    monkeypatch.setattr(caffe._Build, "__init__", counting_init)
    net = caffe.read("dup.prototxt", HDR + relus(["a", "a_3"] + ["a"] * (n - 2)))
    assert [l.name for l in net.layers] == ["a", "a_3", "a_2"] + [f"a_{k}" for k in range(4, n + 1)]
    probes = made[0].names.probes
    assert probes <= 4 * n, f"{probes:,} probes of the names for {n:,} layers"


def test_many_losses_choose_the_main_output_with_linear_work():
    """20,000 loss layers on one output: the main one is chosen in one pass (it was found with
    ``losses.index`` for each loss: n^2 / 2 comparisons)."""
    class Name(str):
        compared = 0

        def __eq__(self, other):
            Name.compared += 1
            return str.__eq__(self, other)
        __hash__ = str.__hash__

    n = 20_000
    g = caffe._Build("losses.prototxt")
    g.layers = [Layer("fc", "fc", {"out": 2, "bias": True}, ["input"])]
    g.losses = [(Name("fc"), 1.0, f"l{i}", "SoftmaxWithLoss") for i in range(n)]
    out = g.finish(types.SimpleNamespace(name="t"))
    assert out.outputs == [("fc", None)] and out.softmax_head
    assert Name.compared <= 3 * n, f"{Name.compared:,} comparisons for {n:,} losses"


def test_the_main_output_is_the_heaviest_loss_the_last_of_equals():
    g = caffe._Build("losses.prototxt")
    g.layers = [Layer(n, "fc", {"out": 2}, ["input"]) for n in ("fc", "fc2", "fc3")]
    g.losses = [("fc", 1.0, "l0", "SoftmaxWithLoss"), ("fc2", 0.3, "l1", "EuclideanLoss"),
                ("fc3", 1.0, "l2", "SoftmaxWithLoss")]
    out = g.finish(types.SimpleNamespace(name="t"))
    assert out.outputs == [("fc3", None), ("fc", 1.0), ("fc2", 0.3)]


def test_twenty_thousand_repeated_names_and_losses_import(tmp_path):
    """End to end, in a subprocess under a memory cap: 19,990 ReLUs all named `relu` and 20,000
    SoftmaxWithLoss layers. The ReLUs are named as netc names them (relu, relu_2 ...), so the spec
    writes them as runs, each at most 10,000 long (max_repeat)."""
    n = 19_990
    losses = "".join(f'layer {{ name: "l{i}" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss{i}" }}\n'
                     for i in range(20_000))
    fc = f'layer {{ name: "fc" type: "InnerProduct" bottom: "b{n - 1}" top: "fc" inner_product_param {{ num_output: 2 }} }}\n'
    f = tmp_path / "big.prototxt"
    f.write_text(HDR + relus(["relu"] * n) + fc + losses)
    code, out, err = cli("import", f, "-o", tmp_path / "big.net")
    assert code == 0, err
    text = (tmp_path / "big.net").read_text()
    assert "relu x10000\nrelu x9990\nFC-num_classes as fc\nsoft-max\n" in text
    assert "left out, used in training only: SoftmaxWithLoss" in text


# ------------------------------------------------------------------ N20: errors at the prototxt, names, runs
def test_an_error_in_the_written_spec_points_at_the_prototxt_layer(tmp_path):
    """num_output 2^31: the spec's parameter budget refuses it, at the Caffe layer and its line."""
    f = tmp_path / "wide.prototxt"
    f.write_text(HDR + conv("c", 2 ** 31))
    with pytest.raises(ImportError_) as e:
        from_caffe(str(f))
    err = e.value
    assert err.span.file == str(f) and err.span.line == HDR_LINES + 1
    assert "layer 'c' of type Convolution" in err.message and "parameters, more than the limit" in err.message
    assert "<string>" not in str(err)
    code, _, stderr = cli("import", f)
    assert code == 1 and f"wide.prototxt:{HDR_LINES + 1}:1: error: layer 'c' of type Convolution" in stderr
    assert "<string>" not in stderr and "internal error" not in stderr


def test_an_input_the_spec_cannot_take_points_at_the_input_lines():
    text = HDR.replace("input_dim: 8\ninput_dim: 8", "input_dim: 9223372036854775807\ninput_dim: 8") + \
        'layer { name: "r" type: "ReLU" bottom: "data" top: "r" }\n'
    with pytest.raises(ImportError_) as e:
        from_caffe("huge.prototxt", text)
    assert e.value.span.file == "huge.prototxt" and e.value.span.line == 3       # input_dim: 1, the first
    assert e.value.message.startswith("the input (input 9223372036854775807x8 BGR)") and "<string>" not in str(e.value)


def test_a_spec_beyond_the_file_size_limit_is_an_error_of_the_prototxt(monkeypatch):
    """Every layer needs its name written (r0 ... are not netc's names): the spec outgrows max_file_bytes."""
    monkeypatch.setitem(netc.LIMITS, "max_file_bytes", 2000)
    with pytest.raises(ImportError_) as e:
        from_caffe("many.prototxt", HDR + relus([f"r{i}" for i in range(300)]))
    assert e.value.span.file == "many.prototxt" and e.value.span.line == 1
    assert "the spec written for it: file is larger than 2,000 bytes" in e.value.message


def test_more_layers_than_the_limit_is_an_error_at_the_first_layer_beyond_it(monkeypatch):
    monkeypatch.setitem(netc.LIMITS, "max_layers", 100)
    with pytest.raises(ImportError_) as e:
        from_caffe("deep.prototxt", HDR + relus([f"r{i}" for i in range(150)]))
    assert e.value.span.line == HDR_LINES + 101 and "layer 'r100' of type ReLU" in e.value.message
    assert "150 layers, more than the limit of 100" in e.value.message


@pytest.mark.slow   # 6 s
def test_a_hundred_thousand_layers_are_refused_at_the_prototxt_line(tmp_path):
    """N20's c_100k: 100,000 ReLUs, end to end. Refused at the 20,001st layer and its line (it was
    `<string>:5:6: repetition must be between 1 and 10,000`)."""
    f = tmp_path / "c_100k.prototxt"
    f.write_text(HDR + relus([f"r{i}" for i in range(100_000)]))
    code, _, err = cli("import", f)
    assert code == 1 and f"c_100k.prototxt:{HDR_LINES + 20_001}:1: error: layer 'r20000' of type ReLU" in err
    assert "100,000 layers, more than the limit of 20,000" in err and "<string>" not in err


def test_runs_longer_than_max_repeat_are_split(monkeypatch):
    monkeypatch.setitem(netc.LIMITS, "max_repeat", 100)
    text = from_caffe("runs.prototxt", HDR + relus(["relu"] * 250))
    assert "\nrelu x100\nrelu x100\nrelu x50\n" in text
    assert sum(n.kind == "relu" for n in netc.loads(text).layers()) == 250


def test_importer_made_names_avoid_reserved_words(tmp_path):
    """A Caffe name becomes a netc name part by part: `..` (`__`, a dunder) is left out, `forward`
    and `def` take a `_`, `__init__` loses its underscores, names that then agree are numbered,
    and a name with parts at the top is joined with `_`."""
    names = ["forward", "__", "..", "def", "a/../b", "<script>alert(1)</script>\\n\\x00../../x"]
    text = HDR
    for i, name in enumerate(names):
        text += conv(name, 4, 1, "data" if i == 0 else f"c{i - 1}", f"c{i}")
    text += (f'layer {{ name: "__init__" type: "InnerProduct" bottom: "c{len(names) - 1}" top: "fc" '
             'inner_product_param { num_output: 10 } }\n')
    spec = from_caffe("names.prototxt", text)
    ir = netc.loads(spec)
    got = [n.name for n in ir.layers()]
    assert not [n for n in got for p in n.split("/") if is_reserved(p) or not p], got
    assert {"forward_", "def_", "a_b", "init", "layer", "layer_2"} <= set(got)
    f = tmp_path / "names.prototxt"
    f.write_text(text)
    code, out, err = cli("import", f)
    assert code == 0 and out == spec, err


# ------------------------------------------------------------------ N06: blob shapes that do not hold their data
W_PROTOTXT = HDR + conv("c")


def _caffemodel(path: Path, *blobs) -> None:
    """A .caffemodel whose layer 'c' holds these blobs: (shape or None, values, legacy 4 dims or None)."""
    from netc.importers.caffe_proto import NetParameter
    net = NetParameter()
    layer = net.layer.add(name="c", type="Convolution")
    for shape, values, legacy in blobs:
        b = layer.blobs.add()
        if shape is not None:
            b.shape.dim.extend(shape)
        if legacy is not None:
            b.num, b.channels, b.height, b.width = legacy
        b.data.extend(values)
    path.write_bytes(net.SerializeToString())


@pytest.mark.parametrize("shape, values, legacy, says", [
    ([2 ** 32, 2 ** 32], [], None, "declares shape 4294967296 x 4294967296 but holds 0 values"),
    ([-1, -4], [0.5] * 4, None, "declares shape -1 x -4 but holds 4 values"),
    ([4, 3, 3, 3], [0.5] * 10, None, "declares shape 4 x 3 x 3 x 3 but holds 10 values"),
    (None, [0.5] * 3, (4, 3, 3, 3), "declares shape 4 x 3 x 3 x 3 but holds 3 values"),
])
def test_a_blob_shape_that_does_not_hold_its_data_is_an_error(tmp_path, shape, values, legacy, says):
    proto, model = tmp_path / "w.prototxt", tmp_path / "m.caffemodel"
    proto.write_text(W_PROTOTXT)
    _caffemodel(model, (shape, values, legacy), ([4], [0.0] * 4, None))
    from netc.importers.caffe_weights import read_blobs
    with pytest.raises(ImportError_, match="blob of layer 'c' " + says):
        read_blobs(str(model))
    code, _, err = cli("import", proto, "--caffemodel", model, "--weights", tmp_path / "x.pt")
    assert code == 1 and "blob of layer 'c' " + says in err and "internal error" not in err, err
    assert not (tmp_path / "x.pt").exists()


def test_blobs_whose_shapes_hold_their_data_still_read(tmp_path):
    model = tmp_path / "m.caffemodel"
    _caffemodel(model, (None, [0.25] * 108, (4, 3, 3, 3)), ([4], [0.5] * 4, None), (None, [1.0] * 4, (0, 0, 0, 0)))
    from netc.importers.caffe_weights import read_blobs
    w, b, flat = read_blobs(str(model))["c"]
    assert w.shape == (4, 3, 3, 3) and b.shape == (4,) and flat.shape == (4,)


# ------------------------------------------------------------------ N18: module:callable and the cwd
@pytest.mark.skipif(not _SCRIPT.exists(), reason="needs the netc console script (python -m puts the cwd first)")
def test_import_callable_never_runs_a_torch_py_in_the_cwd(tmp_path):
    (tmp_path / "torch.py").write_text(
        'import os\nopen(os.path.join(os.path.dirname(os.path.abspath(__file__)), "PWNED"), "w").write("x")\n'
        'raise ImportError("shadow torch")\n')
    (tmp_path / "mymod.py").write_text("def f():\n    return None\n")
    (tmp_path / "goodmod.py").write_text(
        "import torch\n\ndef net():\n    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), "
        "torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 10))\n")
    (tmp_path / "badmod.py").write_text("raise ValueError('broken on purpose')\n")
    code, _, err = cli("import", "mymod:f", cwd=tmp_path)
    assert code == 2 and "mymod:f gives NoneType, not a torch.nn.Module" in err and "internal error" not in err
    code, out, err = cli("import", "goodmod:net", "--input", "3x8x8", cwd=tmp_path)
    assert code == 0 and "conv3-4" in out and "input 8x8 RGB" in out, err
    code, _, err = cli("import", "badmod:net", cwd=tmp_path)
    assert code == 2 and "module 'badmod' failed while importing: ValueError: broken on purpose" in err
    assert not (tmp_path / "PWNED").exists()


def test_import_callable_leaves_sys_path_as_it_was(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from netc.tools.commands import import_
    (tmp_path / "hostile_cwd_mod.py").write_text("import torch\nnet = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3))\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    before = list(sys.path)
    text, weights = import_._callable("hostile_cwd_mod:net", types.SimpleNamespace(input="3x8x8", weights=None))
    assert "conv3-4" in text and weights is None and sys.path == before
    assert isinstance(sys.modules["hostile_cwd_mod"].net, torch.nn.Module)


# ------------------------------------------------------------------ N19: a .pt zip bomb
SMALL = "input 32x32 RGB\nconv3-8\nFC-10\n"


def _bomb(path: Path, mib: int) -> None:
    """A torch.save archive whose one storage entry, re-written deflated, declares ``mib`` MiB of
    zeros (the pickle still says 4 floats): a few hundred KB on disk, streamed, never in memory."""
    import torch
    buf = io.BytesIO()
    torch.save({"conv1_1.weight": torch.zeros(4)}, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            if info.filename.endswith("/data/0"):
                with z.open(info.filename, "w", force_zip64=True) as f:
                    chunk = bytes(1 << 20)
                    for _ in range(mib):
                        f.write(chunk)
            else:
                z.writestr(info.filename, src.read(info.filename))


def test_a_zip_bomb_of_weights_is_refused_before_it_is_inflated(tmp_path):
    pytest.importorskip("torch")
    spec, bomb = tmp_path / "s.net", tmp_path / "bomb.pt"
    spec.write_text(SMALL)
    _bomb(bomb, 1024)
    assert bomb.stat().st_size < 2 << 20
    from netc.backends.torch.weights import unpacked_bytes
    assert unpacked_bytes(bomb) > 1 << 30
    # the child's peak memory, measured by a parent of its own (this process has other children)
    probe = ("import resource, subprocess, sys\n"
             "def cap(): resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
             "p = subprocess.run(sys.argv[1:], capture_output=True, text=True, preexec_fn=cap)\n"
             "sys.stderr.write(p.stderr)\n"
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
             "sys.exit(p.returncode)\n")
    p = subprocess.run([sys.executable, "-c", probe, *NETC, "compile", str(spec), "--weights", str(bomb),
                        "-o", str(tmp_path / "out.pt")], capture_output=True, text=True, timeout=600)
    assert p.returncode == 1 and "the weights do not fit" in p.stderr and "unpacks to 1.0 GB" in p.stderr, p.stderr
    peak_kb = int(p.stdout.split()[-1])
    assert peak_kb * 1024 < 1 << 30, f"netc peaked at {peak_kb // 1024} MB: it inflated the archive"
    assert not (tmp_path / "out.pt").exists()


def test_weights_of_the_right_size_still_load(tmp_path):
    torch = pytest.importorskip("torch")
    spec = tmp_path / "s.net"
    spec.write_text(SMALL)
    model = netc.compile(str(spec))
    torch.save(model.state_dict(), tmp_path / "w.pt")
    from netc.backends.torch.weights import check_file_size
    assert check_file_size(tmp_path / "w.pt", model) > 0
    code, _, err = cli("compile", spec, "--weights", tmp_path / "w.pt", "-o", tmp_path / "out.pt")
    assert code == 0, err
    got = torch.load(tmp_path / "out.pt")
    assert all(torch.equal(got[k], v) for k, v in model.state_dict().items())


# ------------------------------------------------------------------ D12b: less memory than the weights need
def test_a_spec_under_the_parameter_limit_on_too_small_a_machine_says_what_it_needs(tmp_path):
    """1,930,000,000 parameters (under the 2,000,000,000 limit) under a 3 GB address-space cap:
    refused at once with the memory it needs (it was an internal error from torch's allocator)."""
    spec = tmp_path / "big.net"
    spec.write_text("input 8x8 RGB\nFC-10000000\n")
    code, _, err = cli("compile", spec, "-o", tmp_path / "big.pt", mem=3 * GB)
    assert code == 1 and "needs about 15.4 GB of memory for its 1,930,000,000 parameters" in err, err
    assert "internal error" not in err and not (tmp_path / "big.pt").exists()
    code, _, err = cli("compile", spec, "--print", mem=3 * GB)
    assert code == 1 and "needs about 7.7 GB of memory" in err and "internal error" not in err, err


def test_memory_that_runs_out_while_compiling_says_what_it_needs(tmp_path):
    """250,900,000 parameters (1 GB, 2 GB with the file written from them) under a 2.5 GB cap:
    nothing refuses it beforehand, the allocation fails on the way, and that is reported the same."""
    spec = tmp_path / "mid.net"
    spec.write_text("input 8x8 RGB\nFC-1300000\n")
    code, _, err = cli("compile", spec, "-o", tmp_path / "mid.pt", mem=5 * GB // 2)
    assert code == 1 and "needs about 2.0 GB of memory for its 250,900,000 parameters" in err, err
    assert "internal error" not in err and not (tmp_path / "mid.pt").exists()


def test_a_folder_and_a_misspelt_caffe_type_are_user_errors(tmp_path):
    """A user's walk: `netc import FOLDER` was an internal error; a misspelt layer type listed every
    type netc reads without naming the one meant."""
    from tests.conftest import run_cli
    r = run_cli("import", str(tmp_path))
    assert r.returncode != 0 and "is a folder" in r.stderr and "internal error" not in r.stderr
    bad = tmp_path / "t.prototxt"
    bad.write_text('name: "x"\ninput: "data"\ninput_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n'
                   'layer { name: "c" type: "Convolutoin" bottom: "data" top: "c" '
                   'convolution_param { num_output: 4 kernel_size: 3 } }\n')
    r = run_cli("import", str(bad))
    assert r.returncode == 1 and "t.prototxt:4:1: error: layer 'c' of type Convolutoin" in r.stderr
    assert "did you mean 'Convolution'?" in r.stderr


@pytest.mark.parametrize("field,says", [("kernal_size: 3", "convolution_param has no field 'kernal_size'"),
                                        ("kernel_size: 3 num_ouput: 8", "did you mean 'num_output'?")])
def test_a_misspelt_caffe_field_is_an_error_at_its_place(tmp_path, field, says):
    """A user's walk: `kernal_size` was skipped as any field netc does not model, and the layer was then
    refused for having no kernel_size. A fork's own field (DeepLab's filter_stride) is still skipped."""
    from netc.importers import ImportError_, from_caffe
    head = 'name: "x"\ninput: "data"\ninput_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n'
    text = head + 'layer { name: "c" type: "Convolution" bottom: "data" top: "c"\n' \
                  f'  convolution_param {{ num_output: 4 {field} }} }}\n'
    with pytest.raises(ImportError_) as e:
        from_caffe("t.prototxt", text)
    assert says in str(e.value) and "t.prototxt:5:" in str(e.value)
    fork = head + 'layer { name: "c" type: "Convolution" bottom: "data" top: "c"\n' \
                  '  convolution_param { num_output: 4 kernel_size: 3 filter_stride: 2 } }\n'
    assert "conv3-4" in from_caffe("t.prototxt", fork)
