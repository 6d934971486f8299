"""Writing a compiled model to a file: ONNX, a ``torch.export`` program (.pt2) or a state_dict (.pt).

Exports trace the inference graph (``model.eval()``) on an example input (batch 2): the spec's
size, or for a network that takes any size, 224 x 224 or its smallest valid input, whichever is
larger. The batch dimension is always dynamic. What else the file accepts depends on the network:

- a network that needs the size its spec declares (VGG, AlexNet, BVLC GoogLeNet) is exported at
  that size: ``(N, 3, 224, 224)``;
- a network that takes any size (``spp[...]``, global or adaptive pooling, ``--dense``) is
  exported with H and W dynamic too, from its smallest input (``netc check``'s ``any size >=``;
  torch.export derives the same bound) up. ONNX has no adaptive pooling, so for ONNX every SPP
  layer and adaptive pooling module is written with bin masks computed from the map's size
  (:func:`netc.backends.torch.spp.pool_by_masks`: the same bins, the same values). Should
  torch.export fail on the dynamic sizes (a custom layer, say), the network is exported at the
  example size instead, and :class:`Exported` says so.

:func:`export` returns an :class:`Exported` that states what the file accepts; ``netc compile``
prints it. A network that cannot be exported at all raises :class:`ExportError` (a ``NetcError``),
never a raw torch error.
"""
from __future__ import annotations

import io
import logging
import os
import warnings
from contextlib import ExitStack, contextmanager, redirect_stderr
from dataclasses import dataclass
from pathlib import Path

import torch

from netc.atomic import atomic_output
from netc.dsl.errors import NetcError, UsageError

FORMATS = {".onnx": "onnx", ".pt2": "pt2", ".pt": "state_dict", ".pth": "state_dict"}
MAX_BATCH = 4096


class ExportError(NetcError):
    """A network that torch.export or the ONNX exporter cannot write."""


@dataclass(frozen=True)
class Exported:
    """What :func:`export` wrote: the format, and for a program (ONNX, .pt2) the input it takes.

    ``shape`` is ``(None, C, H, W)`` with None for each dynamic dimension (the batch always);
    ``min_hw`` is the smallest H x W when H or W is dynamic; ``note`` says why a network that
    takes any size was exported at a fixed one; ``side_outputs`` names the side outputs written
    after the network's own (``export(..., side_outputs=True)``)."""
    format: str
    shape: tuple | None = None
    min_hw: tuple[int, int] | None = None
    note: str = ""
    side_outputs: tuple[str, ...] = ()

    @property
    def dynamic_hw(self) -> bool:
        return self.shape is not None and (self.shape[2] is None or self.shape[3] is None)

    def describe(self) -> str:
        """``input (N, 3, 224, 224), fixed size`` or ``input (N, 3, H, W), any H x W >= 31x31``;
        "" for a state_dict."""
        if self.shape is None:
            return ""
        _, c, h, w = self.shape
        dims = f"(N, {c}, {'H' if h is None else h}, {'W' if w is None else w})"
        sides = f", side outputs {', '.join(self.side_outputs)}" if self.side_outputs else ""
        if not self.dynamic_hw:
            return f"input {dims}, fixed size" + (f" ({self.note})" if self.note else "") + sides
        if self.min_hw is None:
            return f"input {dims}, any size" + sides
        return f"input {dims}, any size >= {self.min_hw[0]}x{self.min_hw[1]}" + sides


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


def takes_any_size(model) -> bool:
    meta = getattr(model, "netc", {})
    return bool(meta.get("any_size", meta.get("min_input") is not None))


def export(model, path: str | os.PathLike, x: torch.Tensor | None = None, opset: int | None = None,
           dynamic_hw: bool | None = None, side_outputs: bool = False) -> Exported:
    """Write ``model`` to ``path``; the suffix picks the format. ``dynamic_hw`` (default: whether
    the network takes any input size) keeps H and W dynamic. Returns what was written.

    The file holds the inference graph, as deployed: a network's side outputs (GoogLeNet's
    auxiliary classifiers, which only the training forward computes) and their parameters are
    not in it. ``side_outputs=True`` writes them as further graph outputs after the network's
    own, named by their ``aux`` names, computed as at inference (no dropout, batch norm by its
    running statistics); the file then holds every parameter of the network."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"cannot tell the export format of '{path}'",
                         hint="use a name ending in .onnx, .pt2 (torch.export) or .pt (state_dict)")
    model.eval()
    # written beside the target under a temporary name and renamed when complete (netc.atomic)
    with atomic_output(path) as tmp:
        return _export(model, fmt, tmp, x, opset, dynamic_hw, side_outputs)


def _output_names(model) -> list[str]:
    """The graph's outputs: ``output``, or the keys of a network with several (``outputs a, b as KEY``)."""
    keys = getattr(model, "netc", {}).get("outputs") or []
    return [str(k) for k in keys] or ["output"]


