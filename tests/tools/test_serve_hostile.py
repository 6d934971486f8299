"""netc serve against hostile pages and clients (issue #21, N12-N15).

N12  only requests for this server (Host) from its own pages (Origin), JSON only as application/json:
     no DNS rebinding, no cross-site requests that read a file an ``include`` reaches.
N13  /api/picture and /api/diff answer a spec's errors (a typo, a limit) with 422 and diagnostics,
     never 500 "internal error".
N14  the server's own memory is bounded: the answer cache in bytes, error lists capped.
N15  a worker killed mid-check is reported as a crash, not as "too much memory"; clients that go
     away mid-request leave no tracebacks in the log.

Behaviour only: no test measures time.
"""
from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

import warnings  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402

from netc.tools.serve.app import CACHE_BYTES, Cache, Guard, create_app  # noqa: E402
from netc.tools.serve.pool import Budget, Crashed, Pool  # noqa: E402
from netc.tools.serve.work import MAX_ERRORS, read_spec  # noqa: E402

from serve_helpers import Server  # noqa: E402

VGG, VGG_FILE, _ = read_spec("specs/vgg.net")
PORT = 8123                     # what the in-process app is told it serves (nothing listens there)
TYPO = "input 8x8 RGB\nmaxpol\n"
SECRET = "api_key: sk-live-1234567890"
# within every limit and slow: a check stays in flight long enough to kill its worker (N15)
SLOW = ("input 32x32 RGB\ntable " + " | ".join(f"c{i}" for i in range(40)) +
        " {\n    conv3-8 x9000\n    conv3-8 x9000\n    FC-10\n}\n")


def many_errors(n: int, tag: str = "") -> str:
    """A spec with ``n`` distinct errors on one line (each ``maxpol`` at its own column)."""
    return f"input 8x8 RGB\n{'maxpol->' * (n - 1)}maxpol\n# {tag}\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A served spec next to a file it must never leak: sub/notes.net with a secret on line 5."""
    d = tmp_path_factory.mktemp("proj")
    (d / "main.net").write_text("input 32x32 RGB\nconv3-16\nFC-10\n")
    (d / "sub").mkdir()
    (d / "sub" / "notes.net").write_text("# notes\n\n\n\n" + SECRET + "\n")
    return d


@pytest.fixture(scope="module")
def app(project):
    main = str(project / "main.net")
    return create_app((project / "main.net").read_text(), main, None, workers=1, timeout=20.0, port=PORT,
                      hosts=["playground.test"])


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app, base_url=f"http://127.0.0.1:{PORT}") as c:
        yield c


def include_secret(filename: str) -> dict:
    return {"text": 'input 8x8 RGB\ninclude "sub/notes.net"\nrelu\n', "filename": filename}


# ------------------------------------------------------------------ N12: Host, Origin, Content-Type
@pytest.mark.parametrize("host", ["127.0.0.1:8123", "localhost:8123", "[::1]:8123", "LOCALHOST:8123",
                                  "playground.test:8123"])
def test_own_host_names_are_answered(client, host):
    r = client.get("/api/spec", headers={"Host": host})
    assert r.status_code == 200 and r.json()["text"].startswith("input 32x32 RGB")


@pytest.mark.parametrize("host, status", [
    ("evil.example.com", 403), ("evil.example.com:8123", 403),      # DNS rebinding: a name of theirs
    ("127.0.0.1", 403), ("127.0.0.1:9999", 403), ("localhost:80", 403),   # another port
    ("127.0.0.1.evil.example.com:8123", 403), ("localhost.:8123", 403), ("[::2]:8123", 403),
    ("127.0.0.1:8123:8123", 400), ("[::1:8123", 400), ("127.0.0.1:http", 400), ("", 400),
])
def test_other_hosts_are_refused(client, project, host, status):
    for method, path in (("GET", "/api/spec"), ("GET", "/"), ("GET", "/static/app.js"), ("GET", "/api/health")):
        r = client.request(method, path, headers={"Host": host})
        assert r.status_code == status, (path, r.status_code)
        assert "spec" not in r.json() and "text" not in r.json()
    r = client.post("/api/check", json=include_secret(str(project / "main.net")), headers={"Host": host})
    assert r.status_code == status and SECRET not in r.text and "sk-live" not in r.text


