"""The torch backend: a spec's IR -> a ``torch.fx.GraphModule`` (:class:`NetcModule`).

>>> import netc, torch
>>> model = netc.compile("vgg:D", num_classes=20, device="meta")
>>> sum(p.numel() for p in model.parameters())
134342484
>>> list(model.state_dict())[:2]
['conv1_1.weight', 'conv1_1.bias']

The module returns logits unless the spec says ``output probs`` (then forward ends in
``torch.softmax``); a trailing ``soft-max`` in a spec documents the paper's output layer and is
left to the loss (``nn.CrossEntropyLoss`` wants logits). In ``model.train()`` a spec with side
outputs returns ``(main, aux_1, ...)`` (loss weights in ``model.aux_weights``); in
``model.eval()`` the main output only.
"""
from __future__ import annotations

import os
from typing import Any

import torch

from netc.dsl.errors import LimitError, UsageError
from netc.ir import IR, params_budget

from . import guards
from .codegen import build_graph, build_modules, shape_of, target
from .counting import count_macs
from .module import NetcModule
from .weights import WeightsError, load_weights
from .windows import window_plan

DEFAULT_BUDGET = 2_000_000_000
_DEFAULT: Any = object()


def compile_spec(ref: str | os.PathLike | IR, config: str | None = None, *, device=None, dtype=None,
                 dense: bool = False, budget: int | None = _DEFAULT, registry=None, **overrides: Any) -> NetcModule:
    """Compile one configuration of a spec (``"vgg:D"``, a path, or an IR) to a :class:`NetcModule`.

    ``overrides`` set spec variables (``num_classes=20``); ``device="meta"`` builds the module
    without allocating weights; ``dtype`` sets the parameter type; ``dense=True`` turns FC layers
    into convolutions (dense evaluation over larger images); ``budget`` refuses a spec with more
    parameters than that, before anything is allocated (default ``netc.LIMITS["max_params"]``,
    2,000,000,000; None: no limit).
    """
    from netc.dsl.parser import LIMITS
    if budget is _DEFAULT:
        budget = LIMITS.get("max_params", DEFAULT_BUDGET)
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget >= 0):
        raise UsageError(f"budget must be a number of parameters (or None for no limit), not {budget!r}")
    if isinstance(ref, IR):
        if config is not None or overrides:
            raise UsageError("config and variable overrides apply to a spec reference, not to an IR")
        ir = ref
    else:
        import netc
        with params_budget(budget):
            ir = netc.load(ref, config, registry=registry, **overrides)
    if dense:
        ir = _densify(ir)
    check_budget(ir, budget)
    return to_module(ir, device=device, dtype=dtype)


def _densify(ir: IR) -> IR:
    try:
        from .dense import densify
    except ImportError:
        raise NotImplementedError("dense evaluation (FC -> conv) is not available yet") from None
    return densify(ir)


def check_budget(ir: IR, budget: int | None) -> None:
    if budget is not None and ir.params > budget:
        raise LimitError(f"{ir.config or 'the network'} has {ir.params:,} parameters, more than the budget of "
                         f"{budget:,}", ir.span, hint="pass budget=N (netc compile --budget N) to allow it")


def to_module(ir: IR, device=None, dtype=None) -> NetcModule:
    """Build the module for an IR (see :func:`compile_spec`)."""
    try:
        device = torch.device(device) if device is not None else torch.get_default_device()
    except (RuntimeError, TypeError) as e:
        raise UsageError(f"unknown device {device!r}: {e}", hint="e.g. device='cpu', 'cuda', 'cuda:0' or 'meta'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {str(device)!r} asked for, but torch sees no CUDA device here",
                         hint="use device='cpu' (or 'meta' to build without memory)")
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, None) if not dtype.startswith("_") else None
        if not isinstance(dtype, torch.dtype):
            raise UsageError("unknown dtype; use a torch floating type such as torch.float32, 'float64' or 'bfloat16'")
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise UsageError(f"dtype {dtype} is not a floating type; weights need one such as torch.float32")
    root = build_modules(ir, device, dtype)
    train_graph = build_graph(ir, with_aux=True, output_mode=ir.output_mode)
    eval_graph = build_graph(ir, with_aux=False, output_mode=ir.output_mode) if ir.aux else train_graph
    guards.install(root, ir, (train_graph, eval_graph))   # a clear error for an input the net cannot take
    model = NetcModule(root, train_graph, eval_graph, metadata(ir))
    model.netc["windows"] = window_plan(ir)                # SPP nets: feature_map / classify_windows
    return model


def metadata(ir: IR) -> dict:
    spec = ir.input_spec
    fixed = spec.fixed
    return {
        "spec": str(ir.filename), "config": ir.config, "output_mode": ir.output_mode,
        "input": (spec.channels, spec.height if fixed else None, spec.width if fixed else None),
        "any_size": bool(ir.any_size and ir.min_input), "min_input": ir.min_input,
        "min_input_train": ir.min_input_train, "params": ir.params,
        "macs": ir.macs,
        "aux_weights": {a.name: a.weight for a in ir.aux},
        "layers": [{"name": n.name, "kind": n.kind, "paper": n.paper, "target": target(n.name), "aux": n.aux,
                    "file": n.span.file, "line": n.span.line,
                    "preds": ir.preds(n.name), "shape": shape_of(n) and tuple(str(d) for d in shape_of(n))}
                   for n in ir.layers()],
    }


__all__ = ["compile_spec", "to_module", "check_budget", "load_weights", "count_macs", "NetcModule",
           "WeightsError", "DEFAULT_BUDGET"]
