// Tokenize .net files with VS Code's own TextMate engine (vscode-textmate + Oniguruma), printing
// one JSON array of [file, text, innermost scope] per token; tests/test_editor_grammar.py compares
// it with its Python scanner when `npm install` has been run here (it is skipped otherwise).
//   node scripts/tokenize.js syntaxes/netc.tmLanguage.json ../../specs/*.net
const fs = require("fs");
const path = require("path");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

const wasm = fs.readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm")).buffer;
const [grammarPath, ...files] = process.argv.slice(2);
const onigLib = oniguruma.loadWASM(wasm).then(() => ({
  createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
  createOnigString: (s) => new oniguruma.OnigString(s),
}));
const registry = new vsctm.Registry({
  onigLib,
  loadGrammar: async () => vsctm.parseRawGrammar(fs.readFileSync(grammarPath, "utf8"), grammarPath),
});

registry.loadGrammar("source.netc").then((grammar) => {
  const out = [];
  for (const file of files) {
    let stack = vsctm.INITIAL;
    for (const line of fs.readFileSync(file, "utf8").split("\n")) {
      const r = grammar.tokenizeLine(line, stack);
      for (const t of r.tokens) {
        const scope = t.scopes[t.scopes.length - 1];
        const text = line.slice(t.startIndex, t.endIndex);
        if (scope !== "source.netc" && text.trim()) out.push([path.basename(file), text.trim(), scope]);
      }
      stack = r.ruleStack;
    }
  }
  process.stdout.write(JSON.stringify(out) + "\n");
});
