"""An ONNX file -> the neutral layer graph (read with the ``onnx`` package; nothing is run).

ONNX operators map to netc kinds one to one (``OPS``): Conv, Gemm, MaxPool, AveragePool,
GlobalAveragePool, GlobalMaxPool, LRN, BatchNormalization, Relu, Sigmoid, Tanh, Softmax,
Dropout, Flatten, Reshape to (N, features), Concat on channels, Add of two tensors, Identity.
Layer names come from the weights' names (``conv1.weight`` -> ``conv1``) or from the node's
scope (``/inception_3a/1x1/Conv`` -> ``inception_3a/1x1``). Any other operator is an error
naming the node and its op type, and so is a node outside the standard domain (``""`` /
``ai.onnx``) or from an opset newer than the installed ``onnx`` knows.

An ONNX file is hostile input. External data is read only from the model's own folder (never
the current directory): no absolute paths, no ``..``, no symbolic link that leads out, regular
files only, and a tensor's declared size is checked against the bytes there before anything is
read. A plain import reads only the few small tensors that decide the spec (a Reshape's shape, a
scalar constant); ``--weights`` reads the rest. No message ever shows a tensor's contents.
"""
from __future__ import annotations

import math
import os
import re
import stat

from netc.importers.graph import ImportError_, Layer, Net


def _attrs(node) -> dict:
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _sym(pads, what, node) -> int | list:
    n = len(pads) // 2
    begin, end = list(pads[:n]), list(pads[n:])
    if begin != end:
        raise ImportError_(f"node {node.name or node.output[0]} ({node.op_type}) pads {what} asymmetrically "
                           f"({list(pads)}); netc pads both sides alike")
    return begin[0] if len(set(begin)) == 1 else begin


def _one(v):
    v = list(v)
    return v[0] if len(set(v)) == 1 else v


def _nid(node) -> str:
    """How an error names a node: its name, else its first output."""
    return node.name or (node.output[0] if node.output else "") or "(unnamed)"


def _load(path: str):
    """The ModelProto of ``path``; external data is never loaded by onnx (see :func:`_array`)."""
    import onnx
    try:
        return onnx.load(path, load_external_data=False)
    except Exception as e:   # noqa: BLE001 - a broken file, whatever protobuf says
        raise ImportError_(f"{path}: not an ONNX model ({type(e).__name__})") from None


def read(path: str) -> Net:
    """The neutral graph of an ONNX file (its weights are not loaded)."""
    return to_net(_load(path), path)


# ------------------------------------------------------------------ domains and opsets
_STANDARD = ("", "ai.onnx")


def _check_ops(model, path: str) -> None:
    """Refuse a node outside the standard ONNX domain (a custom op that merely shares a standard
    op's name means something else) and a standard opset newer than the installed onnx knows."""
    import onnx.defs
    known = onnx.defs.onnx_opset_version()
    versions = {o.domain: o.version for o in model.opset_import}
    std = max((versions[d] for d in _STANDARD if d in versions), default=None)
    at = f"{path}: " if path else ""
    stack = [model.graph]
    while stack:
        g = stack.pop()
        for n in g.node:
            if n.domain not in _STANDARD:
                raise ImportError_(f"{at}node {_nid(n)} ({n.op_type}) is of domain {n.domain!r}, not standard ONNX; "
                                   "netc reads only the operators of the default domain ('' / 'ai.onnx')")
            if std is not None and std > known:
                raise ImportError_(f"{at}node {_nid(n)} ({n.op_type}) comes from ONNX opset {std}, newer than the "
                                   f"{known} this netc's onnx package knows",
                                   hint="export with an older opset, or upgrade the onnx package")
            stack += [a.g for a in n.attribute if a.type == a.GRAPH]
            stack += [sg for a in n.attribute if a.type == a.GRAPHS for sg in a.graphs]


# ------------------------------------------------------------------ tensors, external data included
_NUMERIC = {"FLOAT", "DOUBLE", "FLOAT16", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64",
            "BOOL"}


