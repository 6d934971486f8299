"""A spec file with its includes: every block, variable, setting and configuration it defines.

``Program.load(path)`` parses the file and the files it includes (relative to the including
file, never outside its directory tree unless allowed, never twice, never in a cycle).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from netc.dsl import ast
from netc.dsl.errors import (LimitError, NetcError, NetcErrors, Source, SpecError, Span, UsageError, did_you_mean,
                             raise_all)
from netc.dsl.parser import decode, parse
from netc.dsl.limits import LIMITS
from netc.kinds import DEFAULT

SETTINGS = (ast.InputStmt, ast.OutputStmt, ast.NamingStmt, ast.DefaultsStmt)



@dataclass
class ConfigEntry:
    """One configuration: written with ``config`` or as a column of a ``table``."""
    name: str
    span: Span
    body: list
    base: str | None = None
    base_span: Span | None = None
    default: bool = False
    table: ast.Table | None = None
    column: int | None = None
    own: bool = True          # defined in the root file (not an included one)
    settings: list = field(default_factory=list)   # input/output/naming/defaults of its file


@dataclass
class Program:
    filename: str
    module: ast.Module
    blocks: dict[str, ast.BlockDef] = field(default_factory=dict)
    vars: dict[str, ast.VarDecl] = field(default_factory=dict)
    configs: dict[str, ConfigEntry] = field(default_factory=dict)
    errors: list[NetcError] = field(default_factory=list)
    included: set = field(default_factory=set)   # files already read: a diamond reads each once
    # layer parameters validated for any configuration of this file, by (model, values): frozen,
    # so configurations share them (netc.elaborate.resolve; VGG's seven repeat the same 25 layers)
    validated: dict = field(default_factory=dict, repr=False, compare=False)

    # -------------------------------------------------------------- loading
    @classmethod
    def load(cls, path: str | os.PathLike, allow_outside: bool | None = None) -> "Program":
        path = Path(path)
        if not path.is_file():
            raise UsageError(f"no such spec file: {path}")
        return cls.from_text(_read(path, str(path)), str(path), allow_outside=allow_outside)

    @classmethod
    def from_text(cls, text: str, filename: str = "<string>", allow_outside: bool | None = None) -> "Program":
        module = parse(text, filename)
        prog = cls(filename, module)
        here = Path(filename).resolve().parent if filename not in ("<string>", "-", "<stdin>") else Path.cwd()
        outside = LIMITS["include_outside_tree"] if allow_outside is None else allow_outside
        prog._take(module, own=True, here=here, root=here, seen={_key(filename)}, depth=0, outside=outside)
        prog._default_config_check()
        return prog

    def _take(self, module: ast.Module, own: bool, here: Path, root: Path, seen: set, depth: int, outside: bool):
        top_stmts: list = []
        settings = [i for i in module.items if isinstance(i, SETTINGS)]
        for item in module.items:
            if isinstance(item, ast.Include):
                self._include(item, here, root, seen, depth, outside)
            elif isinstance(item, ast.VarDecl):
                self._define(self.vars, item.name, item, "variable")
            elif isinstance(item, ast.BlockDef):
                if DEFAULT.lookup_word(item.name) is not None:
                    self.errors.append(SpecError(
                        f"block '{item.name}' has the name of a built-in layer", item.name_span or item.span,
                        hint=f"rename the block: '{item.name}' already means the built-in layer"))
                self._define(self.blocks, item.name, item, "block")
            elif isinstance(item, ast.Config):
                self._add_config(ConfigEntry(item.name, item.name_span or item.span, item.body, item.base,
                                             item.base_span, item.default, own=own, settings=settings))
            elif isinstance(item, ast.Table):
                self._add_table(item, own, settings)
            elif isinstance(item, SETTINGS):
                pass                            # carried by each configuration of this file (settings)
            else:
                top_stmts.append(item)
        if top_stmts and own:
            name = "main"
            span = top_stmts[0].span
            self._add_config(ConfigEntry(name, span, top_stmts, default=not any(c.default for c in self.configs.values()),
                                         own=True, settings=settings))

    def _include(self, inc: ast.Include, here: Path, root: Path, seen: set, depth: int, outside: bool):
        if depth + 1 > LIMITS["max_include_depth"]:
            self.errors.append(LimitError(f"includes nest deeper than {LIMITS['max_include_depth']} files", inc.span))
            return
        if not inc.path.endswith(".net"):
            self.errors.append(SpecError(f"can only include .net files, not {inc.path!r}", inc.span))
            return
        target = (here / inc.path).resolve()
        if not outside and not _inside(target, root):
            self.errors.append(SpecError(f"include {inc.path!r} leaves the directory of the including file",
                                         inc.span, hint="to allow it: --allow-include-outside, or "
                                                        "netc.LIMITS['include_outside_tree'] = True in Python"))
            return
        key = _key(str(target))
        if key in seen:
            self.errors.append(SpecError(f"include cycle: {inc.path!r} is already being included", inc.span))
            return
        if not target.is_file():
            self.errors.append(SpecError(f"included file not found: {inc.path!r}", inc.span,
                                         hint="paths are relative to the including file"))
            return
        if key in self.included:   # included before (a library two files use): one definition, read once
            return
        self.included.add(key)
        try:
            sub = parse(_read(target, str(target)), str(target))
        except UsageError as e:
            self.errors.append(SpecError(f"cannot read included file {inc.path!r}: {e.message}", inc.span))
            return
        except NetcError as e:
            for x in (e.errors if isinstance(e, NetcErrors) else [e]):
                self.errors.append(x.note("in the file included here", inc.span))
            return
        before = len(self.errors)
        self._take(sub, own=False, here=target.parent, root=root, seen=seen | {key}, depth=depth + 1,
                   outside=outside)
        for x in self.errors[before:]:
            x.note("in the file included here", inc.span)

    def _define(self, table: dict, name: str, item, what: str):
        if name in table:
            prev = table[name]
            self.errors.append(SpecError(f"{what} '{name}' is defined twice", getattr(item, "name_span", None) or item.span,
                                         hint=f"the first definition is at {prev.span}"))
            return
        table[name] = item

    def _add_config(self, entry: ConfigEntry):
        if entry.name in self.configs:
            prev = self.configs[entry.name]
            self.errors.append(SpecError(f"configuration '{entry.name}' is defined twice", entry.span,
                                         hint=f"the first definition is at {prev.span}"))
            return
        self.configs[entry.name] = entry

    def _add_table(self, table: ast.Table, own: bool, settings: list):
        n = len(table.columns)
        for row in table.rows:
            if not row.spanning and len(row.cells) != n:
                self.errors.append(SpecError(
                    f"this row has {len(row.cells)} cells but the table has {n} columns", row.span,
                    hint="a row written without '|' spans every column; otherwise give one cell per column"))
        for i, (col, span) in enumerate(table.columns):
            self._add_config(ConfigEntry(col, span, [], table=table, column=i, own=own, settings=settings))

    def _default_config_check(self):
        defaults = [c for c in self.configs.values() if c.default and c.own]
        for extra in defaults[1:]:
            self.errors.append(SpecError(f"more than one default configuration ('{defaults[0].name}' and "
                                         f"'{extra.name}')", extra.span))

    # -------------------------------------------------------------- queries
    def own_configs(self) -> list[str]:
        return [n for n, c in self.configs.items() if c.own]

    def default_config(self) -> str | None:
        own = [c for c in self.configs.values() if c.own]
        for c in own:
            if c.default:
                return c.name
        return own[0].name if len(own) == 1 else None

    def config(self, name: str | None) -> ConfigEntry:
        if name is None:
            name = self.default_config()
            if name is None and not self.own_configs():
                raise self.no_network()
            if name is None:
                raise UsageError(f"{self.filename} has several configurations; name one: "
                                 + ", ".join(self.own_configs()))
        if name not in self.configs:
            raise UsageError(f"{self.filename} has no configuration '{name}'",
                             hint=did_you_mean(name, self.configs) or
                             ("configurations: " + ", ".join(self.own_configs()) if self.configs else None))
        return self.configs[name]

    def same_as(self, name: str) -> str | None:
        """The base of a configuration that only names it (``config B extends A {}`` in A's file):
        its network is the base's, so a check of 500 such configurations builds one."""
        e = self.configs.get(name)
        base = self.configs.get(e.base) if e is not None and e.base is not None else None
        if base is None or e.body or e.table is not None or e.settings is not base.settings or e.base == name:
            return None
        return e.base

    def no_network(self) -> SpecError:
        """The error for a file that defines no configuration (empty, or only blocks and settings)."""
        n = len(self.blocks)
        what = f"it has {n} block{'s' * (n != 1)} but no layers outside them" if n else "it has no layers"
        src = self.module.span.source or Source(self.filename, "")
        return SpecError(f"no network to build: {what}", Span(src, 1, 1, 1, 1),
                         hint="write the layers after the input line (conv3-64 ...), or a config NAME { ... }")

    def raise_errors(self):
        raise_all(self.errors)


def _read(path: Path, name: str) -> str:
    """A spec file's text: UTF-8 (byte-order mark and CRLF/CR line ends are the parser's business);
    a file over ``LIMITS["max_file_bytes"]`` is refused after reading one byte more than the limit,
    and a byte that is not UTF-8 is a :class:`SpecSyntaxError` at its line and column."""
    try:
        with open(path, "rb") as f:
            data = f.read(LIMITS["max_file_bytes"] + 1)
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
    return decode(data, name)


def _key(path: str) -> str:
    try:
        return str(Path(path).resolve())
    except OSError:
        return path


def _inside(target: Path, root: Path) -> bool:
    try:
        target.relative_to(root)
        return True
    except ValueError:
        return False
