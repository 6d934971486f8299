"""netc fmt: the bundled specs are its identity corpus; messy text gets the canonical layout with
every comment kept; parse(fmt(x)) builds the same IR as parse(x); fmt(fmt(x)) == fmt(x)."""
from __future__ import annotations

import io
import random
import re
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings

import netc
from netc.tools.cli import main
from netc.dsl import fmt
from netc.dsl.fmt import format_text, structure

from conftest import ROOT, run_cli
from strategies import specs

SPECS = sorted((ROOT / "specs").glob("*.net"))


def ir_key(ir) -> tuple:
    """What a round-trip must preserve: every node (name, kind, word, params, shape, counts) and edge."""
    nodes = tuple((n.name, n.kind, n.word, repr(n.params), n.shape, n.sym_shape and str(n.sym_shape), n.n_params,
                   n.macs, n.act, n.aux, n.scope) for n in ir.nodes())
    edges = tuple(sorted((u, v, d.get("port", 0)) for u, v, d in ir.graph.edges(data=True)))
    return nodes, edges, ir.params, ir.macs, tuple((a.name, a.attach, a.weight) for a in ir.aux)


def irs_of(text: str, filename: str) -> dict:
    prog = netc.Program.from_text(text, filename)
    prog.raise_errors()
    return {name: ir_key(netc.build_config(prog, name)) for name in prog.own_configs()}


# ------------------------------------------------------------------ identity corpus
@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_bundled_specs_are_canonical(path):
    src = path.read_text()
    assert format_text(src, str(path)) == src


def test_cli_check_passes_on_bundled_specs():
    r = run_cli("fmt", "--check", *map(str, SPECS))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == ""


# ------------------------------------------------------------------ messy -> canonical (golden, by hand)
MESSY = """\


# header comment
input   224x224   RGB
var num_classes=1000   # overridable



block unit(c, k=3) {  conv1-c
  concat as cat {
     conv1-c
       conv3-c->maxpool3/1(pad=1,ceil)   # branch two
     {
        conv5-c
        LRN
     }
  }
    # closing remark
}
config base {  conv3-64 x3 as c
  unit( 16 ) ×2
  spp[ 4 , 2,1 ]
  FC-num_classes
  aux side on c_1 weight 0.3 { FC-10 }
}
config small extends base { num_classes = 10
   remove side
   insert dropout( 0.5 ) before fc1
}
table A|A-LRN|B {
conv3-64|conv3-64|conv3-64
|LRN|
  maxpool
conv3-128 |   | conv3-128 -> conv3-128  # last
}
"""

CANONICAL = """\
# header comment
input 224x224 RGB
var num_classes = 1000   # overridable

block unit(c, k=3) {
    conv1-c
    concat as cat {
        conv1-c
        conv3-c -> maxpool3/1(pad=1, ceil)   # branch two
        {
            conv5-c
            LRN
        }
    }
    # closing remark
}
config base {
    conv3-64 x3 as c
    unit(16) x2
    spp[4,2,1]
    FC-num_classes
    aux side on c_1 weight 0.3 { FC-10 }
}
config small extends base {
    num_classes = 10
    remove side
    insert dropout(0.5) before fc1
}
table A         | A-LRN    | B {
      conv3-64  | conv3-64 | conv3-64
                | LRN      |
      maxpool
      conv3-128 |          | conv3-128 -> conv3-128  # last
}
"""


def test_messy_text_gets_the_canonical_layout():
    assert format_text(MESSY) == CANONICAL


def test_idempotent_and_same_meaning():
    assert format_text(CANONICAL) == CANONICAL
    assert structure(netc.parse(CANONICAL)) == structure(netc.parse(MESSY))


def test_every_comment_is_kept_in_order():
    out = format_text(MESSY)
    assert [c for _, c in netc.parse(out).comments] == [c.rstrip() for _, c in netc.parse(MESSY).comments]


def test_words_and_numbers_are_kept_as_written():
    src = "input 32x32 RGB\nconv3-16\nLRN(alpha=1e-4, k=1.0)\nsoft-max\nsoftmax as p2\n"
    out = format_text(src)
    assert out == src
    assert "1e-4" in out and "1.0" in out and "soft-max" in out


def test_aligned_trailing_comments_stay_aligned():
    src = textwrap.dedent("""\
        config g {
          input 224x224 RGB
          conv7-64/2 as conv1        # a
          maxpool3/2(ceil) as pool1  # bb
          FC-10 # lone
        }
        """)
    out = format_text(src).splitlines()
    assert out[2].index("#") == out[3].index("#") == 31   # the old column (29) no longer fits
    assert out[4] == "    FC-10 # lone"


def test_editor_spellings_become_canonical():
    """A byte-order mark is dropped, CRLF and CR become LF, `x 2`, `X2`, `× 2` become x2 and 224X224 224x224."""
    canonical = "input 224x224 RGB\nconv3-16 x2 as c   # two\nFC-10\n"
    for src in ("\ufeffinput 224x224 RGB\r\nconv3-16 x 2 as c   # two\r\nFC-10\r\n",
                "input 224X224 RGB\rconv3-16 X2 as c   # two\rFC-10\r",
                "input 224\u00d7224 RGB\nconv3-16 \u00d7 2 as c   # two\nFC-10\n"):
        out = format_text(src)
        assert out == canonical, repr(src)
        assert format_text(out) == out
        assert irs_of(src, "e.net") == irs_of(out, "e.net")


