"""Dense evaluation (VGG section 3.2): fully-connected layers become convolutions, so the network
slides over an image of any size at or above its nominal one, and the class score map is averaged.

:func:`densify` is an IR -> IR transform. The first FC of a head, fed by a C x h x w map, becomes
a ``conv(out, k=[h, w], pad=0)`` over that map; the FCs after it become 1x1 convolutions; a global
average pool and a flatten follow the last one, before any soft-max (the scores are averaged, then
normalised). Layer names stay the same, so a checkpoint of the ordinary network loads into the
dense one once each FC weight (out, C*h*w) is reshaped to (out, C, h, w) (:func:`fc_to_conv`).
At the nominal input the score map is 1 x 1 and both networks compute the same thing.

>>> import netc
>>> d = densify(netc.load("vgg:D"))
>>> d.node("fc6").paper, d.node("fc7").paper, d.node("fc8_avg").kind, d.any_size, d.min_input
('conv7-4096', 'conv1-4096', 'gap', True, (224, 224))
"""
from __future__ import annotations

import copy


from netc.kinds import DEFAULT


from netc.kinds.params import ConvParams, NoParams
from netc.dsl.errors import UsageError, raise_all
from netc.ir.graph import Graph
from netc.ir import IR, Node
from netc.passes import infer

def _is_fc(n: Node) -> bool:
    return n.layer_kind is not None and n.layer_kind.role == "fc"


def _passes(n: Node) -> bool:
    """A layer between FCs that works on a map exactly as on a vector (the kind's ``pointwise``)."""
    k = n.layer_kind
    return bool(k is not None and k.pointwise and not k.join)


def densify(ir: IR) -> IR:
    """A copy of ``ir`` with every fully-connected layer turned into a convolution and a global
    average over the score map after the last one of each head (main output and side outputs)."""
    fcs = [n for n in ir.layers() if _is_fc(n)]
    if not fcs:
        raise UsageError(f"dense evaluation turns fully-connected layers into convolutions, but "
                         f"{ir.config or 'this network'} has none: it already takes any input size"
                         if ir.any_size else "this network has no fully-connected layer to convert")
    new = copy.deepcopy(ir)
    ends = []
    for n in fcs:
        nn_ = new.node(n.name)
        src = ir.node(ir.preds(n.name)[0])
        shape = src.shape if src.shape is not None else src.sym_shape
        if len(shape) == 3:
            k = [shape[1], shape[2]]
        elif _fed_by_dense(ir, n.name):
            k = 1
        else:
            raise UsageError(f"dense evaluation: {n.name} ({n.paper}) is fed by a vector from '{src.name}' "
                             f"({src.paper}), not by a feature map, so it cannot become a convolution")
        _to_conv(nn_, k)
        if _last_fc(ir, n.name):
            ends.append(n.name)
    new.g = _insert_averages(new, ends)
    new.errors = []
    infer(new)
    raise_all(new.errors)
    return new


def _to_conv(n: Node, k) -> None:
    p = n.params
    n.params = ConvParams(out=p.out, k=k, stride=1, pad=0, bias=p.bias, act=p.act)
    n.kind, n.word, n.spec = "conv", f"dense({n.word})", DEFAULT["conv"]


def _fed_by_dense(ir: IR, name: str) -> bool:
    """Whether an FC fed by a vector gets it from another FC (through dropout, ReLU...)."""
    p = ir.preds(name)[0]
    while _passes(ir.node(p)):
        p = ir.preds(p)[0]
    return _is_fc(ir.node(p))


def _last_fc(ir: IR, name: str) -> bool:
    """No FC after this one in its head (looking through pass-through layers)."""
    todo = list(ir.g.successors(name))
    while todo:
        s = ir.node(todo.pop())
        if _is_fc(s):
            return False
        if _passes(s):
            todo += list(ir.g.successors(s.name))
    return True


def _insert_averages(ir: IR, ends: list[str]) -> Graph:
    """A new graph, in program order, with ``<fc>_avg`` (gap) and ``<fc>_flat`` after each end."""
    old, g = ir.g, Graph(ir.g.attrs.get("name", ""))
    renamed: dict[str, str] = {}
    for name, data in old.nodes.items():
        g.add_node(name, **data)
        for u, e in old.pred[name].items():
            g.add_edge(renamed.get(u, u), name, port=e.get("port", 0))
        if name in ends:
            n = data["node"]
            avg = _extra(n, "_avg", "gap", NoParams())
            flat = _extra(n, "_flat", "flatten", NoParams())
            g.add_node(avg.name, node=avg)
            g.add_edge(name, avg.name, port=0)
            g.add_node(flat.name, node=flat)
            g.add_edge(avg.name, flat.name, port=0)
            renamed[name] = flat.name
    _retarget(ir, renamed)
    return g


def _extra(n: Node, suffix: str, kind: str, params) -> Node:
    return Node(n.name + suffix, kind, params, n.span, n.scope, n.aux, kind, spec=DEFAULT[kind])


def _retarget(ir: IR, renamed: dict[str, str]) -> None:
    """Outputs, side-output heads and scopes that ended at a converted FC now end at its flatten."""
    ir.output = renamed.get(ir.output, ir.output)
    ir.outputs = {k: renamed.get(v, v) for k, v in ir.outputs.items()}
    for a in ir.aux:
        a.output = renamed.get(a.output, a.output)
    for s in ir.scopes.values():
        s.output = renamed.get(s.output, s.output)


# ---------------------------------------------------------------------- weights
def fc_to_conv(weight, conv_shape):
    """An FC weight (out, C*h*w) as the equivalent conv weight (out, C, h, w); PyTorch flattens a
    map channel-major, so this is a reshape. Works both ways (conv -> FC too)."""
    if weight.numel() != _numel(conv_shape):
        raise ValueError(f"cannot reshape a weight of shape {tuple(weight.shape)} to {tuple(conv_shape)}: "
                         "the sizes differ")
    return weight.reshape(tuple(conv_shape))


def _numel(shape) -> int:
    out = 1
    for d in shape:
        out *= int(d)
    return out


def convert_state_dict(state_dict: dict, target: dict) -> dict:
    """``state_dict`` (of the ordinary network) with every tensor whose shape differs from
    ``target``'s (the dense network's state_dict) reshaped to it, where the sizes agree."""
    out = {}
    for key, value in state_dict.items():
        want = target.get(key)
        if want is not None and tuple(value.shape) != tuple(want.shape) and value.numel() == want.numel():
            value = fc_to_conv(value, want.shape)
        out[key] = value
    return out


__all__ = ["densify", "fc_to_conv", "convert_state_dict"]
