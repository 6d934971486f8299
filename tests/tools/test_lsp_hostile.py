"""`netc lsp` against a hostile or broken client (issue #21: N09, N10, N11, N21).

* framing (N09, N21): a huge, negative or non-numeric Content-Length, no header, bytes that are not
  UTF-8 or not JSON, JSON nested 100,000 deep, binary garbage, a 10 MB header line, a null id, bad
  ranges: each bad frame is skipped with bounded memory, the server finds the next header and
  answers the next hover; error responses never carry a traceback; a bad NETC_LSP_* value is a
  usage error (exit 2).
* coalescing (N10): a burst of changes is analysed once, at its newest version, after the requests
  that came with it are answered.
* documents never opened (N11): a FIFO, /dev/zero or a huge file is not read; a small regular
  file is.

Nothing here measures time: the tests count answers and publishes, and a hang fails through a
client timeout.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("pygls")

from netc.tools.lsp import analysis as A  # noqa: E402
from netc.tools.lsp import transport  # noqa: E402
from netc.tools.lsp.transport import MAX_LINE, Framer  # noqa: E402

GOOD = "input 32x32 RGB\nconv3-16\nmaxpool\nFC-10\n"
WAIT = 60                                           # seconds before a missing answer fails a test


def frame(message) -> bytes:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


# ---------------------------------------------------------------- the framer, in process
BODY = json.dumps({"jsonrpc": "2.0", "id": 999, "method": "textDocument/hover", "params": None}).encode()
NEXT = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "shutdown"}).encode()

BAD_FRAMES = {
    "huge-length": b"Content-Length: 99999999999\r\n\r\n" + BODY,
    "huge-length-then-megabytes": b"Content-Length: 99999999999\r\n\r\n" + b"x" * 3_000_000,
    "negative-length": b"Content-Length: -5\r\n\r\n" + BODY,
    "nonnumeric-length": b"Content-Length: abc\r\n\r\n" + BODY,
    "no-header": BODY + b"\r\n",
    "garbage-binary": random.Random(21).randbytes(5000),
    "header-flood": b"X-Foo: " + b"a" * 10_000_000 + b"\r\n",
    "line-flood": b"Content-Type: x\r\n" * 100_000,
}


@pytest.mark.parametrize("name", BAD_FRAMES)
def test_framer_skips_a_bad_frame_in_bounded_memory_and_finds_the_next(name):
    f, out, peak = Framer(), [], 0
    data = BAD_FRAMES[name] + frame(NEXT)
    for i in range(0, len(data), 65536):
        out += f.feed(data[i:i + 65536])
        peak = max(peak, len(f.buf))
    assert out == [NEXT]
    assert peak <= MAX_LINE + 65536                 # never the 10 MB line, never the announced length
    if name != "line-flood":
        assert f.notes                              # logged (one line each)


def test_framer_gives_the_same_bodies_however_the_input_is_split():
    data = frame(BODY) + b"Content-Length: -1\r\n\r\n{}" + frame(b"{\r\n}") + b"junk\n" + frame(NEXT)
    for step in (1, 2, 7, len(data)):
        f, out = Framer(), []
        for i in range(0, len(data), step):
            out += f.feed(data[i:i + step])
        assert out == [BODY, b"{\r\n}", NEXT], step


def test_framer_refuses_a_body_over_the_limit_and_keeps_headers_it_does_not_know():
    f = Framer(max_body=10)
    out = f.feed(b"Content-Length: 11\r\n\r\n" + b"y" * 11 + frame(b"[1]")
                 + b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n" + frame(b"[2]"))
    assert out == [b"[1]", b"[2]"]
    assert "refused" in f.notes[0]


def test_transport_docstring_examples():
    import doctest
    result = doctest.testmod(transport)
    assert result.attempted and not result.failed


# ---------------------------------------------------------------- documents never opened, in process
def _read_in_thread(uri: str) -> str | None:
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("text", A.read_unopened(uri)), daemon=True)
    t.start()
    t.join(WAIT)
    assert not t.is_alive(), f"reading {uri} blocked"
    return out["text"]


def test_read_unopened_reads_small_regular_files_only(tmp_path):
    spec = tmp_path / "spec.net"
    spec.write_text(GOOD)
    os.mkfifo(tmp_path / "fifo.net")
    with open(tmp_path / "huge.net", "wb") as f:    # sparse: costs no disk
        f.truncate(A.DISK_LIMIT + 1)
    (tmp_path / "latin1.net").write_bytes(b"# caf\xe9\ninput 8x8 RGB\n")
    assert _read_in_thread(spec.as_uri()) == GOOD
    assert _read_in_thread((tmp_path / "fifo.net").as_uri()) == ""
    assert _read_in_thread("file:///dev/zero") == ""
    assert _read_in_thread(tmp_path.as_uri()) == ""
    assert _read_in_thread((tmp_path / "huge.net").as_uri()) == ""
    assert _read_in_thread((tmp_path / "missing.net").as_uri()) == ""
    assert _read_in_thread("file:///tmp/nul%00.net") == ""
    assert _read_in_thread("untitled:Untitled-1") == ""
    assert _read_in_thread((tmp_path / "latin1.net").as_uri()) == "# caf\ufffd\ninput 8x8 RGB\n"


# ---------------------------------------------------------------- the server, end to end
class Client:
    """A raw LSP client: writes any bytes, reads every message the server sends."""

    def __init__(self, tmp: Path, env: dict | None = None):
        self.err = open(tmp / "lsp-stderr.txt", "w+b")
        self.p = subprocess.Popen([sys.executable, "-m", "netc.tools.cli", "lsp"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self.err, env=env)
        self.msgs: list[dict] = []
        self.cond = threading.Condition()
        self.id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        f = self.p.stdout
        while True:
            line = f.readline()
            if not line:
                with self.cond:
                    self.cond.notify_all()
                return
            if line.lower().startswith(b"content-length"):
                n = int(line.split(b":")[1])
                while f.readline() not in (b"\r\n", b""):
                    pass
                msg = json.loads(f.read(n))
                with self.cond:
                    self.msgs.append(msg)
                    self.cond.notify_all()

    def raw(self, data: bytes) -> None:
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def send(self, obj) -> None:
        self.raw(frame(obj))

    def request(self, method: str, params) -> int:
        self.id += 1
        self.send({"jsonrpc": "2.0", "id": self.id, "method": method, "params": params})
        return self.id

    def note(self, method: str, params) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def wait(self, pred) -> dict:
        """The first message that satisfies ``pred``; fails the test after WAIT seconds."""
        def found():
            return next((m for m in self.msgs if pred(m)), None) or self.p.poll() is not None
        with self.cond:
            ok = self.cond.wait_for(found, WAIT)
            hit = next((m for m in self.msgs if pred(m)), None)
        state = "alive" if self.p.poll() is None else f"exited {self.p.returncode}"
        assert ok and hit is not None, f"no answer (the server is {state})"
        return hit

    def answer(self, rid: int) -> dict:
        return self.wait(lambda m: m.get("id") == rid and ("result" in m or "error" in m))

    def init(self, root: Path) -> None:
        self.answer(self.request("initialize", {"processId": None, "rootUri": root.as_uri(), "capabilities": {}}))
        self.note("initialized", {})

    def open(self, uri: str, text: str, version: int = 1) -> None:
        self.note("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "netc", "version": version,
                                                            "text": text}})

    def hover(self, uri: str, line: int = 1, ch: int = 2) -> dict:
        return self.answer(self.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                               "position": {"line": line, "character": ch}}))

    def publishes(self, uri: str) -> list[dict]:
        with self.cond:
            return [m["params"] for m in self.msgs
                    if m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri]

    def stderr(self) -> str:
        self.err.flush()
        self.err.seek(0)
        return self.err.read().decode("utf-8", "replace")

    def close(self) -> int:
        try:
            self.answer(self.request("shutdown", None))
            self.note("exit", None)
            return self.p.wait(WAIT)
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait()
            self.err.close()


def _no_tracebacks(c: Client) -> None:
    with c.cond:
        errors = [m["error"] for m in c.msgs if "error" in m]
    assert all("data" not in e and "Traceback" not in e["message"] for e in errors), errors
    assert "Traceback" not in c.stderr() and 'File "' not in c.stderr()


@pytest.fixture(scope="module")
def lsp(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lsp-hostile")
    c = Client(tmp)
    c.init(tmp)
    c.tmp = tmp
    c.doc = (tmp / "a.net").as_uri()
    c.open(c.doc, GOOD)
    yield c
    assert c.close() == 0


def _hovers_conv(c: Client) -> None:
    m = c.hover(c.doc, 1, 2)
    assert "result" in m and "conv3-16" in m["result"]["contents"]["value"], m


def _hostile(uri: str) -> dict[str, bytes]:
    def change(version, changes, target=uri):
        return frame({"jsonrpc": "2.0", "method": "textDocument/didChange",
                      "params": {"textDocument": {"uri": target, "version": version}, "contentChanges": changes}})
    body = json.dumps({"jsonrpc": "2.0", "id": 999, "method": "textDocument/hover",
                       "params": {"textDocument": {"uri": uri}, "position": {"line": 1, "character": 2}}}).encode()
    return {
        "huge-length": b"Content-Length: 99999999999\r\n\r\n" + body,
        "negative-length": b"Content-Length: -5\r\n\r\n" + body,
        "nonnumeric-length": b"Content-Length: abc\r\n\r\n" + body,
        "no-header": body + b"\r\n",
        "non-utf8": b"Content-Length: 6\r\n\r\n\xff\xfe\xfd{}\x80",
        "invalid-json": b"Content-Length: 5\r\n\r\n{{{{{",
        "deep-json": frame(b"[" * 100_000 + b"]" * 100_000),
        "not-an-object": frame(b"[1, 2]"),
        "garbage-binary": random.Random(9).randbytes(5000),
        "header-flood": b"X-Foo: " + b"a" * 10_000_000 + b"\r\n",
        "null-id": frame({"jsonrpc": "2.0", "id": None, "method": "textDocument/hover", "params": None}),
        "list-id-response": frame({"jsonrpc": "2.0", "id": [1], "result": None}),
        "change-unopened": change(3, [{"range": {"start": {"line": 99, "character": 99},
                                                  "end": {"line": 0, "character": 0}}, "text": "x"}],
                                  uri.replace("a.net", "zz.net")),
        "change-negative-position": change(3, [{"range": {"start": {"line": 99999, "character": -5},
                                                           "end": {"line": 0, "character": 0}}, "text": "x" * 1000}]),
    }


def test_every_hostile_frame_is_skipped_and_the_next_hover_answered(lsp):
    for name, payload in _hostile(lsp.doc).items():
        lsp.raw(payload)
        _hovers_conv(lsp)                        # fails (timeout) if the server died or lost the framing
        assert lsp.p.poll() is None, name
    with lsp.cond:
        assert not any(m.get("id") == 999 for m in lsp.msgs)     # the skipped frames' bodies were not run
    _no_tracebacks(lsp)


def test_requests_that_do_not_fit_the_protocol_get_errors_without_tracebacks(lsp):
    pos = {"textDocument": {"uri": lsp.doc}, "position": {"line": 2 ** 31 - 1, "character": 2 ** 31 - 1}}
    bad = lsp.request("textDocument/hover", None)
    worse = lsp.request("textDocument/hover", {"textDocument": {"uri": lsp.doc},
                                                "position": {"line": 10 ** 12, "character": 0}})
    lsp.id += 1
    lsp.send({"jsonrpc": "2.0", "id": lsp.id, "method": 5, "params": None})
    assert lsp.answer(bad)["error"]["code"] == -32602
    assert lsp.answer(worse)["error"]["code"] == -32602
    assert lsp.answer(lsp.id)["error"]["code"] == -32600
    for method in ("textDocument/hover", "textDocument/definition", "textDocument/completion",
                   "textDocument/signatureHelp"):
        assert "result" in lsp.answer(lsp.request(method, pos)), method     # past the end: answered
    far = {"start": {"line": 2 ** 31 - 1, "character": 0}, "end": {"line": 0, "character": 0}}
    hints = lsp.request("textDocument/inlayHint", {"textDocument": {"uri": lsp.doc}, "range": far})
    assert lsp.answer(hints)["result"] == []
    nul = {"textDocument": {"uri": "file:///tmp/x%00.net"}, "position": {"line": 0, "character": 0}}
    assert lsp.answer(lsp.request("textDocument/hover", nul))["result"] is None
    _hovers_conv(lsp)
    _no_tracebacks(lsp)


def test_a_reversed_range_is_applied_from_its_first_end(lsp):
    uri = (lsp.tmp / "reversed.net").as_uri()
    lsp.open(uri, "input 8x8 RGB\nmaxpol\nFC-2\n")
    assert lsp.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                    and m["params"]["uri"] == uri)["params"]["diagnostics"]
    lsp.note("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [
        {"range": {"start": {"line": 1, "character": 6}, "end": {"line": 1, "character": 0}}, "text": "maxpool"}]})
    p = lsp.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                 and m["params"]["uri"] == uri and m["params"].get("version") == 2)
    assert p["params"]["diagnostics"] == []


def test_a_burst_of_changes_is_analysed_once_at_its_newest_version(lsp):
    """N10: only the newest version is analysed (one publish), and a hover on another document
    sent with the burst is answered before that analysis."""
    _hovers_conv(lsp)                                    # the server has handled everything before
    uri = "untitled:h"
    texts = [f"input 8x8 RGB\nconv3-{n}\nFC-2\n" for n in range(1, 14)]
    burst = frame({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
        "textDocument": {"uri": uri, "languageId": "netc", "version": 1, "text": texts[0]}}})
    for v in range(2, 14):
        burst += frame({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
            "textDocument": {"uri": uri, "version": v}, "contentChanges": [{"text": texts[v - 1]}]}})
    lsp.id += 1
    burst += frame({"jsonrpc": "2.0", "id": lsp.id, "method": "textDocument/hover", "params": {
        "textDocument": {"uri": lsp.doc}, "position": {"line": 1, "character": 2}}})
    assert len(burst) < 4096                             # one write the server reads at once (PIPE_BUF)
    lsp.raw(burst)
    hover_id = lsp.id
    last = lsp.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri)
    assert last["params"]["version"] == 13               # the first publish is the newest version
    h = lsp.hover(uri, 1, 2)                             # everything before it has been sent
    assert "conv3-13" in h["result"]["contents"]["value"]
    assert [p["version"] for p in lsp.publishes(uri)] == [13]
    with lsp.cond:
        order = [i for i, m in enumerate(lsp.msgs) if m.get("id") == hover_id or m is last]
        assert lsp.msgs[order[0]].get("id") == hover_id  # the hover did not wait for the analysis


def test_documents_never_opened_are_read_only_if_small_regular_files(lsp):
    """N11: a hover on a FIFO, /dev/zero or a huge file answers None at once; on a small file it
    reads the file; the server answers as usual afterwards."""
    tmp = lsp.tmp
    os.mkfifo(tmp / "fifo.net")
    with open(tmp / "huge.net", "wb") as f:
        f.truncate(A.DISK_LIMIT + 1)
    (tmp / "disk.net").write_text(GOOD)
    for path in (tmp / "fifo.net", Path("/dev/zero"), tmp / "huge.net", tmp):
        assert lsp.hover(path.as_uri(), 0, 0)["result"] is None, path
    assert "conv3-16" in lsp.hover((tmp / "disk.net").as_uri(), 1, 2)["result"]["contents"]["value"]
    _hovers_conv(lsp)
    assert lsp.publishes((tmp / "fifo.net").as_uri()) == []


def test_an_error_response_never_carries_a_traceback(tmp_path):
    c = Client(tmp_path)
    m = c.hover((tmp_path / "a.net").as_uri())         # before initialize: pygls fails internally
    assert m["error"]["code"] == -32603 and "data" not in m["error"]
    c.init(tmp_path)
    _no_tracebacks(c)
    assert c.close() == 0


@pytest.mark.parametrize("name,value", [("NETC_LSP_TIMEOUT", "abc"), ("NETC_LSP_TIMEOUT", "nan"),
                                        ("NETC_LSP_MEMORY_MB", "abc"), ("NETC_LSP_MEMORY_MB", "12")])
def test_a_bad_environment_value_is_a_usage_error(name, value):
    out = subprocess.run([sys.executable, "-m", "netc.tools.cli", "lsp"], stdin=subprocess.DEVNULL, capture_output=True,
                         text=True, env={**os.environ, name: value}, timeout=WAIT)
    assert out.returncode == 2, out.stderr
    assert name in out.stderr and "internal error" not in out.stderr and "Traceback" not in out.stderr
