"""The cyclic garbage collector, paused for one front-end call.

Checking a spec allocates many small objects that all live until the call returns (syntax tree,
items, IR nodes, types) and makes almost no reference cycles. With the collector running, each
collection of the older generations walks every one of them again: a fifth of the time of a
10,000-layer check (bench/bench_check.py). Reference counting still frees whatever is dropped
on the way; the collector is back as soon as the outermost call returns.
"""
from __future__ import annotations

import functools
import gc
from contextlib import contextmanager


@contextmanager
def paused():
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def gc_paused(fn):
    """Decorate a front-end call with :func:`paused`."""
    @functools.wraps(fn)
    def call(*args, **kwargs):
        with paused():
            return fn(*args, **kwargs)
    return call
