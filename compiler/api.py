"""netc's functions: ``netc.load``, ``netc.check``, ``netc.compile`` ... (``import netc`` gives
them; the package imports this module when one of them is first used, see netc/__init__.py)."""
from __future__ import annotations

import contextlib
import copy
import functools
import os
from typing import Any

from netc.dsl import ast
from netc.dsl.errors import (GraphError, LimitError, NetcError, NetcErrors, ShapeError, Source, Span,
                             SpecError, SpecSyntaxError, UsageError, raise_all, sort_errors)
from netc.dsl.parser import LIMITS, call_limits
from netc.dsl.parser import parse as _parse

from . import kinds as _kinds
from .custom import register_layer
from .gcpause import gc_paused, paused
from .kinds import Registry
from .ir import IR, Node
from .passes import build
from .specfile import Program
from .resolve import resolve
from .specref import bundled_dir, bundled_names, split_ref


def parse(text: str, filename: str = "<string>") -> ast.Module:
    """Parse .net text into its syntax tree (raises :class:`NetcError` on a syntax error)."""
    _text(text, "parse")
    return _parse(text, _filename(filename))


def _text(text, call: str) -> str:
    if not isinstance(text, str):
        raise UsageError(f"{call} takes the text of a spec (str), not {type(text).__name__}"
                         + (": decode it first, or use netc.load(path)" if isinstance(text, bytes) else ""),
                         hint="for a file or a bundled name: netc.load(ref)")
    return text


def _filename(filename) -> str:
    if not isinstance(filename, str):
        raise UsageError(f"filename must be a str (used in error messages), not {type(filename).__name__}")
    return filename


def _config(config) -> str | None:
    if config is not None and not isinstance(config, str):
        raise UsageError(f"config must be a configuration's name (str), not {type(config).__name__}",
                         hint="e.g. config='D'")
    return config


def _ref(ref) -> str:
    """A spec reference as text; an IR or anything else passed by mistake is a usage error."""
    if isinstance(ref, (str, os.PathLike)):
        return os.fspath(ref)
    what = "an IR (compile it with netc.compile(ir))" if isinstance(ref, IR) else type(ref).__name__
    raise UsageError(f"expected a spec reference such as 'vgg:D' or a path, not {what}")


def program(ref: str | os.PathLike) -> Program:
    """Load a spec file (a path or a bundled name such as ``"vgg"``) with its includes."""
    path, _ = split_ref(_ref(ref))
    return Program.load(path)


def _with_limits(fn, gc_pause: bool = True):
    """``limits={...}``: the call runs under those limits (:func:`limits`), other callers never see them;
    and, for the front end, with the cyclic garbage collector paused (:mod:`netc.gcpause`)."""
    @functools.wraps(fn)
    def call(*args, limits: dict | None = None, **kwargs):
        with call_limits(limits), (paused() if gc_pause else contextlib.nullcontext()):
            return fn(*args, **kwargs)
    return call


#: ``with netc.limits({"max_layers": 100}): ...``: limits for the calls inside, in this thread or task only
limits = call_limits


def registry() -> Registry:
    """A registry of the built-in kinds (and those registered so far) of the caller's own: pass it to
    :func:`register_layer`, :func:`load` and :func:`compile` (``registry=``) so that custom kinds
    stay with that caller."""
    return _kinds.DEFAULT.copy()


@_with_limits
def load(ref: str | os.PathLike, config: str | None = None, *, registry: Registry | None = None,
         **overrides: Any) -> IR:
    """The IR of one configuration: ``load("vgg:D")``, ``load("my.net", config="B", num_classes=20)``.

    Raises :class:`NetcError` (with every error found) when the spec is invalid.
    """
    path, cfg = split_ref(_ref(ref))
    _config(config)
    if config is not None and cfg is not None and config != cfg:
        raise UsageError(f"two configurations asked for: '{cfg}' in {str(ref)!r} and config={config!r}")
    prog = Program.load(path)
    prog.raise_errors()
    return build_config(prog, config or cfg, registry=registry, **overrides)


