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
import re
from bisect import bisect_left
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
    run_of: dict[str, list[str]] = field(default_factory=dict)   # first block instance -> the run
    instance: dict[str, dict[str, int]] = field(default_factory=dict)   # node -> {folded run it is in: index}
    variants: dict[str, list[Node]] = field(default_factory=dict)   # drawn layer -> the same layer, later instances
    scope_var: dict[str, list[str]] = field(default_factory=dict)   # scope -> the same scope, later instances
    elided: dict[str, str] = field(default_factory=dict)     # no-op layer, not drawn -> its input
    only: str | None = None                                  # the block drawn alone (detail panel)
    ports: dict[str, Node] = field(default_factory=dict)     # IN / OUT of the detail panel -> the layer there

    def resolve(self, name: str) -> str:
        """The drawn layer whose output ``name`` passes on (itself unless it is a no-op)."""
        while name in self.elided:
            name = self.elided[name]
        return name


#: runs of at least this many identical block instances (a transformer's encoder layers) are drawn
#: as one, unless asked otherwise; ``repeats=True`` folds runs of two or more
FOLD_BLOCKS = 6


def block_runs(ir: IR, least: int = 2, vary: bool = False) -> list[list[str]]:
    """Runs of consecutive instances of one block with the same arguments, each feeding only the next
    (``encoder_block(12, 768, 3072) x12``): lists of scope names, at least ``least`` long.

    vary: instances whose arguments differ (Swin's drop-path rate, rising block by block) still make
    a run when their layers are the same ones, of the same sizes (the diagram notes the range)."""
    by_parent: dict[tuple, list] = {}
    for name, sc in ir.scopes.items():
        if sc.kind == "block" and sc.output is not None:
            by_parent.setdefault((name.rsplit("/", 1)[0] if "/" in name else "",), []).append(sc)
    runs = []
    for scopes in by_parent.values():
        run: list = []
        for sc in scopes + [None]:
            prev = run[-1] if run else None
            if (sc is not None and prev is not None and sc.block == prev.block and sc.input == prev.output
                    and _size(ir, sc) == _size(ir, prev)
                    and (sc.args == prev.args or (vary and _layers(ir, sc) == _layers(ir, prev)))):
                run.append(sc)
                continue
            if len(run) >= least:
                runs.append([r.name for r in run])
            run = [sc] if sc is not None else []
    return runs


def _layers(ir: IR, sc) -> list[tuple]:
    """What instances of a block must share to fold though their arguments differ: the same layers
    (name, kind), of the same sizes (parameters, output shape). A rate or a shift may differ;
    widths may not (GoogLeNet's inception modules are each their own row of the paper's table)."""
    k = len(sc.name) + 1
    return [(n.name[k:], n.kind, n.n_params, n.shape, n.sym_shape) for n in ir.scope_nodes(sc.name)]


def _size(ir: IR, sc) -> int:
    return len(ir.scope_nodes(sc.name))


