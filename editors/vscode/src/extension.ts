// The VS Code extension: starts safecoder-lsp and wires settings, status and commands.
import * as fs from "node:fs";
import * as os from "node:os";
import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  MessageType,
  ServerOptions,
  ShowMessageNotification,
  State,
  TransportKind,
} from "vscode-languageclient/node";
import { resolveServerPath } from "./serverPath";
import { formatAccepted, formatLog, logPickItems, parseAcceptArguments } from "./references";
import { SECTION, SettingsSchema, explicitSettings, initializationOptions, keysNeedingRestart, workspaceSettings } from "./settings";
import { ClientState, Stats, formatStatus, modelName } from "./status";
// Bundled by esbuild; the same file the settings in package.json are generated from.
import schemaJson from "../schema/settings.json";

const schema = schemaJson as unknown as SettingsSchema;
const ACCEPT_COMMAND = "safecoder.acceptCompletion";
const STATS_COMMAND = "safecoder.stats";
const REFERENCE_LOG_COMMAND = "safecoder.showReferenceLog";
/** Server commands this extension registers itself (the client must not register them). */
const OWN_COMMANDS = new Set([REFERENCE_LOG_COMMAND]);

let client: LanguageClient | undefined;
let clientState: ClientState = "stopped";
let lastError: string | undefined;
let lastStats: Stats | undefined;
let startSettings: Record<string, unknown> = {};
let serverChannel: vscode.LogOutputChannel;
let referencesChannel: vscode.OutputChannel;
let statusItem: vscode.StatusBarItem;
let pollTimer: NodeJS.Timeout | undefined;

function inspector() {
  const config = vscode.workspace.getConfiguration(SECTION);
  return (key: string) => config.inspect(key);
}

function enabled(): boolean {
  return vscode.workspace.getConfiguration(SECTION).get<boolean>("completion.enabled", true);
}

async function pythonInterpreters(): Promise<string[]> {
  const out: string[] = [];
  try {
    const python = vscode.extensions.getExtension("ms-python.python");
    if (python) {
      const api = python.isActive ? python.exports : await python.activate();
      const env = api?.environments?.getActiveEnvironmentPath?.(vscode.workspace.workspaceFolders?.[0]?.uri);
      if (env?.path) out.push(env.path);
    }
  } catch {
    // the Python extension is optional
  }
  const configured = vscode.workspace.getConfiguration("python").get<string>("defaultInterpreterPath");
  if (configured) out.push(configured);
  return out;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, process.platform === "win32" ? fs.constants.F_OK : fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

async function findServer() {
  return resolveServerPath({
    configured: vscode.workspace.getConfiguration(SECTION).get<string>("serverPath", ""),
    interpreters: await pythonInterpreters(),
    pathEnv: process.env.PATH ?? "",
    platform: process.platform,
    workspaceFolder: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
    homeDir: os.homedir(),
    isExecutable,
  });
}

function restrictExecuteCommands(lc: LanguageClient): void {
  // The server advertises safecoder.showReferenceLog, which is also a command of this
  // extension (it shows the answer); keep the client from registering it twice.
  const feature = (lc as unknown as { getFeature(m: string): { register(data: any): void } | undefined }).getFeature(
    ExecuteCommandRequest.method,
  );
  if (!feature) return;
  const register = feature.register.bind(feature);
  feature.register = (data: any) => {
    const commands: string[] | undefined = data?.registerOptions?.commands;
    if (Array.isArray(commands)) {
      data = { ...data, registerOptions: { ...data.registerOptions, commands: commands.filter((c) => !OWN_COMMANDS.has(c)) } };
    }
    register(data);
  };
}

async function startClient(context: vscode.ExtensionContext): Promise<void> {
  const found = await findServer();
  if (!found.command) {
    clientState = "not-found";
    lastError = "safecoder-lsp not found";
    updateStatus();
    const pick = await vscode.window.showErrorMessage(
      "safecoder: the safecoder-lsp executable was not found (looked in the selected Python environment and on PATH). " +
        "Install it (`pip install safecoder-lsp` or `make install`) or set safecoder.serverPath.",
      "Open Settings",
    );
    if (pick) void vscode.commands.executeCommand("workbench.action.openSettings", "safecoder.serverPath");
    serverChannel.appendLine(`safecoder-lsp not found; looked at:\n  ${found.tried.join("\n  ")}`);
    return;
  }
  serverChannel.appendLine(`starting ${found.command} serve --stdio (from ${found.source})`);
  const serverOptions: ServerOptions = {
    command: found.command,
    args: ["serve", "--stdio"],
    transport: TransportKind.stdio,
  };
  startSettings = explicitSettings(schema, inspector());
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
    initializationOptions: initializationOptions(schema, inspector()),
    synchronize: { configurationSection: SECTION },
    outputChannel: serverChannel,
    middleware: {
      workspace: {
        // Answer with the explicit, workspace-allowed settings only (not VS Code's
        // defaults, which would override the user config file and the environment).
        configuration: (params, token, next) => {
          const rest = params.items.filter((item) => item.section !== SECTION);
          const answered = rest.length ? next({ ...params, items: rest }, token) : [];
          return Promise.resolve(answered).then((values) => {
            if (!Array.isArray(values)) return values;
            let i = 0;
            return params.items.map((item) => (item.section === SECTION ? workspaceSettings(schema, inspector()) : values[i++]));
          });
        },
        didChangeConfiguration: async () => {
          await client?.sendNotification(DidChangeConfigurationNotification.type, {
            settings: { [SECTION]: workspaceSettings(schema, inspector()) },
          });
        },
      },
      executeCommand: async (command, args, next) => {
        if (command === ACCEPT_COMMAND) showAcceptedReferences(args);
        return next(command, args);
      },
    },
  };
  const lc = new LanguageClient("safecoder", "safecoder", serverOptions, clientOptions);
  restrictExecuteCommands(lc);
  lc.onDidChangeState((e) => {
    clientState = e.newState === State.Running ? "running" : e.newState === State.Starting ? "starting" : "stopped";
    if (e.newState !== State.Running) lastStats = undefined;
    updateStatus();
    void poll();
  });
  context.subscriptions.push(
    lc.onNotification(ShowMessageNotification.type, (params) => {
      if (params.type === MessageType.Error) {
        lastError = params.message.replace(/^safecoder:\s*/, "");
        updateStatus();
      }
    }),
  );
  client = lc;
  clientState = "starting";
  lastError = undefined;
  updateStatus();
  try {
    await lc.start();
  } catch (error) {
    lastError = `could not start ${found.command}: ${error instanceof Error ? error.message : String(error)}`;
    clientState = "stopped";
    updateStatus();
    void vscode.window.showErrorMessage(`safecoder: ${lastError}`);
  }
}

