"""The layer vocabulary: a :class:`Registry` of :class:`Kind` definitions, one per kind.

Built-in kinds live one family per module (``conv``, ``fc``, ``pool``, ``norm``, ``act``,
``misc``, ``joins``); custom kinds registered from Python (:func:`netc.register_layer`) are the
same objects. A registry maps every spelling (``FC``, ``fc``, ``linear``) to its kind and
interprets the papers' notation (``conv3-64`` -> Conv with k=3, out=64). :data:`DEFAULT` holds
the built-ins and the process's registrations; a caller may pass its own (``Registry.copy()``)
down the pipeline so that registrations cannot leak between callers.
"""
from __future__ import annotations

import re

from netc.kinds.params import Params
from netc.kinds import act, attention, conv, fc, joins, llm, misc, norm, pool, tokens
from netc.kinds.base import FAMILIES, ROLES, Kind

BUILTIN_KINDS: list[Kind] = [*conv.KINDS, *fc.KINDS, *pool.KINDS, *norm.KINDS, *misc.KINDS, *act.KINDS,
                             *joins.KINDS, *tokens.KINDS, *attention.KINDS, *llm.KINDS]
_SAMPLES = ("conv3-64", "conv1-256", "conv11-96/4", "maxpool3/2", "avgpool7/1", "FC-4096", "spp[6,3,2,1]",
            "upconv2-512")


