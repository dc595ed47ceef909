// Finding the safecoder-lsp executable. Pure: no `vscode` import (tested without VS Code).
import * as path from "node:path";

export interface ServerPathInput {
  /** `safecoder.serverPath`; used as is when not empty. */
  configured: string;
  /** Interpreters of the selected Python environment, best first (the Python
   * extension's active environment, then `python.defaultInterpreterPath`). */
  interpreters: string[];
  /** The PATH environment variable. */
  pathEnv: string;
  platform: NodeJS.Platform;
  /** The first workspace folder, for `${workspaceFolder}` in interpreter paths. */
  workspaceFolder?: string;
  homeDir?: string;
  /** Whether an executable file exists at this path. */
  isExecutable: (file: string) => boolean;
}

export interface ServerPathResult {
  /** The command to run; undefined when nothing was found. */
  command?: string;
  /** Where it came from (shown in messages). */
  source?: "setting" | "python" | "PATH";
  /** Every place looked at, in order (for the "not found" message). */
  tried: string[];
}

export const EXECUTABLE = "safecoder-lsp";

function executableNames(platform: NodeJS.Platform): string[] {
  return platform === "win32" ? [`${EXECUTABLE}.exe`, `${EXECUTABLE}.cmd`, EXECUTABLE] : [EXECUTABLE];
}

/** `~` and `${workspaceFolder}` / `${userHome}` expanded. */
export function expandPath(value: string, workspaceFolder?: string, homeDir?: string): string {
  let out = value.trim();
  if (homeDir) {
    out = out.replace(/\$\{userHome\}/g, homeDir);
    if (out === "~" || out.startsWith("~/") || out.startsWith("~\\")) out = homeDir + out.slice(1);
  }
  if (workspaceFolder) out = out.replace(/\$\{workspaceFolder\}/g, workspaceFolder);
  return out;
}

/** The folders where an interpreter's environment keeps its scripts. */
export function scriptDirs(interpreter: string, platform: NodeJS.Platform): string[] {
  const p = platform === "win32" ? path.win32 : path.posix;
  const dir = p.dirname(interpreter);
  const dirs = [dir];
  // A Windows venv keeps python.exe in Scripts\ already; a conda env keeps it at the root.
  if (platform === "win32" && p.basename(dir).toLowerCase() !== "scripts") dirs.push(p.join(dir, "Scripts"));
  return dirs;
}

export function resolveServerPath(input: ServerPathInput): ServerPathResult {
  const tried: string[] = [];
  const p = input.platform === "win32" ? path.win32 : path.posix;
  const configured = expandPath(input.configured || "", input.workspaceFolder, input.homeDir);
  if (configured) {
    // An explicit setting is used as given, even when it does not exist: the error
    // from starting it names the path, which is clearer than silently falling back.
    return { command: configured, source: "setting", tried: [configured] };
  }
  for (const raw of input.interpreters) {
    const interpreter = expandPath(raw || "", input.workspaceFolder, input.homeDir);
    // A bare name such as "python" says nothing about the environment: skip it.
    if (!interpreter || !/[\\/]/.test(interpreter)) continue;
    for (const dir of scriptDirs(interpreter, input.platform)) {
      for (const name of executableNames(input.platform)) {
        const candidate = p.join(dir, name);
        if (tried.includes(candidate)) continue;
        tried.push(candidate);
        if (input.isExecutable(candidate)) return { command: candidate, source: "python", tried };
      }
    }
  }
  const sep = input.platform === "win32" ? ";" : ":";
  for (const dir of (input.pathEnv || "").split(sep)) {
    if (!dir) continue;
    for (const name of executableNames(input.platform)) {
      const candidate = p.join(dir, name);
      if (tried.includes(candidate)) continue;
      tried.push(candidate);
      if (input.isExecutable(candidate)) return { command: candidate, source: "PATH", tried };
    }
  }
  return { tried };
}
