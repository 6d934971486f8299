"""netc diff OLD NEW: the layers added, removed, changed, moved and renamed, and what they cost.

Exit status as diff(1): 0 identical, 1 different, 2 error (a usage error or an invalid spec).
"""
from __future__ import annotations

import sys

import netc
from netc import jsonout
from netc.tools.cli import report
from netc.tools.commands import add_overrides, overrides as spec_overrides
from netc.diff import Diff, Edit, diff
from netc.dsl.errors import NetcError, use_color
from netc.summary import human

SYMBOL = {"add": "+", "remove": "-", "change": "~", "move": ">", "rename": "="}
WORD = {"add": "added", "remove": "removed", "change": "changed", "move": "moved", "rename": "renamed"}
COLOR = {"add": "32", "remove": "31", "change": "33", "move": "36", "rename": "34", "dim": "2"}


def add_parser(sub) -> None:
    p = sub.add_parser("diff", help="what changed between two configurations, and what it costs",
                       description="Align two configurations structurally and list the layers added, removed, "
                                   "changed, moved and renamed, with their params and multiply-adds. "
                                   "Exit status: 0 identical, 1 different, 2 error.")
    p.add_argument("old", metavar="OLD", help="spec reference: vgg:A, old/vgg.net:D, path/to/net.net")
    p.add_argument("new", metavar="NEW", help="spec reference: vgg:B, specs/vgg.net:D")
    p.add_argument("--json", action="store_true", help="print the edits as JSON")
    p.add_argument("--no-color", action="store_true", help="no colours (the default when not a terminal)")
    p.add_argument("--render", metavar="OUT.svg", help="draw NEW with added layers green, changed amber, "
                                                       "removed ones as ghosts (svg, png, pdf or dot)")
    add_overrides(p)
    p.set_defaults(run=run)


def run(args) -> int:
    try:
        overrides = spec_overrides(args)
        old, new = netc.load(args.old, **overrides), netc.load(args.new, **overrides)
        d = diff(old, new, args.old, args.new)
        if args.render:
            written = _render(d, old, new, args.render)
            print(f"wrote {written}", file=sys.stderr)
    except NetcError as e:          # an invalid spec is an error here (2), not a difference (1)
        report(e)
        return 2
    if args.json:
        print(jsonout.dumps(d.to_json(), indent=2))
    else:
        print(to_text(d, color=use_color(sys.stdout) and not args.no_color))
    return 0 if d.identical else 1


# ------------------------------------------------------------------ text
def to_text(d: Diff, color: bool = False) -> str:
    """One line per edit, the downstream changes, and a total line."""
    if d.identical:
        return f"{d.old} and {d.new} are identical"
    rows = [_edit_cells(e) for e in d.edits]
    widths = [max((len(r[i]) for r in rows), default=0) for i in range(6)]
    lines = [_paint(_join(r, widths), e.op, color) for r, e in zip(rows, d.edits)]
    if d.downstream:
        lines.append(_paint("downstream (inputs changed by the edits above):", "dim", color))
        for s in d.downstream:
            span = s.first if s.count == 1 else f"{s.first} .. {s.last} ({s.count} layers)"
            shape = f"input {_shape(s.old_in)} -> {_shape(s.new_in)}" if s.old_in != s.new_in else "costs"
            lines.append(f"  {span}: {shape}  {s.file}:{s.line}  {_signed(s.params_delta)} params  "
                         f"{_macs(s.macs_delta)} mult-adds")
    counts = d.counts()
    parts = [f"{counts[op]} {WORD[op]}" for op in WORD if op in counts]
    total = f"{_macs(d.macs_delta)} mult-adds" + (" (a training pass: side outputs included)" if d.side_outputs else "")
    lines.append(" · ".join(parts + [f"{_signed(d.params_delta)} params", total]))
    lines += [f"note: {n}" for n in d.notes]
    return "\n".join(lines)


def _edit_cells(e: Edit) -> list[str]:
    side = e.new or e.old
    name = side.name if e.old is None or e.new is None or e.old.name == e.new.name else f"{e.old.name} -> {e.new.name}"
    layer = side.layer
    if e.op == "change":
        layer = f"{e.old.layer} -> {e.new.layer}" if e.old.layer != e.new.layer else e.new.layer
        detail = ", ".join(f"{p}: {_val(a)} -> {_val(b)}" for p, a, b in e.changes if p != "name")
        layer += f" ({detail})" if detail else ""
    return [SYMBOL[e.op], name, layer, _where(e), f"{_signed(e.params_delta)} params", f"{_macs(e.macs_delta)} mult-adds"]


def _where(e: Edit) -> str:
    if e.old is None or e.new is None:
        s = e.old or e.new
        return f"{s.file}:{s.line}"
    if e.old.file != e.new.file:
        return f"{e.old.file}:{e.old.line} -> {e.new.file}:{e.new.line}"
    if e.old.line != e.new.line:
        return f"{e.new.file}:{e.old.line} -> {e.new.line}"
    return f"{e.new.file}:{e.new.line}"


def _join(cells: list[str], widths: list[int]) -> str:
    left = [c.ljust(w) for c, w in zip(cells[:4], widths)]
    right = [c.rjust(w) for c, w in zip(cells[4:], widths[4:])]
    return "  ".join(left + right).rstrip()


def _paint(text: str, op: str, color: bool) -> str:
    return f"\033[{COLOR[op]}m{text}\033[0m" if color else text


def _signed(n: int) -> str:
    return f"{n:+,}" if n else "0"


def _macs(n: int | None) -> str:
    if n is None:
        return "?"
    return ("+" if n > 0 else "") + human(n)


def _val(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "none" if v is None else str(v)


def _shape(s) -> str:
    from netc.types import dims
    if s is None:
        return "?"
    if s and isinstance(s[0], tuple):
        return " + ".join(dims.fmt_shape(x) for x in s)
    return dims.fmt_shape(s)


# ------------------------------------------------------------------ picture
def _render(d: Diff, old, new, path: str) -> str:
    """NEW, with added layers green, changed amber, moved outlined in magenta, removed ones as ghost nodes."""
    from netc.visualize import render
    return render(new, path, **d.marks(old, new))
