"""Regenerate the ONNX fixtures of tests/importers/test_onnx_fixtures.py. Run with the world venv
(../shared/tools/world-env: torchvision, onnx, onnxscript, this checkout's netc):

    $(../shared/tools/world-env) tests/data/onnx/make_fixtures.py

Exports torchvision's models (random weights, eval mode), strips every initializer over 256 values
(its data said to be in 'stripped.bin', which does not exist) and the exporters' stack traces, and
writes the golden spec (netc import of the stripped file) and counts.json. convnext_block-dyn keeps
its weights (a ConvNeXt stem and block: dynamo's as_strided and ReduceMean with axes as an input).
"""
import json
import math
import os
import subprocess
import sys
import tempfile
import warnings

warnings.filterwarnings("ignore")
import onnx  # noqa: E402
import torch  # noqa: E402
import torchvision.models as tvm  # noqa: E402
from onnx import TensorProto  # noqa: E402
from torch import nn  # noqa: E402

import netc  # noqa: E402

OUT = os.path.dirname(os.path.abspath(__file__))
NETC = os.path.join(os.path.dirname(sys.executable), "netc")


def tidy(m):
    for n in m.graph.node:
        keep = [p for p in n.metadata_props if p.key == "pkg.torch.onnx.name_scopes"]
        del n.metadata_props[:]
        n.metadata_props.extend(keep)
        n.doc_string = ""
    m.graph.ClearField("value_info")


def strip(m, keep=256):
    for t in m.graph.initializer:
        if len(t.dims) and math.prod(t.dims) > keep:
            for f in ("raw_data", "float_data", "int64_data"):
                t.ClearField(f)
            t.data_location = TensorProto.EXTERNAL
            del t.external_data[:]
            e = t.external_data.add()
            e.key, e.value = "location", "stripped.bin"


def golden(dst):
    net = dst[:-5] + ".net"
    subprocess.run([NETC, "import", dst, "-o", net], check=True)
    return netc.loads(open(net).read()).params


counts = {}
tmp = tempfile.mkdtemp()
for name, mode in [("resnet18", "dyn"), ("shufflenet_v2_x1_0", "ts"), ("vit_b_16", "dyn")]:
    torch.manual_seed(0)
    m = getattr(tvm, name)().eval()
    f = os.path.join(tmp, f"{name}.onnx")
    with torch.no_grad():
        torch.onnx.export(m, (torch.randn(1, 3, 224, 224),), f, dynamo=mode == "dyn",
                          opset_version=18 if mode == "dyn" else 17)
    mo = onnx.load(f)
    tidy(mo)
    strip(mo)
    dst = os.path.join(OUT, f"{name}-{mode}.onnx")
    onnx.save(mo, dst)
    counts[os.path.basename(dst)] = {"params": golden(dst), "torchvision": sum(p.numel() for p in m.parameters())}

from torchvision.models.convnext import CNBlock, LayerNorm2d  # noqa: E402


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 4, 4), LayerNorm2d(8))
        self.block = CNBlock(8, 1e-6, 0.0)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(8, 5))

    def forward(self, x):
        return self.head(self.block(self.stem(x)))


torch.manual_seed(0)
m = Tiny().eval()
with torch.no_grad():
    m.block.layer_scale.uniform_(0.5, 1.5)
dst = os.path.join(OUT, "convnext_block-dyn.onnx")
torch.onnx.export(m, (torch.randn(1, 3, 16, 16),), dst, dynamo=True, opset_version=18, external_data=False)
mo = onnx.load(dst)
tidy(mo)
onnx.save(mo, dst)
golden(dst)
counts["vit_b_16-dyn.onnx"]["zero_biases"] = 12 * 768
old = json.load(open(os.path.join(OUT, "counts.json")))
counts["_note"] = old.get("_note", "")
json.dump(counts, open(os.path.join(OUT, "counts.json"), "w"), indent=1)
print(json.dumps(counts, indent=1))
