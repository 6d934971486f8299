"""The stdio transport of ``netc lsp``: frames read defensively, messages handed to pygls in batches.

pygls' own loop trusts its input: a ``Content-Length`` of 99999999999 is read in one piece (a
MemoryError that ends the server), and after a frame it cannot parse (a negative or non-numeric
length, bytes that are no header) it never finds the next one. Here:

* :class:`Framer` splits the byte stream into message bodies with bounded memory: a header line is
  at most :data:`MAX_LINE` bytes (a longer one is skipped in pieces), a body at most
  :data:`MAX_BODY` (a larger length is refused and its body skipped as garbage), and after any bad
  frame it resynchronises on the next ``Content-Length:`` header, wherever that starts in a line.
* a reader thread feeds the framer and hands every body it framed from one read to the event loop
  as one batch (:class:`Inbox`); the loop handles a whole batch before any scheduled work (the
  diagnostics of a document) runs, so a burst of changes is coalesced: only the newest version of a
  document is analysed (:meth:`Inbox.pending` tells the server that more input is on its way).
* a body that is not JSON, nests too deeply, or is not a JSON-RPC message is logged in one line
  and skipped; a request whose parameters do not fit the protocol gets an ``InvalidParams`` error.

Nothing is shown with a traceback: pygls' log lines are cut to their first line (``NETC_DEBUG=1``
keeps everything).
"""
from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import re
import sys
import threading

log = logging.getLogger("netc.tools.lsp")

#: the largest message body accepted (a larger Content-Length is refused and resynchronised past)
MAX_BODY = 32 * 1024 * 1024
#: the longest header line kept (a longer one is garbage, skipped in pieces)
MAX_LINE = 64 * 1024
#: bytes framed but not yet handled, past which the reader waits (back-pressure on the client)
MAX_PENDING = 2 * MAX_BODY

_MARK = b"content-length:"
_KEEP = 64                                   # what of an overlong line is kept: room for a header's start
_HEADER = re.compile(rb"[A-Za-z0-9][A-Za-z0-9-]*:[ \t]*[\x20-\x7e]*\r?\n")


class Framer:
    """Split LSP's ``Content-Length`` framing into bodies, never holding more than a body's bytes
    (:data:`MAX_BODY`) plus a header line (:data:`MAX_LINE`).

    >>> f = Framer()
    >>> f.feed(b'Content-Length: 2\\r\\n\\r\\n{}Content-Length: -5\\r\\n\\r\\n[1]Content-Length: 3\\r\\n\\r\\n[2]')
    [b'{}', b'[2]']
    >>> f.notes
    ["bad Content-Length b'-5': frame skipped", 'skipped 3 bytes that are not an LSP frame']
    """

    def __init__(self, max_body: int = MAX_BODY, max_line: int = MAX_LINE):
        self.max_body, self.max_line = max_body, max_line
        self.buf = bytearray()
        self.length: int | None = None       # from the header block being read
        self.body: int | None = None         # the length of the body being read
        self.skipped = 0                     # garbage bytes since the last good header
        self.overlong = False                # inside a line longer than max_line
        self.notes: list[str] = []           # what went wrong, for the log

    def feed(self, data: bytes) -> list[bytes]:
        """The bodies completed by ``data``."""
        self.buf += data
        out = []
        while True:
            if self.body is not None:
                if len(self.buf) < self.body:
                    break
                n, self.body = self.body, None
                out.append(bytes(self.buf[:n]))
                del self.buf[:n]
                continue
            i = self.buf.find(b"\n")
            if i < 0:
                if len(self.buf) > max(self.max_line, _KEEP):          # no header is this long: skip all but its tail
                    if not self.overlong:
                        self.notes.append(f"a header line longer than {self.max_line:,} bytes was skipped")
                    self.overlong = True
                    self.skipped += len(self.buf) - _KEEP
                    del self.buf[:-_KEEP]
                break
            line = bytes(self.buf[:i + 1])
            del self.buf[:i + 1]
            self.overlong = False
            self._line(line)
        return out

    def _line(self, line: bytes) -> None:
        k = line.lower().rfind(_MARK)
        if k >= 0:                                # a length header, maybe after garbage (resync)
            self.skipped += k
            self._flush()
            value = line[k + len(_MARK):].strip()
            self.length = None
            if not (value.isdigit() and len(value) <= 15):
                self.notes.append(f"bad Content-Length {value[:20]!r}: frame skipped")
            elif int(value) > self.max_body:
                self.notes.append(f"a frame of {int(value):,} bytes was refused (at most {self.max_body:,})")
            else:
                self.length = int(value)
        elif not line.strip():                    # the end of a header block
            if self.length is not None:
                self.body, self.length = self.length, None
        elif not _HEADER.fullmatch(line):         # another header (Content-Type) is fine; garbage is not
            self.skipped += len(line)

    def _flush(self) -> None:
        if self.skipped:
            self.notes.append(f"skipped {self.skipped:,} bytes that are not an LSP frame")
            self.skipped = 0


