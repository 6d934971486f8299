"""netc import of Caffe files nobody here wrote (tests/data/caffe/SOURCES.md): the learnable
parameter counts of an independent counter, folding by structure whatever the names say (Kaiming
He's ResNet-152 reads like specs/resnet.net), Deconvolution and Crop, a Python data layer, files
that state no input size, Caffe's rounding kept on every pool, printed names the language takes,
and weights: a .caffemodel written here with protobuf gives what a hand-written torch reference of
Caffe's layers computes."""
from __future__ import annotations

import re

import pytest

import netc
from netc.importers import ImportError_, from_caffe

from conftest import ROOT, run_cli

CAFFE = ROOT / "tests" / "data" / "caffe"

# file, learnable parameters (counted independently: SOURCES.md)
WORLD = [
    ("ResNet-152-deploy.prototxt", 60_192_808),
    ("DenseNet_121.prototxt", 7_978_856),
    ("mobilenet_deploy.prototxt", 4_231_976),
    ("mobilenet_v2_deploy.prototxt", 3_505_960),
    ("voc-fcn32s-train.prototxt", 136_152_917),
    ("voc-fcn32s-deploy-DERIVED.prototxt", 136_152_917),
]


def _body(text: str) -> list[str]:
    return [l for l in text.splitlines() if l and not l.startswith("#")]


@pytest.mark.parametrize("name, params", WORLD)
def test_published_file_imports_with_its_learnable_parameters(name, params):
    text = from_caffe(str(CAFFE / name))
    ir = netc.loads(text)
    assert ir.params == params
    assert len(text.splitlines()) <= 60
    from netc.dsl.fmt import format_text
    assert format_text(text) == text


def test_resnet152_folds_by_structure_into_table_1():
    """Kaiming's names (res2a_branch2a, bn2a_branch2a, res2a) share no scope: the bottlenecks fold
    by their structure, one call per stage as Table 1 counts them (3, 8, 36, 3 blocks)."""
    text = from_caffe(str(CAFFE / "ResNet-152-deploy.prototxt"))
    body = _body(text)
    assert len(text.splitlines()) <= 60
    assert "block bottleneck(c, out) {" in body and "block bottleneck_proj(c, out, s) {" in body
    calls = [l for l in body if re.match(r"bottleneck(_proj)?\(", l)]
    assert calls == ["bottleneck_proj(64, 256, 1)", "bottleneck(64, 256) x2",
                     "bottleneck_proj(128, 512, 2)", "bottleneck(128, 512) x7",
                     "bottleneck_proj(256, 1024, 2)", "bottleneck(256, 1024) x35",
                     "bottleneck_proj(512, 2048, 2)", "bottleneck(512, 2048) x2"]
    # Caffe's ResNet strides on the first 1x1 (v1), torchvision on the 3x3: the same count
    assert "conv1-c/s(bias=false) -> bn -> conv3-c(bias=false)" in text
    assert netc.loads(text).params == netc.load("resnet152").params == 60_192_808


def test_densenet_and_mobilenet_fold_and_name_no_block_after_a_layer():
    dense = from_caffe(str(CAFFE / "DenseNet_121.prototxt"))
    assert [l for l in _body(dense) if l.startswith("dense_layer")] == \
        ["dense_layer() x6", "dense_layer() x12", "dense_layer() x24", "dense_layer() x16"]     # DenseNet-121
    mobile = from_caffe(str(CAFFE / "mobilenet_deploy.prototxt"))
    assert "block separable(dw, sep, s) {" in mobile and "conv3-dw/s(groups=dw, bias=false)" in mobile
    assert "separable(512, 512, 1) x5" in mobile
    v2 = from_caffe(str(CAFFE / "mobilenet_v2_deploy.prototxt"))
    for text in (dense, mobile, v2):
        blocks = re.findall(r"^block (\w+)\(", text, re.M)
        assert blocks and not any(netc.registry().lookup_word(b) for b in blocks), blocks


def _underscored(text: str) -> str:
    """GoogLeNet as googlenet_cars names it: every '/' in a quoted name or blob as '_'."""
    return re.sub(r'"[^"\n]*"', lambda m: m.group(0).replace("/", "_"), text)


