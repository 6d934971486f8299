"""A layer kind: ONE definition of everything netc knows about it.

A :class:`Kind` holds, in one place, what every stage asks of a kind: its paper notation and
aliases, its parameters (a pydantic model), type inference, parameter / multiply-add /
receptive-field counts, the torch module or function it lowers to and how that is initialised,
its diagram family, table word, diff canonical form, whether it acts pointwise (dense evaluation
passes it through), and its naming role. Consumers ask the kind; none compares kind strings.

The torch facets import torch lazily (inside the methods), so the front end never imports it.
"""
from __future__ import annotations

import re
from fractions import Fraction
from typing import Any, ClassVar

from netc.types import dims
from netc.types.dims import ShapeProblem
from netc.kinds.params import NoParams
from netc.types.tensortype import IDS, MAP, TOKENS, VECTOR, TensorType, layout_of

Shape = TensorType
RF = tuple  # (size, stride): stride may be a Fraction after upsampling

#: naming roles (netc.elaborate.naming): how an unnamed instance is named
ROLES = ("conv", "fc", "pool", "prob", "norm", "join", "token", "other")
#: diagram families (netc.visualize.palette): one colour each
FAMILIES = ("conv", "fc", "pool", "pyramid", "norm", "drop", "act", "join", "resize", "attention", "embed",
            "input", "custom")


