"""netc import of hostile ONNX files (issue #21: N03, N04, N07, N08).

An ONNX file's external data is read from the model's own folder only (never the current
directory, nothing outside that folder), its declared size is checked before anything is read,
and no message shows a tensor's bytes; each refusal is exit 1 naming the tensor or node, never an
internal error. Nodes outside the standard domain and opsets newer than onnx knows are refused.
Import does work linear in the node count (counted, not timed).
"""
from __future__ import annotations

import os
import sys

import pytest

onnx = pytest.importorskip("onnx")
np = pytest.importorskip("numpy")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from netc.importers import ImportError_, from_onnx  # noqa: E402

from conftest import run_cli  # noqa: E402

SECRET = b"-----BEGIN SECRET KEY----- SECRET-0123456789"


def _external(t: TensorProto, location: str, **extra) -> TensorProto:
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), *((k, str(v)) for k, v in extra.items())):
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


def _conv_model(weight: TensorProto, opset: int = 13, relu_domain: str = "") -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Conv", ["x", weight.name], ["c"], name="/conv1/Conv", kernel_shape=[3, 3],
                              pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"], name="/relu/Relu", domain=relu_domain)]
    opsets = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(relu_domain, 1)] if relu_domain else [])
    return helper.make_model(helper.make_graph(nodes, "g", [x], [y], [weight]), opset_imports=opsets)


def _weight(dims=(4, 3, 3, 3)) -> TensorProto:
    return numpy_helper.from_array(np.arange(np.prod(dims), dtype=np.float32).reshape(dims) / 100, "conv1.weight")


def _reshape_model(shape: TensorProto) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Conv", ["x", "conv1.weight"], ["c"], name="/conv1/Conv", kernel_shape=[3, 3]),
             helper.make_node("Reshape", ["c", shape.name], ["y"], name="/r/Reshape")]
    return helper.make_model(helper.make_graph(nodes, "g", [x], [y], [_weight(), shape]),
                             opset_imports=[helper.make_opsetid("", 13)])


def _ext_shape(location: str, dtype=TensorProto.INT64, n: int = 2) -> TensorProto:
    t = TensorProto()
    t.name, t.data_type = "shp", dtype
    t.dims.extend([n])
    return _external(t, location, offset=0, length=n * (8 if dtype == TensorProto.INT64 else 1))


def _clean(r) -> str:
    out = r if isinstance(r, str) else r.stdout + r.stderr
    assert "internal error" not in out and "bug in netc" not in out and "Traceback" not in out, out
    assert "SECRET" not in out and "np.uint8" not in out and "np.int64" not in out, out
    return out


# ------------------------------------------------------------------ N03: never the current directory
def test_external_data_is_never_read_from_the_current_directory(tmp_path):
    models, cwd = tmp_path / "models", tmp_path / "cwd"
    models.mkdir()
    cwd.mkdir()
    onnx.save(_reshape_model(_ext_shape("secret.txt")), str(models / "m.onnx"))
    args = ("import", str(models / "m.onnx"), "-o", str(models / "out.net"))
    r0 = run_cli(*args, cwd=cwd)                      # no secret.txt anywhere
    (cwd / "secret.txt").write_bytes(np.array([1, 192], np.int64).tobytes() + SECRET)
    r1 = run_cli(*args, cwd=cwd)                      # one in the current directory only: changes nothing
    assert (r0.returncode, r0.stdout, r0.stderr) == (r1.returncode, r1.stdout, r1.stderr)
    assert r1.returncode == 1 and "'shp'" in _clean(r1) and "/r/Reshape" in r1.stderr
    assert not (models / "out.net").exists()
    # the same file in the model's own folder is read (and the spec is written)
    (models / "secret.txt").write_bytes(np.array([1, 192], np.int64).tobytes())
    r2 = run_cli(*args, cwd=cwd)
    assert r2.returncode == 0, r2.stderr
    assert "flatten" in (models / "out.net").read_text()


def test_the_cwd_prefix_leak_reads_nothing_and_prints_no_bytes(tmp_path):
    """N03's leak_cwd_prefix.onnx: a uint8 shape of 16 values from '.ssh/id_rsa'."""
    home, models = tmp_path / "home", tmp_path / "models"
    (home / ".ssh").mkdir(parents=True)
    models.mkdir()
    (home / ".ssh" / "id_rsa").write_bytes(SECRET)
    (models / ".ssh").mkdir()
    (models / ".ssh" / "id_rsa").write_bytes(SECRET)       # even in the model's folder: never printed
    onnx.save(_reshape_model(_ext_shape(".ssh/id_rsa", TensorProto.UINT8, 16)), str(models / "leak.onnx"))
    r = run_cli("import", "../models/leak.onnx", cwd=home)
    assert r.returncode == 1 and "/r/Reshape" in _clean(r)
    assert str(list(SECRET[:16])[0]) + "," not in r.stderr