@pytest.mark.parametrize("origin", ["http://evil.example.com", "null", "https://127.0.0.1:8123",
                                    "http://127.0.0.1:9999", "http://127.0.0.1", "http://localhost:8123.evil.com",
                                    "http://evil.example.com:8123", "file://", "http://[::1"])
def test_other_origins_are_refused(client, project, origin):
    r = client.post("/api/check", json=include_secret(str(project / "main.net")), headers={"Origin": origin})
    assert r.status_code == 403 and "Origin" in r.json()["error"]
    assert "sk-live" not in r.text
    for op in ("picture", "diff"):
        assert client.post(f"/api/{op}", json={"text": VGG, "old": "A", "new": "B"},
                           headers={"Origin": origin}).status_code == 403


@pytest.mark.parametrize("origin", [None, "http://127.0.0.1:8123", "http://localhost:8123", "http://[::1]:8123",
                                    "http://playground.test:8123"])
def test_own_origin_is_answered(client, origin):
    headers = {"Origin": origin} if origin else {}
    r = client.post("/api/check", json={"text": "input 8x8 RGB\nconv3-8\n"}, headers=headers)
    assert r.status_code == 200 and r.json()["errors"] == []


@pytest.mark.parametrize("ctype", [None, "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=x", "application/jsonx", "json"])
def test_json_only_as_application_json(client, ctype):
    body = json.dumps({"text": "input 8x8 RGB\nconv3-8\n"}).encode()
    r = client.post("/api/check", content=body, headers={"Content-Type": ctype} if ctype else {})
    assert "content-type" not in r.request.headers if ctype is None else r.request.headers["content-type"] == ctype
    assert r.status_code == 415 and "application/json" in r.json()["error"]


def test_application_json_with_parameters_is_json(client):
    body = json.dumps({"text": "input 8x8 RGB\nconv3-8\n"}).encode()
    for ctype in ("application/json", "application/json; charset=utf-8", "Application/JSON"):
        r = client.post("/api/check", content=body, headers={"Content-Type": ctype})
        assert r.status_code == 200 and r.json()["errors"] == []


def test_guard_unit():
    g = Guard(None, hosts=["myhost.lan", "::1", "10.0.0.5", "[fe80::1]"], port=8000)

    def scope(host=None, origin=None):
        headers = ([(b"host", host.encode())] if host is not None else []) + \
            ([(b"origin", origin.encode())] if origin is not None else [])
        return {"type": "http", "headers": headers, "server": ("127.0.0.1", 8000)}
    assert g.refusal(scope("myhost.lan:8000")) is None
    assert g.refusal(scope("10.0.0.5:8000", "http://10.0.0.5:8000")) is None
    assert g.refusal(scope("[fe80::1]:8000")) is None
    assert g.refusal(scope()) == (400, "no Host header")
    assert g.refusal(scope("myhost.lan:8001"))[0] == 403
    assert g.refusal(scope("10.0.0.5:8000", "http://myhost.lan.evil:8000"))[0] == 403
    two = scope("127.0.0.1:8000")
    two["headers"].append((b"host", b"evil.example.com"))
    assert g.refusal(two)[0] == 400
    # no port given: the port the request came in on
    g = Guard(None)
    s = scope("localhost:8000")
    assert g.refusal(s) is None
    s["server"] = ("127.0.0.1", 9000)
    assert g.refusal(s)[0] == 403


@pytest.fixture(scope="module")
def real(project):
    """The real server, as the N12 reproduction runs it: in the project's directory, one more name allowed."""
    with Server(str(project / "main.net"), "--allow-host", "playground.test", "--workers", "1") as s:
        yield s


def ask(server, method, path, headers, body=None):
    c = http.client.HTTPConnection(server.host, server.port, timeout=60)
    try:
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        c.close()


