"""Spatial sizes: exact integers for a fixed input, symbolic for a variable one.

Every convolution and pooling layer maps a size ``x`` to ``floor((x + q) / s)`` for integers
``q`` and ``s`` (ceil mode included), and nested floor divisions compose exactly:
``floor((floor((H + b) / c) + q) / s) == floor((H + b + q*c) / (c*s))``. So a symbolic size is
always ``Sym(name, b, c)`` meaning ``floor((name + b) / c)``, equality is exact, and the
smallest valid input follows from ``floor((H + b) / c) >= 1  <=>  H >= c - b``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class Sym:
    """``floor((name + b) / c)``: a size that depends on the input's height or width."""

    name: str
    b: int = 0
    c: int = 1

    def __str__(self) -> str:
        if self.c == 1:
            return self.name if self.b == 0 else f"{self.name}{self.b:+d}"
        if self.b == 0:
            return f"{self.name}/{self.c}"
        if self.b == self.c - 1:
            return f"ceil({self.name}/{self.c})"
        return f"({self.name}{self.b:+d})/{self.c}"

    @property
    def min_input(self) -> int:
        """The smallest input size for which this size is at least 1."""
        return self.c - self.b


Dim = Union[int, Sym]

#: the largest total stride a symbolic size may reach: beyond it no image could be large enough
MAX_STRIDE = 2 ** 64


class ShapeProblem(Exception):
    """Raised by a shape rule; the compiler turns it into a ShapeError with the layer's span."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message, self.hint = message, hint


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
    if x.c * s > MAX_STRIDE or abs(x.b + q * x.c) > MAX_STRIDE ** 2:
        raise ShapeProblem(f"the strides and windows up to here need an input of more than 2^64 pixels "
                           f"(total stride {x.c * s:.3g})", hint="check the strides, kernel sizes and padding")
    return Sym(x.name, x.b + q * x.c, x.c * s)


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
    return (size + x.b) // x.c
