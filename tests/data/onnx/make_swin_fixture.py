"""Regenerate swin_block-dyn.onnx / .net (tests/importers/test_onnx_world.py): the Swin-shaped module
of that test (torchvision's layout: patch embedding, a W-MSA and an SW-MSA block on a 9x9 grid with
7x7 windows, patch merging of an odd grid, LN, pooling, head) exported by the dynamo exporter (opset
18) with its weights (10,622 parameters), stack traces dropped; the golden spec is netc import of it.
Run with the world venv (../shared/tools/world-env):

    $(../shared/tools/world-env) tests/data/onnx/make_swin_fixture.py
"""
import os
import subprocess
import sys
import warnings

warnings.filterwarnings("ignore")
import onnx  # noqa: E402
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "importers"))
sys.path.insert(0, os.path.join(HERE, "..", ".."))
from test_onnx_world import SwinLike  # noqa: E402

torch.manual_seed(0)
f = os.path.join(HERE, "swin_block-dyn.onnx")
with torch.no_grad():
    torch.onnx.export(SwinLike().eval(), (torch.randn(1, 3, 36, 36),), f, opset_version=18, dynamo=True,
                      external_data=False)
m = onnx.load(f)
for n in m.graph.node:
    keep = [p for p in n.metadata_props if p.key == "pkg.torch.onnx.name_scopes"]
    del n.metadata_props[:]
    n.metadata_props.extend(keep)
    n.doc_string = ""
m.graph.ClearField("value_info")
onnx.save(m, f)
subprocess.run([os.path.join(os.path.dirname(sys.executable), "netc"), "import", f, "-o", f[:-5] + ".net"], check=True)