def _array(t, name: str, what: str, folder: str | None, path: str = ""):
    """The numpy array of tensor ``t`` (called ``name``; ``what`` says whose it is, for errors).

    Its declared shape is checked against the data it holds before anything is converted; external
    data is read only from ``folder`` (the model's own folder), see :func:`_external`. No error
    shows the tensor's contents."""
    from onnx import TensorProto, helper, numpy_helper
    label = f"{path + ': ' if path else ''}tensor '{name}'{f' ({what})' if what else ''}"
    dims = list(t.dims)
    if any(d < 0 for d in dims):
        raise ImportError_(f"{label} declares a negative dimension ({'x'.join(map(str, dims))})")
    tname = TensorProto.DataType.Name(t.data_type) if t.data_type in TensorProto.DataType.values() else str(t.data_type)
    if tname not in _NUMERIC:
        raise ImportError_(f"{label} is of type {tname}; netc reads float, integer and bool tensors")
    import numpy as np
    count = math.prod(dims)
    size = count * np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type)).itemsize
    shape = "x".join(map(str, dims)) or "a scalar"
    if t.data_location == TensorProto.EXTERNAL:
        raw = _external(t, label, shape, size, folder)
        c = TensorProto()
        c.data_type, c.name = t.data_type, t.name
        c.dims.extend(dims)
        c.raw_data = raw
        t = c
    elif t.raw_data:
        if len(t.raw_data) != size:
            raise ImportError_(f"{label} declares shape {shape} ({size:,} bytes) but holds {len(t.raw_data):,} bytes")
    else:
        held = len(getattr(t, helper.tensor_dtype_to_field(t.data_type)))
        if held != count:
            raise ImportError_(f"{label} declares shape {shape} ({count:,} values) but holds {held:,} values")
    try:
        return numpy_helper.to_array(t)
    except Exception as e:  # noqa: BLE001 - whatever onnx/numpy make of a malformed tensor; never its contents
        raise ImportError_(f"{label} cannot be read ({type(e).__name__})") from None