def to_dot(ir: IR, *, depth: int | None = None, shapes: bool = False, params: bool = False,
           edge_shapes: bool = False, rankdir: str = "TB", repeats: bool = False, title: bool = True,
           highlight: dict[str, str] | None = None, ghosts: list[Node] = (),
           ghost_edges: list[tuple[str, str]] = (), fold: int | None = FOLD_BLOCKS,
           layout: str = "column", block: str | None = None) -> str:
    """The DOT text of one configuration.

    depth: blocks nested ``depth`` levels deep or deeper collapse into one node each (1: every
        block instance is a box; None: everything expanded, blocks drawn as clusters).
        ``figure_options`` picks a depth by size, as ``netc render`` does by default.
    shapes / params: add the output shape / parameter count to each node; edge_shapes: label
        edges with the tensor shape that flows along them.
    rankdir: "TB" (top to bottom) or "LR"; repeats: draw a run of identical layers as one node
        (``conv3-512 ×3``), and a run of identical block instances as one; title: a graph label
        naming the configuration and its size.
    fold: a run of at least this many instances of one block (ViT's ``encoder_block ×12``) is
        drawn as one: a box, or with ``depth`` deep enough, its first instance expanded and titled
        ``×12``; None: every instance drawn (``repeats=True`` folds runs of two or more). The
        instances may differ in their arguments (Swin's drop-path rate) as long as their layers
        are the same; the label gives the range (``p=0–0.0182``).
    layout: "column" (one column, blocks as clusters), "rows" (the top-level stages stacked, each
        one row, as the papers' overview figures), "u" (an encoder-decoder whose skips pair the
        levels drawn as a U: down on the left, up on the right, the skips across), or "auto" (the
        first of "u" and "rows" that fits the drawing, else "column"); TB only.
    block: draw only this block instance (its full name, e.g. ``encoder/encoder_block_1``, or
        the block's name for its first instance): a figure's detail panel.
    highlight: IR node name -> "added" | "changed" | "moved" | "removed", drawn green / amber / magenta outline /
        grey (for diff).
    ghosts: nodes that are not in ``ir`` (e.g. removed ones, from an older IR), drawn dashed and
        grey in the cluster of their scope; ghost_edges: (u, v) pairs to draw dashed, where u and v
        name a ghost or a node of ``ir``.

    No-op layers (``identity``, ``dropout(0)``, ``drop-path(0)``) are not drawn: their edges join.

    >>> import netc
    >>> g = netc.load("vgg:A")
    >>> 'style="filled,rounded,dashed"' in to_dot(g, ghosts=[netc.load("vgg:B").node("conv1_2")])
    True
    """
    hl = highlight or {}
    only = find_block(ir, block) if block else None
    least = 2 if repeats else fold
    runs = block_runs(ir, least, vary=True) if least is not None and not ghosts and not highlight else []
    if only:
        runs = [r for r in runs if all(sc.startswith(only + "/") for sc in r)]
    g = _units(ir, depth, repeats, list(ghosts), runs, only, keep=set(hl))
    _entries(ir, g)
    _edges(ir, g, list(ghost_edges))
    plan = _plan(ir, g, layout if rankdir == "TB" and not ghosts and not hl else "column")
    lines = [f'digraph {_q(ir.config)} {{']
    marks = sorted(set(hl.values()) | ({"removed"} if ghosts else set()), key=list(P.HIGHLIGHT).index)
    lines += _graph_attrs(ir, rankdir, title, marks, g, only)
    lines += _emit_tree(ir, g, shapes, params, hl, plan)
    lines += _emit_outputs(ir, g)
    for u, v, attrs in g.edges:
        ea = _edge_attrs(attrs, edge_shapes)
        if (u, v) in plan.flip:            # drawn upwards: the edge reversed, its arrow at the tail
            u, v, ea = v, u, {**ea, "dir": "back"}
        elif (u, v) in plan.loose:       # from one row's end back to the next row's start
            ea = {**ea, "weight": "0", **({"minlen": "2"} if v in plan.gaps.values() else {})}
        lines.append(f"    {_q(u)} -> {_q(v)}{_attrs(ea)};")
    for row in plan.rows:
        lines.append("    {rank=same; " + " ".join(_q(x) + ";" for x in row) + "}")
    if plan.kind == "rows":         # the rows' first boxes one above the other: the rows start at the left
        for a, b in zip(plan.rows, plan.rows[1:]):
            gap = ", minlen=2" if a[0] in plan.gaps else ""
            lines.append(f"    {_q(a[0])} -> {_q(b[0])} [style=invis, weight=20{gap}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def find_block(ir: IR, name: str) -> str:
    """The block instance ``name`` means: a full instance name, or a block's name (its first instance).

    >>> import netc
    >>> find_block(netc.load("vit_b_16"), "encoder_block")
    'encoder/encoder_block_1'
    """
    from netc.dsl.errors import NetcError
    blocks = {n: sc for n, sc in ir.scopes.items() if sc.kind == "block"}
    if name in blocks:
        return name
    pos = {n.name: i for i, n in enumerate(ir.nodes())}
    first = {n: min((pos[m.name] for m in ir.scope_nodes(n)), default=0) for n in blocks}
    for n, sc in sorted(blocks.items(), key=lambda kv: first[kv[0]]):
        if sc.block == name or n.rsplit("/", 1)[-1] == name:
            return n
    names = sorted({sc.block for sc in blocks.values() if sc.block})
    raise NetcError(f"{ir.config} has no block {name!r}",
                    hint=f"its blocks: {', '.join(names)}" if names else "it has no blocks")


#: a drawing of at most this many nodes fits a screen; ``figure_options`` folds a larger network
#: until it fits (blocks as boxes, runs of blocks as one)
SCREEN = 40


def figure_options(ir: IR, depth: int | str | None = "auto", **options) -> dict:
    """``to_dot`` options for a figure: depth "auto" folds a network over a screenful (SCREEN drawn
    nodes) block level by block level until it fits, runs of two or more instances of one block as
    one node; "all" (or None) expands everything; a number is that depth. The layout is "auto".

    >>> import netc
    >>> figure_options(netc.load("resnet50"))["depth"]
    2
    >>> figure_options(netc.load("vgg:D"))["depth"] is None
    True
    """
    options.setdefault("layout", "auto")
    if depth in ("all", None):
        return {"depth": None, **options}
    if depth != "auto":
        return {"depth": int(depth), "fold": 2, **options}
    options.setdefault("fold", 2)
    nest = max((sc.name.count("/") + 1 for sc in ir.scopes.values() if sc.kind == "block"), default=0)
    if nest == 0:
        return {"depth": None, **options}
    for d in range(nest + 1, 0, -1):
        if count_nodes(ir, depth=d, **options) <= SCREEN:
            return {"depth": d if d <= nest or _has_runs(ir, options) else None, **options}
    return {"depth": 1, **options}


def _has_runs(ir: IR, options: dict) -> bool:
    least = 2 if options.get("repeats") else options.get("fold")
    return bool(least and block_runs(ir, least, vary=True))


def count_nodes(ir: IR, **options) -> int:
    """How many nodes ``to_dot(ir, **options)`` draws (without writing the text)."""
    least = 2 if options.get("repeats") else options.get("fold", FOLD_BLOCKS)
    runs = block_runs(ir, least, vary=True) if least is not None else []
    only = find_block(ir, options["block"]) if options.get("block") else None
    g = _units(ir, options.get("depth"), options.get("repeats", False), [], runs, only)
    return len(g.units)


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


def _noop(n: Node) -> bool:
    """A layer that passes its input through unchanged: identity, dropout(0), drop-path(0)."""
    if n.kind == "identity":
        return True
    return getattr(n.layer_kind, "family", None) == "drop" and getattr(n.params, "p", None) == 0


def _units(ir: IR, depth: int | None, repeats: bool, ghosts: list[Node], runs: list[list[str]] = (),
           only: str | None = None, keep: set = frozenset()) -> _Graph:
    g = _Graph(only=only)
    if only and depth is not None:
        depth += sum(1 for k in range(1, only.count("/") + 2)
                     if ir.scopes.get("/".join(only.split("/")[:k]), None) is not None
                     and ir.scopes["/".join(only.split("/")[:k])].kind == "block")
    names = sorted(ir.scopes)
    later = {sc for run in runs for sc in run[1:]}
    runs = [r for r in runs if not any("/".join(r[0].split("/")[:k]) in later for k in range(1, r[0].count("/") + 1))]
    first_of: dict[str, tuple[str, int]] = {}
    for run in runs:
        g.runs[run[0]] = len(run)
        g.run_of[run[0]] = run
        for i, sc in enumerate(run):
            first_of[sc] = (run[0], i)
            for n in ir.scope_nodes(sc):
                g.instance.setdefault(n.name, {})[run[0]] = i
            if i:
                lo = bisect_left(names, sc + "/")
                hi = bisect_left(names, sc + "0")        # "0" follows "/": the names under sc
                for t in [sc] + names[lo:hi]:
                    g.scope_var.setdefault(run[0] + t[len(sc):], []).append(t)
    by_place = {place: sc for sc, place in first_of.items()}
    twin_of: dict[str, str] = {}
    for n in ir.nodes():
        later_in = [r for r, i in g.instance.get(n.name, {}).items() if i > 0]
        if later_in:
            run = min(later_in, key=len)           # the outermost run it is a later instance of
            inst = by_place[(run, g.instance[n.name][run])]
            twin_of[n.name] = run + n.name[len(inst):]
    for name, twin in twin_of.items():
        root = twin
        while root in twin_of:
            root = twin_of[root]
        g.variants.setdefault(root, []).append(ir.node(name))
    pre = only + "/" if only else ""
    folded: list[Node] = []
    for n in ir.nodes():
        if only and not n.name.startswith(pre):
            continue
        if n.name in twin_of:
            folded.append(n)        # drawn by the first instance of its run
            continue
        clusters, block = _place(ir, n, depth)
        if only:
            clusters = tuple(c for c in clusters if c.startswith(pre))
        if depth is None and n.name in g.instance:     # a folded run is one box unless --depth opens it
            run = min(g.instance[n.name], key=len)
            clusters = tuple(c for c in clusters if not (c == run or c.startswith(run + "/")))
            block = run
        preds = ir.preds(n.name)
        if (block is None and n.name not in keep and len(preds) == 1 and _noop(n)
                and all(_noop(v) for v in g.variants.get(n.name, ()))):
            g.elided[n.name] = preds[0]
            continue
        uid = block or n.name
        if uid not in g.units:
            g.units[uid] = Unit(uid, [], clusters, block)
        g.units[uid].members.append(n)
        g.rep[n.name] = uid
    for n in folded:                 # the same layer of the first instance
        twin = twin_of[n.name]
        if g.resolve(twin) != twin:
            g.elided[n.name] = ir.preds(n.name)[0]
        else:
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
                or [g.resolve(p) for p in ir.preds(cur.first.name)] != [prev.last.name]
                or len(list(ir.g.successors(prev.last.name))) != 1):
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
        heads = []
        for u in units:
            ps = [g.resolve(p) for p in ir.preds(u.first.name)] if not u.ghost else []
            if ps and all(not p.startswith(pre) for p in ps):
                heads.append((u, ps))
        feeds = {g.rep.get(p, IN) for _, ps in heads for p in ps}
        if len(heads) > 1 and len(feeds) == 1:
            g.entries[sc] = [u.id for u, _ in heads]


