"""SPP-net window pooling: features once per image, any number of windows pooled from them.

Oracles: ``forward`` on the whole image (a whole-image box must give the same scores), the SPP
module applied to the cropped map with the appendix's box mapping written out here in the
paper's own 1-based form, and brute-force maxima/means over map rectangles."""
from __future__ import annotations

import importlib.util
import math

import pytest

import netc

if importlib.util.find_spec("torch") is None:
    pytest.skip("torch is not installed (pip install netc[torch])", allow_module_level=True)

import torch  # noqa: E402

from netc.backends.torch.spp import SPP  # noqa: E402
from netc.backends.torch.windows import WindowError, pool_windows  # noqa: E402
from test_spp import THIN_ZF5  # noqa: E402

S = 16   # ZF-5's total stride: conv1 /2, pool1 /2, conv2 /2, pool2 /2


@pytest.fixture(scope="module")
def zf5():
    torch.manual_seed(0)
    return netc.compile("sppnet:ZF-5").eval()


@pytest.fixture(scope="module")
def thin():
    torch.manual_seed(1)
    return netc.compile(netc.loads(THIN_ZF5)).eval()


def paper_window(box, stride, map_hw):
    """The appendix mapping in the paper's 1-based coordinates: left/top floor(x/S) + 1,
    right/bottom ceil(x/S) - 1 (inclusive), cut to the map; returned 0-based, end exclusive."""
    x1, y1, x2, y2 = (v + 1 for v in box)           # pixels 1-based
    mh, mw = map_hw

    def side(lo, hi, m):
        a, b = math.floor(lo / stride) + 1, math.ceil(hi / stride) - 1
        a, b = min(max(a, 1), m), min(b, m)
        b = max(b, a)
        return a - 1, b
    (ya, yb), (xa, xb) = side(y1, y2, mh), side(x1, x2, mw)
    return ya, yb, xa, xb


def head(model, pooled):
    """The layers after SPP, run by hand (eval: dropout is the identity)."""
    x = torch.relu(model.fc6(pooled))
    x = torch.relu(model.fc7(x))
    return model.fc8(x)


# ---------------------------------------------------------------- equal to forward
@pytest.mark.parametrize("h,w", [(224, 224), (257, 391)])
def test_whole_image_window_equals_forward(zf5, h, w):
    x = torch.randn(1, 3, h, w)
    with torch.no_grad():
        fmap = zf5.feature_map(x)
        out = zf5.classify_windows(fmap, torch.tensor([[0, 0, w - 1, h - 1]], dtype=torch.float32))
        whole = zf5(x)
    assert fmap.shape[1] == 256
    assert out.shape == (1, 1000)
    assert (out - whole).abs().max() < 1e-4


def test_windows_equal_spp_of_the_cropped_map(thin):
    torch.manual_seed(2)
    h, w = 200, 311
    x = torch.randn(1, 3, h, w)
    g = torch.Generator().manual_seed(3)
    x1 = torch.randint(0, w, (60,), generator=g)
    y1 = torch.randint(0, h, (60,), generator=g)
    x2 = torch.minimum(x1 + torch.randint(0, w, (60,), generator=g), torch.tensor(w - 1))
    y2 = torch.minimum(y1 + torch.randint(0, h, (60,), generator=g), torch.tensor(h - 1))
    boxes = torch.stack([x1, y1, x2, y2], 1).float()
    with torch.no_grad():
        fmap = thin.feature_map(x)
        got = thin.classify_windows(fmap, boxes)
        want = []
        for box in boxes.tolist():
            ya, yb, xa, xb = paper_window(box, S, fmap.shape[2:])
            want.append(thin.fc6(thin.spp5(fmap[:, :, ya:yb, xa:xb])))
    assert got.shape == (60, 7)
    assert torch.allclose(got, torch.cat(want), atol=1e-6)


def test_a_batch_of_images_with_indexed_boxes(thin):
    x = torch.randn(2, 3, 96, 128)
    boxes = torch.tensor([[0, 0, 0, 127, 95], [1, 0, 0, 127, 95], [1, 10, 20, 60, 90], [0, 10, 20, 60, 90]],
                         dtype=torch.float32)
    with torch.no_grad():
        got = thin.classify_windows(thin.feature_map(x), boxes)
        one = [thin.classify_windows(thin.feature_map(x[i:i + 1]), boxes[k:k + 1, 1:])
               for k, i in enumerate(boxes[:, 0].long().tolist())]
        whole = thin(x)
    assert torch.allclose(got, torch.cat(one), atol=1e-6)
    assert torch.allclose(got[:2], whole, atol=1e-5)


