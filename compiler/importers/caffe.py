"""Caffe prototxt (and .caffemodel weights) -> the neutral layer graph.

All three generations of Caffe's text format are read, as Caffe's ``upgrade_proto`` reads them:
V0 (``layers { layer { type: "conv" } }``), V1 (``layers { type: CONVOLUTION }``) and V2
(``layer { type: "Convolution" }``). The network is taken in its TEST phase; data, loss and
accuracy layers are training machinery and are left out (the output says so). A layer netc has
no word for (``Python``, ``ROIPooling`` ...) is an error naming it, its type and its line: nothing
is dropped silently, and nothing in the file is executed.
"""
from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache

from netc.dsl.errors import Source, Span, did_you_mean

from netc.importers.caffe_proto import LAYER_PARAMS, V1_LAYER_TYPES
from netc.importers.graph import ImportError_, Layer, Net
from netc.kinds import DEFAULT

V1_TYPES = {
    "CONVOLUTION": "Convolution", "INNER_PRODUCT": "InnerProduct", "POOLING": "Pooling", "LRN": "LRN",
    "RELU": "ReLU", "DROPOUT": "Dropout", "SOFTMAX": "Softmax", "SOFTMAX_LOSS": "SoftmaxWithLoss",
    "CONCAT": "Concat", "ELTWISE": "Eltwise", "FLATTEN": "Flatten", "SIGMOID": "Sigmoid", "TANH": "TanH",
    "DATA": "Data", "IMAGE_DATA": "ImageData", "MEMORY_DATA": "MemoryData", "HDF5_DATA": "HDF5Data",
    "WINDOW_DATA": "WindowData", "DUMMY_DATA": "DummyData", "ACCURACY": "Accuracy", "SPLIT": "Split",
    "SILENCE": "Silence", "EUCLIDEAN_LOSS": "EuclideanLoss", "HINGE_LOSS": "HingeLoss",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss", "INFOGAIN_LOSS": "InfogainLoss",
    "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss", "CONTRASTIVE_LOSS": "ContrastiveLoss",
    "HDF5_OUTPUT": "HDF5Output", "ABSVAL": "AbsVal", "ARGMAX": "ArgMax", "BNLL": "BNLL",
    "DECONVOLUTION": "Deconvolution", "EXP": "Exp", "IM2COL": "Im2col", "MVN": "MVN", "POWER": "Power",
    "SLICE": "Slice", "THRESHOLD": "Threshold",
}
# V0 type strings, as upgrade_proto.cpp's UpgradeV0LayerType maps them: V0 knew the V1 types numbered 1 to 24
# (V1's enum numbers them in the order Caffe added them; ELTWISE, 25, came after V0) and wrote each in lower
# case, these four aside; a padding layer folds into the next layer (layers_of)
V0_IRREGULAR = {"conv": "CONVOLUTION", "images": "IMAGE_DATA", "innerproduct": "INNER_PRODUCT", "pool": "POOLING"}
V0_TYPES = {**{name.lower(): V1_TYPES[name] for name, number in V1_LAYER_TYPES
               if 1 <= number <= 24 and name not in V0_IRREGULAR.values()},
            **{v0: V1_TYPES[v1] for v0, v1 in V0_IRREGULAR.items()}, "padding": "Padding"}
DATA = {"Data", "ImageData", "MemoryData", "HDF5Data", "WindowData", "DummyData", "Input", "AnnotatedData"}
LOSS = {"SoftmaxWithLoss", "EuclideanLoss", "HingeLoss", "SigmoidCrossEntropyLoss", "InfogainLoss",
        "MultinomialLogisticLoss", "ContrastiveLoss"}
DROPPED = {"Accuracy", "Silence", "HDF5Output"}
_SUM_ONLY = "only an element-wise sum with coefficients 1 has a netc kind (add)"
# the configurations of a type that no kind's pattern (Kind.caffe) takes, said as they are refused
NO_KIND = {
    "Pooling": "stochastic pooling has no netc kind",
    "ReLU": "a leaky ReLU (negative_slope) as a layer of its own has no netc kind",
    "InnerProduct": "transpose: true is not supported",
    "Concat": "netc concatenates along channels only (axis 1)",
    "Eltwise": _SUM_ONLY,
}


