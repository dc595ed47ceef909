#!/usr/bin/env node
// Generates package.json's contributes.configuration from schema/settings.json, the
// JSON schema printed by `python -m safecoder_lsp.config --json-schema`.
//
//   node scripts/gen-settings.js           rewrite package.json
//   node scripts/gen-settings.js --check   fail when package.json is out of date
//
// Refresh the schema copy after changing the server's configuration keys:
//   python -m safecoder_lsp.config --json-schema > editors/vscode/schema/settings.json
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const ROOT = path.join(__dirname, "..");
const SCHEMA = path.join(ROOT, "schema", "settings.json");
const PACKAGE = path.join(ROOT, "package.json");
const PREFIX = "safecoder.";
// Schema keywords copied unchanged onto each VS Code setting.
const COPIED = ["type", "default", "enum", "minimum", "maximum", "items", "scope"];

// Settings of the extension itself (not sent to the server).
const EXTENSION_SETTINGS = {
  "safecoder.serverPath": {
    type: "string",
    default: "",
    scope: "machine",
    markdownDescription:
      "Path of the `safecoder-lsp` executable. Empty: look for it in the selected Python " +
      "environment (the Python extension's interpreter, then `python.defaultInterpreterPath`), " +
      "then on `PATH`. Not accepted from workspace settings.",
    order: 0,
  },
  "safecoder.statusPollSeconds": {
    type: "number",
    default: 5,
    minimum: 1,
    maximum: 3600,
    markdownDescription:
      "How often the status bar asks the server for its state and counters (`safecoder.stats`), " +
      "while the window has focus.",
    order: 1,
  },
};

function generate(schema) {
  const properties = {};
  Object.assign(properties, EXTENSION_SETTINGS);
  let order = 10;
  for (const [key, spec] of Object.entries(schema.properties)) {
    const setting = {};
    for (const field of COPIED) {
      if (spec[field] !== undefined) setting[field] = spec[field];
    }
    if (spec.description !== undefined) setting.markdownDescription = spec.description;
    setting.order = order++;
    properties[PREFIX + key] = setting;
  }
  return { title: "safecoder", properties };
}

function main(argv) {
  const schema = JSON.parse(fs.readFileSync(SCHEMA, "utf8"));
  const text = fs.readFileSync(PACKAGE, "utf8");
  const pkg = JSON.parse(text);
  pkg.contributes = pkg.contributes || {};
  pkg.contributes.configuration = generate(schema);
  const updated = JSON.stringify(pkg, null, 2) + "\n";
  if (argv.includes("--check")) {
    if (updated !== text) {
      console.error(
        "package.json contributes.configuration is out of date with schema/settings.json; " +
          "run `npm run gen-settings`.",
      );
      return 1;
    }
    return 0;
  }
  if (updated !== text) fs.writeFileSync(PACKAGE, updated);
  return 0;
}

module.exports = { generate, EXTENSION_SETTINGS, PREFIX };

if (require.main === module) process.exit(main(process.argv.slice(2)));
