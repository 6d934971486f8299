"""``netc lsp``: the language server (pygls), over stdio.

Each document version is analysed once (:func:`netc.tools.lsp.analysis.analyse`) and every feature
reads that analysis. Diagnostics are published from a task scheduled on each change; a burst of
changes is coalesced: the task waits until the input read so far is handled (the transport hands
every message of a read over at once, :mod:`.transport`), and a task whose version is no longer the
newest does nothing, so only the newest version is analysed. A request that arrives first (hover,
definition) analyses the newest version itself.

Hostile input: frames are read with bounded memory and resynchronised (:mod:`.transport`); error
responses carry no traceback; a change to a document that is not open, or with a reversed range, is
not an error; a document the client never opened is read from disk only if it is a small regular
file (:func:`.analysis.read_unopened`: never a FIFO or a device).
"""
from __future__ import annotations

import asyncio
import logging
from urllib.parse import unquote

from lsprotocol import types as T
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method
from pygls.workspace import TextDocument

from netc import __version__
from netc.dsl.errors import NetcError

from netc.tools.lsp.adapter import format_text
from netc.tools.lsp.analysis import ENCODING, Analysis, analyse, limit_memory, read_unopened
from netc.tools.lsp.complete import complete, signature_help
from netc.tools.lsp.hover import hover
from netc.tools.lsp.inlay import inlay_hints
from netc.tools.lsp.navigate import definition, folding, references, symbols


log = logging.getLogger("netc.tools.lsp")

#: how long a change waits for the next before it is analysed (a burst arriving in several reads)
DEBOUNCE_S = 0.005


class NetcProtocol(LanguageServerProtocol):
    """pygls' protocol, less its hostility to hostile input."""

    def _send_response(self, msg_id, result=None, error=None):
        if error is not None and error.data is not None:       # pygls puts a traceback there
            error = T.ResponseError(code=error.code, message=error.message)
        super()._send_response(msg_id, result, error)

    @lsp_method(T.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: T.DidChangeTextDocumentParams):
        """Apply the changes of an open document; a change to one that is not open is ignored (pygls
        raises a KeyError), and a reversed range is taken from its first end to its last."""
        uri = params.text_document.uri
        if unquote(uri) not in self.workspace.text_documents:
            log.warning("a change to a document that is not open was ignored")
            return
        for change in params.content_changes:
            if isinstance(change, T.TextDocumentContentChangePartial):
                a, b = change.range.start, change.range.end
                if (a.line, a.character) > (b.line, b.character):
                    change = T.TextDocumentContentChangePartial(T.Range(b, a), change.text, change.range_length)
            self.workspace.update_text_document(params.text_document, change)
        if (user_handler := self.fm.features.get(T.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield user_handler, (params,), None


class NetcServer(LanguageServer):
    def __init__(self):
        super().__init__("netc", __version__, protocol_cls=NetcProtocol)
        self.analyses: dict[str, Analysis] = {}
        self.good: dict[str, Analysis] = {}           # the last analysis that parsed, per document
        self.published: dict[str, int | None] = {}
        self.inbox = None                              # the transport's queue of unhandled input

    def document(self, uri: str) -> TextDocument:
        """An open document, or one read from disk as :func:`.analysis.read_unopened` allows (pygls
        would read any path, a FIFO or /dev/zero included, in full, on every access)."""
        doc = self.workspace.text_documents.get(unquote(uri))
        if doc is None:
            doc = TextDocument(uri, source=read_unopened(uri), version=None,
                               position_codec=self.workspace.position_codec)
        return doc

    def is_open(self, uri: str) -> bool:
        return unquote(uri) in self.workspace.text_documents

    def analysis(self, uri: str) -> Analysis:
        doc = self.document(uri)
        if not self.is_open(uri):                      # not kept: nothing tells when it changes
            return analyse(uri, doc.source, None)
        a = self.analyses.get(uri)
        if a is None or a.version != doc.version or a.text != doc.source:
            a = analyse(uri, doc.source, doc.version)
            self.analyses[uri] = a
            if a.program is not None:
                self.good[uri] = a
        return a

    def analysis_at(self, uri: str, position: T.Position) -> Analysis:
        """The analysis to answer about a position: the current one, or while the document does not
        parse, the last one that did if nothing changed up to the cursor's line (same positions)."""
        a = self.analysis(uri)
        good = self.good.get(uri)
        if a.program is None and good is not None and good.lines[:position.line + 1] == a.lines[:position.line + 1]:
            return good
        return a

    async def publish_later(self, uri: str, version: int | None) -> None:
        await asyncio.sleep(DEBOUNCE_S)
        while self.inbox is not None and self.inbox.pending():
            await asyncio.sleep(DEBOUNCE_S)            # handle what was read first: it may be newer
        if not self.is_open(uri) or self.document(uri).version != version:
            return                                    # a newer change will publish
        a = self.analysis(uri)
        if self.published.get(uri, -1) == a.version and a.version is not None:
            return
        self.published[uri] = a.version
        self.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri, a.diagnostics, version=a.version))


server = NetcServer()


def _schedule(ls: NetcServer, uri: str) -> None:
    if not ls.is_open(uri):
        return
    doc = ls.document(uri)
    if doc.version is None:             # no versions to tell changes apart: always publish
        ls.published.pop(uri, None)
    asyncio.get_running_loop().create_task(ls.publish_later(uri, doc.version))


@server.feature(T.INITIALIZED)
def initialized(ls: NetcServer, params: T.InitializedParams):
    enc = ls.server_capabilities.position_encoding
    ENCODING["unit"] = str(getattr(enc, "value", enc) or "utf-16")


