"""Every registered layer kind, built-in or custom, is complete and counts what torch computes.

Walks the registry (timm's habit: a new kind is tested without editing the tests): each kind must
have every facet, and a fixture row (tests/kinds/fixtures.txt) whose analytic output type,
(a row may be a chain, `patch4-8 -> cls-token`, for kinds that take tokens; its last layer is the kind)
parameters and multiply-adds are checked against the compiled torch module: its output on a real
input, its parameter count, and multiply-adds counted by forward hooks.
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest

import netc
from netc.kinds import FAMILIES, ROLES, Registry
from netc.visualize import palette

FIXTURES = Path(__file__).resolve().parent / "fixtures.txt"


def _rows():
    for line in FIXTURES.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            word, inp, out, params, macs = (x.strip() for x in line.split(";"))
            shape = ("tokens", int(inp.split()[1])) if inp.startswith("tokens ") else \
                tuple(int(x) for x in inp.split("x"))     # `tokens 6`: six token ids (language models)
            yield word, shape, tuple(int(x) for x in out.split("x")), int(params), int(macs)


ROWS = list(_rows())


def _registry() -> Registry:
    """The default kinds plus a sample custom kind, in a registry of the test's own."""
    torch = pytest.importorskip("torch")
    from torch import nn

    class SE(nn.Module):
        def __init__(self, c, reduction):
            super().__init__()
            self.a, self.b = nn.Conv2d(c, c // reduction, 1), nn.Conv2d(c // reduction, c, 1)

        def forward(self, x):
            return x * torch.sigmoid(self.b(torch.relu(self.a(x.mean((2, 3), keepdim=True)))))

    reg = netc.registry()
    netc.register_layer("se", SE, params={"reduction": 16}, registry=reg)
    return reg


def _spec(word: str, inp: tuple) -> str:
    body = word
    if inp[0] == "tokens":
        return f"input tokens {inp[1]}\n{body}\n"
    c, h, w = inp
    if "{" in word:
        head, _, rest = word.partition("{")
        body = head + " {\n" + "\n".join("    " + b for b in rest.rstrip("}").split(" & ")) + "\n}"
    return f"input {h}x{w} {c}ch\n{body}\n"


def _kind_of(word: str, reg: Registry):
    if "{" not in word:      # a chain (`patch4-8 -> cls-token`: tokens made first): its last layer's kind
        word = word.split("->")[-1].strip()
    head = word.split("{")[0].split("(")[0].split("[")[0]
    return reg.join(head) or (reg.lookup_word(word.split("(")[0]) or reg.lookup_word(head))[0]


def test_every_kind_has_a_fixture_row():
    reg = _registry()
    covered = {_kind_of(w, reg).kind for w, *_ in ROWS}
    missing = [k.kind for k in reg if k.kind not in covered and k.kind != "input"]
    assert not missing, f"kinds without a row in {FIXTURES.name}: {missing}"


@pytest.mark.parametrize("name", sorted(netc.registry().kinds) + ["se"])
def test_kind_has_every_facet(name):
    reg = _registry()
    k = reg[name]
    assert k.kind == name and (k.words or name == "input")
    assert k.family in FAMILIES and k.family in palette.FAMILY_STYLES, f"{name}: no diagram colour"
    assert k.role in ROLES
    assert k.doc, f"{name}: no doc line for the README's reference"
    assert k.Params is not None and issubclass(k.Params, netc.kinds.params.Params)
    lowers = type(k).lower is not netc.kinds.Kind.lower or type(k).module is not netc.kinds.Kind.module \
        or getattr(k, "torch_module", None) is not None or name == "input"
    assert lowers, f"{name}: no torch lowering"


@pytest.mark.parametrize("word,inp,out,params,macs", ROWS, ids=[r[0] for r in ROWS])
def test_kind_counts_match_torch(word, inp, out, params, macs):
    torch = pytest.importorskip("torch")
    from netc.backends.torch.counting import count_macs
    reg = _registry()
    ir = netc.loads(_spec(word, inp), registry=reg)
    assert tuple(ir.output_shape) == out and (ir.params, ir.macs) == (params, macs)
    m = netc.compile(ir).eval()
    x = torch.randint(0, 16, (2, inp[1])) if inp[0] == "tokens" else torch.randn(2, *inp)
    with torch.no_grad():
        y = m(x)
    assert tuple(y.shape[1:]) == out
    assert sum(p.numel() for p in m.parameters()) == params
    assert count_macs(m, x) // 2 * 2 == count_macs(m, x) and count_macs(m, x[:1]) == macs
    assert math.isfinite(float(y.abs().sum()))
