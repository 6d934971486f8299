"""Sequence alignment for ``netc diff``: a weighted edit distance, banded (Ukkonen) so that two
1,000-layer sequences that differ in a few places align in milliseconds, and exact all the same.

``align(a, b, cost)`` pairs the items of ``a`` with those of ``b``; ``cost(x, y)`` is the price of
pairing ``x`` with ``y`` (``None``: they cannot be paired), and leaving an item unpaired costs
``INDEL``. Among alignments of equal cost, pairs come as early as possible (so an insertion into a
run of equal layers is reported at the end of the run, where the paper prints the added row).

>>> align("abcd", "abxd", lambda x, y: 0 if x == y else None)
[('a', 'a'), ('b', 'b'), ('c', None), (None, 'x'), ('d', 'd')]

The band stops widening at ``MAX_CELLS`` table cells (two 20,000-layer networks that differ
everywhere would need 400 million): the alignment is then the cheapest within the band, still a
valid one, and ``notes`` (a list, if given) receives a sentence saying so.
"""
from __future__ import annotations

from typing import Callable, Sequence, TypeVar

T = TypeVar("T")
INDEL = 1_000_000
MAX_CELLS = 600_000
_INF = float("inf")


def align(a: Sequence[T], b: Sequence[T], cost: Callable[[T, T], int | None],
          notes: list | None = None) -> list[tuple[T | None, T | None]]:
    """The cheapest alignment of ``a`` and ``b`` as (a item or None, b item or None) pairs, in order."""
    p = 0
    while p < len(a) and p < len(b) and cost(a[p], b[p]) == 0:
        p += 1
    s = 0
    while s < len(a) - p and s < len(b) - p and cost(a[len(a) - 1 - s], b[len(b) - 1 - s]) == 0:
        s += 1
    head = [(a[i], b[i]) for i in range(p)]
    tail = [(a[len(a) - s + i], b[len(b) - s + i]) for i in range(s)]
    return head + _middle(a[p:len(a) - s], b[p:len(b) - s], cost, notes) + tail


def _middle(a, b, cost, notes=None):
    n, m = len(a), len(b)
    if not n or not m:
        return [(x, None) for x in a] + [(None, y) for y in b]
    w = 8
    while True:
        best, table, band = _banded(a, b, cost, w)
        # a path that leaves the band leaves more than w items of each side unpaired: it costs at
        # least (2w + 2) * INDEL, so a cheaper path inside the band is the cheapest of all
        if best < (2 * w + 2) * INDEL or w >= n + m:
            return _trace(a, b, cost, table, band)
        if (n + 1) * (2 * (2 * w) + abs(m - n) + 1) > MAX_CELLS:   # the next band is too large
            if notes is not None:
                notes.append(f"{n:,} and {m:,} layers differ in too many places to align exactly; "
                             f"this alignment is the best that keeps within {w} layers of the diagonal")
            return _trace(a, b, cost, table, band)
        w *= 2


def _banded(a, b, cost, w):
    """Suffix costs S[i][j] (aligning a[i:] with b[j:]) for j - i within the band."""
    n, m = len(a), len(b)
    lo, hi = min(0, m - n) - w, max(0, m - n) + w

    def band(i):
        return max(0, i + lo), min(m, i + hi)

    table: list = [None] * (n + 1)
    for i in range(n, -1, -1):
        j0, j1 = band(i)
        row = [_INF] * (j1 - j0 + 1)
        nxt, (n0, n1) = (table[i + 1], band(i + 1)) if i < n else (None, (1, 0))
        for j in range(j1, j0 - 1, -1):
            if i == n and j == m:
                row[j - j0] = 0
                continue
            v = _INF
            if j < m and j + 1 <= j1:
                v = INDEL + row[j + 1 - j0]
            if nxt is not None:
                if n0 <= j <= n1:
                    v = min(v, INDEL + nxt[j - n0])
                if j < m and n0 <= j + 1 <= n1:
                    c = cost(a[i], b[j])
                    if c is not None:
                        v = min(v, c + nxt[j + 1 - n0])
            row[j - j0] = v
        table[i] = row
    return table[0][0], table, band


def _trace(a, b, cost, table, band):
    """Walk the table from (0, 0): pair first, then leave an ``a`` item, then a ``b`` item."""
    n, m = len(a), len(b)

    def at(i, j):
        if i > n or j > m:
            return _INF
        j0, j1 = band(i)
        return table[i][j - j0] if j0 <= j <= j1 else _INF

    out, i, j = [], 0, 0
    while i < n or j < m:
        here = at(i, j)
        c = cost(a[i], b[j]) if i < n and j < m else None
        if c is not None and c + at(i + 1, j + 1) == here:
            out.append((a[i], b[j]))
            i, j = i + 1, j + 1
        elif i < n and INDEL + at(i + 1, j) == here:
            out.append((a[i], None))
            i += 1
        else:
            out.append((None, b[j]))
            j += 1
    return out
