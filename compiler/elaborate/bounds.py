"""What a configuration will cost, decided from the syntax tree before anything is expanded.

``Sizer`` counts the IR nodes a statement expands to (every node: layers, a conv's batch norm,
``concat``/``add`` joins, the identity of an empty block) and how deeply blocks and branches nest
once expanded, once per block (memoised), so that ``max_layers`` and ``max_depth`` are refused in
milliseconds, whatever the nesting or repetition. Its count is a lower bound of the expansion
(a ``conv`` whose ``bn`` comes from a variable or a ``defaults`` line counts once, though it may
become two nodes), so it never refuses a spec the full expansion would accept.

``check_value`` is the one check of a value that reaches a layer from outside the parser
(``--set``, ``netc.load(..., name=value)``): finite, and an integer of at most 18 digits.
"""
from __future__ import annotations

import math

from netc.dsl import ast
from netc.dsl.errors import UsageError
from netc.dsl.limits import LIMITS, MAX_INT, set_by_caller



#: the longest name a layer, block instance or side output may have; with max_depth nesting
#: levels a full path stays within Graphviz's 16,384-character limit
MAX_NAME = 128


class Sizer:
    """Node counts and nesting depths of a program's statements, memoised per block."""

    def __init__(self, blocks: dict[str, ast.BlockDef]):
        self.blocks = blocks
        self.memo: dict[str, tuple[int, int]] = {}
        self.cap = (LIMITS.get("max_layers") or 0) + 1   # counts saturate here: no huge integers

    def stmt(self, s) -> tuple[int, int]:
        """(nodes, depth) of one statement of a configuration or block body."""
        return self._body([s], ())

    def depth(self, s) -> int:
        """How deeply one statement nests once expanded: ``stmt(s)[1]``, a chain of built-in layers
        (most statements) answered without the walk."""
        if type(s) is ast.Chain:
            depth = 0
            for layer in s.layers:
                if not isinstance(layer, ast.Ref) and layer.word in self.blocks:
                    depth = max(depth, self._word(layer, ())[1])
            return depth
        return self.stmt(s)[1]

    def layer(self, layer: ast.Layer) -> tuple[int, int]:
        """(nodes, depth) of one layer with its repetition."""
        n, d = self._word(layer, ())
        return min(n * _repeat(layer), self.cap), d

    # a block body is walked with an explicit stack (branches may nest 64 deep); only block
    # calls recurse, at most max_block_depth deep
    def _body(self, stmts: list, calling: tuple) -> tuple[int, int]:
        total, depth = 0, 0
        todo = [(stmts, 0)]
        while todo:
            items, level = todo.pop()
            for s in items:
                if isinstance(s, ast.Chain):
                    for layer in s.layers:
                        if isinstance(layer, ast.Ref):      # from NAME: no node of its own
                            continue
                        n, d = self._word(layer, calling)
                        total = min(total + n * _repeat(layer), self.cap)
                        depth = max(depth, level + d)
                elif isinstance(s, ast.Group):
                    total = min(total + 1, self.cap)
                    depth = max(depth, level + 1)
                    todo.extend((b, level + 1) for b in s.branches)
                elif isinstance(s, ast.If):
                    # one side is taken: count the smaller (a lower bound), nest as the deeper
                    a = self._body(s.then, calling)
                    b = self._body(s.orelse or [], calling)
                    total = min(total + min(a[0], b[0]), self.cap)
                    depth = max(depth, level + max(a[1], b[1]))
        return total, depth

    def _word(self, layer: ast.Layer, calling: tuple) -> tuple[int, int]:
        name = layer.word
        if name not in self.blocks:
            return (2 if _bn_literal(layer) else 1), 0
        if name in self.memo:
            return self.memo[name]
        if name in calling or len(calling) >= (LIMITS.get("max_block_depth") or 0):
            return 1, 1                       # a cycle or a chain too deep: the resolver says so
        n, d = self._body(self.blocks[name].body, (*calling, name))
        self.memo[name] = (max(n, 1), d + 1)  # an empty block is one identity node
        return self.memo[name]


