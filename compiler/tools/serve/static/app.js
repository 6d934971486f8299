// netc playground: the editor on the left, the live diagram, summary and errors on the right.
// Talks to the server's JSON API (netc.tools.serve.app); loads nothing from outside this server.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const state = {
    view: "diagram", config: null, configs: [], filename: "", lines: {}, byLine: new Map(),
    inflight: false, pending: false, timer: null, seq: 0, shown: 0, svg: null, zoom: null,
    cursorLine: 0, lastAnswer: null, sentAt: 0,
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
        : await post("api/check", {text, filename: state.filename, config: state.config, ...options()});
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
    const d = $("diagram");
    const at = svgText.indexOf("<svg");
    d.innerHTML = at >= 0 ? svgText.slice(at) : svgText;
    state.svg = svgText;
    state.spans = spans;
    state.lines = Object.fromEntries(Object.entries(spans).map(([k, v]) => [k, v[0]]));
    state.byLine = new Map();
    const addLine = (line, g) => {
      if (!state.byLine.has(line)) state.byLine.set(line, []);
      if (!state.byLine.get(line).includes(g)) state.byLine.get(line).push(g);
    };
    const drawn = [];
    const svg = d.querySelector("svg");
    if (!svg) return;
    svg.dataset.w = parseFloat(svg.getAttribute("width")) || 0;
    svg.dataset.h = parseFloat(svg.getAttribute("height")) || 0;
    for (const g of d.querySelectorAll("g.node")) {
      const t = g.querySelector("title");
      const id = t ? t.textContent : "";
      const span = spans[id];
      if (t) t.remove();     // the hover tooltip would be the internal id; the node says enough
      g.dataset.name = id;
      drawn.push(g);
      if (!span) continue;
      g.dataset.line = span[0];
      addLine(span[0], g);
      g.addEventListener("click", () => selectSpan(span));
    }
    // the line of a block instance (inception_4a) highlights every layer drawn inside it
    for (const sc of scopes) {
      const span = spans[sc];
      if (!span) continue;
      for (const g of drawn) if (g.dataset.name.startsWith(sc + "/") || g.dataset.name === "ghost:" + sc) addLine(span[0], g);
    }
    applyZoom();
    pickLine(state.cursorLine, true);
  }

  function selectSpan(span) {
    if (editor.selectRange && span[2] === span[0]) editor.selectRange(span[0], span[1], span[3]);
    else editor.selectLine(span[0]);
  }

  function applyZoom() {
    const svg = $("diagram").querySelector("svg");
    if (!svg) return;
    const w = parseFloat(svg.dataset.w), h = parseFloat(svg.dataset.h);
    const avail = $("diagram").clientWidth - 24;
    let z = state.zoom;
    if (z === null) z = Math.min(1.25, avail / (w * 4 / 3));      // pt -> px; fit the width
    svg.style.width = `${Math.round(w * 4 / 3 * z)}px`;
    svg.style.height = `${Math.round(h * 4 / 3 * z)}px`;
  }

  function pickLine(line, quiet) {
    state.cursorLine = line;
    for (const g of document.querySelectorAll("#diagram g.node.picked")) g.classList.remove("picked");
    for (const r of document.querySelectorAll("#summary tr.picked")) r.classList.remove("picked");
    const nodes = state.byLine.get(line) || [];
    nodes.forEach((g) => g.classList.add("picked"));
    if (nodes.length && !quiet) nodes[0].scrollIntoView({block: "nearest", inline: "nearest"});
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
    t.innerHTML = "<thead><tr><th>name</th><th>layer</th><th>output</th><th class=num>params</th>" +
                  "<th class=num>mult-adds</th><th class=num>rf</th></tr></thead>";
    const body = document.createElement("tbody");
    for (const l of s.layers) {
      const tr = document.createElement("tr");
      if (l.aux) tr.className = "aux";
      if (l.line) tr.dataset.line = l.line;
      const vals = [l.name, l.layer, shape(l.out_shape), l.params ? fmtInt(l.params) : "", l.macs ? human(l.macs) : "",
                    Array.isArray(l.rf) ? `${l.rf[0]}/${l.rf[1]}` : ""];
      vals.forEach((v, i) => {
        const td = document.createElement("td");
        td.textContent = v;
        if (i === 1) { td.className = "layer"; td.title = v; }
        if (i >= 3) td.className = "num";
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

  $("config").addEventListener("change", (e) => { state.config = e.target.value; send(); });
  $("diff-old").addEventListener("change", (e) => { e.target.dataset.touched = "1"; send(); });
  $("diff-new").addEventListener("change", (e) => { $("diff-old").dataset.touched = "1"; send(); });
  for (const id of ["depth", "shapes", "lr"]) $(id).addEventListener("change", () => { state.zoom = null; send(); });
  for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => setView(b.dataset.view));
  $("example").addEventListener("change", (e) => { if (e.target.value) open(`api/spec?example=${encodeURIComponent(e.target.value)}`); });
  $("zoom-in").addEventListener("click", () => { state.zoom = (state.zoom || currentZoom()) * 1.25; applyZoom(); });
  $("zoom-out").addEventListener("click", () => { state.zoom = (state.zoom || currentZoom()) / 1.25; applyZoom(); });
  $("zoom-fit").addEventListener("click", () => { state.zoom = null; applyZoom(); });
  $("dl-svg").addEventListener("click", downloadSvg);
  $("dl-png").addEventListener("click", downloadPng);
  window.addEventListener("resize", () => { if (state.zoom === null) applyZoom(); });
  function currentZoom() {
    const svg = $("diagram").querySelector("svg");
    return svg ? parseFloat(svg.style.width) / (parseFloat(svg.dataset.w) * 4 / 3) : 1;
  }
  window.netcPlayground = {state, send, get editor() { return editor; }};
  open("api/spec");
})();
