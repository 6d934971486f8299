"""A small table model and its four renderings: terminal, Markdown, HTML, LaTeX.

>>> t = Table([["A", "B"]], [Row([Cell("conv3-64"), Cell("conv3-64")]), Row([Cell("maxpool3/2")], span=True),
...           Row([Cell(""), Cell("LRN", bold=True)])], [])
>>> print(t.render("markdown"))
| A | B |
|---|---|
| conv3-64 | conv3-64 |
| maxpool3/2 | maxpool3/2 |
|  | **LRN** |
"""
from __future__ import annotations

import html as _html
from dataclasses import dataclass, field

FORMATS = ("term", "markdown", "html", "latex")


@dataclass
class Cell:
    text: str
    bold: bool = False


@dataclass
class Row:
    cells: list[Cell]
    span: bool = False        # one cell spanning every column


@dataclass
class Table:
    header: list[list[str]]                 # header rows, one string per column
    rows: list[Row]
    footer: list[Row] = field(default_factory=list)
    caption: str = ""
    note: str = ""                          # what bold means, what is not shown
    grouped: bool = False                   # rules around spanning rows (VGG's Table 1 look)
    numeric: tuple[int, ...] = ()           # right-aligned columns (terminal)

    @property
    def ncols(self) -> int:
        return len(self.header[0])

    def render(self, fmt: str = "term", color: bool = False) -> str:
        """``term`` (ANSI bold when ``color``, else ``*x*``), ``markdown``, ``html`` or ``latex``."""
        if fmt not in FORMATS:
            raise ValueError(f"unknown table format {fmt!r}; use one of {', '.join(FORMATS)}")
        return {"term": _term, "markdown": _markdown, "html": _html_table, "latex": _latex}[fmt](self, color)


# ------------------------------------------------------------------ terminal
def _term(t: Table, color: bool) -> str:
    def shown(c: Cell) -> str:
        return f"*{c.text}*" if c.bold and not color else c.text

    n = t.ncols
    widths = [max([len(h[i]) for h in t.header] + [len(shown(r.cells[i])) for r in t.rows + t.footer if not r.span])
              for i in range(n)]
    total = sum(widths) + 2 * (n - 1)
    widest = max([len(r.cells[0].text) for r in t.rows + t.footer if r.span] + [0])
    if widest > total:   # widen every column so the spanning text fits
        extra = widest - total
        widths = [w + extra // n + (1 if i < extra % n else 0) for i, w in enumerate(widths)]
        total = widest
    rule = "─" * total

    def line(cells: list[Cell]) -> str:
        parts = []
        for i, c in enumerate(cells):
            text = shown(c)
            pad = widths[i] - len(text)
            if color and c.bold:
                text = f"\033[1m{text}\033[0m"
            parts.append(" " * pad + text if i in t.numeric else text + " " * pad)
        return "  ".join(parts).rstrip()

    out = [t.caption] if t.caption else []
    out += [line([Cell(h) for h in hrow]) for hrow in t.header]
    out.append(rule)
    for r in t.rows:
        if r.span:
            if t.grouped and out[-1] != rule:
                out.append(rule)
            out.append(r.cells[0].text.center(total).rstrip())
            if t.grouped:
                out.append(rule)
        else:
            out.append(line(r.cells))
    if t.footer:
        if out[-1] != rule:
            out.append(rule)
        out += [line(r.cells) for r in t.footer]
    if t.note:
        out.append(("bold" if color else "*x*") + f": {t.note}" if t.grouped else t.note)
    return "\n".join(out)


# ------------------------------------------------------------------ markdown
def _md_cell(c: Cell) -> str:
    text = c.text.replace("|", "\\|")
    return f"**{text}**" if c.bold and text else text


def _markdown(t: Table, color: bool = False) -> str:
    n = t.ncols
    head = ["<br>".join(h[i] for h in t.header) for i in range(n)]
    align = "|" + "|".join("---:" if i in t.numeric else ":---:" if t.grouped else "---" for i in range(n)) + "|"
    out = [f"**{t.caption}**", ""] if t.caption else []
    out += ["| " + " | ".join(head) + " |", align]
    for r in t.rows + t.footer:
        cells = r.cells * n if r.span else r.cells
        out.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    if t.note:
        out += ["", ("**bold**: " if t.grouped else "") + t.note]
    return "\n".join(out)


# ------------------------------------------------------------------ html
def _h(c: Cell) -> str:
    text = _html.escape(c.text)
    return f"<b>{text}</b>" if c.bold and text else text


def _html_table(t: Table, color: bool = False) -> str:
    n = t.ncols
    out = ['<table class="netc-table">']
    if t.caption:
        out.append(f"  <caption>{_html.escape(t.caption)}</caption>")
    out.append("  <thead>")
    for hrow in t.header:
        out.append("    <tr>" + "".join(f"<th>{_html.escape(h)}</th>" for h in hrow) + "</tr>")
    out.append("  </thead>")
    for part, rows in (("tbody", t.rows), ("tfoot", t.footer)):
        if not rows:
            continue
        out.append(f"  <{part}>")
        for r in rows:
            if r.span:
                out.append(f'    <tr><td colspan="{n}" style="text-align:center">{_h(r.cells[0])}</td></tr>')
            else:
                out.append("    <tr>" + "".join(f"<td>{_h(c)}</td>" for c in r.cells) + "</tr>")
        out.append(f"  </{part}>")
    out.append("</table>")
    if t.note:
        out.append(f"<p>{'<b>bold</b>: ' if t.grouped else ''}{_html.escape(t.note)}</p>")
    return "\n".join(out)


# ------------------------------------------------------------------ latex
_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "×": r"$\times$",
        "…": r"\ldots{}"}


def _tex(s: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in s)


def _tc(c: Cell) -> str:
    text = _tex(c.text)
    return f"\\textbf{{{text}}}" if c.bold and text else text


def _latex(t: Table, color: bool = False) -> str:
    n = t.ncols
    cols = "|" + "|".join("r" if i in t.numeric else "c" for i in range(n)) + "|"
    out = [f"% {_tex(t.caption)}" if t.caption else "", f"\\begin{{tabular}}{{{cols}}}", r"\hline"]
    out += [" & ".join(_tex(h) for h in hrow) + r" \\" for hrow in t.header]
    out.append(r"\hline")
    for r in t.rows:
        if r.span:
            if t.grouped and out[-1] != r"\hline":
                out.append(r"\hline")
            out.append(f"\\multicolumn{{{n}}}{{|c|}}{{{_tc(r.cells[0])}}} \\\\")
            if t.grouped:
                out.append(r"\hline")
        else:
            out.append(" & ".join(_tc(c) for c in r.cells) + r" \\")
    if out[-1] != r"\hline":
        out.append(r"\hline")
    if t.footer:
        out += [" & ".join(_tc(c) for c in r.cells) + r" \\" for r in t.footer]
        out.append(r"\hline")
    out.append(r"\end{tabular}")
    if t.note:
        out.append(f"% {'bold: ' if t.grouped else ''}{_tex(t.note)}")
    return "\n".join(x for x in out if x != "")
