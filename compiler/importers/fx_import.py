"""A PyTorch module -> the neutral layer graph, by tracing it (torch.fx; torch.export where fx
cannot: :mod:`netc.importers.export_import`).

The module is traced in training mode, so that side outputs (auxiliary heads that run only in
training) are part of the graph, and put back in the mode it was in. A kind names the torch
modules and functions it is (``Kind.torch_modules``, ``Kind.torch_functions``) and reads their
parameters (``Kind.torch_params``): a call of one is matched to its kind through those
declarations. ``MODULES``, ``_fn_names`` and ``METHODS`` read the rest (a module whose parameters
another kind's shape decides, joins, reshapes). Anything else in the graph is an error naming the node.
"""
from __future__ import annotations

import operator
import os
import re
from types import SimpleNamespace

from netc.importers.graph import ImportError_, Layer, Net, split_joins
from netc.importers.structure import ACT_KINDS, JOINS


def _bn(m, x):
    return "bn", {"eps": float(m.eps), "momentum": float(m.momentum if m.momentum is not None else 0.1),
                  "affine": bool(m.affine)}


def _ln(m, x):
    if len(m.normalized_shape) != 1:
        raise ValueError(f"normalized_shape={list(m.normalized_shape)}")
    return "ln", {"eps": float(m.eps), "affine": bool(m.elementwise_affine)}


def _gelu(m, x):
    if getattr(m, "approximate", "none") != "none":
        raise ValueError(f"approximate={m.approximate!r}")
    return "gelu", {}


def _simple(kind):
    return lambda m, x: (kind, {})


#: torch module class name -> rule(module, input shape) -> (netc kind, parameters): the modules no kind
#: declares (``Kind.torch_modules``)
MODULES = {
    "BatchNorm2d": _bn, "BatchNorm1d": _bn,
    "ReLU": _simple("relu"), "Sigmoid": _simple("sigmoid"), "Tanh": _simple("tanh"),
    "Flatten": _simple("flatten"), "Identity": _simple("identity"), "InputGuard": _simple("identity"),
    "ReLU6": _simple("relu6"), "Hardswish": _simple("hardswish"), "Hardsigmoid": _simple("hardsigmoid"),
    "SiLU": _simple("silu"), "GELU": _gelu,
    "LayerNorm2d": _ln, "LayerNorm": _ln,
    "BatchNormAct2d": lambda m, x: (*_bn(m, x), _act_of(m)),
}


def module_rule(m):
    """How a torch module is read: its rule in ``MODULES``, else the kinds that name its class in their
    ``torch_modules`` (the first whose ``torch_params`` takes it); None where none does."""
    name = type(m).__name__
    rule = MODULES.get(name)
    if rule is not None:
        return rule
    kinds = _kinds().reading("torch_modules", name)
    if not kinds:
        return None

    def read(m, x):
        for k in kinds:
            p = k.torch_params(m, x)
            if p is not None:
                return k.kind, p
        raise ValueError(f"this {name}")
    return read


def _kinds():
    """The registry whose kinds' declarations are read (the built-in kinds and the process's registrations)."""
    from netc.kinds import DEFAULT
    return DEFAULT


def _kind(name):
    """The Kind named ``name`` (None for a name no kind has)."""
    return _kinds().get(name) if isinstance(name, str) else None


def _stochastic(kind) -> bool:
    """Random in training only (dropout, drop path): a rate of 0 computes nothing."""
    k = _kind(kind)
    return k is not None and k.stochastic


def declared_function(n):
    """The kind that declares the torch function or tensor method an fx node calls (``Kind.torch_functions``:
    ``F.max_pool2d``, ``torch.softmax``, ``x.softmax``), or None. The in-place form (``relu_``) reads as the
    function."""
    import torch
    import torch.nn.functional as F
    if n.op == "call_method":
        name = n.target if isinstance(n.target, str) and hasattr(torch.Tensor, n.target) else None
    else:
        name = getattr(n.target, "__name__", None)
        if not isinstance(name, str) or not (getattr(torch, name, None) is n.target or
                                             getattr(F, name, None) is n.target):
            name = None
    if name is None:
        return None
    if name.endswith("_") and not name.startswith("_"):
        name = name[:-1]
    kinds = _kinds().reading("torch_functions", name)
    return kinds[0] if kinds else None


def call_args(k, args, kwargs) -> SimpleNamespace:
    """A call's arguments after the input (``args``) and by keyword, named by ``k.torch_args``: what
    ``k.torch_params`` reads, as it reads a module's attributes."""
    a = dict(zip(k.torch_args, args))
    a.update({key: v for key, v in kwargs.items() if key != "input"})
    return SimpleNamespace(**a)


def _act_of(m):
    """The activation a timm norm layer applies after normalising (``BatchNormAct2d``'s ``act``)."""
    drop, act = getattr(m, "drop", None), getattr(m, "act", None)
    if drop is not None and type(drop).__name__ != "Identity" and float(getattr(drop, "p", 0.0)):
        raise ValueError(f"a dropout ({type(drop).__name__}) after the norm")
    if act is None or type(act).__name__ == "Identity":
        return None
    rule = module_rule(act)
    kind = rule(act, None)[0] if rule is not None else None
    if kind not in ACT_KINDS:
        raise ValueError(f"the activation {type(act).__name__}")
    return kind


def _is_leaf(m) -> bool:
    """timm's layers that are one netc kind (or a few, ``MACROS``) are read whole rather than traced
    through: their forward reads shapes (``x.ndim``), permutes to channels last or partitions windows."""
    cls = type(m)
    if not cls.__module__.startswith("timm."):
        return False
    if cls.__name__ == "Attention":
        from netc.kinds.attention import timm_attention_fits
        return timm_attention_fits(m)
    return cls.__name__ in MODULES or cls.__name__ in MACROS or bool(_kinds().reading("torch_modules", cls.__name__))


