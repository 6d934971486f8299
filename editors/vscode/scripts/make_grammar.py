"""Write syntaxes/netc.tmLanguage.json from the same patterns as the Pygments lexer (netc's
registry of layer kinds included). Run it after adding a kind or a keyword:

    .venv/bin/python editors/vscode/scripts/make_grammar.py

tests/tools/test_editor_grammar.py fails while the checked-in grammar differs from what this writes.
Every rule is a one-line `match` or a one-line begin/end, with regular expressions that Python's
re and Oniguruma read alike.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from netc.tools.pygments_lexer import JOINS, KEYWORDS, LAYER, NAME

OUT = Path(__file__).resolve().parent.parent / "syntaxes" / "netc.tmLanguage.json"
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


if __name__ == "__main__":
    OUT.write_text(text())
    print(f"wrote {OUT}", file=sys.stderr)
