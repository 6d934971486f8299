"""The import corpus of issue #23: models nobody here wrote, read by netc's importers.

Run with the world venv's python (torchvision, timm, onnx, onnxruntime and this checkout's netc):

    PY=$(../shared/tools/world-env) && $PY bench/import_corpus.py [--quick] [--only onnx|timm|caffe|own]

One row per file: whether it imported, the printed spec's lines and folded blocks, whether the
spec checks, parameters (netc's against the source's), outputs against the source (onnxruntime,
the timm module, or the independent Caffe counts in ../shared/reference/caffe-world/SOURCES.md),
and the seconds the import took (the whole `netc import` process, or `netc.from_torch`). The
table is Markdown, for bench/README.md.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parent.parent
CAFFE = ROOT.parent / "shared" / "reference" / "caffe-world"
NETC = str(Path(sys.executable).parent / "netc")
TV = ["resnet18", "resnet50", "alexnet", "vgg16", "googlenet", "inception_v3", "squeezenet1_0", "densenet121",
      "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "regnet_y_400mf", "shufflenet_v2_x1_0",
      "convnext_tiny", "vit_b_16", "swin_t"]
DYNAMO = ["resnet18", "googlenet", "mobilenet_v3_large", "efficientnet_b0", "densenet121", "convnext_tiny",
          "vit_b_16", "swin_t"]
TIMM = ["resnet50d", "resnext50_32x4d", "seresnext26d_32x4d", "efficientnet_b0", "mobilenetv3_large_100",
        "regnetx_002", "densenet121", "inception_v4", "dla34", "convnext_atto", "vit_tiny_patch16_224",
        "deit_tiny_patch16_224", "swin_tiny_patch4_window7_224"]
OWN = ["resnet18", "googlenet", "mobilenet_v3_large", "vit_b_16"]


def rel_diff(a, b) -> float:
    import torch
    a, b = (t[0] if isinstance(t, (tuple, list)) else next(iter(t.values())) if isinstance(t, dict) else t
            for t in (a, b))
    if tuple(a.shape) != tuple(b.shape):
        return float("inf")
    return float((a - b).abs().max()) / max(1.0, float(a.abs().max()))


def spec_facts(path: str) -> tuple[int, int, str, int | None]:
    """Lines, folded blocks (block definitions), check ("ok" or the first error), parameters."""
    import netc
    text = Path(path).read_text()
    lines = len(text.splitlines())
    blocks = len(re.findall(r"^block ", text, re.M))
    try:
        ir = netc.load(path)
        return lines, blocks, "ok", ir.params
    except Exception as e:  # noqa: BLE001 - reported in the table
        return lines, blocks, str(e).splitlines()[0][:60], None


def first_error(msg: str) -> str:
    """The first error's message, with the line it points at but not the file's path."""
    lines = [l for l in msg.splitlines() if "error" in l] or msg.splitlines() or [""]
    m = re.search(r"(?:[^/\s]+:(\d+):\d+: )?error: (.*)", lines[0])
    text = (f"line {m.group(1)}: " if m and m.group(1) else "") + (m.group(2) if m else lines[0].strip())
    return text[:90].replace("|", "/")


def run_import(src: str, out: str, *extra: str) -> tuple[int, str, float]:
    t = time.perf_counter()
    try:
        p = subprocess.run([NETC, "import", src, "-o", out, *extra], capture_output=True, text=True, timeout=300)
        code, msg = p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired:
        code, msg = -1, "error: no answer in 300 s"
    return code, msg, time.perf_counter() - t


def onnx_rows(d: str, quick: bool) -> list[list[str]]:
    import torch
    import onnxruntime as ort
    import torchvision.models as tvm
    import netc
    rows = []
    cases = [(n, False) for n in (TV[:4] if quick else TV)] + [(n, True) for n in (DYNAMO[:2] if quick else DYNAMO)]
    for name, dyn in cases:
        kw = {"aux_logits": False, "init_weights": True} if name in ("googlenet", "inception_v3") else {}
        m = getattr(tvm, name)(**kw).eval()
        s = 299 if name == "inception_v3" else 224
        x = torch.randn(1, 3, s, s)
        label = f"torchvision {name} ({'dynamo, opset 18' if dyn else 'TorchScript, opset 17'})"
        f = os.path.join(d, f"{name}{'-dyn' if dyn else ''}.onnx")
        try:
            with torch.no_grad():
                torch.onnx.export(m, (x,), f, opset_version=18 if dyn else 17, dynamo=dyn)
        except Exception as e:  # noqa: BLE001 - the exporter's failure, not netc's
            rows.append([label, "exporter failed", "", "", "", "", "", type(e).__name__])
            continue
        rows.append(_onnx_row(label, f, x, sum(p.numel() for p in m.parameters())))
    for name in (OWN[:1] if quick else OWN):
        ir = netc.load(name)
        s = 299 if name == "inception_v3" else 224
        # the inference graph (the side outputs' parameters are not in it), and with --train the whole network
        for extra, label, n in (([], "", ir.params_inference), (["--train"], " (--train: side outputs too)", ir.params)):
            if extra and ir.params == ir.params_inference:
                continue
            f = os.path.join(d, f"own-{name}{'-train' if extra else ''}.onnx")
            subprocess.run([NETC, "compile", name, *extra, "-o", f], capture_output=True, timeout=600)
            rows.append(_onnx_row(f"netc's own export of {name}{label}", f, torch.randn(1, 3, s, s), n))
    return rows


def _onnx_row(label: str, f: str, x, n_src: int) -> list[str]:
    import torch
    import onnxruntime as ort
    import netc
    out, w = f[:-5] + ".net", f[:-5] + ".pt"
    code, msg, sec = run_import(f, out, "--weights", w)
    if code:
        return [label, "no", "", "", first_error(msg), "", "", f"{sec:.1f}"]
    lines, blocks, ok, params = spec_facts(out)
    outputs = ""
    try:
        m = netc.compile(out).eval()
        netc.load_weights(m, torch.load(w, weights_only=True))
        sess = ort.InferenceSession(f, providers=["CPUExecutionProvider"])
        ref = torch.from_numpy(sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0])
        with torch.no_grad():
            outputs = f"{rel_diff(ref, m(x)):.1e}"
    except Exception as e:  # noqa: BLE001
        outputs = type(e).__name__
    return [label, "yes", str(lines), str(blocks), ok, _params(params, n_src), outputs, f"{sec:.1f}"]


def _params(got, want) -> str:
    if got is None:
        return f"- / {want:,}"
    return f"{got:,}" + ("" if got == want else f" / {want:,}")


def timm_rows(quick: bool, d: str) -> list[list[str]]:
    import torch
    import timm
    import netc
    rows = []
    for name in (TIMM[:4] if quick else TIMM):
        label = f"timm {name} (from_torch)"
        src = timm.create_model(name, pretrained=False).eval()
        s = 299 if "inception" in name else 224
        x = torch.randn(1, 3, s, s)
        n_src = sum(p.numel() for p in src.parameters())
        t = time.perf_counter()
        try:
            text = netc.from_torch(src, x)
        except Exception as e:  # noqa: BLE001
            rows.append([label, "no", "", "", first_error(str(e)), "", "", f"{time.perf_counter() - t:.1f}"])
            continue
        sec = time.perf_counter() - t
        f = os.path.join(d, f"{name}.net")
        Path(f).write_text(text)
        lines, blocks, ok, params = spec_facts(f)
        outputs = ""
        if params is not None:
            try:
                m = netc.compile(netc.loads(text)).eval()
                netc.load_weights(m, src)
                with torch.no_grad():
                    outputs = f"{rel_diff(src(x), m(x)):.1e}"
            except Exception as e:  # noqa: BLE001
                outputs = type(e).__name__
        rows.append([label, "yes", str(lines), str(blocks), ok, _params(params, n_src), outputs, f"{sec:.1f}"])
    return rows


def caffe_rows(d: str) -> list[list[str]]:
    counts = {m.group(1): int(m.group(2).replace(",", "")) for m in re.finditer(
        r"^\| (\S+\.prototxt) \| [^|]+ \| ([\d,]+) \|", (CAFFE / "SOURCES.md").read_text(), re.M)}
    rows = []
    for f, n in sorted(counts.items()):
        out = os.path.join(d, f.replace(".prototxt", ".net"))
        code, msg, sec = run_import(str(CAFFE / f), out)
        if code:
            rows.append([f"caffe {f}", "refused" if code == 1 else "no", "", "", first_error(msg), f"- / {n:,}",
                         "", f"{sec:.1f}"])
            continue
        lines, blocks, ok, params = spec_facts(out)
        rows.append([f"caffe {f}", "yes", str(lines), str(blocks), ok, _params(params, n), "counts", f"{sec:.1f}"])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the first few models of each list")
    ap.add_argument("--only", choices=["onnx", "timm", "caffe"], help="one corpus")
    a = ap.parse_args()
    import torch
    torch.manual_seed(0)
    d = tempfile.mkdtemp(prefix="netc-corpus-")      # the exports and weights: gigabytes, removed at the end
    rows = []
    try:
        if a.only in (None, "onnx"):
            rows += onnx_rows(d, a.quick)
        if a.only in (None, "timm"):
            rows += timm_rows(a.quick, d)
        if a.only in (None, "caffe"):
            rows += caffe_rows(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    head = ["file", "imported", "lines", "blocks", "check", "params (netc / source)", "outputs (rel. diff)", "s"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(["---"] * len(head)) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |", flush=True)
    print("\n" + tally(rows))


def tally(rows: list[list[str]]) -> str:
    """How many imported and checked; of those, how many give the source's outputs (or, for Caffe, its
    independent counts), and how many also its parameter count (a file exported for inference holds
    batch norms folded into the convolutions and may leave out zero biases: fewer parameters, the same
    outputs)."""
    ok = [r for r in rows if r[1] == "yes" and r[4] == "ok"]
    same = [r for r in ok if (r[6] == "counts" and " / " not in r[5]) or _close(r[6])]
    exact = [r for r in same if " / " not in r[5]]
    refused = sum(1 for r in rows if r[1] == "refused")
    return (f"{len(ok)}/{len(rows)} imported and checked; {len(same)} give the source's outputs (or its counts), "
            f"{len(exact)} of them its parameter count too; {refused} refused with a located error")


def _close(text: str) -> bool:
    try:
        return float(text) <= 1e-4
    except ValueError:
        return False


if __name__ == "__main__":
    main()
