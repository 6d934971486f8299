"""``NetcModule``: the compiled network, a ``torch.fx.GraphModule`` with two forward graphs.

With side outputs (GoogLeNet's auxiliary classifiers) the module holds a training graph that
returns ``(main, aux_1, ...)`` and an inference graph that returns ``main`` alone and never runs
the side heads; ``train(mode)`` swaps them. Without side outputs both are the same graph. The
side heads' submodules are always registered, so ``state_dict()`` and ``parameters()`` hold them.

``copy.deepcopy`` and ``torch.save(model)`` / ``torch.load(..., weights_only=False)`` keep both
graphs, the mode and the metadata.
"""
from __future__ import annotations

import copy
from typing import Any

import torch
from torch import fx
from torch.fx.graph_module import _CodeOnlyModule, _format_import_block, _forward_from_src
from torch.package import sys_importer


class NetcModule(fx.GraphModule):
    """A compiled spec. ``print(model.code)`` shows the generated forward.

    Attributes:
        aux_weights: ``{"loss1": 0.3, ...}``: the loss weight of each side output, in the order
            the training forward returns them after the main output.
        output_mode: ``"logits"`` (default: a trailing soft-max is left to the loss, train with
            ``nn.CrossEntropyLoss``) or ``"probs"`` (the spec says ``output probs``: forward ends
            with ``torch.softmax``).
        netc: plain metadata: spec, config, input shape (C, H, W; H and W None when any size
            is accepted), the layers in program order.
    """

    def __init__(self, root: torch.nn.Module, train_graph: fx.Graph, eval_graph: fx.Graph,
                 netc: dict[str, Any]):
        super().__init__(root, train_graph, class_name="NetcModule")
        for name, sub in root.named_children():   # what only the inference graph calls (its input guard)
            if name not in self._modules:
                self.add_module(name, sub)
        self._netc_graphs = {"train": train_graph, "eval": eval_graph}
        self.netc = dict(netc)
        self.aux_weights = dict(self.netc.get("aux_weights", {}))
        self.output_mode = self.netc.get("output_mode", "logits")

    # ---------------------------------------------------------------- modes
    def train(self, mode: bool = True):
        super().train(mode)
        graphs = self.__dict__.get("_netc_graphs")
        if graphs is not None:
            want = graphs["train" if mode else "eval"]
            if self.graph is not want:
                self.graph = want   # the setter recompiles forward
        return self

    # ---------------------------------------------------------------- copying
    def __deepcopy__(self, memo: dict) -> "NetcModule":
        res = NetcModule.__new__(NetcModule)
        memo[id(self)] = res
        body = copy.deepcopy({k: v for k, v in self.__dict__.items() if k not in ("_graph", "_netc_graphs")}, memo)
        copies: dict[int, fx.Graph] = {}   # each graph once, with a memo of its own (fx reuses it for nodes)
        for g in self._netc_graphs.values():
            copies.setdefault(id(g), copy.deepcopy(g, {}))
        graphs = {mode: copies[id(g)] for mode, g in self._netc_graphs.items()}
        _init_copy(res, _CodeOnlyModule({**body, "_netc_graphs": graphs}))
        return res

    def __reduce__(self):
        body = {k: v for k, v in self.__dict__.items() if k not in ("_graph", "_netc_graphs")}
        codes, globs = {}, {}
        for mode, g in self._netc_graphs.items():
            pc = g.python_code(root_module="self")
            codes[mode] = pc.src
            globs.update(pc.globals)
        import_block = _format_import_block(globs, sys_importer)
        return (_rebuild, (body, import_block, codes))

    # ---------------------------------------------------------------- SPP-net helpers (issue 5)
    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        """The last feature map before SPP (or the first FC) for whole images (SPP-net detection)."""
        from netc.backends.torch.windows import feature_map
        return feature_map(self, images)

    def classify_windows(self, fmap: torch.Tensor, boxes, image_size=None) -> torch.Tensor:
        """Class scores for windows of a feature map from :meth:`feature_map`."""
        from netc.backends.torch.windows import classify_windows
        return classify_windows(self, fmap, boxes, image_size)


def _init_copy(res: NetcModule, fake_mod) -> None:
    body = fake_mod.__dict__
    graphs = body["_netc_graphs"]
    fx.GraphModule.__init__(res, fake_mod, graphs["train"], class_name="NetcModule")
    res._netc_graphs = graphs
    res.netc, res.aux_weights, res.output_mode = body["netc"], body["aux_weights"], body["output_mode"]
    res.train(body["training"])


def _trace(body: dict, import_block: str, src: str) -> fx.Graph:
    fwd = _forward_from_src(import_block + src, {})
    _CodeOnlyModule.forward = fwd

    class KeepModules(fx.Tracer):
        def is_leaf_module(self, m, qualname) -> bool:
            return True

    return KeepModules().trace(_CodeOnlyModule(body))


def _rebuild(body: dict, import_block: str, codes: dict[str, str]) -> NetcModule:
    """Unpickle a NetcModule: retrace both generated forwards over the saved submodules."""
    graphs = {mode: _trace(dict(body), import_block, src) for mode, src in codes.items()}
    res = NetcModule.__new__(NetcModule)
    _init_copy(res, _CodeOnlyModule({**body, "_netc_graphs": graphs}))
    return res


__all__ = ["NetcModule"]
