// The editor of `netc serve`: CodeMirror 6 with a small highlighter for .net specs, error
// squiggles, and a way to select a line from the diagram. Bundled by esbuild into one file,
// compiler/tools/serve/static/editor.js (npm run build); the page falls back to a <textarea> without it.
import {EditorState, StateEffect, StateField} from "@codemirror/state";
import {EditorView, Decoration, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter,
        drawSelection, highlightSpecialChars} from "@codemirror/view";
import {defaultKeymap, history, historyKeymap, indentWithTab} from "@codemirror/commands";
import {StreamLanguage, HighlightStyle, syntaxHighlighting, bracketMatching, indentOnInput} from "@codemirror/language";
import {setDiagnostics, lintGutter} from "@codemirror/lint";
import {tags as t} from "@lezer/highlight";
import {tokenizeLine} from "./tokens.js";

// The highlighting rules are the VS Code grammar's, generated with it from netc's kind registry
// (tokens.js, written by editors/vscode/scripts/make_grammar.py): one source for the playground,
// VS Code and Pygments. A line is scanned once; its tokens are handed out one by one.
const netLanguage = StreamLanguage.define({
  name: "netc",
  startState: () => ({line: null, tokens: []}),
  copyState: (s) => ({line: s.line, tokens: s.tokens}),
  token(stream, state) {
    if (state.line !== stream.string) {
      state.line = stream.string;
      // a token inside another (a capture inside its rule's match) is its own: drop the outer one there
      state.tokens = tokenizeLine(stream.string).sort((a, b) => a[0] - b[0] || (b[1] - b[0]) - (a[1] - a[0]));
    }
    const pos = stream.pos;
    let next = null;
    for (const t of state.tokens) {
      if (t[1] <= pos) continue;
      if (t[0] <= pos) {
        // the innermost token covering pos: a later-starting token inside it ends the current piece
        const inner = state.tokens.find(u => u !== t && u[0] > pos && u[0] < t[1]);
        const inside = state.tokens.filter(u => u !== t && u[0] <= pos && u[1] > pos && u[1] - u[0] < t[1] - t[0]);
        if (inside.length) continue;
        stream.pos = inner ? inner[0] : t[1];
        return t[2];
      }
      if (next === null || t[0] < next) next = t[0];
    }
    stream.pos = next !== null && next > pos ? next : stream.string.length;
    if (stream.pos === pos) stream.next();
    return null;
  },
  languageData: {commentTokens: {line: "#"}},
});

const netHighlight = HighlightStyle.define([
  {tag: t.comment, color: "#8a8f98", fontStyle: "italic"},
  {tag: t.keyword, color: "#7c3aed", fontWeight: "600"},
  {tag: t.typeName, color: "#0b6bcb"},
  {tag: t.number, color: "#b45309"},
  {tag: t.string, color: "#15803d"},
  {tag: t.function(t.variableName), color: "#0f766e"},
  {tag: t.propertyName, color: "#9d174d"},
  {tag: t.className, color: "#7c3aed"},
  {tag: t.labelName, color: "#374151", fontStyle: "italic"},
  {tag: t.atom, color: "#b45309"},
  {tag: t.definition(t.variableName), color: "#0f766e"},
  {tag: t.operator, color: "#6b7280"},
  {tag: t.punctuation, color: "#9ca3af"},
]);

// The lines whose layers are selected in the diagram: a background mark.
const markLines = StateEffect.define();
const markDeco = Decoration.line({class: "cm-netc-picked"});
const pickedField = StateField.define({
  create: () => Decoration.none,
  update(deco, tr) {
    deco = deco.map(tr.changes);
    for (const e of tr.effects) {
      if (e.is(markLines)) {
        const doc = tr.state.doc;
        const ranges = [...new Set(e.value)].filter(n => n >= 1 && n <= doc.lines).sort((a, b) => a - b)
          .map(n => markDeco.range(doc.line(n).from));
        deco = Decoration.set(ranges);
      }
    }
    return deco;
  },
  provide: f => EditorView.decorations.from(f),
});