def _swin_block(m, x):
    """timm's SwinTransformerBlock (channels last, H x W x C): norm, (shifted) window attention,
    drop path, added to its input; norm, MLP, drop path, added."""
    a, mlp = m.attn, m.mlp
    ws, ss = tuple(m.window_size), tuple(m.shift_size)
    if ws[0] != ws[1] or ss[0] != ss[1] or type(mlp).__name__ != "Mlp":
        raise ValueError(f"window {list(ws)} and shift {list(ss)}")
    act = _act_of(type("A", (), {"act": mlp.act})())
    if type(mlp.norm).__name__ != "Identity":
        raise ValueError("a norm inside the MLP")
    dp = [module_rule(d)(d, x)[1]["p"] if type(d).__name__ == "DropPath" else None
          for d in (m.drop_path1, m.drop_path2)]
    wa = _kind("window_attention")      # timm's WindowAttention leaves the shift to the block: read with it
    attn = (wa.kind, wa.torch_params(SimpleNamespace(heads=a.num_heads, window=ws[0], shift=ss[0], qkv=a.qkv,
                                                     dropout=a.attn_drop.p), x), None)
    first = [("norm1", *_ln(m.norm1, x), None), ("attn", *attn)] + \
        ([("drop_path1", "droppath", {"p": dp[0]}, None)] if dp[0] else [])
    second = [("norm2", *_ln(m.norm2, x), None),
              ("mlp/fc1", "fc", {"out": mlp.fc1.out_features, "bias": mlp.fc1.bias is not None}, act),
              ("mlp/fc2", "fc", {"out": mlp.fc2.out_features, "bias": mlp.fc2.bias is not None}, None)] + \
        ([("drop_path2", "droppath", {"p": dp[1]}, None)] if dp[1] else [])
    return [first, second]      # two residual branches, each added to its input


#: torch module class name -> rule(module, input shape) -> [[(local name, kind, params, act), ...] per
#: residual branch]: a module that is several netc layers
MACROS = {"SwinTransformerBlock": _swin_block}

#: the order netc's module of a kind keeps its tensors in, where a source's module of the same
#: name registers them in another (timm's PatchMerging: norm, then reduction)
TENSOR_ORDER = {"PatchMerging": ("reduction.", "norm.")}


def tensor_order(module, keys: list) -> list:
    """``keys`` (a submodule's state_dict keys) in the order netc's module of its kind has them."""
    order = TENSOR_ORDER.get(type(module).__name__)
    if not order or not type(module).__module__.startswith("timm."):
        return keys
    return sorted(keys, key=lambda k: next((i for i, p in enumerate(order) if p in k), len(order)))


def _fn_names():
    import torch
    import torch.nn.functional as F

    from netc.backends.torch import attention, layers
    return {
        torch.relu: "relu", torch.relu_: "relu", F.relu: "relu", torch.sigmoid: "sigmoid", torch.tanh: "tanh",
        F.sigmoid: "sigmoid", F.tanh: "tanh",
        torch.flatten: "flatten", torch.cat: "concat", torch.concat: "concat", operator.add: "add",
        torch.add: "add", operator.iadd: "add",
        F.relu6: "relu6", F.hardswish: "hardswish", F.hardsigmoid: "hardsigmoid", F.silu: "silu", F.gelu: "gelu",
        F.batch_norm: "bn", F.layer_norm: "ln", operator.imul: "mul", F.channel_shuffle: "shuffle", torch.channel_shuffle: "shuffle",
        operator.mul: "mul", torch.mul: "mul", layers.center_crop: "crop", layers.crop_at: "crop_at",
        torch.narrow: "chunk", torch.chunk: "chunks", torch.split: "chunks",
        layers.resize_like: "upsample", layers.expand_like: "expand",
        F.interpolate: "interpolate",
        attention.prepend_token: "cls_token", torch.transpose: "transpose", operator.getitem: "select",
        torch.permute: "permute", torch.mean: "mean",
    }


METHODS = {"relu": "relu", "relu_": "relu", "sigmoid": "sigmoid", "sigmoid_": "sigmoid", "tanh": "tanh",
           "flatten": "flatten", "view": "flatten", "reshape": "flatten", "add": "add",
           "add_": "add", "mul": "mul", "mul_": "mul", "mean": "mean", "permute": "permute",
           "transpose": "transpose", "contiguous": "identity", "narrow": "chunk", "chunk": "chunks",
           "split": "chunks"}


def trace(module):
    """(GraphModule, graph) of ``module`` in training mode (side outputs included). timm's layers
    that are one netc kind stay whole (``_is_leaf``); arguments of ``forward`` after the first that
    have defaults (ViT's ``attn_mask=None``) keep them."""
    import inspect

    import torch.fx as fx
    if isinstance(module, fx.GraphModule):
        return module, module.graph

    class _Tracer(fx.Tracer):
        def is_leaf_module(self, m, qualname):
            return _is_leaf(m) or super().is_leaf_module(m, qualname)
    try:
        ps = list(inspect.signature(module.forward).parameters.values())[1:]
    except (TypeError, ValueError):
        ps = []
    concrete = {p.name: p.default for p in ps if p.default is not inspect.Parameter.empty}
    graph = _Tracer().trace(module, concrete_args=concrete or None)
    gm = fx.GraphModule(module, graph, type(module).__name__)
    return gm, gm.graph


