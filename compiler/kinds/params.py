"""Layer parameters: one pydantic model per layer kind, validated when a spec is resolved.

Out-of-range and ill-typed values become spec errors at the argument's span
(``conv: stride must be at least 1 (got 0)``).
"""
from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: what ``act=`` accepts: ``auto``, ``none`` and every activation kind (netc.kinds.act)
Activation = Literal["auto", "none", "relu", "relu6", "hardswish", "hardsigmoid", "gelu", "silu", "sigmoid",
                     "tanh", "leaky_relu", "elu"]


class Params(BaseModel):
    # defer_build: a model's validator is built when a spec first uses its kind, not at import
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


def _pair(v: Any) -> tuple[int, int]:
    if type(v) is int:          # the common case, asked several times per layer
        return v, v
    if isinstance(v, (list, tuple)):
        if len(v) != 2:
            raise ValueError("give one number or a pair [h, w]")
        return int(v[0]), int(v[1])
    return int(v), int(v)


IntOrPair = Union[int, tuple[int, int]]


def _positive_pair(v: Any, name: str) -> IntOrPair:
    if isinstance(v, (list, tuple)):
        h, w = _pair(v)
        if h < 1 or w < 1:
            raise ValueError(f"{name} must be at least 1")
        return (h, w) if h != w else h
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{name} must be a whole number")
    if v < 1:
        raise ValueError(f"{name} must be at least 1")
    return v


def _padding(v: Any, same: bool):
    """A padding: a whole number >= 0, a pair [h, w] of them, or (convolutions) 'same'."""
    if same and v == "same":
        return v
    vals = list(v) if isinstance(v, (list, tuple)) else [v]
    if len(vals) not in (1, 2) or any(isinstance(x, bool) or not isinstance(x, int) for x in vals):
        raise ValueError("pad must be a whole number or a pair [h, w]" + (" or 'same'" if same else ""))
    if any(x < 0 for x in vals):
        raise ValueError("pad must be at least 0")
    return vals[0] if len(vals) == 1 or vals[0] == vals[1] else tuple(vals)


class ConvParams(Params):
    out: int = Field(ge=1, description="output channels")
    k: IntOrPair = Field(3, description="kernel size (or [h, w])")
    stride: IntOrPair = 1
    pad: Union[Literal["same"], int, tuple[int, int]] = "same"
    dilation: IntOrPair = 1
    groups: int = Field(1, ge=1)
    bias: bool = True
    padding_mode: Literal["zeros", "reflect", "replicate", "circular"] = "zeros"
    act: Activation = "auto"
    bn: Union[bool, Literal["frozen"]] = Field(
        False, description="true: a batch norm after the convolution (it takes the activation); "
                           "frozen: a frozen batch norm (torchvision's FrozenBatchNorm2d)")
    bn_eps: float = Field(1e-5, gt=0)
    bn_momentum: float = Field(0.1, ge=0, le=1)

    @field_validator("bn", mode="before")
    @classmethod
    def _bn(cls, v):
        if isinstance(v, bool) or v == "frozen":
            return v
        if type(v) is int and v in (0, 1):
            return bool(v)
        raise ValueError("bn must be true, false or frozen")

    @field_validator("k", "stride", "dilation", mode="before")
    @classmethod
    def _pos(cls, v, info):
        return _positive_pair(v, info.field_name)

    @field_validator("pad", mode="before")
    @classmethod
    def _pad(cls, v):
        return _padding(v, same=True)

    @model_validator(mode="after")
    def _groups(self):
        if self.out % self.groups:
            raise ValueError(f"out ({self.out}) must be divisible by groups ({self.groups})")
        return self

    def kernel(self) -> tuple[int, int]:
        return _pair(self.k)

    def strides(self) -> tuple[int, int]:
        return _pair(self.stride)

    def dilations(self) -> tuple[int, int]:
        return _pair(self.dilation)

    def padding(self) -> tuple[int, int]:
        if self.pad == "same":
            return self.same_padding()
        return _pair(self.pad)

    def same_padding(self) -> tuple[int, int] | None:
        """What ``pad=same`` means for this kernel, stride and dilation (None where nothing does)."""
        pads = tuple(same_pad(k, s, d) for k, s, d in zip(self.kernel(), self.strides(), self.dilations()))
        return None if None in pads else pads

    @model_validator(mode="after")
    def _same(self):
        if self.pad == "same" and not (_odd(self.k) and self.dilation == 1) and self.same_padding() is None:
            k = "x".join(str(x) for x in dict.fromkeys(self.kernel())) if len(set(self.kernel())) == 1 \
                else "x".join(map(str, self.kernel()))
            s = "/".join(str(x) for x in dict.fromkeys(self.strides()))
            raise ValueError(f"an even kernel ({k}) with stride {s} cannot keep the size with the same padding on "
                             f"both sides; give the padding: pad=0, pad=1, ... (or pad=[h, w])")
        return self