async function stopClient(): Promise<void> {
  const lc = client;
  client = undefined;
  if (lc) {
    try {
      await lc.stop(5000);
    } catch (error) {
      serverChannel.appendLine(`stopping the server: ${String(error)}`);
    }
  }
  clientState = "stopped";
  lastStats = undefined;
}

function showAcceptedReferences(args: unknown[]): void {
  const accepted = parseAcceptArguments(args);
  const file = vscode.window.activeTextEditor?.document.uri.fsPath;
  const lines = formatAccepted(accepted, file, new Date().toISOString());
  if (lines.length === 0) return;
  for (const line of lines) referencesChannel.appendLine(line);
  referencesChannel.show(true);
}

async function poll(): Promise<void> {
  const lc = client;
  if (!lc || clientState !== "running") return;
  try {
    lastStats = (await lc.sendRequest(ExecuteCommandRequest.type, { command: STATS_COMMAND, arguments: [] })) as Stats;
  } catch {
    lastStats = undefined;
  }
  updateStatus();
}

function schedulePolling(): void {
  if (pollTimer) clearInterval(pollTimer);
  pollTimer = undefined;
  if (!vscode.window.state.focused) return; // the status bar is not looked at
  const seconds = vscode.workspace.getConfiguration(SECTION).get<number>("statusPollSeconds", 5);
  pollTimer = setInterval(() => void poll(), Math.max(1, seconds) * 1000);
  void poll();
}

function updateStatus(): void {
  const view = formatStatus({
    client: clientState,
    stats: lastStats,
    model: modelName(explicitSettings(schema, inspector())),
    enabled: enabled(),
    lastError,
  });
  statusItem.text = view.text;
  statusItem.tooltip = view.tooltip;
  statusItem.backgroundColor =
    view.severity === "error"
      ? new vscode.ThemeColor("statusBarItem.errorBackground")
      : view.severity === "warning"
        ? new vscode.ThemeColor("statusBarItem.warningBackground")
        : undefined;
  statusItem.show();
}

