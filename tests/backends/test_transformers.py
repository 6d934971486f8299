"""Vision transformers by torchvision's names (specs/vit.net, specs/swin.net): exact parameters and
multiply-adds, token sequences in the IR, input-size rules, and torchvision's weights loading into
the compiled modules with the same outputs (against the hand-written references with torchvision's
state_dict layout, tests/references/transformers.py)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import netc

# torchvision's weights meta: num_params; multiply-adds exactly as tests/references/tf_macs.py counts them
ZOO = {
    "vit_b_16": (86_567_656, 17_563_828_224),
    "vit_l_16": (304_326_632, 61_554_712_576),
    "vit_h_14": (632_045_800, 167_295_109_120),
    "swin_t": (28_288_354, 4_490_566_656),
    "swin_s": (49_606_258, None),
    "swin_b": (87_768_224, None),
}


@pytest.mark.parametrize("name", ZOO)
def test_params_and_macs_are_torchvisions(name):
    ir = netc.load(name)
    params, macs = ZOO[name]
    assert ir.params == params
    if macs is not None:
        assert ir.macs == macs


def test_tokens_are_a_layout_of_their_own():
    ir = netc.load("vit_b_16")
    assert ir.node("conv_proj").shape == (196, 768) and ir.node("conv_proj").shape.layout == "tokens"
    assert ir.node("class_token").shape == (197, 768)
    assert ir.node("encoder/pos_embedding").n_params == 197 * 768
    assert ir.node("class_out").shape.layout == "vector"
    swin = netc.load("swin_t")
    assert swin.node("patch_embed").shape == (56, 56, 96) and swin.node("patch_embed").shape.layout == "tokens"
    assert swin.node("merge_3").shape == (7, 7, 768)


def test_attention_macs_are_quadratic_in_the_tokens():
    """4·L·D² for the projections plus 2·L²·D for QK^T and AV, as torchvision counts them."""
    ir = netc.load("vit_b_16")
    attn = ir.node("encoder/encoder_block_1/self_attention")
    L, D = 197, 768
    assert attn.macs == 4 * L * D * D + 2 * L * L * D
    assert attn.n_params == 4 * D * D + 4 * D


def test_summary_json_shows_token_shapes():
    exe = Path(sys.executable).parent / "netc"
    out = subprocess.run([str(exe), "summary", "vit_b_16", "--json"], capture_output=True, text=True, check=True)
    js = json.loads(out.stdout)
    assert [197, 768] in [row["out_shape"] for row in js["layers"]]


def test_vit_at_another_size_counts_another_position_embedding():
    """torchvision's vit_b_16 at 384 (its SWAG weights): 86,859,496 parameters."""
    ir = netc.load("vit_b_16")
    netc.passes.infer(ir, (384, 384))
    assert ir.params == 86_859_496


def test_vit_with_a_variable_input_is_an_error_naming_the_position_embedding():
    text = netc.bundled_dir().joinpath("vit.net").read_text().replace("input 224x224 RGB", "input HxW RGB")
    errors = netc.check(text, filename="vit.net")
    assert errors
    msg = str(errors[0])
    assert "pos-embed needs a fixed number of tokens" in msg and "(H/16)*(W/16)+1 x 768" in msg
    assert "interpolate" in msg


def test_swin_takes_any_size():
    text = netc.bundled_dir().joinpath("swin.net").read_text().replace("input 224x224 RGB", "input HxW RGB")
    ir = netc.loads(text, config="swin_t")
    assert ir.any_size and tuple(ir.min_input) == (4, 4)
    assert str(ir.node("patch_embed").sym_shape) == "H/4 x W/4 x 96"


