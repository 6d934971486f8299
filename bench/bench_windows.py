"""SPP-net detection speed: score 2,000 candidate windows of one image with ZF-5 + SPP, on CPU.

(a) the R-CNN way: crop each window from the image, warp it to 224x224, run the whole network on
    it (in mini-batches). Only a sample of windows is timed; the time per window is multiplied by
    the number of windows (the work per window does not depend on the window).
(b) the SPP-net way: the convolutional feature map of the whole image once (the image scaled so
    that its shorter side is 688, the paper's single scale), then ``classify_windows`` pools every
    window from it and runs the fully-connected layers on all of them in one batch.

Both use the same compiled model and weights; the ratio is (a) / (b), measured in the same run.
A second ratio gives R-CNN the same one-batch fully-connected layers as (b), its best case.
The paper (TPAMI Table 10, GPU, Caffe) reports 102x for one scale and 38x for five, counting
convolutions and fully-connected layers. Run:  .venv/bin/python bench/bench_windows.py
"""
from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F

import netc


def proposals(n: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Random boxes shaped like object proposals: side 20 px .. the whole image (log-uniform),
    aspect 1:2 .. 2:1, anywhere inside the image. (n, 4) inclusive x1, y1, x2, y2."""
    g = torch.Generator().manual_seed(seed)
    area = torch.exp(torch.empty(n).uniform_(math.log(400), math.log(h * w), generator=g))
    aspect = torch.exp(torch.empty(n).uniform_(math.log(0.5), math.log(2.0), generator=g))
    bw = (area * aspect).sqrt().clamp(8, w).floor()
    bh = (area / aspect).sqrt().clamp(8, h).floor()
    x1 = (torch.rand(n, generator=g) * (w - bw + 1)).floor()
    y1 = (torch.rand(n, generator=g) * (h - bh + 1)).floor()
    return torch.stack([x1, y1, x1 + bw - 1, y1 + bh - 1], 1)


def warp(image: torch.Tensor, boxes: torch.Tensor, size: int = 224) -> torch.Tensor:
    """R-CNN's crop-and-warp: each box resized to size x size (bilinear), one at a time."""
    crops = [F.interpolate(image[:, :, int(y1):int(y2) + 1, int(x1):int(x2) + 1], size=(size, size),
                           mode="bilinear", align_corners=False) for x1, y1, x2, y2 in boxes.tolist()]
    return torch.cat(crops)


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn, *args):
    sync()
    t = time.perf_counter()
    out = fn(*args)
    sync()
    return out, time.perf_counter() - t


