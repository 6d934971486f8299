"""The papers' own tables, regenerated from specs.

``family_table`` prints configurations side by side as VGG's Table 1 does (one column per
configuration, shared rows spanning, added layers in bold, parameter counts as in Table 2);
``row_table`` prints one configuration as GoogLeNet's Table 1 does (one row per layer or block).

>>> import netc
>>> t = family_table(netc.load_all("vgg"), netc.program("vgg"))
>>> t.header[0][:3], [c.text for c in t.footer[0].cells[-3:]]
(['A', 'A-LRN', 'B'], ['138M params', '144M params', '135M params'])
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from netc.ir import IR, Node
from netc.types.dims import fmt_shape

from .align import Alignment, place_aligned, place_table
from .table_format import Cell, Row, Table

def _hidden(n) -> bool:
    """Layers the papers' tables leave out (dropout): the kind says so. A collapsed block
    instance (a _BlockItem, ResNet's stages in a family table) is always shown."""
    k = getattr(n, "layer_kind", None)
    return bool(k is not None and k.hidden_in_tables)


# ------------------------------------------------------------------ family (VGG Table 1)

def family_table(irs: list[IR], program=None, all_layers: bool = False, depth: int | None = 1,
                 notes: list | None = None) -> Table:
    """Configurations side by side: columns in the given order, rows aligned.

    Columns that are columns of one ``table`` in the spec are aligned by that table's rows;
    any other configuration is aligned against its base (or its left neighbour) by sequence
    alignment of the layers as the paper writes them. A layer that a column has and its left
    neighbour has not (or has differently) is bold. ``all_layers`` keeps dropout rows;
    blocks nested ``depth`` deep or deeper are one row each (None: every layer is a row).
    ``notes`` (a list, if given) receives a sentence for each column whose alignment was bounded
    for its size (two long configurations that differ almost everywhere).
    """
    if irs and depth == 1 and not all_layers and all(is_language_model(ir) for ir in irs):
        return lm_table(irs)
    al = Alignment(len(irs))
    paper = _Papers()
    inp = al.new(None)
    names = [ir.config for ir in irs]
    for j, ir in enumerate(irs):
        inp.cells[j] = ir.node("input")
        entry = program.configs.get(ir.config) if program is not None else None
        if entry is not None and entry.table is not None:
            place_table(al, j, _items(ir, depth), entry.table, entry.column, inp)
        else:
            base = entry.base if entry is not None else None
            ref = names.index(base) if base in names[:j] else j - 1
            bounded = len(al.notes)
            place_aligned(al, j, _items(ir, depth), ref, inp, paper)
            if notes is not None:
                notes += [f"column {ir.config}: {n}" for n in al.notes[bounded:]]
    return _family_to_table(irs, al, all_layers, paper)


@dataclass
class _BlockItem:
    """A collapsed block instance, standing in for its layers in a family table."""
    paper: str
    span: object
    kind: str = "block"


def _items(ir: IR, depth: int | None) -> list:
    """Main-path layers, with blocks nested ``depth`` deep collapsed into one item each; a run of
    identical block instances (ViT's 12 encoder blocks) is one item ``encoder_block(...) ×12``,
    followed by its first instance's layers where ``depth`` opens it, as the diagram draws it."""
    out, seen = [], set()
    runs = _fold_runs(ir)
    for n in ir.layers(aux=False):
        key = _collapsed(ir, n, depth) if depth else None
        chain = _open_runs(n, key, runs)
        if any(pos for _, pos in chain):
            continue                                   # a later instance of a folded run
        for first, _ in chain:
            if first not in seen:
                seen.add(first)
                sc = ir.scopes[first]
                out.append(_BlockItem(f"{sc.label} ×{len(runs[first][0])}", sc.span))
        if key is not None and key in runs and runs[key][1] == 0:
            if key not in seen:
                seen.add(key)
                sc = ir.scopes[key]
                out.append(_BlockItem(f"{sc.label} ×{len(runs[key][0])}", sc.span))
            continue
        if key is not None and key in runs:
            continue
        if key is None:
            out.append(n)
        elif key not in seen:
            seen.add(key)
            sc = ir.scopes[key]
            out.append(_BlockItem(sc.label, sc.span))
    return out


def _fold_runs(ir: IR) -> dict[str, tuple[list[str], int]]:
    """Every instance of a run of identical block instances long enough to fold (as the diagrams
    fold them, netc.visualize.dot.FOLD_BLOCKS) -> (the run, its position in the run)."""
    from .dot import FOLD_BLOCKS, block_runs
    return {sc: (run, i) for run in block_runs(ir, FOLD_BLOCKS) for i, sc in enumerate(run)}


def _open_runs(n: Node, key: str | None, runs: dict) -> list[tuple[str, int]]:
    """The folded runs ``n`` lies in whose instance is opened (not collapsed into ``key`` or above
    it): (the run's first instance, the position of n's instance), outermost first."""
    out = []
    for k in range(1, len(n.scope) + 1):
        p = "/".join(n.scope[:k])
        if p in runs and (key is None or key.startswith(p + "/")):
            run, pos = runs[p]
            out.append((run[0], pos))
    return out


class _Papers:
    """``node.paper`` and ``_hidden(node)``, worked out once per layer kind and parameter object:
    the layers of a repetition (conv3-8 x10000) share theirs, as do configurations of one file."""

    def __init__(self):
        self.texts: dict[tuple, str] = {}
        self.hides: dict[tuple, bool] = {}

    def __call__(self, n) -> str:
        if not isinstance(n, Node) or n.params is None:
            return n.paper
        key = (id(n.spec), n.kind, id(n.params))     # the nodes, and so the parameters, outlive the table
        text = self.texts.get(key)
        if text is None:
            text = self.texts[key] = n.paper
        return text

    def hidden(self, n) -> bool:
        if not isinstance(n, Node):
            return _hidden(n)
        key = (id(n.spec), n.kind)
        h = self.hides.get(key)
        if h is None:
            h = self.hides[key] = _hidden(n)
        return h


def _family_to_table(irs: list[IR], al: Alignment, all_layers: bool, paper: _Papers | None = None) -> Table:
    paper = paper if paper is not None else _Papers()
    hidden = paper.hidden
    rows = []
    for slot in al.slots:
        cells = [None if (n is not None and not all_layers and hidden(n)) else n for n in slot.cells]
        if all(c is None for c in cells):
            continue
        texts = [_family_text(c, paper) for c in cells]
        if slot.spanning and None not in cells and len(set(texts)) == 1:
            rows.append(Row([Cell(texts[0])], span=True))
            continue
        rows.append(Row([Cell(t or "", bold=bool(t) and j > 0 and t != texts[j - 1])
                         for j, t in enumerate(texts)]))
    header = [[ir.config for ir in irs], [f"{ir.depth} weight layers" for ir in irs]]
    footer = [Row([Cell(f"{_millions(ir.params_inference)} params") for ir in irs])]
    file = os.path.basename(irs[0].filename) if irs else ""
    return Table(header, rows, footer, caption=f"Configurations ({file})",
                 note="added or changed over the column to the left", grouped=True)


def _family_text(n: Node | None, paper=None) -> str | None:
    if n is None:
        return None
    if n.kind == "input":
        return f"input ({_input_words(n)})"
    return paper(n) if paper is not None else n.paper


def _input_words(n: Node) -> str:
    """The input as a paper's table names it: ``224 × 224 RGB image``, ``L tokens``, ``196 × 768
    tokens``, ``1000-vector``."""
    shape = n.shape or n.sym_shape
    layout = getattr(shape, "layout", None)
    if layout == "ids":                      # token ids (a language model): `input tokens L`
        return f"{shape[0]} tokens"
    if layout == "map" and len(shape) == 3:
        c, h, w = shape
        kind = {3: "RGB", 1: "gray"}.get(c, f"{c}-channel")
        return f"{h} × {w} {kind} image"
    if layout == "tokens":
        return " × ".join(str(d) for d in shape) + " tokens"
    return " × ".join(str(d) for d in shape) + ("-vector" if len(shape) == 1 else "")


def _millions(p: int) -> str:
    """VGG's Table 2 style: 133M, 7.0M; a small network in K or exactly (62K, 618)."""
    return f"{p / 1e6:.0f}M" if p >= 10e6 else f"{p / 1e6:.1f}M" if p >= 1e6 else _compact(p) or "0"


# ------------------------------------------------------------------ language models (Llama 3 Table 3)

def is_language_model(ir: IR) -> bool:
    """Token ids in (``input tokens L``): a language model, whose papers print hyperparameters."""
    n = ir.node("input")
    shape = n.shape or n.sym_shape
    return getattr(shape, "layout", None) == "ids"


def _lm_facts(ir: IR) -> dict[str, str]:
    """The rows of a language model's paper table (GPT-2's Table 2, Llama 3's Table 3), read from
    its layers: layers (attention layers), model dimension, FFN dimension, heads, key/value heads,
    experts, activation, vocabulary, positions (RoPE θ and scaling, or learned), output head,
    parameters."""
    from netc.kinds.llm import active_params
    attn, mlp, emb, pos, head = [], [], [], [], []
    for n in ir.layers(aux=False):
        k, p = n.kind, n.params
        if k in ("gqa", "gpt2_attention"):
            attn.append(n)
        elif k in ("swiglu", "gpt2_mlp", "moe"):
            mlp.append(n)
        elif k == "embed":
            emb.append(p)
        elif k in ("learned_pos", "rope"):
            pos.append(n)
        elif k == "lm_head":
            head.append(p)

    def one(values) -> str:
        vals = list(dict.fromkeys(values))         # distinct, in order: 32, or 32, 40 where layers differ
        return ", ".join(vals) if vals else "–"

    def num(v) -> str:
        return f"{v:,}" if isinstance(v, int) else f"{v:,.0f}" if float(v).is_integer() else f"{v:g}"

    def heads(n):
        return n.params.heads

    def kv(n):
        return n.params.heads if n.kind == "gpt2_attention" else (n.params.kv_heads or n.params.heads)

    def rope(n) -> str:
        p = n.params
        if n.kind == "learned_pos":
            return f"learned ({num(p.max)})"
        if n.kind == "gqa" and not p.rope:
            return "none"
        text = f"RoPE (θ = {num(p.theta)}"
        return text + (f"; ×{num(p.factor)} scaling)" if p.factor else ")")

    def act(n) -> str:
        if n.kind == "gpt2_mlp":
            return "GELU (tanh)"
        return {"silu": "SwiGLU", "gelu": "GeGLU", "gelu_tanh": "GeGLU (tanh)", "relu": "ReGLU"}[n.params.act]

    facts = {
        "layers": str(len(attn)),
        "model dimension": one(num(p.dim) for p in emb),
        "FFN dimension": one(num(n.params.hidden) for n in mlp),
        "attention heads": one(num(heads(n)) for n in attn),
        "key/value heads": one(num(kv(n)) for n in attn),
    }
    moe = [n for n in mlp if n.kind == "moe"]
    if moe:
        facts["experts (active)"] = one(f"{n.params.experts} ({n.params.top_k})" for n in moe)
    facts["activation"] = one(act(n) for n in mlp)
    facts["vocabulary size"] = one(num(p.vocab) for p in emb)
    facts["positions"] = one([rope(n) for n in pos] + [rope(n) for n in attn if n.kind == "gqa"])
    facts["output head"] = one("tied to the embedding" if p.tied else "own matrix" for p in head)
    total, active = ir.params_inference, active_params(ir) if moe else None
    facts["parameters"] = _billions(total) + (f" ({_billions(active)} active)" if active is not None else "")
    return facts


def _billions(p: int) -> str:
    """8.03B, 70.6B, 124M, 1.56B: the papers' rounding, three figures."""
    if p >= 1e9:
        v, unit = p / 1e9, "B"
    elif p >= 1e6:
        v, unit = p / 1e6, "M"
    else:
        return _compact(p) or "0"
    return f"{v:.3g}{unit}" if v < 100 else f"{v:.0f}{unit}"


_LM_ROWS = ["layers", "model dimension", "FFN dimension", "attention heads", "key/value heads", "experts (active)",
            "activation", "vocabulary size", "positions", "output head", "parameters"]


def lm_table(irs: list[IR]) -> Table:
    """Language models side by side as their papers print them (Llama 3's Table 3; GPT-2's Table
    2 turned to one column per size): one row per hyperparameter, one column per model, the
    parameter count (transformers' count, exact) as the last row.

    >>> import netc
    >>> t = lm_table(netc.load_all("llama"))
    >>> t.header[0], [c.text for c in t.rows[0].cells]
    (['', 'llama3_8b', 'llama3_70b', 'llama3_2_1b'], ['layers', '32', '80', '16'])
    """
    facts = [_lm_facts(ir) for ir in irs]
    order = list(dict.fromkeys(k for f in facts for k in f))
    labels = sorted(order, key=lambda k: _LM_ROWS.index(k) if k in _LM_ROWS else len(_LM_ROWS) + order.index(k))
    rows = [Row([Cell(k)] + [Cell(f.get(k, "")) for f in facts]) for k in labels if k != "parameters"]
    footer = [Row([Cell("parameters")] + [Cell(f["parameters"]) for f in facts]),
              Row([Cell("exact")] + [Cell(f"{ir.params_inference:,}") for ir in irs])]
    file = os.path.basename(irs[0].filename) if irs else ""
    return Table([[""] + [ir.config for ir in irs]], rows, footer, caption=f"Models ({file})",
                 numeric=tuple(range(1, len(irs) + 1)))


# ------------------------------------------------------------------ one configuration (GoogLeNet Table 1)

def row_table(ir: IR, depth: int = 1, aux: bool = False) -> Table:
    """One row per layer, blocks nested ``depth`` deep collapsed into one row with their
    arguments in columns named after the block's layers (inception: #1x1, #3x3 reduce, ...).

    >>> import netc
    >>> t = row_table(netc.load("vgg:A"))
    >>> t.header[0][:4], t.rows[0].cells[0].text, t.rows[0].cells[1].text
    (['type', 'patch size/stride', 'output size', 'depth'], 'convolution', '3×3/1')
    """
    units, times = _row_units(ir, depth, aux)
    units, indent = _fold_open(ir, units, times)
    params = _block_columns(ir, units)
    header = [["type", "patch size/stride", "output size", "depth"] + [h for _, h in params] + ["params", "ops"]]
    rows = []
    for u, ind in zip(units, indent):
        cells = _row_cells(ir, u, params, times.get(u[0], 1))
        cells[0] = "  " * ind + cells[0]
        rows.append(Row([Cell(c) for c in cells]))
    totals = [_compact(ir.params_inference if not aux else ir.params),
              _compact(ir.macs if not aux else ir.macs_train)]
    footer = [Row([Cell(c) for c in ["total"] + [""] * (3 + len(params)) + totals])]
    notes = [f"side output {a.name} on {_owner(ir, a.attach)} (loss weight {a.weight:g}) not shown"
             for a in ir.aux] if not aux else []
    if ir.outputs:
        notes.insert(0, "outputs " + ", ".join(f"{k} ({_owner(ir, n)}, {fmt_shape(ir.node(n).type)})"
                                               for k, n in ir.outputs.items()))
    file = os.path.basename(ir.filename)
    return Table(header, rows, footer, caption=f"{ir.config} ({file}): {ir.depth} weight layers",
                 note="; ".join(notes), grouped=False, numeric=(3, *range(4 + len(params), 6 + len(params))))


def _fold_open(ir: IR, units, times: dict[str, int]):
    """Fold runs of identical block instances that ``depth`` opens (ViT's encoder blocks at
    ``--depth 2``): a row ``encoder_block ×12`` with the run's totals, then its first instance's
    rows indented under it; the other instances' rows are left out. Returns the units and the
    indentation of each."""
    runs = _fold_runs(ir)
    if not runs:
        return units, [0] * len(units)
    out, indent, seen = [], [], set()
    for key, members in units:
        chain = _open_runs(members[0], key or None, runs)
        if any(pos for _, pos in chain):
            continue
        for level, (first, _) in enumerate(chain):
            if first not in seen:
                seen.add(first)
                run = runs[first][0]
                out.append((first, [m for sc in run for m in ir.scope_nodes(sc)]))
                indent.append(level)
                times[first] = len(run)
        out.append((key, members))
        indent.append(len(chain))
    return out, indent


def _owner(ir: IR, node: str) -> str:
    """4a/concat -> 4a: the block whose output a node is, else the node."""
    return next((sc.name for sc in ir.scopes.values() if sc.output == node and sc.kind == "block"), node)


def _row_units(ir: IR, depth: int, aux: bool) -> tuple[list[tuple[str, list[Node]]], dict[str, int]]:
    """(block name or "", members) in program order, and how many identical instances each block row
    stands for: a run of identical block instances is one row (``encoder_block ×12``), and a block
    holding a transformer-sized run (netc.visualize.dot.FOLD_BLOCKS) is opened to show it."""
    from .dot import FOLD_BLOCKS, block_runs
    runs = block_runs(ir, FOLD_BLOCKS)     # as the diagrams: a paper table lists a few equal rows
    head = {sc: r[0] for r in runs for sc in r}
    opened = {r[0].rsplit("/", k)[0] for r in runs if len(r) >= FOLD_BLOCKS for k in range(1, r[0].count("/") + 1)}
    out: list[tuple[str, list[Node]]] = []
    index: dict[str, int] = {}
    times: dict[str, int] = {}
    for n in ir.layers(aux=None if aux else False):
        key = _collapsed(ir, n, depth, opened)
        if key is not None and key in head:
            first = head[key]
            if key not in times.get(f"#{first}", ()):
                times.setdefault(f"#{first}", []).append(key)
            key = first
        if key is None:
            out.append(("", [n]))
        elif key in index:
            out[index[key]][1].append(n)
        else:
            index[key] = len(out)
            out.append((key, [n]))
    return out, {k[1:]: len(v) for k, v in times.items()}


def _collapsed(ir: IR, n: Node, depth: int, opened: set = frozenset()) -> str | None:
    level = 0
    for k in range(1, len(n.scope) + 1):
        sc = ir.scopes.get("/".join(n.scope[:k]))
        if sc is not None and sc.kind == "block" and sc.name not in opened:
            level += 1
            if level >= depth:
                return sc.name
    return None


def _block_columns(ir: IR, units) -> list[tuple[str, str]]:
    """(parameter name, header) of every block argument, in order of first use."""
    out: list[tuple[str, str]] = []
    for key, members in units:
        if not key:
            continue
        for pname in ir.scopes[key].args:
            if pname not in [p for p, _ in out]:
                head = _param_header(pname, key, members)
                out.append((pname, pname if head in [h for _, h in out] else head))
    return out


def _param_header(pname: str, key: str, members: list[Node]) -> str:
    """The local name of the layer whose width is the parameter: n1 in `conv1-n1 as 1x1` -> '#1x1'.
    Only the block's own layers count (a nested block's `conv1-c` is that block's c), and only the
    width (`conv3-hidden/s` names no column s); otherwise the parameter's name (Table 2's t, c, n, s)."""
    for m in members:
        if "/".join(m.scope) != key or not m.explicit:   # a generated name (conv1_1) says less than pname
            continue
        if pname == _width_token(m.word):
            local = m.local.replace("_", " ")
            return f"#{local}" if local[:1].isdigit() else local
    return pname


def _width_token(word: str) -> str | None:
    """`conv1-n1` -> 'n1', `conv3-hidden/s` -> 'hidden', `FC-classes` -> 'classes'."""
    m = re.search(r"-(\w+)", word)
    return m.group(1) if m else None


def _row_cells(ir: IR, unit, params, times: int = 1) -> list[str]:
    key, members = unit
    last = members[-1] if key and times > 1 else ir.node(ir.scopes[key].output) if key else members[0]
    args = ir.scopes[key].args if key else {}
    p = sum(m.n_params for m in members)
    macs = [m.macs for m in members]
    ops = None if None in macs else sum(macs)
    kind = _type_text(ir, key, members[0]) if times == 1 else f"{ir.scopes[key].block} ×{times}"
    return [kind, "" if key else _patch(members[0]), _hwc(last),
            str(_depth(ir, members)),
            *[_arg_text(args[pn]) if pn in args else "" for pn, _ in params],
            _compact(p), _compact(ops)]


def _arg_text(v) -> str:
    """A block argument as a spec writes it: true/false, 1e-06 as 1e-06, lists with brackets."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _type_text(ir: IR, key: str, n: Node) -> str:
    if key:
        sc = ir.scopes[key]
        parent = sc.name.rsplit("/", 1)[0] if "/" in sc.name else None
        if parent is not None and parent in {a.name for a in ir.aux}:   # a side output's head: name the output
            return f"{sc.block or sc.kind} ({parent})"
        return sc.title
    k = n.layer_kind
    return k.table_text(n.params) if k is not None else n.paper


def _patch(n: Node) -> str:
    k = n.layer_kind
    return k.patch(n.params) if k is not None and n.params is not None else ""


def _hwc(n: Node) -> str:
    shape = n.shape if n.shape is not None else n.sym_shape
    if shape is None:
        return "?"
    if len(shape) == 1:
        return f"1×1×{shape[0]}"
    if shape.layout == "tokens":           # L×D, or a grid of tokens H×W×D
        return "×".join(str(d) for d in shape)
    c, h, w = shape
    return f"{h}×{w}×{c}"


def _depth(ir: IR, members: list[Node]) -> int:
    """Weight layers on the longest path through these nodes."""
    inside = {m.name for m in members}
    best: dict[str, int] = {}
    for m in members:
        before = max((best[p] for p in ir.preds(m.name) if p in inside), default=0)
        best[m.name] = before + (1 if m.is_weight else 0)
    return max(best.values(), default=0)


def _compact(n: int | None) -> str:
    """Sizes as GoogLeNet's table prints them: 2.7K, 159K, 34M, 1.5G."""
    if n is None:
        return "?"
    if n == 0:
        return ""
    if n < 1000:
        return str(n)
    if n < 10_000:
        return f"{n / 1e3:.1f}K"
    if n < 1_000_000:
        return f"{n / 1e3:.0f}K"
    if n < 10_000_000:
        return f"{n / 1e6:.1f}M"
    if n < 1_000_000_000:
        return f"{n / 1e6:.0f}M"
    return f"{n / 1e9:.2f}G"
