"""Row alignment for side-by-side tables: which layers of several configurations share a row.

Columns of one ``table`` in the spec share that table's rows (matched by source span); any other
configuration is aligned against the rows so far by a global (Needleman-Wunsch) alignment in
which a layer may share a row with the same layer or one of its kind.

>>> class L:  # a stand-in for an IR node: what alignment looks at
...     def __init__(self, paper, kind): self.paper, self.kind = paper, kind
>>> al = Alignment(2); first = al.new(None)
>>> place_aligned(al, 0, [L("conv3-64", "conv"), L("FC-10", "fc")], -1, first)
>>> place_aligned(al, 1, [L("conv3-64", "conv"), L("BN", "bn"), L("FC-10", "fc")], 0, first)
>>> [[c and c.paper for c in s.cells] for s in al.slots[1:]]
[['conv3-64', 'conv3-64'], [None, 'BN'], ['FC-10', 'FC-10']]

Both placements are linear in the table's size: rows are a linked list (a row is inserted below
another in constant time), a table's rows are found by origin in a dictionary, and the sequence
alignment is banded (as ``netc diff``'s, compiler/diff/align.py) and exact whenever the band provably
holds the best alignment. Two long configurations that differ in too many places are aligned
within a bounded band, and ``Alignment.notes`` says so. ``Alignment.work`` counts the cells
filled and the rows visited, so that tests bound the work rather than the time.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from netc.dsl import ast


@dataclass(eq=False)
class Slot:
    """One aligned row: at most one node per column."""
    cells: list
    spanning: bool = True      # may span when every column has the same layer
    origin: tuple | None = None   # (table id, AST row index, sub-row) for table rows
    below: Slot | None = field(default=None, repr=False)   # the next row down
    # the papers and kinds of cells[:folded], gathered when a later column is aligned against it
    papers: set | None = field(default=None, repr=False)
    kinds: set | None = field(default=None, repr=False)
    folded: int = field(default=0, repr=False)


class Alignment:
    """The rows of a family table, top to bottom (``slots``), for ``n`` columns."""

    def __init__(self, n: int):
        self.n = n
        self._head: Slot | None = None
        self._tail: Slot | None = None
        self._order: list[Slot] = []
        self._stale = False
        self.origins: dict[tuple, Slot] = {}       # a table row's slot by its origin
        self.tables: dict[int, _TableRows] = {}
        self.work = 0                              # DP cells filled and rows visited
        self.notes: list[str] = []                 # an alignment bounded for its size

    @property
    def slots(self) -> list[Slot]:
        if self._stale:
            out, s = [], self._head
            while s is not None:
                out.append(s)
                s = s.below
            self._order, self._stale = out, False
            self.work += len(out)
        return self._order

    def new(self, after: Slot | None, **kw) -> Slot:
        """A new row just below ``after`` (None: at the bottom)."""
        s = Slot([None] * self.n, **kw)
        at_end = after is None or after is self._tail
        if after is None:
            after = self._tail
        if after is None:
            self._head = s
        else:
            s.below, after.below = after.below, s
        if at_end:
            self._tail = s
        if s.origin is not None:
            self.origins[s.origin] = s
        if at_end and not self._stale:
            self._order.append(s)                  # at the bottom: the list stays current
        else:
            self._stale = True
        return s


@dataclass
class _TableRows:
    """What one ``table``'s placed rows look like: ``count[ri]`` sub-rows of AST row ``ri`` exist
    (sub-rows 0 .. count - 1). ``ordered``: every column so far met its rows in table order, so
    the rows' slots are in origin order (see ``_table_after``)."""
    count: dict[int, int] = field(default_factory=dict)
    ordered: bool = True


def _cell_spans(table: ast.Table, j: int) -> list[tuple[int, object]]:
    out = []
    for ri, row in enumerate(table.rows):
        chain = row.cells[0] if row.spanning else row.cells[j]
        if chain is not None:
            out.append((ri, chain.span))
    return out


def _inside(n, span) -> bool:
    pos = (n.span.line, n.span.col)
    return (span.line, span.col) <= pos <= (span.end_line, span.end_col) and n.span.file == span.file


