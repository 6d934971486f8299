"""The integer helpers RegNet's width rule needs (log, pow, sqrt), checked against the rule itself.

Oracle: torchvision's regnet_y_400mf (depth 16, w_0 48, w_a 27.89, w_m 2.09) has the stage widths
48, 104, 208, 440 (its published model: block widths per stage)."""
import math

import pytest

import netc


def _width(j, w0=48, wa=27.89, wm=2.09, q=8):
    """RegNet's quantised width of block j, written with the language's helpers."""
    text = (f"input 8x8 RGB\nlet u = {w0} + {wa} * {j}\nlet s = round(log(u / {w0}, {wm}))\n"
            f"let w = int(round({w0} * pow({wm}, s) / {q}) * {q})\nconv1-w\n")
    return netc.loads(text).output_shape[0]


def test_regnet_width_rule_gives_torchvisions_stage_widths():
    widths = sorted({_width(j) for j in range(16)})
    assert widths == [48, 104, 208, 440]


def test_helpers_agree_with_math():
    text = "input 8x8 RGB\nlet a = int(log(1024, 2))\nlet b = int(pow(3, 4))\nlet c = int(sqrt(49))\nlet d = a + b + c\nconv1-d\n"
    assert netc.loads(text).output_shape[0] == int(math.log(1024, 2)) + 3 ** 4 + 7


@pytest.mark.parametrize("expr, message", [("log(0)", "log needs a positive number"),
                                           ("log(8, 1)", "positive base other than 1"),
                                           ("sqrt(0-4)", "sqrt needs a number that is not negative"),
                                           ("pow(2, 100)", "out of range")])
def test_helpers_refuse_bad_arguments_with_a_span(expr, message):
    with pytest.raises(netc.NetcError) as e:
        netc.loads(f"input 8x8 RGB\nlet w = int({expr})\nconv1-w\n")
    assert message in str(e.value)