class Kind:
    """One kind of layer. Subclasses fill in the class attributes and override the rules."""

    kind: ClassVar[str]
    words: ClassVar[tuple[str, ...]] = ()        # spellings, compared lower-case
    Params: ClassVar[type[Params]] = NoParams
    positional: ClassVar[tuple[str, ...]] = ()   # names of positional arguments, in order
    frozen_params: ClassVar[bool] = False         # its parameters are fixed values, not trained (YOLOv8's DFL)
    layer_refs: ClassVar[tuple[str, ...]] = ()   # parameters that name another layer (upsample(like=c3)): an input
    paper_re: ClassVar[re.Pattern | None] = None
    doc: ClassVar[str] = ""
    # naming
    prefix: ClassVar[str] = "layer"              # default-name prefix
    role: ClassVar[str] = "other"                # see ROLES
    weight: ClassVar[bool] = False               # counts as a weight layer (depth, naming, act=auto)
    ends_stage: ClassVar[bool] = False           # a pooling layer closes a VGG stage
    # types
    accepts: ClassVar[tuple[str, ...]] = (MAP, TOKENS, VECTOR)   # input layouts
    # pictures, tables, dense evaluation
    family: ClassVar[str] = "custom"
    table_word: ClassVar[str | None] = None      # GoogLeNet Table 1's "type" column; None: the notation
    pointwise: ClassVar[bool] = False            # acts per position: dense evaluation passes it through
    # joins (concat, add, mul, residual): several inputs, written `WORD { branch ... }`
    join: ClassVar[bool] = False
    sequential_body: ClassVar[bool] = False      # a join whose lines form ONE branch (residual)
    activation_fn: ClassVar[bool] = False        # usable as act=NAME on a layer with weights
    functional: ClassVar[bool] = False           # lowers to a function call, not a submodule
    hidden_in_tables: ClassVar[bool] = False
    stochastic: ClassVar[bool] = False           # random in training only, the identity at inference (dropout)
    # foreign names: the ONNX operators this kind is, one node each, with the attribute values they must
    # have ({"HardSigmoid": {"alpha": 1 / 6, "beta": 0.5}}); the ONNX importer reads them from here
    onnx: ClassVar[dict[str, dict]] = {}
    # foreign names: the torch modules this kind is, by class name (``"PartitionAttention"``); netc.from_torch
    # reads a call of one as this kind with the parameters :meth:`torch_params` gives
    torch_modules: ClassVar[tuple[str, ...]] = ()
    # foreign names: torch functions and tensor methods this kind is, by name as torch.fx records them
    # (``"max_pool2d"`` for F.max_pool2d, ``"adaptive_avg_pool2d"`` for F.adaptive_avg_pool2d)
    torch_functions: ClassVar[tuple[str, ...]] = ()
    # the arguments of such a function (and of its ATen operator) after the input, in order
    # (``("kernel_size", "stride", ...)`` for max_pool2d): a call is read by :meth:`torch_params` as a module
    # whose attributes are the arguments it was given, by these names (those left out are absent)
    torch_args: ClassVar[tuple[str, ...]] = ()
    # foreign names: ATen operators as torch.export records them (``"aten.max_pool2d.default"``); the
    # in-place form (``aten.relu_.default``) reads as its operator
    aten: ClassVar[tuple[str, ...]] = ()
    # foreign names: Caffe layer types this kind is, with the values its parameter message must have
    # (``{"Pooling": {"pool": 0}}``: MAX); the Caffe importer reads them from here
    # A pattern's keys are fields of the layer's parameter message for that type (``pool`` of ``pooling_param``
    # for Pooling; the message named after the type, Deconvolution's convolution_param), its values as Caffe
    # stores them (an enum by number); an unset field has its default, also in V0 / V1 files
    caffe: ClassVar[dict[str, dict]] = {}

    def __deepcopy__(self, memo):   # a definition, shared by every IR that uses it
        return self

    def torch_params(self, m, x: tuple | None) -> dict | None:
        """The parameters of a torch module named in :attr:`torch_modules` (``x``: its input's shape,
        where known); None where this module is not this kind (another kind of the same class name
        reads it); ValueError for a configuration netc has no form for."""
        return None

    def foreign_params(self, d: dict):
        """The parameters an importer read (``d``: this kind's fields, in the conventions torch, ONNX and
        Caffe share) as this kind's :attr:`Params`, in the form the language writes shortest."""
        return self.Params(**d)

    # ------------------------------------------------------------ notation
    def from_paper(self, m: re.Match) -> dict:
        return {}

    def paper(self, p) -> str:
        return self.words[0] if self.words else self.kind

    def written(self, p) -> str:
        """The word a spec writes for ``p``: the paper's (:meth:`paper`) unless the language's own reads
        better in a spec (``mhsa(12)`` where ViT's table says MSA(12)). What :meth:`spell` starts from."""
        return self.paper(p)

    def spell(self, p, registry=None, names: dict[str, str] | None = None) -> str:
        """The layer as the language writes it: :meth:`paper` plus the parameters that word does not
        say, by keyword (``conv3-64(pad=0, bias=false)``); checked to give ``p`` back
        (:func:`netc.kinds.spell.spell`). What the importers print."""
        from netc.kinds.spell import spell
        return spell(self, p, registry, names)

    def refs(self, p) -> list:
        """The layers whose output this one reads besides its input (``layer_refs``: upsample(like=c3))."""
        return [getattr(p, f) for f in self.layer_refs if getattr(p, f, None) is not None]

    def patch(self, p) -> str:
        """GoogLeNet Table 1's "patch size/stride" column: ``3×3/1`` for a windowed layer."""
        if not hasattr(p, "k") or not hasattr(p, "stride"):
            return ""
        k = p.k if isinstance(p.k, (tuple, list)) else (p.k, p.k)
        s = p.stride if p.stride is not None else k
        s = s if isinstance(s, (tuple, list)) else (s, s)
        ks = f"{k[0]}×{k[1]}"
        return f"{ks}/{s[0]}" if s[0] == s[1] else f"{ks}/{s[0]}×{s[1]}"

    def table_text(self, p) -> str:
        """GoogLeNet Table 1's "type" column."""
        return self.table_word or self.paper(p)

    def canonical(self, p) -> dict:
        """The parameters as the diff compares them: what the layer does, not how it was written."""
        return dict(p.model_dump()) if p is not None else {}

    # ------------------------------------------------------------ types and counts
    def check_input(self, p, ins: list[Shape], preds: list[str]) -> None:
        """Refuse an input of a layout this kind does not take (the message names the producer)."""
        if layout_of(ins[0]) not in self.accepts:      # the notation is written only for the message
            need_layout(self.paper(p), ins[0], self.accepts, preds[0] if preds else None)

    def infer(self, p, ins: list[Shape]) -> Shape:
        return ins[0]

    def count_params(self, p, ins: list[Shape], out: Shape) -> int:
        return 0

    def count_macs(self, p, ins: list[Shape], out: Shape) -> int | None:
        return 0

    def count_buffers(self, p, out: Shape) -> int:
        """Values the module keeps that are not parameters (a batch norm's running statistics, a
        frozen batch norm's affine too), as ``sum(b.numel() for b in module.buffers())`` counts them
        without batch norm's ``num_batches_tracked`` counter."""
        return 0

    def rf(self, p, rf_in: RF | None, ins: list[Shape]) -> RF | None:
        return rf_in

    def activation(self, p) -> str:
        return "none"

    # ------------------------------------------------------------ torch (lazy)
    def module(self, node, ins: list[Shape]):
        """The ``nn.Module`` for one instance, built on the meta device; None for a functional kind."""
        return None

    def lower(self, lo, args: list):
        """Emit this layer into a torch.fx graph through ``lo`` (netc.backends.torch.codegen.Lowering):
        ``lo.call_module(x)``, ``lo.call(fn, *args)``. Returns the fx node of the output."""
        return lo.activate(lo.call_module(args[0]))

    def init(self, m) -> None:
        """Initialise a freshly materialised module (torchvision's VGG init by default)."""
        from netc.backends.torch.modules import init_module
        init_module(m)

    # ------------------------------------------------------------ activations (act=NAME)
    def act_fn(self, p=None):
        """For activation kinds: ``(torch function, kwargs)``."""
        raise NotImplementedError


