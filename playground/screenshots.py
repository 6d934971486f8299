"""Screenshots of the playground for the README: docs/playground-{vgg,googlenet,error}.png.

    .venv/bin/python playground/screenshots.py

Runs `netc serve` on 127.0.0.1 and Debian's Chromium (playwright, executable_path). Look at the
pictures before committing them.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from serve_helpers import CHROMIUM, CHROMIUM_ARGS, Server  # noqa: E402

SIZE = {"width": 1440, "height": 900}
READY = "document.querySelectorAll('#diagram svg g.node').length >= 10"


def shot(browser, ref: str, out: str, prepare) -> None:
    with Server(ref) as srv:
        pg = browser.new_page(viewport=SIZE, device_scale_factor=1)
        pg.goto(srv.url)
        pg.wait_for_function(READY, timeout=30000)
        prepare(pg)
        pg.wait_for_timeout(400)
        pg.screenshot(path=str(ROOT / "docs" / out))
        pg.close()
        print("wrote", "docs/" + out)


def vgg(pg) -> None:
    pg.wait_for_function("document.querySelector('#totals').innerText.includes('138,357,544')")
    pg.click("#diagram g.node[data-name='conv3_3']")      # selects its cell in column D


def googlenet(pg) -> None:
    pg.select_option("#depth", "1")
    pg.wait_for_function("document.querySelectorAll('#diagram svg g.node').length < 40")
    pg.wait_for_timeout(300)
    lines = pg.evaluate("window.netcPlayground.state.lines")
    pg.evaluate(f"window.netcPlayground.editor.selectLine({lines['inception_4a']})")


def error(pg) -> None:
    text = pg.evaluate("window.netcPlayground.editor.getText()")
    row = "      conv3-128 | conv3-128 | conv3-128 | conv3-128 | conv3-128 | conv3-128\n"
    broken = text.replace("      dropout(0.5)\n", "      dropuot(0.5)\n", 1).replace(
        row, row.replace("| conv3-128 | conv3-128\n", "| conv3-128(act=rleu) | conv3-128\n"), 1)
    pg.evaluate("t => window.netcPlayground.editor.setText(t)", broken)
    pg.wait_for_function("/did you mean/.test(document.querySelector('#errors').innerText)")
    line = broken.splitlines().index("      dropuot(0.5)") + 1
    pg.evaluate(f"window.netcPlayground.editor.selectLine({line})")


def main() -> int:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        shot(b, "vgg:D", "playground-vgg.png", vgg)
        shot(b, "googlenet", "playground-googlenet.png", googlenet)
        shot(b, "vgg:D", "playground-error.png", error)
        b.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
