"""What a worker process does for one request: check a spec's text, draw a configuration, diff two.

Pure functions of the request (a dict) that return a JSON-ready dict. They run in a worker process
(netc.tools.serve.pool) with a time and memory budget; nothing here imports torch, and nothing in a spec
is executed. Graphviz's ``dot`` runs as a child of the worker, in the worker's process group, so a
worker killed for its budget takes its ``dot`` with it.

An error in the spec is never a failure: ``check`` lists it, ``picture`` and ``diff`` raise
:class:`UserError` with its diagnostics (HTTP 422), whichever stage found it (parsing, building a
configuration, a limit). Error lists are capped at ``MAX_ERRORS`` (the count of the rest is given),
and each diagnostic's text at ``MAX_TEXT`` characters, so an answer stays small whatever the spec.
"""
from __future__ import annotations

import base64
import html
import os
import re
import subprocess
from pathlib import Path

import netc
from netc.dsl.errors import MAX_SHOWN, NetcError, NetcErrors

MAX_ERRORS = MAX_SHOWN    # diagnostics in one answer; the rest are counted ("errors_total")
MAX_TEXT = 4000           # characters of one diagnostic's message, hint or rendered text
MAX_DRAWN = 1500          # layers; a larger network is checked and counted but not drawn
DOT_TIMEOUT = 20.0        # seconds; the pool's budget usually ends it first
STARTER = """# A playground: edit the spec, the diagram follows. Nothing here is executed.
input 32x32 RGB
var num_classes = 10

block mix(a, b) {
    concat {
        conv1-a as one
        conv3-b as three
    }
}

conv3-32
maxpool
mix(16, 32) as 2a
maxpool
conv3-64 x2
gap
FC-num_classes
soft-max
"""


def handle(req: dict) -> dict:
    """Dispatch one request: {"op": "check" | "diff" | "picture", ...}."""
    op = req.get("op")
    if op == "check":
        try:
            return check(req)
        except NetcError as e:          # a limit or an error found outside the usual places
            return _errors_only(diagnostics(_flat(e), _filename(req)))
        except RecursionError:
            return _errors_only([plain_diagnostic("the spec nests too deeply to check")])
    if op in ("diff", "picture"):
        try:
            return diff(req) if op == "diff" else picture(req)
        except NetcError as e:          # building a configuration, a limit: the spec's error, not ours
            raise _user_error(_flat(e), _filename(req)) from None
        except RecursionError:
            raise UserError([plain_diagnostic("the spec nests too deeply to check")]) from None
    if op == "ping":
        return {"ok": True}
    if op == "sleep":          # for tests of the budget: a request that never ends in time
        import time
        time.sleep(float(req.get("seconds", 60)))
        return {"ok": True}
    if op == "hog":            # for tests of the memory limit
        block = bytearray(int(req.get("bytes", 1 << 34)))
        return {"ok": len(block)}
    raise ValueError(f"unknown op {op!r}")


# ------------------------------------------------------------------ helpers
def _filename(req: dict) -> str:
    name = req.get("filename") or "<playground>"
    return str(name)


def _program(text: str, filename: str):
    """(program, errors): a syntax error leaves no program."""
    try:
        return netc.Program.from_text(text, filename), []
    except NetcError as e:
        return None, _flat(e)


def _flat(e: NetcError) -> list[NetcError]:
    return list(e.errors) if isinstance(e, NetcErrors) else [e]


def diagnostic(e: NetcError, filename: str) -> dict:
    s = e.span
    here = s.file == filename
    return {
        "line": s.line if here else 0, "col": s.col if here else 0,
        "end_line": s.end_line if here else 0, "end_col": s.end_col if here else 0,
        "file": s.file, "kind": type(e).__name__, "message": _clip(e.message), "hint": _clip(e.hint),
        "text": _clip(e.render(color=False)),
    }


def diagnostics(errors, filename: str, limit: int = MAX_ERRORS) -> list[dict]:
    """The first ``limit`` distinct errors (same place, same message: once) as diagnostics."""
    out, seen = [], set()
    for e in errors:
        s = e.span
        key = (s.file, s.line, s.col, e.message)
        if key not in seen:
            seen.add(key)
            if len(out) < limit:
                out.append(diagnostic(e, filename))
    return out


