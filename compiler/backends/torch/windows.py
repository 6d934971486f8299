"""SPP-net detection: convolutional features once per image, then pyramid pooling of any number
of candidate windows from them (He et al., section 4; the appendix gives the box mapping).

``model.feature_map(images)`` runs the layers before the SPP layer on whole images;
``model.classify_windows(fmap, boxes)`` maps each box (x1, y1, x2, y2: inclusive pixel
coordinates of the image, as R-CNN's proposals are written) onto the feature map, pools it with
the network's own pyramid, and runs the layers after the SPP layer on all windows as one batch.

>>> import torch, netc
>>> model = netc.compile(netc.loads("input HxW RGB\\nconv3-8/2\\nmaxpool\\nspp[2,1]\\nFC-5\\n")).eval()
>>> fmap = model.feature_map(torch.randn(1, 3, 48, 64))           # (1, 8, 12, 16)
>>> model.classify_windows(fmap, torch.tensor([[0., 0., 63., 47.], [8., 8., 40., 30.]])).shape
torch.Size([2, 5])

Mapping (appendix, with the paper's 1-based coordinates turned into 0-based ones): for a total
stride ``S``, the left/top edge ``x1`` goes to map column ``floor((x1 + 1) / S)`` and the
right/bottom edge ``x2`` to ``ceil((x2 + 1) / S) - 2`` (inclusive). An edge on the image's border
goes to the map's border, so a whole-image box covers the whole map and pools exactly what
``forward`` pools, whether the convolutions keep the borders or lose them. The projection of a box
inside the image can still reach past the last map column, because the formula ignores the borders
the convolutions lose; that part is cut at the map's edge, and a window is at least 1 x 1. Boxes
that leave the image, are empty, or are not finite are errors (:class:`WindowError`).

Pooling is vectorised: one 2-D sparse table of range maxima over the map answers the maximum of
any rectangle with four lookups, so all (window, bin) pairs are gathered at once.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch
from torch import fx

from netc.backends.torch.guards import InputError


class WindowError(InputError):
    """A candidate window that cannot be pooled: outside the image, empty, malformed."""


@dataclass(frozen=True)
class WindowPlan:
    """What window pooling needs from the IR: the SPP layer, its pyramid, the total stride and
    the symbolic map size ``floor((H + b) / S)`` of the map it pools."""
    spp: str                      # the SPP layer's submodule path (its IR name, dots for slashes)
    levels: tuple[int, ...]
    mode: str                     # "max" | "avg"
    stride: tuple[int, int]       # (S_h, S_w)
    offset: tuple[int, int]       # (b_h, b_w): map size = floor((H + b) / S)
    channels: int = 0             # channels of the map it pools (0: unknown)


# ---------------------------------------------------------------------- boxes
def check_boxes(boxes, n_images: int, image_size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate boxes; returns (image index per box (N,), boxes (N, 4) float64).

    ``boxes`` is (N, 4) ``x1, y1, x2, y2`` for a single image, or (N, 5) ``i, x1, y1, x2, y2``
    (the image's index in the batch first) for several."""
    b = torch.as_tensor(boxes).detach().to("cpu", torch.float64)
    if b.dim() == 1 and b.numel() in (4, 5):
        b = b[None]
    if b.dim() != 2 or b.shape[1] not in (4, 5):
        raise WindowError(f"boxes must be an (N, 4) tensor of x1, y1, x2, y2 (or (N, 5) with the image index "
                          f"first), not shape {tuple(b.shape)}")
    if b.shape[1] == 4:
        if n_images != 1:
            raise WindowError(f"the feature map holds {n_images} images: give boxes as (N, 5) rows of "
                              "image index, x1, y1, x2, y2")
        idx, b = torch.zeros(len(b), dtype=torch.long), b
    else:
        rows, idx, b = b, b[:, 0], b[:, 1:]
        _fail(idx != idx.round(), rows, "has an image index that is not a whole number")
        _fail((idx < 0) | (idx >= n_images), rows, f"has an image index outside 0..{n_images - 1}")
        idx = idx.long()
    _fail(~torch.isfinite(b).all(1), b, "is not finite")
    _fail((b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1]), b, "is empty (x2 < x1 or y2 < y1)")
    h, w = image_size
    out = (b[:, 0] < 0) | (b[:, 1] < 0) | (b[:, 2] > w - 1) | (b[:, 3] > h - 1)
    _fail(out, b, f"leaves the {h}x{w} image (boxes are inclusive pixel coordinates: "
                  f"0 <= x1 <= x2 <= {w - 1}, 0 <= y1 <= y2 <= {h - 1})")
    return idx, b