def test_googlenet_with_underscores_folds_as_with_slashes():
    slash = from_caffe(str(CAFFE / "bvlc_googlenet-train_val.prototxt"))
    under = from_caffe("googlenet_cars.prototxt", _underscored((CAFFE / "bvlc_googlenet-train_val.prototxt").read_text()))
    assert "/" not in re.sub(r"#.*", "", _underscored((CAFFE / "bvlc_googlenet-train_val.prototxt").read_text()))

    def shape(text):        # blocks and calls: what the names do not decide
        return [re.sub(r" as \S+", "", l) for l in _body(text)]
    assert shape(under) == shape(slash)
    assert "block inception(n1, r3, n3, r5, n5, pp) {" in under and "inception(64, 96, 128, 16, 32, 32) as inception_3a" in under
    assert "aux loss1 on inception_4a weight 0.3 { aux_classifier(num_classes) as head }" in under
    assert netc.loads(under).params == netc.loads(slash).params == 13_378_280


# ------------------------------------------------------------------ Caffe's rounding
SMALL = '''name: "small"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: %d dim: %d } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "pool2" type: "Pooling" bottom: "pool1" top: "pool2" pooling_param { pool: AVE kernel_size: 3 stride: 2 round_mode: FLOOR } }
'''


def test_pooling_keeps_ceil_where_sizes_agree():
    """At 16x16 rounding up or down gives the same 8x8; the spec still says (ceil), so that at
    17x17 it computes what Caffe computes (9x9, not 8x8). round_mode FLOOR stays floor."""
    text = from_caffe("small.prototxt", SMALL % (16, 16))
    assert "maxpool(ceil)" in text and "avgpool3/2\n" in text
    assert netc.loads(text).output_shape[1:] == (3, 3)          # 16 -> 8 -> (8-3)//2+1 = 3
    at17 = netc.loads(text.replace("input 16x16", "input 17x17"))
    assert at17.output_shape[1:] == (4, 4)                      # 17 -> ceil(15/2)+1 = 9 -> 4


# ------------------------------------------------------------------ Deconvolution, Crop, data layers
def test_fcn_deconvolution_and_crop_to_the_input():
    text = from_caffe(str(CAFFE / "voc-fcn32s-deploy-DERIVED.prototxt"))
    assert "upconv64-21/32(bias=false) as upscore" in text
    assert "crop(offset=19) as score {\n    identity\n    from input\n}" in text
    assert netc.loads(text).output_shape == (21, 500, 500)


def test_python_data_layer_is_the_input_and_is_never_run():
    text = from_caffe(str(CAFFE / "voc-fcn32s-train.prototxt"))
    assert "input HxW BGR" in text and "mean (104.00699, 116.66877, 122.67892)" in text
    ir = netc.loads(text.replace("input HxW", "input 500x500"))
    assert ir.params == 136_152_917 and ir.output_shape == (21, 500, 500)
    # no mean in its param_str: neither size nor channels are in the file
    bare = re.sub(r"param_str: .*", 'param_str: "{}"', (CAFFE / "voc-fcn32s-train.prototxt").read_text())
    with pytest.raises(ImportError_) as e:
        from_caffe("fcn.prototxt", bare)
    assert "layer 'data' of type Python" in e.value.message and e.value.span.line == 2
    assert "--input" in e.value.hint


