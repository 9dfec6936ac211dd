-- POST /api/v1/queue/tokens for a new user each time: the stampede's join.
-- Args: FIRST_USER USER_COUNT THREADS. Each wrk thread takes its own slice of
-- the users; a user asked for twice gets their live token back (200, a lookup,
-- not a join), which done() reports as "lookups".
local dir = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
dofile(dir .. "common.lua")

function setup(thread) bench.setup(thread) end

local next_user, last_user, first_user
joins, lookups = 0, 0

function init(args)
   local first = tonumber(args[1]) or 1
   local count = tonumber(args[2]) or 100000
   local slice = math.floor(count / (tonumber(args[3]) or 1))
   first_user = first + tid * slice
   next_user = first_user
   last_user = first_user + slice - 1
end

function request()
   local user = next_user
   next_user = next_user + 1
   if next_user > last_user then next_user = first_user end
   return wrk.format("POST", "/api/v1/queue/tokens",
                     {["Content-Type"] = "application/json"},
                     '{"user_id":' .. user .. '}')
end

function response(status, headers, body)
   if status == 201 then joins = joins + 1 elseif status == 200 then lookups = lookups + 1 end
end

function done(summary, latency, requests)
   bench.report(summary, latency, {joins = bench.total("joins"), lookups = bench.total("lookups")})
end