def check_cost(ir) -> None:
    """The activation memory and multiply-adds of one image, beside the parameter budget: a spec
    over ``LIMITS["max_activation_bytes"]`` or ``LIMITS["max_macs"]`` is a located error before
    anything is allocated (``input 50000x50000`` would need 60 GB at its first layer)."""
    from netc.dsl.errors import LimitError
    from netc.passes import check_budget
    if not _sizes_fit(ir):
        return
    if set_by_caller("max_params") or not _bundled_model(ir):
        check_budget(ir)       # the default limit spares the bundled models (Llama 3 70B): counted, not allocated
    if ir.errors:              # over the parameter budget, or shapes that do not fit: said already
        return
    budget_b, budget_m = LIMITS.get("max_activation_bytes"), LIMITS.get("max_macs")
    nodes = [n for n in ir.nodes() if n.shape is not None]
    if budget_b is not None and nodes:
        sizes = [(math.prod(n.shape) * 4, n) for n in nodes]
        total = sum(s for s, _ in sizes)
        if total > budget_b:
            big, n = max(sizes, key=lambda t: t[0])
            ir.errors.append(LimitError(
                f"one {_image(ir)} image needs {_bytes(total)} of activations, more than the limit of "
                f"{_bytes(budget_b)}", n.span,
                hint=f"the largest is {n.name}'s output ({_bytes(big)}); use a smaller input, or raise "
                     "netc.LIMITS['max_activation_bytes'] (None: no limit) if this is intended"))
            return
    macs = ir.macs_train
    if budget_m is not None and macs is not None and macs > budget_m:
        n = max(ir.nodes(), key=lambda n: n.macs or 0)
        ir.errors.append(LimitError(
            f"one {_image(ir)} image needs {macs:,} multiply-adds, more than the limit of {int(budget_m):,}",
            n.span, hint=f"the largest layer is {n.name} ({n.macs:,}); raise netc.LIMITS['max_macs'] "
                         "(None: no limit) if this is intended"))


def _bundled_model(ir) -> bool:
    """A spec that ships with netc (specs/): its size is the paper's, not an absurd width; its count is
    arithmetic, and netc.compile still applies its own budget before allocating anything."""
    from pathlib import Path
    import netc.specs      # the package's own folder: no importlib.resources on every check
    try:
        return Path(str(ir.filename)).resolve().parent == Path(netc.specs.__file__).resolve().parent
    except (OSError, ValueError, TypeError):
        return False


def _sizes_fit(ir) -> bool:
    """No channel count or side beyond 2^64 (a concat block repeated 2,857 times has 3·4^2857
    channels): refused where it first happens, before any count is printed."""
    from netc.dsl.errors import LimitError
    for n in ir.nodes():
        shape = n.shape if n.shape is not None else n.sym_shape
        for i, d in enumerate(shape or ()):
            if isinstance(d, int) and d > 2 ** 64:
                what = "channels" if i == 0 and len(shape) == 3 else "features" if len(shape) == 1 else "pixels"
                ir.errors.append(LimitError(f"{n.name} has more than 2^64 {what}", n.span,
                                            hint="a width that grows with every repetition (concat of concats?)"))
                return False
    return True


def _image(ir) -> str:
    shape = ir.input_shape
    return "x".join(str(d) for d in shape[1:]) if len(shape) == 3 else "input"


def _bytes(n: float) -> str:
    for unit, size in (("TB", 10 ** 12), ("GB", 10 ** 9), ("MB", 10 ** 6)):
        if n >= size:
            return f"{n * 10 // size / 10:,.1f} {unit}"
    return f"{int(n):,} bytes"


#: the largest whole number a layer parameter may be: torch's pooling takes 32-bit sizes (a stride
#: of 10**18 passed every check and failed in forward)
MAX_PARAM = 2 ** 31 - 1


def nonfinite_fields(params) -> list[tuple[str, str]]:
    """The fields of a validated parameter model that hold infinity, NaN, or a whole number
    beyond ``MAX_PARAM``, each with what it must be. (Read from the model's ``__dict__``: this
    runs once per layer.)"""
    bad = []
    for name, v in params.__dict__.items():
        for x in (v if isinstance(v, (list, tuple)) else (v,)):
            t = type(x)
            if t is float and not math.isfinite(x):
                bad.append((name, "must be a finite number"))
                break
            if t is int and name != "out" and abs(x) > MAX_PARAM:   # widths: bounded by the parameter budget
                bad.append((name, f"must be at most {MAX_PARAM:,}"))
                break
    return bad


def bounded_rf(rf):
    """A receptive field beyond 2^64 pixels is no field of any image: None (printed '-'), so
    that 15,000 stride-2 layers do not make a 4,500-digit number."""
    if rf is None or max(rf) <= 2 ** 64:
        return rf
    return None


def _repeat(layer: ast.Layer) -> int:
    """The repetition written as a number; one counted by a variable (``x n``) may be 0: a lower bound."""
    return 0 if getattr(layer, "repeat_value", None) is not None else max(layer.repeat, 0)


def _bn_literal(layer: ast.Layer) -> bool:
    for a in layer.args or []:
        if a.name in ("bn", "batchnorm") and (isinstance(a.value, ast.Bool) and a.value.value or
                                              isinstance(a.value, ast.Ident) and a.value.name == "frozen"):
            return True
    return False


def check_value(name: str, value, where: str = "--set"):
    """A value from outside a spec: finite, and an integer of at most 18 digits (what the parser
    accepts in a spec). Lists are checked item by item."""
    if isinstance(value, (list, tuple)):
        for v in value:
            check_value(name, v, where)
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"{where} {name}={value}: not a finite number",
                         hint="infinity and NaN are not values a layer can take")
    if isinstance(value, int) and abs(value) > MAX_INT:
        raise UsageError(f"{where} {name}: a number larger than {MAX_INT:,}",
                         hint="no layer, size or count in a network is that large")
    return value
