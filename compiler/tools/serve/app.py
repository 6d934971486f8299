"""The playground's ASGI application (starlette): the page, its static files and a small JSON API.

    GET  /                  the page (editor, diagram, summary, errors, diff)
    GET  /static/...        the page's script and style; editor.js is the bundled CodeMirror
    GET  /api/spec          the spec being edited: {"text", "filename", "config", "examples"}
                            (?example=NAME opens a bundled spec instead)
    POST /api/check         {"text", "config"?, "depth"?, "rankdir"?, "open"?, "closed"?} -> diagnostics,
                            summary (folded as drawn), SVG (ids n:NAME, c:BLOCK), line map, hover facts
    POST /api/diff          {"text", "old", "new"} -> netc diff's edits and NEW drawn in its colours
    POST /api/picture       {"text", "config"?, "format": "svg" | "png"} -> the picture (base64)
    GET  /api/health        {"ok": true, "workers": N}

Every check runs in a worker process with a time and memory budget (netc.tools.serve.pool); past it the
answer says so ("this spec takes too long to check") and the worker is replaced; a worker that dies
without answering is reported as such ("the checker stopped unexpectedly", 503). Bodies over
``max_body`` bytes get 413, malformed JSON 400, wrong fields 422, a spec with errors 422 with its
diagnostics (from /api/picture and /api/diff; /api/check lists them in a 200). Nothing in a spec is
executed.

Only this machine's pages may use it (:class:`Guard`): a request must name the server in ``Host``
(127.0.0.1, localhost or [::1] with the served port, or a name given with ``hosts``), else 403 (no
DNS rebinding: a hostile page's name that resolves to 127.0.0.1 gets nothing); an ``Origin``, when
sent, must be one of those too, else 403 (no cross-site requests); and JSON is read only from a
body sent as ``Content-Type: application/json``, else 415 (a plain HTML form cannot send one).

The parent's memory is bounded: answers are cached as their JSON bytes, at most ``CACHE_BYTES`` in
all, none over ``CACHE_ENTRY_BYTES``; a worker never sends an answer over ``pool.MAX_ANSWER`` bytes,
and error lists are capped (netc.tools.serve.work). A client that goes away mid-request costs no log line.
"""
from __future__ import annotations

import collections
import hashlib
import json
import os
import time
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from netc.tools.serve.pool import Budget, Crashed, Failed, Overloaded, Pool
from netc.tools.serve.work import STARTER, UserError

STATIC = Path(__file__).parent / "static"
MAX_BODY = 2_000_000        # bytes; a spec file may have 1,000,000 (netc.LIMITS['max_file_bytes'])
CACHE_BYTES = 32 << 20      # the answer cache holds at most this many bytes of JSON ...
CACHE_ENTRY_BYTES = 2 << 20     # ... and no answer over this (it is sent, not kept)
CACHE_ENTRIES = 64
MAX_FOLDS = 2000            # block names in a check's "open" or "closed"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class Cache:
    """The last few answers as JSON bytes, keyed by the request: typing back and forth costs nothing.

    Bounded in entries and in bytes: at most ``max_bytes`` in all; an answer over ``max_entry``
    bytes is not kept."""

    def __init__(self, size: int = CACHE_ENTRIES, max_bytes: int = CACHE_BYTES, max_entry: int = CACHE_ENTRY_BYTES):
        self.size, self.max_bytes, self.max_entry = size, max_bytes, min(max_entry, max_bytes)
        self.data: collections.OrderedDict[str, bytes] = collections.OrderedDict()
        self.bytes = 0

    @staticmethod
    def key(req: dict) -> str:
        return hashlib.sha256(json.dumps(req, sort_keys=True).encode("utf-8")).hexdigest()

    def get(self, key) -> bytes | None:
        if key in self.data:
            self.data.move_to_end(key)
            return self.data[key]
        return None

    def put(self, key, value: bytes) -> None:
        old = self.data.pop(key, None)
        if old is not None:
            self.bytes -= len(old)
        if len(value) > self.max_entry:
            return
        self.data[key] = value
        self.bytes += len(value)
        while len(self.data) > self.size or self.bytes > self.max_bytes:
            _, dropped = self.data.popitem(last=False)
            self.bytes -= len(dropped)