def _row_finder(table: ast.Table, column: int, al: Alignment):
    """``find(node)``: the index of the first row of ``table`` whose cell in ``column`` holds the
    node (None: none). The cells' spans are in one file, in order and apart, so one bisection
    finds the only candidate; otherwise every row is tried, as the definition says."""
    spans = _cell_spans(table, column)
    starts = [(sp.line, sp.col) for _, sp in spans]
    apart = all(a.file == b.file and (a.end_line, a.end_col) < (b.line, b.col)
                for (_, a), (_, b) in zip(spans, spans[1:]))

    memo: dict[int, tuple] = {}          # by span: the layers of a repetition share theirs

    def find(n):
        hit = memo.get(id(n.span))
        if hit is not None and hit[0] is n.span:
            return hit[1]
        if apart:
            i = bisect_right(starts, (n.span.line, n.span.col)) - 1
            al.work += 1
            ri = spans[i][0] if i >= 0 and _inside(n, spans[i][1]) else None
        else:
            al.work += len(spans)
            ri = next((ri for ri, sp in spans if _inside(n, sp)), None)
        memo[id(n.span)] = (n.span, ri)
        return ri
    return find


def place_table(al: Alignment, j: int, items: list, table: ast.Table, column: int, first: Slot) -> None:
    """Column ``j`` holds column ``column`` of ``table``: a layer goes to the row of the table
    that holds it (its k-th layer there to the k-th sub-row), any other layer to a new row below
    the previous one. ``first`` is the top row (the input)."""
    find = _row_finder(table, column, al)
    rows = al.tables.setdefault(id(table), _TableRows())
    last = first
    prev = None                      # this column's previous table row (ri, k)
    counts: dict[int, int] = {}
    for n in items:
        ri = find(n)
        if ri is None:
            slot = al.new(last)
        else:
            k = counts.get(ri, 0)
            counts[ri] = k + 1
            origin = (id(table), ri, k)
            slot = al.origins.get(origin)
            if slot is None:
                after = _table_after(al, rows, origin, prev, last)
                slot = al.new(after, spanning=table.rows[ri].spanning, origin=origin)
                rows.count[ri] = k + 1
            elif prev is not None and (ri, k) < prev:
                rows.ordered = False
            prev = (ri, k)
        slot.cells[j] = n
        last = slot


def _table_after(al: Alignment, rows: _TableRows, origin: tuple, prev: tuple | None, last: Slot) -> Slot:
    """The row below which a new table row goes: the lowest row of an earlier (row, sub-row) of
    the same table, else ``last``.

    While every column meets the table's rows in order (they do: a column's layers come from its
    cells, row by row), the table's rows stand in the order of their origins, so the lowest earlier
    one is the greatest earlier origin: (ri, k - 1) for a sub-row k > 0, else the last sub-row of
    the nearest row above that has any. Looking for that row walks back only as far as this
    column's previous table row, so a column's walks cover the table once."""
    tid, ri, k = origin
    if prev is not None and (ri, k) < prev:
        rows.ordered = False
    if not rows.ordered:
        return _table_after_scan(al, origin, last)
    if k > 0:
        return al.origins[(tid, ri, k - 1)]
    stop = prev[0] if prev is not None else -1
    for r in range(ri - 1, stop - 1, -1):
        al.work += 1
        if r >= 0 and rows.count.get(r):
            return al.origins[(tid, r, rows.count[r] - 1)]
    return last


def _table_after_scan(al: Alignment, origin: tuple, last: Slot) -> Slot:
    """``_table_after`` by its definition, for a column that met the table's rows out of order."""
    order = al.slots
    al.work += len(order)
    before = [i for i, s in enumerate(order) if s.origin and s.origin[0] == origin[0] and s.origin[1:] < origin[1:]]
    return order[max(before)] if before else last


def place_aligned(al: Alignment, j: int, own: list, ref: int, first: Slot, paper=None) -> None:
    """Global alignment (Needleman-Wunsch) of this column's layers against the rows so far:
    a layer may share a row with the same layer (best in the reference column) or one of its
    kind; otherwise it gets a row of its own. Columns are placed left to right; ``paper(node)``
    is ``node.paper`` (the caller may remember it)."""
    paper = paper or _paper
    slots = al.slots[1:]
    rows = [_fits(s, ref, j, paper) for s in slots]
    al.work += len(rows)
    path = _nw(rows, [(paper(it), it.kind) for it in own], al)
    last = first
    for si, ii in path:
        if si is not None:
            last = slots[si]
            if ii is not None:
                last.cells[j] = own[ii]
        else:
            last = al.new(last)
            last.cells[j] = own[ii]


SKIP_ROW, NEW_ROW = -0.5, -1.0
FULL_CELLS = 250_000       # alignments this small fill the whole table at once
MAX_CELLS = 3_000_000      # the most cells one column's alignment fills (about a second)
WINDOW = 64                # past MAX_CELLS: how far below the last pair a layer looks for its row


def _paper(n) -> str:
    return n.paper


