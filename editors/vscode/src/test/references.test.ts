import { test } from "node:test";
import * as assert from "node:assert/strict";
import { formatAccepted, formatLog, formatReference, logPickItems, parseAcceptArguments } from "../references";

const ref = { repo: "psf/requests", path: "src/requests/api.py", start_line: 10, end_line: 14, license: "Apache-2.0", allowed: true, why: "" };

test("accept arguments: [id], [id, {references}], wrapped", () => {
  assert.deepEqual(parseAcceptArguments(["abc"]), { requestId: "abc", references: [] });
  assert.deepEqual(parseAcceptArguments(["abc", { references: [ref] }]), { requestId: "abc", references: [ref] });
  assert.deepEqual(parseAcceptArguments([["abc", { references: [ref] }]]), { requestId: "abc", references: [ref] });
  assert.deepEqual(parseAcceptArguments(undefined), { requestId: undefined, references: [] });
  assert.deepEqual(parseAcceptArguments(["abc", { references: "x" }]), { requestId: "abc", references: [] });
});

test("a reference shows repo, path, lines and license", () => {
  assert.equal(formatReference(ref), "psf/requests/src/requests/api.py:10-14 (Apache-2.0)");
  assert.equal(
    formatReference({ repo: "a/b", path: "x.c", start_line: 3, end_line: 3, license: "", allowed: false, why: "GPL-3.0 not allowed" }),
    "a/b/x.c:3 (unknown license) — not allowed by attribution.allowed_licenses — GPL-3.0 not allowed",
  );
});

test("accepted suggestion lines; nothing without references", () => {
  assert.deepEqual(formatAccepted({ requestId: "r1", references: [ref] }, "/p/a.py", "T"), [
    "T accepted suggestion in /p/a.py (request r1) matches 1 indexed source:",
    "  psf/requests/src/requests/api.py:10-14 (Apache-2.0)",
  ]);
  assert.deepEqual(formatAccepted({ requestId: "r1", references: [] }), []);
});

test("reference log: newest first; empty log message; quick pick items", () => {
  const entries = [
    { time: "t1", uri: "file:///a.py", matches: [ref] },
    { time: "t2", uri: "file:///b.py", matches: [{ ...ref, repo: "x/y" }] },
  ];
  const lines = formatLog(entries);
  assert.equal(lines[0], "t2 file:///b.py");
  assert.equal(lines[2], "t1 file:///a.py");
  assert.match(formatLog([])[0], /empty/);
  const items = logPickItems(entries);
  assert.equal(items.length, 2);
  assert.equal(items[0].label, "x/y/src/requests/api.py:10-14");
  assert.equal(items[0].description, "Apache-2.0");
});
