"""The one JSON writer of every ``--json`` output (``summary``, ``diff``, ``list``) and of the playground's
summaries: every value netc computes becomes plain JSON.

- a :class:`~fractions.Fraction` (a receptive field's stride after an upsampling, ``4/3``) is a number:
  an integer when whole, otherwise the nearest float (``1.3333333333333333``);
- a symbolic size (:class:`netc.types.dims.Sym`, for an ``input HxW`` spec) is its text, as the tables
  write it (``"H/16"``, ``"ceil(H/2)"``);
- tuples and sets are lists, mapping keys strings, a float that is not finite ``null`` (JSON has no
  infinity), and anything else its ``str``.

>>> from fractions import Fraction
>>> dumps({"rf": (5, Fraction(4, 3)), "whole": Fraction(4, 2)}, indent=None)
'{"rf": [5, 1.3333333333333333], "whole": 2}'
"""
from __future__ import annotations

import json
import math
from fractions import Fraction
from numbers import Integral, Real


def plain(v):
    """``v`` with every value replaced by one that :func:`json.dumps` writes (see the module docstring)."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, Integral):
        return int(v)
    if isinstance(v, Fraction):
        return int(v) if v.denominator == 1 else float(v)
    if isinstance(v, float) or isinstance(v, Real):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, dict):
        return {str(k) if not isinstance(k, str) else k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, (set, frozenset)):
        return sorted((plain(x) for x in v), key=repr)
    return str(v)


def dumps(obj, indent: int | None = 2) -> str:
    """``obj`` as JSON text (strict: no NaN or infinity ever appears)."""
    return json.dumps(plain(obj), indent=indent, allow_nan=False)