def _side_names(model) -> list[str]:
    """The side outputs the training forward returns after the network's own, in its order."""
    graphs = getattr(model, "_netc_graphs", None)
    if not graphs or graphs["train"] is graphs["eval"]:
        return []
    return [str(k) for k in getattr(model, "aux_weights", {})]


@contextmanager
def _forward_with_sides(model, on: bool):
    """The training graph (main output, then the side outputs) over inference layers."""
    if not on:
        yield
        return
    graphs = model._netc_graphs
    model.graph = graphs["train"]     # the setter recompiles forward; every layer stays in eval
    try:
        yield
    finally:
        model.graph = graphs["eval"]


def _export(model, fmt: str, path: Path, x, opset, dynamic_hw, side_outputs=False) -> Exported:
    if fmt == "state_dict":
        _save_bytes(lambda f: torch.save(model.state_dict(), f), path)
        return Exported(fmt)
    sides = _side_names(model) if side_outputs else []
    x = example_input(model) if x is None else x
    guard = getattr(model, "input_guard", None)
    if guard is not None:   # an example the network cannot take: netc's error, not torch's
        guard(x)
    if dynamic_hw is None:
        dynamic_hw = takes_any_size(model)
    ep, errors = None, []
    for dynamic in ((True, False) if dynamic_hw else (False,)):
        try:
            with _quiet(), _exporting(model, onnx=fmt == "onnx", dynamic=dynamic), \
                    _forward_with_sides(model, bool(sides)):
                ep = torch.export.export(model, (x,), dynamic_shapes=_dynamic_shapes(dynamic))
                if fmt == "onnx":
                    kw = {"opset_version": opset} if opset else {}
                    # optimize=False: the exporter's optimizer folds every batch norm into its
                    # conv (a file with other weights and fewer parameters than the network);
                    # _tidy does the rest of its work (constants folded, dead nodes removed)
                    program = torch.onnx.export(ep, (x,), dynamo=True, input_names=["input"],
                                                output_names=_output_names(model) + sides, verbose=False,
                                                optimize=False, **kw)
                    _tidy(program.model, set(model.state_dict()))
                    program.save(str(path), external_data=True)
            break
        except OSError:          # writing failed (a full disk): netc.atomic reports it
            raise
        except Exception as e:   # torch's own errors: reported as netc's, at the size tried last
            errors.append(e)
            ep = None
    if ep is None:
        raise ExportError(f"cannot export {_name(model)} to {'ONNX' if fmt == 'onnx' else 'torch.export'}: "
                          f"{_first_line(errors[-1])}",
                          hint="-o FILE.pt writes the weights (a state_dict) instead; torch.export.export("
                               "netc.compile(...).eval(), (x,)) shows torch's whole error") from errors[-1]
    if fmt == "pt2":        # through Python's I/O: on a full disk torch's C++ writer aborts the process
        _save_bytes(lambda f: torch.export.save(ep, f), path)
    note = ""
    if errors:   # dynamic H and W failed, the fixed size worked
        note = f"torch.export could not keep H and W dynamic: {_first_line(errors[0])}"
    shape, low = _accepted(ep, x)
    ir_min = getattr(model, "netc", {}).get("min_input")
    if low is not None and ir_min:   # torch.export may allow empty maps (size 0) that the IR does not
        low = (max(low[0], int(ir_min[0])), max(low[1], int(ir_min[1])))
    return Exported(fmt, shape, low, note=note, side_outputs=tuple(sides))


#: the exporter's rewrite rules that change a network's parameters: a batch norm folded into its
#: conv or linear layer (other weights, fewer tensors), a bias dropped because it is all zeros (a
#: freshly initialised network's biases are)
_NOT_REWRITTEN = ("FuseBatchNorm", "RemoveOptionalBias")


