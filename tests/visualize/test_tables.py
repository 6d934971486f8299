"""Paper tables: VGG Table 1 (+ Table 2's parameter counts) and GoogLeNet Table 1, regenerated."""
from __future__ import annotations

import pytest

import netc
from netc.visualize import family_table, row_table

from conftest import ROOT, golden, run_cli

GOLDEN = ROOT / "tests" / "golden"
VGG = ["A", "A-LRN", "B", "C", "D", "E"]


def vgg_table(**kw):
    return family_table([netc.load(f"vgg:{c}") for c in VGG], netc.program("vgg"), **kw)


def test_vgg_header_is_table1():
    t = vgg_table()
    assert t.header[0] == VGG
    assert t.header[1] == [f"{d} weight layers" for d in (11, 11, 13, 16, 16, 19)]


def test_vgg_footer_is_table2():
    # Table 2 of the paper: number of parameters (in millions)
    assert [c.text for c in vgg_table().footer[0].cells] == [f"{p}M params" for p in (133, 133, 133, 134, 138, 144)]


def test_vgg_bold_marks_what_each_column_adds():
    t = vgg_table()
    bold = {c: [] for c in VGG}
    for r in t.rows:
        if not r.span:
            for c, cell in zip(VGG, r.cells):
                if cell.bold:
                    bold[c].append(cell.text)
    # as in the paper's Table 1: LRN in A-LRN; B adds conv3-64 and conv3-128; C adds 1x1 convs;
    # D turns them into 3x3; E adds a fourth 3x3 to the last three stages
    assert bold == {"A": [], "A-LRN": ["LRN"], "B": ["conv3-64", "conv3-128"],
                    "C": ["conv1-256", "conv1-512", "conv1-512"], "D": ["conv3-256", "conv3-512", "conv3-512"],
                    "E": ["conv3-256", "conv3-512", "conv3-512"]}


def test_vgg_spanning_rows():
    spans = [r.cells[0].text for r in vgg_table().rows if r.span]
    assert spans == ["input (224 × 224 RGB image)"] + ["maxpool"] * 5 + ["FC-4096", "FC-4096", "FC-1000", "soft-max"]
    assert "dropout(0.5)" in [r.cells[0].text for r in vgg_table(all_layers=True).rows if r.span]


def test_every_layer_appears_once_in_its_column():
    t = vgg_table()
    for j, c in enumerate(VGG):
        col = [r.cells[0].text if r.span else r.cells[j].text for r in t.rows]
        ir = netc.load(f"vgg:{c}")
        want = [n.paper for n in ir.layers() if n.kind != "dropout"]
        assert [x for x in col[1:] if x] == want


@pytest.mark.parametrize("fmt,ext", [("markdown", "md"), ("term", "txt"), ("html", "html"), ("latex", "tex")])
def test_golden_vgg_table(fmt, ext):
    golden(GOLDEN / f"vgg-table.{ext}", vgg_table().render(fmt) + "\n")


def test_golden_googlenet_rows():
    golden(GOLDEN / "googlenet-table.txt", row_table(netc.load("googlenet")).render("term") + "\n")


def test_googlenet_rows_match_its_table1():
    t = row_table(netc.load("googlenet"))
    head = t.header[0]
    assert head[4:10] == ["#1x1", "#3x3 reduce", "#3x3", "#5x5 reduce", "#5x5", "pool proj"]
    rows = {r.cells[0].text: [c.text for c in r.cells] for r in t.rows}
    # GoogLeNet Table 1: output size, depth and the six inception columns
    assert rows["inception (3a)"][2:10] == ["28×28×256", "2", "64", "96", "128", "16", "32", "32"]
    assert rows["inception (4e)"][2:10] == ["14×14×832", "2", "256", "160", "320", "32", "128", "128"]
    assert rows["inception (5b)"][2:10] == ["7×7×1024", "2", "384", "192", "384", "48", "128", "128"]
    assert rows["inception (3a)"][-1] == "128M" and rows["inception (4a)"][-1] == "74M"
    assert sum(int(r.cells[3].text) for r in t.rows) == 22   # "22 layers deep"


def test_row_table_without_blocks():
    t = row_table(netc.load("vgg:D"))
    assert t.header[0] == ["type", "patch size/stride", "output size", "depth", "params", "ops"]
    assert t.rows[0].cells[0].text == "convolution" and t.rows[0].cells[2].text == "224×224×64"
    assert t.footer[0].cells[-2].text == "138M" and t.footer[0].cells[-1].text == "15.47G"


