"""Input checks the compiled ``forward`` runs first, so that a tensor the network cannot take is a
clear :class:`InputError` naming what it expects, not a RuntimeError from deep inside a kernel:

- every network checks the rank (a batch of images, ``(N, C, H, W)``) and the channels;
- a network that needs the size its spec declares (``input 224x224 RGB`` followed by
  fully-connected layers: VGG, AlexNet, BVLC GoogLeNet) checks the height and width;
- a network that takes any size above a minimum (SPP, global pooling, dense evaluation) checks
  the minimum, and names the layer whose map would fall below 1 x 1.

The smallest input comes from the IR (``ir.min_input``, exact for the symbolic sizes of
:mod:`netc.types.dims`), so a spec with ``spp[...]`` says in ``netc check`` what the compiled model
enforces:

>>> import torch, netc
>>> from netc.backends.torch.guards import InputGuard
>>> ir = netc.loads("input HxW RGB\\nconv3-8\\nmaxpool4/4 as pool1\\nspp[2,1]\\nFC-10\\n")
>>> guard = InputGuard.from_ir(ir)
>>> guard(torch.zeros(1, 3, 4, 9)).shape
torch.Size([1, 3, 4, 9])
>>> guard(torch.zeros(1, 3, 3, 9))  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
netc.backends.torch.guards.InputError: ...the input is 3x9, smaller than this network's minimum of 4x4; below that 'pool1' ...

The check is a few integer comparisons (microseconds against milliseconds of convolutions). It
is part of a scripted module too (``torch.jit.script``; there it raises a ``ValueError`` with
the same message), and is left out of the graphs that ``torch.jit.trace``, ``torch.export``,
``torch.compile`` and ONNX export record, which hold tensor operations only.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from torch import nn

from netc.dsl.errors import NetcError, Span


class InputError(NetcError, ValueError):
    """A tensor (or a window) the compiled network cannot take. A ``ValueError`` too, so code that
    catches ``ValueError`` for bad arguments keeps working."""

    def __str__(self) -> str:
        if self.span.source is None:   # no spec line to quote: the message and the hint
            return self.message + (f"\nhint: {self.hint}" if self.hint else "")
        return super().__str__()


class InputGuard(nn.Module):
    """Checks rank, channels and the spatial size of the input (the exact size for a fixed-size
    network, the minimum for one that takes any size); returns the input unchanged.

    It has no parameters or buffers, so it never shows in ``state_dict()``."""

    def __init__(self, channels: int, min_hw: tuple[int, int] | None = None, layers: tuple[str, str] = ("", ""),
                 spans: tuple[Span | None, Span | None] = (None, None), fixed_hw: tuple[int, int] | None = None,
                 input_span: Span | None = None, size_hint: str = ""):
        super().__init__()
        self.channels, self.min_hw, self.layers, self.fixed_hw = channels, min_hw, layers, fixed_hw
        self.spans, self.input_span, self.size_hint = spans, input_span, size_hint

    @classmethod
    def from_ir(cls, ir, training: bool = False) -> "InputGuard":
        """The guard of the inference graph, or (``training``) of the training graph, which runs the
        side outputs too and may need a larger input (Inception v3's auxiliary head)."""
        c = ir.input_spec.channels
        input_span = ir.node("input").span if "input" in ir.g else None
        if not (ir.any_size and ir.min_input):
            hw = tuple(ir.input_shape[1:])
            fixed = (int(hw[0]), int(hw[1])) if all(isinstance(d, int) for d in hw) else None
            hint = ""
            if fixed is not None:
                hint = f"resize or crop the images to {fixed[0]}x{fixed[1]}"
                pos = next((n for n in ir.layers() if n.kind == "pos_embed"), None)
                if pos is not None:      # a ViT: the position embedding has one row per token of that size
                    hint += (f"; the position embedding ({pos.name}) fixes the resolution: to run at another "
                             f"size, interpolate it to the new grid (torchvision's interpolate_embeddings) and "
                             f"compile with that input size")
                elif any(n.layer_kind is not None and n.layer_kind.role == "fc" for n in ir.layers()):
                    hint += (f"; netc.compile(..., dense=True) (netc compile --dense) takes any size from "
                             f"{fixed[0]}x{fixed[1]} up")
            return cls(c, None, fixed_hw=fixed, input_span=input_span, size_hint=hint)
        smallest, layers = ir.min_input, ir.min_input_layer
        if training and ir.min_input_train:
            smallest, layers = ir.min_input_train, ir.min_input_train_layer
        layers = layers or ("", "")
        spans = tuple(ir.node(n).span if n in ir.g else None for n in layers)
        return cls(c, tuple(smallest), tuple(layers), spans, input_span=input_span)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.jit.is_scripting():   # TorchScript compiles this branch only (the rest is Python)
            message, hint, axis = input_problem(x.shape, self.channels, self.min_hw, self.fixed_hw, self.layers,
                                                self.size_hint)
            if message != "":
                raise ValueError(message + "\nhint: " + hint if hint != "" else message)
            return x
        if _tracing():
            return x
        check_input(x, self.channels, self.min_hw, self.layers, self.spans, self.fixed_hw,
                    self.input_span, self.size_hint)
        return x

    def extra_repr(self) -> str:
        if self.fixed_hw is not None:
            return f"channels={self.channels}, fixed_hw={self.fixed_hw}"
        return f"channels={self.channels}, min_hw={self.min_hw}"


@torch.jit.unused
def _tracing() -> bool:
    """Whether a tracer (jit.trace, dynamo, torch.export, ONNX) is recording: the check is skipped."""
    try:
        if torch.jit.is_tracing() or torch.compiler.is_compiling() or getattr(torch.compiler, "is_exporting", bool)():
            return True
        return bool(getattr(torch.onnx, "is_in_onnx_export", lambda: False)())
    except Exception:   # pragma: no cover - older torch
        return False


def _shape_str(shape: List[int]) -> str:
    return "(" + ", ".join([str(d) for d in shape]) + ")"


def input_problem(shape: List[int], channels: int, min_hw: Optional[Tuple[int, int]],
                  fixed_hw: Optional[Tuple[int, int]], layers: Tuple[str, str] = ("", ""),
                  size_hint: str = "") -> Tuple[str, str, int]:
    """What is wrong with an input of ``shape``: ``(message, hint, axis)``, ``message`` empty when
    nothing is; ``axis`` is 0 or 1 when the input is below the minimum on that axis, else -1.
    Plain integer code, so that TorchScript compiles it too."""
    if fixed_hw is not None:
        want = "(N, " + str(channels) + ", " + str(fixed_hw[0]) + ", " + str(fixed_hw[1]) + ")"
    else:
        want = "(N, " + str(channels) + ", H, W)"
    if len(shape) != 4:
        hint = "add a batch dimension with x.unsqueeze(0)" if len(shape) == 3 else ""
        return ("the network takes a batch of images " + want + ", not a tensor of shape " + _shape_str(shape),
                hint, -1)
    if shape[1] != channels:
        got = str(shape[1]) + (" channel" if shape[1] == 1 else " channels")
        return ("the network takes " + str(channels) + "-channel images " + want + ", not images of " + got
                + " (input shape " + _shape_str(shape) + ")", "", -1)
    h, w = shape[2], shape[3]
    if fixed_hw is not None:
        if h != fixed_hw[0] or w != fixed_hw[1]:
            return ("the network takes " + str(fixed_hw[0]) + "x" + str(fixed_hw[1]) + " images " + want
                    + ", not " + str(h) + "x" + str(w) + " (input shape " + _shape_str(shape) + ")", size_hint, -1)
        return ("", "", -1)
    if min_hw is None:
        return ("", "", -1)
    mh, mw = min_hw[0], min_hw[1]
    if h >= mh and w >= mw:
        return ("", "", -1)
    axis = 0 if h < mh else 1
    layer = layers[axis]
    where = "; below that '" + layer + "' would give a map smaller than 1x1" if layer != "" and layer != "input" else ""
    return ("the input is " + str(h) + "x" + str(w) + ", smaller than this network's minimum of " + str(mh) + "x"
            + str(mw) + where, "resize or pad the images to at least " + str(mh) + "x" + str(mw), axis)


def check_input(x, channels: int, min_hw=None, layers=("", ""), spans=(None, None), fixed_hw=None,
                input_span: Span | None = None, size_hint: str = "") -> None:
    """Raise :class:`InputError` unless ``x`` is an (N, C, H, W) tensor of ``channels`` channels
    with H x W equal to ``fixed_hw`` (when given) or at least ``min_hw``."""
    if not isinstance(x, torch.Tensor):
        raise InputError(f"the network takes a tensor of images, not {type(x).__name__}")
    message, hint, axis = input_problem(x.shape, channels, min_hw, fixed_hw, layers, size_hint)
    if message:
        raise InputError(message, spans[axis] if axis >= 0 else input_span, hint=hint or None)


class TokenGuard(nn.Module):
    """A language model's input check (``input tokens L``): a batch of token ids ``(N, L)``, integers,
    at most ``max_len`` long where a learned position table bounds the context. No tensors."""

    def __init__(self, max_len: Optional[int] = None, input_span: Span | None = None):
        super().__init__()
        self.max_len, self.input_span = max_len, input_span

    @classmethod
    def from_ir(cls, ir) -> "TokenGuard":
        bounds = [n.params.max for n in ir.layers() if n.kind == "learned_pos"]
        return cls(min(bounds) if bounds else None, ir.node("input").span if "input" in ir.g else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.jit.is_scripting() or _tracing():
            return x
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.dtype.is_floating_point or x.dtype == torch.bool:
            what = f"a tensor of shape {_shape_str(list(x.shape))} ({x.dtype})" if isinstance(x, torch.Tensor) \
                else type(x).__name__
            raise InputError(f"the network takes a batch of token ids (N, L) of an integer type, not {what}",
                             self.input_span, hint="add a batch dimension with ids.unsqueeze(0)"
                             if isinstance(x, torch.Tensor) and x.dim() == 1 else None)
        if self.max_len is not None and x.shape[1] > self.max_len:
            raise InputError(f"the network takes at most {self.max_len} tokens (its position table), not "
                             f"{x.shape[1]}", self.input_span)
        return x

    def extra_repr(self) -> str:
        return f"tokens, max_len={self.max_len}"


GUARD = "input_guard"   # submodule name; it holds no tensors, so state_dict() is unchanged
GUARD_TRAIN = "input_guard_train"   # the training graph's, where its side outputs need a larger input


def install(root: nn.Module, ir, graphs) -> bool:
    """Add the guard as the first call of each forward graph (``x = self.input_guard(x)``); the
    graphs are (training, inference). The training graph gets a guard of its own where its side
    outputs need a larger input than the inference pass, so the check follows the graph that runs
    (a scripted module included). Returns whether it was installed (not when the root already has one)."""
    if GUARD in root._modules:
        return False
    tokens = getattr(ir.input_spec, "tokens", False)
    root.add_module(GUARD, TokenGuard.from_ir(ir) if tokens else InputGuard.from_ir(ir))
    own_train = not tokens and bool(ir.min_input_train) and tuple(ir.min_input_train) != tuple(ir.min_input or ())
    if own_train:
        root.add_module(GUARD_TRAIN, InputGuard.from_ir(ir, training=True))
    done: set[int] = set()
    for i, g in enumerate(graphs):
        if id(g) in done:
            continue
        done.add(id(g))
        x = next(n for n in g.nodes if n.op == "placeholder")
        with g.inserting_after(x):
            checked = g.create_node("call_module", GUARD_TRAIN if own_train and i == 0 else GUARD, (x,),
                                    name="x_checked")
        x.replace_all_uses_with(checked, delete_user_cb=lambda user: user is not checked)
        g.lint()
    return True


__all__ = ["InputError", "InputGuard", "TokenGuard", "input_problem", "check_input", "install", "GUARD", "GUARD_TRAIN"]
