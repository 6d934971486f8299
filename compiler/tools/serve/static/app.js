// netc playground: the editor, the live diagram (zoom, pan, hover facts, blocks folded in place),
// the summary table folded as the diagram is, errors and the diff view.
// Talks to the server's JSON API (netc.tools.serve.app); loads nothing from outside this server.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const state = {
    view: "diagram", config: null, configs: [], filename: "", lines: {}, byLine: new Map(),
    inflight: false, pending: false, timer: null, seq: 0, shown: 0, svg: null, zoom: null,
    cursorLine: 0, lastAnswer: null, sentAt: 0, facts: {}, open: new Set(), closed: new Set(), anchor: null,
  };

  // ---------------------------------------------------------------- the editor (or a text area)
  function textareaEditor(parent, {doc, onChange, onCursor}) {
    const ta = document.createElement("textarea");
    ta.spellcheck = false; ta.value = doc; parent.appendChild(ta);
    const lineOf = () => ta.value.slice(0, ta.selectionStart).split("\n").length;
    let last = -1;
    const cursor = () => { const l = lineOf(); if (l !== last) { last = l; onCursor(l); } };
    ta.addEventListener("input", () => { onChange(ta.value); cursor(); });
    ["keyup", "click", "select"].forEach((e) => ta.addEventListener(e, cursor));
    return {
      kind: "textarea",
      getText: () => ta.value,
      cursorLine: () => lineOf(),
      setText(t) { ta.value = t; onChange(t); },
      setDiagnostics() {},
      markLines() {},
      selectLine(line) {
        const lines = ta.value.split("\n");
        if (line < 1 || line > lines.length) return;
        let from = 0; for (let i = 0; i < line - 1; i++) from += lines[i].length + 1;
        ta.focus(); ta.setSelectionRange(from, from + lines[line - 1].length);
        const lh = parseFloat(getComputedStyle(ta).lineHeight) || 20;
        ta.scrollTop = Math.max(0, (line - 5) * lh);
      },
      focus() { ta.focus(); },
    };
  }

  let editor = null;
  function makeEditor(doc) {
    const opts = {doc, onChange: () => schedule(), onCursor: (l) => pickLine(l)};
    if (window.NetcEditor && !window.NETC_NO_EDITOR) {
      try { return window.NetcEditor.create($("editor"), opts); } catch (e) { console.error(e); }
    }
    const note = $("editor-note");
    note.hidden = false;
    note.textContent = "The highlighting editor is not built (run scripts/setup.sh, or npm ci && npm run build " +
      "in playground/): a plain text area stands in.";
    return textareaEditor($("editor"), opts);
  }

  // ---------------------------------------------------------------- talking to the server
  async function post(path, body) {
    const r = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    let doc = null;
    try { doc = await r.json(); } catch (e) { doc = {error: `HTTP ${r.status}`}; }
    return {status: r.status, doc};
  }

  function options() {
    const depth = $("depth").value;
    return {depth: depth ? parseInt(depth, 10) : null, rankdir: $("lr").checked ? "LR" : "TB",
            shapes: $("shapes").checked};
  }

  function schedule() {
    clearTimeout(state.timer);
    state.timer = setTimeout(send, 5);   // requests never overlap: a burst of keys coalesces
  }

  async function send() {
    if (state.inflight) { state.pending = true; return; }
    state.inflight = true; state.pending = false;
    const seq = ++state.seq;
    const text = editor.getText();
    const t0 = performance.now();
    try {
      const {status, doc} = state.view === "diff"
        ? await post("api/diff", {text, filename: state.filename, old: $("diff-old").value, new: $("diff-new").value, ...options()})
        : await post("api/check", {text, filename: state.filename, config: state.config, ...options(),
                                   open: [...state.open], closed: [...state.closed]});
      show(status, doc, seq, performance.now() - t0);
    } catch (e) {
      setStatus(`the server did not answer (${e.message})`, true);
    } finally {
      state.inflight = false;
      if (state.pending) send();
    }
  }

  // ---------------------------------------------------------------- showing an answer
  function show(status, doc, seq, ms) {
    state.shown = seq;
    document.body.dataset.seq = String(seq);
    try { render(status, doc, ms); }
    finally { document.dispatchEvent(new CustomEvent("netc:shown", {detail: {seq, ms, server_ms: doc.ms}})); }
  }

  function render(status, doc, ms) {
    if (doc.budget) {
      showErrors([], doc.message);
      setStatus(doc.message, true);
      $("diagram").classList.add("stale");
      return;
    }
    if (state.view === "diff") return showDiff(status, doc, ms);
    if (status !== 200) {
      showErrors([], doc.error || `HTTP ${status}`);
      return;
    }
    setConfigs(doc.configs || [], doc.config);
    const errs = doc.errors || [];
    showErrors(errs, null, doc.errors_total);
    editor.setDiagnostics(errs.filter((e) => e.line > 0).map((e) => ({
      line: e.line, col: e.col, end_line: e.end_line, end_col: e.end_col,
      message: e.message + (e.hint ? `\nhint: ${e.hint}` : "")})));
    if (doc.svg) {
      state.facts = doc.facts || {};
      setDiagram(doc.svg, doc.spans || {}, doc.scopes || []);
      $("diagram").classList.remove("stale");
    } else {
      $("diagram").classList.add("stale");
      if (doc.too_big) setPlaceholder(doc.too_big);
    }
    if (doc.summary) showSummary(doc.summary);
    const what = doc.config ? `${doc.config}` : "";
    if (doc.svg || doc.too_big) setStatus(`${what} · checked in ${Math.round(ms)} ms` +
                                          (errs.length ? ` · ${errs.length} error${errs.length > 1 ? "s" : ""} elsewhere` : ""), false);
    else setStatus(errs.length ? "errors: the last valid diagram is shown" : "no network to draw", true);
  }

  function setStatus(text, stale) {
    const s = $("status");
    s.textContent = text;
    s.classList.toggle("stale", !!stale);
  }

  function showErrors(errs, budget, total) {   // total: when the server sent only the first errors
    const box = $("errors");
    box.innerHTML = "";
    box.classList.toggle("budget", !!budget);
    if (!errs.length && !budget) { box.hidden = true; return; }
    box.hidden = false;
    const head = document.createElement("div");
    head.className = "head";
    const n = Math.max(errs.length, total || 0);
    head.textContent = budget || `${n.toLocaleString("en")} error${n > 1 ? "s" : ""}` +
      (n > errs.length ? ` (the first ${errs.length} shown)` : "");
    box.appendChild(head);
    for (const e of errs) {
      const div = document.createElement("div");
      div.className = "err";
      const loc = document.createElement("span");
      loc.className = "loc";
      loc.textContent = e.line ? `line ${e.line}:${e.col}` : e.file;
      const msg = document.createElement("span");
      msg.className = "msg";
      msg.textContent = e.message;
      div.append(loc, msg);
      if (e.hint) {
        const h = document.createElement("div");
        h.className = "hint";
        h.textContent = `hint: ${e.hint}`;
        div.appendChild(h);
      }
      const pre = document.createElement("pre");
      pre.textContent = caretLines(e.text);
      if (pre.textContent) div.appendChild(pre);
      if (e.line) div.addEventListener("click", () => editor.selectLine(e.line));
      box.appendChild(div);
    }
  }

  function caretLines(text) {   // the quoted line and its caret, from the compiler's rendering
    return (text || "").split("\n").filter((l) => /^\s*\d*\s\|/.test(l)).join("\n");
  }

  function setPlaceholder(text) {
    const d = $("diagram");
    d.innerHTML = "";
    const p = document.createElement("div");
    p.className = "placeholder";
    p.textContent = text;
    d.appendChild(p);
    state.svg = null;
  }

  function setDiagram(svgText, spans, scopes) {
    const d = $("diagram"), canvas = $("canvas");
    const at = svgText.indexOf("<svg");
    const before = viewer.snapshot();
    canvas.innerHTML = at >= 0 ? svgText.slice(at) : svgText;
    state.svg = svgText;
    state.spans = spans;
    state.lines = Object.fromEntries(Object.entries(spans).map(([k, v]) => [k, v[0]]));
    state.byLine = new Map();
    const addLine = (line, g) => {
      if (!state.byLine.has(line)) state.byLine.set(line, []);
      if (!state.byLine.get(line).includes(g)) state.byLine.get(line).push(g);
    };
    const drawn = [];
    const svg = canvas.querySelector("svg");
    if (!svg) return;
    const w = (parseFloat(svg.getAttribute("width")) || 0) * 4 / 3, h = (parseFloat(svg.getAttribute("height")) || 0) * 4 / 3;
    svg.dataset.w = w; svg.dataset.h = h;      // pt -> px
    svg.dataset.viewBox = svg.getAttribute("viewBox") || `0 0 ${w * 3 / 4} ${h * 3 / 4}`;
    for (const g of canvas.querySelectorAll("g.node")) {
      const t = g.querySelector("title");
      const id = t ? t.textContent : "";
      const span = spans[id];
      if (t) t.remove();     // the browser's own tooltip would be the internal id: ours shows the facts
      g.dataset.name = id;
      if (!g.id) g.id = "n:" + id;
      drawn.push(g);
      if (!span) continue;
      g.dataset.line = span[0];
      addLine(span[0], g);
    }
    for (const g of canvas.querySelectorAll("g.cluster")) {
      const t = g.querySelector("title");
      if (!t) continue;
      g.dataset.scope = t.textContent.replace(/^cluster_/, "");
      t.remove();
    }
    // the line of a block instance (inception_4a) highlights every layer drawn inside it
    for (const sc of scopes) {
      const span = spans[sc];
      if (!span) continue;
      for (const g of drawn) if (g.dataset.name.startsWith(sc + "/") || g.dataset.name === "ghost:" + sc) addLine(span[0], g);
    }
    viewer.shown(w, h, before);
    pickLine(state.cursorLine, true);
  }

  function selectSpan(span) {
    if (editor.selectRange && span[2] === span[0]) editor.selectRange(span[0], span[1], span[3]);
    else editor.selectLine(span[0]);
  }

  // ---------------------------------------------------------------- the viewer: zoom, pan, overview, hover, folding
  // @panzoom/panzoom (static/viewer.js, bundled from playground/) moves #canvas inside #diagram with a CSS
  // transform: scale(s) translate(x, y), origin at the top left. Without the bundle the diagram scrolls.
  const viewer = (() => {
    const d = $("diagram"), canvas = $("canvas"), mini = $("minimap"), box = $("minimap-view");
    // the drawing's box: at least as wide as the view at the scale it is fitted to (a narrow network
    // is centred in a canvas that spans the pane: the whole pane is the diagram's)
    function frame(boxW) {
      const svg = canvas.querySelector("svg");
      if (!svg) return;
      const [w, h] = size;
      boxW = Math.max(w, boxW || 0);
      const [vx, vy, vw, vh] = svg.dataset.viewBox.split(/[\s,]+/).map(Number);
      const pad = (boxW - w) * 3 / 4 / 2;
      svg.setAttribute("viewBox", `${vx - pad} ${vy} ${vw + 2 * pad} ${vh}`);
      svg.setAttribute("width", `${boxW * 3 / 4}pt`);
      svg.style.width = `${boxW}px`; svg.style.height = `${h}px`;
      canvas.style.width = `${boxW}px`; canvas.style.height = `${h}px`;
      box0 = boxW;
    }
    let pz = null, mode = "width", size = [0, 0], box0 = 0, miniUrl = null, narrow = null;
    narrow = window.matchMedia("(max-width: 999px)").matches;
    if (window.NetcPanzoom) {
      pz = window.NetcPanzoom(canvas, {canvas: true, origin: "0 0", minScale: 0.02, maxScale: 8, animate: false,
                                       cursor: "", handleStartEvent: (e) => { e.preventDefault(); }});
      canvas.addEventListener("panzoomchange", () => overview());
      canvas.addEventListener("panzoomstart", () => hideTip());
      canvas.addEventListener("panzoompan", () => { if (moved > 3) { mode = null; d.classList.add("panning"); } });
      canvas.addEventListener("panzoomend", () => d.classList.remove("panning"));
      d.addEventListener("wheel", (e) => {
        e.preventDefault();
        hideTip();
        const delta = Math.max(-600, Math.min(600, e.deltaMode === 1 ? e.deltaY * 40 : e.deltaY));
        zoomAt(pz.getScale() * Math.exp(-delta * 0.002), e.clientX, e.clientY);
      }, {passive: false});
    } else {
      d.classList.add("plain");
    }
    // a drag is not a click: a node under the pointer when a pan ends is not opened or selected
    let down = null, moved = 0;
    d.addEventListener("pointerdown", (e) => { down = [e.clientX, e.clientY]; moved = 0; }, true);
    d.addEventListener("pointermove", (e) => {
      if (down) moved = Math.max(moved, Math.hypot(e.clientX - down[0], e.clientY - down[1]));
    }, true);
    d.addEventListener("click", (e) => { if (moved > 4) { e.stopPropagation(); e.preventDefault(); } down = null; }, true);

    function zoomAt(scale, clientX, clientY) {
      if (!pz) return;
      mode = null;       // screen = view's corner + s * (p + pan): keep p under (clientX, clientY)
      const s = pz.getScale(), t = pz.getPan(), r = d.getBoundingClientRect();
      const cx = clientX - r.left - d.clientLeft, cy = clientY - r.top - d.clientTop;
      const u = cx / s - t.x, v = cy / s - t.y, s2 = Math.max(0.02, Math.min(8, scale));
      pz.zoom(s2, {animate: false, force: true});
      pz.pan(cx / s2 - u, cy / s2 - v, {animate: false, force: true});
    }
    function place(scale, x, y) {      // the canvas's top left at (x, y) px inside #diagram, at this scale
      pz.zoom(scale, {animate: false, force: true});
      pz.pan(x / scale, y / scale, {animate: false, force: true});
    }
    function fit(how) {
      const [w, h] = size, W = d.clientWidth, H = d.clientHeight;
      if (!w || !h || !W) return;
      mode = how;
      const s = how === "all" ? Math.min((W - 24) / w, (H - 24) / h, 1.5)
        : Math.min((W - 24) / w, 1.25);   // the width, from the top: readable labels, the overview for the rest
      frame(W / s);
      if (!pz) return;
      place(s, (W - box0 * s) / 2, how === "all" ? Math.max(12, (H - h * s) / 2) : 12);
    }
    function snapshot() {
      return pz ? {scale: pz.getScale(), pan: pz.getPan(), mode, size: [...size], box: box0} : null;
    }
    function shown(w, h, before) {
      size = [w, h];
      if (miniUrl) URL.revokeObjectURL(miniUrl);
      miniUrl = URL.createObjectURL(new Blob([state.svg], {type: "image/svg+xml"}));
      mini.querySelector("img").src = miniUrl;
      frame(before && before.box || 0);
      if (!pz) { fit("width"); return; }
      const a = state.anchor;
      state.anchor = null;
      if (a && before) {                // a block opened or folded by a click: keep it where it was
        const el = document.getElementById(a.id);
        pz.zoom(before.scale, {animate: false, force: true});
        pz.pan(before.pan.x, before.pan.y, {animate: false, force: true});
        if (el) {
          const r = el.getBoundingClientRect(), s = pz.getScale(), p = pz.getPan();
          pz.pan(p.x + (a.left - r.left) / s, p.y + (a.top - r.top) / s, {animate: false, force: true});
        }
        mode = null;
      } else if (before && before.mode === null && before.size[0]) {
        pz.zoom(before.scale, {animate: false, force: true});    // an edit keeps the view the user chose
        pz.pan(before.pan.x, before.pan.y, {animate: false, force: true});
        mode = null;
      } else {
        fit(before && before.mode || mode || "width");
      }
      overview();
    }
    function overview() {
      const [w, h] = size, W = d.clientWidth, H = d.clientHeight;
      if (!pz || !w || !W) { mini.hidden = true; return; }
      const s = pz.getScale(), p = pz.getPan(), off = (box0 - w) / 2;   // the graph's left inside the box
      const big = w * s > W + 2 || h * s > H + 2;
      mini.hidden = !big;
      if (!big) return;
      const maxH = Math.max(80, H * 0.55), maxW = Math.min(160, W * 0.22);
      const m = Math.min(maxW / w, maxH / h);
      mini.style.width = `${Math.round(w * m)}px`; mini.style.height = `${Math.round(h * m)}px`;
      const x0 = Math.max(0, (-p.x - off) * m), y0 = Math.max(0, -p.y * m);
      const x1 = Math.min(w * m, (-p.x - off + W / s) * m), y1 = Math.min(h * m, (-p.y + H / s) * m);
      Object.assign(box.style, {left: `${x0}px`, top: `${y0}px`, width: `${Math.max(2, x1 - x0)}px`,
                                height: `${Math.max(2, y1 - y0)}px`});
    }
    function centerOn(u, v) {          // the canvas point (u, v) px to the middle of the view
      const s = pz.getScale();
      pz.pan(d.clientWidth / 2 / s - u, d.clientHeight / 2 / s - v, {animate: false, force: true});
      mode = null;
    }
    // the overview lets pointer events through (it hides nothing from elementFromPoint); the diagram
    // routes a press inside its rectangle to it
    let miniDrag = false;
    const inMini = (e) => {
      if (mini.hidden) return false;
      const r = mini.getBoundingClientRect();
      return e.clientX >= r.left && e.clientX <= r.right && e.clientY >= r.top && e.clientY <= r.bottom;
    };
    const miniMove = (e) => {
      const r = mini.getBoundingClientRect(), m = r.width / size[0];
      centerOn((box0 - size[0]) / 2 + (e.clientX - r.left) / m, (e.clientY - r.top) / m);
      overview();
    };
    d.addEventListener("pointerdown", (e) => {
      if (!inMini(e)) return;
      miniDrag = true; d.setPointerCapture(e.pointerId); miniMove(e); e.stopPropagation(); e.preventDefault();
    }, true);
    d.addEventListener("pointermove", (e) => {
      if (miniDrag) { miniMove(e); e.stopPropagation(); }
      d.classList.toggle("over-mini", inMini(e));
    }, true);
    const miniEnd = (e) => { if (miniDrag) { miniDrag = false; e.stopPropagation(); } };
    d.addEventListener("pointerup", miniEnd, true);
    d.addEventListener("pointercancel", miniEnd, true);
    function reveal(g) {               // bring a node into view when it is off screen
      if (!pz) { g.scrollIntoView({block: "nearest", inline: "nearest"}); return; }
      const r = g.getBoundingClientRect(), q = d.getBoundingClientRect();
      if (r.left >= q.left && r.right <= q.right && r.top >= q.top && r.bottom <= q.bottom) return;
      const s = pz.getScale(), c = canvas.getBoundingClientRect();
      centerOn((r.left + r.width / 2 - c.left) / s, (r.top + r.height / 2 - c.top) / s);
    }
    function resized() {
      const n = window.matchMedia("(max-width: 999px)").matches;
      if (narrow !== null && n !== narrow) mode = mode || "width";     // the layout changed: fit again
      narrow = n;
      if (mode) fit(mode); else overview();
    }
    return {fit, zoomAt, shown, snapshot, overview, reveal, resized, inMini,
            scale: () => (pz ? pz.getScale() : 1), get moved() { return moved; }};
  })();

  // hover: a node's spec word, output shape, parameters, multiply-adds and receptive field (the facts the
  // language server's hover shows, sent with the picture)
  const tip = $("tip");
  let tipTimer = null;
  function hideTip() { clearTimeout(tipTimer); tip.hidden = true; }
  function showTip(g, x, y) {
    const f = state.facts[g.dataset.name];
    if (!f) return;
    tip.innerHTML = "";
    const head = document.createElement("div");
    head.innerHTML = '<span class="word"></span><span class="name"></span>';
    head.querySelector(".word").textContent = f.word;
    head.querySelector(".name").textContent = f.name;
    tip.appendChild(head);
    if (f.args) {
      const a = document.createElement("div");
      a.className = "args";
      a.textContent = `${f.kind}(${f.args})`;
      tip.appendChild(a);
    }
    const t = document.createElement("table");
    const rows = [["output", f.shape], ["params", fmtInt(f.params)],
                  ["mult-adds", f.macs === null || f.macs === undefined ? "n/a (variable input)" : `${human(f.macs)} (${fmtInt(f.macs)})`],
                  ["receptive field", f.rf ? `${f.rf[0]} (stride ${f.rf[1]})` : "n/a"]];
    if (f.block) rows.splice(1, 0, ["layers", fmtInt(f.layers) + (f.repeat > 1 ? ` (${f.repeat} instances)` : "")]);
    for (const [k, v] of rows) {
      const tr = document.createElement("tr");
      tr.innerHTML = '<td class="k"></td><td class="v"></td>';
      tr.firstChild.textContent = k; tr.lastChild.textContent = v;
      t.appendChild(tr);
    }
    tip.appendChild(t);
    if (f.block) {
      const m = document.createElement("div");
      m.className = "more";
      m.textContent = "click to open this block in place";
      tip.appendChild(m);
    }
    tip.hidden = false;
    const r = tip.getBoundingClientRect();
    tip.style.left = `${Math.max(4, Math.min(x + 16, window.innerWidth - r.width - 8))}px`;
    tip.style.top = `${Math.max(4, y + 18 + r.height > window.innerHeight ? y - r.height - 12 : y + 18)}px`;
  }
  $("canvas").addEventListener("mouseover", (e) => {
    const g = e.target.closest && e.target.closest("g.node");
    if (!g) return;
    clearTimeout(tipTimer);
    const {clientX, clientY} = e;
    if (viewer.inMini(e)) return;
    tipTimer = setTimeout(() => showTip(g, clientX, clientY), 120);
  });
  $("canvas").addEventListener("mouseout", (e) => {
    const g = e.target.closest && e.target.closest("g.node");
    if (g && !(e.relatedTarget && g.contains(e.relatedTarget))) hideTip();
  });
  $("diagram").addEventListener("mouseleave", hideTip);

  // a click: a layer selects its line; a folded block opens in place, an open block's title folds it
  function toggleBlock(name, open, el) {
    if (!name) return;
    const r = el ? el.getBoundingClientRect() : null;
    state.anchor = r ? {id: (open ? "c:" : "n:") + name, left: r.left, top: r.top} : null;
    if (open) { state.closed.delete(name); state.open.add(name); }
    else { state.open.delete(name); state.closed.add(name); }
    hideTip();
    send();
  }
  $("canvas").addEventListener("click", (e) => {
    const node = e.target.closest("g.node");
    if (node) {
      const name = node.dataset.name, f = state.facts[name], span = state.spans && state.spans[name];
      if (f && f.block && state.view === "diagram") toggleBlock(name, true, node);
      if (span) selectSpan(span);
      return;
    }
    const cl = e.target.closest("g.cluster");
    if (cl && e.target.tagName === "text" && state.view === "diagram") toggleBlock(cl.dataset.scope, false, cl);
  });

  function pickLine(line, quiet) {
    state.cursorLine = line;
    for (const g of document.querySelectorAll("#diagram g.node.picked")) g.classList.remove("picked");
    for (const r of document.querySelectorAll("#summary tr.picked")) r.classList.remove("picked");
    const nodes = state.byLine.get(line) || [];
    nodes.forEach((g) => g.classList.add("picked"));
    if (nodes.length && !quiet) viewer.reveal(nodes[0]);
    const rows = document.querySelectorAll(`#summary tr[data-line="${line}"]`);
    rows.forEach((r) => r.classList.add("picked"));
    if (rows.length && !quiet) rows[0].scrollIntoView({block: "nearest"});
  }

  const fmtInt = (n) => (n === null || n === undefined) ? "—" : Number(n).toLocaleString("en-US");
  function human(n) {
    if (n === null || n === undefined) return "—";
    const a = Math.abs(n);
    for (const [v, s] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "K"]]) if (a >= v) return (n / v).toFixed(a / v >= 100 ? 0 : a / v >= 10 ? 1 : 2) + s;
    return String(n);
  }
  const shape = (s) => Array.isArray(s) ? s.join("×") : (s === null || s === undefined ? "" : String(s));

  function showSummary(s) {
    $("totals").innerHTML = "";
    const big = document.createElement("div");
    big.className = "big";
    big.textContent = `${s.config}: ${fmtInt(s.params)} params`;
    const row = document.createElement("div");
    row.className = "row";
    const cells = [["weight layers", s.weight_layers], ["mult-adds", human(s.macs)],
                   ["input", shape(s.input)], ["output", shape(s.output)]];
    if (s.params_inference !== s.params) cells.splice(1, 0, ["at inference", fmtInt(s.params_inference)]);
    if (s.any_size && s.min_input) cells.push(["any size ≥", s.min_input.join("×")]);
    for (const [k, v] of cells) {
      const span = document.createElement("span");
      span.innerHTML = `${k} <b></b>`;
      span.querySelector("b").textContent = v;
      row.appendChild(span);
    }
    $("totals").append(big, row);
    const t = $("summary");
    t.innerHTML = "<thead><tr><th>name</th><th>layer</th><th class=c-out>output</th><th class=num>params</th>" +
                  "<th class=num>mult-adds</th><th class='num c-rf'>rf</th></tr></thead>";
    const body = document.createElement("tbody");
    for (const l of s.layers) {     // folded as the diagram is; names relative to the enclosing block
      const tr = document.createElement("tr");
      tr.className = [l.aux ? "aux" : "", l.block ? "block" : ""].join(" ").trim();
      if (l.line) tr.dataset.line = l.line;
      if (l.full) tr.dataset.name = l.full;
      const vals = [l.name, l.layer, shape(l.out_shape), l.params ? fmtInt(l.params) : "", l.macs ? human(l.macs) : "",
                    Array.isArray(l.rf) ? `${l.rf[0]}/${l.rf[1]}` : ""];
      vals.forEach((v, i) => {
        const td = document.createElement("td");
        td.textContent = v;
        if (i === 0) {
          td.className = "name"; td.title = l.full || v;
          td.style.paddingLeft = `${6 + 14 * (l.level || 0)}px`;
          if (l.block && state.view === "diagram") {
            const f = document.createElement("span");
            f.className = "fold";
            f.textContent = l.open ? "▾" : "▸";
            f.title = l.open ? "fold this block" : "open this block";
            f.addEventListener("click", (e) => {
              e.stopPropagation();
              const el = document.getElementById((l.open ? "c:" : "n:") + l.full);
              toggleBlock(l.full, !l.open, el);
            });
            td.prepend(f);
          }
        }
        if (i === 1) { td.className = "layer"; td.title = v; }
        if (i === 2) td.className = "c-out";
        if (i >= 3) td.className = i === 5 ? "num c-rf" : "num";
        tr.appendChild(td);
      });
      if (l.line) tr.addEventListener("click", () => editor.selectLine(l.line));
      body.appendChild(tr);
    }
    t.appendChild(body);
  }

  function setConfigs(configs, chosen) {
    const same = configs.length === state.configs.length && configs.every((c, i) => c === state.configs[i]);
    state.configs = configs;
    if (chosen) state.config = chosen;
    if (!same) {
      for (const id of ["config", "diff-old", "diff-new"]) {
        const sel = $(id), keep = sel.value;
        sel.innerHTML = "";
        for (const c of configs) {
          const o = document.createElement("option");
          o.value = o.textContent = c;
          sel.appendChild(o);
        }
        if (configs.includes(keep)) sel.value = keep;
      }
      if (configs.length > 1 && !configs.includes($("diff-new").value)) $("diff-new").value = configs[1];
      const i = configs.indexOf(state.config);
      if (i > 0 && !$("diff-old").dataset.touched) { $("diff-old").value = configs[i - 1]; $("diff-new").value = configs[i]; }
    }
    if (chosen) $("config").value = chosen;
    $("config-field").style.visibility = configs.length > 1 ? "visible" : "hidden";
  }

  // ---------------------------------------------------------------- diff view
  const SYM = {add: "+", remove: "-", change: "~", move: ">", rename: "="};
  const WORD = {add: "added", remove: "removed", change: "changed", move: "moved", rename: "renamed"};
  function showDiff(status, doc, ms) {
    const list = $("diff-list");
    list.innerHTML = "";
    if (status !== 200) {
      const errs = doc.errors || [];
      showErrors(errs, errs.length ? null : (doc.error || `HTTP ${status}`));
      setStatus("fix the errors to see the diff", true);
      $("diagram").classList.add("stale");
      return;
    }
    showErrors([]);
    state.facts = {};
    setDiagram(doc.svg, doc.spans || {}, doc.scopes || []);
    $("diagram").classList.remove("stale");
    const d = doc.diff;
    setStatus(`${d.old} → ${d.new} · compared in ${Math.round(ms)} ms`, false);
    const head = document.createElement("div");
    head.className = "diff-head";
    head.textContent = `netc diff ${d.old} ${d.new}: ${fmtInt(doc.old_params)} → ${fmtInt(doc.new_params)} params`;
    list.appendChild(head);
    if (doc.identical) {
      const same = document.createElement("div");
      same.className = "total";
      same.textContent = `${d.old} and ${d.new} are identical`;
      list.appendChild(same);
      return;
    }
    for (const e of d.edits) {
      const side = e.new || e.old;
      const div = document.createElement("div");
      div.className = `edit ${e.op}`;
      let layer = side.layer;
      if (e.op === "change" && e.old && e.new) {
        layer = e.old.layer !== e.new.layer ? `${e.old.layer} → ${e.new.layer}` : e.new.layer;
        const det = e.changes.filter((c) => c.param !== "name").map((c) => `${c.param}: ${c.old} → ${c.new}`).join(", ");
        if (det) layer += ` (${det})`;
      }
      const name = e.old && e.new && e.old.name !== e.new.name ? `${e.old.name} → ${e.new.name}` : side.name;
      div.innerHTML = `<span class="sym"></span><span class="what"></span><span class="cost"></span>`;
      div.querySelector(".sym").textContent = SYM[e.op];
      div.querySelector(".what").textContent = `${name}  ${layer}  (line ${side.line})`;
      div.querySelector(".cost").textContent = `${signed(e.params_delta)} params · ${signedHuman(e.macs_delta)}`;
      div.title = WORD[e.op];
      const line = (e.new || e.old).line;
      div.addEventListener("click", () => editor.selectLine(line));
      list.appendChild(div);
    }
    for (const s of d.downstream || []) {
      const div = document.createElement("div");
      div.className = "down";
      const span = s.layers === 1 ? s.first : `${s.first} .. ${s.last} (${s.layers} layers)`;
      div.textContent = `downstream: ${span}: input ${s.old_input} → ${s.new_input}  ${signed(s.params_delta)} params`;
      list.appendChild(div);
    }
    const total = document.createElement("div");
    total.className = "total";
    const parts = Object.entries(d.counts).map(([op, n]) => `${n} ${WORD[op]}`);
    total.textContent = [...parts, `${signed(d.params_delta)} params`, `${signedHuman(d.macs_delta)} mult-adds`].join(" · ");
    list.appendChild(total);
  }
  const signed = (n) => n ? (n > 0 ? "+" : "") + fmtInt(n) : "0";
  const signedHuman = (n) => n === null || n === undefined ? "?" : (n > 0 ? "+" : "") + human(n);

  function setView(view) {
    state.view = view;
    for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.view === view);
    $("diff-fields").hidden = view !== "diff";
    $("config-field").hidden = view === "diff";
    $("diff-list").hidden = view !== "diff";
    $("table-wrap").hidden = view === "diff";
    $("totals").hidden = view === "diff";
    send();
  }

  // ---------------------------------------------------------------- downloads
  function download(blob, name) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 5000);
  }
  function pictureName(ext) {
    const base = (state.filename.split("/").pop() || "network").replace(/\.net$/, "");
    const what = state.view === "diff" ? `${$("diff-old").value}-vs-${$("diff-new").value}` : (state.config || "main");
    return `${base}-${what}.${ext}`.replace(/[^A-Za-z0-9_.-]/g, "_");
  }
  function downloadSvg() {
    if (!state.svg) return;
    download(new Blob([state.svg], {type: "image/svg+xml"}), pictureName("svg"));
  }
  function downloadPng() {
    if (!state.svg) return;
    const img = new Image();
    const url = URL.createObjectURL(new Blob([state.svg], {type: "image/svg+xml"}));
    img.onload = () => {
      const scale = 2, c = document.createElement("canvas");
      c.width = img.naturalWidth * scale; c.height = img.naturalHeight * scale;
      const ctx = c.getContext("2d");
      ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, c.width, c.height);
      ctx.drawImage(img, 0, 0, c.width, c.height);
      URL.revokeObjectURL(url);
      c.toBlob((b) => download(b, pictureName("png")), "image/png");
    };
    img.src = url;
  }

  // ---------------------------------------------------------------- panes: resizable, hideable
  function panes() {
    const root = document.documentElement, store = window.localStorage;
    const get = (k) => { try { return store.getItem("netc." + k); } catch (e) { return null; } };
    const put = (k, v) => { try { store.setItem("netc." + k, v); } catch (e) { /* private mode */ } };
    for (const k of ["left-w", "side-w"]) if (get(k)) root.style.setProperty("--" + k, get(k));
    const toggle = (which, show) => {
      const on = show === undefined ? document.body.classList.contains("no-" + which) : show;
      document.body.classList.toggle("no-" + which, !on);
      $("toggle-" + which).setAttribute("aria-pressed", String(on));
      put("hide-" + which, on ? "" : "1");
      viewer.resized();
    };
    for (const which of ["left", "side"]) {
      if (get("hide-" + which)) toggle(which, false);
      $("toggle-" + which).addEventListener("click", () => toggle(which));
    }
    for (const [id, pane, k, sign] of [["split-left", "left", "left-w", 1], ["split-right", "side", "side-w", -1]]) {
      const bar = $(id);
      let start = null;
      bar.addEventListener("pointerdown", (e) => {
        start = [e.clientX, $(pane).getBoundingClientRect().width];
        bar.setPointerCapture(e.pointerId); bar.classList.add("dragging"); e.preventDefault();
      });
      bar.addEventListener("pointermove", (e) => {
        if (!start) return;
        const w = Math.max(160, Math.min(window.innerWidth * 0.6, start[1] + sign * (e.clientX - start[0])));
        root.style.setProperty("--" + k, `${Math.round(w)}px`);
        viewer.resized();
      });
      const end = () => {
        if (!start) return;
        start = null; bar.classList.remove("dragging");
        put(k, getComputedStyle(root).getPropertyValue("--" + k).trim());
      };
      bar.addEventListener("pointerup", end);
      bar.addEventListener("pointercancel", end);
      bar.addEventListener("dblclick", () => toggle(pane, false));
    }
  }

  // ---------------------------------------------------------------- start
  async function open(url) {
    const r = await fetch(url);
    const spec = await r.json();
    state.filename = spec.filename;
    document.title = `${spec.title || spec.filename} · netc playground`;
    state.config = spec.config;
    state.configs = [];
    $("filename").textContent = spec.title || spec.filename;
    const ex = $("example");
    if (ex.options.length <= 1) for (const n of spec.examples || []) {
      const o = document.createElement("option"); o.value = o.textContent = n; ex.appendChild(o);
    }
    if (!editor) editor = makeEditor(spec.text);
    else editor.setText(spec.text);
    send();
  }

  $("config").addEventListener("change", (e) => { state.config = e.target.value; refold(); send(); });
  $("diff-old").addEventListener("change", (e) => { e.target.dataset.touched = "1"; send(); });
  $("diff-new").addEventListener("change", (e) => { $("diff-old").dataset.touched = "1"; send(); });
  const refold = () => { state.open.clear(); state.closed.clear(); };
  for (const id of ["depth", "shapes", "lr"]) $(id).addEventListener("change", () => { if (id === "depth") refold(); viewer.fit("width"); send(); });
  for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => setView(b.dataset.view));
  $("example").addEventListener("change", (e) => { refold(); viewer.fit("width"); if (e.target.value) open(`api/spec?example=${encodeURIComponent(e.target.value)}`); });
  const middle = () => { const r = $("diagram").getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; };
  $("zoom-in").addEventListener("click", () => viewer.zoomAt(viewer.scale() * 1.25, ...middle()));
  $("zoom-out").addEventListener("click", () => viewer.zoomAt(viewer.scale() / 1.25, ...middle()));
  $("zoom-fit").addEventListener("click", () => viewer.fit("all"));
  $("zoom-width").addEventListener("click", () => viewer.fit("width"));
  $("dl-svg").addEventListener("click", downloadSvg);
  $("dl-png").addEventListener("click", downloadPng);
  window.addEventListener("resize", () => viewer.resized());
  panes();
  window.netcPlayground = {state, send, viewer, get editor() { return editor; }};
  open("api/spec");
})();
