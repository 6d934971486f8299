"""Keystroke to updated diagram in `netc serve`, for specs/vgg.net (configuration D).

Starts `netc serve specs/vgg.net` on 127.0.0.1, opens it in Debian's Chromium (playwright,
executable_path; no browser download), and presses N keys in the editor, one at a time, each
making a text the server has not seen (characters of a comment at the end of the file, so every
press is a full check of all seven configurations, D's IR and summary, and Graphviz's SVG).
Each latency runs from the key's keydown event in the page to the first animation frame after the
new diagram is in the page. Also prints the server's own time per check (worker round trip) and,
for reference, POST /api/check timed from Python.

    .venv/bin/python bench/bench_serve.py [--keys 60]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from serve_helpers import CHROMIUM, CHROMIUM_ARGS, Server  # noqa: E402

PROBE = """
window.__lat = []; window.__srv = []; let t0 = null;
document.addEventListener("keydown", () => { t0 = performance.now(); }, true);
document.addEventListener("netc:shown", (e) => {
  if (t0 === null) return;
  const start = t0; t0 = null;
  requestAnimationFrame(() => { window.__lat.push(performance.now() - start); window.__srv.push(e.detail.server_ms); });
});
"""


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def line(name, xs):
    return (f"{name:<34} median {statistics.median(xs):6.1f} ms   p90 {pct(xs, 90):6.1f} ms   "
            f"max {max(xs):6.1f} ms   (n={len(xs)})")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=60)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright
    if not os.path.exists(CHROMIUM):
        print(f"Chromium not found at {CHROMIUM}; install it (apt-get install chromium)")
        return 1
    with Server("specs/vgg.net:D") as srv, sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pg = b.new_page(viewport={"width": 1400, "height": 900})
        pg.goto(srv.url)
        pg.wait_for_function("document.querySelectorAll('#diagram svg g.node').length >= 20", timeout=30000)
        pg.evaluate(PROBE)
        pg.locator(".cm-content, textarea").first.click()
        pg.keyboard.press("Control+End")
        pg.keyboard.type("\n# ")
        pg.wait_for_timeout(500)
        pg.evaluate("window.__lat = []; window.__srv = [];")
        text = "the quick brown fox jumps over the lazy dog " * 4
        for i in range(args.keys):
            pg.keyboard.press(text[i % len(text)] if text[i % len(text)] != " " else "Space")
            pg.wait_for_function(f"window.__lat.length >= {i + 1}", timeout=30000)
        lat, srv_ms = pg.evaluate("window.__lat"), pg.evaluate("window.__srv")
        assert "138,357,544" in pg.inner_text("#totals")
        b.close()
        import httpx
        spec = (ROOT / "specs/vgg.net").read_text()
        http = []
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            for i in range(30):
                t = time.perf_counter()
                r = c.post("api/check", json={"text": spec + f"\n# {i} {time.time()}", "config": "D"})
                assert r.status_code == 200 and r.json()["svg"]
                http.append((time.perf_counter() - t) * 1000)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"netc serve specs/vgg.net:D, {os.cpu_count()} CPUs, 2 workers, load average {load}")
    print(line("keystroke -> diagram (browser)", lat))
    print(line("server: check + draw (worker)", srv_ms))
    print(line("POST /api/check from Python", http))
    ok = statistics.median(lat) <= 300
    print("target: keystroke to diagram at most 300 ms (median):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
