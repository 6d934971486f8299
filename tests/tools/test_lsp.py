"""`netc lsp` end to end: a pytest-lsp client talks to the server over stdio (one server for the
module). Diagnostics appear and clear, did-you-mean fixes are code actions, hover shows shapes and
costs, definitions and references land on the right lines, completion, symbols, formatting, folding.
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

pytest.importorskip("pygls")
pytest_lsp = pytest.importorskip("pytest_lsp")
from lsprotocol import types as T  # noqa: E402
from pytest_lsp import ClientServerConfig, LanguageClient  # noqa: E402

import netc  # noqa: E402

pytestmark = pytest.mark.asyncio(loop_scope="module")

SPEC = """\
input 32x32 RGB
var num_classes = 10
block unit(c) {
    conv3-c
    conv3-c
}
conv3-16
unit(32)
maxpol
FC-num_classes
"""
FIXED = SPEC.replace("maxpol\n", "maxpool\n")
VGG = netc.bundled_dir() / "vgg.net"


@pytest_lsp.fixture(scope="module", config=ClientServerConfig(server_command=[sys.executable, "-m", "netc.tools.cli", "lsp"]))
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(T.InitializeParams(capabilities=T.ClientCapabilities(),
                                                           root_uri=Path.cwd().as_uri()))
    yield
    await lsp_client.shutdown_session()


_version = [0]


async def notified(client: LanguageClient) -> None:
    await asyncio.wait_for(client.wait_for_notification(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), 60)


async def put(client: LanguageClient, uri: str, text: str) -> list[T.Diagnostic]:
    """Open (or replace) a document and wait for its diagnostics."""
    _version[0] += 1
    client.diagnostics.pop(uri, None)
    if _version[0] == 1 or uri not in getattr(client, "_opened", set()):
        client._opened = getattr(client, "_opened", set()) | {uri}
        client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(uri, "netc", _version[0], text)))
    else:
        client.text_document_did_change(T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(_version[0], uri), [T.TextDocumentContentChangeWholeDocument(text)]))
    while True:
        await notified(client)
        if uri in client.diagnostics:
            return list(client.diagnostics[uri])


def uri_of(tmp: Path, name: str = "probe.net") -> str:
    return (tmp / name).as_uri()


def at(line: int, char: int) -> T.Position:
    return T.Position(line, char)


async def test_diagnostics_appear_with_range_and_hint_then_clear(client, tmp_path):
    uri = uri_of(tmp_path)
    diags = await put(client, uri, SPEC)
    assert len(diags) == 1
    d = diags[0]
    assert d.range == T.Range(at(8, 0), at(8, 6))
    assert d.severity == T.DiagnosticSeverity.Error and d.source == "netc"
    assert "unknown layer 'maxpol'" in d.message and "did you mean 'maxpool'?" in d.message
    assert await put(client, uri, FIXED) == []


async def test_every_error_of_the_file_is_reported(client, tmp_path):
    text = "input 32x32 RGB\nconv3-16(strid=2)\nmaxpol\nFC-num_clases\n"
    diags = await put(client, uri_of(tmp_path, "many.net"), text)
    assert [d.range.start.line for d in diags] == [1, 2, 3]
    assert [e.message for e in netc.check(text)] == [d.message.split("\n")[0] for d in diags]


async def test_syntax_error_is_a_diagnostic(client, tmp_path):
    diags = await put(client, uri_of(tmp_path, "syntax.net"), "input 32x32 RGB\nconv3-16 ->\n")
    assert len(diags) == 1 and diags[0].range.start.line == 1


async def test_did_you_mean_is_a_quick_fix(client, tmp_path):
    uri = uri_of(tmp_path, "fix.net")
    diags = await put(client, uri, SPEC)
    actions = await client.text_document_code_action_async(T.CodeActionParams(
        T.TextDocumentIdentifier(uri), diags[0].range, T.CodeActionContext(diagnostics=diags)))
    assert len(actions) == 1
    fix = actions[0]
    assert fix.kind == T.CodeActionKind.QuickFix and "maxpool" in fix.title
    (edit,) = fix.edit.changes[uri]
    assert edit.new_text == "maxpool" and edit.range == T.Range(at(8, 0), at(8, 6))


async def test_quick_fix_for_a_variable_inside_a_layer_word(client, tmp_path):
    uri = uri_of(tmp_path, "var.net")
    diags = await put(client, uri, FIXED.replace("FC-num_classes", "FC-num_clases"))
    actions = await client.text_document_code_action_async(T.CodeActionParams(
        T.TextDocumentIdentifier(uri), diags[0].range, T.CodeActionContext(diagnostics=diags)))
    (edit,) = actions[0].edit.changes[uri]
    assert edit.new_text == "num_classes" and edit.range == T.Range(at(9, 3), at(9, 13))


async def test_hover_on_a_layer_shows_shape_params_macs_rf(client, tmp_path):
    uri = uri_of(tmp_path, "hover.net")
    await put(client, uri, FIXED)
    h = await client.text_document_hover_async(T.HoverParams(T.TextDocumentIdentifier(uri), at(6, 3)))
    text = h.contents.value
    assert "conv3-16" in text and "conv1_1" in text
    assert "16x32x32" in text and "448" in text and "442,368" in text and "3 (stride 1)" in text
    assert h.range == T.Range(at(6, 0), at(6, 8))


async def test_hover_on_a_block_call_and_a_variable(client, tmp_path):
    uri = uri_of(tmp_path, "hover2.net")
    await put(client, uri, FIXED)
    h = await client.text_document_hover_async(T.HoverParams(T.TextDocumentIdentifier(uri), at(7, 1)))
    text = h.contents.value
    assert "block unit(c)" in text and "c=32" in text and "32x32x32" in text and f"{4640 + 9248:,}" in text
    h = await client.text_document_hover_async(T.HoverParams(T.TextDocumentIdentifier(uri), at(9, 6)))
    assert "var num_classes = 10" in h.contents.value and "FC-10" in h.contents.value
    h = await client.text_document_hover_async(T.HoverParams(T.TextDocumentIdentifier(uri), at(3, 10)))
    assert "parameter of `block unit(c)`" in h.contents.value and "32" in h.contents.value


async def test_hover_uses_the_configuration_under_the_cursor(client):
    uri = VGG.as_uri()
    text = VGG.read_text()
    await put(client, uri, text)
    lines = text.split("\n")
    row = next(i for i, l in enumerate(lines) if l.strip().startswith("conv3-64  | conv3-64"))
    col_d = [i for i in range(len(lines[row])) if lines[row].startswith("conv3-64", i)][4]
    h = await client.text_document_hover_async(T.HoverParams(T.TextDocumentIdentifier(uri), at(row, col_d + 2)))
    assert "configuration `D`" in h.contents.value and "conv1_1" in h.contents.value
    pool = next(i for i, l in enumerate(lines) if l.strip() == "maxpool")
    h = await client.text_document_hover_async(T.HoverParams(T.TextDocumentIdentifier(uri), at(pool, 8)))
    assert "configuration `A`" in h.contents.value and "64x112x112" in h.contents.value


async def test_definition_of_block_variable_base_include_and_edit_target(client, tmp_path):
    (tmp_path / "lib.net").write_text("block pair(c) {\n    conv3-c x2\n}\n")
    text = ("include \"lib.net\"\ninput 32x32 RGB\nvar n = 10\nconfig A {\n    conv3-16\n    pair(32)\n"
            "    maxpool\n    FC-n\n}\nconfig B extends A {\n    replace conv1_1 with conv5-16\n}\n")
    uri = uri_of(tmp_path, "nav.net")
    assert await put(client, uri, text) == []

    async def goto(line, char):
        r = await client.text_document_definition_async(T.DefinitionParams(T.TextDocumentIdentifier(uri), at(line, char)))
        return [(loc.uri.rsplit("/", 1)[-1], loc.range.start.line) for loc in r] if r else []

    assert await goto(5, 5) == [("lib.net", 0)]          # pair(32) -> block pair in the included file
    assert await goto(0, 12) == [("lib.net", 0)]         # the include line opens the file
    assert await goto(7, 8) == [("nav.net", 2)]          # FC-n -> var n
    assert await goto(9, 17) == [("nav.net", 3)]         # extends A -> config A
    assert await goto(10, 14) == [("nav.net", 4)]        # replace conv1_1 -> its layer in A


async def test_references_of_a_block(client, tmp_path):
    uri = uri_of(tmp_path, "refs.net")
    text = FIXED.replace("unit(32)\n", "unit(32)\nunit(32)\n")
    await put(client, uri, text)
    refs = await client.text_document_references_async(T.ReferenceParams(
        text_document=T.TextDocumentIdentifier(uri), position=at(2, 7),
        context=T.ReferenceContext(include_declaration=True)))
    assert sorted(r.range.start.line for r in refs) == [2, 7, 8]


async def test_completion(client, tmp_path):
    uri = uri_of(tmp_path, "complete.net")
    text = FIXED + "max\nconv3-16(str)\nmaxpool(ceil=tr)\nFC-num\n"
    await put(client, uri, text)

    async def labels(line, char):
        r = await client.text_document_completion_async(T.CompletionParams(T.TextDocumentIdentifier(uri), at(line, char)))
        return {i.label: i for i in (r.items if isinstance(r, T.CompletionList) else r)}

    items = await labels(10, 3)
    assert "maxpool" in items and "conv3-64" in items and "soft-max" in items
    assert "unit" in items and items["unit"].insert_text == "unit(${1:c})"
    assert "config" in items and items["config"].kind == T.CompletionItemKind.Keyword
    items = await labels(11, 12)
    assert {"stride=", "pad=", "groups=", "act="} <= set(items) and "p=" not in items
    assert "true" in await labels(12, 15)
    assert "num_classes" in await labels(13, 6)


async def test_completion_of_configurations_and_layer_names(client, tmp_path):
    uri = uri_of(tmp_path, "complete2.net")
    text = "input 32x32 RGB\nconfig A {\n    conv3-16\n    FC-10\n}\nconfig C extends A {\n    remove fc1\n}\n"
    await put(client, uri, text)                           # the last version that parsed gives the names
    await put(client, uri, text.replace("remove fc1", "remove ") + "config B extends \n")
    r = await client.text_document_completion_async(T.CompletionParams(T.TextDocumentIdentifier(uri), at(8, 17)))
    assert "A" in {i.label for i in r.items}
    r = await client.text_document_completion_async(T.CompletionParams(T.TextDocumentIdentifier(uri), at(6, 11)))
    assert {"conv1_1", "fc1"} <= {i.label for i in r.items}


async def test_document_symbols(client):
    uri = VGG.as_uri()
    await put(client, uri, VGG.read_text())
    syms = await client.text_document_document_symbol_async(T.DocumentSymbolParams(T.TextDocumentIdentifier(uri)))
    names = [s.name for s in syms]
    assert "num_classes" in names and "B-shallow" in names
    table = next(s for s in syms if s.name.startswith("table"))
    assert [c.name for c in table.children] == ["A", "A-LRN", "B", "C", "D", "E"]


async def test_formatting_and_folding(client, tmp_path):
    uri = uri_of(tmp_path, "fmt.net")
    messy = "input 32x32   RGB\nblock b(c) {\n  conv3-c\n     conv3-c\n}\nconv3-16->maxpool\nb(8)\nFC-10\n"
    await put(client, uri, messy)
    edits = await client.text_document_formatting_async(T.DocumentFormattingParams(
        T.TextDocumentIdentifier(uri), T.FormattingOptions(tab_size=4, insert_spaces=True)))
    assert len(edits) == 1
    from netc.dsl.fmt import format_text
    assert edits[0].new_text == format_text(messy)
    folds = await client.text_document_folding_range_async(T.FoldingRangeParams(T.TextDocumentIdentifier(uri)))
    assert [(f.start_line, f.end_line) for f in folds] == [(1, 3)]
    await put(client, uri, format_text(messy))
    edits = await client.text_document_formatting_async(T.DocumentFormattingParams(
        T.TextDocumentIdentifier(uri), T.FormattingOptions(tab_size=4, insert_spaces=True)))
    assert not edits


async def test_error_in_an_included_file_is_shown_where_this_file_reaches_it(client, tmp_path):
    (tmp_path / "bad.net").write_text("block b(c) {\n    maxpol\n}\n")
    uri = uri_of(tmp_path, "inc.net")
    diags = await put(client, uri, 'include "bad.net"\ninput 8x8 RGB\nb(3)\nFC-2\n')
    assert len(diags) == 1 and diags[0].range.start.line == 2           # the call b(3)
    assert "bad.net:2:5: unknown layer 'maxpol'" in diags[0].message
    assert diags[0].related_information[0].location.uri.endswith("/bad.net")
    (tmp_path / "bad2.net").write_text("block b(c) {\n    conv3-c ->\n}\n")        # a syntax error
    diags = await put(client, uri_of(tmp_path, "inc2.net"), 'include "bad2.net"\ninput 8x8 RGB\nFC-2\n')
    assert len(diags) == 1 and diags[0].range.start.line == 0            # the include line


async def test_an_untitled_document(client):
    uri = "untitled:Untitled-1"
    diags = await put(client, uri, SPEC)
    assert len(diags) == 1
    r = await client.text_document_definition_async(T.DefinitionParams(T.TextDocumentIdentifier(uri), at(7, 1)))
    assert [(loc.uri, loc.range.start.line) for loc in r] == [(uri, 2)]


async def test_a_burst_of_changes_ends_with_the_diagnostics_of_the_last(client, tmp_path):
    uri = uri_of(tmp_path, "burst.net")
    await put(client, uri, FIXED)
    client.diagnostics.pop(uri, None)
    texts = [FIXED.replace("conv3-16", f"conv3-{n}") for n in (17, 18, 19)] + [SPEC]
    for text in texts:
        _version[0] += 1
        client.text_document_did_change(T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(_version[0], uri), [T.TextDocumentContentChangeWholeDocument(text)]))
    while not client.diagnostics.get(uri):
        await notified(client)
    assert [d.range.start.line for d in client.diagnostics[uri]] == [8]


async def test_hover_above_a_line_being_typed_uses_the_last_version_that_parsed(client, tmp_path):
    uri = uri_of(tmp_path, "typing.net")
    await put(client, uri, FIXED)
    diags = await put(client, uri, FIXED + "conv3-8 ->\n")          # the last line does not parse yet
    assert len(diags) == 1 and diags[0].range.start.line == 10
    h = await client.text_document_hover_async(T.HoverParams(T.TextDocumentIdentifier(uri), at(6, 3)))
    assert h is not None and "16x32x32" in h.contents.value


async def test_inlay_hints_give_each_layer_its_output_shape(client, tmp_path):
    uri = uri_of(tmp_path, "inlay.net")
    await put(client, uri, FIXED.replace("conv3-16\n", "conv3-16 x2 -> maxpool\n"))
    hints = await client.text_document_inlay_hint_async(T.InlayHintParams(
        T.TextDocumentIdentifier(uri), T.Range(at(0, 0), at(20, 0))))
    got = [(h.position.line, h.position.character, h.label) for h in hints]
    assert got == [(6, 11, "\u25b8 16x32x32"), (6, 22, "\u25b8 16x16x16"), (7, 8, "\u25b8 32x16x16"),
                   (8, 7, "\u25b8 32x8x8"), (9, 14, "\u25b8 10")]


async def test_signature_help_inside_a_call(client, tmp_path):
    uri = uri_of(tmp_path, "sig.net")
    await put(client, uri, FIXED)
    await put(client, uri, FIXED + "unit(\nconv(64, 3, pad=\n")

    async def active(line, char):
        h = await client.text_document_signature_help_async(T.SignatureHelpParams(T.TextDocumentIdentifier(uri), at(line, char)))
        sig = h.signatures[h.active_parameter and 0]
        a, b = sig.parameters[h.active_parameter].label
        return sig.label, sig.label[a:b]

    assert await active(10, 5) == ("unit(c)", "c")
    label, param = await active(11, 16)
    assert label.startswith("conv(out, k, stride, pad=same") and param == "pad=same"
