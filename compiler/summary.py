"""Per-layer summary rows of an IR and their formats (terminal, Markdown, CSV, JSON).

``rows(ir, depth=N)`` aggregates every block instance nested at depth N or deeper into one row
(at depth 1 GoogLeNet's rows are the rows of its Table 1). ``tree(ir, depth)`` is what the terminal
and Markdown tables show: each block a heading row with its totals, its layers under it named
relative to it; ``default_depth(ir)`` the deepest level that fits on a screen (``SCREEN`` rows).
``totals(ir, batch)`` counts trainable and frozen parameters and the memory of parameters and
activations (float32).
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

from netc import jsonout
from netc.types import dims
from netc.ir import IR, Node

CONVENTIONS = {
    "params": "learnable values of the compiled module: weights, biases, batch-norm gamma and beta",
    "params_inference": "params without the side outputs (auxiliary heads), which inference drops",
    "macs": "multiply-accumulates of one inference pass, conv and FC only: "
            "conv = Hout*Wout*Cout*k*k*Cin/groups, FC = in*out (bias adds, activations, "
            "normalisation and pooling are not counted; FLOPs ~ 2 x MACs)",
    "rf": "[size, stride]: receptive field of one output unit on the input, and the cumulative stride "
          "(a decimal number where an upsampling makes it a fraction: 4/3 is 1.3333333333333333)",
    "out_shape": "[C, H, W] (or [features]): a size that depends on an input written HxW is its formula, "
                 "a string such as \"H/16\"",
    "memory": "float32 (4 bytes a value): parameter memory = (trainable + frozen parameters + buffers) x 4; "
              "activation memory = batch x (input + every layer's output, side outputs included) x 4, "
              "what a training step keeps for the backward pass (in MB, 10^6 bytes)",
    "frozen": "parameters that are not trained (none unless a layer is frozen); buffers: batch-norm "
              "running statistics (2 per channel), and frozen batch norm's statistics and affine (4 per channel, "
              "frozen_bn_buffers; torchvision's FrozenBatchNorm2d), saved with the weights but not trained",
}

#: rows a terminal shows at once: a summary longer than this at full depth shows its blocks instead
SCREEN = 40
BYTES = 4     # float32


@dataclass
class Row:
    name: str
    kind: str
    layer: str                 # as the paper writes it
    shape: tuple | None
    params: int
    macs: int | None
    rf: tuple[int, int] | None
    aux: str | None = None
    depth: int = 0             # nesting depth of the row (0: top level)
    block: bool = False        # an aggregated block instance
    line: int = 0

    def to_json(self) -> dict:
        return {"name": self.name, "kind": self.kind, "layer": self.layer,
                "out_shape": _json_shape(self.shape), "params": self.params, "macs": self.macs,
                "rf": list(self.rf) if self.rf else None, "aux": self.aux, "line": self.line}


def _json_shape(shape):
    if shape is None:
        return None
    return [d if isinstance(d, int) else str(d) for d in shape]


def _shape(n: Node):
    return n.shape if n.shape is not None else n.sym_shape


def layer_text(ir: IR, n: Node) -> str:
    """The type column: the layer as the paper writes it, and for a ``residual { }`` whether this
    instance adds its shortcut (``residual + shortcut``, ``residual (no shortcut: 16x56x56 -> 24x28x28)``:
    the input's shape, then the body's)."""
    if "shortcut" not in n.meta:        # set by the residual join's shape rule
        return n.paper
    if n.meta["shortcut"]:
        return f"{n.paper} + shortcut"
    preds = ir.preds(n.name)
    shapes = [_shape(ir.node(p)) for p in preds]
    if len(shapes) == 2 and None not in shapes:
        return f"{n.paper} (no shortcut: {dims.fmt_shape(shapes[1])} -> {dims.fmt_shape(shapes[0])})"
    return f"{n.paper} (no shortcut)"


def residuals(ir: IR) -> tuple[list[Node], list[Node]]:
    """The ``residual { }`` instances that add their shortcut, and those that leave it out
    (:meth:`netc.ir.IR.residuals`)."""
    return ir.residuals()


def residual_line(ir: IR, names: int = 4) -> str | None:
    """``residual: 10 of 17 add their shortcut; 7 leave it out (bottleneck_2/..., ...)``; None without residuals."""
    added, left = residuals(ir)
    if not added and not left:
        return None
    total = len(added) + len(left)
    line = f"residual: {len(added)} of {total} add their shortcut"
    if left:
        shown = ", ".join(_instance(n) for n in left[:names]) + (f", ... {len(left) - names} more"
                                                                  if len(left) > names else "")
        line += f"; {len(left)} leave{'s' * (len(left) == 1)} it out (shapes differ: {shown})"
    return line


def _instance(n: Node) -> str:
    """The block instance a residual sits in (its own name when it is not the block's only residual)."""
    return n.name.rsplit("/", 1)[0] if "/" in n.name and n.local.startswith("residual") else n.name


def rows(ir: IR, depth: int | None = None) -> list[Row]:
    """One row per layer (input excluded); with ``depth``, scopes at that depth collapse."""
    out: list[Row] = []
    done: set[str] = set()
    for n in ir.layers():
        scope = n.scope
        if depth is not None and len(scope) >= depth >= 1 and "/".join(scope[:depth]) in ir.scopes:
            key = "/".join(scope[:depth])
            if key in done:
                continue
            done.add(key)
            out.append(_scope_row(ir, key, depth))
            continue
        out.append(Row(n.name, n.kind, layer_text(ir, n), _shape(n), n.n_params, n.macs, n.rf, n.aux, len(scope),
                       line=n.span.line))
    return out


def _scope_row(ir: IR, key: str, depth: int) -> Row:
    sc = ir.scopes[key]
    members = ir.scope_nodes(key)
    out = ir.node(sc.output)
    macs = [m.macs for m in members]
    return Row(key, sc.block or sc.kind, sc.label, _shape(out), sum(m.n_params for m in members),
               None if any(v is None for v in macs) else sum(macs), out.rf, out.aux, depth - 1, block=True,
               line=sc.span.line)


def tree(ir: IR, depth: int | None = None) -> list[Row]:
    """The rows of the terminal table: every block instance above ``depth`` is a heading row (its
    totals) followed by its contents; a block at ``depth`` is one row; names are relative to the
    enclosing block (``conv1`` under ``bottleneck_1``) and ``Row.depth`` is the indentation level."""
    out: list[Row] = []
    open_: list[str] = []
    for n in ir.layers():
        chain = [key for key in ("/".join(n.scope[:k]) for k in range(1, len(n.scope) + 1)) if key in ir.scopes]
        if depth is not None:
            chain = chain[:depth]
        at = 0
        while at < len(open_) and at < len(chain) and open_[at] == chain[at]:
            at += 1
        del open_[at:]
        for key in chain[at:]:
            level = len(open_)
            out.append(_relative(_scope_row(ir, key, level + 1), open_, level))
            open_.append(key)
        if depth is not None and len(chain) == depth:      # inside a block shown as one row
            continue
        r = Row(n.name, n.kind, layer_text(ir, n), _shape(n), n.n_params, n.macs, n.rf, n.aux, len(open_), line=n.span.line)
        out.append(_relative(r, open_, len(open_)))
    return out


def _relative(r: Row, open_: list[str], level: int) -> Row:
    parent = open_[-1] if open_ else ""
    if parent and r.name.startswith(parent + "/"):
        r.name = r.name[len(parent) + 1:]
    r.depth = level
    return r


def max_depth(ir: IR) -> int:
    """How deep blocks nest (0: no blocks)."""
    return max((sum(1 for k in range(1, len(n.scope) + 1) if "/".join(n.scope[:k]) in ir.scopes)
                for n in ir.layers()), default=0)


def default_depth(ir: IR, screen: int = SCREEN) -> int | None:
    """The deepest ``depth`` whose table fits ``screen`` rows (None: everything fits); at least 1."""
    deepest = max_depth(ir)
    if len(tree(ir, None)) <= screen:
        return None
    for d in range(deepest, 0, -1):
        if len(tree(ir, d)) <= screen:
            return d
    return 1


def _numel(shape) -> int | None:
    if shape is None or not all(isinstance(d, int) for d in shape):
        return None
    return math.prod(shape)


def totals(ir: IR, batch: int = 1) -> dict:
    """Trainable and frozen parameters, buffers, and memory in bytes (float32) for ``batch`` inputs:
    activations are the input and every layer's output (None where a size is symbolic)."""
    frozen = sum(n.n_params for n in ir.layers()
                 if n.meta.get("frozen") or getattr(n.layer_kind, "frozen_params", False))
    by_kind = buffers_by_kind(ir)
    buffers = sum(by_kind.values())
    sizes = [_numel(_shape(n)) for n in ir.nodes()]
    act = None if None in sizes else batch * sum(sizes) * BYTES
    return {"trainable": ir.params - frozen, "frozen": frozen, "buffers": buffers,
            "frozen_bn_buffers": by_kind.get("frozen-bn", 0), "batch": batch,
            "param_bytes": (ir.params + buffers) * BYTES, "activation_bytes": act}


def buffers_by_kind(ir: IR) -> dict[str, int]:
    """Buffer values (:meth:`netc.kinds.base.Kind.count_buffers`) of each kind that keeps any:
    ``{"bn": 53120}`` for ResNet-50, ``{"frozen-bn": 106240}`` for its frozen-BN detection backbone."""
    out: dict[str, int] = {}
    for n in ir.layers():
        shape = _shape(n)
        if n.layer_kind is None or shape is None or not isinstance(shape[0], int):
            continue
        k = n.layer_kind.count_buffers(n.params, shape)
        if k:
            out[n.kind] = out.get(n.kind, 0) + k
    return out


#: what the buffers of a kind are, in the totals line
BUFFER_WORDS = {"bn": "batch-norm statistics", "frozen-bn": "frozen batch norm: statistics and affine"}


def language_model_costs(ir: IR) -> dict | None:
    """A language model's multiply-adds per token and for its context (:func:`netc.kinds.llm.context_costs`)."""
    from netc.kinds.llm import context_costs
    return context_costs(ir)


def mb(n: int | None) -> str:
    return "?" if n is None else f"{n / 1e6:,.2f} MB"


def to_dict(ir: IR, depth: int | None = None, batch: int = 1) -> dict:
    """The summary as plain JSON values (:func:`netc.jsonout.plain`: a fractional stride a number, a
    symbolic size its text)."""
    inp = ir.node("input")
    return jsonout.plain({
        "config": ir.config,
        "file": ir.filename,
        "input": _json_shape(_shape(inp)),
        "output": _json_shape(ir.output_shape),
        "outputs": [{"key": k, "layer": n, "shape": _json_shape(ir.node(n).type)} for k, n in ir.output_nodes.items()],
        "params": ir.params,
        "params_inference": ir.params_inference,
        "macs": ir.macs,
        "macs_train": ir.macs_train,
        "weight_layers": ir.depth,
        "any_size": ir.any_size,
        "min_input": list(ir.min_input) if ir.min_input else None,
        "min_input_train": list(ir.min_input_train) if ir.min_input_train else None,
        "aux": [{"name": a.name, "on": a.attach, "weight": a.weight} for a in ir.aux],
        "residuals": {"shortcut": [n.name for n in residuals(ir)[0]], "no_shortcut": [n.name for n in residuals(ir)[1]]},
        "conventions": CONVENTIONS,
        "layers": [r.to_json() for r in rows(ir, depth)],
        **{k: v for k, v in totals(ir, batch).items()},
        **({"tokens": language_model_costs(ir)} if ir.input_spec.tokens else {}),
    })


def to_json(irs: list[IR], depth: int | None = None, batch: int = 1) -> str:
    docs = [to_dict(ir, depth, batch) for ir in irs]
    return jsonout.dumps(docs[0] if len(docs) == 1 else docs, indent=2)


# ------------------------------------------------------------------ text formats
def human(n: int | None) -> str:
    """118.0M, 1.58G, 79.07T: decimal units, as the papers' "ops" columns."""
    if n is None:
        return "-"
    if n == 0:
        return "0"
    for unit, div in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}" if unit in "TG" else f"{n / div:.1f}{unit}"
    return str(n)


