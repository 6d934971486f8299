"""The hand-written ViT / Swin references (tests/references/transformers.py) against torchvision's
published figures and layout: parameter counts, state_dict keys and shapes, forward semantics
(checked against independent formulations), accepted input sizes, and multiply-adds with
torchvision's ``_ops`` convention (tests/references/tf_macs.py)."""
from __future__ import annotations

import itertools

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from references.tf_macs import count_macs, count_macs_dispatch  # noqa: E402
from references.transformers import (  # noqa: E402
    ShiftedWindowAttention, SwinTransformer, VisionTransformer, count_params, interpolate_pos_embedding,
    randomize_, swin_t, vit_b_16, vit_h_14, vit_l_16)

BUILDERS = {"vit_b_16": vit_b_16, "vit_l_16": vit_l_16, "vit_h_14": vit_h_14, "swin_t": swin_t}

# torchvision's weights meta: num_params, and _ops (GFLOPS in its docs; multiply-adds in fact)
TORCHVISION = {
    "vit_b_16": (86_567_656, 17.564),
    "vit_l_16": (304_326_632, 61.555),
    "vit_h_14": (632_045_800, 167.295),
    "swin_t": (28_288_354, 4.491),
}

# exact multiply-adds per 224x224 image: (conv + linear + attention projections, QK^T + AV)
MACS = {
    "vit_b_16": (16_848_500_736, 715_327_488),
    "vit_l_16": (59_647_172_608, 1_907_539_968),
    "vit_h_14": (161_884_375_040, 5_410_734_080),
    "swin_t": (4_350_425_088, 140_141_568),
}


def meta(name):
    with torch.device("meta"):
        return BUILDERS[name]()


# Small models of the same classes (same code paths) keep the forward checks fast on a CPU; the
# full-size networks are run once, in test_output_shapes.
@pytest.fixture(scope="module")
def vit():
    """A 2-layer ViT at 64x64 (a 4x4 patch grid), randomized: torchvision zeroes the head."""
    return randomize_(VisionTransformer(64, 16, num_layers=2, num_heads=4, hidden_dim=64, mlp_dim=128),
                      seed=1).eval()


@pytest.fixture(scope="module")
def swin():
    """swin_t's shape (patch 4, window 7, depths 2-2-6-2) at a quarter of its width."""
    return randomize_(SwinTransformer([4, 4], 24, [2, 2, 6, 2], [1, 2, 3, 6], [7, 7], stochastic_depth_prob=0.2),
                      seed=2).eval()


# ------------------------------------------------------------------------------ parameter counts

@pytest.mark.parametrize("name", BUILDERS)
def test_parameter_count_is_torchvisions(name):
    assert count_params(meta(name)) == TORCHVISION[name][0]


# ------------------------------------------------------------------------------ state_dict layout

def vit_keys(layers):
    keys = ["class_token", "conv_proj.weight", "conv_proj.bias", "encoder.pos_embedding"]
    for i in range(layers):
        p = f"encoder.layers.encoder_layer_{i}."
        keys += [p + k for k in ("ln_1.weight", "ln_1.bias", "self_attention.in_proj_weight",
                                 "self_attention.in_proj_bias", "self_attention.out_proj.weight",
                                 "self_attention.out_proj.bias", "ln_2.weight", "ln_2.bias",
                                 "mlp.0.weight", "mlp.0.bias", "mlp.3.weight", "mlp.3.bias")]
    return keys + ["encoder.ln.weight", "encoder.ln.bias", "heads.head.weight", "heads.head.bias"]


def swin_keys(depths):
    keys = ["features.0.0.weight", "features.0.0.bias", "features.0.2.weight", "features.0.2.bias"]
    for stage, depth in enumerate(depths):
        for b in range(depth):
            p = f"features.{2 * stage + 1}.{b}."
            keys += [p + k for k in ("norm1.weight", "norm1.bias", "attn.relative_position_bias_table",
                                     "attn.relative_position_index", "attn.qkv.weight", "attn.qkv.bias",
                                     "attn.proj.weight", "attn.proj.bias", "norm2.weight", "norm2.bias",
                                     "mlp.0.weight", "mlp.0.bias", "mlp.3.weight", "mlp.3.bias")]
        if stage < len(depths) - 1:
            keys += [f"features.{2 * stage + 2}.{k}" for k in ("reduction.weight", "norm.weight", "norm.bias")]
    return keys + ["norm.weight", "norm.bias", "head.weight", "head.bias"]


