"""netc list [PATTERN]: every bundled network with its parameters and multiply-adds, and where it
lives; PATTERN is a shell-style glob on the name, as timm.list_models('resnet*')."""
from __future__ import annotations

import fnmatch
import sys

import netc
from netc import jsonout
from netc.dsl.errors import NetcError
from netc.elaborate.specref import bundled_dir, model_index


def add_parser(sub) -> None:
    p = sub.add_parser("list", help="list the bundled networks with their parameters and multiply-adds",
                       description="Every configuration of every bundled spec: its reference (a model name such "
                                   "as resnet50 where it has one), parameters, multiply-adds and source.")
    p.add_argument("pattern", nargs="?", metavar="PATTERN",
                   help="only the names matching this glob (resnet*, *vit*, vgg:?), case-insensitive")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(run=run)


def networks(pattern: str | None = None) -> list[dict]:
    """One entry per bundled configuration, in file order; with ``pattern``, those whose name matches
    the glob (a pattern with ``:`` is matched against ``file:config``: ``'vgg:*'``)."""
    names = {(str(path), cfg): model for model, (path, cfg) in model_index().items()}
    out = []
    for path in sorted(bundled_dir().glob("*.net")):
        prog = None
        for cfg in _configs(path, prog):
            ref = names.get((str(path), cfg)) or (path.stem if cfg == path.stem else f"{path.stem}:{cfg}")
            full = f"{path.stem}:{cfg}"       # a pattern with a ':' is matched against file:config
            if pattern and not _match(full if ":" in pattern else ref, pattern):
                continue
            prog = prog or netc.Program.load(path)
            try:
                ir = netc.build_config(prog, cfg)
            except NetcError as e:
                out.append({"name": ref, "error": e.message})
                continue
            entry = {"name": ref, "params": ir.params, "macs": ir.macs, "source": f"specs/{path.name}:{cfg}"}
            if ir.input_spec.tokens:            # a language model: its multiply-adds per token
                from netc.summary import language_model_costs
                entry["macs_per_token"] = language_model_costs(ir)["per_token"]
            out.append(entry)
    return out


def _configs(path, prog) -> list[str]:
    return (prog or netc.Program.load(path)).own_configs()


def _match(name: str, pattern: str) -> bool:
    pat = pattern.lower()
    if not any(c in pat for c in "*?["):
        pat = f"*{pat}*"                      # a plain word: the names that contain it
    return fnmatch.fnmatchcase(name.lower(), pat)


def run(args) -> int:
    rows = networks(args.pattern)
    if args.json:
        print(jsonout.dumps(rows, indent=1))
        return 0
    if not rows:
        print(f"no bundled network matches {args.pattern!r}", file=sys.stderr)
        return 1
    width = max([len(r["name"]) for r in rows] + [len("name")])
    print(f"{'name':<{width}}  {'params':>14}  {'mult-adds':>12}  source")
    for r in rows:
        if "error" in r:
            print(f"{r['name']:<{width}}  error: {r['error']}")
            continue
        macs = (f"{r['macs'] / 1e9:.3f} G" if r["macs"] is not None else
                f"{r['macs_per_token'] / 1e9:.3f} G/tok" if r.get("macs_per_token") else "any size")
        print(f"{r['name']:<{width}}  {r['params']:>14,}  {macs:>12}  {r['source']}")
    return 0