def test_a_shape_tensor_of_the_wrong_type_is_refused_without_showing_it(tmp_path):
    (tmp_path / "s.bin").write_bytes(SECRET[:16])
    onnx.save(_reshape_model(_ext_shape("s.bin", TensorProto.UINT8, 2)), str(tmp_path / "m.onnx"))
    with pytest.raises(ImportError_, match="not int64") as e:
        from_onnx(str(tmp_path / "m.onnx"))
    assert "SECRET" not in str(e.value) and "45" not in str(e.value)


def _refusal(path, weights: bool = True) -> str:
    """The message of the ImportError_ that importing ``path`` (with its weights) raises, in process."""
    from netc.importers import onnx_import
    with pytest.raises(ImportError_) as e:
        text = from_onnx(str(path))
        if weights:
            onnx_import.weights(str(path), text)
    return _clean(str(e.value))


# ------------------------------------------------------------------ N07: refusals are exit 1, located
def _place(tmp_path, location: str):
    """A model folder m/ whose conv weight is external data at ``location``, a secret beside it."""
    m, s = tmp_path / "m", tmp_path / "secretdir"
    m.mkdir()
    s.mkdir()
    (s / "secret.bin").write_bytes(SECRET.ljust(432, b"S"))
    location = location.replace("SECRETDIR", str(s))
    onnx.save(_conv_model(_external(_weight(), location)), str(m / "m.onnx"))
    return m


@pytest.mark.parametrize("location, reason", [
    ("../secretdir/secret.bin", "outside the model's folder"),
    ("sub/../../secretdir/secret.bin", "outside the model's folder"),
    ("SECRETDIR/secret.bin", "absolute path"),
    ("/etc/passwd", "absolute path"),
    ("nosuch.bin", "not in the model's folder"),
])
def test_external_data_outside_the_folder_is_refused_naming_the_tensor(tmp_path, location, reason, monkeypatch):
    m = _place(tmp_path, location)
    monkeypatch.chdir(m)
    out = _refusal("m.onnx")
    assert "conv1.weight" in out and "/conv1/Conv" in out and reason in out, out


def test_a_refusal_is_exit_1_not_an_internal_error(tmp_path):
    m = _place(tmp_path, "../secretdir/secret.bin")
    r = run_cli("import", "m.onnx", "--weights", str(tmp_path / "w.pt"), cwd=m)
    assert r.returncode == 1 and "conv1.weight" in _clean(r) and "outside the model's folder" in r.stderr
    assert not (tmp_path / "w.pt").exists()


def test_a_symbolic_link_out_of_the_folder_is_refused(tmp_path):
    m = _place(tmp_path, "w.bin")
    os.symlink(tmp_path / "secretdir" / "secret.bin", m / "w.bin")
    out = _refusal(m / "m.onnx")
    assert "symbolic link" in out and "conv1.weight" in out


def test_external_data_that_is_not_a_regular_file_is_refused(tmp_path):
    m = _place(tmp_path, "fifo")
    os.mkfifo(m / "fifo")           # opened without blocking, then refused
    assert "not a regular file" in _refusal(m / "m.onnx")


def test_the_reshape_of_n07_without_weights_is_refused_naming_the_tensor(tmp_path):
    m = tmp_path / "m"
    m.mkdir()
    (tmp_path / "shape.bin").write_bytes(np.array([1, 192], np.int64).tobytes())
    onnx.save(_reshape_model(_ext_shape("../shape.bin")), str(m / "m.onnx"))
    out = _refusal(m / "m.onnx", weights=False)
    assert "'shp'" in out and "/r/Reshape" in out and "outside the model's folder" in out


@pytest.mark.parametrize("dims, extra, what", [
    ((1048576, 1048576, 3, 3), {}, "has shape 1048576x1048576x3x3"),        # N07's ext_hugedims
    ((4, 3, 3, 3), {"length": 16}, "external data is 16 bytes long"),
    ((4, 3, 3, 3), {"offset": 400}, "holds 32 bytes from offset 400"),
    ((4, 3, 3, 3), {"offset": "-1"}, "is not a byte count"),
])
def test_declared_sizes_are_checked_before_anything_is_read(tmp_path, dims, extra, what):
    (tmp_path / "w.bin").write_bytes(bytes(432))
    w = TensorProto()
    w.name, w.data_type = "conv1.weight", TensorProto.FLOAT
    w.dims.extend(dims)
    onnx.save(_conv_model(_external(w, "w.bin", **extra)), str(tmp_path / "m.onnx"))
    out = _refusal(tmp_path / "m.onnx")
    assert what in out and "conv1.weight" in out, out


