"""The editors' highlighting, checked on every bundled spec against the parser's own syntax tree:
the VS Code TextMate grammar (its regular expressions run with Python's re, scanning as TextMate
does) and the Pygments lexer (registered as the entry point ``netc``)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import netc
from netc.dsl import ast
from netc.kinds import DEFAULT

lookup_word = DEFAULT.lookup_word
from netc.tools.lsp.navigate import walk

ROOT = Path(__file__).resolve().parents[2]
GRAMMAR = json.loads((ROOT / "editors/vscode/syntaxes/netc.tmLanguage.json").read_text())
SPECS = sorted(netc.bundled_dir().glob("*.net"))


# ---------------------------------------------------------------- a TextMate scanner in Python
def _rules(patterns):
    for p in patterns:
        if "include" in p:
            yield from _rules([GRAMMAR["repository"][p["include"].lstrip("#")]])
        else:
            yield p


def _emit(out, m, rule, caps_key):
    caps = rule.get(caps_key) or {}
    if rule.get("name") and caps_key != "endCaptures":
        out.append((m.start(), m.end(), rule["name"]))
    for g, c in caps.items():
        if m.group(int(g)) is not None and m.end(int(g)) > m.start(int(g)):
            out.append((m.start(int(g)), m.end(int(g)), c["name"]))


def tokenize(line: str) -> list[tuple[int, int, str]]:
    """(start, end, scope) for one line: at each step the rule matching earliest wins (the first
    listed on a tie); a begin/end rule scans its own patterns until its end matches (in the line)."""
    out, pos = [], 0
    top = list(_rules(GRAMMAR["patterns"]))
    while pos < len(line):
        best = None
        for rule in top:
            m = re.compile(rule.get("match") or rule["begin"]).search(line, pos)
            if m and (best is None or m.start() < best[0].start()):
                best = (m, rule)
        if best is None:
            break
        m, rule = best
        if "match" in rule:
            _emit(out, m, rule, "captures")
            pos = max(m.end(), m.start() + 1)
            continue
        _emit(out, m, rule, "beginCaptures")
        pos = m.end()
        inner, end = list(_rules(rule.get("patterns", []))), re.compile(rule["end"])
        while True:
            e = end.search(line, pos)
            hits = [(r, re.compile(r["match"]).search(line, pos)) for r in inner]
            hits = [(r, h) for r, h in hits if h and (e is None or h.start() < e.start())]
            if not hits:
                if e is not None:
                    _emit(out, e, rule, "endCaptures")
                    pos = max(e.end(), pos)
                else:
                    pos = len(line)
                break
            r, h = min(hits, key=lambda rh: rh[1].start())
            out.append((h.start(), h.end(), r["name"]))
            pos = max(h.end(), h.start() + 1)
    return out


def scopes_at(tokens, col0: int, end0: int) -> set[str]:
    """The scopes of tokens covering exactly [col0, end0) or more."""
    return {s for a, b, s in tokens if a <= col0 and end0 <= b}


# ---------------------------------------------------------------- expectations from the AST
def expectations(text: str):
    """(line, col0, end0, scope prefix, what) for every token whose class the AST knows."""
    module = netc.parse(text)
    out = []

    def at(span, scope, what):
        if span is not None and span.line == span.end_line:
            out.append((span.line, span.col - 1, span.end_col - 1, scope, what))

    for node, _ in walk(module.items):
        if isinstance(node, ast.Config):
            at(node.name_span, "entity.name.type.configuration", f"configuration {node.name}")
            at(node.base_span, "entity.name.type.configuration", f"base {node.base}")
        elif isinstance(node, ast.Table):
            for name, span in node.columns:
                at(span, "entity.name.type.configuration", f"table column {name}")
        elif isinstance(node, ast.BlockDef):
            at(node.name_span, "entity.name.function.block", f"block {node.name}")
        elif isinstance(node, ast.Layer):
            builtin = lookup_word(node.word) is not None
            at(node.word_span, "support.function.layer" if builtin else "entity.name.function.call", node.word)
            at(node.name_span, "entity.name.tag", f"as {node.name}")
        elif isinstance(node, ast.Number):
            at(node.span, "constant.numeric", f"number {node.text}")
        elif isinstance(node, ast.String):
            at(node.span, "string.quoted", "string")
        elif isinstance(node, (ast.Replace, ast.Remove)):
            for name, span in node.targets:
                at(span, "entity.name.tag", f"edit target {name}")
        elif isinstance(node, ast.Group) and node.op_span is not None:
            at(node.op_span, "keyword.other.join", f"join {node.op}")
        elif isinstance(node, ast.Ref):
            at(node.target_span, "entity.name.tag", f"from {node.target}")
    lines = text.split("\n")
    for i, line in enumerate(lines, 1):
        for m in re.finditer(r"#.*$", line):
            if line[:m.start()].count('"') % 2 == 0:
                out.append((i, m.start(), m.end(), "comment.line", "comment"))
                break
        code = line.split("#")[0]
        for m in re.finditer(r"^\s*(config|block|table|var|let|input|include|default|aux|replace|remove|insert|if|from)\b", code):
            out.append((i, m.start(1), m.end(1), "keyword.control", m.group(1)))
        for m in re.finditer(r"\b(extends|as|on|with|after|before|weight)\b(?!-)", code):
            out.append((i, m.start(1), m.end(1), "keyword.control", m.group(1)))
        for m in re.finditer(r"->", code):
            out.append((i, m.start(), m.end(), "keyword.operator", "->"))
    return out


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_textmate_grammar_classes_every_token(spec):
    text = spec.read_text()
    lines = text.split("\n")
    tokens = {i: tokenize(line) for i, line in enumerate(lines, 1)}
    wrong = []
    for line, a, b, scope, what in expectations(text):
        got = scopes_at(tokens[line], a, b)
        if not any(s.startswith(scope) for s in got):
            wrong.append(f"{spec.name}:{line}:{a + 1}: {what!r} is {sorted(got) or 'unclassified'}, not {scope}")
    assert not wrong, "\n".join(wrong[:20])


NEW_SYNTAX = """\
input 32x32 RGB
var depth = 2
block unit(c, n=2, down=false) {
    let m = c * 4
    if down and not n == 1 {
        conv3-m(stride=2) as reduce
    } else {
        conv1-m
    }
    residual {
        conv3-c x n
    }
}
conv3-16 as stem
unit(16, depth) as u1
conv1-32 x(depth - 1)
concat {
    conv1-8
    from stem -> maxpool3/1(pad=1)
}
gap
FC-10
"""


def test_textmate_grammar_on_let_if_joins_expressions_and_from():
    lines = NEW_SYNTAX.split("\n")
    wrong = [f"{line}:{a + 1}: {what!r} is {sorted(scopes_at(tokenize(lines[line - 1]), a, b))}, not {scope}"
             for line, a, b, scope, what in expectations(NEW_SYNTAX)
             if not any(s.startswith(scope) for s in scopes_at(tokenize(lines[line - 1]), a, b))]
    assert not wrong, "\n".join(wrong)
    named = {NEW_SYNTAX.split("\n")[10][a:b]: s for a, b, s in tokenize(lines[10])}
    assert named["x"] == "keyword.operator.repeat.netc" and named["n"] == "variable.other.netc"
    assert {lines[4][a:b] for a, b, s in tokenize(lines[4]) if s == "keyword.control.netc"} == {"if", "and", "not"}


def test_every_token_class_appears_in_the_library():
    seen = set()
    for spec in SPECS:
        for line in spec.read_text().split("\n"):
            seen |= {s.rsplit(".", 1)[0] for _, _, s in tokenize(line)}
    for scope in ("comment.line.number-sign", "keyword.control", "support.function.layer", "constant.numeric",
                  "constant.numeric.size", "entity.name.function.block",
                  "entity.name.function.call", "entity.name.type.configuration", "entity.name.tag",
                  "keyword.operator", "keyword.operator.repeat", "variable.parameter"):
        assert scope in seen, scope


def test_grammar_tokens_in_a_small_spec():
    toks = tokenize("conv3-64(stride=2) x3 as c1 -> FC-num_classes  # head")
    text = "conv3-64(stride=2) x3 as c1 -> FC-num_classes  # head"
    named = {text[a:b]: s for a, b, s in toks}
    assert named["conv3-64"] == "support.function.layer.netc"
    assert named["stride"] == "variable.parameter.netc"
    assert named["2"] == "constant.numeric.netc"
    assert named["x3"] == "keyword.operator.repeat.netc"
    assert named["c1"] == "entity.name.tag.netc"
    assert named["FC-num_classes"] == "support.function.layer.netc"
    assert named["# head"] == "comment.line.number-sign.netc"
    line = 'include "blocks.net"'
    assert [(line[a:b], s) for a, b, s in tokenize(line)] == [
        ("include", "keyword.control.netc"), ('"blocks.net"', "string.quoted.double.netc")]
    line = "table A | A-LRN {"
    assert [line[a:b] for a, b, s in tokenize(line) if s.startswith("entity.name.type")] == ["A", "A-LRN"]


def test_grammar_is_written_from_the_registry():
    """syntaxes/netc.tmLanguage.json is what scripts/make_grammar.py writes (rerun it after adding a
    kind or a keyword), and its layer pattern takes every layer word netc knows."""
    import runpy
    make = runpy.run_path(str(ROOT / "editors/vscode/scripts/make_grammar.py"))
    assert make["text"]() == (ROOT / "editors/vscode/syntaxes/netc.tmLanguage.json").read_text(), \
        "the VS Code grammar is out of date: run editors/vscode/scripts/make_grammar.py"
    from netc.tools.lsp.adapter import layer_words
    from netc.tools.pygments_lexer import LAYER
    layer = re.compile(r"(?i:" + LAYER + r")\Z")
    missing = [w for w, _, _ in layer_words() if not layer.match(w.replace("[6,3,2,1]", ""))]
    assert not missing, missing


def test_vscode_manifest():
    pkg = json.loads((ROOT / "editors/vscode/package.json").read_text())
    lang = pkg["contributes"]["languages"][0]
    assert lang["id"] == "netc" and ".net" in lang["extensions"]
    assert (ROOT / "editors/vscode" / lang["configuration"]).is_file()
    grammar = pkg["contributes"]["grammars"][0]
    assert grammar["scopeName"] == GRAMMAR["scopeName"]
    assert (ROOT / "editors/vscode" / grammar["path"]).is_file()
    assert "vscode-languageclient" in pkg["dependencies"]
    conf = json.loads((ROOT / "editors/vscode/language-configuration.json").read_text())
    assert conf["comments"]["lineComment"] == "#"
    js = (ROOT / "editors/vscode" / pkg["main"]).read_text()
    assert '"lsp"' in js and "LanguageClient" in js


# ---------------------------------------------------------------- Pygments
def test_pygments_finds_the_lexer_by_name_and_file_name():
    lexers = pytest.importorskip("pygments.lexers")
    assert lexers.get_lexer_by_name("netc").name == "netc"
    assert lexers.get_lexer_for_filename("vgg.net").name == "netc"


@pytest.mark.parametrize("spec", SPECS + ["new syntax"], ids=lambda p: getattr(p, "stem", p))
def test_pygments_lexes_every_spec_without_errors(spec):
    pytest.importorskip("pygments")
    from pygments.token import Comment, Error, Keyword, Name, Number
    from netc.tools.pygments_lexer import NetcLexer
    text = spec.read_text() if isinstance(spec, Path) else NEW_SYNTAX + "# a comment\n"
    tokens = list(NetcLexer().get_tokens(text))
    assert "".join(v for _, v in tokens).rstrip("\n") == text.rstrip("\n")
    assert [v for t, v in tokens if t in Error] == []
    kinds = {}
    for t, v in tokens:
        kinds.setdefault(v, set()).add(t)
    module = netc.parse(text)
    for node, _ in walk(module.items):
        if isinstance(node, ast.Layer) and lookup_word(node.word) is not None:
            assert Name.Builtin in kinds[node.word], node.word
        elif isinstance(node, ast.BlockDef):
            assert Name.Function in kinds[node.name], node.name
        elif isinstance(node, ast.Config):
            assert Name.Class in kinds[node.name], node.name
    assert any(t in Comment for t, _ in tokens) and any(t in Keyword for t, _ in tokens)
    assert any(t in Number for t, _ in tokens)


def test_the_python_scanner_agrees_with_vscode_textmate():
    """Where `npm install` has been run in editors/vscode (and node is there), VS Code's own engine
    (vscode-textmate with Oniguruma) must give the same tokens as the scanner above."""
    import shutil
    import subprocess
    here = ROOT / "editors/vscode"
    if not shutil.which("node") or not (here / "node_modules/vscode-textmate").exists():
        pytest.skip("node and editors/vscode/node_modules (npm install) are not there")
    r = subprocess.run(["node", "scripts/tokenize.js", "syntaxes/netc.tmLanguage.json", *map(str, SPECS)],
                       cwd=here, capture_output=True, text=True, timeout=120, check=True)
    theirs = [tuple(t) for t in json.loads(r.stdout)]
    ours = [(spec.name, line[a:b].strip(), scope) for spec in SPECS for line in spec.read_text().split("\n")
            for a, b, scope in sorted(tokenize(line)) if line[a:b].strip()]
    assert ours == theirs
