"""Completion, from the text before the cursor: layer words and kinds at the start of a statement,
keyword parameters inside parentheses, block names with their parameters, configuration names
after ``extends``, layer names after ``replace``/``remove``/``after``/``on``, variables in values.

Names (blocks, variables, configurations) come from the last version of the document that parsed,
so completion keeps working while the line being typed is not valid yet.
"""
from __future__ import annotations

import re

from lsprotocol import types as T

from netc.dsl import ast

from netc.tools.lsp.adapter import (join_words, kind_fields, kind_of_word, kind_positional, layer_words,
                                    word_settings)
from netc.tools.lsp.analysis import Analysis
from netc.tools.lsp.hover import show, value_text

K = T.CompletionItemKind
KEYWORDS = ("input", "output", "naming", "defaults", "var", "let", "block", "config", "default", "table", "extends",
            "include", "aux", "replace", "remove", "insert", "after", "before", "with", "as", "on", "weight",
            "from", "if", "else", "and", "or", "not")
SETTING_VALUES = {"input": ("RGB", "BGR", "gray", "grayscale", "RGBA", "1ch"), "output": ("logits", "probs"),
                  "naming": ("stage", "sequential")}
_WORDS: list[T.CompletionItem] | None = None
_DEFS = re.compile(r"^[ \t]*(?:default[ \t]+)?(config|var|table)[ \t]+([\w\-/]+(?:[ \t]*\|[ \t]*[\w\-/]+)*)", re.M)


def _layer_items() -> list[T.CompletionItem]:
    global _WORDS
    if _WORDS is None:
        _WORDS = [T.CompletionItem(w, kind=K.Class, detail=f"layer: {kind}", documentation=doc or None,
                                   sort_text="1" + w.lower())
                  for w, kind, doc in layer_words()]
    return _WORDS


def complete(a: Analysis, good: Analysis | None, lineno: int, col: int) -> list[T.CompletionItem]:
    """Items at 1-based line ``lineno``, character offset ``col`` (0-based) in that line."""
    line = a.lines[lineno - 1] if 0 < lineno <= len(a.lines) else ""
    before = line[:col]
    prog = (a.program or (good.program if good else None))
    blocks = prog.blocks if prog else {}
    vars_ = dict.fromkeys(prog.vars) if prog else {}
    configs = list(prog.configs) if prog else []
    for kind, names in _DEFS.findall(a.text):           # names typed since the last version that parsed
        for name in (n.strip() for n in names.split("|")):
            if kind == "var":
                vars_.setdefault(name, None)
            elif name not in configs:
                configs.append(name)
    if before.lstrip().startswith("#"):
        return []
    m = re.match(r"\s*(input\s+\S+|output|naming)\s+\w*$", before)
    if m:
        return [T.CompletionItem(v, kind=K.EnumMember) for v in SETTING_VALUES[m.group(1).split()[0]]]
    m = re.search(r"\bextends\s+[\w\-]*$", before)
    if m:
        return [T.CompletionItem(c, kind=K.Module, detail="configuration") for c in configs]
    m = re.search(r"\b(replace|remove|after|before|on|from)\s+(?:[\w/]+\s*,\s*)*[\w/]*$", before)
    if m:
        return _layer_names(a if a.irs else good)
    if _AFTER_FOR.search(before):                     # x n for |: the index is a new name
        return []
    call = _call_args(before)
    if call is not None:
        word, args = call
        index = _INDEX.search(line[col:])             # ... x n for i: the line's arguments read i
        if index is not None:
            vars_ = {index.group(1): "index of this repetition: 0, 1, ...", **vars_}
        return _arguments(word, args, blocks, vars_, _block_at(prog, lineno))
    if re.search(r"(?:^|[\s>{|])[A-Za-z_][\w]*-[\w]*$", before):      # FC-num_classes, conv3-c
        return _values(vars_, _block_at(prog, lineno))
    return (_layer_items() + _block_items(blocks)
            + [T.CompletionItem(k, kind=K.Keyword, sort_text="3" + k) for k in KEYWORDS]
            + [T.CompletionItem(j, kind=K.Keyword, detail="join: each line a branch", sort_text="2" + j)
               for j in join_words()]
            + [T.CompletionItem(v, kind=K.Variable, detail="var", sort_text="4" + v) for v in vars_])


def _block_items(blocks: dict) -> list[T.CompletionItem]:
    out = []
    for name, b in blocks.items():
        params = [p.name for p in b.params]
        snippet = f"{name}(" + ", ".join(f"${{{i + 1}:{p}}}" for i, p in enumerate(params)) + ")"
        out.append(T.CompletionItem(name, kind=K.Function, detail=f"block {name}({', '.join(params)})",
                                    insert_text=snippet, insert_text_format=T.InsertTextFormat.Snippet,
                                    sort_text="0" + name))
    return out


def _open_call(before: str) -> tuple[str, bool] | None:
    """Inside ``word(...``: the word and whether the cursor is after ``name=``."""
    opened = _call_args(before)
    if opened is None:
        return None
    word, args = opened
    return word, "=" in args[-1]


def _call_args(before: str) -> tuple[str, list[str]] | None:
    """Inside ``word(...``: the word and the arguments typed so far (the last one still open)."""
    depth = 0
    for i in range(len(before) - 1, -1, -1):
        ch = before[i]
        if ch == ")":
            depth += 1
        elif ch == "(":
            if depth == 0:
                m = re.search(r"([A-Za-z_][\w\-/]*)\s*$", before[:i])
                if not m:
                    return None
                return m.group(1), _args(before[i + 1:])
            depth -= 1
    return None


