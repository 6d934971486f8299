"""netc serve over HTTP: the API, its limits and budgets, malformed requests, a bounded load test.

The in-process tests use starlette's TestClient (the worker processes are real); the others run
the real server (uvicorn) on 127.0.0.1 with a free port. No test measures time: the load tests
check that every request is answered in full and that memory stays bounded.
"""
from __future__ import annotations

import asyncio
import re
import socket

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

import warnings  # noqa: E402

with warnings.catch_warnings():       # starlette 1.x prefers httpx2 for its TestClient; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402

from netc.tools.serve.app import create_app  # noqa: E402
from netc.tools.serve.pool import Budget, Pool  # noqa: E402
from netc.tools.serve.work import read_spec  # noqa: E402

from serve_helpers import Server, rss_kib  # noqa: E402

VGG, VGG_FILE, _ = read_spec("specs/vgg.net")
TIMEOUT = 2.0

# An exponential block: b0 holds two b1, each two b2 ... 2**40 layers if anything expanded it.
EXPONENTIAL = "input 32x32 RGB\n" + "".join(f"block b{i}() {{\n    b{i + 1}()\n    b{i + 1}()\n}}\n" for i in range(40)) \
    + "block b40() { relu }\nb0()\n"
HUGE_REPEAT = "input 32x32 RGB\n" + "conv3-8 x10000\n" * 30
DEEP_NESTING = "input 32x32 RGB\nconv(" + "[" * 20000 + "]" * 20000 + ")\n"
# within every limit, and slow all the same: 40 configurations of 18,001 layers each (netc refuses the
# exponential blocks above in milliseconds now, so the time budget is shown with this one)
SLOW = ("input 32x32 RGB\ntable " + " | ".join(f"c{i}" for i in range(40)) +
        " {\n    conv3-8 x9000\n    conv3-8 x9000\n    FC-10\n}\n")


@pytest.fixture(scope="module")
def client():
    app = create_app(VGG, VGG_FILE, None, workers=2, timeout=TIMEOUT)
    with TestClient(app, base_url="http://127.0.0.1") as c:     # the server's own address (netc.tools.serve.app.Guard)
        yield c


def test_page_and_static_files(client):
    r = client.get("/")
    assert r.status_code == 200 and "netc playground" in r.text
    assert "static/app.js" in r.text
    assert "http://" not in r.text and "https://" not in r.text     # nothing from outside
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/style.css").status_code == 200
    spec = client.get("/api/spec").json()
    assert spec["text"] == VGG and "vgg" in spec["examples"]


def test_check_vgg_d(client):
    r = client.post("/api/check", json={"text": VGG, "config": "D"})
    assert r.status_code == 200
    d = r.json()
    assert d["config"] == "D" and d["configs"][:6] == ["A", "A-LRN", "B", "C", "D", "E"]
    assert d["errors"] == []
    assert d["summary"]["params"] == 138_357_544
    assert d["svg"].count('class="node"') >= 20
    # every drawn layer maps back to its spec line: conv1_1 is the table's first row
    line = VGG.splitlines().index(next(l for l in VGG.splitlines() if l.strip().startswith("conv3-64  |"))) + 1
    assert d["lines"]["conv1_1"] == line
    assert re.search(r"<title>conv1_1</title>", d["svg"])


def test_check_reports_errors_with_lines(client):
    text = "input 32x32 RGB\nconv3-16\nmaxpol\ngap\nFC-10\n"
    d = client.post("/api/check", json={"text": text}).json()
    assert [(e["line"], e["col"], e["message"]) for e in d["errors"]] == [(3, 1, "unknown layer 'maxpol'")]
    assert "did you mean 'maxpool'" in d["errors"][0]["hint"]
    assert d["svg"] is None
    # a syntax error: no program, still an answer with a line
    d = client.post("/api/check", json={"text": "input 32x32 RGB\nconv3-16 {{\n"}).json()
    assert d["errors"] and d["errors"][0]["line"] >= 2


def test_diff_and_picture(client):
    d = client.post("/api/diff", json={"text": VGG, "old": "A", "new": "B"}).json()
    assert d["diff"]["counts"] == {"add": 2}
    assert d["diff"]["params_delta"] == 184_512
    assert "conv1_2" in d["svg"]
    r = client.post("/api/diff", json={"text": VGG, "old": "A", "new": "Z"})
    assert r.status_code == 422 and "no configuration 'Z'" in r.json()["errors"][0]["message"]
    p = client.post("/api/picture", json={"text": VGG, "config": "A", "format": "png"}).json()
    import base64
    assert base64.b64decode(p["data"]).startswith(b"\x89PNG")


