// Status bar text from the server's `safecoder.stats` answer. Pure: no `vscode` import.

/** The answer of the server command `safecoder.stats` (see safecoder_lsp/lsp/commands.py). */
export interface Stats {
  engine_state?: string; // none | idle | loading | ready | failed | closed
  error?: string | null;
  requests?: number;
  engine?: number;
  cache?: number;
  typed_ahead?: number;
  skipped?: number;
  accepted?: number;
  rejected?: number;
  blocked?: number;
  completed_jobs?: number;
  cancelled_jobs?: number;
  dropped_jobs?: number;
  queued_jobs?: number;
  cache_entries?: number;
  documents?: number;
  [key: string]: unknown;
}

export type ClientState = "starting" | "running" | "stopped" | "not-found";

export interface StatusInput {
  client: ClientState;
  stats?: Stats;
  /** A short model name (see modelName). */
  model: string;
  enabled: boolean;
  /** The last error the server showed (window/showMessage) or starting it gave. */
  lastError?: string;
}

export type Severity = "normal" | "warning" | "error";

export interface StatusView {
  text: string;
  tooltip: string;
  severity: Severity;
  /** loading | ready | error | off | starting | stopped */
  state: string;
}

/** A model name or file path, short: the file name without ".gguf". */
export function shortModel(name: string): string {
  const trimmed = name.trim();
  const base = trimmed.split(/[\\/]/).pop() || trimmed;
  return base.replace(/\.gguf$/i, "");
}

/** The model shown before the server says: engine.model, else the file name of
 * model.path, else "default model". */
export function modelName(settings: Record<string, unknown>): string {
  const engineModel = settings["engine.model"];
  if (typeof engineModel === "string" && engineModel.trim()) return engineModel.trim();
  const modelPath = settings["model.path"];
  if (typeof modelPath === "string" && modelPath.trim()) return shortModel(modelPath);
  return "default model";
}

export function engineState(input: StatusInput): string {
  if (input.client === "not-found") return "error";
  if (input.client === "stopped") return input.lastError ? "error" : "stopped";
  if (input.client === "starting") return "starting";
  switch (input.stats?.engine_state) {
    case undefined:
    case "none":
    case "idle":
    case "loading":
      return "loading";
    case "ready":
      return "ready";
    case "failed":
    case "closed":
      return "error";
    default:
      return String(input.stats?.engine_state);
  }
}

function n(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? value : 0;
}

export function formatStatus(input: StatusInput): StatusView {
  let state = engineState(input);
  if (!input.enabled && state === "ready") state = "off";
  const blocked = n(input.stats?.blocked);
  const icon =
    state === "loading" || state === "starting"
      ? "$(loading~spin)"
      : state === "error"
        ? "$(error)"
        : state === "off"
          ? "$(circle-slash)"
          : "$(sparkle)";
  // The server names the model it runs (or the one the endpoint serves) once ready.
  const served = typeof input.stats?.model === "string" ? shortModel(input.stats.model) : "";
  const model = served || input.model;
  let text = `${icon} ${model} · ${state}`;
  if (blocked > 0) text += ` · $(shield) ${blocked} blocked`;
  const s = input.stats ?? {};
  const lines = [
    `safecoder — ${model}`,
    `state: ${state}${input.enabled ? "" : " (inline suggestions disabled)"}`,
  ];
  if (input.stats) {
    lines.push(
      `requests: ${n(s.requests)}, accepted: ${n(s.accepted)}, rejected: ${n(s.rejected)}`,
      `blocked by attribution: ${blocked}`,
      `from the engine: ${n(s.engine)}, from the cache: ${n(s.cache)}, typed ahead: ${n(s.typed_ahead)}`,
    );
  }
  const error = (typeof s.error === "string" && s.error) || input.lastError;
  if (error && state === "error") lines.push(`error: ${error}`);
  lines.push("", "Click to enable or disable inline suggestions.");
  const severity: Severity = state === "error" ? "error" : state === "off" || state === "stopped" ? "warning" : "normal";
  return { text, tooltip: lines.join("\n"), severity, state };
}
