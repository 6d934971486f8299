"""Generators for property tests and fuzzing, shared by tests/ and bench/fuzz.py.

- :func:`mutate` damages a spec the way a hurried user or a hostile file would: deletions,
  duplications, swapped tokens, truncation, random bytes, huge numbers, deep nesting, unicode.
- :func:`specs` is a hypothesis strategy for *valid* specs drawn from the grammar: random
  layers, blocks with concat/add branches, repetition, tables with empty cells, inheritance
  (insert / remove / replace), each with the facts the test can check (:class:`GenSpec`).

>>> import random
>>> t = mutate("input 32x32 RGB\\nconv3-16\\nFC-10\\n", random.Random(0))
>>> isinstance(t, str)
True
"""
from __future__ import annotations

import glob
import os
import random
import re
from dataclasses import dataclass, field

from hypothesis import strategies as st

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def seed_texts() -> list[str]:
    """The bundled specs and the invalid-spec corpus: the fuzzer's starting points."""
    paths = sorted(glob.glob(os.path.join(ROOT, "specs", "*.net")))
    paths += sorted(glob.glob(os.path.join(ROOT, "tests", "errors", "*.net")))
    return [open(p, encoding="utf-8").read() for p in paths]


# ------------------------------------------------------------------ mutation
TOKENS = ["conv3-64", "conv11-96/4", "maxpool", "maxpool3/2(ceil)", "FC-4096", "FC-num_classes", "soft-max",
          "spp[4,2,1]", "LRN", "dropout(0.5)", "inception(64, 96, 128, 16, 32, 32)", "concat {", "add {", "}",
          "{", "(", ")", "[", "]", "|", "->", "x3", "x0", "as", "as 3a", "aux a on conv1_1 {", "table A | B {",
          "config z {", "config y extends z {", "block b(n) {", "block b() {", "var n = 3", "input 32x32 RGB",
          "input HxW gray", "include \"vgg.net\"", "include \"../../etc/passwd.net\"", "remove fc8",
          "replace fc8 with FC-10", "insert FC-10 after fc8", "defaults conv(bn=true)", "naming sequential",
          "output probs", "=", ",", "\"", "#", "default", "extends", "weight", "-", "/", "true", "num_classes = 7"]
HUGE = ["9" * 40, "1e400", "1e-400", "10000000000", "4294967297", "-1", "0", "0.0", "1e308", "nan", "inf",
        "2147483648", "99999999", "1.5", "-0"]
UNICODE = ["\u00e9", "\u202e", "\u200b", "\u2028", "\u00d7", "\ufeff", "\U0001F600", "\uff12", "\u0663",
           "\x00", "\x0b", "\x0c", "\r", "\t", "\udcff", "\u0301", "ǅ", "K"]
_NUM = re.compile(r"\d+")


def _registry_tokens() -> list[str]:
    """Every spelling of every registered kind, and the joins with their braces."""
    from netc.kinds import DEFAULT
    return sorted(DEFAULT.words) + [f"{j} {{" for j in DEFAULT.joins()] + [
        "let c = 4 * 2", "if c > 1 {", "} else {", "from conv1_1", "x(n-1)", "make_divisible(c * 6, 8)"]


TOKENS += _registry_tokens()


def mutate(text: str, rng: random.Random, rounds: int | None = None) -> str:
    """Apply 1-4 random damaging edits to ``text``."""
    for _ in range(rounds or rng.randint(1, 4)):
        op = rng.choice(_OPS)
        text = op(text, rng)
    return text


def _pos(text: str, rng: random.Random) -> int:
    return rng.randrange(len(text) + 1)


def _delete(t, rng):
    k = _pos(t, rng)
    return t[:k] + t[k + rng.randint(1, 30):]


def _duplicate(t, rng):
    i, j = sorted((_pos(t, rng), _pos(t, rng)))
    j = min(j, i + 400)
    return t[:i] + t[i:j] * rng.randint(2, 4) + t[i:]


