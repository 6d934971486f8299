"""Mistakes a user makes outside one bad line: files with no network, command-line overrides of
the wrong kind, edits that name what an earlier edit took away, a base from an included file,
tabs under the caret. Each gets a clear message and the documented exit code, never a traceback."""
from __future__ import annotations

import shutil

import pytest

import netc

from conftest import ROOT, run_cli

NO_NETWORK = {
    "empty.net": "",
    "comment.net": "# nothing but a comment\n",
    "settings.net": "input 32x32 RGB\nvar n = 10\n",
}


@pytest.mark.parametrize("name", sorted(NO_NETWORK))
@pytest.mark.parametrize("cmd", [["check"], ["summary"], ["table"], ["render", "-o", "x.dot"], ["compile", "-o", "x.pt"]])
def test_a_file_without_a_network_is_an_error(tmp_path, name, cmd):
    (tmp_path / name).write_text(NO_NETWORK[name])
    p = run_cli(*cmd[:1], name, *cmd[1:], cwd=tmp_path)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert f"{name}:1:1: error: no network to build: it has no layers" in p.stderr
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr
    assert netc.check(NO_NETWORK[name], filename=name)[0].message.startswith("no network to build")


def test_a_library_of_blocks_checks_and_says_so(tmp_path):
    (tmp_path / "lib.net").write_text("block unit(c) {\n    conv3-c\n}\nblock pair(c) {\n    unit(c) x2\n}\n")
    p = run_cli("check", "lib.net", cwd=tmp_path)
    assert p.returncode == 0 and "no configurations; blocks: unit, pair" in p.stdout
    p = run_cli("summary", "lib.net", cwd=tmp_path)
    assert p.returncode == 1 and "it has 2 blocks but no layers outside them" in p.stderr


def test_set_with_a_value_of_the_wrong_kind_is_a_usage_error():
    p = run_cli("summary", "vgg:D", "--set", "num_classes=abc")
    assert p.returncode == 2
    assert "cannot set num_classes=abc: 'num_classes' is a whole number in the spec (1000)" in p.stderr
    p = run_cli("summary", "vgg:D", "--set", "num_classes=2.5")
    assert p.returncode == 2
    assert netc.load("vgg:D", num_classes=20).output_shape == (20,)


def test_input_with_other_channels_is_refused_not_ignored():
    p = run_cli("summary", "vgg:D", "--input", "1x224x224")
    assert p.returncode == 2 and "--input gives 1 channel, but D takes 3" in p.stderr
    p = run_cli("summary", "vgg:D", "--input", "3x256x256", "--json")
    assert p.returncode == 0 and '"input": [\n    3,\n    256,\n    256\n  ]' in p.stdout


def test_input_size_is_held_to_the_parameter_budget():
    # fc6 grows with the map: at 99999x99999 VGG-D would have 2e13 parameters
    p = run_cli("summary", "vgg:D", "--input", "99999x99999")
    assert p.returncode == 1 and "more than the limit of 2,000,000,000" in p.stderr


def test_insert_after_a_replaced_layer_goes_after_its_replacement():
    text = ("input 32x32 RGB\nconfig A {\n    conv3-16\n    conv3-16\n    maxpool\n    gap\n    FC-10\n}\n"
            "config B extends A {\n    replace conv1_1, conv1_2 with conv5-16\n    insert bn after conv1_1\n"
            "    insert dropout(0.1) before conv1_2\n}\n")
    ir = netc.loads(text, config="B")
    assert [(n.kind, n.paper) for n in ir.layers()][:4] == [
        ("dropout", "dropout(0.1)"), ("conv", "conv5-16"), ("bn", "BN"), ("maxpool", "maxpool")]


def test_a_base_from_an_included_file_brings_its_input(tmp_path):
    shutil.copy(ROOT / "specs" / "vgg.net", tmp_path / "vgg.net")
    (tmp_path / "mine.net").write_text('include "vgg.net"\nconfig B-bn extends B {\n    insert bn after conv1_1\n}\n')
    ir = netc.load(tmp_path / "mine.net", config="B-bn")
    assert ir.input_shape == (3, 224, 224)
    assert ir.params == netc.load("vgg:B").params + 2 * 64