@server.feature(T.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: NetcServer, params: T.DidOpenTextDocumentParams):
    _schedule(ls, params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: NetcServer, params: T.DidChangeTextDocumentParams):
    _schedule(ls, params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: NetcServer, params: T.DidSaveTextDocumentParams):
    # files that include this one may change meaning; re-check every open document
    for uri in list(ls.workspace.text_documents):
        ls.analyses.pop(uri, None)
        ls.published.pop(uri, None)
        _schedule(ls, uri)


@server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: NetcServer, params: T.DidCloseTextDocumentParams):
    uri = params.text_document.uri
    for d in (ls.analyses, ls.good, ls.published):
        d.pop(uri, None)
    ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri, []))


@server.feature(T.TEXT_DOCUMENT_HOVER)
def on_hover(ls: NetcServer, params: T.HoverParams):
    a = ls.analysis_at(params.text_document.uri, params.position)
    return hover(a, a.pos(params.position))


@server.feature(T.TEXT_DOCUMENT_DEFINITION)
def on_definition(ls: NetcServer, params: T.DefinitionParams):
    a = ls.analysis_at(params.text_document.uri, params.position)
    return definition(a, a.pos(params.position)) or None


@server.feature(T.TEXT_DOCUMENT_REFERENCES)
def on_references(ls: NetcServer, params: T.ReferenceParams):
    a = ls.analysis(params.text_document.uri)          # references below the cursor must be current
    return references(a, a.pos(params.position), params.context.include_declaration) or None


@server.feature(T.TEXT_DOCUMENT_COMPLETION,
                T.CompletionOptions(trigger_characters=["(", ",", "-", "=", " "]))
def on_completion(ls: NetcServer, params: T.CompletionParams):
    uri = params.text_document.uri
    a = ls.analysis(uri)
    p = a.pos(params.position)
    return T.CompletionList(is_incomplete=False, items=complete(a, ls.good.get(uri), p.line, p.col - 1))


@server.feature(T.TEXT_DOCUMENT_SIGNATURE_HELP, T.SignatureHelpOptions(trigger_characters=["(", ","]))
def on_signature_help(ls: NetcServer, params: T.SignatureHelpParams):
    uri = params.text_document.uri
    a = ls.analysis(uri)
    p = a.pos(params.position)
    return signature_help(a, ls.good.get(uri), p.line, p.col - 1)


@server.feature(T.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def on_symbols(ls: NetcServer, params: T.DocumentSymbolParams):
    a = ls.analysis(params.text_document.uri)
    if a.program is None and params.text_document.uri in ls.good:
        a = ls.good[params.text_document.uri]
    return symbols(a)


@server.feature(T.TEXT_DOCUMENT_FOLDING_RANGE)
def on_folding(ls: NetcServer, params: T.FoldingRangeParams):
    return folding(ls.document(params.text_document.uri).source)


@server.feature(T.TEXT_DOCUMENT_INLAY_HINT)
def on_inlay_hint(ls: NetcServer, params: T.InlayHintParams):
    return inlay_hints(ls.analysis(params.text_document.uri), params.range)


@server.feature(T.TEXT_DOCUMENT_FORMATTING)
def on_formatting(ls: NetcServer, params: T.DocumentFormattingParams):
    doc = ls.document(params.text_document.uri)
    a = ls.analysis(params.text_document.uri)
    try:
        out = format_text(doc.source, a.path)
    except NetcError:
        return None                       # does not parse: the diagnostics say why
    if out == doc.source:
        return []
    end = T.Position(len(doc.lines), 0)
    return [T.TextEdit(T.Range(T.Position(0, 0), end), out)]


@server.feature(T.TEXT_DOCUMENT_CODE_ACTION,
                T.CodeActionOptions(code_action_kinds=[T.CodeActionKind.QuickFix]))
def on_code_action(ls: NetcServer, params: T.CodeActionParams):
    uri = params.text_document.uri
    a = ls.analysis(uri)
    want = params.range
    out = []
    for fix, d in ((f, d) for f in a.fixes for d in a.diagnostics if _overlaps(d.range, f.range)):
        if not _overlaps(fix.range, want):
            continue
        edit = T.WorkspaceEdit(changes={uri: [T.TextEdit(fix.range, fix.text)]})
        out.append(T.CodeAction(fix.title, kind=T.CodeActionKind.QuickFix, diagnostics=[d], edit=edit,
                                is_preferred=True))
    return _unique(out)


def _overlaps(r: T.Range, s: T.Range) -> bool:
    def key(p):
        return (p.line, p.character)
    return key(r.start) <= key(s.end) and key(s.start) <= key(r.end)


def _unique(actions: list[T.CodeAction]) -> list[T.CodeAction]:
    seen, out = set(), []
    for x in actions:
        k = (x.title, x.edit.changes and str(list(x.edit.changes.values())))
        if k not in seen:
            seen.add(k)
            out.append(x)
    return out


def ready() -> NetcServer:
    """The server, warmed up: the analysis' lazy imports and caches loaded, memory capped, what is
    loaded frozen for the collector."""
    import gc
    analyse("file:///warm-up.net", "input 8x8 RGB\nconv3-4 -> maxpool\nFC-2\n")     # lazy imports, caches
    gc.collect()
    limit_memory()   # a hostile spec meets a MemoryError (shown as a diagnostic), not the OOM killer
    gc.freeze()      # what is loaded now is never garbage: full collections stay short (max 250 -> 70 ms)
    return server
