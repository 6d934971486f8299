"""Language-server latency, as an editor sees it: `netc lsp` as a process, a raw JSON-RPC client
over its stdin/stdout (no client library), the clock read when the message is written and when the
answer is read.

1. didChange -> publishDiagnostics on specs/vgg.net (seven configurations), for edits that change
   what the spec means (a layer's width alternates, so every version is new) and, as the acceptance
   check does, for blank lines appended at the end.
2. hover on a layer of the VGG table (its configuration's IR is already built) and on a block call
   of GoogLeNet.
3. start-up: from starting `netc lsp` to its answer to `initialize`, and to its first hover answered,
   beside `python -c pass` started the same way (medians of --starts interleaved runs).

Wall-clock times depend on what else the machine runs; the server's own CPU time per change (from
/proc) does not, and is printed beside them.

    .venv/bin/python bench/bench_lsp.py [--runs 30]
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import subprocess
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NETC = ROOT / ".venv" / "bin" / "netc"


class Client:
    def __init__(self):
        self.p = subprocess.Popen([str(NETC), "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, cwd=ROOT)
        self.q: queue.Queue = queue.Queue()
        self.n = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        f = self.p.stdout
        while True:
            hdr = {}
            while True:
                line = f.readline()
                if not line:
                    self.q.put(None)
                    return
                line = line.decode().strip()
                if not line:
                    break
                k, v = line.split(":", 1)
                hdr[k.lower()] = v.strip()
            self.q.put(json.loads(f.read(int(hdr["content-length"]))))

    def send(self, method, params, notify=False):
        msg = {"jsonrpc": "2.0", "method": method, "params": params}
        if not notify:
            self.n += 1
            msg["id"] = self.n
        b = json.dumps(msg).encode()
        self.p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(b) + b)
        self.p.stdin.flush()
        return msg.get("id")

    def wait(self, pred, timeout=30):
        end = time.time() + timeout
        while True:
            m = self.q.get(timeout=max(0.01, end - time.time()))
            if m is None:
                raise RuntimeError("the server stopped")
            if pred(m):
                return m

    def call(self, method, params):
        i = self.send(method, params)
        return self.wait(lambda m: m.get("id") == i)

    def diagnostics(self, uri):
        return self.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri)

    def close(self):
        try:
            self.call("shutdown", None)
            self.send("exit", None, notify=True)
            self.p.wait(timeout=10)
        except Exception:
            self.p.kill()


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far, from /proc; None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ms(samples):
    return f"median {statistics.median(samples):6.1f} ms  min {min(samples):6.1f}  max {max(samples):6.1f}"


def open_doc(c: Client, path: Path) -> tuple[str, str]:
    uri, text = path.resolve().as_uri(), path.read_text()
    c.send("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "netc", "version": 1, "text": text}},
           notify=True)
    c.diagnostics(uri)
    return uri, text


def change_latency(c: Client, uri: str, versions: list[str]) -> list[float]:
    out = []
    for v, text in enumerate(versions, start=2):
        t = time.perf_counter()
        c.send("textDocument/didChange", {"textDocument": {"uri": uri, "version": v},
                                          "contentChanges": [{"text": text}]}, notify=True)
        d = c.diagnostics(uri)
        out.append((time.perf_counter() - t) * 1000)
        assert d["params"]["diagnostics"] == [], d
    return out


def hover_latency(c: Client, uri: str, line: int, char: int, runs: int, expect: str) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        r = c.call("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": line, "character": char}})
        out.append((time.perf_counter() - t) * 1000)
        assert expect in json.dumps(r["result"]), r
    return out


def start_up(starts: int) -> None:
    init, first_hover, bare = [], [], []
    for _ in range(starts):
        t = time.perf_counter()
        subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-c", "pass"], check=True)
        bare.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        c = Client()
        try:
            c.call("initialize", {"processId": None, "rootUri": ROOT.as_uri(), "capabilities": {}})
            init.append((time.perf_counter() - t) * 1000)
            c.send("initialized", {}, notify=True)
            uri, _ = open_doc(c, ROOT / "specs" / "vgg.net")
            c.call("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 1}})
            first_hover.append((time.perf_counter() - t) * 1000)
        finally:
            c.close()
    print(f"start-up: initialize answered after {ms(init)}; first hover after {ms(first_hover)}; "
          f"python -c pass {ms(bare)}  ({starts} starts; goal: initialize within 500 ms)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--starts", type=int, default=7)
    args = ap.parse_args()
    start_up(args.starts)
    c = Client()
    try:
        c.call("initialize", {"processId": None, "rootUri": ROOT.as_uri(), "capabilities": {}})
        c.send("initialized", {}, notify=True)
        uri, vgg = open_doc(c, ROOT / "specs" / "vgg.net")
        first = "conv3-64  | conv3-64  | conv3-64  | conv3-64  | conv3-64  | conv3-64"
        assert first in vgg
        edits = [vgg.replace(first, first.replace("conv3-64", f"conv3-{64 + (i % 2) * 32 + i // 2 % 7}"), 1)
                 for i in range(args.runs)]
        cpu0 = cpu_seconds(c.p.pid)
        lat = change_latency(c, uri, edits)
        cpu1 = cpu_seconds(c.p.pid)
        print(f"didChange -> publishDiagnostics, vgg.net, a layer edited     {ms(lat)}  ({args.runs} edits)")
        if cpu0 is not None:
            print(f"  the server's CPU time per change (whatever the load): {(cpu1 - cpu0) * 1000 / args.runs:6.1f} ms")
        lat2 = change_latency(c, uri, [vgg + "\n" * (i + 1) for i in range(args.runs)])
        print(f"didChange -> publishDiagnostics, vgg.net, blank lines added   {ms(lat2)}  ({args.runs} edits)")
        lines = vgg.split("\n")
        row = next(i for i, l in enumerate(lines) if l.strip().startswith(first))
        col = [i for i in range(len(lines[row])) if lines[row].startswith("conv3-64", i)][4] + 2
        h = hover_latency(c, uri, row, col, args.runs, "conv1_1")
        print(f"hover, vgg.net, conv3-64 of column D                         {ms(h)}  ({args.runs} requests)")
        guri, g = open_doc(c, ROOT / "specs" / "googlenet.net")
        glines = g.split("\n")
        call = next(i for i, l in enumerate(glines) if l.strip().startswith("inception(64, 96"))
        h2 = hover_latency(c, guri, call, 6, args.runs, "inception_3a")
        print(f"hover, googlenet.net, inception(...) call                    {ms(h2)}  ({args.runs} requests)")
        ok = statistics.median(lat) <= 50 and statistics.median(h) <= 20
        print(f"goals: diagnostics median <= 50 ms, hover median <= 20 ms: {'met' if ok else 'NOT met'}")
    finally:
        c.close()


if __name__ == "__main__":
    main()
