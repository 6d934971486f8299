"""One configuration of a Program -> an elaborated, named item tree.

Blocks are expanded, repetitions unrolled, variables and block parameters substituted, layer
parameters validated (pydantic), inheritance edits applied, and every layer named
(``conv1_1`` ... ``fc8``; ``4a/3x3_reduce`` inside blocks). All errors are collected.
"""
from __future__ import annotations

import re
import typing
from typing import Any

from pydantic import ValidationError

from netc.dsl import ast
from netc.dsl.errors import LimitError, NetcError, SpecError, Span, UsageError, did_you_mean
from netc.dsl.limits import LIMITS

from netc.kinds import DEFAULT, Kind
from netc.elaborate.items import (AuxItem, BlockItem, GroupItem, InputSpec, LayerItem, OutputsItem, RefItem, Resolved,  # noqa: F401
                    copy_item, count_layers, expand_bn)
from netc.elaborate import expr
from netc.elaborate.bounds import MAX_NAME, Sizer, check_value, nonfinite_fields
from netc.elaborate.reserved import is_reserved, reserved_why
from netc.elaborate.naming import name_items
from netc.elaborate.specfile import SETTINGS, ConfigEntry, Program


CHANNELS = {"rgb": 3, "bgr": 3, "gray": 1, "grey": 1, "grayscale": 1, "greyscale": 1, "l": 1, "mono": 1,
            "rgba": 4}

# keyword spellings -> parameter names
ARG_ALIASES = {
    "c": "out", "channels": "out", "filters": "out", "num_output": "out", "features": "out",
    "out_channels": "out", "out_features": "out", "kernel": "k", "kernel_size": "k", "padding": "pad",
    "s": "stride", "ceil_mode": "ceil", "d": "dilation", "drop": "p", "local_size": "size",
    "activation": "act", "batchnorm": "bn", "momentum": "momentum", "level": "levels",
}


# ---------------------------------------------------------------- entry point
def resolve(prog: Program, config: str | None, overrides: dict[str, Any] | None = None,
            registry=None) -> Resolved:
    entry = prog.config(config)
    return _Resolver(prog, registry).run(entry, overrides or {})


