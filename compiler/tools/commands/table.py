"""netc table SPEC[:CONFIG] : the paper's own tables, regenerated from a spec.

Several configurations (a file with a ``table``, or ``--configs A,B,...``): side by side as VGG's
Table 1, with parameter counts (Table 2) as the last row. One configuration (``SPEC:CONFIG``, a
file without a table, or one name in ``--configs``): one row per layer as GoogLeNet's Table 1.
"""
from __future__ import annotations

import sys

import netc
from netc.tools.commands import add_input, add_overrides, at_input, overrides as spec_overrides
from netc.dsl.errors import UsageError, use_color


def add_parser(sub) -> None:
    p = sub.add_parser("table", help="print a family side by side (VGG Table 1) or one network's rows (GoogLeNet Table 1)",
                       description="Regenerate the papers' tables from a spec file.")
    p.add_argument("spec", metavar="SPEC[:CONFIG]", help="e.g. vgg, googlenet, vgg:D, path/to/net.net")
    p.add_argument("--configs", metavar="A,B,...", help="the configurations to show, in this order")
    p.add_argument("--format", choices=("term", "markdown", "html", "latex"), default="term")
    p.add_argument("--depth", type=int, default=1, metavar="N",
                   help="blocks nested N deep or deeper are one row each (default 1)")
    p.add_argument("--all-layers", action="store_true", help="keep dropout rows (the papers leave them out)")
    p.add_argument("--aux", action="store_true", help="one configuration: include the side outputs' rows")
    add_input(p)
    add_overrides(p)
    p.set_defaults(run=run)


def _names(prog, cfg: str | None, configs: str | None) -> list[str]:
    if configs:
        names = [c.strip() for c in configs.split(",") if c.strip()]
        if not names:
            raise UsageError("--configs takes a comma-separated list of configuration names")
        for n in names:
            prog.config(n)   # raises a UsageError with a suggestion for an unknown name
        return names
    if cfg:
        prog.config(cfg)
        return [cfg]
    own = prog.own_configs()
    if any(prog.configs[n].table is not None for n in own) or not any(prog.configs[n].default for n in own):
        if not own:
            raise prog.no_network()
        return own                  # a paper's table, or several configurations: side by side
    return [_default(prog, own)]


def _default(prog, own: list[str]) -> str:
    if not own:
        raise prog.no_network()
    return next((n for n in own if prog.configs[n].default), own[0])


def run(args) -> int:
    from netc.visualize import family_table, row_table
    if args.depth < 1:
        raise UsageError("--depth takes a number at least 1")
    path, cfg = netc.split_ref(args.spec)
    prog = netc.Program.load(path)
    prog.raise_errors()
    names = _names(prog, cfg, args.configs)
    overrides = spec_overrides(args)
    irs = [at_input(netc.build_config(prog, n, **overrides), args.input) for n in names]
    if len(irs) == 1:
        table = row_table(irs[0], depth=args.depth, aux=args.aux)
    else:
        notes: list[str] = []
        table = family_table(irs, prog, all_layers=args.all_layers, depth=args.depth, notes=notes)
        for n in notes:
            print(f"note: {n}", file=sys.stderr)
    print(table.render(args.format, color=args.format == "term" and use_color(sys.stdout)))
    return 0
