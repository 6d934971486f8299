"""netc lsp : the language server for .net files, speaking LSP over stdin and stdout.

Editors start it (editors/vscode/ does); it needs the ``lsp`` extra (pygls): ``pip install netc[lsp]``.
"""
from __future__ import annotations

from netc.dsl.errors import UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("lsp", help="run the language server (LSP over stdio) for editors",
                       description="Run the netc language server: diagnostics, hover, go to definition, "
                                   "completion, formatting for .net files, over stdin/stdout.")
    p.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (the default and only transport)")
    p.set_defaults(run=run)


def run(args) -> int:
    import importlib.util
    if importlib.util.find_spec("pygls") is None:
        raise UsageError("netc lsp needs pygls", hint="pip install 'netc[lsp]' (or pip install pygls)")
    from netc.tools.lsp import settings  # noqa: F401  (NETC_LSP_TIMEOUT/MEMORY_MB: a bad value is a usage error)
    from netc.tools.lsp import serve
    return serve()