class _Resolver:
    def __init__(self, prog: Program, registry=None):
        self.prog = prog
        self.registry = registry or DEFAULT
        self.errors: list[NetcError] = []
        self.count = 0
        self.over = False
        self.defaults: dict[str, list[ast.Arg]] = {}
        self.sizer = Sizer(prog.blocks)
        # the limits asked at every layer, read once (the call's limits hold for all of it)
        self.max_layers, self.max_repeat, self.max_depth = (LIMITS["max_layers"], LIMITS["max_repeat"],
                                                            LIMITS["max_depth"])
        # validated parameters by (model, values): 10,000 conv3-64 are validated once, and once
        # for all the configurations of a file. Only valid ones are kept (an error is reported at
        # each layer); models are frozen, and repeated layers (x N) shared theirs already
        self.validated: dict[tuple, Any] = prog.validated
        self.index_names: dict | None = None   # repetition indices of the program, found on demand

    def err(self, msg: str, span: Span | None, hint: str | None = None, cls=SpecError):
        self.errors.append(cls(msg, span, hint))

    # -------------------------------------------------------------- configurations
    def run(self, entry: ConfigEntry, overrides: dict) -> Resolved:
        lineage = self._lineage(entry)
        root = lineage[0]
        inp = InputSpec(224, 224, 3, None)
        out_mode, naming = "logits", "stage"
        # settings in order, later ones winning: each configuration's file, then its body, from the
        # first base down (a configuration extending one from an included file inherits that file's)
        settings: list = []
        files: list[list] = []            # each file's settings once, even if several configs share it
        for e in lineage:
            if e.settings and not any(f is e.settings for f in files):
                files.append(e.settings)
                self._single_input(e.settings)
                settings += e.settings
            body = [s for s in self._body(e) if isinstance(s, SETTINGS)]
            self._single_input(body)
            settings += body
        have_input = False
        for s in settings:
            if isinstance(s, ast.InputStmt):
                inp, have_input = self._input(s), True
            elif isinstance(s, ast.OutputStmt):
                out_mode = self._choice(s.mode, ("logits", "probs"), "output", s.span) or out_mode
            elif isinstance(s, ast.NamingStmt):
                naming = self._choice(s.scheme, ("stage", "sequential"), "naming", s.span) or naming
            elif isinstance(s, ast.DefaultsStmt):
                kind = self.registry.lookup_word(s.kind)
                if kind is None:
                    self.err(f"unknown layer '{s.kind}' in defaults", s.span,
                             did_you_mean(s.kind, self.registry.vocabulary()))
                else:
                    self.defaults.setdefault(kind[0].kind, []).extend(s.args)
        if not have_input:
            self.err("no input declared", entry.span, hint="add a line such as: input 224x224 RGB")

        env = self._variables(lineage, overrides)
        broken = root.base is not None   # an unknown or cyclic base was reported; don't cascade
        items = [] if broken else self._stmts(self._body(root), env, scope_blocks=(), allow_edits=False)
        aux = [a for a in items if isinstance(a, AuxItem)]
        outputs = self._one_outputs([i for i in items if isinstance(i, OutputsItem)])
        items = [i for i in items if not isinstance(i, (AuxItem, OutputsItem))]
        if not broken:
            for e in lineage[1:]:
                items, aux = self._derive(e, items, aux, env, naming)
                outputs = self._one_outputs([self._outputs(s) for s in e.body if isinstance(s, ast.Outputs)]) \
                    or outputs     # a derived configuration's outputs replace its base's
        if not broken and not items and not self.errors:
            self.err(f"configuration '{entry.name}' has no layers", entry.span,
                     hint="write its layers one per line, e.g. conv3-64")
        name_items(items, naming)
        for a in aux:
            name_items(a.body, naming)
        return Resolved(entry.name, self.prog.filename, entry.span, inp, items, aux, env, out_mode, naming,
                        self.errors, self.registry, outputs)

    def _one_outputs(self, found: list) -> "OutputsItem | None":
        for extra in found[1:]:
            self.err("outputs is declared twice", extra.span, hint=f"the first declaration is at {found[0].span}")
            found[0].broken = True
        return found[0] if found else None

    def _outputs(self, s: ast.Outputs) -> OutputsItem:
        entries, seen, broken = [], {}, False
        for (target, tspan), (key, kspan) in zip(s.targets, s.keys):
            key, kspan = (key, kspan) if key is not None else (target.rsplit("/", 1)[-1], tspan)
            if key in seen:
                self.err(f"two outputs are called '{key}'", kspan, hint=f"the first is at {seen[key]}; name one "
                                                                       f"with 'as KEY': outputs {target} as {key}_2")
                broken = True
                continue
            seen[key] = kspan
            entries.append((target, tspan, key, kspan))
        return OutputsItem(entries, s.span, broken)

    def _single_input(self, stmts: list) -> None:
        """One ``input`` per place: the file's top level, or one configuration's body (a derived
        configuration may still override its base's input)."""
        inputs = [s for s in stmts if isinstance(s, ast.InputStmt)]
        for extra in inputs[1:]:
            self.err("input is declared twice", extra.span, hint=f"the first declaration is at {inputs[0].span}")

    def _lineage(self, entry: ConfigEntry) -> list[ConfigEntry]:
        chain, seen = [entry], {entry.name}
        while chain[0].base is not None:
            base = chain[0].base
            if base in seen:
                self.err(f"configuration '{chain[0].name}' extends itself (through '{base}')", chain[0].base_span)
                break
            if base not in self.prog.configs:
                self.err(f"unknown configuration '{base}'", chain[0].base_span,
                         did_you_mean(base, self.prog.configs))
                break
            seen.add(base)
            chain.insert(0, self.prog.configs[base])
        return chain

    def _body(self, e: ConfigEntry) -> list:
        if e.table is None:
            return e.body
        out = []
        for row in e.table.rows:
            if row.spanning:
                out.append(row.cells[0])
            elif e.column < len(row.cells) and row.cells[e.column] is not None:
                out.append(row.cells[e.column])
        return out

    def _input(self, s: ast.InputStmt) -> InputSpec:
        if getattr(s, "tokens", False):
            if isinstance(s.height, int) and s.height < 1:
                self.err(f"input length must be at least 1 (got {s.height})", s.span)
            return InputSpec(s.height, 1, 1, s.span, tokens=True)
        ch = 3
        if s.channels is not None:
            key = s.channels.lower()
            if key in CHANNELS:
                ch = CHANNELS[key]
            elif key.endswith("ch") and key[:-2].isdigit() and int(key[:-2]) > 0:
                ch = int(key[:-2])
            else:
                self.err(f"unknown channel layout '{s.channels}'", s.channels_span or s.span,
                         did_you_mean(s.channels, ["RGB", "BGR", "gray", "grayscale", "RGBA"])
                         or "use RGB, BGR, gray or Nch (e.g. 4ch)")
        for d in (s.height, s.width):
            if isinstance(d, int) and d < 1:
                self.err(f"input size must be at least 1 (got {d})", s.span)
        h, w = s.height, s.width
        if isinstance(h, int) != isinstance(w, int):
            self.err("give both sides as numbers or both as names (224x224 or HxW)", s.span)
            h, w = (str(h), str(w))
        return InputSpec(h, w, ch, s.span)

    def _choice(self, value: str, options: tuple, what: str, span: Span) -> str | None:
        if value in options:
            return value
        self.err(f"unknown {what} '{value}'", span, did_you_mean(value, options) or f"use one of: {', '.join(options)}")
        return None

    def _variables(self, lineage: list[ConfigEntry], overrides: dict) -> dict:
        env: dict[str, Any] = {}
        for name, decl in self.prog.vars.items():
            env[name] = self._value(decl.value, {})
        for e in lineage:
            for s in self._body(e):
                if isinstance(s, ast.Assign):
                    if s.name not in env:
                        self.err(f"'{s.name}' is not a declared variable", s.span,
                                 did_you_mean(s.name, env) or f"declare it at the top: var {s.name} = ...")
                    else:
                        env[s.name] = self._value(s.value, env)
        for k, v in overrides.items():
            if k not in env:
                hint = did_you_mean(k, env) or (("variables: " + ", ".join(sorted(env))) if env else "this spec declares no variables")
                raise UsageError(f"{self.prog.filename}: there is no variable '{k}' to override", hint=hint)
            want, got = _kind_of(env[k]), _kind_of(v)
            if want != got and (want, got) != ("number", "whole number"):
                raise UsageError(f"cannot set {k}={_show(v)}: '{k}' is a {want} in the spec ({_show(env[k])})",
                                 hint=f"give a {want}, e.g. {k}={_show(env[k])}")
            env[k] = check_value(k, v, "cannot set")
        return env

    # -------------------------------------------------------------- inheritance edits
    def _derive(self, e: ConfigEntry, items: list, aux: list, env: dict, naming: str):
        if not any(isinstance(s, _EDITS) for s in e.body):
            return items, aux          # nothing to edit: no renaming (a chain of 500 stays linear)
        name_items(items, naming)
        by_name = {i.local: i for i in items}
        aux_by_name = {a.name: a for a in aux}
        items, aux = list(items), list(aux)

        replaced: dict[str, tuple[list, Span]] = {}   # base name -> what replaced it, and where

        def find(name: str, span: Span, position: str | None = None):
            if name in by_name and by_name[name] in items:
                return by_name[name]
            if name in replaced:
                new, where = replaced[name]
                live = [i for i in new if i in items]
                if position is not None and live:     # insert before/after a replaced layer: its replacement
                    return live[-1] if position == "after" else live[0]
                self.err(f"'{name}' was already replaced (at {where}); name the layers it was replaced with "
                         "by 'as NAME' to edit them", span)
                return None
            if name in by_name:
                self.err(f"'{name}' was already removed by an earlier edit", span)
                return None
            if "/" in name:
                self.err(f"cannot edit '{name}' inside a block instance; edit the block, or replace the whole "
                         f"instance '{name.split('/')[0]}'", span)
            else:
                self.err(f"'{name}' is not a layer of '{e.base}'", span, did_you_mean(name, by_name))
            return None

        for s in e.body:
            if isinstance(s, ast.Replace):
                targets = [find(n, sp) for n, sp in s.targets]
                if any(t is None for t in targets):
                    continue
                new = self._stmts([s.chain], env, (), allow_edits=False)
                for n, _ in s.targets:
                    replaced[n] = (new, s.span)
                targets += [i for i in items if getattr(i, "attach", None) in targets]   # a conv(bn=true)'s bn
                idx = sorted(items.index(t) for t in targets)
                at = idx[0]
                for i in reversed(idx):
                    del items[i]
                items[at:at] = new
            elif isinstance(s, ast.Remove):
                for n, sp in s.targets:
                    if n in aux_by_name and aux_by_name[n] in aux:
                        aux.remove(aux_by_name[n])
                        continue
                    t = find(n, sp)
                    if t is not None:
                        items.remove(t)
                        for b in [i for i in items if getattr(i, "attach", None) is t]:
                            items.remove(b)      # the batch norm of a conv(bn=true) goes with it
            elif isinstance(s, ast.Insert):
                t = find(s.target, s.target_span, s.position)
                if t is None:
                    continue
                new = self._stmts([s.chain], env, (), allow_edits=False)
                at = items.index(t) + (1 if s.position == "after" else 0)
                items[at:at] = new
            elif isinstance(s, ast.Aux):
                aux.append(self._aux(s, env))
            elif isinstance(s, (ast.Chain, ast.Group)):
                self.err(f"'{e.name}' extends '{e.base}', so it changes it with replace, remove or insert",
                         s.span, hint="for example: insert FC-10 after fc8, or: replace conv1_1 with conv5-64")
        return items, aux

    # -------------------------------------------------------------- statements
    def _stmts(self, stmts: list, env: dict, scope_blocks: tuple, allow_edits: bool) -> list:
        out: list = []
        for s in stmts:
            if not scope_blocks and isinstance(s, (ast.Chain, ast.Group)) and self._too_deep(s):
                continue
            if isinstance(s, ast.Chain):
                for layer in s.layers:
                    if isinstance(layer, ast.Ref):
                        out.append(RefItem(layer.target, layer.target_span or layer.span))
                    else:
                        out.extend(self._layer(layer, env, scope_blocks))
            elif isinstance(s, ast.Group):
                group = self._group(s, env, scope_blocks)
                if group is not None:
                    out.append(group)
                    self.count += not scope_blocks     # a join is a node; inside a block, its call counts it
            elif isinstance(s, ast.If):
                cond = self._value(s.cond, env)
                if not isinstance(cond, bool):
                    self.err(f"the condition of if must be true or false (got {_show(cond)})", s.cond.span,
                             hint="compare values: if s == 1 and cin == c { ... }")
                    continue
                chosen = s.then if cond else (s.orelse or [])
                out.extend(self._stmts(chosen, env, scope_blocks, allow_edits))
            elif isinstance(s, ast.Let):
                if s.name in env and scope_blocks == () and s.name in self.prog.vars:
                    self.err(f"'{s.name}' is a variable of the file; set it with {s.name} = ... in a configuration",
                             s.span)
                    continue
                env = {**env, s.name: self._value(s.value, env)}
            elif isinstance(s, ast.Aux):
                if scope_blocks:
                    self.err("side outputs (aux) belong in a configuration, not in a block", s.span)
                else:
                    out.append(self._aux(s, env))
            elif isinstance(s, ast.Outputs):
                if scope_blocks:
                    self.err("outputs belong in a configuration, not in a block", s.span,
                             hint="name the block's layers with 'as NAME' and list them in the configuration")
                else:
                    out.append(self._outputs(s))
            elif isinstance(s, (ast.Replace, ast.Remove, ast.Insert)):
                self.err(f"'{type(s).__name__.lower()}' edits a base configuration; use it in a configuration that "
                         "extends another", s.span, hint="config NEW extends OLD { replace ... }")
            elif isinstance(s, ast.Assign):
                if scope_blocks:
                    self.err("variables are set in configurations, not in blocks", s.span,
                             hint=f"name a value inside a block with let: let {s.name} = ...")
            elif isinstance(s, ast.InputStmt) and scope_blocks:
                self.err("input belongs in a configuration or at the top of the file", s.span)
            elif isinstance(s, ast.DefaultsStmt) and scope_blocks:
                self.err("defaults belong at the top of a file or in a configuration, not in a block", s.span,
                         hint="write the parameters on the layers of the block instead")
        return out

    def _group(self, s: ast.Group, env: dict, scope_blocks: tuple) -> GroupItem | None:
        kind = self.registry.join(s.op)
        if kind is None:
            joins = self.registry.joins()
            near = did_you_mean(s.op, joins)
            what = near.removeprefix("did you mean ").rstrip("?") if near else None
            self.err(f"unknown join '{s.op}'; " + (f"did you mean {what}?" if what else "use add { } or concat { }"),
                     s.op_span or s.span, "add { } sums its branches, concat { } stacks their channels, mul { } "
                     "multiplies them, residual { } adds its input" + ("" if what else
                                                                        f"; a configuration is written config {s.op} {{ }}"))
            return None
        params = self._bind(kind, ast.Layer(s.op, s.op_span or s.span, s.span, args=s.args), {}, env)
        if params is None:
            return None
        if kind.sequential_body:      # residual { ... }: the lines are one branch
            branches = [self._stmts([x for br in s.branches for x in br], env, scope_blocks, False)]
        else:
            branches = [self._stmts(b, env, scope_blocks, False) for b in s.branches]
            # a branch that is only `if`s, none of which chose anything, is no branch (not an identity)
            branches = [got for got, b in zip(branches, s.branches)
                        if got or not b or not all(isinstance(x, ast.If) for x in _flat(b))]
        if not any(branches):
            self.err(f"{s.op} needs at least one branch", s.span)
            return None
        return GroupItem(s.op, branches, s.span, self._own_name(s.name, s.name_span), s.name_span, kind=kind,
                         params=params)

    def _not_reserved(self, name: str, span: Span | None) -> None:
        """``forward``, ``to``, ``def``: a compiled model could not hold a layer of that name; and a
        name longer than ``MAX_NAME`` characters (Graphviz refuses labels beyond 16,384)."""
        if len(name) > MAX_NAME:
            self.err(f"a name of {len(name):,} characters; names have at most {MAX_NAME}", span,
                     cls=LimitError, hint=f"shorten it, e.g. {name[:20]}")
            return
        for part in name.split("/"):
            if is_reserved(part):
                self.err(f"'{part}' is reserved: {reserved_why(part)}", span,
                         hint=f"pick another name, e.g. {part.strip('_')}_layer; reserved are the Python keywords, "
                              "self, names that start with __ and the attributes of torch.nn.Module and of netc's "
                              "compiled module (netc.elaborate.reserved.RESERVED)")

    def _aux(self, s: ast.Aux, env: dict) -> AuxItem:
        self._not_reserved(s.name, s.span)
        weight = 1.0
        if s.weight is not None:
            w = self._value(s.weight, env)
            if isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0:
                self.err(f"the loss weight must be a number at least 0 (got {w!r})", s.weight.span)
            else:
                weight = float(w)
        body = self._stmts(s.body, env, (), False)
        if not body:
            self.err(f"side output '{s.name}' has no layers", s.span)
        return AuxItem(s.name, s.target, s.target_span or s.span, weight, body, s.span)

    def _repeat(self, layer: ast.Layer, env: dict) -> int | None:
        if layer.repeat_value is None:
            lo, n = 1, layer.repeat
        else:   # x n, x(n-1): zero repetitions are allowed (a stage of one block: first + x(n-1))
            if layer.index is not None and layer.index not in env and _names_in(layer.repeat_value, layer.index):
                self.err(f"the count of a repetition cannot read its own index '{layer.index}'",
                         layer.repeat_span or layer.span, hint=f"the copies are numbered 0 ... n-1 once n is known: "
                                                               f"{layer.word} x n for {layer.index}")
                return None
            lo, n = 0, self._value(layer.repeat_value, env)
            if isinstance(n, _BadValue):       # its expression was reported already
                return None
            if isinstance(n, bool) or not isinstance(n, int):
                self.err(f"a repetition count must be a whole number (got {_show(n)})",
                         layer.repeat_span or layer.span)
                return None
        if n < lo or n > self.max_repeat:
            self.err(f"repetition must be between {lo} and {self.max_repeat:,} (got {n:,})",
                     layer.repeat_span or layer.span, cls=LimitError)
            return None
        return n

    def _layer(self, layer: ast.Layer, env: dict, scope_blocks: tuple) -> list:
        repeat = self._repeat(layer, env)
        if layer.index is not None and not self._index_ok(layer, env):
            return []
        if not repeat:
            return []
        # outside blocks, every layer is counted (a block's call counts its body): first from the
        # syntax tree, before anything is expanded, then exactly
        if not scope_blocks and self._over(self.count + self.sizer.layer(layer)[0], layer):
            return []
        if layer.index is not None:
            return self._indexed(layer, env, scope_blocks, repeat)
        one = self._block(layer, env, scope_blocks) if layer.word in self.prog.blocks else self._builtin(layer, env)
        if not one:
            return []
        if not scope_blocks:
            self.count += count_layers(one) * repeat
            if self._over(self.count, layer):
                return []
        elif repeat > 1 and self._over(self.count + count_layers(one) * repeat, layer):
            return []     # inside a block too: a count from a variable (x n of x n) is not bounded before
        out = []
        for i in range(repeat):
            copies = one if i == 0 else [copy_item(x) for x in one]
            if repeat > 1 and layer.name is not None:
                head = copies[0]
                head.name = f"{layer.name}_{i + 1}"
            out.extend(copies)
        return out

    def _indexed(self, layer: ast.Layer, env: dict, scope_blocks: tuple, repeat: int) -> list:
        """``x n for i``: each copy elaborated with its own ``i`` (0 ... n-1) in the line's
        arguments (a block's body does not see it). The syntax tree bounded the count already
        (an index changes arguments, not how many layers a copy has, beyond a block's ``if``,
        which the bound takes at its smaller side); the copies are counted as they are made, so
        more than ``max_layers`` stops here, inside a block too."""
        out, made = [], 0
        is_block = layer.word in self.prog.blocks
        for i in range(repeat):
            before = len(self.errors)
            arg_env = {**env, layer.index: i}
            one = self._block(layer, env, scope_blocks, arg_env) if is_block else self._builtin(layer, arg_env)
            if len(self.errors) > before:       # reported once, at the first copy it happens in
                for e in self.errors[before:]:
                    e.note(f"in the copy {layer.index} = {i} of the repetition", layer.index_span)
                return []
            if not one:
                return []
            made += count_layers(one)
            if self._over(self.count + made, layer):
                return []
            if repeat > 1 and layer.name is not None:
                one[0].name = f"{layer.name}_{i + 1}"
            out.extend(one)
        if not scope_blocks:
            self.count += made
        return out

    def _index_ok(self, layer: ast.Layer, env: dict) -> bool:
        """``for i`` after a repetition: a plain name, not one that already means a value here."""
        name, span = layer.index, layer.index_span
        if layer.repeat_span is None and layer.repeat_value is None:
            self.err(f"'for {name}' numbers the copies of a repetition, and {layer.word} is not repeated", span,
                     hint=f"write the count first: {layer.word} x 3 for {name}")
            return False
        if not _PLAIN.fullmatch(name):
            self.err(f"an index is a plain name such as i, not '{name}'", span,
                     hint=f"for example: {layer.word} x n for i")
            return False
        if name in env:
            what = "the variable" if name in self.prog.vars else "the block parameter or let"
            free = next((c for c in ("i", "j", "k", "b", "idx") if c not in env), name + "_i")
            self.err(f"the index '{name}' would hide {what} '{name}' (= {_show(env[name])})", span,
                     hint=f"name the index differently: {layer.word} x ... for {free}")
            return False
        return True

    def _over(self, count: int, layer: ast.Layer) -> bool:
        if count <= self.max_layers:
            return False
        if not self.over:
            self.over = True
            self.err(f"more than {self.max_layers:,} layers", layer.span, cls=LimitError,
                     hint="every node counts: layers, joins, the identity of an empty block; "
                          "raise netc.LIMITS['max_layers'] if this is intended")
        return True

    def _too_deep(self, s) -> bool:
        """Blocks and branches nested deeper than ``max_depth`` once expanded (every stage walks
        the nesting), refused before expansion."""
        depth = self.sizer.depth(s)
        if depth <= self.max_depth:
            return False
        self.err(f"blocks and branches nest {depth} deep once expanded, more than {self.max_depth}",
                 s.span, cls=LimitError, hint="raise netc.LIMITS['max_depth'] if this is intended")
        return True

    def _builtin(self, layer: ast.Layer, env: dict) -> list:
        hit = self.registry.lookup_word(layer.word)
        if hit is None:
            cands = list(self.registry.vocabulary()) + list(self.prog.blocks)
            hint = did_you_mean(layer.word, cands) or did_you_mean(_head(layer.word), cands)
            if self.registry.join(layer.word) is not None:
                hint = f"{layer.word} joins branches: {layer.word} {{ ... }} with one branch per line"
            self.err(f"unknown layer '{layer.word}'", layer.word_span, hint)
            return []
        kind, from_word = hit
        params = self._bind(kind, layer, from_word, env)
        if params is None:
            return []
        item = LayerItem(kind, params, layer.word, layer.word_span, self._own_name(layer.name, layer.name_span),
                         layer.name_span, arg_spans=self._arg_spans)
        if getattr(params, "bn", False) in (True, "frozen"):   # conv(bn=true): a conv, then a batch norm
            return expand_bn(item)
        return [item]

    def _bind(self, kind: Kind, layer: ast.Layer, from_word: dict, env: dict):
        """Bind the arguments of one layer (or join) to its kind's parameters and validate them:
        defaults, then the paper word's values, then the list argument, positional and keyword
        arguments. Every problem is reported at its argument; None when any was found."""
        raw: dict[str, tuple[Any, Span, str]] = {}   # name -> (value, span, where it came from)
        ok = True
        self._arg_spans = {}
        for a in self.defaults.get(kind.kind, []):
            if a.name is None:
                self.err("defaults takes named parameters only", a.span)
                continue
            name = _alias(kind, a.name)
            if self._known(kind, name, a):
                raw[name] = (self._value(a.value, env), a.span, "defaults")
            else:
                ok = False
        for k, v in from_word.items():
            value = self._word_part(v, env, layer)
            if value is _BAD:
                return None
            raw[k] = (value, layer.word_span, "word")
        if layer.list_arg is None and not layer.args:     # nothing more to bind (most layers)
            return self._validate(kind, raw, layer) if ok else None
        positional = [p for p in kind.positional if p not in from_word]
        if layer.list_arg is not None:
            if not positional:
                self.err(f"{kind.kind} takes no list argument", layer.list_arg.span)
                ok = False
            else:
                first = positional[0]
                raw[first] = (self._value(layer.list_arg, env), layer.list_arg.span, "word")
                from_word = {**from_word, first: None}
        sig = _Signature(kind.kind, kind.kind, [p for p in kind.positional if p not in from_word],
                         list(kind.Params.model_fields), flags=_flags(kind.Params),
                         alias=lambda n: _alias(kind, n), known=lambda n, a: self._known(kind, n, a))
        sig.listed = _listed(kind)
        got = self._bind_args(sig, layer.args or [], env, preset={k for k, v in raw.items() if v[2] == "word"},
                              word=layer.word)
        if got is None:
            ok = False
        else:
            raw.update(got)
        if not ok:
            return None
        self._arg_spans = {k: v[1] for k, v in raw.items() if v[2] != "defaults"}
        return self._validate(kind, raw, layer)

    def _bind_args(self, sig: "_Signature", args: list[ast.Arg], env: dict, preset: set = frozenset(),
                   word: str = "") -> dict | None:
        """Bind call arguments to a signature, for layers and blocks alike: positional ones in order,
        keywords by name (or alias), bare words as true flags. Returns {name: (value, span, "arg")},
        or None when any argument was wrong (each reported at its place)."""
        out: dict[str, tuple[Any, Span, str]] = {}
        positional, ok, keyword_seen = list(sig.positional), True, False
        for a in args:
            name = a.name
            if name is None:
                flag = a.value.name if isinstance(a.value, ast.Ident) else None
                fname = sig.alias(flag) if flag else None
                if fname in (sig.flags or ()) and flag not in env:
                    name, value = fname, True
                elif flag is not None and flag not in env and sig.flags is not None and not \
                        isinstance(self._value(a.value, env), (int, float)):   # positional values are numbers
                    self.err(f"{sig.callee} has no flag '{flag}', and no variable '{flag}' is declared", a.span,
                             did_you_mean(flag, sig.flags + ["ceil_mode"] * ("ceil" in sig.flags) + list(env))
                             or f"parameters: {', '.join(sig.names) or 'none'}")
                    ok = False
                    continue
                elif keyword_seen:
                    self.err("a positional argument after a keyword argument", a.span,
                             hint=f"name it too: {sig.usage}")
                    ok = False
                    continue
                elif not positional:
                    self.err(f"too many positional arguments for {sig.callee}", a.span,
                             hint=self._too_many_hint(sig, args, env))
                    ok = False
                    break
                else:
                    name, value = positional.pop(0), self._value(a.value, env)
            else:
                keyword_seen = True
                name = sig.alias(name)
                value = self._value(a.value, env)
                if name in positional:
                    positional.remove(name)
            if not sig.known(name, a):
                ok = False
                continue
            if name in preset:
                self.err(f"'{word}' already sets {name}", a.span,
                         hint=f"write the keyword form instead: {sig.word}({name}=...)")
                ok = False
                continue
            if name in out:
                self.err(f"{name} is given twice", a.span)
                ok = False
                continue
            out[name] = (value, a.span, "arg")
        return out if ok else None

    def _too_many_hint(self, sig: "_Signature", args: list[ast.Arg], env: dict) -> str:
        if sig.listed:      # a kind whose first argument is a list: spp[6, 3, 2, 1]
            return f"write the {sig.listed} as a list: {sig.word}[" + ", ".join(
                str(self._value(x.value, env)) for x in args if x.name is None) + "]"
        taken = sig.positional
        return (f"{sig.word} takes {len(taken)} by position here ({', '.join(taken) or 'none'}); "
                f"name the rest: {sig.usage}")

    def _known(self, kind: Kind, name: str, a: ast.Arg) -> bool:
        fields = kind.Params.model_fields
        if name in fields or any(f.alias == name for f in fields.values()):
            return True
        aliases = [a for a, f in ARG_ALIASES.items() if f in fields]
        self.err(f"{kind.kind} has no parameter '{a.name or name}'", a.span,
                 did_you_mean(name, list(fields) + aliases) or f"parameters: {_fields(kind)}")
        return False

    def _validate(self, kind: Kind, raw: dict, layer: ast.Layer):
        data = {k: v[0] for k, v in raw.items()}
        key = _values_key(kind.Params, data)
        if key is not None:
            hit = self.validated.get(key)
            if hit is not None:
                return hit
        try:
            params = self._finite(kind.Params.model_validate(data), raw, layer)
            if params is not None and key is not None:
                self.validated[key] = params
            return params
        except ValidationError as e:
            for err in e.errors():
                field_name = str(err["loc"][0]) if err["loc"] else None
                given = raw.get(field_name) if field_name else None
                span = given[1] if given else layer.word_span
                value = given[0] if given else None
                if _has_bad(value):     # its expression was reported already: no second error for it
                    continue
                msg = pydantic_message(err)
                if err["type"] == "missing":
                    self.err(f"{layer.word}: missing parameter '{field_name}'", span,
                             hint=f"for example {kind.kind}({field_name}=...)")
                    continue
                hint = None
                if isinstance(value, str) and err["type"] in ("int_type", "int_parsing", "float_parsing", "float_type"):
                    hint = f"'{value}' is not a number or a declared variable"
                    hint = did_you_mean(value, self._names()) or hint
                where = f" {field_name}" if field_name and not msg.startswith(field_name) \
                    and err["type"] != "value_error" else ""
                got = f" (got {_show(value)})" if value is not None and "got" not in msg else ""
                self.err(f"{layer.word}:{where} {msg}{got}", span, hint)
            return None

    def _finite(self, params, raw: dict, layer: ast.Layer):
        """Infinity or NaN (``alpha=inf``, ``eps=1e999``) makes a model compute NaN: refused."""
        bad = nonfinite_fields(params)
        for f, must in bad:
            given = raw.get(f)
            self.err(f"{layer.word}: {f} {must} (got {_show(given[0]) if given else getattr(params, f)})",
                     given[1] if given else layer.word_span,
                     hint="infinity and NaN are not values a layer can take" if "finite" in must
                     else "no image is that large: torch takes 32-bit sizes")
        return None if bad else params

    def _indices(self) -> dict:
        """The repetition indices written anywhere in the program (``x n for i``): name -> the
        layers that declare it. Walked once, the first time a name is not found."""
        if self.index_names is None:
            found: dict[str, ast.Layer] = {}
            todo = [b.body for b in self.prog.blocks.values()] + [self._body(e) for e in self.prog.configs.values()]
            while todo:
                for s in todo.pop():
                    if isinstance(s, ast.Chain):
                        for layer in s.layers:
                            if isinstance(layer, ast.Layer) and layer.index is not None:
                                found.setdefault(layer.index, []).append(layer)
                    elif isinstance(s, ast.Group):
                        todo.extend(s.branches)
                    elif isinstance(s, ast.If):
                        todo += [s.then, s.orelse or []]
                    elif isinstance(s, ast.Aux):
                        todo.append(s.body)
                    elif isinstance(s, (ast.Replace, ast.Insert)):
                        todo.append([s.chain])
            self.index_names = found
        return self.index_names

    def _index_decl(self, name: str, span: Span | None) -> ast.Layer | None:
        """The layer declaring index ``name`` nearest before ``span`` in its file (else the first)."""
        decls = self._indices().get(name)
        if not decls:
            return None
        if span is not None:
            before = [d for d in decls if d.index_span.source == span.source and d.index_span.line <= span.line]
            if before:
                return max(before, key=lambda d: d.index_span.line)
        return decls[0]

    def _index_hint(self, name: str, span: Span | None = None) -> str | None:
        layer = self._index_decl(name, span)
        if layer is None:
            return None
        return (f"'{name}' is the index of the repetition on line {layer.index_span.line} "
                f"({layer.word} x ... for {name}): it exists only in that line's arguments; a block's body "
                f"reads it through a parameter: blk(c, {name}) x n for {name}")

    def _index_elsewhere(self, word: str, span: Span, env: dict) -> bool:
        """A bare word that names a repetition's index where no index is in scope (a block's body,
        another line): an error here, rather than a word that fails later as a value."""
        for part in re.split(r"[-/]", word):
            if part not in env and part in self._indices():
                layer = self._index_decl(part, span)
                self.err(f"'{part}' is used outside its repetition: it is the index of "
                         f"{layer.word} x ... for {part} (line {layer.index_span.line})", span,
                         hint="an index exists only in the arguments of its own line; a block's body reads it "
                              f"through a parameter: blk(c, {part}) x n for {part}")
                return True
        return False

    def _names(self) -> list[str]:
        return list(self.prog.vars)

    def _word_part(self, v, env: dict, layer: ast.Layer):
        """A number or variable inside a paper word (conv3-c/s, convk-c, FC-num_classes)."""
        if isinstance(v, list):
            parts = [self._word_part(x, env, layer) for x in v]
            return _BAD if any(x is _BAD for x in parts) else parts
        if isinstance(v, str):
            if v.isdigit():
                return int(v)
            if v in env:
                return env[v]
            self.err(f"unknown variable '{v}' in '{layer.word}'", layer.word_span,
                     self._index_hint(v, layer.word_span) or did_you_mean(v, list(env)) or "declare it: var NAME = VALUE, or use a number")
            return _BAD
        return v

    def _value(self, v: ast.Value, env: dict):
        """A value with variables, block parameters and arithmetic evaluated (never Python's eval:
        only the operators and helpers of :mod:`netc.elaborate.expr`)."""
        if isinstance(v, (ast.Number, ast.Bool, ast.String)):
            return v.value
        if isinstance(v, ast.ListValue):
            return [self._value(x, env) for x in v.items]
        if isinstance(v, ast.Paren):
            return self._value(v.value, env)
        try:
            if isinstance(v, ast.Ident):
                if v.name in env:
                    return env[v.name]
                out = expr.word_arithmetic(v.name, env)      # c/4 lexes as a word
                if out == v.name and self._index_elsewhere(v.name, v.span, env):
                    return _BadValue()
                return out
            if isinstance(v, ast.BinOp):
                return expr.binary(v.op, self._value(v.left, env), self._value(v.right, env))
            if isinstance(v, ast.Not):
                return expr.negate(self._value(v.value, env))
            if isinstance(v, ast.Call):
                return expr.call(v.name, [self._value(x, env) for x in v.args])
        except expr.ExprError as e:
            self.err(str(e), v.span, e.hint)
            return _BadValue()
        return None

    def _own_name(self, name: str | None, span: Span | None) -> str | None:
        """A name written with ``as``; '/' is kept for the path into a block instance."""
        if name is not None:
            self._not_reserved(name, span)
        if name is not None and "/" in name:
            self.err(f"a name cannot contain '/': '{name}'", span,
                     hint=f"'/' separates a block instance from its layers; write {name.replace('/', '_')}")
            return name.replace("/", "_")
        return name

    # -------------------------------------------------------------- blocks
    def _block(self, layer: ast.Layer, env: dict, scope_blocks: tuple, arg_env: dict | None = None) -> list:
        """One call of a block: its arguments read ``arg_env`` (the caller's names and a repetition's
        index), its body the caller's names and the bound parameters."""
        name = layer.word
        bdef = self.prog.blocks[name]
        if name in scope_blocks:
            self.err(f"block '{name}' uses itself", layer.word_span,
                     hint="blocks cannot be recursive: " + " -> ".join((*scope_blocks, name)))
            return []
        if len(scope_blocks) >= LIMITS["max_block_depth"]:
            self.err(f"blocks nest deeper than {LIMITS['max_block_depth']}", layer.word_span, cls=LimitError)
            return []
        params = [p.name for p in bdef.params]
        if layer.list_arg is not None:
            self.err(f"block '{name}' takes (arguments), not [a list]", layer.list_arg.span)
            return []

        def known(n: str, a: ast.Arg) -> bool:
            if n in params:
                return True
            self.err(f"block '{name}' has no parameter '{n}'", a.span,
                     did_you_mean(n, params) or f"{name}({', '.join(params)})")
            return False

        sig = _Signature(f"block '{name}'", name, params, params, flags=None, alias=lambda n: n, known=known)
        got = self._bind_args(sig, layer.args or [], env if arg_env is None else arg_env)
        ok = got is not None
        bound: dict[str, Any] = {k: v[0] for k, v in (got or {}).items()}
        for p in bdef.params if ok else ():
            if p.name not in bound:
                if p.default is None:
                    self.err(f"block '{name}' needs a value for '{p.name}'", layer.span,
                             hint=f"{name}({', '.join(params)})")
                    ok = False
                else:
                    bound[p.name] = self._value(p.default, env)
        if not ok:
            return []
        inner = {**env, **bound}
        before = len(self.errors)
        body = self._stmts(bdef.body, inner, (*scope_blocks, name), False)
        label = _call_label(name, bdef.params, bound, set(got or ()))
        for e in self.errors[before:]:   # errors in the body: say which call they came through
            e.note(f"in {label}, used here", layer.span)
        return [BlockItem(name, bound, label, body, layer.span, self._own_name(layer.name, layer.name_span),
                          layer.name_span)]