def _external(t, label: str, shape: str, size: int, folder: str | None) -> bytes:
    """The ``size`` bytes of external data of ``t``, from a regular file inside ``folder``."""
    info = {e.key: e.value for e in t.external_data}
    loc = info.get("location", "")
    if folder is None:
        raise ImportError_(f"{label} is stored in external data, and no folder is known to read it from")
    if not loc or "\x00" in loc:
        raise ImportError_(f"{label} is stored in external data without a usable location")
    parts = re.split(r"[\\/]", loc)
    if loc.startswith(("/", "\\")) or os.path.isabs(loc) or re.match(r"[A-Za-z]:", loc):
        raise ImportError_(f"{label} is stored in external data at an absolute path; netc reads external data "
                           "only from the model's folder")
    if ".." in parts:
        raise ImportError_(f"{label} is stored in external data {loc!r}, outside the model's folder; netc reads "
                           "external data only from the model's folder")
    nums = {}
    for key in ("offset", "length"):
        v = info.get(key)
        if v is not None and not re.fullmatch(r"[0-9]{1,20}", v):
            raise ImportError_(f"{label}: its external data's {key} {v[:40]!r} is not a byte count")
        nums[key] = int(v) if v is not None else None
    offset = nums["offset"] or 0
    if nums["length"] is not None and nums["length"] != size:
        raise ImportError_(f"{label} declares shape {shape} ({size:,} bytes) but its external data is "
                           f"{nums['length']:,} bytes long")
    base = os.path.realpath(folder)
    full = os.path.realpath(os.path.join(base, *[p for p in parts if p not in ("", ".")]))
    if os.path.commonpath([base, full]) != base or full == base:
        raise ImportError_(f"{label} is stored in external data {loc!r}, which leads outside the model's folder "
                           "(a symbolic link); netc reads external data only from the model's folder")
    try:
        fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ImportError_(f"{label} is stored in external data {loc!r}, which is not in the model's folder "
                           f"({folder})") from None
    except OSError as e:
        raise ImportError_(f"{label}: cannot open its external data {loc!r} ({e.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ImportError_(f"{label} is stored in external data {loc!r}, which is not a regular file")
        if offset + size > st.st_size:
            raise ImportError_(f"{label} declares shape {shape} ({size:,} bytes) but its external data {loc!r} "
                               f"holds {max(st.st_size - offset, 0):,} bytes from offset {offset:,}")
        chunks, got = [], 0
        while got < size:
            b = os.pread(fd, min(size - got, 1 << 24), offset + got)
            if not b:
                raise ImportError_(f"{label}: its external data {loc!r} ended early")
            chunks.append(b)
            got += len(b)
        return b"".join(chunks)
    except OSError as e:
        raise ImportError_(f"{label}: cannot read its external data {loc!r} ({e.strerror})") from None
    finally:
        os.close(fd)


def _constant_tensor(n):
    """The tensor a Constant node makes (``value``, ``value_int(s)``, ``value_float(s)``), or None."""
    from onnx import TensorProto, helper
    for a in n.attribute:
        if a.name == "value" and a.type == a.TENSOR:
            return a.t
        if a.name == "value_int":
            return helper.make_tensor("", TensorProto.INT64, [], [a.i])
        if a.name == "value_ints":
            return helper.make_tensor("", TensorProto.INT64, [len(a.ints)], list(a.ints))
        if a.name == "value_float":
            return helper.make_tensor("", TensorProto.FLOAT, [], [a.f])
        if a.name == "value_floats":
            return helper.make_tensor("", TensorProto.FLOAT, [len(a.floats)], list(a.floats))
    return None


class _Reader:
    def __init__(self, model, path: str):
        self.g = model.graph
        self.path = path
        self.folder = os.path.dirname(os.path.abspath(path)) if path else None
        self.inits = {i.name: i for i in self.g.initializer}
        self.consts: dict = {}         # value name -> the tensor of the Constant node that makes it
        for n in self.g.node:
            if n.op_type == "Constant" and n.output:
                t = _constant_tensor(n)
                if t is not None:
                    self.consts[n.output[0]] = t
        self.alias: dict = {}          # value name -> initializer name (Identity of an initializer)
        self.value: dict = {}          # value name -> layer name ("input")
        self.layers: list[Layer] = []
        self.names: set = set()
        self.next: dict = {}           # base name -> the next suffix to try (linear naming)
        self.weights: dict = {}        # layer name -> {"weight": init name, "bias": ...}

    def init(self, name: str):
        name = self.alias.get(name, name)
        return self.inits.get(name)

    def tensor(self, name: str):
        """The initializer or Constant node's tensor called ``name`` (through Identity), or None."""
        t = self.init(name)
        return t if t is not None else self.consts.get(self.alias.get(name, name))

    def array(self, t, name: str, what: str):
        return _array(t, name, what, self.folder, self.path)

    def src(self, node, name: str) -> str:
        if name not in self.value:
            raise ImportError_(f"node {node.name or node.output[0]} ({node.op_type}) reads '{name}', "
                               "which is not a tensor netc can follow")
        return self.value[name]

    def layer_name(self, node, weight: str | None) -> str:
        if weight and weight.endswith(".weight"):
            base = weight[: -len(".weight")]
        else:
            parts = [p for p in (node.name or "").split("/") if p]
            base = "/".join(parts[:-1]) if len(parts) > 1 else ""
            if not base or re.fullmatch(r"(node_)?" + re.escape(node.op_type) + r"(_\d+)?", base, re.I):
                base = re.sub(r"_output_\d+$", "", node.output[0].strip("/")).replace("/", "_")
        base = base.replace(".", "/")
        name = _unique(base, self.names, self.next)
        self.names.add(name)
        return name

    def add(self, node, kind: str, params: dict, inputs: list, weight: str | None = None, extra: dict | None = None):
        name = self.layer_name(node, weight)
        self.layers.append(Layer(name, kind, params, inputs, f"node {node.name or node.output[0]}", None, node.op_type))
        self.value[node.output[0]] = name
        if extra:
            self.weights[name] = extra


def _unique(base: str, taken: set, nxt: dict) -> str:
    """``base``, else the first of ``base_2``, ``base_3`` ... not in ``taken``; ``nxt`` remembers
    where the search for each base stopped (names are only ever added), so n names cost O(n)."""
    if base not in taken:
        return base
    i = nxt.get(base, 2)
    while f"{base}_{i}" in taken:
        i += 1
    nxt[base] = i + 1
    return f"{base}_{i}"


def to_net(model, path: str = "") -> Net:
    _check_ops(model, path)
    r = _Reader(model, path)
    inputs = [i for i in r.g.input if i.name not in r.inits]
    if len(inputs) != 1:
        raise ImportError_(f"{path}: the model takes {len(inputs)} inputs; netc networks take one")
    inp = inputs[0]
    r.value[inp.name] = "input"
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inp.type.tensor_type.shape.dim]
    shape = tuple(dims[1:4]) if len(dims) == 4 else None
    static = _static(r)
    fused = _find_lrn(r, static)
    for node in r.g.node:
        key = node.output[0] if node.output else ""
        if key in fused or any(o in fused for o in node.output):
            if fused.get(key) is not None:
                params, x = fused[key]
                r.add(node, "lrn", params, [r.src(node, x)])
            continue
        if node.op_type != "Identity" and node.output and all(o in static for o in node.output):
            continue        # shape arithmetic and constants: not a layer
        rule = OPS.get(node.op_type)
        if rule is None:
            raise ImportError_(f"node {_nid(node)} of type {node.op_type} has no netc kind",
                               hint="netc reads Conv, Gemm, pooling, LRN, BatchNormalization, Relu, Softmax, "
                                    "Dropout, Flatten, Concat, Add")
        try:
            rule(r, node)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:
            # a hostile or broken node (an attribute or input missing, of the wrong type)
            raise ImportError_(f"{path + ': ' if path else ''}node {_nid(node)} ({node.op_type}) is malformed: "
                               f"netc cannot read its attributes or inputs ({type(e).__name__})") from None
    _rescope(r)
    outs = [r.value.get(o.name) for o in r.g.output]
    if any(o is None or o == "input" for o in outs):
        raise ImportError_(f"{path}: an output of the model is not produced by a layer netc reads")
    main = {l.name: l for l in r.layers}[outs[0]]
    net = Net(r.layers, shape, None, [(o, None) for o in outs], [], model.graph.name or os.path.basename(path), path,
              softmax_head=main.kind == "fc")
    net.weight_names = r.weights     # type: ignore[attr-defined]
    return net


