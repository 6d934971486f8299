"""netc's functions: ``netc.load``, ``netc.check``, ``netc.compile`` ... (``import netc`` gives
them; the package imports this module when one of them is first used, see netc/__init__.py)."""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import os
from typing import Any

from netc.dsl import ast
from netc.dsl.errors import (GraphError, LimitError, NetcError, NetcErrors, ShapeError, Source, Span,
                             SpecError, SpecSyntaxError, UsageError, raise_all, sort_errors)
from netc.dsl.limits import LIMITS, call_limits
from netc.dsl.parser import parse as _parse

from netc import kinds as _kinds
from netc.kinds.custom import register_layer
from netc.gcpause import gc_paused, paused
from netc.kinds import Registry
from netc.ir import IR, Node
from netc.passes import build, enforce_budget, params_budget
from netc.elaborate.specfile import Program
from netc.elaborate.resolve import resolve
from netc.elaborate.specref import bundled_dir, bundled_names, split_ref


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


@dataclasses.dataclass
class Checked:
    """What checking a program found: every error, in source order, and the IR of each configuration
    that could be built (with its own ``.errors``), by name in file order."""
    errors: list[NetcError]
    irs: dict[str, IR]


@gc_paused
def check_configs(prog: Program, names: list[str] | None = None) -> Checked:
    """Check configurations ``names`` of a loaded program (default: every configuration it defines;
    a file with none and no blocks is an error). The one way a program is checked: ``netc.check``,
    ``netc check`` and the language server call it."""
    errors = list(prog.errors)
    if names is None:
        names = prog.own_configs()
        if not prog.errors and not names and not prog.blocks:
            errors.append(prog.no_network())
    built: dict[str, IR] = {}
    irs: dict[str, IR] = {}
    for name in names:
        try:
            ir = reuse_base(prog, name, built) or build(resolve(prog, name))
        except NetcError as e:
            errors.append(e)
            continue
        irs[name] = ir
        errors += ir.errors
        if not ir.errors:
            built[name] = ir
    return Checked(sort_errors(errors), irs)


def check_program(prog: Program) -> list[NetcError]:
    """Every error in a loaded program, all configurations included, in source order."""
    return check_configs(prog).errors


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


_DEFAULT: Any = object()


@functools.partial(_with_limits, gc_pause=False)     # torch's own objects: the collector stays on
def compile(ref: str | os.PathLike | IR, config: str | None = None, *, device=None, dtype=None, dense: bool = False,
            budget: int | None = _DEFAULT, registry: Registry | None = None, **overrides: Any):
    """Compile a configuration to a ``torch.nn.Module`` (a ``torch.fx.GraphModule``): load the spec
    (or take an IR), check its parameter budget before anything is allocated, build the module.

    ``netc.compile("vgg:D", num_classes=20)``: keyword arguments that name spec variables override
    them. ``device="meta"`` builds the module without allocating weights; ``dtype`` sets the
    parameter type; ``dense=True`` turns FC layers into convolutions (dense evaluation over larger
    images); ``budget`` refuses a spec with more parameters than that (default
    ``netc.LIMITS["max_params"]``; None: no limit).
    """
    if budget is _DEFAULT:     # the meta device allocates nothing: Llama 3 70B builds there, for sharding
        budget = None if device is not None and str(device) == "meta" else LIMITS.get("max_params")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget >= 0):
        raise UsageError(f"budget must be a number of parameters (or None for no limit), not {budget!r}")
    if isinstance(ref, IR):
        if config is not None or overrides:
            raise UsageError("config and variable overrides apply to a spec reference, not to an IR")
        ir = ref
    else:
        with params_budget(budget):
            ir = load(ref, config, registry=registry, **overrides)
    from netc.backends import torch as backend          # torch is imported here, not before
    if dense:
        ir = backend.densify(ir)
    enforce_budget(ir, budget)
    return backend.to_module(ir, device=device, dtype=dtype)


def load_weights(model, state_dict, strict: bool = True):
    """Copy a state_dict from another implementation of the same architecture, matched by structure."""
    from netc.backends.torch import load_weights as _lw
    return _lw(model, state_dict, strict=strict)


def parallelize(model, mesh):
    """Shard a compiled language model with PyTorch's FSDP2 (``fully_shard``, one unit per decoder
    block) over a ``DeviceMesh``; a 2-D mesh named ``("dp", "tp")`` adds tensor parallelism
    (column-wise q, k, v, gate, up; row-wise o, down) within ``tp``."""
    from netc.backends.torch.distributed import parallelize as _p
    return _p(model, mesh)


def generate(model, ids, max_new_tokens: int = 20, **options):
    """Greedy decoding of a compiled language model with a key/value cache: the prompt ``ids``
    (N x L) is read once, then one token at a time, each the arg-max of the last logits (as
    transformers' ``generate(ids, do_sample=False)``). Returns N x (L + new) ids. Options:
    ``eos_token_id``, ``pad_token_id``, ``use_cache`` (default True), ``output_logits`` (also return
    the logits of each step). See docs/llm.md."""
    from netc.backends.torch.generate import generate as _g
    return _g(model, ids, max_new_tokens, **options)


def from_torch(module, example_input) -> str:
    """The spec text of a PyTorch module, traced with torch.fx (see the README's Import section).

    Runs the module (on ``example_input``, to learn its shapes): it is your code.
    """
    from netc.importers import from_torch as _ft
    return _ft(module, example_input)

