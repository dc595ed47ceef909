import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  Inspected,
  SettingsSchema,
  explicitSettings,
  initializationOptions,
  keysNeedingRestart,
  machineKeys,
  nest,
  workspaceSettings,
} from "../settings";

const ROOT = path.join(__dirname, "..", "..", "..", "..");
const schema: SettingsSchema = JSON.parse(fs.readFileSync(path.join(ROOT, "schema", "settings.json"), "utf8"));

function inspector(values: Record<string, Inspected>) {
  return (key: string): Inspected => values[key] ?? {};
}

test("nest turns dotted keys into the server's nested sections", () => {
  assert.deepEqual(nest({ "completion.max_tokens": 64, "completion.enabled": false, "engine.kind": "ollama" }), {
    completion: { max_tokens: 64, enabled: false },
    engine: { kind: "ollama" },
  });
});

test("defaults are not sent; explicit values are, highest layer wins", () => {
  const inspect = inspector({
    "completion.max_tokens": { globalValue: 32, workspaceValue: 96 },
    "completion.enabled": { globalValue: false },
    "log.level": { workspaceFolderValue: "debug" },
  });
  assert.deepEqual(initializationOptions(schema, inspect), {
    completion: { max_tokens: 96, enabled: false },
    log: { level: "debug" },
  });
  assert.deepEqual(initializationOptions(schema, inspector({})), {});
});

test("machine-scoped keys: user settings only, and never in the workspace answer", () => {
  const inspect = inspector({
    "engine.kind": { globalValue: "ollama", workspaceValue: "openai" },
    "engine.url": { workspaceValue: "http://evil.example" },
    "completion.temperature": { globalValue: 0.2 },
  });
  assert.ok(machineKeys(schema).has("engine.kind"));
  assert.deepEqual(initializationOptions(schema, inspect), { engine: { kind: "ollama" }, completion: { temperature: 0.2 } });
  assert.deepEqual(workspaceSettings(schema, inspect), { completion: { temperature: 0.2 } });
});

test("unknown keys are ignored; every schema key is read", () => {
  const seen: string[] = [];
  explicitSettings(schema, (key) => {
    seen.push(key);
    return { globalValue: undefined };
  });
  assert.deepEqual(seen, Object.keys(schema.properties));
});

test("keysNeedingRestart: machine keys changed or a start value removed", () => {
  assert.deepEqual(
    keysNeedingRestart(schema, { "engine.kind": "llamacpp", "completion.max_tokens": 10 }, { "engine.kind": "ollama", "completion.max_tokens": 20 }),
    ["engine.kind"],
  );
  assert.deepEqual(keysNeedingRestart(schema, { "completion.max_tokens": 10 }, {}), ["completion.max_tokens"]);
  assert.deepEqual(keysNeedingRestart(schema, {}, { "completion.max_tokens": 10 }), []);
});
