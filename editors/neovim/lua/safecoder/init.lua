-- safecoder.nvim: inline (ghost text) completions from safecoder-lsp.
--
-- Neovim 0.12+ has native LSP inline completion (vim.lsp.inline_completion); it is used
-- when present. On 0.11 this module asks for `textDocument/inlineCompletion` itself
-- while you type and draws the first item with extmarks.
local ghost = require("safecoder.ghost")

local M = {}

local api = vim.api
local uv = vim.uv or vim.loop

local ACCEPT_COMMAND = "safecoder.acceptCompletion"
local STATS_COMMAND = "safecoder.stats"

M.defaults = {
  cmd = { "safecoder-lsp" },
  filetypes = {
    "python", "lua", "javascript", "javascriptreact", "typescript", "typescriptreact",
    "go", "rust", "c", "cpp", "java", "sh", "ruby", "php",
  },
  -- the `safecoder` settings: sent as initializationOptions and answered to
  -- workspace/configuration (section "safecoder")
  settings = {},
  debounce_ms = 150,
  -- ask while you type; false: only when you press keys.suggest (or :SafecoderSuggest)
  auto_trigger = true,
  -- root directory markers (the first found upwards wins; else the cwd)
  root_markers = { ".git" },
  -- use vim.lsp.inline_completion when Neovim has it (0.12+); false forces extmarks
  native = true,
  keys = {
    accept = "<Tab>",
    accept_word = "<C-Right>",
    accept_line = "<C-Down>",
    dismiss = "<C-]>",
    -- ask now, as an explicit request: answered anywhere, inside a word too
    suggest = "<M-\\>",
  },
}

M.config = nil

-- global state
local state = {
  enabled = true,
  augroup = nil,
  last_error = nil,
  requests = 0,
  shown = 0,
  accepted = 0,
}

-- per-buffer state: { timer, client_id, request_id, suggestion, suppressed }
-- suggestion = { row, col, text, command, client_id, consumed }
local bufs = {}

local function native_available()
  return M.config.native and vim.lsp.inline_completion ~= nil
    and type(vim.lsp.inline_completion.enable) == "function"
end

local function get_client(buf)
  local clients = vim.lsp.get_clients({ bufnr = buf, name = "safecoder" })
  return clients[1]
end

local function bstate(buf)
  local s = bufs[buf]
  if not s then
    s = {}
    bufs[buf] = s
  end
  return s
end

-- -- positions ---------------------------------------------------------------------