class Inbox:
    """Bodies framed by the reader thread, waiting for the event loop; ``None`` is the end of input."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.items: collections.deque = collections.deque()
        self.ready = asyncio.Event()
        self.space = threading.Condition()
        self.size = 0                      # bytes handed over and not yet taken
        self.inflight = 0                  # batches the reader has sent that have not arrived

    # the reader thread
    def put(self, bodies: list) -> None:
        n = sum(len(b) for b in bodies if b is not None)
        with self.space:
            while self.size > MAX_PENDING:
                self.space.wait()
            self.size += n
            self.inflight += 1
        self.loop.call_soon_threadsafe(self._arrive, bodies)    # RuntimeError once the loop is closed

    def _arrive(self, bodies: list) -> None:
        with self.space:
            self.inflight -= 1
        self.items.extend(bodies)
        self.ready.set()

    # the event loop
    async def take(self) -> list:
        while not self.items:
            self.ready.clear()
            await self.ready.wait()
        batch = list(self.items)
        self.items.clear()
        with self.space:
            self.size -= sum(len(b) for b in batch if b is not None)
            self.space.notify_all()
        return batch

    def pending(self) -> bool:
        """Input is read and not handled yet (a newer change may be among it)."""
        return bool(self.items) or self.inflight > 0


def _read(stdin, inbox: Inbox, framer: Framer) -> None:
    # os.read on the descriptor, not the buffered sys.stdin: this daemon thread must hold no lock of
    # the interpreter's (its buffer's) while it waits, or the exit at the end stops on that lock
    try:
        fd = stdin.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None
    read = (lambda n: os.read(fd, n)) if fd is not None else stdin.read1
    while True:
        try:
            data = read(65536)
        except (OSError, ValueError):
            data = b""
        if not data:
            if framer.buf or framer.body is not None:
                log.warning("the input ended inside a frame")
            try:
                inbox.put([None])
            except RuntimeError:
                pass
            return
        bodies = framer.feed(data)
        for note in framer.notes:
            log.warning("%s", note)
        framer.notes.clear()
        try:
            inbox.put(bodies)
        except RuntimeError:                # the server has stopped
            return


def _valid_id(rid) -> bool:
    return isinstance(rid, str) or (isinstance(rid, int) and not isinstance(rid, bool))


def dispatch(protocol, body: bytes) -> None:
    """Hand one body to pygls; what is not a JSON-RPC message is logged in one line and skipped."""
    try:
        data = json.loads(body)
    except RecursionError:
        log.warning("a message nesting too deeply was skipped")
        return
    except MemoryError:
        log.warning("a message too large to decode was skipped")
        return
    except ValueError as e:                 # bad JSON, or bytes that are not UTF-8
        log.warning("a message that is not JSON was skipped (%s)", str(e)[:100])
        return
    if not isinstance(data, dict) or data.get("jsonrpc") != "2.0":
        log.warning("a message that is not a JSON-RPC 2.0 object was skipped")
        return
    method, rid = data.get("method"), data.get("id")
    if "id" in data and not _valid_id(rid):
        log.warning("a message with an invalid id (%s) was skipped", type(rid).__name__)
        return
    if "method" in data and not isinstance(method, str):
        _refuse(protocol, data, -32600, "Invalid Request: the method is not a string")
        return
    try:
        message = protocol.structure_message(data)
    except Exception:                       # parameters that do not fit the protocol's types
        _refuse(protocol, data, -32602, f"Invalid Params for {str(method)[:80]}")
        return
    try:
        protocol.handle_message(message)
    except Exception as e:                  # pygls answers requests itself; this is a safety net
        log.warning("handling %s failed: %s: %s", str(method)[:80], type(e).__name__, str(e)[:200])


def _refuse(protocol, data: dict, code: int, message: str) -> None:
    log.warning("%s", message)
    if "method" in data and "id" in data:
        from lsprotocol.types import ResponseError
        protocol._send_response(data["id"], error=ResponseError(code=code, message=message))


class _OneLine(logging.Formatter):
    """A log record in one line: no traceback, no stack, the message cut to its first line."""

    def format(self, record: logging.LogRecord) -> str:
        try:
            msg = record.getMessage()
        except Exception:
            msg = str(record.msg)
        msg = (msg.splitlines() or [""])[0][:300]
        if record.exc_info and record.exc_info[1] is not None:
            e = record.exc_info[1]
            msg += f" ({type(e).__name__}: {str(e)[:200]})"
        return f"netc lsp: {record.levelname.lower()}: {msg}"


def configure_logging() -> None:
    """Warnings (pygls', asyncio's, the server's) on stderr, one line each, no traceback; with
    NETC_DEBUG=1 everything, tracebacks included. The server process is netc's own: the root logger."""
    handler = logging.StreamHandler(sys.stderr)
    debug = bool(os.environ.get("NETC_DEBUG"))
    handler.setFormatter(logging.Formatter("%(name)s: %(levelname)s: %(message)s") if debug else _OneLine())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)


