"""Every reproduction of the hardening issue (D1-D20) as a regression test.

Each CLI case runs in a subprocess under a memory cap and a generous timeout (its expiry fails
the test). Speed itself is not measured here (bench/bench_adversarial.py does): each case counts
the work its fix bounded instead (layers elaborated, nodes built, Python calls made, files parsed,
errors rendered, bytes read), in process, so that the old behaviour fails at once and a slow or
busy machine does not. The reproductions are in tests/adversarial/ (see its README); the large
ones are generated here.
"""
from __future__ import annotations

import importlib
import builtins
import io
import keyword
import os
import resource
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from work import calls_made, count_calls  # noqa: E402

import netc
from netc.elaborate import resolve
from netc.passes import shapes
from netc.dsl.errors import LimitError, NetcError, UsageError

from conftest import ROOT

ADV = ROOT / "tests" / "adversarial"
GB = 1 << 30


def _cap(mem: int, fsize: int | None):
    def pre():
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        if fsize is not None:                      # a full disk: writes past fsize fail (EFBIG)
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    return pre


NETC = [str(Path(sys.executable).parent / "netc")] if (Path(sys.executable).parent / "netc").exists() \
    else [sys.executable, "-m", "netc.tools.cli"]    # the command users run (python -m puts the cwd first itself)


def cli(*args, cwd=None, mem=3 * GB, fsize=None, stdin=None, timeout=300):
    """(returncode, stdout, stderr) of ``netc ARGS`` under a memory cap; past ``timeout`` seconds
    (generous: minutes where the fixed program takes about a second) subprocess raises and the
    test fails."""
    p = subprocess.run([*NETC, *map(str, args)], capture_output=True, cwd=cwd or ROOT,
                       input=stdin, timeout=timeout, preexec_fn=_cap(mem, fsize))
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


# ------------------------------------------------------------------ counting the work
WORK = {"layers": (resolve._Resolver, "_layer"),        # layer statements elaborated
        "blocks": (resolve._Resolver, "_block"),        # block calls elaborated
        "errors": (resolve._Resolver, "err"),           # diagnostics the resolver made
        "namings": (resolve, "name_items"),             # naming passes over a configuration
        "nodes": (shapes, "_infer_node")}               # node shapes inferred (once per input size)


def _warm() -> None:
    """The first check in a process loads the parser's tables and the layer kinds: not counted."""
    assert netc.check("input 8x8 RGB\nblock b() {\n  relu\n}\nb\nFC-2\n") == []


@pytest.fixture
def work(monkeypatch) -> Counter:
    """Calls of the functions in WORK while the test runs (after a warm-up), by WORK's names."""
    _warm()
    return count_calls(monkeypatch, WORK)


def check_file(path: Path) -> list:
    return netc.check(path.read_text(), str(path))


@pytest.fixture
def renders(monkeypatch) -> list:
    """Diagnostics rendered (quoted with their line) while the test runs."""
    seen: list = []
    real = NetcError.render

    def counted(self, *a, **k):
        seen.append(1)
        return real(self, *a, **k)
    monkeypatch.setattr(NetcError, "render", counted)
    return seen


def cli_here(capsys, *args) -> tuple[int, str, str]:
    """``netc ARGS`` in this process (so that the work fixtures count it)."""
    from netc.tools.cli import main
    try:
        code = main([str(a) for a in args])
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def gen(script: str, *args) -> str:
    return subprocess.run([sys.executable, str(ADV / script), *map(str, args)], capture_output=True, text=True,
                          check=True).stdout


# ------------------------------------------------------------------ D1, D2, D9: cost decided first
@pytest.mark.parametrize("name", ["R01_empty_blocks.net", "R01b_empty_blocks_x100.net", "R02_exp_blocks_d20.net"])
def test_expansion_beyond_max_layers_is_refused_at_once(name, work):
    code, _, err = cli("check", ADV / name, timeout=120)
    assert code == 1 and "more than 20,000 layers" in err and "every node counts" in err
    # refused from the sizes alone: nothing elaborated, no node built (20,000 before the fix)
    errs, calls, _ = calls_made(lambda: check_file(ADV / name))
    assert "more than 20,000 layers" in errs[0].message
    assert work["layers"] <= 2 and work["blocks"] == 0 and work["nodes"] == 0, work
    assert calls < 20_000, f"{calls:,} Python calls for a spec refused before elaboration"


