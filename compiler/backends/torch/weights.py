"""Weights from another implementation of the same architecture, matched by structure.

Names differ between implementations (torchvision's ``features.28.weight`` is netc's
``conv5_3.weight``), but the order and shapes of their tensors do not: both list each layer's
parameters and buffers in program order. :func:`load_weights` pairs the tensors one by one,
checks every shape, and names the first pair that disagrees. Batch-norm's
``num_batches_tracked`` counters are bookkeeping and are skipped on both sides.
"""
from __future__ import annotations

import operator
import warnings

from collections import OrderedDict
from typing import Mapping

import torch
import torch.fx as fx
from torch import nn

from netc.dsl.errors import NetcError


class WeightsError(NetcError):
    """A state_dict that does not fit the compiled model."""


def _tensors(sd: Mapping[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
    return [(k, v) for k, v in sd.items() if not k.endswith("num_batches_tracked") and isinstance(v, torch.Tensor)]


def _fits(dst: torch.Tensor, src: torch.Tensor) -> bool:
    if dst.shape == src.shape:
        return True
    # a fully-connected weight onto a convolution (dense evaluation) or back: same numbers, new shape
    if dst.numel() == src.numel() and min(dst.dim(), src.dim()) >= 1 and dst.shape[0] == src.shape[0] == dst.numel():
        return True     # one value per channel, (C,) or (C, 1, 1): a layer scale on a map or on tokens
    return dst.numel() == src.numel() and {dst.dim(), src.dim()} == {2, 4} and dst.shape[0] == src.shape[0]


def _where(model: nn.Module, key: str) -> str:
    layer = key.rsplit(".", 1)[0]
    for info in getattr(model, "netc", {}).get("layers", []):
        if info["target"] == layer:
            spec = info.get("file")
            at = f", {spec}:{info['line']}" if spec and info.get("line") else ""
            return f"layer {info['name']} ({info.get('paper', info['kind'])}{at})"
    return f"layer {layer}"


def _shape(t: torch.Tensor) -> str:
    return "[" + ", ".join(str(d) for d in t.shape) + "]"


def load_weights(model: nn.Module, state_dict, strict: bool = True) -> nn.Module:
    """Copy ``state_dict`` (or a module's weights) into ``model`` by structure; returns ``model``.

    strict=False loads the common prefix: every tensor up to the first one whose shape disagrees
    or that one side lacks (a new head for fine-tuning), and warns what it left out. strict=True
    raises :class:`WeightsError` naming the first layer whose shapes disagree.

    >>> import netc, torch
    >>> a, b = netc.compile("vgg:A"), netc.compile("vgg:A")
    >>> _ = netc.load_weights(b, a.state_dict())
    >>> torch.equal(a.conv1_1.weight, b.conv1_1.weight)
    True
    """
    from netc.backends.torch.hf import is_hf, load_hf
    if is_hf(state_dict):           # a transformers language model (or its state_dict): matched by name
        return load_hf(model, state_dict, strict)
    if isinstance(state_dict, nn.Module):
        return _load_by_dataflow(model, state_dict, strict)
    if not isinstance(state_dict, Mapping):
        raise WeightsError(f"expected a state_dict (a mapping of names to tensors), got {type(state_dict).__name__}")
    dst, src = _tensors(model.state_dict()), _tensors(state_dict)
    moved = _side_outputs_moved(model, dst, src)
    if moved is not None:   # the source registers its side heads elsewhere (torchvision's Inception3, GoogLeNet)
        src = moved
    return _pair_and_copy(model, dst, src, strict)


#: buffers netc's modules compute from their shape alone (a window's relative-position index): a source
#: that does not save them (timm keeps its copy out of the state_dict) is paired without them
DERIVED = ("relative_position_index",)


def _without_derived(dst: list, src: list) -> list:
    """``dst`` less the derived buffers that the source, at their place, does not have."""
    out, j = [], 0
    for dk, dv in dst:
        derived = dk.rsplit(".", 1)[-1] in DERIVED
        if derived and not (j < len(src) and src[j][0].rsplit(".", 1)[-1] in DERIVED):
            continue            # keeps its own value: it is a function of the window
        out.append((dk, dv))
        j += 1
    return out


def _pair_and_copy(model: nn.Module, dst: list, src: list, strict: bool, by_dataflow: bool = False) -> nn.Module:
    """Pair ``dst`` and ``src`` (lists of (name, tensor)) one by one, check the shapes, copy.
    ``by_dataflow``: both lists are in dataflow order already (the source module itself was given)."""
    dst = _without_derived(dst, src)
    for i, ((dk, dv), (sk, sv)) in enumerate(zip(dst, src)):
        if not _fits(dv, sv):
            if not strict:
                warnings.warn(f"load_weights(strict=False): loaded the first {i} of {len(dst)} tensors; "
                              f"{dk} of {_where(model, dk)} is {_shape(dv)} but the source's {sk} is "
                              f"{_shape(sv)}, so it and the rest keep their initial values", stacklevel=3)
                dst, src = dst[:i], src[:i]
                break
            order = ("uses its layers in another order than the spec (matched by dataflow: the order the "
                     "computation uses the tensors)" if by_dataflow else
                     "lists its layers in another order (pass the source module itself, "
                     "load_weights(model, source_module), to match by dataflow)")
            raise WeightsError(f"the weights do not fit at tensor {i + 1}: {dk} of {_where(model, dk)} is "
                               f"{_shape(dv)}, but the source's {sk} is {_shape(sv)}",
                               hint=f"the source is a different architecture or configuration, or {order}; "
                                    "strict=False loads everything before this tensor (e.g. a backbone under "
                                    "a new head)")
    if strict and len(dst) != len(src):
        more, extra = ("source", src[len(dst)][0]) if len(src) > len(dst) else ("model", dst[len(src)][0])
        where = f" ({_where(model, extra)})" if more == "model" else ""
        raise WeightsError(f"the model has {len(dst)} tensors and the source {len(src)}: the first unmatched "
                           f"one is the {more}'s {extra}{where}", hint="pass strict=False to load the common prefix")
    if any(v.is_meta for _, v in dst):   # the shapes fit (checked above), but there is nowhere to put values
        raise WeightsError("the model is on the meta device and holds no weights to load into",
                           hint="compile it on a real device: netc.compile(..., device='cpu')")
    if any(v.is_meta for _, v in src):
        raise WeightsError("the source's tensors are on the meta device: they hold no values")
    new = OrderedDict((dk, sv.detach().reshape(dv.shape)) for (dk, dv), (_, sv) in zip(dst, src))
    with torch.no_grad():
        current = model.state_dict(keep_vars=True)
        for k, v in new.items():
            current[k].copy_(v.to(dtype=current[k].dtype, device=current[k].device))
    return model


def _side_outputs_moved(model: nn.Module, dst: list, src: list) -> list | None:
    """The source's tensors in the model's order when they differ only in where each side output's
    tensors sit: netc lists a side head's tensors after the main path, torchvision registers
    Inception3's AuxLogits between Mixed_6e and Mixed_7a and GoogLeNet's aux1/aux2 before its fc.
    Each head's tensors stay together and in order, as do the main path's; the first placement
    of the heads (earliest first) where every shape fits is taken. None when the plain order
    fits, when the model has no side outputs, or when no placement fits."""
    heads = list(getattr(model, "aux_weights", {}) or {})
    if not heads or len(dst) != len(src) or all(_fits(d, s) for (_, d), (_, s) in zip(dst, src)):
        return None
    blocks = [[t for t in dst if t[0].startswith(h + ".")] for h in heads]
    if any(not b for b in blocks):
        return None
    in_head = {k for b in blocks for k, _ in b}
    main = [t for t in dst if t[0] not in in_head]
    if [t[0] for t in main + [t for b in blocks for t in b]] != [t[0] for t in dst]:
        return None   # the model's own order is not main path then heads: nothing to undo
    order = sorted(range(len(heads)), key=lambda j: [k for k, _ in dst].index(blocks[j][0][0]))
    blocks = [blocks[j] for j in order]
    dead: set = set()

    def place(i: int, j: int) -> list | None:
        """Source tensors from position i + (lengths of the first j heads) matched to main[i:] and heads[j:]."""
        if (i, j) in dead:
            return None
        at = i + sum(len(b) for b in blocks[:j])
        if i == len(main) and j == len(blocks):
            return []
        if j < len(blocks) and at + len(blocks[j]) <= len(src) and all(
                _fits(d, s) for (_, d), (_, s) in zip(blocks[j], src[at:at + len(blocks[j])])):
            rest = place(i, j + 1)
            if rest is not None:
                return [("head", j)] + rest
        if i < len(main) and _fits(main[i][1], src[at][1]):
            rest = place(i + 1, j)
            if rest is not None:
                return [("main", i)] + rest
        dead.add((i, j))
        return None

    import sys
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * len(src) + 100))
    try:
        steps = place(0, 0)
    finally:
        sys.setrecursionlimit(limit)
    if steps is None:
        return None
    by_key: dict = {}
    at = 0
    for what, n in steps:
        group = [main[n]] if what == "main" else blocks[n]
        for (k, _), s in zip(group, src[at:at + len(group)]):
            by_key[k] = s
        at += len(group)
    return [by_key[k] for k, _ in dst]