def fmt_rf(rf) -> str:
    return f"{rf[0]} / {rf[1]}" if rf else "-"


def _cells(r: Row) -> list[str]:
    macs = "?" if r.macs is None else "-" if r.macs == 0 else human(r.macs)
    return [r.name, r.layer, dims.fmt_shape(r.shape), f"{r.params:,}", macs, fmt_rf(r.rf)]


HEADER = ["layer", "type", "output", "params", "mult-adds", "receptive field"]


def to_text(ir: IR, depth: int | None = None, batch: int = 1, *, relative: bool = True) -> str:
    """The terminal table: blocks as headings with their layers indented under them, named relative
    to the block (``relative=False``: the flat list of full names), then totals and memory."""
    listing = tree(ir, depth) if relative else rows(ir, depth)

    def cells(r: Row) -> list[str]:
        c = _cells(r)
        if relative:
            c[0] = "  " * r.depth + c[0]
        return c

    main = [r for r in listing if r.aux is None]
    side = [r for r in listing if r.aux is not None]
    table = [HEADER] + [cells(r) for r in main]
    if side:
        table.append(["side outputs (training only)", "", "", "", "", ""])
        table += [cells(r) for r in side]
    aux_params = ir.params - ir.params_inference
    macs_aux = None if ir.macs_train is None or ir.macs is None else ir.macs_train - ir.macs
    several = len(ir.outputs) > 1
    table.append(["total (inference)", "", f"{len(ir.outputs)} outputs" if several else
                  dims.fmt_shape(ir.output_shape), f"{ir.params_inference:,}", human(ir.macs), ""])
    if ir.aux:
        table.append(["side outputs (training)", "", "", f"{aux_params:,}", human(macs_aux), ""])
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADER))]
    right = {3, 4}
    lines = [f"{ir.filename}:{ir.config}  input {dims.fmt_shape(_shape(ir.node('input')))}  "
             f"{ir.depth} weight layers"]
    for j, row in enumerate(table):
        cells_ = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(row)]
        lines.append(" " + "  ".join(cells_).rstrip())
        if j == 0 or (j == len(table) - (2 if ir.aux else 1) - 1):
            lines.append(" " + "  ".join("-" * w for w in widths))
    if ir.outputs:
        lines.append("outputs: " + ", ".join(f"{k} {dims.fmt_shape(ir.node(n).type)}" + (f" ({n})" if n != k else "")
                                             for k, n in ir.outputs.items()))
    t = totals(ir, batch)
    parts = [f"{v:,} {BUFFER_WORDS.get(k, k)}" for k, v in buffers_by_kind(ir).items()]
    what = parts[0].split(" ", 1)[1] if len(parts) == 1 else "; ".join(parts)
    frozen = f"{t['frozen']:,} frozen" + (f", {t['buffers']:,} buffers ({what})" if t["buffers"] else "")
    lines.append(f"params: {t['trainable']:,} trainable, {frozen}")
    lines.append(f"memory (float32): parameters {mb(t['param_bytes'])}, activations {mb(t['activation_bytes'])} "
                 f"for a batch of {batch}")
    tokens = language_model_costs(ir)
    if tokens is not None:
        lines.append(f"multiply-adds: {human(tokens['per_token'])} per token" + (
            f"; for a context of {tokens['context']:,} tokens {human(tokens['total'])}, of which attention's "
            f"quadratic part {human(tokens['attention_quadratic'])}" if tokens["context"] else
            "; netc summary --input N counts a context of N tokens, attention's quadratic part shown"))
    res = residual_line(ir)
    if res is not None:
        lines.append(res)
    if ir.min_input:
        lines.append(f"accepts any input of at least {ir.min_input[0]}x{ir.min_input[1]} "
                     f"(limited by {ir.min_input_layer[0]})")
        if ir.min_input_train and tuple(ir.min_input_train) != tuple(ir.min_input):
            lines.append(f"training (side outputs) needs at least {ir.min_input_train[0]}x{ir.min_input_train[1]} "
                         f"(limited by {ir.min_input_train_layer[0]})")
    if depth is not None and depth <= max_depth(ir):
        lines.append(f"blocks nested {depth} deep are one row each; --depth all lists every layer")
    return "\n".join(lines)


