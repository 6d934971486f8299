"""Adversarial families (the hardening issue): time and peak memory against spec size.

Each family is a spec generator ``make(n)`` whose size grows with ``n``; the work is
``netc.check`` (or diff, or DOT text, as named), run in a child process so that its peak memory
(ru_maxrss) is its own. For each family the sizes double, and the table shows seconds, MB, and
the time per unit of size: linear cost keeps that column flat; a family refused by a limit shows
the refusal's time, which must stay flat as the spec grows.

    .venv/bin/python bench/bench_adversarial.py [--scale 1] [--families nesting,diff]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

CHILD = textwrap.dedent('''
    import json, resource, sys, time
    import netc
    from netc.diff import diff
    from netc.visualize import to_dot
    work, files = sys.argv[1], sys.argv[2:]
    t = time.perf_counter()
    if work == "check":
        n = len(netc.check(open(files[0]).read(), files[0]))
    elif work == "load":
        n = len(netc.load(files[0]))
    elif work == "diff":
        n = len(diff(netc.load(files[0]), netc.load(files[1])).edits)
    elif work == "dot":
        n = len(to_dot(netc.load(files[0])))
    s = time.perf_counter() - t
    print(json.dumps({"s": s, "mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "n": n}))
''')


def _rec(n):      # blocks x braces nesting, refused past max_depth
    out = ["input 8x8 RGB", "block b0() {", "    relu", "}"]
    for i in range(1, n + 1):
        out += [f"block b{i}() {{", "    " + "add { " * 8 + f"b{i - 1}" + " }" * 8, "}"]
    return "\n".join(out + [f"b{n}"]) + "\n"


def _doubling(n, leaf="relu"):
    out = ["input 8x8 RGB", "block b0() {"] + ([f"    {leaf}"] if leaf else []) + ["}"]
    for i in range(1, n + 1):
        out += [f"block b{i}() {{", f"    b{i - 1}", f"    b{i - 1}", "}"]
    return "\n".join(out + [f"b{n}"]) + "\n"


def _table(n):
    cols = [f"C{i}" for i in range(n)]
    return "input 8x8 RGB\ntable " + " | ".join(cols) + " {\n    conv3-8 x100\n    " + \
        " | ".join(["relu"] * n) + "\n}\n"


def _extends(n):
    out = ["input 8x8 RGB", "config c0 {", "    relu x500", "}"]
    out += [f"config c{i} extends c{i - 1} {{\n}}" for i in range(1, n)]
    return "\n".join(out) + "\n"


FAMILIES = {
    # name: (work, make(n) -> text or list of texts, sizes, unit)
    "repetition": ("check", lambda n: f"input 8x8 RGB\nrelu x{n // 2}\nsigmoid x{n // 2}\n", [2500, 5000, 10000, 20000],
                   "layers"),
    "empty blocks": ("check", lambda n: f"input 8x8 RGB\nblock e() {{\n}}\nblock f() {{\n    e x{n}\n}}\nf x{n}\n",
                     [10, 100, 1000, 10000], "x N (N^2 nodes; refused)"),
    "doubling blocks": ("check", _doubling, [10, 20, 40, 80], "depth (2^depth nodes; refused)"),
    "nesting": ("check", _rec, [4, 8, 16, 32], "blocks of 8 braces (refused past 100)"),
    "table": ("check", _table, [5, 10, 20, 40], "columns of 101 layers"),
    "extends": ("check", _extends, [50, 100, 200, 400], "configurations of 500 layers"),
    "long line": ("check", lambda n: "input 8x8 RGB\n" + "->".join(["maxpol"] * n) + "\n",
                  [2000, 4000, 8000, 16000], "typos on one line"),
    "many errors": ("check", lambda n: "input 8x8 RGB\n" + "maxpol\n" * n, [4000, 8000, 16000, 32000], "typo lines"),
    "diff": ("diff", lambda n: [f"input 8x8 RGB\nrelu x{n // 2}\nrelu x{n // 2}\n",
                                f"input 8x8 RGB\nsigmoid x{n // 2}\nsigmoid x{n // 2}\n"],
             [2500, 5000, 10000, 20000], "layers, all different"),
    "render (DOT)": ("dot", lambda n: "input 8x8 RGB\nblock m() {\n    add {\n        relu\n        relu -> relu\n"
                                      "    }\n}\n" + f"m x{n}\n", [500, 1000, 2000, 4000], "blocks of 4 nodes"),
}


def _includes(d: Path, n: int) -> Path:
    """A diamond of n files: each includes the next one twice."""
    for i in range(n):
        nxt = f'include "f{i + 1}.net"\ninclude "f{i + 1}.net"\n' if i + 1 < n else "block leaf() {\n    relu\n}\n"
        (d / f"f{i}.net").write_text(("input 8x8 RGB\nrelu\n" if i == 0 else "") + nxt)
    return d / "f0.net"


def run(work: str, files: list[str]) -> dict:
    r = subprocess.run([sys.executable, "-c", CHILD, work, *files], capture_output=True, text=True, timeout=900)
    if r.returncode:
        raise SystemExit(r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default="", help="comma-separated names (default: all)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every size (0.25 for a quick run)")
    args = ap.parse_args()
    names = [f for f in args.families.split(",") if f] or [*FAMILIES, "includes"]
    print(f"{'family':<16} {'size':>7}  {'seconds':>8}  {'MB':>6}  {'ms per unit':>11}  unit")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for name in names:
            if name == "includes":
                work, sizes, unit = "check", [4, 8, 16, 32], "files, each included twice"
            else:
                work, make, sizes, unit = FAMILIES[name]
            for n in sizes:
                n = max(1, int(n * args.scale)) if name not in ("doubling blocks", "nesting", "includes") else n
                if name == "includes":
                    sub = d / f"inc{n}"
                    sub.mkdir()
                    files = [str(_includes(sub, n))]
                else:
                    texts = make(n)
                    texts = texts if isinstance(texts, list) else [texts]
                    files = []
                    for i, t in enumerate(texts):
                        f = d / f"{name.replace(' ', '_')}_{n}_{i}.net"
                        f.write_text(t)
                        files.append(str(f))
                r = run(work, files)
                print(f"{name:<16} {n:>7}  {r['s']:8.3f}  {r['mb']:6.0f}  {1000 * r['s'] / n:11.3f}  {unit}",
                      flush=True)


if __name__ == "__main__":
    main()
