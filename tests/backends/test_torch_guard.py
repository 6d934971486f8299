"""The input guard of every compiled network: a tensor the network cannot take is netc's
InputError naming the expected input (and the spec line that declares it), in eager mode and in
TorchScript, never a RuntimeError from a matrix multiply deep inside the network.

Oracles: the spec's declared input (``input 224x224 RGB``), the IR's smallest input, and for a
correct input the output of the same graph without the guard."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import netc  # noqa: E402
from netc.backends.torch.guards import GUARD, GUARD_TRAIN, InputError, InputGuard  # noqa: E402

ALL = [(name, ir.config) for name in netc.bundled_names() for ir in netc.load_all(name) if not ir.input_spec.tokens]
#: the language models take token ids: their guard is a TokenGuard (test_language_models_are_guarded)
TOKENS = [(name, ir.config) for name in netc.bundled_names() for ir in netc.load_all(name) if ir.input_spec.tokens]

FIXED = "input 16x16 RGB\nconv3-4 as conv1\nmaxpool as pool1\nFC-5 as fc\n"


def meta(*shape):
    return torch.empty(*shape, device="meta")


@pytest.fixture(scope="module")
def vgg():
    return netc.compile("vgg:D", device="meta").eval()   # 138M parameters, nothing allocated


@pytest.mark.parametrize("shape,words", [
    ((2, 3, 256, 256), ["224x224 images (N, 3, 224, 224), not 256x256", "dense=True"]),
    ((2, 3, 225, 224), ["not 225x224"]),
    ((1, 1, 224, 224), ["3-channel images (N, 3, 224, 224), not images of 1 channel"]),
    ((3, 224, 224), ["batch of images (N, 3, 224, 224), not a tensor of shape (3, 224, 224)", "unsqueeze(0)"]),
    ((224, 224), ["batch of images (N, 3, 224, 224)"]),
])
def test_fixed_size_network_names_the_expected_input(vgg, shape, words):
    with pytest.raises(InputError) as e:
        vgg(meta(*shape))
    err = e.value
    assert isinstance(err, ValueError) and isinstance(err, netc.NetcError)
    text = str(err)
    assert all(w in text for w in words), text
    assert err.span.file.endswith("vgg.net") and "input 224x224 RGB" in text   # the spec line is quoted


def test_fixed_size_network_takes_its_size(vgg):
    assert vgg(meta(2, 3, 224, 224)).shape == (2, 1000)


def test_alexnet_wants_227():
    m = netc.compile("alexnet", device="meta").eval()
    with pytest.raises(InputError, match=r"227x227 images \(N, 3, 227, 227\), not 224x224"):
        m(meta(1, 3, 224, 224))
    assert m(meta(1, 3, 227, 227)).shape == (1, 1000)


def test_without_the_guard_torch_fails_deep_inside():
    """The oracle for "clear error": the same graph minus the guard gives torch's mat1/mat2 error,
    the guarded one names the input; a correct input gives the same output either way."""
    torch.manual_seed(0)
    m = netc.compile(netc.loads(FIXED, filename="fixed.net")).eval()
    bare = torch.fx.GraphModule(m, _without_guard(m.graph))
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(m(x), bare(x))
    with pytest.raises(RuntimeError, match="mat1 and mat2"):
        bare(torch.randn(2, 3, 20, 20))
    with pytest.raises(InputError, match="16x16 images") as e:
        m(torch.randn(2, 3, 20, 20))
    assert e.value.span.file == "fixed.net" and e.value.span.line == 1


def _without_guard(graph):
    import copy
    g = copy.deepcopy(graph)
    node = next(n for n in g.nodes if n.op == "call_module" and n.target == GUARD)
    node.replace_all_uses_with(node.args[0])
    g.erase_node(node)
    return g


@pytest.mark.parametrize("name,config", TOKENS, ids=[f"{n}:{c}" for n, c in TOKENS])
def test_language_models_are_guarded(name, config):
    """A language model checks that it gets a batch of token ids (N, L), integers, within its context."""
    from netc.backends.torch.guards import TokenGuard
    ir = netc.load(name, config)
    m = netc.compile(ir, device="meta").eval()
    assert isinstance(getattr(m, GUARD), TokenGuard) and f"self.{GUARD}(" in m.code
    with pytest.raises(netc.NetcError):
        m(torch.empty(1, 3, 8, 8, device="meta"))                   # an image is not token ids
    assert not any(k.startswith(GUARD) for k in m.state_dict())


@pytest.mark.parametrize("name,config", ALL, ids=[f"{n}:{c}" for n, c in ALL])
def test_every_network_is_guarded(name, config):
    ir = netc.load(name, config)
    m = netc.compile(ir, device="meta").eval()
    guard = getattr(m, GUARD)
    assert isinstance(guard, InputGuard) and f"self.{GUARD}(x)" in m.code
    assert guard.channels == ir.input_spec.channels
    if ir.any_size:
        assert guard.min_hw == tuple(ir.min_input) and guard.fixed_hw is None
    else:
        assert guard.fixed_hw == tuple(ir.input_shape[1:]) and guard.min_hw is None
    m.train()
    # the training graph too (side outputs), with a guard of its own where they need a larger input
    own = ir.any_size and tuple(ir.min_input_train) != tuple(ir.min_input)
    assert f"self.{GUARD_TRAIN if own else GUARD}(x)" in m.code
    if own:
        assert getattr(m, GUARD_TRAIN).min_hw == tuple(ir.min_input_train)
    assert not any(k.startswith(GUARD) for k in m.state_dict())


def test_scripted_network_checks_its_input_too():
    """TorchScript keeps the check: a ValueError with the eager error's message."""
    torch.manual_seed(0)
    m = netc.compile(netc.loads(FIXED)).eval()
    s = torch.jit.script(m)
    x = torch.randn(3, 3, 16, 16)
    assert torch.equal(s(x), m(x))
    for bad in (torch.randn(3, 3, 17, 16), torch.randn(3, 1, 16, 16), torch.randn(3, 16, 16)):
        with pytest.raises(InputError) as eager:
            m(bad)
        with pytest.raises(Exception) as scripted:   # torch.jit.Error, from the ValueError raised in script
            s(bad)
        assert eager.value.message in str(scripted.value)