_BAD = object()   # a value that already produced an error
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")   # an index's name
_EDITS = (ast.Replace, ast.Remove, ast.Insert, ast.Aux, ast.Chain, ast.Group)   # ast.Outputs: read by run()


class _Signature:
    """What a call binds to: a layer kind's parameters or a block's."""

    def __init__(self, callee: str, word: str, positional: list[str], names: list[str], flags, alias, known):
        self.callee, self.word, self.positional, self.names = callee, word, positional, names
        self.flags, self.alias, self.known = flags, alias, known
        self.listed: str | None = None      # the first positional parameter, where it takes a list

    @property
    def usage(self) -> str:
        return f"{self.word}({', '.join(self.names)})" if self.callee.startswith("block") else \
            f"{self.word}(name=value); parameters: {', '.join(self.names) or 'none'}"


def _listed(kind: Kind) -> str | None:
    """The kind's first positional parameter where it holds a list (spp's levels), else None."""
    field = kind.Params.model_fields.get(kind.positional[0]) if kind.positional else None
    return kind.positional[0] if field is not None and typing.get_origin(field.annotation) in (tuple, list) else None


def _values_key(model, data: dict) -> tuple | None:
    """What decides a validated parameter model: the model and each value with its type (1, 1.0 and
    true are equal in Python, not here; -0.0 is not 0.0); None for a value of another type, or for a
    model that is not frozen (a custom one may allow changes, which must then stay with one layer)."""
    if not model.model_config.get("frozen"):
        return None
    key = [model]
    for name, v in data.items():
        k = _value_key(v)
        if k is None:
            return None
        key.append((name, k))
    return tuple(key)


