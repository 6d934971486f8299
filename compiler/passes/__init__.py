"""The analyses of an IR, each a function run from one list (sqlglot's rule tuple; torch.fx's
passes writing ``node.meta``): activations, graph checks, types, the smallest input, costs and
receptive fields, the parameter budget. :func:`build` lowers a configuration and runs them all;
:func:`infer` re-runs the type and cost passes at another input size (``netc summary --input``,
dense evaluation). The IR module holds data only and imports none of this.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

from netc.dsl.errors import GraphError, LimitError
from netc.dsl.limits import LIMITS

from netc.ir import IR, Node
from netc.elaborate.items import Resolved
from netc.elaborate.bounds import check_cost
from netc.passes.lower import lower
from netc.passes.shapes import count_costs, find_min_input, infer_types



def build(resolved: Resolved) -> IR:
    """Elaborated configuration -> IR with types, checks and costs: lower, then every pass.
    Errors that may follow from an error of elaboration or lowering (a `from` naming no layer reads
    the input instead) are left out (:func:`drop_follow_ons`)."""
    ir = lower(resolved)
    n = len(ir.errors)
    run(ir, PASSES)
    drop_follow_ons(ir, n, len(resolved.errors))
    return ir


def drop_follow_ons(ir: IR, n: int, elaborated: int | None = None) -> None:
    """Where elaboration or lowering reported errors (the first ``n`` of ``ir.errors``; the first
    ``elaborated`` of them elaboration's), the lines they could not read are missing from the graph,
    and what the later stages find from that place on follows from them: a name on such a line that
    `from` cannot find, shapes that no longer fit, layers that no longer reach the output. Those are
    not reported, so that no consequence is listed before its cause (errors are shown in the order of
    the text). What the later stages find in the text before the first elaboration error (where a
    block's error stands at its call) is kept; after a `from` that names no layer (it reads the input
    instead, and the join that holds it may come before it in the text), nothing is."""
    m = n if elaborated is None else elaborated
    res, low, later = ir.errors[:m], ir.errors[m:n], ir.errors[n:]
    if not res and not low:
        return
    main = ir.span.file if ir.span is not None else None

    def at(e):
        """The latest place in the configuration's file an error stands for: its span, or the call of
        the block it sits in (None: it stands in another file)."""
        spots = [s for s in [e.span, *(sp for _, sp in e.notes)] if s is not None and s.file == main and s.line]
        return max(((s.line, s.col) for s in spots), default=None)

    if res:
        starts = [at(e) for e in res]
        first = None if None in starts else min(starts)     # an error in an included file: keep nothing
        low = [e for e in low if first is not None and at(e) is not None and at(e) < first]
        later = [e for e in later if not isinstance(e, GraphError)
                 and first is not None and at(e) is not None and at(e) < first]
    if low:
        later = []
    ir.errors[m:] = low + later


def run(ir: IR, passes) -> IR:
    for p in passes:
        p(ir)
    return ir


def infer(ir: IR, input_hw: tuple[int, int] | None = None) -> IR:
    """Re-run the type and cost passes, at ``input_hw`` instead of the declared input size."""
    ir.input_hw = input_hw
    return run(ir, ANALYSES)


#: how the error of :func:`check_budget` says to move the limit (a caller's budget says otherwise)
_BUDGET_HINT: ContextVar[str] = ContextVar("budget_hint", default="raise netc.LIMITS['max_params'] if this is intended")


@contextmanager
def params_budget(budget: int | None):
    """Load specs under a caller's parameter budget (``netc.compile(..., budget=N)``, ``netc compile
    --budget N``) instead of ``LIMITS["max_params"]``; an error then says how to move that budget."""
    from netc.dsl.limits import call_limits
    token = _BUDGET_HINT.set("pass a larger budget=N (netc compile --budget N) to allow it")
    try:
        with call_limits({"max_params": budget}):
            yield
    finally:
        _BUDGET_HINT.reset(token)


def enforce_budget(ir: IR, budget: int | None) -> None:
    """A caller's own parameter budget (``netc.compile(..., budget=N)``): raise if ``ir`` is over it."""
    if budget is not None and ir.params > budget:
        raise LimitError(f"{ir.config or 'the network'} has {ir.params:,} parameters, more than the budget of "
                         f"{budget:,}", ir.span, hint="pass budget=N (netc compile --budget N) to allow it")


def check_budget(ir: IR) -> None:
    """More parameters than ``LIMITS["max_params"]`` is an error (an absurd width or repetition)."""
    limit = LIMITS.get("max_params")
    if limit is None or ir.params <= limit:
        return
    big = max(ir.layers(), key=lambda n: n.n_params)
    ir.errors.append(LimitError(
        f"'{ir.config}' has {ir.params:,} parameters, more than the limit of {int(limit):,}", big.span,
        hint=f"the largest layer is {big.name} ({big.n_params:,}); {_BUDGET_HINT.get()}"))


def resolve_activations(ir: IR) -> None:
    """``act=auto``: ReLU on hidden layers, none on the output layer (no weight layer after it).

    Where the writer spells the activation out, auto steps aside: a layer followed only by an
    activation layer (``conv3-64`` then ``relu``) gets none, and a layer followed only by a batch
    norm (``conv3-64`` then ``bn``, as ResNet is written) hands its ReLU to the batch norm, as
    ``conv(bn=true)`` does, unless an activation layer follows the batch norm too."""
    g = ir.g
    below: dict[str, bool] = {}
    for name in reversed(list(g)):      # lowering adds nodes in program order: a topological order
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
        if nxt.layer_kind is not None and nxt.layer_kind.activation_fn:
            acts[name] = "none"
        elif nxt.kind in ("bn", "frozen-bn") and "act" not in nxt.params.model_fields_set:
            acts[name] = "none"
            after = _only_next(ir, nxt.name)
            if after is None or after.layer_kind is None or not after.layer_kind.activation_fn:
                acts[nxt.name] = "relu"
    for name, act in acts.items():
        g.nodes[name]["node"].act = act


def _only_next(ir: IR, name: str) -> Node | None:
    """The one layer fed by ``name`` alone, if that is all it feeds."""
    succ = list(ir.g.successors(name))
    if len(succ) != 1 or len(ir.preds(succ[0])) != 1:
        return None
    return ir.g.nodes[succ[0]]["node"]


def check_graph(ir: IR) -> None:
    """A cycle, or a layer that does not reach an output, is an error."""
    g = ir.g
    ir.acyclic = g.is_acyclic()
    if not ir.acyclic:
        import networkx as nx       # only to name the cycle
        cyc = nx.find_cycle(g.to_networkx())
        n = g.nodes[cyc[0][0]]["node"]
        ir.errors.append(GraphError("the network has a cycle: " + " -> ".join(u for u, _ in cyc) + f" -> {cyc[0][0]}",
                                    n.span))
        return
    reach = g.reachable({*ir.output_nodes.values(), *(a.output for a in ir.aux)}, backwards=True)
    for name in g:
        if name not in reach and not ir.outputs_broken:
            n = g.nodes[name]["node"]
            ir.errors.append(GraphError(f"layer '{name}' does not reach any output", n.span,
                                        hint="remove it, list it under outputs, or attach it as a side output (aux)"))
    if "input" in g:
        seen = g.reachable(["input"])
        for name in g:
            if name not in seen:
                ir.errors.append(GraphError(f"layer '{name}' is unreachable from the input",
                                            g.nodes[name]["node"].span))



#: the analyses after lowering, in order
ANALYSES = (infer_types, find_min_input, count_costs)
PASSES = (resolve_activations, check_graph, *ANALYSES, check_cost)