def test_real_server_refuses_other_hosts_and_origins(real, project):
    p = real.port
    own = {"Host": f"127.0.0.1:{p}", "Content-Type": "application/json"}
    filename = str(project / "main.net")
    # the fresh check's section 5, and the N12 reproduction
    st, body = ask(real, "GET", "/api/spec", {"Host": "evil.example.com"})
    assert st in (400, 403, 421) and "conv3-16" not in body
    st, body = ask(real, "GET", "/api/spec", {"Host": f"evil.example.com:{p}"})
    assert st in (400, 403, 421) and "conv3-16" not in body
    secret = json.dumps(include_secret(filename))
    st, body = ask(real, "POST", "/api/check", {**own, "Origin": "http://evil.example.com"}, secret)
    assert st in (400, 403) and "sk-live" not in body
    st, body = ask(real, "POST", "/api/check", {"Host": "evil.example.com", "Origin": "http://evil.example.com",
                                                "Content-Type": "text/plain"}, secret)
    assert st in (400, 403) and "sk-live" not in body
    st, body = ask(real, "POST", "/api/check", {**own, "Content-Type": "text/plain"},
                   '{"text": "input 8x8 RGB\\nconv3-8"}')
    assert st in (400, 415)
    st, body = ask(real, "POST", "/api/picture", own, '{"text": "input 8x8 RGB\\nmaxpol", "format": "svg"}')
    assert st == 422 and json.loads(body)["errors"][0]["message"] == "unknown layer 'maxpol'"
    # its own names, the one --allow-host added, and the page's own fetches (same Origin, JSON)
    for host in (f"127.0.0.1:{p}", f"localhost:{p}", f"[::1]:{p}", f"playground.test:{p}"):
        st, body = ask(real, "GET", "/api/spec", {"Host": host})
        assert st == 200 and "conv3-16" in json.loads(body)["text"]
    st, body = ask(real, "POST", "/api/check", {**own, "Origin": f"http://127.0.0.1:{p}"},
                   json.dumps({"text": "input 8x8 RGB\nconv3-8\n", "filename": filename}))
    assert st == 200 and json.loads(body)["errors"] == []
    st, body = ask(real, "POST", "/api/check", {**own, "Host": f"playground.test:{p}",
                                                "Origin": f"http://playground.test:{p}"},
                   json.dumps({"text": "input 8x8 RGB\nconv3-8\n"}))
    assert st == 200
    assert "Traceback" not in real.log


def test_real_server_answers_the_page_from_its_own_origin(real):
    """What the page does: GET the page and the spec (no Origin), POST JSON with its own Origin."""
    with httpx.Client(base_url=real.url, timeout=60, headers={"Origin": real.url.rstrip("/")}) as c:
        assert c.get("/").status_code == 200
        assert c.get("/static/app.js").status_code == 200
        spec = c.get("/api/spec").json()
        r = c.post("/api/check", json={"text": spec["text"], "filename": spec["filename"]})
        assert r.status_code == 200 and r.json()["svg"]


# ------------------------------------------------------------------ N13: 422, never 500, for a spec's errors
@pytest.mark.parametrize("op", ["check", "picture", "diff"])
@pytest.mark.parametrize("text, message", [
    (TYPO, "unknown layer 'maxpol'"),
    ("input 8x8 RGB\n" + "conv3-8 x5000\n" * 5, "more than 20,000 layers"),              # a LimitError
    ("input 224x224 RGB\nFC-100000\nFC-100000\n", "more than the limit of 2,000,000,000"),  # another
    ("input 8x8 RGB\nconv3-8 x20000\n", "repetition must be between 1 and 10,000"),
    ("input 8x8 RGB\nconv3-8 {{\n", ""),                                                  # a syntax error
])
def test_spec_errors_are_diagnostics_on_every_route(client, op, text, message):
    r = client.post(f"/api/{op}", json={"text": text, "old": "main", "new": "main", "format": "svg"})
    assert r.status_code == (200 if op == "check" else 422), r.text[:300]
    assert "internal error" not in r.text
    errors = r.json()["errors"]
    assert errors and message in errors[0]["message"] and errors[0]["line"] >= 2
    assert r.json()["errors"][0]["text"]