@pytest.mark.parametrize("depth", [20, 60, 200])
@pytest.mark.parametrize("leaf", ["relu", ""])
def test_doubling_blocks_at_any_depth(depth, leaf, work):
    text = gen("gen_exp.py", depth, 2, leaf)
    errs, calls, _ = calls_made(lambda: netc.check(text, "e.net"))
    assert work["layers"] <= 2 and work["blocks"] == 0 and work["nodes"] == 0, work   # 2^depth before the fix
    assert calls < 500 * depth + 20_000, f"{calls:,} Python calls"     # linear in the text, not 2^depth
    assert [type(e) for e in errs] == [LimitError]
    assert "more than 20,000 layers" in errs[0].message or "deeper than" in errs[0].message


def test_every_node_counts_towards_max_layers(monkeypatch):
    monkeypatch.setitem(netc.LIMITS, "max_layers", 10)
    empty = "input 8x8 RGB\nblock e() {\n}\ne x10\n"
    assert netc.check(empty) == [] and len(netc.loads(empty)) == 11      # 10 identities + the input
    assert "more than 10 layers" in netc.check(empty.replace("x10", "x11"))[0].message
    joins = "input 8x8 RGB\nadd {\n  relu\n  relu\n}\n" * 1 + "relu x7\n"  # 2 relus + add + 7 = 10
    assert netc.check(joins) == []
    assert "more than 10 layers" in netc.check(joins.replace("x7", "x8"))[0].message


def test_errors_through_many_calls_are_reported_once(work, renders, capsys):
    code, _, err = cli("check", ADV / "R03_exp_errors_d14.net", timeout=120)
    assert code == 1 and err.count("error: unknown layer 'maxpol'") == 1 and err.rstrip().endswith("1 error")
    # 2^14 calls of a block with a typo: each call elaborated once, the error made once per call
    # and rendered once
    code, _, err = cli_here(capsys, "check", ADV / "R03_exp_errors_d14.net")
    assert code == 1 and err.rstrip().endswith("1 error") and len(renders) == 1, len(renders)
    assert work["blocks"] < 2 ** 15 and work["layers"] < 3 * 2 ** 14 and work["errors"] <= 2 ** 14, work
    assert work["nodes"] <= 2 * (2 ** 14 + 1), work


def test_nesting_beyond_max_depth_is_refused_not_a_recursion_error():
    code, _, err = cli("check", ADV / "R07_recursion.net", timeout=120)
    assert code == 1 and "nest 373 deep once expanded, more than 100" in err
    assert "internal error" not in err
    # refused before elaborating 373 levels: the Python stack stays shallower than that
    _warm()
    errs, calls, deepest = calls_made(lambda: check_file(ADV / "R07_recursion.net"))
    assert "more than 100" in errs[0].message and deepest < 373, deepest


def test_the_deepest_nesting_allowed_works_in_every_stage(tmp_path):
    """max_depth (100) of blocks and braces: check, summary, table, DOT, diff, fmt and compile."""
    text = gen("gen_rec.py", 3, 32)                  # 3 blocks x 32 braces: 100 levels
    assert netc.check(text) == []
    assert "more than 100" in netc.check(gen("gen_rec.py", 3, 33))[0].message
    f = tmp_path / "d.net"
    f.write_text(text)
    g = tmp_path / "g.net"
    g.write_text(text.replace("    relu", "    sigmoid"))
    for args in (["summary", f], ["table", f], ["render", f, "-o", tmp_path / "d.dot"], ["diff", f, g],
                 ["fmt", "--check", f], ["compile", f, "--print"]):
        code, out, err = cli(*args)
        assert code in (0, 1) and "internal error" not in err and "Traceback" not in err, (args, err)