def test_a_file_without_an_input_size_is_refused_where_its_data_layer_is(tmp_path):
    path = CAFFE / "nin_cifar10-train_val.prototxt"
    r = run_cli("import", str(path))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert re.search(r"nin_cifar10-train_val\.prototxt:14:3: error: layer 'cifar' of type Data: the input's size", r.stderr)
    out = tmp_path / "nin.net"
    r = run_cli("import", str(path), "--input", "3x32x32", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert netc.load(str(out)).params == 966_986 and "--input" in out.read_text()
    assert run_cli("import", str(path), "--input", "32x32").returncode == 2


@pytest.mark.parametrize("name, line, kind", [("parsenet-VGG_VOC2012ext.prototxt", 534, "Normalize")])
def test_a_layer_netc_has_no_kind_for_is_refused_at_its_line(name, line, kind):
    with pytest.raises(ImportError_) as e:
        from_caffe(str(CAFFE / name))
    assert f"of type {kind}" in e.value.message and e.value.span.line == line
    assert "Deconvolution" in e.value.hint        # the hint lists what is read


# ------------------------------------------------------------------ printed names
def test_names_the_language_refuses_are_never_printed():
    from netc.importers.fold import usable_name
    assert not any(map(usable_name, ["conv", "gap", "crop", "concat", "x", "forward", "block", "conv3", "", "1x1"]))
    assert all(map(usable_name, ["inception", "bottleneck", "dense_layer", "fire", "n1"]))
    from netc.importers.graph import Layer, Net
    from netc.importers.printer import to_spec
    layers, prev = [], "input"
    for i in range(3):          # an exporter's scopes (features.0.block.0 ...), and 'add' under '1' each time
        s = f"features.{i}.block.0"
        layers += [Layer(f"{s}.conv", "conv", {"out": 3, "k": 3, "stride": 1, "pad": 1}, [prev]),
                   Layer(f"{s}.bn", "bn", {}, [f"{s}.conv"]),
                   Layer(f"1/add.{i}", "add", {}, [f"{s}.bn", prev])]
        prev = f"1/add.{i}"
    net = Net(layers, (3, 8, 8), "RGB", [(prev, None)])
    text = to_spec(net)
    ir = netc.loads(text)          # checked: every name is one the language takes
    assert ir.params == 3 * (3 * 27 + 3 + 6)
    assert "." not in re.sub(r"#.*", "", text)


def test_a_printed_spec_that_does_not_read_back_is_an_internal_error_and_is_not_written(monkeypatch, tmp_path):
    from netc.importers import fold
    from netc.tools.cli import main
    monkeypatch.setattr(fold, "usable_name", lambda name: True)     # a printer that would call a block 'conv'
    monkeypatch.setattr(fold, "shape_name", lambda items: "conv")
    with pytest.raises(ImportError_) as e:
        from_caffe(str(CAFFE / "mobilenet_deploy.prototxt"))
    assert e.value.message.startswith("internal error: the spec printed for")
    assert "block 'conv' has the name of a built-in layer" in e.value.message
    out = tmp_path / "m.net"
    assert main(["import", str(CAFFE / "mobilenet_deploy.prototxt"), "-o", str(out)]) == 1
    assert not out.exists()


# ------------------------------------------------------------------ weights
def _unit(name: str, bottom: str, c: int, out: int, stride: int, project: bool) -> list:
    """Kaiming's bottleneck as Caffe layers: (name, type, bottoms, params)."""
    ls = []
    if project:
        ls += [(f"res{name}_branch1", "Convolution", [bottom], dict(num_output=out, kernel_size=1, stride=stride, bias_term=False)),
               (f"bn{name}_branch1", "BatchNorm", None, {}), (f"scale{name}_branch1", "Scale", None, {})]
    x = bottom
    for br, (w, k, s, relu) in zip("abc", [(c, 1, stride, True), (c, 3, 1, True), (out, 1, 1, False)]):
        ls += [(f"res{name}_branch2{br}", "Convolution", [x], dict(num_output=w, kernel_size=k, stride=s, pad=k // 2, bias_term=False)),
               (f"bn{name}_branch2{br}", "BatchNorm", None, {}), (f"scale{name}_branch2{br}", "Scale", None, {})]
        if relu:
            ls.append((f"res{name}_branch2{br}_relu", "ReLU", None, {}))
        x = f"res{name}_branch2{br}"
    ls += [(f"res{name}", "Eltwise", [f"res{name}_branch1" if project else bottom, x], {}),
           (f"res{name}_relu", "ReLU", None, {})]
    return ls


def _small_resnet():
    ls = [("conv1", "Convolution", ["data"], dict(num_output=8, kernel_size=3, pad=1, bias_term=False)),
          ("bn_conv1", "BatchNorm", None, {}), ("scale_conv1", "Scale", None, {}), ("conv1_relu", "ReLU", None, {}),
          ("pool1", "Pooling", ["conv1"], dict(kernel_size=3, stride=2))]       # 16 -> 8 rounding up (7 down)
    x = "pool1"
    for stage, (c, out, s) in zip("23", [(4, 16, 1), (8, 32, 2)]):
        for u in "abc":
            ls += _unit(f"{stage}{u}", x, c, out, s if u == "a" else 1, u == "a")
            x = f"res{stage}{u}"
    ls += [("upscore", "Deconvolution", [x], dict(num_output=5, kernel_size=8, stride=4, bias_term=False)),
           ("score", "Crop", [None, "data"], dict(offset=2))]
    return ls


def _prototxt(layers) -> str:
    out = ['name: "small_resnet"',
           'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 16 dim: 16 } } }']
    last = "data"
    for name, typ, bottoms, p in layers:
        top = name if typ not in ("BatchNorm", "Scale", "ReLU") else last
        bottoms = [b or last for b in bottoms] if bottoms else [last]
        bs = " ".join(f'bottom: "{b}"' for b in bottoms)
        if typ in ("Convolution", "Deconvolution"):
            kv = " ".join(f"{k}: {str(v).lower()}" for k, v in p.items())
            extra = f"convolution_param {{ {kv} }}"
        elif typ == "Pooling":
            extra = f"pooling_param {{ pool: MAX kernel_size: {p['kernel_size']} stride: {p['stride']} }}"
        elif typ == "Scale":
            extra = "scale_param { bias_term: true }"
        elif typ == "Crop":
            extra = f"crop_param {{ axis: 2 offset: {p['offset']} }}"
        else:
            extra = ""
        out.append(f'layer {{ name: "{name}" type: "{typ}" {bs} top: "{top}" {extra} }}')
        if typ not in ("BatchNorm", "Scale", "ReLU"):
            last = name
    return "\n".join(out) + "\n"


def _reference(layers, blobs, x):
    """Caffe's layers in plain torch, from the blobs: shares no code with netc."""
    import torch
    import torch.nn.functional as F
    t = {"data": x}
    last = "data"
    for name, typ, bottoms, p in layers:
        ins = [t[b or last] for b in bottoms] if bottoms else [t[last]]
        if typ == "Convolution":
            y = F.conv2d(ins[0], blobs[name][0], None, p.get("stride", 1), p.get("pad", 0))
        elif typ == "Deconvolution":
            y = F.conv_transpose2d(ins[0], blobs[name][0], None, p["stride"])
        elif typ == "BatchNorm":
            mean, var, sf = blobs[name]
            y = (ins[0] - (mean / sf).view(1, -1, 1, 1)) / torch.sqrt((var / sf).view(1, -1, 1, 1) + 1e-5)
        elif typ == "Scale":
            g, b = blobs[name]
            y = ins[0] * g.view(1, -1, 1, 1) + b.view(1, -1, 1, 1)
        elif typ == "ReLU":
            y = torch.relu(ins[0])
        elif typ == "Pooling":
            y = F.max_pool2d(ins[0], p["kernel_size"], p["stride"], ceil_mode=True)
        elif typ == "Eltwise":
            y = ins[0] + ins[1]
        elif typ == "Crop":
            o, h, w = p["offset"], ins[1].shape[2], ins[1].shape[3]
            y = ins[0][:, :, o:o + h, o:o + w]
        if typ in ("BatchNorm", "Scale", "ReLU"):
            t[last] = y
        else:
            t[name] = y
            last = name
    return t[last]


def test_caffemodel_of_a_folded_resnet_with_deconvolution_and_crop_gives_caffes_outputs(tmp_path):
    torch = pytest.importorskip("torch")
    from netc.importers.caffe_proto import NetParameter
    torch.manual_seed(0)
    layers = _small_resnet()
    proto = tmp_path / "small.prototxt"
    proto.write_text(_prototxt(layers))
    chans = {"data": 3}
    blobs, net, last = {}, NetParameter(), "data"
    for name, typ, bottoms, p in layers:
        cin = chans[(bottoms[0] or last) if bottoms else last]
        if typ == "Convolution":
            k = p["kernel_size"]
            blobs[name] = [torch.randn(p["num_output"], cin, k, k) * 0.3]
        elif typ == "Deconvolution":
            k = p["kernel_size"]
            blobs[name] = [torch.randn(cin, p["num_output"], k, k) * 0.3]
        elif typ == "BatchNorm":         # Caffe keeps mean and variance times a scale factor
            sf = torch.tensor([2.0])
            blobs[name] = [torch.randn(cin) * sf, (torch.rand(cin) + 0.5) * sf, sf]
        elif typ == "Scale":
            blobs[name] = [torch.rand(cin) + 0.5, torch.randn(cin) * 0.1]
        if name in blobs:
            l = net.layer.add(name=name, type=typ)
            for b in blobs[name]:
                blob = l.blobs.add()
                blob.shape.dim.extend(b.shape)
                blob.data.extend(b.reshape(-1).tolist())
        if typ not in ("BatchNorm", "Scale", "ReLU"):
            chans[name] = p.get("num_output", cin)
            last = name
    (tmp_path / "small.caffemodel").write_bytes(net.SerializeToString())
    spec, pt = tmp_path / "small.net", tmp_path / "small.pt"
    r = run_cli("import", str(proto), "-o", str(spec), "--weights", str(pt))
    assert r.returncode == 0, r.stderr
    text = spec.read_text()
    assert re.search(r"^bottleneck\(4, 16\) x2$", text, re.M) and "crop(offset=2) as score" in text
    model = netc.compile(str(spec)).eval()
    model.load_state_dict(torch.load(pt))
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        want = _reference(layers, blobs, x)
        got = model(x)
    assert got.shape == want.shape == (2, 5, 16, 16)
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-4 * float(want.abs().max()))