@dataclass
class CLayer:
    """One layer, whatever the generation of the format it came from."""
    name: str
    type: str
    bottom: list
    top: list
    msg: object                 # the V2 / V1 LayerParameter, or a V0 adapter
    line: int = 0
    loss_weight: list = field(default_factory=list)
    blobs: list = field(default_factory=list)


class _V0:
    """A V0 layer's fields under the V2 names (upgrade_proto.cpp's UpgradeV0LayerParameter)."""

    def __init__(self, v0, pad: int = 0):
        self.v0, self.pad = v0, pad

    def HasField(self, name):
        return name in ("convolution_param", "pooling_param", "lrn_param", "inner_product_param", "dropout_param")

    @property
    def convolution_param(self):
        v = self.v0
        return _Obj(num_output=v.num_output, bias_term=v.biasterm, pad=[v.pad or self.pad], kernel_size=[v.kernelsize],
                    stride=[v.stride], group=v.group, dilation=[], pad_h=0, pad_w=0, kernel_h=0, kernel_w=0,
                    stride_h=0, stride_w=0, has=set())

    @property
    def pooling_param(self):
        v = self.v0
        return _Obj(pool=v.pool, pad=v.pad or self.pad, kernel_size=v.kernelsize, stride=v.stride, pad_h=0, pad_w=0,
                    kernel_h=0, kernel_w=0, stride_h=0, stride_w=0, global_pooling=False, round_mode=0, has=set())

    @property
    def lrn_param(self):
        v = self.v0
        return _Obj(local_size=v.local_size, alpha=v.alpha, beta=v.beta, k=v.k, norm_region=0)

    @property
    def inner_product_param(self):
        return _Obj(num_output=self.v0.num_output, bias_term=self.v0.biasterm, axis=1, transpose=False)

    @property
    def dropout_param(self):
        return _Obj(dropout_ratio=self.v0.dropout_ratio)


class _Obj:
    def __init__(self, has=None, **kw):
        self.__dict__.update(kw)
        self._has = has if has is not None else set(kw)

    def HasField(self, name):
        return name in self._has and bool(getattr(self, name))


def parse_text(text: str, filename: str = "<prototxt>"):
    """The NetParameter of a prototxt (any generation), or an error with the line."""
    from google.protobuf import text_format
    from netc.importers.caffe_proto import NetParameter
    net = NetParameter()
    try:
        text_format.Parse(text, net, allow_unknown_field=True)
    except text_format.ParseError as e:
        line = getattr(e, "GetLine", lambda: 0)() or 0
        col = getattr(e, "GetColumn", lambda: 1)() or 1
        raise ImportError_(f"not a Caffe prototxt: {e}", _span(filename, text, line or 1, col)) from None
    except RecursionError:
        raise ImportError_(f"{os.path.basename(filename)}: its braces nest too deeply to read",
                           hint="a Caffe network nests a few levels (layer { convolution_param { ... } })") from None
    _misspelt_field(text, filename)
    return net


def _misspelt_field(text: str, filename: str) -> None:
    """A field netc does not model is skipped (Caffe's forks add their own), but one that looks like a
    misspelling of a field of the parameter message it sits in (``kernal_size`` in convolution_param)
    is an error at its place: skipped, it would leave the layer without what the file meant to say."""
    from netc.importers.caffe_proto import messages
    msgs = messages()
    params = {}                 # a layer's parameter field -> its message's fields (convolution_param -> ...)
    for layer in ("LayerParameter", "V1LayerParameter"):
        for f in msgs[layer].DESCRIPTOR.fields:
            if f.message_type is not None and f.message_type.name.endswith("Parameter"):
                params[f.name] = [g.name for g in f.message_type.fields]
    stack: list = []
    for m in _TOKENS.finditer(text):
        name, colon, brace = m.group("name"), m.group("colon"), m.group("open")
        if m.group("close"):
            if stack:
                stack.pop()
        elif name and brace:
            stack.append(name)
        elif name and colon and len(stack) >= 2 and stack[-1] in params:
            known = params[stack[-1]]
            # a misspelling is a letter or two off (kernal_size); a fork's own field is a word of its
            # own (DeepLab's filter_stride), skipped as any field netc does not model
            near = difflib.get_close_matches(name, known, n=1, cutoff=0.85) if name not in known else None
            if near:
                line = text.count("\n", 0, m.start("name")) + 1
                col = m.start("name") - (text.rfind("\n", 0, m.start("name")) + 1) + 1
                raise ImportError_(f"{stack[-1]} has no field '{name}'", _span(filename, text, line, col),
                                   hint=f"did you mean '{near[0]}'?")


