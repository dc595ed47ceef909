// The settings in package.json are the server's configuration keys, one to one.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

const ROOT = path.join(__dirname, "..", "..", "..", "..");
const schema = JSON.parse(fs.readFileSync(path.join(ROOT, "schema", "settings.json"), "utf8"));
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
// eslint-disable-next-line @typescript-eslint/no-require-imports
const gen = require(path.join(ROOT, "scripts", "gen-settings.js"));

test("package.json contributes.configuration is generated from schema/settings.json", () => {
  assert.deepEqual(pkg.contributes.configuration, gen.generate(schema));
});

test("each server key maps onto safecoder.<key> with the same type, default, bounds and scope", () => {
  const props = pkg.contributes.configuration.properties;
  for (const [key, spec] of Object.entries<any>(schema.properties)) {
    const setting = props[`safecoder.${key}`];
    assert.ok(setting, `safecoder.${key} is missing`);
    for (const field of ["type", "default", "enum", "minimum", "maximum", "items", "scope"]) {
      assert.deepEqual(setting[field], spec[field], `safecoder.${key}: ${field}`);
    }
    assert.equal(setting.markdownDescription, spec.description);
  }
  const extra = Object.keys(props).filter((k) => !(k.slice("safecoder.".length) in schema.properties));
  assert.deepEqual(extra.sort(), ["safecoder.serverPath", "safecoder.statusPollSeconds"]);
  assert.equal(props["safecoder.serverPath"].scope, "machine");
});

test("engines, activation, commands", () => {
  assert.deepEqual(pkg.activationEvents, ["onStartupFinished"]);
  assert.equal(pkg.publisher, "safecoder");
  const commands = pkg.contributes.commands.map((c: { command: string }) => c.command);
  for (const c of ["safecoder.toggle", "safecoder.pullModel", "safecoder.showReferenceLog", "safecoder.restartServer"]) {
    assert.ok(commands.includes(c), c);
  }
});