@pytest.mark.parametrize("name,expected", [("vit_b_16", vit_keys(12)), ("vit_l_16", vit_keys(24)),
                                           ("vit_h_14", vit_keys(32)), ("swin_t", swin_keys([2, 2, 6, 2]))])
def test_state_dict_keys_in_torchvision_order(name, expected):
    assert list(meta(name).state_dict()) == expected


def test_state_dict_shapes():
    sd = {k: tuple(v.shape) for k, v in meta("vit_b_16").state_dict().items()}
    assert sd["class_token"] == (1, 1, 768)
    assert sd["conv_proj.weight"] == (768, 3, 16, 16)
    assert sd["encoder.pos_embedding"] == (1, 197, 768)
    assert sd["encoder.layers.encoder_layer_0.self_attention.in_proj_weight"] == (2304, 768)
    assert sd["encoder.layers.encoder_layer_11.self_attention.out_proj.weight"] == (768, 768)
    assert sd["encoder.layers.encoder_layer_0.mlp.0.weight"] == (3072, 768)
    assert sd["encoder.layers.encoder_layer_0.mlp.3.weight"] == (768, 3072)
    assert sd["heads.head.weight"] == (1000, 768)
    assert {k: tuple(v.shape) for k, v in meta("vit_h_14").state_dict().items()}[
        "encoder.pos_embedding"] == (1, 257, 1280)

    sd = {k: tuple(v.shape) for k, v in meta("swin_t").state_dict().items()}
    assert sd["features.0.0.weight"] == (96, 3, 4, 4)
    assert sd["features.0.2.weight"] == (96,)
    assert sd["features.1.0.attn.relative_position_bias_table"] == (169, 3)
    assert sd["features.1.0.attn.relative_position_index"] == (2401,)
    assert sd["features.1.0.attn.qkv.weight"] == (288, 96)
    assert sd["features.2.reduction.weight"] == (192, 384)
    assert sd["features.2.norm.weight"] == (384,)
    assert sd["features.5.5.attn.relative_position_bias_table"] == (169, 12)
    assert sd["features.7.1.mlp.0.weight"] == (3072, 768)
    assert sd["norm.weight"] == (768,)
    assert sd["head.weight"] == (1000, 768)
    # the index is a persistent buffer, not a parameter (torchvision counts 28,288,354 without it)
    names = dict(meta("swin_t").named_parameters())
    assert "features.1.0.attn.relative_position_index" not in names


def test_relative_position_index_values():
    attn = ShiftedWindowAttention(8, [7, 7], [0, 0], 2)
    idx = attn.relative_position_index.view(49, 49)
    assert idx.min() == 0 and idx.max() == 168
    assert idx[0, 0] == 84 and torch.all(idx.diagonal() == 84)      # zero offset is the table's centre
    assert idx[0, 48] == 0 and idx[48, 0] == 168                     # (-6, -6) and (+6, +6)
    assert idx[1, 0] == 85 and idx[7, 0] == 84 + 13                  # (0, +1) and (+1, 0)


# ------------------------------------------------------------------------------- forward

@pytest.mark.parametrize("name", ["vit_b_16", "swin_t"])
def test_output_shapes(name):
    torch.manual_seed(0)
    model = BUILDERS[name]().eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 224, 224)).shape == (2, 1000)


def test_strict_state_dict_round_trip(swin):
    other = SwinTransformer([4, 4], 24, [2, 2, 6, 2], [1, 2, 3, 6], [7, 7]).eval()
    other.load_state_dict(swin.state_dict(), strict=True)
    x = torch.randn(1, 3, 112, 112)
    with torch.no_grad():
        assert torch.equal(other(x), swin(x))


def test_eval_mode_is_deterministic_despite_stochastic_depth(swin):
    depths = [m.stochastic_depth.p for m in swin.modules() if hasattr(m, "stochastic_depth")]
    assert depths[0] == 0.0 and depths[-1] == pytest.approx(0.2) and len(depths) == 12
    x = torch.randn(1, 3, 112, 112)
    with torch.no_grad():
        assert torch.equal(swin(x), swin(x))