def test_picture_and_diff_list_the_errors_check_lists(client):
    text = "input 8x8 RGB\nmaxpol\nconv3-8\nrelu6x\n"
    checked = client.post("/api/check", json={"text": text}).json()["errors"]
    for op in ("picture", "diff"):
        r = client.post(f"/api/{op}", json={"text": text, "old": "main", "new": "main"})
        assert r.status_code == 422
        assert [(e["line"], e["message"]) for e in r.json()["errors"]] == \
            [(e["line"], e["message"]) for e in checked]
    assert len(checked) == 2


# ------------------------------------------------------------------ N14: the server's memory is bounded
def test_cache_is_bounded_in_bytes():
    c = Cache(size=100, max_bytes=1000, max_entry=300)
    for i in range(20):
        c.put(str(i), b"x" * 200)
        assert c.bytes <= 1000 and c.bytes == sum(map(len, c.data.values()))
    assert len(c.data) == 5 and c.get("19") == b"x" * 200 and c.get("0") is None
    c.put("big", b"y" * 301)                    # over one entry's share: answered, not kept
    assert c.get("big") is None and c.bytes == 1000
    c.put("19", b"z" * 10)                      # replaced: its old bytes are given back
    assert c.bytes == 810 and c.get("19") == b"z" * 10
    c.put("19", b"z" * 400)                     # replaced by one too big: gone
    assert c.get("19") is None and c.bytes == 800
    c = Cache(size=3, max_bytes=10_000)
    for i in range(5):
        c.put(str(i), b"{}")
    assert list(c.data) == ["2", "3", "4"] and c.bytes == 6


def test_error_lists_are_capped(client):
    r = client.post("/api/check", json={"text": many_errors(3000)})
    assert r.status_code == 200
    d = r.json()
    assert len(d["errors"]) == MAX_ERRORS and d["errors_total"] == 3000
    assert [e["col"] for e in d["errors"][:3]] == [1, 9, 17]
    assert len(r.content) < 200_000
    for op in ("picture", "diff"):
        r = client.post(f"/api/{op}", json={"text": many_errors(3000), "old": "main", "new": "main"})
        assert r.status_code == 422 and len(r.json()["errors"]) == MAX_ERRORS and len(r.content) < 200_000
    # a few errors: all of them, no total
    d = client.post("/api/check", json={"text": many_errors(3)}).json()
    assert len(d["errors"]) == 3 and "errors_total" not in d


def test_a_long_line_is_quoted_in_a_window(client):
    d = client.post("/api/check", json={"text": "input 8x8 RGB\n" + "conv3-8->" * 5000 + "maxpol\n"}).json()
    assert d["errors"] and all(len(e["text"]) < 5000 for e in d["errors"])


def test_the_answer_cache_stays_within_its_bytes(client, app):
    cache = app.state.cache
    assert cache.max_bytes == CACHE_BYTES
    sizes = []
    for i in range(8):
        r = client.post("/api/check", json={"text": many_errors(2000, str(i))})
        assert r.status_code == 200 and r.json()["errors_total"] == 2000
        sizes.append(len(r.content))
    assert max(sizes) < 200_000
    assert cache.bytes <= cache.max_bytes and cache.bytes == sum(map(len, cache.data.values()))
    health = client.get("/api/health").json()
    assert health["cache"]["bytes"] == cache.bytes
    # a cached answer is the same answer
    again = client.post("/api/check", json={"text": many_errors(2000, "7")}).json()
    assert again["errors_total"] == 2000 and len(again["errors"]) == MAX_ERRORS


def rss_own_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_real_server_memory_after_many_error_answers(real):
    """The N14 reproduction in small: distinct specs with thousands of errors leave the server lean."""
    before = rss_own_kib(real.proc.pid)
    with httpx.Client(base_url=real.url, timeout=120) as c:
        for i in range(12):
            r = c.post("/api/check", json={"text": many_errors(4000, f"n14 {i}")})
            assert r.status_code == 200 and r.json()["errors_total"] == 4000
            assert len(r.content) < 200_000
        health = c.get("/api/health").json()
    assert health["cache"]["bytes"] <= CACHE_BYTES
    assert rss_own_kib(real.proc.pid) - before < 60_000


