-- Ghost text drawn with extmarks: the first line of the suggestion inline at the
-- cursor, the other lines as virtual lines below it.
local M = {}

local api = vim.api

M.ns = api.nvim_create_namespace("safecoder")
M.hl = "SafecoderGhost"

local marks = {} -- buf -> extmark id

function M.clear(buf)
  local id = marks[buf]
  marks[buf] = nil
  if id and api.nvim_buf_is_valid(buf) then
    pcall(api.nvim_buf_del_extmark, buf, M.ns, id)
  end
end

local function expand_tabs(s)
  -- virtual text does not expand tabs
  local ts = vim.bo.tabstop > 0 and vim.bo.tabstop or 8
  return (s:gsub("\t", string.rep(" ", ts)))
end

function M.show(buf, row, col, text)
  M.clear(buf)
  if text == nil or text == "" then
    return
  end
  local lines = vim.split(text, "\n", { plain = true })
  local opts = {
    virt_text = { { expand_tabs(lines[1]), M.hl } },
    -- "inline" pushes the rest of the line to the right (0.10+)
    virt_text_pos = vim.fn.has("nvim-0.10") == 1 and "inline" or "overlay",
    hl_mode = "combine",
    right_gravity = false,
  }
  if #lines > 1 then
    local extra = {}
    for i = 2, #lines do
      extra[#extra + 1] = { { expand_tabs(lines[i]), M.hl } }
    end
    opts.virt_lines = extra
  end
  local ok, id = pcall(api.nvim_buf_set_extmark, buf, M.ns, row, col, opts)
  if ok then
    marks[buf] = id
  end
end

-- The text the ghost extmark shows (lines joined with "\n"), or nil.
function M.text(buf)
  local id = marks[buf]
  if not id then
    return nil
  end
  local m = api.nvim_buf_get_extmark_by_id(buf, M.ns, id, { details = true })
  if not m or not m[3] then
    return nil
  end
  local parts = {}
  for _, chunk in ipairs(m[3].virt_text or {}) do
    parts[#parts + 1] = chunk[1]
  end
  local out = { table.concat(parts) }
  for _, vl in ipairs(m[3].virt_lines or {}) do
    local p = {}
    for _, chunk in ipairs(vl) do
      p[#p + 1] = chunk[1]
    end
    out[#out + 1] = table.concat(p)
  end
  return table.concat(out, "\n")
end

return M