def _entry_id(scope: str) -> str:
    return f"{scope}/#in"


#: the detail panel's ends (``block=``): where the block's input comes from and its output goes
IN, OUT = "#in", "#out"


def _edges(ir: IR, g: _Graph, ghost_edges: list[tuple[str, str]]) -> None:
    seen: set[tuple[str, str]] = set()
    heads = {h: sc for sc, hs in g.entries.items() for h in hs}
    for n in ir.nodes():
        if n.name not in g.rep:
            continue          # not drawn: a no-op layer, or outside the block drawn
        for p0 in ir.preds(n.name):
            p = g.resolve(p0)
            a, b = g.instance.get(p, {}), g.instance.get(n.name, {})
            if any(r in a and a[r] != i for r, i in b.items()):
                continue      # one instance of a folded run feeding the next: drawn once, as the run
            if any(i > 0 and r not in a for r, i in b.items()):
                continue      # a later instance's input from outside the run (a skip): its first's stands
            if any(r not in b and i < g.runs[r] - 1 for r, i in a.items()):
                continue      # only the last instance's output leaves the run
            u, v = g.rep.get(p, IN), g.rep[n.name]
            if u == IN:
                g.ports[IN] = ir.node(p0)
            if v in heads and not p.startswith(heads[v] + "/"):
                entry = _entry_id(heads[v])
                if (u, entry) not in seen:
                    seen.add((u, entry))
                    g.edges.append((u, entry, dict(ir.g.edge(p0, n.name), arrowhead="none")))
                u = entry
            if u == v or (u, v) in seen:
                continue
            seen.add((u, v))
            data = dict(ir.g.edge(p0, n.name)) if not u.endswith("/#in") else {}
            src, dst = ir.node(p), n
            if data.get("port", 0) >= 1 and dst.layer_kind is not None and dst.layer_kind.layer_refs:
                data["size_only"] = True      # upsample(like=NAME): only NAME's size is read
            if dst.aux is not None and src.aux != dst.aux:
                head = next(a for a in ir.aux if a.name == dst.aux)
                data["aux_weight"] = head.weight
            g.edges.append((u, v, data))
    if g.only:
        out = g.resolve(ir.scopes[g.only].output)
        if out in g.rep:
            g.ports[OUT] = ir.node(ir.scopes[g.only].output)
            o = ir.node(ir.scopes[g.only].output)
            g.edges.append((g.rep[out], OUT, {"shape": o.shape, "sym_shape": o.sym_shape}))
    for u, v in ghost_edges:
        uu = "ghost:" + u if "ghost:" + u in g.units else g.rep.get(g.resolve(u), u)
        vv = "ghost:" + v if "ghost:" + v in g.units else g.rep.get(g.resolve(v), v)
        g.edges.append((uu, vv, {"ghost": True}))


