"""Family tables of large networks (adversarial2 N01, N02): the rows of a 20,000-row ``table``
block and configurations outside a table are placed in linear work.

The work is counted, not timed: ``Alignment.work`` counts the cells the sequence alignment fills
and the rows it visits (bench/bench_adversarial.py measures the time). Before the fix a table's
rows were found by scanning every row for each layer (with ``list.index`` inside: cubic, hours for
N01's 20,000 rows), and two configurations outside a table filled the whole Needleman-Wunsch
table (400 million cells for two 20,000-layer columns). The banded alignment is exact wherever it
can prove so; checked here against the full table on random families.
"""
from __future__ import annotations

import random
import resource
import subprocess
import sys
from pathlib import Path

import pytest

import netc
from netc.visualize import align, tables
from netc.visualize.tables import family_table

from conftest import ROOT

GB = 1 << 30
NETC = [str(Path(sys.executable).parent / "netc")] if (Path(sys.executable).parent / "netc").exists() \
    else [sys.executable, "-m", "netc.tools.cli"]

TABLE_20000 = "input 32x32 RGB\ntable A | B {\n  conv3-8 x10000 | conv3-8 x9999\n}\n"        # one row
TABLE_ROWS = "input 8x8 RGB\ntable A|B {\n    conv3-8 x10000\n    conv3-8 x9999\n}\n"             # N01 n19999
OUTSIDE = "input 8x8 RGB\nconfig A { relu x10000\n relu x9999 }\nconfig B { sigmoid x10000\n sigmoid x9999 }\n"


def family(text: str, monkeypatch, **kw):
    """(table, its Alignment, the notes) of every configuration of ``text``."""
    made = []

    class Counted(align.Alignment):
        def __init__(self, n):
            super().__init__(n)
            made.append(self)
    monkeypatch.setattr(tables, "Alignment", Counted)
    prog = netc.Program.from_text(text, "t.net")
    irs = [netc.build_config(prog, c) for c in prog.own_configs()]
    notes: list = []
    t = family_table(irs, prog, notes=notes, **kw)
    (al,) = made
    return t, al, notes, irs


def column(t, j: int) -> list[str]:
    return [r.cells[0].text if r.span else r.cells[j].text for r in t.rows]


# ------------------------------------------------------------------ N01: rows of a table
@pytest.mark.parametrize("text, rows", [(TABLE_20000, 10_000), (TABLE_ROWS, 19_999)], ids=["one-row", "two-rows"])
def test_the_rows_of_a_20000_layer_table_are_placed_in_linear_work(text, rows, monkeypatch):
    spans = []                          # layer-in-cell tests: one per row and layer before the fix
    real = align._inside
    monkeypatch.setattr(align, "_inside", lambda n, span: spans.append(1) or real(n, span))
    t, al, notes, irs = family(text, monkeypatch)
    layers = sum(len(ir.layers()) for ir in irs)
    assert len(al.slots) == rows + 1 and notes == []
    assert al.work <= 4 * layers, f"{al.work:,} steps for {layers:,} layers"    # 10^12 before the fix
    assert len(spans) <= layers, len(spans)
    # the table is the spec's: k-th layer of a cell on the k-th sub-row of its row
    a, b = column(t, 0)[1:], column(t, 1)[1:]
    if text == TABLE_20000:         # one row of two cells: B's 9,999 beside A's first, A's last alone
        assert a == ["conv3-8"] * rows and b == ["conv3-8"] * (rows - 1) + [""]
        assert not any(r.span for r in t.rows[1:])
    else:                           # two spanning rows, the same in both columns
        assert a == b == ["conv3-8"] * rows and all(r.span for r in t.rows)


def test_table_rows_keep_the_order_of_the_quadratic_placement(monkeypatch):
    """Columns with different sub-row counts and cells a neighbour lacks: the same table as before."""
    text = ("input 16x16 RGB\ntable A | B | C {\n  conv3-8 x3 | conv3-8 | conv3-8 x5\n  relu\n"
            "  | sigmoid x2 | \n  conv1-8 x2 | | conv1-8\n  maxpool\n}\n")
    t, al, notes, _ = family(text, monkeypatch)
    rows = [[r.cells[0].text] * 3 if r.span else [c.text for c in r.cells] for r in t.rows[1:]]
    assert rows == [["conv3-8"] * 3] + [["conv3-8", "", "conv3-8"]] * 2 + [["", "", "conv3-8"]] * 2 + [
        ["ReLU"] * 3, ["", "sigmoid", ""], ["", "sigmoid", ""], ["conv1-8", "", "conv1-8"], ["conv1-8", "", ""],
        ["maxpool"] * 3]


