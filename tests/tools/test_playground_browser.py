"""The playground in a real browser: Debian's Chromium driven by playwright (no browser download).

Skipped only where Chromium or playwright is genuinely absent (scripts/setup.sh installs both).
"""
from __future__ import annotations

import os
import re

import pytest

from serve_helpers import CHROMIUM, CHROMIUM_ARGS, Server

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[test])")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def server():
    with Server("specs/vgg.net") as s:
        yield s


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    pg = browser.new_page(viewport={"width": 1400, "height": 900})
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(server.url)
    pg.wait_for_function("document.querySelectorAll('#diagram svg g.node').length >= 20", timeout=20000)
    yield pg
    pg.close()
    assert not errors, errors


def cursor_line(pg) -> int:
    return pg.evaluate("window.netcPlayground.editor.cursorLine()")


def test_diagram_summary_and_editor(page):
    assert page.evaluate("window.netcPlayground.editor.kind") == "codemirror"
    body = page.inner_text("body")
    assert "132,863,336" in body                      # vgg.net's first configuration, A
    assert page.locator("#summary tbody tr").count() == 19        # A: 11 weight layers, 5 pools, 2 dropouts, soft-max
    assert page.locator(".cm-content .ͼ1, .cm-content span").count() > 10     # highlighted tokens


def test_typing_an_error_shows_it_with_did_you_mean(page):
    page.locator(".cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\nmaxpol\n")
    page.wait_for_function("(t => /unknown layer 'maxpol'/.test(t) && /did you mean 'maxpool'/.test(t))"
                           "(document.querySelector('#errors').innerText)", timeout=30000)
    text = page.inner_text("#errors")
    assert "unknown layer 'maxpol'" in text and re.search(r"line \d+:1", text)
    # the editor marks the line; deleting it clears the error
    page.wait_for_selector(".cm-lintRange-error", timeout=30000)
    for _ in range(30):                 # undo the typing (history groups it in steps that depend on timing)
        if "maxpol" not in page.evaluate("window.netcPlayground.editor.getText()"):
            break
        page.keyboard.press("Control+z")
    assert "maxpol" not in page.evaluate("window.netcPlayground.editor.getText()")
    page.wait_for_function("document.querySelector('#errors').hidden", timeout=30000)


def test_clicking_a_node_selects_its_line_and_the_cursor_highlights_nodes(page, server):
    lines = page.evaluate("window.netcPlayground.state.lines")
    node = page.locator("#diagram g.node[data-name='conv3_1']")
    node.click()
    assert cursor_line(page) == lines["conv3_1"]
    selected = page.evaluate("(() => { const v = window.netcPlayground.editor.view; const s = v.state.selection.main;"
                             " return v.state.doc.sliceString(s.from, s.to); })()")
    assert selected.strip().startswith("conv3-256")
    # the line under the cursor highlights its node (every column's layer of that table row)
    page.evaluate(f"window.netcPlayground.editor.selectLine({lines['fc6']})")
    page.wait_for_selector("#diagram g.node.picked[data-name='fc6']")
    assert page.locator("#summary tr.picked").count() == 1


def test_configuration_picker(page):
    page.select_option("#config", "D")
    page.wait_for_function("document.querySelector('#totals').innerText.includes('138,357,544')")
    assert page.locator("#diagram g.node").count() >= 24
    page.select_option("#config", "E")
    page.wait_for_function("document.querySelector('#totals').innerText.includes('143,667,240')")


def test_diff_view(page):
    page.click("#tab-diff")
    page.select_option("#diff-old", "A")
    page.select_option("#diff-new", "B")
    page.wait_for_function("document.querySelector('#diff-list').innerText.includes('2 added')")
    listing = page.inner_text("#diff-list")
    assert "conv1_2" in listing and "+184,512 params" in listing
    assert page.locator("#diff-list .edit.add").count() == 2
    # NEW is drawn with the added layers in netc diff --render's green
    from netc.visualize import palette
    green = palette.HIGHLIGHT["added"].fill.lower()
    assert green in page.inner_html("#diagram").lower()
    page.click("#tab-diagram")
    page.wait_for_function("!document.querySelector('#table-wrap').hidden")


def test_downloads(page):
    with page.expect_download() as dl:
        page.click("#dl-svg")
    assert dl.value.suggested_filename.endswith(".svg")
    with page.expect_download() as dl:
        page.click("#dl-png")
    path = dl.value.path()
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_textarea_fallback_without_the_bundle(browser, server):
    pg = browser.new_page(viewport={"width": 1200, "height": 800})
    pg.route("**/static/editor.js", lambda route: route.fulfill(status=404, body=""))
    pg.goto(server.url)
    pg.wait_for_function("document.querySelectorAll('#diagram svg g.node').length >= 20", timeout=20000)
    assert pg.evaluate("window.netcPlayground.editor.kind") == "textarea"
    assert "plain text area" in pg.inner_text("#editor-note")
    pg.locator("textarea").click()
    pg.keyboard.press("Control+End")
    pg.keyboard.type("\nmaxpol\n")
    pg.wait_for_function("/did you mean 'maxpool'/.test(document.body.innerText)")
    pg.close()


def test_a_hostile_spec_is_stopped_and_the_next_keystroke_answered(page):
    from test_serve import SLOW
    original = page.evaluate("window.netcPlayground.editor.getText()")
    page.evaluate("t => window.netcPlayground.editor.setText(t)", SLOW)
    page.wait_for_function("/takes too long to check/.test(document.querySelector('#errors').innerText)",
                           timeout=30000)
    assert "takes too long" in page.inner_text("#status")
    page.evaluate("t => window.netcPlayground.editor.setText(t)", original)
    page.wait_for_function("document.querySelector('#errors').hidden && "
                           "document.querySelector('#totals').innerText.includes('132,863,336')", timeout=30000)