def _fail(bad: torch.Tensor, rows: torch.Tensor, what: str) -> None:
    if bool(bad.any()):
        where = torch.nonzero(bad).flatten().tolist()
        first = where[0]
        coords = ", ".join(f"{v:g}" for v in rows[first].tolist())
        more = f" (and {len(where) - 1} more)" if len(where) > 1 else ""
        raise WindowError(f"box {first} ({coords}) {what}{more}")


def project(boxes: torch.Tensor, stride: tuple[int, int], map_size: tuple[int, int],
            image_size: tuple[int, int] | None = None) -> torch.Tensor:
    """Checked pixel boxes (N, 4) -> map windows (N, 4) ``y0, y1, x0, x1`` (end exclusive, long).

    With ``image_size``, an edge of a box on the image's border goes to the map's border: the
    appendix's formula would leave out the last row and column of a network whose convolutions
    keep the borders ("same" padding), and a whole-image box must pool what ``forward`` pools."""
    (sh, sw), (mh, mw) = stride, map_size
    ih, iw = image_size if image_size is not None else (None, None)

    def side(lo, hi, s, m, size):
        start = torch.floor((lo + 1) / s).long().clamp(0, m - 1)
        end = (torch.ceil((hi + 1) / s).long() - 1).clamp(max=m)
        if size is not None:
            start = torch.where(lo <= 0, torch.zeros_like(start), start)
            end = torch.where(hi >= size - 1, torch.full_like(end, m), end)
        return start, torch.maximum(end, start + 1)

    y0, y1 = side(boxes[:, 1], boxes[:, 3], sh, mh, ih)
    x0, x1 = side(boxes[:, 0], boxes[:, 2], sw, mw, iw)
    return torch.stack([y0, y1, x0, x1], 1)


def image_bound(plan: WindowPlan, map_size: tuple[int, int]) -> tuple[int, int]:
    """The largest image size that gives a map of ``map_size`` (used when the image size is not
    known): ``floor((H + b) / S) = m  <=>  H <= (m + 1) * S - b - 1``."""
    return tuple((m + 1) * s - b - 1 for m, s, b in zip(map_size, plan.stride, plan.offset))