def plain_diagnostic(message: str) -> dict:
    """A diagnostic with no place in the text."""
    return {"line": 0, "col": 0, "end_line": 0, "end_col": 0, "file": None, "kind": "SpecError",
            "message": message, "hint": None, "text": f"error: {message}"}


def _clip(text: str | None, limit: int = MAX_TEXT) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + f"... ({len(text) - limit:,} more characters)"


def _capped(out: dict, errors: list[dict], total: int) -> dict:
    """``out`` with at most MAX_ERRORS of ``errors`` and, when some were left out, their total."""
    out["errors"] = errors[:MAX_ERRORS]
    if total > len(out["errors"]):
        out["errors_total"] = total
    return out


def _errors_only(errors: list[dict]) -> dict:
    return {"configs": [], "config": None, "errors": errors, "svg": None, "lines": {}, "summary": None}


def _pick(prog, want: str | None) -> str | None:
    names = prog.own_configs()
    if want in names:
        return want
    return prog.default_config() or (names[0] if names else None)


def line_map(ir) -> dict[str, int]:
    """DOT node id (an IR node name, or a block scope drawn as one node) -> the spec line it came from."""
    return {k: v[0] for k, v in span_map(ir).items()}


def span_map(ir) -> dict[str, list[int]]:
    """The same -> [line, col, end_line, end_col] (a table cell, a block instance's line)."""
    out: dict[str, list[int]] = {}

    def put(name, span):
        if span is not None and span.file == ir.filename and span.line > 0 and name not in out:
            out[name] = [span.line, span.col, span.end_line, span.end_col]
    for n in ir.nodes():
        put(n.name, n.span)
    for name, sc in ir.scopes.items():
        put(name, getattr(sc, "span", None))
    return out


def run_dot(dot: str, fmt: str = "svg") -> bytes:
    """``dot -T<fmt>``, a child of this worker (killed with it)."""
    res = subprocess.run(["dot", f"-T{fmt}"], input=dot.encode("utf-8"), capture_output=True, timeout=DOT_TIMEOUT)
    if res.returncode != 0:
        raise RuntimeError("Graphviz failed: " + res.stderr.decode("utf-8", "replace")[:300])
    return res.stdout.replace(b"&#45;", b"-") if fmt == "svg" else res.stdout


def _dot_options(req: dict) -> dict:
    depth = req.get("depth")
    opts = {"depth": depth if isinstance(depth, int) and depth >= 1 else None,
            "rankdir": "LR" if req.get("rankdir") == "LR" else "TB",
            "shapes": bool(req.get("shapes"))}
    return opts


def _summary(ir, depth=None) -> dict:
    from netc.summary import to_dict
    d = to_dict(ir, depth if isinstance(depth, int) and depth >= 1 else None)
    d.pop("conventions", None)
    return d


# ------------------------------------------------------------------ operations
def check(req: dict) -> dict:
    """Every diagnostic of the text; for the chosen configuration its summary, SVG and line map."""
    text, filename = str(req.get("text", "")), _filename(req)
    prog, errors = _program(text, filename)
    out: dict = {"configs": [], "config": None, "errors": [], "svg": None, "lines": {}, "summary": None}
    if prog is None:
        errors = sort_unique(errors)
        return _capped(out, [diagnostic(e, filename) for e in errors[:MAX_ERRORS]], len(errors))
    out["configs"] = prog.own_configs()
    out["default"] = prog.default_config()
    name = _pick(prog, req.get("config"))
    out["config"] = name
    drawing = None
    if name is not None and not prog.errors:
        # the chosen configuration first, so that Graphviz draws it while the others are checked
        try:
            ir = netc.build_config(prog, name)
        except NetcError:
            ir = None          # its errors are among the file's errors, below
        if ir is not None:
            out["summary"] = _summary(ir, req.get("depth"))
            out["spans"] = span_map(ir)
            out["lines"] = {k: v[0] for k, v in out["spans"].items()}
            out["scopes"] = sorted(ir.scopes)
            n = sum(1 for _ in ir.nodes())
            if n > MAX_DRAWN:
                out["too_big"] = f"{n:,} layers: too many to draw here (netc render draws it)"
            else:
                drawing = DotJob(folded_dot(ir, _dot_options(req), req.get("open") or (), req.get("closed") or ()))
    errors, seen = [], set()
    for e in netc.check_program(prog):       # configurations that share a line report its error once
        key = (e.span.file, e.span.line, e.span.col, e.message)
        if key not in seen:
            seen.add(key)
            if len(errors) < MAX_ERRORS:
                errors.append(diagnostic(e, filename))
    _capped(out, errors, len(seen))
    if drawing is not None:
        out["svg"] = stable_ids(drawing.result().decode("utf-8"))
        drawn = drawn_units(out["svg"])
        out["facts"] = unit_facts(ir, drawn)
        out["summary"]["layers"] = folded_rows(ir, drawn)
    return out


