"""`same` padding for even kernels. It used to be d*(k-1)//2 for every kernel, so a patchify conv
(ConvNeXt's conv4-96/4, ViT's conv16-768/16) padded 1 and 7 without a word: the output size is the
same as with pad 0 (56x56, 14x14), so no count showed it, but every patch was shifted by a pixel
and the border was zeros. Now an even kernel pads (e - s)/2, which gives H/s as an odd kernel does,
and an even kernel that cannot keep the size symmetrically (stride 1) asks for its padding."""
from __future__ import annotations

import pytest

import netc
from netc.kinds.params import ConvParams, same_pad


@pytest.mark.parametrize("k,s,d,pad", [
    (3, 1, 1, 1), (7, 2, 1, 3), (1, 2, 1, 0), (3, 1, 2, 2), (11, 4, 1, 5),   # odd kernels: unchanged
    (4, 4, 1, 0), (16, 16, 1, 0), (2, 2, 1, 0), (4, 2, 1, 1), (6, 2, 1, 2),   # even: (k - s) / 2
    (2, 4, 1, 0), (2, 3, 1, 0),                                                # even, smaller than the stride
    (2, 2, 2, 1),                                                              # dilation 2: effective 3
    (4, 1, 1, None), (2, 1, 1, None), (4, 3, 1, None),                         # no symmetric same padding
])
def test_same_pad(k, s, d, pad):
    assert same_pad(k, s, d) == pad


@pytest.mark.parametrize("k,s", [(4, 4), (16, 16), (2, 2), (4, 2), (8, 4), (3, 2), (1, 2)])
def test_same_gives_h_over_s(k, s):
    for h in (s * 7, s * 8):
        p = ConvParams(out=1, k=k, stride=s).padding()[0]
        assert (h + 2 * p - k) // s + 1 == h // s


def test_patchify_stem_pads_nothing():
    ir = netc.loads("input 224x224 RGB\nconv4-96/4 as stem\nconv16-8/2\ngap\nFC-10\n")
    assert ir.node("stem").params.padding() == (0, 0)
    torch = pytest.importorskip("torch")
    m = netc.compile(ir)
    assert m.stem.padding == (0, 0)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        ref = torch.nn.functional.conv2d(x, m.stem.weight, m.stem.bias, stride=4)
        assert torch.equal(m.stem(x), ref)


def test_even_kernel_at_stride_1_asks_for_its_padding():
    errs = netc.check("input 32x32 RGB\nconv4-8\ngap\nFC-10\n", "x.net")
    assert len(errs) == 1 and errs[0].span.line == 2
    assert "even kernel (4) with stride 1" in str(errs[0]) and "pad=" in str(errs[0])
    ir = netc.loads("input 32x32 RGB\nconv4-8(pad=1)\nconv4-8(pad=2)\ngap\nFC-10\n")
    assert [ir.node(n).shape for n in ("conv1_1", "conv1_2")] == [(8, 31, 31), (8, 32, 32)]


def test_a_pad_equal_to_same_is_same_in_a_diff():
    from netc.kinds import DEFAULT
    KINDS = DEFAULT.kinds
    conv = KINDS["conv"]
    assert conv.canonical(ConvParams(out=8, k=4, stride=4, pad=0))["pad"] == "same"
    assert conv.canonical(ConvParams(out=8, k=4, stride=4, pad=1))["pad"] == 1