@pytest.mark.parametrize("body, status", [
    (b"{not json", 400),
    (b"\xff\xfe\x00", 400),
    (b"[1, 2]", 400),
    (b'"text"', 400),
    (b"{}", 422),
    (b'{"text": 5}', 422),
    (b'{"text": "input 32x32 RGB", "config": ["A"]}', 422),
    (b'{"text": "input 32x32 RGB", "depth": "deep"}', 422),
    (b'{"text": "input 32x32 RGB", "depth": 1000}', 422),
    (b'{"text": "input 32x32 RGB", "rankdir": "XY"}', 422),
    (b"[" * 100000 + b"]" * 100000, 400),
])
def test_malformed_requests_get_4xx(client, body, status):
    r = client.post("/api/check", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert "error" in r.json()
    assert client.post("/api/check", json={"text": "input 32x32 RGB\ngap\n"}).status_code == 200


def test_oversize_body_is_413(client):
    r = client.post("/api/check", content=b"x" * 2_000_001, headers={"Content-Type": "application/json"})
    assert r.status_code == 413

    def chunks():                           # no Content-Length: counted while reading
        for _ in range(40):
            yield b"x" * 100_000
    r = client.post("/api/check", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_wrong_method_and_path(client):
    assert client.get("/api/check").status_code == 405
    assert client.get("/nothing").status_code == 404
    assert client.get("/api/spec?example=../../etc/passwd").status_code == 404
    assert client.get("/static/../app.py").status_code == 404


@pytest.mark.parametrize("text", [EXPONENTIAL, HUGE_REPEAT, DEEP_NESTING], ids=["exponential", "repeat", "nesting"])
def test_hostile_specs_are_stopped_and_the_next_request_answered(client, text):
    r = client.post("/api/check", json={"text": text})
    assert r.status_code == 200
    d = r.json()
    # either netc refuses it with an error at a line, or the budget stops it; never a hang
    if "budget" in d:
        assert "takes too long" in d["message"] or "too much memory" in d["message"]
    else:
        assert d["errors"] or d.get("too_big"), d
    r = client.post("/api/check", json={"text": VGG, "config": "A"})
    assert r.status_code == 200 and r.json()["summary"]["params"] == 132_863_336


def test_exponential_block_takes_too_long(client):
    d = client.post("/api/check", json={"text": EXPONENTIAL}).json()
    if "budget" not in d:
        pytest.skip("netc now refuses this spec itself: " + d["errors"][0]["message"])
    assert d["budget"] == "time" and "this spec takes too long to check" in d["message"]
    assert client.get("/api/health").json()["timeouts"] >= 1


def test_pool_time_and_memory_budgets():
    async def main():
        pool = Pool(size=1, timeout=1.0, memory=1 << 30)
        try:
            await pool.start()
            [pid] = pool.pids()
            with pytest.raises(Budget) as e:
                await pool.run({"op": "sleep", "seconds": 60})
            assert e.value.what == "time"
            assert (await pool.run({"op": "ping"}, timeout=30)) == {"ok": True}    # a fresh worker
            assert pool.pids() != [pid]
            with pytest.raises(Budget) as e:
                await pool.run({"op": "hog", "bytes": 8 << 30}, timeout=30)
            assert e.value.what == "memory"
            assert (await pool.run({"op": "ping"}, timeout=30)) == {"ok": True}
        finally:
            await pool.close()
    asyncio.run(main())


# ------------------------------------------------------------------ the real server
@pytest.fixture(scope="module")
def server():
    with Server("specs/vgg.net", "--timeout", str(TIMEOUT)) as s:
        yield s


def test_binds_to_loopback_by_default(server):
    assert server.host == "127.0.0.1"
    assert "specs/vgg.net" in server.banner


def test_survives_garbage_on_the_socket(server):
    for junk in (b"\x00\x01\x02garbage\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", b"POST /api/check HTTP/1.1\r\n"
                 b"Host: x\r\nContent-Length: 99999999999999999999\r\n\r\n{",
                 b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"):
        with socket.create_connection((server.host, server.port), timeout=10) as s:
            s.sendall(junk)
            try:
                reply = s.recv(200)
            except (ConnectionResetError, socket.timeout):
                reply = b""
        assert reply == b"" or re.match(rb"HTTP/1\.[01] (4\d\d)", reply), reply[:80]
    r = httpx.post(server.url + "api/check", json={"text": VGG, "config": "D"}, timeout=30)
    assert r.status_code == 200 and r.json()["summary"]["params"] == 138_357_544


def _edit(i: int) -> str:
    """A distinct edit of vgg.net (no two the same: the server's cache cannot answer them)."""
    return VGG.replace("var num_classes = 1000", f"var num_classes = {1000 + i}")


async def _load(url: str, n: int, concurrency: int) -> list[int]:
    """``n`` distinct edits, ``concurrency`` at a time: the status of each (200 only with a summary)."""
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as c:
        async def one(i):
            async with sem:
                r = await c.post("api/check", json={"text": _edit(i), "config": "ABCDE"[i % 5]})
                ok = r.status_code == 200 and r.json().get("summary", {}).get("params", 0) > 0
                return 200 if ok else r.status_code
        return list(await asyncio.gather(*(one(i) for i in range(n))))


def _lone_edits(url: str, start: int, k: int = 3) -> None:
    """A few edits one after another, each answered in full (its own configuration, its own count)."""
    with httpx.Client(base_url=url, timeout=60) as c:
        for i in range(start, start + k):
            r = c.post("api/check", json={"text": _edit(i), "config": "D"})
            assert r.status_code == 200, r.text[:200]
            d = r.json()
            assert d["config"] == "D" and d["errors"] == []
            # the classifier's width follows the edit: num_classes = 1000 + i
            assert d["summary"]["params"] == 138_357_544 + 4097 * i


def _load_test(server, n: int, concurrency: int):
    _lone_edits(server.url, 10_000)
    statuses = asyncio.run(_load(server.url, n, concurrency))
    assert statuses.count(200) == n, {s: statuses.count(s) for s in set(statuses)}   # no request lost
    rss1 = rss_kib(server.proc.pid)
    statuses = asyncio.run(_load(server.url, n, concurrency))
    assert statuses.count(200) == n
    rss2 = rss_kib(server.proc.pid)
    _lone_edits(server.url, 20_000)      # served as before the load, the pool intact
    health = httpx.get(server.url + "api/health").json()
    assert health["workers"] == 2 and health["busy"] == 0
    assert health["timeouts"] == 0 and health["crashes"] == 0 and health["memory"] == 0
    # a second wave of the same size does not grow memory much (the cache and pool are bounded)
    assert rss2 - rss1 < max(150_000, rss1 // 4), (rss1, rss2)


def test_load_small(server):
    _load_test(server, n=40, concurrency=20)


@pytest.mark.slow
def test_load_few_hundred_concurrent_edits(server):
    _load_test(server, n=300, concurrency=300)


# ------------------------------------------------------------------ the command and its boundaries
def test_cli_usage_errors():
    from conftest import run_cli
    r = run_cli("serve", "no/such/file.net", "--port", "0")
    assert r.returncode == 2 and "no such spec file" in r.stderr
    r = run_cli("serve", "--port", "70000")
    assert r.returncode == 2 and "--port" in r.stderr
    r = run_cli("serve", "--help")
    assert r.returncode == 0 and "127.0.0.1" in r.stdout
    assert "serve" in run_cli("--help").stdout


def test_the_server_does_not_import_torch():
    import subprocess
    import sys
    code = ("import sys, netc.tools.serve.app, netc.tools.serve.work, netc.tools.serve.pool, netc.tools.serve.worker; "
            "from netc.tools.serve import work; work.handle({'op': 'check', 'text': work.STARTER}); "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_filename_and_examples_are_confined(client):
    r = client.post("/api/check", json={"text": 'include "passwd.net"\n', "filename": "/etc/x.net"})
    assert r.status_code == 422 and "filename" in r.json()["error"]
    spec = client.get("/api/spec?example=googlenet").json()
    assert spec["title"] == "googlenet.net"
    d = client.post("/api/check", json={"text": spec["text"], "filename": spec["filename"], "depth": 1}).json()
    assert d["config"] == "googlenet" and d["summary"]["params"] == 13_378_280
    assert d["lines"]["inception_4a"] > 0 and "inception_4a" in d["scopes"]


def test_starter_spec_without_a_file():
    app = create_app(workers=1, timeout=TIMEOUT)
    with TestClient(app, base_url="http://localhost") as c:
        spec = c.get("/api/spec").json()
        d = c.post("/api/check", json={"text": spec["text"]}).json()
        assert d["errors"] == [] and d["svg"] and d["summary"]["params"] > 0


def test_check_names_nodes_carries_hover_facts_and_folds_in_place():
    from netc.tools.serve.work import check
    text, name, _ = read_spec("specs/googlenet.net")
    doc = check({"op": "check", "text": text, "filename": name})
    assert 'id="n:inception_3a/3x3"' in doc["svg"] and 'id="c:inception_3a"' in doc["svg"]   # stable ids
    f = doc["facts"]["inception_3a/3x3"]
    assert (f["word"], f["shape"], f["params"], f["rf"]) == ("conv3-128", "128x28x28", 110720, [43, 8])
    rows = {r["full"]: r for r in doc["summary"]["layers"]}
    assert rows["inception_3a"]["block"] and rows["inception_3a"]["open"]
    assert rows["inception_3a/3x3"]["name"] == "3x3" and rows["inception_3a/3x3"]["level"] == 1
    folded = check({"op": "check", "text": text, "filename": name, "closed": ["inception_3a"]})
    assert 'id="n:inception_3a"' in folded["svg"] and 'id="n:inception_3a/3x3"' not in folded["svg"]
    assert folded["facts"]["inception_3a"]["params"] == rows["inception_3a"]["params"] == 163696
    assert "inception_3a/3x3" not in {r["full"] for r in folded["summary"]["layers"]}
    opened = check({"op": "check", "text": text, "filename": name, "depth": 1, "open": ["inception_4a"]})
    assert 'id="n:inception_4a/3x3"' in opened["svg"] and 'id="n:inception_3a"' in opened["svg"]


def test_open_and_closed_are_checked(client):
    assert client.post("/api/check", json={"text": VGG, "open": "conv1"}).status_code == 422
    assert client.post("/api/check", json={"text": VGG, "closed": [1, 2]}).status_code == 422
    assert client.post("/api/check", json={"text": VGG, "closed": ["x"] * 5000}).status_code == 422
    assert client.post("/api/check", json={"text": VGG, "closed": ["nothing"]}).status_code == 200
