"""netc render SPEC[:CONFIG] -o OUT.svg|png|pdf|dot : draw a configuration through Graphviz.

Exit status: 0 written; 1 spec errors, or Graphviz's ``dot`` is missing (the DOT text is then
written next to OUT, as OUT with the suffix .dot, and the message says how to install Graphviz);
2 usage errors.
"""
from __future__ import annotations

import sys
from pathlib import Path

import netc
from netc.tools.commands import add_overrides, overrides as spec_overrides
from netc.dsl.errors import UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("render", help="draw a configuration (SVG, PNG, PDF or DOT) through Graphviz",
                       description="Draw one configuration as a diagram: layers as the paper writes them, "
                                   "blocks as boxes, side outputs as dashed branches.")
    p.add_argument("spec", metavar="SPEC[:CONFIG]", help="e.g. vgg:D, googlenet, path/to/net.net:B")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output file: .svg, .png, .pdf or .dot; - prints DOT text")
    p.add_argument("--format", choices=("svg", "png", "pdf", "dot"), help="output format (default: from OUT's suffix)")
    p.add_argument("--depth", type=int, metavar="N",
                   help="collapse blocks nested N deep or deeper into one node (1: each inception module is a box)")
    p.add_argument("--shapes", action="store_true", help="show each layer's output shape (C×H×W)")
    p.add_argument("--params", action="store_true", help="show each layer's parameter count")
    p.add_argument("--edge-shapes", action="store_true", help="label edges with the tensor shape they carry")
    p.add_argument("--rankdir", choices=("TB", "LR"), default="TB", help="layout direction (LR for wide pages)")
    p.add_argument("--collapse-repeats", action="store_true",
                   help="draw runs of identical layers (conv3-512 ×3) and of identical block instances as one node")
    p.add_argument("--expand-repeats", action="store_true",
                   help="draw every instance of a long run of identical blocks (by default ViT's 12 encoder layers "
                        "are one node, encoder_block ×12; --depth opens one instance)")
    p.add_argument("--no-title", action="store_true", help="leave out the title line")
    add_overrides(p)
    p.set_defaults(run=run)


def _fold(args):
    from netc.visualize.dot import FOLD_BLOCKS
    return None if args.expand_repeats else FOLD_BLOCKS


def run(args) -> int:
    from netc.visualize import GraphvizMissing, render
    if args.depth is not None and args.depth < 1:
        raise UsageError("--depth takes a number at least 1")
    if args.output == "-":                 # DOT text to standard output, for piping into dot
        if args.format not in (None, "dot"):
            raise UsageError("-o - writes DOT text; pictures go to a file (-o out.svg)")
        from netc.visualize import to_dot
        ir = netc.load(args.spec, **spec_overrides(args))
        sys.stdout.write(to_dot(ir, depth=args.depth, shapes=args.shapes, params=args.params,
                                edge_shapes=args.edge_shapes, rankdir=args.rankdir, repeats=args.collapse_repeats,
                                title=not args.no_title, fold=_fold(args)))
        return 0
    out = Path(args.output)
    fmt = args.format or out.suffix.lstrip(".").lower()
    if fmt not in ("svg", "png", "pdf", "dot"):
        raise UsageError(f"cannot tell the picture format from {args.output!r}; "
                         "use a .svg, .png, .pdf or .dot file name, or --format")
    from netc.atomic import check_target
    check_target(out)                  # a folder, or a folder that does not exist: before any work
    ir = netc.load(args.spec, **spec_overrides(args))
    _auto_collapse(args, ir, fmt)
    try:
        render(ir, out, fmt, depth=args.depth, shapes=args.shapes, params=args.params,
               edge_shapes=args.edge_shapes, rankdir=args.rankdir, repeats=args.collapse_repeats,
               title=not args.no_title, fold=_fold(args))
    except GraphvizMissing as e:
        print(f"netc: {e.message}\nhint: {e.hint}", file=sys.stderr)
        return 1
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _auto_collapse(args, ir, fmt: str) -> None:
    """A network past AUTO_COLLAPSE layers, drawn without --depth or --collapse-repeats: each block
    one box and each run one node, said on stderr (Graphviz takes minutes on 20,000 nodes)."""
    from netc.visualize.render import AUTO_COLLAPSE
    if fmt == "dot" or args.depth is not None or args.collapse_repeats or len(ir) <= AUTO_COLLAPSE:
        return
    args.depth, args.collapse_repeats = 1, True
    print(f"note: {len(ir):,} layers: drawn with --depth 1 --collapse-repeats (blocks as boxes, runs as one "
          "node); give --depth N to choose", file=sys.stderr)