-- byte column of an LSP `character` on `line` (text) in `encoding`
local function byte_col(line, character, encoding)
  if encoding == "utf-8" then
    return math.min(character, #line)
  end
  local ok, col = pcall(vim.str_byteindex, line, encoding, character, false)
  if ok and col then
    return col
  end
  -- Neovim 0.10 signature: (s, index, use_utf16)
  ok, col = pcall(vim.str_byteindex, line, character, encoding == "utf-16")
  return ok and col or #line
end

-- LSP `character` of byte column `col` on `line` in `encoding`
local function lsp_character(line, col, encoding)
  if encoding == "utf-8" then
    return col
  end
  local ok, idx = pcall(vim.str_utfindex, line, encoding, col, false)
  if ok and idx then
    return idx
  end
  local ok2, u32, u16 = pcall(vim.str_utfindex, line, col)
  if ok2 then
    return encoding == "utf-16" and u16 or u32
  end
  return col
end

local function line_text(buf, row)
  return api.nvim_buf_get_lines(buf, row, row + 1, false)[1] or ""
end

-- -- ghost text ------------------------------------------------------------------------

local function remaining(sug)
  return sug.text:sub(sug.consumed + 1)
end

local function clear(buf)
  local s = bufs[buf]
  if s then
    s.suggestion = nil
  end
  ghost.clear(buf)
end

local function render(buf)
  local s = bufs[buf]
  local sug = s and s.suggestion
  if not sug then
    ghost.clear(buf)
    return
  end
  local cur = api.nvim_win_get_cursor(0)
  ghost.show(buf, cur[1] - 1, cur[2], remaining(sug))
end

-- Text the user typed since the suggestion was shown (same line only), or nil.
local function typed_since(buf, sug)
  local cur = api.nvim_win_get_cursor(0)
  local row, col = cur[1] - 1, cur[2]
  if row ~= sug.row or col < sug.col then
    return nil
  end
  return line_text(buf, row):sub(sug.col + 1, col)
end

-- Keeps the suggestion if what was typed since it was shown is a prefix of it.
local function still_valid(buf)
  local s = bufs[buf]
  local sug = s and s.suggestion
  if not sug then
    return false
  end
  local typed = typed_since(buf, sug)
  if typed == nil then
    return false
  end
  if sug.text:sub(1, #typed) ~= typed then
    return false
  end
  sug.consumed = #typed
  return sug.consumed < #sug.text
end

-- -- requests ----------------------------------------------------------------------------

local function cancel(buf)
  local s = bufs[buf]
  if not s then
    return
  end
  if s.timer then
    s.timer:stop()
  end
  if s.request_id then
    local client = vim.lsp.get_client_by_id(s.client_id or -1)
    if client then
      pcall(client.cancel_request, client, s.request_id)
    end
    s.request_id = nil
  end
end

local function item_text(item)
  local text = item.insertText
  if type(text) == "table" then -- StringValue (snippet): drop the placeholders
    text = (text.value or ""):gsub("%$%{%d+:?([^}]*)%}", "%1"):gsub("%$%d+", "")
  end
  return text or ""
end

-- invoked: an explicit request (the suggest key), which the server answers anywhere;
-- else the automatic one sent while typing, which it skips inside a word.
local function request(buf, invoked)
  local s = bstate(buf)
  if not state.enabled or s.suppressed or api.nvim_get_current_buf() ~= buf then
    return
  end
  if not api.nvim_get_mode().mode:match("^i") then
    return
  end
  local client = get_client(buf)
  if not client then
    return
  end
  cancel(buf)
  local enc = client.offset_encoding or "utf-16"
  local cur = api.nvim_win_get_cursor(0)
  local row, col = cur[1] - 1, cur[2]
  local tick = api.nvim_buf_get_changedtick(buf)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    position = { line = row, character = lsp_character(line_text(buf, row), col, enc) },
    context = { triggerKind = invoked and 1 or 2 }, -- Invoked or Automatic
  }
  state.requests = state.requests + 1
  local ok, id
  ok, id = client:request("textDocument/inlineCompletion", params, function(err, result)
    if s.request_id == id then
      s.request_id = nil
    end
    if err then
      state.last_error = err.message or vim.inspect(err)
      return
    end
    if not api.nvim_buf_is_valid(buf) or api.nvim_get_current_buf() ~= buf
      or api.nvim_buf_get_changedtick(buf) ~= tick
      or not api.nvim_get_mode().mode:match("^i") then
      return
    end
    local now = api.nvim_win_get_cursor(0)
    if now[1] - 1 ~= row or now[2] ~= col then
      return
    end
    local items = result and (result.items or result) or {}
    local item = items[1]
    if not item then
      clear(buf)
      return
    end
    local text = item_text(item)
    local scol, ecol = col, col
    if item.range then
      local l = line_text(buf, item.range.start.line)
      scol = byte_col(l, item.range.start.character, enc)
      ecol = byte_col(line_text(buf, item.range["end"].line), item.range["end"].character, enc)
      if item.range.start.line ~= row or item.range["end"].line ~= row or ecol ~= col or scol > col then
        return -- only insertions at (or replacing up to) the cursor are drawn
      end
      -- the range may start before the cursor: the text repeats what is typed
      local typed = l:sub(scol + 1, col)
      if text:sub(1, #typed) ~= typed then
        return
      end
      text = text:sub(#typed + 1)
    end
    if text == "" then
      clear(buf)
      return
    end
    s.suggestion = {
      row = row, col = col, text = text, consumed = 0,
      command = item.command, client_id = client.id,
    }
    state.shown = state.shown + 1
    render(buf)
  end, buf)
  if ok then
    s.request_id, s.client_id = id, client.id
  end
end

local function schedule_request(buf)
  if not M.config.auto_trigger then
    return
  end
  local s = bstate(buf)
  if not s.timer then
    s.timer = uv.new_timer()
  end
  s.timer:stop()
  s.timer:start(M.config.debounce_ms, 0, vim.schedule_wrap(function()
    if api.nvim_buf_is_valid(buf) then
      request(buf)
    end
  end))
end

-- -- accepting ---------------------------------------------------------------------------

local function run_command(buf, sug)
  local cmd = sug.command
  if not cmd or sug.command_sent then
    return
  end
  sug.command_sent = true
  local client = vim.lsp.get_client_by_id(sug.client_id)
  if not client then
    return
  end
  client:request("workspace/executeCommand",
    { command = cmd.command, arguments = cmd.arguments }, function(err)
      if err then
        state.last_error = err.message
      end
    end, buf)
  if cmd.command == ACCEPT_COMMAND then
    state.accepted = state.accepted + 1
  end
end

-- Inserts `piece` (a prefix of the remaining suggestion) at the cursor.
local function insert(buf, piece)
  local s = bufs[buf]
  local sug = s.suggestion
  local cur = api.nvim_win_get_cursor(0)
  local row, col = cur[1] - 1, cur[2]
  local lines = vim.split(piece, "\n", { plain = true })
  api.nvim_buf_set_text(buf, row, col, row, col, lines)
  local erow = row + #lines - 1
  local ecol = (#lines == 1 and col or 0) + #lines[#lines]
  api.nvim_win_set_cursor(0, { erow + 1, ecol })
  sug.consumed = sug.consumed + #piece
  if sug.consumed >= #sug.text then
    clear(buf)
    run_command(buf, sug)
  elseif erow ~= sug.row then
    -- continue on the new line: the suggestion now starts at the cursor
    sug.text = remaining(sug)
    sug.consumed, sug.row, sug.col = 0, erow, ecol
    render(buf)
  else
    render(buf)
  end
end

local function next_word(text)
  return text:match("^%s*[%w_]+") or text:match("^%s*[^%w_%s]+") or text:match("^[ \t]*\n?") or text
end

local function next_line(text)
  local first = text:match("^[^\n]*")
  if first == "" then
    return text:match("^\n[^\n]*") or text
  end
  return first
end

function M.has_suggestion(buf)
  buf = buf or api.nvim_get_current_buf()
  local s = bufs[buf]
  return s ~= nil and s.suggestion ~= nil
end

function M.accept(buf)
  buf = buf or api.nvim_get_current_buf()
  if not M.has_suggestion(buf) then
    return false
  end
  insert(buf, remaining(bufs[buf].suggestion))
  return true
end

function M.accept_word(buf)
  buf = buf or api.nvim_get_current_buf()
  if not M.has_suggestion(buf) then
    return false
  end
  local piece = next_word(remaining(bufs[buf].suggestion))
  if piece == "" then
    return false
  end
  insert(buf, piece)
  return true
end

function M.accept_line(buf)
  buf = buf or api.nvim_get_current_buf()
  if not M.has_suggestion(buf) then
    return false
  end
  insert(buf, next_line(remaining(bufs[buf].suggestion)))
  return true
end

function M.dismiss(buf)
  buf = buf or api.nvim_get_current_buf()
  if not M.has_suggestion(buf) then
    return false
  end
  cancel(buf)
  clear(buf)
  bstate(buf).suppressed = true -- until the text changes
  return true
end

-- Ask now (an explicit request): true when a request went out.
function M.suggest(buf)
  buf = buf or api.nvim_get_current_buf()
  cancel(buf) -- the pending automatic request, if any
  bstate(buf).suppressed = false
  clear(buf)
  local before = state.requests
  request(buf, true)
  return state.requests > before
end

-- The current suggestion's remaining text (for scripts and tests), or nil.
function M.suggestion(buf)
  buf = buf or api.nvim_get_current_buf()
  local s = bufs[buf]
  return s and s.suggestion and remaining(s.suggestion) or nil
end

-- -- keys -----------------------------------------------------------------------------------

local function fallback(key)
  api.nvim_feedkeys(api.nvim_replace_termcodes(key, true, false, true), "n", false)
end

local function map(key, action, desc)
  if not key or key == "" then
    return
  end
  vim.keymap.set("i", key, function()
    if not action() then
      fallback(key)
    end
  end, { desc = desc, silent = true })
end

local function native_map(key, action, desc)
  if not key or key == "" then
    return
  end
  vim.keymap.set("i", key, function()
    local ok, done = pcall(action)
    if not (ok and done) then
      fallback(key)
    end
  end, { desc = desc, silent = true })
end

local function set_keys()
  local keys = M.config.keys
  if native_available() then
    native_map(keys.accept, function()
      return vim.lsp.inline_completion.get() == true
    end, "safecoder: accept suggestion")
    return
  end
  map(keys.accept, M.accept, "safecoder: accept suggestion")
  map(keys.accept_word, M.accept_word, "safecoder: accept next word")
  map(keys.accept_line, M.accept_line, "safecoder: accept next line")
  map(keys.dismiss, M.dismiss, "safecoder: dismiss suggestion")
  map(keys.suggest, M.suggest, "safecoder: suggest now")
end

-- -- buffers ----------------------------------------------------------------------------------

local function root_dir(buf)
  local markers = M.config.root_markers
  local root = vim.fs.root and vim.fs.root(buf, markers) or nil
  return root or vim.fn.getcwd()
end

local function capabilities()
  local caps = vim.lsp.protocol.make_client_capabilities()
  caps.textDocument = caps.textDocument or {}
  -- tells the server to show suggestions inline only (no duplicate popup item)
  caps.textDocument.inlineCompletion = caps.textDocument.inlineCompletion
    or { dynamicRegistration = false }
  caps.general = caps.general or {}
  caps.general.positionEncodings = { "utf-8", "utf-16", "utf-32" }
  return caps
end

local function on_text_changed(buf)
  local s = bstate(buf)
  s.suppressed = false
  if still_valid(buf) then
    render(buf)
    return
  end
  clear(buf)
  cancel(buf)
  schedule_request(buf)
end

local function on_cursor_moved(buf)
  local s = bstate(buf)
  if s.suggestion then
    if still_valid(buf) then
      render(buf)
      return
    end
    clear(buf)
  end
  cancel(buf)
  if not s.suppressed then
    schedule_request(buf)
  end
end

local function attach_autocmds(buf)
  local s = bstate(buf)
  if s.attached then
    return
  end
  s.attached = true
  local group = state.augroup
  local tick = -1
  api.nvim_create_autocmd("TextChangedI", {
    group = group, buffer = buf,
    callback = function()
      tick = api.nvim_buf_get_changedtick(buf)
      on_text_changed(buf)
    end,
  })
  api.nvim_create_autocmd({ "CursorMovedI", "InsertEnter" }, {
    group = group, buffer = buf,
    callback = function(ev)
      -- TextChangedI already handled this change
      if ev.event == "CursorMovedI" and api.nvim_buf_get_changedtick(buf) == tick then
        return
      end
      on_cursor_moved(buf)
    end,
  })
  api.nvim_create_autocmd({ "InsertLeave", "BufLeave" }, {
    group = group, buffer = buf,
    callback = function()
      cancel(buf)
      clear(buf)
    end,
  })
  api.nvim_create_autocmd("BufWipeout", {
    group = group, buffer = buf,
    callback = function()
      cancel(buf)
      local st = bufs[buf]
      if st and st.timer then
        st.timer:close()
      end
      bufs[buf] = nil
    end,
  })
end

function M.start(buf)
  buf = buf or api.nvim_get_current_buf()
  if vim.bo[buf].buftype ~= "" or api.nvim_buf_get_name(buf) == "" then
    return nil
  end
  local cfg = M.config
  -- an empty Lua table would be sent as a JSON array, which the server rejects
  local settings = next(cfg.settings or {}) and cfg.settings or vim.empty_dict()
  local id = vim.lsp.start({
    name = "safecoder",
    cmd = cfg.cmd,
    root_dir = root_dir(buf),
    init_options = settings,
    settings = { safecoder = settings },
    capabilities = capabilities(),
  }, { bufnr = buf })
  if not id then
    return nil
  end
  if native_available() then
    if state.enabled then
      vim.lsp.inline_completion.enable(true, { bufnr = buf })
    end
  else
    attach_autocmds(buf)
  end
  return id
end

-- -- commands --------------------------------------------------------------------------------------

function M.toggle()
  state.enabled = not state.enabled
  if native_available() then
    vim.lsp.inline_completion.enable(state.enabled)
  elseif not state.enabled then
    for buf in pairs(bufs) do
      cancel(buf)
      clear(buf)
    end
  end
  vim.notify("safecoder: suggestions " .. (state.enabled and "on" or "off"))
  return state.enabled
end

function M.status()
  local buf = api.nvim_get_current_buf()
  local client = get_client(buf)
  local lines = {
    "safecoder: suggestions " .. (state.enabled and "on" or "off")
      .. (native_available() and " (native inline completion)" or " (extmark ghost text)"),
  }
  if not client then
    table.insert(lines, "server: not attached to this buffer (filetype " .. vim.bo[buf].filetype .. ")")
  else
    table.insert(lines, string.format("server: client %d, %s, root %s, position encoding %s",
      client.id, table.concat(client.config.cmd, " "), client.config.root_dir or "?",
      client.offset_encoding))
  end
  table.insert(lines, string.format("this session: %d requests, %d shown, %d accepted",
    state.requests, state.shown, state.accepted))
  if state.last_error then
    table.insert(lines, "last error: " .. state.last_error)
  end
  if not client then
    vim.notify(table.concat(lines, "\n"))
    return
  end
  client:request("workspace/executeCommand", { command = STATS_COMMAND, arguments = {} },
    function(err, result)
      if err then
        table.insert(lines, "stats: " .. (err.message or "error"))
      elseif type(result) == "table" then
        local keys = vim.tbl_keys(result)
        table.sort(keys)
        for _, k in ipairs(keys) do
          table.insert(lines, string.format("  %s: %s", k, vim.inspect(result[k])))
        end
      end
      vim.notify(table.concat(lines, "\n"))
    end, buf)
end

function M.setup(opts)
  M.config = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), opts or {})
  if opts and opts.filetypes then
    M.config.filetypes = opts.filetypes -- a list: replace, not merge
  end
  if opts and opts.cmd then
    M.config.cmd = opts.cmd
  end
  api.nvim_set_hl(0, "SafecoderGhost", { link = "Comment", default = true })
  state.augroup = api.nvim_create_augroup("safecoder", { clear = true })
  api.nvim_create_autocmd("FileType", {
    group = state.augroup,
    pattern = M.config.filetypes,
    callback = function(ev)
      M.start(ev.buf)
    end,
  })
  api.nvim_create_autocmd("ColorScheme", {
    group = state.augroup,
    callback = function()
      api.nvim_set_hl(0, "SafecoderGhost", { link = "Comment", default = true })
    end,
  })
  set_keys()
  api.nvim_create_user_command("SafecoderToggle", M.toggle, { desc = "safecoder: suggestions on/off" })
  api.nvim_create_user_command("SafecoderStatus", M.status, { desc = "safecoder: server status" })
  api.nvim_create_user_command("SafecoderSuggest", function()
    M.suggest()
  end, { desc = "safecoder: suggest now (insert mode)" })
  -- buffers opened before setup()
  for _, buf in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_is_loaded(buf) and vim.tbl_contains(M.config.filetypes, vim.bo[buf].filetype) then
      M.start(buf)
    end
  end
end

return M
