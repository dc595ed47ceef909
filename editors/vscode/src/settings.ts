// VS Code settings -> the server's configuration. Pure: no `vscode` import.
//
// Only the values a user set explicitly (in user, workspace or folder settings) are
// sent: sending VS Code's defaults would override the server's user config file and
// SAFECODER_* environment variables, which rank below client settings.

export const SECTION = "safecoder";

export interface KeySchema {
  type?: string;
  default?: unknown;
  scope?: string;
  description?: string;
  [field: string]: unknown;
}

export interface SettingsSchema {
  properties: Record<string, KeySchema>;
}

/** What `WorkspaceConfiguration.inspect(key)` returns (the fields used here). */
export interface Inspected {
  globalValue?: unknown;
  workspaceValue?: unknown;
  workspaceFolderValue?: unknown;
  globalLanguageValue?: unknown;
  workspaceLanguageValue?: unknown;
  workspaceFolderLanguageValue?: unknown;
}

/** Reads one key of the `safecoder` section, e.g. "completion.max_tokens". */
export type Inspector = (key: string) => Inspected | undefined;

/** Keys a workspace may not set (the schema's `scope: machine`); the server refuses
 * them from workspace settings, so they only travel in initializationOptions. */
export function machineKeys(schema: SettingsSchema): Set<string> {
  return new Set(Object.entries(schema.properties).filter(([, s]) => s.scope === "machine").map(([k]) => k));
}

/** `{dotted key: value}` of the settings set explicitly. Machine-scoped keys are read
 * from user settings only, as VS Code itself ignores them in workspace settings. */
export function explicitSettings(schema: SettingsSchema, inspect: Inspector): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(schema.properties)) {
    const info = inspect(key);
    if (!info) continue;
    const layers =
      spec.scope === "machine"
        ? [info.globalValue]
        : [info.globalValue, info.workspaceValue, info.workspaceFolderValue]; // lowest first
    let value: unknown = undefined;
    for (const layer of layers) if (layer !== undefined && layer !== null) value = layer;
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** `{"completion.max_tokens": 64}` -> `{"completion": {"max_tokens": 64}}`. */
export function nest(flat: Record<string, unknown>): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [key, value] of Object.entries(flat)) {
    const dot = key.indexOf(".");
    if (dot < 0) continue; // every server key is section.name
    const section = key.slice(0, dot);
    (out[section] ??= {})[key.slice(dot + 1)] = value;
  }
  return out;
}

/** initializationOptions: every explicit setting, nested. */
export function initializationOptions(schema: SettingsSchema, inspect: Inspector): Record<string, Record<string, unknown>> {
  return nest(explicitSettings(schema, inspect));
}

/** The answer to `workspace/configuration` for section "safecoder" (and the payload of
 * `workspace/didChangeConfiguration`): explicit settings without machine-scoped keys. */
export function workspaceSettings(schema: SettingsSchema, inspect: Inspector): Record<string, Record<string, unknown>> {
  const machine = machineKeys(schema);
  const flat = explicitSettings(schema, inspect);
  for (const key of Object.keys(flat)) if (machine.has(key)) delete flat[key];
  return nest(flat);
}

/** Keys whose change needs a server restart to take effect: machine-scoped keys (only
 * sent at start) and keys whose explicit value was removed while the server ran with
 * it in initializationOptions. */
export function keysNeedingRestart(
  schema: SettingsSchema,
  atStart: Record<string, unknown>,
  now: Record<string, unknown>,
): string[] {
  const machine = machineKeys(schema);
  const keys = new Set([...Object.keys(atStart), ...Object.keys(now)]);
  const out: string[] = [];
  for (const key of keys) {
    const changed = JSON.stringify(atStart[key]) !== JSON.stringify(now[key]);
    if (!changed) continue;
    if (machine.has(key) || (key in atStart && !(key in now))) out.push(key);
  }
  return out.sort();
}
