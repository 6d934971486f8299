"""netc fmt FILE... : rewrite spec files in the canonical style (see :mod:`netc.dsl.fmt`).

``netc fmt a.net b.net`` rewrites the files that change and names them; ``--check`` changes
nothing, lists the files that would change and exits 1 if there are any; ``--diff`` prints a
unified diff instead of writing; ``-`` reads standard input and writes the result to standard
output. A file that does not parse is reported (exit 1) and left as it is.

Writing keeps the file what it was: a symbolic link stays a link (its target is formatted), a
file with several hard links or another owner is rewritten in place, any other file is replaced
atomically (a temporary file renamed over it, with its permissions and owner). A file changed
by someone else while fmt ran is left alone and reported; so is one that cannot be written (a
full disk, a read-only file), and fmt goes on with the next file.
"""
from __future__ import annotations

import difflib
import os
import sys
import tempfile
from pathlib import Path

from netc.tools.cli import report
from netc.dsl.errors import NetcError, UsageError
from netc.dsl.fmt import format_text
from netc.dsl.parser import decode
from netc.dsl.limits import LIMITS


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
        except _NotWritten as e:
            report(e)
            failed += 1
        except UsageError:
            raise
        except NetcError as e:
            report(e)
            failed += 1
    if failed:
        return 1
    return 1 if (args.check and changed) else 0


def _stdin(args) -> None:
    # at most the size limit plus one byte is read: a larger input is refused without holding it
    limit = LIMITS["max_file_bytes"] + 1
    stream = getattr(sys.stdin, "buffer", None)
    data = stream.read(limit) if stream is not None else sys.stdin.read(limit).encode("utf-8")
    src = decode(data, "<stdin>")
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
    real = Path(os.path.realpath(path))            # a symbolic link: format its target, keep the link
    try:
        with open(real, "rb") as f:
            before = os.fstat(f.fileno())
            data = f.read(LIMITS["max_file_bytes"] + 1)
    except OSError as e:
        raise _NotWritten(f"cannot read {path}: {e.strerror}") from None
    src = decode(data, str(path))     # located errors for bytes that are not UTF-8
    out = format_text(src, str(path))
    if out == src:
        return False
    if args.check:
        print(path)
    elif args.diff:
        sys.stdout.write(_diff(src, out, str(path)))
    else:
        _write(real, out, before, str(path))
        print(f"formatted {path}", file=sys.stderr)
    return True


def _diff(a: str, b: str, name: str) -> str:
    return "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), name, name))


class _NotWritten(NetcError):
    """A file fmt could not read or write, or that changed while fmt ran: reported, and fmt goes on."""


def _write(path: Path, text: str, before: os.stat_result, shown: str) -> None:
    """Write the formatted text over the file read as ``before``, unless it changed since."""
    data = text.encode("utf-8")
    try:
        if _changed(path, before):
            raise _NotWritten(f"{shown} changed while it was being formatted; it was left as it is",
                              hint="run netc fmt again")
        if before.st_nlink > 1 or (before.st_uid != os.geteuid() and os.geteuid() != 0):
            _overwrite(path, data)    # a new file would split the hard links or change the owner
        else:
            _replace(path, data, before)
    except OSError as e:
        raise _NotWritten(f"cannot write {shown}: {e.strerror or e}",
                          hint="the file is unchanged" if not isinstance(e, _Partial) else
                          "the file may be incomplete: check it") from None


def _changed(path: Path, before: os.stat_result) -> bool:
    try:
        now = os.stat(path)
    except OSError:
        return True
    return (now.st_ino, now.st_size, now.st_mtime_ns) != (before.st_ino, before.st_size, before.st_mtime_ns)


def _replace(path: Path, data: bytes, before: os.stat_result) -> None:
    """A temporary file beside ``path`` with its mode and owner, renamed over it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, before.st_mode & 0o7777)
        if os.geteuid() == 0:
            os.chown(tmp, before.st_uid, before.st_gid)
        if _changed(path, before):            # an edit saved while we wrote: keep it
            raise _NotWritten(f"{path} changed while it was being formatted; it was left as it is",
                              hint="run netc fmt again")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class _Partial(OSError):
    """Writing in place failed part way."""


def _overwrite(path: Path, data: bytes) -> None:
    """Rewrite in place (keeps hard links and owner): write over the old bytes, then cut the rest;
    only bytes beyond the old size need new space on the disk."""
    with open(path, "r+b") as f:
        try:
            f.write(data)
            f.truncate(len(data))
            f.flush()
            os.fsync(f.fileno())
        except OSError as e:
            raise _Partial(e.errno, e.strerror) from None
