"""An ONNX file -> the neutral layer graph (read with the ``onnx`` package; nothing is run).

ONNX operators map to netc kinds one to one through the kinds' own declarations (``Kind.onnx``:
Conv, Gemm, MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, LRN, BatchNormalization, Relu,
Sigmoid, Tanh, Softmax, Dropout ...; the attributes become parameters by the kind's Params class);
``OPS`` reads the operators that need more than the node (Flatten, Reshape to (N, features), Concat
on channels, Add of two tensors, Identity, patterns that several nodes make).
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
import sys

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


#: the name of a weight tensor that is all zeros where the file has none (an exporter drops an
#: Add of a zero bias)
ZEROS = "<zeros>"

#: the last file read: (its path, size and modification time, the ModelProto, its Net), so that
#: ``netc import f.onnx --weights`` parses a large file once (:func:`weights` takes it back)
_LAST: list = []


def _stamp(path: str):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (os.path.abspath(path), st.st_size, st.st_mtime_ns)


def read(path: str) -> Net:
    """The neutral graph of an ONNX file (its weights are not loaded)."""
    model = _load(path)
    net = to_net(model, path)
    _LAST[:] = [(_stamp(path), model, net)]
    return net


def _read_again(path: str):
    """(model, net) of ``path``: the ones :func:`read` just made if the file is unchanged (and
    forgotten here), else read anew."""
    last, _LAST[:] = list(_LAST), []
    if last and last[0][0] is not None and last[0][0] == _stamp(path):
        return last[0][1], last[0][2]
    model = _load(path)
    return model, to_net(model, path)


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
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type))
        if tname != "BOOL" and dtype.byteorder in ("=", "<", "|") and sys.byteorder == "little":
            return np.frombuffer(raw, dtype=dtype).reshape(dims)
        c = TensorProto()
        c.data_type, c.name = t.data_type, t.name
        c.dims.extend(dims)
        c.raw_data = raw
        t = c
    elif t.HasField("raw_data"):
        raw = t.raw_data            # each read of the field copies it: once
        if len(raw) != size:
            raise ImportError_(f"{label} declares shape {shape} ({size:,} bytes) but holds {len(raw):,} bytes")
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type))
        if tname != "BOOL" and dtype.byteorder in ("=", "<", "|") and sys.byteorder == "little":
            return np.frombuffer(raw, dtype=dtype).reshape(dims)    # read-only, no further copy
        c = TensorProto()
        c.data_type, c.name, c.raw_data = t.data_type, t.name, raw
        c.dims.extend(dims)
        t = c
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
        self.shapes: dict = _shapes(model)     # value name -> its shape (None where unknown), batch included
        self.layout: dict = {}         # value name -> "nhwc" (a map read channels-last), "nct" (a map's positions
        #                                flattened), "tokens"; a layer's own output is what its rank says
        self.made: dict = {o: n for n in self.g.node for o in n.output}
        self.uses: dict = {}           # value name -> how many node inputs read it
        for n in self.g.node:
            for i in n.input:
                self.uses[i] = self.uses.get(i, 0) + 1
        for o in self.g.output:
            self.uses[o.name] = self.uses.get(o.name, 0) + 1
        self.layer_of: dict = {}       # layer name -> Layer
        self.ncons: dict = {}          # layer name -> how many layers read it
        self.static: set = set()
        self.concats: dict = {}        # the inputs of a concat (layer names) -> its layer name
        self.values: dict = {}         # value name -> its numpy value where known before the input (see _value)
        self.eval_max = _EVAL_MAX      # the largest value (elements) _value computes
        self.grid = False              # Swin's tokens on their grid: a map turned channels-last is "grid"

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
        """The module path of the node where the exporter records it (the dynamo exporter: it also
        shares one initializer among equal weights, so a weight's name may be another layer's),
        else its weight's name (``features.0.weight``), else its scope or output."""
        meta = {p.key: p.value for p in node.metadata_props}
        scoped = "pkg.torch.onnx.name_scopes" in meta
        # a batch norm the exporter's optimizer folded into its conv: the node carries the batch norm's
        # scope (bn1), its weight the conv's name (conv1.weight)
        folded = "FuseBatchNorm" in meta.get("pkg.onnxscript.rewriter.rule_name", "") and \
            bool(weight) and weight.endswith(".weight")
        if scoped and _module_path(node) and not folded:
            base = _module_path(node)
        elif weight and weight.endswith(".weight"):
            base = weight[: -len(".weight")]
        else:
            base = _module_path(node)
            if not base or re.fullmatch(r"(node_)?" + re.escape(node.op_type) + r"(_\d+)?", base, re.I):
                base = re.sub(r"_output_\d+$", "", node.output[0].strip("/")).replace("/", "_")
        base = base.replace(".", "/")
        name = _unique(base, self.names, self.next)
        self.names.add(name)
        return name

    def add(self, node, kind: str, params: dict, inputs: list, weight: str | None = None, extra: dict | None = None,
            out: str | None = None):
        """A layer of ``kind`` made by ``node``: its output ``out`` (the node's first by default)."""
        name = self.layer_name(node, weight)
        layer = Layer(name, kind, params, inputs, f"node {node.name or node.output[0]}", None, node.op_type)
        self.layers.append(layer)
        self.layer_of[name] = layer
        for i in inputs:
            self.ncons[i] = self.ncons.get(i, 0) + 1
        self.value[out or node.output[0]] = name
        if extra:
            self.weights[name] = extra
        return layer

    def lay(self, v: str) -> str:
        """The layout of value ``v``: nhwc, nct, tokens (set by the reader), else by its rank: map (4),
        tokens (3), vector (2); "map" where the rank is unknown."""
        if v in self.layout:
            return self.layout[v]
        return {4: "map", 3: "tokens", 2: "vector"}.get(len(self.shapes.get(v) or (0, 0, 0, 0)), "other")

    def is_static(self, v: str) -> bool:
        return v in self.static or v in self.inits or v in self.consts

    def producer(self, node, v: str) -> Layer | None:
        return self.layer_of.get(self.src(node, v))


def _module_path(node) -> str:
    """The torch module a node comes from, as a dotted path (``layer2.0.downsample.0``), with the
    operator's own name where it is not a module's whole work (``layer1.0.add``); "" if unknown.

    The dynamo exporter records the scopes in the node's metadata (``pkg.torch.onnx.name_scopes``:
    ``['', 'layer1', 'layer1.0', 'layer1.0.relu', 'relu_3']``, full paths, the operator last); the
    TorchScript exporter in its name (``/layer2/layer2.0/downsample/downsample.0/Conv``), where a
    container's child repeats the container's name (``layer2.0`` inside ``layer2``)."""
    meta = {p.key: p.value for p in node.metadata_props} if len(node.metadata_props) else {}
    scopes = meta.get("pkg.torch.onnx.name_scopes")
    if scopes:
        parts = re.findall(r"'([^']*)'", scopes)
        mods, op = [p for p in parts[:-1] if p], (parts[-1] if parts else "")
        leaf = mods[-1] if mods else ""
        op = re.sub(r"_\d+$", "", op)
        if leaf and op and not _is_call_of(op, leaf):
            return f"{leaf}.{op}"
        return leaf or op
    parts = [p for p in (node.name or "").split("/") if p]
    if len(parts) < 2:
        return ""
    path: list = []
    for p in parts[:-1]:
        if path and p.startswith(path[-1] + "."):
            path[-1] = p
        else:
            path.append(p)
    full = ".".join(path)
    # an operator the block itself applies (the residual's Add): named after the operator
    op = parts[-1].split("_")[0].lower()
    if op in ("add", "mul", "concat") and node.op_type.lower() == op:
        return f"{full}.{op}"
    return full


def _is_call_of(op: str, leaf: str) -> bool:
    """Whether the ATen op ``op`` is the whole work of module ``leaf`` (``relu`` in ``layer1.0.relu``,
    ``conv2d`` in ``conv1``, ``linear`` in ``fc``): the module is the layer."""
    return op not in ("add", "mul", "cat", "concat", "view", "reshape", "flatten", "permute", "transpose")


def _shapes(model, known: dict | None = None) -> dict:
    """Every value's shape by ONNX's shape inference, run on the graph alone (the weights' shapes
    as declared, nothing read); {} where inference fails (a broken or hostile file is refused
    later, by the node that needs a shape). ``known``: values computed before the input arrives
    ({name: numpy array}), given to the inference as constants in place of the nodes that make
    them (a Slice's ends computed from a shape: the part's size)."""
    from onnx import helper, numpy_helper, shape_inference
    g = model.graph
    known = known or {}
    try:
        small = [i for i in g.initializer if math.prod(i.dims) <= 64 and i.data_location != 1 and i.name not in known]
        small += [numpy_helper.from_array(v, k) for k, v in known.items()]
        keep = {i.name for i in small}
        big = [helper.make_tensor_value_info(i.name, i.data_type, list(i.dims)) for i in g.initializer
               if i.name not in keep]
        nodes = [n for n in g.node if not any(o in known for o in n.output)] if known else g.node
        inputs = []
        for i in g.input:           # a batch of any size read as one: the spec does not depend on it
            i2 = type(i)()
            i2.CopyFrom(i)
            dims = i2.type.tensor_type.shape.dim
            if len(dims) and not dims[0].HasField("dim_value"):
                dims[0].dim_value = 1
            inputs.append(i2)
        bare = helper.make_graph(nodes, "g", inputs + big, g.output, small)
        m = helper.make_model(bare, opset_imports=model.opset_import, ir_version=model.ir_version)
        m = shape_inference.infer_shapes(m, data_prop=True)
        vis = list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output)
    except Exception:   # noqa: BLE001 - whatever onnx makes of a malformed graph
        vis = list(g.value_info) + list(g.input) + list(g.output)
    out: dict = {}
    for v in vis:
        t = v.type.tensor_type
        if t.HasField("shape"):
            out[v.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)
    return out


def _refine_shapes(r: _Reader, model) -> None:
    """Where inference left a size unknown because it is computed (a Slice's ends from a Shape:
    ShuffleNet's ``x.chunk(2, 1)``), compute the shape arithmetic that the layers read
    (:func:`_value`) and infer again with it as constants, until nothing more is learned."""
    import numpy as np
    if all(s is not None and None not in s[1:] for s in r.shapes.values()):
        return
    made = r.made
    edge = sorted({i for n in r.g.node for i in n.input
                   if i in r.static and i in made and made[i].op_type != "Constant"})
    got: dict = {}
    for _ in range(64):
        r.values = {k: a for k, a in r.values.items() if a is not None}    # what is known stays known
        new = {v: a for v in edge if v not in got and (a := _value(r, v)) is not None and isinstance(a, np.ndarray)
               and a.dtype.kind in "iuf" and a.size <= 64}
        if not new:
            break
        got.update(new)
        shapes = _shapes(model, got)
        if not shapes:
            break
        r.shapes = shapes
    r.values = {}


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
    static = r.static = _static(r)
    _refine_shapes(r, model)
    fused: dict = {}
    for find in (_find_lrn, _find_gelu, _find_binpool, _find_shuffle, _find_restride, _find_mhsa, _find_window,
                 _find_merge):
        try:
            fused.update(find(r, static))
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            pass        # a malformed subgraph is no pattern: its nodes are read one by one below
    # Swin's grid: its tokens stay H x W x C, channels last (a map turned channels-last is tokens there)
    r.grid = any(f is not None and f[0] in _GRID_KINDS for f in fused.values())
    rules: dict = {}
    for node in r.g.node:
        key = node.output[0] if node.output else ""
        if key in fused or any(o in fused for o in node.output):
            if fused.get(key) is not None:
                kind, params, xs, *extra = fused[key]
                if kind is None:        # the same tensor, computed again
                    r.value[key] = r.src(node, xs[0])
                    if xs[0] in r.layout:
                        r.layout[key] = r.layout[xs[0]]
                    continue
                if kind in _GRID_KINDS and r.lay(xs[0]) != "grid":
                    raise ImportError_(f"node {_nid(node)} ({node.op_type}) ends a {kind.replace('_', ' ')} "
                                       f"that reads a {r.lay(xs[0])}; netc reads it on tokens on their grid "
                                       "(a map turned channels-last)")
                r.add(node, kind, params, [r.src(node, x) for x in xs], *(extra or [None, None]))
                if r.layout.get(xs[0]) in ("nhwc", "grid"):
                    r.layout[key] = r.layout[xs[0]]
            continue
        if node.op_type != "Identity" and node.output and all(o in static for o in node.output):
            continue        # shape arithmetic and constants: not a layer
        if node.op_type not in rules:
            rules[node.op_type] = _rule(node.op_type)
        rule = rules[node.op_type]
        if rule is None:
            raise ImportError_(f"node {_nid(node)} of type {node.op_type} has no netc kind",
                               hint=NO_KIND.get(node.op_type, "netc reads Conv, Gemm, pooling, LRN, BatchNormalization, "
                                    "activations, Softmax, Dropout, Flatten, Concat, Add, Mul gates, MatMul with "
                                    "weights, LayerNormalization, ReduceMean pooling, Transpose between a map and "
                                    "channels-last"))
        try:
            rule(r, node)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:
            # a hostile or broken node (an attribute or input missing, of the wrong type)
            raise ImportError_(f"{path + ': ' if path else ''}node {_nid(node)} ({node.op_type}) is malformed: "
                               f"netc cannot read its attributes or inputs ({type(e).__name__})") from None
        first = next((i for i in node.input if i and not r.is_static(i)), None)
        if first is not None and node.output and r.layout.get(first) in ("nhwc", "grid") and \
                node.output[0] not in r.layout and node.op_type != "Transpose":
            r.layout[node.output[0]] = r.layout[first]    # a pointwise layer on a channels-last map keeps it so
    _rescope(r)
    _splits(r)
    outs = [r.value.get(o.name) for o in r.g.output]
    if any(o is None or o == "input" for o in outs):
        raise ImportError_(f"{path}: an output of the model is not produced by a layer netc reads")
    main = {l.name: l for l in r.layers}[outs[0]]
    net = Net(r.layers, shape, None, [(o, None) for o in outs], [], model.graph.name or os.path.basename(path), path,
              softmax_head=main.kind == _kind("Gemm"))
    net.weight_names = r.weights     # type: ignore[attr-defined]
    return net


