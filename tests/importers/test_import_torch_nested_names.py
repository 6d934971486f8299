"""from_torch of a module whose blocks repeat with nested scopes of their own, in timm's DLA layout
(dla34 without timm): a tree holds trees, each with a ``root`` that has its own ``conv`` and
``bn``; a root concatenates the tree's outputs with outputs of earlier layers (``x1`` is read by
``tree2`` and by the concat, the level's max-pooled input by the projection and by the concat).

The printed spec reads back (names valid, unique, no '/' inside a name, no layer written twice),
with the module's parameter count and, after load_weights, its outputs."""
from __future__ import annotations

import re

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import netc  # noqa: E402


class Basic(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x, shortcut=None):
        shortcut = x if shortcut is None else shortcut
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


class Root(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, xs):
        return self.relu(self.bn(self.conv(torch.cat(xs, 1))))


class Tree(nn.Module):
    def __init__(self, levels, cin, cout, stride=1, level_root=False, root_dim=0):
        super().__init__()
        root_dim = root_dim or 2 * cout
        if level_root:
            root_dim += cin
        if levels == 1:
            self.tree1 = Basic(cin, cout, stride)
            self.tree2 = Basic(cout, cout)
            self.root = Root(root_dim, cout)
        else:
            self.tree1 = Tree(levels - 1, cin, cout, stride, root_dim=0)
            self.tree2 = Tree(levels - 1, cout, cout, root_dim=root_dim + cout)
        self.level_root, self.levels = level_root, levels
        self.downsample = nn.MaxPool2d(stride, stride) if stride > 1 else nn.Identity()
        self.project = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout)) \
            if cin != cout and levels == 1 else nn.Identity()

    def forward(self, x, skip=None, children=None):     # skip: unused, as in timm
        children = [] if children is None else children
        bottom = self.downsample(x)
        shortcut = self.project(bottom)
        if self.level_root:
            children.append(bottom)
        x1 = self.tree1(x, shortcut)
        if self.levels == 1:
            x2 = self.tree2(x1)
            return self.root([x2, x1] + children)
        children.append(x1)
        return self.tree2(x1, None, children)


class MiniDLA(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.base_layer = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        self.level2 = Tree(1, 8, 16, 2, level_root=False)
        self.level3 = Tree(2, 16, 32, 2, level_root=True)
        self.level4 = Tree(2, 32, 32, 2, level_root=True)
        self.level5 = Tree(1, 32, 64, 2, level_root=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(64, classes, 1)

    def forward(self, x):
        x = self.base_layer(x)
        x = self.level5(self.level4(self.level3(self.level2(x))))
        return self.fc(self.pool(x)).flatten(1)


def _randomise(m):
    torch.manual_seed(0)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 1.5)
    return m.eval()


def test_nested_dla_tree_reads_back_with_the_module_counts_and_outputs():
    src = _randomise(MiniDLA())
    x = torch.randn(2, 3, 32, 32)
    text = netc.from_torch(src, x)
    ir = netc.loads(text)
    assert ir.params == sum(p.numel() for p in src.parameters())
    names = re.findall(r"\bas ([^\s{}]+)", text)
    assert not [n for n in names if "/" in n], text
    # the instances of one scope have names of their own (a call's name is written once per scope)
    top = [line for line in text.splitlines() if not line.startswith(" ") and " as " in line]
    called = [line.rsplit(" as ", 1)[1].strip() for line in top if re.match(r"^\w+\(", line)]
    assert len(called) == len(set(called)), called
    m = netc.compile(ir).eval()
    netc.load_weights(m, src)
    with torch.no_grad():
        a, b = src(x), m(x)
    assert (a - b).abs().max() <= 1e-4 * a.abs().max()


def test_a_branch_shared_by_two_joins_is_written_once():
    """``concat(tree2(x1), x1, bottom)``, x1 = tree1(x, project(bottom)), bottom = maxpool(x): x1's
    layers and the max-pool are written once, the concat's other branches read them with ``from``
    (the walk back through dominators from the concat to x wrote them in each branch)."""
    src = _randomise(Tree(1, 8, 16, 2, level_root=True))
    x = torch.randn(1, 8, 8, 8)
    text = netc.from_torch(src, x)
    ir = netc.loads(text)
    assert ir.params == sum(p.numel() for p in src.parameters())
    assert "from " in text
    m = netc.compile(ir).eval()
    netc.load_weights(m, src)
    with torch.no_grad():
        a, b = src(x), m(x)
    assert (a - b).abs().max() <= 1e-4 * a.abs().max()