def test_configuration_outside_the_table_is_aligned_by_sequence():
    text = (ROOT / "specs" / "vgg.net").read_text() + "\nconfig D-bn extends D { remove pool5 }\n"
    prog = netc.Program.from_text(text, "vgg2.net")
    irs = [netc.build_config(prog, c) for c in ("D", "D-bn")]
    t = family_table(irs, prog)
    texts = [(r.cells[0].text, r.cells[0].text) if r.span else tuple(c.text for c in r.cells) for r in t.rows]
    assert texts.count(("maxpool", "maxpool")) == 4 and ("maxpool", "") in texts
    assert all(a == b for a, b in texts if (a, b) != ("maxpool", ""))


def test_cli_table_markdown():
    r = run_cli("table", "vgg", "--format", "markdown")
    assert r.returncode == 0, r.stderr
    assert "**LRN**" in r.stdout and "138M params" in r.stdout and "B-shallow" in r.stdout


def test_cli_table_single_config_and_selection():
    r = run_cli("table", "vgg:D")
    assert r.returncode == 0 and "patch size/stride" in r.stdout
    r = run_cli("table", "vgg", "--configs", "D,E", "--format", "latex")
    assert r.returncode == 0 and r"\multicolumn{2}{|c|}{maxpool}" in r.stdout and r"\textbf{conv3-256}" in r.stdout
    r = run_cli("table", "googlenet")
    assert r.returncode == 0 and "inception (3a)" in r.stdout


def test_cli_table_unknown_config():
    r = run_cli("table", "vgg", "--configs", "A,Q")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_block_instances_are_titled_as_the_papers_print_them():
    text = ("input 32x32 RGB\nblock res(c) {\n    conv3-c\n}\nblock inception(c) {\n    conv1-c\n}\n"
            "res(8)\nres(8)\ninception(8) as inception_3a\ninception(8) as 3b\ninception(8) as stem\ngap\nFC-10\n")
    ir = netc.loads(text)
    assert [s.title for s in ir.scopes.values()] == [
        "res (1)", "res (2)", "inception (3a)", "inception (3b)", "inception (stem)"]


def test_a_file_of_several_configurations_is_a_family_table_with_readable_totals():
    text = ("input 32x32 RGB\nconfig small_net {\n  conv3-8\n  gap\n  FC-10\n}\n"
            "config big_net {\n  conv3-16\n  conv3-16\n  gap\n  FC-10\n}\n")
    irs = [netc.loads(text, config=c) for c in ("small_net", "big_net")]
    assert [ir.params for ir in irs] == [314, 2938]
    t = family_table(irs, netc.Program.from_text(text, "us.net"))
    assert [c.text for c in t.footer[0].cells] == ["314 params", "2.9K params"]


def test_side_output_rows_name_their_output():
    t = row_table(netc.load("googlenet"), aux=True)
    names = [r.cells[0].text for r in t.rows]
    assert "aux_classifier (loss1)" in names and "aux_classifier (loss2)" in names


def test_a_block_argument_column_is_headed_by_the_parameter_unless_a_layer_is_named():
    text = ("input 32x32 RGB\nblock residual(c) {\n  add {\n    { conv3-c\n      conv3-c(act=none) }\n"
            "    identity\n  }\n}\nconv3-16\nresidual(16)\ngap\nFC-10\n")
    assert row_table(netc.loads(text)).header[0][4] == "c"           # not 'conv1 1', a generated name
    assert row_table(netc.load("googlenet")).header[0][4] == "#1x1"   # conv1-n1 as 1x1


def test_a_table_of_block_instances_is_one_row_per_block():
    """Table cells that are blocks (ResNet's stages) collapse into one row each; this used to
    crash with AttributeError: '_BlockItem' object has no attribute 'layer_kind'."""
    text = ("input 32x32 RGB\nblock unit(c, n) {\n    conv3-c x(n)\n}\n"
            "table A | B {\n      unit(8, 1) | unit(8, 2)\n      unit(16, 1) | unit(32, 1)\n      gap\n      FC-10\n}\n")
    prog = netc.Program.from_text(text, "units.net")
    irs = [netc.loads(text, config=c, filename="units.net") for c in ("A", "B")]
    t = family_table(irs, prog)
    texts = [[c.text for c in r.cells] for r in t.rows]
    assert ["unit(8, 1)", "unit(8, 2)"] in texts and ["unit(16, 1)", "unit(32, 1)"] in texts
    assert [r.cells[1].bold for r in t.rows if len(r.cells) == 2] == [True, True]


