"""Write syntaxes/netc.tmLanguage.json from the same patterns as the Pygments lexer (netc's
registry of layer kinds included). Run it after adding a kind or a keyword:

    .venv/bin/python editors/vscode/scripts/make_grammar.py

tests/tools/test_editor_grammar.py fails while the checked-in grammar differs from what this writes.
Every rule is a one-line `match` or a one-line begin/end, with regular expressions that Python's
re and Oniguruma read alike.

It also writes the playground's highlighter rules, playground/src/tokens.js (the same rules, as
JavaScript regular expressions, with the scan the test runs: the rule matching earliest wins), so
that the VS Code grammar, the playground and Pygments (whose layer words, joins, keywords and names
these are) share one source; rebuild the playground's bundle after (cd playground && npm run build).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from netc.tools.pygments_lexer import JOINS, KEYWORDS, LAYER, NAME

OUT = Path(__file__).resolve().parent.parent / "syntaxes" / "netc.tmLanguage.json"
TOKENS_JS = Path(__file__).resolve().parents[3] / "playground" / "src" / "tokens.js"
KW = "keyword.control.netc"


def grammar() -> dict:
    keywords = "|".join(k for k in KEYWORDS if k not in ("as", "replace", "remove", "after", "before", "from"))
    return {
        "$schema": "https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json",
        "name": "netc",
        "scopeName": "source.netc",
        "fileTypes": ["net"],
        "comment": "Written by scripts/make_grammar.py from netc's layer registry; do not edit by hand.",
        "patterns": [{"include": "#" + r} for r in (
            "comment", "string", "config", "table", "block-def", "var", "input", "aux", "edit", "position",
            "setting", "label", "join", "keyword", "kwarg", "size", "repeat", "repeat-var", "layer", "call",
            "number", "operator", "identifier")],
        "repository": {
            "comment": {"name": "comment.line.number-sign.netc", "match": "#.*$"},
            "string": {"name": "string.quoted.double.netc", "match": "\"[^\"\\n]*\""},
            "config": {
                "match": r"\b(?:(default)\s+)?(config)\s+(" + NAME + r")(?:\s+(extends)\s+(" + NAME + r"))?",
                "captures": {"1": {"name": KW}, "2": {"name": KW}, "3": {"name": "entity.name.type.configuration.netc"},
                             "4": {"name": KW}, "5": {"name": "entity.name.type.configuration.netc"}}},
            "table": {
                "begin": r"\b(table)\b", "beginCaptures": {"1": {"name": KW}}, "end": r"(?=\{)|(?=#)|$",
                "patterns": [{"name": "entity.name.type.configuration.netc", "match": NAME},
                             {"name": "keyword.operator.netc", "match": r"\|"}]},
            "block-def": {
                "begin": r"\b(block)\s+([A-Za-z_][A-Za-z0-9_]*)\s*(\()",
                "beginCaptures": {"1": {"name": KW}, "2": {"name": "entity.name.function.block.netc"},
                                  "3": {"name": "punctuation.netc"}},
                "end": r"\)|$", "endCaptures": {"0": {"name": "punctuation.netc"}},
                "patterns": [{"include": "#string"}, {"include": "#number"},
                             {"name": "constant.language.netc", "match": r"\b(?:true|false)\b"},
                             {"name": "variable.parameter.netc", "match": r"[A-Za-z_][A-Za-z0-9_]*"},
                             {"name": "keyword.operator.netc", "match": r"[=,]"}]},
            "var": {"match": r"\b(var|let)\s+([A-Za-z_][A-Za-z0-9_\-]*)",
                    "captures": {"1": {"name": KW}, "2": {"name": "variable.other.definition.netc"}}},
            "input": {
                "match": r"\b(input)\s+([0-9A-Za-z_]+(?:[xX\u00d7][0-9A-Za-z_]+){1,2})(?:\s+([A-Za-z0-9_]+))?",
                "captures": {"1": {"name": KW}, "2": {"name": "constant.numeric.size.netc"},
                             "3": {"name": "constant.language.channels.netc"}}},
            "aux": {
                "match": r"\b(aux)\s+(" + NAME + r")\s+(on)\s+(" + NAME + r")(?:\s+(weight)\b)?",
                "captures": {"1": {"name": KW}, "2": {"name": "entity.name.tag.netc"}, "3": {"name": KW},
                             "4": {"name": "entity.name.tag.netc"}, "5": {"name": KW}}},
            "edit": {
                "begin": r"\b(replace|remove)\b", "beginCaptures": {"1": {"name": KW}},
                "end": r"\b(with)\b|(?=#)|$", "endCaptures": {"1": {"name": KW}},
                "patterns": [{"name": "entity.name.tag.netc", "match": NAME},
                             {"name": "keyword.operator.netc", "match": ","}]},
            "position": {"match": r"\b(after|before|from)\s+(" + NAME + r")",
                         "captures": {"1": {"name": KW}, "2": {"name": "entity.name.tag.netc"}}},
            "setting": {"match": r"\b(output|naming)\s+([A-Za-z_][A-Za-z0-9_]*)",
                        "captures": {"1": {"name": KW}, "2": {"name": "constant.language.netc"}}},
            "label": {"match": r"\b(as)\s+(" + NAME + r")",
                      "captures": {"1": {"name": KW}, "2": {"name": "entity.name.tag.netc"}}},
            "join": {"match": r"\b(" + JOINS + r")\b(?=[ \t]*[({]|[ \t]+as\b)",
                     "captures": {"1": {"name": "keyword.other.join.netc"}}},
            "keyword": {"match": r"\b(?:(" + keywords + r")|(true|false))\b(?![\-/])",
                        "captures": {"1": {"name": KW}, "2": {"name": "constant.language.netc"}}},
            "kwarg": {"match": r"([A-Za-z_][A-Za-z0-9_]*)\s*(?==(?!=))",
                      "captures": {"1": {"name": "variable.parameter.netc"}}},
            "size": {"name": "constant.numeric.size.netc", "match": r"\b\d+[xX\u00d7]\d+(?:[xX\u00d7]\d+)?\b"},
            "repeat": {"name": "keyword.operator.repeat.netc",
                       "match": r"(?<![A-Za-z0-9_\-])[xX\u00d7][ \t]*\d+(?![A-Za-z0-9_])"},
            "repeat-var": {"name": "keyword.operator.repeat.netc",
                           "match": r"(?<=[A-Za-z0-9_)\]][ \t])[x\u00d7](?=[ \t]*[A-Za-z_(])(?![ \t]*(?:as|on|and|or)\b)"},
            "layer": {"name": "support.function.layer.netc",
                      "match": r"(?<![A-Za-z0-9_\-/])(?i:" + LAYER + r")(?![A-Za-z0-9_\-/])"},
            "call": {"match": r"([A-Za-z_][A-Za-z0-9_]*)\s*(?=\()",
                     "captures": {"1": {"name": "entity.name.function.call.netc"}}},
            "number": {"name": "constant.numeric.netc",
                       "match": r"(?<![A-Za-z0-9_])(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![A-Za-z0-9_])"},
            "operator": {"name": "keyword.operator.netc", "match": r"->|==|!=|<=|>=|[|=<>*/%+\-,]|[{}()\[\]]"},
            "identifier": {"name": "variable.other.netc",
                           "match": r"[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*(?:/[A-Za-z0-9_]+)?"},
        },
    }


def text() -> str:
    return json.dumps(grammar(), indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------- the playground's rules
#: CodeMirror's highlighting tag for a TextMate scope (the longest matching prefix wins)
TAGS = {
    "comment": "comment", "string": "string", "keyword.control": "keyword", "keyword.other.join": "keyword",
    "constant.language": "atom", "constant.numeric": "number", "keyword.operator.repeat": "number",
    "keyword.operator": "operator", "support.function.layer": "typeName",
    "entity.name.function": "variableName.function", "entity.name.type": "className", "entity.name.tag": "labelName",
    "variable.parameter": "propertyName", "variable.other.definition": "variableName.definition", "variable.other": "variableName",
    "punctuation": "punctuation",
}


def tag(scope: str) -> str:
    best = max((k for k in TAGS if scope.startswith(k)), key=len, default=None)
    return TAGS[best] if best else "variableName"


def _js(pattern: str) -> tuple[str, str]:
    """A Python/Oniguruma pattern as a JavaScript one: the inline (?i:...) of the layer words
    becomes the rule's i flag (the rest of that rule is the same in either case)."""
    flags = ""
    if "(?i:" in pattern:
        pattern, flags = pattern.replace("(?i:", "(?:"), "i"
    return pattern, flags