# ---------------------------------------------------------------- shared rules
def need_layout(kind: str, shape: Shape, layouts: tuple[str, ...], pred: str | None = None) -> None:
    lay = layout_of(shape)
    if lay in layouts:
        return
    want = " or ".join({MAP: "a feature map (C x H x W)", TOKENS: "a token sequence (L x D)",
                        VECTOR: "a vector", IDS: "token ids (L)"}[x] for x in layouts)
    got = {MAP: "a feature map", TOKENS: "a token sequence", VECTOR: "a vector", IDS: "token ids"}[lay]
    src = f"'{pred}' gives" if pred else "gets"
    hint = "put it before the fully-connected layers" if lay == VECTOR and MAP in layouts else None
    if lay == IDS:
        hint = "embed the token ids first: embed(vocab, D)"
    raise ShapeProblem(f"{kind} needs {want}, but {src} {got} of {dims.fmt_shape(shape)}", hint=hint)


def check_positive(dims_: tuple, what, before: Shape) -> None:
    """Every fixed size at least 1; ``what`` names the layer in the message (a string, or a function
    giving it: the notation is then written only when it is needed)."""
    for d in dims_:
        if isinstance(d, int) and d < 1:
            what = what() if callable(what) else what
            raise ShapeProblem(f"{what} makes the spatial size fall below 1 ({dims.fmt_shape(before)} -> "
                               f"{'x'.join(str(x) for x in dims_)})",
                               hint="use a larger input, less pooling, or padding")


def window_rf(rf_in: RF | None, k: int, s: int, d: int = 1) -> RF | None:
    if rf_in is None:
        return None
    size, stride = rf_in
    return _int(size + d * (k - 1) * stride), _int(stride * s)


def scaled_rf(rf_in: RF | None, factor) -> RF | None:
    """Upsampling by ``factor``: the reach is unchanged, the stride shrinks (a fraction)."""
    if rf_in is None:
        return None
    return rf_in[0], _int(Fraction(rf_in[1]) / factor)


def num(x: float) -> str:
    """A parameter as a spec writes it: 0.5, 1e-6 (not Python's 1e-06), 0.00588235."""
    return re.sub(r"e([+-])0+(\d)", r"e\1\2", f"{x:g}").replace("e+", "e")


def _int(x):
    return int(x) if isinstance(x, Fraction) and x.denominator == 1 else x


def pair(v: Any) -> tuple[int, int]:
    if isinstance(v, (list, tuple)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def same_map(ins: list[Shape]) -> Shape:
    return TensorType(ins[0], layout_of(ins[0]))
