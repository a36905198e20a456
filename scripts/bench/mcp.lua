-- wrk script for scripts/bench.sh: drives one MCP tool through stateless JSON-RPC on POST /mcp.
--
-- Configured through the environment (wrk passes no options to scripts other than after `--`):
--   BENCH_TOOL       tool name, e.g. get_products
--   BENCH_ARGS       the tool's `arguments` as a JSON object. The text @KEY@ (inside a JSON string) is
--                    replaced in every request by a unique idempotency key.
--   BENCH_TOKEN      bearer token (default test-token)
--   BENCH_NONCE      run-unique text put in idempotency keys ([A-Za-z0-9_.:-] only)
--   BENCH_THREADS    the -t given to wrk (needed to split BENCH_QUOTA between threads)
--   BENCH_QUOTA      optional: stop once this many successful responses arrived in total (split
--                    evenly between threads); each thread writes BENCH_DONE_DIR/t<n> when it stops
--                    so the caller can end wrk early (wrk itself always sleeps its full -d)
--   BENCH_DONE_DIR   directory for those marker files
--
-- A response is an error when its HTTP status is not 200, when its body contains "isError":true, or
-- when it lacks "isError":false (e.g. a JSON-RPC error object). `done` prints one line
--   BENCH_JSON {...}
-- with requests, req/s, latency percentiles (ms), error counts and the first error seen.

local tool = os.getenv("BENCH_TOOL") or error("BENCH_TOOL is not set")
local args = os.getenv("BENCH_ARGS") or "{}"
local token = os.getenv("BENCH_TOKEN") or "test-token"
local nonce = os.getenv("BENCH_NONCE") or tostring(os.time())
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
local quota_total = tonumber(os.getenv("BENCH_QUOTA") or "")
local done_dir = os.getenv("BENCH_DONE_DIR")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token

-- Monotonic clock in microseconds through LuaJIT's ffi (wrk links LuaJIT); nil when unavailable.
local now_us = nil
do
  local ok, ffi = pcall(require, "ffi")
  if ok then
    pcall(ffi.cdef, "typedef struct { long tv_sec; long tv_nsec; } bench_timespec;"
      .. " int clock_gettime(int clk_id, bench_timespec *tp);")
    local ok2, ts = pcall(ffi.new, "bench_timespec")
    if ok2 then
      now_us = function()
        ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
        return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
      end
    end
  end
end

-- The request body is head .. id .. mid [.. key .. tail]; split once here.
local head = '{"jsonrpc":"2.0","id":'
local args_pre, args_post = args, nil
do
  local i, j = string.find(args, "@KEY@", 1, true)
  if i then
    args_pre, args_post = string.sub(args, 1, i - 1), string.sub(args, j + 1)
  end
end
local mid = ',"method":"tools/call","params":{"name":"' .. tool .. '","arguments":' .. args_pre

-- main state: remember the threads so `done` can read their counters --------------------------------
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

-- thread state -----------------------------------------------------------------------------------
-- Globals (not locals) so that thread:get can read them from the main state.
ok_count = 0
err_count = 0
first_error = ""
t_first = 0
t_last = 0
local counter = 0
local quota = nil
local stopped = false
local key_prefix = ""
local id_base = 0

function init(argv)
  -- tid was set by setup() before init runs in the thread.
  local t = tid or 1
  id_base = t * 1000000000
  key_prefix = "bench." .. nonce .. ".t" .. t .. "."
  if quota_total then
    local base = math.floor(quota_total / nthreads)
    local extra = (t <= quota_total % nthreads) and 1 or 0
    quota = base + extra
  end
end

local function finish()
  if stopped then return end
  stopped = true
  if done_dir then
    local f = io.open(done_dir .. "/t" .. (tid or 1), "w")
    if f then
      f:write(ok_count, " ", err_count, "\n")
      f:close()
    end
  end
  wrk.thread:stop()
end

function request()
  counter = counter + 1
  if t_first == 0 and now_us then t_first = now_us() end
  local body
  if args_post then
    body = head .. (id_base + counter) .. mid .. key_prefix .. counter .. args_post .. "}}"
  else
    body = head .. (id_base + counter) .. mid .. "}}"
  end
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if now_us then t_last = now_us() end
  if status ~= 200 or not body
      or string.find(body, '"isError":true', 1, true)
      or not string.find(body, '"isError":false', 1, true) then
    err_count = err_count + 1
    if first_error == "" then
      first_error = "HTTP " .. status .. ": " .. string.sub(body or "", 1, 400)
    end
  else
    ok_count = ok_count + 1
  end
  if quota and not stopped then
    if ok_count >= quota or err_count >= 100 then
      finish()
    end
  end
end

-- main state: report -----------------------------------------------------------------------------
local function json_string(s)
  s = string.gsub(s, '[%c"\\]', function(c)
    if c == '"' then return '\\"' end
    if c == "\\" then return "\\\\" end
    return string.format("\\u%04x", string.byte(c))
  end)
  return '"' .. s .. '"'
end

function done(summary, latency, requests)
  local ok, errs, first, tmin, tmax = 0, 0, "", nil, nil
  for _, t in ipairs(threads) do
    ok = ok + (t:get("ok_count") or 0)
    errs = errs + (t:get("err_count") or 0)
    local fe = t:get("first_error") or ""
    if first == "" and fe ~= "" then first = fe end
    local a, b = t:get("t_first") or 0, t:get("t_last") or 0
    if a > 0 and (not tmin or a < tmin) then tmin = a end
    if b > 0 and (not tmax or b > tmax) then tmax = b end
  end
  local duration_us = summary.duration
  -- With a quota the threads stop before wrk's -d ends; measure from first request to last response.
  if quota_total and tmin and tmax and tmax > tmin then
    duration_us = tmax - tmin
  end
  local e = summary.errors
  local sock = e.connect + e.read + e.write + e.timeout
  local function ms(us) return us / 1000.0 end
  io.write(string.format(
    'BENCH_JSON {"tool":%s,"requests":%d,"ok":%d,"errors":%d,"socket_errors":%d,'
    .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,"http_errors":%d,'
    .. '"duration_s":%.3f,"rps":%.1f,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"p999_ms":%.3f,'
    .. '"mean_ms":%.3f,"max_ms":%.3f,"first_error":%s}\n',
    json_string(tool), summary.requests, ok, errs, sock,
    e.connect, e.read, e.write, e.timeout, e.status,
    duration_us / 1e6, summary.requests / (duration_us / 1e6),
    ms(latency:percentile(50)), ms(latency:percentile(90)), ms(latency:percentile(99)),
    ms(latency:percentile(99.9)), ms(latency.mean), ms(latency.max), json_string(first)))
end
