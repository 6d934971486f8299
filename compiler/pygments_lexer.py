"""A Pygments lexer for .net files, registered as the entry point ``netc`` (``pygments.lexers``),
so that Sphinx, MkDocs and Jupyter highlight ```netc`` code blocks once netc is installed.

>>> from pygments.lexers import get_lexer_by_name
>>> [t for t, v in get_lexer_by_name("netc").get_tokens("conv3-64 x2") if v.strip()][:1]
[Token.Name.Builtin]

The layer-word pattern is shared with the VS Code grammar (tests/test_editor_grammar.py checks it).
"""
from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, include
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Whitespace

#: the built-in layer words and the papers' notation (conv3-64, maxpool3/2, FC-4096, soft-max)
LAYER = (r"conv(?:olution)?(?:\d+(?:x\d+)?-\w+(?:/\d+)?)?|(?:max|avg|ave|average)[-_]?pool(?:\d+(?:/\d+)?)?"
         r"|mpool|adaptive[-_]?avg[-_]?pool|global[-_]?(?:avg|max)[-_]?pool|gap|gmp|fc(?:-\w+)?|linear"
         r"|fully-connected|innerproduct|ip|lrn|local-response-norm|norm|batch[-_]?norm|bn|dropout|soft-?max"
         r"|spp|flatten|identity|id|skip|relu|sigmoid|tanh")
NAME = r"[A-Za-z0-9_][A-Za-z0-9_\-]*(?:/[A-Za-z0-9_][A-Za-z0-9_\-]*)*"
KEYWORDS = ("include", "defaults", "concat", "add", "insert", "with", "extends", "default", "config", "block",
            "var", "input", "output", "naming", "table", "aux", "on", "weight", "replace", "remove", "after",
            "before", "as")
_S = r"([ \t]+)"


class NetcLexer(RegexLexer):
    """netc's architecture language (``.net`` files: ``conv3-64``, ``maxpool``, ``FC-4096``)."""

    name = "netc"
    aliases = ["netc"]
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
            (r"\b(var)" + _S + r"([A-Za-z_][\w\-]*)", bygroups(Keyword, Whitespace, Name.Variable)),
            (r"\b(input)" + _S + r"([0-9A-Za-z_]+(?:[xX\u00d7][0-9A-Za-z_]+){1,2})(?:" + _S + r"([A-Za-z0-9_]+))?",
             bygroups(Keyword, Whitespace, Number, Whitespace, Name.Constant)),
            (r"\b(aux)" + _S + "(" + NAME + ")" + _S + "(on)" + _S + "(" + NAME + ")",
             bygroups(Keyword, Whitespace, Name.Label, Whitespace, Keyword, Whitespace, Name.Label)),
            (r"\b(replace|remove)\b", Keyword, "targets"),
            (r"\b(after|before|as)" + _S + "(" + NAME + ")", bygroups(Keyword, Whitespace, Name.Label)),
            (r"\b(output|naming)" + _S + r"([A-Za-z_]\w*)", bygroups(Keyword, Whitespace, Name.Constant)),
            (r"\b(?:true|false)\b", Keyword.Constant),
            (r"\b(?:" + "|".join(KEYWORDS) + r")\b(?![\-/])", Keyword),
            (r"([A-Za-z_]\w*)([ \t]*)(?==)", bygroups(Name.Attribute, Whitespace)),
            (r"\b\d+[xX\u00d7]\d+(?:[xX\u00d7]\d+)?\b", Number),
            (r"(?<![\w\-])[xX\u00d7][ \t]*\d+(?!\w)", Operator),
            (r"(?<![\w\-/])(?i:" + LAYER + r")(?![\w\-/])", Name.Builtin),
            (r"([A-Za-z_]\w*)(?=[ \t]*\()", Name.Function),
            include("value"),
            (r"->|\||=", Operator),
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
