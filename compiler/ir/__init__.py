"""The IR: one configuration as a directed graph of layer instances (``ir.graph``, a
``networkx.DiGraph``).

Nodes are keyed by their hierarchical name (``conv1_1``, ``4a/3x3_reduce``) and carry a
:class:`Node` under ``graph.nodes[name]["node"]``; edges carry the tensor shape that flows
along them (``graph.edges[u, v]["shape"]``) and, into a concat or add, their ``port``.
Node insertion order is program order, so ``ir.nodes()`` is a deterministic topological order.

The passes read and write the same storage through ``ir.g`` (:class:`netc.ir.graph.Graph`), which
keeps the nodes and edges without importing networkx; ``ir.graph`` builds a DiGraph of them on first use.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from netc.dsl.errors import NetcError, Span

from netc.kinds import DEFAULT, Kind
from netc.ir.graph import Graph
from netc.elaborate.items import InputSpec, Resolved


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
    spec: Any = None               # the Kind (netc.kinds) this node is an instance of
    meta: dict = field(default_factory=dict)   # what passes record beyond the fields above
    arg_spans: dict = field(default_factory=dict, repr=False)   # parameter -> where the spec writes it

    @property
    def local(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def layer_kind(self) -> Kind | None:
        return self.spec if self.spec is not None else DEFAULT.kinds.get(self.kind)

    @property
    def type(self):
        """The output's TensorType (at the nominal input, or symbolic)."""
        return self.shape if self.shape is not None else self.sym_shape

    @property
    def paper(self) -> str:
        """The layer as the paper writes it: conv3-64, maxpool, FC-4096."""
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
        self.registry = resolved.registry or DEFAULT
        self.config = resolved.name
        self.filename = resolved.filename
        self.span = resolved.span
        self.input_spec: InputSpec = resolved.input
        self.output_mode = resolved.output
        self.naming = resolved.naming
        self.vars = dict(resolved.vars)
        self.g = Graph(resolved.name)
        self.scopes: dict[str, Scope] = {}
        self.aux: list[AuxHead] = []
        self.output: str = "input"            # the (first) output node
        self.outputs: dict[str, str] = {}      # several named outputs (`outputs a, b as KEY`): key -> node
        self.outputs_broken = False            # an output named no layer (reported): reachability is moot
        self.outputs_span = None               # where `outputs` is written
        self.errors: list[NetcError] = list(resolved.errors)
        self.any_size = False                  # accepts inputs of any size >= min_input
        self.min_input: tuple[int, int] | None = None
        self.min_input_layer: tuple[str, str] | None = None   # (layer for H, layer for W)
        self.input_hw: tuple[int, int] | None = None         # the size the types are inferred at, if not the spec's
        # the same for a training pass, which also runs the side outputs (aux heads): at least min_input
        self.min_input_train: tuple[int, int] | None = None
        self.min_input_train_layer: tuple[str, str] | None = None

    # -------------------------------------------------------------- access
    @property
    def graph(self):
        """The graph as a ``networkx.DiGraph``, for networkx's algorithms: built from ``ir.g`` with
        networkx's public API on first use (networkx is imported then), made again after ``ir.g``
        changes. Edit the IR through ``ir.g``."""
        return self.g.to_networkx()

    def node(self, name: str) -> Node:
        return self.g.nodes[name]["node"]

    def nodes(self, aux: bool | None = None) -> list[Node]:
        """Nodes in program order; aux=False: main path only, aux=True: side outputs only."""
        out = [d["node"] for d in self.g.nodes.values()]
        if aux is None:
            return out
        return [n for n in out if (n.aux is not None) == aux]

    def layers(self, aux: bool | None = None) -> list[Node]:
        """Like nodes(), without the input node."""
        return [n for n in self.nodes(aux) if n.kind != "input"]

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes())

    def __len__(self) -> int:
        return len(self.g)

    def preds(self, name: str) -> list[str]:
        """Predecessors in port order."""
        pred = self.g.pred[name]
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

    @property
    def output_nodes(self) -> dict[str, str]:
        """Every output: key -> node. One network output is keyed by its node's name."""
        return dict(self.outputs) if self.outputs else {self.output: self.output}

    @property
    def output_shapes(self) -> dict[str, tuple | None]:
        """Each output's type (at the nominal input, or symbolic), by key."""
        return {k: self.node(n).type for k, n in self.output_nodes.items()}

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
        return max((best.get(n, 0) for n in self.output_nodes.values()), default=0)

    def residuals(self) -> tuple[list[Node], list[Node]]:
        """The ``residual { }`` instances that add their shortcut, and those that leave it out (the
        body's shape differs from the input's: MobileNetV2's strided or widening blocks, or a wrong
        channel count)."""
        added, left = [], []
        for n in self.layers():
            if "shortcut" in n.meta:
                (added if n.meta["shortcut"] else left).append(n)
        return added, left

    def scope_nodes(self, scope: str) -> list[Node]:
        """The nodes inside a block instance or side output (all levels), in program order; from an
        index built in one pass, so that asking for every scope stays linear."""
        idx = self.__dict__.get("_scope_index")
        if idx is None or idx[0] != len(self.g):
            by: dict[str, list[Node]] = {}
            for n in self.nodes():
                parts = n.name.split("/")
                for k in range(1, len(parts)):
                    by.setdefault("/".join(parts[:k]), []).append(n)
            idx = self.__dict__["_scope_index"] = (len(self.g), by)
        return list(idx[1].get(scope, ()))

    def _repr_html_(self) -> str:  # Jupyter: totals and the folded rows of the paper's table
        import html

        from netc import summary as S
        from netc.visualize import row_table
        t = S.totals(self)
        cells = [("parameters", f"{self.params:,}"), ("trainable / frozen", f"{t['trainable']:,} / {t['frozen']:,}"),
                 ("multiply-adds", S.human(self.macs)), ("weight layers", str(self.depth)),
                 ("output", str(self.output_shape)), ("parameter memory", S.mb(t["param_bytes"])),
                 ("activations (batch 1)", S.mb(t["activation_bytes"]))]
        head = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                       for k, v in cells)
        title = html.escape(f"{self.config} ({self.filename.rsplit('/', 1)[-1]})")
        return (f"<div class='netc-ir'><b>{title}</b><table>{head}</table>"
                f"{row_table(self).render('html')}</div>")

    def _repr_svg_(self):  # Jupyter
        from netc.visualize import to_svg
        return to_svg(self)

    def __repr__(self) -> str:
        return f"<IR {self.filename}:{self.config} {len(self)} nodes, {self.params:,} params>"
