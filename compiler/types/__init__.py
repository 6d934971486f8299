"""Typed values: a node's output is a :class:`~netc.types.tensortype.TensorType` (dimensions and a layout) whose
sizes may be symbolic (:mod:`netc.types.dims`). Kinds infer them; the IR stores them."""
