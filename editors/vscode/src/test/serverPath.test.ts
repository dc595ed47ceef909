import { test } from "node:test";
import * as assert from "node:assert/strict";
import { expandPath, resolveServerPath } from "../serverPath";

const base = { interpreters: [], pathEnv: "", platform: "linux" as NodeJS.Platform, isExecutable: () => false };

test("the setting wins and is used as given", () => {
  const r = resolveServerPath({ ...base, configured: "~/bin/safecoder-lsp", homeDir: "/home/u", isExecutable: () => true });
  assert.equal(r.command, "/home/u/bin/safecoder-lsp");
  assert.equal(r.source, "setting");
});

test("the Python environment's bin dir comes before PATH", () => {
  const exists = new Set(["/proj/.venv/bin/safecoder-lsp", "/usr/bin/safecoder-lsp"]);
  const r = resolveServerPath({
    ...base,
    configured: "",
    interpreters: ["${workspaceFolder}/.venv/bin/python"],
    workspaceFolder: "/proj",
    pathEnv: "/usr/local/bin:/usr/bin",
    isExecutable: (f) => exists.has(f),
  });
  assert.equal(r.command, "/proj/.venv/bin/safecoder-lsp");
  assert.equal(r.source, "python");
});

test("falls back to PATH; a bare interpreter name is skipped", () => {
  const r = resolveServerPath({
    ...base,
    configured: "  ",
    interpreters: ["python", "/opt/py/bin/python3"],
    pathEnv: "/usr/local/bin::/usr/bin",
    isExecutable: (f) => f === "/usr/bin/safecoder-lsp",
  });
  assert.equal(r.command, "/usr/bin/safecoder-lsp");
  assert.equal(r.source, "PATH");
  assert.deepEqual(r.tried, ["/opt/py/bin/safecoder-lsp", "/usr/local/bin/safecoder-lsp", "/usr/bin/safecoder-lsp"]);
});

test("nothing found lists every place tried", () => {
  const r = resolveServerPath({ ...base, configured: "", interpreters: ["/a/bin/python"], pathEnv: "/b" });
  assert.equal(r.command, undefined);
  assert.deepEqual(r.tried, ["/a/bin/safecoder-lsp", "/b/safecoder-lsp"]);
});

test("Windows: Scripts folder and .exe, ; separated PATH", () => {
  const r = resolveServerPath({
    ...base,
    platform: "win32",
    configured: "",
    interpreters: ["C:\\envs\\sc\\python.exe"],
    pathEnv: "C:\\x;C:\\y",
    isExecutable: (f) => f === "C:\\envs\\sc\\Scripts\\safecoder-lsp.exe",
  });
  assert.equal(r.command, "C:\\envs\\sc\\Scripts\\safecoder-lsp.exe");
});

test("expandPath", () => {
  assert.equal(expandPath("${userHome}/x", "/w", "/h"), "/h/x");
  assert.equal(expandPath("~", undefined, "/h"), "/h");
  assert.equal(expandPath("${workspaceFolder}/v", "/w", "/h"), "/w/v");
});