def _value_key(v):
    t = type(v)
    if t is int or t is bool or t is str:
        return t, v
    if t is float:
        return t, v.hex()
    if t is list:
        items = tuple(_value_key(x) for x in v)
        return None if None in items else (t, items)
    return None


def _names_in(v, name: str) -> bool:
    """Whether value ``v`` reads the name ``name`` (``n - i`` reads i; a word ``i-1`` too)."""
    if isinstance(v, ast.Ident):
        return name in re.split(r"[-/]", v.name)
    if isinstance(v, ast.BinOp):
        return _names_in(v.left, name) or _names_in(v.right, name)
    if isinstance(v, (ast.Not, ast.Paren)):
        return _names_in(v.value, name)
    if isinstance(v, ast.Call):
        return any(_names_in(x, name) for x in v.args)
    if isinstance(v, ast.ListValue):
        return any(_names_in(x, name) for x in v.items)
    return False


def _has_bad(v) -> bool:
    return isinstance(v, _BadValue) or isinstance(v, list) and any(_has_bad(x) for x in v)


class _BadValue:
    """An expression that already produced an error: later checks of it stay quiet."""

    def __repr__(self) -> str:
        return "?"


_PYDANTIC = {
    "greater_than_equal": "must be at least {ge}", "greater_than": "must be greater than {gt}",
    "less_than": "must be less than {lt}", "less_than_equal": "must be at most {le}",
    "int_type": "must be a whole number", "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number", "float_type": "must be a number",
    "float_parsing": "must be a number", "bool_type": "must be true or false",
    "bool_parsing": "must be true or false", "literal_error": "must be one of {expected}",
    "too_short": "needs at least {min_length} item(s)", "tuple_type": "must be a list such as [6, 3, 2, 1]",
    "string_type": "must be a word",
}


