"""`netc lsp` answers `initialize` before pygls and the analysis are imported (an editor sees the server up
at once): the answer is pygls' own, for every kind of client, and the client gets it exactly once."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("pygls")

from netc.tools.lsp import transport  # noqa: E402

CLIENTS = {
    "bare": {"processId": None, "rootUri": None, "capabilities": {}},
    "utf-8 first": {"processId": 1, "rootUri": "file:///tmp", "capabilities": {"general": {"positionEncodings": ["utf-8", "utf-16"]}}},
    "utf-32 only": {"processId": None, "rootUri": None, "capabilities": {"general": {"positionEncodings": ["utf-32"]}}},
    "unknown encoding": {"processId": None, "rootUri": None, "capabilities": {"general": {"positionEncodings": ["latin-1"]}}},
    "everything": {"processId": None, "rootUri": None, "capabilities": {
        "general": {"positionEncodings": ["utf-16"]},
        "textDocument": {"rename": {"prepareSupport": True}, "synchronization": {"willSave": True, "willSaveWaitUntil": True}},
        "workspace": {"fileOperations": {"willRename": True, "didRename": True, "willCreate": True}},
        "notebookDocument": {"synchronization": {"dynamicRegistration": True}}}},
}


def _pygls_answer(params: dict) -> dict:
    """What pygls itself answers to this initialize (its protocol's handler, run in this process)."""
    from netc.tools.lsp.server import server
    proto = server.protocol
    msg = proto.structure_message({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params})
    gen = proto.lsp_initialize(msg.params)
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        result = stop.value
    return json.loads(json.dumps(result, default=proto._serialize_message))


@pytest.mark.parametrize("client", list(CLIENTS))
def test_the_quick_answer_is_pyglss_own(client):
    params = CLIENTS[client]
    assert transport.initialize_result(params) == _pygls_answer(params)


def _frame(obj) -> bytes:
    body = json.dumps(obj).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _messages(data: bytes) -> list[dict]:
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        n = int(head.split(b"Content-Length:")[1].split(b"\r\n")[0])
        out.append(json.loads(rest[:n]))
        data = rest[n:]
    return out


def test_one_answer_to_initialize_then_the_server_works():
    """initialize (UTF-8 offered), initialized, open a document, hover, shutdown, exit: one answer to
    initialize, the hover answered in the encoding negotiated, the diagnostics published, exit 0."""
    text = "input 8x8 RGB\n# \U0001d400\nconv3-4 as c\nFC-2\n"
    uri = "file:///tmp/quick.net"
    msgs = [{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": CLIENTS["utf-8 first"]},
            {"jsonrpc": "2.0", "method": "initialized", "params": {}},
            {"jsonrpc": "2.0", "method": "textDocument/didOpen",
             "params": {"textDocument": {"uri": uri, "languageId": "netc", "version": 1, "text": text}}},
            {"jsonrpc": "2.0", "id": 2, "method": "textDocument/hover",
             "params": {"textDocument": {"uri": uri}, "position": {"line": 2, "character": 1}}},
            {"jsonrpc": "2.0", "id": 3, "method": "shutdown"},
            {"jsonrpc": "2.0", "method": "exit"}]
    netc = os.path.join(os.path.dirname(sys.executable), "netc")
    p = subprocess.run([netc, "lsp"], input=b"".join(_frame(m) for m in msgs), capture_output=True, timeout=120)
    out = _messages(p.stdout)
    answers = [m for m in out if "method" not in m]
    assert [m["id"] for m in answers] == [1, 2, 3], answers
    assert answers[0]["result"]["capabilities"]["positionEncoding"] == "utf-8"
    assert "params" in json.dumps(answers[1]["result"]) or "conv3-4" in json.dumps(answers[1]["result"])
    assert p.returncode == 0, p.stderr.decode()[-500:]


def test_the_server_answers_initialize_before_importing_pygls():
    """The modules loaded when the answer to initialize is written: no pygls, no lsprotocol, no pydantic."""
    code = ("import sys, io, json\n"
            "from netc.tools.lsp import transport\n"
            "body = json.dumps({'jsonrpc': '2.0', 'id': 1, 'method': 'initialize', 'params': {'capabilities': {}}}).encode()\n"
            "data = b'Content-Length: %d\\r\\n\\r\\n' % len(body) + body\n"
            "seen = []\n"
            "class Out(io.BytesIO):\n"
            "    def write(self, b):\n"
            "        seen.append(sorted(m for m in sys.modules if m.split('.')[0] in ('pygls', 'lsprotocol', 'pydantic')))\n"
            "        return super().write(b)\n"
            "def make():\n"
            "    raise SystemExit(0)\n"
            "transport.run(make, stdin=io.BytesIO(data), stdout=Out())\n"
            "print(json.dumps(seen[0]))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-1000:]
    assert json.loads(p.stdout.strip().splitlines()[-1]) == []
