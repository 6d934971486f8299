"""The netc language server (``netc lsp``): diagnostics, hover, go to definition, references,
completion, symbols, formatting and folding for ``.net`` files, over stdio (pygls).

The analysis (:mod:`netc.tools.lsp.analysis`) and the features (:mod:`.hover`, :mod:`.navigate`,
:mod:`.complete`) are plain functions of a document's text; :mod:`.server` wires them to pygls.
Nothing here imports torch.
"""
from __future__ import annotations


def serve() -> int:
    from netc.tools.lsp.server import serve as _serve
    return _serve()
