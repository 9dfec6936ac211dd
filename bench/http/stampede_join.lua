-- The stampede's joins: POST /api/v1/queue/tokens once for every user of a
-- range, as fast as the connections go, keeping each token for the polls.
--
-- Args: FIRST_USER USER_COUNT THREADS OUT_PREFIX
-- Thread t joins its own slice of the users (the last thread takes the
-- remainder), appends each token to OUT_PREFIX.t.tokens and, once every
-- user of its slice has been answered (201, or an error status), writes
-- OUT_PREFIX.t.done. wrk always runs for its -d, so the caller watches for
-- the .done files and stops wrk with SIGINT (wrk then reports as usual);
-- -d is only the bound.
--
-- A connection whose slice is used up while others still wait for answers
-- asks for the last user again: a lookup (200), counted apart, not a join;
-- a thread whose users are all answered stops.
-- Rate: joins / (last join answered - first request), per thread, on
-- CLOCK_MONOTONIC (system-wide, so two wrk processes can be combined):
-- reported as start_s and end_s.
local dir = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
dofile(dir .. "common.lua")

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_s()
   ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
   return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

function setup(thread) bench.setup(thread) end

local next_user, last_user, slice, prefix, out
-- wrk calls request() once on thread 0's state before the run, to count
-- pipelined requests (script_verify_request in wrk.c), and never sends it:
-- that call must not use up a user.
local verified = false
local json = {["Content-Type"] = "application/json"}
joins, lookups, refused, start_s, end_s = 0, 0, 0, 0, 0

function init(args)
   local first = tonumber(args[1])
   local count = tonumber(args[2])
   local threads = tonumber(args[3])
   prefix = args[4]
   local per = math.floor(count / threads)
   next_user = first + tid * per
   slice = tid == threads - 1 and count - tid * per or per
   last_user = next_user + slice - 1
   out = assert(io.open(prefix .. "." .. tid .. ".tokens", "w"))
end

function request()
   if tid == 0 and not verified then
      verified = true
      return wrk.format("POST", "/api/v1/queue/tokens", json, '{"user_id":0}')
   end
   if start_s == 0 then start_s = now_s() end
   local user = next_user
   if next_user < last_user then next_user = next_user + 1 end
   return wrk.format("POST", "/api/v1/queue/tokens", json, '{"user_id":' .. user .. '}')
end

function response(status, headers, body)
   if status == 201 then
      local token = body:match('"token":"([^"]+)"')
      if token then
         joins = joins + 1
         out:write(token, "\n")
      else
         refused = refused + 1
      end
   elseif status == 200 then
      lookups = lookups + 1
   else
      refused = refused + 1
   end
   if end_s == 0 and joins + refused >= slice then
      end_s = now_s()
      out:flush()
      local done = assert(io.open(prefix .. "." .. tid .. ".done", "w"))
      done:close()
      -- Lookups from this thread would only take CPU from the others' joins.
      wrk.thread:stop()
   end
end

function done(summary, latency, requests_)
   local first, last = math.huge, 0
   for _, t in ipairs(bench.threads) do
      local s, e = tonumber(t:get("start_s")) or 0, tonumber(t:get("end_s")) or 0
      if s > 0 and s < first then first = s end
      if e == 0 then last = math.huge elseif e > last then last = e end
   end
   local j = bench.total("joins")
   local rate = (last < math.huge and last > first) and j / (last - first) or 0
   bench.report(summary, latency, {
      joins = j, lookups = bench.total("lookups"), refused = bench.total("refused"),
      start_s = string.format("%.6f", first), end_s = string.format("%.6f", last),
      joins_per_s = string.format("%.1f", rate),
      complete = last < math.huge and 1 or 0})
end