# ------------------------------------------------------------------ layout
@dataclass
class _Plan:
    """How the units are placed: rows of one rank each, edges drawn upwards, edges that do not rank."""
    kind: str = "column"
    rows: list[list[str]] = field(default_factory=list)
    flip: set = field(default_factory=set)
    loose: set = field(default_factory=set)
    groups: dict[str, str] = field(default_factory=dict)     # unit -> its column (group=)
    gaps: dict[str, str] = field(default_factory=dict)       # a row's first unit -> the next row's, a rank apart


#: a chain of at least this many top-level layers (no stages) is wrapped into rows at its pooling layers
ROWS_FROM = 12
#: at most this many boxes in a row
ROW_MAX = 7


def _plan(ir: IR, g: _Graph, layout: str) -> _Plan:
    if layout == "column":
        return _Plan()
    order = [u for u in g.units.values() if not u.ghost and u.first.aux is None
             and not any(ir.scopes[c].kind == "aux" for c in u.clusters)]
    if layout in ("u", "auto"):
        plan = _u_plan(ir, g, order)
        if plan is not None or layout == "u":
            return plan or _Plan()
    rows = _rows(ir, g, order)
    if not rows:
        return _Plan()
    plan = _Plan("rows", rows=rows)
    ends = {(a[-1], b[0]) for a, b in zip(rows, rows[1:])}
    plan.loose = {(u, v) for u, v, _ in g.edges if (u, v) in ends}
    for r in rows:
        plan.groups[r[0]] = "start"
    in_rows = {x for r in rows for x in r}
    for a, b in zip(rows, rows[1:]):     # side outputs hanging off a row get a rank of their own below it
        if any(u in a and v not in in_rows for u, v, _ in g.edges):
            plan.gaps[a[0]] = b[0]
    return plan