@_with_limits
def loads(text: str, config: str | None = None, filename: str = "<string>", *, registry: Registry | None = None,
          **overrides: Any) -> IR:
    """Like :func:`load`, from text."""
    _text(text, "loads")
    prog = Program.from_text(text, _filename(filename))
    prog.raise_errors()
    return build_config(prog, config, registry=registry, **overrides)


@gc_paused
def build_config(prog: Program, config: str | None = None, *, registry: Registry | None = None,
                 **overrides: Any) -> IR:
    resolved = resolve(prog, _config(config), overrides, registry=registry)
    ir = build(resolved)
    raise_all(ir.errors)
    return ir


@_with_limits
def load_all(ref: str | os.PathLike, **overrides: Any) -> list[IR]:
    """The IR of every configuration a spec file defines, in file order."""
    path, cfg = split_ref(_ref(ref))
    if "config" in overrides:
        raise UsageError("load_all builds every configuration; for one, netc.load(ref, config=...)")
    prog = Program.load(path)
    prog.raise_errors()
    names = [cfg] if cfg else prog.own_configs()
    if not names:
        raise prog.no_network()
    return [build_config(prog, n, **overrides) for n in names]


@gc_paused
def check_program(prog: Program) -> list[NetcError]:
    """Every error in a loaded program, all configurations included, in source order."""
    errors = list(prog.errors)
    if not prog.errors and not prog.own_configs() and not prog.blocks:
        errors.append(prog.no_network())
    built: dict[str, IR] = {}
    for name in prog.own_configs():
        try:
            ir = reuse_base(prog, name, built) or build(resolve(prog, name))
            errors += ir.errors
            if not ir.errors:
                built[name] = ir
        except NetcError as e:
            errors.append(e)
    return sort_errors(errors)


def reuse_base(prog: Program, name: str, built: dict) -> IR | None:
    """The IR of a configuration that only names its base (``config B extends A {}``), from the
    base's IR built already: a chain of 500 of them is checked in the time of one."""
    base = prog.same_as(name)
    if base not in built:
        return None
    ir = copy.copy(built[base])
    ir.config, ir.span = name, prog.configs[name].span
    return ir


@_with_limits
def check(text: str, filename: str = "<string>") -> list[NetcError]:
    """Every diagnostic for a spec's text; an empty list when it is valid.

    >>> [e.message for e in check("input 32x32 RGB\\nconv3-16\\nmaxpol\\n")]
    ["unknown layer 'maxpol'"]
    """
    _text(text, "check")
    _filename(filename)
    try:
        prog = Program.from_text(text, filename)
    except NetcError as e:
        return sort_errors([e])
    return check_program(prog)


@functools.partial(_with_limits, gc_pause=False)     # torch's own objects: the collector stays on
def compile(ref: str | os.PathLike, config: str | None = None, **kwargs: Any):
    """Compile a configuration to a ``torch.nn.Module`` (a ``torch.fx.GraphModule``).

    ``netc.compile("vgg:D", num_classes=20)``; keyword arguments that name spec variables override
    them; ``device``, ``dtype``, ``dense`` and friends are compile options (see the README).
    """
    from .torch_backend import compile_spec
    return compile_spec(ref, config, **kwargs)


def load_weights(model, state_dict, strict: bool = True):
    """Copy a state_dict from another implementation of the same architecture, matched by structure."""
    from .torch_backend import load_weights as _lw
    return _lw(model, state_dict, strict=strict)


def from_torch(module, example_input) -> str:
    """The spec text of a PyTorch module, traced with torch.fx (see the README's Import section).

    Runs the module (on ``example_input``, to learn its shapes): it is your code.
    """
    from .importers import from_torch as _ft
    return _ft(module, example_input)