# ------------------------------------------------------------------ D3, D4: diff and render
@pytest.mark.slow   # 9 s
def test_diff_of_two_large_specs_that_differ_everywhere(monkeypatch):
    code, out, err = cli("diff", ADV / "R04_diff_a.net", ADV / "R04_diff_b.net", mem=3 * GB, timeout=300)
    assert code == 1 and "20000 added" in out and "note: 20,000 and 20,000 layers differ" in out
    # the alignment fills a bounded band, not the 20,000 x 20,000 table
    from netc import diff as diff_module
    banded = importlib.import_module("netc.diff.align")   # the module (netc.diff.align is also a function)
    pairs = []
    real = diff_module.align

    def counted(a, b, cost, notes=None):
        return real(a, b, lambda x, y: pairs.append(1) or cost(x, y), notes)
    monkeypatch.setattr(diff_module, "align", counted)
    d = diff_module.diff(netc.load(str(ADV / "R04_diff_a.net")), netc.load(str(ADV / "R04_diff_b.net")))
    assert d.notes and len(pairs) <= 2 * banded.MAX_CELLS, f"{len(pairs):,} pairs priced"


def test_render_of_a_concat_block_repeated_2857_times(work):
    code, _, err = cli("check", ADV / "R05_render_clusters.net", timeout=120)
    assert code == 1 and "has more than 2^64 channels" in err
    # the block is elaborated once and each of its 20,000 nodes inferred once per input size
    errs = check_file(ADV / "R05_render_clusters.net")
    assert any("has more than 2^64 channels" in e.message for e in errs)
    assert work["layers"] <= 10 and work["blocks"] <= 2 and work["nodes"] <= 2 * 20_001, work


@pytest.mark.skipif(not __import__("shutil").which("dot"), reason="needs Graphviz")
def test_render_collapses_a_large_network_and_refuses_a_huge_picture(tmp_path):
    src = (ADV / "R05_render_clusters.net").read_text().replace("concat", "add")
    (tmp_path / "m.net").write_text(src)                        # 19,999 layers, no channel growth
    code, _, err = cli("render", "m.net", "-o", "m.svg", cwd=tmp_path, timeout=300)
    assert code == 0 and "note: 20,000 layers: drawn with --depth 1 --collapse-repeats" in err
    # what Graphviz was given: a few nodes (blocks as boxes, runs as one), not 20,000
    svg = (tmp_path / "m.svg").read_text()
    assert 0 < svg.count('class="node"') <= 100, svg.count('class="node"')
    (tmp_path / "alt.net").write_text("input 8x8 RGB\n" + "conv3-4\nrelu\n" * 3000)
    code, _, err = cli("render", "alt.net", "-o", "alt.svg", cwd=tmp_path)
    assert code == 1 and "the picture would have 6,001 nodes" in err and not (tmp_path / "alt.svg").exists()


# ------------------------------------------------------------------ D5, D6: includes and extends
def test_diamond_includes_parse_each_file_once(monkeypatch):
    code, out, err = cli("check", ADV / "R13_diamond" / "f0.net", timeout=120)
    assert code == 0, err
    from netc.elaborate import specfile
    parsed = []
    real = specfile.parse
    monkeypatch.setattr(specfile, "parse", lambda text, name: parsed.append(name) or real(text, name))
    assert check_file(ADV / "R13_diamond" / "f0.net") == []
    files = sorted((ADV / "R13_diamond").glob("*.net"))
    assert len(parsed) == len(set(parsed)) == len(files), f"{len(parsed):,} parses of {len(files)} files"


def test_a_library_included_by_two_files_is_one_definition():
    code, out, err = cli("check", ADV / "R14_diamond_lib" / "a.net")
    assert code == 0 and "defined twice" not in err and "808 params" in out