# ------------------------------------------------------------------ N02: configurations outside a table
def test_two_20000_layer_configurations_that_share_nothing(monkeypatch):
    t, al, notes, irs = family(OUTSIDE, monkeypatch)
    n = len(irs[0].layers())
    # nothing can share a row: A's rows, then B's; known without filling the 20,000^2 table
    assert column(t, 0)[1:] == ["ReLU"] * n + [""] * n and column(t, 1)[1:] == [""] * n + ["sigmoid"] * n
    assert notes == [] and al.work <= 4 * 2 * n, f"{al.work:,} steps"


def test_two_long_configurations_that_differ_in_a_few_places_are_aligned_exactly(monkeypatch):
    a = "conv3-8 x5000\nmaxpool\nconv3-16 x5000\nrelu x3000"
    b = "conv3-8 x4999\nmaxpool\nconv3-16 x5000\nLRN\nrelu x3000"
    t, al, notes, irs = family(f"input 64x64 RGB\nconfig A {{\n{a}\n}}\nconfig B {{\n{b}\n}}\n", monkeypatch)
    n = len(irs[0].layers()) + len(irs[1].layers())
    assert notes == [] and al.work <= 200 * n, f"{al.work:,} cells for {n:,} layers"   # a band, not n^2 / 4
    rows = [(r.cells[0].text,) * 2 if r.span else tuple(c.text for c in r.cells) for r in t.rows]
    assert rows.count(("conv3-8", "")) == 1 and rows.count(("", "LRN")) == 1
    assert sum(1 for r in rows if "" in r) == 2


def test_a_long_alignment_that_cannot_be_exact_is_bounded_and_said(monkeypatch):
    text = ("input 8x8 RGB\nconfig A { conv3-8 x10000\n relu x9999 }\n"
            "config B { conv3-8 x10000\n sigmoid x9999 }\n")
    t, al, notes, irs = family(text, monkeypatch)
    assert len(notes) == 1 and "column B: 19,999 rows and 19,999 layers differ in too many places" in notes[0]
    assert al.work <= align.MAX_CELLS + 10 * 40_000, f"{al.work:,} steps"
    for j, ir in enumerate(irs):                 # still every layer of each column, once, in order
        assert [x for x in column(t, j)[1:] if x] == [n.paper for n in ir.layers()]
    # between the last pair and the end: A's rows, then B's (no zigzag along the band)
    tail = [tuple(c.text for c in r.cells) for r in t.rows if not r.span][-19_998:]
    assert tail == [("ReLU", "")] * 9_999 + [("", "sigmoid")] * 9_999


def test_one_short_configuration_against_many_rows_is_bounded(monkeypatch):
    text = ("input 8x8 RGB\nconfig A { conv3-8 x10000\n relu x9999 }\n"
            "config B { relu x200\n conv3-8 x200 }\n")
    t, al, notes, irs = family(text, monkeypatch)
    assert len(notes) == 1 and al.work <= align.MAX_CELLS + 100 * 20_000, f"{al.work:,} steps"
    assert [x for x in column(t, 1)[1:] if x] == [n.paper for n in irs[1].layers()]


# ------------------------------------------------------------------ the band is exact
class L:
    """A stand-in for a layer: what alignment looks at."""

    def __init__(self, paper: str):
        self.paper, self.kind = paper, {"c3": "conv", "c1": "conv", "m": "pool"}.get(paper, paper)


def full_nw(al, j, own, ref, first):
    """The alignment before the band (netc 0.x's place_aligned): the whole table, the same trace."""
    slots = al.slots[1:]

    def score(slot, item):
        best = None
        for c in range(j):
            n = slot.cells[c]
            if n is None:
                continue
            sc = 3.0 if n.paper == item.paper else 1.0 if n.kind == item.kind else None
            if sc is not None and c != ref:
                sc -= 0.5
            if sc is not None and (best is None or sc > best):
                best = sc
        return best
    n, m = len(slots), len(own)
    dp = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        dp[i][0] = i * align.SKIP_ROW
    for k in range(1, m + 1):
        dp[0][k] = k * align.NEW_ROW
    for i in range(1, n + 1):
        for k in range(1, m + 1):
            sc = score(slots[i - 1], own[k - 1])
            dp[i][k] = max(dp[i - 1][k - 1] + sc if sc is not None else float("-inf"),
                           dp[i - 1][k] + align.SKIP_ROW, dp[i][k - 1] + align.NEW_ROW)
    path, i, k = [], n, m
    while i or k:
        sc = score(slots[i - 1], own[k - 1]) if i and k else None
        if sc is not None and dp[i][k] == dp[i - 1][k - 1] + sc:
            path.append((i - 1, k - 1)); i -= 1; k -= 1
        elif k and dp[i][k] == dp[i][k - 1] + align.NEW_ROW:
            path.append((None, k - 1)); k -= 1
        else:
            path.append((i - 1, None)); i -= 1
    last = first
    for si, ii in reversed(path):
        if si is not None:
            last = slots[si]
            if ii is not None:
                last.cells[j] = own[ii]
        else:
            last = al.new(last)
            last.cells[j] = own[ii]