def _fits(slot: Slot, ref: int, j: int, paper=_paper) -> tuple:
    """What a row offers a layer of column ``j`` (the row holds columns 0 .. j - 1): the same
    layer scores 3 in the reference column's cell, 2.5 in another; one of its kind 1, or 0.5."""
    if slot.papers is None:
        slot.papers, slot.kinds = set(), set()
    for c in range(slot.folded, j):          # cells left of j no longer change
        n = slot.cells[c]
        if n is not None:
            slot.papers.add(paper(n))
            slot.kinds.add(n.kind)
    slot.folded = max(slot.folded, j)
    r = slot.cells[ref] if 0 <= ref < j else None
    if r is None:
        return _NOTHING, slot.papers, _NOTHING, slot.kinds
    return paper(r), slot.papers, r.kind, slot.kinds


_NOTHING = object()      # equal to no paper and no kind


def _fit(fits: tuple, paper, kind) -> float | None:
    """How well a layer fits a row (None: it may not share it)."""
    rp, papers, rk, kinds = fits
    return 3.0 if rp == paper else 2.5 if paper in papers else 1.0 if rk == kind else 0.5 if kind in kinds else None


def _nw(rows: list[tuple], keys: list[tuple], al: Alignment | None = None) -> list[tuple[int | None, int | None]]:
    """The best alignment of items, (paper, kind) in ``keys``, against ``rows`` (``_fits`` of each) as (row index or
    None, item index or None) pairs, in order: a pair scores ``_fit``, a row left empty SKIP_ROW,
    an item on a new row NEW_ROW. Among equal alignments, traced from the end: a pair first, then
    a new row (new rows go late in a gap).

    A large table is filled in a band around the diagonal, doubled until it provably holds the
    best alignment (or is most of the table, which is then filled). Past MAX_CELLS cells the best
    alignment inside the last band is taken (or, if even the first band is too large, each layer
    goes to the best row a little below the last pair), and ``al.notes`` says so."""
    n, m = len(rows), len(keys)
    top = _gains(rows, keys)
    if len(top) == 1:
        # nothing can share a row: every alignment scores the same, and the trace from the end
        # takes a new row whenever it can, so every row is passed first, then every item gets one
        return [(i, None) for i in range(n)] + [(None, k) for k in range(m)]
    full = (n + 1) * (m + 1)
    if full <= FULL_CELLS:
        return _banded(rows, keys, -n, m, al)[1]
    w, spent, path = 8, 0, None
    while True:
        lo, hi = min(0, m - n) - w, max(0, m - n) + w
        cells = _band_cells(n, m, lo, hi)
        if 2 * cells >= full:
            lo, hi, cells = -n, m, full
        if spent + cells > MAX_CELLS:
            if al is not None:
                how = (f"the best that keeps within {w // 2:,} rows of the diagonal" if path is not None else
                       f"each layer in the best row at most {WINDOW} rows below the last one paired")
                al.notes.append(f"{n:,} rows and {m:,} layers differ in too many places to align exactly; "
                                f"this alignment is {how}")
            return _tidy(path if path is not None else _greedy(rows, keys, al))
        best, path = _banded(rows, keys, lo, hi, al)
        spent += cells
        if lo <= -n and hi >= m or best > _outside_bound(n, m, lo, hi, top):
            return path
        w *= 2


def _band_cells(n: int, m: int, lo: int, hi: int) -> int:
    """How many cells (i, k), 0 <= i <= n, 0 <= k <= m, have lo <= k - i <= hi."""
    return sum(max(0, min(m, i + hi) - max(0, i + lo) + 1) for i in range(n + 1))


def _greedy(rows: list[tuple], keys: list[tuple], al: Alignment | None) -> list[tuple[int | None, int | None]]:
    """A valid alignment in linear time: each layer shares the best-fitting of the next WINDOW
    rows (the first of the best), passing the rows above it, or gets a new row."""
    out, i, n = [], 0, len(rows)
    for k, key in enumerate(keys):
        best, at = None, None
        for r in range(i, min(n, i + WINDOW)):
            sc = _fit(rows[r], *key)
            if sc is not None and (best is None or sc > best):
                best, at = sc, r
        if al is not None:
            al.work += min(n, i + WINDOW) - i
        if at is None:
            out.append((None, k))
            continue
        out += [(r, None) for r in range(i, at)] + [(at, k)]
        i = at + 1
    return out + [(r, None) for r in range(i, n)]


