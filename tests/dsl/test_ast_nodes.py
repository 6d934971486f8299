"""The syntax tree's node classes share one ``==`` and one ``repr`` (netc.dsl.ast.node) instead of
a generated pair each: they must behave as ``@dataclass``'s would, which is the oracle here."""
from __future__ import annotations

import dataclasses
import inspect

import pytest

from netc.dsl import ast

NODES = [c for _, c in inspect.getmembers(ast, inspect.isclass)
         if c.__module__ == ast.__name__ and dataclasses.is_dataclass(c)]


def _reference(cls):
    """The same fields, as a plain @dataclass."""
    return dataclasses.make_dataclass(cls.__name__, [(f.name, f.type, f) for f in dataclasses.fields(cls)])


def test_every_node_is_made_by_node():
    assert len(NODES) >= 30
    assert all(c.__eq__ is ast.Number.__eq__ and c.__repr__ is ast.Number.__repr__ for c in NODES)


@pytest.mark.parametrize("cls", NODES, ids=lambda c: c.__name__)
def test_equality_and_repr_are_a_dataclasses(cls):
    ref = _reference(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    base = {n: [i] for i, n in enumerate(names)}            # distinct, comparable values
    nan = float("nan")
    for changed in [None, *names]:
        other = {n: ([99] if n == changed else v) for n, v in base.items()}
        a, b = cls(**base), cls(**other)
        ra, rb = ref(**base), ref(**other)
        assert (a == b) == (ra == rb) and (a != b) == (ra != rb), changed
        assert repr(a) == repr(ra)
    same = {n: nan for n in names}                          # one NaN object: equal, as in a dataclass's tuples
    assert (cls(**same) == cls(**same)) == (ref(**same) == ref(**same))
    assert cls(**base) != ref(**base) and cls(**base).__eq__(object()) is NotImplemented
    with pytest.raises(TypeError):
        hash(cls(**base))
