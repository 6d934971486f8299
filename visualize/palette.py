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

RESIZE = Style("#e6f4ea", "#2f7d5b")
ATTENTION = Style("#fde2ef", "#a1306b")
EMBED = Style("#e8eaf6", "#3949ab")
CUSTOM = Style("#ffffff", "#555555")

#: diagram family (a kind's ``family``, netc.kinds) -> style; a test checks every kind's family is here
FAMILY_STYLES: dict[str, Style] = {
    "conv": CONV, "fc": FC, "pool": POOL, "pyramid": SPP, "norm": NORM, "drop": DROP, "act": ACT, "join": JOIN,
    "resize": RESIZE, "attention": ATTENTION, "embed": EMBED, "input": INPUT, "custom": CUSTOM, "block": BLOCK,
}


#: diff highlights (``to_dot(..., highlight=...)``): status -> (fill, border)
HIGHLIGHT: dict[str, Style] = {
    "added": Style("#b6e3b0", "#2e7d32"),
    "changed": Style("#ffd699", "#c77700"),
    "moved": Style("#ffffff", "#d81b60"),   # white with a magenta border: unlike any layer kind
    "removed": Style("#ffffff", "#9e9e9e"),
}


def style_for(kind) -> Style:
    """The style of a layer kind (a Kind or its name; ``"block"`` for a collapsed block)."""
    if kind == "block":
        return BLOCK
    if isinstance(kind, str):
        from netc.kinds import DEFAULT
        kind = DEFAULT.get(kind)
    return FAMILY_STYLES.get(getattr(kind, "family", None), NEUTRAL)
