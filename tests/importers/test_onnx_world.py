"""ONNX files netc did not write: hand-written modules laid out as torchvision's (squeeze-excitation
with SiLU and hard activations, ReLU6, ConvNeXt's channels-last block, DenseNet's repeated concats,
Inception-v3's split branch, ShuffleNet's channel shuffle) exported by torch's TorchScript exporter
in eval mode (batch norm folded into the convolutions), imported with their weights, and compared
with the module's own outputs. An operator netc cannot express is an error naming the op and node."""
from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import netc  # noqa: E402
from netc.importers import ImportError_, from_onnx  # noqa: E402

from conftest import run_cli  # noqa: E402


def _roundtrip(model, x, tmp_path):
    """(imported spec text, the module's output, the imported module's output)."""
    torch.manual_seed(0)
    model.eval()
    with torch.no_grad():
        for m in model.modules():       # batch norms that do something, so folding them matters
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    f = tmp_path / "m.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(f), dynamo=False, opset_version=17)
    r = run_cli("import", str(f), "-o", str(tmp_path / "m.net"), "--weights", str(tmp_path / "m.pt"))
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "m.net").read_text()
    back = netc.compile(str(tmp_path / "m.net")).eval()
    netc.load_weights(back, torch.load(tmp_path / "m.pt", weights_only=True))
    with torch.no_grad():
        return text, model(x), back(x)


def _close(a, b):
    return a.shape == b.shape and float((a - b).abs().max()) <= 1e-4 * max(1.0, float(a.abs().max()))


class SE(nn.Module):
    """torchvision's SqueezeExcitation: pool, 1x1, act, 1x1, gate, times the input."""

    def __init__(self, c, s, act=nn.SiLU, gate=nn.Sigmoid):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1, self.fc2 = nn.Conv2d(c, s, 1), nn.Conv2d(s, c, 1)
        self.activation, self.scale_activation = act(), gate()

    def forward(self, x):
        return self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x))))) * x