#: the prototxt's tokens, as far as _misspelt_field needs them: comments and strings skipped
_TOKENS = re.compile(r'#[^\n]*|"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|'
                     r'(?P<name>[A-Za-z_]\w*)\s*(?:(?P<colon>:)|(?P<open>\{))?|(?P<close>\})|[^\s\w]+|\S')

def _span(path: str, text: str, line: int, col: int = 1) -> Span:
    src = Source(path, text)
    width = max(1, len(src.line(line).rstrip()) - col + 1)
    return Span(src, line, col, line, col + width)


def layers_of(net, text: str = "") -> list[CLayer]:
    """Every layer as a :class:`CLayer` with its V2 type name and its line in ``text``."""
    lines = _name_lines(text)
    out = []
    if len(net.layer):
        for l in net.layer:
            out.append(CLayer(l.name, l.type, list(l.bottom), list(l.top), l, lines(l.name), list(l.loss_weight),
                              list(l.blobs)))
    pad_of: dict = {}
    for l in net.layers:
        if l.HasField("layer"):      # V0
            v0 = l.layer
            t = V0_TYPES.get(v0.type, v0.type)
            if t == "Padding":       # V0 padding layers fold into the next conv / pool (upgrade_proto.cpp)
                pad_of[l.top[0]] = (l.bottom[0], v0.pad)
                continue
            bottom = list(l.bottom)
            pad = 0
            if bottom and bottom[0] in pad_of:
                bottom[0], pad = pad_of[bottom[0]]
            out.append(CLayer(v0.name, t, bottom, list(l.top), _V0(v0, pad), lines(v0.name), [], list(v0.blobs)))
        else:
            t = l.DESCRIPTOR.fields_by_name["type"].enum_type.values_by_number[l.type].name
            out.append(CLayer(l.name, V1_TYPES.get(t, t), list(l.bottom), list(l.top), l, lines(l.name),
                              list(l.loss_weight), list(l.blobs)))
    return out


_NAME = re.compile(r'(?:^|(?<=[^\S\n]|{))name[^\S\n]*:[^\S\n]*"([^"\n]*)"', re.M)


def _name_lines(text: str):
    found: dict = {}
    line, at = 1, 0
    for m in _NAME.finditer(text):      # one pass over the text, lines counted on the way
        line += text.count("\n", at, m.start())
        at = m.start()
        found.setdefault(m.group(1), []).append(line)
    used: dict = {}

    def line_of(name: str) -> int:
        ls = found.get(name, [])
        k = used.get(name, 0)
        used[name] = k + 1
        return ls[min(k, len(ls) - 1)] if ls else 0
    return line_of


def _phase_ok(l: CLayer, phase: int = 1) -> bool:
    msg = l.msg
    inc = list(getattr(msg, "include", [])) if not isinstance(msg, _V0) else []
    exc = list(getattr(msg, "exclude", [])) if not isinstance(msg, _V0) else []
    if inc:
        return any(not r.HasField("phase") or r.phase == phase for r in inc)
    return not any(r.HasField("phase") and r.phase == phase for r in exc)


def read(path: str, text: str | None = None, input_size: tuple | None = None) -> Net:
    """The neutral graph of a Caffe prototxt file. ``input_size`` (C, H, W) is the input where the
    file does not state it (a data layer without crop_size, a Python data layer)."""
    if text is None:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    net = parse_text(text, path)
    return to_net(net, text, path, input_size)


def to_net(net, text: str, path: str, input_size: tuple | None = None) -> Net:
    cl = [l for l in layers_of(net, text) if _phase_ok(l)]
    g = _Build(path, text)
    _inputs(g, net, cl, input_size)
    for l in cl:
        g.layer(l)
    out = g.finish(net)
    out.locate = g.span_of            # type: ignore[attr-defined]  # errors in the printed spec point here
    return out