def _swap_tokens(t, rng):
    toks = re.split(r"(\s+)", t)
    if len(toks) < 3:
        return t
    i, j = rng.randrange(len(toks)), rng.randrange(len(toks))
    toks[i], toks[j] = toks[j], toks[i]
    return "".join(toks)


def _truncate(t, rng):
    return t[:_pos(t, rng)]


def _random_bytes(t, rng):
    junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8))).decode("latin-1")
    k = _pos(t, rng)
    return t[:k] + junk + t[k:]


def _huge_number(t, rng):
    hits = list(_NUM.finditer(t))
    if not hits:
        return t + rng.choice(HUGE)
    m = rng.choice(hits)
    return t[:m.start()] + rng.choice(HUGE) + t[m.end():]


def _deep_nesting(t, rng):
    k = _pos(t, rng)
    o = rng.choice(["(", "[", "{", "concat {\n", "[[", "(["])
    n = rng.choice([10, 63, 65, 200, 5000])
    closer = {"(": ")", "[": "]", "{": "}", "concat {\n": "}\n", "[[": "]]", "([": "])"}[o] if rng.random() < 0.5 else ""
    return t[:k] + o * n + closer * n + t[k:]


def _unicode(t, rng):
    k = _pos(t, rng)
    return t[:k] + rng.choice(UNICODE) * rng.choice([1, 1, 3]) + t[k:]


def _insert_token(t, rng):
    k = _pos(t, rng)
    sep = rng.choice([" ", "\n", "", " | "])
    return t[:k] + sep + rng.choice(TOKENS) + sep + t[k:]


def _replace_line(t, rng):
    lines = t.split("\n")
    i = rng.randrange(len(lines))
    lines[i] = rng.choice([lines[rng.randrange(len(lines))], rng.choice(TOKENS), "", lines[i] * 2])
    return "\n".join(lines)


def _repeat_huge(t, rng):
    lines = t.split("\n")
    i = rng.randrange(len(lines))
    lines[i] = lines[i].rstrip() + rng.choice([" x10000", " x99999", " x" + "9" * 30, " x100"])
    return "\n".join(lines)


def outcome(text: str) -> str | None:
    """None when the front end behaves, else a one-line description of the crash. Behaving: check
    returns diagnostics or raises NetcError, every error has a location and renders, and netc fmt
    formats whatever parses, idempotently, without refusing."""
    import netc
    from netc.dsl.fmt import format_text
    raised = False
    try:
        errors = netc.check(text, filename="fuzz.net")
        assert isinstance(errors, list), f"check returned {type(errors).__name__}"
    except netc.NetcError as e:
        errors, raised = [e], True
    except Exception as e:  # noqa: BLE001 - anything else is the bug we are looking for
        return f"check: {type(e).__name__}: {str(e)[:200]}"
    for e in errors:
        if e.span.source is None or e.span.line < 1:
            return f"check: error without a location: {e.message[:200]}"
        e.render()
    if raised:
        return None
    try:
        out = format_text(text, "fuzz.net")
        again = format_text(out, "fuzz.net")
    except netc.NetcError as e:
        if "cannot format" in e.message:
            return f"fmt: {e.message}"
        return None
    except Exception as e:  # noqa: BLE001
        return f"fmt: {type(e).__name__}: {str(e)[:200]}"
    if again != out:
        return "fmt: not idempotent"
    return None


# ------------------------------------------------------------------ adversarial structures (the hardening issue)
def _doubling_blocks(t, rng):
    """Blocks calling the previous one 2-3 times, up to 60 deep (2^60 layers), perhaps empty."""
    d, f = rng.choice([5, 15, 25, 60]), rng.choice([2, 3])
    leaf = rng.choice(["relu", "", "conv3-4", "add {\n  relu\n}"])
    out = ["block q0() {", leaf, "}"]
    for i in range(1, d + 1):
        out += [f"block q{i}() {{"] + [f"  q{i - 1}"] * f + ["}"]
    return "\n".join(out) + "\n" + t + f"\nq{d}" + rng.choice(["", " x100", " x10000"]) + "\n"