def test_a_chain_of_500_extends_is_linear(tmp_path, work):
    lines = ["input 8x8 RGB", "config c0 {", "    relu x1000", "}"]
    lines += [f"config c{i} extends c{i - 1} {{\n}}" for i in range(1, 500)]
    (tmp_path / "x.net").write_text("\n".join(lines) + "\n")
    code, out, err = cli("check", "x.net", cwd=tmp_path, timeout=300)
    assert code == 0 and out.count("\n") == 500
    # a link without edits is not renamed (500 * 499 / 2 namings before the fix), and each
    # configuration builds at most its own 1,001 nodes per input size
    assert netc.check("\n".join(lines) + "\n") == []
    assert work["namings"] <= 500 and work["nodes"] <= 500 * 2 * 1001, work
    # with an edit in every link, each configuration costs its own lineage only: one naming per
    # link, over that link's layers, and its own nodes
    work.clear()
    lines = ["input 8x8 RGB", "config c0 {", "    relu x200 as r", "}"]
    lines += [f"config c{i} extends c{i - 1} {{\n    insert sigmoid as s{i} after r_1\n}}" for i in range(1, 100)]
    assert netc.check("\n".join(lines) + "\n") == []
    assert work["namings"] <= sum(i + 1 for i in range(100)), work
    assert work["nodes"] <= 2 * sum(201 + i for i in range(100)), work


# ------------------------------------------------------------------ D7: error output
def test_a_long_line_of_typos_prints_a_bounded_report(tmp_path, capsys, renders):
    _write(tmp_path, "l.net", "input 8x8 RGB\n" + "->".join(["maxpol"] * 16000) + "\n")
    code, _, err = cli("check", "l.net", cwd=tmp_path, timeout=120)
    assert code == 1 and len(err) < 100_000 and "... and 15,900 more" in err and "16,000 errors" in err
    assert max(len(line) for line in err.splitlines()) < 300           # a window of the long line
    # only the errors shown are rendered (each quoting a window of the 112 KB line)
    code, _, err = cli_here(capsys, "check", tmp_path / "l.net")
    assert code == 1 and "16,000 errors" in err and len(renders) <= 100, len(renders)


def test_32000_typo_lines(tmp_path, capsys, renders):
    (tmp_path / "t.net").write_text("input 8x8 RGB\n" + "maxpol\n" * 32000)
    code, _, err = cli("check", "t.net", cwd=tmp_path, timeout=120)
    assert code == 1 and len(err) < 100_000 and "32,000 errors" in err
    code, _, err = cli_here(capsys, "check", tmp_path / "t.net")
    assert code == 1 and "32,000 errors" in err and len(renders) <= 100, len(renders)


def test_the_quoted_window_keeps_the_caret_under_the_culprit():
    text = "input 8x8 RGB\n" + "relu->" * 2000 + "maxpol\n"
    (e,) = netc.check(text, "w.net")
    quoted, caret = e.render().splitlines()[1:3]
    col = caret.index("^")
    assert quoted[col:col + 6] == "maxpol" and len(quoted) < 300


# ------------------------------------------------------------------ D8: names
def _reserved_candidates() -> list[str]:
    import torch.nn as nn
    model = netc.compile(netc.loads("input 8x8 RGB\nconv3-2 as zz_a\nFC-2 as zz_b\n"), device="meta")
    names = set(dir(nn.Module())) | set(dir(model)) | set(keyword.kwlist) | {"self"}
    return sorted(n for n in names if n not in ("zz_a", "zz_b"))


def test_the_reserved_list_covers_every_module_attribute_and_keyword():
    pytest.importorskip("torch")
    from netc.elaborate.reserved import is_reserved
    missing = [n for n in _reserved_candidates() if not is_reserved(n)]
    assert missing == [], "run scripts/gen_reserved.py: " + ", ".join(missing)


def test_a_name_with_two_leading_underscores_is_refused():
    """torch puts private attributes of that form on nn.Module at run time (``___needs_generation_tag_patch``
    once torch.export has run), and Python mangles such names inside a class body."""
    for name in ("___needs_generation_tag_patch", "__x", "__init__"):
        errs = netc.check(f"input 8x8 RGB\nconv3-4 as {name}\nFC-2\n")
        assert [e.message for e in errs] == [f"'{name}' is reserved: a name that starts with two underscores "
                                             "(Python mangles it; torch keeps private attributes so)"], name