# ---------------------------------------------------------------------- pooling
def bin_edges(start: torch.Tensor, end: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Bins of windows [start, end) on one axis, (N, n) each: bin i covers
    [start + floor(i*a/n), start + ceil((i+1)*a/n)) for a = end - start (adaptive pooling)."""
    a = (end - start)[:, None]
    i = torch.arange(n, device=start.device)[None]
    return start[:, None] + (i * a) // n, start[:, None] + -((-(i + 1) * a) // n)


def _log2_table(n: int, device) -> torch.Tensor:
    return torch.tensor([0] + [int(k).bit_length() - 1 for k in range(1, n + 1)], device=device)


def _table_inplace(x: torch.Tensor, lh: int, lw: int) -> torch.Tensor:
    """The (lh, lw, B, H, W, C) table, written in place (no autograd); entries whose block
    would leave the map are never read and stay uninitialised."""
    B, H, W, C = x.shape
    table = x.new_empty((lh, lw, B, H, W, C))
    table[0, 0] = x
    for kx in range(1, lw):
        d = 1 << (kx - 1)
        prev = table[0, kx - 1]
        torch.maximum(prev[:, :, : W - d], prev[:, :, d:], out=table[0, kx, :, :, : W - d])
    for ky in range(1, lh):
        d = 1 << (ky - 1)
        prev = table[ky - 1]
        torch.maximum(prev[:, :, : H - d], prev[:, :, d:], out=table[ky, :, :, : H - d])
    return table


def _table_autograd(x: torch.Tensor, lh: int, lw: int) -> torch.Tensor:
    """The same table built from new tensors only, so gradients flow back to the map (fine-tuning
    through window pooling); the unread tail of each level repeats the previous level's."""
    H, W = x.shape[1:3]
    row = [x]
    for kx in range(1, lw):
        d, prev = 1 << (kx - 1), row[-1]
        row.append(torch.cat([torch.maximum(prev[:, :, : W - d], prev[:, :, d:]), prev[:, :, W - d:]], 2))
    levels = [torch.stack(row)]                          # lw, B, H, W, C
    for ky in range(1, lh):
        d, prev = 1 << (ky - 1), levels[-1]
        levels.append(torch.cat([torch.maximum(prev[:, :, : H - d], prev[:, :, d:]), prev[:, :, H - d:]], 2))
    return torch.stack(levels)


class RangeMax:
    """2-D sparse table over a (B, C, H, W) map: ``T[ky, kx][b, y, x]`` is the maximum of the
    2^ky x 2^kx block at (y, x), stored channels-last so that a query gathers whole channel rows.
    The maximum of any rectangle is the maximum of four (overlapping) blocks."""

    def __init__(self, fmap: torch.Tensor):
        B, C, H, W = fmap.shape
        self.shape, self.lh, self.lw = (B, H, W), H.bit_length(), W.bit_length()
        x = fmap.permute(0, 2, 3, 1)                    # B, H, W, C
        build = _table_autograd if fmap.requires_grad and torch.is_grad_enabled() else _table_inplace
        self.table = build(x, self.lh, self.lw).reshape(-1, C)
        self.log2 = _log2_table(max(H, W), fmap.device)

    def query(self, img, y0, y1, x0, x1) -> torch.Tensor:
        """Max over [y0, y1) x [x0, x1) of image ``img``; index tensors of one shape S -> (*S, C)."""
        B, H, W = self.shape
        ky, kx = self.log2[y1 - y0], self.log2[x1 - x0]
        yb, xb = y1 - (1 << ky), x1 - (1 << kx)
        base = ((ky * self.lw + kx) * B + img) * H
        idx = torch.stack([(base + y0) * W + x0, (base + y0) * W + xb, (base + yb) * W + x0, (base + yb) * W + xb])
        rows = self.table.index_select(0, idx.flatten())
        return rows.view(4, *y0.shape, -1).amax(0)


class RangeMean:
    """Summed-area table (float64) for the average of any rectangle, same interface."""

    def __init__(self, fmap: torch.Tensor):
        B, C, H, W = fmap.shape
        self.shape, self.dtype = (B, H, W), fmap.dtype
        s = fmap.permute(0, 2, 3, 1).double().cumsum(1).cumsum(2)
        self.sat = torch.nn.functional.pad(s, (0, 0, 1, 0, 1, 0)).reshape(-1, C)   # B, H+1, W+1, C

    def query(self, img, y0, y1, x0, x1) -> torch.Tensor:
        B, H, W = self.shape
        at = lambda y, x: (img * (H + 1) + y) * (W + 1) + x  # noqa: E731
        idx = torch.stack([at(y1, x1), at(y0, x1), at(y1, x0), at(y0, x0)])
        v = self.sat.index_select(0, idx.flatten()).view(4, *y0.shape, -1)
        area = ((y1 - y0) * (x1 - x0))[..., None]
        return ((v[0] - v[1] - v[2] + v[3]) / area).to(self.dtype)


CHUNK = 512   # windows per gather: keeps the temporaries small


def pool_windows(fmap: torch.Tensor, img: torch.Tensor, windows: torch.Tensor, levels, mode: str = "max"):
    """Spatial pyramid pooling of N map windows at once: (B, C, H, W), (N,), (N, 4) ->
    (N, C * sum(n^2)), laid out exactly as :class:`~netc.backends.torch.spp.SPP` lays out a map."""
    dev = fmap.device
    img, windows = img.to(dev), windows.to(dev)
    table = RangeMax(fmap) if mode == "max" else RangeMean(fmap)
    C = fmap.shape[1]
    out = fmap.new_empty((len(windows), C * sum(n * n for n in levels)))
    for s in range(0, len(windows), CHUNK):
        w, i = windows[s:s + CHUNK], img[s:s + CHUNK]
        col = 0
        for n in levels:
            ya, yb = bin_edges(w[:, 0], w[:, 1], n)            # N, n
            xa, xb = bin_edges(w[:, 2], w[:, 3], n)
            shape = (len(w), n, n)
            grid = (i[:, None, None], ya[:, :, None], yb[:, :, None], xa[:, None, :], xb[:, None, :])
            vals = table.query(*(t.expand(shape) for t in grid))      # N, n, n, C
            out[s:s + CHUNK, col:col + C * n * n] = vals.permute(0, 3, 1, 2).reshape(len(w), -1)
            col += C * n * n
    return out


# ---------------------------------------------------------------------- the model's halves
def window_plan(ir) -> WindowPlan | None:
    """The plan for a network with an SPP layer on its main path; None without one."""
    from netc.types.dims import Sym
    from netc.backends.torch.codegen import target
    from netc.kinds.pool import SPP
    spps = [n for n in ir.layers(aux=False) if isinstance(n.layer_kind, SPP)]
    if not spps:
        return None
    n = spps[0]
    src = ir.node(ir.preds(n.name)[0])
    _, h, w = src.sym_shape if src.sym_shape is not None else (None, None, None)
    if not (isinstance(h, Sym) and isinstance(w, Sym)):
        return None
    c = src.sym_shape[0]
    return WindowPlan(target(n.name), tuple(n.params.levels), n.params.mode, (h.c, w.c), (h.b, w.b),
                      c if isinstance(c, int) else 0)


_HALVES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()   # model -> {id(graph): halves}


def _plan(model) -> WindowPlan:
    plan = getattr(model, "netc", {}).get("windows")
    if plan is None:
        name = getattr(model, "netc", {}).get("config") or "this network"
        raise WindowError(f"classify_windows needs a spatial pyramid pooling layer, and {name} has none",
                          hint="pool windows from a spec with spp[...] before its fully-connected layers")
    return plan


def _halves(model) -> tuple[fx.GraphModule, fx.GraphModule | None]:
    """(features, head): the forward graph cut at the SPP layer (or, without one, before the first
    fully-connected layer, and no head). Cached per graph; they share the model's submodules."""
    per_model = _HALVES.setdefault(model, {})
    g = model.graph
    if id(g) not in per_model:
        per_model.clear()
        per_model[id(g)] = _split(model, g)
    return per_model[id(g)]


def _cut(model, g: fx.Graph) -> tuple[fx.Node, fx.Node | None]:
    """The node holding the feature map, and the SPP node that reads it (None without SPP)."""
    plan = getattr(model, "netc", {}).get("windows")
    mods = dict(model.named_modules())
    for n in g.nodes:
        if n.op != "call_module":
            continue
        if plan is not None and n.target == plan.spp:
            return n.args[0], n
        if plan is None and isinstance(mods.get(n.target), torch.nn.Linear):
            src = n.args[0]
            if src.op == "call_function" and src.target is torch.flatten:
                return src.args[0], None
    raise WindowError("this network has no feature map before a spatial pyramid pooling or "
                      "fully-connected layer to return")


def _split(model, g: fx.Graph):
    fmap, spp = _cut(model, g)
    fg, env = fx.Graph(), {}
    for n in g.nodes:
        env[n] = fg.node_copy(n, lambda a: env[a])
        if n is fmap:
            break
    fg.output(env[fmap])
    features = fx.GraphModule(model, fg, class_name="NetcFeatures")
    features.graph.eliminate_dead_code()   # side branches that do not feed the map
    features.recompile()
    if spp is None:
        return features, None
    hg = fx.Graph()
    henv = {spp: hg.placeholder("pooled")}
    nodes = list(g.nodes)
    try:
        for n in nodes[nodes.index(spp) + 1:]:
            if n.op == "output":
                hg.output(fx.map_arg(n.args[0], lambda a: henv[a]))
            elif any(a in henv for a in n.all_input_nodes):
                henv[n] = hg.node_copy(n, lambda a: henv[a])
    except KeyError:
        raise WindowError("window pooling needs every layer after the SPP layer to read only from it "
                          "(side outputs or skips across it are not supported)") from None
    return features, fx.GraphModule(model, hg, class_name="NetcHead")


def feature_map(model, images: torch.Tensor) -> torch.Tensor:
    """The convolutional feature map of whole images: the input of the SPP layer (or, without one,
    of the first fully-connected layer). The image size is remembered on the result
    (``fmap.netc_image_size``) so that :func:`classify_windows` can check boxes against it."""
    features, _ = _halves(model)
    fmap = features(images)
    try:
        fmap.netc_image_size = (int(images.shape[-2]), int(images.shape[-1]))
    except (AttributeError, RuntimeError):   # pragma: no cover - a tensor that takes no attributes
        pass
    return fmap


def classify_windows(model, fmap: torch.Tensor, boxes, image_size: tuple[int, int] | None = None) -> torch.Tensor:
    """The network's outputs for each window: (N, num_classes) for (N, 4) boxes x1, y1, x2, y2
    (inclusive pixels of the image ``fmap`` came from; (N, 5) with the image index first for a
    batch). Windows that map onto the same part of the map are pooled and classified once."""
    plan = _plan(model)
    _, head = _halves(model)
    if not isinstance(fmap, torch.Tensor) or fmap.dim() != 4:
        raise WindowError("classify_windows takes the (B, C, h, w) tensor that model.feature_map(images) returns")
    mh, mw = fmap.shape[-2:]
    if plan.channels and fmap.shape[1] != plan.channels:
        raise WindowError(f"classify_windows takes a feature map of {plan.channels} channels, the output of "
                          f"model.feature_map(images), not a tensor of shape {tuple(fmap.shape)}",
                          hint="fmap = model.feature_map(images); model.classify_windows(fmap, boxes)")
    size = image_size or getattr(fmap, "netc_image_size", None)
    if size is None:
        raise WindowError("this feature map does not say which image size it was computed at (slicing, "
                          ".detach() or .to() make a new tensor without it), so the boxes cannot be checked",
                          hint=f"pass image_size=(H, W); a {mh}x{mw} map comes from images of at most "
                               "{}x{}".format(*image_bound(plan, (mh, mw))))
    size = (int(size[0]), int(size[1]))
    want = tuple((s + b) // st for s, b, st in zip(size, plan.offset, plan.stride))
    if want != (mh, mw):
        raise WindowError(f"a {size[0]}x{size[1]} image gives a {want[0]}x{want[1]} feature map, but this "
                          f"one is {mh}x{mw}", hint="pass the image_size the feature map was computed at")
    img, b = check_boxes(boxes, fmap.shape[0], size)
    wins = torch.cat([img[:, None], project(b, plan.stride, (mh, mw), size)], 1)
    uniq, inverse = torch.unique(wins, dim=0, return_inverse=True)
    pooled = pool_windows(fmap, uniq[:, 0], uniq[:, 1:], plan.levels, plan.mode)
    return head(pooled)[inverse.to(fmap.device)]


__all__ = ["WindowPlan", "WindowError", "check_boxes", "project", "image_bound", "bin_edges", "RangeMax",
           "RangeMean", "pool_windows", "window_plan", "feature_map", "classify_windows"]