async function toggle(): Promise<void> {
  const config = vscode.workspace.getConfiguration(SECTION);
  const info = config.inspect<boolean>("completion.enabled");
  // Change the layer that decides the value; the configuration listener then sends
  // workspace/didChangeConfiguration with completion.enabled to the server.
  const target =
    info?.workspaceFolderValue !== undefined
      ? vscode.ConfigurationTarget.WorkspaceFolder
      : info?.workspaceValue !== undefined
        ? vscode.ConfigurationTarget.Workspace
        : vscode.ConfigurationTarget.Global;
  const next = !enabled();
  await config.update("completion.enabled", next, target);
  vscode.window.setStatusBarMessage(`safecoder: inline suggestions ${next ? "enabled" : "disabled"}`, 3000);
}

async function pullModel(): Promise<void> {
  const found = await findServer();
  if (!found.command) {
    void vscode.window.showErrorMessage("safecoder: safecoder-lsp not found; set safecoder.serverPath.");
    return;
  }
  const terminal = vscode.window.createTerminal({ name: "safecoder model pull", shellPath: found.command, shellArgs: ["model", "pull"] });
  terminal.show();
}

async function showReferenceLog(): Promise<void> {
  if (!client || clientState !== "running") {
    void vscode.window.showWarningMessage("safecoder: the server is not running.");
    return;
  }
  let entries: unknown;
  try {
    entries = await client.sendRequest(ExecuteCommandRequest.type, { command: REFERENCE_LOG_COMMAND, arguments: [{ limit: 50 }] });
  } catch (error) {
    void vscode.window.showErrorMessage(`safecoder: reading the reference log failed: ${error instanceof Error ? error.message : String(error)}`);
    return;
  }
  referencesChannel.appendLine(`--- reference log (latest 50 entries, newest first) ---`);
  for (const line of formatLog(entries)) referencesChannel.appendLine(line);
  referencesChannel.show(true);
  const items = logPickItems(entries);
  if (items.length) {
    await vscode.window.showQuickPick(items, { title: "safecoder reference log", matchOnDescription: true, matchOnDetail: true });
  }
}

async function restart(context: vscode.ExtensionContext): Promise<void> {
  await stopClient();
  await startClient(context);
  schedulePolling();
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  serverChannel = vscode.window.createOutputChannel("safecoder", { log: true });
  referencesChannel = vscode.window.createOutputChannel("safecoder references");
  statusItem = vscode.window.createStatusBarItem("safecoder.status", vscode.StatusBarAlignment.Right, 100);
  statusItem.name = "safecoder";
  statusItem.command = "safecoder.toggle";
  context.subscriptions.push(serverChannel, referencesChannel, statusItem);
  context.subscriptions.push(
    vscode.commands.registerCommand("safecoder.toggle", toggle),
    vscode.commands.registerCommand("safecoder.pullModel", pullModel),
    vscode.commands.registerCommand("safecoder.showReferenceLog", showReferenceLog),
    vscode.commands.registerCommand("safecoder.restartServer", () => restart(context)),
    vscode.commands.registerCommand("safecoder.showOutput", () => serverChannel.show()),
    vscode.window.onDidChangeWindowState(() => schedulePolling()),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (!event.affectsConfiguration(SECTION)) return;
      updateStatus();
      if (event.affectsConfiguration(`${SECTION}.statusPollSeconds`)) schedulePolling();
      if (event.affectsConfiguration(`${SECTION}.serverPath`)) {
        if ((await vscode.window.showInformationMessage("safecoder: restart the server with the new path?", "Restart")) === "Restart")
          await restart(context);
        return;
      }
      const keys = keysNeedingRestart(schema, startSettings, explicitSettings(schema, inspector()));
      if (keys.length && client) {
        const pick = await vscode.window.showInformationMessage(
          `safecoder: ${keys.join(", ")} take effect after a server restart.`,
          "Restart",
        );
        if (pick === "Restart") await restart(context);
      }
    }),
    { dispose: () => pollTimer && clearInterval(pollTimer) },
  );
  updateStatus();
  await startClient(context);
  schedulePolling();
}

export async function deactivate(): Promise<void> {
  if (pollTimer) clearInterval(pollTimer);
  await stopClient();
}