def read(module, example_input) -> Net:
    """The neutral graph of a module, traced with torch.fx (side outputs included)."""
    was = module.training
    try:
        module.train(True)
        try:
            gm, graph = trace(module)
            graph = _copy(graph)
        except Exception:   # noqa: BLE001 - control flow fx cannot follow: torch.export records one path
            gm = None
    finally:
        module.train(was)
    from netc.importers import export_import
    if gm is None:
        return export_import.read(module, example_input)
    shapes = _shapes(gm, graph, example_input, module)
    try:
        return _to_net(gm, graph, shapes, example_input, module)
    except OutputError:                 # what forward returns: torch.export would flatten it the same way
        raise
    except ImportError_ as fx_error:    # a node fx recorded that netc cannot read: torch.export's ATen graph
        try:
            return export_import.read(module, example_input)
        except ImportError_ as e:       # neither reads it: the first node torch.fx recorded that netc cannot
            raise ImportError_(fx_error.message, hint=f"torch.export stopped too: {e.message}") from None


def _copy(graph):
    import torch.fx as fx
    g = fx.Graph()
    env: dict = {}
    out = g.graph_copy(graph, env)
    g.output(out)
    return g


def _shapes(gm, graph, x, module) -> dict:
    """Output shape of every node (run in eval mode on the example input)."""
    import torch
    import torch.fx as fx
    shapes: dict = {}

    class _Run(fx.Interpreter):
        def run_node(self, n):
            r = super().run_node(n)
            if isinstance(r, torch.Tensor):
                shapes[n.name] = tuple(r.shape)
            return r
    was = module.training
    module.eval()
    try:
        with torch.no_grad():
            _Run(fx.GraphModule(gm, graph)).run(x)
    finally:
        module.train(was)
    return shapes


def _to_net(gm, graph, shapes: dict, x, module) -> Net:
    fns = _fn_names()
    layers: list[Layer] = []
    env: dict = {}          # fx node name -> layer name (or "input")
    names: set = set()
    crops: dict = {}        # center_crop nodes -> what they crop
    tensors: set = set()    # get_attr nodes (learned tensors) and what is computed from them alone
    meta: set = set()       # nodes that compute no tensor: shapes, sizes, asserts on them
    outputs: list = []
    spec = _spec_ir(module)
    # a module netc compiled names a function's node after the layer, scopes joined by '_'
    scoped = {l.name.replace("/", "_"): l.name for l in spec.layers()} if spec is not None else {}

    def add(n, kind, params, inputs, src, act=None, name=None):
        name = name or (n.target.replace(".", "/") if n.op == "call_module" else scoped.get(n.name, n.name))
        base, i = name, 2
        while name in names:
            name, i = f"{base}_{i}", i + 1
        names.add(name)
        layers.append(Layer(name, kind, params, inputs, f"node {n.name}", act, src))
        env[n.name] = name
        return name

    def ins(n):
        out = []
        for a in n.all_input_nodes:
            if a.name in tensors or a.name in meta:
                continue
            if a.name not in env:
                raise ImportError_(f"node {n.name} ({n.format_node()}) reads {a.name}, which netc cannot follow")
            out.append(env[a.name])
        return out

    for n in graph.nodes:
        if n.op == "placeholder":
            if "input" in env.values():
                if not n.users or n.args:     # an argument forward does not read, or fixed at its default
                    meta.add(n.name)
                    continue
                raise ImportError_(f"node {n.name}: netc networks take one input")
            env[n.name] = "input"
        elif n.op == "call_module":
            m = gm.get_submodule(n.target)
            x_shape = shapes.get(n.args[0].name) if n.args and hasattr(n.args[0], "name") else None
            macro = MACROS.get(type(m).__name__) if _is_leaf(m) else None
            try:
                if macro is not None:
                    _expand(n, macro(m, x_shape), add, ins, type(m).__name__)
                    continue
                rule = module_rule(m)
                if rule is None:
                    raise ImportError_(f"node {n.name} calls {n.target}, a {type(m).__name__}, which has no netc "
                                       f"kind", hint="a kind names the torch modules it reads (Kind.torch_modules); "
                                                     "netc.importers.fx_import.MODULES reads a few more")
                kind, params, *act = rule(m, x_shape)
            except (ValueError, AttributeError, TypeError) as e:
                raise ImportError_(f"node {n.name} ({type(m).__name__} {n.target}): {e} has no netc form") from None
            if kind == "identity" or (_stochastic(kind) and not params.get("p") and spec is None):
                env[n.name] = ins(n)[0]     # (a dropout of rate 0 computes nothing: written where a spec had it)
                continue
            add(n, kind, params, ins(n)[:1], type(m).__name__, act[0] if act else None)
        elif n.op in ("call_function", "call_method"):
            if (fns.get(n.target) if n.op == "call_function" else METHODS.get(n.target)) == "chunks":
                _function(n, fns, add, ins, env, shapes, crops, tensors, layers)     # a tuple of parts
                continue
            if n.name not in shapes:        # no tensor: x.shape, x.ndim, sizes, asserts on them
                meta.add(n.name)
                continue
            data = [a for a in n.all_input_nodes if a.name not in meta]
            if data and all(a.name in tensors for a in data):     # computed from learned tensors alone
                tensors.add(n.name)
                continue
            _function(n, fns, add, ins, env, shapes, crops, tensors, layers)
        elif n.op == "output":
            keys = _output_keys(n.args[0], module, spec)
            for r in [r for r, _ in keys]:
                if getattr(r, "name", None) not in env:
                    raise ImportError_(f"the module's output {r} is not a tensor netc can follow")
                outputs.append(env[r.name])
        elif n.op == "get_attr":
            tensors.add(n.name)     # a learned tensor: read by a class token or a position embedding
    layers[:] = split_joins(layers)
    outputs = _layouts(layers, outputs)
    weights = getattr(module, "aux_weights", None) or {}
    ws = list(weights.values()) if isinstance(weights, dict) else []
    named = [(o, k) for o, (_, k) in zip(outputs, keys) if k is not None]      # several outputs, keyed
    side = [o for o, (_, k) in zip(outputs, keys) if k is None]
    if named:
        outs = [(named[0][0], None)] + [(o, ws[i] if i < len(ws) else None) for i, o in enumerate(side)]
    else:
        outs = [(side[0], None)] + [(o, ws[i] if i < len(ws) else None) for i, o in enumerate(side[1:])]
    idx = {l.name: l for l in layers}
    main = idx.get(outputs[0])
    c, h, w = tuple(x.shape[1:4]) if x.dim() == 4 else (x.shape[1], None, None)
    name = type(module).__name__
    meta = getattr(module, "netc", None)
    if isinstance(meta, dict) and meta.get("config"):
        name = f"{os.path.basename(str(meta.get('spec', '')))}:{meta['config']} compiled by netc"
    head = main is not None and main.kind == "fc"
    if spec is not None:     # the spec it was compiled from says whether it ends in a soft-max
        out = spec.node(spec.output).layer_kind
        head = out is not None and out.role == "prob" and not named
        _spec_kinds(layers, spec)
    size = (int(c), int(h), int(w))
    if spec is not None and not isinstance(spec.input_shape[1], int):
        size = (int(c), None, None)     # its spec takes any size (U-Net with same padding): the example is one
    net = Net(layers, size, None, outs, [], name, type(module).__name__, softmax_head=head)
    net.named_outputs = named                # type: ignore[attr-defined]
    # the joins its spec gave an `identity` branch (a node of its own there, nothing in torch)
    net.identity_joins = {j for n in spec.layers() if n.kind == "identity" for j in spec.g.successors(n.name)} \
        if spec is not None else None        # type: ignore[attr-defined]
    net.block_names = _block_names(spec)     # type: ignore[attr-defined]
    net.skips = _skips(spec) if spec is not None else {}    # type: ignore[attr-defined]
    # the joins its spec named (`concat(crop) as skip4`): written with their names
    net.named_joins = {n.name for n in spec.layers() if n.kind in JOINS and n.explicit} if spec is not None \
        else set()     # type: ignore[attr-defined]
    # the activations its spec wrote as layers (DenseNet's bn -> relu): not folded into the layer before
    # and the flatten it wrote before an FC layer (ConvNeXt's)
    net.own_layers = {n.name for n in spec.layers() if n.kind in (*ACT_KINDS, "flatten")} if spec is not None \
        else set()
    return net