def matmul_peak(device: str, n: int = 256, reps: int = 200) -> float:
    """Multiply-adds per second of a cache-resident n x n x n matmul: the machine's arithmetic
    peak as torch reaches it (best of 3)."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    torch.mm(a, b)
    best = math.inf
    for _ in range(3):
        _, t = timed(lambda: [torch.mm(a, b) for _ in range(reps)])
        best = min(best, t)
    return n ** 3 * reps / best


def rcnn(model, image, boxes, batch: int) -> tuple[float, float]:
    """Seconds per window for warping + the whole network, and for warping + convolutions only
    (the fastest mini-batch of the sample: other processes on the machine only add time)."""
    model(warp(image, boxes[:2]))                       # warm-up
    total, conv = [], []
    for s in range(0, len(boxes), batch):
        crops, t_warp = timed(warp, image, boxes[s:s + batch])
        _, t_net = timed(model, crops)
        _, t_conv = timed(model.feature_map, crops)
        total.append((t_warp + t_net) / len(crops))
        conv.append((t_warp + t_conv) / len(crops))
    return min(total), min(conv)


def spp(model, image, boxes, scale: int, repeat: int) -> dict:
    """The SPP-net way, best of ``repeat`` runs."""
    from netc.backends.torch.windows import check_boxes, pool_windows, project
    h, w = image.shape[2:]
    f = scale / min(h, w)
    big = F.interpolate(image, scale_factor=f, mode="bilinear", align_corners=False)
    bh, bw = big.shape[2:]
    sboxes = (boxes * f).floor()
    sboxes[:, 2] = sboxes[:, 2].clamp(max=bw - 1)
    sboxes[:, 3] = sboxes[:, 3].clamp(max=bh - 1)
    model.classify_windows(model.feature_map(big[:, :, :64, :64]), torch.tensor([[0., 0, 63, 63]], device=image.device))  # warm-up
    plan = model.netc["windows"]
    best: dict = {}
    for _ in range(repeat):
        fmap, t_conv = timed(model.feature_map, big)
        _, b = check_boxes(sboxes, 1, (bh, bw))
        wins = project(b, plan.stride, fmap.shape[2:], (bh, bw))
        _, t_pool = timed(pool_windows, fmap, torch.zeros(len(wins), dtype=torch.long, device=fmap.device), wins, plan.levels)
        out, t_all = timed(model.classify_windows, fmap, sboxes)
        run = {"conv": t_conv, "pool": t_pool, "windows": t_all, "total": t_conv + t_all}
        best = {k: min(v, best.get(k, v)) for k, v in run.items()}
    best.update(size=(bh, bw), map=tuple(fmap.shape[2:]), distinct=len(torch.unique(wins, dim=0)))
    best["total"] = best["conv"] + best["windows"]
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=2000)
    ap.add_argument("--sample", type=int, default=64, help="R-CNN windows actually timed")
    ap.add_argument("--batch", type=int, default=32, help="R-CNN mini-batch")
    ap.add_argument("--image", default="375x500", help="HxW of the test image (VOC-like)")
    ap.add_argument("--scale", type=int, default=688, help="SPP: shorter side of the scaled image")
    ap.add_argument("--repeat", type=int, default=2, help="SPP runs (the best counts)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="cpu (the issue's setting) or cuda")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    h, w = (int(v) for v in args.image.split("x"))
    torch.manual_seed(0)
    model = netc.compile("sppnet:ZF-5").eval().to(args.device)
    image = torch.rand(1, 3, h, w, device=args.device)
    boxes = proposals(args.windows, h, w).to(args.device)
    where = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
    print(f"ZF-5 + spp[6,3,2,1], {args.windows} windows of a {h}x{w} image, {where}")
    with torch.inference_mode():
        per_window, per_window_conv = rcnn(model, image, boxes[:args.sample], args.batch)
        s = spp(model, image, boxes, args.scale, args.repeat)
    r_total, r_conv = per_window * args.windows, per_window_conv * args.windows
    print(f"(a) R-CNN, warp to 224 + whole network per window: {per_window * 1e3:.1f} ms/window "
          f"(fastest of {args.sample // args.batch} timed batches of {args.batch}) -> {r_total:.1f} s for {args.windows} (extrapolated)")
    print(f"    of which warp + convolutions: {r_conv:.1f} s")
    print(f"(b) SPP-net, image at {s['size'][0]}x{s['size'][1]} (map {s['map'][0]}x{s['map'][1]}): "
          f"features {s['conv']:.2f} s + classify_windows {s['windows']:.2f} s "
          f"(pooling {s['pool']:.2f} s; {s['distinct']} distinct map windows) = {s['total']:.2f} s (best of {args.repeat})")
    print(f"ratio, whole scoring (conv + fc, as the paper's 38x-102x): {r_total / s['total']:.1f}x")
    head = s["windows"] - s["pool"]                 # the fc layers on all windows in one batch
    best = r_conv + head
    print(f"ratio, R-CNN given its fc layers on all {args.windows} warped windows in one batch too "
          f"({r_conv:.1f} + {head:.1f} s): {best / s['total']:.1f}x")
    print(f"ratio, convolutional features only (conv vs. conv once + pooling; paper: 270x one scale): "
          f"{r_conv / (s['conv'] + s['pool']):.1f}x")
    ir = netc.load("sppnet:ZF-5")
    fc = sum(n.macs for n in ir.layers() if n.kind == "fc")
    print(f"MACs per window: convolutions {(ir.macs - fc) / 1e9:.2f} G, fully-connected {fc / 1e6:.0f} M. "
          f"The fc layers run on every window in both methods, so in multiply-adds (b) saves at most "
          f"{ir.macs / fc:.1f}x; the rest of the measured ratio is how fast each runs (fc on all windows in "
          f"one batch against mini-batches of {args.batch}).")
    peak = matmul_peak(args.device)
    rate = fc * s["distinct"] / head
    print(f"fc layers of (b): {fc * s['distinct'] / 1e9:.1f} G multiply-adds in {head:.2f} s = {rate / 1e9:.1f} G/s; "
          f"this machine's matmul peak (256^3, cache-resident): {peak / 1e9:.1f} G/s ({rate / peak:.0%} of it).")
    big = netc.passes.infer(netc.load("sppnet:ZF-5"), s["size"])
    feats = sum(n.macs for n in big.layers() if n.kind != "fc")
    floor = fc * s["distinct"] / peak
    print(f"bound: at that peak the fc layers alone need {floor:.2f} s, and the features of the "
          f"{s['size'][0]}x{s['size'][1]} image ({feats / 1e9:.1f} G multiply-adds) {feats / peak:.2f} s more, so no exact "
          f"float32 window scoring can beat (a) by more than {r_total / (floor + feats / peak):.1f}x on this machine "
          f"({r_total / floor:.1f}x with free features and pooling).")


if __name__ == "__main__":
    main()
