"""One palette for every picture netc draws: layer kind -> (fill, border).

Light fills with dark borders and black text, so a diagram stays readable printed in grey;
the families differ in lightness as well as hue (convolutions blue, pooling red, fully
connected violet, normalisation yellow, regularisation grey).

>>> style_for("conv").fill
'#cfe2f3'
>>> style_for("my_custom_layer").fill   # unknown kinds get the neutral style
'#ffffff'
"""
from __future__ import annotations

from dataclasses import dataclass

FONT = "Helvetica,Arial,sans-serif"
EDGE = "#555555"
CLUSTER_FILL = "#f7f9fc"
CLUSTER_BORDER = "#8c9bb0"
AUX_BORDER = "#9a7b4f"
MUTED = "#555555"          # secondary text: names, shapes, params


@dataclass(frozen=True)
class Style:
    fill: str
    border: str
    shape: str = "box"
    rounded: bool = True


CONV = Style("#cfe2f3", "#3d6f9e")
FC = Style("#d9d2e9", "#5e4b8b")
POOL = Style("#f4cccc", "#a64d4d")
SPP = Style("#fce5cd", "#b45f06")
NORM = Style("#fff2cc", "#a6892d")
DROP = Style("#eeeeee", "#888888")
ACT = Style("#d9ead3", "#4e7a3e")
JOIN = Style("#ffffff", "#555555", shape="box", rounded=True)
INPUT = Style("#ffffff", "#333333", shape="box", rounded=False)
BLOCK = Style("#d0e0e3", "#2f5f66")
NEUTRAL = Style("#ffffff", "#555555")

KIND_STYLES: dict[str, Style] = {
    "conv": CONV,
    "fc": FC,
    "maxpool": POOL, "avgpool": POOL, "gap": POOL, "gmp": POOL, "adaptive_avgpool": POOL,
    "spp": SPP,
    "lrn": NORM, "bn": NORM,
    "dropout": DROP, "flatten": DROP, "identity": DROP,
    "relu": ACT, "sigmoid": ACT, "tanh": ACT, "softmax": ACT,
    "concat": JOIN, "add": JOIN,
    "input": INPUT,
    "block": BLOCK,
}

#: diff highlights (``to_dot(..., highlight=...)``): status -> (fill, border)
HIGHLIGHT: dict[str, Style] = {
    "added": Style("#b6e3b0", "#2e7d32"),
    "changed": Style("#ffd699", "#c77700"),
    "moved": Style("#ffffff", "#d81b60"),   # white with a magenta border: unlike any layer kind
    "removed": Style("#ffffff", "#9e9e9e"),
}


def style_for(kind: str) -> Style:
    """The style of a layer kind (``"block"`` for a collapsed block)."""
    return KIND_STYLES.get(kind, NEUTRAL)