#: kinds that act on each position's channels alone: the same on a map as on its tokens channels last
#: (and the stochastic ones, dropout and drop path: the identity at inference)
_PER_POSITION = (*ACT_KINDS, "ln", "fc", "layerscale")


def _per_position(kind) -> bool:
    return kind in _PER_POSITION or _stochastic(kind)


def _layouts(layers: list, outputs: list) -> list:
    """Channels-last detours read as the map they leave and come back to: ``to-tokens -> ln -> FC ->
    gelu -> FC -> to-map`` (ConvNeXt's block, timm's LayerNorm2d) is ``ln -> conv1 -> gelu -> conv1``
    on the map; a patch-sized convolution whose tokens stay on the grid is ``patch(grid)`` (Swin).
    Returns the outputs, renamed where their layer went."""
    users: dict = {}
    for l in layers:
        for i in l.inputs:
            users.setdefault(i, []).append(l)
    drop: dict = {}             # removed layer -> the layer that now gives its value
    outs = set(outputs)
    for t in layers:
        if t.kind != "to_tokens" or t.params.get("flat") or t.name in outs:
            continue
        chain, at = [], t
        while len(users.get(at.name, [])) == 1 and _per_position(users[at.name][0].kind) \
                and at.name not in outs:
            at = users[at.name][0]
            chain.append(at)
        back = users.get(at.name, [])
        if at.name in outs or len(back) != 1 or back[0].kind != "to_map":
            continue
        for l in chain:
            if l.kind == "fc":
                l.kind, l.params = "conv", {"out": l.params["out"], "k": 1, "stride": 1, "pad": 0, "groups": 1,
                                            "bias": l.params.get("bias", True)}
        drop[t.name], drop[back[0].name] = t.inputs[0], (chain[-1].name if chain else t.inputs[0])
    idx = {l.name: l for l in layers}
    for t in layers:            # conv -> to-tokens: a patch embedding on the grid
        src = idx.get(t.inputs[0]) if t.kind == "to_tokens" and t.name not in drop else None
        if src is None or src.kind != "conv" or len(users.get(src.name, [])) != 1 or src.name in outs:
            continue
        k = src.params["k"]
        if isinstance(k, int) and src.params["stride"] == k and src.params["pad"] in (0, [0, 0]) \
                and src.params.get("groups", 1) == 1 and "dilation" not in src.params:
            src.kind, src.params = "patch", {"out": src.params["out"], "k": k, "grid": True,
                                             "bias": src.params["bias"]}
            drop[t.name] = src.name

    def follow(name):
        while name in drop:
            name = drop[name]
        return name
    layers[:] = [l for l in layers if l.name not in drop]
    for l in layers:
        l.inputs = [follow(i) for i in l.inputs]
    return [follow(o) for o in outputs]


def _expand(n, branches, add, ins, src) -> None:
    """A module that is several netc layers (``MACROS``): each branch runs on the running value and
    is added to it (a residual)."""
    x = ins(n)[0]
    base = n.target.replace(".", "/")
    for j, branch in enumerate(branches):
        y = x
        for local, kind, params, act in branch:
            y = add(n, kind, params, [y], src, act, name=f"{base}/{local.replace('/', '_')}")
        x = add(n, "add", {}, [y, x], src, name=f"{base}/add{j + 1}")


