"""Counting work instead of timing it: tests catch a regression to quadratic or exponential cost by
the calls a check makes, never by the clock (speed lives in bench/)."""
from __future__ import annotations

import sys
from collections import Counter


def calls_made(fn) -> tuple[object, int, int]:
    """(fn(), Python calls it made, deepest nesting of those calls). Check something first: the
    first check in a process loads the parser and the layer kinds."""
    st = {"calls": 0, "depth": 0, "deepest": 0}

    def prof(frame, event, arg):
        if event == "call":
            st["calls"] += 1
            st["depth"] += 1
            st["deepest"] = max(st["deepest"], st["depth"])
        elif event == "return":
            st["depth"] -= 1
    sys.setprofile(prof)
    try:
        out = fn()
    finally:
        sys.setprofile(None)
    return out, st["calls"], st["deepest"]


def count_calls(monkeypatch, targets: dict) -> Counter:
    """Calls of each ``owner.name`` in ``targets`` (key -> (owner, name)) while the test runs, by key."""
    seen: Counter = Counter()
    for key, (owner, name) in targets.items():
        real = getattr(owner, name)

        def counted(*a, _real=real, _key=key, **k):
            seen[_key] += 1
            return _real(*a, **k)
        monkeypatch.setattr(owner, name, counted, raising=False)
    return seen


def front_end_work(monkeypatch) -> Counter:
    """The front end's units of work: layer statements elaborated ("layers"), node shapes inferred
    ("nodes") and name look-ups ("names")."""
    from netc.elaborate import naming, resolve
    from netc.passes import shapes
    return count_calls(monkeypatch, {"layers": (resolve._Resolver, "_layer"), "nodes": (shapes, "_infer_node"),
                                     "names": (naming._Used, "__contains__")})