def _succ(g: _Graph) -> tuple[dict, dict]:
    out: dict[str, list[str]] = {}
    inn: dict[str, list[str]] = {}
    for u, v, _ in g.edges:
        if u in g.units and v in g.units:
            out.setdefault(u, []).append(v)
            inn.setdefault(v, []).append(u)
    return out, inn


def _rows(ir: IR, g: _Graph, order: list[Unit]) -> list[list[str]] | None:
    """The top-level stages stacked, each a row (the layers before a stage join its row); a plain
    chain of layers wrapped after its pooling layers. None where a row would not be a chain."""
    items: list[tuple[str | None, list[str]]] = []       # (top-level cluster or None, its units)
    for u in order:
        key = u.clusters[0] if u.clusters else None
        if items and key is not None and items[-1][0] == key:
            items[-1][1].append(u.id)
        else:
            items.append((key, [u.id]))
    rows: list[list[str]] = []
    if any(key is not None for key, _ in items):
        pending: list[str] = []
        for key, ids in items:
            if key is not None:
                rows.append(pending + ids)
                pending = []
            else:
                pending += ids
        if pending:
            if rows and len(pending) <= 2:
                rows[-1] += pending
            else:
                rows.append(pending)
    else:
        if len(items) < ROWS_FROM:
            return None
        row: list[str] = []
        for _, ids in items:
            unit = g.units[ids[-1]]
            pool = getattr(unit.first.layer_kind, "family", None) == "pool"
            if row and not pool and len(row) >= 2 and _downsamples(ir, g, unit):
                rows.append(row)          # a strided block starts its stage's row
                row = []
            row += ids
            if (pool and len(row) >= 2) or len(row) >= ROW_MAX:
                rows.append(row)          # a pooling layer ends its stage's row
                row = []
        if row:
            if rows and len(row) <= 3 and len(rows[-1]) + len(row) <= ROW_MAX:
                rows[-1] += row
            else:
                rows.append(row)
    out, inn = _succ(g)
    for r in rows:                  # each row a chain: one edge in and one out within it
        inside = set(r)
        if any(len([v for v in out.get(x, []) if v in inside]) > 1 or
               len([v for v in inn.get(x, []) if v in inside]) > 1 for x in r):
            return None
        if sum(1 for x in r for v in out.get(x, []) if v in inside) != len(r) - 1:
            return None
    return rows if len(rows) > 1 else None


def _downsamples(ir: IR, g: _Graph, unit: Unit) -> bool:
    """The unit's output map is smaller than its input (a strided convolution or block)."""
    first = ir.node(ir.scopes[unit.block].input) if unit.block and ir.scopes[unit.block].input else None
    if first is None:
        preds = ir.preds(unit.first.name)
        first = ir.node(preds[0]) if preds else None
    a, b = (first.type if first else None), _out_shape(ir, unit)
    if a is None or b is None or getattr(a, "layout", None) != "map" or getattr(b, "layout", None) != "map":
        return False
    return isinstance(a[1], int) and isinstance(b[1], int) and b[1] < a[1]


def _u_plan(ir: IR, g: _Graph, order: list[Unit]) -> _Plan | None:
    """An encoder-decoder whose skips pair its levels (U-Net): skip k leaves the encoder's level k
    and joins the decoder's, the last skip out the first one in. Encoder down the left, the bottom
    level across, the decoder up the right, each skip level."""
    loose = [u.id for u in order if not u.clusters]
    if len(loose) != len(order):
        return None
    idx = {uid: i for i, uid in enumerate(loose)}
    skips = sorted((idx[u], idx[v]) for u, v, _ in g.edges if u in idx and v in idx and idx[v] - idx[u] > 1)
    if len(skips) < 2:
        return None
    src = [s for s, _ in skips]
    dst = [t for _, t in skips]
    if (len(set(src)) != len(src) or dst != sorted(dst, reverse=True) or len(set(dst)) != len(dst)
            or max(src) >= min(dst)):
        return None
    plan = _Plan("u")
    k = len(skips)
    bottom = loose[src[-1] + 1:dst[-1]]
    chain = {(loose[i], loose[i + 1]) for i in range(len(loose) - 1)}
    if not all((u, v) in {(a, b) for a, b, _ in g.edges} for u, v in chain):
        return None
    for i in range(dst[-1], len(loose) - 1):            # the decoder goes up
        plan.flip.add((loose[i], loose[i + 1]))
    if bottom:
        plan.flip.add((bottom[-1], loose[dst[-1]]))
        plan.rows.append(bottom)
    for j in range(k):
        plan.rows.append([loose[src[j]], loose[dst[j]]])
    for uid in loose[:src[-1] + 1]:
        plan.groups[uid] = "down"
    for uid in loose[dst[-1]:]:
        plan.groups[uid] = "up"
    return plan