def torch_transpose():
    import torch
    return torch.transpose


def _size_of(size):
    """The node whose height and width ``size`` is (``y.shape[-2:]``, ``y.size()[2:]``), or None."""
    import torch.fx as fx
    if not isinstance(size, fx.Node) or size.op != "call_function" or size.target is not operator.getitem:
        return None
    of, sl = size.args
    if not isinstance(sl, slice) or (sl.start % 4 if isinstance(sl.start, int) else None) != 2 or sl.stop is not None:
        return None
    if of.op == "call_function" and of.target is getattr and of.args[1] == "shape":
        return of.args[0]
    if of.op == "call_method" and of.target == "size" and len(of.args) == 1:
        return of.args[0]
    return None


class OutputError(ImportError_):
    """What a module returns cannot be written (a key the language has no word for)."""


#: a key the language can write after ``outputs NAME as``
_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-]*")


def _output_keys(res, module, spec) -> list:
    """What forward returns as [(fx node, key or None)]: one tensor (key None); a dict of tensors
    (several outputs: its keys); a tuple or list of them (keys 0, 1, ...), except where the tensors
    after the first are side outputs of training mode (a module with ``aux_weights``, a spec with
    ``aux``, or a module that returns one tensor in eval mode): those come after, key None."""
    def main(r):
        if isinstance(r, dict):
            out = []
            for k, v in r.items():
                if not isinstance(k, (str, int)) or not _KEY.fullmatch(str(k)):
                    raise OutputError(f"the module returns an output under the key {k!r}, which netc cannot write "
                                       f"(outputs NAME as KEY: letters, digits, _ and -)")
                out.append((v, str(k)))
            return out
        if isinstance(r, (tuple, list)):
            return [(v, str(i)) for i, v in enumerate(r)]
        return [(r, None)]
    if not isinstance(res, (tuple, list)):
        return main(res)
    side = bool(getattr(module, "aux_weights", None)) or (spec is not None and bool(spec.aux)) or \
        (spec is None and _one_in_eval(module))
    if not side:
        return main(res)
    if not res:
        raise ImportError_("the module returns an empty tuple")
    return main(res[0]) + [(r, None) for r in res[1:]]


def _one_in_eval(module) -> bool:
    """Whether ``module`` returns one tensor in eval mode (its tuple in training holds side outputs)."""
    was = module.training
    try:
        module.eval()
        _, graph = trace(module)
    except Exception:   # noqa: BLE001 - fx cannot trace it in eval mode: say several outputs
        return False
    finally:
        module.train(was)
    out = next(n for n in graph.nodes if n.op == "output").args[0]
    return not isinstance(out, (tuple, list, dict))