class EfficientLike(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.SiLU())
        self.block = nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1, groups=16, bias=False), nn.BatchNorm2d(16), nn.SiLU(),
                                   SE(16, 4), nn.Conv2d(16, 24, 1, bias=False), nn.BatchNorm2d(24))
        self.v3 = nn.Sequential(nn.Conv2d(24, 32, 1), nn.Hardswish(), SE(32, 8, nn.ReLU, nn.Hardsigmoid),
                                nn.Conv2d(32, 32, 1), nn.ReLU6())
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.v3(self.block(self.stem(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class CNBlock(nn.Module):
    """torchvision's ConvNeXt block: depthwise 7x7, to channels-last, LayerNorm, Linear, GELU,
    Linear, back, a learned scale, added to the input."""

    def __init__(self, c):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm, self.l1, self.l2 = nn.LayerNorm(c, eps=1e-6), nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
        self.layer_scale = nn.Parameter(torch.rand(c, 1, 1))

    def forward(self, x):
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.l2(F.gelu(self.l1(self.norm(y)))).permute(0, 3, 1, 2)
        return x + self.layer_scale * y


class ConvNeXtLike(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 4, 4)
        self.blocks = nn.Sequential(CNBlock(16), CNBlock(16))
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        return self.head(torch.flatten(F.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1), 1))


class DenseLike(nn.Module):
    """DenseNet's layers each concatenate every earlier output again (torchvision's _DenseLayer)."""

    def __init__(self, c=8, g=4, n=4):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.layers = nn.ModuleList(nn.Sequential(nn.BatchNorm2d(c + i * g), nn.ReLU(), nn.Conv2d(c + i * g, g, 3,
                                                                                                  padding=1))
                                    for i in range(n))
        self.fc = nn.Linear(c + n * g, 3)

    def forward(self, x):
        feats = [self.stem(x)]
        for layer in self.layers:
            feats.append(layer(torch.cat(feats, 1)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(torch.cat(feats, 1), 1), 1))


class SplitBranch(nn.Module):
    """Inception-v3's InceptionE: a branch that splits in two again, its halves concatenated
    (the exporter flattens the concat of concats into one)."""

    def __init__(self):
        super().__init__()
        self.b1, self.b3_1 = nn.Conv2d(3, 4, 1), nn.Conv2d(3, 6, 1)
        self.b3_2a, self.b3_2b = nn.Conv2d(6, 5, (1, 3), padding=(0, 1)), nn.Conv2d(6, 5, (3, 1), padding=(1, 0))
        self.pool = nn.Conv2d(3, 2, 1)

    def forward(self, x):
        b3 = F.relu(self.b3_1(x))
        b3 = torch.cat([F.relu(self.b3_2a(b3)), F.relu(self.b3_2b(b3))], 1)
        p = F.relu(self.pool(F.avg_pool2d(x, 3, 1, 1)))
        return torch.cat([F.relu(self.b1(x)), b3, p], 1)


class Shuffle(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 12, 1)
        self.conv2 = nn.Conv2d(12, 6, 3, groups=3)

    def forward(self, x):
        x = self.conv(x)
        n, c, h, w = x.shape
        x = x.view(n, 3, c // 3, h, w).transpose(1, 2).contiguous().view(n, c, h, w)
        return self.conv2(x)


@pytest.mark.parametrize("make, words", [
    (EfficientLike, ["silu", "hardswish", "hardsigmoid", "relu6", "mul {"]),
    (ConvNeXtLike, ["ln(eps=1e-06)", "gelu", "layer-scale"]),
    (DenseLike, ["concat {"]),
    (Shuffle, ["shuffle(3)"]),
])
def test_torchvision_layouts_import_with_their_outputs(make, words, tmp_path):
    torch.manual_seed(0)
    text, want, got = _roundtrip(make(), torch.randn(1, 3, 32, 32), tmp_path)
    assert _close(want, got), text
    for w in words:
        assert w in text, (w, text)


def test_a_flattened_concat_of_concats_imports_as_nested_branches(tmp_path):
    torch.manual_seed(0)
    text, want, got = _roundtrip(SplitBranch(), torch.randn(1, 3, 16, 16), tmp_path)
    assert _close(want, got), text
    ir = netc.loads(text)
    assert ir.params == sum(p.numel() for p in SplitBranch().parameters())    # b3_1 once, not once per half
    assert text.count("concat {") == 2, text


def test_densenet_concats_import_as_a_chain(tmp_path):
    """Layer k's concat of x0 .. xk is the concat made before it and xk: each dense layer is one
    concat { identity ; ... }, not a concat of every earlier branch written again."""
    torch.manual_seed(0)
    text, want, got = _roundtrip(DenseLike(n=6), torch.randn(1, 3, 16, 16), tmp_path)
    assert _close(want, got)
    assert netc.loads(text).params == sum(p.numel() for p in DenseLike(n=6).parameters())


class ChannelSplit(nn.Module):
    """ShuffleNet V2's basic unit: x.chunk(2, 1), the first half passed on, the second through layers."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1)
        self.branch = nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4), nn.ReLU(),
                                    nn.Conv2d(4, 4, 3, padding=1, groups=4))

    def forward(self, x):
        a, b = self.conv(x).chunk(2, dim=1)
        return torch.cat([a, self.branch(b)], 1)


class UnevenParts(nn.Module):
    """A part of uneven size (torch.split(x, [2, 6], 1)), read on its own."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 8, 1), nn.Conv2d(6, 5, 1)

    def forward(self, x):
        a, b = torch.split(self.conv(x), [2, 6], 1)
        return self.fc(F.relu(b))


def test_a_channel_split_imports_as_split_with_its_outputs(tmp_path):
    torch.manual_seed(0)
    text, want, got = _roundtrip(ChannelSplit(), torch.randn(1, 3, 8, 8), tmp_path)
    assert _close(want, got), text
    assert "split(2) {" in text and "identity" in text, text
    assert netc.loads(text).params == sum(p.numel() for p in ChannelSplit().parameters()) - 2 * 4   # BN folded into the conv


def test_an_uneven_part_imports_as_chunk(tmp_path):
    torch.manual_seed(0)
    text, want, got = _roundtrip(UnevenParts(), torch.randn(1, 3, 8, 8), tmp_path)
    assert _close(want, got), text
    assert "chunk([2, 6], 1)" in text, text


class RowSlice(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1)

    def forward(self, x):
        return self.conv(x)[:, :, 1:]


def test_a_slice_of_rows_is_an_error_naming_the_op_and_node(tmp_path):
    f = tmp_path / "s.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(RowSlice().eval(), (torch.randn(1, 3, 8, 8),), str(f), dynamo=False, opset_version=17)
    with pytest.raises(ImportError_, match=r"node \S+ \(Slice\) takes a slice along axis 2 of a map"):
        from_onnx(str(f))
    r = run_cli("import", str(f))
    assert r.returncode == 1 and "chunk" in r.stderr.lower() and "Traceback" not in r.stderr


def test_onnx_operators_are_declared_on_their_kinds():
    from netc.importers.onnx_import import OPS, _declared
    from netc.kinds import DEFAULT
    declared = _declared()
    assert declared["HardSigmoid"] == ("hardsigmoid", {"alpha": 1 / 6, "beta": 0.5})
    assert declared["Relu"][0] == "relu" and declared["GlobalAveragePool"][0] == "gap"
    assert not set(declared) & set(OPS)          # one home for each operator
    assert all(DEFAULT.get(k) is not None for k, _ in declared.values())


# ------------------------------------------------------------------ Swin (torchvision's layout)
def _window_attention(x, qkv, proj, bias, m, heads, shift):
    """torchvision's shifted_window_attention (its steps and its tensors' layout, eval mode)."""
    b, h, w, c = x.shape
    x = F.pad(x, (0, 0, 0, (m - w % m) % m, 0, (m - h % m) % m))
    _, ph, pw, _ = x.shape
    s = [0 if m >= ph else shift, 0 if m >= pw else shift]
    if sum(s) > 0:
        x = torch.roll(x, shifts=(-s[0], -s[1]), dims=(1, 2))
    nw = (ph // m) * (pw // m)
    x = x.view(b, ph // m, m, pw // m, m, c).permute(0, 1, 3, 2, 4, 5).reshape(b * nw, m * m, c)
    q, k, v = qkv(x).reshape(x.size(0), x.size(1), 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    attn = (q * (c // heads) ** -0.5).matmul(k.transpose(-2, -1)) + bias
    if sum(s) > 0:
        mask = x.new_zeros((ph, pw))
        count = 0
        for hs in ((0, -m), (-m, -s[0]), (-s[0], None)):
            for ws in ((0, -m), (-m, -s[1]), (-s[1], None)):
                mask[hs[0]:hs[1], ws[0]:ws[1]] = count
                count += 1
        mask = mask.view(ph // m, m, pw // m, m).permute(0, 2, 1, 3).reshape(nw, m * m)
        mask = mask.unsqueeze(1) - mask.unsqueeze(2)
        mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
        attn = attn.view(x.size(0) // nw, nw, heads, x.size(1), x.size(1)) + mask.unsqueeze(1).unsqueeze(0)
        attn = attn.view(-1, heads, x.size(1), x.size(1))
    x = F.softmax(attn, dim=-1).matmul(v).transpose(1, 2).reshape(x.size(0), x.size(1), c)
    x = proj(x).view(b, ph // m, pw // m, m, m, c).permute(0, 1, 3, 2, 4, 5).reshape(b, ph, pw, c)
    if sum(s) > 0:
        x = torch.roll(x, shifts=(s[0], s[1]), dims=(1, 2))
    return x[:, :h, :w, :].contiguous()


class WindowAttn(nn.Module):
    """torchvision's ShiftedWindowAttention: a ((2M-1)^2, heads) table read at the relative position
    index; ``full=True``: a learned (heads, t, t) bias instead (no table gives it)."""

    def __init__(self, c, heads, m, shift, full=False):
        super().__init__()
        self.m, self.heads, self.shift, self.full = m, heads, shift, full
        self.qkv, self.proj = nn.Linear(c, 3 * c), nn.Linear(c, c)
        self.relative_position_bias_table = nn.Parameter(torch.randn((2 * m - 1) ** 2, heads) * 0.5)
        ys, xs = torch.meshgrid(torch.arange(m), torch.arange(m), indexing="ij")
        ys, xs = ys.flatten(), xs.flatten()
        idx = (ys[:, None] - ys[None, :] + m - 1) * (2 * m - 1) + xs[:, None] - xs[None, :] + m - 1
        self.register_buffer("relative_position_index", idx.flatten())
        if full:
            self.bias = nn.Parameter(torch.randn(1, heads, m * m, m * m))

    def forward(self, x):
        t = self.m * self.m
        bias = self.bias if self.full else self.relative_position_bias_table[self.relative_position_index] \
            .view(t, t, -1).permute(2, 0, 1).contiguous().unsqueeze(0)
        return _window_attention(x, self.qkv, self.proj, bias, self.m, self.heads, self.shift)


class SwinBlock(nn.Module):
    def __init__(self, c, heads, m, shift, full=False):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(c), WindowAttn(c, heads, m, shift, full)
        self.norm2, self.mlp = nn.LayerNorm(c), nn.Sequential(nn.Linear(c, 4 * c), nn.GELU(), nn.Linear(4 * c, c))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Merge(nn.Module):
    """torchvision's PatchMerging: odd sizes padded, the 2x2 neighbours concatenated, LN, Linear."""

    def __init__(self, c):
        super().__init__()
        self.reduction, self.norm = nn.Linear(4 * c, 2 * c, bias=False), nn.LayerNorm(4 * c)

    def forward(self, x):
        h, w = x.shape[-3:-1]
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[..., 0::2, 0::2, :], x[..., 1::2, 0::2, :], x[..., 0::2, 1::2, :], x[..., 1::2, 1::2, :]], -1)
        return self.reduction(self.norm(x))


class SwinLike(nn.Module):
    """torchvision's Swin at a small size: patch embedding (conv, permute, LN), a W-MSA and an SW-MSA
    block on a 9x9 grid with 7x7 windows (padded to 14x14 and cropped back, the shift mask over 2x2
    windows), patch merging of an odd grid, LN, permute, pooling, head."""

    def __init__(self, full=False):
        super().__init__()
        self.features = nn.Sequential(
            nn.Sequential(nn.Conv2d(3, 16, 4, 4), _Permute(0, 2, 3, 1), nn.LayerNorm(16)),
            nn.Sequential(SwinBlock(16, 2, 7, 0), SwinBlock(16, 2, 7, 3, full)), Merge(16))
        self.norm, self.permute = nn.LayerNorm(32), _Permute(0, 3, 1, 2)
        self.avgpool, self.head = nn.AdaptiveAvgPool2d(1), nn.Linear(32, 10)

    def forward(self, x):
        x = self.avgpool(self.permute(self.norm(self.features(x))))
        return self.head(torch.flatten(x, 1))


class _Permute(nn.Module):
    def __init__(self, *dims):
        super().__init__()
        self.dims = dims

    def forward(self, x):
        return x.permute(*self.dims)


@pytest.mark.slow   # 6 s; the committed Swin block fixture is read in the default run
def test_swin_window_attention_and_patch_merging_import_with_their_outputs(tmp_path):
    """W-MSA, SW-MSA (pad, roll, windows, the exporter's folded table[index] bias, the shift mask,
    windows back, roll back, crop) and patch merging read as netc writes Swin, the bias table's
    weights where netc's module keeps them: the module's outputs and parameter count."""
    torch.manual_seed(0)
    model = SwinLike()
    text, want, got = _roundtrip(model, torch.randn(1, 3, 36, 36), tmp_path)
    assert _close(want, got), text
    for w in ("patch4-16(grid)", "W-MSA(2)", "SW-MSA(2)", "patch-merge", "to-map"):
        assert w in text, (w, text)
    assert netc.loads(text).params == sum(p.numel() for p in model.parameters())
    sd = torch.load(tmp_path / "m.pt", weights_only=True)
    tables = [v for k, v in sd.items() if k.endswith("relative_position_bias_table")]
    mine = [b.attn.relative_position_bias_table.detach() for b in model.features[1]]
    assert len(tables) == 2 and all(torch.equal(a, b) for a, b in zip(tables, mine))


def test_a_window_attention_with_a_bias_no_table_gives_is_an_error_naming_the_node(tmp_path):
    """A learned (heads, t, t) bias is not Swin's relative position bias: the pattern is not read,
    and the first node netc cannot read is named."""
    f = tmp_path / "s.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(SwinLike(full=True).eval(), (torch.randn(1, 3, 36, 36),), str(f), dynamo=False,
                          opset_version=17)
    with pytest.raises(ImportError_, match=r"node \S*features\.1\.1/attn\S* of type Pad has no netc kind"):
        from_onnx(str(f))
    r = run_cli("import", str(f))
    assert r.returncode == 1 and "Traceback" not in r.stderr


def test_swin_fixture_from_the_dynamo_exporter_imports_with_onnxruntimes_outputs(tmp_path):
    """tests/data/onnx/swin_block-dyn.onnx (the module above through the dynamo exporter, opset 18:
    unbind as Slice + Squeeze, module-path names): its golden spec, its parameter count, and with
    --weights onnxruntime's outputs."""
    ort = pytest.importorskip("onnxruntime")
    from pathlib import Path
    data = Path(__file__).resolve().parent.parent / "data" / "onnx"
    f = data / "swin_block-dyn.onnx"
    r = run_cli("import", str(f), "-o", str(tmp_path / "s.net"), "--weights", str(tmp_path / "s.pt"))
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "s.net").read_text()
    golden = (data / "swin_block-dyn.net").read_text()
    assert text.splitlines()[1:] == golden.splitlines()[1:]
    assert netc.loads(text).params == sum(p.numel() for p in SwinLike().parameters())
    m = netc.compile(str(tmp_path / "s.net")).eval()
    netc.load_weights(m, torch.load(tmp_path / "s.pt", weights_only=True))
    x = torch.randn(1, 3, 36, 36)
    sess = ort.InferenceSession(str(f), providers=["CPUExecutionProvider"])
    want = torch.from_numpy(sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0])
    with torch.no_grad():
        assert _close(want, m(x))