def _odd(k) -> bool:
    """An odd kernel (or pair of them): its same padding always exists (checked once per conv)."""
    return k % 2 == 1 if isinstance(k, int) else all(x % 2 == 1 for x in k)


def same_pad(k: int, s: int, d: int = 1) -> int | None:
    """``same`` padding along one axis: the symmetric padding that gives H/s outputs (H a multiple of s).
    An odd (effective) kernel e = d*(k-1)+1 pads (e-1)/2, as always; an even one pads (e-s)/2, so that
    a patchify conv (conv4-96/4, conv16-768/16) and conv2-c/2 pad 0 and conv4-c/2 pads 1. An even
    kernel with e - s odd (conv4-64 at stride 1) has no symmetric same padding: None."""
    e = d * (k - 1) + 1
    if e % 2:
        return (e - 1) // 2
    if e <= s:
        return 0
    return (e - s) // 2 if (e - s) % 2 == 0 else None


class FCParams(Params):
    out: int = Field(ge=1, description="output features")
    bias: bool = True
    act: Activation = "auto"


class PoolParams(Params):
    k: IntOrPair = 2
    stride: Optional[IntOrPair] = None
    pad: IntOrPair = 0
    ceil: bool = False
    dilation: IntOrPair = 1
    count_include_pad: bool = True

    @field_validator("k", "dilation", mode="before")
    @classmethod
    def _pos(cls, v, info):
        return _positive_pair(v, info.field_name)

    @field_validator("stride", mode="before")
    @classmethod
    def _stride(cls, v):
        return None if v is None else _positive_pair(v, "stride")

    @field_validator("pad", mode="before")
    @classmethod
    def _pad(cls, v):
        return _padding(v, same=False)

    @model_validator(mode="after")
    def _pad_half(self):
        (kh, kw), (ph, pw) = _pair(self.k), _pair(self.pad)
        if ph > kh // 2 or pw > kw // 2:
            raise ValueError(f"pad ({self.pad}) must be at most half the window ({self.k})")
        return self

    def kernel(self) -> tuple[int, int]:
        return _pair(self.k)

    def strides(self) -> tuple[int, int]:
        return _pair(self.stride if self.stride is not None else self.k)

    def padding(self) -> tuple[int, int]:
        return _pair(self.pad)

    def dilations(self) -> tuple[int, int]:
        return _pair(self.dilation)


class LRNParams(Params):
    size: int = Field(5, ge=1)
    alpha: float = Field(1e-4, gt=0)
    beta: float = Field(0.75, gt=0)
    k: float = Field(2.0, ge=0)
    convention: Literal["paper", "torch", "caffe"] = "paper"
    region: Literal["across", "within"] = "across"

    def torch_alpha(self) -> float:
        """alpha in PyTorch's / Caffe's convention (the sum is divided by the window size).

        Krizhevsky et al. write ``k + alpha * sum(a^2)``; PyTorch and Caffe compute
        ``k + alpha/n * sum(a^2)``. So the paper's alpha=1e-4, n=5 is PyTorch's alpha=5e-4.
        """
        if self.convention != "paper":
            return self.alpha
        n = self.size if self.region == "across" else self.size * self.size
        return self.alpha * n


class BNParams(Params):
    eps: float = Field(1e-5, gt=0)
    momentum: float = Field(0.1, ge=0, le=1)
    affine: bool = True
    act: Activation = "none"


class DropoutParams(Params):
    p: float = Field(0.5, ge=0, lt=1)


class NoParams(Params):
    pass


SPP_MAX_LEVELS, SPP_MAX_BINS = 8, 64


class SPPParams(Params):
    levels: tuple[int, ...] = Field(min_length=1)
    mode: Literal["max", "avg"] = "max"

    @field_validator("levels", mode="before")
    @classmethod
    def _levels(cls, v):
        if isinstance(v, int):
            v = [v]
        if not isinstance(v, (list, tuple)) or not v:
            raise ValueError("give the pyramid levels, e.g. spp[6,3,2,1]")
        for n in v:
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError("each level is a whole number of bins per side, at least 1")
        if len(v) > SPP_MAX_LEVELS or max(v) > SPP_MAX_BINS:   # every level costs the ONNX export seconds
            raise ValueError(f"at most {SPP_MAX_LEVELS} levels of at most {SPP_MAX_BINS} bins per side "
                             "(the SPP-net paper uses spp[6,3,2,1])")
        return tuple(v)


class AdaptivePoolParams(Params):
    out: IntOrPair = 1

    @field_validator("out", mode="before")
    @classmethod
    def _pos(cls, v):
        return _positive_pair(v, "out")


class ActParams(Params):
    slope: float = 0.01
