"""Spatial sizes: exact integers for a fixed input, symbolic for a variable one.

Convolution and pooling map a size ``x`` to ``floor((x + q) / s)`` (ceil mode included);
upsampling multiplies it; a crop subtracts. A symbolic size is a :class:`Sym`, meaning
``m * floor((X + b) / c) + a`` where ``X`` is the input's height or width (``name``) or, after
an upsampling that a later stride does not divide, an inner :class:`Sym`. Nested floor
divisions compose exactly (``floor((floor((H + b) / c) + q) / s) == floor((H + b + q*c) / (c*s))``)
and so does a stride dividing a multiplier, so the common forms stay one stage: ``H/16``,
``ceil(H/2)``, ``(H-4)/2``, ``2*(H/16)``.

Every such size is ``slope * X + p(X)`` with ``p`` periodic, its period the product of the
stages' divisors, and non-decreasing in ``X``. Two sizes are equal for every input exactly when
their slopes agree and their values agree over one period (:func:`same`), and the smallest valid
input is found by bisection (:attr:`Sym.min_input`).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Optional, Union

#: the largest total stride a symbolic size may reach: beyond it no image could be large enough
MAX_STRIDE = 2 ** 64
_PERIOD_CAP = 1 << 14      # periods longer than this are compared structurally only


@dataclass(frozen=True)
class Sym:
    """``m * floor((X + b) / c) + a``, X being the input size ``name`` or the ``inner`` size."""

    name: str
    b: int = 0
    c: int = 1
    m: int = 1
    a: int = 0
    inner: Optional["Sym"] = None

    def __str__(self) -> str:
        x = self.name if self.inner is None else f"({self.inner})"
        if self.c == 1:
            core = x if self.b == 0 else f"{x}{self.b:+d}"
        elif self.b == 0:
            core = f"{x}/{self.c}"
        elif self.b == self.c - 1:
            core = f"ceil({x}/{self.c})"
        else:
            core = f"({x}{self.b:+d})/{self.c}"
        if self.m != 1:
            core = f"{self.m}*{core}" if core.isidentifier() else f"{self.m}*({core})"
        return core if self.a == 0 else f"{core}{self.a:+d}"

    # ------------------------------------------------------------ values
    def at(self, x: int) -> int:
        v = x if self.inner is None else self.inner.at(x)
        return self.m * ((v + self.b) // self.c) + self.a

    @property
    def slope(self) -> Fraction:
        inner = Fraction(1) if self.inner is None else self.inner.slope
        return inner * self.m / self.c

    @property
    def period(self) -> int:
        return self.c * (1 if self.inner is None else self.inner.period)

    @property
    def min_input(self) -> int:
        """The smallest input size for which this size is at least 1."""
        if self.inner is None and self.m == 1 and self.a == 0:
            return self.c - self.b
        lo, hi = 1, 1
        while self.at(hi) < 1:
            hi *= 2
            if hi > MAX_STRIDE * 4:
                return hi
        while lo < hi:
            mid = (lo + hi) // 2
            if self.at(mid) >= 1:
                hi = mid
            else:
                lo = mid + 1
        return lo


@dataclass(frozen=True)
class Prod:
    """A product of symbolic sizes plus a constant: the number of tokens of an ``H x W`` map,
    ``(H/16)*(W/16)+1`` for a ViT with its class token. Compared structurally; never fixed."""

    factors: tuple
    a: int = 0

    def __str__(self) -> str:
        core = "*".join(f"({f})" if not str(f).isidentifier() else str(f) for f in self.factors)
        return core if self.a == 0 else f"{core}{self.a:+d}"

    def at(self, x: int) -> int:
        out = 1
        for f in self.factors:
            out *= f if isinstance(f, int) else f.at(x)
        return out + self.a


@dataclass(frozen=True)
class Total:
    """A sum of token counts that may be symbolic: the anchors of a detector's three levels,
    ``(H/8)*(W/8)+(H/16)*(W/16)+(H/32)*(W/32)``. Compared structurally; never fixed."""

    terms: tuple

    def __str__(self) -> str:
        return "+".join(str(t) for t in self.terms)

    def at(self, x: int) -> int:
        return sum(t if isinstance(t, int) else t.at(x) for t in self.terms)


Dim = Union[int, Sym, Prod, Total]


def product(*factors: "Dim") -> "Dim":
    """``h * w`` for sizes that may be symbolic (the tokens of a feature map)."""
    if all(isinstance(f, int) for f in factors):
        out = 1
        for f in factors:
            out *= f
        return out
    return Prod(tuple(factors))


def total(terms: list) -> "Dim":
    """The sum of lengths that may be symbolic (sequences concatenated one after another)."""
    if all(isinstance(t, int) for t in terms):
        return sum(terms)
    return Total(tuple(terms))


def plus(x: "Dim", k: int) -> "Dim":
    """``x + k`` for a length that may be a product (a class token added to the patches)."""
    if isinstance(x, int):
        return x + k
    if isinstance(x, Prod):
        return Prod(x.factors, x.a + k)
    return shift(x, k)


class ShapeProblem(Exception):
    """Raised by a shape rule; the compiler turns it into a ShapeError with the layer's span."""

    def __init__(self, message: str, hint: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message, self.hint = message, hint
        self.field = field      # the parameter at fault, where one is: the error points at its value


def _floordiv(x: Sym, q: int, s: int) -> Sym:
    """``floor((x + q) / s)`` for a symbolic ``x``, kept in as few stages as possible."""
    if q == 0 and s == 1 and (x.m != 1 or x.a == 0):
        return x            # what either form below gives: x itself (a size-keeping conv or pool)
    if x.m == 1:
        return Sym(x.name, x.b + (x.a + q) * x.c, x.c * s, 1, 0, x.inner)
    if x.m % s == 0:
        return Sym(x.name, x.b, x.c, x.m // s, (x.a + q) // s, x.inner)
    return Sym(x.name, q, s, 1, 0, x)


def window(x: Dim, k: int, s: int, p: int = 0, d: int = 1, ceil: bool = False) -> Dim:
    """Output size of a convolution or pooling window (PyTorch's formula, ceil mode included)."""
    span = d * (k - 1) + 1
    if isinstance(x, int):
        num = x + 2 * p - span
        if ceil:
            out = -(-num // s) + 1
            if (out - 1) * s >= x + p:   # PyTorch: the last window must start inside the input
                out -= 1
            return out
        return num // s + 1
    q = 2 * p - span + s + (s - 1 if ceil else 0)
    if x.period * s > MAX_STRIDE or abs(x.b + q * x.c) > MAX_STRIDE ** 2:
        raise ShapeProblem(f"the strides and windows up to here need an input of more than 2^64 pixels "
                           f"(total stride {x.period * s:.3g})", hint="check the strides, kernel sizes and padding")
    return _floordiv(x, q, s)


def scale(x: Dim, f: int) -> Dim:
    """``f * x``: nearest or bilinear upsampling by an integer factor, a stride-f transposed conv."""
    if isinstance(x, int):
        return x * f
    return Sym(x.name, x.b, x.c, x.m * f, x.a * f, x.inner)


def shift(x: Dim, k: int) -> Dim:
    """``x + k`` (a crop by ``-k``, a transposed convolution's ``+ k``)."""
    if isinstance(x, int):
        return x + k
    return Sym(x.name, x.b, x.c, x.m, x.a + k, x.inner)


def same(x: Dim, y: Dim) -> bool:
    """Whether two sizes are equal for every input size (exact; see the module's note)."""
    if x == y:
        return True
    if isinstance(x, (int, Prod, Total)) or isinstance(y, (int, Prod, Total)) or x.name != y.name or x.slope != y.slope:
        return False
    n = max(x.period, y.period)
    if n > _PERIOD_CAP:
        return False
    start = max(x.min_input, y.min_input)
    return all(x.at(v) == y.at(v) for v in range(start, start + n))


def at_most(x: Dim, y: Dim) -> bool | None:
    """Whether ``x <= y`` for every input size: True, False, or None when it depends on the input."""
    if isinstance(x, int) and isinstance(y, int):
        return x <= y
    if x == y:
        return True
    if isinstance(x, (int, Prod, Total)) or isinstance(y, (int, Prod, Total)) or x.name != y.name:
        return None
    if x.slope != y.slope:
        return None
    n = max(x.period, y.period)
    if n > _PERIOD_CAP:
        return None
    start = max(x.min_input, y.min_input)
    diffs = {y.at(v) - x.at(v) for v in range(start, start + n)}
    if min(diffs) >= 0:
        return True
    return False if max(diffs) < 0 else None


def fmt(x: Dim) -> str:
    return str(x)


def is_fixed(shape) -> bool:
    return all(isinstance(d, int) for d in shape)


def fmt_shape(shape) -> str:
    """``64x56x56``; with symbolic sizes spaced for reading: ``512 x H/16 x W/16``."""
    if shape is None:
        return "?"
    return ("x" if is_fixed(shape) else " x ").join(fmt(d) for d in shape)


def at(x: Dim, size: int) -> int:
    """Evaluate a size at a concrete input size."""
    if isinstance(x, int):
        return x
    return x.at(size)
