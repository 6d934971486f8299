"""The ``netc`` command. Each subcommand lives in ``netc.commands.<name>`` with
``add_parser(subparsers)`` and ``run(args) -> int``.

Exit status: 0 success, 1 spec errors (or differences, for diff), 2 usage errors, 3 an internal
error (a bug in netc; NETC_DEBUG=1 shows its traceback).
No Python traceback reaches the user for bad input.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import keyword
import os
import sys

from netc.dsl.errors import NetcError, UsageError, use_color

COMMANDS = ("check", "summary", "compile", "render", "table", "diff", "fmt", "import")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors exit 2, as argparse does, with our prefix
        self.print_usage(sys.stderr)
        print(f"netc: error: {message}", file=sys.stderr)
        sys.exit(2)


def make_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="netc", description="Check, count, compile, draw and diff neural network specs (.net files).")
    p.add_argument("--version", action="version", version=f"netc {_version()}")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import a Python module that registers custom layers (netc.register_layer)")
    p.add_argument("--allow-include-outside", action="store_true",
                   help="let include reach files outside the including file's directory tree")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:
        mod = f"netc.commands.{name}" + ("_" if keyword.iskeyword(name) else "")   # import -> import_
        if importlib.util.find_spec(mod) is not None:
            importlib.import_module(mod).add_parser(sub)
    return p


def _version() -> str:
    from netc import __version__
    return __version__


def report(err: NetcError) -> None:
    print(err.render(color=use_color(sys.stderr)), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if getattr(args, "allow_include_outside", False):
        from netc.dsl.parser import LIMITS
        LIMITS["include_outside_tree"] = True
    try:
        for mod in args.plugin:
            _load_plugin(mod)
        code = args.run(args)
    except UsageError as e:
        report(e)
        return 2
    except NetcError as e:
        report(e)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # an internal error: say so in one line; NETC_DEBUG=1 shows the traceback
        if os.environ.get("NETC_DEBUG"):
            raise
        print(f"netc: internal error: {type(e).__name__}: {e}\n"
              "this is a bug in netc, not in your spec; rerun with NETC_DEBUG=1 for details", file=sys.stderr)
        return 3
    return code


def _load_plugin(name: str) -> None:
    """Import a user's module of custom layers; like ``python -m``, the current directory counts."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        importlib.import_module(name)
    except ImportError as e:
        raise UsageError(f"cannot import plugin module '{name}': {e}") from None


if __name__ == "__main__":
    sys.exit(main())
