"""Limits and registered kinds travel with the call: two callers cannot leak into each other."""
from __future__ import annotations

import threading

import pytest

import netc

TEXT = "input 32x32 RGB\nconv3-8 x50\nFC-10\n"


def test_limits_apply_to_one_call_only():
    with pytest.raises(netc.LimitError, match="more than 10 layers"):
        netc.loads(TEXT, limits={"max_layers": 10})
    assert len(netc.loads(TEXT).layers()) == 51 and netc.LIMITS["max_layers"] == 20_000
    assert [e.message for e in netc.check(TEXT, limits={"max_layers": 10})] == ["more than 10 layers"]
    assert netc.check(TEXT) == []


def test_limits_block_and_nesting():
    with netc.limits({"max_layers": 40}):
        assert netc.check(TEXT)
        with netc.limits({"max_repeat": 10}):
            msgs = [e.message for e in netc.check(TEXT)]
            assert any("repetition" in m for m in msgs)
        assert netc.check(TEXT) and netc.LIMITS["max_repeat"] == 10_000
    assert netc.check(TEXT) == []


def test_limits_of_one_thread_do_not_reach_another():
    seen = {}
    inside, release = threading.Event(), threading.Event()

    def tight():
        with netc.limits({"max_layers": 10}):
            inside.set()
            release.wait(10)
            seen["tight"] = netc.check(TEXT)

    t = threading.Thread(target=tight)
    t.start()
    inside.wait(10)
    seen["free"] = netc.check(TEXT)          # while the other thread holds its limits
    release.set()
    t.join(10)
    assert seen["free"] == [] and seen["tight"]


@pytest.mark.parametrize("bad", [{"max_layerz": 1}, {"max_layers": "x"}, {"max_layers": None}, [("max_layers", 1)]])
def test_bad_limits_are_usage_errors(bad):
    with pytest.raises(netc.UsageError):
        netc.loads(TEXT, limits=bad)


def test_front_end_calls_pause_the_collector_and_give_it_back(monkeypatch):
    """netc.check/load/loads run with the cyclic collector paused (a fifth of a large check's time)
    and leave it as they found it: on after a call, an error, or a nested call; off if the caller
    had turned it off."""
    import gc

    import netc.passes
    seen = []
    real = netc.passes.lower
    monkeypatch.setattr(netc.passes, "lower", lambda r: (seen.append(gc.isenabled()), real(r))[1])
    assert gc.isenabled()
    assert netc.check("input 8x8 RGB\nconv3-4\nFC-2\n") == []
    assert netc.loads("input 8x8 RGB\nFC-2\n").params == 8 * 8 * 3 * 2 + 2
    with pytest.raises(netc.NetcError):
        netc.loads("input 8x8 RGB\nconv3-4\nmaxpol\n")
    assert len(seen) >= 2 and not any(seen) and gc.isenabled()
    gc.disable()
    try:
        netc.check("input 8x8 RGB\nFC-2\n")
        assert not gc.isenabled()
    finally:
        gc.enable()