# ------------------------------------------------------------------ names of layers without weights
def _rescope(r: _Reader) -> None:
    """Exporters name a layer without weights by its module's own name (``pool``, deduplicated to
    ``pool_2``), not its path. Put it back in the scope of the weighted layer it feeds along a
    chain, when its input is a fork or in that scope (an inception branch's pool, an aux head's
    pool), and drop the exporter's ``_N`` suffix."""
    weighted = set(r.weights)
    leaves = {}
    for l in r.layers:
        leaves.setdefault(l.name.rsplit("/", 1)[-1], l)
    cons: dict = {}
    for l in r.layers:
        for i in l.inputs:
            cons.setdefault(i, []).append(l)
    idx = {l.name: l for l in r.layers}
    rename = {}
    for l in r.layers:
        if l.name in weighted or l.kind in ("concat", "add") or "/" in l.name:
            continue
        leaf = l.name
        m = re.fullmatch(r"(.+)_\d+", leaf)
        if m and m.group(1) in leaves:
            leaf = m.group(1)
        w, seen = l, 0
        while w.name not in weighted and len(cons.get(w.name, [])) == 1 and seen < 8:
            w, seen = cons[w.name][0], seen + 1
        scope = w.name.rsplit("/", 1)[0] if w.name in weighted and "/" in w.name else ""
        src = idx.get(l.inputs[0]) if l.inputs else None
        fork = src is None or len(cons.get(src.name, [])) > 1
        if scope and not (fork or rename.get(src.name, src.name).startswith(scope + "/")):
            scope = ""
        rename[l.name] = f"{scope}/{leaf}" if scope else leaf
    taken: set = set()
    nxt: dict = {}
    for l in r.layers:
        new = _unique(rename.get(l.name, l.name), taken, nxt)
        taken.add(new)
        rename[l.name] = new
    for l in r.layers:
        l.inputs = [rename.get(i, i) for i in l.inputs]
    for l in r.layers:
        l.name = rename[l.name]
    r.value = {k: rename.get(v, v) for k, v in r.value.items()}
    r.weights = {rename.get(k, k): v for k, v in r.weights.items()}


