"""The syntax tree of a .net file. Plain dataclasses; each node keeps its :class:`Span`.

Grammar rule ``layer`` builds :class:`Layer`, ``config_def`` builds :class:`Config`, and so on:
one rule, one transformer method, one class.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields
from typing import Union

from .errors import Span


def node(cls):
    """A node class: a dataclass whose ``==`` and ``repr`` are the two functions below, shared by
    every node, where ``@dataclass`` would write and compile a pair for each class (a tenth of
    what importing netc cost). They compare and show what a dataclass's would: the fields, in order."""
    cls = dataclass(eq=False, repr=False)(cls)
    cls.__eq__, cls.__repr__, cls.__hash__ = _eq, _repr, None
    return cls


@functools.lru_cache(maxsize=None)
def _compared(cls) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.compare)


def _eq(self, other):
    if other.__class__ is not self.__class__:
        return NotImplemented
    names = _compared(self.__class__)
    return tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names)


def _repr(self) -> str:
    shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)
    return f"{self.__class__.__qualname__}({shown})"


# ---------------------------------------------------------------- values
@node
class Number:
    """A number as written (``64``, ``0.5``, ``1e-5``); ``text`` keeps its spelling for the formatter."""
    value: int | float
    span: Span
    text: str = ""


@node
class Bool:
    """``true`` or ``false``."""
    value: bool
    span: Span


@node
class Ident:
    """A bare word in a value position: a variable, a block parameter, or an enum (relu, bn)."""
    name: str
    span: Span


@node
class String:
    """A quoted string, without its quotes (``"common.net"``)."""
    value: str
    span: Span


@node
class ListValue:
    """``[4, 2, 1]``: a list of values."""
    items: list["Value"]
    span: Span


@node
class BinOp:
    """Arithmetic, comparison or logic on two values: ``c * 4``, ``c / 4`` (integer division when
    both are whole numbers), ``s == 1``, ``a and b``."""
    op: str
    left: "Value"
    right: "Value"
    span: Span


@node
class Not:
    """``not VALUE``."""
    value: "Value"
    span: Span


@node
class Call:
    """A helper applied to values: ``make_divisible(c * t, 8)``, ``min(a, b)``."""
    name: str
    args: list["Value"]
    span: Span


@node
class Paren:
    """``(expr)``, kept so that the formatter writes the parentheses back."""
    value: "Value"
    span: Span


Value = Union[Number, Bool, Ident, String, ListValue, BinOp, Not, Call, Paren]


@node
class Arg:
    """One argument of a layer or block call: ``k=3`` (``name`` 'k') or a positional ``64``."""
    name: str | None          # None for a positional argument
    value: Value
    span: Span


# ---------------------------------------------------------------- statements
@node
class Layer:
    """One layer (or block call) as written: ``conv3-64(bias=false) x2 as foo``, ``cnblock(c, i) x n for i``."""
    word: str
    word_span: Span
    span: Span
    args: list[Arg] | None = None       # None: no parentheses; []: empty parentheses
    list_arg: ListValue | None = None   # spp[4,2,1]
    repeat: int = 1
    repeat_span: Span | None = None
    name: str | None = None
    name_span: Span | None = None
    repeat_value: "Value | None" = None   # x n, x(n-1): counted by a variable or an expression
    index: str | None = None             # x n for i: the copies are numbered i = 0 ... n-1
    index_span: Span | None = None


@node
class Ref:
    """``from NAME``: what follows on the line reads the output of the earlier layer NAME."""
    target: str
    span: Span
    target_span: Span | None = None


@node
class Chain:
    """Layers joined by ``->`` (or a single layer): a sequence written on one line; it may start
    with ``from NAME``."""
    layers: list[Layer | Ref]
    span: Span


@node
class Group:
    """``concat { ... }``, ``add { ... }``, any join: each line is a branch fed by the group's input."""
    op: str
    branches: list[list["Stmt"]]
    span: Span
    name: str | None = None
    name_span: Span | None = None
    args: list["Arg"] | None = None     # concat(crop)
    op_span: Span | None = None


@node
class If:
    """``if COND { ... } else { ... }``: layers chosen by block parameters and variables."""
    cond: "Value"
    then: list["Stmt"]
    orelse: list["Stmt"] | None
    span: Span


@node
class Let:
    """``let NAME = VALUE``: a name for a value inside a block or configuration."""
    name: str
    value: "Value"
    span: Span