def test_a_syntax_error_is_reported_not_formatted():
    with pytest.raises(netc.SpecSyntaxError) as e:
        format_text("input 32x32 RGB\nconv3-16(\n")
    assert e.value.line == 2


def test_refuses_rather_than_change_the_meaning(monkeypatch):
    """The self-check: if the layout code ever dropped something, fmt refuses instead of writing."""
    real = fmt.chain
    monkeypatch.setattr(fmt, "chain", lambda c: real(c).replace("conv3-16", "conv3-17"))
    with pytest.raises(netc.NetcError, match="without changing it"):
        format_text("input 32x32 RGB\nconv3-16\nFC-10\n")


# ------------------------------------------------------------------ round trip on ugly bundled specs
def uglify(text: str, rng: random.Random) -> str:
    """Meaning-preserving damage to layout: indentation, spacing inside lines, alignment, blank lines.
    Lines with a trailing comment keep their text (fmt keeps the gap before such a comment)."""
    out = []
    for line in text.split("\n"):
        code = line.split("#", 1)[0]
        if "#" in line or not code.strip():
            out.append(line)
            if not code.strip() and not line.strip() and rng.random() < 0.5:
                out.append("")           # doubled blank line
            continue
        body = code.strip()
        body = re.sub(r"\s*\|\s*", lambda m: rng.choice(["|", " | ", "  |", "|   "]), body)
        body = re.sub(r",\s*", lambda m: rng.choice([",", ", ", " ,  "]), body)
        body = re.sub(r"\s+->\s+", lambda m: rng.choice([" -> ", "  ->   "]), body)
        body = re.sub(r" +", lambda m: " " * rng.randint(1, 3), body)
        out.append(rng.choice(["", " ", "  ", "\t", "        "]) + body)
    return "\n".join(out)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_fmt_undoes_layout_damage_to_bundled_specs(path):
    src = path.read_text()
    rng = random.Random(path.name)
    for _ in range(3):
        ugly = uglify(src, rng)
        assert structure(netc.parse(ugly)) == structure(netc.parse(src))
        assert format_text(ugly, str(path)) == src


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_round_trip_builds_the_same_ir(path):
    src = path.read_text()
    ugly = uglify(src, random.Random(1))
    out = format_text(ugly, str(path))
    assert irs_of(out, str(path)) == irs_of(src, str(path))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_round_trip_on_generated_specs(gen):
    once = format_text(gen.text)
    assert format_text(once) == once
    assert irs_of(once, "gen.net") == irs_of(gen.text, "gen.net")


# ------------------------------------------------------------------ the command (in-process: fast)
def cli(capsys, *args, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["fmt", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_rewrites_in_place_and_check_lists(tmp_path, capsys):
    f = tmp_path / "m.net"
    f.write_text(MESSY)
    good = tmp_path / "good.net"
    good.write_text(CANONICAL)
    code, out, _ = cli(capsys, "--check", str(f), str(good))
    assert code == 1 and out.split() == [str(f)]
    assert f.read_text() == MESSY
    code, out, _ = cli(capsys, "--diff", str(f))
    assert code == 0 and "+    conv3-64 x3 as c" in out and f.read_text() == MESSY
    code, _, err = cli(capsys, str(f), str(good))
    assert code == 0 and err.strip() == f"formatted {f}"
    assert f.read_text() == CANONICAL and good.read_text() == CANONICAL
    assert cli(capsys, "--check", str(f))[0] == 0


def test_cli_stdin(capsys, monkeypatch):
    assert cli(capsys, "-", stdin=MESSY, monkeypatch=monkeypatch)[:2] == (0, CANONICAL)
    code, out, err = cli(capsys, "--check", "-", stdin=MESSY, monkeypatch=monkeypatch)
    assert code == 1 and "<stdin>" in out + err


def test_cli_bad_file_is_left_alone(tmp_path, capsys):
    f = tmp_path / "bad.net"
    f.write_text("input 32x32 RGB\nconv3-16(\n")
    code, _, err = cli(capsys, str(f))
    assert code == 1 and "bad.net:2:" in err and "Traceback" not in err
    assert f.read_text() == "input 32x32 RGB\nconv3-16(\n"
    assert cli(capsys, str(tmp_path / "missing.net"))[0] == 2


def test_docstring_examples():
    import doctest
    result = doctest.testmod(fmt)
    assert result.attempted >= 2 and result.failed == 0


def test_an_if_branch_of_a_join_is_not_wrapped_in_braces():
    """A join's branch that is one ``if`` (ResNet's projection-or-identity shortcut) stays as
    written: fmt used to wrap it in a redundant ``{ ... }``, which parses to the same tree."""
    text = textwrap.dedent("""\
        input 32x32 RGB
        block unit(c, project=false) {
            add {
                conv3-c
                if project {
                    conv1-c as downsample
                } else {
                    identity
                }
            }
        }
        unit(16, project=true)
        """)
    assert format_text(text) == text
    assert structure(netc.parse(format_text(text))) == structure(netc.parse(text))
