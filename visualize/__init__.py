"""Pictures and paper tables: pure functions of the IR (never imports torch).

>>> import netc
>>> from netc.visualize import to_dot
>>> "cluster_3a" in to_dot(netc.loads(SPEC_EXAMPLE))
True
"""
from __future__ import annotations

from .dot import fmt_shape, to_dot
from .render import FORMATS, GraphvizMissing, have_dot, pipe, render, to_svg
from .tables import family_table, row_table

SPEC_EXAMPLE = """input 32x32 RGB
block mix(a, b) { concat { conv1-a as one
                           conv3-b as three } }
conv3-16
mix(8, 8) as 3a
gap
FC-10
"""

__all__ = ["to_dot", "to_svg", "render", "pipe", "have_dot", "GraphvizMissing", "FORMATS", "fmt_shape",
           "family_table", "row_table"]