def _is_data(l: CLayer) -> bool:
    """A layer that feeds the network from outside: a data layer, or a Python layer without bottoms
    (FCN's SBDDSegDataLayer; its code is never run)."""
    return l.type in DATA or (l.type == "Python" and not l.bottom)


_MEAN = re.compile(r"""['"]mean['"]\s*:\s*[(\[]([^()\[\]]*)[)\]]""")


def _python_mean(l: CLayer) -> list:
    """The mean a Python data layer's param_str states (``'mean': (104.0, 116.7, 122.7)``), read as
    text: nothing in it is evaluated."""
    pp = getattr(l.msg, "python_param", None)
    m = _MEAN.search(pp.param_str) if pp is not None else None
    if not m:
        return []
    try:
        return [float(x) for x in m.group(1).split(",") if x.strip()]
    except ValueError:
        return []


def _inputs(g: "_Build", net, cl: list, given: tuple | None = None) -> None:
    shape = None
    if len(net.input):
        g.blobs[net.input[0]] = "input"
        if len(net.input_shape):
            shape = list(net.input_shape[0].dim)
        elif len(net.input_dim) >= 4:
            shape = list(net.input_dim[:4])
        m = re.search(r"^[^\S\n]*input_(?:dim|shape)\b", g.text, re.M) or re.search(r"^[^\S\n]*input\b", g.text, re.M)
        g.input_line = g.text.count("\n", 0, m.start()) + 1 if m else 0
    source = None                   # the data layer that states no size
    for l in cl:
        if l.type == "Input" and len(l.msg.input_param.shape):
            shape = list(l.msg.input_param.shape[0].dim)
            g.input_line = l.line
        elif _is_data(l) and shape is None and source is None:     # the first: a second reads labels
            g.input_line = g.input_line or l.line
            tp = getattr(l.msg, "transform_param", None)
            if tp is not None and tp.crop_size:
                shape = [0, 1 if tp.force_gray else 3, tp.crop_size, tp.crop_size]
            if tp is not None:
                g.mean = list(tp.mean_value) or ([tp.mean_file] if tp.mean_file else [])
            if l.type == "Python":
                g.mean = _python_mean(l)
            if shape is None:
                source = l
    g.shape = tuple(int(x) for x in shape[1:4]) if shape and len(shape) >= 4 else None
    if given is not None:
        stated = g.shape
        g.shape, g.size_given = tuple(given), "x".join(map(str, stated)) if stated else True
    elif g.shape is None and source is not None:
        # no size in the file: any H x W where the channels are known (one mean value each, BGR
        # as Caffe feeds it); the spec then says whether the network takes any size
        chans = len(g.mean) if g.mean and not isinstance(g.mean[0], str) else None
        if chans is None:
            raise g.error(source, "the input's size is not in this file (a data layer without crop_size, and no "
                                  "Input layer or input_shape), nor its channels",
                          hint=f"give it: netc import {os.path.basename(g.path)} --input 3x32x32 (channels x height "
                               "x width)")
        g.shape, g.any_size = (chans, None, None), source.type


