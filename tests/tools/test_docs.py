"""The docs cannot go stale: every command and Python block in README.md and docs/*.md runs here.

What runs, and how a page says what to expect:

* ```console blocks: each ``$ ...`` line is a command, run by bash (``set -o pipefail``) with the
  venv's ``netc`` and ``python`` first on PATH, from a folder that stands for the repository root
  (every top-level entry of the checkout linked into a temporary folder, so ``specs/vgg.net`` and
  ``tests/data/...`` resolve as they do in the checkout, and what a command writes, ``-o vgg-d.png``,
  lands in the temporary folder). The lines after a command, up to the next ``$``, are its output
  (stdout and stderr together), compared line by line after collapsing runs of whitespace; blank
  lines are ignored, and a line ``...`` stands for any number of lines (an abridged output). The
  checkout's own path is removed from the output first (``summary`` prints a bundled spec's full
  path; the pages show it from the repository root). Commands of one block share their folder.
* ```bash / ```sh blocks that mention netc: run as one script, ``set -euo pipefail``.
* ```python blocks: each runs in a fresh interpreter in such a folder. A comment on a ``print(``
  line (or alone on the line after it) that reads like a value (``# 138357544``, ``# (2, 10)``,
  ``# {'loss1': 0.3}``: it starts with a digit, a quote, a bracket, a brace, a parenthesis, a minus,
  True, False or None) must appear as a line of the block's output.

HTML comments directly above a block (no blank line between) change that:

* ``<!-- not run: REASON -->``: the block is skipped, with its reason (a server, a 530 MB export,
  files a test cannot have);
* ``<!-- exit status N: WHY -->``: every netc command of the block must exit with N (``netc diff``
  of two different networks, ``netc check`` of a broken spec), other commands with 0;
* ``<!-- slow: WHY -->``: the block is marked slow (``-m slow``);
* ``<!-- output of the block above -->``: this block is the whole output of the block before it.
"""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tokenize
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest


def _root() -> Path:
    here = Path(__file__).resolve().parent
    for d in (here, *here.parents):
        if (d / "pyproject.toml").exists() and (d / "README.md").exists():
            return d
    raise RuntimeError("no repository root above " + str(here))


