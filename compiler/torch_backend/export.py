"""Writing a compiled model to a file: ONNX, a ``torch.export`` program (.pt2) or a state_dict (.pt).

Exports trace the inference graph (``model.eval()``) on an example input of the spec's size
(batch 2, the batch dimension left dynamic); a variable-size spec is traced at 224 x 224 or its
smallest valid input, whichever is larger.
"""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import torch

from netc.dsl.errors import UsageError

FORMATS = {".onnx": "onnx", ".pt2": "pt2", ".pt": "state_dict", ".pth": "state_dict"}


def example_input(model, input_hw: tuple[int, int] | None = None, batch: int = 2) -> torch.Tensor:
    """A random input the model accepts: the spec's input size (or ``input_hw``)."""
    meta = getattr(model, "netc", {})
    c, h, w = meta.get("input", (3, 224, 224))
    if input_hw is not None:
        h, w = input_hw
    if h is None:
        mh, mw = meta.get("min_input") or (1, 1)
        h, w = max(224, mh), max(224, mw)
    p = next(model.parameters(), None)
    return torch.randn(batch, c, h, w, dtype=p.dtype if p is not None else None,
                       device=p.device if p is not None else None)


def _dynamic_batch():
    return ({0: torch.export.Dim("batch", min=1, max=4096)},)


def export(model, path: str | os.PathLike, x: torch.Tensor | None = None, opset: int | None = None) -> str:
    """Write ``model`` to ``path``; the suffix picks the format. Returns the format's name."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"cannot tell the export format of '{path}'",
                         hint="use a name ending in .onnx, .pt2 (torch.export) or .pt (state_dict)")
    model.eval()
    if fmt == "state_dict":
        torch.save(model.state_dict(), path)
        return fmt
    x = example_input(model) if x is None else x
    if fmt == "pt2":
        ep = torch.export.export(model, (x,), dynamic_shapes=_dynamic_batch())
        torch.export.save(ep, str(path))
        return fmt
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    kw = {"opset_version": opset} if opset else {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quiet.setLevel(logging.ERROR)   # "torchvision is not installed. Skipping torchvision::nms"
            torch.onnx.export(model, (x,), str(path), dynamo=True, dynamic_shapes=_dynamic_batch(),
                              input_names=["input"], output_names=["output"], verbose=False, **kw)
    finally:
        quiet.setLevel(level)
    return fmt
