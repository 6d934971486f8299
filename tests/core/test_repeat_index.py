"""An index in repetition: ``layer x n for i`` numbers the copies i = 0 ... n-1 and the line's
arguments read i (per-block stochastic-depth rates without ``if n > k`` ladders). The oracle is
the same network written out copy by copy; errors are located at the index or at its misuse;
the cost stays bounded before and during expansion."""
from __future__ import annotations

import textwrap

import pytest

import netc
from netc.dsl.errors import LimitError
from netc.dsl.limits import LIMITS

from work import calls_made

BLOCK = """\
input 32x32 RGB
var rate = 0.3
var total = 7

block blk(c, b) {
    residual {
        conv3-c as conv
        drop-path(rate * b / (total - 1)) as dp
    }
}

block stage(c, n, first) {
    %s
}

conv3-8 as stem
stage(8, 3, 0)
stage(8, 4, 3)
gap
FC-10
"""

# the ladder the index replaces, as the bundled ConvNeXt and EfficientNet were written
LADDER = """blk(c, first)
    if n > 1 {
        blk(c, first + 1)
    }
    if n > 2 {
        blk(c, first + 2)
    }
    if n > 3 {
        blk(c, first + 3)
    }"""


def key(ir) -> list:
    return [(n.name, n.kind, repr(n.params), n.shape, n.n_params, n.macs, n.scope) for n in ir.nodes()]


def messages(text: str) -> list[tuple[str, int, int, str | None]]:
    return [(e.message, e.span.line, e.span.col, e.hint) for e in netc.check(textwrap.dedent(text), "t.net")]


def test_indexed_blocks_equal_the_ladder_written_out():
    ladder = netc.loads(BLOCK % LADDER)
    indexed = netc.loads(BLOCK % "blk(c, first + i) x n for i")
    assert key(indexed) == key(ladder)
    rates = [n.params.p for n in indexed.nodes() if n.kind == "droppath"]
    assert rates == pytest.approx([0.3 * b / 6 for b in range(7)])
    assert [n.name for n in indexed.nodes() if n.kind == "droppath"][:4] == \
        ["stage_1/blk_1/dp", "stage_1/blk_2/dp", "stage_1/blk_3/dp", "stage_2/blk_1/dp"]


def test_indexed_builtin_layers_with_a_name_and_a_paper_word():
    ir = netc.loads("input 32x32 RGB\nconv3-16(stride=1 + i) x 3 for i as down\nFC(out=10 + i) x 2 for i\n")
    assert [(n.name, n.params.stride, n.shape) for n in ir.nodes() if n.kind == "conv"] == \
        [("down_1", 1, (16, 32, 32)), ("down_2", 2, (16, 16, 16)), ("down_3", 3, (16, 6, 6))]
    assert [n.shape for n in ir.nodes() if n.kind == "fc"] == [(10,), (11,)]


def test_index_counted_by_a_variable_may_be_zero_and_nests():
    text = """\
        input 32x32 RGB
        var n = 1
        block unit(c, j) {
            conv(k=1, out=c + j + i) x 2 for i
        }
        conv3-8
        conv3-8(groups=1 + i) x(n - 1) for i
        unit(8, 4 * i) x 2 for i
        FC-10
        """
    ir = netc.loads(textwrap.dedent(text))
    # x(n-1) with n = 1: no copy; the outer i (0, 1) reaches the block as j (0, 4), the inner i is its own
    assert [n.shape[0] for n in ir.nodes() if n.kind == "conv"] == [8, 8, 9, 12, 13]


@pytest.mark.parametrize("line, message, col, hint", [
    ("conv3-8 for i", "'for i' numbers the copies of a repetition, and conv3-8 is not repeated", 13,
     "write the count first: conv3-8 x 3 for i"),
    ("conv3-8 x 2 for rate", "the index 'rate' would hide the variable 'rate' (= 0.3)", 17,
     "name the index differently: conv3-8 x ... for i"),
    ("conv3-8 x 2 for c-1", "an index is a plain name such as i, not 'c-1'", 17, "for example: conv3-8 x n for i"),
    ("conv3-8(pad=1 / (2 - i)) x 3 for i", "division by zero", 13, None),
    ("conv3-8 x(i-1) for i", "the count of a repetition cannot read its own index 'i'", 9,
     "the copies are numbered 0 ... n-1 once n is known: conv3-8 x n for i"),
    ("conv3-8 x(2 * foo) for i", "'*' needs numbers, but 'foo' is not a number or a declared variable", 11,
     "declare it: var NAME = VALUE, or pass it as a block parameter"),
])
def test_index_errors_are_located(line, message, col, hint):
    got = messages(f"input 32x32 RGB\nvar rate = 0.3\n{line}\nFC-10\n")
    assert got == [(message, 3, col, hint)]