ROOT = _root()
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
BIN = Path(sys.executable).parent if (Path(sys.executable).parent / "netc").exists() else ROOT / ".venv" / "bin"
COMMAND_TIMEOUT = 180          # seconds for one command or one Python block
RUN = {"console", "bash", "sh", "python"}

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)[^`]*$")
MARKER = re.compile(r"^\s*<!--\s*(?P<what>not run|slow|exit status\s+(?P<code>\d+)|output of the block above)"
                    r"\s*:?\s*(?P<why>.*?)\s*-->\s*$")
VALUE = re.compile(r"""^([0-9'"\[{(-]|True\b|False\b|None\b)""")


@dataclass
class Block:
    page: Path
    line: int                              # 1-based line of the opening fence
    lang: str
    text: str
    markers: dict = field(default_factory=dict)
    expected_output: str | None = None     # from a following '<!-- output of the block above -->' block

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def parse_blocks(page: Path) -> list[Block]:
    """The fenced blocks of a Markdown page, each with the markers written directly above it."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence = m["indent"], m["fence"]
        markers, j = {}, i - 1
        while j >= 0 and (mk := MARKER.match(lines[j])):
            what = "exit" if mk["code"] else mk["what"]
            markers[what] = int(mk["code"]) if mk["code"] else mk["why"]
            j -= 1
        body, k = [], i + 1
        while k < len(lines) and not (lines[k].strip().startswith(fence[0] * len(fence))
                                      and lines[k].strip().strip(fence[0]) == ""):
            body.append(lines[k][len(indent):] if lines[k].startswith(indent) else lines[k].lstrip())
            k += 1
        block = Block(page, i + 1, m["lang"].lower(), "\n".join(body) + "\n", markers)
        if "output of the block above" in markers and blocks:
            blocks[-1].expected_output = block.text
        blocks.append(block)
        i = k + 1
    return blocks


ALL = [b for page in PAGES for b in parse_blocks(page)]


def _params(langs):
    out = []
    for b in ALL:
        if b.lang not in langs or (b.lang in ("bash", "sh") and "netc" not in b.text):
            continue
        marks = []
        if "not run" in b.markers:
            marks.append(pytest.mark.skip(reason="not run: " + b.markers["not run"]))
        elif "slow" in b.markers:
            marks.append(pytest.mark.slow)
        out.append(pytest.param(b, id=b.id, marks=marks))
    return out


# ---------------------------------------------------------------- running

def _workdir(folder: Path) -> Path:
    """A folder that stands for the repository root: its top-level entries linked, writes kept apart."""
    for entry in ROOT.iterdir():
        if not entry.name.startswith("."):
            (folder / entry.name).symlink_to(entry)
    return folder


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETC_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"          # stdout and stderr in the order they were written
    env.pop("PYTHONPATH", None)
    return env


def _run(argv, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=COMMAND_TIMEOUT)


def _commands(text: str) -> list[tuple[str, list[str]]]:
    """A console block as (command, shown output lines) pairs."""
    pairs: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            pairs.append((line[2:], []))
        elif pairs:
            pairs[-1][1].append(line)
        elif line.strip():
            raise AssertionError(f"a console block must start with a '$ ' command, not {line!r}")
    return pairs


def _execute(block: Block, cwd: Path):
    """Run a block: [(command, shown output, process)] for commands, the process for Python."""
    if block.lang == "python":
        script = cwd / "doc_block.py"
        script.write_text(block.text, encoding="utf-8")
        return _run([sys.executable, str(script)], cwd)
    if block.lang != "console":
        return [(block.text, [], _run(["bash", "-euo", "pipefail", "-c", block.text], cwd))]
    done = []
    for command, shown in _commands(block.text):
        done.append((command, shown, _run(["bash", "-o", "pipefail", "-c", command], cwd)))
        if done[-1][2].returncode != _expected_status(block, command):
            break
    return done


@pytest.fixture(scope="session")
def results(request, tmp_path_factory):
    """Every selected block, run ahead on a few threads (each command is a process of its own)."""
    blocks = [item.callspec.params["block"] for item in request.session.items
              if "block" in getattr(getattr(item, "callspec", None), "params", {})
              and not item.get_closest_marker("skip")]
    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2))) as pool:
        yield {b.id: pool.submit(_execute, b, _workdir(tmp_path_factory.mktemp("doc"))) for b in blocks}
        pool.shutdown(cancel_futures=True)


def _norm(text: str) -> list[str]:
    text = text.replace(str(ROOT) + os.sep, "")
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def _matches(expected: list[str], actual: list[str]) -> bool:
    """expected matches actual in order; a '...' line stands for any number of lines."""
    segments, seg = [], []
    for line in expected:
        if line == "...":
            segments.append(seg)
            seg = []
        else:
            seg.append(line)
    segments.append(seg)
    if len(segments) == 1:
        return expected == actual
    first, *middle, last = segments
    if actual[:len(first)] != first or (last and actual[-len(last):] != last):
        return False
    pos, end = len(first), len(actual) - len(last)
    if pos > end:
        return False
    for seg in middle:
        while pos + len(seg) <= end and actual[pos:pos + len(seg)] != seg:
            pos += 1
        if pos + len(seg) > end:
            return False
        pos += len(seg)
    return True


def _expected_status(block: Block, command: str) -> int:
    """The block's '<!-- exit status N -->' for a netc command, 0 for anything else."""
    return block.markers.get("exit", 0) if command.split()[:1] == ["netc"] or block.lang != "console" else 0


def _explain(block, command, proc, expected=None) -> str:
    msg = f"{block.id}: $ {command}\nexit status {proc.returncode}\n--- output ---\n{proc.stdout[-4000:]}"
    if expected is not None:
        msg += "--- shown in the doc ---\n" + "\n".join(expected)
    return msg


@pytest.mark.parametrize("block", _params({"console", "bash", "sh"}))
def test_commands(block, results):
    if block.lang == "console":
        assert _commands(block.text), f"{block.id}: a console block without a '$ ' command"
    for command, shown, proc in results[block.id].result():
        assert proc.returncode == _expected_status(block, command), _explain(block, command, proc)
        expected = _norm("\n".join(shown))
        if expected:
            assert _matches(expected, _norm(proc.stdout)), _explain(block, command, proc, shown)


def _value_comments(source: str) -> list[str]:
    """Comments that give a printed value: on a print( line, or alone on the line after one."""
    lines = source.splitlines()
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.COMMENT:
            continue
        text = tok.string[1:].strip()
        row = tok.start[0] - 1
        code = lines[row][:tok.start[1]]
        printing = "print(" in code if code.strip() else row > 0 and "print(" in lines[row - 1]
        if printing and VALUE.match(text):
            found.append(text)
    return found


@pytest.mark.parametrize("block", _params({"python"}))
def test_python(block, results):
    proc = results[block.id].result()
    assert proc.returncode == 0, _explain(block, "python <block>", proc)
    printed = _norm(proc.stdout)
    for value in _value_comments(block.text):
        assert " ".join(value.split()) in printed, \
            f"{block.id}: the doc says a print gives {value!r}; the block printed:\n{proc.stdout[-3000:]}"
    if block.expected_output is not None:
        shown = block.expected_output.splitlines()
        assert _matches(_norm(block.expected_output), printed), _explain(block, "python <block>", proc, shown)


# ---------------------------------------------------------------- the pages themselves

def test_every_command_block_is_run():
    """A block that shows commands has a language the tests run; markers sit on blocks they fit."""
    for b in ALL:
        shows_commands = any(line.startswith("$ ") for line in b.text.splitlines())
        assert not (shows_commands and b.lang not in RUN), \
            f"{b.id}: a block of '$ ' commands is ```{b.lang or ''}; write ```console so that it is run"
        assert not (b.lang == "console" and not shows_commands), f"{b.id}: ```console without a '$ ' command"
        if "not run" in b.markers:
            assert b.markers["not run"], f"{b.id}: '<!-- not run: ... -->' needs its reason"
        if set(b.markers) & {"not run", "slow", "exit"}:
            assert b.lang in RUN, f"{b.id}: a marker on a ```{b.lang or ''} block, which is never run"


def test_the_readme_links_every_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 300, "README.md is the front door: at most 300 lines"
    for page in PAGES[1:]:
        assert f"docs/{page.name}" in readme, f"README.md does not link docs/{page.name}"


LINK = re.compile(r"\]\(([^)\s]+)\)")
PENDING = {"docs/architecture.md"}      # written with the source tree's new layout


def test_local_links_resolve():
    for page in PAGES:
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (page.parent / target.split("#")[0]).resolve()
            rel = os.path.relpath(path, ROOT)
            assert path.exists() or rel in PENDING, f"{page.relative_to(ROOT)}: a link to a missing {rel}"
