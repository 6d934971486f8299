"""Importers: released networks (Caffe prototxt / caffemodel, ONNX, PyTorch modules) -> spec text.

Each importer reads its source into the neutral layer graph of :mod:`netc.importers.graph`; one
printer (:mod:`netc.importers.printer`) writes that graph as a readable spec. Nothing in an
imported file is ever executed: prototxt and caffemodel files are decoded with ``protobuf``,
ONNX files with ``onnx``. Only :func:`from_torch` runs code: the module you hand it.
"""
from __future__ import annotations

import os

from netc.importers.graph import ImportError_, Layer, Net


def header(net: Net, what: str) -> list[str]:
    src = os.path.basename(net.source) if net.source else "?"
    lines = [f"{net.name or src}: imported by netc import from {src} ({what})."]
    return lines + list(net.comments)


def from_caffe(path: str, text: str | None = None, input_size: tuple | None = None) -> str:
    """The spec text of a Caffe prototxt (V0, V1 or V2); ``input_size`` (C, H, W) where the file
    does not state its input."""
    from netc.importers import caffe
    from netc.importers.printer import to_spec
    net = caffe.read(path, text, input_size)
    return to_spec(net, header(net, "Caffe prototxt"))


def from_onnx(path: str) -> str:
    """The spec text of an ONNX file."""
    from netc.importers import onnx_import
    from netc.importers.printer import to_spec
    net = onnx_import.read(path)
    return to_spec(net, header(net, "ONNX"))


def from_torch(module, example_input) -> str:
    """The spec text of a PyTorch module, traced with torch.fx (torch.export where fx cannot)."""
    from netc.importers import fx_import
    from netc.importers.printer import to_spec
    net = fx_import.read(module, example_input)
    return to_spec(net, header(net, "a PyTorch module, traced"))


__all__ = ["from_caffe", "from_onnx", "from_torch", "ImportError_", "Layer", "Net"]