def _nested_blocks(t, rng):
    """Blocks of nested add { } around the previous block: depth x braces past every limit."""
    b, g = rng.choice([3, 12, 33]), rng.choice([8, 30, 63])
    out = ["block n0() {", "  relu", "}"]
    for i in range(1, b + 1):
        out += [f"block n{i}() {{", "  " + "add { " * g + f"n{i - 1}" + " }" * g, "}"]
    return "\n".join(out) + "\n" + t + f"\nn{b}\n"


def _empty_blocks(t, rng):
    n = rng.choice([10, 100, 10000])
    return "block ee() {\n}\nblock ff() {\n  ee x%d\n}\n" % n + t + "\nff x%d\n" % n


def _extends_chain(t, rng):
    n = rng.choice([5, 50, 300])
    base = rng.choice(re.findall(r"config\s+([\w-]+)", t) or ["main"])
    out = [f"config z0 extends {base} {{\n}}"] + [f"config z{i} extends z{i - 1} {{\n}}" for i in range(1, n)]
    return t + "\n" + "\n".join(out) + "\n"


def _odd_name(t, rng):
    """A name a compiled module cannot hold, or a very long one."""
    names = ["forward", "training", "state_dict", "to", "cuda", "type", "netc", "graph", "feature_map",
             "None", "def", "class", "self", "__init__", "n" * rng.choice([129, 20000])]
    lines = t.split("\n")
    i = rng.randrange(len(lines))
    lines[i] = lines[i].rstrip() + " as " + rng.choice(names)
    return "\n".join(lines)


def _nonfinite(t, rng):
    hits = list(_NUM.finditer(t))
    v = rng.choice(["1e999", "inf", "nan", "-1e999", "1" + "0" * 19, "1e308"])
    if not hits:
        return t + "\nLRN(alpha=%s)\n" % v
    m = rng.choice(hits)
    return t[:m.start()] + v + t[m.end():]


def _typo_flood(t, rng):
    n = rng.choice([100, 2000, 5000])
    sep = rng.choice(["->", "\n"])
    return t + "\n" + sep.join(["maxpol"] * n) + "\n"


_OPS = [_delete, _duplicate, _swap_tokens, _truncate, _random_bytes, _huge_number, _deep_nesting, _unicode,
        _insert_token, _replace_line, _repeat_huge,
        _doubling_blocks, _nested_blocks, _empty_blocks, _extends_chain, _odd_name, _nonfinite, _typo_flood]


# ------------------------------------------------------------------ valid specs
@dataclass
class GenSpec:
    """A generated spec and what must hold for it."""
    text: str
    configs: list[str] = field(default_factory=list)
    input_hw: int = 32


_CONV = st.builds(lambda k, c, s: (f"conv{k}-{c}" + (f"/{s}" if s > 1 else ""), s),
                  st.sampled_from([1, 3, 5]), st.integers(1, 12), st.sampled_from([1, 1, 1, 2]))


def registry_words() -> list[str]:
    """The registered kinds that keep any feature map's shape and need no argument (activations,
    norms, dropout, layer scale, ...): drawn from the registry, so a new kind is fuzzed untouched."""
    from netc.kinds import DEFAULT, Kind
    return sorted(k.words[0] for k in DEFAULT if k.pointwise and not k.join and "map" in k.accepts
                  and type(k).infer is Kind.infer   # keeps every shape: no rule that can refuse one
                  and not any(f.is_required() for f in k.Params.model_fields.values()))


_SAME = st.sampled_from(["LRN", "dropout(0.5)", "relu", "identity", "bn", "conv3-8(bias=false)",
                         "conv(out=6, k=3, pad=1)", "conv1-4(bn=true)", "maxpool3/1(pad=1)", "avgpool3/1(pad=1)",
                         *registry_words()])
_POOL = st.sampled_from(["maxpool", "avgpool", "maxpool3/2(ceil)", "maxpool2/2"])


