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

import torch

from netc.dsl.errors import UsageError
from netc.ir import IR

from netc.backends.torch import guards
from netc.backends.torch.codegen import build_graph, build_modules, shape_of, target
from netc.backends.torch.counting import count_macs
from netc.backends.torch.module import NetcModule
from netc.backends.torch.weights import WeightsError, load_weights
from netc.backends.torch.windows import window_plan


def densify(ir: IR) -> IR:
    """The IR with its fully-connected layers as convolutions (dense evaluation over larger images)."""
    from netc.backends.torch.dense import densify as _densify
    return _densify(ir)


def to_module(ir: IR, device=None, dtype=None) -> NetcModule:
    """Build the module for an IR (:func:`netc.compile` loads the spec, checks its budget and calls this).

    ``device="meta"`` builds the module without allocating weights; ``dtype`` sets the parameter type."""
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
        "outputs": list(ir.outputs),                       # the keys of several named outputs, in order
        "layers": [{"name": n.name, "kind": n.kind, "paper": n.paper, "target": target(n.name), "aux": n.aux,
                    "file": n.span.file, "line": n.span.line,
                    "preds": ir.preds(n.name), "shape": shape_of(n) and tuple(str(d) for d in shape_of(n))}
                   for n in ir.layers()],
    }


__all__ = ["to_module", "densify", "load_weights", "count_macs", "NetcModule", "WeightsError"]
