"""netc summary SPEC[:CONFIG]: per-layer output shape, params, multiply-adds, receptive field."""
from __future__ import annotations

import netc
from netc import summary as S
from netc.dsl.errors import UsageError
from netc.tools.commands import add_overrides, at_input, overrides as spec_overrides, parse_depth


def add_parser(sub) -> None:
    p = sub.add_parser("summary", help="per-layer shapes, params, multiply-adds, receptive fields",
                       description="Summarise one configuration (or every configuration of a file).")
    p.add_argument("spec", metavar="SPEC[:CONFIG]", help="e.g. vgg:D, googlenet, path/to/net.net:B")
    p.add_argument("--input", metavar="CxHxW", help="evaluate at this input size (e.g. 3x256x320 or 256x320)")
    p.add_argument("--depth", metavar="N|all",
                   help="aggregate blocks nested at depth N or deeper into one row; all: every layer (default: "
                        "the terminal table shows as deep as fits a screen; the other formats every layer)")
    p.add_argument("--batch", default="1", metavar="N",
                   help="batch size for the activation memory (default 1)")
    p.add_argument("--json", action="store_true", help="print JSON (same as --format json)")
    p.add_argument("--format", choices=("term", "markdown", "csv", "json"), default="term")
    add_overrides(p)
    p.set_defaults(run=run)


def _batch(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1_000_000:
        raise UsageError(f"--batch takes a number from 1 to 1000000, not {text!r}")
    return int(text)


def parse_input_chw(text: str) -> tuple[int | None, int, int]:
    """``3x256x320`` -> (3, 256, 320); ``256x320`` -> (None, 256, 320)."""
    parts = text.lower().replace("\u00d7", "x").split("x")
    if len(parts) not in (2, 3) or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise UsageError(f"--input takes CxHxW or HxW with positive numbers, not {text!r}")
    c = int(parts[0]) if len(parts) == 3 else None
    return c, int(parts[-2]), int(parts[-1])


def parse_input(text: str) -> tuple[int, int]:
    """``3x256x320`` or ``256x320`` -> (256, 320)."""
    return parse_input_chw(text)[1:]


def _load(spec: str, overrides: dict) -> list:
    """SPEC:CONFIG -> that one; a file with a `default` configuration -> the default (``googlenet``
    alone names GoogLeNet, not every variant in the file); otherwise every configuration."""
    _, cfg = netc.split_ref(spec)
    if cfg is None and any(c.default and c.own for c in netc.program(spec).configs.values()):
        return [netc.load(spec, **overrides)]
    return netc.load_all(spec, **overrides)


def run(args) -> int:
    fmt = "json" if args.json else args.format
    overrides = spec_overrides(args)
    irs = [at_input(ir, args.input) for ir in _load(args.spec, overrides)]
    depth = None if args.depth is None else parse_depth(args.depth)
    batch = _batch(args.batch)
    depth, chosen = (None if depth == "all" else depth), depth is not None
    if fmt == "json":
        print(S.to_json(irs, depth, batch))
        return 0
    if fmt == "term":
        texts = [S.to_text(ir, depth if chosen else S.default_depth(ir), batch) for ir in irs]
    else:
        render = {"markdown": S.to_markdown, "csv": S.to_csv}[fmt]
        texts = [render(ir, depth) for ir in irs]
    if fmt == "csv":
        print(texts[0] + "".join(t.split("\n", 1)[1] for t in texts[1:]), end="")
    else:
        print("\n\n".join(texts))
    return 0
