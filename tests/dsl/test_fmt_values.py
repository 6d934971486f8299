"""netc fmt on arithmetic and on conditions inside joins: the parentheses a value needs and a
unary minus are written back as the spec wrote them (they used to be dropped, which changed the
meaning, so fmt refused the file), and an `if` or `let` that is a whole branch of a join is not
wrapped in braces."""
from __future__ import annotations

import pytest

import netc
from netc.dsl.fmt import format_text


@pytest.mark.parametrize("text", [
    "drop-path(0.1 * b / (blocks - 1))\n",      # ConvNeXt's rate: without the parentheses, another value
    "conv(out=(n - 1) * 2, k=1)\n",
    "conv(out=-(n - 2) * 3, k=1)\n",
    "conv(out=-n * 3, k=1)\n",
    "conv(out=0 - n, k=1)\n",
    "conv(out=max(1, (c + 3) / 4), k=1)\n",
    "x = not (a and b)\n",
    "conv3-8 x(n-1)\n",
    "conv3-8 x((n - 1) * 2)\n",
])
def test_values_are_written_back_as_written(text):
    assert format_text(text) == text


def test_spacing_in_values_becomes_canonical():
    assert format_text("conv(out=- n*( n-1 ),k=1)\n") == "conv(out=-n * (n-1), k=1)\n"


def test_parentheses_keep_their_meaning():
    spec = ("input 8x8 RGB\nvar n = 5\nconv(out=(n - 1) * 2, k=1)\nconv(out=-(1 - n) * 3, k=1)\n"
            "conv(out=24 / (n - 1), k=1)\ngap\nFC-10\n")
    assert format_text(spec) == spec
    ir = netc.loads(spec)
    assert [ir.graph.nodes[n]["node"].shape[0] for n in ("conv1_1", "conv1_2", "conv1_3")] == [8, 12, 6]


def test_an_if_or_let_branch_of_a_join_needs_no_braces():
    text = ("block b(t) {\n"
            "    residual {\n"
            "        if t != 1 {\n"
            "            conv1-8\n"
            "        } else {\n"
            "            conv3-8\n"
            "        }\n"
            "        let q = t * 2\n"
            "        conv3-q\n"
            "    }\n"
            "    concat {\n"
            "        {\n"
            "            let r = 2\n"
            "            conv1-r\n"
            "        }\n"
            "        if t > 2 {\n"
            "            conv1-4\n"
            "        }\n"
            "        identity\n"
            "    }\n"
            "}\n")
    assert format_text(text) == text
    assert format_text(text.replace("    ", "  ")) == text
