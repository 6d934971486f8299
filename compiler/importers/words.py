"""A layer as the papers write it: ``conv3-64``, ``maxpool3/2(ceil)``, ``FC-4096``, ``LRN``, with
the keyword arguments its defaults do not cover.
"""
from __future__ import annotations

import math
import struct

from netc.importers.graph import Layer
from netc.kinds.spell import with_args
from netc.importers.structure import _Ctx, _pair


def fmt_num(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v == int(v) and abs(v) < 1e9:
            return str(int(v)) if abs(v) >= 1 or v == 0 else repr(v)
        s = "%.6g" % v
        return s
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(fmt_num(x) for x in v) + "]"
    return str(v)


def _dim(v) -> str:
    h, w = _pair(v)
    return str(h) if h == w else f"{h}x{w}"


def word(ctx: _Ctx, l: Layer, width: str | None = None) -> str:
    p, kw = l.params, []
    out = width if width is not None else (
        "num_classes" if ctx.classes is not None and l.name == ctx.classifier else fmt_num(p.get("out")))
    k = l.kind
    if k == "conv":
        kh, kw_ = _pair(p.get("k"))
        sh, sw = _pair(p.get("stride"))
        dh, dw = _pair(p.get("dilation"))
        ph, pw = _pair(p.get("pad"), 0)
        w = f"conv{_dim(p.get('k'))}-{out}" + (f"/{sh}" if sh == sw and sh != 1 else "")
        if sh != sw:
            kw.append(f"stride=[{sh}, {sw}]")
        if (kh % 2 == 0 or kw_ % 2 == 0) or (ph, pw) != (dh * (kh - 1) // 2, dw * (kw_ - 1) // 2):
            kw.append(f"pad={ph}" if ph == pw else f"pad=[{ph}, {pw}]")
        if (dh, dw) != (1, 1):
            kw.append(f"dilation={dh}" if dh == dw else f"dilation=[{dh}, {dw}]")
        if p.get("groups", 1) != 1:
            kw.append(f"groups={p['groups']}")
        if p.get("bias") is False:
            kw.append("bias=false")
    elif k == "upconv":
        (kh, kw_), (sh, sw) = _pair(p.get("k")), _pair(p.get("stride"))
        w = f"upconv{_dim(p.get('k'))}-{out}" + (f"/{sh}" if sh == sw and (sh, sw) != (kh, kw_) else "")
        if sh != sw:
            kw.append(f"stride=[{sh}, {sw}]")
        for key in ("pad", "output_pad"):
            if _pair(p.get(key), 0) != (0, 0):
                kw.append(f"{key}={fmt_num(p[key])}")
        if p.get("groups", 1) != 1:
            kw.append(f"groups={p['groups']}")
        if p.get("bias") is False:
            kw.append("bias=false")
    elif k == "patch":
        w = f"patch{p['k']}-{out}" + ("(grid)" if p.get("grid") else "")
        if p.get("bias") is False:
            kw.append("bias=false")
    elif k == "patch_merge":
        extra = [f"eps={fmt_num(p['eps'])}"] if not _close(p.get("eps", 1e-5), 1e-5) else []
        args = ([str(p["out"])] if p.get("out") is not None else []) + extra + ["norm=post"] * (p.get("norm") == "post")
        w = "patch-merge" + (f"({', '.join(args)})" if args else "")
    elif k == "token_pool":
        w = "token-pool"
    elif k in ("cls_token", "pos_embed"):
        w = {"cls_token": "cls-token", "pos_embed": "pos-embed"}[k]
    elif k == "select":
        w = f"select({p.get('index', 0)})"
    elif k == "concat" and p.get("crop"):
        w = "concat(crop)"
    elif k == "fc":
        w = f"FC-{out}"
        if p.get("bias") is False:
            kw.append("bias=false")
    elif k == "bn":
        w = "bn"
        if not _close(p.get("eps", 1e-5), 1e-5):
            kw.append(f"eps={fmt_num(p['eps'])}")
        if not _close(p.get("momentum", 0.1), 0.1):
            kw.append(f"momentum={fmt_num(p['momentum'])}")
        if p.get("affine") is False:
            kw.append("affine=false")
    elif k == "frozen-bn":
        w = "frozen-bn"
        if not _close(p.get("eps", 1e-5), 1e-5):
            kw.append(f"eps={fmt_num(p['eps'])}")
    elif k == "ln":
        w = "ln"
        if not _close(p.get("eps", 1e-5), 1e-5):
            kw.append(f"eps={fmt_num(p['eps'])}")
        if p.get("affine") is False:
            kw.append("affine=false")
    elif k == "droppath":
        v = float(p.get("p", 0.0))     # a schedule's rate (0.2 * i / n): written as exactly as computed
        w = f"drop-path({fmt_num(v) if float(fmt_num(v)) == v else repr(v)})"
    elif k == "layerscale":
        w = f"layer-scale({fmt_num(p.get('init', 1e-6))})"
    else:
        w = _spelled(ctx, l, width)
    if l.name in ctx.acts:
        kw.append(f"act={l.act or 'none'}")
    return with_args(w, kw)


def _spelled(ctx: _Ctx, l: Layer, width: str | None) -> str:
    """A layer as its kind writes it (:meth:`Kind.spell`: the paper word plus what it does not say),
    from the parameters the importer read (:meth:`Kind.foreign_params`)."""
    from netc.importers.printer import ref_name
    from netc.kinds import DEFAULT
    k = DEFAULT.get(l.kind)
    if k is None:
        return l.kind
    params = {f: _float32(v) for f, v in l.params.items()}
    for f in k.layer_refs:          # a layer's name as the spec writes it
        if params.get(f) not in (None, "input"):
            params[f] = ref_name(ctx, params[f], 0)
    names = {"out": width} if width is not None else {}
    if "out" in k.Params.model_fields and not names and ctx.classes is not None and l.name == ctx.classifier:
        names["out"] = "num_classes"
    try:
        p = k.foreign_params(params)
        if k.activation_fn and p == k.Params() and k.words:
            return k.words[0]            # relu, as specs write it (the kind's paper word is Krizhevsky's ReLU)
        return k.spell(p, names=names)
    except Exception:   # noqa: BLE001 - parameters the kind refuses: its name, for the check to reject
        return l.kind


def _float32(v):
    """A value stored as a 32-bit float (ONNX, Caffe) as the shortest decimal that gives it back:
    1e-05, not 9.999999747378752e-06."""
    if not isinstance(v, float) or v != v or v in (float("inf"), float("-inf")):
        return v
    f32 = struct.unpack("f", struct.pack("f", v))[0]
    if f32 != v:
        return v
    for digits in range(1, 10):
        short = float(f"{v:.{digits}g}")
        if struct.unpack("f", struct.pack("f", short))[0] == v:
            return short
    return v


def _close(a, b) -> bool:
    return a is not None and math.isclose(float(a), float(b), rel_tol=1e-5)