class DotJob:
    """``dot -Tsvg`` started now, in parallel with the rest of the check; ``result()`` waits for it."""

    def __init__(self, dot: str, fmt: str = "svg"):
        import threading
        self.fmt, self._out, self._err = fmt, None, None
        self._thread = threading.Thread(target=self._run, args=(dot,), daemon=True)
        self._thread.start()

    def _run(self, dot: str) -> None:
        try:
            self._out = run_dot(dot, self.fmt)
        except BaseException as e:      # re-raised in result()
            self._err = e

    def result(self) -> bytes:
        self._thread.join()
        if self._err is not None:
            raise self._err
        return self._out


def _build(prog, name: str, filename: str):
    """The configuration's IR; its errors (and the file's others, as check lists them) as UserError."""
    try:
        return netc.build_config(prog, name)
    except NetcError as e:
        found = _flat(e)
    try:
        found += list(netc.check_program(prog))
    except NetcError as e:
        found += _flat(e)
    raise _user_error(sort_unique(found), filename)


def picture(req: dict) -> dict:
    """The chosen configuration as PNG (base64) or SVG, for download."""
    text, filename = str(req.get("text", "")), _filename(req)
    fmt = "png" if req.get("format") == "png" else "svg"
    prog, errors = _program(text, filename)
    if prog is None or prog.errors:
        raise _user_error(errors or prog.errors, filename)
    name = _pick(prog, req.get("config"))
    if name is None:
        raise _user_error([prog.no_network()], filename)
    ir = _build(prog, name, filename)
    from netc.visualize import to_dot
    data = run_dot(to_dot(ir, **_dot_options(req)), fmt)
    return {"format": fmt, "config": name, "data": base64.b64encode(data).decode("ascii")}


# ------------------------------------------------------------------ folding, ids, hover facts
def folded_dot(ir, options: dict, open_=(), closed=()) -> str:
    """The DOT text with some blocks opened or folded in place (a click in the playground): a block
    in ``closed`` is one box, one in ``open`` is drawn expanded whatever the depth; the rest follow
    ``options['depth']`` (and a run of identical instances, ``encoder_block ×12``, stays one box
    unless it is opened)."""
    from netc.visualize import dot as D
    from netc.visualize import to_dot
    open_, closed = set(open_), set(closed)
    if not open_ and not closed:
        return to_dot(ir, **options)
    depth = options.get("depth")
    if depth is None:           # depth None folds runs into one box; emulate it so that a run can be opened
        runs = D.block_runs(ir, D.FOLD_BLOCKS)
        closed |= {r[0] for r in runs if r[0] not in open_}
    place = D._place

    def fold_place(ir_, n, _depth):
        full, _ = place(ir_, n, None)               # every block expanded: the clusters around n
        level = 0
        for k in range(1, len(n.scope) + 1):
            path = "/".join(n.scope[:k])
            sc = ir_.scopes.get(path)
            if sc is None or sc.kind != "block":
                continue
            level += 1
            if path in closed or (path not in open_ and depth is not None and level >= depth):
                return tuple(c for c in full if not (c == path or c.startswith(path + "/"))), path
        return full, None
    D._place = fold_place
    try:
        return to_dot(ir, **{**options, "depth": depth if depth is not None else 1 << 20})
    finally:
        D._place = place


_UNIT = re.compile(r'<g id="(?:node|clust)\d+" class="(node|cluster)">\s*<title>([^<]*)</title>')


def stable_ids(svg: str) -> str:
    """Graphviz numbers its groups (node7, clust3); name them after what they draw instead, so that a
    node keeps its id from one drawing to the next: ``n:conv1``, ``c:inception_3a``."""
    def name(m):
        what, title = m.group(1), html.unescape(m.group(2))
        ident = "n:" + title if what == "node" else "c:" + title.removeprefix("cluster_")
        return f'<g id="{html.escape(ident, quote=True)}" class="{what}">\n<title>{m.group(2)}</title>'
    return _UNIT.sub(name, svg)