# ------------------------------------------------------------------ emitting
def _graph_attrs(ir: IR, rankdir: str, title: bool, marks: list[str] = (), g: _Graph | None = None,
                 only: str | None = None) -> list[str]:
    out = [f'    graph [rankdir={rankdir}, fontname="{P.FONT}", fontsize=12, nodesep=0.25, ranksep=0.3,'
           f' newrank=true, outputorder=edgesfirst];',
           f'    node [shape=box, style="filled,rounded", fontname="{P.FONT}", fontsize=11, height=0.3,'
           f' margin="0.12,0.04", penwidth=1.2];',
           f'    edge [color="{P.EDGE}", arrowsize=0.6, fontname="{P.FONT}", fontsize=9,'
           f' fontcolor="{P.MUTED}"];']
    if title:
        head = _detail_title(ir, g, only) if only else _title(ir)
        out.append(f'    labelloc=t; label={_html(head + _legend(marks))};')
    if only and g is not None:
        for port, n in g.ports.items():
            shape = fmt_shape(n.type) if n.type is not None else ""
            word = "in" if port == IN else "out"
            out.append(f'    {_q(port)} [shape=plaintext, style="", label={_html(f"<i>{word}</i> {_esc(shape)}")},'
                       f' fontcolor="{P.MUTED}", fontsize=10];')
    return out


def _emit_outputs(ir: IR, g: _Graph) -> list[str]:
    """A network with several named outputs (``outputs a, b as KEY``): one box per output, styled
    like the input, fed by the layer it returns."""
    if not ir.outputs or g.only:
        return []
    out = []
    for key, name in ir.outputs.items():
        src = g.rep.get(g.resolve(name))
        if src is None:
            continue
        n, oid = ir.node(name), f"output:{key}"
        shape = fmt_shape(n.type) if n.type is not None else ""
        label = f"<b>output {_esc(key)}</b>" + (f'<br/><font color="{P.MUTED}">{_esc(shape)}</font>' if shape else "")
        out.append(f'    {_q(oid)} [shape=box, style="filled", fillcolor="{P.INPUT.fill}", color="{P.INPUT.border}",'
                   f' label={_html(label)}];')
        g.edges.append((src, oid, {"shape": n.shape, "sym_shape": n.sym_shape}))
    return out


def _detail_title(ir: IR, g: _Graph, only: str) -> str:
    sc = ir.scopes[only]
    args = _args_lines(sc.args)
    file = os.path.basename(ir.filename)
    where = f"{ir.config} ({file}), {only}"
    times = next((len(r) for r in block_runs(ir, 2, vary=True) if only in r), 1)
    if times > 1:
        where += f": one of {times} in a row"
    lines = [f"<b>{_esc(sc.block or sc.name)}</b>"] + [_esc(a) for a in args] + [f'<font point-size="10">{_esc(where)}</font>']
    return "<br/>".join(lines) + "<br/> "


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


def _emit_tree(ir: IR, g: _Graph, shapes: bool, params: bool, hl: dict, plan: _Plan | None = None) -> list[str]:
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
    # a block inside another that holds one thing only (Swin's one pair of blocks in a stage) adds a
    # title and a frame and nothing else: its content is drawn in its parent's frame
    inline = {key for key, items in children.items()
              if len(key) > 1 and ir.scopes[key[-1]].kind == "block" and len(items) == 1
              and key[-1] not in g.runs and key[-1] not in g.entries}
    ctx = _Ctx(ir, g, children, single, inline, shapes, params, hl, plan or _Plan())
    return _emit_children(ctx, (), "    ")


@dataclass
class _Ctx:
    ir: IR
    g: _Graph
    children: dict
    single: set
    inline: set
    shapes: bool
    params: bool
    hl: dict
    plan: _Plan


def _emit_children(c: _Ctx, key, pad) -> list[str]:
    out = []
    for what, item in c.children[key]:
        if what == "unit":
            out.append(pad + _node_line(c.ir, item, c.shapes, c.params, c.hl, dashed=key in c.single, g=c.g,
                                        plan=c.plan))
        elif item in c.single or item in c.inline:
            out += _emit_children(c, item, pad)
        else:
            out.append(f"{pad}subgraph {_q('cluster_' + item[-1])} {{")
            out += [pad + "    " + a for a in _cluster_attrs(c.ir, item[-1], c.g)]
            if item[-1] in c.g.entries:
                group = ", group=main" if c.plan.kind == "column" else ""
                out.append(f"{pad}    {_q(_entry_id(item[-1]))} [shape=point, width=0.05, color=\"{P.EDGE}\"{group}];")
            out += _emit_children(c, item, pad + "    ")
            heads = [h for h in c.g.entries.get(item[-1], []) if h in [u.id for w, u in c.children[item] if w == "unit"]]
            if len(heads) > 1:
                out.append(pad + "    {rank=same; " + " ".join(_q(h) + ";" for h in heads) + "}")
            out.append(pad + "}")
    return out


