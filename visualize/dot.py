"""IR -> Graphviz DOT text: layers as the paper writes them, blocks as clusters.

The text is a pure, deterministic function of the IR and the options (program order
everywhere, no absolute paths), so golden files stay valid.

>>> import netc
>>> dot = to_dot(netc.load("vgg:A"))
>>> dot.startswith('digraph "A"') and "<b>conv3-64</b>" in dot
True
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from netc.types import dims
from netc.ir import IR, Node
from netc.summary import human

from . import palette as P


@dataclass
class Unit:
    """One drawn node: a layer, a collapsed block, or a run of repeated layers."""
    id: str
    members: list[Node]
    clusters: tuple[str, ...]          # expanded scopes around it, outermost first
    block: str | None = None           # the collapsed scope, if any
    ghost: bool = False

    @property
    def first(self) -> Node:
        return self.members[0]

    @property
    def last(self) -> Node:
        return self.members[-1]


@dataclass
class _Graph:
    units: dict[str, Unit] = field(default_factory=dict)     # id -> unit, program order
    rep: dict[str, str] = field(default_factory=dict)        # IR node name -> unit id
    edges: list[tuple[str, str, dict]] = field(default_factory=list)
    entries: dict[str, list[str]] = field(default_factory=dict)   # cluster -> its branch heads
    runs: dict[str, int] = field(default_factory=dict)       # first block instance of a folded run -> its length
    instance: dict[str, tuple[str, int]] = field(default_factory=dict)   # node of a folded run -> (run, index)


#: runs of at least this many identical block instances (a transformer's encoder layers) are drawn
#: as one, unless asked otherwise; ``repeats=True`` folds runs of two or more
FOLD_BLOCKS = 6


def block_runs(ir: IR, least: int = 2) -> list[list[str]]:
    """Runs of consecutive instances of one block with the same arguments, each feeding only the next
    (``encoder_block(12, 768, 3072) x12``): lists of scope names, at least ``least`` long."""
    by_parent: dict[tuple, list] = {}
    for name, sc in ir.scopes.items():
        if sc.kind == "block" and sc.output is not None:
            by_parent.setdefault((name.rsplit("/", 1)[0] if "/" in name else "",), []).append(sc)
    runs = []
    for scopes in by_parent.values():
        run: list = []
        for sc in scopes + [None]:
            prev = run[-1] if run else None
            if (sc is not None and prev is not None and sc.block == prev.block and sc.args == prev.args
                    and sc.input == prev.output and _size(ir, sc) == _size(ir, prev)):
                run.append(sc)
                continue
            if len(run) >= least:
                runs.append([r.name for r in run])
            run = [sc] if sc is not None else []
    return runs


def _size(ir: IR, sc) -> int:
    return len(ir.scope_nodes(sc.name))


def to_dot(ir: IR, *, depth: int | None = None, shapes: bool = False, params: bool = False,
           edge_shapes: bool = False, rankdir: str = "TB", repeats: bool = False, title: bool = True,
           highlight: dict[str, str] | None = None, ghosts: list[Node] = (),
           ghost_edges: list[tuple[str, str]] = (), fold: int | None = FOLD_BLOCKS) -> str:
    """The DOT text of one configuration.

    depth: blocks nested ``depth`` levels deep or deeper collapse into one node each (1: every
        block instance is a box; None: everything expanded, blocks drawn as clusters).
    shapes / params: add the output shape / parameter count to each node; edge_shapes: label
        edges with the tensor shape that flows along them.
    rankdir: "TB" (top to bottom) or "LR"; repeats: draw a run of identical layers as one node
        (``conv3-512 ×3``), and a run of identical block instances as one; title: a graph label
        naming the configuration and its size.
    fold: a run of at least this many identical block instances (ViT's ``encoder_block ×12``) is
        drawn as one: a box, or with ``depth`` deep enough, its first instance expanded and titled
        ``×12``; None: every instance drawn (``repeats=True`` folds runs of two or more).
    highlight: IR node name -> "added" | "changed" | "moved" | "removed", drawn green / amber / magenta outline /
        grey (for diff).
    ghosts: nodes that are not in ``ir`` (e.g. removed ones, from an older IR), drawn dashed and
        grey in the cluster of their scope; ghost_edges: (u, v) pairs to draw dashed, where u and v
        name a ghost or a node of ``ir``.

    >>> import netc
    >>> g = netc.load("vgg:A")
    >>> 'style="filled,rounded,dashed"' in to_dot(g, ghosts=[netc.load("vgg:B").node("conv1_2")])
    True
    """
    least = 2 if repeats else fold
    runs = block_runs(ir, least) if least is not None and not ghosts and not highlight else []
    g = _units(ir, depth, repeats, list(ghosts), runs)
    _entries(ir, g)
    _edges(ir, g, list(ghost_edges))
    hl = highlight or {}
    lines = [f'digraph {_q(ir.config)} {{']
    marks = sorted(set(hl.values()) | ({"removed"} if ghosts else set()), key=list(P.HIGHLIGHT).index)
    lines += _graph_attrs(ir, rankdir, title, marks)
    lines += _emit_tree(ir, g, shapes, params, hl)
    for u, v, attrs in g.edges:
        lines.append(f"    {_q(u)} -> {_q(v)}{_attrs(_edge_attrs(attrs, edge_shapes))};")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ units and edges
def _place(ir: IR, n: Node, depth: int | None) -> tuple[tuple[str, ...], str | None]:
    """(expanded clusters around n, the collapsed scope holding n or None)."""
    clusters: list[str] = []
    level = 0
    for k in range(1, len(n.scope) + 1):
        path = "/".join(n.scope[:k])
        sc = ir.scopes.get(path)
        if sc is None:
            continue
        if sc.kind == "block":
            level += 1
            if depth is not None and level >= depth:
                return tuple(clusters), path
            if clusters and _same_extent(ir, clusters[-1], sc):
                continue   # a block that is a whole side output: one cluster, not two
        clusters.append(path)
    return tuple(clusters), None


def _same_extent(ir: IR, outer: str, sc) -> bool:
    o = ir.scopes[outer]
    return o.kind == "aux" and o.input == sc.input and o.output == sc.output


def _units(ir: IR, depth: int | None, repeats: bool, ghosts: list[Node], runs: list[list[str]] = ()) -> _Graph:
    g = _Graph()
    first_of: dict[str, tuple[str, int]] = {}
    for run in runs:
        g.runs[run[0]] = len(run)
        for i, sc in enumerate(run):
            first_of[sc] = (run[0], i)
            for n in ir.scope_nodes(sc):
                g.instance[n.name] = (run[0], i)
    folded: list[Node] = []
    for n in ir.nodes():
        if g.instance.get(n.name, ("", 0))[1] > 0:
            folded.append(n)        # drawn by the first instance of its run
            continue
        clusters, block = _place(ir, n, depth)
        if depth is None and n.name in g.instance:     # a folded run is one box unless --depth opens it
            run = g.instance[n.name][0]
            clusters = tuple(c for c in clusters if not (c == run or c.startswith(run + "/")))
            block = run
        uid = block or n.name
        if uid not in g.units:
            g.units[uid] = Unit(uid, [], clusters, block)
        g.units[uid].members.append(n)
        g.rep[n.name] = uid
    by_place = {place: sc for sc, place in first_of.items()}
    for n in folded:                 # the same layer of the first instance
        run, i = g.instance[n.name]
        inst = by_place[(run, i)]
        twin = run + n.name[len(inst):]
        g.rep[n.name] = g.rep[twin]
    if repeats:
        _merge_repeats(ir, g)
    for n in ghosts:
        clusters, _ = _place(ir, n, None) if all("/".join(n.scope[:k]) in ir.scopes
                                                  for k in range(1, len(n.scope) + 1)) else ((), None)
        uid = "ghost:" + n.name
        g.units[uid] = Unit(uid, [n], clusters, ghost=True)
    return g


def _merge_repeats(ir: IR, g: _Graph) -> None:
    """Fold chains of identical single-layer units (one edge in, one edge out) into the first."""
    units = list(g.units.values())
    for prev, cur in zip(units, units[1:]):
        head = g.units.get(g.rep[prev.last.name])
        if (cur.block or prev.block or cur.clusters != head.clusters or cur.first.kind != head.first.kind
                or cur.first.paper != head.first.paper or cur.first.act != head.first.act
                or ir.preds(cur.first.name) != [prev.last.name]
                or list(ir.g.successors(prev.last.name)) != [cur.first.name]):
            continue
        head.members.append(cur.first)
        g.rep[cur.first.name] = head.id
        del g.units[cur.id]


def _entries(ir: IR, g: _Graph) -> None:
    """Clusters whose branches all start from one outside unit get an entry point: one edge comes
    in, then fans out inside the box (the edges then stay clear of the cluster's label)."""
    members: dict[str, list] = {}          # scope -> its units, in order (one pass: linear)
    for unit in g.units.values():
        for c in dict.fromkeys(unit.clusters):
            if ir.scopes[c].kind == "block":
                members.setdefault(c, []).append(unit)
    for sc, units in members.items():
        pre = sc + "/"
        heads = [u for u in units if not u.ghost and ir.preds(u.first.name)
                 and all(not p.startswith(pre) for p in ir.preds(u.first.name))]
        feeds = {g.rep[p] for u in heads for p in ir.preds(u.first.name)}
        if len(heads) > 1 and len(feeds) == 1:
            g.entries[sc] = [u.id for u in heads]


def _entry_id(scope: str) -> str:
    return f"{scope}/#in"


def _edges(ir: IR, g: _Graph, ghost_edges: list[tuple[str, str]]) -> None:
    seen: set[tuple[str, str]] = set()
    heads = {h: sc for sc, hs in g.entries.items() for h in hs}
    for n in ir.nodes():
        for p in ir.preds(n.name):
            a, b = g.instance.get(p), g.instance.get(n.name)
            if a is not None and b is not None and a[0] == b[0] and a[1] != b[1]:
                continue      # one instance of a folded run feeding the next: drawn once, as the run
            if b is not None and b[1] > 0 and a is None:
                continue      # a later instance's input from outside the run (a skip): its first's stands
            if a is not None and a[1] < g.runs[a[0]] - 1 and b is None:
                continue      # only the last instance's output leaves the run
            u, v = g.rep[p], g.rep[n.name]
            if v in heads and not p.startswith(heads[v] + "/"):
                entry = _entry_id(heads[v])
                if (u, entry) not in seen:
                    seen.add((u, entry))
                    g.edges.append((u, entry, dict(ir.g.edge(p, n.name), arrowhead="none")))
                u = entry
            if u == v or (u, v) in seen:
                continue
            seen.add((u, v))
            data = dict(ir.g.edge(p, n.name)) if not u.endswith("/#in") else {}
            src, dst = ir.node(p), n
            if dst.aux is not None and src.aux != dst.aux:
                head = next(a for a in ir.aux if a.name == dst.aux)
                data["aux_weight"] = head.weight
            g.edges.append((u, v, data))
    for u, v in ghost_edges:
        uu = "ghost:" + u if "ghost:" + u in g.units else g.rep.get(u, u)
        vv = "ghost:" + v if "ghost:" + v in g.units else g.rep.get(v, v)
        g.edges.append((uu, vv, {"ghost": True}))


# ------------------------------------------------------------------ emitting
def _graph_attrs(ir: IR, rankdir: str, title: bool, marks: list[str] = ()) -> list[str]:
    out = [f'    graph [rankdir={rankdir}, fontname="{P.FONT}", fontsize=12, nodesep=0.25, ranksep=0.3,'
           f' newrank=true, outputorder=edgesfirst];',
           f'    node [shape=box, style="filled,rounded", fontname="{P.FONT}", fontsize=11, height=0.3,'
           f' margin="0.12,0.04", penwidth=1.2];',
           f'    edge [color="{P.EDGE}", arrowsize=0.6, fontname="{P.FONT}", fontsize=9,'
           f' fontcolor="{P.MUTED}"];']
    if title:
        out.append(f'    labelloc=t; label={_html(_title(ir) + _legend(marks))};')
    return out


def _legend(marks: list[str]) -> str:
    """For a diff picture: what its colours mean (only those it uses)."""
    if not marks:
        return ""
    sym = {"added": "■", "changed": "■", "moved": "□", "removed": "□"}
    words = {"removed": "removed (dashed)"}
    keys = [f'<font color="{P.HIGHLIGHT[m].border}">{sym[m]} {words.get(m, m)}</font>' for m in marks]
    return '<font point-size="10">' + "&nbsp;&nbsp;&nbsp;".join(keys) + "</font><br/> "


def _title(ir: IR) -> str:
    file = os.path.basename(ir.filename)
    size = f"{ir.params_inference / 1e6:.1f}M params" if ir.params_inference >= 1e5 else f"{ir.params_inference:,} params"
    return f"<b>{_esc(ir.config)}</b> ({_esc(file)}): {ir.depth} weight layers, {size}<br/> "


def _emit_tree(ir: IR, g: _Graph, shapes: bool, params: bool, hl: dict) -> list[str]:
    children: dict[tuple, list] = {(): []}
    for unit in g.units.values():
        for k in range(1, len(unit.clusters) + 1):
            key = unit.clusters[:k]
            if key not in children:
                children[key] = []
                children[key[:-1]].append(("cluster", key))
        children[unit.clusters].append(("unit", unit))
    single = {key for key, items in children.items()
              if key and ir.scopes[key[-1]].kind == "aux" and len(items) == 1 and items[0][0] == "unit"}
    return _emit_children(ir, g, (), children, single, shapes, params, hl, "    ")


def _emit_children(ir, g, key, children, single, shapes, params, hl, pad) -> list[str]:
    out = []
    for what, item in children[key]:
        if what == "unit":
            out.append(pad + _node_line(ir, item, shapes, params, hl, dashed=key in single, g_runs=g.runs))
        elif item in single:
            out += _emit_children(ir, g, item, children, single, shapes, params, hl, pad)
        else:
            out.append(f"{pad}subgraph {_q('cluster_' + item[-1])} {{")
            out += [pad + "    " + a for a in _cluster_attrs(ir, item[-1], g.runs)]
            if item[-1] in g.entries:
                out.append(f"{pad}    {_q(_entry_id(item[-1]))} [shape=point, width=0.05, color=\"{P.EDGE}\", group=main];")
            out += _emit_children(ir, g, item, children, single, shapes, params, hl, pad + "    ")
            heads = [h for h in g.entries.get(item[-1], []) if h in [u.id for w, u in children[item] if w == "unit"]]
            if len(heads) > 1:
                out.append(pad + "    {rank=same; " + " ".join(_q(h) + ";" for h in heads) + "}")
            out.append(pad + "}")
    return out


def _cluster_attrs(ir: IR, name: str, runs: dict[str, int] = {}) -> list[str]:  # noqa: B006
    sc = ir.scopes[name]
    if sc.kind == "aux":
        inner = next((s for s in ir.scopes.values() if s.kind == "block" and _same_extent(ir, name, s)), None)
        what = f" · {_esc(inner.label)}" if inner else ""
        return [f'label={_html(f"<b>{_esc(sc.name)}</b>{what}  <i>(training only)</i>")};',
                f'style="dashed,rounded"; color="{P.AUX_BORDER}"; fontsize=10; labeljust=l;']
    return [f'label={_html(_block_title(sc, runs.get(name, 1)))};',
            f'style="filled,rounded"; fillcolor="{P.CLUSTER_FILL}"; color="{P.CLUSTER_BORDER}";'
            f' fontsize=10; labeljust=l; labelloc=t;']


def _block_title(sc, times: int = 1) -> str:
    args = _args_text(sc.args)
    head = f"<b>{_esc(sc.block if times > 1 else sc.title)}</b>" + (f" ×{times}" if times > 1 else "")
    return head + (f'<br align="left"/><font color="{P.MUTED}">{_esc(args)}</font>' if args else "") + '<br align="left"/>'


def _args_text(args: dict) -> str:
    """inception's six numbers as the paper lists them; a short list with its names (classes=1000)."""
    if len(args) <= 2:
        return ", ".join(f"{k}={_fmt_arg(v)}" for k, v in args.items())
    return ", ".join(_fmt_arg(v) for v in args.values())


def _fmt_arg(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _node_line(ir: IR, unit: Unit, shapes: bool, params: bool, hl: dict, dashed: bool = False,
               g_runs: dict[str, int] = {}) -> str:  # noqa: B006
    style = _unit_style(unit, hl)
    lines = _label_lines(ir, unit, shapes, params, g_runs.get(unit.block, 1) if unit.block else 1)
    attrs = {"label": _html("<br/>".join(lines)), "fillcolor": style.fill, "color": style.border}
    if unit.block:
        attrs["penwidth"] = "1.8"
    if not unit.ghost and unit.first.aux is None and (not unit.clusters or _is_spine(ir, unit)):
        attrs["group"] = "main"   # keeps the main path a straight column
    extra = []
    if not style.rounded:
        extra.append("filled")
    if unit.ghost or dashed:
        extra = ["filled", "rounded", "dashed"]
        if unit.ghost:
            attrs["fontcolor"] = "#9e9e9e"
    if extra:
        attrs["style"] = ",".join(extra)
    return f"{_q(unit.id)}{_attrs(attrs)};"


def _is_spine(ir: IR, unit: Unit) -> bool:
    """The output of a top-level block (an inception module's concat) lies on the main column."""
    return len(unit.clusters) == 1 and ir.scopes[unit.clusters[0]].output == unit.last.name


def _unit_style(unit: Unit, hl: dict) -> P.Style:
    if unit.ghost:
        return P.HIGHLIGHT["removed"]
    marks = [hl[m.name] for m in unit.members if m.name in hl]
    if marks:
        return P.HIGHLIGHT["added" if set(marks) == {"added"} else "changed" if "changed" in marks or
                           len(set(marks)) > 1 else marks[0]]
    return P.style_for("block" if unit.block else unit.first.layer_kind or unit.first.kind)


def _label_lines(ir: IR, unit: Unit, shapes: bool, params: bool, times: int = 1) -> list[str]:
    muted = f'<font point-size="9" color="{P.MUTED}">'
    if unit.block:
        sc = ir.scopes[unit.block]
        args = _args_text(sc.args)
        owner = _aux_owner(ir, sc)
        if times > 1:
            lines = [f"<b>{_esc(sc.block)}</b> ×{times}"]
        else:
            lines = [f"<b>{_esc(f'{sc.block} ({owner})' if owner else sc.title)}</b>"]
        if args:
            lines.append(f"{muted}{_esc(args)}</font>")
        if owner:
            lines.append(f"{muted}side output, training only</font>")
    elif unit.first.kind == "input":
        lines = ["<b>input</b>", f"{muted}{_esc(_input_text(ir))}</font>"]
    else:
        n = len(unit.members)
        lines = [f"<b>{_esc(unit.first.paper)}</b>" + (f" ×{n}" if n > 1 else "")]
        first = unit.first.local if unit.clusters else unit.first.name
        name = first if n == 1 else f"{first} … {unit.last.local}"
        if name != unit.first.paper:
            lines.append(f"{muted}{_esc(name)}</font>")
    if shapes and unit.first.kind != "input":
        lines.append(f"{muted}{_esc(fmt_shape(_out_shape(ir, unit)))}</font>")
    if params:
        total = sum(m.n_params for m in _all_members(ir, unit)) * times
        if total:
            lines.append(f"{muted}{human(total)} params</font>")
    return lines


def _aux_owner(ir: IR, sc) -> str | None:
    """The side output that consists of exactly this block, if any."""
    parent = sc.name.rsplit("/", 1)[0] if "/" in sc.name else None
    return parent if parent in ir.scopes and _same_extent(ir, parent, sc) else None


def _all_members(ir: IR, unit: Unit) -> list[Node]:
    return ir.scope_nodes(unit.block) if unit.block else unit.members


def _out_shape(ir: IR, unit: Unit):
    n = ir.node(ir.scopes[unit.block].output) if unit.block else unit.last
    return n.shape if n.shape is not None else n.sym_shape


def _input_text(ir: IR) -> str:
    spec = ir.input_spec
    kind = {3: "RGB", 1: "gray"}.get(spec.channels, f"{spec.channels} channels")
    return f"{spec.height}×{spec.width} {kind}"


def fmt_shape(shape) -> str:
    """(64, 112, 112) -> '64×112×112' (C×H×W, as netc summary prints it)."""
    return dims.fmt_shape(shape).replace("x", "×")


def _edge_attrs(data: dict, edge_shapes: bool) -> dict:
    attrs: dict[str, str] = {"arrowhead": data["arrowhead"]} if "arrowhead" in data else {}
    if data.get("ghost"):
        return {"style": "dashed", "color": "#9e9e9e"}
    if "aux_weight" in data:
        attrs.update(style="dashed", color=P.AUX_BORDER, label=f"loss weight {data['aux_weight']:g}",
                     fontcolor=P.AUX_BORDER)
    elif edge_shapes:
        shape = data.get("shape") or data.get("sym_shape")
        if shape is not None:
            attrs["label"] = fmt_shape(shape)
    return attrs


# ------------------------------------------------------------------ DOT syntax
def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _esc(s: str) -> str:
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _html(s: str) -> str:
    return f"<{s}>"


def _attrs(attrs: dict) -> str:
    if not attrs:
        return ""
    parts = [f"{k}={v}" if k == "label" and v.startswith("<") else f"{k}={_q(str(v))}" for k, v in attrs.items()]
    return " [" + ", ".join(parts) + "]"