class _Build:
    def __init__(self, path: str, text: str = ""):
        self.path, self.text = path, text
        self.blobs: dict[str, str] = {}      # blob name -> the layer that last wrote it
        self.layers: list[Layer] = []
        self.names: set = set()
        self.suffix: dict = {}               # source name -> the next suffix to try for a repeat of it
        self.losses: list = []               # (bottom layer, weight, loss layer name)
        self.dropped: list = []
        self.shape = None
        self.mean: list = []
        self.blobs_of: dict = {}             # layer name -> Caffe blobs (weights)
        self.scales: dict = {}               # batch norm layer -> the Scale layer after it
        self.made: dict = {}                 # the name a layer got here -> its CLayer (where it is)
        self.input_line = 0                  # where the input is declared
        self.skips: dict = {}                # a crop to the input's size: {crop layer: {"input"}}
        self.size_given = False              # the input's size came from the caller (--input)
        self.any_size: str | None = None     # the data layer's type, where the file states no size
        self._lines: list | None = None

    def span_of(self, name: str | None) -> Span | None:
        """Where the layer the spec calls ``name`` is in the prototxt (None: not one of its layers);
        ``name`` None: where the input is declared (else the first line)."""
        if name is None:
            return self.span(CLayer("", "", [], [], None, self.input_line)) if self.text else None
        l = self.made.get(name)
        return self.span(l) if l is not None and l.line else None

    def span(self, l: CLayer) -> Span:
        if self._lines is None:
            self._lines = self.text.split("\n")
        line = l.line if 0 < l.line <= len(self._lines) else 1
        text = self._lines[line - 1] if self._lines else ""
        return _span(self.path, self.text, line, len(text) - len(text.lstrip()) + 1)

    def where(self, l: CLayer) -> str:
        return f"{os.path.basename(self.path)}:{l.line}" if l.line else os.path.basename(self.path)

    def error(self, l: CLayer, msg: str, hint: str | None = None) -> ImportError_:
        return ImportError_(f"layer '{l.name}' of type {l.type}: {msg}", self.span(l), hint=hint)

    def src(self, l: CLayer, blob: str) -> str:
        if blob not in self.blobs:
            raise self.error(l, f"reads blob '{blob}', which no layer before it writes")
        return self.blobs[blob]

    def add(self, l: CLayer, kind: str, params: dict | None = None, inputs: list | None = None) -> None:
        name = l.name
        if name in self.names:      # a repeated name: the first free of name_2, name_3 ... (counted on, not from 2)
            n = self.suffix.get(l.name, 2)
            while f"{l.name}_{n}" in self.names:
                n += 1
            name, self.suffix[l.name] = f"{l.name}_{n}", n + 1
        self.names.add(name)
        self.made[name] = l
        ins = inputs if inputs is not None else [self.src(l, b) for b in l.bottom]
        self.layers.append(Layer(name, kind, params or {}, ins, self.where(l), None, l.type))
        for t in l.top:
            self.blobs[t] = name
        if l.blobs:
            self.blobs_of[name] = l.blobs

    def layer(self, l: CLayer) -> None:
        t = l.type
        if _is_data(l):
            for top in l.top[:1]:
                self.blobs[top] = "input"
            for top in l.top[1:]:
                self.blobs[top] = "#label"
            self.dropped.append(t)
            return
        if t in LOSS:
            w = l.loss_weight[0] if l.loss_weight else 1.0
            self.losses.append((self.src(l, l.bottom[0]), float(w), l.name, t))
            return
        if t in DROPPED:
            self.dropped.append(t)
            return
        if t == "Split":
            for top in l.top:
                self.blobs[top] = self.src(l, l.bottom[0])
            return
        kinds = DEFAULT.reading("caffe", t)
        rule = getattr(self, "t_" + t, None)
        if not kinds and rule is None:
            known = sorted({n for k in DEFAULT for n in k.caffe} | {n[2:] for n in dir(self) if n.startswith("t_")})
            near = did_you_mean(t, known + sorted(DATA | LOSS | DROPPED))
            raise self.error(l, "netc has no layer kind for it, so the network cannot be written as a spec",
                             hint="nothing was dropped; a Python layer's code is never run" if t == "Python" else
                             near or f"the Caffe layers netc reads: {', '.join(known)}; data, loss, accuracy and "
                             "Split layers")
        kind = self.kind_of(l, kinds) if kinds else None
        (rule or self.plain)(l, kind)

    def kind_of(self, l: CLayer, kinds: list):
        """The first of the kinds that declare this layer's type whose pattern its parameter message
        matches; a located error where none does."""
        msg = _params_of(l)
        for k in kinds:
            if all(_same(getattr(msg, f, None), v) for f, v in k.caffe[l.type].items()):
                return k
        if l.type in NO_KIND:
            raise self.error(l, NO_KIND[l.type])
        said = "; ".join(f"{k.kind}: " + ", ".join(f"{f} {v}" for f, v in k.caffe[l.type].items()) for k in kinds)
        raise self.error(l, f"no netc kind reads it as it is configured (the kinds that read {l.type}: {said})")

    # ---------------------------------------------------------------- layer rules: the parameters
    # t_TYPE(l, kind) adds the layer of a Caffe type as the kind matched to it (Kind.caffe), reading
    # its parameters; a type without one adds the kind with none (ReLU, Softmax ...)
    def plain(self, l, kind):
        self.add(l, kind.kind)

    def t_Convolution(self, l, kind):
        p = l.msg.convolution_param
        k = _hw(p, "kernel", None)
        if k is None:
            raise self.error(l, "a convolution without kernel_size")
        dil = list(p.dilation)
        params = {"out": int(p.num_output), "k": k, "stride": _hw(p, "stride", 1), "pad": _hw(p, "pad", 0),
                  "groups": int(p.group), "bias": bool(p.bias_term)}
        if dil and dil[0] != 1:
            params["dilation"] = int(dil[0])
        self.add(l, kind.kind, params)

    def t_Deconvolution(self, l, kind):
        p = l.msg.convolution_param
        k = _hw(p, "kernel", None)
        if k is None:
            raise self.error(l, "a deconvolution without kernel_size")
        dil = list(p.dilation)
        if dil and any(d != 1 for d in dil):
            raise self.error(l, "a dilated deconvolution has no netc kind (upconv has no dilation)")
        self.add(l, kind.kind, {"out": int(p.num_output), "k": k, "stride": _hw(p, "stride", 1),
                                "pad": _hw(p, "pad", 0), "groups": int(p.group), "bias": bool(p.bias_term)})

    def t_Crop(self, l, kind):
        if len(l.bottom) != 2:
            raise self.error(l, f"a Crop reads two blobs (what to crop, and one of the size to crop it to), "
                                f"not {len(l.bottom)}")
        cp = l.msg.crop_param
        axis = cp.axis if cp.axis >= 0 else 4 + cp.axis
        offs = [int(o) for o in cp.offset]
        if axis not in (2, 3):
            raise self.error(l, f"it crops from axis {cp.axis}; netc crops height and width only (axis 2)")
        if len(offs) > 4 - axis:
            raise self.error(l, f"{len(offs)} offsets for {4 - axis} cropped axes")
        if axis == 3:
            raise self.error(l, "it crops the width only (axis 3); netc's crop cuts height and width to the "
                                "second blob's size")
        oh, ow = (offs[0], offs[-1]) if offs else (0, 0)     # one offset: the same for both axes
        ins = [self.src(l, b) for b in l.bottom]
        self.add(l, kind.kind, {"offset": oh if oh == ow else [oh, ow]}, ins)
        if ins[1] == "input":
            self.skips.setdefault(self.layers[-1].name, set()).add("input")

    def t_InnerProduct(self, l, kind):
        p = l.msg.inner_product_param
        self.add(l, kind.kind, {"out": int(p.num_output), "bias": bool(p.bias_term)})

    def t_Pooling(self, l, kind):
        if "k" not in kind.Params.model_fields:     # global pooling: the window is the whole map
            self.add(l, kind.kind)
            return
        p = l.msg.pooling_param
        k = _hw(p, "kernel", None)
        # Caffe rounds up unless round_mode says FLOOR: written wherever it does, also at a size where
        # rounding down would agree (the spec must compute what Caffe computes at every size)
        params = {"k": k, "stride": _hw(p, "stride", 1), "pad": _hw(p, "pad", 0),
                  "ceil": getattr(p, "round_mode", 0) == 0}
        self.add(l, kind.kind, params)

    def t_LRN(self, l, kind):
        p = l.msg.lrn_param
        self.add(l, kind.kind, {"size": int(p.local_size), "alpha": _f(p.alpha), "beta": _f(p.beta), "k": _f(p.k),
                                "region": "within" if p.norm_region == 1 else "across"})

    def t_Dropout(self, l, kind):
        self.add(l, kind.kind, {"p": _f(l.msg.dropout_param.dropout_ratio)})

    def t_Eltwise(self, l, kind):
        if any(c != 1 for c in l.msg.eltwise_param.coeff):
            raise self.error(l, _SUM_ONLY)
        self.add(l, kind.kind)

    def t_BatchNorm(self, l, kind):
        self.add(l, kind.kind, {"eps": _f(l.msg.batch_norm_param.eps), "affine": False})

    def t_Scale(self, l, kind=None):    # no kind: the affine part of the batch norm before it
        src = self.layers[-1] if self.layers else None
        p = l.msg.scale_param
        if src is not None and src.source_type == "BatchNorm" and src.params.get("affine") is False \
                and p.bias_term and self.src(l, l.bottom[0]) == src.name:
            src.params["affine"] = True        # BatchNorm + Scale(bias_term) is one affine batch norm
            for t in l.top:
                self.blobs[t] = src.name
            self.scales[src.name] = l.name
            return
        raise self.error(l, "a Scale layer is read only right after a BatchNorm (as its affine part)")

    # ---------------------------------------------------------------- the network
    def finish(self, net) -> Net:
        outputs: list = []
        losses = [x for x in self.losses if x[0] != "input"]
        softmax = False
        if losses:
            main = max(enumerate(losses), key=lambda p: (p[1][1], p[0]))[1]   # the heaviest, the last of equals
            outputs = [(main[0], None)] + [(b, w) for b, w, _, _ in losses if (b, w) != (main[0], main[1])]
            softmax = main[3] == "SoftmaxWithLoss"
        else:
            used = {i for l in self.layers for i in l.inputs}
            ends = [l.name for l in self.layers if l.name not in used]
            outputs = [(n, None) for n in ends[-1:]]
        comments = []
        if self.mean:
            m = ", ".join(_num(x) for x in self.mean)
            comments.append(f"input as Caffe feeds it: BGR channel order, mean ({m}) subtracted")
        else:
            comments.append("input as Caffe feeds it: BGR channel order, the mean subtracted (not stated in this file)")
        if self.size_given is True:
            comments.append("input size given to netc import (--input): this file does not state it")
        elif self.size_given:
            comments.append(f"input size given to netc import (--input); this file states {self.size_given}")
        elif self.any_size:
            comments.append(f"input of any size: this file states none (its {self.any_size} data layer has no "
                            "crop_size); the channels are its mean's")
        left = sorted((set(self.dropped) - {"Input"}) | {x[3] for x in self.losses})
        if left:
            comments.append("left out, used in training only: " + ", ".join(left) + " layers")
        out = Net(self.layers, self.shape, "BGR" if self.shape and self.shape[0] == 3 else None, outputs,
                  comments, net.name, self.path, softmax, probs=False)
        out.blobs = self.blobs_of          # type: ignore[attr-defined]
        out.scales = self.scales           # type: ignore[attr-defined]
        out.skips = self.skips             # type: ignore[attr-defined]
        out.named_joins = {l.name for l in self.layers if l.source_type == "Crop"}   # type: ignore[attr-defined]
        return out