def _cluster_attrs(ir: IR, name: str, g: _Graph | None = None) -> list[str]:
    sc = ir.scopes[name]
    if sc.kind == "aux":
        inner = next((s for s in ir.scopes.values() if s.kind == "block" and _same_extent(ir, name, s)), None)
        what = f" · {_esc(_clean(inner.label))}" if inner else ""
        return [f'label={_html(f"<b>{_esc(sc.name)}</b>{what}  <i>(training only)</i>")};',
                f'style="dashed,rounded"; color="{P.AUX_BORDER}"; fontsize=10; labeljust=l;']
    times = g.runs.get(name, 1) if g else 1
    return [f'label={_html(_block_title(sc, times, _arg_values(ir, g, name) if g else None))};',
            f'style="filled,rounded"; fillcolor="{P.CLUSTER_FILL}"; color="{P.CLUSTER_BORDER}";'
            f' fontsize=10; labeljust=l; labelloc=t;']


def scope_title(sc) -> str:
    """``inception (3a)``; ``encoder``, not ``encoder (encoder)``, where the instance is named after its block."""
    title = sc.title
    word = sc.block or sc.kind
    return word if title == f"{word} ({word})" else title


def _block_title(sc, times: int = 1, values: dict | None = None) -> str:
    args = _args_lines(values or sc.args)
    head = f"<b>{_esc(sc.block if times > 1 else scope_title(sc))}</b>" + (f" ×{times}" if times > 1 else "")
    body = "".join(f'<br align="left"/><font color="{P.MUTED}">{_esc(a)}</font>' for a in args)
    return head + body + '<br align="left"/>'


def _arg_values(ir: IR, g: _Graph, name: str) -> dict:
    """The arguments of a drawn block: each a value, or for a folded run whose instances differ,
    the list of its values in order (the instances the first one stands for, at every level)."""
    seen, todo, scopes = set(), [name], []
    while todo:
        x = todo.pop(0)
        if x in seen:
            continue
        seen.add(x)
        scopes.append(x)
        todo += g.run_of.get(x, [])[1:] + g.scope_var.get(x, [])
    args = ir.scopes[name].args
    out = {}
    for k, v in args.items():
        vals = [ir.scopes[x].args.get(k, v) for x in scopes if x in ir.scopes]
        out[k] = vals if any(w != v for w in vals) else v
    return out


