"""The ``netc`` command. Each subcommand lives in ``netc.tools.commands.<name>`` with
``add_parser(subparsers)`` and ``run(args) -> int``.

Exit status: 0 success, 1 spec errors (or differences, for diff), 2 usage errors, 3 an internal
error (a bug in netc; NETC_DEBUG=1 shows its traceback).
No Python traceback reaches the user for bad input.
"""
from __future__ import annotations

import argparse
import gc
import importlib
import importlib.util
import keyword
import os
import re
import sys

from netc.dsl.errors import NetcError, UsageError, use_color

COMMANDS = ("check", "summary", "compile", "render", "table", "diff", "fmt", "list", "serve", "lsp", "import")


class _Formatter(argparse.HelpFormatter):
    """argparse's help formatter, as wide as the terminal, found as ``shutil.get_terminal_size``
    finds it but without importing shutil (and its archive modules), which argparse does for every
    argument it is given, help or not: a sixtieth of a check's time."""

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        super().__init__(prog, indent_increment, max_help_position, _columns() - 2 if width is None else width)


def _columns() -> int:
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message):  # usage errors exit 2, as argparse does, with our prefix
        self.print_usage(sys.stderr)
        print(f"netc: error: {message}", file=sys.stderr)
        sys.exit(2)


def make_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser. Given the command line, only the command it names is imported (a
    check does not load the server, the language server or the importers); without one, or for
    ``--help``, every command is."""
    p = _Parser(prog="netc", description="Check, count, compile, draw and diff neural network specs (.net files).")
    p.add_argument("--version", action="version", version=f"netc {_version()}")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import a Python module that registers custom layers (netc.register_layer)")
    p.add_argument("--limit", action="append", default=[], metavar="NAME=VALUE",
                   help="change one of netc.LIMITS for this run (e.g. max_activation_bytes=none, max_layers=50000)")
    p.add_argument("--allow-include-outside", action="store_true",
                   help="let include reach files outside the including file's directory tree")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    named = _command(argv) if argv is not None else None
    for name in (named,) if named else COMMANDS:
        mod = f"netc.tools.commands.{name}" + ("_" if keyword.iskeyword(name) else "")   # import -> import_
        if importlib.util.find_spec(mod) is not None:
            importlib.import_module(mod).add_parser(sub)
    return p


_TAKES_VALUE = ("--plugin", "--limit")


def _command(argv: list[str]) -> str | None:
    """The command a command line names, if it surely names one: the first word that is not an
    option (or an option's value) before it, and no top-level --help or --version."""
    args = iter(argv)
    for a in args:
        if a in _TAKES_VALUE:
            next(args, None)
        elif a.startswith("-"):
            if a in ("-h", "--help", "--version") or a.startswith("--h") or a.startswith("--v"):
                return None
        else:
            return a if a in COMMANDS else None
    return None


def _version() -> str:
    from netc import __version__
    return __version__


def report(err: NetcError) -> None:
    print(err.render(color=use_color(sys.stderr)), file=sys.stderr)


_SHOWN = {"n": 0, "hidden": 0}


def report_many(errors: list) -> None:
    """Print errors, at most ``MAX_SHOWN`` in a run; the rest are counted (see :func:`report_hidden`)."""
    from netc.dsl.errors import MAX_SHOWN
    for e in errors:
        if _SHOWN["n"] < MAX_SHOWN:
            report(e)
            _SHOWN["n"] += 1
        else:
            _SHOWN["hidden"] += 1


def report_hidden() -> None:
    """'... and N more' for the errors :func:`report_many` left out."""
    if _SHOWN["hidden"]:
        print(f"... and {_SHOWN['hidden']:,} more", file=sys.stderr)
    _SHOWN["n"] = _SHOWN["hidden"] = 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = make_parser(argv)
    args = parser.parse_args(argv)
    if getattr(args, "allow_include_outside", False):
        from netc.dsl.limits import LIMITS
        LIMITS["include_outside_tree"] = True
    try:
        for item in getattr(args, "limit", []):
            _set_limit(item)
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
    except RecursionError:   # the limits bound nesting (max_depth); a safety net, never a bug report
        print("netc: error: the spec nests too deeply to process (blocks within blocks, braces within braces)\n"
              "hint: lower the nesting, or see netc.LIMITS['max_depth']", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    except Exception as e:  # an internal error: say so in one line; NETC_DEBUG=1 shows the traceback
        if os.environ.get("NETC_DEBUG"):
            raise
        print(f"netc: internal error: {type(e).__name__}: {e}\n"
              "this is a bug in netc, not in your spec; rerun with NETC_DEBUG=1 for details", file=sys.stderr)
        return 3
    return code


def _no_pydantic_plugins() -> None:
    """The ``netc`` program validates only netc's own parameter models, so pydantic's plugins (hooks
    that observe a program's models) are off in it: ``PYDANTIC_DISABLE_PLUGINS``, unless set
    otherwise. Off, pydantic's plugin loader answers "none" without looking, but only after its
    module has imported ``importlib.metadata`` (email, zipfile, csv, socket: about 30 ms, a sixth
    of a check of vgg.net). So the program gives pydantic a loader that answers the same at once;
    ``get_plugins`` is all pydantic asks of it (tests/tools/test_startup.py)."""
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if os.environ["PYDANTIC_DISABLE_PLUGINS"] in ("__all__", "1", "true") and \
            "pydantic.plugin._loader" not in sys.modules:
        import types
        loader = types.ModuleType("pydantic.plugin._loader", "netc: pydantic plugins are off in this process")
        loader.get_plugins = lambda: ()
        sys.modules["pydantic.plugin._loader"] = loader


def _set_limit(item: str) -> None:
    from netc.dsl.errors import did_you_mean
    from netc.dsl.limits import LIMITS
    key, sep, value = item.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or key not in LIMITS:
        raise UsageError(f"--limit takes NAME=VALUE with one of netc.LIMITS, not {item!r}",
                         hint=did_you_mean(key, LIMITS) or "limits: " + ", ".join(LIMITS))
    v = value.strip().replace("_", "").replace(",", "").lower()
    if v in ("none", "off"):
        LIMITS[key] = None
    elif v in ("true", "false"):
        LIMITS[key] = v == "true"
    elif re.fullmatch(r"\d{1,18}", v):
        LIMITS[key] = int(v)
    else:
        try:
            LIMITS[key] = float(v)
        except ValueError:
            raise UsageError(f"--limit {key}: {value!r} is not a number, true/false or none") from None


def _load_plugin(name: str) -> None:
    """Import a user's module of custom layers, found on ``sys.path`` or in the current directory.

    The current directory is searched last and only while the plugin is imported: a ``torch.py``
    or ``graphviz.py`` lying there never shadows an installed package, for the plugin or for netc.
    """
    if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", name or ""):
        raise UsageError(f"--plugin {name!r} is not a module name",
                         hint="give an importable module such as mypkg.layers (no path, no '.py')")
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.append(cwd)
    try:
        importlib.import_module(name)
    except NetcError:
        raise
    except ImportError as e:
        raise UsageError(f"cannot import plugin module '{name}': {e}") from None
    except Exception as e:   # the plugin's own code failed: the user's error, not netc's
        raise UsageError(f"plugin module '{name}' failed while importing: {type(e).__name__}: {e}",
                         hint="run python -c 'import " + name + "' to see the traceback") from None
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


# commands that end with the process: nothing of theirs needs the interpreter's teardown
_QUICK_EXIT = frozenset({"check", "summary", "table", "render", "diff", "fmt", "list"})


def console() -> None:
    """The ``netc`` program (the console script and ``python -m netc.tools.cli``): :func:`main`, then
    the exit. A short command's output is flushed and the process ends without tearing the
    interpreter down (freeing every module and object one by one, a tenth of a check's time);
    with a plugin loaded, or for the servers, import and compile, Python exits as usual. A short
    command also runs without the cyclic garbage collector: what it makes lives until that exit,
    and each collection walked it all again (as in the front-end calls, netc.gcpause)."""
    argv = sys.argv[1:]
    _no_pydantic_plugins()
    quick = _command(argv) in _QUICK_EXIT and "--plugin" not in argv and not any(
        a.startswith("--plugin=") for a in argv)
    if quick:
        gc.disable()
    code = main(argv)
    if quick:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (BrokenPipeError, ValueError, OSError):
            quick = False
    if quick:
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    console()
