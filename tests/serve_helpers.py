"""Helpers for the playground's tests: a real `netc serve` on 127.0.0.1 with a free port, Chromium."""
from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without these, Chromium calls outside hosts (updates, sync, QUIC probes)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class Server:
    """``netc serve ARGS --port 0`` in a subprocess; ``.url``, ``.port``, ``.host``, ``.proc``, ``.log``
    (its stderr after the banner, read as it comes)."""

    def __init__(self, *args: str, timeout: float = 60.0):
        self.proc = subprocess.Popen([sys.executable, "-m", "netc.tools.cli", "serve", *args, "--port", "0"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.banner = ""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stderr], [], [], 0.2)
            if ready:
                line = self.proc.stderr.readline().decode("utf-8", "replace")
                self.banner += line
                m = re.search(r"http://(\S+?):(\d+)/", line)
                if m:
                    self.host, self.port = m.group(1), int(m.group(2))
                    self.url = f"http://{self.host}:{self.port}/"
                    self._drain()
                    self._wait_ready(deadline)
                    return
            if self.proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"netc serve did not start: {self.banner}")

    def _drain(self) -> None:
        """Keep reading the server's stderr (a full pipe would block it) into ``.log``."""
        self._log: list[str] = []
        self._log_lock = threading.Lock()

        def read():
            for raw in iter(self.proc.stderr.readline, b""):
                with self._log_lock:
                    self._log.append(raw.decode("utf-8", "replace"))
        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()

    @property
    def log(self) -> str:
        """What the server has written to stderr after its banner, so far."""
        with self._log_lock:
            return "".join(self._log)

    def worker_pids(self) -> list[int]:
        """The server's worker processes (its direct children)."""
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def _wait_ready(self, deadline: float) -> None:
        import urllib.request
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "api/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        reader = getattr(self, "_reader", None)
        if reader is not None:
            reader.join(timeout=10)
        if self.proc.stderr:
            self.proc.stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def rss_kib(pid: int) -> int:
    """Resident memory of a process and its children (KiB), from /proc."""
    total = 0
    pids = [pid]
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        pids += [int(p) for p in out]
    except (OSError, ValueError):
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total