@st.composite
def _layer(draw, hw: list[int]) -> str:
    """One layer keeping the map at least 2x2; ``hw`` holds the current size and is updated."""
    choice = draw(st.integers(0, 5))
    if choice <= 1:
        word, s = draw(_CONV)
        if hw[0] < 4:
            word, s = word.split("/")[0], 1
        hw[0] = -(-hw[0] // s)
    elif choice == 2 and hw[0] >= 4:
        word = draw(_POOL)
        hw[0] = -(-(hw[0] - 2) // 2) + 1 if "3/2" in word else hw[0] // 2
    else:
        word = draw(_SAME)
    rep = draw(st.sampled_from(["", "", "", " x2", " x3"]))
    if rep and ("/" in word and "/1" not in word or word.startswith(("maxpool", "avgpool")) and "/1" not in word):
        rep = ""
    return word + rep


@st.composite
def _branch_group(draw, hw: list[int]) -> list[str]:
    """A concat or add of 2-3 size-keeping branches, maybe inside a block."""
    op = draw(st.sampled_from(["concat", "add"]))
    width = draw(st.integers(2, 8))
    n = draw(st.integers(2, 3))
    branches = []
    for _ in range(n):
        pre = draw(st.lists(st.sampled_from(["conv1-4", "conv3-5", "maxpool3/1(pad=1)", "LRN"]), max_size=2))
        branches.append(" -> ".join(pre + [f"conv{draw(st.sampled_from([1, 3, 5]))}-{width}"]))
    return [f"{op} {{", *("    " + b for b in branches), "}"]


@st.composite
def specs(draw) -> GenSpec:
    """A valid spec: input, a few stages of layers, optional block, table or derived config."""
    hw0 = draw(st.sampled_from([16, 32, 40]))
    hw = [hw0]
    head = [f"input {hw0}x{hw0} {draw(st.sampled_from(['RGB', 'gray', '4ch']))}",
            f"var num_classes = {draw(st.integers(2, 20))}"]
    use_block = draw(st.booleans())
    if use_block:
        head += ["", "block unit(c) {", "    conv3-c", *("    " + l for l in draw(_branch_group(hw))), "}"]
    body = [draw(_layer(hw)) for _ in range(draw(st.integers(1, 6)))]
    if use_block:
        body.insert(draw(st.integers(0, len(body))), f"unit({draw(st.integers(2, 9))}) x{draw(st.integers(1, 2))}")
    elif draw(st.booleans()):
        body += draw(_branch_group(hw))
    tail = [f"FC-{draw(st.integers(4, 40))} as hidden", "dropout(0.5) as drop", "FC-num_classes as out"]
    form = draw(st.sampled_from(["main", "config", "table", "derived"]))
    if form == "table" and any(l.endswith("{") for l in body):   # table cells are chains, not groups
        form = "config"
    if form == "table":
        return _table(draw, head, body, tail, hw0)
    if form == "main":
        return GenSpec("\n".join(head + [""] + body + tail) + "\n", ["main"], hw0)
    cfg = ["config base {", *("    " + l for l in body + tail), "}"]
    if form == "config":
        return GenSpec("\n".join(head + [""] + cfg) + "\n", ["base"], hw0)
    edit = draw(st.sampled_from(["insert FC-7 after hidden", "remove drop", "replace hidden with FC-5",
                                 "num_classes = 3"]))
    derived = ["config more extends base {", "    " + edit, "}"]
    text = "\n".join(head + [""] + cfg + [""] + derived) + "\n"
    return GenSpec(text, ["base", "more"], hw0)


def _table(draw, head, body, tail, hw0) -> GenSpec:
    """Two or three columns: the body spans all; extra size-keeping layers fill some cells."""
    ncol = draw(st.integers(2, 3))
    names = ["A", "A-x", "B"][:ncol]
    rows = []
    for line in body:
        rows.append(line)
        if draw(st.booleans()) and not line.endswith(("{", "}")) and not line.startswith("    "):
            cells = [draw(st.sampled_from(["", "conv3-7", "LRN", "conv1-5"])) for _ in range(ncol)]
            if not any(cells):
                cells[0] = "conv3-7"
            rows.append(" | ".join(cells))
    lines = head + ["", "table " + " | ".join(names) + " {", *("    " + r for r in rows + tail), "}"]
    return GenSpec("\n".join(lines) + "\n", names, hw0)
