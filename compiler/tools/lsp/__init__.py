"""The netc language server (``netc lsp``): diagnostics, hover, go to definition, references,
completion, symbols, formatting and folding for ``.net`` files, over stdio (pygls).

The analysis (:mod:`netc.tools.lsp.analysis`) and the features (:mod:`.hover`, :mod:`.navigate`,
:mod:`.complete`) are plain functions of a document's text; :mod:`.server` wires them to pygls.
Nothing here imports torch.
"""
from __future__ import annotations


def serve() -> int:
    """Speak LSP over stdin/stdout until the client says exit (or the input ends); the exit code.
    ``initialize`` is answered before pygls and the analysis are imported (:mod:`.transport`)."""
    from netc.tools.lsp.transport import configure_logging, run
    configure_logging()
    return run(_ready)


def _ready():
    from netc.tools.lsp.server import ready
    return ready()