class Registry:
    """Kind name -> Kind, and every spelling (lower-case) -> kind name."""

    def __init__(self, kinds: list[Kind] = ()):
        self.kinds: dict[str, Kind] = {}
        self.words: dict[str, str] = {}
        self._seen: dict[str, tuple[Kind, dict] | None] = {}   # word -> lookup result: cost per layer
        self._foreign: dict | None = None                       # format -> foreign name -> kinds
        for k in kinds:
            self.register(k)

    def __deepcopy__(self, memo):   # shared by the IRs built with it
        return self

    def copy(self) -> "Registry":
        new = Registry()
        new.kinds, new.words = dict(self.kinds), dict(self.words)
        return new

    def _changed(self) -> None:
        self._seen = {}
        self._foreign = None

    #: the formats whose names a kind declares (:class:`Kind`'s foreign-name attributes)
    FORMATS = ("onnx", "caffe", "torch_modules", "torch_functions", "aten")

    def reading(self, fmt: str, name: str) -> list[Kind]:
        """The kinds that declare ``name`` among their foreign names in ``fmt`` (one of :attr:`FORMATS`),
        in registration order: what an importer matches a node of that format to. A name may be declared
        by several kinds, told apart by attribute patterns (``onnx``, ``caffe``) or by the kind's reader."""
        if fmt not in self.FORMATS:
            raise ValueError(f"no foreign names of format {fmt!r}")
        if getattr(self, "_foreign", None) is None:
            index: dict = {f: {} for f in self.FORMATS}
            for k in self.kinds.values():
                for f in self.FORMATS:
                    for n in getattr(k, f, ()) or ():
                        index[f].setdefault(n, []).append(k)
            self._foreign = index
        return list(self._foreign[fmt].get(name, ()))

    def register(self, kind: Kind, replace: bool = False) -> Kind:
        names = [kind.kind, *kind.words]
        for w in names:
            w = w.lower()
            if not replace and w in self.words and self.words[w] != kind.kind:
                raise ValueError(f"layer name {w!r} is already taken by {self.words[w]!r}")
        self.kinds[kind.kind] = kind
        for w in names:
            self.words[w.lower()] = kind.kind
        self._changed()
        return kind

    def unregister(self, name: str) -> None:
        kind = self.kinds.pop(name, None)
        if kind is not None:
            for w in [name, *kind.words]:
                if self.words.get(w.lower()) == name:
                    del self.words[w.lower()]
        self._changed()

    def get(self, name: str) -> Kind | None:
        return self.kinds.get(name)

    def __getitem__(self, name: str) -> Kind:
        return self.kinds[name]

    def __contains__(self, name) -> bool:
        return name in self.kinds

    def __iter__(self):
        return iter(self.kinds.values())

    def lookup_word(self, word: str) -> tuple[Kind, dict] | None:
        """Interpret a layer word as written in a spec: ``conv3-64`` -> (Conv, {k: 3, out: '64'}).

        Values from the notation stay strings when they are names (``FC-num_classes``); the
        compiler resolves them against variables. Answers are remembered per word, so the cost per
        layer does not grow with the number of registered kinds."""
        if word in self._seen:
            hit = self._seen[word]
            return None if hit is None else (hit[0], dict(hit[1]))
        hit = self._lookup(word)
        if len(self._seen) < 100_000:
            self._seen[word] = hit
        return None if hit is None else (hit[0], dict(hit[1]))

    def _lookup(self, word: str) -> tuple[Kind, dict] | None:
        w = word.lower()
        if w in self.words:
            k = self.kinds[self.words[w]]
            return (k, {}) if not k.join and k.kind != "input" else None
        for k in self.kinds.values():
            if k.paper_re is not None:
                m = k.paper_re.match(w)
                if m:
                    return k, k.from_paper(_orig_case(word, m))
        return None

    def join(self, word: str) -> Kind | None:
        k = self.kinds.get(self.words.get(word.lower(), ""))
        return k if k is not None and k.join else None

    def joins(self) -> list[str]:
        return sorted(k.kind for k in self.kinds.values() if k.join)

    def activations(self) -> list[str]:
        return sorted(k.kind for k in self.kinds.values() if k.activation_fn)

    def vocabulary(self) -> list[str]:
        """Every layer spelling netc knows, for did-you-mean hints."""
        words = {w for w, k in self.words.items() if not self.kinds[k].join and k != "input"}
        words.update(_SAMPLES)
        return sorted(words)

    def spellings(self) -> list[tuple[str, str, str]]:
        """Every layer spelling: (word, kind name, one-line doc); the paper examples included
        (editors complete and highlight these)."""
        out, seen = [], set()
        for w in self.vocabulary():
            hit = self.lookup_word(w)
            out.append((w, hit[0].kind if hit else "", getattr(hit[0], "doc", "") if hit else ""))
            seen.add(w.lower())
        for name, kind in self.kinds.items():     # kind names that are not also spellings (custom kinds)
            if name.lower() not in seen and self.lookup_word(name) is not None:
                out.append((name, name, getattr(kind, "doc", "")))
        return out

    def word_pattern(self) -> str:
        """One regular expression for every layer word, the papers' notation included (``conv3-64``,
        ``maxpool3/2``): lower case, for Python's re and Oniguruma alike (the highlighters use it)."""
        paper = [k.paper_re.pattern.lstrip("^").rstrip("$") for k in self.kinds.values() if k.paper_re is not None]
        words = {w.lower() for w, _, _ in self.spellings() if re.fullmatch(r"[A-Za-z_][\w\-]*", w)}
        return "|".join(paper + [re.escape(w) for w in sorted(words, key=lambda w: (-len(w), w))])

    def join_words(self) -> list[str]:
        """The words that open a join group (``concat {``, ``add {``, ``residual {``)."""
        return sorted({w for w, k in self.words.items() if self.kinds[k].join})


def _orig_case(word: str, m: re.Match) -> re.Match:
    # paper_re matched the lower-cased word; match again on the original so names keep their case
    again = m.re.match(word) or re.compile(m.re.pattern, re.IGNORECASE).match(word)
    return again or m


#: the built-in kinds and whatever the process registered (netc.register_layer)
DEFAULT = Registry(BUILTIN_KINDS)

__all__ = ["Kind", "Registry", "DEFAULT", "BUILTIN_KINDS", "FAMILIES", "ROLES", "Params"]