def _rule(r: dict, repo: dict) -> dict:
    if "include" in r:
        return _rule(repo[r["include"].lstrip("#")], repo)
    out: dict = {}
    if "match" in r:
        out["match"], out["flags"] = _js(r["match"])
    else:
        out["begin"], out["flags"] = _js(r["begin"])
        out["end"], out["endFlags"] = _js(r["end"])
        out["patterns"] = [_rule(p, repo) for p in r.get("patterns", [])]
    if r.get("name"):
        out["tag"] = tag(r["name"])
    for key in ("captures", "beginCaptures", "endCaptures"):
        if r.get(key):
            out[key] = {g: tag(c["name"]) for g, c in r[key].items()}
    return out


def tokens_js() -> str:
    g = grammar()
    rules = [_rule(p, g["repository"]) for p in g["patterns"]]
    data = json.dumps(rules, indent=1, ensure_ascii=False)
    return f"""// Written by editors/vscode/scripts/make_grammar.py from netc's layer registry; do not edit by hand.
// The playground's highlighting rules: the VS Code grammar's rules (syntaxes/netc.tmLanguage.json),
// whose layer words, joins, keywords and names the Pygments lexer shares, with CodeMirror tags.
export const RULES = {data};

const compiled = new Map();
function re(src, flags) {{
  const key = flags + "/" + src;
  if (!compiled.has(key)) compiled.set(key, new RegExp(src, flags + "g"));
  const r = compiled.get(key);
  return r;
}}

function search(src, flags, line, pos) {{
  const r = re(src, flags);
  r.lastIndex = pos;
  return r.exec(line);
}}

function emit(out, m, rule, caps, tag) {{
  if (tag) out.push([m.index, m.index + m[0].length, tag]);
  for (const [g, t] of Object.entries(caps || {{}})) {{
    const text = m[+g];
    if (text === undefined || text === "") continue;
    const start = m.indices ? m.indices[+g][0] : m.index + m[0].indexOf(text);
    out.push([start, start + text.length, t]);
  }}
}}

// [start, end, tag] for one line: at each step the rule matching earliest wins (the first listed on
// a tie); a begin/end rule scans its own patterns until its end matches in the line (as TextMate).
export function tokenizeLine(line) {{
  const out = [];
  let pos = 0;
  while (pos < line.length) {{
    let best = null;
    for (const rule of RULES) {{
      const m = search(rule.match || rule.begin, rule.flags + "d", line, pos);
      if (m && (best === null || m.index < best[0].index)) best = [m, rule];
    }}
    if (best === null) break;
    const [m, rule] = best;
    if (rule.match) {{
      emit(out, m, rule, rule.captures, rule.tag);
      pos = Math.max(m.index + m[0].length, m.index + 1);
      continue;
    }}
    emit(out, m, rule, rule.beginCaptures, rule.tag);
    pos = m.index + m[0].length;
    for (;;) {{
      const e = search(rule.end, rule.endFlags + "d", line, pos);
      let hit = null;
      for (const r of rule.patterns) {{
        const h = search(r.match, r.flags + "d", line, pos);
        if (h && (e === null || h.index < e.index) && (hit === null || h.index < hit[1].index)) hit = [r, h];
      }}
      if (hit === null) {{
        if (e !== null) {{
          emit(out, e, rule, rule.endCaptures, null);
          pos = Math.max(e.index + e[0].length, pos);
        }} else {{
          pos = line.length;
        }}
        break;
      }}
      const [r, h] = hit;
      out.push([h.index, h.index + h[0].length, r.tag]);
      pos = Math.max(h.index + h[0].length, h.index + 1);
    }}
  }}
  return out;
}}
"""


if __name__ == "__main__":
    OUT.write_text(text())
    print(f"wrote {OUT}", file=sys.stderr)
    TOKENS_JS.write_text(tokens_js())
    print(f"wrote {TOKENS_JS}", file=sys.stderr)
