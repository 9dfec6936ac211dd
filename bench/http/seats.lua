-- GET /api/v1/schedules/ID/seats: an admitted buyer lists the free seats.
-- Args: TOKEN_FILE (ACTIVE tokens, one a line) SCHEDULE_ID.
local dir = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
dofile(dir .. "common.lua")

function setup(thread) bench.setup(thread) end

local requests, i = {}, 1

function init(args)
   local path = "/api/v1/schedules/" .. args[2] .. "/seats"
   for token in io.lines(args[1]) do
      if token ~= "" then
         table.insert(requests, wrk.format("GET", path, {["Authorization"] = "Bearer " .. token}))
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
