"""Property tests and fuzzing.

- Generated valid specs (tests/strategies.py) check clean, with unique names and totals equal to
  the sum over nodes; compiled with torch, every layer's output shape and the parameter count
  equal the IR's.
- Mutated specs: netc.check returns diagnostics or raises NetcError, netc fmt is idempotent on
  whatever parses; nothing else (no other exception, no hang). A few hundred here; 10,000 in the
  slow test and in bench/fuzz.py.
- Every input that ever failed (tests/regressions/) is replayed.
"""
from __future__ import annotations

import importlib.util
import random

import pytest
from work import front_end_work  # noqa: E402
from hypothesis import HealthCheck, given, settings

import netc

from conftest import ROOT
from strategies import mutate, outcome, seed_texts, specs

REGRESSIONS = sorted((ROOT / "tests" / "regressions").glob("*.net"))


# ------------------------------------------------------------------ regressions
@pytest.mark.parametrize("path", REGRESSIONS, ids=lambda p: p.name)
def test_regression_inputs_do_not_crash(path, monkeypatch):
    """Each input behaves, and within the work the limits allow: layer statements elaborated and
    node shapes inferred (twice: the declared size and a symbolic one) at most max_layers (and a
    little) each, and naming linear (one look-up or two per name)."""
    text = path.read_bytes().decode("utf-8", "surrogatepass")
    outcome("input 8x8 RGB\nrelu\n")                     # the first check loads the parser's tables
    seen = front_end_work(monkeypatch)
    assert outcome(text) is None
    most = netc.LIMITS["max_layers"] + 10
    assert seen["layers"] <= most and seen["nodes"] <= 2 * most and seen["names"] <= 2 * most, seen


def test_regressions_corpus_is_kept():
    assert len(REGRESSIONS) >= 4


# ------------------------------------------------------------------ mutation
def _fuzz(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    seeds = seed_texts()
    crashes = []
    for _ in range(n):
        text = mutate(rng.choice(seeds), rng)
        bad = outcome(text)
        if bad:
            crashes.append(f"{bad}\n--- input ---\n{text[:2000]}")
    return crashes


@pytest.mark.slow   # 28 s; the robust check runs 400 mutated specs on every change
def test_mutated_specs_never_crash():
    crashes = _fuzz(400, seed=1409)
    assert not crashes, f"{len(crashes)} crashes; first:\n{crashes[0]}"


@pytest.mark.slow
def test_ten_thousand_mutated_specs_never_crash():
    crashes = _fuzz(10_000, seed=20141104)
    assert not crashes, f"{len(crashes)} crashes; first:\n{crashes[0]}"


def test_mutations_reach_every_stage():
    """The mutator is not toothless: it yields syntax errors, semantic errors and valid specs."""
    rng = random.Random(7)
    seeds = seed_texts()
    kinds = set()
    for _ in range(150):
        try:
            errs = netc.check(mutate(rng.choice(seeds), rng), "fuzz.net")
            kinds.add("valid" if not errs else type(errs[0]).__name__)
        except netc.NetcError as e:
            kinds.add(type(e).__name__)
    assert {"valid", "SpecSyntaxError", "SpecError"} <= kinds


# ------------------------------------------------------------------ generated valid specs: IR invariants
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_generated_specs_check_and_count(gen):
    assert netc.check(gen.text, "gen.net") == []
    prog = netc.Program.from_text(gen.text, "gen.net")
    assert prog.own_configs() == gen.configs
    for name in gen.configs:
        ir = netc.build_config(prog, name)
        names = [n.name for n in ir.nodes()]
        assert len(names) == len(set(names))
        assert ir.params == sum(n.n_params for n in ir.nodes())
        assert ir.macs == sum(n.macs for n in ir.nodes())
        assert ir.output_shape == (ir.vars["num_classes"],)
        for n in ir.layers():
            assert n.shape is not None and all(d >= 1 for d in n.shape), n.name


# ------------------------------------------------------------------ generated valid specs: torch agrees
HAVE_TORCH_BACKEND = importlib.util.find_spec("netc.backends.torch") is not None


@pytest.mark.skipif(not HAVE_TORCH_BACKEND, reason="netc.backends.torch is not written yet")
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_generated_specs_compile_to_the_same_shapes_and_counts(gen):
    import torch
    from netc.backends.torch.codegen import target
    for name in gen.configs:
        ir = netc.build_config(netc.Program.from_text(gen.text, "gen.net"), name)
        model = netc.compile(ir).eval()
        assert sum(p.numel() for p in model.parameters()) == ir.params
        seen = {}
        hooks = []
        for n in ir.layers():
            try:
                m = model.get_submodule(target(n.name))
            except AttributeError:
                continue
            hooks.append(m.register_forward_hook(lambda mod, i, o, n=n: seen.__setitem__(n.name, tuple(o.shape))))
        with torch.no_grad():
            y = model(torch.randn(2, *ir.input_shape))
        for h in hooks:
            h.remove()
        assert tuple(y.shape) == (2, *ir.output_shape)
        assert seen, "no layer had a submodule to hook"
        for layer, shape in seen.items():
            assert shape == (2, *ir.node(layer).shape), layer
