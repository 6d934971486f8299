"""netc compile SPEC[:CONFIG] [-o model.onnx|model.pt2|model.pt] [--print]: compile to PyTorch.

    netc compile vgg:D --print                  # the generated forward
    netc compile vgg:D -o vgg16.onnx            # ONNX (runs in onnxruntime), input (N, 3, 224, 224)
    netc compile sppnet:ZF-5 -o zf5.onnx        # any size: H and W stay dynamic (>= 31x31)
    netc compile vgg:D --dense --print          # FC layers as convolutions: any input >= 224x224
    netc compile googlenet -o googlenet.pt2     # torch.export program
    netc compile vgg:D --set num_classes=20 --weights tv_vgg16.pth -o vgg16_voc.pt
"""
from __future__ import annotations

import sys
from pathlib import Path

import netc
from netc.dsl.errors import UsageError

from netc.tools.commands import add_overrides, overrides as spec_overrides
from netc.tools.commands.summary import parse_input


def add_parser(sub) -> None:
    p = sub.add_parser("compile", help="compile to a PyTorch module; export to ONNX or torch.export",
                       description="Compile one configuration to a PyTorch module (torch.fx) and export it.")
    p.add_argument("spec", metavar="SPEC[:CONFIG]", help="e.g. vgg:D, googlenet, path/to/net.net:B")
    p.add_argument("-o", "--output", metavar="FILE", help="write FILE: .onnx, .pt2 (torch.export) or .pt (state_dict)")
    p.add_argument("--print", dest="show", action="store_true", help="print the generated forward code")
    p.add_argument("--train", action="store_true",
                   help="the training forward: with --print its code, with -o FILE.onnx the side outputs "
                        "(aux heads) as further graph outputs")
    add_overrides(p)
    p.add_argument("--weights", metavar="FILE", help="load a state_dict (matched by structure) before exporting")
    p.add_argument("--input", metavar="HxW",
                   help="example input size for the export of a network that takes any size "
                        "(its H and W stay dynamic in the file)")
    p.add_argument("--dense", action="store_true",
                   help="dense evaluation (VGG 3.2): FC layers as convolutions, class scores averaged; any size")
    p.add_argument("--dtype", choices=("float32", "float64", "bfloat16", "float16"), default=None)
    p.add_argument("--budget", type=int, default=None, metavar="N",
                   help="refuse specs with more than N parameters (default 2,000,000,000; 0: no limit)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset version")
    p.set_defaults(run=run)


FORMATS = (".onnx", ".pt2", ".pt", ".pth")   # netc.backends.torch.export.FORMATS, without importing torch


def run(args) -> int:
    if not args.output and not args.show:
        raise UsageError("nothing to do: give -o FILE and/or --print")
    if args.output and Path(args.output).suffix.lower() not in FORMATS:
        raise UsageError(f"cannot tell the export format of '{args.output}'",
                         hint="use a name ending in .onnx, .pt2 (torch.export) or .pt (state_dict)")
    if args.output:
        from netc.atomic import check_target
        check_target(args.output)       # a folder, or a folder that does not exist: before any work
    if args.weights and not Path(args.weights).is_file():
        raise UsageError(f"no such weight file: {args.weights}")
    hw = parse_input(args.input) if args.input else None
    from netc.tools.progress import progress
    with progress(f"compiling {args.spec}") as bar:
        bar.stage("checking the spec")
        ir = _load(args)                    # spec errors are reported before torch is imported
        bar.stage("importing torch")
        from netc.backends.torch.export import example_input, export
        need = _memory_needed(ir, args)
        with _out_of_memory(ir, args, need):
            bar.stage(f"building modules ({ir.params:,} parameters)")
            model = netc.compile(ir, dtype=args.dtype, dense=args.dense, budget=_budget(args))
            if args.weights:
                bar.stage(f"loading weights from {args.weights}")
                from netc.backends.torch.weights import check_file_size
                check_file_size(args.weights, model)     # a zip bomb is refused before it is inflated
                netc.load_weights(model, _read_weights(args.weights))
            model.train(args.train)
            if args.show:
                bar.clear()
                print(model.code.strip("\n"), flush=True)
            if args.output:
                bar.stage(f"exporting to {_format_name(args.output)}")
                onnx = Path(args.output).suffix.lower() == ".onnx"
                done = export(model, args.output, example_input(model, hw) if hw is not None else None,
                              side_outputs=args.train and onnx)
                what = ", ".join(filter(None, [done.format, _held(ir, onnx and not args.train), done.describe()]))
                bar.close()
                print(f"wrote {args.output} ({what})", file=sys.stderr)
    return 0