def pydantic_message(err: dict) -> str:
    """A pydantic error as a sentence: 'must be at least 1'."""
    template = _PYDANTIC.get(err["type"])
    if template is not None:
        try:
            return template.format(**err.get("ctx", {}))
        except (KeyError, IndexError):
            pass
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return msg[0].lower() + msg[1:] if msg else msg


def _kind_of(v) -> str:
    if isinstance(v, bool):
        return "true/false value"
    if isinstance(v, int):
        return "whole number"
    if isinstance(v, float):
        return "number"
    if isinstance(v, list):
        return "list"
    return "word"


def _show(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    return str(v)


def _head(word: str) -> str:
    return word.split("-")[0].rstrip("0123456789")


def _alias(kind: Kind, name: str) -> str:
    """A keyword spelling -> the parameter it means; a kind's own field name wins (custom layers)."""
    return name if name in kind.Params.model_fields else ARG_ALIASES.get(name, name)


_FLAGS: dict = {}


def _flags(model) -> list[str]:
    """The true/false parameters of a parameter model (remembered: asked once per layer)."""
    if model not in _FLAGS:
        _FLAGS[model] = [f for f in model.model_fields if _is_bool_field(model, f)]
    return _FLAGS[model]


def _is_bool_field(model, name: str) -> bool:
    """A flag: true/false, or true/false or a word (conv's bn: true, false or frozen; a bare `bn` is true)."""
    import typing
    f = model.model_fields[name]
    return f.annotation is bool or (typing.get_origin(f.annotation) is typing.Union and bool in typing.get_args(f.annotation))


def _fields(kind: Kind) -> str:
    return ", ".join(kind.Params.model_fields) or "none"


def _call_label(name: str, params: list, bound: dict, given: set) -> str:
    """How a block instance is shown: the arguments given and those without a default, by position
    until one is left out, then by keyword: ``layer(bottleneck, 256, 6, 1, d=2)``."""
    if not params:
        return name
    shown = [p for p in params if p.name in given or p.default is None]
    while shown and shown[-1].default is not None and _is_default(shown[-1], bound):
        shown.pop()                     # a trailing argument that says what its default says
    parts, gap = [], False
    for p in params:
        if p not in shown:
            gap = True
            continue
        parts.append(f"{p.name}={_show(bound[p.name])}" if gap else _show(bound[p.name]))
    return f"{name}({', '.join(parts)})"


def _is_default(p, bound: dict) -> bool:
    d = p.default
    return isinstance(d, (ast.Number, ast.Bool, ast.String)) and bound.get(p.name) == d.value and \
        type(bound.get(p.name)) is type(d.value)


def _flat(branch: list) -> list:
    """A branch's statements, a nested ``{ ... }`` body opened (a branch may be one body)."""
    out = []
    for x in branch:
        out.extend(_flat(x) if isinstance(x, list) else [x])
    return out

