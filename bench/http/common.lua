-- Shared by the wrk scripts of scripts/bench.sh: one machine-readable result
-- line per run, and the list of wrk threads so that done() can read the
-- counters each thread kept (wrk runs every thread in its own Lua state).
--
-- Loaded with dofile() from the directory of the script that wrk was given.

bench = {threads = {}, counters = {}}

-- Called from each script's setup(thread): number the threads.
function bench.setup(thread)
   thread:set("tid", #bench.threads)
   table.insert(bench.threads, thread)
end

-- Sum of a counter over all threads (read after the run).
function bench.total(name)
   local sum = 0
   for _, t in ipairs(bench.threads) do
      sum = sum + (tonumber(t:get(name)) or 0)
   end
   return sum
end

-- "WRK_RESULT key=value ..." on stdout; extra is a table of more pairs.
function bench.report(summary, latency, extra)
   local e = summary.errors
   local seconds = summary.duration / 1e6
   local line = string.format(
      "WRK_RESULT requests=%d duration_s=%.3f rps=%.1f p50_us=%d p99_us=%d "
      .. "mean_us=%.0f err_connect=%d err_read=%d err_write=%d err_timeout=%d err_status=%d",
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50), latency:percentile(99), latency.mean,
      e.connect, e.read, e.write, e.timeout, e.status)
   for k, v in pairs(extra or {}) do
      line = line .. string.format(" %s=%s", k, tostring(v))
   end
   io.write(line .. "\n")
end

-- Directory of the calling script, for dofile() of siblings.
function bench.dir()
   local src = debug.getinfo(2, "S").source
   return src:match("^@(.*/)") or "./"
end
