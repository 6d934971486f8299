"""Input checks the compiled ``forward`` runs first: an image smaller than the smallest one the
network accepts is a clear error naming the layer whose map would fall below 1 x 1, not a
RuntimeError from deep inside a pooling kernel.

The smallest input comes from the IR (``ir.min_input``, exact for the symbolic sizes of
:mod:`netc.dims`), so a spec with ``spp[...]`` says in ``netc check`` what the compiled model
enforces:

>>> import torch, netc
>>> from netc.torch_backend.guards import InputGuard
>>> guard = InputGuard.from_ir(netc.loads("input HxW RGB\\nconv3-8\\nmaxpool4/4 as pool1\\nspp[2,1]\\nFC-10\\n"))
>>> guard(torch.zeros(1, 3, 4, 9)).shape
torch.Size([1, 3, 4, 9])
>>> guard(torch.zeros(1, 3, 3, 9))  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
netc.torch_backend.guards.InputError: ...the input is 3x9, smaller than this network's minimum of 4x4; below that 'pool1' ...
"""
from __future__ import annotations

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
    """Checks rank, channels and the minimum spatial size of the input; returns it unchanged.

    It has no parameters or buffers, so it never shows in ``state_dict()``."""

    def __init__(self, channels: int, min_hw: tuple[int, int] | None, layers: tuple[str, str] = ("", ""),
                 spans: tuple[Span | None, Span | None] = (None, None), fixed_hw: tuple[int, int] | None = None):
        super().__init__()
        self.channels, self.min_hw, self.layers, self.fixed_hw = channels, min_hw, layers, fixed_hw
        self.spans = spans

    @classmethod
    def from_ir(cls, ir) -> "InputGuard":
        c = ir.input_spec.channels
        if not (ir.any_size and ir.min_input):
            fixed = tuple(ir.input_shape[1:]) if all(isinstance(d, int) for d in ir.input_shape[1:]) else None
            return cls(c, None, fixed_hw=fixed)
        layers = ir.min_input_layer or ("", "")
        spans = tuple(ir.node(n).span if n in ir.graph else None for n in layers)
        return cls(c, tuple(ir.min_input), tuple(layers), spans)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _tracing():
            return x
        check_input(x, self.channels, self.min_hw, self.layers, self.spans)
        return x

    def extra_repr(self) -> str:
        return f"channels={self.channels}, min_hw={self.min_hw}"


def _tracing() -> bool:
    try:
        if torch.jit.is_tracing() or torch.compiler.is_compiling() or getattr(torch.compiler, "is_exporting", bool)():
            return True
        return bool(getattr(torch.onnx, "is_in_onnx_export", lambda: False)())
    except Exception:   # pragma: no cover - older torch
        return False


def check_input(x, channels: int, min_hw, layers=("", ""), spans=(None, None)) -> None:
    """Raise :class:`InputError` unless ``x`` is an (N, C, H, W) tensor with H x W >= ``min_hw``."""
    if not isinstance(x, torch.Tensor):
        raise InputError(f"the network takes a tensor of images, not {type(x).__name__}")
    if x.dim() != 4:
        raise InputError(f"the network takes a batch of images (N, {channels}, H, W), not a tensor of "
                         f"shape {tuple(x.shape)}", hint="add a batch dimension with x.unsqueeze(0)"
                         if x.dim() == 3 else None)
    if x.shape[1] != channels:
        raise InputError(f"the network takes {channels}-channel images, not {x.shape[1]} channels "
                         f"(input shape {tuple(x.shape)})")
    if min_hw is None:
        return
    h, w = int(x.shape[2]), int(x.shape[3])
    (mh, mw) = min_hw
    if h >= mh and w >= mw:
        return
    axis = 0 if h < mh else 1
    layer, span = layers[axis], spans[axis]
    where = f"; below that '{layer}' would give a map smaller than 1x1" if layer and layer != "input" else ""
    raise InputError(f"the input is {h}x{w}, smaller than this network's minimum of {mh}x{mw}{where}",
                     span, hint=f"resize or pad the images to at least {mh}x{mw}")


GUARD = "input_guard"   # submodule name; it holds no tensors, so state_dict() is unchanged


def install(root: nn.Module, ir, graphs) -> bool:
    """For a network that takes any size above a minimum, add the guard as the first call of
    each forward graph (``x = self.input_guard(x)``). Returns whether it was installed."""
    if not (ir.any_size and ir.min_input) or GUARD in root._modules:
        return False
    root.add_module(GUARD, InputGuard.from_ir(ir))
    done: set[int] = set()
    for g in graphs:
        if id(g) in done:
            continue
        done.add(id(g))
        x = next(n for n in g.nodes if n.op == "placeholder")
        with g.inserting_after(x):
            checked = g.create_node("call_module", GUARD, (x,), name="x_checked")
        x.replace_all_uses_with(checked, delete_user_cb=lambda user: user is not checked)
        g.lint()
    return True


__all__ = ["InputError", "InputGuard", "check_input", "install", "GUARD"]
