"""The playground's ASGI application (starlette): the page, its static files and a small JSON API.

    GET  /                  the page (editor, diagram, summary, errors, diff)
    GET  /static/...        the page's script and style; editor.js is the bundled CodeMirror
    GET  /api/spec          the spec being edited: {"text", "filename", "config", "examples"}
                            (?example=NAME opens a bundled spec instead)
    POST /api/check         {"text", "config"?, "depth"?, "rankdir"?} -> diagnostics, summary, SVG, line map
    POST /api/diff          {"text", "old", "new"} -> netc diff's edits and NEW drawn in its colours
    POST /api/picture       {"text", "config"?, "format": "svg" | "png"} -> the picture (base64)
    GET  /api/health        {"ok": true, "workers": N}

Every check runs in a worker process with a time and memory budget (netc.serve.pool); past it the
answer says so ("this spec takes too long to check") and the worker is replaced. Bodies over
``max_body`` bytes get 413, malformed JSON 400, wrong fields 422. Nothing in a spec is executed.
"""
from __future__ import annotations

import collections
import hashlib
import json
import os
import time
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .pool import Budget, Failed, Overloaded, Pool
from .work import STARTER, UserError

STATIC = Path(__file__).parent / "static"
MAX_BODY = 2_000_000        # bytes; a spec file may have 1,000,000 (netc.LIMITS['max_file_bytes'])


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class Cache:
    """The last few answers, keyed by the request: typing back and forth costs nothing."""

    def __init__(self, size: int = 64):
        self.size, self.data = size, collections.OrderedDict()

    @staticmethod
    def key(req: dict) -> str:
        return hashlib.sha256(json.dumps(req, sort_keys=True).encode("utf-8")).hexdigest()

    def get(self, key):
        if key in self.data:
            self.data.move_to_end(key)
            return self.data[key]
        return None

    def put(self, key, value) -> None:
        self.data[key] = value
        self.data.move_to_end(key)
        while len(self.data) > self.size:
            self.data.popitem(last=False)


def create_app(text: str | None = None, filename: str = "playground.net", config: str | None = None, *,
               workers: int = 2, timeout: float = 3.0, memory: int | None = 2 << 30,
               max_body: int = MAX_BODY) -> Starlette:
    """The playground for one spec's text (the starter example when None)."""
    pool = Pool(size=workers, timeout=timeout, memory=memory)
    cache = Cache()
    spec = {"text": STARTER if text is None else text, "filename": filename, "config": config,
            "title": _title(filename)}

    def allowed_names() -> set[str]:
        from netc.specref import bundled_dir, bundled_names
        return {spec["filename"]} | {str(bundled_dir() / f"{n}.net") for n in bundled_names()}

    async def read_json(request: Request) -> dict:
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

    async def run(req: dict) -> dict:
        key = Cache.key(req)
        hit = cache.get(key)
        if hit is not None:
            return hit
        answer = await pool.run(req)
        cache.put(key, answer)
        return answer

    async def index(request: Request) -> Response:
        html = (STATIC / "index.html").read_text(encoding="utf-8")
        have_editor = (STATIC / "editor.js").is_file()
        tag = '<script src="static/editor.js"></script>' if have_editor else \
            '<script>window.NETC_NO_EDITOR = true;</script>'
        return HTMLResponse(html.replace("<!--EDITOR-->", tag), headers={"Cache-Control": "no-store"})

    async def get_spec(request: Request) -> Response:
        from netc.specref import bundled_names
        examples = bundled_names()
        name = request.query_params.get("example")
        if name:
            if name not in examples:           # only the bundled specs: never an arbitrary path
                return JSONResponse({"error": f"no bundled spec {name!r}"}, status_code=404)
            from netc.specref import bundled_dir
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
            elif op == "diff":
                req["old"] = field(doc, "old", str, required=True)
                req["new"] = field(doc, "new", str, required=True)
            elif op == "picture":
                req["config"] = field(doc, "config", str)
                req["format"] = field(doc, "format", str, choices=("svg", "png")) or "svg"
            answer = await run(req)
        except BadRequest as e:
            return JSONResponse({"error": e.message}, status_code=e.status)
        except Budget as e:
            return JSONResponse({"budget": e.what, "message": str(e), "ms": _ms(t0)},
                                status_code=200 if op == "check" else 503)
        except UserError as e:
            return JSONResponse({"errors": e.diagnostics, "ms": _ms(t0)}, status_code=422)
        except Overloaded as e:
            return JSONResponse({"error": str(e)}, status_code=503, headers={"Retry-After": "1"})
        except Failed as e:
            return JSONResponse({"error": f"internal error in netc: {e}"}, status_code=500)
        return JSONResponse({**answer, "ms": _ms(t0)})

    async def check(request: Request) -> Response:
        return await api(request, "check")

    async def diff(request: Request) -> Response:
        return await api(request, "diff")

    async def picture(request: Request) -> Response:
        return await api(request, "picture")

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "workers": len(pool.pids()), **pool.stats})

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
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.pool = pool
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