def _num(x) -> str:
    return str(int(x)) if isinstance(x, float) and x == int(x) else str(x)


def _params_of(l: CLayer):
    """The parameter message of a layer's type (``pooling_param`` of a Pooling layer): the layer's, or the
    message with its defaults where the layer has none (a V0 / V1 layer, a type without parameters)."""
    fname = _param_field(l.type)
    if fname is None:
        return None
    msg = getattr(l.msg, fname, None)
    if msg is None:
        from netc.importers.caffe_proto import messages
        msg = messages()[LAYER_PARAMS[fname]]()
    return msg


_PARAM_FIELD = {"Deconvolution": "convolution_param"}     # the one type whose message is another's


@lru_cache(maxsize=None)
def _param_field(t: str) -> str | None:
    """LayerParameter's field for a type's parameters: the type's name, snake-cased (InnerProduct ->
    inner_product_param, ReLU -> relu_param)."""
    if t in _PARAM_FIELD:
        return _PARAM_FIELD[t]
    want = t.lower() + "param"
    return next((f for f in LAYER_PARAMS if f.replace("_", "") == want), None)


def _same(got, want) -> bool:
    if isinstance(want, float) and isinstance(got, (int, float)):
        return abs(got - want) <= 1e-6 * max(1.0, abs(want))
    return got == want


def _f(v: float) -> float:
    return float("%.6g" % v)


def _hw(p, what: str, default):
    """kernel / stride / pad of a conv or pool parameter message: an int or [h, w]."""
    h, w = getattr(p, f"{what}_h", 0), getattr(p, f"{what}_w", 0)
    if h or w:
        return int(h) if h == w else [int(h), int(w)]
    v = getattr(p, "kernel_size" if what == "kernel" else what, None)
    if isinstance(v, (int, float)):
        v = [v] if (v or what != "kernel") else []
    v = list(v) if v is not None else []
    if not v:
        return default
    if len(v) == 1:
        return int(v[0])
    return int(v[0]) if v[0] == v[1] else [int(v[0]), int(v[1])]
