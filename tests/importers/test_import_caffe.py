"""netc import of Caffe prototxts: the released files of the four papers' networks, all three
generations of the text format, errors, and .caffemodel weights written here with protobuf."""
from __future__ import annotations

import pytest

import netc
from netc.diff import diff
from netc.importers import ImportError_, from_caffe

from conftest import ROOT, run_cli

CAFFE = ROOT / "tests" / "data" / "caffe"

# file, released parameter count (SOURCES.md), the bundled configuration it is
RELEASED = [
    ("caffe-vgg16-deploy.prototxt", 138_357_544, "vgg:D"),
    ("caffe-vgg19-deploy.prototxt", 143_667_240, "vgg:E"),
    ("bvlc_googlenet-train_val.prototxt", 13_378_280, "googlenet"),
    ("bvlc_googlenet-deploy.prototxt", 6_998_552, None),
    ("bvlc_alexnet-deploy.prototxt", 60_965_224, "alexnet:bvlc"),
    ("bvlc_alexnet-train_val.prototxt", 60_965_224, "alexnet:bvlc"),
    ("bvlc_reference_caffenet-deploy.prototxt", 60_965_224, "alexnet:caffenet"),
]


@pytest.mark.parametrize("name, params, same", RELEASED)
def test_released_prototxt_imports_as_the_bundled_spec(name, params, same):
    path = CAFFE / name
    text = from_caffe(str(path))
    ir = netc.loads(text)
    assert ir.params == params
    assert len(text.splitlines()) < 0.25 * len(path.read_text().splitlines())
    if same:
        # the bundled spec rounds down where the sizes agree; Caffe always rounds up, and the import says so
        d = diff(netc.load(same), ir)
        others = [(e.op, e.old and e.old.name, e.new and e.new.name, e.changes) for e in d.edits
                  if not (e.op == "change" and e.old.layer.startswith(("maxpool", "avgpool"))
                          and tuple(e.changes) == (("ceil", False, True),))]
        assert not others, others
        assert all(n.params.ceil for n in ir.layers() if n.kind in ("maxpool", "avgpool"))
    from netc.dsl.fmt import format_text
    assert format_text(text) == text          # formatted by netc fmt


def test_googlenet_reads_like_the_paper():
    text = from_caffe(str(CAFFE / "bvlc_googlenet-train_val.prototxt"))
    assert "block inception(n1, r3, n3, r5, n5, pp) {" in text
    assert text.count("inception(") == 10 and "inception(64, 96, 128, 16, 32, 32) as inception_3a" in text
    assert "aux loss1 on inception_4a weight 0.3 { aux_classifier(num_classes) as head }" in text
    assert "mean (104, 117, 123)" in text and "input 224x224 BGR" in text
    assert "left out, used in training only: Accuracy, Data, SoftmaxWithLoss" in text


def test_vgg_folds_repetition_and_leaves_generated_names_out():
    text = from_caffe(str(CAFFE / "caffe-vgg16-deploy.prototxt"))
    body = [l for l in text.splitlines() if l and not l.startswith("#")]
    assert body[:6] == ["input 224x224 BGR", "var num_classes = 1000", "conv3-64 x2", "maxpool(ceil)", "conv3-128 x2",
                        "maxpool(ceil)"]
    assert not any(" as " in l for l in body) and "conv3-512 x3" in text and body[-2:] == ["FC-num_classes", "soft-max"]


NET_V2 = '''name: "small"
input: "data"
input_dim: 1 input_dim: 3 input_dim: 32 input_dim: 32
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 8 kernel_size: 3 pad: 1 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "norm1" type: "LRN" bottom: "conv1" top: "norm1" lrn_param { local_size: 5 alpha: 0.0005 beta: 0.75 k: 2 } }
layer { name: "pool1" type: "Pooling" bottom: "norm1" top: "pool1" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "fc2" type: "InnerProduct" bottom: "pool1" top: "fc2" inner_product_param { num_output: 10 } }
layer { name: "prob" type: "Softmax" bottom: "fc2" top: "prob" }
'''
NET_V1 = '''name: "small"
input: "data"
input_dim: 1 input_dim: 3 input_dim: 32 input_dim: 32
layers { name: "conv1" type: CONVOLUTION bottom: "data" top: "conv1"
         convolution_param { num_output: 8 kernel_size: 3 pad: 1 } }
layers { name: "relu1" type: RELU bottom: "conv1" top: "conv1" }
layers { name: "norm1" type: LRN bottom: "conv1" top: "norm1" lrn_param { local_size: 5 alpha: 0.0005 beta: 0.75 k: 2 } }
layers { name: "pool1" type: POOLING bottom: "norm1" top: "pool1" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layers { name: "fc2" type: INNER_PRODUCT bottom: "pool1" top: "fc2" inner_product_param { num_output: 10 } }
layers { name: "prob" type: SOFTMAX bottom: "fc2" top: "prob" }
'''
NET_V0 = '''name: "small"
input: "data"
input_dim: 1 input_dim: 3 input_dim: 32 input_dim: 32
layers { layer { name: "pad1" type: "padding" pad: 1 } bottom: "data" top: "pad1" }
layers { layer { name: "conv1" type: "conv" num_output: 8 kernelsize: 3 } bottom: "pad1" top: "conv1" }
layers { layer { name: "relu1" type: "relu" } bottom: "conv1" top: "conv1" }
layers { layer { name: "norm1" type: "lrn" local_size: 5 alpha: 0.0005 beta: 0.75 k: 2 } bottom: "conv1" top: "norm1" }
layers { layer { name: "pool1" type: "pool" pool: MAX kernelsize: 3 stride: 2 } bottom: "norm1" top: "pool1" }
layers { layer { name: "fc2" type: "innerproduct" num_output: 10 } bottom: "pool1" top: "fc2" }
layers { layer { name: "prob" type: "softmax" } bottom: "fc2" top: "prob" }
'''