@pytest.mark.parametrize("where", ["layer", "block", "aux", "instance"])
def test_every_reserved_name_is_refused_by_check(where):
    pytest.importorskip("torch")
    tmpl = {"layer": "input 8x8 RGB\nconv3-4 as {n}\nFC-2\n",
            "block": "input 8x8 RGB\nblock b() {{\n  conv3-4 as {n}\n}}\nb\nFC-2\n",
            "aux": "input 8x8 RGB\nconv3-4\naux {n} on conv1_1 weight 0.3 {{\n  FC-2\n}}\nFC-2\n",
            "instance": "input 8x8 RGB\nblock b() {{\n  conv3-4\n}}\nb as {n}\nFC-2\n"}[where]
    for n in _reserved_candidates():
        errs = netc.check(tmpl.format(n=n), "n.net")
        assert errs and any(f"'{n}' is reserved" in e.message or "unexpected" in e.message for e in errs), n


@pytest.mark.parametrize("name", ["R08_name_forward.net", "R08b_name_self.net", "R08c_name_None.net"])
def test_check_and_compile_agree_on_reserved_names(name, tmp_path):
    code, _, err = cli("check", ADV / name)
    assert code == 1 and "is reserved" in err
    code, _, err = cli("compile", ADV / name, "-o", tmp_path / "x.pt")
    assert code == 1 and "is reserved" in err and "internal error" not in err


def test_any_allowed_name_compiles_through_every_backend(tmp_path):
    """Names drawn from the whole allowed space (builtins, digits first, module-ish words) through
    fx code, TorchScript, state_dict, DOT ids and ONNX."""
    torch = pytest.importorskip("torch")
    from netc.elaborate.reserved import is_reserved
    from netc.visualize import to_dot
    pool = sorted(n for n in set(dir(builtins)) | {"x", "input_", "torch", "operator", "F", "nn", "getattr",
                                                    "3x3", "1a", "a-b", "conv1_1", "x_checked", "netc_", "_x"}
                  if not is_reserved(n) and n.isascii() and n[:1] != "_" or n == "_x")
    for i in range(0, len(pool), 40):
        chunk = pool[i:i + 40]
        body = "\n".join(f"relu as {n}" for n in chunk)
        text = f"input 8x8 RGB\nconv3-4\n{body}\nblock b() {{\n  conv3-4 as {chunk[0]}\n}}\nb as {chunk[-1]}_b\nFC-2\n"
        errs = netc.check(text, "p.net")
        if errs:       # a word the grammar does not take as a name (a layer word, a keyword of netc)
            continue
        ir = netc.loads(text, filename="p.net")
        m = netc.compile(ir)
        y = m(torch.randn(2, 3, 8, 8))
        assert y.shape == (2, 2)
        assert torch.jit.script(m.eval())(torch.randn(2, 3, 8, 8)).shape == (2, 2)
        keys = list(m.state_dict())
        assert f"{chunk[-1]}_b.{chunk[0]}.weight" in keys
        assert all(f'"{n}"' in to_dot(ir) for n in chunk)
    code, _, err = cli("compile", _write(tmp_path, "o.net", "input 8x8 RGB\nconv3-4 as print\nrelu as len\nFC-2 as torch\n"),
                          "-o", tmp_path / "o.onnx", mem=6 * GB)
    assert code == 0, err


def _write(d: Path, name: str, text: str) -> Path:
    (d / name).write_text(text)
    return d / name


# ------------------------------------------------------------------ D10, D12, D13, D20: values
def test_huge_receptive_fields_do_not_crash_summary():
    code, out, err = cli("summary", ADV / "R06_summary_rf_digits.net", timeout=300)
    assert code == 0 and "internal error" not in err
    # bytes written: one line per layer, and no number of thousands of digits in any of them
    lines = out.splitlines()
    assert len(lines) < 15_100 and len(out) < 200 * len(lines)
    assert max(len(w) for w in out.split()) < 100