def test_vit_block_equals_torch_transformer_encoder_layer(vit):
    """torchvision's EncoderBlock is a pre-norm GELU transformer layer with eps 1e-6."""
    block = vit.encoder.layers.encoder_layer_1
    ref = nn.TransformerEncoderLayer(64, 4, 128, dropout=0.0, activation="gelu", layer_norm_eps=1e-6,
                                     batch_first=True, norm_first=True).eval()
    with torch.no_grad():
        ref.self_attn.load_state_dict(block.self_attention.state_dict())
        for a, b in ((ref.norm1, block.ln_1), (ref.norm2, block.ln_2), (ref.linear1, block.mlp[0]),
                     (ref.linear2, block.mlp[3])):
            a.load_state_dict(b.state_dict())
        x = torch.randn(2, 17, 64)
        torch.testing.assert_close(block(x), ref(x), rtol=1e-4, atol=1e-4)


def test_vit_forward_by_hand(vit):
    """Patch order is row-major, the class token is prepended and read out after the final LN."""
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        patches = x.unfold(2, 16, 16).unfold(3, 16, 16)               # 1, 3, 4, 4, 16, 16
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(1, 16, 768)
        w = vit.conv_proj.weight.reshape(64, 768)
        tokens = patches @ w.T + vit.conv_proj.bias
        tokens = torch.cat([vit.class_token, tokens], 1) + vit.encoder.pos_embedding
        for block in vit.encoder.layers:
            tokens = block(tokens)
        expected = vit.heads.head(vit.encoder.ln(tokens)[:, 0])
        torch.testing.assert_close(vit(x), expected, rtol=1e-4, atol=1e-4)