def drawn_units(svg: str) -> dict[str, set[str]]:
    """{"nodes": drawn node ids (IR node or folded block names), "clusters": expanded block names}."""
    out: dict[str, set[str]] = {"nodes": set(), "clusters": set()}
    for what, title in _UNIT_TITLE.findall(svg):
        title = html.unescape(title)
        if what == "node":
            out["nodes"].add(title)
        else:
            out["clusters"].add(title.removeprefix("cluster_"))
    return out


_UNIT_TITLE = re.compile(r'<g id="[^"]*" class="(node|cluster)">\s*<title>([^<]*)</title>')


def _run_of(ir) -> dict[str, list[str]]:
    """First instance of a run of identical blocks -> the run's instances."""
    from netc.visualize import dot as D
    return {r[0]: r for r in D.block_runs(ir, D.FOLD_BLOCKS)}


def unit_facts(ir, drawn: dict) -> dict[str, dict]:
    """What hovering a drawn node shows, as the language server's hover does (netc.tools.lsp.adapter):
    its spec word, output shape, parameters, multiply-adds and receptive field; for a folded block,
    its totals. Keyed by the node's id in the DOT text."""
    from netc.tools.lsp.adapter import layer_facts, scope_facts, show
    runs = _run_of(ir)
    out: dict[str, dict] = {}
    for name in drawn["nodes"]:
        if name in ir.scopes:
            sc = ir.scopes[name]
            f = scope_facts(ir, sc)
            last = ir.node(sc.output) if sc.output in ir.g else None
            n_runs = len(runs.get(name, ())) or 1
            params, macs = f["params"], f["macs"]
            if n_runs > 1:
                inst = [ir.scope_nodes(s) for s in runs[name]]
                params = sum(m.n_params for ns in inst for m in ns)
                macs = None if any(m.macs is None for ns in inst for m in ns) else sum(m.macs for ns in inst for m in ns)
                last = ir.node(ir.scopes[runs[name][-1]].output)
            out[name] = {"block": True, "word": sc.label, "name": name, "kind": sc.block or sc.kind,
                         "args": ", ".join(f"{k}={show(v)}" for k, v in f["args"].items()),
                         "shape": f["output"] if n_runs == 1 else _shape_text(last), "layers": f["layers"] * n_runs,
                         "repeat": n_runs, "params": params, "macs": macs,
                         "rf": list(last.rf) if last is not None and last.rf else None}
        elif name in ir.g:
            f = layer_facts(ir.node(name))
            node = ir.node(name)
            given = node.params.model_dump(exclude_defaults=True) if hasattr(node.params, "model_dump") else {}
            out[name] = {"block": False, "word": f["paper"], "name": name, "kind": f["kind"],
                         "args": ", ".join(f"{k}={show(v)}" for k, v in given.items()),
                         "shape": f["shape"], "params": f["n_params"], "macs": f["macs"],
                         "rf": list(f["rf"]) if f["rf"] else None}
    return out


def _shape_text(node) -> str:
    from netc.tools.lsp.adapter import node_shape
    return node_shape(node)