def test_numbers_beyond_int64_are_refused():
    (e,) = netc.check("input 8x8 RGB\nconv(out=2, k=3, stride=" + "1" + "0" * 100 + ")\nFC-2\n")
    assert e.message == "a number of 101 digits" and "at most 18 digits" in e.hint
    code, _, err = cli("summary", "vgg:A", "--set", "num_classes=" + "9" * 5000)
    assert code == 2 and "a number of 5,000 digits" in err
    with pytest.raises(UsageError, match="larger than"):
        netc.load("vgg:A", num_classes=10 ** 30)


@pytest.mark.parametrize("text", ["LRN(alpha=inf)", "bn(eps=1e999)", "LRN(beta=nan)", "LRN(alpha=-1e999)"])
def test_non_finite_values_are_refused(text):
    errs = netc.check(f"input 8x8 RGB\nconv3-8\n{text}\nFC-2\n", "f.net")
    assert errs and errs[0].line == 3 and ("finite" in errs[0].message or "must be" in errs[0].message)


@pytest.mark.parametrize("name", ["R11_lrn_inf.net", "R12_aux_inf_json.net"])
def test_non_finite_reproductions(name):
    code, out, err = cli("summary", "--json", ADV / name)
    assert code == 1 and "finite" in err and "Infinity" not in out


def test_a_non_finite_override_is_a_usage_error(tmp_path):
    f = _write(tmp_path, "p.net", "input 8x8 RGB\nvar p = 0.5\nconv3-4\ndropout(p)\nFC-2\n")
    assert cli("summary", f, "--set", "p=inf")[0] == 2
    with pytest.raises(UsageError, match="finite"):
        netc.load(str(f), p=float("nan"))


def test_a_huge_input_is_refused_before_allocation(tmp_path):
    code, _, err = cli("compile", ADV / "R10_huge_input.net", "-o", tmp_path / "x.pt", mem=4 * GB)
    assert code == 1 and "of activations, more than the limit of 16.0 GB" in err
    # over the budget by choice: a state_dict needs no example input, so nothing of 30 GB is built
    code, _, err = cli("--limit", "max_activation_bytes=none", "compile", ADV / "R10_huge_input.net",
                          "-o", tmp_path / "x.pt", mem=4 * GB)
    assert code == 0 and (tmp_path / "x.pt").stat().st_size > 0, err


@pytest.mark.parametrize("layer", ["maxpool(k=2, stride=999999999999999999)", "avgpool2/3000000000",
                                   "conv(out=4, k=3, stride=4294967296)"])
def test_parameters_beyond_32_bits_are_refused(layer):
    """torch's pooling takes 32-bit sizes: a stride of 10**18 passed check and failed in forward."""
    (e,) = netc.check(f"input 8x8 RGB\n{layer}\nFC-2\n")
    assert e.line == 2 and "must be at most 2,147,483,647" in e.message


def test_multiply_adds_have_a_budget(monkeypatch):
    monkeypatch.setitem(netc.LIMITS, "max_macs", 10 ** 9)
    (e,) = netc.check("input 224x224 RGB\nconv3-64\nconv3-64\nFC-2\n")
    assert "multiply-adds, more than the limit of 1,000,000,000" in e.message and e.line == 3


# ------------------------------------------------------------------ D11, D19
def test_a_50000_character_name(tmp_path):
    f = _write(tmp_path, "n.net", "input 8x8 RGB\nconv3-4 as " + "n" * 50_000 + "\nFC-2\n")
    code, _, err = cli("render", f, "-o", tmp_path / "n.svg")
    assert code == 1 and "a name of 50,000 characters; names have at most 128" in err
    assert len(err) < 2000


def test_spp_levels_are_bounded():
    (e,) = [e for e in netc.check("input HxW RGB\nconv3-8\nspp[" + ",".join(["1"] * 100) + "]\nFC-10\n")
            if e.line == 3]
    assert "at most 8 levels" in e.message