def test_duplicate_windows_give_identical_rows(thin):
    x = torch.randn(1, 3, 128, 128)
    boxes = torch.tensor([[5, 5, 100, 90], [6, 6, 101, 91], [5, 5, 100, 90]], dtype=torch.float32)
    with torch.no_grad():
        out = thin.classify_windows(thin.feature_map(x), boxes)
    assert torch.equal(out[0], out[2])


# ---------------------------------------------------------------- vectorised
def test_windows_are_pooled_and_classified_in_one_batch(zf5):
    calls = {"conv1": 0, "spp5": 0, "fc6": []}
    hooks = [zf5.conv1.register_forward_hook(lambda m, i, o: calls.__setitem__("conv1", calls["conv1"] + 1)),
             zf5.spp5.register_forward_hook(lambda m, i, o: calls.__setitem__("spp5", calls["spp5"] + 1)),
             zf5.fc6.register_forward_hook(lambda m, i, o: calls["fc6"].append(i[0].shape[0]))]
    g = torch.Generator().manual_seed(0)
    xy = torch.randint(0, 100, (200, 2), generator=g)
    wh = torch.randint(0, 120, (200, 2), generator=g)
    boxes = torch.cat([xy, xy + wh], 1).float()
    try:
        with torch.no_grad():
            fmap = zf5.feature_map(torch.randn(1, 3, 224, 224))
            out = zf5.classify_windows(fmap, boxes)
    finally:
        for h in hooks:
            h.remove()
    assert out.shape == (200, 1000)
    assert calls["conv1"] == 1 and calls["spp5"] == 0      # the convolutions once, no per-window SPP
    assert len(calls["fc6"]) == 1 and calls["fc6"][0] <= 200   # one batch (identical windows once)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("h,w", [(1, 1), (1, 9), (7, 3), (13, 13), (22, 30)])
def test_pool_windows_equals_brute_force(mode, h, w):
    torch.manual_seed(h * w)
    fmap = torch.randn(2, 6, h, w)
    n = 40
    y0 = torch.randint(0, h, (n,))
    y1 = torch.minimum(y0 + torch.randint(1, h + 1, (n,)), torch.tensor(h))
    x0 = torch.randint(0, w, (n,))
    x1 = torch.minimum(x0 + torch.randint(1, w + 1, (n,)), torch.tensor(w))
    img = torch.randint(0, 2, (n,))
    got = pool_windows(fmap, img, torch.stack([y0, y1, x0, x1], 1), (6, 3, 2, 1), mode)
    spp = SPP((6, 3, 2, 1), mode)
    want = torch.cat([spp(fmap[i:i + 1, :, a:b, c:d]) for i, a, b, c, d in
                      zip(img.tolist(), y0.tolist(), y1.tolist(), x0.tolist(), x1.tolist())])
    assert torch.allclose(got, want, atol=1e-6)
    if mode == "max":
        assert torch.equal(got, want)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("box,words", [
    ([0, 0, 224, 100], "leaves the 224x224 image"),
    ([-1, 0, 50, 50], "leaves the 224x224 image"),
    ([0, 0, 50, 300], "leaves the 224x224 image"),
    ([60, 10, 50, 40], "is empty"),
    ([10, 40, 50, 39], "is empty"),
    ([float("nan"), 0, 10, 10], "not finite"),
])
def test_bad_boxes_are_errors(zf5, box, words):
    with torch.no_grad():
        fmap = zf5.feature_map(torch.randn(1, 3, 224, 224))
        boxes = torch.tensor([[0, 0, 10, 10], box], dtype=torch.float32)
        with pytest.raises(WindowError) as e:
            zf5.classify_windows(fmap, boxes)
    assert isinstance(e.value, ValueError)
    assert words in e.value.message and e.value.message.startswith("box 1 (")


def test_bad_box_tensors_and_maps(thin):
    with torch.no_grad():
        fmap = thin.feature_map(torch.randn(1, 3, 64, 64))
        two = thin.feature_map(torch.randn(2, 3, 64, 64))
        with pytest.raises(WindowError, match=r"\(N, 4\)"):
            thin.classify_windows(fmap, torch.zeros(3, 3))
        with pytest.raises(WindowError, match="holds 2 images"):
            thin.classify_windows(two, torch.tensor([[0., 0, 5, 5]]))
        with pytest.raises(WindowError, match="image index outside 0..1"):
            thin.classify_windows(two, torch.tensor([[2., 0, 0, 5, 5]]))
        with pytest.raises(WindowError, match="gives a"):
            thin.classify_windows(fmap, torch.tensor([[0., 0, 5, 5]]), image_size=(200, 200))
        with pytest.raises(WindowError, match="feature_map"):
            thin.classify_windows(fmap[0], torch.tensor([[0., 0, 5, 5]]))