def to_markdown(ir: IR, depth: int | None = None) -> str:
    out = [f"**{ir.config}** ({ir.filename}), input {dims.fmt_shape(_shape(ir.node('input')))}", "",
           "| " + " | ".join(HEADER) + " |", "|" + "|".join(["---", "---", "---", "---:", "---:", "---"]) + "|"]
    for r in rows(ir, depth):
        c = _cells(r)
        c[0] = c[0].strip() + (f" (aux {r.aux})" if r.aux and not c[0].startswith(r.aux) else "")
        out.append("| " + " | ".join(x.replace("|", "\\|") for x in c) + " |")
    shown = ", ".join(f"{k}: {dims.fmt_shape(ir.node(n).type)}" for k, n in ir.outputs.items()) if ir.outputs \
        else dims.fmt_shape(ir.output_shape)
    out.append(f"| **total (inference)** | | {shown} | **{ir.params_inference:,}** | "
               f"**{human(ir.macs)}** | |")
    if ir.aux:
        out.append(f"| side outputs (training) | | | {ir.params - ir.params_inference:,} | | |")
    return "\n".join(out)


def to_csv(ir: IR, depth: int | None = None) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["config", "name", "kind", "layer", "out_shape", "params", "macs", "rf_size", "rf_stride", "aux"])
    for r in rows(ir, depth):
        w.writerow([ir.config, r.name, r.kind, r.layer, dims.fmt_shape(r.shape), r.params,
                    "" if r.macs is None else r.macs, r.rf[0] if r.rf else "", r.rf[1] if r.rf else "",
                    r.aux or ""])
    return buf.getvalue()
