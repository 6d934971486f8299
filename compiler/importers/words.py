"""A layer as the papers write it: ``conv3-64``, ``maxpool3/2(ceil)``, ``FC-4096``, ``LRN``, with
the keyword arguments its defaults do not cover.
"""
from __future__ import annotations

import math

from netc.importers.graph import Layer
from netc.importers.structure import _Ctx, _pair, pool_size


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
    """The layer as the paper writes it, with the keyword arguments it needs."""
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
    elif k == "mhsa":
        extra = (["bias=false"] if p.get("bias") is False else []) + \
            ([f"dropout={fmt_num(p['dropout'])}"] if p.get("dropout") else [])
        w = f"mhsa({', '.join([str(p['heads'])] + extra)})"
    elif k == "window_attention":
        shift, window = p.get("shift", 0), p.get("window", 7)
        extra = [f"window={window}"] * (window != 7) + [f"shift={shift}"] * (shift not in (0, window // 2)) + \
            (["bias=false"] if p.get("bias") is False else []) + \
            ([f"dropout={fmt_num(p['dropout'])}"] if p.get("dropout") else []) + \
            ["cosine=true"] * bool(p.get("cosine")) + ([f"cpb={p['cpb']}"] if p.get("cpb") else [])
        w = f"{'SW-MSA' if shift else 'W-MSA'}({', '.join([str(p['heads'])] + extra)})"
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
    elif k in ("maxpool", "avgpool"):
        kk, ss, pp = _pair(p.get("k")), _pair(p.get("stride")), _pair(p.get("pad"), 0)
        ceil = bool(p.get("ceil")) and (not p.get("ceil_implicit") or _ceil_matters(ctx, l))
        if kk == (2, 2) and ss == (2, 2) and pp == (0, 0) and p.get("count_include_pad", True):
            w = k
        elif kk[0] == kk[1] and ss[0] == ss[1]:
            w = f"{k}{kk[0]}/{ss[0]}"
        else:
            w = k
            kw += [f"k={fmt_num(list(kk))}", f"stride={fmt_num(list(ss))}"]
        if pp != (0, 0):
            kw.append(f"pad={pp[0]}" if pp[0] == pp[1] else f"pad=[{pp[0]}, {pp[1]}]")
        if k == "avgpool" and p.get("count_include_pad") is False:
            kw.append("count_include_pad=false")
        if ceil:
            kw.append("ceil")
    elif k == "lrn":
        w = "LRN"
        size, alpha, beta, kk = p.get("size", 5), p.get("alpha", 1e-4), p.get("beta", 0.75), p.get("k", 1.0)
        region = p.get("region", "across")
        if region == "across" and size == 5 and _close(alpha, 5e-4) and _close(beta, 0.75) and _close(kk, 2.0):
            pass   # Krizhevsky's constants
        else:
            if size != 5:
                kw.append(f"size={size}")
            kw.append(f"alpha={fmt_num(alpha)}")
            if not _close(beta, 0.75):
                kw.append(f"beta={fmt_num(beta)}")
            if not _close(kk, 2.0):
                kw.append(f"k={fmt_num(kk)}")
            kw.append("convention=caffe")
            if region != "across":
                kw.append(f"region={region}")
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
    elif k == "dropout":
        w = f"dropout({fmt_num(p.get('p', 0.5))})"
    elif k == "droppath":
        v = float(p.get("p", 0.0))     # a schedule's rate (0.2 * i / n): written as exactly as computed
        w = f"drop-path({fmt_num(v) if float(fmt_num(v)) == v else repr(v)})"
    elif k == "layerscale":
        w = f"layer-scale({fmt_num(p.get('init', 1e-6))})"
    elif k == "softmax":
        w = "soft-max"
    elif k == "adaptive_avgpool":
        o = _pair(p.get("out"))
        w = f"adaptive-avgpool({o[0] if o[0] == o[1] else fmt_num(list(o))})"
    elif k == "spp":
        w = "spp[" + ",".join(str(x) for x in p["levels"]) + "]"
        if p.get("mode", "max") != "max":
            kw.append(f"mode={p['mode']}")
    elif k == "upsample" and p.get("like") not in (None, "input"):     # the layer's name as the spec writes it
        from netc.importers.printer import ref_name
        w = _spelled(k, {**p, "like": ref_name(ctx, p["like"], 0)})
    else:
        w = _spelled(k, p)
    if l.name in ctx.acts:
        kw.append(f"act={l.act or 'none'}")
    if kw:
        w += ("(" + ", ".join(kw) + ")") if "(" not in w else ""
    return w


def _spelled(kind: str, params: dict) -> str:
    """A kind the cases above do not cover, as the kind itself writes it (``to-tokens(flat)``)."""
    from netc.kinds import DEFAULT
    k = DEFAULT.get(kind)
    if k is None:
        return kind
    try:
        p = k.Params(**params)
        if k.activation_fn and p == k.Params() and k.words:
            return k.words[0]            # relu, as specs write it (the kind's paper word is Krizhevsky's ReLU)
        return k.spell(p)
    except Exception:   # noqa: BLE001 - parameters the kind refuses: its name, for the check to reject
        return kind


def _close(a, b) -> bool:
    return a is not None and math.isclose(float(a), float(b), rel_tol=1e-5)


def _ceil_matters(ctx: _Ctx, l: Layer) -> bool:
    x = ctx.shapes.get(l.inputs[0]) if l.inputs else None
    if x is None or len(x) != 3:
        return True
    p = l.params
    (kh, kw), (sh, sw), (ph, pw) = _pair(p.get("k")), _pair(p.get("stride")), _pair(p.get("pad"), 0)
    return (pool_size(x[1], kh, sh, ph, True), pool_size(x[2], kw, sw, pw, True)) != \
           (pool_size(x[1], kh, sh, ph, False), pool_size(x[2], kw, sw, pw, False))