# ------------------------------------------------------------------ split(n) { ... }
def _splits(r: _Reader) -> None:
    """A concat whose branches each start with the next part of one tensor (ShuffleNet's unit) is
    ``split(n) { identity ; ... }`` (:func:`netc.importers.graph.split_joins`)."""
    from netc.importers.graph import split_joins
    kept = split_joins(r.layers)
    gone = {l.name for l in r.layers} - {l.name for l in kept}
    r.layers = kept
    for name in gone:
        r.layer_of.pop(name, None)


# ------------------------------------------------------------------ names of layers without weights
def _rescope(r: _Reader) -> None:
    """Exporters name a layer without weights by its module's own name (``pool``, deduplicated to
    ``pool_2``), not its path. Put it back in the scope of the weighted layer it feeds along a
    chain, when its input is a fork or in that scope (an inception branch's pool, an aux head's
    pool), and drop the exporter's ``_N`` suffix."""
    weighted = set(r.weights)
    joins = (_kind("Concat"), _kind("Add"))
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
        if l.name in weighted or l.kind in joins or "/" in l.name:
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
        out[end.output[0]] = (_kind("LRN"), params, [x])
    return out


def _consumers(r: _Reader) -> dict:
    cons: dict = {}
    for n in r.g.node:
        for i in n.input:
            cons.setdefault(i, []).append(n)
    return cons


def _only(cons: dict, v: str, op: str):
    """The one node reading ``v``, if it is an ``op``; else None."""
    c = cons.get(v, [])
    return c[0] if len(c) == 1 and c[0].op_type == op else None


def _near(v, target: float) -> bool:
    return v is not None and abs(v - target) <= 1e-4 * abs(target)


def _find_gelu(r: _Reader, static: set) -> dict:
    """GELU as exporters write it before ONNX had Gelu: x / sqrt(2) (or x * 1/sqrt(2)), Erf, + 1,
    times x and times 0.5 (either order). {output: None (swallowed) or ("gelu", {}, [x])}."""
    cons, out = _consumers(r), {}
    for e in r.g.node:
        if e.op_type != "Erf":
            continue
        d = r.made.get(e.input[0])
        if d is None or d.op_type not in ("Div", "Mul") or d.input[1] not in static:
            continue
        c = _const(r, d.input[1], f"an input of node {_nid(d)}")
        if not (_near(c, math.sqrt(2)) if d.op_type == "Div" else _near(c, 1 / math.sqrt(2))):
            continue
        x = d.input[0]
        a = _only(cons, e.output[0], "Add")
        if a is None or _const(r, a.input[1 if a.input[0] == e.output[0] else 0], "") != 1.0:
            continue
        m1 = _only(cons, a.output[0], "Mul")
        m2 = _only(cons, m1.output[0], "Mul") if m1 is not None else None
        if m2 is None:
            continue
        rest = [i for i in (*m1.input, *m2.input) if i not in (a.output[0], m1.output[0])]
        if len(rest) != 2 or x not in rest or _const(r, rest[0] if rest[1] == x else rest[1], "") != 0.5:
            continue
        for m in (d, e, a, m1):
            out[m.output[0]] = None
        out[m2.output[0]] = (_kind("Gelu"), {}, [x])
    return out


def _find_binpool(r: _Reader, static: set) -> dict:
    """Adaptive average pooling as netc's own export writes it for any input size: the map times
    a bin matrix over the rows, divided by the bins' sizes, then over the columns
    (MatMul(bins, x) / n, MatMul(., bins') / n', the matrices computed from the input's shape)."""
    cons, out = _consumers(r), {}
    for m1 in r.g.node:
        if m1.op_type != "MatMul" or m1.input[0] not in static or m1.input[1] in static:
            continue
        d1 = _only(cons, m1.output[0], "Div")
        m2 = _only(cons, d1.output[0], "MatMul") if d1 is not None and d1.input[1] in static else None
        d2 = _only(cons, m2.output[0], "Div") if m2 is not None and m2.input[1] in static else None
        if d2 is None or d2.input[1] not in static:
            continue
        shape = r.shapes.get(d2.output[0]) or ()
        if len(shape) != 4 or not isinstance(shape[2], int) or not isinstance(shape[3], int):
            continue
        for m in (m1, d1, m2):
            out[m.output[0]] = None
        oh, ow = shape[2], shape[3]
        out[d2.output[0]] = (_kind("GlobalAveragePool"), {}, [m1.input[1]]) if (oh, ow) == (1, 1) else \
            ("adaptive_avgpool", {"out": oh if oh == ow else [oh, ow]}, [m1.input[1]])
    return out


_VIEWS = ("Reshape", "Transpose", "Unsqueeze", "Squeeze", "Gather", "Split", "Slice", "Identity")


def _linear(r: _Reader, m):
    """(weight name, (in, out), transposed, bias name or None) of a MatMul / Gemm with a weight
    matrix, or None."""
    if m is None or m.op_type not in ("MatMul", "Gemm") or len(m.input) < 2:
        return None
    t = r.init(m.input[1])
    if t is None or len(t.dims) != 2:
        return None
    a = _attrs(m) if m.op_type == "Gemm" else {}
    if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
        return None
    tb = bool(a.get("transB", 0))
    dims = (int(t.dims[1]), int(t.dims[0])) if tb else (int(t.dims[0]), int(t.dims[1]))
    bias = r.alias.get(m.input[2], m.input[2]) if len(m.input) > 2 and m.input[2] else None
    return r.alias.get(m.input[1], m.input[1]), dims, not tb, bias