def _loop_error(loop, context: dict) -> None:
    e = context.get("exception")
    log.error("%s%s", context.get("message", "error in the event loop"),
              f" ({type(e).__name__}: {str(e)[:200]})" if e is not None else "")


#: pygls' answer to ``initialize`` (tests/tools/test_lsp_quick.py regenerates it through pygls and compares),
#: less the two fields that vary: the position encoding (the client's choice) and netc's version
INITIALIZE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "initialize.json")


def position_encoding(params) -> str:
    """What pygls chooses: the first of the client's position encodings that it supports, else UTF-16."""
    encodings = _get(params, "capabilities", "general", "positionEncodings")
    for enc in encodings if isinstance(encodings, list) else []:
        if enc in ("utf-8", "utf-16", "utf-32"):
            return enc
    return "utf-16"


def initialize_result(params) -> dict:
    """The answer to ``initialize`` without pygls: the server's capabilities and name. As pygls does,
    it says "no" to willSave and willSaveWaitUntil where the client says whether it supports them."""
    from netc import __version__
    with open(INITIALIZE, encoding="utf-8") as f:
        result = json.load(f)
    result["capabilities"] = {"positionEncoding": position_encoding(params), **result["capabilities"]}
    sync = _get(params, "capabilities", "textDocument", "synchronization")
    told = {k: False for k in ("willSave", "willSaveWaitUntil") if isinstance(sync, dict) and sync.get(k) is not None}
    if told:
        tds = result["capabilities"]["textDocumentSync"]
        result["capabilities"]["textDocumentSync"] = {"openClose": tds["openClose"], "change": tds["change"], **told,
                                                      **{k: v for k, v in tds.items() if k not in ("openClose", "change")}}
    result["serverInfo"]["version"] = __version__
    return result


