"""The limits: one table of every bound netc enforces, with its default, read by every stage (the
parser, elaboration, the passes, the torch backend, the importers, the tools).

Each limit is checked before the work it bounds (no large allocation, no deep recursion first) and
refused with a :class:`~netc.dsl.errors.LimitError` that has a span. ``netc.LIMITS`` holds the
process's defaults; a call can bring its own (``netc.load(..., limits={...})``, ``with
netc.limits({...}):``), kept in a context variable so that one caller's limits never reach another's.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from contextvars import ContextVar

#: the largest whole number a spec, --set or an override may give (18 digits)
MAX_INT = 10 ** 18 - 1

#: limits for the call in progress (netc.load(..., limits={...}), netc.limits(...)): a context
#: variable, so that one caller's limits never reach another's, in threads and tasks alike
_CALL_LIMITS: ContextVar[dict | None] = ContextVar("netc_call_limits", default=None)


class _Limits(dict):
    """``netc.LIMITS``: the process's defaults, a dict whose values are checked when set, so that a
    wrong type is a usage error here (``LIMITS["max_layers"] = None``) and not a TypeError deep in a
    later call. Reading it gives the limits of the call in progress where the caller passed its own
    (:func:`call_limits`), else the defaults."""

    OFF_OK = {"max_params", "max_activation_bytes", "max_macs"}   # None switches these off

    def __getitem__(self, key):
        over = _CALL_LIMITS.get()
        if over is not None and key in over:
            return over[key]
        return super().__getitem__(key)

    def get(self, key, default=None):
        over = _CALL_LIMITS.get()
        if over is not None and key in over:
            return over[key]
        return super().get(key, default)

    def checked(self, key, value):
        """``value`` if it may stand for limit ``key`` (as assignment checks it); else a usage error."""
        if key not in self:
            from netc.dsl.errors import UsageError, did_you_mean
            raise UsageError(f"there is no limit {key!r}", hint=did_you_mean(key, self) or
                             "limits: " + ", ".join(sorted(self)))
        probe = _Limits({key: dict.__getitem__(self, key)})
        probe[key] = value
        return value

    def __setitem__(self, key, value):
        old = self.get(key)
        if key in self and value is None and key not in self.OFF_OK:
            raise _limit_error(key, value, "None switches off only " + ", ".join(sorted(self.OFF_OK)))
        if isinstance(old, bool) and not isinstance(value, bool):
            raise _limit_error(key, value, "give True or False")
        if isinstance(old, (int, float)) and not isinstance(old, bool) and value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0
                or not math.isfinite(value)):
            raise _limit_error(key, value, "give a number, at least 0")
        super().__setitem__(key, value)

    def update(self, *a, **kw):
        for k, v in dict(*a, **kw).items():
            self[k] = v


@contextmanager
def call_limits(overrides: dict | None):
    """Run the block under these limits (validated like ``netc.LIMITS[key] = value``), on top of
    the defaults and of any enclosing call's: ``with netc.limits({"max_layers": 100}): ...``."""
    if not overrides:
        yield
        return
    if not isinstance(overrides, dict):
        from netc.dsl.errors import UsageError
        raise UsageError(f"limits must be a dict such as {{'max_layers': 100}}, not {type(overrides).__name__}")
    merged = dict(_CALL_LIMITS.get() or {})
    merged.update({k: LIMITS.checked(k, v) for k, v in overrides.items()})
    token = _CALL_LIMITS.set(merged)
    try:
        yield
    finally:
        _CALL_LIMITS.reset(token)


def set_by_caller(key: str) -> bool:
    """Whether the call in progress brought its own value of limit ``key`` (``limits=``, a budget)."""
    over = _CALL_LIMITS.get()
    return over is not None and key in over


def _limit_error(key, value, hint):
    from netc.dsl.errors import UsageError
    return UsageError(f"netc.LIMITS[{key!r}] cannot be {value!r}", hint=hint)


LIMITS = _Limits({
    "max_file_bytes": 1_000_000,   # a spec larger than this is refused unread
    "max_nesting": 64,             # depth of nested { } and ( ) and [ ], counted before parsing
    "max_include_depth": 16,       # files including files including files ...; cycles are always refused
    "include_outside_tree": False,  # include may not leave the including file's directory tree
                                   # (CLI: netc --allow-include-outside; API: Program.load(allow_outside=True))
    "max_block_depth": 32,         # blocks calling blocks; a block calling itself is always refused
    "max_depth": 100,              # blocks and branches nested, once expanded (blocks x braces)
    "max_repeat": 10_000,          # the N of `x N`
    "max_layers": 20_000,          # layers in one configuration after blocks and repetition are expanded
    "max_params": 2_000_000_000,   # parameters of one configuration (None: no limit); netc.compile has budget=
    "max_activation_bytes": 16_000_000_000,  # every layer's output for one image, float32 (None: no limit)
    "max_macs": 10_000_000_000_000,          # multiply-adds of one image, side outputs included (None: no limit)
})