# ------------------------------------------------------------------ D14: atomic outputs
@pytest.mark.parametrize("suffix", [".pt", ".pt2", ".onnx", ".dot", ".svg"])
def test_a_full_disk_keeps_the_previous_file(suffix, tmp_path):
    if suffix == ".svg" and not __import__("shutil").which("dot"):
        pytest.skip("needs Graphviz")
    out = tmp_path / f"m{suffix}"
    out.write_bytes(b"the previous good file")
    cmd = ["render", "vgg:D", "-o", out] if suffix in (".dot", ".svg") else ["compile", "alexnet", "-o", out]
    code, _, err = cli(*cmd, fsize=1000, mem=8 * GB)
    assert code in (1, 2) and "internal error" not in err and "Traceback" not in err, err
    assert out.read_bytes() == b"the previous good file"
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]     # no temporary left behind


def test_output_paths_that_cannot_be_files(tmp_path):
    (tmp_path / "dir.onnx").mkdir()
    code, _, err = cli("compile", "vgg:A", "-o", "dir.onnx", cwd=tmp_path)
    assert code == 2 and "it is a directory" in err and not (tmp_path / "dir.onnx.data").exists()
    for cmd in (["compile", "vgg:A", "-o", "nodir/x.pt"], ["render", "vgg:A", "-o", "nodir/x.svg"]):
        code, _, err = cli(*cmd, cwd=tmp_path)
        assert code == 2 and "no such directory: nodir" in err


def test_concurrent_renders_leave_one_complete_file(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-m", "netc.tools.cli", "render", ref, "-o", "x.dot"], cwd=tmp_path,
                              stderr=subprocess.DEVNULL) for ref in ("vgg:E", "googlenet", "vgg:E", "googlenet")]
    assert [p.wait(timeout=300) for p in procs] == [0] * 4
    text = (tmp_path / "x.dot").read_text()
    from netc.visualize import to_dot
    from netc.visualize.dot import figure_options       # what netc render draws by default
    drawn = [to_dot(ir, **figure_options(ir)) for ir in (netc.load("vgg:E"), netc.load("googlenet"))]
    assert text in drawn


# ------------------------------------------------------------------ D15, D18: fmt
MESSY = "input 8x8 RGB\nconv3-4\n  FC-2\n"
CLEAN = "input 8x8 RGB\nconv3-4\nFC-2\n"


def test_fmt_keeps_links_and_owner(tmp_path):
    a = _write(tmp_path, "a.net", MESSY)
    os.symlink("a.net", tmp_path / "link.net")
    os.link(a, tmp_path / "hard.net")
    mode = a.stat().st_mode
    assert cli("fmt", "link.net", cwd=tmp_path)[0] == 0
    assert (tmp_path / "link.net").is_symlink() and a.read_text() == CLEAN
    assert (tmp_path / "hard.net").read_text() == CLEAN and a.stat().st_nlink == 2 and a.stat().st_mode == mode


def test_fmt_reports_a_full_disk_and_goes_on(tmp_path):
    for n in ("a.net", "b.net"):
        _write(tmp_path, n, MESSY)
    code, _, err = cli("fmt", "a.net", "b.net", cwd=tmp_path, fsize=10)
    assert code == 1 and err.count("cannot write") == 2 and "internal error" not in err
    assert (tmp_path / "a.net").read_text() == MESSY and sorted(os.listdir(tmp_path)) == ["a.net", "b.net"]


def test_fmt_does_not_lose_an_edit_saved_while_it_ran(tmp_path, monkeypatch, capsys):
    from netc.tools.cli import main
    from netc.tools.commands import fmt as fmt_cmd
    a = _write(tmp_path, "a.net", MESSY)
    real = fmt_cmd.format_text

    def slow_format(text, name):
        out = real(text, name)
        time.sleep(0.01)
        a.write_text(MESSY + "conv3-8\n")          # the user saves an edit meanwhile
        return out
    monkeypatch.setattr(fmt_cmd, "format_text", slow_format)
    assert main(["fmt", str(a)]) == 1
    assert "changed while it was being formatted" in capsys.readouterr().err
    assert a.read_text() == MESSY + "conv3-8\n"