# ------------------------------------------------------------------ LRN, as exporters decompose it
def _const(r: _Reader, name: str, what: str = "a constant"):
    """The value of a scalar constant (an initializer or a Constant node), or None."""
    t = r.tensor(name)
    if t is None or math.prod(t.dims) != 1:
        return None         # not a scalar: nothing is read
    a = r.array(t, name, what)
    return float(a.reshape(-1)[0]) if a.dtype.kind in "fiub" else None


def _static(r: _Reader) -> set:
    """Values known before any input arrives: weights, constants, shapes and what is computed
    from them alone (exporters' shape arithmetic)."""
    static = set(r.inits)
    for n in r.g.node:
        if n.op_type in ("If", "Loop", "Scan"):
            continue        # their bodies may read anything
        if n.op_type in ("Constant", "Shape", "Size") or (n.input and all(i in static or not i for i in n.input)):
            static.update(n.output)
        elif n.op_type == "Identity" and n.input[0] in static:
            static.update(n.output)
    return static


def _outer_inputs(n) -> list:
    """What a node reads, the values its If / Loop bodies read from outside included."""
    ins = [i for i in n.input if i]
    for a in n.attribute:
        if a.type == a.GRAPH:
            made = {o for m in a.g.node for o in m.output}
            ins += [i for m in a.g.node for i in m.input if i and i not in made]
    return ins


def _find_lrn(r: _Reader, static: set) -> dict:
    """PyTorch exports ``local_response_norm`` as x*x, a pooled window sum, *alpha, +k, ^beta and
    x / that. Find each such subgraph, walking back from a Div(x, d) to x:
    {output name: None (swallowed) or (params, x) at the final Div}."""
    made = {o: n for n in r.g.node for o in n.output}
    out: dict = {}
    for end in r.g.node:
        if end.op_type != "Div" or end.input[0] in static or end.input[1] in static:
            continue
        x = end.input[0]
        seen, stack, square = [], [end.input[1]], None
        while stack and len(seen) < 40:
            v = stack.pop()
            n = made.get(v)
            if n is None or v in static or v == x or n in seen:
                continue
            seen.append(n)
            if n.op_type == "Mul" and list(n.input) == [x, x]:
                square = n
                continue
            stack += [i for i in _outer_inputs(n) if i not in static]
        ops = {m.op_type: m for m in seen}
        if square is None or "AveragePool" not in ops or "Pow" not in ops:
            continue
        k = _attrs(ops["AveragePool"]).get("kernel_shape")
        if not k:
            continue
        consts = lambda m: [v for v in (_const(r, i, f"an input of node {_nid(m)}") for i in m.input)   # noqa: E731
                            if v is not None]
        alpha = next((v for m in seen if m.op_type == "Mul" and m is not square for v in consts(m)), 1.0)
        kk = next((v for m in seen if m.op_type == "Add" for v in consts(m)), 1.0)
        beta = next(iter(consts(ops["Pow"])), 0.75)
        params = {"size": int(k[0]), "alpha": float("%.6g" % alpha), "beta": float("%.6g" % beta),
                  "k": float("%.6g" % kk), "region": "across" if len(k) == 3 else "within"}
        for m in seen:
            for o in m.output:
                out[o] = None
        out[end.output[0]] = (params, x)
    return out