def test_an_opened_run_of_blocks_folds_into_one_row():
    # ViT at --depth 2 opens its encoder blocks: one row encoder_block ×12 (the run's totals), the
    # first block's layers indented under it, the other eleven left out (as the diagram folds them)
    ir = netc.load("vit:vit_b_16")
    t = row_table(ir, depth=2)
    types = [r.cells[0].text for r in t.rows]
    assert len(t.rows) < 25
    i = types.index("encoder_block ×12")
    assert types[i + 1:i + 3] == ["  layer norm", "  multi-head attention"]
    assert sum(1 for x in types if x.strip() == "multi-head attention") == 1
    params = t.header[0].index("params")
    assert t.rows[i].cells[params].text == "85M"
    assert t.footer[0].cells[params].text == "87M"     # the totals count all twelve


def test_a_family_table_folds_runs_of_blocks():
    t = family_table([netc.load(f"vit:{c}") for c in ("vit_b_16", "vit_l_16")], netc.program("vit"), depth=2)
    texts = [c.text for r in t.rows for c in r.cells]
    assert "encoder_block(12, 768, 3072) ×12" in texts and "*" not in "".join(texts)
    assert sum(1 for x in texts if x.startswith("encoder_block(12")) == 1


def _lm_rows(t):
    return {r.cells[0].text: [c.text for c in r.cells[1:]] for r in t.rows + t.footer}


def test_llama3_table_is_its_paper_table3():
    # Llama 3 (arXiv:2407.21783) Table 3: layers, model dimension, FFN dimension, attention heads,
    # key/value heads, activation, vocabulary size, positional embeddings (RoPE θ = 500,000)
    irs = [netc.load("llama3_8b"), netc.load("llama3_70b")]
    t = family_table(irs, netc.program("llama"))
    assert t.header[0] == ["", "llama3_8b", "llama3_70b"]
    rows = _lm_rows(t)
    assert rows["layers"] == ["32", "80"]
    assert rows["model dimension"] == ["4,096", "8,192"]
    assert rows["FFN dimension"] == ["14,336", "28,672"]
    assert rows["attention heads"] == ["32", "64"]
    assert rows["key/value heads"] == ["8", "8"]
    assert rows["activation"] == ["SwiGLU", "SwiGLU"]
    assert rows["vocabulary size"] == ["128,256", "128,256"]
    assert rows["positions"] == ["RoPE (θ = 500,000)"] * 2
    assert rows["parameters"] == ["8.03B", "70.6B"]
    assert rows["exact"] == ["8,030,261,248", "70,553,706,496"]


def test_gpt2_sizes_side_by_side_as_its_table2():
    # GPT-2's Table 2 (layers, d_model) for the four sizes, with transformers' counts
    r = run_cli("table", "specs/gpt.net")
    assert r.returncode == 0, r.stderr
    lines = {ln.split()[0] + (" " + ln.split()[1] if ln.split()[1].isalpha() else ""): ln.split()
             for ln in r.stdout.splitlines()[1:] if len(ln.split()) > 1}
    assert r.stdout.splitlines()[1].split() == ["gpt2", "gpt2_medium", "gpt2_large", "gpt2_xl"]
    assert lines["layers"][1:] == ["12", "24", "36", "48"]
    assert lines["model dimension"][2:] == ["768", "1,024", "1,280", "1,600"]
    assert lines["attention heads"][2:] == ["12", "16", "20", "25"]
    assert lines["exact"][1:] == ["124,439,808", "354,823,168", "774,030,080", "1,557,611,200"]
    assert "learned (1,024)" in r.stdout and "tied to the embedding" in r.stdout


def test_language_model_tables_print_in_every_format():
    for spec in ("specs/llama.net", "specs/mistral.net", "specs/qwen.net"):
        for fmt in ("term", "markdown", "html", "latex"):
            r = run_cli("table", spec, "--format", fmt)
            assert r.returncode == 0, (spec, fmt, r.stderr)
    t = family_table(netc.load_all("mistral"), netc.program("mistral"))
    rows = _lm_rows(t)
    assert rows["experts (active)"] == ["", "8 (2)"] and rows["parameters"][1] == "46.7B (12.9B active)"
    assert rows["positions"] == ["RoPE (θ = 10,000)", "RoPE (θ = 1,000,000)"]
    one = row_table(netc.load("llama3_2_1b"))          # one model: a row per layer, the input in words
    assert one.rows[0].cells[0].text == "token embedding"
    assert "input (L tokens)" in family_table(netc.load_all("gpt"), netc.program("gpt"), depth=2).render("term")
