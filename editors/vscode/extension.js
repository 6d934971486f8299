// The netc extension: the grammar and language configuration are declarative (package.json);
// this starts `netc lsp` (the command is the setting netc.server.command) over stdio.
const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace.getConfiguration("netc").get("server.command", ["netc", "lsp"]);
  const server = { command, args, transport: TransportKind.stdio };
  client = new LanguageClient("netc", "netc language server", { run: server, debug: server }, {
    documentSelector: [{ scheme: "file", language: "netc" }, { scheme: "untitled", language: "netc" }],
  });
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