# ------------------------------------------------------------------ a weight file's size, before it is read
#: a weight file may unpack to this many times the model's own tensors (float64 copies, an
#: optimizer's state beside them, an average of the weights) plus ``FILE_SLACK`` bytes
FILE_FACTOR = 8
FILE_SLACK = 16 << 20


def unpacked_bytes(path) -> int:
    """The bytes a ``torch.save`` file unpacks to, read from its zip directory: the sizes it
    declares for its entries (torch's reader allocates what an entry declares and inflates no
    more), so nothing is inflated to learn them. A file that is not a zip archive (torch's legacy
    format) is read as it is stored: its own size."""
    import os
    import zipfile
    try:
        with zipfile.ZipFile(path) as z:
            return sum(max(0, i.file_size) for i in z.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        return os.path.getsize(path)


def check_file_size(path, model: nn.Module) -> int:
    """Refuse a weight file that would unpack to far more than ``model``'s tensors (a 500 KB
    archive of deflated zeros holding 512 MB), before anything is inflated. Returns the bytes."""
    from netc.elaborate.bounds import _bytes
    own = sum(t.numel() * t.element_size() for t in model.state_dict(keep_vars=True).values()
              if isinstance(t, torch.Tensor))
    n = unpacked_bytes(path)
    most = FILE_FACTOR * own + FILE_SLACK
    if n > most:
        raise WeightsError(f"the weights do not fit: {path} unpacks to {_bytes(n)} of tensors, more than "
                           f"{FILE_FACTOR}x the model's own {_bytes(own)} (its {len(model.state_dict()):,} tensors)",
                           hint="nothing was unpacked; give the state_dict of this architecture "
                                "(torch.save(model.state_dict(), path))")
    return n


# ------------------------------------------------------------------ matching by dataflow
def _load_by_dataflow(model: nn.Module, source: nn.Module, strict: bool) -> nn.Module:
    """Pair the tensors of ``source`` and ``model`` in the order the computation uses them (traced
    with torch.fx), not the order the modules were registered in: a source that registers its
    head before its trunk, or its side heads before its classifier, loads all the same.

    Where the two dataflow orders do not pair but the source's state_dict does, in registration
    order, tensor for tensor, that is loaded instead, with a warning: a buffer the source's traced
    forward never reads (torchvision's MaxViT computes its relative_position_index and reads it only
    as a Python attribute) comes last in its dataflow order, not beside its layer's other tensors.
    Where neither pairs, the error is the dataflow pairing's."""
    dst = dataflow_tensors(model, sums_by_shape=True)
    src = dataflow_tensors(source, sums_by_shape=True, example=_example_input(model))
    bad = _first_misfit(dst, src)
    if bad is not None:
        reg_dst, reg_src = _tensors(model.state_dict()), _tensors(source.state_dict())
        moved = _side_outputs_moved(model, reg_dst, reg_src)
        if moved is not None:
            reg_src = moved
        if _first_misfit(reg_dst, reg_src) is None:
            i = bad
            what = (f"at tensor {i + 1} ({dst[i][0]} is {_shape(dst[i][1])}, the source's {src[i][0]} "
                    f"{_shape(src[i][1])})" if i < min(len(dst), len(src)) else
                    f"in the count of tensors ({len(dst)} and {len(src)})")
            warnings.warn(f"load_weights: the tensors of {type(source).__name__} do not pair with the model's in "
                          f"the order the computation uses them, {what}; its state_dict in registration order "
                          "does, tensor for tensor, so it was loaded that way", stacklevel=3)
            return _pair_and_copy(model, reg_dst, reg_src, strict)
    return _pair_and_copy(model, dst, src, strict, by_dataflow=True)


def _first_misfit(dst: list, src: list) -> int | None:
    """The index of the first pair of tensors whose shapes do not fit (the shorter list's length
    where one list is longer), or None where both pair one for one."""
    for i, ((_, dv), (_, sv)) in enumerate(zip(dst, src)):
        if not _fits(dv, sv):
            return i
    return None if len(dst) == len(src) else min(len(dst), len(src))


#: elementwise sums, whose operands may come in either order: ``a + b`` is ``b + a``
_ADDS = {operator.add, operator.iadd, torch.add}


def _is_add(n) -> bool:
    return (n.op == "call_function" and n.target in _ADDS) or (n.op == "call_method" and n.target in ("add", "add_"))


def _add_operand_order(graph, tensor_shapes) -> dict:
    """For each sum of two or more computed operands: its operands in a canonical order, so that two
    implementations that write ``a + b`` and ``b + a`` list their tensors alike. The key of an operand
    is the multiset of tensor shapes its branch alone reads (what the other operands' branches also
    read is shared, not the branch's); branches with equal keys keep their written order, so the
    shapes decide only where they tell the branches apart."""
    adds = [n for n in graph.nodes if _is_add(n)]
    if not adds:
        return {}
    reads: dict = {}             # node -> the nodes with tensors it depends on (itself included)
    for n in graph.nodes:        # a topological order
        mine = {n} if tensor_shapes.get(n) else set()
        for a in n.all_input_nodes:
            mine |= reads.get(a, frozenset())
        reads[n] = frozenset(mine)
    out = {}
    for n in adds:
        ops = [a for a in n.all_input_nodes if a.op != "get_attr"]
        if len(ops) < 2:
            continue
        reach = [reads[a] for a in ops]
        shared = frozenset.intersection(*reach)
        keys = [tuple(sorted(s for x in r - shared for s in tensor_shapes.get(x, ()))) for r in reach]
        if len(set(keys)) > 1:
            out[n] = [a for _, a in sorted(zip(keys, ops), key=lambda t: t[0])]
    return out


def _walk_from_outputs(graph, tensor_shapes: dict | None = None) -> list:
    """The graph's nodes in a canonical dataflow order, whatever order its Python forward computed
    them in: a depth-first walk back from each output (the main output first, then side outputs),
    each node emitted after its inputs, visited in argument order (concat's branches as they are
    concatenated), a parameter read (get_attr) after the computation it scales (``layer_scale * x``
    reads the scale after x, as a spec writes it). With ``tensor_shapes`` (node -> the shapes of the
    tensors it reads), a sum's operands are visited in the canonical order of :func:`_add_operand_order`."""
    nodes = list(graph.nodes)
    canonical = _add_operand_order(graph, tensor_shapes) if tensor_shapes else {}
    out = next((n for n in nodes if n.op == "output"), None)
    roots: list = []

    def flat(a):
        if isinstance(a, (tuple, list)):
            for x in a:
                flat(x)
        elif hasattr(a, "op"):
            roots.append(a)

    if out is not None:
        flat(out.args[0])
    # the main output first, then the side outputs in the order the graph computes them
    # (torchvision's GoogLeNet returns (x, aux2, aux1); netc returns its heads as they hang off)
    where = {n: i for i, n in enumerate(nodes)}
    roots = roots[:1] + sorted(roots[1:], key=lambda n: where.get(n, 0))
    order, done = [], set()
    for root in roots:
        stack = [(root, False)]
        while stack:
            n, expanded = stack.pop()
            if n in done:
                continue
            if expanded:
                done.add(n)
                order.append(n)
                continue
            stack.append((n, True))
            ins = canonical.get(n) or [a for a in n.all_input_nodes if a.op != "get_attr"]
            ins = ins + [a for a in n.all_input_nodes if a.op == "get_attr"]
            stack.extend((a, False) for a in reversed(ins) if a not in done)
    return order + [n for n in nodes if n not in done]


class _LeafTracer(fx.Tracer):
    """torch.fx's tracer, with a module that holds tensors and has no submodules kept as one call."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        from netc.importers.fx_import import _is_leaf     # timm's layers read whole, as the importer reads them
        if super().is_leaf_module(m, qualname) or _is_leaf(m):
            return True
        return next(m.children(), None) is None and (
            next(m.parameters(recurse=False), None) is not None or next(m.buffers(recurse=False), None) is not None)


def _example_input(model: nn.Module):
    """A zero input of the compiled model's size (64 x 64 where its size is free), or None."""
    info = getattr(model, "netc", None) or {}
    shape, least = info.get("input"), info.get("min_input") or (1, 1)
    if not shape or len(shape) != 3 or not isinstance(shape[0], int):
        return None
    hw = [d if isinstance(d, int) else max(64, m) for d, m in zip(shape[1:], least)]
    return torch.zeros(1, shape[0], *hw)


def _by_execution(module: nn.Module, example) -> list[tuple[str, torch.Tensor]] | None:
    """The tensors of ``module`` in the order one run of it (in eval mode, without gradients) first
    calls the modules that hold them, then any it did not call; None when the run fails. For a
    module torch.fx cannot trace (ultralytics' C2f splits with list(...chunk()), its DetectionModel
    reads earlier layers' outputs by index): a C2f uses its cv2 after its bottlenecks, though it
    registers cv2 first."""
    order, seen, hooks = [], set(), []

    def called(m, _args):
        if m not in seen:
            seen.add(m)
            order.append(m)

    for m in module.modules():
        if next(m.parameters(recurse=False), None) is not None or next(m.buffers(recurse=False), None) is not None:
            hooks.append(m.register_forward_pre_hook(called))
    was = module.training
    try:
        module.eval()
        with torch.no_grad():
            module(example)
    except Exception:  # noqa: BLE001 - the run is a best effort; registration order stays
        return None
    finally:
        for h in hooks:
            h.remove()
        module.train(was)
    names = {m: n for n, m in module.named_modules()}
    sd = module.state_dict(keep_vars=True)
    keys: dict[str, None] = {}
    for m in order:
        prefix = names[m] + "." if names.get(m) else ""
        keys.update((k, None) for k in sd if k.startswith(prefix) and "." not in k[len(prefix):])
    keys.update((k, None) for k in sd)
    return [(k, sd[k]) for k in keys if not k.endswith("num_batches_tracked") and isinstance(sd[k], torch.Tensor)]


def dataflow_tensors(module: nn.Module, sums_by_shape: bool = False, example=None) -> list[tuple[str, torch.Tensor]]:
    """(state_dict key, tensor) in dataflow order: the layers feeding the main output in the
    order the traced graph runs them, then side outputs' layers (auxiliary heads, traced in
    training mode), each module's parameters and buffers in its own order. A module torch.fx
    cannot trace keeps its registration order (with a warning), or with ``example`` (an input)
    the order one run of it calls the modules that hold tensors (:func:`_by_execution`).

    A module without submodules that holds tensors of its own is traced as one call (torchvision's
    FrozenBatchNorm2d reads its weight, bias, running_var, running_mean in its forward; as one call
    its tensors come in the order it registers them, as netc's do). ``sums_by_shape``: a sum's
    operands are visited in an order their shapes decide (:func:`_add_operand_order`), so that two
    modules pair whatever order each adds its branches in (the importers, which pair a spec with
    the layer list it was printed from, keep the order as written)."""
    was = module.training
    try:
        module.train(True)
        graph = module.graph if isinstance(module, fx.GraphModule) else _LeafTracer().trace(module)
    except Exception as e:  # noqa: BLE001 - any tracing failure: fall back, and say so
        run = None if example is None else _by_execution(module, example)
        warnings.warn(f"load_weights: torch.fx cannot trace {type(module).__name__} ({type(e).__name__}: {e}); "
                      "matching its tensors in " + ("the order one run of it uses them" if run is not None
                                                    else "registration order"), stacklevel=4)
        return run if run is not None else _tensors(module.state_dict())
    finally:
        module.train(was)
    sd = module.state_dict(keep_vars=True)

    def reads(n) -> list[str]:
        """The state_dict keys node ``n`` reads."""
        if n.op == "call_module":
            prefix = n.target + "."
            mine = [k for k in sd if k.startswith(prefix) and "." not in k[len(prefix):]]
            sub = module.get_submodule(n.target)
            from netc.importers.fx_import import tensor_order
            return [prefix + k for k in tensor_order(sub, list(sub.state_dict(keep_vars=True))) if prefix + k in sd] \
                or mine
        if n.op == "get_attr":
            return [n.target] if n.target in sd else [k for k in sd if k.startswith(n.target + ".")]
        return []

    read = {n: reads(n) for n in graph.nodes}
    shapes = {n: [tuple(sd[k].shape) for k in ks if isinstance(sd[k], torch.Tensor)
                  and not k.endswith("num_batches_tracked")] for n, ks in read.items() if ks}
    order = _walk_from_outputs(graph, shapes if sums_by_shape else None)
    keys: list[str] = []
    seen: set = set()
    for n in order:
        for k in read[n]:
            if k not in seen:
                seen.add(k)
                keys.append(k)
    keys += [k for k in sd if k not in seen]      # anything the graph does not use, last
    return [(k, sd[k]) for k in keys if not k.endswith("num_batches_tracked") and isinstance(sd[k], torch.Tensor)]
