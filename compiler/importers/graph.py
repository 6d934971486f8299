"""The neutral layer graph every importer produces and :mod:`netc.importers.printer` prints.

An importer (Caffe, ONNX, torch.fx) reads its source into a :class:`Net`: layers in dataflow
order, each with a netc kind (``conv``, ``fc``, ``maxpool`` ...), netc parameter names (``out``,
``k``, ``stride``, ``pad`` ...), the names of the layers it reads (``"input"`` for the network's
input) and where it came from (a line, a node), so that an error can point at it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from netc.dsl.errors import NetcError


class ImportError_(NetcError):
    """A source that netc cannot express (a layer kind it has no word for, a graph it cannot print)."""


@dataclass
class Layer:
    name: str                  # the source's name; "/" separates scopes (inception_3a/1x1)
    kind: str                  # a netc kind: conv fc maxpool avgpool lrn bn dropout relu softmax concat add ...
    params: dict = field(default_factory=dict)
    inputs: list = field(default_factory=list)
    where: str = ""            # "line 12", "node /features/0/Conv"
    act: str | None = None     # an activation fused into a conv / fc / bn ("relu")
    source_type: str = ""      # the source's own word for it (Convolution, nn.Conv2d)


@dataclass
class Net:
    layers: list[Layer]
    input: tuple | None = None            # (C, H, W); H, W None for any size
    channels: str | None = None           # RGB, BGR, gray; None: by the channel count
    outputs: list = field(default_factory=list)   # [(layer name, loss weight or None)], main first
    comments: list[str] = field(default_factory=list)
    name: str = ""
    source: str = ""                      # what was read: a file name, a module
    softmax_head: bool = False            # the main output feeds a soft-max (a loss or a prob layer)
    # a soft-max ending the main path is what the source returns (ONNX, a module): `output probs`;
    # False: the papers' trailing soft-max, left to the loss (a Caffe file's prob layer, as vgg:D has it)
    probs: bool = True

    def layer(self, name: str) -> Layer:
        return self.index()[name]

    def index(self) -> dict:
        return {l.name: l for l in self.layers}


def fail(message: str, layer: Layer | None = None, hint: str | None = None) -> ImportError_:
    """An import error naming the layer, its type and where it is in the source."""
    if layer is not None:
        at = f" ({layer.where})" if layer.where else ""
        message = f"layer '{layer.name}' of type {layer.source_type or layer.kind}{at}: {message}"
    return ImportError_(message, hint=hint)


def split_joins(layers: list[Layer]) -> list[Layer]:
    """A concat whose branches each start with the next part of one tensor (``x.chunk(2, 1)``: the
    first half passed through, the second through layers, ShuffleNet's unit) is ``split(n) {
    identity ; ... }``: each branch reads the tensor and the split gives it its part. Returns the
    layers without those parts (the ``chunk`` layers the splits stand for)."""
    cons: dict = {}
    for l in layers:
        for i in l.inputs:
            cons.setdefault(i, []).append(l)
    idx = {l.name: l for l in layers}
    gone: set = set()
    for j in layers:
        if j.kind != "concat" or len(j.inputs) < 2 or j.params.get("axis", "channels") != "channels" \
                or j.params.get("crop"):
            continue
        starts = []         # per branch: (the chunk layer, the layer that reads it, or None: the concat)
        for end in j.inputs:
            l, reader = idx.get(end), None
            for _ in range(len(layers)):
                if l is None or l.kind == "chunk" or len(l.inputs) != 1 or len(cons.get(l.inputs[0], [])) != 1:
                    break
                l, reader = idx.get(l.inputs[0]), l
            starts.append((l, reader))
        chunks = [c for c, _ in starts]
        if any(c is None or c.kind != "chunk" or c.name in gone or len(cons.get(c.name, [])) != 1 for c in chunks):
            continue
        src, parts = chunks[0].inputs[0], chunks[0].params["parts"]
        n = len(parts) if isinstance(parts, list) else parts
        if n != len(chunks) or any(c.inputs[0] != src or c.params["parts"] != parts or c.params["index"] != i
                                   for i, c in enumerate(chunks)):
            continue
        for c, reader in starts:
            if reader is None:
                j.inputs = [src if i == c.name else i for i in j.inputs]
            else:
                reader.inputs = [src]
            gone.add(c.name)
        j.kind, j.params = "split", {"parts": parts}
    return [l for l in layers if l.name not in gone]
