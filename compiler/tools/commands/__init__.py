"""One module per ``netc`` subcommand: ``add_parser(subparsers)`` and ``run(args) -> int``."""
from __future__ import annotations

import math
import re

from netc.dsl.errors import UsageError


def parse_depth(text, words: tuple[str, ...] = ("all",)):
    """``--depth``: a number at least 1, or one of ``words`` (``all``, ``auto``); else a usage error."""
    d = str(text).strip().lower()
    if d in words:
        return d
    say = "a number at least 1 or " + " or ".join(repr(w) for w in words)
    try:
        n = int(d)
    except ValueError:
        raise UsageError(f"--depth takes {say}, not {text!r}") from None
    if n < 1:
        raise UsageError(f"--depth takes {say}")
    return n


def add_overrides(p) -> None:
    """``--set VAR=VALUE`` (repeatable) and its common case ``--num-classes N``."""
    p.add_argument("--set", action="append", default=[], metavar="VAR=VALUE", help="override a spec variable")
    p.add_argument("--num-classes", type=int, metavar="N", help="shorthand for --set num_classes=N")


def overrides(args) -> dict:
    """The spec variables a command line overrides."""
    out = {}
    for it in args.set:
        k, sep, v = it.partition("=")
        if not sep or not k.strip():
            raise UsageError(f"--set takes VAR=VALUE, not {it!r}")
        out[k.strip()] = _literal(v.strip())
    if getattr(args, "num_classes", None) is not None:
        out["num_classes"] = args.num_classes
    return out


def _literal(v: str):
    if re.fullmatch(r"-?\d+", v):
        if len(v.lstrip("-0")) > 18:      # beyond int64, and Python converts at most 4,300 digits
            raise UsageError(f"--set: a number of {len(v.lstrip('-')):,} digits",
                             hint="whole numbers have at most 18 digits")
        return int(v)
    try:
        x = float(v)
    except ValueError:
        return {"true": True, "false": False}.get(v, v)
    if not math.isfinite(x) and v.lower().lstrip("+-") not in ("inf", "infinity", "nan"):
        raise UsageError(f"--set: {v} is not a finite number")
    return x


def add_input(p) -> None:
    p.add_argument("--input", metavar="CxHxW", help="evaluate at this input size (e.g. 3x256x320 or 256x320; "
                                                   "a number of tokens for a language model)")


def at_input(ir, text: str | None):
    """The IR's types and costs again at ``--input`` (``3x256x320``, ``256x320``; a language model:
    a number of tokens). The channels cannot change; the parameters do not."""
    if not text:
        return ir
    import netc
    from netc.passes import check_budget, infer
    if ir.input_spec.tokens:
        if not text.isdigit() or int(text) < 1:
            raise UsageError(f"--input for a language model takes a number of tokens (such as 2048), not {text!r}")
        size = (int(text), 1)
    else:
        parts = text.lower().replace("\u00d7", "x").split("x")
        if len(parts) not in (2, 3) or not all(q.isdigit() and int(q) > 0 for q in parts):
            raise UsageError(f"--input takes CxHxW or HxW with positive numbers, not {text!r}")
        c, h, w = (int(parts[0]) if len(parts) == 3 else None), int(parts[-2]), int(parts[-1])
        if c is not None and c != ir.input_spec.channels:
            raise UsageError(f"--input gives {c} channel{'s' * (c != 1)}, but {ir.config} takes "
                             f"{ir.input_spec.channels}; --input changes the size only",
                             hint=f"give HxW ({h}x{w}), or derive a configuration with another input line, "
                                  f"e.g. config {ir.config}-gray extends {ir.config} {{ input {h}x{w} gray }}")
        size = (h, w)
    for n in ir.nodes():
        n.shape = None
    infer(ir, size)
    if not ir.input_spec.tokens:
        check_budget(ir)
    netc.raise_all(ir.errors)
    return ir