def test_three_generations_of_the_format_read_alike():
    texts = [from_caffe(f"{v}.prototxt", t) for v, t in (("v0", NET_V0), ("v1", NET_V1), ("v2", NET_V2))]
    bodies = [[l for l in t.splitlines() if not l.startswith("#")] for t in texts]
    assert bodies[0] == bodies[1] == bodies[2]
    assert "conv3-8" in bodies[0] and "LRN" in bodies[0] and "maxpool3/2(ceil)" in bodies[0]
    assert netc.loads(texts[0]).params == 3 * 9 * 8 + 8 + 8 * 16 * 16 * 10 + 10   # pool1 rounds up: 16x16


@pytest.mark.parametrize("kind, extra", [("Python", 'python_param { module: "os" layer: "system" }'),
                                         ("ROIPooling", "")])
def test_a_layer_netc_cannot_express_is_an_error_naming_it(kind, extra):
    text = NET_V2 + f'layer {{ name: "odd" type: "{kind}" bottom: "prob" top: "odd" {extra} }}\n'
    with pytest.raises(ImportError_) as e:
        from_caffe("net.prototxt", text)
    line = text.splitlines().index(next(l for l in text.splitlines() if '"odd"' in l)) + 1
    assert f"layer 'odd' of type {kind}" in e.value.message and e.value.span.line == line


def test_cli_import_prints_writes_and_reports_errors(tmp_path):
    r = run_cli("import", str(CAFFE / "caffe-vgg19-deploy.prototxt"))
    assert r.returncode == 0 and "conv3-512 x4" in r.stdout
    out = tmp_path / "e.net"
    r = run_cli("import", str(CAFFE / "caffe-vgg19-deploy.prototxt"), "-o", str(out))
    assert r.returncode == 0 and netc.load(str(out)).params == 143_667_240
    r = run_cli("diff", "vgg:E", str(out))      # Caffe rounds its pools up (kept: maxpool(ceil)), which at
    assert "(ceil)" in out.read_text() and r.returncode == 0 and "identical" in r.stdout   # 224x224 is moot
    bad = tmp_path / "bad.prototxt"
    bad.write_text(NET_V2 + 'layer { name: "rois" type: "ROIPooling" bottom: "prob" top: "rois" }\n')
    r = run_cli("import", str(bad))
    assert r.returncode == 1 and "layer 'rois' of type ROIPooling" in r.stderr and "Traceback" not in r.stderr
    assert run_cli("import", str(tmp_path / "missing.prototxt")).returncode == 2


# ------------------------------------------------------------------ .caffemodel weights
SPEC = """input 32x32 RGB
conv3-8
LRN
maxpool3/2(ceil)
conv1-4
FC-16
dropout(0.5)
FC-10
soft-max
"""

PROTOTXT = '''name: "small"
input: "data"
input_dim: 1 input_dim: 3 input_dim: 32 input_dim: 32
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" convolution_param { num_output: 8 kernel_size: 3 pad: 1 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "norm1" type: "LRN" bottom: "conv1" top: "norm1" lrn_param { local_size: 5 alpha: 0.0005 beta: 0.75 k: 2 } }
layer { name: "pool1" type: "Pooling" bottom: "norm1" top: "pool1" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2" convolution_param { num_output: 4 kernel_size: 1 } }
layer { name: "relu2" type: "ReLU" bottom: "conv2" top: "conv2" }
layer { name: "fc3" type: "InnerProduct" bottom: "conv2" top: "fc3" inner_product_param { num_output: 16 } }
layer { name: "relu3" type: "ReLU" bottom: "fc3" top: "fc3" }
layer { name: "drop3" type: "Dropout" bottom: "fc3" top: "fc3" dropout_param { dropout_ratio: 0.5 } }
layer { name: "fc4" type: "InnerProduct" bottom: "fc3" top: "fc4" inner_product_param { num_output: 10 } }
layer { name: "prob" type: "Softmax" bottom: "fc4" top: "prob" }
'''


def _caffemodel(model, path):
    """Write ``model``'s weights as Caffe does: one LayerParameter per layer with its blobs."""
    from netc.importers.caffe_proto import NetParameter
    net = NetParameter()
    ps = list(model.parameters())
    for i, layer in enumerate(["conv1", "conv2", "fc3", "fc4"]):
        l = net.layer.add(name=layer, type="InnerProduct" if layer.startswith("fc") else "Convolution")
        for t in ps[2 * i: 2 * i + 2]:
            blob = l.blobs.add()
            blob.shape.dim.extend(t.shape)
            blob.data.extend(t.detach().reshape(-1).tolist())
    path.write_bytes(net.SerializeToString())


def test_caffemodel_written_with_protobuf_gives_the_same_outputs(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = netc.compile(netc.loads(SPEC)).eval()
    for p in model.parameters():          # biases too: a zero bias would hide a mix-up
        torch.nn.init.normal_(p, std=0.1)
    proto = tmp_path / "small.prototxt"
    proto.write_text(PROTOTXT)
    _caffemodel(model, tmp_path / "small.caffemodel")
    spec, pt = tmp_path / "small.net", tmp_path / "small.pt"
    r = run_cli("import", str(proto), "-o", str(spec), "--weights", str(pt))
    assert r.returncode == 0, r.stderr
    imported = netc.compile(str(spec)).eval()
    imported.load_state_dict(torch.load(pt))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(imported(x), model(x), atol=1e-5)
    r = run_cli("compile", str(spec), "--weights", str(pt), "-o", str(tmp_path / "again.pt"))
    assert r.returncode == 0, r.stderr