def _host_port(value: str) -> tuple[str, int | None] | None:
    """``name[:port]`` or ``[v6][:port]`` -> (name without brackets, lower case; port or None); None if malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[1:end], value[end + 1:]
        if rest and not rest.startswith(":"):
            return None
        port = rest[1:] if rest else None
    else:
        name, sep, port = value.partition(":")
        if not sep:
            port = None
        elif ":" in port:
            return None
    if not name or port is not None and not (port.isdigit() and len(port) <= 5):
        return None
    return name, int(port) if port is not None else None


class Guard:
    """ASGI middleware: answers only requests for this server (``Host``) from its own pages (``Origin``).

    ``hosts``: the names (or addresses) the server answers to, besides 127.0.0.1, localhost and [::1];
    ``port``: the port it serves (None: the port the request came in on, as the ASGI server says).
    A ``Host`` without a port means port 80, as in HTTP. Refusals are 400 (no or a malformed
    ``Host``) or 403, with a JSON ``{"error"}``."""

    def __init__(self, app, hosts=(), port: int | None = None):
        self.app, self.port = app, port
        self.names = set(LOOPBACK)
        for h in hosts:
            if h:
                parsed = _host_port(h if not h.count(":") > 1 or h.startswith("[") else f"[{h}]")
                if parsed:
                    self.names.add(parsed[0])

    def _served_port(self, scope) -> int | None:
        if self.port is not None:
            return self.port
        server = scope.get("server")
        return server[1] if server and len(server) > 1 and server[1] is not None else None

    def _ours(self, name: str, port: int | None, served: int | None) -> bool:
        return name in self.names and (served is None or (port if port is not None else 80) == served)

    def refusal(self, scope) -> tuple[int, str] | None:
        host = origin = None
        for k, v in scope.get("headers") or ():
            if k == b"host":
                if host is not None:
                    return 400, "more than one Host header"
                host = v.decode("latin-1")
            elif k == b"origin":
                origin = v.decode("latin-1")
        if host is None:
            return 400, "no Host header"
        served = self._served_port(scope)
        parsed = _host_port(host)
        if parsed is None:
            return 400, "malformed Host header"
        if not self._ours(*parsed, served):
            return 403, "this playground answers only to its own address (Host)"
        if origin is not None:
            try:
                u = urlsplit(origin.strip().lower())
                ok = u.scheme == "http" and u.hostname is not None and not u.path and \
                    self._ours(u.hostname, u.port, served)
            except ValueError:
                ok = False
            if not ok:
                return 403, "requests from other sites are not accepted (Origin)"
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            refused = self.refusal(scope)
            if refused is not None:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                status, message = refused
                await JSONResponse({"error": message}, status_code=status)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _dumps(doc) -> bytes:
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def _with_ms(body: bytes, ms: float) -> bytes:
    """A JSON object's bytes with ``"ms"`` added at its end."""
    tail = b',"ms":' + _dumps(ms) + b"}"
    return (b"{" + tail[1:]) if body.strip() == b"{}" else body.rstrip()[:-1] + tail


