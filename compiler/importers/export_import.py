"""A PyTorch module -> the neutral layer graph through ``torch.export``, for a module torch.fx
cannot trace (control flow on shapes, for one). The module is exported in eval mode, on the
example input: the graph of ATen operators it records is matched to kinds through their
declarations (``Kind.aten``; the arguments read by ``Kind.torch_params``, named by
``Kind.torch_args``), and ``ATEN`` reads the operators whose parameters are the shapes of their
weights (one entry each) or that are joins; names come from the module path each node records
(``nn_module_stack``). Side outputs that run only in training are not part of such a graph.
"""
from __future__ import annotations

from netc.importers.graph import ImportError_, Layer, Net


def _one(v):
    v = list(v) if isinstance(v, (list, tuple)) else [v, v]
    return int(v[0]) if v[0] == v[-1] else [int(x) for x in v]


def _arg(n, i, default=None):
    return n.args[i] if len(n.args) > i else default


def _conv(n, w, b):
    return "conv", {"out": int(w[0]), "k": _one(w[2:]), "stride": _one(_arg(n, 3, 1)), "pad": _one(_arg(n, 4, 0)),
                    "groups": int(_arg(n, 6, 1)), "bias": b is not None,
                    **({"dilation": _one(_arg(n, 5))} if _one(_arg(n, 5, 1)) != 1 else {})}


def _declared(op: str):
    """A rule for an ATen operator some kind declares (``Kind.aten``): its arguments after the input, named
    by the kind's ``torch_args``, read by its ``torch_params`` as a module's attributes; None if none does."""
    from netc.importers.fx_import import _kinds, call_args
    kinds = _kinds().reading("aten", op)
    if not kinds:
        return None
    k = kinds[0]

    def rule(n, w, b):
        p = k.torch_params(call_args(k, n.args[1:], n.kwargs), None)
        if p is None:
            raise ValueError("this call")
        return k.kind, p
    return rule


def _operator(target: str) -> str:
    """The operator an in-place form is (``aten.relu_.default`` -> ``aten.relu.default``)."""
    parts = target.split(".")
    if len(parts) == 3 and parts[1].endswith("_") and not parts[1].startswith("_"):
        parts[1] = parts[1][:-1]
    return ".".join(parts)


#: ATen operator -> rule(node, weight shape, bias shape) -> (netc kind, parameters): the operators no kind
#: declares (``Kind.aten``)
ATEN = {
    "aten.conv2d.default": _conv,
    "aten.linear.default": lambda n, w, b: ("fc", {"out": int(w[0]), "bias": b is not None}),
    "aten.relu.default": lambda n, w, b: ("relu", {}), "aten.relu_.default": lambda n, w, b: ("relu", {}),
    "aten.sigmoid.default": lambda n, w, b: ("sigmoid", {}), "aten.tanh.default": lambda n, w, b: ("tanh", {}),
    "aten.flatten.using_ints": lambda n, w, b: ("flatten", {}),
    "aten.cat.default": lambda n, w, b: ("concat", {}), "aten.add.Tensor": lambda n, w, b: ("add", {}),
    "aten.batch_norm.default": lambda n, w, b: ("bn", {"eps": float(_arg(n, 7, 1e-5)),
                                                       "momentum": float(_arg(n, 6, 0.1)), "affine": w is not None}),
    "aten.silu.default": lambda n, w, b: ("silu", {}), "aten.hardswish.default": lambda n, w, b: ("hardswish", {}),
    "aten.hardsigmoid.default": lambda n, w, b: ("hardsigmoid", {}),
    "aten.relu6.default": lambda n, w, b: ("relu6", {}),
    "aten.hardtanh.default": lambda n, w, b: _clip(n),
    "aten.gelu.default": lambda n, w, b: ("gelu", {}) if n.kwargs.get("approximate", _arg(n, 1, "none")) == "none"
    else _refuse("gelu(approximate='tanh')"),
    "aten.mul.Tensor": lambda n, w, b: ("mul", {}),
}
#: an in-place operator reads as the operator (``add_`` as ``add``): torch.export records them where
#: the module writes ``x += y`` or ``nn.SiLU(inplace=True)``
ATEN.update({"{}.{}_.{}".format(*k.split(".")): v for k, v in list(ATEN.items())
             if k.split(".")[1] in ("add", "mul", "relu", "silu", "hardswish", "hardsigmoid", "sigmoid", "tanh",
                                   "hardtanh", "relu6", "gelu")})
