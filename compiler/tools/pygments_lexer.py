"""A Pygments lexer for .net files, registered as the entry point ``netc`` (``pygments.lexers``),
so that Sphinx, MkDocs and Jupyter highlight ```netc`` code blocks once netc is installed.

>>> from pygments.lexers import get_lexer_by_name
>>> [t for t, v in get_lexer_by_name("netc").get_tokens("conv3-64 x2") if v.strip()][:1]
[Token.Name.Builtin]

The layer words come from netc's registry of kinds (a kind registered from Python before the lexer
is imported is highlighted too); editors/vscode/scripts/make_grammar.py writes the same patterns into
the VS Code grammar, and tests/tools/test_editor_grammar.py checks that it is up to date.
"""
from __future__ import annotations

import re

from pygments.lexer import RegexLexer, bygroups, include
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Whitespace

from netc.kinds import DEFAULT

#: every layer word of the registry and the papers' notation (conv3-64, maxpool3/2, FC-4096, soft-max)
LAYER = DEFAULT.word_pattern()
#: the words that open a join group: concat, add, mul, residual
JOINS = "|".join(re.escape(w) for w in DEFAULT.join_words())
NAME = r"[A-Za-z0-9_][A-Za-z0-9_\-]*(?:/[A-Za-z0-9_][A-Za-z0-9_\-]*)*"
KEYWORDS = ("include", "defaults", "insert", "with", "extends", "default", "config", "block", "var", "let",
            "input", "output", "naming", "table", "aux", "on", "weight", "replace", "remove", "after", "before",
            "as", "from", "if", "else", "and", "or", "not", "outputs", "for")
_S = r"([ \t]+)"


class NetcLexer(RegexLexer):
    """netc's architecture language (``.net`` files: ``conv3-64``, ``maxpool``, ``FC-4096``)."""

    name = "netc"
    aliases = ["netc", "net"]
    filenames = ["*.net"]
    mimetypes = ["text/x-netc"]
    url = "https://github.com/netc"

    tokens = {
        "root": [
            include("space"),
            (r"\b(?:(default)" + _S + r")?(config)" + _S + "(" + NAME + r")(?:" + _S + r"(extends)" + _S
             + "(" + NAME + "))?", bygroups(Keyword, Whitespace, Keyword, Whitespace, Name.Class, Whitespace,
                                            Keyword, Whitespace, Name.Class)),
            (r"\b(table)\b", Keyword, "table"),
            (r"\b(block)" + _S + r"([A-Za-z_]\w*)([ \t]*)(\()",
             bygroups(Keyword, Whitespace, Name.Function, Whitespace, Punctuation), "params"),
            (r"\b(var|let)" + _S + r"([A-Za-z_][\w\-]*)", bygroups(Keyword, Whitespace, Name.Variable)),
            (r"\b(input)" + _S + r"([0-9A-Za-z_]+(?:[xX\u00d7][0-9A-Za-z_]+){1,2})(?:" + _S + r"([A-Za-z0-9_]+))?",
             bygroups(Keyword, Whitespace, Number, Whitespace, Name.Constant)),
            (r"\b(aux)" + _S + "(" + NAME + ")" + _S + "(on)" + _S + "(" + NAME + ")",
             bygroups(Keyword, Whitespace, Name.Label, Whitespace, Keyword, Whitespace, Name.Label)),
            (r"\b(replace|remove)\b", Keyword, "targets"),
            (r"\b(after|before|as|from)" + _S + "(" + NAME + ")", bygroups(Keyword, Whitespace, Name.Label)),
            (r"\b(output|naming)" + _S + r"([A-Za-z_]\w*)", bygroups(Keyword, Whitespace, Name.Constant)),
            (r"\b(?:true|false)\b", Keyword.Constant),
            (r"\b(" + JOINS + r")\b(?=[ \t]*[({]|[ \t]+as\b)", Keyword.Reserved),
            (r"\b(?:" + "|".join(KEYWORDS) + r")\b(?![\-/])", Keyword),
            (r"([A-Za-z_]\w*)([ \t]*)(?==(?!=))", bygroups(Name.Attribute, Whitespace)),
            (r"\b\d+[xX\u00d7]\d+(?:[xX\u00d7]\d+)?\b", Number),
            (r"(?<![\w\-])[xX\u00d7][ \t]*\d+(?!\w)", Operator),
            (r"(?<=[\w)\]][ \t])[x\u00d7](?=[ \t]*[A-Za-z_(])(?![ \t]*(?:as|on|and|or)\b)", Operator),
            (r"(?<![\w\-/])(?i:" + LAYER + r")(?![\w\-/])", Name.Builtin),
            (r"([A-Za-z_]\w*)(?=[ \t]*\()", Name.Function),
            include("value"),
            (r"->|==|!=|<=|>=|[|=<>*/%+-]", Operator),
            (r"[{}()\[\],]", Punctuation),
            (r"[A-Za-z_]\w*(?:-\w+)*(?:/\w+)?", Name),
        ],
        "space": [
            (r"#.*?$", Comment.Single),
            (r"\s+", Whitespace),
        ],
        "value": [
            (r'"[^"\n]*"', String.Double),
            (r"(?<!\w)-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?!\w)", Number),
        ],
        "table": [
            (r"(?=\{)|(?=#)|(?=\n)", Whitespace, "#pop"),
            (r"[ \t]+", Whitespace),
            (NAME, Name.Class),
            (r"\|", Operator),
        ],
        "params": [
            (r"\)", Punctuation, "#pop"),
            (r"(?=\n)", Whitespace, "#pop"),
            (r"[ \t]+", Whitespace),
            include("value"),
            (r"\b(?:true|false)\b", Keyword.Constant),
            (r"[A-Za-z_]\w*", Name.Variable),
            (r"[=,]", Operator),
        ],
        "targets": [
            (r"\b(with)\b", Keyword, "#pop"),
            (r"(?=\n)|(?=#)", Whitespace, "#pop"),
            (r"[ \t]+", Whitespace),
            (NAME, Name.Label),
            (r",", Punctuation),
        ],
    }