# ------------------------------------------------------------------ operators
def _conv(r: _Reader, n):
    a = _attrs(n)
    w = r.init(n.input[1])
    if w is None:
        raise ImportError_(f"node {n.name} (Conv) takes its weights from another node; netc needs them as initializers")
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise ImportError_(f"node {n.name} (Conv): auto_pad {a['auto_pad']!r} is not read; export with explicit pads")
    k = a.get("kernel_shape", list(w.dims[2:]))
    p = {"out": int(w.dims[0]), "k": _one(k), "stride": _one(a.get("strides", [1, 1])),
         "pad": _sym(a.get("pads", [0, 0, 0, 0]), "its input", n), "groups": int(a.get("group", 1)),
         "bias": len(n.input) > 2 and bool(n.input[2])}
    if _one(a.get("dilations", [1, 1])) != 1:
        p["dilation"] = _one(a["dilations"])
    wname = r.alias.get(n.input[1], n.input[1])
    r.add(n, "conv", p, [r.src(n, n.input[0])], wname,
          {"weight": wname, "bias": r.alias.get(n.input[2], n.input[2]) if p["bias"] else None})


def _gemm(r: _Reader, n):
    a = _attrs(n)
    w = r.init(n.input[1])
    if w is None or a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
        raise ImportError_(f"node {n.name} (Gemm) is not a fully-connected layer netc can read")
    out = int(w.dims[0] if a.get("transB", 0) else w.dims[1])
    bias = len(n.input) > 2 and bool(n.input[2])
    wname = r.alias.get(n.input[1], n.input[1])
    r.add(n, "fc", {"out": out, "bias": bias}, [r.src(n, n.input[0])], wname,
          {"weight": wname, "bias": r.alias.get(n.input[2], n.input[2]) if bias else None,
           "transposed": not a.get("transB", 0)})


def _pool(kind):
    def rule(r: _Reader, n):
        a = _attrs(n)
        if len(a.get("kernel_shape", [])) != 2:
            raise ImportError_(f"node {n.name} ({n.op_type}) pools over {len(a.get('kernel_shape', []))} dimensions; "
                               "netc pools over height and width")
        p = {"k": _one(a["kernel_shape"]), "stride": _one(a.get("strides", [1, 1])),
             "pad": _sym(a.get("pads", [0, 0, 0, 0]), "its input", n), "ceil": bool(a.get("ceil_mode", 0))}
        if kind == "avgpool" and not a.get("count_include_pad", 0):
            p["count_include_pad"] = False
        r.add(n, kind, p, [r.src(n, n.input[0])])
    return rule


def _simple(kind):
    def rule(r: _Reader, n):
        r.add(n, kind, {}, [r.src(n, n.input[0])])
    return rule


def _lrn(r: _Reader, n):
    a = _attrs(n)
    r.add(n, "lrn", {"size": int(a["size"]), "alpha": float(a.get("alpha", 1e-4)), "beta": float(a.get("beta", 0.75)),
                     "k": float(a.get("bias", 1.0)), "region": "across"}, [r.src(n, n.input[0])])


def _bn(r: _Reader, n):
    a = _attrs(n)
    p = {"eps": float(a.get("epsilon", 1e-5)), "momentum": round(1 - float(a.get("momentum", 0.9)), 6)}
    wname = r.alias.get(n.input[1], n.input[1])
    r.add(n, "bn", p, [r.src(n, n.input[0])], wname,
          {"weight": wname, "bias": n.input[2], "running_mean": n.input[3], "running_var": n.input[4]})


def _dropout(r: _Reader, n):
    a = _attrs(n)
    p = a.get("ratio", 0.5)
    if len(n.input) > 1 and n.input[1]:
        v = _const(r, n.input[1], f"the ratio of node {_nid(n)}")
        p = v if v is not None else p
    r.add(n, "dropout", {"p": round(float(p), 6)}, [r.src(n, n.input[0])])


def _concat(r: _Reader, n):
    if _attrs(n).get("axis") != 1:
        raise ImportError_(f"node {n.name} (Concat) joins along axis {_attrs(n).get('axis')}; netc joins channels")
    r.add(n, "concat", {}, [r.src(n, i) for i in n.input])


def _add(r: _Reader, n):
    if any(i in r.inits or i in r.consts for i in n.input):
        raise ImportError_(f"node {n.name} (Add) adds a constant; netc adds two layers' outputs only")
    r.add(n, "add", {}, [r.src(n, i) for i in n.input])


def _identity(r: _Reader, n):
    if n.input[0] in r.inits or n.input[0] in r.consts or n.input[0] in r.alias:
        r.alias[n.output[0]] = r.alias.get(n.input[0], n.input[0])
    else:
        r.value[n.output[0]] = r.src(n, n.input[0])