def test_inline_data_that_does_not_match_its_shape_is_refused(tmp_path):
    w = _weight()
    w.raw_data = w.raw_data[:100]
    onnx.save(_conv_model(w), str(tmp_path / "m.onnx"))
    out = _refusal(tmp_path / "m.onnx")
    assert "holds 100 bytes" in out and "conv1.weight" in out


def test_weights_in_external_data_beside_the_model_are_read(tmp_path):
    torch = pytest.importorskip("torch")    # a CLI run: the weights go through torch.save
    m, elsewhere = tmp_path / "m", tmp_path / "elsewhere"
    m.mkdir()
    elsewhere.mkdir()
    w = _weight()
    (m / "w.bin").write_bytes(bytes(8) + w.raw_data)
    onnx.save(_conv_model(_external(w, "./w.bin", offset=8, length=432)), str(m / "m.onnx"))
    (elsewhere / "w.bin").write_bytes(SECRET.ljust(440, b"S"))     # the cwd's w.bin is not the one read
    r = run_cli("import", "../m/m.onnx", "-o", str(tmp_path / "m.net"), "--weights", str(tmp_path / "w.pt"),
                cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    sd = torch.load(tmp_path / "w.pt")
    (got,) = [v for k, v in sd.items() if k.endswith("weight")]
    assert np.array_equal(got.numpy(), numpy_helper.to_array(_weight()))


# ------------------------------------------------------------------ N08: domains and opsets
def test_a_custom_domain_node_is_refused_naming_it(tmp_path):
    onnx.save(_conv_model(_weight(), relu_domain="com.evil"), str(tmp_path / "m.onnx"))
    with pytest.raises(ImportError_, match=r"node /relu/Relu \(Relu\) is of domain 'com.evil'"):
        from_onnx(str(tmp_path / "m.onnx"))
    r = run_cli("import", str(tmp_path / "m.onnx"))
    assert r.returncode == 1 and "/relu/Relu" in _clean(r) and "com.evil" in r.stderr


def test_the_ai_onnx_domain_is_the_standard_one(tmp_path):
    onnx.save(_conv_model(_weight(), relu_domain="ai.onnx"), str(tmp_path / "m.onnx"))
    assert "conv3-4" in from_onnx(str(tmp_path / "m.onnx"))


def test_an_opset_newer_than_onnx_knows_is_refused_naming_a_node(tmp_path):
    import onnx.defs
    onnx.save(_conv_model(_weight(), opset=9999), str(tmp_path / "m.onnx"))
    r = run_cli("import", str(tmp_path / "m.onnx"))
    assert r.returncode == 1 and "/conv1/Conv" in _clean(r) and "opset 9999" in r.stderr
    onnx.save(_conv_model(_weight(), opset=onnx.defs.onnx_opset_version()), str(tmp_path / "ok.onnx"))
    assert "conv3-4" in from_onnx(str(tmp_path / "ok.onnx"))


# ------------------------------------------------------------------ N04: linear in the node count
def _chain(n: int, path) -> None:
    """N04's gen_quad.py: a chain of n Constant+Reshape pairs, all named /r/Reshape."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Flatten", ["x"], ["f0"], name="/f/Flatten")]
    prev = "f0"
    for i in range(n):
        nodes.append(helper.make_node("Constant", [], [f"s{i}"],
                                      value=numpy_helper.from_array(np.array([1, 192], np.int64))))
        nodes.append(helper.make_node("Reshape", [prev, f"s{i}"], [f"r{i}"], name="/r/Reshape"))
        prev = f"r{i}"
    nodes.append(helper.make_node("Relu", [prev], ["y"]))
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", [x], [y], [])), str(path))


def _importer_steps(path) -> int:
    """Python lines run inside netc.importers (the ONNX reader, the printer's structure and
    folding) while importing ``path``: a count of work, not a time."""
    import netc.importers
    here = os.path.dirname(os.path.abspath(netc.importers.__file__))
    count = [0]

    def local(frame, event, arg):
        count[0] += event == "line"
        return local

    def calls(frame, event, arg):
        return local if frame.f_code.co_filename.startswith(here) else None

    old = sys.gettrace()
    sys.settrace(calls)
    try:
        from_onnx(str(path))
    finally:
        sys.settrace(old)
    return count[0]


def test_import_work_is_linear_in_the_node_count(tmp_path):
    n = 300
    _chain(n, tmp_path / "a.onnx")
    _chain(4 * n, tmp_path / "b.onnx")
    small, big = _importer_steps(tmp_path / "a.onnx"), _importer_steps(tmp_path / "b.onnx")
    # linear: 4x the nodes, about 4x the lines (a quadratic reader does some 10x here, 16x in the limit)
    assert big <= 5 * small, (small, big)
