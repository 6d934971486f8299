"""netc list: every bundled network with its parameters and multiply-adds, and where it lives."""
from __future__ import annotations

import json

import netc
from netc.dsl.errors import NetcError
from netc.elaborate.specref import bundled_dir, model_index


def add_parser(sub) -> None:
    p = sub.add_parser("list", help="list the bundled networks with their parameters and multiply-adds",
                       description="Every configuration of every bundled spec: its reference (a model name such "
                                   "as resnet50 where it has one), parameters, multiply-adds and source.")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(run=run)


def networks() -> list[dict]:
    """One entry per bundled configuration, in file order."""
    names = {(str(path), cfg): model for model, (path, cfg) in model_index().items()}
    out = []
    for path in sorted(bundled_dir().glob("*.net")):
        prog = netc.Program.load(path)
        for cfg in prog.own_configs():
            ref = names.get((str(path), cfg)) or (path.stem if cfg == path.stem else f"{path.stem}:{cfg}")
            try:
                ir = netc.build_config(prog, cfg)
            except NetcError as e:
                out.append({"name": ref, "error": e.message})
                continue
            out.append({"name": ref, "params": ir.params, "macs": ir.macs, "source": f"specs/{path.name}:{cfg}"})
    return out


def run(args) -> int:
    rows = networks()
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        if "error" in r:
            print(f"{r['name']:<{width}}  error: {r['error']}")
            continue
        macs = f"{r['macs'] / 1e9:7.3f} G mult-adds" if r["macs"] is not None else "  any size"
        print(f"{r['name']:<{width}}  {r['params']:>13,} params  {macs}   {r['source']}")
    return 0
