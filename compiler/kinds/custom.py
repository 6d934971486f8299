"""Custom layers: extend the vocabulary from Python, never from a spec.

:func:`register_layer` turns a factory of ``nn.Module``s into a layer kind that specs can use
with checked parameters, shape inference, counts and a torch module::

    import netc
    from torch import nn

    @netc.register_layer("se", params={"reduction": 16})
    def se(channels, reduction):
        return SqueezeExcite(channels, reduction)

    netc.loads("input 32x32 RGB\\nconv3-64\\nse(8)\\n")     # se(8): reduction=8

The factory is called as ``factory(c_in, **params)``, with ``in_shape=`` too when it takes
that keyword. Rules not given are measured from the module itself on the meta device (no
memory, no compute): the output shape, the parameter count and the multiply-adds of its
``nn.Conv2d`` / ``nn.Linear`` layers. A variable-size input needs ``shape=`` unless the layer
keeps H x W. The CLI loads a module of such registrations only when asked: ``netc --plugin
mypkg.layers summary my.net``. This module does not import torch; the measuring does, lazily.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

from pydantic import create_model

from netc.types import dims
from netc.types.dims import ShapeProblem
from netc.kinds import DEFAULT, Kind
from netc.kinds.params import Params

Shape = tuple
_PROBE_SIZES = ((32, 32), (37, 41))   # a layer that keeps H x W at both keeps it at every size


class CustomKind(Kind):
    """A layer kind built from user functions (see :func:`register_layer`)."""

    def __init__(self, name: str, factory: Callable, params_model: type[Params], *, shape=None,
                 n_params=None, macs=None, words: tuple[str, ...] = (), weight: bool = False, doc: str = ""):
        self.kind, self.words, self.Params = name, (name, *words), params_model
        self.positional = tuple(params_model.model_fields)
        self.prefix, self.weight, self.doc = name, weight, doc or (factory.__doc__ or "").strip().split("\n")[0] \
            or f"custom layer '{name}', registered from Python"
        self.factory, self.shape_fn, self.params_fn, self.macs_fn = factory, shape, n_params, macs
        self._probes: dict = {}

    # ------------------------------------------------------------ notation
    def paper(self, p) -> str:
        vals = [_show(v) for v in p.model_dump().values()]
        return f"{self.kind}({', '.join(vals)})" if vals else self.kind

    # ------------------------------------------------------------ rules
    def infer(self, p, ins: list[Shape]) -> Shape:
        if self.shape_fn is not None:
            try:
                return tuple(self.shape_fn(ins[0], **p.model_dump()))
            except ShapeProblem:
                raise
            except Exception as e:   # a user rule that fails is a shape problem at the layer
                raise ShapeProblem(f"{self.paper(p)}: shape rule failed: {e}") from None
        if dims.is_fixed(ins[0]):
            return self.probe(p, ins[0])[0]
        return self._symbolic(p, ins[0])

    def _symbolic(self, p, shape: Shape) -> Shape:
        c = shape[0]
        outs = [self.probe(p, (c, h, w))[0] for h, w in _PROBE_SIZES]
        if all(len(o) == 3 and o[1:] == hw for o, hw in zip(outs, _PROBE_SIZES)):
            return (outs[0][0], *shape[1:])
        raise ShapeProblem(f"{self.paper(p)} changes the spatial size, so netc cannot tell its output for a "
                             "variable-size input", hint=f"give register_layer({self.kind!r}, ..., shape=fn)")

    def count_params(self, p, ins, out) -> int:
        if self.params_fn is not None:
            return int(self.params_fn(ins[0], out, **p.model_dump()))
        return self.probe(p, ins[0])[1] if dims.is_fixed(ins[0]) else self.probe(p, self._fixed(ins[0]))[1]

    def count_macs(self, p, ins, out) -> int | None:
        if not dims.is_fixed(out) or not dims.is_fixed(ins[0]):
            return None
        if self.macs_fn is not None:
            return int(self.macs_fn(ins[0], out, **p.model_dump()))
        return self.probe(p, ins[0])[2]

    def rf(self, p, rf_in, ins):
        """Unchanged where the layer keeps H x W; unknown (None) where it changes them, since its
        window is not known (a stride of 2 could be any kernel)."""
        if rf_in is None or getattr(ins[0], "layout", "map") != "map":
            return rf_in
        try:
            out = self.infer(p, ins)
        except ShapeProblem:
            return None
        return rf_in if len(out) == 3 and tuple(out[1:]) == tuple(ins[0][1:]) else None

    def _fixed(self, shape: Shape) -> Shape:
        return (shape[0], *_PROBE_SIZES[0]) if len(shape) == 3 else shape

    # ------------------------------------------------------------ torch
    def torch_module(self, p, in_shape: Shape):
        """The ``nn.Module`` for one instance (called by the torch backend)."""
        kwargs = p.model_dump()
        if _takes(self.factory, "in_shape"):
            kwargs["in_shape"] = tuple(in_shape)
        return self.factory(in_shape[0], **kwargs)

    def probe(self, p, in_shape: Shape) -> tuple[Shape, int, int]:
        """(output shape, params, macs) measured on the meta device, cached."""
        key = (tuple(sorted(p.model_dump().items(), key=lambda kv: kv[0])).__repr__(), tuple(in_shape))
        if key not in self._probes:
            from netc.backends.torch.counting import probe
            try:
                self._probes[key] = probe(self.torch_module(p, in_shape), tuple(in_shape))
            except Exception as e:
                raise ShapeProblem(f"{self.paper(p)} fails on an input of {dims.fmt_shape(in_shape)}: {e}") from None
        return self._probes[key]


def _takes(fn: Callable, name: str) -> bool:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    return name in sig.parameters or any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())


def _show(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    return f"{v:g}" if isinstance(v, float) else str(v)


def params_model(name: str, params) -> type[Params]:
    """A pydantic model from ``{"reduction": 16, "act": str}``: a value is a default (its type is
    the field's type), a type is a required field. A pydantic model is used as it is."""
    if isinstance(params, type) and issubclass(params, Params):
        return params
    fields: dict[str, Any] = {}
    for key, val in (params or {}).items():
        if isinstance(val, type):
            fields[key] = (val, ...)
        elif val is None:
            fields[key] = (Any, None)
        else:
            typ = tuple if isinstance(val, list) else type(val)
            fields[key] = (typ, tuple(val) if isinstance(val, list) else val)
    return create_model(f"{name.title().replace('-', '')}Params", __base__=Params, **fields)


def register_layer(name: str, factory: Callable | None = None, *, params=None, shape=None, n_params=None,
                   macs=None, words: tuple[str, ...] = (), weight: bool = False, doc: str = "",
                   replace: bool = False, registry=None):
    """Make ``name(...)`` a layer that specs can use; returns the factory (usable as a decorator).

    params: ``{name: default or type}`` (order = positional order) or a ``netc.kinds.params.Params``
    pydantic model; shape: ``fn(in_shape, **params) -> out_shape``; n_params / macs:
    ``fn(in_shape, out_shape, **params) -> int``; weight: counts as a weight layer (depth, and
    ReLU-by-default on the layers before it); replace: allow re-registering the name; registry: the
    registry to add it to (:func:`netc.registry`; default: the process's own, ``netc.kinds.DEFAULT``).

    >>> import netc
    >>> from torch import nn
    >>> _ = netc.register_layer("scale2x", lambda c: nn.Upsample(scale_factor=2),
    ...                         shape=lambda s: (s[0], s[1] * 2, s[2] * 2), replace=True)
    >>> netc.loads("input 8x8 RGB\\nscale2x\\n").output_shape
    (3, 16, 16)
    """
    if factory is None:
        return lambda f: register_layer(name, f, params=params, shape=shape, n_params=n_params, macs=macs,
                                        words=words, weight=weight, doc=doc, replace=replace, registry=registry)
    if not name or not name.replace("_", "").replace("-", "").isalnum() or name[0].isdigit():
        raise ValueError(f"a layer name is a word such as 'se' or 'cbam_block', not {name!r}")
    reg = registry if registry is not None else DEFAULT
    if name in reg and not isinstance(reg[name], CustomKind):
        raise ValueError(f"'{name}' is a built-in layer kind; pick another name")
    if name in reg and not replace:
        raise ValueError(f"layer '{name}' is already registered; pass replace=True to redefine it")
    if replace:
        reg.unregister(name)
    kind = CustomKind(name, factory, params_model(name, params), shape=shape, n_params=n_params, macs=macs,
                      words=tuple(words), weight=weight, doc=doc)
    reg.register(kind, replace=False)
    return factory


__all__ = ["register_layer", "CustomKind", "params_model"]