def _gains(rows: list[tuple], keys: list[tuple]) -> list[float]:
    """``top[M]``: the most M pairs can gain over leaving both sides unpaired (a pair's score less
    SKIP_ROW and NEW_ROW), from what each row could offer any item and each item could get from
    any row, best first; ``len(top) - 1`` pairs at most."""
    papers = {p for p, _ in keys}
    kinds = {k for _, k in keys}
    ref_papers, row_papers, ref_kinds, row_kinds = set(), set(), set(), set()
    by_row = []
    for rp, ps, rk, ks in rows:
        ref_papers.add(rp)
        row_papers.update(ps)
        ref_kinds.add(rk)
        row_kinds.update(ks)
        best = (3.0 if rp in papers else 2.5 if not papers.isdisjoint(ps) else 1.0 if rk in kinds else
                0.5 if not kinds.isdisjoint(ks) else None)
        if best is not None:
            by_row.append(best)
    by_item = [b for b in (3.0 if p in ref_papers else 2.5 if p in row_papers else 1.0 if k in ref_kinds else
                           0.5 if k in row_kinds else None for p, k in keys) if b is not None]
    top, a, b = [0.0], 0.0, 0.0
    for x, y in zip(sorted(by_row, reverse=True), sorted(by_item, reverse=True)):
        a, b = a + x - SKIP_ROW - NEW_ROW, b + y - SKIP_ROW - NEW_ROW
        top.append(min(a, b))
    return top


def _outside_bound(n: int, m: int, lo: int, hi: int, top: list[float]) -> float:
    """The most an alignment that leaves the band (k - i outside lo..hi) can score. With M pairs
    it passes n - M rows and gives m - M items new rows: at most top[M] + SKIP_ROW n + NEW_ROW m.
    Leaving above takes more than hi new rows (M < m - hi), leaving below more than -lo passed
    rows (M < n + lo)."""
    most = [p for p in (m - hi - 1, n + lo - 1) if p >= 0]
    if not most:
        return float("-inf")
    return top[min(max(most), len(top) - 1)] + SKIP_ROW * n + NEW_ROW * m


def _tidy(path: list[tuple]) -> list[tuple]:
    """Between two pairs, rows passed first, then new rows (as the exact alignment's trace puts
    them): the same score, and no zigzag along the band's edge."""
    out: list[tuple] = []
    gap: list[tuple] = []
    for step in path + [(None, None)]:
        if step[0] is not None and step[1] is not None or step == (None, None):
            out += [g for g in gap if g[1] is None] + [g for g in gap if g[0] is None]
            gap = []
            if step != (None, None):
                out.append(step)
        else:
            gap.append(step)
    return out


def _banded(rows, keys, lo: int, hi: int, al: Alignment | None) -> tuple[float, list]:
    """Needleman-Wunsch over the cells (i, k) with lo <= k - i <= hi; (best score, traced path)."""
    n, m = len(rows), len(keys)
    neg = float("-inf")
    table: list[list[float]] = []
    firsts: list[int] = []
    cells = 0
    prev: list[float] = []
    p0 = p1 = 0
    for i in range(n + 1):
        k0, k1 = max(0, i + lo), min(m, i + hi)
        row = [neg] * (k1 - k0 + 1)
        cells += k1 - k0 + 1
        if i == 0:
            for k in range(k0, k1 + 1):
                row[k - k0] = k * NEW_ROW
        else:
            rp, papers, rk, kinds = rows[i - 1]
            for k in range(k0, k1 + 1):
                v = prev[k - p0] + SKIP_ROW if p0 <= k <= p1 else neg
                if k > 0:
                    if k - 1 >= k0:
                        left = row[k - 1 - k0] + NEW_ROW
                        if left > v:
                            v = left
                    if p0 <= k - 1 <= p1:
                        p, kd = keys[k - 1]
                        sc = (3.0 if rp == p else 2.5 if p in papers else 1.0 if rk == kd else 0.5 if kd in kinds
                              else None)
                        if sc is not None:
                            d = prev[k - 1 - p0] + sc
                            if d > v:
                                v = d
                row[k - k0] = v
        table.append(row)
        firsts.append(k0)
        prev, p0, p1 = row, k0, k1
    if al is not None:
        al.work += cells

    def at(i: int, k: int) -> float:
        k0 = firsts[i]
        return table[i][k - k0] if k0 <= k < k0 + len(table[i]) else neg

    out, i, k = [], n, m
    while i or k:
        sc = _fit(rows[i - 1], *keys[k - 1]) if i and k else None
        here = at(i, k)
        if sc is not None and here == at(i - 1, k - 1) + sc:
            out.append((i - 1, k - 1)); i -= 1; k -= 1
        elif k and here == at(i, k - 1) + NEW_ROW:   # new rows go late in a gap
            out.append((None, k - 1)); k -= 1
        else:
            out.append((i - 1, None)); i -= 1
    return at(n, m), out[::-1]