@node
class Aux:
    """``aux loss1 on 4a weight 0.3 { ... }``: a side output fed by the named layer."""
    name: str
    target: str
    weight: Value | None
    body: list["Stmt"]
    span: Span
    target_span: Span | None = None


@node
class Outputs:
    """``outputs p3, p4 as stride16, pool``: the network returns these layers' outputs, in this order,
    each under its key (the layer's name unless ``as KEY`` gives one)."""
    targets: list[tuple[str, Span]]
    keys: list[tuple[str | None, Span | None]]
    span: Span


@node
class Assign:
    """``num_classes = 20`` inside a configuration: overrides a declared variable."""
    name: str
    value: Value
    span: Span


@node
class Replace:
    """``replace conv1_1, conv1_2 with conv3-32``: in a configuration that extends another."""
    targets: list[tuple[str, Span]]
    chain: Chain
    span: Span


@node
class Remove:
    """``remove fc7, drop7``: in a configuration that extends another."""
    targets: list[tuple[str, Span]]
    span: Span


@node
class Insert:
    """``insert bn after conv1``: in a configuration that extends another."""
    chain: Chain
    position: str            # "after" | "before"
    target: str
    target_span: Span
    span: Span


@node
class InputStmt:
    """``input 224x224 RGB``: the input's size (numbers or names) and channels."""
    height: int | str
    width: int | str
    channels: str | None
    span: Span
    channels_span: Span | None = None
    tokens: bool = False     # ``input tokens 2048`` / ``input tokens L``: token ids, the length in height


@node
class OutputStmt:
    """``output logits`` or ``output probs``: what the network returns."""
    mode: str
    span: Span


@node
class NamingStmt:
    """``naming stage`` (conv1_1, conv1_2 ...) or ``naming sequential`` (conv1 ... conv5, fc6): how layers are named."""
    scheme: str
    span: Span


@node
class DefaultsStmt:
    """``defaults conv(bn=true)``: arguments every layer of a kind gets unless it gives its own."""
    kind: str
    args: list[Arg]
    span: Span


Setting = Union[InputStmt, OutputStmt, NamingStmt, DefaultsStmt]
Stmt = Union[Chain, Group, Aux, Outputs, Assign, Replace, Remove, Insert, InputStmt, OutputStmt,
             NamingStmt, DefaultsStmt, If, Let]


# ---------------------------------------------------------------- top level
@node
class Include:
    """``include "common.net"``: another file's blocks and variables."""
    path: str
    span: Span


@node
class VarDecl:
    """``var num_classes = 1000``: a variable a configuration may override."""
    name: str
    value: Value
    span: Span


@node
class Param:
    """One parameter of a block definition, with its default value if it has one."""
    name: str
    default: Value | None
    span: Span


@node
class BlockDef:
    """``block NAME(params) { ... }``: a block, called like a layer."""
    name: str
    params: list[Param]
    body: list[Stmt]
    span: Span
    name_span: Span | None = None


@node
class Config:
    """``config NAME [extends BASE] { ... }``: one network."""
    name: str
    body: list[Stmt]
    span: Span
    base: str | None = None
    base_span: Span | None = None
    default: bool = False
    name_span: Span | None = None


@node
class Row:
    """One table row. ``cells`` has one entry per column (None: no layer in that column),
    or a single entry when the row spans all columns."""
    cells: list[Chain | None]
    span: Span
    spanning: bool = False


@node
class Table:
    """``table A | B | C { ... }``: several configurations side by side, one column each, as papers print them."""
    columns: list[tuple[str, Span]]
    rows: list[Row]
    span: Span


Item = Union[Include, VarDecl, BlockDef, Config, Table, Stmt]


@node
class Module:
    """A parsed .net file."""
    items: list[Item]
    span: Span
    filename: str = "<string>"
    comments: list[tuple[int, str]] = field(default_factory=list)  # (line, text) of each comment

    # convenient views --------------------------------------------------
    @property
    def blocks(self) -> list[BlockDef]:
        return [i for i in self.items if isinstance(i, BlockDef)]

    @property
    def configs(self) -> list[Config]:
        return [i for i in self.items if isinstance(i, Config)]

    @property
    def tables(self) -> list[Table]:
        return [i for i in self.items if isinstance(i, Table)]

    @property
    def includes(self) -> list[Include]:
        return [i for i in self.items if isinstance(i, Include)]
