"""The layer vocabulary, as earlier versions exposed it: the default registry's kinds and words,
and the parameter models. The definitions live in :mod:`netc.kinds`, one per kind.

Counting conventions (also in README and the JSON): ``params`` counts every learnable value
(weights, biases, batch-norm gamma/beta); ``macs`` are multiply-accumulates of convolutions and
fully-connected layers (and of attention's matrix products), which is what the GoogLeNet paper's
"ops" column counts. Bias adds, activations, normalisation and pooling are free.
"""
from __future__ import annotations

from .dims import Dim, ShapeProblem, Sym  # noqa: F401 (re-exported)
from .kinds import DEFAULT, Kind
from .kinds.act import Activation as Act  # noqa: F401
from .params import (ActParams, AdaptivePoolParams, BNParams, ConvParams, DropoutParams,  # noqa: F401
                     FCParams, IntOrPair, LRNParams, NoParams, Params, PoolParams, SPPParams, _pair)

LayerKind = Kind
#: kind name -> Kind (built-ins and registered custom layers): the default registry's table
KINDS = DEFAULT.kinds
#: every spelling, lower-case -> kind name
WORDS = DEFAULT.words
register = DEFAULT.register
unregister = DEFAULT.unregister
lookup_word = DEFAULT.lookup_word
vocabulary = DEFAULT.vocabulary

__all__ = ["LayerKind", "Kind", "KINDS", "WORDS", "lookup_word", "register", "unregister", "ShapeProblem",
           "Params", "Sym", "Dim"]