def _tidy(model, params: set[str]) -> None:
    """The exported ONNX graph without the exporter's noise and with the network's own layers and
    parameters. The exporter's optimizer (``optimize=True``) folds each BatchNormalization into its
    Conv and merges equal tensors; instead: constants folded (shape arithmetic, the exporter's
    Constant/Expand chains), its rewrite rules less those that change parameters
    (:data:`_NOT_REWRITTEN`), unused nodes removed. A Conv's bias that the exporter made up for a
    conv without one (a constant of zeros that is no parameter of the network) is dropped."""
    import numpy as np
    from onnxscript import optimizer, rewriter

    rules = [r for r in getattr(rewriter, "_DEFAULT_REWRITE_RULES", ())
             if not str(getattr(r, "name", "") or "").startswith(_NOT_REWRITTEN)]
    for _ in range(2):      # as the exporter's optimizer: a rewrite may leave more to fold
        optimizer.fold_constants(model, onnx_shape_inference=True)
        if rules:
            rewriter.rewrite(model, pattern_rewrite_rules=rules)
        optimizer.remove_unused_nodes(model)
    for node in model.graph.all_nodes():
        if node.op_type not in ("Conv", "ConvTranspose") or len(node.inputs) < 3:
            continue
        bias = node.inputs[2]
        if bias is None or bias.name in params or bias.const_value is None:
            continue
        if not np.any(bias.const_value.numpy()):
            node.resize_inputs(2)
    optimizer.remove_unused_nodes(model)


class _Buffer(io.BytesIO):
    """Memory that keeps the MemoryError its write met (torch's writer reports one as
    "unexpected pos")."""
    failed: MemoryError | None = None

    def write(self, b):
        try:
            return super().write(b)
        except MemoryError as e:
            self.failed = e
            raise


def _save_bytes(save, path: Path) -> None:
    """Serialise into memory, then write with Python's I/O, whose errors are exceptions. Memory
    that runs out while serialising is a MemoryError, whatever torch made of it."""
    buf = _Buffer()
    try:
        save(buf)
    except Exception:
        if buf.failed is not None:
            raise MemoryError("out of memory while serialising the model") from None
        raise
    with open(path, "wb") as f:
        f.write(buf.getbuffer())


def _name(model) -> str:
    meta = getattr(model, "netc", {})
    config = meta.get("config")
    return config if config not in (None, "main") else Path(meta.get("spec") or "the network").name


def _first_line(e: Exception) -> str:
    return f"{type(e).__name__}: " + (str(e).strip().splitlines() or [""])[0]


def _dynamic_shapes(dynamic_hw: bool):
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    if not dynamic_hw:
        return ({0: batch},)
    # AUTO: torch.export derives the range of H and W (the network's minimum up); an explicit
    # Dim(min=...) trips over sympy on the floor/ceil sizes of ceil-mode pooling
    return ({0: batch, 2: torch.export.Dim.AUTO, 3: torch.export.Dim.AUTO},)


@contextmanager
def _exporting(model, onnx: bool, dynamic: bool):
    """Size-oblivious tracing (no special case for maps of size 1, so the program holds for every
    size in its range, the smallest included), and SPP / adaptive pooling by bin masks for ONNX."""
    from netc.backends.torch.spp import masked_pooling
    with ExitStack() as stack:
        if dynamic:
            from torch.fx.experimental import _config
            stack.enter_context(_config.patch(backed_size_oblivious=True))
        if onnx:
            stack.enter_context(masked_pooling(model))
        yield


@contextmanager
def _quiet():
    # "torchvision is not installed. Skipping torchvision::nms"; sympy's "Failed to reduce
    # inequalities" on the floor/ceil sizes of pooling (harmless: the range comes out right)
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.fx.experimental.symbolic_shapes",
                                                    "torch._dynamo", "torch.export")]
    levels = [lg.level for lg in loggers]
    # torch.export prints the partial graph of a failed export to stderr: netc reports the error itself
    with warnings.catch_warnings(), redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


def _accepted(ep, x: torch.Tensor) -> tuple[tuple, tuple[int, int] | None]:
    """The input shape the program takes (None for a dynamic dimension) and the smallest H x W."""
    name = ep.graph_signature.user_inputs[0]
    node = next(n for n in ep.graph.nodes if n.op == "placeholder" and n.name == name)
    val = node.meta.get("val")
    shape, lows = [], []
    for d in (val.shape if val is not None else x.shape):
        if isinstance(d, torch.SymInt):
            shape.append(None)
            rng = ep.range_constraints.get(d.node.expr)
            lows.append(int(rng.lower) if rng is not None else 1)
        else:
            shape.append(int(d))
            lows.append(int(d))
    min_hw = (lows[2], lows[3]) if None in shape[2:] else None
    return tuple(shape), min_hw
