// Formatting the references of accepted suggestions and of the reference log.
// Pure: no `vscode` import.

/** One reference as the server sends it (safecoder_lsp/references.py `_reference_json`). */
export interface Reference {
  repo?: string;
  path?: string;
  start_line?: number;
  end_line?: number;
  license?: string;
  length?: number;
  allowed?: boolean;
  why?: string;
  start?: number;
  end?: number;
}

/** An entry of the reference log (`safecoder.showReferenceLog`). */
export interface LogEntry {
  time?: string;
  request_id?: string;
  uri?: string;
  matches?: Reference[];
}

export interface Accepted {
  requestId?: string;
  references: Reference[];
}

/** The arguments of `safecoder.acceptCompletion`: `[request_id]` or
 * `[request_id, {"references": [...]}]` (some clients wrap them in one more list). */
export function parseAcceptArguments(args: unknown[] | undefined): Accepted {
  let list: unknown[] = Array.isArray(args) ? args : [];
  if (list.length === 1 && Array.isArray(list[0])) list = list[0] as unknown[];
  const requestId = typeof list[0] === "string" ? list[0] : undefined;
  const second = list[1];
  let references: Reference[] = [];
  if (second && typeof second === "object" && !Array.isArray(second)) {
    const refs = (second as { references?: unknown }).references;
    if (Array.isArray(refs)) references = refs.filter((r): r is Reference => !!r && typeof r === "object");
  }
  return { requestId, references };
}

export function formatLocation(ref: Reference): string {
  const where = `${ref.repo ?? "?"}/${ref.path ?? "?"}`;
  if (typeof ref.start_line === "number") {
    const end = typeof ref.end_line === "number" && ref.end_line !== ref.start_line ? `-${ref.end_line}` : "";
    return `${where}:${ref.start_line}${end}`;
  }
  return where;
}

export function formatReference(ref: Reference): string {
  const license = ref.license || "unknown license";
  let line = `${formatLocation(ref)} (${license})`;
  if (ref.allowed === false) line += " — not allowed by attribution.allowed_licenses";
  if (ref.why) line += ` — ${ref.why}`;
  return line;
}

/** Lines for the "safecoder references" output channel after an accepted suggestion. */
export function formatAccepted(accepted: Accepted, file?: string, time?: string): string[] {
  if (accepted.references.length === 0) return [];
  const head = [time, "accepted suggestion", file ? `in ${file}` : undefined, accepted.requestId ? `(request ${accepted.requestId})` : undefined]
    .filter(Boolean)
    .join(" ");
  const count = accepted.references.length;
  return [`${head} matches ${count} indexed source${count === 1 ? "" : "s"}:`, ...accepted.references.map((r) => `  ${formatReference(r)}`)];
}

/** Lines of the reference log, newest first. */
export function formatLog(entries: unknown): string[] {
  if (!Array.isArray(entries) || entries.length === 0) return ["The reference log is empty: no accepted suggestion matched indexed code."];
  const lines: string[] = [];
  for (const raw of [...entries].reverse()) {
    if (!raw || typeof raw !== "object") continue;
    const entry = raw as LogEntry;
    lines.push(`${entry.time ?? "?"} ${entry.uri ?? ""}`.trimEnd());
    for (const ref of entry.matches ?? []) lines.push(`  ${formatReference(ref)}`);
  }
  return lines;
}

/** Quick pick items for the reference log, newest first, one per match. */
export function logPickItems(entries: unknown): { label: string; description: string; detail: string }[] {
  if (!Array.isArray(entries)) return [];
  const items: { label: string; description: string; detail: string }[] = [];
  for (const raw of [...entries].reverse()) {
    if (!raw || typeof raw !== "object") continue;
    const entry = raw as LogEntry;
    for (const ref of entry.matches ?? []) {
      items.push({
        label: formatLocation(ref),
        description: ref.license || "unknown license",
        detail: `${entry.time ?? ""} ${entry.uri ?? ""}`.trim(),
      });
    }
  }
  return items;
}
