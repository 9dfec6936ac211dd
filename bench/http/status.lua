-- GET /api/v1/queue/tokens/current: a waiting buyer polls their position.
-- Args: TOKEN_FILE (one token a line). Threads start at different tokens.
local dir = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
dofile(dir .. "common.lua")

function setup(thread) bench.setup(thread) end

local requests, i = {}, 1

function init(args)
   for token in io.lines(args[1]) do
      if token ~= "" then
         table.insert(requests, wrk.format("GET", "/api/v1/queue/tokens/current",
                                           {["Authorization"] = "Bearer " .. token}))
      end
   end
   i = (tid * 7919) % #requests + 1
end

function request()
   local r = requests[i]
   i = i % #requests + 1
   return r
end

function done(summary, latency, requests_)
   bench.report(summary, latency)
end
