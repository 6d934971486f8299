"""Each stage made visible (``netc check --emit ast|ir|torch``): the syntax tree, the typed and
costed IR, and the generated torch code, as text for reading and for golden tests."""
from __future__ import annotations

import dataclasses

from netc.dsl import ast
from netc.dsl.errors import Span

from netc.types import dims
from netc.ir import IR


def emit_ast(module: ast.Module) -> str:
    """The syntax tree, one node per line, indented by depth; spans shown as line:col."""
    out: list[str] = []
    _ast_node(module, 0, out)
    return "\n".join(out) + "\n"


def _ast_node(x, depth: int, out: list[str], label: str = "") -> None:
    pad = "  " * depth + (f"{label}: " if label else "")
    if isinstance(x, list):
        if not x:
            out.append(pad + "[]")
        for item in x:
            _ast_node(item, depth, out, label)
        return
    if not dataclasses.is_dataclass(x):
        out.append(pad + repr(x))
        return
    fields = [(f.name, getattr(x, f.name)) for f in dataclasses.fields(x)
              if not isinstance(getattr(x, f.name), Span) and f.name not in ("comments", "text")]
    simple = [(k, v) for k, v in fields if v is not None and not _nested(v)]
    span = getattr(x, "span", None)
    where = f" @{span.line}:{span.col}" if isinstance(span, Span) else ""
    out.append(pad + type(x).__name__ + where + "".join(f" {k}={v!r}" for k, v in simple))
    for k, v in fields:
        if v is not None and _nested(v):
            _ast_node(v, depth + 1, out, k)


def _nested(v) -> bool:
    return dataclasses.is_dataclass(v) or (isinstance(v, list) and any(
        dataclasses.is_dataclass(i) or isinstance(i, list) for i in v))


def emit_ir(ir: IR) -> str:
    """One line per value, in program order: ``%name = notation(%inputs)  : layout dims`` with the
    activation, parameters, multiply-adds and receptive field the passes found."""
    lines = [f"# {ir.filename}:{ir.config}  {ir.params:,} params  "
             f"{'-' if ir.macs is None else f'{ir.macs:,}'} mult-adds"]
    for n in ir.nodes():
        t = n.type
        ty = f"{t.layout} {dims.fmt_shape(t)}" if t is not None else "?"
        args = ", ".join(f"%{p}" for p in ir.preds(n.name))
        op = "input" if n.kind == "input" else f"{n.paper}({args})"
        extra = []
        if n.act not in ("none", None):
            extra.append(f"act={n.act}")
        if n.n_params:
            extra.append(f"params={n.n_params:,}")
        if n.macs:
            extra.append(f"macs={n.macs:,}")
        if n.rf is not None:
            extra.append(f"rf={n.rf[0]}/{n.rf[1]}")
        for k, v in sorted(n.meta.items()):
            extra.append(f"{k}={v}")
        if n.aux:
            extra.append(f"aux={n.aux}")
        lines.append(f"%{n.name} = {op}  : {ty}" + (f"  [{', '.join(extra)}]" if extra else ""))
    ret = ", ".join(f"{k}=%{n}" for k, n in ir.outputs.items()) if ir.outputs else f"%{ir.output}"
    lines.append(f"return {ret}" + "".join(f", aux %{a.output}" for a in ir.aux))
    return "\n".join(lines) + "\n"


def emit_torch(ir: IR) -> str:
    """The generated forward (torch.fx code), built on the meta device: no weights allocated."""
    from netc.backends.torch import to_module
    return to_module(ir, device="meta").code.strip() + "\n"
