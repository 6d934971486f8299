"""Arithmetic in arguments: ``c*4``, ``c/4`` (integer division of whole numbers), ``s == 1 and
cin == c``, and the few helpers papers use to round widths (``make_divisible(c * t, 8)``).

This is the whole of what a spec can compute: a fixed table of operators and helpers on numbers,
booleans and words. Nothing is evaluated by Python's ``eval``, nothing is imported or called
beyond this table, and results are bounded (:data:`MAX_ABS`).
"""
from __future__ import annotations

import math
import operator
import re

MAX_ABS = 10 ** 18          # larger results are refused: no layer needs them


class ExprError(Exception):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


def _num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _div(a, b):
    if b == 0:
        raise ExprError("division by zero")
    if isinstance(a, int) and isinstance(b, int):
        return a // b
    return a / b


def _mod(a, b):
    if b == 0:
        raise ExprError("modulo by zero")
    return a % b


_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": _div, "%": _mod}
_COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
            ">=": operator.ge}


def _show(x) -> str:
    return "true" if x is True else "false" if x is False else repr(x) if isinstance(x, str) else str(x)


def binary(op: str, a, b):
    if type(a).__name__ == "_BadValue" or type(b).__name__ == "_BadValue":
        return a if type(a).__name__ == "_BadValue" else b
    if op in ("and", "or"):
        if not isinstance(a, bool) or not isinstance(b, bool):
            raise ExprError(f"'{op}' needs true/false on both sides (got {_show(a)} and {_show(b)})")
        return (a and b) if op == "and" else (a or b)
    if op in _COMPARE:
        if _num(a) and _num(b) or type(a) is type(b):
            return _COMPARE[op](a, b)
        raise ExprError(f"cannot compare {_show(a)} with {_show(b)}")
    if not (_num(a) and _num(b)):
        bad = a if not _num(a) else b
        raise ExprError(f"'{op}' needs numbers, but {_show(bad)} is not a number or a declared variable",
                        hint="declare it: var NAME = VALUE, or pass it as a block parameter")
    out = _ARITH[op](a, b)
    return _bounded(out)


def _bounded(x):
    if isinstance(x, float):
        if not math.isfinite(x):
            raise ExprError(f"the result is not a finite number ({x})")
        if x.is_integer() and abs(x) < 2 ** 53:
            return x
    if abs(x) > MAX_ABS:
        raise ExprError(f"the result ({x:.3g}) is larger than any layer needs (limit {MAX_ABS:.0e})")
    return x


def negate(a):
    if not isinstance(a, bool):
        raise ExprError(f"'not' needs true or false (got {_show(a)})")
    return not a


def make_divisible(v, divisor=8, min_value=None):
    """The rounding MobileNet and EfficientNet use for widths: the nearest multiple of ``divisor``,
    never below ``min_value`` (default: ``divisor``) and never more than 10% below ``v``."""
    min_value = divisor if min_value is None else min_value
    new = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def _log(x, base=None):
    if x <= 0 or (base is not None and (base <= 0 or base == 1)):
        raise ExprError(f"log needs a positive number{' and a positive base other than 1' if base is not None else ''}"
                        f" (got {_show(x)}{'' if base is None else ', ' + _show(base)})")
    return math.log(x) if base is None else math.log(x, base)


def _pow(x, y):
    if abs(y) > 64 or (x == 0 and y < 0):
        raise ExprError(f"pow({_show(x)}, {_show(y)}) is out of range", hint="the exponent is at most 64 in size")
    return x ** y


def _sqrt(x):
    if x < 0:
        raise ExprError(f"sqrt needs a number that is not negative (got {_show(x)})")
    return math.sqrt(x)


def _round(x, ndigits=None):
    return round(x) if ndigits is None else round(x, ndigits)


HELPERS = {
    "make_divisible": (make_divisible, 1, 3, "make_divisible(v, divisor=8, min_value=divisor)"),
    "min": (min, 1, 16, "min(a, b, ...)"), "max": (max, 1, 16, "max(a, b, ...)"),
    "round": (_round, 1, 2, "round(x)"), "ceil": (math.ceil, 1, 1, "ceil(x)"), "floor": (math.floor, 1, 1, "floor(x)"),
    "int": (int, 1, 1, "int(x)"), "abs": (abs, 1, 1, "abs(x)"),
    "log": (_log, 1, 2, "log(x, base=e)"), "pow": (_pow, 2, 2, "pow(x, y)"), "sqrt": (_sqrt, 1, 1, "sqrt(x)"),
}


def call(name: str, args: list):
    if name not in HELPERS:
        from netc.dsl.errors import did_you_mean
        raise ExprError(f"unknown function '{name}'", did_you_mean(name, HELPERS) or
                        "functions: " + ", ".join(sorted(HELPERS)))
    fn, lo, hi, usage = HELPERS[name]
    if not lo <= len(args) <= hi:
        raise ExprError(f"{name} takes {lo}{'' if lo == hi else f' to {hi}'} argument{'s' * (hi > 1)}",
                        hint=usage)
    if any(type(a).__name__ == "_BadValue" for a in args):
        return next(a for a in args if type(a).__name__ == "_BadValue")
    if not all(_num(a) for a in args):
        raise ExprError(f"{name} needs numbers (got {', '.join(_show(a) for a in args)})", hint=usage)
    return _bounded(fn(*args))


_WORD_OP = re.compile(r"^([A-Za-z_]\w*|\d+)([-/])([A-Za-z_]\w*|\d+)$")


def word_arithmetic(word: str, env: dict):
    """``c/4`` and ``c-1`` lex as one word; where both sides are numbers or variables they are
    arithmetic, otherwise the word stays a word (``leaky_relu``, ``soft-max``)."""
    m = _WORD_OP.match(word)
    if not m:
        return word
    a, op, b = m.groups()
    vals = [int(x) if x.isdigit() else env.get(x) for x in (a, b)]
    if any(v is None or not _num(v) for v in vals):
        return word
    return binary(op, *vals)
