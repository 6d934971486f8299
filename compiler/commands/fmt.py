"""netc fmt FILE... : rewrite spec files in the canonical style (see :mod:`netc.dsl.fmt`).

``netc fmt a.net b.net`` rewrites the files that change and names them; ``--check`` changes
nothing, lists the files that would change and exits 1 if there are any; ``--diff`` prints a
unified diff instead of writing; ``-`` reads standard input and writes the result to standard
output. A file that does not parse is reported (exit 1) and left as it is.
"""
from __future__ import annotations

import difflib
import os
import sys
import tempfile
from pathlib import Path

from netc.cli import report
from netc.dsl.errors import NetcError, UsageError
from netc.dsl.fmt import format_text
from netc.dsl.parser import decode


def add_parser(sub) -> None:
    p = sub.add_parser("fmt", help="rewrite spec files in the canonical style",
                       description="Rewrite .net files in place in the canonical style: aligned table "
                                   "columns, four-space indentation, every comment kept.")
    p.add_argument("files", nargs="+", metavar="FILE", help="spec file to format; '-' reads stdin, writes stdout")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--check", action="store_true", help="change nothing; list files that would change, exit 1 if any")
    g.add_argument("--diff", action="store_true", help="change nothing; print a unified diff of what would change")
    p.set_defaults(run=run)


def run(args) -> int:
    failed = changed = 0
    for name in args.files:
        try:
            if name == "-":
                _stdin(args)
                continue
            if _one(Path(name), args):
                changed += 1
        except UsageError:
            raise
        except NetcError as e:
            report(e)
            failed += 1
    if failed:
        return 1
    return 1 if (args.check and changed) else 0


def _stdin(args) -> None:
    src = sys.stdin.read()
    out = format_text(src, "<stdin>")
    if args.check:
        if out != src:
            print("<stdin>")
            raise _Changed()
    elif args.diff:
        sys.stdout.write(_diff(src, out, "<stdin>"))
    else:
        sys.stdout.write(out)


class _Changed(NetcError):
    """--check on stdin: the input would change (exit 1, message already printed)."""

    def __init__(self):
        super().__init__("<stdin> is not formatted")

    def render(self, color: bool = False) -> str:
        return "error: <stdin> is not formatted"


def _one(path: Path, args) -> bool:
    """Format one file; True when it changes (or would change)."""
    if not path.is_file():
        raise UsageError(f"no such spec file: {path}")
    src = decode(path.read_bytes(), str(path))     # located errors for bytes that are not UTF-8
    out = format_text(src, str(path))
    if out == src:
        return False
    if args.check:
        print(path)
    elif args.diff:
        sys.stdout.write(_diff(src, out, str(path)))
    else:
        _write(path, out)
        print(f"formatted {path}", file=sys.stderr)
    return True


def _diff(a: str, b: str, name: str) -> str:
    return "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), name, name))


def _write(path: Path, text: str) -> None:
    """Replace the file atomically, keeping its permissions."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
