"""A conv whose batch norm torch's exporter folded into it carries the batch norm's scope (bn1) in
its metadata and the conv's own name on its weight (conv1.weight): the layer is named after the
conv (a user's walk found `conv7-64/2 as bn1` and `block basic(bn1)` in ResNet-18's import)."""
from __future__ import annotations

import pytest

onnx = pytest.importorskip("onnx")

import numpy as np  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from netc.importers import from_onnx  # noqa: E402


def _conv(scope: str, rule: str | None):
    n = helper.make_node("Conv", ["x", "conv1.weight"], ["y"], name="node_Conv_292", kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1])
    props = {"pkg.torch.onnx.name_scopes": f"['', '{scope}', '_native_batch_norm_legit_no_training']"}
    if rule:
        props["pkg.onnxscript.rewriter.rule_name"] = rule
    for k, v in props.items():
        p = n.metadata_props.add()
        p.key, p.value = k, v
    return n


@pytest.mark.parametrize("rule,name", [("RemoveOptionalBiasFromConv, FuseBatchNormIntoConv", "conv1"),
                                       (None, "bn1")])
def test_a_folded_batch_norm_names_the_layer_after_its_conv(tmp_path, rule, name):
    w = np.zeros((4, 3, 3, 3), dtype="float32")
    g = helper.make_graph([_conv("bn1", rule), helper.make_node("Relu", ["y"], ["z"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 4, 8, 8])],
                          [numpy_helper.from_array(w, "conv1.weight")])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    import netc
    text = from_onnx(str(path))
    assert [n.name for n in netc.loads(text).layers()][0] == name, text
