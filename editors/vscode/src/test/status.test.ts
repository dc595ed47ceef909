import { test } from "node:test";
import * as assert from "node:assert/strict";
import { formatStatus, modelName, shortModel } from "../status";

test("model name from engine.model, model.path or the default", () => {
  assert.equal(modelName({ "engine.model": "qwen2.5-coder:1.5b" }), "qwen2.5-coder:1.5b");
  assert.equal(modelName({ "model.path": "/m/qwen2.5-coder-0.5b-q8_0.gguf" }), "qwen2.5-coder-0.5b-q8_0");
  assert.equal(modelName({}), "default model");
});

test("the model the server names wins over the settings", () => {
  const view = formatStatus({
    client: "running",
    stats: { engine_state: "ready", model: "/models/qwen2.5-coder-0.5b-q4_k_m.gguf" },
    model: "default model",
    enabled: true,
  });
  assert.equal(view.text, "$(sparkle) qwen2.5-coder-0.5b-q4_k_m · ready");
  assert.equal(shortModel("Qwen2.5 Coder 0.5B"), "Qwen2.5 Coder 0.5B");
});

test("loading, ready with blocked count, error", () => {
  const loading = formatStatus({ client: "running", stats: { engine_state: "loading" }, model: "m", enabled: true });
  assert.equal(loading.text, "$(loading~spin) m · loading");
  assert.equal(loading.state, "loading");

  const ready = formatStatus({
    client: "running",
    stats: { engine_state: "ready", requests: 10, accepted: 3, blocked: 2 },
    model: "m",
    enabled: true,
  });
  assert.equal(ready.text, "$(sparkle) m · ready · $(shield) 2 blocked");
  assert.match(ready.tooltip, /requests: 10, accepted: 3/);
  assert.match(ready.tooltip, /blocked by attribution: 2/);
  assert.equal(ready.severity, "normal");

  const zero = formatStatus({ client: "running", stats: { engine_state: "ready", blocked: 0 }, model: "m", enabled: true });
  assert.equal(zero.text, "$(sparkle) m · ready");

  const failed = formatStatus({ client: "running", stats: { engine_state: "failed", error: "no such file" }, model: "m", enabled: true });
  assert.equal(failed.state, "error");
  assert.equal(failed.severity, "error");
  assert.match(failed.tooltip, /error: no such file/);
});

test("disabled, not found, stopped with an error from showMessage", () => {
  assert.equal(formatStatus({ client: "running", stats: { engine_state: "ready" }, model: "m", enabled: false }).state, "off");
  const nf = formatStatus({ client: "not-found", model: "m", enabled: true, lastError: "safecoder-lsp not found" });
  assert.equal(nf.text, "$(error) m · error");
  assert.match(nf.tooltip, /not found/);
  assert.equal(formatStatus({ client: "stopped", model: "m", enabled: true }).state, "stopped");
  assert.equal(formatStatus({ client: "starting", model: "m", enabled: true }).state, "starting");
  assert.equal(formatStatus({ client: "running", stats: { engine_state: "none" }, model: "m", enabled: true }).state, "loading");
});