def _args_lines(args: dict, width: int = 34) -> list[str]:
    """The arguments with their names, wrapped: ``n1=64, r3=96, n3=128`` / ``r5=16, n5=32, pp=32``; a
    varying one as its range, ``p=0–0.0182``."""
    parts = [f"{k}={_fmt_value(v)}" for k, v in args.items()]
    if not parts:
        return []
    n = -(-len(", ".join(parts)) // width)          # as many lines as the width asks, evenly filled
    per = -(-len(parts) // n)
    return [", ".join(parts[i:i + per]) for i in range(0, len(parts), per)]


def _args_text(args: dict) -> str:
    return ", ".join(_args_lines(args))


def _fmt_value(v) -> str:
    if isinstance(v, list):
        vals = list(dict.fromkeys(_fmt_arg(x) for x in v))
        nums = [x for x in v if isinstance(x, (int, float)) and not isinstance(x, bool)]
        if len(nums) == len(v) and (len(vals) > 2 or any(isinstance(x, float) for x in nums)):
            return f"{_fmt_arg(min(nums))}–{_fmt_arg(max(nums))}"
        return "/".join(vals)
    return _fmt_arg(v)


def _fmt_arg(v) -> str:
    """An argument as the language writes it: ``true``, ``none``, 0.0182 (three significant digits)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "none"
    if isinstance(v, float):
        return _num(v)
    return _clean(str(v))


def _num(v: float) -> str:
    """Three significant digits, at most four decimals: 0.0182, 0.0059, 2e-05.

    >>> _num(0.018181818), _num(0.00588235), _num(0.2), _num(1e-6), _num(3072.0), _num(1234.5)
    ('0.0182', '0.0059', '0.2', '1e-06', '3072', '1234')
    """
    if v == 0:
        return "0"
    if abs(v) >= 1000 or (v == int(v) and abs(v) < 1e15):
        return f"{v:.0f}"
    s = f"{v:.3g}"
    if "e" not in s and len(s.split(".")[-1]) > 4 and "." in s:
        s = f"{round(v, 4):g}" if abs(v) >= 0.001 else f"{v:.2g}"
    return s


_LONG = re.compile(r"(?<![\w.])\d+\.\d{4,}(?:e-?\d+)?")
_REPR = {"True": "true", "False": "false", "None": "none"}
_WORD = re.compile(r"\b(True|False|None)\b")
_NUMBER = re.compile(r"(\d+(?:\.\d+)?(?:e-?\d+)?)")


def _clean(text: str) -> str:
    """Python's spellings out of a label: long decimals to three significant digits, ``True`` to
    ``true``, ``None`` to ``none``.

    >>> _clean("drop-path(0.0181818)"), _clean("conv3-64(bias=False)")
    ('drop-path(0.0182)', 'conv3-64(bias=false)')
    """
    text = _LONG.sub(lambda m: _num(float(m.group())), text)
    return _WORD.sub(lambda m: _REPR[m.group()], text)


def merge_papers(papers: list[str]) -> str:
    """One label for the same layer across the instances of a folded run: numbers that change
    become their range (``drop-path(0–0.164)``); words that change are listed
    (``W-MSA(3) / SW-MSA(3)``).

    >>> merge_papers(["drop-path(0)", "drop-path(0.0364)", "drop-path(0.0727)"])
    'drop-path(0–0.0727)'
    >>> merge_papers(["W-MSA(3)", "SW-MSA(3)", "W-MSA(3)"])
    'W-MSA(3) / SW-MSA(3)'
    """
    papers = [_clean(p) for p in papers]
    unique = list(dict.fromkeys(papers))
    if len(unique) == 1:
        return unique[0]
    split = [_NUMBER.split(p) for p in papers]
    if all(len(s) == len(split[0]) and s[0::2] == split[0][0::2] for s in split):
        out = []
        for i, part in enumerate(split[0]):
            if i % 2 == 0:
                out.append(part)
                continue
            vals = [float(s[i]) for s in split]
            out.append(part if len(set(vals)) == 1 else f"{_num(min(vals))}–{_num(max(vals))}")
        return "".join(out)
    return " / ".join(unique)


def _node_line(ir: IR, unit: Unit, shapes: bool, params: bool, hl: dict, dashed: bool = False,
               g: _Graph | None = None, plan: _Plan | None = None) -> str:
    style = _unit_style(unit, hl)
    times = g.runs.get(unit.block, 1) if unit.block and g else 1
    lines = _label_lines(ir, unit, shapes, params, times, g)
    attrs = {"label": _html("<br/>".join(lines)), "fillcolor": style.fill, "color": style.border}
    if unit.block:
        attrs["penwidth"] = "1.8"
    kind = plan.kind if plan else "column"
    if kind == "column":
        if not unit.ghost and unit.first.aux is None and (not unit.clusters or _is_spine(ir, unit)):
            attrs["group"] = "main"   # keeps the main path a straight column
    elif plan and unit.id in plan.groups:
        attrs["group"] = plan.groups[unit.id]
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


def _paper(g: _Graph | None, n: Node) -> str:
    """The layer as the paper writes it; in a folded run, with the range of what changes."""
    variants = g.variants.get(n.name, ()) if g else ()
    return merge_papers([n.paper] + [v.paper for v in variants])


def _label_lines(ir: IR, unit: Unit, shapes: bool, params: bool, times: int = 1,
                 g: _Graph | None = None) -> list[str]:
    muted = f'<font point-size="9" color="{P.MUTED}">'
    if unit.block:
        sc = ir.scopes[unit.block]
        args = _args_lines(_arg_values(ir, g, unit.block) if g else sc.args)
        owner = _aux_owner(ir, sc)
        if times > 1:
            lines = [f"<b>{_esc(sc.block)}</b> ×{times}"]
        else:
            lines = [f"<b>{_esc(f'{sc.block} ({owner})' if owner else scope_title(sc))}</b>"]
        lines += [f"{muted}{_esc(a)}</font>" for a in args]
        if owner:
            lines.append(f"{muted}side output, training only</font>")
    elif unit.first.kind == "input":
        lines = ["<b>input</b>", f"{muted}{_esc(_input_text(ir))}</font>"]
    else:
        n = len(unit.members)
        paper = _paper(g, unit.first)
        lines = [f"<b>{_esc(paper)}</b>" + (f" ×{n}" if n > 1 else "")]
        first = unit.first.local if unit.clusters or (g and g.only) else unit.first.name
        name = first if n == 1 else f"{first} … {unit.last.local}"
        if name != unit.first.paper and name != paper:
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
    elif data.get("size_only"):
        attrs.update(style="dashed", arrowhead="odot", label="size")
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