def test_diagram_folds_the_identical_encoder_blocks():
    from netc.visualize.dot import to_dot
    ir = netc.load("vit_b_16")
    dot = to_dot(ir)
    assert dot.count("<b>encoder_block</b> ×12") == 1 and "encoder_block_2" not in dot
    opened = to_dot(ir, depth=3)           # one instance drawn, titled x12
    assert "<b>encoder_block</b> ×12" in opened and opened.count("<b>MSA(12)</b>") == 1
    everything = to_dot(ir, fold=None)
    assert everything.count("<b>MSA(12)</b>") == 12


def test_table_prints_the_encoder_as_one_repeated_row():
    from netc.visualize.tables import row_table
    t = row_table(netc.load("vit_b_16"))
    kinds = [r.cells[0].text for r in t.rows]
    assert "encoder_block ×12" in kinds and sum(k.startswith("encoder_block") for k in kinds) == 1
    row = t.rows[kinds.index("encoder_block ×12")]
    assert [c.text for c in row.cells][2] == "197×768"


# ---------------------------------------------------------------------------------------- torch
torch = pytest.importorskip("torch")

from references.transformers import randomize_, swin_t, vit_b_16  # noqa: E402

from netc.backends.torch.counting import count_macs  # noqa: E402

REFS = {"vit_b_16": vit_b_16, "swin_t": swin_t}


@pytest.mark.parametrize("name", REFS)
def test_state_dict_has_torchvisions_structure(name):
    model = netc.compile(name, device="meta")
    with torch.device("meta"):
        ref = REFS[name]()
    ours = [tuple(v.shape) for v in model.state_dict().values()]
    theirs = [tuple(v.shape) for v in ref.state_dict().values()]
    assert ours == theirs
    if name == "vit_b_16":
        assert list(model.state_dict())[:4] == ["class_token", "conv_proj.weight", "conv_proj.bias",
                                                "encoder.pos_embedding"]
        attn = model.encoder.encoder_block_1.self_attention
        assert [k for k, _ in attn.named_parameters()] == ["in_proj_weight", "in_proj_bias", "out_proj.weight",
                                                            "out_proj.bias"]


@pytest.mark.parametrize("name,sizes", [("vit_b_16", [(224, 224)]), ("swin_t", [(224, 224), (31, 45)])])
def test_torchvision_weights_give_the_same_outputs(name, sizes):
    torch.manual_seed(0)
    ref = randomize_(REFS[name](), seed=3).eval()
    model = netc.load_weights(netc.compile(name), ref.state_dict()).eval()
    for size in sizes:
        x = torch.randn(1, 3, *size)
        with torch.no_grad():
            torch.testing.assert_close(model(x), ref(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["vit_b_16", "swin_t"])
def test_hook_counted_macs_equal_the_analytic_count(name):
    model = netc.compile(name, device="meta").eval()
    assert count_macs(model, torch.empty(1, 3, 224, 224, device="meta")) == ZOO[name][1]


@pytest.mark.parametrize("name", ["vit_b_16", "swin_t"])
def test_macs_equal_torchs_aten_flop_counter(name):
    """An oracle outside netc: torch.utils.flop_counter on the compiled module (matrix products and
    convolutions at the aten level, halved; SDPA held to its math kernel so QK^T and AV are seen)."""
    from references.tf_macs import count_macs_dispatch
    assert count_macs_dispatch(netc.compile(name, device="meta")) == ZOO[name][1]


def test_vit_refuses_another_size_naming_the_position_embedding():
    model = netc.compile("vit_b_16", device="meta")
    with pytest.raises(ValueError, match="position embedding"):
        model(torch.zeros(1, 3, 256, 256, device="meta"))


def test_training_mode_runs_dropout_and_stochastic_depth():
    model = netc.compile("swin_t").train()
    depths = [m.p for name, m in model.named_modules() if type(m).__name__ == "DropPath"]
    assert len(depths) == 24 and depths[0] == 0.0 and depths[-1] == pytest.approx(0.2)
    y = model(torch.randn(2, 3, 32, 32))
    assert y.shape == (2, 1000)
    y.sum().backward()
    assert model.patch_embed.weight.grad is not None
