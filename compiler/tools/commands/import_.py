"""netc import FILE : a released network (Caffe prototxt / caffemodel, ONNX, a PyTorch callable)
as a readable .net spec.

``netc import deploy.prototxt`` prints the spec; ``-o net.net`` writes it; ``--weights net.pt``
also writes the weights of a ``.caffemodel`` (next to the prototxt, or ``--caffemodel FILE``) as a
state_dict that ``netc compile --weights`` and ``netc.load_weights`` take. ``netc import
mypkg.models:resnet50`` imports that module and calls that callable (you asked for it, as with
``--plugin``): the one importer that runs code. Nothing in a prototxt, caffemodel or ONNX file is
ever executed.
"""
from __future__ import annotations

import os
import re
import sys

from netc.dsl.errors import UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("import", help="write a Caffe, ONNX or PyTorch network as a .net spec",
                       description="Read a Caffe .prototxt (V0, V1 or V2), an .onnx file, or an importable "
                                   "PyTorch callable (module:callable, which runs that code) and print it as a spec.")
    p.add_argument("source", metavar="FILE", help="a .prototxt, .onnx, a Hugging Face config.json, or module:callable")
    p.add_argument("-o", "--output", metavar="OUT.net", help="write the spec here (default: print it)")
    p.add_argument("--weights", metavar="OUT.pt", help="write the weights as a state_dict for the spec")
    p.add_argument("--caffemodel", metavar="FILE", help="the .caffemodel with the weights (default: next to the prototxt)")
    p.add_argument("--input", default=None, metavar="CxHxW",
                   help="example input size for module:callable (default 3x224x224); for a prototxt, the input "
                        "where the file does not state it")
    p.set_defaults(run=run)


def run(args) -> int:
    try:
        return _run(args)
    except ModuleNotFoundError as e:
        if e.name and e.name.split(".")[0] in ("google", "onnx", "torch"):
            raise UsageError(f"netc import needs the '{e.name.split('.')[0]}' package here",
                             hint="pip install 'netc[import]' (protobuf and onnx); torch for module:callable") from None
        raise


def _run(args) -> int:
    from netc.tools.progress import progress
    with progress(f"importing {os.path.basename(args.source)}") as bar:
        return _import(args, bar)


def _import(args, bar) -> int:
    from netc import importers
    src = args.source
    bar.stage("reading")
    weights = None
    if re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", src) and not os.path.exists(src):
        text, weights = _callable(src, args)
    elif not os.path.exists(src):
        raise UsageError(f"no such file: {src}")
    elif os.path.isdir(src):
        raise UsageError(f"{src} is a folder; netc import reads a file (.prototxt, .onnx, config.json) "
                         "or a Python callable (module:function)")
    elif os.path.basename(src).endswith(".json"):     # a Hugging Face config.json: read as JSON, nothing run
        from netc.importers.hf_config import from_config
        text = from_config(src)
    elif src.endswith(".onnx"):
        text = importers.from_onnx(src)
        if args.weights:
            bar.stage("reading the weights")
            from netc.importers import onnx_import
            weights = onnx_import.weights(src, text)
    else:
        if args.weights or args.caffemodel:
            from netc.importers import caffe_weights
            model = args.caffemodel or _beside(src)
            if model is None:
                raise UsageError(f"--weights needs the .caffemodel: none next to {src}; pass --caffemodel FILE")
            bar.stage(f"reading the weights from {os.path.basename(model)}")
            text, weights = caffe_weights.import_with_weights(src, model, _size(args.input))
        else:
            text = importers.from_caffe(src, input_size=_size(args.input))
    bar.close()
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    if args.weights:
        if weights is None:
            raise UsageError("this source has no weights to write")
        import torch
        bar.stage(f"writing {args.weights}")
        torch.save(weights, args.weights)
        bar.close()
        print(f"wrote {args.weights} ({len(weights)} tensors)", file=sys.stderr)
    return 0


def _size(text: str | None) -> tuple | None:
    """``--input 3x32x32`` as (3, 32, 32)."""
    if text is None:
        return None
    try:
        dims = tuple(int(x) for x in re.split(r"[x×]", text))
    except ValueError:
        dims = ()
    if len(dims) != 3 or min(dims) < 1:
        raise UsageError(f"--input {text!r} is not a size such as 3x224x224 (channels x height x width)")
    return dims


def _beside(path: str) -> str | None:
    base = os.path.splitext(path)[0]
    for cand in (base + ".caffemodel", re.sub(r"(deploy|train_val)$", "", base).rstrip("_-") + ".caffemodel"):
        if os.path.exists(cand):
            return cand
    d = os.path.dirname(path) or "."
    models = [f for f in os.listdir(d) if f.endswith(".caffemodel")]
    return os.path.join(d, models[0]) if len(models) == 1 else None


def _callable(ref: str, args):
    import importlib
    mod, _, fn = ref.partition(":")
    import torch                  # netc's own imports first, from the installed packages
    import netc
    # the current directory is searched last, and only while the named module is imported (as for
    # --plugin): a torch.py or numpy.py lying there never shadows an installed package
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.append(cwd)
    try:
        obj = getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError) as e:
        raise UsageError(f"cannot import {ref}: {e}") from None
    except Exception as e:        # the module's own code failed: the user's error, not netc's
        raise UsageError(f"module '{mod}' failed while importing: {type(e).__name__}: {e}",
                         hint=f"run python -c 'import {mod}' to see the traceback") from None
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)
    if isinstance(obj, torch.nn.Module):
        module = obj
    elif callable(obj):
        try:
            module = obj()
        except Exception as e:    # noqa: BLE001 - the callable is the user's code
            raise UsageError(f"{ref}() failed: {type(e).__name__}: {e}") from None
    else:
        module = obj
    if not isinstance(module, torch.nn.Module):
        raise UsageError(f"{ref} gives {type(module).__name__}, not a torch.nn.Module",
                         hint="name a torch.nn.Module, or a callable that returns one (mypkg.models:resnet50)")
    dims = _size(args.input or "3x224x224")
    text = netc.from_torch(module, torch.randn(1, *dims))
    weights = None
    if args.weights:
        model = netc.compile(netc.loads(text), device="cpu")
        netc.load_weights(model, module)
        weights = model.state_dict()
    return text, weights