def create_app(text: str | None = None, filename: str = "playground.net", config: str | None = None, *,
               workers: int = 2, timeout: float = 3.0, memory: int | None = 2 << 30,
               max_body: int = MAX_BODY, hosts=(), port: int | None = None):
    """The playground for one spec's text (the starter example when None), behind :class:`Guard`
    (``hosts`` and ``port``: see there). ``.state.pool`` is its worker pool."""
    pool = Pool(size=workers, timeout=timeout, memory=memory)
    cache = Cache()
    counts = {"disconnects": 0}
    spec = {"text": STARTER if text is None else text, "filename": filename, "config": config,
            "title": _title(filename)}

    def allowed_names() -> set[str]:
        from netc.elaborate.specref import bundled_dir, bundled_names
        return {spec["filename"]} | {str(bundled_dir() / f"{n}.net") for n in bundled_names()}

    async def read_json(request: Request) -> dict:
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if ctype != "application/json":
            raise BadRequest(415, "the body must be sent as Content-Type: application/json")
        length = request.headers.get("content-length")
        if length is not None:
            try:
                if int(length) > max_body:
                    raise BadRequest(413, f"request body over {max_body:,} bytes")
            except ValueError:
                raise BadRequest(400, "bad Content-Length") from None
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body:
                raise BadRequest(413, f"request body over {max_body:,} bytes")
            chunks.append(chunk)
        try:
            doc = json.loads(b"".join(chunks).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise BadRequest(400, "the body is not valid JSON") from None
        if not isinstance(doc, dict):
            raise BadRequest(400, "the body must be a JSON object")
        return doc

    def field(doc: dict, name: str, kind, required: bool = False, choices=None):
        v = doc.get(name)
        if v is None:
            if required:
                raise BadRequest(422, f"missing field {name!r}")
            return None
        if not isinstance(v, kind) or isinstance(v, bool) and kind is int:
            raise BadRequest(422, f"field {name!r} must be {kind.__name__}")
        if choices is not None and v not in choices:
            raise BadRequest(422, f"field {name!r} must be one of {', '.join(map(str, choices))}")
        return v

    def options(doc: dict) -> dict:
        depth = field(doc, "depth", int)
        if depth is not None and not 1 <= depth <= 64:
            raise BadRequest(422, "field 'depth' must be between 1 and 64")
        return {"depth": depth, "rankdir": field(doc, "rankdir", str, choices=("TB", "LR")) or "TB",
                "shapes": bool(field(doc, "shapes", bool))}

    async def run(req: dict) -> bytes:
        key = Cache.key(req)
        hit = cache.get(key)
        if hit is not None:
            return hit
        body = _dumps(await pool.run(req))
        cache.put(key, body)
        return body

    async def index(request: Request) -> Response:
        html = (STATIC / "index.html").read_text(encoding="utf-8")
        have_editor = (STATIC / "editor.js").is_file()
        tag = '<script src="static/editor.js"></script>' if have_editor else \
            '<script>window.NETC_NO_EDITOR = true;</script>'
        return HTMLResponse(html.replace("<!--EDITOR-->", tag), headers={"Cache-Control": "no-store"})

    async def get_spec(request: Request) -> Response:
        from netc.elaborate.specref import bundled_names
        examples = bundled_names()
        name = request.query_params.get("example")
        if name:
            if name not in examples:           # only the bundled specs: never an arbitrary path
                return JSONResponse({"error": f"no bundled spec {name!r}"}, status_code=404)
            from netc.elaborate.specref import bundled_dir
            path = bundled_dir() / f"{name}.net"
            return JSONResponse({"text": path.read_text(encoding="utf-8"), "filename": str(path), "title": path.name,
                                 "config": None, "examples": examples})
        return JSONResponse({**spec, "examples": examples})

    async def api(request: Request, op: str) -> Response:
        t0 = time.perf_counter()
        try:
            doc = await read_json(request)
            req = {"op": op, "text": field(doc, "text", str, required=True),
                   "filename": field(doc, "filename", str) or spec["filename"]}
            if req["filename"] not in allowed_names():   # includes resolve from it: no other paths
                raise BadRequest(422, "field 'filename' must be the served spec or a bundled example")
            if len(req["text"].encode("utf-8")) > max_body:
                raise BadRequest(413, f"spec text over {max_body:,} bytes")
            req.update(options(doc))
            if op == "check":
                req["config"] = field(doc, "config", str)
                for name in ("open", "closed"):      # blocks opened or folded by a click, in place
                    scopes = field(doc, name, list) or []
                    if len(scopes) > MAX_FOLDS or not all(isinstance(x, str) and len(x) <= 1000 for x in scopes):
                        raise BadRequest(422, f"field {name!r} must be at most {MAX_FOLDS} block names")
                    if scopes:
                        req[name] = sorted(set(scopes))
            elif op == "diff":
                req["old"] = field(doc, "old", str, required=True)
                req["new"] = field(doc, "new", str, required=True)
            elif op == "picture":
                req["config"] = field(doc, "config", str)
                req["format"] = field(doc, "format", str, choices=("svg", "png")) or "svg"
            body = await run(req)
        except ClientDisconnect:               # the client went away mid-body: no one to answer, nothing to log
            counts["disconnects"] += 1
            return Response(status_code=400)
        except BadRequest as e:
            return JSONResponse({"error": e.message}, status_code=e.status)
        except Budget as e:
            return JSONResponse({"budget": e.what, "message": str(e), "ms": _ms(t0)},
                                status_code=200 if op == "check" else 503)
        except UserError as e:
            return JSONResponse({"errors": e.diagnostics, "ms": _ms(t0)}, status_code=422)
        except Crashed as e:                   # killed from outside or a native crash: not the spec's fault
            return JSONResponse({"error": str(e), "crashed": True}, status_code=503, headers={"Retry-After": "1"})
        except Overloaded as e:
            return JSONResponse({"error": str(e)}, status_code=503, headers={"Retry-After": "1"})
        except Failed as e:
            return JSONResponse({"error": f"internal error in netc: {e}"}, status_code=500)
        return Response(_with_ms(body, _ms(t0)), media_type="application/json")

    async def check(request: Request) -> Response:
        return await api(request, "check")

    async def diff(request: Request) -> Response:
        return await api(request, "diff")

    async def picture(request: Request) -> Response:
        return await api(request, "picture")

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "workers": len(pool.pids()), "busy": pool.busy, **pool.stats, **counts,
                             "cache": {"entries": len(cache.data), "bytes": cache.bytes}})

    @asynccontextmanager
    async def lifespan(app):
        await pool.start()
        try:
            yield
        finally:
            await pool.close()

    routes = [
        Route("/", index),
        Route("/api/spec", get_spec),
        Route("/api/check", check, methods=["POST"]),
        Route("/api/diff", diff, methods=["POST"]),
        Route("/api/picture", picture, methods=["POST"]),
        Route("/api/health", health),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ]
    inner = Starlette(routes=routes, lifespan=lifespan)
    inner.state.pool = pool
    inner.state.cache = cache
    app = Guard(inner, hosts, port)
    app.state = inner.state
    return app


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)


def _title(filename: str) -> str:
    """The spec's name as the page shows it: relative to the working directory, or its file name."""
    try:
        rel = os.path.relpath(filename)
    except ValueError:
        rel = filename
    return os.path.basename(filename) if rel.startswith("..") else rel
