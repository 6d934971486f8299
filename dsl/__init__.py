"""netc.dsl: the .net language front end (grammar, parser, AST, formatter). No torch, no networkx."""
from .errors import NetcError, Source, Span
from .parser import parse

__all__ = ["parse", "NetcError", "Source", "Span"]