# ------------------------------------------------------------------ N15: crashes are crashes; quiet disconnects
def test_pool_reports_a_killed_worker_as_a_crash():
    async def main():
        pool = Pool(size=1, timeout=60.0, memory=1 << 30)
        try:
            await pool.start()
            [pid] = pool.pids()
            task = asyncio.ensure_future(pool.run({"op": "sleep", "seconds": 60}))
            while pool.busy == 0:
                await asyncio.sleep(0.01)
            os.kill(pid, signal.SIGKILL)
            with pytest.raises(Crashed) as e:
                await task
            assert "the checker stopped unexpectedly" in str(e.value) and "SIGKILL" in str(e.value)
            assert "memory" not in str(e.value)
            assert not isinstance(e.value, Budget)
            assert pool.stats["crashes"] == 1 and pool.stats["memory"] == 0
            assert (await pool.run({"op": "ping"}, timeout=60)) == {"ok": True}     # a fresh worker
            assert pool.pids() != [pid]
            # memory is still memory
            with pytest.raises(Budget) as e:
                await pool.run({"op": "hog", "bytes": 8 << 30}, timeout=60)
            assert e.value.what == "memory" and pool.stats["crashes"] == 1
        finally:
            await pool.close()
    asyncio.run(main())


def wait_for(predicate, what: str, limit: float = 60.0):
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def test_real_server_reports_a_killed_worker_as_a_crash():
    with Server("--workers", "1", "--timeout", "300") as s:
        answer = {}

        def check():
            answer["r"] = httpx.post(s.url + "api/check", json={"text": SLOW}, timeout=300)
        t = threading.Thread(target=check)
        t.start()
        wait_for(lambda: httpx.get(s.url + "api/health", timeout=30).json()["busy"] == 1, "the check to start")
        [pid] = s.worker_pids()
        os.kill(pid, signal.SIGKILL)
        t.join(timeout=120)
        r = answer["r"]
        assert r.status_code == 503, r.text[:300]
        assert "the checker stopped unexpectedly" in r.json()["error"] and "memory" not in r.text
        health = httpx.get(s.url + "api/health", timeout=30).json()
        assert health["crashes"] == 1 and health["memory"] == 0
        r = httpx.post(s.url + "api/check", json={"text": "input 8x8 RGB\nconv3-8\n"}, timeout=120)
        assert r.status_code == 200 and r.json()["errors"] == []
        assert "Traceback" not in s.log


def test_disconnects_are_not_logged_as_tracebacks(real):
    p = real.port
    health = lambda: httpx.get(real.url + "api/health", timeout=30).json()      # noqa: E731
    before = health()["disconnects"]
    n = 40
    for i in range(n):              # headers and half a body, then gone
        with socket.create_connection((real.host, p), timeout=10) as sk:
            sk.sendall(f"POST /api/check HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\nContent-Type: application/json\r\n"
                       f"Content-Length: 1000\r\n\r\n{{\"text\": \"input 8x8 RGB".encode())
    wait_for(lambda: health()["disconnects"] >= before + n, "the server to see every disconnect")
    for i in range(5):              # a whole request, gone before its answer
        with socket.create_connection((real.host, p), timeout=10) as sk:
            body = json.dumps({"text": many_errors(50, f"gone {i}")}).encode()
            sk.sendall(f"POST /api/check HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    r = httpx.post(real.url + "api/check", json={"text": "input 8x8 RGB\nconv3-8\n"}, timeout=60)
    assert r.status_code == 200
    wait_for(lambda: health()["busy"] == 0, "the abandoned checks to end")
    log = real.log
    assert "Traceback" not in log and "ClientDisconnect" not in log and "Exception in ASGI" not in log
    assert log.count("\n") <= n + 5
