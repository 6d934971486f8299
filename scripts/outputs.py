"""Every text the CLI prints for the bundled specs and the error corpus, to compare two trees byte for
byte (a refactoring must not change them): `check` and `table` of every spec, `summary` (text and
JSON) and `render` (DOT) of every configuration, `diff` of neighbouring configurations, and `check`
of every file in tests/errors/.

    .venv/bin/python scripts/outputs.py dump before.json          # in the old tree (its netc)
    .venv/bin/python scripts/outputs.py dump after.json           # in the new tree
    python3 scripts/outputs.py compare before.json after.json OLD_ROOT NEW_ROOT

Paths that name the tree (a bundled spec's full path in `summary`) are compared with the root
replaced. Runs in one process, through the program's own `main`.
"""
from __future__ import annotations

import contextlib
import difflib
import glob
import importlib
import io
import json
import sys


def _cli():
    for name in ("netc.cli", "netc.tools.cli"):      # the program's module, as either layout names it
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise SystemExit("no netc CLI importable")


def _run(cli, args: list[str]) -> list:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(args)
        except SystemExit as e:
            code = e.code
    return [code, out.getvalue(), err.getvalue()]


def dump(path: str) -> None:
    import netc
    cli, res = _cli(), {}
    for spec in sorted(glob.glob("specs/*.net")):
        res[f"check {spec}"] = _run(cli, ["check", spec])
        res[f"table {spec}"] = _run(cli, ["table", spec])
        configs = [ir.config for ir in netc.load_all(spec)]
        for c in configs:
            ref = f"{spec}:{c}"
            res[f"summary {ref}"] = _run(cli, ["summary", ref, "--json"])
            res[f"summary-text {ref}"] = _run(cli, ["summary", ref])
            res[f"render {ref}"] = _run(cli, ["render", ref, "--format", "dot"])
        for a, b in zip(configs, configs[1:]):
            res[f"diff {spec}:{a} {spec}:{b}"] = _run(cli, ["diff", f"{spec}:{a}", f"{spec}:{b}"])
    for bad in sorted(glob.glob("tests/errors/*.net")):
        res[f"check {bad}"] = _run(cli, ["check", bad])
    with open(path, "w") as f:
        json.dump(res, f, indent=0, sort_keys=True)
    print(f"{len(res)} outputs written to {path}")


def compare(a_path: str, b_path: str, a_root: str, b_root: str) -> int:
    a, b = json.load(open(a_path)), json.load(open(b_path))
    norm = {id(a): lambda v: json.dumps(v).replace(a_root, "ROOT"), id(b): lambda v: json.dumps(v).replace(b_root, "ROOT")}
    differ = [k for k in sorted(set(a) | set(b)) if norm[id(a)](a.get(k)) != norm[id(b)](b.get(k))]
    print(f"{len(a)} and {len(b)} outputs; {len(differ)} differ")
    for k in differ[:10]:
        print("  differs:", k)
        for line in list(difflib.unified_diff(norm[id(a)](a.get(k)).split("\\n"), norm[id(b)](b.get(k)).split("\\n"),
                                              lineterm=""))[:20]:
            print("    " + line)
    return 1 if differ or set(a) != set(b) else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["dump"] and len(sys.argv) == 3:
        dump(sys.argv[2])
    elif sys.argv[1:2] == ["compare"] and len(sys.argv) == 6:
        sys.exit(compare(*sys.argv[2:]))
    else:
        sys.exit(__doc__)
