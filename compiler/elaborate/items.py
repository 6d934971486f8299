"""The elaborated items a configuration resolves to: layers, branch groups, block instances and
side outputs, before they become IR nodes (what :mod:`netc.elaborate.resolve` builds and :mod:`netc.ir` reads).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace as dc_replace
from typing import Any, Union

from netc.dsl.errors import NetcError, Span

from netc.kinds import DEFAULT, Kind

from netc.kinds.params import BNParams


class _Named:
    """An item named with `as NAME` (``name``) or by the naming pass (``auto``)."""
    name: str | None
    auto: str

    @property
    def local(self) -> str:
        return self.name or self.auto


@dataclass(eq=False)
class LayerItem(_Named):
    kind: Kind
    params: Any
    word: str
    span: Span
    name: str | None = None          # written with `as`
    name_span: Span | None = None
    auto: str = ""                   # assigned by naming
    attach: "LayerItem | None" = None  # a bn expanded from conv(bn=true) names itself after the conv
    arg_spans: dict = field(default_factory=dict)   # parameter -> where its value is written (errors point there)


@dataclass(eq=False)
class GroupItem(_Named):
    op: str                          # as written: concat, add, mul, residual
    branches: list[list["Item"]]
    span: Span
    name: str | None = None
    name_span: Span | None = None
    auto: str = ""
    kind: Any = None                 # the join Kind
    params: Any = None


@dataclass(eq=False)
class RefItem:
    """``from NAME``: what follows reads the output of the earlier layer NAME."""
    target: str
    span: Span
    name: str | None = None
    auto: str = ""

    @property
    def local(self) -> str:
        return self.target


@dataclass(eq=False)
class BlockItem(_Named):
    block: str
    args: dict
    label: str
    body: list["Item"]
    span: Span
    name: str | None = None
    name_span: Span | None = None
    auto: str = ""


@dataclass(eq=False)
class AuxItem:
    name: str
    target: str
    target_span: Span
    weight: float
    body: list["Item"]
    span: Span


@dataclass
class OutputsItem:
    """``outputs p3, p4 as stride16``: (target, its span, key, the key's span) per output, in order."""
    entries: list[tuple[str, Span, str, Span]]
    span: Span
    broken: bool = False     # an error was reported about it: no follow-on errors about what it reaches


Item = Union[LayerItem, GroupItem, BlockItem]


@dataclass
class InputSpec:
    height: int | str
    width: int | str
    channels: int
    span: Span | None = None
    tokens: bool = False     # token ids (``input tokens L``): the length is ``height``, width 1

    @property
    def fixed(self) -> bool:
        return isinstance(self.height, int) and isinstance(self.width, int)


@dataclass
class Resolved:
    """A configuration after elaboration: what the IR builder consumes."""
    name: str
    filename: str
    span: Span
    input: InputSpec
    items: list[Item]
    aux: list[AuxItem]
    vars: dict[str, Any]
    output: str = "logits"
    naming: str = "stage"
    errors: list[NetcError] = field(default_factory=list)
    registry: Any = None
    outputs: OutputsItem | None = None    # several named outputs (None: the last layer is the one output)


def expand_bn(conv: LayerItem) -> list[LayerItem]:
    """conv(bn=true) -> a conv without activation, then a bn that carries it (named <conv>_bn);
    conv(bn=frozen) -> the same with a frozen batch norm (``frozen-bn``, eps from bn_eps)."""
    p = conv.params
    c = dc_replace(conv, params=p.model_copy(update={"bn": False, "act": "none"}))
    if p.bn == "frozen":
        bn_kind = DEFAULT["frozen-bn"]
        bn_params = bn_kind.Params(eps=p.bn_eps, act=p.act)
    else:
        bn_kind, bn_params = DEFAULT["bn"], BNParams(eps=p.bn_eps, momentum=p.bn_momentum, act=p.act)
    bn = LayerItem(bn_kind, bn_params, "bn", conv.span, attach=c)
    if conv.name is not None:
        bn.name = f"{conv.name}_bn"
    return [c, bn]


def count_layers(items: list) -> int:
    """How many IR nodes the items expand to: layers, joins, and an empty block's identity."""
    n, todo = 0, [items]
    while todo:
        for x in todo.pop():
            if isinstance(x, LayerItem):
                n += 1
            elif isinstance(x, GroupItem):
                n += 1
                todo.extend(x.branches)
            elif isinstance(x, BlockItem):
                n += 0 if x.body else 1
                todo.append(x.body)
    return n


def copy_item(x):
    if isinstance(x, LayerItem):
        return dc_replace(x, auto="")
    if isinstance(x, GroupItem):
        return dc_replace(x, branches=[[copy_item(i) for i in b] for b in x.branches], auto="")
    if isinstance(x, BlockItem):
        return dc_replace(x, body=[copy_item(i) for i in x.body], auto="")
    return x
