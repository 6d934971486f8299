"""The syntax tree of a .net file. Plain dataclasses; each node keeps its :class:`Span`.

Grammar rule ``layer`` builds :class:`Layer`, ``config_def`` builds :class:`Config`, and so on:
one rule, one transformer method, one class.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from .errors import Span


# ---------------------------------------------------------------- values
@dataclass
class Number:
    value: int | float
    span: Span
    text: str = ""


@dataclass
class Bool:
    value: bool
    span: Span


@dataclass
class Ident:
    """A bare word in a value position: a variable, a block parameter, or an enum (relu, bn)."""
    name: str
    span: Span


@dataclass
class String:
    value: str
    span: Span


@dataclass
class ListValue:
    items: list["Value"]
    span: Span


@dataclass
class BinOp:
    """Arithmetic, comparison or logic on two values: ``c * 4``, ``c / 4`` (integer division when
    both are whole numbers), ``s == 1``, ``a and b``."""
    op: str
    left: "Value"
    right: "Value"
    span: Span


@dataclass
class Not:
    value: "Value"
    span: Span


@dataclass
class Call:
    """A helper applied to values: ``make_divisible(c * t, 8)``, ``min(a, b)``."""
    name: str
    args: list["Value"]
    span: Span


@dataclass
class Paren:
    """``(expr)``, kept so that the formatter writes the parentheses back."""
    value: "Value"
    span: Span


Value = Union[Number, Bool, Ident, String, ListValue, BinOp, Not, Call, Paren]


@dataclass
class Arg:
    name: str | None          # None for a positional argument
    value: Value
    span: Span


# ---------------------------------------------------------------- statements
@dataclass
class Layer:
    """One layer (or block call) as written: ``conv3-64(bias=false) x2 as foo``."""
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


@dataclass
class Ref:
    """``from NAME``: what follows on the line reads the output of the earlier layer NAME."""
    target: str
    span: Span
    target_span: Span | None = None


@dataclass
class Chain:
    """Layers joined by ``->`` (or a single layer): a sequence written on one line; it may start
    with ``from NAME``."""
    layers: list[Layer | Ref]
    span: Span


@dataclass
class Group:
    """``concat { ... }``, ``add { ... }``, any join: each line is a branch fed by the group's input."""
    op: str
    branches: list[list["Stmt"]]
    span: Span
    name: str | None = None
    name_span: Span | None = None
    args: list["Arg"] | None = None     # concat(crop)
    op_span: Span | None = None


@dataclass
class If:
    """``if COND { ... } else { ... }``: layers chosen by block parameters and variables."""
    cond: "Value"
    then: list["Stmt"]
    orelse: list["Stmt"] | None
    span: Span


@dataclass
class Let:
    """``let NAME = VALUE``: a name for a value inside a block or configuration."""
    name: str
    value: "Value"
    span: Span


@dataclass
class Aux:
    """``aux loss1 on 4a weight 0.3 { ... }``: a side output fed by the named layer."""
    name: str
    target: str
    weight: Value | None
    body: list["Stmt"]
    span: Span
    target_span: Span | None = None


@dataclass
class Assign:
    """``num_classes = 20`` inside a configuration: overrides a declared variable."""
    name: str
    value: Value
    span: Span


@dataclass
class Replace:
    targets: list[tuple[str, Span]]
    chain: Chain
    span: Span


@dataclass
class Remove:
    targets: list[tuple[str, Span]]
    span: Span


@dataclass
class Insert:
    chain: Chain
    position: str            # "after" | "before"
    target: str
    target_span: Span
    span: Span


@dataclass
class InputStmt:
    height: int | str
    width: int | str
    channels: str | None
    span: Span
    channels_span: Span | None = None


@dataclass
class OutputStmt:
    mode: str
    span: Span


@dataclass
class NamingStmt:
    scheme: str
    span: Span


@dataclass
class DefaultsStmt:
    kind: str
    args: list[Arg]
    span: Span


Setting = Union[InputStmt, OutputStmt, NamingStmt, DefaultsStmt]
Stmt = Union[Chain, Group, Aux, Assign, Replace, Remove, Insert, InputStmt, OutputStmt,
             NamingStmt, DefaultsStmt, If, Let]


# ---------------------------------------------------------------- top level
@dataclass
class Include:
    path: str
    span: Span


@dataclass
class VarDecl:
    name: str
    value: Value
    span: Span


@dataclass
class Param:
    name: str
    default: Value | None
    span: Span


@dataclass
class BlockDef:
    name: str
    params: list[Param]
    body: list[Stmt]
    span: Span
    name_span: Span | None = None


@dataclass
class Config:
    name: str
    body: list[Stmt]
    span: Span
    base: str | None = None
    base_span: Span | None = None
    default: bool = False
    name_span: Span | None = None


@dataclass
class Row:
    """One table row. ``cells`` has one entry per column (None: no layer in that column),
    or a single entry when the row spans all columns."""
    cells: list[Chain | None]
    span: Span
    spanning: bool = False


@dataclass
class Table:
    columns: list[tuple[str, Span]]
    rows: list[Row]
    span: Span


Item = Union[Include, VarDecl, BlockDef, Config, Table, Stmt]


@dataclass
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