def _family(rng: random.Random) -> tuple[list, list]:
    words = ["c3", "c1", "relu", "sig", "m", "fc"]
    base: list = []
    while len(base) < rng.randint(5, 120):
        base += [L(rng.choice(words))] * rng.randint(1, 5)
    cols = [base]
    for _ in range(rng.randint(1, 3)):
        col = list(rng.choice(cols))
        for _ in range(rng.randint(0, 8)):            # insertions (runs too), changes and removals
            at, op = rng.randrange(len(col) + 1), rng.random()
            if op < 0.3 or not col:
                col[at:at] = [L(rng.choice(words))] * (1 if rng.random() < 0.5 else rng.randint(2, 30))
            elif op < 0.6:
                col[min(at, len(col) - 1)] = L(rng.choice(words))
            else:
                del col[min(at, len(col) - 1):min(at, len(col) - 1) + rng.choice([1, 1, 5, 20])]
        cols.append(col or [L("fc")])
    refs = [-1] + [rng.randrange(j) if rng.random() < 0.3 else j - 1 for j in range(1, len(cols))]
    return cols, refs


def _rows(place, cols, refs) -> list[list]:
    al = align.Alignment(len(cols))
    first = al.new(None)
    for j, (col, ref) in enumerate(zip(cols, refs)):
        place(al, j, col, ref, first)
    return [[c and c.paper for c in s.cells] for s in al.slots], al


@pytest.mark.parametrize("seed", range(4))
def test_the_banded_alignment_is_the_full_one(seed, monkeypatch):
    monkeypatch.setattr(align, "FULL_CELLS", 0)           # band even the smallest families
    rng = random.Random(seed)
    for _ in range(60):
        cols, refs = _family(rng)
        want, _ = _rows(full_nw, cols, refs)
        got, al = _rows(align.place_aligned, cols, refs)
        assert got == want and al.notes == [], (cols, refs)


def test_a_bounded_alignment_is_still_an_alignment(monkeypatch):
    monkeypatch.setattr(align, "FULL_CELLS", 0)
    monkeypatch.setattr(align, "MAX_CELLS", 300)
    rng = random.Random(7)
    for _ in range(60):
        cols, refs = _family(rng)
        got, al = _rows(align.place_aligned, cols, refs)
        for j, col in enumerate(cols):        # every layer in its column once, in order
            assert [r[j] for r in got if r[j] is not None] == [c.paper for c in col]
        layers = sum(map(len, cols))          # per column: 300 cells, a window per layer, the rows
        assert al.work <= len(cols) * 300 + layers * (align.WINDOW + 2 * len(cols))


# ------------------------------------------------------------------ the command, capped
def _capped(*args, mem=3 * GB, timeout=300):
    """``netc ARGS`` under an address-space cap; past ``timeout`` (generous: the fixed program takes
    a few seconds) subprocess raises and the test fails."""
    def pre():
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    return subprocess.run([*NETC, *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, preexec_fn=pre)


@pytest.mark.parametrize("text", [TABLE_20000, OUTSIDE], ids=["table", "outside"])
def test_netc_table_of_20000_rows_under_3_gb(text, tmp_path):
    f = tmp_path / "t.net"
    f.write_text(text)
    p = _capped("table", f)
    assert p.returncode == 0 and "internal error" not in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert p.stdout.count("conv3-8" if "table" in text else "sigmoid") >= 9_999


@pytest.mark.slow
def test_a_table_of_60_columns(monkeypatch):
    """R18: 60 columns of 19,999 layers, one table row each."""
    t, al, notes, irs = family((ROOT / "tests" / "adversarial" / "R18_table60cols.net").read_text(), monkeypatch)
    cells = sum(len(ir.layers()) for ir in irs)
    assert len(al.slots) == 20_000 and notes == [] and al.work <= 4 * cells, f"{al.work:,} steps"
    assert len(t.header[0]) == 60 and all(r.span for r in t.rows)