#: joins: every data input is an input of the layer
_JOINS = ("concat", "add", "mul")


def _clip(n):
    lo, hi = float(_arg(n, 1, -1.0)), float(_arg(n, 2, 1.0))
    if (lo, hi) != (0.0, 6.0):
        return _refuse(f"hardtanh({lo:g}, {hi:g})")
    return "relu6", {}


def _refuse(what):
    raise ValueError(what)


def read(module, example_input) -> Net:
    """The neutral graph of ``module`` as torch.export records it on ``example_input``."""
    import torch
    was = module.training
    try:
        module.eval()
        ep = torch.export.export(module, (example_input,))
    except Exception as e:   # noqa: BLE001 - whatever torch.export refuses, say why
        raise ImportError_(f"neither torch.fx nor torch.export can trace {type(module).__name__}: "
                           f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    finally:
        module.train(was)
    sig = ep.graph_signature
    tensors = {**sig.inputs_to_parameters, **sig.inputs_to_buffers}
    state = {**dict(module.named_parameters()), **dict(module.named_buffers())}
    shape = {ph: tuple(state[k].shape) for ph, k in tensors.items() if k in state}
    layers, env, names = [], {}, set()
    for n in ep.graph.nodes:
        if n.op == "placeholder":
            if n.name in sig.user_inputs:
                env[n.name] = "input"
            continue
        if n.op == "output":
            outs = [env[a.name] for a in n.args[0] if hasattr(a, "name") and a.name in env]
            break
        if n.op != "call_function":
            continue
        target = str(n.target)
        if target == "<built-in function getitem>":
            env[n.name] = env.get(n.args[0].name)
            continue
        rule = ATEN.get(target) or _declared(_operator(target))
        if rule is None:
            raise ImportError_(f"node {n.name} calls {target}, which has no netc kind",
                               hint="a kind names the ATen operators it reads (Kind.aten); "
                                    "netc.importers.export_import.ATEN reads a few more")
        args = [a for a in (n.args[0] if target == "aten.cat.default" else n.args) if hasattr(a, "name")]
        data = [env[a.name] for a in args if a.name in env]
        w = shape.get(args[1].name) if len(args) > 1 and args[1].name in shape else None
        b = shape.get(args[2].name) if len(args) > 2 and args[2].name in shape else None
        try:
            kind, params = rule(n, w, b)
        except (ValueError, AttributeError, TypeError) as e:
            raise ImportError_(f"node {n.name} calls {target}: {e} has no netc kind") from None
        stack = list(n.meta.get("nn_module_stack", {}).values())
        path = stack[-1][0] if stack and stack[-1][0] else n.name
        name, i = path.replace(".", "/"), 2
        while name in names:
            name, i = f"{path.replace('.', '/')}_{i}", i + 1
        names.add(name)
        layers.append(Layer(name, kind, params, data if kind in _JOINS else data[:1], f"node {n.name}",
                            None, target))
        env[n.name] = name
    c, h, w_ = tuple(example_input.shape[1:4])
    main = {l.name: l for l in layers}.get(outs[0]) if outs else None
    return Net(layers, (int(c), int(h), int(w_)), None, [(o, None) for o in outs[:1]],
               ["traced with torch.export (torch.fx could not): side outputs of training mode are not included"],
               type(module).__name__, type(module).__name__, softmax_head=main is not None and main.kind == "fc")