def _chunk_params(n, shapes: dict) -> dict:
    """``torch.narrow(x, dim, start, length)`` (``x.narrow(...)``) on the channels as chunk's parameters:
    equal parts where they are (``chunk(2, 1)``), else the sizes of the parts (``chunk([24, 40], 0)``)."""
    a = dict(zip(("input", "dim", "start", "length"), n.args))
    a.update(n.kwargs)
    x = shapes.get(getattr(a.get("input"), "name", None))
    dim, start, size = a.get("dim"), a.get("start"), a.get("length")
    if x is None or not all(isinstance(v, int) for v in (dim, start, size)):
        raise ImportError_(f"node {n.name} ({n.format_node()}): a narrow netc cannot read")
    dim %= len(x)
    if not ((len(x) == 4 and dim == 1) or (len(x) == 3 and dim == 2)):
        raise ImportError_(f"node {n.name} ({n.format_node()}) cuts dimension {dim} of {list(x)}; netc's chunk "
                           f"cuts the channels")
    c = x[dim]
    if size <= 0 or start < 0 or start + size > c:
        raise ImportError_(f"node {n.name}: channels {start}..{start + size} of {c}")
    if c % size == 0 and start % size == 0:
        return {"parts": c // size, "index": start // size}
    sizes = [v for v in (start, size, c - start - size) if v]
    return {"parts": sizes, "index": 1 if start else 0}


def _spec_ir(module):
    """The IR of the spec a module compiled by netc came from (None for any other module)."""
    meta = getattr(module, "netc", None)
    if not isinstance(meta, dict) or not meta.get("spec") or not meta.get("config"):
        return None
    try:
        import netc
        return netc.load(meta["spec"], meta["config"])
    except Exception:   # noqa: BLE001 - only a hint: a spec that moved or changed gives none
        return None


#: (kind read from torch, kind the spec wrote) pairs that compile to the same torch code: a module
#: compiled by netc is read back as the kind its spec wrote (``gap`` is adaptive pooling to 1x1)
SAME_CODE = {("adaptive_avgpool", "gap"), ("adaptive_max", "gmp")}


def _spec_kinds(layers: list, spec) -> None:
    kinds = {n.name: n.kind for n in spec.layers()}
    for l in layers:
        k = kinds.get(l.name)
        if k is not None and k != l.kind and (l.kind, k) in SAME_CODE:
            l.kind, l.params = k, {}
    _residuals(layers, spec)


def _residuals(layers: list, spec) -> None:
    """``residual { ... }`` adds its input where the shapes agree and is nothing in torch where they
    do not: the spec's residual joins go back in, each reading its body and its input."""
    have = {l.name: l for l in layers}

    def ours(name):         # the layer of ours that the spec's node is (identities read through)
        while name not in have and name != "input":
            n = spec.node(name)
            ps = spec.preds(name)
            if n.kind not in ("identity",) or len(ps) != 1:
                return None
            name = ps[0]
        if name != "input" and (spec.node(name).act or "none") != "none":     # its activation is a node here
            name = next((l.name for l in layers if l.inputs == [name] and l.kind in ACT_KINDS), name)
        return name
    for n in spec.layers():
        if n.kind != "residual":
            continue
        ps = [ours(p) for p in spec.preds(n.name)]
        if len(ps) != 2 or None in ps:
            continue
        if n.name in have:
            have[n.name].kind, have[n.name].inputs = "residual", ps
            continue
        body = ps[0]
        for l in layers:
            l.inputs = [n.name if i == body else i for i in l.inputs]
            if l.params.get("like") == body:        # upsample(like=c3): the residual is c3's output
                l.params["like"] = n.name
        r = Layer(n.name, "residual", {}, ps, f"spec {n.name}", None, "residual")
        layers.insert(next(i for i, l in enumerate(layers) if l.name == body) + 1, r)
        have[n.name] = r


def _skips(spec) -> dict:
    """{join: the layers it reads with ``from``}: a branch that is an earlier layer, not a path from
    the group's input (U-Net's ``concat(crop) { from conv4_2 ; identity }``)."""
    def before(a, b):       # a is upstream of b
        seen, todo = set(), [b]
        while todo:
            n = todo.pop()
            for p in spec.preds(n):
                if p == a:
                    return True
                if p not in seen:
                    seen.add(p)
                    todo.append(p)
        return False
    out: dict = {}
    for n in spec.layers():
        ps = spec.preds(n.name) if n.kind in JOINS and n.kind != "residual" else []    # residual reads its input
        for p in ps:
            if spec.node(p).kind != "identity" and any(q != p and before(p, q) for q in ps):
                out.setdefault(n.name, set()).add(p)
    return out


def _block_names(spec) -> dict:
    """A module compiled by netc names its blocks in its spec: {instance: block name}."""
    if spec is None:
        return {}
    return {name: sc.block for name, sc in spec.scopes.items() if sc.kind == "block" and sc.block}


def _parts(n, shapes: dict) -> list[int]:
    """The channels of each part of ``x.chunk(k, dim)`` / ``torch.split(x, s, dim)`` (torch's rules:
    chunk's parts are ceil(C/k) but the last; split's are s each but the last, or the list given)."""
    chunked = n.target == "chunk" or getattr(n.target, "__name__", "") == "chunk"
    names = ("input", "chunks", "dim") if chunked else ("input", "split_size_or_sections", "dim")
    a = dict(zip(names, n.args))
    a.update(n.kwargs)
    if "split_size" in a:
        a["split_size_or_sections"] = a.pop("split_size")
    x = shapes.get(getattr(a.get("input"), "name", None))
    dim = a.get("dim", 0)
    if x is None or not isinstance(dim, int) or not ((len(x) == 4 and dim % 4 == 1) or (len(x) == 3 and dim % 3 == 2)):
        raise ImportError_(f"node {n.name} ({n.format_node()}) splits dimension {dim} of "
                           f"{list(x) if x is not None else '?'}; netc's chunk cuts the channels",
                           hint="netc reads a split of the channels: x.chunk(2, 1), torch.split(x, [24, 40], 1)")
    c = x[dim]
    if "chunks" in a:
        k = a["chunks"]
        size = -(-c // k)
        sizes = [size] * (c // size) + ([c % size] if c % size else [])
    else:
        s = a.get("split_size_or_sections")
        sizes = list(s) if isinstance(s, (list, tuple)) else [s] * (c // s) + ([c % s] if c % s else [])
    if not all(isinstance(v, int) and v > 0 for v in sizes) or sum(sizes) != c:
        raise ImportError_(f"node {n.name} ({n.format_node()}): parts netc cannot read")
    return sizes


def _declared_call(n, k, add, ins, shapes) -> None:
    """A call of a function kind ``k`` declares (``F.max_pool2d(x, 3, 2)``, ``torch.softmax(x, 1)``): its
    arguments read by the kind, as a module's attributes (``Kind.torch_args``)."""
    x = n.args[0] if n.args else n.kwargs.get("input")
    try:
        params = k.torch_params(call_args(k, n.args[1:], n.kwargs), shapes.get(getattr(x, "name", None)))
    except (ValueError, AttributeError, TypeError) as e:
        raise ImportError_(f"node {n.name} ({n.format_node()}): {e} has no netc form") from None
    if params is None:
        raise ImportError_(f"node {n.name} ({n.format_node()}): a call netc has no kind for")
    add(n, k.kind, params, ins(n)[:1], getattr(n.target, "__name__", str(n.target)))


def _function(n, fns, add, ins, env, shapes, crops, tensors, layers) -> None:
    kind = fns.get(n.target) if n.op == "call_function" else METHODS.get(n.target)
    if kind is None:
        declared = declared_function(n)
        if declared is not None:
            _declared_call(n, declared, add, ins, shapes)
            return
    if kind == "chunks":        # x.chunk(2, 1) / torch.split(...): a tuple, read part by part where indexed
        crops[("parts", n.name)] = (ins(n)[0], _parts(n, shapes))
        return
    if kind == "select" and hasattr(n.args[0], "name") and ("parts", n.args[0].name) in crops \
            and isinstance(n.args[1], int):
        src, sizes = crops[("parts", n.args[0].name)]
        if not n.users:             # a, b = x.chunk(2, 1) with a unused: nothing to read
            return
        i = n.args[1] % len(sizes)
        equal = len(set(sizes)) == 1
        add(n, "chunk", {"parts": len(sizes) if equal else sizes, "index": i}, [src], "chunk")
        return
    if kind == "select":        # x[:, i]: one token
        idx = n.args[1] if len(n.args) > 1 else None
        ok = isinstance(idx, tuple) and len(idx) == 2 and idx[0] == slice(None) and isinstance(idx[1], int)
        if not ok:
            kind = None
        else:
            add(n, "select", {"index": idx[1]}, ins(n)[:1], "getitem")
            return
    if kind in ("identity", "expand"):      # expand_like: a 1 x 1 branch the concat repeats (netc's concat does)
        env[n.name] = ins(n)[0]
        return
    if kind == "chunk":
        add(n, "chunk", _chunk_params(n, shapes), ins(n)[:1], "narrow")
        return
    if kind == "upsample":      # resize_like(x, ref, mode, align_corners): to the size of another layer
        a = list(n.args) + [None] * 4
        mode, ac = n.kwargs.get("mode", a[2] or "nearest"), n.kwargs.get("align_corners", a[3])
        x, ref = ins(n)[:2]
        add(n, "upsample", {"like": ref, "mode": mode, **({"align_corners": True} if ac else {})}, [x],
            "resize_like")
        return
    if kind == "interpolate":   # F.interpolate(x, size=y.shape[-2:] | scale_factor=2, mode=...)
        a = dict(zip(("input", "size", "scale_factor", "mode", "align_corners"), n.args))
        a.update(n.kwargs)
        mode, ac = a.get("mode", "nearest"), a.get("align_corners")
        if mode not in ("nearest", "bilinear") or a.get("recompute_scale_factor") or a.get("antialias"):
            raise ImportError_(f"node {n.name} ({n.format_node()}): an interpolation netc has no kind for "
                               f"(mode {mode!r})")
        p = {"mode": mode, **({"align_corners": True} if ac and mode == "bilinear" else {})}
        size, f = a.get("size"), a.get("scale_factor")
        ref = _size_of(size)
        if ref is not None and ref.name in env:
            p["like"] = env[ref.name]
        elif isinstance(size, (int, tuple, list)) and all(isinstance(v, int) for v in
                                                          (size if not isinstance(size, int) else [size])):
            p["size"] = size if isinstance(size, int) else list(size)
        elif f is not None and all(float(v) == int(v) for v in (f if isinstance(f, (tuple, list)) else [f])):
            p["factor"] = int(f) if not isinstance(f, (tuple, list)) else [int(v) for v in f]
        else:
            raise ImportError_(f"node {n.name} ({n.format_node()}): an interpolation to a size netc cannot "
                               f"follow; netc upsamples by an integer factor, to a size or to a layer's size")
        add(n, "upsample", p, ins(n)[:1], "interpolate")
        return
    if kind == "crop_at":       # crop_at(x, ref, top, left): the crop join
        top, left = (int(v) for v in n.args[2:4])
        add(n, "crop", {"offset": top if top == left else [top, left]}, ins(n)[:2], "crop_at")
        return
    learned = [a for a in n.all_input_nodes if a.name in tensors]
    if kind == "add" and learned:
        kind = "pos_embed"
    if kind == "mul" and learned:           # x * gamma: a learned scale per channel
        x, g = shapes.get(n.args[0].name if hasattr(n.args[0], "name") else ""), shapes.get(learned[0].name)
        c = None if x is None else x[1] if len(x) == 4 else x[-1]
        import math
        if g is None or c is None or math.prod(g) != c or (len(x) == 4 and tuple(g[-2:]) != (1, 1)):
            raise ImportError_(f"node {n.name} ({n.format_node()}) scales by a learned tensor of shape "
                               f"{list(g or ())}, not one value per channel; netc has no kind for it")
        add(n, "layerscale", {"init": 1e-6}, ins(n)[:1], "mul")
        return
    if kind == "concat" and learned:        # [token; x]: the class token in front of the sequence
        out = shapes.get(n.name)
        dim = n.args[1] if len(n.args) > 1 else n.kwargs.get("dim", 0)
        first = n.args[0][0] if isinstance(n.args[0], (list, tuple)) and n.args[0] else None
        if out is None or len(out) != 3 or dim not in (1, -2) or getattr(first, "name", None) not in tensors \
                or len(n.args[0]) != 2:
            raise ImportError_(f"node {n.name} ({n.format_node()}) concatenates a learned tensor other than a "
                               f"class token in front of a token sequence; netc has no kind for it")
        add(n, "cls_token", {}, ins(n)[:1], "cat")
        return
    if kind == "flatten" and (n.args[1] if len(n.args) > 1 else n.kwargs.get("start_dim", 0)) == 2:
        src = next((l for l in layers if l.name == env.get(n.args[0].name)), None)
        if src is not None and src.kind == "conv" and len(n.args[0].users) == 1:
            k = src.params["k"]             # conv -> flatten(2) -> transpose: a patch embedding
            if src.params["stride"] == k and src.params["pad"] in (0, [0, 0]) and isinstance(k, int):
                src.kind, src.params = "patch", {"out": src.params["out"], "k": k, "bias": src.params["bias"]}
                env[n.name] = src.name
                return
        if len(shapes.get(n.args[0].name, ())) == 4 and len(n.users) == 1:     # flatten(2) -> transpose(1, 2):
            (t,) = n.users                                                      # the map as a sequence
            if (t.op == "call_function" and t.target is torch_transpose()) or \
                    (t.op == "call_method" and t.target == "transpose"):
                if tuple(t.args[1:3]) in ((1, 2), (2, 1)):      # named as the transpose, the layer's output
                    env[n.name] = add(t, "to_tokens", {"flat": True}, ins(n)[:1], "flatten")
                    layers[-1].pending = True       # type: ignore[attr-defined]   (the transpose makes it one)
                    return
    if kind == "permute":       # between a map (N, C, H, W) and tokens on its grid, channels last
        dims = tuple(n.args[1]) if len(n.args) == 2 and isinstance(n.args[1], (tuple, list)) else tuple(n.args[1:])
        dims = dims or tuple(n.kwargs.get("dims", ()))
        if dims == (0, 2, 3, 1):
            add(n, "to_tokens", {}, ins(n)[:1], "permute")
            return
        if dims == (0, 3, 1, 2):
            add(n, "to_map", {}, ins(n)[:1], "permute")
            return
        kind = None
    if kind == "mean":          # the mean over a token grid's positions (or a sequence's tokens)
        dims = n.args[1] if len(n.args) > 1 else n.kwargs.get("dim")
        dims = tuple(d % len(shapes.get(n.args[0].name, (0,) * 4)) for d in
                     (dims if isinstance(dims, (tuple, list)) else [dims])) if dims is not None else None
        out = shapes.get(n.name)
        if out is not None and len(out) == 2 and dims in ((1, 2), (1,)) and \
                len(shapes.get(n.args[0].name, ())) == len(dims) + 2:
            add(n, "token_pool", {}, ins(n)[:1], "mean")
            return
        if out is not None and dims == (2, 3) and len(shapes.get(n.args[0].name, ())) == 4:   # global pooling
            name = add(n, "gap", {}, ins(n)[:1], "mean")
            if len(out) == 2:       # keepdim=False: N x C
                add(n, "flatten", {}, [name], "mean", name=f"{name}_flat")
            return
        kind = None
    if kind == "transpose":
        src = next((l for l in layers if l.name == env.get(n.args[0].name)), None)
        if src is not None and src.kind == "patch" and tuple(n.args[1:3]) == (1, 2):
            env[n.name] = src.name
            return
        if src is not None and getattr(src, "pending", False):
            src.pending = False         # type: ignore[attr-defined]
            env[n.name] = src.name
            return
        kind = None
    if kind is None:
        what = getattr(n.target, "__name__", str(n.target))
        raise ImportError_(f"node {n.name} calls {what}, which has no netc kind",
                           hint="a kind names the torch functions it reads (Kind.torch_functions); "
                                "netc.importers.fx_import reads a few more (_fn_names, METHODS)")
    inputs = ins(n)
    if kind == "crop":      # center_crop(x, ref): read back as the concat(crop) that reads it
        crops[n.name] = inputs[0]
        env[n.name] = inputs[0]
        return
    if kind == "concat":
        if any(a.name in crops for a in n.all_input_nodes):
            add(n, kind, {"crop": True}, inputs, "cat")
            return
        dim = n.args[1] if len(n.args) > 1 else n.kwargs.get("dim", 0)
        rank = len(shapes.get(n.name, ()))
        params = {}
        if rank == 3 and dim in (1, -2):        # sequences of tokens, one after another
            params = {"axis": "tokens"}
        elif not (dim == 1 and rank != 3) and not (rank == 3 and dim in (2, -1)):
            raise ImportError_(f"node {n.name}: netc concatenates along channels (dim 1 of a map, the last of "
                               f"tokens) or a sequence's tokens, not dim {dim}")
        if len(inputs) == 1:        # torch.cat([x]) is x
            env[n.name] = inputs[0]
            return
        whole = list(inputs)
        for cut in range(len(inputs) - 1, 1, -1):   # DenseNet's cat(x0 ... xk): cat(cat(x0 ... xk-1), xk)
            before = next((l for l in reversed(layers) if l.kind == "concat" and l.params == params
                           and getattr(l, "concatenates", None) == inputs[:cut]), None)
            if before is not None:
                inputs = [before.name, *inputs[cut:]]
                break
        add(n, kind, params, inputs, "cat")
        layers[-1].concatenates = whole     # type: ignore[attr-defined]
        return
    if kind in ("add", "mul") and len(inputs) != 2:
        raise ImportError_(f"node {n.name}: an {'addition' if kind == 'add' else 'product'} with a constant has "
                           f"no netc kind")
    if kind == "flatten":
        out = shapes.get(n.name)
        if out is not None and len(out) != 2:
            raise ImportError_(f"node {n.name} ({n.target}) reshapes to {list(out)}; netc only flattens to (N, features)")
        inputs = inputs[:1]
    params: dict = {}
    if kind == "bn":            # F.batch_norm(x, mean, var, weight, bias, training, momentum, eps)
        a = dict(zip(("input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps"), n.args))
        a.update(n.kwargs)
        params = {"eps": float(a.get("eps", 1e-5)), "momentum": float(a.get("momentum", 0.1) or 0.1),
                  "affine": a.get("weight") is not None}
        inputs = inputs[:1]
    if kind == "ln":            # F.layer_norm(x, (C,), weight, bias, eps) over the last dimension
        a = dict(zip(("input", "normalized_shape", "weight", "bias", "eps"), n.args))
        a.update(n.kwargs)
        if len(a.get("normalized_shape", ())) != 1:
            raise ImportError_(f"node {n.name}: a layer norm over {list(a.get('normalized_shape', ()))} has no netc "
                               f"kind (netc's ln normalises the last dimension)")
        params = {"eps": float(a.get("eps", 1e-5)), "affine": a.get("weight") is not None}
        inputs = inputs[:1]
    if kind == "shuffle":
        params = {"groups": int(n.args[1] if len(n.args) > 1 else n.kwargs["groups"])}
        inputs = inputs[:1]
    if kind in (*ACT_KINDS, "cls_token", "pos_embed"):
        inputs = inputs[:1]
    add(n, kind, params, inputs, getattr(n.target, "__name__", str(n.target)))