def test_a_derived_configuration_may_override_the_input():
    text = "input 32x32 RGB\nconfig A {\n    conv3-8\n    gap\n    FC-10\n}\nconfig G extends A {\n    input 32x32 gray\n}\n"
    assert netc.loads(text, config="G").input_shape == (1, 32, 32)


def test_caret_under_the_culprit_on_a_tab_indented_line():
    text = "input 32x32 RGB\nconfig a {\n\tconv3-16(groups=5)\n\tgap\n\tFC-10\n}\n"
    [err] = netc.check(text, filename="t.net")
    lines = err.render().splitlines()
    quoted, caret = lines[1], lines[2]
    assert quoted == " 3 |     conv3-16(groups=5)"
    assert caret.index("^") == quoted.index("conv3-16") and caret.count("~") == len("conv3-16") - 1


def test_check_reports_a_syntax_error_and_goes_on_to_the_next_file(tmp_path):
    (tmp_path / "a.net").write_text("input 32x32 RGB\nconv3-8 (\n")
    (tmp_path / "b.net").write_text("input 32x32 RGB\nconv3-8\ngap\nFC-10\n")
    p = run_cli("check", "a.net", "b.net", cwd=tmp_path)
    assert p.returncode == 1
    assert "a.net:2:10: error: unexpected end of line" in p.stderr and p.stderr.rstrip().endswith("1 error")
    assert "b.net  main  2 weight layers" in p.stdout


def test_fmt_locates_a_byte_that_is_not_utf8(tmp_path):
    (tmp_path / "l.net").write_bytes(b"input 32x32 RGB\n# caf\xe9\nconv3-8\n")
    p = run_cli("fmt", "--check", "l.net", cwd=tmp_path)
    assert p.returncode == 1 and "l.net:2:6: error: the file is not UTF-8 text" in p.stderr


def test_strides_beyond_any_image_are_a_located_error():
    huge = "9" * 9                      # a stride below 2^31, fifty times over
    [e] = netc.check(f"input HxW RGB\nconv3-8\nmaxpool2/{huge} x50\ngap\nFC-10\n", "h.net")
    assert e.line == 3 and "more than 2^64 pixels" in e.message


def test_an_error_in_an_included_file_says_where_it_was_included(tmp_path):
    (tmp_path / "bad.net").write_text("block b() {\n  conv3-8 (\n}\n")
    (tmp_path / "main.net").write_text('input 32x32 RGB\ninclude "bad.net"\nconv3-8\ngap\nFC-10\n')
    p = run_cli("check", "main.net", cwd=tmp_path)
    assert p.returncode == 1
    lines = p.stderr.splitlines()
    assert lines[0].startswith(str(tmp_path / "bad.net") + ":2:12: error: unexpected end of line")
    assert "main.net:2:1: note: in the file included here" in p.stderr


def test_python_api_misuse_is_a_usage_error():
    ir = netc.load("vgg:A")
    with pytest.raises(netc.UsageError, match="not an IR"):
        netc.load(ir)
    with pytest.raises(netc.UsageError, match="two configurations asked for"):
        netc.load("vgg:D", config="A")
    assert netc.load("vgg:D", config="D").config == "D"
    with pytest.raises(netc.UsageError, match="not bytes: decode it first"):
        netc.loads(b"input 32x32 RGB\nFC-10\n")
    with pytest.raises(netc.UsageError, match="not NoneType"):
        netc.check(None)


def test_a_budget_error_says_how_to_move_the_budget():
    pytest.importorskip("torch")
    with pytest.raises(netc.NetcError) as e:
        netc.compile("vgg:E", budget=1000)
    assert "pass a larger budget=N" in e.value.hint
    assert netc.LIMITS["max_params"] == 2_000_000_000        # restored


@pytest.mark.parametrize("kw,words", [({"dtype": "float65"}, "unknown dtype"), ({"dtype": "int64"}, "not a floating"),
                                      ({"device": "gpu"}, "unknown device 'gpu'")])
def test_compile_options_of_the_wrong_kind(kw, words):
    pytest.importorskip("torch")
    with pytest.raises(netc.UsageError, match=words):
        netc.compile(netc.loads("input 8x8 RGB\nconv3-4\ngap\nFC-2\n"), **kw)