def _constant(r: _Reader, n):
    a = _attrs(n)
    if "value" in a:
        r.consts[n.output[0]] = a["value"]


def _flatten(r: _Reader, n):
    if _attrs(n).get("axis", 1) != 1:
        raise ImportError_(f"node {n.name} (Flatten) keeps {_attrs(n)['axis']} leading axes; netc flattens to (N, features)")
    r.add(n, "flatten", {}, [r.src(n, n.input[0])])


def _reshape(r: _Reader, n):
    from onnx import TensorProto
    t = r.tensor(n.input[1]) if len(n.input) > 1 else None
    if t is None:
        raise ImportError_(f"node {_nid(n)} (Reshape) takes its shape from another node; netc reads a Reshape "
                           "only to (N, features), with the shape a constant")
    if len(t.dims) != 1 or t.dims[0] != 2:
        # refused on the declared shape alone: nothing is read, and the values are never shown
        raise ImportError_(f"node {_nid(n)} (Reshape) to a shape of {'x'.join(map(str, t.dims)) or 'no'} values; "
                           "netc only flattens to (N, features)")
    if t.data_type != TensorProto.INT64:
        raise ImportError_(f"node {_nid(n)} (Reshape): its shape tensor '{n.input[1]}' is not int64, as ONNX "
                           "requires")
    r.array(t, n.input[1], f"the shape of node {_nid(n)}")      # read (from the model's folder only) and checked
    r.add(n, "flatten", {}, [r.src(n, n.input[0])])


OPS = {
    "Conv": _conv, "Gemm": _gemm, "MaxPool": _pool("maxpool"), "AveragePool": _pool("avgpool"),
    "GlobalAveragePool": _simple("gap"), "GlobalMaxPool": _simple("gmp"), "LRN": _lrn,
    "BatchNormalization": _bn, "Relu": _simple("relu"), "Sigmoid": _simple("sigmoid"), "Tanh": _simple("tanh"),
    "Softmax": _simple("softmax"), "Dropout": _dropout, "Flatten": _flatten, "Reshape": _reshape,
    "Concat": _concat, "Add": _add, "Identity": _identity, "Constant": _constant,
}


def weights(path: str, text: str) -> dict:
    """The ONNX file's weights as a state_dict for the spec ``text`` (keys from the compiled spec)."""
    import torch
    import netc
    model = _load(path)         # external data: read below, from the model's folder only
    net = to_net(model, path)
    folder = os.path.dirname(os.path.abspath(path))
    inits = {i.name: i for i in model.graph.initializer}
    compiled = netc.compile(netc.loads(text), device="meta")
    from netc.backends.torch.weights import dataflow_tensors
    dst = dataflow_tensors(compiled)
    wanted = []         # (tensor name, what it is, transposed)
    for l in net.layers:
        w = net.weight_names.get(l.name)
        for key in ("weight", "bias", "running_mean", "running_var"):
            if w and w.get(key):
                wanted.append((w[key], f"the {key} of layer '{l.name}', {l.where}",
                               key == "weight" and w.get("transposed")))
    if len(dst) != len(wanted):
        raise ImportError_(f"{path}: {len(wanted)} weight tensors for a spec that has {len(dst)}")
    out = {}
    for (k, v), (tname, what, transposed) in zip(dst, wanted):
        t = inits.get(tname)
        if t is None:
            raise ImportError_(f"{path}: tensor '{tname}' ({what}) is not an initializer of the model")
        if math.prod(t.dims) != v.numel():      # checked on the declared shape, before anything is read
            raise ImportError_(f"{path}: tensor '{tname}' ({what}) has shape {'x'.join(map(str, t.dims)) or 'scalar'}; "
                               f"the spec's {k} needs {'x'.join(map(str, v.shape))}")
        a = torch.from_numpy(_array(t, tname, what, folder, path).copy())
        if transposed:
            a = a.reshape(t.dims[0], -1).t().contiguous()
        out[k] = a.reshape(v.shape)
    return out