def test_an_index_used_outside_its_line_is_an_error_there():
    text = """\
        input 32x32 RGB
        block blk(c) {
            conv3-c(stride=1 + i)
        }
        blk(8) x 2 for i
        conv3-8(stride=i) x 3 for j
        FC-i
        """
    got = messages(text)
    assert [(m, line, col) for m, line, col, _ in got] == [
        ("'i' is used outside its repetition: it is the index of blk x ... for i (line 5)", 3, 24),
        ("'i' is used outside its repetition: it is the index of blk x ... for i (line 5)", 6, 16),
        ("unknown variable 'i' in 'FC-i'", 7, 1)]
    assert all("blk(c, i) x n for i" in h for *_, h in got)
    # one error for the misused name: no second 'must be a whole number (got ?)' for the stride
    assert len(netc.check(textwrap.dedent(text).replace("FC-i", "FC-10"), "t.net")) == 2


def test_an_index_shadowing_a_block_parameter_or_let():
    got = messages("""\
        input 32x32 RGB
        block b(c) {
            let k = 2
            conv3-c x 2 for c
            conv3-c x 2 for k
        }
        b(8)
        FC-10
        """)
    assert [(m, line, col) for m, line, col, _ in got] == [
        ("the index 'c' would hide the block parameter or let 'c' (= 8)", 4, 21),
        ("the index 'k' would hide the block parameter or let 'k' (= 2)", 5, 21)]


def test_an_error_in_one_copy_is_reported_once():
    errs = netc.check("input 32x32 RGB\nconv3-8(stride=0 * i) x 50 for i\nFC-10\n", "t.net")
    assert len(errs) == 1 and "stride" in errs[0].message
    assert [(m, s.col) for m, s in errs[0].notes] == [("in the copy i = 0 of the repetition", 32)]


def test_max_layers_stops_an_indexed_repetition_inside_blocks():
    """Counts from variables are not bounded before expansion (x n may be 0): the copies are counted
    as they are made, inside blocks too, so 10^8 layers are never built (for the indexed and the plain
    repetition alike)."""
    assert netc.check("input 32x32 RGB\nconv3-8\nFC-10\n", "t.net") == []
    for suffix in (" for i", ""):
        text = ("input 32x32 RGB\nvar n = 10000\nblock b1() {\n    conv3-8 x n%s\n}\nblock b2() {\n"
                "    b1() x n%s\n}\nb2()\nFC-10\n") % (suffix, suffix)
        errs, calls, _ = calls_made(lambda: netc.check(text, "t.net"))
        limit = [e for e in errs if isinstance(e, LimitError)]
        assert limit and f"more than {LIMITS['max_layers']:,} layers" in limit[0].message
        assert (limit[0].span.line, limit[0].span.col) == (7, 5)
        assert calls < 3_000_000, calls      # 10^8 layers would take 10^8 calls at least


def test_literal_counts_with_an_index_are_refused_before_expansion():
    e = [x for x in netc.check("input 32x32 RGB\nconv3-8(stride=1 + i % 2) x10001 for i\nFC-10\n", "t.net")]
    assert e and "repetition must be between 1 and 10,000" in e[0].message
    block = "input 32x32 RGB\nblock b(s) {\n    conv3-8(stride=s)\n    conv3-8\n    conv3-8\n}\nb(1 + i % 2) x 9000 for i\nFC-10\n"
    errs, calls, _ = calls_made(lambda: netc.check(block, "t.net"))
    assert errs and "more than 20,000 layers" in errs[0].message and errs[0].span.line == 7
    assert calls < 20_000, calls             # refused from the syntax tree, before any copy is made