def _held(ir, inference: bool) -> str:
    """The parameters the written file holds: an ONNX file of the inference graph has no side outputs."""
    left = ir.params - ir.params_inference if inference else 0
    n = ir.params - left
    return f"{n:,} parameters" + (f", the inference graph (--train adds the side outputs' {left:,})" if left else "")


def _format_name(path: str) -> str:
    suffix = Path(path).suffix.lower()
    return {".onnx": "ONNX", ".pt2": "torch.export"}.get(suffix, "a state_dict")


_DTYPE_BYTES = {None: 4, "float32": 4, "float64": 8, "bfloat16": 2, "float16": 2}


def _memory_needed(ir, args) -> int:
    """The bytes the weights take (parameters at the chosen type), refused at once where this
    process can surely not have them: beyond its address-space limit (ulimit -v) or beyond the
    machine's memory and swap. Nothing is allocated first."""
    need = ir.params * _DTYPE_BYTES.get(args.dtype, 4)
    if args.output:
        need *= 2                     # the file is serialised in memory before it is written
    have = _memory_available()
    if have is not None and need > have[0]:
        raise _memory_error(ir, args, need, f"more than {have[1]} ({_gb(have[0])})")
    return need


def _memory_available():
    """(bytes, what they are) this process could have at most, or None where nothing says."""
    import resource
    out = []
    try:
        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY and soft > 0:
            out.append((soft, "this process's address-space limit"))
    except (ValueError, OSError, AttributeError):
        pass
    try:
        with open("/proc/meminfo") as f:
            info = {k: int(v.split()[0]) * 1024 for k, v in (line.split(":", 1) for line in f if ":" in line)}
        out.append((info["MemTotal"] + info.get("SwapTotal", 0), "this machine's memory and swap"))
    except (OSError, KeyError, ValueError):
        pass
    return min(out) if out else None


def _gb(n: int) -> str:
    from netc.elaborate.bounds import _bytes
    return _bytes(n)


def _memory_error(ir, args, need: int, why: str):
    from netc.dsl.errors import LimitError
    dtype = args.dtype or "float32"
    copy = ", held twice: in the model and in the file written from it" if args.output else ""
    return LimitError(f"compiling {args.spec} needs about {_gb(need)} of memory for its "
                      f"{ir.params:,} parameters ({dtype}{copy}), {why}",
                      hint="compile it on a machine with more memory, or with --dtype bfloat16 (half the memory); "
                           "netc summary and netc check need none of it")


class _out_of_memory:
    """Memory that runs out while the model is built, loaded or written (a MemoryError, or
    torch's allocator refusing) is reported with the memory the weights need, as an error of the
    spec's size, not of netc."""

    def __init__(self, ir, args, need: int):
        self.ir, self.args, self.need = ir, args, need

    def __enter__(self):
        return self

    def __exit__(self, typ, e, tb):
        if typ is None:
            return False
        if typ is MemoryError or (issubclass(typ, RuntimeError) and _is_oom(str(e))):
            raise _memory_error(self.ir, self.args, self.need, "more than this process could allocate") from None
        return False


def _is_oom(text: str) -> bool:
    t = text.lower()
    return "can't allocate memory" in t or "cannot allocate memory" in t or "out of memory" in t \
        or "not enough memory" in t or "failed to allocate" in t


def _budget(args):
    return netc.LIMITS.get("max_params") if args.budget is None else (args.budget or None)


def _load(args):
    from netc.passes import params_budget
    with params_budget(_budget(args)):
        return netc.load(args.spec, **spec_overrides(args))


def _read_weights(path: str):
    import torch
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UsageError(f"no such weight file: {path}") from None
    except Exception as e:
        raise UsageError(f"cannot read weights from {path}: {str(e).splitlines()[0]}",
                         hint="give a state_dict saved with torch.save(model.state_dict(), path)") from None
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    return obj
