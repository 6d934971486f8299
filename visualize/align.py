"""Row alignment for side-by-side tables: which layers of several configurations share a row.

Columns of one ``table`` in the spec share that table's rows (matched by source span); any other
configuration is aligned against the rows so far by a global (Needleman-Wunsch) alignment in
which a layer may share a row with the same layer or one of its kind.

>>> class L:  # a stand-in for an IR node: what alignment looks at
...     def __init__(self, paper, kind): self.paper, self.kind = paper, kind
>>> al = Alignment(2); first = al.new(None)
>>> place_aligned(al, 0, [L("conv3-64", "conv"), L("maxpool", "maxpool")], -1, first)
>>> place_aligned(al, 1, [L("conv3-64", "conv"), L("LRN", "lrn"), L("maxpool", "maxpool")], 0, first)
>>> [[c and c.paper for c in s.cells] for s in al.slots[1:]]
[['conv3-64', 'conv3-64'], [None, 'LRN'], ['maxpool', 'maxpool']]
"""
from __future__ import annotations

from dataclasses import dataclass, field

from netc.dsl import ast

@dataclass(eq=False)
class Slot:
    """One aligned row: at most one node per column."""
    cells: list
    spanning: bool = True      # may span when every column has the same layer
    origin: tuple | None = None   # (table id, AST row index, sub-row) for table rows


@dataclass
class Alignment:
    n: int
    slots: list[Slot] = field(default_factory=list)

    def new(self, after: Slot | None, **kw) -> Slot:
        s = Slot([None] * self.n, **kw)
        self.slots.insert(self.slots.index(after) + 1 if after is not None else len(self.slots), s)
        return s



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


def place_table(al: Alignment, j: int, items: list, table: ast.Table, column: int, first: Slot) -> None:
    spans = _cell_spans(table, column)
    last = first
    counts: dict[int, int] = {}
    for n in items:
        ri = next((ri for ri, sp in spans if _inside(n, sp)), None)
        if ri is None:
            slot = al.new(last)
        else:
            k = counts.get(ri, 0)
            counts[ri] = k + 1
            slot = _table_slot(al, (id(table), ri, k), table.rows[ri].spanning, last)
        slot.cells[j] = n
        last = slot


def _table_slot(al: Alignment, origin: tuple, spanning: bool, last: Slot) -> Slot:
    for s in al.slots:
        if s.origin == origin:
            return s
    # a table's rows appear in table order; a new one goes after the last slot of an earlier row
    before = [s for s in al.slots if s.origin and s.origin[0] == origin[0] and s.origin[1:] < origin[1:]]
    after = max(before, key=al.slots.index) if before else last
    return al.new(after, spanning=spanning, origin=origin)


def place_aligned(al: Alignment, j: int, own: list, ref: int, first: Slot) -> None:
    """Global alignment (Needleman-Wunsch) of this column's layers against the rows so far:
    a layer may share a row with the same layer (best in the reference column) or one of its
    kind; otherwise it gets a row of its own."""
    slots = al.slots[1:]
    path = _nw([lambda it, s=s: _score(s, it, ref, j) for s in slots], own)
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


def _score(slot: Slot, item, ref: int, j: int) -> float | None:
    """How well ``item`` fits an existing row (None: it may not share it)."""
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


def _nw(rows: list, items: list) -> list[tuple[int | None, int | None]]:
    n, m = len(rows), len(items)
    neg = float("-inf")
    dp = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        dp[i][0] = i * SKIP_ROW
    for k in range(1, m + 1):
        dp[0][k] = k * NEW_ROW
    for i in range(1, n + 1):
        for k in range(1, m + 1):
            sc = rows[i - 1](items[k - 1])
            dp[i][k] = max(dp[i - 1][k - 1] + sc if sc is not None else neg,
                           dp[i - 1][k] + SKIP_ROW, dp[i][k - 1] + NEW_ROW)
    out, i, k = [], n, m
    while i or k:
        sc = rows[i - 1](items[k - 1]) if i and k else None
        if sc is not None and dp[i][k] == dp[i - 1][k - 1] + sc:
            out.append((i - 1, k - 1)); i -= 1; k -= 1
        elif k and dp[i][k] == dp[i][k - 1] + NEW_ROW:   # new rows go late in a gap
            out.append((None, k - 1)); k -= 1
        else:
            out.append((i - 1, None)); i -= 1
    return out[::-1]
