"""netc render SPEC[:CONFIG] -o OUT.svg|png|pdf|dot : draw a configuration through Graphviz.

Exit status: 0 written; 1 spec errors, or Graphviz's ``dot`` is missing (the DOT text is then
written next to OUT, as OUT with the suffix .dot, and the message says how to install Graphviz);
2 usage errors.
"""
from __future__ import annotations

import sys
from pathlib import Path

import netc
from netc.tools.commands import add_input, add_overrides, at_input, overrides as spec_overrides, parse_depth
from netc.dsl.errors import UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("render", help="draw a configuration (SVG, PNG, PDF or DOT) through Graphviz",
                       description="Draw one configuration as a diagram: layers as the paper writes them, "
                                   "blocks as boxes, side outputs as dashed branches.")
    p.add_argument("spec", metavar="SPEC[:CONFIG]", help="e.g. vgg:D, googlenet, path/to/net.net:B")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output file: .svg, .png, .pdf or .dot; - prints DOT text")
    p.add_argument("--format", choices=("svg", "png", "pdf", "dot"), help="output format (default: from OUT's suffix)")
    p.add_argument("--depth", metavar="N|all|auto", default="auto",
                   help="collapse blocks nested N deep or deeper into one node (1: each inception module is a box); "
                        "all: expand everything; auto (the default): a network over a screenful is folded, block "
                        "level by block level, until it fits, with runs of a block drawn as one (bottleneck ×3)")
    p.add_argument("--block", metavar="NAME",
                   help="draw one block instance alone, the detail beside the overview (a block's name for its "
                        "first instance, e.g. encoder_block, or an instance's full name)")
    p.add_argument("--layout", choices=("auto", "rows", "column", "u"), default="auto",
                   help="auto (the default): an encoder-decoder whose skips pair its levels as a U, stages stacked "
                        "as rows, else one column; column: one column (the layout before 0.2)")
    p.add_argument("--shapes", action="store_true", help="show each layer's output shape (C×H×W)")
    p.add_argument("--params", action="store_true", help="show each layer's parameter count")
    p.add_argument("--edge-shapes", "--shapes-on-edges", action="store_true",
                   help="label edges with the tensor shape they carry")
    p.add_argument("--rankdir", choices=("TB", "LR"), default="TB", help="layout direction (LR for wide pages)")
    p.add_argument("--collapse-repeats", action="store_true",
                   help="draw runs of identical layers (conv3-512 ×3) and of identical block instances as one node")
    p.add_argument("--expand-repeats", action="store_true",
                   help="draw every instance of a long run of identical blocks (by default ViT's 12 encoder layers "
                        "are one node, encoder_block ×12; --depth opens one instance)")
    p.add_argument("--no-title", action="store_true", help="leave out the title line")
    add_input(p)
    add_overrides(p)
    p.set_defaults(run=run)


def _depth(args):
    return parse_depth(args.depth, ("auto", "all"))


def _options(args, ir) -> dict:
    """The to_dot options: the figure's (a depth by size, runs folded, stages as rows) unless asked otherwise."""
    from netc.visualize.dot import FOLD_BLOCKS, figure_options
    opts = dict(shapes=args.shapes, params=args.params, edge_shapes=args.edge_shapes, rankdir=args.rankdir,
                repeats=args.collapse_repeats, title=not args.no_title, layout=args.layout, block=args.block)
    if args.expand_repeats:
        opts["fold"] = None
    depth = _depth(args)
    if depth == "auto" and args.block:
        depth = "all"
    if depth == "all":
        opts.setdefault("fold", FOLD_BLOCKS)
    return figure_options(ir, depth, **opts)


def run(args) -> int:
    from netc.visualize import GraphvizMissing, render
    _depth(args)
    if args.output == "-":                 # DOT text to standard output, for piping into dot
        if args.format not in (None, "dot"):
            raise UsageError("-o - writes DOT text; pictures go to a file (-o out.svg)")
        from netc.visualize import to_dot
        ir = at_input(netc.load(args.spec, **spec_overrides(args)), args.input)
        sys.stdout.write(to_dot(ir, **_options(args, ir)))
        return 0
    out = Path(args.output)
    fmt = args.format or out.suffix.lstrip(".").lower()
    if fmt not in ("svg", "png", "pdf", "dot"):
        raise UsageError(f"cannot tell the picture format from {args.output!r}; "
                         "use a .svg, .png, .pdf or .dot file name, or --format")
    from netc.atomic import check_target
    check_target(out)                  # a folder, or a folder that does not exist: before any work
    ir = at_input(netc.load(args.spec, **spec_overrides(args)), args.input)
    _auto_collapse(args, ir, fmt)
    try:
        render(ir, out, fmt, **_options(args, ir))
    except GraphvizMissing as e:
        print(f"netc: {e.message}\nhint: {e.hint}", file=sys.stderr)
        return 1
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _auto_collapse(args, ir, fmt: str) -> None:
    """A network past AUTO_COLLAPSE layers, drawn without --depth or --collapse-repeats: each block
    one box and each run one node, said on stderr (Graphviz takes minutes on 20,000 nodes)."""
    from netc.visualize.render import AUTO_COLLAPSE
    if fmt == "dot" or args.depth not in ("auto", "all") or args.collapse_repeats or len(ir) <= AUTO_COLLAPSE:
        return
    args.depth, args.collapse_repeats = 1, True
    print(f"note: {len(ir):,} layers: drawn with --depth 1 --collapse-repeats (blocks as boxes, runs as one "
          "node); give --depth N to choose", file=sys.stderr)
