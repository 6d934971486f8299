"""Typed values: the tensor type of every value in the IR.

A :class:`TensorType` is the tuple of its dimensions (so ``ir.node("conv1_1").shape ==
(64, 224, 224)`` reads as before) with a layout on top: a feature map ``C x H x W``, a token
sequence ``L x D``, or a vector ``F``. Backends dispatch on :attr:`TensorType.layout`, never on
``len(shape)``. Dimensions are ints or symbolic sizes (:class:`netc.types.dims.Sym`).
"""
from __future__ import annotations

from netc.types import dims

MAP, TOKENS, VECTOR, IDS = "map", "tokens", "vector", "ids"
LAYOUTS = {MAP: "feature map (C x H x W)", TOKENS: "token sequence (L x D)", VECTOR: "vector",
           IDS: "token ids (L)"}
_BY_RANK = {3: MAP, 2: TOKENS, 1: VECTOR}


class TensorType(tuple):
    """``TensorType((64, 56, 56))`` is a feature map; ``TensorType((197, 768), "tokens")``."""

    layout: str

    def __new__(cls, dims_=(), layout: str | None = None):
        self = super().__new__(cls, dims_)
        self.layout = layout or getattr(dims_, "layout", None) or _BY_RANK.get(len(self), VECTOR)
        return self

    def __reduce__(self):
        return (TensorType, (tuple(self), self.layout))

    def __repr__(self) -> str:
        return f"TensorType({tuple(self)!r}, {self.layout!r})"

    @property
    def channels(self):
        """C of a map, D of tokens, F of a vector: the features at one position."""
        return self[0] if self.layout == MAP else None if self.layout == IDS else self[-1]

    @property
    def fixed(self) -> bool:
        return dims.is_fixed(self)

    def __str__(self) -> str:
        return dims.fmt_shape(self)


def fmap(c, h, w) -> TensorType:
    return TensorType((c, h, w), MAP)


def tokens(length, d) -> TensorType:
    return TensorType((length, d), TOKENS)


def ids(length) -> TensorType:
    """A sequence of L token ids (``input tokens L``): what a language model's embedding reads."""
    return TensorType((length,), IDS)


def vector(f) -> TensorType:
    return TensorType((f,), VECTOR)


def typed(shape) -> TensorType | None:
    """A shape as a TensorType (a plain tuple takes the layout its rank implies)."""
    if shape is None or isinstance(shape, TensorType):
        return shape
    return TensorType(tuple(shape))


def layout_of(shape) -> str:
    return getattr(shape, "layout", None) or _BY_RANK.get(len(shape), VECTOR)
