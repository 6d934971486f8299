"""DOT text -> SVG/PNG/PDF through the real Graphviz ``dot`` binary.

>>> import netc, tempfile, os
>>> out = os.path.join(tempfile.mkdtemp(), "a.dot")
>>> render(netc.load("vgg:A"), out)
'...a.dot'
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from netc.atomic import check_target, write_atomic
from netc.dsl.errors import NetcError

from .dot import to_dot

FORMATS = ("svg", "png", "pdf", "dot")
#: past this many drawn nodes Graphviz's layout takes minutes (20,000 took 313 s and 1.7 GB):
#: such a picture is refused (``netc render`` first collapses blocks and repeats past AUTO_COLLAPSE)
MAX_DRAWN = 5_000
AUTO_COLLAPSE = 1_000
_NODE = re.compile(r'^\s*"[^"]*" \[label=', re.M)
INSTALL_HINT = ("install Graphviz: Debian/Ubuntu `sudo apt-get install graphviz`, macOS `brew install graphviz`, "
                "conda `conda install graphviz` (or run scripts/setup.sh)")


class GraphvizMissing(NetcError):
    """The ``dot`` binary is not installed; the DOT text was written instead (``.dot_path``)."""

    def __init__(self, dot_path: str | None):
        msg = "Graphviz's `dot` program was not found, so no picture was drawn"
        if dot_path:
            msg += f"; the DOT text is in {dot_path}"
        super().__init__(msg, hint=INSTALL_HINT)
        self.dot_path = dot_path


def have_dot() -> bool:
    return shutil.which("dot") is not None


def pipe(dot: str, fmt: str) -> bytes:
    """Run ``dot -T<fmt>`` on the text; raises GraphvizMissing when ``dot`` is not installed."""
    import graphviz
    if not have_dot():
        raise GraphvizMissing(None)
    try:
        data = graphviz.Source(dot).pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise GraphvizMissing(None) from None
    except graphviz.CalledProcessError as e:   # dot refused the text: say what it said, write nothing
        said = (e.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise NetcError(f"Graphviz's dot could not draw this network: {said[0][:300] if said else e}",
                        hint="-o FILE.dot writes the DOT text") from None
    if not data:
        raise NetcError("Graphviz's dot drew nothing (no output, no message)", hint="-o FILE.dot writes the DOT text")
    # dot writes '-' as '&#45;' in SVG text; plain hyphens keep conv3-64 searchable
    return data.replace(b"&#45;", b"-") if fmt == "svg" else data


def to_svg(ir, **options) -> str:
    """The SVG text of a configuration (``to_dot`` options apply)."""
    return pipe(to_dot(ir, **options), "svg").decode("utf-8")


def render(ir, path: str | os.PathLike, fmt: str | None = None, **options) -> str:
    """Write the picture of ``ir`` to ``path`` (format from ``fmt`` or the suffix: svg, png, pdf, dot).

    Without Graphviz, writes the DOT text next to ``path`` (``out.dot``) and raises GraphvizMissing.
    Returns the path written.
    """
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".") or "svg").lower()
    if fmt not in FORMATS:
        raise ValueError(f"unknown picture format {fmt!r}; use one of {', '.join(FORMATS)}")
    check_target(path)
    dot = to_dot(ir, **options)
    if fmt == "dot":
        write_atomic(path, dot)          # a temporary file renamed over the target: never half a file
        return str(path)
    drawn = len(_NODE.findall(dot))
    if drawn > MAX_DRAWN:
        raise NetcError(f"the picture would have {drawn:,} nodes; Graphviz takes minutes and gigabytes past "
                        f"{MAX_DRAWN:,}", hint="draw blocks as boxes (--depth 1), runs as one node (--collapse-repeats), "
                                               "or write the DOT text (-o FILE.dot)")
    try:
        data = pipe(dot, fmt)
    except GraphvizMissing:
        fallback = path.with_suffix(".dot")
        write_atomic(fallback, dot)
        raise GraphvizMissing(str(fallback)) from None
    write_atomic(path, data)
    return str(path)
