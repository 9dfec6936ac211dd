-- The booking flow over HTTP: join the queue, hold a seat, pay for it.
--
-- wrk gives a script no way to tell its connections apart, so each buyer
-- is a small state machine driven by the replies, not by the connection:
-- a reply to a join queues the buyer's hold, a reply to a hold queues the
-- payment, and request() sends queued steps first, else starts a new buyer.
-- Buyers never share a seat or a user (each thread has its own slices).
--
-- Args: FIRST_USER USER_COUNT THREADS FIRST_SEAT_INDEX SEAT_STRIDE FIRST_SCHEDULE
--       SEATS_PER_SCHEDULE
-- Thread t uses users FIRST_USER + t * (USER_COUNT / THREADS) onwards and
-- seat indexes FIRST_SEAT_INDEX + t * SEAT_STRIDE onwards; seat index i is
-- seat i % SEATS_PER_SCHEDULE + 1 of schedule FIRST_SCHEDULE + i // SEATS_PER_SCHEDULE.
local dir = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
dofile(dir .. "common.lua")

function setup(thread) bench.setup(thread) end

local pending, head, tail = {}, 1, 0
local tokens = {}
local next_user, first_user, last_user
local next_seat, first_schedule, per_schedule
local json = {["Content-Type"] = "application/json"}
flows, broken = 0, 0

function init(args)
   local slice = math.floor(tonumber(args[2]) / tonumber(args[3]))
   first_user = tonumber(args[1]) + tid * slice
   last_user = first_user + slice - 1
   next_user = first_user
   next_seat = tonumber(args[4]) + tid * tonumber(args[5])
   first_schedule = tonumber(args[6])
   per_schedule = tonumber(args[7])
end

local function push(req)
   tail = tail + 1
   pending[tail] = req
end

function request()
   if head <= tail then
      local r = pending[head]
      pending[head] = nil
      head = head + 1
      return r
   end
   local user = next_user
   next_user = next_user + 1
   if next_user > last_user then next_user = first_user end
   return wrk.format("POST", "/api/v1/queue/tokens", json, '{"user_id":' .. user .. '}')
end

local function auth(token)
   return {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}
end

function response(status, headers, body)
   if status >= 300 then
      broken = broken + 1
      return
   end
   if body:find('"paid_at"', 1, true) then
      flows = flows + 1
      return
   end
   if body:find('"held_until"', 1, true) then
      local id = body:match('"id":(%d+)')
      local user = body:match('"user_id":(%d+)')
      local token = tokens[user]
      if id and token then
         push(wrk.format("POST", "/api/v1/payments", auth(token), '{"reservation_id":' .. id .. '}'))
      else
         broken = broken + 1
      end
      return
   end
   local token = body:match('"token":"([^"]+)"')
   local user = body:match('"user_id":(%d+)')
   if not token or not user then
      broken = broken + 1
      return
   end
   tokens[user] = token
   if body:find('"status":"ACTIVE"', 1, true) then
      local index = next_seat
      next_seat = next_seat + 1
      local schedule = first_schedule + math.floor(index / per_schedule)
      local seat = index % per_schedule + 1
      push(wrk.format("POST", "/api/v1/reservations", auth(token),
                      '{"schedule_id":' .. schedule .. ',"seat_number":' .. seat .. '}'))
   else -- still waiting: poll until admitted
      push(wrk.format("GET", "/api/v1/queue/tokens/current", auth(token)))
   end
end

function done(summary, latency, requests_)
   local f = bench.total("flows")
   bench.report(summary, latency, {flows = f, flows_per_s = string.format("%.1f", f / (summary.duration / 1e6)),
                                    broken = bench.total("broken")})
end
