"""The playground's highlighter and the VS Code grammar are one source: playground/src/tokens.js is
written by editors/vscode/scripts/make_grammar.py from the same rules (netc's kind registry), and
its JavaScript scan gives, on every bundled spec, the same tokens as the TextMate grammar (run with
Python's re by test_editor_grammar's scanner). Runs with node; skipped without it."""
from __future__ import annotations

import json
import runpy
import shutil
import subprocess

import pytest

from test_editor_grammar import NEW_SYNTAX, ROOT, SPECS, tokenize

TOKENS = ROOT / "playground" / "src" / "tokens.js"
NODE = shutil.which("node")


def test_tokens_module_is_written_from_the_registry():
    make = runpy.run_path(str(ROOT / "editors/vscode/scripts/make_grammar.py"))
    assert make["tokens_js"]() == TOKENS.read_text(), \
        "playground/src/tokens.js is out of date: run editors/vscode/scripts/make_grammar.py"
    assert 'from "./tokens.js"' in (ROOT / "playground/src/editor.js").read_text()


def _js_tokens(texts: list[str]) -> list[list[list]]:
    script = ("import {tokenizeLine} from " + json.dumps(TOKENS.as_uri()) + ";\n"
              "let data = ''; process.stdin.on('data', d => data += d); process.stdin.on('end', () => {\n"
              "  const out = JSON.parse(data).map(t => t.split('\\n').map(tokenizeLine));\n"
              "  process.stdout.write(JSON.stringify(out)); });\n")
    p = subprocess.run([NODE, "--input-type=module", "-e", script], input=json.dumps(texts), capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_playground_tokens_are_the_grammars_on_every_spec():
    make = runpy.run_path(str(ROOT / "editors/vscode/scripts/make_grammar.py"))
    texts = [s.read_text() for s in SPECS] + [NEW_SYNTAX]
    names = [s.name for s in SPECS] + ["new syntax"]
    wrong = []
    for name, text, js in zip(names, texts, _js_tokens(texts)):
        for i, (line, got) in enumerate(zip(text.split("\n"), js), 1):
            want = [[a, b, make["tag"](s)] for a, b, s in tokenize(line)]
            if got != want:
                wrong.append(f"{name}:{i}: {line!r}: {got} != {want}")
    assert not wrong, "\n".join(wrong[:10])


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_a_name_that_starts_with_a_digit_is_not_a_number():
    line = "conv1-96 as 3x3_reduce"
    (toks,), = _js_tokens([line])
    named = {line[a:b]: t for a, b, t in toks}
    assert named == {"conv1-96": "typeName", "as": "keyword", "3x3_reduce": "labelName"}
