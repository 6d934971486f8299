"""Deterministic layer names: VGG/Caffe style (conv1_1 ... conv5_3, pool5, fc6 ... fc8) or
sequential (conv1 ... conv5, fc6 ... fc8); explicit names always win.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from netc.elaborate.items import BlockItem, GroupItem, RefItem, LayerItem


@dataclass
class _NameState:
    scheme: str
    stage: int = 1
    conv: int = 0
    weight: int = 0
    last: str | None = None
    blocks: dict = field(default_factory=dict)
    used: set = field(default_factory=lambda: _Used())


def name_items(items: list, scheme: str = "stage") -> None:
    """Give every item without an explicit name a deterministic one (VGG/Caffe style).

    ``stage`` (default): conv{stage}_{i}, pool{stage}, fc{n} counting on from the stages, as VGG's
    conv1_1 ... conv5_3, pool5, fc6 ... fc8; ``sequential``: weight layers numbered 1, 2, ... as
    AlexNet's conv1 ... conv5, fc6 ... fc8. Other layers take the number of the weight layer before
    them (norm1, drop6). Inside a block the numbering starts afresh.
    """
    st = _NameState(scheme)
    _explicit(items, st.used)
    _name_seq(items, st, in_group=False)


def _explicit(items, used: set):
    for it in items:
        if it.name:
            used.add(it.name)
        if isinstance(it, GroupItem):
            for b in it.branches:
                _explicit(b, used)


class _Used(set):
    """Names taken so far, with the next suffix to try for each base (keeps naming linear)."""

    def __init__(self, *a):
        super().__init__(*a)
        self.next: dict[str, int] = {}


def _unique(base: str, used: set) -> str:
    name, n = base, getattr(used, "next", {}).get(base, 2)
    while name in used:
        name, n = f"{base}_{n}", n + 1
    used.add(name)
    if isinstance(used, _Used):
        used.next[base] = n
    return name


def _name_seq(items, st: _NameState, in_group: bool):
    for it in items:
        if isinstance(it, BlockItem):
            st.blocks[it.block] = st.blocks.get(it.block, 0) + 1
            if not it.name:
                it.auto = _unique(f"{it.block}_{st.blocks[it.block]}", st.used)
            name_items(it.body, st.scheme)
        elif isinstance(it, RefItem):
            continue
        elif isinstance(it, GroupItem):
            for b in it.branches:
                _name_seq(b, st, in_group=True)
            if not it.name:
                it.auto = _unique(it.op, st.used)
        else:
            _name_layer(it, st, in_group)


def _name_layer(it: LayerItem, st: _NameState, in_group: bool):
    k = it.kind
    if it.attach is not None and not it.name:
        it.auto = _unique(f"{it.attach.local}_{k.prefix}", st.used)
        return
    seq = st.scheme == "sequential"
    if k.role == "token":       # a transformer's layers are named by what they are: patch_embed, attention_2
        base = k.prefix
    elif k.role == "conv" or (k.weight and k.role != "fc"):
        if seq:
            st.weight += 1
            base, st.last = f"{k.prefix}{st.weight}", str(st.weight)
        else:
            st.conv += 1
            base, st.last = f"{k.prefix}{st.stage}_{st.conv}", f"{st.stage}_{st.conv}"
    elif k.role == "fc":
        if seq:
            st.weight += 1
            base, st.last = f"fc{st.weight}", str(st.weight)
        else:
            base, st.last = f"fc{st.stage}", str(st.stage)
            st.stage, st.conv = st.stage + 1, 0
    elif k.ends_stage:
        num = (st.last or str(st.stage)) if seq else str(st.stage)
        base = f"{k.prefix}{num}"
        if not seq and not in_group:
            st.stage, st.conv = st.stage + 1, 0
    elif k.role == "prob":
        base = "prob"
    else:
        tag = st.last if st.last is not None else ""
        base = f"{k.prefix}{tag.split('_')[0] if k.role == 'norm' and not seq else tag}"
    if it.name:
        return
    it.auto = _unique(base, st.used)