def _find_mhsa(r: _Reader, static: set) -> dict:
    """Multi-head self-attention written out (what torch exports for ``nn.MultiheadAttention`` and
    ``scaled_dot_product_attention``): one input projection to q, k, v (a MatMul / Gemm with a
    D x 3D matrix, its bias), views that split the heads, q·kᵀ scaled by 1/sqrt(d) (on q and k, or
    on the product), Softmax, times v, views that join the heads, the output projection (D x D,
    its bias) and views back to the (N, L, D) tokens it read. Found from each Softmax; anything
    else in between (a mask, a position bias, a second input) is no match, and the nodes are read
    one by one (an error naming the first)."""
    cons, out = _consumers(r), {}
    for sm in r.g.node:
        if sm.op_type != "Softmax":
            continue
        s4 = r.shapes.get(sm.input[0]) or ()
        if len(s4) != 4 or None in s4 or s4[2] != s4[3] or _attrs(sm).get("axis", -1) % 4 != 3:
            continue
        batch, heads, length = s4[0], s4[1], s4[3]
        qk, av = r.made.get(sm.input[0]), _only(cons, sm.output[0], "MatMul")
        region: dict = {}
        factor = {"q": 1.0, "k": 1.0, "s": 1.0}
        for m in (qk, av):
            if m is None or m.op_type != "MatMul":
                break
        else:
            region = {id(sm): sm}
        if not region or av.input[0] != sm.output[0]:
            continue
        # the scores' own scale (a Mul / Div between the MatMul and the Softmax)
        while qk is not None and qk.op_type in ("Mul", "Div"):
            c = _const(r, qk.input[1], "") if qk.input[1] in static else None
            if c is None or not c:
                break
            factor["s"] *= c if qk.op_type == "Mul" else 1 / c
            region[id(qk)] = qk
            qk = r.made.get(qk.input[0])
        if qk is None or qk.op_type != "MatMul":
            continue
        region[id(qk)], region[id(av)] = qk, av
        proj, adds, ok = {}, {}, True
        stack = [(qk.input[0], "q"), (qk.input[1], "k"), (av.input[1], "v")]
        while stack and ok:
            v, b = stack.pop()
            m = r.made.get(v)
            if m is None or v in static:
                ok = False
            elif _linear(r, m) is not None and m.input[0] not in static:
                proj[id(m)] = m
            elif m.op_type == "Add" and sum(i in static for i in m.input) == 1:
                adds[id(m)] = m
                region[id(m)] = m
                stack.append((next(i for i in m.input if i not in static), b))
            elif m.op_type in ("Mul", "Div") and m.input[1] in static and b != "v":
                c = _const(r, m.input[1], "")
                if c is None or not c:
                    ok = False
                else:
                    factor[b] *= c if m.op_type == "Mul" else 1 / c
                    region[id(m)] = m
                    stack.append((m.input[0], b))
            elif m.op_type in _VIEWS and all(i in static or not i for i in m.input[1:]):
                region[id(m)] = m
                stack.append((m.input[0], b))
            else:
                ok = False
        if not ok or len(proj) != 1:
            continue
        p = next(iter(proj.values()))
        wq, (d, d3), tq, bq = _linear(r, p)
        if d3 != 3 * d or d % heads:
            continue
        if bq is None and len(adds) == 1:       # the bias as an Add after the MatMul
            add = next(iter(adds.values()))
            c = next(i for i in add.input if i in static)
            t = r.init(c)
            if add.input[0] != p.output[0] and add.input[1] != p.output[0] or t is None or math.prod(t.dims) != d3:
                continue
            bq = r.alias.get(c, c)
        elif adds:
            continue
        if not _near(factor["q"] * factor["k"] * factor["s"], 1 / math.sqrt(d // heads)):
            continue
        region[id(p)] = p
        # the tokens the projection reads: back through views to (N, L, D)
        x = p.input[0]
        for _ in range(4):
            if tuple(r.shapes.get(x) or ()) == (batch, length, d):
                break
            m = r.made.get(x)
            if m is None or m.op_type not in ("Transpose", "Reshape") or len(cons.get(x, [])) != 1 or \
                    any(i not in static for i in m.input[1:] if i):
                break
            region[id(m)] = m
            x = m.input[0]
        if tuple(r.shapes.get(x) or ()) != (batch, length, d) or x in static:
            continue
        # forward: views, the output projection, its bias, views back to (N, L, D)
        v, o, bo = av.output[0], None, None
        for _ in range(8):
            c = cons.get(v, [])
            if len(c) != 1:
                break
            m = c[0]
            lin = _linear(r, m)
            if o is None and lin is not None and lin[1] == (d, d) and m.input[0] == v:
                o, bo = m, lin[3]
            elif o is not None and bo is None and m.op_type == "Add" and sum(i in static for i in m.input) == 1:
                c2 = next(i for i in m.input if i in static)
                t = r.init(c2)
                if t is None or math.prod(t.dims) != d:
                    break
                bo = r.alias.get(c2, c2)
            elif m.op_type in ("Transpose", "Reshape") and all(i in static for i in m.input[1:] if i):
                pass
            else:
                break
            region[id(m)] = m
            v = m.output[0]
            if o is not None and tuple(r.shapes.get(v) or ()) == (batch, length, d) and \
                    not (bo is None and (len(cons.get(v, [])) == 1 and cons[v][0].op_type == "Add" and
                                         sum(i in static for i in cons[v][0].input) == 1)):
                break
        if o is None or tuple(r.shapes.get(v) or ()) != (batch, length, d):
            continue
        # nothing inside is read from outside
        outs = {o_ for m in region.values() for o_ in m.output}
        if any(c not in region.values() and not all(x_ in static for x_ in c.output)
               for o_ in outs if o_ != v for c in cons.get(o_, [])) or \
                any(o_ in (g.name for g in r.g.output) for o_ in outs if o_ != v):
            continue
        wo, _, to, _ = _linear(r, o)
        bias = bq is not None or bo is not None
        extra = {"in_proj_weight": wq}
        if bias:
            extra["in_proj_bias"] = bq or ZEROS
        extra["out_proj_weight"] = wo
        if bias:
            extra["out_proj_bias"] = bo or ZEROS
        extra["transposed"] = {k for k, t in (("in_proj_weight", tq), ("out_proj_weight", to)) if t}
        base = (bq or "").rsplit(".in_proj_bias", 1)[0] if (bq or "").endswith(".in_proj_bias") else \
            (wo.rsplit(".out_proj.weight", 1)[0] if wo.endswith(".out_proj.weight") else None)
        for o_ in outs:
            out[o_] = None
        out[v] = ("mhsa", {"heads": heads, "bias": bias}, [x], f"{base}.weight" if base else None, extra)
    return out


# ------------------------------------------------------------------ Swin: window attention, patch merging
#: kinds that read tokens on their grid (Swin's): a map turned channels-last before them is such tokens
_GRID_KINDS = ("window_attention", "patch_merge")
#: weights computed from the file's tensors: a relative position bias table from the exporter's folded
#: table[index] ((_RELBIAS, the table as a numpy array)), the index itself ((_RELINDEX, window))
_RELBIAS, _RELINDEX = "<relative position bias table>", "<relative position index>"
def _slice1(r: _Reader, n):
    """(axis, start, end, step, size) of a Slice along one axis with bounds known before the input
    arrives (normalised on the input's ``size`` along that axis), or None."""
    if n is None or n.op_type != "Slice" or len(n.input) < 3:
        return None
    shape = r.shapes.get(n.input[0]) or ()
    vals = [_value(r, n.input[i]) if len(n.input) > i and n.input[i] else None for i in range(1, 5)]
    if vals[0] is None or vals[1] is None or any(len(n.input) > i + 1 and n.input[i + 1] and vals[i] is None
                                                 for i in (2, 3)):
        return None
    if any(v is not None and v.size != 1 for v in vals) or not shape or None in shape:
        return None
    axis = int(vals[2].reshape(-1)[0]) % len(shape) if vals[2] is not None else 0
    step = int(vals[3].reshape(-1)[0]) if vals[3] is not None else 1
    size = shape[axis]
    s, e = (int(v.reshape(-1)[0]) for v in vals[:2])
    s, e = (v + size if v < 0 else v for v in (s, e))
    s, e = max(0, min(s, size)), max(0, min(e, size))
    return (axis, s, e, step, size) if step >= 1 else None


def _roll_of(r: _Reader, v: str):
    """``v`` made as a cyclic shift along one axis (``torch.roll``, as exporters write it: the
    Concat of two Slices of one tensor, the tail first): (source, axis, p, [nodes]) where
    ``v[i] = source[(i + p) % n]`` (a roll by -p), or None."""
    c = r.made.get(v)
    if c is None or c.op_type != "Concat" or len(c.input) != 2:
        return None
    a, b = (r.made.get(i) for i in c.input)
    sa, sb = _slice1(r, a), _slice1(r, b)
    if sa is None or sb is None or a.input[0] != b.input[0]:
        return None
    shape = r.shapes.get(c.output[0]) or ()
    axis = int(_attrs(c).get("axis", 0)) % max(len(shape), 1)
    (xa, s1, e1, st1, n), (xb, s2, e2, st2, _) = sa, sb
    if xa != axis or xb != axis or st1 != 1 or st2 != 1 or e1 != n or s2 != 0 or e2 != s1 or not 0 < s1 < n:
        return None
    return a.input[0], axis, s1, [c, a, b]


def _rel_index(m: int):
    """torchvision's (and netc's) relative position index of an m x m window: query i, key j (row-major)
    -> (dy + m - 1) * (2m - 1) + (dx + m - 1), d = pos_i - pos_j; flattened (m^4,)."""
    import numpy as np
    ys, xs = np.divmod(np.arange(m * m), m)
    dy = ys[:, None] - ys[None, :] + (m - 1)
    dx = xs[:, None] - xs[None, :] + (m - 1)
    return (dy * (2 * m - 1) + dx).reshape(-1).astype(np.int64)


def _rel_table(bias, m: int, heads: int):
    """The ((2m-1)^2, heads) table whose entries at the relative position index are ``bias``
    (heads x t x t, t = m*m, an exporter's folded ``table[index]``), or None if no table gives it."""
    import numpy as np
    idx = _rel_index(m)
    flat = np.asarray(bias, dtype=np.float32).reshape(heads, -1).T          # (t*t, heads)
    table = np.zeros(((2 * m - 1) ** 2, heads), dtype=np.float32)
    table[idx] = flat
    return table if np.array_equal(table[idx], flat) else None


def _shift_mask(ph: int, pw: int, m: int, sh: int, sw: int):
    """netc's (and torchvision's) additive mask of shifted windows: (windows, 1, t, t), 0 within one
    region of the rolled map, -100 across regions (numpy, as the backend computes it)."""
    import numpy as np

    def bands(n, s):
        lab = np.zeros(n, dtype=np.int64)
        if s:
            lab[n - m:] = 1
            lab[n - s:] = 2
        return lab
    region = bands(ph, sh)[:, None] * 3 + bands(pw, sw)[None, :]
    region = region.reshape(ph // m, m, pw // m, m).transpose(0, 2, 1, 3).reshape(-1, m * m)
    same = region[:, None, :] == region[:, :, None]
    return np.where(same, 0.0, -100.0).astype(np.float32)[:, None]


def _view(r: _Reader, n, op: str, out_shape=None, perm=None) -> bool:
    """Whether ``n`` is an ``op`` (Reshape / Transpose) whose output has ``out_shape`` (and, for a
    Transpose, the permutation ``perm``), its other inputs known before the input arrives."""
    if n is None or n.op_type != op or any(i and i not in r.static for i in n.input[1:]):
        return False
    if perm is not None and tuple(_attrs(n).get("perm", ())) != tuple(perm):
        return False
    return out_shape is None or tuple(r.shapes.get(n.output[0]) or ()) == tuple(out_shape)


def _closed(r: _Reader, cons: dict, region: list, out: str) -> bool:
    """Whether nothing the region's nodes make but ``out`` is read outside it (shape arithmetic aside)
    or is an output of the model."""
    ids = {id(m) for m in region}
    outs = {o for m in region for o in m.output if o != out}
    graph_outs = {g.name for g in r.g.output}
    return not any(id(c) not in ids and not all(x in r.static for x in c.output)
                   for o in outs for c in cons.get(o, [])) and not outs & graph_outs


def _scale_chain(r: _Reader, v: str, region: list):
    """Back from ``v`` through Mul / Div by scalar constants: (the value before them, the factor)."""
    f = 1.0
    for _ in range(4):
        m = r.made.get(v)
        if m is None or m.op_type not in ("Mul", "Div") or v in r.static:
            break
        k = 1 if m.input[1] in r.static else (0 if m.op_type == "Mul" and m.input[0] in r.static else None)
        c = _value(r, m.input[k]) if k is not None else None
        if c is None or c.size != 1 or c.dtype.kind != "f" or not float(c.reshape(-1)[0]):
            break
        c = float(c.reshape(-1)[0])
        f *= c if m.op_type == "Mul" else 1 / c
        region.append(m)
        v = m.input[1 - k]
    return v, f


def _init_of(r: _Reader, v: str):
    """(initializer name, tensor) that ``v`` is, through Identity nodes (read before the Identity
    rules record their aliases), or (None, None)."""
    for _ in range(4):
        t = r.init(v)
        if t is not None:
            return r.alias.get(v, v), t
        m = r.made.get(v)
        if m is None or m.op_type != "Identity":
            break
        v = m.input[0]
    return None, None


def _live(r: _Reader, cons: dict, v: str) -> list:
    """The nodes that read ``v`` for more than its shape (shape arithmetic's Shape nodes aside)."""
    return [c for c in cons.get(v, []) if not all(o in r.static for o in c.output)]


def _only_live(r: _Reader, cons: dict, v: str, op: str):
    """The one node reading ``v`` (shape arithmetic aside), if it is an ``op``; else None."""
    c = _live(r, cons, v)
    return c[0] if len(c) == 1 and c[0].op_type == op else None


def _bias_add(r: _Reader, cons: dict, v: str, size: int):
    """The Add of a learned bias of ``size`` values that alone reads ``v``: (Add node, bias name), or
    (None, None)."""
    c = _live(r, cons, v)
    if len(c) != 1 or c[0].op_type != "Add" or sum(i in r.static for i in c[0].input) != 1:
        return None, None
    b, t = _init_of(r, next(i for i in c[0].input if i in r.static))
    if t is None or math.prod(t.dims) != size or len([d for d in t.dims if d != 1]) > 1:
        return None, None
    return c[0], b


def _part0(r: _Reader, v: str):
    """``v`` as part i of its source along axis 0 (``qkv[i]``: a Gather of a scalar index; or
    ``q, k, v = qkv`` / ``unbind``: a Split into ones or a Slice [i, i+1), and a Squeeze of axis 0):
    (source, i, [nodes]), or None."""
    import numpy as np
    g = r.made.get(v)
    if g is not None and g.op_type == "Gather" and int(_attrs(g).get("axis", 0)) == 0:
        i = _value(r, g.input[1])
        return (g.input[0], int(i), [g]) if i is not None and i.size == 1 and i.ndim == 0 else None
    if g is None or g.op_type != "Squeeze":
        return None
    axes = _value(r, g.input[1]) if len(g.input) > 1 and g.input[1] else np.asarray(_attrs(g).get("axes", []))
    sp = r.made.get(g.input[0])
    if axes is None or [int(a) for a in np.asarray(axes).reshape(-1)] != [0] or sp is None:
        return None
    sl = _slice1(r, sp)
    if sl is not None:          # a Slice [i, i+1) along axis 0 (the dynamo exporter's unbind)
        return (sp.input[0], sl[1], [g, sp]) if sl[0] == 0 and sl[3] == 1 and sl[2] == sl[1] + 1 else None
    if sp.op_type != "Split" or int(_attrs(sp).get("axis", 0)) != 0:
        return None
    n = len(sp.output)
    sizes = _value(r, sp.input[1]) if len(sp.input) > 1 and sp.input[1] else \
        np.asarray(_attrs(sp).get("split", [1] * n))
    shape = r.shapes.get(sp.input[0]) or ()
    if sizes is None or [int(q) for q in np.asarray(sizes).reshape(-1)] != [1] * n or not shape or shape[0] != n:
        return None
    return sp.input[0], list(sp.output).index(g.input[0]), [g, sp]


def _find_window(r: _Reader, static: set) -> dict:
    """Swin's (shifted) window attention written out, as torchvision's ``shifted_window_attention``
    exports: the grid x (N, H, W, C) padded right and bottom to a multiple of the window M, rolled
    by -s along H and W (SW-MSA), partitioned (Reshape (N, H/M, M, W/M, M, C), Transpose, Reshape
    (windows, M*M, C)), one C x 3C projection (its bias), heads split (Reshape, Transpose, Gather
    0 / 1 / 2), q.k^T scaled by 1/sqrt(d), the relative position bias (table[index], folded by the
    exporter into a (heads, t, t) constant that a ((2M-1)^2, heads) table must give), the shift
    mask (-100 across the rolled map's regions, checked value for value), Softmax, .v, heads
    joined, the C x C projection, the windows put back, rolled by +s, cropped to H x W. Found
    from each Softmax; anything else is no match (the nodes are then read one by one: an error
    naming the first)."""
    import numpy as np
    cons, out = _consumers(r), {}
    for sm in r.g.node:
        if sm.op_type != "Softmax" or _attrs(sm).get("axis", -1) % 4 != 3:
            continue
        s4 = tuple(r.shapes.get(sm.input[0]) or ())
        if len(s4) != 4 or None in s4 or s4[2] != s4[3] or math.isqrt(s4[3]) ** 2 != s4[3]:
            continue
        bw, heads, t = s4[0], s4[1], s4[3]
        m = math.isqrt(t)
        av = _only_live(r, cons, sm.output[0], "MatMul")
        if av is None or av.input[0] != sm.output[0]:
            continue
        region: list = [sm, av]
        # back from the Softmax: the mask (between views to (N, windows, heads, t, t) and back), the bias
        v, mask = sm.input[0], None
        r4 = r.made.get(v)
        if _view(r, r4, "Reshape", s4):
            add = r.made.get(r4.input[0])
            s5 = tuple(r.shapes.get(r4.input[0]) or ())
            if add is None or add.op_type != "Add" or len(s5) != 5 or sum(i in static for i in add.input) != 1:
                continue
            mask = next(i for i in add.input if i in static)
            r5 = r.made.get(next(i for i in add.input if i not in static))
            if not _view(r, r5, "Reshape", s5) or tuple(r.shapes.get(r5.input[0]) or ()) != s4 or \
                    s5[2:] != (heads, t, t) or s5[0] * s5[1] != bw:
                continue
            region += [r4, add, r5]
            v = r5.input[0]
        badd = r.made.get(v)
        if badd is None or badd.op_type != "Add" or sum(i in static for i in badd.input) != 1:
            continue
        bname = next(i for i in badd.input if i in static)
        bs = tuple(r.shapes.get(bname) or ())
        if bs[-3:] != (heads, t, t) or math.prod(bs) != heads * t * t:
            continue
        region.append(badd)
        v, fs = _scale_chain(r, next(i for i in badd.input if i not in static), region)
        qk = r.made.get(v)
        if qk is None or qk.op_type != "MatMul":
            continue
        region.append(qk)
        # q, k, v: Gathers 0, 1, 2 of one (3, windows, heads, t, d) view of the C x 3C projection
        qv, fq = _scale_chain(r, qk.input[0], region)
        kt = r.made.get(qk.input[1])
        if not _view(r, kt, "Transpose", None, (0, 1, 3, 2)):
            continue
        region.append(kt)
        kv, fk = _scale_chain(r, kt.input[0], region)
        parts = [_part0(r, q) for q in (qv, kv, av.input[1])]
        if any(q is None for q in parts) or [q[1] for q in parts] != [0, 1, 2] or len({q[0] for q in parts}) != 1:
            continue
        region += list({id(n_): n_ for q in parts for n_ in q[2]}.values())
        c = None
        tp = r.made.get(parts[0][0])
        rs = r.made.get(tp.input[0]) if _view(r, tp, "Transpose", None, (2, 0, 3, 1, 4)) else None
        s5 = tuple(r.shapes.get(rs.input[0]) or ()) if rs is not None else ()
        if len(s5) == 3 and s5[:2] == (bw, t) and isinstance(s5[2], int) and s5[2] % 3 == 0:
            c = s5[2] // 3
        if c is None or c % heads or not _view(r, rs, "Reshape", (bw, t, 3, heads, c // heads)):
            continue
        region += [tp, rs]
        if not _near(fq * fk * fs, 1 / math.sqrt(c // heads)):
            continue
        v = rs.input[0]
        lin = _linear(r, r.made.get(v))
        bq = None
        if lin is None:             # the bias as an Add after the MatMul
            a = r.made.get(v)
            if a is None or a.op_type != "Add" or sum(i in static for i in a.input) != 1:
                continue
            p = r.made.get(next(i for i in a.input if i not in static))
            lin = _linear(r, p)
            if lin is None or lin[3] is not None or _bias_add(r, cons, p.output[0], 3 * c)[0] is not a:
                continue
            bq = _bias_add(r, cons, p.output[0], 3 * c)[1]
            region += [a, p]
        else:
            p = r.made.get(v)
            bq = lin[3]
            region.append(p)
        wq, dims_q, tq, _ = lin
        if dims_q != (c, 3 * c):
            continue
        # the window partition, back to the padded, rolled grid
        r2 = r.made.get(p.input[0])
        if not _view(r, r2, "Reshape", (bw, t, c)):
            continue
        t1 = r.made.get(r2.input[0])
        s6 = tuple(r.shapes.get(r2.input[0]) or ())
        if len(s6) != 6 or not _view(r, t1, "Transpose", s6, (0, 1, 3, 2, 4, 5)) or s6[3:] != (m, m, c):
            continue
        n, nh, nw = s6[:3]
        r1 = r.made.get(t1.input[0])
        ph, pw = nh * m, nw * m
        if not _view(r, r1, "Reshape", (n, nh, m, nw, m, c)) or tuple(r.shapes.get(r1.input[0]) or ()) != \
                (n, ph, pw, c) or n * nh * nw != bw:
            continue
        region += [r2, t1, r1]
        u, shift = r1.input[0], {1: 0, 2: 0}
        for _ in range(2):
            roll = _roll_of(r, u)
            if roll is None or roll[1] not in shift or shift[roll[1]]:
                break
            u, axis, pfx, nodes = roll
            shift[axis] = pfx
            region += nodes
        pad = r.made.get(u)
        if pad is not None and pad.op_type == "Pad":
            pads = _value(r, pad.input[1]) if len(pad.input) > 1 and pad.input[1] else None
            fill = _value(r, pad.input[2]) if len(pad.input) > 2 and pad.input[2] else np.zeros(1)
            if pads is None or fill is None or fill.size != 1 or float(fill.reshape(-1)[0]) != 0 or \
                    len(pad.input) > 3 and pad.input[3] or _attrs(pad).get("mode", b"constant") not in \
                    (b"constant", "constant") or pads.size != 8:
                continue
            pads = [int(q) for q in pads.reshape(-1)]
            x = pad.input[0]
            region.append(pad)
        else:
            pads, x = [0] * 8, u
        xs = tuple(r.shapes.get(x) or ())
        if len(xs) != 4 or None in xs or xs[0] != n or xs[3] != c or x in static:
            continue
        h, w = xs[1], xs[2]
        if pads != [0, 0, 0, 0, 0, ph - h, pw - w, 0] or ph != h + (-h) % m or pw != w + (-w) % m:
            continue
        # the shift: one s for both axes, none along an axis the window covers (torchvision's rule)
        sh, sw = shift[1], shift[2]
        s = sh or sw
        if s >= m or (sh != (s if ph > m else 0)) or (sw != (s if pw > m else 0)):
            continue
        # forward from .v: heads joined, the projection, the windows back, rolled back, cropped
        v = av.output[0]
        tr = _only_live(r, cons, v, "Transpose")
        if not _view(r, tr, "Transpose", (bw, t, heads, c // heads), (0, 2, 1, 3)):
            continue
        j = _only_live(r, cons, tr.output[0], "Reshape")
        if not _view(r, j, "Reshape", (bw, t, c)):
            continue
        o = _only_live(r, cons, j.output[0], "MatMul") or _only_live(r, cons, j.output[0], "Gemm")
        lin_o = _linear(r, o)
        if lin_o is None or lin_o[1] != (c, c) or o.input[0] != j.output[0]:
            continue
        region += [tr, j, o]
        v, bo = o.output[0], lin_o[3]
        if bo is None:
            a, bo = _bias_add(r, cons, v, c)
            if a is not None:
                region.append(a)
                v = a.output[0]
        b1 = _only_live(r, cons, v, "Reshape")
        b2 = _only_live(r, cons, b1.output[0], "Transpose") if _view(r, b1, "Reshape", (n, nh, nw, m, m, c)) else None
        b3 = _only_live(r, cons, b2.output[0], "Reshape") if _view(r, b2, "Transpose", (n, nh, m, nw, m, c),
                                                           (0, 1, 3, 2, 4, 5)) else None
        if not _view(r, b3, "Reshape", (n, ph, pw, c)):
            continue
        region += [b1, b2, b3]
        v, back = b3.output[0], {1: 0, 2: 0}
        for _ in range(2):
            c2 = _live(r, cons, v)
            if len(c2) != 2 or any(q.op_type != "Slice" for q in c2):
                break
            cat = _only_live(r, cons, c2[0].output[0], "Concat")
            roll = _roll_of(r, cat.output[0]) if cat is not None else None
            if roll is None or roll[0] != v or back[roll[1]]:
                break
            back[roll[1]] = roll[2]
            region += roll[3]
            v = cat.output[0]
        if back[1] != ((ph - sh) % ph if sh else 0) or back[2] != ((pw - sw) % pw if sw else 0):
            continue
        for _ in range(2):          # the crop to H x W (a Slice from 0 along H or W; kept even if whole)
            q = _live(r, cons, v)
            sl = _slice1(r, q[0]) if len(q) == 1 else None
            if sl is None or sl[0] not in (1, 2) or sl[1] != 0 or sl[3] != 1 or sl[2] < (h, w)[sl[0] - 1]:
                break
            region.append(q[0])
            v = q[0].output[0]
        if tuple(r.shapes.get(v) or ()) != xs:
            continue
        # the mask: exactly netc's for this shift (none without one)
        if (mask is not None) != bool(sh or sw):
            continue
        if mask is not None:
            got = _big_value(r, mask)
            want = _shift_mask(ph, pw, m, sh, sw)[None]         # (1, windows, 1, t, t)
            try:
                same = got is not None and np.array_equal(np.broadcast_to(got, (n, nh * nw, heads, t, t)),
                                                          np.broadcast_to(want, (n, nh * nw, heads, t, t)))
            except ValueError:
                same = False
            if not same:
                continue
        # the relative position bias: a table at netc's index gives it
        bias = _big_value(r, bname)
        table = _rel_table(bias, m, heads) if bias is not None and bias.size == heads * t * t else None
        if table is None:
            continue
        if not _closed(r, cons, region, v):
            continue
        has_bias = bq is not None or bo is not None
        extra = {"relative_position_bias_table": (_RELBIAS, table),
                 "relative_position_index": (_RELINDEX, m)}
        extra["qkv.weight"] = wq
        if has_bias:
            extra["qkv.bias"] = bq or ZEROS
        extra["proj.weight"] = lin_o[0]
        if has_bias:
            extra["proj.bias"] = bo or ZEROS
        extra["transposed"] = {k for k, tt in (("qkv.weight", tq), ("proj.weight", lin_o[2])) if tt}
        scope = _module_path(p).rsplit(".qkv", 1)[0] if _module_path(p) else ""
        for q in region:
            for o_ in q.output:
                out[o_] = None
        params = {"heads": heads, "window": m, "bias": has_bias, "cosine": False, "cpb": 0}
        if s:
            params["shift"] = s
        out[v] = ("window_attention", params, [x], f"{scope}.weight" if scope else None, extra)
    return out


def _find_merge(r: _Reader, static: set) -> dict:
    """Swin's patch merging: the grid x (N, H, W, C), odd sizes padded by one at the end, its 2x2
    neighbours (rows 0::2 / 1::2 and columns 0::2 / 1::2, in the order (0,0), (1,0), (0,1), (1,1))
    concatenated on the channels, LayerNorm over 4C, a 4C x out projection without bias."""
    import numpy as np
    cons, out = _consumers(r), {}
    for cat in r.g.node:
        shape = tuple(r.shapes.get(cat.output[0]) or ())
        if cat.op_type != "Concat" or len(cat.input) != 4 or len(shape) != 4 or None in shape or \
                int(_attrs(cat).get("axis", 0)) % 4 != 3:
            continue
        region, src, starts = [cat], set(), []
        for i in cat.input:
            got, v = {}, i
            for _ in range(2):
                sl = _slice1(r, r.made.get(v))
                if sl is None or sl[0] not in (1, 2) or sl[0] in got or sl[3] != 2 or sl[2] != sl[4]:
                    break
                got[sl[0]] = sl[1]
                region.append(r.made[v])
                v = r.made[v].input[0]
            src.add(v)
            starts.append((got.get(1), got.get(2)))
        if len(src) != 1 or starts != [(0, 0), (1, 0), (0, 1), (1, 1)]:
            continue
        u = src.pop()
        pad = r.made.get(u)
        if pad is not None and pad.op_type == "Pad":
            pads = _value(r, pad.input[1]) if len(pad.input) > 1 and pad.input[1] else None
            fill = _value(r, pad.input[2]) if len(pad.input) > 2 and pad.input[2] else np.zeros(1)
            if pads is None or pads.size != 8 or fill is None or fill.size != 1 or float(fill.reshape(-1)[0]) or \
                    len(pad.input) > 3 and pad.input[3] or _attrs(pad).get("mode", b"constant") not in \
                    (b"constant", "constant"):
                continue
            pads, x = [int(q) for q in pads.reshape(-1)], pad.input[0]
            region.append(pad)
        else:
            pads, x = [0] * 8, u
        xs = tuple(r.shapes.get(x) or ())
        if len(xs) != 4 or None in xs or x in static or pads != [0, 0, 0, 0, 0, xs[1] % 2, xs[2] % 2, 0] or \
                shape != (xs[0], (xs[1] + 1) // 2, (xs[2] + 1) // 2, 4 * xs[3]):
            continue
        c = xs[3]
        ln = _only_live(r, cons, cat.output[0], "LayerNormalization")
        if ln is None or int(_attrs(ln).get("axis", -1)) % 4 != 3 or len(ln.input) < 3 or not ln.input[2]:
            continue
        (lw, lwt), (lb, lbt) = _init_of(r, ln.input[1]), _init_of(r, ln.input[2])
        if lwt is None or lbt is None or math.prod(lwt.dims) != 4 * xs[3] or math.prod(lbt.dims) != 4 * xs[3]:
            continue
        red = _only_live(r, cons, ln.output[0], "MatMul") or _only_live(r, cons, ln.output[0], "Gemm")
        lin = _linear(r, red)
        if lin is None or lin[1][0] != 4 * c or lin[3] is not None or red.input[0] != ln.output[0]:
            continue
        if _bias_add(r, cons, red.output[0], lin[1][1])[0] is not None:
            continue                # a bias netc's patch merging does not have
        region += [ln, red]
        v = red.output[0]
        if not _closed(r, cons, region, v):
            continue
        for q in region:
            for o_ in q.output:
                out[o_] = None
        wname, (_, o), tr, _ = lin
        params = {"eps": float("%.6g" % _attrs(ln).get("epsilon", 1e-5))}
        if o != 2 * c:
            params["out"] = o
        scope = _module_path(red)
        out[v] = ("patch_merge", params, [x], f"{scope}.weight" if scope else None,
                  {"reduction.weight": wname, "norm.weight": lw, "norm.bias": lb,
                   "transposed": {"reduction.weight"} if tr else set()})
    return out


def _find_restride(r: _Reader, static: set) -> dict:
    """``as_strided`` to the tensor's own shape and strides, as the dynamo exporter writes it: a
    Reshape to one dimension and a Gather of the indices 0 .. n-1 in the tensor's shape. The same
    tensor: {Gather's output: (None, {}, [x])}."""
    import numpy as np
    cons, out = _consumers(r), {}
    for a in r.g.node:
        if a.op_type != "Reshape" or a.input[0] in static or len(r.shapes.get(a.output[0]) or ()) != 1:
            continue
        g = _only(cons, a.output[0], "Gather")
        shape = r.shapes.get(a.input[0]) or ()
        t = r.tensor(g.input[1]) if g is not None else None
        if t is None or _attrs(g).get("axis", 0) != 0 or tuple(t.dims) != tuple(shape) or None in shape \
                or math.prod(shape) > 1 << 24:
            continue
        idx = r.array(t, g.input[1], f"the indices of node {_nid(g)}")
        if np.array_equal(idx.reshape(-1), np.arange(math.prod(shape))):
            out[a.output[0]] = None
            out[g.output[0]] = (None, {}, [a.input[0]])
    return out


def _find_shuffle(r: _Reader, static: set) -> dict:
    """ShuffleNet's channel shuffle: Reshape (N, g, C/g, H, W), Transpose (0, 2, 1, 3, 4),
    Reshape back to (N, C, H, W)."""
    cons, out = _consumers(r), {}
    for a in r.g.node:
        if a.op_type != "Reshape" or a.input[0] in static:
            continue
        s5 = r.shapes.get(a.output[0]) or ()
        t = _only(cons, a.output[0], "Transpose")
        if len(s5) != 5 or t is None or tuple(_attrs(t).get("perm", ())) != (0, 2, 1, 3, 4):
            continue
        b = _only(cons, t.output[0], "Reshape")
        s4, s0 = (r.shapes.get(b.output[0]) or ()) if b is not None else (), r.shapes.get(a.input[0]) or ()
        if b is None or len(s4) != 4 or tuple(s4) != tuple(s0) or not isinstance(s5[1], int):
            continue
        out[a.output[0]] = out[t.output[0]] = None
        out[b.output[0]] = ("shuffle", {"groups": s5[1]}, [a.input[0]])
    return out


# ------------------------------------------------------------------ operators
def _conv(r: _Reader, n, kind):
    a = _attrs(n)
    w = r.init(n.input[1])
    if w is None:
        raise ImportError_(f"node {n.name} (Conv) takes its weights from another node; netc needs them as initializers")
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise ImportError_(f"node {n.name} (Conv): auto_pad {a['auto_pad']!r} is not read; export with explicit pads")
    k = a.get("kernel_shape", list(w.dims[2:]))
    p = {"out": int(w.dims[0]), "k": _one(k), "stride": _one(a.get("strides", [1, 1])),
         "pad": _sym(a.get("pads", [0, 0, 0, 0]), "its input", n), "groups": int(a.get("group", 1)),
         "bias": len(n.input) > 2 and bool(n.input[2]) and not _made_zeros(r, n.input[2])}
    if _one(a.get("dilations", [1, 1])) != 1:
        p["dilation"] = _one(a["dilations"])
    wname = r.alias.get(n.input[1], n.input[1])
    r.add(n, kind.kind, p, [r.src(n, n.input[0])], wname,
          {"weight": wname, "bias": r.alias.get(n.input[2], n.input[2]) if p["bias"] else None})


def _made_zeros(r: _Reader, v: str) -> bool:
    """Whether the bias ``v`` is one the exporter made for a convolution without one: all zeros, and
    not a parameter of the source (torch's exporter, not optimising, computes it from constants; its
    constant folding leaves an initializer it names ``val_N``). A trained bias of zeros, named after
    its module (``features.0.bias``), stays a bias."""
    name = r.alias.get(v, v)
    if name in r.inits and not re.fullmatch(r"val_\d+", name) or not r.is_static(v):
        return False
    value = _value(r, v)
    return value is not None and value.size > 0 and not value.any()


def _gemm(r: _Reader, n, kind):
    a = _attrs(n)
    w = r.init(n.input[1])
    if w is None or a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
        raise ImportError_(f"node {n.name} (Gemm) is not a fully-connected layer netc can read")
    out = int(w.dims[0] if a.get("transB", 0) else w.dims[1])
    bias = len(n.input) > 2 and bool(n.input[2])
    wname = r.alias.get(n.input[1], n.input[1])
    r.add(n, kind.kind, {"out": out, "bias": bias}, [r.src(n, n.input[0])], wname,
          {"weight": wname, "bias": r.alias.get(n.input[2], n.input[2]) if bias else None,
           "transposed": not a.get("transB", 0)})


def _pool(r: _Reader, n, kind):
    a = _attrs(n)
    if len(a.get("kernel_shape", [])) != 2:
        raise ImportError_(f"node {n.name} ({n.op_type}) pools over {len(a.get('kernel_shape', []))} dimensions; "
                           "netc pools over height and width")
    p = {"k": _one(a["kernel_shape"]), "stride": _one(a.get("strides", [1, 1])),
         "pad": _sym(a.get("pads", [0, 0, 0, 0]), "its input", n), "ceil": bool(a.get("ceil_mode", 0))}
    if getattr(kind, "op", None) == "avg" and not a.get("count_include_pad", 0):
        p["count_include_pad"] = False
    r.add(n, kind.kind, p, [r.src(n, n.input[0])])


def _plain(r: _Reader, n, kind):
    """A kind without parameters: the node as it stands (its attributes checked against the kind's
    declaration before)."""
    r.add(n, kind.kind, {}, [r.src(n, n.input[0])])


def _lrn(r: _Reader, n, kind):
    a = _attrs(n)
    r.add(n, kind.kind, {"size": int(a["size"]), "alpha": float(a.get("alpha", 1e-4)),
                         "beta": float(a.get("beta", 0.75)), "k": float(a.get("bias", 1.0)), "region": "across"},
          [r.src(n, n.input[0])])


def _bn(r: _Reader, n, kind):
    a = _attrs(n)
    p = {"eps": float(a.get("epsilon", 1e-5)), "momentum": round(1 - float(a.get("momentum", 0.9)), 6)}
    wname = r.alias.get(n.input[1], n.input[1])
    r.add(n, kind.kind, p, [r.src(n, n.input[0])], wname,
          {"weight": wname, "bias": r.alias.get(n.input[2], n.input[2]),
           "running_mean": r.alias.get(n.input[3], n.input[3]), "running_var": r.alias.get(n.input[4], n.input[4])})


def _dropout(r: _Reader, n, kind):
    a = _attrs(n)
    p = a.get("ratio", 0.5)
    if len(n.input) > 1 and n.input[1]:
        v = _const(r, n.input[1], f"the ratio of node {_nid(n)}")
        p = v if v is not None else p
    r.add(n, kind.kind, {"p": round(float(p), 6)}, [r.src(n, n.input[0])])


def _resize(r: _Reader, n, kind):
    """Resize (and opset 9's Upsample) of height and width, as torch writes nearest and bilinear
    upsampling: by whole factors (``scales``) or to a size (``sizes``), read where they are constants."""
    a = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in _attrs(n).items()}
    where = f"node {_nid(n)} ({n.op_type})"
    mode = a.get("mode", "nearest")
    coord = a.get("coordinate_transformation_mode", "half_pixel" if n.op_type == "Resize" else "asymmetric")
    if mode not in ("nearest", "linear") or a.get("antialias", 0) or a.get("axes") not in (None, [2, 3]):
        raise ImportError_(f"{where} resizes with mode={mode!r}{', antialias' if a.get('antialias', 0) else ''}; "
                           "netc upsamples by nearest neighbours or bilinearly, over height and width",
                           hint="upsample(2), upsample(2, mode=bilinear)")

    like = None

    def const(i, what):
        nonlocal like
        if len(n.input) <= i or not n.input[i]:
            return None
        t = r.tensor(n.input[i])
        if t is None:
            like = _size_like(r, n, n.input[i]) if what == "sizes" else None
            if like is not None:        # another tensor's height and width (any input size)
                return None
            raise ImportError_(f"{where} takes its {what} from the graph in a way netc does not follow; netc "
                               "reads constant factors and sizes, and the height and width of another tensor",
                               hint="export at a fixed size, or write upsample(like=NAME) in the spec")
        return [float(v) for v in r.array(t, n.input[i], f"the {what} of {where}").reshape(-1)]
    if n.op_type == "Resize" and len(n.input) > 2:          # opset 11 on: X, roi, scales, sizes
        scales, sizes = const(2, "scales"), const(3, "sizes")
    else:                                                   # Upsample, opset 10's Resize: X, scales
        scales, sizes = const(1, "scales"), None
    p: dict = {"mode": "bilinear" if mode == "linear" else "nearest"}
    if scales:
        if len(scales) != 4 or scales[:2] != [1.0, 1.0] or any(s != int(s) or s < 1 for s in scales[2:]):
            raise ImportError_(f"{where} scales by {scales}; netc upsamples height and width by whole factors")
        fh, fw = int(scales[2]), int(scales[3])
        p["factor"] = fh if fh == fw else [fh, fw]
    elif like is not None:
        p["like"] = like
    elif sizes and len(sizes) in (2, 4):
        h, w = int(sizes[-2]), int(sizes[-1])
        p["size"] = h if h == w else [h, w]
    else:
        raise ImportError_(f"{where} gives neither scales nor sizes netc reads")
    nearest = a.get("nearest_mode", "round_prefer_floor" if n.op_type == "Resize" else "floor")
    if mode == "nearest":
        # torch's nearest: the source pixel floor(out / scale); half-pixel rounding gives the same
        # pixels for a whole factor
        ok = (coord == "asymmetric" and nearest == "floor") or (
            "factor" in p and coord in ("half_pixel", "pytorch_half_pixel")
            and nearest in ("round_prefer_floor", "round_prefer_ceil"))
    else:
        ok = coord in ("half_pixel", "pytorch_half_pixel", "align_corners")
        p["align_corners"] = coord == "align_corners"
    if not ok:
        raise ImportError_(f"{where} maps pixels with coordinate_transformation_mode={coord!r}"
                           f"{f', nearest_mode={nearest!r}' if mode == 'nearest' else ''}; netc computes "
                           "torch's nearest (asymmetric, floor) and bilinear (half_pixel or align_corners)")
    r.add(n, kind.kind, p, [r.src(n, n.input[0])])


def _size_like(r: _Reader, n, v: str) -> str | None:
    """The layer whose height and width the sizes ``v`` of Resize ``n`` are: sizes made of the shape of
    the resized tensor (batch, channels) and of another tensor (height, width), as exporters write
    ``F.interpolate(x, size=y.shape[-2:])`` at any input size; None where they are something else."""
    dims = _shape_dims(r, v)
    if dims is None or len(dims) != 4:
        return None
    (h_src, h), (w_src, w) = dims[2], dims[3]
    x, c = n.input[0], (r.shapes.get(n.input[0]) or (None, None))[1]
    if h_src != w_src or h_src == "const" or (h, w) != (2, 3) or h_src not in r.value:
        return None
    if dims[0] != (x, 0) or dims[1] not in ((x, 1), ("const", c)):
        return None
    return r.value[h_src]


def _shape_dims(r: _Reader, v: str, depth: int = 0) -> list | None:
    """What each element of a 1-D shape value ``v`` is: ``(tensor, axis)`` for a dimension of a tensor,
    ``("const", value)`` for a number; through Shape, Concat, Slice, Gather, Cast, Squeeze and
    Unsqueeze; None where it is anything else."""
    if depth > 16:
        return None
    t = r.tensor(v)
    if t is not None:
        return [("const", int(x)) for x in r.array(t, v, "a size").reshape(-1)]
    node = r.made.get(v)
    if node is None:
        return None
    op, a = node.op_type, _attrs(node)
    if op == "Shape":
        rank = len(r.shapes.get(node.input[0]) or ())
        if not rank:
            return None
        start, end = a.get("start", 0), a.get("end", rank)
        return [(node.input[0], d) for d in range(start % rank if start < 0 else start,
                                                   end % rank if end < 0 else min(end, rank))]
    if op == "Concat":
        parts = [_shape_dims(r, i, depth + 1) for i in node.input]
        return None if any(p is None for p in parts) else [d for p in parts for d in p]
    if op in ("Cast", "Identity", "Squeeze", "Unsqueeze"):
        return _shape_dims(r, node.input[0], depth + 1)
    base = _shape_dims(r, node.input[0], depth + 1) if node.input else None
    if base is None:
        return None
    if op == "Slice" and len(node.input) >= 3:
        starts, ends = (_shape_dims(r, node.input[i], depth + 1) for i in (1, 2))
        if not starts or not ends or starts[0][0] != "const" or ends[0][0] != "const" or \
                len(node.input) > 4 and node.input[4]:
            return None
        return base[starts[0][1]:ends[0][1]]
    if op == "Gather" and not a.get("axis", 0):
        idx = _shape_dims(r, node.input[1], depth + 1)
        if not idx or any(k != "const" or not -len(base) <= i < len(base) for k, i in idx):
            return None
        return [base[i] for _, i in idx]
    return None


def _learned(r: _Reader, v: str):
    """The initializer a static value is (through Identity, and an Expand to the batch): (name, dims), or None."""
    for _ in range(4):
        t = r.init(v)
        if t is not None:
            return r.alias.get(v, v), tuple(t.dims)
        m = r.made.get(v)
        if m is None or m.op_type not in ("Expand", "Identity"):
            return None
        v = m.input[0]
    return None


def _concat(r: _Reader, n, kinds):
    axis = _attrs(n).get("axis")
    rank = len(r.shapes.get(n.output[0]) or (0, 0, 0, 0))
    if rank == 3 and axis % 3 == 1 and len(n.input) == 2 and r.is_static(n.input[0]) and \
            not r.is_static(n.input[1]) and r.lay(n.input[1]) == "tokens":
        w = _learned(r, n.input[0])
        d = (r.shapes.get(n.input[1]) or (0, 0, 0))[2]
        if w is not None and w[1] in ((1, 1, d), (1, d)):       # ViT's class token, prepended
            r.add(n, "cls_token", {}, [r.src(n, n.input[1])], w[0], {"weight": w[0]})
            return
    if axis is None or axis % rank != 1:
        raise ImportError_(f"node {_nid(n)} (Concat) joins along axis {axis}; netc joins channels")
    ins = [r.src(n, i) for i in n.input]
    if len(ins) == 1:       # a concatenation of one tensor: that tensor
        r.value[n.output[0]] = ins[0]
        return
    # DenseNet concatenates every earlier output again for each layer: concat(x0 .. xk) is the
    # concat of x0 .. x(k-1) made before, and xk; so the graph reads as a chain of joins (linear)
    for cut in range(len(ins) - 1, 1, -1):
        prev = r.concats.get(tuple(ins[:cut]))
        if prev is not None:
            ins = [prev, *ins[cut:]]
            break
    ins = _regroup(r, n, ins)
    layer = r.add(n, kinds[0].kind, {}, ins)
    r.concats[tuple(ins)] = layer.name
    if len(ins) != len(n.input):
        r.concats[tuple(r.src(n, i) for i in n.input)] = layer.name


def _fork(r: _Reader, name: str) -> str:
    """Where the chain of one-input layers ending in ``name`` starts: the layer whose output
    branches (or the input, or a join)."""
    for _ in range(len(r.layers) + 1):
        l = r.layer_of.get(name)
        if l is None or len(l.inputs) != 1:
            return name
        if r.ncons.get(l.inputs[0], 0) > 1:
            return l.inputs[0]
        name = l.inputs[0]
    return name


def _regroup(r: _Reader, n, ins: list) -> list:
    """Exporters flatten a concat of concats (Inception-v3's branch that splits in two again):
    the adjacent inputs that branch from one fork of their own become a concat of their own,
    which is the same tensor and prints as the nested branches it was."""
    forks = [_fork(r, i) for i in ins]
    out, i = [], 0
    while i < len(ins):
        j = i
        while j + 1 < len(ins) and forks[j + 1] == forks[i]:
            j += 1
        if j > i and j - i + 1 < len(ins) and forks.count(forks[i]) == j - i + 1 and forks[i] not in ins:
            inner = r.add(n, _kind("Concat"), {}, ins[i:j + 1])
            out.append(inner.name)
        else:
            out += ins[i:j + 1]
        i = j + 1
    return out


def _add(r: _Reader, n, kinds):
    consts = [i for i in n.input if r.is_static(i)]
    if not consts:
        r.add(n, kinds[0].kind, {}, [r.src(n, i) for i in n.input])
        return
    c, x = consts[0], next((i for i in n.input if i != consts[0]), None)
    src = r.producer(n, x) if x is not None else None
    t = r.init(c)
    # a MatMul's bias (a Linear layer on a channels-last map or on tokens)
    if src is not None and src.kind in (_kind("Gemm"), _kind("Conv")) and src.params.get("bias") is False \
            and r.uses.get(x) == 1 and src.source_type == "MatMul" and t is not None and math.prod(t.dims) == src.params["out"]:
        src.params["bias"] = True
        r.weights[src.name]["bias"] = r.alias.get(c, c)
        r.value[n.output[0]] = src.name
        return
    shape = r.shapes.get(x) or ()
    if t is not None and src is not None and r.lay(x) == "tokens" and len(shape) == 3 and \
            tuple(t.dims) in ((1, *shape[1:]), tuple(shape[1:])) and math.prod(t.dims) > shape[2]:
        cname = r.alias.get(c, c)       # ViT's position embedding: one learned vector per token
        r.add(n, "pos_embed", {}, [r.src(n, x)], cname, {"weight": cname})
        return
    raise ImportError_(f"node {_nid(n)} (Add) adds a constant{f' of shape {list(t.dims)}' if t is not None else ''} "
                       f"to {x!r}; netc adds a constant only as the bias of the layer before it")


def _mul(r: _Reader, n, kinds):
    a, b = n.input[0], n.input[1]
    if not r.is_static(a) and not r.is_static(b):
        for x, g in ((a, b), (b, a)):       # x * sigmoid(x): SiLU
            sig = r.made.get(g)
            gl = r.producer(n, g)
            if sig is not None and sig.op_type == "Sigmoid" and sig.input[0] == x and r.uses.get(g) == 1 \
                    and gl is not None and gl.kind == _kind("Sigmoid"):
                gl.kind = "silu"
                r.value[n.output[0]] = gl.name
                return
        r.add(n, kinds[0].kind, {}, [r.src(n, a), r.src(n, b)])     # a gate: squeeze-excitation's
        return
    c, x = (a, b) if r.is_static(a) else (b, a)
    t = r.init(c)
    shape = r.shapes.get(x) or ()
    lay = r.lay(x)
    ch = shape[-1] if lay in ("nhwc", "tokens", "grid") else (shape[1] if len(shape) > 1 else None)
    if t is not None and isinstance(ch, int) and ch > 1 and math.prod(t.dims) == ch and \
            (lay in ("nhwc", "tokens", "grid") or list(t.dims)[-2:] in ([1, 1],)):
        cname = r.alias.get(c, c)
        r.add(n, "layerscale", {"init": 1e-6}, [r.src(n, x)], cname, {"weight": cname})
        return
    raise ImportError_(f"node {_nid(n)} (Mul) multiplies {x!r} by a constant"
                       f"{f' of shape {list(t.dims)}' if t is not None else ''}; netc reads a product of two layers "
                       "(a gate), x * sigmoid(x), GELU's form and a learned scale per channel")


def _matmul(r: _Reader, n):
    x, w = n.input[0], n.input[1]
    t = r.init(w)
    if t is None or r.is_static(x) or len(t.dims) != 2:
        raise ImportError_(f"node {_nid(n)} (MatMul) multiplies two computed tensors; netc reads a MatMul "
                           "only with a weight matrix (a Linear layer) or as netc's own adaptive pooling",
                           hint="attention written out as MatMul / Softmax is not read yet: a kind that matches "
                                "it (mhsa) would close it")
    wname = r.alias.get(w, w)
    lay, out = r.lay(x), int(t.dims[1])
    extra = {"weight": wname, "bias": None, "transposed": True}
    if lay == "nhwc":       # a Linear on a channels-last map: a 1x1 convolution
        r.add(n, _kind("Conv"), {"out": out, "k": 1, "stride": 1, "pad": 0, "groups": 1, "bias": False}, [r.src(n, x)],
              wname, extra)
        r.layout[n.output[0]] = "nhwc"
        return
    if lay not in ("vector", "tokens", "grid"):
        raise ImportError_(f"node {_nid(n)} (MatMul) applies a weight matrix to a {lay}; netc reads it on "
                           "a vector, on tokens or on a channels-last map")
    r.add(n, _kind("Gemm"), {"out": out, "bias": False}, [r.src(n, x)], wname, extra)


def _transpose(r: _Reader, n):
    x = n.input[0]
    perm, lay = tuple(_attrs(n).get("perm", ())), r.lay(x)
    if r.grid and (lay, perm) == ("map", (0, 2, 3, 1)):        # Swin: a map as tokens on its grid
        p = r.producer(n, x)
        q = p.params if p is not None else {}
        if p is not None and p.kind == _kind("Conv") and p.source_type == "Conv" and r.uses.get(x) == 1 and \
                isinstance(q.get("k"), int) and q.get("k") == q.get("stride") and q.get("pad") == 0 and \
                q.get("groups") == 1 and "dilation" not in q and not r.ncons.get(p.name):
            p.kind, p.params = "patch", {"out": q["out"], "k": q["k"], "grid": True, "bias": q["bias"]}
            r.value[n.output[0]] = p.name
        else:
            r.add(n, "to_tokens", {}, [r.src(n, x)])
        r.layout[n.output[0]] = "grid"
        return
    if lay == "grid" and perm == (0, 3, 1, 2):                  # and back to a map
        r.add(n, "to_map", {}, [r.src(n, x)])
        r.layout[n.output[0]] = "map"
        return
    if (lay, perm) in (("map", (0, 2, 3, 1)), ("nhwc", (0, 3, 1, 2))):     # channels-last and back: a view
        r.value[n.output[0]] = r.src(n, x)
        r.layout[n.output[0]] = "nhwc" if lay == "map" else "map"
        return
    if lay == "nct" and perm == (0, 2, 1):
        p = r.producer(n, x)
        q = p.params if p is not None else {}
        if p is not None and p.kind == _kind("Conv") and p.source_type == "Conv" and r.uses.get(x) == 1 and \
                isinstance(q.get("k"), int) and q.get("k") == q.get("stride") and q.get("pad") == 0 and \
                q.get("groups") == 1 and "dilation" not in q and not r.ncons.get(p.name):
            p.kind, p.params = "patch", {"out": q["out"], "k": q["k"], "bias": q["bias"]}   # ViT's patch embedding
            r.value[n.output[0]] = p.name
        else:
            r.add(n, "to_tokens", {"flat": True}, [r.src(n, x)])
        return
    raise ImportError_(f"node {_nid(n)} (Transpose) permutes a {lay} by {list(perm)}; netc reads a transpose "
                       "only between a map and its channels-last form",
                       hint="a token layout netc has no kind for (a window partition, a split into heads)")


def _layernorm(r: _Reader, n, kind):
    a = _attrs(n)
    x = n.input[0]
    rank = len(r.shapes.get(x) or ())
    axis = int(a.get("axis", -1))
    if rank and axis % rank != rank - 1 or r.lay(x) == "map":
        raise ImportError_(f"node {_nid(n)} (LayerNormalization) normalises from axis {axis} of a {r.lay(x)}; "
                           "netc normalises the channels of each position (or each token's features)")
    bias = len(n.input) > 2 and bool(n.input[2])
    wname = r.alias.get(n.input[1], n.input[1])
    r.add(n, kind.kind, {"eps": float("%.6g" % a.get("epsilon", 1e-5))}, [r.src(n, x)], wname,
          {"weight": wname, "bias": r.alias.get(n.input[2], n.input[2]) if bias else None})
    if not bias:
        raise ImportError_(f"node {_nid(n)} (LayerNormalization) has no bias; netc's {kind.kind} has one")


def _axes(r: _Reader, n) -> list | None:
    a = _attrs(n)
    if "axes" in a:
        return [int(v) for v in a["axes"]]
    if len(n.input) > 1 and n.input[1]:
        t = r.tensor(n.input[1])
        if t is None or len(t.dims) != 1 or t.dims[0] > 8:
            return None
        return [int(v) for v in r.array(t, n.input[1], f"the axes of node {_nid(n)}").reshape(-1)]
    return []


def _reducemean(r: _Reader, n):
    x = n.input[0]
    rank = len(r.shapes.get(x) or (0, 0, 0, 0))
    axes = _axes(r, n)
    keep = bool(_attrs(n).get("keepdims", 1))
    lay = r.lay(x)
    axes = sorted(a % rank for a in axes) if axes else None
    if (lay, axes) in (("map", [2, 3]), ("nhwc", [1, 2])):
        g = r.add(n, _kind("GlobalAveragePool"), {}, [r.src(n, x)])
        if not keep:
            r.add(n, _kind("Flatten"), {}, [g.name])
        elif lay == "nhwc":
            r.layout[n.output[0]] = "nhwc"
        return
    if (lay, axes) in (("tokens", [1]), ("grid", [1, 2])) and not keep:
        r.add(n, "token_pool", {}, [r.src(n, x)])
        return
    raise ImportError_(f"node {_nid(n)} (ReduceMean) averages axes {axes} of a {lay} "
                       f"({'keeping' if keep else 'dropping'} them); netc reads global average pooling "
                       "(a map's height and width) and the mean over tokens")


def _clip(r: _Reader, n, kinds):
    a = _attrs(n)
    lo, hi = a.get("min"), a.get("max")
    if len(n.input) > 1 and n.input[1]:
        lo = _const(r, n.input[1], f"the minimum of node {_nid(n)}")
    if len(n.input) > 2 and n.input[2]:
        hi = _const(r, n.input[2], f"the maximum of node {_nid(n)}")
    kind = next((k for k in kinds if (lo, hi) == (k.onnx["Clip"].get("min"), k.onnx["Clip"].get("max"))),
                None)     # relu6 is Clip(0, 6), relu Clip(0)
    if kind is not None:
        r.add(n, kind.kind, {}, [r.src(n, n.input[0])])
    else:
        raise ImportError_(f"node {_nid(n)} (Clip) clips to [{lo}, {hi}]; netc reads Clip(0, 6) (ReLU6) "
                           "and Clip(0) (ReLU)")


# ------------------------------------------------------------------ kinds, by their declarations
def _kinds(op: str) -> list:
    """The netc kinds that declare the ONNX operator ``op`` (``Kind.onnx``), in registration order."""
    from netc.kinds import DEFAULT
    return DEFAULT.reading("onnx", op)


def _kind(op: str) -> str:
    """The name of the kind that the ONNX operator ``op`` is: how a reading names a kind that is not its
    node's own (the LRN that exporters write out is ``LRN``'s kind, a MatMul with weights ``Gemm``'s)."""
    return _kinds(op)[0].kind


def _decoders() -> dict:
    """{a kind's Params class: how a node's attributes and inputs become those parameters}: one decoder
    serves every kind with those parameters (MaxPool and AveragePool, told apart by the kind's ``op``);
    a kind without parameters is the node as it stands (:func:`_plain`)."""
    from netc.kinds.norm import LNParams
    from netc.kinds.misc import UpsampleParams
    from netc.kinds.params import BNParams, ConvParams, DropoutParams, FCParams, LRNParams, PoolParams
    return {ConvParams: _conv, FCParams: _gemm, PoolParams: _pool, LRNParams: _lrn, BNParams: _bn,
            DropoutParams: _dropout, LNParams: _layernorm, UpsampleParams: _resize}


def _mismatch(n, want: dict):
    """The first attribute of node ``n`` that differs from a declaration's values: (key, got, want), or None."""
    a = _attrs(n)
    for key, v in want.items():
        got = a.get(key, v)
        got = got.decode() if isinstance(got, bytes) else got
        if got != v and not (isinstance(v, float) and isinstance(got, float) and _near(got, v)):
            return key, got, v
    return None


def _declared() -> dict:
    """{ONNX op: (the first kind that declares it, the attribute values it must have)}: the operators
    read through the kinds' own declarations."""
    from netc.kinds import DEFAULT
    out: dict = {}
    for name in DEFAULT.kinds:
        k = DEFAULT.kinds[name]
        for op, attrs in (getattr(k, "onnx", None) or {}).items():
            out.setdefault(op, (k.kind, attrs))
    return out


def _rule(op: str):
    """How a node of ONNX operator ``op`` is read: :data:`OPS`'s reader for an operator no kind declares;
    else the kinds that declare it (``Kind.onnx``), decoded by the operator's decoder (:data:`BY_OP`)
    where it has one, else as the first of them whose attribute values the node has, its parameters
    decoded by the kind's Params class; None where nothing reads it."""
    if op in OPS:
        return OPS[op]
    kinds = _kinds(op)
    if not kinds:
        return None
    if op in BY_OP:
        return lambda r, n: BY_OP[op](r, n, kinds)
    decoders = _decoders()

    def rule(r: _Reader, n):
        kind = next((k for k in kinds if _mismatch(n, k.onnx[op]) is None), None)
        if kind is None:
            key, got, v = _mismatch(n, kinds[0].onnx[op])
            raise ImportError_(f"node {_nid(n)} ({n.op_type}) has {key}={got!r}; netc's {kinds[0].kind} is "
                               f"{n.op_type} with {key}={v!r}")
        decoders.get(kind.Params, _plain)(r, n, kind)
    return rule


def _part_error(r: _Reader, n, what: str):
    return ImportError_(f"node {_nid(n)} ({n.op_type}) takes {what} of a {r.lay(n.input[0])}; netc reads a part of "
                        "the channels (chunk, split) and one token of a sequence (select)",
                        hint="a kind that cuts tokens or heads apart would close it")


def _chunk(r: _Reader, n, x: str, out: str, start: int, size: int, channels: int) -> None:
    """Channels ``start`` .. ``start + size`` of ``x`` (``channels`` of them) as ``chunk``: equal
    parts where they are (``chunk(2, 1)``), else the sizes of the parts (``chunk([24, 40], 0)``)."""
    if size <= 0 or start < 0 or start + size > channels:
        raise _part_error(r, n, f"channels {start}..{start + size}")
    if channels % size == 0 and start % size == 0:
        params = {"parts": channels // size, "index": start // size}
    else:
        sizes = [v for v in (start, size, channels - start - size) if v]
        params = {"parts": sizes, "index": 1 if start else 0}
    r.add(n, "chunk", params, [r.src(n, x)], out=out)
    if r.layout.get(x) == "nhwc":
        r.layout[out] = "nhwc"


def _channel_axis(r: _Reader, x: str, axis: int) -> int | None:
    """The channel count of ``x`` if ``axis`` is its channel axis (of a map, channels-last map or tokens)."""
    shape = r.shapes.get(x) or ()
    if not shape:
        return None
    axis %= len(shape)
    lay = r.lay(x)
    want = len(shape) - 1 if lay in ("nhwc", "tokens", "grid") else 1 if lay == "map" else None
    c = shape[axis]
    return c if axis == want and isinstance(c, int) else None


def _slice(r: _Reader, n):
    x = n.input[0]
    a = _attrs(n)
    if len(n.input) > 1:        # opset 10 on: starts, ends, axes, steps as inputs
        vals = [_value(r, n.input[i]) if len(n.input) > i and n.input[i] else None for i in range(1, 5)]
        if vals[0] is None or vals[1] is None or (len(n.input) > 3 and n.input[3] and vals[2] is None) or \
                (len(n.input) > 4 and n.input[4] and vals[3] is None):
            raise ImportError_(f"node {_nid(n)} (Slice) cuts where netc cannot compute before the input arrives")
        starts, ends, axes, steps = ([int(v) for v in t.reshape(-1)] if t is not None else None for t in vals)
    else:
        starts, ends, axes, steps = a.get("starts"), a.get("ends"), a.get("axes"), None
    rank = len(r.shapes.get(x) or ())
    axes = axes if axes is not None else list(range(len(starts)))
    steps = steps or [1] * len(starts)
    if len(starts) != 1 or len(ends) != 1 or len(axes) != 1 or steps != [1] or not rank:
        raise _part_error(r, n, f"a slice along axes {list(axes)}")
    c = _channel_axis(r, x, axes[0])
    if c is None:
        raise _part_error(r, n, f"a slice along axis {axes[0]}")
    s, e = starts[0], ends[0]
    s, e = (v + c if v < 0 else v for v in (s, e))
    s, e = max(0, min(s, c)), max(0, min(e, c))
    _chunk(r, n, x, n.output[0], s, e - s, c)


def _splitop(r: _Reader, n):
    x = n.input[0]
    a = _attrs(n)
    c = _channel_axis(r, x, int(a.get("axis", 0)))
    if c is None:
        raise _part_error(r, n, f"parts along axis {a.get('axis', 0)}")
    if len(n.input) > 1 and n.input[1]:
        t = _value(r, n.input[1])
        if t is None:
            raise ImportError_(f"node {_nid(n)} (Split) cuts where netc cannot compute before the input arrives")
        sizes = [int(v) for v in t.reshape(-1)]
    elif a.get("split"):
        sizes = [int(v) for v in a["split"]]
    else:
        k = int(a.get("num_outputs", len(n.output)))
        step = -(-c // k)
        sizes = [min(step, c - i * step) for i in range(k)]
    if len(sizes) != len(n.output) or sum(sizes) != c:
        raise _part_error(r, n, f"parts of sizes {sizes}")
    start = 0
    for o, size in zip(n.output, sizes):
        if o and r.uses.get(o):
            _chunk(r, n, x, o, start, size, c)
        start += size


def _gather(r: _Reader, n):
    x, i = n.input[0], n.input[1]
    axis = int(_attrs(n).get("axis", 0))
    shape = r.shapes.get(x) or ()
    idx = _value(r, i)
    if r.lay(x) == "tokens" and len(shape) == 3 and axis % 3 == 1 and idx is not None and idx.size == 1 \
            and idx.ndim == 0:
        j = int(idx.reshape(-1)[0])
        if isinstance(shape[1], int) and j < 0:
            j += shape[1]
        r.add(n, "select", {"index": j}, [r.src(n, x)])
        return
    raise _part_error(r, n, f"a gather along axis {axis}")


# ------------------------------------------------------------------ values known before the input arrives
_EVAL_MAX = 1 << 16     # elements: shape arithmetic is small; anything bigger is not evaluated


def _limit(r: _Reader) -> int:
    return getattr(r, "eval_max", _EVAL_MAX)


def _big_value(r: _Reader, v: str, limit: int = 1 << 22):
    """:func:`_value` of ``v`` with values up to ``limit`` elements (a shifted window's mask,
    computed from shapes alone: windows x tokens x tokens), memo and limit restored after."""
    memo, r.values, r.eval_max = r.values, {}, limit
    try:
        return _value(r, v)
    finally:
        r.values, r.eval_max = memo, _EVAL_MAX


def _value(r: _Reader, v: str, depth: int = 0):
    """The numpy value of ``v`` where it is known before the input arrives (a constant, a small
    initializer, a shape, arithmetic on those: the exporters' shape arithmetic), else None."""
    import numpy as np
    memo = r.values
    if v in memo:
        return memo[v]
    memo[v] = None          # a cycle (malformed file) reads as unknown
    out = None
    t = r.tensor(v)
    if t is not None:
        if math.prod(t.dims) <= _limit(r):
            out = r.array(t, v, "a constant")
    elif depth < 200 and v in r.made:
        try:
            out = _eval(r, r.made[v], v, depth)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError, ZeroDivisionError, OverflowError):
            out = None
        if out is not None:
            out = np.asarray(out)
            if out.size > _limit(r):
                out = None
    memo[v] = out
    return out


def _eval(r: _Reader, n, v: str, depth: int):
    import numpy as np
    a = _attrs(n)
    op = n.op_type
    if op == "Shape":
        shape = r.shapes.get(n.input[0])
        if (shape is None or None in shape) and n.input[0] in r.static:     # a value computed here: its shape
            known = _value(r, n.input[0], depth + 1)
            shape = known.shape if known is not None else None
        if shape is None or any(not isinstance(d, int) for d in shape):
            return None
        s = np.array(shape, dtype=np.int64)
        return s[a.get("start", 0): a["end"]] if "end" in a else s[a.get("start", 0):]
    if op == "Size":
        shape = r.shapes.get(n.input[0])
        return None if shape is None or None in shape else np.array(math.prod(shape), dtype=np.int64)
    if op == "Constant":
        t = r.consts.get(v)
        return r.array(t, v, "a constant") if t is not None and math.prod(t.dims) <= _limit(r) else None
    ins = [_value(r, i, depth + 1) if i else None for i in n.input]
    if any(x is None for i, x in zip(n.input, ins) if i):
        return None
    if op in ("Identity", "Cast", "CastLike"):
        x = ins[0]
        if op == "Cast":
            from onnx import helper
            return x.astype(helper.tensor_dtype_to_np_dtype(a["to"]))
        return x.astype(ins[1].dtype) if op == "CastLike" else x
    if op in ("Add", "Sub", "Mul", "Div", "Mod", "Max", "Min", "Equal", "Less", "Greater", "Pow"):
        x, y = ins
        if op == "Div":
            return (x // y if x.dtype.kind in "iu" and (x >= 0).all() and (y > 0).all() else
                    (np.trunc(x / y).astype(x.dtype) if x.dtype.kind in "iu" else x / y))
        f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Mod": np.mod, "Max": np.maximum,
             "Min": np.minimum, "Equal": np.equal, "Less": np.less, "Greater": np.greater, "Pow": np.power}[op]
        return f(x, y)
    if op in ("Neg", "Abs", "Floor", "Ceil", "Sqrt", "Not"):
        return {"Neg": np.negative, "Abs": np.abs, "Floor": np.floor, "Ceil": np.ceil, "Sqrt": np.sqrt,
                "Not": np.logical_not}[op](ins[0])
    if op == "Gather":
        return np.take(ins[0], ins[1], axis=int(a.get("axis", 0)))
    if op == "Concat":
        return np.concatenate([np.atleast_1d(x) for x in ins], axis=int(a.get("axis", 0)))
    if op == "Unsqueeze":
        axes = [int(i) for i in (a["axes"] if "axes" in a else ins[1].reshape(-1))]
        x = ins[0]
        for ax in sorted(i % (x.ndim + len(axes)) for i in axes):
            x = np.expand_dims(x, ax)
        return x
    if op == "Squeeze":
        axes = a.get("axes") if "axes" in a else (ins[1].reshape(-1).tolist() if len(ins) > 1 else None)
        return np.squeeze(ins[0], axis=tuple(int(i) for i in axes) if axes is not None else None)
    if op == "Slice":
        x = ins[0]
        starts, ends = ins[1].reshape(-1), ins[2].reshape(-1)
        axes = ins[3].reshape(-1) if len(ins) > 3 and ins[3] is not None else range(len(starts))
        steps = ins[4].reshape(-1) if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
        sl = [slice(None)] * x.ndim
        for s, e, ax, st in zip(starts, ends, axes, steps):
            sl[int(ax)] = slice(int(s), int(e), int(st))
        return x[tuple(sl)]
    if op == "Reshape":
        shape = [int(d) for d in ins[1].reshape(-1)]
        shape = [ins[0].shape[i] if d == 0 else d for i, d in enumerate(shape)]
        return ins[0].reshape(shape)
    if op == "Range":
        return np.arange(ins[0].item(), ins[1].item(), ins[2].item())
    if op == "ConstantOfShape":
        fill = a.get("value")
        val = r.array(fill, v, "a fill value").reshape(-1)[0] if fill is not None else np.float32(0)
        shape = [int(d) for d in ins[0].reshape(-1)]
        return None if math.prod(shape) > _limit(r) else np.full(shape, val)
    if op == "Where":
        return np.where(ins[0], ins[1], ins[2])
    if op == "Expand":
        shape = [int(d) for d in ins[1].reshape(-1)]
        return None if math.prod(shape) > _limit(r) else ins[0] * np.ones(shape, dtype=ins[0].dtype)
    if op == "Transpose":
        perm = a.get("perm")
        return np.transpose(ins[0], [int(i) for i in perm] if perm is not None else None)
    if op == "ScatterND" and a.get("reduction", b"none") in (b"none", "none"):
        x, idx, upd = ins[0].copy(), ins[1].astype(np.int64), ins[2]
        k = idx.shape[-1]
        x[tuple(idx.reshape(-1, k).T)] = upd.reshape(-1, *x.shape[k:])
        return x
    if op in ("ReduceProd", "ReduceSum"):
        f = np.prod if op == "ReduceProd" else np.sum
        return f(ins[0], keepdims=bool(a.get("keepdims", 1)))
    return None


def _identity(r: _Reader, n):
    if n.input[0] in r.inits or n.input[0] in r.consts or n.input[0] in r.alias:
        r.alias[n.output[0]] = r.alias.get(n.input[0], n.input[0])
    else:
        r.value[n.output[0]] = r.src(n, n.input[0])


def _constant(r: _Reader, n):
    a = _attrs(n)
    if "value" in a:
        r.consts[n.output[0]] = a["value"]


def _flatten(r: _Reader, n, kinds):
    if _attrs(n).get("axis", 1) != 1:
        raise ImportError_(f"node {n.name} (Flatten) keeps {_attrs(n)['axis']} leading axes; netc flattens to (N, features)")
    r.add(n, kinds[0].kind, {}, [r.src(n, n.input[0])])


def _reshape(r: _Reader, n):
    from onnx import TensorProto
    t = r.tensor(n.input[1]) if len(n.input) > 1 else None
    out = r.shapes.get(n.output[0]) or ()
    x = n.input[0]
    shape = r.shapes.get(x) or ()
    if out and None not in out and tuple(out) == tuple(shape):     # to its own shape: the tensor
        r.value[n.output[0]] = r.src(n, x)
        if x in r.layout:
            r.layout[n.output[0]] = r.layout[x]
        return
    if r.lay(x) == "map" and len(shape) == 4 and len(out) == 3 and None not in shape and \
            tuple(out) == (shape[0], shape[1], shape[2] * shape[3]):
        r.value[n.output[0]] = r.src(n, x)     # a map's positions flattened: tokens once transposed
        r.layout[n.output[0]] = "nct"
        return
    if t is None and len(out) == 2 and n.input[1] in r.static:     # a shape computed from shapes: flatten
        r.add(n, _kind("Flatten"), {}, [r.src(n, n.input[0])])
        return
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
    r.add(n, _kind("Flatten"), {}, [r.src(n, n.input[0])])


#: ONNX operators that no kind declares: views, constants and parts that netc reads as a layer, or as
#: none (a Reshape to (N, features) is a flatten, a Transpose to channels-last a view, a Slice a chunk).
#: Every other operator is read as a kind that declares it (``Kind.onnx``: Conv, Gemm, MaxPool,
#: AveragePool, LRN, BatchNormalization, Relu, Softmax, Dropout ...), decoded by :func:`_decoders`
OPS = {
    "Reshape": _reshape, "Identity": _identity, "Constant": _constant, "MatMul": _matmul,
    "Transpose": _transpose, "ReduceMean": _reducemean, "Slice": _slice, "Split": _splitop, "Gather": _gather,
}

#: declared operators whose decoding depends on the operator (an attribute netc does not have, an operand
#: that is a constant, a pattern around the node, min and max given as inputs): {ONNX op: decoder taking
#: the kinds that declare the operator}
BY_OP = {"Flatten": _flatten, "Concat": _concat, "Add": _add, "Mul": _mul, "Clip": _clip}

#: what would close an operator netc does not read (the error's hint)
NO_KIND = {
    "ScatterND": "Swin's shifted windows written out are read whole (pad, roll, window partition, attention with "
                 "its position bias and shift mask, windows back, roll back, crop); this one differs somewhere",
    "Pad": "a padding of its own: netc pads inside conv and pooling, and inside Swin's window attention and "
           "patch merging, read whole (pad, roll, windows, attention, ... or the 2x2 neighbours, LN, Linear)",
}


def _printed_order(net: Net) -> list:
    """The layers in the order the printed spec runs them: each join's branches one after the
    other, in the join's input order (a depth-first walk back from the outputs), where the file may
    interleave them (a module that computes its second branch first)."""
    idx, seen, out = net.index(), set(), []
    for name, _ in net.outputs:
        stack = [(name, False)]
        while stack:
            n, done = stack.pop()
            if done:
                out.append(idx[n])
                continue
            if n in seen or n not in idx:
                continue
            seen.add(n)
            stack.append((n, True))
            stack += [(i, False) for i in reversed(idx[n].inputs)]
    return out + [l for l in net.layers if l.name not in seen]




def weights(path: str, text: str) -> dict:
    """The ONNX file's weights as a state_dict for the spec ``text`` (keys from the compiled spec)."""
    import torch
    import netc
    model, net = _read_again(path)      # external data: read below, from the model's folder only
    folder = os.path.dirname(os.path.abspath(path))
    inits = {i.name: i for i in model.graph.initializer}
    compiled = netc.compile(netc.loads(text), device="meta")
    from netc.backends.torch.weights import dataflow_tensors
    dst = dataflow_tensors(compiled)
    wanted = []         # (tensor name, what it is, transposed)
    for l in _printed_order(net):
        w = net.weight_names.get(l.name) or {}
        tr = w.get("transposed")
        for key, tname in w.items():
            if key != "transposed" and tname:
                wanted.append((tname, f"the {key} of layer '{l.name}', {l.where}",
                               key in tr if isinstance(tr, (set, frozenset, tuple, list)) else
                               key == "weight" and bool(tr)))
    if len(dst) != len(wanted):
        raise ImportError_(f"{path}: {len(wanted)} weight tensors for a spec that has {len(dst)}")
    out = {}
    for (k, v), (tname, what, transposed) in zip(dst, wanted):
        if tname == ZEROS:      # a bias the exporter left out (all zeros)
            out[k] = torch.zeros(v.shape)
            continue
        if isinstance(tname, tuple) and tname[0] == _RELINDEX:
            out[k] = torch.from_numpy(_rel_index(tname[1])).reshape(v.shape)
            continue
        if isinstance(tname, tuple) and tname[0] == _RELBIAS:     # the table, from the exporter's table[index]
            if tname[1].size != v.numel():
                raise ImportError_(f"{path}: {what} has {tname[1].size} values; the spec's {k} needs {v.numel()}")
            out[k] = torch.from_numpy(tname[1].copy()).reshape(v.shape)
            continue
        t = inits.get(tname)
        if t is None:
            raise ImportError_(f"{path}: tensor '{tname}' ({what}) is not an initializer of the model")
        if math.prod(t.dims) != v.numel():      # checked on the declared shape, before anything is read
            raise ImportError_(f"{path}: tensor '{tname}' ({what}) has shape {'x'.join(map(str, t.dims)) or 'scalar'}; "
                               f"the spec's {k} needs {'x'.join(map(str, v.shape))}")
        a = _array(t, tname, what, folder, path)
        a = torch.from_numpy(a if a.flags.writeable else a.copy())
        if transposed:
            a = a.reshape(t.dims[0], -1).t().contiguous()
        out[k] = a.reshape(v.shape)
    # in the compiled module's own order (load_weights pairs a state_dict with the module's, one by one)
    order = [k for k in compiled.state_dict() if k in out]
    return {**{k: out[k] for k in order}, **out}