def test_guard_is_left_out_of_traced_graphs():
    """jit.trace and torch.export record tensor operations only: no trace of the check."""
    m = netc.compile(netc.loads(FIXED)).eval()
    x = torch.randn(2, 3, 16, 16)
    traced = torch.jit.trace(m, x)
    assert torch.equal(traced(x), m(x))
    assert "aten::" not in traced.input_guard.graph.str()   # the guard's traced body is empty
    ep = torch.export.export(m, (x,))
    assert torch.equal(ep.module()(x), m(x))


def test_guard_overhead_is_negligible():
    """The check is a few integer comparisons: it reads the input's shape and runs no tensor
    operation, and makes the same few Python calls whatever the batch."""
    import sys
    from torch.overrides import TorchFunctionMode

    class Ops(TorchFunctionMode):
        def __init__(self):
            super().__init__()
            self.seen = []

        def __torch_function__(self, func, types, args=(), kwargs=None):
            self.seen.append(getattr(func, "__name__", str(func)))
            return func(*args, **(kwargs or {}))

    def calls(x) -> int:
        n = [0]

        def prof(frame, event, arg):
            n[0] += event in ("call", "c_call")
        sys.setprofile(prof)
        try:
            guard(x)
        finally:
            sys.setprofile(None)
        return n[0]

    guard = netc.compile(netc.loads(FIXED), device="meta").input_guard
    small, large = torch.empty(8, 3, 16, 16), torch.empty(512, 3, 16, 16)
    guard(small)
    with Ops() as ops:
        guard(small)
        guard(large)
    assert set(ops.seen) <= {"__get__"}, ops.seen        # x.shape, nothing computed on the tensor
    assert calls(small) == calls(large) <= 60


@pytest.mark.parametrize("mod", ["netc.backends.torch.guards", "netc.backends.torch.spp"])
def test_docstring_examples(mod):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(mod), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


# a global-pool network whose side output needs a larger input than its inference pass
# (Inception v3: 75x75 images, but its auxiliary head needs 299x299)
SIDE = """input HxW RGB
conv3-8 as c1
maxpool as p1
conv3-8 as c2
gap
FC-10
aux side on p1 weight 0.3 {
    maxpool4/4
    conv3-8(pad=0) as conv
    gap
    FC-10
}
"""


def test_inference_minimum_leaves_the_side_outputs_out(tmp_path, capsys):
    ir = netc.loads(SIDE)
    assert ir.min_input == (2, 2) and ir.min_input_layer == ("p1", "p1")
    assert ir.min_input_train == (24, 24) and ir.min_input_train_layer == ("side/conv", "side/conv")
    assert netc.loads(FIXED.replace("FC-5", "gap\nFC-5")).min_input_train == netc.loads(
        FIXED.replace("FC-5", "gap\nFC-5")).min_input   # no side outputs: the same
    torch.manual_seed(0)
    m = netc.compile(netc.loads(SIDE))
    assert m.eval()(torch.randn(1, 3, 2, 2)).shape == (1, 10)      # the heads do not run
    with pytest.raises(InputError, match="minimum of 24x24; below that 'side/conv'"):
        m.train()(torch.randn(2, 3, 23, 30))
    assert [tuple(o.shape) for o in m.train()(torch.randn(2, 3, 24, 24))] == [(2, 10), (2, 10)]
    s = torch.jit.script(netc.compile(netc.loads(SIDE)).eval())  # the check follows the graph that runs
    assert s(torch.randn(1, 3, 2, 2)).shape == (1, 10)
    f = tmp_path / "side.net"
    f.write_text(SIDE)
    from netc.tools.cli import main
    assert main(["check", str(f)]) == 0
    assert "any size >= 2x2 (24x24 in training: side outputs)" in capsys.readouterr().out
    assert main(["summary", str(f)]) == 0
    out = capsys.readouterr().out
    assert "accepts any input of at least 2x2 (limited by p1)" in out
    assert "training (side outputs) needs at least 24x24 (limited by side/conv)" in out
    assert main(["summary", "--json", str(f)]) == 0
    d = __import__("json").loads(capsys.readouterr().out)
    assert d["min_input"] == [2, 2] and d["min_input_train"] == [24, 24]