const theme = EditorView.theme({
  "&": {height: "100%", fontSize: "12.5px", backgroundColor: "#fff"},
  ".cm-scroller": {fontFamily: "'JetBrains Mono', 'DejaVu Sans Mono', Menlo, Consolas, monospace", lineHeight: "1.55"},
  ".cm-gutters": {backgroundColor: "#f7f8fa", color: "#9aa1ab", borderRight: "1px solid #e5e7eb"},
  ".cm-activeLine": {backgroundColor: "rgba(37, 99, 235, 0.05)"},   // translucent: the selection shows through
  ".cm-activeLineGutter": {backgroundColor: "#e8eef8"},
  ".cm-netc-picked": {backgroundColor: "rgba(245, 158, 11, 0.18) !important"},
  "&.cm-focused": {outline: "none"},
});

function create(parent, {doc = "", onChange = () => {}, onCursor = () => {}} = {}) {
  let lastLine = -1;
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        lineNumbers(), highlightActiveLineGutter(), highlightSpecialChars(), history(), drawSelection(),
        indentOnInput(), bracketMatching(), highlightActiveLine(), lintGutter(),
        netLanguage, syntaxHighlighting(netHighlight), pickedField, theme,
        keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
        EditorView.updateListener.of(u => {
          if (u.docChanged) onChange(u.state.doc.toString());
          if (u.docChanged || u.selectionSet) {
            const line = u.state.doc.lineAt(u.state.selection.main.head).number;
            if (line !== lastLine || u.docChanged) { lastLine = line; onCursor(line); }
          }
        }),
      ],
    }),
  });
  const pos = (line, col) => {
    const d = view.state.doc;
    const l = d.line(Math.max(1, Math.min(line || 1, d.lines)));
    return Math.min(l.from + Math.max(0, (col || 1) - 1), l.to);
  };
  return {
    view,
    kind: "codemirror",
    getText: () => view.state.doc.toString(),
    cursorLine: () => view.state.doc.lineAt(view.state.selection.main.head).number,
    setText(text) { view.dispatch({changes: {from: 0, to: view.state.doc.length, insert: text}}); },
    // diagnostics: [{line, col, end_line, end_col, message, severity}]
    setDiagnostics(diags) {
      const d = view.state.doc;
      const out = diags.filter(x => x.line >= 1 && x.line <= d.lines).map(x => {
        const from = pos(x.line, x.col);
        let to = x.end_line ? pos(x.end_line, x.end_col) : from;
        if (to <= from) to = Math.min(d.lineAt(from).to, from + 1);
        if (to <= from) to = from;
        return {from, to, severity: x.severity || "error", message: x.message};
      });
      view.dispatch(setDiagnostics(view.state, out));
    },
    selectLine(line) {
      const d = view.state.doc;
      if (line < 1 || line > d.lines) return;
      const l = d.line(line);
      // the head at the line's start: the view scrolls there, not to the end of a wide table row
      view.dispatch({selection: {anchor: l.to, head: l.from}, scrollIntoView: true});
      view.focus();
    },
    selectRange(line, col, endCol) {      // one table cell or one layer of a line
      const d = view.state.doc;
      if (line < 1 || line > d.lines) return;
      const l = d.line(line);
      const from = Math.min(l.from + Math.max(0, col - 1), l.to), to = Math.min(l.from + Math.max(0, endCol - 1), l.to);
      view.dispatch({selection: {anchor: to, head: from},
                     effects: EditorView.scrollIntoView(from, {x: "nearest", y: "center"})});
      view.focus();
    },
    markLines(lines) { view.dispatch({effects: markLines.of(lines)}); },
    focus() { view.focus(); },
  };
}

window.NetcEditor = {create};
