"""Writing output files so that a failure never leaves a truncated file behind.

Every file netc writes (``compile -o``, ``render -o``, ``fmt``) is written to a temporary name in
the target's own directory and renamed over the target only when complete: a full disk, a
read-only directory or an interrupted run leaves the previous file as it was, and two runs
writing one path each leave one complete file. I/O failures are :class:`OutputError` (a usage
error: exit 2), never an internal error.

>>> import tempfile, os
>>> d = tempfile.mkdtemp()
>>> write_atomic(os.path.join(d, "a.txt"), b"hello")
>>> open(os.path.join(d, "a.txt")).read()
'hello'
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from netc.dsl.errors import UsageError


class OutputError(UsageError):
    """An output file could not be written (a missing folder, a full disk, no permission)."""


def check_target(path: str | os.PathLike) -> Path:
    """The output path, refused before any work if it cannot be a file: a folder, or in a folder
    that does not exist."""
    p = Path(path)
    if p.is_dir():
        raise OutputError(f"cannot write {p}: it is a directory", hint="give a file name, e.g. out/model.onnx")
    parent = p.parent
    if not parent.is_dir():
        raise OutputError(f"cannot write {p}: no such directory: {parent}", hint=f"create it first: mkdir -p {parent}")
    return p


def failed(path, e: OSError) -> OutputError:
    why = e.strerror or str(e)
    return OutputError(f"cannot write {path}: {why}",
                       hint="the previous file, if any, is unchanged; free some space or pick another place")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike):
    """Yield a temporary path with the target's file name, in a fresh folder beside the target;
    when the block succeeds, move every file written there (an ONNX file's ``.data`` first)
    next to the target, the target last. On any failure nothing of it remains."""
    target = check_target(path)
    try:
        tmpdir = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".netc-tmp", dir=target.parent))
    except OSError as e:
        raise failed(target, e) from None
    try:
        yield tmpdir / target.name
        written = sorted(tmpdir.iterdir(), key=lambda f: f.name == target.name)   # the target last
        for f in written:
            _fsync(f)
            os.replace(f, target.parent / f.name)
    except OSError as e:
        raise failed(target, e) from None
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def write_atomic(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` (text is written as UTF-8) to ``path`` atomically."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def _fsync(f: Path) -> None:
    with open(f, "rb") as fh:
        os.fsync(fh.fileno())