def brute_force_window_attention(attn: ShiftedWindowAttention, x):
    """Token by token: pad, give every padded position its rolled coordinate, attend to the tokens of
    the same rolled window with the relative bias of the in-window offset, -100 across shift regions."""
    b, h, w, c = x.shape
    wh, ww = attn.window_size
    heads = attn.num_heads
    ph, pw = -(-h // wh) * wh, -(-w // ww) * ww
    xp = F.pad(x, (0, 0, 0, pw - w, 0, ph - h)).reshape(b, ph * pw, c)
    sh = attn.shift_size[0] if ph > wh else 0
    sw = attn.shift_size[1] if pw > ww else 0
    pos = list(itertools.product(range(ph), range(pw)))
    rolled = [((i - sh) % ph, (j - sw) % pw) for i, j in pos]

    def band(r, n, wsz, s):
        return 0 if not (sh or sw) else (0 if r < n - wsz else 1 if r < n - s else 2)
    window = torch.tensor([(r // wh) * (pw // ww) + (s // ww) for r, s in rolled])
    region = torch.tensor([band(r, ph, wh, sh) * 3 + band(s, pw, ww, sw) for r, s in rolled])
    ry = torch.tensor([r % wh for r, _ in rolled])
    rx = torch.tensor([s % ww for _, s in rolled])
    qkv = F.linear(xp, attn.qkv.weight, attn.qkv.bias).view(b, -1, 3, heads, c // heads)
    q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]                # b, tokens, heads, hd
    out = torch.zeros(b, ph * pw, heads, c // heads)
    table = attn.relative_position_bias_table
    for t in range(ph * pw):
        keys = (window == window[t]).nonzero().flatten()
        bias = table[(ry[t] - ry[keys] + wh - 1) * (2 * ww - 1) + (rx[t] - rx[keys] + ww - 1)]  # keys, heads
        logits = torch.einsum("bhd,bkhd->bhk", q[:, t] * (c // heads) ** -0.5, k[:, keys]) + bias.T
        logits = logits + torch.where(region[keys] == region[t], 0.0, -100.0)
        out[:, t] = torch.einsum("bhk,bkhd->bhd", logits.softmax(-1), v[:, keys])
    out = F.linear(out.reshape(b, ph * pw, c), attn.proj.weight, attn.proj.bias)
    return out.view(b, ph, pw, c)[:, :h, :w]


@pytest.mark.parametrize("hw,shift", [((14, 14), 3), ((14, 14), 0), ((10, 12), 3), ((7, 7), 3),
                                      ((9, 16), 2)])
def test_window_attention_equals_brute_force(hw, shift):
    torch.manual_seed(0)
    attn = randomize_(ShiftedWindowAttention(12, [7, 7], [shift, shift], 3), seed=3, std=0.5).eval()
    x = torch.randn(1, *hw, 12)
    with torch.no_grad():
        torch.testing.assert_close(attn(x), brute_force_window_attention(attn, x), rtol=1e-4, atol=1e-5)


def test_patch_merging_order(swin):
    merge = swin.features[2]
    x = torch.randn(1, 4, 6, 24)
    with torch.no_grad():
        got = merge(x)
        i, j = 1, 2
        cat = torch.cat([x[0, 2 * i, 2 * j], x[0, 2 * i + 1, 2 * j], x[0, 2 * i, 2 * j + 1],
                         x[0, 2 * i + 1, 2 * j + 1]])
        torch.testing.assert_close(got[0, i, j], merge.reduction(merge.norm(cat)))
        assert merge(torch.randn(1, 5, 7, 24)).shape == (1, 3, 4, 48)   # odd sizes padded by one


# --------------------------------------------------------------------------- accepted input sizes

def test_vit_resolution_is_fixed_by_the_position_embedding(vit):
    with pytest.raises(ValueError, match="64x64"):
        vit(torch.zeros(1, 3, 80, 80))
    with torch.device("meta"):
        assert vit_b_16().encoder.pos_embedding.shape == (1, 197, 768)
        assert vit_b_16(image_size=384).encoder.pos_embedding.shape == (1, 577, 768)
    state = interpolate_pos_embedding(vit.state_dict(), 96, 16)
    assert state["encoder.pos_embedding"].shape == (1, 37, 64)
    big = VisionTransformer(96, 16, num_layers=2, num_heads=4, hidden_dim=64, mlp_dim=128).eval()
    big.load_state_dict(state, strict=True)
    with torch.no_grad():
        assert big(torch.randn(1, 3, 96, 96)).shape == (1, 1000)
    same = interpolate_pos_embedding(vit.state_dict(), 64, 16)
    assert torch.equal(same["encoder.pos_embedding"], vit.encoder.pos_embedding)


@pytest.mark.parametrize("size", [(100, 100), (96, 160), (31, 45)])
def test_swin_accepts_any_size(swin, size):
    with torch.no_grad():
        assert swin(torch.randn(1, 3, *size)).shape == (1, 1000)


# --------------------------------------------------------------------------------- multiply-adds

@pytest.mark.parametrize("name", BUILDERS)
def test_macs_reproduce_torchvision_ops(name):
    macs = count_macs(meta(name))
    assert (macs.conv_linear, macs.attn_matmul) == MACS[name]
    assert round(macs.total / 1e9, 3) == TORCHVISION[name][1]
    # without QK^T and AV the figure is off by 3-4 %: torchvision counts them
    assert round(macs.conv_linear / 1e9, 3) != TORCHVISION[name][1]


@pytest.mark.parametrize("name,size", [("vit_b_16", (3, 224, 224)), ("swin_t", (3, 224, 224)),
                                       ("swin_t", (3, 200, 200))])
def test_macs_equal_the_aten_flop_counter(name, size):
    """torch.utils.flop_counter (aten mm/addmm/bmm/convolution/attention, halved) agrees exactly: the
    convention is "multiply-adds of matrix products and convolutions, nothing element-wise"; Swin's
    padded windows count as computed."""
    assert count_macs(meta(name), size).total == count_macs_dispatch(meta(name), size)


def test_vit_macs_formula():
    """Per layer 4*L*D^2 (in/out projections) + 2*L*D*M (MLP) + 2*L^2*D (QK^T, AV); plus the patch
    embedding and the head."""
    L, D, M, layers, P = 197, 768, 3072, 12, 16
    expected = layers * (4 * L * D * D + 2 * L * D * M + 2 * L * L * D) + 196 * 3 * P * P * D + D * 1000
    assert count_macs(meta("vit_b_16")).total == expected


def test_counting_runs_a_cpu_model_in_place(swin, vit):
    before = swin.head.weight.clone()
    assert count_macs(swin, (3, 64, 64)).total == count_macs_dispatch(swin, (3, 64, 64))
    assert count_macs(vit, (3, 64, 64)).total == count_macs_dispatch(vit, (3, 64, 64))
    assert swin.head.weight.device.type == "cpu" and torch.equal(swin.head.weight, before)
    assert not swin.training