def test_fmt_stdin_reads_at_most_the_limit(monkeypatch, capsys):
    code, _, err = cli("fmt", "-", stdin=b"a" * 50_000_000, mem=1 * GB, timeout=120)
    assert code == 1 and "larger than 1,000,000 bytes" in err
    # bytes read: the limit and one more, not the 50 MB offered

    class Endless(io.RawIOBase):
        given = 0

        def readable(self):
            return True

        def readinto(self, b):
            b[:] = b"a" * len(b)
            Endless.given += len(b)
            return len(b)
    stream = io.BufferedReader(Endless(), buffer_size=4096)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(stream, encoding="utf-8"))
    code, _, err = cli_here(capsys, "fmt", "-")
    assert code == 1 and "larger than 1,000,000 bytes" in err
    assert Endless.given <= 1_000_001 + 8192, f"{Endless.given:,} bytes read"


# ------------------------------------------------------------------ D16, D17: plugins and the API
def test_a_plugin_does_not_let_the_current_directory_shadow_packages(tmp_path):
    for mod in ("torch", "graphviz", "networkx", "lark"):
        _write(tmp_path, f"{mod}.py", "raise SystemExit('shadowed: the current directory ran first')\n")
    _write(tmp_path, "mylayers.py", "import torch\nimport netc\nLOADED = True\n")
    code, _, err = cli("--plugin", "json", "compile", "vgg:A", "--print", cwd=tmp_path, mem=6 * GB)
    assert code == 0 and "shadowed" not in err
    code, _, err = cli("--plugin", "mylayers", "check", "vgg:A", cwd=tmp_path, mem=6 * GB)
    assert code == 0 and "shadowed" not in err, err


@pytest.mark.parametrize("name, says", [("", "is not a module name"), (".x", "is not a module name"),
                                        ("boom", "failed while importing: RuntimeError: boom")])
def test_plugin_mistakes_are_the_users(name, says, tmp_path):
    _write(tmp_path, "boom.py", "raise RuntimeError('boom')\n")
    code, _, err = cli("--plugin", name, "check", "vgg:A", cwd=tmp_path)
    assert code == 2 and says in err and "bug in netc" not in err


@pytest.mark.parametrize("call", [
    lambda: netc.load("vgg", config=123), lambda: netc.loads("input 8x8 RGB\nFC-2\n", filename=None),
    lambda: netc.parse(None), lambda: netc.check("x", filename=None), lambda: netc.load_all("vgg", config="A"),
    lambda: netc.LIMITS.__setitem__("max_layers", None), lambda: netc.LIMITS.__setitem__("max_depth", "abc"),
    lambda: netc.LIMITS.__setitem__("include_outside_tree", 1),
    lambda: netc.compile("vgg:A", budget="abc", device="meta")])
def test_wrong_types_through_the_api_are_usage_errors(call):
    if "compile" in str(call.__code__.co_names):
        pytest.importorskip("torch")
    with pytest.raises(UsageError):
        call()
    assert netc.LIMITS["max_layers"] == 20_000 and netc.LIMITS["include_outside_tree"] is False


def test_limit_option(tmp_path):
    code, _, err = cli("--limit", "max_layers=10", "check", "vgg:A")
    assert code == 1 and "more than 10 layers" in err
    code, _, err = cli("--limit", "max_layerz=10", "check", "vgg:A")
    assert code == 2 and "did you mean 'max_layers'" in err


# ------------------------------------------------------------------ a wide table stays linear
@pytest.mark.slow
def test_a_table_of_60_columns(work):
    code, out, err = cli("check", ADV / "R18_table60cols.net", timeout=600)
    assert code == 0 and out.count("\n") == 60
    # each column elaborated once and its 20,000 nodes inferred once per input size
    assert check_file(ADV / "R18_table60cols.net") == []
    assert work["layers"] <= 60 * 2 and work["nodes"] <= 60 * 2 * 20_000, work
    # (netc table of it: tests/visualize/test_tables_scale.py)
