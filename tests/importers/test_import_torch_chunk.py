"""from_torch reads a split of the channels however torch code writes it: x.chunk(k, 1),
torch.chunk, torch.split(x, s or [sizes], 1), x.split(...), indexed or unpacked (an unused part
reads nothing). Oracle: the module's own parameter count and outputs after load_weights."""
import pytest
import torch
from torch import nn

import netc


class Unit(nn.Module):          # torchvision's ShuffleNetV2 unit, stride 1: x1, x2 = x.chunk(2, dim=1)
    def __init__(self):
        super().__init__()
        self.c, self.b = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(4, 4, 1)

    def forward(self, x):
        x = torch.relu(self.c(x))
        x1, x2 = x.chunk(2, dim=1)
        return torch.cat((x1, self.b(x2)), 1)


class Sizes(nn.Module):         # uneven parts, one unused, and an indexed chunk
    def __init__(self):
        super().__init__()
        self.c, self.b = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(5, 4, 1)

    def forward(self, x):
        y = torch.relu(self.c(x))
        a, b = torch.split(y, [3, 5], 1)
        return self.b(b) + torch.chunk(y, 2, 1)[1]


class Method(nn.Module):        # x.split(size) with a remainder part
    def __init__(self):
        super().__init__()
        self.c, self.b = nn.Conv2d(3, 7, 3, padding=1), nn.Conv2d(3, 3, 1)

    def forward(self, x):
        y = self.c(x)
        p = y.split(3, 1)
        return torch.cat((self.b(p[0]), p[1], p[2]), 1)


@pytest.mark.parametrize("cls, words", [(Unit, ["split(2)"]), (Sizes, ["chunk([3, 5], 1)", "chunk(2, 1)"]),
                                        (Method, ["split([3, 3, 1])"])])
def test_chunks_and_splits_import_exactly(cls, words):
    torch.manual_seed(0)
    src = cls().eval()
    x = torch.randn(2, 3, 10, 12)
    text = netc.from_torch(src, x)
    assert all(w in text for w in words), text
    ir = netc.loads(text)
    assert ir.params == sum(p.numel() for p in src.parameters())
    m = netc.compile(ir).eval()
    netc.load_weights(m, src)
    with torch.no_grad():
        torch.testing.assert_close(m(x), src(x))


def test_a_split_of_another_dimension_is_a_located_refusal():
    class Rows(nn.Module):
        def forward(self, x):
            return x.chunk(2, dim=2)[0]
    with pytest.raises(netc.NetcError, match="netc's chunk cuts the channels"):
        netc.from_torch(Rows(), torch.randn(1, 3, 8, 8))