def _args(text: str) -> list[str]:
    """The arguments typed so far, split at the commas outside brackets (the last one is open)."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        depth += ch in "([" and 1 or (-1 if ch in ")]" else 0)
        cur += ch
    return out + [cur]


def signature_help(a: Analysis, good: Analysis | None, lineno: int, col: int) -> T.SignatureHelp | None:
    """Inside a block call or a layer's parentheses: its parameters, the one being typed active."""
    line = a.lines[lineno - 1] if 0 < lineno <= len(a.lines) else ""
    before = line[:col]
    call = _open_call(before)
    if call is None:
        return None
    word = call[0]
    args = _args(before[before.rindex(word) + len(word):].lstrip()[1:])
    prog = a.program or (good.program if good else None)
    if prog is not None and word in prog.blocks:
        b = prog.blocks[word]
        params = [p.name + (f"={value_text(p.default)}" if p.default is not None else "") for p in b.params]
        head, doc = f"{word}(", f"block {word}"
    else:
        kind = kind_of_word(word)
        if kind is None:
            return None
        fields = kind_fields(kind)
        positional = [n for n in kind_positional(kind)]
        params = positional + [f"{n}={show(d)}" if d is not None else n for n, d, _, _ in fields if n not in positional]
        head, doc = f"{word}(", getattr(kind, "doc", "") or None
    label, offsets = head, []
    for i, p in enumerate(params):
        offsets.append((len(label), len(label) + len(p)))
        label += p + (", " if i < len(params) - 1 else "")
    label += ")"
    current = args[-1].strip()
    names = [p.split("=")[0] for p in params]
    if "=" in current and current.split("=")[0].strip() in names:
        active = names.index(current.split("=")[0].strip())
    else:
        active = min(len(args) - 1, max(len(params) - 1, 0))
    sig = T.SignatureInformation(label, documentation=doc,
                                 parameters=[T.ParameterInformation(label=o) for o in offsets])
    return T.SignatureHelp([sig], active_signature=0, active_parameter=active)


def _arguments(word: str, args: list[str], blocks: dict, vars_: dict, block) -> list[T.CompletionItem]:
    """Inside ``word(``: after ``name=``, the values of that parameter (its choices, true/false, the
    variables in scope); else the keyword parameters not given yet, those the paper word already sets
    (``k`` and ``stride`` of ``maxpool3/2``) offered last with their value instead of as required."""
    kind = kind_of_word(word)
    values = _values(vars_, block)
    given = {a.split("=")[0].strip() for a in args[:-1] if "=" in a}
    if "=" in args[-1]:
        name = args[-1].split("=")[0].strip()
        fields = {n: (d, c) for n, d, _, c in kind_fields(kind)} if kind is not None else {}
        if name in fields:
            default, choices = fields[name]
            if choices:
                return [T.CompletionItem(str(c), kind=K.EnumMember, detail=f"{name}") for c in choices]
            if isinstance(default, bool):
                return [T.CompletionItem(b, kind=K.Value, detail=name) for b in ("true", "false")]
            return values
        out = values + [T.CompletionItem(b, kind=K.Value) for b in ("true", "false")]
        seen = set()
        for _, _, _, choices in (kind_fields(kind) if kind is not None else []):
            for c in choices:
                if str(c) not in seen:
                    seen.add(str(c))
                    out.append(T.CompletionItem(str(c), kind=K.EnumMember))
        return out
    if kind is not None:
        preset = word_settings(word)
        items = []
        for i, (name, default, desc, choices) in enumerate(kind_fields(kind)):
            if name in given:
                continue
            if name in preset:
                detail, sort = f"set by {word}: {show(preset[name])}", f"9{i:02d}"
            else:
                detail, sort = ("required" if default is None else f"default {default}"), f"{i:02d}"
            items.append(T.CompletionItem(f"{name}=", kind=K.Property, insert_text=f"{name}=", filter_text=name,
                                          detail=detail + (f": {'|'.join(map(str, choices))}" if choices else ""),
                                          documentation=desc or None, sort_text=sort))
        return items + values
    if word in blocks:
        return [T.CompletionItem(f"{p.name}=", kind=K.Property, insert_text=f"{p.name}=", filter_text=p.name,
                                 detail=f"parameter of block {word}") for p in blocks[word].params
                if p.name not in given] + values
    return values


_AFTER_FOR = re.compile(r"[xX\u00d7]\s*(?:\d+|\w+|\([^()\n]*\))\s+for\s+\w*$")
_INDEX = re.compile(r"[xX\u00d7]\s*(?:\d+|\w+|\([^()\n]*\))\s+for\s+([A-Za-z_]\w*)")


def _values(vars_: dict, block: ast.BlockDef | None) -> list[T.CompletionItem]:
    out = [T.CompletionItem(v, kind=K.Variable, detail=d if isinstance(d, str) else "var") for v, d in vars_.items()]
    if block is not None:
        out = [T.CompletionItem(p.name, kind=K.TypeParameter, detail=f"parameter of block {block.name}",
                                sort_text="0" + p.name) for p in block.params] + out
    return out


def _block_at(prog, lineno: int) -> ast.BlockDef | None:
    if prog is None:
        return None
    return next((b for b in prog.module.blocks if b.span.line <= lineno <= b.span.end_line), None)


def _layer_names(a: Analysis | None) -> list[T.CompletionItem]:
    if a is None:
        return []
    seen, out = set(), []
    for cname, ir in a.irs.items():
        for n in ir.nodes():
            if n.kind != "input" and "/" not in n.name and n.name not in seen:
                seen.add(n.name)
                out.append(T.CompletionItem(n.name, kind=K.Field, detail=f"{n.paper} in {cname}"))
        for s in ir.scopes.values():
            if "/" not in s.name and s.name not in seen:
                seen.add(s.name)
                out.append(T.CompletionItem(s.name, kind=K.Field, detail=f"{s.label} in {cname}"))
    return out
