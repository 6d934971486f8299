"""netc: a declarative architecture language and compiler for PyTorch.

>>> import netc
>>> ir = netc.load("vgg:D")
>>> ir.params
138357544
>>> ir.node("conv1_2").paper, ir.node("conv1_2").rf
('conv3-64', (5, 1))

Importing netc does not import torch; only :func:`compile` and :func:`load_weights` do.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = [
    "parse", "program", "load", "loads", "load_all", "check", "check_program", "check_configs", "Checked", "compile", "load_weights",
    "build_config", "IR", "Node", "Program", "NetcError", "NetcErrors", "SpecError", "SpecSyntaxError",
    "ShapeError", "GraphError", "LimitError", "UsageError", "Span", "Source", "LIMITS", "bundled_dir",
    "bundled_names", "split_ref", "register_layer", "registry", "Registry", "limits", "from_torch", "parallelize",
    "generate",
]

# used by netc's commands, not part of the API
_ALSO = frozenset({"reuse_base", "raise_all"})


def __getattr__(name: str):
    """netc's functions and classes, from :mod:`netc.api` when one is first asked for: ``import
    netc`` alone imports nothing more, so that the ``netc`` program sets itself up before the
    front end and pydantic load (netc.tools.cli.console), and a submodule's user does not pay for them."""
    if name not in __all__ and name not in _ALSO:   # a submodule not imported yet (from . import x asks)
        raise AttributeError(f"module 'netc' has no attribute {name!r}")
    from importlib import import_module
    api = import_module("netc.api")
    g = globals()
    for public in __all__:      # all at once: no submodule imported on the way stands for one of them
        g[public] = getattr(api, public)
    g[name] = value = getattr(api, name)
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