def _get(d, *keys):
    for k in keys:
        d = d.get(k) if isinstance(d, dict) else None
    return d


def _initialize_request(body) -> dict | None:
    """The message, if ``body`` is an ``initialize`` request that can be answered at once."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError, MemoryError):
        return None
    if isinstance(data, dict) and data.get("jsonrpc") == "2.0" and data.get("method") == "initialize" \
            and _valid_id(data.get("id")) and _plain_params(data.get("params")):
        return data
    return None


#: initialize's parameters and the JSON types they take; anything else waits for pygls to judge it
_PARAMS = {"processId": (int, type(None)), "rootUri": (str, type(None)), "rootPath": (str, type(None)),
           "capabilities": dict, "clientInfo": dict, "locale": str, "trace": str,
           "workspaceFolders": (list, type(None)), "initializationOptions": object, "workDoneToken": (int, str)}


def _plain_params(params) -> bool:
    """Parameters a real client sends: a capabilities object and known fields of the right JSON types
    (pygls refuses others with an error, which then must be the answer, not a quick success)."""
    return isinstance(params, dict) and isinstance(params.get("capabilities"), dict) and all(
        k in _PARAMS and isinstance(v, _PARAMS[k]) and not isinstance(v, bool) for k, v in params.items())


def _frame(obj: dict) -> bytes:
    body = json.dumps(obj).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class _Without:
    """pygls' writer, less the one answer already sent (``initialize``'s, answered before pygls loaded)."""

    def __init__(self, writer, answered):
        self.writer, self.answered = writer, answered

    def write(self, data: bytes):
        if self.answered is not None:
            head, _, body = data.partition(b"\r\n\r\n")
            try:
                msg = json.loads(body)
            except ValueError:
                msg = None
            if isinstance(msg, dict) and msg.get("id") == self.answered and "method" not in msg:
                self.answered = None          # the one to drop; every later message passes
                return None
        return self.writer.write(data)

    def close(self):
        return self.writer.close()


def run(make_server, stdin=None, stdout=None) -> int:
    """Serve LSP over stdin/stdout until the client says exit (its exit code) or the input ends (0).

    ``make_server()`` builds the server (pygls and the analysis: most of a second to import). An
    ``initialize`` that comes first is answered before that, from the capabilities pygls gives
    (:data:`INITIALIZE`), so an editor sees the server up at once; pygls then reads the same request
    (it keeps the client's capabilities and the position encoding) and its own answer is dropped."""
    stdin = stdin or sys.stdin.buffer
    out = stdout or sys.stdout.buffer
    state: dict = {"server": None}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(_loop_error)
        inbox = Inbox(loop)
        threading.Thread(target=_read, args=(stdin, inbox, Framer()), daemon=True, name="netc-lsp-reader").start()
        first = await inbox.take()
        init = _initialize_request(first[0]) if first and first[0] is not None else None
        if init is not None:
            out.write(_frame({"jsonrpc": "2.0", "id": init["id"], "result": initialize_result(init["params"])}))
            out.flush()
        from pygls.io_ import StdoutWriter
        server = state["server"] = make_server()
        server._stop_event = threading.Event()
        server.protocol.set_writer(_Without(StdoutWriter(out), init["id"] if init is not None else None))
        server.inbox = inbox
        batch = first
        while True:
            for body in batch:                   # a whole batch, before any scheduled analysis runs
                if body is None:
                    return
                dispatch(server.protocol, body)
            if server._stop_event.is_set():
                return
            batch = await inbox.take()

    code = 0
    try:
        asyncio.run(main())
    except SystemExit as e:                  # the exit notification
        code = e.code if isinstance(e.code, int) else 0
    except BrokenPipeError:
        log.warning("the client closed the connection")
    finally:
        server = state["server"]
        if server is not None:
            server.inbox = None
            server.shutdown()
    return code
