// Bundles the playground's scripts with esbuild: src/editor.js (CodeMirror 6) and src/viewer.js
// (@panzoom/panzoom) into compiler/tools/serve/static/ (or the folder given as the first argument:
// tests/tools/test_packaging.py rebuilds into a temporary folder and compares with the committed files).
import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = process.argv[2] ? path.resolve(process.argv[2]) : path.join(here, "..", "compiler", "tools", "serve", "static");
await esbuild.build({
  entryPoints: [path.join(here, "src", "editor.js"), path.join(here, "src", "viewer.js")],
  bundle: true, minify: true, format: "iife", target: "es2020", outdir, logLevel: "warning",
  legalComments: "eof",
});
