"""Fuzz the front end: N mutated specs through netc.check and netc fmt; count crashes and hangs.

    .venv/bin/python bench/fuzz.py [N] [--seed S] [--save]

Every input starts from a bundled spec or an invalid-spec corpus file (tests/errors/) and gets
1-4 damaging edits (tests/strategies.py: delete, duplicate, swap, truncate, random bytes, huge
numbers, deep nesting, unicode, stray tokens, huge repetition). A crash is anything other than a
returned list of diagnostics or a raised NetcError (and, for text that parses, netc fmt failing or
not being idempotent); a hang is an input taking more than --hang seconds. With --save, each
crashing input is written to tests/regressions/ (replayed by tests/tools/test_fuzz.py). The reference
for the timings is the time to check the unmutated seed specs, measured in the same run.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from strategies import ROOT, mutate, outcome, seed_texts  # noqa: E402


class Hang(BaseException):
    pass


def _alarm(signum, frame):
    raise Hang()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int, nargs="?", default=10_000)
    ap.add_argument("--seed", type=int, default=20141104)
    ap.add_argument("--hang", type=float, default=30.0, help="seconds after which one input counts as a hang")
    ap.add_argument("--save", action="store_true", help="write crashing inputs to tests/regressions/")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    seeds = seed_texts()
    t0 = time.perf_counter()
    for t in seeds:
        outcome(t)
    ref = (time.perf_counter() - t0) / len(seeds)
    signal.signal(signal.SIGALRM, _alarm)
    crashes, hangs, slowest = [], [], (0.0, "")
    start = time.perf_counter()
    for i in range(args.n):
        text = mutate(rng.choice(seeds), rng)
        t1 = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, args.hang)
        try:
            bad = outcome(text)
        except Hang:
            bad = "hang"
            hangs.append(text)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        dt = time.perf_counter() - t1
        if dt > slowest[0]:
            slowest = (dt, text)
        if bad:
            crashes.append((bad, text))
            if args.save:
                _save(text)
    total = time.perf_counter() - start
    print(f"inputs {args.n}  crashes {len(crashes)}  hangs {len(hangs)}  seed {args.seed}")
    print(f"time {total:.1f}s  mean {total / args.n * 1000:.1f} ms/input  "
          f"= {total / args.n / ref:.2f}x the check of an unmutated spec ({ref * 1000:.1f} ms)")
    print(f"slowest input {slowest[0] * 1000:.0f} ms = {slowest[0] / ref:.1f}x the reference")
    for bad, text in crashes[:10]:
        print("CRASH", bad, repr(text[:120]))
    return 1 if crashes else 0


def _save(text: str) -> None:
    d = os.path.join(ROOT, "tests", "regressions")
    os.makedirs(d, exist_ok=True)
    name = "fuzz_" + hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:12] + ".net"
    with open(os.path.join(d, name), "w", encoding="utf-8", errors="surrogatepass", newline="") as f:
        f.write(text)


if __name__ == "__main__":
    sys.exit(main())
