"""The IR: one configuration as a ``networkx.DiGraph`` of layer instances.

Nodes are keyed by their hierarchical name (``conv1_1``, ``4a/3x3_reduce``) and carry a
:class:`Node` under ``graph.nodes[name]["node"]``; edges carry the tensor shape that flows
along them (``graph.edges[u, v]["shape"]``) and, into a concat or add, their ``port``.
Node insertion order is program order, so ``ir.nodes()`` is a deterministic topological order.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Iterator

import networkx as nx

from netc.dsl.errors import GraphError, LimitError, NetcError, Span, SpecError, did_you_mean
from netc.dsl.parser import LIMITS

from . import layers as L
from .items import AuxItem, BlockItem, GroupItem, InputSpec, LayerItem, Resolved

LIMITS.setdefault("max_params", 2_000_000_000)


@dataclass(eq=False)
class Node:
    name: str                      # full name: "4a/3x3_reduce"
    kind: str                      # "conv", "fc", ..., "input", "concat", "add"
    params: Any                    # pydantic parameters (None for input/concat/add)
    span: Span
    scope: tuple[str, ...] = ()    # enclosing block instances / aux head: ("4a",)
    aux: str | None = None         # the side output this node belongs to
    word: str = ""                 # as written in the spec
    act: str = "none"              # activation applied after the op, resolved
    shape: tuple | None = None     # output shape at the nominal (fixed) input
    sym_shape: tuple | None = None  # output shape for a symbolic H x W input
    n_params: int = 0
    macs: int | None = 0
    rf: tuple[int, int] | None = None
    explicit: bool = False         # the name was written by the user (`as NAME`), not generated

    @property
    def local(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def layer_kind(self) -> L.LayerKind | None:
        return L.KINDS.get(self.kind)

    @property
    def paper(self) -> str:
        """The layer as the paper writes it: conv3-64, maxpool, FC-4096."""
        if self.kind in ("concat", "add"):
            return self.kind
        if self.kind == "input":
            return "input"
        k = self.layer_kind
        return k.paper(self.params) if k else self.kind

    @property
    def is_weight(self) -> bool:
        k = self.layer_kind
        return bool(k and k.weight)


@dataclass
class Scope:
    """A block instance or a side output: a named group of nodes."""
    name: str                      # full name: "4a"
    kind: str                      # "block" | "aux"
    label: str                     # "inception(64, 96, 128, 16, 32, 32)"
    span: Span
    block: str | None = None
    args: dict = field(default_factory=dict)
    output: str | None = None      # the node whose output is the scope's output
    input: str | None = None       # the node feeding the scope
    explicit: bool = False         # the instance name was written by the user

    @property
    def title(self) -> str:
        """How the papers' tables name an instance: ``inception (3a)`` for ``inception(...) as
        inception_3a`` (or ``as 3a``), ``res (2)`` for the second ``res(...)``, ``aux (loss1)``."""
        word, local = self.block or self.kind, self.name.rsplit("/", 1)[-1]
        head, _, tail = local.rpartition("_")
        if head and tail and word.startswith(head):
            local = tail
        return f"{word} ({local})"


@dataclass
class AuxHead:
    name: str
    attach: str      # node the head reads from
    output: str      # last node of the head
    weight: float
    span: Span


class IR:
    """One configuration, built, shape-checked and costed."""

    def __init__(self, resolved: Resolved):
        self.config = resolved.name
        self.filename = resolved.filename
        self.span = resolved.span
        self.input_spec: InputSpec = resolved.input
        self.output_mode = resolved.output
        self.naming = resolved.naming
        self.vars = dict(resolved.vars)
        self.graph = nx.DiGraph(name=resolved.name)
        self.scopes: dict[str, Scope] = {}
        self.aux: list[AuxHead] = []
        self.output: str = "input"
        self.errors: list[NetcError] = list(resolved.errors)
        self.any_size = False                  # accepts inputs of any size >= min_input
        self.min_input: tuple[int, int] | None = None
        self.min_input_layer: tuple[str, str] | None = None   # (layer for H, layer for W)

    # -------------------------------------------------------------- access
    def node(self, name: str) -> Node:
        return self.graph.nodes[name]["node"]

    def nodes(self, aux: bool | None = None) -> list[Node]:
        """Nodes in program order; aux=False: main path only, aux=True: side outputs only."""
        out = [d["node"] for _, d in self.graph.nodes(data=True)]
        if aux is None:
            return out
        return [n for n in out if (n.aux is not None) == aux]

    def layers(self, aux: bool | None = None) -> list[Node]:
        """Like nodes(), without the input node."""
        return [n for n in self.nodes(aux) if n.kind != "input"]

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes())

    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    def preds(self, name: str) -> list[str]:
        """Predecessors in port order."""
        pred = self.graph.pred[name]
        if len(pred) <= 1:
            return list(pred)
        return sorted(pred, key=lambda u: pred[u].get("port", 0))

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def input_shape(self) -> tuple:
        return self.node("input").shape or self.node("input").sym_shape

    @property
    def output_shape(self) -> tuple | None:
        n = self.node(self.output)
        return n.shape if n.shape is not None else n.sym_shape

    # -------------------------------------------------------------- totals
    @property
    def params(self) -> int:
        """Every learnable parameter, side outputs included."""
        return sum(n.n_params for n in self.nodes())

    @property
    def params_inference(self) -> int:
        """Parameters left at inference (side outputs dropped)."""
        return sum(n.n_params for n in self.nodes(aux=False))

    @property
    def macs(self) -> int | None:
        """Multiply-adds of one inference pass (conv and FC only); None for a variable input."""
        vals = [n.macs for n in self.nodes(aux=False)]
        return None if any(v is None for v in vals) else sum(vals)

    @property
    def macs_train(self) -> int | None:
        vals = [n.macs for n in self.nodes()]
        return None if any(v is None for v in vals) else sum(vals)

    @property
    def depth(self) -> int:
        """Weight layers on the longest input-to-output path (VGG's "11 weight layers",
        GoogLeNet's "22 layers deep")."""
        best: dict[str, int] = {}
        for n in self.nodes(aux=False):
            before = max((best[p] for p in self.preds(n.name) if p in best), default=0)
            best[n.name] = before + (1 if n.is_weight else 0)
        return best.get(self.output, 0)

    def scope_nodes(self, scope: str) -> list[Node]:
        pre = scope + "/"
        return [n for n in self.nodes() if n.name.startswith(pre)]

    def _repr_svg_(self):  # Jupyter
        from netc.visualize import to_svg
        return to_svg(self)

    def __repr__(self) -> str:
        return f"<IR {self.filename}:{self.config} {len(self)} nodes, {self.params:,} params>"


# ------------------------------------------------------------------ building
def build(resolved: Resolved) -> IR:
    """Elaborated configuration -> IR with shapes, checks and costs."""
    ir = IR(resolved)
    b = _Builder(ir)
    inp = resolved.input
    ir.graph.add_node("input", node=Node("input", "input", None, inp.span or resolved.span))
    tail = b.seq(resolved.items, "input", ())
    ir.output = tail
    for a in resolved.aux:
        b.aux(a)
    _resolve_activations(ir)
    check_graph(ir)
    infer(ir)
    check_cost(ir)     # sizes beyond 2^64, then parameters, activation memory, multiply-adds
    return ir


#: how the error of :func:`check_budget` says to move the limit (a caller's budget says otherwise)
_BUDGET_HINT: ContextVar[str] = ContextVar("budget_hint", default="raise netc.LIMITS['max_params'] if this is intended")


@contextmanager
def params_budget(budget: int | None):
    """Load specs under a caller's parameter budget (``netc.compile(..., budget=N)``, ``netc compile
    --budget N``) instead of ``LIMITS["max_params"]``; an error then says how to move that budget."""
    old = LIMITS.get("max_params")
    LIMITS["max_params"] = budget
    token = _BUDGET_HINT.set("pass a larger budget=N (netc compile --budget N) to allow it")
    try:
        yield
    finally:
        LIMITS["max_params"] = old
        _BUDGET_HINT.reset(token)


def check_cost(ir: IR) -> None:
    from .limits import check_cost as _check
    _check(ir)


def check_budget(ir: IR) -> None:
    """More parameters than ``LIMITS["max_params"]`` is an error (an absurd width or repetition)."""
    limit = LIMITS.get("max_params")
    if limit is None or ir.params <= limit:
        return
    big = max(ir.layers(), key=lambda n: n.n_params)
    ir.errors.append(LimitError(
        f"'{ir.config}' has {ir.params:,} parameters, more than the limit of {int(limit):,}", big.span,
        hint=f"the largest layer is {big.name} ({big.n_params:,}); {_BUDGET_HINT.get()}"))


class _Builder:
    def __init__(self, ir: IR):
        self.ir = ir
        self.names: dict[str, str] = {}   # local reference (block instance name) -> output node

    def add(self, name: str, node: Node, preds: list[str]) -> str:
        g = self.ir.graph
        if name in g:
            self.ir.errors.append(SpecError(f"duplicate name '{name}'", node.span,
                                            hint=f"'{name}' is already used at {g.nodes[name]['node'].span}; "
                                                 "pick another with 'as NAME'"))
            i = 2
            while f"{name}_{i}" in g:
                i += 1
            name = node.name = f"{name}_{i}"
        g.add_node(name, node=node)
        for port, p in enumerate(preds):
            g.add_edge(p, name, port=port)
        return name

    def seq(self, items: list, tail: str, scope: tuple, aux: str | None = None) -> str:
        for it in items:
            tail = self.item(it, tail, scope, aux)
        return tail

    def item(self, it, tail: str, scope: tuple, aux: str | None) -> str:
        prefix = "/".join(scope)
        full = f"{prefix}/{it.local}" if prefix else it.local
        if isinstance(it, LayerItem):
            node = Node(full, it.kind.kind, it.params, it.span, scope, aux, it.word, explicit=it.name is not None)
            return self.add(full, node, [tail])
        if isinstance(it, BlockItem):
            out = self.seq(it.body, tail, (*scope, it.local), aux)
            if out == tail:   # an empty block passes its input through
                out = self.add(f"{full}/identity", Node(f"{full}/identity", "identity", L.NoParams(), it.span,
                                                        (*scope, it.local), aux, "identity"), [tail])
            self.ir.scopes[full] = Scope(full, "block", it.label, it.span, it.block, it.args, out, tail,
                                         explicit=it.name is not None)
            self.names.setdefault(it.local, out)
            self.names[full] = out
            return out
        if isinstance(it, GroupItem):
            ends = [self.seq(br, tail, scope, aux) for br in it.branches]
            node = Node(full, it.op, None, it.span, scope, aux, it.op, explicit=it.name is not None)
            return self.add(full, node, ends)
        raise TypeError(f"unknown item {it!r}")

    def aux(self, a: AuxItem):
        g = self.ir.graph
        target = self.names.get(a.target, a.target)
        if target not in g or g.nodes[target]["node"].aux is not None:
            cands = [n for n in g if g.nodes[n]["node"].aux is None] + list(self.names)
            self.ir.errors.append(SpecError(f"side output '{a.name}' is attached to '{a.target}', which is not a layer "
                                            "of this configuration", a.target_span, did_you_mean(a.target, cands)))
            return
        if a.name in g or a.name in self.ir.scopes:
            self.ir.errors.append(SpecError(f"duplicate name '{a.name}'", a.span))
            return
        out = self.seq(a.body, target, (a.name,), aux=a.name)
        self.ir.scopes[a.name] = Scope(a.name, "aux", f"aux {a.name} (weight {a.weight:g})", a.span,
                                       output=out, input=target)
        self.ir.aux.append(AuxHead(a.name, target, out, a.weight, a.span))


def _resolve_activations(ir: IR) -> None:
    """``act=auto``: ReLU on hidden layers, none on the output layer (no weight layer after it).

    Where the writer spells the activation out, auto steps aside: a layer followed only by an
    activation layer (``conv3-64`` then ``relu``) gets none, and a layer followed only by a batch
    norm (``conv3-64`` then ``bn``, as ResNet is written) hands its ReLU to the batch norm, as
    ``conv(bn=true)`` does, unless an activation layer follows the batch norm too."""
    g = ir.graph
    below: dict[str, bool] = {}
    for name in reversed(list(nx.topological_sort(g)) if nx.is_directed_acyclic_graph(g) else list(g)):
        n = g.nodes[name]["node"]
        succ = [s for s in g.successors(name) if g.nodes[s]["node"].aux == n.aux]
        below[name] = any(below.get(s, False) or g.nodes[s]["node"].is_weight for s in succ)
    acts: dict[str, str] = {}
    for name in g:
        n = g.nodes[name]["node"]
        if n.layer_kind is not None:
            acts[name] = n.layer_kind.activation(n.params)
    for name, act in list(acts.items()):
        if act != "auto":
            continue
        acts[name] = act = "relu" if below[name] else "none"
        nxt = _only_next(ir, name)
        if act == "none" or nxt is None:
            continue
        if isinstance(nxt.layer_kind, L.Act):
            acts[name] = "none"
        elif nxt.kind == "bn" and "act" not in nxt.params.model_fields_set:
            acts[name] = "none"
            after = _only_next(ir, nxt.name)
            if after is None or not isinstance(after.layer_kind, L.Act):
                acts[nxt.name] = "relu"
    for name, act in acts.items():
        g.nodes[name]["node"].act = act


def _only_next(ir: IR, name: str) -> Node | None:
    """The one layer fed by ``name`` alone, if that is all it feeds."""
    succ = list(ir.graph.successors(name))
    if len(succ) != 1 or len(ir.preds(succ[0])) != 1:
        return None
    return ir.graph.nodes[succ[0]]["node"]


def check_graph(ir: IR) -> None:
    """A cycle, or a layer that does not reach an output, is an error."""
    g = ir.graph
    if not nx.is_directed_acyclic_graph(g):
        cyc = nx.find_cycle(g)
        n = g.nodes[cyc[0][0]]["node"]
        ir.errors.append(GraphError("the network has a cycle: " + " -> ".join(u for u, _ in cyc) + f" -> {cyc[0][0]}",
                                    n.span))
        return
    outputs = {ir.output, *(a.output for a in ir.aux)}
    reach = set(outputs)
    for o in outputs:
        reach |= nx.ancestors(g, o)
    for name in g:
        if name not in reach:
            n = g.nodes[name]["node"]
            ir.errors.append(GraphError(f"layer '{name}' does not reach any output", n.span,
                                        hint="remove it, or attach it as a side output (aux)"))
    if "input" in g:
        seen = nx.descendants(g, "input") | {"input"}
        for name in g:
            if name not in seen:
                ir.errors.append(GraphError(f"layer '{name}' is unreachable from the input",
                                            g.nodes[name]["node"].span))


from .shapes import infer  # noqa: E402  (build() runs it; re-exported for callers)