def folded_rows(ir, drawn: dict) -> list[dict]:
    """The summary table as the diagram folds it: an expanded block is a heading row (its totals)
    over its layers, a folded block one row; names are relative to the enclosing block (``level``
    says how deep). Layers drawn by the first instance of a folded run are not repeated."""
    from netc.summary import _json_shape, _shape
    nodes, clusters = drawn["nodes"], drawn["clusters"]
    runs = _run_of(ir)
    rows: list[dict] = []
    done: set[str] = set()

    def rel(name: str, parent: str | None) -> str:
        return name[len(parent) + 1:] if parent and name.startswith(parent + "/") else name

    def block_row(key: str, parent: str | None, level: int, is_open: bool) -> dict:
        sc = ir.scopes[key]
        inst = runs.get(key, [key])
        members = [m for s in inst for m in ir.scope_nodes(s)]
        out = ir.node(ir.scopes[inst[-1]].output) if ir.scopes[inst[-1]].output in ir.g else None
        macs = [m.macs for m in members]
        return {"name": rel(key, parent), "full": key, "kind": sc.block or sc.kind,
                "layer": sc.label + (f" ×{len(inst)}" if len(inst) > 1 else ""),
                "out_shape": _json_shape(_shape(out)) if out is not None else None,
                "params": sum(m.n_params for m in members),
                "macs": None if any(v is None for v in macs) else sum(macs),
                "rf": list(out.rf) if out is not None and out.rf else None, "aux": out.aux if out is not None else None,
                "line": sc.span.line if sc.span is not None else 0, "level": level, "block": True, "open": is_open}

    for n in ir.layers():
        parent, level, unit = None, 0, None
        for k in range(1, len(n.scope) + 1):
            path = "/".join(n.scope[:k])
            if path in nodes:                 # folded: the block's box draws n
                unit = path
                break
            if path in clusters:
                if path not in done:
                    done.add(path)
                    rows.append(block_row(path, parent, level, True))
                parent, level = path, level + 1
        if unit is not None:
            if unit not in done:
                done.add(unit)
                rows.append(block_row(unit, parent, level, False))
            continue
        if n.name not in nodes:
            continue                          # a later instance of a folded run: drawn as the first
        rows.append({"name": rel(n.name, parent), "full": n.name, "kind": n.kind, "layer": n.paper,
                     "out_shape": _json_shape(_shape(n)), "params": n.n_params, "macs": n.macs,
                     "rf": list(n.rf) if n.rf else None, "aux": n.aux,
                     "line": n.span.line if n.span is not None else 0, "level": level, "block": False})
    return rows


def diff(req: dict) -> dict:
    """netc diff of two configurations of the text: the edits (as --json) and NEW drawn in diff colours."""
    from netc.diff import diff as run_diff
    text, filename = str(req.get("text", "")), _filename(req)
    prog, errors = _program(text, filename)
    if prog is None or prog.errors:
        raise _user_error(errors or prog.errors, filename)
    old_name, new_name = req.get("old"), req.get("new")
    names = prog.own_configs()
    for n in (old_name, new_name):
        if n not in names:
            raise _user_error([NetcError(f"no configuration {n!r}; the file has: {', '.join(names)}")], filename)
    old, new = _build(prog, old_name, filename), _build(prog, new_name, filename)
    d = run_diff(old, new, old_name, new_name)
    doc = d.to_json()
    marks = d.marks(old, new)
    ghosts = marks["ghosts"]
    from netc.visualize import to_dot
    svg = run_dot(to_dot(new, **marks, **_dot_options(req)))
    spans = span_map(new)
    for n in ghosts:
        if n.span is not None and n.span.file == filename:
            spans["ghost:" + n.name] = [n.span.line, n.span.col, n.span.end_line, n.span.end_col]
    return {"diff": doc, "svg": svg.decode("utf-8"), "spans": spans, "lines": {k: v[0] for k, v in spans.items()},
            "scopes": sorted(new.scopes), "identical": d.identical,
            "old_params": old.params, "new_params": new.params}


class UserError(Exception):
    """A request about an invalid spec: answered with its diagnostics, not as a failure."""

    def __init__(self, diagnostics: list[dict]):
        super().__init__(diagnostics[0]["message"] if diagnostics else "invalid spec")
        self.diagnostics = diagnostics


def _user_error(errors, filename: str) -> UserError:
    return UserError(diagnostics(errors, filename))


def sort_unique(errors) -> list[NetcError]:
    """Errors flattened, each place and message once, in source order."""
    flat, seen = [], set()
    for e in errors:
        for one in _flat(e):
            key = (one.span.file or "", one.span.line, one.span.col, one.message)
            if key not in seen:
                seen.add(key)
                flat.append(one)
    return sorted(flat, key=lambda e: (e.span.file or "", e.span.line, e.span.col))


def read_spec(ref: str) -> tuple[str, str, str | None]:
    """(text, filename, configuration) of a spec reference: a path, path:CONFIG, or a bundled name."""
    from netc.elaborate.specref import split_ref
    path, cfg = split_ref(ref)
    path = Path(path)
    if not path.is_file():
        raise netc.UsageError(f"no such spec file: {path}")
    return path.read_text(encoding="utf-8-sig"), os.fspath(path), cfg
