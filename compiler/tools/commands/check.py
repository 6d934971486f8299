"""netc check FILE... : one line per configuration, every error of every file."""
from __future__ import annotations

import sys

import netc
from netc.types import dims
from netc.tools.cli import report_hidden, report_many
from netc.gcpause import paused
from netc.dsl.errors import NetcError, NetcErrors, UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("check", help="check spec files; one line per configuration",
                       description="Check every configuration of each spec file (a path or a bundled name such as vgg).")
    p.add_argument("files", nargs="+", metavar="FILE", help="spec file, FILE:CONFIG or bundled name")
    p.add_argument("--emit", choices=("ast", "ir", "torch"),
                   help="print a stage instead of the summary line: the syntax tree, the typed IR, or the "
                        "generated torch code (imports torch)")
    p.set_defaults(run=run)


def run(args) -> int:
    from netc.tools.progress import progress
    with progress("checking") as bar:
        return _run(args, bar)


def _run(args, bar) -> int:
    total_errors = 0
    for ref in args.files:
        bar.stage(ref)
        path, cfg = netc.split_ref(ref)
        try:
            with paused():
                prog = netc.Program.load(path)
        except UsageError:
            raise
        except NetcError as e:             # a syntax error: report it, and go on to the next file
            errs = e.errors if isinstance(e, NetcErrors) else [e]
            bar.clear()
            report_many(errs)
            total_errors += len(errs)
            continue
        errors = list(prog.errors)
        lines = []
        if args.emit == "ast":
            from netc.backends.emit import emit_ast
            bar.clear()
            print(emit_ast(prog.module), end="")
        if not prog.errors:
            if cfg:
                prog.config(cfg)
            elif not prog.own_configs() and prog.blocks:     # a library of blocks, for others to include
                lines.append([_label(ref, path), f"no configurations; blocks: {', '.join(prog.blocks)}"])
            n = 1 if cfg else len(prog.own_configs())
            bar.stage(f"{ref}: {n} configuration{'s' * (n != 1)}")
            checked = netc.check_configs(prog, [cfg] if cfg else None)     # None: every configuration
            bar.clear()
            errors = checked.errors
            for ir in checked.irs.values():
                if ir.errors:
                    continue
                if args.emit in ("ir", "torch"):
                    from netc.backends import emit
                    print(emit.emit_ir(ir) if args.emit == "ir" else f"# {ir.config}\n" + emit.emit_torch(ir),
                          end="")
                elif args.emit is None:
                    lines.append(_line(_label(ref, path), ir))
        if lines:
            _print_aligned(lines)
            sys.stdout.flush()
        if errors:
            bar.clear()
            err = NetcErrors(errors) if len(errors) > 1 else errors[0]
            report_many(err.errors if isinstance(err, NetcErrors) else [err])
            total_errors += len(err.errors) if isinstance(err, NetcErrors) else 1
    report_hidden()
    if total_errors:
        print(f"{total_errors:,} error{'s' if total_errors != 1 else ''}", file=sys.stderr)
        return 1
    return 0


def _label(ref: str, path) -> str:
    """What the user typed for a bundled spec (``sppnet``), else the file's path."""
    from pathlib import Path
    return str(path) if Path(ref).exists() or Path(ref.rsplit(":", 1)[0]).exists() else ref.rsplit(":", 1)[0]


def _line(path: str, ir) -> list[str]:
    out = ir.output_shape
    size = "any size >= {}x{}".format(*ir.min_input) if ir.any_size and ir.min_input else (
        "input " + dims.fmt_shape(ir.input_shape))
    if ir.any_size and ir.min_input_train and tuple(ir.min_input_train) != tuple(ir.min_input):
        size += " ({}x{} in training: side outputs)".format(*ir.min_input_train)
    shown = f"{len(ir.outputs)} outputs" if len(ir.outputs) > 1 else dims.fmt_shape(out)
    line = [path, ir.config, f"{ir.depth} weight layers", shown, f"{ir.params:,} params", size]
    added, left = ir.residuals()
    if left:          # residual { } left some shortcuts out (shapes differ): how many (netc summary: which)
        line.append(f"shortcut in {len(added)} of {len(added) + len(left)} residuals")
    return line


def _print_aligned(lines: list[list[str]]) -> None:
    n = max(len(l) for l in lines)
    widths = [max(len(l[i]) for l in lines if i < len(l)) for i in range(n)]
    for l in lines:
        cells = [c.rjust(widths[i]) if i == 4 else c.ljust(widths[i]) for i, c in enumerate(l)]
        print("  ".join(cells).rstrip())
