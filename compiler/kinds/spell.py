"""How a kind writes one of its layers in the language: the shortest paper word the kind gives
(:meth:`Kind.paper`: ``conv3-64/2``, ``maxpool3/2``, ``FC-4096``) plus, as keyword arguments, the
parameters that word does not already say (``conv3-64(pad=0, bias=false)``). One rule for every
kind, built-in or registered, so the importers print any kind without a table of their own.

What a word says is read back with the language's own parser and the kind's notation
(:meth:`Registry.lookup_word`), and the result is checked: spelling it again gives the same
parameters, or :class:`SpellError` says which parameter the kind cannot write.
"""
from __future__ import annotations

import math
from typing import Any

from pydantic import ValidationError

from netc.dsl import ast


class SpellError(ValueError):
    """A kind's parameters that no text of the language gives back."""


def literal(v: Any) -> str:
    """A Python value as the language writes it: ``true``, ``0.001``, ``[3, 5]``, ``bilinear``."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v == int(v) and abs(v) < 1e15:
            return str(int(v)) if abs(v) >= 1 or v == 0 else repr(v)
        short = "%.6g" % v
        return short if float(short) == v else repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(literal(x) for x in v) + "]"
    return str(v)


def _value(v: ast.Value, kind, field: str | None):
    """An argument's value without variables (what a paper word or a printed layer holds)."""
    if isinstance(v, (ast.Number, ast.Bool, ast.String)):
        return v.value
    if isinstance(v, ast.ListValue):
        return [_value(x, kind, None) for x in v.items]
    if isinstance(v, ast.Paren):
        return _value(v.value, kind, field)
    if isinstance(v, ast.Ident):
        return v.name
    raise SpellError(f"{type(v).__name__} in a spelled layer")


def _bool_fields(kind) -> set[str]:
    return {n for n, f in kind.Params.model_fields.items() if f.annotation is bool}


def read(registry, text: str, names: dict[str, Any] | None = None):
    """The (kind, parameters) a one-layer text gives; ``names``: field -> the value a name in
    the text stands for (``conv3-c`` with ``{"out": 64}``)."""
    from netc.dsl.parser import parse
    module = parse(f"input 1x1 RGB\n{text}\n", "<spell>")
    chain = module.items[-1]
    layer = chain.layers[0] if isinstance(chain, ast.Chain) and len(chain.layers) == 1 else None
    if not isinstance(layer, ast.Layer):
        raise SpellError(f"'{text}' is not one layer")
    hit = registry.lookup_word(layer.word)
    if hit is None:
        raise SpellError(f"'{layer.word}' is no layer word")
    kind, data = hit
    data = {k: (int(v) if isinstance(v, str) and v.isdigit() else v) for k, v in data.items()}
    positional = [p for p in kind.positional if p not in data]
    flags = _bool_fields(kind)
    if layer.list_arg is not None:
        data[positional.pop(0)] = _value(layer.list_arg, kind, None)
    for a in layer.args or []:
        if a.name is None and isinstance(a.value, ast.Ident) and a.value.name in flags:
            data[a.value.name] = True
        elif a.name is None:
            if not positional:
                raise SpellError(f"'{text}': too many positional arguments")
            data[positional.pop(0)] = _value(a.value, kind, None)
        else:
            data[a.name] = _value(a.value, kind, a.name)
    for f, v in (names or {}).items():
        if f in data:
            data[f] = v
    try:
        return kind, kind.Params.model_validate(data)
    except ValidationError as e:
        raise SpellError(f"'{text}': {e.errors()[0]['msg']}") from None


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0)
        except (TypeError, ValueError):
            return False
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _differ(kind, p, q) -> list[str]:
    """The fields where ``p`` and ``q`` make different layers: compared as the kind's canonical form
    (:meth:`Kind.canonical`: a stride left to its default and one written equal to the kernel are one
    layer; a field it leaves out is moot, as Swin's ``shifted`` beside the shift it gives)."""
    try:
        cp, cq = kind.canonical(p), kind.canonical(q)
    except Exception:   # noqa: BLE001 - a kind whose canonical form needs more than the parameters
        return [f for f in kind.Params.model_fields if not _same(getattr(p, f), getattr(q, f))]
    return [f for f in kind.Params.model_fields if (f in cp or f in cq) and not _same(cp.get(f), cq.get(f))]


def spell(kind, p, registry=None, names: dict[str, str] | None = None) -> str:
    """``p`` (the kind's parameters) as one layer of the language.

    names: field -> a name to write in its place (``{"out": "c"}`` gives ``conv3-c``; the value
    stays ``p``'s for what the word is checked against)."""
    from netc.kinds import DEFAULT
    registry = registry or DEFAULT
    names = names or {}
    shown = p.model_copy(update=names) if names else p     # no validation: a name stands for the value
    word = kind.written(shown)
    real = {f: getattr(p, f) for f in names}
    try:
        _, said = read(registry, word, real)
    except SpellError:
        said = None
    if said is not None:
        flags = _bool_fields(kind)
        extra = [f if getattr(p, f) is True and f in flags and f not in names else
                 f"{f}={names.get(f, literal(getattr(p, f)))}" for f in _differ(kind, p, said)]
        text = with_args(word, extra)
    else:       # the kind's word is not one the language reads: every parameter by keyword
        text = with_args(kind.words[0] if kind.words else kind.kind,
                          [f"{f}={names.get(f, literal(getattr(p, f)))}" for f, fi in kind.Params.model_fields.items()
                           if fi.is_required() or not _same(getattr(p, f), fi.default)])
    _, again = read(registry, text, real)
    bad = _differ(kind, p, again)
    if bad:
        raise SpellError(f"{kind.kind}: '{text}' does not give back {', '.join(bad)}")
    return text


def with_args(word: str, extra: list[str]) -> str:
    """``word`` with keyword arguments added: inside its parentheses, before a list argument."""
    if not extra:
        return word
    lst = ""
    if word.endswith("]") and "[" in word:
        word, lst = word[:word.index("[")], word[word.index("["):]
    if word.endswith(")"):
        inner = word[word.index("(") + 1:-1]
        return f"{word[:word.index('(')]}({inner + ', ' if inner else ''}{', '.join(extra)}){lst}"
    return f"{word}({', '.join(extra)}){lst}"