def test_image_size_without_the_attribute(thin):
    """A map that lost its remembered image size (e.g. after .clone()) needs the size passed: boxes
    are never checked against a guess."""
    with torch.no_grad():
        fmap = thin.feature_map(torch.randn(1, 3, 64, 64))
        plain = fmap.clone()
        assert not hasattr(plain, "netc_image_size")
        a = thin.classify_windows(plain, torch.tensor([[0., 0, 63, 63]]), image_size=(64, 64))
        b = thin.classify_windows(fmap, torch.tensor([[0., 0, 63, 63]]))
        assert torch.equal(a, b)
        with pytest.raises(WindowError, match="does not say which image size") as e:
            thin.classify_windows(plain, torch.tensor([[0., 0, 20, 20]]))
        assert "image_size=(H, W)" in e.value.hint
        with pytest.raises(WindowError, match="leaves"):
            thin.classify_windows(plain, torch.tensor([[0., 0, 200, 63]]), image_size=(64, 64))


SAME_PADDED = ["input HxW RGB\nconv3-8/2\nmaxpool\nspp[2,1]\nFC-5\n",
               "input HxW RGB\nconv3-8\nmaxpool\nconv3-8\nmaxpool\nspp[4,2,1]\nFC-5\n"]


@pytest.mark.parametrize("spec", SAME_PADDED, ids=["stride2", "vgg-like"])
@pytest.mark.parametrize("h,w", [(48, 64), (63, 77), (16, 16)])
def test_whole_image_window_equals_forward_when_convolutions_keep_the_borders(spec, h, w):
    """'Same' padding keeps a map column for the image's last pixels; the appendix's formula alone
    would leave it out of a whole-image window."""
    torch.manual_seed(3)
    m = netc.compile(netc.loads(spec)).eval()
    x = torch.randn(2, 3, h, w)
    with torch.no_grad():
        fmap = m.feature_map(x)
        boxes = torch.tensor([[0., 0, 0, w - 1, h - 1], [1., 0, 0, w - 1, h - 1]])
        assert torch.allclose(m.classify_windows(fmap, boxes), m(x), atol=1e-6)


def test_images_instead_of_the_feature_map():
    m = netc.compile(netc.loads(SAME_PADDED[0])).eval()
    with pytest.raises(WindowError, match="takes a feature map of 8 channels"):
        m.classify_windows(torch.randn(1, 3, 64, 64), torch.tensor([[0., 0, 5, 5]]))


def test_a_fractional_image_index_is_named(thin):
    with torch.no_grad():
        two = thin.feature_map(torch.randn(2, 3, 64, 64))
    with pytest.raises(WindowError, match=r"box 0 \(0.5, 0, 0, 5, 5\) has an image index that is not a whole"):
        thin.classify_windows(two, torch.tensor([[0.5, 0, 0, 5, 5]]))


def test_network_without_spp_has_no_windows():
    model = netc.compile(netc.loads("input 32x32 RGB\nconv3-4\nmaxpool\nFC-5\n")).eval()
    with torch.no_grad():
        fmap = model.feature_map(torch.randn(1, 3, 32, 32))
        assert fmap.shape == (1, 4, 16, 16)
        with pytest.raises(WindowError, match="spatial pyramid pooling"):
            model.classify_windows(fmap, torch.tensor([[0., 0, 5, 5]]))


def test_feature_map_is_guarded(zf5):
    with pytest.raises(ValueError, match="31x31"):
        zf5.feature_map(torch.randn(1, 3, 20, 224))


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_gradients_through_window_pooling_equal_spp_of_crops(mode):
    """SPP-net fine-tunes on pooled windows: the gradient reaching the map is the same as
    through SPP applied to each cropped window."""
    torch.manual_seed(5)
    fmap = torch.randn(2, 4, 11, 14, requires_grad=True)
    wins = torch.tensor([[0, 11, 0, 14], [2, 9, 3, 4], [5, 6, 0, 14], [1, 8, 7, 13]])
    img = torch.tensor([0, 1, 1, 0])
    weight = torch.randn(4, 4 * 50)
    (pool_windows(fmap, img, wins, (6, 3, 2, 1), mode) * weight).sum().backward()
    got, fmap.grad = fmap.grad.clone(), None
    spp = SPP((6, 3, 2, 1), mode)
    want = torch.cat([spp(fmap[i:i + 1, :, a:b, c:d]) for i, (a, b, c, d) in zip(img.tolist(), wins.tolist())])
    (want * weight).sum().backward()
    assert torch.allclose(got, fmap.grad, atol=1e-5)


def test_classify_windows_with_autograd_on(thin):
    x = torch.randn(1, 3, 64, 64)
    fmap = thin.feature_map(x)
    out = thin.classify_windows(fmap, torch.tensor([[0., 0, 63, 63], [4., 4, 40, 50]]))
    out.sum().backward()
    assert thin.fc6.weight.grad is not None and thin.conv1.weight.grad is not None
    thin.zero_grad()
